"""``analyze`` and ``history``: the readout and the recommendation of an A/B test.

The decision rule itself lives in :mod:`domain.stats.engine` (vectorised over
looks); this module adds what a person reads beside it — fixed-horizon numbers,
the paired exact and rank tests, the Bayesian readout, power and "how much
longer" — and writes the reason in plain English.

``METHOD_VERSION`` names the method; an analysis asked for with an older
``AnalysisInput.method_version`` is computed by that version's frozen code
(:mod:`domain.stats.v1`), so recorded decisions stay auditable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trialbook.domain.metrics import METRICS, PROPORTIONS, Metric
from trialbook.domain.stats import bayes, engine, frequentist, row_arms, row_report
from trialbook.domain.stats.engine import DECISIONS, Evaluation, Spec
from trialbook.domain.stats.frequentist import FixedResult
from trialbook.domain.stats.model import AnalysisInput, Effect
from trialbook.domain.stats.moments import CoMoments, Moments

#: recorded with every analysis so an audit knows which rules produced it; bump on any change of method
#: 2.1: pairs are used when they cover nine in ten of each arm's results (2.0: half); see
#: ``engine.PAIRED_COVERAGE``. 2.2: a paired test above ``ROWS_FOR_ALL_LOOKS`` results is
#: analysed at its current look from per-case statistics, like every other test of that size
#: (2.1 read its rows with a case id and intersected every look when they covered the test).
#: This code computes 2.0 and 2.1 too (``ledger.analysis.ROW_METHODS`` read their rows).
METHOD_VERSION = "2.2"
#: every method version this code can compute (1.0 by its frozen copy, the others by this code)
METHOD_VERSIONS = ("1.0", "2.0", "2.1", "2.2")
#: ``analyze`` intersects intervals over every look when its rows cover the test; the ledger
#: reads all rows of a test up to this many results (beyond it, the current look alone). Part of
#: the method: an audit recomputes with it, so changing it changes ``METHOD_VERSION``.
ROWS_FOR_ALL_LOOKS = 20_000

#: catalogue metrics that cannot be negative: a relative change lies above -100 %
NONNEGATIVE = frozenset(name for name in METRICS if name != "score")
#: an interval wider than this many standard deviations of single results says nothing yet
NO_INFORMATION_SDS = 3.0

Interval = tuple[float, float]


def _num(x: Any) -> float | None:
    """A finite float, or None."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _interval(lo: Any, hi: Any) -> Interval | None:
    """``(lo, hi)`` as floats when both ends are finite numbers, else None."""
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
    #: (variant, control): results in the pairs, and results with a value of the metric
    covered: tuple[int, int] = (0, 0)
    results: tuple[int, int] = (0, 0)
    #: the share of each arm the pairs must cover to be used (``engine.PAIRED_COVERAGE``)
    coverage_needed: float = engine.PAIRED_COVERAGE

    def to_json(self) -> dict[str, Any]:
        """The ``paired`` block of a variant in ``ab analyze --json``."""
        return {
            "pairs": self.pairs,
            "clustered_by_case": self.repeated,
            "used_for_decision": self.used,
            "results_paired": {"variant": self.covered[0], "control": self.covered[1]},
            "results": {"variant": self.results[0], "control": self.results[1]},
            "coverage_needed": self.coverage_needed,
            "lift": _num(self.lift),
            "ci": _json_interval(self.ci),
            "p_value": _num(self.p_value),
            "fixed_horizon": _fixed_json(self.fixed_horizon),
            "wilcoxon_p": _num(self.wilcoxon_p),
        }


@dataclass(frozen=True)
class Power:
    """Sensitivity now, and how many results a given effect needs.

    ``median_always_valid`` and ``needed_always_valid``: the results per variant
    (or pairs) by which half, and a ``power`` share, of tests with an effect of
    exactly ``target`` decide, given the data so far; ``more`` the median more.
    ``beyond_plan``: the median lies past the planned ``--expected-results``.
    """

    basis: str  # "pairs" or "results per variant"
    mde_fixed: float | None
    mde_always_valid: float | None
    target: Effect | None
    needed_fixed: float | None
    needed_always_valid: float | None
    median_always_valid: float | None
    more: int | None
    beyond_plan: bool | None

    def to_json(self) -> dict[str, Any]:
        """The ``power`` block of a variant in ``ab analyze --json`` (counts rounded up to whole results)."""
        return {
            "basis": self.basis,
            "mde_fixed_horizon": _num(self.mde_fixed),
            "mde_always_valid": _num(self.mde_always_valid),
            "target_mde": None if self.target is None else str(self.target),
            "needed_fixed_horizon": _ceil(self.needed_fixed),
            "needed_always_valid": _ceil(self.needed_always_valid),
            "median_always_valid": _ceil(self.median_always_valid),
            "more_per_variant": self.more,
            "beyond_plan": self.beyond_plan,
        }


@dataclass(frozen=True)
class VariantResult:
    """One variant on one metric; the lift, interval and p-value are the always-valid ones.

    ``notes`` say why a figure is missing or was changed (a relative lift left out,
    an interval clipped to what the metric can be, no spread in the data), as
    ``(kind, text)``; the JSON document lists them among the (non-blocking) alerts.
    """

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
    notes: tuple[tuple[str, str], ...] = field(default=())
    #: false when the interval is too wide to say anything (the reason prints words, not numbers)
    informative: bool = True

    def to_json(self) -> dict[str, Any]:
        """One entry of ``variants`` in ``ab analyze --json`` (its ``notes`` go to the document's alerts)."""
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
        """One metric with all its variants, as ``secondary_metrics`` lists them in ``ab analyze --json``."""
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
        """One entry of ``guardrails`` in ``ab analyze --json``."""
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
    #: the variant a note is about (None for test-wide alerts)
    variant: str | None = None

    def to_json(self) -> dict[str, Any]:
        """One entry of ``alerts`` in ``ab analyze --json``."""
        return {
            "kind": self.kind,
            "message": self.message,
            "p_value": _num(self.p_value),
            "blocking": self.blocking,
            "variant": self.variant,
        }


@dataclass(frozen=True)
class Recommendation:
    """The decision, the variant it names (control for keep/no difference) and why."""

    decision: str
    variant: str | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        """The ``recommendation`` block of ``ab analyze --json``."""
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
        """The recommended decision, one of :data:`domain.stats.engine.DECISIONS`."""
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
    """``x`` with every non-finite float replaced by None, through nested dicts, lists and
    tuples (tuples become lists), so the JSON document never holds nan or infinity.
    """
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    return x


def _json_interval(ci: Interval | None) -> list[float] | None:
    """``[low, high]`` when both ends are finite numbers, else None (never ``[None, None]``)."""
    if ci is None:
        return None
    lo, hi = _num(ci[0]), _num(ci[1])
    return None if lo is None or hi is None else [lo, hi]


def _fixed_json(f: FixedResult | None) -> dict[str, Any] | None:
    """The JSON form of a fixed-horizon result (None for None), with the note that it is valid
    only for one look at a sample size fixed in advance.
    """
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
    """``x`` rounded up to a whole count (within 1e-9 of an integer counts as that integer,
    so rounding noise does not add one); None when ``x`` is None or not finite.
    """
    return None if x is None or not math.isfinite(x) else int(math.ceil(x - 1e-9))


# --------------------------------------------------------------------------- analyze


def _legacy(inp: AnalysisInput) -> Any:
    """The frozen module of ``inp.method_version`` when it is an older one, else None."""
    version = inp.method_version
    if version == "1.0":
        from trialbook.domain.stats.v1 import analysis as v1

        return v1
    if version is None or version == METHOD_VERSION or version in METHOD_VERSIONS[1:]:
        return None  # 2.0 differs from 2.1 only in its pairing share, which engine.spec_of applies
    raise ValueError(
        f"unknown statistics method version {version!r}; this trialbook computes "
        + ", ".join(METHOD_VERSIONS)
    )


def covers_all_results(inp: AnalysisInput) -> bool:
    """Whether ``inp.rows`` hold every result of the test (so every look can be replayed)."""
    return inp.rows is not None and len(inp.rows) == sum(v.results for v in inp.variants)


def _evaluate(inp: AnalysisInput, spec: Spec, *, all_looks: bool, pairs: Any = None) -> Evaluation:
    """Evaluate the current look; with ``all_looks``, every look of the rows, the last from the moments."""
    final = row_arms.attach(spec, engine.step_data_of_input(spec, inp, pairs), inp.rows, last=True)
    if not all_looks:
        return engine.evaluate(spec, final)
    assert inp.rows is not None
    path = row_arms.attach(spec, engine.step_data_of_rows(spec, inp.rows), inp.rows, last=False)
    return engine.evaluate(spec, engine.with_final_look(path, final))


def analyze(inp: AnalysisInput) -> Analysis:
    """The readout and recommendation of a test at its current data.

    The decision uses always-valid inference (see :mod:`domain.stats.sequential`),
    so it may be re-run after every result. When ``inp.rows`` hold every result,
    the intervals are the running intersection over every look (as ``history``
    shows them), so a call once made sticks; otherwise they are the current look's.
    Fixed-horizon numbers, paired exact and rank tests, the Bayesian readout and
    power are reported beside it. ``inp.method_version`` selects an older method.
    """
    legacy = _legacy(inp)
    if legacy is not None:
        return legacy.analyze(inp)  # type: ignore[no-any-return]
    spec = engine.spec_of(inp)
    all_looks = covers_all_results(inp) and bool(inp.rows)
    if row_arms.row_metrics(spec) and not all_looks and any(v.results for v in inp.variants):
        raise ValueError(
            "quantile metrics, caps and --covariate need every result's row (AnalysisInput.rows)"
        )
    if all_looks and row_arms.row_metrics(spec) and len(inp.rows or ()) > ROWS_FOR_ALL_LOOKS:
        all_looks = False  # each look of a quantile or a cap costs O(n): the current look only
    details = engine.pairs_of_input(spec, inp)
    ev = _evaluate(inp, spec, all_looks=all_looks, pairs=details)
    primary = _metric_result(inp, spec, ev, spec.primary, details, with_power=True)
    secondary = tuple(
        _metric_result(inp, spec, ev, m, details, with_power=False) for m in spec.goals[1:]
    )
    guardrails = _guardrails(spec, ev)
    alerts = _alerts(inp, spec, ev) + tuple(
        Alert(kind, f"{v.name}: {text}", None, False, v.name)
        for v in primary.variants
        for kind, text in v.notes
    )
    decision = DECISIONS[int(ev.decision[-1])]
    chosen = int(ev.chosen[-1])
    variant = spec.names[chosen] if chosen >= 0 else None
    looks = len(inp.rows) if all_looks and inp.rows else 1
    reason = _reason(inp, spec, ev, primary, guardrails, alerts, decision, variant, looks)
    return Analysis(
        test=inp.test,
        control=inp.control,
        alpha=inp.alpha,
        ci_level=ev.ci_level,
        method=_method_text(spec, primary, looks),
        primary=primary,
        secondary=secondary,
        guardrails=guardrails,
        alerts=alerts,
        recommendation=Recommendation(decision, variant, reason),
        method_version=inp.method_version or METHOD_VERSION,
        settings={
            "tuning": inp.tuning,
            "min_results": inp.min_results,
            "alert_p": inp.alert_p,
            "power": inp.power,
            "mde": None if inp.mde is None else str(inp.mde),
            "equivalence_margin": None if spec.margin is None else str(spec.margin),
            "secondary_metrics": list(inp.secondary_metrics),
            "holm_family": spec.family,
            "looks_intersected": looks,
            **row_report.settings(inp, spec, ev),
        },
    )


def history(inp: AnalysisInput) -> list[dict[str, Any]]:
    """The recommendation after each result in recording order: ``[{n, decision, variant}, …]``.

    What a user would have seen had they run ``analyze`` after every result. The
    decision rule is the one ``analyze`` applies, evaluated at every prefix at once
    from prefix sums (intervals intersected along the way), so thousands of results
    take milliseconds. Needs ``inp.rows``.
    """
    if inp.rows is None:
        raise ValueError("history needs the per-result rows (AnalysisInput.rows)")
    legacy = _legacy(inp)
    if legacy is not None:
        return legacy.history(inp)  # type: ignore[no-any-return]
    if not inp.rows:
        return []
    spec = engine.spec_of(inp)
    ev = _path_evaluation(inp, spec)
    names = spec.names
    return [
        {"n": i + 1, "decision": DECISIONS[d], "variant": names[c] if c >= 0 else None}
        for i, (d, c) in enumerate(zip(ev.decision.tolist(), ev.chosen.tolist(), strict=True))
    ]


def _path_evaluation(inp: AnalysisInput, spec: Spec) -> Evaluation:
    """Every look of ``inp.rows``; the last is the moments' when the rows cover the test."""
    assert inp.rows is not None
    if covers_all_results(inp):
        return _evaluate(inp, spec, all_looks=True)
    path = row_arms.attach(spec, engine.step_data_of_rows(spec, inp.rows), inp.rows, last=False)
    return engine.evaluate(spec, path)


def interval_history(inp: AnalysisInput, max_looks: int | None = None) -> dict[str, Any]:
    """Each variant's lift on the primary metric and its always-valid interval after every result.

    The looks of :func:`history` (one after each result in recording order), evaluated
    by the same rule, with the figures ``analyze`` reports for the lift: the same
    comparison (paired where the analysis pairs), the same interval level (Holm's
    family), the same running intersection and the same clipping to what the metric
    can be; at the last look they are ``analyze``'s. ``max_looks`` keeps that many
    evenly spaced looks (always the first and the last) for a plot. Returns ``{"n":
    [...], "decision": [...], "variant": [...], "variants": {name: {"lift": [...],
    "ci": [[lo, hi] | None, ...]}}}`` (``None`` where a figure is not yet defined).
    Needs ``inp.rows``.
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
    ev = _path_evaluation(inp, spec)
    if max_looks is None or max_looks >= t:
        looks = np.arange(t)
    else:
        looks = np.unique(np.linspace(0, t - 1, max(2, max_looks)).round().astype(np.int64))
    out["n"] = (looks + 1).tolist()
    out["decision"] = [DECISIONS[d] for d in ev.decision[looks].tolist()]
    out["variant"] = [spec.names[c] if c >= 0 else None for c in ev.chosen[looks].tolist()]
    for i in spec.others:
        cmp = ev.comparisons[spec.primary.name][i]
        lo, hi, _, _ = ev.bounds[spec.primary.name][i]
        cis: list[list[float] | None] = []
        for a, b in zip(lo[looks].tolist(), hi[looks].tolist(), strict=True):
            ci, _ = _clip_lift(spec.primary, _interval(a, b))
            cis.append(None if ci is None else [ci[0], ci[1]])
        out["variants"][spec.names[i]] = {
            "lift": [_num(x) for x in cmp.diff[looks].tolist()],
            "ci": cis,
        }
    return out


# --------------------------------------------------------------------------- pieces


def _status(ev: Evaluation, i: int) -> str:
    """Variant ``i``'s verdict on the primary metric at the last look of ``ev``: ``"better"``,
    ``"worse"``, ``"equivalent"`` (inside the equivalence margin) or ``"unclear"``, in that order
    of precedence.
    """
    if ev.better[i][-1]:
        return "better"
    if ev.worse[i][-1]:
        return "worse"
    if ev.equivalent[i][-1]:
        return "equivalent"
    return "unclear"


def _method_name(metric: Metric, paired: bool, repeated: bool) -> str:
    """The method label of one comparison, "always-valid confidence sequence on the …".

    On per-case differences when ``paired`` (of case means when ``repeated``: several results per
    case); otherwise by the metric's kind: a difference of proportions with the Agresti–Caffo
    variance, a difference of means of per-session rates or of values (Welch), or a difference of
    pooled ratios (delta method).
    """
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
    elif metric.kind == "quantile":
        what = "difference of quantiles (order-statistic standard error; asymptotic)"
    else:
        what = "difference of means (Welch)"
    return f"always-valid confidence sequence on the {what}"


def _fixed(metric: Metric, mv: Any, mc: Any, alpha: float) -> FixedResult:
    """The fixed-horizon test at ``alpha`` of a variant's statistics ``mv`` against control's ``mc``.

    By the metric's kind: ratio metrics take co-moments and get the delta-method z-test of two
    pooled ratios (:func:`~domain.stats.frequentist.ratio_difference`); binary metrics take moments
    and get :func:`~domain.stats.frequentist.two_proportions` (Fisher's exact test at small expected
    counts, else the pooled z-test; successes are the rounded totals); the rest get Welch's t-test
    (:func:`~domain.stats.frequentist.welch`). Valid for one look at a sample size fixed in
    advance only: reported beside the always-valid figures, never used for the decision.
    """
    if metric.kind == "ratio":
        return frequentist.ratio_difference(mv, mc, alpha)
    if metric.kind == "binary":
        return frequentist.two_proportions(round(mv.total), mv.n, round(mc.total), mc.n, alpha)
    return frequentist.welch(mv, mc, alpha)


def _stats_of(metric: Metric, inp: AnalysisInput, name: str) -> Any:
    """The sufficient statistics of ``metric`` for variant ``name``: the co-moments of its
    (numerator, denominator) for a ratio metric, else the metric's moments; empty ones when the
    variant has no value of it.
    """
    v = inp.variant(name)
    if metric.kind == "ratio":
        return v.comoments.get((metric.numerator or "", metric.denominator or ""), CoMoments())
    return v.moments.get(metric.name, Moments())


def _clip_lift(metric: Metric, ci: Interval | None) -> tuple[Interval | None, str | None]:
    """A difference's interval within what the metric allows, and a note when clipped."""
    if ci is None or metric.name not in PROPORTIONS:
        return ci, None
    lo, hi = max(ci[0], -1.0), min(ci[1], 1.0)
    if (lo, hi) == ci:
        return ci, None
    return (lo, hi), (
        "interval clipped to -100 to +100 points, the range a difference of proportions can take"
    )


def _clip_relative(metric: Metric, ci: Interval | None) -> tuple[Interval | None, str | None]:
    """A relative change's interval above -100 % for metrics that cannot be negative."""
    if ci is None or metric.name not in NONNEGATIVE or ci[0] >= -1.0:
        return ci, None
    return (-1.0, max(ci[1], -1.0)), (
        f"relative interval clipped at -100 %: {metric.name} cannot be negative"
    )


def _paired_result(
    metric: Metric,
    spec: Spec,
    ev: Evaluation,
    i: int,
    pair: tuple[engine.PairArrays, engine.PairDetail],
    used: bool,
) -> PairedResult:
    """Variant ``i`` against control on ``metric`` from per-case means; ``pair`` holds the
    per-look pair arrays and the final per-case values (``detail.x`` variant, ``detail.y`` control).

    The lift, interval and p-value are the always-valid paired confidence sequence's: when the
    decision rule weighed pairs against independent arms (``ev.pairing``), the paired sequence it
    computed, intersected over the looks as the decision intersects them; otherwise this look's
    sequence from ``pair`` alone. The interval is None while undefined or when the looks disagree,
    and clipped to ±1 for proportions. The fixed-horizon figure is the paired t-test, or McNemar's
    exact test for binary metrics with a single 0/1 result per case; ``wilcoxon_p`` the Wilcoxon
    signed-rank test on the differences. ``used`` records whether the decision used the pairs.
    """
    pa, detail = pair
    arms = ev.arms[metric.name]
    chosen = ev.pairing[metric.name].get(i)
    if chosen is not None:
        # the paired confidence sequence itself, intersected over the looks as the decision does
        cmp = chosen.b
        paths = None if len(cmp.diff) == 1 else (1, len(cmp.diff))
        lo, hi, _, _ = engine.running_bounds(cmp, ev.ci_level, paths)
        p_good, p_bad = engine.running_p(cmp, metric.lower_is_better, paths)
        p = float(min(p_good[-1], p_bad[-1]))
        diff, valid = cmp.diff[-1], bool(engine.running_any(cmp.valid, paths)[-1])
    else:
        cmp = engine.compare_pairs(
            pa, spec.horizons[i], spec.rhos[i], spec.min_n, binary=metric.kind == "binary"
        )
        lo, hi, _, _ = cmp.bounds(ev.ci_level)
        p, diff, valid = float(cmp.p[-1]), cmp.diff[-1], bool(cmp.valid[-1])
    x, y = detail.x, detail.y
    co = CoMoments(
        int(pa.n[-1]),
        float(pa.mean_x[-1]),
        float(pa.mean_y[-1]),
        float(pa.m2_x[-1]),
        float(pa.m2_y[-1]),
        float(pa.c_xy[-1]),
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
    ci = _interval(lo[-1], hi[-1]) if valid else None
    if ci is not None and ci[0] > ci[1]:
        ci = None
    ci, _ = _clip_lift(metric, ci)
    return PairedResult(
        pairs=int(pa.n[-1]),
        repeated=detail.repeated,
        used=used,
        lift=_num(diff),
        ci=ci,
        p_value=_num(p) if valid else None,
        fixed_horizon=fixed,
        wilcoxon_p=frequentist.wilcoxon_p(x - y),
        covered=(int(pa.cover_x[-1]), int(pa.cover_y[-1])),
        results=(int(arms[i].n[-1]), int(arms[spec.control].n[-1])),
        coverage_needed=spec.paired_coverage,
    )


def _posteriors(metric: Metric, ev: Evaluation) -> list[bayes.Posterior | None]:
    """Each arm's posterior on ``metric`` for the Bayesian readout, None where data are too few.

    Binary metrics: Beta(1 + successes, 1 + failures) (a uniform prior; needs one result); the
    rest: the normal approximation N(estimate, standard error²) (needs two results).
    """
    out: list[bayes.Posterior | None] = []
    for arm in ev.arms[metric.name]:
        n, est = float(arm.n[-1]), float(arm.est[-1])
        if metric.kind == "binary":
            out.append(bayes.Posterior.of_binary(round(est * n), n) if n >= 1 else None)
        else:
            out.append(
                bayes.Posterior.of_normal(est, math.sqrt(arm.var_est[-1])) if n >= 2 else None
            )
    return out


def _spread_note(
    metric: Metric, cmp: engine.Comparison, name: str, control: str, repeated: bool
) -> str | None:
    """Why a comparison with no spread at all in its values reads as it does."""
    if metric.kind not in ("continuous", "rate") and not bool(cmp.paired[-1]):
        return None
    if bool(cmp.spread[-1]) or min(float(cmp.n_v[-1]), float(cmp.n_c[-1])) < 2:
        return None
    if bool(cmp.paired[-1]):
        what = "every case differs by the same amount"
    else:
        what = f"every result of {name} has one value and every result of {control} one value"
    if not bool(cmp.valid[-1]) and float(cmp.diff[-1]) == 0:
        return f"no spread in the data: every result has the same value in {name} and {control}, so there is nothing to compare"
    if not bool(cmp.paired[-1]):
        floor = "result per variant at their pooled mean"
    elif metric.kind == "binary" and not bool(repeated):
        floor = "discordant pair each way"
    else:
        floor = "difference of 0"
    return (
        f"no spread in the data ({what}); the interval counts one extra {floor}, so it narrows "
        "only as results accumulate"
    )


def _metric_result(
    inp: AnalysisInput,
    spec: Spec,
    ev: Evaluation,
    metric: Metric,
    details: dict[str, dict[int, tuple[engine.PairArrays, engine.PairDetail]]],
    with_power: bool,
) -> MetricResult:
    """Every variant on ``metric`` at the last look of ``ev``.

    Control gets its estimate and its chance of being best. Each other variant gets its lift,
    always-valid interval (the running intersection; None until the comparison has been valid, or
    when the looks disagree), running p-value and its Holm-adjusted value, relative lift and
    interval (only where control's own interval lies above zero), status (primary metric only),
    method, fixed-horizon test, paired comparison (where ``details`` hold pairs for it), Bayesian
    readout (from the comparison's own standard error when it is paired or not binary), power
    (``with_power``), and ``notes`` saying why a figure is missing, clipped or uninformative (an
    interval wider than ``NO_INFORMATION_SDS`` standard deviations of single results).
    """
    c = spec.control
    arms = ev.arms[metric.name]
    readout = bayes.readout(_posteriors(metric, ev), c, metric.lower_is_better)
    out = []
    for i, name in enumerate(spec.names):
        arm = arms[i]
        n = int(arm.n[-1])
        base: dict[str, Any] = {
            "name": name,
            "is_control": i == c,
            "n": n,
            "results": inp.variant(name).results,
            "estimate": _num(arm.est[-1]),
            "p_best": readout.p_best[i],
        }
        if i == c:
            out.append(VariantResult(**base))
            continue
        cmp = ev.comparisons[metric.name][i]
        lo, hi, rlo, rhi = ev.bounds[metric.name][i]
        valid = bool(ev.ever_valid[metric.name][i][-1])
        paired_used = bool(cmp.paired[-1])
        pair = details.get(metric.name, {}).get(i)
        paired = _paired_result(metric, spec, ev, i, pair, paired_used) if pair else None
        notes: list[tuple[str, str]] = []
        beats, loss = readout.p_beats_control[i], readout.expected_loss[i]
        if (paired_used or metric.kind != "binary") and bool(cmp.valid[-1]):
            # the comparison's own standard error (paired, or with the variance floor)
            beats, loss = bayes.normal_beats(
                float(cmp.diff[-1]), float(cmp.se[-1]), metric.lower_is_better
            )
        ci = _interval(lo[-1], hi[-1]) if valid else None
        if ci is not None and ci[0] > ci[1]:
            notes.append((
                "intervals_disagree",
                "the intervals of earlier looks and of this one do not overlap: the effect seems "
                "to have changed during the test, so no interval is given",
            ))  # fmt: skip
            ci = None
        informative = True
        if ci is not None and metric.name not in PROPORTIONS:
            spread = math.sqrt(float(arms[i].var_obs[-1] + arms[c].var_obs[-1]))
            if math.isfinite(spread) and (ci[1] - ci[0]) / 2 > NO_INFORMATION_SDS * spread:
                informative = False
                notes.append((
                    "no_information_yet",
                    "no information yet: the always-valid interval is wider than "
                    f"±{NO_INFORMATION_SDS:g} standard deviations of single results",
                ))  # fmt: skip
        ci, clipped = _clip_lift(metric, ci)
        if clipped:
            notes.append(("interval_clipped", clipped))
            if ci is not None and ci[0] <= -1.0 and ci[1] >= 1.0:
                informative = False  # all a difference of proportions can be: nothing learnt yet
        rel_ok = bool(cmp.rel_meaningful(cmp.multiplier(ev.ci_level))[-1]) and bool(cmp.valid[-1])
        if rel_ok:
            rel, rel_ci = _num(cmp.rel[-1]), _interval(rlo[-1], rhi[-1])
            if rel_ci is not None and rel_ci[0] > rel_ci[1]:
                rel_ci = None
            rel_ci, clipped = _clip_relative(metric, rel_ci)
            if clipped:
                notes.append(("interval_clipped", clipped))
        else:
            rel, rel_ci = None, None
            base_est = float(cmp.rel_base[-1])
            if math.isfinite(base_est) and bool(cmp.valid[-1]):
                if base_est <= 0:
                    notes.append((
                        "relative_lift_undefined",
                        f"no relative lift: {spec.names[c]}'s mean ({base_est:.4g}) is not above "
                        "zero, so a change relative to it means nothing",
                    ))  # fmt: skip
                else:
                    notes.append((
                        "relative_lift_undefined",
                        f"no relative lift: {spec.names[c]}'s own always-valid interval reaches "
                        "zero, so a change relative to it means nothing yet",
                    ))  # fmt: skip
        spread_note = _spread_note(
            metric, cmp, name, spec.names[c], bool(paired and paired.repeated)
        )
        if spread_note:
            notes.append(("no_spread", spread_note))
        fixed = row_report.fixed_horizon(inp, spec, metric, name, spec.names[c]) or _fixed(
            metric, _stats_of(metric, inp, name), _stats_of(metric, inp, spec.names[c]), inp.alpha
        )
        if not rel_ok:
            fixed = FixedResult(fixed.method, fixed.lift, fixed.p_value, fixed.ci, None, None)
        out.append(
            VariantResult(
                **base,
                lift=_num(cmp.diff[-1]),
                ci=ci,
                relative_lift=rel,
                relative_ci=rel_ci,
                p_value=_num(ev.p_running[metric.name][i][-1]) if valid else None,
                p_value_adjusted=_num(ev.p_adjusted[metric.name][i][-1]) if valid else None,
                status=_status(ev, i) if metric.name == spec.primary.name else None,
                method=_method_name(metric, paired_used, bool(paired and paired.repeated))
                + row_report.method_suffix(spec, metric),
                fixed_horizon=fixed,
                paired=paired,
                p_beats_control=beats,
                expected_loss=loss,
                power=_power(inp, spec, ev, metric, i) if with_power else None,
                notes=tuple(notes),
                informative=informative,
            )
        )
    return MetricResult(metric, tuple(out))


def _power(inp: AnalysisInput, spec: Spec, ev: Evaluation, metric: Metric, i: int) -> Power:
    """Sensitivity of variant ``i`` against control on ``metric``, and the results a target effect needs.

    ``mde_fixed`` is the smallest effect one fixed-horizon look at the current standard error
    detects with ``inp.power`` (``(z_{1-alpha/2} + z_power) * se``); ``mde_always_valid`` the same
    with the always-valid interval's own multiplier in place of ``z_{1-alpha/2}``; for proportions
    both are dropped above 1. With ``inp.mde`` (a relative one scales control's estimate):
    ``needed_fixed`` from the normal formula (:func:`~domain.stats.frequentist.required_n_fixed`),
    and the median and ``inp.power`` quantiles of the count at which this design decides, from
    :func:`~domain.stats.sequential.design_stopping_quantiles`, started at the current estimate
    when the comparison is valid (else at the target effect with the current count's information).
    Counts are results per variant, or pairs when the comparison is paired.
    """
    from trialbook.domain.stats.sequential import design_stopping_quantiles

    c = spec.control
    cmp = ev.comparisons[metric.name][i]
    arms = ev.arms[metric.name]
    paired = bool(cmp.paired[-1])
    se = float(cmp.se[-1])
    valid = bool(cmp.valid[-1]) and se > 0
    zp = frequentist.z_quantile(inp.power)
    mde_fixed = frequentist.mde_fixed(se, inp.alpha, inp.power) if valid else None
    # the interval's own (t-scaled) multiplier, so that the figure matches the interval shown
    zb = float(cmp.multiplier(ev.ci_level)[-1])
    mde_av = (zb + zp) * se if valid and math.isfinite(zb) else None
    if metric.name in PROPORTIONS:
        # no difference of proportions is larger than 1: beyond it there is no information yet
        mde_fixed = mde_fixed if mde_fixed is not None and mde_fixed <= 1 else None
        mde_av = mde_av if mde_av is not None and mde_av <= 1 else None
    pairs = float(cmp.n_v[-1])
    current = pairs if paired else float(min(arms[i].n[-1], arms[c].n[-1]))
    needed_fixed = needed_av = median = None
    more: int | None = None
    beyond: bool | None = None
    target = inp.mde
    est_c = float(arms[c].est[-1])
    if target is not None and math.isfinite(est_c):
        delta = target.value * abs(est_c) if target.relative else target.value
        sign = -1.0 if metric.lower_is_better else 1.0
        if paired:
            var_unit = se * se * pairs if valid else math.nan
            per_unit = float(cmp.n_obs[-1]) / pairs if pairs > 0 else 2.0
        else:
            per_unit = 2.0
            if metric.kind == "binary":
                p_c = min(max(est_c, 1e-6), 1 - 1e-6)
                p_v = min(max(p_c + sign * delta, 1e-6), 1 - 1e-6)
                var_unit = p_c * (1 - p_c) + p_v * (1 - p_v)
            else:
                var_unit = float(arms[i].var_obs[-1] + arms[c].var_obs[-1])
        if math.isfinite(var_unit) and var_unit > 0 and delta > 0:
            needed_fixed = frequentist.required_n_fixed(delta, var_unit, inp.alpha, inp.power)
            if valid:
                info0 = 1.0 / (se * se)
                s0 = sign * float(cmp.diff[-1]) * info0
            else:
                info0 = max(current, 1e-9) / var_unit
                s0 = delta * info0
            (mid, at_power), beyond_arr = design_stopping_quantiles(
                np.array([0.5, inp.power]),
                s0=s0,
                info0=info0,
                unit_var=var_unit,
                clock0=float(cmp.n_obs[-1]),
                clock_per_unit=per_unit,
                horizon=float(cmp.horizon[-1]),
                level=ev.ci_level,
                rho_reserve=float(cmp.rho[-1]),
                effect=delta,
            )
            if math.isfinite(mid):
                median = current + float(mid)
                more = max(0, int(math.ceil(float(mid) - 1e-9)))
                beyond = bool(beyond_arr[0])
            if math.isfinite(at_power):
                needed_av = current + float(at_power)
    return Power(
        basis="pairs" if paired else "results per variant",
        mde_fixed=mde_fixed,
        mde_always_valid=mde_av,
        target=target,
        needed_fixed=needed_fixed,
        needed_always_valid=needed_av,
        median_always_valid=median,
        more=more,
        beyond_plan=beyond,
    )


def _guardrails(spec: Spec, ev: Evaluation) -> tuple[GuardrailResult, ...]:
    """Each guardrail for each non-control variant at the last look of ``ev``.

    The status (``ok``, ``unclear`` or ``broken``) is the decision rule's; ``worsening`` the point
    estimate of how much worse the variant is (positive = worse; relative for a relative
    guardrail; None while the comparison is not valid or the relative change means nothing yet);
    ``ci`` the always-valid interval of the worsening the status was judged on (None while
    undefined or when the looks disagree).
    """
    out = []
    names = {engine.GUARD_OK: "ok", engine.GUARD_UNCLEAR: "unclear", engine.GUARD_BROKEN: "broken"}
    for g, status, bounds in zip(spec.guards, ev.guard_status, ev.guard_bounds, strict=True):
        for i in spec.others:
            cmp = ev.comparisons[g.metric.name][i]
            rel_ok = bool(cmp.rel_meaningful(cmp.multiplier(spec.alpha))[-1])
            point = (cmp.rel[-1] if rel_ok else math.nan) if g.relative else cmp.diff[-1]
            sign = 1.0 if g.metric.lower_is_better else -1.0
            lo, hi = bounds[i]
            ci = _interval(lo[-1], hi[-1])
            out.append(
                GuardrailResult(
                    metric=g.metric.name,
                    limit=g.limit,
                    relative=g.relative,
                    variant=spec.names[i],
                    status=names[int(status[i][-1])],
                    worsening=_num(sign * point) if cmp.valid[-1] else None,
                    ci=None if ci is None or ci[0] > ci[1] else ci,
                )
            )
    return tuple(out)


def _alerts(inp: AnalysisInput, spec: Spec, ev: Evaluation) -> tuple[Alert, ...]:
    """The test-wide data-quality alerts at the last look of ``ev``.

    Blocking, each when its sequential multinomial test (valid at every look) gives p below
    ``spec.alert_p``: a sample-ratio mismatch of results per variant against the planned shares;
    results without the primary metric unevenly spread over the variants; failed results unevenly
    spread. Not blocking: a guardrail with no data for some variant.
    """
    out: list[Alert] = []
    names = spec.names
    counts = [v.results for v in inp.variants]
    total = sum(spec.shares)
    planned = "/".join(f"{s / total * 100:.0f}%" for s in spec.shares)
    test = "sequential multinomial test, safe to re-check after every result"
    srm = _num(ev.srm_p[-1])
    if srm is not None and srm < spec.alert_p:
        got = ", ".join(f"{n} {c}" for n, c in zip(names, counts, strict=True))
        out.append(
            Alert(
                "sample_ratio_mismatch",
                f"sample-ratio mismatch: results per variant are {got} against a planned {planned} split "
                f"({test}: {_p(srm)}); check how sessions are assigned and whether some are lost",
                srm,
                True,
            )
        )
    prim = spec.primary
    missing = _num(ev.missing_p[-1])
    if missing is not None and missing < spec.alert_p:
        arms = ev.arms[prim.name]
        got = ", ".join(
            f"{n} {c - int(a.n[-1])} of {c}" for n, c, a in zip(names, counts, arms, strict=True)
        )
        out.append(
            Alert(
                "missing_imbalance",
                f"results without {prim.name} are unevenly spread: {got}, against a planned {planned} "
                f"split ({test}: {_p(missing)}); a variant may be failing silently",
                missing,
                True,
            )
        )
    failed = _num(ev.failed_p[-1])
    if failed is not None and failed < spec.alert_p:
        got = ", ".join(f"{v.name} {v.failed} of {v.results}" for v in inp.variants)
        out.append(
            Alert(
                "failed_imbalance",
                f"failed results are unevenly spread: {got}, against a planned {planned} split "
                f"({test}: {_p(failed)})",
                failed,
                True,
            )
        )
    for g in spec.guards:
        empty = [names[i] for i, a in enumerate(ev.arms[g.metric.name]) if a.n[-1] == 0]
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


def _method_text(spec: Spec, primary: MetricResult, looks: int) -> str:
    """The ``method`` line of the readout: the primary metric's comparison methods, the design
    (the results it is planned for, a boundary flat on the Brownian scale up to the plan spending
    90 % of alpha, a normal-mixture reserve valid after it; Lan & DeMets 1983, Howard et al. 2021),
    how many ``looks`` the intervals are intersected over, and the Holm family when there is one.
    """
    kinds = sorted({v.method for v in primary.variants if v.method})
    text = "; ".join(kinds) if kinds else "always-valid confidence sequence"
    text += (
        f" (planned design for {spec.tuning:g} results: a boundary flat on the Brownian scale up to "
        "the plan, spending 90% of alpha, and a normal-mixture reserve valid after it; "
        "Lan & DeMets 1983, Howard et al. 2021)"
    )
    text += (
        f"; intervals intersected over all {looks} looks"
        if looks > 1
        else "; interval of the current look"
    )
    if spec.family > 1:
        text += f"; Holm-adjusted across {spec.family} comparisons"
    return text


# --------------------------------------------------------------------------- the reason


def _p(p: float | None) -> str:
    """A p-value as the reason prints it: ``p = 0.012``, ``p < 0.001``, or ``p n/a`` for None."""
    if p is None:
        return "p n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _val(m: Metric, x: float | None) -> str:
    """An estimate in the metric's unit: a percentage for binary metrics, else 4 significant digits; ``n/a`` for None."""
    if x is None:
        return "n/a"
    return f"{x * 100:.1f}%" if m.kind == "binary" else f"{x:.4g}"


def _lift(m: Metric, d: float | None) -> str:
    """A difference, signed: percentage points for binary metrics, else 4 significant digits; ``n/a`` for None."""
    if d is None:
        return "n/a"
    return f"{d * 100:+.1f} points" if m.kind == "binary" else f"{d:+.4g}"


def _ci(m: Metric, ci: Interval | None) -> str:
    """An interval of a difference in the units of :func:`_lift`, or "not yet defined" for None."""
    if ci is None:
        return "not yet defined"
    if m.kind == "binary":
        return f"{ci[0] * 100:+.1f} to {ci[1] * 100:+.1f} points"
    return f"{ci[0]:+.4g} to {ci[1]:+.4g}"


def _loss(m: Metric, x: float | None) -> str:
    """An expected loss: percentage points for binary metrics, else 3 significant digits; ``n/a`` for None."""
    if x is None:
        return "n/a"
    return f"{x * 100:.2g} points" if m.kind == "binary" else f"{x:.3g}"


def percent(r: float | None) -> str:
    """A relative change as a signed percentage, with no more digits than it can carry."""
    if r is None or not math.isfinite(r):
        return "n/a"
    pct = r * 100
    return f"{pct:+.1f}%" if abs(pct) < 1000 else f"{pct:+.3g}%"


def _rel(r: float | None) -> str:
    """``", +12.3%"``, a relative lift to append after a lift, or nothing for None."""
    return "" if r is None else f", {percent(r)}"


def _margin(m: Metric, e: Effect) -> str:
    """An effect (margin or MDE) for a person: ``±5% (relative)``, ``±2 points`` on a proportion, else ``±0.3``."""
    if e.relative:
        return f"±{e.value * 100:g}% (relative)"
    return f"±{e.value * 100:g} points" if m.name in PROPORTIONS else f"±{e.value:g}"


def _describe(m: Metric, v: VariantResult, c: VariantResult, level: float) -> str:
    """Variant ``v`` against control ``c`` on ``m`` in one clause: both estimates, the lift (and
    relative lift), the always-valid interval at ``level`` (an alpha; "no information yet" when not
    informative) and p-value (and the Holm-adjusted one when it differs), and what the comparison
    rests on (paired cases, or the results of each variant).
    """
    paired = v.paired is not None and v.paired.used
    basis = (
        f"from {v.paired.pairs} paired cases"
        if paired and v.paired
        else f"from {v.n} and {c.n} results"
    )
    adj = f", Holm-adjusted {_p(v.p_value_adjusted)}" if v.p_value_adjusted != v.p_value else ""
    interval = _ci(m, v.ci) if v.informative else "no information yet (too wide)"
    return (
        f"{v.name} {_val(m, v.estimate)} against {_val(m, c.estimate)} for {c.name} "
        f"({_lift(m, v.lift)}{_rel(v.relative_lift)}; always-valid {100 * (1 - level):.4g}% interval "
        f"{interval}, {_p(v.p_value)}{adj}; {basis})"
    )


def _plausible(ev: Evaluation, spec: Spec, power: Power) -> bool:
    """Whether a detectable difference is within a few standard deviations of single results."""
    if spec.primary.name in PROPORTIONS or power.mde_always_valid is None:
        return True
    arms = ev.arms[spec.primary.name]
    worst = max(float(arms[i].var_obs[-1] + arms[spec.control].var_obs[-1]) for i in spec.others)
    return not (
        math.isfinite(worst) and power.mde_always_valid > NO_INFORMATION_SDS * math.sqrt(worst)
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
    looks: int,
) -> str:
    """The plain-English reason for ``decision`` (naming ``variant``), from the readout's pieces.

    - ``blocked``: the blocking alerts, and the most significant comparison for reference only;
    - ``ship``: the comparison, the Bayesian readout and the variant's guardrails;
    - ``no_difference``: every interval inside the equivalence margin;
    - ``keep_control``: for each variant, the broken guardrail, that it is worse, or that it makes
      no meaningful difference;
    - ``continue``: each comparison so far (and which guardrail holds back one that looks better),
      the minimum results still missing, whether the planned results are passed, and how many more
      results the ``--mde`` needs (else the smallest difference detectable now).

    ``ship``, ``no_difference`` and ``keep_control`` add that the intervals stay valid however
    often one looks and, with ``looks`` > 1, that each is the intersection over the looks.
    """
    m = spec.primary
    level = ev.ci_level
    ctrl = primary.variants[spec.control]
    others = [v for v in primary.variants if not v.is_control]
    what = f"{m.name} ({'lower' if m.lower_is_better else 'higher'} is better)"
    always = "These intervals stay valid however often you look."
    if looks > 1:
        always += (
            " Each is the intersection of every look's interval, so a call once made stays made."
        )

    def guards_of(name: str) -> list[GuardrailResult]:
        """The guardrail results of variant ``name``."""
        return [g for g in guardrails if g.variant == name]

    def guard_text(g: GuardrailResult) -> str:
        """One guardrail in words: holds, broken, not yet shown within its limit, or not
        checkable yet, with the bound of the worsening that decides it and the limit.
        """
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

    def notes_of(v: VariantResult) -> str:
        """The notes about ``v`` the reason repeats (no spread, looks that disagree)."""
        keep = [t for k, t in v.notes if k in ("no_spread", "intervals_disagree")]
        return "".join(f" Note for {v.name}: {n}." for n in keep)

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
        return " ".join(parts) + notes_of(v)
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
            + "".join(notes_of(v) for v in others)
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
        parts.append(text + "." + notes_of(v))
    total = sum(v.results for v in primary.variants)
    if total > spec.tuning:
        parts.append(
            f"The test has passed the {spec.tuning:g} results it was planned for (--expected-results): "
            "from here the interval narrows only slowly (the design's reserve)."
        )
    mores = [v.power for v in others if v.power is not None]
    with_more = [p for p in mores if p.more is not None]
    if inp.mde is not None and with_more:
        worst = max(with_more, key=lambda p: p.more or 0)
        beyond = (
            f"; that is past the {spec.tuning:g} results planned, where the interval narrows slowly"
            if worst.beyond_plan
            else ""
        )
        at_power = (
            f", {inp.power * 100:.0f}% by {_ceil(worst.needed_always_valid)}"
            if worst.needed_always_valid is not None
            else ""
        )
        parts.append(
            f"If the true difference is {_margin(m, inp.mde).lstrip('±')}, the median test with this "
            f"design decides at about {_ceil(worst.median_always_valid)} {worst.basis}: about "
            f"{worst.more} more (a median, not a bound: half of such tests take longer{at_power}; "
            f"one fixed-horizon look with {inp.power * 100:.0f}% power needs {_ceil(worst.needed_fixed)}){beyond}."
        )
    elif mores and mores[0].mde_always_valid is not None and _plausible(ev, spec, mores[0]):
        parts.append(
            f"At this size the smallest difference it can reliably detect is about "
            f"{_lift(m, mores[0].mde_always_valid).lstrip('+')}; give an --mde to estimate how many more results are needed."
        )
    elif mores:
        parts.append(
            "At this size no difference is reliably detectable yet (no information yet); give an "
            "--mde to estimate how many more results are needed."
        )
    return " ".join(parts)
