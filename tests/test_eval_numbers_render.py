"""The text, CSV and Markdown of `eval show`, `eval rescore` and `eval compare`."""

from __future__ import annotations

import csv
import io
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import test_eval_numbers_averages as averages
from tests.conftest import Invoke, add_suite
from tests.servers import Behaviour, TaskServer

#: the code target of the averages tests (a fixture)
target_module = averages.target_module


@pytest.fixture(scope="module")
def task_server() -> Iterator[TaskServer]:
    with TaskServer(Behaviour()) as server:
        yield server


def average_row(text: str) -> list[str]:
    (line,) = [ln for ln in text.splitlines() if ln.startswith("average")]
    return line.split()


def test_the_average_row_is_over_rollouts_that_reported_tokens_and_cost(
    invoke: Invoke, tmp_path: Path, target_module: str
) -> None:
    cases = [{"id": f"ok{i}", "input": "x", "metadata": {"usage": True}} for i in range(5)]
    cases += [{"id": f"bad{i}", "input": "x", "metadata": {"fail": True}} for i in range(6)]
    add_suite(invoke, tmp_path / "avg.jsonl", cases)
    invoke("eval", "run", "avg", "--target", target_module, "--name", "avg", "--retries", "0")
    out = invoke("eval", "show", "avg").output
    # average, score, reward, latency, tokens, cost
    assert average_row(out)[4:6] == ["3", "$0.50"]
    md = invoke("eval", "show", "avg", "--markdown").output
    (row,) = [ln for ln in md.splitlines() if ln.startswith("| average")]
    assert [c.strip() for c in row.split("|")][6:8] == ["3", "$0.50"]


def test_no_tokens_reported_shows_a_dash(
    invoke: Invoke, tmp_path: Path, target_module: str
) -> None:
    add_suite(invoke, tmp_path / "bare.jsonl", [{"id": "q1", "input": "x"}])
    invoke("eval", "run", "bare", "--target", target_module, "--name", "bare")
    assert average_row(invoke("eval", "show", "bare").output)[4:6] == ["-", "-"]


def test_an_unreachable_judge_shows_errors_and_rescore_counts_them(
    invoke: Invoke, tmp_path: Path, task_server: TaskServer
) -> None:
    add_suite(
        invoke,
        tmp_path / "qa.jsonl",
        [{"id": f"k{i}", "input": f"w{i}", "expected": f"echo: w{i}"} for i in range(4)],
    )
    invoke(
        "eval",
        "run",
        "qa",
        "--target",
        f"{task_server.url}/run",
        "--name",
        "qa",
        "--epochs",
        "2",
        "--scorer",
        "equals",
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = f"judge:down,base_url=http://127.0.0.1:{port}/v1,model=x,key_env=none"
    r = invoke("eval", "rescore", "qa", "--scorer", spec)
    assert r.exit_code == 0, r.output
    assert "Recorded 8 verdicts on 8 rollouts of qa (8 of them scoring errors" in r.output
    out = invoke("eval", "show", "qa").output
    assert "0 FAIL" not in out
    assert out.count("ERROR cannot reach the judge") == 8
    assert "judge:down: mean - · pass - (95% CI 0.0%–100.0%, n=0) · 8 scoring errors" in out
    assert "agreement equals vs judge:down: - of 0 · kappa - · 8 scoring errors left out" in out
    rows = list(csv.DictReader(io.StringIO(invoke("eval", "show", "qa", "--csv").output)))
    assert all(
        r["judge:down:passed"] == "" and "cannot reach" in r["judge:down:error"] for r in rows
    )


def test_compare_lists_failed_rollouts_apart_and_prints_a_sane_interval(
    invoke: Invoke, tmp_path: Path, task_server: TaskServer
) -> None:
    task_server.reset()
    base = [{"id": f"k{i}", "input": f"w{i}", "expected": f"echo: w{i}"} for i in range(3)]
    add_suite(invoke, tmp_path / "c.jsonl", base)
    url = f"{task_server.url}/run"
    invoke("eval", "run", "c", "--target", url, "--name", "a", "--scorer", "equals")
    cand = [dict(c) for c in base]
    cand[1]["input"] = "wrong"
    cand[2]["metadata"] = {"script": ["503"]}
    add_suite(invoke, tmp_path / "c.jsonl", cand)
    task_server.reset()
    invoke(
        "eval", "run", "c", "--target", url, "--name", "b", "--scorer", "equals", "--retries", "0"
    )
    out = invoke("eval", "compare", "a", "b").output
    assert "pass rate 100.0% (n=3) → 50.0% (n=2)" in out
    assert "regressions: 1 pair in 1 case: k1#1" in out
    assert "failed rollouts (target errors, not scored, left out of the pairs): k2#1 in b" in out
    # two pairs: t with 1 degree of freedom, limited to what a difference of scores can be
    assert "paired difference: -0.5 over 2 pairs · 95% CI -1 to 1 (paired t, fixed-horizon)" in out
