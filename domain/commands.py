"""The command base class and the aggregate protocol every command family implements.

A command is an imperative request (``CreateTest``, ``AddResult``); handling it
is pure: ``aggregate.decide(state, command) -> [events]`` where the state was
folded from the stream's past events with ``aggregate.evolve``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from domain.errors import InvalidCommand
from domain.events import Event

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


def explain(error: ValidationError) -> str:
    """One line naming the first invalid field and what it must be."""
    first = error.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "__root__")
    msg = first.get("msg", "is invalid")
    msg = msg.removeprefix("Value error, ")
    given = first.get("input")
    shown = f" (got {given!r})" if isinstance(given, (str, int, float)) else ""
    return f"{where}: {msg}{shown}" if where else f"{msg}{shown}"


def build(cls: type[C], **values: Any) -> C:
    """Validate a command, turning pydantic's report into a one-line :class:`InvalidCommand`."""
    try:
        return cls(**values)
    except ValidationError as e:
        raise InvalidCommand(explain(e)) from None
