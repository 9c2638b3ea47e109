"""Quantile metrics (``completion_time:p95``): the estimate is numpy's, the fixed-horizon interval
agrees with a bootstrap and with statsmodels' quantile regression, and the always-valid comparison
keeps its false-winner rate under a look after every result (small simulations; bench/agent_metrics.py
runs the big ones)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from trialbook.domain.stats import engine, quantiles

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


class TestParse:
    @pytest.mark.parametrize(
        ("name", "want"),
        [("completion_time:p95", ("completion_time", 0.95)), ("cost:p99.9", ("cost", 0.999)),
         ("tokens:p50", ("tokens", 0.5))],
    )  # fmt: skip
    def test_reads_base_metric_and_fraction(self, name: str, want: tuple[str, float]) -> None:
        base, p = quantiles.parse_quantile(name)  # type: ignore[misc]
        assert base == want[0] and p == pytest.approx(want[1])

    def test_a_plain_metric_is_not_a_quantile(self) -> None:
        assert quantiles.parse_quantile("completion_time") is None

    @pytest.mark.parametrize(
        "name", ["completion_time:p", "completion_time:p100", "cost:p0", "cost:pxx"]
    )
    def test_malformed_percentiles_are_refused_with_the_form_to_use(self, name: str) -> None:
        with pytest.raises(ValueError, match="pNN|between 0 and 100"):
            quantiles.parse_quantile(name)


class TestEstimate:
    @given(st.lists(finite, min_size=1, max_size=80), st.sampled_from([0.5, 0.9, 0.95, 0.99]))
    def test_the_estimate_is_numpys_default_quantile(self, xs: list[float], p: float) -> None:
        est, _ = quantiles.quantile_and_se(sorted(xs), p)
        assert est == pytest.approx(float(np.quantile(xs, p)), rel=1e-12, abs=1e-9)

    @settings(max_examples=40, deadline=None)
    @given(st.lists(finite, min_size=1, max_size=60), st.sampled_from([0.5, 0.95]))
    def test_every_look_of_the_running_quantile_is_that_of_its_prefix(
        self, xs: list[float], p: float
    ) -> None:
        n, est, se = quantiles.running_quantile(np.array(xs), p)
        for k in range(len(xs)):
            e, s = quantiles.quantile_and_se(sorted(xs[: k + 1]), p)
            assert n[k] == k + 1
            assert est[k] == pytest.approx(e, abs=1e-9)
            assert (math.isnan(se[k]) and math.isnan(s)) or se[k] == pytest.approx(s, abs=1e-9)

    def test_too_few_results_for_a_p95_have_no_standard_error(self) -> None:
        _, se = quantiles.quantile_and_se(sorted(np.arange(40.0)), 0.95)
        assert math.isnan(se)
        _, se = quantiles.quantile_and_se(sorted(np.arange(200.0)), 0.95)
        assert se > 0

    def test_the_standard_error_matches_the_spread_of_the_estimate(self) -> None:
        rng = np.random.default_rng(3)
        draws = rng.lognormal(0.0, 1.0, (1500, 400))
        ests, ses = zip(*(quantiles.quantile_and_se(sorted(d), 0.95) for d in draws), strict=True)
        assert float(np.median(ses)) == pytest.approx(float(np.std(ests)), rel=0.12)


class TestFixedHorizon:
    def setup_method(self) -> None:
        rng = np.random.default_rng(21)
        self.c = rng.lognormal(3.0, 0.6, 600)
        self.v = rng.lognormal(3.1, 0.6, 700)

    def test_interval_agrees_with_a_bootstrap(self) -> None:
        got = quantiles.fixed_horizon(self.v, self.c, 0.95)
        boot = stats.bootstrap(
            (self.v, self.c),
            lambda a, b, axis: np.quantile(a, 0.95, axis=axis) - np.quantile(b, 0.95, axis=axis),
            n_resamples=4000, vectorized=True, method="percentile", random_state=5,
        )  # fmt: skip
        assert got["diff"] == pytest.approx(np.quantile(self.v, 0.95) - np.quantile(self.c, 0.95))
        assert got["se"] == pytest.approx(boot.standard_error, rel=0.15)
        width = boot.confidence_interval.high - boot.confidence_interval.low
        assert got["ci_high"] - got["ci_low"] == pytest.approx(width, rel=0.15)

    def test_estimate_and_standard_error_agree_with_statsmodels_quantreg(self) -> None:
        import statsmodels.api as sm

        y = np.concatenate([self.c, self.v])
        treat = np.r_[np.zeros(len(self.c)), np.ones(len(self.v))]
        fit = sm.QuantReg(y, sm.add_constant(treat)).fit(q=0.95)
        got = quantiles.fixed_horizon(self.v, self.c, 0.95)
        # QuantReg's estimate is an order statistic (no interpolation): within a spacing of it
        spacing = float(
            np.diff(np.sort(self.v))[
                int(0.95 * len(self.v)) - 2 : int(0.95 * len(self.v)) + 2
            ].max()
        )
        assert abs(got["diff"] - fit.params[1]) <= 2 * spacing
        assert got["se"] == pytest.approx(fit.bse[1], rel=0.25)

    def test_too_small_arms_give_no_interval(self) -> None:
        got = quantiles.fixed_horizon([1.0, 2.0, 3.0], [1.0, 2.0], 0.95)
        assert math.isnan(got["ci_low"]) and math.isnan(got["p_value"])


def _false_winners(cmp: engine.Comparison, paths: tuple[int, int]) -> np.ndarray:
    good, bad = engine.running_p(cmp, True, paths)
    return (np.minimum(good, bad).reshape(paths) < 0.05).any(axis=1)


class TestAlwaysValid:
    def test_aa_with_a_look_after_every_result_keeps_false_winners_near_alpha(self) -> None:
        rng = np.random.default_rng(8)
        sims, per = 200, 300
        y = rng.lognormal(3.0, 1.0, (sims, 2 * per))
        arm = np.broadcast_to(np.arange(2 * per) % 2, y.shape)
        cmp = quantiles.compare_looks(y, arm, 0.95, 600.0)
        rate = _false_winners(cmp, (sims, 2 * per)).mean()
        assert rate <= 0.08  # the bench's 400-test cells give the Wilson bounds

    def test_a_doubled_p95_is_found(self) -> None:
        rng = np.random.default_rng(9)
        sims, per = 60, 300
        y = rng.lognormal(3.0, 0.5, (sims, 2 * per))
        arm = np.broadcast_to(np.arange(2 * per) % 2, y.shape)
        y = np.where(arm == 1, y * 1.5, y)
        cmp = quantiles.compare_looks(y, arm, 0.95, 600.0)
        lo, hi, rlo, _ = engine.running_bounds(cmp, 0.05, (sims, 2 * per))
        assert (lo.reshape(sims, -1)[:, -1] > 0).mean() >= 0.8
        # the relative interval covers the true +50 % in (nearly) every test
        assert (rlo.reshape(sims, -1)[:, -1] < 0.5).mean() >= 0.95
