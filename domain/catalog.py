"""Every event type trialbook defines, for the code that must know them all.

The registry itself is ``EVENT_TYPES`` in :mod:`trialbook.domain.events`: each
``Event`` subclass adds itself there when its module is imported. This module
imports every module that defines events, so asking it for the types never
misses one that nothing else has imported yet; ``events.py`` need not import
its own subclasses (which would be an import cycle).
"""

from __future__ import annotations

from typing import Any

# importing a module registers its event types
import trialbook.domain.ab
import trialbook.domain.canary
import trialbook.domain.evals
import trialbook.domain.verdicts  # noqa: F401
from trialbook.domain.events import EVENT_TYPES, Event


def all_event_types() -> dict[str, type[Event]]:
    """Every event type trialbook defines, by stored type name."""
    return EVENT_TYPES


def read_as(
    event_type: str, schema_version: int, data: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    """``(schema version, data)`` of a stored event as readers see it today (upcast if it is older)."""
    from trialbook.domain.events import UnknownEventType, upcast

    cls = all_event_types().get(event_type)
    if cls is None or schema_version >= cls.schema_version:
        return schema_version, data
    try:
        return cls.schema_version, upcast(event_type, schema_version, data)
    except UnknownEventType:
        return schema_version, data
