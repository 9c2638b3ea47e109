"""A/B tests: events, commands, state, and the pure decision function.

Stream: ``ab:<name>``. A test is created with two or more variants (one the
control); results are added for its variants; archiving hides it without
destroying anything, and restoring undoes that.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import singledispatch
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    field_validator,
    model_validator,
)

from trialbook.domain.commands import Command, explain
from trialbook.domain.errors import (
    AlreadyExists,
    DomainError,
    InvalidCommand,
    NotFound,
    StateConflict,
)
from trialbook.domain.events import Event, Value, upcaster
from trialbook.domain.metrics import (
    CUSTOM_METRIC_RE,
    METRICS,
    RESERVED_METRIC_NAMES,
    SUCCESS_RATE_IS_AMBIGUOUS,
    metric_named,
)
from trialbook.domain.names import NAME_RE, NAME_RULE

Difficulty = Literal["easy", "medium", "hard"]
#: the name of a result's dimension (``dimensions`` keys; ``ab analyze --by KEY``)
DIMENSION_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def stream_for(name: str) -> str:
    """The stream id of the A/B test called ``name``."""
    return f"ab:{name}"


def check_name(value: str, what: str = "name") -> str:
    value = value.strip()
    if not value:
        raise ValueError(f"{what} is empty; {NAME_RULE}")
    if not NAME_RE.match(value):
        raise ValueError(f"{what} {value!r} is not valid; {NAME_RULE}")
    return value


def check_text(value: str, what: str | None = None) -> str:
    """``value`` if it is text the log can store (UTF-8), else a ``ValueError`` (naming ``what``).

    A lone surrogate (a byte of a command line that is not UTF-8, or half of a
    ``\\ud83d\\ude00`` pair in JSON) cannot be encoded, so it cannot be hashed or stored.
    """
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(
            f"{what + ': ' if what else ''}not valid text: character {e.start + 1} "
            f"({value[e.start]!r}) is a byte that is not UTF-8 or half of a surrogate pair; "
            "give the text as UTF-8"
        ) from None
    return value


TIME_RULE = "an ISO 8601 time like 2025-01-14T15:30:12 or a number of seconds since the epoch"


def instant(value: Any) -> datetime | float:
    """A session's start or end time: ISO 8601 text as a ``datetime``, a number as epoch seconds.

    Anything else (true/false, a list, text that is not ISO 8601, a number that is
    not finite) is a ``ValueError`` saying what is expected.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError(f"expected {TIME_RULE}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected {TIME_RULE}")
    check_text(value)
    text = value.strip()
    try:  # Python 3.10 reads no "Z"; it means UTC
        return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise ValueError(f"expected {TIME_RULE}") from None


def seconds_between(start: Any, end: Any) -> float:
    """Seconds from ``start`` to ``end`` (read by :func:`instant`); a ``ValueError`` when the
    two are not of one kind (both numbers, or both texts with or both without a UTC offset)
    or ``end`` comes first."""
    a, b = instant(start), instant(end)
    if isinstance(a, float) and isinstance(b, float):
        seconds = b - a
    elif (
        isinstance(a, datetime)
        and isinstance(b, datetime)
        and (a.tzinfo is None) == (b.tzinfo is None)
    ):
        seconds = (b - a).total_seconds()
    else:
        raise ValueError(
            "start_time and end_time are written in different ways; give both as ISO 8601 "
            "times (both with or both without a UTC offset) or both as seconds since the epoch"
        )
    if seconds < 0:
        raise ValueError(f"end_time ({end}) is before start_time ({start})")
    return seconds


class UnreadableEvent(DomainError):
    """A stored event holds a value outside the bounds this trialbook reads events with."""


# --------------------------------------------------------------------------- values


class Guardrail(Value):
    """A limit a winning variant must not break: ``completion_time:+10%``.

    ``limit`` is the largest allowed worsening against control, relative (a
    fraction) when ``relative`` else in the metric's units.
    """

    metric: str
    limit: float = Field(ge=0)
    relative: bool = True

    @classmethod
    def parse(cls, text: str) -> Guardrail:
        """Parse ``metric:+10%`` or ``metric:+2.5`` (units of the metric)."""
        m = re.fullmatch(
            r"\s*([a-z][a-z0-9_]*(?::p[0-9.]+)?)\s*:\s*\+?\s*([0-9]*\.?[0-9]+)\s*(%?)\s*", text
        )
        if not m:
            raise ValueError(
                f"guardrail {text!r} is not valid; write METRIC:+N% or METRIC:+N, e.g. completion_time:+10%"
            )
        name, number, pct = m.groups()
        if ":p" in name:
            metric_named(name)  # a quantile of a per-result number; its error names the form
        elif name not in METRICS and not CUSTOM_METRIC_RE.match(name):
            raise ValueError(f"guardrail metric {name!r} is unknown")
        value = float(number)
        if not math.isfinite(value):
            raise ValueError(
                f"guardrail {name}: its limit is too large to be a number; write a limit like "
                f"{name}:+10%"
            )
        return cls(metric=name, limit=value / 100 if pct else value, relative=bool(pct))

    def __str__(self) -> str:
        return (
            f"{self.metric}:+{self.limit * 100:g}%"
            if self.relative
            else f"{self.metric}:+{self.limit:g}"
        )


def read_guardrail(text: str) -> Guardrail:
    """``METRIC:+LIMIT`` as typed (``ab create --guardrail``, ``tb.ab.create(guardrails=)``),
    with the limit in any form a margin takes on that metric.

    ``completion_time:+10%`` (relative), ``completion_time:+30s``, ``cost:+3c``,
    ``success:+5pp`` (points), ``completion_time:p95:+10%`` (a quantile: limits in the
    base metric's units); a bare ``success:+5`` is refused (500 points), as
    :func:`trialbook.domain.units.parse_margin` explains. Raises ``ValueError``.
    """
    from trialbook.domain.metrics import CUSTOM_METRIC_RE, METRICS, metric_named
    from trialbook.domain.units import parse_margin, quoted

    m = re.fullmatch(r"\s*([a-z][a-z0-9_]*(?::p[0-9.]+)?)\s*:(.*)", text, re.DOTALL)
    if not m:
        return Guardrail.parse(text)  # its one-line error names the form
    name, limit = m.group(1), m.group(2)
    units = name
    if ":p" in name:
        units = metric_named(name).numerator or name
    elif name not in METRICS and not CUSTOM_METRIC_RE.match(name):
        raise ValueError(f"guardrail metric {name!r} is unknown")
    try:
        parsed = parse_margin(limit, units, allow_zero=True)
    except ValueError as e:
        raise ValueError(f"guardrail {quoted(text.strip())}: {e}") from None
    return Guardrail(metric=name, limit=parsed.value, relative=parsed.relative)


def read_guardrails(texts: Sequence[str]) -> tuple[Guardrail, ...]:
    """:func:`read_guardrail` of each; the first bad one raises ``InvalidCommand``."""
    try:
        return tuple(read_guardrail(t) for t in texts)
    except ValueError as e:
        raise InvalidCommand(str(e)) from None


#: the largest count a result (or a test's planned total) may hold: a 64-bit signed
#: integer, what the read models store and the largest whole number the log is read back as
MAX_COUNT = 2**63 - 1


class ResultFields(Value):
    """One observed session of one variant, as typed by a user or imported from JSONL.

    Strict: ``"success": "yes"`` or ``"tool_calls": true`` is refused, not coerced
    (the stored :class:`ResultAdded` read back from the log stays lax).
    """

    model_config = ConfigDict(strict=True)

    variant: str
    session_id: str | None = None
    success: bool | None = None
    tool_calls: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    successful_calls: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    errors: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    #: a JSON list of strings is accepted for the tuple (its items must still be strings)
    error_messages: tuple[str, ...] = Field(default=(), strict=False)
    completion_time: float | None = Field(default=None, ge=0)
    #: when the session started and ended, kept as recorded (ISO 8601 text or seconds since
    #: the epoch); completion_time is derived from them when it is not given
    start_time: str | int | float | None = None
    end_time: str | int | float | None = None
    messages: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    corrections: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    tokens: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    cost: float | None = Field(default=None, ge=0)
    score: float | None = None
    case_id: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    notes: str | None = None
    #: the SHA-256 of the session's transcript (chat messages), stored as a blob beside the
    #: event (:mod:`trialbook.domain.transcripts`); absent when none was recorded
    transcript_blob: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    #: what the result's segment is: ``{"category": "billing", "model": "m1", ...}`` (text
    #: values); ``ab analyze NAME --by KEY`` breaks the analysis down by one of them
    dimensions: dict[str, str] | None = None

    def __init__(self, /, **data: Any) -> None:
        """Validate ``data`` as pydantic does, the plain results most callers give checked by
        :func:`quick_result_fields` instead (the same fields, or pydantic's verdict when it
        is unsure: property-tested), in about a third of pydantic's time.

        Marked as pydantic's own ``__init__`` (as pydantic's ``RootModel`` marks its own), so
        ``model_validate`` and nested fields validate as before instead of calling it.
        Subclasses (stored events) validate as pydantic does.
        """
        if type(self) is ResultFields:
            values = _quick_values(data)
            if values is not None:
                _constructed(self, values, set(data))
                return
        super().__init__(**data)

    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @field_validator("dimensions")
    @classmethod
    def _dimension_items(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        if v is None:
            return v
        for key, value in v.items():
            if not DIMENSION_KEY_RE.match(key):
                raise ValueError(
                    f"dimension name {key!r} is not valid; use at most 64 ASCII letters, "
                    "digits, '_' and '-' (e.g. model or task-type)"
                )
            check_text(value, f"dimension {key}")
        return v

    @field_validator("metrics")
    @classmethod
    def _metric_values(cls, v: dict[str, float]) -> dict[str, float]:
        for key in v:
            if not CUSTOM_METRIC_RE.match(key):
                raise ValueError(
                    f"metric name {key!r} is not valid; use lowercase letters, digits and '_'"
                )
        return v

    @field_validator("variant")
    @classmethod
    def _variant_given(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("variant is empty; name one of the test's variants")
        return v

    @field_validator("start_time", "end_time", mode="before")
    @classmethod
    def _time_readable(cls, v: Any) -> Any:
        if v is not None:
            instant(v)
        return v

    @model_validator(mode="after")
    def _completion_from_times(self) -> ResultFields:
        if self.start_time is None or self.end_time is None:
            return self
        seconds = seconds_between(self.start_time, self.end_time)
        if self.completion_time is None:  # frozen: set the derived value the way pydantic would
            object.__setattr__(self, "completion_time", seconds)
            self.__pydantic_fields_set__.add("completion_time")
        return self

    @model_validator(mode="after")
    def _calls_consistent(self) -> ResultFields:
        for name in ("session_id", "case_id", "notes"):
            text = getattr(self, name)
            if text is not None:
                check_text(text, name)
        for i, message in enumerate(self.error_messages, start=1):
            check_text(message, f"error message {i}")
        if self.successful_calls is not None:
            if self.tool_calls is None:
                raise ValueError("successful_calls needs tool_calls too")
            if self.successful_calls > self.tool_calls:
                raise ValueError(
                    f"successful_calls ({self.successful_calls}) is more than tool_calls ({self.tool_calls})"
                )
        if (
            self.errors is not None
            and self.error_messages
            and self.errors != len(self.error_messages)
        ):
            n = len(self.error_messages)
            raise ValueError(
                f"the error count ({self.errors}) is not the number of error messages ({n}); "
                "give the count, the messages, or both agreeing"
            )
        return self


#: a result's fields before any is given, in ResultFields' order (metrics: a marker
#: replaced by a fresh dict)
_NO_METRICS: dict[str, float] = {}
_UNSET: dict[str, Any] = {
    name: (_NO_METRICS if name == "metrics" else info.default)
    for name, info in ResultFields.model_fields.items()
}


#: a model's ``__dict__`` and pydantic's three per-instance slots, set through their own
#: descriptors: what ``model_construct`` leaves on a model without extra or private
#: attributes, at half the cost of ``object.__setattr__`` by name (an import builds two
#: models a result: its fields, then its event)
_SET_DICT = BaseModel.__dict__["__dict__"].__set__
_SET_FIELDS_SET = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_SET_EXTRA = BaseModel.__dict__["__pydantic_extra__"].__set__
_SET_PRIVATE = BaseModel.__dict__["__pydantic_private__"].__set__


def _constructed(model: BaseModel, values: dict[str, Any], fields_set: set[str]) -> None:
    """Fill ``model`` with ``values`` already checked, as pydantic's own construction does."""
    _SET_DICT(model, values)
    _SET_FIELDS_SET(model, fields_set)
    _SET_EXTRA(model, None)
    _SET_PRIVATE(model, None)


def _bare(cls: type[Any], values: dict[str, Any], given: set[str]) -> Any:
    """An instance of the pydantic model ``cls`` holding ``values`` (already checked) with
    fields ``given`` set, built without validation (as ``model_construct`` builds it)."""
    model = object.__new__(cls)
    _constructed(model, values, given)
    return model


#: the result fields ``quick_result_fields`` checks itself, by kind
_COUNT_FIELDS = frozenset(
    {"tool_calls", "successful_calls", "errors", "messages", "corrections", "tokens"}
)
_TEXT_FIELDS = frozenset({"session_id", "case_id", "notes"})
_FLOAT_FIELDS = frozenset({"completion_time", "cost", "score"})
_NON_NEGATIVE = frozenset({"completion_time", "cost"})
#: the keys ``quick_result_fields`` takes (the others, and any value it is unsure of, go
#: through pydantic: times, error messages, transcripts, the framework's words)
QUICK_KEYS = (
    _COUNT_FIELDS
    | _TEXT_FIELDS
    | _FLOAT_FIELDS
    | {
        "variant",
        "success",
        "metrics",
        "dimensions",
    }
)


def _quick_float(v: Any) -> float | None:
    """``v`` as ResultFields stores a checked float; None when pydantic should look at it.

    Integers become floats as pydantic's strict float does; beyond 2**53 (where the
    conversion could round) and beyond :data:`MAX_VALUE` (refused later, with pydantic's
    value in the message) it is left to pydantic, as are NaN, infinities and non-numbers.
    """
    t = type(v)
    if t is float:
        return v if -MAX_VALUE <= v <= MAX_VALUE else None  # NaN compares false: None
    if t is int and -MAX_VALUE <= v <= MAX_VALUE:
        return float(v)
    return None


def _plain_text(v: str) -> bool:
    """Whether ``check_text`` takes ``v`` (ASCII, or UTF-8 encodable)."""
    if v.isascii():
        return True
    try:
        check_text(v)
    except ValueError:
        return False
    return True


def quick_result_fields(obj: dict[str, Any]) -> ResultFields | None:
    """``ResultFields.model_validate(obj)`` for the plain results most files hold, or None.

    Contract: when it returns fields they equal (values, types, field order and the set
    of fields given) what ``model_validate`` returns for ``obj``; it returns None for
    anything it does not check itself (keys outside :data:`QUICK_KEYS`, a value of another
    type or out of range, text that is not plain), and the caller validates ``obj`` with
    pydantic then, which accepts it or words the error. About ten times faster than
    pydantic for an imported line (property-tested against it).
    """
    values = _quick_values(obj)
    return None if values is None else _bare(ResultFields, values, set(obj))  # type: ignore[no-any-return]


def _quick_values(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The fields :func:`quick_result_fields` gives ``obj``, as a dict in the model's order."""
    if "variant" not in obj:
        return None
    values: dict[str, Any] = {**_UNSET}
    try:
        for key, v in obj.items():
            if v is None:
                if key == "variant" or key == "metrics" or key not in QUICK_KEYS:
                    return None
            elif key in _COUNT_FIELDS:
                if type(v) is not int or not 0 <= v <= MAX_COUNT:
                    return None
            elif key in _FLOAT_FIELDS:
                v = _quick_float(v)
                if v is None or (v < 0 and key in _NON_NEGATIVE):
                    return None
            elif key in _TEXT_FIELDS:
                if type(v) is not str or not _plain_text(v):
                    return None
            elif key == "variant":
                if type(v) is not str or not v or v.strip() != v:
                    return None
            elif key == "success":
                if type(v) is not bool:
                    return None
            elif key == "metrics":
                if type(v) is not dict:
                    return None
                metrics = {}
                for name, x in v.items():
                    x = _quick_float(x)
                    if x is None or not CUSTOM_METRIC_RE.match(name):
                        return None
                    metrics[name] = x
                v = metrics
            elif key == "dimensions":
                if type(v) is not dict:
                    return None
                for name, x in v.items():
                    if type(x) is not str or not DIMENSION_KEY_RE.match(name) or not _plain_text(x):
                        return None
                v = dict(v)
            else:
                return None
            values[key] = v
    except TypeError:  # a dict key that is not text, compared or matched
        return None
    calls, ok = values["tool_calls"], values["successful_calls"]
    if ok is not None and (calls is None or ok > calls):
        return None
    if values["metrics"] is _NO_METRICS:
        values["metrics"] = {}
    return values


def quick_results(objs: Sequence[Any]) -> QuickResults:
    """:func:`quick_result_fields` of each of ``objs``, checked a column at a time.

    Rows with the same keys (in a file, nearly all) are checked together: each key's
    values by type, range and text with C-level passes (``set(map(type, ...))``,
    ``min``/``max``), then every row's fields are built at once. A group with a value
    it does not take is checked row by row instead; a row either way yields None (the
    caller validates it with pydantic) or fields equal to ``model_validate``'s.
    """
    out = QuickResults([None] * len(objs))
    plain = True
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, obj in enumerate(objs):
        if type(obj) is dict:
            keys = tuple(obj)
            group = groups.get(keys)
            if group is None:
                groups[keys] = [i]
            else:
                group.append(i)
        else:
            plain = False
    new = object.__new__
    set_dict, set_fields_set = _SET_DICT, _SET_FIELDS_SET
    set_extra, set_private = _SET_EXTRA, _SET_PRIVATE
    for keys, index in groups.items():
        if "variant" not in keys or not QUICK_KEYS.issuperset(keys):
            plain = False
            continue
        rows = [objs[i] for i in index]
        try:
            checked = _checked_columns(keys, rows)
        except TypeError:  # a key that is not text, matched against a pattern
            checked = None
        if checked is None:
            plain = False
            for i in index:
                out[i] = quick_result_fields(objs[i])
            continue
        replaced, plain_floats = checked
        plain = plain and plain_floats
        given = frozenset(keys)
        unset = _UNSET
        rows = [{**unset, **row} for row in rows]  # each row's fields, in the model's order
        for key, column in replaced.items():  # then the changed values, a column at a time
            for values, value in zip(rows, column, strict=True):
                values[key] = value
        if "metrics" not in given:  # (given, they are in ``replaced``: copies)
            for values in rows:
                values["metrics"] = {}
        for i, values in zip(index, rows, strict=True):
            fields = new(ResultFields)  # _bare's steps, inline (once a result)
            set_dict(fields, values)
            set_fields_set(fields, set(given))
            set_extra(fields, None)
            set_private(fields, None)
            out[i] = fields
    out.plain = plain and bool(objs)
    return out


class QuickResults(list[ResultFields | None]):
    """What :func:`quick_results` gives: a list, and whether its results' bodies are plain."""

    #: every row became fields checked a column at a time and holds no float orjson writes
    #: otherwise than the canonical encoder (0 or 1e-4 and more in size): each event's body
    #: passes ``canonical_json``'s check of a body (``canonical._plain``) without it
    plain = False


class PlainResults(tuple[ResultFields, ...]):
    """Results whose bodies are plain, as :attr:`QuickResults.plain` says (an import's chunk,
    decided as an ``AddResults``): their events are serialised without checking each body."""

    __slots__ = ()


_NONE_TYPE = type(None)
_NUMBER_TYPES = frozenset({float, int})


def _checked_columns(
    keys: tuple[str, ...], rows: list[dict[str, Any]]
) -> tuple[dict[str, list[Any]], bool] | None:
    """The columns of ``rows`` (all with ``keys``) whose values ResultFields stores changed
    (integers as floats, dicts copied), and whether every float is 0 or 1e-4 and more in
    size (see :class:`QuickResults`); None when a value is one to check row by row."""
    plain = True
    columns = dict(zip(keys, zip(*(row.values() for row in rows), strict=True), strict=True))
    replaced: dict[str, list[Any]] = {}
    for key, column in columns.items():
        kinds = set(map(type, column))
        nullable = _NONE_TYPE in kinds
        kinds.discard(_NONE_TYPE)
        given: Sequence[Any] = [v for v in column if v is not None] if nullable else column
        if not given:
            if key == "variant" or key == "metrics":
                return None
            continue
        if key in _COUNT_FIELDS:
            if kinds != {int} or min(given) < 0 or max(given) > MAX_COUNT:
                return None
        elif key in _FLOAT_FIELDS or key == "metrics":
            if key == "metrics":
                if (
                    nullable
                    or kinds != {dict}
                    or not all(map(CUSTOM_METRIC_RE.match, set().union(*given)))
                ):
                    return None
                numbers: Sequence[Any] = [x for m in given for x in m.values()]
                kinds = set(map(type, numbers))
            else:
                numbers = given
            if numbers:
                if not _NUMBER_TYPES.issuperset(kinds):
                    return None
                low, high = min(numbers), max(numbers)
                total = sum(numbers)
                if total != total or low < -MAX_VALUE or high > MAX_VALUE:  # NaN, or too large
                    return None
                if low < 0 and key in _NON_NEGATIVE:
                    return None
                plain = plain and _plain_sizes(numbers)
            if key == "metrics":
                replaced[key] = (
                    [dict(m) for m in column]
                    if int not in kinds
                    else [{k: float(x) for k, x in m.items()} for m in column]
                )
            elif int in kinds:
                replaced[key] = [float(v) if type(v) is int else v for v in column]
        elif key in _TEXT_FIELDS:
            if kinds != {str} or not (all(map(str.isascii, given)) or all(map(_plain_text, given))):
                return None
        elif key == "variant":
            if nullable or kinds != {str} or any(not v or v.strip() != v for v in set(given)):
                return None
        elif key == "success":
            if kinds != {bool}:
                return None
        elif key == "dimensions":
            if kinds != {dict} or not all(map(DIMENSION_KEY_RE.match, set().union(*given))):
                return None
            texts = [x for m in given for x in m.values()]
            if set(map(type, texts)) - {str} or not all(map(_plain_text, texts)):
                return None
            replaced[key] = [None if m is None else dict(m) for m in column]
        else:  # pragma: no cover - QUICK_KEYS holds no other key
            return None
    ok = columns.get("successful_calls")
    if ok is not None:
        calls = columns.get("tool_calls")
        if None in ok:
            if any(x is not None for x in ok):
                return None  # some rows give it, some not: row by row
        elif calls is None or None in calls or not all(map(operator.le, ok, calls)):
            return None
    return replaced, plain


# --------------------------------------------------------------------------- events


class TestCreated(Event):
    """An A/B test was defined."""

    __test__ = False  # not a pytest test class
    name: str
    variants: tuple[str, ...]
    control: str
    metric: str = "success"
    guardrails: tuple[Guardrail, ...] = ()
    #: planned share of results per variant (sums to 1); equal split when absent
    split: dict[str, float] | None = None
    task_id: str | None = None
    description: str | None = None
    prompt: str | None = None
    category: str | None = None
    difficulty: Difficulty | None = None
    #: total results (all variants) the always-valid boundary is tuned for; fixed before the
    #: test starts so nobody re-tunes it while watching; None means the statistics' default
    expected_results: int | None = Field(default=None, ge=2, le=MAX_COUNT)
    #: the tools the task is expected to use, and what counts as doing it well (both as the
    #: warm-session framework's task defines them)
    expected_tools: tuple[str, ...] | None = None
    success_criteria: tuple[str, ...] | None = None
    #: caps fixed at creation (``cost:p99``, ``completion_time:600``), applied to every analysis
    #: of their metric; and the dimensions named for segment breakdowns (``ab analyze --by``)
    caps: tuple[str, ...] | None = None
    segments: tuple[str, ...] | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _readable(cls, data: Any, handler: ModelWrapValidatorHandler[TestCreated]) -> TestCreated:
        try:
            return handler(data)
        except ValidationError as e:
            name = data.get("name") if isinstance(data, dict) else None
            raise UnreadableEvent(
                f"test {name!r} cannot be read: its stored definition has {explain(e, plain=True)}; "
                "stored events are never rewritten, so create a new test with `trialbook ab "
                "create` and record its results there"
            ) from None


class ResultAdded(ResultFields, Event):
    """One session's result was recorded for a variant.

    Schema v1 (the scripts trialbook grew from) named the variant ``session_type``.
    Read back lax (what older versions stored loads as it did); new results are
    checked strictly as :class:`ResultFields`.
    """

    model_config = ConfigDict(strict=False)
    schema_version = 2

    @model_validator(mode="wrap")
    @classmethod
    def _readable(cls, data: Any, handler: ModelWrapValidatorHandler[ResultAdded]) -> ResultAdded:
        try:
            return handler(data)
        except ValidationError as e:
            variant = data.get("variant") if isinstance(data, dict) else None
            raise UnreadableEvent(
                f"a stored result of variant {variant!r} has {explain(e, plain=True)}; stored "
                "events are never rewritten, so create a new test with `trialbook ab create` and "
                "import the results there"
            ) from None

    @classmethod
    def of(cls, fields: ResultFields) -> ResultAdded:
        """The event for already-validated fields, without validating them a second time.

        Same result as ``model_construct`` (which is several times slower): the
        fields were checked when ``fields`` was built, and the two classes share them.
        Both are frozen, so the event takes the fields' values dict and set of given
        names as they are (copying them was ~1 % of an import; ``model_copy`` copies).
        """
        event = object.__new__(cls)  # _bare's steps, inline (once a result of a batch)
        _SET_DICT(event, fields.__dict__)
        _SET_FIELDS_SET(event, fields.__pydantic_fields_set__)
        _SET_EXTRA(event, None)
        _SET_PRIVATE(event, None)
        return event  # type: ignore[no-any-return]

    @classmethod
    def of_all(cls, results: Iterable[ResultFields]) -> list[ResultAdded]:
        """``[ResultAdded.of(r) for r in results]`` (a batch's events)."""
        return list(map(cls.of, results))

    def to_data(self) -> dict[str, Any]:
        # every field is a JSON primitive, a tuple of strings or a str->float dict:
        # the same output as model_dump(mode="json", exclude_none=True), several times faster
        return {k: v for k, v in self.__dict__.items() if v is not None}


def _plain_sizes(floats: Sequence[float]) -> bool:
    """Whether each of ``floats`` is finite and 0 or at least 1e-4 in size."""
    sizes = list(map(abs, floats))
    total = sum(sizes)  # NaN, which min and max may pass over, makes it NaN
    if total != total or max(sizes) == math.inf:
        return False
    return min(sizes) >= 1e-4 or all(x >= 1e-4 or x == 0 for x in sizes)


@upcaster("ResultAdded", 1)
def _result_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 stored the variant as ``session_type`` (``cold``/``warm``); v2 calls it ``variant``."""
    if "session_type" in data:
        data["variant"] = data.pop("session_type")
    return data


class TestArchived(Event):
    """A test was archived: hidden from lists, nothing destroyed."""

    __test__ = False
    reason: str | None = None


class TestRestored(Event):
    """An archived test was brought back."""

    __test__ = False


# --------------------------------------------------------------------------- commands


class CreateTest(Command):
    """Define a new A/B test."""

    name: str
    variants: tuple[str, ...] = ("control", "treatment")
    control: str | None = None
    metric: str = "success"
    guardrails: tuple[Guardrail, ...] = ()
    split: dict[str, float] | None = None
    task_id: str | None = None
    description: str | None = None
    prompt: str | None = None
    category: str | None = None
    difficulty: Difficulty | None = None
    #: the same bounds as :class:`TestCreated` reads it with; a whole number, never a float or bool
    expected_results: int | None = Field(default=None, ge=2, le=MAX_COUNT, strict=True)
    expected_tools: tuple[str, ...] | None = None
    success_criteria: tuple[str, ...] | None = None
    caps: tuple[str, ...] | None = None
    segments: tuple[str, ...] | None = None

    @field_validator("caps")
    @classmethod
    def _caps(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if not v:
            return None
        from trialbook.domain.stats.cap_rule import Cap

        out: list[str] = []
        for text in v:
            cap = Cap.parse(text)
            kind = metric_named(cap.metric).kind
            if kind not in ("continuous", "rate"):
                raise ValueError(
                    f"cap {text!r}: {cap.metric} is {kind}; caps apply to per-result numbers "
                    "such as cost or completion_time"
                )
            if any(c.startswith(cap.metric + ":") for c in out):
                raise ValueError(f"cap {text!r}: {cap.metric} is capped twice; give one cap each")
            out.append(str(cap))
        return tuple(out)

    @field_validator("segments")
    @classmethod
    def _segments(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if not v:
            return None
        from trialbook.domain.stats.segments import dimension_key

        return tuple(dict.fromkeys(dimension_key(s.strip(), "--segment") for s in v))

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v, "test name")

    @field_validator("task_id", "description", "prompt", "category")
    @classmethod
    def _text(cls, v: str | None) -> str | None:
        return v if v is None else check_text(v)

    @field_validator("expected_tools", "success_criteria")
    @classmethod
    def _texts(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for i, item in enumerate(v or (), start=1):
            check_text(item, f"item {i}")
            if not item.strip():
                raise ValueError(f"item {i} of {len(v or ())} is empty; give every item as text")
        return v

    @field_validator("variants")
    @classmethod
    def _variants(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for i, x in enumerate(v, start=1):
            if not x.strip():
                raise ValueError(
                    f"variant {i} of {len(v)} is empty; name every variant, e.g. --variants cold,warm"
                )
        names = tuple(check_name(x, "variant name") for x in v)
        if len(names) < 2:
            raise ValueError("a test needs at least two variants, e.g. --variants cold,warm")
        dupes = sorted({x for x in names if names.count(x) > 1})
        if dupes:
            raise ValueError(f"variant {dupes[0]!r} is listed twice; variants must be distinct")
        return names

    @field_validator("metric")
    @classmethod
    def _metric(cls, v: str) -> str:
        if v == "success_rate":
            raise ValueError(SUCCESS_RATE_IS_AMBIGUOUS)
        if ":p" in v:
            metric_named(v)  # a quantile of a per-result number; its error names the form
        elif v not in METRICS and not CUSTOM_METRIC_RE.match(v):
            raise ValueError(
                f"metric {v!r} is unknown; use one of {', '.join(METRICS)} or a custom name"
            )
        return v

    @model_validator(mode="after")
    def _control_and_split(self) -> CreateTest:
        if self.control is not None and self.control not in self.variants:
            raise ValueError(
                f"control {self.control!r} is not one of the variants ({', '.join(self.variants)})"
            )
        if self.split is not None:
            unknown = sorted(set(self.split) - set(self.variants))
            if unknown:
                raise ValueError(f"split names {unknown[0]!r}, which is not a variant")
            if any(not math.isfinite(w) or w <= 0 for w in self.split.values()) or set(
                self.split
            ) != set(self.variants):
                raise ValueError(
                    "split needs a positive weight for every variant, e.g. cold=1,warm=1"
                )
        return self

    def stream_id(self) -> str:
        return stream_for(self.name)


class AddResults(Command):
    """Record one or more results for a test's variants, all or nothing."""

    test: str
    results: tuple[ResultFields, ...]
    #: where each result came from ("line 7"), to name it in errors
    sources: tuple[str, ...] | None = None

    def __init__(self, /, **data: Any) -> None:
        """Validate ``data`` as pydantic does; a test name and a tuple of results already
        built as ``ResultFields`` (what the API and single appends give) are taken as they
        are, as pydantic takes them (an instance is not validated again), without its
        second run of the results' model checks, which they passed when they were built.

        Marked as pydantic's own ``__init__``, as :class:`ResultFields` marks its own.
        """
        if (
            type(self) is AddResults
            and type(data.get("test")) is str
            and type(data.get("results")) is tuple
            and data.get("sources") is None
            and _ADD_KEYS.issuperset(data)
            and all(type(r) is ResultFields for r in data["results"])
        ):
            values = {"test": data["test"], "results": data["results"], "sources": None}
            _constructed(self, values, set(data))
            return
        super().__init__(**data)

    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    def stream_id(self) -> str:
        return stream_for(self.test)


#: the fields of AddResults (its quick ``__init__`` takes no other key)
_ADD_KEYS = frozenset({"test", "results", "sources"})


class ArchiveTest(Command):
    """Hide a test from lists (the 'delete' of older scripts), keeping every event."""

    test: str
    reason: str | None = None

    def stream_id(self) -> str:
        return stream_for(self.test)


class RestoreTest(Command):
    """Bring an archived test back."""

    test: str

    def stream_id(self) -> str:
        return stream_for(self.test)


# --------------------------------------------------------------------------- state


@dataclass(frozen=True)
class ABTestState:
    """What the decision function needs to know about one test."""

    name: str | None = None
    variants: tuple[str, ...] = ()
    control: str | None = None
    archived: bool = False
    results: int = 0

    @property
    def exists(self) -> bool:
        return self.name is not None


@singledispatch
def evolve(event: Event, state: ABTestState) -> ABTestState:
    """Fold one event into the state; events of other families leave it alone."""
    return state


@evolve.register
def _(event: TestCreated, state: ABTestState) -> ABTestState:
    return ABTestState(name=event.name, variants=event.variants, control=event.control)


@evolve.register
def _(event: ResultAdded, state: ABTestState) -> ABTestState:
    return replace(state, results=state.results + 1)


@evolve.register
def _(event: TestArchived, state: ABTestState) -> ABTestState:
    return replace(state, archived=True)


@evolve.register
def _(event: TestRestored, state: ABTestState) -> ABTestState:
    return replace(state, archived=False)


def _require(state: ABTestState, name: str) -> None:
    if not state.exists:
        raise NotFound(
            f"no A/B test named {name!r}; see `trialbook ab list`, or create it with `ab create {name}`"
        )


def _require_active(state: ABTestState, name: str) -> None:
    _require(state, name)
    if state.archived:
        raise StateConflict(
            f"test {name!r} is archived; restore it first with `trialbook ab restore {name}`"
        )


@singledispatch
def decide(command: Command, state: ABTestState) -> Sequence[Event]:
    """The events a command produces in the given state, or a DomainError."""
    raise TypeError(f"no A/B handler for {type(command).__name__}")


@decide.register
def _(command: CreateTest, state: ABTestState) -> Sequence[Event]:
    if state.exists:
        hint = (
            f" (archived; bring it back with `trialbook ab restore {command.name}`)"
            if state.archived
            else ""
        )
        raise AlreadyExists(
            f"an A/B test named {command.name!r} already exists{hint}; choose another name"
        )
    for g in command.guardrails:
        if g.metric == command.metric:
            raise InvalidCommand(
                f"guardrail metric {g.metric!r} is the primary metric; pick another metric"
            )
    split = None if command.split is None else _shares(command.split, command.variants)
    return [
        TestCreated(
            name=command.name,
            variants=command.variants,
            control=command.control or command.variants[0],
            metric=command.metric,
            guardrails=command.guardrails,
            split=split,
            task_id=command.task_id,
            description=command.description,
            prompt=command.prompt,
            category=command.category,
            difficulty=command.difficulty,
            expected_results=command.expected_results,
            expected_tools=command.expected_tools,
            success_criteria=command.success_criteria,
            caps=command.caps,
            segments=command.segments,
        )
    ]


def _shares(weights: dict[str, float], variants: tuple[str, ...]) -> dict[str, float]:
    """The planned share of each variant: its weight over the sum, every share above zero."""
    total = sum(weights.values())
    if not math.isfinite(total):  # weights near the float limit: scale them down first
        top = max(weights.values())
        weights = {k: w / top for k, w in weights.items()}
        total = sum(weights.values())
    split = {k: weights[k] / total for k in variants}
    for k, share in split.items():
        if not share > 0:
            raise InvalidCommand(
                f"split weight of {k!r} is too small next to the others to give it a share; "
                "use weights of a similar size, e.g. cold=1,warm=1"
            )
    return split


@decide.register
def _add_results(command: AddResults, state: ABTestState) -> Sequence[Event]:
    _require_active(state, command.test)
    if not command.results:
        raise InvalidCommand("no results to add")
    # one pass over the batch: the common result (a known variant, no custom metric or
    # dimension, measures in range) costs a few comparisons; any other is checked in full,
    # in the same order, so the first bad result is refused with the same message
    count = len(command.results)
    # a single result looks its variant up once: the tuple does it without a set built
    variants = state.variants if count == 1 else frozenset(state.variants)
    if count > _FEW_RESULTS and _plain_batch(command.results, frozenset(variants)):
        # (an import's batch: the same checks a column at a time, every result passing)
        return ResultAdded.of_all(command.results)
    events = []
    for i, r in enumerate(command.results, start=1):
        if (
            r.variant not in variants
            or r.metrics
            or r.dimensions
            or not _in_range(r.completion_time)
            or not _in_range(r.cost)
            or not _in_range(r.score)
        ):
            where = result_source(command.sources, count, i)
            if r.variant not in variants:
                raise InvalidCommand(
                    f"{where}variant {r.variant!r} is not in test {command.test!r}; "
                    f"use one of: {', '.join(state.variants)}"
                )
            check_measures(r, where)
        events.append(ResultAdded.of(r))
    return events


#: batches of more results than this are checked a column at a time first (_plain_batch)
_FEW_RESULTS = 4
_VARIANT_OF = operator.attrgetter("variant")
_EXTRAS_OF = operator.attrgetter("metrics", "dimensions")
_MEASURES_OF = operator.attrgetter("completion_time", "cost", "score")


def _plain_batch(results: Sequence[ResultFields], variants: frozenset[str]) -> bool:
    """Whether every one of ``results`` passes ``_add_results``'s quick test (a known variant,
    no custom metric or dimension, measures in range): then each is recorded as it is."""
    if not variants.issuperset(map(_VARIANT_OF, results)) or any(
        map(any, map(_EXTRAS_OF, results))
    ):
        return False
    for column in zip(*map(_MEASURES_OF, results), strict=True):
        given = [v for v in column if v is not None]
        if given:
            total = sum(given)  # (NaN, which min and max may pass over, makes it NaN)
            if total != total or min(given) < -MAX_VALUE or max(given) > MAX_VALUE:
                return False
    return True


def _in_range(value: float | None) -> bool:
    """Whether a measure is absent or small enough to analyse (see :func:`check_magnitudes`)."""
    return value is None or -MAX_VALUE <= value <= MAX_VALUE


#: the largest magnitude a measured value (time, cost, score, custom metric) may have: the
#: statistics square and sum values (Welch's degrees of freedom take fourth powers), which
#: overflow a float far below its 1.8e308; 1e15 seconds or dollars is beyond any session
MAX_VALUE = 1e15


def check_magnitudes(r: ResultFields, where: str = "") -> None:
    """Refuse a result whose measured values are too large to analyse (one-line error).

    Checked when a result is recorded, not on the model: results stored before the
    bound still load as they were recorded.
    """
    values = {"completion_time": r.completion_time, "cost": r.cost, "score": r.score}
    values.update({f"metric {k}": v for k, v in r.metrics.items()})
    for name, value in values.items():
        if value is not None and abs(value) > MAX_VALUE:
            raise InvalidCommand(
                f"{where}{name} {value:g} is too large to analyse; values up to "
                f"{MAX_VALUE:g} in size are accepted (record it in another unit)"
            )


def check_measures(r: ResultFields, where: str = "") -> None:
    """Refuse a result whose custom metrics take a built-in name or whose values are too large.

    The per-result checks every result command (A/B test, canary) makes before its event.
    """
    taken = sorted(RESERVED_METRIC_NAMES.intersection(r.metrics))
    if taken:
        raise InvalidCommand(
            f"{where}custom metric {taken[0]!r} has the name of a built-in metric; record that "
            "value with its own field or option, or name it otherwise"
        )
    check_magnitudes(r, where)
    for key, value in (r.dimensions or {}).items():
        # the CLI refuses `--dimension k=` already; import lines and the API came through
        if not value.strip() or "\n" in value or "\r" in value:
            raise InvalidCommand(
                f"{where}dimension {key!r} has an empty or multi-line value {value[:40]!r}; "
                "give one line of text, e.g. category=billing"
            )


def result_source(sources: Sequence[str] | None, count: int, i: int) -> str:
    """Where result ``i`` (from 1) of ``count`` came from, as an error message prefix."""
    if sources:
        return f"{sources[i - 1]}: "
    return f"result {i}: " if count > 1 else ""


def optional_note(v: str | None) -> str | None:
    """A decision's note as recorded: checked text, stripped, None when empty."""
    return (check_text(v, "note").strip() or None) if v is not None else None


def decision_data(event: Event) -> dict[str, Any]:
    """A decision event's stored body: only top-level None fields dropped, so the analysis
    it carries is stored exactly as shown, nulls included."""
    return {k: v for k, v in event.model_dump(mode="json").items() if v is not None}


@decide.register
def _(command: ArchiveTest, state: ABTestState) -> Sequence[Event]:
    _require(state, command.test)
    if state.archived:
        raise StateConflict(f"test {command.test!r} is already archived")
    return [TestArchived(reason=command.reason)]


@decide.register
def _(command: RestoreTest, state: ABTestState) -> Sequence[Event]:
    _require(state, command.test)
    if not state.archived:
        raise StateConflict(f"test {command.test!r} is not archived")
    return [TestRestored()]


#: the event classes ``ABTestAggregate.evolve_all`` counts at once
_ONLY_RESULTS = frozenset({ResultAdded})


class ABTestAggregate:
    """The A/B test aggregate, as the ledger sees it."""

    state_version = 1
    #: a test's state is snapshotted when it is created: a later process (an import, a
    #: result added from a script) then restores it instead of validating the stored
    #: definition, whose model's first validation builds its schema (~20 ms of a start)
    snapshot_first = True

    def initial(self) -> ABTestState:
        return ABTestState()

    def evolve(self, state: ABTestState, event: Event) -> ABTestState:
        if event.__class__ is ResultAdded:  # most events by far: counted without dispatch
            # the state with one more result, without the frozen dataclass's __init__ (it
            # sets each field through object.__setattr__: most of an evolve's cost)
            counted = object.__new__(ABTestState)
            counted.__dict__.update(state.__dict__, results=state.results + 1)
            return counted
        return evolve(event, state)

    def plain_bodies(self, command: Command, events: Sequence[Event]) -> bool:
        """Whether the bodies of ``events``, decided from ``command``, are known to pass
        ``canonical_json``'s check of a body: an import's chunk read as :class:`PlainResults`,
        each recorded as it was read."""
        return (
            command.__class__ is AddResults
            and type(command.results) is PlainResults  # type: ignore[attr-defined]
            and len(events) == len(command.results)  # type: ignore[attr-defined]
            and set(map(type, events)) <= _ONLY_RESULTS
        )

    def evolve_all(self, state: ABTestState, events: Sequence[Event]) -> ABTestState:
        """``evolve`` of each of ``events`` in turn; a batch of results at once (one state)."""
        if set(map(type, events)) <= _ONLY_RESULTS:
            counted = object.__new__(ABTestState)
            counted.__dict__.update(state.__dict__, results=state.results + len(events))
            return counted
        for e in events:
            state = self.evolve(state, e)
        return state

    def decide(self, state: ABTestState, command: Command) -> Sequence[Event]:
        if command.__class__ is AddResults:  # most commands by far: decided without dispatch
            return _add_results(command, state)
        return decide(command, state)

    def snapshot(self, state: ABTestState) -> dict[str, Any]:
        return {
            "name": state.name,
            "variants": list(state.variants),
            "control": state.control,
            "archived": state.archived,
            "results": state.results,
        }

    def restore(self, data: dict[str, Any]) -> ABTestState:
        return ABTestState(
            name=data["name"],
            variants=tuple(data["variants"]),
            control=data["control"],
            archived=data["archived"],
            results=data["results"],
        )


AB_TESTS = ABTestAggregate()
for _cmd in (CreateTest, AddResults, ArchiveTest, RestoreTest):
    _cmd.aggregate = AB_TESTS


# =========================================================================== decisions (`ab conclude`)
# A person's conclusion of a test, recorded with the analysis they were shown and the
# log position it was computed at, so an audit can replay the log to that position,
# recompute the analysis with the same method version and check it reproduces.

Choice = Literal["ship", "keep_control", "stop"]


def against_recommendation(
    choice: str, variant: str | None, recommendation: dict[str, Any]
) -> bool:
    """Whether a choice goes against the analysis's recommendation.

    Shipping is against it unless the recommendation was to ship that same variant;
    keeping control is against it only when the recommendation was to ship a variant;
    stopping says nothing about which variant is better, so it never is.
    """
    decision = recommendation.get("decision")
    if choice == "ship":
        return not (decision == "ship" and recommendation.get("variant") == variant)
    if choice == "keep_control":
        return decision == "ship"
    return False


def analysed_results(analysis: dict[str, Any]) -> int:
    """How many results an ``ab analyze --json`` document counted (all variants)."""
    return sum(int(v.get("results", 0)) for v in analysis.get("variants", ()))


class TestConcluded(Event):
    """A person concluded a test: ship a variant, keep control, or stop without a choice.

    ``analysis`` is the ``ab analyze --json`` document shown at that moment,
    ``method_version`` the version of the statistics that produced it and
    ``position`` the log head it was computed at (before this event).
    ``variant`` is the shipped variant, the control for ``keep_control``, None for ``stop``.
    """

    __test__ = False
    choice: Choice
    variant: str | None = None
    note: str | None = None
    against_recommendation: bool = False
    method_version: str
    position: int = Field(ge=0)
    analysis: dict[str, Any]

    def to_data(self) -> dict[str, Any]:
        return decision_data(self)


class ConcludeTest(Command):
    """Record a person's decision on a test, with the analysis it was based on."""

    test: str
    choice: Choice
    variant: str | None = None
    note: str | None = None
    analysis: dict[str, Any]
    method_version: str
    position: int = Field(ge=0)

    @field_validator("note")
    @classmethod
    def _note(cls, v: str | None) -> str | None:
        return optional_note(v)

    def stream_id(self) -> str:
        return stream_for(self.test)


@evolve.register
def _(event: TestConcluded, state: ABTestState) -> ABTestState:
    return state  # a decision is a record; results may still be added and it may be concluded again


@decide.register
def _(command: ConcludeTest, state: ABTestState) -> Sequence[Event]:
    _require_active(state, command.test)
    if command.analysis.get("test") != command.test:
        raise InvalidCommand(f"the analysis given is not of test {command.test!r}")
    if command.choice == "ship":
        if command.variant is None:
            raise InvalidCommand(f"ship which variant? use one of: {', '.join(state.variants)}")
        if command.variant not in state.variants:
            raise InvalidCommand(
                f"variant {command.variant!r} is not in test {command.test!r}; use one of: {', '.join(state.variants)}"
            )
        if command.variant == state.control:
            raise InvalidCommand(
                f"{command.variant!r} is the control of {command.test!r}; to keep it use --keep-control"
            )
        variant: str | None = command.variant
    else:
        if command.variant is not None:
            raise InvalidCommand(
                f"a variant is named only when shipping, not with {command.choice}"
            )
        variant = state.control if command.choice == "keep_control" else None
    seen = analysed_results(command.analysis)
    if seen < state.results:
        raise StateConflict(
            f"{state.results - seen} more results were recorded for {command.test!r} after the analysis; "
            "run the command again to decide on all of them"
        )
    if seen > state.results:
        raise InvalidCommand(
            f"the analysis counts {seen} results but test {command.test!r} has {state.results}"
        )
    return [
        TestConcluded(
            choice=command.choice,
            variant=variant,
            note=command.note,
            against_recommendation=against_recommendation(
                command.choice, variant, command.analysis.get("recommendation") or {}
            ),
            method_version=command.method_version,
            position=command.position,
            analysis=command.analysis,
        )
    ]


ConcludeTest.aggregate = AB_TESTS
