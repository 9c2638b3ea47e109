"""Start-up cost of the commands people type most, beside a bare Python start in the same run.

Reports, as medians of alternating rounds, the wall and CPU time (user + sys)
of ``trialbook --help`` and of one ``trialbook ab add-result`` as new
processes, beside a process that only imports click and pydantic and builds
one model (the #25 yardstick: the two libraries a CLI built on them cannot
avoid), and whether either command imported scipy, numpy or prompt_toolkit
(they must not).

Bytecode: an installed trialbook has its modules compiled (pip writes the
``.pyc`` files at install, as it did for click and pydantic). An editable
install compiles them on first import, unless ``PYTHONDONTWRITEBYTECODE`` is
set, when every process would compile trialbook's ~60 modules from source
again (~100 ms) while click and pydantic load from bytecode. The script
therefore compiles trialbook's sources first (``compileall``, as pip does);
``--no-compile`` measures without that.

    python bench/startup.py [--rounds 9] [--no-compile]
"""

from __future__ import annotations

import argparse
import compileall
import importlib
import os
import resource
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

#: trialbook's subpackages (pyproject's package-dir), whose sources are compiled first
PACKAGES = (
    "trialbook",
    "trialbook.domain",
    "trialbook.store",
    "trialbook.projections",
    "trialbook.ledger",
    "trialbook.plain",
    "trialbook.runners",
    "trialbook.shell",
)


def compile_trialbook() -> int:
    """Write the ``.pyc`` files of trialbook's modules, as ``pip install`` does; returns how
    many folders were compiled."""
    done = 0
    for name in PACKAGES:
        for folder in importlib.import_module(name).__path__:
            compileall.compile_dir(folder, quiet=1, maxlevels=0 if name == "trialbook" else 20)
            done += 1
    return done


def run(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + sys) and stderr of ``cmd`` as a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"{cmd} failed: {r.stderr}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu, r.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", "--runs", type=int, default=9, help="alternating rounds")
    parser.add_argument(
        "--no-compile", action="store_true", help="do not compile trialbook's bytecode first"
    )
    args = parser.parse_args()
    if not args.no_compile:
        compile_trialbook()
    py = sys.executable
    bare: list[tuple[float, float]] = []
    floor: list[tuple[float, float]] = []
    helps: list[tuple[float, float]] = []
    adds: list[tuple[float, float]] = []
    heavy = {"help": "", "add": ""}
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as d:
        db = str(Path(d) / "s.db")
        run([py, "-m", "trialbook", "--db", db, "ab", "create", "t"])
        add = ["--db", db, "ab", "add-result", "t", "--variant", "control", "--success"]
        run([py, "-c", PROBE, *add])  # warm the file system cache and the database
        for _ in range(args.rounds):
            bare.append(run([py, "-c", "pass"])[:2])
            floor.append(run([py, "-c", FLOOR])[:2])
            *t, err = run([py, "-c", PROBE, *add])
            adds.append((t[0], t[1]))
            heavy["add"] = err.strip().rsplit("HEAVY=", 1)[-1]
            *t, err = run([py, "-c", PROBE, "--help"])
            helps.append((t[0], t[1]))
            heavy["help"] = err.strip().rsplit("HEAVY=", 1)[-1]
        loads.append(os.getloadavg()[0])

    def med(xs: list[tuple[float, float]], i: int) -> float:
        return statistics.median(x[i] for x in xs)

    print(
        f"median of {args.rounds} alternating rounds · load average {loads[0]:.1f} -> "
        f"{loads[1]:.1f} · trialbook bytecode "
        f"{'not compiled first' if args.no_compile else 'compiled first'}"
        + (" · PYTHONDONTWRITEBYTECODE is set" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "")
    )
    print(
        f"bare python start      : {med(bare, 0) * 1000:6.0f} ms wall, {med(bare, 1) * 1000:4.0f} ms CPU"
    )
    print(
        f"click + pydantic only  : {med(floor, 0) * 1000:6.0f} ms wall, {med(floor, 1) * 1000:4.0f} ms CPU"
        f"  (wall/CPU {med(floor, 0) / med(floor, 1):.2f}: near 1 when the machine is not "
        "starved)"
    )
    for label, xs, h in (
        ("trialbook --help       ", helps, heavy["help"]),
        ("trialbook ab add-result", adds, heavy["add"]),
    ):
        wall_ratio = statistics.median(x[0] / f[0] for x, f in zip(xs, floor, strict=True))
        cpu_ratio = statistics.median(x[1] / f[1] for x, f in zip(xs, floor, strict=True))
        print(
            f"{label}: {med(xs, 0) * 1000:6.0f} ms wall, {med(xs, 1) * 1000:4.0f} ms CPU  -> "
            f"{wall_ratio:.2f}x wall, {cpu_ratio:.2f}x CPU of click + pydantic  "
            f"heavy imports: {h or 'none'}"
        )
    print("goal (#25): ab add-result <= 1.5x click + pydantic (wall)")


if __name__ == "__main__":
    main()
