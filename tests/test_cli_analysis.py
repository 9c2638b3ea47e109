"""``trialbook ab analyze`` and ``ab conclude`` end to end, on real SQLite files."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Invoke, count_events

REQUIRED_KEYS = {
    "test",
    "metric",
    "alpha",
    "method",
    "method_version",
    "position",
    "variants",
    "alerts",
    "recommendation",
}
VARIANT_KEYS = {"name", "n", "estimate", "lift", "ci", "p_value", "p_beats_control"}
DECISIONS = {"ship", "keep_control", "continue", "no_difference", "blocked"}


# --------------------------------------------------------------------------- helpers


def binary_results(cold: tuple[int, int], warm: tuple[int, int]) -> list[dict[str, Any]]:
    """Results with ``(successes, total)`` per variant, interleaved cold, warm, cold, …"""

    def series(successes: int, total: int) -> list[bool]:
        return [i < successes for i in range(total)]

    c, w = series(*cold), series(*warm)
    out: list[dict[str, Any]] = []
    for i in range(max(len(c), len(w))):
        if i < len(c):
            out.append({"variant": "cold", "success": c[i]})
        if i < len(w):
            out.append({"variant": "warm", "success": w[i]})
    return out


def paired_scores(with_cases: bool) -> list[dict[str, Any]]:
    """Scores where the case explains most of the spread and warm is about 1.5 better on every case."""
    out = []
    for c in range(30):
        base = ((c * 37) % 41) - 20.0
        case = {"case_id": f"case-{c:02d}"} if with_cases else {}
        out.append({"variant": "cold", "score": base + (0.1 if c % 2 else -0.1), **case})
        out.append({"variant": "warm", "score": base + 1.5 + (-0.1 if c % 3 else 0.1), **case})
    return out


def load(
    invoke: Invoke, tmp_path: Path, name: str, results: Iterable[dict[str, Any]], *create: str
) -> None:
    """Create test ``name`` (cold, warm) and import ``results`` into it."""
    r = invoke("ab", "create", name, "--variants", "cold,warm", *create)
    assert r.exit_code == 0, r.output
    f = tmp_path / f"{name}.jsonl"
    f.write_text("".join(json.dumps(x) + "\n" for x in results))
    r = invoke("ab", "import", name, str(f))
    assert r.exit_code == 0, r.output


def analysis(invoke: Invoke, *args: str, db: Path | None = None) -> dict[str, Any]:
    r = invoke("ab", "analyze", *args, "--json", db=db)
    assert r.exit_code == 0, r.output
    return json.loads(r.output, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))  # type: ignore[no-any-return]


def reference(
    results: list[dict[str, Any]], metric: str = "success", rows: bool = True, **options: Any
) -> dict[str, Any]:
    """The analysis computed straight from the results with ``domain.stats``, without the database.

    With ``rows`` (as the CLI reads them for a test this small) every look is replayed and
    the intervals are intersected over them.
    """
    from trialbook.domain.stats import (
        AnalysisInput,
        analyze,
        rows_from_results,
        variant_data_from_rows,
    )

    all_rows = rows_from_results(results)
    inp = AnalysisInput(
        test=options.pop("test", "t"),
        variants=variant_data_from_rows(all_rows, ("cold", "warm")),
        control="cold",
        metric=metric,
        rows=all_rows if rows else None,
        **options,
    )
    return analyze(inp).to_json()


def rounded(x: Any) -> Any:
    """``x`` with floats at 10 significant digits (the projection folds in another order than a batch)."""
    if isinstance(x, float):
        return float(f"{x:.10g}")
    if isinstance(x, dict):
        return {k: rounded(v) for k, v in x.items()}
    if isinstance(x, list):
        return [rounded(v) for v in x]
    return x


def events(db: Path, type_: str) -> list[dict[str, Any]]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT position, stream_id, data FROM events WHERE type = ? ORDER BY position",
            (type_,),
        ).fetchall()
    finally:
        conn.close()
    return [{"position": p, "stream_id": s, "data": json.loads(d)} for p, s, d in rows]


# --------------------------------------------------------------------------- analyze


class TestAnalyze:
    def test_the_json_has_the_documented_keys_and_the_position_it_was_computed_at(
        self, invoke: Invoke, db_path: Path, tmp_path: Path
    ) -> None:
        from trialbook.domain.stats import METHOD_VERSION

        load(invoke, tmp_path, "t", binary_results((5, 10), (8, 10)))
        doc = analysis(invoke, "t")
        assert set(doc) >= REQUIRED_KEYS
        assert doc["test"] == "t" and doc["metric"] == "success" and doc["alpha"] == 0.05
        assert doc["method_version"] == METHOD_VERSION
        assert doc["position"] == count_events(db_path) == 21
        assert [v["name"] for v in doc["variants"]] == ["cold", "warm"]
        for v in doc["variants"]:
            assert set(v) >= VARIANT_KEYS
        assert doc["variants"][0]["estimate"] == pytest.approx(0.5)
        assert doc["variants"][1]["estimate"] == pytest.approx(0.8)
        assert doc["variants"][1]["lift"] == pytest.approx(0.3)
        assert doc["recommendation"]["decision"] in DECISIONS
        assert set(doc["recommendation"]) == {"decision", "variant", "reason"}

    def test_the_analysis_from_the_projection_equals_the_analysis_of_the_raw_results(
        self, invoke: Invoke, tmp_path: Path
    ) -> None:
        results = binary_results((18, 60), (54, 60))
        load(invoke, tmp_path, "t", results)
        doc = analysis(invoke, "t")
        assert doc.pop("position") == 121
        assert rounded(doc) == rounded(reference(results))
        assert (
            doc["recommendation"]["decision"] == "ship"
            and doc["recommendation"]["variant"] == "warm"
        )

    def test_options_reach_the_analysis(self, invoke: Invoke, tmp_path: Path) -> None:
        from trialbook.domain.stats import Effect

        results = binary_results((18, 40), (22, 40))
        load(invoke, tmp_path, "t", results)
        doc = analysis(invoke, "t", "--alpha", "0.01", "--mde", "10pp", "--margin", "30%")
        expected = reference(
            results, alpha=0.01, mde=Effect.parse("10pp"), equivalence_margin=Effect.parse("30%")
        )
        doc.pop("position")
        assert rounded(doc) == rounded(expected)
        assert (
            doc["alpha"] == 0.01
            and doc["settings"]["mde"]
            == "10pp"  # recorded as typed, so an audit re-parses it exactly
            and doc["settings"]["equivalence_margin"] == "30%"
        )
        assert doc["variants"][1]["power"]["more_per_variant"] is not None

    def test_metric_option_analyzes_another_metric(self, invoke: Invoke, tmp_path: Path) -> None:
        results = [
            {**r, "completion_time": 30.0 + i % 7}
            for i, r in enumerate(binary_results((5, 10), (8, 10)))
        ]
        load(invoke, tmp_path, "t", results)
        doc = analysis(invoke, "t", "--metric", "completion_time")
        assert doc["metric"] == "completion_time" and doc["lower_is_better"] is True
        assert rounded({k: v for k, v in doc.items() if k != "position"}) == rounded(
            reference(results, metric="completion_time")
        )

    def test_the_report_shows_estimates_lifts_method_fixed_horizon_and_the_recommendation(
        self, invoke: Invoke, tmp_path: Path
    ) -> None:
        load(invoke, tmp_path, "t", binary_results((18, 60), (54, 60)))
        doc = analysis(invoke, "t")
        warm = doc["variants"][1]
        r = invoke("ab", "analyze", "t")
        assert r.exit_code == 0
        lines = r.output.splitlines()
        assert lines[0] == "t: success (binary, higher is better), control cold"
        assert lines[1] == (
            "120 results, analysed at log position 121; alpha 0.05; always-valid boundary tuned for "
            "500 results; method version " + doc["method_version"]
        )
        assert lines[3].split() == [
            "variant",
            "n",
            "success",
            "lift",
            "vs",
            "cold",
            "always-valid",
            "95%",
            "CI",
            "p",
            "P(beats",
            "cold)",
            "P(best)",
            "status",
        ]
        assert lines[5].split()[:5] == ["cold", "(control)", "60", "30.0%", "-"]
        lo, hi = warm["ci"]
        p = "< 0.001" if warm["p_value"] < 0.001 else f"{warm['p_value']:.3f}"
        assert lines[6].split() == [
            "warm",
            "60",
            "90.0%",
            "+60.0",
            "pts",
            "(+200.0%)",
            f"{lo * 100:+.1f}",
            "to",
            f"{hi * 100:+.1f}",
            "pts",
            *p.split(),
            f"{warm['p_beats_control'] * 100:.1f}%",
            f"{warm['p_best'] * 100:.1f}%",
            "better",
        ]
        out = r.output
        assert "Method: always-valid confidence sequence on the difference of proportions" in out
        assert (
            "Fixed-horizon (valid for one look at a sample size fixed in advance, not when you keep checking):"
            in out
        )
        assert f"  warm: {warm['fixed_horizon']['method']}: +60.0 pts" in out
        assert "Alerts: none" in out
        assert "Recommendation: SHIP warm" in out
        assert (
            " ".join(out.split("Recommendation: SHIP warm\n")[1].split())
            == doc["recommendation"]["reason"]
        )

    def test_a_sample_ratio_mismatch_is_shown_and_blocks(
        self, invoke: Invoke, tmp_path: Path
    ) -> None:
        load(invoke, tmp_path, "t", binary_results((60, 100), (18, 20)))
        doc = analysis(invoke, "t")
        assert doc["recommendation"]["decision"] == "blocked"
        assert [a["kind"] for a in doc["alerts"]] == ["sample_ratio_mismatch"]
        out = invoke("ab", "analyze", "t").output
        assert (
            "  BLOCKING: sample-ratio mismatch" in out
            and "Recommendation: BLOCKED BY A DATA-QUALITY ALERT" in out
        )

    def test_an_empty_test_says_keep_collecting(self, invoke: Invoke) -> None:
        assert invoke("ab", "create", "t", "--variants", "cold,warm").exit_code == 0
        doc = analysis(invoke, "t")
        assert doc["recommendation"]["decision"] == "continue" and doc["position"] == 1
        assert [v["n"] for v in doc["variants"]] == [0, 0]
        assert "Recommendation: KEEP COLLECTING" in invoke("ab", "analyze", "t").output

    def test_an_archived_test_can_still_be_analyzed(self, invoke: Invoke, tmp_path: Path) -> None:
        load(invoke, tmp_path, "t", binary_results((5, 10), (8, 10)))
        invoke("ab", "archive", "t")
        assert analysis(invoke, "t")["variants"][1]["n"] == 10


class TestExpectedResults:
    def test_expected_results_are_recorded_at_creation_and_tune_the_boundary(
        self, invoke: Invoke, db_path: Path, tmp_path: Path
    ) -> None:
        from trialbook.domain.stats import AnalysisInput

        results = binary_results((18, 40), (26, 40))
        load(invoke, tmp_path, "planned", results, "--expected-results", "80")
        load(invoke, tmp_path, "default", results)
        (created, _) = events(db_path, "TestCreated")
        assert created["data"]["expected_results"] == 80
        planned, default = analysis(invoke, "planned"), analysis(invoke, "default")
        assert planned["settings"]["tuning"] == 80
        assert default["settings"]["tuning"] == AnalysisInput.__dataclass_fields__["tuning"].default
        # tuned for the 80 results it has, the interval is tighter than one tuned for the default
        width = [d["variants"][1]["ci"][1] - d["variants"][1]["ci"][0] for d in (planned, default)]
        assert width[0] < width[1]
        assert rounded({k: v for k, v in planned.items() if k != "position"}) == rounded(
            reference(results, test="planned", tuning=80.0)
        )

    def test_create_says_how_many_results_are_planned(self, invoke: Invoke) -> None:
        r = invoke("ab", "create", "t", "--variants", "cold,warm", "--expected-results", "400")
        assert r.output == (
            "Created A/B test t with variants cold, warm (control: cold, metric: success, "
            "planned results: 400).\n"
        )
        assert (
            json.loads(invoke("events", "log", "--json").output)[0]["data"]["expected_results"]
            == 400
        )

    def test_without_the_option_the_event_is_unchanged(self, invoke: Invoke, db_path: Path) -> None:
        invoke("ab", "create", "t")
        assert "expected_results" not in events(db_path, "TestCreated")[0]["data"]


class TestHistory:
    def test_history_json_is_the_recommendation_after_each_result(
        self, invoke: Invoke, tmp_path: Path
    ) -> None:
        from trialbook.domain.stats import (
            AnalysisInput,
            history,
            rows_from_results,
            variant_data_from_rows,
        )

        results = binary_results((18, 60), (54, 60))
        load(invoke, tmp_path, "t", results)
        r = invoke("ab", "analyze", "t", "--history", "--json")
        assert r.exit_code == 0
        steps = json.loads(r.output)
        assert [s["n"] for s in steps] == list(range(1, 121))
        assert all(
            set(s) == {"n", "decision", "variant"} and s["decision"] in DECISIONS for s in steps
        )
        rows = rows_from_results(results)
        expected = history(
            AnalysisInput("t", variant_data_from_rows(rows, ("cold", "warm")), "cold", rows=rows)
        )
        assert steps == expected
        assert steps[0]["decision"] == "continue" and steps[-1] == {
            "n": 120,
            "decision": "ship",
            "variant": "warm",
        }

    def test_history_text_prints_runs_of_the_same_recommendation(
        self, invoke: Invoke, tmp_path: Path
    ) -> None:
        load(invoke, tmp_path, "t", binary_results((18, 60), (54, 60)))
        steps = json.loads(invoke("ab", "analyze", "t", "--history", "--json").output)
        first_ship = next(s["n"] for s in steps if s["decision"] == "ship")
        out = invoke("ab", "analyze", "t", "--history").output.splitlines()
        assert out[0] == (
            "t: the recommendation after each of 120 results, as you would have seen it checking "
            "after every result"
        )
        runs = [line.split() for line in out[3:-1]]
        assert runs[0] == [f"1-{first_ship - 1}", "continue"]
        assert runs[-1][-2:] == ["ship", "warm"] and runs[-1][0].endswith("-120")
        changes = len(runs) - 1
        assert (
            out[-1]
            == f"{changes} change{'s' if changes != 1 else ''} of recommendation; it named a winner: ship warm."
        )

    def test_history_of_a_test_without_results(self, invoke: Invoke) -> None:
        invoke("ab", "create", "t")
        assert invoke("ab", "analyze", "t", "--history", "--json").output == "[]\n"
        assert (
            invoke("ab", "analyze", "t", "--history").output
            == "t has no results yet: nothing to replay.\n"
        )


class TestPaired:
    def test_results_paired_by_case_are_compared_pair_by_pair(
        self, invoke: Invoke, tmp_path: Path
    ) -> None:
        results = paired_scores(with_cases=True)
        load(invoke, tmp_path, "t", results, "--metric", "score")
        doc = analysis(invoke, "t")
        warm = doc["variants"][1]
        assert warm["paired"]["pairs"] == 30 and warm["paired"]["used_for_decision"] is True
        assert "per-case differences" in warm["method"]
        assert (
            doc["recommendation"]["decision"] == "ship"
            and doc["recommendation"]["variant"] == "warm"
        )
        doc.pop("position")
        assert rounded(doc) == rounded(reference(results, metric="score", rows=True))
        out = invoke("ab", "analyze", "t").output
        assert (
            "Paired by case id:\n  warm vs cold: 30 pairs hold 30 of 30 warm and 30 of 30 cold "
            "results; used for the decision;"
        ) in out

    def test_the_same_scores_without_case_ids_cannot_tell(
        self, invoke: Invoke, tmp_path: Path
    ) -> None:
        load(invoke, tmp_path, "t", paired_scores(with_cases=False), "--metric", "score")
        doc = analysis(invoke, "t")
        assert doc["variants"][1]["paired"] is None
        assert doc["recommendation"]["decision"] == "continue"

    def test_rows_are_read_only_when_cases_pair_up(
        self, invoke: Invoke, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from trialbook.ledger import Ledger
        from trialbook.ledger.analysis import read_snapshot

        load(invoke, tmp_path, "paired", paired_scores(with_cases=True))
        load(invoke, tmp_path, "plain", paired_scores(with_cases=False))
        one_sided = [
            {**r, "case_id": "c1"} if r["variant"] == "warm" else r for r in paired_scores(False)
        ]
        load(invoke, tmp_path, "one-sided", one_sided)
        with Ledger(db_path) as ledger:
            paired = read_snapshot(ledger, "paired")
            assert paired.paired and paired.rows is not None and len(paired.rows) == 60
            for name in ("plain", "one-sided"):
                snap = read_snapshot(ledger, name)
                assert not snap.paired
            assert len(read_snapshot(ledger, "plain", rows=True).rows or ()) == 60
        # a test this small is read whole (every look is replayed); a large one never: its
        # pairs come from the per-case statistics (ab_cases), one row per case
        # (test_a_large_test_is_analyzed_from_moments_without_reading_rows)
        from trialbook.domain.stats import analysis as stats

        monkeypatch.setattr(stats, "ROWS_FOR_ALL_LOOKS", 10)
        with Ledger(db_path) as ledger:
            large = read_snapshot(ledger, "paired")
            assert large.rows is None and large.cases is not None
            covered, cells = large.cases
            assert covered == ("success",) and cells["success"][1].shape == (30, 2)  # 30 cases
            for name in ("plain", "one-sided"):
                snap = read_snapshot(ledger, name)
                assert snap.rows is None and snap.cases is None


# --------------------------------------------------------------------------- conclude


class TestConclude:
    def test_conclude_records_the_decision_with_the_analysis_and_its_position(
        self, invoke: Invoke, db_path: Path, tmp_path: Path
    ) -> None:
        load(invoke, tmp_path, "t", binary_results((18, 60), (54, 60)))
        shown = analysis(invoke, "t")
        before = count_events(db_path)
        r = invoke("ab", "conclude", "t", "--ship", "warm", "--note", "  clearly better  ")
        assert r.exit_code == 0, r.output
        assert r.output == (
            f"Concluded t: ship warm (event #{before + 1}); the analysis at log position {before} "
            "recommended: ship warm.\n"
        )
        (e,) = events(db_path, "TestConcluded")
        assert e["position"] == before + 1 and e["stream_id"] == "ab:t"
        data = e["data"]
        assert (
            data["choice"] == "ship"
            and data["variant"] == "warm"
            and data["note"] == "clearly better"
        )
        assert data["against_recommendation"] is False
        assert data["position"] == before and data["method_version"] == shown["method_version"]
        assert data["analysis"] == shown

    def test_shipping_against_the_recommendation_is_recorded_and_warned(
        self, invoke: Invoke, db_path: Path, tmp_path: Path
    ) -> None:
        load(invoke, tmp_path, "t", binary_results((5, 10), (8, 10)))
        r = invoke("ab", "conclude", "t", "--ship", "warm")
        assert r.exit_code == 0
        assert (
            r.stdout
            == "Concluded t: ship warm (event #22); the analysis at log position 21 recommended: continue.\n"
        )
        assert (
            r.stderr
            == "Warning: this goes against the recommendation (continue); it is recorded as such.\n"
        )
        assert events(db_path, "TestConcluded")[0]["data"]["against_recommendation"] is True

    def test_keep_control_and_stop(self, invoke: Invoke, db_path: Path, tmp_path: Path) -> None:
        load(invoke, tmp_path, "t", binary_results((5, 10), (8, 10)))
        assert invoke("ab", "conclude", "t", "--keep-control").output == (
            "Concluded t: keep control (cold) (event #22); the analysis at log position 21 recommended: continue.\n"
        )
        assert invoke("ab", "conclude", "t", "--stop", "--note", "budget").exit_code == 0
        keep, stop = (e["data"] for e in events(db_path, "TestConcluded"))
        assert (
            keep["choice"] == "keep_control"
            and keep["variant"] == "cold"
            and keep["against_recommendation"] is False
        )
        assert stop["choice"] == "stop" and "variant" not in stop and stop["position"] == 22
        assert stop["analysis"]["position"] == 22 and stop["note"] == "budget"

    def test_keeping_control_when_a_variant_should_ship_is_against_the_recommendation(
        self, invoke: Invoke, db_path: Path, tmp_path: Path
    ) -> None:
        load(invoke, tmp_path, "t", binary_results((18, 60), (54, 60)))
        r = invoke("ab", "conclude", "t", "--keep-control", "--json")
        assert r.exit_code == 0
        out = json.loads(r.stdout)
        assert out["against_recommendation"] is True and out["recommendation"]["decision"] == "ship"
        assert (
            out["position"] == 122 and out["analysis_position"] == 121 and out["variant"] == "cold"
        )
        assert r.stderr.startswith("Warning: this goes against the recommendation (ship warm)")

    def test_conclude_uses_the_analysis_options(
        self, invoke: Invoke, db_path: Path, tmp_path: Path
    ) -> None:
        load(invoke, tmp_path, "t", binary_results((5, 10), (8, 10)))
        shown = analysis(invoke, "t", "--alpha", "0.1", "--mde", "20%")
        assert (
            invoke("ab", "conclude", "t", "--stop", "--alpha", "0.1", "--mde", "20%").exit_code == 0
        )
        assert events(db_path, "TestConcluded")[0]["data"]["analysis"] == shown

    def test_the_latest_decision_shows_in_show_and_list(
        self, invoke: Invoke, tmp_path: Path
    ) -> None:
        load(invoke, tmp_path, "t", binary_results((5, 10), (8, 10)))
        load(invoke, tmp_path, "u", binary_results((5, 10), (8, 10)))
        invoke("ab", "conclude", "t", "--stop")
        invoke("ab", "conclude", "t", "--ship", "warm", "--note", "users asked")
        shown = json.loads(invoke("ab", "show", "t", "--json").output)["decision"]
        assert shown["choice"] == "ship" and shown["variant"] == "warm" and shown["position"] == 44
        assert shown["against_recommendation"] is True and shown["analysis_position"] == 43
        assert shown["recommendation"] == {"decision": "continue", "variant": None}
        assert shown["actor"] == "tester@example" and shown["note"] == "users asked"
        listed = {
            t["name"]: t["decision"] for t in json.loads(invoke("ab", "list", "--json").output)
        }
        assert listed["t"] == shown and listed["u"] is None
        text = invoke("ab", "show", "t").output
        line = next(x for x in text.splitlines() if x.startswith("decision"))
        assert line.startswith(
            "decision     ship warm (against the recommendation: continue) by tester@example at "
        )
        assert line.endswith(" UTC (event #44): users asked")

    def test_the_decisions_projection_rebuilds_to_the_same_rows(
        self, invoke: Invoke, db_path: Path, tmp_path: Path
    ) -> None:
        load(invoke, tmp_path, "t", binary_results((18, 60), (54, 60)))
        invoke("ab", "conclude", "t", "--stop")
        invoke("ab", "add-result", "t", "--variant", "cold", "--success")
        invoke("ab", "conclude", "t", "--ship", "warm", "--note", "n")

        def table() -> list[tuple[Any, ...]]:
            conn = sqlite3.connect(db_path)
            try:
                return conn.execute("SELECT * FROM ab_decisions ORDER BY position").fetchall()
            finally:
                conn.close()

        before = table()
        assert [row[2] for row in before] == ["stop", "ship"]
        r = invoke("projections", "rebuild")
        assert r.exit_code == 0 and "Rebuilt ab_decisions: 2 events folded." in r.output
        assert table() == before


class TestConcludeRules:
    """The pure decide rules of ``ConcludeTest``."""

    def state(self, **kw: Any) -> Any:
        from trialbook.domain.ab import ABTestState

        return ABTestState(
            **{"name": "t", "variants": ("cold", "warm"), "control": "cold", "results": 4, **kw}
        )

    def command(self, **kw: Any) -> Any:
        from trialbook.domain.ab import ConcludeTest

        doc = {
            "test": "t",
            "variants": [{"results": 2}, {"results": 2}],
            "recommendation": {"decision": "continue", "variant": None},
        }
        return ConcludeTest(
            **{
                "test": "t",
                "choice": "ship",
                "variant": "warm",
                "analysis": doc,
                "method_version": "1.0",
                "position": 9,
                **kw,
            }
        )

    def test_a_stale_analysis_is_refused(self) -> None:
        from trialbook.domain.ab import decide
        from trialbook.domain.errors import StateConflict

        with pytest.raises(
            StateConflict, match="2 more results were recorded for 't' after the analysis"
        ):
            decide(self.command(), self.state(results=6))

    @pytest.mark.parametrize(
        "kw,state,error",
        [
            ({"variant": None}, {}, "ship which variant? use one of: cold, warm"),
            (
                {"variant": "cold"},
                {},
                "'cold' is the control of 't'; to keep it use --keep-control",
            ),
            (
                {"choice": "stop", "variant": "warm"},
                {},
                "a variant is named only when shipping, not with stop",
            ),
            ({"analysis": {"test": "other"}}, {}, "the analysis given is not of test 't'"),
            ({}, {"results": 3}, "the analysis counts 4 results but test 't' has 3"),
            ({}, {"name": None}, "no A/B test named 't'"),
            ({}, {"archived": True}, "test 't' is archived"),
        ],
    )
    def test_refusals(self, kw: dict[str, Any], state: dict[str, Any], error: str) -> None:
        from trialbook.domain.ab import decide
        from trialbook.domain.errors import DomainError

        with pytest.raises(DomainError) as e:
            decide(self.command(**kw), self.state(**state))
        assert str(e.value).startswith(error)

    @pytest.mark.parametrize(
        "choice,variant,recommended,against",
        [
            ("ship", "warm", {"decision": "ship", "variant": "warm"}, False),
            ("ship", "warm", {"decision": "ship", "variant": "hot"}, True),
            ("ship", "warm", {"decision": "blocked", "variant": None}, True),
            ("keep_control", "cold", {"decision": "ship", "variant": "warm"}, True),
            ("keep_control", "cold", {"decision": "continue", "variant": None}, False),
            ("stop", None, {"decision": "ship", "variant": "warm"}, False),
        ],
    )
    def test_against_the_recommendation(
        self, choice: str, variant: str | None, recommended: dict[str, Any], against: bool
    ) -> None:
        from trialbook.domain.ab import against_recommendation

        assert against_recommendation(choice, variant, recommended) is against


# --------------------------------------------------------------------------- bad input


@pytest.fixture
def seeded(invoke: Invoke, db_path: Path, tmp_path: Path) -> int:
    """Test ``t`` with 20 results and archived test ``old``; returns the event count."""
    load(invoke, tmp_path, "t", binary_results((5, 10), (8, 10)))
    assert invoke("ab", "create", "old", "--variants", "a,b").exit_code == 0
    assert invoke("ab", "archive", "old").exit_code == 0
    return count_events(db_path)


BAD = [
    (["ab", "analyze", "nope"], "Error: no A/B test named 'nope'; see `trialbook ab list`"),
    (
        ["ab", "conclude", "nope", "--stop"],
        "Error: no A/B test named 'nope'; see `trialbook ab list`",
    ),
    (
        ["ab", "conclude", "t", "--ship", "hot"],
        "Error: variant 'hot' is not in test 't'; use one of: cold, warm",
    ),
    (
        ["ab", "conclude", "t", "--ship", "cold"],
        "Error: 'cold' is the control of 't'; to keep it use --keep-control",
    ),
    (
        ["ab", "conclude", "old", "--keep-control"],
        "Error: test 'old' is archived; restore it first with `trialbook ab restore old`",
    ),
    (
        ["ab", "analyze", "t", "--alpha", "0"],
        "Error: --alpha must lie between 0 and 0.5 (exclusive), e.g. 0.05; got 0",
    ),
    (
        ["ab", "analyze", "t", "--alpha", "1.5"],
        "Error: --alpha must lie between 0 and 0.5 (exclusive), e.g. 0.05; got 1.5",
    ),
    (
        ["ab", "analyze", "t", "--alpha", "nan"],
        "Error: --alpha must lie between 0 and 0.5 (exclusive), e.g. 0.05; got nan",
    ),
    (
        ["ab", "conclude", "t", "--stop", "--alpha", "0.5"],
        "Error: --alpha must lie between 0 and 0.5 (exclusive), e.g. 0.05; got 0.5",
    ),
    (
        ["ab", "analyze", "t", "--mde", "lots"],
        "Error: --mde: 'lots' is not valid on success; write 5pp or 5 points (percentage points), 5% (relative to control) or 0.05",
    ),
    (
        ["ab", "analyze", "t", "--mde", "0"],
        "Error: --mde: '0' must be larger than zero; write 5pp or 5 points (percentage points), 5% (relative to control) or 0.05",
    ),
    (
        ["ab", "analyze", "t", "--mde", "-5%"],
        "Error: --mde: '-5%' is negative; an effect or margin is a size, larger than zero: "
        "write 5pp or 5 points (percentage points), 5% (relative to control) or 0.05",
    ),
    (
        ["ab", "conclude", "t", "--ship", "warm", "--margin", "x"],
        "Error: --margin: 'x' is not valid on success; write 5pp or 5 points (percentage points), 5% (relative to control) or 0.05",
    ),
    (
        ["ab", "analyze", "t", "--metric", "Bad"],
        "Error: metric 'Bad' is unknown; use one of success, error_rate, tool_success_rate, "
        "failed_call_ratio, completion_time, tool_calls, errors, messages, corrections, tokens, "
        "cost, score, cost_per_success or a custom name",
    ),
    (
        ["ab", "analyze", "t", "--metric", "latency"],
        "Error: test 't' has no values of metric 'latency'; name another with --metric "
        "(e.g. --metric success)",
    ),
    (
        ["ab", "analyze", "t", "--metric", "success_rate"],
        "Error: --metric: 'success_rate' means two things, so name one: success is the share of "
        "sessions that succeeded (trialbook's success rate); tool_success_rate is the mean over "
        "sessions of the share of a session's tool calls that succeeded (the warm-session "
        "framework's success_rate)",
    ),
    (
        ["ab", "conclude", "t", "--stop", "--metric", "success_rate"],
        "Error: --metric: 'success_rate' means two things, so name one: success is the share of "
        "sessions that succeeded (trialbook's success rate); tool_success_rate is the mean over "
        "sessions of the share of a session's tool calls that succeeded (the warm-session "
        "framework's success_rate)",
    ),
    (
        ["ab", "create", "u", "--expected-results", "1"],
        "Error: expected_results: Input should be greater than or equal to 2 (got 1)",
    ),
]


@pytest.mark.parametrize("args,message", BAD, ids=[" ".join(a)[:60] for a, _ in BAD])
def test_bad_input_is_one_line_exit_1_and_appends_nothing(
    invoke: Invoke, db_path: Path, seeded: int, args: list[str], message: str
) -> None:
    r = invoke(*args)
    assert r.exit_code == 1
    assert r.output == message + "\n"
    assert count_events(db_path) == seeded


USAGE = [
    (
        ["ab", "conclude", "t"],
        "Error: give exactly one of --ship VARIANT, --keep-control or --stop",
    ),
    (
        ["ab", "conclude", "t", "--ship", "warm", "--stop"],
        "Error: give exactly one of --ship VARIANT, --keep-control or --stop (got --ship and --stop)",
    ),
    (
        ["ab", "conclude", "t", "--keep-control", "--stop"],
        "Error: give exactly one of --ship VARIANT, --keep-control or --stop (got --keep-control and --stop)",
    ),
    (["ab", "conclude", "t", "--ship"], "Error: Option '--ship' requires an argument."),
    (
        ["ab", "analyze", "t", "--alpha", "abc"],
        "Error: Invalid value for '--alpha': 'abc' is not a valid float.",
    ),
    (["ab", "analyze"], "Error: Missing argument 'NAME'."),
]


@pytest.mark.parametrize("args,message", USAGE, ids=[" ".join(a) for a, _ in USAGE])
def test_usage_errors_exit_2_and_append_nothing(
    invoke: Invoke, db_path: Path, seeded: int, args: list[str], message: str
) -> None:
    r = invoke(*args)
    assert r.exit_code == 2
    assert r.output.splitlines()[-1] == message and "Traceback" not in r.output
    assert count_events(db_path) == seeded


# --------------------------------------------------------------------------- scale and laziness


@pytest.fixture(scope="module")
def big_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A test with 200,000 results (no case ids) recorded by one AddResults."""
    from trialbook.domain import ab as d
    from trialbook.domain.commands import build
    from trialbook.ledger import Ledger

    path = tmp_path_factory.mktemp("big") / "big.db"
    shapes = [d.ResultFields(variant=v, success=s) for v in ("cold", "warm") for s in (True, False)]
    # alternating cold, warm: cold succeeds 3 times in 5, warm 4 times in 5
    pattern = [shapes[i] for i in (0, 2, 0, 2, 0, 2, 1, 2, 1, 3)]
    results = tuple(pattern[i % len(pattern)] for i in range(200_000))
    with Ledger(path, synchronous="OFF") as ledger:
        ledger.execute(build(d.CreateTest, name="big", variants=("cold", "warm")))
        ledger.execute(build(d.AddResults, test="big", results=results))
    return path


def test_a_large_test_is_analyzed_from_moments_without_reading_rows(
    big_db: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trialbook.domain.stats import AnalysisInput, Moments, VariantData, analyze
    from trialbook.ledger import Ledger
    from trialbook.ledger import analysis as ab_analysis

    with Ledger(big_db) as ledger:
        snap = ab_analysis.read_snapshot(ledger, "big")
        assert not snap.paired and snap.rows is None
        counts = {v.name: v.results for v in snap.variants}

    def no_rows(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("per-result rows were read")

    monkeypatch.setattr(ab_analysis, "read_rows", no_rows)
    doc = analysis(invoke, "big", db=big_db)
    assert counts == {"cold": 100_000, "warm": 100_000} and doc["position"] == 200_001
    cold, warm = doc["variants"]
    assert (cold["n"], warm["n"]) == (counts["cold"], counts["warm"])
    assert cold["estimate"] == pytest.approx(0.6) and warm["estimate"] == pytest.approx(0.8)
    # the same numbers as an analysis of moments built from the counts alone
    expected = analyze(
        AnalysisInput(
            "big",
            tuple(
                VariantData(
                    name,
                    counts[name],
                    {"success": Moments(counts[name], p, counts[name] * p * (1 - p))},
                )
                for name, p in (("cold", 0.6), ("warm", 0.8))
            ),
            "cold",
        )
    ).to_json()
    assert rounded(cold) == rounded(expected["variants"][0]) and rounded(warm) == rounded(
        expected["variants"][1]
    )
    assert doc["recommendation"] == expected["recommendation"]


def test_help_and_write_commands_do_not_load_the_statistics(tmp_path: Path) -> None:
    # numpy is left out for write commands: sqlite-utils imports it (and pandas) whenever they are installed
    probe = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from trialbook.shell.cli import cli\n"
        "heavy = ('numpy', 'scipy', 'trialbook.domain.stats.analysis')\n"
        f"db = {str(tmp_path / 'p.db')!r}\n"
        "for args in (['ab', 'analyze', '--help'], ['ab', 'conclude', '--help'], ['ab', '--help']):\n"
        "    assert CliRunner().invoke(cli, args).exit_code == 0\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "for args in (['ab', 'create', 't', '--expected-results', '100'], ['ab', 'add-result', 't', '--variant', 'control'],\n"
        "             ['ab', 'show', 't', '--json'], ['ab', 'list', '--json']):\n"
        "    r = CliRunner().invoke(cli, ['--db', db, *args])\n"
        "    assert r.exit_code == 0, r.output\n"
        "print(sorted(m for m in heavy[1:] if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parent.parent,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "[]\n[]\n"


def test_the_demo_prints_the_analysis(isolated_user_dirs: Path) -> None:
    from click.testing import CliRunner

    from trialbook.shell.cli import cli

    r = CliRunner().invoke(cli, ["demo", "--no-eval"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "checkout-flow: success (binary, higher is better), control cold" in r.output
    assert "always-valid boundary tuned for 80 results" in r.output
    assert "Paired by case id:\n  warm vs cold: 40 pairs" in r.output
    assert "\nRecommendation: " in r.output
    assert count_events(isolated_user_dirs / "data" / "trialbook" / "demo.db") == 81


def test_degenerate_data_gives_valid_json_and_a_report(invoke: Invoke, tmp_path: Path) -> None:
    # every value identical: zero variance everywhere (the JSON parser in `analysis` refuses NaN and Infinity)
    load(
        invoke,
        tmp_path,
        "t",
        [
            {"variant": v, "success": True, "score": 1.0, "case_id": f"c{i}"}
            for i in range(8)
            for v in ("cold", "warm")
        ],
        "--metric",
        "score",
    )
    doc = analysis(invoke, "t")
    assert doc["variants"][1]["lift"] == 0.0 and doc["recommendation"]["decision"] in DECISIONS
    r = invoke("ab", "analyze", "t")
    assert r.exit_code == 0 and "Recommendation: " in r.output
