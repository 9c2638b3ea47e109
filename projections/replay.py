"""Point-in-time reads: the read models exactly as they were right after a log position.

:func:`replay_to` folds the events up to a position into a private, temporary
SQLite database (``sqlite3.connect("")``: deleted when closed) and never
touches the live read models. The :class:`PointInTime` it returns is shaped
like a ledger for read-side code: ``.conn`` holds the replayed read-model
tables and ``.store`` is the log cut at that position (``get``, ``head``,
``read_all``, ``position_at`` never see a later event), so a function that
reads ``ledger.conn`` and ``ledger.store`` answers "as of" without change.

"As of T" is the largest position recorded at or before T (the log's
``recorded_at`` never goes backwards); :func:`resolve_position` turns a
position or a time into that position and checks it.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import threading
import urllib.parse
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from trialbook.domain.canonical import GENESIS_HASH
from trialbook.domain.errors import InvalidCommand
from trialbook.projections.base import (
    Projection,
    Projector,
    Statement,
    fold_range,
    write_transaction,
)
from trialbook.projections.pipeline import Background
from trialbook.store.base import RecordedEvent
from trialbook.store.errors import StoreUnavailable
from trialbook.store.sqlite import SQLiteEventStore, read_transaction

BATCH = 10_000


def resolve_position(
    store: SQLiteEventStore, *, at: int | None = None, as_of: str | None = None
) -> int:
    """The log position of ``at`` (a position) or ``as_of`` (UTC time text as the log stores it).

    Raises ``InvalidCommand`` for a position beyond the log or a time before
    its first event; with neither given, the head.
    """
    head = store.head()[0]
    if at is not None and as_of is not None:
        raise InvalidCommand("give a position or a time, not both")
    if at is not None:
        if at < 0 or at > head:
            raise InvalidCommand(
                f"position {at} is not in the log; it has positions 1-{head}"
                if head
                else f"position {at} is not in the log; the log is empty"
            )
        return at
    if as_of is not None:
        position = store.position_at(as_of)
        if position == 0:
            first = store.get(1)
            raise InvalidCommand(
                f"nothing was recorded at or before {as_of}; the log starts at {first.recorded_at}"
                if first is not None
                else f"nothing was recorded at or before {as_of}; the log is empty"
            )
        return position
    return head


class BoundedLog:
    """The event log as it was right after ``position``: later events are invisible.

    ``conn`` is the point-in-time database (read-side helpers open their read
    transactions on it); the events themselves are read from the live store.
    """

    def __init__(self, store: SQLiteEventStore, position: int, conn: sqlite3.Connection) -> None:
        self.live = store
        self.position = position
        self.conn = conn
        self.lock = threading.RLock()
        self.path = store.path

    def get(self, key: int | str) -> RecordedEvent | None:
        event = self.live.get(key)
        return event if event is not None and event.position <= self.position else None

    def head(self) -> tuple[int, str]:
        if self.position == 0:
            return 0, GENESIS_HASH
        event = self.live.get(self.position)
        return (self.position, event.hash) if event is not None else (0, GENESIS_HASH)

    def read_all(
        self,
        after_position: int = 0,
        *,
        until_position: int | None = None,
        stream_id: str | None = None,
        types: Sequence[str] | None = None,
        batch_size: int = BATCH,
    ) -> Iterator[RecordedEvent]:
        until = self.position if until_position is None else min(until_position, self.position)
        return self.live.read_all(
            after_position,
            until_position=until,
            stream_id=stream_id,
            types=types,
            batch_size=batch_size,
        )

    def read_stream(self, stream_id: str, after_version: int = 0) -> Iterator[RecordedEvent]:
        for e in self.live.read_stream(stream_id, after_version):
            if e.position > self.position:
                return
            yield e

    def position_at(self, timestamp: str) -> int:
        return min(self.live.position_at(timestamp), self.position)

    def read_transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return read_transaction(self.conn, self.lock)


class PointInTime:
    """Read models replayed up to ``position`` in a private database; close it when done."""

    def __init__(
        self, store: SQLiteEventStore, position: int, scratch: Scratch, folded: int
    ) -> None:
        self.position = position
        self.conn = scratch.conn
        self._scratch = scratch
        self.store = BoundedLog(store, position, self.conn)
        #: how many events the replay folded
        self.folded = folded
        event = store.get(position) if position else None
        #: when the event at ``position`` was recorded (None for position 0)
        self.recorded_at = event.recorded_at if event is not None else None

    def close(self) -> None:
        self._scratch.close()

    def __enter__(self) -> PointInTime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Scratch:
    """A private database file in a new temporary directory, removed on close.

    A file rather than SQLite's anonymous temporary database because a bulk
    replay writes it from a second connection (see ``projections.pipeline``):
    in WAL mode this connection reads the chunks that one commits. Nothing in it
    has to survive a crash, so it is never synced. A scratch its owner forgets
    to close is removed when it is collected or at exit.
    """

    def __init__(self) -> None:
        try:
            self.directory = tempfile.mkdtemp(prefix="trialbook-replay-")
        except OSError as e:
            raise StoreUnavailable(
                f"cannot create a scratch database for the replay in {tempfile.gettempdir()} "
                f"({e.strerror or e}); set TMPDIR to a writable directory"
            ) from None
        self.path = os.path.join(self.directory, "replay.db")
        #: what both connections open; URIs on, so ATTACH reads the live file with ?mode=ro
        #: even where SQLite was built without SQLITE_USE_URI
        self.uri = Path(self.path).as_uri()
        self.conn = sqlite3.connect(
            self.uri, isolation_level=None, check_same_thread=False, uri=True
        )
        self._finalizer = weakref.finalize(self, _remove, self.conn, self.directory)
        self.conn.execute("PRAGMA journal_mode = WAL")
        for pragma in SCRATCH_PRAGMAS:
            self.conn.execute(pragma)

    def close(self) -> None:
        self._finalizer()


#: settings of every connection to a scratch file
SCRATCH_PRAGMAS = ("PRAGMA synchronous = OFF", "PRAGMA cache_size = -65536")


def _remove(conn: sqlite3.Connection, directory: str) -> None:
    conn.close()
    shutil.rmtree(directory, ignore_errors=True)


def _events(
    store: SQLiteEventStore, position: int, types: Iterable[str], stream_id: str | None
) -> Iterator[RecordedEvent]:
    """Events up to ``position`` of the given types (hash columns left out: folds never read them)."""
    kinds = sorted(types)
    where = f"position <= ? AND type IN ({','.join('?' * len(kinds))})"
    params: list[Any] = [position, *kinds]
    if stream_id is not None:
        where += " AND stream_id = ?"
        params.append(stream_id)
    cur = store.conn.cursor()
    try:
        cur.execute(
            "SELECT position, event_id, stream_id, version, type, schema_version, data, metadata, "
            f"recorded_at, '', '' FROM events WHERE {where} ORDER BY position",
            params,
        )
        while rows := cur.fetchmany(BATCH):
            yield from (RecordedEvent(*r) for r in rows)
    finally:
        cur.close()


def _bulk_replay(
    scratch: Scratch,
    store: SQLiteEventStore,
    projections: Sequence[Projection],
    position: int,
    stream_id: str | None,
) -> int | None:
    """Fold 1..``position`` into the private tables, reading the live file attached read-only.

    Projections with a bulk ``catch_up`` use it, with their extraction running
    on a second connection in the background (:class:`Background`) while this
    one folds; the others fold event by event. The live file is attached
    read-only *after* the private tables exist, so the unqualified names of a
    fold resolve to the private tables, ``events`` to the live log, and nothing
    can write to the live file. Returns the number of events folded, or None
    (the private tables dropped) when a bulk path declines this log; the caller
    then replays event by event.
    """
    conn = scratch.conn
    with write_transaction(conn):
        for p in projections:
            p.drop(conn)
            p.create(conn)
    uri = "file:" + urllib.parse.quote(os.path.abspath(store.path)) + "?mode=ro"
    attach = ("ATTACH DATABASE ? AS live", (uri,))
    setup = [(pragma, ()) for pragma in SCRATCH_PRAGMAS] + [attach]
    conn.execute(*attach)

    def extract(statements: Sequence[Statement]) -> Background:
        return Background(scratch.uri, statements, setup=setup)

    folded = 0
    try:
        for p in projections:
            bulk = getattr(p, "catch_up", None)
            if bulk is not None:  # it commits what it writes (see ABProjection.catch_up)
                n = bulk(conn, 0, position, stream_id, extract=extract)
                if n is None:
                    for q in projections:  # only the private tables exist on this connection
                        q.drop(conn)
                    return None
            else:
                with write_transaction(conn):
                    n = _fold_each(conn, p, position, stream_id)
            folded += int(n)
    finally:
        conn.execute("DETACH DATABASE live")
    return folded


def _fold_each(
    conn: sqlite3.Connection, p: Projection, position: int, stream_id: str | None
) -> int:
    return fold_range(conn, p, 0, position, stream_id=stream_id, source="live.events", batch=BATCH)


def replay_to(
    store: SQLiteEventStore,
    projections: Sequence[Projection],
    position: int,
    *,
    stream_id: str | None = None,
) -> PointInTime:
    """Fold events 1..``position`` into fresh read-model tables in a private database.

    ``projections`` are the read models to build (their tables are created in
    the private database only). ``stream_id`` folds only that stream's events:
    exact for read models keyed by stream, such as one A/B test's tables.
    Only positions up to ``position`` are read, and the log is append-only, so
    what is read does not depend on when it is read.
    """
    scratch = Scratch()
    try:
        if store.path != ":memory:":
            bulk = _bulk_replay(scratch, store, projections, position, stream_id)
            if bulk is not None:
                return PointInTime(store, position, scratch, bulk)
        conn = scratch.conn
        projector = Projector(projections)
        types = set().union(*(p.handles for p in projections)) if projections else set()
        folded = 0

        def counted(events: Iterable[RecordedEvent]) -> Iterator[RecordedEvent]:
            nonlocal folded
            for e in events:
                folded += 1
                yield e

        with write_transaction(conn), store.read_transaction():
            projector.replay(conn, counted(_events(store, position, types, stream_id)))
    except BaseException:
        scratch.close()
        raise
    return PointInTime(store, position, scratch, folded)
