"""The ``openai`` target: an OpenAI-compatible chat-completions endpoint (see the package docstring)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from trialbook.runners.eval_errors import RolloutRefused, TargetConfigError
from trialbook.runners.http_client import (
    OPENAI_BASE_URL,
    chat_body,
    chat_message,
    chat_url,
    error_from_status,
    redact_headers,
    redact_url,
)
from trialbook.runners.http_wire import WireClient
from trialbook.runners.targets.base import (
    PREFLIGHT_TIMEOUT,
    RolloutRequest,
    Target,
    TargetReply,
    check_url,
    probe,
    read_key,
    response_json,
    text_table,
    usage_tokens,
)


class OpenAITarget(WireClient, Target):
    """An OpenAI-compatible ``/chat/completions`` endpoint."""

    kind = "openai"
    OPTIONS = (
        "model",
        "base_url",
        "api_key_env",
        "temperature",
        "max_tokens",
        "system_prompt",
        "seed",
        "headers",
    )

    def __init__(
        self,
        model: str,
        *,
        base_url: str = OPENAI_BASE_URL,
        api_key_env: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        system_prompt: str | None = None,
        seed: bool = False,
        headers: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise TargetConfigError("openai target needs a model, e.g. openai:gpt-4o-mini")
        self.model = model
        self.base_url = check_url(base_url, "openai target").rstrip("/")
        if api_key_env is None and urlsplit(self.base_url).hostname == "api.openai.com":
            api_key_env = "OPENAI_API_KEY"
        self.api_key_env = api_key_env
        if temperature is not None and (
            not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2
        ):
            raise TargetConfigError(
                f"openai target: temperature {temperature!r} must be between 0 and 2"
            )
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
            raise TargetConfigError(
                f"openai target: max_tokens {max_tokens!r} must be a whole number ≥ 1"
            )
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.system_prompt = system_prompt
        self.seed = bool(seed)
        self.headers = text_table(headers, "openai target")
        key = read_key(os.environ if env is None else env, api_key_env, "openai target")
        self._default_headers = dict(self.headers)
        if key is not None:
            self._default_headers["Authorization"] = f"Bearer {key}"
        self.url = chat_url(self.base_url)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "model": self.model,
            "base_url": redact_url(self.base_url),
        }
        for name in ("api_key_env", "temperature", "max_tokens", "system_prompt"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.seed:
            out["seed"] = True
        if self.headers:
            out["headers"] = redact_headers(self.headers)
        return out

    async def preflight(self, timeout: float = PREFLIGHT_TIMEOUT) -> None:
        response = await probe(
            f"{self.base_url}/models",
            "openai",
            timeout,
            shown=self.base_url,
            headers=self._default_headers,
            hint="is it reachable?",
        )
        if response.status_code in (401, 403):
            source = f"${self.api_key_env}" if self.api_key_env else "no key (set api_key_env)"
            raise TargetConfigError(
                f"the openai target at {redact_url(self.base_url)} refused the API key from {source} "
                f"(HTTP {response.status_code}); check the key"
            )

    async def call(self, request: RolloutRequest) -> TargetReply:
        messages = request.case.messages()
        if self.system_prompt:
            messages = [{"role": "system", "content": self.system_prompt}, *messages]
        payload = chat_body(
            self.model,
            messages,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            seed=request.seed if self.seed else None,
        )
        response = await self._post(self.url, payload)
        latency = response.latency_s
        if response.status_code >= 300:
            raise error_from_status(response, latency, self.url)
        what = f"the chat completion from {redact_url(self.url)}"
        data = response_json(response, latency, what)
        message = chat_message(data)
        if message is None:
            raise RolloutRefused(
                f"{what} has no choices[0].message; is this an OpenAI-compatible endpoint?",
                kind="bad_response",
                latency_s=latency,
            )
        content = message.get("content")
        if content is not None and not isinstance(content, str):
            raise RolloutRefused(
                f"{what} has non-text message content", kind="bad_response", latency_s=latency
            )
        reply = TargetReply(
            output=content, latency_s=latency, model=data.get("model") or self.model
        )
        if data.get("usage") is not None:
            reply.prompt_tokens, reply.completion_tokens = usage_tokens(
                data["usage"], what, latency
            )
        if message.get("tool_calls"):
            reply.trace = {"tool_calls": message["tool_calls"]}
        return reply
