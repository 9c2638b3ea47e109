"""Per-case sufficient statistics of the A/B read model (``ab_cases``), folded and read.

A paired analysis compares per-case means (``domain.stats.engine.pairs_of_cases``):
for each case and variant it needs the count and the sum of the case's values of
each metric the analysis tracks, cases in the order they first appeared. This
table keeps exactly that, so ``ab analyze`` of a million paired results reads
one small row per case instead of every result.

``ab_cases`` has one row per test × case id; ``stats`` is a packed array of float64:
the log position of the case's first result (any variant), then for each *slot* (the test's primary metric, then its guardrail metrics, as defined at
creation; quantile and ratio metrics have no per-case means) and each variant in
definition order, the number of finite values and their sum. Sums are added one
value at a time in position order starting from 0.0, exactly as
``numpy.bincount`` adds them over the rows, so the figures are bit-identical to
an analysis of the rows (property-tested), and a rebuild stores the same bytes.
"""

from __future__ import annotations

import json
import math
import sqlite3
from array import array
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from trialbook.domain.metrics import metric_named

DDL = """CREATE TABLE IF NOT EXISTS ab_cases (
    test TEXT NOT NULL, case_id TEXT NOT NULL, stats BLOB NOT NULL,
    PRIMARY KEY (test, case_id)) WITHOUT ROWID"""

#: the largest number of cases looked up per statement when a batch continues known cases
_LOOKUP = 500


def slots_of(metric: str, guardrail_metrics: Iterable[str]) -> tuple[str, ...]:
    """The metrics a test keeps per-case statistics of: its primary metric, then its
    guardrails' (once each), leaving out quantile and ratio metrics (no per-case mean)."""
    out: list[str] = []
    for name in (metric, *guardrail_metrics):
        if name in out:
            continue
        try:
            kind = metric_named(name).kind
        except ValueError:  # pragma: no cover - definitions are validated when created
            continue
        if kind not in ("ratio", "quantile"):
            out.append(name)
    return tuple(out)


class Layout:
    """Where a test's per-case values go in its ``stats`` array."""

    __slots__ = ("slots", "variants", "index", "width")

    def __init__(self, slots: tuple[str, ...], variants: Sequence[str]) -> None:
        self.slots = slots
        self.variants = tuple(variants)
        self.index = {v: i for i, v in enumerate(self.variants)}
        #: floats per case: the first position, then (count, sum) per slot × variant
        self.width = 1 + 2 * len(slots) * len(self.variants)


def layout_of_definition(data: Mapping[str, Any]) -> Layout:
    """The layout of a test from its ``TestCreated`` data."""
    guards = [g["metric"] for g in data.get("guardrails") or ()]
    return Layout(slots_of(data.get("metric", "success"), guards), data["variants"])


def load_layout(conn: sqlite3.Connection, test: str) -> Layout | None:
    """The layout of a test from ``ab_tests``/``ab_variants``; None if it is not there yet."""
    row = conn.execute("SELECT metric, guardrails FROM ab_tests WHERE name = ?", (test,)).fetchone()
    if row is None:
        return None
    variants = [
        r[0]
        for r in conn.execute(
            "SELECT variant FROM ab_variants WHERE test = ? ORDER BY ord", (test,)
        )
    ]
    guards = [g["metric"] for g in json.loads(row[1])]
    return Layout(slots_of(row[0], guards), variants)


class CaseFold:
    """Per-case statistics of one batch of results, folded onto the stored rows and written once.

    ``add`` takes results in position order; ``write`` looks up the cases the batch
    continues, adds the values in that same order and upserts one row per case.
    """

    def __init__(self, conn: sqlite3.Connection, layouts: dict[str, Layout | None]) -> None:
        self.conn = conn
        #: test -> layout, shared between folds of one connection (layouts never change)
        self.layouts = layouts
        self.items: list[tuple[str, str, str, int, Mapping[str, float]]] = []

    def layout(self, test: str) -> Layout | None:
        if test in self.layouts:
            return self.layouts[test]
        found = load_layout(self.conn, test)
        if found is not None:  # a test not defined yet (a rebuild folds results first) is not kept
            self.layouts[test] = found
        return found

    def add(
        self, test: str, case_id: str, variant: str, position: int, obs: Mapping[str, float]
    ) -> None:
        """One result's values (``domain.metrics.observations``), in position order."""
        self.items.append((test, case_id, variant, position, obs))

    def add_rows(self, rows: Iterable[Sequence[Any]]) -> None:
        """``add`` each result row ``(position, test, variant, metrics, *VALUE_COLUMNS, case_id)``
        that has a case id, its values taken from the columns the test's slots need."""
        for row in rows:
            case_id = row[-1]
            if case_id is None:
                continue
            layout = self.layout(row[1])
            if layout is None or not layout.slots:
                continue
            if row[3]:  # custom metrics (which may reuse a built-in name): the full rule
                from trialbook.projections.ab_queries import row_observations

                obs: Mapping[str, float] = row_observations(row[4:-1], row[3])
            else:
                obs = {}
                for name in layout.slots:
                    value = _column_value(name, row)
                    if value is not None:
                        obs[name] = value
            self.items.append((row[1], case_id, row[2], row[0], obs))

    def write(self) -> None:
        items, self.items = self.items, []
        if not items:
            return
        conn = self.conn
        cells: dict[tuple[str, str], list[Any]] = {}
        wanted: dict[str, list[str]] = {}
        for test, case_id, *_ in items:
            key = (test, case_id)
            if key not in cells:
                cells[key] = []  # filled below
                wanted.setdefault(test, []).append(case_id)
        for test, case_ids in wanted.items():
            for start in range(0, len(case_ids), _LOOKUP):
                chunk = case_ids[start : start + _LOOKUP]
                for case_id, stats in conn.execute(
                    "SELECT case_id, stats FROM ab_cases WHERE test = ? AND case_id IN "
                    f"({', '.join('?' * len(chunk))})",
                    (test, *chunk),
                ):
                    values = array("d")
                    values.frombytes(stats)
                    cells[(test, case_id)] = [values]
        isfinite = math.isfinite
        for test, case_id, variant, position, obs in items:
            layout = self.layout(test)
            if layout is None or not layout.slots:
                continue
            cell = cells[(test, case_id)]
            if not cell:
                fresh = array("d", bytes(8 * layout.width))
                fresh[0] = float(position)
                cell.append(fresh)
            values = cell[0]
            if len(values) < layout.width:  # pragma: no cover - layouts never change
                values.extend([0.0] * (layout.width - len(values)))
            k = len(layout.variants)
            vi = layout.index[variant]
            for j, name in enumerate(layout.slots):
                x = obs.get(name)
                if x is not None and isfinite(x):
                    at = 1 + 2 * (j * k + vi)
                    values[at] += 1.0
                    values[at + 1] += x
        conn.executemany(
            "INSERT INTO ab_cases (test, case_id, stats) VALUES (?, ?, ?) "
            "ON CONFLICT (test, case_id) DO UPDATE SET stats = excluded.stats",
            [(t, c, cell[0].tobytes()) for (t, c), cell in cells.items() if cell],
        )


#: the position of each plain value column in a result row (after position, test, variant, metrics)
_PLAIN = {
    name: 4 + i
    for i, name in enumerate(
        (
            "success",
            "tool_calls",
            "successful_calls",
            "errors",
            "completion_time",
            "messages",
            "corrections",
            "tokens",
            "cost",
            "score",
        )
    )
}


def _column_value(name: str, row: Sequence[Any]) -> float | None:
    """Metric ``name`` of a result row without custom metrics, as ``observations`` derives it."""
    if name == "success":
        v = row[4]
        return None if v is None else (1.0 if v else 0.0)
    if name in ("failed_calls", "error_rate", "tool_success_rate"):
        calls, ok = row[5], row[6]
        if calls is None or ok is None:
            return None
        if name == "failed_calls":
            return float(calls - ok)
        if not calls > 0:
            return None
        return (calls - ok) / calls if name == "error_rate" else ok / calls
    at = _PLAIN.get(name)
    if at is None or name == "successful_calls":  # a custom name: absent without custom metrics
        return None
    v = row[at]
    return None if v is None else float(v)


def read_cases(conn: sqlite3.Connection, test: str) -> tuple[Layout, Any] | None:
    """A test's per-case statistics: its layout and ``{slot: (sums, counts)}``.

    ``sums`` (float64) and ``counts`` (int64) are arrays of shape (cases, variants),
    cases in the order they first appeared, variants in definition order. None
    when the test is not there. SQLite concatenates the arrays itself (one value
    back, not a row per case); numpy is imported here (reads only).
    """
    import numpy as np

    layout = load_layout(conn, test)
    if layout is None:
        return None
    width = layout.width
    joined, cases = conn.execute(
        "SELECT CAST(group_concat(stats, '') AS BLOB), count(*) FROM ab_cases WHERE test = ?",
        (test,),
    ).fetchone()
    if len(joined or b"") != 8 * width * cases:  # pragma: no cover - a text encoding not UTF-8
        joined = b"".join(
            bytes(r[0]).ljust(8 * width, b"\0")
            for r in conn.execute("SELECT stats FROM ab_cases WHERE test = ?", (test,))
        )
    flat = np.frombuffer(joined or b"", dtype=np.float64).reshape(cases, width)
    flat = flat[np.argsort(flat[:, 0], kind="stable")]
    k = len(layout.variants)
    out = {}
    for j, name in enumerate(layout.slots):
        block = flat[:, 1 + 2 * j * k : 1 + 2 * (j + 1) * k]
        out[name] = (np.ascontiguousarray(block[:, 1::2]), block[:, 0::2].astype(np.int64))
    return layout, out
