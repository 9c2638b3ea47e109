"""State shared by every command of one process: the database path and the open ledger.

The CLI makes one ``App`` per run; the REPL keeps one for the whole session,
so the ledger is opened once and reused line after line, and the names the
shell completes and the plain-language parser grounds on (the vocabulary) are
read once and re-read only after the database changed.
"""

from __future__ import annotations

import os
import re
import sqlite3
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trialbook.ledger.paths import data_dir, default_db_path, resolve_db  # noqa: F401 - re-exported

if TYPE_CHECKING:
    from trialbook._client import Trialbook
    from trialbook.ledger import Ledger
    from trialbook.plain.types import Vocabulary

_SECRET_KEY = re.compile(
    r"(^|[_-])(api[_-]?key|apikey|token|secret|password|passwd|authorization|auth|key)$", re.I
)
_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^\s;'\"]+", re.I)
_ASSIGNMENT = re.compile(r"(?<![\w/])([A-Za-z_][\w-]*)=([^\s;&'\"]+)")
#: a JSON (or YAML flow) pair such as ``"Authorization": "Bearer …"`` in an option value
_PAIR = re.compile(
    r"""(["']?)([A-Za-z_][\w-]*)\1(\s*:(?!//)\s*)("(?:[^"\\]|\\.)*"|'[^']*'|[^,}\s][^,}]*)"""
)
REDACTED = "<redacted>"


def redact_secrets(text: str) -> str:
    """``text`` with URL passwords and secret-looking ``key=value`` values replaced by ``<redacted>``.

    Event metadata records the command line typed; a secret in it would be in
    the append-only log forever.
    """

    def url(m: re.Match[str]) -> str:
        value = m.group(0)
        scheme, sep, rest = value.partition("://")
        authority, slash, path = rest.partition("/")
        if "@" in authority:
            userinfo, host = authority.rsplit("@", 1)
            if ":" in userinfo:
                authority = f"{userinfo.split(':', 1)[0]}:{REDACTED}@{host}"
        return scheme + sep + authority + slash + _ASSIGNMENT.sub(assignment, path)

    def assignment(m: re.Match[str]) -> str:
        key = m.group(1)
        return f"{key}={REDACTED}" if _SECRET_KEY.search(key) else m.group(0)

    def pair(m: re.Match[str]) -> str:
        quote, key, colon, value = m.groups()
        if not _SECRET_KEY.search(key):
            return m.group(0)
        q = value[0] if value[0] in "\"'" else ""
        return f"{quote}{key}{quote}{colon}{q}{REDACTED}{q}"

    if "=" in text or "@" in text:
        text = _ASSIGNMENT.sub(assignment, _URL.sub(url, text))
    return _PAIR.sub(pair, text) if ":" in text else text


def state_dir() -> Path:
    """``$XDG_STATE_HOME/trialbook`` (``~/.local/state/trialbook`` by default)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "trialbook"


def history_path() -> Path:
    """The shell's history file: ``$TRIALBOOK_HISTORY``, else ``state_dir()/history``."""
    env = os.environ.get("TRIALBOOK_HISTORY")
    return Path(env).expanduser() if env else state_dir() / "history"


def read_vocabulary(conn: sqlite3.Connection) -> Vocabulary:
    """The names in the store: tests (active and archived, with variants), suites, runs, scorers,
    canaries (with their stages).

    Tests come from the A/B read model; suites and runs from their event streams
    (``suite:NAME``, ``eval-run:ID`` and each run's ``RunStarted`` name), so they
    are found whether or not an eval read model exists; scorers are the built-in
    kinds (once eval runs exist) and every scorer named in a recorded verdict.
    Tables that do not exist yet read as empty.
    """
    from trialbook.plain.types import Vocabulary

    tests: dict[str, tuple[str, ...]] = {}
    archived: dict[str, tuple[str, ...]] = {}
    try:
        from trialbook.projections import ab_queries

        for t in ab_queries.list_tests(conn, include_archived=True):
            (archived if t["archived"] else tests)[t["name"]] = tuple(t["variants"])
    except sqlite3.OperationalError:  # no A/B read model in this file yet
        pass
    suites: set[str] = set()
    runs: set[str] = set()
    scorers: set[str] = set()
    try:
        from trialbook.projections import log_queries

        suites = log_queries.stream_names(conn, log_queries.SUITE_PREFIX)
        runs = log_queries.run_names(conn)
        if runs:
            scorers.update(_builtin_scorers())
            scorers.update(log_queries.verdict_scorers(conn))
    except sqlite3.OperationalError:  # not a trialbook log (yet)
        pass
    canaries: dict[str, tuple[float, ...]] = {}
    arms: dict[str, tuple[str, ...]] = {}
    try:
        from trialbook.projections import canary as canary_queries

        for c in canary_queries.list_canaries(conn):
            canaries[c["name"]] = tuple(c["stages"])
            arms[c["name"]] = (c["control"], c["candidate"])  # "a router-v2 candidate result"
    except sqlite3.OperationalError:  # no canary read model in this file yet
        pass
    return Vocabulary(
        tests=tests,
        archived=archived,
        suites=suites,
        runs=runs,
        scorers=scorers,
        canaries=canaries,
        canary_arms=arms,
    )


def _builtin_scorers() -> tuple[str, ...]:
    """The scorer kinds that need no definition (``equals``, ``contains``, …, ``judge``)."""
    try:
        from trialbook.runners.scorers import BUILTINS
    except (ImportError, AttributeError):  # pragma: no cover - a build without eval runners
        return ()
    return (*BUILTINS, "judge")


#: "no A/B test named 'x'" and its kin: the kind and the name a message says does not exist
_NOT_FOUND = re.compile(r"\bno (A/B test|canary|suite|eval run)(?: named)? '([^']+)'")


def did_you_mean(message: str, vocab: Vocabulary) -> str:
    """``message`` with the closest existing names after a name it says does not exist.

    ``no A/B test named 'chekout-flow'; …`` becomes ``no A/B test named 'chekout-flow'
    (did you mean checkout-flow?); …``. The names come from the store (``vocab``) and
    are chosen by :func:`trialbook.plain.request.suggest`, the function the shell's
    plain requests use, so the CLI and the shell suggest the same names.
    """
    m = _NOT_FOUND.search(message)
    if m is None or "did you mean" in message:
        return message
    kind, name = m.groups()
    pool = {
        "A/B test": [*vocab.tests, *vocab.archived],
        "canary": list(vocab.canaries),
        "suite": list(vocab.suites),
        "eval run": list(vocab.runs),
    }[kind]
    from trialbook.plain.request import suggest

    close = [c for c in suggest(name, pool) if c != name]
    if not close:
        return message
    return f"{message[: m.end()]} (did you mean {' or '.join(close)}?){message[m.end() :]}"


class App:
    """The database a session works on, opened on first use."""

    def __init__(
        self, db: str | os.PathLike[str] | None = None, *, interactive: bool = False
    ) -> None:
        #: the file was named (--db or $TRIALBOOK_DB), so it is not ours to create
        self.explicit_db = db is not None or bool(os.environ.get("TRIALBOOK_DB"))
        #: named with --db for this command (the demo writes elsewhere unless it is)
        self.db_option = db is not None
        #: a PostgreSQL URL when --db or $TRIALBOOK_DB names one; ``db_path`` is then its local replica
        self.db_url, self.db_path = resolve_db(db)
        self.interactive = interactive
        self._ledger: Ledger | None = None
        self._tb: Trialbook | None = None
        #: the exact command line being run, and where it came from (cli, repl, stdin, ask)
        self.command_text: str = " ".join(["trialbook", *sys.argv[1:]])
        self.tier = "cli"
        #: from the shell: the raw text typed, and which parser understood it
        #: (``command`` for a typed command, ``rules``, ``rules+edited``, ``llm``, ``llm+edited``)
        self.input_text: str | None = None
        self.parser_tier: str | None = None
        #: the test or run in focus (REPL `use NAME`)
        self.focus: str | None = None
        #: a write awaiting confirmation in the shell (its command line), for the toolbar
        self.pending: str | None = None
        self._names_lock = threading.Lock()
        self._names_conn: sqlite3.Connection | None = None
        self._vocabulary: Vocabulary | None = None
        self._vocabulary_key: tuple[int, int] | None = None
        self._names_generation = 0

    @property
    def db_name(self) -> str:
        """The database as the shell shows it: the file, or the PostgreSQL URL without its password."""
        from trialbook.store.urls import redact_url

        return redact_url(self.db_url) if self.db_url else str(self.db_path)

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            from trialbook.ledger import Ledger

            self._refuse_a_missing_file_to_read()
            if not self.explicit_db:
                # the default location is ours to create
                self.db_path.parent.mkdir(parents=True, exist_ok=True)
            self._ledger = Ledger(self.db_url or self.db_path)
        meta = self._ledger.metadata
        for key in ("input", "parser_tier"):
            meta.pop(key, None)
        meta.update(self.event_metadata())
        return self._ledger

    def _refuse_a_missing_file_to_read(self) -> None:
        """A read command on a named file that does not exist is an error, not a new empty log.

        ``trialbook --db tset.db ab list`` would otherwise create ``tset.db`` and say there
        are no tests. Writes (``ab create``, ``demo``, ``events import``) still create the file.
        """
        if not self.explicit_db or self.db_url is not None or self.db_path.exists():
            return
        if self.tier == "repl":  # the shell shows its file in its toolbar; a write creates it
            return
        import click

        ctx = click.get_current_context(silent=True)
        words = tuple(ctx.command_path.split()[1:]) if ctx is not None else ()
        from trialbook.plain.types import command_path
        from trialbook.shell.command_kinds import READ_ONLY_COMMANDS

        if command_path(words) not in READ_ONLY_COMMANDS | {("view",)}:
            return
        from trialbook.store.errors import StoreUnavailable

        raise StoreUnavailable(
            f"no trialbook database at {self.db_path}; check the --db path (or $TRIALBOOK_DB): "
            "a read never creates one, a write such as `trialbook ab create NAME` does"
        )

    @property
    def tb(self) -> Trialbook:
        """The Python API on this session's ledger: the commands are its clients."""
        from trialbook._client import Trialbook

        ledger = self.ledger
        if self._tb is None or self._tb._ledger is not ledger:
            self._tb = Trialbook._around(ledger)
        return self._tb

    def event_metadata(self) -> dict[str, Any]:
        """What the shell records in every event's metadata for the command being run.

        Secrets typed into the line (a password in a URL, ``api_key=…``) are redacted.
        """
        meta: dict[str, Any] = {"command": redact_secrets(self.command_text), "tier": self.tier}
        if self.input_text is not None:
            meta["input"] = redact_secrets(self.input_text)
        if self.parser_tier is not None:
            meta["parser_tier"] = self.parser_tier
        return meta

    def set_command(
        self,
        command: str,
        *,
        tier: str,
        input_text: str | None = None,
        parser_tier: str | None = None,
    ) -> None:
        """Say which command line runs next and where it came from (recorded in its events)."""
        self.command_text = command
        self.tier = tier
        self.input_text = input_text
        self.parser_tier = parser_tier

    # ------------------------------------------------------------------ names in the store

    def vocabulary(self) -> Vocabulary:
        """The names in the store, cached; re-read when the database changed. Thread-safe.

        Read through a separate read-only connection, so the completion thread can
        call it while the main thread runs commands; SQLite's ``data_version`` tells
        when another connection (this process's ledger included) committed.
        """
        with self._names_lock:
            conn = self._open_names_conn()
            if conn is None:
                from trialbook.plain.types import Vocabulary

                return Vocabulary()
            try:
                key = (conn.execute("PRAGMA data_version").fetchone()[0], self._names_generation)
                if self._vocabulary is None or key != self._vocabulary_key:
                    self._vocabulary = read_vocabulary(conn)
                    self._vocabulary_key = key
            except sqlite3.DatabaseError:
                self._close_names_conn()
                from trialbook.plain.types import Vocabulary

                return Vocabulary()
            return self._vocabulary

    def invalidate_vocabulary(self) -> None:
        """Forget the cached names (the next :meth:`vocabulary` re-reads them)."""
        with self._names_lock:
            self._names_generation += 1

    def _open_names_conn(self) -> sqlite3.Connection | None:
        if self._names_conn is None:
            if not self.db_path.is_file():
                return None
            try:
                self._names_conn = sqlite3.connect(
                    self.db_path.resolve().as_uri() + "?mode=ro",
                    uri=True,
                    check_same_thread=False,  # guarded by _names_lock
                    isolation_level=None,
                )
            except sqlite3.Error:
                return None
        return self._names_conn

    def _close_names_conn(self) -> None:
        if self._names_conn is not None:
            self._names_conn.close()
            self._names_conn = None
            self._vocabulary = None

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None
        with self._names_lock:
            self._close_names_conn()
