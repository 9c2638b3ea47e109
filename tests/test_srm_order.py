"""The sample-ratio check reads counts, not the order one import happened to list them in."""

from __future__ import annotations

from pathlib import Path

import trialbook


def test_an_import_sorted_by_variant_with_equal_counts_is_not_a_sample_ratio_mismatch(
    db_path: Path,
) -> None:
    with trialbook.open(db_path) as tb:
        tb.ab.create("t", variants=["cold", "warm"], metric="success")
        rows = [{"variant": v, "success": i % 3 != 0} for v in ("cold", "warm") for i in range(600)]
        tb.ab.add_results("t", rows)  # one transaction: nobody looked after the 600 cold ones
        a = tb.ab.analyze("t")
        assert a.recommendation.decision != "blocked", a.recommendation.reason
        assert not any("sample-ratio" in str(alert) for alert in a.alerts if alert.get("blocking"))
        # a real mismatch still blocks
        tb.ab.add_results("t", [{"variant": "cold", "success": True}] * 400)
        assert tb.ab.analyze("t").recommendation.decision == "blocked"
