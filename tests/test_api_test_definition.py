"""``tb.ab.get``/``list`` (and ``ab show --json``'s ``test``) carry what only the definition
event holds: the planned results, caps and segments fixed at creation. ``ab create`` goes
through ``tb.ab.create`` (the CLI stays thin) and records exactly what it did before."""

from __future__ import annotations

import json
from pathlib import Path

import trialbook
from tests.conftest import Invoke


def test_the_api_returns_the_plan_fixed_at_creation(tmp_path: Path) -> None:
    with trialbook.open(tmp_path / "t.db") as tb:
        made = tb.ab.create(
            "t", variants=["a", "b"], metric="cost", expected_results=300, caps="cost:p99",
            segments=["model", "category"],
        )  # fmt: skip
        plain = tb.ab.create("u", variants=["a", "b"])
        assert (made.expected_results, made.caps, made.segments) == (
            300,
            ["cost:p99"],
            ["model", "category"],
        )
        assert (plain.expected_results, plain.caps, plain.segments) == (None, [], [])
        assert tb.ab.get("t") == made
        assert [t.name for t in tb.ab.list()] == ["t", "u"] and tb.ab.list()[0] == made


def test_the_cli_create_records_what_the_api_records(invoke: Invoke, db_path: Path) -> None:
    r = invoke(
        "ab", "create", "t", "--variants", "a, b", "--metric", "cost", "--cap", "cost:p99",
        "--expected-results", "300", "--segment", "model", "--guardrail", "completion_time:+10%",
        "--category", "coding",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert r.output == (
        "Created A/B test t with variants a, b (control: a, metric: cost, planned results: 300, "
        "capped: cost:p99).\n"
    )
    show = json.loads(invoke("ab", "show", "t", "--json").output)["test"]
    assert (show["expected_results"], show["caps"], show["segments"]) == (
        300,
        ["cost:p99"],
        ["model"],
    )
    with trialbook.open(db_path) as tb:
        tb.ab.create(
            "t2", variants=["a", "b"], metric="cost", caps=["cost:p99"], expected_results=300,
            segments=["model"], guardrails=["completion_time:+10%"], category="coding",
        )  # fmt: skip
        cli_event, api_event = tb.events.get(1), tb.events.get(2)
    assert cli_event.metadata["tier"] == "cli" and "call" not in cli_event.metadata
    assert {**cli_event.data, "name": "t2"} == api_event.data
    # a bad definition is one line and records nothing
    r = invoke("ab", "create", "v", "--variants", "a,b", "--cap", "cost:p101")
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1
    with trialbook.open(db_path) as tb:
        assert tb.position == 2
