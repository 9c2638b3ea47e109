"""`trialbook ab import` beside the eventsourcing library saving the same events, in one run.

eventsourcing (https://github.com/pyeventsourcing/eventsourcing, SQLite persistence) is
the Python event-store library people reach for; it is a benchmark-only dependency
(``pip install -e '.[bench]'``). Both sides run as their own process, timed from the
outside (interpreter start and imports included, as a user waits for them), on the same
results, into a fresh SQLite file each, at the same ``synchronous`` setting:

- trialbook: ``trialbook --db F ab import bench FILE`` on a JSONL file of N results —
  the full path: every line validated, canonical JSON, ids, the hash chain, the A/B read
  model and its statistics, one transaction;
- eventsourcing: an Application whose aggregates each record 1,000 ``ResultAdded``
  events (the same fields) and are saved one ``save()`` per aggregate (its documented
  way to write many events), with its SQLite recorder.

Printed: results per second of each, their ratio (trialbook / eventsourcing; the goal is
>= 1.0 at 100,000), and each process's peak resident memory (the goal for trialbook at
1,000,000 results is <= 200 MB).

    python bench/import_vs_eventsourcing.py [--results 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import sample_result  # noqa: E402

PER_AGGREGATE = 1000

ES_CHILD = r"""
import json, os, sqlite3, sys, time
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

class Session(Aggregate):
    @event("Created")
    def __init__(self, test: str):
        self.test = test
        self.results = 0

    @event("ResultAdded")
    def add(self, result: dict):
        self.results += 1

path, results_file, per = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.environ.update(PERSISTENCE_MODULE="eventsourcing.sqlite", SQLITE_DBNAME=path)
app = Application()
with open(results_file) as f:
    rows = [json.loads(line) for line in f]
agg = None
for i, row in enumerate(rows):
    if i % per == 0:
        if agg is not None:
            app.save(agg)
        agg = Session(test="bench")
    agg.add(result=row)
app.save(agg)
check = sqlite3.connect(path)
n = check.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0]
# eventsourcing sets no synchronous pragma: its connections run at SQLite's default (2 = FULL)
print(json.dumps({"events": n, "synchronous": check.execute("PRAGMA synchronous").fetchone()[0]}))
"""


#: children may cache bytecode as installed packages have it (this environment may set
#: PYTHONDONTWRITEBYTECODE, which would compile every trialbook module at every start while
#: eventsourcing's come precompiled from site-packages)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def peak_children_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds (user + system), peak RSS (MB) and stdout of one child
    process (CPU and RSS via wait4)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env or ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    out = proc.stdout.read().decode() if proc.stdout else ""
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd[:4]} failed: {err.strip()[-500:]}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (median)")
    parser.add_argument("--skip-eventsourcing", action="store_true", help="trialbook only")
    args = parser.parse_args()
    n = args.results
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        data = tmp / "results.jsonl"
        with data.open("w") as f:
            for i in range(n):
                f.write(json.dumps(sample_result(rng, i=i)) + "\n")
        tb_runs: list[tuple[float, float]] = []
        es_runs: list[tuple[float, float, int]] = []
        tb_cpu: list[float] = []
        es_cpu: list[float] = []
        loads = []
        for r in range(args.rounds):
            db = tmp / f"trialbook-{r}.db"
            tb = [sys.executable, "-m", "trialbook", "--db", str(db)]
            subprocess.run(
                [*tb, "ab", "create", "bench", "--variants", "cold,warm"],
                check=True,
                capture_output=True,
                env=ENV,
            )
            tb_s, cpu, tb_mb, _ = timed([*tb, "ab", "import", "bench", str(data)])
            tb_runs.append((tb_s, tb_mb))
            tb_cpu.append(cpu)
            loads.append(os.getloadavg()[0])
            db.unlink()
            if args.skip_eventsourcing:
                continue
            es_db = tmp / f"eventsourcing-{r}.db"
            es_s, cpu, es_mb, out = timed(
                [sys.executable, "-c", ES_CHILD, str(es_db), str(data), str(PER_AGGREGATE)]
            )
            got = json.loads(out)
            if got["synchronous"] != 2:
                raise SystemExit(
                    f"eventsourcing ran at synchronous={got['synchronous']}, not FULL (2)"
                )
            es_runs.append((es_s, es_mb, got["events"]))
            es_cpu.append(cpu)
            loads.append(os.getloadavg()[0])
            es_db.unlink()
        print(
            f"python {sys.version.split()[0]} · {os.cpu_count()} cpu · {n:,} results · "
            f"median of {args.rounds} alternating rounds · load average "
            f"{min(loads):.2f}-{max(loads):.2f}"
        )
        tb_s = statistics.median(s for s, _ in tb_runs)
        tb_mb = max(mb for _, mb in tb_runs)
        print(
            f"  trialbook ab import : {n / tb_s:9,.0f} results/s  ({tb_s:6.2f} s, peak RSS {tb_mb:6.0f} MB;"
            f" rounds {', '.join(f'{n / s:,.0f}' for s, _ in tb_runs)})"
        )
        print(
            f"  trialbook CPU       : {statistics.median(tb_cpu):6.2f} s median"
            f" (rounds {', '.join(f'{c:.2f}' for c in tb_cpu)})"
        )
        if args.skip_eventsourcing:
            return
        es_s = statistics.median(s for s, _, _ in es_runs)
        es_mb = max(mb for _, mb, _ in es_runs)
        events = es_runs[0][2]
        print(
            f"  eventsourcing save  : {events / es_s:9,.0f} events/s   ({es_s:6.2f} s, peak RSS {es_mb:6.0f} MB;"
            f" {events:,} events in aggregates of {PER_AGGREGATE:,};"
            f" rounds {', '.join(f'{events / s:,.0f}' for s, _, _ in es_runs)})"
        )
        print(
            f"  eventsourcing CPU   : {statistics.median(es_cpu):6.2f} s median"
            f" (rounds {', '.join(f'{c:.2f}' for c in es_cpu)})"
        )
        ratios = [
            (n / a) / (events / b) for (a, _), (b, _, _) in zip(tb_runs, es_runs, strict=True)
        ]
        print(
            f"  ratio trialbook / eventsourcing: {(n / tb_s) / (events / es_s):.2f}x of the medians"
            f" (per round {', '.join(f'{x:.2f}' for x in ratios)}; goal >= 1.0)"
        )
        cpu_ratios = [(n / a) / (events / b) for a, b in zip(tb_cpu, es_cpu, strict=True)]
        print(
            f"  ratio by CPU time (results per CPU second): "
            f"{(n / statistics.median(tb_cpu)) / (events / statistics.median(es_cpu)):.2f}x"
            f" of the medians (per round {', '.join(f'{x:.2f}' for x in cpu_ratios)})"
        )


if __name__ == "__main__":
    main()
