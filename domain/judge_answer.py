"""Reading an LLM judge's answer into a :class:`~trialbook.domain.verdict_values.Verdict`.

Judges are asked for ``{"score": 1-10, "evaluation": [{"criteria", "passed",
"reason"}, …], "result": "…"}`` and answer all sorts of things: the JSON in a
markdown fence or after some prose, single quotes, trailing commas, other key
names (``rating``, ``criteria_results``, ``verdict`` …), pass/fail as words
("yes", "not met", "✓"), scores as "8/10" or "80%". :func:`parse_judge_answer`
reads what can be read and flags what it had to assume (:data:`FlagCode`); an
answer it cannot read is a scoring error, never an exception.

A score outside 1–10 or one that is not a number is a scoring error, unless
the judge reads scores leniently (``lenient_scores``: clamp it, or derive it
from the criteria). :mod:`trialbook.domain.verdicts` re-exports the public names.

Pure: the standard library and pydantic only (no I/O, no HTTP).
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from trialbook.domain.verdict_values import (
    ADJUSTMENT_LIMIT,
    DEFAULT_PASS_THRESHOLD,
    JUDGE_MAX,
    JUDGE_MIN,
    JUDGE_SCALE,
    LENIENT_HINT,
    OWN_CRITERIA_MIN,
    Criterion,
    Flag,
    Verdict,
    normalise,
)

#: what a judge's answer without a score becomes (``no_score=``); a number is also accepted
NO_SCORE_RULES = ("criteria-share", "midpoint", "error")
#: how "6/10", "60%" and a bare 0.6 are read (``fraction=``)
FRACTION_RULES = ("share", "scale", "numerator", "error")


@dataclass(frozen=True)
class ScoreRules:
    """How a judge's score is read: its scale, pass threshold, and the no-score and fraction rules.

    - ``scale``: ``None`` is the judge's default scale (answers 1–10, recorded
      as 0–10, so the normalised score is ``score / 10``); a declared
      ``(low, high)`` is both what answers must fall in and what is recorded
      (normalised ``(score − low) / (high − low)``).
    - ``pass_score``: pass when the score reaches it (on the scale); ``None``
      uses the normalised ``threshold`` given to :func:`parse_judge_answer`.
    - ``no_score``: ``criteria-share`` (the share of passed criteria placed on
      the scale, else the verdict: pass = top, fail = bottom), ``midpoint``
      (the middle of the scale), ``error`` (a scoring error), or a number on
      the scale (7.0 reproduces an evaluator that defaults to 7).
    - ``fraction``: how "N/D", "P%" and (on a scale starting at 1 or more)
      a bare number between 0 and 1 are read: ``share`` (N/D of the top:
      "6/10" is 6, "3/5" is 6 on 1–10), ``scale`` (placed on the range:
      low + N/D × (high − low), "6/10" is 6.4 on 1–10), ``numerator`` ("6/10"
      is 6, "3/5" is 3; a percentage is read as ``share``), ``error``
      (a scoring error).
    - ``anchored``: the judge was told to start from the share of passed
      criteria, so a score far from it is flagged (``score_vs_criteria``).
    """

    scale: tuple[float, float] | None = None
    pass_score: float | None = None
    no_score: str | float = "criteria-share"
    fraction: str = "share"
    anchored: bool = True

    def __post_init__(self) -> None:
        low, high = self.answer_range
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(
                f"the scale must be two finite numbers, low < high, not {self.scale!r}"
            )
        if self.pass_score is not None and not low <= self.pass_score <= high:
            raise ValueError(
                f"the pass threshold {self.pass_score:g} is outside the scale {low:g}–{high:g}"
            )
        if isinstance(self.no_score, str):
            if self.no_score not in NO_SCORE_RULES:
                raise ValueError(
                    f"no_score {self.no_score!r} is not one of {', '.join(NO_SCORE_RULES)} or a number on the scale"
                )
        elif not low <= self.no_score <= high:
            raise ValueError(f"no_score {self.no_score:g} is outside the scale {low:g}–{high:g}")
        if self.fraction not in FRACTION_RULES:
            raise ValueError(
                f"fraction {self.fraction!r} is not one of {', '.join(FRACTION_RULES)}"
            )

    @property
    def recorded_scale(self) -> tuple[float, float]:
        """The scale recorded with the verdict (what the normalised score is taken on)."""
        return JUDGE_SCALE if self.scale is None else self.scale

    @property
    def answer_range(self) -> tuple[float, float]:
        """The scores an answer may give."""
        return (JUDGE_MIN, JUDGE_MAX) if self.scale is None else self.scale

    def from_share(self, share: float) -> float:
        """The share of passed criteria placed on the recorded scale (normalises back to ``share``)."""
        low, high = self.recorded_scale
        return low + share * (high - low)

    @property
    def adjustment_limit(self) -> float:
        """How far a score may move from :meth:`from_share` before it is flagged (2 points on 10)."""
        low, high = self.recorded_scale
        return ADJUSTMENT_LIMIT * (high - low) / 10


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


@dataclass(frozen=True)
class _Score:
    """A score as the judge wrote it: a number, a fraction "N/D" or a percentage."""

    value: float
    form: Literal["number", "fraction", "percent"] = "number"
    #: N/D, or the percentage / 100
    share: float | None = None
    text: str = ""


def _read_score(value: Any) -> tuple[_Score | None, str | None]:
    """A judge's score as written (before the fraction rule and clamping), or why it could not be read."""
    if isinstance(value, bool):
        return None, f"score {value!r} is a boolean, not a number"
    if isinstance(value, Mapping):
        inner = _norm_dict(value)
        _, nested = _first(inner, ("value", "score", "overall"))
        if nested is None:
            return None, "score is an object without a value"
        return _read_score(nested)
    found: _Score
    if isinstance(value, (int, float)):
        found = _Score(float(value))
    elif isinstance(value, str):
        m = _FRACTION_RE.match(value)
        if m and float(m.group(2)) > 0:
            found = _Score(
                float(m.group(1)), "fraction", float(m.group(1)) / float(m.group(2)), value.strip()
            )
        elif (m := _PERCENT_RE.match(value)) is not None:
            found = _Score(float(m.group(1)), "percent", float(m.group(1)) / 100, value.strip())
        elif (m := _LEADING_NUMBER_RE.match(value)) is not None:
            found = _Score(float(m.group(1)))
        else:
            return None, f"score {_short(value, 40)!r} is not a number"
    else:
        return None, f"score of type {type(value).__name__} is not a number"
    if not math.isfinite(found.value) or (
        found.share is not None and not math.isfinite(found.share)
    ):
        return None, f"score {found.value!r} is not a finite number"
    return found, None


def _on_scale(found: _Score, rules: ScoreRules) -> tuple[float | None, str | None, Flag | None]:
    """The score a judge wrote, read by the fraction rule (``rules.fraction``): (score, problem, flag)."""
    low, high = rules.answer_range
    mode = rules.fraction
    share = found.share
    bare = found.form == "number" and low >= 1 and 0 < found.value < 1
    if bare:
        share = found.value
    if share is None:  # a plain number on the scale
        return found.value, None, None
    if mode == "error":
        what = f"{found.value:g}" if bare else repr(found.text)
        return (
            None,
            f"score {what} is a fraction, not a score on {low:g}–{high:g} (fraction=error)",
            None,
        )
    if mode == "numerator" and found.form != "percent":
        return found.value, None, None
    score = low + share * (high - low) if mode == "scale" else share * high
    if bare:
        return (
            score,
            None,
            Flag(
                code="fraction_scale", detail=f"score {found.value:g} read as {score:g} of {high:g}"
            ),
        )
    return score, None, None


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
    rules: ScoreRules | None = None,
) -> Verdict:
    """Read an LLM judge's answer into a verdict; never raises.

    Contract (the numbers are for the default scale; ``rules`` (:class:`ScoreRules`)
    declares another scale, the pass threshold on it, and the no-score and
    fraction rules):
    - Accepts JSON, JSON in a markdown fence or surrounded by prose, a
      Python-literal dict, trailing commas, answers wrapped one level deep
      (``{"response": {...}}``), and legacy shapes: ``verdict``/``pass``,
      ``hits``/``misses`` (names or counts), criteria given as a mapping.
    - Pass/fail values may be booleans, 0/1 or words ("yes", "pass", "not met" …).
    - The score may be a number or text ("8", "8/10", "80%"); "N/D" and "P%"
      are read as the share N/D (P/100) of the top of the scale, and a value
      strictly between 0 and 1 as a fraction of 10 (``fraction=share``, the
      default). With no score, it is derived from the share of passed
      criteria, else from the verdict (pass 10, fail 1) (``no_score=criteria-share``).
    - A score outside 1–10, or one given but not readable as a number
      (``"eight"``, ``true``), is a failed verdict naming it. With
      ``lenient_scores`` it is read as before instead: clamped to 1–10 (flag
      ``clamped``), or derived like a missing one (flag ``derived_score``).
    - ``passed`` is ``score / 10 >= threshold`` (``score >= rules.pass_score``
      when given); a disagreeing explicit verdict, a score more than 2 points
      away from 10 × share passed, fewer criteria than ``len(criteria) + 5``
      and given criteria without a row are flagged.
    - Anything unusable (empty, refusal, no JSON, no score/criteria/verdict)
      gives a failed verdict: score 0, ``passed=False``, ``error`` saying why,
      and the answer kept in ``raw``.
    """
    raw = text if isinstance(text, str) else _text(text)
    rules = rules or ScoreRules()
    try:
        answer = text if isinstance(text, Mapping) else None
        return _parse(
            raw, answer, scorer, tuple(str(c) for c in criteria), threshold, lenient_scores, rules
        )
    except Exception as e:  # the contract is never to raise; report the parser's own fault
        return Verdict.failure(
            scorer,
            f"judge answer could not be read ({type(e).__name__}: {_short(str(e), 80)})",
            scale=rules.recorded_scale,
            raw=raw,
        )


def _parse(
    raw: str,
    given_answer: Mapping[str, Any] | None,
    scorer: str,
    criteria: tuple[str, ...],
    threshold: float,
    lenient_scores: bool,
    rules: ScoreRules,
) -> Verdict:
    recorded = rules.recorded_scale
    low, high = rules.answer_range

    def fail(reason: str) -> Verdict:
        return Verdict.failure(scorer, reason, scale=recorded, raw=raw)

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
        found, score_problem = _read_score(score_value)
        if found is not None:
            score, score_problem, fraction_flag = _on_scale(found, rules)
            if fraction_flag is not None:
                flags.append(fraction_flag)
    if score_problem and not lenient_scores:
        return fail(f"unusable judge answer: {score_problem} {LENIENT_HINT}")
    if score is not None and not lenient_scores and not low <= score <= high:
        return fail(
            f"unusable judge answer: score {score:g} is outside {low:g}–{high:g} {LENIENT_HINT}"
        )
    if score is None:
        why = f"; {score_problem}" if score_problem else ""
        _, result_given = _first(answer, _RESULT_KEYS)
        judged = share is not None or explicit is not None or result_given is not None
        if rules.no_score == "error":
            return fail(
                f"unusable judge answer: {score_problem or 'the answer has no score'} (no_score=error)"
            )
        if rules.no_score == "midpoint" and judged:
            score = (low + high) / 2
            flags.append(
                Flag(
                    code="derived_score",
                    detail=f"no score; the middle of the scale (no_score=midpoint){why}",
                )
            )
        elif not isinstance(rules.no_score, str) and judged:
            score = float(rules.no_score)
            flags.append(Flag(code="derived_score", detail=f"no score; no_score={score:g}{why}"))
        elif share is not None:
            score = rules.from_share(share)
            flags.append(
                Flag(
                    code="derived_score",
                    detail=f"score taken from the share of passed criteria{why}",
                )
            )
        elif explicit is not None:
            score = high if explicit else low
            flags.append(Flag(code="derived_score", detail=f"score taken from the verdict{why}"))
        elif score_problem:
            return fail(f"unusable judge answer: {score_problem}")
        else:
            keys = ", ".join(sorted(answer)[:8]) or "none"
            return fail(f"the judge's JSON has no score, criteria or verdict (keys: {keys})")

    if not low <= score <= high:
        clamped = min(high, max(low, score))
        flags.append(
            Flag(
                code="clamped",
                detail=f"score {score:g} is outside {low:g}–{high:g}; clamped to {clamped:g}",
            )
        )
        score = clamped

    passed = (
        score >= rules.pass_score
        if rules.pass_score is not None
        else normalise(score, recorded) >= threshold
    )
    if explicit is not None and explicit != passed:
        flags.append(
            Flag(
                code="verdict_vs_score",
                detail=f"the judge said {'pass' if explicit else 'fail'} but scored {score:g}",
            )
        )
    anchor = rules.from_share(share) if share is not None else None
    if (
        rules.anchored
        and anchor is not None
        and abs(score - anchor) > rules.adjustment_limit + 1e-9
    ):
        counted = (
            f"{sum(r.passed for r in rows)} of {len(rows)} criteria passed"
            if rows
            else f"{share:.0%} of criteria passed"
        )
        flags.append(
            Flag(
                code="score_vs_criteria",
                detail=f"score {score:g} but {counted} ({anchor:.1f}); "
                f"more than {rules.adjustment_limit:g} points apart",
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
        score=normalise(score, recorded),
        raw_score=score,
        scale=recorded,
        passed=passed,
        evaluation=tuple(rows),
        result=result or None,
        flags=tuple(flags),
        raw=raw,
    )
