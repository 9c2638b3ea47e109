"""The single-append shortcuts of #25 give what the general path gives.

``NewEvent.of`` builds the same envelope as ``NewEvent(...)``; the A/B aggregate
decides ``AddResults`` without ``singledispatch`` with the same events and the same
refusals; the ledger hands its own metadata dict to the store when a command adds
none, and what is recorded is still the metadata as it was at each append.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from pydantic import ValidationError

from tests.test_import_batch_path import assert_same_fields, pydantic_fields, result_like
from trialbook.domain import ab
from trialbook.domain.commands import build
from trialbook.domain.errors import DomainError
from trialbook.ledger import Ledger
from trialbook.store.base import NewEvent


def test_new_event_of_is_the_dataclass_built_by_its_init() -> None:
    data, meta = {"variant": "cold", "success": True}, {"actor": "a"}
    fast = NewEvent.of("ResultAdded", data, 2, meta, None)
    slow = NewEvent(type="ResultAdded", data=data, schema_version=2, metadata=meta)
    assert fast == slow and repr(fast) == repr(slow)
    assert dataclasses.asdict(fast) == dataclasses.asdict(slow)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.type = "Other"  # type: ignore[misc]
    assert NewEvent.of("T", {}, 1, {}, "id-1").event_id == "id-1"


@settings(max_examples=2000, deadline=None)
@given(result_like)
def test_result_fields_from_keywords_are_the_fields_pydantic_validates(obj: object) -> None:
    """``ResultFields(**values)`` checks plain results itself (``quick_result_fields``):
    the same fields as pydantic's, and pydantic's error for anything else."""
    if not isinstance(obj, dict) or not all(isinstance(k, str) for k in obj):
        return
    slow = pydantic_fields(obj)
    try:
        fast = ab.ResultFields(**obj)
    except (ValidationError, ValueError):
        assert slow is None, f"refused what pydantic takes: {obj!r}"
        return
    assert slow is not None, f"took what pydantic refuses: {obj!r}"
    assert_same_fields(fast, slow)


def test_validation_inside_models_does_not_go_through_the_keyword_shortcut() -> None:
    """``model_validate`` and nested fields validate as pydantic does (its own ``__init__``
    is not called for them), and stored events (a subclass) are read as before."""
    assert not ab.ResultFields.__pydantic_custom_init__
    assert not ab.ResultAdded.__pydantic_custom_init__
    command = build(ab.AddResults, test="t", results=({"variant": "cold", "tool_calls": 2},))
    assert command.results[0] == ab.ResultFields(variant="cold", tool_calls=2)
    event = ab.ResultAdded.model_validate({"variant": "cold", "success": "true"})  # lax
    assert event.success is True
    with pytest.raises(ValidationError):
        ab.ResultFields(variant="cold", success="true")  # strict


@pytest.mark.parametrize(
    "values",
    [
        {"test": "t", "results": (ab.ResultFields(variant="cold"),)},
        {"test": "t", "results": (ab.ResultFields(variant="cold"), ab.ResultFields(variant="w"))},
        {"test": "t", "results": ()},
        {"test": "t", "results": (ab.ResultFields(variant="cold"),), "sources": None},
        {"test": "t", "results": ({"variant": "cold"},)},
        {"test": "t", "results": (ab.ResultFields(variant="cold"),), "sources": ("line 1",)},
    ],
)
def test_add_results_built_from_built_results_is_what_pydantic_validates(
    values: dict[str, object],
) -> None:
    fast = build(ab.AddResults, **values)
    slow = ab.AddResults.model_validate(values)
    assert fast == slow and fast.__dict__ == slow.__dict__
    assert fast.model_fields_set == slow.model_fields_set
    given = values["results"]
    assert isinstance(given, tuple)
    for kept, passed in zip(fast.results, given, strict=True):
        if isinstance(passed, ab.ResultFields):
            assert kept is passed


@pytest.mark.parametrize(
    "values",
    [
        {"test": "t", "results": (ab.ResultFields(variant="cold"),), "extra": 1},
        {"test": 1, "results": (ab.ResultFields(variant="cold"),)},
        {"test": "t", "results": [1]},
        {"test": "t"},
    ],
)
def test_add_results_refuses_what_pydantic_refuses(values: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ab.AddResults.model_validate(values)
    with pytest.raises(DomainError):
        build(ab.AddResults, **values)


STATE = ab.ABTestState(name="t", variants=("cold", "warm"), control="cold", results=3)


def result(**fields: object) -> ab.ResultFields:
    return ab.ResultFields(**{"variant": "cold", "success": True, **fields})


@pytest.mark.parametrize(
    "results",
    [
        (result(),),
        (result(), result(variant="warm", tool_calls=3, successful_calls=2)),
        (result(metrics={"accuracy": 0.5}, dimensions={"model": "m1"}),),
    ],
)
def test_add_results_decided_without_dispatch_as_with_it(
    results: tuple[ab.ResultFields, ...],
) -> None:
    command = build(ab.AddResults, test="t", results=results)
    fast = ab.AB_TESTS.decide(STATE, command)
    assert [e.to_data() for e in fast] == [e.to_data() for e in ab.decide(command, STATE)]
    assert all(type(e) is ab.ResultAdded for e in fast)


@pytest.mark.parametrize(
    ("state", "results"),
    [
        (STATE, (result(variant="hot"),)),
        (STATE, (result(), result(variant="hot"))),
        (STATE, (result(metrics={"cost": 1.0}),)),
        (STATE, (result(cost=1e300),)),
        (STATE, ()),
        (dataclasses.replace(STATE, archived=True), (result(),)),
        (ab.ABTestState(), (result(),)),
    ],
)
def test_add_results_refused_without_dispatch_as_with_it(
    state: ab.ABTestState, results: tuple[ab.ResultFields, ...]
) -> None:
    command = build(ab.AddResults, test="t", results=results)
    with pytest.raises(DomainError) as fast:
        ab.AB_TESTS.decide(state, command)
    with pytest.raises(DomainError) as slow:
        ab.decide(command, state)
    assert type(fast.value) is type(slow.value) and str(fast.value) == str(slow.value)


def test_metadata_recorded_is_the_ledgers_at_each_append(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with Ledger(path) as ledger:
        ledger.execute(build(ab.CreateTest, name="t", variants=("cold", "warm")))
        add = build(ab.AddResults, test="t", results=(result(),))
        ledger.execute(add)
        ledger.metadata["tier"] = "api"
        ledger.execute(add, metadata={"command": "ab add-result t"})
        ledger.execute(add)
        with pytest.raises(DomainError):
            ledger.execute(build(ab.AddResults, test="t", results=(result(variant="hot"),)))
        assert "command" not in ledger.metadata  # a command's own metadata is not kept
    conn = sqlite3.connect(path)
    metas = [
        json.loads(m) for (m,) in conn.execute("SELECT metadata FROM events ORDER BY position")
    ]
    conn.close()
    assert len(metas) == 4  # the refused command appended nothing
    assert "tier" not in metas[1] and "command" not in metas[1]
    assert metas[2]["tier"] == "api" and metas[2]["command"] == "ab add-result t"
    assert metas[3]["tier"] == "api" and "command" not in metas[3]


def test_a_result_evolves_the_state_as_the_dispatched_evolve_does() -> None:
    event = ab.ResultAdded.of(result())
    counted = ab.AB_TESTS.evolve(STATE, event)
    assert counted == ab.evolve(event, STATE) == dataclasses.replace(STATE, results=4)
    assert type(counted) is ab.ABTestState and hash(counted) == hash(ab.evolve(event, STATE))
    assert STATE.results == 3  # the state evolved from is left as it was
    with pytest.raises(dataclasses.FrozenInstanceError):
        counted.results = 0  # type: ignore[misc]


def test_a_batch_evolves_the_state_as_its_events_one_by_one() -> None:
    results = [ab.ResultAdded.of(result()) for _ in range(5)]
    for events in (results, [*results[:2], ab.TestArchived(), *results[2:]], []):
        one_by_one = STATE
        for e in events:
            one_by_one = ab.AB_TESTS.evolve(one_by_one, e)
        at_once = ab.AB_TESTS.evolve_all(STATE, events)
        assert at_once == one_by_one and type(at_once) is ab.ABTestState
        assert hash(at_once) == hash(one_by_one)
    assert STATE.results == 3
