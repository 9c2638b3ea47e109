"""Point-in-time replay in bulk: same tables as event-by-event, and the live file untouched."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

from tests.test_properties import dump
from trialbook.domain import ab
from trialbook.domain.commands import build
from trialbook.ledger import Ledger
from trialbook.projections import default_projections
from trialbook.projections.replay import replay_to


def file_digest(path: Path) -> str:
    conn = sqlite3.connect(path)
    rows = [
        conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
        for t in ("events", "ab_results", "ab_variants")
    ]
    conn.close()
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def test_a_bulk_replay_equals_the_live_tables_at_that_point_and_writes_nothing_live(
    tmp_path: Path,
) -> None:
    path = tmp_path / "live.db"
    ledger = Ledger(path, synchronous="OFF")
    ledger.execute(build(ab.CreateTest, name="a", variants=("x", "y")))
    ledger.execute(build(ab.CreateTest, name="b", variants=("x", "y")))
    snapshots = {}
    for i in range(30):
        ledger.execute(
            build(
                ab.AddResults,
                test="a" if i % 3 else "b",
                results=(
                    ab.ResultFields(
                        variant="xy"[i % 2],
                        tool_calls=i,
                        successful_calls=i // 2,
                        completion_time=i * 1.5,
                        success=i % 4 != 0,
                        metrics={"m": i / 7},
                    ),
                ),
            )
        )
        snapshots[ledger.store.head()[0]] = dump(ledger.conn)
    ledger.execute(build(ab.ArchiveTest, test="b"))
    snapshots[ledger.store.head()[0]] = dump(ledger.conn)
    before = file_digest(path)
    for position in (3, 10, 17, 32, 33):
        with replay_to(ledger.store, default_projections(), position) as view:
            assert dump(view.conn) == snapshots[position]
        with replay_to(ledger.store, default_projections(), position, stream_id="ab:a") as view:
            tests = [r[0] for r in view.conn.execute("SELECT name FROM ab_tests")]
            assert tests == ["a"]
            live_a = [r for r in snapshots[position]["ab_results"] if r[1] == "a"]
            assert view.conn.execute("SELECT * FROM ab_results ORDER BY 1").fetchall() == live_a
    assert file_digest(path) == before
    ledger.close()


def test_the_bulk_path_is_the_one_taken(tmp_path: Path, monkeypatch) -> None:
    from trialbook.projections.base import Projector

    ledger = Ledger(tmp_path / "live.db", synchronous="OFF")
    ledger.execute(build(ab.CreateTest, name="a", variants=("x", "y")))
    ledger.execute(
        build(ab.AddResults, test="a", results=(ab.ResultFields(variant="x", success=True),))
    )

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the event-by-event replay ran")

    monkeypatch.setattr(Projector, "replay", refuse)
    with replay_to(ledger.store, default_projections(), 2) as view:
        assert view.conn.execute("SELECT sum(results) FROM ab_variants").fetchone() == (1,)
    ledger.close()
