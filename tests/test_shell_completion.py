"""Completion from the click group and the store's names, as pure functions; the cached vocabulary."""

from __future__ import annotations

from pathlib import Path

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from tests.conftest import Invoke
from trialbook.plain.translate import Vocabulary
from trialbook.shell.app import App
from trialbook.shell.cli import cli
from trialbook.shell.command_tree import Leaf, command_tree, completions
from trialbook.shell.repl import _completer

VOCAB = Vocabulary(
    tests={"checkout-flow": ("cold", "warm"), "onboarding": ("control", "treatment")},
    archived={"old-pricing": ("monthly", "annual")},
    suites={"smoke"},
    runs={"baseline-0401"},
    scorers={"exact", "judge"},
)


@pytest.fixture(scope="module")
def tree() -> dict:
    return command_tree(cli)


class TestCompletionOfStoreNames:
    def test_a_test_argument_completes_test_names_active_and_archived(self, tree: dict) -> None:
        assert completions(tree, "ab summary ", VOCAB) == [
            "checkout-flow",
            "old-pricing",
            "onboarding",
        ]
        assert completions(tree, "ab summary che", VOCAB) == ["checkout-flow"]
        assert completions(tree, "ab restore old", VOCAB) == ["old-pricing"]

    def test_variant_options_complete_the_variants_of_the_named_test(self, tree: dict) -> None:
        assert completions(tree, "ab add-result checkout-flow --variant ", VOCAB) == [
            "cold",
            "warm",
        ]
        assert completions(tree, "ab add-result onboarding --variant t", VOCAB) == ["treatment"]
        assert completions(tree, "ab conclude checkout-flow --ship w", VOCAB) == ["warm"]

    def test_the_focus_stands_in_for_a_missing_test(self, tree: dict) -> None:
        line = "ab add-result --variant "
        assert completions(tree, line, VOCAB, focus="onboarding") == ["control", "treatment"]

    def test_options_still_complete_after_names(self, tree: dict) -> None:
        assert "--tool-calls" in completions(tree, "ab add-result checkout-flow --t", VOCAB)

    def test_choices_and_metric_names_complete(self, tree: dict) -> None:
        assert completions(tree, "ab create x --difficulty ", VOCAB) == ["easy", "hard", "medium"]
        assert "completion_time" in completions(tree, "ab create x --metric comp", VOCAB)

    def test_event_streams_complete_from_the_store(self, tree: dict) -> None:
        got = completions(tree, "events log --stream ", VOCAB)
        assert {"ab:checkout-flow", "suite:smoke", "eval-run:baseline-0401"} <= set(got)

    def test_use_completes_tests_and_runs(self, tree: dict) -> None:
        assert completions(tree, "use ", VOCAB) == [
            "baseline-0401",
            "checkout-flow",
            "old-pricing",
            "onboarding",
        ]

    def test_a_plain_request_completes_store_names(self, tree: dict) -> None:
        assert completions(tree, "add a result for chec", VOCAB) == ["checkout-flow"]
        assert completions(tree, "add a wa", VOCAB) == ["warm"]
        assert completions(tree, "add a wa") == []  # no store, no names
        assert completions(tree, "what's che", VOCAB) == ["checkout-flow"]  # an apostrophe is fine

    def test_a_new_name_is_not_completed(self, tree: dict) -> None:
        assert completions(tree, "ab create ", VOCAB) == []

    def test_help_completes_commands_and_examples(self, tree: dict) -> None:
        assert "examples" in completions(tree, "help ", VOCAB)
        assert completions(tree, "help ab add", VOCAB) == ["add-result"]

    def test_the_tree_is_built_from_the_click_group(self, tree: dict) -> None:
        leaf = tree["ab"]["add-result"]
        assert isinstance(leaf, Leaf)
        assert leaf.arguments == ("test",) and leaf.values["--variant"] == "variant"
        assert "ask" in tree and isinstance(tree["ask"], Leaf)


def _texts(app: App, line: str) -> list[str]:
    completer = _completer(app).completer  # the layer under the thread
    return [
        c.text
        for c in completer.get_completions(Document(line), CompleteEvent(completion_requested=True))
    ]


class TestTheTerminalCompleter:
    def test_it_fuzzy_matches_names_from_the_store(self, db_path: Path, invoke: Invoke) -> None:
        invoke("ab", "create", "checkout-flow", "--variants", "cold,warm")
        app = App(db_path)
        try:
            assert _texts(app, "ab summary chflow") == ["checkout-flow"]
            assert _texts(app, "ab ad-rs") == ["add-result"]
            assert _texts(app, "add a result for w") == []  # plain requests: two characters first
            assert _texts(app, "add a result for wm") == ["warm"]
        finally:
            app.close()


class TestVocabulary:
    def test_it_is_read_from_the_store_and_refreshed_after_a_write(
        self, db_path: Path, invoke: Invoke
    ) -> None:
        app = App(db_path)
        try:
            assert app.vocabulary() == Vocabulary()  # no file yet
            invoke("ab", "create", "t1", "--variants", "a,b")
            assert dict(app.vocabulary().tests) == {"t1": ("a", "b")}
            first = app.vocabulary()
            assert app.vocabulary() is first  # cached while nothing changes
            invoke("ab", "create", "t2")
            invoke("ab", "archive", "t1")
            vocab = app.vocabulary()
            assert dict(vocab.tests) == {"t2": ("control", "treatment")}
            assert dict(vocab.archived) == {"t1": ("a", "b")}
        finally:
            app.close()

    def test_writes_through_the_sessions_own_ledger_refresh_it_too(self, db_path: Path) -> None:
        from trialbook.shell.repl import run_line

        app = App(db_path, interactive=True)
        try:
            assert run_line(app, "ab create t1")
            assert "t1" in app.vocabulary().tests
            assert run_line(app, "ab create t2")
            assert set(app.vocabulary().tests) == {"t1", "t2"}
        finally:
            app.close()

    def test_suites_and_runs_come_from_their_streams(self, db_path: Path) -> None:
        import sqlite3

        from trialbook.shell.app import read_vocabulary

        conn = sqlite3.connect(db_path)
        conn.execute(
            "CREATE TABLE events (position INTEGER PRIMARY KEY, stream_id TEXT, version INT, type TEXT, data TEXT)"
        )
        conn.executemany(
            "INSERT INTO events (stream_id, version, type, data) VALUES (?, ?, ?, ?)",
            [
                ("suite:smoke", 1, "SuiteRegistered", "{}"),
                ("suite:smoke", 2, "SuiteRegistered", "{}"),
                ("eval-run:r1", 1, "RunStarted", '{"name": "baseline"}'),
                ("eval-run:r1", 2, "VerdictRecorded", '{"scorer": "my-judge"}'),
                ("ab:x", 1, "TestCreated", "{}"),
            ],
        )
        conn.commit()
        vocab = read_vocabulary(conn)
        conn.close()
        assert vocab.suites == {"smoke"}
        assert vocab.runs == {"r1", "baseline"}
        assert "my-judge" in vocab.scorers and "judge" in vocab.scorers
        assert dict(vocab.tests) == {}  # no A/B read model in this file
