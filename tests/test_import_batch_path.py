"""The batch write path of ``ab import`` (issue #25) writes what the per-result path writes.

Lines are read with orjson and checked a column at a time (``quick_results``); a line it
does not take goes through pydantic as before. These tests hold the quick checks to
pydantic's verdict and values, the batch serialisation (canonical JSON, ids, the hash
chain) to the per-event functions, and a whole import to the per-line path byte for byte.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import sqlite3
import struct
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import trialbook
from tests.conftest import Invoke, count_events
from trialbook.domain import ab as d
from trialbook.domain import canonical as c
from trialbook.ledger import importing
from trialbook.store import rows as store_rows
from trialbook.store.base import NewEvent, RecordedEvent


def pydantic_fields(obj: Any) -> d.ResultFields | None:
    try:
        return d.ResultFields.model_validate(obj)
    except (ValidationError, ValueError, TypeError):
        return None


def assert_same_fields(quick: d.ResultFields, slow: d.ResultFields) -> None:
    """Equal values, of the same types, in the same order, with the same fields given."""
    assert list(quick.__dict__.items()) == list(slow.__dict__.items())
    assert [type(v) for v in quick.__dict__.values()] == [type(v) for v in slow.__dict__.values()]
    for key in ("metrics", "dimensions"):
        inner = quick.__dict__[key]
        if isinstance(inner, dict):
            other = slow.__dict__[key]
            assert [type(v) for v in inner.values()] == [type(v) for v in other.values()]
    assert quick.__pydantic_fields_set__ == slow.__pydantic_fields_set__
    assert quick == slow
    assert d.ResultAdded.of(quick).to_data() == d.ResultAdded.of(slow).to_data()
    assert c.canonical_json(d.ResultAdded.of(quick).to_data()) == c.canonical_json(
        d.ResultAdded.of(slow).to_data()
    )


# values of every kind a decoded line (or an API caller) may give, edges included
numbers = st.one_of(
    st.integers(min_value=-5, max_value=40),
    st.integers(min_value=2**53 - 2, max_value=2**64 + 2),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e16, max_value=1e16),
    st.sampled_from([0.0, -0.0, 1e15, -1e15, 1e15 + 1, 2.5, 0.1, 1e-7]),
)
texts = st.one_of(
    st.sampled_from(["", " ", "warm", " warm", "warm ", "cold", "é", "\ud800", "a\nb", "x" * 70]),
    st.text(max_size=6),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
names = st.one_of(
    st.sampled_from(["latency", "x_1", "Bad", "success", "tokens", "m-1", "9a", "a" * 65]),
    st.text(max_size=4),
)
values = st.one_of(
    scalars,
    st.dictionaries(names, st.one_of(numbers, texts, st.booleans(), st.none()), max_size=3),
    st.lists(scalars, max_size=2),
)
keys = st.sampled_from(
    sorted(d.QUICK_KEYS)
    + ["error_messages", "start_time", "session_type", "errors", "extra", "transcript_blob"]
)
plain = st.fixed_dictionaries(
    {"variant": st.sampled_from(["cold", "warm"])},
    optional={
        "tool_calls": st.integers(0, 20),
        "successful_calls": st.integers(0, 20),
        "completion_time": st.one_of(st.integers(0, 100), st.floats(0, 100)),
        "cost": st.floats(0, 1),
        "score": st.one_of(st.none(), numbers),
        "success": st.one_of(st.none(), st.booleans()),
        "tokens": st.integers(0, 10**6),
        "case_id": st.text(max_size=5),
        "metrics": st.dictionaries(st.sampled_from(["latency", "judge"]), numbers, max_size=2),
        "dimensions": st.dictionaries(st.sampled_from(["model", "task-type"]), texts, max_size=2),
    },
)
result_like = st.one_of(plain, st.dictionaries(keys, values, max_size=6), values)


@settings(max_examples=2000, deadline=None)
@given(result_like)
def test_the_quick_check_of_one_result_agrees_with_pydantic(obj: Any) -> None:
    if not isinstance(obj, dict):
        return
    quick = d.quick_result_fields(obj)
    if quick is not None:
        slow = pydantic_fields(obj)
        assert slow is not None, "quick took what pydantic refuses"
        assert_same_fields(quick, slow)


@settings(max_examples=600, deadline=None)
@given(
    st.one_of(
        st.lists(plain, max_size=12),
        st.lists(result_like, max_size=12),
        # rows sharing their keys, so that whole columns are checked at once
        plain.flatmap(
            lambda row: st.lists(
                st.fixed_dictionaries({k: (values if k != "variant" else texts) for k in row}),
                max_size=10,
            ).map(lambda more: [row, *more])
        ),
    )
)
def test_the_column_checks_agree_with_pydantic_row_by_row(objs: list[Any]) -> None:
    for obj, quick in zip(objs, d.quick_results(objs), strict=True):
        if quick is None:
            continue
        slow = pydantic_fields(obj)
        assert slow is not None, f"quick took what pydantic refuses: {obj!r}"
        assert_same_fields(quick, slow)


@given(st.lists(result_like, max_size=12))
def test_a_batch_of_events_is_the_events_of_each_result(objs: list[Any]) -> None:
    fields = [f for f in map(pydantic_fields, objs) if f is not None]
    many = d.ResultAdded.of_all(fields)
    one_by_one = [d.ResultAdded.of(f) for f in fields]
    assert many == one_by_one
    for a, b in zip(many, one_by_one, strict=True):
        assert type(a) is type(b) is d.ResultAdded
        assert a.__dict__ is b.__dict__
        assert a.__pydantic_fields_set__ == b.__pydantic_fields_set__
        assert a.to_data() == b.to_data()
    state = d.ABTestState(name="t", variants=("a", "b"), control="a", results=3)
    assert d.AB_TESTS.evolve_all(state, many).results == 3 + len(many)


@settings(max_examples=1500, deadline=None)
@given(st.lists(result_like, min_size=1, max_size=8))
def test_results_read_as_plain_have_bodies_that_pass_the_check_of_each_body(
    objs: list[Any],
) -> None:
    quick = d.quick_results(objs)
    if not quick.plain:  # type: ignore[attr-defined]
        return
    assert None not in quick
    for fields in quick:
        data = d.ResultAdded.of(fields).to_data()
        assert c._plain(data), data
        assert c.plain_json(data) == c.canonical_json(data)


def test_results_are_read_as_plain_unless_one_holds_what_their_columns_do_not_show() -> None:
    rows: list[Any] = [
        {"variant": "cold", "success": True, "cost": 0.01, "completion_time": 3, "tool_calls": 4},
        {"variant": "warm", "case_id": "é\x00", "score": 0.0, "session_id": "s"},
        {"variant": "warm", "metrics": {"latency": 2.0}, "dimensions": {"model": "x"}},
    ]
    assert d.quick_results(rows).plain  # type: ignore[attr-defined]
    for odd in (
        {"variant": "cold", "cost": 0.00005},  # orjson writes 0.00005 where json writes 5e-05
        {"variant": "cold", "score": -1e-7},
        {"variant": "cold", "metrics": {"latency": 1e-5}},
        {"variant": "cold", "start_time": 1.5},  # not read the quick way: pydantic's
        {"variant": "cold", "error_messages": ["x"]},
        {"variant": "cold", "tool_calls": 2**70},
        "not an object",
    ):
        quick = d.quick_results([*rows, odd])
        assert not quick.plain, odd  # type: ignore[attr-defined]
    assert not d.quick_results([]).plain  # type: ignore[attr-defined]


def test_a_batch_of_bodies_checked_at_once_gets_the_text_of_each_checked_alone() -> None:
    events = [
        d.ResultAdded.of(d.ResultFields.model_validate({"variant": "cold", "cost": x}))
        for x in (0.5, 2.0**64, 1e15)
    ]
    meta = {"actor": "a"}
    plain = NewEvent.all_of("ResultAdded", [e.to_data() for e in events], 2, meta, plain_data=True)
    each = [NewEvent.of("ResultAdded", e.to_data(), 2, meta, None) for e in events]
    assert [p[2] for p in store_rows.prepare(plain)] == [p[2] for p in store_rows.prepare(each)]
    # an integer orjson refuses (beyond 64 bits) is still written, by json's way
    big = {"variant": "cold", "tokens": 2**70}
    assert (
        c.plain_json(big)
        == c.canonical_json(big)
        == json.dumps(big, sort_keys=True).replace(" ", "")
    )


def test_an_imported_batch_of_plain_results_is_written_without_checking_each_body(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench.common import sample_result
    from trialbook.ledger.ledger import Ledger

    rng = random.Random(3)
    file = write_lines(tmp_path / "r.jsonl", [sample_result(rng, i=i) for i in range(30)])
    with Ledger(tmp_path / "p.db", synchronous="OFF") as ledger:
        ledger.execute(d.CreateTest(name="t", variants=("cold", "warm")))

        def unchecked(data: Any) -> bool:
            raise AssertionError(f"a body was checked alone: {data}")

        monkeypatch.setattr(c, "_plain", unchecked)
        importing.import_batches(ledger, importing.read_import(file, "t"))
        assert ledger.store.head()[0] == 31


def test_the_column_checks_take_the_plain_rows_of_a_file() -> None:
    """Not a check that cannot fail: the plain shapes are the ones the quick path is for."""
    objs = [
        {"variant": "warm", "tool_calls": 3, "successful_calls": 2, "completion_time": 4},
        {"variant": "cold", "tool_calls": 3, "successful_calls": 3, "completion_time": 4.5},
        {"variant": "cold", "metrics": {"latency": 1}, "dimensions": {"model": "m1"}},
        {"variant": "cold", "notes": "déjà vu", "score": None},
    ]
    quick = d.quick_results(objs)
    assert all(q is not None for q in quick)
    assert quick[0].completion_time == 4.0 and type(quick[0].completion_time) is float
    refused = [
        {"variant": "cold", "tool_calls": True},
        {"variant": "cold", "tokens": 2**63},
        {"variant": "cold", "tool_calls": 1, "successful_calls": None, "errors": -1},
        {"variant": "cold", "completion_time": 1e15 * 1.01},
        {"variant": "cold", "successful_calls": 2},
        {"variant": " cold"},
        {"variant": "cold", "cost": -1},
        {"variant": "cold", "notes": "\ud800"},
        {"variant": "cold", "metrics": {"Bad": 1}},
        {"variant": "cold", "start_time": 1},
    ]
    assert d.quick_results(refused) == [None] * len(refused)


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=5), inner, max_size=4),
    ),
    max_leaves=12,
)


event_bodies = st.dictionaries(
    st.text(max_size=4),
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**65), max_value=2**65),
        st.floats(),
        st.sampled_from([1e-4, 9.999999999999999e-05, 5e-5, -1e-7, 1e16, 1e22, -0.0, 5e-324]),
        st.text(),
        st.lists(st.one_of(st.text(max_size=3), st.floats(), st.integers()), max_size=3),
        st.tuples(st.text(max_size=3)),
        st.dictionaries(st.one_of(st.text(max_size=3), st.integers()), st.floats(), max_size=3),
        st.dictionaries(st.text(max_size=3), st.dictionaries(st.text(max_size=2), st.floats())),
    ),
    max_size=8,
)


@settings(max_examples=1500, deadline=None)
@given(st.one_of(json_values, event_bodies))
def test_canonical_json_is_the_text_json_dumps_gives(value: Any) -> None:
    try:
        expected = json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError):
        with pytest.raises((TypeError, ValueError)):
            c.canonical_json(value)
        return
    assert c.canonical_json(value) == expected


@pytest.mark.parametrize(
    "bad",
    [
        math.nan,
        math.inf,
        {"x": [1, -math.inf]},
        {"x": math.inf},
        {"x": [-math.inf]},
        {"m": {"a": math.nan}},
    ],
)
def test_canonical_json_still_refuses_nan_and_infinity(bad: Any) -> None:
    with pytest.raises(ValueError):
        c.canonical_json(bad)


UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_ids_made_in_a_batch_are_uuid7s_increasing_with_those_made_one_by_one() -> None:
    ids = [c.new_event_id(), *c.new_event_ids(5000), c.new_event_id(), *c.new_event_ids(3)]
    assert len(ids) == 5005
    assert all(UUID7.match(i) for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert c.new_event_ids(0) == []


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    random=st.binary(min_size=8 * 40, max_size=8 * 40),
    ms=st.integers(0, 2**48 - 2),
    seq=st.integers(-1, 0xFFF),
)
def test_batch_ids_are_the_uuid7_bits_of_their_random_bytes(
    random: bytes, ms: int, seq: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hex-at-once ids are the RFC 9562 layout of the same clock, counter and bytes
    (48-bit ms, version 7, 12-bit counter running into the next ms, variant 0b10, 62 bits)."""
    monkeypatch.setattr(c.os, "urandom", lambda n: random[:n])
    monkeypatch.setattr(c, "_last_ms", 2**48 + ms)  # ahead of the clock: kept
    monkeypatch.setattr(c, "_seq", seq)
    expected = []
    last, counter = 2**48 + ms, seq
    for (rand_b,) in struct.iter_unpack(">Q", random):
        counter += 1
        if counter > 0xFFF:
            last, counter = last + 1, 0
        value = (last % 2**48) << 80 | 7 << 76 | counter << 64 | 2 << 62 | rand_b % 2**62
        expected.append(str(uuid.UUID(int=value)))
    assert c.new_event_ids(40) == expected


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    random=st.binary(min_size=8 * 64 * 2, max_size=8 * 64 * 2),
    ms=st.integers(0, 2**48 - 2),
    seq=st.integers(-1, 0xFFF),
    n=st.integers(1, 100),
)
def test_single_ids_are_the_uuid7_bits_of_the_random_bytes_drawn_for_them(
    random: bytes, ms: int, seq: int, n: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An id made alone takes its 8 random bytes from a pool the OS fills 64 ids at a time,
    in the order the OS gave them: the same RFC 9562 layout as a batch's ids."""
    chunks = iter([random[: 8 * 64], random[8 * 64 :]])
    monkeypatch.setattr(c.os, "urandom", lambda size: next(chunks)[:size])
    monkeypatch.setattr(c, "_RANDOM_POOL", [])
    monkeypatch.setattr(c, "_last_ms", 2**48 + ms)  # ahead of the clock: kept
    monkeypatch.setattr(c, "_seq", seq)
    expected = []
    last, counter = 2**48 + ms, seq
    for (rand_b,) in list(struct.iter_unpack(">Q", random))[:n]:
        counter += 1
        if counter > 0xFFF:
            last, counter = last + 1, 0
        value = (last % 2**48) << 80 | 7 << 76 | counter << 64 | 2 << 62 | rand_b % 2**62
        expected.append(str(uuid.UUID(int=value)))
    assert [c.new_event_ids(1)[0] for _ in range(n)] == expected


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_reuse_the_random_digits_of_its_parents_ids() -> None:
    c.new_event_ids(1)  # the pool holds the digits of 63 more ids
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, c.new_event_ids(1)[0].encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    parent = c.new_event_ids(1)[0]
    assert UUID7.match(child) and UUID7.match(parent)
    assert child[-16:] != parent[-16:]  # (the same digits, were the pool inherited)


@settings(max_examples=200, deadline=None)
@given(
    st.text(min_size=1, max_size=8),
    st.integers(0, 10**6),
    st.lists(
        st.tuples(
            st.sampled_from(["ResultAdded", "TestCreated", "Événement"]),
            st.integers(1, 3),
            st.dictionaries(st.text(max_size=4), st.one_of(st.integers(), st.text()), max_size=3),
            st.text(max_size=6),
            # a supplied event id, which may hold what JSON escapes (the chain quotes it)
            st.none() | st.text(min_size=1, max_size=6),
        ),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from([c.GENESIS_HASH, "ab" * 32, 'a"b\\c\n']),
)
def test_the_batch_chain_gives_the_hashes_of_the_envelope_functions(
    stream: str,
    current: int,
    events: list[tuple[str, int, dict[str, Any], str, str | None]],
    head: str,
) -> None:
    new = [
        NewEvent(type=t, data=data, schema_version=v, metadata={"actor": who}, event_id=eid)
        for t, v, data, who, eid in events
    ]
    prepared = store_rows.prepare(new)
    rows = store_rows.chain_rows(stream, current, (41, head, ""), prepared)
    prev = head
    for i, row in enumerate(rows, start=1):
        recorded = RecordedEvent(*row)
        assert (recorded.position, recorded.version, recorded.prev_hash) == (
            41 + i,
            current + i,
            prev,
        )
        envelope = c.envelope_json(
            position=41 + i,
            event_id=recorded.event_id,
            stream_id=stream,
            version=current + i,
            type=recorded.type,
            schema_version=recorded.schema_version,
            data_json=c.canonical_json(new[i - 1].data),
            metadata_json=c.canonical_json(new[i - 1].metadata),
            recorded_at=recorded.recorded_at,
            prev_hash=prev,
        )
        assert recorded.hash == c.chain_hash(prev, envelope) == recorded.expected_hash()
        prev = recorded.hash


def test_the_chain_quotes_as_it_is_only_what_json_would_not_escape() -> None:
    """``chain_rows`` writes ids and hashes without ``encode_basestring`` when its pattern
    finds nothing to escape: the two agree on every code point."""
    from json.encoder import encode_basestring

    for n in range(0x110000):
        ch = chr(n)
        assert (encode_basestring(ch) == f'"{ch}"') == (store_rows._ESCAPED.search(ch) is None)


# --------------------------------------------------------------------------- a whole import

#: a file of every kind of line the reader takes: plain ones, ones with metrics and
#: dimensions, integers where floats go, nulls, text that is not ASCII, the warm-session
#: framework's words, times, error messages, transcripts, blank lines
VARIED = [
    {"variant": "cold", "tool_calls": 4, "successful_calls": 3, "completion_time": 12},
    {"variant": "warm", "tool_calls": 5, "successful_calls": 5, "completion_time": 9.5},
    {"variant": "warm", "success": True, "cost": 0, "score": -1, "tokens": 10, "messages": 2},
    {"variant": "cold", "success": None, "score": None, "case_id": "c-1", "notes": "ça va"},
    {"variant": "cold", "metrics": {"latency": 3, "judge": 0.5}, "dimensions": {"model": "m1"}},
    {"variant": "warm", "metrics": {}, "dimensions": {}, "case_id": "c-1"},
    {"variant": "warm", "errors": 2, "corrections": 1},
    {"variant": "cold", "error_messages": ["boom", "bang"]},
    {"variant": "cold", "error": "one message"},
    {"session_type": "warm", "successful_tool_calls": 3, "tool_calls": 4, "errors": ["x"]},
    {"variant": "warm", "start_time": "2025-01-14T15:30:12", "end_time": "2025-01-14T15:31:00"},
    {"variant": "cold", "start_time": 100, "end_time": 160.5, "completion_time": 61},
    {"variant": "warm", "transcript": [{"role": "user", "content": "hi"}]},
    {"variant": "cold", "completion_time": 1e15, "cost": 2**40},
    {"variant": "warm", "tool_calls": 2**62, "successful_calls": 0},
    {"variant": "cold", "notes": "日本語", "dimensions": {"task-type": "写作"}},
]


def write_lines(path: Path, rows: list[Any], blank_every: int = 0) -> Path:
    lines = []
    for i, row in enumerate(rows):
        lines.append(row if isinstance(row, str) else json.dumps(row, ensure_ascii=False))
        if blank_every and i % blank_every == 0:
            lines.append("   ")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def stored(path: Path) -> list[tuple[Any, ...]]:
    """What each event stores apart from its random id, its time and its hash chain."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT position, stream_id, version, type, schema_version, data FROM events "
            "ORDER BY position"
        ).fetchall()
    finally:
        conn.close()


@pytest.fixture
def per_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """The path every line took before the batch path: json, then pydantic, one by one."""
    monkeypatch.setattr(d, "quick_results", lambda objs: [None] * len(objs))


def import_into(invoke: Invoke, db: Path, file: Path) -> Any:
    invoke("ab", "create", "t", "--variants", "cold,warm", db=db)
    return invoke("ab", "import", "t", str(file), db=db)


@pytest.mark.parametrize("chunk", [3, 5_000])
def test_an_import_stores_the_bytes_the_per_line_path_stores(
    tmp_path: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(importing, "CHUNK", chunk)
    file = write_lines(tmp_path / "r.jsonl", VARIED * 3, blank_every=4)
    quick = import_into(invoke, tmp_path / "quick.db", file)
    assert quick.exit_code == 0, quick.output
    with monkeypatch.context() as m:
        m.setattr(d, "quick_results", lambda objs: [None] * len(objs))
        slow = import_into(invoke, tmp_path / "slow.db", file)
    assert slow.exit_code == 0, slow.output
    assert quick.output == slow.output
    assert stored(tmp_path / "quick.db") == stored(tmp_path / "slow.db")
    assert len(stored(tmp_path / "quick.db")) == 1 + 3 * len(VARIED)
    verified = invoke("events", "verify", db=tmp_path / "quick.db")
    assert verified.exit_code == 0, verified.output


def import_and_add_each(tmp_path: Path, invoke: Invoke) -> int:
    """The VARIED results the API takes imported into import.db and added one by one with
    ``tb.ab.add_result`` into api.db; returns how many."""
    rows = [
        {"session_id": f"s-{i}", **r}
        for i, r in enumerate(VARIED)
        # the framework's words are for files; the API stores no empty dimensions
        if "session_type" not in r and "error" not in r and r.get("dimensions") != {}
    ]
    file = write_lines(tmp_path / "r.jsonl", rows)
    assert import_into(invoke, tmp_path / "import.db", file).exit_code == 0
    with trialbook.open(tmp_path / "api.db") as tb:
        tb.ab.create("t", variants=["cold", "warm"])
        for row in rows:
            tb.ab.add_result("t", **row)
    return len(rows)


def test_an_import_stores_what_adding_each_result_with_the_api_stores(
    tmp_path: Path, invoke: Invoke
) -> None:
    import_and_add_each(tmp_path, invoke)
    assert stored(tmp_path / "import.db") == stored(tmp_path / "api.db")


def typed_results(path: Path) -> list[tuple[Any, ...]]:
    """Every ``ab_results`` column of every row with its SQLite type, but the time recorded."""
    conn = sqlite3.connect(path)
    try:
        columns = [r[1] for r in conn.execute("PRAGMA table_info(ab_results)")]
        picked = [c for c in columns if c != "recorded_at"]
        return conn.execute(
            f"SELECT {', '.join(f'{c}, typeof({c})' for c in picked)} FROM ab_results "
            "ORDER BY position"
        ).fetchall()
    finally:
        conn.close()


def test_the_batch_fold_stores_the_result_rows_a_single_append_stores(
    tmp_path: Path, invoke: Invoke
) -> None:
    """An import's rows name only the columns their results fill: the same values and
    SQLite types as the single append's insert of every column (NULLs bound)."""
    assert import_and_add_each(tmp_path, invoke) > 4  # more than a single append's few
    assert typed_results(tmp_path / "import.db") == typed_results(tmp_path / "api.db")


#: lines each refused with one message, at any place in a file of good lines
BAD_LINES = [
    "not json",
    '{"variant": "warm", "tool_calls": -1}',
    '{"variant": "warm", "tokens": 9223372036854775808}',
    '{"variant": "warm", "tool_calls": 1e400}',
    '{"variant": "warm", "cost": NaN}',
    '{"variant": "warm", "tool_calls": 123456789012345678901234567890}',
    '{"variant": "warm", "completion_time": 123456789012345678901234567890}',
    '{"variant": "warm", "successful_calls": 3, "tool_calls": 2}',
    '{"variant": "nope"}',
    '{"variant": "warm", "metrics": {"success": 1}}',
    '{"variant": "warm", "metrics": {"latency": 1e16}}',
    '{"variant": "warm", "dimensions": {"model": " "}}',
    '{"variant": "warm", "notes": "\\ud800"}',
    '{"variant": "warm", "extra": 1}',
    '[{"variant": "warm"}]',
    '{"variant": "warm"} {"variant": "cold"}',
    '\ufeff{"variant": "warm"}',
    '{"variant": "warm", "success": "yes"}',
]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sampled_from(BAD_LINES), st.integers(0, 30), st.sampled_from([4, 5_000]))
def test_a_bad_line_is_refused_with_the_message_of_the_per_line_path(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    bad: str,
    at: int,
    chunk: int,
) -> None:
    from click.testing import CliRunner

    from trialbook.shell.cli import cli

    tmp = tmp_path_factory.mktemp("bad")
    at = max(at, bad.startswith("\ufeff"))  # a BOM that starts the file is no error
    good = [json.dumps(r) for r in VARIED if "session_type" not in r][:12] * 3
    file = write_lines(tmp / "r.jsonl", [*good[:at], bad, *good[at:]])
    outputs = []
    with monkeypatch.context() as m:
        m.setattr(importing, "CHUNK", chunk)
        for quick in (True, False):
            if not quick:
                m.setattr(d, "quick_results", lambda objs: [None] * len(objs))
            db = tmp / f"{quick}.db"
            runner = CliRunner()
            runner.invoke(cli, ["--db", str(db), "ab", "create", "t", "--variants", "cold,warm"])
            r = runner.invoke(cli, ["--db", str(db), "ab", "import", "t", str(file)])
            assert r.exit_code == 1, r.output
            assert r.output.startswith(f"Error: line {at + 1}: "), r.output
            assert r.output.count("\n") == 1
            assert count_events(db) == 1
            outputs.append(r.output)
    assert outputs[0] == outputs[1]


def api_rows() -> list[dict[str, Any]]:
    return [
        {"session_id": f"s-{i}", **r}
        for i, r in enumerate(VARIED)
        if "session_type" not in r and "error" not in r and r.get("dimensions") != {}
    ]


def test_add_results_stores_what_add_result_stores_row_by_row(tmp_path: Path) -> None:
    rows = api_rows() * 2
    with trialbook.open(tmp_path / "many.db") as tb:
        tb.ab.create("t", variants=["cold", "warm"])
        tb.ab.add_results("t", rows)
    with trialbook.open(tmp_path / "one.db") as tb:
        tb.ab.create("t", variants=["cold", "warm"])
        for row in rows:
            tb.ab.add_result("t", **row)
    assert stored(tmp_path / "many.db") == stored(tmp_path / "one.db")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"variant": "warm", "tool_calls": -1}, "result 4: tool_calls"),
        ({"variant": "warm", "cost": math.nan}, "result 4: cost"),
        # every row is validated before the test's variants are looked at, as before
        ({"variant": "nope"}, "result 15: tool_calls"),
        ({"variant": "warm", "transcript": "not a list"}, "result 4: "),
        (["not", "a", "mapping"], "result 4: a result is a mapping"),
    ],
)
def test_add_results_refuses_a_bad_row_as_the_per_row_path_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: Any, message: str
) -> None:
    rows = [*api_rows()[:3], bad, *api_rows()[3:], {"variant": "warm", "tool_calls": -2}]
    errors = []
    for quick in (True, False):
        if not quick:
            monkeypatch.setattr(d, "quick_results", lambda objs: [None] * len(objs))
        with trialbook.open(tmp_path / f"{quick}.db") as tb:
            tb.ab.create("t", variants=["cold", "warm"])
            with pytest.raises(trialbook.InvalidCommand) as e:
                tb.ab.add_results("t", rows)
            assert tb.ab.results("t") == []
        errors.append(str(e.value))
    assert errors[0] == errors[1]
    assert errors[0].startswith(message), errors[0]


@pytest.mark.parametrize("chunk", [4, 5_000])
def test_a_bad_line_before_a_byte_that_is_not_utf8_is_the_one_named(
    tmp_path: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(importing, "CHUNK", chunk)
    path = write_lines(tmp_path / "r.jsonl", [{"variant": "cold"}] * 2 + ["{oops"] + [{}] * 3)
    path.write_bytes(path.read_bytes() + b'{"variant": "cold", "notes": "\xff"}\n')
    invoke("ab", "create", "t", "--variants", "cold,warm")
    r = invoke("ab", "import", "t", str(path))
    assert r.exit_code == 1
    assert r.output.startswith("Error: line 3: not valid JSON"), r.output
    path.write_bytes(path.read_bytes().replace(b"{oops", b'{"variant": "cold"}'))
    r = invoke("ab", "import", "t", str(path))
    assert r.output.startswith("Error: line 4: "), r.output  # {} has no variant
    path.write_bytes(path.read_bytes().replace(b"{}", b'{"variant": "warm"}'))
    r = invoke("ab", "import", "t", str(path))
    assert r.output == (
        f"Error: {path} is not UTF-8 text (bad byte at line 7); save it as UTF-8 and import again\n"
    )
    assert count_events(tmp_path / "trialbook.db") == 1
