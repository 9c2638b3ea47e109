"""A database for the web view's tests, recorded for real (the Python API, the CLI, local servers).

- ``checkout-flow``: two variants, a guardrail, 600 results, a decision whose note
  holds a ``<script>`` payload;
- ``xss-test``: a description, a prompt and result notes and errors that are
  markup meant to run (each sets ``window.__pwned`` if it ever does);
- eval runs ``base`` and ``cand`` of suite ``qa`` against a task server on
  127.0.0.1, scored by ``equals`` and by an LLM judge (a scripted judge server)
  whose reasons are payloads too; a case id is a payload; ``cand`` has two
  regressions and one failed rollout;
- canary ``router-v2`` (stages 10, 50, 100, an error-rate guardrail): results at
  each of two stages, advanced once and then halted, its description and
  decision notes payloads.
"""

from __future__ import annotations

import json
import random
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from tests.judge_server import JudgeServer
from tests.judge_server import Reply as JudgeReply
from tests.servers import Behaviour, TaskServer
from trialbook.shell.cli import cli

#: markup that would set ``window.__pwned`` if any page let it run
PAYLOADS = (
    "<script>window.__pwned = 'script'</script>",
    "<img src=x onerror=\"window.__pwned = 'img'\">",
    "\"'><svg onload=\"window.__pwned='svg'\"></svg> & <b>bold</b>",
)
XSS_CASE = "<script>window.__pwned='case'</script>"
NOTE = "faster & same success <script>window.__pwned='note'</script>"
TEST = "checkout-flow"
XSS_TEST = "xss-test"
RUNS = ("base", "cand")
CANARY = "router-v2"


@dataclass(frozen=True)
class WebDb:
    path: Path

    def cli(self, *args: str) -> Any:
        """``trialbook --db PATH ARGS… --json``, parsed."""
        r = CliRunner().invoke(
            cli, ["--db", str(self.path), *args, "--json"], catch_exceptions=False
        )
        assert r.exit_code == 0, r.output
        return json.loads(r.output)


def fingerprint(path: Path) -> tuple[int, str, int]:
    """(events, head hash, total bytes of the events' data): what browsing must never change."""
    conn = sqlite3.connect(path)
    try:
        (count,) = conn.execute("SELECT count(*) FROM events").fetchone()
        head = conn.execute("SELECT hash FROM events ORDER BY position DESC LIMIT 1").fetchone()
        (size,) = conn.execute(
            "SELECT coalesce(sum(length(data) + length(metadata)), 0) FROM events"
        ).fetchone()
        return count, head[0] if head else "", size
    finally:
        conn.close()


def _invoke(db: Path, *args: str) -> str:
    r = CliRunner().invoke(cli, ["--db", str(db), *args], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return r.output


def build(directory: Path) -> WebDb:
    """Record the fixture database in ``directory`` and return it."""
    import trialbook

    db = directory / "web.db"
    rng = random.Random(17)
    with trialbook.open(db) as tb:
        tb.ab.create(TEST, variants=["cold", "warm"], guardrails=["completion_time:+10%"],
                     description="Warm cache against a cold start")  # fmt: skip
        rows = [
            {
                "variant": v,
                "success": rng.random() < (0.55 if v == "cold" else 0.75),
                "completion_time": rng.gauss(40.0 if v == "cold" else 38.0, 5.0),
                "tool_calls": 10,
                "successful_calls": rng.randint(7, 10),
            }
            for v in ("cold", "warm") * 300
        ]
        tb.ab.add_results(TEST, rows)
        tb.ab.conclude(TEST, ship="warm", note=NOTE)
        tb.ab.create(XSS_TEST, variants=["plain", "fancy"], description=PAYLOADS[1], prompt=PAYLOADS[0],
                     category=PAYLOADS[2])  # fmt: skip
        tb.ab.add_results(
            XSS_TEST,
            [
                {"variant": ("plain", "fancy")[i % 2], "success": i % 3 == 0,
                 "notes": PAYLOADS[i % 3], "error_messages": [PAYLOADS[(i + 1) % 3]]}
                for i in range(30)
            ],
        )  # fmt: skip
        tb.ab.conclude(XSS_TEST, stop=True, note=PAYLOADS[0])
    cases = [
        {
            "id": f"q{i}",
            "input": f"question {i}",
            "expected": f"echo: question {i}",
            "criteria": ["answers"],
        }
        for i in range(12)
    ]
    cases.append(
        {"id": XSS_CASE, "input": PAYLOADS[2], "expected": PAYLOADS[0], "criteria": [PAYLOADS[1]]}
    )
    answer = {
        "score": 8,
        "evaluation": [
            {"criteria": "answers", "passed": True, "reason": "judge says " + PAYLOADS[0]}
        ],
        "result": "solid " + PAYLOADS[1],
    }
    suite = directory / "qa.jsonl"
    with (
        TaskServer(Behaviour(latency_s=0.002, jitter_s=0.02, seed=3)) as server,
        JudgeServer() as judge,
    ):
        model = judge.script("web", JudgeReply(content=json.dumps(answer)))
        scorers = [
            "--scorer",
            "equals",
            "--scorer",
            f"judge:j,base_url={judge.base_url},model={model},key_env=none",
        ]
        url = f"{server.url}/run"
        suite.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
        _invoke(db, "eval", "suite", "add", str(suite))
        _invoke(db, "eval", "run", "qa", "--target", url, "--name", "base", *scorers)
        cases[3]["input"] = cases[4]["input"] = "wrong"
        cases[5]["metadata"] = {"script": ["503"]}
        suite.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
        _invoke(db, "eval", "suite", "add", str(suite))
        server.reset()
        _invoke(
            db, "eval", "run", "qa", "--target", url, "--name", "cand", "--retries", "0", *scorers
        )
    with trialbook.open(db) as tb:
        c = tb.canaries.create(CANARY, control="router-v1", candidate="router-v2", stages="10,50,100",
                               guardrails=["error_rate:+2pp"], min_results=20, salt="web",
                               description=PAYLOADS[0])  # fmt: skip
        for stage, units in ((1, 300), (2, 120)):
            c.add_results(
                {"variant": c.assign(f"u{stage}-{i}"), "success": rng.random() < 0.8,
                 "tool_calls": 4, "successful_calls": 4 if rng.random() < 0.97 else 3}
                for i in range(units)
            )  # fmt: skip
            if stage == 1:
                c.advance(note=PAYLOADS[2])
        c.halt(note=PAYLOADS[0])
    return WebDb(db)
