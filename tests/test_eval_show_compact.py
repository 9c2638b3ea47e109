"""``eval show`` reads top-down: totals and pass rates first, then what failed (grouped by case,
sorted by case id, counted, cut with "… and N more"), then the rows; ``--case`` honours
``--csv`` and ``--markdown``. Against a real task app on 127.0.0.1."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Invoke, add_suite, show_json
from tests.servers import Behaviour, TaskServer
from trialbook.shell.commands.eval_render import LIST_LIMIT, case_order, listed


@pytest.fixture(scope="module")
def server() -> Iterator[TaskServer]:
    with TaskServer(Behaviour(latency_s=0.0)) as s:
        yield s


N_FAILING, N_FLAKY = 12, 2


@pytest.fixture
def report_run(invoke: Invoke, server: TaskServer, tmp_path: Path) -> str:
    """15 cases × 2 epochs × 2 scorers: c1…c12 wrong in both epochs, c13 and c14 in one."""
    server.reset()
    server.scripts.clear()
    cases = [{"id": f"c{i}", "input": f"w{i}", "expected": f"echo: w{i}"} for i in range(1, 16)]
    add_suite(invoke, tmp_path / "qa.jsonl", cases)
    for i in range(1, N_FAILING + 1):
        server.scripts[f"c{i}"] = ["answer:wrong"] * 2
    for i in range(N_FAILING + 1, N_FAILING + N_FLAKY + 1):
        server.scripts[f"c{i}"] = ["answer:wrong"]
    r = invoke(
        "eval", "run", "qa", "--target", f"{server.url}/run", "--name", "big", "--epochs", "2",
        "--scorer", "equals", "--scorer", "contains:echo", "--retries", "0",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    server.scripts.clear()
    return "big"


def test_case_ids_sort_by_their_numbers_and_long_lists_are_cut() -> None:
    assert sorted(["c10", "c2", "c1", "b", "c1a"], key=case_order) == [
        "b",
        "c1",
        "c1a",
        "c2",
        "c10",
    ]
    items = [f"x{i}" for i in range(LIST_LIMIT + 3)]
    assert listed(items) == ", ".join(items[:LIST_LIMIT]) + " … and 3 more"
    assert listed(items[:2]) == "x0, x1"


def test_totals_and_pass_rates_come_before_the_rows_and_failures_are_grouped(
    invoke: Invoke, report_run: str
) -> None:
    out = invoke("eval", "show", report_run).output
    lines = out.splitlines()
    header = next(i for i, ln in enumerate(lines) if ln.startswith("case "))
    first_row = header + 2
    assert lines[first_row].startswith("c1 ")
    for needle in ("equals: mean", "contains:echo: mean", "failing:", "flaky cases:"):
        at = next(i for i, ln in enumerate(lines) if ln.startswith(needle))
        assert at < header, needle
    data = show_json(invoke, report_run)
    bad = N_FAILING + N_FLAKY
    failing = next(ln for ln in lines if ln.startswith("failing:"))
    expected_cases = [f"c{i}" for i in range(1, 11)]
    assert failing.startswith(
        f"failing: {bad} cases ({N_FAILING * 4 + N_FLAKY * 2} failed verdicts): "
    )
    assert failing.endswith(f" … and {bad - LIST_LIMIT} more")
    # sorted by case id (c2 before c10), each case once with its scorers and epochs
    listed_cases = [part.split(" (")[0] for part in failing.split("verdicts): ", 1)[1].split("), ")]
    assert listed_cases[:LIST_LIMIT] == expected_cases
    assert "c1 (contains:echo #1,2, equals #1,2)" in failing
    # the full lists are in --json
    failed_json = {
        r["case_id"]
        for r in data["rollouts"]
        for v in r["verdicts"].values()
        if v["passed"] is False
    }
    assert len(failed_json) == bad
    flaky = next(ln for ln in lines if ln.startswith("flaky cases:"))
    assert len(data["flaky_cases"]) == N_FLAKY * 2
    by_case: dict[str, list[str]] = {}
    for c in data["flaky_cases"]:
        (p,), (f,) = c["passed_epochs"], c["failed_epochs"]
        by_case.setdefault(c["case_id"], []).append(f"{c['scorer']} pass #{p} fail #{f}")
    assert flaky == (
        f"flaky cases: {N_FLAKY} cases pass in some epochs and fail in others: "
        + ", ".join(f"{c} ({', '.join(sorted(v))})" for c, v in sorted(by_case.items()))
    )
    # one line per failed criterion, the cases it failed in listed once each, sorted, cut
    crit_lines = [ln for ln in lines if ln.startswith("failed criterion ")]
    assert [ln.split(" — ")[0] for ln in crit_lines] == [
        "failed criterion contains:echo: output contains 'echo'",
        "failed criterion equals: output equals the expected value",
    ]
    contains = next(ln for ln in crit_lines if ln.startswith("failed criterion contains:echo: "))
    assert contains.endswith(
        f" — {bad} cases: "
        + ", ".join(f"c{i}" for i in range(1, 11))
        + f" … and {bad - LIST_LIMIT} more"
    )
    assert crit_lines[1].endswith(contains.split(" — ")[1])
    assert all(len(ln) < 400 for ln in crit_lines)


def test_case_with_csv_and_markdown_gives_its_criterion_rows(
    invoke: Invoke, report_run: str
) -> None:
    r = invoke("eval", "show", report_run, "--case", "c1", "--csv")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.output)))
    detail = invoke("eval", "show", report_run, "--case", "c1", "--json").output
    assert len(rows) == 4 and {row["case"] for row in rows} == {"c1"}
    assert sorted((row["scorer"], row["epoch"], row["ok"]) for row in rows) == [
        ("contains:echo", "1", "no"),
        ("contains:echo", "2", "no"),
        ("equals", "1", "no"),
        ("equals", "2", "no"),
    ]
    assert all(row["reason"] and row["reason"] in detail for row in rows)
    md = invoke("eval", "show", report_run, "--case", "c1", "--markdown").output
    assert md.startswith("| scorer | epoch | repeat | score | passed | criterion | ok | reason |")
    assert md.count("\n| ") == 4  # the separator row starts "|---"


def test_failed_criteria_are_one_line_each_most_cases_first_and_cut_after_ten() -> None:
    from trialbook.shell.commands.eval_render import findings_lines

    def verdict(crit: list[str]) -> dict:
        return {"passed": False, "failed_criteria": crit, "score": 0.0}

    # criterion k fails in cases 1..k (so criterion 12 fails most often)
    rollouts = [
        {
            "case_id": f"c{i}",
            "epoch": 1,
            "status": "completed",
            "verdicts": {"judge:j": verdict([f"crit {k:02d}" for k in range(i, 13)])},
        }
        for i in range(1, 13)
    ]
    data = {"rollouts": rollouts, "flaky_cases": [], "judge_disagreements": [], "agreements": []}
    lines = [ln for ln in findings_lines(data) if "criteri" in ln]
    assert lines[0] == (
        "failed criterion judge:j: crit 12 — 12 cases: "
        + ", ".join(f"c{i}" for i in range(1, 11))
        + " … and 2 more"
    )
    assert [ln.split(" — ")[0].removeprefix("failed criterion judge:j: ") for ln in lines[:10]] == [
        f"crit {k:02d}" for k in range(12, 2, -1)
    ]
    assert lines[10] == "… and 2 more failed criteria in 12 cases (see --json or --case ID)"
    assert len(lines) == 11


def test_failed_rollouts_flaky_cases_and_judge_disagreements_are_grouped_by_case() -> None:
    from trialbook.shell.commands.eval_render import findings_lines

    rollouts = [
        {"case_id": f"c{i}", "epoch": e, "status": "failed", "verdicts": {}}
        for i in (12, 3)
        for e in (2, 1)
    ]
    flaky = [
        {"scorer": s, "case_id": f"c{i}", "passed_epochs": [1], "failed_epochs": [2, 3]}
        for i in range(13, 0, -1)
        for s in ("judge:b", "equals")
    ]
    disagree = [
        {"scorer": "judge:b", "case_id": "c2", "epoch": 2, "passes": 1, "fails": 2},
        {"scorer": "judge:a", "case_id": "c2", "epoch": 1, "passes": 2, "fails": 1},
        {"scorer": "judge:a", "case_id": "c10", "epoch": 1, "passes": 1, "fails": 1},
    ]
    data = {
        "rollouts": rollouts,
        "flaky_cases": flaky,
        "judge_disagreements": disagree,
        "agreements": [],
    }
    lines = findings_lines(data)
    assert lines[0] == "failed rollouts: 4 rollouts of 2 cases: c3#1,2, c12#1,2"
    assert lines[1] == (
        "flaky cases: 13 cases pass in some epochs and fail in others: "
        + ", ".join(
            f"c{i} (equals pass #1 fail #2,3, judge:b pass #1 fail #2,3)" for i in range(1, 11)
        )
        + " … and 3 more"
    )
    assert lines[2] == (
        "judge repeats disagree on 2 cases: c2 (judge:a #1 2 pass/1 fail, judge:b #2 1 pass/2 fail), "
        "c10 (judge:a #1 1 pass/1 fail)"
    )
