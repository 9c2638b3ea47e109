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
(:meth:`RunConfig.settings` takes the overrides). ``cache = true`` and
``cache_ttl = "1d"`` turn on the response cache (:mod:`trialbook.runners.cache`).

A synth-ai eval config is read as it is (:func:`parse_synth_eval`): an ``[eval]``
table (keys from synth-ai's ``synth_ai/cli/commands/eval/config.py``,
``EvalRunConfig`` and ``_from_legacy_eval``)::

    [eval]
    app_id = "banking77"
    task_app_url = "http://127.0.0.1:8103"     # or url
    env_name = "banking77"
    seeds = [0, 1, 2, 3, 4]                    # or "0-49"
    policy_name = "banking77-react"
    concurrency = 5                            # or max_concurrent
    timeout = 120
    return_trace = true
    trace_format = "compact"

    [eval.policy_config]
    model = "gpt-4o-mini"
    provider = "openai"

becomes a suite of seeds (one case per seed, sent exactly; the suite is named
after ``app_id``, else ``env_name``) and a ``rollout`` target. ``seeds`` may be
synth-ai's range ``{start, end, step}``; its defaults apply (``env_name`` =
``app_id``, min(20, seeds) in flight, 600 s per rollout). ``model`` and
``provider`` go into ``policy_config`` as synth-ai does; ``metadata``,
``output_txt``, ``output_json``, ``traces_dir``, ``backend_url``,
``poll_interval``, ``verifier_config`` and ``defaults_version`` are synth-ai's
own output and backend options, accepted and not used. trialbook's keys (``epochs``, ``retries``,
``budget``, ``name``, ``suite``, ``prices``, ``judges``, ``cache``, ``cache_ttl``)
may be added in ``[eval]`` or at the top level, and ``api_key_env`` (the variable
holding the task app's key) in ``[eval]``. Any other key is an error naming it.
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
from trialbook.domain.evals import Price, RunSettings, looks_secret, parse_price
from trialbook.domain.suites import MAX_SEEDS, parse_seeds
from trialbook.runners.cache import parse_duration
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
OTHER_KEYS = ("suite", "suite_version", "name", "target", "cache", "cache_ttl")
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
    #: the response cache: on (True), off (False) or not said (None); entries' lifetime in seconds
    cache: bool | None = None
    cache_ttl_s: float | None = None
    #: a seed suite's seeds (a synth-ai config's ``seeds``); ``seed_suite``: the run is one
    seed_suite: bool = False
    seeds: tuple[int, ...] | None = None
    env_name: str | None = None

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
    if "eval" in doc:
        return parse_synth_eval(doc, filename=filename)
    return _run_config(doc, filename)


def _run_config(doc: dict[str, Any], filename: str, **extra: Any) -> RunConfig:
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
    cache = doc.get("cache")
    if cache is not None and not isinstance(cache, bool):
        raise TargetConfigError(f"{filename}: cache must be true or false")
    ttl = doc.get("cache_ttl")
    config = RunConfig(
        target=target,
        suite=doc.get("suite"),
        suite_version=version,
        name=doc.get("name"),
        values=values,
        filename=filename,
        cache=cache,
        cache_ttl_s=None if ttl is None else parse_duration(ttl, what=f"{filename}: cache_ttl"),
        **extra,
    )
    config.settings()  # validate now, naming the key
    return config


#: synth-ai ``[eval]`` key → the rollout target option it sets
SYNTH_TARGET_KEYS = {
    "app_id": "app_id",
    "task_app_url": "url",
    "url": "url",
    "env_name": "env_name",
    "env_config": "env_config",
    "policy_name": "policy_name",
    "policy_config": "policy_config",
    "policy": "policy_config",
    "return_trace": "return_trace",
    "trace_format": "trace_format",
    "mode": "mode",
    "api_key_env": "api_key_env",
}
#: synth-ai's eval defaults (``synth_ai.config_expansion``, defaults v1)
SYNTH_MAX_CONCURRENT = 20
SYNTH_TIMEOUT_S = 600.0
#: synth-ai ``[eval]`` key → trialbook run config key
SYNTH_SETTING_KEYS = {
    "concurrency": "concurrency",
    "max_concurrent": "concurrency",
    "timeout": "timeout",
}
#: synth-ai's own output/backend options: accepted, not used
SYNTH_IGNORED_KEYS = (
    "defaults_version",
    "metadata",
    "output_txt",
    "output_json",
    "traces_dir",
    "backend_url",
    "poll_interval",
    "verifier_config",
)
SYNTH_KEYS = (
    *SYNTH_TARGET_KEYS,
    "seeds",
    "model",
    "provider",
    *SYNTH_SETTING_KEYS,
    *SYNTH_IGNORED_KEYS,
)
#: trialbook keys a synth-ai config may add (in ``[eval]`` or at the top level)
SYNTH_EXTRA_KEYS = (
    "epochs",
    "retries",
    "budget",
    "seed",
    "prices",
    "judges",
    "name",
    "suite",
    "suite_version",
    "cache",
    "cache_ttl",
)


def _seed_range(value: Any, filename: str) -> Any:
    """synth-ai's range form of ``seeds``, ``{start, end, step?}`` (end excluded), as a list;
    any other value as it is."""
    if not isinstance(value, dict):
        return value
    unknown = sorted(set(value) - {"start", "end", "step"})
    raw = [value.get(k, 1 if k == "step" else None) for k in ("start", "end", "step")]
    parts = [p for p in raw if isinstance(p, int) and not isinstance(p, bool)]
    if unknown or len(parts) != 3 or parts[2] < 1:
        raise TargetConfigError(
            f"{filename}: seeds as a range is {{ start = 0, end = 50 }} (end excluded; "
            "step = N optional, at least 1)"
        )
    start, end, step = parts
    if (end - start) // step > MAX_SEEDS:
        raise TargetConfigError(f"{filename}: seeds: more than {MAX_SEEDS} seeds; split the run")
    return list(range(start, end, step))


def parse_synth_eval(doc: Mapping[str, Any], *, filename: str = "synth_eval.toml") -> RunConfig:
    """A synth-ai eval config (an ``[eval]`` table) as a run of a seed suite against a
    ``rollout`` target (see the module docstring); unknown keys are one-line errors."""
    section = doc.get("eval")
    if not isinstance(section, dict):
        raise TargetConfigError(f"{filename}: [eval] must be a table of settings")
    outside = sorted(set(doc) - {"eval"} - set(SYNTH_EXTRA_KEYS))
    if outside:
        raise TargetConfigError(
            f"{filename}: unknown key {outside[0]!r} beside [eval]; "
            f"keys there are {', '.join(SYNTH_EXTRA_KEYS)}"
        )
    if "task_app_api_key" in section:
        raise TargetConfigError(
            f"{filename}: [eval] task_app_api_key would hold the task app's key itself, which a "
            "run config never accepts; export ENVIRONMENT_API_KEY=… (or name another variable "
            'with api_key_env = "VAR")'
        )
    unknown = sorted(set(section) - set(SYNTH_KEYS) - set(SYNTH_EXTRA_KEYS))
    if unknown:
        hint = (
            " (the task app's key is read from an environment variable: export "
            'ENVIRONMENT_API_KEY, or name another with api_key_env = "VAR")'
            if any(looks_secret(k) for k in unknown)
            else ""
        )
        raise TargetConfigError(
            f"{filename}: unknown key {unknown[0]!r} in [eval]{hint}; keys are "
            f"{', '.join((*SYNTH_KEYS, *SYNTH_EXTRA_KEYS))}"
        )
    target: dict[str, Any] = {"kind": "rollout"}
    for key, option in SYNTH_TARGET_KEYS.items():
        if key in section and section[key] is not None:
            target[option] = section[key]
    if "url" not in target:
        raise TargetConfigError(
            f'{filename}: [eval] needs task_app_url, e.g. task_app_url = "http://127.0.0.1:8103"'
        )
    policy = target.get("policy_config") or {}
    if not isinstance(policy, dict):
        raise TargetConfigError(f"{filename}: [eval] policy_config must be a table")
    policy = dict(policy)
    for key in ("model", "provider"):
        value = section.get(key)
        if value is not None and key not in policy:
            policy[key] = value
    if policy:
        target["policy_config"] = policy
    _refuse_target_secrets(target, filename)
    seeds = None
    if section.get("seeds") is not None:
        try:
            seeds = parse_seeds(_seed_range(section["seeds"], filename), what=f"{filename}: seeds")
        except InvalidCommand as e:
            raise TargetConfigError(str(e)) from None
    app_id = target.get("app_id")
    if "env_name" not in target and isinstance(app_id, str):
        target["env_name"] = app_id  # synth-ai's expand_eval_config: env_name defaults to app_id
    env_name = target.get("env_name")
    values: dict[str, Any] = {k: v for k, v in doc.items() if k != "eval"}
    for key in SYNTH_EXTRA_KEYS:
        if key in section:
            values[key] = section[key]
    for key, setting in SYNTH_SETTING_KEYS.items():
        if section.get(key) is not None:
            values[setting] = section[key]
    # synth-ai's defaults for an [eval] with task_app_url and seeds (expand_eval_config):
    # at most 20 rollouts in flight (fewer with fewer seeds) and 600 s per rollout
    if seeds and "concurrency" not in values:
        values["concurrency"] = min(SYNTH_MAX_CONCURRENT, len(seeds))
    if "timeout" not in values:
        values["timeout"] = SYNTH_TIMEOUT_S
    values["target"] = target
    if "suite" not in values:
        values["suite"] = app_id or env_name or "seeds"
    return _run_config(
        values,
        filename,
        seed_suite=True,
        seeds=seeds,
        env_name=env_name if isinstance(env_name, str) else None,
    )


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
