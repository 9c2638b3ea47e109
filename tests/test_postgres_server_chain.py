"""The hash chain computed by the server (migration ``pg005_server_chain``) is ``chain_rows``'s.

A handed-over append (``PostgresEventStore.combine``, ``TRIALBOOK_PG_COMBINE=1``) is
chained by PostgreSQL in ``trialbook.chain_events``, with the server's clock for
``recorded_at``; every other path chains in Python (``store.rows.chain_rows``). The
text and hashes must be the same byte for byte for the same input, so a log verifies
and moves between backends whichever path wrote it.
"""

from __future__ import annotations

import secrets
import signal
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.pg import create_database, drop_database, sql, url_for
from tests.store_contract import EventStoreContract, ev
from tests.test_postgres_concurrency import spawn
from trialbook.domain.canonical import GENESIS_HASH
from trialbook.store import postgres, rows
from trialbook.store.base import NewEvent
from trialbook.store.errors import ConcurrencyError, IdempotencyConflict
from trialbook.store.postgres import COLUMNS, EVENTS, PostgresEventStore
from trialbook.store.replica import ReplicatedEventStore
from trialbook.store.rows import chain_rows, prepare
from trialbook.store.sqlite import SQLiteEventStore
from trialbook.store.verify import export_line

pytestmark = pytest.mark.postgres

#: text PostgreSQL can hold (no NUL) and UTF-8 can encode (no lone surrogates)
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()  # beyond 64 bits too
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),  # NUL included: canonical JSON escapes it
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
BATCHES = st.lists(
    st.builds(
        NewEvent,
        type=TEXT.filter(bool),
        data=st.dictionaries(st.text(), JSON, max_size=5),
        schema_version=st.integers(1, 2**31 - 1),
        metadata=st.dictionaries(st.text(), JSON, max_size=3),
        event_id=st.none() | TEXT.filter(bool),
    ),
    min_size=1,
    max_size=5,
    unique_by=lambda e: e.event_id or id(e),
)


@pytest.fixture(scope="module")
def log_url() -> Iterator[str]:
    """One database for the property tests (hypothesis runs many examples in one test)."""
    name = create_database()
    try:
        url = url_for(name)
        PostgresEventStore(url).close()  # migrated
        yield url
    finally:
        drop_database(name)


@pytest.fixture(scope="module")
def conn(log_url: str) -> Iterator[Any]:
    import psycopg

    with psycopg.connect(log_url, autocommit=True) as c:
        yield c


def chain_at(
    stream: str, current: int, head: tuple[int, str], prepared: Any, at: str
) -> list[tuple[Any, ...]]:
    """``chain_rows`` with its clock reading ``at``."""
    clock, rows.utc_now = rows.utc_now, lambda: at
    try:
        return [tuple(r) for r in chain_rows(stream, current, (*head, ""), prepared)]
    finally:
        rows.utc_now = clock


@pytest.fixture
def combining(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres, "COMBINE", True)
    monkeypatch.setenv("TRIALBOOK_PG_COMBINE", "1")


def server_chain(
    conn: Any, stream: str, version: int, head: tuple[int, str, str], prepared: Any, at: str
) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT * FROM trialbook.chain_events(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            stream,
            version,
            head[0],
            head[1],
            at,
            [eid for _, eid, _, _ in prepared],
            [e.type for e, _, _, _ in prepared],
            [e.schema_version for e, _, _, _ in prepared],
            [d for _, _, d, _ in prepared],
            [m for _, _, _, m in prepared],
        ),
    ).fetchall()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    stream=TEXT,
    version=st.integers(0, 2**40),
    position=st.integers(0, 2**40),
    prev_hash=st.sampled_from([GENESIS_HASH, "ab" * 32]) | TEXT,
    events=BATCHES,
)
def test_the_servers_chain_is_chain_rows_byte_for_byte(
    conn: Any, stream: str, version: int, position: int, prev_hash: str, events: Any
) -> None:
    prepared = prepare(events)
    ours = chain_rows(stream, version, (position, prev_hash, ""), prepared)
    theirs = server_chain(conn, stream, version, (position, prev_hash, ""), prepared, ours[0][8])
    assert theirs == [tuple(r) for r in ours]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(st.tuples(TEXT, BATCHES), min_size=1, max_size=4))
def test_a_log_handed_over_verifies_and_each_row_is_chain_rows_of_it(
    log_url: str, batches: Any, combining: None
) -> None:
    with PostgresEventStore(log_url) as log:
        assert log.combining
        start = log.head()[0]
        for stream, events in batches:
            prepared = prepare(events)
            before = log.head()
            head_row = log.get(before[0]) if before[0] else None
            try:
                got = log.combine(stream, None, prepared)
            except IdempotencyConflict:  # an id an earlier example recorded otherwise
                continue
            if got is None or got[0][0] <= before[0]:
                continue  # the same events recorded by an earlier example: the originals
            at = got[0][8]
            assert at >= (head_row.recorded_at if head_row else "")
            current = int(got[0][3]) - 1
            assert got == chain_at(stream, current, before, prepared, at)
        assert log.verify().ok
        # the server's rows are what the log holds, and a SQLite file importing them agrees
        assert log.head()[0] >= start


def test_a_log_written_by_both_paths_moves_to_sqlite_byte_for_byte(
    pg_url: str, tmp_path: Path, combining: None
) -> None:
    events = [
        NewEvent("Thing", {"n": 10**30, "s": 'é\u2028"\\\n', "deep": [[{"x": [None, 1.5e-7]}]]}),
        NewEvent('T"\t☃', {}, metadata={"actor": "ü"}),
    ]
    with PostgresEventStore(pg_url) as log:
        log.append("lock-path", 0, events[:1])
        assert log.combine('hand "over"\x01', 0, prepare(events)) is not None
        log.append("lock-path", 1, events[1:])
        assert log.combine('hand "over"\x01', 2, prepare(events[:1])) is not None
        assert log.verify().ok
        lines = [export_line(r) for r in sql(pg_url, f"SELECT {COLUMNS} FROM {EVENTS} ORDER BY 1")]
        head = log.head()
    with SQLiteEventStore(tmp_path / "copy.db") as copy:
        from trialbook.store.verify import parse_line

        copy.import_envelopes(parse_line(t) for t in lines)
        assert copy.head() == head
        assert copy.verify().ok
        copied = copy.conn.execute(f"SELECT {COLUMNS} FROM events ORDER BY 1").fetchall()
        assert [export_line(r) for r in copied] == lines


class TestServerClock:
    def test_a_handed_over_append_is_recorded_at_the_servers_time(
        self, pg_url: str, combining: None
    ) -> None:
        with PostgresEventStore(pg_url) as log:
            before = sql(pg_url, "SELECT trialbook.utc_now()")[0][0]
            got = log.combine("s", 0, prepare([ev(1), ev(2)]))
            after = sql(pg_url, "SELECT trialbook.utc_now()")[0][0]
            assert got is not None
            assert before <= got[0][8] == got[1][8] <= after
            assert len(got[0][8]) == len(rows.utc_now())  # the same fixed-width text

    def test_it_never_goes_before_the_heads_recorded_at(
        self, pg_url: str, combining: None, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with PostgresEventStore(pg_url) as log:
            # a client whose clock runs ahead appends on the lock path
            monkeypatch.setattr(rows, "utc_now", lambda: "2999-01-01T00:00:00.000000Z")
            log.append("s", 0, [ev(1)])
            monkeypatch.undo()
            monkeypatch.setattr(postgres, "COMBINE", True)
            got = log.combine("s", 1, prepare([ev(2)]))
            assert got is not None and got[0][8] == "2999-01-01T00:00:00.000000Z"
            times = [e.recorded_at for e in log.read_all()]
            assert times == sorted(times)


def test_a_role_with_the_documented_grants_hands_over(
    pg_url: str, pg_database: str, combining: None
) -> None:
    PostgresEventStore(pg_url).close()  # the owner creates the schema
    role = f"tb_writer_{secrets.token_hex(4)}"
    sql(pg_url, f"CREATE ROLE {role} LOGIN")
    try:
        for grant in (  # docs/postgres.md, Roles
            f"GRANT USAGE ON SCHEMA trialbook TO {role}",
            f"GRANT SELECT, INSERT ON trialbook.events, trialbook.blobs TO {role}",
            f"GRANT SELECT ON trialbook.log_head, trialbook.migrations TO {role}",
            f"GRANT SELECT, INSERT, DELETE ON trialbook.pending TO {role}",
        ):
            sql(pg_url, grant)
        with PostgresEventStore(url_for(pg_database, user=role)) as s:
            assert s.combining
            assert s.combine("s", 0, prepare([ev(1)])) is not None
            with s.transaction():  # the lock path's holder drains too
                s.append("s", 1, [ev(2)])
            assert s.verify().ok and s.head()[0] == 2
    finally:
        sql(pg_url, f"DROP OWNED BY {role}")
        sql(pg_url, f"DROP ROLE {role}")


class _CommandAppends(ReplicatedEventStore):
    """Every append outside a transaction goes through ``command_transaction`` (as
    ``Ledger.execute``'s do), so it is handed over and chained by the server."""

    def append(self, stream_id: str, expected_version: Any, events: Any, **kw: Any) -> Any:
        if self._depth:
            return super().append(stream_id, expected_version, events, **kw)
        self._locked_next = 0  # (a refusal would send the next ones down the lock path)
        with self.command_transaction():
            assert self._combining
            return super().append(stream_id, expected_version, events, **kw)


class TestHandedOverContract(EventStoreContract):
    @pytest.fixture
    def store(self, pg_url: str, tmp_path: Path, combining: None) -> Iterator[Any]:
        s = _CommandAppends(pg_url, cache=tmp_path / "replica.db")
        assert s.remote.combining
        yield s
        assert s.verify().ok
        s.close()

    def test_a_failure_inside_the_transaction_appends_nothing(self, store: Any) -> None:
        """Handed over, the log commits before the replica folds: a fold that fails leaves the
        events recorded (the caller sees the error) and the replica behind, catching up on
        its next read (docs/postgres.md, "Handing appends over")."""

        def explode(conn: Any, recorded: Any) -> None:
            raise RuntimeError("projection failed")

        with pytest.raises(RuntimeError):
            store.append("s", 0, [ev(1), ev(2)], in_transaction=explode)
        assert store.remote.head()[0] == 2
        assert store.head()[0] == 2  # caught up
        assert list(store.read_all()) == list(store.remote.read_all())
        with pytest.raises(ConcurrencyError, match="another writer"):
            store.append("s", 0, [ev(3)])
        assert store.append("s", 2, [ev(3)])[0].position == 3


HOLDER = textwrap.dedent(
    """
    import sys
    from trialbook.store.base import NewEvent
    from trialbook.store.postgres import PostgresEventStore
    from trialbook.store.rows import prepare

    log = PostgresEventStore(sys.argv[1])
    print(log.conn.info.backend_pid, flush=True)
    log.combine("killed", 0, prepare([NewEvent("Thing", {"n": 1})]))
    print("acknowledged", flush=True)
    """
)


def activity(url: str, pid: int) -> str:
    rows = sql(url, "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,))
    return str(rows[0][0]) if rows else "gone"


def test_kill_9_of_the_holder_mid_drain_loses_nothing_acknowledged_and_writes_nothing_half(
    pg_url: str, tmp_path: Path, combining: None
) -> None:
    """The lock's holder is stopped inside its drain (a row of ``pending`` it must delete is
    locked), others' batches handed over and waiting; the holder is killed with SIGKILL and
    the server ends its session: its transaction is rolled back whole, the batches it had
    taken are pending again, and their writers append them."""
    with PostgresEventStore(pg_url) as blocker:
        # a batch no drain accepts (decided on a version its stream is not at), kept locked
        blocker.run(lambda c: c.execute(postgres.OWN, (7,)))
        sql(
            pg_url,
            "INSERT INTO trialbook.pending VALUES ('0-blocker', 'b', 99, '{x}', '{T}', '{1}', "
            "'{\"{}\"}', '{\"{}\"}', 7)",
        )
        blocker.conn.execute("BEGIN")
        blocker.conn.execute("SELECT 1 FROM trialbook.pending FOR UPDATE")
        holder = spawn(HOLDER, pg_url, cache=tmp_path / "c")
        assert holder.stdout is not None
        pid = int(holder.stdout.readline())
        wait_until(lambda: activity(pg_url, pid) == "Lock")  # in its drain, holding the lock
        with PostgresEventStore(pg_url) as a, PostgresEventStore(pg_url) as b:
            outs: list[Any] = []
            threads = [
                threading.Thread(
                    target=lambda s=s, n=n: outs.append(s.combine(n, 0, prepare([ev(1)])))
                )
                for s, n in ((a, "a"), (b, "b"))
            ]
            for t in threads:
                t.start()
            wait_until(lambda: pending_count(pg_url) == 3)  # handed over, waiting for the holder
            holder.send_signal(signal.SIGKILL)
            holder.wait()
            # blocked on a lock, its backend notices the closed socket only once it runs on
            # (and would then commit what it drained, never acknowledged): end it as the
            # server does when it sees the socket closed
            sql(pg_url, "SELECT pg_terminate_backend(%s)", (pid,))
            wait_until(lambda: activity(pg_url, pid) == "gone")
            assert sql(pg_url, "SELECT count(*) FROM trialbook.events") == [(0,)]  # rolled back
            blocker.conn.execute("ROLLBACK")
            for t in threads:
                t.join(20)
            assert all(o is not None for o in outs), outs  # appended by one of their writers
        out = holder.stdout.read()
        holder.stdout.close()
        holder.stderr.close()  # type: ignore[union-attr]
        assert "acknowledged" not in out
        assert sorted(e.stream_id for e in blocker.read_all()) == ["a", "b"]
        assert blocker.verify().ok
        assert pending_count(pg_url) == 0  # the blocker's batch refused and dropped


def pending_count(url: str) -> int:
    return int(sql(url, "SELECT count(*) FROM trialbook.pending")[0][0])


def wait_until(check: Any, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
