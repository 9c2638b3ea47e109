"""The SQLite backend: the shared contract plus what only SQLite files can do wrong."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.store_contract import EventStoreContract, ev
from trialbook.store.errors import AppendOnlyViolation, NotATrialbookDatabase, StoreUnavailable
from trialbook.store.sqlite import SQLiteEventStore


@pytest.fixture
def store(tmp_path: Path):
    s = SQLiteEventStore(tmp_path / "log.db")
    yield s
    s.close()


class TestSQLiteContract(EventStoreContract):
    pass


class TestOpening:
    def test_a_new_file_gets_wal_full_sync_and_the_application_id(self, tmp_path: Path) -> None:
        with SQLiteEventStore(tmp_path / "a.db") as s:
            assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert s.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
            assert s.conn.execute("PRAGMA application_id").fetchone()[0] == 0x54424B31

    def test_reopening_applies_no_migration_twice(self, tmp_path: Path) -> None:
        with SQLiteEventStore(tmp_path / "a.db") as s:
            s.append("s", 0, [ev(1)])
        with SQLiteEventStore(tmp_path / "a.db") as s:
            names = [r[0] for r in s.conn.execute("SELECT name FROM _trialbook_migrations")]
            assert len(names) == len(set(names)) and "m001_events" in names
            assert s.head()[0] == 1

    def test_a_text_file_is_not_a_trialbook_database(self, tmp_path: Path) -> None:
        p = tmp_path / "notes.db"
        p.write_text("hello, this is not SQLite\n")
        with pytest.raises(NotATrialbookDatabase, match="not a trialbook database"):
            SQLiteEventStore(p)
        assert p.read_text() == "hello, this is not SQLite\n"

    def test_another_sqlite_database_is_refused_untouched(self, tmp_path: Path) -> None:
        p = tmp_path / "other.db"
        conn = sqlite3.connect(p)
        conn.execute("CREATE TABLE people (name TEXT)")
        conn.commit()
        conn.close()
        with pytest.raises(NotATrialbookDatabase, match="SQLite database but not a trialbook"):
            SQLiteEventStore(p)
        conn = sqlite3.connect(p)
        tables = conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
        conn.close()
        assert tables == [("people",)]

    def test_a_missing_directory_is_named(self, tmp_path: Path) -> None:
        with pytest.raises(StoreUnavailable, match="does not exist; create it"):
            SQLiteEventStore(tmp_path / "nope" / "a.db")

    def test_a_directory_path_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(StoreUnavailable, match="is a directory"):
            SQLiteEventStore(tmp_path)


class TestAppendOnly:
    def test_updates_and_deletes_of_events_are_refused_by_the_engine(
        self, store: SQLiteEventStore
    ) -> None:
        store.append("s", 0, [ev(1)])
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            store.conn.execute("UPDATE events SET data = '{}'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            store.conn.execute("DELETE FROM events")
        assert store.get(1).data == {"n": 1}

    def test_the_refusal_is_translated_at_the_boundary(self, store: SQLiteEventStore) -> None:
        from trialbook.store.sqlite import translate

        store.append("s", 0, [ev(1)])
        try:
            store.conn.execute("DELETE FROM events")
        except sqlite3.Error as e:
            assert isinstance(translate(e, store.path), AppendOnlyViolation)

    def test_blobs_are_stored_once_by_content(self, store: SQLiteEventStore) -> None:
        h1 = store.put_blob(b"trace" * 1000)
        h2 = store.put_blob(b"trace" * 1000)
        assert h1 == h2 and store.get_blob(h1) == b"trace" * 1000
        assert store.conn.execute("SELECT count(*) FROM blobs").fetchone()[0] == 1
        with pytest.raises(sqlite3.IntegrityError):
            store.conn.execute("DELETE FROM blobs")


WRITER = textwrap.dedent(
    """
    import sys
    from trialbook.store.sqlite import SQLiteEventStore
    from trialbook.store.base import NewEvent
    s = SQLiteEventStore(sys.argv[1])
    run = int(sys.argv[2])
    i = 0
    while True:
        s.append("crash", None, [NewEvent("Tick", {"i": i, "run": run})])
        print(i, flush=True)   # acknowledged only after the commit returned
        i += 1
    """
)


def test_every_acknowledged_append_survives_a_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    for run in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(run)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).parent.parent,
        )
        acked = []
        assert proc.stdout is not None
        for line in proc.stdout:
            acked.append(int(line))
            if len(acked) >= 40:
                break
        proc.kill()  # SIGKILL: no cleanup, no atexit
        proc.wait()
        proc.stdout.close()
        s = SQLiteEventStore(path)
        stored = [e.data["i"] for e in s.read_all(stream_id="crash") if e.data["run"] == run]
        # everything acknowledged in this run is there, once, in order, whole and chained (the
        # writer may have appended more than was read before the kill: its pipe runs ahead)
        assert stored[: len(acked)] == acked and stored == list(range(len(stored)))
        prev = None
        for e in s.read_all():
            assert e.hash == e.expected_hash()
            assert prev is None or e.prev_hash == prev
            prev = e.hash
        s.close()
