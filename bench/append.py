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
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import raw_connection, sample_result  # noqa: E402
from domain import ab  # noqa: E402
from domain.canonical import canonical_json, chain_hash, new_event_id  # noqa: E402
from domain.commands import build  # noqa: E402
from ledger import Ledger  # noqa: E402


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=int, default=1000, help="single appends (default 1000)")
    parser.add_argument(
        "--batch", type=int, default=50_000, help="results in the batched import (default 50000)"
    )
    parser.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL", "OFF"])
    args = parser.parse_args()
    rng = random.Random(1)
    singles = [sample_result(rng, i=i) for i in range(args.single)]
    batch = [sample_result(rng, i=i) for i in range(args.batch)]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        raw_s = raw_single(tmp / "raw1.db", raw_rows(singles), args.synchronous)
        full_s = full_single(tmp / "full1.db", singles, args.synchronous)
        raw_b = raw_batch(tmp / "raw2.db", raw_rows(batch), args.synchronous)
        full_b = full_batch(tmp / "full2.db", batch, args.synchronous)
    print(f"synchronous={args.synchronous}")
    print(
        f"single appends : trialbook {full_s:10,.0f}/s   raw sqlite3 {raw_s:10,.0f}/s   "
        f"ratio {full_s / raw_s:5.2f}  (goal >= 0.60)"
    )
    print(
        f"batched import : trialbook {full_b:10,.0f}/s   raw executemany {raw_b:10,.0f}/s   "
        f"ratio {full_b / raw_b:5.2f}  (goal >= 0.50)"
    )


if __name__ == "__main__":
    main()
