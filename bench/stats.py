"""Figures for the statistics: speed of ``analyze`` and ``history``, and simulations of the decision rule.

Run: ``.venv/bin/python bench/stats.py [--sims N] [--seed S]``. Every figure is
computed in the run; nothing is hard-coded.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402


def timed(fn, repeat: int = 7) -> float:  # type: ignore[no-untyped-def]
    """Median wall time of ``fn()`` in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def speed() -> None:
    import subprocess

    probe = (
        "import sys, time; t = time.perf_counter(); import trialbook.domain.stats; "
        "print((time.perf_counter() - t) * 1000, 'numpy' in sys.modules or 'scipy' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    from trialbook.domain.stats import (
        AnalysisInput,
        Moments,
        ResultRow,
        VariantData,
        analyze,
        history,
        variant_data_from_rows,
    )

    print("## Speed")
    print(
        f"import domain.stats in a fresh process: {float(out[0]):.1f} ms (numpy or scipy loaded: {out[1]})"
    )

    def binary_input(n: int, k: int = 2) -> AnalysisInput:
        variants = tuple(
            VariantData(f"v{i}", n, {"success": Moments(n, p, n * p * (1 - p))})
            for i, p in enumerate([0.60, 0.601, 0.602][:k])
        )
        return AnalysisInput(test="bench", variants=variants, control="v0", metric="success")

    def continuous_input(n: int) -> AnalysisInput:
        variants = tuple(
            VariantData(f"v{i}", n, {"completion_time": Moments(n, mu, (n - 1) * 64.0)})
            for i, mu in enumerate([30.0, 29.9])
        )
        return AnalysisInput(
            test="bench", variants=variants, control="v0", metric="completion_time"
        )

    start = time.perf_counter()
    analyze(binary_input(1000))
    print(
        f"first analyze in a fresh process (imports numpy + scipy.special): {(time.perf_counter() - start) * 1000:.0f} ms"
    )
    print()
    print("analyze from the projection's moments (median of 7 runs):")
    print(
        f"{'results per variant':>20} {'binary, 2 variants':>20} {'binary, 3 variants':>20} {'continuous':>12}"
    )
    for exp in range(3, 7):
        n = 10**exp
        b2 = timed(lambda n=n: analyze(binary_input(n)).to_json())
        b3 = timed(lambda n=n: analyze(binary_input(n, 3)).to_json())
        c2 = timed(lambda n=n: analyze(continuous_input(n)).to_json())
        print(f"{n:>20,} {b2 * 1000:>17.1f} ms {b3 * 1000:>17.1f} ms {c2 * 1000:>9.1f} ms")
    print()
    print("history (decision after every result; rows with case ids and a guardrail):")
    from trialbook.domain.ab import Guardrail

    rng = np.random.default_rng(1)
    for total in (1_000, 10_000, 100_000):
        rows = [
            ResultRow(
                ("v0", "v1")[i % 2],
                {
                    "success": float(rng.random() < 0.6),
                    "completion_time": float(rng.gamma(2.0, 10.0)),
                },
                case_id=str(i // 2),
            )
            for i in range(total)
        ]
        inp = AnalysisInput(
            test="bench",
            variants=variant_data_from_rows(rows, ("v0", "v1")),
            control="v0",
            rows=tuple(rows),
            guardrails=(Guardrail(metric="completion_time", limit=0.1),),
        )
        t = timed(lambda inp=inp: history(inp), repeat=3)
        print(f"{total:>10,} results: {t * 1000:8.0f} ms")
    print()


def false_winners(sims: int, seed: int, per: int) -> None:
    from trialbook.domain.stats import simulate
    from trialbook.domain.stats.engine import KEEP_CONTROL, SHIP

    print(
        f"## A/A tests: false winners ({sims} simulated tests, up to {per} results per variant, alpha 0.05)"
    )
    rng = np.random.default_rng(seed)
    # per-session error rates from 10 tool calls at 85 % success, as in the issue
    rates = rng.binomial(10, 0.15, (2, sims, per)) / 10.0
    run = simulate.run({"error_rate": rates}, "error_rate")
    called = (run.decision == SHIP) | (run.decision == KEEP_CONTROL)
    naive = simulate.naive_welch(run)
    legacy = simulate.legacy_rule(rates)
    look3, look30 = 2 * 3 - 1, 2 * 30 - 1  # the look at which each variant has 3 (30) results
    print("error_rate (per-session mean of failed/tool calls):")
    print(
        f"  legacy '20% lower mean error rate, >= 3 results': one look at 3 per variant {legacy[:, look3].mean():6.1%}, "
        f"at 30 {legacy[:, look30].mean():6.1%}, checked after every result {legacy.any(axis=1).mean():6.1%}"
    )
    print(
        f"  Welch t-test, p < 0.05, checked after every result:      {naive.any(axis=1).mean():6.1%}"
        f"   (one look at {per}: {naive[:, -1].mean():.1%})"
    )
    print(
        f"  trialbook always-valid rule, checked after every result:  {called.any(axis=1).mean():6.1%} any call, "
        f"{(run.decision == SHIP).any(axis=1).mean():.1%} ship"
    )
    for label, metric, values in (
        ("success (binary, 60 %)", "success", (rng.random((2, sims, per)) < 0.6).astype(float)),
        ("completion_time (lognormal)", "completion_time", rng.lognormal(3.0, 1.0, (2, sims, per))),
        (
            "success, three variants (Holm)",
            "success",
            (rng.random((3, sims, per)) < 0.6).astype(float),
        ),
    ):
        r = simulate.run({metric: values}, metric)
        c = ((r.decision == SHIP) | (r.decision == KEEP_CONTROL)).any(axis=1).mean()
        nv = simulate.naive_welch(r).any(axis=1).mean()
        print(f"{label}: always-valid {c:6.1%}   naive Welch every result {nv:6.1%}")
    print()


def time_to_ship(sims: int, seed: int, per: int) -> None:
    from scipy.special import ndtr

    from trialbook.domain.stats import frequentist, simulate
    from trialbook.domain.stats.engine import SHIP

    p0, p1 = 0.60, 0.75
    print(
        f"## Results per variant to a correct ship, success {p0:.2f} -> {p1:.2f} ({sims} simulated tests)"
    )
    rng = np.random.default_rng(seed + 1)
    x = np.stack([rng.random((sims, per)) < p0, rng.random((sims, per)) < p1]).astype(float)
    run = simulate.run({"success": x}, "success")
    right = (run.decision == SHIP) & (run.chosen == 1)
    wrong = (run.decision == SHIP) & (run.chosen == 0)
    first = run.first(right)
    n_first = np.where(first >= 0, run.results_per_variant(first), np.inf)
    fixed_n = frequentist.required_n_fixed(p1 - p0, p0 * (1 - p0) + p1 * (1 - p1), 0.05, 0.8)
    assert fixed_n is not None
    n_fixed = int(np.ceil(fixed_n))
    # the fixed-horizon test's power at its own n, measured on the same simulated data
    s0, s1 = x[0][:, :n_fixed].sum(axis=1), x[1][:, :n_fixed].sum(axis=1)
    pooled = (s0 + s1) / (2 * n_fixed)
    z = (s1 - s0) / n_fixed / np.sqrt(pooled * (1 - pooled) * 2 / n_fixed)
    fixed_power = (2 * ndtr(-np.abs(z)) < 0.05) & (z > 0)
    shipped = np.isfinite(n_first)
    print(
        f"always-valid rule, look after every result: shipped the right variant in {shipped.mean():.1%} "
        f"within {per} per variant, the wrong one in {wrong.any(axis=1).mean():.1%}"
    )
    print(
        f"  results per variant at the first correct ship: median {np.median(n_first):.0f}, "
        f"quartiles {np.percentile(n_first, 25):.0f}-{np.percentile(n_first, 75):.0f}, "
        f"90th percentile {np.percentile(n_first, 90):.0f}"
    )
    print(f"  shipped by {n_fixed} per variant: {(n_first <= n_fixed).mean():.1%}")
    from trialbook.domain.stats.sequential import design_stopping_quantiles

    var_unit = p0 * (1 - p0) + p1 * (1 - p1)
    (median, q80), _ = design_stopping_quantiles(
        np.array([0.5, 0.8]),
        s0=0.0,
        info0=1e-9,
        unit_var=var_unit,
        clock0=0.0,
        clock_per_unit=2.0,
        horizon=run.spec.horizons[1],
        level=0.05,
        rho_reserve=run.spec.rhos[1],
        effect=p1 - p0,
    )
    print(
        f"  'how many' before the first result (design planned for {run.spec.tuning:g} results): median "
        f"{median:.0f} per variant, 80 % by {q80:.0f} (simulated median {np.median(n_first):.0f}, "
        f"80th percentile {np.percentile(n_first, 80):.0f})"
    )
    print(
        f"fixed-horizon two-proportion z-test, 80% power, alpha 0.05: needs {n_fixed} per variant "
        f"(formula), detects the lift at that n in {fixed_power.mean():.1%} of the same simulations"
    )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=2000, help="simulated tests per figure")
    parser.add_argument("--seed", type=int, default=20240917)
    parser.add_argument(
        "--per", type=int, default=500, help="results per variant in each simulated test"
    )
    args = parser.parse_args()
    speed()
    false_winners(args.sims, args.seed, args.per)
    time_to_ship(args.sims, args.seed, args.per)


if __name__ == "__main__":
    main()
