"""A large import appends in the store's bulk mode: on SQLite the insert guard (the
``events_append_only_insert`` trigger) is left out of the import transaction's own inserts
and restored, from its stored text, before the transaction ends, so no other connection
ever sees the file unguarded and a refused import changes nothing, the guard included."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import pytest

from bench.common import sample_result
from tests.conftest import Invoke, count_events
from trialbook.ledger import importing
from trialbook.store.base import NewEvent
from trialbook.store.errors import IdempotencyConflict
from trialbook.store.sqlite import SQLiteEventStore

GUARD = "events_append_only_insert"


def guard_sql(path: Path) -> str | None:
    conn = sqlite3.connect(path)
    try:
        row = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", (GUARD,)
        ).fetchone()
        return row[0] if row else None
    finally:
        conn.close()


def replace_first_event(path: Path) -> None:
    """``INSERT OR REPLACE`` of the event at position 1 with other data, from raw sqlite3."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.row_factory = sqlite3.Row
        row = dict(conn.execute("SELECT * FROM events WHERE position = 1").fetchone())
        row["data"] = '{"x":666}'
        marks = ", ".join("?" * len(row))
        conn.execute(f"INSERT OR REPLACE INTO events VALUES ({marks})", tuple(row.values()))
    finally:
        conn.close()


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "log.db"
    with SQLiteEventStore(path) as store:
        store.append("s", 0, [NewEvent("T", {"x": 1}, event_id="id-1")])
    return path


def test_the_guard_is_out_only_for_the_transaction_itself_and_back_at_commit(log: Path) -> None:
    before = guard_sql(log)
    assert before is not None
    with SQLiteEventStore(log) as store:
        with store.transaction() as conn, store.appending_in_bulk():
            own = conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE name = ?", (GUARD,)
            ).fetchone()[0]
            assert own == 0  # bulk mode is on for this connection's transaction
            assert guard_sql(log) == before  # another connection still sees the guard
            store.append("s", 1, [NewEvent("T", {"x": i}) for i in range(2, 50)])
        assert guard_sql(log) == before
    with pytest.raises(sqlite3.IntegrityError, match="append-only: an event is already recorded"):
        replace_first_event(log)


def test_a_failure_inside_leaves_the_guard_and_appends_nothing(log: Path) -> None:
    before = guard_sql(log)
    with SQLiteEventStore(log) as store:
        with pytest.raises(ZeroDivisionError), store.transaction(), store.appending_in_bulk():
            store.append("s", 1, [NewEvent("T", {"x": 2})])
            raise ZeroDivisionError
        # a reused event id inside bulk mode is refused as it is outside it
        with (
            pytest.raises(IdempotencyConflict, match="already recorded"),
            store.transaction(),
            store.appending_in_bulk(),
        ):
            store.append("other", 0, [NewEvent("T", {"x": 1}, event_id="id-1")])
    assert guard_sql(log) == before
    assert count_events(log) == 1


def test_bulk_mode_needs_a_write_transaction(log: Path) -> None:
    with (
        SQLiteEventStore(log) as store,
        pytest.raises(RuntimeError, match="write transaction"),
        store.appending_in_bulk(),
    ):
        pass


def write_rows(path: Path, n: int) -> Path:
    rng = random.Random(3)
    path.write_text("".join(json.dumps(sample_result(rng, i=i)) + "\n" for i in range(n)))
    return path


def test_a_large_import_is_verified_guarded_and_a_refused_one_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, invoke: Invoke, db_path: Path
) -> None:
    monkeypatch.setattr(importing, "CHUNK", 7)
    monkeypatch.setattr(importing, "_BULK", 5)
    entered: list[int] = []
    bulk = SQLiteEventStore.appending_in_bulk

    def counted(self: SQLiteEventStore):  # type: ignore[no-untyped-def]
        entered.append(1)
        return bulk(self)

    monkeypatch.setattr(SQLiteEventStore, "appending_in_bulk", counted)
    invoke("ab", "create", "t", "--variants", "cold,warm")
    before = guard_sql(db_path)
    r = invoke("ab", "import", "t", str(write_rows(tmp_path / "r.jsonl", 40)))
    assert r.exit_code == 0, r.output
    assert entered == [1]  # once for the whole import, not once a chunk
    assert guard_sql(db_path) == before
    assert invoke("events", "verify").exit_code == 0

    bad = write_rows(tmp_path / "bad.jsonl", 40)
    lines = bad.read_text().splitlines()
    lines[30] = json.dumps({**json.loads(lines[30]), "tool_calls": -1})
    bad.write_text("\n".join(lines) + "\n")
    r = invoke("ab", "import", "t", str(bad))
    assert r.exit_code == 1
    assert r.output.startswith("Error: line 31: tool_calls")
    assert r.output.count("\n") == 1
    assert count_events(db_path) == 41
    assert guard_sql(db_path) == before


def test_a_small_import_does_not_change_the_schema(
    tmp_path: Path, invoke: Invoke, db_path: Path
) -> None:
    invoke("ab", "create", "t", "--variants", "cold,warm")
    conn = sqlite3.connect(db_path)
    cookie = conn.execute("PRAGMA schema_version").fetchone()[0]
    conn.close()
    r = invoke("ab", "import", "t", str(write_rows(tmp_path / "r.jsonl", 20)))
    assert r.exit_code == 0, r.output
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA schema_version").fetchone()[0] == cookie
    conn.close()
