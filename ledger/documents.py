"""Comparing a recorded document with one recomputed from the log, and citing positions.

Generic helpers for audits: a decision records the analysis it was shown;
replaying the log to the position it saw and recomputing must give the same
document, leaf for leaf.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any


def _label(item: Any, index: int) -> str:
    if isinstance(item, dict):
        for key in ("name", "metric"):
            if key in item and isinstance(item[key], str):
                return item[key]
    return str(index)


def compare(recorded: Any, recomputed: Any, path: str = "") -> list[dict[str, Any]]:
    """Every leaf where two documents differ: ``{"path", "recorded", "recomputed"}``.

    List items are matched by their ``name`` (or ``metric``) when they have one,
    else by index, so a path reads ``guardrails[error_rate].ci``. Numbers must be
    equal exactly: the same method on the same events gives the same floats.
    """
    if isinstance(recorded, dict) and isinstance(recomputed, dict):
        a, b = recorded, recomputed
        paths = {k: f"{path}.{k}" if path else str(k) for k in [*a, *b]}
    elif isinstance(recorded, list) and isinstance(recomputed, list):
        a = {_label(x, i): x for i, x in enumerate(recorded)}
        b = {_label(x, i): x for i, x in enumerate(recomputed)}
        if len(a) != len(recorded) or len(b) != len(recomputed):  # labels repeat: compare whole
            return (
                []
                if recorded == recomputed
                else [{"path": path, "recorded": recorded, "recomputed": recomputed}]
            )
        paths = {k: f"{path}[{k}]" for k in [*a, *b]}
    elif recorded == recomputed and type(recorded) is type(recomputed):
        return []
    else:
        return [{"path": path, "recorded": recorded, "recomputed": recomputed}]
    out = []
    for key, sub in paths.items():
        if key not in a or key not in b:
            out.append({"path": sub, "recorded": a.get(key), "recomputed": b.get(key)})
        else:
            out.extend(compare(a[key], b[key], sub))
    return out


def plain(doc: Any) -> Any:
    """A document as it reads back from the log (through canonical JSON: tuples become lists)."""
    from trialbook.domain.canonical import canonical_json

    return json.loads(canonical_json(doc))


def spans(positions: Iterable[int]) -> str:
    """Positions as ranges: ``[2, 3, 4, 7, 9, 10]`` -> ``"2-4, 7, 9-10"``."""
    out: list[str] = []
    start = prev = None
    for p in positions:
        if start is None:
            start = prev = p
        elif p == prev + 1:  # type: ignore[operator]
            prev = p
        else:
            out.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = prev = p
    if start is not None:
        out.append(f"{start}" if start == prev else f"{start}-{prev}")
    return ", ".join(out) if out else "none"
