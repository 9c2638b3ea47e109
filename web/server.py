"""The read-only web server: the standard library's ``ThreadingHTTPServer`` and a router.

:class:`View` turns a request path into a :class:`Response` (HTML pages, the
JSON they are built from under ``/api/``, and the one script and stylesheet
under ``/static/``); :class:`Handler` serves it over HTTP. There is no write
route: only ``GET`` and ``HEAD`` are answered (anything else is ``405``), and
every database handle the view opens has SQLite's ``query_only`` switched on,
so even a bug in a read path could not append to the log. On a ``postgresql://``
URL the local replica must stay writable (it catches up before each read), so
there the guard is the server's: the view's connections open with
``default_transaction_read_only``, and PostgreSQL refuses any INSERT into the log.

By default the server binds 127.0.0.1 and answers only requests addressed to
a loopback name (a ``Host`` header of another name, as a DNS-rebinding page
would send, is refused), since the view has no accounts.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import math
import queue
import socket
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

if TYPE_CHECKING:
    from trialbook._client import Trialbook
    from trialbook.ledger import Ledger

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})
#: the latest results listed on a test's page
RECENT_RESULTS = 20
SECURITY_HEADERS = {
    # nothing inline runs, nothing loads from elsewhere: even markup that slipped through escaping could not act
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" '
    'fill="#0f172a"/><path d="M3 11 L6 7 L9 9 L13 4" stroke="#60a5fa" stroke-width="2" fill="none"/></svg>'
)


class ViewError(Exception):
    """A reason the view cannot start, in one line (the CLI prints it as ``Error: …``)."""


class BadRequest(Exception):
    """A request the view cannot answer as asked (a missing or malformed parameter)."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only: ``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_host(host: str, allow_remote: bool) -> None:
    """Refuse to serve on a non-loopback ``host`` unless ``allow_remote`` (``ViewError``)."""
    if not allow_remote and not is_loopback(host):
        raise ViewError(
            f"refusing to serve on {host}: it is not a loopback address, and the view has no "
            "login, so anyone who can reach it could read every test and run; pass --allow-remote "
            "to serve it anyway"
        )


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


def _json_default(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def json_response(data: Any, status: int = 200) -> Response:
    """``data`` as JSON, as the CLI's ``--json`` writes it (no NaN: undefined figures are null)."""

    def clean(x: Any) -> Any:
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x

    text = json.dumps(clean(data), ensure_ascii=False, default=_json_default, allow_nan=False)
    return Response(status, text.encode("utf-8"), "application/json; charset=utf-8")


class View:
    """The web view of one database (a file or a URL): routes a request path to a response, reading only."""

    def __init__(self, path: str | Path, *, poll_ms: int = 2000) -> None:
        from trialbook.store.urls import is_postgres_url, redact_url

        self.url = str(path) if is_postgres_url(path) else None
        self.path = Path(path) if self.url is None else Path()
        #: how pages name the database: the path, or the URL without its password
        self.name = redact_url(self.url) if self.url else str(self.path)
        if self.url is not None:
            self._check_log(self.url)
        elif not self.path.is_file():
            raise ViewError(
                f"no database at {self.path}; record something first (trialbook ab create …) or pass --db"
            )
        self.poll_ms = poll_ms
        self._pool: queue.LifoQueue[Trialbook] = queue.LifoQueue()
        self._all: list[Trialbook] = []
        self._lock = threading.Lock()
        self._verified: tuple[int, dict[str, Any]] | None = None
        self.close()  # nothing open yet; checks the file opens before the server says it is up
        with self.ledger():
            pass

    # ------------------------------------------------------------------ handles

    @staticmethod
    def _check_log(url: str) -> None:
        """A URL must hold a trialbook log already: the view creates nothing on the server."""
        from trialbook.store.errors import StoreError
        from trialbook.store.postgres import PostgresEventStore

        try:
            PostgresEventStore(url, migrate=False).close()
        except StoreError as e:
            raise ViewError(str(e)) from None

    def _open(self) -> Trialbook:
        import trialbook

        tb = trialbook.open(self.url or self.path)
        with tb._use() as ledger:
            remote = getattr(ledger.store, "remote", None)
            if remote is not None:
                # the server refuses any write on the log's connection, whatever calls it
                remote.set_read_only()
            else:
                # from here on SQLite refuses any write on this connection, whatever calls it
                ledger.conn.execute("PRAGMA query_only = ON")
        with self._lock:
            self._all.append(tb)
        return tb

    @contextmanager
    def ledger(self) -> Iterator[Ledger]:
        """A read-only ledger for one request (handles are pooled: one per concurrent request)."""
        try:
            tb = self._pool.get_nowait()
        except queue.Empty:
            tb = self._open()
        try:
            with tb._use() as ledger:
                yield ledger
        finally:
            self._pool.put(tb)

    def close(self) -> None:
        with self._lock:
            handles, self._all = self._all, []
        for tb in handles:
            tb.close()
        self._pool = queue.LifoQueue()

    # ------------------------------------------------------------------ routing

    def frame(self, ledger: Ledger) -> dict[str, Any]:
        return {
            "position": ledger.store.head()[0],
            "database": self.name,
            "poll_ms": self.poll_ms,
        }

    def respond(self, target: str) -> Response:
        """The response to ``GET target`` (a path with an optional query)."""
        from trialbook.domain.errors import NotFound, TrialbookError

        split = urlsplit(target)
        parts = [unquote(p) for p in split.path.split("/") if p]
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=False).items()}
        api = bool(parts) and parts[0] == "api"
        try:
            if parts and parts[0] == "static":
                return self.static(parts[1:])
            with self.ledger() as ledger:
                if api:
                    return json_response(self.api(ledger, parts[1:], query))
                return self.page(ledger, parts, query)
        except NotFound as e:
            return self.error(404, "Not found", str(e), api)
        except (TrialbookError, BadRequest) as e:
            return self.error(400, "Cannot show this", str(e), api)
        except Exception as e:  # a bug: say so in one line, keep the details for the terminal
            traceback.print_exc(file=sys.stderr)
            return self.error(
                500, "Internal error", f"internal error: {type(e).__name__}: {e}", api
            )

    def error(self, status: int, title: str, message: str, api: bool) -> Response:
        from trialbook.web import pages

        if api:
            return json_response({"error": message}, status)
        try:
            with self.ledger() as ledger:
                frame = self.frame(ledger)
        except Exception:
            frame = {"position": 0, "database": self.name, "poll_ms": self.poll_ms}
        body = pages.message_page(title, message, active="", **frame)
        return Response(status, body.encode("utf-8"))

    def static(self, parts: list[str]) -> Response:
        from trialbook.web import assets

        files = {
            "app.js": (assets.JS, "text/javascript; charset=utf-8"),
            "app.css": (assets.CSS, "text/css; charset=utf-8"),
            "icon.svg": (ICON, "image/svg+xml"),
        }
        if len(parts) != 1 or parts[0] not in files:
            return Response(404, b"not found", "text/plain; charset=utf-8")
        text, kind = files[parts[0]]
        return Response(200, text.encode("utf-8"), kind)

    def page(self, ledger: Ledger, parts: list[str], query: dict[str, str]) -> Response:
        from trialbook.domain.errors import NotFound
        from trialbook.web import pages, reads

        frame = self.frame(ledger)
        html: str
        match parts:
            case []:
                html = pages.tests_page(reads.tests(ledger), **frame)
            case ["tests"]:
                return Response(302, b"", headers={"Location": "/"})
            case ["tests", name]:
                data = reads.test_page(ledger, name, **analysis_options(query))
                recent = _recent(ledger, name)
                html = pages.test_page(data, recent, **frame)
            case ["tests", name, "decisions", position]:
                pos = _int(position, "decision")
                audits = reads.decision_audits(ledger, name)
                found = next((d for d in audits if d["position"] == pos), None)
                if found is None:
                    raise NotFound(f"test {name!r} has no decision recorded at position {pos}")
                html = pages.decision_page(name, found, found.get("audit"), **frame)
            case ["runs"]:
                html = pages.runs_page(reads.runs(ledger), **frame)
            case ["runs", run_id]:
                html = pages.run_page(reads.run_page(ledger, run_id), reads.runs(ledger), **frame)
            case ["runs", run_id, "cases", case_id]:
                html = pages.case_page(reads.case_page(ledger, run_id, case_id), **frame)
            case ["compare"]:
                a, b = _required(query, "a"), _required(query, "b")
                html = pages.compare_page(
                    reads.compare_page(ledger, a, b, query.get("scorer")), **frame
                )
            case ["canaries"]:
                html = pages.canaries_page(reads.canaries(ledger), **frame)
            case ["canaries", name]:
                html = pages.canary_page(reads.canary_page(ledger, name), **frame)
            case ["log"]:
                data = reads.log(ledger, **log_filters(query))
                html = pages.log_page(data, self.verified(ledger), **frame)
            case ["events", position]:
                html = pages.event_page(reads.event(ledger, _int(position, "event")), **frame)
            case _:
                raise NotFound(f"no page at /{'/'.join(parts)}")
        return Response(200, html.encode("utf-8"))

    def api(self, ledger: Ledger, parts: list[str], query: dict[str, str]) -> Any:
        """The JSON behind the pages: each is what the named CLI command prints with ``--json``."""
        from trialbook.domain.errors import NotFound
        from trialbook.ledger.analysis import analyze_test, require_test
        from trialbook.web import reads

        match parts:
            case ["head"]:
                return reads.head(ledger)
            case ["tests"]:
                return reads.tests(ledger)
            case ["tests", name]:  # ab analyze NAME --json
                return analyze_test(ledger, name, **analysis_options(query))
            case ["tests", name, "history"]:
                require_test(ledger, name)
                looks = query.get("looks")
                return reads.history(
                    ledger, name, None if looks == "all" else _int(looks or str(reads.PLOT_LOOKS), "looks"),
                    **analysis_options(query),
                )  # fmt: skip
            case ["tests", name, "decisions"]:
                return reads.decision_audits(ledger, name)
            case ["runs"]:  # eval list --json (newest first)
                return reads.runs(ledger)
            case ["runs", run_id]:  # eval show RUN --json
                return reads.run_page(ledger, run_id)
            case ["runs", run_id, "cases", case_id]:
                return reads.case_page(ledger, run_id, case_id)
            case ["compare"]:  # eval compare A B --json
                return reads.compare_page(
                    ledger, _required(query, "a"), _required(query, "b"), query.get("scorer")
                )
            case ["canaries"]:  # canary list --json
                return reads.canaries(ledger)
            case ["canaries", name]:  # canary status NAME --json
                return reads.canary_status(ledger, name)
            case ["log"]:
                return reads.log(ledger, **log_filters(query))
            case ["events", position]:
                return reads.event(ledger, _int(position, "event"))
            case ["verify"]:
                return self.verified(ledger)
        raise NotFound(f"no API endpoint at /api/{'/'.join(parts)}")

    def verified(self, ledger: Ledger) -> dict[str, Any]:
        """``events verify --json`` for the current head, computed once per head position."""
        from trialbook.store.backends import verify_database

        position = ledger.store.head()[0]
        cached = self._verified
        if cached is not None and cached[0] == position:
            return cached[1]
        report = verify_database(self.url or self.path).to_dict()
        self._verified = (position, report)
        return report


def _int(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{what} position {text!r} is not a whole number") from None
    if value < 0:
        raise BadRequest(f"{what} position {text!r} is negative")
    return value


def _required(query: dict[str, str], key: str) -> str:
    value = query.get(key)
    if not value:
        raise BadRequest(f"give ?{key}=RUN (compare needs ?a=BASELINE&b=CANDIDATE)")
    return value


def analysis_options(query: dict[str, str]) -> dict[str, Any]:
    """``ab analyze``'s options from a query string (``?metric=…&alpha=…&mde=…&margin=…``)."""
    out: dict[str, Any] = {}
    for key in ("metric", "mde", "margin"):
        if query.get(key):
            out[key] = query[key]
    if query.get("alpha"):
        try:
            out["alpha"] = float(query["alpha"])
        except ValueError:
            raise BadRequest(f"alpha {query['alpha']!r} is not a number") from None
    return out


def log_filters(query: dict[str, str]) -> dict[str, Any]:
    return {
        "stream": query.get("stream") or None,
        "type_": query.get("type") or None,
        "actor": query.get("actor") or None,
        "before": _int(query["before"], "before") if query.get("before") else None,
    }


def _recent(ledger: Ledger, name: str) -> list[dict[str, Any]]:
    from trialbook.projections import ab_queries

    return ab_queries.results(ledger.conn, name, RECENT_RESULTS)


class Handler(BaseHTTPRequestHandler):
    """GET and HEAD only; everything else is 405 (there is nothing to write)."""

    server: ViewServer
    server_version = "trialbook-view"
    sys_version = ""

    def _host_ok(self) -> bool:
        if self.server.allow_remote:
            return True
        host = self.headers.get("Host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return is_loopback(name)

    def _send(self, response: Response, head: bool) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for key, value in {**SECURITY_HEADERS, **response.headers}.items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(response.body)

    def _serve(self, head: bool) -> None:
        if not self._host_ok():
            body = b"refused: this view answers requests addressed to localhost only\n"
            self._send(Response(403, body, "text/plain; charset=utf-8"), head)
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the browser went away
            self._send(self.server.view.respond(self.path), head)

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def _refuse(self) -> None:
        body = b"the trialbook view is read-only: only GET and HEAD are served\n"
        self._send(Response(405, body, "text/plain; charset=utf-8", {"Allow": "GET, HEAD"}), False)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _refuse  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log is not None:
            self.server.log(f"{self.address_string()} {format % args}")


class ViewServer(ThreadingHTTPServer):
    """A threading HTTP server for one :class:`View` (each request in its own daemon thread)."""

    daemon_threads = True

    def __init__(
        self,
        view: View,
        host: str,
        port: int,
        *,
        allow_remote: bool = False,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.view = view
        self.allow_remote = allow_remote
        self.log = log
        if ":" in host.strip("[]"):
            self.address_family = socket.AF_INET6
        super().__init__((host.strip("[]"), port), Handler)

    @property
    def url(self) -> str:
        host, port = str(self.server_address[0]), int(self.server_address[1])
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"

    def server_close(self) -> None:
        super().server_close()
        self.view.close()


def make_server(
    path: str | Path,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    allow_remote: bool = False,
    poll_ms: int = 2000,
    log: Callable[[str], None] | None = None,
) -> ViewServer:
    """A :class:`ViewServer` for the database at ``path``, bound and ready to ``serve_forever``.

    ``port=0`` picks a free port (``server.url`` tells which). Raises ``ViewError``
    for a non-loopback host without ``allow_remote``, a missing file, or a port in use.
    """
    check_host(host, allow_remote)
    view = View(path, poll_ms=poll_ms)
    try:
        return ViewServer(view, host, port, allow_remote=allow_remote, log=log)
    except OSError as e:
        view.close()
        if e.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
            raise ViewError(
                f"port {port} on {host} is in use; pass --port N (0 picks a free one)"
            ) from None
        raise ViewError(f"cannot serve on {host}:{port}: {e.strerror or e}") from None
