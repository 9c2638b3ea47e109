"""``eval compare RUN_A RUN_B --by metadata.KEY`` (issue #21): the paired comparison per segment of
cases (suite metadata), each the cluster-robust interval of its pairs at a Bonferroni level, Holm
across segments, labelled exploratory; through the CLI against a real task server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from statsmodels.stats.multitest import multipletests

from tests.conftest import Invoke, add_suite
from tests.servers import Behaviour, TaskServer
from trialbook.ledger.eval_compare import clustered_interval


@pytest.fixture(scope="module")
def server() -> Iterator[TaskServer]:
    with TaskServer(Behaviour(latency_s=0.0)) as s:
        yield s


def test_compare_by_case_metadata(invoke: Invoke, server: TaskServer, tmp_path: Path) -> None:
    server.reset()
    cases = [
        {"id": f"k{i}", "input": f"w{i}", "expected": f"echo: w{i}",
         "metadata": {"topic": "math" if i <= 6 else "prose"}}
        for i in range(1, 13)
    ]  # fmt: skip
    add_suite(invoke, tmp_path / "qa.jsonl", cases)
    common = ("--target", f"{server.url}/run", "--scorer", "equals", "--retries", "0")
    assert invoke("eval", "run", "qa", *common, "--name", "a").exit_code == 0
    server.reset()
    server.scripts.update({f"k{i}": ["answer:x"] for i in (1, 2, 3, 4)})  # math regresses
    assert invoke("eval", "run", "qa", *common, "--name", "b").exit_code == 0
    server.scripts.clear()
    r = invoke("eval", "compare", "a", "b", "--by", "metadata.topic", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    seg = data["segments"]
    assert seg["exploratory"] is True
    got = {s["segment"]: s for s in seg["segments"]}
    assert set(got) == {"math", "prose"}
    ps = []
    for name, s in got.items():
        rows = [
            p
            for p in data["rows"]
            if (p["case_id"] in {f"k{i}" for i in range(1, 7)}) == (name == "math")
        ]
        diffs = [p["b_score"] - p["a_score"] for p in rows]
        want = clustered_interval(diffs, [p["case_id"] for p in rows], level=1 - 0.05 / 2)
        assert s["lift"] == pytest.approx(want["lift"]) and s["ci"] == want["ci"]
        ps.append(s["p_value"])
    assert got["math"]["lift"] == pytest.approx(-4 / 6)
    known = [p for p in ps if p is not None]
    adjusted = [s["p_adjusted"] for s in got.values() if s["p_value"] is not None]
    assert adjusted == pytest.approx(list(multipletests(known, method="holm")[1]))
    text = invoke("eval", "compare", "a", "b", "--by", "metadata.topic").output
    assert "By metadata.topic (exploratory" in text and "math: 6 pairs" in text
    bad = invoke("eval", "compare", "a", "b", "--by", "metadata.region")
    assert bad.exit_code != 0 and "has metadata 'region'" in bad.output
