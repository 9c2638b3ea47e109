"""Eval suites and runs in the domain: events, decisions, resume bookkeeping, costs, ids."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trialbook.domain.commands import build
from trialbook.domain.errors import InvalidCommand, NotFound, StateConflict
from trialbook.domain.evals import (
    EVAL_RUNS,
    SUITES,
    CompletedRollout,
    EvalRunState,
    FailedRollout,
    FinishRun,
    InterruptRun,
    Price,
    RecordRollouts,
    RegisterSuite,
    ResumeRun,
    RolloutCompleted,
    RolloutFailed,
    RunFinished,
    RunInterrupted,
    RunResumed,
    RunSettings,
    RunStarted,
    StartRun,
    SuiteRegistered,
    SuiteState,
    event_id_for,
    find_secrets,
    inline_or_blob,
    parse_price,
    pending_rollouts,
    plan_run,
    price_for,
    rollout_cost,
    rollout_event_id,
    rollout_seed,
    run_stream,
    suite_stream,
)
from trialbook.domain.events import load_event
from trialbook.domain.suites import Case, suite_hash

CASES = (Case(id="a", input="x"), Case(id="b", input="y"), Case(id="c", input="z"))


def handle(aggregate, state, command):
    events = list(aggregate.decide(state, command))
    for e in events:
        state = aggregate.evolve(state, e)
    return state, events


def registered(cases=CASES, name="qa") -> SuiteState:
    state, _ = handle(SUITES, SUITES.initial(), RegisterSuite(name=name, cases=cases))
    return state


def started(epochs=2, **settings_kw) -> EvalRunState:
    cmd = plan_run(
        registered(),
        run_id="r1",
        target={"kind": "http", "url": "http://x"},
        trialbook_version="0.1.0",
        settings=RunSettings(epochs=epochs, **settings_kw),
    )
    state, _ = handle(EVAL_RUNS, EVAL_RUNS.initial(), cmd)
    return state


def ok(case_id, epoch=1, attempt=1, **kw) -> CompletedRollout:
    return CompletedRollout(
        case_id=case_id, epoch=epoch, attempt=attempt, output="out", latency_s=0.1, **kw
    )


def bad(case_id, epoch=1, attempt=1) -> FailedRollout:
    return FailedRollout(
        case_id=case_id, epoch=epoch, attempt=attempt, error="HTTP 500", error_kind="http_status"
    )


def record(state, *rollouts):
    return handle(EVAL_RUNS, state, RecordRollouts(run_id="r1", rollouts=rollouts))


class TestSuites:
    def test_first_registration_is_version_1_with_the_content_hash(self):
        _, events = handle(
            SUITES, SUITES.initial(), RegisterSuite(name="qa", cases=CASES, source="qa.jsonl")
        )
        (e,) = events
        assert isinstance(e, SuiteRegistered)
        assert (e.name, e.version, e.hash, e.source) == ("qa", 1, suite_hash(CASES), "qa.jsonl")
        assert RegisterSuite(name="qa", cases=CASES).stream_id() == suite_stream("qa") == "suite:qa"

    def test_registering_identical_content_again_is_a_noop(self):
        state = registered()
        state, events = handle(
            SUITES, state, RegisterSuite(name="qa", cases=CASES, source="other.yaml")
        )
        assert events == []
        assert len(state.versions) == 1

    def test_changed_content_is_the_next_version_and_old_versions_stay(self):
        state = registered()
        changed = (*CASES[:2], Case(id="c", input="changed"))
        state, (e,) = handle(SUITES, state, RegisterSuite(name="qa", cases=changed))
        assert e.version == 2
        state, (e3,) = handle(
            SUITES, state, RegisterSuite(name="qa", cases=CASES)
        )  # back to v1 content
        assert e3.version == 3 and e3.hash == state.version(1).hash
        assert state.version(2).cases == changed
        assert state.latest.version == 3

    def test_invalid_names_and_empty_or_duplicate_cases_are_refused(self):
        with pytest.raises(InvalidCommand, match="suite name 'Bad Name' is not valid"):
            build(RegisterSuite, name="Bad Name", cases=CASES)
        with pytest.raises(InvalidCommand, match="at least one case"):
            build(RegisterSuite, name="qa", cases=())
        with pytest.raises(InvalidCommand, match="case id 'a' is used twice"):
            build(RegisterSuite, name="qa", cases=(CASES[0], CASES[0]))

    def test_unknown_suite_and_version_name_the_fix(self):
        with pytest.raises(NotFound, match="eval suite add FILE --name nope"):
            SuiteState(name="nope").version()
        with pytest.raises(NotFound, match="has no version 4; it has versions 1 to 1"):
            registered().version(4)

    def test_snapshot_restore_round_trip(self):
        state = registered()
        assert SUITES.restore(SUITES.snapshot(state)) == state

    def test_the_event_round_trips_through_stored_data_keeping_its_hash(self):
        _, (e,) = handle(SUITES, SUITES.initial(), RegisterSuite(name="qa", cases=CASES))
        loaded = load_event("SuiteRegistered", 1, e.to_data())
        assert loaded == e and suite_hash(loaded.cases) == e.hash


class TestStartingRuns:
    def test_plan_run_records_the_suite_version_hash_and_case_ids(self):
        cmd = plan_run(
            registered(),
            run_id="r1",
            target={"kind": "http"},
            trialbook_version="0.1.0",
            name="base",
        )
        _, (e,) = handle(EVAL_RUNS, EVAL_RUNS.initial(), cmd)
        assert isinstance(e, RunStarted)
        assert (e.suite, e.suite_version, e.case_ids, e.name) == ("qa", 1, ("a", "b", "c"), "base")
        assert e.suite_hash == suite_hash(CASES)
        assert cmd.stream_id() == run_stream("r1") == "eval-run:r1"

    def test_a_second_start_of_the_same_run_is_refused(self):
        cmd = plan_run(registered(), run_id="r1", target={}, trialbook_version="0.1.0")
        state, _ = handle(EVAL_RUNS, EVAL_RUNS.initial(), cmd)
        with pytest.raises(StateConflict, match="eval resume r1"):
            EVAL_RUNS.decide(state, cmd)

    @pytest.mark.parametrize(
        "target",
        [
            {"kind": "http", "headers": {"Authorization": "Bearer sk-123"}},
            {"kind": "openai", "api_key": "sk-123"},
            {"kind": "command", "env": {"GITHUB_TOKEN": "ghp_x"}},
        ],
    )
    def test_secrets_in_the_target_description_are_refused(self, target):
        with pytest.raises(InvalidCommand, match="holds a secret"):
            build(
                StartRun,
                run_id="r1",
                suite="qa",
                suite_version=1,
                suite_hash="h",
                case_ids=("a",),
                target=target,
                trialbook_version="0.1.0",
            )

    def test_names_of_secrets_and_redacted_values_are_fine(self):
        assert (
            find_secrets(
                {
                    "api_key_env": "OPENAI_API_KEY",
                    "max_tokens": 10,
                    "headers": {"Authorization": "<redacted>", "X-Team": "a"},
                }
            )
            == []
        )


class TestRecordingRollouts:
    def test_rollouts_become_events_and_update_the_state(self):
        state, events = record(started(), ok("a", cost_usd=0.5), bad("b"))
        assert [type(e) for e in events] == [RolloutCompleted, RolloutFailed]
        assert (state.completed, state.failed, state.pending, state.cost_usd) == (1, 1, 4, 0.5)

    def test_unknown_cases_and_epochs_are_refused(self):
        with pytest.raises(InvalidCommand, match="case 'zz' is not in run 'r1'"):
            record(started(), ok("zz"))
        with pytest.raises(InvalidCommand, match="epoch 3 is beyond the run's 2 epoch"):
            record(started(), ok("a", epoch=3))

    def test_a_replayed_batch_records_nothing(self):
        state, first = record(started(), ok("a"), bad("b"))
        state, again = record(state, ok("a"), bad("b"))
        assert len(first) == 2 and again == []

    def test_a_completed_pair_is_never_completed_twice(self):
        state, _ = record(started(), ok("a"))
        state, events = record(state, ok("a", attempt=2), bad("a", attempt=3))
        assert events == []
        state, events = record(state, ok("b"), ok("b", attempt=2))
        assert len(events) == 1

    def test_recording_into_a_finished_run_is_refused(self):
        state = started(epochs=1)
        state, _ = record(state, ok("a"), ok("b"), ok("c"))
        state, _ = handle(EVAL_RUNS, state, FinishRun(run_id="r1"))
        with pytest.raises(StateConflict, match="retry-failed r1"):
            record(state, ok("a", attempt=2))

    def test_an_unknown_run_is_not_found(self):
        with pytest.raises(NotFound, match="no eval run 'r1'; see `trialbook eval list`"):
            EVAL_RUNS.decide(EVAL_RUNS.initial(), RecordRollouts(run_id="r1", rollouts=(ok("a"),)))


class TestPendingAndResume:
    def test_resume_runs_every_pair_without_a_completed_rollout(self):
        state, _ = record(started(epochs=2), ok("a"), bad("b"), ok("c", epoch=2))
        pending = [(p.case_id, p.epoch, p.attempt) for p in pending_rollouts(state)]
        # never started, in flight when stopped, and failed; epoch by epoch in suite order
        assert pending == [("b", 1, 2), ("c", 1, 1), ("a", 2, 1), ("b", 2, 1)]

    def test_retry_failed_runs_only_failed_pairs_as_new_attempts(self):
        state, _ = record(started(), ok("a"), bad("b"))
        state, _ = record(state, bad("b", attempt=2))
        assert [
            (p.case_id, p.epoch, p.attempt) for p in pending_rollouts(state, only_failed=True)
        ] == [("b", 1, 3)]

    def test_a_failed_pair_that_completes_on_retry_counts_as_completed(self):
        state, _ = record(started(epochs=1), bad("a"))
        state, _ = record(state, ok("a", attempt=2))
        assert (state.completed, state.failed) == (1, 0)

    def test_finish_is_refused_while_rollouts_are_pending_and_counts_when_done(self):
        state = started(epochs=1)
        with pytest.raises(StateConflict, match="still has 3 pending rollout"):
            EVAL_RUNS.decide(state, FinishRun(run_id="r1"))
        state, _ = record(
            state, ok("a", prompt_tokens=10, completion_tokens=5, cost_usd=0.25), bad("b"), ok("c")
        )
        state, (e,) = handle(EVAL_RUNS, state, FinishRun(run_id="r1"))
        assert e == RunFinished(
            completed=2, failed=1, attempts=3, cost_usd=0.25, prompt_tokens=10, completion_tokens=5
        )
        assert state.status == "finished"
        assert handle(EVAL_RUNS, state, FinishRun(run_id="r1"))[1] == []

    def test_interrupt_and_resume_move_the_status(self):
        state, (e,) = handle(EVAL_RUNS, started(), InterruptRun(run_id="r1", reason="Ctrl-C"))
        assert isinstance(e, RunInterrupted) and state.status == "interrupted"
        assert handle(EVAL_RUNS, state, InterruptRun(run_id="r1"))[1] == []
        state, (r,) = handle(EVAL_RUNS, state, ResumeRun(run_id="r1", concurrency=4))
        assert isinstance(r, RunResumed) and state.status == "running"

    def test_retry_failed_needs_failures_and_resume_needs_an_unfinished_run(self):
        state = started(epochs=1)
        with pytest.raises(StateConflict, match="no failed rollouts to retry"):
            EVAL_RUNS.decide(state, ResumeRun(run_id="r1", mode="retry-failed"))
        state, _ = record(state, ok("a"), ok("b"), bad("c"))
        state, _ = handle(EVAL_RUNS, state, FinishRun(run_id="r1"))
        with pytest.raises(StateConflict, match="nothing is pending; re-run its failed rollouts"):
            EVAL_RUNS.decide(state, ResumeRun(run_id="r1"))
        state, _ = handle(EVAL_RUNS, state, ResumeRun(run_id="r1", mode="retry-failed"))
        assert state.status == "running"
        assert [p.case_id for p in pending_rollouts(state, only_failed=True)] == ["c"]

    def test_snapshot_restore_round_trip(self):
        state, _ = record(started(), ok("a", score=1.0), bad("b"))
        state, _ = handle(EVAL_RUNS, state, InterruptRun(run_id="r1"))
        restored = EVAL_RUNS.restore(EVAL_RUNS.snapshot(state))
        assert restored == state
        assert pending_rollouts(restored) == pending_rollouts(state)

    def test_copy_is_independent_of_the_fold(self):
        state = started()
        kept = state.copy()
        record(state, ok("a"))
        assert kept.completed == 0 and state.completed == 1


class TestIdsSeedsBlobs:
    def test_rollout_event_ids_are_deterministic_uuids_per_attempt(self):
        a = rollout_event_id("r1", "a", 1, 1)
        assert a == rollout_event_id("r1", "a", 1, 1)
        assert uuid.UUID(a).version == 5
        assert (
            len(
                {
                    a,
                    rollout_event_id("r1", "a", 1, 2),
                    rollout_event_id("r1", "a", 2, 1),
                    rollout_event_id("r2", "a", 1, 1),
                }
            )
            == 4
        )
        assert event_id_for("r1", RolloutCompleted(**ok("a").model_dump())) == a
        assert event_id_for("r1", RunInterrupted(reason="x")) is None

    def test_seeds_are_stable_per_case_and_epoch(self):
        assert rollout_seed(0, "a", 1) == rollout_seed(0, "a", 1)
        assert rollout_seed(0, "a", 1) != rollout_seed(0, "a", 2) != rollout_seed(1, "a", 2)
        assert 0 <= rollout_seed(7, "x", 3) < 2**31

    def test_large_outputs_go_to_blobs(self):
        assert inline_or_blob("small") == ("small", None, None)
        value, digest, data = inline_or_blob("x" * 100, limit=50)
        assert value is None and len(digest) == 64 and data == b'"' + b"x" * 100 + b'"'


class TestCosts:
    def test_prices_parse_and_the_wildcard_prices_other_models(self):
        model, price = parse_price("gpt-4o-mini=0.15/0.6")
        assert (model, price) == (
            "gpt-4o-mini",
            Price(input_per_million=0.15, output_per_million=0.6),
        )
        table = {model: price, "*": Price(input_per_million=1, output_per_million=2)}
        assert price_for(table, "gpt-4o-mini") == price
        assert price_for(table, "other").input_per_million == 1
        assert price_for({}, "x") is None
        with pytest.raises(InvalidCommand, match="write MODEL=INPUT/OUTPUT"):
            parse_price("gpt-4o 2.5")

    def test_cost_is_usage_times_price_unless_the_target_reported_it(self):
        table = {"m": Price(input_per_million=2.0, output_per_million=10.0)}
        assert rollout_cost(1_000_000, 500_000, "m", table) == pytest.approx(7.0)
        assert rollout_cost(1000, 1000, "m", table, reported_usd=0.5) == 0.5
        assert rollout_cost(None, None, "m", table) is None
        assert rollout_cost(10, 10, "unpriced", table) is None


finite = st.floats(min_value=0, max_value=1e6, allow_nan=False)


@settings(max_examples=50, deadline=None)
@given(
    output=st.one_of(
        st.none(),
        st.text(max_size=20),
        st.dictionaries(st.text(max_size=4), st.integers(), max_size=3),
    ),
    latency=finite,
    tokens=st.none() | st.integers(0, 10**6),
    cost=st.none() | finite,
    score=st.none() | st.floats(allow_nan=False, allow_infinity=False),
    tries=st.integers(1, 10),
)
def test_rollout_events_round_trip_through_stored_data(output, latency, tokens, cost, score, tries):
    e = RolloutCompleted(
        case_id="a",
        epoch=1,
        attempt=2,
        output=output,
        latency_s=latency,
        prompt_tokens=tokens,
        completion_tokens=tokens,
        cost_usd=cost,
        score=score,
        tries=tries,
    )
    assert load_event("RolloutCompleted", 1, e.to_data()) == e
    f = RolloutFailed(
        case_id="a", epoch=3, error="boom", error_kind="timeout", tries=tries, latency_s=latency
    )
    assert load_event("RolloutFailed", 1, f.to_data()) == f
