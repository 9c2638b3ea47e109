"""Eval targets: what a rollout is sent to, all driven from asyncio.

Five kinds, each built from a spec string (``--target``) or a config mapping
(a ``[target]`` table of a TOML/YAML run config):

``http`` — POST JSON to a task app::

    http:http://127.0.0.1:8000/run            (or just the URL)
    {"kind": "http", "url": "...", "headers": {"X-Team": "evals"},
     "api_key_env": "TASK_KEY", "api_key_header": "Authorization", "api_key_prefix": "Bearer ",
     "model": "gpt-4o-mini"}                   (model: only for pricing token usage)

  Request body: ``{"run_id", "case": {id, input, expected, criteria, metadata, scorers},
  "epoch", "attempt", "seed", "policy"}``. Response: ``{"output": ..., "score"?,
  "reward"?, "usage"?: {"prompt_tokens", "completion_tokens"}, "cost_usd"?, "trace"?,
  "model"?}``.

``openai`` — an OpenAI-compatible chat-completions endpoint::

    openai:gpt-4o-mini                          (base URL https://api.openai.com/v1, key from OPENAI_API_KEY)
    openai:llama3@http://127.0.0.1:8000/v1      (a local server: no key unless api_key_env is given)
    {"kind": "openai", "model": "...", "base_url": "...", "api_key_env": "...",
     "temperature": 0.0, "max_tokens": 512, "system_prompt": "...", "seed": true, "headers": {...}}

  The case input (a string, or chat messages) follows the system prompt; the
  output is the first choice's message content; token usage comes from ``usage``.

``python`` — a callable ``package.module:function(case) -> output or dict``::

    python:my_agent.eval:solve

  ``case`` is a plain dict (id, input, expected, criteria, metadata, scorers). A
  returned dict with an ``"output"`` key is read like an HTTP response (score,
  usage …); anything else is the output. Sync functions run in a thread pool
  sized to the run's concurrency (a timed-out call cannot be killed and runs to
  its end in its thread); ``async def`` functions are awaited. The working
  directory is importable. From the Python API the callable itself may be
  given (``{"kind": "python", "callable": fn}``); it is recorded by its name
  (:func:`callable_ref`).

``command`` — a shell command; the case input goes to stdin (a string input as
text plus a newline, chat messages as JSON), the output is stdout without its
final newline::

    command:python agent.py --fast
    {"kind": "command", "command": "...", "format": "json", "env": {"MODE": "eval"}, "cwd": "..."}

  ``format = "json"`` reads stdout as the HTTP response shape. The environment
  adds ``TRIALBOOK_RUN_ID``, ``TRIALBOOK_CASE_ID``, ``TRIALBOOK_EPOCH``,
  ``TRIALBOOK_ATTEMPT``, ``TRIALBOOK_SEED`` and ``TRIALBOOK_CASE`` (the case as JSON).
  A non-zero exit is a failed rollout; a timeout kills the command's process group.

``rollout`` — a synth-ai task app (``POST /rollout`` with a RolloutRequest, the key
from ``ENVIRONMENT_API_KEY`` in ``X-API-Key``, ``GET /health`` before the run; see
:mod:`.rollout`)::

    rollout:http://127.0.0.1:8103;env_name=banking77;api_key_env=ENVIRONMENT_API_KEY

Options in spec strings: ``KIND:BODY;key=value;key=value`` for ``http``,
``openai``, ``python`` and ``rollout`` (values are JSON when they parse as JSON, else text),
e.g. ``openai:qwen@http://127.0.0.1:8000/v1;api_key_env=LOCAL_KEY;temperature=0``.
A ``command:`` spec takes no options: everything after the colon is the command.

Secrets: API keys are read from the named environment variable when the target
is built (a missing variable is a :class:`TargetConfigError` naming it) and never
appear in :meth:`Target.describe`, which is what the run's event records;
secret-looking headers, URL passwords and query parameters are redacted.

Layout: one module per kind (:mod:`.http`, :mod:`.openai`, :mod:`.python`,
:mod:`.command`, :mod:`.rollout`), what they share in :mod:`.base`, spec parsing in
:mod:`.specs`; the HTTP layer (clients, retries, redaction, the chat call) is
:mod:`trialbook.runners.http_client`, shared with the LLM judge.
"""

from __future__ import annotations

from trialbook.runners.http_client import (
    MAX_RETRY_AFTER,
    OPENAI_BASE_URL,
    RETRY_STATUSES,
    parse_retry_after,
    redact_headers,
    redact_url,
    split_url,
)
from trialbook.runners.targets.base import (
    PREFLIGHT_TIMEOUT,
    RolloutRequest,
    Target,
    TargetReply,
    reply_from_json,
)
from trialbook.runners.targets.command import CommandTarget
from trialbook.runners.targets.http import HttpTarget
from trialbook.runners.targets.openai import OpenAITarget
from trialbook.runners.targets.python import PythonTarget, callable_ref, resolve_callable
from trialbook.runners.targets.rollout import RolloutTarget
from trialbook.runners.targets.specs import (
    SPEC_HELP,
    TARGET_KINDS,
    make_target,
    parse_target_spec,
    secret_options,
    target_from_config,
)

__all__ = [
    "MAX_RETRY_AFTER",
    "OPENAI_BASE_URL",
    "PREFLIGHT_TIMEOUT",
    "RETRY_STATUSES",
    "SPEC_HELP",
    "TARGET_KINDS",
    "CommandTarget",
    "HttpTarget",
    "OpenAITarget",
    "PythonTarget",
    "RolloutTarget",
    "RolloutRequest",
    "Target",
    "TargetReply",
    "callable_ref",
    "make_target",
    "parse_retry_after",
    "parse_target_spec",
    "redact_headers",
    "redact_url",
    "split_url",
    "reply_from_json",
    "resolve_callable",
    "secret_options",
    "target_from_config",
]
