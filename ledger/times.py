"""Times as the log stores them: ISO 8601, UTC, fixed width (they sort as text)."""

from __future__ import annotations

from datetime import datetime, timezone

from trialbook.domain.errors import InvalidCommand


def utc_text(value: str | datetime) -> str:
    """A time as the log stores it (ISO 8601, UTC, fixed width); a time without a zone is UTC.

    ``InvalidCommand`` (the message of the CLI's ``--as-of``) if it is not an ISO time.
    """
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip()
        if text.endswith(("z", "Z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidCommand(
                f"{value!r} is not an ISO time; write e.g. 2025-03-03T10:12:00Z "
                "(a time without a zone is UTC)"
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
