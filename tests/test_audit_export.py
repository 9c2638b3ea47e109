"""``events export`` / ``events import``, ``events show``, ``events log`` filters, and upcasting."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from hypothesis import given, settings

from tests.conftest import Invoke, count_events
from tests.test_properties import command_sequences
from trialbook.domain.errors import DomainError
from trialbook.ledger import Ledger
from trialbook.shell.cli import cli
from trialbook.store.base import NewEvent
from trialbook.store.verify import verify_file


def run(db: Path, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["--db", str(db), *args], input=input, catch_exceptions=False)


def sample(invoke: Invoke) -> None:
    invoke("ab", "create", "checkout-flow", "--variants", "cold,warm")
    for variant, ok in (("cold", "--failure"), ("warm", "--success"), ("warm", "--success")):
        r = invoke(
            "ab",
            "add-result",
            "checkout-flow",
            "--variant",
            variant,
            ok,
            "--notes",
            "naïve “quotes” \\ and a\nnewline",
        )
        assert r.exit_code == 0, r.output


def export_bytes(db: Path, *args: str) -> bytes:
    r = CliRunner().invoke(
        cli, ["--db", str(db), "events", "export", *args], catch_exceptions=False
    )
    assert r.exit_code == 0, r.output
    return r.stdout_bytes


class TestExportImport:
    def test_export_import_export_is_byte_identical(
        self, invoke: Invoke, db_path: Path, tmp_path: Path
    ) -> None:
        sample(invoke)
        first = export_bytes(db_path)
        (tmp_path / "log.jsonl").write_bytes(first)
        copy = tmp_path / "copy.db"
        r = run(copy, "events", "import", str(tmp_path / "log.jsonl"))
        assert r.exit_code == 0, r.output
        assert r.output.splitlines()[0] == (
            f"Imported 4 events from {tmp_path / 'log.jsonl'} (positions 1-4); 0 were already here. "
            "Read models are up to date."
        )
        assert export_bytes(copy) == first
        # the read models were folded: the copy answers like the original
        assert (
            run(copy, "ab", "show", "checkout-flow", "--json").output
            == invoke("ab", "show", "checkout-flow", "--json").output
        )
        assert verify_file(copy).ok

    def test_importing_twice_changes_nothing(
        self, invoke: Invoke, db_path: Path, tmp_path: Path
    ) -> None:
        sample(invoke)
        f = tmp_path / "log.jsonl"
        f.write_bytes(export_bytes(db_path))
        copy = tmp_path / "copy.db"
        run(copy, "events", "import", str(f))
        before = export_bytes(copy)
        r = run(copy, "events", "import", str(f))
        assert r.exit_code == 0
        assert (
            r.output
            == f"Nothing to import: the 4 events of {f} are already in this log (head: position 4).\n"
        )
        assert export_bytes(copy) == before and count_events(copy) == 4

    def test_an_export_since_a_position_continues_a_copy(
        self, invoke: Invoke, db_path: Path, tmp_path: Path
    ) -> None:
        sample(invoke)
        f = tmp_path / "all.jsonl"
        f.write_bytes(export_bytes(db_path))
        copy = tmp_path / "copy.db"
        run(copy, "events", "import", str(f))
        invoke("ab", "add-result", "checkout-flow", "--variant", "cold", "--success")
        new = tmp_path / "new.jsonl"
        new.write_bytes(export_bytes(db_path, "--since", "4"))
        assert len(new.read_bytes().splitlines()) == 1
        r = run(copy, "events", "import", str(new))
        assert r.exit_code == 0 and "(positions 5-5)" in r.output
        assert export_bytes(copy) == export_bytes(db_path)
        assert (
            json.loads(run(copy, "ab", "summary", "checkout-flow", "--json").output)["variants"][0][
                "results"
            ]
            == 2
        )

    def test_export_to_a_file_and_stdin_import(
        self, invoke: Invoke, db_path: Path, tmp_path: Path
    ) -> None:
        sample(invoke)
        out = tmp_path / "log.jsonl"
        r = invoke("events", "export", "--output", str(out))
        assert r.exit_code == 0 and r.stderr == f"Exported 4 events to {out}.\n"
        assert out.read_bytes() == export_bytes(db_path)
        r = run(tmp_path / "c.db", "events", "import", "-", input=out.read_text(encoding="utf-8"))
        assert r.exit_code == 0 and "Imported 4 events from standard input" in r.output

    def test_each_line_is_the_canonical_envelope_with_its_hash(
        self, invoke: Invoke, db_path: Path
    ) -> None:
        from trialbook.domain.canonical import canonical_json

        sample(invoke)
        log = json.loads(invoke("events", "log", "--json").output)
        lines = export_bytes(db_path).decode().splitlines()
        assert [json.loads(x) for x in lines] == log
        assert all(canonical_json(json.loads(x)) == x for x in lines)

    def test_a_stream_export_holds_only_that_stream(self, invoke: Invoke, db_path: Path) -> None:
        sample(invoke)
        invoke("ab", "create", "other")
        lines = export_bytes(db_path, "--stream", "ab:other").decode().splitlines()
        assert [json.loads(x)["position"] for x in lines] == [5]


@given(command_sequences())
@settings(deadline=None, max_examples=15)
def test_any_log_round_trips_through_export_and_import(commands: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "src.db", Path(d) / "dst.db"
        ledger = Ledger(src, synchronous="OFF")
        for c in commands:
            with contextlib.suppress(DomainError):
                ledger.execute(c)
        ledger.close()
        first = export_bytes(src)
        (Path(d) / "x.jsonl").write_bytes(first)
        assert run(dst, "events", "import", str(Path(d) / "x.jsonl")).exit_code == 0
        assert export_bytes(dst) == first
        tables = ["ab_tests", "ab_variants", "ab_results", "ab_cases"]
        a, b = sqlite3.connect(src), sqlite3.connect(dst)
        for t in tables:
            assert (
                a.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3").fetchall()
                == b.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3").fetchall()
            )
        a.close()
        b.close()


class TestImportRefusals:
    def test_a_malformed_line_is_named_and_nothing_is_imported(
        self, invoke: Invoke, db_path: Path, tmp_path: Path
    ) -> None:
        sample(invoke)
        lines = export_bytes(db_path).decode().splitlines()
        f = tmp_path / "bad.jsonl"
        f.write_text(lines[0] + "\n" + lines[1] + "\n{oops\n", encoding="utf-8")
        copy = tmp_path / "copy.db"
        r = run(copy, "events", "import", str(f))
        assert r.exit_code == 1
        assert r.stderr == (
            f"Error: {f} line 3 is not an exported event: not JSON (Expecting property name enclosed in "
            "double quotes at column 2); nothing was imported\n"
        )
        assert count_events(copy) == 0

    def test_a_line_with_a_missing_field_is_named(self, tmp_path: Path) -> None:
        f = tmp_path / "bad.jsonl"
        f.write_text('{"position": 1}\n', encoding="utf-8")
        r = run(tmp_path / "c.db", "events", "import", str(f))
        assert r.exit_code == 1
        assert r.stderr == (
            f"Error: {f} line 1 is not an exported event: missing data, event_id, hash, metadata, prev_hash, "
            "recorded_at, schema_version, stream_id, type, version; nothing was imported\n"
        )

    def test_an_edited_line_fails_its_hash_and_nothing_is_imported(
        self, invoke: Invoke, db_path: Path, tmp_path: Path
    ) -> None:
        sample(invoke)
        text = export_bytes(db_path).decode().replace('"variant":"warm"', '"variant":"cold"', 1)
        f = tmp_path / "edited.jsonl"
        f.write_text(text, encoding="utf-8")
        copy = tmp_path / "copy.db"
        r = run(copy, "events", "import", str(f))
        assert r.exit_code == 1
        assert r.stderr == (
            f"Error: cannot import {f}: the stored hash of position 3 does not match its content (the row "
            "was edited after it was written); nothing was imported\n"
        )
        assert count_events(copy) == 0

    def test_a_conflicting_history_is_refused(
        self, invoke: Invoke, db_path: Path, tmp_path: Path
    ) -> None:
        sample(invoke)
        f = tmp_path / "log.jsonl"
        f.write_bytes(export_bytes(db_path))
        other = tmp_path / "other.db"
        run(other, "ab", "create", "checkout-flow", "--variants", "cold,warm")
        run(other, "ab", "add-result", "checkout-flow", "--variant", "cold", "--success")
        (mine,) = [
            e
            for e in json.loads(run(other, "events", "log", "--json").output)
            if e["position"] == 1
        ]
        theirs = json.loads(f.read_text(encoding="utf-8").splitlines()[0])
        r = run(other, "events", "import", str(f))
        assert r.exit_code == 1
        assert r.stderr == (
            f"Error: cannot import {f}: conflicting history: position 1 of the file is event "
            f"{theirs['event_id']} (TestCreated of ab:checkout-flow) but this log has event {mine['event_id']} "
            "(TestCreated of ab:checkout-flow) there; the two logs diverged (this log ends at position 2); "
            "nothing was imported\n"
        )
        assert count_events(other) == 2

    def test_a_continuation_of_another_log_is_refused(
        self, invoke: Invoke, db_path: Path, tmp_path: Path
    ) -> None:
        sample(invoke)
        f = tmp_path / "tail.jsonl"
        f.write_bytes(export_bytes(db_path, "--since", "2"))
        other = tmp_path / "other.db"
        run(other, "ab", "create", "a")
        run(other, "ab", "create", "b")
        r = run(other, "events", "import", str(f))
        assert r.exit_code == 1
        assert r.stderr == (
            f"Error: cannot import {f}: conflicting history: position 3 of the file does not follow position 2 "
            "of this log (the two logs diverged before it); nothing was imported\n"
        )

    def test_a_file_that_starts_beyond_the_head_is_refused(
        self, invoke: Invoke, db_path: Path, tmp_path: Path
    ) -> None:
        sample(invoke)
        f = tmp_path / "tail.jsonl"
        f.write_bytes(export_bytes(db_path, "--since", "2"))
        r = run(tmp_path / "empty.db", "events", "import", str(f))
        assert r.exit_code == 1
        assert r.stderr == (
            f"Error: cannot import {f}: the file starts at position 3 but this log ends at position 0: "
            "positions 1-2 are missing; export with --since 0; nothing was imported\n"
        )

    def test_a_stream_export_cannot_be_imported(
        self, invoke: Invoke, db_path: Path, tmp_path: Path
    ) -> None:
        sample(invoke)
        invoke("ab", "create", "other")
        invoke("ab", "add-result", "checkout-flow", "--variant", "cold", "--success")
        f = tmp_path / "s.jsonl"
        f.write_bytes(export_bytes(db_path, "--stream", "ab:checkout-flow"))
        r = run(tmp_path / "c.db", "events", "import", str(f))
        assert r.exit_code == 1
        assert r.stderr == (
            f"Error: cannot import {f}: position 5 is missing: the log jumps from 4 to 6 (a row was deleted); "
            "a file exported with --stream, or with lines removed, cannot be imported; nothing was imported\n"
        )

    def test_an_upcast_export_cannot_be_imported(
        self, invoke: Invoke, db_path: Path, tmp_path: Path
    ) -> None:
        sample(invoke)
        f = tmp_path / "up.jsonl"
        f.write_bytes(export_bytes(db_path, "--upcast"))
        r = run(tmp_path / "c.db", "events", "import", str(f))
        assert r.exit_code == 1
        assert r.stderr == (
            f"Error: {f} line 1 is not an exported event: it was exported with --upcast, which is for "
            "reading, not importing; nothing was imported\n"
        )

    def test_a_missing_file_and_an_empty_file(self, tmp_path: Path) -> None:
        r = run(tmp_path / "c.db", "events", "import", str(tmp_path / "nope.jsonl"))
        assert (
            r.exit_code == 1
            and r.stderr == f"Error: cannot read {tmp_path / 'nope.jsonl'}: no such file\n"
        )
        (tmp_path / "empty.jsonl").write_text("")
        r = run(tmp_path / "c.db", "events", "import", str(tmp_path / "empty.jsonl"))
        assert (
            r.exit_code == 0
            and r.output == f"Nothing to import: {tmp_path / 'empty.jsonl'} holds no events.\n"
        )

    def test_export_since_beyond_the_head_is_an_error(self, invoke: Invoke) -> None:
        sample(invoke)
        r = invoke("events", "export", "--since", "9")
        assert (
            r.exit_code == 1
            and r.stderr == "Error: --since 9 is beyond the end of the log (position 4)\n"
        )


# --------------------------------------------------------------------------- show and log


class TestShowAndLog:
    def test_show_by_position_and_by_id(self, invoke: Invoke) -> None:
        sample(invoke)
        by_position = json.loads(invoke("events", "show", "2", "--json").output)
        assert by_position["position"] == 2 and by_position["hash_matches"] is True
        by_id = json.loads(invoke("events", "show", by_position["event_id"], "--json").output)
        assert by_id == by_position
        text = invoke("events", "show", "2").output
        assert text.startswith("#2  ResultAdded (schema v2)  ab:checkout-flow v2\n")
        assert "(matches its content)" in text and "actor        tester@example" in text

    def test_show_names_an_unknown_position_or_id(self, invoke: Invoke) -> None:
        sample(invoke)
        r = invoke("events", "show", "99")
        assert (
            r.exit_code == 1
            and r.stderr == "Error: no event at position 99; the log has positions 1-4\n"
        )
        r = invoke("events", "show", "abc")
        assert r.exit_code == 1 and r.stderr == (
            "Error: no event with id 'abc'; give a position or an event id (see `trialbook events log`)\n"
        )

    def test_log_filters_by_time_and_actor(
        self, invoke: Invoke, db_path: Path, monkeypatch: Any
    ) -> None:
        sample(invoke)
        monkeypatch.setenv("TRIALBOOK_ACTOR", "bob@box")
        invoke("ab", "add-result", "checkout-flow", "--variant", "cold", "--success")
        everything = json.loads(invoke("events", "log", "--json").output)
        assert [
            e["position"]
            for e in json.loads(invoke("events", "log", "--actor", "bob@box", "--json").output)
        ] == [5]
        cut = everything[2]["recorded_at"]
        since = json.loads(invoke("events", "log", "--since", cut, "--json").output)
        until = json.loads(invoke("events", "log", "--until", cut, "--json").output)
        assert since[0]["recorded_at"] >= cut and all(e["recorded_at"] <= cut for e in until)
        assert {e["position"] for e in since} | {e["position"] for e in until} == {1, 2, 3, 4, 5}
        assert invoke("events", "log", "--until", "2000-01-01", "--json").output == "[]\n"

    def test_log_jsonl_prints_one_envelope_per_line(self, invoke: Invoke) -> None:
        sample(invoke)
        lines = invoke("events", "log", "--jsonl").output.splitlines()
        assert [json.loads(x) for x in lines] == json.loads(
            invoke("events", "log", "--json").output
        )

    def test_a_bad_time_is_a_usage_error(self, invoke: Invoke) -> None:
        r = invoke("events", "log", "--since", "yesterday")
        assert r.exit_code == 2
        assert r.stderr.splitlines()[-1] == (
            "Error: Invalid value for '--since': 'yesterday' is not an ISO time; write e.g. "
            "2025-03-03T10:12:00Z (a time without a zone is UTC)"
        )


# --------------------------------------------------------------------------- upcasting


def test_a_stored_v1_result_reads_as_v2_everywhere_without_the_row_changing(
    invoke: Invoke, db_path: Path, tmp_path: Path
) -> None:
    invoke("ab", "create", "legacy", "--variants", "cold,warm")
    v1 = {"session_type": "warm", "tool_calls": 10, "successful_calls": 9, "success": True}
    with Ledger(db_path) as ledger:  # as the older scripts wrote it: schema 1, `session_type`
        ledger.store.append(
            "ab:legacy",
            1,
            [NewEvent("ResultAdded", v1, schema_version=1, metadata={"actor": "old"})],
        )
    stored = (
        sqlite3.connect(db_path)
        .execute("SELECT schema_version, data FROM events WHERE position = 2")
        .fetchone()
    )
    assert stored == (
        1,
        '{"session_type":"warm","success":true,"successful_calls":9,"tool_calls":10}',
    )
    # the read model (caught up when the file is next opened), ab show and a rebuild
    shown = json.loads(invoke("ab", "show", "legacy", "--json").output)["results"]
    assert [(r["position"], r["variant"], r["tool_calls"]) for r in shown] == [(2, "warm", 10)]
    assert invoke("projections", "rebuild").exit_code == 0
    assert json.loads(invoke("ab", "show", "legacy", "--json").output)["results"] == shown
    # events show: as stored, and as read today
    doc = json.loads(invoke("events", "show", "2", "--json").output)
    assert doc["schema_version"] == 1 and doc["data"] == v1 and doc["hash_matches"]
    assert doc["read_as"] == {
        "schema_version": 2,
        "data": {**{k: v for k, v in v1.items() if k != "session_type"}, "variant": "warm"},
    }
    # export keeps the stored form (the hash covers it); --upcast gives the v2 reading
    (line,) = [
        json.loads(x) for x in export_bytes(db_path).decode().splitlines() if '"position":2' in x
    ]
    assert line["schema_version"] == 1 and line["data"] == v1
    (up,) = [
        json.loads(x)
        for x in export_bytes(db_path, "--upcast").decode().splitlines()
        if '"position":2' in x
    ]
    assert (
        up["schema_version"] == 2
        and up["data"]["variant"] == "warm"
        and "session_type" not in up["data"]
    )
    assert up["stored_schema_version"] == 1 and "hash" not in up
    # an imported copy reads it the same way, and the stored row never changed
    f = tmp_path / "log.jsonl"
    f.write_bytes(export_bytes(db_path))
    assert run(tmp_path / "copy.db", "events", "import", str(f)).exit_code == 0
    assert (
        json.loads(run(tmp_path / "copy.db", "ab", "show", "legacy", "--json").output)["results"]
        == shown
    )
    assert (
        sqlite3.connect(db_path)
        .execute("SELECT schema_version, data FROM events WHERE position = 2")
        .fetchone()
        == stored
    )
    assert verify_file(db_path).ok
