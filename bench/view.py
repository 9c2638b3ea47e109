"""The web view's pages against the CLI's --json for the same data, measured in one run.

Records a test with ``--results`` results (default 1,000,000) and an eval run
with ``--rollouts`` rollouts (default 10,000) in a fresh file, starts
``trialbook view --port 0`` in its own process, then times (wall clock, median
of ``--repeat``):

- the test's page ``/tests/NAME`` against ``trialbook ab analyze NAME --json``
  plus ``ab analyze NAME --history --json`` (the page shows both: the analysis
  and the interval after every result, which needs every result read);
- the run's page ``/runs/RUN`` against ``trialbook eval show RUN --json``.

Each CLI command is a fresh process (interpreter start included, as a user
runs it); each page is one GET to the already-running server. The goal is a
page within 2x its CLI time.

    .venv/bin/python bench/view.py [--results 1000000] [--rollouts 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import http.client
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TB = [sys.executable, "-m", "trialbook"]


def record(db: Path, results: int, rollouts: int) -> None:
    import trialbook

    rng = random.Random(5)
    with trialbook.open(db, synchronous="NORMAL") as tb:
        tb.ab.create("big", variants=["cold", "warm"], guardrails=["completion_time:+10%"])
        batch = 50_000
        for start in range(0, results, batch):
            rows = [
                {
                    "variant": ("cold", "warm")[i % 2],
                    "success": rng.random() < (0.60 if i % 2 == 0 else 0.61),
                    "completion_time": round(rng.uniform(10, 90), 2),
                }
                for i in range(start, min(results, start + batch))
            ]
            tb.ab.add_results("big", rows)
        cases = [
            {"id": f"c{i:05d}", "input": f"question {i}", "expected": f"echo: question {i}"}
            for i in range(rollouts)
        ]
        tb.evals.add_suite(cases, name="big")

        def target(case: dict) -> dict:
            text = case["input"]
            return {
                "output": f"echo: {text}" if hash(text) % 7 else "wrong",
                "usage": {"prompt_tokens": 3, "completion_tokens": 4},
            }

        tb.evals.run("big", target, scorers=["equals"], name="big", concurrency=64)


def cli(db: Path, *args: str) -> float:
    t = time.perf_counter()
    subprocess.run([*TB, "--db", str(db), *args], check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - t


def page(port: int, path: str) -> float:
    t = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    if r.status != 200 or len(body) < 1000:
        raise SystemExit(f"GET {path}: {r.status}")
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=1_000_000)
    parser.add_argument("--rollouts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "view.db"
        t = time.perf_counter()
        record(db, args.results, args.rollouts)
        print(
            f"recorded {args.results:,} results and {args.rollouts:,} rollouts in {time.perf_counter() - t:.1f} s"
        )
        proc = subprocess.Popen(
            [*TB, "--db", str(db), "view", "--port", "0"],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        try:
            assert proc.stdout is not None
            m = re.search(r":(\d+)/", proc.stdout.readline())
            assert m, "the view did not start"
            port = int(m.group(1))
            rows = []
            for label, path, commands in (
                (f"test page, {args.results:,} results", "/tests/big",
                 [("ab", "analyze", "big", "--json"), ("ab", "analyze", "big", "--history", "--json")]),
                (f"run page, {args.rollouts:,} rollouts", "/runs/big", [("eval", "show", "big", "--json")]),
            ):  # fmt: skip
                page(port, path)  # warm the server's imports, as a second visit would be
                web = statistics.median(page(port, path) for _ in range(args.repeat))
                ref = statistics.median(
                    sum(cli(db, *c) for c in commands) for _ in range(args.repeat)
                )
                rows.append((label, web, ref))
        finally:
            proc.terminate()
            proc.wait(30)
    print(f"{'':32} {'page':>9} {'CLI --json':>11} {'ratio':>7}  goal <= 2x")
    for label, web, ref in rows:
        ratio = web / ref
        print(
            f"{label:32} {web:8.2f}s {ref:10.2f}s {ratio:6.2f}x  {'ok' if ratio <= 2 else 'MISSED'}"
        )


if __name__ == "__main__":
    main()
