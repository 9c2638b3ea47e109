"""Verdict values: one scorer's judgement of one rollout, its criteria rows, flags and usage.

A verdict carries a score normalised to [0, 1] (``score``, which every
statistic reads) beside the score on the scorer's own scale (``raw_score`` on
``scale``, what is shown: :func:`on_scale` gives "6/10"; a scale is declared
with ``scale=1-10``, read by :func:`parse_scale`), pass/fail, per-criterion
rows with reasons, a result text, an error reason when scoring failed, and
checks the parser raised (``flags``). An abstention (a code evaluator returning
``None``) has no score and no pass/fail. The event recording a verdict is
:class:`~trialbook.domain.verdicts.VerdictRecorded`; :mod:`trialbook.domain.verdicts`
re-exports every name here.

Pure: the standard library and pydantic only (no I/O, no HTTP).
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from trialbook.domain.errors import InvalidCommand
from trialbook.domain.events import Value

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
    #: True when the answer was read from the response cache (not asked now: no cost, no
    #: latency); absent (read as False) otherwise
    cached: bool | None = None


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
        pass_score: float | None = None,
        **fields: Any,
    ) -> Verdict:
        """A verdict for ``raw_score`` on ``scale``; pass is given, else ``raw_score >= pass_score``
        (a threshold on the scale), else ``score >= threshold`` (on the normalised score)."""
        score = normalise(raw_score, scale)
        if passed is None:
            passed = raw_score >= pass_score if pass_score is not None else score >= threshold
        return cls(
            scorer=scorer, score=score, raw_score=raw_score, scale=scale, passed=passed, **fields
        )

    @classmethod
    def failure(
        cls, scorer: str, reason: str, *, scale: tuple[float, float] = (0.0, 1.0), **fields: Any
    ) -> Verdict:
        """A scoring error: ``reason`` as its error (score 0 and not passed, read as no verdict).

        Readers tell it by ``error``; the statistics (:mod:`trialbook.domain.stats.verdicts`)
        leave it out of every mean, pass rate and agreement and count it as a scoring error.
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


_SCALE_RE = re.compile(
    r"^\s*([-+]?\d+(?:\.\d+)?)\s*(?:\.\.|-|–|\bto\b)\s*([-+]?\d+(?:\.\d+)?)\s*$", re.I
)
SCALE_HINT = "write MIN-MAX or MIN..MAX, e.g. scale=1-10"


def parse_scale(text: Any) -> tuple[float, float]:
    """A scorer's declared scale, ``"1-10"`` or ``"1..10"`` (``"-5..5"``, ``"0-100"``), as (low, high).

    Also takes a ``[low, high]`` pair (from a TOML/YAML table). Raises
    :class:`ValueError` with one line naming what is wrong: not two numbers,
    or a low end that is not below the high end (``10-1``, ``5-5``).
    """
    if isinstance(text, (list, tuple)) and len(text) == 2:
        parts = [x for x in text if isinstance(x, (int, float)) and not isinstance(x, bool)]
        if len(parts) != 2:
            raise ValueError(f"scale {list(text)!r} is not two numbers; {SCALE_HINT}")
        low, high = float(parts[0]), float(parts[1])
        shown = f"{low:g}-{high:g}"
    else:
        shown = str(text).strip()
        m = _SCALE_RE.match(shown)
        if not m:
            raise ValueError(f"scale {shown!r} is not MIN-MAX; {SCALE_HINT}")
        low, high = float(m.group(1)), float(m.group(2))
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"scale {shown!r} is not two finite numbers; {SCALE_HINT}")
    if not low < high:
        raise ValueError(
            f"scale {shown!r}: the minimum {low:g} must be below the maximum {high:g}; {SCALE_HINT}"
        )
    return low, high


def on_scale(raw: float | None, scale: tuple[float, float] | None) -> str:
    """A score as it is shown: on its scale (``6/10``, ``3 on -5..5``), a 0–1 score as a plain number.

    ``-`` for no score. Rounded to two decimals (a mean over repeats or rollouts
    need not be whole).
    """
    if raw is None:
        return "-"
    if scale is None or tuple(scale) == (0.0, 1.0):
        return _compact(raw, 3)
    value = _compact(raw, 2)
    low, high = scale
    if low >= 0:
        return f"{value}/{_compact(high, 6)}"
    return f"{value} on {_compact(low, 6)}..{_compact(high, 6)}"


def _compact(value: float, digits: int) -> str:
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def from_normalised(score: float, scale: tuple[float, float]) -> float:
    """The inverse of :func:`normalise`: a [0, 1] score placed back on ``scale``."""
    low, high = scale
    return low + score * (high - low)
