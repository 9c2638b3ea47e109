"""What an analysis reads: per-variant sufficient statistics, optional per-result rows, settings.

The A/B projection keeps one :class:`~domain.stats.moments.Moments` per
test × variant × metric and one :class:`~domain.stats.moments.CoMoments` per
test × variant × pooled ratio, merged event by event; a :class:`VariantData`
carries exactly those. Paired and non-parametric methods and ``history`` also
need the results themselves, in recording order, as :class:`ResultRow`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from trialbook.domain.stats.moments import CoMoments, Moments


class GuardrailLike(Protocol):
    """A guardrail as :class:`domain.ab.Guardrail` defines it (duck-typed to keep this layer light)."""

    metric: str
    limit: float
    relative: bool


@dataclass(frozen=True)
class Effect:
    """A size of effect: relative to control (a fraction) or in the metric's units.

    For binary metrics the units are proportions: ``Effect(0.05)`` is five
    percentage points, ``Effect(0.05, relative=True)`` is 5 % of control's rate.
    """

    value: float
    relative: bool = False
    #: the text it was parsed from, kept so a recorded analysis re-parses to exactly this effect
    source: str | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.value) and self.value > 0):
            raise ValueError(f"an effect size must be a positive finite number, not {self.value!r}")

    @classmethod
    def parse(cls, text: str) -> Effect:
        """Parse ``10%`` (relative), ``5pp`` (percentage points) or ``2.5`` (metric units)."""
        m = re.fullmatch(
            r"\s*\+?\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(%|pp|pt|points?)?\s*", text
        )
        if not m:
            raise ValueError(
                f"effect {text!r} is not valid; write 10% (relative), 5pp (percentage points) or 2.5 (units)"
            )
        number, unit = m.groups()
        value = float(number)
        source = text.strip()
        if unit == "%":
            return cls(value / 100, relative=True, source=source)
        if unit:
            return cls(value / 100, relative=False, source=source)
        return cls(value, relative=False, source=source)

    def __str__(self) -> str:
        """Text that :meth:`parse` reads back as this effect: the parsed text itself if any.

        Recorded analyses store it, and an audit re-parses it: a rounded form
        (``:g`` keeps 6 digits) would make a precise ``--mde`` fail to reproduce.
        """
        if self.source is not None:
            return self.source
        for digits in range(6, 18):
            text = (
                f"{self.value * 100:.{digits}g}%" if self.relative else f"{self.value:.{digits}g}"
            )
            if Effect.parse(text) == self:
                return text
        # no decimal text divides back to exactly this fraction: the closest one
        return f"{self.value * 100:.17g}%" if self.relative else f"{self.value!r}"


def _effect(option: str, text: str, metric: str, *, new: bool) -> Effect:
    """The effect ``--mde``/``--margin`` ``text`` asks for on ``metric``.

    A new request is read by :func:`domain.units.parse_margin`, whose rules depend on
    the metric's kind (``5pp`` and ``0.05`` are five points on a proportion, ``5%`` is
    relative, a bare ``5`` on a proportion is refused). A recorded analysis replayed
    with its own method (an audit) re-reads its stored text with :meth:`Effect.parse`,
    as it was computed, so decisions recorded before the stricter rule still reproduce.
    """
    from trialbook.domain.errors import InvalidCommand
    from trialbook.domain.units import UnitError, parse_margin

    try:
        if not new:
            return Effect.parse(text)
        m = parse_margin(text, metric)
        return Effect(m.value, relative=m.relative, source=m.text)
    except (UnitError, ValueError) as e:
        raise InvalidCommand(f"{option}: {e}") from None


@dataclass(frozen=True)
class ResultRow:
    """One result of one variant: its metric values (``domain.metrics.observations``) and case id.

    ``failed`` marks a result whose session failed to produce an outcome (for
    example a rollout that errored); it feeds the failed-results imbalance check.
    """

    variant: str
    values: Mapping[str, float]
    case_id: str | None = None
    failed: bool = False


@dataclass(frozen=True)
class VariantData:
    """One variant's sufficient statistics, as the A/B projection keeps them.

    ``results`` counts every result recorded for the variant (the sample-ratio
    check uses it); a metric's ``Moments.n`` counts the results that carried
    that metric, so ``results - n`` are missing values. ``failed`` counts
    results recorded as failed sessions.
    """

    name: str
    results: int
    moments: Mapping[str, Moments] = field(default_factory=dict)
    comoments: Mapping[tuple[str, str], CoMoments] = field(default_factory=dict)
    failed: int = 0

    def __post_init__(self) -> None:
        if self.results < 0 or self.failed < 0:
            raise ValueError(f"variant {self.name!r}: counts must not be negative")


def rows_from_results(results: Iterable[Mapping[str, Any]]) -> tuple[ResultRow, ...]:
    """Rows from stored results (dicts with ``variant``, optional ``case_id`` and the result fields).

    Values come from ``domain.metrics.observations``; a result whose ``failed`` key is
    true is marked failed.
    """
    from trialbook.domain.metrics import observations

    return tuple(
        ResultRow(
            variant=r["variant"],
            values=observations(r),
            case_id=None if r.get("case_id") is None else str(r["case_id"]),
            failed=bool(r.get("failed", False)),
        )
        for r in results
    )


def variant_data_from_rows(
    rows: Iterable[ResultRow], variants: Sequence[str]
) -> tuple[VariantData, ...]:
    """The :class:`VariantData` a projection would hold after folding ``rows``.

    Ratio co-moments are kept for every pair in ``domain.metrics.RATIO_PAIRS``
    whose numerator and denominator a result carries.
    """
    from trialbook.domain.metrics import RATIO_PAIRS

    results = dict.fromkeys(variants, 0)
    failed = dict.fromkeys(variants, 0)
    values: dict[str, dict[str, list[float]]] = {v: {} for v in variants}
    pairs: dict[str, dict[tuple[str, str], list[tuple[float, float]]]] = {v: {} for v in variants}
    for row in rows:
        if row.variant not in results:
            raise ValueError(f"result for unknown variant {row.variant!r}")
        results[row.variant] += 1
        failed[row.variant] += bool(row.failed)
        finite = {k: float(x) for k, x in row.values.items() if math.isfinite(x)}
        for name, x in finite.items():
            values[row.variant].setdefault(name, []).append(x)
        for num, den in RATIO_PAIRS:
            if num in finite and den in finite:
                pairs[row.variant].setdefault((num, den), []).append((finite[num], finite[den]))
    return tuple(
        VariantData(
            name=v,
            results=results[v],
            moments={k: Moments.of(xs) for k, xs in values[v].items()},
            comoments={k: CoMoments.of(ps) for k, ps in pairs[v].items()},
            failed=failed[v],
        )
        for v in variants
    )


@dataclass(frozen=True)
class AnalysisInput:
    """Everything ``analyze`` and ``history`` read.

    The first five fields come from the test's definition (``TestCreated``);
    ``metric`` is the primary metric the recommendation is about.

    - ``secondary_metrics``: further goal metrics, reported and counted in the
      Holm family (variants × goal metrics), never decisive on their own.
    - ``equivalence_margin``: "no meaningful difference" when every variant's
      always-valid interval lies inside ±margin; defaults to ``mde`` when only
      that is given.
    - ``mde``: the effect the user wants to be able to detect; drives "how many more".
    - ``tuning``: total results (all compared arms) at which the always-valid
      interval is tightest; it should be set before the test starts and not
      changed while watching it.
    - ``min_results``: fewest results (or pairs) per arm before any call is made.
    - ``lower_is_better``: directions of custom metrics.
    - ``rows``: per-result rows in recording order, for paired methods and ``history``
      (when they hold every result, ``analyze`` intersects intervals over every look).
    - ``method_version``: compute with this version of the method (an audit of a
      decision recorded with an older one); None for the current one.
    """

    test: str
    variants: tuple[VariantData, ...]
    control: str
    metric: str = "success"
    guardrails: tuple[GuardrailLike, ...] = ()
    split: Mapping[str, float] | None = None
    alpha: float = 0.05
    secondary_metrics: tuple[str, ...] = ()
    equivalence_margin: Effect | None = None
    mde: Effect | None = None
    power: float = 0.8
    tuning: float = 500.0
    min_results: int = 5
    alert_p: float = 0.001
    lower_is_better: Mapping[str, bool] = field(default_factory=dict)
    rows: tuple[ResultRow, ...] | None = None
    method_version: str | None = None
    #: caps fixed at ``ab create`` (``domain.stats.capping.Cap``; applied to their metrics)
    caps: tuple[Any, ...] = ()
    #: ``--covariate NAME``: the per-result value the primary metric is CUPED-adjusted by
    covariate: str | None = None
    #: per-case statistics for the paired comparison when ``rows`` are not given: metric ->
    #: ``(sums, counts)``, arrays of shape (cases, variants) with cases in the order they first
    #: appeared and variants in this input's order (``engine.case_cells`` of the rows with a
    #: case id gives the same arrays; the A/B read model keeps them in ``ab_cases``)
    cases: Mapping[str, tuple[Any, Any]] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        names = [v.name for v in self.variants]
        if len(names) < 2:
            raise ValueError("an analysis needs at least two variants")
        if len(set(names)) != len(names):
            raise ValueError("variant names must be distinct")
        if self.control not in names:
            raise ValueError(
                f"control {self.control!r} is not one of the variants ({', '.join(names)})"
            )
        if not 0 < self.alpha < 0.5:
            raise ValueError(f"alpha must lie between 0 and 0.5, not {self.alpha!r}")
        if not 0 < self.power < 1:
            raise ValueError(f"power must lie between 0 and 1, not {self.power!r}")
        if not (math.isfinite(self.tuning) and self.tuning > 0):
            raise ValueError(f"tuning must be a positive number of results, not {self.tuning!r}")
        if self.min_results < 2:
            raise ValueError("min_results must be at least 2")
        if not 0 < self.alert_p < 1:
            raise ValueError(f"alert_p must lie between 0 and 1, not {self.alert_p!r}")
        if self.split is not None and (
            set(self.split) != set(names)
            or any(not (math.isfinite(w) and w > 0) for w in self.split.values())
        ):
            raise ValueError("split needs a positive weight for every variant")
        if self.rows is not None:
            unknown = {r.variant for r in self.rows} - set(names)
            if unknown:
                raise ValueError(f"rows name unknown variant {sorted(unknown)[0]!r}")

    @classmethod
    def from_definition(
        cls,
        definition: Any,
        variants: Iterable[VariantData],
        rows: Iterable[ResultRow] | None = None,
        **options: Any,
    ) -> AnalysisInput:
        """Build from a test definition (``TestCreated`` or anything with its fields).

        ``variants`` may come in any order; they are put in the definition's order,
        and variants with no data get empty statistics. ``options`` are the other fields
        (``alpha``, ``mde`` …); ``metric`` in options overrides the definition's.
        """
        by_name = {v.name: v for v in variants}
        ordered = tuple(by_name.get(name, VariantData(name, 0)) for name in definition.variants)
        options.setdefault("metric", definition.metric)
        return cls(
            test=definition.name,
            variants=ordered,
            control=definition.control,
            guardrails=tuple(definition.guardrails or ()),
            split=dict(definition.split) if definition.split else None,
            rows=tuple(rows) if rows is not None else None,
            **options,
        )

    @classmethod
    def from_request(
        cls,
        definition: Any,
        variants: Iterable[VariantData],
        rows: Iterable[ResultRow] | None = None,
        *,
        metric: str | None = None,
        alpha: float = 0.05,
        mde: str | None = None,
        margin: str | None = None,
        method_version: str | None = None,
        covariate: str | None = None,
        cases: Mapping[str, tuple[Any, Any]] | None = None,
    ) -> AnalysisInput:
        """The input of an analysis a user asked for, with its options checked.

        ``mde``/``margin`` are effect texts (``10%``, ``5pp``, ``2.5``); the metric must
        be known or have recorded values; the always-valid design is planned for the
        test's ``expected_results`` (recorded at creation), else the default.
        ``method_version`` selects an older method (for audits). Bad options raise a
        one-line ``InvalidCommand``.
        """
        from trialbook.domain.errors import InvalidCommand
        from trialbook.domain.metrics import (
            CUSTOM_METRIC_RE,
            METRICS,
            RATIO_PAIRS,
            SUCCESS_RATE_IS_AMBIGUOUS,
        )

        variants = tuple(variants)
        if not (math.isfinite(alpha) and 0 < alpha < 0.5):
            raise InvalidCommand(
                f"--alpha must lie between 0 and 0.5 (exclusive), e.g. 0.05; got {alpha:g}"
            )
        chosen = metric or definition.metric
        quantile = None
        if ":p" in chosen:  # a quantile of a per-result number: completion_time:p95
            from trialbook.domain.metrics import metric_named

            try:
                quantile = metric_named(chosen).numerator
            except ValueError as e:
                raise InvalidCommand(f"--metric: {e}") from None
            if all(quantile not in v.moments for v in variants):
                raise InvalidCommand(
                    f"test {definition.name!r} has no values of {quantile!r}, so no {chosen}; "
                    "name another with --metric"
                )
        elif chosen not in METRICS:
            if not CUSTOM_METRIC_RE.match(chosen):
                raise InvalidCommand(
                    f"metric {chosen!r} is unknown; use one of {', '.join(METRICS)} or a custom name"
                )
            parts = {part for pair in RATIO_PAIRS for part in pair}
            recorded = sorted(
                {k for v in variants for k in v.moments if k not in METRICS and k not in parts}
            )
            if all(chosen not in v.moments for v in variants):
                if chosen == "success_rate":  # the seed framework's word, not a recorded metric
                    raise InvalidCommand(f"--metric: {SUCCESS_RATE_IS_AMBIGUOUS}")
                known = f"; its custom metrics are: {', '.join(recorded)}" if recorded else ""
                raise InvalidCommand(
                    f"test {definition.name!r} has no values of metric {chosen!r}{known}; "
                    "name another with --metric (e.g. --metric success)"
                )
        effects = {}
        for option, text in (("--mde", mde), ("--margin", margin)):
            if text is not None:
                effects[option] = _effect(option, text, chosen, new=method_version is None)
        options: dict[str, Any] = {"metric": chosen, "alpha": alpha}
        if cases is not None:
            options["cases"] = cases
        if method_version is not None:
            options["method_version"] = method_version
        if "--mde" in effects:
            options["mde"] = effects["--mde"]
        if "--margin" in effects:
            options["equivalence_margin"] = effects["--margin"]
        if getattr(definition, "expected_results", None) is not None:
            options["tuning"] = float(definition.expected_results)
        if getattr(definition, "caps", None):
            from trialbook.domain.stats.cap_rule import Cap

            options["caps"] = tuple(Cap.parse(c) for c in definition.caps)
        if covariate is not None:
            if quantile is not None:
                raise InvalidCommand(
                    f"--covariate adjusts means and rates; {chosen} is a quantile metric: "
                    f"name one with --metric (e.g. --metric {quantile})"
                )
            if covariate == chosen:
                raise InvalidCommand(
                    f"--covariate {covariate}: adjust a mean or a rate by another per-result "
                    f"value, not {chosen} itself"
                )
            if all(covariate not in v.moments for v in variants):
                recorded = sorted({k for v in variants for k in v.moments})
                raise InvalidCommand(
                    f"--covariate {covariate}: test {definition.name!r} has no values of it; "
                    f"its results carry: {', '.join(recorded) or 'no numbers'}"
                )
            if any(c.split(":")[0] == chosen for c in getattr(definition, "caps", None) or ()):
                raise InvalidCommand(
                    f"--covariate: {chosen} is capped (ab create --cap), and CUPED on capped "
                    "values is not supported yet; adjust another metric or analyze without it"
                )
            options["covariate"] = covariate
        try:
            return cls.from_definition(definition, variants, rows, **options)
        except ValueError as e:
            raise InvalidCommand(str(e)) from None

    @property
    def names(self) -> tuple[str, ...]:
        """Variant names in order."""
        return tuple(v.name for v in self.variants)

    def variant(self, name: str) -> VariantData:
        """The data of the variant called ``name``."""
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(name)
