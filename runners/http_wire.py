"""The targets' HTTP client: :class:`WireClient`, and its fast HTTP/1.1 path (issue #25).

:class:`WireClient` is the mixin the HTTP targets (``http``, ``openai``, ``rollout``) send
their requests through. :class:`WirePool` sends a target's requests on at most ``concurrency`` keep-alive
connections per origin, each an :class:`asyncio.Protocol` whose responses ``httptools``
(llhttp, the parser uvicorn uses) reads in C, with no stream, task or timer of its own per
request. Against a 5 ms server it spends ~60-70 µs of CPU a request where aiohttp spent
~110-180 µs, which at 100-200 in flight was most of the run.

What it handles, for ``http://`` and ``https://`` URLs (:meth:`WirePool.handles`): bodies
by Content-Length, chunked or read to the close; gzip and deflate content-encoding;
redirects as aiohttp follows them (301/302 POST and 303 become GET without a body; 307/308
keep the method and body; Authorization and Cookie dropped when the origin changes; 10 at
most); the connect and read timeouts of aiohttp's ``sock_connect`` / ``sock_read``; a
kept-alive connection the server has closed (checked before each reuse, as httpcore does:
an idle connection that has become readable is dropped and the request goes on a fresh
one; a POST is never sent twice, as aiohttp never resends one: a connection lost after
sending is a ``connection`` error the executor may retry); the kernel's wire stamps
(:class:`~trialbook.runners.http_client._StampedSocket`), so latency is the wire time.

What it leaves to aiohttp (:class:`WireClient` decides):
URLs a proxy from HTTP(S)_PROXY / NO_PROXY applies to, URLs with a user or password or
characters aiohttp would quote, and, from the first response that sets a cookie, every
request (aiohttp's cookie jar keeps and sends them): :class:`HandOver` carries a redirect
to such a URL, or a redirect whose response set a cookie, to aiohttp.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import sys
import time
import urllib.request
import zlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

from trialbook.runners import http_client
from trialbook.runners.eval_errors import RetryableError
from trialbook.runners.http_client import (
    _STAMPS,
    WireResponse,
    _WireStamps,
    redact_url,
)

__all__ = ["HandOver", "WireClient", "WirePool"]

#: redirects followed at most (aiohttp's ``max_redirects``)
MAX_REDIRECTS = 10
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: some endpoints (behind CDNs) refuse requests without one
_USER_AGENT = f"Python/{sys.version_info[0]}.{sys.version_info[1]} trialbook"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def timed_out(url: str) -> RetryableError:
    """No answer from ``url`` within the timeout (either path words it so)."""
    return RetryableError(f"timed out waiting for {redact_url(url)}", kind="timeout")


def connection_failed(url: str, reason: object) -> RetryableError:
    """The connection to ``url`` failed for ``reason`` (either path words it so)."""
    return RetryableError(f"connection to {redact_url(url)} failed: {reason}", kind="connection")


class HandOver(Exception):  # noqa: N818 (not an error: a request for aiohttp to make)
    """A request the fast path leaves to aiohttp (a redirect to a proxied URL, or after a
    response set a cookie): its method, URL, body and headers to drop."""

    def __init__(self, method: str, url: str, body: bytes | None, drop_auth: bool) -> None:
        super().__init__(method, url)
        self.method, self.url, self.body, self.drop_auth = method, url, body, drop_auth


class _Disconnected(Exception):
    """The server closed the connection before its response was complete."""


class _Origin:
    """One scheme://host:port: its idle connections and what each request's head starts with."""

    __slots__ = ("scheme", "host", "port", "idle", "addresses", "heads")

    def __init__(self, scheme: str, host: str, port: int) -> None:
        self.scheme, self.host, self.port = scheme, host, port
        self.idle: list[_Connection] = []
        self.addresses: list[Any] | None = None
        self.heads: dict[tuple[str, str, bool], bytes] = {}


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time, its response read by ``httptools``."""

    def __init__(self, pool: WirePool) -> None:
        self.pool = pool
        self.parser = pool.parser_type(self)
        self.transport: asyncio.Transport | None = None
        self.sock: Any = None
        self.stamped = False  # a _StampedSocket (Linux): the kernel times the request
        self.waiter: asyncio.Future[tuple[int, dict[str, str], list[str], bytes]] | None = None
        self.closed = False
        self.last_io = 0.0
        self._reset()

    def _reset(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.framed = False  # Content-Length or chunked (else the body ends at the close)
        self.in_message = False
        self.headers_done = False

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.last_io = time.monotonic()
        if self.waiter is None:  # unasked for (no request in flight): never reuse this one
            self.closed = True
            return
        try:
            self.parser.feed_data(data)
        except self.pool.parse_error as e:
            self._fail(_Disconnected(f"Response is not HTTP/1.1: {e}"))

    def eof_received(self) -> bool | None:
        self.closed = True
        if self.in_message and not self.framed and self.headers_done:
            self.on_message_complete()
        return None  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        reason = str(exc) if exc is not None and str(exc) else "Server disconnected"
        self._fail(_Disconnected(reason))

    def _fail(self, exc: Exception) -> None:
        self.closed = True
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._reset()
        self.in_message = True

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))
        lower = name.lower()
        if lower == b"content-length" or lower == b"transfer-encoding":
            self.framed = True

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.in_message = False
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an interim response: the real one follows
            return
        headers: dict[str, str] = {}
        cookies: list[str] = []
        for name, value in self.headers:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            if key == "set-cookie":
                cookies.append(text)
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        if not self.parser.should_keep_alive():
            self.closed = True
        body = b"".join(self.body) if len(self.body) != 1 else self.body[0]
        self.body = []
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((status, headers, cookies, body))

    # the pool's side
    def stale(self) -> bool:
        """Whether this idle connection may not be used again: closed, or readable (the
        server closed it or sent something unasked since its last response)."""
        if self.closed or self.transport is None or self.transport.is_closing():
            return True
        try:
            # the socket is non-blocking: nothing to read raises at once
            return bool(socket.socket.recv(self.sock, 1, socket.MSG_PEEK))
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True


class WirePool:
    """Keep-alive HTTP/1.1 connections per origin for one target (see the module docstring).

    ``headers`` are sent with every request (names as given); requests are POSTs of JSON
    bodies (and the GETs redirects turn them into). :meth:`post` raises
    :class:`RetryableError` (``timeout`` or ``connection``, URLs redacted) when no answer
    comes, :class:`HandOver` for a request aiohttp must make.
    """

    def __init__(self, *, headers: dict[str, str], concurrency: int, timeout: float) -> None:
        import httptools  # lazily: ~8 ms of imports that only a run needs

        self.parser_type: Any = httptools.HttpResponseParser
        self.parse_error: type[Exception] = httptools.HttpParserError
        self.timeout = timeout
        self.concurrency = concurrency
        self.headers = headers
        self._origins: dict[tuple[str, str, int], _Origin] = {}
        self._routes: dict[str, tuple[_Origin, str] | None] = {}
        self._busy: set[_Connection] = set()
        self._all: set[_Connection] = set()
        self._ssl: ssl.SSLContext | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        #: Set-Cookie values seen and the URL that sent them (the client hands over to aiohttp)
        self.cookies: list[tuple[list[str], str]] = []

    # ------------------------------------------------------------------ routing

    def handles(self, url: str) -> bool:
        """Whether this pool sends requests to ``url`` (else aiohttp does): http(s), plain
        visible ASCII, no user or password, no proxy from the environment."""
        return self._route(url) is not None

    def _route(self, url: str) -> tuple[_Origin, str] | None:
        try:
            return self._routes[url]
        except KeyError:
            pass
        route = None
        parts = urlsplit(url)
        host = parts.hostname
        if (
            parts.scheme in _DEFAULT_PORTS
            and host
            and url.isascii()
            and all(" " < c < "\x7f" for c in url)
            and parts.username is None
            and not _proxied(parts.scheme, host)
        ):
            try:
                port = parts.port or _DEFAULT_PORTS[parts.scheme]
            except ValueError:
                port = None
            if port is not None:
                key = (parts.scheme, host, port)
                origin = self._origins.get(key)
                if origin is None:
                    origin = self._origins[key] = _Origin(parts.scheme, host, port)
                path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
                route = (origin, path)
        self._routes[url] = route
        return route

    def _head(self, origin: _Origin, method: str, path: str, body: bool, drop_auth: bool) -> bytes:
        key = (method + " " + path, "drop" if drop_auth else "", body)
        head = origin.heads.get(key)
        if head is None:
            host = f"[{origin.host}]" if ":" in origin.host else origin.host
            if origin.port != _DEFAULT_PORTS[origin.scheme]:
                host = f"{host}:{origin.port}"
            lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
            lines += ["Accept: */*", "Accept-Encoding: gzip, deflate"]
            if not any(k.lower() == "user-agent" for k in self.headers):
                lines.append(f"User-Agent: {_USER_AGENT}")  # as aiohttp sends one
            lines += [
                f"{k}: {v}"
                for k, v in self.headers.items()
                if not (drop_auth and k.lower() in ("authorization", "cookie"))
            ]
            if body:
                lines += ["Content-Type: application/json", "Content-Length: "]
            text = "\r\n".join(lines) + ("" if body else "\r\n\r\n")
            head = origin.heads[key] = text.encode("utf-8")
        return head

    # ------------------------------------------------------------------ requests

    async def post(self, url: str, body: bytes) -> WireResponse:
        """POST ``body`` (JSON) to ``url`` and follow redirects: the last response, read whole."""
        method: str = "POST"
        data: bytes | None = body
        drop_auth = False
        for _ in range(MAX_REDIRECTS):
            route = self._route(url)
            if route is None:
                raise HandOver(method, url, data, drop_auth)
            origin, path = route
            response, cookies = await self._send(origin, url, method, path, data, drop_auth)
            if cookies:
                self.cookies.append((cookies, url))
            location = response.headers.get("location") or response.headers.get("uri")
            if response.status_code not in _REDIRECTS or location is None:
                return response
            status = response.status_code
            if status == 303 or (status in (301, 302) and method == "POST"):
                method, data = "GET", None
            new = urljoin(url, location)
            scheme = urlsplit(new).scheme
            if scheme not in _DEFAULT_PORTS:
                raise connection_failed(url, "redirected to a non-HTTP URL")
            drop_auth = drop_auth or _origin_of(new) != _origin_of(url)
            url = new
            if cookies:
                raise HandOver(method, url, data, drop_auth)
        raise connection_failed(url, f"more than {MAX_REDIRECTS} redirects")

    async def _send(
        self,
        origin: _Origin,
        url: str,
        method: str,
        path: str,
        data: bytes | None,
        drop_auth: bool,
    ) -> tuple[WireResponse, list[str]]:
        conn = None
        while origin.idle:
            candidate = origin.idle.pop()
            if not candidate.stale():
                conn = candidate
                break
            self._discard(candidate)
        if conn is None:
            conn = await self._connect(origin, url)
        head = self._head(origin, method, path, data is not None, drop_auth)
        message = head if data is None else head + b"%d\r\n\r\n" % len(data) + data
        loop = asyncio.get_running_loop()
        waiter = conn.waiter = loop.create_future()
        stamps = _WireStamps()
        if conn.stamped:
            conn.sock.current = stamps
        self._busy.add(conn)
        self._arm(loop)
        called = time.perf_counter()
        conn.last_io = time.monotonic()
        ok = False
        try:
            assert conn.transport is not None
            conn.transport.write(message)
            status, headers, cookies, content = await waiter
            ended = time.perf_counter()
            ok = True
        except _Disconnected as e:
            raise connection_failed(url, e) from None
        except (asyncio.TimeoutError, TimeoutError):
            raise timed_out(url) from None
        finally:
            self._busy.discard(conn)
            if conn.stamped:
                conn.sock.current = None
            if ok and not conn.closed:
                origin.idle.append(conn)
            else:  # an error, cancelled (a timeout, Ctrl-C) or closed by the server
                self._discard(conn)
        encoding = headers.get("content-encoding")
        if encoding is not None and content:
            content = _decoded(content, encoding.strip().lower(), url)
        latency = stamps.latency()
        return WireResponse(
            status,
            headers,
            content,
            ended - called if latency is None else latency,
            _charset(headers.get("content-type")),
        ), cookies

    async def _connect(self, origin: _Origin, url: str) -> _Connection:
        """A new connection to ``origin`` within the connect timeout (aiohttp's ``sock_connect``),
        its failures as aiohttp words them (``Cannot connect to host …``)."""
        where = f"{origin.host}:{origin.port}"
        try:
            return await asyncio.wait_for(self._open(origin), self.timeout)
        except (asyncio.TimeoutError, TimeoutError):
            raise timed_out(url) from None
        except OSError as e:  # refused, unreachable, the name did not resolve, TLS failed
            origin.addresses = None
            if isinstance(e, ssl.SSLError):
                reason = f"ssl:default [{e.reason or e}]"
            else:
                reason = f"[{e.strerror or e}]"
            raise connection_failed(url, f"Cannot connect to host {where} {reason}") from None

    async def _open(self, origin: _Origin) -> _Connection:
        loop = asyncio.get_running_loop()
        if origin.addresses is None:
            origin.addresses = await loop.getaddrinfo(
                origin.host, origin.port, type=socket.SOCK_STREAM
            )
        last: OSError = OSError("no address")
        for info in origin.addresses:
            sock = http_client._stamped_socket(info)
            try:
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                await loop.sock_connect(sock, info[4])
            except OSError as e:
                sock.close()
                last = e
                continue
            except BaseException:
                sock.close()
                raise
            conn = _Connection(self)
            secure = origin.scheme == "https"
            try:
                await loop.create_connection(
                    lambda conn=conn: conn,
                    sock=sock,
                    ssl=self._ssl_context() if secure else None,
                    server_hostname=origin.host if secure else None,
                )
            except BaseException:
                sock.close()
                raise
            conn.sock, conn.stamped = sock, hasattr(sock, "current")
            self._all.add(conn)
            return conn
        raise last

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    def _discard(self, conn: _Connection) -> None:
        conn.closed = True
        self._all.discard(conn)
        if conn.transport is not None:
            conn.transport.close()

    # ------------------------------------------------------------------ the read timeout

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        """Check the requests in flight every tenth of the timeout: one whose connection has
        been silent for ``timeout`` seconds fails (aiohttp's ``sock_read``), with no timer
        per request."""
        if self._sweeper is None:
            self._sweeper = loop.call_later(max(self.timeout / 10, 0.01), self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sweeper = None
        now = time.monotonic()
        for conn in list(self._busy):
            if now - conn.last_io >= self.timeout:
                conn._fail(TimeoutError())
        if self._busy:
            self._arm(loop)

    async def aclose(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for conn in list(self._all):
            self._discard(conn)
        for origin in self._origins.values():
            origin.idle.clear()
        await asyncio.sleep(0)  # let the transports close


def _proxied(scheme: str, host: str) -> bool:
    """Whether HTTP(S)_PROXY / NO_PROXY would send a request for ``scheme://host`` through
    a proxy (read as aiohttp reads them: ``urllib.request``'s rules)."""
    proxies = urllib.request.getproxies()
    return scheme in proxies and not urllib.request.proxy_bypass(host)


def _origin_of(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port or _DEFAULT_PORTS.get(parts.scheme)


def _decoded(content: bytes, encoding: str, url: str) -> bytes:
    """The body without its gzip or deflate content-encoding (others are left as they are,
    as aiohttp leaves them); a body that does not decode is a ``connection`` error."""
    try:
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompress(content, 16 + zlib.MAX_WBITS)
        if encoding == "deflate":  # zlib-wrapped as the RFC says, or raw as some servers send
            try:
                return zlib.decompress(content)
            except zlib.error:
                return zlib.decompress(content, -zlib.MAX_WBITS)
    except zlib.error:
        raise connection_failed(url, f"Can not decode content-encoding: {encoding}") from None
    return content


def _charset(content_type: str | None) -> str | None:
    if not content_type or "charset=" not in content_type:
        return None
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.lower() == "charset":
            return value.strip().strip('"') or None
    return None


class WireClient:
    """A target's HTTP client, each request timed on the wire (:class:`_StampedSocket`). A mixin
    for targets: the class sets ``_default_headers`` (sent with every request).

    Two paths (issue #25). :class:`WirePool` (asyncio Protocols,
    ``httptools``; ~60-70 µs of CPU a request) sends what it handles: http(s) URLs no proxy
    applies to, while no response has set a cookie (:meth:`WirePool.handles`; the rule and
    what it covers are in this module's docstring). Everything else goes
    through one aiohttp session (~110-180 µs a request, and its cookie jar, proxies and
    URL quoting), opened on first use; from the first cookie set, every request does.

    aiohttp rather than httpx for the rest: at 2,000 requests and 200 in flight, httpx
    spent ~62 % of the run's CPU in its own request path (even with its pool split in
    shards of 8, encode/httpx#3215). Both keep ``concurrency`` connections alive, so while
    no more than that are in flight a request never waits for one.
    """

    _session: Any = None
    _wire: Any = None
    _client_error: type[Exception] = OSError
    _proxies: dict[str, tuple[Any, Any]]
    _default_headers: dict[str, str]
    _concurrency: int = 10
    _timeout: float = 60.0
    #: a response has set a cookie: every request goes through aiohttp (its jar) from then on
    _cookies = False

    async def start(self, *, concurrency: int = 10, timeout: float = 60.0) -> None:
        if self._wire is not None:
            return
        self._concurrency, self._timeout = concurrency, timeout
        self._wire = WirePool(
            headers=self._default_headers, concurrency=concurrency, timeout=timeout
        )
        self._proxies = {}

    def _aiohttp(self) -> Any:
        """The aiohttp session, opened on first use."""
        if self._session is None:
            import aiohttp  # lazily: ~0.1 s of imports that most runs never need

            connector = aiohttp.TCPConnector(
                limit=self._concurrency,
                limit_per_host=0,
                socket_factory=lambda info: http_client._stamped_socket(info),
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                # as httpx did, cookies also from IP hosts; proxies: see _proxy
                cookie_jar=aiohttp.CookieJar(unsafe=True),
                # per phase, as httpx's: the executor bounds each try as a whole
                timeout=aiohttp.ClientTimeout(sock_connect=self._timeout, sock_read=self._timeout),
            )
            self._client_error = aiohttp.ClientError
        return self._session

    def _proxy(self, url: str) -> tuple[Any, Any]:
        """The proxy (and its credentials) for ``url`` from HTTP(S)_PROXY / NO_PROXY, as httpx
        honoured them; ``(None, None)`` for none. Read once per URL: aiohttp's own
        ``trust_env`` reads the environment and ~/.netrc again on every request (~0.4 ms
        each here, more than the rest of the request)."""
        found = self._proxies.get(url)
        if found is None:
            from aiohttp.helpers import get_env_proxy_for_url
            from yarl import URL

            try:
                found = get_env_proxy_for_url(URL(url))
            except (LookupError, ValueError):
                found = (None, None)
            self._proxies[url] = found
        return found

    async def aclose(self) -> None:
        self._cookies = False  # the jar closes with the session
        if self._wire is not None:
            wire, self._wire = self._wire, None
            await wire.aclose()
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def _post(self, url: str, payload: dict[str, Any]) -> WireResponse:
        """POST ``payload`` as JSON: the whole response and its wire latency; no answer is a
        :class:`RetryableError` (``timeout`` or ``connection``)."""
        if self._wire is None:
            await self.start()
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        wire = self._wire
        if self._cookies or not wire.handles(url):
            return await self._send_aiohttp("POST", url, body, self._default_headers)
        try:
            response: WireResponse = await wire.post(url, body)
        except HandOver as h:
            self._take_cookies()
            headers = self._default_headers
            if h.drop_auth:  # a redirect to another origin, as aiohttp follows one
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            return await self._send_aiohttp(h.method, h.url, h.body, headers)
        if wire.cookies:
            self._take_cookies()
        return response

    def _take_cookies(self) -> None:
        """Hand the cookies the fast path saw to aiohttp's jar (every later request is
        aiohttp's, so the cookies are sent as aiohttp sends them)."""
        wire = self._wire
        if wire is None or not wire.cookies:
            return
        from yarl import URL

        self._cookies = True
        jar = self._aiohttp().cookie_jar
        for values, url in wire.cookies:
            jar.update_cookies_from_headers(values, URL(url))
        wire.cookies.clear()

    async def _send_aiohttp(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
    ) -> WireResponse:
        """One request through aiohttp (``headers``: the target's; JSON's added for a body)."""
        session = self._aiohttp()
        proxy, proxy_auth = self._proxy(url)
        stamps = _WireStamps()
        token = _STAMPS.set(stamps)
        called = time.perf_counter()
        sent = {**headers, **_JSON} if body is not None else headers
        try:
            async with session.request(
                method,
                url,
                data=body,
                headers=sent,
                proxy=proxy,
                proxy_auth=proxy_auth,
            ) as response:
                content = await response.read()
                ended = time.perf_counter()
                latency = stamps.latency()
                return WireResponse(
                    response.status,
                    response.headers,
                    content,
                    ended - called if latency is None else latency,
                    response.charset,
                )
        except (asyncio.TimeoutError, TimeoutError):
            raise timed_out(url) from None
        except self._client_error as e:
            reason = str(e) or type(e).__name__
            raise connection_failed(url, reason) from None
        finally:
            _STAMPS.reset(token)


_JSON = {"Content-Type": "application/json"}
