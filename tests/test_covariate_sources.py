"""Keyed covariates (#21): ``--covariate case:RUN`` (a case's mean score in an earlier eval run,
read from a real run against a real HTTP task app) and ``--covariate test:OTHER.METRIC`` (the case's
mean in a pre-period test): the adjusted lift is statsmodels' OLS coefficient on the results that have
a value, the others are counted and left out, the audit replays the decision, bad sources are one line
with nothing appended, and the A/A false-winner rate with a covariate that misses cases stays at
alpha under a look after every result (small; bench/agent_metrics.py ``aa_cuped_missing`` is the big
one)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import Invoke, count_events
from tests.servers import Behaviour, TaskServer

CASES = 40


@pytest.fixture(scope="module")
def task_server() -> Iterator[TaskServer]:
    with TaskServer(Behaviour()) as server:
        yield server


def _import(invoke: Invoke, tmp_path: Path, name: str, rows: list[dict[str, Any]]) -> None:
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    r = invoke("ab", "import", name, str(path))
    assert r.exit_code == 0, r.output


def _analyze(invoke: Invoke, *args: str) -> dict[str, Any]:
    r = invoke("ab", "analyze", *args, "--json")
    assert r.exit_code == 0, r.output
    return dict(json.loads(r.output))


@pytest.fixture
def prior_run(invoke: Invoke, tmp_path: Path, task_server: TaskServer) -> dict[str, float]:
    """Eval run ``prior`` over 40 cases: the app answers every case, and the expected answer
    matches for k0..k14 only, so each case's score there is 1 or 0. Returns them."""
    return _run_prior(invoke, tmp_path, task_server)


def _run_prior(invoke: Invoke, tmp_path: Path, task_server: TaskServer) -> dict[str, float]:
    task_server.reset()
    cases = [
        {"id": f"k{i}", "input": f"w{i}", "expected": f"echo: w{i}" if i < 15 else "other"}
        for i in range(CASES)
    ]
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    assert invoke("eval", "suite", "add", str(path)).exit_code == 0
    r = invoke("eval", "run", "s", "--target", f"{task_server.url}/run", "--name", "prior")
    assert r.exit_code == 0, r.output
    return {f"k{i}": 1.0 if i < 15 else 0.0 for i in range(CASES)}


def _ab_rows(seed: int, n: int, prior: dict[str, float], lift: float) -> list[dict[str, Any]]:
    """Results of cases drawn at random (some unknown to the run, some without a case id)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        v = "warm" if i % 2 else "cold"
        u = rng.random()
        case = None if u < 0.05 else f"new{i}" if u < 0.15 else f"k{rng.integers(CASES)}"
        x = prior.get(case or "", 0.5)
        p = 0.25 + 0.5 * x + (lift if v == "warm" else 0.0)
        row: dict[str, Any] = {"variant": v, "success": bool(rng.random() < p)}
        if case is not None:
            row["case_id"] = case
        out.append(row)
    return out


def _ols(rows: list[dict[str, Any]], x_of: dict[str, float], outcome: str) -> Any:
    import statsmodels.api as sm

    kept = [r for r in rows if r.get("case_id") in x_of]
    y = np.array([float(r[outcome]) for r in kept])
    treat = np.array([1.0 if r["variant"] == "warm" else 0.0 for r in kept])
    x = np.array([x_of[r["case_id"]] for r in kept])
    return sm.OLS(y, sm.add_constant(np.column_stack([treat, x]))).fit(), len(kept)


class TestCaseScoreInAnEarlierRun:
    def test_the_adjusted_lift_is_ols_on_the_cases_score_and_the_rest_are_counted(
        self, invoke: Invoke, tmp_path: Path, prior_run: dict[str, float]
    ) -> None:
        invoke("ab", "create", "t", "--variants", "cold,warm")
        rows = _ab_rows(1, 600, prior_run, lift=0.05)
        _import(invoke, tmp_path, "t", rows)
        doc = _analyze(invoke, "t", "--covariate", "case:prior")
        fit, kept = _ols(rows, prior_run, "success")
        warm = doc["variants"][1]
        assert warm["fixed_horizon"]["lift"] == pytest.approx(fit.params[1], rel=1e-9)
        cov = doc["settings"]["covariate"]
        assert cov["name"] == "case:prior"
        c = cov["variants"]["warm"]
        assert c["theta"] == pytest.approx(fit.params[2], rel=1e-9)
        assert c["results_with_covariate"] == kept
        assert c["results_without_covariate"] == len(rows) - kept
        # the case's earlier score explains success: a real variance reduction (rho^2 ~ 0.25 here)
        x = np.array([prior_run[r["case_id"]] for r in rows if r.get("case_id") in prior_run])
        y = np.array([r["success"] for r in rows if r.get("case_id") in prior_run], dtype=float)
        rho2 = float(np.corrcoef(x, y)[0, 1] ** 2)
        assert c["variance_reduction"] == pytest.approx(rho2, abs=0.05)
        assert c["variance_reduction"] > 0.1
        assert "CUPED-adjusted by case:prior" in warm["method"]
        text = invoke("ab", "analyze", "t", "--covariate", "case:prior").output
        assert f"{len(rows) - kept} result(s) without a value of case:prior" in text

    def test_a_decision_on_it_reproduces_in_the_audit(
        self, invoke: Invoke, tmp_path: Path, prior_run: dict[str, float]
    ) -> None:
        invoke("ab", "create", "d", "--variants", "cold,warm")
        _import(invoke, tmp_path, "d", _ab_rows(2, 300, prior_run, lift=0.0))
        r = invoke("ab", "conclude", "d", "--stop", "--covariate", "case:prior")
        assert r.exit_code == 0, r.output
        audit = json.loads(invoke("audit", "d", "--json").output)
        assert (audit["reproduced"], audit["not_reproduced"]) == (1, 0)

    def test_the_source_is_read_as_of_the_analysed_position(
        self, invoke: Invoke, tmp_path: Path, db_path: Path, task_server: TaskServer
    ) -> None:
        invoke("ab", "create", "early", "--variants", "cold,warm")
        prior = {f"k{i}": 1.0 if i < 15 else 0.0 for i in range(CASES)}
        _import(invoke, tmp_path, "early", _ab_rows(5, 200, prior, lift=0.0))
        before_run = count_events(db_path)
        _run_prior(invoke, tmp_path, task_server)
        now = _analyze(invoke, "early", "--covariate", "case:prior")
        assert now["settings"]["covariate"]["variants"]["warm"]["results_with_covariate"] > 0
        r = invoke("ab", "analyze", "early", "--at", str(before_run), "--covariate", "case:prior")
        assert r.exit_code == 1
        assert f"no eval run named 'prior' at log position {before_run}" in r.output
        import sqlite3

        with sqlite3.connect(db_path) as conn:
            (started,) = conn.execute(
                "SELECT position FROM events WHERE type = 'RunStarted'"
            ).fetchone()
        conn.close()
        r = invoke("ab", "analyze", "early", "--at", str(started), "--covariate", "case:prior")
        assert r.exit_code == 1  # the run has started but scored nothing yet: no case has a value
        assert "has a case id that eval run 'prior' has a value for" in r.output

    def test_the_api_takes_it(self, db_path: Path, prior_run: dict[str, float]) -> None:
        import trialbook

        with trialbook.open(db_path) as tb:
            tb.ab.create("p", variants=["cold", "warm"])
            for r in _ab_rows(3, 200, prior_run, lift=0.0):
                tb.ab.add_result("p", **r)
            got = tb.ab.analyze("p", covariate="case:prior")
            assert "CUPED" in (got.variants[1].method or "")


class TestPrePeriodTest:
    def test_the_cases_mean_in_another_test_is_the_covariate(
        self, invoke: Invoke, tmp_path: Path
    ) -> None:
        rng = np.random.default_rng(4)
        skill = {f"c{i}": float(rng.normal()) for i in range(60)}
        invoke("ab", "create", "pre", "--variants", "a,b", "--metric", "score")
        pre = []
        for i in range(240):
            case = f"c{i % 60}"
            pre.append(
                {
                    "variant": "ab"[i % 2],
                    "case_id": case,
                    "score": skill[case] + float(rng.normal()),
                }
            )
        _import(invoke, tmp_path, "pre", pre)
        invoke("ab", "create", "now", "--variants", "cold,warm", "--metric", "score")
        rows = []
        for i in range(400):
            case = f"c{rng.integers(70)}"  # c60..c69 are new
            rows.append(
                {
                    "variant": "warm" if i % 2 else "cold",
                    "case_id": case,
                    "score": 0.2 * (i % 2) + skill.get(case, 0.0) + float(rng.normal()),
                }
            )
        _import(invoke, tmp_path, "now", rows)
        doc = _analyze(invoke, "now", "--covariate", "test:pre.score")
        means: dict[str, list[float]] = {}
        for r in pre:
            means.setdefault(r["case_id"], []).append(r["score"])
        x_of = {k: float(np.mean(v)) for k, v in means.items()}
        fit, kept = _ols(rows, x_of, "score")
        assert doc["variants"][1]["fixed_horizon"]["lift"] == pytest.approx(fit.params[1], rel=1e-9)
        c = doc["settings"]["covariate"]["variants"]["warm"]
        assert c["results_with_covariate"] == kept < len(rows)
        assert c["variance_reduction"] > 0.2


class TestBadSources:
    @pytest.mark.parametrize(
        ("covariate", "says"),
        [
            ("case:nope", "--covariate case:nope: no eval run named 'nope'"),
            ("test:gone.score", "--covariate test:gone.score: no A/B test named 'gone'"),
            ("test:gone", "name the other test's metric after a dot"),
            ("test:b.score", "a covariate must be measured before this test"),
            ("unit:prior.jsonl", "a keyed covariate is case:RUN"),
            ("test:a.nothing", "test 'a' has no results with a case id and a value of 'nothing'"),
            ("test:a.score", "no result of test 'b' has a case id that test 'a' has a value for"),
        ],
    )
    def test_are_one_line_errors_and_append_nothing(
        self, invoke: Invoke, tmp_path: Path, db_path: Path, covariate: str, says: str
    ) -> None:
        invoke("ab", "create", "a", "--variants", "x,y", "--metric", "score")
        invoke("ab", "create", "b", "--variants", "x,y", "--metric", "score")
        _import(invoke, tmp_path, "a", [{"variant": "x", "case_id": "q1", "score": 1.0}])
        _import(invoke, tmp_path, "b", [{"variant": "xy"[i % 2], "score": 1.0} for i in range(9)])
        before = count_events(db_path)
        for command in ("analyze", "conclude"):
            extra = ["--stop"] if command == "conclude" else []
            r = invoke("ab", command, "b", *extra, "--covariate", covariate)
            assert r.exit_code == 1, r.output
            assert r.output.startswith("Error: ") and says in r.output
            assert len(r.output.strip().splitlines()) == 1, r.output
        assert count_events(db_path) == before


def test_aa_with_a_covariate_missing_for_some_results_keeps_false_winners_at_alpha() -> None:
    """A case-level covariate (rho 0.6 with the outcome) absent for 30 % of results, a look after
    every result, 300 A/A tests of 400 results: false winners within alpha plus noise."""
    from trialbook.domain.stats import cuped, engine

    rng = np.random.default_rng(21)
    sims, n = 300, 400
    x = rng.normal(size=(sims, n))
    y = 0.6 * x + 0.8 * rng.normal(size=(sims, n))
    x[rng.random((sims, n)) < 0.3] = np.nan  # cases the source never saw
    arm = np.broadcast_to(np.arange(n) % 2, (sims, n))
    cmp, adj = cuped.compare_looks(y, x, arm, float(n), kind="continuous")
    good, bad = engine.running_p(cmp, False, (sims, n))
    good, bad = good.reshape(sims, n), bad.reshape(sims, n)
    false_winners = ((good < 0.05) & (good < bad)).any(axis=1).mean()
    # Wilson upper bound of 0.05 at 300 tests is ~0.083: allow noise, not inflation
    assert false_winners <= 0.08
    assert float(np.nanmedian(adj.variance_reduction.reshape(sims, n)[:, -1])) > 0.25


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.integers(0, 12), st.floats(-50, 50)), min_size=8, max_size=60
    ),
    st.dictionaries(st.integers(0, 9), st.floats(-20, 20), max_size=10),
)
def test_the_joined_covariate_is_each_cases_value_and_the_lift_is_ols_on_the_kept_results(
    results: list[tuple[bool, int, float]], source: dict[int, float]
) -> None:
    """Pure: whatever the results and the source, a result has the value of its case (or none),
    each variant's moments are those of its values, and the adjusted lift is OLS's."""
    import statsmodels.api as sm

    from trialbook.domain.stats import AnalysisInput, ResultRow, analyze, variant_data_from_rows
    from trialbook.ledger.analysis import Snapshot
    from trialbook.ledger.covariates import joined

    rows = tuple(
        ResultRow("warm" if warm else "cold", {"score": y}, None if case > 10 else f"c{case}")
        for warm, case, y in results
    )
    values = {f"c{k}": v for k, v in source.items()}
    definition = SimpleNamespace(
        name="t", variants=("cold", "warm"), control="cold", metric="score", guardrails=(),
        split=None, expected_results=None, caps=None,
    )  # fmt: skip
    snap = Snapshot({}, definition, variant_data_from_rows(rows, ["cold", "warm"]), rows, False, 1)
    got = joined(snap, "case:r", values)
    kept = [r for r in rows if r.case_id in values]
    if not kept:
        assert got is None
        return
    for before, after in zip(rows, got.rows, strict=True):
        assert after.values.get("case:r") == values.get(before.case_id or "")
    for v in got.variants:
        xs = [values[r.case_id or ""] for r in kept if r.variant == v.name]
        if xs:
            assert v.moments["case:r"].n == len(xs)
            assert v.moments["case:r"].mean == pytest.approx(float(np.mean(xs)))
        else:
            assert "case:r" not in v.moments
    treat = np.array([r.variant == "warm" for r in kept], dtype=float)
    x = np.array([values[r.case_id or ""] for r in kept])
    if (
        min(treat.sum(), len(kept) - treat.sum()) < 3
        or np.ptp(x[treat == 1]) + np.ptp(x[treat == 0]) < 1e-3
    ):
        return  # OLS needs both arms and within-arm spread of the covariate
    inp = AnalysisInput.from_request(definition, got.variants, got.rows, covariate="case:r")
    adjusted = analyze(inp).to_json()["variants"][1]["fixed_horizon"]["lift"]
    y = np.array([r.values["score"] for r in kept])
    fit = sm.OLS(y, sm.add_constant(np.column_stack([treat, x]), has_constant="add")).fit()
    assert adjusted == pytest.approx(fit.params[1], rel=1e-6, abs=1e-6)
