"""The optional LLM tier against a real OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import Invoke, count_events
from tests.test_shell_repl import drive, events
from trialbook.plain.translate import Vocabulary
from trialbook.shell.app import App
from trialbook.shell.cli import cli
from trialbook.shell.llm_tier import LLMConfig, LLMError, interpret, llm_line

UNKNOWN_TO_RULES = "please pencil in twelve attempts on warm, eleven landed"
LINE = "ab add-result checkout-flow --variant warm --tool-calls 12 --successful-calls 11"
VOCAB = Vocabulary(tests={"checkout-flow": ("cold", "warm")})


@dataclass
class ChatServer:
    """A tiny chat-completions endpoint: answers ``reply`` (or ``status``) and keeps each request."""

    url: str = ""
    reply: str = LINE
    status: int = 200
    requests: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def chat() -> Iterator[ChatServer]:
    state = ChatServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(
                {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
            )
            if state.status != 200:
                self.send_response(state.status)
                self.end_headers()
                return
            answer = json.dumps(
                {"choices": [{"message": {"role": "assistant", "content": state.reply}}]}
            )
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def llm_env(chat: ChatServer, monkeypatch: pytest.MonkeyPatch) -> ChatServer:
    monkeypatch.setenv("TRIALBOOK_LLM_BASE_URL", chat.url)
    monkeypatch.setenv("TRIALBOOK_LLM_MODEL", "local-model")
    monkeypatch.setenv("TRIALBOOK_LLM_KEY_ENV", "MY_LLM_KEY")
    monkeypatch.setenv("MY_LLM_KEY", "sk-test")
    return chat


@pytest.fixture
def store(db_path: Path, invoke: Invoke) -> Path:
    assert invoke("ab", "create", "checkout-flow", "--variants", "cold,warm").exit_code == 0
    return db_path


class TestTranslation:
    def test_what_the_rules_do_not_understand_goes_to_the_endpoint_and_is_checked(
        self, llm_env: ChatServer
    ) -> None:
        t = interpret(UNKNOWN_TO_RULES, VOCAB)
        assert t.status == "command" and t.line == LINE and t.tier == "llm" and t.writes
        (request,) = llm_env.requests
        assert request["path"] == "/v1/chat/completions"
        assert request["auth"] == "Bearer sk-test"
        body = request["body"]
        assert body["model"] == "local-model" and body["temperature"] == 0
        assert body["messages"][-1] == {"role": "user", "content": UNKNOWN_TO_RULES}
        system = body["messages"][0]["content"]
        assert "test checkout-flow (variants: cold, warm)" in system
        assert "ab add-result NAME" in system and "[--tool-calls INTEGER]" in system

    def test_what_the_rules_understand_never_reaches_the_endpoint(
        self, llm_env: ChatServer
    ) -> None:
        assert interpret("summarize checkout-flow", VOCAB).tier == "rules"
        assert llm_env.requests == []

    def test_an_invented_number_from_the_llm_is_refused(self, llm_env: ChatServer) -> None:
        llm_env.reply = LINE.replace("--tool-calls 12", "--tool-calls 13")
        t = interpret(UNKNOWN_TO_RULES, VOCAB)
        assert (
            t.status == "refused"
            and "13 (for --tool-calls) is not a number in your request" in t.reason
        )

    def test_an_invented_name_from_the_llm_is_refused(self, llm_env: ChatServer) -> None:
        llm_env.reply = "ab summary checkout-v2"
        t = interpret(UNKNOWN_TO_RULES, VOCAB)
        assert t.status == "refused" and "there is no test named 'checkout-v2'" in t.reason

    def test_none_means_not_understood_with_close_examples(self, llm_env: ChatServer) -> None:
        llm_env.reply = "NONE"
        t = interpret(UNKNOWN_TO_RULES, VOCAB)
        assert t.status == "refused"
        assert t.reason == "I did not understand that (neither did the LLM tier)"
        assert t.suggestions and all("  →  " in s for s in t.suggestions)

    def test_an_http_error_is_reported_not_raised(self, llm_env: ChatServer) -> None:
        llm_env.status = 500
        t = interpret(UNKNOWN_TO_RULES, VOCAB)
        assert t.status == "refused"
        assert (
            t.reason
            == f"I did not understand that; the LLM tier failed: {llm_env.url} answered HTTP 500"
        )

    def test_an_unreachable_endpoint_is_reported(self, monkeypatch: pytest.MonkeyPatch) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        monkeypatch.setenv("TRIALBOOK_LLM_BASE_URL", f"http://127.0.0.1:{port}/v1")
        monkeypatch.setenv("TRIALBOOK_LLM_MODEL", "m")
        t = interpret(UNKNOWN_TO_RULES, VOCAB)
        assert (
            t.status == "refused"
            and f"cannot reach http://127.0.0.1:{port}/v1 (ConnectError)" in t.reason
        )

    def test_with_no_endpoint_nothing_is_sent_and_close_examples_are_shown(
        self, chat: ChatServer
    ) -> None:
        t = interpret(UNKNOWN_TO_RULES, VOCAB)
        assert t.status == "refused" and t.reason.startswith("I did not understand that")
        assert t.suggestions
        assert chat.requests == []


class TestConfig:
    def test_off_by_default(self) -> None:
        assert LLMConfig.from_env({}) is None

    def test_a_model_is_required(self) -> None:
        with pytest.raises(LLMError, match="TRIALBOOK_LLM_MODEL is not"):
            LLMConfig.from_env({"TRIALBOOK_LLM_BASE_URL": "http://127.0.0.1:1/v1"})

    def test_the_key_is_read_from_the_named_variable(self) -> None:
        env = {
            "TRIALBOOK_LLM_BASE_URL": "http://127.0.0.1:1/v1/",
            "TRIALBOOK_LLM_MODEL": "m",
            "TRIALBOOK_LLM_KEY_ENV": "K",
            "K": "secret",
        }
        assert LLMConfig.from_env(env) == LLMConfig("http://127.0.0.1:1/v1", "m", "secret", 30.0)
        with pytest.raises(LLMError, match="names K, which is not set"):
            LLMConfig.from_env({**env, "K": ""})

    @pytest.mark.parametrize(
        "reply, line",
        [
            ("ab list", "ab list"),
            ("```\ntrialbook ab list\n```", "ab list"),
            ("```bash\nab show x\n```", "ab show x"),
            ("$ trialbook ab summary x\n", "ab summary x"),
            ("`ab list`", "ab list"),
            ("NONE", None),
            ("", None),
        ],
    )
    def test_the_line_is_taken_from_the_reply(self, reply: str, line: str | None) -> None:
        assert llm_line(reply) == line


class TestInTheShell:
    def test_an_llm_write_is_echoed_confirmed_and_recorded_as_tier_llm(
        self, llm_env: ChatServer, store: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        app = App(store, interactive=True)
        drive(app, f"{UNKNOWN_TO_RULES}\ry\rexit\r")
        app.close()
        assert f"→ {LINE}" in capsys.readouterr().out
        meta = events(store)[-1]["metadata"]
        assert (
            meta["parser_tier"] == "llm"
            and meta["input"] == UNKNOWN_TO_RULES
            and meta["command"] == LINE
        )

    def test_an_llm_write_declined_records_nothing(self, llm_env: ChatServer, store: Path) -> None:
        app = App(store, interactive=True)
        drive(app, f"{UNKNOWN_TO_RULES}\rn\rexit\r")
        app.close()
        assert count_events(store) == 1

    def test_ask_needs_yes_for_an_llm_write_too(self, llm_env: ChatServer, store: Path) -> None:
        runner = CliRunner()
        r = runner.invoke(cli, ["--db", str(store), "ask", UNKNOWN_TO_RULES])
        assert r.exit_code == 1 and f"Error: this writes: → {LINE}; re-run with --yes" in r.output
        assert count_events(store) == 1
        r = runner.invoke(cli, ["--db", str(store), "ask", UNKNOWN_TO_RULES, "--yes"])
        assert r.exit_code == 0, r.output
        assert events(store)[-1]["metadata"]["parser_tier"] == "llm"
