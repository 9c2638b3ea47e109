"""The optional LLM tier: requests the rules do not understand, sent to a chat endpoint.

It is off unless ``TRIALBOOK_LLM_BASE_URL`` names an OpenAI-compatible chat
endpoint (with ``TRIALBOOK_LLM_MODEL``; ``TRIALBOOK_LLM_KEY_ENV`` and
``TRIALBOOK_LLM_TIMEOUT`` are optional). :func:`interpret` asks the rules first;
whichever tier answers, its one command line passes ``shell.line_checks.check``
and is confirmed the same way before it runs.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from trialbook.shell.command_tree import Leaf, command_tree, takes_value
from trialbook.shell.line_checks import check, command_exists, resolve_command, with_tier

if TYPE_CHECKING:
    from trialbook.plain.types import Translation, Vocabulary

#: the start of the rules' reason for a request they could not parse at all
NOT_UNDERSTOOD = "I did not understand"
#: refusals the LLM tier may try (not understood; never unknown names or ambiguity)
LLM_FALLBACK = (NOT_UNDERSTOOD, "I don't understand")


class LLMError(Exception):
    """The LLM translation tier is misconfigured or its endpoint failed."""


@dataclass(frozen=True)
class LLMConfig:
    """An OpenAI-compatible chat endpoint that translates what the rules do not understand."""

    base_url: str
    model: str
    api_key: str | None = None
    timeout: float = 30.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LLMConfig | None:
        """The configured endpoint, or None when ``TRIALBOOK_LLM_BASE_URL`` is not set (the default)."""
        env = os.environ if environ is None else environ
        base = env.get("TRIALBOOK_LLM_BASE_URL", "").strip()
        if not base:
            return None
        model = env.get("TRIALBOOK_LLM_MODEL", "").strip()
        if not model:
            raise LLMError("TRIALBOOK_LLM_BASE_URL is set but TRIALBOOK_LLM_MODEL is not")
        key = None
        key_env = env.get("TRIALBOOK_LLM_KEY_ENV", "").strip()
        if key_env:
            key = env.get(key_env)
            if not key:
                raise LLMError(f"TRIALBOOK_LLM_KEY_ENV names {key_env}, which is not set")
        try:
            timeout = float(env.get("TRIALBOOK_LLM_TIMEOUT", "30"))
        except ValueError:
            raise LLMError("TRIALBOOK_LLM_TIMEOUT must be a number of seconds") from None
        return cls(base.rstrip("/"), model, key, timeout)


LLM_RULES = """\
You translate one request into exactly one command line of trialbook, a CLI for A/B tests and
evals of LLM agents. Answer with the command line only (no `trialbook` prefix, no quotes around
it, no explanation), or with NONE when no single command does what is asked.
Never invent: every number in your line must be written in the request, every name must be
listed below or written in the request. If a required value is not in the request, leave it out.
Use the focus when the request names no test or run."""


def _usage(path: Sequence[str], cmd: click.Command) -> str:
    """``ab add-result NAME [--variant TEXT] [--success/--failure] …`` for the LLM's command list."""
    parts = [" ".join(path)]
    for p in cmd.params:
        if isinstance(p, click.Argument):
            parts.append(p.human_readable_name)
        elif isinstance(p, click.Option):
            names = "/".join((*p.opts, *p.secondary_opts))
            parts.append(
                f"[{names}]" if not takes_value(p) else f"[{p.opts[0]} {p.type.name.upper()}]"
            )
    return " ".join(parts)


def llm_messages(text: str, vocab: Vocabulary, focus: str | None) -> list[dict[str, str]]:
    """The chat messages sent to the LLM tier: the rules, the commands, the store's names."""
    from trialbook.plain.translate import examples

    lines = [LLM_RULES, "", "Commands:"]
    for argv in _leaf_paths():
        path, cmd, _, _ = resolve_command(argv)
        lines.append("  " + _usage(path, cmd))
    lines.append("")
    lines.append("Names in the store:")
    for name, variants in sorted(vocab.tests.items()):
        lines.append(f"  test {name} (variants: {', '.join(variants)})")
    for name, variants in sorted(vocab.archived.items()):
        lines.append(f"  archived test {name} (variants: {', '.join(variants)})")
    for kind, names in (("suite", vocab.suites), ("run", vocab.runs), ("scorer", vocab.scorers)):
        for name in sorted(names)[:50]:
            lines.append(f"  {kind} {name}")
    lines.append(f"Focus: {focus or 'none'}")
    lines.append("")
    lines.append("Examples (with other names):")
    for request, command in examples():
        if command_exists(shlex.split(command)):
            lines.append(f"  {request}  =>  {command}")
    return [{"role": "system", "content": "\n".join(lines)}, {"role": "user", "content": text}]


def _leaf_paths() -> list[list[str]]:
    from trialbook.shell.group import cli

    out: list[list[str]] = []

    def walk(node: Mapping[str, Any]) -> None:
        for v in node.values():
            if isinstance(v, Leaf):
                out.append(list(v.path))
            else:
                walk(v)

    walk(command_tree(cli))
    return out


def llm_line(reply: str) -> str | None:
    """The command line in an LLM reply (code fences, ``$`` and ``trialbook`` stripped); None for NONE."""
    for raw in reply.strip().splitlines():
        line = raw.strip()
        if not line or line.startswith("```"):
            continue
        line = line.strip("`").strip().removeprefix("$ ").strip()
        if line.startswith("trialbook "):
            line = line[len("trialbook ") :]
        return None if line.upper().rstrip(".") == "NONE" else line
    return None


def llm_translate(
    text: str, vocab: Vocabulary, focus: str | None, config: LLMConfig
) -> Translation:
    """Ask the configured endpoint for one command line; the result is unchecked (see :func:`check`)."""
    import httpx

    from trialbook.plain.types import Translation, is_write, refused

    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    body = {
        "model": config.model,
        "messages": llm_messages(text, vocab, focus),
        "temperature": 0,
        "max_tokens": 200,
    }
    try:
        with httpx.Client(timeout=config.timeout) as client:
            r = client.post(f"{config.base_url}/chat/completions", json=body, headers=headers)
        r.raise_for_status()
        reply = r.json()["choices"][0]["message"]["content"]
    except httpx.HTTPStatusError as e:
        raise LLMError(f"{config.base_url} answered HTTP {e.response.status_code}") from e
    except httpx.HTTPError as e:
        raise LLMError(f"cannot reach {config.base_url} ({type(e).__name__})") from e
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise LLMError(
            f"{config.base_url} did not answer like an OpenAI-compatible chat endpoint"
        ) from e
    if not isinstance(reply, str):
        raise LLMError(f"{config.base_url} did not answer like an OpenAI-compatible chat endpoint")
    line = llm_line(reply)
    if line is None:
        return with_tier(refused(text, f"{NOT_UNDERSTOOD} that (neither did the LLM tier)"), "llm")
    try:
        argv = tuple(shlex.split(line))
    except ValueError:
        return with_tier(
            refused(text, f"the LLM tier answered {line!r}, which is not a command line"), "llm"
        )
    if not argv:
        return with_tier(refused(text, f"{NOT_UNDERSTOOD} that (neither did the LLM tier)"), "llm")
    return Translation("command", text, argv, writes=is_write(argv), tier="llm")


def interpret(
    text: str, vocab: Vocabulary, focus: str | None = None, *, llm: bool = True
) -> Translation:
    """A plain request as one checked command line (or a pre-filled line, or a refusal).

    The rules first; a request they do not understand goes to the LLM tier when one
    is configured (``llm`` and ``TRIALBOOK_LLM_BASE_URL``). Either way the result
    passes :func:`check` before anyone sees it as runnable.
    """
    from trialbook.plain.translate import translate

    t = translate(text, vocab, focus)
    if llm and t.status == "refused" and t.reason.startswith(LLM_FALLBACK):
        try:
            config = LLMConfig.from_env()
            if config is not None:
                answer = llm_translate(text, vocab, focus, config)
                t = answer if answer.status != "refused" else _keep_examples(answer, t)
        except LLMError as e:
            t = _keep_examples(
                with_tier(
                    _refusal(text, f"{NOT_UNDERSTOOD} that; the LLM tier failed: {e}"), "llm"
                ),
                t,
            )
    return check(t, vocab, focus)


def _refusal(text: str, reason: str) -> Translation:
    from trialbook.plain.types import refused

    return refused(text, reason)


def _keep_examples(answer: Translation, rules: Translation) -> Translation:
    from dataclasses import replace

    return replace(answer, suggestions=answer.suggestions or rules.suggestions)


__all__ = [
    "LLM_FALLBACK",
    "NOT_UNDERSTOOD",
    "LLMConfig",
    "LLMError",
    "interpret",
    "llm_line",
    "llm_messages",
    "llm_translate",
]
