"""Issue #22, store: an insert may not replace an event (``INSERT OR REPLACE`` deletes without
firing the delete trigger), while appends, idempotent re-appends and ``events import`` still work."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import Invoke, count_events
from trialbook.store.base import NewEvent
from trialbook.store.errors import IdempotencyConflict
from trialbook.store.sqlite import SQLiteEventStore


@pytest.fixture
def log(tmp_path: Path) -> Path:
    """A log with three events of stream ``s`` (the first with event id ``id-1``)."""
    path = tmp_path / "log.db"
    with SQLiteEventStore(path) as store:
        store.append("s", 0, [NewEvent("T", {"x": 1}, event_id="id-1")])
        store.append("s", 1, [NewEvent("T", {"x": 2}), NewEvent("T", {"x": 3})])
    return path


def rows(path: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT * FROM events ORDER BY position").fetchall()
    finally:
        conn.close()


def replacing(path: Path, sql: str, change: dict[str, object]) -> None:
    """Run ``sql`` with the values of the row at position 1, changed as ``change`` says."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.row_factory = sqlite3.Row
        row = dict(conn.execute("SELECT * FROM events WHERE position = 1").fetchone())
        row.update({"data": '{"x":666}', **change})
        conn.execute(sql.format(", ".join("?" * len(row))), tuple(row.values()))
    finally:
        conn.close()


class TestInsertsCannotReplace:
    @pytest.mark.parametrize(
        "sql",
        [
            "INSERT OR REPLACE INTO events VALUES ({})",
            "REPLACE INTO events VALUES ({})",
        ],
    )
    @pytest.mark.parametrize(
        "change,taken",
        [
            ({}, "an event is already recorded at this position"),
            ({"position": 99, "version": 99}, "this event_id is already recorded"),
            ({"position": 99, "event_id": "fresh"}, "this stream version is already recorded"),
        ],
        ids=["same position", "same event id", "same stream version"],
    )
    def test_with_raw_sqlite3_the_row_is_kept(
        self, log: Path, sql: str, change: dict[str, object], taken: str
    ) -> None:
        before = rows(log)
        with pytest.raises(sqlite3.IntegrityError, match=f"append-only: {taken}"):
            replacing(log, sql, change)
        assert rows(log) == before

    def test_a_file_from_before_the_guard_gets_it_when_opened(self, log: Path) -> None:
        conn = sqlite3.connect(log, isolation_level=None)
        conn.execute("DROP TRIGGER events_append_only_insert")
        conn.execute("DELETE FROM _trialbook_migrations WHERE name = 'm004_events_insert_guard'")
        replacing(log, "INSERT OR REPLACE INTO events VALUES ({})", {})  # unguarded: it goes in
        conn.close()
        SQLiteEventStore(log).close()
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            replacing(log, "INSERT OR REPLACE INTO events VALUES ({})", {"data": "{}"})


class TestAppendsStillWork:
    def test_appends_and_idempotent_re_appends(self, log: Path) -> None:
        with SQLiteEventStore(log) as store:
            again = store.append("s", None, [NewEvent("T", {"x": 1}, event_id="id-1")])
            assert [e.position for e in again] == [1]
            with pytest.raises(IdempotencyConflict, match="different content"):
                store.append("s", None, [NewEvent("T", {"x": 9}, event_id="id-1")])
            (new,) = store.append("s", 3, [NewEvent("T", {"x": 4}, event_id="id-4")])
            assert (new.position, new.version) == (4, 4)
        assert len(rows(log)) == 4

    def test_a_reused_event_id_in_another_stream_is_still_an_idempotency_conflict(
        self, log: Path
    ) -> None:
        with SQLiteEventStore(log) as store, pytest.raises(IdempotencyConflict):
            store.append("other", 0, [NewEvent("T", {"x": 1}, event_id="id-1")])
        assert len(rows(log)) == 3

    def test_events_import_and_a_second_import(
        self, invoke: Invoke, db_path: Path, tmp_path: Path
    ) -> None:
        assert invoke("ab", "create", "t", "--variants", "a,b").exit_code == 0
        assert invoke("ab", "add-result", "t", "--variant", "a", "--success").exit_code == 0
        exported = invoke("events", "export")
        assert exported.exit_code == 0
        f = tmp_path / "log.jsonl"
        f.write_text(exported.output, encoding="utf-8")
        copy = tmp_path / "copy.db"
        assert invoke("events", "import", str(f), db=copy).exit_code == 0
        assert invoke("events", "import", str(f), db=copy).exit_code == 0  # nothing new
        assert rows(copy) == rows(db_path)
        assert count_events(copy) == 2
        assert invoke("events", "verify", db=copy).exit_code == 0
