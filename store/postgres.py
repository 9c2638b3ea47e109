"""The event log on PostgreSQL: the authoritative copy a team shares.

The same columns, canonical text and hash chain as the SQLite file (the rows
are built by ``store.rows``), in the ``trialbook`` schema that
``store.pg_migrations`` creates. A write transaction takes the append lock
(``pg_advisory_xact_lock``) and reads ``log_head``; the server's head trigger
checks that the new rows continue it and holds the head row until commit, so
positions are gap-free in commit order.

This class is the log alone; ``store.replica.ReplicatedEventStore`` is what
the ledger opens for a ``postgresql://`` URL (the log here plus a local SQLite
replica that holds the read models).

Driver errors become store errors at this boundary, in one line that names
the database by its URL without the password (:func:`translate`).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from trialbook.store.base import InTransaction, NewEvent, RecordedEvent
from trialbook.store.errors import (
    AppendOnlyViolation,
    ConcurrencyError,
    IdempotencyConflict,
    NotATrialbookDatabase,
    StoreError,
    StoreUnavailable,
)
from trialbook.store.pg_migrations import (
    APPEND_LOCK,
    GUARD_TRIGGERS,
    LATEST,
    MIGRATE_LOCK,
    MIGRATIONS,
    UNIQUE_CONSTRAINTS,
)
from trialbook.store.rows import (
    Prepared,
    already_recorded,
    chain_rows,
    check_version,
    prepare,
    records,
    utc_now,
)
from trialbook.store.urls import password_of, redact_url

if TYPE_CHECKING:
    import psycopg

    from trialbook.store.verify import Report

COLUMNS = (
    "position, event_id, stream_id, version, type, schema_version, data, metadata, "
    "recorded_at, prev_hash, hash"
)
EVENTS = "trialbook.events"
#: rows above this many are sent with COPY rather than one INSERT … VALUES
COPY_ABOVE = 64
#: events fetched with the head when a replica's write transaction begins
PREFETCH = 1_000
#: a writer's append handed over, in one statement (migration pg005: the batch pending, then
#: the holder's drain chained by the server, or the wait for its commit) and the outcome
#: (parameters bound in binary: psycopg escapes each element of a text array with a regular
#: expression, ~60 us an append, where the binary format copies them)
HAND_OVER = (
    "CALL trialbook.hand_over(%b::text, %b::text, %b::bigint, %b::text[], %b::text[], "
    "%b::integer[], %b::text[], %b::text[], %b::bigint, %b::bigint)"
)
#: the append lock's holder drains the pending batches of live writers, chained by the server
DRAIN = "SELECT appended FROM trialbook.drain_pending(%s, %s::bigint)"
#: a connection that hands batches over holds this session lock on its owner key for its life
OWN = "SELECT pg_advisory_lock(%s)"
WITHDRAW = "DELETE FROM trialbook.pending WHERE batch = %s RETURNING 1"
#: one snapshot: is the batch still pending, and the log's rows with its ids
OUTCOME = (
    "SELECT (SELECT count(*) FROM trialbook.pending WHERE batch = %s), "
    + ", ".join(f"e.{c.strip()}" for c in COLUMNS.split(","))
    + f" FROM (VALUES (1)) one LEFT JOIN {EVENTS} e ON e.event_id = ANY(%s) ORDER BY e.position"
)
#: the log's rows after a position and before a batch's first row (what a replica folds first)
BEFORE_BATCH = (
    f"SELECT {COLUMNS} FROM {EVENTS} WHERE position > %s AND position < "
    f"(SELECT min(position) FROM {EVENTS} WHERE event_id = ANY(%b::text[])) "
    "ORDER BY position LIMIT %s"
)
#: what begins a write transaction (``_begin``): the append lock, then (a statement of its
#: own, so its snapshot is taken once the lock is held) the head; and the events after a
#: position (a replica's head)
_BEGIN = (
    "BEGIN; SELECT pg_advisory_xact_lock(%s); "
    "SELECT position, hash, recorded_at FROM trialbook.log_head"
)
_BEGIN_AND_AFTER = (
    _BEGIN + f"; SELECT {COLUMNS} FROM {EVENTS} WHERE position > %s ORDER BY position LIMIT %s"
)
_ROW = "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
#: hand Ledger.execute's appends to the append lock's holder (``ReplicatedEventStore.command_transaction``), and
#: the lock's holders drain what is handed over (``combine``). Off: it batches writers of
#: different streams, but writers of one stream (agents reporting to one A/B test) refuse
#: each other's batches and cost more than the lock path (docs/postgres.md, run E).
COMBINE = os.environ.get("TRIALBOOK_PG_COMBINE") == "1"
INSTALL_HINT = (
    "PostgreSQL needs the psycopg driver, which is not installed; "
    "install it with: pip install 'trialbook[postgres]'"
)
#: driver messages that mean the connection is gone (the server stopped, restarted or killed it)
_LOST = (
    "server closed the connection",
    "terminating connection",
    "consuming input failed",
    "connection is closed",
    "connection is lost",
    "connection already closed",
    "eof detected",
    "ssl syscall",
    "broken pipe",
    "connection reset",
    "sending query failed",
    "no connection to the server",
    "the database system is shutting down",
)
_UNREACHABLE = (
    "connection refused",
    "could not connect",
    "timeout expired",
    "could not translate host name",
    "no route to host",
    "network is unreachable",
    "name or service not known",
    "is the server running",
    "the database system is starting up",
)


_URL_IN_TEXT = re.compile(r"postgres(?:ql)?://[^\s\"']*", re.I)
#: what libpq puts before its own reason (the URL names the server already)
_SERVER_PREFIX = re.compile(
    r'^(?:connection failed: )?(?:connection to server at "[^"]*"(?: \([^)]*\))?, port \d+ '
    r"failed: )?(?:fe_sendauth: )?"
)


def driver() -> Any:
    """The psycopg module, or ``StoreUnavailable`` saying how to install it."""
    try:
        import psycopg
    except ImportError:
        raise StoreUnavailable(INSTALL_HINT) from None
    if not _quiet.is_set():
        # psycopg logs "error ignored terminating <Pipeline>" when a connection dies inside a
        # pipeline; without a handler of the application's own, Python's last-resort handler
        # would print it to stderr beside the one-line error. The application's handlers
        # (propagation to the root logger) still get it.
        import logging

        logging.getLogger("psycopg").addHandler(logging.NullHandler())
        _quiet.set()
    return psycopg


_quiet = threading.Event()


def is_lost(error: BaseException) -> bool:
    """True if ``error`` says the connection to the server is gone."""
    text = str(error).lower()
    return any(s in text for s in _LOST) or getattr(error, "sqlstate", None) in (
        "57P01",  # admin_shutdown
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now
        "08006",  # connection_failure
        "08003",  # connection_does_not_exist
    )


def scrub(text: str, url: str) -> str:
    """``text`` with every URL in it shown without its password, and the password itself removed."""
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
    secret = password_of(url)
    return text.replace(secret, "<redacted>") if secret else text


def translate(error: BaseException, url: str, *, connecting: bool = False) -> StoreError:
    """One line for a driver error, naming the database without its password."""
    name = redact_url(url)
    text = (str(error).strip().splitlines() or [type(error).__name__])[0]
    # libpq prefixes messages with the server address; keep only the server's reason
    text = text.split("FATAL:", 1)[-1].strip()
    text = _SERVER_PREFIX.sub("", text)
    text = scrub(text, url)
    low = text.lower()
    sqlstate = getattr(error, "sqlstate", None)
    if "append-only" in low or "log_head moves only" in low:
        return AppendOnlyViolation(text)
    if "gap-free" in low or "hash-chained" in low:
        return ConcurrencyError(f"the log at {name} moved on while appending ({text}); try again")
    if "password authentication failed" in low or "no password supplied" in low:
        return StoreUnavailable(
            f"cannot connect to {name}: {text}; check the password "
            "(in the URL, $PGPASSWORD or ~/.pgpass)"
        )
    if "database" in low and "does not exist" in low:
        return StoreUnavailable(
            f"cannot open {name}: {text}; create it (createdb) or fix the URL given with --db"
        )
    if "role" in low and "does not exist" in low:
        return StoreUnavailable(f"cannot connect to {name}: {text}; fix the user in the URL")
    if sqlstate == "42501" or "permission denied" in low:
        return StoreUnavailable(
            f"{name}: {text}; the role needs SELECT and INSERT on the trialbook schema's "
            "tables (see docs/postgres.md, Roles)"
        )
    if connecting and any(s in low for s in _UNREACHABLE):
        return StoreUnavailable(
            f"cannot connect to PostgreSQL at {name}: the server is not running or not "
            "accepting connections there; start it (check with pg_isready) or fix --db"
        )
    if is_lost(error):
        return StoreUnavailable(
            f"lost the connection to PostgreSQL at {name} ({text}); "
            "nothing was recorded: run the command again once the server is back"
        )
    if connecting:
        return StoreUnavailable(f"cannot connect to PostgreSQL at {name}: {text}")
    return StoreError(f"PostgreSQL at {name}: {text}")


class PostgresEventStore:
    """An append-only, hash-chained event log in a PostgreSQL database.

    One connection, used under ``lock`` (one thread at a time). A broken
    connection is replaced at the start of the next transaction or read.
    """

    def __init__(self, url: str, *, connect_timeout: int = 10, migrate: bool = True) -> None:
        self.url = url
        self.name = redact_url(url)
        self.path = self.name  # what messages name, as a file's path is for SQLite
        self.connect_timeout = connect_timeout
        #: connections refuse every write (``set_read_only``)
        self.read_only = False
        self.lock = threading.RLock()
        self._depth = 0
        #: (position, hash, recorded_at) of the head and stream versions, inside a write transaction
        self._head: tuple[int, str, str] | None = None
        self._versions: dict[str, int] = {}
        #: (position, event_id) of the last row written in this transaction
        self._written: tuple[int, str] | None = None
        #: rows to send with the COMMIT (see ``insert_rows``)
        self._deferred: list[Sequence[Any]] = []
        #: a position after which ``transaction()`` also fetches the events (``prefetched``)
        self.prefetch_after: int | None = None
        self.prefetched: list[tuple[Any, ...]] | None = None
        #: this role may hand batches to the append lock's holder and drain them (``combine``)
        self.combining = False
        #: the owner key of this connection's pending batches, its session lock held (``combine``)
        self._owner: int | None = None
        #: commits of this connection that appended events (its own, or as the drain's holder)
        self.commits = 0
        #: the last handed-over append found other writers' rows before its own (``combine``)
        self._others_between = True
        self.conn: psycopg.Connection[Any] = self._connect()
        #: a client-side-binding cursor of ``conn`` (``_statements``)
        self._multi: tuple[Any, Any] | None = None
        try:
            if migrate:
                self._migrate()
            elif not self.run(_has_log):
                raise NotATrialbookDatabase(
                    f"no trialbook log at {self.name}: the database has no trialbook schema"
                )
            self.combining = COMBINE and bool(self.run(_may_combine))
        except BaseException:
            self.conn.close()
            raise

    # ------------------------------------------------------------------ connecting

    def _connect(self) -> psycopg.Connection[Any]:
        psycopg = driver()
        try:
            return psycopg.connect(  # type: ignore[no-any-return]
                self.url,
                autocommit=True,
                connect_timeout=self.connect_timeout,
                application_name="trialbook",
                **({"options": "-c default_transaction_read_only=on"} if self.read_only else {}),
            )
        except psycopg.Error as e:
            raise translate(e, self.url, connecting=True) from None
        except Exception as e:  # not a psycopg.Error: e.g. a malformed option value
            raise StoreUnavailable(
                f"cannot use {self.name} as a PostgreSQL URL: {scrub(str(e), self.url)}"
            ) from None

    def set_read_only(self) -> None:
        """From now on the server refuses any write from this store (on every reconnection too)."""
        with self.lock:
            self.read_only = True
            self.combining = False
            self.run(lambda conn: conn.execute("SET default_transaction_read_only = on"))

    def ensure_connected(self) -> None:
        """Replace a connection the server closed (call outside a transaction)."""
        if self.conn.closed or self.conn.broken:
            self.conn.close()
            self._owner = None  # its session lock went with the old connection
            self.conn = self._connect()

    def run(self, fn: Callable[[Any], Any]) -> Any:
        """``fn(conn)`` under the lock, with driver errors translated (reconnecting first if needed)."""
        psycopg = driver()
        with self.lock:
            if not self._depth:
                self.ensure_connected()
            try:
                self._flush()
                return fn(self.conn)
            except psycopg.Error as e:
                raise translate(e, self.url) from None

    def _migrate(self) -> None:
        def applied(conn: Any) -> bool:
            if conn.execute("SELECT to_regclass('trialbook.migrations')").fetchone()[0] is None:
                return False
            return bool(
                conn.execute(
                    "SELECT 1 FROM trialbook.migrations WHERE name = %s", (LATEST,)
                ).fetchone()
            )

        if self.run(applied):
            return  # up to date: the common case costs two lookups

        def migrate(conn: Any) -> None:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
                schema = conn.execute("SELECT to_regnamespace('trialbook')").fetchone()[0]
                table = conn.execute("SELECT to_regclass('trialbook.migrations')").fetchone()[0]
                if schema is not None and table is None:
                    others = conn.execute(
                        "SELECT count(*) FROM pg_class WHERE relnamespace = %s::regnamespace",
                        ("trialbook",),
                    ).fetchone()[0]
                    if others:
                        raise NotATrialbookDatabase(
                            f"{self.name} has a schema named trialbook that trialbook did not "
                            "create; use another database"
                        )
                conn.execute("CREATE SCHEMA IF NOT EXISTS trialbook")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS trialbook.migrations "
                    "(name text PRIMARY KEY, applied_at text NOT NULL)"
                )
                done = {r[0] for r in conn.execute("SELECT name FROM trialbook.migrations")}
                for name, sql in MIGRATIONS:
                    if name in done:
                        continue
                    conn.execute(sql)
                    conn.execute(
                        "INSERT INTO trialbook.migrations (name, applied_at) VALUES (%s, %s)",
                        (name, utc_now()),
                    )

        try:
            self.run(migrate)
        except StoreUnavailable as e:
            if "permission denied" not in str(e):
                raise
            raise StoreUnavailable(
                f"{self.name} has no trialbook schema yet, or an older one, and this role may not "
                "create it: run any trialbook command on it once as the database's owner, then "
                "grant this role SELECT and INSERT (see docs/postgres.md, Roles)"
            ) from None

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    def __enter__(self) -> PostgresEventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transactions

    def transaction(self) -> _PgTransaction:
        """A write transaction holding the append lock; appends inside it join it."""
        return _PgTransaction(self)

    def _statements(self, sql: str, params: Sequence[Any]) -> Any:
        """Run ``sql``, several statements, in one message (the simple query protocol, the
        parameters bound on the client) and return the cursor, on its first result.

        One round trip either way, but the statements go in one write and their results
        come back together: against one pipelined ``execute`` per statement this costs
        the client about half the CPU (psycopg's per-statement work and a send each) and
        the server hardly more (it parses them each time: ~0.05 ms an append), and the
        server's backend wakes once. Used for the append's two round trips (``_begin``,
        ``_end``); its values are ints and the rows' text, which the cursor quotes.
        """
        multi = self._multi
        if multi is None or multi[0] is not self.conn:
            from psycopg import ClientCursor

            multi = self._multi = (self.conn, ClientCursor(self.conn))
        cur = multi[1]
        cur.execute(sql, params)
        return cur

    def _begin(self) -> None:
        """``BEGIN``, the append lock and the head, in one round trip; with ``prefetch_after``
        set, also the events after that position (a replica catching up)."""
        after, self.prefetch_after = self.prefetch_after, None
        self.prefetched = None
        if after is None:
            cur = self._statements(_BEGIN, (APPEND_LOCK,))
        else:
            cur = self._statements(_BEGIN_AND_AFTER, (APPEND_LOCK, after, PREFETCH))
        cur.nextset()  # (BEGIN's result, then the lock's)
        cur.nextset()
        row = cur.fetchone()
        assert row is not None, "log_head holds one row"
        self._head = (int(row[0]), row[1], row[2])
        self._versions = {}
        if after is not None:
            cur.nextset()
            self.prefetched = cur.fetchall()

    def _end(self, commit: bool) -> None:
        """``COMMIT`` (with the deferred rows' INSERT, in one round trip) or ``ROLLBACK``.
        A connection lost while committing is asked again (on a new connection) whether
        the last row written is there."""
        psycopg = driver()
        written, self._written = self._written, None
        deferred, self._deferred = self._deferred, []
        self._head = None
        self._versions = {}
        self.prefetched = None
        gone = self.conn.broken or self.conn.closed
        if not commit:
            if not gone:
                self.conn.execute("ROLLBACK")
            return
        try:
            if gone:
                raise psycopg.OperationalError("the connection is lost")
            if self.combining:
                # the lock's holder appends the batches other writers handed it, after its own
                # rows, in its own commit, the server chaining them (see ``combine``); the
                # deferred rows, the drain and the COMMIT in one message
                insert = (
                    f"INSERT INTO {EVENTS} ({COLUMNS}) VALUES "
                    + ", ".join([_ROW] * len(deferred))
                    + "; "
                    if deferred
                    else ""
                )
                cur = self._statements(
                    insert + DRAIN + "; COMMIT",
                    [*(v for r in deferred for v in r), APPEND_LOCK, self._owner],
                )
                if deferred:
                    cur.nextset()
                drained = cur.fetchone()[0]
                self.commits += bool(deferred or written or drained)
            elif deferred:  # (at most COPY_ABOVE rows) and COMMIT, in one message
                self._statements(
                    f"INSERT INTO {EVENTS} ({COLUMNS}) VALUES "
                    + ", ".join([_ROW] * len(deferred))
                    + "; COMMIT",
                    [v for r in deferred for v in r],
                )
            else:
                self.conn.execute("COMMIT")
            if not self.combining:
                self.commits += 1
        except psycopg.errors.UniqueViolation as e:
            self._rollback_quietly()
            raise self._clash(e) from None
        except psycopg.Error as e:
            if written is None or not is_lost(e):
                self._rollback_quietly()
                raise translate(e, self.url) from None
            if not self._committed(written):
                raise translate(e, self.url) from None  # "nothing was recorded"

    def _rollback_quietly(self) -> None:
        with contextlib.suppress(Exception):
            if not (self.conn.broken or self.conn.closed):
                self.conn.execute("ROLLBACK")

    def _committed(self, written: tuple[int, str]) -> bool:
        """After losing the connection at ``COMMIT``: was the row ``(position, event_id)`` committed?"""
        try:
            self.ensure_connected()
            row = self.conn.execute(
                f"SELECT event_id FROM {EVENTS} WHERE position = %s", (written[0],)
            ).fetchone()
        except (StoreError, driver().Error):
            raise StoreUnavailable(
                f"lost the connection to PostgreSQL at {self.name} while committing; whether the "
                "last write was recorded is unknown: check with `trialbook events log` once the "
                "server is back"
            ) from None
        return row is not None and row[0] == written[1]

    def combine(
        self,
        stream_id: str,
        expected_version: int | None,
        prepared: Sequence[Prepared],
        *,
        after: int | None = None,
    ) -> list[tuple[Any, ...]] | None:
        """Append a batch decided outside the append lock, in whoever's commit comes first.

        One statement, ``CALL trialbook.hand_over`` (migration ``pg005_server_chain``): if
        the append lock is free, the server appends this batch and every pending one
        (other writers'), chained by the server, and commits: one flush for all. If it is
        taken, the batch goes into ``trialbook.pending`` (unlogged: no flush) and the
        server waits for the holder to finish (a shared lock on the append lock, granted
        to every waiter at once when it is released) and looks: its events are in the
        log, or its batch was refused, or it is still pending (handed over after the
        holder drained): then it queues for the lock and drains. Positions are still
        given under the append lock, in commit order, by one chain; ``recorded_at`` is
        the server's clock.

        Returns the log's rows of the batch (or of the same events appended before:
        idempotency), None if it was refused (the caller decides again, holding the
        lock). A connection lost on the way withdraws the batch if it is still
        pending, so "nothing was recorded" stays true.

        ``after`` is a replica's head: the log's rows after it and before the batch's
        (up to ``PREFETCH``) are then fetched in the same round trip, into
        ``prefetched`` (while the last append found such rows: a writer alone never does).
        """
        psycopg = driver()
        batch = secrets.token_hex(16)
        ids = [eid for _, eid, _, _ in prepared]
        values = (
            batch,
            stream_id,
            expected_version,
            ids,
            [e.type for e, _, _, _ in prepared],
            [e.schema_version for e, _, _, _ in prepared],
            [d for _, _, d, _ in prepared],
            [m for _, _, _, m in prepared],
        )
        with self.lock:
            self.ensure_connected()
            self.prefetched = None
            conn = self.conn
            try:
                before = None
                with conn.pipeline():
                    owner = self._owner
                    if owner is None:  # held until the connection ends
                        owner = self._owner = _owner_key()
                        conn.execute(OWN, (owner,))
                    cur = conn.execute(HAND_OVER, (*values, owner, APPEND_LOCK))
                    if after is not None and self._others_between:
                        # (nothing if the batch is not in the log)
                        before = conn.execute(BEFORE_BATCH, (after, ids, PREFETCH))
                got = cur.fetchone()
                assert got is not None, "CALL returns one row"
                outcome, positions, versions, ats, prevs, hashes, drained = got
                if drained:
                    self.commits += 1
                if outcome == "appended":
                    if before is not None:
                        self.prefetched = before.fetchall()
                    if after is not None:
                        # other writers' rows came between the replica's head and ours: ask
                        # for them with the next append too (a writer alone never needs to)
                        self._others_between = positions[0] > after + 1
                    return [
                        (p, eid, stream_id, v, e.type, e.schema_version, d, m, at, prev, h)
                        for (e, eid, d, m), p, v, at, prev, h in zip(
                            prepared, positions, versions, ats, prevs, hashes, strict=True
                        )
                    ]
                if outcome == "refused":
                    return None
                # ids in the log with other content: the original rows, or IdempotencyConflict
                return self._landed(
                    conn.execute(OUTCOME, (batch, ids)).fetchall(), stream_id, prepared
                )
            except psycopg.errors.UniqueViolation as e:
                self._rollback_quietly()
                raise self._clash(e) from None
            except psycopg.Error as e:
                self._rollback_quietly()
                return self._settle(e, batch, stream_id, prepared, ids)

    def _landed(
        self, found: Sequence[tuple[Any, ...]], stream_id: str, prepared: Sequence[Prepared]
    ) -> list[tuple[Any, ...]] | None:
        """The batch is no longer pending: its rows (or the original ones), or None if refused."""
        rows = {r[2]: r[1:] for r in found if r[1] is not None}
        if not rows:
            return None
        recorded = already_recorded(
            prepared, stream_id, {eid: RecordedEvent(*r) for eid, r in rows.items()}
        )
        assert recorded is not None
        return [rows[r.event_id] for r in recorded]

    def _settle(
        self,
        error: BaseException,
        batch: str,
        stream_id: str,
        prepared: Sequence[Prepared],
        ids: list[str],
    ) -> list[tuple[Any, ...]] | None:
        """After ``error`` with the batch perhaps pending: withdraw it, or find it recorded."""
        psycopg = driver()
        try:
            self.ensure_connected()
            withdrawn = self.conn.execute(WITHDRAW, (batch,)).fetchone() is not None
            found = [] if withdrawn else self.conn.execute(OUTCOME, (batch, ids)).fetchall()
        except (StoreError, psycopg.Error) as e:
            if isinstance(e, psycopg.Error) and not is_lost(e):
                raise translate(error, self.url) from None  # (a role that may not hand over)
            raise StoreUnavailable(
                f"lost the connection to PostgreSQL at {self.name} while appending; whether the "
                "last write was recorded is unknown: check with `trialbook events log` once the "
                "server is back"
            ) from None
        landed = None if withdrawn else self._landed(found, stream_id, prepared)
        if landed is None:
            raise translate(error, self.url) from None  # withdrawn or refused: nothing recorded
        return landed

    @property
    def in_write(self) -> bool:
        return self._depth > 0

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
            if any(e.event_id for e, _, _, _ in prepared):
                existing = self.existing(prepared, stream_id)
                if existing is not None:
                    return existing
            current = self.stream_version(stream_id)
            check_version(stream_id, current, expected_version)
            assert self._head is not None
            rows = chain_rows(stream_id, current, self._head, prepared)
            self.insert_rows(rows)
            recorded = records(rows, prepared)
            if in_transaction is not None:
                in_transaction(conn, recorded)
            return recorded

    def existing(self, prepared: Sequence[Prepared], stream_id: str) -> list[RecordedEvent] | None:
        """The recorded events if this batch was appended before; None if none of it was."""
        ids = [eid for (_, eid, _, _) in prepared]

        def find(conn: Any) -> dict[str, RecordedEvent]:
            cur = conn.execute(f"SELECT {COLUMNS} FROM {EVENTS} WHERE event_id = ANY(%s)", (ids,))
            return {r[1]: RecordedEvent(*r) for r in cur}

        return already_recorded(prepared, stream_id, self.run(find))

    def insert_rows(self, rows: Sequence[Sequence[Any]], *, defer: bool = False) -> None:
        """Insert chained rows inside the write transaction (the head trigger checks they continue it).

        ``defer`` holds a few rows back to be sent with the ``COMMIT``, in one
        round trip (a replica, whose own copy already checked them, appends so);
        any other statement of the transaction sends them first.
        """
        psycopg = driver()
        assert self._depth, "insert_rows belongs inside transaction()"
        if defer and len(rows) + len(self._deferred) <= COPY_ABOVE:
            self._deferred.extend(rows)
        else:
            try:
                self._flush()
                self._insert_now(rows)
            except psycopg.errors.UniqueViolation as e:
                raise self._clash(e) from None
            except psycopg.Error as e:
                raise translate(e, self.url) from None
        last = rows[-1]
        self._written = (int(last[0]), last[1])
        self._head = (int(last[0]), last[10], last[8])
        for r in rows:
            self._versions[r[2]] = int(r[3])

    def _insert_now(self, rows: Sequence[Sequence[Any]]) -> None:
        if len(rows) > COPY_ABOVE:
            with self.conn.cursor().copy(f"COPY {EVENTS} ({COLUMNS}) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(r)
        else:
            values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows))
            self.conn.execute(
                f"INSERT INTO {EVENTS} ({COLUMNS}) VALUES {values}", [v for r in rows for v in r]
            )

    def _flush(self) -> None:
        """Send the deferred rows now (another statement of the transaction comes first)."""
        if self._deferred:
            rows, self._deferred = self._deferred, []
            self._insert_now(rows)

    def _clash(self, e: Any) -> StoreError:
        constraint = getattr(e.diag, "constraint_name", "") or ""
        if constraint == "events_event_id":
            return IdempotencyConflict(
                "an event id in this batch is already recorded elsewhere; event ids must be unique"
            )
        return ConcurrencyError(f"the log at {self.name} moved on while appending; try again")

    def put_blob(self, content: bytes, content_type: str = "application/octet-stream") -> str:
        """Store ``content`` once under its SHA-256 and return the hash (joins a transaction)."""
        import hashlib

        digest = hashlib.sha256(content).hexdigest()
        self.run(
            lambda conn: conn.execute(
                "INSERT INTO trialbook.blobs (hash, size, content_type, content) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (hash) DO NOTHING",
                (digest, len(content), content_type, content),
            )
        )
        return digest

    def get_blob(self, digest: str) -> bytes | None:
        row = self.run(
            lambda conn: conn.execute(
                "SELECT content FROM trialbook.blobs WHERE hash = %s", (digest,)
            ).fetchone()
        )
        return bytes(row[0]) if row else None

    def import_envelopes(
        self,
        rows: Iterable[Sequence[Any]],
        *,
        in_transaction: Callable[[Any, int], None] | None = None,
        batch_size: int = 5_000,
    ) -> tuple[int, int]:
        """Insert pre-hashed envelopes as they are; the rules of ``SQLiteEventStore.import_envelopes``."""
        from trialbook.store.imports import import_rows

        with self.transaction() as conn:
            assert self._head is not None
            head = self._head[0]
            skipped, inserted = import_rows(_ImportInto(self), head, rows, batch_size)
            if inserted and in_transaction is not None:
                in_transaction(conn, head + inserted)
        return skipped, inserted

    # ------------------------------------------------------------------ reading

    def stream_version(self, stream_id: str) -> int:
        if self._depth:
            cached = self._versions.get(stream_id)
            if cached is not None:
                return cached
        row = self.run(
            lambda conn: conn.execute(
                f"SELECT max(version) FROM {EVENTS} WHERE stream_id = %s", (stream_id,)
            ).fetchone()
        )
        version = int(row[0] or 0)
        if self._depth:
            self._versions[stream_id] = version
        return version

    def head(self) -> tuple[int, str]:
        if self._depth and self._head is not None:
            return self._head[0], self._head[1]
        row = self.run(
            lambda conn: conn.execute("SELECT position, hash FROM trialbook.log_head").fetchone()
        )
        return int(row[0]), row[1]

    def read_stream(self, stream_id: str, after_version: int = 0) -> Iterator[RecordedEvent]:
        sql = (
            f"SELECT {COLUMNS} FROM {EVENTS} WHERE stream_id = %s AND version > %s "
            "ORDER BY version LIMIT 1000"
        )
        last = after_version
        while True:
            rows: list[tuple[Any, ...]] = self.run(
                lambda conn: conn.execute(sql, (stream_id, last)).fetchall()  # noqa: B023 - run now
            )
            yield from (RecordedEvent(*r) for r in rows)
            if len(rows) < 1000:
                return
            last = rows[-1][3]

    def read_all(
        self,
        after_position: int = 0,
        *,
        until_position: int | None = None,
        stream_id: str | None = None,
        types: Sequence[str] | None = None,
        batch_size: int = 10_000,
    ) -> Iterator[RecordedEvent]:
        """Events in position order, in batches, up to the head as it was when reading began."""
        for rows in self.raw_batches(
            after_position,
            until_position,
            stream_id=stream_id,
            types=types,
            batch_size=batch_size,
        ):
            yield from (RecordedEvent(*r) for r in rows)

    def raw_batches(
        self,
        after: int,
        until: int | None = None,
        *,
        stream_id: str | None = None,
        types: Sequence[str] | None = None,
        batch_size: int = 10_000,
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Raw rows after ``after`` up to ``until`` (default: the head now), batch by batch.

        Positions up to the head are committed and never change, so reading
        them by key ranges, one query per batch, gives one consistent prefix.
        """
        head = self.head()[0]
        end = head if until is None else min(until, head)
        where = "position > %s AND position <= %s"
        extra: list[Any] = []
        if stream_id is not None:
            where += " AND stream_id = %s"
            extra.append(stream_id)
        if types:
            where += " AND type = ANY(%s)"
            extra.append(list(types))
        sql = f"SELECT {COLUMNS} FROM {EVENTS} WHERE {where} ORDER BY position LIMIT %s"
        last = after
        while last < end:
            rows: list[tuple[Any, ...]] = self.run(
                lambda conn: conn.execute(sql, (last, end, *extra, batch_size)).fetchall()  # noqa: B023 - run now
            )
            if rows:
                yield rows
            if len(rows) < batch_size:
                return
            last = rows[-1][0]

    def get(self, key: int | str) -> RecordedEvent | None:
        column = "position" if isinstance(key, int) else "event_id"
        row = self.run(
            lambda conn: conn.execute(
                f"SELECT {COLUMNS} FROM {EVENTS} WHERE {column} = %s", (key,)
            ).fetchone()
        )
        return RecordedEvent(*row) if row else None

    # ------------------------------------------------------------------ verifying

    def verify(self, *, max_problems: int | None = None) -> Report:
        """Check the log on the server: hash chain, stream versions, the head row and the guards."""
        from trialbook.store.verify import MAX_PROBLEMS, ChainChecker, Problem, Report

        limit = max_problems or MAX_PROBLEMS
        from psycopg.types.string import ByteaBinaryLoader as loader  # text as raw UTF-8 bytes

        sql = (
            "SELECT prev_hash, data, event_id, metadata, position, prev_hash, recorded_at, "
            f"schema_version, stream_id, type, version, hash FROM {EVENTS} "
            "WHERE position > %s ORDER BY position LIMIT %s"
        )

        def check(conn: Any) -> Report:
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                head_row = conn.execute("SELECT position, hash FROM trialbook.log_head").fetchone()
                guards = _guard_problems(conn)
                checker = ChainChecker(max_problems=limit)
                cur = conn.cursor(binary=True)
                cur.adapters.register_loader("text", loader)
                last = 0
                while not checker.full:
                    rows = cur.execute(sql, (last, 500)).fetchall()
                    if not rows:
                        break
                    checker.feed_envelope_rows(rows)
                    last = rows[-1][4]
                    if len(rows) < 500:
                        break
            last_hash = checker.hash.decode("ascii", "replace")
            report = Report(
                events=checker.count,
                head_position=checker.position,
                head_hash=last_hash,
                streams=len(checker.versions),
                problems=sorted(checker.problems, key=lambda p: p.position)[:limit],
            )
            recorded = (int(head_row[0]), head_row[1])
            if not checker.full and recorded != (checker.position, last_hash):
                report.problems.append(
                    Problem(
                        checker.position + 1 if recorded[0] > checker.position else recorded[0],
                        "missing position" if recorded[0] > checker.position else "head mismatch",
                        f"log_head says the log ends at position {recorded[0]} with hash "
                        f"{recorded[1]}, but its last event is position {checker.position} "
                        f"with hash {last_hash} (rows were deleted or the head was edited)",
                    )
                )
            for text in guards:
                report.problems.append(
                    Problem(0, "unguarded file", text + " (the database no longer refuses edits)")
                )
            return report

        return self.run(check)  # type: ignore[no-any-return]


def _owner_key() -> int:
    """A random advisory lock key for a connection's pending batches (not one of the log's)."""
    while True:
        key = secrets.randbits(63)
        if key not in (APPEND_LOCK, MIGRATE_LOCK):
            return key


def _may_combine(conn: Any) -> bool:
    """True if this role may hand batches over and drain them (``trialbook.pending``)."""
    row = conn.execute(
        "SELECT to_regprocedure('trialbook.hand_over(text, text, bigint, text[], text[], "
        "integer[], text[], text[], bigint, bigint, text, bigint[], bigint[], text[], text[], "
        "text[], integer)') IS NOT NULL "
        # the server chains with to_json's escaping and sha256 of UTF-8 text (migration pg005)
        "AND current_setting('server_encoding') = 'UTF8' "
        "AND has_table_privilege('trialbook.pending', 'INSERT') "
        "AND has_table_privilege('trialbook.pending', 'DELETE') "
        "AND has_table_privilege('trialbook.pending', 'SELECT') "
        "AND has_table_privilege('trialbook.events', 'INSERT') "
        "AND NOT current_setting('default_transaction_read_only')::boolean"
    ).fetchone()
    return bool(row[0])


def _has_log(conn: Any) -> bool:
    return conn.execute("SELECT to_regclass('trialbook.log_head')").fetchone()[0] is not None


def _guard_problems(conn: Any) -> list[str]:
    """What is missing from the log's server-side guards: triggers (enabled) and unique keys."""
    out = []
    found = {
        name: (table, enabled, definition)
        for name, table, enabled, definition in conn.execute(
            "SELECT t.tgname, c.relname, t.tgenabled, pg_get_triggerdef(t.oid) FROM pg_trigger t "
            "JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = 'trialbook'::regnamespace "
            "AND NOT t.tgisinternal"
        )
    }
    for name, (table, ops) in GUARD_TRIGGERS.items():
        got = found.get(name)
        if got is None:
            out.append(f"the trigger {name} on {table} is missing")
        elif got[1] == "D":
            out.append(f"the trigger {name} on {table} is disabled")
        elif got[0] != table or not all(op in got[2].upper() for op in ops):
            out.append(
                f"the trigger {name} was replaced by one that does not guard {', '.join(ops)}"
            )
    keys = {
        name: cols
        for name, cols in conn.execute(
            "SELECT con.conname, array_agg(a.attname ORDER BY k.n) FROM pg_constraint con "
            "CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, n) "
            "JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum "
            "WHERE con.conrelid = 'trialbook.events'::regclass AND con.contype IN ('u', 'p') "
            "GROUP BY con.conname"
        )
    }
    for name, columns in UNIQUE_CONSTRAINTS.items():
        if keys.get(name) != columns:
            out.append(f"the unique constraint {name} ({', '.join(columns)}) is missing")
    return out


class _ImportInto:
    """The reads ``store.imports.import_rows`` needs, on the server inside the write transaction."""

    def __init__(self, store: PostgresEventStore) -> None:
        self.store = store
        self.get = store.get

    def _one(self, sql: str, params: Sequence[Any]) -> Any:
        return self.store.run(lambda conn: conn.execute(sql, params).fetchone())

    def hash_at(self, position: int) -> str | None:
        row = self._one(f"SELECT hash FROM {EVENTS} WHERE position = %s", (position,))
        return row[0] if row else None

    def version_before(self, stream_id: str, position: int) -> int:
        row = self._one(
            f"SELECT max(version) FROM {EVENTS} WHERE stream_id = %s AND position < %s",
            (stream_id, position),
        )
        return int(row[0] or 0)

    def hashes_between(self, first: int, last: int) -> dict[int, str]:
        return dict(
            self.store.run(
                lambda conn: conn.execute(
                    f"SELECT position, hash FROM {EVENTS} WHERE position BETWEEN %s AND %s",
                    (first, last),
                ).fetchall()
            )
        )

    def insert_rows(self, rows: Sequence[Sequence[Any]]) -> None:
        from trialbook.store.imports import conflicting_ids

        try:
            self.store.insert_rows(rows)
        except (IdempotencyConflict, ConcurrencyError) as e:
            raise conflicting_ids(rows[0][0], rows[-1][0]) from e


class _PgTransaction:
    """``BEGIN`` + append lock … ``COMMIT`` (``ROLLBACK`` on error); nested uses join the outer one."""

    def __init__(self, store: PostgresEventStore) -> None:
        self.store = store

    def __enter__(self) -> Any:
        store = self.store
        store.lock.acquire()
        if store._depth == 0:
            psycopg = driver()
            try:
                store.ensure_connected()
                store._begin()
            except psycopg.Error as e:
                self._abandon()
                raise translate(e, store.url) from None
            except BaseException:
                self._abandon()
                raise
        store._depth += 1
        return store.conn

    def _abandon(self) -> None:
        store = self.store
        with contextlib.suppress(Exception):  # the connection is gone: the server rolls back
            store._end(commit=False)
        store.lock.release()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        store = self.store
        store._depth -= 1
        try:
            if store._depth == 0:
                psycopg = driver()
                try:
                    store._end(commit=exc_type is None)
                except (psycopg.Error, StoreError):
                    if exc_type is None:
                        raise
        finally:
            store.lock.release()
