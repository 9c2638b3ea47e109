"""The PostgreSQL backend: the shared contract, plus what only a server can do wrong.

Two stores pass the contract: the log alone (``PostgresEventStore``) and what
the ledger opens for a URL (``ReplicatedEventStore``: the log plus a local
SQLite replica). Every test runs on a database of its own on the real server.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from tests.pg import sql, url_for
from tests.store_contract import EventStoreContract, ev
from trialbook.domain import ab
from trialbook.domain.canonical import GENESIS_HASH
from trialbook.domain.commands import build
from trialbook.ledger import Ledger
from trialbook.store.errors import (
    AppendOnlyViolation,
    ConcurrencyError,
    NotATrialbookDatabase,
    StoreError,
    StoreUnavailable,
)
from trialbook.store.postgres import PostgresEventStore
from trialbook.store.replica import ReplicatedEventStore
from trialbook.store.urls import redact_url, replica_path

pytestmark = pytest.mark.postgres


class TestPostgresContract(EventStoreContract):
    @pytest.fixture
    def store(self, pg_url: str):
        s = PostgresEventStore(pg_url)
        yield s
        s.close()


class TestReplicaContract(EventStoreContract):
    @pytest.fixture
    def store(self, pg_url: str, tmp_path: Path):
        s = ReplicatedEventStore(pg_url, cache=tmp_path / "replica.db")
        yield s
        s.close()

    def test_the_replica_holds_the_same_rows_as_the_log(self, store: ReplicatedEventStore) -> None:
        store.append("a", 0, [ev(1), ev(2)])
        store.append("b", 0, [ev(3)])
        remote = list(store.remote.read_all())
        assert remote == list(store.read_all()) and len(remote) == 3


class TestSchema:
    def test_opening_twice_applies_no_migration_twice(self, pg_url: str) -> None:
        with PostgresEventStore(pg_url) as s:
            s.append("s", 0, [ev(1)])
        with PostgresEventStore(pg_url) as s:
            assert s.head()[0] == 1
        names = [r[0] for r in sql(pg_url, "SELECT name FROM trialbook.migrations")]
        assert names == [
            "pg001_events",
            "pg002_blobs",
            "pg003_pending",
            "pg004_pending_owners",
            "pg005_server_chain",
        ]

    def test_updates_deletes_and_truncates_are_refused_by_the_server(self, pg_url: str) -> None:
        with PostgresEventStore(pg_url) as s:
            s.append("s", 0, [ev(1)])
            for statement in (
                "UPDATE trialbook.events SET data = '{}'",
                "DELETE FROM trialbook.events",
                "TRUNCATE trialbook.events",
                "INSERT INTO trialbook.events SELECT * FROM trialbook.events "
                "ON CONFLICT (position) DO UPDATE SET data = '{}'",
                "UPDATE trialbook.log_head SET position = 0",
                "DELETE FROM trialbook.blobs",
            ):
                with pytest.raises(AppendOnlyViolation, match="append-only|moves only"):
                    s.run(lambda conn, q=statement: conn.execute(q))
            assert s.get(1).data == {"n": 1}
            assert s.verify().ok

    def test_an_insert_that_skips_a_position_or_breaks_the_chain_is_refused(
        self, pg_url: str
    ) -> None:
        with PostgresEventStore(pg_url) as s:
            (e,) = s.append("s", 0, [ev(1)])
            copy = (
                "INSERT INTO trialbook.events SELECT position + {d}, event_id || 'x', stream_id, "
                "version + 1, type, schema_version, data, metadata, recorded_at, {prev}, hash "
                "FROM trialbook.events"
            )
            with pytest.raises(ConcurrencyError, match="gap-free"):
                s.run(lambda conn: conn.execute(copy.format(d=5, prev="hash")))
            with pytest.raises(ConcurrencyError, match="hash-chained"):
                s.run(lambda conn: conn.execute(copy.format(d=1, prev="prev_hash")))
            assert s.head() == (1, e.hash)

    def test_a_role_with_only_select_and_insert_can_append_but_not_edit(
        self, pg_url: str, pg_database: str
    ) -> None:
        PostgresEventStore(pg_url).close()  # the owner creates the schema
        role = f"tb_writer_{secrets.token_hex(4)}"
        sql(pg_url, f"CREATE ROLE {role} LOGIN")
        try:
            for grant in (
                f"GRANT USAGE ON SCHEMA trialbook TO {role}",
                f"GRANT SELECT, INSERT ON trialbook.events, trialbook.blobs TO {role}",
                f"GRANT SELECT ON trialbook.log_head, trialbook.migrations TO {role}",
            ):
                sql(pg_url, grant)
            with PostgresEventStore(url_for(pg_database, user=role)) as s:
                s.append("s", 0, [ev(1)])
                s.append("s", 1, [ev(2)])
                s.put_blob(b"trace")
                with pytest.raises(StoreUnavailable, match="permission denied"):
                    s.run(lambda conn: conn.execute("UPDATE trialbook.events SET data = '{}'"))
                with pytest.raises(StoreUnavailable, match="permission denied"):
                    s.run(lambda conn: conn.execute("UPDATE trialbook.log_head SET position = 9"))
                assert s.verify().ok and s.head()[0] == 2
        finally:
            sql(pg_url, f"DROP OWNED BY {role}")
            sql(pg_url, f"DROP ROLE {role}")

    def test_a_role_that_may_not_create_the_schema_is_told_who_can(
        self, pg_url: str, pg_database: str
    ) -> None:
        role = f"tb_reader_{secrets.token_hex(4)}"
        sql(pg_url, f"CREATE ROLE {role} LOGIN")
        try:
            sql(pg_url, f"REVOKE CREATE ON DATABASE {pg_database} FROM PUBLIC")
            with pytest.raises(StoreUnavailable) as info:
                PostgresEventStore(url_for(pg_database, user=role))
            assert str(info.value) == (
                f"postgresql://{role}@127.0.0.1:5432/{pg_database} has no trialbook schema yet, or "
                "an older one, and this role may not create it: run any trialbook command on it "
                "once as the database's owner, then grant this role SELECT and INSERT (see "
                "docs/postgres.md, Roles)"
            )
        finally:
            sql(pg_url, f"DROP OWNED BY {role}")
            sql(pg_url, f"DROP ROLE {role}")

    def test_a_foreign_trialbook_schema_is_refused_untouched(self, pg_url: str) -> None:
        sql(pg_url, "CREATE SCHEMA trialbook")
        sql(pg_url, "CREATE TABLE trialbook.people (name text)")
        with pytest.raises(NotATrialbookDatabase, match="did not create"):
            PostgresEventStore(pg_url)
        tables = sql(pg_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'trialbook'")
        assert tables == [("people",)]


class TestVerify:
    def tamper(self, url: str, statement: str) -> None:
        sql(url, "ALTER TABLE trialbook.events DISABLE TRIGGER USER")
        sql(url, statement)
        sql(url, "ALTER TABLE trialbook.events ENABLE TRIGGER USER")

    def test_an_edited_row_is_named(self, pg_url: str) -> None:
        with PostgresEventStore(pg_url) as s:
            s.append("s", 0, [ev(i) for i in range(5)])
            self.tamper(pg_url, "UPDATE trialbook.events SET data = '{\"n\":9}' WHERE position = 3")
            report = s.verify()
        assert [(p.position, p.kind) for p in report.problems] == [(3, "changed content")]

    def test_a_deleted_tail_and_a_disabled_trigger_are_named(self, pg_url: str) -> None:
        with PostgresEventStore(pg_url) as s:
            s.append("s", 0, [ev(i) for i in range(5)])
            self.tamper(pg_url, "DELETE FROM trialbook.events WHERE position = 5")
            sql(pg_url, "ALTER TABLE trialbook.events DISABLE TRIGGER events_append_only")
            report = s.verify()
        kinds = [(p.position, p.kind) for p in report.problems]
        assert kinds == [(5, "missing position"), (0, "unguarded file")]
        assert "events_append_only on events is disabled" in report.problems[1].message

    def test_verifying_a_database_without_a_log_creates_nothing(self, pg_url: str) -> None:
        with pytest.raises(NotATrialbookDatabase, match="no trialbook log"):
            PostgresEventStore(pg_url, migrate=False)
        assert sql(pg_url, "SELECT to_regnamespace('trialbook')") == [(None,)]


class TestErrors:
    def test_a_refused_connection_is_one_line_without_the_password(self) -> None:
        url = "postgresql://ana:hunter2@127.0.0.1:1/team"
        with pytest.raises(StoreUnavailable) as info:
            PostgresEventStore(url)
        message = str(info.value)
        assert message == (
            "cannot connect to PostgreSQL at postgresql://ana@127.0.0.1:1/team: the server is not "
            "running or not accepting connections there; start it (check with pg_isready) or fix --db"
        )
        assert not replica_path(url).exists()

    def test_a_missing_database_is_named(self) -> None:
        url = url_for(f"tb_missing_{secrets.token_hex(4)}", user="root", password="hunter2")
        with pytest.raises(StoreUnavailable, match="does not exist; create it") as info:
            ReplicatedEventStore(url)
        assert "hunter2" not in str(info.value) and "\n" not in str(info.value)

    def test_a_password_is_never_in_a_message_even_for_a_url_that_does_not_parse(self) -> None:
        for url in ("postgresql://ana:hunter2@[::1/x", "postgresql://h/x?password=hunter2&port=1"):
            with pytest.raises(StoreError) as info:
                PostgresEventStore(url)
            assert "hunter2" not in str(info.value), str(info.value)
        assert redact_url("postgresql://a:b@h:5/d?sslmode=require&password=c") == (
            "postgresql://a@h:5/d?sslmode=require"
        )

    def test_a_server_gone_mid_run_records_nothing_and_the_next_write_reconnects(
        self, pg_url: str
    ) -> None:
        with PostgresEventStore(pg_url) as s:
            s.append("s", 0, [ev(1)])
            pid = s.conn.info.backend_pid

            def killed_mid_transaction(conn: object, recorded: object) -> None:
                sql(pg_url, "SELECT pg_terminate_backend(%s)", (pid,))

            with pytest.raises(StoreUnavailable) as info:
                s.append("s", 1, [ev(2), ev(3)], in_transaction=killed_mid_transaction)
            assert str(info.value).startswith(f"lost the connection to PostgreSQL at {pg_url}")
            assert "nothing was recorded" in str(info.value)
            assert s.append("s", 1, [ev(4)])[0].position == 2
            assert [e.data["n"] for e in s.read_all()] == [1, 4]
            assert s.verify().ok


class TestReplica:
    def test_a_second_machine_reads_what_the_first_wrote_before_its_read(
        self, pg_url: str, tmp_path: Path
    ) -> None:
        a = ReplicatedEventStore(pg_url, cache=tmp_path / "a.db")
        b = ReplicatedEventStore(pg_url, cache=tmp_path / "b.db")
        try:
            a.append("s", 0, [ev(1)])
            assert [e.data["n"] for e in b.read_all()] == [1]
            b.append("s", 1, [ev(2)])
            assert a.stream_version("s") == 2 and a.head() == b.head() == b.remote.head()
        finally:
            a.close()
            b.close()

    def test_read_models_follow_writes_made_elsewhere(
        self, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        mine = Ledger(pg_url)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "another-machine"))
        theirs = Ledger(pg_url)
        assert mine.path != theirs.path
        with mine, theirs:
            mine.execute(build(ab.CreateTest, name="t", variants=("a", "b")))
            theirs.execute(build(ab.AddResults, test="t", results=(ab.ResultFields(variant="b"),)))
            rows = mine.conn.execute("SELECT variant, results FROM ab_variants").fetchall()
            assert dict(rows) == {"a": 0, "b": 1}

    def test_a_blob_stored_on_one_machine_is_read_on_another(
        self, pg_url: str, tmp_path: Path
    ) -> None:
        a = ReplicatedEventStore(pg_url, cache=tmp_path / "a.db")
        b = ReplicatedEventStore(pg_url, cache=tmp_path / "b.db")
        try:
            digest = a.put_blob(b"a long trace" * 100)
            assert b.get_blob(digest) == b"a long trace" * 100
            assert b.get_blob("0" * 64) is None
        finally:
            a.close()
            b.close()

    def test_a_cache_of_a_replaced_database_is_rebuilt(self, pg_url: str, tmp_path: Path) -> None:
        cache = tmp_path / "r.db"
        with ReplicatedEventStore(pg_url, cache=cache) as s:
            s.append("old", 0, [ev(1), ev(2)])
        sql(pg_url, "DROP SCHEMA trialbook CASCADE")
        with ReplicatedEventStore(pg_url, cache=cache) as s:
            assert s.head() == (0, GENESIS_HASH)
            s.append("new", 0, [ev(3)])
            assert [e.stream_id for e in s.read_all()] == ["new"]

    def test_a_crash_between_the_two_commits_leaves_the_cache_behind_not_wrong(
        self, pg_url: str, tmp_path: Path
    ) -> None:
        cache = tmp_path / "r.db"
        with ReplicatedEventStore(pg_url, cache=cache) as s:
            s.append("s", 0, [ev(1)])
        with PostgresEventStore(pg_url) as log:  # another client wrote, this cache never saw it
            log.append("s", 1, [ev(2)])
        with ReplicatedEventStore(pg_url, cache=cache) as s:
            assert [e.data["n"] for e in s.read_all()] == [1, 2]
            assert s.append("s", 2, [ev(3)])[0].position == 3
