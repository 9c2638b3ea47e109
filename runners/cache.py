"""The response cache: a target's (or a judge's) answer to an identical request, read back
instead of calling again. Off unless asked for (``eval run --cache``, ``cache = true``).

- Key: SHA-256 of the canonical JSON of ``{"kind", "target", "request", "seed"}``:
  ``target`` is the target's description as the run records it (secrets redacted,
  keys named only by their variable), ``request`` what identifies the call
  (:meth:`Target.cache_request`: what is sent, without the run's id, with the
  epoch), ``seed`` the rollout's seed. So another run of the same case, epoch and
  seed against the same target hits; a different seed, target, policy or case
  misses. Judges use ``kind = "judge"`` and their own description and request.
- Only successful answers are stored; failed calls are always made again.
- Storage: one SQLite file, ``$XDG_CACHE_HOME/trialbook/responses.sqlite``
  (``~/.cache/trialbook`` by default), table ``responses(key, kind, value, stored_at)``;
  ``value`` is the answer as compact JSON, in the order it came (a judge reading a cached
  output sees the same text). Deleting the file empties the cache.
- TTL: with ``ttl_s`` an entry older than that is a miss (and is replaced by the
  fresh answer); ``--cache-ttl 1d`` (:func:`parse_duration`).
- A hit is recorded as such: the rollout event has ``cached: true``, its latency is
  0 and not a measurement (reads leave it out of latency figures), its cost is not
  counted (nothing was paid), and ``eval show`` says how many rollouts were cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trialbook.domain.canonical import canonical_json
from trialbook.runners.eval_errors import TargetConfigError

FILENAME = "responses.sqlite"
DURATION_HELP = "write a duration like 90s, 30m, 12h, 1d or 2w (or a number of seconds)"
_UNITS = {"d": 86400, "w": 604800}


def cache_path() -> Path:
    """``$XDG_CACHE_HOME/trialbook/responses.sqlite`` (``~/.cache`` when the variable is unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trialbook" / FILENAME


def parse_duration(value: Any, *, what: str = "--cache-ttl") -> float:
    """Seconds in ``"1d"``, ``"2w"`` (days and weeks, for cache lifetimes) or any duration
    :func:`trialbook.domain.units.parse_duration` reads (``90s``, ``30m``, ``12h``, ``1h30m``,
    a number of seconds); more than 0. :class:`TargetConfigError` naming ``what`` otherwise."""
    from trialbook.domain.units import UnitError
    from trialbook.domain.units import parse_duration as parse_seconds

    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TargetConfigError(f"{what}: {value!r} is not a duration; {DURATION_HELP}")
    text = str(value)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(d|days?|w|weeks?)\s*", text.lower())
    try:
        seconds = float(m.group(1)) * _UNITS[m.group(2)[0]] if m else parse_seconds(text)
    except UnitError:
        raise TargetConfigError(f"{what}: {value!r} is not a duration; {DURATION_HELP}") from None
    if not 0 < seconds < float("inf"):
        raise TargetConfigError(f"{what}: the duration must be more than 0; {DURATION_HELP}")
    return seconds


def cache_key(kind: str, target: Mapping[str, Any], request: Any, seed: int | None) -> str:
    """Contract: hex SHA-256 of ``canonical_json({"kind", "target", "request", "seed"})``."""
    doc = {"kind": kind, "target": dict(target), "request": request, "seed": seed}
    return hashlib.sha256(canonical_json(doc).encode("utf-8")).hexdigest()


def _as_stored(value: Mapping[str, Any]) -> str:
    """An answer as compact JSON in its own key order (read back exactly as it came)."""
    return json.dumps(dict(value), ensure_ascii=False, separators=(",", ":"), allow_nan=False)


class ResponseCache:
    """The on-disk response cache (see the module docstring). Use from one thread at a time."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, ttl_s: float | None = None):
        self.path = Path(path) if path is not None else cache_path()
        self.ttl_s = ttl_s
        self.hits = 0
        self.misses = 0
        self._conn: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, kind TEXT NOT NULL, "
                    "value TEXT NOT NULL, stored_at REAL NOT NULL)"
                )
                conn.commit()
            except (OSError, sqlite3.Error) as e:
                raise TargetConfigError(
                    f"cannot open the response cache {self.path} ({e}); "
                    "set XDG_CACHE_HOME to a writable folder or run without --cache"
                ) from None
            self._conn = conn
        return self._conn

    def open(self) -> ResponseCache:
        """Open (creating) the file now, so a problem shows before the run starts."""
        self._db()
        return self

    def has(self, key: str) -> bool:
        """Whether :meth:`get` would answer ``key`` now (counts neither a hit nor a miss)."""
        row = self._db().execute("SELECT stored_at FROM responses WHERE key = ?", (key,)).fetchone()
        return row is not None and (self.ttl_s is None or time.time() - row[0] <= self.ttl_s)

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored answer for ``key``, or None (absent, or older than the TTL)."""
        row = (
            self._db()
            .execute("SELECT value, stored_at FROM responses WHERE key = ?", (key,))
            .fetchone()
        )
        if row is None or (self.ttl_s is not None and time.time() - row[1] > self.ttl_s):
            self.misses += 1
            return None
        self.hits += 1
        value: dict[str, Any] = json.loads(row[0])
        return value

    def put(self, key: str, kind: str, value: Mapping[str, Any]) -> None:
        """Store (or replace) the answer for ``key``."""
        conn = self._db()
        conn.execute(
            "INSERT OR REPLACE INTO responses (key, kind, value, stored_at) VALUES (?, ?, ?, ?)",
            (key, kind, _as_stored(value), time.time()),
        )
        conn.commit()

    def count(self) -> int:
        """How many answers are stored."""
        return int(self._db().execute("SELECT count(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
