"""Bad input: a one-line error naming the problem and the fix, a non-zero exit, nothing appended."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import Invoke, count_events


@pytest.fixture
def seeded(invoke: Invoke, db_path: Path) -> int:
    """A database with one test (cold, warm) and one archived test; returns its event count."""
    assert invoke("ab", "create", "checkout-flow", "--variants", "cold,warm").exit_code == 0
    assert invoke("ab", "create", "old", "--variants", "a,b").exit_code == 0
    assert invoke("ab", "archive", "old").exit_code == 0
    return count_events(db_path)


CASES = [
    # (arguments, exit code, the error line)
    (
        ["ab", "add-result", "nope", "--variant", "warm"],
        1,
        "Error: no A/B test named 'nope'; see `trialbook ab list`, or create it with `ab create nope`",
    ),
    (
        ["ab", "add-result", "checkout-flow", "--variant", "hot"],
        1,
        "Error: variant 'hot' is not in test 'checkout-flow'; use one of: cold, warm",
    ),
    (
        ["ab", "create", "checkout-flow", "--variants", "a,b"],
        1,
        "Error: an A/B test named 'checkout-flow' already exists; choose another name",
    ),
    (
        ["ab", "create", "old"],
        1,
        "Error: an A/B test named 'old' already exists (archived; bring it back with `trialbook ab restore old`); "
        "choose another name",
    ),
    (
        [
            "ab",
            "add-result",
            "checkout-flow",
            "--variant",
            "warm",
            "--tool-calls",
            "3",
            "--successful-calls",
            "5",
        ],
        1,
        "Error: successful_calls (5) is more than tool_calls (3)",
    ),
    (
        ["ab", "add-result", "checkout-flow", "--variant", "warm", "--tool-calls", "-1"],
        1,
        "Error: tool_calls: Input should be greater than or equal to 0 (got -1)",
    ),
    (
        ["ab", "add-result", "checkout-flow", "--variant", "warm", "--completion-time", "-2.5"],
        1,
        "Error: completion_time: Input should be greater than or equal to 0 (got -2.5)",
    ),
    (
        ["ab", "add-result", "checkout-flow", "--variant", "warm", "--completion-time", "nan"],
        1,
        "Error: completion_time: Input should be a finite number (got nan)",
    ),
    (
        ["ab", "add-result", "checkout-flow", "--variant", "warm", "--score", "inf"],
        1,
        "Error: score: Input should be a finite number (got inf)",
    ),
    (
        ["ab", "add-result", "checkout-flow", "--variant", "warm", "--metric", "x=inf"],
        1,
        "Error: metrics.x: Input should be a finite number (got inf)",
    ),
    (
        ["ab", "add-result", "old", "--variant", "a"],
        1,
        "Error: test 'old' is archived; restore it first with `trialbook ab restore old`",
    ),
    (
        ["ab", "create", ""],
        1,
        "Error: name: test name is empty; use 1-64 lowercase letters, digits, '.', '_' or '-', starting with a "
        "letter or digit (got '')",
    ),
    (
        ["ab", "create", "Bad Name"],
        1,
        "Error: name: test name 'Bad Name' is not valid; use 1-64 lowercase letters, digits, '.', '_' or '-', "
        "starting with a letter or digit (got 'Bad Name')",
    ),
    (
        ["ab", "create", "t", "--variants", "solo"],
        1,
        "Error: variants: a test needs at least two variants, e.g. --variants cold,warm",
    ),
    (
        ["ab", "create", "t", "--variants", "a,a"],
        1,
        "Error: variants: variant 'a' is listed twice; variants must be distinct",
    ),
    (
        ["ab", "create", "t", "--variants", "a,b", "--control", "c"],
        1,
        "Error: control 'c' is not one of the variants (a, b)",
    ),
    (
        ["ab", "create", "t", "--guardrail", "speed"],
        1,
        "Error: guardrail 'speed' is not valid; write METRIC:+N% or METRIC:+N, e.g. completion_time:+10%",
    ),
    (
        ["ab", "create", "t", "--metric", "Bad-Metric"],
        1,
        "Error: metric: metric 'Bad-Metric' is unknown; use one of success, error_rate, "
        "tool_success_rate, failed_call_ratio, completion_time, tool_calls, errors, messages, "
        "corrections, tokens, cost, score, cost_per_success or a custom name (got 'Bad-Metric')",
    ),
    (
        [
            "ab",
            "add-result",
            "checkout-flow",
            "--variant",
            "warm",
            "--metric",
            "tool_success_rate=0.5",
        ],
        1,
        "Error: custom metric 'tool_success_rate' has the name of a built-in metric; record that "
        "value with its own field or option, or name it otherwise",
    ),
    (
        ["ab", "add-result", "checkout-flow", "--variant", "warm", "--metric", "success=7"],
        1,
        "Error: custom metric 'success' has the name of a built-in metric; record that value with "
        "its own field or option, or name it otherwise",
    ),
    (
        ["ab", "add-result", "checkout-flow", "--variant", "warm", "--metric", "failed_calls=2"],
        1,
        "Error: custom metric 'failed_calls' has the name of a built-in metric; record that value "
        "with its own field or option, or name it otherwise",
    ),
    (
        ["ab", "add-result", "checkout-flow", "--variant", "warm", "--tokens", "9" * 23],
        1,
        f"Error: tokens: Input should be less than or equal to 9223372036854775807 (got {'9' * 23})",
    ),
    (
        ["events", "log", "--type", "resultadded"],
        1,
        "Error: --type: no event type is called 'resultadded'; did you mean ResultAdded?",
    ),
    (["ab", "archive", "old"], 1, "Error: test 'old' is already archived"),
    (["ab", "restore", "checkout-flow"], 1, "Error: test 'checkout-flow' is not archived"),
    (["ab", "summary", "nope"], 1, "Error: no A/B test named 'nope'; see `trialbook ab list`"),
]


@pytest.mark.parametrize("args,code,message", CASES, ids=[" ".join(c[0])[:60] for c in CASES])
def test_bad_input_is_one_line_and_appends_nothing(
    invoke: Invoke, db_path: Path, seeded: int, args: list[str], code: int, message: str
) -> None:
    r = invoke(*args)
    assert r.exit_code == code
    assert r.output == message + "\n"
    assert count_events(db_path) == seeded


USAGE = [
    ["ab", "add-result", "checkout-flow"],  # --variant missing
    ["ab", "add-result", "checkout-flow", "--variant", "warm", "--tool-calls", "twelve"],
    ["ab", "add-result", "checkout-flow", "--variant", "warm", "--metric", "noequals"],
    ["ab", "create", "t", "--difficulty", "extreme"],
    ["ab", "nope"],
]


@pytest.mark.parametrize("args", USAGE, ids=[" ".join(a) for a in USAGE])
def test_usage_errors_exit_2_and_append_nothing(
    invoke: Invoke, db_path: Path, seeded: int, args: list[str]
) -> None:
    r = invoke(*args)
    assert r.exit_code == 2
    assert "Error:" in r.output and "Traceback" not in r.output
    assert count_events(db_path) == seeded


class TestImportErrors:
    def write(self, tmp_path: Path, content: str | bytes) -> Path:
        f = tmp_path / "results.jsonl"
        f.write_bytes(content if isinstance(content, bytes) else content.encode())
        return f

    @pytest.mark.parametrize(
        "content,message",
        [
            (
                '{"variant": "warm"}\n{"variant": "warm", \n',
                "Error: line 2: not valid JSON (Expecting property name "
                "enclosed in double quotes at column 21)",
            ),
            (
                '{"variant": "warm"}\n\n{"variant": "hot"}\n',
                "Error: line 3: variant 'hot' is not in test "
                "'checkout-flow'; use one of: cold, warm",
            ),
            (
                '{"variant": "warm", "tool_calls": -3}\n',
                "Error: line 1: tool_calls: Input should be greater than or equal to 0 (got -3)",
            ),
            (
                '{"variant": "warm", "completion_time": NaN}\n',
                "Error: line 1: completion_time: Input should be a finite number (got nan)",
            ),
            ("[1, 2]\n", 'Error: line 1: expected a JSON object like {"variant": "warm", ...}'),
            (
                '{"variant": "warm"}\n{"variant": "cold", "metrics": {"success": 0.5}}\n',
                "Error: line 2: custom metric 'success' has the name of a built-in metric; "
                "record that value with its own field or option, or name it otherwise",
            ),
            (
                '{"variant": "warm", "tool_calls": 99999999999999999999999}\n',
                "Error: line 1: tool_calls: Input should be less than or equal to "
                "9223372036854775807 (got 99999999999999999999999)",
            ),
            (
                '{"variant": "warm", "colour": "red"}\n',
                "Error: line 1: colour: Extra inputs are not permitted (got 'red')",
            ),
            ("\n\n", "Error: {path} has no results; write one JSON object per line"),
            (
                b'{"variant": "warm"}\n{"variant": "w\xe9"}\n',
                "Error: {path} is not UTF-8 text (bad byte at line 2); "
                "save it as UTF-8 and import again",
            ),
        ],
        ids=[
            "bad-json",
            "unknown-variant",
            "negative",
            "nan",
            "not-object",
            "built-in-metric-name",
            "too-large",
            "unknown-key",
            "empty",
            "not-utf8",
        ],
    )
    def test_one_bad_line_names_it_and_nothing_is_appended(
        self,
        invoke: Invoke,
        db_path: Path,
        seeded: int,
        tmp_path: Path,
        content: str | bytes,
        message: str,
    ) -> None:
        f = self.write(tmp_path, content)
        r = invoke("ab", "import", "checkout-flow", str(f))
        assert r.exit_code == 1
        assert r.output == message.replace("{path}", str(f)) + "\n"
        assert count_events(db_path) == seeded

    def test_a_missing_file_is_named(
        self, invoke: Invoke, db_path: Path, seeded: int, tmp_path: Path
    ) -> None:
        r = invoke("ab", "import", "checkout-flow", str(tmp_path / "nope.jsonl"))
        assert (
            r.exit_code == 1
            and r.output
            == f"Error: file {tmp_path / 'nope.jsonl'} does not exist; check the path\n"
        )
        assert count_events(db_path) == seeded


class TestDatabaseFiles:
    def test_a_file_that_is_not_a_trialbook_database(self, invoke: Invoke, tmp_path: Path) -> None:
        f = tmp_path / "notes.txt"
        f.write_text("shopping list\n")
        r = invoke("ab", "list", db=f)
        assert r.exit_code == 1
        assert (
            r.output
            == f"Error: {f} is not a trialbook database (not SQLite); pass another file with --db\n"
        )
        assert f.read_text() == "shopping list\n"

    def test_a_missing_directory(self, invoke: Invoke, tmp_path: Path) -> None:
        f = tmp_path / "missing" / "t.db"
        r = invoke("ab", "create", "t", db=f)
        assert r.exit_code == 1
        assert r.output == (
            f"Error: directory {f.parent} does not exist; create it (mkdir -p {f.parent}) "
            "or pass another --db\n"
        )
        assert not f.parent.exists()


@contextmanager
def read_only(*paths: Path) -> Iterator[None]:
    """Make paths really read-only: the immutable flag as root (who ignores modes), else chmod."""
    root = os.geteuid() == 0
    if root and shutil.which("chattr") is None:
        pytest.skip("running as root without chattr: cannot make a directory read-only")
    for p in paths:
        if root:
            subprocess.run(["chattr", "+i", str(p)], check=True)
        else:
            p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        yield
    finally:
        for p in reversed(paths):
            if root:
                subprocess.run(["chattr", "-i", str(p)], check=True)
            else:
                p.chmod(0o755 if p.is_dir() else 0o644)


def run_cli(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trialbook", *args],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent.parent,
        timeout=60,
    )


def test_a_read_only_directory(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    target = ro / "t.db"
    with read_only(ro):
        r = run_cli(["--db", str(target), "ab", "create", "t"])
    assert r.returncode == 1, r.stderr
    assert (
        r.stderr
        == f"Error: cannot create {target}: directory {ro} is read-only; pass another --db\n"
    )
    assert "Traceback" not in r.stdout + r.stderr
    assert not target.exists()


def test_a_read_only_database_refuses_writes_with_one_line(
    invoke: Invoke, db_path: Path, tmp_path: Path
) -> None:
    invoke("ab", "create", "t")
    ro_dir = tmp_path / "ro"
    ro_dir.mkdir()
    copy = ro_dir / "t.db"
    shutil.copy(db_path, copy)
    with read_only(copy, ro_dir):
        r = run_cli(["--db", str(copy), "ab", "add-result", "t", "--variant", "control"])
    assert r.returncode == 1
    assert r.stderr.startswith("Error: ") and r.stderr.count("\n") == 1, r.stderr
    assert "read-only" in r.stderr or "cannot open" in r.stderr
    assert count_events(copy) == 1


def test_no_traceback_for_any_case(invoke: Invoke, seeded: int) -> None:
    for args, _, _ in CASES:
        r = invoke(*args)
        assert "Traceback" not in r.output
        assert json.dumps(r.output).count("\\n") == 1
