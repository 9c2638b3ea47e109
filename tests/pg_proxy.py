"""A TCP proxy on 127.0.0.1 in front of the PostgreSQL server, to take "the server" away and back.

The machine's server is shared, so tests never stop it: a client connects to
the proxy's port instead, and :meth:`PgProxy.cut` makes the server vanish
for it (every open connection is closed both ways, mid-statement if need be,
and the port refuses new connections, as a stopped server's would);
:meth:`PgProxy.restore` listens on the same port again. Bytes are relayed
as they are (real sockets, one thread per direction), so libpq and psycopg
see a real server go away and come back::

    with PgProxy() as proxy:
        url = proxy.url_for(database)
        ...
        proxy.cut()
        ...
        proxy.restore()
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tests.pg import ADMIN_URL, url_for


def _upstream() -> tuple[str, int]:
    parts = urlsplit(ADMIN_URL)
    return parts.hostname or "127.0.0.1", parts.port or 5432


class PgProxy:
    """Relays 127.0.0.1:``port`` to the PostgreSQL server until cut."""

    def __init__(self, upstream: tuple[str, int] | None = None) -> None:
        self.upstream = upstream or _upstream()
        self.port = 0
        self.connections = 0  #: connections accepted so far
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None

    # ------------------------------------------------------------------ control

    def start(self) -> PgProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._acceptor = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._acceptor.start()
        return self

    def cut(self) -> None:
        """The server goes away: open connections are closed and the port refuses new ones."""
        listener, self._listener = self._listener, None
        if listener is not None:
            _close(listener)
        if self._acceptor is not None:
            self._acceptor.join(5)
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for s in sockets:
            _close(s)

    def restore(self) -> None:
        """The server is back, on the same port."""
        if self._listener is None:
            self.start()

    def url_for(
        self, database: str, *, user: str | None = None, password: str | None = None
    ) -> str:
        """``tests.pg.url_for`` through the proxy."""
        parts = urlsplit(url_for(database, user=user, password=password))
        userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        return urlunsplit(parts._replace(netloc=f"{userinfo}127.0.0.1:{self.port}"))

    def __enter__(self) -> PgProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cut()

    # ------------------------------------------------------------------ relaying

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                if self._listener is not listener:  # cut while connecting
                    _close(client)
                    _close(server)
                    return
                self._sockets |= {client, server}
                self.connections += 1
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                _close(s)
            with self._lock:
                self._sockets -= {source, sink}


def _close(s: Any) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        s.close()
