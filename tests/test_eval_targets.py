"""Eval targets against real local servers, callables and commands: specs, secrets, preflight, calls."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import textwrap
import time

import pytest

from trialbook.domain.suites import Case
from trialbook.runners.eval_errors import (
    RetryableError,
    RolloutRefused,
    TargetConfigError,
    TargetUnavailable,
)
from trialbook.runners.targets import (
    MAX_RETRY_AFTER,
    CommandTarget,
    HttpTarget,
    OpenAITarget,
    PythonTarget,
    RolloutRequest,
    make_target,
    parse_retry_after,
    parse_target_spec,
    redact_url,
)

try:
    from tests.servers import ChatServer, TaskServer
except ImportError:  # tests/ is on sys.path rather than the repo root
    from servers import ChatServer, TaskServer  # type: ignore[no-redef]

CASE = Case(id="c1", input="hello world", expected="echo: hello world", metadata={"k": 1})


def request(case: Case = CASE, **kw) -> RolloutRequest:
    return RolloutRequest(
        run_id="r1", case=case, epoch=1, attempt=1, seed=42, policy={"model": "m"}, **kw
    )


def run(coro):
    return asyncio.run(coro)


async def call_once(target, req=None):
    await target.start(concurrency=2, timeout=5)
    try:
        return await target.call(req or request())
    finally:
        await target.aclose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def task_server():
    with TaskServer() as server:
        yield server


@pytest.fixture(scope="module")
def chat_server():
    with ChatServer(api_key="sk-test-123") as server:
        yield server


@pytest.fixture(autouse=True)
def _reset(request):
    for name in ("task_server", "chat_server"):
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()


class TestSpecs:
    @pytest.mark.parametrize(
        ("spec", "config"),
        [
            (
                "http:http://127.0.0.1:8000/run",
                {"kind": "http", "url": "http://127.0.0.1:8000/run"},
            ),
            ("https://tasks.example/run", {"kind": "http", "url": "https://tasks.example/run"}),
            ("openai:gpt-4o-mini", {"kind": "openai", "model": "gpt-4o-mini"}),
            (
                "openai:llama3@http://127.0.0.1:9/v1;api_key_env=LOCAL_KEY;temperature=0;max_tokens=64",
                {
                    "kind": "openai",
                    "model": "llama3",
                    "base_url": "http://127.0.0.1:9/v1",
                    "api_key_env": "LOCAL_KEY",
                    "temperature": 0,
                    "max_tokens": 64,
                },
            ),
            ("python:my_pkg.agent:solve", {"kind": "python", "callable": "my_pkg.agent:solve"}),
            (
                "command:python agent.py; echo done",
                {"kind": "command", "command": "python agent.py; echo done"},
            ),
        ],
    )
    def test_spec_strings(self, spec, config):
        assert parse_target_spec(spec) == config

    @pytest.mark.parametrize(
        ("spec", "message"),
        [
            ("ftp:thing", "write http:URL, openai:MODEL[@BASE_URL]"),
            ("openai:m@localhost:8000", "after '@' comes the base URL"),
            ("http:not a url", "is not valid; write http://HOST:PORT/PATH"),
            ("openai:", "needs a model"),
            ("python:nomodulecolon", "write python:package.module:function"),
            ("http:http://x/run;oops", "write ;key=value"),
        ],
    )
    def test_bad_specs_say_how_to_write_them(self, spec, message):
        with pytest.raises(TargetConfigError) as e:
            make_target(spec, env={})
        assert message in str(e.value)

    def test_config_tables_name_unknown_options(self):
        with pytest.raises(TargetConfigError, match="unknown option 'api_key'.*use api_key_env"):
            make_target({"kind": "http", "url": "http://x/run", "api_key": "sk-1"}, env={})
        with pytest.raises(TargetConfigError, match="unknown option 'colour'; options are url"):
            make_target({"kind": "http", "url": "http://x/run", "colour": "red"}, env={})
        with pytest.raises(TargetConfigError, match="target kind 'grpc' is unknown"):
            make_target({"kind": "grpc"}, env={})

    def test_config_tables_build_targets(self):
        t = make_target(
            {
                "kind": "openai",
                "model": "m",
                "base_url": "http://127.0.0.1:1/v1",
                "system": "Be brief.",
                "temperature": 0.2,
            },
            env={},
        )
        assert isinstance(t, OpenAITarget) and t.system_prompt == "Be brief."
        assert isinstance(make_target({"url": "http://127.0.0.1:1/run"}, env={}), HttpTarget)

    def test_retry_after_as_seconds_or_date_capped(self):
        assert parse_retry_after("2") == 2.0
        assert parse_retry_after("0.5") == 0.5
        assert parse_retry_after("Thu, 01 Jan 2099 00:00:00 GMT") == MAX_RETRY_AFTER
        assert parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT", now=0.0) == 10.0
        assert parse_retry_after("soon") is None and parse_retry_after(None) is None


class TestSecrets:
    def test_api_keys_and_secret_headers_never_reach_describe(self):
        env = {"TASK_KEY": "sk-live-abcdef"}
        t = make_target(
            {
                "kind": "http",
                "url": "http://user:hunter2@127.0.0.1:1/run?token=xyz&team=a",
                "api_key_env": "TASK_KEY",
                "headers": {"X-Api-Key": "k-123", "X-Team": "evals"},
            },
            env=env,
        )
        described = json.dumps(t.describe())
        for secret in ("sk-live-abcdef", "hunter2", "xyz", "k-123"):
            assert secret not in described
        assert t.describe()["api_key_env"] == "TASK_KEY"
        assert t.describe()["headers"] == {"X-Api-Key": "<redacted>", "X-Team": "evals"}
        o = make_target("openai:m@http://127.0.0.1:1/v1;api_key_env=K", env={"K": "sk-openai-zzz"})
        assert "sk-openai-zzz" not in json.dumps(o.describe())

    def test_a_missing_api_key_variable_is_named_before_anything_runs(self):
        with pytest.raises(
            TargetConfigError, match="environment variable OPENAI_API_KEY is not set"
        ):
            make_target("openai:gpt-4o-mini", env={})
        with pytest.raises(TargetConfigError, match="environment variable TASK_KEY is not set"):
            make_target({"kind": "http", "url": "http://x/run", "api_key_env": "TASK_KEY"}, env={})

    def test_redact_url(self):
        assert (
            redact_url("http://u:p@h/x?api_key=1&q=2")
            == "http://u:<redacted>@h/x?api_key=<redacted>&q=2"
        )


class TestPreflight:
    def test_an_unreachable_target_fails_fast_naming_the_url(self):
        url = f"http://127.0.0.1:{free_port()}/run"
        started = time.perf_counter()
        with pytest.raises(TargetUnavailable, match=f"cannot reach the http target at {url}"):
            run(make_target(url).preflight())
        with pytest.raises(
            TargetUnavailable, match="cannot reach the openai target at http://127.0.0.1"
        ):
            run(make_target(f"openai:m@http://127.0.0.1:{free_port()}/v1", env={}).preflight())
        assert time.perf_counter() - started < 3

    def test_reachable_targets_pass_even_when_they_refuse_the_probe(self, task_server):
        run(make_target(f"{task_server.url}/run").preflight())

    def test_openai_preflight_reports_a_rejected_key(self, chat_server):
        t = make_target(f"openai:m@{chat_server.url}/v1;api_key_env=K", env={"K": "wrong"})
        with pytest.raises(TargetConfigError, match=r"refused the API key from \$K \(HTTP 401\)"):
            run(t.preflight())
        run(
            make_target(
                f"openai:m@{chat_server.url}/v1;api_key_env=K", env={"K": "sk-test-123"}
            ).preflight()
        )

    def test_a_missing_command_is_named(self):
        with pytest.raises(TargetUnavailable, match="'no-such-tool-xyz' is not found on PATH"):
            run(CommandTarget("no-such-tool-xyz --flag").preflight())


class TestHttpTarget:
    def test_posts_the_rollout_and_reads_the_reply(self, task_server):
        t = make_target(
            {
                "kind": "http",
                "url": f"{task_server.url}/run",
                "api_key_env": "K",
                "headers": {"X-Team": "evals"},
            },
            env={"K": "secret-1"},
        )
        reply = run(call_once(t))
        assert reply.output == "echo: hello world"
        assert (reply.score, reply.prompt_tokens, reply.completion_tokens) == (1.0, 2, 3)
        assert 0 < reply.latency_s < 1
        (body,) = task_server.bodies
        assert body == {
            "run_id": "r1",
            "case": CASE.model_dump(mode="json"),
            "epoch": 1,
            "attempt": 1,
            "seed": 42,
            "policy": {"model": "m"},
        }
        headers = task_server.headers_seen[0]
        assert headers["authorization"] == "Bearer secret-1" and headers["x-team"] == "evals"

    @pytest.mark.parametrize(
        ("step", "error", "message"),
        [
            ("malformed", RolloutRefused, "is not JSON"),
            ("shape", RolloutRefused, 'has no "output" field (its fields: result)'),
            ("text", RolloutRefused, "is not JSON: 'Internal things happened'"),
            ("400", RolloutRefused, "HTTP 400 from http://127.0.0.1"),
            ("503", RetryableError, "HTTP 503"),
            ("429:3", RetryableError, "HTTP 429"),
        ],
    )
    def test_bad_replies_name_the_problem(self, task_server, step, error, message):
        case = Case(id=f"bad-{step}", input="x", metadata={"script": [step]})
        with pytest.raises(error) as e:
            run(call_once(make_target(f"{task_server.url}/run"), request(case)))
        assert message in str(e.value)
        if step.startswith("429"):
            assert e.value.retry_after == 3.0

    def test_http_proxy_and_no_proxy_from_the_environment_are_honoured(
        self, task_server, monkeypatch
    ):
        closed = f"http://127.0.0.1:{free_port()}/run"  # nothing listens there
        monkeypatch.setenv("HTTP_PROXY", task_server.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        reply = run(call_once(make_target(closed)))  # the proxy (the task app) answered
        assert reply.output == "echo: hello world" and len(task_server.bodies) == 1
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        with pytest.raises(RetryableError, match="connection to .* failed"):
            run(call_once(make_target(closed)))

    def test_a_dropped_connection_is_a_retryable_connection_error(self, task_server):
        case = Case(id="dropped", input="x", metadata={"script": ["drop"]})
        with pytest.raises(RetryableError, match="connection to http://127.0.0.1:.* failed") as e:
            run(call_once(make_target(f"{task_server.url}/run"), request(case)))
        assert e.value.kind == "connection"

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            (float("nan"), '"score": nan; it must be a finite number'),
            (10**400, '"score": an integer too large'),
        ],
    )
    def test_replies_are_read_as_the_json_module_reads_them(self, value, message):
        """NaN and integers beyond 64 bits are read as the json module reads them (orjson
        refuses the one and turns the other into a float), so the reply is refused for
        what it says, not called "not JSON"."""
        from trialbook.runners.http_client import WireResponse
        from trialbook.runners.targets.base import reply_from_json, response_json

        content = ('{"output": "x", "score": %s}' % ("NaN" if value != value else value)).encode()
        data = response_json(WireResponse(200, {}, content, 0.01), 0.01, "the reply")
        if value == value:
            assert data["score"] == value and isinstance(data["score"], int)
        with pytest.raises(RolloutRefused, match=message.replace("(", r"\(")):
            reply_from_json(data, 0.01, what="the reply")

    def test_wrong_types_in_the_reply_are_named(self, task_server):
        case = Case(id="r", input="x", metadata={"reward": "high"})
        with pytest.raises(RolloutRefused, match="\"reward\": 'high'; it must be a finite number"):
            run(call_once(make_target(f"{task_server.url}/run"), request(case)))


class TestOpenAITarget:
    def test_chat_completion_with_system_prompt_usage_and_key(self, chat_server):
        t = make_target(
            {
                "kind": "openai",
                "model": "echo-1",
                "base_url": f"{chat_server.url}/v1",
                "api_key_env": "K",
                "system_prompt": "Be brief.",
                "temperature": 0,
                "max_tokens": 9,
                "seed": True,
            },
            env={"K": "sk-test-123"},
        )
        reply = run(call_once(t))
        assert reply.output == "echo: hello world"
        assert (reply.prompt_tokens, reply.completion_tokens, reply.model) == (4, 3, "echo-1")
        (body,) = chat_server.bodies
        assert body["messages"] == [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello world"},
        ]
        assert (body["temperature"], body["max_tokens"], body["seed"]) == (0, 9, 42)

    def test_chat_messages_input_is_sent_as_is(self, chat_server):
        case = Case(
            id="m",
            input=[
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b"},
                {"role": "user", "content": "c d"},
            ],
        )
        t = make_target(
            f"openai:echo-1@{chat_server.url}/v1;api_key_env=K", env={"K": "sk-test-123"}
        )
        assert run(call_once(t, request(case))).output == "echo: c d"

    def test_a_rejected_key_is_a_refused_rollout_with_the_server_message(self, chat_server):
        t = make_target(f"openai:echo-1@{chat_server.url}/v1;api_key_env=K", env={"K": "nope"})
        with pytest.raises(RolloutRefused, match="HTTP 401 .*Incorrect API key provided"):
            run(call_once(t))


@pytest.fixture
def agent_module(tmp_path, monkeypatch):
    (tmp_path / "eval_agent_mod.py").write_text(
        textwrap.dedent("""
        import asyncio

        def solve(case):
            return case["input"].upper()

        def scored(case):
            return {"output": case["id"], "score": 0.5, "usage": {"prompt_tokens": 3, "completion_tokens": 4}}

        def boom(case):
            raise ValueError("bad case " + case["id"])

        def not_json(case):
            return object()

        async def asolve(case):
            await asyncio.sleep(0)
            return ["async", case["id"]]
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "eval_agent_mod"
    sys.modules.pop("eval_agent_mod", None)


class TestPythonTarget:
    def test_sync_and_async_callables(self, agent_module):
        assert run(call_once(make_target(f"python:{agent_module}:solve"))).output == "HELLO WORLD"
        reply = run(call_once(make_target(f"python:{agent_module}:scored")))
        assert (reply.output, reply.score, reply.prompt_tokens) == ("c1", 0.5, 3)
        t = make_target(f"python:{agent_module}:asolve")
        assert isinstance(t, PythonTarget) and t.is_async
        assert run(call_once(t)).output == ["async", "c1"]

    def test_errors_become_refused_rollouts(self, agent_module):
        with pytest.raises(RolloutRefused, match="raised ValueError: bad case c1") as e:
            run(call_once(make_target(f"python:{agent_module}:boom")))
        assert e.value.kind == "target_error"
        with pytest.raises(RolloutRefused, match="returned a object, which is not JSON"):
            run(call_once(make_target(f"python:{agent_module}:not_json")))

    def test_bad_references_are_config_errors(self, agent_module):
        with pytest.raises(TargetConfigError, match="has no 'missing'"):
            make_target(f"python:{agent_module}:missing")
        with pytest.raises(TargetConfigError, match="module 'no_such_mod_xyz' is not importable"):
            make_target("python:no_such_mod_xyz:f")


class TestCommandTarget:
    def test_input_on_stdin_output_from_stdout_and_context_in_env(self):
        t = make_target('command:tr a-z A-Z; printf "%s" "$TRIALBOOK_CASE_ID/$TRIALBOOK_EPOCH" >&2')
        assert run(call_once(t)).output == "HELLO WORLD"
        t = make_target('command:printf "%s:%s" "$TRIALBOOK_CASE_ID" "$TRIALBOOK_SEED"')
        assert run(call_once(t)).output == "c1:42"

    def test_json_format_reads_the_reply_shape(self):
        t = make_target(
            {
                "kind": "command",
                "format": "json",
                "command": """echo '{"output": "x", "reward": 2}'""",
            }
        )
        reply = run(call_once(t))
        assert (reply.output, reply.reward) == ("x", 2.0)

    def test_a_non_zero_exit_is_a_failed_rollout_with_stderr(self):
        t = make_target("command:echo 'model overloaded' >&2; exit 3")
        with pytest.raises(RolloutRefused, match="command exited with status 3: model overloaded"):
            run(call_once(t))

    def test_describe_redacts_secret_env(self):
        t = CommandTarget("agent", env={"API_TOKEN": "t-1", "MODE": "eval"})
        assert t.describe() == {
            "kind": "command",
            "command": "agent",
            "env": {"API_TOKEN": "<redacted>", "MODE": "eval"},
        }
