"""Errors raised by eval targets and the rollout executor.

    TrialbookError (domain.errors)
     └── EvalRunnerError
          ├── TargetConfigError   a target spec or config is wrong, or its API-key variable is
          │                       unset (also an InvalidCommand: a value breaks a rule)
          ├── TargetUnavailable   the preflight check could not reach the target (names the URL)
          └── RolloutError        one rollout try failed; the executor retries or records it
               ├── RetryableError    timeout, connection error, HTTP 429/408/5xx (may carry Retry-After)
               └── RolloutRefused    any other failure: bad status, non-JSON, wrong shape, target raised

The first two stop a run before it starts; rollout errors never stop a run.
Each is a ``TrialbookError``: a caller of the Python API catches the ones that
reach it like any other error meant for a user, with the CLI's message.
"""

from __future__ import annotations

from trialbook.domain.errors import InvalidCommand, TrialbookError


class EvalRunnerError(TrialbookError):
    """Base of the eval runner's errors; messages say what was wrong and how to fix it."""


class TargetConfigError(EvalRunnerError, InvalidCommand):
    """A target spec or config is invalid, or a required environment variable is missing."""


class TargetUnavailable(EvalRunnerError):
    """The target could not be reached when the run started."""


class RolloutError(EvalRunnerError):
    """One try of a rollout failed.

    ``kind`` is one of the domain's error kinds (``timeout``, ``connection``,
    ``http_status``, ``bad_response``, ``target_error``); ``latency_s`` is the
    time to the (error) response when one came back.
    """

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        status_code: int | None = None,
        retry_after: float | None = None,
        latency_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status_code = status_code
        self.retry_after = retry_after
        self.latency_s = latency_s


class RetryableError(RolloutError):
    """A transient failure worth retrying after a backoff."""

    retryable = True


class RolloutRefused(RolloutError):
    """A failure that retrying will not fix; recorded as a failed rollout."""
