"""Transcripts on PostgreSQL: the blob is in the server's database, in the result's transaction.

Real server on 127.0.0.1, a database per test (tests/pg.py); the local replica
lives in the test's private ``$XDG_CACHE_HOME`` and is deleted before the export,
so the transcript can only come from the server.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import trialbook
from tests.pg import sql
from tests.test_datasets import EXPORTED, TRANSCRIPT, OpenAIChatExample

pytestmark = pytest.mark.postgres


def _blobs(url: str) -> int:
    return int(sql(url, "SELECT count(*) FROM trialbook.blobs")[0][0])


def test_a_transcript_round_trips_through_the_server(pg_url: str) -> None:
    with trialbook.open(pg_url) as tb:
        tb.ab.create("pg-book", variants=["a", "b"])
        before = _blobs(pg_url)
        with pytest.raises(trialbook.InvalidCommand, match="variant 'zz' is not in test"):
            tb.ab.add_result("pg-book", variant="zz", transcript=TRANSCRIPT)
        assert _blobs(pg_url) == before  # rolled back with the refused result
        tb.ab.add_result("pg-book", variant="b", case_id="k1", transcript=TRANSCRIPT)
        assert _blobs(pg_url) == before + 1
    shutil.rmtree(Path(os.environ["XDG_CACHE_HOME"]) / "trialbook")
    with trialbook.open(pg_url) as tb:
        (row,) = tb.export_dataset("pg-book", format="openai-chat")["records"]
    OpenAIChatExample.model_validate(row["record"])
    assert row["record"] == {"messages": EXPORTED}
