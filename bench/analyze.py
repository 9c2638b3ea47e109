"""`trialbook ab analyze` of a paired test with many results, beside a plain baseline, in one run.

A test of N results that pair up by case id (``bench.common.sample_result``: each case
once per variant, so N / 2 cases) is imported with ``trialbook ab import``; then, in
alternating rounds, each as its own process timed from the outside (interpreter start
and imports included, as a user waits for them; peak RSS via ``wait4``):

- trialbook: ``trialbook --db F ab analyze bench --json`` — the whole analysis (moments,
  the paired comparison from the per-case statistics in ``ab_cases``, McNemar's exact
  test, Wilcoxon, power, the Bayesian readout, the document);
- baseline: a plain script that imports numpy and scipy.special (what any analysis here
  needs), reads the same stored per-case sums with plain sqlite3 and computes only the
  paired mean difference, its standard error, a normal p-value and McNemar's counts;
- floor: the baseline's process with the imports and no read (how much of the baseline
  is Python starting), to check the baseline is sound: its read and arithmetic should
  cost about what a C-level scan of the same table costs (printed beside).

``--before`` also times the analysis as it was computed before ``ab_cases`` (every
result with a case id read into rows, then analysed; what methods 1.0 and 2.0 still do),
once, in-process: at 1,000,000 results that takes a minute or more.

    python bench/analyze.py [--results 1000000] [--rounds 3] [--before]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import sample_result  # noqa: E402

BASELINE = r"""
import sqlite3, sys, math
import numpy as np
from scipy.special import ndtr
conn = sqlite3.connect(sys.argv[1])
joined, cases = conn.execute(
    "SELECT CAST(group_concat(stats, '') AS BLOB), count(*) FROM ab_cases WHERE test = 'bench'"
).fetchone()
flat = np.frombuffer(joined, dtype=np.float64).reshape(cases, -1)
flat = flat[np.argsort(flat[:, 0])]
n, s = flat[:, 1::2], flat[:, 2::2]
both = (n[:, 0] > 0) & (n[:, 1] > 0)
x, y = s[both, 1] / n[both, 1], s[both, 0] / n[both, 0]
d = x - y
se = d.std(ddof=1) / math.sqrt(len(d))
p = 2 * ndtr(-abs(d.mean() / se))
print(len(d), d.mean(), se, float(p), int(((x == 1) & (y == 0)).sum()), int(((x == 0) & (y == 1)).sum()))
"""

FLOOR = "import sqlite3, sys, math; import numpy as np; from scipy.special import ndtr"

BEFORE = r"""
import sys, time, resource
from trialbook.ledger import Ledger
from trialbook.ledger import analysis as la
from trialbook.domain.stats import analyze
from trialbook.projections import ab_queries
started = time.perf_counter()
ledger = Ledger(sys.argv[1])
snap = la.read_snapshot(ledger, "bench")
rows = ab_queries.read_rows(ledger.conn, "bench", with_case_only=True)
inp = la.analysis_input(la.replace(snap, rows=rows, cases=None, case_rows=None))
doc = analyze(inp).to_json()
print(time.perf_counter() - started, doc["settings"]["looks_intersected"])
"""


#: children may cache bytecode as an installed package has it (this environment may set
#: PYTHONDONTWRITEBYTECODE, which would compile every trialbook module at every start)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) and stdout of one child process (RSS via wait4); its CPU
    seconds (user + system, steadier than wall on a shared machine) go to ``CPU``."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    out = proc.stdout.read().decode() if proc.stdout else ""
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd[:4]} failed: {err.strip()[-800:]}")
    CPU.append(usage.ru_utime + usage.ru_stime)
    return seconds, usage.ru_maxrss / 1024, out


CPU: list[float] = []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", type=Path, help="reuse this database (made if missing)")
    parser.add_argument("--before", action="store_true", help="also time the row-based analysis")
    args = parser.parse_args()
    n = args.results
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        db = args.db or tmp / "analyze.db"
        tb = [sys.executable, "-m", "trialbook", "--db", str(db)]
        if not db.exists():
            data = tmp / "results.jsonl"
            rng = random.Random(7)
            with data.open("w") as f:
                for i in range(n):
                    f.write(json.dumps(sample_result(rng, i=i)) + "\n")
            subprocess.run(
                [*tb, "ab", "create", "bench", "--variants", "cold,warm"], check=True, env=ENV
            )
            started = time.perf_counter()
            subprocess.run([*tb, "ab", "import", "bench", str(data)], check=True, env=ENV)
            print(f"imported {n:,} results in {time.perf_counter() - started:.1f} s")
        import sqlite3

        conn = sqlite3.connect(db)
        cases = conn.execute("SELECT count(*) FROM ab_cases WHERE test = 'bench'").fetchone()[0]
        scans = []
        for _ in range(3):
            started = time.perf_counter()
            conn.execute("SELECT sum(length(stats)) FROM ab_cases WHERE test = 'bench'").fetchone()
            scans.append(time.perf_counter() - started)
        n = conn.execute("SELECT sum(results) FROM ab_variants WHERE test = 'bench'").fetchone()[0]
        conn.close()
        runs: dict[str, list[tuple[float, float]]] = {"trialbook": [], "baseline": [], "floor": []}
        cpu: dict[str, list[float]] = {k: [] for k in runs}
        doc: dict = {}
        base_out = ""
        timed([*tb, "ab", "analyze", "bench", "--json"])  # a first run writes the bytecode caches
        for _ in range(args.rounds):
            s, mb, out = timed([*tb, "ab", "analyze", "bench", "--json"])
            runs["trialbook"].append((s, mb))
            cpu["trialbook"].append(CPU[-1])
            doc = json.loads(out)
            s, mb, base_out = timed([sys.executable, "-c", BASELINE, str(db)])
            runs["baseline"].append((s, mb))
            cpu["baseline"].append(CPU[-1])
            s, mb, _ = timed([sys.executable, "-c", FLOOR])
            runs["floor"].append((s, mb))
            cpu["floor"].append(CPU[-1])
        mcpu = {k: statistics.median(v) for k, v in cpu.items()}
        med = {k: statistics.median(s for s, _ in v) for k, v in runs.items()}
        rss = {k: max(mb for _, mb in v) for k, v in runs.items()}
        paired = doc["variants"][1]["paired"]
        pairs, mean, se, p, b, c = base_out.split()
        print(
            f"python {sys.version.split()[0]} · {os.cpu_count()} cpu · {n:,} results · {cases:,} cases"
            f" · load average {os.getloadavg()[0]:.2f} · medians of {args.rounds} alternating rounds"
        )
        print(
            f"  trialbook ab analyze      : {med['trialbook']:6.2f} s (CPU {mcpu['trialbook']:5.2f} s)"
            f"  peak RSS {rss['trialbook']:5.0f} MB"
            f"  (pairs {paired['pairs']:,}, looks intersected {doc['settings']['looks_intersected']})"
        )
        print(
            f"  baseline (sqlite3 + numpy): {med['baseline']:6.2f} s (CPU {mcpu['baseline']:5.2f} s)"
            f"  peak RSS {rss['baseline']:5.0f} MB"
            f"  (pairs {int(pairs):,}, lift {float(mean):+.6f}, McNemar counts {b}/{c})"
        )
        print(
            f"  floor (start + imports)   : {med['floor']:6.2f} s (CPU {mcpu['floor']:5.2f} s)"
            f"  peak RSS {rss['floor']:5.0f} MB"
        )
        work = mcpu["baseline"] - mcpu["floor"]
        scan = min(scans)
        print(
            f"  baseline CPU beyond start: {work:.3f} s; C-level scan of ab_cases {scan:.3f} s "
            f"({work / scan if scan else float('nan'):.1f}x; sound if a few x)"
        )
        print(
            f"  ratio trialbook / baseline: {med['trialbook'] / med['baseline']:.2f}x wall, "
            f"{mcpu['trialbook'] / mcpu['baseline']:.2f}x CPU; "
            f"goal: trialbook <= 1 s ({'met' if med['trialbook'] <= 1.0 else 'not met'})"
        )
        fixed = paired["fixed_horizon"]["method"]
        if (
            int(pairs) != paired["pairs"]
            or f"({b} pairs only the variant passed, {c} only" not in fixed
        ):
            raise SystemExit("trialbook and the baseline disagree on the pairs")
        if args.before:
            s, mb, out = timed([sys.executable, "-c", BEFORE, str(db)])
            inner, looks = out.split()
            print(
                f"  before ab_cases (rows with a case id, then analyze): {s:6.2f} s wall "
                f"({float(inner):.2f} s in-process), peak RSS {mb:5.0f} MB, looks intersected {looks}"
            )


if __name__ == "__main__":
    main()
