"""The canary read model: folding event by event equals a rebuild, and a replay to any position."""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_properties import result_fields
from trialbook.domain import canary as c
from trialbook.domain.errors import DomainError
from trialbook.ledger import Ledger
from trialbook.ledger import canary as app
from trialbook.projections.canary import TABLES, CanaryProjection
from trialbook.projections.replay import replay_to

ARMS = ("router-v1", "router-v2")


def dump(conn: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3").fetchall() for t in TABLES}


@st.composite
def steps(draw: Any) -> list[tuple[str, Any]]:
    names = draw(st.lists(st.sampled_from(["a", "b"]), min_size=1, max_size=2, unique=True))
    out: list[tuple[str, Any]] = [("create", n) for n in names]
    for _ in range(draw(st.integers(1, 14))):
        name = draw(st.sampled_from(names))
        kind = draw(st.sampled_from(["results", "results", "results", "decide"]))
        if kind == "results":
            rows = []
            for _ in range(draw(st.integers(1, 4))):
                r = draw(result_fields(ARMS)).model_dump(exclude_none=True)
                r["stage"] = draw(st.none() | st.integers(1, 3))
                rows.append(r)
            out.append(("results", (name, rows)))
        else:
            action = draw(st.sampled_from(["advance", "advance", "halt", "rollback", "complete"]))
            out.append(("decide", (name, action, draw(st.booleans()))))
    return out


def play(ledger: Ledger, plan: list[tuple[str, Any]]) -> None:
    for kind, x in plan:
        with contextlib.suppress(DomainError):
            if kind == "create":
                app.create(
                    ledger, x, control=ARMS[0], candidate=ARMS[1], stages="10,50,100",
                    guardrails=["error_rate:+2pp", "failed_call_ratio:+5pp"], min_results=2, salt=x,
                )  # fmt: skip
            elif kind == "results":
                app.add_results(ledger, x[0], x[1])
            else:
                name, action, force = x
                options = {"force": force} if action in ("advance", "complete") else {}
                app.decide(ledger, name, action, **options)


@pytest.mark.slow
@given(steps())
@settings(deadline=None, max_examples=30, suppress_health_check=[HealthCheck.too_slow])
def test_folding_event_by_event_gives_the_tables_a_rebuild_gives(
    plan: list[tuple[str, Any]],
) -> None:
    with tempfile.TemporaryDirectory() as d:
        ledger = Ledger(Path(d) / "c.db", synchronous="OFF")
        play(ledger, plan)
        live = dump(ledger.conn)
        ledger.rebuild_projections(["canary"])
        assert dump(ledger.conn) == live
        ledger.close()


@pytest.mark.slow
@given(steps(), st.data())
@settings(deadline=None, max_examples=20, suppress_health_check=[HealthCheck.too_slow])
def test_replaying_to_any_position_then_the_rest_equals_the_live_tables(
    plan: list[tuple[str, Any]], data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as d:
        ledger = Ledger(Path(d) / "c.db", synchronous="OFF")
        play(ledger, plan)
        head = ledger.store.head()[0]
        cut = data.draw(st.integers(0, head), label="cut")
        live = dump(ledger.conn)
        p = CanaryProjection()
        with replay_to(ledger.store, [p], cut) as view:
            rest = [e for e in ledger.store.read_all(after_position=cut) if e.type in p.handles]
            if rest:
                p.apply(view.conn, rest)
            assert dump(view.conn) == live
        ledger.close()


def test_the_state_the_ledger_folds_agrees_with_the_read_model(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "c.db", synchronous="OFF")
    app.create(ledger, "a", control=ARMS[0], candidate=ARMS[1], min_results=2, salt="a")
    app.add_results(ledger, "a", [{"variant": ARMS[1]}, {"variant": ARMS[1]}, {"variant": ARMS[0]}])
    app.decide(ledger, "a", "advance")
    app.add_results(ledger, "a", [{"variant": ARMS[0], "stage": 1}, {"variant": ARMS[1]}])
    state, _, _ = ledger.load(
        c.AddCanaryResults(canary="a", results=(c.CanaryResultFields(variant=ARMS[0]),))
    )
    row = app.require(ledger, "a")
    assert (state.stage, state.status, state.results) == (
        row["stage"],
        row["status"],
        row["results"],
    )
    counts = {
        (s, a): n
        for s, a, n in ledger.conn.execute("SELECT stage, arm, results FROM canary_counts")
    }
    assert counts == {(1, "candidate"): 2, (1, "control"): 2, (2, "candidate"): 1}
    assert state.counts == ((2, 2), (0, 1), (0, 0))
    ledger.close()
