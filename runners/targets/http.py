"""The ``http`` target: a task app that takes one rollout per POST (see the package docstring)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from trialbook.runners.http_client import (
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
    reply_from_json,
    response_json,
    text_table,
)


class HttpTarget(WireClient, Target):
    """A task app that takes one rollout per POST."""

    kind = "http"
    OPTIONS = ("url", "headers", "api_key_env", "api_key_header", "api_key_prefix", "model")

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        api_key_env: str | None = None,
        api_key_header: str = "Authorization",
        api_key_prefix: str | None = None,
        model: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.url = check_url(url, "http target")
        self.headers = text_table(headers, "http target")
        self.api_key_env = api_key_env
        self.api_key_header = api_key_header
        if api_key_prefix is None:
            api_key_prefix = "Bearer " if api_key_header.lower() == "authorization" else ""
        self.api_key_prefix = api_key_prefix
        self.model = model
        key = read_key(os.environ if env is None else env, api_key_env, "http target")
        self._default_headers = dict(self.headers)
        if key is not None:
            self._default_headers[api_key_header] = f"{api_key_prefix}{key}"

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "url": redact_url(self.url)}
        if self.headers:
            out["headers"] = redact_headers(self.headers)
        if self.api_key_env:
            out["api_key_env"] = self.api_key_env
            out["api_key_header"] = self.api_key_header
        if self.model:
            out["model"] = self.model
        return out

    async def preflight(self, timeout: float = PREFLIGHT_TIMEOUT) -> None:
        await probe(self.url, "http", timeout, method="HEAD")

    async def call(self, request: RolloutRequest) -> TargetReply:
        payload = {
            "run_id": request.run_id,
            "case": request.case_dict(),
            "epoch": request.epoch,
            "attempt": request.attempt,
            "seed": request.seed,
            "policy": dict(request.policy),
        }
        response = await self._post(self.url, payload)
        latency = response.latency_s
        if response.status_code >= 300:
            raise error_from_status(response, latency, self.url)
        what = f"the response from {redact_url(self.url)}"
        return reply_from_json(response_json(response, latency, what), latency, what=what)
