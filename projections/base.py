"""The projection protocol and the projector that keeps read models in step with the log.

A projection is a fold of events into ordinary SQLite tables. Its rows and its
checkpoint are written in the same transaction as the events they fold (see
:meth:`Projector.in_transaction`), so a read model is never ahead of or behind
the log it was committed with. Projections are disposable: ``rebuild`` drops
their tables and folds the whole log again, which must give identical tables.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, Protocol

from trialbook.store.base import RecordedEvent

#: one SQL statement and its parameters
Statement = tuple[str, Sequence[Any]]


class Extraction(Protocol):
    """Statements being run: iterating yields each one's changed-row count once it
    committed; ``close()`` stops what is left (see ``projections.pipeline``)."""

    def __iter__(self) -> Iterator[int]: ...

    def close(self) -> None: ...


#: starts running extraction statements, each committed on its own
Extract = Callable[[Sequence[Statement]], Extraction]


def select(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
    """The rows a read-model query returns, as :class:`sqlite3.Row` (by column name), on a
    cursor of its own so the connection's row factory is left as it was."""
    cur = conn.cursor()
    cur.row_factory = sqlite3.Row
    try:
        return cur.execute(sql, params).fetchall()
    finally:
        cur.close()


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` on a connection in autocommit mode, ``ROLLBACK`` on error
    (scratch databases; the live file's transactions belong to its store)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:  # an error such as a full disk may have rolled back already
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


CHECKPOINTS_DDL = (
    "CREATE TABLE IF NOT EXISTS projection_checkpoints "
    "(name TEXT PRIMARY KEY, version INTEGER NOT NULL, position INTEGER NOT NULL) WITHOUT ROWID"
)
_SET_CHECKPOINT = (
    "INSERT INTO projection_checkpoints (name, version, position) VALUES (?, ?, ?) "
    "ON CONFLICT(name) DO UPDATE SET version = excluded.version, position = excluded.position"
)
#: every checkpoint moved to a position: an append's, when every row is the projector's own
#: and at its current version (see ``Projector.in_transaction``)
_MOVE_ALL = "UPDATE projection_checkpoints SET position = ?"


class Projection(Protocol):
    """A read model folded from events into its own tables."""

    #: unique name, also the prefix of its tables
    name: str
    #: bump when tables or fold change; a stored checkpoint of another version triggers a rebuild
    version: int
    #: the event types it folds (others are skipped without decoding)
    handles: frozenset[str]

    def create(self, conn: sqlite3.Connection) -> None:
        """Create its tables and indexes if they do not exist."""

    def drop(self, conn: sqlite3.Connection) -> None:
        """Drop its tables."""

    def apply(self, conn: sqlite3.Connection, events: Sequence[RecordedEvent]) -> None:
        """Fold ``events`` (already filtered to ``handles``, in position order) into its tables."""

    # Optional: ``catch_up(conn, after, until) -> int | None`` folds the events in
    # (after, until] straight from the ``events`` table on ``conn`` (a rebuild or a
    # catch-up), giving exactly the tables ``apply`` would; None means "use apply".
    # A point-in-time replay also passes ``stream_id`` and ``extract`` (an
    # ``Extract``) to a catch_up that accepts them.
    #
    # Optional: ``forget()`` drops whatever the projection cached of its own tables
    # between appends. The projector calls it whenever those tables may have changed
    # behind its back: another connection committed, a transaction rolled back, or
    # a catch-up or rebuild rewrote them.
    #
    # Optional: ``forget_streams(streams)`` drops only what it cached of the given
    # streams' events (``streams``: stream id -> the event types appended to it), when
    # another connection has only folded those events (``Projector.folded_elsewhere``);
    # a projection with ``forget()`` but without it forgets everything then.


class TableProjection:
    """``create`` and ``drop`` for a projection whose read model is the tables of its DDL.

    A subclass sets ``ddl`` (its ``CREATE … IF NOT EXISTS`` statements, run in order)
    and ``tables`` (the tables ``drop`` removes); it still defines the fold itself.
    """

    ddl: ClassVar[Sequence[str]]
    tables: ClassVar[Sequence[str]]

    def create(self, conn: sqlite3.Connection) -> None:
        """Create its tables and indexes if they do not exist."""
        for statement in self.ddl:
            conn.execute(statement)

    def drop(self, conn: sqlite3.Connection) -> None:
        """Drop its tables."""
        for table in self.tables:
            conn.execute(f"DROP TABLE IF EXISTS {table}")


class Projector:
    """Keeps a set of projections up to date with one event log."""

    def __init__(self, projections: Iterable[Projection]) -> None:
        self.projections = list(projections)
        #: every projection's checkpoint set in one statement (an append runs it once)
        self._set_all = (
            "INSERT INTO projection_checkpoints (name, version, position) VALUES "
            + ", ".join(["(?, ?, ?)"] * len(self.projections))
            + " ON CONFLICT(name) DO UPDATE SET version = excluded.version, "
            "position = excluded.position"
        )
        #: the position every projection's checkpoint is at (with its current version) as
        #: this projector wrote them last, and the store generation that belongs to (see
        #: ``in_transaction``); None: read them from the table
        self._at: int | None = None
        self._generation: int | None = None
        #: the names of this projector's checkpoints, and whether the table held no other
        #: rows when it was last read (valid with ``_at``: in one generation only this
        #: projector writes the table, and only its own rows)
        self._names = frozenset(p.name for p in self.projections)
        self._only_ours = False
        #: the cursor the checkpoints are set through, on the connection it was made on
        #: (``conn.execute`` makes a cursor each time: about half a small statement's cost)
        self._cursor: sqlite3.Cursor | None = None
        #: event type -> the projections that fold it, in order
        self._folding: dict[str, tuple[Projection, ...]] = {}

    # -------------------------------------------------------------- inside an append

    def in_transaction(
        self,
        conn: sqlite3.Connection,
        recorded: Sequence[RecordedEvent],
        *,
        generation: int | None = None,
    ) -> None:
        """Fold freshly appended events; called by the store inside the append transaction.

        ``generation`` is the store's cache generation (``SQLiteEventStore.generation``):
        while it stays the same, nothing but this projector wrote the read models,
        so the checkpoints it wrote last time and what projections cached are
        still true and need not be read back. None reads everything afresh.
        """
        if not recorded:
            return
        first, last = recorded[0].position, recorded[-1].position
        known = self._at if generation is not None and generation == self._generation else None
        if known is not None and known == first - 1 and len(recorded) == 1:
            # one event right after the checkpoints this projector wrote (a single append):
            # every projection is current; the ones folding its type fold it
            kind = recorded[0].type
            folding = self._folding.get(kind)
            if folding is None:
                folding = self._folding[kind] = tuple(
                    p for p in self.projections if kind in p.handles
                )
            for p in folding:
                p.apply(conn, recorded)
        else:
            if known is not None:
                checkpoints = {p.name: (p.version, known) for p in self.projections}
            else:
                self.forget()
                checkpoints = self._checkpoints(conn)
                self._only_ours = self._names.issuperset(checkpoints)
            # the batch's event types once (an import's batch: one type), not once a projection
            types = frozenset(
                [recorded[0].type] if len(recorded) == 1 else [e.type for e in recorded]
            )
            for p in self.projections:
                at = checkpoints.get(p.name)
                if at is None or at[0] != p.version or at[1] != first - 1:
                    # behind (another tool wrote to the log) or never built: catch up first
                    self._catch_up(conn, p, at, until=first - 1)
                if types <= p.handles:
                    p.apply(conn, recorded)
                elif not types.isdisjoint(p.handles):
                    self._fold(conn, p, recorded)
        if self.projections:
            cur = self._cursor
            if cur is None or cur.connection is not conn:
                cur = self._cursor = conn.cursor()
            if known is not None and self._only_ours:
                # every row is one of ours, written by this projector in this generation
                # with its current version (a catch-up above writes only ours, at that
                # version): moving them all is the upsert below, at ~60 % of its cost
                cur.execute(_MOVE_ALL, (last,))
            else:
                params: list[Any] = []
                for p in self.projections:
                    params += (p.name, p.version, last)
                cur.execute(self._set_all, params)
        if generation is not None:
            self._at = last
            self._generation = generation

    def folded_elsewhere(
        self,
        conn: sqlite3.Connection,
        streams: dict[str, set[str]],
        head: int,
        *,
        generation: int,
    ) -> bool:
        """After another connection appended events up to ``head`` (to ``streams``) and folded
        them: keep the caches of what they did not touch, if every checkpoint says so.

        True if this projector's checkpoints and caches (of ``generation``) are now
        true as of ``head``: every projection's checkpoint is at ``head`` with its
        current version, so the other connection folded the new events with this
        code (a fold from any path stores the same rows). False (nothing kept) if
        it cannot tell: the caller then forgets everything.
        """
        if self._at is None or generation != self._generation:
            return False
        checkpoints = self._checkpoints(conn)
        if any(checkpoints.get(p.name) != (p.version, head) for p in self.projections):
            return False
        self._only_ours = self._names.issuperset(checkpoints)
        for p in self.projections:
            forget_streams = getattr(p, "forget_streams", None)
            if forget_streams is not None:
                forget_streams(streams)
            else:
                _forget(p)
        self._at = head
        return True

    def forget(self) -> None:
        """Drop the checkpoints and projection caches kept between appends."""
        self._at = self._generation = None
        self._only_ours = False
        for p in self.projections:
            _forget(p)

    # -------------------------------------------------------------- opening and rebuilding

    def ensure(self, conn: sqlite3.Connection, head: int) -> None:
        """Bring every projection up to ``head`` (call inside a write transaction)."""
        conn.execute(CHECKPOINTS_DDL)
        self.forget()
        checkpoints = self._checkpoints(conn)
        for p in self.projections:
            at = checkpoints.get(p.name)
            if at is None or at[0] != p.version or at[1] != head:
                self._catch_up(conn, p, at, until=head)

    def is_current(self, conn: sqlite3.Connection, head: int) -> bool:
        """True if every projection's checkpoint is at ``head`` with its current version."""
        try:
            checkpoints = self._checkpoints(conn)
        except sqlite3.OperationalError:
            return False
        return all(checkpoints.get(p.name) == (p.version, head) for p in self.projections)

    def rebuild(
        self, conn: sqlite3.Connection, names: Iterable[str] | None = None
    ) -> dict[str, int]:
        """Drop and rebuild projections from the whole log (inside a write transaction).

        Returns the number of events each projection folded.
        """
        conn.execute(CHECKPOINTS_DDL)
        self.forget()
        wanted = set(names) if names is not None else None
        counts = {}
        for p in self.projections:
            if wanted is not None and p.name not in wanted:
                continue
            counts[p.name] = self._catch_up(conn, p, None, until=None)
        return counts

    def replay(
        self, conn: sqlite3.Connection, events: Iterable[RecordedEvent], batch: int = 10_000
    ) -> None:
        """Fold ``events`` into fresh tables on ``conn`` (for point-in-time reads on a scratch database)."""
        conn.execute(CHECKPOINTS_DDL)
        self.forget()
        for p in self.projections:
            p.drop(conn)
            p.create(conn)
        chunk: list[RecordedEvent] = []
        for e in events:
            chunk.append(e)
            if len(chunk) >= batch:
                for p in self.projections:
                    self._fold(conn, p, chunk)
                chunk = []
        for p in self.projections:
            if chunk:
                self._fold(conn, p, chunk)

    # -------------------------------------------------------------- internals

    @staticmethod
    def _checkpoints(conn: sqlite3.Connection) -> dict[str, tuple[int, int]]:
        return {
            r[0]: (r[1], r[2])
            for r in conn.execute("SELECT name, version, position FROM projection_checkpoints")
        }

    @staticmethod
    def _set_checkpoint(conn: sqlite3.Connection, p: Projection, position: int) -> None:
        conn.execute(_SET_CHECKPOINT, (p.name, p.version, position))

    @staticmethod
    def _fold(conn: sqlite3.Connection, p: Projection, events: Sequence[RecordedEvent]) -> None:
        handles = p.handles
        if len(events) == 1:  # a single append
            if events[0].type in handles:
                p.apply(conn, events)
            return
        mine = [e for e in events if e.type in handles]
        if mine:
            p.apply(conn, mine)

    def _catch_up(
        self,
        conn: sqlite3.Connection,
        p: Projection,
        at: tuple[int, int] | None,
        until: int | None,
        batch: int = 10_000,
    ) -> int:
        self._at = None
        _forget(p)
        if at is None or at[0] != p.version:
            p.drop(conn)
            p.create(conn)
            start = 0
        else:
            start = at[1]
        bulk = getattr(p, "catch_up", None)
        if bulk is not None:
            # a projection may fold a range straight from the events table in bulk;
            # it must give the same tables as apply() (property-tested), or return None
            folded = bulk(conn, start, until)
            if folded is not None:
                self._set_checkpoint(conn, p, self._head(conn) if until is None else until)
                return int(folded)
        folded = fold_range(conn, p, start, until, batch=batch)
        self._set_checkpoint(conn, p, self._head(conn) if until is None else until)
        return folded

    @staticmethod
    def _head(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()[0])


def _forget(p: Projection) -> None:
    """Call the projection's optional ``forget()`` (see the Projection protocol)."""
    forget = getattr(p, "forget", None)
    if forget is not None:
        forget()


def fold_range(
    conn: sqlite3.Connection,
    p: Projection,
    after: int,
    until: int | None,
    *,
    stream_id: str | None = None,
    source: str = "events",
    batch: int = 10_000,
) -> int:
    """Fold the events in (after, until] of ``source`` through ``p.apply``, batch by batch.

    Folds read bodies, not hashes, so the chain columns are left out of the read.
    Returns how many events were folded.
    """
    types = sorted(p.handles)
    where = f"position > ? AND type IN ({','.join('?' * len(types))})"
    params: list[object] = [after, *types]
    if until is not None:
        where += " AND position <= ?"
        params.append(until)
    if stream_id is not None:
        where += " AND stream_id = ?"
        params.append(stream_id)
    cur = conn.cursor()
    cur.execute(
        "SELECT position, event_id, stream_id, version, type, schema_version, data, metadata, "
        f"recorded_at, '', '' FROM {source} WHERE {where} ORDER BY position",
        params,
    )
    folded = 0
    while rows := cur.fetchmany(batch):
        p.apply(conn, [RecordedEvent(*r) for r in rows])
        folded += len(rows)
    cur.close()
    return folded
