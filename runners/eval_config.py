"""Run configs: ``eval run --config FILE`` in TOML or YAML.

Parsing is pure (text in, :class:`RunConfig` out); building the target from its
table is :func:`runners.targets.make_target`'s job. Example (TOML)::

    suite = "qa"              # optional when given on the command line
    suite_version = 2         # optional: the latest by default
    name = "gpt-4o-mini baseline"
    epochs = 3
    concurrency = 20
    timeout = 30              # seconds per request
    retries = 3
    budget = 5.0              # USD
    seed = 7

    [target]
    kind = "openai"
    model = "gpt-4o-mini"
    api_key_env = "OPENAI_API_KEY"
    temperature = 0

    [prices]                  # USD per million tokens, input/output
    "gpt-4o-mini" = "0.15/0.6"
    "*" = { input = 1.0, output = 2.0 }

    [policy]                  # passed through to HTTP task apps
    model = "gpt-4o-mini"

    [judges.strict]           # the settings of --scorer judge:strict
    base_url = "http://127.0.0.1:8001/v1"
    model = "llama-3.1-8b"
    key_env = "none"
    criteria = ["cites a source", "no made-up numbers"]

``target`` may also be a spec string: ``target = "http:http://127.0.0.1:8000/run"``.
The same keys work in YAML. Command-line options override the file's values
(:meth:`RunConfig.settings` takes the overrides).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import yaml
from pydantic import ValidationError

from trialbook.domain.commands import explain
from trialbook.domain.errors import InvalidCommand
from trialbook.domain.evals import Price, RunSettings, parse_price
from trialbook.runners.eval_errors import TargetConfigError
from trialbook.runners.targets import parse_target_spec, secret_options

#: config key → RunSettings field
SETTING_KEYS = {
    "epochs": "epochs",
    "concurrency": "concurrency",
    "timeout": "timeout_s",
    "retries": "retries",
    "budget": "budget_usd",
    "seed": "seed",
    "policy": "policy",
    "prices": "prices",
    "judges": "judges",
}
OTHER_KEYS = ("suite", "suite_version", "name", "target")
#: a key written into the config's target (the option is named, never its value)
TARGET_SECRET_HELP = (
    "{filename}: target option {option!r} would hold the key itself, which a run config never "
    "accepts (even when --target is given); put the key in an environment variable and name "
    'that with api_key_env = "VAR"'
)
#: RunSettings field → the ``eval run`` option that sets it
OPTION_NAMES = {
    "epochs": "--epochs",
    "concurrency": "--concurrency",
    "timeout_s": "--timeout",
    "retries": "--retries",
    "budget_usd": "--budget",
    "seed": "--seed",
    "prices": "--price",
    "scorers": "--scorer",
    "judge_repeats": "--judge-repeats",
}


@dataclass(frozen=True)
class RunConfig:
    """A parsed run config."""

    target: str | Mapping[str, Any] | None = None
    suite: str | None = None
    suite_version: int | None = None
    name: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    #: the file the config was read from (named in errors)
    filename: str | None = None

    def settings(self, **overrides: Any) -> RunSettings:
        """The run settings: the file's values, then ``overrides`` (RunSettings field names; None = unset).

        An invalid value is named by where it came from: the command-line option
        (``--timeout: …``) for an override, else the config key and file.
        """
        given = {k: v for k, v in overrides.items() if v is not None}
        try:
            return RunSettings(**{**self.values, **given})
        except ValidationError as e:
            raise TargetConfigError(self._explain(e, given)) from None

    def _explain(self, error: ValidationError, overrides: Mapping[str, Any]) -> str:
        loc = [str(p) for p in error.errors()[0].get("loc", ()) if p != "__root__"]
        detail = explain(error)
        if not loc:
            return f"run config: {detail}"
        what = loc[0]
        rest = detail.removeprefix(".".join(loc) + ": ")
        inner = ".".join(loc[1:])
        if what in overrides and what in OPTION_NAMES:
            return f"{OPTION_NAMES[what]}: {inner + ': ' if inner else ''}{rest}"
        key = ".".join([_CONFIG_KEYS.get(what, what), *loc[1:]])
        where = f" (set in {self.filename})" if self.filename else ""
        return f"run config: {key}: {rest}{where}"


#: RunSettings field → its key in a run config
_CONFIG_KEYS = {name: key for key, name in SETTING_KEYS.items()}


def parse_run_config(text: str, *, filename: str = "run.toml") -> RunConfig:
    """Parse a TOML (``.toml``) or YAML (``.yaml``/``.yml``) run config."""
    suffix = PurePath(filename).suffix.lower()
    if suffix == ".toml":
        try:
            import tomllib
        except ImportError:  # Python 3.10
            raise TargetConfigError(
                "TOML run configs need Python 3.11 or later; use YAML"
            ) from None
        try:
            doc: Any = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise TargetConfigError(f"{filename}: not valid TOML ({e})") from None
    elif suffix in (".yaml", ".yml"):
        try:
            doc = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark is not None else ""
            raise TargetConfigError(
                f"{filename}{where}: not valid YAML ({getattr(e, 'problem', e)})"
            ) from None
    else:
        raise TargetConfigError(
            f"cannot tell the format of {filename!r}; name it .toml, .yaml or .yml"
        )
    if not isinstance(doc, dict):
        raise TargetConfigError(
            f"{filename}: a run config is a table of settings, not {type(doc).__name__}"
        )
    unknown = sorted(set(doc) - set(SETTING_KEYS) - set(OTHER_KEYS))
    if unknown:
        raise TargetConfigError(
            f"{filename}: unknown key {unknown[0]!r}; keys are {', '.join((*OTHER_KEYS, *SETTING_KEYS))}"
        )
    values: dict[str, Any] = {}
    for key, name in SETTING_KEYS.items():
        if key in doc:
            values[name] = (
                _prices(doc[key], filename)
                if key == "prices"
                else _judges(doc[key], filename)
                if key == "judges"
                else doc[key]
            )
    target = doc.get("target")
    if target is not None and not isinstance(target, (str, dict)):
        raise TargetConfigError(f"{filename}: target must be a spec string or a table with a kind")
    if target is not None:
        _refuse_target_secrets(target, filename)
    version = doc.get("suite_version")
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int) or version < 1
    ):
        raise TargetConfigError(f"{filename}: suite_version must be a whole number ≥ 1")
    config = RunConfig(
        target=target,
        suite=doc.get("suite"),
        suite_version=version,
        name=doc.get("name"),
        values=values,
        filename=filename,
    )
    config.settings()  # validate now, naming the key
    return config


def _refuse_target_secrets(target: str | dict[str, Any], filename: str) -> None:
    """Refuse a key written into the config's target, even when ``--target`` replaces that target.

    The config file is what the user keeps (and shares); a key in it is refused
    whether or not the run would use it, naming the option, never its value.
    """
    if isinstance(target, str):
        try:
            options = parse_target_spec(target)
        except TargetConfigError:
            return  # not a spec at all: named when the target is built
    else:
        options = target
    found = secret_options(options)
    if found:
        raise TargetConfigError(TARGET_SECRET_HELP.format(filename=filename, option=found[0]))


def _judges(table: Any, filename: str) -> dict[str, dict[str, Any]]:
    """``[judges.NAME]`` tables as given (their options are checked when a scorer uses them)."""
    if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
        raise TargetConfigError(
            f"{filename}: judges must be a table of judge tables, e.g. "
            '[judges.strict] with base_url = "http://HOST/v1", model = "…", key_env = "VAR"'
        )
    return {str(name): dict(options) for name, options in table.items()}


def _prices(table: Any, filename: str) -> dict[str, Price]:
    if not isinstance(table, dict):
        raise TargetConfigError(f'{filename}: prices must be a table of MODEL = "INPUT/OUTPUT"')
    out: dict[str, Price] = {}
    for model, value in table.items():
        try:
            if isinstance(value, str):
                out[str(model)] = parse_price(f"{model}={value}")[1]
            elif isinstance(value, dict) and set(value) == {"input", "output"}:
                numbers = [float(value["input"]), float(value["output"])]
                if not all(math.isfinite(n) and n >= 0 for n in numbers):
                    raise ValueError
                out[str(model)] = Price(input_per_million=numbers[0], output_per_million=numbers[1])
            else:
                raise ValueError
        except (InvalidCommand, ValueError, TypeError, ValidationError):
            raise TargetConfigError(
                f'{filename}: price of {model!r} is not valid; write "INPUT/OUTPUT" in USD per million '
                'tokens (e.g. "0.15/0.6") or { input = 0.15, output = 0.6 }'
            ) from None
    return out
