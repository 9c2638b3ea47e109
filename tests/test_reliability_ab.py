"""Issue #22, A/B: every recorded value within the bounds it is read back with, no lenient coercions.

Bad input gets a one-line error naming the field and the fix, a non-zero exit and
nothing appended; a value an older trialbook recorded out of bounds gets a
one-line error too, never an internal one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.conftest import Invoke, count_events
from trialbook.domain import ab
from trialbook.ledger import Ledger
from trialbook.store.base import NewEvent

MAX = 2**63 - 1


@pytest.fixture
def created(invoke: Invoke, db_path: Path) -> int:
    """A database with test ``t`` (variants a, b); returns its event count."""
    assert invoke("ab", "create", "t", "--variants", "a,b").exit_code == 0
    return count_events(db_path)


def append_unchecked(db_path: Path, stream: str, events: list[NewEvent]) -> None:
    """Append events as an older trialbook could have: through the store, no decision."""
    ledger = Ledger(db_path, synchronous="OFF")
    store = ledger.store

    def fold(conn: Any, recorded: Any) -> None:
        ledger.projector.in_transaction(conn, recorded, generation=store.generation)

    with store.transaction():
        store.append(stream, store.stream_version(stream), events, in_transaction=fold)
    ledger.close()


def definition(name: str, **extra: Any) -> NewEvent:
    return NewEvent("TestCreated", {"name": name, "variants": ["a", "b"], "control": "a", **extra})


class TestPlannedResults:
    def test_more_than_64_bits_is_refused_and_nothing_is_recorded(
        self, invoke: Invoke, db_path: Path
    ) -> None:
        r = invoke("ab", "create", "big", "--variants", "a,b", "--expected-results", "1" + "0" * 30)
        assert r.exit_code == 1
        assert r.output == (
            "Error: expected_results: Input should be less than or equal to "
            f"9223372036854775807 (got 1{'0' * 30})\n"
        )
        assert count_events(db_path) == 0

    def test_the_largest_allowed_is_recorded_and_analysed(self, invoke: Invoke) -> None:
        r = invoke("ab", "create", "big", "--variants", "a,b", "--expected-results", str(MAX))
        assert r.exit_code == 0, r.output
        for variant in ("a", "b", "a", "b"):
            assert (
                invoke("ab", "add-result", "big", "--variant", variant, "--success").exit_code == 0
            )
        r = invoke("ab", "analyze", "big", "--json")
        assert r.exit_code == 0, r.output
        assert json.loads(r.output)["test"] == "big"

    def test_a_definition_stored_out_of_bounds_gives_one_line_on_every_use(
        self, invoke: Invoke, db_path: Path
    ) -> None:
        append_unchecked(db_path, "ab:big", [definition("big", expected_results=10**30)])
        before = count_events(db_path)
        message = (
            "Error: test 'big' cannot be read: its stored definition has expected_results: "
            "expected a whole number of at most 9223372036854775807 (got 1e+30); stored events "
            "are never rewritten, so create a new test with `trialbook ab create` and record its "
            "results there\n"
        )
        for args in (
            ["ab", "add-result", "big", "--variant", "a", "--success"],
            ["ab", "analyze", "big"],
            ["ab", "analyze", "big", "--json"],
        ):
            r = invoke(*args)
            assert (r.exit_code, r.output) == (1, message), args
        assert count_events(db_path) == before
        # the rest of the log is unaffected
        assert invoke("ab", "create", "fine", "--variants", "a,b").exit_code == 0
        assert invoke("ab", "add-result", "fine", "--variant", "a").exit_code == 0

    def test_a_stored_result_out_of_bounds_gives_one_line(
        self, invoke: Invoke, db_path: Path, created: int
    ) -> None:
        append_unchecked(
            db_path, "ab:t", [NewEvent("ResultAdded", {"variant": "a", "tokens": 1e30}, 2)]
        )
        before = count_events(db_path)
        r = invoke("ab", "add-result", "t", "--variant", "b", "--success")
        assert r.exit_code == 1
        assert r.output == (
            "Error: a stored result of variant 'a' has tokens: expected a whole number of at "
            "most 9223372036854775807 (got 1e+30); stored events are never rewritten, so create a "
            "new test with `trialbook ab create` and import the results there\n"
        )
        assert count_events(db_path) == before


CREATE_CASES = [
    (
        ["--guardrail", "completion_time:+" + "9" * 400],
        "Error: guardrail 'completion_time:+99999999999999999999...': margin "
        "'+999999999999999999999999999999999999...' is too large to be a number; "
        "write 30 (seconds), 30s, 2min or 10% (relative to control)",
    ),
    (
        ["--split", "a=1e-320,b=1e300"],
        "Error: split weight of 'a' is too small next to the others to give it a share; "
        "use weights of a similar size, e.g. cold=1,warm=1",
    ),
    (
        ["--variants", "a, ,b"],
        "Error: variants: variant 2 of 3 is empty; name every variant, e.g. --variants cold,warm",
    ),
    (
        ["--variants", "a,b,"],
        "Error: variants: variant 3 of 3 is empty; name every variant, e.g. --variants cold,warm",
    ),
    (
        ["--description", "caf\udce9"],
        "Error: description: not valid text: character 4 ('\\udce9') is a byte that is not "
        "UTF-8 or half of a surrogate pair; give the text as UTF-8 (got 'caf\\udce9')",
    ),
]


@pytest.mark.parametrize("args,message", CREATE_CASES, ids=[a[-1][:30] for a, _ in CREATE_CASES])
def test_a_create_that_could_not_be_read_back_is_refused(
    invoke: Invoke, db_path: Path, args: list[str], message: str
) -> None:
    r = invoke(
        "ab", "create", "x", *(["--variants", "a,b"] if "--variants" not in args else []), *args
    )
    assert r.exit_code == 1
    assert r.output == message + "\n"
    assert count_events(db_path) == 0


def test_an_empty_split_item_is_a_usage_error(invoke: Invoke, db_path: Path) -> None:
    r = invoke("ab", "create", "x", "--variants", "a,b", "--split", "a=1,,b=1")
    assert r.exit_code == 2
    assert "'' is not KEY=VALUE" in r.output
    assert count_events(db_path) == 0


def test_weights_near_the_float_limit_give_equal_shares(invoke: Invoke) -> None:
    r = invoke("ab", "create", "x", "--variants", "a,b", "--split", "a=1e308,b=1e308")
    assert r.exit_code == 0, r.output
    r = invoke("ab", "show", "x", "--json")
    assert json.loads(r.output)["test"]["split"] == {"a": 0.5, "b": 0.5}
    assert invoke("ab", "add-result", "x", "--variant", "a", "--success").exit_code == 0
    assert invoke("ab", "analyze", "x").exit_code == 0


class TestImportIsStrict:
    @pytest.mark.parametrize(
        "line,message",
        [
            ('{"variant": "a", "success": "yes"}', "success: expected true or false (got 'yes')"),
            ('{"variant": "a", "success": 1}', "success: expected true or false (got 1)"),
            (
                '{"variant": "a", "tool_calls": true}',
                "tool_calls: expected a whole number (got true)",
            ),
            (
                '{"variant": "a", "tool_calls": "12"}',
                "tool_calls: expected a whole number (got '12')",
            ),
            (
                '{"variant": "a", "tool_calls": 12.0}',
                "tool_calls: expected a whole number (got 12.0)",
            ),
            ('{"variant": "a", "cost": "0.5"}', "cost: expected a number (got '0.5')"),
            ('{"variant": "a", "score": false}', "score: expected a number (got false)"),
            ('{"variant": "a", "metrics": {"m": true}}', "metrics.m: expected a number (got true)"),
            ('{"variant": "a", "session_id": 7}', "session_id: expected text (got 7)"),
            ('{"variant": "a", "error": ["x", 3]}', "error_messages.1: expected text (got 3)"),
            (
                '{"variant": "a", "notes": "\\ud800"}',
                "notes: not valid text: character 1 ('\\ud800') is a byte that is not UTF-8 or "
                "half of a surrogate pair; give the text as UTF-8",
            ),
        ],
    )
    def test_a_value_of_the_wrong_type_names_its_line_and_field(
        self, invoke: Invoke, db_path: Path, created: int, tmp_path: Path, line: str, message: str
    ) -> None:
        f = tmp_path / "r.jsonl"
        f.write_text('{"variant": "a"}\n\n' + line + "\n", encoding="utf-8")
        r = invoke("ab", "import", "t", str(f))
        assert r.exit_code == 1
        assert r.output == f"Error: line 3: {message}\n"
        assert count_events(db_path) == created

    def test_well_typed_lines_still_import(
        self, invoke: Invoke, created: int, tmp_path: Path
    ) -> None:
        f = tmp_path / "r.jsonl"
        f.write_text(
            '{"variant": "a", "success": true, "tool_calls": 3, "successful_calls": 2, '
            '"completion_time": 4, "cost": 0.5, "error": "boom", "metrics": {"m": 1}}\n'
            '{"variant": "b", "success": false, "error": ["x", "y"], "notes": "naïve ✓"}\n',
            encoding="utf-8",
        )
        r = invoke("ab", "import", "t", str(f))
        assert r.exit_code == 0, r.output


def test_add_result_refuses_text_that_is_not_utf8(
    invoke: Invoke, db_path: Path, created: int
) -> None:
    r = invoke("ab", "add-result", "t", "--variant", "a", "--notes", "x\udcff")
    assert r.exit_code == 1
    assert r.output == (
        "Error: notes: not valid text: character 2 ('\\udcff') is a byte that is not UTF-8 or "
        "half of a surrogate pair; give the text as UTF-8\n"
    )
    assert count_events(db_path) == created


class TestStoredResultsStayLax:
    def test_the_input_model_is_strict_and_the_stored_event_is_not(self) -> None:
        data = {"variant": "a", "success": 1, "tool_calls": 3.0, "cost": "0.5"}
        with pytest.raises(ValidationError):
            ab.ResultFields.model_validate(data)
        event = ab.ResultAdded.model_validate(data)
        assert (event.success, event.tool_calls, event.cost) == (True, 3, 0.5)

    def test_a_loosely_typed_v1_result_in_the_log_still_folds(
        self, invoke: Invoke, db_path: Path, created: int
    ) -> None:
        append_unchecked(
            db_path,
            "ab:t",
            [NewEvent("ResultAdded", {"session_type": "a", "success": 1, "tool_calls": 3}, 1)],
        )
        r = invoke("ab", "add-result", "t", "--variant", "b", "--success")
        assert r.exit_code == 0, r.output
        r = invoke("ab", "summary", "t", "--json")
        rows = {v["variant"]: v for v in json.loads(r.output)["variants"]}
        assert rows["a"]["successes"] == 1 and rows["b"]["successes"] == 1


@pytest.mark.parametrize(
    "option,value,name",
    [
        ("--score", "1e77", "score 1e+77"),
        ("--completion-time", "1e300", "completion_time 1e+300"),
        ("--metric", "x=-1e308", "metric x -1e+308"),
    ],
)
def test_a_value_too_large_to_analyse_is_refused_and_nothing_is_recorded(
    invoke: Any, db_path: Path, option: str, value: str, name: str
) -> None:
    # squares and fourth powers of such values overflow the statistics (an internal error
    # in analyze, or a mean of 0 for +1e308 and -1e308 together)
    invoke("ab", "create", "t", "--metric", "score")
    before = count_events(db_path)
    r = invoke("ab", "add-result", "t", "--variant", "control", option, value)
    assert r.exit_code == 1
    assert r.output == (
        f"Error: {name} is too large to analyse; values up to 1e+15 in size are accepted "
        "(record it in another unit)\n"
    )
    assert count_events(db_path) == before
