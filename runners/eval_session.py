"""Running an eval run end to end through a narrow recording seam.

The ledger (event store + aggregates) is reached only through :class:`Recorder`,
three synchronous methods; :class:`MemoryRecorder` implements them by folding
events in memory (tests, benchmarks, and a reference for the SQLite adapter)::

    recorder.handle(command) -> list[Event]    decide on the stream's state and append (one transaction);
                                               rollout events carry event_id_for(run_id, event)
    recorder.put_blob(content) -> str           store bytes under their sha256, return it
    recorder.run_state(run_id) -> EvalRunState  the run's folded state

Flow of :func:`start_run` / :func:`resume_run`::

    check the command ─► preflight ─► StartRun (or ResumeRun) ─► jobs = pending_rollouts(state)
      ─► run_rollouts(..., on_result=BatchWriter(write_batch)) ─► RecordRollouts per batch
      ─► FinishRun when nothing is pending, InterruptRun(reason) when stopped, cancelled or failed
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from trialbook.domain.commands import Command
from trialbook.domain.evals import (
    EVAL_RUNS,
    SUITES,
    EvalRunState,
    FinishRun,
    InterruptRun,
    RecordVerdicts,
    ResumeMode,
    ResumeRun,
    RunSettings,
    StartRun,
    SuiteState,
    budget_spent,
    event_id_for,
    pending_rollouts,
    plan_run,
)
from trialbook.domain.events import Event
from trialbook.domain.suites import Case
from trialbook.domain.verdicts import Verdict
from trialbook.runners.cache import ResponseCache
from trialbook.runners.eval_scoring import RunScorers, scoring_context, verdict_events
from trialbook.runners.executor import (
    BatchWriter,
    Progress,
    RolloutOutcome,
    RunReport,
    jobs_for_pending,
    run_rollouts,
    to_record_command,
)
from trialbook.runners.scorers import score_rollout
from trialbook.runners.targets import Target


class Recorder(Protocol):
    """What an eval run needs from the ledger."""

    def handle(self, command: Command) -> Sequence[Event]: ...
    def put_blob(self, content: bytes) -> str: ...
    def run_state(self, run_id: str) -> EvalRunState: ...


@dataclass
class StoredEvent:
    stream_id: str
    event_id: str | None
    event: Event


@dataclass
class MemoryRecorder:
    """An in-memory :class:`Recorder`: aggregates folded in memory, events kept in a list.

    Mirrors the event store's idempotency: an event whose id is already stored is
    skipped when its content is equal and refused when it differs.
    """

    events: list[StoredEvent] = field(default_factory=list)
    blobs: dict[str, bytes] = field(default_factory=dict)
    _ids: dict[str, Event] = field(default_factory=dict)
    _runs: dict[str, EvalRunState] = field(default_factory=dict)
    _suites: dict[str, SuiteState] = field(default_factory=dict)

    def handle(self, command: Command) -> list[Event]:
        stream = command.stream_id()
        if stream.startswith("suite:"):
            suite = self._suites.get(stream, SUITES.initial())
            events = list(SUITES.decide(suite, command))
            for e in events:
                suite = SUITES.evolve(suite, e)
                self.events.append(StoredEvent(stream, None, e))
            self._suites[stream] = suite
            return events
        run_id = stream.removeprefix("eval-run:")
        state = self._runs.get(run_id) or EVAL_RUNS.initial()
        events = list(EVAL_RUNS.decide(state, command))
        fresh = []
        for e in events:
            eid = event_id_for(run_id, e)
            if eid is not None and eid in self._ids:
                if self._ids[eid] != e:
                    raise ValueError(f"event id {eid} is already recorded with different content")
                continue
            fresh.append((eid, e))
        for eid, e in fresh:
            state = EVAL_RUNS.evolve(state, e)
            self.events.append(StoredEvent(stream, eid, e))
            if eid is not None:
                self._ids[eid] = e
        self._runs[run_id] = state
        return [e for _, e in fresh]

    def put_blob(self, content: bytes) -> str:
        digest = hashlib.sha256(content).hexdigest()
        self.blobs[digest] = content
        return digest

    def run_state(self, run_id: str) -> EvalRunState:
        return self._runs.get(run_id) or EVAL_RUNS.initial()

    def suite_state(self, name: str) -> SuiteState:
        return self._suites.get(f"suite:{name}", SuiteState(name=name))

    def stream(self, stream_id: str) -> list[Event]:
        return [s.event for s in self.events if s.stream_id == stream_id]


def record_batch(
    recorder: Recorder,
    run_id: str,
    verdicts: dict[tuple[str, int, int], list[Verdict]] | None = None,
) -> Callable[[list[RolloutOutcome]], None]:
    """The ``write_batch`` for a :class:`BatchWriter`: blobs first, then one RecordRollouts command.

    With ``verdicts`` (keyed by case, epoch, attempt), the batch's verdicts follow
    as one RecordVerdicts command, in the same transaction when the recorder has
    ``handle_many``.
    """

    def write_batch(batch: list[RolloutOutcome]) -> None:
        command, blobs = to_record_command(run_id, batch)
        for content in blobs.values():
            recorder.put_blob(content)
        commands: list[Command] = [command]
        if verdicts is not None:
            events = []
            for o in batch:
                found = verdicts.pop((o.case_id, o.job.epoch, o.job.attempt), None)
                if found:
                    events.extend(
                        verdict_events(recorder.put_blob, run_id, o.case_id, o.job.epoch, found)
                    )
            if events:
                commands.append(
                    RecordVerdicts(run_id=run_id, session="run", verdicts=tuple(events))
                )
        many = getattr(recorder, "handle_many", None)
        if many is not None:
            many(commands)
        else:
            for c in commands:
                recorder.handle(c)

    return write_batch


class _ScoringSink:
    """``on_result`` that scores each completed rollout before handing it to the writer.

    Scoring runs in its own task, so a slow judge never holds a target slot; a
    rollout is written only together with its verdicts (cancelled scoring leaves
    the rollout pending, and resume runs it again).
    """

    def __init__(
        self,
        writer: BatchWriter,
        scoring: RunScorers,
        run_id: str,
        verdicts: dict[tuple[str, int, int], list[Verdict]],
        system_prompt: str | None,
    ) -> None:
        self.writer = writer
        self.scoring = scoring
        self.run_id = run_id
        self.verdicts = verdicts
        self.system_prompt = system_prompt
        self.tasks: set[asyncio.Task[None]] = set()
        self.error: BaseException | None = None

    def __call__(self, outcome: RolloutOutcome) -> None:
        if self.error is not None:
            raise self.error
        if outcome.reply is None:
            self.writer(outcome)
            return
        task = asyncio.create_task(self._score(outcome))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _score(self, outcome: RolloutOutcome) -> None:
        job = outcome.job
        assert outcome.reply is not None
        try:
            found = await score_rollout(
                self.scoring.for_case(job.case.id),
                job.case.model_dump(mode="json"),
                outcome.reply.output,
                scoring_context(self.run_id, job.case, job.epoch, self.system_prompt),
            )
            self.verdicts[(job.case.id, job.epoch, job.attempt)] = found
            self.writer(outcome)
        except Exception as e:
            self.error = e

    async def drain(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
        if self.error is not None:
            raise self.error

    def cancel(self) -> None:
        for task in self.tasks:
            task.cancel()


@dataclass
class SessionOptions:
    """Knobs of one execution that are not recorded as run settings."""

    on_progress: Callable[[Progress], None] | None = None
    progress_interval: float = 0.25
    should_stop: Callable[[], bool] | None = None
    max_batch: int = 256
    max_delay_s: float = 0.2
    preflight: bool = True
    #: scorers run on each completed rollout (verdicts recorded with it)
    scorers: RunScorers | None = None
    #: the response cache (``--cache``); None: every rollout calls the target
    cache: ResponseCache | None = None


async def start_run(
    recorder: Recorder,
    suite: SuiteState,
    target: Target,
    *,
    run_id: str,
    trialbook_version: str,
    settings: RunSettings | None = None,
    version: int | None = None,
    name: str | None = None,
    git_sha: str | None = None,
    options: SessionOptions | None = None,
) -> RunReport:
    """Preflight the target, record ``RunStarted`` and run every rollout of ``suite``."""
    options = options or SessionOptions()
    command: StartRun = plan_run(
        suite,
        run_id=run_id,
        target=target.describe(),
        trialbook_version=trialbook_version,
        version=version,
        settings=settings,
        name=name,
        git_sha=git_sha,
        scorers=options.scorers.describe() if options.scorers else (),
    )
    EVAL_RUNS.decide(recorder.run_state(run_id), command)  # refuse before touching the network
    if options.preflight:
        await target.preflight()
    recorder.handle(command)
    return await _execute(
        recorder, run_id, suite.version(command.suite_version).cases, target, options
    )


async def resume_run(
    recorder: Recorder,
    suite: SuiteState,
    target: Target,
    *,
    run_id: str,
    mode: ResumeMode = "resume",
    concurrency: int | None = None,
    budget_usd: float | None = None,
    trialbook_version: str | None = None,
    git_sha: str | None = None,
    options: SessionOptions | None = None,
) -> RunReport:
    """Record ``RunResumed`` and run the pending (or, for ``retry-failed``, the failed) rollouts.

    ``concurrency`` overrides the run's setting for this session; ``budget_usd``
    replaces the run's total budget from now on (recorded in the event).
    """
    options = options or SessionOptions()
    command = ResumeRun(
        run_id=run_id,
        mode=mode,
        concurrency=concurrency,
        budget_usd=budget_usd,
        trialbook_version=trialbook_version,
        git_sha=git_sha,
    )
    EVAL_RUNS.decide(recorder.run_state(run_id), command)  # refuse before touching the network
    if options.preflight:
        await target.preflight()
    recorder.handle(command)
    state = recorder.run_state(run_id)
    cases = suite.version(state.suite_version).cases
    return await _execute(
        recorder,
        run_id,
        cases,
        target,
        options,
        only_failed=mode == "retry-failed",
        concurrency=concurrency,
    )


async def _execute(
    recorder: Recorder,
    run_id: str,
    cases: Sequence[Case],
    target: Target,
    options: SessionOptions,
    *,
    only_failed: bool = False,
    concurrency: int | None = None,
) -> RunReport:
    state = recorder.run_state(run_id)
    s = state.settings
    jobs = jobs_for_pending(
        cases, pending_rollouts(state, only_failed=only_failed), base_seed=s.seed
    )
    scoring = options.scorers if options.scorers else None
    verdicts: dict[tuple[str, int, int], list[Verdict]] | None = {} if scoring is not None else None
    try:
        async with BatchWriter(
            record_batch(recorder, run_id, verdicts),
            max_batch=options.max_batch,
            max_delay_s=options.max_delay_s,
        ) as writer:
            sink: _ScoringSink | None = None
            if scoring is not None and verdicts is not None:
                sink = _ScoringSink(
                    writer, scoring, run_id, verdicts, target.describe().get("system_prompt")
                )
            try:
                report = await run_rollouts(
                    jobs,
                    target,
                    run_id=run_id,
                    on_result=sink or writer,
                    concurrency=concurrency or s.concurrency,
                    timeout=s.timeout_s,
                    retries=s.retries,
                    should_stop=options.should_stop,
                    budget_usd=_remaining_budget(state),
                    prices=s.prices,
                    policy=s.policy,
                    on_progress=options.on_progress,
                    progress_interval=options.progress_interval,
                    cache=options.cache,
                )
                if sink is not None:
                    await sink.drain()
            finally:
                if sink is not None:
                    sink.cancel()
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):  # the original cancellation matters more
            _interrupt(recorder, run_id, "interrupted (cancelled or Ctrl-C)")
        raise
    except Exception as e:
        with contextlib.suppress(Exception):
            _interrupt(recorder, run_id, f"stopped by an error: {e}"[:500])
        raise
    state = recorder.run_state(run_id)
    if state.pending == 0:
        recorder.handle(FinishRun(run_id=run_id))
    else:
        _interrupt(recorder, run_id, _stop_reason(report, s.budget_usd, only_failed=only_failed))
    return report


def _stop_reason(report: RunReport, budget_usd: float | None, *, only_failed: bool) -> str:
    """Why a session ended with rollouts still pending (recorded in ``RunInterrupted``)."""
    if report.stopped == "budget":
        return "budget spent" if budget_usd is None else f"budget of ${budget_usd:g} spent"
    if report.stopped == "stopped":
        return "stopped"
    if only_failed:
        return "failed rollouts retried; rollouts never run are still pending"
    return "interrupted"


def _remaining_budget(state: EvalRunState) -> float | None:
    budget = state.settings.budget_usd
    if budget is None:
        return None
    spent = state.cost_usd or 0.0
    return 0.0 if budget_spent(spent, budget) else budget - spent


def _interrupt(recorder: Recorder, run_id: str, reason: str) -> None:
    state = recorder.run_state(run_id)
    if state.exists and state.status == "running":
        recorder.handle(InterruptRun(run_id=run_id, reason=reason))


__all__ = [
    "MemoryRecorder",
    "Recorder",
    "SessionOptions",
    "record_batch",
    "resume_run",
    "start_run",
]
