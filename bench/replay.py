"""Verify the hash chain and replay the log for an as-of analysis, beside a raw sqlite3 read of the same rows.

The log (one A/B test, N result events) is built first, not timed. The file is
then read once to warm the OS cache, and in this one process:

- raw read: ``SELECT`` every column of every row with plain ``sqlite3``, iterated in batches;
- verify: ``store.verify.verify_file`` (the work of ``events verify``), with the
  default worker processes and with one process;
- as-of replay: ``projections.replay.replay_to`` of the A/B read model up to the
  head and up to the middle of the log, into a private temporary database (the
  work of ``ab analyze --at``), beside a raw read of the same rows.

Goals: verify >= 200,000 events/s; as-of replay <= 3x the raw read.

    python bench/replay.py [--events 1000000]
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.rebuild import build_log  # noqa: E402

COLUMNS = (
    "position, event_id, stream_id, version, type, schema_version, data, metadata, recorded_at, "
    "prev_hash, hash"
)


def raw_read(path: Path, until: int | None = None) -> int:
    """Read every column of the rows up to ``until`` with plain sqlite3; returns how many."""
    conn = sqlite3.connect(path)
    where = "" if until is None else f" WHERE position <= {int(until)}"
    cur = conn.execute(f"SELECT {COLUMNS} FROM events{where} ORDER BY position")
    n = 0
    while batch := cur.fetchmany(10_000):
        n += len(batch)
    conn.close()
    return n


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def line(label: str, seconds: float, events: int, extra: str = "") -> None:
    print(f"{label:<34} {seconds:7.2f} s {events / seconds:12,.0f} events/s  {extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()

    from trialbook.projections.ab import ABProjection
    from trialbook.projections.replay import replay_to
    from trialbook.store.sqlite import SQLiteEventStore
    from trialbook.store.verify import _workers, verify_file

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "replay.db"
        seconds, _ = timed(lambda: build_log(path, args.events))
        print(
            f"built a log of {args.events + 1:,} events in {seconds:.1f} s "
            f"({path.stat().st_size / 1e6:.0f} MB)"
        )
        raw_read(path)  # warm the OS cache: every timing below reads from memory

        raw_s, n = timed(lambda: raw_read(path))
        line("raw sqlite3 read, all columns", raw_s, n)

        workers = _workers(n)
        ver_s, report = timed(lambda: verify_file(path))
        assert report.ok and report.events == n, report.problems
        line(
            f"verify ({workers} processes)",
            ver_s,
            n,
            f"{ver_s / raw_s:.2f}x raw  (goal >= 200,000 events/s)",
        )
        one_s, report = timed(lambda: verify_file(path, workers=1))
        assert report.ok
        line("verify (1 process)", one_s, n, f"{one_s / raw_s:.2f}x raw")

        store = SQLiteEventStore(path, synchronous="OFF")
        head = store.head()[0]
        for label, position in (
            ("as-of replay to the head", head),
            ("as-of replay to the middle", head // 2),
        ):
            raw_p, m = timed(lambda position=position: raw_read(path, position))
            line(f"raw sqlite3 read, 1-{position}", raw_p, m)
            rep_s, view = timed(
                lambda position=position: replay_to(
                    store, [ABProjection()], position, stream_id="ab:bench"
                )
            )
            results = view.conn.execute("SELECT sum(results) FROM ab_variants").fetchone()[0]
            view.close()
            assert view.folded == m and results == m - 1
            line(label, rep_s, m, f"{rep_s / raw_p:.2f}x raw  (goal <= 3x)")
        store.close()


if __name__ == "__main__":
    main()
