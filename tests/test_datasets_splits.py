"""Dataset splits: disjoint by case, stable across exports, runs and order (hypothesis), and real files.

The split of a case is a function of the seed and the case id alone; these tests
check that through the pure function (over arbitrary case ids and shares) and
through real exports of real eval runs whose suites list the cases in other orders.
"""

from __future__ import annotations

import json
import math
import random
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import trialbook
from tests.conftest import Invoke, add_suite
from trialbook.domain.errors import InvalidCommand
from trialbook.ledger.datasets import Split, parse_split, split_of, split_point

case_ids = st.text(min_size=1, max_size=40)
seeds = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@st.composite
def split_plans(draw: Any) -> tuple[Split, ...]:
    """2-5 splits with positive integer weights made into shares summing to 1."""
    k = draw(st.integers(2, 5))
    weights = draw(st.lists(st.integers(1, 1000), min_size=k, max_size=k))
    total = sum(weights)
    return tuple(Split(f"s{i}", w / total) for i, w in enumerate(weights))


class TestTheSplitOfACase:
    @settings(max_examples=200, deadline=None)
    @given(st.lists(case_ids, min_size=1, max_size=50, unique=True), split_plans(), seeds)
    def test_depends_on_the_seed_and_case_alone_not_on_order_or_company(
        self, cases: list[str], splits: tuple[Split, ...], seed: int
    ) -> None:
        alone = {c: split_of(seed, c, splits) for c in cases}
        shuffled = list(cases)
        random.Random(seed).shuffle(shuffled)
        together = {c: split_of(seed, c, splits) for c in shuffled}
        assert together == alone
        assert set(alone.values()) <= {s.name for s in splits}

    @settings(max_examples=100, deadline=None)
    @given(split_plans(), seeds, case_ids)
    def test_lands_where_its_point_falls_between_the_running_shares(
        self, splits: tuple[Split, ...], seed: int, case: str
    ) -> None:
        point = split_point(seed, case)
        assert 0 <= point < 1
        bounds = [math.fsum(s.share for s in splits[: i + 1]) for i in range(len(splits))]
        expected = next((s.name for s, b in zip(splits, bounds, strict=True) if point < b), None)
        assert split_of(seed, case, splits) == (expected or splits[-1].name)

    @settings(max_examples=20, deadline=None)
    @given(split_plans(), seeds)
    def test_gives_each_split_its_share_of_many_cases(
        self, splits: tuple[Split, ...], seed: int
    ) -> None:
        n = 4000
        counts = Counter(split_of(seed, f"case-{i}", splits) for i in range(n))
        for s in splits:
            sd = math.sqrt(n * s.share * (1 - s.share))
            assert abs(counts[s.name] - n * s.share) <= 5 * sd + 1, (s, counts)

    def test_another_seed_moves_cases(self) -> None:
        splits = (Split("train", 0.5), Split("val", 0.5))
        a = [split_of(1, f"c{i}", splits) for i in range(200)]
        b = [split_of(2, f"c{i}", splits) for i in range(200)]
        assert 50 < sum(x != y for x, y in zip(a, b, strict=True)) < 150


class TestParsingSplits:
    @settings(max_examples=100, deadline=None)
    @given(split_plans())
    def test_written_shares_read_back(self, splits: tuple[Split, ...]) -> None:
        text = ",".join(f"{s.name}={s.share!r}" for s in splits)
        assert parse_split(text) == splits

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("train=0.5,val=0.4", "--split: the shares sum to 0.9, not 1"),
            ("train=1.5", "--split: train=1.5: a share is above 0 and at most 1"),
            ("train=0,val=1", "--split: train=0: a share is above 0 and at most 1"),
            ("train=nan,val=1", "--split: train=nan: a share is above 0 and at most 1"),
            ("tr ain=1", "--split: 'tr ain' is not a split name"),
            ("=1", "--split: '=1' is not NAME=SHARE"),
        ],
    )
    def test_bad_text_is_named(self, text: str, message: str) -> None:
        with pytest.raises(InvalidCommand) as e:
            parse_split(text)
        assert str(e.value).startswith(message), str(e.value)

    @pytest.mark.parametrize(
        ("splits", "message"),
        [
            ([Split("a", 2.0)], "--split: a=2.0: a share is above 0 and at most 1"),
            ([Split("a", 0.3), Split("a", 0.7)], "--split: 'a' is named twice; name each split once"),
            ([Split("a/b", 1.0)], "--split: 'a/b' is not a split name; use letters, digits, '_' or '-'"),
        ],
    )  # fmt: skip
    def test_split_objects_are_checked_as_the_text_is(
        self, tmp_path: Path, splits: list[Split], message: str
    ) -> None:
        from trialbook.ledger.datasets import export_dataset  # it takes Split objects too

        with trialbook.open(tmp_path / "t.db") as tb:
            tb.ab.create("t", variants=["a", "b"])
            with tb._use() as ledger, pytest.raises(InvalidCommand) as e:
                export_dataset(ledger, "t", split=splits, output=tmp_path / "out.jsonl")
        assert str(e.value) == message
        assert not list(tmp_path.glob("out*"))


# --------------------------------------------------------------------------- real runs

TARGET = textwrap.dedent(
    """
    def answer(case):
        return "echo: " + case["input"]
    """
)


@pytest.fixture
def target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "tb_split_target.py").write_text(TARGET, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    return "python:tb_split_target:answer"


def _cases_by_file(tmp_path: Path, stem: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for split in ("train", "val", "test"):
        path = tmp_path / f"{stem}.{split}.jsonl"
        found[split] = {
            json.loads(line)["provenance"]["case_id"]
            for line in path.read_text(encoding="utf-8").splitlines()
        }
    return found


class TestSplitFiles:
    def test_are_disjoint_by_case_and_equal_across_runs_and_case_order(
        self, invoke: Invoke, tmp_path: Path, target: str, db_path: Path
    ) -> None:
        cases = [{"id": f"q{i}", "input": f"question {i}"} for i in range(40)]
        add_suite(invoke, tmp_path / "fwd.jsonl", cases)
        add_suite(invoke, tmp_path / "rev.jsonl", cases[::-1])
        for suite, run in (("fwd", "run-a"), ("fwd", "run-b"), ("rev", "run-c")):
            r = invoke("eval", "run", suite, "--target", target, "--epochs", "3", "--name", run)
            assert r.exit_code == 0, r.output
        split = "train=0.6,val=0.3,test=0.1"
        found = {}
        for run in ("run-a", "run-b", "run-c"):
            r = invoke(
                "export", "dataset", run, "--format", "jsonl", "--split", split, "--seed", "11",
                "-o", str(tmp_path / f"{run}.jsonl"),
            )  # fmt: skip
            assert r.exit_code == 0, r.output
            found[run] = _cases_by_file(tmp_path, run)
            by_split = found[run]
            assert set().union(*by_split.values()) == {c["id"] for c in cases}
            assert sum(len(v) for v in by_split.values()) == len(cases)  # no case twice
            # every epoch of a case went to its case's split
            for name, ids in by_split.items():
                lines = (tmp_path / f"{run}.{name}.jsonl").read_text().splitlines()
                assert len(lines) == 3 * len(ids)
        assert found["run-a"] == found["run-b"] == found["run-c"]
        with trialbook.open(db_path) as tb:
            again = tb.export_dataset("run-c", format="jsonl", split=split, seed=11)["records"]
        assert {r["provenance"]["case_id"]: r["split"] for r in again} == {
            c: name for name, ids in found["run-a"].items() for c in ids
        }
