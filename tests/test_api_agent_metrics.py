"""``tb.ab.analyze(name, by=..., covariate=...)`` (#21): the typed document is the CLI's ``--json``
one, field for field, and bad requests raise the public exception with the CLI's message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import Invoke, count_events


def _rows(seed: int, n: int = 200) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(2 * n):
        hard = rng.random() < 0.4
        prior = float(rng.normal())
        out.append(
            {
                "variant": "warm" if i % 2 else "cold",
                "success": bool(rng.random() < (0.4 if hard else 0.6) + 0.1 * (i % 2)),
                "metrics": {"prior": prior},
                "case_id": f"c{i % 50}",
                "dimensions": {"difficulty": "hard" if hard else "easy"},
            }
        )
    return out


@pytest.fixture
def test_db(invoke: Invoke, db_path: Path, tmp_path: Path) -> Path:
    assert (
        invoke("ab", "create", "t", "--variants", "cold,warm", "--segment", "difficulty").exit_code
        == 0
    )
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _rows(1)), encoding="utf-8")
    assert invoke("ab", "import", "t", str(path)).exit_code == 0
    return db_path


def test_by_returns_the_segments_the_cli_prints(invoke: Invoke, test_db: Path) -> None:
    import trialbook

    r = invoke("ab", "analyze", "t", "--by", "difficulty", "--json")
    assert r.exit_code == 0, r.output
    cli = json.loads(r.output)
    with trialbook.open(test_db) as tb:
        got = tb.ab.analyze("t", by="difficulty")
    assert isinstance(got, trialbook.SegmentedAnalysis)
    assert isinstance(got, trialbook.Analysis)
    assert got.model_dump(mode="json") == cli
    assert got.segments.by == "difficulty" and not got.segments.exploratory
    hard = got.segments.of("warm", "hard")
    assert isinstance(hard, trialbook.SegmentAnalysis)
    assert hard.n_variant + got.segments.of("warm", "easy").n_variant == 200
    with pytest.raises(KeyError):
        got.segments.of("warm", "medium")


def test_without_by_the_analysis_is_unchanged(invoke: Invoke, test_db: Path) -> None:
    import trialbook

    cli = json.loads(invoke("ab", "analyze", "t", "--json").output)
    with trialbook.open(test_db) as tb:
        got = tb.ab.analyze("t")
    assert type(got) is trialbook.Analysis
    assert got.model_dump(mode="json") == cli


def test_by_and_covariate_together_match_the_cli(invoke: Invoke, test_db: Path) -> None:
    import trialbook

    args = ("ab", "analyze", "t", "--by", "difficulty", "--covariate", "prior", "--json")
    cli = json.loads(invoke(*args).output)
    with trialbook.open(test_db) as tb:
        got = tb.ab.analyze("t", by="difficulty", covariate="prior")
    assert got.model_dump(mode="json") == cli
    assert got.settings["covariate"]["name"] == "prior"


@pytest.mark.parametrize(
    ("options", "cli"),
    [
        ({"by": "region"}, ("--by", "region")),
        ({"covariate": "case:nope"}, ("--covariate", "case:nope")),
        ({"covariate": "test:t.success"}, ("--covariate", "test:t.success")),
    ],
)
def test_bad_requests_raise_with_the_clis_message(
    invoke: Invoke, test_db: Path, options: dict[str, str], cli: tuple[str, ...]
) -> None:
    import trialbook

    r = invoke("ab", "analyze", "t", *cli)
    assert r.exit_code == 1
    message = r.output.strip().removeprefix("Error: ")
    before = count_events(test_db)
    with trialbook.open(test_db) as tb, pytest.raises(trialbook.DomainError) as e:
        tb.ab.analyze("t", **options)
    assert str(e.value) == message
    assert count_events(test_db) == before
