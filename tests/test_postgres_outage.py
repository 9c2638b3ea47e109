"""The server going away and coming back, and a wrong password, on the real PostgreSQL server.

The machine's server is shared, so it is never stopped: clients reach it
through a TCP proxy (``tests.pg_proxy``) that is cut and restored. A wrong
password is refused by the server itself: ``.ci/run`` adds one ``pg_hba.conf``
rule, first, that asks the dedicated role ``trialbook_scram_test`` (and no
other) for a SCRAM password; every other role keeps the server's own rules.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.pg import sql, url_for
from tests.pg_proxy import PgProxy
from tests.servers import Behaviour, TaskServer
from tests.store_contract import ev
from trialbook.shell.cli import cli
from trialbook.store.errors import StoreUnavailable
from trialbook.store.postgres import PostgresEventStore
from trialbook.store.replica import ReplicatedEventStore

pytestmark = pytest.mark.postgres

CASES = 40
EPOCHS = 2
SECRET = "s3cret-pw"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def proxy() -> Iterator[PgProxy]:
    with PgProxy() as p:
        yield p


def lost(url: str) -> str:
    """The one line for a connection lost mid-command (libpq's reason in the brackets varies)."""
    return (
        f"lost the connection to PostgreSQL at {re.escape(url)} \\([^()\\n]+\\); nothing was "
        "recorded: run the command again once the server is back"
    )


def unknown(url: str) -> str:
    """The one line for a connection lost during COMMIT with the server still away."""
    return (
        f"lost the connection to PostgreSQL at {url} while committing; whether the last write "
        "was recorded is unknown: check with `trialbook events log` once the server is back"
    )


def down(url: str) -> str:
    """The one line for a server that is not there (at connect)."""
    return (
        f"cannot connect to PostgreSQL at {url}: the server is not running or not accepting "
        "connections there; start it (check with pg_isready) or fix --db"
    )


def trialbook(url: str, *args: str) -> tuple[int, str, str]:
    """``trialbook --db URL ARGS…`` in-process: (exit code, stdout, stderr)."""
    r = CliRunner().invoke(cli, ["--db", url, *args], catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def rollouts(direct: str) -> Counter[tuple[str, int]]:
    """(case, epoch) of every RolloutCompleted in the log, read from the server directly."""
    return Counter(
        (d["case_id"], d["epoch"])
        for (d,) in sql(
            direct, "SELECT data::jsonb FROM trialbook.events WHERE type = 'RolloutCompleted'"
        )
    )


def check_log(direct: str) -> list[str]:
    """The log on the server verifies (chain, versions, head row, guards); returns its types."""
    with PostgresEventStore(direct, migrate=False) as log:
        report = log.verify()
        assert report.ok, report.problems
        assert report.head_position == report.events
    return [t for (t,) in sql(direct, "SELECT type FROM trialbook.events ORDER BY position")]


class TestTheServerGoesAway:
    def test_an_eval_run_cut_off_mid_run_fails_in_one_line_and_resumes_exactly_the_missing_rollouts(
        self, proxy: PgProxy, pg_database: str, tmp_path: Path
    ) -> None:
        url = proxy.url_for(pg_database, user="root", password=SECRET)  # trust: not checked
        shown = proxy.url_for(pg_database, user="root")
        direct = url_for(pg_database)
        suite = tmp_path / "many.jsonl"
        suite.write_text(
            "".join(
                json.dumps({"id": f"c{i:02d}", "input": f"case {i}"}) + "\n" for i in range(CASES)
            )
        )
        assert trialbook(url, "eval", "suite", "add", str(suite))[0] == 0
        with TaskServer(Behaviour(latency_s=0.05)) as target:
            run = subprocess.Popen(
                [sys.executable, "-m", "trialbook", "--db", url, "eval", "run", "many"]
                + ["--target", f"{target.url}/run", "--name", "r1", "--epochs", str(EPOCHS)]
                + ["--concurrency", "4"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=ROOT,
            )
            try:
                deadline = time.monotonic() + 30
                while sum(rollouts(direct).values()) < 8:
                    assert run.poll() is None, run.communicate()
                    assert time.monotonic() < deadline, "no rollouts were recorded"
                    time.sleep(0.02)
                proxy.cut()
                _, err = run.communicate(timeout=60)
            finally:
                if run.poll() is None:
                    run.kill()
                    run.communicate()
            assert run.returncode == 1
            error = err.splitlines()[-1]
            # where the cut fell (between transactions, inside one, during its COMMIT) picks the line
            batch = lost(shown).replace(
                "nothing was recorded: run the command again once the server is back",
                "its last batch was not recorded",
            )
            either = "|".join((batch, re.escape(down(shown)), re.escape(unknown(shown))))
            kept = re.escape(
                "; the rollouts recorded before it are kept: resume it with "
                "`trialbook eval resume r1`"
            )
            assert re.fullmatch(f"Error: recording rollouts failed: ({either}){kept}", error), error
            assert "Traceback" not in err and SECRET not in err
            assert [line for line in err.splitlines() if "rror" in line] == [err.splitlines()[-1]]

            # nothing half-written: the log verifies and holds whole rollouts, each once
            before = rollouts(direct)
            assert 8 <= sum(before.values()) < CASES * EPOCHS
            assert set(before.values()) == {1}
            types = check_log(direct)
            assert types == ["SuiteRegistered", "RunStarted"] + ["RolloutCompleted"] * len(before)

            # while it is away, every command says so in one line, and records nothing
            for args in (("eval", "show", "r1"), ("eval", "resume", "r1")):
                assert trialbook(url, *args) == (1, "", f"Error: {down(shown)}\n")
            assert check_log(direct) == types

            proxy.restore()
            target.reset()
            code, out, err = trialbook(url, "eval", "resume", "r1", "--concurrency", "8")
            assert code == 0, err
            assert f"Run r1 finished: {CASES * EPOCHS} completed, 0 failed." in out
            # exactly the missing rollouts were sent and recorded
            assert target.requests == CASES * EPOCHS - len(before)
        after = rollouts(direct)
        assert set(after) == {(f"c{i:02d}", e) for i in range(CASES) for e in range(1, EPOCHS + 1)}
        assert set(after.values()) == {1}
        assert check_log(direct)[-1] == "RunFinished"

    def test_a_store_reconnects_once_the_server_is_back(
        self, proxy: PgProxy, pg_database: str, tmp_path: Path
    ) -> None:
        url = proxy.url_for(pg_database, user="root", password=SECRET)
        shown = proxy.url_for(pg_database, user="root")
        with ReplicatedEventStore(url, cache=tmp_path / "replica.db") as store:
            store.append("s", 0, [ev(1)])
            proxy.cut()
            for attempt in (
                lambda: store.append("s", 1, [ev(2)]),
                lambda: store.head(),
                lambda: list(store.read_all()),
            ):
                with pytest.raises(StoreUnavailable) as info:
                    attempt()
                assert re.fullmatch(f"{lost(shown)}|{re.escape(down(shown))}", str(info.value))
            proxy.restore()
            assert store.append("s", 1, [ev(3)])[0].position == 2
            assert [e.data["n"] for e in store.read_all()] == [1, 3]
        check_log(url_for(pg_database))

    def test_a_connection_lost_at_commit_records_nothing_in_the_log_or_the_replica(
        self, proxy: PgProxy, pg_database: str, tmp_path: Path
    ) -> None:
        url = proxy.url_for(pg_database)
        with ReplicatedEventStore(url, cache=tmp_path / "replica.db") as store:
            store.append("s", 0, [ev(1)])

            def cut_before_commit(conn: object, recorded: object) -> None:
                proxy.cut()  # the rows are sent with the COMMIT, which never arrives
                proxy.restore()

            with pytest.raises(StoreUnavailable) as info:
                store.append("s", 1, [ev(2), ev(3)], in_transaction=cut_before_commit)
            assert re.fullmatch(lost(url), str(info.value)), info.value
            # the store asked the server again on a new connection: not committed
            assert store.conn.execute("SELECT count(*) FROM events").fetchone()[0] == 1
            assert store.remote.head()[0] == 1
            assert [e.version for e in store.append("s", 1, [ev(4)])] == [2]
        assert check_log(url_for(pg_database)) == ["Thing", "Thing"]

    def test_a_commit_whose_outcome_cannot_be_checked_says_so_and_the_replica_keeps_nothing(
        self, proxy: PgProxy, pg_database: str, tmp_path: Path
    ) -> None:
        url = proxy.url_for(pg_database)
        with ReplicatedEventStore(url, cache=tmp_path / "replica.db") as store:
            store.append("s", 0, [ev(1)])
            with pytest.raises(StoreUnavailable) as info:
                store.append("s", 1, [ev(2)], in_transaction=lambda conn, recorded: proxy.cut())
            assert str(info.value) == unknown(url)
            assert store.conn.execute("SELECT count(*) FROM events").fetchone()[0] == 1
            proxy.restore()
            assert [e.data["n"] for e in store.read_all()] == [1]  # it was not recorded
            assert [e.version for e in store.append("s", 1, [ev(3)])] == [2]
        assert check_log(url_for(pg_database)) == ["Thing", "Thing"]


ROLE = "trialbook_scram_test"
PASSWORD = "tb-scram-test-pw"  # a throwaway role that owns nothing and may only log in


@pytest.fixture
def scram_role() -> str:
    """The role the first pg_hba.conf rule asks for a SCRAM password (``.ci/run`` adds the rule)."""
    rules = sql(
        url_for("postgres"),
        "SELECT line_number, auth_method FROM pg_hba_file_rules WHERE %s = ANY(user_name) "
        "AND address = '127.0.0.1'",
        (ROLE,),
    )
    if not rules or rules[0][1] != "scram-sha-256":
        pytest.fail(
            f"this server does not ask {ROLE} for a password on 127.0.0.1; add the rule "
            f"'host all {ROLE} 127.0.0.1/32 scram-sha-256' first in its pg_hba.conf and reload "
            "(.ci/run does both)"
        )
    sql(
        url_for("postgres"),
        f"DO $$ BEGIN CREATE ROLE {ROLE}; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
    )
    sql(url_for("postgres"), f"ALTER ROLE {ROLE} LOGIN NOSUPERUSER PASSWORD '{PASSWORD}'")
    return ROLE


class TestAWrongPassword:
    def test_is_refused_by_the_server_in_one_line_without_the_password(
        self, scram_role: str, pg_database: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        wrong = url_for(pg_database, user=scram_role, password="not-the-password")
        shown = url_for(pg_database, user=scram_role)
        error = (
            f"Error: cannot connect to {shown}: password authentication failed for user "
            f'"{scram_role}"; check the password (in the URL, $PGPASSWORD or ~/.pgpass)\n'
        )
        for args in (
            ("ab", "list"),
            ("events", "verify"),
            ("ab", "create", "t", "--variants", "a,b"),
        ):
            assert trialbook(wrong, *args) == (1, "", error), args
        monkeypatch.delenv("PGPASSWORD", raising=False)  # and $HOME (~/.pgpass) is the test's own
        assert trialbook(shown, "ab", "list") == (
            1,
            "",
            f"Error: cannot connect to {shown}: no password supplied; check the password "
            "(in the URL, $PGPASSWORD or ~/.pgpass)\n",
        )
        # the right password gets past the server's check (then: the role may not create the log)
        right = url_for(pg_database, user=scram_role, password=PASSWORD)
        assert trialbook(right, "events", "verify") == (
            1,
            "",
            f"Error: no trialbook log at {shown}: the database has no trialbook schema\n",
        )
        assert sql(url_for(pg_database), "SELECT to_regnamespace('trialbook')") == [(None,)]
