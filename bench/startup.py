"""Start-up cost of the commands people type most, beside a bare Python start in the same run.

Reports wall time (median of several runs) of ``trialbook --help`` and of one
``trialbook ab add-result``, and whether either imported scipy, numpy or
prompt_toolkit (they must not).

    python bench/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("scipy", "numpy", "prompt_toolkit")
PROBE = (
    "import sys, runpy; sys.argv = ['trialbook', *sys.argv[1:]]\n"
    "try:\n    runpy.run_module('trialbook', run_name='__main__')\nexcept SystemExit:\n    pass\n"
    f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))\n"
    "print('HEAVY=' + ','.join(heavy), file=sys.stderr)\n"
)


FLOOR = (
    "import click, pydantic\n"
    "class M(pydantic.BaseModel):\n    x: int\n"
    "M(x=1)\n"
    "click.command()(lambda: None)\n"
)


def timed(args: list[str], runs: int) -> tuple[float, str]:
    times, heavy = [], ""
    for _ in range(runs):
        t = time.perf_counter()
        r = subprocess.run(
            [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=ROOT
        )
        times.append(time.perf_counter() - t)
        heavy = r.stderr.strip().rsplit("HEAVY=", 1)[-1]
        if r.returncode != 0:
            raise SystemExit(f"{args} failed: {r.stderr}")
    return statistics.median(times), heavy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        db = str(Path(d) / "s.db")
        subprocess.run(
            [sys.executable, "-m", "trialbook", "--db", db, "ab", "create", "t"],
            check=True,
            cwd=ROOT,
            capture_output=True,
        )
        base = statistics.median(_time([sys.executable, "-c", "pass"]) for _ in range(args.runs))
        # the goal's yardstick (#25): a process that only imports the two libraries a CLI
        # built on them cannot avoid, and touches one pydantic model
        floor = statistics.median(_time([sys.executable, "-c", FLOOR]) for _ in range(args.runs))
        help_s, help_heavy = timed(["--help"], args.runs)
        add_s, add_heavy = timed(
            ["--db", db, "ab", "add-result", "t", "--variant", "control", "--success"], args.runs
        )
        # wall time on a shared VM moves with its load; CPU time (user + sys) much less
        add_cpu = _cpu(
            [
                sys.executable,
                "-m",
                "trialbook",
                "--db",
                db,
                "ab",
                "add-result",
                "t",
                "--variant",
                "control",
                "--success",
            ],
            args.runs,
        )
        floor_cpu = _cpu([sys.executable, "-c", FLOOR], args.runs)
    print(f"bare python start   : {base * 1000:6.0f} ms")
    print(
        f"trialbook --help    : {help_s * 1000:6.0f} ms  ({help_s / base:.1f}x bare)  heavy imports: "
        f"{help_heavy or 'none'}"
    )
    print(
        f"trialbook ab add-result: {add_s * 1000:6.0f} ms  ({add_s / base:.1f}x bare)  heavy imports: "
        f"{add_heavy or 'none'}"
    )
    print(
        f"click + pydantic only : {floor * 1000:6.0f} ms  -> ab add-result is {add_s / floor:.2f}x it "
        "(goal <= 1.5x)"
    )
    print(
        f"CPU time (user + sys) : ab add-result {add_cpu * 1000:.0f} ms, click + pydantic "
        f"{floor_cpu * 1000:.0f} ms -> {add_cpu / floor_cpu:.2f}x"
    )


def _cpu(cmd: list[str], runs: int) -> float:
    """Median CPU seconds (user + sys) of ``cmd`` as a child process."""
    import resource

    out = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        out.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(out)


def _time(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
