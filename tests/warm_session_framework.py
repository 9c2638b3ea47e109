"""The warm/cold session A/B framework trialbook grew from ("seed 003"), as far as its files go.

Its users saved each test with ``save_test`` as one JSON file,
``~/.hermes/ab_tests/<test_id>.json``: the task (``task_id``, ``description``,
``prompt``, ``expected_tools``, ``success_criteria``, ``category``,
``difficulty``), ``cold_results`` and ``warm_results`` (lists of
``SessionResult`` objects) and a ``summary``. This module rebuilds the
framework's dataclasses and ``save_test`` from that description (issue #19) so
the tests write files byte for byte as those users have them, and as they
wrote ``SessionResult`` objects one per line.

What the description leaves open is marked *assumed*, with the choice a user of
the framework would expect; ``ab import`` documents the same choices. Nothing
here is invented beyond that: no field the description does not name.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

#: where the framework saved its tests
SAVE_DIR = Path("~/.hermes/ab_tests")
#: its rule: warm sessions win when their mean error rate is at least 20 % lower than cold's
IMPROVEMENT = 0.20


@dataclass
class TestTask:
    """The task both kinds of session ran."""

    __test__ = False  # not a pytest test class
    task_id: str
    description: str
    prompt: str
    expected_tools: list[str]
    #: assumed: a list of texts, what a person checks a session against
    success_criteria: list[str]
    category: str
    #: assumed: easy, medium or hard
    difficulty: str


@dataclass
class SessionResult:
    """One session: cold (a fresh agent) or warm (one that kept its context)."""

    session_id: str
    session_type: str  # "cold" or "warm"
    task_id: str
    #: assumed: ``datetime.isoformat()`` of local times, no UTC offset
    start_time: str
    end_time: str
    #: assumed name: the description maps every other count to trialbook's and not this one,
    #: so it is the one already spelled as trialbook spells it
    tool_calls: int
    successful_tool_calls: int
    errors: list[str] = field(default_factory=list)
    completion_time_seconds: float = 0.0
    message_count: int = 0
    user_corrections: int = 0
    notes: str = ""

    @property
    def success_rate(self) -> float:
        """The share of tool calls that succeeded (assumed: 0 without calls)."""
        return self.successful_tool_calls / self.tool_calls if self.tool_calls else 0.0

    @property
    def error_rate(self) -> float:
        """The share of tool calls that failed (assumed: 0 without calls)."""
        return 1.0 - self.success_rate if self.tool_calls else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The saved form: the fields, then the two derived rates."""
        return {**asdict(self), "success_rate": self.success_rate, "error_rate": self.error_rate}


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


class ABTestFramework:
    """Create a test for a task, record cold and warm sessions, save it as one JSON file."""

    def __init__(self, save_dir: Path) -> None:
        self.save_dir = save_dir
        self.tasks: dict[str, TestTask] = {}
        self.results: dict[str, dict[str, list[SessionResult]]] = {}

    def create_test(self, task: TestTask, test_id: str) -> str:
        self.tasks[test_id] = task
        self.results[test_id] = {"cold": [], "warm": []}
        return test_id

    def record(self, test_id: str, result: SessionResult) -> None:
        self.results[test_id][result.session_type].append(result)

    def get_summary(self, test_id: str) -> dict[str, Any]:
        """Counts and averages per session type, and the recommendation (layout assumed)."""
        out: dict[str, Any] = {}
        for kind, results in self.results[test_id].items():
            out[kind] = {
                "sessions": len(results),
                "avg_success_rate": _mean([r.success_rate for r in results]),
                "avg_error_rate": _mean([r.error_rate for r in results]),
                "avg_completion_time": _mean([r.completion_time_seconds for r in results]),
                "avg_message_count": _mean([float(r.message_count) for r in results]),
                "avg_user_corrections": _mean([float(r.user_corrections) for r in results]),
            }
        cold, warm = out["cold"]["avg_error_rate"], out["warm"]["avg_error_rate"]
        lower = (cold - warm) / cold if cold > 0 else 0.0
        out["recommendation"] = (
            f"Use warm sessions: {lower:.0%} lower error rate"
            if lower >= IMPROVEMENT
            else "Warm sessions show no significant improvement"
        )
        return out

    def save_test(self, test_id: str) -> Path:
        """Write ``<save_dir>/<test_id>.json`` the way the framework does: ``json.dump``, indent 2."""
        data = {
            "task": asdict(self.tasks[test_id]),
            "cold_results": [r.to_dict() for r in self.results[test_id]["cold"]],
            "warm_results": [r.to_dict() for r in self.results[test_id]["warm"]],
            "summary": self.get_summary(test_id),
        }
        self.save_dir.mkdir(parents=True, exist_ok=True)
        path = self.save_dir / f"{test_id}.json"
        with open(path, "w") as f:
            json.dump(data, f, indent=2)
        return path


# --------------------------------------------------------------------------- realistic data

DEBUG_TASK = TestTask(
    task_id="debug_failing_test",
    description="Find why test_parse_dates fails on CI and fix it",
    prompt="The CI run for PR #412 fails in tests/test_dates.py. Find the cause and fix it.",
    expected_tools=["terminal", "read_file", "search_files", "patch"],
    success_criteria=["the failing test passes", "no other test breaks", "the fix is explained"],
    category="debugging",
    difficulty="medium",
)

ERRORS = [
    "terminal: command timed out after 60s",
    "patch: hunk 2 did not apply",
    "read_file: no such file 'tests/test_date.py'",
    "search_files: pattern too broad, 2,413 matches truncated",
]


def session(
    rng: random.Random,
    kind: str,
    task: TestTask,
    started: datetime,
    fail_share: float,
    notes: str = "",
) -> SessionResult:
    """One plausible session: warm sessions are quicker and fail fewer calls when ``fail_share`` says so."""
    calls = rng.randint(6, 18)
    failed = sum(rng.random() < fail_share for _ in range(calls))
    seconds = round(rng.uniform(25, 140), 3) + rng.randint(0, 999) / 1e6
    ended = started + timedelta(seconds=seconds)
    return SessionResult(
        session_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        session_type=kind,
        task_id=task.task_id,
        start_time=started.isoformat(),
        end_time=ended.isoformat(),
        tool_calls=calls,
        successful_tool_calls=calls - failed,
        errors=rng.sample(ERRORS, k=min(failed, len(ERRORS))),
        completion_time_seconds=(ended - started).total_seconds(),
        message_count=rng.randint(4, 16),
        user_corrections=rng.randint(0, 3),
        notes=notes,
    )


def saved_test(
    save_dir: Path,
    test_id: str = "test_3f2a9c1d",
    *,
    task: TestTask = DEBUG_TASK,
    sessions: int = 8,
    cold_fail: float = 0.25,
    warm_fail: float = 0.12,
    seed: int = 3,
) -> tuple[ABTestFramework, Path]:
    """A test run as the framework's users ran it (cold and warm sessions in turn), saved."""
    rng = random.Random(seed)
    framework = ABTestFramework(save_dir)
    framework.create_test(task, test_id)
    clock = datetime(2025, 1, 14, 9, 30, 0, 125000)
    for i in range(sessions):
        for kind, share in (("cold", cold_fail), ("warm", warm_fail)):
            notes = "user asked to re-run the suite → passed" if i == 2 and kind == "warm" else ""
            framework.record(test_id, session(rng, kind, task, clock, share, notes))
            clock += timedelta(minutes=rng.randint(3, 9), seconds=rng.randint(0, 59))
    return framework, framework.save_test(test_id)


def session_lines(framework: ABTestFramework, test_id: str) -> str:
    """The test's ``SessionResult`` objects written one per line (``json.dumps`` of ``to_dict``)."""
    results = framework.results[test_id]
    return "".join(json.dumps(r.to_dict()) + "\n" for r in results["cold"] + results["warm"])
