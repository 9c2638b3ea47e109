"""Which commands only read: one list, for the shell's checks and for opening a database.

Kept apart from ``shell/line_checks.py`` (which imports the click group) so that
``shell/app.py`` can ask it without an import cycle.
"""

from __future__ import annotations

#: commands known to only read (and print to stdout); a translation to any other
#: command, or one that writes a file (``--output``), is confirmed like a write, so a
#: command added later is safe before anyone classifies it
READ_ONLY_COMMANDS: frozenset[tuple[str, ...]] = frozenset(
    {
        ("ab", "list"),
        ("ab", "show"),
        ("ab", "summary"),
        ("ab", "analyze"),
        ("events", "log"),
        ("events", "show"),
        ("events", "verify"),
        ("events", "export"),
        ("eval", "list"),
        ("eval", "show"),
        ("eval", "compare"),
        ("eval", "suite", "list"),
        ("eval", "suite", "show"),
        ("audit",),
        ("audit", "report"),
        ("canary", "list"),
        ("canary", "status"),
        ("canary", "assign"),
        ("canary", "audit"),
        ("report", "ab"),
        ("report", "eval"),
        ("report", "canary"),
        ("export", "dataset"),
    }
)

__all__ = ["READ_ONLY_COMMANDS"]
