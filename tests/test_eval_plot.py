"""``eval show RUN --plot``: the score and latency distributions of a real run drawn as text,
with the helper ``ab analyze --plot`` uses (ASCII where the terminal cannot draw)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Invoke, add_suite
from tests.servers import Behaviour, TaskServer
from trialbook.shell.textplot import histogram_lines


@pytest.fixture(scope="module")
def task_server() -> Iterator[TaskServer]:
    with TaskServer(Behaviour(latency_s=0.002, jitter_s=0.03, seed=5)) as server:
        yield server


def record(invoke: Invoke, tmp_path: Path, server: TaskServer) -> dict:
    # 16 cases, 5 of them expecting another answer: scores 1 and 0 (equals)
    cases = [
        {"id": f"q{i}", "input": f"question {i}",
         "expected": f"echo: question {i}" if i % 3 else "something else"}
        for i in range(16)
    ]  # fmt: skip
    add_suite(invoke, tmp_path / "qa.jsonl", cases)
    r = invoke("eval", "run", "qa", "--target", f"{server.url}/run", "--name", "r1",
               "--epochs", "2", "--scorer", "equals")  # fmt: skip
    assert r.exit_code == 0, r.output
    return json.loads(invoke("eval", "show", "r1", "--json").output)


def section(lines: list[str], title: str) -> list[str]:
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    out = []
    for line in lines[start + 1 :]:
        if not line.startswith("  "):
            break
        out.append(line)
    return out


def test_the_plot_counts_every_rollouts_score_and_latency(
    invoke: Invoke, tmp_path: Path, task_server: TaskServer
) -> None:
    doc = record(invoke, tmp_path, task_server)
    r = invoke("eval", "show", "r1", "--plot")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    scores = [x["score"] for x in doc["rollouts"] if x["score"] is not None]
    assert len(scores) == 32 and set(scores) == {0.0, 1.0}
    rows = section(lines, f"Scores of {len(scores)} scored rollouts:")
    # one line per distinct score, its count last
    counted = {float(row.split()[0]): int(row.split()[-1]) for row in rows}
    assert counted == {s: scores.count(s) for s in set(scores)}
    assert all("█" in row for row in rows)
    latencies = [x["latency_s"] for x in doc["rollouts"] if x["latency_s"] is not None]
    rows = section(lines, f"Latency of {len(latencies)} rollouts:")
    assert len(rows) == 10  # the latencies vary: ten bins from the fastest to the slowest
    assert sum(int(row.split()[-1]) for row in rows) == len(latencies)
    first = re.match(r"\s*(\d+) ?ms to", rows[0])
    assert first is not None and int(first.group(1)) == round(min(latencies) * 1000)
    # the table and totals come first, unchanged
    assert r.output.startswith(invoke("eval", "show", "r1").output)


def test_ascii_where_the_terminal_cannot_draw_and_no_plot_with_json(
    invoke: Invoke, tmp_path: Path, task_server: TaskServer
) -> None:
    from trialbook.shell.commands.eval import render_plot

    doc = record(invoke, tmp_path, task_server)
    text = render_plot(doc, encoding="ascii")
    text.encode("ascii")
    assert "#" in text and "█" not in text
    for extra in ("--json", "--csv", "--markdown"):
        r = invoke("eval", "show", "r1", "--plot", extra)
        assert r.exit_code == 2 and "--plot draws beside the run's table" in r.output


def test_histogram_lines() -> None:
    assert histogram_lines([None], str) == ["no values yet"]
    lines = histogram_lines([float(i) for i in range(100)], lambda x: f"{x:.0f}", bins=4, width=8)
    assert [int(line.split()[-1]) for line in lines] == [25, 25, 25, 25]
    assert lines[0] == " 0 to 25  ████████  25" and lines[-1].startswith("74 to 99")
    assert histogram_lines([1.0, 1.0, 2.0], str, unicode=False, width=4) == [
        "1.0  ####  2",
        "2.0  ##    1",
    ]
