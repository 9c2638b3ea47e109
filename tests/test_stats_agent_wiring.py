"""The analysis computes quantiles, caps and CUPED exactly as the modules the simulations measure do
(so bench/agent_metrics.py's figures are the product's), and falls back to the current look alone
above the row limit with the same figures there."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trialbook.domain import ab
from trialbook.domain.stats import (
    AnalysisInput,
    analyze,
    capping,
    cuped,
    engine,
    quantiles,
    rows_from_results,
    variant_data_from_rows,
)
from trialbook.domain.stats import analysis as analysis_module
from trialbook.domain.stats.cap_rule import Cap


def _results(seed: int, n: int = 300) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(2 * n):
        prior = float(rng.normal())
        out.append(
            {
                "variant": "warm" if i % 2 else "cold",
                "completion_time": float(rng.lognormal(3, 0.5) * (1.2 if i % 2 else 1.0)),
                "cost": float(rng.pareto(1.5) + 1.0),
                "score": float(0.1 * (i % 2) + 0.6 * prior + 0.8 * rng.normal()),
                "metrics": {"prior": prior},
            }
        )
    return out


def _input(results: list[dict[str, Any]], **kw: Any) -> AnalysisInput:
    rows = rows_from_results(results)
    return AnalysisInput(
        test="t",
        variants=variant_data_from_rows(rows, ["cold", "warm"]),
        control="cold",
        rows=rows,
        tuning=float(len(rows)),
        **kw,
    )


def _arrays(results: list[dict[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    y = np.array([r.get(key, r["metrics"].get(key)) for r in results], dtype=float)
    arm = np.array([r["variant"] == "warm" for r in results], dtype=int)
    return y, arm


def _last_bounds(cmp: engine.Comparison, looks: int) -> tuple[float, float]:
    lo, hi, _, _ = engine.running_bounds(cmp, 0.05, (1, looks))
    return float(lo[-1]), float(hi[-1])


def test_a_quantile_analysis_is_the_simulated_comparison() -> None:
    results = _results(1)
    doc = analyze(_input(results, metric="completion_time:p95")).to_json()
    y, arm = _arrays(results, "completion_time")
    cmp = quantiles.compare_looks(y, arm, 0.95, float(len(y)))
    assert doc["variants"][1]["ci"] == pytest.approx(_last_bounds(cmp, len(y)))
    assert doc["variants"][1]["lift"] == pytest.approx(
        np.quantile(y[arm == 1], 0.95) - np.quantile(y[arm == 0], 0.95)
    )


def test_a_capped_analysis_is_the_simulated_comparison() -> None:
    results = _results(2)
    cap = Cap.parse("cost:p99")
    doc = analyze(_input(results, metric="cost", caps=(cap,))).to_json()
    y, arm = _arrays(results, "cost")
    cmp, _ = capping.compare_looks(y, arm, cap, float(len(y)))
    assert doc["variants"][1]["ci"] == pytest.approx(_last_bounds(cmp, len(y)))


def test_a_cuped_analysis_is_the_simulated_comparison() -> None:
    results = _results(3)
    doc = analyze(_input(results, metric="score", covariate="prior")).to_json()
    y, arm = _arrays(results, "score")
    x, _ = _arrays(results, "prior")
    cmp, adj = cuped.compare_looks(y, x, arm, float(len(y)), kind="continuous")
    assert doc["variants"][1]["ci"] == pytest.approx(_last_bounds(cmp, len(y)))
    got = doc["settings"]["covariate"]["variants"]["warm"]
    assert got["variance_reduction"] == pytest.approx(float(adj.variance_reduction[-1]))


def test_without_the_new_options_the_analysis_reads_no_row_arms() -> None:
    results = _results(4)
    plain = analyze(_input(results, metric="cost")).to_json()
    capped = analyze(_input(results, metric="cost", caps=(Cap.parse("cost:p99"),))).to_json()
    y, arm = _arrays(results, "cost")
    assert plain["variants"][1]["lift"] == pytest.approx(y[arm == 1].mean() - y[arm == 0].mean())
    assert "caps" not in plain["settings"] and "caps" in capped["settings"]
    assert plain["variants"][1]["lift"] != capped["variants"][1]["lift"]


def test_above_the_row_limit_only_the_current_look_is_read_with_the_same_figures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    results = _results(5, n=150)
    for metric, kw in (("completion_time:p95", {}), ("cost", {"caps": (Cap.parse("cost:p99"),)})):
        full = analyze(_input(results, metric=metric, **kw)).to_json()
        monkeypatch.setattr(analysis_module, "ROWS_FOR_ALL_LOOKS", 100)
        last = analyze(_input(results, metric=metric, **kw)).to_json()
        monkeypatch.undo()
        assert last["settings"]["looks_intersected"] == 1
        assert full["settings"]["looks_intersected"] == 300
        assert last["variants"][1]["lift"] == pytest.approx(full["variants"][1]["lift"])
        assert last["variants"][1]["estimate"] == pytest.approx(full["variants"][1]["estimate"])


def test_a_quantile_needs_the_rows() -> None:
    results = _results(6, n=20)
    inp = _input(results, metric="completion_time:p95")
    from dataclasses import replace

    with pytest.raises(ValueError, match="need every result's row"):
        analyze(replace(inp, rows=None))


@given(
    st.sampled_from(["completion_time", "cost", "tokens"]),
    st.sampled_from(["50", "90", "95", "99", "99.9"]),
    st.integers(0, 500),
    st.booleans(),
)
def test_quantile_guardrails_read_back_from_their_text(
    base: str, pct: str, limit: int, relative: bool
) -> None:
    text = f"{base}:p{pct}:+{limit}{'%' if relative else ''}"
    g = ab.Guardrail.parse(text)
    assert g.metric == f"{base}:p{pct}"
    assert ab.Guardrail.parse(str(g)) == g
