"""What an eighth newcomer, reading only the README's command reference and each `--help`,
found confusing: each clarification is asserted here, so removing one fails a test, and the
two behaviours that were traps (`--budget '$2'` refused, "not both" for an error count that
merely disagreed) are pinned."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import Invoke, add_suite, count_events
from tests.servers import Behaviour, TaskServer
from trialbook.shell.cli import cli
from trialbook.shell.commands.events import STREAM_PREFIXES

README = (Path(__file__).parent.parent / "README.md").read_text()


def help_of(*path: str) -> str:
    """The `--help` of a command, with the lines joined (click wraps at any space)."""
    r = CliRunner().invoke(cli, [*path, "--help"], terminal_width=200)
    assert r.exit_code == 0, r.output
    return " ".join(r.output.split())


def readme_line(command: str) -> str:
    """The README code-block line documenting ``trialbook COMMAND`` (exactly one)."""
    lines = [
        line
        for line in README.splitlines()
        if re.match(rf"trialbook {re.escape(command)} [A-Z\[]", line.strip())
    ]
    assert len(lines) == 1, (command, lines)
    return lines[0]


class TestHelpSaysWhatTheCodeDoes:
    def test_fail_under_says_a_scorer_with_a_colon_works_and_how(self) -> None:
        text = help_of("eval", "run")
        assert "judge:openai:mean=0.7" in text and "judge:openai=80%" in text
        assert "Read from the right" in text
        assert "judge:openai:mean=0.7" in help_of("eval", "resume")

    @pytest.mark.parametrize("path", [("ab", "create"), ("canary", "create")])
    def test_a_guardrail_limit_is_how_much_worse_whichever_way_is_worse(
        self, path: tuple[str, ...]
    ) -> None:
        text = help_of(*path)
        assert "How much worse than the control" in text
        assert "whichever way is worse for the metric" in text
        assert "success:+5pp lets success drop 5 points, not rise" in text
        assert "cost:+2c" in text

    def test_ab_create_says_a_quantile_metric_is_accepted(self) -> None:
        text = help_of("ab", "create")
        metric = text.split("--metric TEXT")[1].split("--guardrail")[0]
        assert (
            "a quantile of a per-result number (completion_time:p95 and cost:p99 are accepted)"
            in metric
        )

    def test_stage_is_a_number_and_to_is_a_percentage_each_beside_the_other(self) -> None:
        stage = help_of("canary", "add-result").split("--stage N|P%")[1].split("--unit-id")[0]
        assert "(--stage 2 is the second stage, not 2 %)" in stage
        assert "by its percentage written with % (--stage 10% is the stage at 10 %" in stage
        assert "`canary status` lists the stages" in stage
        to = help_of("canary", "advance").split("--to PERCENT")[1].split("--force")[0]
        assert "--to 50 is 50 %, not stage 50" in to
        assert "--stage` takes the stage's number, or its percentage written 50%" in to

    def test_target_says_a_bare_url_and_rollout_are_accepted(self) -> None:
        target = help_of("eval", "run").split("--target SPEC")[1].split("--config")[0]
        for form in ("http://127.0.0.1:8000/run", "http:URL", "rollout:URL", "openai:MODEL"):
            assert form in target, form
        assert "rollout:URL" in README and "`http://127.0.0.1:8000/run`" in README

    def test_events_log_lists_every_stream_prefix_in_its_help_and_the_readme(self) -> None:
        text = help_of("events", "log")
        for prefix in STREAM_PREFIXES:
            assert f"{prefix}" in text.split("--stream KIND:NAME")[1].split("--type")[0], prefix
            assert f"`{prefix}" in README, prefix
        assert "There is no `canary log`" in text and "no `canary log`" in README

    def test_audit_and_canary_audit_say_how_they_relate(self) -> None:
        audit = help_of("audit")
        assert "`audit NAME` is `canary audit NAME`" in audit
        assert "--json is its --format json" in audit
        canary = help_of("canary", "audit")
        assert "`trialbook audit NAME` runs this for a name that is a canary" in canary
        assert "its --json is --format json here" in canary

    def test_budget_names_its_forms(self) -> None:
        for path in (("eval", "run"), ("eval", "resume")):
            budget = help_of(*path).split("--budget USD")[1]
            assert "2, $2, 2 dollars, 200c" in budget, path

    def test_errors_and_error_say_when_they_combine(self) -> None:
        for path in (("ab", "add-result"), ("canary", "add-result")):
            text = help_of(*path)
            assert "with --error, it must equal the messages given" in text, path
            assert "alone, the count is the number of messages" in text, path

    def test_cache_ttl_says_it_does_not_turn_the_cache_on(self) -> None:
        ttl = help_of("eval", "run").split("--cache-ttl DURATION")[1].split("--scorer")[0]
        assert "It does not turn the cache on" in ttl and "refused" in ttl

    def test_compare_and_report_eval_say_which_run_is_the_baseline(self) -> None:
        compare = help_of("eval", "compare")
        assert "RUN_A is the baseline and RUN_B the candidate" in compare
        assert "`report eval RUN_B --baseline RUN_A`" in compare
        report = help_of("report", "eval")
        assert "RUN is the candidate and --baseline the baseline" in report
        assert "`eval compare BASE CAND`" in report


class TestTheReadmeReference:
    @pytest.mark.parametrize(
        ("command", "options"),
        [
            ("ab create", ["--expected-tools", "--success-criteria", "cost:+2c", "completion_time:p95"]),
            ("canary create", ["--expected-results", "--description"]),
            ("eval compare", ["--by"]),
            ("eval show", ["--plot"]),
            ("report ab", ["--latency-budget", "--cost-budget"]),
            ("canary advance", ["--json"]),
            ("canary halt", ["--json"]),
            ("canary rollback", ["--json"]),
            ("canary complete", ["--json"]),
            ("events log", [f"--stream {STREAM_PREFIXES[0]}", *STREAM_PREFIXES[1:]]),
            ("eval run", ["'$2'", "200c", "SCORER:mean=V", "--cache-ttl DURATION (with --cache)"]),
        ],
    )  # fmt: skip
    def test_a_command_line_documents_the_options_its_help_does(
        self, command: str, options: list[str]
    ) -> None:
        line = readme_line(command)
        for option in options:
            assert option in line, (command, option)
        for option in (o for o in options if o.startswith("--") and " " not in o):
            assert option in help_of(*command.split()), (command, option)

    @pytest.mark.parametrize(
        ("command", "optional"),
        [("audit report", "[--format markdown|json]"), ("report eval", "[--baseline RUN]")],
    )
    def test_optional_options_are_in_brackets(self, command: str, optional: str) -> None:
        assert optional in readme_line(command)

    def test_errors_and_error_are_not_shown_as_exclusive(self) -> None:
        line = readme_line("ab add-result")
        assert "[--errors N] [--error TEXT ...]" in line and "--errors N |" not in line


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


class TestAQuantileGuardrailTakesUnitsOnCanariesAsOnTests:
    @pytest.mark.parametrize(
        ("typed", "metric", "limit"),
        [
            ("completion_time:p95:+30s", "completion_time:p95", 30.0),
            ("completion_time:p95:+2min", "completion_time:p95", 120.0),
            ("cost:p99:+2c", "cost:p99", 0.02),
            ("tokens:p90:+1.5k", "tokens:p90", 1500.0),
        ],
    )
    def test_canary_create_reads_the_limit_as_ab_create_does(
        self, invoke: Invoke, typed: str, metric: str, limit: float
    ) -> None:
        r = invoke(
            "canary", "create", "c", "--control", "a", "--candidate", "b", "--guardrail", typed
        )
        assert r.exit_code == 0, r.output
        r = invoke("ab", "create", "t", "--variants", "a,b", "--guardrail", typed)
        assert r.exit_code == 0, r.output
        want = [{"limit": limit, "metric": metric, "relative": False}]
        assert json.loads(invoke("canary", "list", "--json").output)[0]["guardrails"] == want
        assert json.loads(invoke("ab", "list", "--json").output)[0]["guardrails"] == want

    def test_points_on_a_quantile_are_still_refused_naming_the_forms(self, invoke: Invoke) -> None:
        r = invoke("canary", "create", "c", "--control", "a", "--candidate", "b",
                   "--guardrail", "completion_time:p95:+5pp")  # fmt: skip
        assert r.exit_code == 1
        assert r.output.startswith(
            "Error: guardrail completion_time:p95: percentage points are for rates and shares"
        )
