"""The rollout executor against real local servers: retries, timeouts, concurrency, latency, stopping."""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import threading
import time

import pytest

from trialbook.domain.evals import Price
from trialbook.domain.suites import Case
from trialbook.runners.executor import (
    Backoff,
    BatchWriter,
    Progress,
    RolloutOutcome,
    WriterFailed,
    make_jobs,
    run_rollouts,
    to_record_command,
)
from trialbook.runners.targets import make_target

try:
    from tests.servers import Behaviour, ChatServer, TaskServer
except ImportError:  # tests/ is on sys.path rather than the repo root
    from servers import Behaviour, ChatServer, TaskServer  # type: ignore[no-redef]

FAST = Backoff(base_s=0.01, max_s=0.05)


def cases(n: int, prefix: str = "c", **metadata) -> list[Case]:
    return [
        Case(id=f"{prefix}{i}", input=f"question {i}", metadata=dict(metadata)) for i in range(n)
    ]


def scripted(case_id: str, *steps: str) -> Case:
    return Case(id=case_id, input=f"input of {case_id}", metadata={"script": list(steps)})


async def collect(jobs, target, **kw) -> tuple[list[RolloutOutcome], object]:
    out: list[RolloutOutcome] = []
    kw.setdefault("backoff", FAST)
    kw.setdefault("timeout", 5)
    kw.setdefault("retries", 3)
    kw.setdefault("rng", random.Random(1))
    report = await run_rollouts(jobs, target, run_id="r1", on_result=out.append, **kw)
    return out, report


def run_cases(server, case_list, **kw):
    target = make_target(f"{server.url}/run")
    return asyncio.run(collect(make_jobs(case_list), target, **kw))


@pytest.fixture
def kernel_stamps():
    """Linux turns packet stamping on for the whole system a moment after the first socket
    asks for it (a deferred work item; until then packets come unstamped and latency is
    timed around the call): hold one stamped connection open until its packets are
    stamped, so the test's own first packets are."""
    import socket as socket_module

    from trialbook.runners import http_client

    with socket_module.create_server(("127.0.0.1", 0)) as listener:
        sock = http_client._stamped_socket((socket_module.AF_INET, socket_module.SOCK_STREAM, 0))
        with sock:
            sock.connect(listener.getsockname())
            peer, _ = listener.accept()
            with peer:
                for _ in range(200):
                    stamps = http_client._WireStamps()
                    token = http_client._STAMPS.set(stamps)
                    try:
                        sock.send(b"?")
                    finally:
                        http_client._STAMPS.reset(token)
                    peer.recv(10)
                    peer.sendall(b"!")
                    sock.recv(10)
                    if stamps.received_ns:
                        break
                    time.sleep(0.005)
                else:
                    pytest.fail("the kernel never stamped a packet")
                yield


@pytest.fixture(scope="module")
def server():
    with TaskServer() as s:
        yield s


@pytest.fixture(scope="module")
def slow_server():
    with TaskServer(Behaviour(latency_s=0.1)) as s:
        yield s


@pytest.fixture(autouse=True)
def _reset(request):
    for name in ("server", "slow_server"):
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()


class TestRetries:
    def test_5xx_is_retried_until_it_succeeds(self, server):
        (o,), report = run_cases(server, [scripted("a", "503", "502")])
        assert o.ok and o.tries == 3 and server.hits["a"] == 3
        assert report.completed == 1 and report.failed == 0

    def test_retries_run_out_into_a_failed_rollout_naming_the_error(self, server):
        (o,), _ = run_cases(server, [scripted("a", *["503"] * 9)], retries=2)
        assert not o.ok and o.tries == 3 and server.hits["a"] == 3
        assert o.error_kind == "http_status" and o.status_code == 503
        assert "HTTP 503" in o.error and "(after 3 tries)" in o.error

    def test_other_4xx_are_not_retried(self, server):
        (o,), _ = run_cases(server, [scripted("a", "400")])
        assert not o.ok and o.tries == 1 and server.hits["a"] == 1

    def test_retry_after_is_honoured(self, server):
        started = time.perf_counter()
        (o,), _ = run_cases(server, [scripted("a", "429:0.4")])
        assert o.ok and o.tries == 2
        assert time.perf_counter() - started >= 0.4  # the backoff alone would be ≤ 0.01 s

    def test_a_dropped_connection_is_retried(self, server):
        (o,), _ = run_cases(server, [scripted("a", "drop")])
        assert o.ok and o.tries == 2 and server.hits["a"] == 2

    def test_timeouts_are_retried_then_recorded(self, server):
        started = time.perf_counter()
        (o,), _ = run_cases(server, [scripted("a", "hang", "hang", "hang")], timeout=0.2, retries=1)
        assert not o.ok and o.error_kind == "timeout" and o.tries == 2 and server.hits["a"] == 2
        assert "no answer within 0.2 s" in o.error
        assert 0.4 <= time.perf_counter() - started < 2

    def test_bad_replies_fail_their_rollout_and_the_run_goes_on(self, server):
        case_list = [scripted("m", "malformed"), scripted("s", "shape"), *cases(3)]
        outcomes, report = run_cases(server, case_list)
        by_id = {o.case_id: o for o in outcomes}
        assert "is not JSON" in by_id["m"].error and by_id["m"].error_kind == "bad_response"
        assert 'no "output" field' in by_id["s"].error
        assert server.hits["m"] == 1  # not retried
        assert (report.completed, report.failed) == (3, 2)

    def test_backoff_grows_exponentially_with_jitter_and_caps(self):
        b = Backoff(base_s=1, factor=2, max_s=5, jitter=0.5)
        rng = random.Random(3)
        assert [
            round(b.delay(n, rng=random.Random(0)) / b.delay(1, rng=random.Random(0)))
            for n in (1, 2, 3)
        ] == [1, 2, 4]
        delays = [b.delay(10, rng=rng) for _ in range(50)]
        assert all(2.5 <= d <= 5 for d in delays) and len(set(delays)) > 1
        assert 3 <= b.delay(1, retry_after=3, rng=rng) <= 3.15


class TestConcurrencyAndLatency:
    def test_concurrency_is_bounded_and_reached(self, slow_server):
        outcomes, report = run_cases(slow_server, cases(15), concurrency=5)
        assert slow_server.max_in_flight == 5
        assert report.completed == 15 and len(outcomes) == 15

    def test_latency_excludes_queue_wait_and_matches_the_server(self, slow_server):
        started = time.perf_counter()
        outcomes, report = run_cases(slow_server, cases(8), concurrency=2)
        elapsed = time.perf_counter() - started
        assert elapsed >= 0.4  # four waves of 0.1 s: later cases waited in the queue
        recorded = statistics.median(o.latency_s for o in outcomes)
        true = statistics.median(slow_server.durations)
        # the kernel stamps the wire; the server (a thread of this process) stamps its handling
        # in Python, a little late when it waits for the GIL: so "true" may exceed the wire
        assert true - 0.005 <= recorded <= true * 1.3 + 0.01  # the benchmark checks 10 %
        assert (
            max(o.latency_s for o in outcomes) < 0.19
        )  # queue wait would add ≥ 0.1 s to half of them

    @pytest.mark.skipif(sys.platform != "linux", reason="the kernel's packet stamps (Linux)")
    def test_latency_is_timed_by_the_kernel_not_by_a_busy_event_loop(
        self, slow_server, kernel_stamps
    ):
        """A response that waits in the socket while the loop is busy (here: blocked for 0.3 s
        after the request went out) is recorded with the server's 0.1 s, not the 0.3 s the
        client took to read it (issue #25: queueing in the client is not the target's latency)."""
        from trialbook.runners import http_client

        sockets: list[http_client._StampedSocket] = []
        real = http_client._stamped_socket

        def spy(addr_info):
            sock = real(addr_info)
            sockets.append(sock)
            return sock

        async def main():
            target = make_target(f"{slow_server.url}/run")
            out: list[RolloutOutcome] = []

            async def block_loop() -> None:
                while slow_server.in_flight == 0:
                    await asyncio.sleep(0.001)
                time.sleep(0.3)  # the loop stalls; the answer arrives after 0.1 s and waits

            blocker = asyncio.create_task(block_loop())
            started = time.perf_counter()
            await run_rollouts(
                make_jobs(cases(1)), target, run_id="r1", on_result=out.append, timeout=5
            )
            await blocker
            return out, time.perf_counter() - started

        original = http_client._stamped_socket
        http_client._stamped_socket = spy
        try:
            (outcome,), elapsed = asyncio.run(main())
        finally:
            http_client._stamped_socket = original
        assert isinstance(sockets[0], http_client._StampedSocket)
        assert elapsed >= 0.3  # the answer really was read late
        assert outcome.ok and 0.1 <= outcome.latency_s < 0.2

    @pytest.mark.skipif(sys.platform != "linux", reason="the kernel's packet stamps (Linux)")
    @pytest.mark.parametrize("read", ["recv", "recv_into"])
    def test_the_stamped_socket_reads_what_a_plain_one_reads(self, read, kernel_stamps):
        """``recv`` (plain connections) and ``recv_into`` (TLS: asyncio's SSL protocol reads
        into a buffer) return the bytes a plain socket would, and stamp the exchange."""
        import socket as socket_module

        from trialbook.runners import http_client

        with socket_module.create_server(("127.0.0.1", 0)) as listener:
            client = http_client._stamped_socket(
                (socket_module.AF_INET, socket_module.SOCK_STREAM, 0)
            )
            assert isinstance(client, http_client._StampedSocket)
            with client:
                client.connect(listener.getsockname())
                peer, _ = listener.accept()
                with peer:
                    stamps = http_client._WireStamps()
                    token = http_client._STAMPS.set(stamps)
                    try:
                        client.send(b"question")
                    finally:
                        http_client._STAMPS.reset(token)
                    assert peer.recv(100) == b"question"
                    answered = time.time_ns()
                    peer.sendall(b"the answer")
                    time.sleep(0.02)  # the answer waits in the socket
                    read_at = time.time_ns()
                    if read == "recv":
                        got = client.recv(100)
                    else:
                        buffer = bytearray(b"." * 20)
                        n = client.recv_into(buffer, 6)
                        got = bytes(buffer[:n])
                        assert buffer[n:] == b"." * (20 - n)
                    assert got == (b"the answer" if read == "recv" else b"the an")
        # the kernel stamped the answer's arrival, before it was read
        assert stamps.sent_ns < answered <= stamps.received_ns < read_at
        assert stamps.latency() is not None

    def test_latency_falls_back_to_the_time_around_the_call_without_stamps(
        self, slow_server, monkeypatch
    ):
        import socket as socket_module

        from trialbook.runners import http_client

        monkeypatch.setattr(
            http_client,
            "_stamped_socket",
            lambda info: socket_module.socket(info[0], info[1], info[2]),
        )
        outcomes, _ = run_cases(slow_server, cases(2), concurrency=1)
        assert all(o.ok and 0.1 <= o.latency_s < 0.19 for o in outcomes)

    def test_latency_excludes_backoff(self, slow_server):
        (o,), _ = run_cases(
            slow_server, [scripted("a", "503")], backoff=Backoff(base_s=0.3, jitter=0)
        )
        assert o.ok and o.tries == 2
        assert 0.1 <= o.latency_s < 0.2

    def test_the_span_is_reported(self, slow_server):
        _, report = run_cases(slow_server, cases(4), concurrency=4)
        assert 0.1 <= report.span_s < 0.5 and report.elapsed_s >= report.span_s


class TestStopping:
    def test_cancelling_leaves_in_flight_and_unstarted_rollouts_without_outcomes(self, server):
        delivered: list[RolloutOutcome] = []
        case_list = [*cases(8), *(scripted(f"h{i}", "hang") for i in range(12))]

        async def main():
            target = make_target(f"{server.url}/run")
            task = asyncio.create_task(
                run_rollouts(
                    make_jobs(case_list),
                    target,
                    run_id="r1",
                    on_result=delivered.append,
                    concurrency=4,
                    timeout=30,
                )
            )
            while server.requests < 12:  # 8 answered, 4 in flight
                await asyncio.sleep(0.005)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        started = time.perf_counter()
        asyncio.run(main())
        assert time.perf_counter() - started < 5  # cancelled, not waiting for the hangs
        assert sorted(o.case_id for o in delivered) == [f"c{i}" for i in range(8)]
        time.sleep(0.1)
        assert server.requests == 12  # nothing was sent after the cancel

    def test_the_budget_stops_new_rollouts(self, server):
        outcomes, report = run_cases(
            server, cases(10, cost_usd=0.01), concurrency=1, budget_usd=0.03
        )
        assert len(outcomes) == 3 and report.stopped == "budget"
        assert report.not_started == 7 and report.cost_usd == pytest.approx(0.03)

    def test_cost_from_usage_and_the_price_table(self, server):
        (o,), report = run_cases(
            server, cases(1), prices={"*": Price(input_per_million=1e6, output_per_million=0)}
        )
        assert o.cost_usd == pytest.approx(2.0)  # "question 0" is 2 prompt tokens at $1 each

    def test_should_stop_stops_before_the_next_rollout(self, server):
        seen: list[RolloutOutcome] = []

        async def main():
            target = make_target(f"{server.url}/run")
            return await run_rollouts(
                make_jobs(cases(10)),
                target,
                run_id="r1",
                on_result=seen.append,
                concurrency=1,
                should_stop=lambda: len(seen) >= 2,
            )

        report = asyncio.run(main())
        assert len(seen) == 2 and report.stopped == "stopped" and report.not_started == 8

    def test_an_error_in_on_result_stops_the_run_and_propagates(self, server):
        def explode(outcome):
            raise RuntimeError("disk full")

        async def main():
            target = make_target(f"{server.url}/run")
            await run_rollouts(
                make_jobs(cases(10)), target, run_id="r1", on_result=explode, concurrency=2
            )

        with pytest.raises(RuntimeError, match="disk full"):
            asyncio.run(main())
        assert server.requests <= 2

    def test_progress_reports_done_failed_in_flight_rate_and_eta(self, slow_server):
        seen: list[Progress] = []
        case_list = [*cases(5), scripted("x", "400")]
        run_cases(
            slow_server, case_list, concurrency=2, on_progress=seen.append, progress_interval=0.05
        )
        assert any(p.in_flight > 0 for p in seen)
        final = seen[-1]
        assert (final.total, final.completed, final.failed, final.in_flight, final.remaining) == (
            6,
            5,
            1,
            0,
            0,
        )
        assert final.rate > 0 and final.eta_s == 0
        assert "6/6 done · 1 failed · 0 in flight" in final.line()


class TestBatchWriter:
    def test_outcomes_are_written_in_batches_in_another_thread(self, slow_server):
        batches: list[list[RolloutOutcome]] = []
        threads: set[str] = set()

        def write_batch(batch):
            threads.add(threading.current_thread().name)
            batches.append(batch)

        async def main():
            target = make_target(f"{slow_server.url}/run")
            async with BatchWriter(write_batch, max_batch=5, max_delay_s=5) as writer:
                await run_rollouts(
                    make_jobs(cases(12)), target, run_id="r1", on_result=writer, concurrency=12
                )
            return writer

        writer = asyncio.run(main())
        assert [len(b) for b in batches] == [5, 5, 2]  # the rest is flushed on exit
        assert writer.stats.written == 12 and threads == {"trialbook-writer_0"}

    def test_a_batch_is_written_after_max_delay(self, slow_server):
        times: list[float] = []

        async def main():
            target = make_target(f"{slow_server.url}/run")
            async with BatchWriter(
                lambda b: times.append(time.perf_counter()), max_batch=100, max_delay_s=0.05
            ) as writer:
                await run_rollouts(
                    make_jobs(cases(6)), target, run_id="r1", on_result=writer, concurrency=2
                )

        asyncio.run(main())
        assert len(times) >= 2  # waves 0.1 s apart do not wait for a full batch

    def test_a_failing_write_stops_the_run_and_is_raised(self, slow_server):
        def write_batch(batch):
            raise OSError("database is locked")

        async def main():
            target = make_target(f"{slow_server.url}/run")
            async with BatchWriter(write_batch, max_batch=1, max_delay_s=0) as writer:
                await run_rollouts(
                    make_jobs(cases(20)), target, run_id="r1", on_result=writer, concurrency=2
                )

        with pytest.raises(WriterFailed, match="recording rollouts failed: database is locked"):
            asyncio.run(main())
        assert slow_server.requests < 10

    def test_buffered_outcomes_are_written_when_the_run_is_cancelled(self, server):
        written: list[RolloutOutcome] = []
        case_list = [*cases(8), *(scripted(f"h{i}", "hang") for i in range(8))]

        async def main():
            target = make_target(f"{server.url}/run")
            async with BatchWriter(written.extend, max_batch=1000, max_delay_s=60) as writer:
                task = asyncio.create_task(
                    run_rollouts(
                        make_jobs(case_list),
                        target,
                        run_id="r1",
                        on_result=writer,
                        concurrency=4,
                        timeout=30,
                    )
                )
                while server.requests < 12:
                    await asyncio.sleep(0.005)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                assert written == []  # nothing was due before the block ends

        asyncio.run(main())
        assert len(written) == 8

    def test_outcomes_convert_to_one_record_command_with_blobs(self, server):
        case_list = [
            Case(id="t", input="x", metadata={"trace": {"steps": [1, 2]}}),
            scripted("f", "400"),
        ]
        outcomes, _ = run_cases(server, case_list)
        command, blobs = to_record_command("r1", outcomes)
        by_id = {r.case_id: r for r in command.rollouts}
        assert by_id["t"].trace_blob in blobs and by_id["t"].output == "echo: x"
        assert by_id["f"].error_kind == "http_status"
        done = next(o for o in outcomes if o.ok)
        big = RolloutOutcome(job=done.job, reply=done.reply, latency_s=0.1)
        big.reply.output = "y" * 10_000
        rollout, big_blobs = big.to_rollout()
        assert rollout.output is None and rollout.output_blob in big_blobs


class TestOtherTargetsThroughTheExecutor:
    def test_openai_429_with_retry_after_then_success(self):
        with ChatServer() as chat:
            chat.scripts["question 0"] = ["429:0.2"]
            target = make_target(f"openai:echo-1@{chat.url}/v1", env={})
            prices = {"echo-1": Price(input_per_million=1e6, output_per_million=1e6)}
            outcomes, _ = asyncio.run(collect(make_jobs(cases(2)), target, prices=prices))
        by_id = {o.case_id: o for o in outcomes}
        assert by_id["c0"].tries == 2 and by_id["c1"].tries == 1
        assert by_id["c0"].reply.output == "echo: question 0"
        assert by_id["c0"].cost_usd == pytest.approx(2 + 3)

    def test_a_command_that_hangs_is_killed_at_the_timeout(self):
        target = make_target("command:sleep 5")
        started = time.perf_counter()
        (o,), _ = asyncio.run(collect(make_jobs(cases(1)), target, timeout=0.3, retries=0))
        assert o.error_kind == "timeout" and time.perf_counter() - started < 2

    def test_python_targets_run_concurrently_in_threads(self, tmp_path, monkeypatch):
        (tmp_path / "eval_slow_mod.py").write_text(
            "import time\ndef f(case):\n    time.sleep(0.1)\n    return case['id']\n"
        )
        monkeypatch.syspath_prepend(str(tmp_path))
        started = time.perf_counter()
        outcomes, _ = asyncio.run(
            collect(make_jobs(cases(8)), make_target("python:eval_slow_mod:f"), concurrency=8)
        )
        assert sorted(o.reply.output for o in outcomes) == [f"c{i}" for i in range(8)]
        assert time.perf_counter() - started < 0.6  # one after another would take 0.8 s
