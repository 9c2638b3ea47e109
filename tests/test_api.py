"""The public Python API, used as a user's code would: real files, real processes, the CLI beside it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import trialbook
from tests.conftest import Invoke, count_events

ROOT = Path(__file__).parent.parent


@pytest.fixture
def tb(db_path: Path) -> Any:
    handle = trialbook.open(db_path)
    yield handle
    handle.close()


def cli_json(invoke: Invoke, *args: str) -> Any:
    r = invoke(*args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def cli_error(invoke: Invoke, *args: str) -> str:
    r = invoke(*args)
    assert r.exit_code != 0
    assert r.output.startswith("Error: "), r.output
    return r.output.removeprefix("Error: ").strip()


class TestThePackage:
    def test_only_the_listed_names_are_public_and_each_resolves(self) -> None:
        assert sorted(dir(trialbook)) == sorted(trialbook.__all__)
        for name in trialbook.__all__:
            assert getattr(trialbook, name) is not None
        with pytest.raises(AttributeError):
            trialbook.Ledger  # noqa: B018 - private, not re-exported

    def test_every_user_error_is_a_trialbook_error(self) -> None:
        for name in ("InvalidCommand", "NotFound", "AlreadyExists", "StateConflict", "StoreError",
                     "StoreUnavailable", "ConcurrencyError", "ChainError"):  # fmt: skip
            assert issubclass(getattr(trialbook, name), trialbook.TrialbookError)

    def test_open_resolves_the_database_as_the_cli_does(
        self, tmp_path: Path, isolated_user_dirs: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with trialbook.open() as tb:  # the XDG default, created for us
            assert tb.path == isolated_user_dirs / "data" / "trialbook" / "trialbook.db"
            tb.ab.create("t", variants=["a", "b"])
        env = tmp_path / "env.db"
        monkeypatch.setenv("TRIALBOOK_DB", str(env))
        with trialbook.open() as tb:
            assert tb.path == env and tb.ab.list() == []
        assert count_events(env) == 0

    def test_a_closed_handle_refuses_calls_with_a_clear_error(self, db_path: Path) -> None:
        tb = trialbook.open(db_path)
        tb.close()
        tb.close()  # idempotent
        with pytest.raises(trialbook.StoreUnavailable, match="was closed; open it again"):
            tb.ab.list()

    def test_a_file_that_is_not_a_database_raises_the_cli_message(
        self, tmp_path: Path, invoke: Invoke
    ) -> None:
        bad = tmp_path / "notes.txt"
        bad.write_text("not sqlite\n" * 100)
        with pytest.raises(trialbook.NotATrialbookDatabase) as e:
            trialbook.open(bad)
        assert str(e.value) == cli_error(invoke, "--db", str(bad), "ab", "list")


class TestABFromCode:
    def test_create_takes_expected_tools_and_success_criteria(self, tb: Any, db_path: Path) -> None:
        created = tb.ab.create("t", variants=["cold", "warm"], expected_tools=["search", "edit"],
                               success_criteria=["tests pass"])  # fmt: skip
        assert created.expected_tools == ["search", "edit"]
        assert created.success_criteria == ["tests pass"]
        assert tb.ab.create("u", expected_tools="a, b").expected_tools == ["a", "b"]
        with pytest.raises(trialbook.InvalidCommand, match="expected_tools: item 1 of 1 is empty"):
            tb.ab.create("v", expected_tools=[""])
        assert count_events(db_path) == 2

    def test_create_reads_guardrails_as_the_cli_does(
        self, tb: Any, invoke: Invoke, db_path: Path
    ) -> None:
        rails = ["completion_time:+30s", "cost:+3c", "error_rate:+2pp", "completion_time:p95:+10%"]
        created = tb.ab.create("t", guardrails=rails)
        invoke("ab", "create", "u", *(f"--guardrail={g}" for g in rails))
        assert created.guardrails == tb.ab.get("u").guardrails
        assert [g["limit"] for g in created.guardrails] == [30.0, 0.03, 0.02, 0.1]
        before = count_events(db_path)
        with pytest.raises(trialbook.InvalidCommand) as refused:
            tb.ab.create("v", guardrails=["success:+5"])
        r = invoke("ab", "create", "v", "--guardrail", "success:+5")
        assert (r.exit_code, r.output) == (1, f"Error: {refused.value}\n")
        assert count_events(db_path) == before

    def test_create_add_and_analyze_match_the_cli_on_the_same_file(
        self, tb: Any, invoke: Invoke
    ) -> None:
        created = tb.ab.create("checkout-flow", variants=["cold", "warm"], metric="success",
                               guardrails=["completion_time:+10%"], expected_results=400)  # fmt: skip
        assert (created.name, created.control, created.variants) == (
            "checkout-flow",
            "cold",
            ["cold", "warm"],
        )
        for i in range(40):
            tb.ab.add_result("checkout-flow", variant="warm", tool_calls=12, successful_calls=11,
                             completion_time=40 + i % 7, success=i % 5 != 0, case_id=f"c{i}")  # fmt: skip
            tb.ab.add_result("checkout-flow", variant="cold", tool_calls=12, successful_calls=9,
                             completion_time=50 + i % 5, success=i % 3 == 0, case_id=f"c{i}")  # fmt: skip
        a = tb.ab.analyze("checkout-flow")
        assert isinstance(a, trialbook.Analysis)
        assert a.model_dump(mode="json") == cli_json(invoke, "ab", "analyze", "checkout-flow")
        assert a.variant("warm").paired is not None  # results paired by case id
        other = tb.ab.analyze("checkout-flow", metric="completion_time", mde="10%")
        assert other.model_dump(mode="json") == cli_json(
            invoke, "ab", "analyze", "checkout-flow", "--metric", "completion_time", "--mde", "10%"
        )
        assert (
            tb.ab.summary("checkout-flow")
            == cli_json(invoke, "ab", "summary", "checkout-flow")["variants"]
        )
        shown = cli_json(invoke, "ab", "show", "checkout-flow", "--limit", "0")
        assert tb.ab.results("checkout-flow") == shown["results"]
        assert tb.ab.get("checkout-flow").model_dump() == shown["test"]
        listed = cli_json(invoke, "ab", "list")
        assert [t.model_dump() for t in tb.ab.list()] == [
            {k: v for k, v in t.items() if k != "decision"} for t in listed
        ]

    def test_an_analysis_as_of_a_position_is_the_clis(self, tb: Any, invoke: Invoke) -> None:
        tb.ab.create("t", variants=["a", "b"])
        for i in range(12):
            tb.ab.add_result("t", variant="ab"[i % 2], success=i % 3 != 0)
        past = tb.ab.analyze("t", at=7)
        assert past.position == 7
        assert past.model_dump(mode="json") == cli_json(invoke, "ab", "analyze", "t", "--at", "7")
        assert tb.ab.analyze("t").position == 13
        seventh = tb.events.get(7).recorded_at
        from datetime import datetime

        as_datetime = datetime.fromisoformat(seventh.replace("Z", "+00:00"))
        for when in (seventh, seventh.replace("Z", "+00:00"), as_datetime):
            assert tb.ab.analyze("t", as_of=when).position == 7
        with pytest.raises(trialbook.InvalidCommand, match="is not an ISO time"):
            tb.ab.analyze("t", as_of="yesterday")

    def test_add_results_is_all_or_nothing_and_names_the_bad_row(
        self, tb: Any, db_path: Path
    ) -> None:
        tb.ab.create("t", variants=["a", "b"])
        rows = [{"variant": "a", "success": True}, {"variant": "b", "tool_calls": -1}]
        with pytest.raises(trialbook.InvalidCommand, match=r"^result 2: tool_calls"):
            tb.ab.add_results("t", rows)
        with pytest.raises(trialbook.InvalidCommand, match="'c'"):
            tb.ab.add_results("t", [{"variant": "a"}, {"variant": "c"}])
        assert count_events(db_path) == 1
        recorded = tb.ab.add_results("t", [{"variant": "a", "success": True}] * 3)
        assert [r.position for r in recorded] == [2, 3, 4]
        assert tb.ab.get("t").results == 3

    def test_errors_carry_the_clis_one_line_messages_and_append_nothing(
        self, tb: Any, db_path: Path, invoke: Invoke
    ) -> None:
        tb.ab.create("t", variants=["a", "b"])
        cases = [
            (lambda: tb.ab.add_result("nope", variant="a"), ("ab", "add-result", "nope", "--variant", "a")),
            (lambda: tb.ab.add_result("t", variant="zz"), ("ab", "add-result", "t", "--variant", "zz")),
            (lambda: tb.ab.create("t", variants=["a", "b"]), ("ab", "create", "t", "--variants", "a,b")),
            (lambda: tb.ab.analyze("nope"), ("ab", "analyze", "nope")),
            (lambda: tb.ab.add_result("t", variant="a", tool_calls=-3),
             ("ab", "add-result", "t", "--variant", "a", "--tool-calls", "-3")),
        ]  # fmt: skip
        for call, args in cases:
            with pytest.raises(trialbook.TrialbookError) as e:
                call()
            assert str(e.value) == cli_error(invoke, *args)
            assert "\n" not in str(e.value)
        assert count_events(db_path) == 1

    def test_a_retry_with_the_same_event_id_records_once(self, tb: Any, db_path: Path) -> None:
        import uuid

        tb.ab.create("t", variants=["a", "b"])
        event_id = str(uuid.uuid4())
        first = tb.ab.add_result("t", variant="a", success=True, session_id="s1", event_id=event_id)
        again = tb.ab.add_result("t", variant="a", success=True, session_id="s1", event_id=event_id)
        assert first == again and count_events(db_path) == 2
        with pytest.raises(trialbook.IdempotencyConflict):
            tb.ab.add_result("t", variant="b", success=True, session_id="s1", event_id=event_id)
        assert count_events(db_path) == 2

    def test_import_file_reads_jsonl_like_ab_import(self, tb: Any, tmp_path: Path) -> None:
        tb.ab.create("t", variants=["a", "b"])
        f = tmp_path / "r.jsonl"
        f.write_text('{"variant": "a", "success": true}\n{"variant": "b", "success": "yes"}\n')
        with pytest.raises(trialbook.InvalidCommand, match="line 2: success"):
            tb.ab.import_file("t", f)
        f.write_text('{"variant": "a", "success": true}\n{"variant": "b", "success": false}\n')
        assert len(tb.ab.import_file("t", f)) == 2

    def test_conclude_archive_and_restore(self, tb: Any, invoke: Invoke) -> None:
        tb.ab.create("t", variants=["a", "b"])
        for i in range(10):
            tb.ab.add_result("t", variant="ab"[i % 2], success=True)
        with pytest.raises(trialbook.InvalidCommand, match="give exactly one of"):
            tb.ab.conclude("t", ship="b", stop=True)
        d = tb.ab.conclude("t", ship="b", note="why not")
        assert (d.choice, d.variant, d.analysis_position) == ("ship", "b", 11)
        assert d.against_recommendation is True  # 5 results each: the analysis says continue
        shown = cli_json(invoke, "ab", "show", "t")
        assert shown["decision"] == tb.ab.decision("t") and shown["decision"]["choice"] == "ship"
        assert tb.ab.decisions() == {"t": shown["decision"]}
        audit = tb.ab.audit("t")
        assert audit["problems"] == [] and [d["reproduces"] for d in audit["decisions"]] == [True]
        cli_audit = cli_json(invoke, "audit", "t")
        assert {k: v for k, v in audit.items() if k != "problems"} == cli_audit
        tb.ab.archive("t")
        assert tb.ab.list() == [] and tb.ab.list(include_archived=True)[0].archived
        with pytest.raises(trialbook.StateConflict):
            tb.ab.add_result("t", variant="a")
        tb.ab.restore("t")
        assert [t.name for t in tb.ab.list()] == ["t"]

    def test_api_events_record_the_call_and_the_tier(self, tb: Any) -> None:
        tb.ab.create("t", variants=["a", "b"])
        tb.ab.add_result("t", variant="a")
        meta = [e.metadata for e in tb.events.read()]
        assert [m["call"] for m in meta] == ["trialbook.ab.create", "trialbook.ab.add_result"]
        assert all(m["tier"] == "api" and "actor" in m for m in meta)

    def test_the_cli_records_its_command_line_not_an_api_call(
        self, db_path: Path, invoke: Invoke
    ) -> None:
        assert invoke("ab", "create", "t", "--variants", "a,b").exit_code == 0
        assert invoke("ab", "add-result", "t", "--variant", "a", "--success").exit_code == 0
        with trialbook.open(db_path) as tb:
            meta = [e.metadata for e in tb.events.read()]
        assert all("call" not in m and m["tier"] == "cli" for m in meta)


class TestSessions:
    def test_a_session_records_what_it_counted_and_its_time(self, tb: Any) -> None:
        tb.ab.create("t", variants=["cold", "warm"])
        with tb.ab.session("t", variant="warm", case_id="t-17") as s:
            s.tool_call(ok=True)
            s.tool_call(ok=False, error="timeout")
            s.usage(tokens=1200, cost=0.03)
            s.usage(tokens=300, cost=0.01)
            s.message()
            s.metric("hits", 3)
        (row,) = tb.ab.results("t")
        assert row["variant"] == "warm" and row["case_id"] == "t-17" and row["success"] is True
        assert (row["tool_calls"], row["successful_calls"], row["tokens"]) == (2, 1, 1500)
        assert row["cost"] == pytest.approx(0.04) and row["messages"] == 1
        assert row["error_messages"] == ["timeout"] and row["metrics"] == {"hits": 3.0}
        assert 0 <= row["completion_time"] < 5
        assert s.recorded is not None and s.recorded.position == 2

    def test_an_exception_is_recorded_as_a_failure_and_re_raised(self, tb: Any) -> None:
        tb.ab.create("t", variants=["a", "b"])
        with pytest.raises(ValueError, match="boom"), tb.ab.session("t", variant="a"):
            raise ValueError("boom")
        with tb.ab.session("t", variant="b") as s:
            s.fail("wrong answer")
        rows = tb.ab.results("t")
        assert [r["success"] for r in rows] == [False, False]
        assert rows[0]["error_messages"] == ["ValueError: boom"]
        assert rows[1]["error_messages"] == ["wrong answer"]

    def test_async_with_records_from_a_worker_thread(self, tb: Any) -> None:
        tb.ab.create("t", variants=["a", "b"])

        async def agent(i: int) -> None:
            async with tb.ab.session("t", variant="ab"[i % 2], case_id=f"c{i // 2}") as s:
                await asyncio.sleep(0.01)
                s.tool_call(ok=True)

        async def main() -> None:
            await asyncio.gather(*(agent(i) for i in range(10)))

        asyncio.run(main())
        assert tb.ab.get("t").results == 10
        assert tb.events.verify().ok


class TestTheLog:
    def test_read_returns_events_in_position_order_with_filters(self, tb: Any) -> None:
        tb.ab.create("a", variants=["x", "y"])
        tb.ab.create("b", variants=["x", "y"])
        for i in range(5):
            tb.ab.add_result("ab"[i % 2], variant="x")
        everything = list(tb.events.read())
        assert [e.position for e in everything] == list(range(1, 8))
        assert [e.position for e in tb.events.read(after=3, until=5)] == [4, 5]
        assert {e.stream_id for e in tb.events.read(stream="ab:b")} == {"ab:b"}
        assert [e.type for e in tb.events.read(types=["TestCreated"])] == ["TestCreated"] * 2
        assert tb.events.get(3) == everything[2] == tb.events.get(everything[2].event_id)
        with pytest.raises(trialbook.NotFound):
            tb.events.get(99)
        assert tb.position == 7

    def test_read_crosses_batch_edges(self, tb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        from trialbook import _events

        monkeypatch.setattr(_events, "BATCH", 3)
        tb.ab.create("t", variants=["a", "b"])
        tb.ab.add_results("t", [{"variant": "a"}] * 9)
        assert [e.position for e in tb.events.read()] == list(range(1, 11))

    def test_verify_is_events_verify(self, tb: Any, invoke: Invoke) -> None:
        tb.ab.create("t", variants=["a", "b"])
        report = tb.events.verify()
        doc = cli_json(invoke, "events", "verify")
        assert report.model_dump() == {k: v for k, v in doc.items() if k != "seconds"}


WRITER = """
import sys, trialbook
path, test, variant, n, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
import threading
tb = trialbook.open(path)
def work(t):
    for i in range(n):
        tb.ab.add_result(test, variant=variant, success=(i + t) % 3 != 0,
                         completion_time=1.0 + (i % 17), case_id=f"{variant}-{t}-{i}")
threads = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
for t in threads: t.start()
for t in threads: t.join()
tb.close()
"""


@pytest.mark.slow
def test_ten_thousand_results_from_threads_and_processes_lose_nothing(
    tmp_path: Path, db_path: Path, invoke: Invoke
) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    with trialbook.open(db_path) as tb:
        tb.ab.create("load", variants=["a", "b"])
        # 2 processes x 4 threads x 625, and 4 threads of this process x 1,250
        procs = [
            subprocess.Popen([sys.executable, str(script), str(db_path), "load", v, "625", "4"])
            for v in "ab"
        ]

        def work(t: int) -> None:
            for i in range(1250):
                tb.ab.add_result("load", variant="ab"[t % 2], success=i % 2 == 0,
                                 completion_time=2.0 + (i % 11), case_id=f"here-{t}-{i}")  # fmt: skip

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [p.wait(timeout=300) for p in procs] == [0, 0]
        assert tb.ab.get("load").results == 10_000
        analysis = tb.ab.analyze("load").model_dump(mode="json")
    assert count_events(db_path) == 10_001
    assert analysis == cli_json(invoke, "ab", "analyze", "load")
    assert invoke("events", "verify").exit_code == 0


FOLLOWER = """
import sys, trialbook
tb = trialbook.open(sys.argv[1])
after, stop_at = int(sys.argv[2]), int(sys.argv[3])
for e in tb.events.follow(after=after, poll=0.02, timeout=30):
    print(e.position, e.event_id, flush=True)
    if e.position >= stop_at:
        break
"""


@pytest.mark.slow
def test_follow_delivers_other_processes_events_once_in_order_and_resumes(
    tmp_path: Path, db_path: Path, invoke: Invoke
) -> None:
    script = tmp_path / "follower.py"
    script.write_text(FOLLOWER)
    with trialbook.open(db_path) as tb:
        tb.ab.create("t", variants=["a", "b"])
    follower = subprocess.Popen(
        [sys.executable, str(script), str(db_path), "0", "41"], stdout=subprocess.PIPE, text=True
    )
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(db_path), "t", v, "10", "2"])
        for v in "ab"
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    out, _ = follower.communicate(timeout=120)
    seen = [line.split() for line in out.splitlines()]
    assert [int(p) for p, _ in seen] == list(range(1, 42))
    with trialbook.open(db_path) as tb:
        assert [e.event_id for e in tb.events.read()] == [eid for _, eid in seen]
        # a restart resumes after the last position handled
        tb.ab.add_results("t", [{"variant": "a"}] * 3)
        resumed = list(tb.events.follow(after=41, timeout=0.2, poll=0.05))
        assert [e.position for e in resumed] == [42, 43, 44]
        stop = threading.Event()
        stop.set()
        assert list(tb.events.follow(after=0, stop=stop)) == []


@pytest.mark.slow
def test_a_long_lived_api_process_keeps_its_writes_while_others_write(
    db_path: Path, invoke: Invoke
) -> None:
    """Issue #22's scenario with the API instead of the shell: one handle open for the whole run."""
    script = (
        "import sys, trialbook\n"
        "tb = trialbook.open(sys.argv[1])\n"
        "second = trialbook.open(sys.argv[1])  # a second handle in the same process\n"
        "for line in sys.stdin:\n"
        "    tb.ab.add_result('t', variant='a', session_id=line.strip())\n"
        "    print('ok', flush=True)\n"
        "second.close()\n"
    )
    assert invoke("ab", "create", "t", "--variants", "a,b").exit_code == 0
    api = subprocess.Popen(
        [sys.executable, "-c", script, str(db_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert api.stdin is not None and api.stdout is not None
    expected = 1
    for i in range(4):
        api.stdin.write(f"api-{i}\n")
        api.stdin.flush()
        assert api.stdout.readline().strip() == "ok"
        expected += 1
        done = subprocess.run(
            [sys.executable, "-m", "trialbook", "--db", str(db_path), "ab", "add-result", "t",
             "--variant", "b", "--session-id", f"cli-{i}"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        expected += 1
        assert count_events(db_path) == expected  # a fresh connection sees everything so far
    api.stdin.close()
    assert api.wait(timeout=60) == 0
    api.stdout.close()
    assert count_events(db_path) == expected == 9
    assert invoke("events", "verify").exit_code == 0
