"""Rebuild the A/B projection from N result events, beside a raw SQL aggregate of the same figures.

The log is built first (not timed). Then, in a fresh process each, so peak
memory is the rebuild's own: (1) ``projections rebuild`` of the A/B read model,
(2) a raw SQL aggregate computing the same per-variant counts and sums with
``json_extract`` straight from the events table.

    python bench/rebuild.py [--events 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import peak_rss_mb, sample_result  # noqa: E402

RAW_AGGREGATE = """
SELECT stream_id, json_extract(data, '$.variant') AS variant, count(*),
       sum(json_extract(data, '$.success')), sum(json_extract(data, '$.tool_calls')),
       sum(json_extract(data, '$.tool_calls') - json_extract(data, '$.successful_calls')),
       sum(json_extract(data, '$.completion_time')), sum(json_extract(data, '$.messages')),
       sum(json_extract(data, '$.tokens')), sum(json_extract(data, '$.cost'))
FROM events WHERE type = 'ResultAdded' GROUP BY 1, 2
"""


def build_log(path: Path, n: int, batch: int = 20_000) -> None:
    from trialbook.domain import ab
    from trialbook.domain.commands import build
    from trialbook.ledger import Ledger

    rng = random.Random(3)
    ledger = Ledger(path, synchronous="OFF")
    ledger.execute(build(ab.CreateTest, name="bench", variants=("cold", "warm")))
    done = 0
    while done < n:
        k = min(batch, n - done)
        results = tuple(ab.ResultFields(**sample_result(rng, i=done + i)) for i in range(k))
        ledger.execute(build(ab.AddResults, test="bench", results=results))
        done += k
    ledger.close()
    os.sync()  # write the new file out now, not while the timed runs read it


def child(mode: str, path: str) -> None:
    import sqlite3

    started = time.perf_counter()
    if mode == "rebuild":
        from trialbook.ledger import Ledger

        ledger = Ledger(path, synchronous="OFF")
        counts = ledger.rebuild_projections(["ab"])
        seconds = time.perf_counter() - started
        rows = ledger.conn.execute(
            "SELECT variant, results FROM ab_variants ORDER BY variant"
        ).fetchall()
        ledger.close()
        folded = counts["ab"]
    else:
        conn = sqlite3.connect(path)
        rows = conn.execute(RAW_AGGREGATE).fetchall()
        seconds = time.perf_counter() - started
        folded = sum(r[2] for r in rows)
        conn.close()
    print(
        json.dumps(
            {"seconds": seconds, "events": folded, "peak_rss_mb": peak_rss_mb(), "rows": len(rows)}
        )
    )


def run_child(mode: str, path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "rebuild.db"
        t = time.perf_counter()
        build_log(path, args.events)
        print(
            f"built a log of {args.events:,} result events in {time.perf_counter() - t:.1f} s "
            f"({path.stat().st_size / 1e6:.0f} MB)"
        )
        raw = run_child("raw", path)
        rebuild = run_child("rebuild", path)
    print(
        f"raw SQL aggregate : {raw['seconds']:7.2f} s  {raw['events'] / raw['seconds']:12,.0f} events/s  "
        f"peak RSS {raw['peak_rss_mb']:6.0f} MB"
    )
    print(
        f"projection rebuild: {rebuild['seconds']:7.2f} s  {rebuild['events'] / rebuild['seconds']:12,.0f} events/s  "
        f"peak RSS {rebuild['peak_rss_mb']:6.0f} MB"
    )
    print(
        f"rebuild / raw     : {rebuild['seconds'] / raw['seconds']:.2f}x  (goal <= 3x, peak RSS <= 250 MB)"
    )


if __name__ == "__main__":
    main()
