"""Capping (winsorizing from above) heavy-tailed metrics: ``--cap cost:p99`` or ``--cap completion_time:600``.

A cap is fixed when the test is created (recorded in ``TestCreated`` like
``--expected-results``), so it cannot be tuned while watching. Every analysis of
the metric then uses ``min(value, threshold)`` per result, and shows the uncapped
figure beside it. The threshold is the given number, or for ``pNN`` the quantile of
both compared arms' values pooled, recomputed at every look from the data so far
(numpy's linear rule; the pooled quantile treats the arms alike, so under "no
difference" capping cannot create one). A cap trades a small bias (the capped means
differ by less than the true means when the tail changes) for a much smaller
variance: one runaway session no longer swamps the mean (Statsig caps at the 99.9th
percentile by default; GrowthBook offers absolute and percentile caps).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trialbook.domain.stats.cap_rule import CAP_HELP, Cap

Array = np.ndarray

__all__ = ["Cap", "CAP_HELP", "capped_count", "running_thresholds", "running_capped_moments"]


def capped_count(values: Array, threshold: float) -> int:
    """How many finite values lie above the threshold (the report says how many were capped)."""
    x = np.asarray(values, dtype=float)
    return int(np.sum(np.isfinite(x) & (x > threshold)))


def running_thresholds(cap: Cap, pooled: Array) -> Array:
    """The threshold at each look: the value, or the running pooled quantile of the values so far."""
    x = np.asarray(pooled, dtype=float)
    if cap.value is not None:
        return np.full(x.shape[-1], float(cap.value))
    from trialbook.domain.stats.quantiles import running_quantile

    assert cap.quantile is not None
    return running_quantile(x, cap.quantile)[1]


def running_capped_moments(
    values: Array, mask: Array, thresholds: Array, block: int = 512
) -> tuple[Array, Array, Array]:
    """``(n, mean, M2)`` at each look ``t`` of ``min(values[i], thresholds[t])`` over ``i <= t`` in ``mask``.

    The threshold moves with the look, so the sums are recomputed per look, in blocks
    of looks: the values before a block are sorted once, and each look's capped sums
    over them are read by binary search from prefix sums; within the block, directly.
    O(T²/block + T·block) work, vectorised (100,000 results in a few seconds).
    """
    x = np.asarray(values, dtype=float)
    ok = np.asarray(mask, dtype=bool) & np.isfinite(x)
    t = x.shape[-1]
    thr = np.asarray(thresholds, dtype=float)
    thr = np.where(np.isnan(thr), np.inf, thr)
    xv = np.where(ok, x, 0.0)
    n = np.cumsum(ok).astype(float)
    s1 = np.zeros(t)
    s2 = np.zeros(t)
    idx = np.arange(t)
    for start in range(0, t, block):
        stop = min(t, start + block)
        th = thr[start:stop]
        prior = np.sort(x[:start][ok[:start]])
        c1 = np.concatenate([[0.0], np.cumsum(prior)])
        c2 = np.concatenate([[0.0], np.cumsum(prior * prior)])
        below = np.searchsorted(prior, th, side="left")
        above = len(prior) - below
        with np.errstate(invalid="ignore", over="ignore"):
            capped = np.where(above > 0, th * above, 0.0)
            capped2 = np.where(above > 0, th * th * above, 0.0)
        s1[start:stop] = c1[below] + capped
        s2[start:stop] = c2[below] + capped2
        inside = idx[start:stop]
        tri = (inside[None, :] <= inside[:, None]) & ok[None, start:stop]
        c = np.where(tri, np.minimum(xv[None, start:stop], th[:, None]), 0.0)
        s1[start:stop] += c.sum(axis=1)
        s2[start:stop] += (c * c).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(n > 0, s1 / n, 0.0)
        m2 = np.where(n > 0, np.maximum(s2 - s1 * s1 / n, 0.0), 0.0)
    return n, mean, m2


def summary(cap: Cap, pooled: Any, threshold: float) -> dict[str, Any]:
    """What the report shows of a cap: its rule, the threshold used and how many values it cut."""
    return {
        "cap": str(cap),
        "threshold": threshold,
        "capped_results": capped_count(np.asarray(pooled, dtype=float), threshold),
    }


def compare_looks(
    values: Array, arm: Array, cap: Cap, plan: float, alpha: float = 0.05, min_n: int = 5
) -> tuple[Any, Array]:
    """The always-valid comparison of arm 1's capped mean with arm 0's after every result.

    ``values`` and ``arm`` have shape ``(results,)`` or ``(tests, results)``. Returns the
    :class:`~domain.stats.engine.Comparison` (flattened test by test) and the threshold
    at each look.
    """
    from trialbook.domain.stats import engine, sequential

    y = np.atleast_2d(np.asarray(values, dtype=float))
    a = np.atleast_2d(np.asarray(arm))
    thresholds = np.vstack([running_thresholds(cap, row) for row in y])
    arms = []
    for side in (1, 0):
        cols = [running_capped_moments(y[i], a[i] == side, thresholds[i]) for i in range(len(y))]
        n, mean, m2 = (np.concatenate([c[j] for c in cols]) for j in range(3))
        arms.append(engine.mean_arm(engine.MomentArrays(n, mean, m2)))
    cmp = engine.compare_arms(
        "continuous", arms[0], arms[1], plan, sequential.reserve_rho(alpha, plan), min_n
    )
    return cmp, thresholds.reshape(-1)
