"""Issue #19: the warm-session framework's saved tests and SessionResult lines import as written.

The files are written by ``tests/warm_session_framework.py``, the framework's
dataclasses and ``save_test`` rebuilt from the issue, so they are byte for byte
what its users have in ``~/.hermes/ab_tests``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

import trialbook
from tests.conftest import Invoke, count_events
from tests.warm_session_framework import (
    DEBUG_TASK,
    SessionResult,
    TestTask,
    saved_test,
    session_lines,
)
from trialbook.domain import ab as d
from trialbook.domain.commands import build
from trialbook.domain.errors import InvalidCommand
from trialbook.ledger.importing import seed_recommendation, seed_test_name

TEST_ID = "test_3f2a9c1d"

#: where each key of a saved SessionResult lands in `ab show --json`'s result (None: not stored)
SESSION_KEYS = {
    "session_id": "session_id",
    "session_type": "variant",
    "task_id": "case_id",
    "start_time": "start_time",  # kept as recorded (test_start_and_end_times_are_kept_as_recorded)
    "end_time": "end_time",
    "tool_calls": "tool_calls",
    "successful_tool_calls": "successful_calls",
    "errors": "error_messages",
    "completion_time_seconds": "completion_time",
    "message_count": "messages",
    "user_corrections": "corrections",
    "notes": "notes",
    "success_rate": None,  # derived: never stored
    "error_rate": None,
}


def import_ok(invoke: Invoke, *args: str, input: str | None = None) -> Any:
    r = invoke("ab", "import", *args, input=input)
    assert r.exit_code == 0, r.output
    return r


def cli_json(invoke: Invoke, *args: str) -> Any:
    r = invoke(*args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def event_data(invoke: Invoke, event_type: str) -> list[dict[str, Any]]:
    return [
        e["data"] for e in cli_json(invoke, "events", "log", "--type", event_type, "--limit", "0")
    ]


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Any, Path]:
    """A test saved by the framework in ``<tmp>/ab_tests/test_3f2a9c1d.json``."""
    return saved_test(tmp_path / "ab_tests", TEST_ID)


class TestTheFixtures:
    def test_save_test_writes_json_dump_with_indent_2_and_no_newline_at_the_end(
        self, saved: tuple[Any, Path]
    ) -> None:
        framework, path = saved
        raw = path.read_bytes()
        assert raw.startswith(b'{\n  "task": {\n    "task_id": "debug_failing_test",\n')
        assert not raw.endswith(b"\n") and b"\\u2192" in raw  # json.dump's ensure_ascii
        doc = json.loads(raw)
        assert list(doc) == ["task", "cold_results", "warm_results", "summary"]
        assert list(doc["task"]) == list(TestTask.__dataclass_fields__)
        assert list(doc["cold_results"][0]) == [
            *SessionResult.__dataclass_fields__,
            "success_rate",
            "error_rate",
        ]
        assert set(doc["cold_results"][0]) == set(SESSION_KEYS)
        assert raw == json.dumps(doc, indent=2).encode()


class TestSavedTestFiles:
    def test_a_saved_test_creates_its_test_with_the_task_on_the_definition(
        self, invoke: Invoke, saved: tuple[Any, Path], db_path: Path
    ) -> None:
        _, path = saved
        r = import_ok(invoke, str(path))
        assert r.stdout.startswith(
            f"Created test {TEST_ID} from {path} (variants cold, warm; control: cold; "
            "metric: error_rate; event #1) and imported 16 results (events #2-#17).\n"
        )
        assert count_events(db_path) == 17
        test = cli_json(invoke, "ab", "show", TEST_ID)["test"]
        assert (test["variants"], test["control"], test["metric"]) == (
            ["cold", "warm"],
            "cold",
            "error_rate",
        )
        for key in ("task_id", "description", "prompt", "category", "difficulty"):
            assert test[key] == getattr(DEBUG_TASK, key)
        (created,) = event_data(invoke, "TestCreated")
        assert created["expected_tools"] == DEBUG_TASK.expected_tools
        assert created["success_criteria"] == DEBUG_TASK.success_criteria

    def test_every_field_of_every_session_comes_back_from_ab_show(
        self, invoke: Invoke, saved: tuple[Any, Path]
    ) -> None:
        _, path = saved
        doc = json.loads(path.read_text())
        import_ok(invoke, str(path))
        shown = cli_json(invoke, "ab", "show", TEST_ID, "--limit", "0")["results"]
        sessions = doc["cold_results"] + doc["warm_results"]
        assert len(shown) == len(sessions) == 16
        for session, result in zip(sessions, shown, strict=True):
            assert set(session) == set(SESSION_KEYS)  # nothing in the file goes unaccounted for
            for key, where in SESSION_KEYS.items():
                if where is None:
                    continue
                expected = session[key] or None if key == "notes" else session[key]
                assert result[where] == expected, key
            assert result["errors"] == len(session["errors"])  # [] is a known zero
            assert result["success"] is None  # the framework records no session outcome
        assert any(r["notes"] == "user asked to re-run the suite → passed" for r in shown)

    def test_start_and_end_times_are_kept_as_recorded(
        self, invoke: Invoke, saved: tuple[Any, Path]
    ) -> None:
        _, path = saved
        doc = json.loads(path.read_text())
        import_ok(invoke, str(path))
        stored = event_data(invoke, "ResultAdded")
        sessions = doc["cold_results"] + doc["warm_results"]
        assert [(e["start_time"], e["end_time"]) for e in stored] == [
            (s["start_time"], s["end_time"]) for s in sessions
        ]
        assert not any("success_rate" in e or "error_rate" in e for e in stored)

    def test_ab_summary_matches_the_frameworks_own_summary(
        self, invoke: Invoke, saved: tuple[Any, Path]
    ) -> None:
        _, path = saved
        seed = json.loads(path.read_text())["summary"]
        import_ok(invoke, str(path))
        ours = {v["variant"]: v for v in cli_json(invoke, "ab", "summary", TEST_ID)["variants"]}
        for kind in ("cold", "warm"):
            theirs, mine = seed[kind], ours[kind]
            assert mine["results"] == theirs["sessions"]
            assert mine["mean_error_rate"] == pytest.approx(theirs["avg_error_rate"], rel=1e-12)
            # the framework's success rate is the share of tool calls that succeeded: trialbook's
            # tool_success_rate, the mean over sessions of successful / tool calls
            assert mine["mean_tool_success_rate"] == pytest.approx(
                theirs["avg_success_rate"], rel=1e-12
            )
            assert mine["mean_completion_time"] == pytest.approx(theirs["avg_completion_time"])
            assert mine["mean_messages"] == pytest.approx(theirs["avg_message_count"])
            # trialbook's success rate is the share of sessions that succeeded: none recorded
            assert (mine["success_known"], mine["success_rate"]) == (0, None)
        text = invoke("ab", "summary", TEST_ID).output
        assert "tool success" in text
        assert all(f"{seed[k]['avg_success_rate'] * 100:.1f}%" in text for k in ("cold", "warm"))

    def test_derived_figures_and_the_summary_are_not_stored_and_a_note_says_so(
        self, invoke: Invoke, saved: tuple[Any, Path]
    ) -> None:
        _, path = saved
        r = import_ok(invoke, str(path))
        assert (
            "Note: error_rate and success_rate of 16 sessions were not stored: the framework "
            "derives them from tool_calls and successful_tool_calls" in r.stderr
        )
        assert f"`trialbook ab summary {TEST_ID}` computes its counts and averages" in r.stderr
        assert "(metrics error_rate and tool_success_rate)" in r.stderr
        assert (
            "the framework's avg_success_rate is mean_tool_success_rate there: metric "
            "tool_success_rate, the mean of each session's successful / tool calls"
        ) in " ".join(r.stderr.split())

    def test_importing_the_same_file_again_changes_nothing(
        self, invoke: Invoke, saved: tuple[Any, Path], db_path: Path
    ) -> None:
        _, path = saved
        import_ok(invoke, str(path))
        before = cli_json(invoke, "events", "log", "--limit", "0")
        r = import_ok(invoke, str(path))
        assert r.output == (
            f"Nothing new in {path}: test {TEST_ID} and its 16 results were imported before.\n"
        )
        assert cli_json(invoke, "events", "log", "--limit", "0") == before

    def test_a_test_saved_again_with_more_sessions_adds_only_the_new_ones(
        self, invoke: Invoke, tmp_path: Path, db_path: Path
    ) -> None:
        framework, path = saved_test(tmp_path / "ab_tests", TEST_ID, sessions=4)
        import_ok(invoke, str(path))
        assert count_events(db_path) == 9
        grown, path = saved_test(tmp_path / "ab_tests", TEST_ID, sessions=6)  # same seed: a prefix
        r = import_ok(invoke, str(path))
        assert r.stdout.startswith(
            f"Imported 4 new results from {path} into {TEST_ID} (events #10-#13); "
            "8 were imported before.\n"
        )
        shown = cli_json(invoke, "ab", "show", TEST_ID, "--limit", "0")["results"]
        results = grown.results[TEST_ID]
        assert sorted(r["session_id"] for r in shown) == sorted(
            s.session_id for s in results["cold"] + results["warm"]
        )

    def test_a_name_given_names_the_test(self, invoke: Invoke, saved: tuple[Any, Path]) -> None:
        _, path = saved
        import_ok(invoke, "debugging-warm", str(path))
        assert [t["name"] for t in cli_json(invoke, "ab", "list")] == ["debugging-warm"]

    def test_a_directory_imports_every_test_file_in_it(
        self, invoke: Invoke, tmp_path: Path, db_path: Path
    ) -> None:
        folder = tmp_path / "ab_tests"
        saved_test(folder, "test_3f2a9c1d", sessions=3)
        other = TestTask(**{**DEBUG_TASK.__dict__, "task_id": "write_docs", "difficulty": "easy"})
        saved_test(folder, "test_a7c01e55", task=other, sessions=2, seed=5)
        (folder / "README.txt").write_text("not a test")
        r = import_ok(invoke, str(folder))
        assert "Created test test_3f2a9c1d" in r.stdout and "Created test test_a7c01e55" in r.stdout
        assert count_events(db_path) == 2 + 6 + 4
        tests = cli_json(invoke, "ab", "list")
        assert [(t["name"], t["task_id"], t["results"]) for t in tests] == [
            ("test_3f2a9c1d", "debug_failing_test", 6),
            ("test_a7c01e55", "write_docs", 4),
        ]
        assert "Nothing new" in import_ok(invoke, str(folder)).stdout
        assert count_events(db_path) == 12

    def test_a_test_id_that_is_not_a_test_name_is_named_like_it_with_a_note(
        self, invoke: Invoke, tmp_path: Path
    ) -> None:
        _, path = saved_test(tmp_path / "ab_tests", "Test Debug 7", sessions=1)
        r = import_ok(invoke, str(path))
        assert "Created test test-debug-7 from" in r.stdout
        assert (
            "Note: " in r.stderr
            and "test id 'Test Debug 7' is named 'test-debug-7' here" in r.stderr
        )
        assert seed_test_name("__Weird__/ID") == "weird__-id"

    def test_a_test_file_reads_from_stdin_when_named(
        self, invoke: Invoke, saved: tuple[Any, Path]
    ) -> None:
        _, path = saved
        r = import_ok(invoke, "from-stdin", "-", input=path.read_text())
        assert r.stdout.startswith("Created test from-stdin from - ")
        r = invoke("ab", "import", "-", input=path.read_text())
        assert r.exit_code == 1
        assert r.output == (
            "Error: -: no test id to name the test by; name it: trialbook ab import NAME -\n"
        )


class TestBesideTheFrameworksRule:
    def test_its_20_percent_rule_is_printed_beside_trialbooks_and_why_they_differ(
        self, invoke: Invoke, saved: tuple[Any, Path]
    ) -> None:
        _, path = saved
        seed = json.loads(path.read_text())["summary"]
        assert seed["recommendation"] == "Use warm sessions: 51% lower error rate"
        r = import_ok(invoke, str(path))
        lines = r.stdout.splitlines()[1:]
        assert lines[0] == (
            f"{TEST_ID}: the warm-session framework's rule (warm wins when its mean error rate "
            "is 20 % lower) picks warm: mean error rate 0.189 cold, 0.093 warm (51 % lower for "
            "warm)."
        )
        assert lines[1].startswith(
            f"{TEST_ID}: trialbook's analysis (ab analyze {TEST_ID}) says continue: "
        )
        assert lines[2].startswith(
            f"{TEST_ID}: Why trialbook disagrees: the framework's rule takes a 20 % lower mean "
            "error rate as real however few sessions it rests on"
        )
        assert "framework's rule" not in import_ok(invoke, str(path)).output  # the first time only

    def test_they_agree_when_the_evidence_is_there(self, invoke: Invoke, tmp_path: Path) -> None:
        _, path = saved_test(
            tmp_path / "t", TEST_ID, sessions=120, cold_fail=0.4, warm_fail=0.05, seed=11
        )
        r = import_ok(invoke, str(path))
        assert "picks warm" in r.stdout and "says ship warm" in r.stdout
        assert r.stdout.endswith(f"{TEST_ID}: they agree.\n")

    @pytest.mark.parametrize(
        ("cold", "warm", "expected"),
        [
            (0.25, 0.20, "warm"),  # exactly 20 % lower
            (0.25, 0.21, "cold"),
            (0.0, 0.0, "cold"),
            (0.1, 0.3, "cold"),
            (None, 0.1, None),
        ],
    )
    def test_the_rule(self, cold: float | None, warm: float | None, expected: str | None) -> None:
        assert seed_recommendation(cold, warm) == expected


class TestSessionResultLines:
    def test_session_results_one_per_line_import_with_the_same_mapping(
        self, invoke: Invoke, saved: tuple[Any, Path], tmp_path: Path, db_path: Path
    ) -> None:
        framework, _ = saved
        f = tmp_path / "sessions.jsonl"
        f.write_text(session_lines(framework, TEST_ID))
        assert invoke("ab", "create", "warmth", "--variants", "cold,warm").exit_code == 0
        r = import_ok(invoke, "warmth", str(f))
        assert r.stdout == "Imported 16 results into warmth (events #2-#17).\n"
        assert "error_rate and success_rate of 16 sessions were not stored" in r.stderr
        shown = cli_json(invoke, "ab", "show", "warmth", "--limit", "0")["results"]
        lines = [json.loads(line) for line in f.read_text().splitlines()]
        for line, result in zip(lines, shown, strict=True):
            for key, where in SESSION_KEYS.items():
                if where is not None:
                    assert result[where] == (line[key] or None if key == "notes" else line[key])
        stored = event_data(invoke, "ResultAdded")
        assert [e["start_time"] for e in stored] == [line["start_time"] for line in lines]

    def test_importing_lines_again_appends_them_again_as_before(
        self, invoke: Invoke, tmp_path: Path, db_path: Path
    ) -> None:
        invoke("ab", "create", "t", "--variants", "cold,warm")
        f = tmp_path / "s.jsonl"
        f.write_text('{"session_id": "s1", "session_type": "warm", "errors": []}\n')
        import_ok(invoke, "t", str(f))
        import_ok(invoke, "t", str(f))
        assert count_events(db_path) == 3

    def test_an_empty_errors_list_is_zero_errors_and_a_list_is_messages(
        self, invoke: Invoke, tmp_path: Path
    ) -> None:
        invoke("ab", "create", "t", "--variants", "cold,warm")
        f = tmp_path / "s.jsonl"
        f.write_text(
            '{"session_type": "cold", "errors": []}\n'
            '{"session_type": "warm", "errors": ["patch: hunk 2 did not apply"]}\n'
            '{"variant": "warm", "errors": 2}\n'
        )
        import_ok(invoke, "t", str(f))
        shown = cli_json(invoke, "ab", "show", "t")["results"]
        assert [(r["errors"], r["error_messages"]) for r in shown] == [
            (0, []),
            (1, ["patch: hunk 2 did not apply"]),
            (2, []),
        ]

    def test_completion_time_comes_from_start_and_end_when_not_given(
        self, invoke: Invoke, tmp_path: Path
    ) -> None:
        invoke("ab", "create", "t", "--variants", "cold,warm")
        f = tmp_path / "s.jsonl"
        f.write_text(
            '{"session_type": "cold", "start_time": "2025-01-14T09:30:00.125000", '
            '"end_time": "2025-01-14T09:31:10"}\n'
            '{"variant": "warm", "start_time": 1736847000, "end_time": 1736847042.5}\n'
            '{"variant": "warm", "start_time": "2025-01-14T09:30:00Z", '
            '"end_time": "2025-01-14T10:30:00+01:00", "completion_time": 3}\n'
        )
        import_ok(invoke, "t", str(f))
        shown = cli_json(invoke, "ab", "show", "t")["results"]
        assert [r["completion_time"] for r in shown] == [69.875, 42.5, 3.0]
        stored = event_data(invoke, "ResultAdded")
        assert (stored[1]["start_time"], stored[1]["end_time"]) == (1736847000, 1736847042.5)


class TestBadInput:
    def refused(self, invoke: Invoke, db_path: Path, *args: str, before: int = 0) -> str:
        r = invoke("ab", "import", *args)
        assert r.exit_code == 1, r.output
        assert r.output.startswith("Error: ") and r.output.count("\n") == 1, r.output
        assert count_events(db_path) == before
        return r.output.removeprefix("Error: ").rstrip("\n")

    def edited(self, path: Path, change: Any) -> Path:
        doc = json.loads(path.read_text())
        change(doc)
        path.write_text(json.dumps(doc, indent=2))
        return path

    def test_a_json_file_of_another_shape_is_named(
        self, invoke: Invoke, db_path: Path, tmp_path: Path
    ) -> None:
        f = tmp_path / "config.json"
        f.write_text(json.dumps({"model": "gpt", "runs": [1, 2]}, indent=2))
        assert self.refused(invoke, db_path, str(f)) == (
            f"{f}: a JSON object with keys model, runs, neither a warm-session test file (an "
            "object with task, cold_results, warm_results and summary) nor results in JSONL "
            "(one JSON object per line)"
        )
        f.write_text(json.dumps([{"session_type": "cold"}], indent=2))
        assert "a JSON array, neither" in self.refused(invoke, db_path, str(f))

    def test_a_test_file_cut_short_says_where_its_json_breaks(
        self, invoke: Invoke, db_path: Path, saved: tuple[Any, Path]
    ) -> None:
        _, path = saved
        path.write_text(path.read_text()[:700])
        message = self.refused(invoke, db_path, str(path))
        assert message.startswith(f"{path}: not valid JSON (") and "at line 2" in message

    def test_a_session_of_an_unknown_type_is_named_with_its_file_and_field(
        self, invoke: Invoke, db_path: Path, saved: tuple[Any, Path]
    ) -> None:
        _, path = saved
        self.edited(path, lambda doc: doc["warm_results"][2].update(session_type="hot"))
        assert self.refused(invoke, db_path, str(path)) == (
            f"{path}: warm_results[2]: session_type 'hot' is unknown; a warm-session test has "
            "cold and warm sessions"
        )
        self.edited(path, lambda doc: doc["warm_results"][2].update(session_type="cold"))
        assert self.refused(invoke, db_path, str(path)) == (
            f"{path}: warm_results[2]: session_type 'cold' is listed in warm_results; a session "
            "in warm_results is warm"
        )

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            (
                lambda doc: doc["cold_results"][1].update(successful_tool_calls="8"),
                "cold_results[1]: successful_tool_calls: expected a whole number (got '8')",
            ),
            (
                lambda doc: doc["cold_results"][0].update(message_count=True),
                "cold_results[0]: message_count: expected a whole number (got true)",
            ),
            (
                lambda doc: doc["cold_results"][0].update(surprise=1),
                "cold_results[0]: surprise: Extra inputs are not permitted (got 1)",
            ),
            (
                lambda doc: doc["cold_results"][0].update(errors=[1]),
                "cold_results[0]: errors.0: expected text (got 1)",
            ),
            (
                lambda doc: doc["cold_results"][0].update(end_time="yesterday"),
                "cold_results[0]: end_time: expected an ISO 8601 time like 2025-01-14T15:30:12 "
                "or a number of seconds since the epoch (got 'yesterday')",
            ),
            (
                lambda doc: doc["cold_results"][0].update(end_time="2025-01-14T09:00:00"),
                "cold_results[0]: end_time (2025-01-14T09:00:00) is before start_time "
                "(2025-01-14T09:30:00.125000)",
            ),
            (
                lambda doc: doc["warm_results"][0].pop("session_id"),
                "warm_results[0]: session_id is missing; it is what makes importing again safe",
            ),
            (
                lambda doc: doc["warm_results"][3].update(
                    session_id=doc["cold_results"][1]["session_id"]
                ),
                "warm_results[3]: session_id '{sid}' is also cold_results[1]",
            ),
            (
                lambda doc: doc["task"].update(difficulty="brutal"),
                "task.difficulty: Input should be 'easy', 'medium' or 'hard' (got 'brutal')",
            ),
            (
                lambda doc: doc["task"].update(expected_tools="terminal"),
                "task.expected_tools: expected a list of texts (got 'terminal')",
            ),
            (
                lambda doc: doc["task"].update(owner="me"),
                "task.owner is not a field of the framework's task (task_id, description, "
                "prompt, expected_tools, success_criteria, category, difficulty)",
            ),
            (
                lambda doc: doc.update(created="today"),
                "'created' is not a key of a warm-session test file (task, cold_results, "
                "warm_results, summary)",
            ),
            (
                lambda doc: doc.update(task=None),
                "task: expected an object with task_id, description, prompt, expected_tools, "
                "success_criteria, category, difficulty (got None)",
            ),
        ],
    )
    def test_a_bad_field_is_named_with_its_file_and_nothing_is_recorded(
        self, invoke: Invoke, db_path: Path, saved: tuple[Any, Path], change: Any, message: str
    ) -> None:
        _, path = saved
        sid = json.loads(path.read_text())["cold_results"][1]["session_id"]
        self.edited(path, change)
        assert self.refused(invoke, db_path, str(path)) == f"{path}: " + message.format(sid=sid)

    def test_a_line_naming_one_value_twice_is_refused(
        self, invoke: Invoke, db_path: Path, tmp_path: Path
    ) -> None:
        invoke("ab", "create", "t", "--variants", "cold,warm")
        f = tmp_path / "s.jsonl"
        f.write_text(
            '{"variant": "cold"}\n{"session_type": "warm", "message_count": 3, "messages": 4}\n'
        )
        assert self.refused(invoke, db_path, "t", str(f), before=1) == (
            "line 2: message_count and messages name the same value but differ (3 and 4); give one"
        )
        f.write_text('{"session_type": "hot"}\n')
        assert self.refused(invoke, db_path, "t", str(f), before=1) == (
            "line 1: variant 'hot' is not in test 't'; use one of: cold, warm"
        )
        f.write_text('{"task_id": "x", "tool_calls": 3}\n')
        assert self.refused(invoke, db_path, "t", str(f), before=1) == (
            "line 1: session_type is missing; give the variant (cold or warm)"
        )

    def test_jsonl_needs_a_test_name(self, invoke: Invoke, db_path: Path, tmp_path: Path) -> None:
        f = tmp_path / "s.jsonl"
        f.write_text('{"variant": "cold"}\n')
        assert self.refused(invoke, db_path, str(f)) == (
            f"name the test to import these results into: trialbook ab import NAME {f} "
            "(create it first with `trialbook ab create NAME`)"
        )

    def test_an_existing_test_with_another_definition_is_not_imported_into(
        self, invoke: Invoke, db_path: Path, saved: tuple[Any, Path]
    ) -> None:
        _, path = saved
        import_ok(invoke, str(path))
        self.edited(path, lambda doc: doc["task"].update(description="Something else"))
        assert self.refused(invoke, db_path, str(path), before=17) == (
            f"{path}: test '{TEST_ID}' already exists with another task.description "
            f'("Find why test_parse_dates fails on C... there, "Something else" in the file); '
            f"import the file under another name: trialbook ab import NAME {path}"
        )
        invoke("ab", "create", "manual", "--variants", "cold,warm")
        assert "already exists with another metric" in self.refused(
            invoke, db_path, "manual", str(path), before=18
        )

    def test_a_session_imported_before_with_other_values_is_refused(
        self, invoke: Invoke, db_path: Path, saved: tuple[Any, Path]
    ) -> None:
        _, path = saved
        import_ok(invoke, str(path))
        self.edited(path, lambda doc: doc["warm_results"][1].update(user_corrections=9))
        message = self.refused(invoke, db_path, str(path), before=17)
        assert message.startswith(f"{path}: warm_results[1]: session '")
        assert message.endswith(
            "was imported before (event #11) with other values; import the file under another "
            f"name: trialbook ab import NAME {path}"
        )

    def test_one_bad_file_in_a_directory_records_nothing_from_the_others(
        self, invoke: Invoke, db_path: Path, tmp_path: Path
    ) -> None:
        folder = tmp_path / "ab_tests"
        _, good = saved_test(folder, "test_00aa", sessions=2)
        _, bad = saved_test(folder, "test_11bb", sessions=2)
        self.edited(bad, lambda doc: doc["cold_results"][0].update(tool_calls=-1))
        assert self.refused(invoke, db_path, str(folder)) == (
            f"{bad}: cold_results[0]: tool_calls: Input should be greater than or equal to 0 "
            "(got -1)"
        )

    def test_a_clash_found_while_recording_rolls_back_the_files_before_it(
        self, invoke: Invoke, db_path: Path, tmp_path: Path
    ) -> None:
        folder = tmp_path / "ab_tests"
        saved_test(folder, "test_00aa", sessions=2)
        _, later = saved_test(folder, "test_11bb", sessions=2)
        lone = tmp_path / "lone" / "test_11bb.json"
        lone.parent.mkdir()
        shutil.copy(later, lone)
        self.edited(lone, lambda doc: doc["task"].update(category="docs"))
        import_ok(invoke, str(lone))
        assert "already exists with another task.category" in self.refused(
            invoke, db_path, str(folder), before=5
        )
        assert [t["name"] for t in cli_json(invoke, "ab", "list")] == ["test_11bb"]
        import_ok(invoke, str(folder / "test_00aa.json"))  # nothing of the rollback lingers
        assert count_events(db_path) == 10

    def test_two_files_of_one_test_with_other_content_are_refused(
        self, invoke: Invoke, db_path: Path, tmp_path: Path
    ) -> None:
        folder = tmp_path / "ab_tests"
        _, first = saved_test(folder, "test_00aa", sessions=2)
        second = folder / "test_00AA.json"
        shutil.copy(first, second)
        self.edited(second, lambda doc: doc["cold_results"].pop())
        assert self.refused(invoke, db_path, str(folder)) == (
            f"{first}: test 'test_00aa' is also defined by {second}, with other content; move "
            "one of them out and import it under another name"
        )

    def test_a_directory_takes_no_name_and_must_hold_test_files(
        self, invoke: Invoke, db_path: Path, tmp_path: Path
    ) -> None:
        assert self.refused(invoke, db_path, "t", str(tmp_path)).startswith(
            f"{tmp_path} is a directory: each test file in it is imported under its own test id"
        )
        assert self.refused(invoke, db_path, str(tmp_path)) == (
            f"{tmp_path} holds no test files (*.json) to import"
        )


class TestDefinitions:
    def test_expected_tools_and_success_criteria_are_kept_on_the_definition(self) -> None:
        command = build(
            d.CreateTest,
            name="t",
            variants=("cold", "warm"),
            expected_tools=("terminal", "patch"),
            success_criteria=("the failing test passes",),
        )
        (created,) = d.decide(command, d.ABTestState())
        data = created.to_data()
        assert data["expected_tools"] == ["terminal", "patch"]
        assert data["success_criteria"] == ["the failing test passes"]
        bare = d.decide(build(d.CreateTest, name="t"), d.ABTestState())[0].to_data()
        assert "expected_tools" not in bare and "success_criteria" not in bare

    def test_metric_success_rate_is_refused_naming_both_meanings(
        self, invoke: Invoke, db_path: Path
    ) -> None:
        r = invoke("ab", "create", "t", "--metric", "success_rate")
        assert r.exit_code == 1 and count_events(db_path) == 0
        assert r.output == (
            "Error: metric: 'success_rate' means two things, so name one: success is the share "
            "of sessions that succeeded (trialbook's success rate); tool_success_rate is the mean "
            "over sessions of the share of a session's tool calls that succeeded (the "
            "warm-session framework's success_rate) (got 'success_rate')\n"
        )

    @pytest.mark.parametrize(
        ("start", "end", "seconds"),
        [
            ("2025-01-14T09:30:00", "2025-01-14T09:30:42.5", 42.5),
            ("2025-01-14T09:30:00Z", "2025-01-14T09:31:00+00:00", 60.0),
            (1736847000, 1736847001.25, 1.25),
        ],
    )
    def test_completion_time_is_derived_from_start_and_end(
        self, start: Any, end: Any, seconds: float
    ) -> None:
        r = build(d.ResultFields, variant="a", start_time=start, end_time=end)
        assert (r.completion_time, r.start_time, r.end_time) == (seconds, start, end)
        assert d.ResultAdded.of(r).to_data()["completion_time"] == seconds

    def test_times_of_two_kinds_cannot_be_subtracted(self) -> None:
        with pytest.raises(
            InvalidCommand, match="start_time and end_time are written in different"
        ):
            build(d.ResultFields, variant="a", start_time="2025-01-14T09:30:00", end_time=5.0)
        with pytest.raises(InvalidCommand, match="different ways"):
            build(
                d.ResultFields,
                variant="a",
                start_time="2025-01-14T09:30:00",
                end_time="2025-01-14T09:31:00+00:00",
            )


class TestPythonAPI:
    def test_import_file_reads_saved_tests_files_directories_and_lines(
        self, db_path: Path, tmp_path: Path
    ) -> None:
        framework, path = saved_test(tmp_path / "ab_tests", TEST_ID, sessions=2)
        saved_test(tmp_path / "ab_tests", "test_bb", sessions=1, seed=9)
        with trialbook.open(db_path) as tb:
            recorded = tb.ab.import_file(None, path)
            assert [e.type for e in recorded] == ["TestCreated"] + ["ResultAdded"] * 4
            assert tb.ab.import_file(None, path) == []
            assert tb.ab.get(TEST_ID).task_id == "debug_failing_test"
            assert len(tb.ab.import_file(None, tmp_path / "ab_tests")) == 3  # only test_bb is new
            lines = tmp_path / "s.jsonl"
            lines.write_text(session_lines(framework, TEST_ID))
            tb.ab.create("lines", variants=["cold", "warm"])
            assert len(tb.ab.import_file("lines", lines)) == 4
            with pytest.raises(trialbook.InvalidCommand, match="name the test to import"):
                tb.ab.import_file(None, lines)
            events = list(tb.events.read(after=0))
            assert events[0].metadata["call"] == "trialbook.ab.import_file"

    def test_add_results_takes_start_and_end_times_too(self, db_path: Path) -> None:
        with trialbook.open(db_path) as tb:
            tb.ab.create("t", variants=["cold", "warm"])
            tb.ab.add_results(
                "t", [{"variant": "warm", "start_time": 10.0, "end_time": 12.5, "notes": "n"}]
            )
            assert tb.ab.results("t")[0]["completion_time"] == 2.5

    def test_add_result_keeps_start_and_end_times_and_results_return_them(
        self, db_path: Path
    ) -> None:
        with trialbook.open(db_path) as tb:
            tb.ab.create("t", variants=["cold", "warm"])
            tb.ab.add_result(
                "t",
                variant="cold",
                start_time="2025-01-14T09:30:00",
                end_time="2025-01-14T09:31:30.5",
                tool_calls=4,
                successful_calls=3,
            )
            (r,) = tb.ab.results("t")
            assert (r["start_time"], r["end_time"]) == (
                "2025-01-14T09:30:00",
                "2025-01-14T09:31:30.5",
            )
            assert r["completion_time"] == 90.5
            (cold, _) = tb.ab.summary("t")
            assert cold["mean_tool_success_rate"] == 0.75
            with pytest.raises(trialbook.InvalidCommand, match="written in different ways"):
                tb.ab.add_result(
                    "t", variant="cold", start_time="2025-01-14T09:30:00", end_time=5.0
                )
            assert len(tb.ab.results("t")) == 1


def test_ab_show_gives_back_the_tasks_expected_tools_and_success_criteria(
    invoke: Invoke, saved: tuple[Any, Path]
) -> None:
    _, path = saved
    import_ok(invoke, str(path))
    shown = cli_json(invoke, "ab", "show", TEST_ID)
    assert shown["test"]["expected_tools"] == list(DEBUG_TASK.expected_tools)
    assert shown["test"]["success_criteria"] == list(DEBUG_TASK.success_criteria)


def test_ab_show_gives_back_each_sessions_start_and_end_time_as_recorded(
    invoke: Invoke, saved: tuple[Any, Path]
) -> None:
    _, path = saved
    doc = json.loads(path.read_text())
    import_ok(invoke, str(path))
    shown = cli_json(invoke, "ab", "show", TEST_ID, "--limit", "0")["results"]
    sessions = doc["cold_results"] + doc["warm_results"]
    assert [(r["start_time"], r["end_time"]) for r in shown] == [
        (s["start_time"], s["end_time"]) for s in sessions
    ]
    # a rebuild of the read model (its bulk extraction) gives them back alike
    assert invoke("projections", "rebuild").exit_code == 0
    again = cli_json(invoke, "ab", "show", TEST_ID, "--limit", "0")["results"]
    assert again == shown
    text = invoke("ab", "show", TEST_ID, "--limit", "0").output
    assert "started" in text and "ended" in text
    assert all(s["start_time"] in text and s["end_time"] in text for s in sessions)


def test_ab_show_prints_epoch_times_in_full_and_no_time_columns_without_times(
    invoke: Invoke,
) -> None:
    assert invoke("ab", "create", "t", "--variants", "cold,warm").exit_code == 0
    line = '{"variant": "warm", "start_time": 1736847000, "end_time": 1736847001.25}\n'
    r = invoke("ab", "import", "t", "-", input=line)
    assert r.exit_code == 0, r.output
    shown = cli_json(invoke, "ab", "show", "t")["results"]
    assert (shown[0]["start_time"], shown[0]["end_time"]) == (1736847000, 1736847001.25)
    assert shown[0]["completion_time"] == 1.25
    text = invoke("ab", "show", "t").output
    assert "1736847000" in text and "1736847001.25" in text
    assert invoke("ab", "create", "u", "--variants", "cold,warm").exit_code == 0
    r = invoke("ab", "import", "u", "-", input='{"variant": "cold"}\n')
    assert r.exit_code == 0, r.output
    assert "started" not in invoke("ab", "show", "u").output


def test_a_session_without_tool_calls_is_left_out_of_tool_success_rate_as_the_note_says(
    invoke: Invoke, tmp_path: Path
) -> None:
    """The one place the framework's avg_success_rate and tool_success_rate differ (README)."""
    framework, path = saved_test(tmp_path / "ab_tests", TEST_ID, sessions=3)
    idle = framework.results[TEST_ID]["warm"][0]
    idle.tool_calls = idle.successful_tool_calls = 0
    idle.errors = []
    framework.save_test(TEST_ID)
    seed = json.loads(path.read_text())["summary"]["warm"]
    import_ok(invoke, str(path))
    (_, warm) = cli_json(invoke, "ab", "summary", TEST_ID)["variants"]
    rates = [
        r.successful_tool_calls / r.tool_calls
        for r in framework.results[TEST_ID]["warm"]
        if r.tool_calls
    ]
    assert len(rates) == 2
    assert warm["mean_tool_success_rate"] == pytest.approx(sum(rates) / 2, rel=1e-12)
    # the framework counts the session as 0 in both of its averages
    assert seed["avg_success_rate"] == pytest.approx(sum(rates) / 3, rel=1e-12)
    assert warm["mean_tool_success_rate"] != pytest.approx(seed["avg_success_rate"])
