"""Quantile metrics (``completion_time:p95``): the difference of two quantiles, fixed-horizon and always-valid.

Estimate: each arm's sample quantile (numpy's default, linear interpolation between
order statistics). Standard error: the distribution-free order-statistic interval
(the ranks ``n p ± z0 sqrt(n p (1 - p))`` of the sorted values; Woodruff 1952, Price &
Bonett 2002) read as ``se = (x_(hi) - x_(lo)) / (2 z0)``, which needs no density
estimate. While an arm is too small for both ranks to exist (for a p95, about 80
results) its quantile has no standard error and no call is made.

Always-valid: by the Bahadur representation ``q̂_n - q = (p - F_n(q)) / f(q) + o(n^-1/2)``
the estimation error is a scaled mean of i.i.d. terms, so its path over the looks is
asymptotically the Brownian motion the method-2.0 design
(:func:`domain.stats.sequential.design_z_boundary`) is built for. The comparison is
therefore an :class:`~domain.stats.engine.Arm` pair handed to
:func:`domain.stats.engine.compare_arms` like any other metric (same boundary,
running intersection, guardrails, Holm). It is asymptotic, not exact: its validity
under a look after every result is shown by simulation (``tests/test_stats_quantiles.py``,
``bench/agent_metrics.py``), not proved.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from trialbook.domain.metrics import parse_quantile

#: the normal quantile the order-statistic interval is read at to give a standard error
Z0 = 1.959963984540054

Array = np.ndarray
__all__ = [
    "parse_quantile",
    "quantile_and_se",
    "min_results",
    "running_quantile",
    "compare_looks",
    "fixed_horizon",
]


def _interp(xs: Sequence[float], h: float) -> float:
    """Linear interpolation at 0-based fractional position ``h`` of sorted ``xs``."""
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


def min_results(p: float, z0: float = Z0) -> int:
    """The fewest values for which :func:`quantile_and_se` gives the ``p`` quantile a standard error.

    Both ranks ``n p ± z0 sqrt(n p (1 - p))`` must lie in ``1..n``: about 73 values for a
    p95, 381 for a p99 (fewer values give an estimate but no interval and no call).
    """
    b = z0 * math.sqrt(p * (1.0 - p))
    n = math.ceil(max(z0 * z0 * p / (1.0 - p), ((b + math.sqrt(b * b + 4.0 * p)) / (2.0 * p)) ** 2))
    n = max(1, n - 2)
    while not _ranks_inside(n, p, z0):
        n += 1
    return n


def _ranks_inside(n: int, p: float, z0: float) -> bool:
    s = math.sqrt(n * p * (1.0 - p))
    return n * p - z0 * s >= 1 and n * p + z0 * s <= n


def quantile_and_se(
    sorted_values: Sequence[float], p: float, z0: float = Z0
) -> tuple[float, float]:
    """The sample quantile (numpy's linear rule) and its order-statistic standard error.

    The order statistics are read at the fractional ranks ``n p ± z0 s`` (1-based,
    ``s = sqrt(n p (1 - p))``), interpolated linearly (rounding the ranks outwards
    would widen the interval by a whole order statistic on each side); the standard
    error is nan while either rank lies outside ``1..n``.
    """
    n = len(sorted_values)
    if n == 0:
        return math.nan, math.nan
    est = _interp(sorted_values, (n - 1) * p)
    s = math.sqrt(n * p * (1.0 - p))
    lo, hi = n * p - z0 * s, n * p + z0 * s
    if not _ranks_inside(n, p, z0):
        return est, math.nan
    return est, (_interp(sorted_values, hi - 1) - _interp(sorted_values, lo - 1)) / (2.0 * z0)


def running_quantile(values: Sequence[float] | Array, p: float) -> tuple[Array, Array, Array]:
    """``(n, estimate, se)`` after each value of ``values`` (nan values skipped: the look repeats).

    One sorted insertion per value; reading a look is O(1), so a test's every look
    costs O(n log n) comparisons plus the insertions' moves.
    """
    xs = np.asarray(values, dtype=float)
    t = len(xs)
    n = np.zeros(t)
    est = np.full(t, np.nan)
    se = np.full(t, np.nan)
    sorted_: list[float] = []
    for i, x in enumerate(xs.tolist()):
        if math.isfinite(x):
            bisect.insort(sorted_, x)
        n[i] = len(sorted_)
        if sorted_:
            est[i], se[i] = quantile_and_se(sorted_, p)
    return n, est, se


def running_quantile_masked(values: Array, mask: Array, p: float) -> tuple[Array, Array, Array]:
    """:func:`running_quantile` of ``values[mask]``, reported at every position of ``values``."""
    x = np.where(np.asarray(mask, dtype=bool), np.asarray(values, dtype=float), np.nan)
    return running_quantile(x, p)


def quantile_arm(n: Array, est: Array, se: Array) -> Any:
    """An :class:`~domain.stats.engine.Arm` of a quantile (variance of one result: ``n se²``)."""
    from trialbook.domain.stats.engine import Arm

    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore"):
        var_est = np.where(n > 0, np.asarray(se) ** 2, np.nan)
    return Arm(n, np.where(n > 0, est, np.nan), var_est, var_est * n, np.full(np.shape(n), np.nan))


def fixed_horizon(
    v: Sequence[float], c: Sequence[float], p: float, alpha: float = 0.05
) -> dict[str, float]:
    """One look's difference of quantiles ``q_v - q_c``: estimate, standard error, interval, p-value.

    Valid for one look planned in advance (labelled fixed-horizon wherever shown).
    """
    from scipy.special import ndtr, ndtri

    qv, sv = quantile_and_se(sorted(float(x) for x in v), p)
    qc, sc = quantile_and_se(sorted(float(x) for x in c), p)
    diff = qv - qc
    se = math.sqrt(sv * sv + sc * sc) if math.isfinite(sv) and math.isfinite(sc) else math.nan
    z = -float(ndtri(alpha / 2))
    if not math.isfinite(se):
        return {
            "diff": diff,
            "se": se,
            "ci_low": math.nan,
            "ci_high": math.nan,
            "p_value": math.nan,
        }
    p_value = 2 * float(ndtr(-abs(diff) / se)) if se > 0 else (1.0 if diff == 0 else 0.0)
    return {
        "diff": diff,
        "se": se,
        "ci_low": diff - z * se,
        "ci_high": diff + z * se,
        "p_value": p_value,
    }


def compare_looks(
    values: Array, arm: Array, p: float, plan: float, alpha: float = 0.05, min_n: int = 5
) -> Any:
    """The always-valid comparison of arm 1's ``p`` quantile with arm 0's, after every result.

    ``values`` and ``arm`` (1 = variant, 0 = control) have shape ``(results,)`` or
    ``(tests, results)``; ``plan`` is the results planned for both arms. Returns an
    :class:`~domain.stats.engine.Comparison` flattened test by test (paths
    ``(tests, results)``): pass it to ``engine.running_bounds`` / ``engine.running_p``.
    """
    from trialbook.domain.stats import engine, sequential

    y = np.atleast_2d(np.asarray(values, dtype=float))
    a = np.atleast_2d(np.asarray(arm))
    arms = []
    for side in (1, 0):
        cols = [running_quantile_masked(y[i], a[i] == side, p) for i in range(y.shape[0])]
        n, est, se = (np.concatenate([c[j] for c in cols]) for j in range(3))
        arms.append(quantile_arm(n, est, se))
    return engine.compare_arms(
        "quantile", arms[0], arms[1], plan, sequential.reserve_rho(alpha, plan), min_n
    )
