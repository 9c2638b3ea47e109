"""Costs read the same everywhere (issue #24): `eval list`, `eval show`, `ab show`, the web view
and a decision report all print a cost through :func:`trialbook.domain.units.format_cost`, so a
tiny cost is never ``$0.0000`` or ``1.8e-05`` and a large one has its thousands separator; a judge
without a price says so instead of printing a cost of nothing."""

from __future__ import annotations

import html
import http.client
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Invoke, add_suite
from tests.judge_server import JudgeServer
from tests.judge_server import Reply as JudgeReply
from tests.servers import Behaviour, TaskServer
from trialbook.domain.units import format_cost, parse_cost
from trialbook.shell.commands.eval_render import JUDGE_NO_PRICE
from trialbook.web.server import make_server

TINY, LARGE = 0.000018, 12345.678
#: a dollar amount as any surface might print one ($0.000018, $12,345.68, $0.0000)
AMOUNT = re.compile(r"\$[0-9][0-9,]*(?:\.[0-9]+)?")


@pytest.fixture(scope="module")
def task_server() -> Iterator[TaskServer]:
    with TaskServer(Behaviour()) as server:
        yield server


def amounts(text: str) -> set[str]:
    return set(AMOUNT.findall(text))


def visible(page: bytes) -> str:
    """A page's text as a reader sees it: no scripts, styles, tags or attributes (``data-value``
    carries the raw number, as JSON writes it, on purpose)."""
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", page.decode("utf-8"), flags=re.S)
    return html.unescape(re.sub(r"<[^>]*>", " ", text))


def get(db: Path, *paths: str) -> list[str]:
    server = make_server(db, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        pages = []
        for path in paths:
            conn = http.client.HTTPConnection(str(host), port, timeout=30)
            conn.request("GET", path)
            r = conn.getresponse()
            body = r.read()
            conn.close()
            assert r.status == 200, body[:300]
            pages.append(visible(body))
        return pages
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_tiny_and_a_large_cost_read_the_same_on_every_surface(
    invoke: Invoke, db_path: Path, tmp_path: Path, task_server: TaskServer
) -> None:
    tiny, large = format_cost(TINY), format_cost(LARGE)
    assert (tiny, large) == ("$0.000018", "$12,345.68")
    for run, cost in (("tiny", TINY), ("large", LARGE)):
        add_suite(
            invoke,
            tmp_path / f"{run}.jsonl",
            [{"id": "c1", "input": "x", "metadata": {"cost_usd": cost}}],
        )
        r = invoke("eval", "run", run, "--target", f"http:{task_server.url}/run", "--name", run)
        assert r.exit_code == 0, r.output
        assert f"Run {run} finished: 1 completed, 0 failed · {format_cost(cost)}." in r.output
    assert invoke("ab", "create", "costs", "--variants", "a,b").exit_code == 0
    for variant, cost in (("a", TINY), ("b", LARGE)):
        r = invoke(
            "ab", "add-result", "costs", "--variant", variant, "--success", "--cost", str(cost)
        )
        assert r.exit_code == 0, r.output

    texts = {
        "eval list": invoke("eval", "list").output,
        "ab show": invoke("ab", "show", "costs").output,
        "eval show tiny": invoke("eval", "show", "tiny").output,
        "eval show tiny --markdown": invoke("eval", "show", "tiny", "--markdown").output,
        "eval show large": invoke("eval", "show", "large").output,
        "report eval tiny": invoke("report", "eval", "tiny").output,
        "report eval large": invoke("report", "eval", "large", "--format", "html").output,
        "report ab costs": invoke("report", "ab", "costs").output,
    }
    web = get(db_path, "/runs", "/runs/tiny", "/runs/large", "/runs/tiny/cases/c1", "/tests/costs")
    texts.update(
        zip(
            ("web /runs", "web /runs/tiny", "web /runs/large", "web case", "web /tests/costs"),
            web,
            strict=True,
        )
    )
    texts["report eval large"] = visible(texts["report eval large"].encode())
    both = {"eval list", "ab show", "web /runs", "web /tests/costs", "report ab costs"}
    for name, text in texts.items():
        want = {tiny, large} if name in both else {large} if "large" in name else {tiny}
        # every amount printed is the one format's text of a cost the store holds
        assert amounts(text) == want, (name, amounts(text), text)
        assert "e-05" not in text and "0.0000 " not in text, name
    # and each text reads back as its cost (to the cent above a dollar)
    assert parse_cost(tiny) == TINY and parse_cost(large) == pytest.approx(LARGE, abs=0.005)
    # the JSON outputs keep the raw numbers
    listed = {
        r["run_id"]: r["cost_usd"] for r in json.loads(invoke("eval", "list", "--json").output)
    }
    assert listed == {"tiny": pytest.approx(TINY), "large": pytest.approx(LARGE)}


@pytest.mark.parametrize("priced", [False, True])
def test_a_judge_without_a_price_says_so_instead_of_a_cost_of_nothing(
    invoke: Invoke, db_path: Path, tmp_path: Path, task_server: TaskServer, priced: bool
) -> None:
    add_suite(invoke, tmp_path / "qa.jsonl", [{"id": f"q{i}", "input": "x"} for i in range(3)])
    answer = {"score": 8, "evaluation": [{"criteria": "ok", "passed": True, "reason": "ok"}]}
    with JudgeServer() as judge:
        model = judge.script("j1", JudgeReply(content=json.dumps(answer)))
        spec = f"judge:j,base_url={judge.base_url},model={model},key_env=none"
        if priced:  # USD per million tokens
            spec += ",price_in=0.15,price_out=0.6"
        r = invoke(
            "eval",
            "run",
            "qa",
            "--target",
            f"http:{task_server.url}/run",
            "--name",
            "r",
            "--scorer",
            spec,
            "--retries",
            "0",
        )
        assert r.exit_code == 0, r.output
    data = json.loads(invoke("eval", "show", "r", "--json").output)
    (name,) = data["scorer_names"]
    sc = data["scorers"][name]
    assert sc["judge_prompt_tokens"] > 0 and sc["judge_cost_reported"] == (3 if priced else 0)
    text = invoke("eval", "show", "r").output
    (page,) = get(db_path, "/runs/r")
    if priced:
        want = (0.15 * sc["judge_prompt_tokens"] + 0.6 * sc["judge_completion_tokens"]) / 1e6
        assert sc["judge_cost_usd"] == pytest.approx(want)
        assert f"judge cost {format_cost(want)}" in text and format_cost(want) in page
        assert JUDGE_NO_PRICE not in text and "no price" not in page
    else:
        assert f"judge cost {JUDGE_NO_PRICE}" in text and "no price" in page
        assert "judge cost $" not in text and "$0.00" not in page
