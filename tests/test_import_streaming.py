"""`ab import` streams a JSONL file in chunks inside one transaction: the same log and read
models as one command over the whole file, all or nothing across chunks, errors naming
the line however far into the file it is."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import trialbook
from bench.common import sample_result
from tests.conftest import Invoke, count_events
from trialbook.ledger import importing


def write_jsonl(path: Path, rows: list[dict], *, bom: bool = False) -> Path:
    text = "".join(json.dumps(r) + "\n" for r in rows)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


def rows(n: int, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    return [sample_result(rng, i=i) for i in range(n)]


def read_models(path: Path) -> dict[str, list[tuple]]:
    """The A/B read-model tables (ids aside: event ids and times differ between files)."""
    conn = sqlite3.connect(path)
    try:
        out = {}
        for table in ("ab_results", "ab_cases", "ab_variants"):
            cols = [
                r[1]
                for r in conn.execute(f"PRAGMA table_info({table})")
                if r[1] not in ("event_id", "recorded_at", "position")
            ]
            if cols:
                out[table] = sorted(
                    conn.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall(), key=repr
                )
        return out
    finally:
        conn.close()


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(importing, "CHUNK", 7)
    return 7


def test_a_file_of_many_chunks_gives_what_one_command_over_all_its_results_gives(
    tmp_path: Path, small_chunks: int, invoke: Invoke, db_path: Path
) -> None:
    data = rows(5 * small_chunks + 3)
    invoke("ab", "create", "t", "--variants", "cold,warm")
    r = invoke("ab", "import", "t", str(write_jsonl(tmp_path / "r.jsonl", data)))
    assert r.exit_code == 0, r.output
    assert r.output == f"Imported {len(data)} results into t (events #2-#{len(data) + 1}).\n"

    other = tmp_path / "api.db"
    with trialbook.open(other) as tb:
        tb.ab.create("t", variants=["cold", "warm"])
        tb.ab.add_results("t", data)
    assert read_models(db_path) == read_models(other)
    assert read_models(db_path)["ab_results"]


def test_a_bad_line_in_a_late_chunk_records_nothing_and_names_its_line(
    tmp_path: Path, small_chunks: int, invoke: Invoke, db_path: Path
) -> None:
    data = rows(4 * small_chunks)
    data[3 * small_chunks + 2]["tool_calls"] = -1  # line 24: three chunks were decided already
    invoke("ab", "create", "t")
    before = count_events(db_path)
    r = invoke(
        "ab",
        "import",
        "t",
        str(write_jsonl(tmp_path / "r.jsonl", [{**d, "variant": "control"} for d in data])),
    )
    assert r.exit_code == 1
    assert r.output.startswith(f"Error: line {3 * small_chunks + 3}: tool_calls")
    assert r.output.count("\n") == 1
    assert count_events(db_path) == before


def test_a_byte_that_is_not_utf8_is_named_by_its_line_and_nothing_is_recorded(
    tmp_path: Path, small_chunks: int, invoke: Invoke, db_path: Path
) -> None:
    path = write_jsonl(tmp_path / "r.jsonl", [{"variant": "control"}] * 20)
    path.write_bytes(path.read_bytes() + b'{"variant": "control", "notes": "\xff"}\n')
    invoke("ab", "create", "t")
    r = invoke("ab", "import", "t", str(path))
    assert r.exit_code == 1
    assert r.output == (
        f"Error: {path} is not UTF-8 text (bad byte at line 21); save it as UTF-8 and import again\n"
    )
    assert count_events(db_path) == 1


def test_stdin_and_a_bom_stream_like_a_file(
    tmp_path: Path, small_chunks: int, invoke: Invoke, db_path: Path
) -> None:
    data = [{"variant": "control", "success": i % 2 == 0} for i in range(3 * small_chunks)]
    invoke("ab", "create", "t")
    text = "\ufeff" + "".join(json.dumps(d) + "\n" for d in data)
    r = invoke("ab", "import", "t", "-", input=text)
    assert r.exit_code == 0, r.output
    assert r.output == f"Imported {len(data)} results into t (events #2-#{len(data) + 1}).\n"


@given(n=st.integers(1, 30), chunk=st.integers(1, 12), blank=st.sets(st.integers(0, 40)))
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_chunk_size_and_blank_lines_never_change_what_is_recorded(
    tmp_path_factory: pytest.TempPathFactory, n: int, chunk: int, blank: set[int]
) -> None:
    tmp = tmp_path_factory.mktemp("stream")
    data = rows(n, seed=n)
    lines = [json.dumps(d) for d in data]
    for i in sorted(blank, reverse=True):
        lines.insert(min(i, len(lines)), "   ")
    path = tmp / "r.jsonl"
    path.write_text("\n".join(lines) + "\n")
    dbs = []
    for size in (chunk, 10_000):
        importing.CHUNK, old = size, importing.CHUNK
        try:
            db = tmp / f"c{size}.db"
            with trialbook.open(db) as tb:
                tb.ab.create("t", variants=["cold", "warm"])
                recorded = tb.ab.import_file("t", path)
            assert [e.position for e in recorded] == list(range(2, n + 2))
            dbs.append(db)
        finally:
            importing.CHUNK = old
    assert read_models(dbs[0]) == read_models(dbs[1])


@given(
    limit=st.integers(0, 12),
    stream=st.sampled_from([None, "ab:t", "ab:u"]),
    type_=st.sampled_from([None, "ResultAdded", "TestCreated"]),
)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_events_log_streams_exactly_the_events_the_positions_query_names(
    log_with_two_tests: Path, limit: int, stream: str | None, type_: str | None
) -> None:
    from trialbook.projections import log_queries

    conn = sqlite3.connect(log_with_two_tests)
    try:
        positions = log_queries.matching_positions(conn, stream=stream, type_=type_, limit=limit)
        events = list(
            log_queries.matching_events(conn, stream=stream, type_=type_, limit=limit, size=3)
        )
    finally:
        conn.close()
    assert [e.position for e in events] == positions
    assert all(
        (stream is None or e.stream_id == stream) and (type_ is None or e.type == type_)
        for e in events
    )


@pytest.fixture(scope="module")
def log_with_two_tests(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("log") / "log.db"
    with trialbook.open(db) as tb:
        for name in ("t", "u"):
            tb.ab.create(name, variants=["cold", "warm"])
        for i in range(9):
            tb.ab.add_results("t" if i % 3 else "u", rows(1 + i % 2, seed=i))
    return db


def test_events_log_jsonl_of_the_whole_log_is_one_line_per_event(
    log_with_two_tests: Path, invoke: Invoke
) -> None:
    r = invoke("events", "log", "--limit", "0", "--jsonl", db=log_with_two_tests)
    assert r.exit_code == 0, r.output
    lines = [json.loads(line) for line in r.output.splitlines()]
    assert [e["position"] for e in lines] == list(range(1, count_events(log_with_two_tests) + 1))
