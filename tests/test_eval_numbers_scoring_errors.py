"""N2: a scoring error (no verdict could be produced) is not a failed verdict.

Pure statistics on recorded verdicts, then the CLI on real SQLite files with a
real task server, a judge endpoint where nothing listens, and a code evaluator
(a module written to a temp dir) that returns an invalid value for some cases.
"""

from __future__ import annotations

import json
import socket
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Invoke, show_json
from tests.servers import Behaviour, TaskServer
from trialbook.domain.verdicts import (
    Verdict,
    VerdictRecorded,
    agreement,
    case_epochs,
    pass_k,
    rollouts,
    summarize,
)


def rec(
    scorer: str,
    case: str,
    epoch: int,
    score: float | None,
    *,
    error: str | None = None,
    repeat: int = 0,
) -> VerdictRecorded:
    if error is not None:
        v = Verdict.failure(scorer, error, repeat=repeat)
    elif score is None:
        v = Verdict.abstention(scorer, repeat=repeat)
    else:
        v = Verdict.scored(scorer, score, repeat=repeat)
    return VerdictRecorded.of(v, run_id="run", case_id=case, epoch=epoch)


class TestStatisticsLeaveScoringErrorsOut:
    def test_mean_and_pass_rate_are_over_the_verdicts_that_were_produced(self) -> None:
        vs = [
            rec("python:m:f", "a", 1, 1.0),
            rec("python:m:f", "b", 1, 0.5),
            rec("python:m:f", "c", 1, None, error="the evaluator returned a str"),
            rec("python:m:f", "d", 1, None, error="the evaluator raised KeyError"),
            rec("python:m:f", "e", 1, None),  # abstained
        ]
        s = summarize(vs)["python:m:f"]
        assert (s.rollouts, s.scored, s.errors, s.abstained, s.error_verdicts) == (5, 2, 2, 1, 2)
        assert s.mean == pytest.approx(0.75)
        assert (s.passed, s.pass_rate) == (1, pytest.approx(0.5))

    def test_a_scorer_with_only_errors_has_no_mean_and_no_pass_rate(self) -> None:
        vs = [rec("judge:down", f"c{i}", 1, None, error="cannot reach the judge") for i in range(3)]
        s = summarize(vs)["judge:down"]
        assert (s.mean, s.pass_rate, s.passed, s.errors, s.scored) == (None, None, 0, 3, 0)
        (r, *_) = rollouts(vs)
        assert r.scoring_error and r.error == "cannot reach the judge"
        assert (r.score, r.passed) == (None, None)
        assert pass_k(vs, 1) == {}

    def test_a_judge_repeat_that_errored_does_not_vote(self) -> None:
        vs = [
            rec("judge:j", "q", 1, 1.0, repeat=0),
            rec("judge:j", "q", 1, None, error="timeout", repeat=1),
        ]
        (r,) = rollouts(vs)
        assert (r.score, r.passed, r.errors, r.scoring_error) == (1.0, True, 1, False)
        s = summarize(vs)["judge:j"]
        assert (s.errors, s.error_verdicts, s.pass_rate) == (0, 1, 1.0)

    def test_pass_at_k_leaves_errored_epochs_out(self) -> None:
        vs = [
            rec("eq", "q1", 1, 1.0),
            rec("eq", "q1", 2, None, error="boom"),
            rec("eq", "q2", 1, 1.0),
            rec("eq", "q2", 2, 1.0),
        ]
        (q1,) = [c for c in case_epochs(vs) if c.case_id == "q1"]
        assert (q1.passed_epochs, q1.failed_epochs) == ((1,), ())
        p = pass_k(vs, 2)["eq"]
        assert (p.cases, p.skipped, p.pass_at_k, p.pass_hat_k) == (1, 1, 1.0, 1.0)

    def test_two_broken_scorers_do_not_agree_they_are_left_out(self) -> None:
        vs = [
            rec(s, f"c{i}", 1, None, error="down") for s in ("judge:a", "judge:b") for i in range(4)
        ]
        a = agreement(vs, "judge:a", "judge:b")
        assert (a.n, a.percent, a.kappa, a.scoring_errors) == (0, None, None, 4)

    def test_agreement_is_over_rollouts_both_scorers_judged(self) -> None:
        vs = [
            rec("x", "c1", 1, 1.0),
            rec("y", "c1", 1, 1.0),
            rec("x", "c2", 1, 0.0),
            rec("y", "c2", 1, 0.0),
            rec("x", "c3", 1, 1.0),
            rec("y", "c3", 1, None, error="down"),
        ]
        a = agreement(vs, "x", "y")
        assert (a.n, a.both_pass, a.both_fail, a.percent, a.kappa) == (2, 1, 1, 1.0, 1.0)
        assert a.scoring_errors == 1


# --------------------------------------------------------------------------- through the CLI

SUITE = [{"id": f"k{i}", "input": f"w{i}", "expected": f"echo: w{i}"} for i in range(4)]

EVALUATOR = textwrap.dedent(
    """
    def check(prompt, output, **context):
        if "w3" in str(output):
            return {"score": "n/a"}  # not a number: a scoring error
        return {"score": 1.0 if "w0" in str(output) or "w1" in str(output) else 0.0}
    """
)


@pytest.fixture(scope="module")
def task_server() -> Iterator[TaskServer]:
    with TaskServer(Behaviour()) as server:
        yield server


@pytest.fixture
def dead_base_url() -> str:
    """An OpenAI-compatible base URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def run_qa(
    invoke: Invoke, tmp_path: Path, task_server: TaskServer, monkeypatch: pytest.MonkeyPatch
) -> str:
    """A finished run "qa" (4 cases, 2 epochs) scored by equals; the evaluator module importable."""
    (tmp_path / "tb_numbers_evaluator.py").write_text(EVALUATOR, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    suite = tmp_path / "qa.jsonl"
    suite.write_text("".join(json.dumps(c) + "\n" for c in SUITE), encoding="utf-8")
    assert invoke("eval", "suite", "add", str(suite)).exit_code == 0
    r = invoke(
        "eval",
        "run",
        "qa",
        "--target",
        f"{task_server.url}/run",
        "--name",
        "qa",
        "--epochs",
        "2",
        "--scorer",
        "equals",
    )
    assert r.exit_code == 0, r.output
    return "qa"


class TestScoringErrorsInEvalShow:
    def test_an_unreachable_judge_gives_errors_not_failures(
        self, invoke: Invoke, run_qa: str, dead_base_url: str
    ) -> None:
        spec = f"judge:down,base_url={dead_base_url},model=x,key_env=none"
        r = invoke("eval", "rescore", run_qa, "--scorer", spec)
        assert r.exit_code == 0, r.output
        data = show_json(invoke, run_qa)
        sc = data["scorers"]["judge:down"]
        assert (sc["rollouts"], sc["errors"], sc["scored"], sc["abstained"]) == (8, 8, 0, 0)
        assert (sc["mean"], sc["pass_rate"], sc["passed"]) == (None, None, 0)
        assert "pass_at_k" not in sc  # no case has a scored epoch
        cells = [row["verdicts"]["judge:down"] for row in data["rollouts"]]
        assert all(c["scoring_error"] and c["passed"] is None and c["score"] is None for c in cells)
        assert all(c["error"] and "127.0.0.1" in c["error"] for c in cells)
        (ag,) = data["agreements"]
        assert (ag["n"], ag["percent"], ag["kappa"], ag["scoring_errors"]) == (0, None, None, 8)

    def test_two_broken_judges_show_no_agreement(
        self, invoke: Invoke, run_qa: str, dead_base_url: str
    ) -> None:
        for name in ("down1", "down2"):
            spec = f"judge:{name},base_url={dead_base_url},model=x,key_env=none"
            assert invoke("eval", "rescore", run_qa, "--scorer", spec).exit_code == 0
        data = show_json(invoke, run_qa)
        (ag,) = [
            a
            for a in data["agreements"]
            if {a["scorer_a"], a["scorer_b"]} == {"judge:down1", "judge:down2"}
        ]
        assert (ag["n"], ag["percent"], ag["kappa"], ag["scoring_errors"]) == (0, None, None, 8)

    def test_an_invalid_evaluator_value_is_left_out_of_mean_pass_rate_and_pass_at_k(
        self, invoke: Invoke, run_qa: str
    ) -> None:
        r = invoke("eval", "rescore", run_qa, "--scorer", "python:tb_numbers_evaluator:check")
        assert r.exit_code == 0, r.output
        data = show_json(invoke, run_qa)
        sc = data["scorers"]["python:tb_numbers_evaluator:check"]
        # k0, k1 pass, k2 fails, k3 is a scoring error, in both epochs
        assert (sc["rollouts"], sc["errors"], sc["scored"], sc["passed"]) == (8, 2, 6, 4)
        assert sc["pass_rate"] == pytest.approx(4 / 6)
        assert sc["mean"] == pytest.approx(4 / 6)
        pk = sc["pass_at_k"]
        assert (pk["k"], pk["cases"], pk["skipped"]) == (2, 3, 0)
        assert pk["pass_at_k"] == pytest.approx(2 / 3)
        (ag,) = data["agreements"]  # equals vs the evaluator, on the 6 rollouts both judged
        assert (ag["n"], ag["scoring_errors"], ag["percent"]) == (6, 2, pytest.approx(4 / 6))
        k3 = [
            row["verdicts"]["python:tb_numbers_evaluator:check"]
            for row in data["rollouts"]
            if row["case_id"] == "k3"
        ]
        assert all(c["scoring_error"] and "not a finite number" in c["error"] for c in k3)

    def test_verdict_counts_tell_how_many_recorded_verdicts_are_scoring_errors(
        self, invoke: Invoke, run_qa: str, dead_base_url: str, db_path: Path
    ) -> None:
        import sqlite3

        from trialbook.projections.eval_queries import verdict_counts

        conn = sqlite3.connect(db_path)
        try:
            before = conn.execute("SELECT max(position) FROM events").fetchone()[0]
        finally:
            conn.close()
        spec = f"judge:down,base_url={dead_base_url},model=x,key_env=none"
        assert (
            invoke("eval", "rescore", run_qa, "--scorer", spec, "--scorer", "equals").exit_code == 0
        )
        conn = sqlite3.connect(db_path)
        try:
            assert verdict_counts(conn, run_qa, before) == {"verdicts": 16, "scoring_errors": 8}
            assert verdict_counts(conn, run_qa) == {"verdicts": 24, "scoring_errors": 8}
        finally:
            conn.close()
