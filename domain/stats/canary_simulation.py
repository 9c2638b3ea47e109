"""Simulated canaries, checked after every result with the rule ``canary watch --auto`` applies.

Each simulated canary runs its stages in order. In a stage of p %, every new
result is the candidate's with probability p (units are assigned by a hash,
which behaves as a fair coin per unit); after each result the stage rule of
:func:`domain.stats.canary.evaluate` is applied to the statistics so far — the
same function ``canary status`` uses — and the canary halts at the first look
where a guardrail is breached, or moves to the next stage at the first look
where the stage has its minimum of candidate results with nothing breached or
blocking. Entering the last stage counts as reaching it.

Sessions are modelled as agent runs with a fixed number of tool calls, each
failing independently (the per-session ``error_rate`` is failed / calls), and
a success flag; see :class:`Arm`. Everything is computed from sufficient
statistics (prefix sums), in chunks of simulations to bound memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trialbook.domain.stats import canary as cs
from trialbook.domain.stats.engine import MomentArrays


@dataclass(frozen=True)
class Arm:
    """How one arm's sessions behave: ``calls`` tool calls failing with ``failure``, success rate."""

    failure: float = 0.10
    success: float = 0.80
    calls: int = 10


@dataclass
class Outcome:
    """What happened to each simulated canary (arrays of length ``sims``)."""

    #: the stage (0-based) each canary was halted at, -1 if never halted
    halted_at: np.ndarray
    #: the furthest stage (0-based) each canary reached
    reached: np.ndarray
    #: results recorded when it halted or reached the last stage (-1: ran out of budget)
    results: np.ndarray
    #: 0 where a fixed-horizon test re-checked after every result would have halted the canary
    #: within its first stage (on the same data), else -1
    naive_halted_at: np.ndarray
    stages: tuple[float, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def sims(self) -> int:
        return len(self.reached)

    def share(self, mask: np.ndarray) -> float:
        return float(np.mean(mask))

    @property
    def reached_last(self) -> np.ndarray:
        return (self.reached == len(self.stages) - 1) & (self.halted_at < 0)


def _moments(values: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prefix (n, mean, M2) along axis 1 of the values where ``mask``; values lie in [0, 1]."""
    x = np.where(mask, values, 0.0)
    n = np.cumsum(mask, axis=1, dtype=float)
    s1 = np.cumsum(x, axis=1)
    s2 = np.cumsum(x * x, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(n > 0, s1 / n, 0.0)
        m2 = np.where(n > 0, np.maximum(s2 - s1 * mean, 0.0), 0.0)
    return n, mean, m2


def _draw(rng: np.random.Generator, arm: Arm, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    return {
        "error_rate": rng.binomial(arm.calls, arm.failure, shape) / arm.calls,
        "success": (rng.random(shape) < arm.success).astype(float),
    }


def simulate(
    definition: Any,
    control: Arm,
    candidate: Arm,
    *,
    sims: int,
    seed: int,
    chunk: int = 50,
    budget: float = 6.0,
) -> Outcome:
    """Run ``sims`` canaries of ``definition`` (a ``CanaryCreated``) on simulated sessions.

    A stage of p % is given ``(min_results + budget * sd) / p`` results to reach its
    minimum; a canary that does not (vanishingly rare at the default 6 standard
    deviations, or when a blocking alert persists) is counted as not reaching it.
    Only ``error_rate`` and ``success`` guardrails and metrics are simulated.
    """
    plan = cs.plan_of(definition)
    for m in plan.tracked:
        if m.name not in ("error_rate", "success"):
            raise ValueError(f"the simulation models error_rate and success, not {m.name}")
    rng = np.random.default_rng(seed)
    halted_at = np.full(sims, -1)
    reached = np.zeros(sims, dtype=int)
    results = np.full(sims, -1)
    naive = np.full(sims, -1)
    for start in range(0, sims, chunk):
        k = min(chunk, sims - start)
        h, r, n, nv = _chunk(plan, control, candidate, k, rng, budget)
        halted_at[start : start + k] = h
        reached[start : start + k] = r
        results[start : start + k] = n
        naive[start : start + k] = nv
    return Outcome(halted_at, reached, results, naive, plan.stages)


def _chunk(
    plan: cs.Plan, control: Arm, candidate: Arm, k: int, rng: np.random.Generator, budget: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``k`` canaries, stage by stage; each stage simulates only the canaries still running."""
    stages = plan.stages
    metrics = [m.name for m in plan.tracked]
    halted = np.full(k, -1)
    naive = np.full(k, -1)
    reached = np.zeros(k, dtype=int)
    total = np.zeros(k, dtype=int)
    alive = np.ones(k, dtype=bool)
    #: per finished stage, for every canary (meaningful where it finished the stage): the
    #: (control, candidate) counts and, per metric, ((n, mean, m2) control, (n, mean, m2) candidate)
    done_counts: list[tuple[np.ndarray, np.ndarray]] = []
    done_stats: list[dict[str, tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]]] = []
    need = plan.min_results
    for s, percent in enumerate(stages[:-1]):
        p = percent / 100
        idx = np.flatnonzero(alive)
        n = len(idx)
        # the results a stage needs to reach its minimum: negative binomial, mean need / p;
        # ``budget`` standard deviations of slack make running out vanishingly rare
        length = int(math.ceil((need + budget * math.sqrt(need * (1 - p)) + 10) / p))
        cand = rng.random((n, length)) < p
        vc, vt = _draw(rng, control, (n, length)), _draw(rng, candidate, (n, length))
        nt = np.cumsum(cand, axis=1)
        nc = np.arange(1, length + 1)[None, :] - nt
        now = {m: (_moments(vc[m], ~cand), _moments(vt[m], cand)) for m in metrics}
        looks = n * length

        def flat(x: np.ndarray, shape: tuple[int, int] = (n, length)) -> np.ndarray:
            return np.broadcast_to(x, shape).reshape(shape[0] * shape[1])

        def fixed(x: np.ndarray, idx: np.ndarray = idx) -> np.ndarray:
            return flat(x[idx][:, None])

        zero = np.zeros(looks)
        results: list[tuple[np.ndarray, np.ndarray]] = []
        stats: dict[str, list[tuple[MomentArrays, MomentArrays]]] = {m: [] for m in metrics}
        for j in range(len(stages)):
            if j < s:
                results.append(tuple(fixed(x) for x in done_counts[j]))  # type: ignore[arg-type]
                for m in metrics:
                    c_arm, t_arm = done_stats[j][m]
                    stats[m].append(
                        (
                            MomentArrays(*(fixed(x) for x in c_arm)),
                            MomentArrays(*(fixed(x) for x in t_arm)),
                        )
                    )
            elif j == s:
                results.append((flat(nc.astype(float)), flat(nt.astype(float))))
                for m in metrics:
                    c_arm, t_arm = now[m]
                    stats[m].append(
                        (
                            MomentArrays(*(flat(x) for x in c_arm)),
                            MomentArrays(*(flat(x) for x in t_arm)),
                        )
                    )
            else:
                results.append((zero, zero))
                for m in metrics:
                    stats[m].append(
                        (MomentArrays(zero, zero, zero), MomentArrays(zero, zero, zero))
                    )
        ev = cs.evaluate(plan, cs.Looks(results, stats, np.full(looks, s)))
        broken = ev.broken.reshape(n, length)
        ready = ev.ready.reshape(n, length)
        first_broken = np.where(broken.any(1), broken.argmax(1), length)
        first_ready = np.where(ready.any(1), ready.argmax(1), length)
        if s == 0:  # the naive rule is followed through the first stage only
            naive_hit = _naive_broken(ev).reshape(n, length)
            first_naive = np.where(naive_hit.any(1), naive_hit.argmax(1), length)
            enough = nt >= need
            first_min = np.where(enough.any(1), enough.argmax(1), length)
            naive[idx[first_naive <= first_min]] = 0
        halt = first_broken < first_ready
        advance = (first_ready < first_broken) & (first_ready < length)
        stuck = ~halt & ~advance
        halted[idx[halt]] = s
        total[idx[halt]] += first_broken[halt] + 1
        total[idx[stuck]] = -length  # ran out of budget: flagged by a negative count
        end = np.minimum(first_ready, length - 1)
        rows = np.arange(n)
        total[idx[advance]] += end[advance] + 1
        reached[idx[advance]] = s + 1

        def keep(
            x: np.ndarray, idx: np.ndarray = idx, rows: np.ndarray = rows, end: np.ndarray = end
        ) -> np.ndarray:
            full = np.zeros(k)
            full[idx] = x[rows, end]
            return full

        done_counts.append((keep(nc.astype(float)), keep(nt.astype(float))))
        done_stats.append(
            {m: tuple(tuple(keep(x) for x in arm) for arm in now[m]) for m in metrics}  # type: ignore[misc]
        )
        alive = np.zeros(k, dtype=bool)
        alive[idx[advance]] = True
        if not alive.any():
            break
    total = np.where(total < 0, -1, total)
    return halted, reached, total, naive


def _naive_broken(ev: cs.Evaluation) -> np.ndarray:
    """Looks where a fixed-horizon test (one-look normal interval at the same level) shows a breach."""
    from trialbook.domain.stats.frequentist import z_quantile

    z = z_quantile(1 - ev.plan.guard_level / 2)
    out = np.zeros(np.shape(ev.broken), dtype=bool)
    for gd in ev.guards:
        cmp = gd.comparison
        se = cmp.rel_se if gd.guard.relative else cmp.se
        with np.errstate(invalid="ignore"):
            out |= cmp.valid & (gd.worsening - z * se > gd.guard.limit)
    return out
