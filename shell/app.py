"""State shared by every command of one process: the database path and the open ledger.

The CLI makes one ``App`` per run; the REPL keeps one for the whole session,
so the ledger is opened once and reused line after line.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ledger import Ledger


def default_db_path() -> Path:
    """``$TRIALBOOK_DB``, else ``$XDG_DATA_HOME/trialbook/trialbook.db`` (``~/.local/share`` by default)."""
    env = os.environ.get("TRIALBOOK_DB")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "trialbook" / "trialbook.db"


def state_dir() -> Path:
    """``$XDG_STATE_HOME/trialbook`` (``~/.local/state/trialbook`` by default)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "trialbook"


class App:
    """The database a session works on, opened on first use."""

    def __init__(self, db: str | os.PathLike[str] | None = None, *, interactive: bool = False) -> None:
        self.explicit_db = db is not None or bool(os.environ.get("TRIALBOOK_DB"))
        self.db_path = Path(db).expanduser() if db is not None else default_db_path()
        self.interactive = interactive
        self._ledger: Ledger | None = None
        #: what the user typed for the current command, and which parser understood it
        self.command_text: str = " ".join(["trialbook", *sys.argv[1:]])
        self.tier = "cli"
        #: the test or run in focus (REPL `use NAME`)
        self.focus: str | None = None

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            from ledger import Ledger

            if not self.explicit_db:
                # the default location is ours to create
                self.db_path.parent.mkdir(parents=True, exist_ok=True)
            self._ledger = Ledger(self.db_path)
        self._ledger.metadata["command"] = self.command_text
        self._ledger.metadata["tier"] = self.tier
        return self._ledger

    def event_metadata(self) -> dict[str, Any]:
        return {"command": self.command_text, "tier": self.tier}

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None
