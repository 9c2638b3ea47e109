"""The command base class and the aggregate protocol every command family implements.

A command is an imperative request (``CreateTest``, ``AddResult``); handling it
is pure: ``aggregate.decide(state, command) -> [events]`` where the state was
folded from the stream's past events with ``aggregate.evolve``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from trialbook.domain.errors import InvalidCommand
from trialbook.domain.events import Event

S = TypeVar("S")
C = TypeVar("C", bound="Command")


class Aggregate(Protocol[S]):
    """What the ledger needs to load state and handle a command for one kind of stream."""

    #: bump when the state's shape changes so stored snapshots are ignored
    state_version: int

    def initial(self) -> S: ...
    def evolve(self, state: S, event: Event) -> S: ...
    def decide(self, state: S, command: Command) -> Sequence[Event]: ...
    def snapshot(self, state: S) -> dict[str, Any]: ...
    def restore(self, data: dict[str, Any]) -> S: ...


class Command(BaseModel):
    """Base of all commands: immutable, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, defer_build=True)

    aggregate: ClassVar[Any]

    def stream_id(self) -> str:  # pragma: no cover - every command overrides it
        raise NotImplementedError


#: plain words for pydantic's "wrong type" errors, for values written in JSON (``plain=True``)
PLAIN_TYPE_ERRORS = {
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "int_parsing_size": "expected a whole number of at most 9223372036854775807",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "string_type": "expected text",
}


def explain(error: ValidationError, *, plain: bool = False) -> str:
    """One line naming the first invalid field and what it must be.

    With ``plain``, a value of the wrong type is described in JSON's words
    (``success: expected true or false (got 'yes')``, ``(got true)``) rather than pydantic's.
    """
    first = error.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "__root__")
    msg = first.get("msg", "is invalid")
    msg = msg.removeprefix("Value error, ")
    given = first.get("input")
    if plain:
        msg = PLAIN_TYPE_ERRORS.get(first.get("type", ""), msg)
    if plain and isinstance(given, bool):
        shown = f" (got {'true' if given else 'false'})"
    else:
        shown = f" (got {given!r})" if isinstance(given, (str, int, float)) else ""
    return f"{where}: {msg}{shown}" if where else f"{msg}{shown}"


def build(cls: type[C], **values: Any) -> C:
    """Validate a command, turning pydantic's report into a one-line :class:`InvalidCommand`."""
    try:
        return cls(**values)
    except ValidationError as e:
        raise InvalidCommand(explain(e)) from None
