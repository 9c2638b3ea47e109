"""Method 2.2: a paired test above ``ROWS_FOR_ALL_LOOKS`` results is analysed at its current
look from per-case statistics; 2.1 (which read the rows with a case id and intersected every
look when they covered the test) is still computed that way, so 2.1 decisions audit as recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import trialbook
from tests.conftest import Invoke
from trialbook.domain.stats import METHOD_VERSION, analyze
from trialbook.domain.stats import analysis as analysis_module
from trialbook.ledger import analysis as la


def _paired(tb: trialbook.Trialbook, n: int) -> None:
    tb.ab.create("p", variants=["cold", "warm"], metric="score")
    rows = []
    for i in range(n):
        case = f"c{i}"
        base = (i % 7) / 7
        rows.append({"variant": "cold", "case_id": case, "score": base})
        rows.append({"variant": "warm", "case_id": case, "score": base + 0.05 + (i % 3) / 30})
    tb.ab.add_results("p", rows)


def test_2_1_reads_rows_and_intersects_every_look_where_2_2_takes_the_current_look(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(analysis_module, "ROWS_FOR_ALL_LOOKS", 40)
    assert METHOD_VERSION == "2.2"
    with trialbook.open(tmp_path / "t.db") as tb:
        _paired(tb, 60)  # 120 results, every one with a case id: pairs cover the test
        ledger = tb._ledger
        assert ledger is not None
        snap = la.read_snapshot(ledger, "p")
        assert snap.rows is None and snap.cases is not None
        new = analyze(la.analysis_input(snap, method_version="2.2")).to_json()
        old = analyze(la.analysis_input(snap, method_version="2.1")).to_json()
        # 2.1 as it was: the same analysis from the rows with a case id, every look intersected
        rows = la.read_rows(ledger.conn, "p", with_case_only=True)
        as_before = analyze(
            la.analysis_input(la.replace(snap, rows=rows, cases=None), method_version="2.1")
        ).to_json()
    assert old == as_before
    assert old["settings"]["looks_intersected"] > 1 and new["settings"]["looks_intersected"] == 1
    assert (old["method_version"], new["method_version"]) == ("2.1", "2.2")
    # the current look's paired estimate is the same number either way
    assert old["variants"][1]["estimate"] == new["variants"][1]["estimate"]


def test_a_2_2_decision_above_the_row_limit_reproduces_in_the_audit(
    invoke: Invoke, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(analysis_module, "ROWS_FOR_ALL_LOOKS", 40)
    with trialbook.open(db_path) as tb:
        _paired(tb, 60)
    r = invoke("ab", "conclude", "p", "--stop")
    assert r.exit_code == 0, r.output
    audit = json.loads(invoke("audit", "p", "--json").output)
    (d,) = audit["decisions"]
    assert d["method_version"] == "2.2" and d["reproduces"], d["differences"]
