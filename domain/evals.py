"""Eval runs: events, commands, state, and the pure decision functions.

Streams:

- ``suite:<name>``: one :class:`SuiteRegistered` per version (the suite's event,
  command and state live beside suite parsing in :mod:`trialbook.domain.suites`;
  this module re-exports them).
- ``eval-run:<run_id>``: :class:`RunStarted`, then :class:`RolloutCompleted` /
  :class:`RolloutFailed` per rollout attempt, :class:`RunInterrupted` /
  :class:`RunResumed` as a run stops and resumes, and :class:`RunFinished` when
  every (case, epoch) pair has an outcome. :class:`~domain.verdicts.VerdictRecorded`
  events (command :class:`RecordVerdicts`) judge completed rollouts, as the run
  goes or later by a rescore; :func:`event_ids_for` gives them ids derived from
  (run, scoring session, scorer, case, epoch, repeat).

A rollout is one (case, epoch) pair sent to the target; its ``attempt`` is 1 the
first time and grows by one each time the pair is run again (resume after a
crash, ``retry-failed``). ``tries`` counts the requests made within one attempt
(1 + the retries used). :func:`rollout_event_id` derives each rollout event's id
from (run, case, epoch, attempt), so appending the same outcome twice is harmless,
and ``decide`` drops outcomes that are already recorded.

Eval-run state grows with every rollout, so :func:`evolve` updates it in place
(O(1) per event) and returns it: the state belongs to the fold that built it; use
:meth:`EvalRunState.copy` to keep a version aside.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
import os
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import singledispatch
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from trialbook.domain.canonical import canonical_json
from trialbook.domain.commands import Command
from trialbook.domain.errors import InvalidCommand, NotFound, StateConflict
from trialbook.domain.events import Event, Value
from trialbook.domain.suites import (  # noqa: F401 - the suite names are re-exported
    SUITES,
    RegisterSuite,
    SuiteAggregate,
    SuiteRegistered,
    SuiteState,
    SuiteVersion,
    check_suite_name,
    decide_suite,
    evolve_suite,
    suite_stream,
)
from trialbook.domain.verdicts import VerdictRecorded

RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
RUN_ID_RULE = "use 1-80 letters, digits, '.', '_' or '-', starting with a letter or digit"
#: outputs whose canonical JSON is larger than this many bytes are stored as blobs
INLINE_OUTPUT_LIMIT = 8192
#: the value that replaces a secret in a target description
REDACTED = "<redacted>"
ROLLOUT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://trialbook.dev/ns/rollout")
VERDICT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://trialbook.dev/ns/verdict")

RunStatus = Literal["none", "running", "interrupted", "finished"]
ResumeMode = Literal["resume", "retry-failed"]
#: why a rollout failed: ``timeout``, ``connection`` (could not reach or lost the target),
#: ``http_status`` (an HTTP error status), ``bad_response`` (non-JSON or the wrong shape),
#: ``target_error`` (the callable raised, the command exited non-zero)
ErrorKind = Literal["timeout", "connection", "http_status", "bad_response", "target_error"]


def run_stream(run_id: str) -> str:
    """The stream id of the eval run ``run_id``."""
    return f"eval-run:{run_id}"


def new_run_id(now: _dt.datetime | None = None) -> str:
    """A new, sortable, readable run id: ``20250131-142502-7f3a9c``."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    return f"{now:%Y%m%d-%H%M%S}-{os.urandom(3).hex()}"


def rollout_event_id(run_id: str, case_id: str, epoch: int, attempt: int) -> str:
    """Contract: the same (run, case, epoch, attempt) always gives the same event id (a UUIDv5).

    The writer supplies it to the event store, so re-appending an outcome is a no-op.
    """
    return str(uuid.uuid5(ROLLOUT_NAMESPACE, f"{run_id}\x1f{case_id}\x1f{epoch}\x1f{attempt}"))


def verdict_event_id(run_id: str, session: str, event: VerdictRecorded) -> str:
    """Contract: the same (run, scoring session, scorer, case, epoch, repeat) always gives the same id.

    ``session`` names one scoring pass: ``attempt-N`` while a run scores rollout
    attempt N as it completes, a fresh id per ``eval rescore``.
    """
    key = "\x1f".join(
        (run_id, session, event.scorer, event.case_id, str(event.epoch), str(event.repeat))
    )
    return str(uuid.uuid5(VERDICT_NAMESPACE, key))


def event_ids_for(command: Command, events: Sequence[Event]) -> list[str | None]:
    """The deterministic ids of the events ``command`` produced (``None`` where the store picks one)."""
    run_id = command.stream_id().removeprefix("eval-run:")
    if isinstance(command, RecordVerdicts):
        return [
            verdict_event_id(run_id, command.session, e) if isinstance(e, VerdictRecorded) else None
            for e in events
        ]
    return [event_id_for(run_id, e) for e in events]


def event_id_for(run_id: str, event: Event) -> str | None:
    """The deterministic event id of a rollout event; ``None`` for other events (the store picks one)."""
    if isinstance(event, (RolloutCompleted, RolloutFailed)):
        return rollout_event_id(run_id, event.case_id, event.epoch, event.attempt)
    return None


def rollout_seed(base_seed: int, case_id: str, epoch: int) -> int:
    """Contract: a stable 31-bit seed per (base seed, case, epoch), equal across runs with the same base."""
    digest = hashlib.sha256(f"{base_seed}\x1f{case_id}\x1f{epoch}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def blob_of(value: Any) -> tuple[str, bytes]:
    """``(sha256 hex, bytes)`` of a value's canonical JSON, as stored in the blobs table."""
    data = canonical_json(value).encode("utf-8")
    return hashlib.sha256(data).hexdigest(), data


def inline_or_blob(
    value: Any, limit: int = INLINE_OUTPUT_LIMIT
) -> tuple[Any, str | None, bytes | None]:
    """``(value, None, None)`` if its canonical JSON fits in ``limit`` bytes, else ``(None, hash, bytes)``."""
    digest, data = blob_of(value)
    if len(data) <= limit:
        return value, None, None
    return None, digest, data


# --------------------------------------------------------------------------- prices and cost


class Price(Value):
    """USD per million input (prompt) and output (completion) tokens."""

    input_per_million: float = Field(ge=0)
    output_per_million: float = Field(ge=0)

    @field_validator("input_per_million", "output_per_million")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v


PriceTable = Mapping[str, Price]


def parse_price(text: str) -> tuple[str, Price]:
    """Parse ``MODEL=INPUT/OUTPUT`` (USD per million tokens), e.g. ``gpt-4o-mini=0.15/0.6``.

    ``*`` as the model prices every model the table does not name.
    """
    m = re.fullmatch(r"\s*([^=\s]+)\s*=\s*([0-9]*\.?[0-9]+)\s*/\s*([0-9]*\.?[0-9]+)\s*", text)
    if not m:
        raise InvalidCommand(
            f"price {text!r} is not valid; write MODEL=INPUT/OUTPUT in USD per million tokens, "
            "e.g. gpt-4o-mini=0.15/0.6"
        )
    return m.group(1), Price(
        input_per_million=float(m.group(2)), output_per_million=float(m.group(3))
    )


#: relative float-rounding tolerance of :func:`budget_spent`
BUDGET_TOLERANCE = 1e-9


def price_for(prices: PriceTable, model: str | None) -> Price | None:
    """The price of ``model``: its own entry, else the ``*`` entry, else ``None``."""
    if model is not None and model in prices:
        return prices[model]
    return prices.get("*")


def token_cost(prompt_tokens: int | None, completion_tokens: int | None, price: Price) -> float:
    """Contract: USD = prompt_tokens × input price / 1e6 + completion_tokens × output price / 1e6."""
    return (
        (prompt_tokens or 0) * price.input_per_million
        + (completion_tokens or 0) * price.output_per_million
    ) / 1e6


def rollout_cost(
    prompt_tokens: int | None,
    completion_tokens: int | None,
    model: str | None,
    prices: PriceTable,
    reported_usd: float | None = None,
) -> float | None:
    """A rollout's cost: what the target reported, else usage × the model's price, else ``None``."""
    if reported_usd is not None:
        return reported_usd
    if prompt_tokens is None and completion_tokens is None:
        return None
    price = price_for(prices, model)
    if price is None:
        return None
    return token_cost(prompt_tokens, completion_tokens, price)


def budget_spent(spent_usd: float, budget_usd: float) -> bool:
    """Contract: whether ``spent_usd`` has reached ``budget_usd``, up to float rounding.

    Costs are sums of floats (ten rollouts of $0.005 add up to 0.049999…), so a
    budget counts as spent within a billionth of it (of a dollar, or of the budget
    when it is larger); otherwise one more rollout would overshoot it.
    """
    return spent_usd >= budget_usd - BUDGET_TOLERANCE * max(1.0, abs(budget_usd))


# --------------------------------------------------------------------------- secrets

_SECRET_PARTS = {
    "secret",
    "secrets",
    "password",
    "passwd",
    "token",
    "authorization",
    "cookie",
    "credential",
    "credentials",
    "bearer",
}
_SECRET_KEYS = {"apikey", "xapikey", "key", "accesskey", "privatekey", "auth", "proxyauthorization"}


def looks_secret(key: str) -> bool:
    """Whether a config key or header name usually holds a secret (``api_key``, ``Authorization`` …).

    Keys naming where a secret lives (``api_key_env``, ``api_key_header``) are not secrets.
    """
    k = key.lower()
    parts = [p for p in re.split(r"[^a-z0-9]+", k) if p]
    if parts and parts[-1] in ("env", "var", "header", "name"):
        return False
    return bool(_SECRET_PARTS & set(parts)) or "".join(parts) in _SECRET_KEYS


def find_secrets(config: Any, path: str = "") -> list[str]:
    """Paths in a target description whose values look like secrets that were not redacted."""
    found: list[str] = []
    if isinstance(config, Mapping):
        for key, value in config.items():
            where = f"{path}.{key}" if path else str(key)
            if looks_secret(str(key)) and isinstance(value, str) and value not in ("", REDACTED):
                found.append(where)
            else:
                found.extend(find_secrets(value, where))
    elif isinstance(config, (list, tuple)):
        for i, value in enumerate(config):
            found.extend(find_secrets(value, f"{path}[{i}]"))
    return found


# --------------------------------------------------------------------------- values


class RunSettings(Value):
    """How a run is executed; recorded in :class:`RunStarted`."""

    epochs: int = Field(default=1, ge=1, le=10_000)
    concurrency: int = Field(default=10, ge=1, le=10_000)
    timeout_s: float = Field(default=60.0, gt=0)
    retries: int = Field(default=3, ge=0, le=100)
    budget_usd: float | None = Field(default=None, ge=0)
    prices: dict[str, Price] = Field(default_factory=dict)
    seed: int = 0
    #: passed through to HTTP task apps as ``policy`` (e.g. the model an agent should use)
    policy: dict[str, Any] = Field(default_factory=dict)
    #: scorer specs (``--scorer``) run on each rollout as it completes; resume uses them again
    scorers: tuple[str, ...] = ()
    judge_repeats: int = Field(default=1, ge=1, le=100)
    #: the run config's ``[judges.NAME]`` tables (``judge:NAME`` scorers read them; resume
    #: and rescore use them again); checked by ``runners.judge_openai.judge_config``
    judges: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("timeout_s")
    @classmethod
    def _finite_timeout(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("must be a finite number of seconds")
        return v


class CompletedRollout(Value):
    """What came back from one successful rollout attempt."""

    case_id: str
    epoch: int = Field(ge=1)
    attempt: int = Field(default=1, ge=1)
    #: the output when small; otherwise ``output_blob`` names it in the blobs table
    output: Any = None
    output_blob: str | None = None
    #: seconds from request sent to response received, for the try that succeeded
    latency_s: float = Field(ge=0)
    prompt_tokens: int | None = Field(default=None, ge=0)
    completion_tokens: int | None = Field(default=None, ge=0)
    cost_usd: float | None = Field(default=None, ge=0)
    score: float | None = None
    reward: float | None = None
    trace_blob: str | None = None
    model: str | None = None
    #: requests made in this attempt (1 + retries used)
    tries: int = Field(default=1, ge=1)
    #: further numbers the target reported (a synth-ai task app's outcome_score, events_score,
    #: verifier_score, reward_mean), by name; absent when it reported none
    metrics: dict[str, float] | None = None
    #: True when the reply came from the response cache, not from a call (then ``latency_s``
    #: is 0 and not a measurement, and ``tries`` is 1); absent (read as False) otherwise
    cached: bool | None = None

    @field_validator("latency_s", "cost_usd", "score", "reward")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError(f"must be a finite number, not {v!r}")
        return v

    @field_validator("metrics")
    @classmethod
    def _finite_metrics(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        for name, value in (v or {}).items():
            if not math.isfinite(value):
                raise ValueError(f"metric {name!r} must be a finite number, not {value!r}")
        return v

    @field_validator("cached")
    @classmethod
    def _cached(cls, v: bool | None) -> bool | None:
        return True if v else None


class FailedRollout(Value):
    """Why one rollout attempt failed after its retries."""

    case_id: str
    epoch: int = Field(ge=1)
    attempt: int = Field(default=1, ge=1)
    error: str
    error_kind: ErrorKind
    tries: int = Field(default=1, ge=1)
    #: seconds of the last try, when a response (even an error) came back
    latency_s: float | None = Field(default=None, ge=0)
    status_code: int | None = None


# --------------------------------------------------------------------------- events


class RunStarted(Event):
    """An eval run was started: what is evaluated, on which suite version, how."""

    run_id: str
    name: str
    suite: str
    suite_version: int = Field(ge=1)
    suite_hash: str
    #: the suite's case ids in order, so the run alone knows which rollouts are pending
    case_ids: tuple[str, ...]
    #: the target's description, without secrets
    target: dict[str, Any]
    settings: RunSettings
    trialbook_version: str
    git_sha: str | None = None
    #: each scorer's description (``Scorer.describe()``), without secrets
    scorers: tuple[dict[str, Any], ...] = ()


class RolloutCompleted(CompletedRollout, Event):
    """One rollout attempt came back with an output."""


class RolloutFailed(FailedRollout, Event):
    """One rollout attempt failed after its retries; the run went on."""


class RunInterrupted(Event):
    """The run stopped before every rollout had an outcome (Ctrl-C, budget, crash noticed)."""

    reason: str


class RunResumed(Event):
    """The run was taken up again to run its pending (or only its failed) rollouts."""

    mode: ResumeMode = "resume"
    concurrency: int | None = Field(default=None, ge=1)
    #: a new total budget for the run (USD), replacing the one it started with
    budget_usd: float | None = Field(default=None, ge=0)
    trialbook_version: str | None = None
    git_sha: str | None = None


class RunFinished(Event):
    """Every (case, epoch) pair of the run has an outcome."""

    completed: int = Field(ge=0)
    failed: int = Field(ge=0)
    attempts: int = Field(ge=0)
    cost_usd: float | None = Field(default=None, ge=0)
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)


# --------------------------------------------------------------------------- commands


def _check_run_id(v: str) -> str:
    v = v.strip()
    if not RUN_ID_RE.match(v):
        raise ValueError(f"run id {v!r} is not valid; {RUN_ID_RULE}")
    return v


class StartRun(Command):
    """Start an eval run of a suite version against a target. Build it with :func:`plan_run`."""

    run_id: str
    name: str | None = None
    suite: str
    suite_version: int = Field(ge=1)
    suite_hash: str
    case_ids: tuple[str, ...]
    target: dict[str, Any]
    settings: RunSettings = Field(default_factory=RunSettings)
    trialbook_version: str
    git_sha: str | None = None
    scorers: tuple[dict[str, Any], ...] = ()

    @field_validator("run_id")
    @classmethod
    def _run_id(cls, v: str) -> str:
        return _check_run_id(v)

    @field_validator("suite")
    @classmethod
    def _suite(cls, v: str) -> str:
        return check_suite_name(v)

    @model_validator(mode="after")
    def _checks(self) -> StartRun:
        if not self.case_ids:
            raise ValueError("the run has no cases; register a suite with cases first")
        if len(set(self.case_ids)) != len(self.case_ids):
            raise ValueError("case ids must be unique")
        secrets = find_secrets({"target": self.target, "scorers": list(self.scorers)})
        if secrets:
            raise ValueError(
                f"the target description holds a secret at {secrets[0]!r}; "
                "name an environment variable instead (e.g. api_key_env)"
            )
        try:
            canonical_json(self.target)
        except (TypeError, ValueError) as e:
            raise ValueError(f"the target description must be plain JSON: {e}") from None
        return self

    def stream_id(self) -> str:
        return run_stream(self.run_id)


class RecordRollouts(Command):
    """Record rollout outcomes; outcomes already recorded are skipped, so replays are harmless."""

    run_id: str
    rollouts: tuple[CompletedRollout | FailedRollout, ...]

    def stream_id(self) -> str:
        return run_stream(self.run_id)


class InterruptRun(Command):
    """Mark a run as stopped before completion; it stays resumable."""

    run_id: str
    reason: str = "interrupted"

    def stream_id(self) -> str:
        return run_stream(self.run_id)


class ResumeRun(Command):
    """Take a run up again: ``resume`` runs every pair without a completed rollout, ``retry-failed`` only failed ones."""

    run_id: str
    mode: ResumeMode = "resume"
    concurrency: int | None = Field(default=None, ge=1)
    #: a new total budget for the run (USD), replacing the one it started with
    budget_usd: float | None = Field(default=None, ge=0)
    trialbook_version: str | None = None
    git_sha: str | None = None

    def stream_id(self) -> str:
        return run_stream(self.run_id)


class RecordVerdicts(Command):
    """Record scorers' verdicts on a run's rollouts (as a run goes, or by ``eval rescore``).

    ``session`` names the scoring pass; with :func:`event_ids_for` it makes re-recording harmless.
    """

    run_id: str
    session: str
    verdicts: tuple[VerdictRecorded, ...]

    def stream_id(self) -> str:
        return run_stream(self.run_id)


class FinishRun(Command):
    """Close a run whose every (case, epoch) pair has an outcome."""

    run_id: str

    def stream_id(self) -> str:
        return run_stream(self.run_id)


# --------------------------------------------------------------------------- run state


@dataclass
class RolloutRecord:
    """The latest outcome of one (case, epoch) pair."""

    case_id: str
    epoch: int
    attempt: int
    ok: bool
    latency_s: float | None = None
    score: float | None = None
    reward: float | None = None
    cost_usd: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str | None = None
    error_kind: str | None = None


@dataclass(frozen=True)
class PendingRollout:
    """A (case, epoch) pair to run, and the attempt number its outcome will carry."""

    case_id: str
    epoch: int
    attempt: int


@dataclass
class EvalRunState:
    """What the decision function and resume need to know about one run.

    Mutable on purpose: :func:`evolve` updates it in place so folding a long run stays linear.
    """

    run_id: str | None = None
    name: str | None = None
    suite: str | None = None
    suite_version: int = 0
    suite_hash: str | None = None
    case_ids: tuple[str, ...] = ()
    target: dict[str, Any] = field(default_factory=dict)
    settings: RunSettings = field(default_factory=RunSettings)
    status: RunStatus = "none"
    #: latest outcome per (case_id, epoch)
    rollouts: dict[tuple[str, int], RolloutRecord] = field(default_factory=dict)
    #: highest attempt recorded per (case_id, epoch)
    attempts: dict[tuple[str, int], int] = field(default_factory=dict)
    attempts_total: int = 0
    interruptions: int = 0
    last_interrupt_reason: str | None = None
    scorers: tuple[dict[str, Any], ...] = ()
    _case_set: frozenset[str] = frozenset()

    @property
    def exists(self) -> bool:
        return self.run_id is not None

    @property
    def total(self) -> int:
        """Number of (case, epoch) pairs in the run."""
        return len(self.case_ids) * self.settings.epochs

    @property
    def completed(self) -> int:
        return sum(1 for r in self.rollouts.values() if r.ok)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.rollouts.values() if not r.ok)

    @property
    def pending(self) -> int:
        return self.total - len(self.rollouts)

    @property
    def cost_usd(self) -> float | None:
        costs = [r.cost_usd for r in self.rollouts.values() if r.cost_usd is not None]
        return sum(costs) if costs else None

    def has_case(self, case_id: str) -> bool:
        return case_id in self._case_set

    def copy(self) -> EvalRunState:
        """An independent copy (the fold updates states in place)."""
        return replace(
            self,
            rollouts={k: replace(v) for k, v in self.rollouts.items()},
            attempts=dict(self.attempts),
        )


def pending_rollouts(state: EvalRunState, *, only_failed: bool = False) -> list[PendingRollout]:
    """The rollouts to run, epoch by epoch in suite order.

    Default (``resume``): every (case, epoch) pair without a completed rollout —
    never started, in flight when the run stopped, or failed. ``only_failed``
    (``retry-failed``): only pairs whose latest outcome is a failure. Each pair's
    ``attempt`` is one more than the highest attempt recorded for it.
    """
    out = []
    for epoch in range(1, state.settings.epochs + 1):
        for case_id in state.case_ids:
            key = (case_id, epoch)
            record = state.rollouts.get(key)
            if record is not None and record.ok:
                continue
            if only_failed and record is None:
                continue
            out.append(PendingRollout(case_id, epoch, state.attempts.get(key, 0) + 1))
    return out


@singledispatch
def evolve_run(event: Event, state: EvalRunState) -> EvalRunState:
    """Fold one event into a run's state (in place; see the module docstring)."""
    return state


@evolve_run.register
def _(event: RunStarted, state: EvalRunState) -> EvalRunState:
    return EvalRunState(
        run_id=event.run_id,
        name=event.name,
        suite=event.suite,
        suite_version=event.suite_version,
        suite_hash=event.suite_hash,
        case_ids=event.case_ids,
        target=dict(event.target),
        settings=event.settings,
        status="running",
        scorers=event.scorers,
        _case_set=frozenset(event.case_ids),
    )


def _note_attempt(state: EvalRunState, key: tuple[str, int], attempt: int) -> None:
    state.attempts[key] = max(state.attempts.get(key, 0), attempt)
    state.attempts_total += 1


@evolve_run.register
def _(event: RolloutCompleted, state: EvalRunState) -> EvalRunState:
    key = (event.case_id, event.epoch)
    _note_attempt(state, key, event.attempt)
    state.rollouts[key] = RolloutRecord(
        case_id=event.case_id,
        epoch=event.epoch,
        attempt=event.attempt,
        ok=True,
        latency_s=event.latency_s,
        score=event.score,
        reward=event.reward,
        cost_usd=event.cost_usd,
        prompt_tokens=event.prompt_tokens,
        completion_tokens=event.completion_tokens,
    )
    return state


@evolve_run.register
def _(event: RolloutFailed, state: EvalRunState) -> EvalRunState:
    key = (event.case_id, event.epoch)
    _note_attempt(state, key, event.attempt)
    current = state.rollouts.get(key)
    if current is None or not current.ok:  # a completed pair stays completed
        state.rollouts[key] = RolloutRecord(
            case_id=event.case_id,
            epoch=event.epoch,
            attempt=event.attempt,
            ok=False,
            latency_s=event.latency_s,
            error=event.error,
            error_kind=event.error_kind,
        )
    return state


@evolve_run.register
def _(event: RunInterrupted, state: EvalRunState) -> EvalRunState:
    state.status = "interrupted"
    state.interruptions += 1
    state.last_interrupt_reason = event.reason
    return state


@evolve_run.register
def _(event: RunResumed, state: EvalRunState) -> EvalRunState:
    state.status = "running"
    if event.budget_usd is not None:
        state.settings = state.settings.model_copy(update={"budget_usd": event.budget_usd})
    return state


@evolve_run.register
def _(event: RunFinished, state: EvalRunState) -> EvalRunState:
    state.status = "finished"
    return state


def _require_run(state: EvalRunState, run_id: str) -> None:
    if not state.exists:
        raise NotFound(f"no eval run {run_id!r}; see `trialbook eval list`")


@singledispatch
def decide_run(command: Command, state: EvalRunState) -> Sequence[Event]:
    """The events an eval-run command produces in the given state, or a DomainError."""
    raise TypeError(f"no eval-run handler for {type(command).__name__}")


@decide_run.register
def _(command: StartRun, state: EvalRunState) -> Sequence[Event]:
    if state.exists:
        raise StateConflict(
            f"eval run {command.run_id!r} already exists; resume it with `trialbook eval resume {command.run_id}`"
        )
    return [
        RunStarted(
            run_id=command.run_id,
            name=command.name or command.run_id,
            suite=command.suite,
            suite_version=command.suite_version,
            suite_hash=command.suite_hash,
            case_ids=command.case_ids,
            target=command.target,
            settings=command.settings,
            trialbook_version=command.trialbook_version,
            git_sha=command.git_sha,
            scorers=command.scorers,
        )
    ]


@decide_run.register
def _(command: RecordRollouts, state: EvalRunState) -> Sequence[Event]:
    _require_run(state, command.run_id)
    if state.status == "finished":
        raise StateConflict(
            f"eval run {command.run_id!r} is finished; re-run its failed rollouts with "
            f"`trialbook eval retry-failed {command.run_id}`"
        )
    events: list[Event] = []
    seen: dict[tuple[str, int], int] = {}
    completed_now: set[tuple[str, int]] = set()
    for r in command.rollouts:
        if not state.has_case(r.case_id):
            raise InvalidCommand(
                f"case {r.case_id!r} is not in run {command.run_id!r} (suite {state.suite} v{state.suite_version})"
            )
        if r.epoch > state.settings.epochs:
            raise InvalidCommand(
                f"epoch {r.epoch} is beyond the run's {state.settings.epochs} epoch(s) (case {r.case_id!r})"
            )
        key = (r.case_id, r.epoch)
        record = state.rollouts.get(key)
        if (record is not None and record.ok) or key in completed_now:
            continue  # already completed: never record a second completion
        if r.attempt <= max(state.attempts.get(key, 0), seen.get(key, 0)):
            continue  # this attempt is already recorded (a replayed batch)
        seen[key] = r.attempt
        if isinstance(r, CompletedRollout):
            completed_now.add(key)
            events.append(RolloutCompleted(**r.model_dump()))
        else:
            events.append(RolloutFailed(**r.model_dump()))
    return events


@decide_run.register
def _(command: RecordVerdicts, state: EvalRunState) -> Sequence[Event]:
    _require_run(state, command.run_id)
    for v in command.verdicts:
        if v.run_id != command.run_id:
            raise InvalidCommand(
                f"a verdict of run {v.run_id!r} cannot be recorded in run {command.run_id!r}"
            )
        if not state.has_case(v.case_id) or not 1 <= v.epoch <= state.settings.epochs:
            raise InvalidCommand(
                f"run {command.run_id!r} has no rollout of case {v.case_id!r} epoch {v.epoch}"
            )
        record = state.rollouts.get((v.case_id, v.epoch))
        if record is None or not record.ok:
            raise InvalidCommand(
                f"case {v.case_id!r} epoch {v.epoch} of run {command.run_id!r} has no completed rollout to score"
            )
    return list(command.verdicts)


@decide_run.register
def _(command: InterruptRun, state: EvalRunState) -> Sequence[Event]:
    _require_run(state, command.run_id)
    if state.status == "finished":
        raise StateConflict(
            f"eval run {command.run_id!r} is finished; there is nothing to interrupt"
        )
    if state.status == "interrupted":
        return []
    return [RunInterrupted(reason=command.reason)]


@decide_run.register
def _(command: ResumeRun, state: EvalRunState) -> Sequence[Event]:
    _require_run(state, command.run_id)
    if command.mode == "retry-failed":
        if state.failed == 0:
            raise StateConflict(f"eval run {command.run_id!r} has no failed rollouts to retry")
    elif state.status == "finished":
        hint = (
            f"; re-run its failed rollouts with `trialbook eval retry-failed {command.run_id}`"
            if state.failed
            else ""
        )
        raise StateConflict(f"eval run {command.run_id!r} is finished: nothing is pending{hint}")
    return [
        RunResumed(
            mode=command.mode,
            concurrency=command.concurrency,
            budget_usd=command.budget_usd,
            trialbook_version=command.trialbook_version,
            git_sha=command.git_sha,
        )
    ]


@decide_run.register
def _(command: FinishRun, state: EvalRunState) -> Sequence[Event]:
    _require_run(state, command.run_id)
    if state.status == "finished":
        return []
    if state.pending:
        raise StateConflict(
            f"eval run {command.run_id!r} still has {state.pending} pending rollout(s); "
            f"run them with `trialbook eval resume {command.run_id}`"
        )
    records = state.rollouts.values()
    return [
        RunFinished(
            completed=state.completed,
            failed=state.failed,
            attempts=state.attempts_total,
            cost_usd=state.cost_usd,
            prompt_tokens=sum(r.prompt_tokens or 0 for r in records),
            completion_tokens=sum(r.completion_tokens or 0 for r in records),
        )
    ]


def plan_run(
    suite: SuiteState,
    *,
    run_id: str,
    target: dict[str, Any],
    trialbook_version: str,
    version: int | None = None,
    settings: RunSettings | None = None,
    name: str | None = None,
    git_sha: str | None = None,
    scorers: Sequence[Mapping[str, Any]] = (),
) -> StartRun:
    """The :class:`StartRun` command for running ``suite`` (its latest or given version)."""
    v = suite.version(version)
    return StartRun(
        run_id=run_id,
        name=name,
        suite=suite.name or "",
        suite_version=v.version,
        suite_hash=v.hash,
        case_ids=tuple(c.id for c in v.cases),
        target=target,
        settings=settings or RunSettings(),
        trialbook_version=trialbook_version,
        git_sha=git_sha,
        scorers=tuple(dict(s) for s in scorers),
    )


class EvalRunAggregate:
    """The eval-run aggregate, as the ledger sees it.

    Supply :func:`event_id_for` ids when appending rollout events so replays are no-ops.
    """

    state_version = 1
    #: a snapshot holds every rollout, so the ledger spaces them out as the run grows
    #: (``ledger.ledger.snapshot_due``): recording stays flat in the run's size
    snapshot_grows = True

    def initial(self) -> EvalRunState:
        return EvalRunState()

    def evolve(self, state: EvalRunState, event: Event) -> EvalRunState:
        return evolve_run(event, state)

    def decide(self, state: EvalRunState, command: Command) -> Sequence[Event]:
        return decide_run(command, state)

    def snapshot(self, state: EvalRunState) -> dict[str, Any]:
        return {
            "run_id": state.run_id,
            "name": state.name,
            "suite": state.suite,
            "suite_version": state.suite_version,
            "suite_hash": state.suite_hash,
            "case_ids": list(state.case_ids),
            "target": state.target,
            "settings": state.settings.model_dump(mode="json"),
            "status": state.status,
            "rollouts": [vars(r) for r in state.rollouts.values()],
            "attempts": [[c, e, a] for (c, e), a in state.attempts.items()],
            "attempts_total": state.attempts_total,
            "interruptions": state.interruptions,
            "last_interrupt_reason": state.last_interrupt_reason,
            "scorers": list(state.scorers),
        }

    def restore(self, data: dict[str, Any]) -> EvalRunState:
        rollouts = [RolloutRecord(**r) for r in data["rollouts"]]
        return EvalRunState(
            run_id=data["run_id"],
            name=data["name"],
            suite=data["suite"],
            suite_version=data["suite_version"],
            suite_hash=data["suite_hash"],
            case_ids=tuple(data["case_ids"]),
            target=data["target"],
            settings=RunSettings.model_validate(data["settings"]),
            status=data["status"],
            rollouts={(r.case_id, r.epoch): r for r in rollouts},
            attempts={(c, e): a for c, e, a in data["attempts"]},
            attempts_total=data["attempts_total"],
            interruptions=data["interruptions"],
            last_interrupt_reason=data["last_interrupt_reason"],
            scorers=tuple(data.get("scorers", ())),
            _case_set=frozenset(data["case_ids"]),
        )


EVAL_RUNS = EvalRunAggregate()
for _cmd in (StartRun, RecordRollouts, RecordVerdicts, InterruptRun, ResumeRun, FinishRun):
    _cmd.aggregate = EVAL_RUNS
