"""Helpers shared by the benchmark scripts (not part of the installed package)."""

from __future__ import annotations

import random
import resource
import sqlite3
from pathlib import Path
from typing import Any

RAW_DDL = """
CREATE TABLE events (
    position INTEGER PRIMARY KEY, event_id TEXT NOT NULL, stream_id TEXT NOT NULL, version INTEGER NOT NULL,
    type TEXT NOT NULL, schema_version INTEGER NOT NULL, data TEXT NOT NULL, metadata TEXT NOT NULL,
    recorded_at TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE UNIQUE INDEX events_event_id ON events (event_id);
CREATE UNIQUE INDEX events_stream_version ON events (stream_id, version);
"""


def raw_connection(path: Path, synchronous: str) -> sqlite3.Connection:
    """A plain sqlite3 connection set up like trialbook's (WAL, same synchronous) with the same table."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.executescript(RAW_DDL)
    return conn


def sample_result(
    rng: random.Random, variants: tuple[str, ...] = ("cold", "warm"), i: int = 0
) -> dict[str, Any]:
    """One realistic result, as the fields a user would type or import."""
    calls = rng.randint(6, 16)
    return {
        "variant": variants[i % len(variants)],
        "session_id": f"s-{i:08d}",
        "case_id": f"case-{i // len(variants):06d}",
        "success": rng.random() < 0.7,
        "tool_calls": calls,
        "successful_calls": calls - rng.randint(0, 3) if calls >= 3 else calls,
        "completion_time": round(rng.uniform(10, 90), 2),
        "messages": rng.randint(3, 14),
        "tokens": rng.randint(2_000, 20_000),
        "cost": round(rng.uniform(0.005, 0.08), 5),
    }


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (VmHWM: not inherited across exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
