"""``eval compare RUN_A RUN_B --by KEY``: the paired comparison within each segment of cases.

A case's segment is its suite metadata (``metadata.KEY``, or ``KEY`` for
``category``/``difficulty``/``model``); cases without it are ``(none)``. In each
segment the pairs of :func:`ledger.eval_compare.compare` give the cluster-robust
paired interval (clustered by case, as ``eval compare`` reads it), at level
``1 - 0.05 / segments`` (Bonferroni), with its two-sided t p-value adjusted by Holm
across segments. Evals have no creation step that names a segment, so the breakdown
is always labelled exploratory. Fixed-horizon: an eval compare is one look.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trialbook.ledger import Ledger

ALPHA = 0.05


def case_metadata(ledger: Ledger, run_id: str) -> dict[str, dict[str, Any]]:
    """Case id -> metadata of the suite version ``run_id`` ran."""
    from trialbook.ledger.evals import recorder, require_run, require_suite

    run = require_run(ledger, run_id)
    suite = require_suite(recorder(ledger), run["suite"]).version(run["suite_version"])
    return {c.id: dict(c.metadata or {}) for c in suite.cases}


def by_segment(ledger: Ledger, data: dict[str, Any], by: str) -> dict[str, Any]:
    """The ``segments`` block of ``eval compare --by KEY --json`` for a :func:`compare` document."""
    from scipy import stats

    from trialbook.domain.errors import InvalidCommand
    from trialbook.domain.stats.segments import NONE_SEGMENT, dimension_key, segment_of
    from trialbook.ledger.eval_compare import clustered_interval

    try:
        key = dimension_key(by)
    except ValueError as e:
        raise InvalidCommand(str(e)) from None
    meta = case_metadata(ledger, data["run_a"])
    meta_b = case_metadata(ledger, data["run_b"])
    groups: dict[str, list[dict[str, Any]]] = {}
    for pair in data["rows"]:
        dims = meta.get(pair["case_id"]) or meta_b.get(pair["case_id"])
        groups.setdefault(segment_of(dims, by), []).append(pair)
    if not groups or list(groups) == [NONE_SEGMENT]:
        raise InvalidCommand(
            f"no case of {data['run_a']} or {data['run_b']} has metadata {key!r}; "
            f'give cases "metadata": {{"{key}": ...}} in the suite'
        )
    names = sorted(groups)
    level = 1.0 - ALPHA / len(names)
    rows = []
    for name in names:
        pairs = groups[name]
        diffs = [p["b_score"] - p["a_score"] for p in pairs]
        ci = clustered_interval(diffs, [p["case_id"] for p in pairs], level=level)
        p_value = None
        if ci["se"]:
            t = ci["lift"] / ci["se"]
            p_value = float(2 * stats.t.sf(abs(t), ci["clusters"] - 1))
        rows.append(
            {
                "segment": name,
                "pairs": len(pairs),
                "cases": ci["clusters"],
                "lift": ci["lift"],
                "ci": ci["ci"],
                "p_value": p_value,
                "note": ci["note"],
            }
        )
    _holm(rows)
    return {
        "by": by,
        "exploratory": True,
        "label": "exploratory (segments chosen after the runs)",
        "correction": f"Holm across {len(names)} segments; intervals at {level:.2%} "
        "(Bonferroni), clustered by case",
        "segments": rows,
    }


def _holm(rows: list[dict[str, Any]]) -> None:
    """Set each row's ``p_adjusted`` (Holm) and ``different`` (adjusted p below alpha)."""
    known = sorted((r["p_value"], i) for i, r in enumerate(rows) if r["p_value"] is not None)
    m = len(known)
    running = 0.0
    for rank, (p, i) in enumerate(known):
        running = max(running, min(1.0, (m - rank) * p))
        rows[i]["p_adjusted"] = running
        rows[i]["different"] = running < ALPHA
    for r in rows:
        r.setdefault("p_adjusted", None)
        r.setdefault("different", False)


def segment_lines(block: dict[str, Any]) -> list[str]:
    """The text lines of the breakdown (``eval compare --by``)."""

    def num(x: float | None) -> str:
        return "-" if x is None or not math.isfinite(x) else f"{x:+.3g}"

    lines = ["", f"By {block['by']} ({block['label']}; {block['correction']}):"]
    for r in block["segments"]:
        ci = "-" if not r["ci"] else f"{r['ci'][0]:+.3g} to {r['ci'][1]:+.3g}"
        p = r["p_adjusted"]
        p_text = "-" if p is None else ("< 0.001" if p < 0.001 else f"{p:.3f}")
        lines.append(
            f"  {r['segment']}: {r['pairs']} pairs ({r['cases']} cases), B - A {num(r['lift'])}, "
            f"CI {ci}, Holm p {p_text}{'  different' if r['different'] else ''}"
        )
    return lines
