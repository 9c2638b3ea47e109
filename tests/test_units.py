"""Amounts typed with units (``domain/units.py``), and the CLI options that read them."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import Invoke, count_events
from tests.test_cli_analysis import binary_results, load, reference, rounded
from trialbook.domain import units
from trialbook.domain.errors import InvalidCommand
from trialbook.domain.stats import Effect
from trialbook.domain.units import UnitError

# --------------------------------------------------------------------------- parsers


class TestDurations:
    @pytest.mark.parametrize(
        ("text", "seconds"),
        [
            ("45", 45.0),
            ("45s", 45.0),
            ("45 sec", 45.0),
            ("2min", 120.0),
            ("2 minutes", 120.0),
            ("1h30m", 5400.0),
            ("1h30", 5400.0),
            ("2m15", 135.0),
            ("1h 30m 15s", 5415.0),
            ("1.5 minutes", 90.0),
            ("500ms", 0.5),
            ("1:30", 90.0),
            ("1:02:03", 3723.0),
            ("0.25", 0.25),
        ],
    )
    def test_the_forms_people_type_are_seconds(self, text: str, seconds: float) -> None:
        assert units.parse_duration(text) == seconds

    @pytest.mark.parametrize("text", ["", "soon", "5 parsecs", "2min later", "-3s", "1:75", "h"])
    def test_anything_else_is_one_error_naming_the_value_and_the_forms(self, text: str) -> None:
        with pytest.raises(UnitError) as e:
            units.parse_duration(text)
        message = str(e.value)
        assert repr(text) in message and units.DURATION_FORMS in message
        assert "\n" not in message

    @given(st.floats(min_value=0, max_value=1e9, allow_nan=False))
    def test_a_formatted_duration_reads_back_exactly(self, seconds: float) -> None:
        assert units.parse_duration(units.format_duration(seconds)) == seconds

    @given(st.integers(0, 99), st.integers(0, 59), st.integers(0, 59))
    def test_hours_minutes_and_seconds_add_up(self, h: int, m: int, s: int) -> None:
        total = 3600 * h + 60 * m + s
        assert units.parse_duration(f"{h}h{m}m{s}s") == total
        assert units.parse_duration(f"{h}:{m:02d}:{s:02d}") == total


class TestTokens:
    @pytest.mark.parametrize(
        ("text", "count"),
        [
            ("1200", 1200),
            ("1,200", 1200),
            ("1.5k", 1500),
            ("1.5K", 1500),
            ("2M", 2_000_000),
            ("2m", 2_000_000),
            ("1200 tokens", 1200),
            ("1,234,567", 1_234_567),
        ],
    )
    def test_the_forms_people_type_are_whole_counts(self, text: str, count: int) -> None:
        assert units.parse_tokens(text) == count

    @pytest.mark.parametrize("text", ["1.2345k", "12.5", "1,20", "lots", "-5", "1.5x"])
    def test_fractions_and_other_text_are_refused(self, text: str) -> None:
        with pytest.raises(UnitError) as e:
            units.parse_tokens(text)
        assert repr(text) in str(e.value) and units.TOKEN_FORMS in str(e.value)

    @given(st.integers(0, 2**63 - 1))
    def test_a_formatted_count_reads_back(self, n: int) -> None:
        assert units.parse_tokens(units.format_tokens(n)) == n
        assert units.parse_tokens(str(n)) == n

    @given(st.integers(0, 10**6), st.sampled_from([("k", 1000), ("M", 10**6)]))
    def test_a_scaled_count_is_the_number_times_the_scale(
        self, n: int, scale: tuple[str, int]
    ) -> None:
        suffix, factor = scale
        assert units.parse_tokens(f"{n}{suffix}") == n * factor


class TestCosts:
    @pytest.mark.parametrize(
        ("text", "usd"),
        [
            ("0.03", 0.03),
            ("$0.03", 0.03),
            ("0.03$", 0.03),
            ("0.03 USD", 0.03),
            ("3c", 0.03),
            ("3 cents", 0.03),
            ("3¢", 0.03),
            ("$1,200.50", 1200.5),
        ],
    )
    def test_the_forms_people_type_are_dollars(self, text: str, usd: float) -> None:
        assert units.parse_cost(text) == usd

    @pytest.mark.parametrize("text", ["-0.03", "$3c", "three", "3 euros", "$"])
    def test_anything_else_is_refused(self, text: str) -> None:
        with pytest.raises(UnitError) as e:
            units.parse_cost(text)
        assert repr(text) in str(e.value) and units.COST_FORMS in str(e.value)

    @given(st.floats(min_value=0, max_value=1e12, allow_nan=False))
    def test_a_cost_in_dollars_reads_back_exactly(self, usd: float) -> None:
        assert units.parse_cost(f"${units._exact_text(usd)}") == usd

    @given(st.floats(min_value=1e-9, max_value=1e9, allow_nan=False))
    def test_a_printed_cost_keeps_three_significant_digits_and_no_exponent(
        self, usd: float
    ) -> None:
        text = units.format_cost(usd)
        assert text.startswith("$") and "e" not in text.lower()
        back = units.parse_cost(text)
        tolerance = 0.005 if usd >= 1 else 0.005 * usd
        assert abs(back - usd) <= tolerance * 1.0001 + 1e-12

    def test_small_costs_are_not_printed_as_zero(self) -> None:
        assert units.format_cost(0.000018) == "$0.000018"
        assert units.format_cost(0.03) == "$0.03"
        assert units.format_cost(1234.5) == "$1,234.50"
        assert units.format_cost(None) == "-"


class TestMargins:
    @pytest.mark.parametrize(
        "text", ["5pp", "5 pp", "5 points", "5 pts", "5 percentage points", "0.05", "+5pp"]
    )
    def test_on_a_proportion_points_and_a_fraction_are_absolute(self, text: str) -> None:
        m = units.parse_margin(text, "success")
        assert (m.value, m.relative) == (pytest.approx(0.05), False)

    @pytest.mark.parametrize("text", ["5%", "5 %", "5 percent"])
    def test_percent_is_relative_to_control_on_every_metric(self, text: str) -> None:
        for metric in ("success", "completion_time", "my_metric"):
            m = units.parse_margin(text, metric)
            assert (m.value, m.relative) == (pytest.approx(0.05), True)

    @pytest.mark.parametrize("text", ["5", "1", "150pp", "100 points"])
    def test_a_margin_of_100_points_or_more_on_a_proportion_is_refused_with_the_reason(
        self, text: str
    ) -> None:
        with pytest.raises(UnitError, match="100 points"):
            units.parse_margin(text, "success")

    def test_the_refusal_of_a_bare_5_offers_the_forms_that_say_it(self) -> None:
        with pytest.raises(UnitError) as e:
            units.parse_margin("5", "error_rate")
        message = str(e.value)
        assert "500 points" in message and "5pp" in message and "0.05" in message

    def test_points_are_refused_on_a_metric_that_is_not_a_proportion(self) -> None:
        with pytest.raises(UnitError, match="not one"):
            units.parse_margin("5pp", "completion_time")

    @pytest.mark.parametrize(
        ("text", "metric", "value"),
        [("30s", "completion_time", 30.0), ("2min", "completion_time", 120.0),
         ("$0.01", "cost", 0.01), ("1c", "cost", 0.01), ("1.5k", "tokens", 1500.0),
         ("2.5", "score", 2.5), ("5", "completion_time", 5.0),
         ("30s", "completion_time:p95", 30.0)],
    )  # fmt: skip
    def test_other_metrics_take_their_own_units(self, text: str, metric: str, value: float) -> None:
        m = units.parse_margin(text, metric)
        assert (m.value, m.relative) == (value, False)

    @pytest.mark.parametrize("text", ["0", "-5pp", "0%", "nothing"])
    def test_zero_negative_and_other_text_are_refused(self, text: str) -> None:
        with pytest.raises(UnitError):
            units.parse_margin(text, "success")

    def test_a_guardrail_may_tolerate_no_worsening(self) -> None:
        assert units.parse_margin("+0", "success", allow_zero=True).value == 0

    @given(
        st.sampled_from(["success", "error_rate", "completion_time", "cost", "tokens", "score"]),
        st.floats(min_value=1e-6, max_value=0.99, allow_nan=False),
        st.sampled_from(["", "pp", "%"]),
    )
    def test_a_margin_reads_back_from_its_text_and_effect_parse_agrees(
        self, metric: str, x: float, unit: str
    ) -> None:
        if unit == "pp" and not units.is_proportion(metric):
            unit = ""
        number = units._exact_text(x * (100 if unit else 1))
        m = units.parse_margin(f"{number}{unit}", metric)
        again = units.parse_margin(str(m), metric)
        assert again == m
        effect = Effect.parse(str(m))
        assert (effect.value, effect.relative) == (m.value, m.relative)

    def test_unit_error_is_an_invalid_command_and_a_value_error(self) -> None:
        with pytest.raises(InvalidCommand):
            units.parse_margin("5", "success")
        with pytest.raises(ValueError):
            units.parse_tokens("x")


# --------------------------------------------------------------------------- the CLI


def _power(doc: dict[str, Any]) -> dict[str, Any]:
    """Each variant's power figures, without the ``--mde`` text they were asked with."""
    return {
        v["name"]: {k: x for k, x in v["power"].items() if k != "target_mde"}
        for v in doc["variants"]
        if v.get("power")
    }


def _analyze(invoke: Invoke, *args: str) -> Any:
    r = invoke("ab", "analyze", "t", "--json", *args)
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


class TestAnalyzeMde:
    @pytest.fixture
    def loaded(self, invoke: Invoke, tmp_path: Path) -> list[dict[str, Any]]:
        results = binary_results((60, 100), (72, 100))
        load(invoke, tmp_path, "t", results)
        return results

    def test_5pp_5_points_and_0_05_are_the_same_analysis_as_five_points(
        self, invoke: Invoke, loaded: list[dict[str, Any]]
    ) -> None:
        docs = [_analyze(invoke, "--mde", text) for text in ("5pp", "5 points", "0.05")]
        expected = _power(reference(loaded, mde=Effect(0.05)))
        assert expected["warm"]["needed_fixed_horizon"] is not None
        for doc in docs:
            assert rounded(_power(doc)) == rounded(expected)
            assert doc["recommendation"] == docs[0]["recommendation"]

    def test_5_percent_is_five_percent_of_controls_rate(
        self, invoke: Invoke, loaded: list[dict[str, Any]]
    ) -> None:
        doc = _analyze(invoke, "--mde", "5%")
        assert rounded(_power(doc)) == rounded(
            _power(reference(loaded, mde=Effect(0.05, relative=True)))
        )
        # 5 % of a 60 % rate is 3 points: a smaller effect needs more results than 5 points
        five_points = _analyze(invoke, "--mde", "5pp")
        assert (
            _power(doc)["warm"]["needed_fixed_horizon"]
            > _power(five_points)["warm"]["needed_fixed_horizon"]
        )

    @pytest.mark.parametrize("option", ["--mde", "--margin"])
    def test_a_bare_5_on_a_success_metric_is_refused_and_records_nothing(
        self, invoke: Invoke, loaded: list[dict[str, Any]], db_path: Path, option: str
    ) -> None:
        before = count_events(db_path)
        r = invoke("ab", "analyze", "t", option, "5")
        assert r.exit_code == 1
        assert r.output.startswith(f"Error: {option}: '5' on success (a proportion)")
        assert "500 points" in r.output and r.output.count("\n") == 1
        r = invoke("ab", "conclude", "t", "--keep-control", option, "5")
        assert r.exit_code == 1 and "500 points" in r.output
        assert count_events(db_path) == before

    def test_a_continuous_metric_takes_seconds(self, invoke: Invoke, tmp_path: Path) -> None:
        results = [
            {"variant": v, "completion_time": 30.0 + (i % 7) + (3 if v == "warm" else 0)}
            for i in range(40)
            for v in ("cold", "warm")
        ]
        load(invoke, tmp_path, "t", results, "--metric", "completion_time")
        a, b = _analyze(invoke, "--mde", "2min"), _analyze(invoke, "--mde", "120")
        assert _power(a) == _power(b) and _power(a)["warm"]["needed_fixed_horizon"] is not None
        r = invoke("ab", "analyze", "t", "--mde", "5pp")
        assert r.exit_code == 1 and "not one" in r.output


class TestAddResultUnits:
    def test_completion_time_tokens_and_cost_take_units(self, invoke: Invoke) -> None:
        assert invoke("ab", "create", "t", "--variants", "cold,warm").exit_code == 0
        r = invoke(
            "ab", "add-result", "t", "--variant", "warm", "--completion-time", "2min",
            "--tokens", "1.5k", "--cost", "$0.03",
        )  # fmt: skip
        assert r.exit_code == 0, r.output
        r = invoke("ab", "show", "t", "--json")
        result = json.loads(r.output)["results"][-1]
        assert (result["completion_time"], result["tokens"], result["cost"]) == (120.0, 1500, 0.03)

    @pytest.mark.parametrize(
        ("option", "value", "forms"),
        [("--completion-time", "soon", units.DURATION_FORMS),
         ("--tokens", "1.2345k", units.TOKEN_FORMS), ("--cost", "3 euros", units.COST_FORMS)],
    )  # fmt: skip
    def test_a_bad_amount_is_one_line_naming_the_forms_and_records_nothing(
        self, invoke: Invoke, db_path: Path, option: str, value: str, forms: str
    ) -> None:
        assert invoke("ab", "create", "t", "--variants", "cold,warm").exit_code == 0
        before = count_events(db_path)
        r = invoke("ab", "add-result", "t", "--variant", "warm", option, value)
        assert r.exit_code == 2
        assert f"Error: Invalid value for '{option}'" in r.output and forms in r.output
        assert count_events(db_path) == before

    def test_a_canary_result_takes_the_same_units(self, invoke: Invoke) -> None:
        r = invoke("canary", "create", "c", "--control", "a", "--candidate", "b")
        assert r.exit_code == 0, r.output
        r = invoke("canary", "add-result", "c", "--variant", "b", "--completion-time", "1m30s",
                   "--tokens", "2,000", "--cost", "3c", "--success")  # fmt: skip
        assert r.exit_code == 0, r.output


class TestGuardrailUnits:
    def test_guardrail_limits_take_the_margin_forms(self, invoke: Invoke) -> None:
        r = invoke(
            "ab", "create", "t", "--guardrail", "completion_time:+30s",
            "--guardrail", "error_rate:+5pp", "--guardrail", "cost:+3c",
        )  # fmt: skip
        assert r.exit_code == 0, r.output
        shown = json.loads(invoke("ab", "show", "t", "--json").output)
        rails = {g["metric"]: (g["limit"], g["relative"]) for g in shown["test"]["guardrails"]}
        assert rails == {
            "completion_time": (30.0, False),
            "error_rate": (pytest.approx(0.05), False),
            "cost": (0.03, False),
        }

    def test_a_bare_limit_of_5_on_a_proportion_is_refused(
        self, invoke: Invoke, db_path: Path
    ) -> None:
        r = invoke("ab", "create", "t", "--guardrail", "error_rate:+5")
        assert r.exit_code == 1 and "500 points" in r.output
        assert count_events(db_path) == 0


class TestCanaryGuardrailUnits:
    def test_canary_guardrails_take_seconds_cents_and_points(self, invoke: Invoke) -> None:
        r = invoke(
            "canary", "create", "c", "--control", "a", "--candidate", "b",
            "--guardrail", "completion_time:+30s", "--guardrail", "cost:+2c",
            "--guardrail", "error_rate:+2 points",
        )  # fmt: skip
        assert r.exit_code == 0, r.output
        assert "completion_time:+30, cost:+0.02, error_rate:+2pp" in r.output

    def test_the_api_reads_canary_guardrails_as_the_cli_does(
        self, invoke: Invoke, tmp_path: Path
    ) -> None:
        # the units are read by the canary's own guardrail parser, not by the CLI alone
        import trialbook

        rails = ("completion_time:+30s", "cost:+2c", "error_rate:+2 points")
        invoke("canary", "create", "c", "--control", "a", "--candidate", "b",
               *(x for g in rails for x in ("--guardrail", g)))  # fmt: skip
        with trialbook.open(tmp_path / "api.db") as tb:
            api = tb.canaries.create("c", control="a", candidate="b", guardrails=rails).info()
        cli = invoke("canary", "status", "c", "--json")
        assert [g["limit"] for g in json.loads(cli.output)["guardrails"]] == [
            g["limit"] for g in api.guardrails
        ]
        assert [g["limit"] for g in api.guardrails] == [30.0, 0.02, 0.02]

    def test_a_bare_5_on_a_proportion_is_refused_for_a_canary_too(
        self, invoke: Invoke, db_path: Path
    ) -> None:
        r = invoke("canary", "create", "c", "--control", "a", "--candidate", "b",
                   "--guardrail", "error_rate:+5")  # fmt: skip
        assert r.exit_code == 1 and "500 points" in r.output
        assert count_events(db_path) == 0


def test_the_module_states_every_form_it_accepts() -> None:
    doc = units.__doc__ or ""
    for form in ("1h30m", "1.5k", "$0.03", "5pp", "5%", "0.05"):
        assert form in doc
    assert math.isclose(units.parse_margin("5 %", "success").value, 0.05)


class TestMetricValues:
    """How metric values read, the same in `ab analyze`, the web view and reports."""

    @pytest.mark.parametrize(
        ("x", "text"),
        [
            (5.033e-05, "0.00005033"),
            (12345.0, "12345"),
            (12.5, "12.5"),
            (0.1234, "0.1234"),
            (0.0, "0"),
        ],
    )
    def test_a_value_reads_without_an_exponent(self, x: float, text: str) -> None:
        from trialbook.domain.units import format_number

        assert format_number(x) == text

    @given(st.floats(min_value=1e-6, max_value=1e14), st.booleans(), st.booleans())
    def test_a_value_reads_back_within_four_significant_digits(
        self, x: float, negative: bool, signed: bool
    ) -> None:
        from trialbook.domain.units import format_number

        x = -x if negative else x
        text = format_number(x, signed=signed)
        assert "e" not in text
        assert abs(float(text) - x) <= 5e-4 * abs(x)
        assert text.startswith("-" if negative else ("+" if signed else tuple("0123456789")))

    def test_the_cli_the_web_view_and_reports_share_one_formatter(self) -> None:
        from trialbook.domain.units import MetricUnits
        from trialbook.shell.commands.ab_analysis import _Units
        from trialbook.web.pages import Units

        assert Units is MetricUnits and issubclass(_Units, MetricUnits)
        u = MetricUnits("continuous")
        assert (u.value(4.2e-05), u.diff(4e-06), u.interval([-1e-05, 2e-05])) == (
            "0.000042",
            "+0.000004",
            "-0.00001 to +0.00002",
        )
        assert MetricUnits("binary").interval([0.086, 0.249]) == "+8.6 to +24.9 pts"
