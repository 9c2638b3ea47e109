"""Verdict statistics over an eval run: per-scorer summaries, pass@k, flaky cases, agreement.

A scoring error (a verdict with ``error`` set) is recorded with score 0 and
``passed=False`` so that every event keeps the same shape, but it is not a
judgement of the output: these statistics leave it out of means, pass rates,
pass@k and agreement, and count it apart. Abstentions are left out likewise.
:mod:`trialbook.domain.verdicts` re-exports every name here.

Every statistic here reads the normalised score (``score``, on 0–1), never the
raw score on a scorer's own scale (``raw_score`` on ``scale``, e.g. 6 on 1–10):
a scorer on 1–10 and the same scorer rescaled to 0–1 give identical results.

Pure: the standard library only (the eval report imports it without numpy).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from statistics import NormalDist
from typing import TYPE_CHECKING, Protocol

from trialbook.domain.stats.proportions import wilson_bounds

if TYPE_CHECKING:
    from trialbook.domain.verdict_values import Flag, JudgeUsage


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


def _mean(values: Sequence[float]) -> float | None:
    """The mean with an exactly rounded sum (``math.fsum``): the same float whatever order the
    verdicts were recorded in (a plain sum showed 6.125 as 6.12 or 6.13 by completion order)."""
    return math.fsum(values) / len(values) if values else None


def _sd(values: Sequence[float]) -> float | None:
    n = len(values)
    if n < 2:
        return None
    mean = math.fsum(values) / n
    return math.sqrt(max(math.fsum((x - mean) ** 2 for x in values) / (n - 1), 0.0))


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
                score=_mean(scores),
                score_sd=_sd(scores),
                passed=(passes > fails) if scored else None,
                error=errors[0] if errors else None,
            )
        )
    return out


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (no continuity correction).

    ``(0, 1)`` when ``n`` is 0. Matches statsmodels' ``proportion_confint(method="wilson")``.
    The formula is :func:`~trialbook.domain.stats.proportions.wilson_bounds`, the A/B
    statistics' too; the normal quantile here is the standard library's.
    """
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, not {confidence}")
    if n == 0:
        return 0.0, 1.0
    low, high = wilson_bounds(successes, n, NormalDist().inv_cdf(1 - (1 - confidence) / 2))
    # exact at the edges, where rounding would leave the bound a hair inside [0, 1]
    return (0.0 if successes == 0 else low), (1.0 if successes == n else high)


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
    verdicts: Iterable[ScoredRollout],
    confidence: float = 0.95,
    *,
    grouped: Sequence[RolloutVerdict] | None = None,
) -> dict[str, ScorerSummary]:
    """A :class:`ScorerSummary` per scorer, in first-seen order.

    ``grouped`` is ``rollouts(verdicts)`` when the caller has it already (a report that
    needs several of these summaries groups a large run's verdicts once, not per summary).
    """
    items = list(verdicts)
    by_scorer: dict[str, list[RolloutVerdict]] = defaultdict(list)
    for r in rollouts(items) if grouped is None else grouped:
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
            mean=_mean(scores),
            sd=_sd(scores),
            repeat_sd=_mean(repeat_sds),
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


def case_epochs(
    verdicts: Iterable[ScoredRollout], *, grouped: Sequence[RolloutVerdict] | None = None
) -> list[CaseEpochs]:
    """Per (scorer, case): the epochs it passed and failed, from the rollouts' combined pass/fail
    (``grouped``: ``rollouts(verdicts)`` when the caller has it, as in :func:`summarize`)."""
    acc: dict[tuple[str, str], tuple[list[int], list[int]]] = {}
    for r in rollouts(verdicts) if grouped is None else grouped:
        if r.passed is None:
            continue
        ok, bad = acc.setdefault((r.scorer, r.case_id), ([], []))
        (ok if r.passed else bad).append(r.epoch)
    return [
        CaseEpochs(s, c, tuple(sorted(ok)), tuple(sorted(bad))) for (s, c), (ok, bad) in acc.items()
    ]


def flaky_cases(
    verdicts: Iterable[ScoredRollout],
    *,
    grouped: Sequence[RolloutVerdict] | None = None,
    epochs: Sequence[CaseEpochs] | None = None,
) -> list[CaseEpochs]:
    """Cases that passed in some epochs and failed in others, per scorer (``epochs``:
    ``case_epochs(verdicts)`` when the caller has it)."""
    if epochs is None:
        epochs = case_epochs(verdicts, grouped=grouped)
    return [c for c in epochs if c.flaky]


@dataclass(frozen=True)
class PassK:
    """pass@k and pass^k of one scorer, averaged over cases with at least k scored epochs."""

    scorer: str
    k: int
    cases: int
    skipped: int
    pass_at_k: float | None
    pass_hat_k: float | None


def pass_k(
    verdicts: Iterable[ScoredRollout],
    k: int,
    *,
    grouped: Sequence[RolloutVerdict] | None = None,
    epochs: Sequence[CaseEpochs] | None = None,
) -> dict[str, PassK]:
    """pass@k and pass^k per scorer; cases with fewer than ``k`` scored epochs are counted in
    ``skipped`` (``grouped``/``epochs``: already computed by the caller, as in :func:`flaky_cases`)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    per: dict[str, list[CaseEpochs]] = defaultdict(list)
    for c in case_epochs(verdicts, grouped=grouped) if epochs is None else epochs:
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
            pass_at_k=_mean(at),
            pass_hat_k=_mean(hat),
        )
    return out


def repeat_disagreements(
    verdicts: Iterable[ScoredRollout], *, grouped: Sequence[RolloutVerdict] | None = None
) -> list[RolloutVerdict]:
    """Rollouts on which a judge's repeats split on pass/fail (a "flickering" judge)."""
    return [r for r in (rollouts(verdicts) if grouped is None else grouped) if r.disagrees]


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


def agreement(
    verdicts: Iterable[ScoredRollout],
    scorer_a: str,
    scorer_b: str,
    *,
    grouped: Sequence[RolloutVerdict] | None = None,
) -> Agreement:
    """Agreement of two scorers on pass/fail over rollouts both scored (repeats combined by majority).

    Abstentions and scoring errors are no pass/fail, so those rollouts are left
    out; the ones left out for a scoring error are counted. ``grouped``: as in
    :func:`summarize`.
    """
    a: dict[tuple[str, int], bool] = {}
    b: dict[tuple[str, int], bool] = {}
    errored: set[tuple[str, int]] = set()
    for r in rollouts(verdicts) if grouped is None else grouped:
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
    verdicts: Iterable[ScoredRollout],
    scorers: Sequence[str] | None = None,
    *,
    grouped: Sequence[RolloutVerdict] | None = None,
) -> list[Agreement]:
    """:func:`agreement` for every pair of ``scorers`` (default: every scorer seen, in first-seen
    order); the verdicts are grouped into rollouts once for all pairs."""
    items = list(verdicts)
    names = list(scorers) if scorers is not None else list(dict.fromkeys(v.scorer for v in items))
    if grouped is None:
        grouped = rollouts(items)
    return [agreement(items, x, y, grouped=grouped) for x, y in combinations(names, 2)]
