"""``events export`` carries the transcripts, outputs and traces events name by hash.

Before, an exported history moved only the events: a result's transcript (and
an eval rollout's large output or trace, a judge's raw answer) stayed behind in
the source's ``blobs`` table, so the copy read them as missing. Now each blob an
exported event names is written once, on a line of its own before that event,
checked against its hash on import and stored in the import's transaction.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.conftest import count_events
from tests.pg import sql
from trialbook.shell.cli import cli
from trialbook.store.blob_lines import blob_line, parse_blob_line, references
from trialbook.store.verify import verify_file

MESSAGES = [
    {"role": "user", "content": "where is my order? naïve “quotes”"},
    {"role": "assistant", "content": "It ships today."},
]


def run(db: str | Path, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["--db", str(db), *args], input=input, catch_exceptions=False)


def export_bytes(db: str | Path, *args: str) -> bytes:
    r = run(db, "events", "export", *args)
    assert r.exit_code == 0, r.output
    return r.stdout_bytes


def blobs(db: Path) -> dict[str, bytes]:
    conn = sqlite3.connect(db)
    try:
        return {h: bytes(c) for h, c in conn.execute("SELECT hash, content FROM blobs")}
    finally:
        conn.close()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A log with two results, one with a transcript, and a third result with the same one."""
    db = tmp_path / "source.db"
    transcript = tmp_path / "t.json"
    transcript.write_text(json.dumps(MESSAGES), encoding="utf-8")
    assert run(db, "ab", "create", "t", "--variants", "a,b").exit_code == 0
    assert run(db, "ab", "add-result", "t", "--variant", "a", "--success").exit_code == 0
    for variant in ("b", "a"):
        r = run(db, "ab", "add-result", "t", "--variant", variant, "--transcript", str(transcript))
        assert r.exit_code == 0, r.output
    return db


def test_an_export_holds_each_named_blob_once_before_the_first_event_naming_it(
    source: Path,
) -> None:
    lines = export_bytes(source).decode("utf-8").splitlines()
    (digest,) = blobs(source)
    kinds = ["blob" if line.startswith('{"base64":') else "event" for line in lines]
    assert kinds == ["event", "event", "blob", "event", "event"]
    assert json.loads(lines[3])["data"]["transcript_blob"] == digest
    assert list(references(lines[4])) == [digest]  # named again: not written again
    name, content, content_type = parse_blob_line(lines[2])
    assert name == digest == hashlib.sha256(content).hexdigest()
    assert json.loads(content) == MESSAGES and content_type == "application/json"


def test_export_import_export_is_byte_identical_and_the_transcript_arrives(
    source: Path, tmp_path: Path
) -> None:
    first = export_bytes(source)
    copy = tmp_path / "copy.db"
    r = run(copy, "events", "import", "-", input=first.decode("utf-8"))
    assert r.exit_code == 0, r.output
    assert "Stored 1 blobs" in r.output
    assert blobs(copy) == blobs(source)
    assert export_bytes(copy) == first
    assert verify_file(copy).head_hash == verify_file(source).head_hash
    # the copy's dataset export reads the transcript the source recorded
    out = tmp_path / "ds.jsonl"
    r = run(copy, "export", "dataset", "t", "--format", "openai-chat", "--output", str(out))
    assert r.exit_code == 0, r.output
    records = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert records and all(
        rec["messages"][0]["content"] == MESSAGES[0]["content"] for rec in records
    )


def test_no_blobs_leaves_them_out_and_the_import_says_what_is_missing(
    source: Path, tmp_path: Path
) -> None:
    bare = export_bytes(source, "--no-blobs")
    assert b'"base64"' not in bare and bare.count(b"\n") == 4
    (digest,) = blobs(source)
    copy = tmp_path / "copy.db"
    r = run(copy, "events", "import", "-", input=bare.decode("utf-8"))
    assert r.exit_code == 0
    assert "1 transcripts, outputs or traces the events name are neither" in r.stderr
    assert digest[:12] in r.stderr
    assert blobs(copy) == {}
    # importing the full export afterwards repairs the copy: the events are skipped, the blob stored
    r = run(copy, "events", "import", "-", input=export_bytes(source).decode("utf-8"))
    assert r.exit_code == 0 and "Nothing to import" in r.output and "Stored 1 blobs" in r.output
    assert blobs(copy) == blobs(source)
    js = json.loads(run(copy, "events", "import", "-", "--json", input=bare.decode()).output)
    assert js["blobs_missing"] == [] and js["blobs"] == 0


def test_upcast_exports_are_for_reading_and_carry_no_blobs(source: Path) -> None:
    assert b'"base64"' not in export_bytes(source, "--upcast")


def test_an_export_to_a_file_counts_events_and_blobs(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "log.jsonl"
    r = run(source, "events", "export", "--output", str(out))
    assert r.exit_code == 0
    assert "Exported 4 events and 1 blobs to" in r.stderr
    assert out.read_bytes() == export_bytes(source)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda line: line.replace('"blob":"', '"blob":"X', 1), "SHA-256"),
        (lambda line: line.replace('{"base64":"', '{"base64":"AAAA', 1), "do not hash to its name"),
        (lambda line: line.replace('{"base64":"', '{"base64":"!!', 1), "not valid base64"),
        (
            lambda line: line.replace('"content_type"', '"kind"', 1),
            "exactly base64, blob and content_type",
        ),
    ],
)
def test_a_bad_blob_line_is_refused_and_nothing_is_imported(
    source: Path, tmp_path: Path, change: object, message: str
) -> None:
    lines = export_bytes(source).decode("utf-8").splitlines(keepends=True)
    assert callable(change)
    lines[2] = change(lines[2].rstrip("\n")) + "\n"
    copy = tmp_path / "copy.db"
    r = CliRunner().invoke(cli, ["--db", str(copy), "events", "import", "-"], input="".join(lines))
    assert r.exit_code == 1
    (line,) = r.output.strip().splitlines()
    assert "standard input line 3 is not an exported blob" in line and message in line
    assert "nothing was imported" in line
    assert count_events(copy) == 0 and (not copy.exists() or blobs(copy) == {})


def test_a_blob_line_round_trips_any_bytes() -> None:
    content = bytes(range(256)) * 3
    digest = hashlib.sha256(content).hexdigest()
    assert parse_blob_line(blob_line(digest, content, "application/octet-stream")) == (
        digest,
        content,
        "application/octet-stream",
    )


@pytest.mark.postgres
def test_sqlite_to_postgres_and_back_carries_the_blobs(
    source: Path, pg_url: str, tmp_path: Path
) -> None:
    first = export_bytes(source)
    r = run(pg_url, "events", "import", "-", input=first.decode("utf-8"))
    assert r.exit_code == 0, r.output
    (digest,) = blobs(source)
    assert sql(pg_url, "SELECT hash FROM trialbook.blobs") == [(digest,)]
    assert export_bytes(pg_url) == first
    back = tmp_path / "back.db"
    r = run(back, "events", "import", "-", input=export_bytes(pg_url).decode("utf-8"))
    assert r.exit_code == 0, r.output
    assert blobs(back) == blobs(source) and export_bytes(back) == first
