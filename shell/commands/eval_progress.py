"""The live progress line of ``trialbook eval run`` (and resume, retry-failed)."""

from __future__ import annotations

import sys
from typing import Any


class ProgressLine:
    """The live progress line: redrawn in place on a TTY; otherwise only the final line is printed."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.last: Any = None

    def __call__(self, progress: Any) -> None:
        self.last = progress
        if self.tty:
            self.stream.write("\r\x1b[K" + progress.line())
            self.stream.flush()

    def close(self) -> None:
        """End the line (TTY) or print the final line (not a TTY); a second call does nothing."""
        if self.last is None:
            return
        last, self.last = self.last, None
        if self.tty:
            self.stream.write("\n")
        else:
            self.stream.write(last.line() + "\n")
        self.stream.flush()
