"""Capping (``--cap cost:p99``, ``--cap completion_time:600``): parsing, thresholds, the per-look capped
moments against brute force, and a capped heavy-tailed A/A that keeps its false-winner rate."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trialbook.domain.stats import capping, engine
from trialbook.domain.stats.capping import Cap


class TestParse:
    def test_percentile_and_value_caps(self) -> None:
        assert Cap.parse("cost:p99") == Cap("cost", quantile=0.99)
        assert Cap.parse("completion_time:600") == Cap("completion_time", value=600.0)
        assert Cap.parse("cost:p99.9").quantile == pytest.approx(0.999)
        assert str(Cap.parse("cost:p99")) == "cost:p99"
        assert str(Cap.parse("completion_time:600")) == "completion_time:600"

    @pytest.mark.parametrize("text", ["cost", "cost:", "cost:pp9", "Cost:p99", "cost:-3", "cost:0"])
    def test_bad_caps_say_how_to_write_one(self, text: str) -> None:
        with pytest.raises(ValueError, match="METRIC:pNN|positive number"):
            Cap.parse(text)

    def test_a_percentile_below_the_median_is_refused(self) -> None:
        with pytest.raises(ValueError, match="at least 50 and below 100"):
            Cap.parse("cost:p10")


class TestThreshold:
    def test_percentile_threshold_is_numpys_quantile_of_the_pooled_values(self) -> None:
        x = np.random.default_rng(1).pareto(1.5, 500)
        cap = Cap.parse("cost:p99")
        t = cap.threshold(x)
        assert t == pytest.approx(float(np.quantile(x, 0.99)))
        capped = cap.apply(x, t)
        assert capped.max() == pytest.approx(t)
        assert capping.capped_count(x, t) == int((x > t).sum()) > 0

    @settings(max_examples=40, deadline=None)
    @given(
        st.lists(st.floats(0, 1e4), min_size=1, max_size=40),
        st.sampled_from(["cost:p90", "cost:p50", "cost:25"]),
    )
    def test_each_looks_capped_moments_are_those_of_its_prefix(
        self, xs: list[float], text: str
    ) -> None:
        x = np.array(xs)
        mask = np.arange(len(x)) % 2 == 0
        cap = Cap.parse(text)
        thr = capping.running_thresholds(cap, x)
        n, mean, m2 = capping.running_capped_moments(x, mask, thr, block=7)
        for t in range(len(x)):
            assert thr[t] == pytest.approx(cap.threshold(x[: t + 1]))
            sel = np.minimum(x[: t + 1][mask[: t + 1]], thr[t])
            assert n[t] == len(sel)
            if len(sel):
                assert mean[t] == pytest.approx(sel.mean(), rel=1e-9, abs=1e-9)
                assert m2[t] == pytest.approx(((sel - sel.mean()) ** 2).sum(), rel=1e-6, abs=1e-6)


class TestSequential:
    def test_capped_pareto_aa_keeps_false_winners_below_alpha(self) -> None:
        rng = np.random.default_rng(7)
        sims, per = 150, 200
        y = rng.pareto(1.5, (sims, 2 * per)) + 1.0
        arm = np.broadcast_to(np.arange(2 * per) % 2, y.shape)
        cmp, thr = capping.compare_looks(y, arm, Cap.parse("cost:p99"), 400.0)
        good, bad = engine.running_p(cmp, True, (sims, 2 * per))
        good, bad = good.reshape(sims, -1), bad.reshape(sims, -1)
        assert ((good < 0.05) & (good < bad)).any(axis=1).mean() <= 0.05
        assert np.all(np.isfinite(thr.reshape(sims, -1)[:, -1]))

    def test_capping_narrows_a_heavy_tailed_interval(self) -> None:
        rng = np.random.default_rng(8)
        y = rng.pareto(1.5, (1, 2000)) + 1.0
        arm = np.arange(2000)[None, :] % 2
        capped, _ = capping.compare_looks(y, arm, Cap.parse("cost:p99"), 2000.0)
        raw, _ = capping.compare_looks(y, arm, Cap("cost", value=1e300), 2000.0)
        assert capped.se[-1] < raw.se[-1]
