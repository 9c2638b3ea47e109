"""The typed values the Python API returns (frozen pydantic models)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class _Model(BaseModel):
    # each class's validator is built when it is first used, not when the module is imported:
    # a process that records one result returns one Recorded and builds nothing else
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class Recorded(_Model):
    """Where one appended event landed in the log."""

    position: int
    event_id: str
    stream_id: str
    version: int
    type: str


class Event(_Model):
    """One recorded event, as the log holds it (``data`` and ``metadata`` parsed)."""

    position: int
    event_id: str
    stream_id: str
    version: int
    type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: str
    prev_hash: str
    hash: str


class Test(_Model):
    """An A/B test's definition and counts, as ``ab show --json`` prints its ``test``."""

    name: str
    variants: list[str]
    control: str
    metric: str
    guardrails: list[dict[str, Any]]
    split: dict[str, float] | None
    task_id: str | None
    description: str | None
    prompt: str | None
    category: str | None
    difficulty: str | None
    expected_tools: list[str] | None
    success_criteria: list[str] | None
    archived: bool
    results: int
    created_at: str
    created_position: int
    last_position: int
    #: fixed at creation: the planned results the always-valid boundary is tuned for, the caps
    #: applied in every analysis (``cost:p99``) and the segments planned for ``analyze(by=)``
    expected_results: int | None = None
    caps: list[str] = []
    segments: list[str] = []


class VariantAnalysis(_Model):
    """One variant's figures in an :class:`Analysis` (``variants[i]`` of ``ab analyze --json``)."""

    name: str
    is_control: bool
    n: int
    results: int
    estimate: float | None
    lift: float | None
    ci: list[float] | None
    relative_lift: float | None
    relative_ci: list[float] | None
    p_value: float | None
    p_value_adjusted: float | None
    status: str | None
    method: str | None
    fixed_horizon: dict[str, Any] | None
    paired: dict[str, Any] | None
    p_beats_control: float | None
    expected_loss: float | None
    p_best: float | None
    power: dict[str, Any] | None


class Recommendation(_Model):
    """What the analysis recommends: ``ship``, ``keep_control``, ``continue``, ``no_difference``
    or ``blocked``, the variant it names, and why in one paragraph."""

    decision: str
    variant: str | None
    reason: str


class Analysis(_Model):
    """``trialbook ab analyze --json``, typed: ``analysis.model_dump(mode="json")`` is that document."""

    test: str
    metric: str
    kind: str
    lower_is_better: bool
    control: str
    alpha: float
    ci_level: float
    method: str
    method_version: str
    position: int
    variants: list[VariantAnalysis]
    secondary_metrics: list[dict[str, Any]]
    guardrails: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    recommendation: Recommendation
    settings: dict[str, Any]

    def variant(self, name: str) -> VariantAnalysis:
        """The figures of variant ``name`` (``KeyError`` if the test has none)."""
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(name)


class Decision(_Model):
    """A decision recorded with ``ab.conclude`` (``ab conclude --json``)."""

    test: str
    position: int
    choice: str
    variant: str | None
    against_recommendation: bool
    recommendation: Recommendation
    analysis_position: int
    method_version: str


class VerifyReport(_Model):
    """What ``events.verify`` found: ``ok`` when the chain and every row check out."""

    ok: bool
    events: int
    head_position: int
    head_hash: str
    streams: int
    problems: list[dict[str, Any]]
