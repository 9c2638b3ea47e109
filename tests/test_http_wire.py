"""The targets' fast HTTP/1.1 path (runners/http_wire.py) against a scripted raw-socket server
on 127.0.0.1: framing, encodings, redirects, kept-alive connections the server closes,
timeouts, refusals, TLS and what it hands to aiohttp (cookies, proxies, credentials)."""

from __future__ import annotations

import asyncio
import gzip
import json
import shutil
import socket
import socketserver
import ssl
import subprocess
import sys
import textwrap
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from trialbook.domain.suites import Case
from trialbook.runners.eval_errors import RetryableError, RolloutRefused
from trialbook.runners.targets import HttpTarget, RolloutRequest, make_target

REPLY = json.dumps({"output": "fine", "score": 1.0}).encode()


@dataclass
class Seen:
    """One request as the server read it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    connection: int
    #: the header lines as sent, in order
    lines: list[str] = field(default_factory=list)


def response(
    status: int = 200, body: bytes = REPLY, headers: dict[str, str] | None = None
) -> bytes:
    head = f"HTTP/1.1 {status} Whatever\r\n"
    extra = dict(headers or {})
    if "Transfer-Encoding" not in extra and "-" not in extra:
        extra.setdefault("Content-Length", str(len(body)))
    extra.pop("-", None)
    head += "".join(f"{k}: {v}\r\n" for k, v in extra.items()) + "\r\n"
    return head.encode() + body


#: a handler: (the request, how many came before on its connection) -> bytes to send,
#: None to close without answering, or (bytes, True) to close after sending them
Handler = Callable[[Seen, int], "bytes | tuple[bytes, bool] | None"]


@dataclass
class RawServer:
    """A threaded HTTP/1.1 server that answers with whatever the test's handler returns."""

    handler: Handler
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0
    wrap: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        outer = self

        class Handle(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock = self.request
                if outer.wrap is not None:
                    try:
                        sock = outer.wrap.wrap_socket(sock, server_side=True)
                    except (ssl.SSLError, OSError):
                        return
                outer.connections += 1
                try:
                    with sock.makefile("rb") as reader:
                        self.serve(sock, reader, outer.connections)
                finally:
                    sock.close()

            def serve(self, sock: socket.socket, reader, number: int) -> None:
                n = 0
                while True:
                    try:
                        line = reader.readline()
                    except OSError:
                        return
                    if not line:
                        return
                    method, path, _ = line.decode().split(" ", 2)
                    headers: dict[str, str] = {}
                    lines = []
                    while (h := reader.readline()) not in (b"\r\n", b""):
                        lines.append(h.decode().rstrip("\r\n"))
                        k, _, v = lines[-1].partition(":")
                        headers[k.strip().lower()] = v.strip()
                    body = reader.read(int(headers.get("content-length", "0")))
                    seen = Seen(method, path, headers, body, number, lines)
                    outer.seen.append(seen)
                    answer = outer.handler(seen, n)
                    n += 1
                    if answer is None:
                        return
                    close = False
                    if isinstance(answer, tuple):
                        answer, close = answer
                    try:
                        sock.sendall(answer)
                    except OSError:
                        return
                    if close:
                        return

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handle)
        self.port = self.server.server_address[1]
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    @property
    def url(self) -> str:
        scheme = "https" if self.wrap is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve():
    servers: list[RawServer] = []

    def make(handler: Handler, wrap: ssl.SSLContext | None = None) -> RawServer:
        servers.append(RawServer(handler, wrap=wrap))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def request(case_id: str = "c1") -> RolloutRequest:
    return RolloutRequest("r1", Case(id=case_id, input="hi"), 1, 1, 0, {})


async def calls(target: HttpTarget, n: int = 1, timeout: float = 5):
    await target.start(concurrency=2, timeout=timeout)
    try:
        return [await target.call(request(f"c{i}")) for i in range(n)]
    finally:
        await target.aclose()


def run_calls(target: HttpTarget, n: int = 1, timeout: float = 5):
    return asyncio.run(calls(target, n, timeout))


def fast_only(target: HttpTarget, n: int = 1, timeout: float = 5):
    """The replies of ``n`` calls, checking that aiohttp was never opened."""

    async def main():
        await target.start(concurrency=2, timeout=timeout)
        try:
            replies = [await target.call(request(f"c{i}")) for i in range(n)]
            assert target._session is None, "the request went through aiohttp"
            return replies
        finally:
            await target.aclose()

    return asyncio.run(main())


class TestBodies:
    def test_content_length_bodies_on_one_kept_alive_connection(self, serve):
        server = serve(lambda seen, n: response())
        replies = fast_only(make_target(f"{server.url}/run"), 3)
        assert [r.output for r in replies] == ["fine"] * 3
        assert server.connections == 1 and len(server.seen) == 3
        first = server.seen[0]
        assert first.method == "POST" and first.path == "/run"
        assert json.loads(first.body)["case"]["id"] == "c0"
        assert first.headers["content-type"] == "application/json"
        assert first.headers["host"] == f"127.0.0.1:{server.port}"
        assert first.headers["user-agent"].startswith("Python/")

    def test_the_targets_headers_are_sent_as_given(self, serve):
        server = serve(lambda seen, n: response())
        target = {"kind": "http", "url": f"{server.url}/run", "headers": {"User-Agent": "mine/1"}}
        fast_only(make_target(target))
        agents = [h for h in server.seen[0].lines if h.lower().startswith("user-agent:")]
        assert agents == ["User-Agent: mine/1"]

    def test_chunked_bodies(self, serve):
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (REPLY[:7], REPLY[7:]))
        server = serve(
            lambda seen, n: response(
                body=chunks + b"0\r\n\r\n", headers={"Transfer-Encoding": "chunked"}
            )
        )
        assert [r.output for r in fast_only(make_target(f"{server.url}/run"), 2)] == ["fine"] * 2
        assert server.connections == 1

    def test_a_body_read_to_the_close(self, serve):
        server = serve(lambda seen, n: (response(headers={"-": ""}), True))
        assert [r.output for r in fast_only(make_target(f"{server.url}/run"), 2)] == ["fine"] * 2
        assert server.connections == 2

    @pytest.mark.parametrize(
        ("encoding", "encode"),
        [
            ("gzip", gzip.compress),
            ("deflate", zlib.compress),
            ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate, as some servers send
        ],
    )
    def test_gzip_and_deflate_bodies_are_decoded(self, serve, encoding, encode):
        server = serve(
            lambda seen, n: response(body=encode(REPLY), headers={"Content-Encoding": encoding})
        )
        assert fast_only(make_target(f"{server.url}/run"))[0].output == "fine"
        assert "gzip" in server.seen[0].headers["accept-encoding"]

    def test_a_body_that_does_not_decode_is_a_connection_error(self, serve):
        server = serve(
            lambda seen, n: response(body=b"not gzip", headers={"Content-Encoding": "gzip"})
        )
        with pytest.raises(RetryableError, match="failed: Can not decode content-encoding: gzip"):
            run_calls(make_target(f"{server.url}/run"))

    def test_http_errors_keep_their_kinds_messages_and_retry_after(self, serve):
        answers = {
            "/busy": response(503, b'{"error": {"message": "busy now"}}', {"Retry-After": "2"}),
            "/bad": response(400, b'{"error": "no such case"}'),
        }
        server = serve(lambda seen, n: answers[seen.path.split("?")[0]])
        with pytest.raises(RetryableError) as busy:
            run_calls(make_target(f"{server.url}/busy?api_key=sk-123"))
        assert str(busy.value).startswith("HTTP 503 from http://127.0.0.1:")
        assert "api_key=<redacted>: busy now" in str(busy.value)
        assert busy.value.retry_after == 2.0 and busy.value.kind == "http_status"
        with pytest.raises(RolloutRefused, match="HTTP 400 from .*/bad: no such case"):
            run_calls(make_target(f"{server.url}/bad"))


class TestRedirects:
    def test_a_302_turns_the_post_into_a_get_and_a_307_keeps_it(self, serve):
        def handler(seen: Seen, n: int) -> bytes:
            if seen.path == "/old":
                return response(302, b"", {"Location": "/get"})
            if seen.path == "/moved":
                return response(307, b"", {"Location": f"http://127.0.0.1:{server.port}/post"})
            return response()

        server = serve(handler)
        fast_only(make_target(f"{server.url}/old"))
        fast_only(make_target(f"{server.url}/moved"))
        assert [(s.method, s.path) for s in server.seen] == [
            ("POST", "/old"),
            ("GET", "/get"),
            ("POST", "/moved"),
            ("POST", "/post"),
        ]
        assert server.seen[1].body == b"" and "content-length" not in server.seen[1].headers
        assert server.seen[3].body == server.seen[2].body

    def test_a_redirect_to_another_origin_drops_the_key(self, serve):
        other = serve(lambda seen, n: response())
        server = serve(lambda seen, n: response(308, b"", {"Location": f"{other.url}/run"}))
        target = make_target(
            {"kind": "http", "url": f"{server.url}/run", "api_key_env": "K"}, env={"K": "sk-1"}
        )
        fast_only(target)
        assert server.seen[0].headers["authorization"] == "Bearer sk-1"
        assert "authorization" not in other.seen[0].headers

    def test_endless_redirects_are_a_connection_error(self, serve):
        server = serve(lambda seen, n: response(307, b"", {"Location": seen.path}))
        with pytest.raises(RetryableError, match="failed: more than 10 redirects") as e:
            run_calls(make_target(f"{server.url}/loop"))
        assert e.value.kind == "connection" and len(server.seen) == 10


class TestConnections:
    def test_a_kept_alive_connection_the_server_closed_is_not_reused(self, serve):
        """The server closes each connection after answering (without saying so): every
        request finds the idle connection closed and goes on a fresh one, never failing and
        never sent twice."""
        server = serve(lambda seen, n: (response(), True))

        async def main():
            target = make_target(f"{server.url}/run")
            await target.start(concurrency=2, timeout=5)
            try:
                replies = []
                for i in range(3):
                    replies.append(await target.call(request(f"c{i}")))
                    await asyncio.sleep(0.05)  # the close reaches us while idle
                return replies
            finally:
                await target.aclose()

        assert [r.output for r in asyncio.run(main())] == ["fine"] * 3
        assert len(server.seen) == 3 and server.connections == 3

    def test_connection_close_is_honoured(self, serve):
        server = serve(lambda seen, n: response(headers={"Connection": "close"}))
        fast_only(make_target(f"{server.url}/run"), 2)
        assert server.connections == 2

    def test_a_connection_lost_after_sending_is_retryable_and_not_resent(self, serve):
        server = serve(lambda seen, n: None)
        with pytest.raises(RetryableError, match="connection to http://127.0.0.1:.* failed") as e:
            run_calls(make_target(f"{server.url}/run"))
        assert e.value.kind == "connection" and len(server.seen) == 1

    def test_a_refused_connection_names_the_host(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with pytest.raises(RetryableError, match=f"Cannot connect to host 127.0.0.1:{port}") as e:
            run_calls(make_target(f"http://127.0.0.1:{port}/run?token=abc"))
        assert e.value.kind == "connection" and "token=<redacted>" in str(e.value)

    def test_a_silent_server_times_out_on_the_read(self, serve):
        release = threading.Event()

        def handler(seen: Seen, n: int) -> bytes:
            release.wait(5)
            return response()

        server = serve(handler)
        try:
            with pytest.raises(RetryableError, match="timed out waiting for http://127.0.0.1") as e:
                run_calls(make_target(f"{server.url}/run"), timeout=0.3)
            assert e.value.kind == "timeout"
        finally:
            release.set()

    def test_a_cancelled_request_leaves_no_answer_for_the_next(self, serve):
        """A request cancelled in flight (the executor's timeout, Ctrl-C) closes its
        connection, so its late answer is never read as the next request's."""

        def handler(seen: Seen, n: int) -> bytes:
            case = json.loads(seen.body)["case"]["id"]
            if case == "slow":
                threading.Event().wait(0.3)
            return response(body=json.dumps({"output": case}).encode())

        server = serve(handler)

        async def main():
            target = make_target(f"{server.url}/run")
            await target.start(concurrency=1, timeout=5)
            try:
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(target.call(request("slow")), 0.05)
                return await target.call(request("next"))
            finally:
                await target.aclose()

        assert asyncio.run(main()).output == "next"


class TestHandedToAiohttp:
    def test_cookies_set_by_a_response_are_sent_from_then_on(self, serve):
        def handler(seen: Seen, n: int) -> bytes:
            if seen.path == "/login":
                return response(302, b"", {"Set-Cookie": "session=s1; Path=/", "Location": "/run"})
            return response()

        server = serve(handler)

        async def main():
            target = make_target(f"{server.url}/login")
            await target.start(concurrency=2, timeout=5)
            try:
                await target.call(request())
                assert target._session is not None  # aiohttp keeps the cookies now
                await target.call(request())
            finally:
                await target.aclose()

        asyncio.run(main())
        assert [(s.method, s.path) for s in server.seen] == [
            ("POST", "/login"),
            ("GET", "/run"),
            ("POST", "/login"),
            ("GET", "/run"),
        ]
        cookies = [s.headers.get("cookie") for s in server.seen]
        assert cookies == [None, "session=s1", "session=s1", "session=s1"]

    def test_a_redirect_to_a_proxied_url_goes_through_the_proxy(self, serve, monkeypatch):
        def handler(seen: Seen, n: int) -> bytes:
            if seen.path == "/old":
                return response(307, b"", {"Location": f"http://localhost:{server.port}/new"})
            return response()

        server = serve(handler)
        monkeypatch.setenv("HTTP_PROXY", server.url)  # the same server plays the proxy
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        replies = run_calls(make_target(f"{server.url}/old"))
        assert replies[0].output == "fine"
        assert [(s.method, s.path) for s in server.seen] == [
            ("POST", "/old"),
            ("POST", f"http://localhost:{server.port}/new"),
        ]
        assert server.seen[1].body == server.seen[0].body

    def test_a_run_against_a_plain_url_never_imports_aiohttp(self, serve):
        server = serve(lambda seen, n: response())
        code = textwrap.dedent(
            f"""
            import asyncio, sys
            from trialbook.domain.suites import Case
            from trialbook.runners.executor import make_jobs, run_rollouts
            from trialbook.runners.targets import make_target
            jobs, out = make_jobs([Case(id="a", input="x")]), []
            target = make_target("{server.url}/run")
            asyncio.run(run_rollouts(jobs, target, run_id="r", on_result=out.append))
            print(out[0].ok, "aiohttp" in sys.modules)
            """
        )
        ran = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert ran.stdout.split() == ["True", "False"]

    def test_urls_with_credentials_or_proxies_go_through_aiohttp(self, serve, monkeypatch):
        from trialbook.runners.http_wire import WirePool

        server = serve(lambda seen, n: response())
        pool = WirePool(headers={}, concurrency=1, timeout=1)
        monkeypatch.delenv("HTTP_PROXY", raising=False)
        monkeypatch.delenv("http_proxy", raising=False)
        assert pool.handles(f"{server.url}/run")
        assert not pool.handles(f"http://user:pw@127.0.0.1:{server.port}/run")
        assert not pool.handles(f"{server.url}/a path")
        assert not pool.handles(f"ftp://127.0.0.1:{server.port}/run")
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")
        assert not WirePool(headers={}, concurrency=1, timeout=1).handles(f"{server.url}/run")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        assert WirePool(headers={}, concurrency=1, timeout=1).handles(f"{server.url}/run")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl to make a self-signed certificate")
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


class TestTls:
    def _context(self, certificate) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*certificate)
        return context

    def test_https_with_a_trusted_certificate(self, serve, certificate, monkeypatch):
        monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
        server = serve(lambda seen, n: response(), wrap=self._context(certificate))
        replies = fast_only(make_target(f"{server.url}/run"), 2)
        assert [r.output for r in replies] == ["fine"] * 2 and server.connections == 1
        assert 0 < replies[0].latency_s < 1

    def test_an_untrusted_certificate_is_a_connection_error(self, serve, certificate):
        server = serve(lambda seen, n: response(), wrap=self._context(certificate))
        with pytest.raises(
            RetryableError, match="Cannot connect to host .*CERTIFICATE_VERIFY_FAILED"
        ) as e:
            run_calls(make_target(f"{server.url}/run"))
        assert e.value.kind == "connection" and not server.seen
