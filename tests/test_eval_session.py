"""Eval runs end to end through the recording seam: start, interrupt, resume exactly, retry failed."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest

from trialbook.domain.errors import NotFound, StateConflict
from trialbook.domain.evals import (
    RegisterSuite,
    RolloutCompleted,
    RolloutFailed,
    RunFinished,
    RunInterrupted,
    RunResumed,
    RunSettings,
    RunStarted,
    event_id_for,
    plan_run,
)
from trialbook.domain.suites import Case
from trialbook.runners.eval_errors import TargetUnavailable
from trialbook.runners.eval_session import (
    MemoryRecorder,
    SessionOptions,
    record_batch,
    resume_run,
    start_run,
)
from trialbook.runners.executor import make_jobs, run_rollouts
from trialbook.runners.targets import make_target

try:
    from tests.servers import Behaviour, TaskServer
except ImportError:  # tests/ is on sys.path rather than the repo root
    from servers import Behaviour, TaskServer  # type: ignore[no-redef]


@pytest.fixture(scope="module")
def server():
    with TaskServer(Behaviour(latency_s=0.02)) as s:
        yield s


@pytest.fixture(autouse=True)
def _reset(server):
    server.reset()


def suite(recorder: MemoryRecorder, cases: list[Case], name: str = "qa"):
    recorder.handle(RegisterSuite(name=name, cases=tuple(cases)))
    return recorder.suite_state(name)


def plain(n: int, **metadata) -> list[Case]:
    return [Case(id=f"c{i}", input=f"q {i}", metadata=dict(metadata)) for i in range(n)]


def rollout_events(recorder: MemoryRecorder, run_id: str):
    return [
        e
        for e in recorder.stream(f"eval-run:{run_id}")
        if isinstance(e, (RolloutCompleted, RolloutFailed))
    ]


def start(recorder, s, target, **settings):
    return asyncio.run(
        start_run(
            recorder,
            s,
            target,
            run_id="r1",
            trialbook_version="0.1.0",
            settings=RunSettings(**settings),
            git_sha="abc123",
        )
    )


def test_a_run_records_start_every_rollout_and_finish(server):
    rec = MemoryRecorder()
    s = suite(rec, plain(6))
    target = make_target(
        {"kind": "http", "url": f"{server.url}/run", "api_key_env": "K"}, env={"K": "sk-secret"}
    )
    report = start(rec, s, target, epochs=2, concurrency=4)
    events = rec.stream("eval-run:r1")
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    assert events[0].target == {
        "kind": "http",
        "url": f"{server.url}/run",
        "api_key_env": "K",
        "api_key_header": "Authorization",
    }
    assert "sk-secret" not in json.dumps([e.to_data() for e in events])
    assert (events[0].suite_version, events[0].git_sha, events[0].case_ids) == (
        1,
        "abc123",
        tuple(f"c{i}" for i in range(6)),
    )
    assert report.completed == 12
    assert Counter((e.case_id, e.epoch) for e in rollout_events(rec, "r1")) == {
        (f"c{i}", ep): 1 for i in range(6) for ep in (1, 2)
    }
    assert events[-1] == RunFinished(
        completed=12, failed=0, attempts=12, cost_usd=None, prompt_tokens=24, completion_tokens=36
    )
    assert rec.run_state("r1").status == "finished"


def test_an_unreachable_target_fails_before_the_run_is_recorded():
    rec = MemoryRecorder()
    s = suite(rec, plain(2))
    with pytest.raises(TargetUnavailable):
        start(rec, s, make_target("http://127.0.0.1:9/run"))
    assert rec.stream("eval-run:r1") == []


def test_an_interrupted_run_resumes_exactly_the_rollouts_without_an_outcome(server):
    rec = MemoryRecorder()
    # 8 answer, then 4 hang on their first request (and answer on the next), then 8 never start
    hanging = [Case(id=f"h{i}", input="x", metadata={"script": ["hang"]}) for i in range(4)]
    later = [Case(id=f"later{i}", input="y") for i in range(8)]
    s = suite(rec, [*plain(8), *hanging, *later])
    target = make_target(f"{server.url}/run")

    async def interrupted():
        task = asyncio.create_task(
            start_run(
                rec,
                s,
                target,
                run_id="r1",
                trialbook_version="0.1.0",
                settings=RunSettings(concurrency=4, timeout_s=30),
                options=SessionOptions(max_batch=1, max_delay_s=0),
            )
        )
        while server.requests < 12:  # 8 answered, 4 in flight
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(interrupted())
    state = rec.run_state("r1")
    assert state.status == "interrupted" and isinstance(
        rec.stream("eval-run:r1")[-1], RunInterrupted
    )
    assert {e.case_id for e in rollout_events(rec, "r1")} == {f"c{i}" for i in range(8)}
    assert (state.completed, state.pending) == (8, 12)
    in_flight = {k for k in server.hits if k.startswith("h")}
    assert len(in_flight) == 4 and not any(k.startswith("later") for k in server.hits)

    report = asyncio.run(resume_run(rec, s, target, run_id="r1", concurrency=8))
    assert report.completed == 12
    assert Counter(e.case_id for e in rollout_events(rec, "r1")) == {
        c.id: 1 for c in s.version().cases
    }
    assert all(server.hits[f"c{i}"] == 1 for i in range(8))  # completed: never re-run
    assert all(server.hits[k] == 2 for k in in_flight)  # in flight at the interrupt: run again
    assert all(server.hits[c.id] == 1 for c in later)
    events = rec.stream("eval-run:r1")
    assert any(isinstance(e, RunResumed) and e.concurrency == 8 for e in events)
    assert isinstance(events[-1], RunFinished)


def test_retry_failed_reruns_only_failed_rollouts_as_new_attempts(server):
    rec = MemoryRecorder()
    s = suite(rec, [*plain(3), Case(id="flaky", input="x", metadata={"script": ["400"]})])
    target = make_target(f"{server.url}/run")
    start(rec, s, target)
    state = rec.run_state("r1")
    assert (state.completed, state.failed, state.status) == (3, 1, "finished")
    with pytest.raises(StateConflict, match="nothing is pending"):
        asyncio.run(resume_run(rec, s, target, run_id="r1"))

    asyncio.run(resume_run(rec, s, target, run_id="r1", mode="retry-failed"))
    flaky = [e for e in rollout_events(rec, "r1") if e.case_id == "flaky"]
    assert [(type(e).__name__, e.attempt) for e in flaky] == [
        ("RolloutFailed", 1),
        ("RolloutCompleted", 2),
    ]
    assert event_id_for("r1", flaky[0]) != event_id_for("r1", flaky[1])
    assert server.hits["c0"] == 1 and server.hits["flaky"] == 2
    assert rec.run_state("r1").failed == 0 and rec.run_state("r1").status == "finished"


def test_the_budget_interrupts_and_a_raised_budget_resumes(server):
    rec = MemoryRecorder()
    s = suite(rec, plain(6, cost_usd=0.25))
    target = make_target(f"{server.url}/run")
    start(rec, s, target, concurrency=1, budget_usd=0.5)
    events = rec.stream("eval-run:r1")
    assert events[-1] == RunInterrupted(reason="budget of $0.5 spent")
    assert rec.run_state("r1").completed == 2
    asyncio.run(resume_run(rec, s, target, run_id="r1", budget_usd=10))
    assert rec.run_state("r1").status == "finished" and rec.run_state(
        "r1"
    ).cost_usd == pytest.approx(1.5)


def test_writing_the_same_batch_twice_is_harmless(server):
    rec = MemoryRecorder()
    s = suite(rec, plain(3))
    target = make_target(f"{server.url}/run")
    rec.handle(plan_run(s, run_id="r1", target=target.describe(), trialbook_version="0.1.0"))
    outcomes = []
    asyncio.run(
        run_rollouts(make_jobs(s.version().cases), target, run_id="r1", on_result=outcomes.append)
    )
    write = record_batch(rec, "r1")
    write(outcomes)
    count = len(rec.events)
    write(outcomes)  # e.g. a retry after a lost commit acknowledgement
    write(outcomes[:1])
    assert len(rec.events) == count
    assert rec.run_state("r1").completed == 3


def test_unknown_runs_are_not_found(server):
    rec = MemoryRecorder()
    s = suite(rec, plain(1))
    with pytest.raises(NotFound, match="no eval run 'nope'"):
        asyncio.run(resume_run(rec, s, make_target(f"{server.url}/run"), run_id="nope"))
