"""Blob lines of an ``events export`` file: the bytes events name by hash travel with them.

Events do not hold large payloads: a result's transcript, a rollout's output
and trace, a judge's raw answer are stored once in the ``blobs`` table under
their SHA-256, and the event carries only that hash in a field whose name ends
in ``_blob`` (``transcript_blob``, ``output_blob``, ``trace_blob``,
``raw_blob``). An export that carried only the events would move a history
whose transcripts read as missing on the other side, so ``events export`` writes
each blob an exported event names once, on a line of its own just before the
first such event::

    {"base64":"eyJ…","blob":"9f86d0…","content_type":"application/json"}

The line is canonical JSON (sorted keys), so it starts with ``{"base64":`` and
can never be mistaken for an event line (which starts with ``{"data":``).
Blobs are outside the hash chain (the chain covers the hash the event holds,
and the import checks that the bytes hash to it), so ``events verify`` and the
head hash are the same with or without them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

#: a field naming a blob, as the stored canonical JSON spells it
REFERENCE = re.compile(r'"[a-z_]*_blob":"([0-9a-f]{64})"')
PREFIX = '{"base64":'
MARK = '_blob":"'


def references(data_json: str) -> Iterator[str]:
    """The blob hashes an event's stored ``data`` (canonical JSON text) names, in order."""
    if MARK in data_json:  # the cheap test first: most events name no blob
        for m in REFERENCE.finditer(data_json):
            yield m.group(1)


def blob_line(digest: str, content: bytes, content_type: str) -> str:
    """The export line of one blob (no newline)."""
    encoded = base64.b64encode(content).decode("ascii")
    return f'{{"base64":"{encoded}","blob":"{digest}","content_type":{json.dumps(content_type)}}}'


def is_blob_line(text: str) -> bool:
    return text.startswith(PREFIX)


def parse_blob_line(text: str) -> tuple[str, bytes, str]:
    """``(digest, content, content_type)`` of a blob line; ``ValueError`` says what is wrong."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(obj, dict) or set(obj) != {"base64", "blob", "content_type"}:
        raise ValueError("a blob line holds exactly base64, blob and content_type")
    digest, encoded, content_type = obj["blob"], obj["base64"], obj["content_type"]
    if not (isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest)):
        raise ValueError("blob must be a lowercase hex SHA-256")
    if not isinstance(encoded, str) or not isinstance(content_type, str):
        raise ValueError("base64 and content_type must be strings")
    try:
        content = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("base64 is not valid base64") from None
    if hashlib.sha256(content).hexdigest() != digest:
        raise ValueError(f"the bytes of blob {digest[:12]}… do not hash to its name")
    return digest, content, content_type


def read_blob(store: Any, digest: str) -> tuple[bytes, str] | None:
    """A blob's bytes and content type: from the file's blobs table (a SQLite log, or a
    PostgreSQL client's local replica), else from the store (a replica asks its server)."""
    row = store.conn.execute(
        "SELECT content, content_type FROM blobs WHERE hash = ?", (digest,)
    ).fetchone()
    if row is not None:
        return bytes(row[0]), str(row[1])
    content = store.get_blob(digest)
    return None if content is None else (content, "application/octet-stream")


class ExportBlobs:
    """The blob lines of one export: each blob an exported event names, once, before it."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.seen: set[str] = set()
        self.written = 0

    def before(self, data_json: str) -> str:
        """The lines (each ending in a newline) to write before the event whose data this is."""
        out = []
        for digest in references(data_json):
            if digest in self.seen:
                continue
            self.seen.add(digest)
            found = read_blob(self.store, digest)
            if found is not None:  # a blob this log never had is not invented
                out.append(blob_line(digest, *found) + "\n")
                self.written += 1
        return "".join(out)


class ImportBlobs:
    """What one import learns of blobs: those the file carries (stored as they are read, in
    the import's transaction on SQLite) and those its events name."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.carried: set[str] = set()
        self.named: set[str] = set()

    def take(self, text: str) -> bool:
        """Store ``text`` if it is a blob line (``ValueError`` says what is wrong with it)."""
        if not is_blob_line(text):
            return False
        digest, content, content_type = parse_blob_line(text)
        self.store.put_blob(content, content_type)
        self.carried.add(digest)
        return True

    def saw(self, data_json: str) -> None:
        """Note the blobs an imported event's data names."""
        self.named.update(references(data_json))

    def missing(self) -> list[str]:
        """Blobs the events name that are neither in the file nor already in the log."""
        return sorted(d for d in self.named - self.carried if self.store.get_blob(d) is None)
