"""Append throughput through the full path, beside raw sqlite3 in the same run.

Full path: validation of the typed fields, the pure decision, canonical JSON,
the hash chain, the A/B projection and snapshot, in one BEGIN IMMEDIATE
transaction. Raw baseline: the same event rows trialbook records (read back
from an untimed run, so ids, metadata, times and hashes are real) into an
equally indexed table with plain sqlite3, one row per BEGIN IMMEDIATE
transaction (single) and one executemany in one transaction (batch), at the
same synchronous setting. Single appends of trialbook, raw and the SQL floor
run interleaved, 25 at a time each in turn, so the three see the same sync
latency on a shared machine.

Concurrent writers (``--writers``, #25): the same single appends split between
8 writer processes on one file, all recording results of one test, beside one
process appending them all, in the same round. Each process opens its ledger,
waits at a barrier, then appends; the rate is results over the time from the
barrier to the last process's end. Afterwards the events are counted (none
lost, none doubled) and ``trialbook events verify`` checks the hash chain.

Also printed: the SQL floor, the rate at which plain sqlite3 writes the same
event rows *and* the same ``ab_results`` rows (the per-result read-model row
every design that keeps one writes in the append's transaction) into a
trialbook file, with no Python work at all. No implementation of the full
path can beat it; its ratio to the raw baseline bounds what the goals can ask.

    python bench/append.py [--single N] [--batch N] [--writers 8] [--synchronous FULL|NORMAL|OFF]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import raw_connection, sample_result  # noqa: E402
from trialbook.domain import ab  # noqa: E402
from trialbook.domain.commands import build  # noqa: E402
from trialbook.ledger import Ledger  # noqa: E402

PAGE = 4096  # SQLite's default page size, which trialbook files and the raw baseline use


def full_single(path: Path, results: list[dict], synchronous: str) -> float:
    ledger = Ledger(path, synchronous=synchronous)
    ledger.execute(build(ab.CreateTest, name="bench", variants=("cold", "warm")))
    started = time.perf_counter()
    for fields in results:
        ledger.execute(build(ab.AddResults, test="bench", results=(ab.ResultFields(**fields),)))
    seconds = time.perf_counter() - started
    ledger.close()
    return len(results) / seconds


def full_batch(path: Path, results: list[dict], synchronous: str) -> float:
    ledger = Ledger(path, synchronous=synchronous)
    ledger.execute(build(ab.CreateTest, name="bench", variants=("cold", "warm")))
    started = time.perf_counter()
    parsed = tuple(
        ab.ResultFields.model_validate(f) for f in results
    )  # what `ab import` does per line
    ledger.execute(build(ab.AddResults, test="bench", results=parsed))
    seconds = time.perf_counter() - started
    ledger.close()
    return len(results) / seconds


def recorded_rows(path: Path) -> tuple[list[tuple], list[tuple]]:
    """The result events a full-path run recorded in ``path`` and their ``ab_results`` rows."""
    conn = sqlite3.connect(path)
    try:
        events = conn.execute(
            "SELECT * FROM events WHERE type = 'ResultAdded' ORDER BY position"
        ).fetchall()
        results = conn.execute("SELECT * FROM ab_results ORDER BY position").fetchall()
    finally:
        conn.close()
    return events, results


def floor_file(path: Path, synchronous: str) -> sqlite3.Connection:
    """A trialbook file with the bench test created, opened with plain sqlite3."""
    ledger = Ledger(path, synchronous=synchronous)  # schema, migrations, read-model tables
    ledger.execute(build(ab.CreateTest, name="bench", variants=("cold", "warm")))
    ledger.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    return conn


_INSERT_EVENT = "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


def _insert_result(rows: list[tuple]) -> str:
    return f"INSERT INTO ab_results VALUES ({', '.join('?' * len(rows[0]))})"


def floor_batch(path: Path, rows: tuple[list[tuple], list[tuple]], synchronous: str) -> float:
    """All event rows and ``ab_results`` rows, two executemany in one transaction."""
    events, results = rows
    conn = floor_file(path, synchronous)
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(_INSERT_EVENT, events)
    conn.executemany(_insert_result(results), results)
    conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    return len(events) / seconds


def raw_batch(path: Path, rows: list[tuple], synchronous: str) -> float:
    conn = raw_connection(path, synchronous)
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(_INSERT_EVENT, rows)
    conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    return len(rows) / seconds


def interleaved_single(
    tmp: Path,
    results: list[dict],
    rows: tuple[list[tuple], list[tuple]],
    synchronous: str,
    chunk: int = 25,
) -> tuple[float, float, float]:
    """(trialbook, raw, floor) single appends per second, measured in interleaved chunks.

    The three writers run side by side on three files, ``chunk`` appends at a time
    in turn (the order rotating), so a sync latency that drifts with the load of a
    shared machine falls on all three alike instead of on whichever ran during a
    slow second.
    """
    events, result_rows = rows
    ledger = Ledger(tmp / "full.db", synchronous=synchronous)
    ledger.execute(build(ab.CreateTest, name="bench", variants=("cold", "warm")))
    raw = raw_connection(tmp / "raw.db", synchronous)
    floor = floor_file(tmp / "floor.db", synchronous)
    insert_result = _insert_result(result_rows)

    def full_one(i: int) -> None:
        ledger.execute(build(ab.AddResults, test="bench", results=(ab.ResultFields(**results[i]),)))

    def raw_one(i: int) -> None:
        raw.execute("BEGIN IMMEDIATE")
        raw.execute(_INSERT_EVENT, events[i])
        raw.execute("COMMIT")

    def floor_one(i: int) -> None:
        floor.execute("BEGIN IMMEDIATE")
        floor.execute(_INSERT_EVENT, events[i])
        floor.execute(insert_result, result_rows[i])
        floor.execute("COMMIT")

    writers = [full_one, raw_one, floor_one]
    spent = [0.0, 0.0, 0.0]
    try:
        for k, start in enumerate(range(0, len(results), chunk)):
            span = range(start, min(start + chunk, len(results)))
            for j in range(3):
                w = (j + k) % 3
                started = time.perf_counter()
                for i in span:
                    writers[w](i)
                spent[w] += time.perf_counter() - started
    finally:
        ledger.close()
        raw.close()
        floor.close()
    n = len(results)
    return n / spent[0], n / spent[1], n / spent[2]


def wal_pages_per_append(path: Path, append_one: Callable[[int], None], n: int = 200) -> float:
    """WAL frames (database pages) one append writes, with checkpoints off while counting."""
    wal = Path(f"{path}-wal")
    before = wal.stat().st_size if wal.exists() else 0
    for i in range(n):
        append_one(i)
    return (wal.stat().st_size - before) / (PAGE + 24) / n


def pages_full(path: Path, results: list[dict], synchronous: str) -> float:
    ledger = Ledger(path, synchronous=synchronous)
    ledger.conn.execute("PRAGMA wal_autocheckpoint = 0")
    ledger.execute(build(ab.CreateTest, name="bench", variants=("cold", "warm")))
    for fields in results[:50]:  # past the first pages of each table
        ledger.execute(build(ab.AddResults, test="bench", results=(ab.ResultFields(**fields),)))

    def one(i: int) -> None:
        fields = results[50 + i]
        ledger.execute(build(ab.AddResults, test="bench", results=(ab.ResultFields(**fields),)))

    try:
        return wal_pages_per_append(path, one)
    finally:
        ledger.close()


def pages_raw(path: Path, rows: list[tuple], synchronous: str) -> float:
    conn = raw_connection(path, synchronous)
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    for row in rows[:50]:
        conn.execute(_INSERT_EVENT, row)

    def one(i: int) -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(_INSERT_EVENT, rows[50 + i])
        conn.execute("COMMIT")

    try:
        return wal_pages_per_append(path, one)
    finally:
        conn.close()


def _writer(path: str, results: list[dict], synchronous: str, barrier: Any, out: Any) -> None:
    """One writer process: open the file, wait for the others, append ``results`` one by one."""
    ledger = Ledger(path, synchronous=synchronous)
    barrier.wait()
    started = time.perf_counter()
    for fields in results:
        ledger.execute(build(ab.AddResults, test="bench", results=(ab.ResultFields(**fields),)))
    out.put((started, time.perf_counter()))
    ledger.close()


def concurrent(path: Path, results: list[dict], writers: int, synchronous: str) -> float:
    """Results per second of ``writers`` processes appending ``results`` between them to one
    test; checks afterwards that every result is in the log once and the chain verifies."""
    ledger = Ledger(path, synchronous=synchronous)
    ledger.execute(build(ab.CreateTest, name="bench", variants=("cold", "warm")))
    ledger.close()
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(writers), ctx.Queue()
    shares = [results[i::writers] for i in range(writers)]
    procs = [
        ctx.Process(target=_writer, args=(str(path), share, synchronous, barrier, out))
        for share in shares
    ]
    for p in procs:
        p.start()
    spans = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise SystemExit(f"a writer process failed (exit code {p.exitcode})")
    seconds = max(end for _, end in spans) - min(start for start, _ in spans)
    conn = sqlite3.connect(path)
    try:
        counted = conn.execute("SELECT count(*) FROM events WHERE type = 'ResultAdded'").fetchone()[
            0
        ]
        sessions = conn.execute("SELECT count(DISTINCT session_id) FROM ab_results").fetchone()[0]
    finally:
        conn.close()
    if counted != len(results) or sessions != len(results):
        raise SystemExit(
            f"{writers} writers appended {len(results)} results but the log holds {counted} "
            f"({sessions} distinct sessions)"
        )
    verified = subprocess.run(
        [sys.executable, "-m", "trialbook", "--db", str(path), "events", "verify"],
        capture_output=True,
        text=True,
    )
    if verified.returncode != 0:
        raise SystemExit(
            f"events verify failed after {writers} writers: {verified.stdout}{verified.stderr}"
        )
    return len(results) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--single", type=int, default=1000, help="single appends per round (default 1000)"
    )
    parser.add_argument(
        "--batch", type=int, default=50_000, help="results in the batched import (default 50000)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds of each, raw and trialbook alternating (default 3)",
    )
    parser.add_argument(
        "--writers", type=int, default=8, help="concurrent writer processes (default 8; 0 skips)"
    )
    parser.add_argument(
        "--concurrent",
        type=int,
        default=2000,
        help="results the writer processes append between them per round (default 2000)",
    )
    parser.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL", "OFF"])
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    rng = random.Random(1)
    singles = [sample_result(rng, i=i) for i in range(max(args.single, 300))]
    batch = [sample_result(rng, i=i) for i in range(args.batch)]
    # (trialbook, raw, floor) per round
    single_rates: list[tuple[float, float, float]] = []
    #: (one process, ``--writers`` processes) per round
    writer_rates: list[tuple[float, float]] = []
    shared = [sample_result(rng, i=i) for i in range(args.concurrent)] if args.writers else []
    batch_rates: list[tuple[float, float, float]] = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        # untimed runs whose recorded rows the baselines insert (and a warm-up)
        full_single(tmp / "rows1.db", singles, args.synchronous)
        full_batch(tmp / "rows2.db", batch, args.synchronous)
        rows1, rows2 = recorded_rows(tmp / "rows1.db"), recorded_rows(tmp / "rows2.db")
        some = (rows1[0][: args.single], rows1[1][: args.single])
        for r in range(args.rounds):
            (tmp / f"single-{r}").mkdir()
            single_rates.append(
                interleaved_single(
                    tmp / f"single-{r}", singles[: args.single], some, args.synchronous
                )
            )
            raw_b = raw_batch(tmp / f"raw2-{r}.db", rows2[0], args.synchronous)
            full_b = full_batch(tmp / f"full2-{r}.db", batch, args.synchronous)
            floor_b = floor_batch(tmp / f"floor2-{r}.db", rows2, args.synchronous)
            batch_rates.append((full_b, raw_b, floor_b))
            if args.writers:
                one = concurrent(tmp / f"one-{r}.db", shared, 1, args.synchronous)
                many = concurrent(tmp / f"many-{r}.db", shared, args.writers, args.synchronous)
                writer_rates.append((one, many))
        full_pages = pages_full(tmp / "pages-full.db", singles, args.synchronous)
        raw_pages = pages_raw(tmp / "pages-raw.db", rows1[0], args.synchronous)
    print(
        f"synchronous={args.synchronous} · median of {args.rounds} alternating rounds · "
        f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}"
    )
    for label, base, rates, goal in (
        ("single appends", "raw sqlite3    ", single_rates, 0.60),
        ("batched import", "raw executemany", batch_rates, 0.50),
    ):
        full = statistics.median(f for f, _, _ in rates)
        raw = statistics.median(r for _, r, _ in rates)
        floor = statistics.median(x for _, _, x in rates)
        ratio = statistics.median(f / r for f, r, _ in rates)
        floor_ratio = statistics.median(x / r for _, r, x in rates)
        print(
            f"{label} : trialbook {full:10,.0f}/s   {base} {raw:10,.0f}/s   "
            f"ratio {ratio:5.2f}  (goal >= {goal:.2f}; rounds "
            f"{', '.join(f'{f / r:.2f}' for f, r, _ in rates)})"
        )
        print(
            f"  SQL floor (same event + ab_results rows, no Python) {floor:10,.0f}/s   "
            f"ratio {floor_ratio:5.2f}  (rounds {', '.join(f'{x / r:.2f}' for _, r, x in rates)})"
        )
        print(
            f"  trialbook / SQL floor {statistics.median(f / x for f, _, x in rates):5.2f}  "
            f"(rounds {', '.join(f'{f / x:.2f}' for f, _, x in rates)})"
        )
    if writer_rates:
        one = statistics.median(o for o, _ in writer_rates)
        many = statistics.median(m for _, m in writer_rates)
        print(
            f"{args.writers} writer processes, one test: {many:10,.0f}/s together   one process "
            f"{one:10,.0f}/s   ratio {statistics.median(m / o for o, m in writer_rates):5.2f}  "
            f"(goal >= 0.70; rounds {', '.join(f'{m / o:.2f}' for o, m in writer_rates)}; "
            f"{args.concurrent:,} results a round, none lost, chain verified)"
        )
    print(
        f"pages written per single append (WAL frames of {PAGE} bytes): trialbook {full_pages:.1f}, "
        f"raw {raw_pages:.1f}"
    )


if __name__ == "__main__":
    main()
