"""Eval runs at scale: is the cost of recording a rollout flat in the run's size?

Issue #25: each verdict used to scan the run's earlier verdicts (quadratic runs).
This records the rollouts of runs of 2,000 … 100,000 cases through the real
path an ``eval run`` takes (``record_batch`` → ``LedgerRecorder`` → the SQLite
ledger, ``synchronous=FULL``, projections folded in the append's transaction),
in the executor's default batches of 256, with no network in between, and prints
per size:

- first pass: µs per rollout over the whole pass, and over its last 10 % (the
  marginal cost once the run is large); one in ten rollouts fails;
- retry pass: the failed ones recorded again as attempt 2, which looks up and
  replaces the pair's latest row (the ``eval_rollouts`` latest-row lookup);
- the ratio of each size's figures to the smallest size's, measured in the same
  run (flat is ≈ 1.0).

Usage::

    .venv/bin/python bench/eval_scale.py [--sizes 2000,10000,30000,100000] [--budget-s 300] [--batch 256]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trialbook.domain.evals import RegisterSuite, RunSettings, plan_run  # noqa: E402
from trialbook.domain.suites import Case  # noqa: E402
from trialbook.ledger import Ledger  # noqa: E402
from trialbook.runners.eval_session import record_batch  # noqa: E402
from trialbook.runners.executor import RolloutJob, RolloutOutcome, make_jobs  # noqa: E402
from trialbook.runners.ledger_recorder import LedgerRecorder  # noqa: E402
from trialbook.runners.targets import TargetReply  # noqa: E402


def outcome(job: RolloutJob, i: int) -> RolloutOutcome:
    """Rollout ``i``: one in ten fails (so a retry pass has work), the rest answer."""
    if job.attempt == 1 and i % 10 == 0:
        return RolloutOutcome(
            job, None, error="HTTP 503 from http://127.0.0.1/run", error_kind="http_status",
            status_code=503, tries=4, latency_s=0.005,
        )  # fmt: skip
    reply = TargetReply(output={"answer": f"{2 * i}"}, latency_s=0.005, prompt_tokens=12)
    return RolloutOutcome(job, reply, latency_s=0.005)


def measure(n: int, batch: int) -> dict[str, float]:
    cases = [Case(id=f"case-{i:06d}", input=f"What is {i} plus {i}?") for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp, Ledger(Path(tmp) / "scale.db") as ledger:
        recorder = LedgerRecorder(ledger)
        recorder.handle(RegisterSuite(name="scale", cases=tuple(cases)))
        recorder.handle(
            plan_run(
                recorder.suite_state("scale"),
                run_id="scale",
                target={"kind": "http", "url": "http://127.0.0.1/run"},
                trialbook_version="bench",
                settings=RunSettings(concurrency=100),
            )
        )
        write = record_batch(recorder, "scale")
        outcomes = [outcome(job, i) for i, job in enumerate(make_jobs(cases))]
        tail_from = n - n // 10
        t0 = time.perf_counter()
        tail_t0 = t0
        for start in range(0, n, batch):
            if start <= tail_from < start + batch:
                tail_t0 = time.perf_counter()
                tail_start = start
            write(outcomes[start : start + batch])
        end = time.perf_counter()
        retries = [
            outcome(RolloutJob(o.job.case, o.job.epoch, 2, o.job.seed), i)
            for i, o in enumerate(outcomes)
            if not o.ok
        ]
        r0 = time.perf_counter()
        for start in range(0, len(retries), batch):
            write(retries[start : start + batch])
        r1 = time.perf_counter()
        state = recorder.run_state("scale")
        assert (state.completed, state.failed, state.pending) == (n, 0, 0), state
    return {
        "pass_us": (end - t0) / n * 1e6,
        "tail_us": (end - tail_t0) / (n - tail_start) * 1e6,
        "retry_us": (r1 - r0) / len(retries) * 1e6,
        "seconds": end - t0 + r1 - r0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,10000,30000,100000")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument(
        "--budget-s",
        type=float,
        default=300.0,
        help="skip a size whose projected time (from the growth measured so far) exceeds this",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        f"python {sys.version.split()[0]} · {os.cpu_count()} cpu · batches of {args.batch} · "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"  {'cases':>7} {'µs/rollout':>11} {'last 10 %':>10} {'retry µs':>9} "
        f"{'×first':>7} {'×first (last 10 %)':>19} {'×first (retry)':>15} {'total s':>8}"
    )
    first: dict[str, float] | None = None
    spent = 0.0
    last: tuple[int, float] | None = None
    for n in sizes:
        if last is not None and first is not None:
            # per-rollout cost at the last size; where it grew against the first size, assume
            # it keeps growing in proportion to n (a quadratic run), else that it stays flat
            prev_n, prev_s = last
            per = prev_s / prev_n
            grew = per > 1.2 * first["seconds"] / sizes[0]
            projected = n * per * (n / prev_n if grew else 1.0)
            if spent + projected > args.budget_s:
                print(
                    f"  {n:>7} skipped: projected {projected:.0f} s at the growth measured so far "
                    f"(over --budget-s {args.budget_s:g}); the cost per rollout is not flat"
                )
                continue
        r = measure(n, args.batch)
        spent += r["seconds"]
        last = (n, r["seconds"])
        first = first or r
        print(
            f"  {n:>7} {r['pass_us']:11.0f} {r['tail_us']:10.0f} {r['retry_us']:9.0f} "
            f"{r['pass_us'] / first['pass_us']:7.2f} {r['tail_us'] / first['tail_us']:19.2f} "
            f"{r['retry_us'] / first['retry_us']:15.2f} {r['seconds']:8.1f}"
        )
    print(f"  load average after: {os.getloadavg()[0]:.2f} (goal: every × column ≈ 1, flat)")


if __name__ == "__main__":
    main()
