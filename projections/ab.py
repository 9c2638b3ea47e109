"""The A/B read model: tests, variants, per-result rows and per-metric sufficient statistics.

Tables (browsable with sqlite-utils or Datasette):

- ``ab_tests``: one row per test (definition, archived flag, positions of its definition events).
- ``ab_variants``: one row per test × variant: control flag, planned share, result count,
  and the variant's sufficient statistics (``stats_keys``, ``stats``, see :func:`pack_stats`):
  count, mean and M2 per metric, co-moments per pooled-ratio pair.
- ``ab_results``: one row per result, keyed by its log position.

Statistics are folded with Welford's sequential update, one event at a time in
position order, so the stored numbers are bit-for-bit the same however the log
is split into batches (incremental appends and a rebuild agree exactly).

A result append is the hot path, and on a fast disk its cost is mostly the
pages the commit writes and the statements it runs: the small tables are
``WITHOUT ROWID`` (one b-tree each, not a table and a key index), a result
touches its row, its variant's row (count and every statistic, one statement)
and its case's row, and nothing per test (a test's result count and last
position are derived when read); the statistics of the variants and the
per-case sums written last are kept in memory between appends (see
:meth:`ABProjection.forget`), so an append reads none of them back.
"""

from __future__ import annotations

import itertools
import json
import operator
import sqlite3
from collections.abc import Generator, Sequence
from contextlib import nullcontext
from typing import Any

from trialbook.domain.ab import ResultAdded
from trialbook.domain.canonical import canonical_json
from trialbook.domain.events import upcast
from trialbook.domain.metrics import RATIO_PAIRS, add_outcome_and_calls
from trialbook.domain.stats.moments import co_welford, welford
from trialbook.projections import ab_cases
from trialbook.projections.ab_queries import VALUE_COLUMNS, row_observations, unpack_stats
from trialbook.projections.base import Extract, Extraction, TableProjection, write_transaction
from trialbook.store.base import RecordedEvent, parse_json
from trialbook.store.errors import ChainError

RESULT_TYPE = ResultAdded.event_type
#: runs of at most this many results are folded result by result (no column lists)
_FEW = 4
RESULT_VERSION = ResultAdded.schema_version

#: ``ab_moments`` and ``ab_comoments`` held the statistics before version 7: dropped with the rest
TABLES = ("ab_tests", "ab_variants", "ab_results", "ab_cases", "ab_moments", "ab_comoments")

DDL = [
    """CREATE TABLE IF NOT EXISTS ab_tests (
        name TEXT PRIMARY KEY, stream_id TEXT NOT NULL, variants TEXT NOT NULL, control TEXT NOT NULL,
        metric TEXT NOT NULL, guardrails TEXT NOT NULL, split TEXT, task_id TEXT, description TEXT,
        prompt TEXT, category TEXT, difficulty TEXT, expected_tools TEXT, success_criteria TEXT,
        archived INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL, created_position INTEGER NOT NULL,
        defined_position INTEGER NOT NULL) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS ab_variants (
        test TEXT NOT NULL, variant TEXT NOT NULL, ord INTEGER NOT NULL, is_control INTEGER NOT NULL,
        planned_share REAL, results INTEGER NOT NULL DEFAULT 0,
        stats_keys TEXT NOT NULL DEFAULT '[[],[]]', stats BLOB NOT NULL DEFAULT x'',
        PRIMARY KEY (test, variant)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS ab_results (
        position INTEGER PRIMARY KEY, test TEXT NOT NULL, variant TEXT NOT NULL, session_id TEXT,
        case_id TEXT, success INTEGER, tool_calls INTEGER, successful_calls INTEGER, errors INTEGER,
        completion_time REAL, messages INTEGER, corrections INTEGER, tokens INTEGER, cost REAL,
        score REAL, metrics TEXT, error_messages TEXT, notes TEXT, start_time, end_time,
        recorded_at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS ab_results_test ON ab_results (test)",
    ab_cases.DDL,
]

#: the ``ab_results`` columns a result is inserted with; its values as ``ab_queries`` reads them
RESULT_COLUMNS = (
    "position",
    "test",
    "variant",
    "session_id",
    "case_id",
    *VALUE_COLUMNS,
    "metrics",
    "error_messages",
    "notes",
    "start_time",
    "end_time",
    "recorded_at",
)
#: an ``ab_results`` row (RESULT_COLUMNS) as the statistics fold it:
#: ``(position, test, variant, metrics, *VALUE_COLUMNS, case_id)``
_STATS_ROW = operator.itemgetter(
    0,
    1,
    2,
    RESULT_COLUMNS.index("metrics"),
    *(RESULT_COLUMNS.index(c) for c in VALUE_COLUMNS),
    RESULT_COLUMNS.index("case_id"),
)
#: (name, index in RESULT_COLUMNS) of the value columns that are observations as they are
_PLAIN_AT = tuple(
    (name, RESULT_COLUMNS.index(name))
    for name in ("completion_time", "messages", "corrections", "tokens", "cost", "score")
)
assert RESULT_COLUMNS[5:16] == (*VALUE_COLUMNS, "metrics"), "row_values reads these by index"


#: the data keys of a result's ``ab_results`` row, from ``variant`` to ``end_time`` in
#: RESULT_COLUMNS order (``errors`` as given; ``metrics`` and ``error_messages`` as
#: values), picked at once from the data over a row of NULLs (``ABProjection._fold_run``)
_VALUE_KEYS = RESULT_COLUMNS[2:-1]
_PICK_VALUES = operator.itemgetter(*_VALUE_KEYS)
_NO_VALUES: dict[str, Any] = dict.fromkeys(_VALUE_KEYS)


def _insert_rows(
    conn: sqlite3.Connection,
    run: Sequence[tuple[RecordedEvent, str, dict[str, Any]]],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    """Insert ``rows`` (RESULT_COLUMNS, built from ``run``'s data), each naming only the
    columns it may give a value (the rest are NULL as they would be bound).

    Binding the ~8 NULLs of a typical result was half the cost of its ``ab_results``
    insert; rows are grouped by the columns they give (most files: one group), each
    group inserted in position order with one statement.
    """
    groups: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
    getters: dict[tuple[Any, ...], Any] = {}
    for (_, _, d), row in zip(run, rows, strict=True):
        shape = (tuple(d), row[8] is None, row[15] is None, row[16] is None)
        group = groups.get(shape)
        if group is None:
            group = groups[shape] = []
            getters[shape] = _shape_of(shape)
        group.append(row)
    for shape, group in groups.items():
        sql, pick = getters[shape]
        conn.executemany(sql, list(map(pick, group)))


def _plain_run(
    run: Sequence[tuple[RecordedEvent, str, dict[str, Any]]],
) -> tuple[str, Any, list[tuple[Any, ...]]] | None:
    """The ``ab_results`` INSERT, its rows and the rows the statistics fold (``_STATS_ROW``)
    of a run of results of one test whose data all have the same keys in the same order
    and no custom metric, error message or session time (an import's batch, nearly
    always), built a column at a time; None for any other run (``_fold_run`` builds it
    row by row).

    The same rows as the row-by-row build: the data's values as they are, NULL for the
    columns it does not give (so the table and the statistics folded from these rows,
    in position order, are the same; a property test compares the two ways).
    """
    first = run[0]
    test = first[1]
    events, tests, datas = zip(*run, strict=True)
    shapes = set(map(tuple, datas))
    if len(shapes) != 1 or tests.count(test) != len(tests):
        return None
    (keys,) = shapes
    columns = dict(zip(keys, zip(*map(dict.values, datas), strict=True), strict=True))
    if any(columns.get("metrics", ())) or any(columns.get("error_messages", ())):
        return None
    n = len(run)
    for key in ("start_time", "end_time"):
        given = columns.get(key)
        if given is not None and given.count(None) != n:
            return None
    positions = list(map(_POSITION, events))
    names = [c for c in _PLAIN_COLUMNS if c in columns]
    sql = (
        f"INSERT INTO ab_results (position, test, {', '.join(names)}, recorded_at) "
        f"VALUES ({', '.join('?' * (len(names) + 3))})"
    )
    same = itertools.repeat(test, n)
    bound = [columns[c] for c in names]
    success = columns.get("success")
    if success is not None and _BOOLS.issuperset(map(type, success)):
        # bools bound as integers: sqlite3 offers a bool (an int subclass) to its adapters
        # first (~0.5 µs a value), then binds the integer it is; the same stored values
        bound[names.index("success")] = (
            list(map(int, success))
            if None not in success
            else [None if v is None else int(v) for v in success]
        )
    inserted = zip(positions, same, *bound, map(_RECORDED_AT, events), strict=False)
    nulls = itertools.repeat(None)  # (unbounded: shared by the columns the data lacks)
    folded = list(
        zip(
            positions,
            itertools.repeat(test, n),
            columns["variant"],
            nulls,
            *(columns.get(c, nulls) for c in VALUE_COLUMNS),
            columns.get("case_id", nulls),
            strict=False,
        )
    )
    return sql, inserted, folded


#: the types of a success column ``_plain_run`` binds as integers
_BOOLS = frozenset({bool, type(None)})
#: the ``ab_results`` columns a plain result's data may give (``_plain_run``), in table order
_PLAIN_COLUMNS = (*RESULT_COLUMNS[2:15], "notes")
_POSITION = operator.attrgetter("position")
_DATA = operator.attrgetter("data")
_WRITERS_DATA = operator.attrgetter("_data")
_KIND = operator.attrgetter("type", "schema_version", "stream_id")
_RECORDED_AT = operator.attrgetter("recorded_at")


def _shape_of(shape: tuple[Any, ...]) -> tuple[str, Any]:
    """The INSERT and the row picker of a shape ``(data keys, errors, metrics and error
    messages are NULL)``: the columns that can hold a value in such a row, a superset of
    those that do (a value the data holds as null is bound as NULL)."""
    found = _SHAPES.get(shape)
    if found is not None:
        return found
    keys, no_errors, no_metrics, no_messages = shape
    maybe = {"position", "test", "variant", "recorded_at", *keys}
    maybe.discard("errors")
    maybe.discard("metrics")
    maybe.discard("error_messages")
    if not no_errors:
        maybe.add("errors")
    if not no_metrics:
        maybe.add("metrics")
    if not no_messages:
        maybe.add("error_messages")
    at = [i for i, c in enumerate(RESULT_COLUMNS) if c in maybe]
    names = [RESULT_COLUMNS[i] for i in at]
    found = (
        f"INSERT INTO ab_results ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
        operator.itemgetter(*at),
    )
    if len(_SHAPES) >= 256:
        _SHAPES.clear()
    _SHAPES[shape] = found
    return found


#: the statements and row pickers of the shapes of rows met so far (see _insert_rows)
_SHAPES: dict[tuple[Any, ...], tuple[str, Any]] = {}


def _insert_one(cur: sqlite3.Cursor, d: dict[str, Any], row: tuple[Any, ...]) -> None:
    """Insert one ``ab_results`` row (RESULT_COLUMNS, built from the data ``d``) as
    :func:`_insert_rows` inserts it, naming only the columns it may give a value, with
    ``success`` bound as the integer it is stored as.

    ``sqlite3`` binds an exact int, float or str directly, but asks its adapters about
    anything else (None, a bool, bytes): about 0.5 µs a value, and a typical result
    has ~9 NULLs and a bool (the stored values are the same either way).
    """
    sql, pick = _shape_of((tuple(d), row[8] is None, row[15] is None, row[16] is None))
    success = row[5]
    if success is not None and type(success) is not int:  # a bool (True binds as 1)
        row = (*row[:5], int(success), *row[6:])
    cur.execute(sql, pick(row))


def row_values(row: Sequence[Any]) -> dict[str, float]:
    """``row_observations`` of an ``ab_results`` row (RESULT_COLUMNS), without the dict of
    fields for a row without custom metrics (the same values, in the same order)."""
    if row[15]:
        return row_observations(row[5:15], row[15])
    obs: dict[str, float] = {}
    add_outcome_and_calls(obs, row[5], row[6], row[7], row[8])
    for name, at in _PLAIN_AT:
        value = row[at]
        if value is not None:
            obs[name] = float(value)
    return obs


def _json_or_none(value: Any) -> str | None:
    return None if value is None else canonical_json(value)


def _as_recorded(value: Any) -> Any:
    """A session time for its untyped ``ab_results`` column, as SQLite's ``json_extract`` reads it.

    Times are kept as recorded (ISO 8601 text, or seconds since the epoch as a whole
    or a decimal number); a whole number beyond a 64-bit integer is read as a float,
    as ``json_extract`` reads it in a rebuild.
    """
    if type(value) is int and not -(2**63) <= value < 2**63:
        return float(value)
    return value


def test_name(stream_id: str) -> str:
    """The test name of an ``ab:<name>`` stream."""
    return stream_id[3:]


class ABProjection(TableProjection):
    """Folds A/B events into the ``ab_*`` tables."""

    name = "ab"
    #: 2: the errors metric counts error messages given without a count;
    #: 3: WITHOUT ROWID tables, test result counts derived when read;
    #: 4: tests keep expected_tools and success_criteria;
    #: 5: results keep start_time and end_time, and the tool_success_rate metric is folded;
    #: 6: per-case statistics of the tracked metrics (``ab_cases``) for paired analyses;
    #: 7: a variant's statistics packed in its ``ab_variants`` row (one statement per append)
    version = 7
    handles = frozenset({"TestCreated", "ResultAdded", "TestArchived", "TestRestored"})
    ddl = DDL
    tables = TABLES

    def __init__(self) -> None:
        self._cache: _Cache | None = None

    def forget(self) -> None:
        """Drop the statistics kept between appends (the projector calls this, see base)."""
        self._cache = None

    def forget_streams(self, streams: dict[str, set[str]]) -> None:
        """Drop the statistics kept of the tests of ``streams`` (others' appends folded)."""
        cache = self._cache
        if cache is None:
            return
        tests = set()
        for stream_id, types in streams.items():
            if not types.isdisjoint(self.handles):
                if not stream_id.startswith("ab:"):
                    self._cache = None  # (not an A/B test's stream: cannot tell what it moved)
                    return
                tests.add(test_name(stream_id))
        if tests:
            cache.forget_tests(tests)

    def _cache_for(self, conn: sqlite3.Connection) -> _Cache:
        if self._cache is None or self._cache.conn is not conn:
            self._cache = _Cache(conn)
        return self._cache

    def apply(self, conn: sqlite3.Connection, events: Sequence[RecordedEvent]) -> None:
        if len(events) > _FEW:
            kinds = set(map(_KIND, events))
            if len(kinds) == 1:
                ((kind, version, stream_id),) = kinds
                if kind == RESULT_TYPE and version == RESULT_VERSION:
                    # one append's batch of results (an import's): the run at once
                    test = itertools.repeat(test_name(stream_id))
                    # the writer's own bodies, as ``data`` gives them (parsed when one is not)
                    datas = list(map(_WRITERS_DATA, events))
                    if None in datas:
                        datas = list(map(_DATA, events))
                    self._fold_results(conn, list(zip(events, test, datas, strict=False)))
                    return
        run: list[tuple[RecordedEvent, str, dict[str, Any]]] = []
        for e in events:
            if e.type == RESULT_TYPE:
                # results arrive in runs: collect a run, fold it in one pass, write it once
                data = e.data
                if e.schema_version != RESULT_VERSION:
                    data = upcast(RESULT_TYPE, e.schema_version, data)
                run.append((e, test_name(e.stream_id), data))
                continue
            if run:
                self._fold_results(conn, run)
                run = []
            self._apply_definition(conn, e)
        if run:
            self._fold_results(conn, run)

    # ------------------------------------------------------------------ definitions

    @staticmethod
    def _apply_definition(conn: sqlite3.Connection, e: RecordedEvent) -> None:
        test = test_name(e.stream_id)
        if e.type == "TestCreated":
            d = json.loads(e.data_json)
            conn.execute(
                "INSERT INTO ab_tests (name, stream_id, variants, control, metric, guardrails, split, task_id, "
                "description, prompt, category, difficulty, expected_tools, success_criteria, "
                "archived, created_at, created_position, defined_position) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
                (
                    test,
                    e.stream_id,
                    canonical_json(d["variants"]),
                    d["control"],
                    d.get("metric", "success"),
                    canonical_json(d.get("guardrails", [])),
                    canonical_json(d["split"]) if d.get("split") is not None else None,
                    d.get("task_id"),
                    d.get("description"),
                    d.get("prompt"),
                    d.get("category"),
                    d.get("difficulty"),
                    _json_or_none(d.get("expected_tools")),
                    _json_or_none(d.get("success_criteria")),
                    e.recorded_at,
                    e.position,
                    e.position,
                ),
            )
            split = d.get("split") or {}
            conn.executemany(
                "INSERT INTO ab_variants (test, variant, ord, is_control, planned_share, results) "
                "VALUES (?, ?, ?, ?, ?, 0)",
                [
                    (test, v, i, int(v == d["control"]), split.get(v, 1 / len(d["variants"])))
                    for i, v in enumerate(d["variants"])
                ],
            )
        elif e.type in ("TestArchived", "TestRestored"):
            conn.execute(
                "UPDATE ab_tests SET archived = ?, defined_position = ? WHERE name = ?",
                (int(e.type == "TestArchived"), e.position, test),
            )

    # ------------------------------------------------------------------ results

    def _fold_results(
        self, conn: sqlite3.Connection, run: list[tuple[RecordedEvent, str, dict[str, Any]]]
    ) -> None:
        try:
            self._fold_run(conn, run)
        except BaseException:
            self.forget()  # the cache may hold values folded half-way
            raise

    def _fold_run(
        self, conn: sqlite3.Connection, run: list[tuple[RecordedEvent, str, dict[str, Any]]]
    ) -> None:
        cache = self._cache_for(conn)
        stats = _Statistics(conn, cache)
        cases = ab_cases.CaseFold(conn, cache.layouts, cache.cases, cache.cursor)
        plain = _plain_run(run) if len(run) > _FEW else None
        if plain is not None:
            # an import's batch: the rows a column at a time, the same rows and statistics
            sql, inserted, folded = plain
            conn.executemany(sql, inserted)
            stats.add_rows(folded)
            cases.add_rows(folded)
            stats.write()
            cases.write()
            return
        rows: list[tuple[Any, ...]] = []
        append = rows.append
        none, pick = _NO_VALUES, _PICK_VALUES
        for e, test, d in run:
            v = pick({**none, **d})
            if not (v[13] or v[14]) and v[16] is None and v[17] is None:
                # no custom metric, error message or session time (most results): the row is
                # the data's values as they are (success as a bool binds as the integer)
                append((e.position, test, *v[:13], None, None, v[15], None, None, e.recorded_at))
                continue
            get = d.get
            case_id = get("case_id")
            success = get("success")
            metrics = get("metrics")
            errors = get("error_messages")
            append(
                (
                    e.position,
                    test,
                    d["variant"],
                    get("session_id"),
                    case_id,
                    None if success is None else int(success),
                    get("tool_calls"),
                    get("successful_calls"),
                    get("errors", len(errors) if errors else None),
                    get("completion_time"),
                    get("messages"),
                    get("corrections"),
                    get("tokens"),
                    get("cost"),
                    get("score"),
                    canonical_json(metrics) if metrics else None,
                    canonical_json(errors) if errors else None,
                    get("notes"),
                    _as_recorded(get("start_time")),
                    _as_recorded(get("end_time")),
                    e.recorded_at,
                )
            )
        if len(rows) <= _FEW:
            # a few results (a single append): each folded straight onto its variant's
            # statistics, its values as the rows give them (``row_observations``); each row
            # inserted naming only the columns it may give a value, on the cache's cursor
            # (see _insert_one)
            cur = cache.cursor
            for (_, _, d), row in zip(run, rows, strict=True):
                _insert_one(cur, d, row)
                obs = row_values(row)
                stats.add_one(row[1], row[2], obs)
                if row[4] is not None:
                    cases.add(row[1], row[4], row[2], row[0], obs)
        else:
            _insert_rows(conn, run, rows)
            # statistics a column at a time, from the rows as stored (the rebuild's fold)
            folded = list(map(_STATS_ROW, rows))
            stats.add_rows(folded)
            cases.add_rows(folded)
        stats.write()
        cases.write()

    # ------------------------------------------------------------------ bulk catch-up

    def catch_up(
        self,
        conn: sqlite3.Connection,
        after: int,
        until: int | None,
        stream_id: str | None = None,
        *,
        extract: Extract | None = None,
    ) -> int | None:
        """Fold the events in (after, until] in bulk: SQLite extracts the result rows itself.

        Gives exactly the tables :meth:`apply` gives (the property tests compare a
        rebuild with event-by-event appends): the per-result rows are extracted with
        ``json_extract`` by ``INSERT … SELECT``, the statistics are folded from those
        rows with the same Welford update in position order, and definitions go
        through ``apply``. Logs holding results of an older schema version, which
        need upcasting in code, or a NUL character in a result's text (which
        ``json_extract`` cuts short), return None and are folded by ``apply``.
        ``stream_id`` limits the fold to one test's stream.

        Without ``extract`` the rows are extracted in one statement inside the
        caller's transaction. With it (a point-in-time replay passes
        :class:`projections.pipeline.Background`) the extraction runs in chunks of
        ``EXTRACT_CHUNK`` events on another connection to the same file, each chunk
        committed, while this thread folds the chunks committed so far: SQLite's
        work and Python's overlap on two cores. The caller then holds no
        transaction on ``conn``; definitions and statistics are written in one
        transaction at the end.
        """
        try:
            return self._catch_up(conn, after, until, stream_id, extract)
        except BaseException:
            self.forget()  # the cache may hold values folded half-way
            raise

    def _catch_up(
        self,
        conn: sqlite3.Connection,
        after: int,
        until: int | None,
        stream_id: str | None,
        extract: Extract | None,
    ) -> int | None:
        bound = "position > ?" + ("" if until is None else " AND position <= ?")
        params: tuple[Any, ...] = (after,) if until is None else (after, until)
        if stream_id is not None:  # one test's tables only (point-in-time reads of one test)
            bound += " AND stream_id = ?"
            params = (*params, stream_id)
        first = conn.execute("SELECT coalesce(max(position), 0) FROM ab_results").fetchone()[0]
        extraction, scan, scan_params = _start_extraction(conn, bound, params, stream_id, extract)
        try:
            # one scan finds the definitions and any result needing an upcast
            found = [
                RecordedEvent(*r)
                for r in conn.execute(
                    "SELECT position, event_id, stream_id, version, type, schema_version, data, "
                    f"metadata, recorded_at, '', '' FROM events WHERE {scan} AND "
                    "(type IN (?, ?, ?) OR (type = ? AND (schema_version != ? OR "
                    "instr(data, ?) > 0))) ORDER BY position",
                    (*scan_params, "TestCreated", "TestArchived", "TestRestored")
                    + (RESULT_TYPE, RESULT_VERSION, _NUL_ESCAPE),
                )
            ]
            if any(e.type == RESULT_TYPE for e in found):
                return None
            cache = self._cache_for(conn)
            for e in found:  # definitions are applied last: the results' layouts come from them
                if e.type == "TestCreated":
                    data = json.loads(e.data_json)
                    cache.layouts[test_name(e.stream_id)] = ab_cases.layout_of_definition(data)
            stats = _Statistics(conn, cache)
            cases = ab_cases.CaseFold(conn, cache.layouts, cache.cases)
            extracted = folded = 0
            last = max(first, after)
            for count in extraction:  # each chunk's rows, once committed
                extracted += count
                last, n = _fold_rows_after(conn, stats, cases, last, extract is not None)
                folded += n
        finally:
            extraction.close()
        if folded != extracted:  # chunks are by version: a chunk behind the last position read
            raise ChainError(
                f"stream {stream_id}'s versions are not in position order; "
                "run `trialbook events verify` to find where the log was changed"
            )
        with nullcontext() if extract is None else write_transaction(conn):
            if found:
                self.apply(conn, found)
            stats.write()
        return folded + len(found)


#: events per extraction chunk when the extraction runs in the background
EXTRACT_CHUNK = 20_000


def _start_extraction(
    conn: sqlite3.Connection,
    bound: str,
    params: tuple[Any, ...],
    stream_id: str | None,
    extract: Extract | None,
) -> tuple[Extraction, str, tuple[Any, ...]]:
    """Start extracting the result rows of ``bound`` into ``ab_results``.

    Returns the extraction and the bound (SQL, parameters) that other scans of
    the same events should use. Without ``extract``: one statement on ``conn``,
    run when first iterated. With it: statements of ``EXTRACT_CHUNK`` events,
    one stream cut by version (its index finds a chunk wherever it lies in the
    log), the whole log by position; the key's range then also bounds the scans.
    """
    if extract is None:
        sql = _BULK_RESULTS.replace("{bound}", bound) + " ORDER BY position"
        return _inline(conn, sql, (RESULT_TYPE, *params)), bound, params
    key = "position" if stream_id is None else "version"
    low, high = _extent(conn, bound, params, key)
    # one range per statement: given the outer range too, SQLite may walk the wider one
    sql = _BULK_RESULTS.replace("{bound}", f"{bound} AND {key} >= ? AND {key} < ?")
    chunks = [
        (sql, (RESULT_TYPE, *params, start, start + EXTRACT_CHUNK))
        for start in range(low, high + 1, EXTRACT_CHUNK)
    ]
    return extract(chunks), f"{bound} AND {key} >= ? AND {key} <= ?", (*params, low, high)


def _inline(
    conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]
) -> Generator[int, None, None]:
    yield conn.execute(sql, params).rowcount


def _fold_rows_after(
    conn: sqlite3.Connection,
    stats: _Statistics,
    cases: ab_cases.CaseFold,
    last: int,
    own_transaction: bool,
) -> tuple[int, int]:
    """Fold the ``ab_results`` rows after position ``last``; returns the new last position and
    how many rows were folded. Per-case statistics are written chunk by chunk (memory stays
    bounded), each chunk in its own transaction when the caller holds none
    (``own_transaction``)."""
    cur = conn.execute(
        f"SELECT position, test, variant, metrics, {', '.join(VALUE_COLUMNS)}, case_id "
        "FROM ab_results WHERE position > ? ORDER BY position",
        (last,),
    )
    folded = 0
    while rows := cur.fetchmany(20_000):
        folded += len(rows)
        last = rows[-1][0]
        stats.add_rows(rows)
        stats.fold()  # keep memory bounded: fold each batch into the running state
        cases.add_rows(rows)
        with write_transaction(conn) if own_transaction else nullcontext():
            cases.write()
    cur.close()
    return last, folded


def _extent(
    conn: sqlite3.Connection, bound: str, params: tuple[Any, ...], key: str
) -> tuple[int, int]:
    """The lowest and highest ``key`` (position or version) of the events in ``bound``.

    Each is found by walking the key's order from one end, so only what lies
    outside the bound is skipped (``min()``/``max()`` with the bound would read
    a whole stream's index). ``(1, 0)`` when nothing is in the bound.
    """
    ends = [
        conn.execute(
            f"SELECT {key} FROM events WHERE {bound} ORDER BY {key} {order} LIMIT 1", params
        ).fetchone()
        for order in ("ASC", "DESC")
    ]
    if ends[0] is None:
        return 1, 0
    low, high = ends[0][0], ends[1][0]
    if not (type(low) is int and type(high) is int):
        raise ChainError(
            f"the log holds a {key} that is not a whole number ({high!r}); "
            "run `trialbook events verify` to find where it was changed"
        )
    return low, high


class _VariantStats:
    """One test × variant's statistics, as its ``ab_variants`` row holds them (see :func:`pack_stats`).

    ``flat`` is the row's ``stats`` as a list of floats (counts too: exact below 2**53, and
    Welford's steps give the same numbers with a float count as with an int); ``at`` and
    ``pair_at`` give where each metric's ``n, mean, m2`` and each pair's ``n, mean_x,
    mean_y, m2_x, m2_y, c_xy`` start, metrics and pairs in sorted order, so every fold
    (whatever order metrics first appeared in) stores the same bytes.
    """

    __slots__ = ("flat", "at", "pair_at", "keys")

    def __init__(
        self,
        moments: dict[str, list[Any]] | None = None,
        comoments: dict[tuple[str, str], list[Any]] | None = None,
    ) -> None:
        self._lay_out(moments or {}, comoments or {})

    def _lay_out(
        self, moments: dict[str, list[Any]], comoments: dict[tuple[str, str], list[Any]]
    ) -> None:
        names, pairs = sorted(moments), sorted(comoments)
        self.at = {name: 3 * i for i, name in enumerate(names)}
        base = 3 * len(names)
        self.pair_at = {pair: base + 6 * j for j, pair in enumerate(pairs)}
        self.flat: list[float] = [float(x) for name in names for x in moments[name]]
        self.flat.extend(float(x) for pair in pairs for x in comoments[pair])
        self.keys = canonical_json([names, [list(p) for p in pairs]])

    @property
    def moments(self) -> dict[str, list[Any]]:
        """metric -> ``[n, mean, m2]``"""
        f = self.flat
        return {m: [int(f[i]), f[i + 1], f[i + 2]] for m, i in self.at.items()}

    @property
    def comoments(self) -> dict[tuple[str, str], list[Any]]:
        """(numerator, denominator) -> ``[n, mean_x, mean_y, m2_x, m2_y, c_xy]``"""
        f = self.flat
        return {p: [int(f[j]), *f[j + 1 : j + 6]] for p, j in self.pair_at.items()}

    def metric_at(self, metric: str) -> int:
        """Where ``metric``'s statistics start, made (empty) if it has none yet."""
        at = self.at.get(metric)
        if at is None:
            self._lay_out({**self.moments, metric: [0, 0.0, 0.0]}, self.comoments)
            at = self.at[metric]
        return at

    def pair_start(self, pair: tuple[str, str]) -> int:
        """Where ``pair``'s co-moments start, made (empty) if it has none yet."""
        at = self.pair_at.get(pair)
        if at is None:
            self._lay_out(self.moments, {**self.comoments, pair: [0, 0.0, 0.0, 0.0, 0.0, 0.0]})
            at = self.pair_at[pair]
        return at

    def packed(self) -> tuple[str, bytes]:
        """``(stats_keys, stats)`` of the row."""
        return self.keys, bytes(ab_cases.packed_floats(self.flat))


def pack_stats(
    moments: dict[str, list[Any]], comoments: dict[tuple[str, str], list[Any]]
) -> tuple[str, bytes]:
    """A variant's statistics as its ``ab_variants`` row keeps them: ``stats_keys`` is the
    canonical JSON ``[[metric, …], [[numerator, denominator], …]]`` (both sorted) and
    ``stats`` packed float64: ``n, mean, m2`` per metric, then ``n, mean_x, mean_y, m2_x,
    m2_y, c_xy`` per pair, in that order (``ab_queries.unpack_stats`` reads them)."""
    return _VariantStats(moments, comoments).packed()


class _Cache:
    """Statistics rows of one connection as last written, kept between appends.

    Only valid while nothing else writes the tables: the projector drops it
    (``ABProjection.forget``) when another connection commits, a transaction
    rolls back, or a catch-up rewrites the tables. Values are the floats that
    were written, so a fold continuing from the cache stores the same numbers
    as one continuing from the rows. The folds update the cached values in
    place: whatever stops a fold half-way also ends its transaction, and a
    rollback drops the cache.
    """

    LIMIT = 256  # test × variant groups kept; more are read from the tables again
    CASES = 4096  # per-case rows kept (``ab_cases``); more are read again

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        #: the cursor an append's statements run on (``conn.execute`` makes a cursor each
        #: time: about half the cost of a small statement)
        self.cursor = conn.cursor()
        self.variants: dict[tuple[str, str], _VariantStats] = {}
        #: (test, case id) -> its ``ab_cases`` stats as last written
        self.cases: dict[tuple[str, str], list[float]] = {}
        #: test -> where its per-case statistics go (``ab_cases``); fixed when a test is created
        self.layouts: dict[str, ab_cases.Layout | None] = {}

    def forget_tests(self, tests: set[str]) -> None:
        """Drop what is kept of these tests."""
        for kept in (self.variants, self.cases):
            for key in [k for k in kept if k[0] in tests]:
                del kept[key]
        for test in tests:
            self.layouts.pop(test, None)

    def trim(self) -> None:
        if len(self.variants) > self.LIMIT:  # a rebuild of many tests: keep nothing
            self.variants = {}
        if len(self.cases) > self.CASES:
            self.cases = {}


class _Statistics:
    """Per test × variant statistics folded from results in position order, then written once.

    Values are collected per metric and folded with Welford's update in a tight
    loop; the order of updates is the position order whatever the batching, so
    every path (appends, rebuilds, replays) stores bit-identical numbers.
    """

    def __init__(self, conn: sqlite3.Connection, cache: _Cache) -> None:
        self.conn = conn
        self.cache = cache
        self.values: dict[tuple[str, str], dict[str, list[float]]] = {}
        self.pairs: dict[tuple[str, str], dict[tuple[str, str], list[tuple[float, float]]]] = {}
        #: results folded per test × variant since the last write (only these are written)
        self.counts: dict[tuple[str, str], int] = {}

    def state(self, key: tuple[str, str]) -> _VariantStats:
        """The variant's statistics: cached, else read from its row."""
        variants = self.cache.variants
        found = variants.get(key)
        if found is None:
            found = variants[key] = _load_stats(self.conn, key)
        return found

    def add(self, test: str, variant: str, obs: dict[str, float]) -> None:
        key = (test, variant)
        self.counts[key] = self.counts.get(key, 0) + 1
        group = self.values.get(key)
        if group is None:
            group = self.values[key] = {}
        for metric, x in obs.items():
            xs = group.get(metric)
            if xs is None:
                group[metric] = [x]
            else:
                xs.append(x)
        for num, den in RATIO_PAIRS:
            if num in obs and den in obs:
                self.pairs.setdefault(key, {}).setdefault((num, den), []).append(
                    (obs[num], obs[den])
                )

    def add_one(self, test: str, variant: str, obs: dict[str, float]) -> None:
        """``add`` then ``fold`` of one result, straight onto the variant's statistics (the
        same Welford steps as :func:`welford` and :func:`co_welford`, the same numbers)."""
        if self.values or self.pairs:
            self.fold()
        key = (test, variant)
        self.counts[key] = self.counts.get(key, 0) + 1
        st = self.state(key)
        at = st.at
        for metric, x in obs.items():
            i = at.get(metric)
            if i is None:
                i = st.metric_at(metric)
                at = st.at
            f = st.flat
            n = f[i] + 1.0
            mean = f[i + 1]
            delta = x - mean
            mean += delta / n
            f[i] = n
            f[i + 1] = mean
            f[i + 2] += delta * (x - mean)
        for pair in RATIO_PAIRS:
            num, den = pair
            if num in obs and den in obs:
                x, y = obs[num], obs[den]
                j = st.pair_at.get(pair)
                if j is None:
                    j = st.pair_start(pair)
                f = st.flat
                n = f[j] + 1.0
                mean_x, mean_y = f[j + 1], f[j + 2]
                dx, dy = x - mean_x, y - mean_y
                mean_x += dx / n
                mean_y += dy / n
                f[j] = n
                f[j + 1] = mean_x
                f[j + 2] = mean_y
                f[j + 3] += dx * (x - mean_x)
                f[j + 4] += dy * (y - mean_y)
                f[j + 5] += dx * (y - mean_y)

    def add_rows(self, rows: Sequence[Sequence[Any]]) -> None:
        """``add`` each ``ab_results`` row in order, a column at a time.

        Rows are ``(position, test, variant, metrics, *VALUE_COLUMNS, case_id)`` in position
        order. Per test × variant, each metric's values (``row_observations``) are
        taken from its column in row order, which is the order ``add`` would see
        them in, so the fold is the same; list comprehensions over columns cost a
        fraction of building a dict per row. A group whose custom metrics reuse a
        built-in name (which then interleaves with the column) goes row by row.
        """
        groups: dict[tuple[str, str], list[Sequence[Any]]] = {}
        for row in rows:
            key = (row[1], row[2])
            group = groups.get(key)
            if group is None:
                groups[key] = [row]
            else:
                group.append(row)
        for key, group in groups.items():
            customs = [parse_json(row[3]) for row in group if row[3]]
            if any(BUILT_IN_OBSERVATIONS.intersection(c) for c in customs):
                for row in group:
                    self.add(key[0], key[1], row_observations(row[4:-1], row[3]))
                continue
            self.counts[key] = self.counts.get(key, 0) + len(group)
            _, _, _, _, success, calls, ok_calls, errors, *plain, _ = zip(*group, strict=True)
            both = [
                (c, k)
                for c, k in zip(calls, ok_calls, strict=True)
                if c is not None and k is not None
            ]
            failed_calls = [(float(c - k), float(c)) for c, k in both]
            found: dict[str, list[float]] = {
                "success": [1.0 if v else 0.0 for v in success if v is not None],
                "tool_calls": [float(v) for v in calls if v is not None],
                "failed_calls": [f for f, _ in failed_calls],
                "error_rate": [(c - k) / c for c, k in both if c > 0],
                "tool_success_rate": [k / c for c, k in both if c > 0],
                "errors": [float(v) for v in errors if v is not None],
            }
            for name, column in zip(PLAIN_VALUE_COLUMNS, plain, strict=True):
                found[name] = [float(v) for v in column if v is not None]
            for custom in customs:
                for name, value in custom.items():
                    found.setdefault(name, []).append(float(value))
            values = self.values.get(key)
            if values is None:
                values = self.values[key] = {}
            for name, xs in found.items():
                if xs:
                    have = values.get(name)
                    if have is None:
                        values[name] = xs
                    else:
                        have.extend(xs)
            cost = plain[PLAIN_VALUE_COLUMNS.index("cost")]
            pairs = self.pairs.get(key)
            if pairs is None:
                pairs = self.pairs[key] = {}
            for pair, xys in (
                (("failed_calls", "tool_calls"), failed_calls),
                (
                    ("cost", "success"),
                    [
                        (float(x), 1.0 if y else 0.0)
                        for x, y in zip(cost, success, strict=True)
                        if x is not None and y is not None
                    ],
                ),
            ):
                if xys:
                    have_pairs = pairs.get(pair)
                    if have_pairs is None:
                        pairs[pair] = xys
                    else:
                        have_pairs.extend(xys)

    def fold(self) -> None:
        """Fold the collected values into the running statistics, in position order."""
        for key, group in self.values.items():
            st = self.state(key)
            for metric, xs in group.items():
                i = st.metric_at(metric)
                f = st.flat
                f[i : i + 3] = welford(f[i], f[i + 1], f[i + 2], xs)
        for key, by_pair in self.pairs.items():
            st = self.state(key)
            for pair, xys in by_pair.items():
                j = st.pair_start(pair)
                f = st.flat
                f[j : j + 6] = co_welford(*f[j : j + 6], xys)
        self.values, self.pairs = {}, {}

    def write(self) -> None:
        """Fold what is left and write each changed variant's row once (count and statistics)."""
        self.fold()
        counts, self.counts = self.counts, {}
        variants = self.cache.variants
        rows = []
        for key, n in counts.items():
            st = variants[key]
            rows.append((n, st.keys, ab_cases.packed_floats(st.flat), key[0], key[1]))
        if len(rows) == 1:
            self.cache.cursor.execute(_UPDATE_VARIANT, rows[0])
        else:
            self.conn.executemany(_UPDATE_VARIANT, rows)
        self.cache.trim()


_UPDATE_VARIANT = (
    "UPDATE ab_variants SET results = results + ?, stats_keys = ?, stats = ? "
    "WHERE test = ? AND variant = ?"
)


#: the observation names ``row_observations`` derives from the ``ab_results`` columns
BUILT_IN_OBSERVATIONS = frozenset(
    {
        "success",
        "tool_calls",
        "failed_calls",
        "error_rate",
        "tool_success_rate",
        "errors",
        *VALUE_COLUMNS[4:],
    }
)
#: the value columns that are observations as they are (after success, tool_calls,
#: successful_calls and errors)
PLAIN_VALUE_COLUMNS = VALUE_COLUMNS[4:]
assert RATIO_PAIRS == (("failed_calls", "tool_calls"), ("cost", "success")), (
    "add_rows folds exactly these ratio pairs"
)


def _json_or_null(path: str) -> str:
    """SQL for a JSON container at ``path`` as text, or NULL when absent or empty (as apply() stores it)."""
    return (
        f"CASE WHEN coalesce(json_array_length(data, '{path}'), 0) = 0 "
        f"AND coalesce(json_extract(data, '{path}'), '{{}}') IN ('{{}}', '[]') THEN NULL "
        f"ELSE json_extract(data, '{path}') END"
    )


#: a NUL character as canonical JSON writes it: SQLite's json_extract ends a text there
#: ("a\u0000b" reads "a"), so a log holding one is folded by ``apply``, not extracted in SQL
_NUL_ESCAPE = "\\u0000"

_BULK_RESULTS = (
    f"INSERT INTO ab_results ({', '.join(RESULT_COLUMNS)}) SELECT position, substr(stream_id, 4), "
    "json_extract(data, '$.variant'), json_extract(data, '$.session_id'), json_extract(data, '$.case_id'), "
    "json_extract(data, '$.success'), json_extract(data, '$.tool_calls'), "
    "json_extract(data, '$.successful_calls'), "
    "coalesce(json_extract(data, '$.errors'), nullif(json_array_length(data, '$.error_messages'), 0)), "
    "json_extract(data, '$.completion_time'), json_extract(data, '$.messages'), "
    "json_extract(data, '$.corrections'), json_extract(data, '$.tokens'), json_extract(data, '$.cost'), "
    f"json_extract(data, '$.score'), {_json_or_null('$.metrics')}, {_json_or_null('$.error_messages')}, "
    "json_extract(data, '$.notes'), json_extract(data, '$.start_time'), "
    "json_extract(data, '$.end_time'), recorded_at FROM events WHERE type = ? AND {bound}"
)


def _load_stats(conn: sqlite3.Connection, key: tuple[str, str]) -> _VariantStats:
    """A variant's statistics as its row holds them (none if it has no row)."""
    row = conn.execute(
        "SELECT stats_keys, stats FROM ab_variants WHERE test = ? AND variant = ?", key
    ).fetchone()
    return _VariantStats(*unpack_stats(*row)) if row else _VariantStats()
