"""``events verify``'s fast path (whole batches at once) against the row by row path, on real files.

``verify_range`` reads rows with ``ENVELOPE_ROWS_SQL`` and feeds them to
``ChainChecker.feed_envelope_rows``, which takes a batch in one step when
nothing in it is wrong and otherwise hands it to ``ChainChecker.feed``, the row
by row path ``events import`` uses. Every test here builds a SQLite file (often
with rows no writer would produce: unescaped text hashed as it is, values of
other types, gaps, edits), checks it both ways, with several batch sizes and
range splits, and wants the same problems, messages and checker state.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from operator import itemgetter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trialbook.domain.canonical import GENESIS_HASH, chain_hash, envelope_json
from trialbook.store.sqlite import COLUMNS as STORED_COLUMNS
from trialbook.store.sqlite import SQLiteEventStore
from trialbook.store.verify import (
    _RAW_OF_ENVELOPE_ROW,
    ENVELOPE_BYTES,
    ChainChecker,
    open_read_only,
    raw_bytes_row,
    read_envelope_rows,
    read_raw_rows,
    verify_file,
    verify_range,
)

DROP_TRIGGERS = "DROP TRIGGER events_append_only_update; DROP TRIGGER events_append_only_delete;"
AT = "2026-01-01T00:00:00.000000Z"
#: text that needs JSON escaping (the general path) or only looks unusual (the fast path)
ESCAPED = [
    'quo"te',
    "back\\slash",
    "tab\there",
    "line\nbreak",
    "nul\x00byte",
    "unit\x1fsep",
    "\x01",
]
UNUSUAL = ["naïve", "ab:é", "\u2028", "\U0001f600", "del\x7f", "sp ace", "{}", "'single'"]
BATCHES = (1, 2, 3, 7, 500)


def write_log(path: Path, events: list[dict[str, Any]]) -> list[str]:
    """A trialbook file holding exactly these events, chained in order; returns their hashes.

    Each event is a dict of fields (defaults below; positions run on from the
    last one, versions per stream, ``prev_hash`` is the hash before). Its hash
    is what the writer computes (``envelope_json``, ``chain_hash``), unless
    ``forge`` is set: then it is the hash of ``prev_hash`` + the envelope
    formatted without escaping, as a tool that does not escape would compute it.
    """
    SQLiteEventStore(path).close()  # the schema, its triggers and indexes
    last, prev, rows = 0, GENESIS_HASH, []
    for event in events:
        e = {
            "position": last + 1,
            "event_id": f"id-{len(rows) + 1}",
            "stream_id": "s",
            "type": "T",
            "schema_version": 1,
            "metadata": "{}",
            "recorded_at": AT,
            "prev_hash": prev,
            **event,
        }
        e.setdefault("data", f'{{"i":{e["position"]}}}')
        e.setdefault("version", 1 + sum(1 for r in rows if r[2] == e["stream_id"]))
        row = tuple(e[k] for k in COLUMNS)
        if e.get("forge"):
            raw = raw_bytes_row(row)
            digest = hashlib.sha256(raw[9] + ENVELOPE_BYTES % _FORMAT_ORDER(raw)).hexdigest()
        else:
            digest = chain_hash(e["prev_hash"], envelope_of(row))
        rows.append((*row, digest))
        last, prev = e["position"], digest
    conn = sqlite3.connect(path)
    if any(e.get("no_unique_versions") for e in events):
        conn.execute("DROP INDEX events_stream_version")
    with conn:
        conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.close()
    return [r[10] for r in rows]


#: the envelope's columns: every stored column but ``hash``
COLUMNS = tuple(STORED_COLUMNS.split(", "))[:-1]
#: the values of ``ENVELOPE_BYTES`` from a raw row
_FORMAT_ORDER = itemgetter(6, 1, 7, 0, 9, 8, 5, 2, 4, 3)


def envelope_of(row: tuple[Any, ...]) -> str:
    """The writer's envelope (``domain.canonical.envelope_json``) of a raw row."""
    return envelope_json(
        position=row[0],
        event_id=row[1],
        stream_id=row[2],
        version=row[3],
        type=row[4],
        schema_version=row[5],
        data_json=row[6],
        metadata_json=row[7],
        recorded_at=row[8],
        prev_hash=row[9],
    )


def rehash(path: Path, position: int, **changes: Any) -> None:
    """Rewrite a row's fields and store the hash the writer would give it (the row itself is consistent)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(DROP_TRIGGERS)
    row = conn.execute(
        f"SELECT {', '.join(COLUMNS)} FROM events WHERE position = ?", (position,)
    ).fetchone()
    new = tuple(changes.get(k, v) for k, v in zip(COLUMNS, row, strict=True))
    sets = ", ".join(f"{k} = ?" for k in changes)
    conn.execute(
        f"UPDATE events SET {sets}, hash = ? WHERE position = ?",
        (*changes.values(), chain_hash(new[9], envelope_of(new)), position),
    )
    conn.close()


def tamper(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(DROP_TRIGGERS)
    for sql in statements:
        conn.execute(sql)
    conn.close()


def check(
    path: Path,
    *,
    fast: bool,
    after: int = 0,
    until: int = 2**62,
    batch: int = 500,
    whole: bool = False,
    max_problems: int = 20,
) -> tuple[Any, ...]:
    """Everything a checker ends with after the rows ``after`` < p <= ``until``, checked one way or the other.

    ``whole``: stream versions start at 0 (``verify_rows``); else they are
    unknown before the range (``verify_range``, which keeps ``firsts``).
    """
    conn = open_read_only(path)
    try:
        conn.execute("BEGIN")
        row = conn.execute(
            "SELECT position, CAST(hash AS BLOB) FROM events WHERE position <= ? "
            "ORDER BY position DESC LIMIT 1",
            (after,),
        ).fetchone()
        start, start_hash = row or (0, GENESIS_HASH.encode())
        checker = ChainChecker(
            start,
            start_hash,
            version_before=(lambda s: 0) if whole else (lambda s: None),
            max_problems=max_problems,
        )
        if fast:
            for rows in read_envelope_rows(conn, after, until, batch_size=batch):
                checker.feed_envelope_rows(rows)
        else:
            for rows in read_raw_rows(conn, after, until, batch_size=batch):
                checker.feed(rows)
    finally:
        conn.close()
    return (
        checker.problems,
        checker.count,
        checker.position,
        checker.hash,
        checker._last_good,
        checker.versions,
        checker.firsts,
    )


def assert_same_both_ways(path: Path, max_problems: int = 20) -> tuple[Any, ...]:
    """The fast path and the row by row path agree on the whole file and on its parts; returns the result."""
    conn = sqlite3.connect(path)
    head = conn.execute("SELECT max(position) FROM events").fetchone()[0] or 0
    conn.close()
    reference = check(path, fast=False, whole=True, max_problems=max_problems)
    splits = sorted({0, 1, head // 3, head // 2, head - 1, head})
    for batch in BATCHES:
        fast = check(path, fast=True, batch=batch, whole=True, max_problems=max_problems)
        assert fast == reference, f"batch {batch}"
        for a, b in zip(splits, splits[1:], strict=False):
            want = check(path, fast=False, after=a, until=b, batch=batch, max_problems=max_problems)
            got = check(path, fast=True, after=a, until=b, batch=batch, max_problems=max_problems)
            assert got == want, f"batch {batch}, positions {a + 1}-{b}"
    return reference


def kinds(result: tuple[Any, ...]) -> list[tuple[int, str]]:
    return [(p.position, p.kind) for p in result[0]]


# --------------------------------------------------------------------------- intact logs


@pytest.mark.parametrize("streams", [1, 3])
def test_the_fast_path_takes_every_batch_of_an_intact_log(tmp_path: Path, streams: int) -> None:
    """Otherwise the agreement below would only show that the row by row path agrees with itself."""
    path = tmp_path / "log.db"
    write_log(
        path,
        [{"stream_id": f"s{i % streams}", "type": UNUSUAL[i % len(UNUSUAL)]} for i in range(60)],
    )
    conn = open_read_only(path)
    checker = ChainChecker()
    batches = list(read_envelope_rows(conn, batch_size=7))
    assert all(checker._feed_clean(rows) for rows in batches)
    assert checker.count == 60 and checker.position == 60 and not checker.problems
    assert checker.versions == {f"s{i}".encode(): 60 // streams for i in range(streams)}
    conn.close()


def test_a_batch_that_does_not_pass_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    write_log(path, [{} for _ in range(10)])
    tamper(path, "UPDATE events SET data = '{\"i\":0}' WHERE position = 9")
    conn = open_read_only(path)
    first, second = list(read_envelope_rows(conn, batch_size=6))
    checker = ChainChecker()
    assert checker._feed_clean(first)
    before = (checker.position, checker.hash, checker.count, dict(checker.versions))
    assert not checker._feed_clean(second)
    assert (checker.position, checker.hash, checker.count, dict(checker.versions)) == before
    checker.feed_envelope_rows(second)
    assert [(p.position, p.kind) for p in checker.problems] == [(9, "changed content")]
    conn.close()


def test_envelope_rows_are_raw_rows_reordered(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    write_log(path, [{"stream_id": s} for s in ESCAPED + UNUSUAL])
    conn = open_read_only(path)
    raw = [r for rows in read_raw_rows(conn) for r in rows]
    envelope = [r for rows in read_envelope_rows(conn) for r in rows]
    assert [_RAW_OF_ENVELOPE_ROW(r) for r in envelope] == raw
    conn.close()


@pytest.mark.parametrize("field", ["event_id", "stream_id", "type", "recorded_at"])
def test_text_that_needs_escaping_or_is_not_ascii_verifies_both_ways(
    tmp_path: Path, field: str
) -> None:
    path = tmp_path / "log.db"
    write_log(path, [{field: f"{value}{i}"} for i, value in enumerate(ESCAPED + UNUSUAL * 2)])
    result = assert_same_both_ways(path)
    assert result[0] == [] and result[1] == len(ESCAPED) + 2 * len(UNUSUAL)


# --------------------------------------------------------------------------- rows with something wrong


@pytest.mark.parametrize("field", ["event_id", "stream_id", "type", "recorded_at"])
@pytest.mark.parametrize("value", ['a"b', "a\\nb", "a\x00b", "tab\t", "\x1f"])
def test_a_hash_of_unescaped_text_is_changed_content(
    tmp_path: Path, field: str, value: str
) -> None:
    """The fast path formats without escaping; it must not accept a hash made that way."""
    path = tmp_path / "log.db"
    events: list[dict[str, Any]] = [{} for _ in range(12)]
    events[5] = {field: value, "forge": True}
    write_log(path, events)
    result = assert_same_both_ways(path)
    assert kinds(result) == [(6, "changed content")]


FORGED_EVERYWHERE = [{"stream_id": 'q"', "forge": True}] * 3 + [{}] * 3


#: case -> (events, SQL run on the file (triggers dropped), the problems (position, kind) expected)
TAMPERED: dict[str, tuple[list[dict[str, Any]], list[str], list[tuple[int, str]]]] = {
    "row re-hashed over another prev_hash": (
        [{}] * 6 + [{"prev_hash": "e" * 64}] + [{}] * 6,
        [],
        [(7, "broken link")],
    ),
    "first row re-hashed over another prev_hash": (
        [{"prev_hash": "f" * 64}] + [{}] * 6,
        [],
        [(1, "broken link")],
    ),
    "positions skip one, chain intact": (
        [{}] * 6 + [{"position": 8}] + [{}] * 6,
        [],
        [(7, "missing position")],
    ),
    "positions skip many, chain intact": (
        [{}] * 3 + [{"position": 40}] + [{}] * 6,
        [],
        [(4, "missing position")],
    ),
    "data edited": (
        [{}] * 20,
        ["UPDATE events SET data = '{\"i\":99}' WHERE position = 7"],
        [(7, "changed content")],
    ),
    "hash edited": (
        [{}] * 20,
        [f"UPDATE events SET hash = '{'a' * 64}' WHERE position = 7"],
        [(7, "changed content"), (8, "broken link")],
    ),
    "hash in capitals": (
        [{}] * 20,
        ["UPDATE events SET hash = upper(hash) WHERE position = 7"],
        [(7, "changed content"), (8, "broken link")],
    ),
    "prev_hash edited": (
        [{}] * 20,
        [f"UPDATE events SET prev_hash = '{'b' * 64}' WHERE position = 7"],
        [(7, "changed content")],
    ),
    "row deleted": (
        [{}] * 20,
        ["DELETE FROM events WHERE position = 7"],
        [(7, "missing position")],
    ),
    "rows deleted at a batch edge": (
        [{}] * 20,
        ["DELETE FROM events WHERE position BETWEEN 6 AND 8"],
        [(6, "missing position")],
    ),
    "first row deleted": (
        [{}] * 20,
        ["DELETE FROM events WHERE position = 1"],
        [(1, "missing position")],
    ),
    "last row deleted": ([{}] * 20, ["DELETE FROM events WHERE position = 20"], []),
    "several problems": (
        [{}] * 30,
        [
            "UPDATE events SET data = '{}' WHERE position = 3",
            "DELETE FROM events WHERE position = 11",
            "UPDATE events SET metadata = '{\"x\":1}' WHERE position = 25",
        ],
        [(3, "changed content"), (11, "missing position"), (25, "changed content")],
    ),
    "version gap": (
        [{}] * 5 + [{"version": 7}] + [{"version": 8 + i} for i in range(5)],
        [],
        [(6, "version gap")],
    ),
    "duplicate version": (
        [{}] * 5
        + [{"version": 5, "no_unique_versions": True}]
        + [{"version": 6 + i} for i in range(5)],
        [],
        [(6, "duplicate version")],
    ),
    "streams start above 1": (
        [{"stream_id": "a", "version": 3}, {"stream_id": "b"}, {"stream_id": "a", "version": 4}],
        [],
        [(1, "version gap")],
    ),
    "interleaved streams with a gap": (
        [{"stream_id": f"s{i % 4}"} for i in range(19)] + [{"stream_id": "s3", "version": 9}],
        [],
        [(20, "version gap")],
    ),
    "version as real": (
        [{}] * 10,
        ["UPDATE events SET version = 5.5 WHERE position = 5"],
        [(5, "version gap"), (6, "version gap")],  # 5.5 formats as 5: its hash still matches
    ),
    "data as a blob of the same bytes": (
        [{}] * 10,
        ["UPDATE events SET data = CAST(data AS BLOB) WHERE position = 4"],
        [],
    ),
    "data not utf-8": (
        [{}] * 10,
        ["UPDATE events SET data = CAST(X'7B22FF227D' AS TEXT) WHERE position = 4"],
        [(4, "changed content")],
    ),
    "stream id as a blob": (
        [{}] * 10,
        ["UPDATE events SET stream_id = CAST(stream_id AS BLOB) WHERE position = 4"],
        [],
    ),
    "event id as an integer": (
        [{}] * 10,
        ["UPDATE events SET event_id = 12 WHERE position = 4"],
        [(4, "changed content")],
    ),
    "schema version as text": (
        [{}] * 10,
        ["UPDATE events SET schema_version = 'one' WHERE position = 4"],
        [(4, "changed content")],
    ),
    "forged rows in a run": (
        FORGED_EVERYWHERE,
        [],
        [(1, "changed content"), (2, "changed content"), (3, "changed content")],
    ),
    "first prev_hash not a hash": (
        [{}] * 6,
        ["UPDATE events SET prev_hash = 'genesis' WHERE position = 1"],
        [(1, "changed content")],
    ),
}


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_tampered_logs_give_the_same_problems_both_ways(tmp_path: Path, case: str) -> None:
    events, statements, expected = TAMPERED[case]
    path = tmp_path / "log.db"
    write_log(path, events)
    if statements:
        tamper(path, *statements)
    result = assert_same_both_ways(path)
    assert kinds(result) == expected


@pytest.mark.parametrize("position", [1, 6, 7, 12])
def test_a_row_rewritten_and_re_hashed_breaks_the_next_link(tmp_path: Path, position: int) -> None:
    path = tmp_path / "log.db"
    write_log(path, [{"stream_id": f"s{i % 2}"} for i in range(13)])
    rehash(path, position, data='{"rewritten":true}')
    assert kinds(assert_same_both_ways(path)) == [(position + 1, "broken link")]


def test_problems_after_the_first_and_the_limit_are_the_same_both_ways(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    write_log(path, [{"stream_id": f"s{i % 2}"} for i in range(40)])
    tamper(
        path, *(f"UPDATE events SET data = '{{}}' WHERE position = {p}" for p in (4, 9, 15, 22, 31))
    )
    assert kinds(assert_same_both_ways(path)) == [
        (p, "changed content") for p in (4, 9, 15, 22, 31)
    ]
    assert kinds(assert_same_both_ways(path, max_problems=2)) == [
        (4, "changed content"),
        (9, "changed content"),
    ]


def test_verify_range_reports_what_the_row_by_row_path_reports(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    events = [
        {"stream_id": f"s{i % 3}", "version": 1 + i // 3 + (i >= 17 and i % 3 == 2)}
        for i in range(30)
    ]
    write_log(path, [{**e, "no_unique_versions": True} for e in events])
    tamper(path, "DELETE FROM events WHERE position = 12")
    for after, until in ((0, 30), (0, 10), (10, 20), (20, 30)):
        problems, count, _, _, _, lasts, firsts = check(path, fast=False, after=after, until=until)
        part = verify_range(str(path), after, until)
        assert part["problems"] == problems and part["count"] == count
        assert part["lasts"] == {k.decode(): v for k, v in lasts.items()}
        assert part["firsts"] == {k.decode(): v for k, v in firsts.items()}
    assert kinds(check(path, fast=True, whole=True)) == [
        (12, "missing position"),
        (15, "version gap"),
        (18, "version gap"),
    ]
    report = verify_file(path, workers=1)
    assert [(p.position, p.kind) for p in report.problems if p.position] == [
        (12, "missing position"),
        (15, "version gap"),
        (18, "version gap"),
    ]


# --------------------------------------------------------------------------- any log, any edit

streams = st.sampled_from(["s", "t", "ab:é", 'q"', "b\\s", "\u2028"])
edits: dict[str, Callable[[int], str]] = {
    "data": lambda p: f"UPDATE events SET data = '{{\"x\":{p}}}' WHERE position = {p}",
    "hash": lambda p: f"UPDATE events SET hash = '{'c' * 64}' WHERE position = {p}",
    "prev_hash": lambda p: f"UPDATE events SET prev_hash = '{'d' * 64}' WHERE position = {p}",
    "version": lambda p: f"UPDATE events SET version = version + 1 WHERE position = {p}",
    "stream_id": lambda p: f"UPDATE events SET stream_id = stream_id || '\"' WHERE position = {p}",
    "delete": lambda p: f"DELETE FROM events WHERE position = {p}",
    "nothing": lambda p: "SELECT 1",
}


@given(
    data=st.data(),
    events=st.lists(
        st.fixed_dictionaries(
            {"stream_id": streams},
            optional={"forge": st.just(True), "type": st.sampled_from(["T", "t\n", "ü"])},
        ),
        min_size=1,
        max_size=25,
    ),
)
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_any_log_with_any_edits_gives_the_same_result_both_ways(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, events: list[dict[str, Any]]
) -> None:
    path = tmp_path_factory.mktemp("any") / "log.db"
    write_log(path, [{**e, "no_unique_versions": True} for e in events])
    n = len(events)
    changes = data.draw(
        st.lists(st.tuples(st.sampled_from(sorted(edits)), st.integers(1, n)), max_size=3),
        label="edits",
    )
    tamper(path, *(edits[kind](p) for kind, p in changes))
    assert_same_both_ways(path, max_problems=data.draw(st.sampled_from([1, 2, 20]), label="limit"))
