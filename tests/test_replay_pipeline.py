"""Point-in-time replays extract in a background thread: chunks, errors, stopping, cleanup."""

from __future__ import annotations

import gc
import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from tests.conftest import Invoke
from tests.test_replay_bulk import file_digest
from trialbook.domain import ab
from trialbook.domain.commands import build
from trialbook.ledger import Ledger
from trialbook.projections import default_projections
from trialbook.projections.pipeline import Background
from trialbook.projections.replay import replay_to
from trialbook.store.errors import ChainError


def scratch_file(tmp_path: Path) -> str:
    path = str(tmp_path / "scratch.db")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE t (x INTEGER)")
    conn.close()
    return path


def test_statements_run_in_order_and_each_count_arrives_once_committed(tmp_path: Path) -> None:
    path = scratch_file(tmp_path)
    reader = sqlite3.connect(path, isolation_level=None)
    statements = [
        ("INSERT INTO t SELECT value FROM json_each(?)", (f"[{','.join(['1'] * k)}]",))
        for k in (3, 1, 4)
    ]
    seen = []
    with Background(path, statements) as running:
        for count in running:
            # committed: another connection already sees it
            seen.append((count, reader.execute("SELECT count(*) FROM t").fetchone()[0]))
    assert [c for c, _ in seen] == [3, 1, 4]
    assert all(visible >= sum(c for c, _ in seen[: i + 1]) for i, (_, visible) in enumerate(seen))
    assert reader.execute("SELECT count(*) FROM t").fetchone()[0] == 8
    assert threading.active_count() == 1


def test_an_error_in_the_thread_is_raised_to_the_reader(tmp_path: Path) -> None:
    path = scratch_file(tmp_path)
    statements = [
        ("INSERT INTO t VALUES (1)", ()),
        ("INSERT INTO nowhere VALUES (1)", ()),
        ("INSERT INTO t VALUES (2)", ()),
    ]
    with Background(path, statements) as running:
        assert next(iter(running)) == 1
        with pytest.raises(sqlite3.OperationalError, match="no such table: nowhere"):
            next(iter(running))
        with pytest.raises(StopIteration):
            next(iter(running))
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]  # nothing after the error ran
    conn.close()


def test_closing_early_interrupts_or_skips_the_rest(tmp_path: Path) -> None:
    path = scratch_file(tmp_path)
    endless = (
        "INSERT INTO t WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
        "WHERE x < 1000000000) SELECT x FROM c"
    )
    statements = [("INSERT INTO t VALUES (0)", ()), (endless, ()), ("INSERT INTO t VALUES (2)", ())]
    running = Background(path, statements)
    assert next(iter(running)) == 1
    running.close()  # the endless statement is running or about to start: it must not finish
    assert threading.active_count() == 1
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT x FROM t").fetchall() == [(0,)]
    conn.close()


def log_of_two_tests(path: Path, results: int) -> Ledger:
    ledger = Ledger(path, synchronous="OFF")
    ledger.execute(build(ab.CreateTest, name="a", variants=("x", "y")))
    ledger.execute(build(ab.CreateTest, name="b", variants=("x", "y")))
    for i in range(results):
        result = ab.ResultFields(
            variant="xy"[i % 2],
            tool_calls=i % 7,
            successful_calls=i % 5 if i % 5 <= i % 7 else 0,
            completion_time=1.0 + i / 3,
            success=i % 3 != 0,
            cost=i / 100,
        )
        ledger.execute(build(ab.AddResults, test="ab"[i % 3 == 0], results=(result,)))
    return ledger


@pytest.mark.parametrize("chunk", [1, 2, 7, 20_000])
def test_a_chunked_replay_equals_one_in_a_single_chunk(tmp_path: Path, chunk: int) -> None:
    ledger = log_of_two_tests(tmp_path / "live.db", 40)
    before = file_digest(tmp_path / "live.db")
    head = ledger.store.head()[0]
    for stream_id in (None, "ab:a", "ab:b"):
        for position in (2, 9, head // 2, head):
            with replay_to(
                ledger.store, default_projections(), position, stream_id=stream_id
            ) as whole:
                expected = {
                    t: whole.conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3").fetchall()
                    for t in ("ab_tests", "ab_variants", "ab_results", "ab_cases")
                }
            with (
                mock.patch("trialbook.projections.ab.EXTRACT_CHUNK", chunk),
                replay_to(
                    ledger.store, default_projections(), position, stream_id=stream_id
                ) as view,
            ):
                got = {
                    t: view.conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3").fetchall()
                    for t in expected
                }
            assert got == expected, (stream_id, position)
            assert expected["ab_results"] or position < 3
    assert file_digest(tmp_path / "live.db") == before
    ledger.close()


def drop_guards(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")
    return conn


class LockStep(Background):
    """A Background whose thread runs each statement only once the reader took the last count.

    The real thread may run ahead of the fold: then every chunk is committed before the
    first read and the fold, ordered by position, is right. In lock step the fold reads each
    chunk as it lands, which is where versions out of position order would skip rows.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.turn = threading.Semaphore(1)
        super().__init__(*args, **kwargs)

    def _work(self, statements: list[Any]) -> None:
        def gated() -> Iterator[Any]:
            for statement in statements:
                self.turn.acquire()
                yield statement

        super()._work(gated())  # type: ignore[arg-type]

    def __next__(self) -> int:
        count = super().__next__()
        self.turn.release()
        return count


def test_versions_edited_out_of_position_order_are_an_error_not_a_silent_fold(
    db_path: Path, invoke: Invoke
) -> None:
    path = db_path
    ledger = log_of_two_tests(path, 30)
    rows = ledger.conn.execute(
        "SELECT position, version FROM events WHERE stream_id = 'ab:a' ORDER BY position"
    ).fetchall()
    (p_early, v_early), (p_late, v_late) = rows[2], rows[-1]
    raw = drop_guards(path)
    raw.execute("UPDATE events SET version = -1 WHERE position = ?", (p_early,))
    raw.execute("UPDATE events SET version = ? WHERE position = ?", (v_early, p_late))
    raw.execute("UPDATE events SET version = ? WHERE position = ?", (v_late, p_early))
    raw.close()
    head = ledger.store.head()[0]
    with (
        mock.patch("trialbook.projections.ab.EXTRACT_CHUNK", 3),
        mock.patch("trialbook.projections.replay.Background", LockStep),
        pytest.raises(ChainError, match="events verify"),
    ):
        replay_to(ledger.store, default_projections(), head, stream_id="ab:a")
    ledger.close()
    with (
        mock.patch("trialbook.projections.ab.EXTRACT_CHUNK", 3),
        mock.patch("trialbook.projections.replay.Background", LockStep),
    ):
        r = invoke("ab", "analyze", "a", "--at", str(head))
    assert r.exit_code == 1
    assert r.output.startswith("Error: stream ab:a's versions are not in position order")
    assert len(r.output.strip().splitlines()) == 1


def test_a_version_edited_to_text_is_an_error_naming_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    ledger = log_of_two_tests(path, 10)
    last = ledger.conn.execute(
        "SELECT max(position) FROM events WHERE stream_id = 'ab:a'"
    ).fetchone()[0]
    raw = drop_guards(path)
    raw.execute("UPDATE events SET version = 'nine' WHERE position = ?", (last,))
    raw.close()
    with pytest.raises(ChainError, match="not a whole number .*events verify"):
        replay_to(ledger.store, default_projections(), last, stream_id="ab:a")
    ledger.close()


def replay_directories() -> set[str]:
    root = tempfile.gettempdir()
    return {d for d in os.listdir(root) if d.startswith("trialbook-replay-")}


def test_scratch_files_are_removed_on_close_on_error_and_when_forgotten(tmp_path: Path) -> None:
    ledger = log_of_two_tests(tmp_path / "live.db", 5)
    before = replay_directories()
    with replay_to(ledger.store, default_projections(), 4, stream_id="ab:a") as view:
        assert len(replay_directories() - before) == 1
        assert view.conn.execute("SELECT count(*) FROM ab_tests").fetchone() == (1,)
    assert replay_directories() == before

    with (
        mock.patch("trialbook.projections.ab._BULK_RESULTS", "INSERT INTO nowhere {bound}"),
        pytest.raises(sqlite3.OperationalError),
    ):
        replay_to(ledger.store, default_projections(), 4)
    assert replay_directories() == before

    forgotten = replay_to(ledger.store, default_projections(), 4)
    assert len(replay_directories() - before) == 1
    del forgotten
    gc.collect()
    assert replay_directories() == before
    ledger.close()


def test_an_unwritable_temporary_directory_is_a_one_line_error(
    db_path: Path, invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = log_of_two_tests(db_path, 4)
    ledger.close()
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    monkeypatch.setattr(tempfile, "tempdir", str(locked))
    try:
        if os.access(locked, os.W_OK):  # running as a user who can write anywhere (root)
            monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
        r = invoke("ab", "analyze", "a", "--at", "3")
    finally:
        locked.chmod(0o700)
    assert r.exit_code == 1
    assert r.output.startswith("Error: cannot create a scratch database for the replay in ")
    assert r.output.rstrip().endswith("set TMPDIR to a writable directory")
    assert len(r.output.strip().splitlines()) == 1
