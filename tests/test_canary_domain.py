"""Canaries, the pure part: plans, sticky assignment, results and the stage rule (domain/canary.py)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trialbook.domain import canary as c
from trialbook.domain.commands import build
from trialbook.domain.errors import AlreadyExists, InvalidCommand, NotFound, StateConflict
from trialbook.domain.events import load_event


def plan(**changes: Any) -> c.CreateCanary:
    values: dict[str, Any] = {
        "name": "router-v2",
        "control": "router-v1",
        "candidate": "router-v2",
        "salt": "s1",
        "min_results": 3,
        "guardrails": (c.parse_guardrail("error_rate:+2pp"),),
    }
    return build(c.CreateCanary, **{**values, **changes})


def fold(*commands: Any, state: c.CanaryState | None = None) -> c.CanaryState:
    state = state or c.CanaryState()
    for command in commands:
        for e in c.decide(command, state):
            # through the stored form, as the ledger folds it
            e = load_event(e.event_type, e.schema_version, e.to_data())
            state = c.evolve(e, state)
    return state


def results(*rows: dict[str, Any]) -> c.AddCanaryResults:
    return build(
        c.AddCanaryResults,
        canary="router-v2",
        results=tuple(c.CanaryResultFields(**r) for r in rows),
    )


def analysis(
    state: c.CanaryState, *, broken: bool = False, blocking: bool = False
) -> dict[str, Any]:
    """The parts of a status document the decision reads."""
    return {
        "canary": state.name,
        "results": {"total": state.results},
        "guardrails": [
            {"metric": "error_rate", "status": "broken" if broken else "unclear", "summary": "x"}
        ],
        "alerts": [{"message": "srm", "blocking": True}] if blocking else [],
    }


def decision(state: c.CanaryState, action: str, **options: Any) -> c.DecideCanary:
    doc = options.pop("doc", None) or analysis(
        state, broken=options.pop("broken", False), blocking=options.pop("blocking", False)
    )
    return build(
        c.DecideCanary,
        canary="router-v2",
        action=action,
        analysis=doc,
        method_version=c.METHOD_VERSION,
        position=7,
        **options,
    )


def candidates(state: c.CanaryState, n: int, stage: int | None = None) -> c.AddCanaryResults:
    return results(*({"variant": "router-v2", "stage": stage} for _ in range(n)))


class TestAssignment:
    def test_the_bucket_is_the_designs_formula(self) -> None:
        for unit in ("u1", "user-17", "ünï", "42", "x" * 300):
            expected = int(hashlib.sha256(f"salty:{unit}".encode()).hexdigest()[:8], 16) % 10000
            assert c.bucket("salty", unit) == expected

    @given(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=40))
    def test_a_unit_in_the_candidate_stays_in_it_at_every_later_stage(
        self, salt: str, unit: str
    ) -> None:
        try:
            unit.encode()
            salt.encode()
        except UnicodeEncodeError:
            return
        b = c.bucket(salt, unit)
        inside = [b < c.threshold(p) for p in (1, 5, 10, 25, 50, 99.99, 100)]
        # once in, never out: the list is some Falses then all Trues
        assert inside == sorted(inside)
        assert inside[-1] is True

    def test_stages_map_to_thresholds_of_hundredths_of_a_percent(self) -> None:
        assert [c.threshold(p) for p in (0.01, 0.5, 10, 50, 100)] == [1, 50, 1000, 5000, 10000]

    def test_halted_and_rolled_back_send_everyone_to_control_completed_to_candidate(self) -> None:
        state = fold(plan())
        assert state.threshold == 1000
        from dataclasses import replace

        assert replace(state, status="halted").threshold == 0
        assert replace(state, status="rolled_back").threshold == 0
        assert replace(state, status="completed").threshold == 10000

    @pytest.mark.parametrize("bad", ["", 1.5, True, None, b"u1", "\ud83d"])
    def test_a_unit_id_must_be_text_or_a_whole_number(self, bad: Any) -> None:
        with pytest.raises(InvalidCommand):
            c.unit_text(bad)
        assert c.unit_text(17) == "17"


class TestPlans:
    def test_a_plan_records_its_salt_stages_guardrails_and_tuning(self) -> None:
        (created,) = c.decide(plan(), c.CanaryState())
        data = created.to_data()
        assert data["stages"] == [10, 50, 100]
        assert data["guardrails"] == [{"metric": "error_rate", "limit": 0.02, "relative": False}]
        assert data["salt"] == "s1"
        assert data["expected_results"] == c.default_expected_results((10, 50, 100), 3) == 39

    def test_without_guardrails_the_primary_metric_may_not_get_worse(self) -> None:
        (created,) = c.decide(plan(guardrails=(), metric="success"), c.CanaryState())
        assert [c.guardrail_text(g) for g in created.guardrails] == ["success:+0pp"]

    @pytest.mark.parametrize(
        ("stages", "message"),
        [
            ((50, 10, 100), "stages must increase: 10% comes after 50%"),
            ((10, 10), "stages must increase"),
            ((0, 50), "outside (0, 100]"),
            ((10, 150), "stage 150% is outside (0, 100]"),
            ((-5,), "outside (0, 100]"),
            ((12.345,), "finer than a bucket"),
            ((), "at least one stage"),
        ],
    )
    def test_stages_must_increase_inside_0_to_100(
        self, stages: tuple[float, ...], message: str
    ) -> None:
        with pytest.raises(ValueError) as e:
            c.check_stages(stages)
        assert message in str(e.value)

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            (
                "eror_rate:+2pp",
                "guardrail metric 'eror_rate' is unknown (did you mean error_rate?)",
            ),
            ("latency_p95:+10%", "'latency_p95' is unknown"),
            ("completion_time:+2pp", "percentage points are for rates and shares"),
            ("error_rate<2", "is not valid; write METRIC:+N"),
        ],
    )
    def test_a_guardrail_on_an_unknown_metric_or_in_the_wrong_units_is_refused(
        self, text: str, message: str
    ) -> None:
        with pytest.raises(InvalidCommand) as e:
            c.parse_guardrail(text)
        assert message in str(e.value)

    def test_guardrails_read_in_points_percent_and_units(self) -> None:
        assert c.parse_guardrail("error_rate:+2pp").limit == pytest.approx(0.02)
        g = c.parse_guardrail("completion_time:+10%")
        assert (g.limit, g.relative) == (pytest.approx(0.1), True)
        assert c.guardrail_text(c.parse_guardrail("cost:+0.02")) == "cost:+0.02"

    def test_the_candidate_may_not_be_the_control(self) -> None:
        with pytest.raises(InvalidCommand, match="the candidate is the control"):
            plan(candidate="router-v1")

    def test_a_second_plan_of_the_same_name_is_refused(self) -> None:
        with pytest.raises(AlreadyExists):
            fold(plan(), plan())

    def test_an_unknown_primary_metric_is_refused(self) -> None:
        with pytest.raises(InvalidCommand, match="metric 'sucess' is unknown"):
            plan(metric="sucess")


class TestResults:
    def test_results_carry_the_current_stage_by_default_and_count_per_arm(self) -> None:
        state = fold(plan(), results({"variant": "router-v1"}, {"variant": "router-v2"}))
        assert state.counts == ((1, 1), (0, 0), (0, 0)) and state.results == 2

    def test_a_variant_outside_the_canary_is_refused(self) -> None:
        with pytest.raises(InvalidCommand, match="variant 'router-v3' is not in canary"):
            fold(plan(), results({"variant": "router-v3"}))

    def test_a_stage_not_reached_yet_is_refused(self) -> None:
        with pytest.raises(InvalidCommand, match="has not reached stage 2"):
            fold(plan(), results({"variant": "router-v2", "stage": 2}))

    def test_no_unit_gets_the_control_at_100_percent(self) -> None:
        state = fold(plan(stages=(100,)))
        with pytest.raises(InvalidCommand, match="no unit gets the control"):
            fold(results({"variant": "router-v1"}), state=state)

    def test_a_unit_id_must_match_its_assignment_at_the_stage(self) -> None:
        state = fold(plan())
        unit = next(f"u{i}" for i in range(1000) if c.bucket("s1", f"u{i}") >= 1000)
        with pytest.raises(InvalidCommand, match=f"unit '{unit}' is assigned router-v1"):
            fold(results({"variant": "router-v2", "unit_id": unit}), state=state)
        fold(results({"variant": "router-v1", "unit_id": unit}), state=state)

    def test_a_stopped_canary_takes_results_only_with_the_stage_they_ran_under(self) -> None:
        state = fold(plan())
        state = fold(decision(state, "halt"), state=state)
        with pytest.raises(StateConflict, match="give the stage its session started under"):
            fold(results({"variant": "router-v1"}), state=state)
        assert fold(results({"variant": "router-v1", "stage": 1}), state=state).results == 1

    def test_results_of_an_unknown_canary_are_refused(self) -> None:
        with pytest.raises(NotFound, match="no canary named 'router-v2'"):
            fold(results({"variant": "router-v1"}))


class TestTheStageRule:
    def test_advance_needs_the_minimum_of_candidate_results(self) -> None:
        state = fold(plan(), candidates(c.CanaryState(), 2))
        with pytest.raises(StateConflict, match="has 2 of the 3 candidate results"):
            fold(decision(state, "advance"), state=state)
        state = fold(candidates(state, 1), state=state)
        assert fold(decision(state, "advance"), state=state).stage == 2

    def test_a_breached_guardrail_refuses_advancing_and_says_how_to_halt(self) -> None:
        state = fold(plan(), candidates(c.CanaryState(), 3))
        with pytest.raises(StateConflict, match="guardrail error_rate of 'router-v2' is breached"):
            fold(decision(state, "advance", broken=True), state=state)

    def test_a_blocking_alert_refuses_advancing(self) -> None:
        state = fold(plan(), candidates(c.CanaryState(), 3))
        with pytest.raises(StateConflict, match="a data-quality alert blocks"):
            fold(decision(state, "advance", blocking=True), state=state)

    def test_force_overrides_the_rule_and_records_what_it_overrode(self) -> None:
        state = fold(plan())
        (event,) = c.decide(decision(state, "advance", force=True), state)
        assert isinstance(event, c.CanaryAdvanced)
        assert event.forced and "has 0 of the 3 candidate results" in (event.overrode or "")

    def test_to_must_be_the_next_stage(self) -> None:
        state = fold(plan(), candidates(c.CanaryState(), 3))
        with pytest.raises(InvalidCommand, match="its next stage is 50%, not 100%"):
            fold(decision(state, "advance", to=100), state=state)
        assert fold(decision(state, "advance", to=50), state=state).stage == 2

    def test_a_halted_or_completed_canary_cannot_advance(self) -> None:
        state = fold(plan())
        halted = fold(decision(state, "halt"), state=state)
        with pytest.raises(StateConflict, match="is halted; it cannot advance"):
            fold(decision(halted, "advance", force=True), state=halted)
        done = fold(plan(stages=(100,)), candidates(c.CanaryState(), 3))
        done = fold(decision(done, "complete"), state=done)
        with pytest.raises(StateConflict, match="is completed; it cannot advance"):
            fold(decision(done, "advance"), state=done)
        with pytest.raises(StateConflict, match="is completed; it cannot be rolled back"):
            fold(decision(done, "rollback"), state=done)

    def test_the_last_stage_is_completed_not_advanced(self) -> None:
        state = fold(plan(stages=(10, 100)), candidates(c.CanaryState(), 3))
        with pytest.raises(StateConflict, match="not its last stage"):
            fold(decision(state, "complete"), state=state)
        state = fold(decision(state, "advance"), candidates(state, 3, stage=2), state=state)
        with pytest.raises(StateConflict, match="at its last stage"):
            fold(decision(state, "advance"), state=state)
        assert fold(decision(state, "complete"), state=state).threshold == 10000

    def test_an_automatic_halt_needs_a_breach_a_halt_by_hand_does_not(self) -> None:
        state = fold(plan())
        with pytest.raises(InvalidCommand, match="halts a canary only on evidence"):
            fold(decision(state, "halt", automatic=True), state=state)
        (event,) = c.decide(decision(state, "halt", automatic=True, broken=True), state)
        assert isinstance(event, c.CanaryHalted) and event.breached == ("error_rate",)
        (event,) = c.decide(decision(state, "halt", note="pager"), state)
        assert isinstance(event, c.CanaryHalted) and not event.automatic and event.note == "pager"

    def test_a_result_recorded_after_the_analysis_makes_the_decision_stale(self) -> None:
        state = fold(plan())
        doc = analysis(state)
        later = fold(candidates(state, 1), state=state)
        with pytest.raises(StateConflict, match="1 more results were recorded"):
            fold(decision(later, "halt", doc=doc), state=later)

    def test_rollback_from_running_or_halted(self) -> None:
        state = fold(plan())
        assert fold(decision(state, "rollback"), state=state).status == "rolled_back"
        halted = fold(decision(state, "halt"), state=state)
        rolled = fold(decision(halted, "rollback"), state=halted)
        assert (rolled.status, rolled.threshold) == ("rolled_back", 0)

    @settings(max_examples=30)
    @given(st.lists(st.sampled_from(["c", "t", "advance", "halt"]), max_size=25))
    def test_the_snapshot_of_a_state_restores_the_same_state(self, steps: list[str]) -> None:
        state = fold(plan())
        for s in steps:
            try:
                if s in ("c", "t"):
                    state = fold(
                        results({"variant": "router-v1" if s == "c" else "router-v2", "stage": 1}),
                        state=state,
                    )
                else:
                    state = fold(decision(state, s), state=state)
            except (StateConflict, InvalidCommand):
                continue
        agg = c.CANARIES
        assert agg.restore(agg.snapshot(state)) == state
