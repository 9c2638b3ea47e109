"""Covariate adjustment (CUPED; Deng, Xu, Kohavi & Walker 2013): a mean lift with less variance.

Each result carries the outcome ``y`` and a covariate ``x`` that the variant cannot
have changed (measured before assignment, or a property of the case, such as its
difficulty or its score in an earlier run). With ``θ`` the slope of ``y`` on ``x``
pooled within arms (``Σ C_xy / Σ M2_x`` over the compared arms), each arm's adjusted
mean is ``ȳ_a - θ (x̄_a - x̄)`` (``x̄`` the mean of ``x`` over both arms), and

- the adjusted difference equals the treatment coefficient of the OLS regression
  ``y ~ 1 + treatment + x`` (ANCOVA with a common slope): checked against statsmodels;
- its variance is each arm's residual variance ``(M2_y - 2 θ C_xy + θ² M2_x) / (n - 1)``
  over ``n``, summed: ``1 - ρ²`` of the unadjusted one when ``x`` and ``y`` correlate ``ρ``;
- the **variance reduction achieved** is ``1 - var_adjusted / var_unadjusted`` at this look.

The plan (``--expected-results``) is read as an amount of information: the adjusted
comparison reaches the information of ``N`` unadjusted results after
``N (1 - reduction)`` results (information-based monitoring, Mehta & Tsiatis 2001), so
the design's boundary is applied on that clock. Without this, a flat-boundary design
turns a variance reduction ``r`` into only ``1 - sqrt(1 - r)`` fewer results.

Sequential use: ``θ`` is re-estimated at every look from the data so far, and the
adjusted difference, a mean of i.i.d. terms plus an ``O_p(1/n)`` term from ``θ``, is
handed to the method-2.0 design like any mean (:func:`domain.stats.engine.compare_arms`):
asymptotically valid at every look, shown by simulation (A/A with a look after every
result in ``tests/test_stats_cuped.py`` and ``bench/agent_metrics.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

Array = np.ndarray
#: below this variance reduction the report says the covariate does not help
HELPS_AT_LEAST = 0.05
#: the largest variance reduction the plan is shortened by (see :func:`information_horizon`)
MAX_REDUCTION = 0.9


@dataclass
class CoSums:
    """Per-look co-moments of (y, x) of one arm (arrays; from :func:`cumulative`)."""

    n: Array
    mean_y: Array
    mean_x: Array
    m2_y: Array
    m2_x: Array
    c_xy: Array


def cumulative(y: Array, x: Array, mask: Array | None = None) -> CoSums:
    """Co-moments after each position of ``y``/``x`` (positions outside ``mask`` or with a nan skipped).

    Works along the last axis, so ``(sims, results)`` arrays give every look of many tests.
    """
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    ok = np.isfinite(y) & np.isfinite(x)
    if mask is not None:
        ok &= np.asarray(mask, dtype=bool)
    # shift by the first usable value of each series for precision
    first = np.argmax(ok, axis=-1)
    sy = np.take_along_axis(np.where(ok, y, 0.0), first[..., None], axis=-1)
    sx = np.take_along_axis(np.where(ok, x, 0.0), first[..., None], axis=-1)
    dy = np.where(ok, y - sy, 0.0)
    dx = np.where(ok, x - sx, 0.0)
    n = np.cumsum(ok, axis=-1).astype(float)
    a, b = np.cumsum(dy, axis=-1), np.cumsum(dx, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return CoSums(
            n=n,
            mean_y=np.where(n > 0, sy + a / n, np.nan),
            mean_x=np.where(n > 0, sx + b / n, np.nan),
            m2_y=np.where(n > 0, np.maximum(np.cumsum(dy * dy, -1) - a * a / n, 0.0), 0.0),
            m2_x=np.where(n > 0, np.maximum(np.cumsum(dx * dx, -1) - b * b / n, 0.0), 0.0),
            c_xy=np.where(n > 0, np.cumsum(dy * dx, -1) - a * b / n, 0.0),
        )


def of_values(y: Any, x: Any) -> CoSums:
    """One look's co-moments of a finite sample (the arrays have one entry)."""
    s = cumulative(np.asarray(y, dtype=float), np.asarray(x, dtype=float))
    return CoSums(*(np.asarray(getattr(s, f))[..., -1:] for f in CoSums.__dataclass_fields__))


@dataclass
class Adjusted:
    """Per look: the slope, both arms' adjusted statistics and the variance reduction."""

    theta: Array
    variant: Any  # engine.Arm
    control: Any  # engine.Arm
    var_unadjusted: Array
    var_adjusted: Array

    @property
    def variance_reduction(self) -> Array:
        """``1 - var_adjusted / var_unadjusted`` of the difference (nan while undefined)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return 1.0 - self.var_adjusted / self.var_unadjusted


def adjust(v: CoSums, c: CoSums) -> Adjusted:
    """The CUPED-adjusted arms of variant ``v`` and control ``c`` (look by look)."""
    from trialbook.domain.stats.engine import Arm

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        sxx = v.m2_x + c.m2_x
        theta = np.where(sxx > 0, (v.c_xy + c.c_xy) / sxx, 0.0)
        xbar = (v.n * v.mean_x + c.n * c.mean_x) / (v.n + c.n)

        def arm(s: CoSums) -> tuple[Any, Array]:
            est = s.mean_y - theta * (s.mean_x - xbar)
            m2_r = np.maximum(s.m2_y - 2 * theta * s.c_xy + theta * theta * s.m2_x, 0.0)
            var_obs = np.where(s.n >= 2, m2_r / (s.n - 1.0), np.nan)
            var_raw = np.where(s.n >= 2, s.m2_y / (s.n - 1.0) / s.n, np.nan)
            return Arm(s.n, np.where(s.n > 0, est, np.nan), var_obs / s.n, var_obs, m2_r), var_raw

        av, rv = arm(v)
        ac, rc = arm(c)
    return Adjusted(theta, av, ac, rv + rc, av.var_est + ac.var_est)


def fixed_horizon(y_v: Any, x_v: Any, y_c: Any, x_c: Any, alpha: float = 0.05) -> dict[str, float]:
    """One look's adjusted difference: estimate, se, interval, p-value, θ and the variance reduction."""
    from scipy.special import ndtr, ndtri

    a = adjust(of_values(y_v, x_v), of_values(y_c, x_c))
    diff = float(a.variant.est[-1] - a.control.est[-1])
    se = math.sqrt(float(a.var_adjusted[-1]))
    z = -float(ndtri(alpha / 2))
    return {
        "diff": diff,
        "se": se,
        "ci_low": diff - z * se,
        "ci_high": diff + z * se,
        "p_value": 2 * float(ndtr(-abs(diff) / se)) if se > 0 else math.nan,
        "theta": float(a.theta[-1]),
        "variance_reduction": float(a.variance_reduction[-1]),
    }


def note(variance_reduction: float) -> str | None:
    """A sentence for the report when the covariate does not help (None when it does)."""
    if not math.isfinite(variance_reduction):
        return "the covariate's effect cannot be estimated yet (too few results with it)"
    if variance_reduction < HELPS_AT_LEAST:
        return (
            f"the covariate removes {max(variance_reduction, 0.0):.0%} of the variance: it does "
            "not help here (the unadjusted analysis is as good)"
        )
    return None


def compare_looks(
    y: Array,
    x: Array,
    arm: Array,
    plan: float,
    alpha: float = 0.05,
    min_n: int = 5,
    kind: str = "binary",
) -> tuple[Any, Adjusted]:
    """The always-valid CUPED comparison of arm 1 with arm 0 after every result.

    ``y`` (outcome), ``x`` (covariate) and ``arm`` (1 = variant, 0 = control) have shape
    ``(results,)`` or ``(tests, results)``. Returns the
    :class:`~domain.stats.engine.Comparison` (flattened test by test) and the
    :class:`Adjusted` statistics behind it. ``kind`` is the outcome's metric kind, as the
    analysis passes it to ``engine.compare_arms`` (``continuous``: Welch's degrees of
    freedom and the variance floor on the residuals; ``binary``: the normal scale).
    """
    from trialbook.domain.stats import engine, sequential

    y2 = np.atleast_2d(np.asarray(y, dtype=float))
    x2 = np.atleast_2d(np.asarray(x, dtype=float))
    a2 = np.atleast_2d(np.asarray(arm))

    def flat(s: CoSums) -> CoSums:
        return CoSums(*(np.asarray(getattr(s, f)).reshape(-1) for f in CoSums.__dataclass_fields__))

    adj = adjust(flat(cumulative(y2, x2, a2 == 1)), flat(cumulative(y2, x2, a2 == 0)))
    rho = sequential.reserve_rho(alpha, plan)
    cmp = engine.compare_arms(kind, adj.variant, adj.control, plan, rho, min_n)
    # information-based monitoring: the plan is the information of `plan` unadjusted results,
    # which the adjusted comparison reaches after plan * (1 - reduction) results
    horizon = information_horizon(plan, adj.variance_reduction)
    cmp.horizon = horizon
    with np.errstate(invalid="ignore"):
        cmp.p = np.where(cmp.valid, sequential.design_p_value(cmp.z, cmp.n_obs, horizon, rho), 1.0)
    return cmp, adj


def information_horizon(plan: float, variance_reduction: Array) -> Array:
    """The results by which the adjusted comparison has the information of ``plan`` unadjusted ones.

    ``plan * (1 - reduction)``, the reduction taken in ``[0, 0.9]`` (a covariate that
    hurts never lengthens the plan; a near-perfect one never shrinks it below a tenth),
    re-estimated at every look (Mehta & Tsiatis 2001, information-based monitoring).
    """
    vr = np.nan_to_num(np.asarray(variance_reduction, dtype=float), nan=0.0)
    return plan * (1.0 - np.clip(vr, 0.0, MAX_REDUCTION))


@dataclass
class AdjustedMany:
    """CUPED over several arms at once: one slope pooled within all arms, every look."""

    theta: Array
    arms: list[Any]  # engine.Arm per arm
    raw_var: list[Array]  # unadjusted variance of each arm's mean

    def reduction(self, i: int, c: int) -> Array:
        """The variance reduction of the difference of arm ``i`` and arm ``c``."""
        with np.errstate(divide="ignore", invalid="ignore"):
            adjusted = self.arms[i].var_est + self.arms[c].var_est
            return 1.0 - adjusted / (self.raw_var[i] + self.raw_var[c])


def adjust_many(sums: list[CoSums]) -> AdjustedMany:
    """:func:`adjust` for any number of arms (the slope and ``x̄`` pooled over all of them)."""
    from trialbook.domain.stats.engine import Arm

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        sxx = sum(s.m2_x for s in sums)
        theta = np.where(sxx > 0, sum(s.c_xy for s in sums) / sxx, 0.0)
        total = sum(s.n for s in sums)
        xbar = sum(s.n * np.nan_to_num(s.mean_x) for s in sums) / total
        arms, raw = [], []
        for s in sums:
            est = s.mean_y - theta * (s.mean_x - xbar)
            m2_r = np.maximum(s.m2_y - 2 * theta * s.c_xy + theta * theta * s.m2_x, 0.0)
            var_obs = np.where(s.n >= 2, m2_r / (s.n - 1.0), np.nan)
            arms.append(Arm(s.n, np.where(s.n > 0, est, np.nan), var_obs / s.n, var_obs, m2_r))
            raw.append(np.where(s.n >= 2, s.m2_y / (s.n - 1.0) / s.n, np.nan))
    return AdjustedMany(theta, arms, raw)
