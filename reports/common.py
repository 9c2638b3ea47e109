"""The parts every decision report is made of: figures, readiness rows, citations, scope.

A report is a plain dict (its JSON is the documented shape, see docs/reports.md).
:class:`Builder` collects it: each **figure** is one number with the event
positions it rests on (``cites``) and how it follows from them (``basis``), so a
reviewer or a test can read those events and compute it again:

- ``{"count": true}``: how many events are cited;
- ``{"mean": FIELD}``: the mean of ``data[FIELD]`` over the cited events (true = 1);
- ``{"quantile": Q, "field": FIELD}``: the ``Q`` quantile (linear interpolation,
  numpy's default) of ``data[FIELD]`` over the cited events;
- ``{"values": FIELD}`` (a plot's data): ``data[FIELD]`` of each cited event, in order;
- ``{"replay": READ, "path": PATH}``: append exactly the cited events, in order,
  to an empty log, call ``READ`` (``ab.analyze``, ``evals.compare``,
  ``canary.status``) there and take ``PATH`` (``variants[warm].ci``) of its document.

A figure with a ``select`` (``{"stream", "type", "data": {field: value}, "has":
FIELD}``) rests on the events of its cited range that match it: in that stream, of
that type, with those data values and (``has``) a non-null ``FIELD``.

A **readiness row** is one criterion a decision needs, ``ready``, ``partial`` or
``gap``, with a one-line summary, the figures it uses and its citations.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from trialbook.domain.units import format_cost

SCHEMA_VERSION = 1
STATUSES = ("ready", "partial", "gap")
KINDS = ("ab", "eval", "canary")
#: the recommendation words a report can end with (``ship`` is the only one ``--check`` passes)
DECISIONS = (
    "ship",
    "keep_collecting",
    "keep_control",
    "no_difference",
    "blocked",
    "halt",
    "rollback",
    "no_baseline",
)


def ranges(positions: Iterable[int]) -> list[list[int]]:
    """Sorted, distinct positions as ``[[start, end], …]`` runs: ``[2, 3, 4, 9]`` → ``[[2, 4], [9, 9]]``."""
    out: list[list[int]] = []
    last = None
    for p in sorted(set(positions)):
        if last is not None and p == last[1] + 1:
            last[1] = p
        else:
            last = [int(p), int(p)]
            out.append(last)
    return out


def merge(*runs: Sequence[Sequence[int]]) -> list[list[int]]:
    """The union of several lists of runs, as runs (without expanding them to positions)."""
    out: list[list[int]] = []
    for a, b in sorted((int(a), int(b)) for rs in runs for a, b in rs):
        if out and a <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


def expand(cites: Sequence[Sequence[int]]) -> list[int]:
    """The positions of ``cites`` runs (the inverse of :func:`ranges`)."""
    return [p for a, b in cites for p in range(int(a), int(b) + 1)]


def cite_text(cites: Sequence[Sequence[int]]) -> str:
    """``[[2, 4], [9, 9]]`` → ``"#2-4, #9"`` (how Markdown and HTML show citations)."""
    if not cites:
        return "-"
    return ", ".join(f"#{a}" if a == b else f"#{a}-{b}" for a, b in cites)


def parse_cites(text: str) -> list[list[int]]:
    """The runs of a citation text written by :func:`cite_text` (``"-"`` is none)."""
    out: list[list[int]] = []
    for part in text.split(","):
        part = part.strip().removeprefix("#")
        if not part or part == "-":
            continue
        a, _, b = part.partition("-")
        out.append([int(a), int(b or a)])
    return out


def fmt_value(value: Any, unit: str | None = None) -> str:
    """A figure's value as the Markdown and HTML write it: integers whole, floats to 6 significant
    digits (``unit="share"``: a percentage to 2 decimals; ``unit="usd"``: a cost as the CLI prints
    it, :func:`~trialbook.domain.units.format_cost`), intervals as ``[low, high]``."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if unit == "usd" and isinstance(value, (int, float)):
        return format_cost(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if unit == "share":
            return f"{value * 100:.2f}%"
        if unit == "change":
            return f"{value * 100:+.2f}%"
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return f"[{fmt_value(value[0], unit)}, {fmt_value(value[1], unit)}]"
    return str(value)


#: what a figure's ``unit`` says about its value (docs/reports.md), and so how a summary writes it
UNITS = {
    None: "a count, or a number in the metric's own unit (4 significant digits)",
    "share": "a proportion, written as a percentage (77.0%)",
    "points": "a difference of two proportions, in percentage points (+17.3 pts)",
    "difference": "a difference in the metric's own unit, signed (+0.1733)",
    "change": "a relative change, a signed percentage (+12.3%)",
    "p": "a p-value (p < 0.001, 0.012)",
    "usd": "a cost in US dollars ($0.0345)",
    "seconds": "a duration in seconds (written in ms)",
}


def say(value: Any, unit: str | None = None) -> str:
    """A figure's value as a readiness summary writes it: the way ``ab analyze``, ``eval show``
    and the web view print the same quantity (the same functions: :class:`trialbook.web.pages.Units`
    for proportions and differences, its ``p_text`` for p-values, :func:`trialbook.domain.units.
    format_cost` for costs). An interval ``[lo, hi]`` reads ``lo to hi`` (``+8.6 to +24.9 pts``),
    a missing one "not yet defined"."""
    from trialbook.domain.units import format_cost
    from trialbook.web.pages import Units, ms, p_text, pct

    if isinstance(value, (list, tuple)) and len(value) == 2:
        if unit == "points":
            return Units("binary").interval(value)
        if unit == "difference":
            return Units("continuous").interval(value)
        return f"{say(value[0], unit)} to {say(value[1], unit)}"
    if value is None:
        return "not yet defined" if unit in ("points", "difference") else "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and unit is None:
        return str(value)
    x = float(value)
    if unit == "share":
        return pct(x)
    if unit == "points":
        return Units("binary").diff(x)
    if unit == "difference":
        return Units("continuous").diff(x)
    if unit == "change":
        from trialbook.domain.stats.analysis import percent

        return percent(x)
    if unit == "p":
        return p_text(x)
    if unit == "usd":
        return format_cost(x)
    if unit == "seconds":
        return ms(x)
    return Units("continuous").value(x)


class Builder:
    """Collects one report: scope, figures, readiness rows, recommendation, plots."""

    def __init__(self, kind: str, subject: str, position: int, recorded_at: str | None) -> None:
        self.doc: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "kind": kind,
            "subject": subject,
            "baseline": None,
            "position": position,
            "recorded_at": recorded_at,
            "as_of": None,
            "generated_by": {},
            "scope": {},
            "matrix": [],
            "recommendation": {},
            "figures": [],
            "plots": {},
            "check": {},
        }
        self.keys: set[str] = set()

    def figure(
        self,
        key: str,
        label: str,
        value: Any,
        cites: Iterable[int],
        basis: dict[str, Any],
        *,
        unit: str | None = None,
        select: dict[str, Any] | None = None,
    ) -> str:
        """Add one figure (``value``: a number, or ``[lo, hi]`` for an interval); returns its key.

        With ``select`` (``{"stream", "type", "data": {field: value}}``), ``cites`` is the
        one range from the first to the last of ``positions`` and the figure rests on the
        events in it that match ``select`` (which must be exactly ``positions``).
        """
        positions = list(cites)
        if select is not None and positions:
            runs = [[min(positions), max(positions)]]
        else:
            runs = ranges(positions)
        if unit not in UNITS:  # pragma: no cover - a builder's own mistake
            raise AssertionError(f"figure {key!r}: unit {unit!r}")
        if key in self.keys:  # pragma: no cover - a builder's own mistake
            raise AssertionError(f"figure {key!r} twice")
        self.keys.add(key)
        self.doc["figures"].append(
            {
                "key": key,
                "label": label,
                "value": value,
                "unit": unit,
                "cites": runs,
                "select": select,
                "basis": basis,
            }
        )
        return key

    def value(self, key: str) -> Any:
        return next(f["value"] for f in self.doc["figures"] if f["key"] == key)

    def text(self, key: str) -> str:
        """A figure's value as a summary quotes it (:func:`say`, in its unit)."""
        f = next(f for f in self.doc["figures"] if f["key"] == key)
        return say(f["value"], f["unit"])

    def row(
        self,
        id: str,
        criterion: str,
        status: str,
        summary: str,
        *,
        figures: Sequence[str] = (),
        cites: Iterable[int] = (),
    ) -> None:
        """Add one readiness row; its citations are its own plus those of its figures."""
        if status not in STATUSES:  # pragma: no cover - a builder's own mistake
            raise AssertionError(status)
        cited = [ranges(cites)]
        for f in self.doc["figures"]:
            if f["key"] in figures:
                cited.append(f["cites"])
        self.doc["matrix"].append(
            {
                "id": id,
                "criterion": criterion,
                "status": status,
                "summary": summary,
                "figures": list(figures),
                "cites": merge(*cited),
            }
        )

    def recommend(
        self,
        decision: str,
        reason: str,
        would_change: Sequence[str],
        variant: str | None = None,
        *,
        cites: Iterable[int] = (),
        basis: dict[str, Any] | None = None,
    ) -> None:
        """The recommendation; ``basis`` (a ``replay``) says where its ``reason`` is read from."""
        if decision not in DECISIONS:  # pragma: no cover
            raise AssertionError(decision)
        self.doc["recommendation"] = {
            "decision": decision,
            "variant": variant,
            "reason": reason,
            "would_change": list(would_change),
            "cites": ranges(cites),
            "basis": basis,
        }

    def finish(self) -> dict[str, Any]:
        self.doc["check"] = check(self.doc)
        return self.doc


def check(doc: dict[str, Any]) -> dict[str, Any]:
    """``{"passed", "reason"}``: passed when the recommendation is ship and no row is a gap."""
    gaps = [r for r in doc["matrix"] if r["status"] == "gap"]
    decision = doc["recommendation"]["decision"]
    if gaps:
        first = gaps[0]
        more = (
            f" (and {len(gaps) - 1} more gap{'s' if len(gaps) > 2 else ''})"
            if len(gaps) > 1
            else ""
        )
        reason = f"gap in {first['id']}: {first['summary']}{more}"
        return {"passed": False, "reason": reason}
    if decision != "ship":
        return {
            "passed": False,
            "reason": f"the recommendation is {decision.replace('_', ' ')}, not ship: "
            + doc["recommendation"]["reason"].split(". ")[0].rstrip("."),
        }
    who = doc["recommendation"].get("variant")
    return {
        "passed": True,
        "reason": f"ship{' ' + who if who else ''}: every criterion is ready or partial",
    }


def actors(events: Iterable[Any]) -> tuple[list[dict[str, Any]], str | None, str | None, set[str]]:
    """Who recorded ``events`` (metadata ``actor``), when the first and last were recorded, and
    the tool versions that wrote them (metadata ``tool_version``)."""
    by: dict[str, list[int]] = {}
    first = last = None
    versions: set[str] = set()
    for e in events:
        meta = e.metadata
        by.setdefault(str(meta.get("actor", "unknown")), []).append(e.position)
        if meta.get("tool_version"):
            versions.add(str(meta["tool_version"]))
        first = first or e.recorded_at
        last = e.recorded_at
    who = [{"actor": a, "events": len(ps), "cites": ranges(ps)} for a, ps in by.items()]
    return who, first, last, versions


def quantile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile with linear interpolation (numpy's default method), None if empty."""
    xs = sorted(values)
    if not xs:
        return None
    h = (len(xs) - 1) * q
    lo = int(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None
