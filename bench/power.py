"""Issue #20's figures: power against one fixed look, A/A false ships, flip-flops, the sequential
sample-ratio test and the calibration of "about N more", for method 2.0 beside method 1.0.

Run: ``.venv/bin/python bench/power.py [--sims N] [--seed S] [--only NAME ...]``. Every
figure is computed in the run (seeded, vectorised over sufficient statistics); every
rate has its Wilson 95 % interval. Defaults: 1,000 simulated tests per cell (the issue
asks for at least 400). Results are looked at after every single result, variants
taking turns. The cells:

- power, at a final size of 250 results per variant with the design planned for those
  500 results: success 0.50 -> 0.62; lognormal(3, 1) completion time -20 %; a paired
  score +0.08 (case difficulty N(0.5, 0.3), per-result noise N(0, 0.44), 250 cases);
- A/A (variants identical), up to 500 results per variant (twice the plan, so the
  design's reserve after the plan is exercised too): success at 0.1, 0.5 and 0.9,
  lognormal, Pareto with infinite variance (shape 1.5), paired scores, three variants;
- the sample-ratio test under random assignment (2 and 3 variants, 3,000 results);
- "about N more": stated after 50 results per variant, against when the test decided.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

ALPHA = 0.05
CHUNK = 250  # simulated tests evaluated at once (memory)


def wilson(k: float, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson's 95 % score interval for k successes in n trials."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def rate(mask: np.ndarray) -> str:
    k, n = int(mask.sum()), int(mask.size)
    lo, hi = wilson(k, n)
    return f"{k / n:6.1%} [{lo:.1%}, {hi:.1%}]"


# --------------------------------------------------------------------------- data


def binary(p: float) -> Callable[[np.random.Generator, int, int], np.ndarray]:
    return lambda rng, sims, per: (rng.random((sims, per)) < p).astype(float)


def lognormal(scale: float = 1.0) -> Callable[[np.random.Generator, int, int], np.ndarray]:
    return lambda rng, sims, per: scale * rng.lognormal(3.0, 1.0, (sims, per))


def pareto(rng: np.random.Generator, sims: int, per: int) -> np.ndarray:
    return (rng.pareto(1.5, (sims, per)) + 1.0) * 10.0  # shape 1.5: the variance is infinite


def paired_scores(rng: np.random.Generator, sims: int, per: int, effect: float) -> np.ndarray:
    """(2, sims, per): case j of both variants shares its difficulty."""
    difficulty = rng.normal(0.5, 0.3, (sims, per))
    control = difficulty + rng.normal(0.0, 0.44, (sims, per))
    variant = difficulty + effect + rng.normal(0.0, 0.44, (sims, per))
    return np.stack([control, variant])


# --------------------------------------------------------------------------- running the rule


def run_chunks(
    make: Callable[[np.random.Generator, int], dict[str, np.ndarray]],
    metric: str,
    sims: int,
    seed: int,
    *,
    paired: bool = False,
    version: str = "2.0",
    keep: Callable[[Any, dict[str, np.ndarray]], dict[str, np.ndarray]],
    **options: Any,
) -> dict[str, np.ndarray]:
    """Simulate ``sims`` tests in chunks; ``keep(run, values)`` returns per-test arrays to keep."""
    if version == "2.0":
        from trialbook.domain.stats import simulate
    else:
        from trialbook.domain.stats.v1 import simulate  # type: ignore[no-redef]
    out: dict[str, list[np.ndarray]] = {}
    done = 0
    chunk_index = 0
    while done < sims:
        n = min(CHUNK, sims - done)
        rng = np.random.default_rng([seed, chunk_index])
        values = make(rng, n)
        if version == "2.0":
            run = simulate.run(values, metric, paired=paired, **options)
        else:  # method 1.0's simulation has no paired mode: its history on rows instead
            run = None if paired else simulate.run(values, metric, **options)
        kept = keep(run, values) if run is not None else keep_v1_paired(values, metric, options)
        for key, val in kept.items():
            out.setdefault(key, []).append(val)
        done += n
        chunk_index += 1
    return {k: np.concatenate(v) for k, v in out.items()}


def keep_v1_paired(
    values: dict[str, np.ndarray], metric: str, options: dict[str, Any]
) -> dict[str, np.ndarray]:
    """Method 1.0 on paired data: its ``history`` on rows (slow: at most 400 tests a cell)."""
    from trialbook.domain.stats import ResultRow, variant_data_from_rows
    from trialbook.domain.stats.model import AnalysisInput
    from trialbook.domain.stats.v1 import analysis as v1

    x = values[metric]
    sims, per = x.shape[1], x.shape[2]
    ships, right = np.zeros(sims, bool), np.zeros(sims, bool)
    for s in range(sims):
        rows = tuple(
            ResultRow(("v0", "v1")[v], {metric: float(x[v, s, j])}, case_id=str(j))
            for j in range(per)
            for v in (0, 1)
        )
        inp = AnalysisInput(
            test="b",
            variants=variant_data_from_rows(rows, ("v0", "v1")),
            control="v0",
            metric=metric,
            rows=rows,
            **options,
        )
        trail = v1.history(inp)
        ships[s] = any(h["decision"] in ("ship", "keep_control") for h in trail)
        right[s] = any(h["decision"] == "ship" and h["variant"] == "v1" for h in trail)
    return {"called": ships, "right": right, "flips": np.zeros(sims, bool), "wrong": ships & ~right}


def decisions(run: Any, _values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    from trialbook.domain.stats.engine import KEEP_CONTROL, SHIP

    d = run.decision
    ship = d == SHIP
    right = (ship & (run.chosen == 1)).any(axis=1)
    wrong = (ship & (run.chosen != 1)).any(axis=1)
    called = (ship | (d == KEEP_CONTROL)).any(axis=1)
    ship_only = ship.any(axis=1)
    # a flip-flop: a ship shown, and a later look that is not a ship
    after = np.logical_or.accumulate(ship, axis=1)
    flips = (after & ~ship).any(axis=1)
    first = np.where(ship.any(axis=1), ship.argmax(axis=1), -1)
    return {
        "called": called,
        "ship": ship_only,
        "right": right,
        "wrong": wrong,
        "flips": flips,
        "first": first,
    }


def fixed_look(values: dict[str, np.ndarray], metric: str, kind: str) -> np.ndarray:
    """One fixed-horizon look at the final size: ships the variant at p < alpha, right direction."""
    from scipy import stats

    x = values[metric]
    c, v = x[0], x[1]
    if kind == "binary":
        n = c.shape[1]
        pc, pv = c.mean(axis=1), v.mean(axis=1)
        pooled = (pc + pv) / 2
        se = np.sqrt(pooled * (1 - pooled) * 2 / n)
        z = (pv - pc) / se
        return (2 * stats.norm.sf(np.abs(z)) < ALPHA) & (z > 0)
    if kind == "paired":
        t, p = stats.ttest_rel(v, c, axis=1)
        return (p < ALPHA) & (t > 0)
    t, p = stats.ttest_ind(v, c, axis=1, equal_var=False)
    lower = metric == "completion_time"
    return (p < ALPHA) & ((t < 0) if lower else (t > 0))


# --------------------------------------------------------------------------- sections


def power_section(sims: int, seed: int) -> None:
    print(
        f"## Power at the same final size: 250 results per variant, looked at after every result ({sims} tests per cell)"
    )
    print(
        "Shipped the better variant by the final size; one fixed-horizon look at 250 per variant beside it.\n"
    )
    per = 250
    cells = [
        ("success 0.50 -> 0.62", "success", "binary",
         lambda rng, n: {"success": np.stack([binary(0.50)(rng, n, per), binary(0.62)(rng, n, per)])}, False),
        ("completion_time lognormal -20 %", "completion_time", "continuous",
         lambda rng, n: {"completion_time": np.stack([lognormal()(rng, n, per), lognormal(0.8)(rng, n, per)])}, False),
        ("score paired +0.08 (250 cases)", "score", "paired",
         lambda rng, n: {"score": paired_scores(rng, n, per, 0.08)}, True),
    ]  # fmt: skip
    print(
        "| cell | method 2.0 (trialbook) | one fixed look | ratio | method 1.0 | wrong ships 2.0 | flip-flops 2.0 | flip-flops 1.0 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for i, (label, metric, kind, make, paired) in enumerate(cells):

        def keep(
            run: Any, values: dict[str, np.ndarray], kind: str = kind, metric: str = metric
        ) -> dict[str, np.ndarray]:
            out = decisions(run, values)
            out["fixed"] = fixed_look(values, metric, kind)
            return out

        t0 = time.perf_counter()
        new = run_chunks(make, metric, sims, seed + i, paired=paired, keep=keep, tuning=2 * per)
        if paired:
            old_sims = min(sims, 400)
            old = run_chunks(make, metric, old_sims, seed + i, paired=True, version="1.0",
                             keep=keep, tuning=2 * per)  # fmt: skip
        else:
            old = run_chunks(make, metric, sims, seed + i, version="1.0", keep=keep, tuning=2 * per)
        p_new, p_fix = new["right"].mean(), new["fixed"].mean()
        # ratio's interval: bootstrap over the simulated tests (paired: same data for both)
        boot = np.random.default_rng(seed).integers(0, sims, (2000, sims))
        ratios = new["right"][boot].mean(axis=1) / np.maximum(
            new["fixed"][boot].mean(axis=1), 1e-12
        )
        lo, hi = np.quantile(ratios, [0.025, 0.975])
        flips_old = rate(old["flips"]) if not paired else "n/a"
        print(
            f"| {label} | {rate(new['right'])} | {rate(new['fixed'])} | {p_new / p_fix:.2f} [{lo:.2f}, {hi:.2f}] "
            f"| {rate(old['right'])}{' (' + str(len(old['right'])) + ' tests)' if paired else ''} "
            f"| {rate(new['wrong'])} | {rate(new['flips'])} | {flips_old} |"
        )
        print(f"<!-- {label}: {time.perf_counter() - t0:.1f} s -->")
    print()


def aa_section(sims: int, seed: int) -> None:
    per = 500
    print(
        f"## A/A: false calls, looked at after every result, up to {per} results per variant "
        f"(design planned for 500 in total: the last half runs on the reserve) ({sims} tests per cell)\n"
    )
    cells = [
        ("success p = 0.1", "success", lambda rng, n: {"success": np.stack([binary(0.1)(rng, n, per) for _ in range(2)])}, False, 2),
        ("success p = 0.5", "success", lambda rng, n: {"success": np.stack([binary(0.5)(rng, n, per) for _ in range(2)])}, False, 2),
        ("success p = 0.9", "success", lambda rng, n: {"success": np.stack([binary(0.9)(rng, n, per) for _ in range(2)])}, False, 2),
        ("completion_time lognormal(3, 1)", "completion_time", lambda rng, n: {"completion_time": np.stack([lognormal()(rng, n, per) for _ in range(2)])}, False, 2),
        ("completion_time Pareto, shape 1.5 (infinite variance)", "completion_time", lambda rng, n: {"completion_time": np.stack([pareto(rng, n, per) for _ in range(2)])}, False, 2),
        ("score paired (case difficulty shared)", "score", lambda rng, n: {"score": paired_scores(rng, n, per, 0.0)}, True, 2),
        ("success p = 0.5, three variants (Holm)", "success", lambda rng, n: {"success": np.stack([binary(0.5)(rng, n, per) for _ in range(3)])}, False, 3),
    ]  # fmt: skip
    print(
        "| cell | false ships 2.0 | any call 2.0 (ship or keep control) | false ships 1.0 | any call 1.0 |"
    )
    print("|---|---|---|---|---|")
    for i, (label, metric, make, paired, _k) in enumerate(cells):
        t0 = time.perf_counter()
        new = run_chunks(
            make, metric, sims, seed + 100 + i, paired=paired, keep=decisions, tuning=500
        )
        if paired:
            old = run_chunks(make, metric, min(sims, 400), seed + 100 + i, paired=True, version="1.0",
                             keep=decisions, tuning=500)  # fmt: skip
            old_ship = old["wrong"] | old["right"]
        else:
            old = run_chunks(
                make, metric, sims, seed + 100 + i, version="1.0", keep=decisions, tuning=500
            )
            old_ship = old["ship"]
        print(
            f"| {label} | {rate(new['ship'])} | {rate(new['called'])} | {rate(old_ship)} | {rate(old['called'])}"
            f"{' (' + str(len(old['called'])) + ' tests)' if paired else ''} |"
        )
        print(f"<!-- {label}: {time.perf_counter() - t0:.1f} s -->")
    print()


def srm_section(sims: int, seed: int) -> None:
    from trialbook.domain.stats.frequentist import homogeneity_p, multinomial_sequential_p, srm_p

    looks = 3000
    print(
        f"## Sample-ratio and imbalance checks under A/A, random assignment, checked after every one of {looks} results ({sims} tests)\n"
    )
    print(
        "| check | blocked at some look, method 2.0 (sequential, p < 0.001) | method 1.0 (chi-square, p < 0.001 every look) |"
    )
    print("|---|---|---|")
    for k in (2, 3):
        rng = np.random.default_rng([seed, k])
        arm = rng.integers(0, k, (sims, looks))
        counts = (
            np.stack([np.cumsum(arm == j, axis=1) for j in range(k)]).reshape(k, -1).astype(float)
        )
        seq = (multinomial_sequential_p(counts, [1.0] * k) < 0.001).reshape(sims, looks).any(axis=1)
        with np.errstate(invalid="ignore"):
            chi = (srm_p(counts, [1.0] * k) < 0.001).reshape(sims, looks).any(axis=1)
        print(f"| sample ratio, {k} variants | {rate(seq)} | {rate(chi)} |")
        # results without the metric, 10 % at random whatever the variant
        missing = rng.random((sims, looks)) < 0.1
        miss = (
            np.stack([np.cumsum((arm == j) & missing, axis=1) for j in range(k)])
            .reshape(k, -1)
            .astype(float)
        )
        seq_m = (multinomial_sequential_p(miss, [1.0] * k) < 0.001).reshape(sims, looks).any(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            chi_m = (homogeneity_p(miss, counts) < 0.001).reshape(sims, looks).any(axis=1)
        print(f"| missing values (10 % at random), {k} variants | {rate(seq_m)} | {rate(chi_m)} |")
    # power of the sequential check against a real mismatch: 52 % / 48 %
    rng = np.random.default_rng([seed, 9])
    arm = (rng.random((sims, looks)) < 0.48).astype(int)
    counts = np.stack([np.cumsum(arm == j, axis=1) for j in range(2)]).reshape(2, -1).astype(float)
    seq = (multinomial_sequential_p(counts, [1.0, 1.0]) < 0.001).reshape(sims, looks)
    with np.errstate(invalid="ignore"):
        chi = (srm_p(counts, [1.0, 1.0]) < 0.001).reshape(sims, looks)
    print(
        f"| a real 52/48 mismatch: detected within {looks} results | {rate(seq.any(axis=1))} | {rate(chi.any(axis=1))} |"
    )
    print()


def stated_more(
    run: Any, metric: str, look: int, mde: float, relative: bool, kind: str
) -> tuple[np.ndarray, np.ndarray]:
    """Per simulated test: the median and 80 % "how many more" analyze states at ``look``.

    The same computation as ``analysis._power``, vectorised over the tests.
    """
    from trialbook.domain.stats.sequential import design_stopping_quantiles

    ev = run.evaluation
    sims, looks = run.decision.shape
    idx = np.arange(sims) * looks + look
    cmp = ev.comparisons[metric][1]
    arms = ev.arms[metric]
    diff, se = cmp.diff[idx], cmp.se[idx]
    valid = cmp.valid[idx] & (se > 0)
    est_c = arms[0].est[idx]
    delta = mde * np.abs(est_c) if relative else np.full(sims, mde)
    lower = metric == "completion_time"
    sign = -1.0 if lower else 1.0
    paired = bool(cmp.paired[idx].all())
    pairs = cmp.n_v[idx]
    if paired:
        var_unit = se * se * pairs
        per_unit = float(np.median(cmp.n_obs[idx] / pairs))
        current = pairs
    elif kind == "binary":
        p_c = np.clip(est_c, 1e-6, 1 - 1e-6)
        p_v = np.clip(p_c + sign * delta, 1e-6, 1 - 1e-6)
        var_unit = p_c * (1 - p_c) + p_v * (1 - p_v)
        per_unit = 2.0
        current = np.minimum(arms[1].n[idx], arms[0].n[idx])
    else:
        var_unit = arms[1].var_obs[idx] + arms[0].var_obs[idx]
        per_unit = 2.0
        current = np.minimum(arms[1].n[idx], arms[0].n[idx])
    with np.errstate(divide="ignore", invalid="ignore"):
        info0 = np.where(valid, 1.0 / (se * se), current / var_unit)
        s0 = np.where(valid, sign * diff * info0, delta * info0)
    out = []
    for q in (0.5, 0.8):
        units, _ = design_stopping_quantiles(
            q,
            s0=s0,
            info0=info0,
            unit_var=var_unit,
            clock0=cmp.n_obs[idx],
            clock_per_unit=per_unit,
            horizon=cmp.horizon[idx],
            level=ev.ci_level,
            rho_reserve=float(cmp.rho[idx][0]),
            effect=delta,
        )
        out.append(np.ceil(units - 1e-9))
    return out[0], out[1]


def calibration_section(sims: int, seed: int) -> None:
    from trialbook.domain.stats.engine import SHIP

    n0 = 50
    print(
        f'## "About N more": stated after {n0} results per variant, with the --mde equal to the true effect ({sims} tests per cell)\n'
    )
    print(
        "Actual = results per variant (or pairs) from the statement to the first ship. The stated figure is "
        "the median; the 80 % figure is `needed_always_valid`.\n"
    )
    print(
        "| cell | median stated more | median actual / stated [95 % CI] | decided within the stated median | within the stated 80 % figure | not decided after 4x the plan |"
    )
    print("|---|---|---|---|---|---|")
    cells = [
        ("success 0.50 -> 0.62, --mde 12pp, plan 500", "success", "binary", 0.12, False, 500, 1000,
         lambda per: (lambda rng, n: {"success": np.stack([binary(0.50)(rng, n, per), binary(0.62)(rng, n, per)])}), False),
        ("completion_time -20 %, --mde 20%, plan 1000", "completion_time", "continuous", 0.20, True, 1000, 2000,
         lambda per: (lambda rng, n: {"completion_time": np.stack([lognormal()(rng, n, per), lognormal(0.8)(rng, n, per)])}), False),
        ("score paired +0.08, --mde 0.08, plan 500", "score", "paired", 0.08, False, 500, 1000,
         lambda per: (lambda rng, n: {"score": paired_scores(rng, n, per, 0.08)}), True),
        ("success 0.50 -> 0.60, --mde 10pp, plan 500 (80 % figure beyond the plan)", "success", "binary", 0.10, False, 500, 1500,
         lambda per: (lambda rng, n: {"success": np.stack([binary(0.50)(rng, n, per), binary(0.60)(rng, n, per)])}), False),
    ]  # fmt: skip
    for i, (label, metric, kind, mde, relative, plan, per, maker, paired) in enumerate(cells):
        look = 2 * n0 - 1  # each variant has n0 results

        def keep(run: Any, values: dict[str, np.ndarray], metric: str = metric, kind: str = kind,
                 mde: float = mde, relative: bool = relative, look: int = look) -> dict[str, np.ndarray]:  # fmt: skip
            med, p80 = stated_more(run, metric, look, mde, relative, kind)
            ship = run.decision == SHIP
            first = np.where(ship.any(axis=1), ship.argmax(axis=1), -1)
            actual = np.where(first >= 0, (first // 2 + 1) - n0, np.inf)
            already = (first >= 0) & (first <= look)
            return {"stated": med, "p80": p80, "actual": actual.astype(float), "already": already}

        t0 = time.perf_counter()
        out = run_chunks(
            maker(per), metric, sims, seed + 200 + i, paired=paired, keep=keep, tuning=plan
        )
        live = ~out["already"] & np.isfinite(out["stated"]) & (out["stated"] > 0)
        ratio = out["actual"][live] / out["stated"][live]
        med = float(np.median(ratio))
        boot = np.random.default_rng(seed).integers(0, ratio.size, (2000, ratio.size))
        lo, hi = np.quantile(np.median(ratio[boot], axis=1), [0.025, 0.975])
        within = out["actual"][live] <= out["stated"][live]
        within80 = out["actual"][live] <= out["p80"][live]
        never = ~np.isfinite(out["actual"][live])
        print(
            f"| {label} | {np.median(out['stated'][live]):.0f} | {med:.2f} [{lo:.2f}, {hi:.2f}] "
            f"| {rate(within)} | {rate(within80)} | {rate(never)} |"
        )
        print(
            f"<!-- {label}: {int(live.sum())} tests still open at the statement; {time.perf_counter() - t0:.1f} s -->"
        )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=1000, help="simulated tests per cell (>= 400)")
    parser.add_argument("--seed", type=int, default=20261203)
    parser.add_argument(
        "--only", nargs="*", choices=["power", "aa", "srm", "calibration"], default=None
    )
    args = parser.parse_args()
    sections = {
        "power": power_section,
        "aa": aa_section,
        "srm": srm_section,
        "calibration": calibration_section,
    }
    start = time.perf_counter()
    for name, fn in sections.items():
        if args.only is None or name in args.only:
            fn(args.sims, args.seed)
    print(
        f"<!-- total {time.perf_counter() - start:.0f} s, {args.sims} tests per cell, seed {args.seed} -->"
    )


if __name__ == "__main__":
    main()
