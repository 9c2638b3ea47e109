"""Simulation studies of the decision rule under continuous monitoring (tests and ``bench/stats.py``).

Simulated variants take turns (round robin) and the rule is applied after every
result, exactly as ``history`` applies it, through :func:`engine.evaluate`.
Beside it, two rules users run today: a Welch t-test re-checked after every
result, and the legacy "recommend the variant whose mean error rate is 20 %
lower once each has 3 results".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from trialbook.domain.stats.model import AnalysisInput, VariantData
from trialbook.domain.stats.v1 import engine


@dataclass
class Run:
    """Decisions of ``sims`` simulated tests at every look (arrays of shape sims × looks)."""

    spec: engine.Spec
    evaluation: engine.Evaluation
    decision: np.ndarray
    chosen: np.ndarray
    variants: int

    def results_per_variant(self, look: np.ndarray) -> np.ndarray:
        """Results each variant has after look index ``look`` (round robin)."""
        return look // self.variants + 1

    def first(self, mask: np.ndarray) -> np.ndarray:
        """Index of the first look where ``mask`` holds, per simulation (-1 if never)."""
        return np.where(mask.any(axis=1), mask.argmax(axis=1), -1)


def spec_for(variants: int, metric: str, **options: Any) -> engine.Spec:
    """The resolved settings of a simulated test with variants ``v0`` (control) … ``v{k-1}``."""
    names = tuple(f"v{i}" for i in range(variants))
    inp = AnalysisInput(
        test="simulation",
        variants=tuple(VariantData(n, 0) for n in names),
        control="v0",
        metric=metric,
        **options,
    )
    return engine.spec_of(inp)


def run(values: dict[str, np.ndarray], metric: str, **options: Any) -> Run:
    """Apply the decision rule after every result of simulated tests.

    ``values[metric]`` has shape (variants, simulations, results per variant).
    """
    k = values[metric].shape[-3]
    spec = spec_for(k, metric, **options)
    data, shape = engine.step_data_of_arrays(spec, values)
    ev = engine.evaluate(spec, data)
    return Run(spec, ev, ev.decision.reshape(shape), ev.chosen.reshape(shape), k)


def naive_welch(run_: Run, alpha: float = 0.05) -> np.ndarray:
    """Looks (sims × looks) where a fixed-horizon Welch test of any variant against control has p < alpha."""
    from scipy.special import stdtr

    spec = run_.spec
    arms = run_.evaluation.arms[spec.primary.name]
    c = arms[spec.control]
    hits = np.zeros(run_.decision.size, dtype=bool)

    def sample_var(arm: engine.Arm) -> np.ndarray:
        if spec.primary.kind == "binary":  # the plain sample variance of 0/1 values
            return arm.est * (1 - arm.est) * arm.n / (arm.n - 1)
        return arm.var_obs

    for i in spec.others:
        v = arms[i]
        with np.errstate(divide="ignore", invalid="ignore"):
            a = sample_var(v) / v.n
            b = sample_var(c) / c.n
            se = np.sqrt(a + b)
            df = (a + b) ** 2 / (a * a / (v.n - 1) + b * b / (c.n - 1))
            p = 2 * stdtr(df, -np.abs(v.est - c.est) / se)
        hits |= (v.n >= 2) & (c.n >= 2) & (se > 0) & (p < alpha)
    return hits.reshape(run_.decision.shape)


def legacy_rule(error_rates: np.ndarray, min_results: int = 3, lower_by: float = 0.2) -> np.ndarray:
    """Looks where the legacy rule names a winner: one variant's mean error rate is ``lower_by`` lower.

    ``error_rates``: (2, sims, results per variant), round robin. Returns sims × looks.
    """
    _, sims, per = error_rates.shape
    n = np.arange(1, per + 1)
    means = np.cumsum(error_rates, axis=2) / n  # (2, sims, per)
    looks = np.arange(2 * per)
    counts = [np.where(looks >= j, (looks - j) // 2 + 1, 0) for j in range(2)]
    m0 = means[0][:, np.maximum(counts[0] - 1, 0)]
    m1 = means[1][:, np.maximum(counts[1] - 1, 0)]
    enough = (counts[0] >= min_results) & (counts[1] >= min_results)
    return (
        enough & ((m1 <= (1 - lower_by) * m0) | (m0 <= (1 - lower_by) * m1)) & ((m0 > 0) | (m1 > 0))
    )
