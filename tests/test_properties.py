"""Property-based tests: serialization, canonical JSON, idempotency, and projections."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trialbook.domain import ab
from trialbook.domain.canonical import canonical_json, envelope_json, new_event_id
from trialbook.domain.commands import build
from trialbook.domain.errors import DomainError
from trialbook.domain.events import EVENT_TYPES, load_event
from trialbook.ledger import Ledger
from trialbook.projections.ab_queries import moments
from trialbook.store.base import NewEvent
from trialbook.store.sqlite import SQLiteEventStore

names = st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True)
finite = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)
counts = st.integers(min_value=0, max_value=50)


@st.composite
def result_fields(draw: Any, variants: tuple[str, ...]) -> ab.ResultFields:
    calls = draw(st.none() | counts)
    ok = None if calls is None else draw(st.none() | st.integers(0, calls))
    errors = draw(st.sampled_from(["none", "count", "messages"]))
    return ab.ResultFields(
        errors=draw(counts) if errors == "count" else None,
        error_messages=(
            tuple(draw(st.lists(st.sampled_from(["timeout", "404"]), min_size=0, max_size=3)))
            if errors == "messages"
            else ()
        ),
        corrections=draw(st.none() | counts),
        variant=draw(st.sampled_from(variants)),
        session_id=draw(st.none() | names),
        success=draw(st.none() | st.booleans()),
        tool_calls=calls,
        successful_calls=ok,
        completion_time=draw(st.none() | finite),
        messages=draw(st.none() | counts),
        tokens=draw(st.none() | st.integers(0, 10**6)),
        cost=draw(st.none() | finite),
        score=draw(st.none() | st.floats(-100, 100, allow_nan=False)),
        case_id=draw(st.none() | st.sampled_from(["c1", "c2", "c3"])),
        metrics=draw(
            st.dictionaries(
                st.sampled_from(["m_a", "m_b"]),
                st.floats(-1e3, 1e3, allow_nan=False),
                max_size=2,
            )
        ),
    )


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_canonical_json_is_stable_under_a_round_trip(value: Any) -> None:
    text = canonical_json(value)
    assert canonical_json(json.loads(text)) == text


@given(json_values)
def test_canonical_json_is_the_text_json_dumps_gives_with_the_canonical_options(
    value: Any,
) -> None:
    # the hash chain depends on this text: the encoder built once must write what
    # json.dumps wrote in every earlier version
    assert canonical_json(value) == json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


@given(
    st.dictionaries(st.text(max_size=5), json_values, max_size=5),
    st.dictionaries(st.text(max_size=5), st.text(max_size=10), max_size=3),
    st.text(max_size=20),
    st.integers(1, 10**9),
)
def test_the_envelope_text_equals_canonical_json_of_the_whole_envelope(
    data: dict[str, Any], meta: dict[str, Any], stream: str, position: int
) -> None:
    fields = dict(
        position=position,
        event_id=new_event_id(),
        stream_id=stream,
        version=3,
        type="T",
        schema_version=2,
        recorded_at="2026-11-23T10:00:00.000000Z",
        prev_hash="ab" * 32,
    )
    spliced = envelope_json(
        data_json=canonical_json(data), metadata_json=canonical_json(meta), **fields
    )
    assert spliced == canonical_json({**fields, "data": data, "metadata": meta})


def test_event_ids_are_time_ordered_uuid7() -> None:
    ids = [new_event_id() for _ in range(5000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(i[14] == "7" and i[19] in "89ab" for i in ids)


@given(st.data())
def test_every_event_round_trips_through_its_stored_form(data: st.DataObject) -> None:
    variants = ("cold", "warm")
    event = data.draw(
        st.one_of(
            st.builds(lambda r: ab.ResultAdded(**r.model_dump()), result_fields(variants)),
            st.builds(
                lambda n, m: ab.TestCreated(name=n, variants=variants, control="cold", metric=m),
                names,
                st.sampled_from(["success", "cost", "custom_x"]),
            ),
            st.builds(ab.TestArchived, reason=st.none() | st.text(max_size=10)),
        )
    )
    stored = canonical_json(event.to_data())
    assert EVENT_TYPES[event.event_type] is type(event)
    assert load_event(event.event_type, event.schema_version, json.loads(stored)) == event


def test_a_v1_result_with_session_type_reads_as_a_v2_variant() -> None:
    v1 = {"session_type": "warm", "tool_calls": 10, "successful_calls": 9, "success": True}
    e = load_event("ResultAdded", 1, v1)
    assert isinstance(e, ab.ResultAdded) and e.variant == "warm" and e.tool_calls == 10


@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 3)), min_size=1, max_size=10))
@settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None, max_examples=30
)
def test_appending_the_same_event_id_twice_is_a_no_op(batch: list[tuple[str, int]]) -> None:
    with tempfile.TemporaryDirectory() as d, SQLiteEventStore(Path(d) / "x.db") as store:
        ids = [new_event_id() for _ in batch]
        events = [
            NewEvent("T", {"v": v}, event_id=i) for (_, v), i in zip(batch, ids, strict=False)
        ]
        first = store.append("s", 0, events)
        again = store.append("s", None, events)
        assert again == first and store.head()[0] == len(batch)


# --------------------------------------------------------------------------- projections


@st.composite
def command_sequences(draw: Any) -> list[Any]:
    """A random sequence of A/B commands, valid or not (refused ones simply append nothing)."""
    tests = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    variants = ("cold", "warm", "hot")
    seq: list[Any] = []
    for _ in range(draw(st.integers(1, 25))):
        test = draw(st.sampled_from(tests))
        kind = draw(
            st.sampled_from(["create", "result", "result", "results", "archive", "restore"])
        )
        if kind == "create":
            # the primary and guardrail metrics are the per-case statistics' slots (ab_cases)
            guards = draw(st.lists(st.sampled_from(["cost", "completion_time", "m_a"]), max_size=2))
            seq.append(
                build(
                    ab.CreateTest,
                    name=test,
                    variants=variants[: draw(st.integers(2, 3))],
                    metric=draw(st.sampled_from(["success", "completion_time", "error_rate"])),
                    guardrails=tuple(ab.Guardrail(metric=g, limit=0.1) for g in guards),
                )
            )
        elif kind in ("result", "results"):
            k = 1 if kind == "result" else draw(st.integers(2, 6))
            rs = tuple(draw(result_fields(variants)) for _ in range(k))
            seq.append(build(ab.AddResults, test=test, results=rs))
        elif kind == "archive":
            seq.append(build(ab.ArchiveTest, test=test))
        else:
            seq.append(build(ab.RestoreTest, test=test))
    return seq


TABLES = ["ab_tests", "ab_variants", "ab_results", "ab_cases"]


def dump(conn: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3").fetchall() for t in TABLES}


@given(command_sequences())
@settings(deadline=None, max_examples=60)
def test_incremental_projection_equals_a_rebuild_and_a_replay_in_any_batches(
    commands: list[Any],
) -> None:
    with tempfile.TemporaryDirectory() as d:
        ledger = Ledger(Path(d) / "p.db", synchronous="OFF")
        for c in commands:
            with contextlib.suppress(DomainError):
                ledger.execute(c)
        incremental = dump(ledger.conn)
        ledger.rebuild_projections()
        assert dump(ledger.conn) == incremental
        # a replay into a scratch database, in small batches, folds to the same tables
        scratch = sqlite3.connect(":memory:")
        ledger.projector.replay(scratch, ledger.store.read_all(), batch=3)
        assert dump(scratch) == incremental
        scratch.close()
        ledger.close()


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["cold", "warm"]),
            st.dictionaries(
                st.sampled_from(["m_a", "score", "error_rate", "success", "failed_calls"]),
                st.floats(-1e3, 1e3, allow_nan=False),
                max_size=2,
            ),
            st.none() | st.floats(-100, 100, allow_nan=False),
            st.none() | st.booleans(),
        ),
        min_size=1,
        max_size=12,
    ),
    st.integers(1, 4),
)
@settings(deadline=None, max_examples=40)
def test_stored_custom_metrics_named_like_built_ins_fold_alike_every_way(
    results: list[tuple[str, dict[str, float], float | None, bool | None]], batch: int
) -> None:
    """Results recorded before such names were refused still fold the same on every path."""
    with tempfile.TemporaryDirectory() as d:
        ledger = Ledger(Path(d) / "p.db", synchronous="OFF")
        ledger.execute(build(ab.CreateTest, name="t", variants=("cold", "warm")))
        stored = [
            ab.ResultFields(variant=v, metrics=m, score=score, success=ok).model_dump(
                mode="json", exclude_none=True
            )
            for v, m, score, ok in results
        ]
        store = ledger.store

        def fold(conn: sqlite3.Connection, recorded: Any) -> None:
            ledger.projector.in_transaction(conn, recorded, generation=store.generation)

        for start in range(0, len(stored), batch):
            with store.transaction():  # the append path of old versions: no decision
                store.append(
                    "ab:t",
                    store.stream_version("ab:t"),
                    [NewEvent("ResultAdded", data, 2) for data in stored[start : start + batch]],
                    in_transaction=fold,
                )
        incremental = dump(ledger.conn)
        assert sum(r[5] for r in incremental["ab_variants"]) == len(results)
        ledger.rebuild_projections()
        assert dump(ledger.conn) == incremental
        scratch = sqlite3.connect(":memory:")
        ledger.projector.replay(scratch, ledger.store.read_all(), batch=batch)
        assert dump(scratch) == incremental
        scratch.close()
        ledger.close()


@given(command_sequences(), st.data())
@settings(deadline=None, max_examples=40)
def test_replaying_to_any_point_then_continuing_equals_a_full_replay(
    commands: list[Any], data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as d:
        ledger = Ledger(Path(d) / "p.db", synchronous="OFF")
        for c in commands:
            with contextlib.suppress(DomainError):
                ledger.execute(c)
        head = ledger.store.head()[0]
        cut = data.draw(st.integers(0, head))
        partial = sqlite3.connect(":memory:")
        proj = ledger.projector
        proj.replay(partial, ledger.store.read_all(until_position=cut))
        for p in proj.projections:
            rest = [e for e in ledger.store.read_all(after_position=cut) if e.type in p.handles]
            if rest:
                p.apply(partial, rest)
        assert dump(partial) == dump(ledger.conn)
        partial.close()
        ledger.close()


@given(st.lists(st.floats(0, 1e4, allow_nan=False), min_size=1, max_size=40))
@settings(deadline=None, max_examples=30)
def test_projected_moments_match_numpy(values: list[float]) -> None:
    import numpy as np

    with tempfile.TemporaryDirectory() as d:
        ledger = Ledger(Path(d) / "m.db", synchronous="OFF")
        ledger.execute(build(ab.CreateTest, name="t", variants=("a", "b")))
        ledger.execute(
            build(
                ab.AddResults,
                test="t",
                results=tuple(ab.ResultFields(variant="a", completion_time=v) for v in values),
            )
        )
        got = moments(ledger.conn, "t")["a"]["completion_time"]
        n, mean, m2 = got.n, got.mean, got.m2
        ledger.close()
    arr = np.array(values)
    assert n == len(values)
    assert abs(mean - arr.mean()) <= 1e-9 * max(1.0, abs(arr.mean()))
    assert abs(m2 - ((arr - arr.mean()) ** 2).sum()) <= 1e-6 * max(
        1.0, ((arr - arr.mean()) ** 2).sum()
    )


def test_the_bulk_rebuild_reproduces_awkward_values_exactly(tmp_path: Path) -> None:
    """Floats in exponent form, negative zero, escapes and non-ASCII text survive the SQL extraction."""
    ledger = Ledger(tmp_path / "awkward.db", synchronous="OFF")
    ledger.execute(build(ab.CreateTest, name="t", variants=("a", "b")))
    awkward = [
        ab.ResultFields(
            variant="a",
            metrics={"m_a": 1e-05, "m_b": -0.0},
            completion_time=5e-324,
            error_messages=('quote " and \\ backslash', "é ünïcode ✓", "tab\tnew\nline"),
            notes="naïve — “quotes”",
            score=1e20,
            cost=0.1 + 0.2,
        ),
        ab.ResultFields(
            variant="b",
            metrics={"m_a": 123456789.123456789, "z_9": 1e300},
            errors=2,
            error_messages=("x", "y"),
            success=False,
            tool_calls=0,
            successful_calls=0,
        ),
        ab.ResultFields(variant="a", error_messages=(), metrics={}, tokens=10**15),
        # SQLite's json_extract ends a text at a NUL character ("a\x00b" read "a"): a result
        # with one is folded in Python in a rebuild too
        ab.ResultFields(variant="b", notes="a\x00b", error_messages=("nul\x00inside",)),
    ]
    store = ledger.store

    def fold(conn: sqlite3.Connection, recorded: Any) -> None:
        ledger.projector.in_transaction(conn, recorded, generation=store.generation)

    for r in awkward:
        # appended as versions before the 1e15 bound on values recorded them (1e20, 1e300):
        # such stored results must still fold and rebuild exactly
        data = r.model_dump(mode="json", exclude_none=True)
        with store.transaction():
            store.append(
                "ab:t",
                store.stream_version("ab:t"),
                [NewEvent("ResultAdded", data, 2)],
                in_transaction=fold,
            )
    incremental = dump(ledger.conn)
    ledger.rebuild_projections()
    assert dump(ledger.conn) == incremental
    ledger.close()
