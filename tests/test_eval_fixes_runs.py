"""Eval-run fixes: resuming stalled and live runs, budgets, bad targets and options, `--as-of`, exports.

Real SQLite files, real HTTP servers on 127.0.0.1 and, where a process must die
or keep running, a real ``trialbook eval run`` process.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Invoke, count_events
from tests.servers import Behaviour, TaskServer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def server() -> Iterator[TaskServer]:
    """A task app of its own per test (scripts are keyed by case id and counted per server)."""
    with TaskServer(Behaviour(latency_s=0.02, hang_s=20)) as s:
        yield s


def write_suite(path: Path, cases: list[dict]) -> Path:
    path.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    return path


def event_types(db: Path, run_id: str) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [
            t
            for (t,) in conn.execute(
                "SELECT type FROM events WHERE stream_id = ? ORDER BY position",
                (f"eval-run:{run_id}",),
            )
        ]
    finally:
        conn.close()


def spawn_run(db: Path, *args: str) -> subprocess.Popen[str]:
    """``trialbook --db DB eval run ARGS…`` as a separate process."""
    return subprocess.Popen(
        [sys.executable, "-m", "trialbook", "--db", str(db), "eval", "run", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=ROOT,
    )


def wait_for(proc: subprocess.Popen[str], db: Path, run_id: str, event: str) -> None:
    """Wait until the run's stream holds ``event`` (while the process lives)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early: {proc.communicate()}")
        try:
            if event in event_types(db, run_id):
                return
        except sqlite3.OperationalError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{event} was not recorded within 20 s")


def kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=20)  # reaps it, so its pid no longer exists


# c1 fails at once (a 400 is not retried), c2 hangs; with one slot, c3-c6 never start
STALLING = [
    {"id": "c1", "input": "one", "metadata": {"script": ["400"]}},
    {"id": "c2", "input": "two", "metadata": {"script": ["hang"]}},
    *({"id": f"c{i}", "input": f"case {i}"} for i in range(3, 7)),
]


class TestResumingStoppedAndLiveRuns:
    def test_retry_failed_on_a_killed_run_ends_cleanly_and_says_how_to_resume(
        self, invoke: Invoke, db_path: Path, tmp_path: Path, server: TaskServer
    ) -> None:
        assert invoke("eval", "suite", "add", str(write_suite(tmp_path / "s.jsonl", STALLING)))
        proc = spawn_run(
            db_path, "s", "--target", f"{server.url}/run", "--concurrency", "1", "--name", "rf3"
        )
        try:
            wait_for(proc, db_path, "rf3", "RolloutFailed")
        finally:
            kill(proc)
        assert event_types(db_path, "rf3") == ["RunStarted", "RolloutFailed"]

        r = invoke("eval", "retry-failed", "rf3")
        assert r.exit_code == 0, r.output
        assert "internal error" not in r.output
        assert (
            "Run rf3 stopped (failed rollouts retried; rollouts never run are still pending): "
            "1 completed, 0 failed, 5 pending; resume it with `trialbook eval resume rf3`."
            in r.output
        )
        assert event_types(db_path, "rf3")[-1] == "RunInterrupted"
        r = invoke("eval", "resume", "rf3")
        assert r.exit_code == 0, r.output
        assert "Run rf3 finished: 6 completed, 0 failed." in r.output

    @pytest.mark.parametrize("command", ["resume", "retry-failed"])
    def test_a_run_another_live_process_is_running_is_refused_and_nothing_appended(
        self, invoke: Invoke, db_path: Path, tmp_path: Path, server: TaskServer, command: str
    ) -> None:
        assert invoke("eval", "suite", "add", str(write_suite(tmp_path / "s.jsonl", STALLING)))
        proc = spawn_run(
            db_path, "s", "--target", f"{server.url}/run", "--concurrency", "1", "--name", "st3"
        )
        try:
            wait_for(proc, db_path, "st3", "RolloutFailed")  # c1 failed, c2 is in flight
            before = count_events(db_path)
            requests = server.requests
            r = invoke("eval", command, "st3")
            assert (r.exit_code, r.output) == (
                1,
                f"Error: eval run 'st3' is still being run by process {proc.pid} on "
                f"{socket.gethostname()}; wait for it to finish, or stop it (Ctrl-C, or "
                f"`kill {proc.pid}`) and then run `trialbook eval {command} st3`\n",
            )
            assert count_events(db_path) == before
            assert server.requests == requests  # nothing was sent again
            assert proc.poll() is None
        finally:
            kill(proc)
        # once it has ended the run can be taken up
        r = invoke("eval", "resume", "st3")
        assert r.exit_code == 0, r.output
        assert "Run st3 finished: 6 completed, 0 failed." in r.output  # failed ones too


class TestBudget:
    def test_a_budget_spent_exactly_stops_without_one_more_rollout(
        self, invoke: Invoke, db_path: Path, tmp_path: Path, server: TaskServer
    ) -> None:
        # "a b" is 2 prompt + 3 completion tokens: $0.005 at $1000 per million tokens
        cases = [{"id": f"c{i:02d}", "input": "a b"} for i in range(15)]
        assert invoke("eval", "suite", "add", str(write_suite(tmp_path / "p.jsonl", cases)))
        args = ["--price", "echo-1=1000/1000", "--concurrency", "1", "--name", "n4"]
        target = f"http:{server.url}/run;model=echo-1"
        r = invoke("eval", "run", "p", "--target", target, "--budget", "0.05", *args)
        assert r.exit_code == 0, r.output
        assert (
            "Run n4 stopped (budget of $0.05 spent): 10 completed, 0 failed, 5 pending · $0.05"
            in r.output
        )
        # resuming with the same (spent) budget sends nothing more
        requests = server.requests
        r = invoke("eval", "resume", "n4")
        assert "10 completed, 0 failed, 5 pending" in r.output
        assert server.requests == requests
        r = invoke("eval", "resume", "n4", "--budget", "0.06")
        assert "12 completed, 0 failed, 3 pending · $0.06" in r.output


class TestBadTargetsAndOptions:
    @pytest.mark.parametrize(
        ("target", "message"),
        [
            (
                "http://127.0.0.1:99999/run",
                "Error: http target URL 'http://127.0.0.1:99999/run' is not valid "
                "(Port out of range 0-65535); write http://HOST:PORT/PATH",
            ),
            (
                "http://[::1",
                "Error: http target URL 'http://[::1' is not valid (Invalid IPv6 URL); "
                "write http://HOST:PORT/PATH",
            ),
            (
                "openai:m@http://[::1",
                "Error: openai target URL 'http://[::1' is not valid (Invalid IPv6 URL); "
                "write http://HOST:PORT/PATH",
            ),
        ],
    )
    def test_a_malformed_target_url_is_named_in_one_line_before_anything_is_appended(
        self, invoke: Invoke, db_path: Path, tmp_path: Path, target: str, message: str
    ) -> None:
        invoke("eval", "suite", "add", str(write_suite(tmp_path / "s.jsonl", STALLING)))
        before = count_events(db_path)
        r = invoke("eval", "run", "s", "--target", target)
        assert (r.exit_code, r.output) == (1, message + "\n")
        assert count_events(db_path) == before

    def test_a_malformed_judge_url_is_named_in_one_line(
        self, invoke: Invoke, db_path: Path, tmp_path: Path, server: TaskServer
    ) -> None:
        invoke("eval", "suite", "add", str(write_suite(tmp_path / "s.jsonl", STALLING)))
        before = count_events(db_path)
        scorer = "judge:x,base_url=http://[::1/v1,model=m,key_env=none"
        r = invoke("eval", "run", "s", "--target", f"{server.url}/run", "--scorer", scorer)
        assert (r.exit_code, r.output) == (
            1,
            "Error: judge 'x': base_url 'http://[::1/v1' is not valid (Invalid IPv6 URL); "
            "write http://HOST:PORT/v1\n",
        )
        assert count_events(db_path) == before

    @pytest.mark.parametrize(
        ("option", "message"),
        [
            (("--timeout", "0"), "--timeout: Input should be greater than 0 (got 0.0)"),
            (
                ("--epochs", "10001"),
                "--epochs: Input should be less than or equal to 10000 (got 10001)",
            ),
            (("--budget", "-1"), "--budget: Input should be greater than or equal to 0 (got -1.0)"),
        ],
    )
    def test_a_bad_option_value_names_the_option(
        self,
        invoke: Invoke,
        db_path: Path,
        tmp_path: Path,
        server: TaskServer,
        option: tuple[str, str],
        message: str,
    ) -> None:
        invoke("eval", "suite", "add", str(write_suite(tmp_path / "s.jsonl", STALLING)))
        before = count_events(db_path)
        r = invoke("eval", "run", "s", "--target", f"{server.url}/run", *option)
        assert (r.exit_code, r.output) == (1, f"Error: {message}\n")
        assert count_events(db_path) == before

    def test_a_bad_value_in_the_config_file_names_the_key_and_the_file(
        self, invoke: Invoke, db_path: Path, tmp_path: Path, server: TaskServer
    ) -> None:
        invoke("eval", "suite", "add", str(write_suite(tmp_path / "s.jsonl", STALLING)))
        before = count_events(db_path)
        config = tmp_path / "run.toml"
        config.write_text(f'suite = "s"\ntarget = "{server.url}/run"\ntimeout = 0\n')
        r = invoke("eval", "run", "--config", str(config))
        assert (r.exit_code, r.output) == (
            1,
            f"Error: run config: timeout: Input should be greater than 0 (got 0) (set in {config})\n",
        )
        assert count_events(db_path) == before

    def test_a_bad_price_in_the_config_shows_the_table_form_with_single_braces(
        self, invoke: Invoke, db_path: Path, tmp_path: Path, server: TaskServer
    ) -> None:
        config = tmp_path / "run.toml"
        config.write_text(f'suite = "s"\ntarget = "{server.url}/run"\n[prices]\n"m" = "abc"\n')
        r = invoke("eval", "run", "--config", str(config))
        assert (r.exit_code, r.output) == (
            1,
            f"Error: {config}: price of 'm' is not valid; write \"INPUT/OUTPUT\" in USD per "
            'million tokens (e.g. "0.15/0.6") or { input = 0.15, output = 0.6 }\n',
        )
        assert count_events(db_path) == 0

    @pytest.mark.parametrize("budget", ["-1", "nan"])
    def test_a_bad_resume_budget_is_one_line(
        self, invoke: Invoke, db_path: Path, tmp_path: Path, server: TaskServer, budget: str
    ) -> None:
        cases = [{"id": f"c{i}", "input": "a b", "metadata": {"cost_usd": 1.0}} for i in range(3)]
        invoke("eval", "suite", "add", str(write_suite(tmp_path / "s.jsonl", cases)))
        r = invoke("eval", "run", "s", "--target", f"{server.url}/run", "--name", "b")
        assert r.exit_code == 0, r.output
        before = count_events(db_path)
        r = invoke("eval", "resume", "b", "--budget", budget)
        assert (r.exit_code, r.output) == (
            1,
            f"Error: --budget: must be a number of USD ≥ 0 (got {float(budget)})\n",
        )
        assert count_events(db_path) == before


class TestShowAsOf:
    @pytest.fixture
    def started_at(self, invoke: Invoke, db_path: Path, tmp_path: Path, server: TaskServer) -> str:
        """Run "t" (3 rollouts, recorded after RunStarted); the time RunStarted was recorded."""
        cases = [{"id": f"c{i}", "input": f"case {i}"} for i in range(3)]
        invoke("eval", "suite", "add", str(write_suite(tmp_path / "s.jsonl", cases)))
        r = invoke("eval", "run", "s", "--target", f"{server.url}/run", "--name", "t")
        assert r.exit_code == 0, r.output
        conn = sqlite3.connect(db_path)
        (at,) = conn.execute(
            "SELECT recorded_at FROM events WHERE type = 'RunStarted' AND stream_id = 'eval-run:t'"
        ).fetchone()
        conn.close()
        return at

    def test_a_time_that_is_not_iso_is_a_usage_error_like_ab_analyze(
        self, invoke: Invoke, db_path: Path, started_at: str
    ) -> None:
        before = count_events(db_path)
        r = invoke("eval", "show", "t", "--as-of", "garbage")
        assert r.exit_code == 2
        assert r.output.splitlines()[-1] == (
            "Error: Invalid value for '--as-of': 'garbage' is not an ISO time; write e.g. "
            "2025-03-03T10:12:00Z (a time without a zone is UTC)"
        )
        ab = invoke("ab", "analyze", "x", "--as-of", "garbage")
        assert ab.output.splitlines()[-1] == r.output.splitlines()[-1]
        assert count_events(db_path) == before

    def test_offsets_and_a_space_instead_of_t_select_the_same_moment(
        self, invoke: Invoke, started_at: str
    ) -> None:
        from datetime import datetime, timedelta, timezone

        def show(as_of: str) -> dict:
            r = invoke("eval", "show", "t", "--as-of", as_of, "--json")
            assert r.exit_code == 0, r.output
            return json.loads(r.output)

        utc = show(started_at)
        assert utc["rollouts"] == []  # only RunStarted was recorded by then
        moment = datetime.fromisoformat(started_at.replace("Z", "+00:00"))
        plus_one = moment.astimezone(timezone(timedelta(hours=1))).isoformat()
        assert show(plus_one) == utc
        assert show(moment.strftime("%Y-%m-%d %H:%M:%S.%f")) == utc
        # the same wall-clock time an hour east of UTC is an hour before anything was recorded
        r = invoke("eval", "show", "t", "--as-of", f"{moment:%Y-%m-%dT%H:%M:%S.%f}+01:00")
        earlier = (moment - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert r.exit_code == 1
        assert r.output.startswith(f"Error: nothing was recorded at or before {earlier}; ")
        assert len(json.loads(invoke("eval", "show", "t", "--json").output)["rollouts"]) == 3


class TestExport:
    def test_case_ids_that_sanitise_alike_get_distinct_trace_files(
        self, invoke: Invoke, db_path: Path, tmp_path: Path, server: TaskServer
    ) -> None:
        cases = [
            {"id": cid, "input": cid, "metadata": {"trace": {"case": cid}}}
            for cid in ("a/b", "a_b", "a b")
        ]
        invoke("eval", "suite", "add", str(write_suite(tmp_path / "s.jsonl", cases)))
        r = invoke("eval", "run", "s", "--target", f"{server.url}/run", "--name", "x")
        assert r.exit_code == 0, r.output
        out = tmp_path / "traces"
        r = invoke("eval", "export", "x", "--traces", str(out))
        assert r.exit_code == 0, r.output
        assert f"Wrote 3 rollouts and 3 blobs to {out}." in r.output
        traces = sorted(p.name for p in out.glob("*.trace.json"))
        assert len(traces) == 3
        assert "a_b.e1.trace.json" in traces  # a safe id keeps its plain name
        found = {json.loads((out / name).read_text())["case"] for name in traces}
        assert found == {"a/b", "a_b", "a b"}
        for name in traces:
            assert name == "a_b.e1.trace.json" or (
                name.startswith("a_b-") and len(name) == len("a_b-12345678.e1.trace.json")
            )
