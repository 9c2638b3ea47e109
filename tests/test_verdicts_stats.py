"""Verdict statistics: Wilson intervals and Cohen's kappa against statsmodels, pass@k against enumeration."""

from __future__ import annotations

import statistics
import warnings
from itertools import combinations
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.inter_rater import cohens_kappa as sm_cohens_kappa
from statsmodels.stats.proportion import proportion_confint

from trialbook.domain.verdicts import (
    Flag,
    JudgeUsage,
    Verdict,
    VerdictRecorded,
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


def rec(
    scorer: str,
    case: str,
    epoch: int,
    score: float | None,
    *,
    passed: bool | None = None,
    repeat: int = 0,
    error: str | None = None,
    **fields: Any,
) -> VerdictRecorded:
    """A recorded verdict; ``score=None`` records an abstention."""
    if score is None:
        v = Verdict.abstention(scorer, repeat=repeat)
    elif error is not None:
        v = Verdict.failure(scorer, error, repeat=repeat, **fields)
    else:
        v = Verdict.scored(scorer, score, passed=passed, repeat=repeat, **fields)
    return VerdictRecorded.of(v, run_id="run", case_id=case, epoch=epoch)


# --------------------------------------------------------------------------- Wilson


class TestWilsonInterval:
    @pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
    @pytest.mark.parametrize(
        ("k", "n"), [(0, 1), (1, 1), (0, 10), (3, 10), (10, 10), (47, 200), (1, 1000), (999, 1000)]
    )
    def test_matches_statsmodels(self, k: int, n: int, confidence: float) -> None:
        low, high = wilson_interval(k, n, confidence)
        ref_low, ref_high = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
        assert low == pytest.approx(ref_low, abs=1e-12)
        assert high == pytest.approx(ref_high, abs=1e-12)

    @settings(max_examples=150, deadline=None)
    @given(st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
    def test_matches_statsmodels_on_any_count(self, kn: tuple[int, int]) -> None:
        k, n = kn
        low, high = wilson_interval(k, n)
        ref = proportion_confint(k, n, alpha=0.05, method="wilson")
        assert (low, high) == pytest.approx(ref, abs=1e-12)
        assert 0 <= low <= k / n <= high <= 1

    def test_no_observations_give_the_whole_range_and_bad_counts_are_refused(self) -> None:
        assert wilson_interval(0, 0) == (0.0, 1.0)
        with pytest.raises(ValueError, match="successes"):
            wilson_interval(5, 3)
        with pytest.raises(ValueError, match="confidence"):
            wilson_interval(1, 3, confidence=1.0)


# --------------------------------------------------------------------------- kappa


def _sm_kappa(tt: int, tf: int, ft: int, ff: int) -> float:
    # statsmodels also computes standard errors, which warn (0/0) on degenerate tables; kappa itself is fine
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(sm_cohens_kappa(np.array([[tt, tf], [ft, ff]])).kappa)


class TestCohensKappa:
    @pytest.mark.parametrize(
        "table",
        [
            (20, 5, 10, 15),
            (45, 15, 25, 15),
            (25, 35, 5, 35),
            (10, 0, 0, 10),
            (0, 10, 10, 0),
            (3, 1, 2, 9),
            (1, 0, 0, 0 + 1),
        ],
    )
    def test_matches_statsmodels(self, table: tuple[int, int, int, int]) -> None:
        assert cohens_kappa(*table) == pytest.approx(_sm_kappa(*table), abs=1e-12)

    @settings(max_examples=150, deadline=None)
    @given(st.tuples(*[st.integers(0, 60)] * 4))
    def test_matches_statsmodels_whenever_defined(self, table: tuple[int, int, int, int]) -> None:
        ours = cohens_kappa(*table)
        tt, tf, ft, ff = table
        n = sum(table)
        constant = n == 0 or (tt + tf) in (0, n) and (tt + ft) == (tt + tf)
        if ours is None:
            assert constant
        else:
            assert ours == pytest.approx(_sm_kappa(*table), abs=1e-9)

    def test_undefined_when_both_raters_give_one_label_to_everything(self) -> None:
        assert cohens_kappa(12, 0, 0, 0) is None
        assert cohens_kappa(0, 0, 0, 7) is None
        assert cohens_kappa(0, 0, 0, 0) is None


class TestAgreementBetweenJudges:
    def test_counts_percent_and_kappa_over_rollouts_both_judged(self) -> None:
        a_pass = [True, True, True, False, False, True, False, True, False, False]
        b_pass = [True, False, True, False, True, True, False, True, False, True]
        vs = [rec("judge:a", f"c{i}", 1, 0.9 if p else 0.2) for i, p in enumerate(a_pass)]
        vs += [rec("judge:b", f"c{i}", 1, 0.9 if p else 0.2) for i, p in enumerate(b_pass)]
        vs.append(rec("judge:b", "only-b", 1, 0.9))  # not paired: left out
        vs.append(rec("judge:a", "abstained", 1, None))
        vs.append(rec("judge:b", "abstained", 1, 0.9))
        ag = agreement(vs, "judge:a", "judge:b")
        assert (ag.n, ag.both_pass, ag.a_only, ag.b_only, ag.both_fail) == (10, 4, 1, 2, 3)
        assert ag.percent == pytest.approx(0.7)
        assert ag.kappa == pytest.approx(_sm_kappa(4, 1, 2, 3))
        assert ag.disagreements == (("c1", 1), ("c4", 1), ("c9", 1))

    def test_every_pair_of_judges(self) -> None:
        vs = [rec(s, "c", 1, 0.9) for s in ("judge:a", "judge:b", "judge:c")]
        pairs = [(x.scorer_a, x.scorer_b) for x in agreements(vs)]
        assert pairs == [("judge:a", "judge:b"), ("judge:a", "judge:c"), ("judge:b", "judge:c")]
        assert all(x.percent == 1.0 and x.kappa is None for x in agreements(vs))


# --------------------------------------------------------------------------- pass@k and pass^k


def _enumerated(n: int, c: int, k: int) -> tuple[float, float]:
    """Share of k-subsets of n epochs (c passing) with at least one pass, and with all passing."""
    outcomes = [True] * c + [False] * (n - c)
    subsets = list(combinations(range(n), k))
    any_pass = sum(any(outcomes[i] for i in s) for s in subsets) / len(subsets)
    all_pass = sum(all(outcomes[i] for i in s) for s in subsets) / len(subsets)
    return any_pass, all_pass


class TestPassAtK:
    @settings(max_examples=120, deadline=None)
    @given(
        st.integers(1, 10).flatmap(
            lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))
        )
    )
    def test_equals_the_share_of_k_subsets(self, nck: tuple[int, int, int]) -> None:
        n, c, k = nck
        any_pass, all_pass = _enumerated(n, c, k)
        assert pass_at_k(n, c, k) == pytest.approx(any_pass, abs=1e-12)
        assert pass_hat_k(n, c, k) == pytest.approx(all_pass, abs=1e-12)

    def test_large_counts_stay_exact(self) -> None:
        # C(n-c, k) / C(n, k) = prod over i < c of (n-k-i) / (n-i)
        assert pass_at_k(2000, 3, 1000) == pytest.approx(
            1 - (1000 * 999 * 998) / (2000 * 1999 * 1998), rel=1e-12
        )
        assert pass_hat_k(2000, 1999, 1) == pytest.approx(1999 / 2000, rel=1e-12)

    def test_bad_arguments_are_refused(self) -> None:
        for n, c, k in [(3, 4, 1), (3, 1, 0), (3, 1, 4)]:
            with pytest.raises(ValueError, match="need"):
                pass_at_k(n, c, k)

    def test_per_scorer_over_cases_skipping_cases_with_too_few_epochs(self) -> None:
        vs = []
        for epoch, ok in enumerate([True, False, False], 1):
            vs.append(rec("equals", "q1", epoch, 1.0 if ok else 0.0))
        for epoch, ok in enumerate([True, True, True], 1):
            vs.append(rec("equals", "q2", epoch, 1.0 if ok else 0.0))
        vs.append(rec("equals", "q3", 1, 0.0))  # one epoch only
        vs.append(rec("equals", "q4", 1, None))  # abstained
        result = pass_k(vs, 2)["equals"]
        assert (result.cases, result.skipped) == (2, 1)
        assert result.pass_at_k == pytest.approx((pass_at_k(3, 1, 2) + 1.0) / 2)
        assert result.pass_hat_k == pytest.approx((0.0 + 1.0) / 2)
        with pytest.raises(ValueError, match="k must"):
            pass_k(vs, 0)


# --------------------------------------------------------------------------- summaries, flakes, repeats


class TestSummaries:
    def test_mean_spread_and_wilson_pass_rate_per_scorer(self) -> None:
        scores = [1.0, 0.0, 1.0, 1.0, 0.5, 0.25]
        vs = [rec("contains:x", f"c{i}", 1, s, passed=s == 1.0) for i, s in enumerate(scores)]
        vs.append(rec("contains:x", "c-abstain", 1, None))
        s = summarize(vs)["contains:x"]
        assert (s.rollouts, s.abstained, s.errors, s.passed) == (7, 1, 0, 3)
        assert s.mean == pytest.approx(statistics.mean(scores))
        assert s.sd == pytest.approx(statistics.stdev(scores))
        assert s.pass_rate == pytest.approx(0.5)
        assert (s.pass_low, s.pass_high) == pytest.approx(proportion_confint(3, 6, method="wilson"))
        assert s.repeat_sd is None and s.disagreements == 0

    def test_scoring_errors_are_counted_apart_and_left_out_of_the_statistics(self) -> None:
        vs = [
            rec("python:m:f", "a", 1, 1.0),
            rec("python:m:f", "b", 1, 0.0, error="raised KeyError"),
        ]
        s = summarize(vs)["python:m:f"]
        assert (s.mean, s.errors, s.passed, s.pass_rate, s.scored) == (1.0, 1, 1, 1.0, 1)

    def test_judge_repeats_are_combined_per_rollout_and_their_disagreement_flagged(self) -> None:
        scale = (0.0, 10.0)
        usage = JudgeUsage(model="m", prompt_tokens=100, completion_tokens=20, cost_usd=0.001)
        flag = Flag(code="score_vs_criteria", detail="far")
        vs = [
            rec("judge:a", "q1", 1, 8, repeat=0, scale=scale, usage=usage),
            rec("judge:a", "q1", 1, 4, repeat=1, scale=scale, usage=usage, flags=(flag,)),
            rec("judge:a", "q1", 1, 9, repeat=2, scale=scale, usage=usage),
            rec("judge:a", "q2", 1, 3, repeat=0, scale=scale, usage=usage),
            rec("judge:a", "q2", 1, 2, repeat=1, scale=scale, usage=usage),
            rec("judge:a", "q2", 1, 2, repeat=2, scale=scale, usage=usage),
        ]
        q1, q2 = rollouts(vs)
        assert (q1.passes, q1.fails, q1.passed, q1.disagrees) == (2, 1, True, True)
        assert q1.score == pytest.approx(0.7) and q1.score_sd == pytest.approx(
            statistics.stdev([0.8, 0.4, 0.9])
        )
        assert (q2.passed, q2.disagrees) == (False, False)
        assert [(r.case_id, r.epoch) for r in repeat_disagreements(vs)] == [("q1", 1)]
        s = summarize(vs)["judge:a"]
        assert (s.rollouts, s.passed, s.disagreements) == (2, 1, 1)
        assert s.mean == pytest.approx((0.7 + 0.7 / 3) / 2)
        assert s.repeat_sd == pytest.approx(
            (statistics.stdev([0.8, 0.4, 0.9]) + statistics.stdev([0.3, 0.2, 0.2])) / 2
        )
        assert s.flags == {"score_vs_criteria": 1}
        assert (s.prompt_tokens, s.completion_tokens, s.cost_usd) == (
            600,
            120,
            pytest.approx(0.006),
        )

    def test_a_tie_between_repeats_counts_as_failed(self) -> None:
        vs = [rec("judge:a", "q", 1, 1.0, repeat=0), rec("judge:a", "q", 1, 0.0, repeat=1)]
        assert rollouts(vs)[0].passed is False

    def test_latest_keeps_the_last_rescore_of_each_verdict(self) -> None:
        first = rec("equals", "q1", 1, 0.0)
        other = rec("equals", "q2", 1, 1.0)
        rescored = rec("equals", "q1", 1, 1.0)
        assert latest([first, other, rescored]) == [other, rescored]
        assert summarize(latest([first, other, rescored]))["equals"].pass_rate == 1.0


class TestFlakyCases:
    def test_cases_passing_in_some_epochs_and_failing_in_others(self) -> None:
        vs = [rec("equals", "steady", e, 1.0) for e in (1, 2, 3)]
        vs += [rec("equals", "flaky", e, float(e != 2)) for e in (1, 2, 3)]
        vs += [rec("equals", "broken", e, 0.0) for e in (1, 2)]
        vs += [rec("equals", "half-abstained", 1, 1.0), rec("equals", "half-abstained", 2, None)]
        flaky = flaky_cases(vs)
        assert [(c.case_id, c.passed_epochs, c.failed_epochs) for c in flaky] == [
            ("flaky", (1, 3), (2,))
        ]
        assert {c.case_id: c.n for c in case_epochs(vs)} == {
            "steady": 3,
            "flaky": 3,
            "broken": 2,
            "half-abstained": 1,
        }


# --------------------------------------------------------------------------- order


@given(
    st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=40),
    st.randoms(use_true_random=False),
)
@settings(max_examples=200, deadline=None)
def test_a_summary_is_the_same_float_in_whatever_order_verdicts_were_recorded(
    scores: list[float], rng: Any
) -> None:
    """Rollouts finish (and their verdicts are recorded) in any order: the mean, sd and the
    pass@k figures shown must not move in the last digit with it (6.125 printed 6.12 or 6.13)."""
    verdicts = [rec("s", f"c{i}", 1, x, passed=x >= 0.5) for i, x in enumerate(scores)]
    shuffled = list(verdicts)
    rng.shuffle(shuffled)
    a, b = summarize(verdicts)["s"], summarize(shuffled)["s"]
    assert (a.mean, a.sd, a.pass_rate) == (b.mean, b.sd, b.pass_rate)
    assert a.mean == pytest.approx(float(np.mean(scores)), abs=1e-12)
    if len(scores) >= 2:
        assert a.sd == pytest.approx(float(np.std(scores, ddof=1)), abs=1e-12)
