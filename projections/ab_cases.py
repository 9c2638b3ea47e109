"""Per-case sufficient statistics of the A/B read model (``ab_cases``), folded and read.

A paired analysis compares per-case means (``domain.stats.engine.pairs_of_cases``):
for each case and variant it needs the count and the sum of the case's values of
each metric the analysis tracks, cases in the order they first appeared. This
table keeps exactly that, so ``ab analyze`` of a million paired results reads
one small row per case instead of every result.

``ab_cases`` has one row per test × case id; ``stats`` is a packed array of float64:
the log position of the case's first result (any variant), then for each *slot*
(the test's primary metric, then its guardrail metrics, as defined at creation;
quantile and ratio metrics have no per-case means) and each variant in definition
order, the number of finite values and their sum. Sums are added one value at a
time in position order starting from 0.0, exactly as ``numpy.bincount`` adds them
over the rows, so the figures are bit-identical to an analysis of the rows
(property-tested), and a rebuild stores the same bytes. A batch of results (an
import's chunk, a rebuild's 20,000 rows) looks up the cases it continues in a few
statements and writes each case it touched once.
"""

from __future__ import annotations

import json
import sqlite3
import struct
from array import array
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from trialbook.domain.metrics import metric_named
from trialbook.projections.ab_queries import VALUE_COLUMNS, row_observations

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
    """Where a test's per-case values go in its ``stats`` array, and how a row gives them."""

    __slots__ = ("slots", "variants", "index", "width", "offsets")

    def __init__(self, slots: tuple[str, ...], variants: Sequence[str]) -> None:
        self.slots = slots
        self.variants = tuple(variants)
        self.index = {v: i for i, v in enumerate(self.variants)}
        k = len(self.variants)
        #: floats per case: the first position, then (count, sum) per slot × variant
        self.width = 1 + 2 * len(slots) * k
        #: per variant index: where each slot's count is
        self.offsets = [tuple(1 + 2 * (j * k + vi) for j in range(len(slots))) for vi in range(k)]


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

    ``add``/``add_rows`` take results in position order; ``write`` looks up the cases the
    batch continues, adds the values in that same order and upserts one row per case.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        layouts: dict[str, Layout | None],
        known: dict[tuple[str, str], list[float]] | None = None,
        cursor: sqlite3.Cursor | None = None,
    ) -> None:
        self.conn = conn
        #: what a single result's row is written through (a cursor kept on ``conn``)
        self.cursor: sqlite3.Connection | sqlite3.Cursor = conn if cursor is None else cursor
        #: test -> layout, shared between folds of one connection (layouts never change)
        self.layouts = layouts
        #: (test, case id) -> its stats as last written, kept between folds of one connection
        #: (the caller drops it whenever the table may have changed behind it); None: keep none
        self.known = known
        #: ((test, case id), position, count offsets, values by slot, layout), in position order
        self.items: list[tuple[tuple[str, str], int, tuple[int, ...], tuple[Any, ...], Layout]] = []

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
        layout = self.layout(test)
        if layout is not None and layout.slots:
            values = tuple(obs.get(name) for name in layout.slots)
            offsets = layout.offsets[layout.index[variant]]
            self.items.append(((test, case_id), position, offsets, values, layout))

    def add_rows(self, rows: Iterable[Sequence[Any]]) -> None:
        """``add`` each result row ``(position, test, variant, metrics, *VALUE_COLUMNS, case_id)``
        that has a case id, its values taken from the columns the test's slots need (a
        column at a time per test; rows with custom metrics by the full rule)."""
        by_test: dict[str, list[Sequence[Any]]] = {}
        for row in rows:
            if row[-1] is not None:
                group = by_test.get(row[1])
                if group is None:
                    by_test[row[1]] = [row]
                else:
                    group.append(row)
        items = self.items
        for test, group in by_test.items():
            layout = self.layouts.get(test) or self.layout(test)
            if layout is None or not layout.slots:
                continue
            columns = [_column(name, group) for name in layout.slots]
            values: list[tuple[Any, ...]] = list(zip(*columns, strict=True))
            for i, row in enumerate(group):
                if row[3]:  # custom metrics (which may reuse a built-in name): the full rule
                    obs = row_observations(row[4:-1], row[3])
                    values[i] = tuple(obs.get(name) for name in layout.slots)
            offsets = {v: layout.offsets[i] for v, i in layout.index.items()}
            items.extend(
                [
                    ((test, row[-1]), row[0], offsets[row[2]], xs, layout)
                    for row, xs in zip(group, values, strict=True)
                ]
            )

    def write(self) -> None:
        items, self.items = self.items, []
        if not items:
            return
        conn = self.conn
        known = self.known if self.known is not None else {}
        if len(items) == 1:  # one result (a single append): one row, no lookups but its own
            self._write_one(items[0], known)
            return
        # cells are lists of floats while they are summed (the same doubles an array holds)
        cells: dict[tuple[str, str], list[float] | None] = {}
        wanted: dict[str, list[str]] = {}
        for key in dict.fromkeys([item[0] for item in items]):  # each case once, in order
            cell = cells[key] = known.get(key)
            if cell is None:
                wanted.setdefault(key[0], []).append(key[1])
        for test, case_ids in wanted.items():
            if len(case_ids) > 1 and set(map(type, case_ids)) == {str}:
                # new cases in a range the table has none in (an import's batch): no lookups.
                # (SQLite orders TEXT by its UTF-8 bytes, which is code point order, as min
                # and max order str)
                (found,) = conn.execute(
                    _ANY_IN_RANGE, (test, min(case_ids), max(case_ids))
                ).fetchone()
                if not found:
                    continue
            for start in range(0, len(case_ids), _LOOKUP):
                chunk = case_ids[start : start + _LOOKUP]
                for case_id, stats in conn.execute(
                    "SELECT case_id, stats FROM ab_cases WHERE test = ? AND case_id IN "
                    f"({', '.join('?' * len(chunk))})",
                    (test, *chunk),
                ):
                    cells[(test, case_id)] = _unpack(stats)
        for key, position, offsets, xs, layout in items:
            cell = cells[key]
            if cell is None:
                cell = cells[key] = [0.0] * layout.width
                cell[0] = float(position)
            if len(xs) == 1:  # one slot (a test without guardrails): no pairs to zip
                x = xs[0]
                if x is not None and x - x == 0.0:  # a finite value (inf - inf and nan are nan)
                    at = offsets[0]
                    cell[at] += 1.0
                    cell[at + 1] += x
                continue
            for at, x in zip(offsets, xs, strict=True):
                if x is not None and x - x == 0.0:
                    cell[at] += 1.0
                    cell[at + 1] += x
        conn.executemany(
            _UPSERT,
            [(t, c, packed_floats(cell)) for (t, c), cell in cells.items() if cell],
        )
        if self.known is not None:
            self.known.update(cells)  # type: ignore[arg-type]

    def _write_one(
        self,
        item: tuple[tuple[str, str], int, tuple[int, ...], tuple[Any, ...], Layout],
        known: dict[tuple[str, str], list[float]],
    ) -> None:
        key, position, offsets, xs, layout = item
        cur = self.cursor
        kept = known.get(key)
        fresh = kept is None
        if kept is None:  # not kept: most likely a new case, inserted as one unless it has a row
            cell = [0.0] * layout.width
            cell[0] = float(position)
        else:
            cell = kept
        for at, x in zip(offsets, xs, strict=True):
            if x is not None and x - x == 0.0:  # a finite value (inf - inf and nan are nan)
                cell[at] += 1.0
                cell[at + 1] += x
        if not fresh:
            cur.execute(_UPDATE, (packed_floats(cell), key[0], key[1]))
        elif not cur.execute(_INSERT_NEW, (key[0], key[1], packed_floats(cell))).rowcount:
            # the case has a row this connection does not keep: continue from it
            row = self.conn.execute(
                "SELECT stats FROM ab_cases WHERE test = ? AND case_id = ?", key
            ).fetchone()
            cell = _unpack(row[0])
            for at, x in zip(offsets, xs, strict=True):
                if x is not None and x - x == 0.0:
                    cell[at] += 1.0
                    cell[at + 1] += x
            cur.execute(_UPDATE, (packed_floats(cell), key[0], key[1]))
        if self.known is not None:
            known[key] = cell


def _unpack(stats: bytes) -> list[float]:
    """A stored ``stats`` blob as a list of floats."""
    values = array("d")
    values.frombytes(stats)
    return values.tolist()


_ANY_IN_RANGE = "SELECT EXISTS (SELECT 1 FROM ab_cases WHERE test = ? AND case_id BETWEEN ? AND ?)"

_UPSERT = (
    "INSERT INTO ab_cases (test, case_id, stats) VALUES (?, ?, ?) "
    "ON CONFLICT (test, case_id) DO UPDATE SET stats = excluded.stats"
)
#: a single result's case: a new row (nothing if the case has one), or its row updated
_INSERT_NEW = "INSERT INTO ab_cases (test, case_id, stats) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
_UPDATE = "UPDATE ab_cases SET stats = ? WHERE test = ? AND case_id = ?"

#: struct packers of n float64s, by n (see packed_floats)
_PACKERS: dict[int, Any] = {}


def packed_floats(values: Sequence[float]) -> bytearray:
    """``array("d", values).tobytes()`` as a ``bytearray``: what a ``stats`` blob stores.

    A bytearray because ``sqlite3`` binds one directly, while a ``bytes`` value is first
    offered to its adapters (~1 µs a statement); ``struct`` packs a list of floats in
    about a third of the time ``array`` takes (the same native float64 bytes).
    """
    n = len(values)
    pack = _PACKERS.get(n)
    if pack is None:
        pack = _PACKERS[n] = struct.Struct(f"{n}d").pack
    return bytearray(pack(*values))


#: the position of each plain value column in a result row (after position, test, variant, metrics)
_PLAIN = {name: 4 + i for i, name in enumerate(VALUE_COLUMNS)}


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


def _column(name: str, rows: Sequence[Sequence[Any]]) -> list[float | None]:
    """Metric ``name`` of each result row without custom metrics (``_column_value``), a
    column at a time (rows with custom metrics get a value here too, replaced by the caller)."""
    if name == "success":
        return [None if r[4] is None else (1.0 if r[4] else 0.0) for r in rows]
    at = _PLAIN.get(name)
    if at is not None and name != "successful_calls":
        return [None if r[at] is None else float(r[at]) for r in rows]
    return [_column_value(name, r) for r in rows]


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


def case_statistics(conn: sqlite3.Connection, name: str) -> tuple[tuple[str, ...], Any] | None:
    """Test ``name``'s per-case statistics: the metrics they cover and ``{metric: (sums,
    counts)}`` as ``AnalysisInput.cases`` takes them (:func:`read_cases`); None if no such test."""
    got = read_cases(conn, name)
    return None if got is None else (got[0].slots, got[1])
