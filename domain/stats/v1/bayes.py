"""The Bayesian readout: chance to beat control, expected loss, chance to be best.

- Binary metrics: independent Beta(1 + successes, 1 + failures) posteriors
  (uniform prior), evaluated by Monte Carlo with a fixed seed so the same data
  always gives the same figures. Checked against Evan Miller's closed form for
  P(B > A) ("Formulas for Bayesian A/B testing", 2015).
- Other metrics: the normal approximation ``theta ~ N(estimate, se^2)`` (flat
  prior), with closed forms for P(beats control) and expected loss
  ``E[max(X, 0)] = mu Phi(mu / s) + s phi(mu / s)`` for ``X ~ N(mu, s^2)``.

"Beats" and "loss" respect the metric's direction: for lower-is-better metrics a
variant beats control when its value is smaller. Expected loss is in the metric's
units: what you expect to give up, averaged over the posterior, if you ship the
variant and it is in fact worse.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SEED = 20240917
DRAWS = 50_000


@dataclass(frozen=True)
class Posterior:
    """One arm's posterior: Beta(a, b) when ``beta`` else Normal(mean, sd)."""

    beta: bool
    a: float
    b: float

    @classmethod
    def of_binary(cls, successes: float, n: float) -> Posterior | None:
        """The Beta posterior of a success rate under a uniform prior; None without data."""
        if n < 1:
            return None
        return cls(True, 1.0 + successes, 1.0 + n - successes)

    @classmethod
    def of_normal(cls, mean: float, se: float) -> Posterior | None:
        """The normal approximation of an estimate; None when undefined."""
        if not (math.isfinite(mean) and math.isfinite(se) and se >= 0):
            return None
        return cls(False, mean, se)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        if self.beta:
            return rng.beta(self.a, self.b, size)
        return rng.normal(self.a, self.b, size) if self.b > 0 else np.full(size, self.a)


@dataclass(frozen=True)
class Readout:
    """Per arm: chance to beat control, expected loss of shipping it, chance to be best."""

    p_beats_control: list[float | None]
    expected_loss: list[float | None]
    p_best: list[float | None]


def _normal_expected_positive(mu: float, s: float) -> float:
    """``E[max(X, 0)]`` for ``X ~ N(mu, s^2)``."""
    if s == 0:
        return max(mu, 0.0)
    r = mu / s
    return mu * 0.5 * math.erfc(-r / math.sqrt(2)) + s * math.exp(-r * r / 2) / math.sqrt(
        2 * math.pi
    )


def normal_beats(
    diff: float, se: float, lower_is_better: bool
) -> tuple[float | None, float | None]:
    """P(variant beats control) and expected loss of shipping it, for a difference ``~ N(diff, se^2)``."""
    if not (math.isfinite(diff) and math.isfinite(se) and se >= 0):
        return None, None
    mu = -diff if lower_is_better else diff
    if se == 0:
        return (1.0 if mu > 0 else 0.0 if mu < 0 else 0.5), max(-mu, 0.0)
    return 0.5 * math.erfc(-mu / se / math.sqrt(2)), _normal_expected_positive(-mu, se)


def readout(posteriors: Sequence[Posterior | None], control: int, lower_is_better: bool) -> Readout:
    """The Bayesian readout of every arm against ``posteriors[control]``.

    Arms whose posterior is None get None everywhere and are left out of "best".
    """
    k = len(posteriors)
    sign = -1.0 if lower_is_better else 1.0
    beats: list[float | None] = [None] * k
    loss: list[float | None] = [None] * k
    best: list[float | None] = [None] * k
    present = [i for i, p in enumerate(posteriors) if p is not None]
    if not present:
        return Readout(beats, loss, best)
    rng = np.random.default_rng(SEED)
    draws = {i: sign * posteriors[i].sample(rng, DRAWS) for i in present}  # type: ignore[union-attr]
    pc = posteriors[control]
    for i in present:
        if i == control or pc is None:
            continue
        pv = posteriors[i]
        assert pv is not None
        if not pv.beta and not pc.beta:
            beats[i], loss[i] = normal_beats(pv.a - pc.a, math.hypot(pv.b, pc.b), lower_is_better)
        else:
            gain = draws[i] - draws[control]
            beats[i] = float(np.mean(gain > 0))
            loss[i] = float(np.mean(np.maximum(-gain, 0.0)))
    if len(present) >= 2:
        stacked = np.vstack([draws[i] for i in present])
        winners = np.bincount(np.argmax(stacked, axis=0), minlength=len(present)) / DRAWS
        for j, i in enumerate(present):
            best[i] = float(winners[j])
    return Readout(beats, loss, best)
