"""The canary report's lift plot (``plots.lift``): ``canary status``'s primary comparison after
every result, from :func:`trialbook.domain.stats.canary.interval_history`.

Each look must be exactly what ``canary status --at`` says at that result's position (the
difference, its always-valid interval and the stage rule's next action), for a proportion,
a mean, a quantile and a pooled ratio as the primary metric, across stages that drift, a 100 %
stage without control, and decisions in between.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import trialbook
from trialbook.domain.canary import stream_for
from trialbook.ledger import canary as app

NAME = "plot-me"


def _record(db: Path, metric: str, *, end: str | None = "rollback") -> None:
    """A canary through three stages (20 % → 50 % → 100 %), the success rate drifting between
    stages, forced advances, and ``end`` (a decision) after the last result."""
    rng = random.Random(7)
    with trialbook.open(db, synchronous="OFF") as tb:
        c = tb.canaries.create(NAME, control="old", candidate="new", stages="20,50,100",
                               metric=metric, min_results=8, salt="plot",
                               guardrails=["error_rate:+2pp", "completion_time:p95:+10%",
                                           "failed_call_ratio:+3pp"])  # fmt: skip
        for stage, units, p in ((1, 60, 0.9), (2, 50, 0.6), (3, 12, 0.7)):
            c.add_results(
                {"variant": c.assign(f"u{stage}-{i}"), "success": rng.random() < p,
                 "tool_calls": 5, "successful_calls": 5 - (rng.random() < 0.1),
                 "completion_time": rng.lognormvariate(0, 0.4)}
                for i in range(units)
            )  # fmt: skip
            if stage < 3:
                c.advance(force=True)
        if end == "rollback":
            c.rollback()
        elif end == "halt":
            c.halt()


def _result_positions(ledger: Any) -> list[int]:
    return [
        e.position
        for e in ledger.store.read_all(stream_id=stream_for(NAME), types=["CanaryResultAdded"])
    ]


@pytest.mark.parametrize(
    "metric", ["success", "completion_time", "completion_time:p50", "failed_call_ratio"]
)
def test_every_look_is_canary_status_at_that_result(db_path: Path, metric: str) -> None:
    _record(db_path, metric)
    with trialbook.open(db_path) as tb, tb._use() as ledger:
        hist = app.history(ledger, NAME)
        positions = _result_positions(ledger)
        assert hist["n"] == list(range(1, len(positions) + 1)) == list(range(1, 123))
        cand = hist["variants"]["new"]
        defined = 0
        for i, at in enumerate(positions):
            if i % 3 and i != len(positions) - 1:
                continue
            doc = app.status(ledger, NAME, at=at)
            got = (cand["lift"][i], cand["ci"][i], hist["action"][i], hist["stage"][i])
            want = (doc["metric"]["difference"], doc["metric"]["ci"], doc["next"]["action"],
                    doc["stage"])  # fmt: skip
            assert got == want, (i, got, want)
            assert hist["status"][i] == doc["status"] == "running"
            defined += want[1] is not None
        assert defined > 20
        # the 100 % stage has no control and adds nothing: its looks keep the last comparison
        assert hist["stage"][-12:] == [3] * 12 and len(set(map(str, cand["ci"][-12:]))) == 1
        now = app.status(ledger, NAME)
        assert now["status"] == "rolled_back" and now["next"]["action"] == "none"
        assert (cand["lift"][-1], cand["ci"][-1]) == (
            now["metric"]["difference"],
            now["metric"]["ci"],
        )
        kinds = [(m["kind"], m["n"], m["stage"], m["percent"]) for m in hist["markers"]]
        assert kinds == [("advanced", 60, 2, 50.0), ("advanced", 110, 3, 100.0),
                         ("rolled_back", 122, 3, 100.0)]  # fmt: skip


def test_fewer_looks_are_the_same_looks_first_and_last_kept(db_path: Path) -> None:
    _record(db_path, "success")
    with trialbook.open(db_path) as tb, tb._use() as ledger:
        full = app.history(ledger, NAME)
        few = app.history(ledger, NAME, max_looks=9)
    assert len(few["n"]) == 9 and few["n"][0] == 1 and few["n"][-1] == 122
    for j, n in enumerate(few["n"]):
        i = n - 1
        assert few["action"][j] == full["action"][i] and few["stage"][j] == full["stage"][i]
        for field in ("lift", "ci"):
            assert few["variants"]["new"][field][j] == full["variants"]["new"][field][i]
    assert few["markers"] == full["markers"]


def test_a_halt_after_the_last_result_is_a_marker_and_the_recommendation(db_path: Path) -> None:
    _record(db_path, "success", end="halt")
    with trialbook.open(db_path) as tb:
        doc = tb.report.canary(NAME).model_dump(mode="json")
        html = tb.report.canary(NAME).render("html")
    plot = doc["plots"]["lift"]
    assert doc["recommendation"]["decision"] == "halt"
    assert plot["markers"][-1]["kind"] == "halted" and plot["markers"][-1]["n"] == 122
    assert plot["decision"][:3] == ["keep_collecting"] * 3  # no interval, no candidate results yet
    assert 'id="plot-lift"' in html and "halted" in html and "advanced to 100%" in html


def test_a_canary_without_results_has_an_empty_plot_and_no_lift_card(db_path: Path) -> None:
    with trialbook.open(db_path) as tb:
        tb.canaries.create(NAME, control="old", candidate="new", salt="s")
        report = tb.report.canary(NAME)
    plot = report.plots["lift"]
    assert plot["n"] == [] and plot["variants"] == {"new": {"lift": [], "ci": []}}
    assert plot["markers"] == [] and plot["results"] == 0
    assert 'id="plot-lift"' not in report.render("html")


def test_the_history_of_an_unknown_canary_is_a_not_found(db_path: Path) -> None:
    from trialbook.domain.errors import NotFound

    with trialbook.open(db_path) as tb, tb._use() as ledger, pytest.raises(NotFound):
        app.history(ledger, "nope")


def test_the_web_page_draws_the_reports_plot(db_path: Path) -> None:
    """Variant names are validated (no markup can reach the plot); the page's free text is escaped."""
    from trialbook.web import pages, reads

    bad = '<img src=x onerror="alert(1)">'
    rng = random.Random(3)
    with trialbook.open(db_path, synchronous="OFF") as tb:
        c = tb.canaries.create(NAME, control="old", candidate="new", stages="50,100",
                               min_results=10, salt="w", description=bad)  # fmt: skip
        c.add_results(
            {"variant": c.assign(f"u{i}"), "success": rng.random() < 0.7} for i in range(90)
        )
        c.advance(note=bad)
        report = tb.report.canary(NAME)
        with tb._use() as ledger:
            data = reads.canary_page(ledger, NAME)
    page = pages.canary_page(data, position=data["status"]["position"], database="x.db")
    plot = report.plots["lift"]
    assert data["history"]["decision"] == plot["decision"] and data["history"]["n"] == plot["n"]
    assert data["history"]["variants"] == plot["variants"] and len(plot["n"]) == 90
    card = page.split('id="metric"', 1)[1]
    assert (
        card.count('class="lift"') == 1 and 'class="marker"' in card and "advanced to 100%" in card
    )
    assert "sw-ship" in card and "stratified by stage" in card and "success lift vs old" in card
    assert bad not in page and bad not in report.render("html") and "&lt;img src=x" in page


# --------------------------------------------------------------------------- pure, by property

_results = st.lists(
    st.tuples(
        st.integers(1, 2),  # stage
        st.booleans(),  # candidate?
        st.booleans(),  # success
        st.integers(0, 4),  # failed calls of 4
        st.floats(0.01, 50.0, allow_nan=False),  # completion_time
    ),
    min_size=1,
    max_size=90,
).map(lambda rows: rows * 3)  # repeated rows: most draws reach 5 results per arm, and an interval


@settings(max_examples=60, deadline=None)
@given(rows=_results, metric=st.sampled_from(["success", "completion_time", "failed_call_ratio"]))
def test_the_last_look_is_status_document_of_the_same_results(
    rows: list[tuple[int, bool, bool, int, float]], metric: str
) -> None:
    """For any results, the history's last look is ``status_document`` of the per-stage
    statistics folded from the same results (Welford, in order), to the last bit."""
    from trialbook.domain.ab import Guardrail
    from trialbook.domain.canary import CanaryCreated
    from trialbook.domain.metrics import RATIO_PAIRS, observations
    from trialbook.domain.stats.canary import ArmData, StageData, interval_history, status_document
    from trialbook.domain.stats.moments import CoMoments, Moments, co_welford, welford

    rows = sorted(rows, key=lambda r: r[0])  # stage 2 comes after stage 1
    definition = CanaryCreated(
        name="p", control="a", candidate="b", stages=(30, 100), metric=metric, min_results=3,
        salt="s", expected_results=200,
        guardrails=(Guardrail(metric="error_rate", limit=0.02, relative=False),
                    Guardrail(metric="completion_time:p50", limit=0.1, relative=True)),
    )  # fmt: skip
    data = [
        {"variant": "b" if cand else "a", "stage": s, "success": ok, "tool_calls": 4,
         "successful_calls": 4 - failed, "completion_time": t}
        for s, cand, ok, failed, t in rows
    ]  # fmt: skip
    stage = max(r[0] for r in rows)
    events = [(i + 2, "CanaryResultAdded", d) for i, d in enumerate(data)]
    if stage == 2:  # the advance comes just before the first stage-2 result
        first = next(i for i, d in enumerate(data) if d["stage"] == 2)
        events.insert(first, (0, "CanaryAdvanced", {"stage": 1, "to_stage": 2}))
    hist = interval_history(definition, events)
    cells: dict[tuple[int, str], dict[str, Any]] = {}
    for d in data:
        c = cells.setdefault((d["stage"], "candidate" if d["variant"] == "b" else "control"),
                             {"n": 0, "m": {}, "co": {}, "v": []})  # fmt: skip
        c["n"] += 1
        obs = observations(d)
        for k, x in obs.items():
            c["m"][k] = welford(*c["m"].get(k, (0, 0.0, 0.0)), (x,))
        for pair in RATIO_PAIRS:
            if pair[0] in obs and pair[1] in obs:
                old = c["co"].get(pair, (0, 0.0, 0.0, 0.0, 0.0, 0.0))
                c["co"][pair] = co_welford(*old, ((obs[pair[0]], obs[pair[1]]),))
        c["v"].append(obs["completion_time"])

    def arm(s: int, which: str) -> ArmData:
        c = cells.get((s, which))
        if c is None:
            return ArmData()
        return ArmData(c["n"], {k: Moments(*v) for k, v in c["m"].items()},
                       {k: CoMoments(*v) for k, v in c["co"].items()},
                       {"completion_time": tuple(c["v"])})  # fmt: skip

    doc = status_document(
        definition, status="running", stage=stage, position=99,
        stages=tuple(StageData(arm(s, "control"), arm(s, "candidate")) for s in range(1, stage + 1)),
    )  # fmt: skip
    cand = hist["variants"]["b"]
    assert hist["n"][-1] == len(rows) and hist["stage"][-1] == stage
    assert cand["lift"][-1] == doc["metric"]["difference"]
    assert cand["ci"][-1] == doc["metric"]["ci"]
    assert hist["action"][-1] == doc["next"]["action"]
