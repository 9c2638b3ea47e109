"""When the analysis pairs results by case (issue #24): a rule users can predict, that one result does not flip."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import Invoke
from trialbook.domain.stats import (
    METHOD_VERSION,
    AnalysisInput,
    analyze,
    rows_from_results,
    variant_data_from_rows,
)
from trialbook.domain.stats.engine import PAIRED_COVERAGE, PAIRED_COVERAGE_2_0


def warm(results: list[dict[str, Any]], method_version: str | None = None) -> dict[str, Any]:
    """The warm variant's block of the analysis of ``results`` (every look replayed)."""
    rows = rows_from_results(results)
    inp = AnalysisInput(
        test="t",
        variants=variant_data_from_rows(rows, ("cold", "warm")),
        control="cold",
        metric="success",
        rows=rows,
        method_version=method_version,
    )
    doc = analyze(inp).to_json()
    (v,) = [v for v in doc["variants"] if v["name"] == "warm"]
    return {**v, "method_version": doc["method_version"]}


def issue_24_test(seed: int = 3) -> list[dict[str, Any]]:
    """106 case pairs and 107 lone results per arm: 213 per arm, just under half paired."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for c in range(106):
        out.append({"variant": "cold", "case_id": f"p{c}", "success": rng.random() < 0.5})
        out.append({"variant": "warm", "case_id": f"p{c}", "success": rng.random() < 0.68})
    for c in range(94):
        out.append({"variant": "cold", "case_id": f"uc{c}", "success": rng.random() < 0.5})
        out.append({"variant": "warm", "case_id": f"uw{c}", "success": rng.random() < 0.68})
    for i in range(13):
        for v in ("cold", "warm"):
            out.append({"variant": v, "case_id": f"x{v}{i}", "success": rng.random() < 0.6})
    return out


def width(ci: list[float]) -> float:
    return ci[1] - ci[0]


class TestTheIssueExample:
    def test_one_result_that_completes_a_pair_no_longer_switches_the_analysis(self) -> None:
        before = issue_24_test()
        after = [*before, {"variant": "warm", "case_id": "xcold0", "success": True}]
        a, b = warm(before), warm(after)
        assert (a["paired"]["pairs"], b["paired"]["pairs"]) == (106, 107)
        assert not a["paired"]["used_for_decision"] and not b["paired"]["used_for_decision"]
        assert b["ci"] == pytest.approx(a["ci"], abs=0.01)
        assert a["method_version"] == METHOD_VERSION == "2.2"

    def test_method_2_0_switched_there_and_its_audits_still_do(self) -> None:
        before = issue_24_test()
        after = [*before, {"variant": "warm", "case_id": "xcold0", "success": True}]
        a, b = warm(before, "2.0"), warm(after, "2.0")
        assert not a["paired"]["used_for_decision"] and b["paired"]["used_for_decision"]
        assert width(b["ci"]) > 1.5 * width(a["ci"])  # the paired analysis dropped half the results
        assert b["method_version"] == "2.0" and b["paired"]["coverage_needed"] == 0.5


class TestTheRule:
    @settings(max_examples=25, deadline=None)
    @given(
        pairs=st.integers(0, 60),
        lone_cold=st.integers(0, 12),
        lone_warm=st.integers(0, 12),
        seed=st.integers(0, 10**6),
    )
    def test_pairs_are_used_exactly_when_they_hold_nine_in_ten_of_each_arms_results(
        self, pairs: int, lone_cold: int, lone_warm: int, seed: int
    ) -> None:
        rng = random.Random(seed)
        results: list[dict[str, Any]] = []
        for c in range(pairs):
            for v in ("cold", "warm"):
                results.append({"variant": v, "case_id": f"c{c}", "success": rng.random() < 0.6})
        for v, lone in (("cold", lone_cold), ("warm", lone_warm)):
            results.extend({"variant": v, "success": rng.random() < 0.6} for _ in range(lone))
        if {"cold", "warm"} - {r["variant"] for r in results}:
            return  # an arm without results: nothing to compare
        got = warm(results)["paired"]
        if pairs == 0:
            assert got is None
            return
        expected = (
            pairs >= 5
            and pairs >= PAIRED_COVERAGE * (pairs + lone_warm)
            and pairs >= PAIRED_COVERAGE * (pairs + lone_cold)
        )
        assert got["used_for_decision"] is expected
        assert got["results_paired"] == {"variant": pairs, "control": pairs}
        assert got["results"] == {"variant": pairs + lone_warm, "control": pairs + lone_cold}
        assert got["coverage_needed"] == PAIRED_COVERAGE

    def test_where_the_rule_switches_the_interval_hardly_moves(self) -> None:
        rng = random.Random(5)
        results: list[dict[str, Any]] = []
        for c in range(200):  # cases of a shared difficulty: pairing helps
            h = rng.random()
            results.append(
                {"variant": "cold", "case_id": f"p{c}", "success": rng.random() < 0.2 + 0.6 * h}
            )
            results.append({"variant": "warm", "case_id": f"p{c}", "success": rng.random() < 0.3 + 0.6 * h})  # fmt: skip
        previous = warm(results)
        assert previous["paired"]["used_for_decision"]
        for _ in range(40):
            results.append({"variant": "cold", "success": rng.random() < 0.5})
            results.append({"variant": "warm", "success": rng.random() < 0.6})
            now = warm(results)
            if not now["paired"]["used_for_decision"]:
                break
            previous = now
        else:
            pytest.fail("pairing never switched off")
        assert now["paired"]["results"]["variant"] > previous["paired"]["results"]["variant"]
        assert abs(width(now["ci"]) - width(previous["ci"])) < 0.1 * width(previous["ci"])
        assert PAIRED_COVERAGE_2_0 < PAIRED_COVERAGE


class TestTheReport:
    def test_the_text_says_how_many_results_pair_up_and_what_the_rates_are_over(
        self, invoke: Invoke, tmp_path: Path
    ) -> None:
        results = issue_24_test()
        assert invoke("ab", "create", "t", "--variants", "cold,warm").exit_code == 0
        f = tmp_path / "r.jsonl"
        f.write_text("".join(json.dumps(r) + "\n" for r in results))
        assert invoke("ab", "import", "t", str(f)).exit_code == 0
        text = " ".join(invoke("ab", "analyze", "t").output.split())
        assert (
            "106 pairs hold 106 of 213 warm and 106 of 213 cold results; not used "
            "(pairs are used from 90% of each)"
        ) in text
        assert "The rates in the table are over all results" not in text

    def test_when_pairs_are_used_the_text_says_the_lift_is_over_the_paired_cases(
        self, invoke: Invoke, tmp_path: Path
    ) -> None:
        rng = random.Random(1)
        results = [
            {"variant": v, "case_id": f"c{c}", "success": rng.random() < p}
            for c in range(60)
            for v, p in (("cold", 0.5), ("warm", 0.7))
        ] + [{"variant": "warm", "success": True}]
        assert invoke("ab", "create", "t", "--variants", "cold,warm").exit_code == 0
        f = tmp_path / "r.jsonl"
        f.write_text("".join(json.dumps(r) + "\n" for r in results))
        assert invoke("ab", "import", "t", str(f)).exit_code == 0
        text = " ".join(invoke("ab", "analyze", "t").output.split())
        assert (
            "60 pairs hold 60 of 61 warm and 60 of 60 cold results; used for the decision" in text
        )
        assert (
            "The rates in the table are over all results; the lift, interval and p-value of "
            "warm are over its 60 paired cases (60 of 61 results)."
        ) in text
