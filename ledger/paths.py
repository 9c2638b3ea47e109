"""Where trialbook keeps its database when none is named (the CLI and the API agree), and what ``--db`` names."""

from __future__ import annotations

import os
from pathlib import Path

from trialbook.store.urls import is_postgres_url, replica_path


def data_dir() -> Path:
    """``$XDG_DATA_HOME/trialbook`` (``~/.local/share/trialbook`` by default)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "trialbook"


def default_db_path() -> Path:
    """``$TRIALBOOK_DB``, else ``data_dir()/trialbook.db`` (for a PostgreSQL URL, its local replica)."""
    target = default_db()
    return replica_path(target) if isinstance(target, str) else target


def default_db() -> str | Path:
    """``$TRIALBOOK_DB`` (a file path, or a ``postgresql://`` URL kept as text), else ``data_dir()/trialbook.db``."""
    env = os.environ.get("TRIALBOOK_DB")
    if env:
        return env if is_postgres_url(env) else Path(env).expanduser()
    return data_dir() / "trialbook.db"


def resolve_db(target: str | os.PathLike[str] | None) -> tuple[str | None, Path]:
    """``(url, path)`` of a ``--db`` value (None: the default): a PostgreSQL URL and its local
    replica file, or no URL and the SQLite file."""
    chosen = default_db() if target is None else target
    if is_postgres_url(chosen):
        return str(chosen), replica_path(str(chosen))
    return None, Path(chosen).expanduser()
