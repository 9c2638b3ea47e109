"""``tb.evals``: suites and eval runs from code."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trialbook._client import Trialbook


class Evals:
    """The suites and eval runs of one database."""

    def __init__(self, tb: Trialbook) -> None:
        self._tb = tb
