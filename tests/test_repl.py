"""The interactive shell, driven through prompt_toolkit's pipe input, and piped stdin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from tests.conftest import count_events
from trialbook.shell.app import App
from trialbook.shell.cli import cli
from trialbook.shell.command_tree import command_tree, completions
from trialbook.shell.repl import repl


def drive(app: App, keys: str) -> int:
    with create_pipe_input() as inp, create_app_session(input=inp, output=DummyOutput()):
        inp.send_text(keys)
        return repl(app, input=inp, output=DummyOutput())


def test_the_repl_runs_commands_keeps_going_after_errors_and_exits(
    db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = App(db_path, interactive=True)
    status = drive(
        app,
        "ab create checkout-flow --variants cold,warm\r"
        "ab add-result checkout-flow --variant hot\r"
        "ab add-result checkout-flow --variant warm --success\r"
        "help\r"
        "ab summary checkout-flow\r"
        "exit\r",
    )
    app.close()
    out, err = capsys.readouterr()
    assert status == 0
    assert "Created A/B test checkout-flow" in out
    assert "Error: variant 'hot' is not in test 'checkout-flow'; use one of: cold, warm" in err
    assert "Recorded a result for variant warm of checkout-flow" in out
    assert "Commands:" in out  # help printed the command list
    assert "warm" in out and "100.0%" in out
    assert count_events(db_path) == 2


def test_events_from_the_repl_record_the_typed_line(db_path: Path) -> None:
    app = App(db_path, interactive=True)
    drive(
        app, "ab create t\rab add-result t --variant treatment --tool-calls 3\r\x04"
    )  # Ctrl-D ends it
    app.close()
    from trialbook.store.sqlite import SQLiteEventStore

    with SQLiteEventStore(db_path) as s:
        e = s.get(2)
    assert e is not None
    assert e.metadata["command"] == "ab add-result t --variant treatment --tool-calls 3"
    assert e.metadata["tier"] == "repl"


def test_a_broken_quote_or_unknown_command_is_one_red_line(
    db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = App(db_path, interactive=True)
    # a line that does not start with a command is a plain request: not understood, nothing run
    drive(app, 'ab create "unclosed\rfrobnicate\rab sumary t\rab list\rexit\r')
    app.close()
    out, err = capsys.readouterr()
    assert "Error: cannot read that line (No closing quotation); check the quotes" in err
    assert "Error: I did not understand that; `help examples` lists requests I understand" in err
    assert "Error: No such command 'sumary'." in err and "Did you mean 'summary'?" in err
    assert "No A/B tests yet" in out


def test_help_for_one_command(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = App(db_path, interactive=True)
    drive(app, "help ab add-result\rquit\r")
    app.close()
    assert "Record one session's result" in capsys.readouterr().out


def test_completion_offers_command_names_then_subcommands_then_options() -> None:
    tree = command_tree(cli)
    assert {"ab", "events", "projections", "demo", "help", "exit"} <= set(completions(tree, ""))
    assert completions(tree, "a") == sorted(name for name in tree if name.startswith("a"))
    assert "ab" in completions(tree, "a") and completions(tree, "ab") == ["ab"]
    assert "add-result" in completions(tree, "ab ")
    assert completions(tree, "ab add") == ["add-result"]
    assert "--tool-calls" in completions(tree, "ab add-result checkout --t")
    assert completions(tree, "nonsense ") == []


def test_piped_lines_run_in_order_and_stop_at_the_first_error(db_path: Path) -> None:
    lines = "ab create t --variants a,b\nab add-result t --variant c\nab add-result t --variant a\n"
    r = subprocess.run(
        [sys.executable, "-m", "trialbook", "--db", str(db_path)],
        input=lines,
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent.parent,
        timeout=60,
    )
    assert r.returncode == 1
    assert r.stderr == "Error: variant 'c' is not in test 't'; use one of: a, b\n"
    assert count_events(db_path) == 1


def test_piped_lines_all_good_exit_0(db_path: Path) -> None:
    lines = "ab create t --variants a,b\nab add-result t --variant a\nab list --json\n"
    r = subprocess.run(
        [sys.executable, "-m", "trialbook", "--db", str(db_path)],
        input=lines,
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent.parent,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout[r.stdout.index("[") :])
    assert listed[0]["results"] == 1
