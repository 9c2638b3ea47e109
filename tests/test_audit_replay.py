"""Point in time (``ab analyze --at/--as-of/--diff-now``) and decision audits (``trialbook audit``)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Invoke, count_events
from tests.test_properties import names, result_fields
from trialbook.domain import ab
from trialbook.domain.commands import build
from trialbook.domain.errors import DomainError
from trialbook.domain.stats import METHOD_VERSION
from trialbook.ledger import Ledger
from trialbook.ledger.analysis import analyze_test, open_as_of, read_snapshot
from trialbook.ledger.audit import audit_test, compare, spans
from trialbook.projections import default_projections
from trialbook.projections.replay import replay_to

TABLES = ["ab_tests", "ab_variants", "ab_results", "ab_cases", "ab_decisions"]


def dump(conn: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3").fetchall() for t in TABLES}


def conclude(ledger: Ledger, name: str, choice: str = "stop", **doc_changes: Any) -> None:
    doc = {**analyze_test(ledger, name), **doc_changes}
    ledger.execute(
        build(
            ab.ConcludeTest,
            test=name,
            choice=choice,
            analysis=doc,
            method_version=METHOD_VERSION,
            position=doc["position"],
        )
    )


@st.composite
def actions(draw: Any) -> list[tuple[str, Any]]:
    """Commands on a few tests, with decisions taken on what the analysis shows at that moment."""
    tests = draw(st.lists(names, min_size=1, max_size=2, unique=True))
    variants = ("cold", "warm")
    out: list[tuple[str, Any]] = [
        ("run", build(ab.CreateTest, name=t, variants=variants)) for t in tests
    ]
    for _ in range(draw(st.integers(1, 12))):
        test = draw(st.sampled_from(tests))
        kind = draw(st.sampled_from(["results", "results", "conclude", "archive", "restore"]))
        if kind == "results":
            rs = tuple(draw(result_fields(variants)) for _ in range(draw(st.integers(1, 5))))
            out.append(("run", build(ab.AddResults, test=test, results=rs)))
        elif kind == "conclude":
            out.append(("conclude", test))
        elif kind == "archive":
            out.append(("run", build(ab.ArchiveTest, test=test)))
        else:
            out.append(("run", build(ab.RestoreTest, test=test)))
    return out


def play(ledger: Ledger, steps: list[tuple[str, Any]]) -> None:
    for kind, x in steps:
        with contextlib.suppress(DomainError, ValueError):
            if kind == "run":
                ledger.execute(x)
            else:
                conclude(ledger, x)


@given(actions(), st.data())
@settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])
def test_replaying_to_any_position_then_the_rest_equals_the_live_read_models(
    steps: list[tuple[str, Any]], data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as d:
        ledger = Ledger(Path(d) / "p.db", synchronous="OFF")
        play(ledger, steps)
        head = ledger.store.head()[0]
        cut = data.draw(st.integers(0, head), label="cut")
        chunk = data.draw(st.integers(1, 4), label="extraction chunk")
        live_before = dump(ledger.conn)
        with (
            mock.patch("trialbook.projections.ab.EXTRACT_CHUNK", chunk),
            replay_to(ledger.store, default_projections(), cut) as view,
        ):
            assert view.store.head()[0] == cut and view.folded == cut
            for p in default_projections():
                rest = [e for e in ledger.store.read_all(after_position=cut) if e.type in p.handles]
                if rest:
                    p.apply(view.conn, rest)
            assert dump(view.conn) == live_before
        assert dump(ledger.conn) == live_before  # the live read models were never touched
        ledger.close()


@given(
    st.lists(
        st.lists(result_fields(("cold", "warm")), min_size=1, max_size=4), min_size=1, max_size=6
    ),
    st.booleans(),
    st.integers(1, 5),
)
@settings(deadline=None, max_examples=15, suppress_health_check=[HealthCheck.too_slow])
def test_the_analysis_at_a_position_is_what_a_user_saw_right_after_it(
    batches: list[list[ab.ResultFields]], with_cases: bool, chunk: int
) -> None:
    """Replays extract in chunks of ``chunk`` events (EXTRACT_CHUNK) to cross many chunk edges."""
    with tempfile.TemporaryDirectory() as d:
        ledger = Ledger(Path(d) / "a.db", synchronous="OFF")
        ledger.execute(build(ab.CreateTest, name="t", variants=("cold", "warm")))
        seen: dict[int, dict[str, Any]] = {}
        for i, batch in enumerate(batches):
            rs = tuple(r if with_cases else r.model_copy(update={"case_id": None}) for r in batch)
            ledger.execute(build(ab.AddResults, test="t", results=rs))
            with contextlib.suppress(DomainError):
                seen[ledger.store.head()[0]] = analyze_test(ledger, "t")
            if i == len(batches) // 2:
                with contextlib.suppress(DomainError):
                    conclude(ledger, "t")
        for position, doc in seen.items():
            with (
                mock.patch("trialbook.projections.ab.EXTRACT_CHUNK", chunk),
                open_as_of(ledger, "t", at=position) as view,
            ):
                from trialbook.domain.stats import analyze
                from trialbook.ledger.analysis import analysis_document, analysis_input

                snap = read_snapshot(view, "t")  # type: ignore[arg-type]
                assert analysis_document(analyze(analysis_input(snap)), snap.position) == doc
            event = ledger.store.get(position)
            assert event is not None
            with open_as_of(ledger, "t", as_of=event.recorded_at) as view:
                assert view.position == position
        ledger.close()


# --------------------------------------------------------------------------- the CLI


def setup_test(invoke: Invoke, n: int = 6) -> None:
    invoke("ab", "create", "checkout-flow", "--variants", "cold,warm")
    for i in range(n):
        for variant in ("cold", "warm"):
            ok = "--success" if (i + (variant == "warm")) % 3 else "--failure"
            r = invoke(
                "ab",
                "add-result",
                "checkout-flow",
                "--variant",
                variant,
                ok,
                "--case-id",
                f"c{i}",
                "--completion-time",
                str(30 + i),
            )
            assert r.exit_code == 0, r.output


class TestAnalyzeAsOf:
    def test_at_a_position_equals_the_analysis_then(self, invoke: Invoke) -> None:
        setup_test(invoke, 3)
        then = invoke("ab", "analyze", "checkout-flow", "--json").output
        setup_test_more = [
            invoke("ab", "add-result", "checkout-flow", "--variant", "warm", "--success")
            for _ in range(3)
        ]
        assert all(r.exit_code == 0 for r in setup_test_more)
        at = json.loads(then)["position"]
        assert invoke("ab", "analyze", "checkout-flow", "--at", str(at), "--json").output == then
        text = invoke("ab", "analyze", "checkout-flow", "--at", str(at)).output
        assert text.startswith(f"As of position {at} (recorded ")
        assert "the log now ends at 10):" in text.splitlines()[0]

    def test_as_of_a_time_and_diff_now(self, invoke: Invoke) -> None:
        setup_test(invoke, 3)
        log = json.loads(invoke("events", "log", "--json").output)
        invoke("ab", "add-result", "checkout-flow", "--variant", "warm", "--success")
        r = invoke(
            "ab",
            "analyze",
            "checkout-flow",
            "--as-of",
            log[-1]["recorded_at"],
            "--diff-now",
            "--json",
        )
        doc = json.loads(r.output)
        assert doc["then"]["position"] == 7 and doc["now"]["position"] == 8
        text = invoke("ab", "analyze", "checkout-flow", "--at", "7", "--diff-now").output
        assert "Since position 7 (now 8):\n  warm n: 3 -> 4" in text

    def test_history_as_of_a_position(self, invoke: Invoke) -> None:
        setup_test(invoke, 3)
        full = json.loads(invoke("ab", "analyze", "checkout-flow", "--history", "--json").output)
        early = json.loads(
            invoke("ab", "analyze", "checkout-flow", "--history", "--at", "5", "--json").output
        )
        assert early == full[: len(early)] and len(early) == 4

    def test_the_live_read_models_are_untouched(self, invoke: Invoke, db_path: Path) -> None:
        setup_test(invoke, 3)
        before = dump(sqlite3.connect(db_path))
        invoke("ab", "analyze", "checkout-flow", "--at", "3")
        assert dump(sqlite3.connect(db_path)) == before

    def test_bad_points_in_time_are_one_line_errors(self, invoke: Invoke, db_path: Path) -> None:
        setup_test(invoke, 1)
        invoke("ab", "create", "later")
        cases = {
            (
                "checkout-flow",
                "--at",
                "99",
            ): "Error: position 99 is not in the log; it has positions 1-4\n",
            (
                "later",
                "--at",
                "2",
            ): "Error: test 'later' did not exist yet at position 2; it was created at position 4\n",
            ("nope", "--at", "2"): "Error: no A/B test named 'nope'; see `trialbook ab list`\n",
        }
        for args, error in cases.items():
            r = invoke("ab", "analyze", *args)
            assert (r.exit_code, r.stderr) == (1, error)
        first = json.loads(invoke("events", "show", "1", "--json").output)["recorded_at"]
        r = invoke("ab", "analyze", "checkout-flow", "--as-of", "2000-01-01")
        assert (r.exit_code, r.stderr) == (
            1,
            f"Error: nothing was recorded at or before 2000-01-01T00:00:00.000000Z; the log starts at {first}\n",
        )
        r = invoke("ab", "analyze", "checkout-flow", "--diff-now")
        assert (
            r.exit_code == 2
            and r.stderr.splitlines()[-1] == "Error: --diff-now needs --as-of TIME or --at POSITION"
        )
        assert count_events(db_path) == 4


class TestAudit:
    def test_decisions_that_reproduce_pass(self, invoke: Invoke) -> None:
        setup_test(invoke)
        assert (
            invoke("ab", "conclude", "checkout-flow", "--stop", "--note", "first look").exit_code
            == 0
        )
        invoke("ab", "add-result", "checkout-flow", "--variant", "warm", "--success")
        assert invoke("ab", "conclude", "checkout-flow", "--keep-control").exit_code == 0
        r = invoke("audit", "checkout-flow")
        assert r.exit_code == 0, r.output
        lines = r.output.splitlines()
        assert (
            lines[0]
            == f"Audit of checkout-flow: 2 decisions, log at position 16, method version {METHOD_VERSION}."
        )
        assert lines[1].startswith("Hash chain verified up to position 16 (head hash ")
        assert "Decision #14: stop without a choice, by tester@example at " in r.output
        assert (
            "  Saw the log up to position 13: 12 results (cold 6, warm 6); recommendation then: "
            in r.output
        )
        assert r.output.count("  Reproduces: replayed to position") == 2
        assert (
            "  Evidence: 12 ResultAdded events at positions 2-13; recorded by tester@example "
            "(12, cli: 12 different commands)"
        ) in r.output
        doc = json.loads(invoke("audit", "checkout-flow", "--json").output)
        assert (doc["reproduced"], doc["not_reproduced"]) == (2, 0)
        assert (
            doc["decisions"][1]["evidence"]["by_variant"]["warm"]["positions"]
            == "3, 5, 7, 9, 11, 13, 15"
        )

    def test_a_decision_whose_numbers_do_not_reproduce_fails_the_audit(
        self, invoke: Invoke, db_path: Path
    ) -> None:
        setup_test(invoke)
        with Ledger(db_path) as ledger:  # a decision recorded with numbers the data does not give
            doc = analyze_test(ledger, "checkout-flow")
            doc["variants"][1]["p_value"] = 0.001
            doc["recommendation"] = {**doc["recommendation"], "decision": "ship", "variant": "warm"}
            ledger.execute(
                build(
                    ab.ConcludeTest,
                    test="checkout-flow",
                    choice="ship",
                    variant="warm",
                    analysis=doc,
                    method_version=METHOD_VERSION,
                    position=doc["position"],
                )
            )
        r = invoke("audit", "checkout-flow")
        assert r.exit_code == 1
        assert (
            f"  DOES NOT REPRODUCE with method {METHOD_VERSION}: 3 figures differ (recorded -> recomputed): "
            in r.stdout
        )
        assert (
            "variants[warm].p_value 0.001 -> " in r.stdout
            and "recommendation.decision ship -> " in r.stdout
        )
        assert r.stderr == "Error: 1 of 1 decision of checkout-flow does not reproduce (#14)\n"

    def test_a_changed_method_version_is_reported(
        self, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        setup_test(invoke)
        invoke("ab", "conclude", "checkout-flow", "--stop")
        import dataclasses

        import trialbook.domain.stats.analysis as analysis

        real = analysis.analyze  # a newer method: same code here, a new version number
        monkeypatch.setattr(
            analysis, "analyze", lambda inp: dataclasses.replace(real(inp), method_version="9.9")
        )
        monkeypatch.setattr(analysis, "METHOD_VERSION", "9.9")
        r = invoke("audit", "checkout-flow")
        assert r.exit_code == 1
        assert (
            f"(recorded with {METHOD_VERSION}: differences may come from the method change)"
            in r.stdout
        )
        assert f"method_version {METHOD_VERSION} -> 9.9" in r.stdout

    def test_the_report_cites_positions_for_every_number(
        self, invoke: Invoke, tmp_path: Path
    ) -> None:
        setup_test(invoke)
        invoke("ab", "conclude", "checkout-flow", "--stop")
        r = invoke("audit", "report", "checkout-flow", "--format", "markdown")
        assert r.exit_code == 0
        md = r.output
        assert md.startswith("# Audit of A/B test `checkout-flow`\n")
        assert "- Verdict: **every decision reproduces**." in md
        assert "## Decision at position 14: stop without a choice" in md
        assert (
            "| cold | 6 |" in md
            and "| 2, 4, 6, 8, 10, 12 |" in md
            and "| 3, 5, 7, 9, 11, 13 |" in md
        )
        out = tmp_path / "audit.json"
        r = invoke("audit", "report", "checkout-flow", "--format", "json", "--output", str(out))
        assert r.exit_code == 0 and r.stderr == f"Wrote the audit of checkout-flow to {out}.\n"
        assert json.loads(out.read_text())["decisions"][0]["reproduces"] is True

    def test_a_tampered_log_fails_the_audit(self, invoke: Invoke, db_path: Path) -> None:
        setup_test(invoke)
        invoke("ab", "conclude", "checkout-flow", "--stop")
        conn = sqlite3.connect(db_path)
        conn.executescript("DROP TRIGGER events_append_only_update;")
        conn.execute(
            "UPDATE events SET metadata = replace(metadata, 'tester', 'mallory') WHERE position = 5"
        )
        conn.commit()
        conn.close()
        r = invoke("audit", "checkout-flow")
        assert r.exit_code == 1
        assert "HASH CHAIN FAILS at position 5: " in r.stdout
        assert r.stderr == "Error: the log fails verification at position 5 (changed content)\n"

    def test_no_decisions_and_unknown_tests(self, invoke: Invoke) -> None:
        setup_test(invoke, 1)
        r = invoke("audit", "checkout-flow")
        assert r.exit_code == 0
        assert (
            "No decision recorded yet; record one with `trialbook ab conclude checkout-flow`."
            in r.output
        )
        r = invoke("audit", "nope")
        assert (r.exit_code, r.stderr) == (
            1,
            "Error: no A/B test named 'nope'; see `trialbook ab list`\n",
        )
        r = invoke("audit", "report", "nope")
        assert (r.exit_code, r.stderr) == (
            1,
            "Error: no A/B test named 'nope'; see `trialbook ab list`\n",
        )


def test_compare_names_paths_by_variant() -> None:
    a = {
        "variants": [{"name": "cold", "p": 1.0}, {"name": "warm", "p": 0.5, "ci": [1, 2]}],
        "x": True,
    }
    b = {
        "variants": [{"name": "cold", "p": 1.0}, {"name": "warm", "p": 0.25, "ci": [1, 3]}],
        "x": 1,
    }
    assert compare(a, b) == [
        {"path": "variants[warm].p", "recorded": 0.5, "recomputed": 0.25},
        {"path": "variants[warm].ci[1]", "recorded": 2, "recomputed": 3},
        {"path": "x", "recorded": True, "recomputed": 1},
    ]
    assert compare(a, a) == []


def test_spans_compress_positions() -> None:
    assert spans([2, 3, 4, 7, 9, 10]) == "2-4, 7, 9-10"
    assert spans([]) == "none"


def test_audit_test_is_a_library_function(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.db") as ledger:
        ledger.execute(build(ab.CreateTest, name="t", variants=("a", "b")))
        ledger.execute(
            build(
                ab.AddResults,
                test="t",
                results=tuple(
                    ab.ResultFields(variant=v, success=i % 2 == 0)
                    for i in range(4)
                    for v in ("a", "b")
                ),
            )
        )
        conclude(ledger, "t")
        doc = audit_test(ledger, "t", verify=False)
    assert doc["chain"] == {"verified": False} and doc["reproduced"] == 1
