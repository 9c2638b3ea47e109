"""Transcripts: the chat messages of one recorded session, validated, and stored as a blob.

A transcript is a list of chat messages in the shape OpenAI's chat APIs use::

    [{"role": "system", "content": "You are a helpful agent."},
     {"role": "user", "content": "Book a table for two"},
     {"role": "assistant", "content": null,
      "tool_calls": [{"id": "call_1", "type": "function",
                      "function": {"name": "book", "arguments": "{\\"seats\\": 2}"}}]},
     {"role": "tool", "tool_call_id": "call_1", "content": "booked"},
     {"role": "assistant", "content": "Done: a table for two at 8."}]

- ``role``: ``system``, ``developer``, ``user``, ``assistant`` or ``tool``;
- ``content``: text (``null`` only on an assistant message that makes tool calls);
- ``name`` (optional): who spoke;
- ``tool_calls`` (assistant only): ``{id, type: "function", function: {name, arguments}}``,
  ``arguments`` being JSON text (an object given here is written as JSON text);
- ``tool_call_id`` (tool only, required there): the call this message answers.

A result (A/B or canary) carries its transcript by reference: the event holds
``transcript_blob``, the SHA-256 of the transcript's canonical JSON
(:func:`transcript_blob`), and the bytes go to the store's blobs table in the
same transaction. Pure: no I/O here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from trialbook.domain.canonical import canonical_json
from trialbook.domain.commands import explain
from trialbook.domain.errors import InvalidCommand
from trialbook.domain.events import Value

TranscriptRole = Literal["system", "developer", "user", "assistant", "tool"]
#: the most messages one transcript may hold
MAX_MESSAGES = 10_000
#: the largest transcript stored, as canonical JSON (it is written in the result's transaction
#: and kept for ever: a runaway log pasted as one message should not grow the file by 60 MB)
MAX_TRANSCRIPT_BYTES = 8 * 1024 * 1024


class ToolFunction(Value):
    """The function a tool call names, with its arguments as JSON text."""

    name: str = Field(min_length=1)
    arguments: str = "{}"

    @field_validator("arguments", mode="before")
    @classmethod
    def _text(cls, v: Any) -> Any:
        if isinstance(v, (dict, list)):
            return canonical_json(v)
        return v


class ToolCall(Value):
    """One tool call an assistant message makes."""

    id: str = Field(min_length=1)
    type: Literal["function"] = "function"
    function: ToolFunction


class ChatMessage(Value):
    """One message of a transcript (see the module docstring)."""

    role: TranscriptRole
    content: str | None = None
    name: str | None = None
    tool_calls: tuple[ToolCall, ...] | None = None
    tool_call_id: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ChatMessage:
        if self.tool_calls is not None and self.role != "assistant":
            raise ValueError(f"tool_calls are made by assistant messages, not {self.role}")
        if self.tool_calls is not None and not self.tool_calls:
            raise ValueError("tool_calls is an empty list; leave it out")
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError('a tool message needs "tool_call_id", the call it answers')
        if self.tool_call_id is not None and self.role != "tool":
            raise ValueError(f"tool_call_id belongs on tool messages, not {self.role}")
        if self.content is None and not (self.role == "assistant" and self.tool_calls):
            raise ValueError('needs "content" as text (null only beside tool_calls)')
        return self

    def to_json(self) -> dict[str, Any]:
        """The message as JSON, fields that are not set left out."""
        return self.model_dump(mode="json", exclude_none=True)


def parse_transcript(value: Any, where: str = "transcript") -> tuple[ChatMessage, ...]:
    """Validate a transcript (a list of message mappings); one-line ``InvalidCommand`` otherwise.

    The error names ``where``, the message's place (1-based) and the field.
    """
    if isinstance(value, Mapping) and "messages" in value:
        value = value["messages"]
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise InvalidCommand(
            f'{where}: expected a list of chat messages [{{"role": ..., "content": ...}}], '
            f"not {type(value).__name__}"
        )
    if not value:
        raise InvalidCommand(f"{where}: is empty; give at least one message")
    if len(value) > MAX_MESSAGES:
        raise InvalidCommand(f"{where}: has {len(value)} messages; at most {MAX_MESSAGES}")
    out = []
    for i, raw in enumerate(value, start=1):
        if isinstance(raw, ChatMessage):
            out.append(raw)
            continue
        if not isinstance(raw, Mapping):
            raise InvalidCommand(
                f'{where}: message {i} must be an object {{"role": ..., "content": ...}}, '
                f"not {type(raw).__name__}"
            )
        try:
            out.append(ChatMessage.model_validate(dict(raw)))
        except ValidationError as e:
            raise InvalidCommand(f"{where}: message {i}: {explain(e, plain=True)}") from None
    return tuple(out)


def read_transcript(text: str, where: str) -> tuple[ChatMessage, ...]:
    """A transcript file's text: a JSON list of messages, an object with ``messages``, or
    JSONL (one message per line; blank lines skipped). Errors name ``where`` and the line."""
    stripped = text.strip()
    if not stripped:
        raise InvalidCommand(f"{where}: is empty; write a JSON list of chat messages")
    try:
        whole_value = json.loads(stripped)
    except json.JSONDecodeError as whole:
        if not stripped.startswith("{"):
            raise InvalidCommand(
                f"{where}: not valid JSON ({whole.msg} at line {whole.lineno}, column {whole.colno})"
            ) from None
    else:
        if isinstance(whole_value, dict) and "role" in whole_value:
            whole_value = [whole_value]  # JSONL of one message
        return parse_transcript(whole_value, where)
    messages = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            messages.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise InvalidCommand(
                f"{where}: line {number}: not valid JSON ({e.msg} at column {e.colno})"
            ) from None
    return parse_transcript(messages, where)


def transcript_data(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """The transcript as JSON (what its blob holds)."""
    return [m.to_json() for m in messages]


def transcript_blob(messages: Sequence[ChatMessage]) -> tuple[str, bytes]:
    """Contract: ``(sha256 hex, bytes)`` of the transcript's canonical JSON; equal
    transcripts give equal hashes, whatever key order or spacing they were written in."""
    import hashlib

    data = canonical_json(transcript_data(messages)).encode("utf-8")
    return hashlib.sha256(data).hexdigest(), data


def stash_transcript(
    fields: Mapping[str, Any], where: str = "transcript"
) -> tuple[dict[str, Any], bytes | None]:
    """``fields`` with its ``transcript`` (messages) replaced by ``transcript_blob`` (their hash),
    and the blob's bytes to store (None when there is no transcript).

    A ``transcript_blob`` given directly is refused: the hash must name bytes stored with it.
    """
    out = dict(fields)
    if "transcript_blob" in out:
        raise InvalidCommand(
            f"{where}: give the transcript itself (transcript: a list of messages), not transcript_blob"
        )
    value = out.pop("transcript", None)
    if value is None:
        return out, None
    digest, data = transcript_blob(parse_transcript(value, where))
    if len(data) > MAX_TRANSCRIPT_BYTES:
        raise InvalidCommand(
            f"{where}: is {len(data) / 2**20:.1f} MiB; at most {MAX_TRANSCRIPT_BYTES // 2**20} MiB "
            "is stored: trim long tool outputs or keep the full log elsewhere"
        )
    out["transcript_blob"] = digest
    return out, data
