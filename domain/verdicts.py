"""Verdicts: one scorer's judgement of one rollout, and its event.

This module is the place to import verdicts from. It defines the event,
:class:`VerdictRecorded`, and re-exports what lives in the modules beside it:

- :mod:`trialbook.domain.verdict_values`: the values (:class:`Verdict`,
  :class:`Criterion`, :class:`Flag`, :class:`JudgeUsage`) and the judge's scale;
- :mod:`trialbook.domain.judge_answer`: the judge-answer parser
  (:func:`parse_judge_answer`, :func:`read_criteria`, :func:`parse_bool`);
- :mod:`trialbook.domain.stats.verdicts`: the statistics over a run's verdicts
  (:func:`summarize`, :func:`pass_k`, :func:`agreement`, :func:`wilson_interval` …).

A verdict carries a score normalised to [0, 1] (``score``) beside the score
on the scorer's own scale (``raw_score`` on ``scale``), pass/fail, per-criterion
rows with reasons, a result text, an error reason when scoring failed, and
checks the parser raised (``flags``). An abstention (a code evaluator returning
``None``) has no score and no pass/fail and is left out of every average.

A scoring error (a verdict with ``error`` set: the judge was unreachable or
answered something unusable, a code evaluator raised or returned an invalid
value) is recorded with score 0 and ``passed=False`` so that every event keeps
the same shape, but it is not a judgement of the output: the statistics
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

import re

from pydantic import Field, field_validator

from trialbook.domain.events import Event
from trialbook.domain.judge_answer import (
    parse_bool,
    parse_judge_answer,
    read_criteria,
)
from trialbook.domain.stats.verdicts import (
    Agreement,
    CaseEpochs,
    PassK,
    RolloutVerdict,
    ScoredRollout,
    ScorerSummary,
    agreement,
    agreements,
    case_epochs,
    cohens_kappa,
    flaky_cases,
    latest,
    pass_at_k,
    pass_hat_k,
    pass_k,
    repeat_disagreements,
    rollouts,
    summarize,
    wilson_interval,
)
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
    FlagCode,
    JudgeUsage,
    ScorerConfigError,
    Verdict,
    VerdictFields,
    normalise,
)

__all__ = [
    "ADJUSTMENT_LIMIT",
    "DEFAULT_PASS_THRESHOLD",
    "JUDGE_MAX",
    "JUDGE_MIN",
    "JUDGE_SCALE",
    "LENIENT_HINT",
    "OWN_CRITERIA_MIN",
    "Agreement",
    "CaseEpochs",
    "Criterion",
    "Flag",
    "FlagCode",
    "JudgeUsage",
    "PassK",
    "RolloutVerdict",
    "ScoredRollout",
    "ScorerConfigError",
    "ScorerSummary",
    "Verdict",
    "VerdictFields",
    "VerdictRecorded",
    "agreement",
    "agreements",
    "case_epochs",
    "cohens_kappa",
    "flaky_cases",
    "latest",
    "normalise",
    "parse_bool",
    "parse_judge_answer",
    "pass_at_k",
    "pass_hat_k",
    "pass_k",
    "read_criteria",
    "repeat_disagreements",
    "rollouts",
    "summarize",
    "wilson_interval",
]

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
