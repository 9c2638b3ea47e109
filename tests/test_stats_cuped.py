"""CUPED (``--covariate``): the adjusted lift is OLS's treatment coefficient, the variance reduction is
the squared correlation, a useless covariate is said to be useless, and the sequential comparison keeps
its false-winner rate under a look after every result (small simulation; bench/agent_metrics.py runs
the big ones)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trialbook.domain.stats import cuped, engine


def _data(
    rng: np.random.Generator, n: int, rho: float, lift: float = 0.0
) -> tuple[np.ndarray, ...]:
    x = rng.normal(5.0, 2.0, 2 * n)
    arm = np.arange(2 * n) % 2
    noise = rng.normal(0.0, 1.0, 2 * n)
    y = 3.0 + lift * arm + rho * (x - 5.0) / 2.0 + math.sqrt(1 - rho * rho) * noise
    return y, x, arm


class TestAgainstOLS:
    def test_the_adjusted_lift_is_the_treatment_coefficient_of_y_on_treatment_and_x(self) -> None:
        import statsmodels.api as sm

        rng = np.random.default_rng(1)
        y, x, arm = _data(rng, 400, 0.6, lift=0.2)
        got = cuped.fixed_horizon(y[arm == 1], x[arm == 1], y[arm == 0], x[arm == 0])
        fit = sm.OLS(y, sm.add_constant(np.column_stack([arm, x]))).fit()
        assert got["diff"] == pytest.approx(fit.params[1], rel=1e-9)
        assert got["se"] == pytest.approx(fit.bse[1], rel=0.03)
        assert got["theta"] == pytest.approx(fit.params[2], rel=1e-9)

    @settings(max_examples=30, deadline=None)
    @given(
        st.lists(st.tuples(st.floats(-100, 100), st.floats(-100, 100)), min_size=3, max_size=30),
        st.lists(st.tuples(st.floats(-100, 100), st.floats(-100, 100)), min_size=3, max_size=30),
    )
    def test_ols_agrees_on_any_data_with_spread(
        self, v: list[tuple[float, float]], c: list[tuple[float, float]]
    ) -> None:
        import statsmodels.api as sm

        yv, xv = np.array(v).T
        yc, xc = np.array(c).T
        x = np.r_[xv, xc]
        if np.ptp(xv) < 1e-3 and np.ptp(xc) < 1e-3:
            return  # no within-arm spread of x: theta is 0 by definition, OLS is singular
        got = cuped.fixed_horizon(yv, xv, yc, xc)
        treat = np.r_[np.ones(len(yv)), np.zeros(len(yc))]
        fit = sm.OLS(
            np.r_[yv, yc], sm.add_constant(np.column_stack([treat, x]), has_constant="add")
        ).fit()
        assert got["diff"] == pytest.approx(fit.params[1], rel=1e-6, abs=1e-6)

    def test_shifting_the_covariate_changes_nothing(self) -> None:
        rng = np.random.default_rng(2)
        y, x, arm = _data(rng, 200, 0.5)
        a = cuped.fixed_horizon(y[arm == 1], x[arm == 1], y[arm == 0], x[arm == 0])
        b = cuped.fixed_horizon(y[arm == 1], x[arm == 1] + 1e3, y[arm == 0], x[arm == 0] + 1e3)
        assert a["diff"] == pytest.approx(b["diff"], rel=1e-9)
        assert a["se"] == pytest.approx(b["se"], rel=1e-9)


class TestVarianceReduction:
    def test_is_the_squared_correlation(self) -> None:
        rng = np.random.default_rng(3)
        y, x, arm = _data(rng, 20000, 0.6)
        got = cuped.fixed_horizon(y[arm == 1], x[arm == 1], y[arm == 0], x[arm == 0])
        assert got["variance_reduction"] == pytest.approx(0.36, abs=0.02)
        assert cuped.note(got["variance_reduction"]) is None

    def test_an_unrelated_covariate_is_said_not_to_help(self) -> None:
        rng = np.random.default_rng(4)
        y, x, arm = _data(rng, 2000, 0.0)
        got = cuped.fixed_horizon(y[arm == 1], x[arm == 1], y[arm == 0], x[arm == 0])
        assert got["variance_reduction"] < cuped.HELPS_AT_LEAST
        assert "does not help" in (cuped.note(got["variance_reduction"]) or "")
        assert "cannot be estimated" in (cuped.note(math.nan) or "")

    def test_the_plan_shortens_by_the_reduction_within_its_bounds(self) -> None:
        got = cuped.information_horizon(1000.0, np.array([0.36, -0.2, 0.99, math.nan]))
        assert got.tolist() == pytest.approx([640.0, 1000.0, 100.0, 1000.0])


class TestSequential:
    def _looks(self, lift: float, sims: int, per: int, seed: int) -> tuple[np.ndarray, ...]:
        rng = np.random.default_rng(seed)
        y = np.empty((sims, 2 * per))
        x = np.empty_like(y)
        for i in range(sims):
            y[i], x[i], _ = _data(rng, per, 0.6, lift)
        return y, x, np.broadcast_to(np.arange(2 * per) % 2, y.shape)

    def _sides(self, cmp: engine.Comparison, shape: tuple[int, int]) -> tuple[np.ndarray, ...]:
        good, bad = engine.running_p(cmp, False, shape)
        return good.reshape(shape), bad.reshape(shape)

    def test_aa_with_a_look_after_every_result_keeps_false_winners_below_alpha(self) -> None:
        y, x, arm = self._looks(0.0, 300, 400, 5)
        cmp, _ = cuped.compare_looks(y, x, arm, 800.0, kind="continuous")
        good, bad = self._sides(cmp, y.shape)
        assert ((good < 0.05) & (good < bad)).any(axis=1).mean() <= 0.05

    def test_a_real_lift_is_called_sooner_than_without_the_covariate(self) -> None:
        from trialbook.domain.stats import sequential

        y, x, arm = self._looks(0.2, 100, 600, 6)
        cmp, _ = cuped.compare_looks(y, x, arm, 1200.0, kind="continuous")
        arms = []
        for side in (1, 0):
            c = cuped.cumulative(y, y, arm == side)
            mom = engine.MomentArrays(
                c.n.reshape(-1), np.nan_to_num(c.mean_y).reshape(-1), c.m2_y.reshape(-1)
            )
            arms.append(engine.mean_arm(mom))
        rho = sequential.reserve_rho(0.05, 1200.0)
        raw = engine.compare_arms("continuous", arms[0], arms[1], 1200.0, rho, 5)

        def first(c: engine.Comparison) -> np.ndarray:
            good, _ = self._sides(c, y.shape)
            hit = good < 0.05
            return np.where(hit.any(1), hit.argmax(1) + 1.0, np.inf)

        adjusted, unadjusted = first(cmp), first(raw)
        assert np.isfinite(adjusted).mean() >= 0.9
        # rho 0.6 removes 36 % of the variance: the median call comes at least a quarter sooner
        assert np.median(adjusted) <= 0.75 * np.median(unadjusted)
