"""Writers that find the append lock taken hand their batch to its holder: one commit for several.

``PostgresEventStore.combine`` and ``ReplicatedEventStore.command_transaction``
(what ``Ledger.execute`` uses): the batch waits in ``trialbook.pending`` until
the lock's holder drains it into its own commit, after checking the stream's
version and the ids under the lock. These tests hold the lock in one
connection and hand batches over from others, so what shares a commit is
certain, not timing.
"""

from __future__ import annotations

import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.pg import sql, wait_for_sessions_to_end
from tests.test_postgres_concurrency import spawn
from trialbook.domain import ab
from trialbook.domain.commands import build
from trialbook.ledger import Ledger
from trialbook.store import postgres
from trialbook.store.base import NewEvent
from trialbook.store.errors import ConcurrencyError, IdempotencyConflict, StoreUnavailable
from trialbook.store.postgres import PostgresEventStore
from trialbook.store.replica import LOCKED_AFTER_REFUSAL, ReplicatedEventStore, _ReplicaTransaction
from trialbook.store.rows import prepare

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def combining(monkeypatch: pytest.MonkeyPatch) -> None:
    """Command transactions hand their appends over (off by default: see ``postgres.COMBINE``)."""
    monkeypatch.setattr(postgres, "COMBINE", True)
    monkeypatch.setenv("TRIALBOOK_PG_COMBINE", "1")  # and in the writer processes


def ev(n: int, event_id: str | None = None) -> NewEvent:
    return NewEvent("Thing", {"n": n}, event_id=event_id)


def in_thread(fn: Any) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as e:  # handed to the test
            out["error"] = e

    t = threading.Thread(target=run)
    t.start()
    return t, out


def pending(url: str) -> int:
    return int(sql(url, "SELECT count(*) FROM trialbook.pending")[0][0])


def wait_until(check: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


class TestHandingOver:
    def test_batches_handed_over_land_in_the_lock_holders_commit(self, pg_url: str) -> None:
        with (
            PostgresEventStore(pg_url) as holder,
            PostgresEventStore(pg_url) as a,
            PostgresEventStore(pg_url) as b,
        ):
            if True:
                with holder.transaction():
                    holder.append("h", 0, [ev(0)])
                    ta, ra = in_thread(lambda: a.combine("a", 0, prepare([ev(1), ev(2)])))
                    tb, rb = in_thread(lambda: b.combine("b", 0, prepare([ev(3)])))
                    wait_until(lambda: pending(pg_url) == 2)
                    time.sleep(0.05)
                    assert ta.is_alive() and tb.is_alive()  # waiting for the holder's commit
                ta.join(10)
                tb.join(10)
        assert "error" not in ra and "error" not in rb, (ra, rb)
        got = sorted([r[0], r[2], r[3]] for r in ra["value"] + rb["value"])
        assert [g[0] for g in got] == [2, 3, 4]
        assert sorted((g[1], g[2]) for g in got) == [("a", 1), ("a", 2), ("b", 1)]
        assert pending(pg_url) == 0
        with PostgresEventStore(pg_url) as log:
            assert log.verify().ok

    def test_a_writer_finding_the_lock_free_commits_its_own_batch(self, pg_url: str) -> None:
        with PostgresEventStore(pg_url) as log:
            rows = log.combine("s", 0, prepare([ev(1)]))
            assert rows is not None and [(r[0], r[3]) for r in rows] == [(1, 1)]
            assert [e.data["n"] for e in log.read_all()] == [1]
            assert log.verify().ok
        assert pending(pg_url) == 0

    def test_a_batch_decided_on_a_stale_version_is_refused_and_nothing_is_left(
        self, pg_url: str
    ) -> None:
        with PostgresEventStore(pg_url) as log, PostgresEventStore(pg_url) as other:
            log.append("s", 0, [ev(1)])
            assert log.combine("s", 0, prepare([ev(2)])) is None
            with log.transaction():
                log.append("t", 0, [ev(3)])
                t, out = in_thread(lambda: other.combine("s", 0, prepare([ev(4)])))
                wait_until(lambda: pending(pg_url) == 1)
            t.join(10)
            assert out == {"value": None}  # refused by the holder, under the lock
            assert [e.data["n"] for e in log.read_all()] == [1, 3]
        assert pending(pg_url) == 0

    def test_ids_already_in_the_log_return_the_original_events(self, pg_url: str) -> None:
        with PostgresEventStore(pg_url) as log:
            first = log.append("s", 0, [ev(1, "id-1")])
            again = log.combine("s", 0, prepare([ev(1, "id-1")]))
            assert again is not None and [r[0] for r in again] == [first[0].position]
            with pytest.raises(IdempotencyConflict):
                log.combine("s", 1, prepare([ev(2, "id-1")]))
            assert [e.data["n"] for e in log.read_all()] == [1]

    def test_two_batches_with_one_id_in_one_drain_append_it_once(self, pg_url: str) -> None:
        with (
            PostgresEventStore(pg_url) as holder,
            PostgresEventStore(pg_url) as a,
            PostgresEventStore(pg_url) as b,
        ):
            if True:
                with holder.transaction():
                    holder.append("h", 0, [ev(0)])
                    ta, ra = in_thread(lambda: a.combine("x", 0, prepare([ev(1, "same")])))
                    wait_until(lambda: pending(pg_url) == 1)
                    tb, rb = in_thread(lambda: b.combine("y", 0, prepare([ev(1, "same")])))
                    wait_until(lambda: pending(pg_url) == 2)
                ta.join(10)
                tb.join(10)
        outcomes = [r.get("value", r.get("error")) for r in (ra, rb)]
        # one is appended; the other is refused (None) or, the id being in the log by then,
        # an IdempotencyConflict (it names another stream)
        landed = [o for o in outcomes if isinstance(o, list)]
        assert len(landed) == 1, outcomes
        assert all(
            o is None or isinstance(o, IdempotencyConflict) for o in outcomes if o not in landed
        )
        assert sql(pg_url, "SELECT count(*) FROM trialbook.events WHERE event_id = 'same'") == [
            (1,)
        ]

    def test_a_connection_lost_while_waiting_withdraws_the_batch(self, pg_url: str) -> None:
        with PostgresEventStore(pg_url) as holder, PostgresEventStore(pg_url) as other:
            pid = other.conn.info.backend_pid
            with holder.transaction():
                holder.append("h", 0, [ev(0)])
                t, out = in_thread(lambda: other.combine("s", 0, prepare([ev(1)])))
                wait_until(lambda: pending(pg_url) == 1)
                sql(pg_url, f"SELECT pg_terminate_backend({pid})")
                t.join(10)
                # withdrawn before the holder commits: the holder's drain cannot append it
                assert pending(pg_url) == 0
            assert isinstance(out.get("error"), StoreUnavailable), out
            assert "nothing was recorded" in str(out["error"])
            assert [e.stream_id for e in holder.read_all()] == ["h"]

    def test_a_killed_writers_batch_is_dropped_not_appended_by_the_next_holder(
        self, pg_url: str, tmp_path: Path
    ) -> None:
        with PostgresEventStore(pg_url) as holder:
            with holder.transaction():
                holder.append("h", 0, [ev(0)])
                writer = spawn(HAND_OVER, pg_url, cache=tmp_path / "c")
                wait_until(lambda: pending(pg_url) == 1)  # handed over, waiting for our commit
                writer.kill()  # SIGKILL: it withdraws nothing
                writer.wait()
                for stream in (writer.stdout, writer.stderr):
                    stream.close()  # type: ignore[union-attr]
                # its session waits for our lock, so the server would notice the closed socket
                # only when it is granted; ending it now is what the server then does
                mine = holder.conn.info.backend_pid
                sql(
                    pg_url,
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                    f"datname = current_database() AND pid NOT IN ({mine}, pg_backend_pid())",
                )
                wait_until(lambda: sessions(pg_url) == 1)  # only ours
                assert pending(pg_url) == 1
            # the commit drained it, and dropped it: nobody waits for it, nothing acknowledged it
            assert [e.stream_id for e in holder.read_all()] == ["h"]
            assert pending(pg_url) == 0
            assert holder.verify().ok

    def test_a_live_writers_batch_is_taken_whoever_drains(self, pg_url: str) -> None:
        # a writer's session lock marks its batch live; a drainer that is itself a writer
        # (whose own lock cannot be probed from its own session) takes its own batch too
        with PostgresEventStore(pg_url) as a, PostgresEventStore(pg_url) as b:
            assert a.combine("a", 0, prepare([ev(1)])) is not None  # a's lock is now held
            with b.transaction():
                b.append("b", 0, [ev(2)])
                t, out = in_thread(lambda: a.combine("a", 1, prepare([ev(3)])))
                wait_until(lambda: pending(pg_url) == 1)
            t.join(10)
            assert "error" not in out and out["value"] is not None, out
            assert [(e.stream_id, e.version) for e in a.read_all()] == [
                ("a", 1),
                ("b", 1),
                ("a", 2),
            ]


HAND_OVER = textwrap.dedent(
    """
    import sys
    from trialbook.store.base import NewEvent
    from trialbook.store.postgres import PostgresEventStore
    from trialbook.store.rows import prepare

    PostgresEventStore(sys.argv[1]).combine("dead", 0, prepare([NewEvent("Thing", {"n": 1})]))
    """
)


def sessions(url: str) -> int:
    """Sessions connected to the database of ``url`` (this one not counted)."""
    return int(
        sql(
            url,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()",
        )[0][0]
    )


class TestCommandTransactions:
    def test_a_moved_stream_is_decided_again_holding_the_lock(
        self, pg_url: str, tmp_path: Path
    ) -> None:
        with ReplicatedEventStore(pg_url, cache=tmp_path / "a.db") as store:
            store.append("s", 0, [ev(1)])
            with pytest.raises(ConcurrencyError), store.command_transaction():
                store.append("s", 0, [ev(2)])  # decided on version 0: refused under the lock
            again = store.command_transaction()
            assert isinstance(again, _ReplicaTransaction)
            with again:
                assert store.stream_version("s") == 1
                store.append("s", 1, [ev(2)])
            assert [e.data["n"] for e in store.read_all()] == [1, 2]
            # a hot stream's writers would refuse each other again: a while on the lock path
            for _ in range(LOCKED_AFTER_REFUSAL - 1):
                assert isinstance(store.command_transaction(), _ReplicaTransaction)
            assert not isinstance(store.command_transaction(), _ReplicaTransaction)
        assert pending(pg_url) == 0

    def test_a_decision_sees_its_stream_moved_by_another_machine(
        self, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "m1"))
        with Ledger(pg_url) as ledger:
            ledger.execute(build(ab.CreateTest, name="t", variants=("a", "b")))
            monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "m2"))
            with Ledger(pg_url) as other:
                other.execute(
                    build(ab.AddResults, test="t", results=(ab.ResultFields(variant="a"),))
                )
            # its replica is behind on the test's stream, and its cached state too
            recorded = ledger.execute(
                build(ab.AddResults, test="t", results=(ab.ResultFields(variant="b"),))
            )
            assert [e.version for e in recorded] == [3]
            rows = ledger.conn.execute(
                "SELECT variant, results FROM ab_variants WHERE test = 't' ORDER BY 1"
            ).fetchall()
            assert rows == [("a", 1), ("b", 1)]

    def test_inside_another_transaction_it_joins_it(self, pg_url: str, tmp_path: Path) -> None:
        with ReplicatedEventStore(pg_url, cache=tmp_path / "a.db") as store:
            with store.transaction():
                with store.command_transaction():
                    store.append("s", 0, [ev(1)])
                store.append("s", 1, [ev(2)])
            assert [e.version for e in store.read_all()] == [1, 2]

    def test_the_replica_folds_what_was_handed_over_and_reads_its_own_writes(
        self, pg_url: str, tmp_path: Path
    ) -> None:
        with Ledger(pg_url) as ledger:
            ledger.execute(build(ab.CreateTest, name="t", variants=("a", "b")))
            for i in range(5):
                ledger.execute(
                    build(
                        ab.AddResults,
                        test="t",
                        results=(ab.ResultFields(variant="ab"[i % 2], tool_calls=i),),
                    )
                )
            folded = ledger.conn.execute(
                "SELECT variant, results FROM ab_variants WHERE test = 't' ORDER BY 1"
            ).fetchall()
            assert folded == [("a", 3), ("b", 2)]
            replica = ledger.conn.execute("SELECT * FROM events ORDER BY position").fetchall()
            assert replica == sql(pg_url, "SELECT * FROM trialbook.events ORDER BY position")

    def test_a_role_that_may_not_hand_over_appends_holding_the_lock(
        self, pg_url: str, tmp_path: Path
    ) -> None:
        with ReplicatedEventStore(pg_url, cache=tmp_path / "a.db") as store:
            store.remote.combining = False
            assert isinstance(store.command_transaction(), _ReplicaTransaction)
            with store.command_transaction():
                store.append("s", 0, [ev(1)])
            assert store.remote.head()[0] == 1


COMMAND_WRITER = textwrap.dedent(
    """
    import sys
    from trialbook.domain import ab
    from trialbook.domain.commands import build
    from trialbook.ledger import Ledger

    ledger = Ledger(sys.argv[1])
    test, prefix = sys.argv[2], sys.argv[3]
    i = 0
    while True:
        result = ab.ResultFields(variant="ab"[i % 2], session_id=f"{prefix}-{i}")
        ledger.execute(build(ab.AddResults, test=test, results=(result,)))
        print(f"{prefix}-{i}", flush=True)  # acknowledged only after execute returned
        i += 1
    """
)


@pytest.mark.slow
def test_kill_9_of_command_writers_loses_nothing_acknowledged(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tests = [f"t{w}" for w in range(4)]
    with Ledger(pg_url) as setup:
        for t in tests:
            setup.execute(build(ab.CreateTest, name=t, variants=("a", "b")))
    acked: dict[str, list[str]] = {}
    # two share a replica (one machine), two have one each
    caches = [tmp_path / "m0", tmp_path / "m0", tmp_path / "m1", tmp_path / "m2"]
    for round_ in range(2):
        prefixes = [f"{t}-r{round_}" for t in tests]
        procs = [
            spawn(COMMAND_WRITER, pg_url, t, p, cache=c)
            for t, p, c in zip(tests, prefixes, caches, strict=True)
        ]
        for p, proc in zip(prefixes, procs, strict=True):
            assert proc.stdout is not None
            got = acked.setdefault(p, [])
            for line in proc.stdout:
                got.append(line.strip())
                if len(got) >= 12:
                    break
        for proc in procs:
            proc.kill()  # SIGKILL: no cleanup; some are waiting for a holder's commit
        for p, proc in zip(prefixes, procs, strict=True):
            proc.wait()
            rest = proc.stdout.read()  # type: ignore[union-attr]
            acked[p] += [x.strip() for x in rest.split("\n") if x.strip()]
            proc.stdout.close()  # type: ignore[union-attr]
            proc.stderr.close()  # type: ignore[union-attr]
    # the killed writers' sessions end once the server sees their sockets closed; a batch
    # handed over before that may still land (in flight, like a COMMIT sent), none after
    wait_for_sessions_to_end(pg_url)
    with PostgresEventStore(pg_url) as log:
        assert log.verify().ok
        stored = [e.data["session_id"] for e in log.read_all() if e.type == "ResultAdded"]
        for p, got in acked.items():
            mine = [s for s in stored if s.rsplit("-", 1)[0] == p]
            # every acknowledged append is there, once, in order; at most one beyond (in flight)
            assert mine[: len(got)] == got and len(mine) - len(got) in (0, 1), p
        remote = list(log.read_all())
    query = "SELECT test, variant, results FROM ab_variants ORDER BY 1, 2"
    for cache in ("m0", "m1"):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / cache))
        with Ledger(pg_url) as ledger:
            assert list(ledger.store.read_all()) == remote
            incremental = ledger.conn.execute(query).fetchall()
            ledger.rebuild_projections()  # its commit drains what is pending: dead writers' batches
            assert ledger.conn.execute(query).fetchall() == incremental
            assert list(ledger.store.read_all()) == remote  # … which are dropped, not appended
    assert pending(pg_url) == 0


@pytest.mark.slow
def test_8_processes_of_4_threads_handing_over_lose_and_duplicate_nothing(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The concurrency test of the lock path, with every Ledger.execute handing over."""
    from tests.test_postgres_concurrency import (
        test_8_processes_of_4_threads_lose_and_duplicate_nothing,
    )

    test_8_processes_of_4_threads_lose_and_duplicate_nothing(pg_url, tmp_path, monkeypatch)
