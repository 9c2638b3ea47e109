"""The event log interface every backend implements, and its envelopes.

The store knows nothing of A/B tests: it keeps envelopes with a type name, a
schema version and a JSON body, in one global order (``position``), grouped
into streams with a per-stream ``version``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from trialbook.domain.canonical import chain_hash, envelope_json

try:  # orjson parses the log ~5x faster than json (replays parse every event); output is identical
    from orjson import loads as parse_json
except ImportError:  # pragma: no cover - orjson is a declared dependency
    from json import loads as parse_json  # type: ignore[assignment]


@dataclass(frozen=True)
class NewEvent:
    """An event to append. ``event_id`` may be supplied by the client for idempotency."""

    type: str
    data: dict[str, Any]
    schema_version: int = 1
    metadata: dict[str, Any] = field(default_factory=dict)
    event_id: str | None = None
    #: the writer checked that ``data`` passes ``canonical_json``'s check of a body
    #: (``canonical.plain_json``: text, numbers and flat containers orjson writes as the
    #: canonical encoder does), so it is written without checking each value again
    plain_data: bool = field(default=False, compare=False, repr=False)

    @classmethod
    def of(
        cls,
        type: str,
        data: dict[str, Any],
        schema_version: int,
        metadata: dict[str, Any],
        event_id: str | None,
    ) -> NewEvent:
        """The same event as ``NewEvent(...)`` with every field given, at a third of the cost
        (a frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``;
        the ledger builds one per appended event)."""
        e = object.__new__(cls)
        e.__dict__.update(
            type=type,
            data=data,
            schema_version=schema_version,
            metadata=metadata,
            event_id=event_id,
        )
        return e

    @classmethod
    def all_of(
        cls,
        type: str,
        datas: Iterable[dict[str, Any]],
        schema_version: int,
        metadata: dict[str, Any],
        *,
        plain_data: bool = False,
    ) -> list[NewEvent]:
        """``[NewEvent.of(type, d, schema_version, metadata, None) for d in datas]``, built
        from one template (a batch of one event type: an import's results), each with
        ``plain_data`` as given."""
        template = {
            "type": type,
            "data": None,
            "schema_version": schema_version,
            "metadata": metadata,
            "event_id": None,
            "plain_data": plain_data,
        }
        new = object.__new__
        events = []
        for data in datas:
            e = new(cls)
            fields = e.__dict__
            fields.update(template)
            fields["data"] = data
            events.append(e)
        return events


@dataclass(slots=True)
class RecordedEvent:
    """An event as committed to the log. ``data_json``/``metadata_json`` are the stored canonical text.

    Treat it as immutable. (It is not a frozen dataclass only because replays
    build millions of them and a frozen ``__init__`` is ten times slower.)
    """

    position: int
    event_id: str
    stream_id: str
    version: int
    type: str
    schema_version: int
    data_json: str
    metadata_json: str
    recorded_at: str
    prev_hash: str
    hash: str
    #: the writer's own parsed body for events just appended (spares projections a parse)
    _data: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def data(self) -> dict[str, Any]:
        """The parsed body (for events just appended, the writer's own dict: do not mutate it)."""
        if self._data is not None:
            return self._data
        return parse_json(self.data_json)  # type: ignore[no-any-return]

    @property
    def metadata(self) -> dict[str, Any]:
        return parse_json(self.metadata_json)  # type: ignore[no-any-return]

    def envelope(self) -> str:
        """Canonical JSON of the envelope without its hash (what the hash covers)."""
        return envelope_json(
            position=self.position,
            event_id=self.event_id,
            stream_id=self.stream_id,
            version=self.version,
            type=self.type,
            schema_version=self.schema_version,
            data_json=self.data_json,
            metadata_json=self.metadata_json,
            recorded_at=self.recorded_at,
            prev_hash=self.prev_hash,
        )

    def expected_hash(self) -> str:
        """The hash this envelope must carry given its ``prev_hash``."""
        return chain_hash(self.prev_hash, self.envelope())

    def to_dict(self) -> dict[str, Any]:
        """The envelope as a JSON-ready dict (data and metadata parsed), for export and --json."""
        return {
            "position": self.position,
            "event_id": self.event_id,
            "stream_id": self.stream_id,
            "version": self.version,
            "type": self.type,
            "schema_version": self.schema_version,
            "data": self.data,
            "metadata": self.metadata,
            "recorded_at": self.recorded_at,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


#: Called inside the append transaction with the backend's connection and the
#: events just written (in position order). Projections and snapshots use it so
#: their rows commit, or roll back, together with the events.
InTransaction = Callable[[Any, Sequence[RecordedEvent]], None]


class EventStore(Protocol):
    """An append-only, hash-chained event log."""

    def append(
        self,
        stream_id: str,
        expected_version: int | None,
        events: Sequence[NewEvent],
        *,
        in_transaction: InTransaction | None = None,
    ) -> list[RecordedEvent]:
        """Append ``events`` to ``stream_id`` atomically.

        ``expected_version`` is the stream's version the caller decided on (0 for
        a new stream), or ``None`` to skip the check. Raises ConcurrencyError on a
        clash. If every event carries an ``event_id`` that is already recorded with
        the same content, nothing is written and the original records are returned.
        """
        ...

    def stream_version(self, stream_id: str) -> int:
        """The stream's current version (0 if it has no events)."""
        ...

    def read_stream(self, stream_id: str, after_version: int = 0) -> Iterator[RecordedEvent]:
        """The stream's events after ``after_version``, in version order."""
        ...

    def read_all(
        self,
        after_position: int = 0,
        *,
        until_position: int | None = None,
        stream_id: str | None = None,
        types: Sequence[str] | None = None,
        batch_size: int = 10_000,
    ) -> Iterator[RecordedEvent]:
        """Events in position order, streamed in batches (never the whole log in memory)."""
        ...

    def head(self) -> tuple[int, str]:
        """The last position and its hash (0 and the genesis hash for an empty log)."""
        ...

    def get(self, key: int | str) -> RecordedEvent | None:
        """One event by position or event id."""
        ...

    def close(self) -> None: ...
