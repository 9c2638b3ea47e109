"""The response cache (``eval run --cache``), against a real task app on 127.0.0.1 that counts
what it is asked, and the cache's own SQLite file under ``$XDG_CACHE_HOME``."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Invoke, count_events, show_json
from tests.servers import Behaviour, TaskServer
from tests.synth_task_app import SynthTaskApp, expected_for
from trialbook.runners.cache import ResponseCache, cache_key, cache_path, parse_duration
from trialbook.runners.eval_errors import TargetConfigError

KEY = "env-key-cache"


@pytest.fixture(scope="module")
def shared_app() -> Iterator[SynthTaskApp]:
    with SynthTaskApp(api_key=KEY) as app:
        yield app


@pytest.fixture
def app(shared_app: SynthTaskApp, monkeypatch: pytest.MonkeyPatch) -> SynthTaskApp:
    shared_app.reset()
    monkeypatch.setenv("ENVIRONMENT_API_KEY", KEY)
    return shared_app


def config(tmp_path: Path, url: str, seeds: str = "[0, 1, 2, 3]", extra: str = "") -> Path:
    path = tmp_path / "synth_eval.toml"
    path.write_text(
        f'[eval]\napp_id = "b77"\ntask_app_url = "{url}"\nenv_name = "b77"\nseeds = {seeds}\n'
        f"return_trace = true\n{extra}",
        encoding="utf-8",
    )
    return path


def rollout_events(db: Path, run: str) -> list[dict]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT data FROM events WHERE type = 'RolloutCompleted' AND stream_id = ? ORDER BY position",
            (f"eval-run:{run}",),
        ).fetchall()
    finally:
        conn.close()
    return [json.loads(r[0]) for r in rows]


def test_a_second_identical_run_calls_nothing_and_is_marked_cached(
    invoke: Invoke, app: SynthTaskApp, tmp_path: Path, db_path: Path
) -> None:
    cfg = str(config(tmp_path, app.url))
    assert invoke("eval", "run", "--config", cfg, "--name", "c1", "--cache").exit_code == 0
    assert app.rollouts == 4
    app.reset()
    r = invoke("eval", "run", "--config", cfg, "--name", "c2", "--cache")
    assert r.exit_code == 0, r.output
    assert (app.rollouts, app.health_calls, app.requests) == (0, 0, 0)  # not even /health
    first, second = rollout_events(db_path, "c1"), rollout_events(db_path, "c2")
    assert all("cached" not in e for e in first)
    assert all(e["cached"] is True for e in second)
    by_case = {e["case_id"]: e for e in first}
    for e in second:
        fresh = by_case[e["case_id"]]
        assert e["score"] == fresh["score"] and e["metrics"] == fresh["metrics"]
        assert e["trace_blob"] == fresh["trace_blob"]  # the same trace, stored once
        assert e["latency_s"] == 0 and "cost_usd" not in e  # not measured, not paid
    # reads: latency is not a measurement, the table says which rows were cached
    data = show_json(invoke, "c2")
    assert all(row["latency_s"] is None for row in data["rollouts"])
    r = invoke("eval", "show", "c2")
    assert "4 rollout(s) read from the response cache" in r.output
    r = invoke("eval", "show", "c2", "--columns", "synth", "--json")
    table = json.loads(r.output)
    assert table["cached"] == 4 and all(row["cached"] for row in table["rows"])
    assert [row["verifier"] for row in table["rows"]] == [
        pytest.approx(expected_for(s)["verifier_score"]) for s in range(4)
    ]
    r = invoke("eval", "show", "c1")
    assert "response cache" not in r.output


def test_a_changed_seed_or_target_makes_fresh_requests(
    invoke: Invoke, app: SynthTaskApp, tmp_path: Path, db_path: Path
) -> None:
    assert (
        invoke("eval", "run", "--config", str(config(tmp_path, app.url)), "--cache").exit_code == 0
    )
    app.reset()
    # seeds 0-3 are stored; 4 and 5 are new
    r = invoke(
        "eval",
        "run",
        "--config",
        str(config(tmp_path, app.url, "[0, 1, 2, 3, 4, 5]")),
        "--name",
        "more",
        "--cache",
    )
    assert r.exit_code == 0, r.output
    assert sorted(app.seeds) == [4, 5] and app.health_calls == 1
    cached = {e["case_id"]: bool(e.get("cached")) for e in rollout_events(db_path, "more")}
    assert cached == {f"seed-{s}": s < 4 for s in range(6)}
    app.reset()
    # another target (another policy_name in its description): every request is fresh
    other = config(tmp_path, app.url, extra='policy_name = "another-policy"\n')
    r = invoke("eval", "run", "--config", str(other), "--name", "other", "--cache")
    assert r.exit_code == 0, r.output
    assert sorted(app.seeds) == [0, 1, 2, 3]
    assert not any(e.get("cached") for e in rollout_events(db_path, "other"))


def test_the_cache_is_off_by_default_and_no_cache_beats_the_config(
    invoke: Invoke, app: SynthTaskApp, tmp_path: Path
) -> None:
    cfg = str(config(tmp_path, app.url, extra="cache = true\n"))
    assert invoke("eval", "run", "--config", cfg, "--name", "a").exit_code == 0  # config: on
    assert cache_path().exists()
    app.reset()
    assert invoke("eval", "run", "--config", cfg, "--name", "b", "--no-cache").exit_code == 0
    assert app.rollouts == 4
    app.reset()
    plain = str(config(tmp_path, app.url, seeds="[9]"))
    assert invoke("eval", "run", "--config", plain, "--name", "p1").exit_code == 0
    assert invoke("eval", "run", "--config", plain, "--name", "p2").exit_code == 0
    assert app.seeds == [9, 9]  # without --cache every run calls


def test_entries_older_than_the_ttl_are_fetched_again(
    invoke: Invoke, app: SynthTaskApp, tmp_path: Path
) -> None:
    cfg = str(config(tmp_path, app.url, seeds="[1, 2]"))
    assert invoke("eval", "run", "--config", cfg, "--name", "t1", "--cache").exit_code == 0
    conn = sqlite3.connect(cache_path())
    with conn:  # age seed 1's entry by two days
        keys = [k for (k,) in conn.execute("SELECT key FROM responses")]
        assert len(keys) == 2
        conn.execute(
            "UPDATE responses SET stored_at = ? WHERE key = ?", (time.time() - 2 * 86400, keys[0])
        )
    conn.close()
    app.reset()
    r = invoke("eval", "run", "--config", cfg, "--name", "t2", "--cache", "--cache-ttl", "1d")
    assert r.exit_code == 0, r.output
    assert len(app.seeds) == 1  # the stale one only
    app.reset()
    r = invoke("eval", "run", "--config", cfg, "--name", "t3", "--cache")  # no TTL: all stored
    assert r.exit_code == 0 and app.rollouts == 0


def test_a_bad_ttl_is_a_one_line_error_and_nothing_is_appended(
    invoke: Invoke, app: SynthTaskApp, tmp_path: Path, db_path: Path
) -> None:
    cfg = str(config(tmp_path, app.url))
    r = invoke("eval", "run", "--config", cfg, "--cache", "--cache-ttl", "soon")
    assert r.exit_code == 1
    assert r.output == (
        "Error: --cache-ttl: 'soon' is not a duration; write a duration like 90s, 30m, 12h, 1d "
        "or 2w (or a number of seconds)\n"
    )
    assert count_events(db_path) == 0 and app.requests == 0


def test_http_targets_are_cached_the_same_way(
    invoke: Invoke, tmp_path: Path, db_path: Path
) -> None:
    suite = tmp_path / "qa.jsonl"
    suite.write_text(
        "".join(json.dumps({"id": f"q{i}", "input": f"hi {i}"}) + "\n" for i in range(3)),
        encoding="utf-8",
    )
    assert invoke("eval", "suite", "add", str(suite)).exit_code == 0
    with TaskServer(Behaviour()) as server:
        url = f"{server.url}/run"
        assert (
            invoke(
                "eval", "run", "qa", "--target", url, "--epochs", "2", "--cache", "--name", "h1"
            ).exit_code
            == 0
        )
        assert server.requests == 6  # each epoch is its own request: epochs stay separate samples
        server.reset()
        assert (
            invoke(
                "eval", "run", "qa", "--target", url, "--epochs", "2", "--cache", "--name", "h2"
            ).exit_code
            == 0
        )
        assert server.requests == 0
        assert (
            invoke(
                "eval", "run", "qa", "--target", url, "--seed", "5", "--cache", "--name", "h3"
            ).exit_code
            == 0
        )
        assert server.requests == 3  # another base seed: other derived seeds, fresh requests
    outputs = {(e["case_id"], e["epoch"]): e["output"] for e in rollout_events(db_path, "h2")}
    assert outputs == {(f"q{i}", ep): f"echo: hi {i}" for i in range(3) for ep in (1, 2)}


def test_the_key_covers_kind_target_request_and_seed(tmp_path: Path) -> None:
    base = cache_key("rollout", {"url": "u"}, {"body": 1}, 0)
    assert base == cache_key("rollout", {"url": "u"}, {"body": 1}, 0)
    others = {
        cache_key("judge", {"url": "u"}, {"body": 1}, 0),
        cache_key("rollout", {"url": "v"}, {"body": 1}, 0),
        cache_key("rollout", {"url": "u"}, {"body": 2}, 0),
        cache_key("rollout", {"url": "u"}, {"body": 1}, 1),
    }
    assert base not in others and len(others) == 4
    cache = ResponseCache(tmp_path / "c.sqlite")
    assert cache.get(base) is None
    cache.put(base, "rollout", {"output": "x"})
    assert cache.get(base) == {"output": "x"} and (cache.hits, cache.misses) == (1, 1)
    cache.close()
    assert os.path.getsize(tmp_path / "c.sqlite") > 0


@pytest.mark.parametrize(
    "text,seconds",
    [("90s", 90), ("30m", 1800), ("12h", 43200), ("1d", 86400), ("2w", 1209600), (45, 45)],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["0", "-1d", "1y", "", True])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(TargetConfigError, match="--cache-ttl"):
        parse_duration(bad)


def test_judge_calls_are_cached_the_same_way(
    invoke: Invoke, app: SynthTaskApp, tmp_path: Path, db_path: Path
) -> None:
    from tests.judge_server import JudgeServer
    from tests.judge_server import Reply as JudgeReply

    answer = {"score": 0.75, "evaluation": [], "result": "fine"}
    cfg = str(config(tmp_path, app.url, seeds="[0, 1]"))
    with JudgeServer() as judge:
        model = judge.script("cj", JudgeReply(content=json.dumps(answer)))
        spec = f"judge:j,base_url={judge.base_url},model={model},key_env=none"
        for run in ("j1", "j2"):
            r = invoke("eval", "run", "--config", cfg, "--scorer", spec, "--name", run, "--cache")
            assert r.exit_code == 0, r.output
        assert len(judge.requests(model)) == 2  # asked once per rollout, in the first run only
        r = invoke("eval", "run", "--config", cfg, "--scorer", spec, "--name", "j3")
        assert r.exit_code == 0 and len(judge.requests(model)) == 4  # no --cache: asked again
    conn = sqlite3.connect(db_path)
    try:
        rows = conn.execute(
            "SELECT stream_id, data FROM events WHERE type = 'VerdictRecorded' ORDER BY position"
        ).fetchall()
    finally:
        conn.close()
    usage = {
        (s.removeprefix("eval-run:"), json.loads(d)["case_id"]): json.loads(d)["usage"]
        for s, d in rows
    }
    for case in ("seed-0", "seed-1"):
        assert "cached" not in usage[("j1", case)] and usage[("j1", case)]["latency_s"] is not None
        assert usage[("j2", case)]["cached"] is True
        assert "latency_s" not in usage[("j2", case)] and "cost_usd" not in usage[("j2", case)]
        assert usage[("j2", case)]["prompt_tokens"] == usage[("j1", case)]["prompt_tokens"]
    assert show_json(invoke, "j2")["scorers"]["judge:j"]["mean"] == pytest.approx(0.75)
