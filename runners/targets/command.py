"""The ``command`` target: a shell command, case input on stdin (see the package docstring)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import shutil
import signal
import time
from collections.abc import Mapping
from typing import Any

from trialbook.domain.canonical import canonical_json
from trialbook.runners.eval_errors import RolloutRefused, TargetConfigError, TargetUnavailable
from trialbook.runners.http_client import redact_headers, snippet
from trialbook.runners.targets.base import (
    PREFLIGHT_TIMEOUT,
    RolloutRequest,
    Target,
    TargetReply,
    reply_from_json,
    text_table,
)


class CommandTarget(Target):
    """A shell command: case input on stdin, output on stdout."""

    kind = "command"
    OPTIONS = ("command", "format", "env", "cwd", "model")

    def __init__(
        self,
        command: str,
        *,
        format: str = "text",
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        model: str | None = None,
    ) -> None:
        if not isinstance(command, str) or not command.strip():
            raise TargetConfigError("command target needs a command, e.g. command:python agent.py")
        if format not in ("text", "json"):
            raise TargetConfigError(f"command target: format {format!r} must be 'text' or 'json'")
        self.command = command
        self.format = format
        self.env = text_table(env, "command target env") if env is not None else {}
        self.cwd = cwd
        self.model = model

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "command": self.command}
        if self.format != "text":
            out["format"] = self.format
        if self.env:
            out["env"] = redact_headers(self.env)
        if self.cwd:
            out["cwd"] = self.cwd
        if self.model:
            out["model"] = self.model
        return out

    async def preflight(self, timeout: float = PREFLIGHT_TIMEOUT) -> None:
        try:
            words = shlex.split(self.command)
        except ValueError as e:
            raise TargetConfigError(f"command target: cannot parse {self.command!r}: {e}") from None
        first = next((w for w in words if "=" not in w), None)
        if (
            first
            and not any(ch in first for ch in "$`|;&<>(){}")
            and shutil.which(first, path=None) is None
            and not os.path.exists(os.path.join(self.cwd or ".", first))
        ):
            raise TargetUnavailable(
                f"command target: {first!r} is not found on PATH; check the command"
            )

    async def call(self, request: RolloutRequest) -> TargetReply:
        case = request.case
        stdin = (
            case.input
            if isinstance(case.input, str)
            else json.dumps(case.messages(), ensure_ascii=False)
        )
        if not stdin.endswith("\n"):
            stdin += "\n"
        env = {
            **os.environ,
            **self.env,
            "TRIALBOOK_RUN_ID": request.run_id,
            "TRIALBOOK_CASE_ID": case.id,
            "TRIALBOOK_EPOCH": str(request.epoch),
            "TRIALBOOK_ATTEMPT": str(request.attempt),
            "TRIALBOOK_SEED": str(request.seed),
            "TRIALBOOK_CASE": canonical_json(request.case_dict()),
        }
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_shell(
            self.command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=self.cwd,
            start_new_session=True,
        )
        try:
            out, err = await proc.communicate(stdin.encode("utf-8"))
        except BaseException:  # timeout or Ctrl-C: kill the whole process group
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(BaseException):
                await asyncio.shield(proc.wait())
            raise
        latency = time.perf_counter() - started
        if proc.returncode != 0:
            lines = err.decode("utf-8", "replace").strip().splitlines()
            tail = f": {snippet(lines[-1], 200)}" if lines else ""
            raise RolloutRefused(
                f"command exited with status {proc.returncode}{tail}",
                kind="target_error",
                latency_s=latency,
            )
        text = out.decode("utf-8", "replace")
        if text.endswith("\n"):
            text = text[:-1]
        if self.format == "json":
            try:
                data = json.loads(text)
            except ValueError:
                raise RolloutRefused(
                    f"the command's stdout is not JSON: {snippet(text, 80)!r}",
                    kind="bad_response",
                    latency_s=latency,
                ) from None
            return reply_from_json(data, latency, what="the command's stdout")
        return TargetReply(output=text, latency_s=latency)
