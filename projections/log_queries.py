"""Queries on the event log's own table, for readers that want the log rather than a read model.

The read models answer most questions (``ab_queries``, ``eval_queries``); these
read the ``events`` table on a SQLite connection for what only the log can say:
the events matching ``events log`` filters, the envelopes ``events export``
writes, whether an event type was ever recorded, and the names of suites, runs
and scorers, which the shell must know whether or not an eval read model exists.
Stream-prefix queries go through the ``(stream_id, version)`` index.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

#: event streams whose ids name suites and eval runs (``suite:NAME``, ``eval-run:ID``)
SUITE_PREFIX = "suite:"
RUN_PREFIX = "eval-run:"
#: the columns of an envelope, in the order ``store.verify.export_line`` reads them
ENVELOPE_COLUMNS = (
    "position, event_id, stream_id, version, type, schema_version, data, "
    "metadata, recorded_at, prev_hash, hash"
)


def _stream_range(prefix: str) -> tuple[str, str]:
    """``(low, high)`` bounds selecting stream ids that start with ``prefix`` through the index."""
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


def stream_names(conn: sqlite3.Connection, prefix: str) -> set[str]:
    """The ids of the streams that start with ``prefix``, without it (``suite:smoke`` → ``smoke``)."""
    low, high = _stream_range(prefix)
    return {
        r[0][len(prefix) :]
        for r in conn.execute(
            "SELECT stream_id FROM events WHERE stream_id >= ? AND stream_id < ? AND version = 1",
            (low, high),
        )
    }


def run_names(conn: sqlite3.Connection) -> set[str]:
    """Every eval run's id, and the name its ``RunStarted`` gave it."""
    low, high = _stream_range(RUN_PREFIX)
    runs: set[str] = set()
    for stream_id, name in conn.execute(
        "SELECT stream_id, CASE WHEN type = 'RunStarted' THEN json_extract(data, '$.name') END "
        "FROM events WHERE stream_id >= ? AND stream_id < ? AND version = 1",
        (low, high),
    ):
        runs.add(stream_id[len(RUN_PREFIX) :])
        if isinstance(name, str) and name:
            runs.add(name)
    return runs


def verdict_scorers(conn: sqlite3.Connection) -> set[str]:
    """Every scorer named in a recorded verdict of an eval run."""
    low, high = _stream_range(RUN_PREFIX)
    return {
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT json_extract(data, '$.scorer') FROM events "
            "WHERE stream_id >= ? AND stream_id < ? AND type = 'VerdictRecorded'",
            (low, high),
        )
        if isinstance(r[0], str) and r[0]
    }


def has_event_type(conn: sqlite3.Connection, name: str) -> bool:
    """Whether any event of type ``name`` was recorded."""
    return conn.execute("SELECT 1 FROM events WHERE type = ?", (name,)).fetchone() is not None


def matching_positions(
    conn: sqlite3.Connection,
    *,
    stream: str | None = None,
    type_: str | None = None,
    since: str | None = None,
    until: str | None = None,
    actor: str | None = None,
    before: int | None = None,
    limit: int = 0,
) -> list[int]:
    """The positions of the last ``limit`` events (all when 0) matching every filter given,
    in position order. ``since``/``until`` bound the recorded UTC time, both included;
    ``actor`` is the metadata's actor; ``before`` a position (excluded), for paging back."""
    where, params = _filters(stream, type_, since, until, actor, before)
    sql = f"SELECT position FROM events {_where(where)} ORDER BY position DESC"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return sorted(r[0] for r in conn.execute(sql, params))


def matching_events(
    conn: sqlite3.Connection,
    *,
    stream: str | None = None,
    type_: str | None = None,
    since: str | None = None,
    until: str | None = None,
    actor: str | None = None,
    limit: int = 0,
    size: int = 1_000,
) -> Iterator[Any]:
    """The events :func:`matching_positions` names, as ``RecordedEvent`` in position order,
    read ``size`` rows at a time (memory stays flat however many match)."""
    from trialbook.store.base import RecordedEvent

    where, params = _filters(stream, type_, since, until, actor, None)
    if limit:
        bound = conn.execute(
            f"SELECT position FROM events {_where(where)} ORDER BY position DESC "
            f"LIMIT 1 OFFSET {int(limit) - 1}",
            params,
        ).fetchone()
        if bound is not None:
            where, params = [*where, "position >= ?"], [*params, bound[0]]
    cur = conn.cursor()
    try:
        cur.execute(
            f"SELECT {ENVELOPE_COLUMNS} FROM events {_where(where)} ORDER BY position", params
        )
        while rows := cur.fetchmany(size):
            yield from (RecordedEvent(*r) for r in rows)
    finally:
        cur.close()


def _filters(
    stream: str | None,
    type_: str | None,
    since: str | None,
    until: str | None,
    actor: str | None,
    before: int | None,
) -> tuple[list[str], list[Any]]:
    where, params = [], []
    for clause, value in (
        ("stream_id = ?", stream),
        ("type = ?", type_),
        ("recorded_at >= ?", since),
        ("recorded_at <= ?", until),
        ("json_extract(metadata, '$.actor') = ?", actor),
        ("position < ?", before),
    ):
        if value is not None:
            where.append(clause)
            params.append(value)
    return where, params


def _where(where: list[str]) -> str:
    return f"WHERE {' AND '.join(where)}" if where else ""


def envelope_batches(
    conn: sqlite3.Connection, *, after: int = 0, stream: str | None = None, size: int = 10_000
) -> Iterator[list[tuple[Any, ...]]]:
    """The envelopes after position ``after`` (of one ``stream`` when given), in position
    order, as rows of :data:`ENVELOPE_COLUMNS`, ``size`` rows at a time."""
    where = "position > ?" + (" AND stream_id = ?" if stream else "")
    params: list[Any] = [after, stream] if stream else [after]
    cur = conn.cursor()
    try:
        cur.execute(
            f"SELECT {ENVELOPE_COLUMNS} FROM events WHERE {where} ORDER BY position", params
        )
        while rows := cur.fetchmany(size):
            yield rows
    finally:
        cur.close()
