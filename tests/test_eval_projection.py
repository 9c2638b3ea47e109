"""The eval read model: folded incrementally it equals a rebuild; the ledger recorder is idempotent."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Invoke, count_events
from tests.servers import TaskServer
from trialbook.domain.evals import (
    CompletedRollout,
    FailedRollout,
    RecordRollouts,
    RegisterSuite,
    StartRun,
)
from trialbook.domain.suites import Case
from trialbook.ledger import Ledger
from trialbook.projections.evals import TABLES
from trialbook.runners.ledger_recorder import LedgerRecorder


@pytest.fixture(scope="module")
def server() -> Iterator[TaskServer]:
    with TaskServer() as s:
        yield s


def dump(db: Path) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(db)
    try:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}
    finally:
        conn.close()


def test_incremental_tables_equal_a_rebuild(
    invoke: Invoke, db_path: Path, tmp_path: Path, server: TaskServer
) -> None:
    server.reset()
    suite = tmp_path / "s.jsonl"
    suite.write_text(
        json.dumps({"id": "a", "input": "x", "expected": "echo: x"})
        + "\n"
        + json.dumps(
            {
                "id": "b",
                "input": "y",
                "metadata": {"script": ["503", "503"], "trace": {"steps": [1, 2]}},
            }
        )
        + "\n"
    )
    invoke("eval", "suite", "add", str(suite))
    assert (
        invoke(
            "eval",
            "run",
            "s",
            "--target",
            f"{server.url}/run",
            "--name",
            "p1",
            "--epochs",
            "2",
            "--retries",
            "0",
            "--scorer",
            "equals",
        ).exit_code
        == 0
    )
    assert invoke("eval", "retry-failed", "p1").exit_code == 0
    assert invoke("eval", "rescore", "p1", "--scorer", "equals").exit_code == 0
    before = dump(db_path)
    rollouts = before["eval_rollouts"]
    # b's first two requests answer 503 (no retries): both epochs fail once, then retry-failed completes them
    assert [(r[1], r[2], r[3], r[5], r[6]) for r in rollouts] == [
        ("a", 1, 1, "completed", 1),
        ("a", 2, 1, "completed", 1),
        ("b", 1, 1, "failed", 0),
        ("b", 1, 2, "completed", 1),
        ("b", 2, 1, "failed", 0),
        ("b", 2, 2, "completed", 1),
    ]
    run = before["eval_runs"][0]
    assert run[0] == "p1" and run[8] == "finished"  # run_id, …, status
    verdicts = before["eval_verdicts"]
    assert (
        len(verdicts) == 8 and sum(1 for v in verdicts if v[-2] == 1) == 4
    )  # 4 in the runs, 4 by rescore
    assert invoke("projections", "rebuild").exit_code == 0
    assert dump(db_path) == before


def test_the_ledger_recorder_appends_a_replayed_batch_once(db_path: Path) -> None:
    cases = (Case(id="a", input="x"), Case(id="b", input="y"))
    batch = RecordRollouts(
        run_id="r",
        rollouts=(
            CompletedRollout(case_id="a", epoch=1, output="ok", latency_s=0.1),
            FailedRollout(case_id="b", epoch=1, error="boom", error_kind="target_error"),
        ),
    )
    with Ledger(db_path) as ledger:
        rec = LedgerRecorder(ledger)
        rec.handle(RegisterSuite(name="s", cases=cases))
        suite = rec.suite_state("s")
        assert suite.latest is not None
        rec.handle(
            StartRun(
                run_id="r",
                suite="s",
                suite_version=1,
                suite_hash=suite.latest.hash,
                case_ids=("a", "b"),
                target={"kind": "python"},
                trialbook_version="t",
            )
        )
        assert len(rec.handle(batch)) == 2
        assert rec.handle(batch) == []
        n = count_events(db_path)
    with Ledger(db_path) as other:  # a fresh process: no cached state
        assert LedgerRecorder(other).handle(batch) == []
        state = LedgerRecorder(other).run_state("r")
        assert (state.completed, state.failed, state.pending) == (1, 1, 0)
        assert not LedgerRecorder(other).suite_state("nope").versions
    assert count_events(db_path) == n


def test_marking_the_verdict_a_new_one_replaces_uses_the_whole_key_index() -> None:
    """Issue #25: without it each verdict scanned the run's earlier ones (quadratic runs)."""
    import sqlite3

    from trialbook.projections.evals import DDL

    conn = sqlite3.connect(":memory:")
    for statement in DDL:
        conn.execute(statement)
    plan = conn.execute(
        "EXPLAIN QUERY PLAN UPDATE eval_verdicts SET is_latest = 0 WHERE run_id = ? AND scorer = ? "
        "AND case_id = ? AND epoch = ? AND repeat = ? AND is_latest = 1",
        ("r", "s", "c", 1, 0),
    ).fetchall()
    assert any("eval_verdicts_latest" in row[-1] for row in plan), plan
