"""User-space instructions a single append costs, beside the SQL floor's, under callgrind.

The wall-clock ratios of ``bench/append.py`` move by ±30 % with the load of a
shared machine (per run 0.52–0.78 on 2026-12-03), too much to tell a change of
a few per cent. Instructions executed in user space do not depend on the load:
this script counts them with valgrind's callgrind for the full path (what
``bench/append.py`` times: ``ab.ResultFields``, the command, ``Ledger.execute``)
and for the SQL floor (the same event and ``ab_results`` rows with plain
sqlite3, one ``BEGIN IMMEDIATE`` each), both at ``synchronous=OFF``. Each is
run twice, with ``--appends`` single appends after 300 untimed ones and with
none, so start-up and imports cancel out: the figure is the difference over
``--appends``. What it leaves out is the kernel's share (the WAL writes and
the sync), which the wall-clock benchmark measures; an extra page written
costs both (its checksum and copy are counted here). Needs ``valgrind``.

    python bench/append_instructions.py [--appends N]
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

#: single appends made before the counted ones in both runs (past each table's first pages)
WARM = 300


def _results(n: int) -> list[dict]:
    from bench.common import sample_result

    rng = random.Random(1)
    return [sample_result(rng, i=i) for i in range(n)]


def run_full(path: Path, n: int) -> None:
    from trialbook.domain import ab
    from trialbook.domain.commands import build
    from trialbook.ledger import Ledger

    ledger = Ledger(path, synchronous="OFF")
    ledger.execute(build(ab.CreateTest, name="bench", variants=("cold", "warm")))
    for fields in _results(WARM + n):
        ledger.execute(build(ab.AddResults, test="bench", results=(ab.ResultFields(**fields),)))
    ledger.close()


def run_floor(path: Path, rows_path: Path, n: int) -> None:
    from bench.append import _INSERT_EVENT, _insert_result, floor_file, recorded_rows

    events, results = recorded_rows(rows_path)  # every row in both runs: the read cancels out
    conn = floor_file(path, "OFF")
    insert_result = _insert_result(results)
    for event, result in zip(events[: WARM + n], results[: WARM + n], strict=True):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(_INSERT_EVENT, event)
        conn.execute(insert_result, result)
        conn.execute("COMMIT")
    conn.close()


def counted(args: list[str]) -> int:
    """Instructions callgrind counted running this script with ``args``."""
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            __file__,
            *args,
        ],
        capture_output=True,
        text=True,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"callgrind failed on {' '.join(args)}: {done.stderr[-500:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--appends", type=int, default=600, help="counted single appends (default 600)"
    )
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)  # kind, file, rows file, n
    args = parser.parse_args()
    if args.child:
        kind, path, rows_path, n = args.child
        if kind == "full":
            run_full(Path(path), int(n))
        else:
            run_floor(Path(path), Path(rows_path), int(n))
        return
    if args.appends < 1:
        raise SystemExit("--appends must be at least 1")
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (it counts the instructions): install it first")
    from bench.append import full_single

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        rows = tmp / "rows.db"
        full_single(rows, _results(WARM + args.appends), "OFF")  # the rows the floor inserts
        per: dict[str, float] = {}
        for kind in ("full", "floor"):
            many = counted(
                ["--child", kind, str(tmp / f"{kind}-n.db"), str(rows), str(args.appends)]
            )
            none = counted(["--child", kind, str(tmp / f"{kind}-0.db"), str(rows), "0"])
            per[kind] = (many - none) / args.appends
    print(
        f"user-space instructions per single append (callgrind, synchronous=OFF, "
        f"{args.appends} appends after {WARM}): trialbook {per['full'] / 1000:,.1f}k, "
        f"SQL floor {per['floor'] / 1000:,.1f}k, ratio {per['full'] / per['floor']:.2f}"
    )


if __name__ == "__main__":
    main()
