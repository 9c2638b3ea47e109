"""Interrupt a real ``trialbook eval run`` process mid-run, then resume it through the ledger."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import Invoke
from tests.servers import Behaviour, TaskServer

CASES = 40


@pytest.fixture(scope="module")
def slow_server() -> Iterator[TaskServer]:
    with TaskServer(Behaviour(latency_s=0.05)) as server:
        yield server


@pytest.fixture
def suite_file(tmp_path: Path) -> Path:
    path = tmp_path / "many.jsonl"
    path.write_text(
        "".join(json.dumps({"id": f"c{i:02d}", "input": f"case {i}"}) + "\n" for i in range(CASES))
    )
    return path


def rollout_counts(db: Path) -> tuple[Counter[tuple[str, int]], list[str]]:
    conn = sqlite3.connect(db)
    try:
        done = Counter(
            (json.loads(d)["case_id"], json.loads(d)["epoch"])
            for (d,) in conn.execute("SELECT data FROM events WHERE type = 'RolloutCompleted'")
        )
        types = [
            t
            for (t,) in conn.execute(
                "SELECT type FROM events WHERE type LIKE 'Run%' ORDER BY position"
            )
        ]
        return done, types
    finally:
        conn.close()


def start_run(db: Path, url: str, run_id: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trialbook",
            "--db",
            str(db),
            "eval",
            "run",
            "many",
            "--target",
            url,
            "--name",
            run_id,
            "--epochs",
            "2",
            "--concurrency",
            "4",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
    )


def wait_for_rollouts(
    proc: subprocess.Popen[str], db: Path, at_least: int, timeout: float = 20.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early: {proc.communicate()}")
        try:
            done, _ = rollout_counts(db)
        except sqlite3.OperationalError:
            done = Counter()
        if sum(done.values()) >= at_least:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {at_least} rollouts were recorded in {timeout}s")


@contextmanager
def run_process(
    invoke: Invoke, db: Path, suite_file: Path, server: TaskServer, run_id: str
) -> Iterator[subprocess.Popen[str]]:
    """A real ``eval run`` process of the suite against ``server``; killed and reaped at the end."""
    assert invoke("eval", "suite", "add", str(suite_file)).exit_code == 0
    server.reset()
    proc = start_run(db, f"{server.url}/run", run_id)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["sigint", "sigkill"])
def test_a_killed_run_resumes_exactly_the_missing_pairs(
    invoke: Invoke, db_path: Path, suite_file: Path, slow_server: TaskServer, sig: signal.Signals
) -> None:
    with run_process(invoke, db_path, suite_file, slow_server, "killed") as proc:
        wait_for_rollouts(proc, db_path, 8)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=20)
    done_before, types = rollout_counts(db_path)
    assert 0 < sum(done_before.values()) < 2 * CASES
    if sig == signal.SIGINT:
        assert proc.returncode == 130
        assert "Resume it with `trialbook eval resume killed`." in err
        assert types == ["RunStarted", "RunInterrupted"]
    else:
        assert types == ["RunStarted"]  # a crash leaves the run "running"; resume takes it up
    requests_before = slow_server.requests

    r = invoke("eval", "resume", "killed", "--concurrency", "8")
    assert r.exit_code == 0, r.output
    assert f"Run killed finished: {2 * CASES} completed, 0 failed." in r.output
    done_after, types = rollout_counts(db_path)
    assert set(done_after) == {(f"c{i:02d}", e) for i in range(CASES) for e in (1, 2)}
    assert max(done_after.values()) == 1  # never a second completion of a pair
    missing = 2 * CASES - sum(done_before.values())
    assert slow_server.requests - requests_before == missing
    assert types[-2:] == ["RunResumed", "RunFinished"]
    shown = json.loads(invoke("eval", "show", "killed", "--json").output)
    assert shown["summary"]["completed"] == 2 * CASES and shown["run"]["status"] == "finished"

    r = invoke("eval", "resume", "killed")
    assert (r.exit_code, r.output) == (
        1,
        "Error: eval run 'killed' is finished: nothing is pending\n",
    )


def test_a_run_whose_process_died_shows_as_stalled_with_the_resume_hint(
    invoke: Invoke, db_path: Path, suite_file: Path, slow_server: TaskServer
) -> None:
    with run_process(invoke, db_path, suite_file, slow_server, "crashy") as proc:
        wait_for_rollouts(proc, db_path, 4)
        # while its process lives the run is running, whoever asks
        alive = json.loads(invoke("eval", "list", "--json").output)
        assert [(r["run_id"], r["status"], r["runner"]) for r in alive] == [
            ("crashy", "running", "alive")
        ]
        proc.kill()
        proc.communicate(timeout=20)  # reaps it and closes its pipes
    listed = invoke("eval", "list")
    assert listed.exit_code == 0, listed.output
    assert "stalled" in listed.output
    assert (
        "Run crashy is marked running but the process running it has ended (crashed or killed): "
        "resume it with `trialbook eval resume crashy`." in listed.output
    )
    shown = json.loads(invoke("eval", "show", "crashy", "--json").output)
    assert (shown["run"]["status"], shown["run"]["runner"]) == ("running", "gone")
    assert "· stalled" in invoke("eval", "show", "crashy").output
    # the log says which process started it
    conn = sqlite3.connect(db_path)
    (meta,) = conn.execute("SELECT metadata FROM events WHERE type = 'RunStarted'").fetchone()
    conn.close()
    assert json.loads(meta)["process"]["pid"] == proc.pid

    r = invoke("eval", "resume", "crashy", "--concurrency", "8")
    assert r.exit_code == 0, r.output
    finished = json.loads(invoke("eval", "list", "--json").output)
    assert [(r["status"], r["runner"]) for r in finished] == [("finished", None)]
