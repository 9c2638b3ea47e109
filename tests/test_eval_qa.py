"""Bad input to the issue #18 eval features found by exploratory QA: each is a one-line
error, exit 1, and nothing is appended (real SQLite files, a real task app on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Invoke, count_events
from tests.synth_task_app import SynthTaskApp

KEY = "env-key-qa"


@pytest.fixture(scope="module")
def shared_app() -> Iterator[SynthTaskApp]:
    with SynthTaskApp(api_key=KEY) as app:
        yield app


@pytest.fixture
def app(shared_app: SynthTaskApp, monkeypatch: pytest.MonkeyPatch) -> SynthTaskApp:
    shared_app.reset()
    monkeypatch.setenv("ENVIRONMENT_API_KEY", KEY)
    return shared_app


def run_seeds(invoke: Invoke, app: SynthTaskApp, *args: str):  # type: ignore[no-untyped-def]
    return invoke(
        "eval", "run", "--target", f"rollout:{app.url};env_name=qa", "--seeds", "0,1", *args
    )


@pytest.mark.parametrize(
    ("spec", "option"),
    [
        ("python:tb_qa_mod:fn,scale=1-10,threshold=7,threshold=8", "threshold"),
        ("python:tb_qa_mod:fn,scale=1-10,scale=0-5", "scale"),
        (
            "judge:j,base_url=http://127.0.0.1:9/v1,model=m,key_env=none,threshold=7,threshold=8",
            "threshold",
        ),
        (
            "judge:j,base_url=http://127.0.0.1:9/v1,model=m,key_env=none,scale=1-10,scale=0-5",
            "scale",
        ),
    ],
)
def test_a_scorer_option_given_twice_is_refused_not_last_one_wins(
    invoke: Invoke, app: SynthTaskApp, db_path: Path, spec: str, option: str
) -> None:
    # it was silently the last value: threshold=7,threshold=8 gated at 8
    r = run_seeds(invoke, app, "--scorer", spec)
    assert r.exit_code == 1, r.output
    assert r.output == f"Error: scorer {spec!r}: option {option!r} is given twice; give it once\n"
    assert count_events(db_path) == 0 and app.rollouts == 0


def test_an_empty_junit_path_is_refused_before_the_run_records_anything(
    invoke: Invoke, app: SynthTaskApp, db_path: Path
) -> None:
    # it was skipped by the check (empty is falsy), the run was recorded and then
    # "cannot write the JUnit file : Is a directory" ended it
    r = run_seeds(invoke, app, "--junit", "")
    assert (r.exit_code, r.output) == (
        1,
        "Error: --junit '': give a file name such as report.xml\n",
    )
    assert count_events(db_path) == 0 and app.rollouts == 0


def test_a_junit_path_under_a_file_says_it_is_a_file(
    invoke: Invoke, app: SynthTaskApp, db_path: Path, tmp_path: Path
) -> None:
    # it said "directory … does not exist; create it first", which cannot be done
    (tmp_path / "notes").write_text("x", encoding="utf-8")
    path = tmp_path / "notes" / "out.xml"
    r = run_seeds(invoke, app, "--junit", str(path))
    assert r.exit_code == 1
    assert r.output == (
        f"Error: --junit {path}: {path.parent} is a file, not a directory; give a path in a directory\n"
    )
    assert count_events(db_path) == 0 and app.rollouts == 0


def test_the_api_refuses_an_empty_junit_path_with_the_same_message(
    invoke: Invoke, app: SynthTaskApp, db_path: Path
) -> None:
    import trialbook as tb

    assert run_seeds(invoke, app, "--name", "qa").exit_code == 0, "the run itself"
    before = count_events(db_path)
    with tb.open(db_path) as t, pytest.raises(tb.InvalidCommand) as e:
        t.evals.gates("qa", fail_under="target=0.1", junit="")
    assert str(e.value) == "--junit '': give a file name such as report.xml"
    assert count_events(db_path) == before


@pytest.mark.parametrize("args", [["--cache-ttl", "1d"], ["--no-cache", "--cache-ttl", "1d"]])
def test_a_cache_ttl_without_the_cache_is_refused_not_silently_dropped(
    invoke: Invoke, app: SynthTaskApp, db_path: Path, args: list[str]
) -> None:
    # it ran uncached without a word: a CI job meaning `--cache --cache-ttl 1d` paid for every call
    r = run_seeds(invoke, app, *args)
    assert (r.exit_code, r.output) == (
        1,
        "Error: --cache-ttl: the response cache is off for this run, so a TTL does nothing; "
        "add --cache (or cache = true in the run config), or drop --cache-ttl\n",
    )
    assert count_events(db_path) == 0 and app.rollouts == 0


def test_a_bad_cache_ttl_without_the_cache_names_the_bad_duration(
    invoke: Invoke, app: SynthTaskApp, db_path: Path
) -> None:
    r = run_seeds(invoke, app, "--cache-ttl", "1x")
    assert r.exit_code == 1 and r.output.startswith("Error: --cache-ttl: '1x' is not a duration")
    assert count_events(db_path) == 0


@pytest.fixture
def seven(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A code evaluator on disk that scores 7 on 1–10."""
    (tmp_path / "tb_qa_seven.py").write_text(
        "def seven(prompt, output, **context):\n    return {'score': 7}\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return "python:tb_qa_seven:seven,scale=1-10"


@pytest.mark.parametrize(("value", "scale"), [("0.7", "1–10"), ("11", "1–10")])
def test_a_mean_gate_off_the_scorers_scale_is_refused_before_the_run(
    invoke: Invoke, app: SynthTaskApp, db_path: Path, seven: str, value: str, scale: str
) -> None:
    # mean=0.7 on a 1–10 evaluator (a 0–1 habit) always passed; mean=11 could never pass
    spec = f"python:tb_qa_seven:seven:mean={value}"
    r = run_seeds(invoke, app, "--scorer", seven, "--fail-under", spec)
    assert (r.exit_code, r.output) == (
        1,
        f"Error: --fail-under {spec!r}: {value} is outside python:tb_qa_seven:seven's {scale} scale; "
        "give a mean on its scale\n",
    )
    assert count_events(db_path) == 0 and app.rollouts == 0


def test_a_mean_gate_on_an_unscaled_scorer_lies_in_0_to_1(
    invoke: Invoke, app: SynthTaskApp, db_path: Path
) -> None:
    r = run_seeds(invoke, app, "--scorer", "equals", "--fail-under", "equals:mean=7")
    assert r.output == (
        "Error: --fail-under 'equals:mean=7': 7 is outside equals's 0–1 scale; "
        "give a mean on its scale\n"
    )
    assert count_events(db_path) == 0


def test_a_mean_gate_on_the_scale_still_runs_and_the_api_refuses_the_same(
    invoke: Invoke, app: SynthTaskApp, db_path: Path, seven: str
) -> None:
    import trialbook as tb

    name = "python:tb_qa_seven:seven"
    r = run_seeds(invoke, app, "--scorer", seven, "--fail-under", f"{name}:mean=7", "--name", "m")
    assert r.exit_code == 0, r.output
    before = count_events(db_path)
    with tb.open(db_path) as t:
        with pytest.raises(tb.InvalidCommand) as e:
            t.evals.gates("m", fail_under=f"{name}:mean=0.7")
        assert str(e.value) == (
            f"--fail-under '{name}:mean=0.7': 0.7 is outside {name}'s 1–10 scale; "
            "give a mean on its scale"
        )
        assert t.evals.gates("m", fail_under=f"{name}:mean=7").exit_code == 0
    assert count_events(db_path) == before


def test_a_judge_key_no_header_can_carry_is_refused_and_never_recorded(
    invoke: Invoke, app: SynthTaskApp, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # it was sent: httpx's "Illegal header value b'Bearer <key>\\n'" became the verdict's error,
    # so the judge's key was written into the event log
    monkeypatch.setenv("TB_QA_JUDGE_KEY", "judge-secret-9\n")
    spec = "judge:j,base_url=http://127.0.0.1:9/v1,model=m,key_env=TB_QA_JUDGE_KEY"
    r = run_seeds(invoke, app, "--scorer", spec)
    assert (r.exit_code, r.output) == (
        1,
        "Error: judge 'j': the key in TB_QA_JUDGE_KEY holds a character an HTTP header cannot "
        "carry (a newline, a space at an end, or a non-ASCII letter); set TB_QA_JUDGE_KEY to "
        "the key alone\n",
    )
    assert count_events(db_path) == 0 and app.rollouts == 0


@pytest.mark.parametrize("field", ["score", "reward", "cost_usd"])
def test_an_http_reply_number_too_large_for_a_float_is_a_bad_response(field: str) -> None:
    import json

    from trialbook.runners.eval_errors import RolloutRefused
    from trialbook.runners.targets.base import reply_from_json

    # math.isfinite(10**400) is an OverflowError: the rollout failed as "OverflowError: …"
    data = json.loads('{"output": "x", "' + field + '": 1' + "0" * 400 + "}")
    with pytest.raises(RolloutRefused) as e:
        reply_from_json(data, 0.1, what="r")
    assert str(e.value) == f'r has "{field}": an integer too large for a number; it must be finite'
    assert e.value.kind == "bad_response"
