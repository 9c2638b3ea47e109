"""An import's batch built a column at a time (``_plain_run``) gives the tables the row-by-row
build gives, and a rebuild gives them too."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trialbook.domain import ab
from trialbook.domain.commands import build
from trialbook.ledger import Ledger
from trialbook.projections import ab as projection

#: the optional fields a batch's results may give, and a value of each
OPTIONAL: dict[str, Any] = {
    "session_id": st.from_regex(r"s-[0-9]{1,4}", fullmatch=True),
    "case_id": st.sampled_from(["c1", "c2", "c3", "c4"]),
    "success": st.booleans(),
    "tool_calls": st.integers(0, 20),
    "errors": st.integers(0, 5),
    "completion_time": st.floats(0, 1e4, allow_nan=False),
    "messages": st.integers(0, 30),
    "corrections": st.integers(0, 3),
    "tokens": st.integers(0, 10**6),
    "cost": st.floats(0, 10, allow_nan=False),
    "score": st.floats(-100, 100, allow_nan=False),
    # any text a result may hold (NUL included: a rebuild folds such a log in Python), never a
    # lone surrogate (not text: ResultFields refuses it)
    "notes": st.text(st.characters(blacklist_categories=("Cs",)), max_size=6),
}


@st.composite
def batches(draw: Any) -> list[ab.ResultFields]:
    """Results that mostly give the same fields (what a file holds), sometimes one odd one
    out: a field more or less, a custom metric, error messages or session times."""
    given_keys = draw(st.lists(st.sampled_from(sorted(OPTIONAL)), unique=True))
    results = []
    for _ in range(draw(st.integers(1, 30))):
        keys = list(given_keys)
        odd = draw(st.sampled_from(["none"] * 6 + ["fewer", "metric", "messages", "times"]))
        if odd == "fewer" and keys:
            keys.pop(draw(st.integers(0, len(keys) - 1)))
        fields: dict[str, Any] = {k: draw(OPTIONAL[k]) for k in keys}
        if "tool_calls" in fields and draw(st.booleans()):
            fields["successful_calls"] = draw(st.integers(0, fields["tool_calls"]))
        if odd == "metric":
            fields["metrics"] = {"m_a": draw(st.floats(-10, 10, allow_nan=False))}
        elif odd == "messages":
            fields["error_messages"] = ("timeout",)
            fields.pop("errors", None)  # (a count given must agree with the messages)
        elif odd == "times":
            fields["start_time"], fields["end_time"] = 100, 160.5
            fields.pop("completion_time", None)
        results.append(ab.ResultFields(variant=draw(st.sampled_from(["cold", "warm"])), **fields))
    return results


TABLES = ("ab_variants", "ab_results", "ab_cases")


def recorded(path: Path, results: list[ab.ResultFields], chunk: int) -> dict[str, Any]:
    with Ledger(path, synchronous="OFF") as ledger:
        ledger.execute(
            build(
                ab.CreateTest,
                name="t",
                variants=("cold", "warm"),
                guardrails=(ab.Guardrail(metric="cost", limit=0.1),),
            )
        )
        for start in range(0, len(results), chunk):
            part = tuple(results[start : start + chunk])
            ledger.execute(build(ab.AddResults, test="t", results=part))
        tables = {
            t: ledger.conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in TABLES
        }
        ledger.rebuild_projections()
        again = {
            t: ledger.conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in TABLES
        }
        return {"tables": _without_recorded_at(tables), "rebuilt": _without_recorded_at(again)}


def _without_recorded_at(tables: dict[str, Any]) -> dict[str, Any]:
    # ab_results' last column is the append's time, which differs between two ledgers
    return {t: [r[:-1] for r in rows] if t == "ab_results" else rows for t, rows in tables.items()}


@given(batches(), st.integers(1, 30))
@settings(max_examples=80, deadline=None)
def test_a_batch_built_a_column_at_a_time_is_the_row_by_row_build(
    results: list[ab.ResultFields], chunk: int
) -> None:
    with tempfile.TemporaryDirectory() as d:
        columns = recorded(Path(d) / "columns.db", results, chunk)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(projection, "_plain_run", lambda run: None)
            rows = recorded(Path(d) / "rows.db", results, chunk)
        assert columns["tables"] == rows["tables"]
        assert columns["rebuilt"] == columns["tables"]


def test_a_file_of_plain_results_is_built_a_column_at_a_time(tmp_path: Path) -> None:
    """The fast path is taken for the usual batch (the test above would pass without it)."""
    calls: list[Any] = []
    real = projection._plain_run

    def spy(run: Any) -> Any:
        calls.append(real(run))
        return calls[-1]

    results = [
        ab.ResultFields(variant=v, success=True, cost=0.5, case_id="c")
        for v in ("cold", "warm") * 5
    ]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(projection, "_plain_run", spy)
        recorded(tmp_path / "p.db", results, 10)
    assert calls and calls[0] is not None
    conn = sqlite3.connect(tmp_path / "p.db")
    assert conn.execute("SELECT count(*) FROM ab_results").fetchone() == (10,)
