"""``trialbook canary …``: the commands, their one-line errors, watching, and the audit of decisions."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

import trialbook
from tests.conftest import Invoke, count_events

ROOT = Path(__file__).parent.parent
CREATE = (
    "canary", "create", "router-v2", "--control", "router-v1", "--candidate", "router-v2",
    "--guardrail", "error_rate:+2pp", "--min-results", "20", "--salt", "s1",
)  # fmt: skip


def ok(invoke: Invoke, *args: str) -> str:
    r = invoke(*args)
    assert r.exit_code == 0, r.output
    return r.output


def feed(db: Path, n: int, *, bad: bool = False, start: int = 0, stage: int | None = None) -> None:
    """``n`` sessions through the API on the same file, routed by assign() (at ``stage``)."""
    with trialbook.open(db) as tb:
        c = tb.canary("router-v2")
        rows = []
        for i in range(start, start + n):
            v = c.assign(f"user-{i}") if stage is None else ("router-v1" if i % 2 else "router-v2")
            failed = 4 if bad and v == "router-v2" else (1 if i % 3 else 0)
            rows.append({"variant": v, "unit_id": None if stage else f"user-{i}", "stage": stage,
                         "tool_calls": 10, "successful_calls": 10 - failed})  # fmt: skip
        c.add_results(rows)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--stages", "50,10,100"), "Error: stages must increase: 10% comes after 50%"),
        (("--stages", "10,150"), "Error: stage 150% is outside (0, 100]"),
        (("--stages", "0,50"), "Error: stage 0% is outside (0, 100]"),
        (("--stages", "10,abc"), "Error: stage 'abc' is not a number"),
        (
            ("--guardrail", "eror_rate:+2pp"),
            "Error: guardrail metric 'eror_rate' is unknown (did you mean error_rate?)",
        ),
        (
            ("--guardrail", "completion_time:+2pp"),
            "Error: guardrail completion_time: percentage points are for rates",
        ),
        (("--metric", "happiness"), "Error: metric 'happiness' is unknown"),
        (("--min-results", "1"), "Error: min_results: must be at least 2: the candidate results"),
        (
            ("--alpha", "0.7"),
            "Error: alpha: must lie between 0 and 0.5 (exclusive), e.g. --alpha 0.05 (got 0.7)",
        ),
    ],
)
def test_a_bad_plan_is_one_line_naming_the_fix_and_appends_nothing(
    invoke: Invoke, db_path: Path, args: tuple[str, ...], message: str
) -> None:
    r = invoke("canary", "create", "r", "--control", "a", "--candidate", "b", *args)
    assert r.exit_code == 1
    assert r.output.startswith(message) and r.output.count("\n") == 1, r.output
    assert count_events(db_path) == 0


def test_a_candidate_equal_to_the_control_is_refused(invoke: Invoke, db_path: Path) -> None:
    r = invoke("canary", "create", "r", "--control", "a", "--candidate", "a")
    assert r.exit_code == 1
    assert r.output == (
        "Error: the candidate is the control ('a'); a canary compares two different variants, "
        "e.g. --control router-v1 --candidate router-v2\n"
    )
    assert count_events(db_path) == 0


@pytest.mark.parametrize(
    "args",
    [
        ("status", "nope"),
        ("assign", "nope", "u1"),
        ("advance", "nope"),
        ("add-result", "nope", "--variant", "a"),
        ("audit", "nope"),
    ],
)
def test_an_unknown_canary_is_one_line_naming_the_fix(
    invoke: Invoke, db_path: Path, args: tuple[str, ...]
) -> None:
    ok(invoke, *CREATE)
    r = invoke("canary", *args)
    assert r.exit_code == 1
    assert r.output == (
        "Error: no canary named 'nope'; see `trialbook canary list`, or create it with "
        "`trialbook canary create nope --control A --candidate B`\n"
    )
    assert count_events(db_path) == 1


class TestTheWorkflow:
    def test_create_assign_record_and_read_the_status(self, invoke: Invoke, db_path: Path) -> None:
        out = ok(invoke, *CREATE)
        assert out.startswith(
            "Created canary router-v2: router-v2 against router-v1, stages 10% → 50% → 100%"
        )
        variant = ok(invoke, "canary", "assign", "router-v2", "user-1").strip()
        assert variant in ("router-v1", "router-v2")
        doc = json.loads(ok(invoke, "canary", "assign", "router-v2", "user-1", "user-2", "--json"))
        assert doc["assignments"][0] == {
            "unit_id": "user-1",
            "variant": variant,
            "bucket": doc["assignments"][0]["bucket"],
        }
        assert count_events(db_path) == 1  # assigning writes nothing
        ok(invoke, "canary", "add-result", "router-v2", "--variant", variant, "--unit-id", "user-1",
           "--tool-calls", "10", "--successful-calls", "9", "--success")  # fmt: skip
        status = json.loads(ok(invoke, "canary", "status", "router-v2", "--json"))
        assert status["results"]["total"] == 1 and status["next"]["action"] == "wait"
        text = ok(invoke, "canary", "status", "router-v2")
        assert "Stage 1 of 3 (10%), running" in text and "Next: WAIT" in text
        listed = json.loads(ok(invoke, "canary", "list", "--json"))
        assert [(c["name"], c["status"], c["results"]) for c in listed] == [
            ("router-v2", "running", 1)
        ]

    def test_a_result_for_the_wrong_variant_of_a_unit_is_refused(
        self, invoke: Invoke, db_path: Path
    ) -> None:
        ok(invoke, *CREATE)
        variant = ok(invoke, "canary", "assign", "router-v2", "user-1").strip()
        other = "router-v1" if variant == "router-v2" else "router-v2"
        r = invoke("canary", "add-result", "router-v2", "--variant", other, "--unit-id", "user-1")
        assert r.exit_code == 1 and f"unit 'user-1' is assigned {variant}" in r.output
        assert count_events(db_path) == 1

    def test_import_checks_every_line_first(
        self, invoke: Invoke, db_path: Path, tmp_path: Path
    ) -> None:
        ok(invoke, *CREATE)
        f = tmp_path / "r.jsonl"
        f.write_text('{"variant": "router-v1", "stage": 1}\n{"variant": "router-v3"}\n')
        r = invoke("canary", "import", "router-v2", str(f))
        assert r.exit_code == 1 and r.output.startswith(
            "Error: line 2: variant 'router-v3' is not in canary"
        )
        assert count_events(db_path) == 1
        f.write_text(
            '{"variant": "router-v1", "stage": 1}\n{"variant": "router-v2", "tool_calls": 3}\n'
        )
        assert "Imported 2 results" in ok(invoke, "canary", "import", "router-v2", str(f))

    def test_advance_refuses_saying_why_and_force_is_recorded(
        self, invoke: Invoke, db_path: Path
    ) -> None:
        ok(invoke, *CREATE)
        r = invoke("canary", "advance", "router-v2")
        assert r.exit_code == 1 and r.output == (
            "Error: stage 1 (10%) of 'router-v2' has 0 of the 20 candidate results it needs before "
            "advancing; wait for more (or override the rule with --force, which is recorded)\n"
        )
        assert count_events(db_path) == 1
        r = invoke("canary", "advance", "router-v2", "--to", "100")
        assert r.exit_code == 1 and "its next stage is 50%, not 100%" in r.output
        r = invoke("canary", "advance", "router-v2", "--force", "--note", "demo day")
        assert r.exit_code == 0 and "Advanced router-v2 to stage 2 (50%)" in r.output
        assert "Warning: forced against the stage rule" in r.output
        doc = json.loads(ok(invoke, "canary", "status", "router-v2", "--json"))
        assert doc["stage"] == 2 and doc["exposure_percent"] == 50

    def test_a_halted_or_completed_canary_cannot_advance(
        self, invoke: Invoke, db_path: Path
    ) -> None:
        ok(invoke, *CREATE)
        assert "Halted router-v2" in ok(invoke, "canary", "halt", "router-v2", "--note", "pager")
        r = invoke("canary", "advance", "router-v2", "--force")
        assert r.exit_code == 1 and r.output.startswith(
            "Error: canary 'router-v2' is halted; it cannot advance: roll it back"
        )
        ok(invoke, "canary", "rollback", "router-v2")
        r = invoke("canary", "rollback", "router-v2")
        assert r.exit_code == 1 and "was rolled back; it cannot be rolled back" in r.output
        assert ok(invoke, "canary", "assign", "router-v2", "anyone").strip() == "router-v1"
        ok(
            invoke,
            "canary",
            "create",
            "full",
            "--control",
            "a",
            "--candidate",
            "b",
            "--stages",
            "100",
            "--min-results",
            "2",
        )
        r = invoke("canary", "complete", "full")
        assert r.exit_code == 1 and "has 0 of the 2 candidate results" in r.output
        ok(invoke, "canary", "complete", "full", "--force")
        r = invoke("canary", "advance", "full")
        assert r.exit_code == 1 and "is completed; it cannot advance" in r.output
        n = count_events(db_path)
        r = invoke("canary", "halt", "full")
        assert r.exit_code == 1 and count_events(db_path) == n


class TestWatching:
    def test_watch_auto_halts_a_breach_and_stops(self, invoke: Invoke, db_path: Path) -> None:
        ok(invoke, *CREATE)
        feed(db_path, 600, bad=True)
        out = ok(
            invoke, "canary", "watch", "router-v2", "--auto", "--timeout", "0.2", "--poll", "0.05"
        )
        assert "HALTED at stage 1: guardrail error_rate breached" in out
        assert "Stopped watching" in out
        assert (
            json.loads(ok(invoke, "canary", "status", "router-v2", "--json"))["status"] == "halted"
        )

    def test_watch_without_auto_only_reads(self, invoke: Invoke, db_path: Path) -> None:
        ok(invoke, *CREATE)
        feed(db_path, 600, bad=True)
        n = count_events(db_path)
        out = ok(invoke, "canary", "watch", "router-v2", "--timeout", "0.1", "--poll", "0.05")
        assert "next: halt" in out and "No new results for 0.1 s" in out
        assert count_events(db_path) == n

    @pytest.mark.slow
    def test_watch_auto_in_its_own_process_advances_then_halts_as_another_process_records(
        self, invoke: Invoke, db_path: Path
    ) -> None:
        ok(invoke, *CREATE)
        watcher = subprocess.Popen(
            [sys.executable, "-m", "trialbook", "--db", str(db_path), "canary", "watch", "router-v2",
             "--auto", "--poll", "0.05", "--timeout", "20"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        )  # fmt: skip
        try:
            feed(db_path, 400)  # a good stage 1
            with trialbook.open(db_path) as tb:
                c = tb.canary("router-v2")
                deadline = time.monotonic() + 20
                while c.stage < 2:
                    assert time.monotonic() < deadline, "the watcher never advanced"
                    time.sleep(0.05)
            feed(db_path, 300, bad=True, start=400)  # then the candidate goes bad at 50%
            out, err = watcher.communicate(timeout=30)
        finally:
            watcher.kill()
        assert watcher.returncode == 0, err
        assert "ADVANCED to stage 2 (50%)" in out and "HALTED at stage 2" in out, out
        decisions = json.loads(ok(invoke, "canary", "audit", "router-v2", "--format", "json"))
        assert [d["kind"] for d in decisions["decisions"]] == ["advance", "halt"]
        assert all(d["reproduces"] and d["rule_held"] for d in decisions["decisions"])


class TestTheAudit:
    def test_every_decision_replays_to_its_position_and_reproduces(
        self, invoke: Invoke, db_path: Path
    ) -> None:
        ok(invoke, *CREATE)
        feed(db_path, 300)
        ok(invoke, "canary", "advance", "router-v2")
        feed(db_path, 60, start=300)
        ok(invoke, "canary", "halt", "router-v2", "--note", "by hand")
        feed(db_path, 10, start=400, stage=2)  # in-flight sessions ending after the halt: evidence
        out = ok(invoke, "audit", "router-v2")
        assert "Audit of canary router-v2: 2 decisions" in out
        assert out.count("Reproduces: replayed to position") == 2
        assert "The stage rule allowed it." in out  # the advance
        doc = json.loads(ok(invoke, "audit", "router-v2", "--json"))
        advance, halt = doc["decisions"]
        assert advance["rule_held"] is True and halt["rule_held"] is None  # a halt by hand
        assert advance["evidence"]["results"] == 300
        md = ok(invoke, "audit", "report", "router-v2", "--format", "markdown")
        assert md.startswith("# Audit of canary `router-v2`") and "every decision reproduces" in md

    def test_a_decision_resting_on_numbers_the_log_does_not_give_does_not_reproduce(
        self, invoke: Invoke, db_path: Path
    ) -> None:
        from trialbook.domain import canary as c
        from trialbook.domain.commands import build
        from trialbook.ledger import Ledger
        from trialbook.ledger.canary import read_snapshot

        ok(invoke, *CREATE)
        feed(db_path, 300)
        with Ledger(db_path) as ledger:  # a decision recorded with a doctored interval
            snap = read_snapshot(ledger, "router-v2")
            doc = snap.document()
            doc["guardrails"][0]["ci"] = [doc["guardrails"][0]["ci"][0], 0.5]
            ledger.execute(
                build(c.DecideCanary, canary="router-v2", action="advance", force=True,
                      analysis=doc, method_version=c.METHOD_VERSION, position=snap.position)
            )  # fmt: skip
        r = invoke("audit", "router-v2")
        assert r.exit_code == 1
        assert (
            "DOES NOT REPRODUCE: 1 figures differ (recorded -> recomputed): guardrails[error_rate].ci"
            in r.output
        )
        assert r.output.rstrip().endswith(
            f"1 of 1 decision of canary router-v2 does not reproduce (#{snap.position + 1})"
        )


def test_every_canary_command_has_help(invoke: Invoke) -> None:
    for cmd in ("create", "add-result", "import", "assign", "list", "status", "advance", "halt",
                "rollback", "complete", "watch", "audit"):  # fmt: skip
        r = invoke("canary", cmd, "--help")
        assert r.exit_code == 0 and "Usage: " in r.output, cmd


@pytest.mark.slow
def test_write_commands_do_not_import_numpy(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    # an existing file (creating one runs migrations, whose sqlite-utils may import pandas)
    with trialbook.open(db):
        pass
    code = (
        "import sys\n"
        "from trialbook.shell.cli import main\n"
        "try:\n"
        f"    main(['--db', {str(db)!r}, *sys.argv[1:]])\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "print(sorted(m for m in ('numpy', 'scipy') if m in sys.modules))\n"
    )
    for args in (
        ["canary", "create", "r", "--control", "a", "--candidate", "b"],
        ["canary", "add-result", "r", "--variant", "a", "--tool-calls", "3"],
        ["canary", "assign", "r", "u1"],
    ):
        r = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT
        )
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip().splitlines()[-1] == "[]", (args, r.stdout)


class TestStageByPercentage:
    """`--stage` takes the stage's number or its percentage with %: three newcomers (#24) read
    `--stage 10` as the 10 % stage, the number `canary advance --to` takes."""

    def test_a_stage_named_by_its_percentage_is_stored_as_its_number(
        self, invoke: Invoke, db_path: Path, tmp_path: Path
    ) -> None:
        ok(invoke, *CREATE, "--stages", "1,10,50,100")
        ok(invoke, "canary", "add-result", "router-v2", "--variant", "router-v1", "--stage", "1%")
        ok(invoke, "canary", "advance", "router-v2", "--to", "10", "--force", "--note", "t")
        ok(invoke, "canary", "add-result", "router-v2", "--variant", "router-v2", "--stage", "10%")
        f = tmp_path / "r.jsonl"
        f.write_text(
            '{"variant": "router-v1", "stage": "10%"}\n{"variant": "router-v1", "stage": 1}\n'
        )
        ok(invoke, "canary", "import", "router-v2", str(f))
        log = [json.loads(x) for x in ok(invoke, "events", "log", "--jsonl").splitlines()]
        stages = [e["data"]["stage"] for e in log if e["type"] == "CanaryResultAdded"]
        assert stages == [1, 2, 2, 1]  # as numbers: the stored events do not change shape

    @pytest.mark.parametrize(
        "value, message",
        [
            ("25%", "has no 25% stage; its stages are 1%, 10%, 50%, 100%"),
            ("x", "'x' is neither a stage's number (1 = the first) nor its percentage"),
            ("0", "'0' is neither a stage's number"),
        ],
    )
    def test_a_stage_that_is_not_in_the_plan_is_one_line_and_nothing_is_recorded(
        self, invoke: Invoke, db_path: Path, value: str, message: str
    ) -> None:
        ok(invoke, *CREATE, "--stages", "1,10,50,100")
        r = invoke("canary", "add-result", "router-v2", "--variant", "router-v1", "--stage", value)
        assert r.exit_code != 0 and message in r.output, r.output
        assert "Traceback" not in r.output
        assert count_events(db_path) == 1

    def test_the_api_takes_the_percentage_too(self, db_path: Path) -> None:
        with trialbook.open(db_path) as tb:
            tb.canaries.create("r9", control="a", candidate="b", stages=(5, 50, 100), salt="s")
            assert tb.canary("r9").add_result(variant="a", stage="5%", success=True).position == 2
            with pytest.raises(trialbook.InvalidCommand, match="has not reached stage 2"):
                tb.canary("r9").add_result(variant="a", stage="50%", success=True)
