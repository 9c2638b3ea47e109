"""Export an A/B test's sessions with transcripts as a dataset, beside a raw read of the same rows.

The log (one A/B test, N results each with a 6-message transcript blob) is built
first, not timed. Then, in this one process, the least CPU time of 3 tries:

- raw read: plain ``sqlite3`` reading every result event's data and its blob, and
  ``orjson.loads`` of both (the least an export must do);
- export: ``tb.export_dataset(TEST, format=F, split="train=0.9,val=0.1", output=FILE)``
  for each format (reads, validates nothing twice, formats, writes the files).

It prints each export's CPU time and its ratio to the raw read (no goal is set:
the raw read does none of the formatting, filtering, splitting or writing).

    python bench/datasets.py [--results 20000]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import sample_result  # noqa: E402


def transcript(rng: random.Random, i: int) -> list[dict[str, object]]:
    call = {
        "id": f"call_{i}",
        "type": "function",
        "function": {"name": "search", "arguments": json.dumps({"q": f"item {i}"})},
    }
    return [
        {"role": "system", "content": "You are a shopping agent."},
        {"role": "user", "content": f"Find item {i} under {rng.randint(5, 500)} dollars"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": f"call_{i}", "content": f"{rng.randint(0, 9)} results"},
        {"role": "assistant", "content": f"I found item {i}."},
        {"role": "user", "content": "thanks"},
    ]


def build(path: Path, n: int) -> None:
    import trialbook

    rng = random.Random(7)
    with trialbook.open(path, synchronous="OFF") as tb:
        tb.ab.create("shop", variants=["cold", "warm"])
        batch = 2000
        for start in range(0, n, batch):
            rows = []
            for i in range(start, min(n, start + batch)):
                row = sample_result(rng, ("cold", "warm"), i)
                row["score"] = round(rng.random(), 4)
                row["transcript"] = transcript(rng, i)
                rows.append(row)
            tb.ab.add_results("shop", rows)


def raw_read(path: Path) -> int:
    conn = sqlite3.connect(path)
    n = 0
    for (data,) in conn.execute(
        "SELECT data FROM events WHERE stream_id = 'ab:shop' AND type = 'ResultAdded' ORDER BY version"
    ):
        d = orjson.loads(data)
        (blob,) = conn.execute(
            "SELECT content FROM blobs WHERE hash = ?", (d["transcript_blob"],)
        ).fetchone()
        orjson.loads(blob)
        n += 1
    conn.close()
    return n


def best(fn: object, repeats: int = 3) -> float:
    """The least CPU time of ``repeats`` calls (CPU, not wall: the machine is shared)."""
    times = []
    for _ in range(repeats):
        t = time.process_time()
        fn()  # type: ignore[operator]
        times.append(time.process_time() - t)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=20_000)
    args = parser.parse_args()
    import trialbook

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        t = time.perf_counter()
        build(path, args.results)
        print(f"built {args.results} results with transcripts in {time.perf_counter() - t:.1f} s")
        assert raw_read(path) == args.results
        raw = best(lambda: raw_read(path))
        print(f"raw read:            {raw:7.3f} s  ({args.results / raw:,.0f} results/s)")
        with trialbook.open(path) as tb:
            for fmt in ("openai-chat", "tensorzero", "jsonl"):
                out = Path(tmp) / f"{fmt}.jsonl"

                def export(fmt: str = fmt, out: Path = out) -> None:
                    tb.export_dataset("shop", format=fmt, split="train=0.9,val=0.1", output=out)

                took = best(export)
                print(
                    f"export {fmt:<12}  {took:7.3f} s  ({args.results / took:,.0f} results/s, "
                    f"{took / raw:.2f}x the raw read)"
                )


if __name__ == "__main__":
    main()
