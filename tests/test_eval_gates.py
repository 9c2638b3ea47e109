"""CI gates of ``eval run``/``resume``/``retry-failed``/``compare``: exit codes, the one-line
messages with their figures, JUnit XML, and bad gate options refused before anything is recorded.

Exit codes: 0 every gate passed, 1 a gate failed, 3 an infrastructure failure (the target
cannot be reached, or every rollout failed). Against a real task app on 127.0.0.1.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import Invoke, add_suite, count_events, show_json
from tests.servers import Behaviour, TaskServer
from trialbook.domain.errors import InvalidCommand
from trialbook.ledger.eval_gates import (
    DECISIONS,
    parse_compare_gates,
    parse_fail_under,
    parse_run_gates,
)


@pytest.fixture(scope="module")
def shared_server() -> Iterator[TaskServer]:
    with TaskServer(Behaviour(latency_s=0.0)) as server:
        yield server


@pytest.fixture
def server(shared_server: TaskServer) -> TaskServer:
    shared_server.reset()
    shared_server.scripts.clear()
    return shared_server


def cases(n: int, wrong: set[int] = frozenset(), down: set[int] = frozenset()) -> list[dict]:  # type: ignore[assignment]
    """``n`` cases c1…cn; ``wrong`` answer wrongly (equals fails), ``down`` answer 503."""
    out = []
    for i in range(1, n + 1):
        c: dict[str, Any] = {"id": f"c{i}", "input": f"w{i}", "expected": f"echo: w{i}"}
        if i in wrong:
            c["metadata"] = {"script": ["answer:wrong"] * 10}
        if i in down:
            c["metadata"] = {"script": ["503"] * 10}
        out.append(c)
    return out


def run(invoke: Invoke, server: TaskServer, name: str, *extra: str) -> Any:
    return invoke(
        "eval", "run", "qa", "--target", f"{server.url}/run", "--name", name, "--retries", "0",
        "--scorer", "equals", *extra,
    )  # fmt: skip


def last_line(output: str) -> str:
    return output.strip().splitlines()[-1]


# --------------------------------------------------------------------------- parsing (pure)


class TestParsing:
    @pytest.mark.parametrize(
        ("spec", "scorer", "stat", "threshold"),
        [
            ("equals=0.8", "equals", "pass_rate", 0.8),
            ("equals=80%", "equals", "pass_rate", 0.8),
            ("equals:mean=0.7", "equals", "mean", 0.7),
            ("equals:pass_rate=1", "equals", "pass_rate", 1.0),
            ("json_field:a.b=x=0.5", "json_field:a.b=x", "pass_rate", 0.5),
            ("judge:strict:mean=6.5", "judge:strict", "mean", 6.5),
            ("target=0.9", "target", "pass_rate", 0.9),
        ],
    )
    def test_a_fail_under_spec_names_a_scorer_a_statistic_and_a_threshold(
        self, spec: str, scorer: str, stat: str, threshold: float
    ) -> None:
        g = parse_fail_under(spec, ["equals", "json_field:a.b=x", "judge:strict"])
        assert (g.scorer, g.stat, g.threshold) == (scorer, stat, pytest.approx(threshold))

    def test_a_scorer_whose_name_ends_in_mean_is_not_read_as_the_mean(self) -> None:
        g = parse_fail_under("judge:mean=0.5", ["judge:mean"])
        assert (g.scorer, g.stat) == ("judge:mean", "pass_rate")

    @pytest.mark.parametrize(
        ("spec", "message"),
        [
            (
                "equals",
                "--fail-under 'equals': give SCORER=RATE (pass rate, 0–1 or a percentage: "
                "equals=0.8, equals=80%) or SCORER:mean=VALUE (mean score: equals:mean=0.7)",
            ),
            ("equals=lots", "--fail-under 'equals=lots': 'lots' is not a number; give SCORER=RATE"),
            ("equals=1.5", "--fail-under 'equals=1.5': a pass rate lies between 0 and 1"),
            ("equals=nan", "--fail-under 'equals=nan': 'nan' is not a finite number"),
            (
                "nosuch=0.8",
                "--fail-under 'nosuch=0.8': the run has no scorer 'nosuch'; its scorers: equals "
                "(or `target` for the target's own score)",
            ),
        ],
    )
    def test_a_bad_fail_under_is_one_line_naming_the_fix(self, spec: str, message: str) -> None:
        with pytest.raises(InvalidCommand) as e:
            parse_fail_under(spec, ["equals"])
        assert str(e.value).startswith(message)

    def test_fail_on_takes_the_recommendation_words_repeated_or_comma_separated(self) -> None:
        g = parse_compare_gates(None, ["keep_control,no-difference", "KEEP_CONTROL"])
        assert g.fail_on == ("keep_control", "no_difference")
        with pytest.raises(InvalidCommand) as e:
            parse_compare_gates(None, ["worse"])
        assert str(e.value) == (
            "--fail-on 'worse' is not a recommendation; use one of " + ", ".join(DECISIONS)
        )

    def test_no_gates_is_falsy_and_a_negative_count_is_refused(self) -> None:
        assert not parse_run_gates() and not parse_compare_gates()
        with pytest.raises(InvalidCommand, match="give a count of 0 or more"):
            parse_run_gates(max_failed=-1)


# --------------------------------------------------------------------------- eval run


class TestRunGates:
    def test_passing_gates_exit_0_and_say_so_with_their_figures(
        self, invoke: Invoke, server: TaskServer, tmp_path: Path
    ) -> None:
        add_suite(invoke, tmp_path / "qa.jsonl", cases(4))
        r = run(invoke, server, "ok", "--fail-under", "equals=0.8", "--max-failed", "0")
        assert r.exit_code == 0, r.output
        assert last_line(r.output) == (
            "Gates passed: --fail-under equals=0.8 (equals pass rate 100% (4 of 4 scored) ≥ 80%); "
            "--max-failed 0 (0 of 4 rollouts failed)."
        )

    def test_a_pass_rate_under_the_gate_exits_1_with_the_figures(
        self, invoke: Invoke, server: TaskServer, tmp_path: Path
    ) -> None:
        add_suite(invoke, tmp_path / "qa.jsonl", cases(4, wrong={3}))
        r = run(invoke, server, "low", "--fail-under", "equals=0.8")
        assert r.exit_code == 1
        assert last_line(r.output) == (
            "Error: gate --fail-under equals=0.8 failed: equals pass rate 75% (3 of 4 scored) "
            "is under 80%"
        )
        # the run itself is recorded whole: a gate judges it, it does not undo it
        assert show_json(invoke, "low")["summary"]["completed"] == 4

    def test_the_mean_gate_and_two_failed_gates_are_one_line(
        self, invoke: Invoke, server: TaskServer, tmp_path: Path
    ) -> None:
        add_suite(invoke, tmp_path / "qa.jsonl", cases(4, wrong={1}, down={4}))
        r = run(invoke, server, "two", "--fail-under", "equals:mean=0.9", "--max-failed", "0")
        assert r.exit_code == 1
        mean = show_json(invoke, "two")["scorers"]["equals"]["mean"]
        assert last_line(r.output) == (
            f"Error: 2 gates failed: --fail-under equals:mean=0.9: equals mean {mean:.4g} (n=3) is "
            "under 0.9; --max-failed 0: 1 of 4 rollouts failed, more than 0"
        )
        assert r.output.count("\nError: ") == 1

    def test_the_target_score_can_be_gated(
        self, invoke: Invoke, server: TaskServer, tmp_path: Path
    ) -> None:
        qa = cases(4)
        qa[1]["expected"] = "something else"  # the task app scores its own answer 0 there
        add_suite(invoke, tmp_path / "qa.jsonl", qa)
        r = run(
            invoke, server, "tg", "--fail-under", "target=0.5", "--fail-under", "target:mean=0.8"
        )
        assert r.exit_code == 1
        assert last_line(r.output) == (
            "Error: gate --fail-under target:mean=0.8 failed: target score mean 0.75 (n=4) is under 0.8"
        )

    def test_a_run_whose_rollouts_all_failed_exits_3_unless_allowed(
        self, invoke: Invoke, server: TaskServer, tmp_path: Path
    ) -> None:
        add_suite(invoke, tmp_path / "qa.jsonl", cases(3, down={1, 2, 3}))
        r = run(invoke, server, "dead")
        assert r.exit_code == 3
        line = last_line(r.output)
        assert line.startswith(
            "Error: every rollout failed (3 of 3): nothing was evaluated; first error: "
        )
        assert "503" in line and line.endswith("pass --allow-all-failed to exit 0")
        server.reset()
        r = run(invoke, server, "dead2", "--allow-all-failed")
        assert r.exit_code == 0, r.output

    def test_an_infrastructure_failure_is_exit_3_even_when_gates_were_given(
        self, invoke: Invoke, server: TaskServer, tmp_path: Path, db_path: Path
    ) -> None:
        add_suite(invoke, tmp_path / "qa.jsonl", cases(2))
        before = count_events(db_path)
        r = invoke(
            "eval", "run", "qa", "--target", "http://127.0.0.1:9/run", "--scorer", "equals",
            "--fail-under", "equals=0.5",
        )  # fmt: skip
        assert r.exit_code == 3
        assert last_line(r.output).startswith(
            "Error: cannot reach the http target at http://127.0.0.1:9/run"
        )
        assert count_events(db_path) == before

    @pytest.mark.parametrize(
        ("args", "error"),
        [
            (
                ["--fail-under", "nosuch=0.8"],
                "Error: --fail-under 'nosuch=0.8': the run has no scorer 'nosuch'; its scorers: "
                "equals (or `target` for the target's own score)",
            ),
            (["--fail-under", "equals=2"], "Error: --fail-under 'equals=2': a pass rate lies between 0 and 1 (or 0% and 100%)"),
            (["--junit", "/nonexistent-dir-xyz/out.xml"], "Error: --junit /nonexistent-dir-xyz/out.xml: directory /nonexistent-dir-xyz does not exist; create it first"),
        ],
    )  # fmt: skip
    def test_bad_gate_options_are_one_line_and_record_nothing(
        self,
        invoke: Invoke,
        server: TaskServer,
        tmp_path: Path,
        db_path: Path,
        args: list[str],
        error: str,
    ) -> None:
        add_suite(invoke, tmp_path / "qa.jsonl", cases(2))
        before = count_events(db_path)
        r = run(invoke, server, "bad", *args)
        assert (r.exit_code, r.output) == (1, error + "\n")
        assert count_events(db_path) == before and server.stats()["requests"] == 0

    def test_retry_failed_and_resume_end_with_the_same_gates(
        self, invoke: Invoke, server: TaskServer, tmp_path: Path
    ) -> None:
        add_suite(invoke, tmp_path / "qa.jsonl", cases(4))
        server.scripts["c2"] = ["503"]  # fails once, then answers
        r = run(invoke, server, "rf", "--max-failed", "0")
        assert r.exit_code == 1 and last_line(r.output) == (
            "Error: gate --max-failed 0 failed: 1 of 4 rollouts failed, more than 0"
        )
        junit = tmp_path / "rf.xml"
        # the 503 was the case's only scripted answer: retried, it succeeds
        r = invoke(
            "eval", "retry-failed", "rf", "--fail-under", "equals=1", "--max-failed", "0",
            "--junit", str(junit),
        )  # fmt: skip
        assert r.exit_code == 0, r.output
        assert (
            "Gates passed: --fail-under equals=1 (equals pass rate 100% (4 of 4 scored)" in r.output
        )
        assert ET.parse(junit).getroot().get("failures") == "0"

    def test_resume_ends_with_the_gates_and_checks_them_before_it_resumes(
        self, invoke: Invoke, server: TaskServer, tmp_path: Path, db_path: Path
    ) -> None:
        qa = cases(4)
        for c in qa:
            c["metadata"] = {"cost_usd": 0.01}
        add_suite(invoke, tmp_path / "qa.jsonl", qa)
        r = run(invoke, server, "bud", "--budget", "0.015", "--concurrency", "1")
        assert r.exit_code == 0, r.output
        assert "Run bud stopped (" in r.output
        before = count_events(db_path)
        r = invoke("eval", "resume", "bud", "--fail-under", "nosuch=1")
        assert (r.exit_code, last_line(r.output)) == (
            1,
            "Error: --fail-under 'nosuch=1': the run has no scorer 'nosuch'; its scorers: equals "
            "(or `target` for the target's own score)",
        )
        assert count_events(db_path) == before
        r = invoke("eval", "resume", "bud", "--budget", "1", "--fail-under", "equals=1")
        assert r.exit_code == 0, r.output
        assert last_line(r.output) == (
            "Gates passed: --fail-under equals=1 (equals pass rate 100% (4 of 4 scored) ≥ 100%)."
        )

    def test_eval_run_ends_with_the_headline_scores(
        self, invoke: Invoke, server: TaskServer, tmp_path: Path
    ) -> None:
        add_suite(invoke, tmp_path / "qa.jsonl", cases(4, wrong={4}))
        r = run(invoke, server, "hl", "--scorer", "contains:echo")
        assert r.exit_code == 0, r.output
        lines = r.output.strip().splitlines()
        assert lines[-4].startswith("Run hl finished: 4 completed, 0 failed.")
        # the target scores its own answers too (a scripted wrong answer has no score)
        assert lines[-3] == "target pass rate (score ≥ 0.7): 100.0%"
        assert lines[-2].startswith("equals: mean 0.75 · pass 75.0% (95% CI ")
        assert lines[-1].startswith("contains:echo: mean 0.75 · pass 75.0% (95% CI ")


# --------------------------------------------------------------------------- JUnit


class TestJUnit:
    def test_one_testcase_per_case_epoch_and_scorer_with_failures_and_errors(
        self, invoke: Invoke, server: TaskServer, tmp_path: Path
    ) -> None:
        add_suite(invoke, tmp_path / "qa.jsonl", cases(5, wrong={2}, down={5}))
        out = tmp_path / "junit.xml"
        r = run(
            invoke, server, "ju", "--scorer", "contains:echo", "--epochs", "2",
            "--fail-under", "equals=0.9", "--junit", str(out),
        )  # fmt: skip
        assert r.exit_code == 1
        assert f"JUnit XML written to {out}." in r.output
        root = ET.parse(out).getroot()
        suites = root.findall("testsuite")
        assert [s.get("name") for s in suites] == ["ju (qa v1)", "gates"]
        runs = suites[0]
        tcs = runs.findall("testcase")
        # c1..c4 × 2 epochs × 2 scorers, and c5's 2 failed rollouts (one testcase each)
        assert len(tcs) == 4 * 2 * 2 + 2 == int(runs.get("tests") or -1)
        failures = [tc for tc in tcs if tc.find("failure") is not None]
        errors = [tc for tc in tcs if tc.find("error") is not None]
        assert sorted((tc.get("classname"), tc.get("name")) for tc in failures) == [
            ("c2", "contains:echo [epoch 1]"),
            ("c2", "contains:echo [epoch 2]"),
            ("c2", "equals [epoch 1]"),
            ("c2", "equals [epoch 2]"),
        ]
        assert runs.get("failures") == "4" and runs.get("errors") == "2"
        assert {tc.get("classname") for tc in errors} == {"c5"}
        assert all(tc.find("error").get("type") == "rollout_failed" for tc in errors)  # type: ignore[union-attr]
        report = show_json(invoke, "ju")
        assert int(root.get("tests") or -1) == len(tcs) + 1
        assert int(root.get("failures") or -1) == 4 + 1
        (gate,) = suites[1].findall("testcase")
        failure = gate.find("failure")
        assert gate.get("name") == "--fail-under equals=0.9" and failure is not None
        rate = report["scorers"]["equals"]["pass_rate"]
        assert failure.get("message") == (
            f"equals pass rate {rate * 100:.1f}% (6 of 8 scored) is under 90%".replace(".0%", "%")
        )

    def test_failed_criteria_and_scoring_errors_reach_the_xml(self, tmp_path: Path) -> None:
        from trialbook.ledger.junit import junit_xml

        report = {
            "run": {"run_id": "r", "suite": "s", "suite_version": 1, "epochs": 1, "status": "finished",
                    "target": {"kind": "http"}, "started_at": "2026-01-01T00:00:00Z"},
            "rollouts": [
                {"case_id": "a<&>", "epoch": 1, "status": "completed", "latency_s": 0.5, "score": None,
                 "error": None, "verdicts": {
                     "judge:j": {"score": 0.2, "passed": False, "scoring_error": False, "error": None,
                                 "failed_criteria": ["cites\x01 a source", "polite"]},
                     "judge:k": {"score": None, "passed": None, "scoring_error": True,
                                 "error": "cannot reach the judge", "failed_criteria": []},
                     "judge:l": {"score": None, "passed": None, "scoring_error": False, "error": None,
                                 "failed_criteria": []},
                 }},
                {"case_id": "b", "epoch": 1, "status": "completed", "latency_s": 0.1, "score": 0.5,
                 "error": None, "verdicts": {}},
            ],
        }  # fmt: skip
        root = ET.fromstring(junit_xml(report))
        assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == (
            "4", "2", "1", "1",
        )  # fmt: skip
        tcs = {tc.get("name"): tc for tc in root.iter("testcase")}
        assert tcs["judge:j [epoch 1]"].get("classname") == "a<&>"
        assert tcs["judge:j [epoch 1]"].find("failure").get("message") == (  # type: ignore[union-attr]
            "score 0.2; failed criteria: cites? a source; polite"
        )
        assert tcs["judge:k [epoch 1]"].find("error").get("type") == "scoring_error"  # type: ignore[union-attr]
        assert tcs["judge:l [epoch 1]"].find("skipped") is not None
        assert tcs["target [epoch 1]"].find("failure").get("message") == (  # type: ignore[union-attr]
            "target score 0.5 is under 0.7"
        )
        assert tcs["judge:j [epoch 1]"].get("time") == "0.500"


# --------------------------------------------------------------------------- eval compare


class TestCompareGates:
    def setup_runs(
        self, invoke: Invoke, server: TaskServer, tmp_path: Path, n: int, worse: set[int]
    ) -> None:
        add_suite(invoke, tmp_path / "qa.jsonl", cases(n))
        assert run(invoke, server, "base").exit_code == 0
        add_suite(invoke, tmp_path / "qa.jsonl", cases(n, wrong=worse))
        server.reset()
        assert run(invoke, server, "cand").exit_code == 0

    def test_max_regressions_counts_regressed_pairs(
        self, invoke: Invoke, server: TaskServer, tmp_path: Path
    ) -> None:
        self.setup_runs(invoke, server, tmp_path, 6, {2, 5})
        r = invoke("eval", "compare", "base", "cand", "--max-regressions", "1")
        assert r.exit_code == 1
        assert "regressions: 2 pairs in 2 cases: c2#1, c5#1" in r.output
        assert last_line(r.output) == (
            "Error: gate --max-regressions 1 failed: 2 regressions in 2 cases of 6 pairs, more than 1"
        )
        r = invoke("eval", "compare", "base", "cand", "--max-regressions", "2", "--json")
        assert r.exit_code == 0
        assert json.loads(r.stdout)["regressions"][0]["case_id"] == "c2"
        assert r.stderr.strip() == (
            "Gates passed: --max-regressions 2 (2 regressions in 2 cases of 6 pairs)."
        )

    def test_fail_on_keep_control_fails_a_clear_regression(
        self, invoke: Invoke, server: TaskServer, tmp_path: Path
    ) -> None:
        n = 40
        self.setup_runs(invoke, server, tmp_path, n, set(range(1, n + 1)))
        data = json.loads(invoke("eval", "compare", "base", "cand", "--json").output)
        rec = data["analysis"]["recommendation"]
        assert rec["decision"] == "keep_control"
        r = invoke("eval", "compare", "base", "cand", "--fail-on", "keep_control")
        assert r.exit_code == 1
        assert last_line(r.output) == (
            f"Error: gate --fail-on keep_control failed: recommendation keep_control "
            f"{rec['variant']} ({rec['reason']})"
        )
        r = invoke("eval", "compare", "base", "cand", "--fail-on", "ship,no_difference")
        assert r.exit_code == 0, r.output
        assert last_line(r.output) == (
            f"Gates passed: --fail-on ship,no_difference (recommendation keep_control {rec['variant']})."
        )

    def test_fail_on_without_a_recommendation_fails_and_a_bad_word_is_refused(
        self, invoke: Invoke, server: TaskServer, tmp_path: Path
    ) -> None:
        self.setup_runs(invoke, server, tmp_path, 1, set())
        r = invoke("eval", "compare", "base", "cand", "--fail-on", "keep_control")
        assert (r.exit_code, last_line(r.output)) == (
            1,
            "Error: gate --fail-on keep_control failed: no recommendation: fewer than 2 pairs "
            "scored on both sides",
        )
        r = invoke("eval", "compare", "base", "cand", "--fail-on", "worse")
        assert (r.exit_code, r.output) == (
            1,
            "Error: --fail-on 'worse' is not a recommendation; use one of continue, ship, "
            "keep_control, no_difference, blocked\n",
        )


# --------------------------------------------------------------------------- Python API


class TestPythonAPI:
    def test_gates_from_code_are_the_clis(
        self, invoke: Invoke, server: TaskServer, tmp_path: Path, db_path: Path
    ) -> None:
        import trialbook

        add_suite(invoke, tmp_path / "qa.jsonl", cases(4, wrong={3}))
        r = run(invoke, server, "py", "--fail-under", "equals=0.8", "--max-failed", "0")
        assert r.exit_code == 1
        junit = tmp_path / "py.xml"
        with trialbook.open(db_path) as tb:
            g = tb.evals.gates("py", fail_under="equals=0.8", max_failed=0, junit=junit)
            assert (g.exit_code, g.passed) == (1, False)
            assert f"Error: {g.message}" == last_line(r.output)
            assert [(c.gate, c.passed) for c in g.checks] == [
                ("--fail-under equals=0.8", False),
                ("--max-failed 0", True),
            ]
            assert ET.parse(junit).getroot().get("failures") == "2"  # c3's verdict and the gate
            assert tb.evals.gates("py", fail_under=["equals=0.75"]).passed
            with pytest.raises(trialbook.TrialbookError, match="the run has no scorer 'nosuch'"):
                tb.evals.gates("py", fail_under="nosuch=1")
            cmp = tb.evals.compare_gates("py", "py", max_regressions=0, fail_on="keep_control")
            assert cmp.passed and cmp.checks[0].detail == "0 regressions in 0 cases of 4 pairs"


# --------------------------------------------------------------------------- properties, the shell


@settings(max_examples=200, deadline=None)
@given(
    passed=st.integers(min_value=0, max_value=50),
    extra=st.integers(min_value=0, max_value=50),
    failed=st.integers(min_value=0, max_value=5),
    threshold=st.integers(min_value=0, max_value=100),
    max_failed=st.integers(min_value=0, max_value=5),
)
def test_a_gate_fails_exactly_when_its_figure_is_beyond_its_bound(
    passed: int, extra: int, failed: int, threshold: int, max_failed: int
) -> None:
    from trialbook.ledger.eval_gates import check_run

    scored = passed + extra
    rate = passed / scored if scored else None
    report = {
        "summary": {
            "rollouts": scored + failed,
            "completed": scored,
            "failed": failed,
            "target_pass_rate": None,
            "mean_score": None,
        },
        "rollouts": [],
        "scorers": {
            "equals": {"pass_rate": rate, "mean": rate, "scored": scored, "passed": passed}
        },
    }
    gates = parse_run_gates([f"equals={threshold}%"], max_failed, scorer_names=["equals"])
    outcome = check_run(report, gates)
    rate_ok = rate is not None and rate >= threshold / 100
    assert [c.passed for c in outcome.checks] == [rate_ok, failed <= max_failed]
    all_failed = scored == 0 and failed > 0
    expected = 3 if all_failed else 0 if rate_ok and failed <= max_failed else 1
    assert outcome.exit_code == expected
    assert (outcome.message() is None) == (expected == 0)


def test_a_failed_gate_in_the_shell_is_a_red_line_and_the_shell_goes_on(
    invoke: Invoke,
    server: TaskServer,
    tmp_path: Path,
    db_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from prompt_toolkit.application import create_app_session
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from trialbook.shell.app import App
    from trialbook.shell.repl import repl

    TestCompareGates().setup_runs(invoke, server, tmp_path, 3, {2})
    capsys.readouterr()
    app = App(db_path, interactive=True)
    try:
        with create_pipe_input() as inp, create_app_session(input=inp, output=DummyOutput()):
            inp.send_text("eval compare base cand --max-regressions 0\reval list\rexit\r")
            repl(app, input=inp, output=DummyOutput())
    finally:
        app.close()
    out, err = capsys.readouterr()
    assert "gate --max-regressions 0 failed: 1 regression in 1 case of 3 pairs, more than 0" in err
    # `eval list` still ran after the failed gate: its row of the candidate run
    assert any(ln.startswith("cand ") and "qa v2" in ln for ln in out.splitlines())


def test_a_mean_gate_reads_on_the_scorers_own_scale(
    invoke: Invoke, server: TaskServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 1–10 evaluator shown as N/10: ``:mean=3`` is 3 on that scale (its 0–1 mean is 1.5/9)."""
    (tmp_path / "tb_gate_scale.py").write_text(
        "import re\n\n\ndef ten(prompt, output):\n"
        "    return {'score': int(re.search(r'\\d+', str(output)).group(0))}\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    add_suite(invoke, tmp_path / "qa.jsonl", cases(4))  # outputs echo: w1 … echo: w4
    spec, name = "python:tb_gate_scale:ten,scale=1-10", "python:tb_gate_scale:ten"
    r = invoke(
        "eval", "run", "qa", "--target", f"{server.url}/run", "--name", "sc", "--scorer", spec,
        "--fail-under", f"{name}:mean=3",
    )  # fmt: skip
    assert r.exit_code == 1, r.output
    assert last_line(r.output) == (
        f"Error: gate --fail-under {name}:mean=3 failed: {name} mean 2.5 on its 1–10 scale (n=4) "
        "is under 3"
    )
    shown = show_json(invoke, "sc")["scorers"][name]
    assert shown["mean_on_scale"] == pytest.approx(2.5) and shown["mean"] == pytest.approx(1.5 / 9)
