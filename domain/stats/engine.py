"""The decision rule, vectorised over looks.

Everything the recommendation depends on is computed here from arrays whose
last axis is "look" (one column per point in time). ``analyze`` evaluates the
current data (one look, or every look of the test when it has the per-result
rows), ``history`` one look per recorded result, and the simulations in the
tests and in ``bench/`` millions of looks at once, all through :func:`evaluate`,
so they can never disagree.

Per comparison of a variant with control, the statistic is:

- binary: difference of proportions; its standard error uses Agresti–Caffo
  adjusted proportions ``(s + 1) / (n + 2)`` (Agresti & Caffo 2000), which keeps
  it positive at 0 % or 100 % and makes small samples conservative;
- continuous and per-session rates: difference of means with Welch's standard
  error and degrees of freedom, each arm's variance counting one extra result at
  the two arms' pooled mean (the continuous analogue of Agresti–Caffo: data with no
  spread give a finite, not an infinite, statistic, and a tiny change in the data a
  tiny change in the answer); the t statistic is mapped to the normal scale through
  its tail probability before the always-valid boundary is applied;
- pooled ratios: difference of ratios with delta-method standard errors;
- paired (when results share case ids across the two variants): the mean of
  per-case differences of per-case means (clustering repeated results of a
  case), with the paired standard error and ``pairs - 1`` degrees of freedom; one
  extra discordant pair each way when the per-case values are single 0/1 results,
  one extra difference of 0 otherwise (per-case means are continuous).

The always-valid p-value and interval come from the planned design of
:mod:`domain.stats.sequential` (``design_z_boundary``, ``design_p_value``), on a
clock of results (both arms; for pairs, the results in the pairs) against the
comparison's planned share of ``--expected-results``. When a test's looks are
known (``StepData.paths``), intervals are the **running intersection** of every
look's interval and p-values the running minimum, per direction: a confidence
sequence stays one when intersected (Howard et al. 2021, §6), and the calls it
supports stick. Holm's procedure adjusts the p-values across variants × goal
metrics. The data-quality checks are sequential too (Lindon & Malek 2020).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from trialbook.domain.metrics import Metric, metric_named
from trialbook.domain.stats import sequential
from trialbook.domain.stats.model import AnalysisInput, Effect, ResultRow

if TYPE_CHECKING:
    from trialbook.domain.stats.moments import CoMoments, Moments

DECISIONS = ("continue", "ship", "keep_control", "no_difference", "blocked")
CONTINUE, SHIP, KEEP_CONTROL, NO_DIFFERENCE, BLOCKED = range(5)
GUARD_OK, GUARD_UNCLEAR, GUARD_BROKEN = 0, 1, 2
#: a paired analysis replaces the unpaired one when at least this share of both arms' results is
#: paired (and at least ``min_results`` pairs exist). Method 2.1: nine in ten, so the paired
#: analysis leaves out at most a tenth of the results. Method 2.0 used half
#: (:data:`PAIRED_COVERAGE_2_0`): near it the paired analysis dropped half the results, and one
#: result that completed a pair switched a test to a much wider interval (issue #24).
PAIRED_COVERAGE = 0.9
#: the share of method 2.0, kept so decisions recorded with it are audited with its rule
PAIRED_COVERAGE_2_0 = 0.5
#: the Dirichlet prior concentration of the sequential sample-ratio and imbalance tests
SRM_CONCENTRATION = 100.0

Array = np.ndarray
Paths = tuple[int, int] | None


# --------------------------------------------------------------------------- per-arm statistics


@dataclass
class MomentArrays:
    """Moments (n, mean, M2) of one arm, one entry per look."""

    n: Array
    mean: Array
    m2: Array


@dataclass
class CoMomentArrays:
    """Co-moments of (x, y) pairs, one entry per look."""

    n: Array
    mean_x: Array
    mean_y: Array
    m2_x: Array
    m2_y: Array
    c_xy: Array


@dataclass
class PairArrays(CoMomentArrays):
    """Co-moments of per-case (variant mean, control mean) over the cases both variants have.

    ``cover_x`` / ``cover_y``: how many of the variant's / control's results
    belong to those cases; ``repeated``: whether some case has several results
    in one variant (then per-case means are compared: clustering by case).
    """

    cover_x: Array
    cover_y: Array
    repeated: Array


@dataclass
class Arm:
    """One arm's estimate and variances, one entry per look (nan where undefined).

    ``m2`` is the sum of squared deviations of the values (nan for proportions and
    pooled ratios, whose variances come from their own formulas).
    """

    n: Array
    est: Array
    var_est: Array  # variance of the estimate
    var_obs: Array  # variance of one result (for power)
    m2: Array


def _f(x: Any) -> Array:
    return np.asarray(x, dtype=float)


def binary_arm(m: MomentArrays) -> Arm:
    """A success rate; the variance uses the Agresti–Caffo adjusted proportion."""
    n = _f(m.n)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_adj = (m.mean * n + 1.0) / (n + 2.0)
        var_obs = p_adj * (1.0 - p_adj)
        est = np.where(n > 0, m.mean, np.nan)
    nan = np.full(np.shape(n), np.nan)
    return Arm(
        n,
        est,
        np.where(n > 0, var_obs / (n + 2.0), np.nan),
        np.where(n > 0, var_obs, np.nan),
        nan,
    )


def mean_arm(m: MomentArrays) -> Arm:
    """A mean of per-result values (continuous metrics and per-session rates)."""
    n = _f(m.n)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        m2 = np.maximum(_f(m.m2), 0.0)
        var_obs = np.where(n >= 2, m2 / (n - 1.0), np.nan)
        return Arm(
            n, np.where(n > 0, m.mean, np.nan), var_obs / n, var_obs, np.where(n > 0, m2, np.nan)
        )


def ratio_arm(c: CoMomentArrays) -> Arm:
    """A pooled ratio ``sum(x) / sum(y)`` with its delta-method variance (see ``frequentist.ratio_delta``)."""
    n = _f(c.n)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ok = (n >= 1) & (c.mean_y != 0)
        r = np.where(ok, c.mean_x / c.mean_y, np.nan)
        vx = np.maximum(c.m2_x, 0.0) / (n - 1.0)
        vy = np.maximum(c.m2_y, 0.0) / (n - 1.0)
        cov = c.c_xy / (n - 1.0)
        var_obs = np.maximum(vx - 2 * r * cov + r * r * vy, 0.0) / (c.mean_y * c.mean_y)
        var_obs = np.where(ok & (n >= 2), var_obs, np.nan)
        return Arm(n, r, var_obs / n, var_obs, np.full(np.shape(n), np.nan))


def arm_of(metric: Metric, stats: MomentArrays | CoMomentArrays) -> Arm:
    """The arm statistics of ``metric`` from its moments (co-moments for ratios)."""
    if metric.kind == "ratio":
        assert isinstance(stats, CoMomentArrays)
        return ratio_arm(stats)
    assert isinstance(stats, MomentArrays)
    return binary_arm(stats) if metric.kind == "binary" else mean_arm(stats)


# --------------------------------------------------------------------------- running (path) operations


def _along(x: Array, paths: Paths, op: Any) -> Array:
    """``op.accumulate`` along each path's looks (identity when the looks are not a path)."""
    if paths is None:
        return x
    return op.accumulate(np.asarray(x).reshape(paths), axis=1).reshape(-1)


def running_max(x: Array, paths: Paths) -> Array:
    """Running maximum along each path, ignoring nan (nan until the first number)."""
    return _along(x, paths, np.fmax)


def running_min(x: Array, paths: Paths) -> Array:
    """Running minimum along each path, ignoring nan."""
    return _along(x, paths, np.fmin)


def running_any(x: Array, paths: Paths) -> Array:
    """Whether ``x`` held at this look or any earlier one of its path."""
    return _along(np.asarray(x, dtype=bool), paths, np.logical_or)


# --------------------------------------------------------------------------- comparisons


@dataclass
class Comparison:
    """A variant against control, one entry per look.

    ``n_obs`` is the clock the boundary runs on (results in both arms, or in the
    pairs), ``horizon`` the results planned for this comparison; ``z`` the statistic
    on the normal scale; ``p`` the always-valid p-value of this look alone (1 where
    not ``valid``). ``rel_base_se`` is the standard error of control's estimate (the
    relative lift is shown only where control's interval lies above zero).
    ``spread`` is false where neither arm's values vary at all.
    """

    n_obs: Array
    diff: Array
    se: Array
    df: Array
    z: Array
    p: Array
    rel: Array
    rel_se: Array
    rel_base: Array
    rel_base_se: Array
    valid: Array
    paired: Array
    horizon: Array
    rho: Array
    n_v: Array
    n_c: Array
    spread: Array

    def multiplier(self, level: float) -> Array:
        """The half-width of the level-``level`` interval in standard errors (t-scaled)."""
        from scipy.special import ndtr, stdtrit

        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            zb = _design_boundary(self.n_obs, self.horizon, level, self.rho)
            return -stdtrit(self.df, ndtr(-zb))

    def bounds(self, level: float) -> tuple[Array, Array, Array, Array]:
        """This look's always-valid interval at ``level`` (an alpha) for the lift and the relative lift.

        The relative interval is nan where control's own interval at that level
        reaches zero or below (a relative change from "maybe nothing" means nothing).
        """
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            tb = self.multiplier(level)
            half = tb * self.se
            rhalf = tb * self.rel_se
            rel_ok = self.valid & self.rel_meaningful(tb)
            lo = np.where(self.valid, self.diff - half, np.nan)
            hi = np.where(self.valid, self.diff + half, np.nan)
            rlo = np.where(rel_ok, self.rel - rhalf, np.nan)
            rhi = np.where(rel_ok, self.rel + rhalf, np.nan)
        return lo, hi, rlo, rhi

    def rel_meaningful(self, tb: Array) -> Array:
        """Where the relative lift means something: control's estimate minus ``tb`` standard errors is above 0."""
        with np.errstate(invalid="ignore"):
            return (
                np.isfinite(self.rel)
                & (self.rel_base > 0)
                & (self.rel_base - tb * self.rel_base_se > 0)
            )


def _design_boundary(n: Array, horizon: Array, level: float, rho: Array) -> Array:
    # rho differs between comparisons only through their horizons: few distinct values
    n = np.asarray(n, dtype=float)
    out = np.full(np.shape(n), np.nan)
    horizon = np.broadcast_to(horizon, np.shape(n))
    rho = np.broadcast_to(rho, np.shape(n))
    for r in np.unique(rho[np.isfinite(rho)]):
        sel = rho == r
        out[sel] = sequential.design_z_boundary(n[sel], horizon[sel], level, float(r))
    return out


def _design_p(z: Array, n: Array, horizon: Array, rho: Array) -> Array:
    n = np.asarray(n, dtype=float)
    out = np.ones(np.shape(n))
    horizon = np.broadcast_to(horizon, np.shape(n))
    rho = np.broadcast_to(rho, np.shape(n))
    z = np.broadcast_to(z, np.shape(n))
    for r in np.unique(rho[np.isfinite(rho)]):
        sel = rho == r
        out[sel] = sequential.design_p_value(z[sel], n[sel], horizon[sel], float(r))
    return out


def _finish(
    diff: Array,
    var: Array,
    df: Array,
    n_obs: Array,
    rel: Array,
    rel_var: Array,
    rel_base: Array,
    rel_base_var: Array,
    valid: Array,
    horizon: float,
    rho: float,
    paired: bool,
    n_v: Array,
    n_c: Array,
    scale: Array,
    spread: Array,
) -> Comparison:
    from scipy.special import ndtri, stdtr

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        se = np.sqrt(np.maximum(var, 0.0))
        # identical values in both arms and the same mean (up to rounding): nothing to compare
        degenerate = se <= 1e-10 * scale
        t = np.abs(diff) / se
        z = -ndtri(stdtr(df, -t))
        valid = valid & ~degenerate & np.isfinite(diff) & np.isfinite(se) & ~np.isnan(z)
        shape = np.shape(diff)
        p = np.where(valid, _design_p(z, n_obs, np.full(shape, horizon), np.full(shape, rho)), 1.0)
        rel_se = np.sqrt(np.maximum(rel_var, 0.0))
        rel_base_se = np.sqrt(np.maximum(rel_base_var, 0.0))
    return Comparison(
        n_obs=n_obs,
        diff=diff,
        se=np.where(degenerate, 0.0, se),
        df=df,
        z=np.where(valid, z, 0.0),
        p=p,
        rel=rel,
        rel_se=rel_se,
        rel_base=rel_base,
        rel_base_se=rel_base_se,
        valid=valid,
        paired=np.full(shape, paired),
        horizon=np.full(shape, float(horizon)),
        rho=np.full(shape, rho),
        n_v=n_v,
        n_c=n_c,
        spread=spread,
    )


def compare_arms(kind: str, v: Arm, c: Arm, horizon: float, rho: float, min_n: int) -> Comparison:
    """Variant ``v`` against control ``c`` from independent arms."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        diff = v.est - c.est
        a, b = v.var_est, c.var_est
        if kind in ("continuous", "rate"):
            # each arm's variance counts one more result at the pooled mean of both arms
            pooled = (v.n * v.est + c.n * c.est) / (v.n + c.n)
            a = (v.m2 + v.n / (v.n + 1.0) * (v.est - pooled) ** 2) / (v.n * v.n)
            b = (c.m2 + c.n / (c.n + 1.0) * (c.est - pooled) ** 2) / (c.n * c.n)
            var = a + b
            den = a * a / (v.n - 1.0) + b * b / (c.n - 1.0)
            df = np.where(den > 0, var * var / den, v.n + c.n - 2.0)
            spread = (v.m2 > 0) | (c.m2 > 0)
        else:
            var = a + b
            df = np.full(np.shape(diff), np.inf)
            spread = np.ones(np.shape(diff), dtype=bool)
        rel = v.est / c.est - 1.0
        rel_var = a / c.est**2 + v.est**2 * b / c.est**4
        rel = np.where(c.est != 0, rel, np.nan)
        valid = (v.n >= min_n) & (c.n >= min_n) & np.isfinite(var) & (df > 0)
        scale = np.abs(v.est) + np.abs(c.est) + 1e-300
    return _finish(
        diff, var, df, v.n + c.n, rel, rel_var, c.est, b, valid, horizon, rho, False, v.n, c.n,
        scale, spread,
    )  # fmt: skip


def compare_pairs(
    p: PairArrays, horizon: float, rho: float, min_n: int, binary: bool = False
) -> Comparison:
    """Variant against control from per-case pairs (x = variant, y = control).

    The clock is the number of results in the pairs (``cover_x + cover_y``): with
    repeated cases the information grows more slowly than that, which only makes the
    boundary conservative. The variance of the mean difference counts one pseudo-pair
    more: for single 0/1 results per case, one discordant pair each way (d = +1 and
    d = -1, in the spirit of Agresti & Min 2005); otherwise one difference of 0. Either
    keeps a run of identical differences from looking infinitely certain.
    """
    k = _f(p.n)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        vx = np.maximum(p.m2_x, 0.0) / (k - 1.0)
        vy = np.maximum(p.m2_y, 0.0) / (k - 1.0)
        cov = p.c_xy / (k - 1.0)
        diff = p.mean_x - p.mean_y
        m2_d = np.maximum(p.m2_x + p.m2_y - 2 * p.c_xy, 0.0)
        # Chan's merge with the pseudo-sample {0} (mean 0, M2 0)
        var = (m2_d + diff * diff * k / (k + 1.0)) / (k * k)
        if binary:
            # Chan's merge with the pseudo-sample {+1, -1} (mean 0, M2 2)
            m2_adj = m2_d + 2.0 + diff * diff * k * 2.0 / (k + 2.0)
            var = np.where(p.repeated, var, m2_adj / ((k + 1.0) * (k + 2.0)))
        r = p.mean_x / p.mean_y
        rel = np.where(p.mean_y != 0, r - 1.0, np.nan)
        rel_var = np.maximum(vx - 2 * r * cov + r * r * vy, 0.0) / (k * p.mean_y**2)
        valid = k >= min_n
        scale = np.abs(p.mean_x) + np.abs(p.mean_y) + 1e-300
        spread = m2_d > 0
        base_var = vy / k
    n_obs = _f(p.cover_x) + _f(p.cover_y)
    return _finish(
        diff, var, k - 1.0, n_obs, rel, rel_var, p.mean_y, base_var, valid, horizon, rho, True,
        k, k, scale, spread,
    )  # fmt: skip


@dataclass
class Chosen:
    """A comparison that is ``b`` where ``use_b`` and ``a`` elsewhere (paired where pairs suffice).

    Running intersections are taken within each of ``a`` and ``b`` (two confidence
    sequences are not mixed look by look), then chosen.
    """

    a: Comparison
    b: Comparison
    use_b: Array


def choose(use_b: Array, a: Comparison, b: Comparison) -> Comparison:
    """Field by field: ``b`` where ``use_b``, else ``a``."""
    return Comparison(
        **{f.name: np.where(use_b, getattr(b, f.name), getattr(a, f.name)) for f in fields(a)}
    )


def running_bounds(
    cmp: Comparison, level: float, paths: Paths, chosen: Chosen | None = None
) -> tuple[Array, Array, Array, Array]:
    """The interval at ``level`` intersected over every look so far (this look's alone without paths).

    An empty intersection (the looks' intervals do not overlap) gives ``lo > hi``.
    """
    if chosen is not None:
        a = running_bounds(chosen.a, level, paths)
        b = running_bounds(chosen.b, level, paths)
        return tuple(np.where(chosen.use_b, y, x) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]
    lo, hi, rlo, rhi = cmp.bounds(level)
    return (
        running_max(lo, paths),
        running_min(hi, paths),
        running_max(rlo, paths),
        running_min(rhi, paths),
    )


def running_p(
    cmp: Comparison, lower_is_better: bool, paths: Paths, chosen: Chosen | None = None
) -> tuple[Array, Array]:
    """Running minimum of the p-value on each side: ``(p_good, p_bad)``.

    ``p_good`` counts looks whose difference went the good way, ``p_bad`` the
    others; each is an always-valid p-value for "no difference".
    """
    if chosen is not None:
        ga, ba = running_p(chosen.a, lower_is_better, paths)
        gb, bb = running_p(chosen.b, lower_is_better, paths)
        return np.where(chosen.use_b, gb, ga), np.where(chosen.use_b, bb, ba)
    with np.errstate(invalid="ignore"):
        good = cmp.diff < 0 if lower_is_better else cmp.diff > 0
    p = np.where(cmp.valid, cmp.p, 1.0)
    return running_min(np.where(good, p, 1.0), paths), running_min(np.where(good, 1.0, p), paths)


def holm_arrays(p: Array) -> Array:
    """Holm-adjusted p-values along axis 0 (hypotheses), independently per look."""
    m = p.shape[0]
    order = np.argsort(p, axis=0, kind="stable")
    sorted_p = np.take_along_axis(p, order, axis=0)
    factors = (m - np.arange(m)).reshape((m,) + (1,) * (p.ndim - 1))
    adj = np.maximum.accumulate(np.minimum(1.0, sorted_p * factors), axis=0)
    out = np.empty_like(adj)
    np.put_along_axis(out, order, adj, axis=0)
    return out


# --------------------------------------------------------------------------- the specification


@dataclass(frozen=True)
class Guard:
    """A guardrail resolved against the metric catalogue."""

    metric: Metric
    limit: float
    relative: bool


@dataclass(frozen=True)
class Spec:
    """The settings of an analysis, resolved (metrics looked up, horizons and rho computed).

    ``horizons[i]``: the results planned for the comparison of variant ``i`` with
    control (its arms' share of ``tuning``, the expected total); ``rhos[i]`` the
    reserve mixture's parameter for it.
    """

    names: tuple[str, ...]
    control: int
    primary: Metric
    goals: tuple[Metric, ...]
    guards: tuple[Guard, ...]
    shares: tuple[float, ...]
    alpha: float
    tuning: float
    horizons: dict[int, float]
    rhos: dict[int, float]
    margin: Effect | None
    min_n: int
    alert_p: float
    #: caps recorded at ``ab create`` (``domain.stats.capping.Cap``) and ``--covariate``: metrics
    #: analysed this way take their arms from the rows (``domain.stats.row_arms``)
    caps: tuple[Any, ...] = ()
    covariate: str | None = None
    #: the share of each arm's results the pairs must cover to be used (see PAIRED_COVERAGE)
    paired_coverage: float = PAIRED_COVERAGE

    @property
    def others(self) -> list[int]:
        """Indices of the non-control variants."""
        return [i for i in range(len(self.names)) if i != self.control]

    @property
    def family(self) -> int:
        """Number of hypotheses in the Holm family: variants × goal metrics."""
        return len(self.others) * len(self.goals)

    @property
    def tracked(self) -> tuple[Metric, ...]:
        """Every metric the decision reads: goal metrics then guardrail metrics, once each."""
        seen: dict[str, Metric] = {}
        for m in (*self.goals, *(g.metric for g in self.guards)):
            seen.setdefault(m.name, m)
        return tuple(seen.values())


def spec_of(inp: AnalysisInput) -> Spec:
    """Resolve an :class:`AnalysisInput`'s settings."""
    lib = dict(inp.lower_is_better)
    names = inp.names
    goal_names = list(dict.fromkeys((inp.metric, *inp.secondary_metrics)))
    split = inp.split or dict.fromkeys(names, 1.0)
    shares = tuple(float(split[n]) for n in names)
    control = names.index(inp.control)
    total = sum(shares)
    horizons = {
        i: inp.tuning * (shares[i] + shares[control]) / total
        for i in range(len(names))
        if i != control
    }
    return Spec(
        names=names,
        control=control,
        primary=metric_named(inp.metric, lib),
        goals=tuple(metric_named(m, lib) for m in goal_names),
        guards=tuple(
            Guard(metric_named(g.metric, lib), float(g.limit), bool(g.relative))
            for g in inp.guardrails
        ),
        shares=shares,
        alpha=inp.alpha,
        tuning=inp.tuning,
        horizons=horizons,
        rhos={i: sequential.reserve_rho(inp.alpha, h) for i, h in horizons.items()},
        margin=inp.equivalence_margin or inp.mde,
        min_n=inp.min_results,
        alert_p=inp.alert_p,
        caps=tuple(inp.caps),
        covariate=inp.covariate,
        paired_coverage=PAIRED_COVERAGE_2_0 if inp.method_version == "2.0" else PAIRED_COVERAGE,
    )


# --------------------------------------------------------------------------- step data


@dataclass
class StepData:
    """Per-look inputs of the decision rule.

    ``results`` and ``failed``: arrays (variants × looks). ``stats``: metric name →
    per-variant moments (co-moments for ratios). ``pairs``: metric name →
    variant index → :class:`PairArrays` (only where cases pair up). ``paths``:
    ``(tests, looks per test)`` when the looks are the successive looks of tests
    (flattened test by test), so that intervals are intersected along them; None
    when every look stands alone.
    """

    results: Array
    failed: Array
    stats: dict[str, list[MomentArrays | CoMomentArrays]]
    pairs: dict[str, dict[int, PairArrays]]
    paths: Paths = None
    #: metric name -> per-variant arms computed from the rows (quantiles, caps, CUPED), used in
    #: place of the moments'; ``horizon_scale``: metric -> variant -> the share of the plan
    #: each look's comparison needs (CUPED's information-based plan)
    arms: dict[str, list[Arm]] = field(default_factory=dict)
    horizon_scale: dict[str, dict[int, Array]] = field(default_factory=dict)


@dataclass
class Evaluation:
    """Everything :func:`evaluate` computed, one entry per look.

    ``bounds`` are the running intersections (level ``ci_level``) of the goal
    metrics; ``p_running`` the running always-valid p-value (the smaller side),
    ``conflict`` where the two sides have both been significant (the effect seems to
    have changed during the test).
    """

    spec: Spec
    arms: dict[str, list[Arm]]
    comparisons: dict[str, dict[int, Comparison]]
    pairing: dict[str, dict[int, Chosen | None]]
    p_running: dict[str, dict[int, Array]]
    p_adjusted: dict[str, dict[int, Array]]
    conflict: dict[str, dict[int, Array]]
    ever_valid: dict[str, dict[int, Array]]
    ci_level: float
    bounds: dict[str, dict[int, tuple[Array, Array, Array, Array]]]
    guard_status: list[dict[int, Array]]
    guard_bounds: list[dict[int, tuple[Array, Array]]]
    srm_p: Array
    missing_p: Array
    failed_p: Array
    blocking: Array
    better: dict[int, Array]
    worse: dict[int, Array]
    equivalent: dict[int, Array]
    decision: Array
    chosen: Array


def _comparison(
    spec: Spec, metric: Metric, arms: list[Arm], pairs: dict[int, PairArrays], i: int
) -> tuple[Comparison, Chosen | None]:
    c = spec.control
    h, r = spec.horizons[i], spec.rhos[i]
    unpaired = compare_arms(metric.kind, arms[i], arms[c], h, r, spec.min_n)
    pa = pairs.get(i)
    if pa is None or metric.kind == "ratio":
        return unpaired, None
    paired = compare_pairs(pa, h, r, spec.min_n, binary=metric.kind == "binary")
    use = (
        (pa.n >= spec.min_n)
        & (pa.cover_x >= spec.paired_coverage * arms[i].n)
        & (pa.cover_y >= spec.paired_coverage * arms[c].n)
    )
    return choose(use, unpaired, paired), Chosen(unpaired, paired, use)


def rescaled(cmp: Comparison, scale: Array) -> Comparison:
    """``cmp`` on a plan of ``scale`` times its own (look by look): its p-value recomputed."""
    horizon = cmp.horizon * scale
    p = np.where(cmp.valid, _design_p(cmp.z, cmp.n_obs, horizon, cmp.rho), 1.0)
    return replace(cmp, horizon=horizon, p=p)


def _worsening(lower_is_better: bool, lo: Array, hi: Array) -> tuple[Array, Array]:
    return (lo, hi) if lower_is_better else (-hi, -lo)


def evaluate(spec: Spec, data: StepData) -> Evaluation:
    """Apply the decision rule at every look.

    1. *blocked* when a sequential data-quality test fires (sample-ratio mismatch,
       or missing or failed results unevenly spread over the variants) at an
       always-valid p < ``alert_p``;
    2. else *ship* the best variant that is better than control on the primary
       metric (Holm-adjusted always-valid p < alpha, interval outside the
       equivalence margin) and whose every guardrail is shown within its limit
       (the always-valid interval of the worsening lies below the limit);
    3. else *no meaningful difference* when every variant's interval lies inside
       the equivalence margin and no guardrail is broken;
    4. else *keep control* when every variant is settled as worse, equivalent, or
       breaking a guardrail (its worsening interval lies wholly beyond the limit);
    5. else *continue*.

    With ``data.paths`` every interval is the running intersection along the path
    and every p-value the running minimum, so a call, once made, stays made unless
    a later interval contradicts it.
    """
    from trialbook.domain.stats.frequentist import multinomial_sequential_p

    others = spec.others
    paths = data.paths
    looks = data.results.shape[1]
    arms = {
        m.name: data.arms.get(m.name) or [arm_of(m, s) for s in data.stats[m.name]]
        for m in spec.tracked
    }
    comps: dict[str, dict[int, Comparison]] = {}
    chosen: dict[str, dict[int, Chosen | None]] = {}
    for m in spec.tracked:
        comps[m.name], chosen[m.name] = {}, {}
        pairs = {} if m.name in data.arms else data.pairs.get(m.name, {})
        for i in others:
            comps[m.name][i], chosen[m.name][i] = _comparison(spec, m, arms[m.name], pairs, i)
            scale = data.horizon_scale.get(m.name, {}).get(i)
            if scale is not None:
                comps[m.name][i] = rescaled(comps[m.name][i], scale)
    # running p-values per side; Holm across variants × goal metrics on the smaller side
    sides = {
        m.name: {
            i: running_p(comps[m.name][i], m.lower_is_better, paths, chosen[m.name][i])
            for i in others
        }
        for m in spec.goals
    }
    p_running = {name: {i: np.minimum(*sides[name][i]) for i in per} for name, per in sides.items()}
    keys = [(m.name, i) for m in spec.goals for i in others]
    adj = holm_arrays(np.vstack([p_running[name][i] for name, i in keys]))
    p_adjusted: dict[str, dict[int, Array]] = {m.name: {} for m in spec.goals}
    for row, (name, i) in enumerate(keys):
        p_adjusted[name][i] = adj[row]
    conflict = {
        name: {i: np.maximum(*sides[name][i]) < spec.alpha for i in per}
        for name, per in sides.items()
    }
    ever_valid = {
        m.name: {i: running_any(comps[m.name][i].valid, paths) for i in others}
        for m in spec.tracked
    }
    ci_level = spec.alpha / max(1, spec.family)
    bounds = {
        m.name: {
            i: running_bounds(comps[m.name][i], ci_level, paths, chosen[m.name][i]) for i in others
        }
        for m in spec.goals
    }

    # guardrails: the always-valid interval (level alpha) of the worsening against the limit
    guard_status: list[dict[int, Array]] = []
    guard_bounds: list[dict[int, tuple[Array, Array]]] = []
    for g in spec.guards:
        st: dict[int, Array] = {}
        gb: dict[int, tuple[Array, Array]] = {}
        for i in others:
            lo, hi, rlo, rhi = running_bounds(
                comps[g.metric.name][i], spec.alpha, paths, chosen[g.metric.name][i]
            )
            wlo, whi = _worsening(
                g.metric.lower_is_better, *((rlo, rhi) if g.relative else (lo, hi))
            )
            with np.errstate(invalid="ignore"):
                empty = wlo > whi
                ok = (whi <= g.limit) & ~empty
                broken = (wlo > g.limit) & ~empty
            st[i] = np.where(ok, GUARD_OK, np.where(broken, GUARD_BROKEN, GUARD_UNCLEAR))
            gb[i] = (wlo, whi)
        guard_status.append(st)
        guard_bounds.append(gb)

    # data quality: sequential multinomial tests, re-checkable after every result. Each look
    # reads its own Bayes factor, not the running minimum: the chance of a block at some look
    # is the same (Ville), but the path is position order, and results imported in one
    # transaction sorted by variant (600 cold, then 600 warm) were never looked at halfway,
    # where their order alone would have blocked the test for good.
    def seq_p(counts: Array) -> Array:
        return multinomial_sequential_p(counts, spec.shares, SRM_CONCENTRATION)

    srm = seq_p(data.results)
    primary_n = np.vstack([_f(s.n) for s in data.stats[spec.primary.name]])
    missing = seq_p(np.maximum(data.results - primary_n, 0.0))
    failed = seq_p(data.failed)
    blocking = (srm < spec.alert_p) | (missing < spec.alert_p) | (failed < spec.alert_p)

    # per-variant status on the primary metric
    prim = spec.primary
    better: dict[int, Array] = {}
    worse: dict[int, Array] = {}
    equivalent: dict[int, Array] = {}
    ship_ready: dict[int, Array] = {}
    excluded: dict[int, Array] = {}
    broken_any: dict[int, Array] = {}
    for i in others:
        lo, hi, rlo, rhi = bounds[prim.name][i]
        ok = ever_valid[prim.name][i]
        with np.errstate(invalid="ignore"):
            if spec.margin is None:
                eq = np.zeros(looks, dtype=bool)
            elif spec.margin.relative:
                eq = ok & (rlo > -spec.margin.value) & (rhi < spec.margin.value) & (rlo <= rhi)
            else:
                eq = ok & (lo > -spec.margin.value) & (hi < spec.margin.value) & (lo <= hi)
        p_good, p_bad = sides[prim.name][i]
        sig = ok & (p_adjusted[prim.name][i] < spec.alpha) & ~conflict[prim.name][i]
        better[i] = sig & (p_good < p_bad) & ~eq
        worse[i] = sig & (p_bad < p_good) & ~eq
        equivalent[i] = eq
        statuses = [st[i] for st in guard_status]
        all_ok = (
            np.all(np.vstack(statuses) == GUARD_OK, axis=0)
            if statuses
            else np.ones(looks, dtype=bool)
        )
        brk = (
            np.any(np.vstack(statuses) == GUARD_BROKEN, axis=0)
            if statuses
            else np.zeros(looks, dtype=bool)
        )
        broken_any[i] = brk
        ship_ready[i] = better[i] & all_ok
        excluded[i] = worse[i] | brk

    any_ship = np.any(np.vstack([ship_ready[i] for i in others]), axis=0)
    all_equiv = np.all(np.vstack([equivalent[i] & ~broken_any[i] for i in others]), axis=0)
    all_settled = np.all(np.vstack([excluded[i] | equivalent[i] for i in others]), axis=0)
    decision = np.where(
        blocking,
        BLOCKED,
        np.where(
            any_ship,
            SHIP,
            np.where(all_equiv, NO_DIFFERENCE, np.where(all_settled, KEEP_CONTROL, CONTINUE)),
        ),
    )
    # the variant to ship: the largest improvement among the ready ones
    sign = -1.0 if prim.lower_is_better else 1.0
    gains = np.vstack(
        [np.where(ship_ready[i], sign * comps[prim.name][i].diff, -np.inf) for i in others]
    )
    best = np.asarray(others)[np.argmax(gains, axis=0)]
    chosen_variant = np.where(
        decision == SHIP,
        best,
        np.where((decision == KEEP_CONTROL) | (decision == NO_DIFFERENCE), spec.control, -1),
    )
    return Evaluation(
        spec=spec,
        arms=arms,
        comparisons=comps,
        pairing=chosen,
        p_running=p_running,
        p_adjusted=p_adjusted,
        conflict=conflict,
        ever_valid=ever_valid,
        ci_level=ci_level,
        bounds=bounds,
        guard_status=guard_status,
        guard_bounds=guard_bounds,
        srm_p=srm,
        missing_p=missing,
        failed_p=failed,
        blocking=blocking,
        better=better,
        worse=worse,
        equivalent=equivalent,
        decision=decision,
        chosen=chosen_variant,
    )


# --------------------------------------------------------------------------- building step data


def _one(x: float) -> Array:
    return np.array([float(x)])


def step_data_of_input(
    spec: Spec,
    inp: AnalysisInput,
    pairs: dict[str, dict[int, tuple[PairArrays, PairDetail]]] | None = None,
) -> StepData:
    """One look: the current sufficient statistics, plus pairs from the rows or per-case
    statistics when present (``pairs``: :func:`pairs_of_input`, when computed already)."""
    stats: dict[str, list[MomentArrays | CoMomentArrays]] = {}
    for m in spec.tracked:
        per: list[MomentArrays | CoMomentArrays] = []
        for v in inp.variants:
            per.append(one_look(m, v.moments, v.comoments))
        stats[m.name] = per
    if pairs is None:
        pairs = pairs_of_input(spec, inp)
    return StepData(
        results=np.array([[float(v.results)] for v in inp.variants]),
        failed=np.array([[float(v.failed)] for v in inp.variants]),
        stats=stats,
        pairs={name: {i: pa for i, (pa, _) in per_v.items()} for name, per_v in pairs.items()},
    )


def one_look(
    m: Metric,
    moments: Mapping[str, Moments],
    comoments: Mapping[tuple[str, str], CoMoments],
) -> MomentArrays | CoMomentArrays:
    """One arm's sufficient statistics for ``m`` as a single look (arrays of length one):
    its co-moments for a ratio, else the moments of the values it is computed from."""
    from trialbook.domain.stats.moments import CoMoments, Moments

    if m.kind == "ratio":
        co = comoments.get((m.numerator or "", m.denominator or ""), CoMoments())
        return CoMomentArrays(
            _one(co.n),
            _one(co.mean_x),
            _one(co.mean_y),
            _one(co.m2_x),
            _one(co.m2_y),
            _one(co.c_xy),
        )
    mo = moments.get(_values_of(m), Moments())
    return MomentArrays(_one(mo.n), _one(mo.mean), _one(mo.m2))


def _values_of(m: Metric) -> str:
    """The per-result values a metric's moments are those of (a quantile's: its base metric's)."""
    return (m.numerator or m.name) if m.kind == "quantile" else m.name


@dataclass
class PairDetail:
    """The per-case values behind a paired comparison (for the exact and rank tests)."""

    x: Array  # per-case mean of the variant
    y: Array  # per-case mean of control
    repeated: bool


def batch_pairs(
    spec: Spec, rows: Sequence[ResultRow]
) -> dict[str, dict[int, tuple[PairArrays, PairDetail]]]:
    """Pairs of per-case means for every non-ratio tracked metric, from all rows at once."""
    cells = case_cells(spec, rows)
    return {} if cells is None else pairs_of_cases(spec, cells)


def pairs_of_input(
    spec: Spec, inp: AnalysisInput
) -> dict[str, dict[int, tuple[PairArrays, PairDetail]]]:
    """:func:`batch_pairs` of ``inp.rows``, else :func:`pairs_of_cases` of ``inp.cases``."""
    if inp.rows:
        return batch_pairs(spec, inp.rows)
    if inp.cases is not None:
        return pairs_of_cases(spec, inp.cases)
    return {}


def case_cells(spec: Spec, rows: Sequence[ResultRow]) -> dict[str, tuple[Array, Array]] | None:
    """Per-case sums and counts of each tracked metric's finite values (cases × variants).

    Cases are numbered in the order they first appear among ``rows`` (any variant, with
    or without the metric), variants are ``spec.names``; sums add the values in row
    order from 0.0. None when no row has a case id. The A/B read model keeps the same
    arrays (``ab_cases``), so :func:`pairs_of_cases` of either gives the same figures.
    """
    cases = [r.case_id for r in rows]
    if not any(c is not None for c in cases):
        return None
    k = len(spec.names)
    index = {name: i for i, name in enumerate(spec.names)}
    vi = np.fromiter((index[r.variant] for r in rows), dtype=np.int64, count=len(rows))
    codes: dict[str, int] = {}
    ci = np.fromiter(
        (codes.setdefault(c, len(codes)) if c is not None else -1 for c in cases),
        dtype=np.int64,
        count=len(rows),
    )
    n_cases = len(codes)
    out: dict[str, tuple[Array, Array]] = {}
    for m in spec.tracked:
        if m.kind in ("ratio", "quantile"):
            continue
        vals = np.fromiter(
            (r.values.get(m.name, math.nan) for r in rows), dtype=float, count=len(rows)
        )
        ok = np.isfinite(vals) & (ci >= 0)
        cell = ci[ok] * k + vi[ok]
        sums = np.bincount(cell, weights=vals[ok], minlength=n_cases * k).reshape(n_cases, k)
        counts = np.bincount(cell, minlength=n_cases * k).reshape(n_cases, k)
        out[m.name] = (sums, counts)
    return out


def pairs_of_cases(
    spec: Spec, cells: Mapping[str, tuple[Array, Array]]
) -> dict[str, dict[int, tuple[PairArrays, PairDetail]]]:
    """Pairs of per-case means for every non-ratio tracked metric, from per-case sums and
    counts (:func:`case_cells`, or the read model's ``ab_cases``)."""
    out: dict[str, dict[int, tuple[PairArrays, PairDetail]]] = {}
    for m in spec.tracked:
        if m.kind in ("ratio", "quantile"):
            continue
        if m.name not in cells:
            raise ValueError(f"no per-case statistics of {m.name!r} (AnalysisInput.cases)")
        sums, counts = cells[m.name]
        c = spec.control
        per: dict[int, tuple[PairArrays, PairDetail]] = {}
        for i in spec.others:
            both = (counts[:, i] > 0) & (counts[:, c] > 0)
            if not both.any():
                continue
            x = sums[both, i] / counts[both, i]
            y = sums[both, c] / counts[both, c]
            kk = len(x)
            mx, my = x.mean(), y.mean()
            repeated = bool((counts[both, i] > 1).any() or (counts[both, c] > 1).any())
            pa = PairArrays(
                n=_one(kk),
                mean_x=_one(mx),
                mean_y=_one(my),
                m2_x=_one(((x - mx) ** 2).sum()),
                m2_y=_one(((y - my) ** 2).sum()),
                c_xy=_one(((x - mx) * (y - my)).sum()),
                cover_x=_one(counts[both, i].sum()),
                cover_y=_one(counts[both, c].sum()),
                repeated=np.array([repeated]),
            )
            per[i] = (pa, PairDetail(x, y, repeated))
        if per:
            out[m.name] = per
    return out


def step_data_of_rows(spec: Spec, rows: Sequence[ResultRow]) -> StepData:
    """One look after every row: cumulative moments by prefix sums, pairs by one pass."""
    k = len(spec.names)
    t = len(rows)
    index = {name: i for i, name in enumerate(spec.names)}
    vi = np.fromiter((index[r.variant] for r in rows), dtype=np.int64, count=t)
    onehot = vi[None, :] == np.arange(k)[:, None]
    results = np.cumsum(onehot, axis=1).astype(float)
    failed_rows = np.fromiter((bool(r.failed) for r in rows), dtype=bool, count=t)
    failed = np.cumsum(onehot & failed_rows[None, :], axis=1).astype(float)

    def column(key: str) -> Array:
        return np.fromiter((r.values.get(key, math.nan) for r in rows), dtype=float, count=t)

    stats: dict[str, list[MomentArrays | CoMomentArrays]] = {}
    for m in spec.tracked:
        if m.kind == "ratio":
            x, y = column(m.numerator or ""), column(m.denominator or "")
            present = np.isfinite(x) & np.isfinite(y)
            stats[m.name] = [_cum_co(x, y, present & onehot[j]) for j in range(k)]
        else:
            x = column(_values_of(m))
            present = np.isfinite(x)
            stats[m.name] = [_cum_moments(x, present & onehot[j]) for j in range(k)]
    pairs = incremental_pairs(spec, rows) if any(r.case_id is not None for r in rows) else {}
    return StepData(results=results, failed=failed, stats=stats, pairs=pairs, paths=(1, t))


def with_final_look(path: StepData, final: StepData) -> StepData:
    """``path`` (one test's looks) with its last look replaced by ``final`` (a single look).

    ``analyze`` and ``history`` evaluate the looks a test's rows give, but the last
    look is read from the read model's moments, so the figures at the current look
    are exactly those of an analysis of the moments alone.
    """

    def put(a: Any, b: Any) -> Array:
        out = np.array(a, copy=True)
        out[..., -1] = np.asarray(b)[..., -1]
        return out

    def merge(a: Any, b: Any) -> Any:
        return type(a)(**{f.name: put(getattr(a, f.name), getattr(b, f.name)) for f in fields(a)})

    stats = {
        name: [merge(a, b) for a, b in zip(per, final.stats[name], strict=True)]
        for name, per in path.stats.items()
    }
    pairs: dict[str, dict[int, PairArrays]] = {}
    for name, per in path.pairs.items():
        pairs[name] = {
            i: merge(pa, final.pairs[name][i]) if i in final.pairs.get(name, {}) else pa
            for i, pa in per.items()
        }
    arms = {
        name: [merge(a, b) for a, b in zip(per, final.arms[name], strict=True)]
        for name, per in path.arms.items()
    }
    scale = {
        name: {i: put(s, final.horizon_scale[name][i]) for i, s in per.items()}
        for name, per in path.horizon_scale.items()
    }
    return StepData(
        results=put(path.results, final.results),
        failed=put(path.failed, final.failed),
        stats=stats,
        pairs=pairs,
        paths=path.paths,
        arms=arms,
        horizon_scale=scale,
    )


def _cum_moments(x: Array, mask: Array) -> MomentArrays:
    shift = float(np.mean(x[mask])) if mask.any() else 0.0
    d = np.where(mask, x - shift, 0.0)
    n = np.cumsum(mask).astype(float)
    s1 = np.cumsum(d)
    s2 = np.cumsum(d * d)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(n > 0, shift + s1 / n, 0.0)
        m2 = np.where(n > 0, np.maximum(s2 - s1 * s1 / n, 0.0), 0.0)
    return MomentArrays(n, mean, m2)


def _cum_co(x: Array, y: Array, mask: Array) -> CoMomentArrays:
    sx = float(np.mean(x[mask])) if mask.any() else 0.0
    sy = float(np.mean(y[mask])) if mask.any() else 0.0
    dx = np.where(mask, x - sx, 0.0)
    dy = np.where(mask, y - sy, 0.0)
    n = np.cumsum(mask).astype(float)
    a, b = np.cumsum(dx), np.cumsum(dy)
    with np.errstate(divide="ignore", invalid="ignore"):
        return CoMomentArrays(
            n,
            np.where(n > 0, sx + a / n, 0.0),
            np.where(n > 0, sy + b / n, 0.0),
            np.where(n > 0, np.maximum(np.cumsum(dx * dx) - a * a / n, 0.0), 0.0),
            np.where(n > 0, np.maximum(np.cumsum(dy * dy) - b * b / n, 0.0), 0.0),
            np.where(n > 0, np.cumsum(dx * dy) - a * b / n, 0.0),
        )


def incremental_pairs(spec: Spec, rows: Sequence[ResultRow]) -> dict[str, dict[int, PairArrays]]:
    """Per-case pair co-moments after every row, in one pass.

    When a result arrives for a case, only that case's per-case means change: its
    old contribution to the running sums is taken out and the new one put in.
    Sums are kept around a shift (the metric's overall mean) for precision.
    """
    t = len(rows)
    c = spec.control
    index = {name: i for i, name in enumerate(spec.names)}
    out: dict[str, dict[int, PairArrays]] = {}
    for m in spec.tracked:
        if m.kind in ("ratio", "quantile"):
            continue
        vals = [r.values.get(m.name) for r in rows]
        finite = [float(v) for v in vals if v is not None and math.isfinite(v)]
        if not finite:
            continue
        shift = sum(finite) / len(finite)
        cells: dict[tuple[str, int], list[float]] = {}  # (case, variant) -> [sum, count]
        contrib: dict[
            tuple[str, int], tuple[float, float]
        ] = {}  # (case, variant) -> pair (x, y) in sums
        # per variant: k, sx, sy, sxx, syy, sxy, cover_x, cover_y, repeated
        acc = {i: [0.0] * 8 + [False] for i in spec.others}
        rec = {i: np.full((9, t), np.nan) for i in spec.others}
        for step, row in enumerate(rows):
            v = vals[step]
            case = row.case_id
            if v is not None and math.isfinite(v) and case is not None:
                u = index[row.variant]
                cell = cells.setdefault((case, u), [0.0, 0.0])
                cell[0] += float(v) - shift
                cell[1] += 1
                targets = [u] if u != c else [i for i in spec.others if (case, i) in cells]
                ctrl = cells.get((case, c))
                for i in targets:
                    if i == c or ctrl is None or (case, i) not in cells:
                        continue
                    a = acc[i]
                    vx, vy = cells[(case, i)], ctrl
                    old = contrib.get((case, i))
                    if old is None:
                        a[0] += 1
                        a[6] += vx[1]
                        a[7] += vy[1]
                    else:
                        a[1] -= old[0]
                        a[2] -= old[1]
                        a[3] -= old[0] * old[0]
                        a[4] -= old[1] * old[1]
                        a[5] -= old[0] * old[1]
                        if u == c:
                            a[7] += 1
                        else:
                            a[6] += 1
                    x, y = vx[0] / vx[1], vy[0] / vy[1]
                    a[1] += x
                    a[2] += y
                    a[3] += x * x
                    a[4] += y * y
                    a[5] += x * y
                    contrib[(case, i)] = (x, y)
                    if vx[1] > 1 or vy[1] > 1:
                        a[8] = True
                    rec[i][:, step] = a
        per: dict[int, PairArrays] = {}
        for i in spec.others:
            r = rec[i]
            filled = _forward_fill(r)
            k, sx, sy, sxx, syy, sxy, cx, cy, rep = filled
            with np.errstate(divide="ignore", invalid="ignore"):
                per[i] = PairArrays(
                    n=k,
                    mean_x=np.where(k > 0, shift + sx / k, 0.0),
                    mean_y=np.where(k > 0, shift + sy / k, 0.0),
                    m2_x=np.where(k > 0, np.maximum(sxx - sx * sx / k, 0.0), 0.0),
                    m2_y=np.where(k > 0, np.maximum(syy - sy * sy / k, 0.0), 0.0),
                    c_xy=np.where(k > 0, sxy - sx * sy / k, 0.0),
                    cover_x=cx,
                    cover_y=cy,
                    repeated=rep > 0,
                )
        out[m.name] = per
    return out


def _forward_fill(r: Array) -> Array:
    """Carry each column's last recorded values forward; zeros before the first record."""
    t = r.shape[1]
    has = ~np.isnan(r[0])
    idx = np.where(has, np.arange(t), -1)
    np.maximum.accumulate(idx, out=idx)
    filled = np.where(idx >= 0, r[:, np.maximum(idx, 0)], 0.0)
    return filled


def step_data_of_arrays(
    spec: Spec, values: dict[str, Array], failed: Array | None = None, paired: bool = False
) -> tuple[StepData, tuple[int, int]]:
    """Looks after every result of simulated tests whose variants take turns (round robin).

    ``values[metric]`` has shape (variants, simulations, results per variant)
    (ratio metrics: a pair ``(numerator, denominator)`` of such arrays stacked on
    a leading axis of length 2). Returns the step data flattened to
    simulations × looks, and that shape, so ``evaluate(spec, data).decision``
    reshapes to it. For simulation studies (tests and ``bench/``). With ``paired``
    (two variants), result ``j`` of each variant is case ``j``: a pair is complete
    once both variants have their ``j``-th result.
    """
    first = next(iter(values.values()))
    k, sims, per = first.shape[-3:]
    looks = k * per
    t = np.arange(looks)
    # results of variant j after look t (round robin: variant t % k gets result t)
    counts = np.vstack([np.where(t >= j, (t - j) // k + 1, 0) for j in range(k)])  # (k, looks)

    def at_looks(cum: Array, j: int) -> Array:
        # cum: (sims, per) prefix statistic after 1..per results; -> (sims, looks), 0 before the first
        padded = np.concatenate([np.zeros((sims, 1)), cum], axis=1)
        return padded[:, counts[j]].reshape(-1)

    stats: dict[str, list[MomentArrays | CoMomentArrays]] = {}
    for m in spec.tracked:
        arr = values[m.name]
        per_v: list[MomentArrays | CoMomentArrays] = []
        for j in range(k):
            n = np.broadcast_to(np.arange(1, per + 1, dtype=float), (sims, per))
            if m.kind == "ratio":
                x, y = arr[0, j], arr[1, j]
                sx, sy = np.cumsum(x, 1), np.cumsum(y, 1)
                mx, my = sx / n, sy / n
                per_v.append(
                    CoMomentArrays(
                        at_looks(n, j),
                        at_looks(mx, j),
                        at_looks(my, j),
                        at_looks(np.maximum(np.cumsum(x * x, 1) - sx * mx, 0.0), j),
                        at_looks(np.maximum(np.cumsum(y * y, 1) - sy * my, 0.0), j),
                        at_looks(np.cumsum(x * y, 1) - sx * my, j),
                    )
                )
            else:
                x = arr[j]
                shift = x[:, :1]
                d = x - shift
                s1 = np.cumsum(d, 1)
                mean = shift + s1 / n
                m2 = np.maximum(np.cumsum(d * d, 1) - s1 * s1 / n, 0.0)
                per_v.append(MomentArrays(at_looks(n, j), at_looks(mean, j), at_looks(m2, j)))
        stats[m.name] = per_v
    results = np.repeat(counts[:, None, :], sims, axis=1).reshape(k, -1).astype(float)
    if failed is None:
        failed_looks = np.zeros_like(results)
    else:
        failed_looks = np.vstack(
            [at_looks(np.cumsum(failed[j], 1).astype(float), j) for j in range(k)]
        )
    pairs: dict[str, dict[int, PairArrays]] = {}
    if paired:
        if k != 2:
            raise ValueError("paired simulations take exactly two variants")
        c = spec.control
        v = 1 - c
        both = np.minimum(counts[0], counts[1])  # complete pairs after each look
        padded = np.concatenate([[0], np.arange(1, per + 1)])
        for m in spec.tracked:
            if m.kind == "ratio":
                continue
            x, y = values[m.name][v], values[m.name][c]
            shift = y[:, :1]
            dx, dy = x - shift, y - shift
            n = np.arange(1, per + 1, dtype=float)
            sx, sy = np.cumsum(dx, 1), np.cumsum(dy, 1)

            def at(cum: Array) -> Array:
                full = np.concatenate([np.zeros((sims, 1)), cum], axis=1)
                return full[:, both].reshape(-1)

            kk = np.broadcast_to(padded[both].astype(float), (sims, looks)).reshape(-1)
            with np.errstate(divide="ignore", invalid="ignore"):
                mean_x = np.where(kk > 0, at(shift + sx / n), 0.0)
                mean_y = np.where(kk > 0, at(shift + sy / n), 0.0)
                m2_x = np.where(
                    kk > 0, at(np.maximum(np.cumsum(dx * dx, 1) - sx * sx / n, 0.0)), 0.0
                )
                m2_y = np.where(
                    kk > 0, at(np.maximum(np.cumsum(dy * dy, 1) - sy * sy / n, 0.0)), 0.0
                )
                c_xy = np.where(kk > 0, at(np.cumsum(dx * dy, 1) - sx * sy / n), 0.0)
            pairs[m.name] = {
                v: PairArrays(
                    n=kk,
                    mean_x=mean_x,
                    mean_y=mean_y,
                    m2_x=m2_x,
                    m2_y=m2_y,
                    c_xy=c_xy,
                    cover_x=kk,
                    cover_y=kk,
                    repeated=np.zeros(sims * looks, dtype=bool),
                )
            }
    data = StepData(
        results=results, failed=failed_looks, stats=stats, pairs=pairs, paths=(sims, looks)
    )
    return data, (sims, looks)
