"""Run configs in TOML and YAML."""

from __future__ import annotations

import pytest

from trialbook.domain.evals import Price
from trialbook.runners.eval_config import parse_run_config
from trialbook.runners.eval_errors import TargetConfigError
from trialbook.runners.targets import OpenAITarget, make_target

TOML = """
suite = "qa"
suite_version = 2
name = "baseline"
epochs = 3
concurrency = 20
timeout = 30
budget = 5.0

[target]
kind = "openai"
model = "gpt-4o-mini"
base_url = "http://127.0.0.1:9/v1"
temperature = 0

[prices]
"gpt-4o-mini" = "0.15/0.6"
"*" = { input = 1.0, output = 2.0 }

[policy]
model = "gpt-4o-mini"
"""


def test_a_toml_config_gives_settings_and_a_target():
    config = parse_run_config(TOML, filename="run.toml")
    assert (config.suite, config.suite_version, config.name) == ("qa", 2, "baseline")
    s = config.settings()
    assert (s.epochs, s.concurrency, s.timeout_s, s.retries, s.budget_usd) == (3, 20, 30.0, 3, 5.0)
    assert s.prices == {
        "gpt-4o-mini": Price(input_per_million=0.15, output_per_million=0.6),
        "*": Price(input_per_million=1.0, output_per_million=2.0),
    }
    assert s.policy == {"model": "gpt-4o-mini"}
    assert isinstance(make_target(config.target, env={}), OpenAITarget)


def test_command_line_overrides_win():
    s = parse_run_config(TOML, filename="run.toml").settings(concurrency=50, epochs=None)
    assert (s.concurrency, s.epochs) == (50, 3)


def test_a_yaml_config_with_a_target_string():
    config = parse_run_config(
        "target: http:http://127.0.0.1:8000/run\nretries: 0\n", filename="run.yaml"
    )
    assert config.target == "http:http://127.0.0.1:8000/run" and config.settings().retries == 0


def test_judge_tables_are_kept_for_the_scorers():
    config = parse_run_config(
        '[judges.strict]\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m"\nkey_env = "none"\n'
        'criteria = ["cites a source"]\n',
        filename="run.toml",
    )
    assert config.settings().judges == {
        "strict": {
            "base_url": "http://127.0.0.1:9/v1",
            "model": "m",
            "key_env": "none",
            "criteria": ["cites a source"],
        }
    }
    assert parse_run_config("epochs: 2", filename="run.yaml").settings().judges == {}


@pytest.mark.parametrize(
    ("text", "filename", "message"),
    [
        (
            "epochs = 0",
            "run.toml",
            "run config: epochs: Input should be greater than or equal to 1",
        ),
        ("colour = 1", "run.toml", "unknown key 'colour'; keys are suite"),
        ("epochs = ", "run.toml", "run.toml: not valid TOML"),
        ('[prices]\nm = "cheap"', "run.toml", "price of 'm' is not valid"),
        ("target = 3", "run.toml", "target must be a spec string or a table"),
        ("judges = 3", "run.toml", "judges must be a table of judge tables"),
        ("[judges]\nstrict = 1", "run.toml", "judges must be a table of judge tables"),
        ("- a", "run.yaml", "a run config is a table of settings"),
        ("epochs: 1", "run.ini", "name it .toml, .yaml or .yml"),
    ],
)
def test_bad_configs_name_the_key(text, filename, message):
    with pytest.raises(TargetConfigError) as e:
        parse_run_config(text, filename=filename)
    assert message in str(e.value)
