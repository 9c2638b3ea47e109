"""Decision reports (``trialbook report``, ``tb.report``) over the rich fixture log of tests/web_fixture.py.

Every figure is recomputed here from the events it cites, read straight from
the SQLite file: counts, means and quantiles by hand, and the analyses by
appending exactly the cited events to an empty log and asking the public API
there. The Markdown is parsed back and must say the same.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

import trialbook
from tests.web_fixture import CANARY, PAYLOADS, TEST, XSS_CASE, XSS_TEST, WebDb, build
from trialbook.reports.common import cite_text, expand, fmt_value, parse_cites, say
from trialbook.shell.cli import cli
from trialbook.store.base import NewEvent


@pytest.fixture(scope="module")
def web_db(tmp_path_factory: pytest.TempPathFactory) -> WebDb:
    return build(tmp_path_factory.mktemp("reports-web"))


def run(db: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--db", str(db), "report", *args], catch_exceptions=False)


REPORTS = {
    "ab": ("ab", TEST, {}),
    "ab-xss": ("ab", XSS_TEST, {}),
    "eval": ("eval", "cand", {"baseline": "base"}),
    "canary": ("canary", CANARY, {}),
}


@pytest.fixture(scope="module")
def docs(web_db: WebDb) -> dict[str, dict[str, Any]]:
    with trialbook.open(web_db.path) as tb:
        return {
            key: tb.report(kind, name, **opts).model_dump(mode="json")
            for key, (kind, name, opts) in REPORTS.items()
        }


# --------------------------------------------------------------------------- reading the log by hand


def read_events(db: Path, positions: list[int]) -> list[dict[str, Any]]:
    conn = sqlite3.connect(db)
    try:
        out = []
        for a, b in _runs(positions):
            for row in conn.execute(
                "SELECT position, stream_id, type, schema_version, data, metadata FROM events "
                "WHERE position BETWEEN ? AND ? ORDER BY position",
                (a, b),
            ):
                out.append(
                    dict(
                        zip(
                            ("position", "stream_id", "type", "schema_version"),
                            row[:4],
                            strict=True,
                        )
                    )
                    | {"data": json.loads(row[4]), "metadata": json.loads(row[5])}
                )
        return out
    finally:
        conn.close()


def _runs(positions: list[int]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for p in sorted(positions):
        if out and p == out[-1][1] + 1:
            out[-1][1] = p
        else:
            out.append([p, p])
    return [(a, b) for a, b in out]


def selected(events: list[dict[str, Any]], select: dict[str, Any] | None) -> list[dict[str, Any]]:
    if select is None:
        return events
    types = select["type"] if isinstance(select["type"], list) else [select["type"]]
    return [
        e
        for e in events
        if e["stream_id"] == select["stream"]
        and e["type"] in types
        and all(e["data"].get(k) == v for k, v in select["data"].items())
        and (select.get("has") is None or e["data"].get(select["has"]) is not None)
    ]


def at_path(doc: Any, path: list[Any]) -> Any:
    for step in path:
        if isinstance(step, dict):
            doc = next(x for x in doc if all(x.get(k) == v for k, v in step.items()))
        else:
            doc = doc[step]
    return doc


_REPLAYS: dict[tuple[Any, ...], Any] = {}


def replayed(
    tmp: Path, db: Path, positions: list[int], read: str, runs: list[str], subject: str
) -> Any:
    """Append exactly the cited events, in order, to an empty log; read ``read`` there."""
    key = (str(db), tuple(positions), read, tuple(runs), subject)
    if key not in _REPLAYS:
        _REPLAYS[key] = _replay(tmp, db, positions, read, runs, subject)
    return _REPLAYS[key]


def _replay(
    tmp: Path, db: Path, positions: list[int], read: str, runs: list[str], subject: str
) -> Any:
    path = tmp / f"replay-{len(list(tmp.iterdir()))}.db"
    with trialbook.open(path, synchronous="OFF") as tb:
        store = tb._ledger.store  # type: ignore[union-attr]
        batch: list[NewEvent] = []
        stream = None
        for e in read_events(db, positions):
            if e["stream_id"] != stream and batch:
                store.append(stream, None, batch)
                batch = []
            stream = e["stream_id"]
            batch.append(NewEvent(e["type"], e["data"], e["schema_version"], e["metadata"]))
        if batch:
            store.append(stream, None, batch)
    with trialbook.open(path) as tb:
        if read == "ab.analyze":
            return tb.ab.analyze(subject).model_dump(mode="json")
        if read == "ab.history":
            from trialbook.domain.stats import interval_history
            from trialbook.ledger.analysis import analysis_input, snapshot
            from trialbook.web.reads import PLOT_LOOKS

            with tb._use() as ledger:
                snap = snapshot(ledger, subject, rows=True)
                return interval_history(analysis_input(snap), max_looks=PLOT_LOOKS)
        if read == "evals.history":  # the pairs eval compare analyses, look after look
            from trialbook.domain.stats import interval_history
            from trialbook.ledger.eval_compare import analysis_input
            from trialbook.web.reads import PLOT_LOOKS

            with tb._use() as ledger, ledger.store.read_transaction() as conn:
                inp = analysis_input(conn, runs[0], runs[1])
                assert inp is not None
                return interval_history(inp, max_looks=PLOT_LOOKS)
        if read == "evals.compare":
            return tb.evals.compare(runs[0], runs[1]).model_dump(mode="json")
        if read == "evals.show":
            from trialbook.ledger.evals import run_report

            with tb._use() as ledger:
                return run_report(ledger, runs[0])
        if read == "canary.status":
            return tb.canary(subject).status().model_dump(mode="json")
        if read == "canary.history":  # canary status's comparison, look after look
            from trialbook.ledger.canary import history
            from trialbook.web.reads import PLOT_LOOKS

            with tb._use() as ledger:
                return history(ledger, subject, max_looks=PLOT_LOOKS)
    raise AssertionError(read)


def recompute(tmp: Path, db: Path, doc: dict[str, Any], f: dict[str, Any]) -> Any:
    events = selected(read_events(db, expand(f["cites"])), f["select"])
    basis = f["basis"]
    if basis.get("count"):
        return len(events)
    if "mean" in basis:
        return float(np.mean([float(e["data"][basis["mean"]]) for e in events]))
    if "quantile" in basis:
        return float(
            np.quantile([float(e["data"][basis["field"]]) for e in events], basis["quantile"])
        )
    if "replay" in basis:
        got = replayed(
            tmp, db, expand(f["cites"]), basis["replay"], basis.get("runs", []), doc["subject"]
        )
        return at_path(got, basis["path"])
    raise AssertionError(f"unknown basis {basis}")


def same(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    return bool(a == b)


# --------------------------------------------------------------------------- the reports


class TestReportsOfEachKind:
    def test_each_kind_has_scope_a_matrix_a_recommendation_and_plots(
        self, docs: dict[str, Any]
    ) -> None:
        for key, doc in docs.items():
            assert doc["schema_version"] == 1 and doc["kind"] == REPORTS[key][0]
            ids = {r["id"] for r in doc["matrix"]}
            assert {"enough_results", "primary" if doc["kind"] != "ab" else "sample_ratio",
                    "latency_budget", "cost_budget", "reproducibility"} <= ids | {"primary"}, ids  # fmt: skip
            assert all(
                r["status"] in ("ready", "partial", "gap") and r["summary"] for r in doc["matrix"]
            )
            assert doc["scope"]["by"] and doc["scope"]["by"][0]["actor"]
            assert doc["recommendation"]["reason"] and doc["recommendation"]["would_change"]
        ab = docs["ab"]
        assert ab["recommendation"] == {
            **ab["recommendation"],
            "decision": "ship",
            "variant": "warm",
        }
        assert {r["id"] for r in ab["matrix"]} >= {
            "primary.warm",
            "guardrail.completion_time.warm",
            "pairing",
        }
        assert len(ab["plots"]["lift"]["n"]) > 10 and set(ab["plots"]["latency"]) == {
            "cold",
            "warm",
        }
        ev = docs["eval"]
        assert {"judge_agreement", "scoring_errors", "pairing"} <= {r["id"] for r in ev["matrix"]}
        assert ev["plots"]["cases"]["losses"] == 2 and ev["scope"]["baseline"] == "base"
        reproducible = next(r for r in ev["matrix"] if r["id"] == "reproducibility")
        assert (
            reproducible["status"] == "partial"
            and "different suite versions" in reproducible["summary"]
        )
        assert docs["canary"]["recommendation"]["decision"] == "halt"

    def test_an_eval_run_without_a_baseline_is_a_gap(self, web_db: WebDb) -> None:
        with trialbook.open(web_db.path) as tb:
            doc = tb.report.eval("base")
        assert doc.recommendation.decision == "no_baseline"
        assert next(r for r in doc.matrix if r.id == "primary").status == "gap"
        assert not doc.check.passed and doc.check.reason.startswith("gap in primary")

    def test_every_json_figure_recomputes_from_the_events_it_cites(
        self, docs: dict[str, Any], web_db: WebDb, tmp_path: Path
    ) -> None:
        checked = 0
        for doc in docs.values():
            for f in doc["figures"]:
                got = recompute(tmp_path, web_db.path, doc, f)
                assert same(f["value"], got), (doc["subject"], f["key"], f["value"], got)
                checked += 1
            rec = doc["recommendation"]
            if rec["basis"] is not None:  # the reason is the analysis's own words, replayed
                fake = {"cites": rec["cites"], "select": None, "basis": rec["basis"]}
                assert recompute(tmp_path, web_db.path, doc, fake) == rec["reason"], doc["subject"]
                checked += 1
            for who in doc["scope"]["by"]:
                assert len(expand(who["cites"])) == who["events"]
            for name, plot in (doc["plots"].get("latency") or {}).items():
                events = selected(read_events(web_db.path, expand(plot["cites"])), plot["select"])
                assert [e["data"][plot["basis"]["values"]] for e in events] == plot["values"], name
            cases = doc["plots"].get("cases")
            if cases:
                got = recompute(tmp_path, web_db.path, doc, {**cases, "select": None})
                assert [
                    (r["case_id"], r["epoch"], r["a_score"], r["b_score"], r["outcome"])
                    for r in got
                ] == [
                    (r["case_id"], r["epoch"], r["a"], r["b"], r["outcome"]) for r in cases["rows"]
                ]
                outcomes = [r["outcome"] for r in got]
                assert [cases[k] for k in ("wins", "ties", "losses")] == [
                    outcomes.count(k) for k in ("win", "tie", "loss")
                ]
            stages = doc["plots"].get("stages")
            if stages:
                got = recompute(tmp_path, web_db.path, doc, {**stages, "select": None})
                assert [(r["rate"], r["planned"]) for r in stages["rows"]] == [
                    (s["candidate_share"], s["percent"] / 100) for s in got
                ]
                checked += 2
        assert checked > 40

    @pytest.mark.parametrize("key, candidate", [("ab", "warm"), ("eval", "cand")])
    def test_the_lift_plot_is_the_replayed_history(
        self, docs: dict[str, Any], web_db: WebDb, tmp_path: Path, key: str, candidate: str
    ) -> None:
        doc = docs[key]
        plot = doc["plots"]["lift"]
        basis = plot["basis"]
        got = replayed(tmp_path, web_db.path, expand(plot["cites"]), basis["replay"],
                       basis.get("runs", []), doc["subject"])  # fmt: skip
        assert got["n"] == plot["n"] and got["decision"] == plot["decision"]
        assert set(plot["variants"]) == {candidate} and len(plot["n"]) >= 2
        for field in ("lift", "ci"):
            assert same(got["variants"][candidate][field], plot["variants"][candidate][field])

    def test_the_canary_lift_plot_is_the_replayed_history(
        self, docs: dict[str, Any], web_db: WebDb, tmp_path: Path
    ) -> None:
        """Appending exactly the cited events to an empty log and asking for the canary's
        history there gives the plot; the strip is the stage rule's word at each look."""
        doc = docs["canary"]
        plot = doc["plots"]["lift"]
        assert plot["basis"] == {"replay": "canary.history"}
        cited = expand(plot["cites"])
        got = replayed(tmp_path, web_db.path, cited, "canary.history", [], doc["subject"])
        for field in ("n", "stage", "status", "action", "level"):
            assert got[field] == plot[field], field
        assert set(plot["variants"]) == {"router-v2"} and len(plot["n"]) == 400  # PLOT_LOOKS
        for field in ("lift", "ci"):
            assert got["variants"]["router-v2"][field] == plot["variants"]["router-v2"][field]
        # the same decisions after the same counts of results (positions are the original log's)
        strip = lambda ms: [{k: v for k, v in m.items() if k != "position"} for m in ms]  # noqa: E731
        assert strip(got["markers"]) == strip(plot["markers"])
        assert [m["kind"] for m in plot["markers"]] == ["advanced", "halted"]
        types = {e["position"]: e["type"] for e in read_events(web_db.path, cited)}
        assert [types[m["position"]] for m in plot["markers"]] == ["CanaryAdvanced", "CanaryHalted"]
        assert plot["markers"][0]["n"] == 300 and plot["markers"][1]["n"] == plot["results"] == 420
        ended = {"halted": "halt", "rolled_back": "rollback", "completed": "ship"}
        said = {"advance": "ship", "complete": "ship", "wait": "keep_collecting", "halt": "halt"}
        assert plot["decision"] == [
            ended[st] if a == "none" else said[a]
            for st, a in zip(plot["status"], plot["action"], strict=True)
        ]
        assert {"ship", "keep_collecting"} <= set(plot["decision"])  # stage 1 got ready

    def test_the_canary_lift_plot_ends_at_canary_status(
        self, docs: dict[str, Any], web_db: WebDb
    ) -> None:
        """The last look is exactly `canary status --json`'s comparison at the report's position,
        and its rule is that status's as of the last result (the halt came after it)."""
        doc = docs["canary"]
        plot, cand = doc["plots"]["lift"], doc["plots"]["lift"]["variants"]["router-v2"]
        now = web_db.cli("canary", "status", CANARY)
        assert now["position"] == doc["position"] and now["status"] == "halted"
        assert plot["n"][-1] == now["results"]["total"]
        assert cand["lift"][-1] == now["metric"]["difference"] is not None
        assert cand["ci"][-1] == now["metric"]["ci"] is not None
        last = max(e["position"] for e in read_events(web_db.path, expand(plot["cites"]))
                   if e["type"] == "CanaryResultAdded")  # fmt: skip
        then = web_db.cli("canary", "status", CANARY, "--at", str(last))
        assert plot["action"][-1] == then["next"]["action"] and plot["status"][-1] == "running"
        assert (
            cand["lift"][-1] == then["metric"]["difference"]
            and cand["ci"][-1] == then["metric"]["ci"]
        )
        # stage 2 had its 20 candidate results and the rule said advance; the halt by hand came after
        assert (
            plot["stage"][0] == 1 and plot["stage"][-1] == 2 and then["next"]["action"] == "advance"
        )
        assert plot["decision"][-1] == "ship" and doc["recommendation"]["decision"] == "halt"

    def test_a_canary_report_at_a_position_plots_only_what_was_known_then(
        self, docs: dict[str, Any], web_db: WebDb
    ) -> None:
        plot = docs["canary"]["plots"]["lift"]
        results = [e for e in read_events(web_db.path, expand(plot["cites"]))
                   if e["type"] == "CanaryResultAdded"]  # fmt: skip
        at = results[309]["position"]  # 10 results into stage 2: the advance is known, the halt not
        r = run(web_db.path, "canary", CANARY, "--at", str(at), "--format", "json")
        assert r.exit_code == 0, r.output
        past = json.loads(r.output)["plots"]["lift"]
        assert past["n"] == list(range(1, 311)) and past["results"] == 310
        assert [m["kind"] for m in past["markers"]] == ["advanced"]
        assert all(p <= at for p in expand(past["cites"]))
        then = web_db.cli("canary", "status", CANARY, "--at", str(at))
        cand = past["variants"]["router-v2"]
        assert (
            cand["lift"][-1] == then["metric"]["difference"]
            and cand["ci"][-1] == then["metric"]["ci"]
        )
        assert past["action"][-1] == then["next"]["action"]
        # every look is the full history's look after as many results (nothing later leaks in)
        from trialbook.ledger.canary import history

        with trialbook.open(web_db.path) as tb, tb._use() as ledger:
            full = history(ledger, CANARY)
        for field in ("stage", "status", "action"):
            assert past[field] == full[field][:310], field
        for field in ("lift", "ci"):
            assert cand[field] == full["variants"]["router-v2"][field][:310], field

    def test_the_canary_html_draws_the_plot_with_its_decisions(self, docs: dict[str, Any]) -> None:
        from trialbook.reports import render

        page = render(docs["canary"], "html")
        lift = page.split('id="plot-lift"', 1)[1].split('id="plot-stages"', 1)[0]
        assert 'class="lift"' in lift and 'class="band"' in lift
        assert lift.count('class="marker"') == 2 and "advanced to 50%" in lift and "halted" in lift
        assert 'data-decision="ship"' in lift and 'data-decision="keep_collecting"' in lift
        assert "success lift" in lift
        assert render(docs["canary"], "markdown").count("Plots: render this report with") == 1

    def test_the_eval_lift_plot_ends_at_the_compared_analysis(self, docs: dict[str, Any]) -> None:
        """Its last look is the always-valid lift and interval the primary row quotes, after
        every pair: two results per pair, both runs' (case, epoch) scored on both sides."""
        doc = docs["eval"]
        plot, figures = doc["plots"]["lift"], {f["key"]: f["value"] for f in doc["figures"]}
        assert plot["n"][-1] == plot["results"] == 2 * figures["pairs"]
        assert same(plot["variants"]["cand"]["lift"][-1], figures["always_valid.lift"])
        assert same(plot["variants"]["cand"]["ci"][-1], figures["always_valid.ci"])
        # early intervals are far wider than a difference of scores can be: the JSON keeps them,
        # the HTML draws them within -1 to 1
        from trialbook.reports import render

        assert plot["bounds"] == [-1.0, 1.0] and docs["ab"]["plots"]["lift"].get("bounds") is None
        assert max(c[1] for c in plot["variants"]["cand"]["ci"] if c is not None) > 1
        assert "Intervals drawn within -1 to +1" in render(doc, "html")

    def test_every_row_cites_events_that_exist_and_its_figures(self, docs: dict[str, Any]) -> None:
        for doc in docs.values():
            keys = {f["key"]: f for f in doc["figures"]}
            for r in doc["matrix"]:
                assert all(1 <= p <= doc["position"] for p in expand(r["cites"]))
                for k in r["figures"]:
                    assert k in keys, (r["id"], k)
                    # the numbers a summary quotes are its figures' values (intervals too), in
                    # their units as `ab analyze` and `eval show` print them
                    if keys[k]["value"] is not None:
                        shown = say(keys[k]["value"], keys[k]["unit"])
                        assert shown in r["summary"], (r["id"], k, shown, r["summary"])

    def test_the_markdown_says_the_same_numbers_and_citations(
        self, docs: dict[str, Any], web_db: WebDb
    ) -> None:
        from trialbook.reports import render

        for doc in docs.values():
            text = render(doc, "markdown")
            rows = {}
            section = text.split("## Figures", 1)[1]
            for line in section.splitlines():
                cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
                if len(cells) == 6 and cells[0] not in ("key", "---"):
                    rows[cells[0].replace("\\|", "|")] = cells
            assert len(rows) == len(doc["figures"])
            for f in doc["figures"]:
                cells = rows[f["key"].replace("<", "&lt;").replace(">", "&gt;")]
                assert cells[2] == fmt_value(f["value"], f["unit"])
                assert parse_cites(cells[3]) == f["cites"]
            for r in doc["matrix"]:
                assert f"| {cite_text(r['cites'])} |" in text

    def test_as_of_gives_the_report_of_that_time(self, web_db: WebDb) -> None:
        conn = sqlite3.connect(web_db.path)
        (when,) = conn.execute("SELECT recorded_at FROM events WHERE position = 300").fetchone()
        conn.close()
        r = run(web_db.path, "ab", TEST, "--as-of", when, "--format", "json")
        assert r.exit_code == 0, r.output
        doc = json.loads(r.output)
        past = web_db.cli("ab", "analyze", TEST, "--as-of", when)
        assert doc["position"] == past["position"] and doc["as_of"] is not None
        warm = next(v for v in past["variants"] if v["name"] == "warm")
        figures = {f["key"]: f["value"] for f in doc["figures"]}
        assert figures["ci.warm"] == warm["ci"] and figures["lift.warm"] == warm["lift"]
        assert figures["results.cold"] + figures["results.warm"] == sum(
            v["results"] for v in past["variants"]
        )
        assert doc["recommendation"]["reason"] == past["recommendation"]["reason"]
        at = run(web_db.path, "ab", TEST, "--at", str(past["position"]), "--format", "json")
        assert json.loads(at.output)["figures"] == doc["figures"]


class TestCheck:
    def test_ship_exits_0(self, web_db: WebDb) -> None:
        r = run(web_db.path, "ab", TEST, "--check", "--format", "json")
        assert r.exit_code == 0, r.output
        assert "check passed: ship warm" in r.stderr

    def test_keep_collecting_exits_1_and_says_why(self, web_db: WebDb) -> None:
        r = run(web_db.path, "ab", XSS_TEST, "--check")
        assert r.exit_code == 1
        assert (
            r.stderr.strip()
            .splitlines()[-1]
            .startswith("check failed: the recommendation is keep collecting, not ship")
        )

    def test_a_gap_exits_1_even_when_the_recommendation_is_ship(self, web_db: WebDb) -> None:
        r = run(web_db.path, "ab", TEST, "--check", "--latency-budget", "30", "--format", "json")
        assert r.exit_code == 1
        doc = json.loads(r.stdout)
        assert doc["recommendation"]["decision"] == "ship"
        assert next(x for x in doc["matrix"] if x["id"] == "latency_budget")["status"] == "gap"
        assert r.stderr.strip() == "check failed: " + doc["check"]["reason"]
        assert doc["check"]["reason"].startswith("gap in latency_budget")

    def test_budgets_take_units_as_the_other_commands_do(self, web_db: WebDb) -> None:
        """`--latency-budget 30s` and `--cost-budget '$0.5'`/`50c` are the plain numbers' reports
        (`--budget` of eval run reads money so, and a newcomer tried it here, #24)."""
        docs = []
        for latency, cost in (("30", "0.5"), ("30s", "$0.5"), ("0.5min", "50c")):
            r = run(web_db.path, "ab", TEST, "--latency-budget", latency, "--cost-budget", cost,
                    "--format", "json")  # fmt: skip
            assert r.exit_code == 0, r.output
            doc = json.loads(r.stdout)
            docs.append([x for x in doc["matrix"] if x["id"] in ("latency_budget", "cost_budget")])
        assert docs[0] == docs[1] == docs[2] and len(docs[0]) == 2
        other = json.loads(
            run(
                web_db.path,
                "ab",
                TEST,
                "--latency-budget",
                "31",
                "--cost-budget",
                "0.6",
                "--format",
                "json",
            ).stdout  # fmt: skip
        )
        assert [x for x in other["matrix"] if x["id"] in ("latency_budget", "cost_budget")] != docs[
            0
        ]
        r = run(web_db.path, "ab", TEST, "--cost-budget", "two dollars")
        assert r.exit_code == 2 and "--cost-budget" in r.output and "Traceback" not in r.output

    def test_a_halted_canary_and_an_unclear_eval_exit_1(self, web_db: WebDb) -> None:
        assert run(web_db.path, "canary", CANARY, "--check").exit_code == 1
        assert run(web_db.path, "eval", "cand", "--baseline", "base", "--check").exit_code == 1

    @pytest.mark.parametrize(
        "args, message",
        [
            (("ab", "nope"), "Error: no A/B test named 'nope'; see `trialbook ab list`"),
            (
                ("ab", "checkout-flo"),
                "Error: no A/B test named 'checkout-flo' (did you mean checkout-flow?)",
            ),
            (("canary", "nope"), "Error: no canary named 'nope'"),
            (("eval", "nope"), "Error: no eval run"),
            (("eval", "cand", "--baseline", "cand"), "Error: --baseline 'cand' is the run itself"),
            (
                ("eval", "cand", "--baseline", "nope"),
                "Error: no eval run 'nope'; see `trialbook eval list`",
            ),
            (("ab", TEST, "--at", "1", "--as-of", "2020-01-01T00:00:00Z"), "Error: give --as-of"),
            (("ab", TEST, "--at", "99999"), "Error: position 99999 is not in the log"),
            (
                ("ab", TEST, "--latency-budget", "-5"),
                "Error: --latency-budget: -5.0 is not a budget; give a finite number ≥ 0",
            ),
            (
                ("canary", CANARY, "--cost-budget", "nan"),
                "Error: --cost-budget: nan is not a budget; give a finite number ≥ 0",
            ),
            (
                ("eval", "cand", "--cost-budget", "inf"),
                "Error: --cost-budget: inf is not a budget; give a finite number ≥ 0",
            ),
        ],
    )
    def test_errors_are_one_line_and_exit_2(
        self, web_db: WebDb, args: tuple[str, ...], message: str
    ) -> None:
        before = _count(web_db.path)
        r = run(web_db.path, *args, "--check")
        assert r.exit_code == 2, r.output
        assert r.output.startswith(message) and len(r.output.strip().splitlines()) == 1
        assert _count(web_db.path) == before  # nothing appended

    def test_an_output_that_cannot_be_written_is_one_line_and_exit_2(
        self, web_db: WebDb, tmp_path: Path
    ) -> None:
        missing = tmp_path / "no" / "such.md"
        r = run(web_db.path, "ab", TEST, "--output", str(missing))
        assert r.exit_code == 2, r.output
        assert (
            r.output
            == f"Error: --output: directory {missing.parent} does not exist; create it first\n"
        )
        full = run(web_db.path, "ab", TEST, "--output", "/dev/full")  # a write that fails
        assert full.exit_code == 2, full.output
        assert full.output == "Error: --output: cannot write /dev/full: No space left on device\n"
        assert not missing.parent.exists()

    def test_an_output_that_is_the_database_is_refused(self, web_db: WebDb) -> None:
        before = _count(web_db.path)
        r = run(web_db.path, "ab", TEST, "--output", str(web_db.path))
        assert r.exit_code == 2, r.output
        assert r.output == (
            f"Error: --output: {web_db.path} is the trialbook database (or its journal); "
            "name another file\n"
        )
        assert _count(web_db.path) == before  # the log is still there, whole

    def test_the_api_raises_the_public_exceptions(self, web_db: WebDb) -> None:
        with trialbook.open(web_db.path) as tb:
            with pytest.raises(trialbook.NotFound, match="no A/B test named 'nope'"):
                tb.report("ab", "nope")
            with pytest.raises(trialbook.InvalidCommand, match="unknown report kind"):
                tb.report("survey", TEST)
            with pytest.raises(
                trialbook.InvalidCommand, match="^--latency-budget: -1 is not a budget"
            ):
                tb.report.ab(TEST, latency_budget=-1)


def test_no_interval_with_enough_results_says_why_not_too_few(tmp_path: Path) -> None:
    with trialbook.open(tmp_path / "t.db") as tb:
        tb.ab.create("flat", variants=["a", "b"], metric="completion_time")
        for i in range(6):  # enough results, every one the same: no spread, no interval
            for v in ("a", "b"):
                tb.ab.add_result("flat", variant=v, completion_time=0, case_id=f"c{i}")
        row = next(r for r in tb.report.ab("flat").matrix if r.id == "primary.b")
    assert row.status == "gap"
    assert "too few results" not in row.summary
    assert row.summary.startswith("b vs a: no interval yet (no spread in the data")


def _count(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    finally:
        conn.close()


class TestFiles:
    def test_output_writes_the_file_and_html_escapes_every_name(
        self, web_db: WebDb, tmp_path: Path
    ) -> None:
        for args in (("ab", XSS_TEST), ("eval", "cand", "--baseline", "base"), ("canary", CANARY)):
            out = tmp_path / f"{args[0]}.html"
            r = run(web_db.path, *args, "--format", "html", "--output", str(out))
            assert r.exit_code == 0, r.output
            page = out.read_text(encoding="utf-8")
            assert page.startswith("<!doctype html>") and "<svg" in page
            assert "<script" not in page and "onerror=" not in page.replace("onerror=&quot;", "")
            assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
                "http://127.0.0.1", ""
            )
        eval_page = (tmp_path / "eval.html").read_text(encoding="utf-8")
        from html import escape

        assert escape(XSS_CASE) in eval_page  # the payload case id is there, as text
        assert all(p not in eval_page for p in PAYLOADS)

    def test_markdown_cells_cannot_open_html(self, docs: dict[str, Any]) -> None:
        from trialbook.reports import render
        from trialbook.reports.markdown import cell

        for doc in docs.values():
            assert "<script" not in render(doc, "markdown")
        for payload in (*PAYLOADS, XSS_CASE, "a | b\nc"):
            text = cell(payload)
            assert "<" not in text and ">" not in text and "\n" not in text
            assert re.search(r"(?<!\\)\|", text) is None  # a pipe cannot end the cell


class TestCanaryReady:
    def test_a_canary_the_stage_rule_would_advance_reads_ship_and_passes_the_check(
        self, tmp_path: Path
    ) -> None:
        db = tmp_path / "canary.db"
        with trialbook.open(db) as tb:
            c = tb.canaries.create("fast", control="a", candidate="b", stages="10,50,100",
                                   min_results=20, salt="s")  # fmt: skip
            c.add_results(
                {
                    "variant": c.assign(f"u{i}"),
                    "success": i % 5 != 0,
                    "completion_time": 1.0 + i % 7,
                }
                for i in range(400)
            )
            status = c.status()
            report = tb.report.canary("fast", latency_budget=10.0)
        assert status.next["action"] == "advance"
        assert report.recommendation.decision == "ship" and report.recommendation.variant == "b"
        rows = {r.id: r.status for r in report.matrix}
        assert rows["latency_budget"] == "ready" and "gap" not in rows.values()
        assert report.check.passed
        r = run(db, "canary", "fast", "--latency-budget", "10", "--check", "--format", "json")
        assert r.exit_code == 0 and json.loads(r.stdout)["check"]["passed"]
        assert run(db, "canary", "fast", "--latency-budget", "5", "--check").exit_code == 1


class TestCitations:
    @given(st.sets(st.integers(min_value=1, max_value=500), max_size=60))
    def test_ranges_round_trip_through_their_text(self, positions: set[int]) -> None:
        from trialbook.reports.common import ranges

        runs = ranges(positions)
        assert expand(runs) == sorted(positions)
        assert parse_cites(cite_text(runs)) == runs
        # runs are maximal: two never touch
        assert all(b[0] > a[1] + 1 for a, b in zip(runs, runs[1:], strict=False))

    @given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=1, max_size=40),
           st.sampled_from([0.0, 0.25, 0.5, 0.95, 1.0]))  # fmt: skip
    def test_the_quantile_is_numpys_linear_one(self, xs: list[float], q: float) -> None:
        from trialbook.reports.common import quantile

        got = quantile(xs, q)
        assert got is not None and math.isclose(
            got, float(np.quantile(xs, q)), rel_tol=1e-9, abs_tol=1e-9
        )


class TestSummaryNumbers:
    """A summary writes a figure as the analysis texts print the same quantity."""

    @given(st.floats(min_value=-1, max_value=1), st.floats(min_value=-1, max_value=1))
    def test_proportions_and_differences_read_as_ab_analyze_prints_them(
        self, x: float, y: float
    ) -> None:
        from trialbook.shell.commands.ab_analysis import _p, _Units

        binary, continuous = _Units("binary"), _Units("continuous")
        lo, hi = min(x, y), max(x, y)
        assert say(abs(x), "share") == binary.value(abs(x))
        assert say(x, "points") == binary.diff(x)
        assert say([lo, hi], "points") == binary.interval([lo, hi])
        assert say(x * 40, "difference") == continuous.diff(x * 40)
        assert say([lo, hi], "difference") == continuous.interval([lo, hi])
        assert say(x * 40) == continuous.value(x * 40)
        assert say(abs(x), "p") == _p(abs(x))

    @given(st.floats(min_value=0, max_value=5000, allow_nan=False))
    def test_costs_and_relative_changes_read_the_one_way_trialbook_prints_them(
        self, x: float
    ) -> None:
        from trialbook.domain.stats.analysis import percent
        from trialbook.domain.units import format_cost

        assert say(x, "usd") == format_cost(x)
        assert say(x / 1000 - 2, "change") == percent(x / 1000 - 2)
        assert say(None, "points") == "not yet defined" and say(None) == "-"


class TestEvalAsOf:
    def test_an_eval_report_at_a_position_counts_what_was_recorded_by_then(
        self, web_db: WebDb
    ) -> None:
        conn = sqlite3.connect(web_db.path)
        done = [p for (p,) in conn.execute(
            "SELECT position FROM events WHERE stream_id = 'eval-run:cand' AND type = 'RolloutCompleted' "
            "ORDER BY position")]  # fmt: skip
        conn.close()
        middle = done[len(done) // 2]
        r = run(
            web_db.path,
            "eval",
            "cand",
            "--baseline",
            "base",
            "--at",
            str(middle),
            "--format",
            "json",
        )
        assert r.exit_code == 0, r.output
        doc = json.loads(r.output)
        figures = {f["key"]: f["value"] for f in doc["figures"]}
        assert doc["position"] == middle
        assert figures["completed.cand"] == len([p for p in done if p <= middle])
        assert figures["pairs"] <= figures["completed.cand"]
        assert next(x for x in doc["matrix"] if x["id"] == "enough_results")["status"] == "partial"


class TestCanaryAsOf:
    def test_a_canary_report_at_its_advance_is_the_status_of_then(self, web_db: WebDb) -> None:
        conn = sqlite3.connect(web_db.path)
        (advanced,) = conn.execute(
            "SELECT position FROM events WHERE type = 'CanaryAdvanced'"
        ).fetchone()
        conn.close()
        r = run(web_db.path, "canary", CANARY, "--at", str(advanced - 1), "--format", "json")
        assert r.exit_code == 0, r.output
        doc = json.loads(r.output)
        then = web_db.cli("canary", "status", CANARY, "--at", str(advanced - 1))
        figures = {f["key"]: f["value"] for f in doc["figures"]}
        assert doc["position"] == then["position"] == advanced - 1
        assert figures["metric.ci"] == then["metric"]["ci"]
        assert figures["results.1.router-v2"] == then["results"]["by_stage"][0]["candidate"]
        assert doc["recommendation"]["reason"] == then["next"]["reason"]
        assert not any(k.startswith("results.2.") for k in figures)


class TestInTheShell:
    def test_the_repl_writes_a_report_says_an_error_in_one_line_and_keeps_going(
        self, web_db: WebDb, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        from tests.test_repl import drive
        from trialbook.shell.app import App

        out_file = tmp_path / "r.md"
        before = _count(web_db.path)
        app = App(web_db.path, interactive=True)
        status = drive(
            app,
            "report ab nope\r"
            f"report ab {XSS_TEST} --check\r"
            f"report ab {TEST} --output {out_file} --check\r"
            "exit\r",
        )
        app.close()
        out, err = capsys.readouterr()
        assert status == 0
        assert (
            "Error: no A/B test named 'nope'; see `ab list`" in err
        )  # the shell drops 'trialbook'
        assert "check failed: the recommendation is keep collecting" in err
        assert "check passed: ship warm" in err
        assert out_file.read_text(encoding="utf-8").startswith(
            f"# Decision report: A/B test {TEST}"
        )
        assert _count(web_db.path) == before


class TestTheDocumentedShape:
    def test_docs_reports_md_lists_exactly_the_json_keys(self, docs: dict[str, Any]) -> None:
        text = (Path(__file__).parent.parent / "docs" / "reports.md").read_text(encoding="utf-8")
        table = text.split("## The JSON shape", 1)[1].split("\n\n", 2)[1]
        documented = []
        for line in table.splitlines()[2:]:
            documented += re.findall(r"`([a-z_]+)`", line.split("|")[1])
        for doc in docs.values():
            assert documented == list(doc), documented
            assert all(
                list(r) == ["id", "criterion", "status", "summary", "figures", "cites"]
                for r in doc["matrix"]
            )
            assert all(
                list(f) == ["key", "label", "value", "unit", "cites", "select", "basis"]
                for f in doc["figures"]
            )
            assert list(doc["recommendation"])[:4] == [
                "decision",
                "variant",
                "reason",
                "would_change",
            ]
        ids = {r["id"].split(".")[0] for doc in docs.values() for r in doc["matrix"]}
        for row_id in ids:
            assert f"`{row_id}" in text, f"matrix row {row_id} is not documented"


def test_a_report_on_a_missing_database_says_so_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    r = run(missing, "ab", TEST, "--check")
    assert r.exit_code == 2 and r.output.startswith(f"Error: no trialbook database at {missing}")
    assert not missing.exists()


class TestEdges:
    def test_an_empty_test_a_fresh_canary_and_three_paired_variants_report_without_error(
        self, tmp_path: Path
    ) -> None:
        with trialbook.open(tmp_path / "edge.db") as tb:
            tb.ab.create("empty", variants=["a", "b"])
            tb.ab.create("three", variants=["a", "b", "c"], guardrails=["completion_time:+10%"])
            tb.ab.add_results("three", [{"variant": v, "success": (i + k) % 3 == 0, "case_id": f"c{i}", "cost": 0.01}
                                        for i in range(10) for k, v in enumerate(("a", "b", "c"))])  # fmt: skip
            tb.canaries.create("fresh", control="x", candidate="y")
            reports = {
                name: tb.report(kind, name, cost_budget=0.005)
                for kind, name in (("ab", "empty"), ("ab", "three"), ("canary", "fresh"))
            }
        for name, r in reports.items():
            for fmt in ("markdown", "json", "html"):
                assert r.render(fmt)
            assert not r.check.passed and r.check.reason.startswith("gap in "), name
        rows = {name: {m.id: m.status for m in r.matrix} for name, r in reports.items()}
        assert (
            rows["empty"]["enough_results"] == "gap" and rows["empty"]["sample_ratio"] == "partial"
        )
        assert rows["three"]["pairing"] == "ready" and {"primary.b", "primary.c"} <= set(
            rows["three"]
        )
        assert (
            rows["three"]["cost_budget"] == "gap" and rows["three"]["latency_budget"] == "partial"
        )
        assert rows["fresh"]["sample_ratio"] == "partial" and rows["fresh"]["primary"] == "gap"
        replays = tmp_path / "replays"
        replays.mkdir()
        for r in reports.values():  # paired figures, and figures of empty streams, recompute too
            doc = r.model_dump(mode="json")
            for f in doc["figures"]:
                assert same(f["value"], recompute(replays, tmp_path / "edge.db", doc, f)), f["key"]
        assert "pairs.c" in {f.key for f in reports["three"].figures}
        # the per-case plot, by hand: each case's success of b against a's, from the cited events
        cases = reports["three"].plots["cases"]
        by: dict[tuple[str, str], list[float]] = {}
        for e in read_events(tmp_path / "edge.db", expand(cases["cites"])):
            by.setdefault((e["data"]["case_id"], e["data"]["variant"]), []).append(
                float(e["data"]["success"])
            )
        expected = []
        for case in dict.fromkeys(c for c, _ in by):
            a, b = (float(np.mean(by[(case, v)])) for v in ("a", "b"))
            expected.append((case, a, b, "tie" if a == b else "win" if b > a else "loss"))
        assert [(r["case_id"], r["a"], r["b"], r["outcome"]) for r in cases["rows"]] == expected
        assert cases["wins"] + cases["losses"] > 0
        assert [cases[k] for k in ("wins", "ties", "losses")] == [
            [x[3] for x in expected].count(k) for k in ("win", "tie", "loss")
        ]
