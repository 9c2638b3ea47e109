"""Time to the shell's first prompt in a pseudo-terminal, beside a bare Python start in the same run.

Spawns ``trialbook`` (the installed console script) in a pty with pexpect and
measures until ``trialbook>`` is drawn, then, in the same session, how long the
first plain request takes to answer when sent the moment the prompt appears
(the parser, the commands and the store's names load in a background thread
once the prompt is drawn, so this is the worst case). The baseline is ``python -c pass`` spawned the same way.
Goal: first prompt ≤ 0.5 s. Each run gets fresh XDG dirs and a database holding
one test; the median of ``--runs`` is reported.

    python bench/shell_startup.py [--runs 9]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pexpect

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 0.5


def trialbook_command() -> list[str]:
    """The console script next to this interpreter, else ``python -m trialbook``."""
    script = Path(sys.executable).with_name("trialbook")
    return [str(script)] if script.exists() else [sys.executable, "-m", "trialbook"]


def env_for(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    for var, sub in (
        ("XDG_DATA_HOME", "data"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_CONFIG_HOME", "config"),
    ):
        (home / sub).mkdir(exist_ok=True)
        env[var] = str(home / sub)
    env.pop("TRIALBOOK_DB", None)
    env.pop("TRIALBOOK_HISTORY", None)
    env.pop("TRIALBOOK_LLM_BASE_URL", None)
    env["TERM"] = "xterm"
    env["PROMPT_TOOLKIT_NO_CPR"] = "1"  # pexpect does not answer cursor-position requests
    return env


def time_bare(env: dict[str, str]) -> float:
    t = time.perf_counter()
    child = pexpect.spawn(sys.executable, ["-c", "pass"], env=env, encoding="utf-8", timeout=30)
    child.expect(pexpect.EOF)
    elapsed = time.perf_counter() - t
    child.close()
    return elapsed


def time_shell(cmd: list[str], db: Path, env: dict[str, str]) -> tuple[float, float]:
    """(seconds to the first prompt, seconds for the first plain request to answer)."""
    t = time.perf_counter()
    child = pexpect.spawn(
        cmd[0],
        [*cmd[1:], "--db", str(db)],
        env=env,
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 200),
    )
    child.expect("trialbook>")
    first_prompt = time.perf_counter() - t
    t = time.perf_counter()
    child.send("what tests do I have?\r")
    child.expect_exact("checkout-flow")
    first_answer = time.perf_counter() - t
    child.expect("trialbook>")
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child.close()
    if child.exitstatus != 0:
        raise SystemExit(f"the shell exited {child.exitstatus}")
    return first_prompt, first_answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    cmd = trialbook_command()
    bare: list[float] = []
    prompt: list[float] = []
    answer: list[float] = []
    for _ in range(args.runs):
        home = Path(tempfile.mkdtemp(prefix="tb-shell-bench-"))
        try:
            env = env_for(home)
            db = home / "bench.db"
            subprocess.run(
                [*cmd, "--db", str(db), "ab", "create", "checkout-flow", "--variants", "cold,warm"],
                check=True,
                capture_output=True,
                env=env,
                cwd=ROOT,
            )
            bare.append(time_bare(env))
            p, a = time_shell(cmd, db, env)
            prompt.append(p)
            answer.append(a)
        finally:
            shutil.rmtree(home, ignore_errors=True)
    b, p, a = statistics.median(bare), statistics.median(prompt), statistics.median(answer)
    print(f"runs: {args.runs} (median; pty via pexpect; {' '.join(Path(c).name for c in cmd)})")
    print(f"bare `python -c pass`         : {b * 1000:6.0f} ms")
    print(
        f"trialbook first prompt        : {p * 1000:6.0f} ms  ({p / b:.1f}x bare; goal ≤ {GOAL_S * 1000:.0f} ms: "
        f"{'met' if p <= GOAL_S else 'NOT met'})"
    )
    print(
        f"first plain request answered  : {a * 1000:6.0f} ms after sending it at the first prompt "
        "(worst case: the parser, commands and names still loading in the background)"
    )


if __name__ == "__main__":
    main()
