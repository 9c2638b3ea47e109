"""A PostgreSQL log with a local SQLite replica: what the ledger opens for a ``postgresql://`` URL.

PostgreSQL holds the authoritative log (``store.postgres``). Each client keeps
a replica of it in a SQLite cache file (``store.urls.replica_path``): the same
``events`` rows plus every read model, snapshot and blob it has seen, so
projections, replays, audits and the shell run their SQLite SQL unchanged.

- **Catching up.** Before answering a read the replica pulls the events
  committed after its own head (one query when there are none) and folds them
  into its read models, so a read reflects every event committed before it
  began, on any machine.
- **Writing.** A write transaction takes PostgreSQL's append lock first (all
  writers of the log queue there), then the replica's ``BEGIN IMMEDIATE``,
  pulls the replica up to the log's head, and only then lets the caller
  decide: the ledger decides on current state. Appended rows go into both;
  PostgreSQL commits first, then the replica. A crash (or a full cache disk)
  between the two leaves the replica behind, never ahead: it catches up on
  its next read. A process reads its own writes at once.
- **Disposable.** The replica is a cache. On open it is checked against the
  log (its last event must be the log's event at that position, hash for
  hash); one that is not (the database was dropped and made again) is thrown
  away and rebuilt.

Lock order, everywhere: the PostgreSQL append lock, then the replica's write
lock. Catching up for a read takes only the replica's lock (reading
PostgreSQL needs no lock: positions are gap-free in commit order), so the
two never wait on each other in a cycle.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trialbook.domain.canonical import GENESIS_HASH
from trialbook.store.base import InTransaction, NewEvent, RecordedEvent
from trialbook.store.errors import ConcurrencyError, StoreError, StoreUnavailable
from trialbook.store.postgres import PostgresEventStore
from trialbook.store.rows import prepare, records
from trialbook.store.sqlite import COLUMNS, SQLiteEventStore, _Transaction
from trialbook.store.urls import replica_path

if TYPE_CHECKING:
    from trialbook.projections.base import Projector
    from trialbook.store.verify import Report

#: events pulled per query
PULL_BATCH = 5_000
#: a pull longer than this folds the read models in bulk (``Projector.ensure``) rather than incrementally
BULK_PULL = 20_000
#: how often, and how long apart, the replica's write lock is tried before SQLite's busy handler
QUICK_TRIES = 50
QUICK_WAIT = 0.0002
#: after a handed-over append is refused (another writer moved its stream), this many
#: command transactions decide holding the lock: writers of one hot stream would refuse
#: each other's batches again
LOCKED_AFTER_REFUSAL = 16
#: up to this many events appended to the replica by other connections (writers on this
#: machine) since this one's last transaction, it keeps its caches of the streams they did
#: not touch (``_changed_elsewhere``); more, and it forgets everything
KEEP_CACHES_UP_TO = 256
_INSERT = f"INSERT INTO events ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


class ReplicatedEventStore(SQLiteEventStore):
    """The PostgreSQL log at ``url``, read through (and written with) a local SQLite replica.

    ``projector`` is the ledger's: pulled events are folded through it, so its
    caches stay true. ``cache`` overrides the replica's file.
    """

    _head: tuple[int, str, str] | None

    def __init__(
        self,
        url: str,
        *,
        projector: Projector | None = None,
        cache: str | os.PathLike[str] | None = None,
        connect_timeout: int = 10,
    ) -> None:
        # the server first: a wrong URL fails before any cache file is made
        self.remote = PostgresEventStore(url, connect_timeout=connect_timeout)
        self.url = url
        self.projector = projector
        self._remote_tx: Any = None
        self._checkpoints_ready = False
        #: inside a command transaction that hands its append over (``command_transaction``)
        self._combining = False
        self._appended = False
        #: how many command transactions decide holding the lock (a handed-over one was refused)
        self._locked_next = 0
        #: stream -> its version after this store's last handed-over append to it (the stream
        #: has not moved since, unless its version in the replica differs: ``stream_version``)
        self._own_versions: dict[str, int] = {}
        where = Path(cache) if cache is not None else replica_path(url)
        try:
            where.parent.mkdir(parents=True, exist_ok=True)
            self._open_replica(where)
            if not self._matches_log():
                self._reset_replica(where)
        except OSError as e:
            self.remote.close()
            raise StoreUnavailable(
                f"cannot create the local cache of {self.remote.name} at {where}: {e.strerror}"
            ) from None
        except BaseException:
            self.remote.close()
            raise

    def _open_replica(self, where: Path) -> None:
        # a cache: the log's durability is PostgreSQL's, so the replica need not fsync each commit
        SQLiteEventStore.__init__(self, where, synchronous="NORMAL")

    def _matches_log(self) -> bool:
        """True if the replica's last event is the log's event at that position."""
        row = self.conn.execute(
            "SELECT position, hash FROM events ORDER BY position DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return True
        theirs = self.remote.get(int(row[0]))
        return theirs is not None and theirs.hash == row[1]

    def _reset_replica(self, where: Path) -> None:
        """Throw the cache away and start an empty one (the log was replaced)."""
        self.conn.close()
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                Path(str(where) + suffix).unlink()
        self._open_replica(where)
        self._checkpoints_ready = False

    @property
    def name(self) -> str:
        """The log's URL without its password (what messages name)."""
        return self.remote.name

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.remote.close()

    def verify(self) -> Report:
        """Verify the log on the server (the replica is only a cache)."""
        return self.remote.verify()

    def _changed_elsewhere(self) -> None:
        """Another connection committed to the replica since this one's last transaction.

        Writers on this machine share the replica: between two appends of one, the
        others usually appended and folded their own events, each on its own stream.
        If that is all that happened (the replica continues this connection's last
        head, and every projection's checkpoint is at the new head with its current
        version: ``Projector.folded_elsewhere``), only the caches of those streams are
        stale, and the rest (other tests' statistics and layouts, the checkpoints, the
        head) are kept: an append does not read them back. Anything else forgets all.
        """
        head, projector = self._head, self.projector
        if head is None or head[0] == 0 or projector is None:
            self.forget()
            return
        rows = self.conn.execute(
            "SELECT position, hash, recorded_at, stream_id, type FROM events "
            "WHERE position >= ? ORDER BY position LIMIT ?",
            (head[0], KEEP_CACHES_UP_TO + 2),
        ).fetchall()
        if not 2 <= len(rows) <= KEEP_CACHES_UP_TO + 1 or tuple(rows[0][:2]) != head[:2]:
            self.forget()
            return
        streams: dict[str, set[str]] = {}
        for row in rows[1:]:
            streams.setdefault(row[3], set()).add(row[4])
        last = rows[-1]
        if not projector.folded_elsewhere(
            self.conn, streams, int(last[0]), generation=self.generation
        ):
            self.forget()
            return
        self._head = (int(last[0]), last[1], last[2])
        for stream_id in streams:
            self._versions.pop(stream_id, None)

    # ------------------------------------------------------------------ catching up

    def refresh(self) -> None:
        """Pull and fold the events committed after the replica's head (nothing inside a transaction)."""
        with self.lock:
            if self._depth or self.conn.in_transaction:
                return  # a write transaction caught up when it began; a read one keeps its snapshot
            until = self.remote.head()[0]
            row = self.conn.execute("SELECT max(position) FROM events").fetchone()
            if (row[0] or 0) >= until:
                return  # (ahead: a writer on this machine committed since we asked)
            with _Transaction(self):
                # asked again under the replica's lock: a writer here commits the log before the
                # replica and holds this lock while it does, so the log is never behind it now
                self._pull(self.remote.head()[0])

    def _pull(self, until: int, prefetched: Sequence[tuple[Any, ...]] | None = None) -> int:
        """Copy the log's events up to ``until`` into the replica and fold them (in a write transaction).

        ``prefetched`` are rows the write transaction fetched with the head (from
        a position at or before the replica's head).
        """
        head: tuple[int, str, str] | None = self._head
        if head is None:
            head = self.conn.execute(
                "SELECT position, hash, recorded_at FROM events ORDER BY position DESC LIMIT 1"
            ).fetchone() or (0, GENESIS_HASH, "")
            self._head = head
        if head[0] >= until:
            if head[0] > until:
                raise StoreError(
                    f"the local cache {self.path} is ahead of the log at {self.name} (position "
                    f"{head[0]}, the log ends at {until}): the database was restored or replaced; "
                    "open it again to rebuild the cache"
                )
            return 0
        projector = self.projector
        bulk = until - head[0] > BULK_PULL
        if projector is not None and not self._checkpoints_ready:
            from trialbook.projections.base import CHECKPOINTS_DDL

            self.conn.execute(CHECKPOINTS_DDL)
            self._checkpoints_ready = True
        pulled = 0
        for rows in self._batches(head[0], until, prefetched):
            if pulled == 0 and rows[0][9] != head[1]:
                raise StoreError(
                    f"the local cache {self.path} does not continue the log at {self.name} "
                    f"(position {rows[0][0]} does not link to it): the database was replaced; "
                    "open it again to rebuild the cache"
                )
            self.conn.executemany(_INSERT, rows)
            last = rows[-1]
            self._head = (last[0], last[10], last[8])
            self._versions.clear()
            pulled += len(rows)
            if projector is not None and not bulk:
                projector.in_transaction(
                    self.conn, [RecordedEvent(*r) for r in rows], generation=self.generation
                )
        if projector is not None and bulk:
            projector.ensure(self.conn, until)
        return pulled

    def _batches(
        self, after: int, until: int, prefetched: Sequence[tuple[Any, ...]] | None
    ) -> Iterator[Sequence[tuple[Any, ...]]]:
        """The log's rows in (after, until], the prefetched ones first."""
        if prefetched:
            rows = [r for r in prefetched if after < r[0] <= until]
            if rows:
                yield rows
                after = rows[-1][0]
        if after < until:
            yield from self.remote.raw_batches(after, until, batch_size=PULL_BATCH)

    # ------------------------------------------------------------------ writing

    def _begin_immediate(self) -> None:
        """``BEGIN IMMEDIATE``, first retried every 0.2 ms for a few ms, then with the busy timeout.

        A writer here holds the log's append lock when it starts the replica's
        transaction, and the writer before it (same machine) is usually still
        committing the replica, for well under a millisecond; SQLite's own busy
        handler would sleep 1 ms, then 2, 5 … with the append lock held.
        """
        conn = self.conn
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            for _ in range(QUICK_TRIES):
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as e:
                    if "locked" not in str(e) and "busy" not in str(e):
                        raise
                time.sleep(QUICK_WAIT)
        finally:
            conn.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")
        conn.execute("BEGIN IMMEDIATE")

    def transaction(self) -> _ReplicaTransaction:  # type: ignore[override]
        """The append lock on PostgreSQL, then ``BEGIN IMMEDIATE`` on the replica, caught up."""
        return _ReplicaTransaction(self)

    def command_transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """A transaction for one decision on one stream and its one append (``Ledger.execute``).

        Outside any other transaction, and if the role may hand batches over, it
        decides on the replica caught up to the log, without the append lock, and
        its append is handed to the lock's holder (``PostgresEventStore.combine``):
        several writers' appends then share one commit. The stream's version is
        checked under the lock; if it moved the append raises ``ConcurrencyError``
        and the next ``LOCKED_AFTER_REFUSAL`` command transactions decide holding the lock, as
        ``transaction()`` does. Inside another transaction it joins that one.
        """
        with self.lock:
            if self._depth or not self.remote.combining:
                return self.transaction()
            if self._locked_next:
                self._locked_next -= 1
                return self.transaction()
        return _CombiningTransaction(self)

    def append(
        self,
        stream_id: str,
        expected_version: int | None,
        events: Sequence[NewEvent],
        *,
        in_transaction: InTransaction | None = None,
    ) -> list[RecordedEvent]:
        if not self._combining:
            return super().append(
                stream_id, expected_version, events, in_transaction=in_transaction
            )
        return self._append_combined(stream_id, expected_version, events, in_transaction)

    def _append_combined(
        self,
        stream_id: str,
        expected_version: int | None,
        events: Sequence[NewEvent],
        in_transaction: InTransaction | None,
    ) -> list[RecordedEvent]:
        """The append of a command transaction: handed over, then folded into the replica."""
        if not events:
            return []
        if self._appended:
            raise StoreError("a command transaction appends once (use transaction() for more)")
        self._appended = True
        prepared = prepare(events)
        if any(e.event_id for e in events):
            existing = self._existing(prepared, stream_id)
            if existing is not None:
                return existing
        # the replica's head: the log's rows after it and before ours come back with ours
        after = int(
            self.conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()[0]
        )
        if self.conn.in_transaction:
            self.conn.execute("COMMIT")  # the read snapshot the decision was made on
        rows = self.remote.combine(stream_id, expected_version, prepared, after=after)
        before, self.remote.prefetched = self.remote.prefetched, None
        if rows is None:
            self._own_versions.pop(stream_id, None)
            self._locked_next = LOCKED_AFTER_REFUSAL  # decide again, holding the lock
            raise ConcurrencyError(
                f"stream {stream_id} is no longer at version {expected_version}: another writer "
                "appended first; deciding again holding the lock"
            )
        # ours, as decided (not the same events appended before, which are returned as they are)
        own = expected_version is not None and [(r[1], r[3]) for r in rows] == [
            (eid, expected_version + i) for i, (_, eid, _, _) in enumerate(prepared, start=1)
        ]
        recorded = records(rows, prepared) if own else [RecordedEvent(*r) for r in rows]
        if own:
            self._own_versions[stream_id] = int(rows[-1][3])
        else:
            self._own_versions.pop(stream_id, None)
        # into the replica: the log's rows before these, then these with the caller's fold
        self._depth, self._combining = 0, False
        try:
            with _Transaction(self) as conn:
                first, last = int(rows[0][0]), int(rows[-1][0])
                if self._head is None:
                    self._head = conn.execute(
                        "SELECT position, hash, recorded_at FROM events "
                        "ORDER BY position DESC LIMIT 1"
                    ).fetchone() or (0, GENESIS_HASH, "")
                if self._head[0] < first - 1:
                    self._pull(first - 1, before)
                if own and self._head[0] == first - 1:
                    conn.executemany(_INSERT, rows)
                    self._head = (last, rows[-1][10], rows[-1][8])
                    self._versions.clear()
                    if in_transaction is not None:
                        in_transaction(conn, recorded)
                elif self._head[0] < last:  # appended before, or folded by another writer here
                    self._pull(last)
        except StoreError:
            pass  # recorded in the log; the replica is behind and catches up on its next read
        finally:
            self._depth, self._combining = 1, True
        return recorded

    def _also_write(self, rows: Sequence[Sequence[Any]]) -> None:
        """Rows just inserted into the replica go into the log too, in its open transaction."""
        self.remote.insert_rows(rows, defer=True)  # checked here already: sent with the COMMIT

    def put_blob(self, content: bytes, content_type: str = "application/octet-stream") -> str:
        """Store ``content`` in the log's database (every client sees it) and in the replica."""
        with self.lock:
            self.remote.put_blob(content, content_type)
            return super().put_blob(content, content_type)

    def get_blob(self, digest: str) -> bytes | None:
        found = super().get_blob(digest)
        return found if found is not None else self.remote.get_blob(digest)

    # ------------------------------------------------------------------ reading (caught up first)

    def head(self) -> tuple[int, str]:
        self.refresh()
        return super().head()

    def stream_version(self, stream_id: str) -> int:
        if self._combining and stream_id not in self._versions:
            # deciding without the lock: catch up if this stream moved in the log (one query;
            # other streams' events are pulled when the append lands). Not asked when this
            # store appended the stream's last version in the replica: a writer usually
            # appends to its stream alone, and if another did meanwhile the append is refused
            # under the lock and decided again holding it (as ``transaction()`` does)
            mine = super().stream_version(stream_id)
            if self._own_versions.get(stream_id) != mine:
                theirs = self.remote.stream_version(stream_id)
                if theirs > mine:
                    self._catch_up_between_reads()
        self.refresh()
        return super().stream_version(stream_id)

    def _catch_up_between_reads(self) -> None:
        """In a command transaction's read snapshot: pull the log into the replica, read on."""
        if self.conn.in_transaction:
            self.conn.execute("COMMIT")
        self._depth, self._combining = 0, False
        try:
            self.refresh()
        finally:
            self._depth, self._combining = 1, True
        self.conn.execute("BEGIN")
        self._versions.clear()
        self._head = None

    def read_stream(self, stream_id: str, after_version: int = 0) -> Iterator[RecordedEvent]:
        self.refresh()
        return super().read_stream(stream_id, after_version)

    def read_all(
        self,
        after_position: int = 0,
        *,
        until_position: int | None = None,
        stream_id: str | None = None,
        types: Sequence[str] | None = None,
        batch_size: int = 10_000,
    ) -> Iterator[RecordedEvent]:
        self.refresh()
        return super().read_all(
            after_position,
            until_position=until_position,
            stream_id=stream_id,
            types=types,
            batch_size=batch_size,
        )

    def get(self, key: int | str) -> RecordedEvent | None:
        self.refresh()
        return super().get(key)

    def position_at(self, timestamp: str) -> int:
        self.refresh()
        return super().position_at(timestamp)

    def read_transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        self.refresh()
        return super().read_transaction()


class _ReplicaTransaction:
    """PostgreSQL ``BEGIN`` + append lock, then the replica's ``BEGIN IMMEDIATE``, caught up.

    On success PostgreSQL commits first, then the replica; if PostgreSQL
    fails, the replica rolls back. Nested uses join the outer transaction.
    """

    def __init__(self, store: ReplicatedEventStore) -> None:
        self.store = store

    def __enter__(self) -> sqlite3.Connection:
        store = self.store
        store.lock.acquire()
        if store._depth:
            store._depth += 1
            return store.conn
        remote = store.remote.transaction()
        try:
            # what the replica has (at least): the events after it come back with the head
            store.remote.prefetch_after = int(
                store.conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()[0]
            )
            remote.__enter__()
        except BaseException:
            store.lock.release()
            raise
        local = _Transaction(store)
        try:
            local.__enter__()
        except BaseException as e:
            remote.__exit__(type(e), e, e.__traceback__)
            store.lock.release()
            raise
        store._remote_tx = remote
        try:
            assert store.remote._head is not None
            store._pull(store.remote._head[0], store.remote.prefetched)
        except BaseException as e:
            self.__exit__(type(e), e, e.__traceback__)
            raise
        return store.conn

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        store = self.store
        if store._depth > 1:
            store._depth -= 1
            store.lock.release()
            return
        remote, store._remote_tx = store._remote_tx, None
        local = _Transaction(store)
        try:
            if exc_type is not None:
                try:
                    local.__exit__(exc_type, exc, tb)
                finally:
                    remote.__exit__(exc_type, exc, tb)
                return
            try:
                remote.__exit__(None, None, None)  # COMMIT on PostgreSQL: the write is durable
            except BaseException as e:
                local.__exit__(type(e), e, e.__traceback__)
                raise
            # the replica commits second; if it cannot, it is behind and catches up later
            with contextlib.suppress(StoreError):
                local.__exit__(None, None, None)
        finally:
            store.lock.release()


class _CombiningTransaction:
    """``command_transaction()`` outside any other: decide on the replica, caught up, without
    the append lock; the append is handed over (``ReplicatedEventStore._append_combined``)."""

    def __init__(self, store: ReplicatedEventStore) -> None:
        self.store = store

    def __enter__(self) -> sqlite3.Connection:
        store = self.store
        store.lock.acquire()
        if store._depth:  # another thread's transaction cannot be open: we hold the lock
            store._depth += 1
            return store.conn
        try:
            # the decision's stream is caught up if it moved (``stream_version``)
            store.conn.execute("BEGIN")  # one snapshot of the replica for the decision
            store._versions.clear()
            store._head = None
        except BaseException:
            store.lock.release()
            raise
        store._depth, store._combining, store._appended = 1, True, False
        return store.conn

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        store = self.store
        store._depth -= 1
        try:
            if store._depth == 0:
                store._combining = False
                store._versions.clear()
                store._head = None
                if store.conn.in_transaction:
                    store.conn.execute("ROLLBACK")  # only read
        finally:
            store.lock.release()
