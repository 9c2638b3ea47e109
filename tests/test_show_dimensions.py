"""``ab show --json``/``--csv`` and ``tb.ab.results`` carry each result's dimensions.

The read model keeps none (they stay in the ``ResultAdded`` event), so they are read from
the events of the results shown; a result recorded without any has ``{}``.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import trialbook
from trialbook.shell.cli import cli


def _record(db: str) -> None:
    with trialbook.open(db) as tb:
        tb.ab.create("t", variants=["a", "b"])
        tb.ab.add_result("t", variant="a", success=True, dimensions={"category": "billing"})
        tb.ab.add_result("t", variant="b", success=False)
        tb.ab.add_result(
            "t",
            variant="b",
            success=True,
            dimensions={"category": "naïve, “quoted”", "tier": "pro"},
        )


def _check(db: str) -> None:
    want = [{"category": "billing"}, {}, {"category": "naïve, “quoted”", "tier": "pro"}]
    with trialbook.open(db) as tb:
        assert [r["dimensions"] for r in tb.ab.results("t")] == want
        assert [r["dimensions"] for r in tb.ab.results("t", limit=1)] == want[-1:]
    r = CliRunner().invoke(cli, ["--db", db, "ab", "show", "t", "--json"])
    assert r.exit_code == 0, r.output
    assert [x["dimensions"] for x in json.loads(r.output)["results"]] == want
    r = CliRunner().invoke(cli, ["--db", db, "ab", "show", "t", "--csv"])
    rows = list(csv.DictReader(io.StringIO(r.output)))
    assert [(x["dimension:category"], x["dimension:tier"]) for x in rows] == [
        ("billing", ""),
        ("", ""),
        ("naïve, “quoted”", "pro"),
    ]
    # the table keeps its columns
    assert CliRunner().invoke(cli, ["--db", db, "ab", "show", "t"]).exit_code == 0


def test_sqlite(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    _record(db)
    _check(db)


@pytest.mark.postgres
def test_postgres(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _record(pg_url)
    _check(pg_url)
