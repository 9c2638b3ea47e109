"""Segments (``ab analyze NAME --by category``): grouping by the results' dimensions, per-segment
differences, Holm's correction as statsmodels computes it, and an A/A over 5 segments under a look
after every result."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from trialbook.domain.stats import segments


class TestGrouping:
    def test_reads_a_dimension_or_a_metadata_key(self) -> None:
        dims = {"category": "billing", "model": "m1", "metadata": {"tier": "gold"}}
        assert segments.segment_of(dims, "category") == "billing"
        assert segments.segment_of(dims, "metadata.tier") == "gold"
        assert segments.segment_of({"tier": "free"}, "metadata.tier") == "free"
        assert segments.segment_of(dims, "difficulty") == segments.NONE_SEGMENT
        assert segments.segment_of(None, "model") == segments.NONE_SEGMENT

    @pytest.mark.parametrize("by", ["", "metadata.", "a b", "x;y"])
    def test_a_bad_by_names_the_forms_to_use(self, by: str) -> None:
        with pytest.raises(ValueError, match="category, difficulty, model or metadata.KEY"):
            segments.dimension_key(by)


class TestAnalysis:
    def setup_method(self) -> None:
        rng = np.random.default_rng(11)
        t = 1200
        self.arm = np.arange(t) % 2
        self.seg = rng.choice(3, size=t, p=[0.5, 0.3, 0.2])
        base = np.array([0.4, 0.6, 0.5])[self.seg]
        self.y = (rng.random(t) < base + 0.15 * (self.arm == 1) * (self.seg == 0)).astype(float)
        self.looks = segments.analyze_segments(
            "binary", self.y, self.arm, self.seg, ["a", "b", "c"], plan=1200.0
        )

    def test_each_segments_difference_is_its_own(self) -> None:
        for j, s in enumerate(self.looks):
            v = self.y[(self.seg == j) & (self.arm == 1)]
            c = self.y[(self.seg == j) & (self.arm == 0)]
            assert s.diff[-1] == pytest.approx(v.mean() - c.mean())
            assert s.n_variant[-1] == len(v) and s.n_control[-1] == len(c)

    def test_holm_across_segments_matches_statsmodels(self) -> None:
        p = np.array([s.p[-1] for s in self.looks])
        want = multipletests(p, method="holm")[1]
        assert [s.p_adjusted[-1] for s in self.looks] == pytest.approx(want.tolist())

    def test_the_report_labels_an_unplanned_breakdown_exploratory(self) -> None:
        doc = segments.segment_report(self.looks, 0.05, exploratory=True, by="category")
        assert doc["exploratory"] and doc["label"].startswith("exploratory")
        assert [r["segment"] for r in doc["segments"]] == ["a", "b", "c"]
        assert doc["segments"][0]["different"] is True  # +15 points in segment a
        assert not segments.segment_report(self.looks, 0.05, False, "category")["exploratory"]


def test_aa_over_five_segments_keeps_false_winners_below_alpha() -> None:
    rng = np.random.default_rng(12)
    sims, t = 200, 800
    y = (rng.random((sims, t)) < 0.5).astype(float)
    seg = rng.choice(5, size=(sims, t), p=[0.4, 0.25, 0.15, 0.1, 0.1])
    arm = np.broadcast_to(np.arange(t) % 2, (sims, t))
    looks = segments.analyze_segments("binary", y, arm, seg, list("abcde"), plan=800.0)
    winner = np.zeros(sims, dtype=bool)
    for s in looks:
        winner |= s.better.reshape(sims, -1).any(axis=1)
    assert winner.mean() <= 0.05
