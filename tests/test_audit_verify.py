"""``events verify``: the hash chain, stream versions and guards, against tampering and kill -9."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Invoke
from trialbook.domain import ab
from trialbook.domain.canonical import canonical_json, envelope_json
from trialbook.domain.commands import build
from trialbook.ledger import Ledger
from trialbook.shell.cli import cli
from trialbook.store.base import NewEvent
from trialbook.store.sqlite import SQLiteEventStore
from trialbook.store.verify import (
    ChainChecker,
    raw_bytes_row,
    read_raw_rows,
    verify_file,
    verify_rows,
)

DROP_TRIGGERS = "DROP TRIGGER events_append_only_update; DROP TRIGGER events_append_only_delete;"
RESTORE_TRIGGERS = (
    "CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events "
    "BEGIN SELECT RAISE(ABORT, 'trialbook events are append-only: updates are refused'); END;"
    "CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events "
    "BEGIN SELECT RAISE(ABORT, 'trialbook events are append-only: deletes are refused'); END;"
)


def small_log(path: Path) -> int:
    """Two tests, results in batches, an archive: a log of a few dozen events. Returns its head."""
    ledger = Ledger(path, synchronous="OFF")
    ledger.execute(build(ab.CreateTest, name="alpha", variants=("cold", "warm")))
    ledger.execute(build(ab.CreateTest, name="beta", variants=("a", "b", "c")))
    for i in range(6):
        test, variants = ("alpha", ("cold", "warm")) if i % 2 == 0 else ("beta", ("a", "b", "c"))
        results = tuple(
            ab.ResultFields(
                variant=variants[j % len(variants)],
                success=(i + j) % 3 != 0,
                completion_time=10.0 + i + j / 10,
                notes="naïve “quoted” \\ text\n",
            )
            for j in range(3)
        )
        ledger.execute(build(ab.AddResults, test=test, results=results))
    ledger.execute(build(ab.ArchiveTest, test="beta", reason="done"))
    head = ledger.store.head()[0]
    ledger.close()
    return head


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("pristine") / "log.db"
    return path, small_log(path)


def tamper(path: Path, sql: str, params: tuple[Any, ...] = (), *, restore: bool = False) -> None:
    """Edit the file with plain sqlite3, as someone going around trialbook would."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(DROP_TRIGGERS)
    conn.execute(sql, params)
    if restore:
        conn.executescript(RESTORE_TRIGGERS)
    conn.close()


def run_verify(path: Path) -> Any:
    return CliRunner().invoke(cli, ["--db", str(path), "events", "verify"], catch_exceptions=False)


# --------------------------------------------------------------------------- an intact log


class TestAnIntactLog:
    def test_verify_passes_and_prints_the_head_position_and_hash(
        self, pristine: tuple[Path, int], tmp_path: Path
    ) -> None:
        path = tmp_path / "a.db"
        shutil.copy(pristine[0], path)
        r = run_verify(path)
        assert r.exit_code == 0, r.output
        with SQLiteEventStore(path) as s:
            head, head_hash = s.head()
        assert f"Verified {head} events in 2 streams" in r.output
        assert r.output.splitlines()[-1] == f"Head: position {head}, hash {head_hash}"

    def test_verify_json_reports_no_problems(
        self, pristine: tuple[Path, int], tmp_path: Path
    ) -> None:
        path = tmp_path / "a.db"
        shutil.copy(pristine[0], path)
        r = CliRunner().invoke(cli, ["--db", str(path), "events", "verify", "--json"])
        doc = json.loads(r.stdout)
        assert r.exit_code == 0 and doc["ok"] and doc["problems"] == []
        assert doc["events"] == doc["head_position"] == pristine[1] and doc["streams"] == 2

    def test_verify_only_reads_the_file(self, pristine: tuple[Path, int], tmp_path: Path) -> None:
        path = tmp_path / "a.db"
        shutil.copy(pristine[0], path)
        before = path.read_bytes()
        assert run_verify(path).exit_code == 0
        assert path.read_bytes() == before

    def test_an_empty_log_verifies_at_position_zero(self, invoke: Invoke, db_path: Path) -> None:
        import trialbook

        with trialbook.open(db_path):  # creates the file (a read command never does)
            pass
        r = invoke("events", "verify")
        assert r.exit_code == 0
        assert r.output.splitlines()[-1] == "Head: position 0, hash " + "0" * 64

    def test_a_missing_file_is_named(self, invoke: Invoke, db_path: Path) -> None:
        r = invoke("events", "verify")
        assert r.exit_code == 1
        assert r.stderr == f"Error: no trialbook database at {db_path}; pass one with --db\n"
        assert not db_path.exists()

    def test_another_sqlite_file_is_not_a_trialbook_database(self, tmp_path: Path) -> None:
        path = tmp_path / "other.db"
        sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.commit()
        r = run_verify(path)
        assert r.exit_code == 1
        assert r.stderr == (
            f"Error: {path} is not a trialbook database; pass a trialbook file with --db\n"
        )

    def test_the_parallel_verify_agrees_with_one_process(self, pristine: tuple[Path, int]) -> None:
        one = verify_file(pristine[0], workers=1)
        three = verify_file(pristine[0], workers=3)
        assert one.to_dict() == three.to_dict() and one.ok


# --------------------------------------------------------------------------- tampering


def _copy(pristine: tuple[Path, int], d: str) -> Path:
    path = Path(d) / "t.db"
    shutil.copy(pristine[0], path)
    return path


columns = st.sampled_from(["data", "metadata", "event_id", "recorded_at", "type", "stream_id"])


@given(data=st.data(), column=columns, restore=st.booleans())
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_changing_one_character_of_any_event_is_caught_at_its_position(
    pristine: tuple[Path, int], data: st.DataObject, column: str, restore: bool
) -> None:
    position = data.draw(st.integers(1, pristine[1]), label="position")
    with tempfile.TemporaryDirectory() as d:
        path = _copy(pristine, d)
        text = (
            sqlite3.connect(path)
            .execute(f"SELECT {column} FROM events WHERE position = ?", (position,))
            .fetchone()[0]
        )
        i = data.draw(st.integers(0, len(text) - 1), label="offset")
        new = data.draw(st.characters(codec="utf-8").filter(lambda c: c != text[i]), label="char")
        tamper(
            path,
            f"UPDATE events SET {column} = ? WHERE position = ?",
            (text[:i] + new + text[i + 1 :], position),
            restore=restore,
        )
        report = verify_file(path)
        assert not report.ok
        assert report.first is not None and report.first.position == position
        assert report.first.kind == "changed content"
        r = run_verify(path)
        assert r.exit_code == 1
        assert r.stderr.startswith(
            f"Error: verification failed at position {position} (changed content)"
        )
        assert r.stderr.count("\n") == 1
        # dropping the triggers is reported too, unless they were put back
        assert any(p.kind == "unguarded file" for p in report.problems) is not restore


@given(data=st.data())
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_deleting_any_row_is_caught_at_its_position(
    pristine: tuple[Path, int], data: st.DataObject
) -> None:
    position = data.draw(st.integers(1, pristine[1]), label="position")
    with tempfile.TemporaryDirectory() as d:
        path = _copy(pristine, d)
        tamper(path, "DELETE FROM events WHERE position = ?", (position,), restore=True)
        report = verify_file(path)
        assert not report.ok and report.first is not None
        assert (report.first.position, report.first.kind) == (position, "missing position")
        r = run_verify(path)
        assert r.exit_code == 1
        assert r.stderr.startswith(
            f"Error: verification failed at position {position} (missing position): position {position} "
        )


@given(data=st.data())
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_a_parallel_verify_reports_exactly_what_one_process_reports(
    pristine: tuple[Path, int], data: st.DataObject
) -> None:
    """Whatever is deleted or renumbered, and wherever the worker ranges start."""
    head = pristine[1]
    deleted = data.draw(st.sets(st.integers(1, head), min_size=1, max_size=3), label="deleted")
    renumbered = data.draw(st.none() | st.integers(1, head), label="renumbered")
    with tempfile.TemporaryDirectory() as d:
        path = _copy(pristine, d)
        for position in deleted:
            tamper(path, "DELETE FROM events WHERE position = ?", (position,), restore=True)
        if renumbered is not None:
            tamper(
                path,
                "UPDATE events SET version = version + 1000 WHERE position = ?",
                (renumbered,),
                restore=True,
            )
        one = verify_file(path, workers=1).to_dict()
        assert not one["ok"]
        for workers in (2, 3):
            assert verify_file(path, workers=workers).to_dict() == one, workers


def test_a_row_rewritten_and_rehashed_breaks_the_link_of_the_next_one(
    pristine: tuple[Path, int], tmp_path: Path
) -> None:
    path = _copy(pristine, str(tmp_path))
    with SQLiteEventStore(path) as s:
        e = s.get(5)
    assert e is not None
    data = canonical_json({**e.data, "success": not e.data.get("success")})
    env = envelope_json(
        position=e.position,
        event_id=e.event_id,
        stream_id=e.stream_id,
        version=e.version,
        type=e.type,
        schema_version=e.schema_version,
        data_json=data,
        metadata_json=e.metadata_json,
        recorded_at=e.recorded_at,
        prev_hash=e.prev_hash,
    )
    from trialbook.domain.canonical import chain_hash

    tamper(
        path,
        "UPDATE events SET data = ?, hash = ? WHERE position = 5",
        (data, chain_hash(e.prev_hash, env)),
        restore=True,
    )
    report = verify_file(path)
    assert report.first is not None
    assert (report.first.position, report.first.kind) == (6, "broken link")
    assert "position 6 does not follow position 5" in report.first.message


def test_text_that_is_not_utf8_is_a_changed_row_not_a_crash(
    pristine: tuple[Path, int], tmp_path: Path
) -> None:
    path = _copy(pristine, str(tmp_path))
    tamper(
        path,
        "UPDATE events SET data = CAST(X'7B22FF227D' AS TEXT) WHERE position = 4",
        restore=True,
    )
    report = verify_file(path)
    assert report.first is not None and (report.first.position, report.first.kind) == (
        4,
        "changed content",
    )


def test_dropped_triggers_alone_fail_verification(
    pristine: tuple[Path, int], tmp_path: Path
) -> None:
    path = _copy(pristine, str(tmp_path))
    conn = sqlite3.connect(path)
    conn.executescript("DROP TRIGGER events_append_only_delete;")
    conn.close()
    r = run_verify(path)
    assert r.exit_code == 1
    assert r.stderr == (
        "Error: the file is not guarded: the append-only trigger events_append_only_delete is missing "
        f"(the file no longer refuses edits); its hash chain is intact up to position {pristine[1]}\n"
    )


def test_a_dropped_insert_guard_fails_verification(
    pristine: tuple[Path, int], tmp_path: Path
) -> None:
    # without it INSERT OR REPLACE over a taken position deletes the row it replaces
    path = _copy(pristine, str(tmp_path))
    conn = sqlite3.connect(path)
    conn.executescript("DROP TRIGGER events_append_only_insert;")
    conn.close()
    report = verify_file(path)
    assert [p.message for p in report.problems] == [
        "the append-only trigger events_append_only_insert is missing "
        "(the file no longer refuses edits)"
    ]


def test_a_trigger_replaced_by_a_no_op_is_caught(
    pristine: tuple[Path, int], tmp_path: Path
) -> None:
    path = _copy(pristine, str(tmp_path))
    conn = sqlite3.connect(path)
    conn.executescript(
        "DROP TRIGGER events_append_only_update;"
        "CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events BEGIN SELECT 1; END;"
    )
    conn.close()
    report = verify_file(path)
    assert [p.message for p in report.problems] == [
        "the append-only trigger events_append_only_update was replaced by one that does not refuse "
        "the change (the file no longer refuses edits)"
    ]


def test_a_truncated_tail_is_caught_by_the_projection_checkpoint(
    pristine: tuple[Path, int], tmp_path: Path
) -> None:
    path = _copy(pristine, str(tmp_path))
    head = pristine[1]
    tamper(path, "DELETE FROM events WHERE position >= ?", (head - 1,), restore=True)
    report = verify_file(path)
    assert report.first is not None and report.first.position == head - 1
    assert report.first.message.startswith(
        f"positions {head - 1}-{head} are missing: the log ends at {head - 2}"
    )


class TestStreamVersions:
    def rows(self, versions: list[tuple[str, int]]) -> list[tuple[Any, ...]]:
        """A well-chained log whose stream versions are as given."""
        from trialbook.domain.canonical import GENESIS_HASH, chain_hash

        prev, out = GENESIS_HASH, []
        for i, (stream, version) in enumerate(versions, start=1):
            row = [
                i,
                f"id-{i}",
                stream,
                version,
                "T",
                1,
                "{}",
                "{}",
                "2026-01-01T00:00:00.000000Z",
                prev,
                "",
            ]
            env = envelope_json(
                position=i,
                event_id=f"id-{i}",
                stream_id=stream,
                version=version,
                type="T",
                schema_version=1,
                data_json="{}",
                metadata_json="{}",
                recorded_at="2026-01-01T00:00:00.000000Z",
                prev_hash=prev,
            )
            row[10] = prev = chain_hash(prev, env)
            out.append(raw_bytes_row(row))
        return out

    def test_consecutive_versions_per_stream_pass(self) -> None:
        assert verify_rows([self.rows([("a", 1), ("b", 1), ("a", 2), ("a", 3), ("b", 2)])]).ok

    def test_a_version_gap_is_named(self) -> None:
        (p,) = verify_rows([self.rows([("a", 1), ("b", 1), ("a", 3)])]).problems
        assert (p.position, p.kind, p.message) == (
            3,
            "version gap",
            "stream a jumps from version 1 to 3 at position 3",
        )

    def test_a_duplicate_version_is_named(self) -> None:
        (p,) = verify_rows([self.rows([("a", 1), ("a", 2), ("a", 2)])]).problems
        assert (p.position, p.kind) == (3, "duplicate version")

    def test_a_stream_checked_in_parts_gives_the_same_answer(self) -> None:
        rows = self.rows([("a", 1), ("b", 1), ("a", 2), ("a", 4), ("b", 2)])
        whole = verify_rows([rows]).problems
        first = ChainChecker()
        first.feed(rows[:2])
        rest = ChainChecker(2, rows[1][10], version_before=lambda s: None)
        rest.feed(rows[2:])
        assert [p.position for p in whole] == [4] and rest.problems == whole
        assert rest.firsts == {b"a": (2, 3), b"b": (2, 5)}


@given(st.text(max_size=30), st.text(max_size=30), st.text(min_size=1, max_size=20))
@settings(max_examples=200, deadline=None)
def test_the_fast_path_hashes_exactly_what_the_writer_hashed(
    stream: str, type_: str, event_id: str
) -> None:
    """Any text in the envelope's string fields (quotes, backslashes, control characters, unicode)."""
    from trialbook.domain.canonical import GENESIS_HASH, chain_hash

    env = envelope_json(
        position=1,
        event_id=event_id,
        stream_id=stream,
        version=1,
        type=type_,
        schema_version=1,
        data_json='{"k":"v"}',
        metadata_json="{}",
        recorded_at="2026-01-01T00:00:00.000000Z",
        prev_hash=GENESIS_HASH,
    )
    row = (
        1,
        event_id,
        stream,
        1,
        type_,
        1,
        '{"k":"v"}',
        "{}",
        "2026-01-01T00:00:00.000000Z",
        GENESIS_HASH,
        chain_hash(GENESIS_HASH, env),
    )
    checker = ChainChecker()
    checker.feed([raw_bytes_row(row)])
    assert checker.problems == []


def test_reading_rows_as_bytes_leaves_the_connection_as_it_was(pristine: tuple[Path, int]) -> None:
    conn = sqlite3.connect(pristine[0])
    batches = list(read_raw_rows(conn, batch_size=7))
    assert sum(map(len, batches)) == pristine[1] and isinstance(batches[0][0][6], bytes)
    assert conn.text_factory is str
    conn.close()


# --------------------------------------------------------------------------- kill -9


def write_until_killed(path: Path, run: int, out: int) -> None:
    """Append batches of three results in a loop, reporting each batch once its commit returned."""
    ledger = Ledger(path)
    i = 0
    while True:
        batch = tuple(
            ab.ResultFields(
                variant=("cold", "warm")[k % 2],
                session_id=f"{run}-{i}-{k}",
                success=(i + k) % 3 > 0,
                completion_time=i + k / 4,
            )
            for k in range(3)
        )
        ledger.execute(build(ab.AddResults, test="crash", results=batch))
        os.write(out, f"{run}-{i}\n".encode())  # acknowledged only after the commit returned
        i += 1


def start_writer(path: Path, run: int) -> tuple[int, int]:
    """Fork a writer (fast: the modules are already imported); returns its pid and the read end of its pipe."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(r)
            write_until_killed(path, run, w)
        finally:
            os._exit(1)
    os.close(w)
    return pid, r


TABLES = ["ab_tests", "ab_variants", "ab_results", "ab_cases"]


def dump(conn: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3").fetchall() for t in TABLES}


@pytest.mark.slow
def test_killing_a_writer_at_random_moments_loses_nothing_acknowledged(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    with Ledger(path) as ledger:
        ledger.execute(build(ab.CreateTest, name="crash", variants=("cold", "warm")))
    rng = random.Random(7)
    acked: list[str] = []
    started = time.perf_counter()
    for run in range(20):
        pid, r = start_writer(path, run)
        with os.fdopen(r) as out:
            first = out.readline()  # the writer is in its loop
            assert first, "the writer did not start"
            time.sleep(rng.uniform(0, 0.03))
            os.kill(pid, signal.SIGKILL)  # no cleanup, no atexit, maybe mid-transaction
            os.waitpid(pid, 0)
            acked += [first.strip(), *(line.strip() for line in out)]
    assert time.perf_counter() - started < 60
    with Ledger(path) as ledger:
        sessions = [r[0] for r in ledger.conn.execute("SELECT session_id FROM ab_results")]
        live = dump(ledger.conn)
        ledger.rebuild_projections()
        rebuilt = dump(ledger.conn)
    batches: dict[str, int] = {}
    for s in sessions:
        key = s.rsplit("-", 1)[0]
        batches[key] = batches.get(key, 0) + 1
    assert set(acked) <= set(batches)  # every acknowledged append is there
    assert set(batches.values()) == {3}  # and nothing is half-written
    assert live == rebuilt  # the read models committed with the events equal a rebuild
    report = verify_file(path)
    assert report.ok, report.problems
    assert report.events == 1 + 3 * len(batches)


def test_appends_of_another_stream_type_verify_too(tmp_path: Path) -> None:
    with SQLiteEventStore(tmp_path / "s.db") as s:
        s.append("x", 0, [NewEvent("Tick", {"i": i, "s": "é\u2028\x01"}) for i in range(5)])
        s.append("y", 0, [NewEvent("Tock", {})])
    assert verify_file(tmp_path / "s.db").ok


@pytest.mark.parametrize("version", ["'x'", "9e999", "2.5", "-9223372036854775808"])
def test_a_version_that_is_not_a_whole_number_is_reported_not_crashed_on(
    pristine: tuple[Path, int], tmp_path: Path, version: str
) -> None:
    path = tmp_path / "odd.db"
    shutil.copy(pristine[0], path)
    # position 2 is the first result of a stream that has later rows
    tamper(path, f"UPDATE events SET version = {version} WHERE position = 2", restore=True)
    r = run_verify(path)
    assert r.exit_code == 1
    assert "verification failed at position 2" in r.output
    assert "internal error" not in r.output and "Traceback" not in r.output
