"""``trialbook eval`` end to end through the CLI, against real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Invoke, count_events
from tests.judge_server import JudgeServer
from tests.judge_server import Reply as JudgeReply
from tests.servers import Behaviour, ChatServer, TaskServer

SUITE = [
    {"id": "q1", "input": "hello", "expected": "echo: hello"},
    {"id": "q2", "input": "two words", "expected": "echo: two words", "criteria": ["polite"]},
    {"id": "q3", "input": "broken", "expected": "echo: broken", "metadata": {"script": ["text"]}},
]


@pytest.fixture(scope="module")
def shared_task_server() -> Iterator[TaskServer]:
    with TaskServer(Behaviour(latency_s=0.01)) as server:
        yield server


@pytest.fixture
def task_server(shared_task_server: TaskServer) -> TaskServer:
    """The module's task app with its counters and scripts reset (q3 answers non-JSON once)."""
    shared_task_server.reset()
    return shared_task_server


SECRET = "sk-test-very-secret-value-1234"


@pytest.fixture(scope="module")
def chat_server() -> Iterator[ChatServer]:
    with ChatServer(api_key=SECRET) as server:
        yield server


@pytest.fixture
def suite_file(tmp_path: Path) -> Path:
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in SUITE), encoding="utf-8")
    return path


def events_of(db: Path, type_: str) -> list[dict]:
    conn = sqlite3.connect(db)
    try:
        return [
            json.loads(r[0])
            for r in conn.execute(
                "SELECT data FROM events WHERE type = ? ORDER BY position", (type_,)
            )
        ]
    finally:
        conn.close()


class TestSuites:
    def test_adding_a_suite_twice_is_unchanged_and_a_changed_file_is_a_new_version(
        self, invoke: Invoke, suite_file: Path, db_path: Path
    ) -> None:
        r = invoke("eval", "suite", "add", str(suite_file))
        assert r.exit_code == 0, r.output
        assert r.output.startswith("Suite qa version 1: 3 cases (hash ")
        r = invoke("eval", "suite", "add", str(suite_file))
        assert r.output == "Suite qa unchanged (version 1, 3 cases).\n"
        assert count_events(db_path) == 1
        suite_file.write_text(
            suite_file.read_text() + json.dumps({"id": "q4", "input": "x"}) + "\n"
        )
        r = invoke("eval", "suite", "add", str(suite_file), "--name", "qa")
        assert r.output.startswith("Suite qa version 2: 4 cases")
        listed = json.loads(invoke("eval", "suite", "list", "--json").output)
        assert [(s["name"], s["version"], s["versions"], s["cases"]) for s in listed] == [
            ("qa", 2, 2, 4)
        ]
        shown = json.loads(invoke("eval", "suite", "show", "qa", "--version", "1", "--json").output)
        assert [c["id"] for c in shown["cases"]] == ["q1", "q2", "q3"]
        assert "q4" in invoke("eval", "suite", "show", "qa").output


class TestRun:
    def test_a_run_records_every_rollout_scores_it_and_shows_the_table(
        self, invoke: Invoke, suite_file: Path, task_server: TaskServer, db_path: Path
    ) -> None:
        invoke("eval", "suite", "add", str(suite_file))
        r = invoke(
            "eval",
            "run",
            "qa",
            "--target",
            f"{task_server.url}/run",
            "--name",
            "r1",
            "--epochs",
            "2",
            "--concurrency",
            "4",
            "--retries",
            "0",
            "--scorer",
            "equals",
            "--scorer",
            "contains:echo",
        )
        assert r.exit_code == 0, r.output
        assert "Run r1 finished: 5 completed, 1 failed." in r.output
        # the progress line is printed once at the end when stderr is not a terminal
        assert "6/6 done · 1 failed · 0 in flight" in r.output
        started = events_of(db_path, "RunStarted")[0]
        assert [s["name"] for s in started["scorers"]] == ["equals", "contains:echo"]
        assert started["settings"]["scorers"] == ["equals", "contains:echo"]
        failed = events_of(db_path, "RolloutFailed")
        assert [(f["case_id"], f["epoch"], f["error_kind"]) for f in failed] == [
            ("q3", 1, "bad_response")
        ]
        assert len(events_of(db_path, "VerdictRecorded")) == 10  # 5 completed rollouts × 2 scorers

        data = json.loads(invoke("eval", "show", "r1", "--json").output)
        assert data["summary"]["completed"] == 5 and data["summary"]["failed"] == 1
        assert [(x["case_id"], x["epoch"]) for x in data["rollouts"]] == [
            ("q1", 1),
            ("q2", 1),
            ("q3", 1),
            ("q1", 2),
            ("q2", 2),
            ("q3", 2),
        ]
        assert data["scorers"]["equals"]["passed"] == 5
        assert data["scorers"]["equals"]["pass_at_k"]["k"] == 2
        assert data["summary"]["latency_p50_s"] >= 0.01
        assert data["summary"]["prompt_tokens"] == 1 + 2 + 1 + 2 + 1

        text = invoke("eval", "show", "r1").output
        assert "equals: mean 1 · pass 100.0% (95% CI" in text
        assert "latency p50" in text and "p99" in text
        assert "average" in text
        rows = list(csv.DictReader(io.StringIO(invoke("eval", "show", "r1", "--csv").output)))
        assert (
            len(rows) == 6 and rows[2]["status"] == "failed" and rows[0]["equals:passed"] == "True"
        )
        md = invoke("eval", "show", "r1", "--markdown").output
        assert md.startswith("- 5 completed, 1 failed of 6") and "\n| case | epoch | score |" in md
        detail = invoke("eval", "show", "r1", "--case", "q2").output
        assert "output contains 'echo'" in detail and "found it" in detail

        listed = json.loads(invoke("eval", "list", "--json").output)
        assert [(x["run_id"], x["status"], x["completed"], x["failed"]) for x in listed] == [
            ("r1", "finished", 5, 1)
        ]

    def test_retry_failed_runs_only_the_failed_rollouts_as_new_attempts(
        self, invoke: Invoke, suite_file: Path, task_server: TaskServer, db_path: Path
    ) -> None:
        invoke("eval", "suite", "add", str(suite_file))
        invoke(
            "eval",
            "run",
            "qa",
            "--target",
            f"{task_server.url}/run",
            "--name",
            "r2",
            "--retries",
            "0",
        )
        before = task_server.requests
        r = invoke("eval", "retry-failed", "r2")
        assert r.exit_code == 0, r.output
        assert "Run r2 finished: 3 completed, 0 failed." in r.output
        assert task_server.requests - before == 1
        done = events_of(db_path, "RolloutCompleted")
        assert sorted((d["case_id"], d["attempt"]) for d in done) == [
            ("q1", 1),
            ("q2", 1),
            ("q3", 2),
        ]
        r = invoke("eval", "retry-failed", "r2")
        assert r.exit_code == 1
        assert r.output == "Error: eval run 'r2' has no failed rollouts to retry\n"

    def test_rescore_adds_verdicts_and_show_reads_the_latest(
        self, invoke: Invoke, suite_file: Path, task_server: TaskServer, db_path: Path
    ) -> None:
        invoke("eval", "suite", "add", str(suite_file))
        invoke(
            "eval",
            "run",
            "qa",
            "--target",
            f"{task_server.url}/run",
            "--name",
            "r3",
            "--scorer",
            "equals",
        )
        requests = task_server.requests
        r = invoke("eval", "rescore", "r3", "--scorer", "equals")
        assert r.exit_code == 0, r.output
        assert task_server.requests == requests  # the target is not called
        assert len(events_of(db_path, "VerdictRecorded")) == 4
        data = json.loads(invoke("eval", "show", "r3", "--json").output)
        assert data["scorers"]["equals"]["rollouts"] == 2
        every = json.loads(invoke("eval", "show", "r3", "--json", "--all-verdicts").output)[
            "verdicts"
        ]
        assert [v["latest"] for v in every] == [False, False, True, True]

    def test_a_judge_scores_each_rollout_with_tokens_apart_from_the_target(
        self, invoke: Invoke, suite_file: Path, task_server: TaskServer
    ) -> None:
        answer = {
            "score": 8,
            "evaluation": [
                {"criteria": c, "passed": True, "reason": "ok"}
                for c in ("polite", "a", "b", "c", "d", "e")
            ],
            "result": "good",
        }
        with JudgeServer() as judge:
            model = judge.script("j1", JudgeReply(content=json.dumps(answer)))
            invoke("eval", "suite", "add", str(suite_file))
            spec = f"judge:j,base_url={judge.base_url},model={model},key_env=none"
            r = invoke(
                "eval",
                "run",
                "qa",
                "--target",
                f"{task_server.url}/run",
                "--name",
                "r4",
                "--scorer",
                spec,
                "--scorer",
                "equals",
                "--judge-repeats",
                "2",
                "--retries",
                "0",
            )
            assert r.exit_code == 0, r.output
            assert len(judge.requests(model)) == 4  # 2 completed rollouts × 2 repeats
        data = json.loads(invoke("eval", "show", "r4", "--json").output)
        judge_name = next(n for n in data["scorer_names"] if n != "equals")
        s = data["scorers"][judge_name]
        assert s["mean"] == pytest.approx(0.8) and s["judge_prompt_tokens"] == 4 * 120
        assert data["summary"]["prompt_tokens"] == 3  # the target's own tokens only
        assert data["agreements"][0]["n"] == 2
        text = invoke("eval", "show", "r4").output
        assert f"agreement {judge_name} vs equals: 100.0% of 2" in text
        assert "judge tokens 480+120" in text


class TestBadInput:
    @pytest.mark.parametrize(
        ("content", "error"),
        [
            (
                '{"id": "a", "input": "x"}\n{"id": "b", "input": \n',
                "Error: bad.jsonl line 2: not valid JSON (Expecting value at column 21); "
                "each line must be one complete JSON object\n",
            ),
            (
                '{"id": "a", "input": "x"}\n{"id": "a", "input": "y"}\n',
                "Error: bad.jsonl line 2: case id 'a' is already used (line 1); case ids must be unique\n",
            ),
        ],
    )
    def test_a_bad_case_file_names_the_line_and_records_nothing(
        self, invoke: Invoke, tmp_path: Path, db_path: Path, content: str, error: str
    ) -> None:
        path = tmp_path / "bad.jsonl"
        path.write_text(content)
        r = invoke("eval", "suite", "add", str(path))
        assert (r.exit_code, r.output) == (1, error)
        assert count_events(db_path) == 0

    def test_errors_before_a_run_starts_are_one_line_and_append_nothing(
        self,
        invoke: Invoke,
        suite_file: Path,
        task_server: TaskServer,
        db_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.delenv("MY_KEY_VAR", raising=False)
        invoke("eval", "suite", "add", str(suite_file))
        url = f"{task_server.url}/run"
        cases = [
            (
                ["run", "nosuch", "--target", url],
                "Error: no suite named 'nosuch'; add one with `trialbook eval suite add FILE --name nosuch`",
            ),
            (
                ["run", "qa", "--target", "http://127.0.0.1:9/run"],
                "Error: cannot reach the http target at http://127.0.0.1:9/run (All connection attempts failed); "
                "is it running?",
            ),
            (
                ["run", "qa", "--target", f"openai:m@{task_server.url}/v1;api_key_env=MY_KEY_VAR"],
                "Error: openai target: environment variable MY_KEY_VAR is not set; export MY_KEY_VAR=… or set "
                "api_key_env to the variable holding your key",
            ),
            (
                ["run", "qa", "--target", url, "--scorer", "nope"],
                "Error: unknown scorer 'nope'. Known: equals, contains, icontains, regex, json_valid, json_field, "
                "numeric, length, python:MODULE:FUNCTION, judge:NAME",
            ),
            (
                ["run", "qa", "--target", url, "--scorer", "python:nomod_xyz:f"],
                "Error: scorer 'python:nomod_xyz:f': no module named 'nomod_xyz' (check the spelling, install it, "
                "or run from the directory that holds it)",
            ),
            (
                ["run", "qa", "--target", url, "--name", "bad name"],
                "Error: run name 'bad name' is not valid; use 1-80 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit",
            ),
            (["show", "nosuch"], "Error: no eval run 'nosuch'; see `trialbook eval list`"),
            (["resume", "nosuch"], "Error: no eval run 'nosuch'; see `trialbook eval list`"),
            (["retry-failed", "nosuch"], "Error: no eval run 'nosuch'; see `trialbook eval list`"),
            (
                ["rescore", "nosuch", "--scorer", "equals"],
                "Error: no eval run 'nosuch'; see `trialbook eval list`",
            ),
        ]
        for args, error in cases:
            r = invoke("eval", *args)
            # an unreachable target is an infrastructure failure (exit 3), not a failed gate
            code = 3 if "cannot reach" in error else 1
            assert (r.exit_code, r.output) == (code, error + "\n"), args
        assert count_events(db_path) == 1

    def test_a_bad_scorer_in_a_case_names_the_case(
        self, invoke: Invoke, tmp_path: Path, db_path: Path
    ) -> None:
        path = tmp_path / "cs.jsonl"
        path.write_text(
            json.dumps({"id": "a", "input": "x", "scorers": [{"scorer": "contains:x"}]})
            + "\n"
            + json.dumps({"id": "b", "input": "y", "scorers": ["bogus"]})
            + "\n"
        )
        r = invoke("eval", "suite", "add", str(path))
        assert r.exit_code == 1
        assert r.output.startswith("Error: cs.jsonl line 2: case 'b': unknown scorer 'bogus'. ")
        assert count_events(db_path) == 0
        # a suite recorded before `suite add` checked its scorers is still refused by the run
        from trialbook.domain.evals import RegisterSuite
        from trialbook.domain.suites import parse_suite
        from trialbook.ledger import Ledger
        from trialbook.runners.ledger_recorder import LedgerRecorder

        with Ledger(db_path) as ledger:
            LedgerRecorder(ledger).handle(
                RegisterSuite(name="cs", cases=parse_suite(path.read_text(), filename=path.name))
            )
        r = invoke("eval", "run", "cs", "--target", "python:trialbook.runners.demo_target:answer")
        assert r.exit_code == 1
        assert r.output.startswith("Error: case 'b': unknown scorer 'bogus'. Known: equals, ")
        assert count_events(db_path) == 1

    def test_a_target_that_answers_non_json_fails_that_rollout_and_the_run_goes_on(
        self, invoke: Invoke, suite_file: Path, task_server: TaskServer, db_path: Path
    ) -> None:
        invoke("eval", "suite", "add", str(suite_file))
        r = invoke(
            "eval",
            "run",
            "qa",
            "--target",
            f"{task_server.url}/run",
            "--name",
            "r5",
            "--retries",
            "0",
        )
        assert r.exit_code == 0
        failed = events_of(db_path, "RolloutFailed")
        assert len(failed) == 1 and failed[0]["error_kind"] == "bad_response"
        assert "not JSON" in failed[0]["error"], failed[0]["error"]
        assert len(events_of(db_path, "RolloutCompleted")) == 2
        assert events_of(db_path, "RunFinished")[0]["failed"] == 1

    def test_secrets_never_enter_the_log(
        self,
        invoke: Invoke,
        suite_file: Path,
        db_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        chat_server: ChatServer,
    ) -> None:
        monkeypatch.setenv("MY_KEY_VAR", SECRET)
        invoke("eval", "suite", "add", str(suite_file))
        r = invoke(
            "eval",
            "run",
            "qa",
            "--target",
            f"openai:echo-1@{chat_server.url}/v1;api_key_env=MY_KEY_VAR",
            "--name",
            "r6",
            "--price",
            "echo-1=1/2",
        )
        assert r.exit_code == 0, r.output
        assert SECRET.encode() not in db_path.read_bytes()
        assert events_of(db_path, "RunStarted")[0]["target"]["api_key_env"] == "MY_KEY_VAR"
        data = json.loads(invoke("eval", "show", "r6", "--json").output)
        assert data["summary"]["completed"] == 3 and data["summary"]["cost_usd"] > 0


class TestCompareExportDemo:
    def test_compare_pairs_by_case_and_epoch_and_feeds_an_ab_test(
        self, invoke: Invoke, tmp_path: Path, task_server: TaskServer
    ) -> None:
        suite = tmp_path / "cmp.jsonl"
        suite.write_text(
            "".join(
                json.dumps({"id": f"k{i}", "input": f"w{i}", "expected": f"echo: w{i}"}) + "\n"
                for i in range(4)
            )
        )
        invoke("eval", "suite", "add", str(suite))
        url = f"{task_server.url}/run"
        assert (
            invoke(
                "eval", "run", "cmp", "--target", url, "--name", "base", "--scorer", "equals"
            ).exit_code
            == 0
        )
        # the candidate is judged on a stricter expectation for k1 and k3: two regressions
        spec = "regex:^echo: w[02]$"
        assert (
            invoke(
                "eval", "run", "cmp", "--target", url, "--name", "cand", "--scorer", "equals"
            ).exit_code
            == 0
        )
        assert invoke("eval", "rescore", "cand", "--scorer", spec).exit_code == 0
        assert invoke("eval", "rescore", "base", "--scorer", spec).exit_code == 0
        data = json.loads(invoke("eval", "compare", "base", "cand", "--json").output)
        assert data["basis"] == "scorer:equals" and data["pairs"] == 4
        assert (data["wins"], data["losses"], data["ties"]) == (0, 0, 4)
        data = json.loads(
            invoke("eval", "compare", "base", "cand", "--scorer", spec, "--json").output
        )
        assert [p["case_id"] for p in data["regressions"]] == []  # both runs judged alike
        assert data["analysis"]["variants"][1]["paired"]["pairs"] == 4

        r = invoke("eval", "compare", "base", "cand", "--into-ab", "base-vs-cand")
        assert r.exit_code == 0, r.output
        assert "A/B test base-vs-cand: 8 results added (0 already there)" in r.output
        r = invoke("eval", "compare", "base", "cand", "--into-ab", "base-vs-cand")
        assert "0 results added (8 already there)" in r.output
        shown = json.loads(invoke("ab", "show", "base-vs-cand", "--json").output)
        assert sorted({x["case_id"] for x in shown["results"]}) == ["k0#1", "k1#1", "k2#1", "k3#1"]
        analysis = json.loads(invoke("ab", "analyze", "base-vs-cand", "--json").output)
        assert analysis["variants"][1]["paired"]["pairs"] == 4
        r = invoke("eval", "compare", "base", "nosuch")
        assert (r.exit_code, r.output) == (
            1,
            "Error: no eval run 'nosuch'; see `trialbook eval list`\n",
        )

    def test_regressions_are_named(
        self, invoke: Invoke, tmp_path: Path, task_server: TaskServer
    ) -> None:
        suite = tmp_path / "reg.jsonl"
        suite.write_text(
            "".join(
                json.dumps({"id": f"k{i}", "input": f"w{i}", "expected": f"echo: w{i}"}) + "\n"
                for i in range(3)
            )
        )
        invoke("eval", "suite", "add", str(suite))
        url = f"{task_server.url}/run"
        invoke("eval", "run", "reg", "--target", url, "--name", "good", "--scorer", "equals")
        # k1 answers wrongly on its second request (a regression); k2 fails (no output to score)
        task_server.scripts["k1"] = ["ok", "answer:wrong"]
        task_server.scripts["k2"] = ["ok", "shape"]
        invoke(
            "eval",
            "run",
            "reg",
            "--target",
            url,
            "--name",
            "worse",
            "--scorer",
            "equals",
            "--retries",
            "0",
        )
        data = json.loads(invoke("eval", "compare", "good", "worse", "--json").output)
        assert [(p["case_id"], p["outcome"]) for p in data["regressions"]] == [("k1", "loss")]
        assert (data["wins"], data["losses"], data["ties"]) == (0, 1, 1)
        assert [(f["case_id"], f["failed_in"]) for f in data["failed_rollouts"]] == [
            ("k2", "worse")
        ]
        text = invoke("eval", "compare", "good", "worse").output
        assert "regressions: 1 pair in 1 case: k1#1" in text
        assert (
            "failed rollouts (target errors, not scored, left out of the pairs): k2#1 in worse"
            in text
        )

    def test_export_writes_rollouts_and_trace_blobs(
        self, invoke: Invoke, tmp_path: Path, task_server: TaskServer
    ) -> None:
        suite = tmp_path / "tr.jsonl"
        suite.write_text(
            json.dumps({"id": "t1", "input": "x", "metadata": {"trace": {"steps": ["a", "b"]}}})
            + "\n"
        )
        invoke("eval", "suite", "add", str(suite))
        invoke("eval", "run", "tr", "--target", f"{task_server.url}/run", "--name", "tr1")
        out = tmp_path / "traces"
        r = invoke("eval", "export", "tr1", "--traces", str(out))
        assert r.output == f"Wrote 1 rollouts and 1 blobs to {out}.\n"
        assert json.loads((out / "t1.e1.trace.json").read_text()) == {"steps": ["a", "b"]}
        assert json.loads((out / "rollouts.jsonl").read_text())["case_id"] == "t1"

    def test_cases_own_scorers_are_honoured(
        self, invoke: Invoke, tmp_path: Path, task_server: TaskServer, db_path: Path
    ) -> None:
        suite = tmp_path / "own.jsonl"
        suite.write_text(
            json.dumps({"id": "o1", "input": "x", "scorers": ["contains:echo"]})
            + "\n"
            + json.dumps({"id": "o2", "input": "y"})
            + "\n"
        )
        invoke("eval", "suite", "add", str(suite))
        r = invoke("eval", "run", "own", "--target", f"{task_server.url}/run", "--name", "own1")
        assert r.exit_code == 0, r.output
        got = [(v["case_id"], v["scorer"]) for v in events_of(db_path, "VerdictRecorded")]
        assert got == [("o1", "contains:echo")]

    def test_demo_records_an_eval_run_and_shows_its_table(
        self, invoke: Invoke, db_path: Path
    ) -> None:
        r = invoke("demo", "--sessions", "5", "--eval")
        assert r.exit_code == 0, r.output
        assert "Recorded a sample eval run 'demo-arithmetic'" in r.output
        assert "24 completed, 0 failed of 24 · status finished" in r.output
        assert "equals: mean 0.917 · pass 91.7%" in r.output


class TestConfigAndBudget:
    def test_a_yaml_run_config_with_prices_and_a_budget_stops_the_run_cleanly(
        self, invoke: Invoke, tmp_path: Path, task_server: TaskServer, db_path: Path
    ) -> None:
        suite = tmp_path / "paid.jsonl"
        suite.write_text(
            "".join(
                json.dumps({"id": f"p{i}", "input": f"w{i}", "metadata": {"cost_usd": 0.5}}) + "\n"
                for i in range(6)
            )
        )
        config = tmp_path / "run.yaml"
        config.write_text(
            f"suite: paid\nname: paid1\nconcurrency: 1\nbudget: 1.0\ntarget: http:{task_server.url}/run\n"
        )
        invoke("eval", "suite", "add", str(suite))
        r = invoke("eval", "run", "--config", str(config))
        assert r.exit_code == 0, r.output
        assert (
            "Run paid1 stopped (budget of $1 spent): 2 completed, 0 failed, 4 pending · $1.00; "
            "resume it with `trialbook eval resume paid1`." in r.output
        )
        assert events_of(db_path, "RunInterrupted")[0]["reason"] == "budget of $1 spent"
        r = invoke("eval", "resume", "paid1", "--budget", "10")
        assert "Run paid1 finished: 6 completed, 0 failed · $3.00." in r.output
        listed = json.loads(invoke("eval", "list", "--json").output)
        assert listed[0]["cost_usd"] == pytest.approx(3.0) and listed[0]["status"] == "finished"

    def test_a_judge_table_in_the_run_config_is_used_recorded_and_reused_by_rescore(
        self,
        invoke: Invoke,
        tmp_path: Path,
        suite_file: Path,
        task_server: TaskServer,
        db_path: Path,
    ) -> None:
        answer = {
            "score": 9,
            "evaluation": [{"criteria": "cites a source", "passed": True, "reason": "it does"}],
            "result": "good",
        }
        with JudgeServer() as judge:
            model = judge.script("strict-table", JudgeReply(content=json.dumps(answer)))
            config = tmp_path / "run.toml"
            config.write_text(
                f'suite = "qa"\nname = "judged"\ntarget = "http:{task_server.url}/run"\n'
                f"retries = 0\n\n[judges.strict]\n"
                f'base_url = "{judge.base_url}"\nmodel = "{model}"\nkey_env = "none"\n'
                'criteria = ["cites a source"]\nsystem_prompt = "You are a strict grader."\n'
            )
            invoke("eval", "suite", "add", str(suite_file))
            r = invoke("eval", "run", "--config", str(config), "--scorer", "judge:strict")
            assert r.exit_code == 0, r.output
            sent = judge.requests(model)
            assert len(sent) == 2  # one per completed rollout
            messages = sent[0]["body"]["messages"]
            assert messages[0] == {"role": "system", "content": "You are a strict grader."}
            assert "cites a source" in messages[-1]["content"]
            started = events_of(db_path, "RunStarted")[0]
            assert started["settings"]["judges"]["strict"]["model"] == model
            # rescoring the run later finds judge:strict in what the run recorded
            r = invoke("eval", "rescore", "judged", "--scorer", "judge:strict")
            assert r.exit_code == 0, r.output
            assert len(judge.requests(model)) == 4
        data = json.loads(invoke("eval", "show", "judged", "--json").output)
        assert data["scorers"]["judge:strict"]["mean"] == pytest.approx(0.9)

    @pytest.mark.parametrize(
        ("table", "message"),
        [
            ('judges = "strict"', "judges must be a table of judge tables"),
            (
                '[judges.strict]\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m"\n'
                'key_env = "none"\napi_key = "sk-live-123"',
                "judge 'strict': api_key would write a secret into the log; put it in an "
                "environment variable and name that with key_env=VAR",
            ),
            (
                '[judges.strict]\nbase_url = "http://me:pw@127.0.0.1:9/v1"\nmodel = "m"\n'
                'key_env = "none"',
                "judge 'strict': base_url carries a secret",
            ),
            ('[judges.strict]\nmodel = "m"\nkey_env = "none"', "judge 'strict' has no base URL"),
        ],
    )
    def test_a_bad_judge_table_is_one_line_and_appends_nothing(
        self,
        invoke: Invoke,
        tmp_path: Path,
        suite_file: Path,
        task_server: TaskServer,
        db_path: Path,
        table: str,
        message: str,
    ) -> None:
        invoke("eval", "suite", "add", str(suite_file))
        before = count_events(db_path)
        config = tmp_path / "run.toml"
        config.write_text(f'suite = "qa"\ntarget = "http:{task_server.url}/run"\n{table}\n')
        r = invoke("eval", "run", "--config", str(config), "--scorer", "judge:strict")
        assert r.exit_code == 1
        assert message in r.output and len(r.output.strip().splitlines()) == 1
        assert "sk-live-123" not in r.output and "pw@" not in r.output
        assert count_events(db_path) == before

    def test_a_bad_run_config_is_one_line(
        self, invoke: Invoke, tmp_path: Path, db_path: Path
    ) -> None:
        config = tmp_path / "run.toml"
        config.write_text('suite = "x"\ncolour = "blue"\n')
        r = invoke("eval", "run", "--config", str(config))
        assert r.exit_code == 1
        assert r.output.startswith(f"Error: {config}: unknown key 'colour'; keys are suite, ")
        assert count_events(db_path) == 0


def test_verdicts_for_a_rollout_that_did_not_complete_are_refused(db_path: Path) -> None:
    from trialbook.domain.errors import InvalidCommand
    from trialbook.domain.evals import (
        CompletedRollout,
        RecordRollouts,
        RecordVerdicts,
        RegisterSuite,
        StartRun,
    )
    from trialbook.domain.suites import Case
    from trialbook.domain.verdicts import Verdict, VerdictRecorded
    from trialbook.ledger import Ledger
    from trialbook.runners.ledger_recorder import LedgerRecorder

    with Ledger(db_path) as ledger:
        rec = LedgerRecorder(ledger)
        rec.handle(
            RegisterSuite(name="s", cases=(Case(id="a", input="x"), Case(id="b", input="y")))
        )
        latest = rec.suite_state("s").latest
        assert latest is not None
        rec.handle(
            StartRun(
                run_id="v",
                suite="s",
                suite_version=1,
                suite_hash=latest.hash,
                case_ids=("a", "b"),
                target={"kind": "python"},
                trialbook_version="t",
            )
        )
        rec.handle(
            RecordRollouts(
                run_id="v",
                rollouts=(CompletedRollout(case_id="a", epoch=1, output="o", latency_s=0.1),),
            )
        )
        ok = VerdictRecorded.of(Verdict.scored("equals", 1.0), run_id="v", case_id="a", epoch=1)
        assert len(rec.handle(RecordVerdicts(run_id="v", session="run", verdicts=(ok,)))) == 1
        assert (
            rec.handle(RecordVerdicts(run_id="v", session="run", verdicts=(ok,))) == []
        )  # same ids: a no-op
        assert len(rec.handle(RecordVerdicts(run_id="v", session="rescore-1", verdicts=(ok,)))) == 1
        bad = VerdictRecorded.of(Verdict.scored("equals", 1.0), run_id="v", case_id="b", epoch=1)
        with pytest.raises(
            InvalidCommand, match="case 'b' epoch 1 of run 'v' has no completed rollout to score"
        ):
            rec.handle(RecordVerdicts(run_id="v", session="run", verdicts=(bad,)))
    assert count_events(db_path) == 5


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize("tty", [True, False], ids=["tty", "pipe"])
def test_the_progress_line_is_live_on_a_terminal_and_one_final_line_otherwise(tty: bool) -> None:
    from trialbook.runners.executor import Progress
    from trialbook.shell.commands.eval import ProgressLine

    stream = _Stream(tty)
    line = ProgressLine(stream)
    line(Progress(total=10, completed=2, failed=1, in_flight=3, elapsed_s=1.0))
    line(Progress(total=10, completed=9, failed=1, in_flight=0, elapsed_s=2.0))
    line.close()
    line.close()
    final = "10/10 done · 1 failed · 0 in flight · 5.0/s · ETA 0s"
    if tty:
        assert stream.getvalue() == (
            f"\r\x1b[K3/10 done · 1 failed · 3 in flight · 3.0/s · ETA 2s\r\x1b[K{final}\n"
        )
    else:
        assert stream.getvalue() == final + "\n"


def test_a_run_whose_target_held_an_inline_secret_cannot_be_resumed(
    invoke: Invoke, suite_file: Path, task_server: TaskServer, db_path: Path
) -> None:
    invoke("eval", "suite", "add", str(suite_file))
    url = f"{task_server.url}/run".replace("http://", "http://user:pw-secret@")
    r = invoke("eval", "run", "qa", "--target", url, "--name", "inl", "--retries", "0")
    assert r.exit_code == 0, r.output
    assert b"pw-secret" not in db_path.read_bytes()
    n = count_events(db_path)
    r = invoke("eval", "retry-failed", "inl")
    assert r.exit_code == 1
    assert r.output.startswith(
        "Error: eval run 'inl' was started with a secret written in its target"
    )
    assert count_events(db_path) == n


def test_secrets_in_urls_are_redacted_from_the_recorded_command_line() -> None:
    from trialbook.shell.commands.eval import redact_command

    text = "trialbook eval run qa --target 'http://u:pw@h:1/run?api_key=zz&x=1;timeout=3' --name r"
    assert redact_command(text) == (
        "trialbook eval run qa --target 'http://u:<redacted>@h:1/run?api_key=<redacted>&x=1;timeout=3' --name r"
    )
