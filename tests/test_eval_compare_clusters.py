"""``eval compare`` with several epochs: the paired interval clustered by case.

Checked against statsmodels (OLS of the differences on a constant with
``cov_type="cluster"``, t with G − 1 degrees of freedom) within 1e-6, against
the fixed-horizon paired t interval when each case has one pair, by simulation
(coverage when the epochs of a case are correlated), and end to end through the CLI.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import Invoke, add_suite
from tests.servers import Behaviour, TaskServer
from trialbook.ledger.eval_compare import clustered_interval, paired_interval


def statsmodels_interval(diffs: list[float], clusters: list[str]) -> tuple[float, float, float]:
    import statsmodels.api as sm

    groups = np.unique(np.asarray(clusters), return_inverse=True)[1]
    fit = sm.OLS(np.asarray(diffs), np.ones((len(diffs), 1))).fit(
        cov_type="cluster", cov_kwds={"groups": groups}, use_t=True
    )
    lo, hi = fit.conf_int(alpha=0.05)[0]
    return float(fit.params[0]), float(lo), float(hi)


@st.composite
def clustered_diffs(draw: st.DrawFn) -> tuple[list[float], list[str]]:
    n_cases = draw(st.integers(min_value=2, max_value=12))
    diffs, clusters = [], []
    for c in range(n_cases):
        for _ in range(draw(st.integers(min_value=1, max_value=4))):
            diffs.append(draw(st.floats(min_value=-1, max_value=1, allow_nan=False)))
            clusters.append(f"case-{c}")
    return diffs, clusters


@settings(max_examples=25, deadline=None)
@given(clustered_diffs())
def test_the_clustered_interval_is_statsmodels_cluster_robust_ols(
    data: tuple[list[float], list[str]],
) -> None:
    diffs, clusters = data
    out = clustered_interval(diffs, clusters)
    mean, lo, hi = statsmodels_interval(diffs, clusters)
    assert out["lift"] == pytest.approx(mean, abs=1e-9)
    assert out["clusters"] == len(set(clusters)) and out["pairs"] == len(diffs)
    if out["ci"] is None:
        # the cluster sums do not vary: statsmodels' interval has zero width too
        assert hi - lo == pytest.approx(0.0, abs=1e-9)
        return
    assert out["ci"][0] == pytest.approx(lo, abs=1e-6)
    assert out["ci"][1] == pytest.approx(hi, abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=-1, max_value=1, allow_nan=False), min_size=2, max_size=30))
def test_with_one_pair_per_case_it_is_the_paired_t_interval(diffs: list[float]) -> None:
    clustered = clustered_interval(diffs, [f"c{i}" for i in range(len(diffs))])
    paired = paired_interval(diffs)
    if paired["ci"] is None or clustered["ci"] is None:
        assert paired["ci"] is None and clustered["ci"] is None
        return
    assert clustered["ci"] == pytest.approx(paired["ci"], abs=1e-9)


def test_bounds_and_too_few_cases() -> None:
    one = clustered_interval([0.5, 0.7, 0.9], ["a", "a", "a"])
    assert one["ci"] is None and one["note"] == "fewer than 2 cases scored on both sides"
    wide = clustered_interval([1.0, 1.0, -1.0, 1.0], ["a", "a", "b", "c"], bounds=(-1.0, 1.0))
    assert wide["ci"] is not None and wide["ci"][0] >= -1.0 and wide["ci"][1] <= 1.0


def test_by_simulation_it_covers_when_epochs_correlate_and_the_unclustered_one_does_not() -> None:
    """30 cases × 4 epochs; a case effect (sd 0.3) shared by its epochs, epoch noise sd 0.1."""
    rng = np.random.default_rng(20261203)
    sims, cases, epochs, true = 600, 30, 4, 0.05
    clusters = [f"c{i}" for i in range(cases) for _ in range(epochs)]
    covered_cl = covered_naive = 0
    for _ in range(sims):
        case_effect = np.repeat(rng.normal(0.0, 0.3, cases), epochs)
        diffs = (true + case_effect + rng.normal(0.0, 0.1, cases * epochs)).tolist()
        cl = clustered_interval(diffs, clusters)["ci"]
        naive = paired_interval(diffs)["ci"]
        covered_cl += cl[0] <= true <= cl[1]
        covered_naive += naive[0] <= true <= naive[1]
    # binomial sd of a 95% coverage over 600 runs is ~0.9 points
    assert 0.92 <= covered_cl / sims <= 0.975
    assert covered_naive / sims < 0.85


@pytest.fixture(scope="module")
def server() -> Iterator[TaskServer]:
    with TaskServer(Behaviour(latency_s=0.0)) as s:
        yield s


def test_compare_of_two_epoch_runs_says_cases_times_epochs_and_clusters(
    invoke: Invoke, server: TaskServer, tmp_path: Path
) -> None:
    server.reset()
    base = [{"id": f"k{i}", "input": f"w{i}", "expected": f"echo: w{i}"} for i in range(1, 9)]
    add_suite(invoke, tmp_path / "qa.jsonl", base)
    url = f"{server.url}/run"
    common = ("--target", url, "--scorer", "equals", "--epochs", "2", "--retries", "0")
    assert invoke("eval", "run", "qa", *common, "--name", "a").exit_code == 0
    # k2 wrong in both epochs, k5 in one (the script's first answer)
    server.reset()
    server.scripts.update({"k2": ["answer:x", "answer:x"], "k5": ["answer:x"]})
    assert invoke("eval", "run", "qa", *common, "--name", "b").exit_code == 0
    server.scripts.clear()
    data = json.loads(invoke("eval", "compare", "a", "b", "--json").output)
    assert (data["cases"], data["epochs"], data["pairs"]) == (8, 2, 16)
    diffs = [r["b_score"] - r["a_score"] for r in data["rows"]]
    mean, lo, hi = statsmodels_interval(diffs, [r["case_id"] for r in data["rows"]])
    cl = data["clustered"]
    assert cl["clusters"] == 8 and cl["lift"] == pytest.approx(mean, abs=1e-9)
    assert cl["ci"] == pytest.approx([max(lo, -1.0), min(hi, 1.0)], abs=1e-6)
    # wider than the interval that takes the 16 pairs as independent
    assert cl["ci"][1] - cl["ci"][0] > data["paired"]["ci"][1] - data["paired"]["ci"][0]
    text = invoke("eval", "compare", "a", "b").output
    assert "b against a on scorer:equals · 8 cases × 2 epochs" in text
    assert "regressions: 3 pairs in 2 cases: k2#1,2, k5#" in text
    assert (
        f"paired difference: {mean:.3g} over 16 pairs of 8 cases · 95% CI {cl['ci'][0]:.3g} to "
        f"{cl['ci'][1]:.3g} (cluster-robust by case, t with 7 df)"
    ) in text
    always_valid = next(ln for ln in text.splitlines() if ln.startswith("always-valid "))
    assert always_valid.endswith(
        " · pairs each case × epoch as independent (read the clustered interval)"
    )
