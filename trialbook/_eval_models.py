"""The typed values ``tb.evals`` returns: the ``--json`` documents of the ``eval`` commands.

Each document model dumps back to exactly the command's JSON:
``report.model_dump(mode="json")`` equals ``trialbook eval show RUN --json``
(a key the command prints only sometimes, such as ``pass_at_k`` or
``verdicts``, is ``None`` here when the command leaves it out, and is left out
of the dump).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import model_serializer

from trialbook._models import _Model


class _Document(_Model):
    """A model of a JSON document whose ``_optional`` keys are absent when None."""

    _optional: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _leave_out_absent(self, handler: Any) -> Any:
        data = handler(self)
        for key in self._optional:
            if isinstance(data, dict) and data.get(key) is None:
                data.pop(key, None)
        return data


# --------------------------------------------------------------------------- suites


class SuiteAdded(_Model):
    """What ``evals.add_suite`` recorded: the suite's version now, and whether it is new.

    ``changed`` is false when the cases equal the latest version's (the CLI's
    "unchanged"): nothing was recorded then.
    """

    name: str
    version: int
    cases: int
    hash: str
    changed: bool


class SuiteInfo(_Model):
    """A suite's latest version, as a row of ``eval suite list --json``."""

    name: str
    version: int
    versions: int
    hash: str
    cases: int
    source: str | None
    registered_at: str


class Suite(_Model):
    """One version of a suite with its cases (``eval suite show --json``)."""

    name: str
    version: int
    versions: int
    hash: str
    source: str | None
    description: str | None
    #: each case with every field (id, input, expected, criteria, metadata, scorers)
    cases: list[dict[str, Any]]


# --------------------------------------------------------------------------- runs


class EvalRun(_Model):
    """A run's row (``eval list --json``, and ``run`` of ``eval show --json``).

    ``status`` is ``running``, ``interrupted`` or ``finished``; ``runner`` tells,
    for a running run started on this host, whether its process is ``alive`` or
    ``gone`` (crashed or killed: resume it), else ``None``.
    """

    run_id: str
    name: str
    suite: str
    suite_version: int
    status: Literal["running", "interrupted", "finished"]
    epochs: int
    total: int
    completed: int
    failed: int
    attempts: int
    cost_usd: float | None
    prompt_tokens: int
    completion_tokens: int
    verdicts: int
    started_at: str
    finished_at: str | None
    interrupt_reason: str | None
    #: the target's description, without secrets (``RunStarted.target``)
    target: dict[str, Any]
    settings: dict[str, Any]
    scorers: list[dict[str, Any]]
    trialbook_version: str | None
    git_sha: str | None
    runner: Literal["alive", "gone"] | None


class RolloutScore(_Model):
    """One scorer's verdict on one rollout, over its repeats (a cell of ``eval show``).

    ``score`` and ``passed`` are ``None`` when no repeat gave a usable verdict;
    ``scoring_error`` then says that one failed to score (``error`` says why).
    """

    score: float | None
    passed: bool | None
    repeats: int
    score_sd: float | None
    errors: int
    scoring_error: bool
    error: str | None
    failed_criteria: list[str]
    #: the mean score of the usable repeats on the scorer's own scale, and that scale
    #: (``None`` when the repeats mixed scales); ``score`` is normalised to 0–1
    raw_score: float | None = None
    scale: list[float] | None = None


class _RolloutOutcome(_Model):
    """The columns every rollout row has: the latest attempt at one (case, epoch) and how it went."""

    case_id: str
    epoch: int
    attempt: int
    status: Literal["completed", "failed"]
    score: float | None
    reward: float | None
    latency_s: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None
    error: str | None
    error_kind: str | None
    tries: int


class RolloutResult(_RolloutOutcome):
    """A row of ``eval show``: the outcome of one (case, epoch) and its scorers' verdicts."""

    output_blob: str | None
    tokens: int | None
    #: scorer name -> its verdict
    verdicts: dict[str, RolloutScore]


class Rollout(_RolloutOutcome):
    """The outcome of one (case, epoch) with its output (``eval show --case``, ``eval export``).

    ``output`` is the target's output; an output too large to keep inline is in
    the blob ``output_blob`` (``evals.rollouts`` reads it back into ``output``).
    """

    output: Any
    output_blob: str | None
    trace_blob: str | None
    model: str | None


class RunSummary(_Model):
    """The totals of ``eval show``: counts, the target's scores, latency, tokens and cost.

    Means are over the rollouts that reported the value; the target's pass rate
    counts a score ≥ 0.7 as a pass.
    """

    rollouts: int
    completed: int
    failed: int
    pending: int
    mean_score: float | None
    mean_reward: float | None
    target_pass_rate: float | None
    mean_latency_s: float | None
    latency_p50_s: float | None
    latency_p95_s: float | None
    latency_p99_s: float | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    mean_tokens: float | None
    tokens_reported: int
    mean_cost_usd: float | None
    cost_reported: int


class PassAtK(_Model):
    """pass@k and pass^k of a scorer over k = the run's epochs."""

    k: int
    pass_at_k: float | None
    pass_hat_k: float | None
    cases: int
    skipped: int


class ScorerSummary(_Document):
    """One scorer over the run: mean, pass rate with its 95 % Wilson interval, abstentions,
    scoring errors (left out of ``scored``, the mean and the pass rate), judge usage."""

    _optional = ("pass_at_k",)

    rollouts: int
    abstained: int
    errors: int
    error_verdicts: int
    scored: int
    mean: float | None
    sd: float | None
    repeat_sd: float | None
    passed: int
    pass_rate: float | None
    pass_interval: list[float | None]
    disagreements: int
    flags: dict[str, int]
    judge_prompt_tokens: int
    judge_completion_tokens: int
    judge_cost_usd: float
    #: how many of its verdicts had a known judge cost (0: no price known, not $0)
    judge_cost_reported: int = 0
    pass_at_k: PassAtK | None = None
    #: the scorer's scale (``None`` when its verdicts mixed scales) and its mean on it;
    #: ``mean`` and every other figure are on the normalised 0–1 score
    scale: list[float] | None = None
    mean_on_scale: float | None = None


class FlakyCase(_Model):
    """A case a scorer passed in some epochs and failed in others."""

    scorer: str
    case_id: str
    passed_epochs: list[int]
    failed_epochs: list[int]


class JudgeDisagreement(_Model):
    """A rollout on which a judge's repeats split on pass/fail."""

    scorer: str
    case_id: str
    epoch: int
    passes: int
    fails: int


class Agreement(_Model):
    """Percent agreement and Cohen's kappa of two scorers' pass/fail."""

    scorer_a: str
    scorer_b: str
    n: int
    percent: float | None
    kappa: float | None
    scoring_errors: int
    #: the rollouts where they disagree, as ``[case_id, epoch]``
    disagreements: list[list[str | int]]


class Verdict(_Model):
    """One recorded verdict (``eval show --all-verdicts``, ``eval show --case``).

    ``evaluation`` holds the criteria rows ``{criteria, passed, reason}``,
    ``flags`` the parser's checks ``{code, detail}``, ``usage`` a judge's tokens
    and cost; ``latest`` is false for a verdict a rescore replaced.
    """

    position: int
    scorer: str
    case_id: str
    epoch: int
    repeat: int
    score: float | None
    raw_score: float | None
    #: the scale ``raw_score`` is on (``score`` is normalised to 0–1)
    scale: list[float] = [0.0, 1.0]
    passed: bool | None
    abstained: bool
    error: str | None
    evaluation: list[dict[str, Any]]
    result: str | None
    flags: list[dict[str, Any]]
    usage: dict[str, Any] | None
    raw_blob: str | None
    latest: bool
    recorded_at: str


class EvalReport(_Document):
    """``trialbook eval show RUN --json``, typed: the run, each rollout with its verdicts, the totals.

    ``verdicts`` (every verdict, also replaced ones) only with ``all_verdicts=True``.
    """

    _optional = ("verdicts",)

    run: EvalRun
    rollouts: list[RolloutResult]
    summary: RunSummary
    #: scorer name -> its summary, in ``scorer_names`` order
    scorers: dict[str, ScorerSummary]
    scorer_names: list[str]
    flaky_cases: list[FlakyCase]
    judge_disagreements: list[JudgeDisagreement]
    agreements: list[Agreement]
    verdicts: list[Verdict] | None = None

    def scorer(self, name: str) -> ScorerSummary:
        """Scorer ``name``'s summary (``KeyError`` if the run has no verdict from it)."""
        return self.scorers[name]


class CaseReport(_Model):
    """``trialbook eval show RUN --case ID --json``: the case's rollouts and every verdict on them."""

    run_id: str
    case_id: str
    rollouts: list[Rollout]
    verdicts: list[Verdict]


class Rescore(_Model):
    """What ``evals.rescore`` recorded: ``verdicts`` on ``rollouts`` stored outputs, of which
    ``scoring_errors`` could not be produced; ``session`` names the scoring session."""

    run_id: str
    session: str
    verdicts: int
    rollouts: int
    scoring_errors: int


class Export(_Model):
    """What ``evals.export`` wrote to ``directory``: ``rollouts.jsonl`` and ``blobs`` files."""

    directory: str
    rollouts: int
    blobs: int


# --------------------------------------------------------------------------- comparing


class ComparedPair(_Model):
    """One (case, epoch) scored in both runs: B against A."""

    case_id: str
    epoch: int
    a_score: float
    b_score: float
    a_passed: bool
    b_passed: bool
    outcome: Literal["win", "loss", "tie"]


class FailedPair(_Model):
    """A (case, epoch) whose rollout failed in one run or both (``failed_in``: a run id or ``both``)."""

    case_id: str
    epoch: int
    failed_in: str
    a_error: str | None
    b_error: str | None


class PairedInterval(_Model):
    """The fixed-horizon paired t interval of the score difference B − A."""

    method: str
    pairs: int
    level: float
    lift: float | None
    sd: float | None
    ci: list[float] | None
    note: str | None


class ClusteredInterval(_Model):
    """The paired interval of B − A clustered by case (CR1, t with ``clusters`` − 1 df)."""

    method: str
    pairs: int
    clusters: int
    level: float
    lift: float | None
    se: float | None
    ci: list[float] | None
    note: str | None


class GateCheck(_Model):
    """One CI gate checked: the option as the CLI spells it, whether it passed, and the figures."""

    gate: str
    passed: bool
    detail: str


class Gates(_Model):
    """The gates checked on a run or a comparison (``tb.evals.gates``, ``tb.evals.compare_gates``).

    ``exit_code`` is the CLI's: 0 every gate passed, 1 one failed, 3 an
    infrastructure failure (``infrastructure`` says why: every rollout failed).
    """

    exit_code: int
    checks: list[GateCheck]
    infrastructure: str | None
    #: the CLI's one line for a failure, None when every gate passed
    message: str | None

    @property
    def passed(self) -> bool:
        return self.exit_code == 0


class FedToAB(_Model):
    """What ``compare(..., into_ab=NAME)`` did to A/B test ``test``."""

    test: str
    created: bool
    added: int
    skipped: int


class Comparison(_Document):
    """``trialbook eval compare RUN_A RUN_B --json``, typed.

    ``basis`` is ``scorer:NAME``, ``target_score`` or ``completion``;
    ``variants`` the A/B variant names of the two runs; ``analysis`` the
    always-valid paired analysis (``ab analyze``'s document, without its log
    position), ``None`` with fewer than 2 pairs; ``into_ab`` only when feeding
    an A/B test.
    """

    _optional = ("into_ab",)

    run_a: str
    run_b: str
    basis: str
    variants: list[str]
    pairs: int
    only_in_a: int
    only_in_b: int
    wins: int
    losses: int
    ties: int
    a_pass_rate: float | None
    b_pass_rate: float | None
    a_scored: int
    b_scored: int
    regressions: list[ComparedPair]
    improvements: list[ComparedPair]
    failed_rollouts: list[FailedPair]
    #: scoring errors / unscored rollouts left out, per side (``{"a": n, "b": n}``)
    scoring_errors: dict[str, int]
    unscored: dict[str, int]
    #: distinct cases and epochs among the pairs ("50 cases × 2 epochs")
    cases: int
    epochs: int
    paired: PairedInterval
    #: the interval to read when a case has more than one pair (epochs > 1)
    clustered: ClusteredInterval
    rows: list[ComparedPair]
    analysis: dict[str, Any] | None
    into_ab: FedToAB | None = None


__all__ = [
    "Agreement",
    "CaseReport",
    "ClusteredInterval",
    "ComparedPair",
    "Comparison",
    "EvalReport",
    "EvalRun",
    "Export",
    "FailedPair",
    "FedToAB",
    "FlakyCase",
    "GateCheck",
    "Gates",
    "JudgeDisagreement",
    "PairedInterval",
    "PassAtK",
    "Rescore",
    "Rollout",
    "RolloutResult",
    "RolloutScore",
    "RunSummary",
    "ScorerSummary",
    "Suite",
    "SuiteAdded",
    "SuiteInfo",
    "Verdict",
]
