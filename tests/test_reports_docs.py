"""docs/python.md's decision reports and datasets section runs as written.

Its code blocks are executed in order against the fixture log of tests/web_fixture.py
(the names they use are that log's: A/B test checkout-flow, eval runs base and cand,
canary router-v2), in a temporary working directory; what they print and write is
checked, and nothing is appended to the log.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import sqlite3
from pathlib import Path

import pytest

import trialbook
from tests.web_fixture import build

DOC = Path(__file__).resolve().parent.parent / "docs" / "python.md"
SECTION = "## Decision reports and datasets"


def blocks() -> list[str]:
    text = DOC.read_text(encoding="utf-8").split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def count(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    finally:
        conn.close()


def test_the_report_and_dataset_examples_run_and_say_what_their_comments_say(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "db").mkdir()
    web = build(tmp_path / "db")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    code = blocks()
    assert len(code) == 2, "the section has a report example and a dataset example"
    before = count(web.path)
    out = io.StringIO()
    namespace: dict[str, object] = {}
    with trialbook.open(web.path) as tb, contextlib.redirect_stdout(out):
        namespace["tb"] = tb
        for block in code:
            exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - the doc's own code
    printed = out.getvalue()

    report = namespace["report"]
    assert isinstance(report, trialbook.Report) and report.kind == "ab"
    # the matrix line the comment quotes is what the loop prints, up to its ellipsis
    quoted = re.search(r"# (ready primary\.warm .*?) …", code[0])
    assert quoted is not None and quoted.group(1) in printed
    assert printed.startswith(f"{report.recommendation.decision} {report.recommendation.reason}")

    # the same page as render() gives, byte for byte (a plot's clip-path id is its digest)
    written_page = (work / "report.html").read_text(encoding="utf-8")
    assert "<svg" in written_page and written_page == report.render("html")
    assert namespace["doc"] == report.model_dump(mode="json")
    gate, then = namespace["gate"], namespace["then"]
    assert isinstance(gate, trialbook.Report) and gate.baseline == "base"
    assert {r.id for r in gate.matrix if r.id.endswith("_budget")} == {
        "latency_budget",
        "cost_budget",
    }
    assert isinstance(then, trialbook.Report) and then.position <= report.position

    data = namespace["data"]
    assert isinstance(data, dict) and data["records"]
    assert {r["split"] for r in data["records"]} <= {"train", "val"}
    assert all(r["scores"]["equals"]["score"] >= 0.5 for r in data["records"])
    assert data["skipped"]["filtered_out"] > 0  # min_score left some out
    lines = []
    for f in data["files"]:  # one file per split, beside output's name
        assert f["path"].startswith("cand.") and f["split"] in ("train", "val")
        mine = [json.loads(x) for x in (work / f["path"]).read_text(encoding="utf-8").splitlines()]
        assert len(mine) == f["records"] == sum(r["split"] == f["split"] for r in data["records"])
        lines += mine
    assert len(lines) == len(data["records"])
    assert all(line["messages"][-1]["role"] == "assistant" for line in lines)
    assert count(web.path) == before  # neither call appends anything
