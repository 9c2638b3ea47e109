"""``tb.evals`` used as a user's code would: real files, real local servers, the CLI beside it.

Every report the API returns is checked against what ``trialbook eval … --json``
prints for the same file, and every refusal against the CLI's error line, with
nothing appended.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

import trialbook
from tests.conftest import Invoke, count_events
from tests.judge_server import JudgeServer
from tests.judge_server import Reply as JudgeReply
from tests.servers import Behaviour, TaskServer

CASES = [
    {"id": "q1", "input": "hello", "expected": "echo: hello", "criteria": ["polite"]},
    {"id": "q2", "input": "two words", "expected": "echo: two words"},
    {"id": "q3", "input": "broken", "expected": "echo: broken", "metadata": {"script": ["text"]}},
]


@pytest.fixture
def tb(db_path: Path) -> Iterator[Any]:
    handle = trialbook.open(db_path)
    yield handle
    handle.close()


@pytest.fixture(scope="module")
def shared_task_server() -> Iterator[TaskServer]:
    with TaskServer(Behaviour(latency_s=0.005)) as server:
        yield server


@pytest.fixture
def task_server(shared_task_server: TaskServer) -> TaskServer:
    """The module's task app with its scripts reset (q3 answers plain text once)."""
    shared_task_server.reset()
    return shared_task_server


@pytest.fixture(scope="module")
def judge_server() -> Iterator[JudgeServer]:
    with JudgeServer() as server:
        yield server


@pytest.fixture
def suite_file(tmp_path: Path) -> Path:
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in CASES), encoding="utf-8")
    return path


def cli_json(invoke: Invoke, *args: str) -> Any:
    r = invoke(*args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def cli_error(invoke: Invoke, *args: str) -> str:
    """The CLI's one-line error (the last line: a usage error prints the usage first)."""
    r = invoke(*args)
    assert r.exit_code != 0, r.output
    line = r.output.strip().splitlines()[-1]
    assert line.startswith("Error: "), r.output
    return line.removeprefix("Error: ")


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/run"


def echo(case: dict[str, Any]) -> str:
    """A module-level Python target: importable again, so the CLI can resume its runs."""
    return f"echo: {case['input']}"


#: cases ``flaky`` has failed once already
FAILED_ONCE: set[str] = set()


def flaky(case: dict[str, Any]) -> str:
    """Fails the first time it sees q2, then answers like :func:`echo`."""
    if case["id"] == "q2" and "q2" not in FAILED_ONCE:
        FAILED_ONCE.add("q2")
        raise RuntimeError("q2 is not ready")
    return echo(case)


class TestSuites:
    def test_a_file_and_an_in_memory_list_register_as_eval_suite_add_does(
        self, tb: Any, invoke: Invoke, suite_file: Path, db_path: Path
    ) -> None:
        added = tb.evals.add_suite(suite_file)
        assert (added.name, added.version, added.cases, added.changed) == ("qa", 1, 3, True)
        again = tb.evals.add_suite(suite_file)
        assert (again.version, again.changed, again.hash) == (1, False, added.hash)
        assert count_events(db_path) == 1
        # the same content from memory is the same suite version: the hash covers content only
        assert tb.evals.add_suite(CASES, name="qa").changed is False
        grown = tb.evals.add_suite([*CASES, {"id": "q4", "input": "x"}], name="qa", description="d")
        assert (grown.version, grown.cases, grown.changed) == (2, 4, True)

        assert [s.model_dump() for s in tb.evals.suites()] == cli_json(
            invoke, "eval", "suite", "list"
        )
        for version in (1, 2):
            shown = tb.evals.suite("qa", version)
            assert shown.model_dump() == cli_json(
                invoke, "eval", "suite", "show", "qa", "--version", str(version)
            )
        assert tb.evals.suite("qa").description == "d"

    @pytest.mark.parametrize(
        "lines,message",
        [
            (
                [{"id": "a", "input": "x"}, {"id": "b", "input": "y", "scorers": ["bogus"]}],
                "cs.jsonl line 2: case 'b': unknown scorer 'bogus'",
            ),
            ([{"id": "a", "input": "x"}, {"id": "a", "input": "y"}], "case id 'a' is already used"),
            ([{"id": "a"}], 'the case has no "input"'),
        ],
    )
    def test_a_bad_suite_file_raises_the_clis_message_and_appends_nothing(
        self, tb: Any, invoke: Invoke, tmp_path: Path, db_path: Path, lines: list[Any], message: str
    ) -> None:
        path = tmp_path / "cs.jsonl"
        path.write_text("".join(json.dumps(c) + "\n" for c in lines), encoding="utf-8")
        with pytest.raises(trialbook.InvalidCommand) as e:
            tb.evals.add_suite(path)
        assert message in str(e.value)
        assert str(e.value) == cli_error(invoke, "eval", "suite", "add", str(path))
        assert count_events(db_path) == 0

    def test_in_memory_cases_are_checked_like_a_files_lines_naming_the_case(
        self, tb: Any, db_path: Path, tmp_path: Path
    ) -> None:
        cases: list[tuple[Any, str]] = [
            ([{"id": "a", "input": "x"}, {"id": "b"}], 'case 2: the case has no "input"; add one'),
            (
                [{"id": "a", "input": "x"}, {"id": "a", "input": "y"}],
                "case 2: case id 'a' is already used (case 1); case ids must be unique",
            ),
            (
                [{"id": "a", "input": "x", "scorers": "bogus"}],
                "case 1: case 'a': unknown scorer 'bogus'",
            ),
            ([{"id": "a", "input": "x", "colour": "red"}], "case 1: unknown field 'colour'"),
            ([], "the suite has no cases; add at least one case"),
            ({"id": "a", "input": "x"}, "a suite is a list of cases"),
        ]
        for items, message in cases:
            with pytest.raises(trialbook.InvalidCommand) as e:
                tb.evals.add_suite(items, name="mem")
            assert str(e.value).startswith(message), str(e.value)
        with pytest.raises(trialbook.InvalidCommand, match="needs a name"):
            tb.evals.add_suite([{"id": "a", "input": "x"}])
        with pytest.raises(trialbook.InvalidCommand, match="not valid"):
            tb.evals.add_suite([{"id": "a", "input": "x"}], name="Not A Name")
        with pytest.raises(trialbook.InvalidCommand, match="no such file"):
            tb.evals.add_suite(tmp_path / "missing.jsonl")
        with pytest.raises(trialbook.NotFound) as e:
            tb.evals.suite("nope")
        assert str(e.value).startswith("no suite named 'nope'")
        assert count_events(db_path) == 0


class TestRuns:
    def test_a_run_is_recorded_as_eval_run_records_it_and_reports_as_eval_show_json(
        self, tb: Any, invoke: Invoke, suite_file: Path, task_server: TaskServer, db_path: Path
    ) -> None:
        tb.evals.add_suite(suite_file)
        report = tb.evals.run(
            "qa", f"{task_server.url}/run", scorers=["equals", "contains:echo"], epochs=2,
            concurrency=4, retries=0, name="r1",
        )  # fmt: skip
        assert isinstance(report, trialbook.EvalReport)
        assert (report.run.status, report.summary.completed, report.summary.failed) == (
            "finished",
            5,
            1,
        )
        assert report.scorer("equals").pass_rate == 1.0
        assert report.scorers["equals"].pass_at_k is not None
        assert report.scorers["equals"].pass_at_k.k == 2
        assert report.agreements and report.agreements[0].scorer_a == "equals"
        assert report.model_dump(mode="json") == cli_json(invoke, "eval", "show", "r1")
        assert tb.evals.show("r1", all_verdicts=True).model_dump(mode="json") == cli_json(
            invoke, "eval", "show", "r1", "--all-verdicts"
        )
        case = tb.evals.case("r1", "q3")
        assert case.model_dump(mode="json") == cli_json(
            invoke, "eval", "show", "r1", "--case", "q3"
        )
        assert [r.model_dump(mode="json") for r in tb.evals.runs()] == cli_json(
            invoke, "eval", "list"
        )
        assert tb.evals.get("r1") == report.run

        started = next(e for e in tb.events.read(types=["RunStarted"]))
        assert started.data["settings"]["scorers"] == ["equals", "contains:echo"]
        calls = {e.metadata.get("call") for e in tb.events.read(stream="eval-run:r1")}
        assert calls == {"trialbook.evals.run"}

    def test_judges_repeats_and_flaky_cases_dump_back_to_the_cli_json(
        self,
        tb: Any,
        invoke: Invoke,
        suite_file: Path,
        task_server: TaskServer,
        judge_server: JudgeServer,
    ) -> None:
        verdict = {
            "score": 8,
            "passed": True,
            "evaluation": [{"criteria": "polite", "passed": True, "reason": "ok"}],
        }
        failing = {
            **verdict,
            "score": 2,
            "passed": False,
            "evaluation": [{"criteria": "polite", "passed": False, "reason": "rude"}],
        }
        model = judge_server.script(
            "api-judge",
            *(JudgeReply(content=json.dumps(v)) for v in (verdict, failing, verdict, verdict)),
        )
        tb.evals.add_suite(suite_file)
        report = tb.evals.run(
            "qa", f"{task_server.url}/run", scorers=["equals", "judge:strict"], epochs=2,
            judge_repeats=2, concurrency=1, retries=0, name="judged",
            judges={"strict": {"base_url": judge_server.base_url, "model": model, "key_env": "none"}},
        )  # fmt: skip
        judge = report.scorer("judge:strict")
        assert judge.judge_prompt_tokens > 0 and judge.repeat_sd is not None
        assert report.judge_disagreements, "the scripted judge split its repeats"
        assert report.model_dump(mode="json") == cli_json(invoke, "eval", "show", "judged")
        assert tb.evals.show("judged", all_verdicts=True).model_dump(mode="json") == cli_json(
            invoke, "eval", "show", "judged", "--all-verdicts"
        )
        # the judge's table is recorded, so the CLI rescore finds it again
        r = invoke("eval", "rescore", "judged", "--scorer", "judge:strict")
        assert r.exit_code == 0, r.output

    def test_an_in_process_callable_is_a_python_target(
        self, tb: Any, invoke: Invoke, db_path: Path
    ) -> None:
        tb.evals.add_suite(CASES[:2], name="mem")
        seen: list[str] = []

        def agent(case: dict[str, Any]) -> dict[str, Any]:
            seen.append(case["id"])
            return {
                "output": f"echo: {case['input']}",
                "usage": {"prompt_tokens": 3, "completion_tokens": 2},
            }

        report = tb.evals.run("mem", agent, scorers="equals", name="local", prices={"*": "1/2"})
        assert sorted(seen) == ["q1", "q2"]
        assert report.run.target == {
            "kind": "python",
            "callable": "tests.test_api_evals:TestRuns.test_an_in_process_callable_is_a_python_target.<locals>.agent",
        }
        assert report.scorer("equals").pass_rate == 1.0
        assert report.summary.cost_usd == pytest.approx(2 * (3 * 1 + 2 * 2) / 1e6)
        assert report.model_dump(mode="json") == cli_json(invoke, "eval", "show", "local")

    def test_an_async_callable_runs_on_the_callers_loop_inside_asyncio_run(
        self, tb: Any, invoke: Invoke
    ) -> None:
        tb.evals.add_suite(CASES[:2], name="mem")
        tb.ab.create("side", variants=["a", "b"])

        async def agent(case: dict[str, Any]) -> str:
            await asyncio.sleep(0.01)
            return f"echo: {case['input']}"

        async def main() -> Any:
            with pytest.raises(RuntimeError, match="await tb.evals.run_async"):
                tb.evals.run("mem", agent)
            run = asyncio.ensure_future(
                tb.evals.run_async("mem", agent, scorers=["equals"], epochs=3, name="async")
            )
            await asyncio.sleep(0)
            tb.ab.add_result("side", variant="a", success=True)  # the handle is free while it runs
            return await run

        report = asyncio.run(main())
        assert (report.run.status, report.summary.completed) == ("finished", 6)
        assert report.model_dump(mode="json") == cli_json(invoke, "eval", "show", "async")
        assert tb.ab.get("side").results == 1

    def test_cancelling_run_async_records_the_interruption_and_resume_finishes_it(
        self, tb: Any, invoke: Invoke
    ) -> None:
        tb.evals.add_suite([{"id": f"c{i}", "input": str(i)} for i in range(6)], name="slow")
        started = asyncio.Event()
        stuck = {"c5": 30.0}

        async def agent(case: dict[str, Any]) -> str:
            started.set()
            await asyncio.sleep(stuck.get(case["id"], 0))
            return case["input"]

        async def main() -> None:
            run = asyncio.ensure_future(
                tb.evals.run_async("slow", agent, concurrency=6, name="cut")
            )
            await started.wait()
            await asyncio.sleep(0.3)
            run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await run

        asyncio.run(main())
        run = tb.evals.get("cut")
        assert run.status == "interrupted" and run.completed == 5
        assert "interrupted" in (run.interrupt_reason or "")
        with pytest.raises(trialbook.StateConflict, match="cannot be imported again") as e:
            tb.evals.resume("cut")
        assert str(e.value) == cli_error(invoke, "eval", "resume", "cut")
        with pytest.raises(trialbook.InvalidCommand, match="with the same target"):
            tb.evals.resume("cut", target=echo)
        stuck.clear()
        report = tb.evals.resume("cut", target=agent)  # the closure, handed over again
        assert (report.run.status, report.summary.completed) == ("finished", 6)
        assert report.model_dump(mode="json") == cli_json(invoke, "eval", "show", "cut")

    def test_a_run_of_a_module_level_function_is_resumable_from_the_cli(
        self, tb: Any, invoke: Invoke, db_path: Path
    ) -> None:
        FAILED_ONCE.clear()
        tb.evals.add_suite(CASES[:2], name="mem")
        report = tb.evals.run("mem", flaky, scorers=["equals"], retries=0, name="fl")
        assert report.run.target == {"kind": "python", "callable": "tests.test_api_evals:flaky"}
        assert (report.summary.failed, report.rollouts[1].error) == (
            1,
            "tests.test_api_evals:flaky raised RuntimeError: q2 is not ready",
        )
        r = invoke("eval", "retry-failed", "fl")
        assert r.exit_code == 0, r.output
        assert "Run fl finished: 2 completed, 0 failed." in r.output
        assert tb.evals.show("fl").summary.failed == 0
        with pytest.raises(trialbook.StateConflict) as e:
            tb.evals.retry_failed("fl")
        assert str(e.value) == cli_error(invoke, "eval", "retry-failed", "fl")

    def test_a_budget_stops_the_run_and_resume_with_a_new_budget_finishes_it(
        self, tb: Any, invoke: Invoke, task_server: TaskServer
    ) -> None:
        cases = [
            {"id": f"c{i}", "input": f"w{i}", "metadata": {"cost_usd": 0.01}} for i in range(5)
        ]
        tb.evals.add_suite(cases, name="paid")
        report = tb.evals.run(
            "paid", f"{task_server.url}/run", budget=0.025, concurrency=1, name="b"
        )
        assert report.run.status == "interrupted"
        assert report.run.interrupt_reason == "budget of $0.025 spent"
        assert report.summary.pending > 0
        done = tb.evals.resume("b", budget=1.0)
        assert (done.run.status, done.summary.completed) == ("finished", 5)
        assert done.model_dump(mode="json") == cli_json(invoke, "eval", "show", "b")

    def test_a_run_config_gives_the_defaults_and_options_win(
        self, tb: Any, invoke: Invoke, tmp_path: Path, task_server: TaskServer
    ) -> None:
        tb.evals.add_suite(CASES[:2], name="mem")
        config = tmp_path / "run.toml"
        config.write_text(
            f'suite = "mem"\nname = "from-config"\nepochs = 3\nretries = 0\n'
            f'[target]\nkind = "http"\nurl = "{task_server.url}/run"\n',
            encoding="utf-8",
        )
        report = tb.evals.run(config=config, epochs=2, scorers=["equals"])
        assert (report.run.run_id, report.run.epochs, report.run.settings["retries"]) == (
            "from-config",
            2,
            0,
        )

    def test_show_as_of_a_position_or_time_is_eval_show_at(
        self, tb: Any, invoke: Invoke, suite_file: Path, task_server: TaskServer
    ) -> None:
        tb.evals.add_suite(suite_file)
        tb.evals.run("qa", f"{task_server.url}/run", scorers=["equals"], retries=0, name="r1")
        started = next(e for e in tb.events.read(types=["RunStarted"]))
        first = next(e for e in tb.events.read(types=["RolloutCompleted", "RolloutFailed"]))
        at = tb.evals.show("r1", at=first.position)
        assert at.run.status == "running" and at.run.runner is None
        assert at.model_dump(mode="json") == cli_json(
            invoke, "eval", "show", "r1", "--at", str(first.position)
        )
        when = datetime.fromisoformat(started.recorded_at.replace("Z", "+00:00"))
        assert tb.evals.show("r1", as_of=when).summary.rollouts == 0
        assert tb.evals.show("r1", as_of=started.recorded_at) == tb.evals.show("r1", as_of=when)
        naive = when.astimezone(timezone.utc).replace(tzinfo=None).isoformat()
        assert tb.evals.show("r1", as_of=naive) == tb.evals.show("r1", as_of=when)
        with pytest.raises(trialbook.NotFound) as e:
            tb.evals.show("r1", at=1)
        assert str(e.value) == cli_error(invoke, "eval", "show", "r1", "--at", "1")
        with pytest.raises(trialbook.InvalidCommand, match="is not an ISO time"):
            tb.evals.show("r1", as_of="yesterday")

    def test_rollouts_and_export_give_outputs_and_traces(
        self, tb: Any, invoke: Invoke, task_server: TaskServer, tmp_path: Path
    ) -> None:
        big = "x" * 10_000
        cases = [
            {"id": "a/b", "input": "small", "metadata": {"trace": {"steps": [1, 2]}}},
            {"id": "big", "input": big},
        ]
        tb.evals.add_suite(cases, name="tr")
        tb.evals.run("tr", f"{task_server.url}/run", name="t")
        rows = tb.evals.rollouts("t")
        assert [r.output for r in rows] == ["echo: small", f"echo: {big}"]
        assert rows[1].output_blob and tb.evals.case("t", "big").rollouts[0].output is None
        exported = tb.evals.export("t", tmp_path / "api")
        assert (exported.rollouts, exported.blobs) == (2, 2)
        assert invoke("eval", "export", "t", "--traces", str(tmp_path / "cli")).exit_code == 0
        files = sorted(p.name for p in (tmp_path / "api").iterdir())
        assert files == sorted(p.name for p in (tmp_path / "cli").iterdir())
        for name in files:
            assert (tmp_path / "api" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes()


class TestRunErrors:
    @pytest.mark.parametrize(
        "kwargs,args,error",
        [
            (
                {"suite": "nope", "target": "http://127.0.0.1:1/run"},
                ["nope", "--target", "http://127.0.0.1:1/run"],
                trialbook.NotFound,
            ),
            ({"target": "ftp:x"}, ["qa", "--target", "ftp:x"], trialbook.InvalidCommand),
            ({"scorers": ["bogus"]}, ["qa", "--scorer", "bogus"], trialbook.InvalidCommand),
            ({"name": "bad name!"}, ["qa", "--name", "bad name!"], trialbook.InvalidCommand),
            ({"prices": ["gpt=cheap"]}, ["qa", "--price", "gpt=cheap"], trialbook.InvalidCommand),
            ({"timeout": -1}, ["qa", "--timeout", "-1"], trialbook.InvalidCommand),
            ({"version": 9}, ["qa", "--version", "9"], trialbook.NotFound),
            (
                {"target": "openai:gpt-4o-mini"},
                ["qa", "--target", "openai:gpt-4o-mini"],
                trialbook.InvalidCommand,
            ),
            ({"suite": None}, [], trialbook.InvalidCommand),
            ({"target": None}, ["qa"], trialbook.InvalidCommand),
            ({"name": "r1"}, ["qa", "--name", "r1"], trialbook.TrialbookError),
        ],
    )
    def test_bad_input_raises_the_clis_message_and_appends_nothing(
        self, tb: Any, invoke: Invoke, suite_file: Path, task_server: TaskServer, db_path: Path,
        monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any], args: list[str], error: type[Exception],
    ) -> None:  # fmt: skip
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        tb.evals.add_suite(suite_file)
        target = f"{task_server.url}/run"
        if kwargs.get("name") == "r1":
            tb.evals.run("qa", target, retries=0, name="r1")
        before = count_events(db_path)
        call = {"suite": "qa", "target": target, **kwargs}
        with pytest.raises(error) as e:
            tb.evals.run(call.pop("suite"), call.pop("target"), **call)
        cli_args = (
            [*args]
            if "--target" in args or kwargs.get("target", "") is None
            else [*args, "--target", target]
        )
        assert str(e.value) == cli_error(invoke, "eval", "run", *cli_args)
        assert count_events(db_path) == before

    def test_an_unreachable_target_raises_target_unavailable_naming_it(
        self, tb: Any, invoke: Invoke, suite_file: Path, db_path: Path
    ) -> None:
        tb.evals.add_suite(suite_file)
        url = closed_port_url()
        with pytest.raises(trialbook.TargetUnavailable) as e:
            tb.evals.run("qa", url, name="down")
        assert "127.0.0.1" in str(e.value)
        assert isinstance(e.value, trialbook.TrialbookError)
        assert str(e.value) == cli_error(
            invoke, "eval", "run", "qa", "--target", url, "--name", "down"
        )
        assert count_events(db_path) == 1
        assert tb.evals.runs() == []

    def test_resume_rescore_and_compare_refusals_are_the_clis(
        self, tb: Any, invoke: Invoke, db_path: Path
    ) -> None:
        tb.evals.add_suite(CASES[:2], name="mem")

        def broken(case: dict[str, Any]) -> str:
            raise ValueError("no")

        tb.evals.run("mem", broken, retries=0, name="allfail")
        before = count_events(db_path)
        checks: list[tuple[Any, list[str], type[Exception]]] = [
            (lambda: tb.evals.resume("ghost"), ["resume", "ghost"], trialbook.NotFound),
            (
                lambda: tb.evals.resume("allfail", budget=-1),
                ["resume", "allfail", "--budget", "-1"],
                trialbook.InvalidCommand,
            ),
            (
                lambda: tb.evals.rescore("allfail", ["equals"]),
                ["rescore", "allfail", "--scorer", "equals"],
                trialbook.StateConflict,
            ),
            (
                lambda: tb.evals.rescore("ghost", "equals"),
                ["rescore", "ghost", "--scorer", "equals"],
                trialbook.NotFound,
            ),
            (
                lambda: tb.evals.compare("allfail", "ghost"),
                ["compare", "allfail", "ghost"],
                trialbook.NotFound,
            ),
            (
                lambda: tb.evals.case("allfail", "zz"),
                ["show", "allfail", "--case", "zz"],
                trialbook.NotFound,
            ),
            (lambda: tb.evals.show("ghost"), ["show", "ghost"], trialbook.NotFound),
        ]
        for call, args, error in checks:
            with pytest.raises(error) as e:
                call()
            assert str(e.value) == cli_error(invoke, "eval", *args), args
        assert count_events(db_path) == before


class TestRescoreAndCompare:
    def test_rescore_records_new_verdicts_as_eval_rescore_does(
        self, tb: Any, invoke: Invoke, suite_file: Path, task_server: TaskServer
    ) -> None:
        tb.evals.add_suite(suite_file)
        tb.evals.run("qa", f"{task_server.url}/run", scorers=["equals"], retries=0, name="r1")
        done = tb.evals.rescore("r1", "contains:hello")
        assert isinstance(done, trialbook.Rescore)
        assert (done.verdicts, done.rollouts, done.scoring_errors) == (2, 2, 0)
        assert done.session.startswith("rescore-")
        report = tb.evals.show("r1")
        assert report.scorer_names == ["equals", "contains:hello"]
        assert report.scorer("contains:hello").passed == 1
        assert report.model_dump(mode="json") == cli_json(invoke, "eval", "show", "r1")
        calls = [e.metadata.get("call") for e in tb.events.read(types=["VerdictRecorded"])][-2:]
        assert calls == ["trialbook.evals.rescore"] * 2

    def test_compare_is_eval_compare_json_and_feeds_an_ab_test(
        self, tb: Any, invoke: Invoke, suite_file: Path, task_server: TaskServer
    ) -> None:
        tb.evals.add_suite(suite_file)
        target = f"{task_server.url}/run"
        tb.evals.run("qa", target, scorers=["equals"], epochs=2, retries=0, name="base")
        task_server.reset()
        task_server.scripts["q1"] = ["answer:wrong", "answer:wrong"]
        try:
            tb.evals.run("qa", target, scorers=["equals"], epochs=2, retries=0, name="cand")
        finally:
            del task_server.scripts["q1"]

        cmp = tb.evals.compare("base", "cand")
        assert isinstance(cmp, trialbook.Comparison) and cmp.into_ab is None
        assert [(p.case_id, p.epoch) for p in cmp.regressions] == [("q1", 1), ("q1", 2)]
        assert cmp.model_dump(mode="json") == cli_json(invoke, "eval", "compare", "base", "cand")
        assert tb.evals.compare("base", "cand", scorer="equals") == cmp

        fed = tb.evals.compare("base", "cand", into_ab="swap")
        assert fed.into_ab is not None and (fed.into_ab.created, fed.into_ab.skipped) == (True, 0)
        assert tb.ab.get("swap").results == fed.into_ab.added == 2 * cmp.pairs
        assert tb.evals.compare("base", "cand", into_ab="swap").into_ab.added == 0
        assert tb.ab.analyze("swap").variants[0].name == "base"
        with pytest.raises(trialbook.InvalidCommand) as e:
            tb.evals.compare("base", "cand", scorer="judge:x")
        assert str(e.value) == cli_error(
            invoke, "eval", "compare", "base", "cand", "--scorer", "judge:x"
        )
