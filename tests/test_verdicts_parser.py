"""The judge-answer parser and the verdict values: tolerant reading, flags, never raising."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from trialbook.domain.canonical import content_hash
from trialbook.domain.events import load_event
from trialbook.domain.verdicts import (
    JUDGE_SCALE,
    Criterion,
    Verdict,
    VerdictRecorded,
    parse_bool,
    parse_judge_answer,
)


def rows(*passed: bool) -> list[dict[str, object]]:
    return [{"criteria": f"c{i}", "passed": p, "reason": f"r{i}"} for i, p in enumerate(passed)]


def answer(score: object, evaluation: object, result: str = "sum") -> str:
    return json.dumps({"score": score, "evaluation": evaluation, "result": result})


def codes(v: Verdict) -> set[str]:
    return {f.code for f in v.flags}


class TestReadingAnswers:
    def test_a_strict_answer_gives_its_score_rows_and_result(self) -> None:
        v = parse_judge_answer(answer(8, rows(True, True, True, True, False, True)))
        assert v.error is None
        assert (v.raw_score, v.score, v.scale, v.passed) == (8.0, 0.8, JUDGE_SCALE, True)
        assert [r.passed for r in v.evaluation] == [True, True, True, True, False, True]
        assert v.evaluation[4] == Criterion(criteria="c4", passed=False, reason="r4")
        assert v.failed_criteria == (Criterion(criteria="c4", passed=False, reason="r4"),)
        assert v.result == "sum"
        assert v.flags == ()

    @pytest.mark.parametrize(
        "wrap",
        [
            "```json\n{}\n```",
            "```\n{}\n```",
            "Here is my evaluation:\n\n```json\n{}\n```\nLet me know if you need more.",
            "Sure! {} Hope this helps.",
            "```json\n{}",  # an unterminated fence
        ],
    )
    def test_json_in_a_fence_or_in_prose_is_found(self, wrap: str) -> None:
        text = wrap.replace("{}", answer(6, rows(True, True, True, True, False, False, False)))
        v = parse_judge_answer(text)
        assert v.error is None and v.raw_score == 6.0 and len(v.evaluation) == 7

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("yes", True),
            ("Pass", True),
            ("TRUE", True),
            ("met", True),
            ("1", True),
            ("✅", True),
            ("no", False),
            ("FAILED", False),
            ("not met", False),
            ("partially", False),
            (0, False),
            ("maybe", None),
            (0.5, None),
            (None, None),
            ([], None),
        ],
    )
    def test_string_booleans(self, value: object, expected: bool | None) -> None:
        assert parse_bool(value) is expected

    def test_rows_with_string_booleans_are_read(self) -> None:
        evaluation = [
            {"criterion": "a", "pass": "yes", "explanation": "ok"},
            {"name": "b", "passed": "No", "reason": "bad"},
            {"criteria": "c", "result": "PASS"},
        ]
        v = parse_judge_answer(answer(7, evaluation))
        assert [(r.criteria, r.passed, r.reason) for r in v.evaluation] == [
            ("a", True, "ok"),
            ("b", False, "bad"),
            ("c", True, ""),
        ]

    def test_unreadable_rows_are_dropped_and_flagged(self) -> None:
        v = parse_judge_answer(
            answer(5, [{"criteria": "a", "passed": "perhaps"}, {"criteria": "b", "passed": True}])
        )
        assert [r.criteria for r in v.evaluation] == ["b"]
        assert "unreadable_rows" in codes(v)
        assert "perhaps" in next(f.detail for f in v.flags if f.code == "unreadable_rows")

    def test_criteria_given_as_a_mapping(self) -> None:
        v = parse_judge_answer(
            json.dumps(
                {
                    "score": 5,
                    "evaluation": {
                        "accurate": "yes",
                        "concise": {"passed": False, "reason": "long"},
                    },
                }
            )
        )
        assert [(r.criteria, r.passed, r.reason) for r in v.evaluation] == [
            ("accurate", True, ""),
            ("concise", False, "long"),
        ]

    @pytest.mark.parametrize(
        ("score", "raw", "flag"),
        [
            (14, 10.0, "clamped"),
            (-3, 1.0, "clamped"),
            (0, 1.0, "clamped"),
            (10, 10.0, None),
            ("8/10", 8.0, None),
            ("4 out of 5", 8.0, None),
            ("70%", 7.0, None),
            ("9 - excellent", 9.0, None),
            (0.8, 8.0, "fraction_scale"),
            ("7.5", 7.5, None),
        ],
    )
    def test_lenient_scores_are_read_and_clamped_to_one_to_ten(
        self, score: object, raw: float, flag: str | None
    ) -> None:
        v = parse_judge_answer(json.dumps({"score": score, "result": "r"}), lenient_scores=True)
        assert v.error is None
        assert v.raw_score == pytest.approx(raw)
        assert v.score == pytest.approx(raw / 10)
        if flag:
            assert flag in codes(v)
        else:
            assert not codes(v) & {"clamped", "fraction_scale"}

    def test_a_python_literal_and_trailing_commas_are_accepted(self) -> None:
        assert parse_judge_answer("{'score': 7, 'evaluation': [], 'result': None}").raw_score == 7.0
        assert parse_judge_answer('{"score": 6, "evaluation": [],}').raw_score == 6.0

    def test_an_answer_wrapped_in_an_envelope_is_unwrapped(self) -> None:
        v = parse_judge_answer(json.dumps({"response": {"score": 9, "result": "great"}}))
        assert (v.raw_score, v.result) == (9.0, "great")

    def test_a_bare_list_of_rows_is_a_shape_we_read(self) -> None:
        v = parse_judge_answer(json.dumps(rows(True, False, True, True)))
        assert v.raw_score == pytest.approx(7.5)
        assert "derived_score" in codes(v)


class TestLegacyShapes:
    def test_a_verdict_without_a_score(self) -> None:
        passed = parse_judge_answer('{"verdict": "pass", "reason": "fine"}')
        failed = parse_judge_answer('{"verdict": "FAIL", "reason": "wrong"}')
        assert (passed.raw_score, passed.passed, passed.result) == (10.0, True, "fine")
        assert (failed.raw_score, failed.passed, failed.result) == (1.0, False, "wrong")
        assert {"derived_score", "legacy_shape"} <= codes(passed)

    def test_hits_and_misses_as_names(self) -> None:
        v = parse_judge_answer(
            '{"hits": ["cites a source", "answers"], "misses": ["too long"], "score": 7}'
        )
        assert [(r.criteria, r.passed) for r in v.evaluation] == [
            ("cites a source", True),
            ("answers", True),
            ("too long", False),
        ]
        assert v.raw_score == 7.0 and "legacy_shape" in codes(v)

    def test_hits_and_misses_as_counts(self) -> None:
        v = parse_judge_answer('{"hits": 3, "misses": 1}')
        assert v.raw_score == pytest.approx(7.5) and v.passed is True and v.evaluation == ()

    def test_a_pass_field_that_disagrees_with_the_score_is_flagged(self) -> None:
        v = parse_judge_answer('{"pass": true, "score": 3, "reason": "ok"}')
        assert v.passed is False  # pass/fail always follows the score and the threshold
        assert "verdict_vs_score" in codes(v)

    def test_a_promptfoo_style_fraction_score(self) -> None:
        v = parse_judge_answer('{"pass": true, "score": 0.9, "reason": "good"}')
        assert (v.raw_score, v.passed, v.result) == (9.0, True, "good")
        assert "verdict_vs_score" not in codes(v)


class TestTheRubricChecks:
    def test_a_score_within_two_of_the_share_passed_is_not_flagged(self) -> None:
        v = parse_judge_answer(answer(5, rows(True, True, True, True, False, False)))  # 6.7
        assert "score_vs_criteria" not in codes(v)

    def test_a_score_more_than_two_away_from_the_share_passed_is_flagged(self) -> None:
        v = parse_judge_answer(answer(9, rows(True, True, False, False, False, False)))  # 3.3
        assert "score_vs_criteria" in codes(v)
        assert "2 of 6" in next(f.detail for f in v.flags if f.code == "score_vs_criteria")
        assert v.raw_score == 9.0  # recorded as the judge gave it

    def test_fewer_than_five_own_criteria_is_flagged(self) -> None:
        given_criteria = ["c0", "c1"]
        short = parse_judge_answer(answer(10, rows(*[True] * 6)), criteria=given_criteria)
        enough = parse_judge_answer(answer(10, rows(*[True] * 7)), criteria=given_criteria)
        assert "few_criteria" in codes(short)
        assert "few_criteria" not in codes(enough)

    def test_a_given_criterion_without_a_row_is_flagged(self) -> None:
        v = parse_judge_answer(
            answer(10, rows(*[True] * 7)), criteria=["c1", "mentions the refund policy"]
        )
        flag = next(f for f in v.flags if f.code == "missing_criteria")
        assert "refund policy" in flag.detail and "c1" not in flag.detail

    def test_the_pass_threshold_is_applied_to_the_normalised_score(self) -> None:
        text = json.dumps({"score": 6})
        assert parse_judge_answer(text).passed is False
        assert parse_judge_answer(text, threshold=0.6).passed is True


class TestUnusableAnswers:
    @pytest.mark.parametrize(
        ("text", "reason"),
        [
            ("", "empty"),
            ("   \n ", "empty"),
            ("The answer is good, I'd give it an eight.", "no JSON"),
            ("I'm sorry, but I can't help with evaluating this content.", "refused"),
            ('{"thoughts": "hmm", "confidence": 3}', "no score, criteria or verdict"),
            ('{"score": "excellent"}', "not a number"),
            ('{"score": NaN}', "not a finite number"),
            ('{"score": null, "evaluation": []}', "no score"),
            ("[1, 2, 3]", "no JSON"),
            ("{" * 5000, "no JSON"),
            ("[" * 100_000, "no JSON"),
        ],
    )
    def test_becomes_a_failed_verdict_with_score_zero_and_the_reason(
        self, text: str, reason: str
    ) -> None:
        v = parse_judge_answer(text, scorer="judge:x")
        assert (v.scorer, v.score, v.raw_score, v.passed) == ("judge:x", 0.0, 0.0, False)
        assert v.error is not None and reason in v.error
        assert v.raw == text

    def test_with_lenient_scores_a_boolean_score_falls_back_to_the_rows(self) -> None:
        v = parse_judge_answer(answer(True, rows(True, False)), lenient_scores=True)
        assert v.raw_score == 5.0 and "derived_score" in codes(v)


# --------------------------------------------------------------------------- properties

_keys = st.sampled_from(
    [
        "score",
        "evaluation",
        "result",
        "verdict",
        "hits",
        "misses",
        "passed",
        "criteria",
        "reason",
        "rating",
        "response",
        "pass",
        "Score",
        "x",
    ]
)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
    | st.sampled_from(["yes", "no", "8/10", "70%", "pass", "fail", "0.5", "-1", "1e309"])
)
_json_like = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(_keys | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=30,
)


def _check_invariants(v: Verdict) -> None:
    assert v.score is not None and 0.0 <= v.score <= 1.0
    assert v.passed is not None and not v.abstained
    if v.error is not None:
        assert v.score == 0.0 and v.passed is False
    else:
        assert v.raw_score is not None and 1.0 <= v.raw_score <= 10.0
        assert math.isclose(v.score, v.raw_score / 10)


class TestTheParserNeverRaises:
    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.text(max_size=400))
    def test_on_arbitrary_text(self, text: str) -> None:
        _check_invariants(parse_judge_answer(text))

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_json_like, st.sampled_from(["{}", "```json\n{}\n```", "Verdict: {} done", "{}\n{}"]))
    def test_on_json_like_values_however_wrapped(self, value: object, wrap: str) -> None:
        text = wrap.replace("{}", json.dumps(value))
        _check_invariants(parse_judge_answer(text, criteria=["a", "b"]))

    @settings(max_examples=150, deadline=None)
    @given(st.dictionaries(_keys, _json_like, max_size=6))
    def test_on_already_parsed_objects(self, value: dict[str, object]) -> None:
        _check_invariants(parse_judge_answer(value))


# --------------------------------------------------------------------------- values and the event


class TestVerdictValues:
    def test_an_abstention_has_neither_score_nor_pass(self) -> None:
        v = Verdict.abstention("python:m:f")
        assert (v.score, v.passed, v.abstained) == (None, None, True)
        with pytest.raises(ValidationError, match="abstained"):
            Verdict(scorer="s", abstained=True, score=0.5, passed=True)
        with pytest.raises(ValidationError, match="needs a score"):
            Verdict(scorer="s", score=0.5)

    def test_scores_outside_zero_to_one_and_bad_scales_are_refused(self) -> None:
        with pytest.raises(ValidationError):
            Verdict(scorer="s", score=1.5, passed=True)
        with pytest.raises(ValueError, match="scale"):
            Verdict.scored("s", 3, scale=(5, 5))
        with pytest.raises(ValidationError, match="scale"):
            Verdict(scorer="s", score=0.5, raw_score=3, scale=(5, 1), passed=True)

    def test_scored_normalises_onto_zero_to_one(self) -> None:
        v = Verdict.scored("s", 7, scale=(0, 10))
        assert (v.score, v.passed) == (0.7, True)
        assert Verdict.scored("s", 3, scale=(1, 5)).score == 0.5

    def test_the_event_round_trips_through_stored_data_without_the_raw_answer(self) -> None:
        v = parse_judge_answer(
            "```json\n"
            + answer(14, [*rows(True, False), {"criteria": "c2", "passed": "yes"}])
            + "\n```",
            scorer="judge:a",
            lenient_scores=True,
        )
        v = v.model_copy(update={"repeat": 2})
        blob = content_hash(v.raw or "")
        event = VerdictRecorded.of(v, run_id="r1", case_id="q1", epoch=1, raw_blob=blob)
        data = event.to_data()
        assert "raw" not in data and data["raw_blob"] == blob
        loaded = load_event(
            "VerdictRecorded", VerdictRecorded.schema_version, json.loads(json.dumps(data))
        )
        assert loaded == event
        assert isinstance(loaded, VerdictRecorded)
        assert (loaded.repeat, loaded.raw_score, [f.code for f in loaded.flags]) == (
            2,
            10.0,
            ["clamped", "score_vs_criteria", "few_criteria"],
        )

    def test_the_event_refuses_a_raw_blob_that_is_not_a_hash(self) -> None:
        with pytest.raises(ValidationError, match="SHA-256"):
            VerdictRecorded.of(
                Verdict.abstention("s"), run_id="r", case_id="c", epoch=1, raw_blob="nothex"
            )
