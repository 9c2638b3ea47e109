"""Shared fixtures: every test gets its own database file and private XDG dirs."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.pg import pg_database, pg_url  # noqa: F401 - PostgreSQL fixtures (tests/pg.py)
from trialbook.shell.cli import cli


@pytest.fixture(autouse=True)
def isolated_user_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Point every user path at a temp dir so no test touches real user data."""
    home = tmp_path_factory.mktemp("home")
    for var, sub in (
        ("XDG_DATA_HOME", "data"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_CACHE_HOME", "cache"),
    ):
        (home / sub).mkdir()
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("TRIALBOOK_DB", raising=False)
    monkeypatch.setenv("TRIALBOOK_ACTOR", "tester@example")
    return home


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A fresh database file path in a temp dir (not created yet)."""
    return tmp_path / "trialbook.db"


def count_events(path: Path) -> int:
    """How many events the file holds, read with plain sqlite3 (0 if it has no log)."""
    if not path.exists():
        return 0
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


Invoke = Callable[..., Result]


def add_suite(invoke: Invoke, path: Path, cases: list[dict[str, Any]]) -> None:
    """Write ``cases`` to ``path`` as JSONL and register the suite (named after the file)."""
    path.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    r = invoke("eval", "suite", "add", str(path))
    assert r.exit_code == 0, r.output


def show_json(invoke: Invoke, run: str) -> dict[str, Any]:
    """``eval show RUN --json``, parsed."""
    r = invoke("eval", "show", run, "--json")
    assert r.exit_code == 0, r.output
    return dict(json.loads(r.output))


@pytest.fixture
def invoke(db_path: Path) -> Invoke:
    """Run ``trialbook --db <fresh file> ARGS…`` in-process; returns click's Result."""
    runner = CliRunner()

    def run(*args: str, input: str | None = None, db: Path | None = None) -> Result:
        return runner.invoke(
            cli, ["--db", str(db or db_path), *args], input=input, catch_exceptions=False
        )

    return run
