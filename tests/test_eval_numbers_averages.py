"""N1: the averages of `eval show` are over the rollouts that reported the value.

Real SQLite files and a real code target (a module written to a temp dir).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.conftest import Invoke, add_suite, show_json

TARGET = textwrap.dedent(
    """
    def answer(case):
        meta = case.get("metadata") or {}
        if meta.get("fail"):
            raise RuntimeError("the target is down")
        if meta.get("usage"):
            return {
                "output": "ok",
                "usage": {"prompt_tokens": 1, "completion_tokens": 2},
                "cost_usd": 0.5,
            }
        return "ok"
    """
)


@pytest.fixture
def target_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A code target: cases with ``fail`` raise, cases with ``usage`` report 3 tokens and $0.50."""
    (tmp_path / "tb_numbers_avg_target.py").write_text(TARGET, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    return "python:tb_numbers_avg_target:answer"


class TestAveragesAreOverRolloutsThatReportedTheValue:
    def test_failed_rollouts_do_not_pull_the_token_and_cost_averages_down(
        self, invoke: Invoke, tmp_path: Path, target_module: str
    ) -> None:
        cases = [{"id": f"ok{i}", "input": "x", "metadata": {"usage": True}} for i in range(5)]
        cases += [{"id": f"bad{i}", "input": "x", "metadata": {"fail": True}} for i in range(6)]
        add_suite(invoke, tmp_path / "avg.jsonl", cases)
        r = invoke(
            "eval", "run", "avg", "--target", target_module, "--name", "avg", "--retries", "0"
        )
        assert r.exit_code == 0, r.output
        s = show_json(invoke, "avg")["summary"]
        assert (s["completed"], s["failed"]) == (5, 6)
        assert (s["prompt_tokens"], s["completion_tokens"]) == (5, 10)  # totals unchanged
        assert s["mean_tokens"] == pytest.approx(3.0)  # not 15 / 11
        assert s["tokens_reported"] == 5
        assert s["mean_cost_usd"] == pytest.approx(0.5)  # not 2.5 / 11
        assert s["cost_reported"] == 5
        assert s["cost_usd"] == pytest.approx(2.5)

    def test_no_rollout_reporting_tokens_or_cost_gives_no_average(
        self, invoke: Invoke, tmp_path: Path, target_module: str
    ) -> None:
        add_suite(invoke, tmp_path / "bare.jsonl", [{"id": "q1", "input": "x"}])
        r = invoke("eval", "run", "bare", "--target", target_module, "--name", "bare")
        assert r.exit_code == 0, r.output
        s = show_json(invoke, "bare")["summary"]
        assert (s["completed"], s["prompt_tokens"], s["completion_tokens"]) == (1, 0, 0)
        assert (s["mean_tokens"], s["tokens_reported"]) == (None, 0)  # not 0
        assert (s["mean_cost_usd"], s["cost_reported"], s["cost_usd"]) == (None, 0, None)
