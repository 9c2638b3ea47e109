"""The chat shell through prompt_toolkit's pipe input: plain requests, confirmation, editing, focus."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from tests.conftest import Invoke, count_events
from trialbook.shell.app import App
from trialbook.shell.cli import cli
from trialbook.shell.command_tree import toolbar_text
from trialbook.shell.repl import PagedStdout, repl

ROOT = Path(__file__).parent.parent
WARM = "add a warm result: 12 calls, 11 ok, took 40s"
WARM_LINE = (
    "ab add-result checkout-flow --variant warm --tool-calls 12 --successful-calls 11 "
    "--completion-time 40"
)


def drive(app: App, keys: str) -> int:
    with create_pipe_input() as inp, create_app_session(input=inp, output=DummyOutput()):
        inp.send_text(keys)
        return repl(app, input=inp, output=DummyOutput())


def events(path: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT type, data, metadata FROM events ORDER BY position").fetchall()
    finally:
        conn.close()
    return [{"type": t, "data": json.loads(d), "metadata": json.loads(m)} for t, d, m in rows]


@pytest.fixture
def store(db_path: Path, invoke: Invoke) -> Path:
    """A database holding test checkout-flow (cold, warm)."""
    assert invoke("ab", "create", "checkout-flow", "--variants", "cold,warm").exit_code == 0
    return db_path


@pytest.fixture
def app(store: Path) -> Any:
    a = App(store, interactive=True)
    yield a
    a.close()


class TestPlainRequests:
    def test_a_plain_write_is_echoed_confirmed_with_y_and_recorded_with_its_origin(
        self, app: App, store: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert drive(app, f"{WARM}\ry\rexit\r") == 0
        out, err = capsys.readouterr()
        assert f"→ {WARM_LINE}\n" in out
        assert "Recorded a result for variant warm of checkout-flow" in out
        assert err == ""
        last = events(store)[-1]
        assert last["type"] == "ResultAdded"
        assert last["data"]["tool_calls"] == 12 and last["data"]["successful_calls"] == 11
        assert last["data"]["completion_time"] == 40
        meta = last["metadata"]
        assert meta["input"] == WARM
        assert meta["parser_tier"] == "rules"
        assert meta["command"] == WARM_LINE
        assert meta["tier"] == "repl"

    @pytest.mark.parametrize(
        "answer", ["n\r", "\r", "\x04", "maybe\r"], ids=["n", "enter", "eof", "other"]
    )
    def test_anything_but_yes_records_nothing(
        self, app: App, store: Path, answer: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        drive(app, f"{WARM}\r{answer}exit\r")
        out, _ = capsys.readouterr()
        assert f"→ {WARM_LINE}" in out
        assert "Not run; nothing recorded." in out
        assert count_events(store) == 1

    def test_a_plain_read_runs_at_once(self, app: App, capsys: pytest.CaptureFixture[str]) -> None:
        drive(app, "what tests do I have?\rexit\r")
        out, _ = capsys.readouterr()
        assert "→ ab list\n" in out
        assert "checkout-flow  cold,warm" in out

    def test_a_missing_value_opens_the_line_prefilled_and_the_edit_runs(
        self, app: App, store: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        # the prompt opens with "ab add-result checkout-flow --tool-calls 5 --variant "; type "warm"
        drive(app, "add a result: 5 calls\rwarm\rexit\r")
        out, _ = capsys.readouterr()
        assert "which variant? — needs --variant VARIANT (one of: cold, warm)" in out
        assert "Recorded a result for variant warm" in out
        meta = events(store)[-1]["metadata"]
        assert meta["command"] == "ab add-result checkout-flow --tool-calls 5 --variant warm"
        assert meta["parser_tier"] == "rules+edited"
        assert meta["input"] == "add a result: 5 calls"

    def test_a_cancelled_edit_runs_nothing(
        self, app: App, store: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        drive(app, "add a result: 5 calls\r\x03exit\r")  # Ctrl-C in the pre-filled line
        assert "Cancelled; nothing run." in capsys.readouterr().out
        assert count_events(store) == 1

    def test_a_refusal_is_one_red_line_with_did_you_mean(
        self, app: App, store: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        drive(app, "summarize chekout-flow\rdelete every event\revnts\rexit\r")
        _, err = capsys.readouterr()
        assert "Error: there is no test named 'chekout-flow'; did you mean checkout-flow?" in err
        assert "Error: the event log is append-only" in err
        assert "did you mean the command `events`?" in err
        assert count_events(store) == 1

    def test_not_understood_shows_close_examples_for_commands_that_exist(
        self, app: App, capsys: pytest.CaptureFixture[str]
    ) -> None:
        drive(app, "jot down that the toasty arm had twelve calls with eleven fine\rexit\r")
        _, err = capsys.readouterr()
        assert "Error: I did not understand that" in err
        assert "close examples:" in err and "→  ab add-result" in err
        assert "eval compare" not in err or _has_command("eval", "compare")


def _has_command(*path: str) -> bool:
    from trialbook.shell.line_checks import command_exists

    return command_exists(path)


class TestFocus:
    def test_use_focuses_a_test_for_plain_requests_and_typed_commands(
        self, app: App, store: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        drive(
            app, "use checkout-flow\radd a cold result: 3 calls, 2 ok\ry\rab summary\ruse\rexit\r"
        )
        out, err = capsys.readouterr()
        assert "Focus: checkout-flow." in out
        assert (
            "→ ab add-result checkout-flow --variant cold --tool-calls 3 --successful-calls 2"
            in out
        )
        assert "→ ab summary checkout-flow\n" in out  # the typed command got the focus, visibly
        assert "cold (control)" in out
        assert "In focus: checkout-flow" in out
        assert err == ""
        assert app.focus == "checkout-flow"

    def test_use_of_an_unknown_name_suggests_and_changes_nothing(
        self, app: App, capsys: pytest.CaptureFixture[str]
    ) -> None:
        drive(app, "use checkout\rexit\r")
        _, err = capsys.readouterr()
        assert "Error: there is no test or run named 'checkout'; did you mean checkout-flow?" in err
        assert app.focus is None

    def test_use_dash_clears_the_focus(self, app: App, capsys: pytest.CaptureFixture[str]) -> None:
        drive(app, "use checkout-flow\ruse -\rexit\r")
        assert "Focus cleared." in capsys.readouterr().out
        assert app.focus is None

    def test_the_toolbar_shows_the_db_focus_and_a_pending_write(self, app: App) -> None:
        assert toolbar_text(app) == f" db: {app.db_path}"
        app.focus = "checkout-flow"
        app.pending = WARM_LINE
        text = toolbar_text(app, width=200)
        assert "focus: checkout-flow" in text and f"pending write: {WARM_LINE} [y/N]" in text


class TestHelp:
    def test_help_examples_lists_requests_beside_their_commands(
        self, app: App, capsys: pytest.CaptureFixture[str]
    ) -> None:
        drive(app, "help examples\rexit\r")
        out = capsys.readouterr().out
        assert "  add a warm result: 12 calls, 11 ok, took 40s\n      → " + WARM_LINE in out
        assert "  what tests do I have?\n      → ab list" in out

    def test_help_and_question_mark_list_commands_and_the_shell(
        self, app: App, capsys: pytest.CaptureFixture[str]
    ) -> None:
        drive(app, "?\rexit\r")
        out = capsys.readouterr().out
        assert "Commands:" in out and "ask" in out
        assert "use NAME" in out and "Esc Enter inserts a newline" in out


class TestKeysAndRunning:
    def test_esc_enter_inserts_a_newline_and_enter_runs_the_whole_line(
        self, app: App, capsys: pytest.CaptureFixture[str]
    ) -> None:
        drive(app, "ab summary\x1b\rcheckout-flow\rexit\r")
        assert "cold (control)" in capsys.readouterr().out

    def test_ctrl_c_during_a_command_cancels_it_and_the_shell_goes_on(
        self, app: App, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        @click.command("slow")
        def slow() -> None:
            """A command interrupted by Ctrl-C (for this test)."""
            raise KeyboardInterrupt

        monkeypatch.setitem(cli.commands, "slow", slow)
        drive(app, "slow\rab list\rexit\r")
        out, err = capsys.readouterr()
        assert "Cancelled (Ctrl-C)." in err
        assert "checkout-flow" in out  # the next line still ran

    def test_history_goes_to_trialbook_history_when_set(
        self, app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        history = tmp_path / "hist" / "h"
        monkeypatch.setenv("TRIALBOOK_HISTORY", str(history))
        drive(app, "ab list\rexit\r")
        assert "ab list" in history.read_text()

    def test_history_defaults_to_the_xdg_state_dir(
        self, app: App, isolated_user_dirs: Path
    ) -> None:
        drive(app, "ab list\rexit\r")
        assert "ab list" in (isolated_user_dirs / "state" / "trialbook" / "history").read_text()


class TestPagedOutput:
    def test_output_taller_than_the_terminal_goes_to_the_pager(self) -> None:
        real, paged = io.StringIO(), []
        held = PagedStdout(real, height=5)
        held.write("".join(f"line {i}\n" for i in range(10)))
        held.finish(paged.append)
        assert paged == ["".join(f"line {i}\n" for i in range(10))] and real.getvalue() == ""

    def test_short_output_is_written_directly(self) -> None:
        real, paged = io.StringIO(), []
        held = PagedStdout(real, height=24)
        held.write("one\ntwo\n")
        held.finish(paged.append)
        assert paged == [] and real.getvalue() == "one\ntwo\n"

    def test_output_still_coming_after_the_grace_period_streams_through(self) -> None:
        real, paged = io.StringIO(), []
        held = PagedStdout(real, height=2, grace=0.0)
        held.write("a\nb\nc\nd\n")
        assert real.getvalue() == "a\nb\nc\nd\n"
        held.finish(paged.append)
        assert paged == []

    def test_click_writes_through_it_in_text(self) -> None:
        real = io.StringIO()
        held = PagedStdout(real, height=24)
        click.echo("hello", file=held)  # type: ignore[arg-type]
        held.finish(lambda s: None)
        assert real.getvalue() == "hello\n"


class TestPipedInput:
    def run(self, db: Path, lines: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "trialbook", "--db", str(db)],
            input=lines,
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )

    def test_plain_reads_run_from_a_pipe(self, store: Path) -> None:
        r = self.run(store, "what tests do I have?\nsummarize checkout-flow\n")
        assert r.returncode == 0, r.stderr
        assert "→ ab list" in r.stdout and "→ ab summary checkout-flow" in r.stdout

    def test_a_plain_write_from_a_pipe_is_refused_and_stops_the_run(self, store: Path) -> None:
        r = self.run(store, f"{WARM}\nab list\n")
        assert r.returncode == 1
        assert r.stderr.startswith(f"Error: this writes: → {WARM_LINE}; plain-language writes need")
        assert "ab list" not in r.stdout and "checkout-flow  cold" not in r.stdout
        assert count_events(store) == 1

    def test_typed_commands_from_a_pipe_record_their_origin(self, store: Path) -> None:
        r = self.run(store, "ab add-result checkout-flow --variant cold --tool-calls 2\n")
        assert r.returncode == 0, r.stderr
        meta = events(store)[-1]["metadata"]
        assert meta["tier"] == "stdin" and meta["parser_tier"] == "command"
        assert (
            meta["input"]
            == meta["command"]
            == "ab add-result checkout-flow --variant cold --tool-calls 2"
        )

    def test_an_incomplete_request_from_a_pipe_says_what_to_complete(self, store: Path) -> None:
        r = self.run(store, "add a result: 5 calls\n")
        assert r.returncode == 1
        assert "needs --variant VARIANT (one of: cold, warm)" in r.stderr
        assert "ab add-result checkout-flow --tool-calls 5 --variant" in r.stderr
