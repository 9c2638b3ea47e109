"""Two behaviours an eighth newcomer, reading only the README and each `--help`, found to be
traps: `eval run --budget '$2'` was refused although `--cost` takes money so, and an error
count that merely disagreed with the messages given was refused as "not both"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Invoke, add_suite, count_events
from tests.servers import Behaviour, TaskServer


class TestBudgetTakesMoneyAsCostDoes:
    @pytest.mark.parametrize(
        ("first", "then"), [("$0.05", "6c"), ("5c", "$0.06"), ("0.05 dollars", "0.06 USD")]
    )
    def test_a_budget_in_any_money_form_stops_the_run_as_the_number_does(
        self, invoke: Invoke, tmp_path: Path, first: str, then: str
    ) -> None:
        # as TestBudget in test_eval_fixes_runs.py: "a b" costs $0.005 at $1000 per million tokens
        add_suite(
            invoke, tmp_path / "p.jsonl", [{"id": f"c{i:02d}", "input": "a b"} for i in range(15)]
        )
        with TaskServer(Behaviour(latency_s=0.0)) as server:
            target = f"http:{server.url}/run;model=echo-1"
            args = ["--price", "echo-1=1000/1000", "--concurrency", "1", "--name", "n"]
            r = invoke("eval", "run", "p", "--target", target, "--budget", first, *args)
            assert r.exit_code == 0, r.output
            assert "stopped (budget of $0.05 spent): 10 completed, 0 failed, 5 pending" in r.output
            r = invoke("eval", "resume", "n", "--budget", then)
            assert r.exit_code == 0, r.output
            assert "12 completed, 0 failed, 3 pending · $0.06" in r.output

    def test_a_bad_budget_is_one_line_naming_the_forms_and_records_nothing(
        self, invoke: Invoke, db_path: Path, tmp_path: Path
    ) -> None:
        add_suite(invoke, tmp_path / "qa.jsonl", [{"id": "c1", "input": "hi"}])
        before = count_events(db_path)
        r = invoke("eval", "run", "qa", "--target", "command:cat", "--budget", "two bucks")
        assert r.exit_code == 2
        assert r.output.splitlines()[-1] == (
            "Error: Invalid value for '--budget': cost 'two bucks' is not valid; "
            "write 0.03, $0.03 or 3c (US dollars)"
        )
        assert count_events(db_path) == before


class TestErrorCountAndMessages:
    def test_a_count_equal_to_the_messages_is_taken_with_them(self, invoke: Invoke) -> None:
        invoke("ab", "create", "t", "--variants", "a,b")
        r = invoke(
            "ab",
            "add-result",
            "t",
            "--variant",
            "a",
            "--errors",
            "2",
            "--error",
            "x",
            "--error",
            "y",
        )
        assert r.exit_code == 0, r.output
        r = invoke("ab", "add-result", "t", "--variant", "a", "--error", "x")
        assert r.exit_code == 0, r.output
        results = json.loads(invoke("ab", "show", "t", "--json").output)["results"]
        assert [(x["errors"], x["error_messages"]) for x in results] == [
            (2, ["x", "y"]),
            (1, ["x"]),
        ]

    def test_a_count_that_disagrees_says_so_not_that_both_are_refused(
        self, invoke: Invoke, db_path: Path
    ) -> None:
        invoke("ab", "create", "t", "--variants", "a,b")
        before = count_events(db_path)
        r = invoke("ab", "add-result", "t", "--variant", "a", "--errors", "3", "--error", "x")
        assert (r.exit_code, r.output) == (
            1,
            "Error: the error count (3) is not the number of error messages (1); give the "
            "count, the messages, or both agreeing\n",
        )
        assert count_events(db_path) == before
