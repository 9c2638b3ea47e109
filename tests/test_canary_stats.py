"""Canary statistics: the stratified comparison, the always-valid sample-ratio test, the document."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trialbook.domain import canary as c
from trialbook.domain.commands import build
from trialbook.domain.metrics import METRICS
from trialbook.domain.stats import canary as cs
from trialbook.domain.stats import engine, sequential
from trialbook.domain.stats.moments import Moments


def definition(**changes: Any) -> c.CanaryCreated:
    values: dict[str, Any] = {
        "name": "router-v2",
        "control": "router-v1",
        "candidate": "router-v2",
        "salt": "s1",
        "min_results": 50,
        "metric": "error_rate",
        "guardrails": (c.parse_guardrail("error_rate:+2pp"), c.parse_guardrail("success:+0")),
    }
    (created,) = c.decide(build(c.CreateCanary, **{**values, **changes}), c.CanaryState())
    assert isinstance(created, c.CanaryCreated)
    return created


def arm(rng: np.random.Generator, n: int, failure: float, success: float = 0.8) -> cs.ArmData:
    rates = rng.binomial(10, failure, n) / 10
    wins = (rng.random(n) < success).astype(float)
    return cs.ArmData(n, {"error_rate": Moments.of(rates), "success": Moments.of(wins)})


def arms_of(metric: str, stage: cs.StageData) -> tuple[engine.Arm, engine.Arm]:
    m = METRICS[metric]
    plan = cs.plan_of(definition())
    looks = cs.looks_of(plan, [stage], 1)
    ctrl, cand = looks.stats[metric][0]
    return engine.arm_of(m, cand), engine.arm_of(m, ctrl)


class TestTheStratifiedComparison:
    def test_with_one_stage_it_is_welchs_comparison_on_the_always_valid_boundary(self) -> None:
        from scipy import stats

        rng = np.random.default_rng(3)
        ctrl = rng.binomial(10, 0.1, 300) / 10
        cand = rng.binomial(10, 0.14, 40) / 10
        stage = cs.StageData(
            cs.ArmData(300, {"error_rate": Moments.of(ctrl)}),
            cs.ArmData(40, {"error_rate": Moments.of(cand)}),
        )
        rho = sequential.rho(0.05, 1000)
        ours = cs.stratified(METRICS["error_rate"], [arms_of("error_rate", stage)], rho)
        a, b = cand.var(ddof=1) / 40, ctrl.var(ddof=1) / 300
        df = (a + b) ** 2 / (a * a / 39 + b * b / 299)
        assert ours.diff[0] == pytest.approx(cand.mean() - ctrl.mean(), rel=1e-12)
        assert ours.se[0] == pytest.approx(math.sqrt(a + b), rel=1e-12)
        assert ours.df[0] == pytest.approx(df, rel=1e-12)
        z = float(sequential.z_boundary(340, 0.05, rho))
        half = stats.t.ppf(stats.norm.cdf(z), df) * math.sqrt(a + b)
        lo, hi, _, _ = ours.bounds(0.05)
        assert (lo[0], hi[0]) == (
            pytest.approx(ours.diff[0] - half, rel=1e-9),
            pytest.approx(ours.diff[0] + half, rel=1e-9),
        )
        t = abs(ours.diff[0]) / math.sqrt(a + b)
        z_t = stats.norm.isf(stats.t.sf(t, df))
        assert ours.p_value()[0] == pytest.approx(
            float(sequential.p_value(z_t, 340, rho)), rel=1e-9
        )

    def test_proportions_use_agresti_caffo_variances_and_the_normal_boundary(self) -> None:
        stage = cs.StageData(
            cs.ArmData(200, {"success": Moments.of([1.0] * 160 + [0.0] * 40)}),
            cs.ArmData(50, {"success": Moments.of([1.0] * 30 + [0.0] * 20)}),
        )
        rho = sequential.rho(0.05, 1000)
        ours = cs.stratified(METRICS["success"], [arms_of("success", stage)], rho)
        pt, pc = 31 / 52, 161 / 202
        se = math.sqrt(pt * (1 - pt) / 52 + pc * (1 - pc) / 202)
        assert ours.diff[0] == pytest.approx(0.6 - 0.8) and ours.se[0] == pytest.approx(se)
        z = float(sequential.z_boundary(250, 0.05, rho))
        assert ours.bounds(0.05)[0][0] == pytest.approx(-0.2 - z * se, rel=1e-9)

    def test_a_drift_between_stages_does_not_read_as_a_difference(self) -> None:
        # the same error rate in both arms within each stage, but higher in the later stage:
        # pooled, the candidate (seen mostly late) looks worse; stratified, it does not
        def arm_data(n: int, mean: float) -> cs.ArmData:
            return cs.ArmData(n, {"error_rate": Moments(n, mean, n * 0.01)})

        early = cs.StageData(arm_data(900, 0.05), arm_data(100, 0.05))
        late = cs.StageData(arm_data(500, 0.15), arm_data(500, 0.15))
        m = METRICS["error_rate"]
        rho = sequential.rho(0.05, 2000)
        ours = cs.stratified(m, [arms_of("error_rate", s) for s in (early, late)], rho)
        assert ours.diff[0] == pytest.approx(0.0, abs=1e-12)
        assert ours.bounds(0.05)[0][0] < 0 < ours.bounds(0.05)[1][0]
        merged = cs.StageData(
            cs.ArmData(
                1400, {"error_rate": Moments(900, 0.05, 9.0).merge(Moments(500, 0.15, 5.0))}
            ),
            cs.ArmData(600, {"error_rate": Moments(100, 0.05, 1.0).merge(Moments(500, 0.15, 5.0))}),
        )
        pooled = cs.stratified(m, [arms_of("error_rate", merged)], rho)
        assert pooled.diff[0] > 0.04  # the drift, read as a 4-point worsening
        assert pooled.bounds(0.05)[0][0] > 0.02  # pooled, a +2pp guardrail would halt it

    def test_a_stage_without_control_adds_nothing(self) -> None:
        rng = np.random.default_rng(4)
        first = cs.StageData(arm(rng, 300, 0.1), arm(rng, 60, 0.1))
        full = cs.StageData(cs.ArmData(), arm(rng, 500, 0.3))
        m = METRICS["error_rate"]
        rho = sequential.rho(0.05, 1000)
        one = cs.stratified(m, [arms_of("error_rate", first)], rho)
        plan = cs.plan_of(definition())
        looks = cs.looks_of(plan, [first, full], 2)
        strata = [
            (engine.arm_of(m, t), engine.arm_of(m, ctrl))
            for ctrl, t in looks.stats["error_rate"][:2]
        ]
        both = cs.stratified(m, strata, rho)
        assert both.diff[0] == one.diff[0] and both.n_obs[0] == one.n_obs[0]


class TestTheSampleRatioTest:
    def test_the_planned_split_gives_p_near_one_a_lost_tenth_of_the_candidate_a_small_p(
        self,
    ) -> None:
        assert cs.srm_p(np.array([9000.0]), np.array([1000.0]), 10)[0] == 1.0
        assert cs.srm_p(np.array([9000.0]), np.array([850.0]), 10)[0] < 0.001
        assert math.isnan(cs.srm_p(np.array([0.0]), np.array([5.0]), 100)[0])

    @pytest.mark.slow
    def test_checked_after_every_result_it_alarms_at_most_alpha_of_the_time(self) -> None:
        # 2,000 stages of 5,000 results each at a true 10 % split, the p-value read after every result
        rng = np.random.default_rng(11)
        sims, n = 2000, 5000
        cand = np.cumsum(rng.random((sims, n)) < 0.1, axis=1).astype(float)
        ctrl = np.arange(1, n + 1)[None, :] - cand
        p = cs.srm_p(ctrl.ravel(), cand.ravel(), 10).reshape(sims, n)
        ever = np.mean((p < 0.01).any(axis=1))
        assert ever <= 0.01 + 3 * math.sqrt(0.01 * 0.99 / sims)  # Ville: at most alpha, any time


def _stage(rng: np.random.Generator, ctrl: int, cand: int, failure: float) -> cs.StageData:
    return cs.StageData(arm(rng, ctrl, 0.1), arm(rng, cand, failure))


class TestTheDocument:
    def test_it_is_plain_json_with_no_nan_and_says_what_happens_next(self) -> None:
        rng = np.random.default_rng(5)
        doc = cs.status_document(
            definition(), status="running", stage=1, stages=[_stage(rng, 500, 60, 0.1)], position=9
        )
        text = json.dumps(doc, allow_nan=False)
        assert json.loads(text) == doc
        assert doc["next"]["action"] == "advance" and doc["next"]["percent"] == 50
        assert doc["results"] == {
            "total": 560,
            "control": 500,
            "candidate": 60,
            "this_stage": {"control": 500, "candidate": 60},
            "by_stage": [doc["results"]["by_stage"][0]],
        }
        assert all(g["status"] in ("ok", "unclear") for g in doc["guardrails"])

    def test_a_breach_says_halt_and_too_few_results_say_wait(self) -> None:
        rng = np.random.default_rng(6)
        bad = cs.status_document(
            definition(), status="running", stage=1, stages=[_stage(rng, 900, 100, 0.3)], position=9
        )
        assert bad["next"]["action"] == "halt"
        assert bad["guardrails"][0]["status"] == "broken" and bad["guardrails"][0]["ci"][0] > 0.02
        few = cs.status_document(
            definition(), status="running", stage=1, stages=[_stage(rng, 90, 10, 0.1)], position=9
        )
        assert few["next"]["action"] == "wait" and "has 10 of the 50" in few["next"]["reason"]

    def test_an_empty_canary_has_no_intervals_yet(self) -> None:
        doc = cs.status_document(definition(), status="running", stage=1, stages=[], position=1)
        assert all(g["ci"] is None for g in doc["guardrails"])
        assert doc["metric"]["difference"] is None and doc["next"]["action"] == "wait"

    def test_stopped_canaries_say_so(self) -> None:
        doc = cs.status_document(definition(), status="halted", stage=1, stages=[], position=1)
        assert doc["exposure_percent"] == 0 and doc["next"]["action"] == "none"

    @settings(max_examples=25, deadline=None)
    @given(
        st.lists(
            st.tuples(st.integers(0, 60), st.integers(0, 60), st.floats(0.0, 0.5)),
            min_size=1,
            max_size=3,
        ),
        st.integers(0, 2**31),
    )
    def test_the_documents_rule_is_the_vectorised_rule_the_simulations_use(
        self, stages: list[tuple[int, int, float]], seed: int
    ) -> None:
        rng = np.random.default_rng(seed)
        d = definition(min_results=20)
        data = [_stage(rng, nc, nt, f) for nc, nt, f in stages]
        at = len(data)
        doc = cs.status_document(d, status="running", stage=at, stages=data, position=1)
        plan = cs.plan_of(d)
        ev = cs.evaluate(plan, cs.looks_of(plan, data, at))
        action = doc["next"]["action"]
        assert (action == "halt") == bool(ev.broken[0])
        assert (action in ("advance", "complete")) == bool(ev.ready[0])
