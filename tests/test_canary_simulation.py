"""Simulated canaries checked after every result: the figures docs/canary.md reports.

Each simulated canary has the default plan (stages 10 → 50 → 100 %, 400
candidate results per stage, alpha 0.05) and two guardrails: ``error_rate:+2pp``
and ``success:+0`` (the candidate's success rate may not drop at all). Sessions
make 10 tool calls each, failing independently with probability 10 % under the
control, and succeed 80 % of the time (:mod:`domain.stats.canary_simulation`).
The stage rule runs after every single result, as ``canary watch --auto`` would
with one result per poll.
"""

from __future__ import annotations

import numpy as np
import pytest

from trialbook.domain import canary as c
from trialbook.domain.commands import build
from trialbook.domain.stats.canary_simulation import Arm, Outcome, simulate

SIMS = 1000
SEED = 20261203


def plan() -> c.CanaryCreated:
    command = build(
        c.CreateCanary,
        name="sim",
        control="control",
        candidate="candidate",
        salt="sim",
        metric="error_rate",
        guardrails=(c.parse_guardrail("error_rate:+2pp"), c.parse_guardrail("success:+0")),
    )
    (created,) = c.decide(command, c.CanaryState())
    assert isinstance(created, c.CanaryCreated) and created.min_results == c.DEFAULT_MIN_RESULTS
    return created


@pytest.fixture(scope="module")
def identical() -> Outcome:
    return simulate(plan(), Arm(), Arm(), sims=SIMS, seed=SEED)


@pytest.fixture(scope="module")
def worse() -> Outcome:
    return simulate(plan(), Arm(), Arm(failure=0.15), sims=SIMS, seed=SEED + 1)


def report(name: str, o: Outcome) -> str:
    halted = np.bincount(o.halted_at + 1, minlength=len(o.stages) + 1) / o.sims
    return (
        f"{name}: reached 100% {o.share(o.reached_last):.1%}; halted at 10% {halted[1]:.1%}, "
        f"at 50% {halted[2]:.1%}; fixed-horizon test re-checked every result halts within the "
        f"10% stage {o.share(o.naive_halted_at == 0):.1%}; out of budget {np.sum(o.results < 0)}"
    )


@pytest.mark.slow
class TestAnIdenticalCandidate:
    def test_reaches_100_percent_without_a_false_halt_in_at_least_95_percent(
        self, identical: Outcome, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with capsys.disabled():
            print("\n" + report(f"identical candidate, {SIMS} canaries", identical))
        assert identical.share(identical.reached_last) >= 0.95
        assert np.all(identical.results > 0)  # none ran out of its results budget

    def test_a_fixed_horizon_test_re_checked_after_every_result_would_halt_far_more(
        self, identical: Outcome
    ) -> None:
        # the same data, a one-look normal interval at the same level: peeking inflates false halts
        ours = identical.share(identical.halted_at == 0)
        naive = identical.share(identical.naive_halted_at == 0)
        assert naive > 0.05 and naive > 5 * max(ours, 0.002)


@pytest.mark.slow
class TestACandidateFivePointsWorseOnErrorRate:
    def test_is_halted_at_the_10_percent_stage_in_at_least_90_percent(
        self, worse: Outcome, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with capsys.disabled():
            print("\n" + report(f"candidate 5 points worse, {SIMS} canaries", worse))
        assert worse.share(worse.halted_at == 0) >= 0.90

    def test_is_halted_before_100_percent_in_all_and_never_reaches_it(self, worse: Outcome) -> None:
        assert np.all(worse.halted_at >= 0)
        assert np.all(worse.halted_at < len(worse.stages) - 1)
        assert not worse.reached_last.any()

    def test_halts_within_about_the_results_the_stage_plans(self, worse: Outcome) -> None:
        # at the 10 % stage the plan needs ~4,000 results for 400 candidate ones
        first = worse.results[worse.halted_at == 0]
        assert np.median(first) < 4000
