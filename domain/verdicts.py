"""Verdicts: one scorer's judgement of one rollout, its event, the judge-answer parser, and statistics.

A verdict carries a score normalised to [0, 1] (``score``) beside the score
on the scorer's own scale (``raw_score`` on ``scale``), pass/fail, per-criterion
rows with reasons, a result text, an error reason when scoring failed, and
checks the parser raised (``flags``). An abstention (a code evaluator returning
``None``) has no score and no pass/fail and is left out of every average.

A scoring error (a verdict with ``error`` set: the judge was unreachable or
answered something unusable, a code evaluator raised or returned an invalid
value) is recorded with score 0 and ``passed=False`` so that every event keeps
the same shape, but it is not a judgement of the output: the statistics here
leave it out of means, pass rates, pass@k and agreement, and count it apart.

LLM judges answer ``{"score": 1-10, "evaluation": [{"criteria", "passed",
"reason"}, …], "result": "…"}``. Their scale is recorded as 0–10: usable
answers score 1–10, and 0 is reserved for an unusable answer, so the
normalised score is ``raw_score / 10`` and tracks the share of passed criteria.
A score outside 1–10 or one that is not a number is a scoring error, unless
the judge reads scores leniently (``lenient_scores``: clamp it, or derive it
from the criteria).

Pure: the standard library and pydantic only (no I/O, no HTTP).
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from statistics import NormalDist
from typing import Any, Literal, Protocol

from pydantic import Field, field_validator, model_validator
from trialbook.domain.errors import InvalidCommand
from trialbook.domain.events import Event, Value

#: the judge's recorded scale; answers score JUDGE_MIN–JUDGE_MAX, 0 marks an unusable answer
JUDGE_SCALE: tuple[float, float] = (0.0, 10.0)
JUDGE_MIN = 1.0
JUDGE_MAX = 10.0
#: how far a judge may move its score away from 10 × (share of passed criteria)
ADJUSTMENT_LIMIT = 2.0
#: criteria a judge must add of its own beyond those it was given
OWN_CRITERIA_MIN = 5
#: a normalised score at or above this passes, unless the scorer decides pass/fail itself
DEFAULT_PASS_THRESHOLD = 0.7
#: how to keep today's lenient reading of a bad judge score (ends a scoring-error reason)
LENIENT_HINT = "(set lenient_scores = true on the judge to clamp or derive it instead)"

FlagCode = Literal[
    "clamped",  # the score was outside 1–10 and was clamped (lenient scores only)
    "fraction_scale",  # a score between 0 and 1 was read as a fraction of 10
    "derived_score",  # no usable score; it was derived from the criteria or the verdict
    "score_vs_criteria",  # the score is more than ADJUSTMENT_LIMIT away from 10 × share passed
    "verdict_vs_score",  # an explicit pass/fail disagrees with the pass decided from the score
    "few_criteria",  # fewer criteria than the given ones plus OWN_CRITERIA_MIN
    "missing_criteria",  # a given criterion has no row in the answer
    "unreadable_rows",  # some criterion rows had no understandable pass/fail and were dropped
    "legacy_shape",  # an older answer shape (verdict, hits/misses, …) was read
]


class ScorerConfigError(InvalidCommand):
    """A scorer spec cannot be used: unknown name, unimportable code, judge without endpoint or key."""


# --------------------------------------------------------------------------- values


class Criterion(Value):
    """One evaluation row: a criterion, whether it passed, and why."""

    criteria: str
    passed: bool
    reason: str = ""


class Flag(Value):
    """A check the parser or scorer raised about a verdict (see :data:`FlagCode`)."""

    code: FlagCode
    detail: str


class JudgeUsage(Value):
    """What asking a judge cost, recorded apart from the target's usage."""

    model: str | None = None
    prompt_tokens: int | None = Field(default=None, ge=0)
    completion_tokens: int | None = Field(default=None, ge=0)
    cost_usd: float | None = Field(default=None, ge=0)
    attempts: int = Field(default=1, ge=1)
    latency_s: float | None = Field(default=None, ge=0)


class VerdictFields(Value):
    """The fields a verdict shares with its event."""

    scorer: str
    #: which of a judge's repeated askings this is (0 for scorers asked once)
    repeat: int = Field(default=0, ge=0)
    #: normalised to [0, 1]; ``None`` only for an abstention
    score: float | None = Field(default=None, ge=0, le=1)
    #: the score on the scorer's own scale
    raw_score: float | None = None
    scale: tuple[float, float] = (0.0, 1.0)
    passed: bool | None = None
    abstained: bool = False
    evaluation: tuple[Criterion, ...] = ()
    result: str | None = None
    #: why scoring failed (unusable judge answer, evaluator exception, timeout …)
    error: str | None = None
    flags: tuple[Flag, ...] = ()
    usage: JudgeUsage | None = None

    @field_validator("raw_score")
    @classmethod
    def _finite_raw(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError(f"must be a finite number, not {v!r}")
        return v

    @field_validator("scale")
    @classmethod
    def _scale(cls, v: tuple[float, float]) -> tuple[float, float]:
        low, high = v
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"scale must be two finite numbers, low < high, not {v!r}")
        return v

    @model_validator(mode="after")
    def _abstention_consistent(self) -> VerdictFields:
        if self.abstained:
            if self.score is not None or self.passed is not None:
                raise ValueError("an abstained verdict has neither a score nor pass/fail")
        elif self.score is None or self.passed is None:
            raise ValueError("a verdict needs a score and pass/fail unless it abstains")
        return self

    @property
    def failed_criteria(self) -> tuple[Criterion, ...]:
        """The evaluation rows that did not pass."""
        return tuple(row for row in self.evaluation if not row.passed)


class Verdict(VerdictFields):
    """One scorer's judgement of one rollout (one repeat, for judges asked several times)."""

    #: the judge's raw answer, to be stored as a blob; never part of the event itself
    raw: str | None = None

    @classmethod
    def scored(
        cls,
        scorer: str,
        raw_score: float,
        *,
        scale: tuple[float, float] = (0.0, 1.0),
        passed: bool | None = None,
        threshold: float = DEFAULT_PASS_THRESHOLD,
        **fields: Any,
    ) -> Verdict:
        """A verdict for ``raw_score`` on ``scale``; pass is ``score >= threshold`` unless given."""
        score = normalise(raw_score, scale)
        if passed is None:
            passed = score >= threshold
        return cls(
            scorer=scorer, score=score, raw_score=raw_score, scale=scale, passed=passed, **fields
        )

    @classmethod
    def failure(
        cls, scorer: str, reason: str, *, scale: tuple[float, float] = (0.0, 1.0), **fields: Any
    ) -> Verdict:
        """A scoring error: ``reason`` as its error (score 0 and not passed, read as no verdict).

        Readers tell it by ``error``; the statistics below leave it out of every
        mean, pass rate and agreement and count it as a scoring error.
        """
        return cls(
            scorer=scorer,
            score=0.0,
            raw_score=scale[0],
            scale=scale,
            passed=False,
            error=reason,
            **fields,
        )

    @classmethod
    def abstention(cls, scorer: str, **fields: Any) -> Verdict:
        """A verdict recording that the scorer declined to judge."""
        return cls(scorer=scorer, abstained=True, **fields)


def normalise(raw: float, scale: tuple[float, float]) -> float:
    """``raw`` mapped linearly from ``scale`` onto [0, 1], clamped to that range."""
    low, high = scale
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"scale must be two finite numbers, low < high, not {scale!r}")
    return min(1.0, max(0.0, (raw - low) / (high - low)))


# --------------------------------------------------------------------------- event

_HASH_RE = re.compile(r"^[0-9a-f]{64}$")


class VerdictRecorded(VerdictFields, Event):
    """A scorer judged one rollout (case × epoch) of an eval run.

    ``raw_blob`` is the content hash of the judge's raw answer stored as a blob.
    Rescoring appends new events; readers keep the latest per
    (scorer, case, epoch, repeat) with :func:`latest`.
    """

    run_id: str
    case_id: str
    epoch: int = Field(ge=0)
    raw_blob: str | None = None

    @field_validator("raw_blob")
    @classmethod
    def _hash(cls, v: str | None) -> str | None:
        if v is not None and not _HASH_RE.match(v):
            raise ValueError("raw_blob must be a lowercase hex SHA-256")
        return v

    @classmethod
    def of(
        cls, verdict: Verdict, *, run_id: str, case_id: str, epoch: int, raw_blob: str | None = None
    ) -> VerdictRecorded:
        """The event recording ``verdict`` for one rollout (the raw answer goes to a blob)."""
        fields = verdict.model_dump(exclude={"raw"})
        return cls(**fields, run_id=run_id, case_id=case_id, epoch=epoch, raw_blob=raw_blob)


# --------------------------------------------------------------------------- string booleans

_TRUE = {
    "true",
    "t",
    "yes",
    "y",
    "pass",
    "passed",
    "passes",
    "ok",
    "okay",
    "correct",
    "met",
    "success",
    "succeeded",
    "successful",
    "satisfied",
    "good",
    "right",
    "1",
    "✓",
    "✔",
    "✅",
}
_FALSE = {
    "false",
    "f",
    "no",
    "n",
    "fail",
    "failed",
    "fails",
    "failure",
    "incorrect",
    "not met",
    "unmet",
    "unsatisfied",
    "wrong",
    "bad",
    "missing",
    "partial",
    "partially",
    "partially met",
    "0",
    "✗",
    "✘",
    "❌",
    "x",
}


def parse_bool(value: Any) -> bool | None:
    """``value`` read as pass/fail: booleans, 0/1 and words like "yes", "pass", "not met"; else ``None``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value) if value in (0, 1) else None
    if isinstance(value, str):
        text = re.sub(r"\s+", " ", value.strip().strip(".!").strip().lower())
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return None


# --------------------------------------------------------------------------- finding JSON in text

_FENCE_RE = re.compile(r"```[ \t]*[A-Za-z0-9_+-]*[ \t]*\r?\n?(.*?)(?:```|\Z)", re.S)
_TRAILING_COMMA_RE = re.compile(r",\s*([}\]])")
_MAX_STARTS = 64
_MAX_REPAIR_CHARS = 200_000


def _loads(text: str) -> Iterator[Any]:
    try:
        yield json.loads(text)
    except (ValueError, RecursionError):
        return


def _json_candidates(text: str) -> Iterator[Any]:
    """Values that may be the judge's answer, most likely first."""
    yield from _loads(text)
    for m in _FENCE_RE.finditer(text):
        yield from _loads(m.group(1).strip())
    decoder = json.JSONDecoder()
    starts = 0
    for i, ch in enumerate(text):
        if ch not in "{[":
            continue
        starts += 1
        if starts > _MAX_STARTS:
            break
        try:
            yield decoder.raw_decode(text, i)[0]
        except (ValueError, RecursionError):
            continue
    first, last = text.find("{"), text.rfind("}")
    if 0 <= first < last and last - first < _MAX_REPAIR_CHARS:
        chunk = text[first : last + 1]
        yield from _loads(_TRAILING_COMMA_RE.sub(r"\1", chunk))
        try:  # single quotes, True/False/None: an answer written as a Python literal
            literal = ast.literal_eval(chunk)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return
        yield literal


# --------------------------------------------------------------------------- reading an answer

_SCORE_KEYS = ("score", "rating", "grade", "overall_score", "final_score", "total_score", "points")
_ROWS_KEYS = (
    "evaluation",
    "evaluations",
    "criteria",
    "criteria_results",
    "criteria_evaluation",
    "checks",
    "rubric",
    "assessment",
    "results",
)
_RESULT_KEYS = (
    "result",
    "summary",
    "explanation",
    "reasoning",
    "rationale",
    "reason",
    "feedback",
    "comment",
    "comments",
    "justification",
)
_VERDICT_KEYS = (
    "verdict",
    "pass",
    "passed",
    "decision",
    "outcome",
    "success",
    "judgement",
    "judgment",
)
_HITS_KEYS = ("hits", "passed_criteria", "met_criteria")
_MISSES_KEYS = ("misses", "failed_criteria", "unmet_criteria")
_LEGACY_KEYS = _VERDICT_KEYS + _HITS_KEYS + _MISSES_KEYS
_WRAPPER_KEYS = (
    "response",
    "answer",
    "output",
    "judgement",
    "judgment",
    "evaluation_result",
    "data",
    "result",
)
_ROW_NAME_KEYS = (
    "criteria",
    "criterion",
    "name",
    "check",
    "title",
    "description",
    "requirement",
    "question",
    "item",
)
_ROW_PASS_KEYS = (
    "passed",
    "pass",
    "met",
    "ok",
    "satisfied",
    "success",
    "verdict",
    "status",
    "result",
    "value",
    "score",
)
_ROW_REASON_KEYS = (
    "reason",
    "reasoning",
    "explanation",
    "why",
    "comment",
    "rationale",
    "justification",
    "evidence",
    "notes",
)
_KNOWN_KEYS = set(_SCORE_KEYS + _ROWS_KEYS + _LEGACY_KEYS)

_REFUSAL_RE = re.compile(
    r"\b(I(?:'m| am)? (?:sorry|unable|not able)|I can(?:no|')t|I won'?t|I will not|"
    r"as an AI|cannot (?:help|assist|comply|evaluate))",
    re.I,
)
_FRACTION_RE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(?:/|out of|of)\s*(\d+(?:\.\d+)?)\s*$", re.I)
_PERCENT_RE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*%\s*$")
_LEADING_NUMBER_RE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)(?![\d.])")


def _norm_key(key: Any) -> str:
    return re.sub(r"[\s-]+", "_", str(key).strip().lower())


def _norm_dict(value: Mapping[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in value.items():
        out.setdefault(_norm_key(k), v)
    return out


def _first(d: Mapping[str, Any], keys: Sequence[str]) -> tuple[str | None, Any]:
    for key in keys:
        if key in d and d[key] is not None:
            return key, d[key]
    return None, None


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except (ValueError, TypeError, RecursionError):
        return str(value)


def _short(text: str, limit: int = 160) -> str:
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _pick_answer(text: str) -> Mapping[str, Any] | None:
    """The first candidate that looks like a judge answer, else the first JSON object found."""
    fallback: Mapping[str, Any] | None = None
    for candidate in _json_candidates(text):
        if isinstance(candidate, list):
            if candidate and all(isinstance(x, Mapping) for x in candidate):
                candidate = candidate[0] if len(candidate) == 1 else {"evaluation": candidate}
            else:
                continue
        if not isinstance(candidate, Mapping):
            continue
        answer = _unwrap(_norm_dict(candidate))
        if _KNOWN_KEYS & answer.keys():
            return answer
        if fallback is None:
            fallback = answer
    return fallback


def _unwrap(answer: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    """An answer nested one or two levels under a wrapper key (``{"response": {...}}``)."""
    if depth < 2 and not ({"score", "evaluation"} & answer.keys()):
        for key in _WRAPPER_KEYS:
            inner = answer.get(key)
            if isinstance(inner, Mapping):
                inner_norm = _norm_dict(inner)
                if _KNOWN_KEYS & inner_norm.keys():
                    return _unwrap(inner_norm, depth + 1)
    return answer


def _read_score(value: Any) -> tuple[float | None, str | None]:
    """A judge's score as a number on 0–10 (before clamping), or why it could not be read."""
    if isinstance(value, bool):
        return None, f"score {value!r} is a boolean, not a number"
    if isinstance(value, Mapping):
        inner = _norm_dict(value)
        _, nested = _first(inner, ("value", "score", "overall"))
        if nested is None:
            return None, "score is an object without a value"
        return _read_score(nested)
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        m = _FRACTION_RE.match(value)
        if m and float(m.group(2)) > 0:
            number = 10.0 * float(m.group(1)) / float(m.group(2))
        elif (m := _PERCENT_RE.match(value)) is not None:
            number = float(m.group(1)) / 10.0
        elif (m := _LEADING_NUMBER_RE.match(value)) is not None:
            number = float(m.group(1))
        else:
            return None, f"score {_short(value, 40)!r} is not a number"
    else:
        return None, f"score of type {type(value).__name__} is not a number"
    if not math.isfinite(number):
        return None, f"score {number!r} is not a finite number"
    return number, None


def _row_from(item: Any, name_hint: str | None = None) -> tuple[Criterion | None, str | None]:
    """One criterion row read leniently, or why it could not be read."""
    if isinstance(item, Mapping):
        d = _norm_dict(item)
        _, name = _first(d, _ROW_NAME_KEYS)
        name_text = _text(name) if name is not None else (name_hint or "")
        passed = None
        seen = None
        for key in _ROW_PASS_KEYS:
            if key in d and d[key] is not None:
                seen = d[key] if seen is None else seen
                passed = parse_bool(d[key])
                if passed is not None:
                    break
        _, reason = _first(d, _ROW_REASON_KEYS)
        reason_text = _text(reason) if reason is not None else ""
    else:
        name_text, seen, reason_text = name_hint or "", item, ""
        passed = parse_bool(item)
    label = _short(name_text or "?", 60)
    if passed is None:
        return (
            None,
            f"{label!r}: pass/fail {_short(_text(seen), 30) if seen is not None else 'missing'}",
        )
    if not name_text:
        name_text = "(unnamed criterion)"
    return Criterion(criteria=name_text, passed=passed, reason=reason_text), None


def read_criteria(value: Any) -> tuple[list[Criterion], list[str]]:
    """Evaluation rows read leniently from a list of rows or a ``{criterion: passed}`` mapping.

    Returns the rows understood and, for each row dropped, why (its pass/fail
    could not be read). Never raises on JSON-like input.
    """
    rows: list[Criterion] = []
    problems: list[str] = []
    if isinstance(value, Mapping):
        d = _norm_dict(value)
        if _first(d, _ROW_NAME_KEYS)[0] is not None:
            items: list[tuple[Any, str | None]] = [(value, None)]
        else:  # {"criterion name": true | "yes" | {"passed": …, "reason": …}}
            items = [(v, str(k)) for k, v in value.items()]
    elif isinstance(value, (list, tuple)):
        items = [(v, None) for v in value]
    else:
        return rows, problems
    for item, hint in items:
        row, problem = _row_from(item, hint)
        if row is not None:
            rows.append(row)
        elif problem is not None:
            problems.append(problem)
    return rows, problems


def _named(value: Any, passed: bool) -> tuple[list[Criterion], int | None]:
    """Rows from a legacy ``hits``/``misses`` value: a list of names (or rows) or a bare count."""
    if isinstance(value, bool):
        return [], None
    if isinstance(value, int):
        return [], max(value, 0)
    if isinstance(value, str):
        value = [value]
    rows: list[Criterion] = []
    if isinstance(value, (list, tuple)):
        for item in value:
            if isinstance(item, Mapping):
                d = _norm_dict(item)
                _, name = _first(d, _ROW_NAME_KEYS)
                _, reason = _first(d, _ROW_REASON_KEYS)
                rows.append(
                    Criterion(
                        criteria=_text(name) if name is not None else "(unnamed criterion)",
                        passed=passed,
                        reason=_text(reason) if reason is not None else "",
                    )
                )
            else:
                rows.append(Criterion(criteria=_text(item), passed=passed))
    return rows, None


def _matches(given: str, rows: Sequence[Criterion]) -> bool:
    g = given.strip().lower()
    return any(
        g in r.criteria.lower() or (r.criteria.strip() and r.criteria.strip().lower() in g)
        for r in rows
    )


def parse_judge_answer(
    text: Any,
    *,
    scorer: str = "judge",
    criteria: Sequence[str] = (),
    threshold: float = DEFAULT_PASS_THRESHOLD,
    lenient_scores: bool = False,
) -> Verdict:
    """Read an LLM judge's answer into a verdict; never raises.

    Contract:
    - Accepts JSON, JSON in a markdown fence or surrounded by prose, a
      Python-literal dict, trailing commas, answers wrapped one level deep
      (``{"response": {...}}``), and legacy shapes: ``verdict``/``pass``,
      ``hits``/``misses`` (names or counts), criteria given as a mapping.
    - Pass/fail values may be booleans, 0/1 or words ("yes", "pass", "not met" …).
    - The score may be a number or text ("8", "8/10", "80%"); a value strictly
      between 0 and 1 is read as a fraction of 10. With no score, it is derived
      from the share of passed criteria, else from the verdict (pass 10, fail 1).
    - A score outside 1–10, or one given but not readable as a number
      (``"eight"``, ``true``), is a failed verdict naming it. With
      ``lenient_scores`` it is read as before instead: clamped to 1–10 (flag
      ``clamped``), or derived like a missing one (flag ``derived_score``).
    - ``passed`` is ``score / 10 >= threshold``; a disagreeing explicit verdict,
      a score more than 2 points away from 10 × share passed, fewer criteria
      than ``len(criteria) + 5`` and given criteria without a row are flagged.
    - Anything unusable (empty, refusal, no JSON, no score/criteria/verdict)
      gives a failed verdict: score 0, ``passed=False``, ``error`` saying why,
      and the answer kept in ``raw``.
    """
    raw = text if isinstance(text, str) else _text(text)
    try:
        answer = text if isinstance(text, Mapping) else None
        return _parse(
            raw, answer, scorer, tuple(str(c) for c in criteria), threshold, lenient_scores
        )
    except Exception as e:  # the contract is never to raise; report the parser's own fault
        return Verdict.failure(
            scorer,
            f"judge answer could not be read ({type(e).__name__}: {_short(str(e), 80)})",
            scale=JUDGE_SCALE,
            raw=raw,
        )


def _parse(
    raw: str,
    given_answer: Mapping[str, Any] | None,
    scorer: str,
    criteria: tuple[str, ...],
    threshold: float,
    lenient_scores: bool,
) -> Verdict:
    def fail(reason: str) -> Verdict:
        return Verdict.failure(scorer, reason, scale=JUDGE_SCALE, raw=raw)

    stripped = raw.strip()
    if given_answer is not None:
        answer: Mapping[str, Any] | None = _unwrap(_norm_dict(given_answer))
    elif not stripped:
        return fail("the judge's answer is empty")
    else:
        answer = _pick_answer(stripped)
    if answer is None:
        if _REFUSAL_RE.search(stripped[:400]):
            return fail(f"the judge refused: {_short(stripped)}")
        return fail(f"no JSON object in the judge's answer: {_short(stripped)}")

    flags: list[Flag] = []
    legacy: list[str] = []

    rows_key, rows_value = _first(answer, _ROWS_KEYS)
    rows, problems = read_criteria(rows_value) if rows_key else ([], [])
    if rows_key and rows_key != "evaluation":
        legacy.append(rows_key)
    share: float | None = None
    hits_key, hits = _first(answer, _HITS_KEYS)
    misses_key, misses = _first(answer, _MISSES_KEYS)
    if hits_key or misses_key:
        legacy.extend(k for k in (hits_key, misses_key) if k)
        hit_rows, hit_count = _named(hits, True) if hits_key else ([], 0)
        miss_rows, miss_count = _named(misses, False) if misses_key else ([], 0)
        rows.extend(hit_rows + miss_rows)
        if (
            not (hit_rows or miss_rows)
            and hit_count is not None
            and miss_count is not None
            and hit_count + miss_count > 0
        ):  # bare counts: {"hits": 4, "misses": 1}
            share = hit_count / (hit_count + miss_count)
    if rows:
        share = sum(r.passed for r in rows) / len(rows)
    if problems:
        flags.append(
            Flag(
                code="unreadable_rows",
                detail=f"{len(problems)} row(s) dropped: " + "; ".join(problems[:3]),
            )
        )

    verdict_key, verdict_value = _first(answer, _VERDICT_KEYS)
    explicit: bool | None = None
    if verdict_key:
        legacy.append(verdict_key)
        explicit = parse_bool(verdict_value)

    score_key, score_value = _first(answer, _SCORE_KEYS)
    if score_key and score_key != "score":
        legacy.append(score_key)
    score: float | None = None
    score_problem: str | None = None
    if score_key:
        score, score_problem = _read_score(score_value)
        if score is not None and 0 < score < 1:
            flags.append(
                Flag(code="fraction_scale", detail=f"score {score:g} read as {score * 10:g} of 10")
            )
            score *= 10
    if score_problem and not lenient_scores:
        return fail(f"unusable judge answer: {score_problem} {LENIENT_HINT}")
    if score is not None and not lenient_scores and not JUDGE_MIN <= score <= JUDGE_MAX:
        return fail(
            f"unusable judge answer: score {score:g} is outside {JUDGE_MIN:g}–{JUDGE_MAX:g} {LENIENT_HINT}"
        )
    if score is None:
        if share is not None:
            score = 10 * share
            why = f"; {score_problem}" if score_problem else ""
            flags.append(
                Flag(
                    code="derived_score",
                    detail=f"score taken from the share of passed criteria{why}",
                )
            )
        elif explicit is not None:
            score = JUDGE_MAX if explicit else JUDGE_MIN
            why = f"; {score_problem}" if score_problem else ""
            flags.append(Flag(code="derived_score", detail=f"score taken from the verdict{why}"))
        elif score_problem:
            return fail(f"unusable judge answer: {score_problem}")
        else:
            keys = ", ".join(sorted(answer)[:8]) or "none"
            return fail(f"the judge's JSON has no score, criteria or verdict (keys: {keys})")

    if not JUDGE_MIN <= score <= JUDGE_MAX:
        clamped = min(JUDGE_MAX, max(JUDGE_MIN, score))
        flags.append(
            Flag(code="clamped", detail=f"score {score:g} is outside 1–10; clamped to {clamped:g}")
        )
        score = clamped

    passed = normalise(score, JUDGE_SCALE) >= threshold
    if explicit is not None and explicit != passed:
        flags.append(
            Flag(
                code="verdict_vs_score",
                detail=f"the judge said {'pass' if explicit else 'fail'} but scored {score:g}",
            )
        )
    if share is not None and abs(score - 10 * share) > ADJUSTMENT_LIMIT + 1e-9:
        counted = (
            f"{sum(r.passed for r in rows)} of {len(rows)} criteria passed"
            if rows
            else f"{share:.0%} of criteria passed"
        )
        flags.append(
            Flag(
                code="score_vs_criteria",
                detail=f"score {score:g} but {counted} ({10 * share:.1f}); "
                f"more than {ADJUSTMENT_LIMIT:g} points apart",
            )
        )
    if rows_key and len(rows) < len(criteria) + OWN_CRITERIA_MIN:
        flags.append(
            Flag(
                code="few_criteria",
                detail=f"{len(rows)} criteria; asked for the {len(criteria)} given "
                f"plus at least {OWN_CRITERIA_MIN} of its own",
            )
        )
    if criteria and rows:
        missing = [c for c in criteria if not _matches(c, rows)]
        if missing:
            flags.append(
                Flag(
                    code="missing_criteria",
                    detail="no row for: " + "; ".join(_short(c, 60) for c in missing[:5]),
                )
            )
    if legacy:
        flags.append(
            Flag(code="legacy_shape", detail="read older keys: " + ", ".join(dict.fromkeys(legacy)))
        )

    _, result_value = _first(answer, _RESULT_KEYS)
    result = _text(result_value) if result_value is not None else None
    return Verdict(
        scorer=scorer,
        score=normalise(score, JUDGE_SCALE),
        raw_score=score,
        scale=JUDGE_SCALE,
        passed=passed,
        evaluation=tuple(rows),
        result=result or None,
        flags=tuple(flags),
        raw=raw,
    )


# --------------------------------------------------------------------------- statistics


class ScoredRollout(Protocol):
    """What the statistics read from a recorded verdict (``VerdictRecorded`` fits)."""

    @property
    def scorer(self) -> str: ...
    @property
    def case_id(self) -> str: ...
    @property
    def epoch(self) -> int: ...
    @property
    def repeat(self) -> int: ...
    @property
    def score(self) -> float | None: ...
    @property
    def passed(self) -> bool | None: ...
    @property
    def abstained(self) -> bool: ...
    @property
    def error(self) -> str | None: ...
    @property
    def flags(self) -> tuple[Flag, ...]: ...
    @property
    def usage(self) -> JudgeUsage | None: ...


def latest(verdicts: Iterable[ScoredRollout]) -> list[ScoredRollout]:
    """The last verdict per (scorer, case, epoch, repeat), in log order: what a rescore replaced."""
    last: dict[tuple[str, str, int, int], ScoredRollout] = {}
    for v in verdicts:
        key = (v.scorer, v.case_id, v.epoch, v.repeat)
        last.pop(key, None)
        last[key] = v
    return list(last.values())


@dataclass(frozen=True)
class RolloutVerdict:
    """One scorer's verdicts on one rollout, its repeats combined.

    ``score`` is the mean over repeats that neither abstained nor failed to
    score (``error``); ``passed`` is the majority of their pass/fail votes, a
    tie counting as failed; both ``None`` when no repeat gave a usable verdict.
    ``abstained`` and ``errors`` count the repeats left out; ``error`` is the
    first scoring error's reason.
    """

    scorer: str
    case_id: str
    epoch: int
    repeats: int
    abstained: int
    errors: int
    passes: int
    fails: int
    score: float | None
    score_sd: float | None
    passed: bool | None
    error: str | None = None

    @property
    def scoring_error(self) -> bool:
        """No repeat gave a usable verdict and at least one failed to score."""
        return self.passed is None and self.errors > 0

    @property
    def disagrees(self) -> bool:
        """The repeats split on pass/fail."""
        return self.passes > 0 and self.fails > 0


def _sd(values: Sequence[float]) -> float | None:
    n = len(values)
    if n < 2:
        return None
    mean = sum(values) / n
    return math.sqrt(max(sum((x - mean) ** 2 for x in values) / (n - 1), 0.0))


def rollouts(verdicts: Iterable[ScoredRollout]) -> list[RolloutVerdict]:
    """Verdicts grouped per (scorer, case, epoch), in first-seen order, repeats combined."""
    groups: dict[tuple[str, str, int], list[ScoredRollout]] = defaultdict(list)
    for v in verdicts:
        groups[(v.scorer, v.case_id, v.epoch)].append(v)
    out = []
    for (scorer, case_id, epoch), vs in groups.items():
        errors = [v.error for v in vs if v.error and not v.abstained]
        scored = [v for v in vs if not v.abstained and not v.error and v.score is not None]
        scores = [float(v.score) for v in scored if v.score is not None]
        passes = sum(1 for v in scored if v.passed)
        fails = len(scored) - passes
        out.append(
            RolloutVerdict(
                scorer=scorer,
                case_id=case_id,
                epoch=epoch,
                repeats=len(vs),
                abstained=len(vs) - len(scored) - len(errors),
                errors=len(errors),
                passes=passes,
                fails=fails,
                score=sum(scores) / len(scores) if scores else None,
                score_sd=_sd(scores),
                passed=(passes > fails) if scored else None,
                error=errors[0] if errors else None,
            )
        )
    return out


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (no continuity correction).

    ``(0, 1)`` when ``n`` is 0. Matches statsmodels' ``proportion_confint(method="wilson")``.
    """
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, not {confidence}")
    if n == 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # exact at the edges, where rounding would leave the bound a hair inside [0, 1]
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


@dataclass(frozen=True)
class ScorerSummary:
    """One scorer over a run: mean and spread of scores, pass rate with its Wilson interval.

    Rollouts without a usable verdict are left out of ``mean``, ``sd``, the
    pass rate and its interval: counted in ``errors`` when scoring failed (a
    scoring error, see :meth:`Verdict.failure`), else in ``abstained``.
    ``scored`` is what is left, the ``n`` of the pass rate. ``error_verdicts``
    counts every verdict with a scoring error, also a judge repeat whose other
    repeats did score. ``sd`` is the spread across rollouts; ``repeat_sd`` the
    mean spread between a judge's repeats of the same rollout (``None``
    without repeats).
    """

    scorer: str
    rollouts: int
    abstained: int
    errors: int
    mean: float | None
    sd: float | None
    repeat_sd: float | None
    passed: int
    pass_rate: float | None
    pass_low: float
    pass_high: float
    disagreements: int
    flags: dict[str, int]
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    scored: int = 0
    error_verdicts: int = 0


def summarize(
    verdicts: Iterable[ScoredRollout], confidence: float = 0.95
) -> dict[str, ScorerSummary]:
    """A :class:`ScorerSummary` per scorer, in first-seen order."""
    items = list(verdicts)
    by_scorer: dict[str, list[RolloutVerdict]] = defaultdict(list)
    for r in rollouts(items):
        by_scorer[r.scorer].append(r)
    flags: dict[str, Counter[str]] = defaultdict(Counter)
    tokens: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    cost: dict[str, float] = defaultdict(float)
    for v in items:
        for f in v.flags:
            flags[v.scorer][f.code] += 1
        if v.usage is not None:
            tokens[v.scorer][0] += v.usage.prompt_tokens or 0
            tokens[v.scorer][1] += v.usage.completion_tokens or 0
            cost[v.scorer] += v.usage.cost_usd or 0.0
    out = {}
    for scorer, rs in by_scorer.items():
        scored = [r for r in rs if r.passed is not None]
        scores = [r.score for r in scored if r.score is not None]
        passed = sum(1 for r in scored if r.passed)
        low, high = wilson_interval(passed, len(scored), confidence)
        repeat_sds = [r.score_sd for r in scored if r.score_sd is not None]
        errors = sum(1 for r in rs if r.scoring_error)
        out[scorer] = ScorerSummary(
            scorer=scorer,
            rollouts=len(rs),
            abstained=len(rs) - len(scored) - errors,
            errors=errors,
            mean=sum(scores) / len(scores) if scores else None,
            sd=_sd(scores),
            repeat_sd=sum(repeat_sds) / len(repeat_sds) if repeat_sds else None,
            passed=passed,
            pass_rate=passed / len(scored) if scored else None,
            pass_low=low,
            pass_high=high,
            disagreements=sum(1 for r in rs if r.disagrees),
            flags=dict(flags[scorer]),
            prompt_tokens=tokens[scorer][0],
            completion_tokens=tokens[scorer][1],
            cost_usd=cost[scorer],
            scored=len(scored),
            error_verdicts=sum(r.errors for r in rs),
        )
    return out


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate of P(at least one of k draws passes) from c passes in n epochs.

    Chen et al. 2021: ``1 - C(n - c, k) / C(n, k)``, exact in integers.
    """
    _check_nck(n, c, k)
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate of P(all of k draws pass) ("pass^k") from c passes in n epochs: ``C(c, k) / C(n, k)``."""
    _check_nck(n, c, k)
    return math.comb(c, k) / math.comb(n, k)


def _check_nck(n: int, c: int, k: int) -> None:
    if not (0 <= c <= n and 1 <= k <= n):
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")


@dataclass(frozen=True)
class CaseEpochs:
    """One scorer's pass/fail on one case over its epochs (abstentions and scoring errors left out)."""

    scorer: str
    case_id: str
    passed_epochs: tuple[int, ...]
    failed_epochs: tuple[int, ...]

    @property
    def n(self) -> int:
        return len(self.passed_epochs) + len(self.failed_epochs)

    @property
    def flaky(self) -> bool:
        """Passed in some epochs and failed in others."""
        return bool(self.passed_epochs) and bool(self.failed_epochs)


def case_epochs(verdicts: Iterable[ScoredRollout]) -> list[CaseEpochs]:
    """Per (scorer, case): the epochs it passed and failed, from the rollouts' combined pass/fail."""
    acc: dict[tuple[str, str], tuple[list[int], list[int]]] = {}
    for r in rollouts(verdicts):
        if r.passed is None:
            continue
        ok, bad = acc.setdefault((r.scorer, r.case_id), ([], []))
        (ok if r.passed else bad).append(r.epoch)
    return [
        CaseEpochs(s, c, tuple(sorted(ok)), tuple(sorted(bad))) for (s, c), (ok, bad) in acc.items()
    ]


def flaky_cases(verdicts: Iterable[ScoredRollout]) -> list[CaseEpochs]:
    """Cases that passed in some epochs and failed in others, per scorer."""
    return [c for c in case_epochs(verdicts) if c.flaky]


@dataclass(frozen=True)
class PassK:
    """pass@k and pass^k of one scorer, averaged over cases with at least k scored epochs."""

    scorer: str
    k: int
    cases: int
    skipped: int
    pass_at_k: float | None
    pass_hat_k: float | None


def pass_k(verdicts: Iterable[ScoredRollout], k: int) -> dict[str, PassK]:
    """pass@k and pass^k per scorer; cases with fewer than ``k`` scored epochs are counted in ``skipped``."""
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    per: dict[str, list[CaseEpochs]] = defaultdict(list)
    for c in case_epochs(verdicts):
        per[c.scorer].append(c)
    out = {}
    for scorer, cases in per.items():
        usable = [c for c in cases if c.n >= k]
        at = [pass_at_k(c.n, len(c.passed_epochs), k) for c in usable]
        hat = [pass_hat_k(c.n, len(c.passed_epochs), k) for c in usable]
        out[scorer] = PassK(
            scorer=scorer,
            k=k,
            cases=len(usable),
            skipped=len(cases) - len(usable),
            pass_at_k=sum(at) / len(at) if at else None,
            pass_hat_k=sum(hat) / len(hat) if hat else None,
        )
    return out


def repeat_disagreements(verdicts: Iterable[ScoredRollout]) -> list[RolloutVerdict]:
    """Rollouts on which a judge's repeats split on pass/fail (a "flickering" judge)."""
    return [r for r in rollouts(verdicts) if r.disagrees]


def cohens_kappa(both_pass: int, a_only: int, b_only: int, both_fail: int) -> float | None:
    """Cohen's kappa of two raters' pass/fail from their 2×2 table; ``None`` when undefined.

    ``(p_o - p_e) / (1 - p_e)``; undefined with no pairs or when chance agreement
    is 1 (both raters gave one and the same label to everything).
    """
    n = both_pass + a_only + b_only + both_fail
    if n == 0:
        return None
    p_o = (both_pass + both_fail) / n
    a_pass, b_pass = (both_pass + a_only) / n, (both_pass + b_only) / n
    p_e = a_pass * b_pass + (1 - a_pass) * (1 - b_pass)
    if math.isclose(p_e, 1.0):
        return None
    return (p_o - p_e) / (1 - p_e)


@dataclass(frozen=True)
class Agreement:
    """Two scorers' pass/fail on the rollouts both judged: counts, percent agreement, Cohen's kappa.

    A rollout where either scorer had a scoring error is left out and counted
    in ``scoring_errors``.
    """

    scorer_a: str
    scorer_b: str
    n: int
    both_pass: int
    a_only: int
    b_only: int
    both_fail: int
    kappa: float | None
    #: rollouts where they disagree, as (case_id, epoch)
    disagreements: tuple[tuple[str, int], ...]
    #: rollouts left out because one scorer or both failed to score them
    scoring_errors: int = 0

    @property
    def percent(self) -> float | None:
        """Share of rollouts on which both gave the same pass/fail."""
        return (self.both_pass + self.both_fail) / self.n if self.n else None


def agreement(verdicts: Iterable[ScoredRollout], scorer_a: str, scorer_b: str) -> Agreement:
    """Agreement of two scorers on pass/fail over rollouts both scored (repeats combined by majority).

    Abstentions and scoring errors are no pass/fail, so those rollouts are left
    out; the ones left out for a scoring error are counted.
    """
    a: dict[tuple[str, int], bool] = {}
    b: dict[tuple[str, int], bool] = {}
    errored: set[tuple[str, int]] = set()
    for r in rollouts(verdicts):
        if r.scoring_error and r.scorer in (scorer_a, scorer_b):
            errored.add((r.case_id, r.epoch))
        if r.passed is None:
            continue
        if r.scorer == scorer_a:
            a[(r.case_id, r.epoch)] = r.passed
        elif r.scorer == scorer_b:
            b[(r.case_id, r.epoch)] = r.passed
    keys = [k for k in a if k in b]
    counts = Counter((a[k], b[k]) for k in keys)
    tt, tf, ft, ff = (
        counts[(True, True)],
        counts[(True, False)],
        counts[(False, True)],
        counts[(False, False)],
    )
    return Agreement(
        scorer_a=scorer_a,
        scorer_b=scorer_b,
        n=len(keys),
        both_pass=tt,
        a_only=tf,
        b_only=ft,
        both_fail=ff,
        kappa=cohens_kappa(tt, tf, ft, ff),
        disagreements=tuple(sorted(k for k in keys if a[k] != b[k])),
        scoring_errors=len(errored),
    )


def agreements(
    verdicts: Iterable[ScoredRollout], scorers: Sequence[str] | None = None
) -> list[Agreement]:
    """:func:`agreement` for every pair of ``scorers`` (default: every scorer seen, in first-seen order)."""
    items = list(verdicts)
    names = list(scorers) if scorers is not None else list(dict.fromkeys(v.scorer for v in items))
    return [agreement(items, x, y) for x, y in combinations(names, 2)]
