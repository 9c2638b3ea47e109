"""The LLM judge against a real local OpenAI-compatible server (tests/judge_server.py)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from tests.judge_server import JudgeServer, Reply
from trialbook.domain.verdicts import (
    JUDGE_SCALE,
    Verdict,
    VerdictRecorded,
    repeat_disagreements,
    summarize,
)
from trialbook.runners.judge_openai import JUDGE_SYSTEM_PROMPT
from trialbook.runners.scorers import JudgeScorer, close_scorers, resolve_scorers, score_rollout

ENV = {"JUDGE_KEY": "sk-local-test"}
CASE: dict[str, Any] = {
    "id": "q1",
    "input": [
        {"role": "system", "content": "You are a travel agent."},
        {"role": "user", "content": "Book me a hotel in Paris."},
    ],
    "expected": None,
    "criteria": ["names a hotel"],
    "metadata": {},
}


def good_answer(score: int = 8, passed: int = 6, total: int = 7) -> str:
    rows = [
        {
            "criteria": "names a hotel" if i == 0 else f"own criterion {i}",
            "passed": i < passed,
            "reason": "r",
        }
        for i in range(total)
    ]
    return json.dumps({"score": score, "evaluation": rows, "result": "solid answer"})


@pytest.fixture(scope="module")
def server() -> Iterator[JudgeServer]:
    with JudgeServer() as s:
        yield s


def judge(server: JudgeServer, model: str, **options: Any) -> JudgeScorer:
    opts = {
        "base_url": server.base_url,
        "model": model,
        "key_env": "JUDGE_KEY",
        "backoff": 0,
        "timeout": 5,
        **options,
    }
    inline = ",".join(f"{k}={v}" for k, v in opts.items())
    (scorer,) = resolve_scorers([f"judge:t,{inline}"], ENV)
    assert isinstance(scorer, JudgeScorer)
    return scorer


def run_judge(
    scorer: JudgeScorer,
    case: Mapping[str, Any] = CASE,
    output: Any = "The Hôtel Lutetia.",
    context: Mapping[str, Any] | None = None,
    times: int = 1,
) -> list[Verdict]:
    async def go() -> list[Verdict]:
        async with scorer:
            out: list[Verdict] = []
            for _ in range(times):
                out.extend(await scorer.score(case, output, context))
            return out

    return asyncio.run(go())


class TestAskingTheJudge:
    def test_a_valid_answer_gives_a_verdict_with_usage_and_cost(self, server: JudgeServer) -> None:
        model = server.script("valid", Reply(content=good_answer()))
        (v,) = run_judge(judge(server, model, price_in=2, price_out=10))
        assert (v.scorer, v.raw_score, v.score, v.scale, v.passed, v.error) == (
            "judge:t",
            8.0,
            0.8,
            JUDGE_SCALE,
            True,
            None,
        )
        assert v.result == "solid answer" and len(v.evaluation) == 7
        assert v.usage is not None
        assert (
            v.usage.model,
            v.usage.prompt_tokens,
            v.usage.completion_tokens,
            v.usage.attempts,
        ) == (model, 120, 30, 1)
        assert v.usage.cost_usd == pytest.approx((2 * 120 + 10 * 30) / 1e6)
        assert v.usage.latency_s is not None and v.usage.latency_s > 0

    def test_the_request_carries_the_rubric_the_prompts_criteria_and_the_result(
        self, server: JudgeServer
    ) -> None:
        model = server.script("request", Reply(content=good_answer()))
        run_judge(
            judge(server, model, temperature=0.3, max_tokens=800),
            context={"criteria": ["is polite"], "system_prompt": "Stay under budget."},
        )
        (request,) = server.requests(model)
        body, headers = request["body"], request["headers"]
        assert headers["authorization"] == "Bearer sk-local-test"
        assert (body["model"], body["temperature"], body["max_tokens"]) == (model, 0.3, 800)
        assert body["response_format"] == {"type": "json_object"}
        system, user = body["messages"]
        assert system == {"role": "system", "content": JUDGE_SYSTEM_PROMPT}
        assert "at least five criteria of your own" in system["content"]
        assert "Stay under budget.\n\nYou are a travel agent." in user["content"]
        assert "<user_prompt>\nBook me a hotel in Paris.\n</user_prompt>" in user["content"]
        assert (
            "1. is polite\n2. names a hotel" in user["content"]
        )  # the suite's criteria, then the case's
        assert "<agent_result>\nThe Hôtel Lutetia.\n</agent_result>" in user["content"]

    def test_no_key_is_sent_to_a_server_declared_keyless(self, server: JudgeServer) -> None:
        model = server.script("keyless", Reply(content=good_answer()))
        run_judge(judge(server, model, key_env="none"))
        assert "authorization" not in server.requests(model)[0]["headers"]


class TestMisbehavingJudges:
    @pytest.mark.parametrize(
        ("name", "content", "raw_score", "passed", "flag"),
        [
            ("fenced", "Here you go:\n```json\n" + good_answer(7) + "\n```", 7.0, True, None),
            (
                "string-bools",
                json.dumps(
                    {
                        "score": "6/10",
                        "evaluation": [
                            {"criteria": "names a hotel", "passed": "yes", "reason": "r"},
                            {"criteria": "price", "passed": "no", "reason": "r"},
                        ],
                        "result": "ok",
                    }
                ),
                6.0,
                False,
                "few_criteria",
            ),
            (
                "legacy-verdict",
                json.dumps({"verdict": "pass", "reason": "fine"}),
                10.0,
                True,
                "legacy_shape",
            ),
            (
                "legacy-hits",
                json.dumps({"hits": ["names a hotel", "in Paris"], "misses": ["price"]}),
                20 / 3,
                False,
                "legacy_shape",
            ),
            ("disagrees", good_answer(score=10, passed=2), 10.0, True, "score_vs_criteria"),
        ],
    )
    def test_odd_answers_are_read(
        self,
        server: JudgeServer,
        name: str,
        content: str,
        raw_score: float,
        passed: bool,
        flag: str | None,
    ) -> None:
        model = server.script(name, Reply(content=content))
        (v,) = run_judge(judge(server, model))
        assert v.error is None
        assert (v.raw_score, v.passed) == (pytest.approx(raw_score), passed)
        if flag:
            assert flag in {f.code for f in v.flags}

    @pytest.mark.parametrize(
        ("name", "reply", "reason"),
        [
            (
                "garbage",
                Reply(content="}}}{{{ not json at all"),
                "no JSON object in the judge's answer",
            ),
            ("empty", Reply(content=""), "the judge's answer is empty"),
            (
                "prose-refusal",
                Reply(content="I'm sorry, I can't evaluate that."),
                "the judge refused",
            ),
            (
                "refusal-field",
                Reply(content=None, refusal="I cannot help with that."),
                "the judge refused: I cannot help with that.",
            ),
            (
                "not-json-body",
                Reply(body="<html>proxy error</html>"),
                "judge returned a body that is not JSON",
            ),
            (
                "no-choices",
                Reply(body=json.dumps({"object": "chat.completion", "choices": []})),
                "judge answer has no choices[0].message",
            ),
        ],
    )
    def test_unusable_answers_fail_with_score_zero_and_keep_the_raw_answer(
        self, server: JudgeServer, name: str, reply: Reply, reason: str
    ) -> None:
        model = server.script(name, reply)
        (v,) = run_judge(judge(server, model))
        assert (v.score, v.raw_score, v.passed) == (0.0, 0.0, False)
        assert v.error is not None and v.error.startswith(reason)
        assert v.raw is not None
        assert len(server.requests(model)) == 1  # answers are not retried

    def test_a_slow_judge_times_out_and_is_retried_then_fails(self, server: JudgeServer) -> None:
        model = server.script("slow", Reply(content=good_answer(), delay=3))
        (v,) = run_judge(judge(server, model, timeout=0.2, retries=1))
        assert v.error == "the judge did not answer within 0.2 s (gave up after 2 attempts)"
        assert (v.score, v.passed) == (0.0, False)
        assert v.usage is not None and v.usage.attempts == 2
        assert len(server.requests(model)) == 2

    def test_500s_are_retried_until_an_answer_comes(self, server: JudgeServer) -> None:
        model = server.script(
            "flaky-500", Reply(status=500), Reply(status=503), Reply(content=good_answer())
        )
        (v,) = run_judge(judge(server, model, retries=2))
        assert v.error is None and v.raw_score == 8.0
        assert v.usage is not None and v.usage.attempts == 3
        assert len(server.requests(model)) == 3

    def test_persistent_500s_fail_after_the_retries(self, server: JudgeServer) -> None:
        model = server.script(
            "always-500", Reply(status=500, body='{"error": {"message": "overloaded"}}')
        )
        (v,) = run_judge(judge(server, model, retries=2))
        assert v.error is not None
        assert v.error.startswith("judge returned HTTP 500") and v.error.endswith(
            "(gave up after 3 attempts)"
        )
        assert "overloaded" in v.error
        assert len(server.requests(model)) == 3

    def test_429_honours_retry_after(self, server: JudgeServer) -> None:
        model = server.script(
            "rate-limited",
            Reply(status=429, headers={"Retry-After": "0"}),
            Reply(content=good_answer()),
        )
        (v,) = run_judge(judge(server, model, retries=1, backoff=60, max_backoff=60))
        assert v.error is None and len(server.requests(model)) == 2

    def test_other_client_errors_are_not_retried(self, server: JudgeServer) -> None:
        model = server.script(
            "unauthorised", Reply(status=401, body='{"error": {"message": "bad key"}}')
        )
        (v,) = run_judge(judge(server, model, retries=3))
        assert (
            v.error is not None
            and v.error.startswith("judge returned HTTP 401")
            and "bad key" in v.error
        )
        assert len(server.requests(model)) == 1

    def test_a_server_refusing_json_mode_is_asked_again_without_it(
        self, server: JudgeServer
    ) -> None:
        model = server.script("no-json-mode", Reply(content=good_answer(), reject_json_mode=True))
        verdicts = run_judge(judge(server, model), times=2)
        assert [v.raw_score for v in verdicts] == [8.0, 8.0]
        sent = ["response_format" in r["body"] for r in server.requests(model)]
        assert sent == [True, False, False]  # it stops sending it once refused

    def test_json_mode_on_does_not_fall_back_and_off_never_sends_it(
        self, server: JudgeServer
    ) -> None:
        strict = server.script(
            "strict-json-mode", Reply(content=good_answer(), reject_json_mode=True)
        )
        (v,) = run_judge(judge(server, strict, json_mode="on"))
        assert v.error is not None and "HTTP 400" in v.error and len(server.requests(strict)) == 1
        off = server.script("json-mode-off", Reply(content=good_answer()))
        run_judge(judge(server, off, json_mode="off"))
        assert "response_format" not in server.requests(off)[0]["body"]

    def test_an_unreachable_judge_fails_the_verdict(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        (scorer,) = resolve_scorers(
            [
                f"judge:gone,base_url=http://127.0.0.1:{port}/v1,model=m,key_env=none,"
                "retries=1,backoff=0"
            ],
            {},
        )
        assert isinstance(scorer, JudgeScorer)
        (v,) = run_judge(scorer)
        assert v.error is not None and v.error.startswith(
            f"cannot reach the judge at http://127.0.0.1:{port}/v1"
        )
        assert v.error.endswith("(gave up after 2 attempts)")


class TestJudgeRepeats:
    def test_k_repeats_give_k_verdicts_and_flag_a_flickering_judge(
        self, server: JudgeServer
    ) -> None:
        model = server.script(
            "flicker",
            Reply(content=good_answer(9, 7)),
            Reply(content=good_answer(3, 2)),
            Reply(content=good_answer(8, 6)),
        )
        (scorer,) = resolve_scorers(
            [f"judge:t,base_url={server.base_url},model={model},key_env=JUDGE_KEY,backoff=0"],
            ENV,
            judge_repeats=3,
        )
        assert isinstance(scorer, JudgeScorer) and scorer.config.repeats == 3
        verdicts = run_judge(scorer)
        assert sorted(v.repeat for v in verdicts) == [0, 1, 2]
        assert sorted(v.raw_score or 0 for v in verdicts) == [3.0, 8.0, 9.0]
        assert len(server.requests(model)) == 3
        events = [VerdictRecorded.of(v, run_id="r", case_id="q1", epoch=1) for v in verdicts]
        (flagged,) = repeat_disagreements(events)
        assert (flagged.passes, flagged.fails, flagged.passed) == (2, 1, True)
        summary = summarize(events)["judge:t"]
        assert (summary.prompt_tokens, summary.disagreements) == (360, 1)

    def test_judges_and_code_scorers_score_a_rollout_together(self, server: JudgeServer) -> None:
        model = server.script("together", Reply(content=good_answer()))
        scorers = resolve_scorers(
            [
                "icontains:lutetia",
                f"judge:t,base_url={server.base_url},model={model},key_env=JUDGE_KEY",
            ],
            ENV,
        )

        async def go() -> list[Verdict]:
            try:
                return await score_rollout(scorers, CASE, "The Hôtel Lutetia.")
            finally:
                await close_scorers(scorers)

        contains, judged = asyncio.run(go())
        assert (contains.scorer, contains.passed) == ("icontains:lutetia", True)
        assert (judged.scorer, judged.raw_score) == ("judge:t", 8.0)
