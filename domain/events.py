"""The event base class, the registry of event types, and upcasting.

Every event is a frozen pydantic model whose class name is its type, in the
past tense (``TestCreated``, ``ResultAdded``). Stored events carry their type
name and ``schema_version``; :func:`load_event` upgrades old versions with the
registered upcasters before validating, so stored rows are never rewritten.

Each subclass registers itself in ``EVENT_TYPES`` when its module is imported;
this module imports none of them. Code that must know every type asks
:func:`trialbook.domain.catalog.all_event_types`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from trialbook.domain.errors import DomainError

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

EVENT_TYPES: dict[str, type[Event]] = {}
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


class UnknownEventType(DomainError):
    """A stored event names a type this version of trialbook does not know."""


class Value(BaseModel):
    """Base of immutable value objects carried inside events and commands."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, defer_build=True)


class Event(BaseModel):
    """Base of all domain events: immutable, strict about unknown fields.

    Stored data omits fields whose value is ``None``; every optional field
    therefore defaults to ``None``, and changing such a default is a schema
    change (bump ``schema_version`` and register an upcaster).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, defer_build=True)

    #: the stored type name; defaults to the class name
    event_type: ClassVar[str] = ""
    #: bump when the shape changes, and register an upcaster from the old version
    schema_version: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.event_type = cls.__dict__.get("event_type") or cls.__name__
        if not cls.__name__.startswith("_"):  # a private base of several events is no type
            EVENT_TYPES[cls.event_type] = cls

    def to_data(self) -> dict[str, Any]:
        """The JSON-ready body stored in the log, without ``None`` fields."""
        return self.model_dump(mode="json", exclude_none=True)


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a function turning ``event_type`` data at ``from_version`` into the next version."""

    def register(fn: Upcaster) -> Upcaster:
        UPCASTERS[(event_type, from_version)] = fn
        return fn

    return register


def upcast(event_type: str, schema_version: int, data: dict[str, Any]) -> dict[str, Any]:
    """Upgrade ``data`` from ``schema_version`` to the current version of its type."""
    cls = EVENT_TYPES.get(event_type)
    if cls is None:
        raise UnknownEventType(
            f"event type {event_type!r} is unknown to this trialbook; upgrade trialbook to read this log"
        )
    version = schema_version
    while version < cls.schema_version:
        step = UPCASTERS.get((event_type, version))
        if step is None:
            raise UnknownEventType(f"no upcaster for {event_type} from schema version {version}")
        data = step(dict(data))
        version += 1
    return data


def load_event(event_type: str, schema_version: int, data: dict[str, Any]) -> Event:
    """Validate stored data as the current version of its event type."""
    cls = EVENT_TYPES.get(event_type)
    if cls is None:
        raise UnknownEventType(
            f"event type {event_type!r} is unknown to this trialbook; upgrade trialbook to read this log"
        )
    if schema_version != cls.schema_version:
        data = upcast(event_type, schema_version, data)
    return cls.model_validate(data)
