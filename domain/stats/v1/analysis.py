"""``analyze`` and ``history``: the readout and the recommendation of an A/B test.

The decision rule itself lives in :mod:`domain.stats.engine` (vectorised over
looks); this module adds what a person reads beside it — fixed-horizon numbers,
the paired exact and rank tests, the Bayesian readout, power and "how much
longer" — and writes the reason in plain English.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from trialbook.domain.metrics import Metric
from trialbook.domain.stats.model import AnalysisInput, Effect
from trialbook.domain.stats.moments import CoMoments, Moments
from trialbook.domain.stats.v1 import bayes, engine, frequentist
from trialbook.domain.stats.v1.engine import DECISIONS, Evaluation, Spec
from trialbook.domain.stats.v1.frequentist import FixedResult

#: recorded with every analysis so an audit knows which rules produced it; bump on any change of method
METHOD_VERSION = "1.0"

Interval = tuple[float, float]


def _num(x: Any) -> float | None:
    """A finite float, or None."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _interval(lo: Any, hi: Any) -> Interval | None:
    a, b = _num(lo), _num(hi)
    return (a, b) if a is not None and b is not None else None


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class PairedResult:
    """A comparison on per-case differences."""

    pairs: int
    repeated: bool
    used: bool
    lift: float | None
    ci: Interval | None
    p_value: float | None
    fixed_horizon: FixedResult
    wilcoxon_p: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "pairs": self.pairs,
            "clustered_by_case": self.repeated,
            "used_for_decision": self.used,
            "lift": _num(self.lift),
            "ci": _json_interval(self.ci),
            "p_value": _num(self.p_value),
            "fixed_horizon": _fixed_json(self.fixed_horizon),
            "wilcoxon_p": _num(self.wilcoxon_p),
        }


@dataclass(frozen=True)
class Power:
    """Sensitivity now, and how many results a given effect needs."""

    basis: str  # "pairs" or "results per variant"
    mde_fixed: float | None
    mde_always_valid: float | None
    target: Effect | None
    needed_fixed: float | None
    needed_always_valid: float | None
    more: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "basis": self.basis,
            "mde_fixed_horizon": _num(self.mde_fixed),
            "mde_always_valid": _num(self.mde_always_valid),
            "target_mde": None if self.target is None else str(self.target),
            "needed_fixed_horizon": _ceil(self.needed_fixed),
            "needed_always_valid": _ceil(self.needed_always_valid),
            "more_per_variant": self.more,
        }


@dataclass(frozen=True)
class VariantResult:
    """One variant on one metric; the lift, interval and p-value are the always-valid ones."""

    name: str
    is_control: bool
    n: int
    results: int
    estimate: float | None
    lift: float | None = None
    ci: Interval | None = None
    relative_lift: float | None = None
    relative_ci: Interval | None = None
    p_value: float | None = None
    p_value_adjusted: float | None = None
    status: str | None = None
    method: str | None = None
    fixed_horizon: FixedResult | None = None
    paired: PairedResult | None = None
    p_beats_control: float | None = None
    expected_loss: float | None = None
    p_best: float | None = None
    power: Power | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "is_control": self.is_control,
            "n": self.n,
            "results": self.results,
            "estimate": _num(self.estimate),
            "lift": _num(self.lift),
            "ci": _json_interval(self.ci),
            "relative_lift": _num(self.relative_lift),
            "relative_ci": _json_interval(self.relative_ci),
            "p_value": _num(self.p_value),
            "p_value_adjusted": _num(self.p_value_adjusted),
            "status": self.status,
            "method": self.method,
            "fixed_horizon": _fixed_json(self.fixed_horizon),
            "paired": None if self.paired is None else self.paired.to_json(),
            "p_beats_control": _num(self.p_beats_control),
            "expected_loss": _num(self.expected_loss),
            "p_best": _num(self.p_best),
            "power": None if self.power is None else self.power.to_json(),
        }


@dataclass(frozen=True)
class MetricResult:
    """All variants on one metric."""

    metric: Metric
    variants: tuple[VariantResult, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric.name,
            "kind": self.metric.kind,
            "lower_is_better": self.metric.lower_is_better,
            "variants": [v.to_json() for v in self.variants],
        }


@dataclass(frozen=True)
class GuardrailResult:
    """One guardrail for one variant: the worsening against control and its verdict."""

    metric: str
    limit: float
    relative: bool
    variant: str
    status: str  # "ok", "unclear" or "broken"
    worsening: float | None
    ci: Interval | None

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "limit": self.limit,
            "relative": self.relative,
            "variant": self.variant,
            "status": self.status,
            "worsening": _num(self.worsening),
            "ci": _json_interval(self.ci),
        }


@dataclass(frozen=True)
class Alert:
    """A data-quality finding; a blocking one stops any recommendation."""

    kind: str
    message: str
    p_value: float | None
    blocking: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "p_value": _num(self.p_value),
            "blocking": self.blocking,
        }


@dataclass(frozen=True)
class Recommendation:
    """The decision, the variant it names (control for keep/no difference) and why."""

    decision: str
    variant: str | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"decision": self.decision, "variant": self.variant, "reason": self.reason}


@dataclass(frozen=True)
class Analysis:
    """The full readout of a test. ``to_json`` is the ``ab analyze --json`` document."""

    test: str
    control: str
    alpha: float
    ci_level: float
    method: str
    primary: MetricResult
    secondary: tuple[MetricResult, ...]
    guardrails: tuple[GuardrailResult, ...]
    alerts: tuple[Alert, ...]
    recommendation: Recommendation
    settings: dict[str, Any]
    method_version: str = METHOD_VERSION

    @property
    def decision(self) -> str:
        return self.recommendation.decision

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: no nan or infinity anywhere (undefined figures are None)."""
        out = {
            "test": self.test,
            "metric": self.primary.metric.name,
            "kind": self.primary.metric.kind,
            "lower_is_better": self.primary.metric.lower_is_better,
            "control": self.control,
            "alpha": self.alpha,
            "ci_level": 1 - self.ci_level,
            "method": self.method,
            "method_version": self.method_version,
            "variants": [v.to_json() for v in self.primary.variants],
            "secondary_metrics": [m.to_json() for m in self.secondary],
            "guardrails": [g.to_json() for g in self.guardrails],
            "alerts": [a.to_json() for a in self.alerts],
            "recommendation": self.recommendation.to_json(),
            "settings": self.settings,
        }
        return _clean(out)


def _clean(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    return x


def _json_interval(ci: Interval | None) -> list[float] | None:
    return None if ci is None else [ci[0], ci[1]]


def _fixed_json(f: FixedResult | None) -> dict[str, Any] | None:
    if f is None:
        return None
    return {
        "method": f.method,
        "lift": _num(f.lift),
        "p_value": _num(f.p_value),
        "ci": _json_interval(f.ci),
        "relative_lift": _num(f.relative_lift),
        "relative_ci": _json_interval(f.relative_ci),
        "note": "fixed-horizon: valid only for one look at a sample size fixed in advance",
    }


def _ceil(x: float | None) -> int | None:
    return None if x is None or not math.isfinite(x) else int(math.ceil(x - 1e-9))


# --------------------------------------------------------------------------- analyze


def analyze(inp: AnalysisInput) -> Analysis:
    """The readout and recommendation of a test at its current data.

    The decision uses always-valid inference (see :mod:`domain.stats.sequential`),
    so it may be re-run after every result. Fixed-horizon numbers, paired exact and
    rank tests, the Bayesian readout and power are reported beside it.
    """
    spec = engine.spec_of(inp)
    data = engine.step_data_of_input(spec, inp)
    ev = engine.evaluate(spec, data)
    details = engine.batch_pairs(spec, inp.rows) if inp.rows else {}
    primary = _metric_result(inp, spec, ev, spec.primary, details, with_power=True)
    secondary = tuple(
        _metric_result(inp, spec, ev, m, details, with_power=False) for m in spec.goals[1:]
    )
    guardrails = _guardrails(spec, ev)
    alerts = _alerts(inp, spec, ev)
    decision = DECISIONS[int(ev.decision[0])]
    chosen = int(ev.chosen[0])
    variant = spec.names[chosen] if chosen >= 0 else None
    reason = _reason(inp, spec, ev, primary, guardrails, alerts, decision, variant)
    return Analysis(
        test=inp.test,
        control=inp.control,
        alpha=inp.alpha,
        ci_level=ev.ci_level,
        method=_method_text(spec, ev, primary),
        primary=primary,
        secondary=secondary,
        guardrails=guardrails,
        alerts=alerts,
        recommendation=Recommendation(decision, variant, reason),
        settings={
            "tuning": inp.tuning,
            "min_results": inp.min_results,
            "alert_p": inp.alert_p,
            "power": inp.power,
            "mde": None if inp.mde is None else str(inp.mde),
            "equivalence_margin": None if spec.margin is None else str(spec.margin),
            "secondary_metrics": list(inp.secondary_metrics),
            "holm_family": spec.family,
        },
    )


def history(inp: AnalysisInput) -> list[dict[str, Any]]:
    """The recommendation after each result in recording order: ``[{n, decision, variant}, …]``.

    What a user would have seen had they run ``analyze`` after every result. The
    decision rule is the one ``analyze`` applies, evaluated at every prefix at once
    from prefix sums, so thousands of results take milliseconds. Needs ``inp.rows``.
    """
    if inp.rows is None:
        raise ValueError("history needs the per-result rows (AnalysisInput.rows)")
    if not inp.rows:
        return []
    spec = engine.spec_of(inp)
    ev = engine.evaluate(spec, engine.step_data_of_rows(spec, inp.rows))
    names = spec.names
    return [
        {"n": i + 1, "decision": DECISIONS[d], "variant": names[c] if c >= 0 else None}
        for i, (d, c) in enumerate(zip(ev.decision.tolist(), ev.chosen.tolist(), strict=True))
    ]


def interval_history(inp: AnalysisInput, max_looks: int | None = None) -> dict[str, Any]:
    """Each variant's lift on the primary metric and its always-valid interval after every result.

    The looks of :func:`history` (one after each result in recording order), evaluated
    by the same rule, with the figures ``analyze`` reports for the lift: the same
    comparison (paired where the analysis pairs), the same interval level (Holm's
    family) and, for proportions, the same clipping to [-1, 1]; at the last look they
    are ``analyze``'s. ``max_looks`` keeps that many evenly spaced looks (always the
    first and the last) for a plot. Returns ``{"n": [...], "decision": [...],
    "variant": [...], "variants": {name: {"lift": [...], "ci": [[lo, hi] | None, ...]}}}``
    (``None`` where a figure is not yet defined). Needs ``inp.rows``.
    """
    if inp.rows is None:
        raise ValueError("interval_history needs the per-result rows (AnalysisInput.rows)")
    spec = engine.spec_of(inp)
    t = len(inp.rows)
    out: dict[str, Any] = {"n": [], "decision": [], "variant": [], "variants": {}}
    if not t:
        for i in spec.others:
            out["variants"][spec.names[i]] = {"lift": [], "ci": []}
        return out
    ev = engine.evaluate(spec, engine.step_data_of_rows(spec, inp.rows))
    if max_looks is None or max_looks >= t:
        looks = np.arange(t)
    else:
        looks = np.unique(np.linspace(0, t - 1, max(2, max_looks)).round().astype(np.int64))
    binary = spec.primary.kind == "binary"
    out["n"] = (looks + 1).tolist()
    out["decision"] = [DECISIONS[d] for d in ev.decision[looks].tolist()]
    out["variant"] = [spec.names[c] if c >= 0 else None for c in ev.chosen[looks].tolist()]
    for i in spec.others:
        cmp = ev.comparisons[spec.primary.name][i]
        lo, hi, _, _ = ev.bounds[spec.primary.name][i]
        cis: list[list[float] | None] = []
        for a, b in zip(lo[looks].tolist(), hi[looks].tolist(), strict=True):
            ci = _interval(a, b)
            if ci is not None and binary:
                ci = (max(ci[0], -1.0), min(ci[1], 1.0))
            cis.append(None if ci is None else [ci[0], ci[1]])
        out["variants"][spec.names[i]] = {
            "lift": [_num(x) for x in cmp.diff[looks].tolist()],
            "ci": cis,
        }
    return out


# --------------------------------------------------------------------------- pieces


def _status(ev: Evaluation, i: int) -> str:
    if ev.better[i][0]:
        return "better"
    if ev.worse[i][0]:
        return "worse"
    if ev.equivalent[i][0]:
        return "equivalent"
    return "unclear"


def _method_name(metric: Metric, paired: bool, repeated: bool) -> str:
    if paired:
        what = "mean of per-case differences" + (
            " (case means: results clustered by case)" if repeated else ""
        )
    elif metric.kind == "binary":
        what = "difference of proportions (Agresti-Caffo variance)"
    elif metric.kind == "rate":
        what = "difference of means of per-session rates (Welch)"
    elif metric.kind == "ratio":
        what = "difference of pooled ratios (delta method)"
    else:
        what = "difference of means (Welch)"
    return f"always-valid confidence sequence on the {what}"


def _fixed(metric: Metric, mv: Any, mc: Any, alpha: float) -> FixedResult:
    if metric.kind == "ratio":
        return frequentist.ratio_difference(mv, mc, alpha)
    if metric.kind == "binary":
        return frequentist.two_proportions(round(mv.total), mv.n, round(mc.total), mc.n, alpha)
    return frequentist.welch(mv, mc, alpha)


def _stats_of(metric: Metric, inp: AnalysisInput, name: str) -> Any:
    v = inp.variant(name)
    if metric.kind == "ratio":
        return v.comoments.get((metric.numerator or "", metric.denominator or ""), CoMoments())
    return v.moments.get(metric.name, Moments())


def _paired_result(
    metric: Metric,
    spec: Spec,
    pair: tuple[engine.PairArrays, engine.PairDetail],
    used: bool,
    level: float,
) -> PairedResult:
    pa, detail = pair
    cmp = engine.compare_pairs(pa, spec.rho_pairs, spec.min_n, binary=metric.kind == "binary")
    lo, hi, _, _ = cmp.bounds(level)
    x, y = detail.x, detail.y
    co = CoMoments(
        int(pa.n[0]),
        float(pa.mean_x[0]),
        float(pa.mean_y[0]),
        float(pa.m2_x[0]),
        float(pa.m2_y[0]),
        float(pa.c_xy[0]),
    )
    fixed = frequentist.paired_t(co, spec.alpha)
    is01 = bool(np.all((x == 0) | (x == 1)) and np.all((y == 0) | (y == 1)))
    if metric.kind == "binary" and is01 and not detail.repeated:
        b = int(np.sum((x == 1) & (y == 0)))
        c = int(np.sum((x == 0) & (y == 1)))
        fixed = FixedResult(
            f"McNemar's exact test ({b} pairs only the variant passed, {c} only control)",
            fixed.lift,
            frequentist.mcnemar_exact(b, c),
            fixed.ci,
        )
    return PairedResult(
        pairs=int(pa.n[0]),
        repeated=detail.repeated,
        used=used,
        lift=_num(cmp.diff[0]),
        ci=_interval(lo[0], hi[0]),
        p_value=_num(cmp.p[0]) if cmp.valid[0] else None,
        fixed_horizon=fixed,
        wilcoxon_p=frequentist.wilcoxon_p((x - y).tolist()),
    )


def _posteriors(metric: Metric, ev: Evaluation) -> list[bayes.Posterior | None]:
    out: list[bayes.Posterior | None] = []
    for arm in ev.arms[metric.name]:
        n, est = float(arm.n[0]), float(arm.est[0])
        if metric.kind == "binary":
            out.append(bayes.Posterior.of_binary(round(est * n), n) if n >= 1 else None)
        else:
            out.append(
                bayes.Posterior.of_normal(est, math.sqrt(arm.var_est[0])) if n >= 2 else None
            )
    return out


def _metric_result(
    inp: AnalysisInput,
    spec: Spec,
    ev: Evaluation,
    metric: Metric,
    details: dict[str, dict[int, tuple[engine.PairArrays, engine.PairDetail]]],
    with_power: bool,
) -> MetricResult:
    c = spec.control
    arms = ev.arms[metric.name]
    readout = bayes.readout(_posteriors(metric, ev), c, metric.lower_is_better)
    out = []
    for i, name in enumerate(spec.names):
        arm = arms[i]
        n = int(arm.n[0])
        base: dict[str, Any] = {
            "name": name,
            "is_control": i == c,
            "n": n,
            "results": inp.variant(name).results,
            "estimate": _num(arm.est[0]),
            "p_best": readout.p_best[i],
        }
        if i == c:
            out.append(VariantResult(**base))
            continue
        cmp = ev.comparisons[metric.name][i]
        lo, hi, rlo, rhi = ev.bounds[metric.name][i]
        paired_used = bool(cmp.paired[0])
        pair = details.get(metric.name, {}).get(i)
        paired = _paired_result(metric, spec, pair, paired_used, ev.ci_level) if pair else None
        beats, loss = readout.p_beats_control[i], readout.expected_loss[i]
        if paired_used:
            # the paired comparison is the sharper evidence: read the posterior of the mean difference from it
            beats, loss = bayes.normal_beats(
                float(cmp.diff[0]), float(cmp.se[0]), metric.lower_is_better
            )
        ci, rel_ci = _interval(lo[0], hi[0]), _interval(rlo[0], rhi[0])
        if metric.kind == "binary":
            # a difference of proportions lies in [-1, 1] and a relative lift above -1: say no more than that
            ci = None if ci is None else (max(ci[0], -1.0), min(ci[1], 1.0))
            rel_ci = None if rel_ci is None else (max(rel_ci[0], -1.0), rel_ci[1])
        out.append(
            VariantResult(
                **base,
                lift=_num(cmp.diff[0]),
                ci=ci,
                relative_lift=_num(cmp.rel[0]),
                relative_ci=rel_ci,
                p_value=_num(cmp.p[0]) if cmp.valid[0] else None,
                p_value_adjusted=_num(ev.p_adjusted[metric.name][i][0]) if cmp.valid[0] else None,
                status=_status(ev, i) if metric.name == spec.primary.name else None,
                method=_method_name(metric, paired_used, bool(paired and paired.repeated)),
                fixed_horizon=_fixed(
                    metric,
                    _stats_of(metric, inp, name),
                    _stats_of(metric, inp, spec.names[c]),
                    inp.alpha,
                ),
                paired=paired,
                p_beats_control=beats,
                expected_loss=loss,
                power=_power(inp, spec, ev, metric, i) if with_power else None,
            )
        )
    return MetricResult(metric, tuple(out))


def _power(inp: AnalysisInput, spec: Spec, ev: Evaluation, metric: Metric, i: int) -> Power:
    from trialbook.domain.stats.v1.sequential import z_boundary

    c = spec.control
    cmp = ev.comparisons[metric.name][i]
    arms = ev.arms[metric.name]
    paired = bool(cmp.paired[0])
    se = float(cmp.se[0])
    zp = frequentist.z_quantile(inp.power)
    mde_fixed = frequentist.mde_fixed(se, inp.alpha, inp.power) if cmp.valid[0] else None
    zb = float(z_boundary(cmp.n_obs[0], ev.ci_level, float(cmp.rho[0])))
    mde_av = (zb + zp) * se if cmp.valid[0] and se > 0 and math.isfinite(zb) else None
    current = float(cmp.n_v[0]) if paired else float(min(arms[i].n[0], arms[c].n[0]))
    needed_fixed = needed_av = None
    more = None
    target = inp.mde
    est_c = float(arms[c].est[0])
    if target is not None and math.isfinite(est_c):
        delta = target.value * abs(est_c) if target.relative else target.value
        if paired:
            var_sum = float(cmp.se[0]) ** 2 * float(cmp.n_obs[0])
            arms_count, rho = 1, spec.rho_pairs
        else:
            arms_count, rho = 2, spec.rho
            if metric.kind == "binary":
                sign = -1.0 if metric.lower_is_better else 1.0
                p_c = min(max(est_c, 1e-6), 1 - 1e-6)
                p_v = min(max(p_c + sign * delta, 1e-6), 1 - 1e-6)
                var_sum = p_c * (1 - p_c) + p_v * (1 - p_v)
            else:
                var_sum = float(arms[i].var_obs[0] + arms[c].var_obs[0])
        if math.isfinite(var_sum) and var_sum > 0 and delta > 0:
            needed_fixed = frequentist.required_n_fixed(delta, var_sum, inp.alpha, inp.power)
            needed_av = frequentist.required_n_sequential(
                delta, var_sum, ev.ci_level, inp.power, rho, arms=arms_count
            )
            if needed_av is not None:
                more = max(0, int(math.ceil(needed_av - current - 1e-9)))
    return Power(
        basis="pairs" if paired else "results per variant",
        mde_fixed=mde_fixed,
        mde_always_valid=mde_av,
        target=target,
        needed_fixed=needed_fixed,
        needed_always_valid=needed_av,
        more=more,
    )


def _guardrails(spec: Spec, ev: Evaluation) -> tuple[GuardrailResult, ...]:
    out = []
    names = {engine.GUARD_OK: "ok", engine.GUARD_UNCLEAR: "unclear", engine.GUARD_BROKEN: "broken"}
    for g, status, bounds in zip(spec.guards, ev.guard_status, ev.guard_bounds, strict=True):
        for i in spec.others:
            cmp = ev.comparisons[g.metric.name][i]
            point = cmp.rel[0] if g.relative else cmp.diff[0]
            sign = 1.0 if g.metric.lower_is_better else -1.0
            lo, hi = bounds[i]
            out.append(
                GuardrailResult(
                    metric=g.metric.name,
                    limit=g.limit,
                    relative=g.relative,
                    variant=spec.names[i],
                    status=names[int(status[i][0])],
                    worsening=_num(sign * point) if cmp.valid[0] else None,
                    ci=_interval(lo[0], hi[0]),
                )
            )
    return tuple(out)


def _alerts(inp: AnalysisInput, spec: Spec, ev: Evaluation) -> tuple[Alert, ...]:
    out: list[Alert] = []
    names = spec.names
    counts = [v.results for v in inp.variants]
    srm = _num(ev.srm_p[0])
    if srm is not None and srm < spec.alert_p:
        total = sum(spec.shares)
        planned = "/".join(f"{s / total * 100:.0f}%" for s in spec.shares)
        got = ", ".join(f"{n} {c}" for n, c in zip(names, counts, strict=True))
        out.append(
            Alert(
                "sample_ratio_mismatch",
                f"sample-ratio mismatch: results per variant are {got} against a planned {planned} split "
                f"(chi-square {_p(srm)}); check how sessions are assigned and whether some are lost",
                srm,
                True,
            )
        )
    prim = spec.primary
    missing = _num(ev.missing_p[0])
    if missing is not None and missing < spec.alert_p:
        arms = ev.arms[prim.name]
        got = ", ".join(
            f"{n} {c - int(a.n[0])} of {c}" for n, c, a in zip(names, counts, arms, strict=True)
        )
        out.append(
            Alert(
                "missing_imbalance",
                f"results without {prim.name} are unevenly spread: {got} (chi-square {_p(missing)}); "
                "a variant may be failing silently",
                missing,
                True,
            )
        )
    failed = _num(ev.failed_p[0])
    if failed is not None and failed < spec.alert_p:
        got = ", ".join(f"{v.name} {v.failed} of {v.results}" for v in inp.variants)
        out.append(
            Alert(
                "failed_imbalance",
                f"failed results are unevenly spread: {got} (chi-square {_p(failed)})",
                failed,
                True,
            )
        )
    for g in spec.guards:
        empty = [names[i] for i, a in enumerate(ev.arms[g.metric.name]) if a.n[0] == 0]
        if empty:
            out.append(
                Alert(
                    "guardrail_without_data",
                    f"guardrail {g.metric.name} has no data for {', '.join(empty)}; no variant can be shipped "
                    "until it has",
                    None,
                    False,
                )
            )
    return tuple(out)


def _method_text(spec: Spec, ev: Evaluation, primary: MetricResult) -> str:
    kinds = sorted({v.method for v in primary.variants if v.method})
    text = "; ".join(kinds) if kinds else "always-valid confidence sequence"
    text += (
        f" (normal mixture tuned for {1 / (spec.rho**2) * _tuning_factor(spec.alpha):.0f} results;"
        " Waudby-Smith et al. 2024, Howard et al. 2021)"
    )
    if spec.family > 1:
        text += f"; Holm-adjusted across {spec.family} comparisons"
    return text


def _tuning_factor(alpha: float) -> float:
    la = -2 * math.log(alpha)
    return la + math.log(la + 1)


# --------------------------------------------------------------------------- the reason


def _p(p: float | None) -> str:
    if p is None:
        return "p n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _val(m: Metric, x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x * 100:.1f}%" if m.kind == "binary" else f"{x:.4g}"


def _lift(m: Metric, d: float | None) -> str:
    if d is None:
        return "n/a"
    return f"{d * 100:+.1f} points" if m.kind == "binary" else f"{d:+.4g}"


def _ci(m: Metric, ci: Interval | None) -> str:
    if ci is None:
        return "not yet defined"
    if m.kind == "binary":
        return f"{ci[0] * 100:+.1f} to {ci[1] * 100:+.1f} points"
    return f"{ci[0]:+.4g} to {ci[1]:+.4g}"


def _loss(m: Metric, x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x * 100:.2g} points" if m.kind == "binary" else f"{x:.3g}"


def _rel(r: float | None) -> str:
    return "" if r is None else f", {r * 100:+.1f}%"


def _margin(m: Metric, e: Effect) -> str:
    if e.relative:
        return f"±{e.value * 100:g}%"
    return f"±{e.value * 100:g} points" if m.kind == "binary" else f"±{e.value:g}"


def _describe(m: Metric, v: VariantResult, c: VariantResult, level: float) -> str:
    paired = v.paired is not None and v.paired.used
    basis = (
        f"from {v.paired.pairs} paired cases"
        if paired and v.paired
        else f"from {v.n} and {c.n} results"
    )
    adj = f", Holm-adjusted {_p(v.p_value_adjusted)}" if v.p_value_adjusted != v.p_value else ""
    return (
        f"{v.name} {_val(m, v.estimate)} against {_val(m, c.estimate)} for {c.name} "
        f"({_lift(m, v.lift)}{_rel(v.relative_lift)}; always-valid {100 * (1 - level):.4g}% interval "
        f"{_ci(m, v.ci)}, {_p(v.p_value)}{adj}; {basis})"
    )


def _reason(
    inp: AnalysisInput,
    spec: Spec,
    ev: Evaluation,
    primary: MetricResult,
    guardrails: tuple[GuardrailResult, ...],
    alerts: tuple[Alert, ...],
    decision: str,
    variant: str | None,
) -> str:
    m = spec.primary
    level = ev.ci_level
    ctrl = primary.variants[spec.control]
    others = [v for v in primary.variants if not v.is_control]
    what = f"{m.name} ({'lower' if m.lower_is_better else 'higher'} is better)"
    always = "These intervals stay valid however often you look."

    def guards_of(name: str) -> list[GuardrailResult]:
        return [g for g in guardrails if g.variant == name]

    def guard_text(g: GuardrailResult) -> str:
        unit = "%" if g.relative else ""
        scale = 100 if g.relative else 1
        limit = f"+{g.limit * scale:g}{unit}"
        if g.ci is None:
            return f"{g.metric} cannot be checked yet (limit {limit})"
        worst = f"{g.ci[1] * scale:+.3g}{unit}"
        least = f"{g.ci[0] * scale:+.3g}{unit}"
        if g.status == "ok":
            return f"{g.metric} holds (at worst {worst} worse, limit {limit})"
        if g.status == "broken":
            return f"{g.metric} is broken (at least {least} worse, limit {limit})"
        return f"{g.metric} is not yet shown within its limit (worsening between {least} and {worst}, limit {limit})"

    if decision == "blocked":
        msgs = "; ".join(a.message for a in alerts if a.blocking)
        best = max(others, key=lambda v: (v.p_value is not None, -(v.p_value or 1)))
        return (
            f"Blocked by a data-quality alert: {msgs}. No recommendation is safe until this is explained. "
            f"For reference only, on {what}: {_describe(m, best, ctrl, level)}."
        )
    if decision == "ship":
        v = next(x for x in others if x.name == variant)
        parts = [
            f"Ship {v.name}: it is better than {ctrl.name} on {what}: {_describe(m, v, ctrl, level)}. {always}"
        ]
        if v.p_beats_control is not None:
            parts.append(
                f"Bayesian readout: {v.p_beats_control * 100:.1f}% chance it beats {ctrl.name}, "
                f"expected loss if it is in fact worse: {_loss(m, v.expected_loss)}."
            )
        gs = guards_of(v.name)
        if gs:
            parts.append("Guardrails: " + "; ".join(guard_text(g) for g in gs) + ".")
        return " ".join(parts)
    if decision == "no_difference":
        assert spec.margin is not None
        body = "; ".join(_describe(m, v, ctrl, level) for v in others)
        return (
            f"No meaningful difference on {what}: every variant's always-valid interval lies inside the "
            f"{_margin(m, spec.margin)} equivalence margin: {body}. Keep {ctrl.name}, or choose on other grounds. {always}"
        )
    if decision == "keep_control":
        why = []
        for v in others:
            broken = [g for g in guards_of(v.name) if g.status == "broken"]
            if broken:
                why.append(
                    f"{v.name} breaks a guardrail: " + "; ".join(guard_text(g) for g in broken)
                )
            elif v.status == "worse":
                why.append(f"{v.name} is worse: {_describe(m, v, ctrl, level)}")
            else:
                why.append(
                    f"{v.name} makes no meaningful difference: {_describe(m, v, ctrl, level)}"
                )
        return (
            f"Keep {ctrl.name}: no variant is an improvement on {what}. "
            + ". ".join(why)
            + f". {always}"
        )

    # continue
    parts = [
        f"Keep collecting: no variant is yet clearly better or worse than {ctrl.name} on {what}."
    ]
    small = [v for v in primary.variants if v.n < spec.min_n]
    if small:
        parts.append(
            f"Each variant needs at least {spec.min_n} results before any call ("
            + ", ".join(f"{v.name} has {v.n}" for v in small)
            + ")."
        )
    for v in others:
        text = _describe(m, v, ctrl, level)
        if v.status == "better":
            pending = [g for g in guards_of(v.name) if g.status != "ok"]
            text += " looks better, but guardrail " + "; ".join(guard_text(g) for g in pending)
        parts.append(text + ".")
    mores = [v.power for v in others if v.power is not None]
    with_more = [p for p in mores if p.more is not None]
    if inp.mde is not None and with_more:
        worst = max(with_more, key=lambda p: p.more or 0)
        parts.append(
            f"To detect {_margin(m, inp.mde).lstrip('±')} with {inp.power * 100:.0f}% power you need about "
            f"{_ceil(worst.needed_always_valid)} {worst.basis} with always-valid monitoring, a conservative "
            f"figure ({_ceil(worst.needed_fixed)} for one fixed-horizon look): about {worst.more} more."
        )
    elif mores and mores[0].mde_always_valid is not None:
        parts.append(
            f"At this size the smallest difference it can reliably detect is about "
            f"{_lift(m, mores[0].mde_always_valid).lstrip('+')}; give an --mde to estimate how many more results are needed."
        )
    return " ".join(parts)
