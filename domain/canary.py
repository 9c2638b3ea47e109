"""Canary rollouts: events, commands, state, sticky assignment and the pure decision function.

Stream: ``canary:<name>``. A canary sends a growing share of units (users,
sessions, …) to a candidate instead of the control, stage by stage
(10 % → 50 % → 100 % by default). Results are recorded against the canary with
the stage they ran under; guardrails compare the candidate with the control on
those results, and the recorded decisions (advance, halt, roll back, complete)
carry the analysis they rest on and the log position it saw.

Assignment is a pure function of the canary's salt and the unit id::

    bucket = int(sha256(salt + ":" + unit_id).hexdigest()[:8], 16) % 10000
    candidate  iff  bucket < stage_percent * 100

so it needs no write and no lookup, never changes for a unit (the salt is fixed
at creation), and is monotone: a unit in the candidate at 10 % is in it at 50 %
and 100 %. A halted or rolled-back canary sends every unit to the control, a
completed one every unit to the candidate.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import singledispatch
from typing import Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    field_validator,
    model_validator,
)

from trialbook.domain.ab import (
    MAX_COUNT,
    Guardrail,
    ResultFields,
    UnreadableEvent,
    check_measures,
    check_name,
    check_text,
    decision_data,
    optional_note,
    result_source,
)
from trialbook.domain.commands import Command, explain
from trialbook.domain.errors import AlreadyExists, InvalidCommand, NotFound, StateConflict
from trialbook.domain.events import Event
from trialbook.domain.metrics import METRICS, Metric, metric_named

#: buckets a unit can fall in; a stage of p % sends buckets 0 … p·100 − 1 to the candidate
BUCKETS = 10_000
DEFAULT_STAGES: tuple[int | float, ...] = (10, 50, 100)
#: candidate results each stage needs before the canary moves on (see docs/canary.md for
#: what this detects: the simulations there were run with it)
DEFAULT_MIN_RESULTS = 400
#: the version of the canary statistics and stage rule; recorded with every decision
METHOD_VERSION = "canary-1.0"
#: a data-quality alert (sample-ratio mismatch) blocks the canary below this p-value
ALERT_P = 0.001

Status = Literal["running", "halted", "rolled_back", "completed"]
Action = Literal["advance", "halt", "rollback", "complete"]


def stream_for(name: str) -> str:
    """The stream id of the canary called ``name``."""
    return f"canary:{name}"


# --------------------------------------------------------------------------- assignment


def bucket(salt: str, unit_id: str) -> int:
    """The bucket (0 … 9999) of ``unit_id`` under ``salt``.

    Contract: ``int(sha256((salt + ":" + unit_id).encode()).hexdigest()[:8], 16) % 10000``,
    computed from the digest's first four bytes (the same number). Never changes
    for the same salt and unit id, in any process or on any machine.
    """
    digest = hashlib.sha256(f"{salt}:{unit_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % BUCKETS


def threshold(percent: float) -> int:
    """The buckets a stage of ``percent`` % sends to the candidate: ``bucket < threshold``."""
    return round(percent * BUCKETS / 100)


def assigned(state: CanaryState, unit_id: str, stage: int | None = None) -> str:
    """The variant ``unit_id`` gets at ``stage`` (1-based; default: what applies now)."""
    limit = state.threshold if stage is None else threshold(state.stages[stage - 1])
    return state.candidate if bucket(state.salt, unit_id) < limit else state.control


def unit_text(unit_id: Any) -> str:
    """A unit id as the text that is hashed: a non-empty string, or an int in decimal.

    Anything else raises ``InvalidCommand`` (a float or a bool would hash
    differently from what the router means by it).
    """
    if isinstance(unit_id, str):
        text = unit_id
    elif isinstance(unit_id, int) and not isinstance(unit_id, bool):
        text = str(unit_id)
    else:
        raise InvalidCommand(
            f"a unit id is text or a whole number, not {type(unit_id).__name__} ({unit_id!r})"
        )
    if not text:
        raise InvalidCommand("the unit id is empty; give the id of the user or session")
    try:
        check_text(text, "unit id")
    except ValueError as e:
        raise InvalidCommand(str(e)) from None
    return text


# --------------------------------------------------------------------------- values


def number(x: float) -> float:
    """``x`` as an int when it is whole (``10`` rather than ``10.0`` in the log)."""
    return int(x) if float(x).is_integer() else float(x)


def percent_text(p: float) -> str:
    """``10%``, ``0.5%``."""
    return f"{number(p):g}%"


def parse_stages(text: str) -> tuple[float, ...]:
    """``"10,50,100"`` → ``(10, 50, 100)``; ``%`` signs are allowed. ``ValueError`` names the bad item."""
    out: list[float] = []
    for i, item in enumerate(text.split(","), start=1):
        item = item.strip().removesuffix("%").strip()
        if not item:
            raise ValueError(f"stage {i} is empty; write percentages like 10,50,100")
        try:
            value = float(item)
        except ValueError:
            raise ValueError(
                f"stage {item!r} is not a number; write percentages like 10,50,100"
            ) from None
        out.append(value)
    return tuple(out)


def check_stages(stages: Sequence[float]) -> tuple[float, ...]:
    """Stages as stored, or a ``ValueError``: increasing percentages in (0, 100], 0.01 % steps."""
    if not stages:
        raise ValueError("a canary needs at least one stage, e.g. --stages 10,50,100")
    out: list[float] = []
    for p in stages:
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not math.isfinite(p):
            raise ValueError(f"stage {p!r} is not a number; write percentages like 10,50,100")
        if not 0 < p <= 100:
            raise ValueError(
                f"stage {number(p):g}% is outside (0, 100]; each stage is the percentage of "
                "units sent to the candidate, e.g. --stages 10,50,100"
            )
        if abs(p * 100 - round(p * 100)) > 1e-6:
            raise ValueError(
                f"stage {p:g}% is finer than a bucket (0.01%); round it to two decimals"
            )
        if out and p <= out[-1]:
            raise ValueError(
                f"stages must increase: {number(p):g}% comes after {number(out[-1]):g}%; "
                "write them in order, e.g. --stages 10,50,100"
            )
        out.append(number(round(p, 2)))
    return tuple(out)


#: metrics whose differences are shares: a limit in percentage points (``+2pp``) makes sense
PROPORTION_KINDS = ("binary", "rate")


def is_proportion(metric: Metric) -> bool:
    """Whether differences of ``metric`` are shares (success, error and tool success rates,
    failed-call ratio)."""
    return metric.kind in PROPORTION_KINDS or metric.name == "failed_call_ratio"


def unknown_metric(name: str, what: str) -> InvalidCommand:
    close = difflib.get_close_matches(name, METRICS, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return InvalidCommand(
        f"{what} {name!r} is unknown{hint}; a canary watches one of: {', '.join(METRICS)}"
    )


def _units_normalised(text: str) -> str:
    """A guardrail text with its limit in the canonical form :func:`parse_guardrail` reads.

    ``completion_time:+30s`` becomes ``completion_time:+30.0``, ``cost:+3c``
    ``cost:+0.03``, ``error_rate:+2 points`` ``error_rate:+2pp``; a bare number of 1 or
    more on a proportion (``error_rate:+5``, 500 points) is refused, as ``--mde`` refuses
    it. A quantile's limit is in its metric's units (``completion_time:p95:+30s``), as
    ``ab create`` reads it. Any other text is passed on unchanged: the parser names what
    is wrong.
    """
    from trialbook.domain import units

    m = re.fullmatch(r"\s*([a-z][a-z0-9_]*)((?::p[0-9.]+)?)\s*:(.*)", text, re.DOTALL)
    if not m or m.group(1) not in METRICS:
        return text
    name, quantile, limit = m.groups()
    try:
        margin = units.parse_margin(limit, name, allow_zero=True)
    except units.UnitError as e:
        bare = re.fullmatch(r"\s*\+?\s*[0-9]*\.?[0-9]+\s*", limit)
        if units.is_proportion(name) and not quantile and bare:
            raise InvalidCommand(f"guardrail {name}: {e}") from None
        return text
    return f"{name}{quantile}:+{margin.text}"


def parse_guardrail(text: str) -> Guardrail:
    """``error_rate:+2pp`` (points), ``completion_time:+10%`` (relative) or ``cost:+0.02`` (units).

    The limit is the largest worsening of the candidate against the control that
    is tolerated; ``success:+0`` tolerates none. The limit may be given in any unit a
    margin takes (``30s``, ``3c``, ``2 points``). ``InvalidCommand`` names what is wrong.
    """
    text = _units_normalised(text)
    m = re.fullmatch(
        r"\s*([a-z][a-z0-9_]*(?::p[0-9.]+)?)\s*:\s*\+?\s*([0-9]*\.?[0-9]+)\s*(%|pp|points?)?\s*",
        text,
    )
    if not m:
        raise InvalidCommand(
            f"guardrail {text!r} is not valid; write METRIC:+N (units), METRIC:+Npp (points) or "
            "METRIC:+N% (relative), e.g. error_rate:+2pp"
        )
    name, value_text, unit = m.groups()
    metric = watched_metric(name)
    if metric is None:
        raise unknown_metric(name, "guardrail metric")
    value = float(value_text)
    if not math.isfinite(value):
        raise InvalidCommand(f"guardrail {name}: its limit is too large to be a number")
    if unit and unit != "%" and not is_proportion(metric):
        raise InvalidCommand(
            f"guardrail {name}: percentage points are for rates and shares (success, error_rate, "
            f"tool_success_rate, failed_call_ratio); write {name}:+10% (relative) or {name}:+{value:g} (units)"
        )
    if unit == "%":
        return Guardrail(metric=name, limit=value / 100, relative=True)
    return Guardrail(metric=name, limit=value / 100 if unit else value, relative=False)


def watched_metric(name: str) -> Metric | None:
    """The catalogue's metric ``name``, or a quantile of one (``completion_time:p95``: a guardrail
    or the primary metric); None when it is neither. A bad percentile raises ``InvalidCommand``."""
    if name in METRICS:
        return METRICS[name]
    if ":p" not in name or name.split(":")[0] not in METRICS:
        return None
    try:
        return metric_named(name)
    except ValueError as e:
        raise InvalidCommand(f"guardrail: {e}") from None


def guardrail_text(g: Guardrail) -> str:
    """A guardrail as it is written: ``error_rate:+2pp``, ``completion_time:+10%``, ``cost:+0.02``."""
    metric = watched_metric(g.metric) or METRICS[g.metric]
    if g.relative:
        return f"{g.metric}:+{g.limit * 100:g}%"
    if is_proportion(metric):
        return f"{g.metric}:+{g.limit * 100:g}pp"
    return f"{g.metric}:+{g.limit:g}"


def default_expected_results(stages: Sequence[float], min_results: int) -> int:
    """Results (both arms) the plan needs: each stage's minimum of candidate results over its share."""
    return max(2, sum(math.ceil(min_results * 100 / p) for p in stages))


class CanaryResultFields(ResultFields):
    """A result as typed or imported for a canary: a result, the stage it ran under, its unit.

    ``stage`` (1-based) defaults to the canary's current stage; it may also be given by its
    percentage, ``"10%"`` (the stage sending 10 % of units to the candidate), which the decision
    resolves to the stage's number against the plan. ``unit_id``, when given, must have been
    assigned the ``variant`` at that stage.
    """

    stage: int | str | None = None
    unit_id: str | None = None

    @field_validator("stage", mode="before")
    @classmethod
    def _stage(cls, v: Any) -> int | str | None:
        if isinstance(v, str):
            text = v.strip()
            if re.fullmatch(r"\d+", text):
                v = int(text)
            elif re.fullmatch(r"\d+(?:\.\d+)?\s*%", text):
                return text.replace(" ", "")
            else:
                raise ValueError(
                    f"stage {v!r} is neither a stage's number (1 = the first) nor its percentage "
                    "written with % (e.g. 10%)"
                )
        if isinstance(v, float) and v.is_integer():
            v = int(v)  # a JSON number written 2.0
        if isinstance(v, bool) or (v is not None and not isinstance(v, int)):
            raise ValueError(
                "stage must be a whole number (1 = the first stage) or a percentage like 10%"
            )
        if v is not None and not 1 <= v <= 1000:
            raise ValueError(f"stage {v} is not a stage's number: the first stage is 1")
        return v

    @field_validator("unit_id")
    @classmethod
    def _unit(cls, v: str | None) -> str | None:
        if v is not None:
            if not v:
                raise ValueError("unit_id is empty; give the id of the user or session")
            check_text(v, "unit_id")
        return v


# --------------------------------------------------------------------------- events


class CanaryCreated(Event):
    """A canary was planned: control, candidate, stages, guardrails, salt."""

    name: str
    control: str
    candidate: str
    #: percentages, whole numbers stored as ints (``[10, 50, 100]``)
    stages: tuple[int | float, ...]
    guardrails: tuple[Guardrail, ...]
    metric: str = "success"
    min_results: int = Field(ge=2, le=MAX_COUNT)
    unit: str = "user"
    salt: str
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    #: total results the always-valid boundary is tuned for (fixed before watching)
    expected_results: int = Field(ge=2, le=MAX_COUNT)
    description: str | None = None

    @field_validator("stages", mode="before")
    @classmethod
    def _whole(cls, v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return tuple(number(x) if isinstance(x, float) else x for x in v)
        return v

    @model_validator(mode="wrap")
    @classmethod
    def _readable(
        cls, data: Any, handler: ModelWrapValidatorHandler[CanaryCreated]
    ) -> CanaryCreated:
        try:
            return handler(data)
        except ValidationError as e:
            name = data.get("name") if isinstance(data, dict) else None
            raise UnreadableEvent(
                f"canary {name!r} cannot be read: its stored plan has {explain(e, plain=True)}; "
                "stored events are never rewritten, so create a new canary"
            ) from None


class CanaryResultAdded(ResultFields, Event):
    """One session's result was recorded for the canary's control or candidate, at a stage."""

    model_config = ConfigDict(strict=False)
    #: the stage (1-based) the session ran under
    stage: int = Field(ge=1)
    unit_id: str | None = None

    def to_data(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump(mode="json").items() if v is not None}


class _Decision(Event):
    """A recorded decision on a canary, with the analysis it rests on.

    ``analysis`` is the ``canary status --json`` document shown at that moment,
    ``position`` the log head it was computed at (before this event) and
    ``method_version`` the version of the statistics that produced it.
    """

    stage: int = Field(ge=1)
    note: str | None = None
    method_version: str
    position: int = Field(ge=0)
    analysis: dict[str, Any]

    def to_data(self) -> dict[str, Any]:
        return decision_data(self)


class CanaryAdvanced(_Decision):
    """The canary moved from ``stage`` to ``to_stage``; ``forced`` when the rule was overridden."""

    to_stage: int = Field(ge=2)
    #: the percentage of units the new stage sends to the candidate
    percent: int | float
    forced: bool = False
    #: why the stage rule refused, when ``forced`` overrode it
    overrode: str | None = None


class CanaryHalted(_Decision):
    """The canary stopped: every unit gets the control. ``breached`` names the guardrails broken;
    ``automatic`` when the rule halted it (``canary watch --auto``), not a person."""

    breached: tuple[str, ...] = ()
    automatic: bool = False


class CanaryRolledBack(_Decision):
    """A person abandoned the candidate: every unit gets the control, for good."""


class CanaryCompleted(_Decision):
    """A person finished the rollout: every unit gets the candidate."""

    forced: bool = False
    overrode: str | None = None


DECISION_TYPES = ("CanaryAdvanced", "CanaryHalted", "CanaryRolledBack", "CanaryCompleted")


# --------------------------------------------------------------------------- commands


class CreateCanary(Command):
    """Plan a canary of ``candidate`` against ``control``."""

    name: str
    control: str
    candidate: str
    stages: tuple[int | float, ...] = DEFAULT_STAGES
    guardrails: tuple[Guardrail, ...] = ()
    metric: str = "success"
    min_results: int = Field(default=DEFAULT_MIN_RESULTS, strict=True)
    unit: str = "user"
    salt: str
    alpha: float = 0.05
    expected_results: int | None = Field(default=None, strict=True)
    description: str | None = None

    @field_validator("min_results")
    @classmethod
    def _min_results(cls, v: int) -> int:
        if not 2 <= v <= MAX_COUNT:
            raise ValueError(
                "must be at least 2: the candidate results each stage needs before it moves on, "
                "e.g. --min-results 400"
            )
        return v

    @field_validator("alpha")
    @classmethod
    def _alpha(cls, v: float) -> float:
        if not (math.isfinite(v) and 0 < v < 0.5):
            raise ValueError("must lie between 0 and 0.5 (exclusive), e.g. --alpha 0.05")
        return v

    @field_validator("expected_results")
    @classmethod
    def _expected(cls, v: int | None) -> int | None:
        if v is not None and not 2 <= v <= MAX_COUNT:
            raise ValueError(
                "must be a number of results of at least 2, e.g. --expected-results 5000"
            )
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v, "canary name")

    @field_validator("control", "candidate")
    @classmethod
    def _arm(cls, v: str) -> str:
        return check_name(v, "variant name")

    @field_validator("unit")
    @classmethod
    def _unit(cls, v: str) -> str:
        return check_name(v, "unit")

    @field_validator("stages", mode="before")
    @classmethod
    def _stages(cls, v: Any) -> Any:
        return check_stages(tuple(v)) if isinstance(v, (list, tuple)) else v

    @field_validator("metric")
    @classmethod
    def _metric(cls, v: str) -> str:
        # a catalogue metric or a quantile of one (completion_time:p95, #21)
        try:
            known = watched_metric(v)
        except InvalidCommand as e:
            raise ValueError(str(e).removeprefix("guardrail: ")) from None
        if known is None:
            raise unknown_metric(v, "metric")
        return v

    @field_validator("salt")
    @classmethod
    def _salt(cls, v: str) -> str:
        if not v or len(v) > 128:
            raise ValueError("the salt is 1-128 characters of text")
        return check_text(v, "salt")

    @field_validator("description")
    @classmethod
    def _description(cls, v: str | None) -> str | None:
        return v if v is None else check_text(v, "description")

    @model_validator(mode="after")
    def _distinct(self) -> CreateCanary:
        if self.candidate == self.control:
            raise ValueError(
                f"the candidate is the control ({self.control!r}); a canary compares two different "
                "variants, e.g. --control router-v1 --candidate router-v2"
            )
        for g in self.guardrails:
            if watched_metric(g.metric) is None:
                raise unknown_metric(g.metric, "guardrail metric")
        return self

    def stream_id(self) -> str:
        return stream_for(self.name)


class AddCanaryResults(Command):
    """Record results for a canary's control or candidate, all or nothing."""

    canary: str
    results: tuple[CanaryResultFields, ...]
    #: where each result came from ("line 7"), to name it in errors
    sources: tuple[str, ...] | None = None

    def stream_id(self) -> str:
        return stream_for(self.canary)


class DecideCanary(Command):
    """Advance, halt, roll back or complete a canary, with the analysis the decision rests on."""

    canary: str
    action: Action
    #: the percentage the person expects to move to (``--to 50``): refused if it is not the next stage
    to: float | None = None
    force: bool = False
    #: a halt decided by the stage rule (``canary watch --auto``), not a person
    automatic: bool = False
    note: str | None = None
    analysis: dict[str, Any]
    method_version: str
    position: int = Field(ge=0)

    @field_validator("note")
    @classmethod
    def _note(cls, v: str | None) -> str | None:
        return optional_note(v)

    def stream_id(self) -> str:
        return stream_for(self.canary)


# --------------------------------------------------------------------------- state


@dataclass(frozen=True)
class CanaryState:
    """What the decision function (and the assignment) needs to know about one canary."""

    name: str | None = None
    control: str = ""
    candidate: str = ""
    stages: tuple[float, ...] = ()
    salt: str = ""
    min_results: int = 0
    status: Status = "running"
    #: the current stage, 1-based (the last one reached once the canary stopped)
    stage: int = 0
    results: int = 0
    #: per stage: (control results, candidate results)
    counts: tuple[tuple[int, int], ...] = ()

    @property
    def exists(self) -> bool:
        return self.name is not None

    @property
    def percent(self) -> float:
        """The percentage of units the current stage sends to the candidate."""
        return self.stages[self.stage - 1]

    @property
    def threshold(self) -> int:
        """``bucket < threshold`` goes to the candidate: 0 when halted or rolled back, all when completed."""
        if self.status in ("halted", "rolled_back"):
            return 0
        if self.status == "completed":
            return BUCKETS
        return threshold(self.percent)

    @property
    def last_stage(self) -> bool:
        return self.stage == len(self.stages)


def threshold_of(status: str, stages: Sequence[float], stage: int) -> int:
    """The assignment threshold a canary in ``status`` at ``stage`` applies (as :attr:`CanaryState.threshold`)."""
    if status in ("halted", "rolled_back"):
        return 0
    if status == "completed":
        return BUCKETS
    return threshold(stages[stage - 1])


@singledispatch
def evolve(event: Event, state: CanaryState) -> CanaryState:
    """Fold one event into the state; events of other families leave it alone."""
    return state


@evolve.register
def _(event: CanaryCreated, state: CanaryState) -> CanaryState:
    return CanaryState(
        name=event.name,
        control=event.control,
        candidate=event.candidate,
        stages=event.stages,
        salt=event.salt,
        min_results=event.min_results,
        stage=1,
        counts=tuple((0, 0) for _ in event.stages),
    )


@evolve.register
def _(event: CanaryResultAdded, state: CanaryState) -> CanaryState:
    i = event.stage - 1
    c, t = state.counts[i]
    arm = (c, t + 1) if event.variant == state.candidate else (c + 1, t)
    counts = (*state.counts[:i], arm, *state.counts[i + 1 :])
    return replace(state, results=state.results + 1, counts=counts)


@evolve.register
def _(event: CanaryAdvanced, state: CanaryState) -> CanaryState:
    return replace(state, stage=event.to_stage)


@evolve.register
def _(event: CanaryHalted, state: CanaryState) -> CanaryState:
    return replace(state, status="halted")


@evolve.register
def _(event: CanaryRolledBack, state: CanaryState) -> CanaryState:
    return replace(state, status="rolled_back")


@evolve.register
def _(event: CanaryCompleted, state: CanaryState) -> CanaryState:
    return replace(state, status="completed")


# --------------------------------------------------------------------------- the rule


def _require(state: CanaryState, name: str) -> None:
    if not state.exists:
        raise NotFound(
            f"no canary named {name!r}; see `trialbook canary list`, or create it with "
            f"`trialbook canary create {name} --control A --candidate B`"
        )


STOPPED = {
    "halted": "is halted",
    "rolled_back": "was rolled back",
    "completed": "is completed",
}


def _stopped(state: CanaryState, name: str, what: str) -> StateConflict:
    hint = {
        "halted": f"roll it back with `trialbook canary rollback {name}`, or plan a new canary",
        "rolled_back": "plan a new canary to try the candidate again",
        "completed": "every unit already gets the candidate",
    }[state.status]
    return StateConflict(f"canary {name!r} {STOPPED[state.status]}; it cannot {what}: {hint}")


def stage_label(stages: Sequence[float], stage: int) -> str:
    """``stage 1 (10%)``."""
    return f"stage {stage} ({percent_text(stages[stage - 1])})"


def analysed_results(analysis: Mapping[str, Any]) -> int:
    """How many results a ``canary status --json`` document counted."""
    return int((analysis.get("results") or {}).get("total", 0))


def rule_refusal(
    state: CanaryState, analysis: Mapping[str, Any], moving: str = "advancing"
) -> str | None:
    """Why the stage rule does not let the canary move on now (None when it does).

    The current stage needs ``min_results`` candidate results, no guardrail may be
    breached (its always-valid interval lies wholly beyond its limit) and no
    data-quality alert may block.
    """
    name = state.name
    label = stage_label(state.stages, state.stage)
    broken = [g for g in analysis.get("guardrails", ()) if g.get("status") == "broken"]
    if broken:
        return (
            f"guardrail {', '.join(g['metric'] for g in broken)} of {name!r} is breached "
            f"({broken[0].get('summary', 'beyond its limit')}); halt it with "
            f"`trialbook canary halt {name}` or roll it back"
        )
    blocking = [a for a in analysis.get("alerts", ()) if a.get("blocking")]
    if blocking:
        return f"a data-quality alert blocks {name!r}: {blocking[0]['message']}"
    have = state.counts[state.stage - 1][1]
    if have < state.min_results:
        return (
            f"{label} of {name!r} has {have} of the {state.min_results} candidate results it "
            f"needs before {moving}; wait for more"
        )
    return None


def breached(analysis: Mapping[str, Any]) -> tuple[str, ...]:
    """The guardrails an analysis shows broken."""
    return tuple(g["metric"] for g in analysis.get("guardrails", ()) if g.get("status") == "broken")


@singledispatch
def decide(command: Command, state: CanaryState) -> Sequence[Event]:
    """The events a command produces in the given state, or a DomainError."""
    raise TypeError(f"no canary handler for {type(command).__name__}")


@decide.register
def _(command: CreateCanary, state: CanaryState) -> Sequence[Event]:
    if state.exists:
        raise AlreadyExists(f"a canary named {command.name!r} already exists; choose another name")
    guardrails = command.guardrails or (
        Guardrail(metric=command.metric, limit=0.0, relative=False),
    )
    seen: set[str] = set()
    for g in guardrails:
        if g.metric in seen:
            raise InvalidCommand(f"guardrail metric {g.metric!r} is given twice; keep one limit")
        seen.add(g.metric)
    return [
        CanaryCreated(
            name=command.name,
            control=command.control,
            candidate=command.candidate,
            stages=command.stages,
            guardrails=guardrails,
            metric=command.metric,
            min_results=command.min_results,
            unit=command.unit,
            salt=command.salt,
            alpha=command.alpha,
            expected_results=command.expected_results
            or default_expected_results(command.stages, command.min_results),
            description=command.description,
        )
    ]


@decide.register
def _(command: AddCanaryResults, state: CanaryState) -> Sequence[Event]:
    name = command.canary
    _require(state, name)
    if not command.results:
        raise InvalidCommand("no results to add")
    events = []
    for i, r in enumerate(command.results, start=1):
        where = result_source(command.sources, len(command.results), i)
        arms = (state.control, state.candidate)
        if r.variant not in arms:
            raise InvalidCommand(
                f"{where}variant {r.variant!r} is not in canary {name!r}; use {arms[0]} (control) "
                f"or {arms[1]} (candidate)"
            )
        stage = r.stage
        if isinstance(stage, str):  # "10%": the stage with that percentage in the plan
            at = [n for n, p in enumerate(state.stages, 1) if p == float(stage[:-1])]
            if not at:
                raise InvalidCommand(
                    f"{where}canary {name!r} has no {stage} stage; its stages are "
                    f"{', '.join(percent_text(p) for p in state.stages)} (give the stage's "
                    "number, 1 = the first, or one of these percentages)"
                )
            stage = at[0]
        if stage is None:
            if state.status != "running":
                raise StateConflict(
                    f"{where}canary {name!r} {STOPPED[state.status]}, so a new result has no "
                    "stage; give the stage its session started under (--stage N)"
                )
            stage = state.stage
        elif stage > state.stage:
            raise InvalidCommand(
                f"{where}canary {name!r} has not reached stage {stage}; it is at "
                f"{stage_label(state.stages, state.stage)}"
            )
        if r.variant == state.control and state.stages[stage - 1] >= 100:
            raise InvalidCommand(
                f"{where}no unit gets the control at {stage_label(state.stages, stage)}; "
                "record the stage the session ran under"
            )
        if r.unit_id is not None:
            got = (
                state.candidate
                if bucket(state.salt, r.unit_id) < threshold(state.stages[stage - 1])
                else state.control
            )
            if got != r.variant:
                raise InvalidCommand(
                    f"{where}unit {r.unit_id!r} is assigned {got} at "
                    f"{stage_label(state.stages, stage)}, not {r.variant}; record the variant the "
                    "unit was served (or leave out the unit id)"
                )
        check_measures(r, where)
        values = {k: v for k, v in r.__dict__.items() if k not in ("stage", "unit_id")}
        events.append(CanaryResultAdded(**values, stage=stage, unit_id=r.unit_id))
    return events


@decide.register
def _(command: DecideCanary, state: CanaryState) -> Sequence[Event]:
    name = command.canary
    _require(state, name)
    analysis = command.analysis
    if analysis.get("canary") != name:
        raise InvalidCommand(f"the analysis given is not of canary {name!r}")
    seen = analysed_results(analysis)
    if seen < state.results:
        raise StateConflict(
            f"{state.results - seen} more results were recorded for {name!r} after the analysis; "
            "run the command again to decide on all of them"
        )
    if seen > state.results:
        raise InvalidCommand(
            f"the analysis counts {seen} results but canary {name!r} has {state.results}"
        )
    common = {
        "stage": state.stage,
        "note": command.note,
        "method_version": command.method_version,
        "position": command.position,
        "analysis": analysis,
    }
    action = command.action
    if action == "rollback":
        if state.status in ("rolled_back", "completed"):
            raise _stopped(state, name, "be rolled back")
        return [CanaryRolledBack(**common)]
    if state.status != "running":
        verb = {"advance": "advance", "halt": "be halted", "complete": "be completed"}[action]
        raise _stopped(state, name, verb)
    if action == "halt":
        broken = breached(analysis)
        if command.automatic and not broken:
            raise InvalidCommand(
                f"no guardrail of {name!r} is breached; the rule halts a canary only on evidence"
            )
        return [CanaryHalted(**common, breached=broken, automatic=command.automatic)]
    if action == "advance" and state.last_stage:
        raise StateConflict(
            f"canary {name!r} is at its last stage ({percent_text(state.percent)}); complete it "
            f"with `trialbook canary complete {name}`"
        )
    if action == "complete" and not state.last_stage:
        raise StateConflict(
            f"canary {name!r} is at {stage_label(state.stages, state.stage)}, not its last stage "
            f"({percent_text(state.stages[-1])}); advance it first"
        )
    if command.to is not None and action == "advance":
        nxt = state.stages[state.stage]
        if abs(command.to - nxt) > 1e-9:
            raise InvalidCommand(
                f"canary {name!r} is at {percent_text(state.percent)}; its next stage is "
                f"{percent_text(nxt)}, not {percent_text(command.to)} (stages are taken one at a "
                f"time: {', '.join(percent_text(p) for p in state.stages)})"
            )
    refusal = rule_refusal(state, analysis, "advancing" if action == "advance" else "completing")
    if refusal is not None and not command.force:
        raise StateConflict(f"{refusal} (or override the rule with --force, which is recorded)")
    forced = {"forced": command.force, "overrode": refusal if command.force else None}
    if action == "advance":
        return [
            CanaryAdvanced(
                **common,
                **forced,
                to_stage=state.stage + 1,
                percent=state.stages[state.stage],
            )
        ]
    return [CanaryCompleted(**common, **forced)]


class CanaryAggregate:
    """The canary aggregate, as the ledger sees it."""

    state_version = 1

    def initial(self) -> CanaryState:
        return CanaryState()

    def evolve(self, state: CanaryState, event: Event) -> CanaryState:
        return evolve(event, state)

    def decide(self, state: CanaryState, command: Command) -> Sequence[Event]:
        return decide(command, state)

    def snapshot(self, state: CanaryState) -> dict[str, Any]:
        return {
            "name": state.name,
            "control": state.control,
            "candidate": state.candidate,
            "stages": list(state.stages),
            "salt": state.salt,
            "min_results": state.min_results,
            "status": state.status,
            "stage": state.stage,
            "results": state.results,
            "counts": [list(c) for c in state.counts],
        }

    def restore(self, data: dict[str, Any]) -> CanaryState:
        return CanaryState(
            name=data["name"],
            control=data["control"],
            candidate=data["candidate"],
            stages=tuple(data["stages"]),
            salt=data["salt"],
            min_results=data["min_results"],
            status=data["status"],
            stage=data["stage"],
            results=data["results"],
            counts=tuple((int(a), int(b)) for a, b in data["counts"]),
        )


CANARIES = CanaryAggregate()
for _cmd in (CreateCanary, AddCanaryResults, DecideCanary):
    _cmd.aggregate = CANARIES
