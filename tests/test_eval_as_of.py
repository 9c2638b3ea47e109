"""eval show --as-of/--at: the run's tables as they were, from a replay that leaves the live ones alone."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Invoke, count_events
from trialbook.shell.commands.demo import DEMO_RUN


def test_eval_show_at_a_position_replays_the_run_up_to_it(invoke: Invoke, db_path: Path) -> None:
    assert invoke("demo", "--sessions", "3").exit_code == 0
    head = count_events(db_path)
    live = json.loads(invoke("eval", "show", DEMO_RUN, "--json").output)
    at_head = json.loads(invoke("eval", "show", DEMO_RUN, "--at", str(head), "--json").output)
    assert at_head == live
    events = json.loads(
        invoke("events", "log", "--stream", f"eval-run:{DEMO_RUN}", "--limit", "0", "--json").output
    )
    started = events[0]["position"]
    assert events[0]["type"] == "RunStarted"
    early = json.loads(invoke("eval", "show", DEMO_RUN, "--at", str(started), "--json").output)
    assert early["rollouts"] == [] and live["rollouts"]
    # the time of the start event selects the same point
    by_time = json.loads(
        invoke("eval", "show", DEMO_RUN, "--as-of", events[0]["recorded_at"], "--json").output
    )
    assert len(by_time["rollouts"]) <= len(live["rollouts"])
    assert (
        json.loads(invoke("eval", "show", DEMO_RUN, "--json").output) == live
    )  # live tables untouched
    assert count_events(db_path) == head


def test_eval_show_before_the_run_started_is_a_one_line_error(
    invoke: Invoke, db_path: Path
) -> None:
    assert invoke("demo", "--sessions", "3").exit_code == 0
    r = invoke("eval", "show", DEMO_RUN, "--at", "1")
    assert r.exit_code == 1
    assert r.output == f"Error: eval run {DEMO_RUN!r} had not started yet at position 1\n"
    r = invoke("eval", "show", DEMO_RUN, "--at", "1", "--as-of", "2026-01-01T00:00:00")
    assert r.exit_code == 2
