"""Issue #21 through the CLI and the API: quantile metrics and guardrails, caps fixed at ab create,
``--covariate`` and ``--by``, on real database files; bad input is one line, nothing appended."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import Invoke, count_events
from trialbook.domain.stats import quantiles


def _import(invoke: Invoke, tmp_path: Path, name: str, rows: list[dict[str, Any]]) -> None:
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    r = invoke("ab", "import", name, str(path))
    assert r.exit_code == 0, r.output


def _rows(seed: int, n: int = 300, slow: float = 1.5) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(2 * n):
        v = "warm" if i % 2 else "cold"
        prior = float(rng.normal())
        hard = "hard" if rng.random() < 0.4 else "easy"
        win = rng.random() < (0.45 if hard == "hard" else 0.6) + 0.25 * prior * 0.3
        out.append(
            {
                "variant": v,
                "success": bool(win),
                "completion_time": float(rng.lognormal(3, 0.4) * (slow if v == "warm" else 1.0)),
                "cost": float(rng.pareto(1.5) + 1.0) / 100,
                "metrics": {"prior": prior},
                "dimensions": {"difficulty": hard, "model": "m1" if i % 3 else "m2"},
            }
        )
    return out


def _analyze(invoke: Invoke, *args: str) -> dict[str, Any]:
    r = invoke("ab", "analyze", *args, "--json")
    assert r.exit_code == 0, r.output
    return dict(json.loads(r.output))


class TestQuantiles:
    def test_a_p95_metric_reads_numpys_quantiles_and_finds_a_slower_variant(
        self, invoke: Invoke, tmp_path: Path
    ) -> None:
        assert invoke("ab", "create", "t", "--variants", "cold,warm").exit_code == 0
        rows = _rows(1)
        _import(invoke, tmp_path, "t", rows)
        doc = _analyze(invoke, "t", "--metric", "completion_time:p95")
        cold = [r["completion_time"] for r in rows if r["variant"] == "cold"]
        warm = [r["completion_time"] for r in rows if r["variant"] == "warm"]
        est = {v["name"]: v["estimate"] for v in doc["variants"]}
        assert est["cold"] == pytest.approx(float(np.quantile(cold, 0.95)))
        assert est["warm"] == pytest.approx(float(np.quantile(warm, 0.95)))
        warm_doc = doc["variants"][1]
        assert "difference of quantiles" in warm_doc["method"]
        fixed = quantiles.fixed_horizon(warm, cold, 0.95)
        assert warm_doc["fixed_horizon"]["ci"] == pytest.approx([fixed["ci_low"], fixed["ci_high"]])
        assert doc["recommendation"]["decision"] == "keep_control"  # warm is 50 % slower
        text = invoke("ab", "analyze", "t", "--metric", "completion_time:p95").output
        assert "completion_time:p95" in text

    def test_a_p95_guardrail_breaks(self, invoke: Invoke, tmp_path: Path) -> None:
        r = invoke(
            "ab",
            "create",
            "g",
            "--variants",
            "cold,warm",
            "--guardrail",
            "completion_time:p95:+10%",
        )
        assert r.exit_code == 0, r.output
        _import(invoke, tmp_path, "g", _rows(2))
        doc = _analyze(invoke, "g")
        (guard,) = doc["guardrails"]
        assert guard["metric"] == "completion_time:p95"
        assert guard["status"] == "broken"

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (("--metric", "completion_time:p100"), "between 0 and 100 (exclusive)"),
            (("--metric", "completion_time:pxx"), "METRIC:pNN"),
            (("--metric", "completion_time:p0"), "between 0 and 100"),
            (("--metric", "success:p95"), "success is binary"),
            (("--metric", "tokens:p95"), "no values of 'tokens'"),
        ],
    )
    def test_bad_quantile_metrics_are_one_line_errors(
        self, invoke: Invoke, tmp_path: Path, args: tuple[str, ...], message: str
    ) -> None:
        invoke("ab", "create", "q", "--variants", "cold,warm")
        _import(invoke, tmp_path, "q", _rows(3, n=20))
        r = invoke("ab", "analyze", "q", *args)
        assert r.exit_code != 0
        assert message in r.output and "Traceback" not in r.output
        assert len(r.output.strip().splitlines()) == 1


class TestCaps:
    def test_a_cap_is_recorded_applied_and_shown_beside_the_uncapped_figure(
        self, invoke: Invoke, tmp_path: Path
    ) -> None:
        r = invoke(
            "ab", "create", "c", "--variants", "cold,warm", "--metric", "cost", "--cap", "cost:p99"
        )
        assert r.exit_code == 0, r.output
        assert "capped: cost:p99" in r.output
        rows = _rows(4)
        _import(invoke, tmp_path, "c", rows)
        doc = _analyze(invoke, "c")
        (cap,) = doc["settings"]["caps"]
        costs = np.array([r["cost"] for r in rows])
        t = float(np.quantile(costs, 0.99))
        assert cap["threshold"] == pytest.approx(t)
        assert cap["capped_results"] == int((costs > t).sum())
        capped = {
            v: np.minimum([r["cost"] for r in rows if r["variant"] == v], t).mean()
            for v in ("cold", "warm")
        }
        raw = {v: np.mean([r["cost"] for r in rows if r["variant"] == v]) for v in ("cold", "warm")}
        assert doc["variants"][1]["lift"] == pytest.approx(capped["warm"] - capped["cold"])
        assert cap["uncapped"]["warm"]["lift"] == pytest.approx(raw["warm"] - raw["cold"])
        assert "capped at cost:p99" in doc["variants"][1]["method"]
        text = invoke("ab", "analyze", "c").output
        assert "uncapped lift" in text

    @pytest.mark.parametrize(
        ("cap", "message"),
        [
            ("cost:p10", "at least 50 and below 100"),
            ("success:p99", "success is binary"),
            ("cost", "METRIC:pNN"),
        ],
    )
    def test_bad_caps_append_nothing(
        self, invoke: Invoke, db_path: Path, cap: str, message: str
    ) -> None:
        invoke("ab", "create", "first")
        before = count_events(db_path)
        r = invoke("ab", "create", "x", "--cap", cap)
        assert r.exit_code != 0 and message in r.output and "Traceback" not in r.output
        assert count_events(db_path) == before


class TestCovariate:
    def test_cuped_reports_the_adjusted_lift_and_the_variance_reduction(
        self, invoke: Invoke, tmp_path: Path
    ) -> None:
        import statsmodels.api as sm

        invoke("ab", "create", "v", "--variants", "cold,warm", "--metric", "score")
        rng = np.random.default_rng(5)
        rows: list[dict[str, Any]] = []
        for i in range(400):
            prior = float(rng.normal())
            rows.append(
                {
                    "variant": "warm" if i % 2 else "cold",
                    "score": float(0.1 * (i % 2) + 0.6 * prior + 0.8 * rng.normal()),
                    "metrics": {"prior": prior},
                }
            )
        _import(invoke, tmp_path, "v", rows)
        doc = _analyze(invoke, "v", "--covariate", "prior")
        y = np.array([r["score"] for r in rows])
        x = np.array([r["metrics"]["prior"] for r in rows])
        treat = np.array([r["variant"] == "warm" for r in rows], dtype=float)
        fit = sm.OLS(y, sm.add_constant(np.column_stack([treat, x]))).fit()
        assert doc["variants"][1]["lift"] == pytest.approx(fit.params[1], rel=1e-6)
        cov = doc["settings"]["covariate"]["variants"]["warm"]
        assert 0.2 < cov["variance_reduction"] < 0.5  # rho about 0.6
        assert cov["note"] is None
        assert "CUPED" in doc["variants"][1]["method"]
        assert "variance reduction" in invoke("ab", "analyze", "v", "--covariate", "prior").output

    def test_an_unknown_covariate_is_a_one_line_error(self, invoke: Invoke, tmp_path: Path) -> None:
        invoke("ab", "create", "u", "--variants", "cold,warm")
        _import(invoke, tmp_path, "u", _rows(6, n=10))
        r = invoke("ab", "analyze", "u", "--covariate", "nothing")
        assert r.exit_code != 0 and "--covariate nothing" in r.output
        assert len(r.output.strip().splitlines()) == 1


class TestSegments:
    def test_by_a_dimension_gives_each_segment_with_holm_and_says_exploratory(
        self, invoke: Invoke, tmp_path: Path
    ) -> None:
        invoke("ab", "create", "s", "--variants", "cold,warm")
        rows = _rows(7)
        _import(invoke, tmp_path, "s", rows)
        doc = _analyze(invoke, "s", "--by", "difficulty")
        seg = doc["segments"]
        assert seg["exploratory"] is True
        got = {r["segment"]: r for r in seg["variants"]["warm"]}
        assert set(got) == {"easy", "hard"}
        for name, r in got.items():
            w = [
                x["success"]
                for x in rows
                if x["variant"] == "warm" and x["dimensions"]["difficulty"] == name
            ]
            c = [
                x["success"]
                for x in rows
                if x["variant"] == "cold" and x["dimensions"]["difficulty"] == name
            ]
            assert r["diff"] == pytest.approx(np.mean(w) - np.mean(c))
            assert r["n_variant"] == len(w) and r["n_control"] == len(c)
        assert "exploratory" in invoke("ab", "analyze", "s", "--by", "difficulty").output

    def test_a_segment_named_at_creation_is_planned(self, invoke: Invoke, tmp_path: Path) -> None:
        invoke("ab", "create", "p", "--variants", "cold,warm", "--segment", "model")
        _import(invoke, tmp_path, "p", _rows(8, n=50))
        doc = _analyze(invoke, "p", "--by", "metadata.model")
        assert doc["segments"]["exploratory"] is False

    def test_a_dimension_nobody_recorded_is_a_one_line_error(
        self, invoke: Invoke, tmp_path: Path
    ) -> None:
        invoke("ab", "create", "n", "--variants", "cold,warm")
        _import(invoke, tmp_path, "n", _rows(9, n=10))
        r = invoke("ab", "analyze", "n", "--by", "region")
        assert r.exit_code != 0 and "no result of test 'n' has a dimension 'region'" in r.output

    def test_add_result_records_dimensions(self, invoke: Invoke) -> None:
        invoke("ab", "create", "d", "--variants", "cold,warm")
        r = invoke(
            "ab",
            "add-result",
            "d",
            "--variant",
            "cold",
            "--success",
            "--dimension",
            "category=billing",
        )
        assert r.exit_code == 0, r.output
        r = invoke("ab", "add-result", "d", "--variant", "cold", "--dimension", "category")
        assert r.exit_code != 0 and "KEY=VALUE" in r.output


def test_the_api_takes_caps_dimensions_and_covariates(tmp_path: Path) -> None:
    import trialbook

    with trialbook.open(tmp_path / "api.db") as tb:
        tb.ab.create(
            "a", variants=["cold", "warm"], metric="score", caps=["cost:p99"], segments=["model"]
        )
        rng = np.random.default_rng(10)
        for i in range(60):
            tb.ab.add_result(
                "a",
                variant="warm" if i % 2 else "cold",
                score=float(rng.normal()),
                metrics={"prior": float(rng.normal())},
                dimensions={"model": "m1"},
            )
        got = tb.ab.analyze("a", covariate="prior")
        assert got.variants[1].lift is not None


@pytest.mark.parametrize("rows_limit", [None, 100])
def test_decisions_on_quantiles_and_caps_reproduce_in_the_audit(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows_limit: int | None
) -> None:
    """Also above the row limit, where an analysis without these options reads moments only."""
    if rows_limit is not None:
        from trialbook.domain.stats import analysis as analysis_module

        monkeypatch.setattr(analysis_module, "ROWS_FOR_ALL_LOOKS", rows_limit)
    invoke("ab", "create", "q", "--variants", "cold,warm")
    invoke("ab", "create", "c", "--variants", "cold,warm", "--metric", "cost", "--cap", "cost:p99")
    for name in ("q", "c"):
        _import(invoke, tmp_path, name, _rows(11, n=150))
    r = invoke("ab", "conclude", "q", "--keep-control", "--metric", "completion_time:p95")
    assert r.exit_code == 0, r.output
    r = invoke("ab", "conclude", "c", "--stop")
    assert r.exit_code == 0, r.output
    for name in ("q", "c"):
        doc = json.loads(invoke("audit", name, "--json").output)
        assert (doc["reproduced"], doc["not_reproduced"]) == (1, 0)
    # the audit says how each decision's analysis was set up: the quantile, the cap in force
    q = json.loads(invoke("audit", "q", "--json").output)["decisions"][0]["analysis"]
    assert q["metric"] == "completion_time:p95" and q["caps"] == []
    c = json.loads(invoke("audit", "c", "--json").output)["decisions"][0]["analysis"]
    (cap,) = c["caps"]
    costs = sorted(float(r["cost"]) for r in _rows(11, n=150))
    assert cap["cap"] == "cost:p99" and cap["threshold"] == pytest.approx(np.quantile(costs, 0.99))
    capped = sum(x > cap["threshold"] for x in costs)
    assert cap["capped_results"] == capped
    text = invoke("audit", "c").output
    assert (
        f"  Analysis: metric cost, alpha 0.05, cost capped at p99 ({cap['threshold']:.6g}; " in text
    )
    assert "metric completion_time:p95, alpha 0.05." in invoke("audit", "report", "q").output


def test_a_capped_metric_is_capped_in_its_breakdown_and_refuses_a_covariate(
    invoke: Invoke, tmp_path: Path
) -> None:
    invoke("ab", "create", "k", "--variants", "cold,warm", "--metric", "cost", "--cap", "cost:p90")
    rows = _rows(12)
    _import(invoke, tmp_path, "k", rows)
    doc = _analyze(invoke, "k", "--by", "difficulty")
    costs = np.array([r["cost"] for r in rows])
    t = float(np.quantile(costs, 0.9))
    got = {s["segment"]: s for s in doc["segments"]["variants"]["warm"]}
    for name, s in got.items():

        def capped(v: str, name: str = name) -> float:
            return float(
                np.mean(
                    [
                        min(r["cost"], t)
                        for r in rows
                        if r["variant"] == v and r["dimensions"]["difficulty"] == name
                    ]
                )
            )

        assert s["diff"] == pytest.approx(capped("warm") - capped("cold"))
    assert doc["segments"]["cap"] == "cost:p90"
    r = invoke("ab", "analyze", "k", "--covariate", "prior")
    assert r.exit_code != 0 and "cost is capped" in r.output


def test_a_cuped_decision_records_the_adjusted_analysis_and_reproduces(
    invoke: Invoke, tmp_path: Path, db_path: Path
) -> None:
    import sqlite3

    invoke("ab", "create", "z", "--variants", "cold,warm", "--metric", "score")
    rng = np.random.default_rng(13)
    rows: list[dict[str, Any]] = []
    for i in range(300):
        prior = float(rng.normal())
        score = float(0.1 * (i % 2) + 0.6 * prior + 0.8 * rng.normal())
        rows.append(
            {"variant": "warm" if i % 2 else "cold", "score": score, "metrics": {"prior": prior}}
        )
    _import(invoke, tmp_path, "z", rows)
    r = invoke("ab", "conclude", "z", "--stop", "--covariate", "prior")
    assert r.exit_code == 0, r.output
    conn = sqlite3.connect(db_path)
    (data,) = conn.execute("SELECT data FROM events WHERE type = 'TestConcluded'").fetchone()
    conn.close()
    analysis = json.loads(data)["analysis"]
    assert analysis["settings"]["covariate"]["name"] == "prior"
    assert "CUPED" in analysis["variants"][1]["method"]
    audit = json.loads(invoke("audit", "z", "--json").output)
    assert (audit["reproduced"], audit["not_reproduced"]) == (1, 0)
    assert audit["decisions"][0]["analysis"]["covariate"] == "prior"
    assert (
        "  Analysis: metric score, alpha 0.05, CUPED-adjusted by prior."
        in invoke("audit", "z").output
    )
    assert (
        ": metric score, alpha 0.05, CUPED-adjusted by prior."
        in invoke("audit", "report", "z").output
    )
