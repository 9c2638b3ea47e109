"""Comparing a recorded document with one recomputed from the log, and citing positions.

Generic helpers for audits: a decision records the analysis it was shown;
replaying the log to the position it saw and recomputing must give the same
document, leaf for leaf.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trialbook.store.base import RecordedEvent


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


class Recorders:
    """Who recorded a run of events, for an audit's evidence: one row per (actor, parser tier,
    command text) with its count, its positions as :func:`spans` and its first and last
    ``recorded_at``, in the order the recorders first appear."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str, str], dict[str, Any]] = {}

    def add(self, event: RecordedEvent, command: Any) -> None:
        """Count ``event`` for its recorder; ``command`` is the command text the caller reads
        from the event's metadata (``"-"`` when there is none)."""
        meta = event.metadata
        key = (str(meta.get("actor", "unknown")), str(meta.get("tier", "-")), str(command))
        row = self._rows.setdefault(
            key,
            {
                "actor": key[0],
                "tier": key[1],
                "command": key[2],
                "results": 0,
                "positions": [],
                "first_recorded_at": event.recorded_at,
            },
        )
        row["results"] += 1
        row["positions"].append(event.position)
        row["last_recorded_at"] = event.recorded_at

    def rows(self) -> list[dict[str, Any]]:
        """The recorders' rows, positions as spans."""
        return [{**row, "positions": spans(row["positions"])} for row in self._rows.values()]


def chain_check(ledger: Any, verify: bool) -> dict[str, Any]:
    """An audit's ``chain`` part: ``{"verified": False}`` unless ``verify``; else whether the
    hash chain of the whole database verifies (``events verify``), its head and first problem.

    ``Ledger.verify`` checks it where the ledger has one; else the SQLite file at ``ledger.path``.
    """
    if not verify:
        return {"verified": False}
    check = getattr(ledger, "verify", None)
    if check is not None:
        report = check()
    else:
        from trialbook.store.verify import verify_file

        report = verify_file(ledger.path)
    first = report.first
    return {
        "verified": True,
        "ok": report.ok,
        "head_position": report.head_position,
        "head_hash": report.head_hash,
        "first_problem": None if first is None else first.to_dict(),
    }


def audit_failures(doc: dict[str, Any], subject: str) -> list[str]:
    """Why an audit document fails on its chain or its decisions (empty when the chain verifies
    and every decision reproduces); ``subject`` names what was audited (``"canary c1"``)."""
    out = []
    chain = doc["chain"]
    if chain.get("verified") and not chain["ok"]:
        p = chain["first_problem"]
        out.append(f"the log fails verification at position {p['position']} ({p['kind']})")
    bad = [d for d in doc["decisions"] if not d["reproduces"]]
    if bad:
        which = ", ".join(f"#{d['position']}" for d in bad)
        n = len(doc["decisions"])
        out.append(
            f"{len(bad)} of {n} decision{'s' if n != 1 else ''} of {subject} "
            f"do{'es' if len(bad) == 1 else ''} not reproduce ({which})"
        )
    return out
