"""Paired analyses from the read model's per-case statistics (``ab_cases``) equal those of the rows."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trialbook.domain import ab
from trialbook.domain.commands import build
from trialbook.domain.stats import AnalysisInput, analyze, engine
from trialbook.ledger import Ledger
from trialbook.ledger import analysis as la
from trialbook.projections import ab_cases, ab_queries

VARIANTS = ("cold", "warm", "hot")


@st.composite
def results(draw: Any, variants: tuple[str, ...]) -> ab.ResultFields:
    return ab.ResultFields(
        variant=draw(st.sampled_from(variants)),
        case_id=draw(st.none() | st.sampled_from([f"c{i}" for i in range(12)])),
        success=draw(st.none() | st.booleans()),
        completion_time=draw(st.none() | st.floats(0, 1e4, allow_nan=False)),
        score=draw(st.none() | st.floats(-100, 100, allow_nan=False)),
        metrics=draw(st.dictionaries(st.just("m_a"), st.floats(-1e3, 1e3), max_size=1)),
    )


@st.composite
def recorded_tests(draw: Any) -> tuple[Any, list[list[ab.ResultFields]]]:
    variants = VARIANTS[: draw(st.integers(2, 3))]
    metric = draw(st.sampled_from(["success", "completion_time", "score", "m_a"]))
    guards = draw(st.lists(st.sampled_from(["completion_time", "score"]), max_size=2, unique=True))
    create = build(
        ab.CreateTest,
        name="t",
        variants=variants,
        metric=metric,
        guardrails=tuple(ab.Guardrail(metric=g, limit=0.2) for g in guards if g != metric),
    )
    batches = draw(
        st.lists(st.lists(results(variants), min_size=1, max_size=8), min_size=1, max_size=8)
    )
    # one result without a case id: the rows with one then do not cover the test, so the
    # row-based analysis is the current look's, as the per-case one is
    batches.append([ab.ResultFields(variant=variants[0], success=True)])
    return create, batches


@contextlib.contextmanager
def ledger_with(create: Any, batches: list[list[ab.ResultFields]]) -> Iterator[Ledger]:
    with tempfile.TemporaryDirectory() as d:
        ledger = Ledger(Path(d) / "c.db", synchronous="OFF")
        ledger.execute(create)
        for batch in batches:
            ledger.execute(build(ab.AddResults, test="t", results=tuple(batch)))
        try:
            yield ledger
        finally:
            ledger.close()


@pytest.fixture
def no_rows_for_all_looks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test is analysed as one above ROWS_FOR_ALL_LOOKS (the moments and ``ab_cases``)."""
    monkeypatch.setattr(la, "_rows_for_all_looks", lambda: 0)


def by_rows(snap: la.Snapshot, **options: Any) -> dict[str, Any]:
    """The analysis as it was computed before ``ab_cases``: from the rows with a case id."""
    rows = ab_queries.read_rows(snap.store.conn, "t", with_case_only=True)
    inp = la.analysis_input(la.replace(snap, cases=None, case_rows=None, rows=rows), **options)
    assert not inp.rows or len(inp.rows) < sum(v.results for v in inp.variants)
    return la.analysis_document(analyze(inp), snap.position)


@given(recorded_tests(), st.sampled_from([None, "success", "score", "m_a", "completion_time"]))
@settings(
    deadline=None, max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_a_paired_analysis_from_per_case_statistics_equals_the_one_from_rows(
    no_rows_for_all_looks: None, test: Any, metric: str | None
) -> None:
    create, batches = test
    with ledger_with(create, batches) as ledger:
        snap = la.read_snapshot(ledger, "t")
        assert snap.rows is None
        if not snap.paired:
            assert snap.cases is None
            return
        if metric is not None and all(metric not in v.moments for v in snap.variants):
            return  # refused either way
        options = {"metric": metric}
        inp = la.analysis_input(snap, **options)
        assert inp.rows is None and inp.cases is not None
        got = la.analysis_document(analyze(inp), snap.position)
        assert got == by_rows(snap, **options)  # exactly: the same floats


@given(recorded_tests())
@settings(deadline=None, max_examples=60)
def test_stored_per_case_statistics_are_the_arrays_the_rows_give(test: Any) -> None:
    create, batches = test
    with ledger_with(create, batches) as ledger:
        got = ab_cases.case_statistics(ledger.conn, "t")
        assert got is not None
        covered, cells = got
        rows = ab_queries.read_rows(ledger.conn, "t", with_case_only=True)
        snap = la.read_snapshot(ledger, "t")
        inp = AnalysisInput.from_definition(snap.definition, snap.variants, rows)
        want = engine.case_cells(engine.spec_of(inp), rows) or {}
        for name in covered:
            sums, counts = cells[name]
            if name not in want:  # no row has a case id
                assert sums.shape[0] == 0
                continue
            assert counts.dtype == np.int64 and np.array_equal(counts, want[name][1])
            assert sums.tobytes() == want[name][0].tobytes()  # bit for bit
        ledger.rebuild_projections()
        again = ab_cases.case_statistics(ledger.conn, "t")
        assert again is not None and again[0] == covered
        for name in covered:
            assert again[1][name][0].tobytes() == cells[name][0].tobytes()


def paired_test(ledger: Ledger) -> None:
    ledger.execute(build(ab.CreateTest, name="t", variants=("cold", "warm")))
    rows = [
        ab.ResultFields(variant=v, case_id=f"c{i}", success=(i * 7 + j) % 3 != 0, score=i * 0.5 + j)
        for i in range(40)
        for j, v in enumerate(("cold", "warm"))
    ]
    ledger.execute(build(ab.AddResults, test="t", results=tuple(rows)))


def test_older_methods_analyse_the_rows_as_they_did(
    no_rows_for_all_looks: None, tmp_path: Path
) -> None:
    with Ledger(tmp_path / "m.db", synchronous="OFF") as ledger:
        paired_test(ledger)
        snap = la.read_snapshot(ledger, "t")
        assert snap.rows is None and snap.cases is not None
        for version in ("1.0", "2.0"):
            inp = la.analysis_input(snap, method_version=version)
            assert inp.rows is not None and len(inp.rows) == 80
        current = la.analysis_input(snap)
        assert current.rows is None and current.cases is not None
        doc = la.analysis_document(analyze(current), snap.position)
        assert doc["settings"]["looks_intersected"] == 1
        assert doc["variants"][1]["paired"]["pairs"] == 40


def test_a_metric_the_table_does_not_keep_is_paired_from_the_rows_the_same_way(
    no_rows_for_all_looks: None, tmp_path: Path
) -> None:
    with Ledger(tmp_path / "m.db", synchronous="OFF") as ledger:
        paired_test(ledger)
        snap = la.read_snapshot(ledger, "t")
        assert snap.cases is not None and snap.cases[0] == ("success",)
        inp = la.analysis_input(snap, metric="score")
        assert inp.rows is None and inp.cases is not None and "score" in inp.cases
        got = la.analysis_document(analyze(inp), snap.position)
        assert got["variants"][1]["paired"]["pairs"] == 40
        # as of a position, replayed: the rows are read before the replay closes
        past = la.snapshot(ledger, "t", at=ledger.store.head()[0], metric="score")
        again = la.analysis_document(
            analyze(la.analysis_input(past, metric="score")), past.position
        )
        assert again == got


def _cases(ledger: Ledger) -> list[tuple[Any, ...]]:
    return ledger.conn.execute("SELECT * FROM ab_cases ORDER BY test, case_id").fetchall()


@given(recorded_tests())
@settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])
def test_single_appends_through_two_connections_fold_the_cases_a_rebuild_does(test: Any) -> None:
    """Each result appended alone, by two ledgers on one file in turn: every append finds the
    other's commit, drops its cached cases, and either starts a case or continues one it
    has not cached (read back and updated); the rows equal a rebuild's, bit for bit."""
    create, batches = test
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.db"
        first, second = Ledger(path, synchronous="OFF"), Ledger(path, synchronous="OFF")
        try:
            first.execute(create)
            singles = [r for batch in batches for r in batch]
            for i, result in enumerate(singles):
                (first, second)[i % 2].execute(build(ab.AddResults, test="t", results=(result,)))
            incremental = _cases(second)
            second.rebuild_projections()
            assert _cases(second) == incremental
        finally:
            first.close()
            second.close()


def test_a_single_append_continues_a_case_another_connection_stored(tmp_path: Path) -> None:
    """A case this connection has not cached (stored by another one) is continued from its
    stored sums, not started again; a new case starts at zero; both equal a rebuild."""
    path = tmp_path / "c.db"
    with Ledger(path, synchronous="OFF") as other:
        other.execute(build(ab.CreateTest, name="t", variants=("cold", "warm"), metric="score"))
        other.execute(
            build(
                ab.AddResults,
                test="t",
                results=(ab.ResultFields(variant="cold", case_id="c1", score=1.5),),
            )
        )
    with Ledger(path, synchronous="OFF") as ledger:
        for case_id, score in (("c1", 2.0), ("c2", 4.0), ("c1", 0.25)):
            ledger.execute(
                build(
                    ab.AddResults,
                    test="t",
                    results=(ab.ResultFields(variant="warm", case_id=case_id, score=score),),
                )
            )
        got = ab_cases.case_statistics(ledger.conn, "t")
        assert got is not None and got[0] == ("score",)
        sums, counts = got[1]["score"]
        assert counts.tolist() == [[1, 2], [0, 1]] and sums.tolist() == [[1.5, 2.25], [0.0, 4.0]]
        before = _cases(ledger)
        ledger.rebuild_projections()
        assert _cases(ledger) == before
