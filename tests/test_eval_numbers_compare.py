"""N3: `eval compare` keeps target errors apart from the scorer's verdicts, and its paired CI is right.

Real SQLite files and a real task server on 127.0.0.1; the interval is checked
against scipy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from scipy import stats

from tests.conftest import Invoke
from tests.servers import Behaviour, TaskServer

N = 8


@pytest.fixture(scope="module")
def task_server() -> Iterator[TaskServer]:
    with TaskServer(Behaviour()) as server:
        yield server


def suite_file(path: Path, cases: list[dict]) -> Path:
    path.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    return path


@pytest.fixture
def two_runs(invoke: Invoke, tmp_path: Path, task_server: TaskServer) -> tuple[str, str]:
    """Run "base" passes all 8 cases; run "cand" (suite v2) answers k3 and k4 wrongly
    (two real regressions) and gets an HTTP 503 on k5 (a target error, no output)."""
    task_server.reset()
    base = [{"id": f"k{i}", "input": f"w{i}", "expected": f"echo: w{i}"} for i in range(N)]
    invoke("eval", "suite", "add", str(suite_file(tmp_path / "cmp.jsonl", base)))
    url = f"{task_server.url}/run"
    r = invoke("eval", "run", "cmp", "--target", url, "--name", "base", "--scorer", "equals")
    assert r.exit_code == 0, r.output
    cand = [dict(c) for c in base]
    cand[3]["input"] = cand[4]["input"] = "wrong"
    cand[5]["metadata"] = {"script": ["503"]}
    r = invoke("eval", "suite", "add", str(suite_file(tmp_path / "cmp.jsonl", cand)))
    assert r.exit_code == 0, r.output
    task_server.reset()  # scripts count requests per case from here
    r = invoke(
        "eval",
        "run",
        "cmp",
        "--target",
        url,
        "--name",
        "cand",
        "--scorer",
        "equals",
        "--retries",
        "0",
    )
    assert r.exit_code == 0, r.output
    return "base", "cand"


def as_json(invoke: Invoke, *args: str) -> dict:
    r = invoke(*args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


class TestTargetErrorsAreNotRegressions:
    def test_a_failed_rollout_is_listed_apart_and_only_real_regressions_are_named(
        self, invoke: Invoke, two_runs: tuple[str, str]
    ) -> None:
        data = as_json(invoke, "eval", "compare", *two_runs)
        assert data["basis"] == "scorer:equals"
        assert [(p["case_id"], p["epoch"]) for p in data["regressions"]] == [("k3", 1), ("k4", 1)]
        assert data["pairs"] == N - 1
        assert (data["wins"], data["losses"], data["ties"]) == (0, 2, N - 3)
        (failed,) = data["failed_rollouts"]
        assert (failed["case_id"], failed["epoch"], failed["failed_in"]) == ("k5", 1, "cand")
        assert "503" in failed["b_error"] and failed["a_error"] is None
        assert data["analysis"]["variants"][1]["paired"]["pairs"] == N - 1

    def test_pass_rates_agree_with_eval_show(
        self, invoke: Invoke, two_runs: tuple[str, str]
    ) -> None:
        data = as_json(invoke, "eval", "compare", *two_runs)
        for run, side in zip(two_runs, "ab", strict=True):
            shown = as_json(invoke, "eval", "show", run)["scorers"]["equals"]
            assert data[f"{side}_pass_rate"] == pytest.approx(shown["pass_rate"])
            assert data[f"{side}_scored"] == shown["scored"]
        assert data["b_pass_rate"] == pytest.approx(5 / 7)

    def test_a_failed_rollout_is_not_fed_to_the_ab_test_as_a_scorer_failure(
        self, invoke: Invoke, two_runs: tuple[str, str]
    ) -> None:
        r = invoke("eval", "compare", *two_runs, "--into-ab", "base-vs-cand")
        assert r.exit_code == 0, r.output
        shown = as_json(invoke, "ab", "show", "base-vs-cand")
        assert "k5#1" not in {x["case_id"] for x in shown["results"]}
        assert len(shown["results"]) == 2 * (N - 1)

    def test_the_paired_interval_is_scipys_paired_t_interval(
        self, invoke: Invoke, two_runs: tuple[str, str]
    ) -> None:
        data = as_json(invoke, "eval", "compare", *two_runs)
        a = [p["a_score"] for p in data["rows"]]
        b = [p["b_score"] for p in data["rows"]]
        ref = stats.ttest_rel(b, a).confidence_interval(0.95)
        paired = data["paired"]
        assert paired["pairs"] == N - 1
        assert paired["lift"] == pytest.approx(-2 / 7)
        assert paired["ci"] == pytest.approx([ref.low, ref.high], abs=1e-12)
        assert -1 <= paired["ci"][0] < paired["lift"] < paired["ci"][1] <= 1


class TestPairedInterval:
    """``paired_interval`` (imported per test, so the CLI tests above fail on behaviour alone)."""

    @pytest.mark.parametrize(
        "diffs",
        [
            [0.1, -0.2, 0.3, 0.05],
            [0.5, 0.25, -0.1, 0.0, 0.2, 0.1, -0.3, 0.4, 0.15, 0.05],
            [0.2, 0.4, 0.3],
        ],
    )
    @pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
    def test_matches_scipy(self, diffs: list[float], level: float) -> None:
        from trialbook.ledger.eval_compare import paired_interval

        ref = stats.ttest_1samp(diffs, 0.0).confidence_interval(level)
        out = paired_interval(diffs, level)
        assert out["ci"] == pytest.approx([ref.low, ref.high], abs=1e-12)
        assert out["pairs"] == len(diffs)

    def test_fewer_than_two_pairs_or_no_spread_give_no_interval(self) -> None:
        from trialbook.ledger.eval_compare import paired_interval

        assert paired_interval([])["ci"] is None
        one = paired_interval([-1.0])
        assert (one["ci"], one["lift"]) == (None, -1.0)
        assert "fewer than 2 pairs" in one["note"]
        assert paired_interval([0.0, 0.0, 0.0])["ci"] is None

    def test_with_few_pairs_it_stays_within_what_a_difference_of_scores_can_be(self) -> None:
        from trialbook.ledger.eval_compare import paired_interval

        # two pairs: t with 1 degree of freedom gives -6.85 to 5.85 for scores in [0, 1]
        ref = stats.ttest_1samp([0.0, -1.0], 0.0).confidence_interval(0.95)
        assert ref.low < -6 and ref.high > 5
        assert paired_interval([0.0, -1.0], bounds=(-1.0, 1.0))["ci"] == [-1.0, 1.0]
        assert paired_interval([0.0, -1.0])["ci"] == pytest.approx([ref.low, ref.high])
