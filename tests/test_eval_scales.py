"""Scorers and judges on their own scale (issue #18): ``scale=1-10``, shown as N/10, normalised for statistics.

End to end through ``eval run`` with real SQLite files, a code evaluator
imported from a module on disk and a judge served by a real OpenAI-style HTTP
server on 127.0.0.1 (tests/judge_server.py). The same evaluator and judge
rescaled to 0–1 run beside them: every statistic must come out identical.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.proportion import proportion_confint

from tests.conftest import Invoke, add_suite, count_events, show_json
from tests.judge_server import JudgeServer, Reply
from trialbook.domain.judge_answer import ScoreRules, parse_judge_answer
from trialbook.domain.verdict_values import from_normalised, normalise, on_scale, parse_scale
from trialbook.domain.verdicts import Verdict, VerdictRecorded, agreements, pass_k, summarize
from trialbook.runners.judge_openai import BANDED_SYSTEM_PROMPT, JUDGE_SYSTEM_PROMPT

MODULE = "tb_scale_evaluators"
EVALUATORS = """
import re


def _n(output):
    return int(re.search(r"-?\\d+", str(output)).group(0))


def answer_a(case):
    return case["input"]


def answer_b(case):
    return case["metadata"]["b"]


def ten(prompt, output):
    return {"score": _n(output)}


def unit(prompt, output):
    return {"score": (_n(output) - 1) / 9}


def eleven(prompt, output):
    return {"score": 11}
"""
#: run "a" answers the input, run "b" the metadata's "b": c1 and c4 go up, c2 and c6 down
A_SCORES = [6, 8, 3, 7, 10, 9, 1, 5]
B_SCORES = [8, 4, 3, 9, 10, 6, 1, 5]
CASES = [
    {"id": f"c{i + 1}", "input": str(a), "metadata": {"b": str(b)}}
    for i, (a, b) in enumerate(zip(A_SCORES, B_SCORES, strict=True))
]
ROWS = 9  # the judge's criteria: n - 1 of 9 pass, so the score sits on the share of passed criteria
#: 7 on 1–10 normalised: (7 - 1) / 9, written as text the way a user would copy it
UNIT_THRESHOLD = repr((7 - 1) / 9)


def _number(text: str) -> int:
    found = re.search(r"<agent_result>\s*(-?\d+)", text)
    assert found, text
    return int(found.group(1))


class GradingJudge(JudgeServer):
    """The test judge server, answering each request from the number in its ``<agent_result>``.

    Model ``ten`` scores it on 1–10, ``unit`` the same rescaled to 0–1, ``noscore``
    gives criteria and no score, ``over`` scores 11.
    """

    def _record(self, model: str, body: dict[str, Any], headers: dict[str, str]) -> Reply | None:
        scripted = super()._record(model, body, headers)
        if scripted is None:
            return None
        n = _number(body["messages"][-1]["content"])
        rows = [
            {"criteria": f"criterion {i}", "passed": i < n - 1, "reason": "r"} for i in range(ROWS)
        ]
        answer: dict[str, Any] = {"evaluation": rows, "result": f"graded {n}"}
        if model == "ten":
            answer["score"] = n
        elif model == "unit":
            answer["score"] = (n - 1) / 9
        elif model == "over":
            answer["score"] = 11
        return Reply(content=json.dumps(answer))


@pytest.fixture(scope="module")
def judge_server() -> Iterator[GradingJudge]:
    with GradingJudge() as server:
        for model in ("ten", "unit", "noscore", "over"):
            server.script(model, Reply(content="{}"))
        yield server


@pytest.fixture(scope="module")
def evaluators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("evaluators")
    (folder / f"{MODULE}.py").write_text(textwrap.dedent(EVALUATORS), encoding="utf-8")
    sys.path.insert(0, str(folder))
    try:
        yield MODULE
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop(MODULE, None)


def judge_spec(server: JudgeServer, name: str, *options: str) -> str:
    return ",".join(
        [f"judge:{name}", f"base_url={server.base_url}", f"model={name}", "key_env=none", *options]
    )


def scorer_args(server: JudgeServer) -> list[str]:
    specs = [
        f"python:{MODULE}:ten,scale=1-10,threshold=7",
        f"python:{MODULE}:unit,threshold={UNIT_THRESHOLD}",
        judge_spec(server, "ten", "scale=1-10", "threshold=7"),
        judge_spec(server, "unit", "scale=0-1", f"threshold={UNIT_THRESHOLD}"),
    ]
    return [x for spec in specs for x in ("--scorer", spec)]


SCALED = {"python": f"python:{MODULE}:ten", "judge": "judge:ten"}
UNIT = {"python": f"python:{MODULE}:unit", "judge": "judge:unit"}


@pytest.fixture
def two_runs(
    invoke: Invoke, tmp_path: Path, judge_server: GradingJudge, evaluators: str
) -> tuple[str, str]:
    add_suite(invoke, tmp_path / "sc.jsonl", CASES)
    for name in ("a", "b"):
        r = invoke(
            "eval",
            "run",
            "sc",
            "--target",
            f"python:{MODULE}:answer_{name}",
            "--name",
            name,
            *scorer_args(judge_server),
        )
        assert r.exit_code == 0, r.output
    return "a", "b"


def without_scale(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in ("scale", "mean_on_scale")}


class TestOneToTenEndToEnd:
    def test_verdicts_record_the_raw_score_on_its_scale_and_the_normalised_score(
        self, invoke: Invoke, two_runs: tuple[str, str]
    ) -> None:
        data = show_json(invoke, "a")
        for row in data["rollouts"]:
            n = int(row["case_id"][1:])
            expected = A_SCORES[n - 1]
            for kind in ("python", "judge"):
                cell = row["verdicts"][SCALED[kind]]
                assert cell["raw_score"] == expected
                assert cell["scale"] == [1, 10]
                assert cell["score"] == (expected - 1) / 9
                assert cell["passed"] is (expected >= 7)
                assert row["verdicts"][UNIT[kind]]["scale"] == [0, 1]

    def test_statistics_are_identical_to_the_evaluator_rescaled_to_0_1(
        self, invoke: Invoke, two_runs: tuple[str, str]
    ) -> None:
        for run, scores in zip(two_runs, (A_SCORES, B_SCORES), strict=True):
            scorers = show_json(invoke, run)["scorers"]
            for kind in ("python", "judge"):
                scaled, unit = scorers[SCALED[kind]], scorers[UNIT[kind]]
                assert without_scale(scaled) == without_scale(unit)
                normalised = [(s - 1) / 9 for s in scores]
                assert scaled["mean"] == pytest.approx(sum(normalised) / len(normalised))
                assert scaled["mean_on_scale"] == pytest.approx(sum(scores) / len(scores))
                passed = sum(s >= 7 for s in scores)
                assert scaled["pass_rate"] == passed / len(scores)
                ref = proportion_confint(passed, len(scores), method="wilson")
                assert scaled["pass_interval"] == pytest.approx(list(ref), abs=1e-12)
                assert (scaled["scale"], unit["scale"]) == ([1, 10], [0, 1])

    def test_compare_is_identical_on_either_scale(
        self, invoke: Invoke, two_runs: tuple[str, str]
    ) -> None:
        for kind in ("python", "judge"):
            seen = []
            for name in (SCALED[kind], UNIT[kind]):
                r = invoke("eval", "compare", *two_runs, "--scorer", name, "--json")
                assert r.exit_code == 0, r.output
                seen.append(r.output.replace(json.dumps(name)[1:-1], "SCORER"))
            assert json.loads(seen[0]) == json.loads(seen[1])
            data = json.loads(seen[0])
            assert [x["case_id"] for x in data["regressions"]] == ["c2", "c6"]

    def test_show_gives_scores_on_their_scale(
        self, invoke: Invoke, two_runs: tuple[str, str]
    ) -> None:
        r = invoke("eval", "show", "a")
        assert r.exit_code == 0, r.output
        line = next(x for x in r.output.splitlines() if x.startswith("c1 "))
        assert line.count("6/10 FAIL") == 2  # the evaluator and the judge; 0–1 ones stay 0.556
        assert "0.556 FAIL" in line
        mean = sum(A_SCORES) / len(A_SCORES)
        footer = next(x for x in r.output.splitlines() if x.startswith(f"{SCALED['python']}:"))
        assert f"mean {on_scale(mean, (1, 10))}" in footer
        r = invoke("eval", "show", "a", "--case", "c2")
        assert r.exit_code == 0, r.output
        assert re.search(r"judge:ten\s+1\s+0\s+8/10\s+yes", r.output), r.output


class TestBadScalesAndOutOfScaleScores:
    @pytest.mark.parametrize(
        ("scale", "message"),
        [
            ("10-1", "scale '10-1': the minimum 10 must be below the maximum 1"),
            ("5-5", "scale '5-5': the minimum 5 must be below the maximum 5"),
            ("ten", "scale 'ten' is not MIN-MAX; write MIN-MAX or MIN..MAX, e.g. scale=1-10"),
        ],
    )
    def test_a_bad_scale_is_one_line_and_appends_nothing(
        self,
        invoke: Invoke,
        tmp_path: Path,
        db_path: Path,
        judge_server: GradingJudge,
        evaluators: str,
        scale: str,
        message: str,
    ) -> None:
        add_suite(invoke, tmp_path / "sc.jsonl", CASES)
        before = count_events(db_path)
        target = f"python:{MODULE}:answer_a"
        for spec in (
            f"python:{MODULE}:ten,scale={scale}",
            judge_spec(judge_server, "ten", f"scale={scale}"),
        ):
            r = invoke("eval", "run", "sc", "--target", target, "--scorer", spec)
            assert r.exit_code != 0
            (line,) = r.output.strip().splitlines()
            assert line.startswith("Error: ") and message in line, line
            assert count_events(db_path) == before

    @pytest.mark.parametrize(
        ("spec", "message"),
        [
            ("python:M:ten,threshold=7", "threshold 7 is outside the scale 0–1; declare the scale"),
            ("python:M:ten,scale=1-10,threshold=11", "threshold 11 is outside the scale 1–10"),
            ("python:M:ten,scale=1-10,colour=red", "unknown option 'colour'"),
        ],
    )
    def test_a_bad_evaluator_option_is_one_line(
        self,
        invoke: Invoke,
        tmp_path: Path,
        db_path: Path,
        evaluators: str,
        spec: str,
        message: str,
    ) -> None:
        add_suite(invoke, tmp_path / "sc.jsonl", CASES)
        before = count_events(db_path)
        r = invoke(
            "eval",
            "run",
            "sc",
            "--target",
            f"python:{MODULE}:answer_a",
            "--scorer",
            spec.replace("M", MODULE, 1),
        )
        assert r.exit_code != 0
        (line,) = r.output.strip().splitlines()
        assert message in line, line
        assert count_events(db_path) == before

    def test_a_score_outside_the_declared_scale_is_a_scoring_error(
        self, invoke: Invoke, tmp_path: Path, judge_server: GradingJudge, evaluators: str
    ) -> None:
        add_suite(invoke, tmp_path / "sc.jsonl", CASES[:3])
        r = invoke(
            "eval",
            "run",
            "sc",
            "--target",
            f"python:{MODULE}:answer_a",
            "--name",
            "over",
            "--scorer",
            f"python:{MODULE}:eleven,scale=1-10",
            "--scorer",
            judge_spec(judge_server, "over", "scale=1-10"),
        )
        assert r.exit_code == 0, r.output
        data = show_json(invoke, "over")
        for name, reason in (
            (f"python:{MODULE}:eleven", "the evaluator's score 11 is outside 1–10"),
            ("judge:over", "unusable judge answer: score 11 is outside 1–10"),
        ):
            assert data["scorers"][name]["errors"] == 3
            assert data["scorers"][name]["mean"] is None
            for row in data["rollouts"]:
                assert row["verdicts"][name]["error"].startswith(reason)


class TestNoScoreAndFractionRules:
    def test_a_judge_answer_without_a_score_follows_no_score(
        self, invoke: Invoke, tmp_path: Path, judge_server: GradingJudge, evaluators: str
    ) -> None:
        add_suite(invoke, tmp_path / "sc.jsonl", CASES[:2])  # inputs 6 and 8: 5 and 7 of 9 pass
        args = ["--target", f"python:{MODULE}:answer_a"]
        runs = {
            "share": judge_spec(judge_server, "noscore"),
            "seven": judge_spec(judge_server, "noscore", "scale=1-10", "no_score=7"),
            "middle": judge_spec(judge_server, "noscore", "scale=1-10", "no_score=midpoint"),
            "strict": judge_spec(judge_server, "noscore", "no_score=error"),
        }
        for name, spec in runs.items():
            r = invoke("eval", "run", "sc", *args, "--name", name, "--scorer", spec)
            assert r.exit_code == 0, r.output
        raw = {
            name: [
                row["verdicts"]["judge:noscore"]["raw_score"]
                for row in show_json(invoke, name)["rollouts"]
            ]
            for name in runs
        }
        assert raw["share"] == pytest.approx([10 * 5 / 9, 10 * 7 / 9])  # today's rule, unchanged
        assert raw["seven"] == [7.0, 7.0]
        assert raw["middle"] == [5.5, 5.5]
        strict = show_json(invoke, "strict")
        assert strict["scorers"]["judge:noscore"]["errors"] == 2
        error = strict["rollouts"][0]["verdicts"]["judge:noscore"]["error"]
        assert "the answer has no score (no_score=error)" in error

    @pytest.mark.parametrize(
        ("written", "fraction", "expected"),
        [
            ("6/10", "share", 6.0),
            ("3/5", "share", 6.0),
            ("60%", "share", 6.0),
            (0.6, "share", 6.0),
            ("6/10", "scale", 1 + 0.6 * 9),
            ("3/5", "numerator", 3.0),
            ("6/10", "numerator", 6.0),
        ],
    )
    def test_fractions_are_read_by_the_fraction_rule(
        self, written: Any, fraction: str, expected: float
    ) -> None:
        rules = ScoreRules(scale=(1.0, 10.0), fraction=fraction)
        v = parse_judge_answer(json.dumps({"score": written}), rules=rules)
        assert v.error is None and v.raw_score == pytest.approx(expected)
        assert v.scale == (1.0, 10.0)
        assert v.score == pytest.approx((expected - 1) / 9)

    @pytest.mark.parametrize("written", ["6/10", "60%", 0.6])
    def test_fraction_error_refuses_fractions(self, written: Any) -> None:
        v = parse_judge_answer(
            json.dumps({"score": written}), rules=ScoreRules(scale=(1.0, 10.0), fraction="error")
        )
        assert v.error is not None and "is a fraction" in v.error and "(fraction=error)" in v.error

    def test_the_default_judge_reads_as_before(self) -> None:
        v = parse_judge_answer(json.dumps({"score": "6/10"}))
        assert (v.raw_score, v.scale, v.score) == (6.0, (0.0, 10.0), 0.6)


class TestScaleSpecsAndRubrics:
    @pytest.mark.parametrize(
        ("text", "scale"),
        [("1-10", (1, 10)), ("1..10", (1, 10)), ("-5..5", (-5, 5)), ("0 - 100", (0, 100))],
    )
    def test_both_syntaxes_read(self, text: str, scale: tuple[float, float]) -> None:
        assert parse_scale(text) == scale

    def test_a_score_is_shown_on_its_scale(self) -> None:
        assert on_scale(6.0, (1.0, 10.0)) == "6/10"
        assert on_scale(6.25, (1.0, 10.0)) == "6.25/10"
        assert on_scale(0.5556, (0.0, 1.0)) == "0.556"
        assert on_scale(-2.0, (-5.0, 5.0)) == "-2 on -5..5"

    def test_the_banded_rubric_is_sent_and_scores_on_1_10(
        self, invoke: Invoke, tmp_path: Path, judge_server: GradingJudge, evaluators: str
    ) -> None:
        add_suite(invoke, tmp_path / "sc.jsonl", CASES[:1])
        before = len(judge_server.requests("ten"))
        r = invoke(
            "eval",
            "run",
            "sc",
            "--target",
            f"python:{MODULE}:answer_a",
            "--name",
            "banded",
            "--scorer",
            judge_spec(judge_server, "ten", "rubric=banded-1-10", "threshold=6"),
        )
        assert r.exit_code == 0, r.output
        (request,) = judge_server.requests("ten")[before:]
        system = request["body"]["messages"][0]["content"]
        assert system == BANDED_SYSTEM_PROMPT and system != JUDGE_SYSTEM_PROMPT
        assert "1-3 critical failure" in system and "10 complete match" in system
        cell = show_json(invoke, "banded")["rollouts"][0]["verdicts"]["judge:ten"]
        assert (cell["raw_score"], cell["scale"], cell["passed"]) == (6, [1, 10], True)


def _recorded(v: Verdict, case: int, epoch: int) -> VerdictRecorded:
    return VerdictRecorded.of(v, run_id="r", case_id=f"c{case}", epoch=epoch)


ends = st.integers(min_value=-50, max_value=50)


class TestStatisticsIgnoreTheScale:
    @settings(max_examples=60, deadline=None)
    @given(
        low=ends,
        span=st.integers(min_value=1, max_value=100),
        steps=st.lists(
            st.lists(st.integers(min_value=0, max_value=20), min_size=2, max_size=2),
            min_size=1,
            max_size=12,
        ),
        cut=st.integers(min_value=0, max_value=20),
    )
    def test_a_rescaled_scorer_has_the_same_statistics(
        self, low: int, span: int, steps: list[list[int]], cut: int
    ) -> None:
        """Scores k/20 of the way up a scale and the same on 0–1, with the same threshold."""
        scale = (float(low), float(low + span))
        threshold = from_normalised(cut / 20, scale)
        scaled, unit = [], []
        for case, epochs in enumerate(steps):
            for epoch, k in enumerate(epochs, 1):
                raw = from_normalised(k / 20, scale)
                a = Verdict.scored("a", raw, scale=scale, pass_score=threshold)
                b = Verdict.scored("b", a.score or 0.0, passed=a.passed)
                scaled.append(_recorded(a, case, epoch))
                unit.append(_recorded(b, case, epoch))
                assert a.score == pytest.approx(k / 20, abs=1e-12)
                assert a.passed is (k >= cut)  # the threshold on the scale decides as on 0–1
        sa, sb = summarize(scaled)["a"], summarize(unit)["b"]
        assert {**vars(sa), "scorer": "-"} == {**vars(sb), "scorer": "-"}
        assert vars(pass_k(scaled, 2)["a"]) | {"scorer": "-"} == vars(pass_k(unit, 2)["b"]) | {
            "scorer": "-"
        }
        (agreement,) = agreements(scaled + unit)
        assert agreement.percent == 1.0

    @given(low=ends, span=st.integers(min_value=1, max_value=100), share=st.floats(0, 1))
    def test_normalising_and_placing_back_are_inverse(
        self, low: int, span: int, share: float
    ) -> None:
        scale = (float(low), float(low + span))
        assert normalise(from_normalised(share, scale), scale) == pytest.approx(share, abs=1e-12)

    def test_an_event_without_a_scale_reads_as_0_1(self) -> None:
        data = _recorded(Verdict.scored("a", 0.4), 1, 1).model_dump(mode="json")
        data.pop("scale")
        old = VerdictRecorded.model_validate(data)
        assert (old.scale, old.raw_score, old.score) == ((0.0, 1.0), 0.4, 0.4)


class TestPythonApi:
    def test_a_bad_scale_raises_the_clis_message_and_records_nothing(
        self, db_path: Path, evaluators: str
    ) -> None:
        import trialbook

        with trialbook.open(db_path) as tb:
            tb.evals.add_suite(CASES[:2], name="api")
            before = count_events(db_path)
            with pytest.raises(trialbook.InvalidCommand) as e:
                tb.evals.run(
                    "api",
                    f"python:{MODULE}:answer_a",
                    scorers=[f"python:{MODULE}:ten,scale=10-1"],
                )
            assert "scale '10-1': the minimum 10 must be below the maximum 1" in str(e.value)
            assert count_events(db_path) == before
            report = tb.evals.run(
                "api", f"python:{MODULE}:answer_a", scorers=[f"python:{MODULE}:ten,scale=1..10"]
            )
            cell = report.rollouts[0].verdicts[f"python:{MODULE}:ten"]
            assert (cell.raw_score, cell.scale) == (6, [1, 10])
            summary = report.scorers[f"python:{MODULE}:ten"]
            assert summary.scale == [1, 10]
            assert summary.mean_on_scale == pytest.approx((6 + 8) / 2)
            assert summary.mean == pytest.approx(((6 - 1) / 9 + (8 - 1) / 9) / 2)


class TestJudgeOptions:
    BASE = {"base_url": "http://127.0.0.1:9/v1", "model": "m", "key_env": "none"}

    def test_a_run_config_table_may_give_the_scale_as_a_list_and_no_score_as_a_number(
        self,
    ) -> None:
        from trialbook.runners.judge_openai import judge_config

        config, _ = judge_config("t", {**self.BASE, "scale": [0, 100], "no_score": 70}, {})
        assert (config.scale, config.no_score, config.pass_score) == ((0.0, 100.0), 70.0, None)
        assert "Score the result from 0 to 100" in config.system_prompt
        assert config.describe()["scale"] == [0.0, 100.0]
        default, _ = judge_config("t", dict(self.BASE), {})
        assert default.system_prompt == JUDGE_SYSTEM_PROMPT
        assert not {"scale", "rubric", "no_score", "fraction"} & default.describe().keys()

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ("no_score=zero", "no_score must be criteria-share, midpoint, error or a number"),
            ("scale=1-10,no_score=11", "no_score 11 is outside the scale 1–10"),
            ("rubric=strict", "rubric must be one of default, banded-1-10, not 'strict'"),
            ("fraction=half", "fraction must be one of share, scale, numerator, error"),
            ("scale=0-1,threshold=7", "pass_score must be between 0 and 1"),
            ("threshold=7,pass_score=7", "give threshold or pass_score, not both"),
            ("rubric=banded-1-10,scale=0-100", "rubric banded-1-10 scores 1–10"),
        ],
    )
    def test_a_bad_option_is_one_line(self, options: str, message: str) -> None:
        from trialbook.domain.verdicts import ScorerConfigError
        from trialbook.runners.scorers import resolve_scorers

        inline = ",".join(f"{k}={v}" for k, v in self.BASE.items())
        with pytest.raises(ScorerConfigError) as e:
            resolve_scorers([f"judge:t,{inline},{options}"], {})
        assert message in str(e.value) and "\n" not in str(e.value)
