"""The event log contract: one suite of tests every backend must pass.

Subclass :class:`EventStoreContract` and provide a ``store`` fixture returning
a fresh, empty store (see ``tests/test_store_sqlite.py``).
"""

from __future__ import annotations

from typing import Any

import pytest

from trialbook.domain.canonical import GENESIS_HASH, canonical_json
from trialbook.store.base import NewEvent
from trialbook.store.errors import ConcurrencyError, IdempotencyConflict


def ev(n: int = 0, type: str = "Thing", **data: Any) -> NewEvent:
    return NewEvent(type=type, data={"n": n, **data}, metadata={"actor": "t"})


class EventStoreContract:
    """Behaviour every EventStore backend shares."""

    def test_an_empty_log_has_head_zero_and_the_genesis_hash(self, store: Any) -> None:
        assert store.head() == (0, GENESIS_HASH)
        assert store.stream_version("s") == 0
        assert list(store.read_all()) == []

    def test_append_assigns_gap_free_positions_and_stream_versions(self, store: Any) -> None:
        a = store.append("a", 0, [ev(1), ev(2)])
        b = store.append("b", 0, [ev(3)])
        c = store.append("a", 2, [ev(4)])
        assert [e.position for e in a + b + c] == [1, 2, 3, 4]
        assert [e.version for e in a] == [1, 2] and b[0].version == 1 and c[0].version == 3
        assert store.stream_version("a") == 3
        assert [e.data["n"] for e in store.read_stream("a")] == [1, 2, 4]
        assert [e.data["n"] for e in store.read_stream("a", after_version=2)] == [4]

    def test_data_and_metadata_are_stored_as_canonical_json(self, store: Any) -> None:
        (e,) = store.append(
            "s", 0, [NewEvent("T", {"b": 1, "a": "é"}, metadata={"z": 1, "y": [2]})]
        )
        assert e.data_json == '{"a":"é","b":1}'
        assert e.metadata_json == canonical_json({"y": [2], "z": 1})
        assert store.get(e.position) == e

    def test_a_version_clash_raises_a_concurrency_error_and_appends_nothing(
        self, store: Any
    ) -> None:
        store.append("s", 0, [ev(1)])
        with pytest.raises(ConcurrencyError, match="another writer"):
            store.append("s", 0, [ev(2)])
        assert store.head()[0] == 1

    def test_expected_version_none_skips_the_check(self, store: Any) -> None:
        store.append("s", 0, [ev(1)])
        store.append("s", None, [ev(2)])
        assert store.stream_version("s") == 2

    def test_the_hash_chain_links_every_event_to_the_previous_one(self, store: Any) -> None:
        store.append("a", 0, [ev(i) for i in range(5)])
        store.append("b", 0, [ev(9)])
        prev = GENESIS_HASH
        for e in store.read_all():
            assert e.prev_hash == prev
            assert e.hash == e.expected_hash()
            prev = e.hash
        assert store.head() == (6, prev)

    def test_reappending_the_same_event_id_returns_the_original(self, store: Any) -> None:
        first = store.append("s", 0, [NewEvent("T", {"x": 1}, event_id="id-1")])
        again = store.append(
            "s", 0, [NewEvent("T", {"x": 1}, event_id="id-1", metadata={"retry": True})]
        )
        assert again == first
        assert store.head()[0] == 1

    def test_reusing_an_event_id_with_other_content_is_refused(self, store: Any) -> None:
        store.append("s", 0, [NewEvent("T", {"x": 1}, event_id="id-1")])
        with pytest.raises(IdempotencyConflict, match="different content"):
            store.append("s", 1, [NewEvent("T", {"x": 2}, event_id="id-1")])
        assert store.head()[0] == 1

    def test_a_partly_recorded_batch_is_refused_whole(self, store: Any) -> None:
        store.append("s", 0, [NewEvent("T", {"x": 1}, event_id="id-1")])
        with pytest.raises(IdempotencyConflict, match="whole or not at all"):
            store.append(
                "s",
                1,
                [NewEvent("T", {"x": 1}, event_id="id-1"), NewEvent("T", {}, event_id="id-2")],
            )
        assert store.head()[0] == 1

    def test_a_failure_inside_the_transaction_appends_nothing(self, store: Any) -> None:
        def explode(conn: Any, recorded: Any) -> None:
            raise RuntimeError("projection failed")

        with pytest.raises(RuntimeError):
            store.append("s", 0, [ev(1), ev(2)], in_transaction=explode)
        assert store.head() == (0, GENESIS_HASH)
        assert store.append("s", 0, [ev(3)])[0].position == 1

    def test_in_transaction_sees_the_recorded_events(self, store: Any) -> None:
        seen = []
        store.append("s", 0, [ev(1), ev(2)], in_transaction=lambda conn, rec: seen.extend(rec))
        assert [e.position for e in seen] == [1, 2]

    def test_read_all_filters_by_range_stream_and_type(self, store: Any) -> None:
        store.append("a", 0, [ev(1, "X"), ev(2, "Y")])
        store.append("b", 0, [ev(3, "X")])
        assert [e.position for e in store.read_all(after_position=1)] == [2, 3]
        assert [e.position for e in store.read_all(until_position=2)] == [1, 2]
        assert [e.position for e in store.read_all(stream_id="b")] == [3]
        assert [e.position for e in store.read_all(types=["X"])] == [1, 3]
        assert [e.position for e in store.read_all(batch_size=1)] == [1, 2, 3]

    def test_get_finds_an_event_by_position_or_id(self, store: Any) -> None:
        (e,) = store.append("s", 0, [ev(1)])
        assert store.get(1) == e
        assert store.get(e.event_id) == e
        assert store.get(2) is None and store.get("nope") is None

    def test_an_empty_append_is_a_no_op(self, store: Any) -> None:
        assert store.append("s", 0, []) == []
        assert store.head()[0] == 0

    def test_recorded_at_never_goes_backwards(self, store: Any) -> None:
        for i in range(20):
            store.append("s", i, [ev(i)])
        times = [e.recorded_at for e in store.read_all()]
        assert times == sorted(times)
