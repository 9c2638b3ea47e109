"""The rollout executor: send jobs to a target with bounded concurrency, retries and timeouts.

Data flow::

    jobs ──► K workers ──► target.call() ──► RolloutOutcome ──► on_result(outcome)
                 │   timeout per try, retries with backoff          │
                 │   (timeouts, connection errors, 429, 5xx,        ▼
                 │    honouring Retry-After)                 BatchWriter (optional)
                 └── stop: should_stop(), budget spent,          │ every max_batch outcomes
                     task cancelled (Ctrl-C)                     │ or max_delay_s
                                                                 ▼
                                                   write_batch(list[RolloutOutcome])
                                                   (a worker thread; e.g. the SQLite ledger)

- Concurrency: ``concurrency`` worker tasks pull from one job iterator, so at most
  that many rollouts are in flight (a rollout waiting out a backoff keeps its slot).
- Latency: each target measures its own try from request sent to response received;
  queue wait and backoff are never included. A successful outcome carries the
  latency of the try that succeeded.
- Errors: a try that fails with a retryable error (timeout, connection, HTTP
  408/429/5xx) is retried up to ``retries`` times after
  ``Backoff.delay`` (``Retry-After`` honoured, capped at 120 s); anything else,
  or the last retryable failure, becomes a failed outcome naming the problem,
  and the run goes on.
- Stopping: before each new rollout the executor checks ``should_stop()`` and the
  budget; started rollouts finish (their cost is already spent). Cancelling the
  task (Ctrl-C under ``asyncio.run``) cancels in-flight rollouts at once: they
  produce no outcome, so they stay pending and ``resume`` runs them again.
- Cache (optional, :mod:`trialbook.runners.cache`): a stored answer to the same
  request is used instead of a call, marked ``cached``; successful calls are stored.
- ``on_result`` is called once per finished rollout, in completion order, on the
  event loop; it may return an awaitable. If it raises, the run stops and the
  error propagates (results that cannot be recorded must not be produced).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import random
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from trialbook.domain.evals import (
    INLINE_OUTPUT_LIMIT,
    CompletedRollout,
    FailedRollout,
    PendingRollout,
    PriceTable,
    RecordRollouts,
    blob_of,
    budget_spent,
    inline_or_blob,
    rollout_cost,
    rollout_seed,
)
from trialbook.domain.suites import Case
from trialbook.domain.units import format_cost
from trialbook.runners.cache import ResponseCache, cache_key
from trialbook.runners.eval_errors import (
    EvalRunnerError,
    RetryableError,
    RolloutError,
    RolloutRefused,
)
from trialbook.runners.http_client import Backoff
from trialbook.runners.targets import RolloutRequest, Target, TargetReply

__all__ = [
    "Backoff",
    "BatchWriter",
    "Progress",
    "RolloutJob",
    "RolloutOutcome",
    "RunReport",
    "WRITER_SWITCH_INTERVAL",
    "WriterFailed",
    "WriterStats",
    "all_cached",
    "job_seed",
    "jobs_for_pending",
    "make_jobs",
    "run_one",
    "run_rollouts",
    "to_record_command",
]

StopReason = Literal["budget", "stopped"]
#: how long a rollout waits before its next try (a frozen value, shared by default)
DEFAULT_BACKOFF = Backoff()


@dataclass(frozen=True)
class RolloutJob:
    """One (case, epoch) pair to run, with the attempt number its outcome will carry."""

    case: Case
    epoch: int = 1
    attempt: int = 1
    seed: int = 0


def job_seed(case: Case, epoch: int, base_seed: int = 0) -> int:
    """The seed a rollout sends: the case's own ``seed`` exactly (every epoch), else one derived
    from the run's base seed, case id and epoch (:func:`domain.evals.rollout_seed`)."""
    return case.seed if case.seed is not None else rollout_seed(base_seed, case.id, epoch)


def make_jobs(cases: Sequence[Case], *, epochs: int = 1, base_seed: int = 0) -> list[RolloutJob]:
    """Every (case, epoch) of a fresh run, epoch by epoch in suite order, attempt 1."""
    return [
        RolloutJob(case, epoch, 1, job_seed(case, epoch, base_seed))
        for epoch in range(1, epochs + 1)
        for case in cases
    ]


def jobs_for_pending(
    cases: Sequence[Case], pending: Iterable[PendingRollout], *, base_seed: int = 0
) -> list[RolloutJob]:
    """Jobs for :func:`domain.evals.pending_rollouts` (resume / retry-failed), same seeds as the first run."""
    by_id = {c.id: c for c in cases}
    return [
        RolloutJob(
            by_id[p.case_id], p.epoch, p.attempt, job_seed(by_id[p.case_id], p.epoch, base_seed)
        )
        for p in pending
    ]


@dataclass
class RolloutOutcome:
    """The result of one rollout job: a reply, or the error of its last try."""

    job: RolloutJob
    reply: TargetReply | None = None
    error: str | None = None
    error_kind: str | None = None
    status_code: int | None = None
    tries: int = 1
    #: latency of the last try (the successful one when ``ok``); None if no response came back
    latency_s: float | None = None
    cost_usd: float | None = None
    #: ``time.perf_counter()`` when the first try was sent and when the outcome was known
    started_at: float = 0.0
    finished_at: float = 0.0

    @property
    def ok(self) -> bool:
        return self.reply is not None

    @property
    def case_id(self) -> str:
        return self.job.case.id

    def to_rollout(
        self, *, inline_limit: int = INLINE_OUTPUT_LIMIT
    ) -> tuple[CompletedRollout | FailedRollout, dict[str, bytes]]:
        """The domain value to record, and the blobs (hash → bytes) it references.

        Outputs larger than ``inline_limit`` bytes of canonical JSON and all traces
        go to blobs; store them (``put_blob``) before or with the events.
        """
        job = self.job
        if self.reply is None:
            return FailedRollout(
                case_id=job.case.id,
                epoch=job.epoch,
                attempt=job.attempt,
                error=self.error or "failed",
                error_kind=self.error_kind or "target_error",  # type: ignore[arg-type]
                tries=self.tries,
                latency_s=self.latency_s,
                status_code=self.status_code,
            ), {}
        r = self.reply
        blobs: dict[str, bytes] = {}
        output, output_blob, data = inline_or_blob(r.output, inline_limit)
        if output_blob is not None and data is not None:
            blobs[output_blob] = data
        trace_blob = None
        if r.trace is not None:
            trace_blob, trace_data = blob_of(r.trace)
            blobs[trace_blob] = trace_data
        return CompletedRollout(
            case_id=job.case.id,
            epoch=job.epoch,
            attempt=job.attempt,
            output=output,
            output_blob=output_blob,
            latency_s=r.latency_s,
            prompt_tokens=r.prompt_tokens,
            completion_tokens=r.completion_tokens,
            cost_usd=self.cost_usd,
            score=r.score,
            reward=r.reward,
            trace_blob=trace_blob,
            model=r.model,
            tries=self.tries,
            metrics=r.metrics,
            cached=r.cached or None,
        ), blobs


#: the TargetReply fields a cache entry keeps (latency is kept for reference only)
CACHED_FIELDS = (
    "output",
    "score",
    "reward",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "trace",
    "model",
    "metrics",
    "latency_s",
)


def reply_to_cache(reply: TargetReply) -> dict[str, Any]:
    """A successful reply as a cache entry (plain JSON)."""
    return {name: getattr(reply, name) for name in CACHED_FIELDS}


def reply_from_cache(entry: Mapping[str, Any]) -> TargetReply:
    """A reply read back from the cache: ``cached``, with latency 0 (it was not measured now)."""
    fields = {name: entry.get(name) for name in CACHED_FIELDS if name != "latency_s"}
    return TargetReply(latency_s=0.0, cached=True, **fields)


def to_record_command(
    run_id: str, outcomes: Sequence[RolloutOutcome], *, inline_limit: int = INLINE_OUTPUT_LIMIT
) -> tuple[RecordRollouts, dict[str, bytes]]:
    """One :class:`RecordRollouts` command for a batch of outcomes, and the blobs it references."""
    rollouts = []
    blobs: dict[str, bytes] = {}
    for outcome in outcomes:
        rollout, b = outcome.to_rollout(inline_limit=inline_limit)
        rollouts.append(rollout)
        blobs.update(b)
    return RecordRollouts(run_id=run_id, rollouts=tuple(rollouts)), blobs


@dataclass(frozen=True)
class Progress:
    """A snapshot of a run for progress bars: done / failed / in flight / rate / ETA."""

    total: int
    completed: int
    failed: int
    in_flight: int
    elapsed_s: float
    cost_usd: float = 0.0

    @property
    def done(self) -> int:
        """Rollouts with an outcome (completed or failed)."""
        return self.completed + self.failed

    @property
    def remaining(self) -> int:
        return self.total - self.done

    @property
    def rate(self) -> float:
        """Outcomes per second since the start."""
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds to go at the current rate; None before the first outcome."""
        return self.remaining / self.rate if self.rate > 0 else None

    def line(self) -> str:
        """A one-line summary: ``120/200 done · 3 failed · 20 in flight · 38.1/s · ETA 2s``."""
        eta = f"{self.eta_s:.0f}s" if self.eta_s is not None else "?"
        cost = f" · {format_cost(self.cost_usd)}" if self.cost_usd else ""
        return (
            f"{self.done}/{self.total} done · {self.failed} failed · {self.in_flight} in flight · "
            f"{self.rate:.1f}/s · ETA {eta}{cost}"
        )


@dataclass
class RunReport:
    """What :func:`run_rollouts` did."""

    total: int
    completed: int = 0
    failed: int = 0
    #: jobs never started because the run stopped (they stay pending)
    not_started: int = 0
    stopped: StopReason | None = None
    cost_usd: float = 0.0
    elapsed_s: float = 0.0
    #: from the first request sent to the last outcome (perf_counter seconds)
    span_s: float = 0.0


#: asyncio.timeout (Python 3.11+) bounds a try in its own task; 3.10's wait_for makes one more
_TIMEOUT = getattr(asyncio, "timeout", None)


def rollout_cache_key(target: Target, request: RolloutRequest) -> str:
    """The response-cache key of one rollout request (:func:`runners.cache.cache_key`)."""
    return cache_key("rollout", target.describe(), target.cache_request(request), request.seed)


def all_cached(
    jobs: Iterable[RolloutJob],
    target: Target,
    cache: ResponseCache,
    *,
    run_id: str,
    policy: Mapping[str, Any] | None = None,
) -> bool:
    """Whether the cache answers every job (then the run need not reach the target at all)."""
    return all(
        cache.has(
            rollout_cache_key(
                target,
                RolloutRequest(run_id, j.case, j.epoch, j.attempt, j.seed, policy or {}),
            )
        )
        for j in jobs
    )


async def run_one(
    job: RolloutJob,
    target: Target,
    *,
    run_id: str,
    timeout: float,
    retries: int,
    policy: Mapping[str, Any] | None = None,
    prices: PriceTable | None = None,
    backoff: Backoff = DEFAULT_BACKOFF,
    rng: random.Random | None = None,
    cache: ResponseCache | None = None,
) -> RolloutOutcome:
    """Run one job to an outcome, retrying retryable failures. Cancellation propagates.

    With ``cache``, a stored answer to the same request is used instead of calling
    the target (the outcome's reply is marked ``cached``, latency 0, no cost), and a
    successful call's answer is stored.
    """
    request = RolloutRequest(run_id, job.case, job.epoch, job.attempt, job.seed, policy or {})
    started = time.perf_counter()
    key = None
    if cache is not None:
        key = rollout_cache_key(target, request)
        stored = cache.get(key)
        if stored is not None:
            return RolloutOutcome(
                job,
                reply_from_cache(stored),
                tries=1,
                latency_s=0.0,
                cost_usd=None,
                started_at=started,
                finished_at=time.perf_counter(),
            )
    tries = 0
    while True:
        tries += 1
        try:
            if _TIMEOUT is None:  # Python 3.10
                reply = await asyncio.wait_for(target.call(request), timeout)
            else:  # inline, not a helper coroutine: one frame less resumed per try
                async with _TIMEOUT(timeout):
                    reply = await target.call(request)
        except (asyncio.TimeoutError, TimeoutError):
            err: RolloutError = RetryableError(f"no answer within {timeout:g} s", kind="timeout")
        except RolloutError as e:
            err = e
        except EvalRunnerError:
            raise
        except Exception as e:  # a bug in a target must not end the run
            err = RolloutRefused(f"{type(e).__name__}: {e}", kind="target_error")
        else:
            cost = rollout_cost(
                reply.prompt_tokens,
                reply.completion_tokens,
                reply.model or target.model,
                prices or {},
                reply.cost_usd,
            )
            if cache is not None and key is not None:
                cache.put(key, "rollout", reply_to_cache(reply))
            return RolloutOutcome(
                job,
                reply,
                tries=tries,
                latency_s=reply.latency_s,
                cost_usd=cost,
                started_at=started,
                finished_at=time.perf_counter(),
            )
        if err.retryable and tries <= retries:
            await asyncio.sleep(backoff.delay(tries, err.retry_after, rng))
            continue
        message = str(err) if tries == 1 else f"{err} (after {tries} tries)"
        return RolloutOutcome(
            job,
            None,
            error=message,
            error_kind=err.kind,
            status_code=err.status_code,
            tries=tries,
            latency_s=err.latency_s,
            started_at=started,
            finished_at=time.perf_counter(),
        )


async def run_rollouts(
    jobs: Iterable[RolloutJob],
    target: Target,
    *,
    run_id: str,
    on_result: Callable[[RolloutOutcome], Awaitable[Any] | Any],
    concurrency: int = 10,
    timeout: float = 60.0,
    retries: int = 3,
    should_stop: Callable[[], bool] | None = None,
    budget_usd: float | None = None,
    prices: PriceTable | None = None,
    policy: Mapping[str, Any] | None = None,
    backoff: Backoff = DEFAULT_BACKOFF,
    on_progress: Callable[[Progress], None] | None = None,
    progress_interval: float = 0.25,
    rng: random.Random | None = None,
    cache: ResponseCache | None = None,
) -> RunReport:
    """Run ``jobs`` against ``target`` (see the module docstring for the rules).

    The target is started (sized for ``concurrency``) and closed here. Returns a
    :class:`RunReport`; raises whatever ``on_result`` raises, and
    ``asyncio.CancelledError`` when cancelled (finished outcomes were delivered).
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    job_list = list(jobs)
    report = RunReport(total=len(job_list))
    job_iter = iter(job_list)
    in_flight = 0
    first_sent: float | None = None
    last_done = 0.0
    t0 = time.perf_counter()
    stop_reason: list[StopReason] = []

    def progress() -> Progress:
        return Progress(
            report.total,
            report.completed,
            report.failed,
            in_flight,
            time.perf_counter() - t0,
            report.cost_usd,
        )

    def stopping() -> bool:
        if stop_reason:
            return True
        if should_stop is not None and should_stop():
            stop_reason.append("stopped")
        elif budget_usd is not None and budget_spent(report.cost_usd, budget_usd):
            stop_reason.append("budget")
        return bool(stop_reason)

    async def worker() -> None:
        nonlocal in_flight, first_sent, last_done
        while not stopping():
            job = next(job_iter, None)
            if job is None:
                return
            in_flight += 1
            if first_sent is None:
                first_sent = time.perf_counter()
            try:
                outcome = await run_one(
                    job,
                    target,
                    run_id=run_id,
                    timeout=timeout,
                    retries=retries,
                    policy=policy,
                    prices=prices,
                    backoff=backoff,
                    rng=rng,
                    cache=cache,
                )
            finally:
                in_flight -= 1
            last_done = outcome.finished_at
            if outcome.ok:
                report.completed += 1
            else:
                report.failed += 1
            report.cost_usd += outcome.cost_usd or 0.0
            result = on_result(outcome)
            if result is not None and inspect.isawaitable(result):
                await result

    async def ticker() -> None:
        assert on_progress is not None
        while True:
            await asyncio.sleep(progress_interval)
            on_progress(progress())

    await target.start(concurrency=concurrency, timeout=timeout)
    workers = [
        asyncio.create_task(worker()) for _ in range(min(concurrency, max(len(job_list), 1)))
    ]
    tick = asyncio.create_task(ticker()) if on_progress is not None else None
    try:
        done, pending = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for task in workers:
            task.cancel()
        if tick is not None:
            tick.cancel()
        await asyncio.gather(*workers, *([tick] if tick else []), return_exceptions=True)
        await target.aclose()
    report.stopped = stop_reason[0] if stop_reason else None
    report.not_started = report.total - report.completed - report.failed
    report.elapsed_s = time.perf_counter() - t0
    report.span_s = (last_done - first_sent) if first_sent is not None else 0.0
    if on_progress is not None:
        on_progress(progress())
    return report


#: the interpreter's thread switch interval while a writer thread runs (seconds): the event
#: loop waits at most this long for the GIL when the writer holds it. (Under Python's
#: default, 5 ms, that wait was once recorded as latency; HTTP targets now take latency
#: from the kernel's packet stamps, so it only delays requests; issue #25)
WRITER_SWITCH_INTERVAL = 0.0005
_switch_lock = threading.Lock()
_switch_users = 0
_switch_saved = 0.0


def _short_switch_interval(enter: bool) -> None:
    """Lower ``sys.setswitchinterval`` while any writer thread runs; restore it after the last."""
    global _switch_users, _switch_saved
    with _switch_lock:
        if enter:
            if _switch_users == 0:
                _switch_saved = sys.getswitchinterval()
                sys.setswitchinterval(min(_switch_saved, WRITER_SWITCH_INTERVAL))
            _switch_users += 1
        else:
            _switch_users -= 1
            if _switch_users == 0:
                sys.setswitchinterval(_switch_saved)


class WriterFailed(EvalRunnerError):
    """Writing a batch of outcomes failed; the run stops, unwritten rollouts stay pending."""


@dataclass
class WriterStats:
    written: int = 0
    batches: int = 0
    largest_batch: int = 0
    write_seconds: float = 0.0
    batch_sizes: list[int] = field(default_factory=list)


class BatchWriter:
    """Collect outcomes and hand them to ``write_batch`` in batches, off the event loop.

    Use it as ``on_result``::

        async with BatchWriter(write_batch, max_batch=256, max_delay_s=0.2) as writer:
            report = await run_rollouts(jobs, target, run_id=rid, on_result=writer)

    A batch of at most ``max_batch`` outcomes is written when that many are
    waiting or ``max_delay_s`` after the drain started waiting, whichever is first;
    while one batch is being written the next one grows. ``write_batch(list_of_outcomes)`` runs in one
    dedicated thread (``in_thread=False`` runs it on the loop; an ``async def``
    is awaited), so a SQLite commit never stalls the requests in flight; while that thread
    exists the interpreter's switch interval is :data:`WRITER_SWITCH_INTERVAL` (restored
    after), so the loop never waits long for the GIL the writer holds. Leaving
    the ``async with`` block writes what is left, also on cancellation. If a
    write raises, the next ``writer(outcome)`` raises :class:`WriterFailed` (so the
    run stops) and leaving the block re-raises it; unwritten outcomes are simply
    pending for ``resume``.
    """

    def __init__(
        self,
        write_batch: Callable[[list[RolloutOutcome]], Any],
        *,
        max_batch: int = 256,
        max_delay_s: float = 0.2,
        in_thread: bool = True,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.write_batch = write_batch
        self.max_batch = max_batch
        self.max_delay_s = max_delay_s
        self.in_thread = in_thread and not inspect.iscoroutinefunction(write_batch)
        self.stats = WriterStats()
        self.error: BaseException | None = None
        self._buffer: list[RolloutOutcome] = []
        self._nonempty = asyncio.Event()
        self._full = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._pool: ThreadPoolExecutor | None = None

    def __call__(self, outcome: RolloutOutcome) -> None:
        """Queue one outcome (the ``on_result`` callback)."""
        if self.error is not None:
            raise WriterFailed(f"recording rollouts failed: {self.error}") from self.error
        if self._closing:
            raise WriterFailed("the writer is closed")
        self._buffer.append(outcome)
        self._nonempty.set()
        if len(self._buffer) >= self.max_batch:
            self._full.set()

    @property
    def failed(self) -> bool:
        return self.error is not None

    async def __aenter__(self) -> BatchWriter:
        if self.in_thread:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trialbook-writer")
            _short_switch_interval(True)
        self._task = asyncio.create_task(self._drain())
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        await self.close()
        if self.error is not None and exc_type is None:
            raise WriterFailed(f"recording rollouts failed: {self.error}") from self.error

    async def close(self) -> None:
        """Write everything still buffered and stop the writer."""
        self._closing = True
        self._nonempty.set()
        self._full.set()
        try:
            if self._task is not None:
                await asyncio.shield(self._task)
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
                _short_switch_interval(False)

    async def _drain(self) -> None:
        while True:
            await self._nonempty.wait()
            if not self._closing and len(self._buffer) < self.max_batch:
                with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self.max_delay_s)
            batch, self._buffer = self._buffer[: self.max_batch], self._buffer[self.max_batch :]
            if len(self._buffer) < self.max_batch:
                self._full.clear()
            if not self._buffer:
                self._nonempty.clear()
            if batch and self.error is None:
                await self._write(batch)
            if self._closing and not self._buffer:
                return

    async def _write(self, batch: list[RolloutOutcome]) -> None:
        started = time.perf_counter()
        try:
            if self._pool is not None:
                await asyncio.get_running_loop().run_in_executor(
                    self._pool, self.write_batch, batch
                )
            else:
                result = self.write_batch(batch)
                if inspect.isawaitable(result):
                    await result
        except Exception as e:
            self.error = e
            return
        self.stats.written += len(batch)
        self.stats.batches += 1
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
        self.stats.batch_sizes.append(len(batch))
        self.stats.write_seconds += time.perf_counter() - started
