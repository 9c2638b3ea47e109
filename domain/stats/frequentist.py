"""Fixed-horizon tests and intervals, multiplicity, data-quality checks and power.

Distributions come from ``scipy.special`` (cheap to import); the exact tests
that need ``scipy.stats`` (Fisher, McNemar's exact binomial test, Wilcoxon)
import it only when they run. Formulas written out here are ones whose
library version would cost the CLI a ``scipy.stats`` import, or that no
well-kept library provides; each is checked against scipy or statsmodels in
``tests/test_stats_frequentist.py``.

Every function returns ``None`` (not nan) where a figure is undefined.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trialbook.domain.stats.moments import CoMoments, Moments
from trialbook.domain.stats.proportions import wilson_bounds

Interval = tuple[float, float]


@dataclass(frozen=True)
class FixedResult:
    """A fixed-horizon comparison of a variant with control (valid when looked at once)."""

    method: str
    lift: float | None
    p_value: float | None
    ci: Interval | None
    relative_lift: float | None = None
    relative_ci: Interval | None = None


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def _interval(lo: float, hi: float) -> Interval | None:
    return (lo, hi) if math.isfinite(lo) and math.isfinite(hi) else None


def z_quantile(q: float) -> float:
    """The standard normal quantile."""
    from scipy.special import ndtri

    return float(ndtri(q))


def normal_two_sided_p(z: float) -> float:
    """Two-sided p-value of a standard normal statistic."""
    return math.erfc(abs(z) / math.sqrt(2.0))


def t_two_sided_p(t: float, df: float) -> float:
    """Two-sided p-value of a Student t statistic."""
    from scipy.special import stdtr

    return float(min(1.0, 2.0 * stdtr(df, -abs(t))))


# --------------------------------------------------------------------------- means


def welch(variant: Moments, control: Moments, alpha: float) -> FixedResult:
    """Welch's unequal-variance t-test of ``mean(variant) - mean(control)`` and its interval.

    The relative interval uses the delta method on ``mean_v / mean_c`` with the
    Welch degrees of freedom (as GrowthBook does).
    """
    from scipy.special import stdtrit

    method = "Welch t-test"
    if variant.n < 2 or control.n < 2:
        return FixedResult(
            method, _lift(variant, control), None, None, _rel(variant, control), None
        )
    a = variant.variance / variant.n
    b = control.variance / control.n
    diff = variant.mean - control.mean
    se = math.sqrt(a + b)
    if not (math.isfinite(se) and math.isfinite(diff)):  # values too large for doubles
        return FixedResult(method, _finite(diff), None, None, _rel(variant, control), None)
    if _degenerate(se, variant.mean, control.mean):
        return _undefined(method, diff, _rel(variant, control))
    den = a * a / (variant.n - 1) + b * b / (control.n - 1)
    df = (a + b) ** 2 / den if den > 0 else variant.n + control.n - 2.0
    tq = -float(stdtrit(df, alpha / 2))
    rel = _rel(variant, control)
    rel_ci = None
    rel_se = _ratio_se(variant.mean, control.mean, a, b)
    if rel is not None and rel_se is not None:
        rel_ci = _interval(rel - tq * rel_se, rel + tq * rel_se)
    return FixedResult(
        method,
        diff,
        _finite(t_two_sided_p(diff / se, df)),
        _interval(diff - tq * se, diff + tq * se),
        rel,
        rel_ci,
    )


def _degenerate(se: float, a: float, b: float) -> bool:
    """Whether a standard error is zero up to rounding (identical values in both arms)."""
    return se <= 1e-10 * (abs(a) + abs(b)) or se == 0


def _undefined(
    method: str, diff: float, rel: float | None, rel_ci: Interval | None = None
) -> FixedResult:
    """The result when there is no spread: the test is undefined (no p-value, no interval)."""
    return FixedResult(
        method + " (undefined: no spread in the data)", diff, None, None, rel, rel_ci
    )


def _ratio_se(mv: float, mc: float, var_v: float, var_c: float) -> float | None:
    """Delta-method standard error of ``mv / mc`` for independent estimates; None if undefined."""
    with np.errstate(all="ignore"):
        m_v, m_c = np.float64(mv), np.float64(mc)
        se = float(np.sqrt(np.float64(var_v) / m_c**2 + m_v**2 * np.float64(var_c) / m_c**4))
    return se if math.isfinite(se) else None


def _lift(variant: Moments, control: Moments) -> float | None:
    return variant.mean - control.mean if variant.n and control.n else None


def _rel(variant: Moments, control: Moments) -> float | None:
    if not (variant.n and control.n) or control.mean == 0:
        return None
    return _finite(variant.mean / control.mean - 1.0)


# --------------------------------------------------------------------------- proportions


def wilson_interval(successes: float, n: float, alpha: float) -> Interval:
    """Wilson's score interval for one proportion (Wilson 1927), at level ``1 - alpha``."""
    return wilson_bounds(successes, n, z_quantile(1 - alpha / 2))


def newcombe_interval(s1: float, n1: float, s2: float, n2: float, alpha: float) -> Interval:
    """Newcombe's hybrid score interval for ``p1 - p2`` (Newcombe 1998, method 10).

    Built from the two Wilson intervals; good coverage at small n and at 0 or 1,
    where the Wald interval fails. Same as statsmodels
    ``confint_proportions_2indep(method="newcomb")``.
    """
    p1, p2 = s1 / n1, s2 / n2
    l1, u1 = wilson_interval(s1, n1, alpha)
    l2, u2 = wilson_interval(s2, n2, alpha)
    d = p1 - p2
    lo = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    hi = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return (lo, hi)


def katz_relative_interval(
    s1: float, n1: float, s2: float, n2: float, alpha: float
) -> Interval | None:
    """Katz's log interval for the relative lift ``p1 / p2 - 1`` (Katz et al. 1978).

    The interval scipy's ``relative_risk(...).confidence_interval()`` gives; None
    when either arm has no successes.
    """
    if s1 <= 0 or s2 <= 0:
        return None
    z = z_quantile(1 - alpha / 2)
    log_rr = math.log((s1 / n1) / (s2 / n2))
    se = math.sqrt(1 / s1 - 1 / n1 + 1 / s2 - 1 / n2)
    return (math.exp(log_rr - z * se) - 1.0, math.exp(log_rr + z * se) - 1.0)


def two_proportions(s_v: int, n_v: int, s_c: int, n_c: int, alpha: float) -> FixedResult:
    """Compare two proportions: Fisher's exact test when any expected cell count is below 5,
    else the pooled two-proportion z-test; Newcombe's interval for the difference,
    Katz's for the relative lift.
    """
    if n_v == 0 or n_c == 0:
        return FixedResult("two-proportion z-test", None, None, None)
    p_v, p_c = s_v / n_v, s_c / n_c
    diff = p_v - p_c
    n = n_v + n_c
    s = s_v + s_c
    expected = [n_v * s / n, n_v * (n - s) / n, n_c * s / n, n_c * (n - s) / n]
    if min(expected) < 5:
        from scipy.stats import fisher_exact

        method = "Fisher's exact test"
        p = float(fisher_exact([[s_v, n_v - s_v], [s_c, n_c - s_c]]).pvalue)
    else:
        method = "two-proportion z-test (pooled)"
        pooled = s / n
        se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_v + 1 / n_c))
        p = normal_two_sided_p(diff / se0) if se0 > 0 else 1.0
    rel = p_v / p_c - 1.0 if p_c > 0 else None
    return FixedResult(
        method,
        diff,
        min(1.0, p),
        newcombe_interval(s_v, n_v, s_c, n_c, alpha),
        rel,
        katz_relative_interval(s_v, n_v, s_c, n_c, alpha),
    )


# --------------------------------------------------------------------------- pooled ratios


def ratio_delta(co: CoMoments) -> tuple[float, float] | None:
    """The pooled ratio ``sum(x) / sum(y)`` and its delta-method variance.

    ``Var(R) ≈ (var_x - 2 R cov_xy + R^2 var_y) / (n mean_y^2)`` (the first-order
    Taylor expansion; e.g. Deng, Knoblich, Lu 2018, "Applying the delta method in
    metric analytics", KDD). None when the denominator's mean is zero or n < 2.
    """
    if co.n < 2 or co.mean_y == 0:
        return None
    r = co.mean_x / co.mean_y
    var = (co.x.variance - 2 * r * co.covariance + r * r * co.y.variance) / (co.n * co.mean_y**2)
    return r, max(var, 0.0)


def ratio_difference(variant: CoMoments, control: CoMoments, alpha: float) -> FixedResult:
    """Delta-method z-test of the difference of two independent pooled ratios."""
    method = "delta method (pooled ratio)"
    rv, rc = ratio_delta(variant), ratio_delta(control)
    if rv is None or rc is None:
        return FixedResult(method, None, None, None)
    (r1, v1), (r0, v0) = rv, rc
    diff = r1 - r0
    se = math.sqrt(v1 + v0)
    z = z_quantile(1 - alpha / 2)
    rel = _finite(r1 / r0 - 1.0) if r0 != 0 else None
    rel_ci = None
    rel_se = _ratio_se(r1, r0, v1, v0)
    if rel is not None and rel_se is not None:
        rel_ci = _interval(rel - z * rel_se, rel + z * rel_se)
    if _degenerate(se, r1, r0):
        return _undefined(method, diff, rel, rel_ci)
    if not math.isfinite(se):
        return FixedResult(method, _finite(diff), None, None, rel, rel_ci)
    return FixedResult(
        method,
        diff,
        normal_two_sided_p(diff / se),
        _interval(diff - z * se, diff + z * se),
        rel,
        rel_ci,
    )


# --------------------------------------------------------------------------- paired


def paired_t(diffs: CoMoments | Moments, alpha: float) -> FixedResult:
    """Paired t-test on per-case differences.

    Takes either the Moments of the differences, or the CoMoments of
    (variant, control) per-case values (then ``d = x - y``).
    """
    from scipy.special import stdtrit

    if isinstance(diffs, CoMoments):
        n = diffs.n
        mean = diffs.mean_x - diffs.mean_y
        var = max(diffs.x.variance + diffs.y.variance - 2 * diffs.covariance, 0.0)
    else:
        n, mean, var = diffs.n, diffs.mean, diffs.variance
    method = "paired t-test"
    if n < 2:
        return FixedResult(method, mean if n else None, None, None)
    se = math.sqrt(var / n)
    scale = abs(diffs.mean_x) + abs(diffs.mean_y) if isinstance(diffs, CoMoments) else abs(mean)
    if _degenerate(se, scale, 0.0):
        return _undefined(method, mean, None)
    if not (math.isfinite(se) and math.isfinite(mean)):
        return FixedResult(method, _finite(mean), None, None)
    tq = -float(stdtrit(n - 1, alpha / 2))
    return FixedResult(
        method, mean, t_two_sided_p(mean / se, n - 1), _interval(mean - tq * se, mean + tq * se)
    )


def mcnemar_exact(b: int, c: int) -> float:
    """McNemar's exact test: the two-sided binomial (sign) test on the discordant pairs.

    ``b`` pairs where only the variant passed, ``c`` where only control passed.
    Same as statsmodels ``mcnemar(table, exact=True)``.
    """
    if b + c == 0:
        return 1.0
    try:
        from scipy.special import _ufuncs
    except ImportError:  # pragma: no cover - a scipy without these private names
        _ufuncs = None
    if getattr(_ufuncs, "_binom_sf", None) is None:  # pragma: no cover
        from scipy.stats import binomtest

        return float(binomtest(b, b + c, 0.5).pvalue)
    return _binomtest_half(b, b + c, _ufuncs)


def _binomtest_half(k: int, n: int, u: Any) -> float:
    """``scipy.stats.binomtest(k, n, 0.5).pvalue`` (two-sided), step for step, without importing
    ``scipy.stats`` (~0.7 s): the same boost functions (``scipy.special._ufuncs._binom_*``,
    which ``scipy.stats.binom`` calls), clipped to [0, 1] as its wrappers clip them, and the
    same search for the other tail. ``tests/test_stats_exact.py`` checks it equals scipy's."""
    p = 0.5

    def pmf(x: float) -> float:
        if not (0 <= x <= n and math.floor(x) == x):
            return 0.0
        return min(max(float(u._binom_pmf(x, n, p)), 0.0), 1.0)

    def cdf(x: float) -> float:
        if x >= n:
            return 1.0
        if x < 0:
            return 0.0
        return min(max(float(u._binom_cdf(math.floor(x), n, p)), 0.0), 1.0)

    def sf(x: float) -> float:
        if x < 0:
            return 1.0
        if x >= n:
            return 0.0
        return min(max(float(u._binom_sf(math.floor(x), n, p)), 0.0), 1.0)

    def search(a: Any, d: float, lo: float, hi: float) -> float:
        while lo < hi:
            mid = lo + (hi - lo) // 2
            midval = a(mid)
            if midval < d:
                lo = mid + 1
            elif midval > d:
                hi = mid - 1
            else:
                return mid
        return lo if a(lo) <= d else lo - 1

    d = pmf(k)
    rerr = 1 + 1e-7
    if k == p * n:
        return 1.0
    if k < p * n:
        ix = search(lambda x1: -pmf(x1), -d * rerr, float(math.ceil(p * n)), n)
        y = n - ix + int(d * rerr == pmf(ix))
        pval = cdf(k) + sf(n - y)
    else:
        ix = search(pmf, d * rerr, 0, float(math.floor(p * n)))
        y = ix + 1
        pval = cdf(y - 1) + sf(k - 1)
    return min(1.0, pval)


def wilcoxon_p(diffs: Any) -> float | None:
    """Two-sided p-value of the Wilcoxon signed-rank test on per-case differences (a sequence
    or a numpy array).

    Zero differences are dropped (Wilcoxon's original treatment); None with fewer
    than two non-zero differences.
    """
    if hasattr(diffs, "dtype"):  # a numpy array: the same values, filtered without a list
        nonzero = diffs[diffs != 0].tolist()
    else:
        nonzero = [d for d in diffs if d != 0]
    if len(nonzero) < 2:
        return None
    if len(nonzero) > 50:  # scipy's normal approximation, without importing scipy.stats
        return _finite(_wilcoxon_asymptotic(nonzero))
    from scipy.stats import wilcoxon

    with warnings.catch_warnings():
        # scipy warns when it falls back to the normal approximation (ties); the p-value is still right
        warnings.simplefilter("ignore")
        p = float(wilcoxon(nonzero).pvalue)
    return _finite(p)


def _wilcoxon_asymptotic(nonzero: Sequence[float]) -> float:
    """``scipy.stats.wilcoxon(nonzero).pvalue`` for more than 50 non-zero differences, where
    scipy takes its normal approximation (no continuity correction, ties corrected): the same
    operations on the same arrays (its ``_rankdata`` and ``_wilcoxon_statistic``), so the same
    float, without the ~0.7 s import of ``scipy.stats``. Checked against scipy in
    ``tests/test_stats_exact.py``."""
    import numpy as np
    from scipy.special import ndtr

    d = np.asarray(nonzero, dtype=np.float64)
    size = d.shape[-1]
    count = np.float64(size)
    x = np.abs(d)
    j = np.argsort(x, axis=-1, stable=True)
    y = np.take_along_axis(x, j, axis=-1)
    first = np.concatenate([np.ones((1,), dtype=bool), y[:-1] != y[1:]])
    indices = np.arange(size)[first]
    counts = np.diff(indices, append=np.asarray([size], dtype=indices.dtype))
    ordinal = np.arange(1, size + 1, dtype=np.float64)
    ranks = np.repeat(ordinal[first] + (counts.astype(np.float64) - 1) / 2, counts)
    r = np.empty(j.shape, dtype=np.float64)
    np.put_along_axis(r, j, ranks, axis=-1)
    t = np.zeros(size, dtype=np.float64)
    t[first] = counts.astype(np.float64)
    r_plus = np.sum((d > 0).astype(np.float64) * r, axis=-1)
    mn = count * (count + 1.0) * 0.25
    se = count * (count + 1.0) * (2.0 * count + 1.0)
    tie_correct = np.sum(t**3 - t, axis=-1)
    se = np.sqrt((se - tie_correct / 2) / 24)
    z = (r_plus - mn) / se
    return float(2 * ndtr(-np.abs(z)))


# --------------------------------------------------------------------------- multiplicity


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979); same as statsmodels ``multipletests(method="holm")``."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    out = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        out[i] = running
    return out


# --------------------------------------------------------------------------- data quality


def _cochran(expected: np.ndarray) -> np.ndarray:
    """Cochran's rule along axis 0: every expected count ≥ 1 and at most 20 % of them below 5."""
    return (expected.min(axis=0) >= 1) & ((expected < 5).sum(axis=0) <= 0.2 * expected.shape[0])


def srm_p(counts: Any, shares: Sequence[float]) -> np.ndarray:
    """Sample-ratio mismatch: chi-square goodness-of-fit p-value of counts against planned shares.

    ``counts`` has one row per variant (any trailing shape: one column per look).
    nan where the chi-square approximation is unreliable (Cochran's rule fails).
    Same as ``scipy.stats.chisquare(counts, total * shares)``.
    """
    from scipy.special import chdtrc

    obs = np.asarray(counts, dtype=float)
    w = np.asarray(shares, dtype=float) / float(np.sum(shares))
    w = w.reshape((-1,) + (1,) * (obs.ndim - 1))
    expected = obs.sum(axis=0) * w
    ok = _cochran(expected)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = ((obs - expected) ** 2 / expected).sum(axis=0)
    return np.where(ok, chdtrc(obs.shape[0] - 1, stat), np.nan)


def homogeneity_p(hits: Any, totals: Any) -> np.ndarray:
    """Pearson chi-square p-value that the share of ``hits`` is the same in every group.

    For the imbalance of missing or failed results between variants; rows are
    groups (any trailing shape). nan when there is nothing to compare or Cochran's
    rule fails. Same as ``scipy.stats.chi2_contingency(table, correction=False)``.
    """
    from scipy.special import chdtrc

    h = np.asarray(hits, dtype=float)
    t = np.asarray(totals, dtype=float)
    n = t.sum(axis=0)
    hs = h.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        e1 = t * (hs / n)
        e0 = t * ((n - hs) / n)
        expected = np.concatenate([e1, e0], axis=0)
        observed = np.concatenate([h, t - h], axis=0)
        stat = ((observed - expected) ** 2 / expected).sum(axis=0)
    ok = (hs > 0) & (hs < n) & _cochran(np.nan_to_num(expected, nan=0.0))
    return np.where(ok, chdtrc(h.shape[0] - 1, stat), np.nan)


def multinomial_sequential_p(
    counts: Any, shares: Sequence[float], concentration: float = 100.0
) -> np.ndarray:
    """Always-valid p-value that ``counts`` follow the planned ``shares`` (Lindon & Malek 2020).

    The reciprocal of the Dirichlet-multinomial Bayes factor against the null
    multinomial, with prior ``Dirichlet(concentration * shares)``:
    ``BF = [Gamma(c) / Gamma(c + n)] prod_i [Gamma(c w_i + x_i) / Gamma(c w_i)] / prod_i w_i^{x_i}``.
    The Bayes factor is a nonnegative martingale under the null, so by Ville's
    inequality the chance that ``p <= a`` at *any* look is at most ``a``: it may be
    re-checked after every result (unlike a chi-square test at a fixed threshold).
    Lindon, Malek (2020), "Anytime-valid inference for multinomial count data"
    (arXiv:2011.03567); Optimizely's ``ssrm`` and ``savvi`` use ``concentration = 100``.
    ``counts`` has one row per category (any trailing shape: one column per look).
    """
    from scipy.special import gammaln

    x = np.asarray(counts, dtype=float)
    w = np.asarray(shares, dtype=float) / float(np.sum(shares))
    w = w.reshape((-1,) + (1,) * (x.ndim - 1))
    a = concentration * w
    n = x.sum(axis=0)
    log_bf = (
        gammaln(concentration)
        - gammaln(concentration + n)
        + (gammaln(a + x) - gammaln(a)).sum(axis=0)
        - (x * np.log(w)).sum(axis=0)
    )
    with np.errstate(over="ignore"):
        return np.minimum(1.0, np.exp(-log_bf))


# --------------------------------------------------------------------------- power


def required_n_fixed(delta: float, var_sum: float, alpha: float, power: float) -> float | None:
    """Results per arm a fixed-horizon two-sided z-test needs to detect ``delta`` with ``power``.

    ``n = (z_{1-alpha/2} + z_{power})^2 * (var_v + var_c) / delta^2``
    (the textbook normal formula; statsmodels ``NormalIndPower`` with
    ``effect_size = delta / sqrt(var_sum / 2)`` gives the same up to the
    negligible far tail). ``var_sum`` is the sum of both arms' per-result variances
    (for pairs: the variance of one difference, and n counts pairs).
    """
    if not (delta and var_sum > 0 and math.isfinite(var_sum)):
        return None
    z = z_quantile(1 - alpha / 2) + z_quantile(power)
    return z * z * var_sum / (delta * delta)


def required_n_sequential(
    delta: float, var_sum: float, alpha: float, power: float, rho_: float, arms: int = 2
) -> float | None:
    """Results per arm for the always-valid test to cross its boundary with about ``power``.

    The smallest n with ``|delta| sqrt(n / var_sum) >= z_boundary(arms * n) + z_{power}``:
    at that n the statistic sits above the boundary with probability ``power``
    under the alternative (so the chance to have stopped by then is at least that).
    ``arms`` is 2 for two independent arms (the boundary counts both), 1 for pairs.
    """
    from trialbook.domain.stats.sequential import z_boundary

    if not (delta and var_sum > 0 and math.isfinite(var_sum)):
        return None
    zp = z_quantile(power)
    sd = math.sqrt(var_sum)

    def short(n: float) -> bool:
        return abs(delta) * math.sqrt(n) / sd < float(z_boundary(arms * n, alpha, rho_)) + zp

    lo, hi = 1.0, 2.0
    while short(hi):
        lo, hi = hi, hi * 2
        if hi > 1e15:
            return None
    for _ in range(60):
        mid = (lo + hi) / 2
        if short(mid):
            lo = mid
        else:
            hi = mid
    return hi


def mde_fixed(se: float, alpha: float, power: float) -> float | None:
    """The smallest effect a fixed-horizon test at this standard error detects with ``power``."""
    if not (se > 0 and math.isfinite(se)):
        return None
    return (z_quantile(1 - alpha / 2) + z_quantile(power)) * se
