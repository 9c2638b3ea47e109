"""The PostgreSQL server for tests: each test gets a database of its own, dropped after it.

The server is the real one on 127.0.0.1 (``.ci/run`` starts it when it is not
running); ``$TRIALBOOK_TEST_PG`` names another (a URL to a database the tests
may connect to in order to create theirs). Import the fixtures into a test
module (``from tests.pg import pg_url``) and mark the module
``pytest.mark.postgres``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

ADMIN_URL = os.environ.get("TRIALBOOK_TEST_PG", "postgresql://127.0.0.1:5432/postgres")


def url_for(database: str, *, user: str | None = None, password: str | None = None) -> str:
    """The admin URL pointed at another database (and optionally another user)."""
    parts = urlsplit(ADMIN_URL)
    host = parts.netloc.rsplit("@", 1)[-1]
    if user is not None:
        host = f"{user}{':' + password if password else ''}@{host}"
    elif "@" in parts.netloc:
        host = parts.netloc
    return urlunsplit((parts.scheme, host, "/" + database, parts.query, ""))


def admin() -> Any:
    """An autocommit connection to the admin database; fails the test with a hint if there is no server."""
    import psycopg

    try:
        return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as e:
        pytest.fail(
            f"no PostgreSQL server at {ADMIN_URL} ({str(e).splitlines()[0]}); start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` "
            "or deselect these tests with -m 'not postgres'"
        )


def create_database() -> str:
    name = f"tb_test_{secrets.token_hex(6)}"
    with admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(name: str) -> None:
    with admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_database() -> Iterator[str]:
    """The name of a fresh, empty database, dropped after the test (connections and all)."""
    name = create_database()
    try:
        yield name
    finally:
        drop_database(name)


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """A ``postgresql://`` URL of a fresh, empty database."""
    return url_for(pg_database)


def sql(url: str, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    """Run one statement on ``url`` as the database owner (autocommit) and return its rows."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def wait_for_sessions_to_end(url: str, seconds: float = 10.0) -> None:
    """Wait until no other session is connected to ``url``'s database (killed clients' ones end
    when the server sees their sockets closed)."""
    import time

    deadline = time.monotonic() + seconds
    while sql(
        url,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid()",
    )[0][0]:
        assert time.monotonic() < deadline, "sessions of killed clients did not end"
        time.sleep(0.01)
