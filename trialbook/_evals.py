"""``tb.evals``: suites and eval runs from code: add suites, run them against targets, score,
resume, read the reports back and compare runs. Names are the CLI's (``run`` is ``eval run``, …)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from trialbook._eval_models import (
    CaseReport,
    Comparison,
    EvalReport,
    EvalRun,
    Export,
    Gates,
    Rescore,
    Rollout,
    Suite,
    SuiteAdded,
    SuiteInfo,
)

if TYPE_CHECKING:
    from trialbook._client import Trialbook
    from trialbook.ledger.evals import PreparedRun

#: what a run is sent to: a ``--target`` spec (``"http://127.0.0.1:8000/run"``,
#: ``"openai:MODEL@BASE_URL"``, ``"python:MODULE:FUNCTION"``, ``"command:…"``), a config
#: mapping with a ``kind``, or a Python callable ``fn(case_dict)`` (``async def`` too)
Target = str | Mapping[str, Any] | Callable[..., Any]


def _specs(scorers: str | Iterable[str]) -> tuple[str, ...]:
    """Specs (scorers, gates) as a tuple: one given as a bare string is one spec, not its letters."""
    return (scorers,) if isinstance(scorers, str) else tuple(scorers)


def _prices(prices: Mapping[str, str] | Iterable[str] | None) -> tuple[str, ...]:
    """``--price`` texts: ``{"gpt-4o-mini": "0.15/0.6"}`` or ``["gpt-4o-mini=0.15/0.6"]``."""
    if prices is None:
        return ()
    if isinstance(prices, Mapping):
        return tuple(f"{model}={price}" for model, price in prices.items())
    return _specs(prices)


def _float(value: Any) -> Any:
    """An int given for a float option read as the float the CLI reads (``-1`` -> ``-1.0``)."""
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _outside_event_loop(call: str) -> None:
    """Refuse a blocking call from inside a running event loop (it would block the loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(
        f"tb.evals.{call}() blocks until it ends; in async code, await tb.evals.{call}_async(...)"
    )


class Evals:
    """The suites and eval runs of one database.

    A run records every rollout and verdict as it goes, exactly as ``trialbook
    eval run`` does, into the same file: the CLI reads it back, and resumes it.
    Errors are ``TrialbookError`` s with the CLI's one-line message, raised
    before anything is recorded. The handle's lock is held while a call reads
    or checks, not while a run waits on its target, so other calls on the same
    handle (from other threads, or other tasks of an event loop) go on meanwhile;
    close the handle only after the runs on it have ended.
    """

    def __init__(self, tb: Trialbook) -> None:
        self._tb = tb

    def _metadata(self, call: str) -> dict[str, Any]:
        """What a run's events record about the API call that appended them."""
        return (
            {"call": f"trialbook.evals.{call}"} if getattr(self._tb, "_record_calls", True) else {}
        )

    # ------------------------------------------------------------------ suites

    def add_suite(
        self,
        source: str | os.PathLike[str] | Iterable[Mapping[str, Any]],
        *,
        name: str | None = None,
        description: str | None = None,
    ) -> SuiteAdded:
        """Register a suite's next version (``eval suite add``); identical content is "unchanged".

        ``source`` is a suite file (JSONL, YAML or JSON; the suite is named after
        it unless ``name`` is given), or a list of case mappings
        (``{"id": "q1", "input": "…", "expected": "…", "criteria": […],
        "metadata": {…}, "scorers": […]}``; ``name`` is then required). Raises
        ``InvalidCommand`` naming the line or case of the first problem.
        """
        from trialbook.domain.errors import InvalidCommand
        from trialbook.ledger import evals as app

        with self._tb._use("evals.add_suite") as ledger:
            if isinstance(source, (str, os.PathLike)):
                done = app.add_suite_file(ledger, source, name=name, description=description)
            elif name is None:
                raise InvalidCommand(
                    'a suite given as a list of cases needs a name: add_suite(cases, name="qa")'
                )
            else:
                done = app.add_suite_cases(ledger, source, name=name, description=description)
        return SuiteAdded.model_validate(done)

    def suites(self) -> list[SuiteInfo]:
        """Every suite's latest version, by name (``eval suite list``)."""
        from trialbook.ledger import evals as app

        with self._tb._use() as ledger:
            return [SuiteInfo.model_validate(s) for s in app.list_suites(ledger)]

    def suite(self, name: str, version: int | None = None) -> Suite:
        """A suite version with its cases (``eval suite show``); the latest by default."""
        from trialbook.ledger import evals as app

        with self._tb._use() as ledger:
            return Suite.model_validate(app.suite_document(ledger, name, version))

    # ------------------------------------------------------------------ running

    def _prepare_run(self, suite: str | None, target: Target | None, **options: Any) -> PreparedRun:
        from trialbook.ledger import evals as app

        with self._tb._use("evals.run") as ledger:
            return app.prepare_run(
                ledger,
                suite,
                target,
                scorers=_specs(options.pop("scorers")),
                prices=_prices(options.pop("prices")),
                suite_version=options.pop("version"),
                config_file=options.pop("config"),
                timeout=_float(options.pop("timeout")),
                budget=_float(options.pop("budget")),
                metadata=self._metadata("run"),
                **options,
            )

    def _prepare_resume(
        self, run: str, mode: str, concurrency: int | None, budget: float | None, target: Any
    ) -> PreparedRun:
        from trialbook.ledger import evals as app

        call = mode.replace("-", "_")
        with self._tb._use(f"evals.{call}") as ledger:
            return app.prepare_resume(
                ledger,
                run,
                mode,
                concurrency=concurrency,
                budget=_float(budget),
                target=target,
                metadata=self._metadata(call),
            )

    def _execute(self, prepared: PreparedRun, call: str) -> EvalReport:
        """Run a prepared run to its end in this thread; after Ctrl-C it stays resumable."""
        from trialbook.ledger import evals as app

        try:
            asyncio.run(prepared.execute())
        except KeyboardInterrupt:
            with self._tb._use(f"evals.{call}") as ledger:
                app.interrupt_if_running(ledger, prepared.run_id, "interrupted (Ctrl-C)")
            raise
        return self.show(prepared.run_id)

    async def _execute_async(self, prepared: PreparedRun) -> EvalReport:
        await prepared.execute()
        return await asyncio.to_thread(self.show, prepared.run_id)

    def run(
        self,
        suite: str | None = None,
        target: Target | None = None,
        *,
        scorers: str | Iterable[str] = (),
        epochs: int | None = None,
        concurrency: int | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        budget: float | None = None,
        prices: Mapping[str, str] | Iterable[str] | None = None,
        seed: int | None = None,
        judge_repeats: int = 1,
        judges: Mapping[str, Mapping[str, Any]] | None = None,
        policy: Mapping[str, Any] | None = None,
        name: str | None = None,
        version: int | None = None,
        config: str | os.PathLike[str] | None = None,
        seeds: str | Iterable[int] | None = None,
        cache: bool | None = None,
        cache_ttl: str | float | None = None,
    ) -> EvalReport:
        """Run every case of ``suite`` (× ``epochs``) against ``target``, score each rollout,
        and return the run's report (``eval run``, then ``eval show --json``). Blocks until done.

        ``target``: a spec string, a config mapping with a ``kind``, or a callable
        taking the case as a dict (returning the output, or a dict read like an
        HTTP reply: ``{"output", "score"?, "usage"?, …}``). ``scorers``: specs
        such as ``"equals"``, ``"contains:TEXT"``, ``"python:MODULE:FUNCTION"``,
        ``"judge:NAME"``, with ``judges`` the settings of each ``judge:NAME``
        (``{"strict": {"base_url": …, "model": …, "key_env": "VAR"}}``).
        Left as ``None``, an option takes the run config's value (``config``: a
        TOML or YAML file), else the default: 1 epoch, 10 rollouts in flight,
        60 s per request, 3 retries, no budget. ``prices`` are USD per million
        input/output tokens (``{"gpt-4o-mini": "0.15/0.6"}``); ``budget`` stops
        the run cleanly once that many USD are spent; ``name`` is the run's id
        (default: a new time-ordered id); ``version`` the suite version (default:
        the latest). ``seeds`` (``"0-49"``, ``[0, 3, 7]``) runs a suite of seeds, each sent
        exactly (a synth-ai eval config ``config`` gives its own); ``cache=True`` reads
        answers to identical requests back from the response cache (``cache_ttl``: ``"1d"``).

        Everything is checked before ``RunStarted`` is recorded; an unreachable
        target raises ``TrialbookError`` naming it. The report's ``run.status``
        is ``finished``, or ``interrupted`` (``run.interrupt_reason``, e.g. the
        budget) with rollouts still pending: continue it with :meth:`resume`.
        Inside an event loop, use :meth:`run_async`.
        """
        _outside_event_loop("run")
        prepared = self._prepare_run(
            suite, target, scorers=scorers, epochs=epochs, concurrency=concurrency,
            timeout=timeout, retries=retries, budget=budget, prices=prices, seed=seed,
            judge_repeats=judge_repeats, judges=judges, policy=policy, name=name,
            version=version, config=config, seeds=_seed_list(seeds), cache=cache,
            cache_ttl=cache_ttl,
        )  # fmt: skip
        return self._execute(prepared, "run")

    async def run_async(
        self,
        suite: str | None = None,
        target: Target | None = None,
        *,
        scorers: str | Iterable[str] = (),
        epochs: int | None = None,
        concurrency: int | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        budget: float | None = None,
        prices: Mapping[str, str] | Iterable[str] | None = None,
        seed: int | None = None,
        judge_repeats: int = 1,
        judges: Mapping[str, Mapping[str, Any]] | None = None,
        policy: Mapping[str, Any] | None = None,
        name: str | None = None,
        version: int | None = None,
        config: str | os.PathLike[str] | None = None,
        seeds: str | Iterable[int] | None = None,
        cache: bool | None = None,
        cache_ttl: str | float | None = None,
    ) -> EvalReport:
        """:meth:`run`, awaitable: the rollouts run on the calling event loop (an ``async def``
        target is awaited on it; a plain function runs in a thread pool), the checks and
        reads in a worker thread. Cancelling it records ``RunInterrupted``; the run
        stays resumable."""
        prepared = await asyncio.to_thread(
            self._prepare_run,
            suite, target, scorers=scorers, epochs=epochs, concurrency=concurrency,
            timeout=timeout, retries=retries, budget=budget, prices=prices, seed=seed,
            judge_repeats=judge_repeats, judges=judges, policy=policy, name=name,
            version=version, config=config, seeds=_seed_list(seeds), cache=cache,
            cache_ttl=cache_ttl,
        )  # fmt: skip
        return await self._execute_async(prepared)

    def resume(
        self,
        run: str,
        *,
        concurrency: int | None = None,
        budget: float | None = None,
        target: Target | None = None,
    ) -> EvalReport:
        """Run exactly the rollouts of ``run`` without a completed outcome (``eval resume``):
        never started, in flight when it stopped, or failed; returns the report.

        ``budget`` is a new total budget. The target is rebuilt from what the run
        recorded; pass ``target`` to hand it over again (it must describe itself
        as the recorded one), as a run of an in-process callable that is not
        importable (a closure, a lambda) needs. Refused while another process on
        this host is still running the run.
        """
        _outside_event_loop("resume")
        return self._execute(
            self._prepare_resume(run, "resume", concurrency, budget, target), "resume"
        )

    async def resume_async(
        self,
        run: str,
        *,
        concurrency: int | None = None,
        budget: float | None = None,
        target: Target | None = None,
    ) -> EvalReport:
        """:meth:`resume`, awaitable."""
        prepared = await asyncio.to_thread(
            self._prepare_resume, run, "resume", concurrency, budget, target
        )
        return await self._execute_async(prepared)

    def retry_failed(
        self, run: str, *, concurrency: int | None = None, target: Target | None = None
    ) -> EvalReport:
        """Run the failed rollouts of ``run`` again as new attempts (``eval retry-failed``), also
        after it finished; earlier attempts stay in the log. ``target`` as for :meth:`resume`."""
        _outside_event_loop("retry_failed")
        prepared = self._prepare_resume(run, "retry-failed", concurrency, None, target)
        return self._execute(prepared, "retry_failed")

    async def retry_failed_async(
        self, run: str, *, concurrency: int | None = None, target: Target | None = None
    ) -> EvalReport:
        """:meth:`retry_failed`, awaitable."""
        prepared = await asyncio.to_thread(
            self._prepare_resume, run, "retry-failed", concurrency, None, target
        )
        return await self._execute_async(prepared)

    def rescore(
        self,
        run: str,
        scorers: str | Iterable[str],
        *,
        judge_repeats: int = 1,
        concurrency: int = 8,
    ) -> Rescore:
        """Score ``run``'s stored outputs again with ``scorers``, without calling the target
        (``eval rescore``). New verdicts are recorded (earlier ones stay);
        :meth:`show` reads the latest per scorer, case, epoch and repeat."""
        _outside_event_loop("rescore")
        return asyncio.run(
            self.rescore_async(run, scorers, judge_repeats=judge_repeats, concurrency=concurrency)
        )

    async def rescore_async(
        self,
        run: str,
        scorers: str | Iterable[str],
        *,
        judge_repeats: int = 1,
        concurrency: int = 8,
    ) -> Rescore:
        """:meth:`rescore`, awaitable."""
        from trialbook.ledger import evals as app

        def prepare() -> Any:
            with self._tb._use("evals.rescore") as ledger:
                return app.prepare_rescore(
                    ledger, run, _specs(scorers), judge_repeats=judge_repeats,
                    concurrency=concurrency, metadata=self._metadata("rescore"),
                )  # fmt: skip

        prepared = await asyncio.to_thread(prepare)
        return Rescore.model_validate(await prepared.execute())

    # ------------------------------------------------------------------ reading

    def runs(self) -> list[EvalRun]:
        """Every run, oldest first, with its status (``eval list``)."""
        from trialbook.ledger import evals as app

        with self._tb._use() as ledger:
            return [EvalRun.model_validate(r) for r in app.list_runs(ledger)]

    def get(self, run: str) -> EvalRun:
        """Run ``run``'s row: status, counts, cost, settings; ``NotFound`` if there is none."""
        from trialbook.ledger import evals as app

        with self._tb._use() as ledger:
            return EvalRun.model_validate(app.require_run(ledger, run))

    def show(
        self,
        run: str,
        *,
        all_verdicts: bool = False,
        as_of: str | datetime | None = None,
        at: int | None = None,
    ) -> EvalReport:
        """``run``'s report (``eval show --json``, typed): each rollout with its scorers' verdicts,
        the totals, each scorer's summary, flaky cases, agreement between scorers.

        ``all_verdicts`` adds every verdict, also those a rescore replaced;
        ``as_of`` (an ISO time or a datetime; without a zone, UTC) or ``at`` (a log
        position) gives the run as it was then.
        """
        from trialbook.ledger import evals as app

        with self._tb._use() as ledger:
            doc = app.run_report(ledger, run, all_verdicts=all_verdicts, at=at, as_of=as_of)
        return EvalReport.model_validate(doc)

    def case(
        self,
        run: str,
        case: str,
        *,
        all_verdicts: bool = False,
        as_of: str | datetime | None = None,
        at: int | None = None,
    ) -> CaseReport:
        """One case of ``run`` (``eval show RUN --case ID --json``): its rollouts with their
        outputs, and every verdict with each criterion and its reason."""
        from trialbook.ledger import evals as app

        with self._tb._use() as ledger:
            doc = app.case_report(ledger, run, case, all_verdicts=all_verdicts, at=at, as_of=as_of)
        return CaseReport.model_validate(doc)

    def rollouts(self, run: str) -> list[Rollout]:
        """The outcome (latest attempt) of every (case, epoch) of ``run``, with its output, epoch by
        epoch in suite order; a large output stored as a blob is read back into ``output``."""
        from trialbook.ledger import evals as app

        with self._tb._use() as ledger:
            return [Rollout.model_validate(r) for r in app.rollouts(ledger, run, read_blobs=True)]

    def export(self, run: str, traces_dir: str | os.PathLike[str]) -> Export:
        """Write ``run``'s rollouts (``rollouts.jsonl``) and their stored traces and large outputs
        to the directory ``traces_dir``, created if missing (``eval export --traces``)."""
        from trialbook.ledger import evals as app

        with self._tb._use() as ledger:
            return Export.model_validate(app.export_run(ledger, run, traces_dir))

    def compare(
        self,
        run_a: str,
        run_b: str,
        *,
        scorer: str | None = None,
        into_ab: str | None = None,
    ) -> Comparison:
        """Pair ``run_b``'s rollouts with ``run_a``'s by (case, epoch) (``eval compare --json``):
        wins, losses, regressions, each run's pass rate, the paired interval and the
        always-valid paired analysis.

        ``scorer`` picks the measure (default: the first scorer both runs have,
        else the target's score, else completion). ``into_ab`` creates (or feeds)
        that A/B test with the paired rollouts, so ``tb.ab.analyze`` compares them.
        """
        from trialbook.ledger import evals as app

        with self._tb._use("evals.compare" if into_ab is not None else None) as ledger:
            doc = app.compare_runs(ledger, run_a, run_b, scorer=scorer, into_ab=into_ab)
        return Comparison.model_validate(doc)

    def gates(
        self,
        run: str,
        *,
        fail_under: str | Iterable[str] = (),
        max_failed: int | None = None,
        allow_all_failed: bool = False,
        junit: str | os.PathLike[str] | None = None,
    ) -> Gates:
        """Check CI gates on ``run`` as ``eval run --fail-under … --max-failed …`` does at its end.

        ``fail_under``: ``"SCORER=RATE"`` (pass rate, ``0.8`` or ``"80%"``),
        ``"SCORER:mean=VALUE"``, ``"target=RATE"``; a run whose rollouts all
        failed gives ``exit_code`` 3 unless ``allow_all_failed``. ``junit`` writes
        the JUnit XML file. Bad gates raise ``TrialbookError`` with the CLI's message.
        """
        from trialbook.ledger import eval_gates
        from trialbook.ledger import evals as app
        from trialbook.ledger.junit import check_junit_path, write_junit

        specs = _specs(fail_under)
        with self._tb._use() as ledger:
            report = app.run_report(ledger, run)
            recorded = [s["name"] for s in report["run"].get("scorers") or []]
            parsed = eval_gates.parse_run_gates(
                specs,
                max_failed,
                allow_all_failed=allow_all_failed,
                scorer_names=[*report["scorer_names"], *recorded],
                scorer_scales={n: sc.get("scale") for n, sc in report["scorers"].items()},
            )
            if junit is not None:
                check_junit_path(junit)
            outcome = eval_gates.check_run(report, parsed)
            if junit is not None:
                write_junit(junit, report, outcome.to_json())
        return Gates.model_validate({**outcome.to_json(), "message": outcome.message()})

    def compare_gates(
        self,
        run_a: str,
        run_b: str,
        *,
        scorer: str | None = None,
        max_regressions: int | None = None,
        fail_on: str | Iterable[str] = (),
    ) -> Gates:
        """Check ``eval compare``'s gates (``--max-regressions``, ``--fail-on DECISION``) on two runs."""
        from trialbook.ledger import eval_gates
        from trialbook.ledger import evals as app

        words = _specs(fail_on)
        parsed = eval_gates.parse_compare_gates(max_regressions, words)
        with self._tb._use() as ledger:
            data = app.compare_runs(ledger, run_a, run_b, scorer=scorer)
        outcome = eval_gates.check_compare(data, parsed)
        return Gates.model_validate({**outcome.to_json(), "message": outcome.message()})


def _seed_list(seeds: str | Iterable[int] | None) -> str | list[int] | None:
    """``seeds`` as :func:`ledger.evals.prepare_run` takes them: text as it is, else a list."""
    if seeds is None or isinstance(seeds, str):
        return seeds
    return list(seeds)
