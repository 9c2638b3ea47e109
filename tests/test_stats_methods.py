"""Every statistical method checked against scipy, statsmodels or a published formula on fixed data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special, stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportions_ztest,
)

from trialbook.domain.stats import bayes, frequentist, sequential
from trialbook.domain.stats.moments import CoMoments, Moments

RNG = np.random.default_rng(20240917)
A = RNG.normal(10.0, 2.0, 37)
B = RNG.normal(11.0, 3.5, 53)


class TestWelch:
    def test_p_value_and_interval_match_scipy(self) -> None:
        got = frequentist.welch(Moments.of(B), Moments.of(A), 0.05)
        ref = stats.ttest_ind(B, A, equal_var=False)
        ci = ref.confidence_interval(0.95)
        assert got.p_value == pytest.approx(ref.pvalue, rel=1e-9)
        assert got.ci == pytest.approx((ci.low, ci.high), rel=1e-9)
        assert got.lift == pytest.approx(B.mean() - A.mean())

    def test_relative_interval_is_the_delta_method(self) -> None:
        got = frequentist.welch(Moments.of(B), Moments.of(A), 0.05)
        ma, mb = A.mean(), B.mean()
        va, vb = A.var(ddof=1) / len(A), B.var(ddof=1) / len(B)
        se = math.sqrt(vb / ma**2 + mb**2 * va / ma**4)
        df = (va + vb) ** 2 / (va**2 / (len(A) - 1) + vb**2 / (len(B) - 1))
        tq = stats.t.ppf(0.975, df)
        assert got.relative_ci == pytest.approx(
            (mb / ma - 1 - tq * se, mb / ma - 1 + tq * se), rel=1e-9
        )

    def test_too_few_values_give_no_p_value(self) -> None:
        got = frequentist.welch(Moments.of([1.0]), Moments.of([2.0, 3.0]), 0.05)
        assert got.p_value is None and got.ci is None


class TestProportions:
    def test_wilson_matches_statsmodels(self) -> None:
        lo, hi = proportion_confint(7, 23, alpha=0.05, method="wilson")
        assert frequentist.wilson_interval(7, 23, 0.05) == pytest.approx((lo, hi), rel=1e-9)

    @pytest.mark.parametrize(
        ("s1", "n1", "s2", "n2"), [(56, 70, 48, 80), (9, 10, 3, 10), (0, 15, 4, 15)]
    )
    def test_newcombe_matches_statsmodels(self, s1: int, n1: int, s2: int, n2: int) -> None:
        lo, hi = confint_proportions_2indep(
            s1, n1, s2, n2, method="newcomb", compare="diff", alpha=0.05
        )
        assert frequentist.newcombe_interval(s1, n1, s2, n2, 0.05) == pytest.approx(
            (lo, hi), rel=1e-9
        )

    def test_newcombe_reproduces_the_published_example(self) -> None:
        # Newcombe (1998) Table II, example (a): 56/70 vs 48/80 -> 0.0524 to 0.3339
        lo, hi = frequentist.newcombe_interval(56, 70, 48, 80, 0.05)
        assert (round(lo, 4), round(hi, 4)) == (0.0524, 0.3339)

    def test_katz_relative_interval_matches_scipy(self) -> None:
        ref = stats.contingency.relative_risk(56, 70, 48, 80).confidence_interval(0.95)
        got = frequentist.katz_relative_interval(56, 70, 48, 80, 0.05)
        assert got == pytest.approx((ref.low - 1, ref.high - 1), rel=1e-9)
        assert frequentist.katz_relative_interval(0, 10, 3, 10, 0.05) is None

    def test_large_samples_use_the_pooled_z_test(self) -> None:
        got = frequentist.two_proportions(480, 800, 430, 800, 0.05)
        _, p = proportions_ztest([480, 430], [800, 800])
        assert got.method.startswith("two-proportion z-test")
        assert got.p_value == pytest.approx(p, rel=1e-9)

    def test_small_samples_use_fishers_exact_test(self) -> None:
        got = frequentist.two_proportions(9, 10, 3, 10, 0.05)
        assert got.method == "Fisher's exact test"
        assert got.p_value == pytest.approx(stats.fisher_exact([[9, 1], [3, 7]]).pvalue, rel=1e-12)


class TestPooledRatio:
    def test_delta_variance_equals_the_linearised_variance(self) -> None:
        calls = RNG.poisson(8, 400).astype(float) + 1
        failed = RNG.binomial(calls.astype(int), 0.2).astype(float)
        r, var = frequentist.ratio_delta(CoMoments.of(zip(failed, calls, strict=True)))
        # independent computation: the variance of the linearised values (x - R y) / mean(y)
        lin = (failed - r * calls) / calls.mean()
        assert r == pytest.approx(failed.sum() / calls.sum())
        assert var == pytest.approx(lin.var(ddof=1) / len(lin), rel=1e-9)

    def test_delta_interval_covers_the_true_ratio_at_the_nominal_rate(self) -> None:
        rng = np.random.default_rng(3)
        sims, n, true_r = 2000, 200, 0.2
        y = rng.poisson(6, (sims, n)).astype(float) + 1
        x = rng.binomial(y.astype(int), true_r).astype(float)
        covered = 0
        for i in range(sims):
            r, var = frequentist.ratio_delta(
                CoMoments(
                    n,
                    x[i].mean(),
                    y[i].mean(),
                    ((x[i] - x[i].mean()) ** 2).sum(),
                    ((y[i] - y[i].mean()) ** 2).sum(),
                    ((x[i] - x[i].mean()) * (y[i] - y[i].mean())).sum(),
                )
            )
            covered += abs(r - true_r) <= 1.959964 * math.sqrt(var)
        assert abs(covered / sims - 0.95) < 0.015

    def test_difference_of_ratios_is_a_z_test(self) -> None:
        cv = CoMoments.of([(1, 4), (0, 3), (2, 5), (1, 6), (0, 2)])
        cc = CoMoments.of([(2, 4), (1, 3), (3, 5), (2, 6), (1, 2), (2, 4)])
        got = frequentist.ratio_difference(cv, cc, 0.05)
        (r1, v1), (r0, v0) = frequentist.ratio_delta(cv), frequentist.ratio_delta(cc)
        z = (r1 - r0) / math.sqrt(v1 + v0)
        assert got.p_value == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9)


class TestPaired:
    def test_paired_t_matches_scipy(self) -> None:
        x = RNG.normal(0.7, 0.2, 30)
        y = x - RNG.normal(0.05, 0.1, 30)
        got = frequentist.paired_t(CoMoments.of(zip(x, y, strict=True)), 0.05)
        ref = stats.ttest_rel(x, y)
        ci = ref.confidence_interval(0.95)
        assert got.p_value == pytest.approx(ref.pvalue, rel=1e-8)
        assert got.ci == pytest.approx((ci.low, ci.high), rel=1e-8)
        assert frequentist.paired_t(Moments.of(x - y), 0.05).p_value == pytest.approx(
            ref.pvalue, rel=1e-8
        )

    @pytest.mark.parametrize(("b", "c"), [(12, 3), (5, 5), (0, 7), (40, 22)])
    def test_mcnemar_exact_matches_statsmodels(self, b: int, c: int) -> None:
        ref = mcnemar([[10, b], [c, 20]], exact=True).pvalue
        assert frequentist.mcnemar_exact(b, c) == pytest.approx(ref, rel=1e-12)

    def test_wilcoxon_matches_scipy(self) -> None:
        d = [0.3, -0.1, 0.5, 0.2, 0.0, 0.7, -0.2, 0.4, 0.15, 0.25]
        ref = stats.wilcoxon([x for x in d if x != 0]).pvalue
        assert frequentist.wilcoxon_p(d) == pytest.approx(ref, rel=1e-12)
        assert frequentist.wilcoxon_p([0.0, 0.0, 1.0]) is None


class TestMultiplicityAndQuality:
    def test_holm_matches_statsmodels(self) -> None:
        p = [0.01, 0.04, 0.03, 0.005, 0.5]
        assert frequentist.holm(p) == pytest.approx(
            list(multipletests(p, method="holm")[1]), rel=1e-12
        )

    def test_holm_arrays_match_the_scalar_version_per_look(self) -> None:
        from trialbook.domain.stats.engine import holm_arrays

        p = RNG.random((4, 50)) ** 3
        got = holm_arrays(p)
        for j in range(50):
            assert list(got[:, j]) == pytest.approx(frequentist.holm(list(p[:, j])), rel=1e-12)

    def test_srm_matches_scipy_chisquare(self) -> None:
        counts, shares = [530, 470], [0.5, 0.5]
        ref = stats.chisquare(counts, [500, 500]).pvalue
        assert float(frequentist.srm_p(np.array(counts), shares)) == pytest.approx(ref, rel=1e-12)
        counts3 = [210, 180, 610]
        ref3 = stats.chisquare(counts3, [200, 200, 600]).pvalue
        assert float(frequentist.srm_p(np.array(counts3), [1, 1, 3])) == pytest.approx(
            ref3, rel=1e-12
        )

    def test_srm_waits_for_enough_results(self) -> None:
        assert math.isnan(float(frequentist.srm_p(np.array([3, 0]), [0.5, 0.5])))

    def test_homogeneity_matches_scipy_chi2_contingency(self) -> None:
        hits, totals = [12, 30], [200, 210]
        table = [[12, 188], [30, 180]]
        ref = stats.chi2_contingency(table, correction=False).pvalue
        assert float(frequentist.homogeneity_p(np.array(hits), np.array(totals))) == pytest.approx(
            ref, rel=1e-12
        )
        assert math.isnan(float(frequentist.homogeneity_p(np.array([0, 0]), np.array([50, 50]))))


class TestPower:
    def test_fixed_sample_size_matches_statsmodels(self) -> None:
        n = frequentist.required_n_fixed(0.5, 2 * 2.0**2, 0.05, 0.8)
        ref = NormalIndPower().solve_power(effect_size=0.5 / 2.0, alpha=0.05, power=0.8, ratio=1.0)
        assert n == pytest.approx(ref, rel=1e-3)

    def test_fixed_sample_size_for_a_success_rate_lift(self) -> None:
        # 0.60 -> 0.75 at alpha 0.05 and 80 % power: (1.96 + 0.8416)^2 (0.24 + 0.1875) / 0.15^2 = 149.1
        n = frequentist.required_n_fixed(0.15, 0.6 * 0.4 + 0.75 * 0.25, 0.05, 0.8)
        assert n == pytest.approx(149.13, abs=0.01)

    def test_always_valid_sample_size_crosses_the_boundary_with_the_asked_power(self) -> None:
        rho = sequential.rho(0.05, 500)
        n = frequentist.required_n_sequential(0.15, 0.4275, 0.05, 0.8, rho)
        assert n is not None
        z = 0.15 * math.sqrt(n / 0.4275)
        assert z == pytest.approx(
            float(sequential.z_boundary(2 * n, 0.05, rho)) + stats.norm.ppf(0.8), rel=1e-6
        )
        assert n > frequentist.required_n_fixed(0.15, 0.4275, 0.05, 0.8)  # type: ignore[operator]

    def test_mde_is_the_inverse_of_the_sample_size(self) -> None:
        n = frequentist.required_n_fixed(0.1, 0.5, 0.05, 0.8)
        assert n is not None
        assert frequentist.mde_fixed(math.sqrt(0.5 / n), 0.05, 0.8) == pytest.approx(0.1, rel=1e-9)


class TestSequential:
    def test_p_value_equals_alpha_exactly_on_the_boundary(self) -> None:
        rho = sequential.rho(0.05, 500)
        for n in (10, 100, 500, 10_000):
            z = sequential.z_boundary(n, 0.05, rho)
            assert float(sequential.p_value(z, n, rho)) == pytest.approx(0.05, rel=1e-9)

    def test_rho_makes_the_boundary_tightest_near_the_tuning_size(self) -> None:
        tuned = sequential.rho(0.05, 1000)
        for other in (sequential.rho(0.05, 200), sequential.rho(0.05, 5000)):
            assert sequential.z_boundary(1000, 0.05, tuned) < sequential.z_boundary(
                1000, 0.05, other
            )

    def test_boundary_is_wider_than_the_fixed_horizon_one(self) -> None:
        rho = sequential.rho(0.05, 500)
        assert np.all(
            sequential.z_boundary(np.arange(2, 100_000, 97), 0.05, rho) > stats.norm.ppf(0.975)
        )

    def test_the_confidence_sequence_covers_a_normal_mean_at_every_look(self) -> None:
        # time-uniform coverage: P(the true mean leaves the sequence at any of 2000 looks) <= alpha
        rng = np.random.default_rng(11)
        sims, looks = 4000, 2000
        rho = sequential.rho(0.05, 500)
        x = rng.normal(0.0, 1.0, (sims, looks))
        n = np.arange(1, looks + 1)
        z = np.abs(np.cumsum(x, axis=1) / np.sqrt(n))  # known sigma: se = 1 / sqrt(n)
        miss = (z > sequential.z_boundary(n, 0.05, rho)).any(axis=1).mean()
        assert miss <= 0.05
        assert miss > 0.005  # not vacuous: the boundary is not absurdly wide

    def test_p_value_is_one_without_data_and_zero_for_an_infinite_statistic(self) -> None:
        rho = sequential.rho(0.05, 500)
        assert float(sequential.p_value(3.0, 0, rho)) == 1.0
        assert float(sequential.p_value(math.inf, 10, rho)) == 0.0

    def test_rejects_invalid_settings(self) -> None:
        with pytest.raises(ValueError, match="alpha"):
            sequential.rho(1.5, 100)
        with pytest.raises(ValueError, match="tuning"):
            sequential.rho(0.05, 0)


class TestBayes:
    @staticmethod
    def evan_miller(a_s: int, a_n: int, b_s: int, b_n: int) -> float:
        """P(p_B > p_A) for Beta(1+s, 1+f) posteriors: Evan Miller (2015), exact sum."""
        alpha_a, beta_a = 1 + a_s, 1 + a_n - a_s
        alpha_b, beta_b = 1 + b_s, 1 + b_n - b_s
        total = 0.0
        for i in range(alpha_b):
            total += math.exp(
                special.betaln(alpha_a + i, beta_a + beta_b)
                - math.log(beta_b + i)
                - special.betaln(1 + i, beta_b)
                - special.betaln(alpha_a, beta_a)
            )
        return total

    def test_beta_chance_to_beat_control_matches_the_closed_form(self) -> None:
        got = bayes.readout(
            [bayes.Posterior.of_binary(40, 100), bayes.Posterior.of_binary(52, 100)], 0, False
        )
        assert got.p_beats_control[1] == pytest.approx(
            self.evan_miller(40, 100, 52, 100), abs=0.005
        )

    def test_lower_is_better_flips_the_chance(self) -> None:
        up = bayes.readout(
            [bayes.Posterior.of_binary(40, 100), bayes.Posterior.of_binary(52, 100)], 0, False
        )
        down = bayes.readout(
            [bayes.Posterior.of_binary(40, 100), bayes.Posterior.of_binary(52, 100)], 0, True
        )
        assert up.p_beats_control[1] + down.p_beats_control[1] == pytest.approx(1.0, abs=1e-3)  # type: ignore[operator]

    def test_normal_readout_matches_numeric_integration(self) -> None:
        got = bayes.readout(
            [bayes.Posterior.of_normal(10.0, 0.5), bayes.Posterior.of_normal(10.4, 0.3)], 0, False
        )
        s = math.hypot(0.5, 0.3)
        assert got.p_beats_control[1] == pytest.approx(stats.norm.cdf(0.4 / s), rel=1e-9)
        # expected loss of shipping the variant: E[max(control - variant, 0)]
        loss, _ = integrate.quad(
            lambda d: max(d, 0.0) * stats.norm.pdf(d, -0.4, s), -10, 10, points=[0.0]
        )
        assert got.expected_loss[1] == pytest.approx(loss, rel=1e-6)

    def test_chance_to_be_best_sums_to_one(self) -> None:
        got = bayes.readout(
            [
                bayes.Posterior.of_normal(1.0, 0.1),
                bayes.Posterior.of_normal(1.1, 0.1),
                bayes.Posterior.of_normal(0.9, 0.2),
            ],
            0,
            False,
        )
        assert sum(got.p_best) == pytest.approx(1.0)  # type: ignore[arg-type]
        assert max(range(3), key=lambda i: got.p_best[i]) == 1  # type: ignore[arg-type,return-value]

    def test_the_readout_is_deterministic(self) -> None:
        args = ([bayes.Posterior.of_binary(3, 10), bayes.Posterior.of_binary(6, 10)], 0, False)
        assert bayes.readout(*args) == bayes.readout(*args)
