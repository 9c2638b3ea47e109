"""Canary statistics: each guardrail's always-valid interval, stage by stage, and the stage rule.

A canary's results come in stages that send different shares of units to the
candidate (10 %, then 50 % …). Pooling all stages would compare a candidate
seen mostly late with a control seen mostly early, so any drift over time (a
busier hour, a new kind of task) would read as a difference between the two.
The comparison is therefore **stratified by stage**: within each stage that
has results of both arms, candidate minus control; across stages, a weighted
mean with the Cochran–Mantel–Haenszel weights ``h = n_t n_c / (n_t + n_c)``
(the inverse of the variance factor ``1/n_t + 1/n_c``). With one stage it is
exactly the comparison ``ab analyze`` makes. A 100 % stage has no control, so
it adds nothing to the comparison.

The interval is the normal-mixture confidence sequence of ``ab analyze``
(:mod:`domain.stats.sequential`; the arm statistics of :mod:`domain.stats.engine`):
the standard error of the stratified difference, Welch–Satterthwaite degrees of
freedom for means, Agresti–Caffo variances for proportions, the normal-mixture
boundary after ``n`` results (all stages that enter the comparison). Each
guardrail is checked at level ``alpha / guardrails`` (Bonferroni), so watching
every guardrail after every result halts an identical candidate with
probability at most about ``alpha``.

Sample-ratio mismatch is checked per stage with an always-valid test too: the
Beta-binomial mixture likelihood ratio of the observed split against the
stage's planned share (Lindon & Malek 2022, "Anytime-valid inference for
multinomial count data"), whose reciprocal is an always-valid p-value.

Everything is vectorised over looks (the last axis), so :func:`evaluate` serves
``canary status`` (one look) and the simulations (millions of looks) alike.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np

from trialbook.domain.ab import Guardrail
from trialbook.domain.canary import (
    ALERT_P,
    METHOD_VERSION,
    CanaryState,
    guardrail_text,
    is_proportion,
    percent_text,
    rule_refusal,
    stage_label,
    threshold_of,
)
from trialbook.domain.metrics import Metric, metric_named
from trialbook.domain.stats import engine, sequential
from trialbook.domain.stats.engine import Arm, CoMomentArrays, MomentArrays, one_look
from trialbook.domain.stats.moments import CoMoments, Moments

Array = np.ndarray
Stats: TypeAlias = MomentArrays | CoMomentArrays

#: fewest results per arm (over the stages that enter the comparison) before any interval
MIN_N = 5
#: a guardrail's verdict: shown within its limit, not yet known, shown beyond it
OK, UNCLEAR, BROKEN = 0, 1, 2
VERDICTS = {OK: "ok", UNCLEAR: "unclear", BROKEN: "broken"}
#: prior concentration of the sample-ratio test's Beta mixture (prior sd about 1 point at 10 %)
SRM_CONCENTRATION = 1000.0


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class ArmData:
    """One arm's sufficient statistics in one stage, as the canary projection keeps them."""

    results: int = 0
    moments: Mapping[str, Moments] = field(default_factory=dict)
    comoments: Mapping[tuple[str, str], CoMoments] = field(default_factory=dict)
    #: per-result values of the metrics a quantile guardrail reads (``completion_time`` for
    #: ``completion_time:p95``), read from the events: the projection keeps moments only
    values: Mapping[str, tuple[float, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class StageData:
    """Both arms of one stage."""

    control: ArmData = ArmData()
    candidate: ArmData = ArmData()


@dataclass(frozen=True)
class Guard:
    """A guardrail resolved against the metric catalogue."""

    metric: Metric
    limit: float
    relative: bool


def worsening(lower_is_better: bool, lo: Array, hi: Array) -> tuple[Array, Array]:
    """An interval of candidate minus control as an interval of how much worse the candidate is."""
    return (lo, hi) if lower_is_better else (-hi, -lo)


@dataclass(frozen=True)
class Plan:
    """A canary's settings, resolved (metrics looked up, rho computed)."""

    stages: tuple[float, ...]
    metric: Metric
    guards: tuple[Guard, ...]
    alpha: float
    rho: float
    min_results: int

    @property
    def tracked(self) -> tuple[Metric, ...]:
        """The primary metric and every guardrail metric, once each."""
        seen: dict[str, Metric] = {self.metric.name: self.metric}
        for g in self.guards:
            seen.setdefault(g.metric.name, g.metric)
        return tuple(seen.values())

    @property
    def guard_level(self) -> float:
        """The level of each guardrail's interval: alpha over the number of guardrails."""
        return self.alpha / max(1, len(self.guards))


def plan_of(definition: Any) -> Plan:
    """The plan of a ``CanaryCreated`` (or anything with its fields)."""
    return Plan(
        stages=tuple(float(p) for p in definition.stages),
        metric=metric_named(definition.metric),  # a quantile too (completion_time:p95)
        guards=tuple(
            Guard(metric_named(g.metric), float(g.limit), bool(g.relative))
            for g in definition.guardrails
        ),
        alpha=float(definition.alpha),
        rho=sequential.rho(float(definition.alpha), float(definition.expected_results)),
        min_results=int(definition.min_results),
    )


@dataclass
class Looks:
    """Per-look inputs, one entry per look in every array.

    ``results[s]`` is ``(control, candidate)`` results in stage ``s``;
    ``stats[metric][s]`` the ``(control, candidate)`` moments (co-moments for
    ratios) of that metric in stage ``s``; ``stage`` the current stage (0-based).
    """

    results: list[tuple[Array, Array]]
    stats: dict[str, list[tuple[Stats, Stats]]]
    stage: Array
    #: metric -> per stage ``(candidate, control)`` arms computed from values (quantiles)
    arms: dict[str, list[tuple[Arm, Arm]]] = field(default_factory=dict)


def _one(x: float) -> Array:
    return np.array([float(x)])


def _arrays(metric: Metric, arm: ArmData) -> Stats:
    return one_look(metric, arm.moments, arm.comoments)


def _quantile_arm(metric: Metric, arm: ArmData) -> Arm:
    """One stage arm's quantile (``domain.stats.quantiles``) from its values."""
    from trialbook.domain.stats import quantiles

    base, p = quantiles.parse_quantile(metric.name) or ("", 0.5)
    xs = sorted(x for x in arm.values.get(base, ()) if math.isfinite(x))
    est, se = quantiles.quantile_and_se(xs, p)
    arm_: Arm = quantiles.quantile_arm(_one(len(xs)), _one(est), _one(se))
    return arm_


def looks_of(plan: Plan, stages: Sequence[StageData], stage: int) -> Looks:
    """One look: the current statistics of every stage (``stage`` is 1-based)."""
    padded = list(stages) + [StageData()] * (len(plan.stages) - len(stages))
    return Looks(
        results=[(_one(s.control.results), _one(s.candidate.results)) for s in padded],
        stats={
            m.name: [(_arrays(m, s.control), _arrays(m, s.candidate)) for s in padded]
            for m in plan.tracked
        },
        stage=np.array([stage - 1]),
        arms={
            m.name: [(_quantile_arm(m, s.candidate), _quantile_arm(m, s.control)) for s in padded]
            for m in plan.tracked
            if m.kind == "quantile"
        },
    )


# --------------------------------------------------------------------------- the comparison


def _t_scale(z: Array, df: Array) -> Array:
    """The t quantile with the tail probability of normal quantile ``z`` (``z`` itself at infinite df)."""
    from scipy.special import ndtr, stdtrit

    out = np.array(z, dtype=float, copy=True)
    finite = np.isfinite(df) & np.isfinite(out)
    if finite.any():
        out[finite] = -stdtrit(df[finite], ndtr(-out[finite]))
    return out


def _normal_scale(t: Array, df: Array) -> Array:
    """The normal quantile with the tail probability of ``t`` on ``df`` degrees of freedom."""
    from scipy.special import ndtri, stdtr

    out = np.array(t, dtype=float, copy=True)
    finite = np.isfinite(df) & np.isfinite(out)
    if finite.any():
        out[finite] = -ndtri(stdtr(df[finite], -out[finite]))
    return out


@dataclass
class Stratified:
    """Candidate minus control, stratified by stage, one entry per look.

    ``candidate`` and ``control`` are the standardised means ``sum(h m) / sum(h)``;
    ``n_obs`` the results the boundary counts (both arms, in the strata that enter);
    ``valid`` where both arms have at least :data:`MIN_N` results and a spread.
    """

    diff: Array
    se: Array
    df: Array
    n_obs: Array
    rel: Array
    rel_se: Array
    valid: Array
    n_t: Array
    n_c: Array
    candidate: Array
    control: Array
    rho: float

    def bounds(self, level: float) -> tuple[Array, Array, Array, Array]:
        """Always-valid interval at ``level`` (an alpha) for the difference and the relative one.

        The half-width is the normal-mixture boundary after ``n_obs`` results
        (:func:`sequential.z_boundary`), moved to the t scale of the Welch degrees of
        freedom, times the standard error (the confidence sequence of ``ab analyze``
        method 1.0).
        """
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            zb = sequential.z_boundary(self.n_obs, level, self.rho)
            tb = _t_scale(zb, self.df)
            half, rhalf = tb * self.se, tb * self.rel_se
            nan = np.nan
            return (
                np.where(self.valid, self.diff - half, nan),
                np.where(self.valid, self.diff + half, nan),
                np.where(self.valid, self.rel - rhalf, nan),
                np.where(self.valid, self.rel + rhalf, nan),
            )

    def p_value(self) -> Array:
        """The always-valid p-value of "no difference" (1 where not valid)."""
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            z = _normal_scale(np.abs(self.diff) / self.se, self.df)
            p = sequential.p_value(np.where(self.valid, z, 0.0), self.n_obs, self.rho)
        return np.where(self.valid, p, 1.0)


def stratified(
    metric: Metric, strata: Sequence[tuple[Arm, Arm]], rho: float, min_n: int = MIN_N
) -> Stratified:
    """Candidate against control, stratified by stage; ``strata`` are ``(candidate, control)`` arms.

    A stratum enters where both arms have an estimate with a variance;
    weights ``h = n_t n_c / (n_t + n_c)``. The standardised means
    ``sum(h m) / sum(h)`` of each arm act as one arm each (their variances
    ``sum(h^2 v) / sum(h)^2``, Welch–Satterthwaite degrees of freedom), so with a
    single stratum this is the plain Welch (or Agresti–Caffo) comparison of two arms.
    """
    shape = np.shape(strata[0][0].n)
    zero = np.zeros(shape)
    H, sum_t, sum_c, var_t, var_c = zero, zero, zero, zero, zero
    n_t, n_c = zero, zero
    terms: list[tuple[Array, Array, Array]] = []  # (h, var_est, n) of each arm of each stratum
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for t, c in strata:
            ok = (
                (t.n >= 1)
                & (c.n >= 1)
                & np.isfinite(t.est)
                & np.isfinite(c.est)
                & np.isfinite(t.var_est)
                & np.isfinite(c.var_est)
            )
            if not ok.any():
                continue
            h = np.where(ok, t.n * c.n / (t.n + c.n), 0.0)
            vt = np.where(ok, t.var_est, 0.0)
            vc = np.where(ok, c.var_est, 0.0)
            H = H + h
            sum_t = sum_t + np.where(ok, h * t.est, 0.0)
            sum_c = sum_c + np.where(ok, h * c.est, 0.0)
            var_t = var_t + h * h * vt
            var_c = var_c + h * h * vc
            n_t = n_t + np.where(ok, t.n, 0.0)
            n_c = n_c + np.where(ok, c.n, 0.0)
            terms += [(h, vt, t.n), (h, vc, c.n)]
        some = H > 0
        est_t = np.where(some, sum_t / H, np.nan)
        est_c = np.where(some, sum_c / H, np.nan)
        a = np.where(some, var_t / (H * H), np.nan)
        b = np.where(some, var_c / (H * H), np.nan)
        diff = est_t - est_c
        var = a + b
        n_obs = n_t + n_c
        if metric.kind in ("continuous", "rate"):
            den = zero
            for h, v, n in terms:
                part = h * h * v / (H * H)
                den = den + np.where(n > 1, part * part / (n - 1.0), 0.0)
            df = np.where(den > 0, var * var / den, n_obs - 2.0)
        else:
            df = np.full(shape, np.inf)
        rel = np.where(est_c != 0, est_t / est_c - 1.0, np.nan)
        rel_var = a / est_c**2 + est_t**2 * b / est_c**4
        se = np.sqrt(np.maximum(var, 0.0))
        # no spread at all in either arm: a sample shows nothing about a spread it never had
        degenerate = se <= 1e-10 * (np.abs(est_t) + np.abs(est_c) + 1e-300)
        valid = (
            (n_t >= min_n)
            & (n_c >= min_n)
            & np.isfinite(var)
            & (df > 0)
            & ~degenerate
            & np.isfinite(diff)
        )
    return Stratified(
        diff=diff,
        se=np.where(degenerate, 0.0, se),
        df=df,
        n_obs=n_obs,
        rel=rel,
        rel_se=np.sqrt(np.maximum(rel_var, 0.0)),
        valid=valid,
        n_t=n_t,
        n_c=n_c,
        candidate=est_t,
        control=est_c,
        rho=rho,
    )


def srm_p(control: Array, candidate: Array, percent: float) -> Array:
    """Always-valid p-value that a stage's results split as its share (Beta-binomial mixture).

    ``min(1, 1 / e)`` with the e-value ``B(a + n_t, b + n_c) / B(a, b) / (p^n_t (1-p)^n_c)``,
    ``a = k p``, ``b = k (1 - p)``: a nonnegative martingale under the planned split,
    so ``p < alpha`` at any look happens with probability at most alpha (Ville).
    """
    from scipy.special import betaln

    p = percent / 100
    nt = np.asarray(candidate, dtype=float)
    nc = np.asarray(control, dtype=float)
    if not 0 < p < 1:
        return np.full(np.shape(nt), np.nan)
    a, b = SRM_CONCENTRATION * p, SRM_CONCENTRATION * (1 - p)
    log_e = betaln(a + nt, b + nc) - betaln(a, b) - nt * math.log(p) - nc * math.log(1 - p)
    return np.where(nt + nc > 0, np.minimum(1.0, np.exp(-log_e)), np.nan)


@dataclass
class GuardEvaluation:
    """One guardrail at every look."""

    guard: Guard
    comparison: Stratified
    worsening: Array  # point estimate, in the limit's terms (relative or units)
    low: Array
    high: Array
    status: Array  # OK / UNCLEAR / BROKEN


@dataclass
class Evaluation:
    """Everything :func:`evaluate` computed, one entry per look."""

    plan: Plan
    primary: Stratified
    guards: list[GuardEvaluation]
    srm: list[Array]
    blocking: Array
    broken: Array
    #: the current stage has its minimum of candidate results, nothing is broken or blocking
    ready: Array


def evaluate(plan: Plan, looks: Looks) -> Evaluation:
    """The comparisons, guardrail verdicts, alerts and the stage rule at every look."""
    comparisons: dict[str, Stratified] = {}
    for m in plan.tracked:
        strata = looks.arms.get(m.name) or [
            (engine.arm_of(m, t), engine.arm_of(m, c)) for c, t in looks.stats[m.name]
        ]
        comparisons[m.name] = stratified(m, strata, plan.rho)
    primary = comparisons[plan.metric.name]
    guards = []
    shape = np.shape(looks.stage)
    broken = np.zeros(shape, dtype=bool)
    level = plan.guard_level
    for g in plan.guards:
        cmp = comparisons[g.metric.name]
        lo, hi, rlo, rhi = cmp.bounds(level)
        wlo, whi = worsening(g.metric.lower_is_better, *((rlo, rhi) if g.relative else (lo, hi)))
        with np.errstate(invalid="ignore"):
            ok = whi <= g.limit
            bad = wlo > g.limit
        status = np.where(ok, OK, np.where(bad, BROKEN, UNCLEAR))
        sign = 1.0 if g.metric.lower_is_better else -1.0
        point = np.where(cmp.valid, sign * (cmp.rel if g.relative else cmp.diff), np.nan)
        guards.append(GuardEvaluation(g, cmp, point, wlo, whi, status))
        broken |= bad
    srm = [srm_p(c, t, p) for (c, t), p in zip(looks.results, plan.stages, strict=True)]
    blocking = np.zeros(shape, dtype=bool)
    for p in srm:
        with np.errstate(invalid="ignore"):
            blocking |= p < ALERT_P
    in_stage = np.zeros(shape)
    for s, (_, t) in enumerate(looks.results):
        in_stage = np.where(looks.stage == s, t, in_stage)
    ready = (in_stage >= plan.min_results) & ~broken & ~blocking
    return Evaluation(
        plan=plan,
        primary=primary,
        guards=guards,
        srm=srm,
        blocking=blocking,
        broken=broken,
        ready=ready,
    )


# --------------------------------------------------------------------------- the document


def _num(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _pair(lo: Any, hi: Any) -> list[float] | None:
    a, b = _num(lo), _num(hi)
    return [a, b] if a is not None and b is not None else None


def amount(metric: Metric, relative: bool, x: float | None, signed: bool = True) -> str:
    """A difference as people read it: ``+2.1pp`` for shares, ``+8.0%`` relative, units otherwise."""
    if x is None:
        return "-"
    sign = "+" if signed else ""
    if relative:
        return f"{x * 100:{sign}.1f}%"
    if is_proportion(metric):
        return f"{x * 100:{sign}.1f}pp"
    return f"{x:{sign}.4g}"


def _method(plan: Plan) -> str:
    return (
        "always-valid confidence sequence on the candidate-minus-control difference, stratified "
        "by stage (Cochran-Mantel-Haenszel weights; Welch, Agresti-Caffo or delta-method "
        f"variances), normal mixture tuned for {1 / plan.rho**2 * _tuning_factor(plan.alpha):.0f} "
        f"results; each guardrail at level {plan.guard_level:.4g} (alpha {plan.alpha:g} over "
        f"{max(1, len(plan.guards))}); sample-ratio mismatch by an always-valid Beta-binomial test"
    )


def _tuning_factor(alpha: float) -> float:
    la = -2 * math.log(alpha)
    return la + math.log(la + 1)


def status_document(
    definition: Any,
    *,
    status: str,
    stage: int,
    stages: Sequence[StageData],
    position: int,
) -> dict[str, Any]:
    """The ``canary status --json`` document: what a decision on the canary rests on.

    ``definition`` is the ``CanaryCreated`` event; ``status`` and ``stage`` (1-based)
    where the canary is; ``stages`` the statistics of each stage reached; ``position``
    the log head they were read at. Pure: the same inputs give the same document.
    """
    plan = plan_of(definition)
    ev = evaluate(plan, looks_of(plan, stages, stage))
    name = definition.name
    padded = list(stages) + [StageData()] * (len(plan.stages) - len(stages))
    m = plan.metric
    cmp = ev.primary
    p_lo, p_hi, _, _ = cmp.bounds(plan.alpha)
    p_value = float(cmp.p_value()[0])
    valid = bool(cmp.valid[0])
    good = (cmp.diff[0] < 0) if m.lower_is_better else (cmp.diff[0] > 0)
    significant = valid and p_value < plan.alpha
    primary = {
        "metric": m.name,
        "kind": m.kind,
        "lower_is_better": m.lower_is_better,
        "control": _num(cmp.control[0]),
        "candidate": _num(cmp.candidate[0]),
        "difference": _num(cmp.diff[0]) if valid else None,
        "ci": _pair(p_lo[0], p_hi[0]),
        "level": plan.alpha,
        "p_value": _num(p_value) if valid else None,
        "status": ("better" if good else "worse") if significant else "unclear",
        "n_control": int(cmp.n_c[0]),
        "n_candidate": int(cmp.n_t[0]),
    }
    guardrails = []
    for gd in ev.guards:
        g = gd.guard
        ci = _pair(gd.low[0], gd.high[0])
        written = guardrail_text(
            Guardrail(metric=g.metric.name, limit=g.limit, relative=g.relative)
        )
        limit_text = written.rsplit(":", 1)[1]  # after a quantile name too (completion_time:p95)
        verdict = VERDICTS[int(gd.status[0])]
        if ci is None:
            summary = f"not yet measurable, limit {limit_text}"
        else:
            summary = (
                f"worsening {amount(g.metric, g.relative, ci[0])} to "
                f"{amount(g.metric, g.relative, ci[1])}, limit {limit_text}"
            )
        guardrails.append(
            {
                "metric": g.metric.name,
                "text": written,
                "limit": g.limit,
                "relative": g.relative,
                "status": verdict,
                "worsening": _num(gd.worsening[0]),
                "ci": ci,
                "level": plan.guard_level,
                "n_control": int(gd.comparison.n_c[0]),
                "n_candidate": int(gd.comparison.n_t[0]),
                "summary": summary,
            }
        )
    by_stage = []
    alerts = []
    for i, s in enumerate(padded[:stage]):
        c, t = s.control.results, s.candidate.results
        srm = _num(ev.srm[i][0])
        by_stage.append(
            {
                "stage": i + 1,
                "percent": definition.stages[i],
                "control": c,
                "candidate": t,
                "candidate_share": _num(t / (c + t)) if c + t else None,
                "srm_p": srm,
            }
        )
        if srm is not None and srm < ALERT_P:
            alerts.append(
                {
                    "kind": "sample_ratio_mismatch",
                    "stage": i + 1,
                    "message": (
                        f"sample-ratio mismatch at {stage_label(definition.stages, i + 1)}: "
                        f"{t} of {c + t} results are the candidate's, against a planned "
                        f"{percent_text(definition.stages[i])} (always-valid p = {srm:.2g}); check "
                        "that the router uses the assignment and that every session is recorded"
                    ),
                    "p_value": srm,
                    "blocking": True,
                }
            )
    total_c = sum(s.control.results for s in padded)
    total_t = sum(s.candidate.results for s in padded)
    doc: dict[str, Any] = {
        "canary": name,
        "control": definition.control,
        "candidate": definition.candidate,
        "unit": definition.unit,
        "status": status,
        "stage": stage,
        "percent": definition.stages[stage - 1],
        "stages": list(definition.stages),
        "exposure_percent": threshold_of(status, plan.stages, stage) / 100,
        "metric": primary,
        "guardrails": guardrails,
        "alerts": alerts,
        "results": {
            "total": total_c + total_t,
            "control": total_c,
            "candidate": total_t,
            "this_stage": {"control": padded[stage - 1].control.results,
                           "candidate": padded[stage - 1].candidate.results},
            "by_stage": by_stage,
        },
        "settings": {
            "alpha": plan.alpha,
            "guardrail_level": plan.guard_level,
            "min_results": plan.min_results,
            "tuning": definition.expected_results,
            "method": _method(plan),
        },
        "method_version": METHOD_VERSION,
        "position": position,
    }  # fmt: skip
    doc["next"] = next_step(definition, status, stage, padded, doc)
    return _clean(doc)


def next_step(
    definition: Any, status: str, stage: int, stages: Sequence[StageData], doc: Mapping[str, Any]
) -> dict[str, Any]:
    """What happens next under the stage rule: ``advance``, ``complete``, ``halt``, ``wait`` or ``none``."""
    name = definition.name
    if status != "running":
        said = {
            "halted": "it is halted: every unit gets the control; roll it back with "
            f"`trialbook canary rollback {name}` (or plan a new canary)",
            "rolled_back": "it was rolled back: every unit gets the control",
            "completed": "it is completed: every unit gets the candidate",
        }[status]
        return {"action": "none", "stage": None, "percent": None, "reason": said}
    state = CanaryState(
        name=name,
        control=definition.control,
        candidate=definition.candidate,
        stages=tuple(definition.stages),
        min_results=definition.min_results,
        stage=stage,
        counts=tuple((s.control.results, s.candidate.results) for s in stages),
    )
    broken = [g for g in doc["guardrails"] if g["status"] == "broken"]
    if broken:
        return {
            "action": "halt",
            "stage": None,
            "percent": None,
            "reason": f"guardrail {broken[0]['metric']} is breached ({broken[0]['summary']}): "
            f"halt it (`trialbook canary halt {name}`, or `canary watch {name} --auto`)",
        }
    last = stage == len(definition.stages)
    refusal = rule_refusal(state, doc, "completing" if last else "advancing")
    if refusal is not None:
        return {"action": "wait", "stage": None, "percent": None, "reason": refusal}
    if last:
        return {
            "action": "complete",
            "stage": None,
            "percent": None,
            "reason": f"the last stage has its {definition.min_results} candidate results and no "
            f"guardrail is breached: complete it with `trialbook canary complete {name}`",
        }
    nxt = definition.stages[stage]
    return {
        "action": "advance",
        "stage": stage + 1,
        "percent": nxt,
        "reason": f"{stage_label(definition.stages, stage)} has its {definition.min_results} "
        f"candidate results and no guardrail is breached: advance to {percent_text(nxt)} with "
        f"`trialbook canary advance {name}`",
    }


def _clean(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, np.generic):
        return _clean(x.item())
    return x


# --------------------------------------------------------------------------- the history of looks

#: decision event type -> (what the history calls it, the status it leaves the canary in)
DECISION_KINDS = {
    "CanaryAdvanced": ("advanced", "running"),
    "CanaryHalted": ("halted", "halted"),
    "CanaryRolledBack": ("rolled_back", "rolled_back"),
    "CanaryCompleted": ("completed", "completed"),
}


def _look_indices(t: int, max_looks: int | None) -> Array:
    """The looks a plot keeps of ``t``: all of them, or ``max_looks`` evenly spaced (first and last kept)."""
    if max_looks is None or max_looks >= t:
        return np.arange(t)
    return np.unique(np.linspace(0, t - 1, max(2, max_looks)).round().astype(np.int64))


def interval_history(
    definition: Any,
    events: Sequence[tuple[int, str, Mapping[str, Any]]],
    max_looks: int | None = None,
) -> dict[str, Any]:
    """The primary comparison of ``canary status`` after every result, and where each decision fell.

    ``definition`` is the ``CanaryCreated`` event; ``events`` the canary's later events,
    ``(position, type, data)`` in position order (results and decisions; others are
    ignored). Look ``i`` is the canary as of its ``i``-th result: the per-stage
    statistics of the results so far, folded with Welford's update in position order
    exactly as the read model folds them, and the status and stage the decisions
    recorded before that result left it in. Every look is evaluated by :func:`evaluate`
    and read as :func:`status_document` reads its one look, so the last look's
    ``lift`` and ``ci`` are the ``metric.difference`` and ``metric.ci`` of the status
    as of the last result (and of any later position: decisions do not move them), and
    its ``action`` that status's ``next.action``. ``max_looks`` keeps that many evenly
    spaced looks (always the first and the last). Pure.

    Returns ``{"n": [...], "stage": [...], "status": [...], "action": [...],
    "variants": {candidate: {"lift": [...], "ci": [[lo, hi] | None, ...]}},
    "markers": [{"n", "position", "kind", "stage", "percent"}], "level": alpha}``:
    ``n`` counts results, ``markers`` are the decisions, each after the ``n`` results
    recorded before it.
    """
    from trialbook.domain.metrics import RATIO_PAIRS, observations
    from trialbook.domain.stats import quantiles
    from trialbook.domain.stats.moments import co_welford, welford

    plan = plan_of(definition)
    candidate = definition.candidate
    k = len(plan.stages)
    tracked = plan.tracked
    bases = {engine._values_of(m) for m in tracked if m.kind != "ratio"}
    pairs = {
        (m.numerator or "", m.denominator or "")
        for m in tracked
        if m.kind == "ratio" and (m.numerator or "", m.denominator or "") in set(RATIO_PAIRS)
    }
    quantile_metrics = [
        (m.name, *(quantiles.parse_quantile(m.name) or ("", 0.5)))
        for m in tracked
        if m.kind == "quantile"
    ]
    quantile_bases = {base for _, base, _ in quantile_metrics}
    # the running state, per (stage index, arm index 0 control / 1 candidate)
    counts = [[0, 0] for _ in range(k)]
    mom: dict[tuple[int, int, str], tuple[int, float, float]] = {}
    com: dict[tuple[int, int, tuple[str, str]], tuple[int, float, float, float, float, float]] = {}
    vals: dict[tuple[int, int, str], list[float]] = {}
    status, stage = "running", 1
    markers: list[dict[str, Any]] = []
    snaps: list[dict[str, Any]] = []
    results = [e for e in events if e[1] == "CanaryResultAdded"]
    keep = set(_look_indices(len(results), max_looks).tolist())
    seen = 0
    for position, kind, data in events:
        if kind in DECISION_KINDS:
            word, status = DECISION_KINDS[kind]
            stage = int(data.get("to_stage") or stage)
            markers.append(
                {
                    "n": seen,
                    "position": position,
                    "kind": word,
                    "stage": stage,
                    "percent": plan.stages[stage - 1],
                }
            )
            continue
        if kind != "CanaryResultAdded":
            continue
        s = int(data["stage"]) - 1
        a = 1 if data.get("variant") == candidate else 0
        counts[s][a] += 1
        obs = observations(data)
        for base in bases:
            if base in obs:
                x = obs[base]
                mom[(s, a, base)] = welford(*mom.get((s, a, base), (0, 0.0, 0.0)), (x,))
                if base in quantile_bases and math.isfinite(x):  # what a quantile reads, sorted
                    bisect.insort(vals.setdefault((s, a, base), []), float(x))
        for num, den in pairs:
            if num in obs and den in obs:
                old = com.get((s, a, (num, den)), (0, 0.0, 0.0, 0.0, 0.0, 0.0))
                com[(s, a, (num, den))] = co_welford(*old, ((obs[num], obs[den]),))
        if seen in keep:
            snaps.append(
                {
                    "n": seen + 1,
                    "stage": stage,
                    "status": status,
                    "counts": [tuple(c) for c in counts],
                    "mom": dict(mom),
                    "com": dict(com),
                    "q": {
                        (name, *key[:2]): (len(v), *quantiles.quantile_and_se(v, p))
                        for name, base, p in quantile_metrics
                        for key, v in vals.items()
                        if key[2] == base
                    },
                }
            )
        seen += 1
    out: dict[str, Any] = {
        "n": [sn["n"] for sn in snaps],
        "stage": [sn["stage"] for sn in snaps],
        "status": [sn["status"] for sn in snaps],
        "action": [],
        "variants": {candidate: {"lift": [], "ci": []}},
        "markers": markers,
        "level": plan.alpha,
    }
    if not snaps:
        return out

    def col(f: Any) -> Array:
        return np.array([float(f(sn)) for sn in snaps])

    def moment_arrays(s: int, a: int, base: str) -> MomentArrays:
        get = [sn["mom"].get((s, a, base), (0, 0.0, 0.0)) for sn in snaps]
        return MomentArrays(*(np.array([float(g[i]) for g in get]) for i in range(3)))

    def co_arrays(s: int, a: int, pair: tuple[str, str]) -> CoMomentArrays:
        get = [sn["com"].get((s, a, pair), (0, 0.0, 0.0, 0.0, 0.0, 0.0)) for sn in snaps]
        return CoMomentArrays(*(np.array([float(g[i]) for g in get]) for i in range(6)))

    def stats(m: Metric, s: int, a: int) -> Stats:
        if m.kind == "ratio":
            return co_arrays(s, a, (m.numerator or "", m.denominator or ""))
        return moment_arrays(s, a, engine._values_of(m))

    def quantile_arm(m: Metric, s: int, a: int) -> Arm:
        got = [sn["q"].get((m.name, s, a), (0, math.nan, math.nan)) for sn in snaps]
        arm: Arm = quantiles.quantile_arm(*(np.array([float(g[i]) for g in got]) for i in range(3)))
        return arm

    looks = Looks(
        results=[
            (col(lambda sn, s=s: sn["counts"][s][0]), col(lambda sn, s=s: sn["counts"][s][1]))
            for s in range(k)
        ],
        stats={m.name: [(stats(m, s, 0), stats(m, s, 1)) for s in range(k)] for m in tracked},
        stage=np.array([sn["stage"] - 1 for sn in snaps]),
        arms={
            m.name: [(quantile_arm(m, s, 1), quantile_arm(m, s, 0)) for s in range(k)]
            for m in tracked
            if m.kind == "quantile"
        },
    )
    ev = evaluate(plan, looks)
    cmp = ev.primary
    lo, hi, _, _ = cmp.bounds(plan.alpha)
    actions = []
    for i, sn in enumerate(snaps):
        if sn["status"] != "running":
            actions.append("none")
        elif ev.broken[i]:
            actions.append("halt")
        elif ev.ready[i]:
            actions.append("complete" if sn["stage"] == k else "advance")
        else:
            actions.append("wait")
    out["action"] = actions
    valid = cmp.valid.tolist()
    out["variants"][candidate] = {
        "lift": [_num(d) if v else None for d, v in zip(cmp.diff.tolist(), valid, strict=True)],
        "ci": [_pair(a, b) for a, b in zip(lo.tolist(), hi.tolist(), strict=True)],
    }
    return out
