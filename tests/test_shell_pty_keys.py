"""The shell's keys in a real pseudo-terminal: Tab, Ctrl-C during an eval run, NO_COLOR."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from tests.conftest import Invoke, count_events
from tests.servers import Behaviour, TaskServer
from tests.test_shell_pty import ROOT, spawn
from tests.test_shell_repl import events

CASES = 30


@pytest.fixture(scope="module")
def slow_server() -> Iterator[TaskServer]:
    with TaskServer(Behaviour(latency_s=0.1)) as server:
        yield server


def test_tab_completes_an_option_in_one_press_and_enter_runs_the_completed_line(
    db_path: Path, invoke: Invoke
) -> None:
    assert invoke("ab", "create", "checkout-flow", "--variants", "cold,warm").exit_code == 0
    child = spawn(db_path)
    try:
        child.expect("trialbook>")
        child.send("ab add-result checkout-flow --var")
        child.send("\t")
        # the line now ends in "--variant ": the menu under it offers the test's variants
        child.expect_exact("warm")
        child.send("warm --tool-calls 3\r")
        child.expect_exact("Recorded a result for variant warm of checkout-flow (event #2).")
        child.expect("trialbook>")
        child.send("exit\r")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    meta = events(db_path)[-1]["metadata"]
    assert meta["command"] == "ab add-result checkout-flow --variant warm --tool-calls 3"


def test_ctrl_c_during_an_eval_run_cancels_it_and_the_shell_stays(
    db_path: Path, invoke: Invoke, tmp_path: Path, slow_server: TaskServer
) -> None:
    suite = tmp_path / "many.jsonl"
    suite.write_text(
        "".join(json.dumps({"id": f"c{i:02d}", "input": f"case {i}"}) + "\n" for i in range(CASES))
    )
    assert invoke("eval", "suite", "add", str(suite)).exit_code == 0
    slow_server.reset()
    child = spawn(db_path)
    try:
        child.expect("trialbook>")
        child.send(f"eval run many --target {slow_server.url}/run --name r1 --concurrency 1\r")
        child.expect(r"\d+/\d+")  # the progress line: the run is under way
        child.sendcontrol("c")
        child.expect_exact("Interrupted:")
        child.expect_exact("eval resume r1")
        child.expect("trialbook>")  # still in the shell
        child.send("eval resume r1 --concurrency 8\r")
        child.expect_exact(f"Run r1 finished: {CASES} completed, 0 failed.", timeout=60)
        child.expect("trialbook>")
        child.send("exit\r")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    types = [e["type"] for e in events(db_path) if e["type"].startswith("Run")]
    assert types == ["RunStarted", "RunInterrupted", "RunResumed", "RunFinished"]


def _cli_in_a_terminal(db: Path, *args: str, no_color: bool) -> str:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env["TERM"] = "xterm"
    if no_color:
        env["NO_COLOR"] = "1"
    child = pexpect.spawn(
        sys.executable,
        ["-m", "trialbook", "--db", str(db), *args],
        env=env,
        cwd=str(ROOT),
        encoding="utf-8",
        timeout=30,
    )
    out = child.read()
    child.close()
    return str(out)


@pytest.mark.parametrize("no_color", [False, True], ids=["colour", "NO_COLOR"])
def test_no_color_turns_the_red_error_and_bold_headers_off(
    db_path: Path, invoke: Invoke, no_color: bool
) -> None:
    assert invoke("ab", "create", "checkout-flow", "--variants", "cold,warm").exit_code == 0
    error = _cli_in_a_terminal(db_path, "ab", "summary", "nope", no_color=no_color)
    listing = _cli_in_a_terminal(db_path, "ab", "list", no_color=no_color)
    assert "no A/B test named 'nope'" in error and "checkout-flow" in listing
    assert ("\x1b[" in error + listing) is not no_color
    assert count_events(db_path) == 1


def test_no_color_in_the_shell(db_path: Path, invoke: Invoke) -> None:
    assert invoke("ab", "create", "checkout-flow", "--variants", "cold,warm").exit_code == 0
    child = pexpect.spawn(
        sys.executable,
        ["-m", "trialbook", "--db", str(db_path)],
        env={**os.environ, "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1", "NO_COLOR": "1"},
        cwd=str(ROOT),
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 200),
    )
    try:
        child.expect("trialbook>")
        child.send("ab summary nope\r")
        child.expect_exact("no A/B test named 'nope'")
        child.expect("trialbook>")
        before = str(child.before)
        child.send("exit\r")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert "\x1b[31m" not in before and "\x1b[91m" not in before
