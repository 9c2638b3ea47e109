"""``trialbook ask``, and the same command giving the same events from the CLI, the shell and ask."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import Invoke, count_events
from tests.test_shell_repl import WARM, WARM_LINE, drive, events
from trialbook.shell.app import App
from trialbook.shell.cli import cli


@pytest.fixture
def store(db_path: Path, invoke: Invoke) -> Path:
    assert invoke("ab", "create", "checkout-flow", "--variants", "cold,warm").exit_code == 0
    return db_path


def ask(db: Path, *args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, ["--db", str(db), "ask", *args])
    return r.exit_code, r.stdout, r.stderr


class TestAsk:
    def test_a_read_runs_and_is_echoed_on_stderr(self, store: Path) -> None:
        code, out, err = ask(store, "what tests do I have?")
        assert code == 0
        assert err == "→ ab list\n"
        assert "checkout-flow  cold,warm" in out

    def test_json_is_passed_to_a_read_that_takes_it(self, store: Path) -> None:
        code, out, err = ask(store, "summarize checkout-flow", "--json")
        assert code == 0 and err == "→ ab summary checkout-flow --json\n"
        assert json.loads(out)["test"] == "checkout-flow"

    def test_a_write_without_yes_is_refused_and_records_nothing(self, store: Path) -> None:
        code, out, err = ask(store, WARM)
        assert code == 1 and out == ""
        assert err == f"→ {WARM_LINE}\nError: this writes: → {WARM_LINE}; re-run with --yes\n"
        assert count_events(store) == 1

    def test_a_write_with_yes_runs_and_records_where_it_came_from(self, store: Path) -> None:
        code, out, _ = ask(store, WARM, "--yes")
        assert code == 0
        assert "Recorded a result for variant warm of checkout-flow" in out
        meta = events(store)[-1]["metadata"]
        assert meta == {
            **meta,
            "input": WARM,
            "parser_tier": "rules",
            "command": WARM_LINE,
            "tier": "ask",
        }

    def test_the_request_may_be_given_unquoted(self, store: Path) -> None:
        code, out, _ = ask(store, "summarize", "checkout-flow")
        assert code == 0 and "cold (control)" in out

    def test_an_incomplete_request_says_what_to_complete(self, store: Path) -> None:
        code, _, err = ask(store, "add a result: 5 calls", "--yes")
        assert code == 1
        assert err == (
            "Error: which variant? — needs --variant VARIANT (one of: cold, warm); complete the command "
            "and run it: trialbook ab add-result checkout-flow --tool-calls 5 --variant …\n"
        )
        assert count_events(store) == 1

    def test_a_refusal_gives_the_reason_and_suggestions(self, store: Path) -> None:
        code, _, err = ask(store, "summarize chekout-flow")
        assert code == 1
        assert err.endswith(
            "Error: there is no test named 'chekout-flow'; did you mean checkout-flow?\n"
        )

    @pytest.mark.parametrize(
        "request_text",
        ["never ship warm in checkout-flow", "don't archive checkout-flow", "ship warm? no"],
    )
    def test_a_negated_change_is_refused_even_with_yes(
        self, store: Path, request_text: str
    ) -> None:
        code, out, err = ask(store, request_text, "--yes")
        assert code == 1 and out == ""
        assert err.startswith("Error: the request says ") and err.count("\n") == 1
        assert count_events(store) == 1

    def test_a_destructive_request_is_refused(self, store: Path) -> None:
        code, _, err = ask(store, "delete all events", "--yes")
        assert code == 1 and "append-only" in err
        assert count_events(store) == 1


def _data(path: Path) -> list[tuple[str, dict]]:
    return [(e["type"], e["data"]) for e in events(path)]


class TestSameEventsEverywhere:
    COMMANDS = [
        "ab create pricing --variants monthly,annual --metric completion_time",
        "ab add-result pricing --variant annual --session-id s1 --tool-calls 4 --successful-calls 3 "
        "--completion-time 12.5 --tokens 900 --cost 0.02 --success --case-id c1 --metric latency=1.5",
        "ab archive pricing --reason done",
        "ab restore pricing",
    ]

    def test_typed_commands_give_identical_event_data_in_the_cli_and_the_shell(
        self, tmp_path: Path
    ) -> None:
        cli_db, shell_db = tmp_path / "cli.db", tmp_path / "trialbook.shell.db"
        runner = CliRunner()
        for line in self.COMMANDS:
            r = runner.invoke(cli, ["--db", str(cli_db), *line.split()])
            assert r.exit_code == 0, r.output
        app = App(shell_db, interactive=True)
        drive(app, "".join(f"{line}\r" for line in self.COMMANDS) + "exit\r")
        app.close()
        assert len(_data(cli_db)) == 4
        assert _data(cli_db) == _data(shell_db)

    def test_a_plain_request_gives_the_data_of_the_command_it_echoed(self, tmp_path: Path) -> None:
        cli_db, shell_db, ask_db = (
            tmp_path / "cli.db",
            tmp_path / "trialbook.shell.db",
            tmp_path / "ask.db",
        )
        runner = CliRunner()
        create = ["ab", "create", "checkout-flow", "--variants", "cold,warm"]
        for db in (cli_db, shell_db, ask_db):
            assert runner.invoke(cli, ["--db", str(db), *create]).exit_code == 0
        assert runner.invoke(cli, ["--db", str(cli_db), *WARM_LINE.split()]).exit_code == 0
        app = App(shell_db, interactive=True)
        drive(app, f"{WARM}\ry\rexit\r")
        app.close()
        assert runner.invoke(cli, ["--db", str(ask_db), "ask", WARM, "--yes"]).exit_code == 0

        def without_session(path: Path) -> list[tuple[str, dict]]:
            out = []
            for type_, data in _data(path):
                assert type_ != "ResultAdded" or data.pop("session_id")  # generated, so different
                out.append((type_, data))
            return out

        assert len(_data(cli_db)) == 2
        assert without_session(cli_db) == without_session(shell_db) == without_session(ask_db)
