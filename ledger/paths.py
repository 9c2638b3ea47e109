"""Where trialbook keeps its database when none is named (the CLI and the API agree)."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """``$XDG_DATA_HOME/trialbook`` (``~/.local/share/trialbook`` by default)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "trialbook"


def default_db_path() -> Path:
    """``$TRIALBOOK_DB``, else ``data_dir()/trialbook.db``."""
    env = os.environ.get("TRIALBOOK_DB")
    if env:
        return Path(env).expanduser()
    return data_dir() / "trialbook.db"
