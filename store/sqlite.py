"""The embedded SQLite event log.

One file holds the log (``events``), the snapshot cache, content-addressed
blobs and the projections' read-model tables, so a projection's rows commit in
the same transaction as the events they fold. Every write transaction starts
with ``BEGIN IMMEDIATE``; the file runs in WAL mode with ``synchronous=FULL``
unless told otherwise, so an acknowledged append survives a crash.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from trialbook.domain.canonical import GENESIS_HASH, canonical_json
from trialbook.store.base import InTransaction, NewEvent, RecordedEvent
from trialbook.store.errors import (
    AppendOnlyViolation,
    ConcurrencyError,
    IdempotencyConflict,
    NotATrialbookDatabase,
    StoreError,
    StoreUnavailable,
)
from trialbook.store.migrations import APPLICATION_ID
from trialbook.store.rows import (
    EVENT_ID,
    Prepared,
    already_recorded,
    chain_rows,
    check_version,
    prepare,
    records,
    utc_now,
)

COLUMNS = (
    "position, event_id, stream_id, version, type, schema_version, data, metadata, "
    "recorded_at, prev_hash, hash"
)
#: the one statement text every append inserts its rows with (sqlite3 keeps it prepared)
INSERT_EVENTS = f"INSERT INTO events ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
#: the trigger that refuses inserts replacing an event (migration m004)
_INSERT_GUARD = "events_append_only_insert"


def _row(r: tuple[Any, ...]) -> RecordedEvent:
    return RecordedEvent(*r)


def translate(error: sqlite3.Error, path: str) -> StoreError:
    """Turn a driver error into a store error whose message says how to fix it."""
    text = str(error)
    if "append-only" in text or "immutable" in text:
        return AppendOnlyViolation(text)
    if "file is not a database" in text or "file is encrypted" in text:
        return NotATrialbookDatabase(
            f"{path} is not a trialbook database (not SQLite); pass another file with --db"
        )
    if "readonly" in text or "read-only" in text:
        return StoreUnavailable(
            f"cannot write to {path}: the file or its directory is read-only; "
            "fix the permissions or pass another file with --db"
        )
    if "unable to open" in text:
        return StoreUnavailable(
            f"cannot open {path}; check that its directory exists and is writable"
        )
    if "disk is full" in text or "disk I/O error" in text:
        where = Path(path).resolve().parent
        cause = "is full" if "full" in text else "could not be written (an I/O error)"
        return StoreUnavailable(
            f"the disk holding {where} {cause}; nothing was recorded: "
            "free some space (or pass a --db on another disk) and run the command again"
        )
    if "locked" in text or "busy" in text:
        return StoreUnavailable(f"{path} is busy: another trialbook is writing to it; try again")
    return StoreError(f"{path}: {text}")


class SQLiteEventStore:
    """An append-only, hash-chained event log in one SQLite file."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "FULL",
        busy_timeout: float = 10.0,
    ) -> None:
        self.path = str(path)
        self.busy_timeout_ms = int(busy_timeout * 1000)
        if synchronous.upper() not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {SYNCHRONOUS}")
        self._check_file()
        try:
            self.conn = sqlite3.connect(
                self.path, isolation_level=None, timeout=busy_timeout, check_same_thread=False
            )
        except sqlite3.Error as e:
            raise translate(e, self.path) from e
        #: one cursor for the statements every append runs (BEGIN, the data version, the
        #: event's insert, COMMIT): ``conn.execute`` makes, registers and frees a cursor each
        #: time, about half the cost of a small statement; each of these statements is reset
        #: when it returns (they all run to their end), so none holds the file
        self._cursor = self.conn.cursor()
        self.lock = threading.RLock()
        self._depth = 0
        #: what ``transaction()`` returns: it keeps no state of its own (the depth and the
        #: lock are the store's), so one serves every use, nested or not
        self._transaction = _Transaction(self)
        #: bumped whenever what this connection cached may be stale: another
        #: connection committed (``PRAGMA data_version`` moved), or a write
        #: transaction rolled back. Caches keyed by it are only used inside a
        #: write transaction, where nothing else can commit.
        self.generation = 0
        self._data_version: int | None = None
        #: (position, hash, recorded_at) of the last event, and stream versions,
        #: as of this generation (None/absent: ask the file)
        self._head: tuple[int, str, str] | None = None
        self._versions: dict[str, int] = {}
        try:
            self.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            self._check_application_id()
            mode = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal" and self.path != ":memory:":
                raise StoreUnavailable(f"cannot switch {self.path} to WAL mode (got {mode})")
            self.conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
            self._migrate()
        except sqlite3.Error as e:
            self.conn.close()
            raise translate(e, self.path) from e
        except StoreError:
            self.conn.close()
            raise

    # ------------------------------------------------------------------ opening

    def _check_file(self) -> None:
        p = Path(self.path)
        if self.path == ":memory:":
            return
        if p.is_dir():
            raise StoreUnavailable(f"{self.path} is a directory; pass a file path with --db")
        if not p.parent.exists():
            raise StoreUnavailable(
                f"directory {p.parent} does not exist; create it (mkdir -p {p.parent}) or pass another --db"
            )
        # The header is read by SQLite itself ("file is not a database", translated below),
        # never through a descriptor of our own: closing any descriptor on a file drops every
        # POSIX lock this process holds on it, so another process would take a connection
        # open here for the last one and delete the WAL it is writing into.
        if not p.exists() and not os.access(p.parent, os.W_OK):
            raise StoreUnavailable(
                f"cannot create {self.path}: directory {p.parent} is read-only; pass another --db"
            )

    def _check_application_id(self) -> None:
        app_id = self.conn.execute("PRAGMA application_id").fetchone()[0]
        if app_id == APPLICATION_ID:
            return
        tables = self.conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
        ).fetchone()[0]
        if app_id != 0 or tables:
            raise NotATrialbookDatabase(
                f"{self.path} is a SQLite database but not a trialbook database; "
                "pass a new or trialbook file with --db"
            )

    @property
    def db(self) -> Any:
        """A ``sqlite_utils.Database`` on this connection (imported on first use: it is slow to import)."""
        import sqlite_utils

        return sqlite_utils.Database(self.conn)

    def _migrate(self) -> None:
        from trialbook.store.migrations import LATEST

        with self.lock:
            exists = self.conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_trialbook_migrations'"
            ).fetchone()
            if (
                exists
                and self.conn.execute(
                    "SELECT 1 FROM _trialbook_migrations WHERE name = ?", (LATEST,)
                ).fetchone()
            ):
                return  # up to date: the common case costs two indexed lookups
            from trialbook.store.migrations import MIGRATIONS

            db = self.db
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                self.conn.execute(
                    "CREATE TABLE IF NOT EXISTS _trialbook_migrations "
                    "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
                )
                # another process may have migrated while we waited for the lock
                applied = {
                    r[0] for r in self.conn.execute("SELECT name FROM _trialbook_migrations")
                }
                for name, fn in MIGRATIONS:
                    if name in applied:
                        continue
                    fn(db)
                    self.conn.execute(
                        "INSERT INTO _trialbook_migrations (name, applied_at) VALUES (?, ?)",
                        (name, utc_now()),
                    )
                self.conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> SQLiteEventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writing

    def append(
        self,
        stream_id: str,
        expected_version: int | None,
        events: Sequence[NewEvent],
        *,
        in_transaction: InTransaction | None = None,
    ) -> list[RecordedEvent]:
        if not events:
            return []
        prepared = prepare(events)
        with self.transaction() as conn:
            if events[0].event_id if len(events) == 1 else any(map(EVENT_ID, events)):
                existing = self._existing(prepared, stream_id)
                if existing is not None:
                    return existing
            recorded = self._insert(stream_id, expected_version, prepared)
            if in_transaction is not None:
                in_transaction(conn, recorded)
            return recorded

    def _existing(self, prepared: list[Prepared], stream_id: str) -> list[RecordedEvent] | None:
        """The recorded events if this batch was appended before; None if none of it was."""
        ids = [eid for (_, eid, _, _) in prepared]
        marks = ",".join("?" * len(ids))
        found = {
            r[1]: _row(r)
            for r in self.conn.execute(
                f"SELECT {COLUMNS} FROM events WHERE event_id IN ({marks})", ids
            )
        }
        return already_recorded(prepared, stream_id, found)

    def _insert(
        self,
        stream_id: str,
        expected_version: int | None,
        prepared: list[Prepared],
    ) -> list[RecordedEvent]:
        current = self.stream_version(stream_id)
        check_version(stream_id, current, expected_version)
        head = self._head
        if head is None:
            head = self.conn.execute(
                "SELECT position, hash, recorded_at FROM events ORDER BY position DESC LIMIT 1"
            ).fetchone() or (0, GENESIS_HASH, "")
        rows = chain_rows(stream_id, current, head, prepared)
        try:
            if len(rows) == 1:  # a single append
                self._cursor.execute(INSERT_EVENTS, rows[0])
            else:
                self.conn.executemany(INSERT_EVENTS, rows)
        except sqlite3.IntegrityError as e:
            if "event_id" in str(e):
                raise IdempotencyConflict(
                    "an event id in this batch is already recorded elsewhere; event ids must be unique"
                ) from e
            raise ConcurrencyError(f"stream {stream_id} moved on while appending; try again") from e
        self._also_write(rows)
        # valid until this transaction ends: a rollback forgets them (see _Transaction)
        self._head = (rows[-1][0], rows[-1][10], rows[-1][8])
        self._versions[stream_id] = rows[-1][3]
        return records(rows, prepared)

    @contextmanager
    def appending_in_bulk(self) -> Iterator[None]:
        """Inside a write transaction: many appends to come (an import), the insert guard's
        per-row cost left out of them, every state another connection can see guarded.

        The ``events_append_only_insert`` trigger (m004) refuses an ``INSERT OR REPLACE``
        over a taken key; calling it costs more than a third of each event's insert. This
        transaction's own inserts are plain ``INSERT``s (a taken key fails on its unique
        index as before), and no other connection can write until it ends, so the trigger is
        dropped here and created again, from its stored text, before the block ends: the
        commit writes it back byte for byte and a rollback never lost it. A DDL statement
        is part of the transaction in SQLite, so no other connection ever sees the file
        without it (a test checks, and that ``events verify`` passes after an import).
        """
        if not self._depth:
            raise RuntimeError("appending_in_bulk() runs inside a write transaction")
        conn = self.conn
        found = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", (_INSERT_GUARD,)
        ).fetchone()
        if found is None:  # a damaged file (`events verify` says so): nothing to restore
            yield
            return
        conn.execute(f"DROP TRIGGER {_INSERT_GUARD}")
        try:
            yield
        finally:
            # an SQLite error that ended the transaction has restored the trigger with it;
            # otherwise it is back before anything can commit
            if conn.in_transaction:
                conn.execute(found[0])

    def _also_write(self, rows: Sequence[Sequence[Any]]) -> None:
        """Called with the rows just inserted, inside the write transaction (a replica
        writes them to its authoritative log here; a plain file has nothing to do)."""

    # ------------------------------------------------------------------ snapshots and blobs

    def load_snapshot(self, stream_id: str) -> tuple[int, int, dict[str, Any]] | None:
        """``(version, state_version, state)`` of the stream's cached state, if any."""
        row = self.conn.execute(
            "SELECT version, state_version, state FROM snapshots WHERE stream_id = ?", (stream_id,)
        ).fetchone()
        return (row[0], row[1], json.loads(row[2])) if row else None

    def save_snapshot(
        self, stream_id: str, version: int, state_version: int, state: dict[str, Any]
    ) -> None:
        """Cache a stream's state; call it inside an append's ``in_transaction`` to keep it consistent."""
        self.conn.execute(
            "INSERT INTO snapshots (stream_id, version, state_version, state) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(stream_id) DO UPDATE SET version = excluded.version, "
            "state_version = excluded.state_version, state = excluded.state",
            (stream_id, version, state_version, canonical_json(state)),
        )

    def put_blob(self, content: bytes, content_type: str = "application/octet-stream") -> str:
        """Store ``content`` once under its SHA-256 and return the hash (safe inside a transaction)."""
        digest = hashlib.sha256(content).hexdigest()
        with self.lock:
            self.conn.execute(
                "INSERT OR IGNORE INTO blobs (hash, size, content_type, content) VALUES (?, ?, ?, ?)",
                (digest, len(content), content_type, content),
            )
        return digest

    def get_blob(self, digest: str) -> bytes | None:
        row = self.conn.execute("SELECT content FROM blobs WHERE hash = ?", (digest,)).fetchone()
        return bytes(row[0]) if row else None

    # ------------------------------------------------------------------ reading

    def stream_version(self, stream_id: str) -> int:
        if self._depth:  # inside a write transaction the cached versions are current
            cached = self._versions.get(stream_id)
            if cached is not None:
                return cached
        row = self.conn.execute(
            "SELECT version FROM events WHERE stream_id = ? ORDER BY version DESC LIMIT 1",
            (stream_id,),
        ).fetchone()
        version = row[0] if row else 0
        if self._depth:
            self._versions[stream_id] = version
        return version

    def _begin_immediate(self) -> None:
        """``BEGIN IMMEDIATE``, waiting up to the busy timeout for another writer to finish."""
        self._cursor.execute("BEGIN IMMEDIATE")

    def refresh(self) -> None:
        """Make reads reflect every committed event: a no-op, this file is the log itself
        (a replica of a PostgreSQL log catches up here)."""

    @property
    def name(self) -> str:
        """The database as messages name it."""
        return self.path

    def verify(self) -> Any:
        """``store.verify.verify_file`` of this file (a ``Report``): reads only."""
        from trialbook.store.verify import verify_file

        return verify_file(self.path)

    def _changed_elsewhere(self) -> None:
        """Another connection committed since this one's last transaction (in a new write
        transaction): drop what this connection cached (``ReplicatedEventStore`` keeps what
        the other connection's appends did not touch)."""
        self.forget()

    def forget(self) -> None:
        """Drop what this connection cached about the file and start a new generation."""
        self.generation += 1
        self._head = None
        self._versions.clear()

    def read_stream(self, stream_id: str, after_version: int = 0) -> Iterator[RecordedEvent]:
        cur = self.conn.execute(
            f"SELECT {COLUMNS} FROM events WHERE stream_id = ? AND version > ? ORDER BY version",
            (stream_id, after_version),
        )
        while batch := cur.fetchmany(1000):
            yield from (_row(r) for r in batch)

    def read_all(
        self,
        after_position: int = 0,
        *,
        until_position: int | None = None,
        stream_id: str | None = None,
        types: Sequence[str] | None = None,
        batch_size: int = 10_000,
    ) -> Iterator[RecordedEvent]:
        where, params = ["position > ?"], [after_position]
        if until_position is not None:
            where.append("position <= ?")
            params.append(until_position)
        if stream_id is not None:
            where.append("stream_id = ?")
            params.append(stream_id)  # type: ignore[arg-type]
        if types:
            where.append(f"type IN ({','.join('?' * len(types))})")
            params.extend(types)  # type: ignore[arg-type]
        # a dedicated cursor reads one consistent snapshot, batch by batch
        cur = self.conn.cursor()
        cur.execute(
            f"SELECT {COLUMNS} FROM events WHERE {' AND '.join(where)} ORDER BY position", params
        )
        try:
            while batch := cur.fetchmany(batch_size):
                yield from (_row(r) for r in batch)
        finally:
            cur.close()

    def head(self) -> tuple[int, str]:
        row = self.conn.execute(
            "SELECT position, hash FROM events ORDER BY position DESC LIMIT 1"
        ).fetchone()
        return (row[0], row[1]) if row else (0, GENESIS_HASH)

    def get(self, key: int | str) -> RecordedEvent | None:
        if isinstance(key, int):
            row = self.conn.execute(
                f"SELECT {COLUMNS} FROM events WHERE position = ?", (key,)
            ).fetchone()
        else:
            row = self.conn.execute(
                f"SELECT {COLUMNS} FROM events WHERE event_id = ?", (key,)
            ).fetchone()
        return _row(row) if row else None

    def position_at(self, timestamp: str) -> int:
        """The largest position recorded at or before ``timestamp`` (ISO 8601 UTC), 0 if none."""
        row = self.conn.execute(
            "SELECT max(position) FROM events WHERE recorded_at <= ?", (timestamp,)
        ).fetchone()
        return row[0] or 0

    def import_envelopes(
        self,
        rows: Iterable[Sequence[Any]],
        *,
        in_transaction: Callable[[sqlite3.Connection, int], None] | None = None,
        batch_size: int = 5_000,
    ) -> tuple[int, int]:
        """Insert pre-hashed envelopes as they are (positions, ids, times and hashes kept).

        ``rows`` are raw rows in the column order of ``COLUMNS``, in position
        order (``store.verify.parse_line`` of ``events export`` lines). Rows at
        positions the log already has must be the same events (same hash): they
        are skipped, so importing twice changes nothing. The rest must continue
        this log: the first follows the head, each one's hash matches its
        content and links to the one before, and stream versions continue.
        Everything happens in one write transaction, with
        ``in_transaction(conn, new_head)`` called before it commits; on any
        problem nothing is written and ``ChainError`` names the position.
        Returns ``(skipped, inserted)``.
        """
        from trialbook.store.imports import import_rows  # with store.verify: not on the append path

        with self.transaction() as conn:
            self.forget()  # the rows go in behind the append path's back
            head = self.head()[0]
            skipped, inserted = import_rows(_ImportInto(self), head, rows, batch_size)
            self.forget()
            if inserted and in_transaction is not None:
                in_transaction(conn, head + inserted)
        return skipped, inserted

    def read_transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """A read transaction: every query inside sees one committed state of the file."""
        return read_transaction(self.conn, self.lock)

    def transaction(self) -> _Transaction:
        """A ``BEGIN IMMEDIATE`` write transaction; appends inside it join it.

        The ledger reads a stream's state and appends inside one such transaction,
        so on SQLite a concurrent writer waits instead of clashing.
        """
        return self._transaction


class _ImportInto:
    """The reads ``store.imports.import_rows`` needs, on a file inside its write transaction."""

    def __init__(self, store: SQLiteEventStore) -> None:
        self.store = store
        self.conn = store.conn
        self.get = store.get

    def hash_at(self, position: int) -> str | None:
        row = self.conn.execute(
            "SELECT hash FROM events WHERE position = ?", (position,)
        ).fetchone()
        return row[0] if row else None

    def version_before(self, stream_id: str, position: int) -> int:
        found = self.conn.execute(
            "SELECT max(version) FROM events WHERE stream_id = ? AND position < ?",
            (stream_id, position),
        ).fetchone()
        return int(found[0] or 0)

    def hashes_between(self, first: int, last: int) -> dict[int, str]:
        return dict(
            self.conn.execute(
                "SELECT position, hash FROM events WHERE position BETWEEN ? AND ?", (first, last)
            ).fetchall()
        )

    def insert_rows(self, rows: Sequence[Sequence[Any]]) -> None:
        try:
            self.conn.executemany(INSERT_EVENTS, rows)
        except sqlite3.IntegrityError as e:
            from trialbook.store.imports import conflicting_ids

            raise conflicting_ids(rows[0][0], rows[-1][0]) from e
        self.store._also_write(rows)


@contextmanager
def read_transaction(conn: sqlite3.Connection, lock: Any) -> Iterator[sqlite3.Connection]:
    """``BEGIN`` … ``COMMIT`` on ``conn`` under ``lock``; inside a transaction already open, join it."""
    with lock:
        if conn.in_transaction:
            yield conn
            return
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error); nested uses join the outer one."""

    def __init__(self, store: SQLiteEventStore) -> None:
        self.store = store

    def __enter__(self) -> sqlite3.Connection:
        store = self.store
        store.lock.acquire()
        if store._depth == 0:
            try:
                store._begin_immediate()
                # another connection committed since our last transaction: caches are stale
                version = store._cursor.execute("PRAGMA data_version").fetchone()[0]
            except sqlite3.Error as e:
                if store.conn.in_transaction:
                    store.conn.execute("ROLLBACK")
                store.lock.release()
                raise translate(e, store.path) from e
            if version != store._data_version:
                known, store._data_version = store._data_version, version
                if known is None:
                    store.forget()
                else:
                    store._changed_elsewhere()
        store._depth += 1
        return store.conn

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        store = self.store
        store._depth -= 1
        try:
            if store._depth == 0:
                if exc_type is None:
                    try:
                        store._cursor.execute("COMMIT")
                    except sqlite3.Error as e:
                        store.forget()
                        # a failed COMMIT (disk full, I/O error) may have rolled back already
                        if store.conn.in_transaction:
                            store.conn.execute("ROLLBACK")
                        raise translate(e, store.path) from e
                else:
                    store.forget()
                    if store.conn.in_transaction:
                        store.conn.execute("ROLLBACK")
        finally:
            store.lock.release()
        if isinstance(exc, sqlite3.Error):
            raise translate(exc, store.path) from exc
