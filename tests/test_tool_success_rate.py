"""``tool_success_rate``: the warm-session framework's ``avg_success_rate`` as a metric (issue #19).

Per session ``successful_calls / tool_calls`` (no value without tool calls), averaged over
sessions: a continuous mean (Welch), not a share of sessions. Checked against numpy and
scipy, through every path that computes per-session values (an append, a rebuild's bulk
extraction, a replay in batches), and in A/B guardrails and canaries.
"""

from __future__ import annotations

import json
import math
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import Invoke, count_events
from tests.test_properties import dump, result_fields
from trialbook.domain import ab
from trialbook.domain import canary as c
from trialbook.domain.commands import build
from trialbook.domain.metrics import METRICS, observations
from trialbook.ledger import Ledger
from trialbook.ledger import canary as canaries
from trialbook.ledger.analysis import analyze_test
from trialbook.projections import ab_queries
from trialbook.store.base import NewEvent

VARIANTS = ("cold", "warm")


def sessions(rng: np.random.Generator, n: int, fail: float) -> list[dict[str, Any]]:
    """``n`` sessions with 0 to 14 tool calls each failing with probability ``fail``."""
    calls = rng.integers(0, 15, n)
    ok = rng.binomial(calls, 1 - fail)
    return [
        {"tool_calls": int(k), "successful_calls": int(s), "completion_time": float(t)}
        for k, s, t in zip(calls, ok, rng.uniform(10, 90, n), strict=True)
    ]


def rates(rows: list[dict[str, Any]]) -> np.ndarray:
    """The per-session values, computed directly: successful / tool calls where there were calls."""
    return np.array(
        [r["successful_calls"] / r["tool_calls"] for r in rows if r["tool_calls"]], dtype=float
    )


def ledger_with(path: Path, groups: dict[str, list[dict[str, Any]]], **create: Any) -> Ledger:
    ledger = Ledger(path, synchronous="OFF")
    ledger.execute(build(ab.CreateTest, name="t", variants=VARIANTS, **create))
    results = tuple(
        build(ab.ResultFields, variant=v, **row) for v, rows in groups.items() for row in rows
    )
    ledger.execute(build(ab.AddResults, test="t", results=results))
    return ledger


class TestTheMetric:
    def test_it_is_a_higher_is_better_per_session_rate(self) -> None:
        m = METRICS["tool_success_rate"]
        assert (m.kind, m.lower_is_better) == ("rate", False)
        assert "avg_success_rate" in m.description

    def test_it_is_a_proportion_wherever_proportions_are_named(self) -> None:
        from trialbook.domain.metrics import PROPORTIONS
        from trialbook.domain.units import PROPORTION_METRICS, parse_margin

        assert {"success", "error_rate", "tool_success_rate", "failed_call_ratio"} == PROPORTIONS
        assert PROPORTION_METRICS == PROPORTIONS
        assert {n for n, m in METRICS.items() if c.is_proportion(m)} == PROPORTIONS
        margin = parse_margin("5pp", "tool_success_rate")
        assert (margin.value, margin.relative) == (pytest.approx(0.05), False)

    @pytest.mark.parametrize(
        ("fields", "expected"),
        [
            ({"tool_calls": 8, "successful_calls": 6}, 0.75),
            ({"tool_calls": 3, "successful_calls": 3}, 1.0),
            ({"tool_calls": 5, "successful_calls": 0}, 0.0),
            ({"tool_calls": 0, "successful_calls": 0}, None),  # no call to succeed or fail
            ({"tool_calls": 4}, None),  # successes not recorded
            ({}, None),
        ],
    )
    def test_a_sessions_value_is_its_share_of_successful_calls(
        self, fields: dict[str, int], expected: float | None
    ) -> None:
        obs = observations(fields)
        assert obs.get("tool_success_rate") == expected
        if expected is not None:
            assert obs["tool_success_rate"] + obs["error_rate"] == pytest.approx(1.0, abs=1e-15)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(VARIANTS),
            st.integers(0, 60).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))),
        ),
        min_size=1,
        max_size=40,
    )
)
@settings(deadline=None, max_examples=40)
def test_projected_moments_are_numpys_mean_and_variance_of_per_session_values(
    drawn: list[tuple[str, tuple[int, int]]],
) -> None:
    groups: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    for variant, (calls, ok) in drawn:
        groups[variant].append({"tool_calls": calls, "successful_calls": ok})
    with tempfile.TemporaryDirectory() as d:
        ledger = ledger_with(Path(d) / "m.db", groups)
        for projected in (ab_queries.moments(ledger.conn, "t"), None):
            if projected is None:  # and again from a rebuild (the bulk extraction)
                ledger.rebuild_projections()
                projected = ab_queries.moments(ledger.conn, "t")
            for variant, rows in groups.items():
                xs = rates(rows)
                got = projected.get(variant, {}).get("tool_success_rate")
                if not len(xs):
                    assert got is None
                    continue
                assert got is not None and got.n == len(xs)
                assert got.mean == pytest.approx(float(np.mean(xs)), rel=1e-12, abs=1e-15)
                assert got.m2 == pytest.approx(float(np.var(xs) * len(xs)), rel=1e-9, abs=1e-12)
        ledger.close()


class TestAnalysis:
    @pytest.fixture
    def data(self) -> dict[str, list[dict[str, Any]]]:
        rng = np.random.default_rng(19)
        return {"cold": sessions(rng, 240, 0.22), "warm": sessions(rng, 260, 0.15)}

    def test_the_fixed_horizon_figures_are_scipys_welch_on_the_per_session_values(
        self, data: dict[str, list[dict[str, Any]]], tmp_path: Path
    ) -> None:
        from scipy import stats

        ledger = ledger_with(tmp_path / "a.db", data, metric="tool_success_rate")
        doc = analyze_test(ledger, "t")
        cold, warm = rates(data["cold"]), rates(data["warm"])
        assert (doc["metric"], doc["kind"], doc["lower_is_better"]) == (
            "tool_success_rate",
            "rate",
            False,
        )
        ctrl, var = doc["variants"]
        assert (ctrl["n"], var["n"]) == (len(cold), len(warm))  # sessions without calls left out
        assert (ctrl["results"], var["results"]) == (240, 260)
        assert ctrl["estimate"] == pytest.approx(cold.mean(), rel=1e-12)
        assert var["estimate"] == pytest.approx(warm.mean(), rel=1e-12)
        ref = stats.ttest_ind(warm, cold, equal_var=False)
        ci = ref.confidence_interval(0.95)
        fixed = var["fixed_horizon"]
        assert fixed["lift"] == pytest.approx(warm.mean() - cold.mean(), rel=1e-12)
        assert fixed["p_value"] == pytest.approx(float(ref.pvalue), rel=1e-9)
        assert fixed["ci"] == [
            pytest.approx(float(ci.low), rel=1e-9),
            pytest.approx(float(ci.high), rel=1e-9),
        ]
        assert fixed["relative_lift"] == pytest.approx(warm.mean() / cold.mean() - 1, rel=1e-12)
        assert "per-session rates (Welch)" in var["method"]
        assert var["lift"] == pytest.approx(warm.mean() - cold.mean(), rel=1e-12)
        lo, hi = var["ci"]
        assert lo < var["lift"] < hi and hi - lo > ci.high - ci.low  # always-valid is wider
        assert doc["recommendation"]["decision"] == "ship"
        ledger.close()

    def test_it_mirrors_error_rate_session_for_session(
        self, data: dict[str, list[dict[str, Any]]], tmp_path: Path
    ) -> None:
        """Each session's tool success rate is one minus its error rate, so the comparisons mirror."""
        ledger = ledger_with(tmp_path / "m.db", data)
        ok = analyze_test(ledger, "t", metric="tool_success_rate")["variants"][1]
        err = analyze_test(ledger, "t", metric="error_rate")["variants"][1]
        assert ok["lift"] == pytest.approx(-err["lift"], rel=1e-9)
        assert ok["ci"] == [
            pytest.approx(-err["ci"][1], rel=1e-9),
            pytest.approx(-err["ci"][0], rel=1e-9),
        ]
        assert ok["p_value"] == pytest.approx(err["p_value"], rel=1e-9)
        assert ok["fixed_horizon"]["p_value"] == pytest.approx(
            err["fixed_horizon"]["p_value"], rel=1e-9
        )
        ledger.close()

    def test_its_intervals_are_clipped_as_a_proportions_are(self) -> None:
        from trialbook.domain.stats import AnalysisInput, Moments, VariantData, analyze

        values = {"cold": [0.0, 1.0, 1.0, 0.5], "warm": [1.0, 0.0, 1.0, 1.0]}
        result = analyze(
            AnalysisInput(
                test="t",
                control="cold",
                metric="tool_success_rate",
                min_results=2,
                variants=tuple(
                    VariantData(v, len(xs), {"tool_success_rate": Moments.of(xs)})
                    for v, xs in values.items()
                ),
            )
        )
        warm = result.primary.variants[1]
        assert warm.ci == (-1.0, 1.0) and not warm.informative
        assert ("interval_clipped", warm.notes[0][1]) in warm.notes
        assert "-100 to +100 points" in dict(warm.notes)["interval_clipped"]

    def test_as_a_guardrail_its_worsening_is_controls_mean_minus_the_variants(
        self, data: dict[str, list[dict[str, Any]]], tmp_path: Path
    ) -> None:
        ledger = ledger_with(
            tmp_path / "g.db",
            data,
            metric="completion_time",
            guardrails=(ab.Guardrail(metric="tool_success_rate", limit=0.05, relative=False),),
        )
        (g,) = analyze_test(ledger, "t")["guardrails"]
        cold, warm = rates(data["cold"]), rates(data["warm"])
        assert g["metric"] == "tool_success_rate" and g["variant"] == "warm"
        assert g["worsening"] == pytest.approx(cold.mean() - warm.mean(), rel=1e-12)
        assert g["ci"][0] < g["worsening"] < g["ci"][1]
        assert g["status"] == "ok"  # warm fails fewer calls: at worst a little worse
        ledger.close()


class TestCLI:
    def test_create_analyze_and_guard_with_it(self, invoke: Invoke, db_path: Path) -> None:
        r = invoke(
            "ab", "create", "t", "--variants", "cold,warm", "--metric", "tool_success_rate",
            "--guardrail", "completion_time:+20%",
        )  # fmt: skip
        assert r.exit_code == 0, r.output
        assert "metric: tool_success_rate" in r.output
        rng = np.random.default_rng(7)
        lines = [
            {"variant": v, **row}
            for v, fail in (("cold", 0.3), ("warm", 0.1))
            for row in sessions(rng, 30, fail)
        ]
        r = invoke("ab", "import", "t", "-", input="".join(json.dumps(x) + "\n" for x in lines))
        assert r.exit_code == 0, r.output
        doc = json.loads(invoke("ab", "analyze", "t", "--json").output)
        warm = rates([x for x in lines if x["variant"] == "warm"])
        assert doc["metric"] == "tool_success_rate"
        assert doc["variants"][1]["estimate"] == pytest.approx(warm.mean(), rel=1e-12)
        text = invoke("ab", "analyze", "t").output
        assert "tool_success_rate (rate, higher is better)" in text
        other = invoke("ab", "analyze", "t", "--metric", "error_rate", "--json")
        assert json.loads(other.output)["metric"] == "error_rate"
        r = invoke(
            "ab", "create", "u", "--metric", "success", "--guardrail", "tool_success_rate:+10%"
        )
        assert r.exit_code == 0, r.output
        shown = json.loads(invoke("ab", "show", "u", "--json").output)["test"]["guardrails"]
        assert shown == [{"metric": "tool_success_rate", "limit": 0.1, "relative": True}]

    @pytest.mark.parametrize(
        "args",
        [
            ["ab", "create", "x", "--metric", "success_rate"],
            ["ab", "analyze", "t", "--metric", "success_rate"],
        ],
    )
    def test_success_rate_is_refused_pointing_to_both_metrics(
        self, invoke: Invoke, db_path: Path, args: list[str]
    ) -> None:
        assert invoke("ab", "create", "t").exit_code == 0
        before = count_events(db_path)
        r = invoke(*args)
        assert r.exit_code == 1 and count_events(db_path) == before
        assert "success is the share of sessions that succeeded" in r.output
        assert (
            "tool_success_rate is the mean over sessions of the share of a session's tool calls "
            "that succeeded (the warm-session framework's success_rate)"
        ) in r.output
        assert len(r.output.strip().splitlines()) == 1


class TestCanary:
    def test_a_guardrail_in_points_round_trips(self) -> None:
        g = c.parse_guardrail("tool_success_rate:+2pp")
        assert (g.metric, g.limit, g.relative) == ("tool_success_rate", 0.02, False)
        assert c.guardrail_text(g) == "tool_success_rate:+2pp"

    def test_a_canary_guards_it_with_the_per_session_values(self, tmp_path: Path) -> None:
        rng = np.random.default_rng(23)
        ledger = Ledger(tmp_path / "c.db", synchronous="OFF")
        canaries.create(
            ledger, "router", control="v1", candidate="v2", stages="10,50,100",
            guardrails=["tool_success_rate:+2pp"], metric="completion_time", min_results=5,
            salt="s",
        )  # fmt: skip
        rows = {"v1": sessions(rng, 80, 0.1), "v2": sessions(rng, 40, 0.3)}
        canaries.add_results(
            ledger,
            "router",
            [{"variant": v, "stage": 1, **r} for v, rs in rows.items() for r in rs],
        )
        (g,) = canaries.status(ledger, "router")["guardrails"]
        ctrl, cand = rates(rows["v1"]), rates(rows["v2"])
        assert g["metric"] == "tool_success_rate"
        assert (g["n_control"], g["n_candidate"]) == (len(ctrl), len(cand))
        assert g["worsening"] == pytest.approx(ctrl.mean() - cand.mean(), rel=1e-12)
        assert g["status"] == "broken"  # 20 points more failed calls against a 2-point limit
        ledger.close()


# --------------------------------------------------------------------------- every path alike


times = st.one_of(
    st.none(),
    st.datetimes().map(lambda t: t.isoformat()),
    st.integers(0, 2**70),
    # beyond a 64-bit integer a rebuild reads a float, so must an append (2**63 to 2**64 - 1
    # are whole numbers to the log's JSON reader and too large for SQLite)
    st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64]),
    st.floats(0, 1e12, allow_nan=False),
)


@st.composite
def stored_results(draw: Any) -> dict[str, Any]:
    """A ``ResultAdded`` body as the log may hold it: zero-call sessions, times of every kind,
    and (recorded before the name was a built-in) a custom metric called tool_success_rate."""
    data = draw(result_fields(VARIANTS)).model_dump(mode="json", exclude_none=True)
    for key in ("start_time", "end_time"):
        value = draw(times)
        if value is not None:
            data[key] = value
    if draw(st.booleans()):
        data.setdefault("metrics", {})["tool_success_rate"] = draw(st.floats(-1, 2))
    return data


@given(st.lists(stored_results(), min_size=1, max_size=14), st.integers(1, 4))
@settings(deadline=None, max_examples=30)
def test_appends_a_rebuild_and_a_replay_fold_the_same_tables(
    stored: list[dict[str, Any]], batch: int
) -> None:
    with tempfile.TemporaryDirectory() as d:
        ledger = Ledger(Path(d) / "p.db", synchronous="OFF")
        ledger.execute(build(ab.CreateTest, name="t", variants=VARIANTS))
        store = ledger.store

        def fold(conn: sqlite3.Connection, recorded: Any) -> None:
            ledger.projector.in_transaction(conn, recorded, generation=store.generation)

        version = ab.ResultAdded.schema_version
        for start in range(0, len(stored), batch):
            with store.transaction():
                store.append(
                    "ab:t",
                    store.stream_version("ab:t"),
                    [NewEvent("ResultAdded", x, version) for x in stored[start : start + batch]],
                    in_transaction=fold,
                )
        incremental = dump(ledger.conn)
        assert len(incremental["ab_results"]) == len(stored)
        shown = ab_queries.results(ledger.conn, "t")
        for row, data in zip(shown, stored, strict=True):
            for key in ("start_time", "end_time"):
                want = data.get(key)
                if type(want) is int and want >= 2**63:
                    want = float(want)
                assert row[key] == want and type(row[key]) is type(want)
        ledger.rebuild_projections()
        assert dump(ledger.conn) == incremental
        scratch = sqlite3.connect(":memory:")
        ledger.projector.replay(scratch, ledger.store.read_all(), batch=batch)
        assert dump(scratch) == incremental
        scratch.close()
        moments = ab_queries.moments(ledger.conn, "t")
        for variant in VARIANTS:
            expected = [
                observations(x)["tool_success_rate"]
                for x in stored
                if x["variant"] == variant and "tool_success_rate" in observations(x)
            ]
            got = moments.get(variant, {}).get("tool_success_rate")
            assert (got.n if got else 0) == len(expected)
            if expected:
                assert got is not None
                assert math.isclose(got.mean, float(np.mean(expected)), abs_tol=1e-12)
        ledger.close()
