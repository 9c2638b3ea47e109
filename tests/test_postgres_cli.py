"""Every command on a ``postgresql://`` URL, and the projections' properties on PostgreSQL.

The CLI runs in-process against the real server, each test on a database of
its own; the replica lives in the test's private ``$XDG_CACHE_HOME``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings

import trialbook
from tests.pg import sql
from tests.test_audit_replay import setup_test
from tests.test_properties import command_sequences, dump
from trialbook.domain.errors import DomainError
from trialbook.ledger import Ledger
from trialbook.shell.cli import cli
from trialbook.store.postgres import PostgresEventStore
from trialbook.store.verify import verify_file

pytestmark = pytest.mark.postgres


class log:  # noqa: N801 - reads like a function: log(url).head()
    """The log on the server, read through a store that is closed after one call."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            with PostgresEventStore(self.url) as store:
                return getattr(store, name)(*args, **kwargs)

        return call


def run(db: str | Path, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["--db", str(db), *args], input=input, catch_exceptions=False)


@pytest.fixture
def pg(pg_url: str) -> Any:
    """``trialbook --db <fresh PostgreSQL database> ARGS…``."""

    def invoke(*args: str, input: str | None = None) -> Result:
        return run(pg_url, *args, input=input)

    return invoke


class TestCommands:
    def test_an_ab_test_end_to_end_with_verify_and_audit(self, pg: Any, pg_url: str) -> None:
        setup_test(pg)
        r = pg("ab", "analyze", "checkout-flow", "--json")
        assert r.exit_code == 0, r.output
        assert {v["name"]: v["results"] for v in json.loads(r.output)["variants"]} == {
            "cold": 6,
            "warm": 6,
        }
        assert pg("ab", "conclude", "checkout-flow", "--stop", "--note", "look").exit_code == 0
        r = pg("events", "verify")
        assert r.exit_code == 0, r.output
        head = log(pg_url).head()
        assert r.output.splitlines()[1] == f"Head: position 14, hash {head[1]}"
        r = pg("audit", "checkout-flow")
        assert r.exit_code == 0, r.output
        assert r.output.splitlines()[1].startswith("Hash chain verified up to position 14 ")
        assert "Reproduces: replayed to position 13" in r.output
        doc = json.loads(pg("audit", "checkout-flow", "--json").output)
        assert doc["database"] == pg_url and doc["chain"]["ok"]
        r = pg("ab", "analyze", "checkout-flow", "--at", "5", "--json")
        assert r.exit_code == 0 and json.loads(r.output)["position"] == 5

    def test_a_tampered_log_fails_verify_naming_the_position(self, pg: Any, pg_url: str) -> None:
        setup_test(pg, 2)
        sql(pg_url, "ALTER TABLE trialbook.events DISABLE TRIGGER USER")
        sql(
            pg_url,
            "UPDATE trialbook.events SET data = replace(data, 'cold', 'hot') WHERE position = 2",
        )
        sql(pg_url, "ALTER TABLE trialbook.events ENABLE TRIGGER USER")
        r = pg("events", "verify")
        assert r.exit_code == 1
        assert r.stderr.startswith("Error: verification failed at position 2 (changed content)")

    def test_trialbook_db_and_the_python_api_take_a_url(
        self, pg_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("TRIALBOOK_DB", pg_url)
        r = CliRunner().invoke(cli, ["ab", "create", "t", "--variants", "a,b"])
        assert r.exit_code == 0, r.output
        with trialbook.open(pg_url) as tb:
            tb.ab.add_result("t", variant="b", success=True)
            assert tb.position == 2 and tb.events.verify().ok
            assert tb.url == pg_url and tb.path.is_file()  # the local replica
        with trialbook.open() as tb:  # $TRIALBOOK_DB
            assert [e.type for e in tb.events.read()] == ["TestCreated", "ResultAdded"]
        assert log(pg_url).head()[0] == 2

    def test_errors_are_one_line_and_never_show_the_password(self, pg_database: str) -> None:
        cases = {
            "postgresql://ana:hunter2@127.0.0.1:1/team": (
                "Error: cannot connect to PostgreSQL at postgresql://ana@127.0.0.1:1/team: the "
                "server is not running or not accepting connections there; start it (check with "
                "pg_isready) or fix --db\n"
            ),
            "postgresql://root:hunter2@127.0.0.1/tb_no_such_db": (
                "Error: cannot open postgresql://root@127.0.0.1/tb_no_such_db: database "
                '"tb_no_such_db" does not exist; create it (createdb) or fix the URL given with --db\n'
            ),
        }
        for url, error in cases.items():
            for args in (
                ("ab", "list"),
                ("events", "verify"),
                ("ab", "create", "t", "--variants", "a,b"),
            ):
                r = run(url, *args)
                assert (r.exit_code, r.stderr) == (1, error), args
        r = run(f"postgresql://root:hunter2@127.0.0.1/{pg_database}", "events", "verify")
        assert r.stderr == (
            f"Error: no trialbook log at postgresql://root@127.0.0.1/{pg_database}: the database "
            "has no trialbook schema\n"
        )

    def test_the_command_line_is_recorded_without_the_password(self, pg_database: str) -> None:
        url = f"postgresql://root:hunter2@127.0.0.1/{pg_database}"
        assert run(url, "ab", "create", "t", "--variants", "a,b").exit_code == 0
        rows = sql(url, "SELECT data || metadata FROM trialbook.events")
        assert rows and all("hunter2" not in r[0] for r in rows)
        assert "postgresql://root:<redacted>@127.0.0.1" in rows[0][0]


def export_bytes(db: str | Path) -> bytes:
    r = run(db, "events", "export")
    assert r.exit_code == 0, r.output
    return r.stdout_bytes


class TestMovingAHistory:
    def test_sqlite_to_postgres_and_back_is_byte_identical(
        self, pg_url: str, tmp_path: Path
    ) -> None:
        source = tmp_path / "source.db"
        setup_test(lambda *a, **k: run(source, *a, **k), 4)
        assert (
            run(
                source,
                "ab",
                "add-result",
                "checkout-flow",
                "--variant",
                "warm",
                "--notes",
                "naïve “quotes” \\ and\na newline",
            ).exit_code
            == 0
        )
        first = export_bytes(source)
        (tmp_path / "log.jsonl").write_bytes(first)
        r = run(pg_url, "events", "import", str(tmp_path / "log.jsonl"))
        assert r.exit_code == 0, r.output
        head = verify_file(source)
        assert r.output.splitlines()[1] == f"Head: position 10, hash {head.head_hash}"
        assert log(pg_url).verify().head_hash == head.head_hash
        assert export_bytes(pg_url) == first
        # importing again changes nothing; the copy answers like the original
        assert (
            "Nothing to import"
            in run(pg_url, "events", "import", str(tmp_path / "log.jsonl")).output
        )
        for args in (
            ("ab", "show", "checkout-flow", "--json"),
            ("ab", "analyze", "checkout-flow", "--json"),
        ):
            assert run(pg_url, *args).output == run(source, *args).output
        back = tmp_path / "back.db"
        r = run(back, "events", "import", "-", input=export_bytes(pg_url).decode("utf-8"))
        assert r.exit_code == 0, r.output
        assert export_bytes(back) == first

    def test_a_conflicting_history_is_refused_and_nothing_is_imported(
        self, pg_url: str, tmp_path: Path
    ) -> None:
        a, b = tmp_path / "a.db", tmp_path / "b.db"
        for db in (a, b):
            assert run(db, "ab", "create", "t", "--variants", "x,y").exit_code == 0
        assert run(pg_url, "events", "import", "-", input=export_bytes(a).decode()).exit_code == 0
        r = run(pg_url, "events", "import", "-", input=export_bytes(b).decode())
        assert r.exit_code == 1 and "conflicting history: position 1 of the file" in r.stderr
        assert log(pg_url).head()[0] == 1


@contextlib.contextmanager
def fresh_cache() -> Iterator[None]:
    """A new ``$XDG_CACHE_HOME`` (a new machine's replica) for the block."""
    before = os.environ.get("XDG_CACHE_HOME")
    with tempfile.TemporaryDirectory() as d:
        os.environ["XDG_CACHE_HOME"] = d
        try:
            yield
        finally:
            if before is None:
                os.environ.pop("XDG_CACHE_HOME", None)
            else:
                os.environ["XDG_CACHE_HOME"] = before


@given(commands=command_sequences())
@settings(
    deadline=None, max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_incremental_projection_equals_a_rebuild_a_replica_and_sqlite_on_postgres(
    pg_url: str, commands: list[Any]
) -> None:
    sql(pg_url, "DROP SCHEMA IF EXISTS trialbook CASCADE")  # a new log for each example
    with fresh_cache():
        ledger = Ledger(pg_url)
        for c in commands:
            with contextlib.suppress(DomainError):
                ledger.execute(c)
        incremental = dump(ledger.conn)
        ledger.rebuild_projections()
        assert dump(ledger.conn) == incremental
        lines = [json.dumps(e.to_dict(), sort_keys=True) for e in ledger.store.read_all()]
        ledger.close()
    with fresh_cache(), Ledger(pg_url) as elsewhere:  # a replica that pulled it all folds alike
        assert dump(elsewhere.conn) == incremental
    with tempfile.TemporaryDirectory() as d:  # and so does a SQLite file holding the same log
        path = Path(d) / "copy.db"
        r = run(path, "events", "import", "-", input="".join(x + "\n" for x in lines))
        assert r.exit_code == 0, r.output
        copy = sqlite3.connect(path)
        assert dump(copy) == incremental
        copy.close()
