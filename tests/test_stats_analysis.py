"""``analyze`` and ``history`` on hand-built tests: each decision, its reason, and the JSON contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from trialbook.domain.ab import Guardrail, TestCreated
from trialbook.domain.stats import (
    METHOD_VERSION,
    AnalysisInput,
    CoMoments,
    Effect,
    Moments,
    ResultRow,
    VariantData,
    analyze,
    history,
    variant_data_from_rows,
)

ROOT = Path(__file__).resolve().parent.parent


def rate(n: int, p: float) -> Moments:
    """Moments of n binary results with success share p (rounded to whole successes)."""
    s = round(n * p)
    return Moments(n, s / n, s * (n - s) / n)


def normal(n: int, mean: float, sd: float) -> Moments:
    return Moments(n, mean, (n - 1) * sd * sd)


def two(
    control: dict[str, Moments],
    variant: dict[str, Moments],
    metric: str = "success",
    results: tuple[int, int] | None = None,
    **options: object,
) -> AnalysisInput:
    rc = results[0] if results else max(m.n for m in control.values())
    rv = results[1] if results else max(m.n for m in variant.values())
    return AnalysisInput(
        test="checkout",
        variants=(VariantData("cold", rc, control), VariantData("warm", rv, variant)),
        control="cold",
        metric=metric,
        **options,  # type: ignore[arg-type]
    )


class TestDecisions:
    def test_a_clear_success_lift_is_shipped_with_numbers_in_the_reason(self) -> None:
        result = analyze(two({"success": rate(400, 0.60)}, {"success": rate(400, 0.75)}))
        rec = result.recommendation
        assert (rec.decision, rec.variant) == ("ship", "warm")
        assert "Ship warm" in rec.reason and "75.0%" in rec.reason and "60.0%" in rec.reason
        assert "+15.0 points" in rec.reason
        warm = result.primary.variants[1]
        assert warm.ci is not None and warm.ci[0] > 0
        assert warm.p_beats_control is not None and warm.p_beats_control > 0.99

    def test_a_worse_variant_keeps_control(self) -> None:
        result = analyze(two({"success": rate(500, 0.75)}, {"success": rate(500, 0.55)}))
        assert (result.decision, result.recommendation.variant) == ("keep_control", "cold")
        assert "warm is worse" in result.recommendation.reason

    def test_lower_is_better_metrics_ship_the_faster_variant(self) -> None:
        fast = analyze(
            two(
                {"completion_time": normal(300, 30.0, 8.0)},
                {"completion_time": normal(300, 24.0, 8.0)},
                metric="completion_time",
            )
        )
        slow = analyze(
            two(
                {"completion_time": normal(300, 24.0, 8.0)},
                {"completion_time": normal(300, 30.0, 8.0)},
                metric="completion_time",
            )
        )
        assert (fast.decision, fast.recommendation.variant) == ("ship", "warm")
        assert slow.decision == "keep_control"
        assert "lower is better" in fast.recommendation.reason
        assert fast.primary.variants[1].p_beats_control == pytest.approx(1.0, abs=1e-6)

    def test_custom_metrics_take_their_direction_from_the_input(self) -> None:
        args = ({"latency_ms": normal(300, 300.0, 40.0)}, {"latency_ms": normal(300, 250.0, 40.0)})
        assert analyze(two(*args, metric="latency_ms")).decision == "keep_control"
        assert (
            analyze(two(*args, metric="latency_ms", lower_is_better={"latency_ms": True})).decision
            == "ship"
        )

    def test_an_interval_inside_the_margin_is_no_difference(self) -> None:
        result = analyze(
            two(
                {"success": rate(20000, 0.70)},
                {"success": rate(20000, 0.702)},
                equivalence_margin=Effect(0.02),
                tuning=40000,  # planned for the 40,000 results it has
            )
        )
        assert (result.decision, result.recommendation.variant) == ("no_difference", "cold")
        assert "±2 points" in result.recommendation.reason

    def test_without_a_margin_there_is_no_equivalence_call(self) -> None:
        result = analyze(two({"success": rate(20000, 0.70)}, {"success": rate(20000, 0.702)}))
        assert result.decision == "continue"
        assert "give an --mde" in result.recommendation.reason

    def test_keep_collecting_says_how_many_more_for_the_mde(self) -> None:
        result = analyze(
            two({"success": rate(60, 0.60)}, {"success": rate(60, 0.70)}, mde=Effect(0.15))
        )
        assert result.decision == "continue"
        power = result.primary.variants[1].power
        assert power is not None and power.more is not None
        assert power.needed_always_valid is not None and power.needed_fixed is not None
        assert power.median_always_valid is not None
        # 80 % of such tests decide by needed_always_valid, half by the median
        assert power.needed_always_valid > power.median_always_valid > 60
        assert power.needed_fixed > 60
        assert power.more == int(np.ceil(power.median_always_valid - 60))
        assert f"about {power.more} more (a median, not a bound" in result.recommendation.reason

    def test_too_few_results_never_make_a_call(self) -> None:
        inp = two(
            {"score": Moments.of([0.0, 0.0, 0.0])},
            {"score": Moments.of([1.0, 1.0, 1.0])},
            metric="score",
        )
        result = analyze(inp)
        assert result.decision == "continue"
        assert "at least 5 results" in result.recommendation.reason

    def test_values_without_any_spread_are_explained_and_need_more_results(self) -> None:
        inp = two(
            {"score": Moments.of([0.0] * 8)}, {"score": Moments.of([1.0] * 8)}, metric="score"
        )
        result = analyze(inp)
        assert result.decision == "continue"
        warm = result.primary.variants[1]
        # a floor on the spread: a finite statistic, not "undefined" for ever
        assert warm.p_value is not None and warm.p_value > 0.05
        assert any(kind == "no_spread" for kind, _ in warm.notes)
        assert any(a.kind == "no_spread" and not a.blocking for a in result.alerts)
        assert "no spread in the data" in result.recommendation.reason
        assert warm.fixed_horizon is not None and warm.fixed_horizon.p_value is None
        assert "no spread in the data" in warm.fixed_horizon.method

    def test_a_short_run_of_discordant_pairs_is_not_conclusive(self) -> None:
        # 6 cases, the candidate passes and control fails every one: McNemar's exact p = 0.031, one look
        rows = [
            ResultRow(v, {"success": float(v == "warm")}, case_id=str(c))
            for c in range(6)
            for v in ("cold", "warm")
        ]
        inp = AnalysisInput(
            test="t",
            variants=variant_data_from_rows(rows, ("cold", "warm")),
            control="cold",
            rows=tuple(rows),
        )
        result = analyze(inp)
        paired = result.primary.variants[1].paired
        assert (
            paired is not None
            and paired.used
            and paired.fixed_horizon.p_value == pytest.approx(0.03125)
        )
        assert result.decision == "continue"
        assert all(h["decision"] == "continue" for h in history(inp))


class TestGuardrails:
    def base(self, time_c: Moments, time_v: Moments, limit: float = 0.10) -> AnalysisInput:
        return two(
            {"success": rate(2000, 0.60), "completion_time": time_c},
            {"success": rate(2000, 0.72), "completion_time": time_v},
            guardrails=(Guardrail(metric="completion_time", limit=limit, relative=True),),
        )

    def test_a_guardrail_shown_within_its_limit_lets_the_winner_ship(self) -> None:
        result = analyze(self.base(normal(2000, 30.0, 5.0), normal(2000, 30.3, 5.0)))
        assert result.decision == "ship"
        (g,) = result.guardrails
        assert g.status == "ok" and g.ci is not None and g.ci[1] <= 0.10
        assert "completion_time holds" in result.recommendation.reason

    def test_a_broken_guardrail_blocks_the_winner(self) -> None:
        result = analyze(self.base(normal(2000, 30.0, 5.0), normal(2000, 40.0, 5.0)))
        assert result.decision == "keep_control"
        (g,) = result.guardrails
        assert g.status == "broken" and g.worsening == pytest.approx(1 / 3)
        assert "breaks a guardrail" in result.recommendation.reason

    def test_an_unclear_guardrail_means_keep_collecting(self) -> None:
        result = analyze(self.base(normal(2000, 30.0, 40.0), normal(2000, 32.0, 40.0)))
        assert result.decision == "continue"
        assert result.guardrails[0].status == "unclear"
        assert "not yet shown within its limit" in result.recommendation.reason

    def test_absolute_guardrails_use_the_metrics_units(self) -> None:
        inp = two(
            {"success": rate(2000, 0.60), "cost": normal(2000, 0.10, 0.01)},
            {"success": rate(2000, 0.72), "cost": normal(2000, 0.30, 0.01)},
            guardrails=(Guardrail(metric="cost", limit=0.05, relative=False),),
        )
        result = analyze(inp)
        assert result.guardrails[0].status == "broken"
        assert result.guardrails[0].worsening == pytest.approx(0.2)


class TestDataQuality:
    def test_sample_ratio_mismatch_blocks_a_ship(self) -> None:
        result = analyze(two({"success": rate(1000, 0.60)}, {"success": rate(800, 0.75)}))
        assert result.decision == "blocked" and result.recommendation.variant is None
        (alert,) = result.alerts
        assert (
            alert.kind == "sample_ratio_mismatch" and alert.blocking and alert.p_value is not None
        )
        assert alert.p_value < 0.001
        assert "1000" in alert.message and "800" in alert.message

    def test_the_planned_split_is_respected(self) -> None:
        result = analyze(
            two(
                {"success": rate(1000, 0.60)},
                {"success": rate(250, 0.75)},
                split={"cold": 0.8, "warm": 0.2},
            )
        )
        assert not result.alerts and result.decision == "ship"

    def test_missing_values_unevenly_spread_block(self) -> None:
        result = analyze(
            two({"success": rate(500, 0.60)}, {"success": rate(400, 0.75)}, results=(500, 500))
        )
        assert result.decision == "blocked"
        assert [a.kind for a in result.alerts] == ["missing_imbalance"]

    def test_failed_results_unevenly_spread_block(self) -> None:
        inp = AnalysisInput(
            test="t",
            control="cold",
            metric="success",
            variants=(
                VariantData("cold", 500, {"success": rate(500, 0.6)}, failed=5),
                VariantData("warm", 500, {"success": rate(500, 0.75)}, failed=60),
            ),
        )
        result = analyze(inp)
        assert result.decision == "blocked"
        assert "failed_imbalance" in [a.kind for a in result.alerts]


class TestMetricKinds:
    def test_pooled_ratio_uses_the_delta_method(self) -> None:
        rng = np.random.default_rng(1)
        calls_c, calls_v = rng.poisson(10, 800) + 1, rng.poisson(10, 800) + 1
        co_c = CoMoments.of(zip(rng.binomial(calls_c, 0.20), calls_c, strict=True))
        co_v = CoMoments.of(zip(rng.binomial(calls_v, 0.12), calls_v, strict=True))
        inp = AnalysisInput(
            test="t",
            control="cold",
            metric="failed_call_ratio",
            variants=(
                VariantData("cold", 800, comoments={("failed_calls", "tool_calls"): co_c}),
                VariantData("warm", 800, comoments={("failed_calls", "tool_calls"): co_v}),
            ),
        )
        result = analyze(inp)
        warm = result.primary.variants[1]
        assert (
            warm.fixed_horizon is not None
            and warm.fixed_horizon.method == "delta method (pooled ratio)"
        )
        assert warm.estimate == pytest.approx(co_v.mean_x / co_v.mean_y)
        assert "delta method" in (warm.method or "")
        assert result.decision == "ship"

    def test_per_session_rates_are_means_of_per_session_values(self) -> None:
        rng = np.random.default_rng(2)
        c, v = rng.binomial(10, 0.15, 600) / 10, rng.binomial(10, 0.08, 600) / 10
        result = analyze(
            two({"error_rate": Moments.of(c)}, {"error_rate": Moments.of(v)}, metric="error_rate")
        )
        warm = result.primary.variants[1]
        assert warm.estimate == pytest.approx(v.mean())
        assert "per-session rates" in (warm.method or "")
        assert result.decision == "ship"

    def test_small_binary_samples_use_fishers_exact_test(self) -> None:
        result = analyze(
            two(
                {"success": Moments.of([1, 0, 0, 1, 0, 0])},
                {"success": Moments.of([1, 1, 1, 1, 1, 0])},
            )
        )
        fixed = result.primary.variants[1].fixed_horizon
        assert fixed is not None and fixed.method == "Fisher's exact test"


class TestMultipleVariants:
    def test_holm_adjusts_and_the_best_variant_ships(self) -> None:
        inp = AnalysisInput(
            test="t",
            control="a",
            metric="success",
            variants=(
                VariantData("a", 600, {"success": rate(600, 0.60)}),
                VariantData("b", 600, {"success": rate(600, 0.70)}),
                VariantData("c", 600, {"success": rate(600, 0.76)}),
            ),
        )
        result = analyze(inp)
        assert (result.decision, result.recommendation.variant) == ("ship", "c")
        others = [v for v in result.primary.variants if not v.is_control]
        for v in others:
            assert v.p_value_adjusted is not None and v.p_value is not None
            assert v.p_value_adjusted >= v.p_value
        assert sum(v.p_best or 0 for v in result.primary.variants) == pytest.approx(1.0)
        assert result.primary.variants[2].p_best == max(
            v.p_best or 0 for v in result.primary.variants
        )
        assert "Holm-adjusted across 2 comparisons" in result.method

    def test_secondary_goal_metrics_join_the_holm_family(self) -> None:
        data = {"success": rate(300, 0.6), "score": normal(300, 0.5, 0.2)}
        alone = analyze(two(data, {"success": rate(300, 0.68), "score": normal(300, 0.52, 0.2)}))
        joint = analyze(
            two(
                data,
                {"success": rate(300, 0.68), "score": normal(300, 0.52, 0.2)},
                secondary_metrics=("score",),
            )
        )
        a, j = alone.primary.variants[1], joint.primary.variants[1]
        assert j.p_value == a.p_value
        assert j.p_value_adjusted is not None and a.p_value_adjusted is not None
        assert j.p_value_adjusted >= a.p_value_adjusted
        assert [m.metric.name for m in joint.secondary] == ["score"]


class TestJson:
    def test_the_documented_keys_are_present(self) -> None:
        out = analyze(two({"success": rate(100, 0.6)}, {"success": rate(100, 0.7)})).to_json()
        for key in (
            "test",
            "metric",
            "alpha",
            "method",
            "method_version",
            "variants",
            "alerts",
            "recommendation",
        ):
            assert key in out
        assert out["method_version"] == METHOD_VERSION
        for v in out["variants"]:
            assert {"n", "estimate", "lift", "ci", "p_value", "p_beats_control"} <= set(v)
        assert set(out["recommendation"]) == {"decision", "variant", "reason"}
        json.dumps(out, allow_nan=False)

    def test_empty_variants_give_nulls_not_nan(self) -> None:
        out = analyze(two({"success": Moments()}, {"success": Moments()}, results=(0, 0))).to_json()
        json.dumps(out, allow_nan=False)
        assert (
            out["variants"][1]["lift"] is None and out["recommendation"]["decision"] == "continue"
        )


class TestInputs:
    def test_built_from_a_test_definition(self) -> None:
        created = TestCreated(
            name="checkout",
            variants=("cold", "warm"),
            control="cold",
            metric="success",
            guardrails=(Guardrail.parse("completion_time:+10%"),),
            split=None,
        )
        inp = AnalysisInput.from_definition(
            created,
            [VariantData("warm", 3, {"success": rate(3, 1.0)})],
            alpha=0.1,
            mde=Effect.parse("5pp"),
        )
        assert inp.names == ("cold", "warm") and inp.variant("cold").results == 0
        assert (
            inp.alpha == 0.1
            and inp.mde == Effect(0.05)
            and inp.guardrails[0].metric == "completion_time"
        )
        assert analyze(inp).decision == "continue"

    @pytest.mark.parametrize(
        ("text", "effect"),
        [
            ("10%", Effect(0.1, True)),
            ("5pp", Effect(0.05)),
            ("2.5", Effect(2.5)),
            ("+3 points", Effect(0.03)),
        ],
    )
    def test_effects_parse(self, text: str, effect: Effect) -> None:
        assert Effect.parse(text) == effect

    @pytest.mark.parametrize("bad", ["", "-5%", "ten", "0"])
    def test_bad_effects_are_refused(self, bad: str) -> None:
        with pytest.raises(ValueError):
            Effect.parse(bad)

    def test_invalid_inputs_are_refused_with_a_reason(self) -> None:
        a, b = VariantData("a", 0), VariantData("b", 0)
        with pytest.raises(ValueError, match="control"):
            AnalysisInput(test="t", variants=(a, b), control="z")
        with pytest.raises(ValueError, match="at least two"):
            AnalysisInput(test="t", variants=(a,), control="a")
        with pytest.raises(ValueError, match="alpha"):
            AnalysisInput(test="t", variants=(a, b), control="a", alpha=0.7)
        with pytest.raises(ValueError, match="unknown variant"):
            AnalysisInput(test="t", variants=(a, b), control="a", rows=(ResultRow("c", {}),))


class TestRowsFromResults:
    def test_stored_results_become_rows_and_moments(self) -> None:
        from trialbook.domain.stats import rows_from_results

        stored = [
            {
                "variant": "cold",
                "success": True,
                "tool_calls": 10,
                "successful_calls": 8,
                "case_id": "a",
            },
            {
                "variant": "warm",
                "success": False,
                "tool_calls": 4,
                "successful_calls": 4,
                "case_id": "a",
            },
            {
                "variant": "warm",
                "success": None,
                "completion_time": 12.5,
                "metrics": {"judge": 0.7},
            },
        ]
        rows = rows_from_results(stored)
        assert rows[0] == ResultRow(
            "cold",
            {
                "success": 1.0,
                "tool_calls": 10.0,
                "failed_calls": 2.0,
                "error_rate": 0.2,
                "tool_success_rate": 0.8,
            },
            case_id="a",
        )
        assert rows[2].values == {"completion_time": 12.5, "judge": 0.7} and rows[2].case_id is None
        cold, warm = variant_data_from_rows(rows, ("cold", "warm"))
        assert (cold.results, warm.results) == (1, 2)
        assert warm.moments["success"] == Moments(1, 0.0, 0.0)
        assert warm.comoments[("failed_calls", "tool_calls")] == CoMoments(
            1, 0.0, 4.0, 0.0, 0.0, 0.0
        )

    def test_non_finite_values_are_left_out(self) -> None:
        (data,) = variant_data_from_rows(
            [ResultRow("a", {"score": float("nan")}), ResultRow("a", {"score": 1.0})], ("a",)
        )
        assert data.moments["score"] == Moments(1, 1.0, 0.0)


class TestHistory:
    def test_history_needs_rows(self) -> None:
        with pytest.raises(ValueError, match="rows"):
            history(two({"success": rate(10, 0.5)}, {"success": rate(10, 0.5)}))

    def test_history_shows_the_trajectory_and_ends_at_the_analysis(self) -> None:
        rng = np.random.default_rng(4)
        rows = [
            ResultRow(("cold", "warm")[i % 2], {"success": float(rng.random() < (0.5, 0.9)[i % 2])})
            for i in range(400)
        ]
        inp = AnalysisInput(
            test="t",
            variants=variant_data_from_rows(rows, ("cold", "warm")),
            control="cold",
            rows=tuple(rows),
        )
        trail = history(inp)
        assert [h["n"] for h in trail] == list(range(1, 401))
        assert trail[0] == {"n": 1, "decision": "continue", "variant": None}
        first_ship = next(h["n"] for h in trail if h["decision"] == "ship")
        assert first_ship >= 2 * inp.min_results
        assert all(h["decision"] == "continue" for h in trail[: first_ship - 1])
        assert trail[-1] == {"n": 400, "decision": "ship", "variant": "warm"}
        assert analyze(inp).recommendation.variant == "warm"


class TestImportCost:
    def test_importing_the_package_loads_neither_numpy_nor_scipy(self) -> None:
        code = "import sys, trialbook.domain.stats; print('numpy' in sys.modules, 'scipy' in sys.modules)"
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
        )
        assert out.stdout.split() == ["False", "False"]

    def test_analyzing_from_moments_does_not_load_scipy_stats(self) -> None:
        code = (
            "import sys\n"
            "from trialbook.domain.stats import AnalysisInput, VariantData, Moments, analyze\n"
            "m = lambda p: Moments(10**6, p, 10**6 * p * (1 - p))\n"
            "inp = AnalysisInput(test='t', control='a', variants=(VariantData('a', 10**6, {'success': m(0.6)}),"
            " VariantData('b', 10**6, {'success': m(0.601)})))\n"
            "analyze(inp).to_json()\n"
            "print('scipy.stats' in sys.modules)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == "False"
