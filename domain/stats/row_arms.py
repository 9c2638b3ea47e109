"""Arms the moments cannot give: quantiles, capped means and CUPED-adjusted means, from the rows.

The A/B projection folds means and variances; a quantile, a mean capped at a pooled
percentile and a covariate-adjusted mean all need the per-result values. For the
metrics an analysis asks for in these forms (:func:`row_metrics`), :func:`arms_of_rows`
computes every look's :class:`~domain.stats.engine.Arm` from the rows in recording
order, and the engine uses them in place of the moments' (same boundary, running
intersection, guardrails and Holm family). Analyses that ask for none of them never
come here: method 2.0's figures for existing tests are unchanged.

- quantile metrics (``completion_time:p95``): :mod:`domain.stats.quantiles`;
- a metric with a cap recorded at ``ab create`` (``--cap cost:p99``): :mod:`domain.stats.capping`;
- the primary metric with ``--covariate NAME``: :mod:`domain.stats.cuped`, the plan
  read as information (``horizon_scale``: the share of the plan each look's
  comparison needs, ``1 - variance reduction``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trialbook.domain.stats.model import ResultRow

Array = np.ndarray


@dataclass
class RowArms:
    """Per metric: the arms at every look; per metric and variant: the plan's share; what to report."""

    arms: dict[str, list[Any]] = field(default_factory=dict)
    horizon_scale: dict[str, dict[int, Array]] = field(default_factory=dict)
    #: per metric: thresholds of a cap (every look), CUPED's theta and reductions (every look)
    info: dict[str, dict[str, Any]] = field(default_factory=dict)


def row_metrics(spec: Any) -> list[Any]:
    """The tracked metrics of ``spec`` whose arms come from the rows."""
    caps = {c.metric for c in getattr(spec, "caps", ())}
    covariate = getattr(spec, "covariate", None)
    out = []
    for m in spec.tracked:
        if (
            m.kind == "quantile"
            or (m.name in caps and m.kind in ("continuous", "rate"))
            or covariate is not None
            and m.name == spec.primary.name
            and m.kind != "ratio"
        ):
            out.append(m)
    return out


def _column(rows: Sequence[ResultRow], key: str) -> Array:
    return np.fromiter((r.values.get(key, math.nan) for r in rows), dtype=float, count=len(rows))


def arms_of_rows(
    spec: Any, rows: Sequence[ResultRow], metrics: Sequence[Any] | None = None
) -> RowArms:
    """Every look's arms of :func:`row_metrics` (or of ``metrics``), one look per row, in order."""
    from trialbook.domain.stats import capping, cuped, engine, quantiles

    out = RowArms()
    metrics = row_metrics(spec) if metrics is None else metrics
    if not metrics:
        return out
    k = len(spec.names)
    index = {name: i for i, name in enumerate(spec.names)}
    vi = np.fromiter((index[r.variant] for r in rows), dtype=np.int64, count=len(rows))
    caps = {c.metric: c for c in getattr(spec, "caps", ())}
    covariate = getattr(spec, "covariate", None)
    for m in metrics:
        if m.kind == "quantile":
            parsed = quantiles.parse_quantile(m.name)
            assert parsed is not None
            y = _column(rows, parsed[0])
            arms = []
            for j in range(k):
                n, est, se = quantiles.running_quantile_masked(y, vi == j, parsed[1])
                arms.append(quantiles.quantile_arm(n, est, se))
            out.arms[m.name] = arms
        elif m.name in caps and (covariate is None or m.name != spec.primary.name):
            cap = caps[m.name]
            y = _column(rows, m.name)
            thresholds = capping.running_thresholds(cap, y)
            out.arms[m.name] = [
                engine.mean_arm(
                    engine.MomentArrays(*capping.running_capped_moments(y, vi == j, thresholds))
                )
                for j in range(k)
            ]
            out.info[m.name] = {"cap": cap, "thresholds": thresholds}
        else:
            assert covariate is not None
            y, x = _column(rows, m.name), _column(rows, covariate)
            sums = [cuped.cumulative(y, x, vi == j) for j in range(k)]
            adjusted = cuped.adjust_many(sums)
            out.arms[m.name] = adjusted.arms
            scale = {}
            reduction = {}
            for i in spec.others:
                r = adjusted.reduction(i, spec.control)
                reduction[i] = r
                scale[i] = cuped.information_horizon(1.0, r)
            out.horizon_scale[m.name] = scale
            out.info[m.name] = {
                "covariate": covariate,
                "theta": adjusted.theta,
                "variance_reduction": reduction,
            }
    return out


def last_look(ra: RowArms) -> RowArms:
    """Only the last look of every array (the current data)."""

    def tail(a: Any) -> Any:
        return type(a)(**{f: np.asarray(getattr(a, f))[..., -1:] for f in a.__dataclass_fields__})

    return RowArms(
        arms={name: [tail(a) for a in per] for name, per in ra.arms.items()},
        horizon_scale={
            name: {i: np.asarray(s)[..., -1:] for i, s in per.items()}
            for name, per in ra.horizon_scale.items()
        },
        info=ra.info,
    )


def attach(spec: Any, data: Any, rows: Sequence[ResultRow] | None, *, last: bool) -> Any:
    """``data`` (an ``engine.StepData``) with the row arms of ``spec``'s metrics (their last look with ``last``).

    Unchanged when ``spec`` asks for none; ``ValueError`` when it does and there are no rows.
    """
    if not row_metrics(spec):
        return data
    if rows is None:
        raise ValueError(
            "quantile metrics, caps and --covariate need the per-result rows (AnalysisInput.rows)"
        )
    got = last_arms(spec, rows) if last else arms_of_rows(spec, rows)
    data.arms, data.horizon_scale = got.arms, got.horizon_scale
    return data


def last_arms(spec: Any, rows: Sequence[ResultRow]) -> RowArms:
    """The last look of :func:`arms_of_rows` in O(n log n) (no per-look work)."""
    from trialbook.domain.stats import quantiles

    metrics = row_metrics(spec)
    caps = {c.metric: c for c in getattr(spec, "caps", ())}
    covariate = getattr(spec, "covariate", None)
    simple = [
        m
        for m in metrics
        if m.kind == "quantile"
        or (m.name in caps and m.name != (spec.primary.name if covariate else None))
    ]
    rest = [m for m in metrics if m not in simple]
    out = last_look(arms_of_rows(spec, rows, rest)) if rest else RowArms()
    k = len(spec.names)
    index = {name: i for i, name in enumerate(spec.names)}
    vi = np.fromiter((index[r.variant] for r in rows), dtype=np.int64, count=len(rows))
    one = np.ones(1)
    for m in simple:
        if m.kind == "quantile":
            base, p = quantiles.parse_quantile(m.name) or ("", 0.5)
            y = _column(rows, base)
            arms = []
            for j in range(k):
                xs = np.sort(y[(vi == j) & np.isfinite(y)])
                est, se = quantiles.quantile_and_se(xs.tolist(), p)
                arms.append(quantiles.quantile_arm(one * len(xs), one * est, one * se))
            out.arms[m.name] = arms
        else:
            from trialbook.domain.stats import engine

            cap = caps[m.name]
            y = _column(rows, m.name)
            t = cap.threshold(y)
            capped = cap.apply(y, t)
            arms = []
            for j in range(k):
                xs = capped[(vi == j) & np.isfinite(capped)]
                mean = float(xs.mean()) if len(xs) else 0.0
                m2 = float(((xs - mean) ** 2).sum()) if len(xs) else 0.0
                arms.append(
                    engine.mean_arm(engine.MomentArrays(one * len(xs), one * mean, one * m2))
                )
            out.arms[m.name] = arms
            out.info[m.name] = {"cap": cap, "thresholds": one * t}
    return out
