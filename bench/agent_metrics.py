"""Issue #21's figures: quantile metrics, capping, CUPED and segments under a look after every result.

Run: ``.venv/bin/python bench/agent_metrics.py [--sims N] [--seed S] [--only NAME ...]``.
Every figure is computed in the run (seeded); every rate has its Wilson 95 % interval.
Default 400 simulated tests per cell. Variants take turns (round robin), and every
test is looked at after every single result; a "false winner" is an A/A test in which
the variant was called better than control at some look (its always-valid p-value,
the running minimum of the method-2.0 design, below alpha = 0.05 on the good side; in a
segment breakdown, in any segment after Holm's correction), as ``bench/power.py``
counts false ships; calls in either direction are shown beside. The cells:

- ``aa_p95``: lognormal(3, 1) completion times, p95, 1,000 results per variant (the
  design planned for 1,000 results: the reserve after the plan is exercised too);
- ``aa_cap``: Pareto (shape 1.5, infinite variance) cost capped at the pooled p99,
  500 results per variant (the plan);
- ``aa_cuped``: success (50 %) adjusted by a covariate correlated 0.6 with it,
  1,000 results per variant (plan 1,000); the unadjusted analysis beside it;
- ``aa_cuped_case``: a covariate keyed by case (``--covariate case:RUN``): each result's case
  drawn from 200 with difficulties; the covariate is the case's mean of 3 earlier
  rollouts, absent (never run) for 30 % of the cases, so those results are left out of
  the adjusted comparison as ``ledger.covariates`` does; success by difficulty, 1,000
  results per variant (plan 1,000);
- ``aa_segments``: success (50 %) in 5 segments (shares 40/25/15/10/10 %), Holm across
  segments, 1,000 results per variant (plan 1,000);
- ``guard_p95``: the variant's times are 1.2 x control's (a 20 % p95 regression);
  share of tests whose guardrail ``completion_time:p95:+L%`` is broken by 500 results
  per variant (plan 1,000), for lognormal spreads sigma and limits L (the goal is checked
  at sigma 0.4, L = 0: the design cannot reach 80 % at 500 per variant for wider spreads);
- ``cuped_speed``: success 0.50 -> 0.56 with the rho = 0.6 covariate; results per
  variant at which the test first calls the right winner, adjusted against unadjusted
  (median over tests; up to 3,000 per variant, plan 4,000);
- ``canary_p95``: an identical candidate in a one-stage canary (lognormal(3, 1) times,
  300 results per arm) with the guardrail ``completion_time:p95:+0%`` checked after every
  result (the canary's normal-mixture interval): how often it would halt.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench.power import wilson  # noqa: E402

ALPHA = 0.05


def rate(mask: np.ndarray) -> tuple[str, float]:
    k, n = int(mask.sum()), int(mask.size)
    lo, hi = wilson(k, n)
    return f"{k / n:6.1%} [{lo:.1%}, {hi:.1%}] ({k}/{n})", hi


def interleaved(sims: int, per: int) -> np.ndarray:
    """Arm of each result (variant = 1 on odd positions): round robin, control first."""
    return np.broadcast_to(np.arange(2 * per) % 2, (sims, 2 * per))


def false_winners(
    cmp: Any, sims: int, looks: int, lower_is_better: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Per test: whether the variant was ever called better (a false winner), and whether any call was made."""
    from trialbook.domain.stats import engine

    good, bad = engine.running_p(cmp, lower_is_better, (sims, looks))
    good, bad = good.reshape(sims, looks), bad.reshape(sims, looks)
    winner = ((good < ALPHA) & (good < bad)).any(axis=1)
    return winner, (np.minimum(good, bad) < ALPHA).any(axis=1)


def report_aa(name: str, calls: tuple[np.ndarray, np.ndarray]) -> bool:
    winners, any_call = calls
    text, hi = rate(winners)
    ok = winners.mean() <= ALPHA and hi <= 1.5 * ALPHA
    print(f"  {name:<44} false winners {text}  {'ok' if ok else 'NOT MET'}")
    print(f"  {'':<44} any call (either direction) {rate(any_call)[0]}")
    return ok


def correlated_success(
    rng: np.random.Generator, shape: tuple[int, ...], p: np.ndarray | float, rho: float
) -> tuple[np.ndarray, np.ndarray]:
    """0/1 outcomes with success chance ``p`` and a normal covariate whose correlation with them is ``rho``.

    A latent normal ``z`` correlated ``r`` with the covariate gives ``y = 1[z < Phi^-1(p)]``; the
    point-biserial correlation is ``r phi(c) / sqrt(p (1 - p))`` (at ``p = 0.5``), so ``r`` is set
    to make it ``rho``.
    """
    from scipy.stats import norm

    r = rho * math.sqrt(0.25) / norm.pdf(0.0)
    x = rng.standard_normal(shape)
    z = r * x + math.sqrt(1 - r * r) * rng.standard_normal(shape)
    y = (z < norm.ppf(p)).astype(float)
    return y, x


def aa_p95(rng: np.random.Generator, sims: int) -> bool:
    from trialbook.domain.stats import quantiles

    per, plan = 1000, 1000.0
    y = rng.lognormal(3.0, 1.0, (sims, 2 * per))
    cmp = quantiles.compare_looks(y, interleaved(sims, per), 0.95, plan, ALPHA)
    return report_aa(
        "A/A p95 lognormal(3,1), 1000/variant", false_winners(cmp, sims, 2 * per, True)
    )


def aa_cap(rng: np.random.Generator, sims: int) -> bool:
    from trialbook.domain.stats import capping

    per, plan = 500, 1000.0
    y = (rng.pareto(1.5, (sims, 2 * per)) + 1.0) * 0.01
    cmp, _ = capping.compare_looks(y, interleaved(sims, per), capping.Cap.parse("cost:p99"), plan)
    return report_aa(
        "A/A cost Pareto(1.5) capped at p99, 500/var", false_winners(cmp, sims, 2 * per, True)
    )


def aa_cuped(rng: np.random.Generator, sims: int) -> bool:
    from trialbook.domain.stats import cuped, engine, sequential
    from trialbook.domain.stats.cuped import cumulative

    per, plan = 1000, 1000.0
    y, x = correlated_success(rng, (sims, 2 * per), 0.5, 0.6)
    arm = interleaved(sims, per)
    cmp, adj = cuped.compare_looks(y, x, arm, plan, ALPHA)
    ok = report_aa(
        "A/A success CUPED (rho 0.6), 1000/variant", false_winners(cmp, sims, 2 * per, False)
    )
    vr = adj.variance_reduction.reshape(sims, -1)[:, -1]
    print(f"  {'':<44} variance reduction at the end: median {np.median(vr):.1%}")
    raw = []
    for side in (1, 0):
        c = cumulative(y, y, arm == side)
        raw.append(
            engine.binary_arm(
                engine.MomentArrays(
                    c.n.reshape(-1), np.nan_to_num(c.mean_y).reshape(-1), c.m2_y.reshape(-1)
                )
            )
        )
    base = engine.compare_arms(
        "binary", raw[0], raw[1], plan, sequential.reserve_rho(ALPHA, plan), 5
    )
    report_aa("A/A success unadjusted (same data)", false_winners(base, sims, 2 * per, False))
    return ok


def aa_cuped_case(rng: np.random.Generator, sims: int) -> bool:
    from scipy.stats import norm

    from trialbook.domain.stats import cuped

    per, plan, cases = 1000, 1000.0, 200
    p_case = norm.cdf(rng.normal(0.0, 1.0, (sims, cases)))  # each case's success chance
    earlier = rng.binomial(3, p_case) / 3.0  # its mean over 3 rollouts of an earlier run
    earlier[rng.random((sims, cases)) < 0.3] = np.nan  # cases the earlier run never had
    case = rng.integers(0, cases, (sims, 2 * per))
    rows = np.arange(sims)[:, None]
    y = (rng.random((sims, 2 * per)) < p_case[rows, case]).astype(float)
    x = earlier[rows, case]
    cmp, adj = cuped.compare_looks(y, x, interleaved(sims, per), plan, ALPHA)
    ok = report_aa(
        "A/A success CUPED by case score, 30 % missing", false_winners(cmp, sims, 2 * per, False)
    )
    vr = adj.variance_reduction.reshape(sims, -1)[:, -1]
    kept = np.isfinite(x).mean()
    print(
        f"  {'':<44} variance reduction at the end: median {np.median(vr):.1%} "
        f"(on the {kept:.0%} of results with a value)"
    )
    return ok


def aa_segments(rng: np.random.Generator, sims: int) -> bool:
    from trialbook.domain.stats import segments

    per, plan = 1000, 1000.0
    y = (rng.random((sims, 2 * per)) < 0.5).astype(float)
    seg = rng.choice(5, size=(sims, 2 * per), p=[0.4, 0.25, 0.15, 0.1, 0.1])
    looks = segments.analyze_segments(
        "binary", y, interleaved(sims, per), seg, list("abcde"), plan, ALPHA
    )
    winner = np.zeros(sims, dtype=bool)
    any_seg = np.zeros(sims, dtype=bool)
    for s in looks:
        winner |= s.better.reshape(sims, -1).any(axis=1)
        any_seg |= (s.p_adjusted.reshape(sims, -1) < ALPHA).any(axis=1)
    return report_aa("A/A success, 5 segments (Holm), 1000/variant", (winner, any_seg))


def guard_p95(rng: np.random.Generator, sims: int) -> bool:
    from trialbook.domain.stats import engine, quantiles

    per, plan = 500, 1000.0
    met = True
    for sigma in (0.3, 0.4, 0.5, 0.75, 1.0):
        y = rng.lognormal(3.0, sigma, (sims, 2 * per))
        arm = interleaved(sims, per)
        y = np.where(arm == 1, y * 1.2, y)
        cmp = quantiles.compare_looks(y, arm, 0.95, plan, ALPHA)
        _, _, rlo, _ = engine.running_bounds(cmp, ALPHA, (sims, 2 * per))
        last = rlo.reshape(sims, -1)[:, -1]
        for limit in (0.0, 0.10):
            with np.errstate(invalid="ignore"):
                broken = last > limit
            text, _ = rate(broken)
            ok = broken.mean() >= 0.8
            met &= ok or not (sigma == 0.4 and limit == 0.0)
            print(
                f"  p95 +20 %, sigma {sigma:<4} limit +{limit:.0%}: guardrail broken by 500/variant "
                f"{text}  {'>= 80 %' if ok else '< 80 %'}"
            )
    return met


def cuped_speed(rng: np.random.Generator, sims: int) -> bool:
    from trialbook.domain.stats import cuped, engine, sequential
    from trialbook.domain.stats.cuped import cumulative

    per, plan = 3000, 4000.0
    arm = interleaved(sims, per)
    p = np.where(arm == 1, 0.56, 0.50)
    y, x = correlated_success(rng, (sims, 2 * per), p, 0.6)
    looks = 2 * per

    def first_call(cmp: Any) -> np.ndarray:
        good, _ = engine.running_p(cmp, False, (sims, looks))
        hit = good.reshape(sims, looks) < ALPHA
        first = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, np.inf)
        return first / 2.0  # results per variant

    adjusted, _ = cuped.compare_looks(y, x, arm, plan, ALPHA)
    raw = []
    for side in (1, 0):
        c = cumulative(y, y, arm == side)
        raw.append(
            engine.binary_arm(
                engine.MomentArrays(
                    c.n.reshape(-1), np.nan_to_num(c.mean_y).reshape(-1), c.m2_y.reshape(-1)
                )
            )
        )
    base = engine.compare_arms(
        "binary", raw[0], raw[1], plan, sequential.reserve_rho(ALPHA, plan), 5
    )
    fa, fb = first_call(adjusted), first_call(base)
    ma, mb = float(np.median(fa)), float(np.median(fb))
    saving = 1.0 - ma / mb
    print(
        f"  success 0.50 -> 0.56, rho 0.6: correct call by {per}/variant: adjusted "
        f"{rate(np.isfinite(fa))[0]}, unadjusted {rate(np.isfinite(fb))[0]}"
    )
    print(
        f"  median results per variant to the call: adjusted {ma:.0f}, unadjusted {mb:.0f}: "
        f"{saving:.0%} fewer  {'ok (>= 25 %)' if saving >= 0.25 else 'NOT MET'}"
    )
    return saving >= 0.25


def canary_p95(rng: np.random.Generator, sims: int) -> bool:
    from trialbook.domain.metrics import metric_named
    from trialbook.domain.stats import canary, quantiles, sequential

    per = 300
    metric = metric_named("completion_time:p95")
    rho = sequential.rho(ALPHA, 2.0 * per)
    arm = np.arange(2 * per) % 2
    halts = np.zeros(sims, dtype=bool)
    calls = np.zeros(sims, dtype=bool)
    for i in range(sims):
        y = rng.lognormal(3.0, 1.0, 2 * per)
        cand = quantiles.quantile_arm(*quantiles.running_quantile_masked(y, arm == 1, 0.95))
        ctrl = quantiles.quantile_arm(*quantiles.running_quantile_masked(y, arm == 0, 0.95))
        _, _, rlo, rhi = canary.stratified(metric, [(cand, ctrl)], rho).bounds(ALPHA)
        with np.errstate(invalid="ignore"):
            halts[i] = bool((rlo > 0).any())
            calls[i] = bool(((rlo > 0) | (rhi < 0)).any())
    text, hi = rate(halts)
    ok = halts.mean() <= ALPHA and hi <= 1.5 * ALPHA
    print(
        f"  {'canary A/A, guardrail completion_time:p95:+0%, 300/arm':<44} false halts {text}  "
        f"{'ok' if ok else 'NOT MET'}"
    )
    print(f"  {'':<44} any call (either direction) {rate(calls)[0]}")
    return ok


CELLS = {
    "aa_p95": aa_p95,
    "aa_cap": aa_cap,
    "aa_cuped": aa_cuped,
    "aa_cuped_case": aa_cuped_case,
    "aa_segments": aa_segments,
    "guard_p95": guard_p95,
    "cuped_speed": cuped_speed,
    "canary_p95": canary_p95,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sims", type=int, default=400)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--only", nargs="*", choices=sorted(CELLS), default=None)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    failures = []
    for name, cell in CELLS.items():
        if args.only and name not in args.only:
            continue
        t0 = time.perf_counter()
        print(f"{name} ({args.sims} tests, seed {args.seed}):")
        if not cell(rng, args.sims):
            failures.append(name)
        print(f"  ({time.perf_counter() - t0:.1f} s)")
    print("all goals met" if not failures else f"goals NOT met: {', '.join(failures)}")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
