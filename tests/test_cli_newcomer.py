"""What a newcomer trips on at the CLI (issue #24): names, --db paths, ab show's output, costs, the log."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import Invoke, count_events
from trialbook.domain.units import format_cost, parse_cost
from trialbook.plain.types import Vocabulary
from trialbook.shell.app import did_you_mean
from trialbook.shell.cli import cli


@pytest.fixture
def seeded(invoke: Invoke) -> None:
    assert invoke("ab", "create", "checkout-flow", "--variants", "cold,warm").exit_code == 0


class TestDidYouMean:
    @pytest.mark.parametrize(
        "args",
        [
            ["ab", "summary", "chekout-flow"],
            ["ab", "show", "chekout-flow"],
            ["ab", "analyze", "chekout-flow"],
            ["ab", "add-result", "chekout-flow", "--variant", "warm"],
            ["ab", "archive", "chekout-flow"],
            ["audit", "chekout-flow"],
        ],
        ids=lambda a: " ".join(a[:2]),
    )
    def test_a_mistyped_test_name_is_answered_with_the_name_meant(
        self, invoke: Invoke, db_path: Path, seeded: None, args: list[str]
    ) -> None:
        before = count_events(db_path)
        r = invoke(*args)
        assert r.exit_code == 1
        assert "'chekout-flow' (did you mean checkout-flow?)" in r.output
        assert r.output.count("\n") == 1 and r.output.startswith("Error: ")
        assert count_events(db_path) == before

    def test_no_close_name_no_suggestion(self, invoke: Invoke, seeded: None) -> None:
        r = invoke("ab", "summary", "zzzz")
        assert r.exit_code == 1 and "did you mean" not in r.output

    def test_it_is_the_shells_suggestion_function(self) -> None:
        vocab = Vocabulary(tests={"checkout-flow": ("a", "b")}, runs={"baseline-0401"})
        assert did_you_mean("no A/B test named 'checkot-flow'; see x", vocab) == (
            "no A/B test named 'checkot-flow' (did you mean checkout-flow?); see x"
        )
        assert "baseline-0401?" in did_you_mean("no eval run 'baseline-0410'", vocab)
        assert did_you_mean("something else", vocab) == "something else"


class TestStreams:
    def test_a_test_name_given_as_a_stream_hints_its_stream_id(
        self, invoke: Invoke, seeded: None
    ) -> None:
        r = invoke("events", "log", "--stream", "checkout-flow")
        assert r.exit_code == 1
        assert r.output == (
            "Error: --stream: no events were recorded in stream 'checkout-flow'; "
            "did you mean ab:checkout-flow?\n"
        )
        r = invoke("events", "log", "--stream", "ab:checkout-flow")
        assert r.exit_code == 0 and "TestCreated" in r.output

    def test_the_log_shows_event_data_as_json(self, invoke: Invoke, seeded: None) -> None:
        assert invoke("ab", "archive", "checkout-flow").exit_code == 0
        line = invoke("events", "log", "--type", "TestArchived").output.splitlines()[-1]
        (event,) = json.loads(invoke("events", "log", "--type", "TestArchived", "--json").output)
        brief = line[line.index("{") :]
        assert json.loads(brief) == {
            k: v for k, v in event["data"].items() if not isinstance(v, (dict, list)) or v
        }
        created = invoke("events", "log", "--type", "TestCreated").output.splitlines()[-1]
        cell = created[created.index("{") :]
        assert cell.startswith('{"') and cell.endswith("…")
        assert "'" not in cell and "True" not in cell and "None" not in cell


class TestDbPaths:
    def test_a_read_of_a_file_that_does_not_exist_is_an_error_and_creates_nothing(
        self, tmp_path: Path
    ) -> None:
        missing = tmp_path / "tset.db"
        runner = CliRunner()
        for args in (["ab", "list"], ["events", "log"], ["eval", "list"], ["canary", "list"]):
            r = runner.invoke(cli, ["--db", str(missing), *args])
            assert r.exit_code == 1, (args, r.output)
            assert r.output.startswith(f"Error: no trialbook database at {missing}; check the --db")
            assert not missing.exists()

    def test_a_write_still_creates_the_file(self, tmp_path: Path) -> None:
        new = tmp_path / "new.db"
        r = CliRunner().invoke(cli, ["--db", str(new), "ab", "create", "t"])
        assert r.exit_code == 0 and new.exists()

    def test_demo_takes_db_after_the_command_as_the_readme_writes_it(self, tmp_path: Path) -> None:
        target = tmp_path / "x.db"
        r = CliRunner().invoke(cli, ["demo", "--db", str(target), "--no-eval", "--sessions", "5"])
        assert r.exit_code == 0, r.output
        assert count_events(target) >= 2 and f"trialbook --db {target} ab show" in r.output
        again = CliRunner().invoke(cli, ["demo", "--db", str(target), "--no-eval"])
        assert again.exit_code == 1 and "already has events" in again.output

    def test_demo_refuses_two_different_db_paths(self, tmp_path: Path) -> None:
        r = CliRunner().invoke(
            cli, ["--db", str(tmp_path / "a.db"), "demo", "--db", str(tmp_path / "b.db")]
        )
        assert r.exit_code == 2 and "--db is given twice" in r.output
        assert not (tmp_path / "a.db").exists() and not (tmp_path / "b.db").exists()


def _load(invoke: Invoke, tmp_path: Path, n: int) -> list[dict]:
    results = [
        {
            "variant": "cold" if i % 2 else "warm",
            "case_id": f"c{i // 2}",
            "success": i % 3 == 0,
            "cost": 0.000018 * (i + 1),
            "metrics": {"quality": i / 10},
            **({"errors": ["timeout", 'bad "json"']} if i == 7 else {}),
        }
        for i in range(n)
    ]
    f = tmp_path / "r.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in results))
    assert invoke("ab", "import", "checkout-flow", str(f)).exit_code == 0
    return results


class TestShow:
    def test_json_gives_every_result_and_the_table_says_what_it_leaves_out(
        self, invoke: Invoke, seeded: None, tmp_path: Path
    ) -> None:
        _load(invoke, tmp_path, 120)
        doc = json.loads(invoke("ab", "show", "checkout-flow", "--json").output)
        assert len(doc["results"]) == 120 == doc["test"]["results"]
        limited = json.loads(invoke("ab", "show", "checkout-flow", "--json", "--limit", "7").output)
        assert [r["position"] for r in limited["results"]] == [
            r["position"] for r in doc["results"][-7:]
        ]
        text = invoke("ab", "show", "checkout-flow").output
        assert "(70 earlier results not shown; use --limit 0 for all)" in text

    def test_csv_holds_what_json_holds(self, invoke: Invoke, seeded: None, tmp_path: Path) -> None:
        _load(invoke, tmp_path, 60)
        doc = json.loads(invoke("ab", "show", "checkout-flow", "--json").output)
        r = invoke("ab", "show", "checkout-flow", "--csv")
        assert r.exit_code == 0
        rows = list(csv.DictReader(io.StringIO(r.output)))
        assert len(rows) == 60
        for row, result in zip(rows, doc["results"], strict=True):
            assert int(row["position"]) == result["position"]
            assert row["variant"] == result["variant"] and row["case_id"] == result["case_id"]
            assert float(row["cost"]) == result["cost"]
            assert float(row["metric:quality"]) == result["metrics"]["quality"]
            errors = json.loads(row["error_messages"]) if row["error_messages"] else []
            assert errors == result["error_messages"]
        assert any(row["error_messages"] for row in rows)

    def test_csv_of_a_test_without_results_is_its_header(
        self, invoke: Invoke, seeded: None
    ) -> None:
        r = invoke("ab", "show", "checkout-flow", "--csv")
        assert r.exit_code == 0 and r.output.startswith("position,variant,")
        assert r.output.count("\n") == 1

    def test_json_and_csv_together_are_refused(self, invoke: Invoke, seeded: None) -> None:
        r = invoke("ab", "show", "checkout-flow", "--json", "--csv")
        assert r.exit_code == 2 and "--json or --csv" in r.output


class TestCosts:
    def test_ab_show_and_summary_print_costs_in_dollars_without_exponents(
        self, invoke: Invoke, seeded: None, tmp_path: Path
    ) -> None:
        results = _load(invoke, tmp_path, 4)
        shown = invoke("ab", "show", "checkout-flow").output
        for r in results:
            assert format_cost(r["cost"]) in shown
        assert "e-05" not in shown and "$0.0000 " not in shown
        summary = invoke("ab", "summary", "checkout-flow").output
        warm = sum(r["cost"] for r in results if r["variant"] == "warm")
        assert format_cost(warm) in summary and "e-0" not in summary

    @pytest.mark.parametrize("usd", [0.000018, 0.0000004, 0.0312, 0.5, 3.14159, 12345.678])
    def test_the_one_format_keeps_small_costs_visible(self, usd: float) -> None:
        text = format_cost(usd)
        assert "e" not in text and text != "$0.0000"
        assert abs(parse_cost(text) - usd) <= max(0.005 * usd, 0.005 if usd >= 1 else 0)
