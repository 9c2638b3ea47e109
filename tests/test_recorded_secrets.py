"""Secrets typed into a command line never reach the append-only log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Invoke
from tests.servers import Behaviour, TaskServer
from trialbook.shell.app import redact_secrets


@pytest.fixture(scope="module")
def task_server() -> Iterator[TaskServer]:
    with TaskServer(Behaviour(latency_s=0.0)) as server:
        yield server


def test_header_values_in_an_inline_target_are_not_recorded(
    invoke: Invoke, task_server: TaskServer, db_path: Path, tmp_path: Path
) -> None:
    suite = tmp_path / "qa.jsonl"
    suite.write_text(json.dumps({"id": "q1", "input": "hello"}) + "\n", encoding="utf-8")
    assert invoke("eval", "suite", "add", str(suite)).exit_code == 0
    headers = json.dumps({"Authorization": "Bearer sk-live-123", "X-Team": "evals"})
    target = f"{task_server.url}/run;headers={headers}"
    r = invoke("eval", "run", "qa", "--target", target, "--name", "hd")
    assert r.exit_code == 0, r.output
    stored = db_path.read_bytes()
    assert b"sk-live-123" not in stored
    assert b'"X-Team\\": \\"evals' in stored or b'"X-Team": "evals' in stored  # the rest is kept


@pytest.mark.parametrize(
    "typed,recorded",
    [
        (
            """--target 'http://h/run;headers={"Authorization": "Bearer x1", "X-Team": "a"}'""",
            """--target 'http://h/run;headers={"Authorization": "<redacted>", "X-Team": "a"}'""",
        ),
        ('{"X-Api-Key":"k-1","n":2}', '{"X-Api-Key":"<redacted>","n":2}'),
        ("{token: abc, model: m}", "{token: <redacted>, model: m}"),
        ("""{'password': 'p w'}""", """{'password': '<redacted>'}"""),
        # not secrets: URLs, times, ordinary notes
        ("http://127.0.0.1:8000/run", None),
        ('--notes "key point: the cache helps, at 10:30"', None),
        ('--notes "time: 40 s"', None),
    ],
)
def test_secret_looking_pairs_are_redacted(typed: str, recorded: str | None) -> None:
    assert redact_secrets(typed) == (typed if recorded is None else recorded)
