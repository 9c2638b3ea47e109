"""``trialbook view`` on a ``postgresql://`` URL: the pages catch up with the log, and write nothing.

The view's local replica stays writable (it pulls before every read), so the
guard against writes is the server's: its connections are read-only.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.pg import sql, url_for
from tests.test_audit_replay import setup_test
from tests.test_postgres_cli import run
from trialbook.domain import ab
from trialbook.domain.commands import build
from trialbook.store.errors import StoreError
from trialbook.web.server import View, ViewError, ViewServer, make_server

pytestmark = pytest.mark.postgres

SECRET = "v13w-secret"


@pytest.fixture
def url(pg_database: str) -> str:
    """A URL with a password (trust auth ignores it: it must only never be shown)."""
    return url_for(pg_database, user="root", password=SECRET)


@pytest.fixture
def server(url: str) -> Iterator[ViewServer]:
    setup_test(lambda *a, **k: run(url, *a, **k), 2)
    s = make_server(url, "127.0.0.1", 0)
    thread = threading.Thread(target=s.serve_forever, daemon=True)
    thread.start()
    yield s
    s.shutdown()
    s.server_close()
    thread.join(5)


def get(server: ViewServer, path: str) -> tuple[int, bytes]:
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(str(host), port, timeout=60)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def get_json(server: ViewServer, path: str) -> Any:
    status, body = get(server, path)
    assert status == 200, body[:300]
    return json.loads(body)


def test_the_pages_follow_the_log_and_never_show_the_password(
    server: ViewServer, url: str, pg_database: str
) -> None:
    head = sql(url_for(pg_database), "SELECT position, hash FROM trialbook.log_head")[0]
    assert get_json(server, "/api/head") == {"position": head[0], "hash": head[1]}
    results = {
        v["name"]: v["results"] for v in get_json(server, "/api/tests/checkout-flow")["variants"]
    }
    assert results == {"cold": 2, "warm": 2}
    # another client records a result: the next request sees it
    r = run(url, "ab", "add-result", "checkout-flow", "--variant", "warm", "--success")
    assert r.exit_code == 0, r.output
    assert get_json(server, "/api/head")["position"] == head[0] + 1
    results = {
        v["name"]: v["results"] for v in get_json(server, "/api/tests/checkout-flow")["variants"]
    }
    assert results == {"cold": 2, "warm": 3}
    report = get_json(server, "/api/verify")
    assert report["ok"] and report["head_position"] == head[0] + 1
    for path in ("/", "/tests/checkout-flow", "/log", "/api/log"):
        status, body = get(server, path)
        assert status == 200, path
        assert SECRET.encode() not in body
    assert url.replace(f":{SECRET}", "").encode() in get(server, "/")[1]


def test_the_server_refuses_any_write_from_the_view(server: ViewServer, pg_database: str) -> None:
    before = sql(url_for(pg_database), "SELECT count(*) FROM trialbook.events")
    with server.view.ledger() as ledger, pytest.raises(StoreError, match="read-only transaction"):
        ledger.execute(
            build(ab.AddResults, test="checkout-flow", results=(ab.ResultFields(variant="warm"),))
        )
    assert sql(url_for(pg_database), "SELECT count(*) FROM trialbook.events") == before
    assert get_json(server, "/api/head")["position"] == before[0][0]  # the replica rolled back too


def test_a_database_without_a_log_is_refused_in_one_line_and_left_untouched(
    pg_database: str,
) -> None:
    url = url_for(pg_database, user="root", password=SECRET)
    with pytest.raises(ViewError) as info:
        View(url)
    shown = url_for(pg_database, user="root")
    assert str(info.value) == (f"no trialbook log at {shown}: the database has no trialbook schema")
    assert sql(url_for(pg_database), "SELECT to_regnamespace('trialbook')") == [(None,)]
    r = run(url, "view", "--port", "0")
    assert (r.exit_code, r.output) == (1, f"Error: {info.value}\n")
