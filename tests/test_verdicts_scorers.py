"""Built-in scorers, code evaluators and spec validation (everything but the judge's HTTP)."""

from __future__ import annotations

import asyncio
import itertools
import sys
import textwrap
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from trialbook.domain.verdicts import ScorerConfigError, Verdict, VerdictRecorded
from trialbook.runners.scorers import (
    JudgeScorer,
    PythonScorer,
    Scorer,
    close_scorers,
    resolve_scorers,
    score_rollout,
)

ENV = {"OPENAI_API_KEY": "sk-test", "LOCAL_KEY": "k"}


def score(
    spec: str,
    case: Mapping[str, Any],
    output: Any,
    context: Mapping[str, Any] | None = None,
    **options: Any,
) -> list[Verdict]:
    scorers = resolve_scorers([spec], ENV, **options)

    async def run() -> list[Verdict]:
        try:
            return await score_rollout(scorers, case, output, context)
        finally:
            await close_scorers(scorers)

    return asyncio.run(run())


def one(spec: str, case: Mapping[str, Any], output: Any, **options: Any) -> Verdict:
    verdicts = score(spec, case, output, **options)
    assert len(verdicts) == 1
    return verdicts[0]


# --------------------------------------------------------------------------- built-ins

CASES: list[tuple[str, dict[str, Any], Any, float, bool]] = [
    # spec, case, output, score, passed
    ("equals", {"id": "a", "expected": "Paris"}, "  Paris\n", 1.0, True),
    ("equals", {"id": "a", "expected": "Paris"}, "paris", 0.0, False),
    ("equals:42", {"id": "a"}, "42", 1.0, True),
    ("equals", {"id": "a", "expected": 42}, "42.0", 1.0, True),
    ("equals", {"id": "a", "expected": True}, "1", 0.0, False),
    ("equals", {"id": "a", "expected": {"b": [1, 2]}}, '{"b": [1, 2]}', 1.0, True),
    ("equals", {"id": "a", "expected": '{"b": 1}'}, {"b": 1}, 1.0, True),
    ("contains", {"id": "a", "expected": "Paris"}, "It is Paris.", 1.0, True),
    ("contains", {"id": "a", "expected": "paris"}, "It is Paris.", 0.0, False),
    ("icontains", {"id": "a", "expected": "paris"}, "It is PARIS.", 1.0, True),
    (
        "contains",
        {"id": "a", "expected": ["Paris", "France", "Seine", "Loire"]},
        "Paris, France, on the Seine",
        0.75,
        False,
    ),
    ("contains:refund", {"id": "a"}, "We issued a refund.", 1.0, True),
    ("icontains:ÉTÉ", {"id": "a"}, "un été chaud", 1.0, True),
    (r"regex:^\d{3}-\d{4}$", {"id": "a"}, "555-1234", 1.0, True),
    (r"regex:^\d{3}-\d{4}$", {"id": "a"}, "call 555-1234", 0.0, False),
    ("regex:a:b", {"id": "a"}, "xa:by", 1.0, True),
    ("regex", {"id": "a", "expected": "(?i)hello"}, "HELLO there", 1.0, True),
    ("json_valid", {"id": "a"}, '{"a": 1}', 1.0, True),
    ("json_valid", {"id": "a"}, '```json\n{"a": 1}\n```', 1.0, True),
    ("json_valid", {"id": "a"}, "{'a': 1}", 0.0, False),
    ("json_valid", {"id": "a"}, {"already": "parsed"}, 1.0, True),
    ("json_field:answer.city=Paris", {"id": "a"}, '{"answer": {"city": "Paris"}}', 1.0, True),
    ("json_field:items[1].n=2", {"id": "a"}, '{"items": [{"n": 1}, {"n": 2}]}', 1.0, True),
    ("json_field:items.0.n=2", {"id": "a"}, '{"items": [{"n": 1}, {"n": 2}]}', 0.0, False),
    ("json_field:ok=true", {"id": "a"}, '{"ok": true}', 1.0, True),
    ("json_field:ok=1", {"id": "a"}, '{"ok": true}', 0.0, False),
    ("json_field:count=3", {"id": "a"}, '{"count": 3.0}', 1.0, True),
    ("json_field:code=007", {"id": "a"}, '{"code": "007"}', 1.0, True),
    ("json_field:status", {"id": "a", "expected": "done"}, {"status": "done"}, 1.0, True),
    ("json_field:missing=1", {"id": "a"}, '{"other": 1}', 0.0, False),
    ("json_field:a=1", {"id": "a"}, "not json", 0.0, False),
    ("numeric", {"id": "a", "expected": 4}, "The answer is 4.", 1.0, True),
    ("numeric", {"id": "a", "expected": "1234.5"}, "It costs 1,234.50 in total", 1.0, True),
    ("numeric:0.01", {"id": "a", "expected": 3.14159}, "3.14", 1.0, True),
    ("numeric:0.001", {"id": "a", "expected": 3.14159}, "3.14", 0.0, False),
    ("numeric:1%", {"id": "a", "expected": 200}, "about 198", 1.0, True),
    ("numeric:1%", {"id": "a", "expected": 200}, "about 197", 0.0, False),
    ("numeric", {"id": "a", "expected": 7}, 7, 1.0, True),
    ("numeric", {"id": "a", "expected": 7}, "seven", 0.0, False),
    ("length:3-5", {"id": "a"}, "abcd", 1.0, True),
    ("length:3-5", {"id": "a"}, "abcdef", 0.0, False),
    ("length:3-", {"id": "a"}, "ab", 0.0, False),
    ("length:-3", {"id": "a"}, "", 1.0, True),
]


class TestBuiltinScorers:
    @pytest.mark.parametrize(("spec", "case", "output", "expected_score", "expected_pass"), CASES)
    def test_fixed_examples(
        self,
        spec: str,
        case: dict[str, Any],
        output: Any,
        expected_score: float,
        expected_pass: bool,
    ) -> None:
        v = one(spec, case, output)
        assert (v.scorer, v.score, v.passed, v.error) == (
            spec,
            pytest.approx(expected_score),
            expected_pass,
            None,
        )
        assert len(v.evaluation) == 1 and v.evaluation[0].passed is expected_pass
        assert v.result == v.evaluation[0].reason

    def test_reasons_name_what_went_wrong(self) -> None:
        assert (
            one("contains", {"id": "a", "expected": ["x", "y"]}, "x alone").result
            == "missing 'y' (1 of 2 found)"
        )
        assert (
            one("length:3-5", {"id": "a"}, "abcdef").result == "6 characters, above the maximum 5"
        )
        assert (
            one("numeric", {"id": "a", "expected": 4}, "5").result
            == "the output's number is 5, off by 1"
        )
        assert (
            one("json_field:a.b=1", {"id": "a"}, '{"a": {}}').result
            == "the output has no field a.b"
        )
        assert "not JSON" in (one("json_valid", {"id": "a"}, "{nope").result or "")

    @pytest.mark.parametrize(
        "spec", ["equals", "contains", "icontains", "regex", "numeric", "json_field:a"]
    )
    def test_a_case_without_expected_gives_a_failed_verdict_naming_the_case(
        self, spec: str
    ) -> None:
        v = one(spec, {"id": "q7", "input": "hi"}, "anything")
        assert (v.score, v.passed) == (0.0, False)
        assert v.error is not None and "'q7' has no expected value" in v.error

    def test_an_expected_value_that_cannot_be_used_gives_a_failed_verdict(self) -> None:
        assert "not a number" in (one("numeric", {"id": "a", "expected": "many"}, "3").error or "")
        assert "regular expression" in (
            one("regex", {"id": "a", "expected": "(unclosed"}, "x").error or ""
        )


# --------------------------------------------------------------------------- spec validation


class TestSpecValidation:
    @pytest.mark.parametrize(
        ("spec", "message"),
        [
            ("equal", "unknown scorer 'equal'; did you mean 'equals'?"),
            ("bleu", "unknown scorer 'bleu'. Known: equals, contains"),
            ("", "a scorer spec is empty"),
            ("regex:(unclosed", "not a valid regular expression"),
            ("regex:", "give a pattern"),
            ("json_valid:x", "json_valid takes no argument"),
            ("json_field:", "give a path"),
            ("json_field:a..b=1", "path 'a..b' is not valid"),
            ("numeric:abc", "tolerance 'abc' is not valid"),
            ("length:abc", "write length:MIN-MAX"),
            ("length:9-3", "the minimum 9 is above the maximum 3"),
            ("python:no_such_module_tb:fn", "no module named 'no_such_module_tb'"),
            ("python:json:no_such_function", "'json' has no attribute 'no_such_function'"),
            ("python:json.no_such_sub:fn", "no module named 'json.no_such_sub'"),
            ("python:json", "write python:package.module:function"),
            ("python:json:__name__", "'json:__name__' is a str, not a function"),
            ("python:json:loads.nope", "'json:loads' has no attribute 'nope'"),
            ("python:math:pi", "is a float, not a function"),
            ("judge:local", "judge 'local' is not configured"),
            ("judge:local,model=m,key_env=LOCAL_KEY", "judge 'local' has no base URL"),
            (
                "judge:local,base_url=http://127.0.0.1:1/v1,key_env=LOCAL_KEY",
                "judge 'local' has no model",
            ),
            ("judge:local,base_url=http://127.0.0.1:1/v1,model=m", "names no API-key variable"),
            (
                "judge:local,base_url=http://h/v1,model=m,key_env=UNSET_KEY_VAR",
                "environment variable UNSET_KEY_VAR is not set",
            ),
            (
                "judge:local,base_url=ftp://h,model=m,key_env=none",
                "must start with http:// or https://",
            ),
            ("judge:openai,colour=red", "unknown option 'colour'"),
            ("judge:openai,temperature=hot", "temperature must be a number"),
            ("judge:openai,temperature=3", "temperature must be between 0 and 2"),
            ("judge:openai,repeats=0", "repeats must be between 1 and 100"),
            ("judge:openai,json_mode=maybe", "json_mode must be auto, on or off"),
            ("judge:openai,pass_score=11", "pass_score must be between 1 and 10"),
            ("judge:openai,timeout", "option 'timeout' is not KEY=VALUE"),
            ("judge:bad name", "judge name 'bad name' is not valid"),
            # whatever configures a judge is recorded in the log: no secrets in it
            (
                "judge:local,base_url=http://me:pw@127.0.0.1:1/v1,model=m,key_env=none",
                "base_url carries a secret, which would be written into the log",
            ),
            (
                "judge:local,base_url=http://127.0.0.1:1/v1?api_key=abc,model=m,key_env=none",
                "base_url carries a secret",
            ),
            ("judge:openai,api_key=sk-1", "api_key would write a secret into the log"),
        ],
    )
    def test_a_bad_spec_is_one_line_naming_the_problem(self, spec: str, message: str) -> None:
        with pytest.raises(ScorerConfigError) as e:
            resolve_scorers(["equals", spec], ENV)
        assert message in str(e.value)
        assert "\n" not in str(e.value)

    def test_openai_needs_its_key_variable(self) -> None:
        with pytest.raises(
            ScorerConfigError, match="environment variable OPENAI_API_KEY is not set"
        ):
            resolve_scorers(["judge:openai"], {})

    def test_the_same_scorer_twice_is_refused(self) -> None:
        with pytest.raises(ScorerConfigError, match="'judge:openai' is listed twice"):
            resolve_scorers(["judge:openai", "judge:openai,model=other"], ENV)

    def test_run_wide_settings_are_checked(self) -> None:
        with pytest.raises(ScorerConfigError, match="--judge-repeats must be at least 1"):
            resolve_scorers(["equals"], ENV, judge_repeats=0)
        with pytest.raises(ScorerConfigError, match="timeout must be positive"):
            resolve_scorers(["equals"], ENV, timeout=0)

    def test_judge_settings_come_from_defaults_config_and_inline_options_in_that_order(
        self,
    ) -> None:
        env = {**ENV, "OPENAI_BASE_URL": "http://gateway.local/v1"}
        judges: dict[str, dict[str, Any]] = {
            "openai": {"model": "from-config", "temperature": 0.5, "criteria": ["is polite"]},
            "local": {
                "base_url": "http://127.0.0.1:9/v1",
                "model": "m",
                "key_env": "none",
            },
        }
        openai, local = resolve_scorers(
            ["judge:openai,temperature=0.2", "judge:local,repeats=2"],
            env,
            judges=judges,
            judge_repeats=3,
        )
        assert isinstance(openai, JudgeScorer) and isinstance(local, JudgeScorer)
        assert (openai.config.base_url, openai.config.model, openai.config.temperature) == (
            "http://gateway.local/v1",
            "from-config",
            0.2,
        )
        assert (openai.config.key_env, openai.config.repeats, openai.config.criteria) == (
            "OPENAI_API_KEY",
            3,
            ("is polite",),
        )
        assert (local.config.key_env, local.config.repeats) == (None, 2)
        assert "sk-test" not in repr(local.describe()) + repr(openai.describe())
        assert local.describe()["base_url"] == "http://127.0.0.1:9/v1"
        assert len(openai.describe()["system_prompt_sha256"]) == 64

    def test_every_resolved_scorer_satisfies_the_protocol(self) -> None:
        scorers = resolve_scorers(["equals", "python:json:dumps", "judge:openai"], ENV)
        assert all(isinstance(s, Scorer) for s in scorers)
        assert [s.kind for s in scorers] == ["builtin", "python", "judge"]
        asyncio.run(close_scorers(scorers))


# --------------------------------------------------------------------------- code evaluators

_counter = itertools.count()


@pytest.fixture
def evaluators(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh module of code evaluators on a private path; yields its (unique) name."""
    name = f"tb_evaluators_{next(_counter)}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent("""
        import asyncio
        import threading

        RELEASE = threading.Event()
        CALLS = []

        def good(prompt, output, *, expected=None):
            ok = output == expected
            return {"score": 1.0 if ok else 0.25, "result": "compared",
                    "evaluation": [{"criteria": "matches expected", "passed": ok, "reason": "eq"},
                                   {"criteria": "is short", "passed": "yes", "reason": "len"}]}

        def picky(prompt, output, flags):
            CALLS.append(("picky", prompt, output, flags))
            return {"score": 7, "scale": 10, "passed": "no"}

        def everything(prompt, output, **context):
            CALLS.append(("everything", sorted(context)))
            return {"score": 0.5}

        def abstain(prompt, output):
            return None

        def boom(prompt, output):
            return {"a": 1}["missing"]

        def listy(prompt, output):
            return [1, 2]

        def no_score(prompt, output):
            return {"result": "forgot"}

        def too_big(prompt, output):
            return {"score": 7}

        def bad_passed(prompt, output):
            return {"score": 1, "passed": "perhaps"}

        def exits(prompt, output):
            raise SystemExit(3)

        def hangs(prompt, output):
            RELEASE.wait(10)
            return {"score": 1}

        async def hangs_async(prompt, output):
            await asyncio.sleep(10)

        async def async_good(prompt, output, case_id):
            await asyncio.sleep(0)
            return {"score": 1, "result": case_id}

        def needs_unknown(prompt, output, *, database):
            return {"score": 1}

        def one_arg(output):
            return {"score": 1}
    """),
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    module = sys.modules.pop(name, None)
    if module is not None:
        module.RELEASE.set()  # lets an abandoned evaluator thread finish


CASE = {
    "id": "q1",
    "input": "What is 2+2?",
    "expected": "4",
    "criteria": ["says 4"],
    "metadata": {"topic": "math"},
}


class TestCodeEvaluators:
    def test_a_dict_gives_score_rows_and_result(self, evaluators: str) -> None:
        v = one(f"python:{evaluators}:good", CASE, "4")
        assert (v.score, v.passed, v.result) == (1.0, True, "compared")
        assert [(r.criteria, r.passed) for r in v.evaluation] == [
            ("matches expected", True),
            ("is short", True),
        ]
        wrong = one(f"python:{evaluators}:good", CASE, "5")
        assert (wrong.score, wrong.passed) == (0.25, False)
        assert [r.criteria for r in wrong.failed_criteria] == ["matches expected"]

    def test_only_the_context_keys_the_function_accepts_are_passed(self, evaluators: str) -> None:
        spec = f"python:{evaluators}:picky"
        v = score(spec, CASE, "4", {"flags": {"strict": True}, "epoch": 2})[0]
        assert (v.raw_score, v.scale, v.score, v.passed) == (
            7.0,
            (0.0, 10.0),
            0.7,
            False,
        )  # "passed": "no" wins
        assert sys.modules[evaluators].CALLS == [("picky", "What is 2+2?", "4", {"strict": True})]

    def test_a_function_taking_kwargs_gets_every_context_key(self, evaluators: str) -> None:
        one(f"python:{evaluators}:everything", CASE, "4")
        assert sys.modules[evaluators].CALLS == [
            (
                "everything",
                [
                    "case",
                    "case_id",
                    "criteria",
                    "epoch",
                    "expected",
                    "flags",
                    "metadata",
                    "run_id",
                    "system_prompt",
                ],
            )
        ]

    def test_none_records_an_abstention(self, evaluators: str) -> None:
        v = one(f"python:{evaluators}:abstain", CASE, "4")
        assert (v.abstained, v.score, v.passed, v.error) == (True, None, None, None)

    @pytest.mark.parametrize(
        ("function", "reason"),
        [
            ("boom", "the evaluator raised KeyError: 'missing' (at tb_evaluators_"),
            (
                "listy",
                "the evaluator returned a list; return a dict with 'score' (or None to abstain)",
            ),
            ("no_score", "the evaluator's dict has no 'score' (keys: result)"),
            (
                "too_big",
                'the evaluator\'s score 7 is outside 0–1 or give its range with "scale": HIGH or [LOW, HIGH]',
            ),
            ("bad_passed", "the evaluator's passed 'perhaps' is not true or false"),
            ("exits", "the evaluator raised RuntimeError: SystemExit: 3"),
        ],
    )
    def test_anything_else_is_a_failed_verdict_with_the_reason(
        self, evaluators: str, function: str, reason: str
    ) -> None:
        v = one(f"python:{evaluators}:{function}", CASE, "4")
        assert (v.score, v.passed, v.abstained) == (0.0, False, False)
        assert v.error is not None and v.error.startswith(reason)

    @pytest.mark.parametrize("function", ["hangs", "hangs_async"])
    def test_an_evaluator_that_hangs_times_out_and_the_rollout_completes(
        self, evaluators: str, function: str
    ) -> None:
        specs = [f"python:{evaluators}:{function}", "equals", f"python:{evaluators}:good"]
        scorers = resolve_scorers(specs, ENV, timeout=0.2)
        started = time.perf_counter()
        verdicts = asyncio.run(score_rollout(scorers, CASE, "4"))
        assert time.perf_counter() - started < 2
        hung, equals, good = verdicts
        assert hung.error == "the evaluator did not finish within 0.2 s" and hung.passed is False
        assert equals.passed is True and good.passed is True

    def test_an_async_evaluator_is_awaited(self, evaluators: str) -> None:
        v = one(f"python:{evaluators}:async_good", CASE, "4")
        assert (v.score, v.result) == (1.0, "q1")

    def test_signatures_that_cannot_be_called_are_refused_before_the_run(
        self, evaluators: str
    ) -> None:
        with pytest.raises(
            ScorerConfigError, match="parameter 'database' is required but is not a context key"
        ):
            resolve_scorers([f"python:{evaluators}:needs_unknown"], ENV)
        with pytest.raises(ScorerConfigError, match=r"must accept \(prompt, output, \*\*context\)"):
            resolve_scorers([f"python:{evaluators}:one_arg"], ENV)

    def test_a_module_that_fails_to_import_says_why(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        (tmp_path / "tb_broken_dep.py").write_text(
            "import tb_not_installed_anywhere\n", encoding="utf-8"
        )
        (tmp_path / "tb_broken_syntax.py").write_text("def f(:\n", encoding="utf-8")
        monkeypatch.syspath_prepend(str(tmp_path))
        try:
            with pytest.raises(
                ScorerConfigError,
                match="importing 'tb_broken_dep' failed: it needs module 'tb_not_installed_anywhere'",
            ):
                resolve_scorers(["python:tb_broken_dep:f"], ENV)
            with pytest.raises(
                ScorerConfigError, match="importing 'tb_broken_syntax' failed: SyntaxError"
            ):
                resolve_scorers(["python:tb_broken_syntax:f"], ENV)
        finally:
            sys.modules.pop("tb_broken_dep", None)
            sys.modules.pop("tb_broken_syntax", None)

    def test_paths_put_the_users_project_on_the_import_path(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(sys, "path", list(sys.path))
        (tmp_path / "tb_project_evals.py").write_text(
            "def f(prompt, output):\n    return {'score': 1}\n", encoding="utf-8"
        )
        try:
            with pytest.raises(ScorerConfigError, match="no module named 'tb_project_evals'"):
                resolve_scorers(["python:tb_project_evals:f"], ENV)
            (scorer,) = resolve_scorers(["python:tb_project_evals:f"], ENV, paths=[tmp_path])
            assert isinstance(scorer, PythonScorer)
        finally:
            sys.modules.pop("tb_project_evals", None)

    def test_verdicts_become_events(self, evaluators: str) -> None:
        v = one(f"python:{evaluators}:good", CASE, "5")
        event = VerdictRecorded.of(v, run_id="r", case_id="q1", epoch=1)
        assert (event.scorer, event.score, event.passed, len(event.evaluation)) == (
            f"python:{evaluators}:good",
            0.25,
            False,
            2,
        )


class TestScoringARollout:
    def test_a_scorer_that_raises_yields_a_failed_verdict_not_a_crash(self) -> None:
        class Broken:
            name = "broken"
            kind = "test"

            def describe(self) -> dict[str, Any]:
                return {}

            async def score(
                self, case: Mapping[str, Any], output: Any, context: Mapping[str, Any] | None = None
            ) -> list[Verdict]:
                raise RuntimeError("bug")

            async def aclose(self) -> None:
                return None

        scorers: list[Scorer] = [Broken(), *resolve_scorers(["contains:4"], ENV)]
        broken, contains = asyncio.run(score_rollout(scorers, CASE, "4"))
        assert broken.error == "the scorer failed: RuntimeError: bug" and broken.passed is False
        assert contains.passed is True
