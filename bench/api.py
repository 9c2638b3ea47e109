"""Recording one result through the Python API, beside raw sqlite3 and the CLI in the same run.

API: ``tb.ab.add_result(...)`` on a file opened with ``trialbook.open()``
(``synchronous=FULL``, the default), one call per result, in this process.
Raw baseline: the same event rows that API calls recorded (read back from an
untimed run, so ids, metadata, times and hashes are real) inserted with plain
sqlite3 into an equally indexed table, one row per ``BEGIN IMMEDIATE`` …
``COMMIT``, WAL, ``synchronous=FULL``. CLI: ``trialbook ab add-result`` as a
new process per result (fewer of them). Also timed: the ledger call the API
wraps (``Ledger.execute``, as ``bench/append.py`` times it), to show what the
API layer itself costs.

The raw baseline is checked against its own ideal: a commit in WAL mode with
``synchronous=FULL`` appends a few pages to the WAL and syncs it once, so it
cannot be faster than ``os.fsync`` after writing as many bytes to a file in
the same directory, and should not be much slower. Rounds alternate between
the paths; the figures are medians over rounds.

    python bench/api.py [--ops N] [--cli N] [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import trialbook  # noqa: E402
from bench.common import raw_connection, sample_result  # noqa: E402
from trialbook.domain import ab  # noqa: E402
from trialbook.domain.commands import build  # noqa: E402
from trialbook.ledger import Ledger  # noqa: E402

PAGE = 4096
WAL_FRAME = PAGE + 24
RAW_PAGES = 3  # WAL frames a raw single-row commit writes (bench/append.py measures 3.4)
_INSERT_EVENT = "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


def api_ops(path: Path, results: list[dict[str, Any]]) -> float:
    """Seconds per ``tb.ab.add_result`` call."""
    with trialbook.open(path) as tb:
        tb.ab.create("bench", variants=["cold", "warm"])
        started = time.perf_counter()
        for fields in results:
            tb.ab.add_result("bench", **fields)
        return (time.perf_counter() - started) / len(results)


def ledger_ops(path: Path, results: list[dict[str, Any]]) -> float:
    """Seconds per ``Ledger.execute`` of one result: the call the API wraps."""
    ledger = Ledger(path, synchronous="FULL")
    try:
        ledger.execute(build(ab.CreateTest, name="bench", variants=("cold", "warm")))
        started = time.perf_counter()
        for fields in results:
            ledger.execute(build(ab.AddResults, test="bench", results=(ab.ResultFields(**fields),)))
        return (time.perf_counter() - started) / len(results)
    finally:
        ledger.close()


def raw_ops(path: Path, rows: list[tuple[Any, ...]]) -> float:
    """Seconds per single-row BEGIN IMMEDIATE; INSERT; COMMIT with plain sqlite3."""
    conn = raw_connection(path, "FULL")
    try:
        started = time.perf_counter()
        for row in rows:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(_INSERT_EVENT, row)
            conn.execute("COMMIT")
        return (time.perf_counter() - started) / len(rows)
    finally:
        conn.close()


def fsync_ops(path: Path, n: int) -> float:
    """Seconds per append of RAW_PAGES WAL frames followed by ``os.fsync``, as a commit does.

    The file restarts from its beginning every 300 appends, as the WAL does after
    a checkpoint, so it stays about as large as a WAL gets.
    """
    frames = os.urandom(WAL_FRAME * RAW_PAGES)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        started = time.perf_counter()
        for i in range(n):
            if i % 300 == 0:
                os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, frames)
            os.fsync(fd)
        return (time.perf_counter() - started) / n
    finally:
        os.close(fd)


def cli_args(fields: dict[str, Any]) -> list[str]:
    """``ab add-result`` options for one result as the API takes it."""
    args = ["--success" if fields["success"] else "--failure"]
    for key, value in fields.items():
        if key != "success":
            args += [f"--{key.replace('_', '-')}", str(value)]
    return args


def trialbook_command() -> list[str]:
    script = Path(sys.executable).with_name("trialbook")
    return [str(script)] if script.exists() else [sys.executable, "-m", "trialbook"]


def cli_ops(path: Path, results: list[dict[str, Any]], home: Path) -> float:
    """Seconds per ``trialbook --db PATH ab add-result bench …`` process, start to exit."""
    command = [*trialbook_command(), "--db", str(path)]
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "data")}
    env["XDG_STATE_HOME"] = env["XDG_CONFIG_HOME"] = str(home / "state")
    env.pop("TRIALBOOK_DB", None)

    def run(*argv: str) -> None:
        subprocess.run([*command, *argv], check=True, cwd=home, env=env, capture_output=True)

    run("ab", "create", "bench", "--variants", "cold,warm")
    started = time.perf_counter()
    for fields in results:
        run("ab", "add-result", "bench", *cli_args(fields))
    return (time.perf_counter() - started) / len(results)


def recorded_events(path: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT * FROM events WHERE type = 'ResultAdded' ORDER BY position"
        ).fetchall()
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--ops", type=int, default=500, help="API and raw calls per round (default 500)"
    )
    parser.add_argument("--cli", type=int, default=10, help="CLI processes per round (default 10)")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds (default 7)")
    args = parser.parse_args()
    rng = random.Random(1)
    results = [sample_result(rng, i=i) for i in range(args.ops)]
    rounds: list[dict[str, float]] = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        home = tmp / "home"  # the CLI's user paths, so it touches no real user data
        home.mkdir()
        api_ops(tmp / "rows.db", results)  # untimed: the rows the baseline inserts, a warm-up
        rows = recorded_events(tmp / "rows.db")
        for r in range(args.rounds):
            rounds.append(
                {
                    "fsync": fsync_ops(tmp / f"fsync-{r}", args.ops),
                    "raw": raw_ops(tmp / f"raw-{r}.db", rows),
                    "api": api_ops(tmp / f"api-{r}.db", results),
                    "ledger": ledger_ops(tmp / f"ledger-{r}.db", results),
                    "cli": cli_ops(tmp / f"cli-{r}.db", results[: args.cli], home),
                }
            )
    report(rounds, args, (load_before, os.getloadavg()[0]))


def report(
    rounds: list[dict[str, float]], args: argparse.Namespace, load: tuple[float, float]
) -> None:
    def med(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    def per_round(f: Any) -> str:
        return ", ".join(f"{f(r):.2f}" for r in rounds)

    print(
        f"synchronous=FULL, WAL · median of {args.rounds} alternating rounds "
        f"({args.ops} API/raw calls, {args.cli} CLI processes each); "
        f"1-min load average {load[0]:.1f} before, {load[1]:.1f} after ({os.cpu_count()} cores)"
    )
    for key, label in (
        ("fsync", f"os.fsync after {RAW_PAGES} WAL frames"),
        ("raw", "raw sqlite3, 1 row per transaction"),
        ("ledger", "Ledger.execute (what the API wraps)"),
        ("api", "tb.ab.add_result"),
        ("cli", "trialbook ab add-result (process)"),
    ):
        t = med(key)
        print(f"  {label:40} {t * 1e3:8.3f} ms/op  {1 / t:9,.0f}/s")
    api_raw = statistics.median(r["raw"] / r["api"] for r in rounds)
    print(
        f"api/raw  rate ratio {api_raw:5.2f}  (rounds {per_round(lambda r: r['raw'] / r['api'])}); "
        f"the API adds {(med('api') - med('raw')) * 1e3:.3f} ms to each commit"
    )
    api_ledger = statistics.median(r["api"] / r["ledger"] for r in rounds)
    print(
        f"api/ledger time ratio {api_ledger:5.2f}  "
        f"(rounds {per_round(lambda r: r['api'] / r['ledger'])})"
    )
    cli_api = statistics.median(r["cli"] / r["api"] for r in rounds)
    print(
        f"cli/api  time ratio {cli_api:5.0f}x (rounds {per_round(lambda r: r['cli'] / r['api'])})"
    )
    # soundness of the baseline: at least one sync per commit, and not much more than that
    raw_fsync = statistics.median(r["raw"] / r["fsync"] for r in rounds)
    sound = 0.8 <= raw_fsync <= 2.0
    print(
        f"raw baseline against its ideal (one fsync per commit): {raw_fsync:.2f}x the fsync "
        f"time (rounds {per_round(lambda r: r['raw'] / r['fsync'])}): "
        + (
            "sound (syncs once per commit, little else)"
            if sound
            else "NOT sound: "
            + (
                "faster than a sync, so it is not syncing each commit"
                if raw_fsync < 0.8
                else "more than twice a sync: the baseline spends time elsewhere"
            )
        )
    )


if __name__ == "__main__":
    main()
