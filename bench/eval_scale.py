"""Eval runs at scale: is the cost of recording a rollout flat in the run's size?

Issue #25: recording a rollout cost more the larger its run (the run's totals
recounted from its rows every batch, its case list indexed every batch, lookups
that scanned the run's earlier rows). This records runs of 2,000 … 100,000
cases through the real path an ``eval run`` takes (``record_batch`` →
``LedgerRecorder`` → the SQLite ledger, ``synchronous=FULL``, projections
folded in the append's transaction), in the executor's default batches of 256,
with no network in between, and prints per size (medians of ``--rounds``
rounds, the sizes alternating within each round):

- first pass: µs per rollout, each completed one with its verdict, over the
  whole pass and over its last 10 % (the marginal cost once the run is large);
  one rollout in ten fails;
- retry pass: the failed ones recorded again as attempt 2 (with their
  verdicts), which looks up and replaces the pair's latest row;
- rescore: a new verdict for one case in ten (at least 2,000), replacing the
  pair's latest one;
- whether the ledger snapshotted the whole run inside the retry and the rescore pass:
  those passes are short, the ledger snapshots at doubling gaps (amortised O(1) per
  event over the run), so one lands inside a pass at some sizes and not at others, and
  where it does it adds the run's whole state, serialised, to that pass alone;
- each figure's ratio to the first size's, measured in the same rounds
  (flat is ≈ 1.0). The ratios are trusted only when the first size is steady:
  its rounds within ``--spread`` of their median (on 2 shared cores, other
  work shows up as spread). Each figure is given twice: wall-clock, and the
  process's CPU time (which leaves out waiting for a core or the disk).

With ``--reads``, it then times ``eval show RUN``, ``eval show RUN --json``,
``eval show RUN --case ID`` and ``eval compare A B`` (the CLI in process,
output discarded) on runs of the ``--read-sizes``: µs per case, and the ratio
to the smallest size (linear is ≈ 1.0; quadratic grows with the size).

Usage::

    .venv/bin/python bench/eval_scale.py [--sizes 2000,10000,30000,100000] [--rounds 3]
        [--batch 256] [--reads] [--read-sizes 2000,100000] [--read-rounds 1] [--no-writes]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trialbook.domain.evals import (  # noqa: E402
    RecordVerdicts,
    RegisterSuite,
    RunSettings,
    plan_run,
    run_stream,
)
from trialbook.domain.suites import Case  # noqa: E402
from trialbook.domain.verdict_values import Verdict  # noqa: E402
from trialbook.ledger import Ledger  # noqa: E402
from trialbook.runners.eval_scoring import verdict_events  # noqa: E402
from trialbook.runners.eval_session import record_batch  # noqa: E402
from trialbook.runners.executor import RolloutJob, RolloutOutcome, make_jobs  # noqa: E402
from trialbook.runners.ledger_recorder import LedgerRecorder  # noqa: E402
from trialbook.runners.targets import TargetReply  # noqa: E402

FIGURES = ("pass_us", "tail_us", "retry_us", "rescore_us")


def outcome(job: RolloutJob, i: int) -> RolloutOutcome:
    """Rollout ``i``: one in ten fails (so a retry pass has work), the rest answer."""
    if job.attempt == 1 and i % 10 == 0:
        return RolloutOutcome(
            job, None, error="HTTP 503 from http://127.0.0.1/run", error_kind="http_status",
            status_code=503, tries=4, latency_s=0.005,
        )  # fmt: skip
    reply = TargetReply(
        output={"answer": f"{2 * i}"}, latency_s=0.005, prompt_tokens=12, cost_usd=0.0001
    )
    return RolloutOutcome(job, reply, latency_s=0.005)


def verdict(o: RolloutOutcome, i: int) -> list[Verdict]:
    return [Verdict.scored("equals", float(i % 3 != 0))]


def start_run(recorder: LedgerRecorder, run_id: str) -> None:
    recorder.handle(
        plan_run(
            recorder.suite_state("scale"),
            run_id=run_id,
            target={"kind": "http", "url": "http://127.0.0.1/run"},
            trialbook_version="bench",
            settings=RunSettings(concurrency=100),
        )
    )


class Clock:
    """Wall-clock and CPU seconds since ``start`` (CPU time leaves out waiting for a core that
    another process holds, and for the disk: on a shared machine it is the steadier figure)."""

    def __init__(self) -> None:
        self.start()

    def start(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def read(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def record(
    recorder: LedgerRecorder, run_id: str, cases: list[Case], batch: int
) -> dict[str, float]:
    """Record a run of ``cases`` (first pass, retries, a rescore), timed.

    Returns µs per rollout (per verdict for the rescore), wall-clock and CPU (``cpu_`` keys).
    """
    n = len(cases)
    outcomes = [outcome(job, i) for i, job in enumerate(make_jobs(cases))]
    retries = [
        outcome(RolloutJob(o.job.case, o.job.epoch, 2, o.job.seed), i)
        for i, o in enumerate(outcomes)
        if not o.ok
    ]
    verdicts = {
        (o.case_id, o.job.epoch, o.job.attempt): verdict(o, i)
        for i, o in enumerate(outcomes + retries)
        if o.ok
    }
    write = record_batch(recorder, run_id, verdicts)
    tail_from = n - n // 10
    tail_start = 0
    stream = run_stream(run_id)

    def snapshot_version() -> int:
        found = recorder.ledger.store.load_snapshot(stream)
        return found[0] if found else 0

    whole, tail = Clock(), Clock()
    for start in range(0, n, batch):
        if start <= tail_from < start + batch:
            tail.start()
            tail_start = start
        write(outcomes[start : start + batch])
    pass_t, tail_t = whole.read(), tail.read()
    before_retry = snapshot_version()
    clock = Clock()
    for start in range(0, len(retries), batch):
        write(retries[start : start + batch])
    retry_t = clock.read()
    before_rescore = snapshot_version()
    rescored = [
        e
        for i, c in enumerate(cases[:: max(1, n // max(n // 10, min(n, 2000)))])
        for e in verdict_events(recorder.put_blob, run_id, c.id, 1, verdict(outcomes[0], i + 1))
    ]
    clock = Clock()
    for start in range(0, len(rescored), batch):
        recorder.handle(
            RecordVerdicts(
                run_id=run_id, session="rescore", verdicts=tuple(rescored[start : start + batch])
            )
        )
    rescore_t = clock.read()
    after_rescore = snapshot_version()
    state = recorder.run_state(run_id)
    assert (state.completed, state.failed, state.pending) == (n, 0, 0), state
    out = {
        "seconds": pass_t[0] + retry_t[0] + rescore_t[0],
        # whether the ledger snapshotted the whole run (O(run) work) inside the pass
        "retry_snapshot": float(before_rescore != before_retry),
        "rescore_snapshot": float(after_rescore != before_rescore),
    }
    for key, (wall, cpu), count in (
        ("pass_us", pass_t, n),
        ("tail_us", tail_t, n - tail_start),
        ("retry_us", retry_t, len(retries)),
        ("rescore_us", rescore_t, len(rescored)),
    ):
        out[key] = wall / count * 1e6
        out["cpu_" + key] = cpu / count * 1e6
    return out


def suite(n: int) -> list[Case]:
    return [Case(id=f"case-{i:06d}", input=f"What is {i} plus {i}?") for i in range(n)]


def measure(n: int, batch: int) -> dict[str, float]:
    cases = suite(n)
    with tempfile.TemporaryDirectory() as tmp, Ledger(Path(tmp) / "scale.db") as ledger:
        recorder = LedgerRecorder(ledger)
        recorder.handle(RegisterSuite(name="scale", cases=tuple(cases)))
        start_run(recorder, "scale")
        return record(recorder, "scale", cases, batch)


def ratio_line(label: str, values: dict[int, float], base: float, unit: str) -> str:
    cells = "  ".join(f"{n:>7,}: {v:8.1f} {unit} ×{v / base:4.2f}" for n, v in values.items())
    return f"  {label:<22} {cells}"


def writes(sizes: list[int], rounds: int, batch: int, spread: float) -> bool:
    print(f"writes: {rounds} rounds of {', '.join(f'{n:,}' for n in sizes)} cases")
    runs: dict[int, list[dict[str, float]]] = {n: [] for n in sizes}
    for r in range(rounds):
        # alternate the order, so drift in the machine's load falls on every size alike
        for n in sizes if r % 2 == 0 else sizes[::-1]:
            runs[n].append(measure(n, batch))
        print(
            f"  round {r + 1}: load average {os.getloadavg()[0]:.2f}; first pass µs/rollout "
            + ", ".join(f"{n:,}: {runs[n][-1]['pass_us']:.0f}" for n in sizes)
        )
    figures = [*FIGURES, *("cpu_" + k for k in FIGURES)]
    medians = {n: {k: statistics.median(x[k] for x in runs[n]) for k in figures} for n in sizes}
    base_n = sizes[0]
    base = medians[base_n]
    labels = {
        "pass_us": "first pass µs/rollout",
        "tail_us": "last 10 % µs/rollout",
        "retry_us": "retry µs/rollout",
        "rescore_us": "rescore µs/verdict",
    }
    labels |= {"cpu_" + k: "  CPU " + v.split(" µs")[0] for k, v in labels.items()}
    for k in FIGURES:
        for key in (k, "cpu_" + k):
            print(ratio_line(labels[key], {n: medians[n][key] for n in sizes}, base[key], "µs"))
    # the retry and rescore passes are short (a tenth of the run; >= 2,000 verdicts): the
    # ledger snapshots the whole run at doubling gaps (amortised O(1) per event over the run),
    # so whether one lands inside a pass depends on the size, and one that does adds O(run)
    # work to that pass alone
    for k in ("retry", "rescore"):
        print(
            f"  whole-run snapshot in the {k} pass: "
            + ", ".join(
                f"{n:,}: {'yes' if statistics.median(x[k + '_snapshot'] for x in runs[n]) else 'no'}"
                for n in sizes
            )
            + " (a yes adds the run's whole state, serialised, to that pass's cost)"
        )
    # the baseline is sound when its own rounds agree (its ideal: every round the same)
    steady = True
    for k in figures:
        xs = [x[k] for x in runs[base_n]]
        worst = max(abs(x - base[k]) / base[k] for x in xs)
        if rounds > 1 and worst > spread:
            steady = False
            print(
                f"  baseline {labels[k].strip()} at {base_n:,} cases strayed {worst:.0%} from its "
                f"median across rounds (over --spread {spread:.0%}): its ratios are not trusted"
            )
    for kind, keys in (("wall-clock", FIGURES), ("CPU", [f"cpu_{k}" for k in FIGURES])):
        worst_ratio = max(medians[n][k] / base[k] for n in sizes for k in keys)
        print(f"  largest {kind} ratio {worst_ratio:.2f} (goal ≤ 1.2: flat)")
    print(
        f"  baseline {'steady' if steady else 'NOT steady'}; "
        f"load average after {os.getloadavg()[0]:.2f}"
    )
    return steady


def reads(sizes: list[int], rounds: int, batch: int) -> None:
    """µs per case of ``eval show`` / ``eval compare`` on runs of each size (two runs each)."""
    from click.testing import CliRunner

    from trialbook.shell.cli import cli

    commands: dict[str, Callable[[str], list[str]]] = {
        "eval show A": lambda db: ["--db", db, "eval", "show", "a"],
        "eval show A --json": lambda db: ["--db", db, "eval", "show", "a", "--json"],
        "eval show A --case": lambda db: ["--db", db, "eval", "show", "a", "--case", "case-000005"],
        "eval compare A B": lambda db: ["--db", db, "eval", "compare", "a", "b"],
    }
    print(f"reads: {', '.join(f'{n:,}' for n in sizes)} cases (two runs each), {rounds} rounds")
    per_case: dict[str, dict[int, float]] = {c: {} for c in commands}
    runner = CliRunner()
    with tempfile.TemporaryDirectory() as tmp:
        dbs = {}
        for n in sizes:
            db = Path(tmp) / f"reads-{n}.db"
            cases = suite(n)
            with Ledger(db) as ledger:
                recorder = LedgerRecorder(ledger)
                recorder.handle(RegisterSuite(name="scale", cases=tuple(cases)))
                for run_id in ("a", "b"):
                    start_run(recorder, run_id)
                    record(recorder, run_id, cases, 4 * batch)
            dbs[n] = str(db)
        for name, args in commands.items():
            for n in sizes:
                times = []
                for _ in range(rounds):
                    t0 = time.perf_counter()
                    result = runner.invoke(cli, args(dbs[n]), catch_exceptions=False)
                    times.append(time.perf_counter() - t0)
                    assert result.exit_code == 0, result.output
                per_case[name][n] = statistics.median(times) / n * 1e6
    for name, values in per_case.items():
        base = values[sizes[0]]
        print(ratio_line(name, values, base, "µs/case"))
        print(f"  {'':<22} {values[sizes[-1]] * sizes[-1] / 1e6:.2f} s at {sizes[-1]:,} cases")
    print(f"  load average after {os.getloadavg()[0]:.2f} (linear: every × ≈ 1)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,10000,30000,100000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument(
        "--spread",
        type=float,
        default=0.25,
        help="how far the baseline's rounds may stray from their median before its ratios "
        "are flagged as untrustworthy",
    )
    parser.add_argument("--reads", action="store_true", help="also time eval show / compare")
    parser.add_argument("--read-sizes", default="2000,100000")
    parser.add_argument("--read-rounds", type=int, default=1, help="timings per read (median)")
    parser.add_argument("--no-writes", action="store_true", help="only the --reads part")
    args = parser.parse_args()
    print(
        f"python {sys.version.split()[0]} · {os.cpu_count()} cpu · batches of {args.batch} · "
        f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    if not args.no_writes:
        writes([int(s) for s in args.sizes.split(",")], args.rounds, args.batch, args.spread)
    if args.reads or args.no_writes:
        reads([int(s) for s in args.read_sizes.split(",")], args.read_rounds, args.batch)


if __name__ == "__main__":
    main()
