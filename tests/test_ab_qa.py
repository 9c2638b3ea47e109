"""Exploratory QA of issue #21's A/B features (quantile metrics, caps, CUPED, segments, units):
the edge cases found broken, each with the test that failed before its fix."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.conftest import Invoke, count_events
from trialbook.domain.stats import quantiles


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


def test_a_segment_without_values_of_the_metric_is_not_counted_as_a_comparison(
    invoke: Invoke, tmp_path: Path
) -> None:
    rows = [
        {"variant": v, "completion_time": 10.0 + i, "dimensions": {"seg": f"s{i % 3}"}}
        for i in range(12)
        for v in ("control", "treatment")
    ]
    # results without completion_time (and without the dimension): the segment (none) holds no value
    rows += [{"variant": v, "success": True} for v in ("control", "treatment")]
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert invoke("ab", "create", "t", "--metric", "completion_time").exit_code == 0
    assert invoke("ab", "import", "t", str(path)).exit_code == 0
    r = invoke("ab", "analyze", "t", "--by", "seg", "--json")
    assert r.exit_code == 0, r.output
    seg = json.loads(r.output)["segments"]
    assert [s["segment"] for s in seg["variants"]["treatment"]] == ["s0", "s1", "s2"]
    assert seg["correction"].startswith("Holm across 3 comparisons")
    assert "alpha/3 per variant" in seg["correction"]
    r = invoke("ab", "analyze", "t", "--by", "seg", "--metric", "score")
    assert r.exit_code == 1
    assert r.output.strip().splitlines()[-1] == (
        "Error: no result of test 't' has a value of score; name a metric the results carry "
        "with --metric"
    )


def test_a_covariate_on_a_quantile_metric_names_the_metric_as_the_problem(
    invoke: Invoke, db_path: Path
) -> None:
    assert invoke("ab", "create", "t", "--metric", "completion_time:p95").exit_code == 0
    for i in range(4):
        v = "control" if i % 2 else "treatment"
        r = invoke(
            "ab", "add-result", "t", "--variant", v, "--completion-time", "10", "--tokens", "5"
        )
        assert r.exit_code == 0, r.output
    before = count_events(db_path)
    for cmd in (("analyze", "t"), ("conclude", "t", "--stop")):
        r = invoke("ab", *cmd, "--covariate", "tokens")
        assert r.exit_code == 1
        assert r.output.strip().splitlines() == [
            "Error: --covariate adjusts means and rates; completion_time:p95 is a quantile "
            "metric: name one with --metric (e.g. --metric completion_time)"
        ]
    assert count_events(db_path) == before


def test_a_dimension_given_twice_is_refused_not_silently_overwritten(
    invoke: Invoke, db_path: Path
) -> None:
    assert invoke("ab", "create", "t").exit_code == 0
    before = count_events(db_path)
    r = invoke(
        "ab", "add-result", "t", "--variant", "control",
        "--dimension", "model=m1", "--dimension", "model=m2",
    )  # fmt: skip
    assert r.exit_code == 2
    assert r.output.strip().splitlines()[-1] == (
        "Error: Invalid value for --dimension: 'model' is given twice (model=m1, model=m2); "
        "give each key once"
    )
    assert count_events(db_path) == before


@pytest.mark.parametrize("p", [0.5, 0.75, 0.9, 0.95, 0.975, 0.99, 0.999, 0.05])
def test_min_results_is_the_first_size_at_which_a_quantile_has_a_standard_error(p: float) -> None:
    need = quantiles.min_results(p)
    sizes = range(1, need + 3000)
    defined = [n for n in sizes if math.isfinite(quantiles.quantile_and_se(range(n), p)[1])]
    assert defined[0] == need
    assert defined == list(range(need, need + 3000))  # and from then on


def test_a_quantile_metric_too_small_for_an_interval_says_how_many_results_it_needs(
    invoke: Invoke,
) -> None:
    assert invoke("ab", "create", "t", "--metric", "completion_time:p95").exit_code == 0
    for i in range(16):
        v = "control" if i % 2 else "treatment"
        args = ("--variant", v, "--completion-time", str(10 + i))
        assert invoke("ab", "add-result", "t", *args).exit_code == 0
    r = invoke("ab", "analyze", "t")
    assert r.exit_code == 0, r.output
    need = quantiles.min_results(0.95)
    assert " ".join(r.output.split()).endswith(
        f"completion_time:p95 has no interval until each variant has {need} results with a value "
        "of completion_time (control has 8, treatment has 8); no call is made before. A lower "
        "percentile needs fewer."
    )
    assert quantiles.min_results(0.5) <= 8  # a median has its interval at 8 a side
    r = invoke("ab", "analyze", "t", "--metric", "completion_time:p50")
    assert r.exit_code == 0, r.output
    assert "has no interval until" not in r.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--metric", "completion_time:p100"),
            "Error: metric: quantile metric 'completion_time:p100': the percentile must lie "
            "between 0 and 100 (exclusive), e.g. completion_time:p95 or cost:p99.9 "
            "(got 'completion_time:p100')",
        ),
        (
            ("--metric", "completion_time:p0"),
            "Error: metric: quantile metric 'completion_time:p0': the percentile must lie "
            "between 0 and 100 (exclusive), e.g. completion_time:p95 or cost:p99.9 "
            "(got 'completion_time:p0')",
        ),
        (
            ("--guardrail", "completion_time:p100:+10%"),
            "Error: quantile metric 'completion_time:p100': the percentile must lie between 0 "
            "and 100 (exclusive), e.g. completion_time:p95 or cost:p99.9",
        ),
        (
            ("--cap", "cost:p100"),
            "Error: caps: cap cost:p100: the percentile must be at least 50 and below "
            "100, e.g. cost:p99",
        ),
        (
            ("--cap", "cost:p0"),
            "Error: caps: cap cost:p0: the percentile must be at least 50 and below "
            "100, e.g. cost:p99",
        ),
    ],
)
def test_a_percentile_out_of_range_is_named_as_such_at_both_ends(
    invoke: Invoke, db_path: Path, args: tuple[str, ...], message: str
) -> None:
    r = invoke("ab", "create", "t", *args)
    assert r.exit_code == 1
    assert r.output.strip().splitlines() == [message]
    assert count_events(db_path) == 0


def test_an_empty_covariate_asks_for_a_name(invoke: Invoke, db_path: Path) -> None:
    assert invoke("ab", "create", "t", "--metric", "completion_time").exit_code == 0
    r = invoke("ab", "add-result", "t", "--variant", "control", "--completion-time", "5")
    assert r.exit_code == 0
    before = count_events(db_path)
    for cmd in (("analyze", "t"), ("conclude", "t", "--stop")):
        r = invoke("ab", *cmd, "--covariate", " ")
        assert r.exit_code == 1
        assert r.output.strip().splitlines() == [
            "Error: --covariate is empty; name a value the results carry (e.g. --covariate "
            "prior) or case:RUN (a case's mean score in eval run RUN) or test:OTHER.METRIC"
        ]
    assert count_events(db_path) == before


@pytest.mark.parametrize("key", ["ключ", "a" * 65, "a b"])
def test_a_dimension_key_outside_ascii_says_ascii(invoke: Invoke, db_path: Path, key: str) -> None:
    assert invoke("ab", "create", "t").exit_code == 0
    r = invoke("ab", "add-result", "t", "--variant", "control", "--dimension", f"{key}=x")
    assert r.exit_code == 1
    assert r.output.strip().splitlines() == [
        f"Error: dimensions: dimension name {key!r} is not valid; use at most 64 ASCII letters, "
        "digits, '_' and '-' (e.g. model or task-type)"
    ]
    assert count_events(db_path) == 1


def test_the_api_reads_one_rule_given_as_text_as_that_rule(tmp_path: Path) -> None:
    import trialbook

    tb = trialbook.open(tmp_path / "api.db")
    tb.ab.create(
        "t", metric="cost", segments="model", caps="cost:p99", guardrails="completion_time:+10%"
    )
    from trialbook.domain.ab import stream_for

    with tb._use("qa") as ledger:
        data = next(iter(ledger.store.read_stream(stream_for("t")))).data
    assert data["segments"] == ["model"]  # not ["m", "o", "d", "e", "l"]
    assert data["caps"] == ["cost:p99"]
    assert [g["metric"] for g in data["guardrails"]] == ["completion_time"]


def test_a_breakdown_into_too_many_segments_is_refused_before_it_is_computed(
    invoke: Invoke, tmp_path: Path
) -> None:
    from trialbook.ledger.segments import MAX_SEGMENTS

    rows = [
        {"variant": v, "success": i % 3 == 0, "dimensions": {"u": f"u{i}"}}
        for i in range(MAX_SEGMENTS + 1)
        for v in ("control", "treatment")
    ]
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert invoke("ab", "create", "t").exit_code == 0
    assert invoke("ab", "import", "t", str(path)).exit_code == 0
    r = invoke("ab", "analyze", "t", "--by", "u")
    assert r.exit_code == 1
    assert r.output.strip().splitlines() == [
        f"Error: --by u: test 't' has {MAX_SEGMENTS + 1} values of 'u'; a breakdown compares at "
        f"most {MAX_SEGMENTS} segments (each look of each is computed); break it down by a "
        "dimension with fewer values"
    ]
    # at the limit it is computed
    r = invoke(
        "ab", "analyze", "t", "--by", "u", "--metric", "success", "--at", str(2 * MAX_SEGMENTS + 1)
    )
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1.5", "token count '1.5' is not a whole number of tokens; write 1200, 1,200, 1.5k or 2M"),
        (
            "1.2345k",
            "token count '1.2345k' is not a whole number of tokens (1234.5); write 1200, 1,200, "
            "1.5k or 2M",
        ),
    ],
)
def test_a_fractional_token_count_names_the_amount_only_when_it_differs(
    text: str, message: str
) -> None:
    from trialbook.domain.units import UnitError, parse_tokens

    with pytest.raises(UnitError) as e:
        parse_tokens(text)
    assert str(e.value) == message


def test_a_negative_cost_after_a_dollar_sign_is_named_negative(
    invoke: Invoke, db_path: Path
) -> None:
    assert invoke("ab", "create", "t").exit_code == 0
    r = invoke("ab", "add-result", "t", "--variant", "control", "--cost", "$-1")
    assert r.exit_code == 2
    assert r.output.strip().splitlines()[-1] == (
        "Error: Invalid value for '--cost': cost '$-1' is negative; write 0.03, $0.03 or 3c "
        "(US dollars)"
    )
    assert count_events(db_path) == 1


@pytest.mark.parametrize("value", ["", "   ", "two\nlines"])
def test_an_empty_or_multi_line_dimension_from_an_import_is_refused(
    tmp_path: Path, invoke: Invoke, db_path: Path, value: str
) -> None:
    # the CLI refused `--dimension k=`; import lines and the API recorded it, and "(none)"
    # segments then merged with results that had no dimension
    invoke("ab", "create", "t")
    before = count_events(db_path)
    line = json.dumps({"variant": "control", "dimensions": {"model": value}})
    r = invoke("ab", "import", "t", "-", input=line + "\n")
    assert r.exit_code == 1
    assert r.output.startswith("Error: line 1: dimension 'model' has an empty or multi-line value")
    assert r.output.count("\n") == 1
    assert count_events(db_path) == before


def test_a_custom_metric_given_twice_is_refused_not_last_wins(
    invoke: Invoke, db_path: Path
) -> None:
    invoke("ab", "create", "t")
    before = count_events(db_path)
    r = invoke(
        "ab", "add-result", "t", "--variant", "control", "--metric", "foo=1", "--metric", "foo=2"
    )
    assert r.exit_code == 2
    assert "'foo' is given twice (1 and 2); give it once" in r.output
    assert count_events(db_path) == before
