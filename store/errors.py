"""Errors raised by event log backends.

TrialbookError (domain.errors)
 └── StoreError
      ├── NotATrialbookDatabase   the file exists but is not a trialbook log
      ├── StoreUnavailable        the file or its directory cannot be opened or written
      ├── ConcurrencyError        the stream moved on since its state was read
      ├── IdempotencyConflict     an event id was reused with different content
      ├── AppendOnlyViolation     an UPDATE or DELETE of the log was attempted
      └── ChainError              the hash chain or stream versions do not check out
"""

from __future__ import annotations

from trialbook.domain.errors import TrialbookError


class StoreError(TrialbookError):
    """An event log operation failed; the message says why and how to fix it."""


class NotATrialbookDatabase(StoreError):
    """The file exists but is not a trialbook event log."""


class StoreUnavailable(StoreError):
    """The log file or its directory cannot be opened or written."""


class ConcurrencyError(StoreError):
    """The stream's version is not the expected one: another writer got there first."""


class IdempotencyConflict(StoreError):
    """An event id that is already recorded was appended again with different content."""


class AppendOnlyViolation(StoreError):
    """The log refuses updates and deletes."""


class ChainError(StoreError):
    """Envelopes do not form a valid hash chain, or do not continue this log's chain."""
