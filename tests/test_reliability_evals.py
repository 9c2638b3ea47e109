"""Issue #22: eval inputs that were read too kindly.

1. A judge's score outside 1–10 or not a number is a scoring error, unless the
   judge sets ``lenient_scores`` (then it is clamped or derived, as before).
2. A key written into a run config's ``[target]`` is refused, also when
   ``--target`` replaces that target.
3. ``eval suite add`` refuses a case that names a scorer that does not exist.

The parser is tested as a pure function; the judge against a real local
OpenAI-compatible server; the CLI on real SQLite files with a real task server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Invoke, add_suite, count_events, show_json
from tests.judge_server import JudgeServer
from tests.judge_server import Reply as JudgeReply
from tests.servers import Behaviour, TaskServer
from trialbook.domain.verdicts import LENIENT_HINT, ScorerConfigError, Verdict, parse_judge_answer
from trialbook.runners.scorers import JudgeScorer, resolve_scorers

SUITE = [{"id": "q1", "input": "hello"}, {"id": "q2", "input": "two words"}]


def answer(score: Any, passed: int = 6, total: int = 6) -> str:
    rows = [{"criteria": f"c{i}", "passed": i < passed, "reason": "r"} for i in range(total)]
    return json.dumps({"score": score, "evaluation": rows, "result": "fine"})


def codes(v: Verdict) -> set[str]:
    return {f.code for f in v.flags}


@pytest.fixture(scope="module")
def judge_server() -> Iterator[JudgeServer]:
    with JudgeServer() as s:
        yield s


@pytest.fixture(scope="module")
def task_server() -> Iterator[TaskServer]:
    server = TaskServer(Behaviour())
    with server:
        yield server


# --------------------------------------------------------------------------- 1. judge scores


class TestAJudgeScoreOffTheScaleIsAScoringError:
    @pytest.mark.parametrize(
        ("score", "reason"),
        [
            (15, "score 15 is outside 1–10"),
            (-2, "score -2 is outside 1–10"),
            (0, "score 0 is outside 1–10"),
            ("11/10", "score 11 is outside 1–10"),
            ("eight", "score 'eight' is not a number"),
            (True, "score True is a boolean, not a number"),
            ({"label": "good"}, "score is an object without a value"),
        ],
    )
    def test_by_default_even_when_the_criteria_could_give_a_score(
        self, score: Any, reason: str
    ) -> None:
        v = parse_judge_answer(answer(score), scorer="judge:j")
        assert v.error == f"unusable judge answer: {reason} {LENIENT_HINT}"
        assert (v.score, v.passed, v.raw) == (0.0, False, answer(score))

    def test_with_lenient_scores_it_is_clamped_or_derived_as_before(self) -> None:
        high = parse_judge_answer(answer(15), lenient_scores=True)
        assert (high.error, high.raw_score, high.passed) == (None, 10.0, True)
        assert "clamped" in codes(high)
        word = parse_judge_answer(answer("eight", passed=3), lenient_scores=True)
        assert (word.error, word.raw_score, word.passed) == (None, 5.0, False)
        assert "derived_score" in codes(word)

    @pytest.mark.parametrize(
        ("score", "raw"), [(1, 1.0), (10, 10.0), ("8/10", 8.0), ("70%", 7.0), (0.8, 8.0)]
    )
    def test_a_score_on_the_scale_is_read_as_before(self, score: Any, raw: float) -> None:
        v = parse_judge_answer(answer(score))
        assert (v.error, v.raw_score) == (None, pytest.approx(raw))

    def test_an_answer_without_a_score_still_takes_it_from_the_criteria(self) -> None:
        rows = [{"criteria": "c", "passed": True, "reason": "r"}]
        v = parse_judge_answer(json.dumps({"evaluation": rows}))
        assert (v.error, v.raw_score) == (None, 10.0) and "derived_score" in codes(v)


def judge(server: JudgeServer, model: str, inline: str = "", **table: Any) -> JudgeScorer:
    options = {"base_url": server.base_url, "model": model, "key_env": "none", "backoff": 0}
    (scorer,) = resolve_scorers([f"judge:j{inline}"], {}, judges={"j": {**options, **table}})
    assert isinstance(scorer, JudgeScorer)
    return scorer


def ask(scorer: JudgeScorer) -> Verdict:
    async def go() -> Verdict:
        async with scorer:
            (v,) = await scorer.score({"id": "q", "input": "hi"}, "hello")
        return v

    return asyncio.run(go())


class TestTheJudgesLenientScoresOption:
    def test_a_judge_scoring_15_gives_a_scoring_error_by_default(
        self, judge_server: JudgeServer
    ) -> None:
        model = judge_server.script("fifteen-strict", JudgeReply(content=answer(15)))
        scorer = judge(judge_server, model)
        assert scorer.describe()["lenient_scores"] is False
        v = ask(scorer)
        assert v.error is not None and "score 15 is outside 1–10" in v.error
        assert "lenient_scores = true" in v.error
        assert v.usage is not None and v.usage.prompt_tokens == 120  # the call is still counted

    @pytest.mark.parametrize(
        ("inline", "table"),
        [(",lenient_scores=true", {}), ("", {"lenient_scores": True}), (",lenient_scores=yes", {})],
    )
    def test_lenient_scores_inline_or_in_the_judge_table_clamps(
        self, judge_server: JudgeServer, inline: str, table: dict[str, Any]
    ) -> None:
        model = judge_server.script("fifteen-lenient", JudgeReply(content=answer(15)))
        scorer = judge(judge_server, model, inline, **table)
        assert scorer.describe()["lenient_scores"] is True
        v = ask(scorer)
        assert (v.error, v.raw_score, v.passed) == (None, 10.0, True)
        assert "clamped" in codes(v)

    def test_an_inline_option_wins_over_the_table(self, judge_server: JudgeServer) -> None:
        scorer = judge(judge_server, "m", ",lenient_scores=false", lenient_scores=True)
        assert scorer.config.lenient_scores is False

    @pytest.mark.parametrize("value", ["maybe", 2, 0.5, ["true"]])
    def test_a_value_that_is_not_true_or_false_is_refused(
        self, judge_server: JudgeServer, value: Any
    ) -> None:
        with pytest.raises(ScorerConfigError) as e:
            judge(judge_server, "m", lenient_scores=value)
        assert str(e.value) == f"judge 'j': lenient_scores must be true or false, not {value!r}"


def run_config(tmp_path: Path, task_server: TaskServer, body: str, name: str = "run") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f'suite = "qa"\nname = "{name}"\ntarget = "http:{task_server.url}/run"\n'
        f"retries = 0\n\n{body}\n",
        encoding="utf-8",
    )
    return path


def judge_table(server: JudgeServer, model: str, extra: str = "") -> str:
    return (
        f'[judges.strict]\nbase_url = "{server.base_url}"\nmodel = "{model}"\n'
        f'key_env = "none"\nbackoff = 0\n{extra}'
    )


class TestEvalRunWithAJudgeOffTheScale:
    @pytest.mark.parametrize("score", [15, "eight"])
    def test_the_verdicts_are_scoring_errors_left_out_of_mean_and_pass_rate(
        self,
        invoke: Invoke,
        tmp_path: Path,
        task_server: TaskServer,
        judge_server: JudgeServer,
        score: Any,
    ) -> None:
        add_suite(invoke, tmp_path / "qa.jsonl", SUITE)
        model = judge_server.script(f"cli-strict-{score}", JudgeReply(content=answer(score)))
        config = run_config(tmp_path, task_server, judge_table(judge_server, model))
        r = invoke("eval", "run", "--config", str(config), "--scorer", "judge:strict")
        assert r.exit_code == 0, r.output
        sc = show_json(invoke, "run")["scorers"]["judge:strict"]
        assert (sc["rollouts"], sc["errors"], sc["scored"], sc["passed"]) == (2, 2, 0, 0)
        assert (sc["mean"], sc["pass_rate"]) == (None, None)
        cells = [row["verdicts"]["judge:strict"] for row in show_json(invoke, "run")["rollouts"]]
        assert all(c["scoring_error"] and "lenient_scores" in c["error"] for c in cells)
        table = invoke("eval", "show", "run").output
        assert "ERROR unusable judge answer" in table

    def test_lenient_scores_in_the_judge_table_keeps_todays_reading_and_is_recorded(
        self,
        invoke: Invoke,
        tmp_path: Path,
        task_server: TaskServer,
        judge_server: JudgeServer,
    ) -> None:
        add_suite(invoke, tmp_path / "qa.jsonl", SUITE)
        model = judge_server.script("cli-lenient", JudgeReply(content=answer(15)))
        config = run_config(
            tmp_path, task_server, judge_table(judge_server, model, "lenient_scores = true\n")
        )
        r = invoke("eval", "run", "--config", str(config), "--scorer", "judge:strict")
        assert r.exit_code == 0, r.output
        data = show_json(invoke, "run")
        sc = data["scorers"]["judge:strict"]
        assert (sc["errors"], sc["scored"], sc["mean"], sc["pass_rate"]) == (0, 2, 1.0, 1.0)
        # recorded with the run, so a rescore reads scores the same way
        r = invoke("eval", "rescore", "run", "--scorer", "judge:strict")
        assert r.exit_code == 0, r.output
        assert show_json(invoke, "run")["scorers"]["judge:strict"]["errors"] == 0

    def test_a_bad_lenient_scores_value_is_one_line_and_appends_nothing(
        self,
        invoke: Invoke,
        tmp_path: Path,
        task_server: TaskServer,
        judge_server: JudgeServer,
        db_path: Path,
    ) -> None:
        add_suite(invoke, tmp_path / "qa.jsonl", SUITE)
        before = count_events(db_path)
        config = run_config(
            tmp_path, task_server, judge_table(judge_server, "m", 'lenient_scores = "sure"\n')
        )
        r = invoke("eval", "run", "--config", str(config), "--scorer", "judge:strict")
        assert (r.exit_code, r.output) == (
            1,
            "Error: judge 'strict': lenient_scores must be true or false, not 'sure'\n",
        )
        assert count_events(db_path) == before


# --------------------------------------------------------------------------- 2. target keys


SECRET = "sk-live-do-not-log-123"


class TestAKeyInTheRunConfigsTargetIsRefused:
    @pytest.mark.parametrize(
        ("filename", "target", "option"),
        [
            (
                "run.toml",
                f'[target]\nkind = "openai"\nmodel = "m"\napi_key = "{SECRET}"\n',
                "api_key",
            ),
            (
                "run.toml",
                f'[target]\nkind = "http"\nurl = "http://127.0.0.1:9/run"\ntoken = "{SECRET}"\n',
                "token",
            ),
            ("run.toml", f'target = "openai:m;api_key={SECRET}"\n', "api_key"),
            ("run.yaml", f"target:\n  kind: openai\n  model: m\n  api_key: {SECRET}\n", "api_key"),
        ],
    )
    @pytest.mark.parametrize("with_target_option", [True, False])
    def test_with_or_without_target_naming_the_option_and_appending_nothing(
        self,
        invoke: Invoke,
        tmp_path: Path,
        task_server: TaskServer,
        db_path: Path,
        filename: str,
        target: str,
        option: str,
        with_target_option: bool,
    ) -> None:
        add_suite(invoke, tmp_path / "qa.jsonl", SUITE)
        before = count_events(db_path)
        config = tmp_path / filename
        head = "suite: qa\nname: keyed\n" if filename.endswith(".yaml") else 'suite = "qa"\n'
        config.write_text(head + target, encoding="utf-8")
        args = ["eval", "run", "--config", str(config)]
        if with_target_option:
            args += ["--target", f"{task_server.url}/run"]
        r = invoke(*args)
        assert r.exit_code == 1, r.output
        assert r.output == (
            f"Error: {config}: target option {option!r} would hold the key itself, which a run "
            "config never accepts (even when --target is given); put the key in an environment "
            'variable and name that with api_key_env = "VAR"\n'
        )
        assert SECRET not in r.output
        assert count_events(db_path) == before

    def test_naming_the_keys_variable_is_still_accepted_beside_target(
        self, invoke: Invoke, tmp_path: Path, task_server: TaskServer, db_path: Path
    ) -> None:
        add_suite(invoke, tmp_path / "qa.jsonl", SUITE)
        config = tmp_path / "run.toml"
        config.write_text(
            'suite = "qa"\nname = "named"\n[target]\nkind = "openai"\nmodel = "m"\n'
            'api_key_env = "SOME_VAR"\n',
            encoding="utf-8",
        )
        r = invoke("eval", "run", "--config", str(config), "--target", f"{task_server.url}/run")
        assert r.exit_code == 0, r.output
        assert show_json(invoke, "named")["run"]["completed"] == 2


# --------------------------------------------------------------------------- 3. suite scorers

KNOWN = (
    "Known: equals, contains, icontains, regex, json_valid, json_field, numeric, length, "
    "python:MODULE:FUNCTION, judge:NAME"
)


class TestSuiteAddRefusesAnUnknownScorer:
    @pytest.mark.parametrize(
        ("scorers", "message"),
        [
            (["bogus"], f"case 'b': unknown scorer 'bogus'. {KNOWN}"),
            (
                [{"scorer": "equal"}],
                f"case 'b': unknown scorer 'equal'; did you mean 'equals'? {KNOWN}",
            ),
            (["equals", "regex:("], "case 'b': scorer 'regex:(': "),
            (
                [{"weight": 2}],
                "case 'b': scorer {'weight': 2} is not a spec; write a string such as \"equals\"",
            ),
            (["python:no_colon"], "case 'b': scorer 'python:no_colon': write python:package."),
            (["judge:"], "case 'b': scorer 'judge:': judge name '' is not valid"),
        ],
    )
    def test_naming_the_line_the_case_and_the_scorers_that_exist(
        self, invoke: Invoke, tmp_path: Path, db_path: Path, scorers: list[Any], message: str
    ) -> None:
        path = tmp_path / "cs.jsonl"
        path.write_text(
            json.dumps({"id": "a", "input": "x", "scorers": ["contains:x"]})
            + "\n"
            + json.dumps({"id": "b", "input": "y", "scorers": scorers})
            + "\n",
            encoding="utf-8",
        )
        r = invoke("eval", "suite", "add", str(path))
        assert r.exit_code == 1
        assert r.output.startswith(f"Error: cs.jsonl line 2: {message}"), r.output
        assert len(r.output.strip().splitlines()) == 1
        assert count_events(db_path) == 0

    def test_in_yaml_the_case_and_its_line_are_named(
        self, invoke: Invoke, tmp_path: Path, db_path: Path
    ) -> None:
        path = tmp_path / "cs.yaml"
        path.write_text(
            "cases:\n  - id: a\n    input: x\n  - id: b\n    input: y\n    scorers: nope\n",
            encoding="utf-8",
        )
        r = invoke("eval", "suite", "add", str(path))
        assert (r.exit_code, r.output) == (
            1,
            f"Error: cs.yaml case 2 (line 4): case 'b': unknown scorer 'nope'. {KNOWN}\n",
        )
        assert count_events(db_path) == 0

    def test_scorers_that_need_the_runs_environment_are_left_to_the_run(
        self, invoke: Invoke, tmp_path: Path
    ) -> None:
        # the module is not importable here and the judge is not configured: both are run-time matters
        add_suite(
            invoke,
            tmp_path / "later.jsonl",
            [
                {
                    "id": "a",
                    "input": "x",
                    "scorers": ["python:not_here_yet:check", "judge:strict", {"scorer": "equals"}],
                }
            ],
        )
