"""Scorers: turn a rollout's output into verdicts.

Every scorer is named by a spec string. The part before the first ``:`` is
the kind; everything after it is the argument, taken literally (so a regular
expression may itself contain ``:``)::

    equals[:VALUE]            the output equals VALUE, else the case's expected value
                              (text is compared with surrounding whitespace trimmed; a
                              non-text expected value is compared with the output read as JSON)
    contains[:TEXT]           TEXT (else expected; a list of strings: each of them) occurs in
                              the output; the score is the share found, pass needs all
    icontains[:TEXT]          the same, ignoring case
    regex:PATTERN             re.search(PATTERN, output); bare ``regex`` uses expected as the pattern
    json_valid                the output is JSON (a markdown fence around it is allowed)
    json_field:PATH[=VALUE]   the output's JSON at PATH equals VALUE (read as JSON when it
                              parses, else as text), else expected. PATH is dot separated;
                              a number or [N] indexes a list: ``items.0.name``, ``items[0].name``
    numeric[:TOL]             the output's number is within TOL of expected: absolute
                              (``numeric:0.01``) or relative (``numeric:1%``); exact by default.
                              The output's number is the whole output, else the last number in it
    length:MIN-MAX            the output's length in characters is within bounds; either bound
                              may be left out (``length:20-``, ``length:-500``)
    python:MODULE:FUNCTION[,scale=MIN-MAX][,threshold=T]
                              a code evaluator (below)
    judge:NAME[,KEY=VALUE…]   an LLM judge (runners/judge_openai.py)

Built-in scorers score 0–1 with pass/fail and one evaluation row giving the reason.

A code evaluator is called as ``fn(prompt, output, **context)`` with only the
context keys its signature accepts (all of them if it takes ``**kwargs``):
``case``, ``case_id``, ``expected``, ``criteria``, ``metadata``,
``system_prompt``, ``flags``, ``epoch``, ``run_id``. ``prompt`` is the case's
input. It returns ``None`` to abstain, or a dict with ``score`` (0–1, or on
the scale the spec declares with ``scale=1-10`` (also ``1..10``), or on the
scale the dict gives with ``"scale": HIGH`` or ``[LOW, HIGH]``), optional
``passed``, ``evaluation`` rows ``{criteria, passed, reason}`` and ``result``.
A score outside its scale is a scoring error. Without ``passed``, the verdict
passes when the score reaches ``threshold=T`` (given on the scale, e.g.
``scale=1-10,threshold=7``), else when its normalised score
``(score − MIN) / (MAX − MIN)`` reaches the run's threshold (0.7). Anything
else, an exception, or running past the timeout gives a failed verdict naming
the reason. Plain functions run in a daemon thread, so one that hangs is
abandoned rather than waited for; ``async def`` evaluators are cancelled.

:func:`resolve_scorers` checks every spec before a run starts and raises
:class:`ScorerConfigError` with one line naming the problem.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import importlib
import inspect
import json
import math
import os
import re
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from trialbook.domain.verdict_values import parse_scale
from trialbook.domain.verdicts import (
    DEFAULT_PASS_THRESHOLD,
    Criterion,
    Flag,
    ScorerConfigError,
    Verdict,
    parse_bool,
    read_criteria,
)
from trialbook.runners.judge_openai import JudgeConfig, JudgeScorer, judge_config, parse_judge_spec

__all__ = [
    "BUILTINS",
    "CONTEXT_KEYS",
    "DEFAULT_EVALUATOR_TIMEOUT",
    "BuiltinScorer",
    "JudgeConfig",
    "JudgeScorer",
    "PythonScorer",
    "Scorer",
    "ScorerConfigError",
    "close_scorers",
    "resolve_scorer",
    "resolve_scorers",
    "score_rollout",
]

DEFAULT_EVALUATOR_TIMEOUT = 30.0
#: context keys a code evaluator may accept by name
CONTEXT_KEYS = (
    "case",
    "case_id",
    "expected",
    "criteria",
    "metadata",
    "system_prompt",
    "flags",
    "epoch",
    "run_id",
)
BUILTINS = (
    "equals",
    "contains",
    "icontains",
    "regex",
    "json_valid",
    "json_field",
    "numeric",
    "length",
)
KINDS = BUILTINS + ("python", "judge")


@runtime_checkable
class Scorer(Protocol):
    """What the executor needs from a scorer: a name, a secret-free description, and ``score``."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    def describe(self) -> dict[str, Any]: ...

    async def score(
        self, case: Mapping[str, Any], output: Any, context: Mapping[str, Any] | None = None
    ) -> list[Verdict]: ...

    async def aclose(self) -> None: ...


# --------------------------------------------------------------------------- helpers

_FENCED_RE = re.compile(r"^```[ \t]*[A-Za-z0-9_+-]*[ \t]*\r?\n(.*?)\r?\n?```$", re.S)
_NUMBER_RE = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+")


class _NoExpected(Exception):
    """The case has no expected value and the scorer needs one."""


def _short(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else _text(value)
    flat = re.sub(r"\s+", " ", text).strip()
    return repr(flat if len(flat) <= limit else flat[: limit - 1] + "…")


def _text(output: Any) -> str:
    """The output as text: strings as they are, other values as JSON."""
    if isinstance(output, str):
        return output
    if output is None:
        return ""
    try:
        return json.dumps(output, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        return str(output)


def _as_json(output: Any) -> tuple[Any, str | None]:
    """The output read as JSON (a value that is not text is taken as it is), or why it is not JSON."""
    if not isinstance(output, str):
        return output, None
    text = output.strip()
    fenced = _FENCED_RE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    try:
        return json.loads(text), None
    except json.JSONDecodeError as e:
        return None, f"the output is not JSON ({e.msg} at line {e.lineno} column {e.colno})"
    except RecursionError:
        return None, "the output is JSON nested too deeply to read"


def _same(a: Any, b: Any) -> bool:
    """JSON equality: numbers by value, but booleans only equal booleans."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _expected(case: Mapping[str, Any], scorer: str) -> Any:
    if case.get("expected") is None:
        raise _NoExpected(
            f"case {case.get('id', '?')!r} has no expected value, which {scorer} compares against"
        )
    return case["expected"]


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.strip().replace(",", ""))
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


# --------------------------------------------------------------------------- built-in scorers


@dataclass(frozen=True)
class Check:
    """A built-in scorer's finding on one output."""

    score: float
    passed: bool
    criterion: str
    reason: str


CheckFn = Callable[[Mapping[str, Any], Any], Check]


def _equals(arg: str | None) -> CheckFn:
    def check(case: Mapping[str, Any], output: Any) -> Check:
        target = arg if arg is not None else _expected(case, "equals")
        if isinstance(target, str) and isinstance(output, str):
            ok = output.strip() == target.strip()
        elif isinstance(target, str):
            parsed, _ = _as_json(target)
            ok = (
                _same(output, parsed)
                if parsed is not None
                else _text(output).strip() == target.strip()
            )
        else:
            value, problem = _as_json(output)
            ok = problem is None and _same(value, target)
        what = "the given value" if arg is not None else "the expected value"
        reason = (
            f"the output equals {what}"
            if ok
            else f"the output {_short(output)} differs from {_short(target)}"
        )
        return Check(1.0 if ok else 0.0, ok, f"output equals {what}", reason)

    return check


def _contains(arg: str | None, ignore_case: bool) -> CheckFn:
    name = "icontains" if ignore_case else "contains"

    def check(case: Mapping[str, Any], output: Any) -> Check:
        target = arg if arg is not None else _expected(case, name)
        needles = (
            [str(x) if isinstance(x, str) else _text(x) for x in target]
            if isinstance(target, (list, tuple))
            else [target if isinstance(target, str) else _text(target)]
        )
        if not needles:
            raise _NoExpected(f"case {case.get('id', '?')!r} has an empty expected list for {name}")
        hay = _text(output)
        if ignore_case:
            hay = hay.casefold()
        missing = [n for n in needles if (n.casefold() if ignore_case else n) not in hay]
        found = len(needles) - len(missing)
        ok = not missing
        quoted = ", ".join(_short(n, 40) for n in needles[:5])
        criterion = f"output contains {quoted}" + (" (ignoring case)" if ignore_case else "")
        if ok:
            reason = f"found {'it' if len(needles) == 1 else f'all {len(needles)}'}"
        else:
            reason = (
                "missing "
                + ", ".join(_short(n, 40) for n in missing[:5])
                + (f" ({found} of {len(needles)} found)" if len(needles) > 1 else "")
            )
        return Check(found / len(needles), ok, criterion, reason)

    return check


def _regex(arg: str | None, spec: str) -> CheckFn:
    compiled: re.Pattern[str] | None = None
    if arg is not None:
        try:
            compiled = re.compile(arg)
        except re.error as e:
            raise ScorerConfigError(
                f"scorer {spec!r}: the pattern is not a valid regular expression ({e})"
            ) from None

    def check(case: Mapping[str, Any], output: Any) -> Check:
        pattern = compiled
        if pattern is None:
            expected = _expected(case, "regex")
            try:
                pattern = re.compile(str(expected))
            except re.error as e:
                raise ValueError(
                    f"the expected value {_short(expected)} is not a valid regular expression ({e})"
                ) from None
        m = pattern.search(_text(output))
        ok = m is not None
        reason = f"matched {_short(m.group(0), 40)}" if m is not None else "no match in the output"
        return Check(1.0 if ok else 0.0, ok, f"output matches /{pattern.pattern}/", reason)

    return check


def _json_valid(case: Mapping[str, Any], output: Any) -> Check:
    _, problem = _as_json(output)
    return Check(
        0.0 if problem else 1.0,
        problem is None,
        "output is valid JSON",
        problem or "the output parses as JSON",
    )


_SEGMENT_RE = re.compile(r"^([^\[\]]*)((?:\[\d+\])*)$")


def _parse_path(path: str, spec: str) -> list[str | int]:
    steps: list[str | int] = []
    for segment in path.split("."):
        m = _SEGMENT_RE.match(segment)
        if not m or (not m.group(1) and not m.group(2)):
            raise ScorerConfigError(
                f"scorer {spec!r}: path {path!r} is not valid; write keys separated by dots, e.g. json_field:answer.items[0].id=7"
            )
        if m.group(1):
            steps.append(m.group(1))
        steps.extend(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2)))
    return steps


def _walk(value: Any, steps: Sequence[str | int]) -> tuple[bool, Any]:
    for step in steps:
        if isinstance(value, Mapping):
            key = str(step)
            if key not in value:
                return False, None
            value = value[key]
        elif isinstance(value, list):
            try:
                index = int(step)
            except ValueError:
                return False, None
            if not 0 <= index < len(value):
                return False, None
            value = value[index]
        else:
            return False, None
    return True, value


def _json_field(arg: str | None, spec: str) -> CheckFn:
    if not arg:
        raise ScorerConfigError(
            f"scorer {spec!r}: give a path, e.g. json_field:answer.id=7 (or json_field:answer to compare with expected)"
        )
    path, eq, raw_value = arg.partition("=")
    path = path.strip()
    steps = _parse_path(path, spec)
    given: Any = None
    if eq:
        try:
            given = json.loads(raw_value)
        except json.JSONDecodeError:
            given = raw_value

    def check(case: Mapping[str, Any], output: Any) -> Check:
        target = given if eq else _expected(case, "json_field")
        criterion = f"output field {path} equals {_short(target, 40)}"
        value, problem = _as_json(output)
        if problem:
            return Check(0.0, False, criterion, problem)
        found, actual = _walk(value, steps)
        if not found:
            return Check(0.0, False, criterion, f"the output has no field {path}")
        ok = _same(actual, target) or (
            isinstance(target, str)
            and not isinstance(actual, (str, Mapping, list))
            and _text(actual) == target
        )
        reason = f"{path} is {_short(actual, 40)}"
        return Check(1.0 if ok else 0.0, ok, criterion, reason)

    return check


def _numeric(arg: str | None, spec: str) -> CheckFn:
    tolerance, relative = 0.0, False
    if arg:
        m = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)(?:[eE]([-+]?\d+))?\s*(%?)\s*", arg)
        if not m:
            raise ScorerConfigError(
                f"scorer {spec!r}: tolerance {arg!r} is not valid; write numeric:0.01 (absolute) or numeric:1% (relative)"
            )
        tolerance = float(m.group(1) + (f"e{m.group(2)}" if m.group(2) else ""))
        relative = bool(m.group(3))
        if relative:
            tolerance /= 100

    def check(case: Mapping[str, Any], output: Any) -> Check:
        expected = _number(_expected(case, "numeric"))
        if expected is None:
            raise ValueError(f"the expected value {_short(case.get('expected'))} is not a number")
        limit = tolerance * abs(expected) if relative else tolerance
        criterion = f"output number is {expected:g}" + (f" ± {arg}" if arg else "")
        actual = _number(output)
        if actual is None:
            numbers = _NUMBER_RE.findall(_text(output))
            actual = _number(numbers[-1]) if numbers else None
        if actual is None:
            return Check(0.0, False, criterion, "no number in the output")
        ok = (
            abs(actual - expected) <= limit
            if limit > 0
            else math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12)
        )
        reason = f"the output's number is {actual:g}" + (
            "" if ok else f", off by {abs(actual - expected):g}"
        )
        return Check(1.0 if ok else 0.0, ok, criterion, reason)

    return check


def _length(arg: str | None, spec: str) -> CheckFn:
    m = re.fullmatch(r"\s*(\d*)\s*-\s*(\d*)\s*", arg or "")
    if not m or not (m.group(1) or m.group(2)):
        raise ScorerConfigError(
            f"scorer {spec!r}: write length:MIN-MAX in characters, e.g. length:20-500, length:20- or length:-500"
        )
    low = int(m.group(1)) if m.group(1) else None
    high = int(m.group(2)) if m.group(2) else None
    if low is not None and high is not None and low > high:
        raise ScorerConfigError(f"scorer {spec!r}: the minimum {low} is above the maximum {high}")
    bounds = f"{low if low is not None else 0}–{high if high is not None else '∞'} characters"

    def check(case: Mapping[str, Any], output: Any) -> Check:
        n = len(_text(output))
        if low is not None and n < low:
            return Check(
                0.0, False, f"output length is {bounds}", f"{n} characters, below the minimum {low}"
            )
        if high is not None and n > high:
            return Check(
                0.0,
                False,
                f"output length is {bounds}",
                f"{n} characters, above the maximum {high}",
            )
        return Check(1.0, True, f"output length is {bounds}", f"{n} characters")

    return check


@dataclass(frozen=True)
class BuiltinScorer:
    """A built-in check (equals, contains, regex …) scored 0–1 with pass/fail and its reason."""

    name: str
    check: CheckFn
    kind: str = "builtin"

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind}

    async def score(
        self, case: Mapping[str, Any], output: Any, context: Mapping[str, Any] | None = None
    ) -> list[Verdict]:
        try:
            found = self.check(case, output)
        except _NoExpected as e:
            return [Verdict.failure(self.name, str(e))]
        except Exception as e:
            return [Verdict.failure(self.name, f"{type(e).__name__}: {e}")]
        row = Criterion(criteria=found.criterion, passed=found.passed, reason=found.reason)
        return [
            Verdict.scored(
                self.name, found.score, passed=found.passed, evaluation=(row,), result=found.reason
            )
        ]

    async def aclose(self) -> None:
        return None


def _builtin(spec: str, kind: str, arg: str | None) -> BuiltinScorer:
    if kind == "json_valid" and arg is not None:
        raise ScorerConfigError(f"scorer {spec!r}: {kind} takes no argument")
    if kind == "regex" and arg == "":
        raise ScorerConfigError(
            f"scorer {spec!r}: give a pattern after 'regex:' (or bare 'regex' to use expected)"
        )
    factories: dict[str, Callable[[], CheckFn]] = {
        "equals": lambda: _equals(arg),
        "contains": lambda: _contains(arg, ignore_case=False),
        "icontains": lambda: _contains(arg, ignore_case=True),
        "regex": lambda: _regex(arg, spec),
        "json_valid": lambda: _json_valid,
        "json_field": lambda: _json_field(arg, spec),
        "numeric": lambda: _numeric(arg, spec),
        "length": lambda: _length(arg, spec),
    }
    return BuiltinScorer(name=spec, check=factories[kind]())


# --------------------------------------------------------------------------- code evaluators

_PYTHON_RE = re.compile(
    r"^([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*):([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*)$"
)


@dataclass(frozen=True)
class EvaluatorOptions:
    """What a ``python:`` spec says after MODULE:FUNCTION: its declared scale and pass threshold."""

    target: str
    scale: tuple[float, float] | None = None
    #: pass when the score (on the scale) reaches this
    threshold: float | None = None


def _python_options(spec: str, arg: str) -> EvaluatorOptions:
    """``MODULE:FUNCTION[,scale=MIN-MAX][,threshold=T]`` read and checked; :class:`ScorerConfigError` on a bad option."""
    target, *parts = [p.strip() for p in arg.split(",")]
    _python_target(spec, target)
    values: dict[str, str] = {}
    for part in parts:
        key, eq, value = part.partition("=")
        key = key.strip().lower()
        if not eq or not key:
            raise ScorerConfigError(
                f"scorer {spec!r}: option {part!r} is not KEY=VALUE; write e.g. {target},scale=1-10"
            )
        if key not in ("scale", "threshold"):
            raise ScorerConfigError(
                f"scorer {spec!r}: unknown option {key!r}; a code evaluator takes scale=MIN-MAX and threshold=T"
            )
        if key in values:
            raise ScorerConfigError(f"scorer {spec!r}: option {key!r} is given twice; give it once")
        values[key] = value.strip()
    scale: tuple[float, float] | None = None
    if "scale" in values:
        try:
            scale = parse_scale(values["scale"])
        except ValueError as e:
            raise ScorerConfigError(f"scorer {spec!r}: {e}") from None
    threshold: float | None = None
    if "threshold" in values:
        threshold = _number(values["threshold"])
        low, high = scale or (0.0, 1.0)
        if threshold is None:
            raise ScorerConfigError(
                f"scorer {spec!r}: threshold {values['threshold']!r} is not a number"
            )
        if not low <= threshold <= high:
            where = (
                "" if scale else f"; declare the scale first, e.g. {target},scale=1-10,threshold=7"
            )
            raise ScorerConfigError(
                f"scorer {spec!r}: threshold {threshold:g} is outside the scale {low:g}–{high:g}{where}"
            )
    return EvaluatorOptions(target=target, scale=scale, threshold=threshold)


def _python_target(spec: str, target: str) -> tuple[str, str]:
    """``package.module:function`` split in two; raises :class:`ScorerConfigError` when malformed."""
    m = _PYTHON_RE.match(target)
    if not m:
        raise ScorerConfigError(
            f"scorer {spec!r}: write python:package.module:function (e.g. python:evals.checks:has_citation)"
        )
    return m.group(1), m.group(2)


def _import_evaluator(spec: str, target: str) -> Callable[..., Any]:
    module_name, attr_path = _python_target(spec, target)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        missing = e.name or module_name
        if module_name == missing or module_name.startswith(missing + "."):
            raise ScorerConfigError(
                f"scorer {spec!r}: no module named {missing!r} (check the spelling, install it, or run from the directory that holds it)"
            ) from None
        raise ScorerConfigError(
            f"scorer {spec!r}: importing {module_name!r} failed: it needs module {missing!r}, which is not installed"
        ) from None
    except Exception as e:
        raise ScorerConfigError(
            f"scorer {spec!r}: importing {module_name!r} failed: {type(e).__name__}: {e}"
        ) from None
    value: Any = module
    walked = module_name
    for part in attr_path.split("."):
        if not hasattr(value, part):
            raise ScorerConfigError(f"scorer {spec!r}: {walked!r} has no attribute {part!r}")
        value = getattr(value, part)
        walked = f"{walked}:{part}" if walked == module_name else f"{walked}.{part}"
    if not callable(value):
        raise ScorerConfigError(
            f"scorer {spec!r}: {walked!r} is a {type(value).__name__}, not a function"
        )
    return value  # type: ignore[no-any-return]


def _accepted_keys(spec: str, fn: Callable[..., Any]) -> frozenset[str] | None:
    """The keyword arguments ``fn`` accepts after (prompt, output); ``None``: any, it takes ``**kwargs``.

    Raises :class:`ScorerConfigError` when ``fn`` cannot take two positional
    arguments, or requires an argument that is not a context key.
    """
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins have no signature: pass prompt and output only
        return frozenset()
    params = list(sig.parameters.values())
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) < 2 and not any(p.kind is p.VAR_POSITIONAL for p in params):
        raise ScorerConfigError(
            f"scorer {spec!r}: the function must accept (prompt, output, **context); its signature is {sig}"
        )
    extra = positional[2:] + [p for p in params if p.kind is p.KEYWORD_ONLY]
    for p in extra:
        if p.default is p.empty and (p.kind is p.POSITIONAL_ONLY or p.name not in CONTEXT_KEYS):
            raise ScorerConfigError(
                f"scorer {spec!r}: parameter {p.name!r} is required but is not a context key "
                f"({', '.join(CONTEXT_KEYS)})"
            )
    return frozenset(p.name for p in extra if p.kind is not p.POSITIONAL_ONLY)


async def _in_thread(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], name: str
) -> Any:
    """Run ``fn`` in a daemon thread and await its result; a thread that hangs is abandoned, never joined."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(value: Any, error: Exception | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)

    def run() -> None:
        try:
            value, error = fn(*args, **kwargs), None
        except Exception as e:
            value, error = None, e
        except BaseException as e:  # SystemExit and the like: report them, never end the run
            value, error = None, RuntimeError(f"{type(e).__name__}: {e}")
        with contextlib.suppress(RuntimeError):  # the loop closed while the evaluator overran
            loop.call_soon_threadsafe(settle, value, error)

    threading.Thread(target=run, name=f"trialbook scorer {name}", daemon=True).start()
    return await future


@dataclass
class PythonScorer:
    """A user's code evaluator ``python:package.module:function``."""

    name: str
    fn: Callable[..., Any]
    #: context keys the function accepts; ``None`` when it takes ``**kwargs``
    accepts: frozenset[str] | None
    timeout: float = DEFAULT_EVALUATOR_TIMEOUT
    threshold: float = DEFAULT_PASS_THRESHOLD
    kind: str = "python"
    #: the scale the spec declares (``scale=1-10``); ``None``: 0–1 unless the dict says
    scale: tuple[float, float] | None = None
    #: the pass threshold on that scale (``threshold=7``); ``None``: ``threshold`` on the normalised score
    pass_score: float | None = None

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "timeout": self.timeout,
            "threshold": self.threshold,
        }
        if self.scale is not None:
            d["scale"] = list(self.scale)
        if self.pass_score is not None:
            d["pass_score"] = self.pass_score
        return d

    async def aclose(self) -> None:
        return None

    def _kwargs(self, case: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
        metadata: Mapping[str, Any] = (
            case["metadata"] if isinstance(case.get("metadata"), Mapping) else {}
        )
        available: dict[str, Any] = {
            "case": case,
            "case_id": case.get("id"),
            "expected": case.get("expected"),
            "criteria": case.get("criteria")
            if case.get("criteria") is not None
            else context.get("criteria"),
            "metadata": metadata,
            "system_prompt": context.get("system_prompt") or metadata.get("system_prompt"),
            "flags": context.get("flags") if context.get("flags") is not None else {},
            "epoch": context.get("epoch"),
            "run_id": context.get("run_id"),
        }
        for key, value in context.items():
            available.setdefault(key, value)
        if self.accepts is None:
            return available
        return {k: v for k, v in available.items() if k in self.accepts}

    async def score(
        self, case: Mapping[str, Any], output: Any, context: Mapping[str, Any] | None = None
    ) -> list[Verdict]:
        kwargs = self._kwargs(case, context or {})
        prompt = case.get("input")

        async def call() -> tuple[Any, Exception | None]:
            # the evaluator's own exceptions are returned, so only the timeout escapes wait_for
            try:
                if inspect.iscoroutinefunction(self.fn):
                    value = await self.fn(prompt, output, **kwargs)
                else:
                    value = await _in_thread(self.fn, (prompt, output), kwargs, self.name)
                if inspect.isawaitable(value):
                    value = await value
            except Exception as e:
                return None, e
            return value, None

        try:
            value, error = await asyncio.wait_for(call(), self.timeout)
        except asyncio.TimeoutError:
            return [
                Verdict.failure(
                    self.name, f"the evaluator did not finish within {self.timeout:g} s"
                )
            ]
        if error is not None:
            where = ""
            tb = error.__traceback__
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            if tb is not None:
                where = f" (at {os.path.basename(tb.tb_frame.f_code.co_filename)}:{tb.tb_lineno})"
            return [
                Verdict.failure(
                    self.name, f"the evaluator raised {type(error).__name__}: {error}{where}"
                )
            ]
        return [self.verdict_of(value)]

    def verdict_of(self, value: Any) -> Verdict:
        """The verdict for what the evaluator returned: a dict, ``None`` (abstain), or anything else (failed)."""
        if value is None:
            return Verdict.abstention(self.name)
        if not isinstance(value, Mapping):
            return Verdict.failure(
                self.name,
                f"the evaluator returned a {type(value).__name__}; return a dict with 'score' (or None to abstain)",
            )
        d = {str(k).lower(): v for k, v in value.items()}
        if "score" not in d:
            keys = ", ".join(sorted(d)[:6]) or "none"
            return Verdict.failure(self.name, f"the evaluator's dict has no 'score' (keys: {keys})")
        raw = d["score"]
        score = float(raw) if isinstance(raw, bool) else _number(raw)
        if score is None:
            return Verdict.failure(
                self.name, f"the evaluator's score {raw!r} is not a finite number"
            )
        scale = self._scale(d.get("scale")) if d.get("scale") is not None else self.scale
        if isinstance(scale, str):
            return Verdict.failure(self.name, scale)
        if scale is None:
            scale = (0.0, 1.0)
        elif self.scale is not None and scale != self.scale:
            return Verdict.failure(
                self.name,
                f"the evaluator's scale {scale[0]:g}–{scale[1]:g} differs from the spec's "
                f"scale={self.scale[0]:g}-{self.scale[1]:g}; return scores on the declared scale",
            )
        low, high = scale
        if not low <= score <= high:
            hint = (
                ' or give its range with "scale": HIGH or [LOW, HIGH]'
                f" (or in the spec: {self.name},scale=MIN-MAX)"
                if "scale" not in d and self.scale is None
                else ""
            )
            return Verdict.failure(
                self.name, f"the evaluator's score {score:g} is outside {low:g}–{high:g}{hint}"
            )
        passed: bool | None = None
        for key in ("passed", "pass"):
            if d.get(key) is not None:
                passed = parse_bool(d[key])
                if passed is None:
                    return Verdict.failure(
                        self.name, f"the evaluator's {key} {d[key]!r} is not true or false"
                    )
                break
        rows, problems = (
            read_criteria(d.get("evaluation")) if d.get("evaluation") is not None else ([], [])
        )
        flags = (
            (
                Flag(
                    code="unreadable_rows",
                    detail=f"{len(problems)} row(s) dropped: " + "; ".join(problems[:3]),
                ),
            )
            if problems
            else ()
        )
        result = d.get("result")
        return Verdict.scored(
            self.name,
            score,
            scale=(low, high),
            passed=passed,
            threshold=self.threshold,
            pass_score=self.pass_score,
            evaluation=tuple(rows),
            flags=flags,
            result=None
            if result is None
            else (result if isinstance(result, str) else _text(result)),
        )

    @staticmethod
    def _scale(value: Any) -> tuple[float, float] | str:
        if value is None:
            return 0.0, 1.0
        if isinstance(value, (list, tuple)) and len(value) == 2:
            low, high = _number(value[0]), _number(value[1])
        else:
            low, high = 0.0, _number(value)
        if low is None or high is None or not low < high:
            return f"the evaluator's scale {value!r} is not HIGH or [LOW, HIGH] with LOW < HIGH"
        return low, high


# --------------------------------------------------------------------------- resolving specs


def _unknown(spec: str, kind: str) -> ScorerConfigError:
    close = difflib.get_close_matches(kind, KINDS, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else "."
    return ScorerConfigError(
        f"unknown scorer {spec!r}{hint} Known: {', '.join(BUILTINS)}, python:MODULE:FUNCTION, judge:NAME"
    )


def check_scorer_spec(spec: str) -> None:
    """Check what a spec says without the environment; raises :class:`ScorerConfigError`.

    The kind must exist and a built-in's argument must be valid; a ``python:``
    spec must name MODULE:FUNCTION and a ``judge:`` spec a valid name and
    KEY=VALUE options. Nothing is imported and no judge is configured: that
    waits for the run (:func:`resolve_scorer`), where the code and keys are.
    """
    spec = spec.strip()
    if not spec:
        raise ScorerConfigError('a scorer spec is empty; write e.g. "equals" or "judge:openai"')
    kind, colon, arg = spec.partition(":")
    kind = kind.strip()
    if kind in BUILTINS:
        _builtin(spec, kind, arg if colon else None)
    elif kind == "python":
        _python_options(spec, arg.strip())
    elif kind == "judge":
        parse_judge_spec(spec)
    else:
        raise _unknown(spec, kind)


def resolve_scorer(
    spec: str,
    env: Mapping[str, str],
    *,
    judges: Mapping[str, Mapping[str, Any]] | None = None,
    judge_repeats: int = 1,
    timeout: float = DEFAULT_EVALUATOR_TIMEOUT,
    threshold: float = DEFAULT_PASS_THRESHOLD,
) -> Scorer:
    """One scorer from its spec, checked; raises :class:`ScorerConfigError` naming the problem."""
    spec = spec.strip()
    if not spec:
        raise ScorerConfigError(
            "a scorer spec is empty; write e.g. --scorer equals or --scorer judge:openai"
        )
    kind, colon, arg = spec.partition(":")
    kind = kind.strip()
    if kind in BUILTINS:
        return _builtin(spec, kind, arg if colon else None)
    if kind == "python":
        options = _python_options(spec, arg.strip())
        fn = _import_evaluator(spec, options.target)
        return PythonScorer(
            name=f"python:{options.target}",
            fn=fn,
            accepts=_accepted_keys(spec, fn),
            timeout=timeout,
            threshold=threshold,
            scale=options.scale,
            pass_score=options.threshold,
        )
    if kind == "judge":
        name, inline = parse_judge_spec(spec)
        table = dict((judges or {}).get(name) or {})
        if name != "openai" and not table and not inline:
            raise ScorerConfigError(
                f"judge {name!r} is not configured; give base_url, model and key_env inline "
                f"(judge:{name},base_url=…,model=…,key_env=VAR) or in the run config"
            )
        config, key = judge_config(name, {**table, **inline}, env, repeats=judge_repeats)
        return JudgeScorer(config, key)
    raise _unknown(spec, kind)


def resolve_scorers(
    specs: Sequence[str],
    env: Mapping[str, str],
    *,
    judges: Mapping[str, Mapping[str, Any]] | None = None,
    judge_repeats: int = 1,
    timeout: float = DEFAULT_EVALUATOR_TIMEOUT,
    threshold: float = DEFAULT_PASS_THRESHOLD,
    paths: Sequence[str | os.PathLike[str]] = (),
) -> list[Scorer]:
    """Every scorer of a run, all checked before anything runs.

    ``env`` supplies judges' base URLs and keys (pass ``os.environ``);
    ``judges`` maps judge names to their run-config tables; ``judge_repeats``
    is ``--judge-repeats``; ``timeout`` bounds each code evaluator call;
    ``paths`` are directories put on ``sys.path`` first so ``python:`` specs
    import from the user's project (the CLI passes the working directory).
    Raises :class:`ScorerConfigError` on the first problem: unknown kind,
    bad argument, unimportable module or attribute, a judge without base URL,
    model or key, the same scorer twice.
    """
    if judge_repeats < 1:
        raise ScorerConfigError(f"--judge-repeats must be at least 1, not {judge_repeats}")
    if not timeout > 0:
        raise ScorerConfigError(f"the evaluator timeout must be positive, not {timeout}")
    if not 0 <= threshold <= 1:
        raise ScorerConfigError(f"the pass threshold must be between 0 and 1, not {threshold}")
    for path in paths:
        entry = os.fspath(path)
        if entry not in sys.path:
            sys.path.insert(0, entry)
    scorers: list[Scorer] = []
    seen: set[str] = set()
    for spec in specs:
        scorer = resolve_scorer(
            spec,
            env,
            judges=judges,
            judge_repeats=judge_repeats,
            timeout=timeout,
            threshold=threshold,
        )
        if scorer.name in seen:
            raise ScorerConfigError(
                f"scorer {scorer.name!r} is listed twice; name judges apart (judge:a, judge:b)"
            )
        seen.add(scorer.name)
        scorers.append(scorer)
    return scorers


async def score_rollout(
    scorers: Sequence[Scorer],
    case: Mapping[str, Any],
    output: Any,
    context: Mapping[str, Any] | None = None,
) -> list[Verdict]:
    """Every scorer's verdicts on one rollout, scorers run concurrently; a scorer that raises yields a failed verdict."""

    async def one(scorer: Scorer) -> list[Verdict]:
        try:
            return await scorer.score(case, output, context)
        except Exception as e:  # scorers report their own failures; this guards against their bugs
            return [Verdict.failure(scorer.name, f"the scorer failed: {type(e).__name__}: {e}")]

    results: list[list[Verdict]] = await asyncio.gather(*(one(s) for s in scorers))
    return [v for vs in results for v in vs]


async def close_scorers(scorers: Sequence[Scorer]) -> None:
    """Close every scorer's connections (judges' HTTP clients)."""
    await asyncio.gather(*(s.aclose() for s in scorers))
