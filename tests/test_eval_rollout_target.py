"""The ``rollout`` target and synth-ai eval configs, end to end against a real task app on
127.0.0.1 that checks every request against synth-ai's RolloutRequest contract."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Invoke, count_events, show_json
from tests.synth_task_app import SynthTaskApp, expected_for
from trialbook.domain.evals import rollout_seed
from trialbook.domain.suites import Case, SuiteFileError, parse_seeds, seed_cases
from trialbook.runners.eval_errors import RolloutRefused, TargetConfigError
from trialbook.runners.executor import make_jobs
from trialbook.runners.targets import make_target
from trialbook.runners.targets.rollout import read_rollout_response

KEY = "env-key-123"
SEEDS = [0, 3, 7, 12, 41]

#: a synth-ai eval config as its users write it (the legacy [eval] format of
#: synth_ai/cli/commands/eval/config.py), unmodified
SYNTH_CONFIG = """\
[eval]
app_id = "banking77"
task_app_url = "{url}"
env_name = "banking77"
seeds = {seeds}
policy_name = "banking77-react"
concurrency = 3
timeout = 30
return_trace = true
trace_format = "full"
metadata = {{ owner = "evals" }}

[eval.policy_config]
model = "gpt-4o-mini"
provider = "openai"
temperature = 0.0

[eval.env_config]
split = "test"
"""


@pytest.fixture(scope="module")
def shared_app() -> Iterator[SynthTaskApp]:
    with SynthTaskApp(api_key=KEY) as app:
        yield app


@pytest.fixture
def app(shared_app: SynthTaskApp, monkeypatch: pytest.MonkeyPatch) -> SynthTaskApp:
    shared_app.reset()
    shared_app.health_status = 200
    monkeypatch.setenv("ENVIRONMENT_API_KEY", KEY)
    return shared_app


def write_config(tmp_path: Path, url: str, seeds: list[int] = SEEDS, extra: str = "") -> Path:
    path = tmp_path / "synth_eval.toml"
    path.write_text(SYNTH_CONFIG.format(url=url, seeds=json.dumps(seeds)) + extra, encoding="utf-8")
    return path


def stored_bytes(db: Path) -> bytes:
    """The database file and its write-ahead log, as bytes."""
    wal = db.with_name(db.name + "-wal")
    return db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def test_an_unmodified_synth_config_sends_every_seed_exactly_and_records_the_metrics(
    invoke: Invoke, app: SynthTaskApp, tmp_path: Path, db_path: Path
) -> None:
    config = write_config(tmp_path, app.url)
    r = invoke("eval", "run", "--config", str(config), "--name", "s1")
    assert r.exit_code == 0, r.output
    assert "5 completed, 0 failed" in r.output
    # server side: each configured seed exactly once, nothing derived
    assert sorted(app.seeds) == SEEDS
    assert app.health_calls == 1
    for body, headers in zip(app.bodies, app.headers_seen, strict=True):
        assert headers["x-api-key"] == KEY
        assert body["env"]["env_name"] == "banking77"
        assert body["env"]["config"] == {"split": "test"}
        assert body["policy"]["policy_name"] == "banking77-react"
        assert body["policy"]["config"] == {
            "model": "gpt-4o-mini",
            "provider": "openai",
            "temperature": 0.0,
        }
        assert body["record"]["return_trace"] is True
        assert body["record"]["trace_format"] == "full"
        assert body["mode"] == "eval"
        assert body["run_id"].startswith("s1/seed-")
    # recorded: the seed tool's columns, from the figures the app computed for each seed
    r = invoke("eval", "show", "s1", "--columns", "synth", "--json")
    assert r.exit_code == 0, r.output
    table = json.loads(r.output)
    assert [row["seed"] for row in table["rows"]] == SEEDS
    for row in table["rows"]:
        want = expected_for(row["seed"])
        assert row["score"] == pytest.approx(want["outcome_score"])
        assert row["outcome"] == pytest.approx(want["outcome_score"])
        assert row["reward_mean"] == pytest.approx(want["reward_mean"])
        assert row["events"] == pytest.approx(want["events_score"])
        assert row["verifier"] == pytest.approx(want["verifier_score"])
        assert row["tokens"] == want["tokens"]
        assert row["cost_usd"] == pytest.approx(want["cost_usd"])
        assert row["latency_ms"] is not None and row["latency_ms"] > 0
        assert row["error"] is None and row["cached"] is False
    mean = sum(expected_for(s)["verifier_score"] for s in SEEDS) / len(SEEDS)
    assert table["average"]["verifier"] == pytest.approx(mean)
    # the text table has the seed tool's headers and its average row
    r = invoke("eval", "show", "s1", "--columns", "synth")
    assert r.exit_code == 0, r.output
    header = next(line for line in r.output.splitlines() if line.strip().startswith("seed"))
    assert header.split() == [
        "seed",
        "score",
        "reward_mean",
        "outcome",
        "events",
        "latency_ms",
        "verifier",
        "tokens",
        "cost_usd",
        "error",
    ]
    assert any(line.startswith("average") for line in r.output.splitlines())
    # the key never reaches the log
    assert KEY.encode() not in stored_bytes(db_path)


def test_traces_are_stored_as_blobs_and_exported(
    invoke: Invoke, app: SynthTaskApp, tmp_path: Path
) -> None:
    config = write_config(tmp_path, app.url, seeds=[2, 5])
    assert invoke("eval", "run", "--config", str(config), "--name", "tr").exit_code == 0
    out = tmp_path / "traces"
    r = invoke("eval", "export", "tr", "--traces", str(out))
    assert r.exit_code == 0, r.output
    for seed in (2, 5):
        trace = json.loads((out / f"seed-{seed}.e1.trace.json").read_text(encoding="utf-8"))
        assert trace["event_history"][0]["seed"] == seed
        assert trace["format"] == "full"
    lines = [json.loads(x) for x in (out / "rollouts.jsonl").read_text().splitlines()]
    assert {line["case_id"] for line in lines} == {"seed-2", "seed-5"}


def test_seeds_on_the_command_line_replace_the_configs(
    invoke: Invoke, app: SynthTaskApp, tmp_path: Path
) -> None:
    config = write_config(tmp_path, app.url)
    r = invoke("eval", "run", "--config", str(config), "--seeds", "20-23,30", "--name", "cl")
    assert r.exit_code == 0, r.output
    assert sorted(app.seeds) == [20, 21, 22, 23, 30]


def test_a_rollout_target_with_seeds_and_no_config(
    invoke: Invoke, app: SynthTaskApp, tmp_path: Path
) -> None:
    target = f"rollout:{app.url};env_name=crafter"
    r = invoke(
        "eval", "run", "--target", target, "--seeds", "0,3,7", "--epochs", "2", "--name", "t"
    )
    assert r.exit_code == 0, r.output
    # the same seed on every epoch: a seed picks the task, epochs repeat it
    assert sorted(app.seeds) == [0, 0, 3, 3, 7, 7]
    assert {b["env"]["env_name"] for b in app.bodies} == {"crafter"}


@pytest.mark.parametrize(
    "extra,message",
    [
        ("bogus_key = 1\n", "unknown key 'bogus_key' in [eval]"),
        (
            'task_app_api_key = "sk-in-file"\n',
            "[eval] task_app_api_key would hold the task app's key itself",
        ),
    ],
)
def test_a_bad_config_key_is_a_one_line_error_and_nothing_is_appended(
    invoke: Invoke, app: SynthTaskApp, tmp_path: Path, db_path: Path, extra: str, message: str
) -> None:
    config = write_config(tmp_path, app.url)
    text = config.read_text().replace("[eval]\n", "[eval]\n" + extra, 1)
    config.write_text(text)
    r = invoke("eval", "run", "--config", str(config))
    assert r.exit_code == 1
    assert r.output.count("\n") == 1 and r.output.startswith("Error: ")
    assert message in r.output
    assert "sk-in-file" not in r.output
    assert count_events(db_path) == 0 and app.rollouts == 0


def test_a_section_beside_eval_is_named(invoke: Invoke, app: SynthTaskApp, tmp_path: Path) -> None:
    config = write_config(tmp_path, app.url, extra="\n[prompt_learning]\nalgorithm = 'gepa'\n")
    r = invoke("eval", "run", "--config", str(config))
    assert r.exit_code == 1 and "unknown key 'prompt_learning' beside [eval]" in r.output


def test_a_task_app_whose_health_fails_is_a_one_line_error_and_nothing_is_appended(
    invoke: Invoke, app: SynthTaskApp, tmp_path: Path, db_path: Path
) -> None:
    app.health_status = 503
    r = invoke("eval", "run", "--config", str(write_config(tmp_path, app.url)))
    assert r.exit_code != 0  # an infrastructure failure (the CI gates give it its own code)
    assert (
        r.output
        == f"Error: the task app at {app.url}/health answered HTTP 503, not 200; is it running and healthy?\n"
    )
    assert count_events(db_path) == 0 and app.rollouts == 0


def test_a_task_app_that_is_not_running_is_a_one_line_error(
    invoke: Invoke, tmp_path: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENVIRONMENT_API_KEY", KEY)
    with SynthTaskApp() as gone:
        url = gone.url
    r = invoke("eval", "run", "--config", str(write_config(tmp_path, url)))
    assert r.exit_code != 0 and r.output.count("\n") == 1
    assert f"cannot reach the rollout target at {url}/health" in r.output
    assert count_events(db_path) == 0


def test_a_wrong_key_is_named_by_its_variable(
    invoke: Invoke,
    app: SynthTaskApp,
    tmp_path: Path,
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENVIRONMENT_API_KEY", "not-the-key")
    r = invoke("eval", "run", "--config", str(write_config(tmp_path, app.url)))
    assert r.exit_code != 0 and r.output.count("\n") == 1
    assert "refused the key in ENVIRONMENT_API_KEY (HTTP 401)" in r.output
    assert "not-the-key" not in r.output
    assert count_events(db_path) == 0


@pytest.mark.parametrize("named", [None, "TASK_APP_KEY"])
def test_a_missing_key_variable_is_a_one_line_error_and_nothing_is_appended(
    invoke: Invoke,
    app: SynthTaskApp,
    tmp_path: Path,
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    named: str | None,
) -> None:
    monkeypatch.delenv("ENVIRONMENT_API_KEY")
    extra = f'api_key_env = "{named}"\n' if named else ""
    config = write_config(tmp_path, app.url)
    config.write_text(config.read_text().replace("[eval]\n", "[eval]\n" + extra, 1))
    r = invoke("eval", "run", "--config", str(config))
    var = named or "ENVIRONMENT_API_KEY"
    assert r.exit_code == 1 and r.output.count("\n") == 1
    assert f"environment variable {var} is not set; export {var}=…" in r.output
    assert count_events(db_path) == 0 and app.health_calls == 0


def test_an_empty_key_variable_is_called_empty_not_unset(
    tmp_path: Path,
    invoke: Invoke,
    db_path: Path,
    app: SynthTaskApp,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENVIRONMENT_API_KEY", "")
    r = invoke("eval", "run", "--config", str(write_config(tmp_path, app.url)))
    assert r.exit_code == 1 and r.output.count("\n") == 1
    assert (
        "environment variable ENVIRONMENT_API_KEY is empty; export ENVIRONMENT_API_KEY=…"
        in r.output
    )
    assert count_events(db_path) == 0


def test_a_config_without_seeds_asks_for_them(
    invoke: Invoke, app: SynthTaskApp, tmp_path: Path, db_path: Path
) -> None:
    config = write_config(tmp_path, app.url)
    config.write_text(
        "\n".join(x for x in config.read_text().splitlines() if not x.startswith("seeds"))
    )
    r = invoke("eval", "run", "--config", str(config))
    assert (
        r.exit_code == 2
        and "has no seeds; add seeds = [0, 1, 2] to [eval] or give --seeds 0-49" in r.output
    )
    assert count_events(db_path) == 0


# --------------------------------------------------------------------------- pure parts


def test_seed_lists_and_ranges() -> None:
    assert parse_seeds("0-4") == (0, 1, 2, 3, 4)
    assert parse_seeds("0,3,7") == (0, 3, 7)
    assert parse_seeds("0-2, 9") == (0, 1, 2, 9)
    assert parse_seeds([5, 1]) == (5, 1)
    for bad, message in [
        ("3-1", "runs backwards"),
        ("1,1", "seed 1 is given twice"),
        ("a", "is not a seed or a range"),
        ([True], "is not a seed"),
        ("", "is not a seed or a range"),
    ]:
        with pytest.raises(SuiteFileError, match=message):
            parse_seeds(bad)


def test_a_cases_own_seed_is_sent_exactly_and_others_are_derived() -> None:
    seeded = seed_cases([356])[0]
    plain = Case(id="q1", input="hello")
    jobs = make_jobs([seeded, plain], epochs=2, base_seed=7)
    by_key = {(j.case.id, j.epoch): j.seed for j in jobs}
    assert by_key[("seed-356", 1)] == by_key[("seed-356", 2)] == 356
    assert by_key[("q1", 1)] == rollout_seed(7, "q1", 1)
    assert by_key[("q1", 2)] == rollout_seed(7, "q1", 2)


def test_the_score_is_the_outcome_score_else_reward_mean_else_mean_return() -> None:
    base = {"episode_returns": [0.2], "mean_return": 0.2, "num_steps": 1}
    got = read_rollout_response(
        {"metrics": {**base, "outcome_score": 0.9, "reward_mean": 0.5}}, 0.1, what="r"
    )
    assert (got.score, got.reward) == (0.9, 0.5)
    got = read_rollout_response({"metrics": {**base, "reward_mean": 0.5}}, 0.1, what="r")
    assert (got.score, got.reward) == (0.5, 0.5)
    got = read_rollout_response({"metrics": base}, 0.1, what="r")
    assert (got.score, got.reward) == (0.2, 0.2)
    with pytest.raises(RolloutRefused, match='has no "metrics" object'):
        read_rollout_response({"output": "x"}, 0.1, what="r")
    with pytest.raises(RolloutRefused, match="metrics.outcome_score = 'high'"):
        read_rollout_response({"metrics": {**base, "outcome_score": "high"}}, 0.1, what="r")


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        ('{"metrics": {"outcome_score": 1' + "0" * 400 + "}}", "an integer too large"),
        ('{"metrics": {"reward_mean": 1e400}}', "inf"),
        ('{"metrics": {"details": {"cost_usd": -1' + "0" * 400 + "}}}", "an integer too large"),
    ],
)
def test_a_metric_too_large_for_a_number_is_a_bad_response_naming_it(body: str, shown: str) -> None:
    # json.loads reads 1 followed by 400 zeros as an int that float() cannot hold: it was an
    # OverflowError recorded as "OverflowError: int too large to convert to float"
    with pytest.raises(RolloutRefused, match=f"has metrics.* = {shown}.*; it must be finite") as e:
        read_rollout_response(json.loads(body), 0.1, what="r")
    assert e.value.kind == "bad_response"


def test_the_target_description_names_the_key_variable_never_the_key() -> None:
    target = make_target(
        {"kind": "rollout", "url": "http://127.0.0.1:9/rollout", "env_name": "e"},
        env={"ENVIRONMENT_API_KEY": "k-secret-1"},
    )
    described = json.dumps(target.describe())
    assert "k-secret-1" not in described and "ENVIRONMENT_API_KEY" in described
    assert target.describe()["url"] == "http://127.0.0.1:9"  # the base URL
    with pytest.raises(TargetConfigError, match="trace_format 'tiny' is not one of"):
        make_target(
            {"kind": "rollout", "url": "http://h", "trace_format": "tiny", "api_key_env": "none"}
        )


def test_the_run_records_the_metrics_on_the_rollout_event(
    invoke: Invoke, app: SynthTaskApp, tmp_path: Path, db_path: Path
) -> None:
    assert (
        invoke(
            "eval",
            "run",
            "--config",
            str(write_config(tmp_path, app.url, seeds=[3])),
            "--name",
            "ev",
        ).exit_code
        == 0
    )
    conn = sqlite3.connect(db_path)
    try:
        (data,) = conn.execute("SELECT data FROM events WHERE type = 'RolloutCompleted'").fetchone()
    finally:
        conn.close()
    event = json.loads(data)
    want = expected_for(3)
    assert event["metrics"]["verifier_score"] == pytest.approx(want["verifier_score"])
    assert event["metrics"]["events_score"] == pytest.approx(want["events_score"])
    assert "cached" not in event  # a fresh call: the field is absent, as in older events


def test_the_python_api_runs_seeds_and_says_what_the_cli_says(
    app: SynthTaskApp, db_path: Path
) -> None:
    import trialbook

    with trialbook.open(db_path) as tb:
        report = tb.evals.run(target=f"rollout:{app.url};env_name=e", seeds=[4, 8], name="api")
        assert report.run.status == "finished"
        assert sorted(app.seeds) == [4, 8]
        with pytest.raises(trialbook.TrialbookError, match="--seeds: seed 4 is given twice"):
            tb.evals.run(target=f"rollout:{app.url}", seeds="4,4")


def test_a_recorded_rollout_target_rebuilds_as_the_same_target() -> None:
    env = {"ENVIRONMENT_API_KEY": "k"}
    target = make_target(
        {
            "kind": "rollout",
            "url": "http://127.0.0.1:9",
            "env_name": "e",
            "policy_config": {"m": 1},
        },
        env=env,
    )
    assert make_target(target.describe(), env=env).describe() == target.describe()


def test_synth_defaults_and_the_range_form_of_seeds(
    invoke: Invoke, app: SynthTaskApp, tmp_path: Path
) -> None:
    path = tmp_path / "minimal.toml"
    path.write_text(
        f'[eval]\napp_id = "b77"\ntask_app_url = "{app.url}"\n'
        "seeds = { start = 10, end = 20, step = 3 }\n",
        encoding="utf-8",
    )
    r = invoke("eval", "run", "--config", str(path), "--name", "mini")
    assert r.exit_code == 0, r.output
    assert sorted(app.seeds) == list(range(10, 20, 3))
    assert {b["env"]["env_name"] for b in app.bodies} == {"b77"}  # env_name defaults to app_id
    settings = show_json(invoke, "mini")["run"]["settings"]
    # synth-ai's expand_eval_config defaults: min(20, seeds) in flight, 600 s per rollout
    assert (settings["concurrency"], settings["timeout_s"]) == (4, 600.0)
    path.write_text(
        f'[eval]\ntask_app_url = "{app.url}"\nseeds = {{ start = 0 }}\n', encoding="utf-8"
    )
    r = invoke("eval", "run", "--config", str(path))
    assert r.exit_code == 1 and "seeds as a range is { start = 0, end = 50 }" in r.output


def test_seeds_never_replace_a_suite_of_ordinary_cases(
    invoke: Invoke, app: SynthTaskApp, tmp_path: Path, db_path: Path
) -> None:
    suite = tmp_path / "qa.jsonl"
    suite.write_text(json.dumps({"id": "q1", "input": "hello"}) + "\n", encoding="utf-8")
    assert invoke("eval", "suite", "add", str(suite)).exit_code == 0
    before = count_events(db_path)
    r = invoke("eval", "run", "qa", "--target", f"rollout:{app.url}", "--seeds", "0-3")
    assert r.exit_code == 1 and r.output.count("\n") == 1
    assert "suite 'qa' holds cases that are not seeds" in r.output
    assert count_events(db_path) == before and app.requests == 0


def test_a_url_with_a_query_is_refused_naming_it_without_its_secret() -> None:
    # /health was appended after the query (http://h:1?api_key=…/health) and the app
    # answered 404: "is it running and healthy?"
    with pytest.raises(TargetConfigError) as e:
        make_target(
            {"kind": "rollout", "url": "http://127.0.0.1:9?api_key=zz-secret", "env_name": "e"},
            env={"ENVIRONMENT_API_KEY": "k"},
        )
    assert "has a query or fragment; give the task app's base URL" in str(e.value)
    assert "zz-secret" not in str(e.value)


@pytest.mark.parametrize("key", ["k-secret-1\n", " k-secret-1", "k-sécret-1", "k-secret\t1"])
@pytest.mark.parametrize("kind", ["rollout", "http"])
def test_a_key_no_header_can_carry_is_refused_without_showing_it(key: str, kind: str) -> None:
    # a trailing newline (echo > file; export KEY=$(cat file) keeps none, but CI secrets can)
    # was "cannot reach … (Illegal header value b'k-secret-1\\n')": the key in the CI log,
    # exit 3; a non-ASCII one an internal error
    with pytest.raises(TargetConfigError) as e:
        make_target(
            {"kind": kind, "url": "http://127.0.0.1:9", "env_name": "e"}
            if kind == "rollout"
            else {"kind": kind, "url": "http://127.0.0.1:9", "api_key_env": "ENVIRONMENT_API_KEY"},
            env={"ENVIRONMENT_API_KEY": key},
        )
    assert str(e.value) == (
        f"{kind} target: the key in ENVIRONMENT_API_KEY holds a character an HTTP header cannot "
        "carry (a newline, a space at an end, or a non-ASCII letter); set ENVIRONMENT_API_KEY "
        "to the key alone"
    )
    assert "secret" not in str(e.value)
