"""Append throughput through the full path, beside raw sqlite3 in the same run.

Full path: validation of the typed fields, the pure decision, canonical JSON,
the hash chain, the A/B projection and snapshot, in one BEGIN IMMEDIATE
transaction. Raw baseline: the same rows into an equally indexed table with
plain sqlite3, one row per BEGIN IMMEDIATE transaction (single) and one
executemany in one transaction (batch), at the same synchronous setting.

    python bench/append.py [--single N] [--batch N] [--synchronous FULL|NORMAL|OFF]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import raw_connection, sample_result  # noqa: E402
from domain import ab  # noqa: E402
from domain.canonical import canonical_json, chain_hash, new_event_id  # noqa: E402
from domain.commands import build  # noqa: E402
from ledger import Ledger  # noqa: E402

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


def raw_rows(results: list[dict]) -> list[tuple]:
    rows, prev = [], "0" * 64
    for i, fields in enumerate(results, start=1):
        data = canonical_json(fields)
        h = chain_hash(prev, data)  # precomputed: the baseline pays for no Python work at all
        rows.append(
            (
                i,
                new_event_id(),
                "ab:bench",
                i,
                "ResultAdded",
                2,
                data,
                "{}",
                "2026-01-01T00:00:00Z",
                prev,
                h,
            )
        )
        prev = h
    return rows


def raw_single(path: Path, rows: list[tuple], synchronous: str) -> float:
    conn = raw_connection(path, synchronous)
    started = time.perf_counter()
    for row in rows:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
        conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    return len(rows) / seconds


def raw_batch(path: Path, rows: list[tuple], synchronous: str) -> float:
    conn = raw_connection(path, synchronous)
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    return len(rows) / seconds


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
        conn.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)

    def one(i: int) -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows[50 + i])
        conn.execute("COMMIT")

    try:
        return wal_pages_per_append(path, one)
    finally:
        conn.close()


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
    parser.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL", "OFF"])
    args = parser.parse_args()
    rng = random.Random(1)
    singles = [sample_result(rng, i=i) for i in range(max(args.single, 300))]
    batch = [sample_result(rng, i=i) for i in range(args.batch)]
    single_rates: list[tuple[float, float]] = []
    batch_rates: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        raw_single_rows, raw_batch_rows = raw_rows(singles), raw_rows(batch)
        for r in range(args.rounds):
            raw_s = raw_single(
                tmp / f"raw1-{r}.db", raw_single_rows[: args.single], args.synchronous
            )
            full_s = full_single(tmp / f"full1-{r}.db", singles[: args.single], args.synchronous)
            single_rates.append((full_s, raw_s))
            raw_b = raw_batch(tmp / f"raw2-{r}.db", raw_batch_rows, args.synchronous)
            full_b = full_batch(tmp / f"full2-{r}.db", batch, args.synchronous)
            batch_rates.append((full_b, raw_b))
        full_pages = pages_full(tmp / "pages-full.db", singles, args.synchronous)
        raw_pages = pages_raw(tmp / "pages-raw.db", raw_single_rows, args.synchronous)
    print(f"synchronous={args.synchronous} · median of {args.rounds} alternating rounds")
    for label, base, rates, goal in (
        ("single appends", "raw sqlite3    ", single_rates, 0.60),
        ("batched import", "raw executemany", batch_rates, 0.50),
    ):
        full = statistics.median(f for f, _ in rates)
        raw = statistics.median(r for _, r in rates)
        ratio = statistics.median(f / r for f, r in rates)
        print(
            f"{label} : trialbook {full:10,.0f}/s   {base} {raw:10,.0f}/s   "
            f"ratio {ratio:5.2f}  (goal >= {goal:.2f}; rounds {', '.join(f'{f / r:.2f}' for f, r in rates)})"
        )
    print(
        f"pages written per single append (WAL frames of {PAGE} bytes): trialbook {full_pages:.1f}, "
        f"raw {raw_pages:.1f}"
    )


if __name__ == "__main__":
    main()
