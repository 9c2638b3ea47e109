"""Exploratory QA of issue #21's A/B features (quantile metrics, caps, CUPED, segments, units):
the edge cases found broken, each with the test that failed before its fix."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Invoke, count_events


def test_a_cap_on_a_metric_no_result_has_reports_no_threshold_instead_of_crashing(
    invoke: Invoke,
) -> None:
    assert invoke("ab", "create", "t", "--metric", "cost", "--cap", "cost:p99").exit_code == 0
    for i in range(6):
        v = "control" if i % 2 else "treatment"
        assert invoke("ab", "add-result", "t", "--variant", v, "--success").exit_code == 0
    r = invoke("ab", "analyze", "t")
    assert r.exit_code == 0, r.output
    assert "Capped at cost:p99 (fixed at ab create):" in r.output
    assert "no threshold yet: no result has a value of cost" in r.output
    assert "nan" not in r.output.lower().split()


def test_a_quantile_of_a_built_in_metric_is_not_called_a_custom_metric(
    invoke: Invoke, db_path: Path
) -> None:
    r = invoke(
        "ab", "create", "t", "--metric", "completion_time:p95",
        "--guardrail", "cost:p99:+10%", "--guardrail", "latncy:p95:+10%",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "completion_time:p95" in r.output
    assert "'completion_time:p95' is not a built-in metric" not in r.output
    assert "'cost:p99' is not a built-in metric" not in r.output
    # a quantile of a custom (or misspelt) metric is still noted, by its base name
    assert (
        "Note: 'latncy' (in latncy:p95) is not a built-in metric: its values come from results "
        "recorded with --metric latncy=VALUE" in r.output
    )
    assert count_events(db_path) == 1
