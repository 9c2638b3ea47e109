"""The shell end to end in a pseudo-terminal, and what the one-shot commands do not import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from tests.conftest import Invoke, count_events
from tests.test_shell_repl import WARM, WARM_LINE, events

ROOT = Path(__file__).parent.parent
HEAVY = ("prompt_toolkit", "scipy", "numpy")


def spawn(db: Path) -> pexpect.spawn:
    env = {
        **os.environ,  # the isolated XDG dirs and HOME of tests/conftest.py
        "TERM": "xterm",
        "PROMPT_TOOLKIT_NO_CPR": "1",  # pexpect does not answer cursor-position requests
        "PAGER": "cat",
    }
    return pexpect.spawn(
        sys.executable,
        ["-m", "trialbook", "--db", str(db)],
        env=env,
        cwd=str(ROOT),
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 220),
    )


def test_a_plain_request_is_echoed_confirmed_and_recorded_then_ctrl_c_and_ctrl_d(
    db_path: Path, invoke: Invoke, isolated_user_dirs: Path
) -> None:
    assert invoke("ab", "create", "checkout-flow", "--variants", "cold,warm").exit_code == 0
    child = spawn(db_path)
    try:
        child.expect("trialbook>")
        child.send(WARM + "\r")
        child.expect_exact(f"→ {WARM_LINE}")
        child.expect(r"Run it\? \[y/N\]")
        child.send("y\r")
        child.expect_exact("Recorded a result for variant warm of checkout-flow (event #2).")
        child.expect("trialbook>")
        # Ctrl-C clears a half-typed line and the shell stays
        child.send("ab arch")
        child.sendcontrol("c")
        child.expect("trialbook>")
        child.send("events log\r")
        child.expect_exact("ResultAdded")
        child.expect("trialbook>")
        child.sendcontrol("d")  # Ctrl-D on an empty line leaves
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    assert count_events(db_path) == 2
    meta = events(db_path)[-1]["metadata"]
    assert meta["input"] == WARM and meta["parser_tier"] == "rules" and meta["tier"] == "repl"
    history = (isolated_user_dirs / "state" / "trialbook" / "history").read_text()
    assert WARM in history and "events log" in history
    assert "ab arch" not in history  # the cleared line never ran


def test_declining_in_the_terminal_records_nothing(db_path: Path, invoke: Invoke) -> None:
    assert invoke("ab", "create", "checkout-flow", "--variants", "cold,warm").exit_code == 0
    child = spawn(db_path)
    try:
        child.expect("trialbook>")
        child.send(WARM + "\r")
        child.expect(r"Run it\? \[y/N\]")
        child.send("\r")  # Enter alone is No
        child.expect_exact("Not run; nothing recorded.")
        child.expect("trialbook>")
        child.send("exit\r")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    assert count_events(db_path) == 1


PROBE = (
    "import sys, runpy\n"
    "sys.argv = ['trialbook', *sys.argv[1:]]\n"
    "try:\n    runpy.run_module('trialbook', run_name='__main__')\nexcept SystemExit as e:\n    code = e.code\n"
    f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))\n"
    "print('HEAVY=' + ','.join(heavy), file=sys.stderr)\n"
)


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["ab", "add-result", "t", "--variant", "control", "--tool-calls", "3"],
        ["ask", "what tests do I have?"],
        ["ask", "add a control result: 3 calls", "--yes"],
    ],
    ids=["help", "add-result", "ask-read", "ask-write"],
)
def test_one_shot_commands_import_no_prompt_toolkit_scipy_or_numpy(
    args: list[str], db_path: Path, invoke: Invoke
) -> None:
    assert invoke("ab", "create", "t").exit_code == 0
    r = subprocess.run(
        [sys.executable, "-c", PROBE, "--db", str(db_path), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert "HEAVY=" in r.stderr, r.stderr
    assert r.stderr.rsplit("HEAVY=", 1)[1].strip() == "", r.stderr
    assert "Error" not in r.stderr
