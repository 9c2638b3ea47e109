"""Target specs: a ``--target`` string or a ``[target]`` table to a :class:`Target`
(see the package docstring for the spec syntax)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from trialbook.domain.evals import looks_secret
from trialbook.runners.eval_errors import TargetConfigError
from trialbook.runners.targets.base import Target
from trialbook.runners.targets.command import CommandTarget
from trialbook.runners.targets.http import HttpTarget
from trialbook.runners.targets.openai import OpenAITarget
from trialbook.runners.targets.python import PythonTarget
from trialbook.runners.targets.rollout import RolloutTarget

TARGET_KINDS: dict[str, type[Target]] = {
    "http": HttpTarget,
    "openai": OpenAITarget,
    "python": PythonTarget,
    "command": CommandTarget,
    "rollout": RolloutTarget,
}
SPEC_HELP = (
    "write http:URL, openai:MODEL[@BASE_URL], python:MODULE:FUNCTION, command:SHELL COMMAND "
    "or rollout:URL (a synth-ai task app)"
)


def _option_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_target_spec(spec: str) -> dict[str, Any]:
    """Turn a ``--target`` string into a target config mapping (see the module docstring)."""
    spec = spec.strip()
    if spec.startswith(("http://", "https://")):
        spec = f"http:{spec}"
    kind, sep, body = spec.partition(":")
    kind = kind.strip().lower()
    if not sep or kind not in TARGET_KINDS:
        raise TargetConfigError(f"target {spec!r} is not valid; {SPEC_HELP}")
    if kind == "command":
        return {"kind": "command", "command": body.strip()}
    body, *options = body.split(";")
    config: dict[str, Any] = {"kind": kind}
    body = body.strip()
    if kind in ("http", "rollout"):
        config["url"] = body
    elif kind == "openai":
        model, at, base = body.partition("@")
        if at and not base.startswith(("http://", "https://")):
            raise TargetConfigError(
                f"target {spec!r}: after '@' comes the base URL, e.g. openai:MODEL@http://127.0.0.1:8000/v1"
            )
        config["model"] = model.strip()
        if at:
            config["base_url"] = base.strip()
    else:
        config["callable"] = body
    for option in options:
        if not option.strip():
            continue
        key, eq, value = option.partition("=")
        if not eq or not key.strip():
            raise TargetConfigError(f"target option {option!r} is not valid; write ;key=value")
        config[key.strip()] = _option_value(value.strip())
    return config


def secret_options(config: Mapping[str, Any]) -> list[str]:
    """The options of a target config that would hold a key itself (``api_key``), sorted.

    Options naming where a key lives (``api_key_env``, ``api_key_header``) and
    every option some target kind takes are not counted.
    """
    known = {name for cls in TARGET_KINDS.values() for name in cls.OPTIONS}  # type: ignore[attr-defined]
    return sorted(str(k) for k in config if str(k) not in known and looks_secret(str(k)))


def target_from_config(
    config: Mapping[str, Any], *, env: Mapping[str, str] | None = None
) -> Target:
    """Build a target from a config mapping with a ``kind`` key (a TOML/YAML ``[target]`` table)."""
    if not isinstance(config, Mapping):
        raise TargetConfigError(f"a target config must be a table with a 'kind'; {SPEC_HELP}")
    options = dict(config)
    kind = options.pop("kind", None)
    if kind is None:
        for candidate, key in (
            ("http", "url"),
            ("openai", "base_url"),
            ("python", "callable"),
            ("command", "command"),
        ):
            if key in options:
                kind = candidate
                break
    cls = TARGET_KINDS.get(str(kind).lower()) if kind is not None else None
    if cls is None:
        raise TargetConfigError(
            f"target kind {kind!r} is unknown; use one of {', '.join(TARGET_KINDS)}"
        )
    if "system" in options and cls is OpenAITarget:
        options["system_prompt"] = options.pop("system")
    if "function" in options and cls is PythonTarget:
        options["callable"] = options.pop("function")
    allowed: tuple[str, ...] = cls.OPTIONS  # type: ignore[attr-defined]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        hint = (
            " (keys are read from environment variables: use api_key_env)"
            if any(looks_secret(k) for k in unknown)
            else ""
        )
        raise TargetConfigError(
            f"{cls.kind} target: unknown option {unknown[0]!r}{hint}; options are {', '.join(allowed)}"
        )
    first = allowed[0]
    if first not in options:
        raise TargetConfigError(f"{cls.kind} target needs {first!r}; {SPEC_HELP}")
    positional = options.pop(first)
    if cls in (HttpTarget, OpenAITarget, RolloutTarget):
        options["env"] = env
    try:
        return cls(positional, **options)  # type: ignore[call-arg]
    except TypeError as e:
        raise TargetConfigError(f"{cls.kind} target: {e}") from None


def make_target(spec: str | Mapping[str, Any], *, env: Mapping[str, str] | None = None) -> Target:
    """A target from a ``--target`` string or a config mapping; errors are :class:`TargetConfigError`."""
    config = parse_target_spec(spec) if isinstance(spec, str) else spec
    return target_from_config(config, env=env)
