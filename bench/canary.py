"""Canary assignment through the Python API, beside the bare salted hash, in the same run.

API: ``c = tb.canary(name)`` once, then ``c.assign(unit_id)`` per request, on a
file opened with ``trialbook.open()``; also ``tb.canary(name).assign(unit_id)``
(the handle looked up per call). Bare: the assignment rule alone, written as
the design states it, with the salt and the threshold in local variables::

    int(sha256((salt + ":" + unit_id).encode()).hexdigest()[:8], 16) % 10000 < threshold

and the same number computed the fastest plain way (the salt pre-encoded, the
digest's first four bytes read as an integer), which is what the API does; the
goal is measured against that faster baseline.

Both see the same unit ids (pre-built strings), in alternating rounds; the
figures are medians over rounds, timed in CPU time of this process
(``time.process_time``), which other work on a loaded machine does not
inflate the way it inflates wall time (``--wall`` times wall clock instead). The goal is an API rate of at least half the
bare rate. A second section checks the assignment itself over many unit ids:
the candidate share at each stage, and that no unit moves back to the control.

    python bench/canary.py [--ids N] [--rounds N] [--check N]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import trialbook  # noqa: E402

clock = time.process_time


def bare_rate(salt: str, threshold: int, ids: list[str]) -> float:
    """Assignments per second of the bare rule (the design's formula, no API)."""
    sha256 = hashlib.sha256
    started = clock()
    for u in ids:
        "candidate" if int(
            sha256((salt + ":" + u).encode()).hexdigest()[:8], 16
        ) % 10000 < threshold else "control"
    return len(ids) / (clock() - started)


def bare_bytes_rate(salt: str, threshold: int, ids: list[str]) -> float:
    """The same rule in its fastest plain form: the salt pre-encoded, the digest's first 4 bytes."""
    sha256 = hashlib.sha256
    prefix = (salt + ":").encode()
    from_bytes = int.from_bytes
    started = clock()
    for u in ids:
        "candidate" if from_bytes(
            sha256(prefix + u.encode()).digest()[:4], "big"
        ) % 10000 < threshold else "control"
    return len(ids) / (clock() - started)


def api_rate(assign: Callable[[str], str], ids: list[str]) -> float:
    started = clock()
    for u in ids:
        assign(u)
    return len(ids) / (clock() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ids", type=int, default=200_000, help="unit ids per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--check", type=int, default=1_000_000, help="unit ids for the share check")
    parser.add_argument("--wall", action="store_true", help="time wall clock, not CPU time")
    parser.add_argument("--sims", type=int, default=0, help="simulated canaries per scenario")
    args = parser.parse_args()
    global clock
    if args.wall:
        clock = time.perf_counter
    ids = [f"user-{i:08d}" for i in range(args.ids)]
    with tempfile.TemporaryDirectory() as d, trialbook.open(Path(d) / "bench.db") as tb:
        canary = tb.canaries.create(
            "router-v2", control="router-v1", candidate="router-v2", stages=(10, 50, 100)
        )
        salt = canary._prefix[:-1].decode()
        threshold = canary._threshold
        for u in ids[:1000]:  # the same answers, or the comparison means nothing
            bare = int(hashlib.sha256((salt + ":" + u).encode()).hexdigest()[:8], 16) % 10000
            assert (canary.assign(u) == "router-v2") == (bare < threshold), u
        rates: dict[str, list[float]] = {"bare": [], "bytes": [], "api": [], "lookup": []}
        for _ in range(args.rounds):
            rates["bare"].append(bare_rate(salt, threshold, ids))
            rates["bytes"].append(bare_bytes_rate(salt, threshold, ids))
            rates["api"].append(api_rate(canary.assign, ids))
            rates["lookup"].append(api_rate(lambda u: tb.canary("router-v2").assign(u), ids))
        med = {k: statistics.median(v) for k, v in rates.items()}
        what = "wall clock" if args.wall else "CPU time"
        print(f"{args.ids:,} unit ids x {args.rounds} rounds (medians, {what}):")
        base = med["bytes"]
        print(f"  bare, the design's formula (hexdigest) {med['bare']:>11,.0f}/s")
        print(f"  bare, digest bytes (baseline)          {base:>11,.0f}/s")
        for key, label in (("api", "c.assign(u)"), ("lookup", "tb.canary(name).assign(u)")):
            print(
                f"  {label:<38} {med[key]:>11,.0f}/s   ratio {med[key] / base:.2f} "
                f"({med[key] / med['bare']:.2f} of the formula)"
            )
        print(f"  goal: ratio >= 0.50: {'met' if med['api'] / base >= 0.5 else 'NOT met'}")

        from trialbook.domain.canary import bucket

        n = args.check
        buckets = [bucket(salt, f"unit-{i}") for i in range(n)]
        print(f"\nassignment of {n:,} unit ids (salt {salt}):")
        previous: list[bool] | None = None
        for percent in (10, 50, 100):
            limit = percent * 100
            chosen = [b < limit for b in buckets]
            flips = (
                0
                if previous is None
                else sum(a and not b for a, b in zip(previous, chosen, strict=True))
            )
            share = sum(chosen) / n * 100
            print(
                f"  {percent:>3}%: candidate share {share:.3f}% ({share - percent:+.3f} points), "
                f"{flips} units back to control"
            )
            previous = chosen
    if args.sims:
        simulations(args.sims)


def simulations(sims: int) -> None:
    """The stage rule on simulated canaries, checked after every result (docs/canary.md)."""
    import numpy as np

    from trialbook.domain import canary as c
    from trialbook.domain.commands import build
    from trialbook.domain.stats.canary_simulation import Arm, simulate

    command = build(
        c.CreateCanary,
        name="sim",
        control="control",
        candidate="candidate",
        salt="sim",
        metric="error_rate",
        guardrails=(c.parse_guardrail("error_rate:+2pp"), c.parse_guardrail("success:+0")),
    )
    (plan,) = c.decide(command, c.CanaryState())
    print(
        f"\n{sims:,} simulated canaries per row: stages 10/50/100%, {plan.min_results} candidate "
        "results per stage, guardrails error_rate:+2pp and success:+0, alpha 0.05; 10 tool calls "
        "per session failing 10% of the time under control, success 80%; checked after every result"
    )
    print("  candidate error rate | reaches 100% | halted at 10% | at 50% | median results to halt")
    for seed, worse in enumerate((0.0, 0.02, 0.03, 0.05, 0.10)):
        started = time.perf_counter()
        o = simulate(plan, Arm(), Arm(failure=0.10 + worse), sims=sims, seed=20261203 + seed)
        halted = o.halted_at >= 0
        med = f"{np.median(o.results[halted]):,.0f}" if halted.any() else "-"
        print(
            f"  +{worse * 100:>4.0f} points           | {o.share(o.reached_last):>11.1%} | "
            f"{o.share(o.halted_at == 0):>13.1%} | {o.share(o.halted_at == 1):>6.1%} | {med:>8} "
            f"({time.perf_counter() - started:.0f} s)"
        )


if __name__ == "__main__":
    main()
