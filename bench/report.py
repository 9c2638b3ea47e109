"""A decision report against the analysis it reuses, for the same test, measured in one run.

Records an A/B test with ``--results`` results (default 100,000; paired by case
id, a ``completion_time`` guardrail) in a fresh file through the Python API,
then times (median of ``--repeat``, in one process, warm) ``tb.ab.analyze(NAME)``
against ``tb.report.ab(NAME)`` plus rendering it as HTML and JSON. The report
also reads every result event (for its citations, latency figures and plots)
and the lift after every result, so it costs a few analyses.

    .venv/bin/python bench/report.py [--results 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import trialbook  # noqa: E402
from bench.common import sample_result  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "bench.db"
        with trialbook.open(path, synchronous="OFF") as tb:
            tb.ab.create("bench", variants=["cold", "warm"], guardrails=["completion_time:+10%"])
            rows = [sample_result(rng, i=i) for i in range(args.results)]
            for r in rows:
                r.pop("session_id", None)
            tb.ab.add_results("bench", rows)
        with trialbook.open(path) as tb:
            tb.report.ab("bench")  # warm the read models and imports

            def timed(fn: object) -> float:
                out = []
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    fn()  # type: ignore[operator]
                    out.append(time.perf_counter() - t)
                return statistics.median(out)

            analyze = timed(lambda: tb.ab.analyze("bench"))
            report = timed(lambda: tb.report.ab("bench"))
            doc = tb.report.ab("bench")
            render = timed(lambda: (doc.render("html"), doc.render("json")))
            size = len(doc.render("json")) / 1e6
    print(f"{args.results:,} results: ab analyze {analyze:.2f} s; report {report:.2f} s "
          f"({report / analyze:.1f}x the analysis); html+json rendering {render:.2f} s; json {size:.1f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
