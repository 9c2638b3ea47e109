"""Issue #20: each statistics defect found from outside, with the inputs the issue quotes.

Every test names the symptom the issue reports; most also show that method 1.0
(still selectable, for audits of old decisions) had it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import Invoke
from trialbook.domain.stats import (
    METHOD_VERSION,
    AnalysisInput,
    Effect,
    Moments,
    ResultRow,
    VariantData,
    analyze,
    history,
    variant_data_from_rows,
)
from trialbook.domain.stats import analysis as stats_analysis
from trialbook.domain.stats.v1 import analysis as v1


def two(control: Moments, variant: Moments, metric: str = "score", **options: Any) -> AnalysisInput:
    return AnalysisInput(
        test="t",
        variants=(VariantData("cold", control.n, {metric: control}), VariantData("warm", variant.n, {metric: variant})),
        control="cold",
        metric=metric,
        **options,
    )  # fmt: skip


def normal_values(seed: int, mean: float, sd: float, n: int) -> list[float]:
    return [float(x) for x in np.random.default_rng(seed).normal(mean, sd, n)]


def warm(result: Any) -> Any:
    return result.primary.variants[1]


class TestRelativeLift:
    def test_a_negative_control_mean_gives_no_relative_lift(self) -> None:
        # "control -0.16 vs variant 0.29 printed '+0.454, -283.7 %'"
        inp = two(
            Moments.of(normal_values(1, -0.16, 0.3, 200)),
            Moments.of(normal_values(2, 0.29, 0.3, 200)),
        )
        old = v1.analyze(inp)
        assert warm(old).relative_lift is not None and warm(old).relative_lift < -2  # -2xx %
        result = analyze(inp)
        w = warm(result)
        assert w.relative_lift is None and w.relative_ci is None
        assert w.fixed_horizon is not None and w.fixed_horizon.relative_lift is None
        (kind, text), *_ = w.notes
        assert kind == "relative_lift_undefined" and "is not above zero" in text
        assert "%" not in result.recommendation.reason.split("; always-valid")[0]
        alert = next(
            a for a in result.to_json()["alerts"] if a["kind"] == "relative_lift_undefined"
        )
        assert alert["variant"] == "warm" and alert["blocking"] is False

    def test_a_control_mean_near_zero_gives_no_relative_lift(self) -> None:
        # "a control of 2e-6 gave '+33336586.2 %'"
        inp = two(
            Moments.of(normal_values(3, 2e-6, 1e-3, 200)),
            Moments.of(normal_values(4, 0.0667, 1e-3, 200)),
        )
        assert abs(warm(v1.analyze(inp)).relative_lift) > 1000  # more than +100,000 %
        w = warm(analyze(inp))
        assert w.relative_lift is None
        assert any("interval reaches zero" in text for _, text in w.notes)

    def test_one_huge_score_prints_no_absurd_number(self) -> None:
        # "one score of 1e300 printed a 300-digit percentage in the reason"
        values = normal_values(5, 5.0, 1.0, 30)
        values[3] = 1e300
        inp = two(Moments.of(normal_values(6, 5.0, 1.0, 30)), Moments.of(values))
        assert max(len(word) for word in v1.analyze(inp).recommendation.reason.split()) > 250
        result = analyze(inp)
        reason = result.recommendation.reason
        assert len(reason) < 500 and max(len(word) for word in reason.split()) < 20
        doc = result.to_json()
        json.dumps(doc, allow_nan=False)
        fixed = doc["variants"][1]["fixed_horizon"]
        assert fixed["ci"] is None or all(isinstance(x, float) for x in fixed["ci"])

    @pytest.mark.parametrize(
        ("r", "text"), [(0.254, "+25.4%"), (-0.5, "-50.0%"), (333365.862, "+3.33e+07%")]
    )
    def test_percentages_carry_no_more_digits_than_they_mean(self, r: float, text: str) -> None:
        assert stats_analysis.percent(r) == text


class TestImpossibleNumbers:
    def test_the_detectable_difference_on_a_proportion_is_never_above_100_points(self) -> None:
        # "the smallest difference it can reliably detect is about 141.0 points" on a proportion
        m = Moments(6, 0.5, 6 * 0.25)
        inp = two(m, m, metric="success")
        old = v1.analyze(inp).recommendation.reason  # method 1.0: "about 176.2 points"
        assert float(old.split("reliably detect is about ")[1].split(" points")[0]) > 100
        result = analyze(inp)
        power = warm(result).power
        assert power is not None and power.mde_always_valid is None
        assert "no information yet" in result.recommendation.reason

    def test_intervals_on_zero_one_scores_say_no_information_yet(self) -> None:
        # "always-valid intervals on 0/1 scores of '-27.8 to 26.467'"
        inp = two(Moments.of([0, 1, 0, 1, 0, 1, 0]), Moments.of([1, 1, 0, 1, 1, 1, 0]))
        assert "interval -3.74 to +4.312" in v1.analyze(inp).recommendation.reason
        result = analyze(inp)
        assert "no information yet" in result.recommendation.reason
        assert "no_information_yet" in [k for k, _ in warm(result).notes]

    def test_intervals_of_proportions_are_clipped_and_say_so(self) -> None:
        result = analyze(two(Moments(8, 0.5, 2.0), Moments(8, 0.75, 1.5), metric="success"))
        w = warm(result)
        assert w.ci is not None and w.ci[0] >= -1 and w.ci[1] <= 1
        assert any(k == "interval_clipped" for k, _ in w.notes)

    def test_fixed_horizon_ci_is_an_interval_or_null_never_a_pair_of_nulls(self) -> None:
        # "fixed_horizon.ci of [null, null] where the docs promise [low, high] or null"
        values = [1e300, 1.0, 2.0, 3.0, 4.0, 5.0]
        inp = two(Moments.of([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), Moments.of(values))
        assert v1.analyze(inp).to_json()["variants"][1]["fixed_horizon"]["ci"] == [None, None]
        fixed = analyze(inp).to_json()["variants"][1]["fixed_horizon"]
        assert fixed["ci"] is None


class TestNoSpread:
    def test_zero_variance_is_explained_and_a_tiny_change_changes_the_answer_only_a_little(
        self,
    ) -> None:
        # "zero variance in both arms means 'continue' forever; one value changed by 1e-4
        # flips it to keep_control at p = 1e-71"
        n = 30
        exact = two(Moments.of([1.0] * n), Moments.of([0.0] * n))
        nudged = two(Moments.of([1.0] * n), Moments.of([0.0] * (n - 1) + [1e-4]))
        assert v1.analyze(exact).decision == "continue"
        assert warm(v1.analyze(exact)).p_value is None
        assert warm(v1.analyze(nudged)).p_value < 1e-60
        a, b = analyze(exact), analyze(nudged)
        assert a.decision == b.decision == "keep_control"
        pa, pb = warm(a).p_value, warm(b).p_value
        assert pa is not None and pb is not None and pb == pytest.approx(pa, rel=1e-3)
        assert "no spread in the data" in a.recommendation.reason
        assert any(k == "no_spread" for k, _ in warm(a).notes)

    def test_identical_constants_in_both_arms_are_nothing_to_compare(self) -> None:
        result = analyze(two(Moments.of([3.0] * 40), Moments.of([3.0] * 40)))
        assert result.decision == "continue" and warm(result).p_value is None
        assert any("nothing to compare" in text for _, text in warm(result).notes)


class TestFewCasesManyEpochs:
    def rows(self) -> tuple[ResultRow, ...]:
        # "6 cases x 400 results (41 % vs 95 % success)": 400 results per variant over 6 cases
        rng = np.random.default_rng(0)
        p_cold = [0.30, 0.35, 0.40, 0.45, 0.45, 0.51]
        p_warm = [0.90, 0.93, 0.95, 0.96, 0.97, 0.99]
        rows = []
        for _epoch in range(67):
            for c in range(6):
                for variant, p in (("cold", p_cold[c]), ("warm", p_warm[c])):
                    rows.append(
                        ResultRow(variant, {"success": float(rng.random() < p)}, case_id=f"c{c}")
                    )
        return tuple(rows[:800])

    def test_case_means_are_compared_as_continuous_values(self) -> None:
        rows = self.rows()
        inp = AnalysisInput(
            test="t",
            variants=variant_data_from_rows(rows, ("cold", "warm")),
            control="cold",
            rows=rows,
        )
        old = warm(v1.analyze(inp))
        assert old.ci == (-1.0, 1.0) and old.p_value > 0.5  # the "CI [-1, 1], p = 0.80"
        result = analyze(inp)
        w = warm(result)
        assert w.paired is not None and w.paired.used and w.paired.repeated
        assert w.paired.pairs == 6
        assert w.ci is not None and 0.2 < w.ci[0] < w.lift < w.ci[1] < 1.0
        assert w.p_value is not None and w.p_value < 0.01
        assert result.decision == "ship"


class TestMdeForms:
    @pytest.mark.parametrize("form", ["10pp", "10 points", "0.1"])
    def test_the_same_effect_in_every_form_gives_the_same_analysis(self, form: str) -> None:
        m = lambda p: Moments(60, p, 60 * p * (1 - p))  # noqa: E731
        base = analyze(two(m(0.6), m(0.7), metric="success", mde=Effect.parse("10pp"))).to_json()
        other = analyze(two(m(0.6), m(0.7), metric="success", mde=Effect.parse(form))).to_json()
        for doc in (base, other):  # the effect as typed is kept, so an audit re-parses it exactly
            doc["settings"].pop("mde")
            doc["settings"].pop("equivalence_margin")
            doc["variants"][1]["power"].pop("target_mde")
        assert other == base

    def test_ab_analyze_text_mode_takes_every_mde_form(
        self, invoke: Invoke, tmp_path: Path
    ) -> None:
        # "--mde 10pp (the documented form) is an internal error in text mode"
        assert invoke("ab", "create", "t", "--variants", "cold,warm").exit_code == 0
        f = tmp_path / "r.jsonl"
        f.write_text(
            "".join(
                json.dumps({"variant": ("cold", "warm")[i % 2], "success": i % 3 != 0}) + "\n"
                for i in range(80)
            )
        )
        assert invoke("ab", "import", "t", str(f)).exit_code == 0
        texts = []
        for form in ("10pp", "10%", "0.1"):
            r = invoke("ab", "analyze", "t", "--mde", form)
            assert r.exit_code == 0, r.output
            assert "Traceback" not in r.output and "could not convert" not in r.output
            texts.append(" ".join(r.output.split()))
            j = invoke("ab", "analyze", "t", "--mde", form, "--json")
            assert j.exit_code == 0, j.output
        assert "if the difference is 10.0 pts" in texts[0]
        assert "if the difference is 10%" in texts[1]
        assert "if the difference is 10.0 pts" in texts[2]


class TestStickyDecisions:
    def test_a_ship_does_not_flip_back_to_continue(self) -> None:
        # "--history showed '114 ship, 115 continue, 116 ship, 117 continue, 118+ ship'"
        rng = np.random.default_rng(0)
        rows = tuple(
            ResultRow(
                ("cold", "warm")[i % 2], {"success": float(rng.random() < (0.5, 0.62)[i % 2])}
            )
            for i in range(500)
        )
        inp = AnalysisInput(
            test="t",
            variants=variant_data_from_rows(rows, ("cold", "warm")),
            control="cold",
            rows=rows,
        )

        def ship_then_not(trail: list[dict[str, Any]]) -> int:
            d = [h["decision"] for h in trail]
            return sum(a == "ship" and b != "ship" for a, b in zip(d, d[1:], strict=False))

        assert ship_then_not(v1.history(inp)) == 3  # 385 ship, 386 continue, 389 ship, …
        trail = history(inp)
        assert ship_then_not(trail) == 0
        first = next(h["n"] for h in trail if h["decision"] == "ship")
        assert all(h["decision"] == "ship" for h in trail[first - 1 :])
        assert analyze(inp).decision == "ship"
        assert analyze(inp).settings["looks_intersected"] == 500


class TestSequentialSampleRatio:
    def test_the_sample_ratio_test_is_safe_to_recheck_after_every_result(self) -> None:
        # "sample-ratio alerts re-tested at p < 0.001 every look blocked 1.25 % of A/A tests at
        # some look (11 of 400 with 3 variants)": 400 A/A tests, 3 variants, random assignment
        from trialbook.domain.stats.frequentist import multinomial_sequential_p, srm_p

        rng = np.random.default_rng(11)
        sims, looks = 400, 3000
        arm = rng.integers(0, 3, (sims, looks))
        counts = np.stack([np.cumsum(arm == j, axis=1) for j in range(3)])  # (3, sims, looks)
        flat = counts.reshape(3, -1).astype(float)
        with np.errstate(invalid="ignore"):
            chi = (srm_p(flat, (1, 1, 1)) < 0.001).reshape(sims, looks).any(axis=1).mean()
        seq = (multinomial_sequential_p(flat, (1, 1, 1)) < 0.001).reshape(sims, looks).any(axis=1)
        assert chi > 0.005  # the old check fires far more often than its 0.001
        assert seq.mean() <= 0.001 + 3 * math.sqrt(0.001 / sims)

    def test_a_real_mismatch_still_blocks(self) -> None:
        m = lambda n, p: Moments(n, p, n * p * (1 - p))  # noqa: E731
        result = analyze(two(m(1000, 0.6), m(800, 0.75), metric="success"))
        assert result.decision == "blocked"
        assert "sequential multinomial test" in result.alerts[0].message


class TestMethodVersions:
    def test_the_current_version_is_recorded_and_1_0_is_still_selectable(self) -> None:
        m = lambda p: Moments(100, p, 100 * p * (1 - p))  # noqa: E731
        inp = two(m(0.6), m(0.7), metric="success")
        assert analyze(inp).to_json()["method_version"] == METHOD_VERSION == "2.2"
        old = analyze(AnalysisInput(**{**inp.__dict__, "method_version": "1.0"}))
        assert old.to_json() == v1.analyze(inp).to_json()
        assert old.to_json()["method_version"] == "1.0"
        with pytest.raises(ValueError, match="unknown statistics method version"):
            analyze(AnalysisInput(**{**inp.__dict__, "method_version": "0.9"}))

    def test_a_decision_recorded_with_method_1_0_still_reproduces_in_an_audit(
        self, invoke: Invoke, db_path: Path, tmp_path: Path
    ) -> None:
        from trialbook.domain import ab
        from trialbook.domain.commands import build
        from trialbook.ledger import Ledger
        from trialbook.ledger.analysis import analysis_document, analysis_input, read_snapshot

        assert invoke("ab", "create", "t", "--variants", "cold,warm").exit_code == 0
        f = tmp_path / "r.jsonl"
        f.write_text(
            "".join(
                json.dumps(
                    {"variant": ("cold", "warm")[i % 2], "success": (i * 7) % 10 < 6 + i % 2 * 2}
                )
                + "\n"
                for i in range(120)
            )
        )
        assert invoke("ab", "import", "t", str(f)).exit_code == 0
        with Ledger(db_path) as ledger:  # what `ab conclude` recorded before method 2.0
            snap = read_snapshot(ledger, "t")
            doc = analysis_document(
                analyze(analysis_input(snap, mde="10pp", method_version="1.0")), snap.position
            )
            assert doc["method_version"] == "1.0"
            ledger.execute(
                build(
                    ab.ConcludeTest,
                    test="t",
                    choice="stop",
                    analysis=doc,
                    method_version="1.0",
                    position=snap.position,
                )
            )
        r = invoke("audit", "t", "--json")
        assert r.exit_code == 0, r.output
        (decision,) = json.loads(r.output)["decisions"]
        assert decision["reproduces"] and decision["method_version"] == "1.0"
        assert decision["method_version_now"] == METHOD_VERSION
