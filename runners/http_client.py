"""The HTTP layer of the eval runners, shared by targets (``runners/targets``) and judges.

- Clients: the targets' client is :class:`trialbook.runners.http_wire.WireClient`; what it
  reads (:class:`WireResponse`) and how the kernel times each request on the wire
  (:class:`_StampedSocket`) are here; :func:`new_client` builds the httpx clients of the
  judge and the preflight probes.
- Retries: which failures are worth another try (:func:`retryable_status`), how
  long the server asks to wait (:func:`parse_retry_after`: capped at
  :data:`MAX_RETRY_AFTER`, non-finite values refused) and how long to back off
  otherwise (:class:`Backoff`). The executor retries rollouts with them; the
  judge retries its own requests with the same rules.
- Redaction: URLs and headers as they may be recorded or shown
  (:func:`redact_url`, :func:`redact_headers`, :func:`without_credentials`).
- The OpenAI chat-completions call: its URL, request body and reply message
  (:func:`chat_url`, :func:`chat_body`, :func:`chat_message`), for the
  ``openai:`` target and the LLM judge alike.

Importing this module also works around httpcore's failed ``import sniffio``
(:func:`_avoid_failed_sniffio_imports`).
"""

from __future__ import annotations

import contextlib
import contextvars
import email.utils
import functools
import importlib.util
import json
import math
import random
import socket
import struct
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from trialbook.domain.evals import REDACTED, looks_secret
from trialbook.runners.eval_errors import RetryableError, RolloutRefused

__all__ = [
    "MAX_RETRY_AFTER",
    "OPENAI_BASE_URL",
    "RETRY_STATUSES",
    "Backoff",
    "chat_body",
    "chat_message",
    "chat_url",
    "error_from_status",
    "header_safe",
    "new_client",
    "parse_retry_after",
    "redact_headers",
    "redact_url",
    "retryable_status",
    "snippet",
    "split_url",
    "without_credentials",
    "WireResponse",
]

OPENAI_BASE_URL = "https://api.openai.com/v1"
#: HTTP statuses worth retrying besides 5xx
RETRY_STATUSES = frozenset({408, 429})
#: the longest Retry-After honoured, in seconds (longer waits are cut to this)
MAX_RETRY_AFTER = 120.0


# --------------------------------------------------------------------------- retries


def retryable_status(status: int) -> bool:
    """Whether a request answered with ``status`` is worth another try: 5xx, 408 and 429."""
    return status >= 500 or status in RETRY_STATUSES


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date), capped.

    ``None`` when there is no usable value (absent, unreadable or not finite);
    a wait in the past is 0, one longer than :data:`MAX_RETRY_AFTER` is cut to it.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: try n waits ``min(max_s, base_s × factor^(n-1))``,
    shortened by up to ``jitter`` of itself at random; a ``Retry-After`` is waited in
    full (plus up to ``jitter`` × 10 % more, so retries of many rollouts spread out)."""

    base_s: float = 0.5
    factor: float = 2.0
    max_s: float = 30.0
    jitter: float = 0.5

    def delay(
        self, tries: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait after the ``tries``-th failed try."""
        r = (rng or random).random()
        if retry_after is not None:
            return retry_after * (1 + 0.1 * self.jitter * r)
        d = min(self.max_s, self.base_s * self.factor ** (tries - 1))
        return d * (1 - self.jitter * r)


# --------------------------------------------------------------------------- errors


def snippet(text: str, limit: int = 120) -> str:
    """``text`` on one line (white space folded), cut to ``limit`` characters with "…"."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_from_status(response: WireResponse, latency_s: float, url: str) -> Exception:
    """A target's failed try for a non-2xx answer: :class:`RetryableError` when
    :func:`retryable_status` (with its Retry-After), else :class:`RolloutRefused`;
    the message names the status, the redacted URL and the server's error message."""
    status = response.status_code
    detail = snippet(response.text) if response.content else ""
    with contextlib.suppress(ValueError, AttributeError, TypeError):
        body = response.json()
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            detail = snippet(err["message"])
        elif isinstance(err, str):
            detail = snippet(err)
    message = f"HTTP {status} from {redact_url(url)}" + (f": {detail}" if detail else "")
    if retryable_status(status):
        return RetryableError(
            message,
            kind="http_status",
            status_code=status,
            latency_s=latency_s,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )
    return RolloutRefused(message, kind="http_status", status_code=status, latency_s=latency_s)


# --------------------------------------------------------------------------- redaction


@functools.lru_cache(maxsize=256)  # a target's URL is redacted in every message and reply
def redact_url(url: str) -> str:
    """The URL with any password and secret-looking query values replaced by ``<redacted>``."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        host = netloc.rsplit("@", 1)[1]
        netloc = f"{parts.username}:{REDACTED}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, REDACTED if looks_secret(k) else v) for k, v in pairs], safe="<>")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers with secret-looking values (Authorization, X-Api-Key …) replaced by ``<redacted>``."""
    return {k: (REDACTED if looks_secret(k) else v) for k, v in headers.items()}


def header_safe(value: str) -> bool:
    """Whether ``value`` can be sent as a header value as it is (visible ASCII, inner spaces):
    httpx refuses others mid-request with a message that quotes the value (a key)."""
    return value == value.strip() and all(" " <= c <= "~" for c in value)


def without_credentials(url: str) -> str:
    """The URL without its user, password and query (a judge's endpoint as recorded and
    shown); an unreadable URL is returned as it is."""
    try:
        return str(httpx.URL(url).copy_with(username=None, password=None, query=None))
    except (httpx.InvalidURL, TypeError, ValueError):
        return url


def split_url(url: str) -> SplitResult:
    """``urlsplit`` that also reads the port: ValueError for a malformed URL or a port
    outside 0-65535 (which ``urlsplit`` alone lets through until the port is used)."""
    parts = urlsplit(url)
    parts.port  # noqa: B018
    return parts


# --------------------------------------------------------------------------- clients


def _avoid_failed_sniffio_imports() -> None:
    """Work around httpcore trying ``import sniffio`` on every lock it makes.

    anyio ≥ 4.11 no longer installs sniffio, and httpcore ≤ 1.0.9 then pays a
    failed import (a scan of ``sys.path``) per request and lock (encode/httpcore
    discussion #1102, PR #1103). When sniffio is truly absent, recording that in
    ``sys.modules`` makes each of those imports fail at once, with the same result.
    Installing sniffio makes this a no-op.
    """
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


_avoid_failed_sniffio_imports()


def new_client(timeout: float, **options: Any) -> httpx.AsyncClient:
    """An httpx client for the runners: ``timeout`` seconds per request; ``options``
    (headers, limits, verify …) go to :class:`httpx.AsyncClient` as they are."""
    return httpx.AsyncClient(timeout=timeout, **options)


@dataclass(frozen=True)
class WireResponse:
    """A target's answer, read whole: status, headers, body and the latency on the wire."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes
    latency_s: float
    charset: str | None = None

    @property
    def text(self) -> str:
        return self.content.decode(self.charset or "utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON (ValueError when it is not), read by the json module as httpx
        read it: orjson would turn integers beyond 64 bits into floats and refuse NaN."""
        return json.loads(self.content)


# Linux's SO_TIMESTAMPNS (= SCM_TIMESTAMPNS; the socket module does not name it)
_SO_TIMESTAMPNS = 35
_TIMESPEC = struct.Struct("@qq")
_ANCILLARY_SIZE = socket.CMSG_SPACE(_TIMESPEC.size) if hasattr(socket, "CMSG_SPACE") else 64


class _WireStamps:
    """When one request's last byte was handed to the kernel and when the kernel received its
    response's last packet (``time.time_ns()`` clock; 0 while unknown)."""

    __slots__ = ("sent_ns", "received_ns")

    def __init__(self) -> None:
        self.sent_ns = 0
        self.received_ns = 0

    def latency(self) -> float | None:
        if self.sent_ns and self.received_ns > self.sent_ns:
            return (self.received_ns - self.sent_ns) / 1e9
        return None


#: the stamps of the request being sent in this task (the socket's ``send`` reads it)
_STAMPS: contextvars.ContextVar[_WireStamps | None] = contextvars.ContextVar(
    "trialbook_wire_stamps", default=None
)


class _StampedSocket(socket.socket):
    """A TCP socket that stamps each request's departure and its response's arrival.

    The clock is the kernel's, not the event loop's: the response's arrival is the receive
    time the kernel stamped on its last packet (``SO_TIMESTAMPNS``), and the request's
    departure is read just before its last byte is handed to the kernel (asyncio writes at
    once while the socket's buffer has room). When the loop is busy (hundreds of requests
    in flight, the writer thread holding the GIL) a response can wait in the socket for
    milliseconds before Python reads it; that wait is the client's queueing, not the
    target's latency, and counting it made recorded latencies several times the server's
    (issue #25). A connection carries one request at a time: a send made in a request's
    task (``_STAMPS`` set) makes that request the one whose response the next packets are.
    Linux turns stamping on system-wide a moment after the first socket asks for it (a
    deferred work item), so a process's first responses may come unstamped: those are
    timed around the call.
    """

    __slots__ = ("current",)
    current: _WireStamps | None

    def send(self, data: Any, flags: int = 0) -> int:
        stamps = _STAMPS.get()
        if stamps is not None:
            self.current = stamps
        now = time.time_ns()
        n = super().send(data, flags)
        if self.current is not None:
            self.current.sent_ns = now
        return n

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        data, ancillary, _, _ = self.recvmsg(bufsize, _ANCILLARY_SIZE, flags)
        if data:
            self._received(ancillary)
        return data

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        view = memoryview(buffer)
        n, ancillary, _, _ = self.recvmsg_into(
            [view[:nbytes] if nbytes else view], _ANCILLARY_SIZE, flags
        )
        if n:
            self._received(ancillary)
        return n

    def _received(self, ancillary: list[tuple[int, int, bytes]]) -> None:
        if self.current is None:
            return
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
                s, ns = _TIMESPEC.unpack_from(value)
                self.current.received_ns = s * 1_000_000_000 + ns


def _stamped_socket(addr_info: Any) -> socket.socket:
    """aiohttp's ``socket_factory``: a :class:`_StampedSocket` where the kernel stamps received
    packets (Linux), else a plain socket (the latency is then timed around the call)."""
    family, type_, proto = addr_info[0], addr_info[1], addr_info[2]
    if sys.platform != "linux":
        return socket.socket(family, type_, proto)
    sock = _StampedSocket(family, type_, proto)
    sock.current = None
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    except OSError:
        sock.close()
        return socket.socket(family, type_, proto)
    return sock


# --------------------------------------------------------------------------- the OpenAI chat call


def chat_url(base_url: str) -> str:
    """The chat-completions endpoint of an OpenAI-compatible base URL (``…/v1``)."""
    return base_url.rstrip("/") + "/chat/completions"


def chat_body(
    model: str,
    messages: Sequence[Mapping[str, Any]],
    *,
    temperature: float | None = None,
    max_tokens: int | None = None,
    seed: int | None = None,
    json_mode: bool = False,
) -> dict[str, Any]:
    """A chat-completions request body; options left ``None`` are not sent (the server's
    defaults apply); ``json_mode`` asks for a JSON object (``response_format``)."""
    body: dict[str, Any] = {"model": model, "messages": list(messages)}
    if temperature is not None:
        body["temperature"] = temperature
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if seed is not None:
        body["seed"] = seed
    if json_mode:
        body["response_format"] = {"type": "json_object"}
    return body


def chat_message(data: Any) -> Mapping[str, Any] | None:
    """The first choice's message of a chat-completions reply; ``None`` when the
    reply has no ``choices[0].message`` object (not an OpenAI-compatible answer)."""
    try:
        message = data["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        return None
    return message if isinstance(message, Mapping) else None
