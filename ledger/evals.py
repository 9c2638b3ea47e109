"""The application side of ``trialbook eval``: suites, runs, resume, rescore, reads, compare, export.

The CLI and the Python API (``tb.evals``) call these and only render what they
return, so neither can do anything the other cannot. Every check runs before
anything is appended; errors are ``TrialbookError`` s whose message is the
CLI's one line (the eval runner's own errors, ``runners.eval_errors``, are
``TrialbookError`` s too). :class:`MissingRunOption` is the one the CLI shows as
a usage error.

- suites: :func:`add_suite_file`, :func:`add_suite_cases`, :func:`list_suites`,
  :func:`suite_document`;
- runs: :func:`prepare_run` and :func:`prepare_resume` check everything and
  record nothing; the :class:`PreparedRun` they return starts (or resumes) the
  run when awaited; :func:`prepare_rescore` likewise; :func:`interrupt_if_running`;
- reads: :func:`require_run`, :func:`list_runs`, :func:`run_report` and
  :func:`case_report` (now, or replayed to a position or time), :func:`rollouts`;
- :func:`compare_runs` (optionally feeding an A/B test), :func:`export_run`.

The runners, scorers and statistics are imported when a function needs them.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trialbook.domain.errors import InvalidCommand, NotFound, StateConflict
from trialbook.ledger.times import utc_text

if TYPE_CHECKING:
    from trialbook.domain.evals import EvalRunState, RunSettings, SuiteState
    from trialbook.ledger import Ledger
    from trialbook.runners.cache import ResponseCache
    from trialbook.runners.eval_scoring import RunScorers
    from trialbook.runners.executor import Progress, RunReport
    from trialbook.runners.ledger_recorder import LedgerRecorder
    from trialbook.runners.targets import Target

#: a target: a ``--target`` spec, a config mapping with a ``kind``, or (from code) a callable
TargetSpec = str | Mapping[str, Any] | Callable[..., Any]


class MissingRunOption(InvalidCommand):
    """``eval run`` was not told its suite or its target (the CLI shows it as a usage error)."""


# --------------------------------------------------------------------------- helpers


def recorder(ledger: Ledger, metadata: Mapping[str, Any] | None = None) -> LedgerRecorder:
    """The eval runner's recorder over ``ledger``; ``metadata`` goes into every event it appends."""
    from trialbook.runners.ledger_recorder import LedgerRecorder

    return LedgerRecorder(ledger, metadata=dict(metadata or {}))


def require_run(ledger: Ledger, run_id: str) -> dict[str, Any]:
    """Run ``run_id``'s row from the read model (``eval list --json``); ``NotFound`` naming the fix."""
    from trialbook.projections import eval_queries

    run = eval_queries.get_run(ledger.conn, run_id)
    if run is None:
        raise NotFound(f"no eval run {run_id!r}; see `trialbook eval list`")
    return run


def require_suite(rec: LedgerRecorder, name: str) -> SuiteState:
    """Every version of suite ``name``; ``NotFound`` naming the fix if it has none."""
    suite = rec.suite_state(name)
    if not suite.versions:
        raise NotFound(
            f"no suite named {name!r}; add one with `trialbook eval suite add FILE --name {name}`"
        )
    return suite


def run_state(ledger: Ledger, run_id: str) -> EvalRunState:
    """Run ``run_id``'s state folded from the log (counts, status, settings)."""
    return recorder(ledger).run_state(run_id)


def git_sha(cwd: Path | None = None) -> str | None:
    """The working directory's git commit, if it is a git checkout (else None)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=2
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and len(sha) == 40 else None


def build_target(spec: TargetSpec, env: Mapping[str, str] | None = None) -> Target:
    """A target from a spec string, a config mapping, or a callable (a ``python`` target in process)."""
    from trialbook.runners.targets import PythonTarget, make_target

    if callable(spec) and not isinstance(spec, (str, Mapping)):
        return PythonTarget(spec)
    return make_target(spec, env=os.environ if env is None else env)


def resolve_scorers(
    specs: Sequence[str],
    cases: Any,
    judge_repeats: int,
    judges: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
) -> RunScorers:
    """Every scorer a run uses, checked (``ScorerConfigError`` names the first problem).

    ``python:`` scorers import from the working directory; judges read their keys from ``env``.
    """
    from trialbook.runners.eval_scoring import resolve_run_scorers

    return resolve_run_scorers(
        specs,
        cases,
        os.environ if env is None else env,
        judge_repeats=judge_repeats,
        judges=judges,
        paths=[os.getcwd()],
    )


# --------------------------------------------------------------------------- suites


def read_suite_file(file: str | os.PathLike[str]) -> tuple[Any, str]:
    """The cases of a suite file (JSONL, YAML or JSON) and the file's name; errors name the line."""
    from trialbook.domain.suites import parse_suite
    from trialbook.runners.eval_scoring import check_case_scorers

    path = Path(file)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidCommand(f"no such file: {file}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidCommand(f"cannot read {file}: {e}") from None
    return parse_suite(text, filename=path.name, check_case=check_case_scorers), path.name


def add_suite_file(
    ledger: Ledger,
    file: str | os.PathLike[str],
    *,
    name: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """Register a suite file as the suite's next version (``eval suite add``); see :func:`add_suite`.

    The suite is named ``name``, else after the file (``qa.jsonl`` -> ``qa``).
    """
    from trialbook.domain.suites import suite_name_from_filename

    cases, filename = read_suite_file(file)
    return add_suite(
        ledger,
        cases,
        name=name or suite_name_from_filename(filename),
        source=filename,
        description=description,
    )


def add_suite_cases(
    ledger: Ledger, items: Any, *, name: str, description: str | None = None
) -> dict[str, Any]:
    """Register in-memory case mappings as suite ``name``'s next version; errors name the case."""
    from trialbook.domain.suites import parse_cases
    from trialbook.runners.eval_scoring import check_case_scorers

    cases = parse_cases(items, check_case=check_case_scorers)
    return add_suite(ledger, cases, name=name, source=None, description=description)


def add_suite(
    ledger: Ledger,
    cases: Any,
    *,
    name: str,
    source: str | None,
    description: str | None,
) -> dict[str, Any]:
    """Record validated ``cases`` as suite ``name``'s next version, unless identical to the latest.

    Returns ``{name, version, cases, hash, changed}`` (``cases``: how many;
    ``changed`` is false when the content equals the latest version's, and
    nothing was recorded).
    """
    from trialbook.domain.commands import build
    from trialbook.domain.evals import RegisterSuite

    command = build(RegisterSuite, name=name, cases=cases, source=source, description=description)
    recorded = ledger.execute(command)
    latest = recorder(ledger).suite_state(command.name).latest
    assert latest is not None
    return {
        "name": command.name,
        "version": latest.version,
        "cases": len(latest.cases),
        "hash": latest.hash,
        "changed": bool(recorded),
    }


def list_suites(ledger: Ledger) -> list[dict[str, Any]]:
    """Every suite's latest version (``eval suite list --json``)."""
    from trialbook.projections import eval_queries

    return eval_queries.list_suites(ledger.conn)


def suite_document(ledger: Ledger, name: str, version: int | None = None) -> dict[str, Any]:
    """A suite version with its cases (``eval suite show --json``); the latest by default."""
    state = require_suite(recorder(ledger), name)
    v = state.version(version)
    return {
        "name": name,
        "version": v.version,
        "versions": len(state.versions),
        "hash": v.hash,
        "source": v.source,
        "description": v.description,
        "cases": [c.model_dump(mode="json") for c in v.cases],
    }


# --------------------------------------------------------------------------- running


@dataclass
class PreparedRun:
    """A run (or a resume) checked and ready: nothing is recorded until :meth:`execute` is awaited."""

    recorder: LedgerRecorder
    run_id: str
    suite: SuiteState
    target: Target
    scoring: RunScorers
    #: for a start: settings, suite version and name; for a resume: its mode, concurrency, budget
    start: dict[str, Any] | None = None
    resume: dict[str, Any] | None = None
    #: a seed suite to register once the target answers its preflight (``--seeds``, a synth-ai config)
    register: Any = None
    #: the response cache (``--cache``)
    cache: ResponseCache | None = None

    async def execute(self, on_progress: Callable[[Progress], None] | None = None) -> RunReport:
        """Preflight the target, record ``RunStarted`` (or ``RunResumed``), run, record how it ended.

        The scorers are closed when it returns or raises. Cancelled (Ctrl-C), the
        run records ``RunInterrupted`` and stays resumable.
        """
        from trialbook.ledger.ledger import tool_version
        from trialbook.runners.eval_session import SessionOptions, resume_run, start_run

        options = SessionOptions(
            on_progress=on_progress,
            scorers=self.scoring if self.scoring else None,
            cache=self.cache,
        )
        if self.cache is not None and self.scoring:
            from trialbook.runners.judge_openai import JudgeScorer

            for scorer in [*self.scoring.common, *self.scoring.by_spec.values()]:
                if isinstance(scorer, JudgeScorer):
                    scorer.cache = self.cache  # judge calls are cached the same way
        if self.cache is not None and self.start is not None and self._all_cached():
            options.preflight = False  # every rollout is answered from the cache: no call at all
        try:
            if self.register is not None:
                await self._register_seed_suite(options)
            begin: Callable[..., Awaitable[RunReport]] = start_run
            extra = self.start or {}
            if self.resume is not None:
                begin, extra = resume_run, self.resume
            return await begin(
                self.recorder,
                self.suite,
                self.target,
                run_id=self.run_id,
                trialbook_version=tool_version(),
                git_sha=git_sha(),
                options=options,
                **extra,
            )
        finally:
            if self.scoring:
                await self.scoring.aclose()
            if self.cache is not None:
                self.cache.close()

    def _all_cached(self) -> bool:
        from trialbook.runners.executor import all_cached, make_jobs

        assert self.cache is not None and self.start is not None
        settings = self.start["settings"]
        cases = self.suite.version(self.start.get("version")).cases
        jobs = make_jobs(cases, epochs=settings.epochs, base_seed=settings.seed)
        return all_cached(jobs, self.target, self.cache, run_id=self.run_id, policy=settings.policy)

    async def _register_seed_suite(self, options: Any) -> None:
        """Check the run would start, preflight the target, then record the seed suite, so a
        refused run or a target that is down appends nothing."""
        from trialbook.domain.evals import EVAL_RUNS, plan_run
        from trialbook.ledger.ledger import tool_version

        start = self.start or {}
        command = plan_run(
            self.suite,
            run_id=self.run_id,
            target=self.target.describe(),
            trialbook_version=tool_version(),
            version=start.get("version"),
            settings=start.get("settings"),
            name=start.get("name"),
            scorers=self.scoring.describe() if self.scoring else (),
        )
        EVAL_RUNS.decide(self.recorder.run_state(self.run_id), command)
        if options.preflight:
            await self.target.preflight()
        self.recorder.handle(self.register)
        options.preflight = False


def _config_text(config_file: str | os.PathLike[str]) -> str:
    try:
        return Path(config_file).read_text(encoding="utf-8")
    except OSError as e:
        raise InvalidCommand(f"cannot read {config_file}: {e.strerror or e}") from None


def prepare_run(
    ledger: Ledger,
    suite: str | None = None,
    target: TargetSpec | None = None,
    *,
    config_file: str | os.PathLike[str] | None = None,
    suite_version: int | None = None,
    epochs: int | None = None,
    concurrency: int | None = None,
    timeout: float | None = None,
    retries: int | None = None,
    name: str | None = None,
    prices: Sequence[str] = (),
    budget: float | None = None,
    seed: int | None = None,
    scorers: Sequence[str] = (),
    judge_repeats: int = 1,
    judges: Mapping[str, Mapping[str, Any]] | None = None,
    policy: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    seeds: str | Sequence[int] | None = None,
    cache: bool | None = None,
    cache_ttl: str | float | None = None,
) -> PreparedRun:
    """Check everything ``eval run`` needs, in its order, and record nothing.

    The options are ``eval run``'s (``prices``: ``MODEL=IN/OUT`` texts), over a
    run config's values when ``config_file`` is given; ``judges`` and ``policy``
    replace the config's tables of the same name. Raises ``MissingRunOption``
    without a suite or a target, else the first problem's ``TrialbookError``.
    """
    from trialbook.domain.evals import RUN_ID_RE, RUN_ID_RULE, new_run_id, parse_price
    from trialbook.runners.eval_config import RunConfig, parse_run_config

    config = RunConfig()
    if config_file is not None:
        config = parse_run_config(_config_text(config_file), filename=os.fspath(config_file))
    suite_name = suite or config.suite or ("seeds" if seeds is not None else None)
    if not suite_name:
        raise MissingRunOption("name the suite: trialbook eval run SUITE --target SPEC")
    spec = target if target is not None else config.target
    if spec is None:
        raise MissingRunOption("give a target with --target SPEC (or `target` in --config)")
    price_table = dict(config.values.get("prices") or {})
    for p in prices:
        model, price = parse_price(p)
        price_table[model] = price
    run_id = name or config.name or new_run_id()
    if not RUN_ID_RE.match(run_id):
        raise InvalidCommand(f"run name {run_id!r} is not valid; {RUN_ID_RULE}")
    settings: RunSettings = config.settings(
        epochs=epochs,
        concurrency=concurrency,
        timeout_s=timeout,
        retries=retries,
        budget_usd=budget,
        seed=seed,
        prices=price_table or None,
        scorers=tuple(scorers) or None,
        judge_repeats=judge_repeats if judge_repeats != 1 else None,
        judges={str(k): dict(v) for k, v in judges.items()} if judges else None,
        policy=dict(policy) if policy else None,
    )
    rec = recorder(ledger, metadata)
    register = None
    if seeds is not None or config.seed_suite:
        register, suite_state = _seed_suite(rec, suite_name, seeds, config)
        version = suite_state.latest.version if suite_state.latest else None
    else:
        suite_state = require_suite(rec, suite_name)
        version = suite_version or config.suite_version
    cases = suite_state.version(version).cases
    built = build_target(spec)
    scoring = resolve_scorers(settings.scorers, cases, settings.judge_repeats, settings.judges)
    return PreparedRun(
        rec,
        run_id,
        suite_state,
        built,
        scoring,
        start={
            "settings": settings,
            "version": version,
            "name": name or config.name,
        },
        register=register,
        cache=_response_cache(config, cache, cache_ttl),
    )


def _seed_suite(rec: LedgerRecorder, name: str, seeds: Any, config: Any) -> tuple[Any, SuiteState]:
    """The RegisterSuite command of a seed suite, and the suite's state as if it were recorded
    (nothing is: :meth:`PreparedRun.execute` records it after the target's preflight)."""
    from trialbook.domain.commands import build
    from trialbook.domain.evals import SUITES, RegisterSuite
    from trialbook.domain.suites import parse_seeds, seed_cases

    if seeds is not None:
        chosen = parse_seeds(seeds, what="--seeds")
    elif config.seeds is not None:
        chosen = config.seeds
    else:
        raise MissingRunOption(
            f"{config.filename or 'the config'} has no seeds; add seeds = [0, 1, 2] to [eval] "
            "or give --seeds 0-49"
        )
    command = build(
        RegisterSuite,
        name=name,
        cases=seed_cases(chosen, env_name=config.env_name),
        source=config.filename,
        description=f"{len(chosen)} seeds",
    )
    state = rec.suite_state(command.name)
    latest = state.latest
    if latest is not None and any(c.seed is None for c in latest.cases):
        raise InvalidCommand(
            f"suite {command.name!r} holds cases that are not seeds; a run of seeds registers its "
            "own suite: give it another name (trialbook eval run NAME --seeds …) or leave out --seeds"
        )
    for event in SUITES.decide(state, command):
        state = SUITES.evolve(state, event)
    return command, state


def _response_cache(
    config: Any, cache: bool | None, ttl: str | float | None
) -> ResponseCache | None:
    """The response cache when asked for (``--cache`` over the config's ``cache``), opened now."""
    from trialbook.runners.cache import ResponseCache, parse_duration

    on = cache if cache is not None else bool(config.cache)
    if not on:
        if ttl is not None:  # else a TTL is silently dropped and the user thinks the cache is on
            from trialbook.runners.eval_errors import TargetConfigError

            parse_duration(ttl)
            raise TargetConfigError(
                "--cache-ttl: the response cache is off for this run, so a TTL does nothing; "
                "add --cache (or cache = true in the run config), or drop --cache-ttl"
            )
        return None
    ttl_s = parse_duration(ttl) if ttl is not None else config.cache_ttl_s
    return ResponseCache(ttl_s=ttl_s).open()


def _holds_redacted(value: Any) -> bool:
    """Whether a recorded target description had a secret replaced by the redaction marker."""
    from trialbook.domain.evals import REDACTED

    if isinstance(value, dict):
        return any(_holds_redacted(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_redacted(v) for v in value)
    return isinstance(value, str) and REDACTED in value


def refuse_live_runner(ledger: Ledger, run_id: str, mode: str) -> None:
    """Refuse to take up a run that another process on this host is still running.

    Resuming it would send its in-flight rollouts again (calls and costs twice),
    and the other process would then fail to record its own outcomes.
    """
    from trialbook.projections import eval_queries

    process = eval_queries.live_runner(ledger.conn, run_id)
    if process is None or process["pid"] == os.getpid():
        return
    raise StateConflict(
        f"eval run {run_id!r} is still being run by process {process['pid']} on "
        f"{process['host']}; wait for it to finish, or stop it (Ctrl-C, or `kill "
        f"{process['pid']}`) and then run `trialbook eval {mode} {run_id}`"
    )


def _recorded_target(run_id: str, recorded: Any, given: TargetSpec | None, mode: str) -> Target:
    """The target to resume with: rebuilt from what ``RunStarted`` recorded, or the one given,
    which must describe itself exactly as the recorded one (the same target)."""
    if given is not None:
        target = build_target(given)
        if target.describe() != recorded:
            raise InvalidCommand(
                f"eval run {run_id!r} ran the target {json.dumps(recorded, sort_keys=True)}, not "
                f"{json.dumps(target.describe(), sort_keys=True)}; {mode} it with the same target"
            )
        return target
    if _holds_redacted(recorded):
        raise StateConflict(
            f"eval run {run_id!r} was started with a secret written in its target (a header or URL), "
            "which was not recorded, so its target cannot be rebuilt; start runs with the key in an "
            "environment variable (api_key_env) to make them resumable"
        )
    is_python = isinstance(recorded, dict) and recorded.get("kind") == "python"
    ref = recorded.get("callable") if is_python else None
    if isinstance(ref, str) and ("<locals>" in ref or "<lambda>" in ref):
        raise StateConflict(
            f"eval run {run_id!r} ran the in-process callable {ref!r}, which cannot be imported "
            f"again; {mode} it from Python, passing the function: "
            f"tb.evals.{mode.replace('-', '_')}({run_id!r}, target=FUNCTION)"
        )
    return build_target(recorded)


def prepare_resume(
    ledger: Ledger,
    run_id: str,
    mode: str = "resume",
    *,
    concurrency: int | None = None,
    budget: float | None = None,
    target: TargetSpec | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> PreparedRun:
    """Check everything ``eval resume`` (``mode="resume"``) or ``eval retry-failed`` needs; record nothing.

    ``budget`` replaces the run's total budget; ``target`` (from code) is the
    run's own target handed over again, e.g. an in-process callable.
    """
    if budget is not None and not (math.isfinite(budget) and budget >= 0):
        raise InvalidCommand(f"--budget: must be a number of USD ≥ 0 (got {budget})")
    rec = recorder(ledger, metadata)
    state = rec.run_state(run_id)
    if not state.exists:
        require_run(ledger, run_id)
    refuse_live_runner(ledger, run_id, mode)
    suite_state = require_suite(rec, state.suite or "")
    cases = suite_state.version(state.suite_version).cases
    built = _recorded_target(run_id, state.target, target, mode)
    scoring = resolve_scorers(
        state.settings.scorers, cases, state.settings.judge_repeats, state.settings.judges
    )
    return PreparedRun(
        rec,
        run_id,
        suite_state,
        built,
        scoring,
        resume={"mode": mode, "concurrency": concurrency, "budget_usd": budget},
    )


def interrupt_if_running(ledger: Ledger, run_id: str, reason: str) -> EvalRunState:
    """Record ``RunInterrupted`` if the run is still ``running`` (after Ctrl-C); returns its state."""
    from trialbook.domain.evals import InterruptRun

    rec = recorder(ledger)
    state = rec.run_state(run_id)
    if state.exists and state.status == "running":
        rec.handle(InterruptRun(run_id=run_id, reason=reason))
        state = rec.run_state(run_id)
    return state


@dataclass
class PreparedRescore:
    """A rescore checked and ready: nothing is recorded until :meth:`execute` is awaited."""

    ledger: Ledger
    recorder: LedgerRecorder
    run_id: str
    #: (case, epoch, stored output) of every completed rollout
    items: list[tuple[Any, int, Any]]
    scoring: RunScorers
    concurrency: int
    system_prompt: str | None

    async def execute(self) -> dict[str, Any]:
        """Score the outputs and record the verdicts; the scorers are closed after.

        Returns ``{run_id, session, verdicts, rollouts, scoring_errors}``.
        """
        from trialbook.projections import eval_queries
        from trialbook.runners.eval_scoring import new_session
        from trialbook.runners.eval_scoring import rescore as score_again

        session = new_session()
        before = self.ledger.store.head()[0]
        n = await score_again(
            self.recorder.handle,
            self.recorder.put_blob,
            self.run_id,
            self.items,
            self.scoring,
            session=session,
            concurrency=self.concurrency,
            system_prompt=self.system_prompt,
        )
        counts = eval_queries.verdict_counts(self.ledger.conn, self.run_id, before)
        return {
            "run_id": self.run_id,
            "session": session,
            "verdicts": n,
            "rollouts": len(self.items),
            "scoring_errors": counts["scoring_errors"],
        }


def prepare_rescore(
    ledger: Ledger,
    run_id: str,
    scorers: Sequence[str],
    *,
    judge_repeats: int = 1,
    concurrency: int = 8,
    metadata: Mapping[str, Any] | None = None,
) -> PreparedRescore:
    """Check everything ``eval rescore`` needs and read the stored outputs; record nothing.

    Executed, it scores the outputs again without calling the target: new
    ``VerdictRecorded`` events under a fresh scoring session; earlier ones stay.
    """
    from trialbook.projections import eval_queries

    run = require_run(ledger, run_id)
    rec = recorder(ledger, metadata)
    state = rec.run_state(run_id)
    suite_state = require_suite(rec, state.suite or "")
    cases = {c.id: c for c in suite_state.version(state.suite_version).cases}
    scoring = resolve_scorers(scorers, [], judge_repeats, state.settings.judges)
    items = []
    for r in eval_queries.rollout_rows(ledger.conn, run_id):
        if r["status"] != "completed":
            continue
        output = r["output"]
        if r["output_blob"]:
            blob = rec.get_blob(r["output_blob"])
            output = json.loads(blob) if blob is not None else None
        items.append((cases[r["case_id"]], r["epoch"], output))
    if not items:  # (judges open their HTTP clients when they first score: nothing to close)
        raise StateConflict(f"eval run {run_id!r} has no completed rollouts to score")
    return PreparedRescore(
        ledger,
        rec,
        run_id,
        items,
        scoring,
        concurrency,
        (run["target"] or {}).get("system_prompt"),
    )


# --------------------------------------------------------------------------- reading


def list_runs(ledger: Ledger) -> list[dict[str, Any]]:
    """Every run, oldest first (``eval list --json``)."""
    from trialbook.projections import eval_queries

    return eval_queries.list_runs(ledger.conn)


def _read(
    ledger: Ledger,
    run_id: str,
    at: int | None,
    as_of: str | datetime | None,
    read: Callable[[Any, dict[str, Any]], dict[str, Any]],
) -> dict[str, Any]:
    """``read(conn, run)`` on the live read model, or on the run's stream replayed to ``at``/``as_of``."""
    from trialbook.domain.evals import run_stream
    from trialbook.projections import eval_queries
    from trialbook.projections.evals import EvalsProjection
    from trialbook.projections.replay import replay_to, resolve_position

    run = require_run(ledger, run_id)
    if at is None and as_of is None:
        with ledger.store.read_transaction() as conn:
            return read(conn, eval_queries.get_run(conn, run_id) or run)
    store = ledger.store
    position = resolve_position(store, at=at, as_of=utc_text(as_of) if as_of is not None else None)
    view = replay_to(store, [EvalsProjection()], position, stream_id=run_stream(run_id))
    try:
        past = eval_queries.get_run(view.conn, run_id, live=False)
        if past is None:
            raise NotFound(f"eval run {run_id!r} had not started yet at position {position}")
        return read(view.conn, past)
    finally:
        view.close()


def run_report(
    ledger: Ledger,
    run_id: str,
    *,
    all_verdicts: bool = False,
    at: int | None = None,
    as_of: str | datetime | None = None,
) -> dict[str, Any]:
    """Everything ``eval show`` prints (its ``--json``): now, or as the run was at ``at``/``as_of``."""
    from trialbook.projections import eval_queries

    return _read(
        ledger,
        run_id,
        at,
        as_of,
        lambda conn, run: eval_queries.report(conn, run, all_verdicts=all_verdicts),
    )


def seed_report(
    ledger: Ledger,
    run_id: str,
    *,
    at: int | None = None,
    as_of: str | datetime | None = None,
) -> dict[str, Any]:
    """The seed tool's table of RUN (``eval show RUN --columns synth``; see
    :mod:`projections.eval_seed_table`): now, or as the run was at ``at``/``as_of``."""
    from trialbook.projections.eval_seed_table import seed_table

    return _read(
        ledger, run_id, at, as_of, lambda conn, run: {"run": run, **seed_table(conn, run_id)}
    )


def case_report(
    ledger: Ledger,
    run_id: str,
    case_id: str,
    *,
    all_verdicts: bool = False,
    at: int | None = None,
    as_of: str | datetime | None = None,
) -> dict[str, Any]:
    """One case of a run (``eval show RUN --case ID --json``); ``NotFound`` if it has no rollout."""
    from trialbook.projections import eval_queries

    detail = _read(
        ledger,
        run_id,
        at,
        as_of,
        lambda conn, run: eval_queries.case_report(conn, run, case_id, all_verdicts=all_verdicts),
    )
    if not detail["rollouts"]:
        raise NotFound(f"eval run {run_id!r} has no rollout of case {case_id!r}")
    return detail


def rollouts(ledger: Ledger, run_id: str, *, read_blobs: bool = False) -> list[dict[str, Any]]:
    """The outcome (latest attempt) of every (case, epoch), as ``eval export`` writes them.

    With ``read_blobs``, an output too large to be stored inline is read back
    from its blob (``output_blob`` still names it).
    """
    from trialbook.projections import eval_queries

    require_run(ledger, run_id)
    with ledger.store.read_transaction() as conn:
        rows = eval_queries.rollout_rows(conn, run_id)
    if read_blobs:
        for r in rows:
            if r["output_blob"] and r["output"] is None:
                blob = ledger.store.get_blob(r["output_blob"])
                r["output"] = json.loads(blob) if blob is not None else None
    return rows


def file_stem(case_id: str) -> str:
    """A case id as a file name: itself when it is safe, else sanitised plus a hash of the id.

    Characters other than letters, digits, ``.``, ``_`` and ``-`` become ``_``;
    then 8 hex digits of the id's SHA-256 are appended, so ids that sanitise
    alike (``a/b`` and ``a_b``) still get distinct files.
    """
    import hashlib

    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in case_id)
    if safe == case_id:
        return safe
    return f"{safe}-{hashlib.sha256(case_id.encode('utf-8')).hexdigest()[:8]}"


def export_run(ledger: Ledger, run_id: str, traces_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Write the run's rollouts (``rollouts.jsonl``) and their traces and large outputs to a directory.

    The directory is created if missing. Returns ``{directory, rollouts, blobs}``
    (how many of each were written).
    """
    require_run(ledger, run_id)
    out = Path(traces_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = rollouts(ledger, run_id)
    written = 0
    with (out / "rollouts.jsonl").open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")
            for kind in ("trace_blob", "output_blob"):
                digest = r[kind]
                if not digest:
                    continue
                content = ledger.store.get_blob(digest)
                if content is None:
                    continue
                name = f"{file_stem(r['case_id'])}.e{r['epoch']}.{kind.removesuffix('_blob')}.json"
                (out / name).write_bytes(content)
                written += 1
    return {"directory": str(out), "rollouts": len(rows), "blobs": written}


# --------------------------------------------------------------------------- comparing


def compare_runs(
    ledger: Ledger,
    run_a: str,
    run_b: str,
    *,
    scorer: str | None = None,
    into_ab: str | None = None,
) -> dict[str, Any]:
    """``eval compare RUN_A RUN_B --json``: B's rollouts paired with A's by (case, epoch).

    With ``into_ab``, the paired rollouts are fed to that A/B test (created if
    missing), and ``into_ab`` in the result says what was added.
    """
    from trialbook.ledger import eval_compare

    require_run(ledger, run_a)
    require_run(ledger, run_b)
    with ledger.store.read_transaction() as conn:
        data = eval_compare.compare(conn, run_a, run_b, scorer)
        results = eval_compare.ab_results(data, conn) if into_ab is not None else []
    if into_ab is not None:
        data["into_ab"] = feed_ab(ledger, into_ab, data, results)
    return data


def feed_ab(
    ledger: Ledger, name: str, data: dict[str, Any], results: list[dict[str, Any]]
) -> dict[str, Any]:
    """Create A/B test ``name`` for a comparison (or check an existing one's variants) and add
    the results not fed yet (same session id); returns ``{test, created, added, skipped}``."""
    from trialbook.domain import ab as d
    from trialbook.domain.commands import build
    from trialbook.projections import ab_queries

    va, vb = data["variants"]
    conn = ledger.conn
    test = ab_queries.get_test(conn, name)
    created = test is None
    if test is None:
        metric = "success" if data["basis"] == "completion" else "score"
        ledger.execute(
            build(
                d.CreateTest,
                name=name,
                variants=(va, vb),
                control=va,
                metric=metric,
                description=f"eval compare {data['run_a']} vs {data['run_b']} ({data['basis']})",
            )
        )
    elif not {va, vb} <= set(test["variants"]):
        raise StateConflict(
            f"A/B test {name!r} has variants {', '.join(test['variants'])}, not {va} and {vb}; "
            "choose another --into-ab name"
        )
    seen = {r["session_id"] for r in ab_queries.results(conn, name)} if not created else set()
    fresh = [r for r in results if r["session_id"] not in seen]
    if fresh:
        ledger.execute(
            build(d.AddResults, test=name, results=tuple(d.ResultFields(**r) for r in fresh))
        )
    return {
        "test": name,
        "created": created,
        "added": len(fresh),
        "skipped": len(results) - len(fresh),
    }
