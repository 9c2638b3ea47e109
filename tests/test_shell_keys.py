"""The shell's keys and words (issue #24): option completion, Tab, `clear`, the README prefix, the toolbar."""

from __future__ import annotations

from pathlib import Path

import pytest
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from tests.conftest import Invoke, count_events
from tests.test_shell_repl import drive, events
from trialbook.shell.app import App
from trialbook.shell.cli import cli
from trialbook.shell.command_tree import Leaf, command_tree, completions, toolbar_text
from trialbook.shell.repl import _completer, complete, run_line, shell_spelling, without_prefix


@pytest.fixture
def app(db_path: Path, invoke: Invoke) -> App:
    assert invoke("ab", "create", "checkout-flow", "--variants", "cold,warm").exit_code == 0
    a = App(db_path, interactive=True)
    yield a  # type: ignore[misc]
    a.close()


def texts(app: App, line: str) -> list[str]:
    """What the terminal's completer offers for ``line`` (through prompt_toolkit's API)."""
    completer = _completer(app).completer  # the layer under the thread
    event = CompleteEvent(completion_requested=True)
    return [c.text for c in completer.get_completions(Document(line), event)]


def add_result_options() -> list[str]:
    leaf = command_tree(cli)["ab"]["add-result"]
    assert isinstance(leaf, Leaf)
    return list(leaf.options)


class TestOptionCompletion:
    def test_a_partly_typed_option_completes_through_the_terminal_completer(self, app: App) -> None:
        assert texts(app, "ab add-result checkout-flow --var") == ["--variant"]
        assert texts(app, "ab add-result checkout-flow --completion") == ["--completion-time"]

    def test_two_dashes_offer_every_option_of_the_command(self, app: App) -> None:
        got = texts(app, "ab add-result checkout-flow --")
        assert got == sorted(add_result_options())
        assert "--variant" in got and "--tool-calls" in got

    def test_once_every_argument_is_given_the_options_are_offered(self) -> None:
        tree = command_tree(cli)
        assert completions(tree, "ab summary checkout-flow ") == sorted(
            tree["ab"]["summary"].options
        )

    def test_the_completion_replaces_only_the_typed_part_of_the_option(self, app: App) -> None:
        completer = _completer(app).completer
        event = CompleteEvent(completion_requested=True)
        (c,) = completer.get_completions(Document("ab add-result checkout-flow --var"), event)
        assert c.start_position == -len("--var")

    def test_a_readme_command_with_its_prefix_completes_like_the_command(self, app: App) -> None:
        assert texts(app, "trialbook ab add-result checkout-flow --var") == ["--variant"]
        assert "summary" in texts(app, "trialbook ab summ")

    def test_clear_is_a_shell_word(self) -> None:
        assert completions(command_tree(cli), "cle") == ["clear"]


class TestTab:
    def _buffer(self, app: App, text: str) -> Buffer:
        buffer = Buffer(completer=_completer(app))
        buffer.set_document(Document(text))
        return buffer

    def test_a_single_match_is_completed_in_one_press_with_a_space(self, app: App) -> None:
        buffer = self._buffer(app, "ab add-result checkout-flow --var")
        complete(buffer)
        assert buffer.text == "ab add-result checkout-flow --variant "
        assert buffer.complete_state is None

    def test_several_matches_leave_the_line_as_typed_until_one_is_chosen(
        self, app: App, db_path: Path
    ) -> None:
        # --co: --completion-time, --corrections, --cost; Tab inserts only their common part
        drive(app, "ab add-result checkout-flow --variant warm --co\tst 0.5\rexit\r")
        last = events(db_path)[-1]
        assert last["type"] == "ResultAdded" and last["data"]["cost"] == 0.5

    def test_tab_then_enter_runs_the_completed_line(self, app: App, db_path: Path) -> None:
        assert drive(app, "ab add-result checkout-flow --var\twarm --tool-calls 3\rexit\r") == 0
        last = events(db_path)[-1]
        assert last["type"] == "ResultAdded" and last["data"]["variant"] == "warm"
        assert (
            last["metadata"]["command"]
            == "ab add-result checkout-flow --variant warm --tool-calls 3"
        )

    def test_tab_completes_a_command_word_then_its_test_name(
        self, app: App, db_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        drive(app, "ab summ\tcheckout\t\rexit\r")
        assert "checkout-flow" in capsys.readouterr().out
        assert count_events(db_path) == 1


class TestShellWords:
    def test_a_readme_command_with_the_trialbook_prefix_runs(
        self, app: App, db_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert run_line(app, "trialbook ab add-result checkout-flow --variant warm --success")
        assert run_line(app, "$ trialbook ab list")
        out = capsys.readouterr().out
        assert "Recorded a result for variant warm" in out and "checkout-flow" in out
        assert count_events(db_path) == 2

    def test_the_prefix_goes_only_before_a_command(self) -> None:
        assert without_prefix("trialbook ab list") == "ab list"
        assert without_prefix("trialbook --version") == "--version"
        assert without_prefix("trialbook") == "help"
        assert without_prefix("trialbook is slow today") == "trialbook is slow today"
        assert without_prefix("ab list") == "ab list"

    def test_clear_runs_and_records_nothing(self, app: App, db_path: Path) -> None:
        assert run_line(app, "clear")
        assert count_events(db_path) == 1

    def test_usage_errors_point_at_help_in_the_shells_spelling(
        self, app: App, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert not run_line(app, "ab sumary checkout-flow")
        err = capsys.readouterr().err
        assert "Try `help ab`." in err and "--help" not in err
        assert not run_line(app, "ab add-result checkout-flow --varant warm")
        err = capsys.readouterr().err
        assert "Did you mean" in err or "did you mean" in err
        assert "Try `help ab add-result`." in err

    def test_messages_name_commands_without_the_prefix(self) -> None:
        assert shell_spelling("see `trialbook ab list`") == "see `ab list`"
        assert shell_spelling("run `trialbook --db x.db`") == "run `trialbook --db x.db`"
        assert shell_spelling("Try 'trialbook ab --help' for help.") == "Try `help ab` for help."

    def test_a_group_alone_shows_its_help(
        self, app: App, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert run_line(app, "ab")
        out, err = capsys.readouterr()
        assert "add-result" in out and err == ""


class TestToolbar:
    def test_a_long_pending_write_is_wrapped_whole_never_cut(self, app: App) -> None:
        command = (
            "ab add-result checkout-flow --variant warm --tool-calls 12 --successful-calls 11 "
            "--completion-time 40 --tokens 1500 --cost 0.03 --notes " + "x" * 90
        )
        app.pending = command
        text = toolbar_text(app, width=50)
        lines = text.split("\n")
        assert len(lines) > 3 and all(len(line) <= 50 for line in lines[1:])
        shown = " ".join(line.strip() for line in lines[1:])
        assert shown.replace(" ", "") == f"pending write: {command} [y/N]".replace(" ", "")
        assert shown.startswith("pending write: ab add-result")
        assert shown.endswith("[y/N]")
