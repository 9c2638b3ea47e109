"""Segments (``ab analyze NAME --by category``): the comparison within each segment, corrected across them.

A result carries an optional ``dimensions`` object (``{"category": "billing",
"difficulty": "hard", "model": "gpt-x", ...}``); ``--by KEY`` (or ``--by metadata.KEY``)
groups results by ``dimensions[KEY]``, and results without it fall in the segment
``(none)``. In each segment the variant is compared with control by the method-2.0
design (always-valid interval and p-value, intersected over the looks when the rows
are known). The segment's plan is its share of the test's plan (the share of results
it holds: the counts do not depend on the outcomes, so this keeps the design valid).

The correction across segments: Holm's adjustment of the always-valid p-values, and
intervals at level ``alpha / segments`` (Bonferroni), so the chance that *any*
segment shows a false difference at *any* look stays at most ``alpha``. Unless the
dimension was named when the test was created (``ab create --segment KEY``), the
breakdown is labelled **exploratory**: it was chosen after seeing the data.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    Array = np.ndarray
NONE_SEGMENT = "(none)"
DIMENSIONS = ("category", "difficulty", "model")


def dimension_key(by: str, option: str = "--by") -> str:
    """The ``dimensions`` key ``--by`` reads: ``category`` or ``metadata.KEY`` -> ``KEY``."""
    key = by[len("metadata.") :] if by.startswith("metadata.") else by
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", key):
        raise ValueError(
            f"{option} {by!r} is not valid; write category, difficulty, model or metadata.KEY"
        )
    return key


def segment_of(dimensions: Mapping[str, Any] | None, by: str) -> str:
    """The segment a result with these ``dimensions`` belongs to under ``--by by``."""
    key = dimension_key(by)
    if not dimensions:
        return NONE_SEGMENT
    value = dimensions.get(key)
    if value is None and isinstance(dimensions.get("metadata"), Mapping):
        value = dimensions["metadata"].get(key)
    return NONE_SEGMENT if value is None else str(value)


@dataclass
class SegmentLooks:
    """One segment's comparison, one entry per look: interval (corrected), p-values."""

    name: str
    n_variant: Array
    n_control: Array
    diff: Array
    lo: Array
    hi: Array
    p: Array  # running always-valid p-value (smaller side)
    p_adjusted: Array  # Holm across segments
    better: Array  # Holm-significant with the variant better (the good direction)
    worse: Array  # Holm-significant with the variant worse


def analyze_segments(
    kind: str,
    values: Array,
    arm: Array,
    segment: Array,
    names: Sequence[str],
    plan: float,
    alpha: float = 0.05,
    min_n: int = 5,
    lower_is_better: bool = False,
) -> list[SegmentLooks]:
    """Per-segment comparisons of arm 1 (variant) with arm 0 (control), after every result.

    ``values``, ``arm`` (0/1) and ``segment`` (an index into ``names``) have shape
    ``(results,)`` or ``(tests, results)``; ``kind`` is ``binary`` or ``continuous``;
    ``plan`` the results planned for the whole comparison (both arms).
    """
    import numpy as np

    from trialbook.domain.stats import engine, sequential
    from trialbook.domain.stats.cuped import cumulative

    y = np.atleast_2d(np.asarray(values, dtype=float))
    a = np.atleast_2d(np.asarray(arm))
    s = np.atleast_2d(np.asarray(segment))
    sims, t = y.shape
    paths = (sims, t)
    k = len(names)
    comps: list[Any] = []
    counts: list[tuple[Array, Array]] = []
    for j in range(k):
        in_seg = s == j
        # the segment's share of the results (at the last look; the same for every look)
        share = max(float(np.mean(in_seg)), 1.0 / max(t, 1))
        horizon = plan * share
        rho = sequential.reserve_rho(alpha, horizon)
        per = []
        for side in (1, 0):
            c = cumulative(y, y, in_seg & (a == side))
            mom = engine.MomentArrays(
                c.n.reshape(-1), np.nan_to_num(c.mean_y).reshape(-1), c.m2_y.reshape(-1)
            )
            per.append(engine.binary_arm(mom) if kind == "binary" else engine.mean_arm(mom))
        comps.append(engine.compare_arms(kind, per[0], per[1], horizon, rho, min_n))
        counts.append((per[0].n, per[1].n))
    level = alpha / max(1, k)
    ps = []
    sides = []
    bounds = []
    for cmp in comps:
        good, bad = engine.running_p(cmp, lower_is_better, paths)
        ps.append(np.minimum(good, bad))
        sides.append(good < bad)
        lo, hi, _, _ = engine.running_bounds(cmp, level, paths)
        bounds.append((lo, hi))
    adjusted = engine.holm_arrays(np.vstack(ps)) if ps else np.empty((0, sims * t))
    out = []
    for j, cmp in enumerate(comps):
        out.append(
            SegmentLooks(
                name=names[j],
                n_variant=counts[j][0],
                n_control=counts[j][1],
                diff=cmp.diff,
                lo=bounds[j][0],
                hi=bounds[j][1],
                p=ps[j],
                p_adjusted=adjusted[j],
                better=(adjusted[j] < alpha) & sides[j],
                worse=(adjusted[j] < alpha) & ~sides[j],
            )
        )
    return out


def segment_report(
    looks: list[SegmentLooks], alpha: float, exploratory: bool, by: str
) -> dict[str, Any]:
    """The last look of each segment as a JSON-able document."""
    import numpy as np

    def num(x: Any) -> float | None:
        v = float(np.asarray(x).reshape(-1)[-1])
        return v if math.isfinite(v) else None

    rows = []
    for seg in looks:
        lo, hi = num(seg.lo), num(seg.hi)
        p_adj = num(seg.p_adjusted)
        rows.append(
            {
                "segment": seg.name,
                "n_variant": int(np.asarray(seg.n_variant)[-1]),
                "n_control": int(np.asarray(seg.n_control)[-1]),
                "diff": num(seg.diff),
                "ci_low": lo,
                "ci_high": hi,
                "p_value": num(seg.p),
                "p_adjusted": p_adj,
                "different": bool(p_adj is not None and p_adj < alpha),
            }
        )
    return {
        "by": by,
        "segments": rows,
        "correction": f"Holm across {len(looks)} segments; intervals at alpha/{len(looks)}",
        "exploratory": exploratory,
        "label": "exploratory (segment chosen after the test started)"
        if exploratory
        else "planned (segment named at ab create)",
    }
