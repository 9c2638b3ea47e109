"""Every translation (rules or LLM) is checked against the click group and the request before it runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Invoke
from tests.test_plain import CASES
from tests.test_plain import VOCAB as PARSER_VOCAB
from trialbook.plain.translate import Translation, Vocabulary, is_write, translate
from trialbook.shell.line_checks import check, command_exists, grounded, mentioned_numbers

VOCAB = Vocabulary(
    tests={"checkout-flow": ("cold", "warm"), "onboarding": ("control", "treatment")},
    runs={"baseline"},
    scorers={"exact"},
)


def proposed(text: str, line: str, vocab: Vocabulary = VOCAB) -> Translation:
    """A translation as the LLM tier would hand it over (unchecked)."""
    argv = tuple(line.split())
    return Translation("command", text, argv, writes=is_write(argv), tier="llm")


def test_every_rules_translation_of_the_parser_table_passes_unchanged() -> None:
    checked = 0
    for _, text, focus, _ in CASES:
        t = translate(text, PARSER_VOCAB, focus)
        if t.status == "refused" or not command_exists(t.argv):
            continue
        assert check(t, PARSER_VOCAB, focus) == t, (text, t.line)
        checked += 1
    assert checked >= 150  # the A/B and log families, at least


class TestNumbers:
    @pytest.mark.parametrize(
        "text, value",
        [
            ("took 2 min", "120"),
            ("3 cents", "0.03"),
            ("alpha 5%", "0.05"),
            ("1.5k tokens", "1500"),
            ("twelve calls", "12"),
            ("1m30s", "90"),
            ("no errors", "0"),
        ],
    )
    def test_a_number_written_with_a_unit_is_grounded(self, text: str, value: str) -> None:
        from decimal import Decimal

        assert grounded(Decimal(value), mentioned_numbers(text))

    @pytest.mark.parametrize(
        "text, value", [("12 calls, 11 ok", "23"), ("12 calls", "13"), ("took 40s", "41")]
    )
    def test_arithmetic_and_invention_are_not(self, text: str, value: str) -> None:
        from decimal import Decimal

        assert not grounded(Decimal(value), mentioned_numbers(text))

    def test_an_invented_number_is_refused(self) -> None:
        t = check(
            proposed(
                "warm: a dozen calls, eleven fine",
                "ab add-result checkout-flow --variant warm --tool-calls 12 --successful-calls 11",
            ),
            VOCAB,
        )
        assert t.status == "refused"
        assert t.reason.endswith("12 (for --tool-calls) is not a number in your request")
        assert t.tier == "llm"

    def test_numbers_inside_text_values_are_checked_too(self) -> None:
        t = check(
            proposed(
                "make t with a guardrail on completion time",
                "ab create t --guardrail completion_time:+10%",
            ),
            VOCAB,
        )
        assert t.status == "refused" and "10 is not a number in your request" in t.reason


class TestNames:
    def test_an_unknown_test_is_refused_with_a_suggestion(self) -> None:
        t = check(proposed("summarize checkout", "ab summary checkout"), VOCAB)
        assert t.status == "refused"
        assert t.reason.endswith("there is no test named 'checkout'; did you mean checkout-flow?")

    def test_a_variant_must_belong_to_the_test(self) -> None:
        t = check(
            proposed("hot result for checkout-flow", "ab add-result checkout-flow --variant hot"),
            VOCAB,
        )
        assert t.status == "refused" and "there is no variant named 'hot'" in t.reason

    def test_a_new_name_must_be_written_in_the_request(self) -> None:
        ok = check(proposed("start pricing-v2 please", "ab create pricing-v2"), VOCAB)
        assert ok.status == "command"
        invented = check(proposed("start a pricing test", "ab create pricing-v2"), VOCAB)
        assert (
            invented.status == "refused"
            and "'pricing-v2' is neither in your request" in invented.reason
        )

    def test_free_text_must_come_from_the_request(self) -> None:
        t = check(
            proposed(
                "ship warm, it is faster", "ab conclude checkout-flow --ship warm --note because"
            ),
            VOCAB,
        )
        assert t.status == "refused" and "'because'" in t.reason


class TestTheCommandLine:
    def test_a_command_this_version_lacks_is_refused(self) -> None:
        t = check(proposed("frobnicate the log", "events frobnicate"), VOCAB)
        assert t.status == "refused"
        assert "`events frobnicate` is not a command of this version of trialbook" in t.reason

    def test_a_line_click_refuses_is_refused(self) -> None:
        t = check(proposed("summarize checkout-flow", "ab summary checkout-flow --colour"), VOCAB)
        assert t.status == "refused" and "No such option '--colour'" in t.reason

    @pytest.mark.parametrize("opt", ["--help", "--db", "--version"])
    def test_help_version_and_another_database_are_never_run(self, opt: str) -> None:
        t = check(proposed("summarize checkout-flow", f"ab summary checkout-flow {opt}"), VOCAB)
        assert t.status == "refused"

    def test_a_required_value_click_finds_missing_becomes_a_prefilled_line(self) -> None:
        t = check(
            proposed(
                "add 12 calls to checkout-flow", "ab add-result checkout-flow --tool-calls 12"
            ),
            VOCAB,
        )
        assert t.status == "incomplete"
        assert t.prefill == "ab add-result checkout-flow --tool-calls 12 --variant "
        assert t.suggestions == ("cold", "warm") and t.tier == "llm"

    @pytest.mark.parametrize(
        "line",
        [
            "events import backup.jsonl",  # appends events, though the parser never says so
            "events export --output backup.jsonl",  # writes a file
            "events export -o backup.jsonl",
        ],
    )
    def test_anything_but_a_known_read_to_stdout_is_confirmed(self, line: str) -> None:
        t = check(proposed("put the log in backup.jsonl", line), VOCAB)
        assert t.status == "command" and t.writes

    def test_known_reads_are_not_confirmed(self) -> None:
        t = check(proposed("dump the log", "events export"), VOCAB)
        assert t.status == "command" and not t.writes

    def test_a_request_cannot_become_another_request(self) -> None:
        t = check(proposed("what tests do I have", "ask what tests do I have"), VOCAB)
        assert t.status == "refused" and "cannot become another request" in t.reason

    def test_close_examples_for_missing_commands_are_dropped(self) -> None:
        rules = translate("bananas are yellow", VOCAB)
        assert rules.status == "refused"
        kept = check(rules, VOCAB).suggestions
        for s in kept:
            assert command_exists(s.split("  →  ")[1].split())


class TestTheParsersNormalisations:
    """Values the parser writes from what was typed (units, lists, dates) are grounded in it."""

    @pytest.mark.parametrize(
        "text, line",
        [
            ("detect a 5 point lift on onboarding", "ab analyze onboarding --mde 5pp"),
            ("an mde of 3 pts on onboarding", "ab analyze onboarding --mde 3pp"),
            ("a 10 percent mde on onboarding", "ab analyze onboarding --mde 10%"),
            (
                "new test t2 with a and b, guardrail error rate up to 2 points",
                "ab create t2 --variants a,b --guardrail error_rate:+2pp",
            ),
            (
                "canary r2: candidate new over control old, stages 5, 25 and 100",
                "canary create r2 --control old --candidate new --stages 5,25,100",
            ),
            ("the log since 2026-11-01", "events log --since 2026-11-01"),
            ("onboarding as of 2026-11-01T09:30", "ab analyze onboarding --as-of 2026-11-01T09:30"),
            ("every single result of onboarding", "ab show onboarding --limit 0"),
            ("median cost on onboarding", "ab analyze onboarding --metric cost:p50"),
            (
                "p95 completion time on onboarding",
                "ab analyze onboarding --metric completion_time:p95",
            ),
            (
                "compare baseline, broken down by lang",
                "eval compare baseline baseline --by metadata.lang",
            ),
            (
                "import the saved test x.json as debug-cold",
                "ab import debug-cold x.json",
            ),
            # a pre-period test's metric: test: is the covariate's own kind word (#24 round 8)
            (
                "analyze checkout-flow cuped on onboarding's completion time",
                "ab analyze checkout-flow --covariate test:onboarding.completion_time",
            ),
            # a catalogue metric read from its words, as --metric is; the limit as typed
            (
                "canary r2: candidate new over control old, latency may not get 20% worse",
                "canary create r2 --control old --candidate new --guardrail completion_time:+20%",
            ),
            ("everything recorded by ann@laptop", "events log --actor ann@laptop --limit 0"),
        ],
    )
    def test_is_grounded(self, text: str, line: str) -> None:
        t = check(proposed(text, line), VOCAB)
        assert t.status == "command", t.reason

    @pytest.mark.parametrize(
        "text, line, why",
        [
            ("a 5 % mde on onboarding", "ab analyze onboarding --mde 5pp", "'5pp'"),
            ("an mde of 5 on onboarding", "ab analyze onboarding --mde 5pp", "'5pp'"),
            (
                "canary r2: candidate new over control old, stages 5 and 100",
                "canary create r2 --control old --candidate new --stages 5,25,100",
                "25 is not a number",
            ),
            ("the last results of onboarding", "ab show onboarding --limit 0", "0 (for --limit)"),
            (
                "p95 cost on onboarding",
                "ab analyze onboarding --metric cost:p99",
                "99 is not a number",
            ),
            ("import x.jsonl as debug-cold", "ab import debug-cold x.jsonl", "no test named"),
            ("import the saved test x.json", "ab import debug-cold x.json", "no test named"),
            (
                "analyze checkout-flow cuped on onboarding's tokens",
                "ab analyze checkout-flow --covariate test:pre-launch.tokens",
                "'pre-launch.tokens' is neither",
            ),
            (
                "canary r2: candidate new over control old, latency may not get 20% worse",
                "canary create r2 --control old --candidate new --guardrail completion_time:+25%",
                "25 is not a number",
            ),
            (
                "recorded by ann@laptop",
                "events log --actor ann@laptop --limit 0",
                "0 (for --limit)",
            ),
        ],
    )
    def test_an_unit_item_or_name_not_typed_is_not(self, text: str, line: str, why: str) -> None:
        t = check(proposed(text, line), VOCAB)
        assert t.status == "refused" and why in t.reason, t.reason


def test_a_canary_result_named_by_its_role_passes_the_shell_on_a_real_store(
    invoke: Invoke, db_path: Path
) -> None:
    """The shell reads a canary's arms from the store (``canary_arms``) and grounds a canary
    result's ``--variant`` in them: "a router-v2 candidate result …" becomes the command and
    the line check keeps it; then it runs and is recorded (#24 round 5)."""
    import sqlite3

    from trialbook.shell.app import read_vocabulary

    r = invoke(
        "canary", "create", "router-v2", "--control", "router-v1", "--candidate", "router-v2"
    )
    assert r.exit_code == 0, r.output
    with sqlite3.connect(db_path) as conn:
        conn.row_factory = sqlite3.Row
        vocab = read_vocabulary(conn)
    assert vocab.canary_arms == {"router-v2": ("router-v1", "router-v2")}
    text = "record a router-v2 candidate result: 12 calls, 11 ok, 40s, success"
    t = translate(text, vocab, None)
    assert t.status == "command", (t.status, t.reason)
    assert check(t, vocab, None) == t
    argv = list(t.argv)
    assert argv[:3] == ["canary", "add-result", "router-v2"]
    assert argv[argv.index("--variant") + 1] == "router-v2"
    r = invoke(*argv)
    assert r.exit_code == 0, r.output
    # a variant that is neither arm is still refused by the check
    wrong = Translation(
        "command",
        text,
        ("canary", "add-result", "router-v2", "--variant", "nope", "--success"),
        writes=True,
    )
    assert check(wrong, vocab, None).status != "command"


class TestDomainRules:
    """A line that creates a test is held to the domain's own rules before it is offered: what
    `ab create` would refuse (a metric, control, guardrail, cap, split or planned size) is refused
    by the shell with the command's own reason, so a write the CLI then refuses is never offered
    for confirmation (#24: "create test latency-fix where the metric is success_rate")."""

    @pytest.mark.parametrize(
        "line, why",
        [
            (
                "ab create x1 --variants a,b --metric success_rate",
                "'success_rate' means two things",
            ),
            ("ab create x1 --variants a,b --control c", "control 'c' is not one of the variants"),
            ("ab create x1 --variants a,a", "variant 'a' is listed twice"),
            ("ab create x1 --variants a,b --guardrail fast", "guardrail 'fast' is not valid"),
            ("ab create x1 --variants a,b --cap success:p99", "success is binary"),
            ("ab create x1 --variants a,b --split a=1", "split needs a positive weight"),
            ("ab create x1 --variants a,b --expected-results 1", "greater than or equal to 2"),
        ],
    )
    def test_a_line_the_command_refuses_is_refused_with_its_reason(
        self, invoke: Invoke, db_path: Path, line: str, why: str
    ) -> None:
        t = check(proposed(line, line), VOCAB)
        assert t.status == "refused" and "which trialbook refuses" in t.reason, t.reason
        assert why in t.reason, t.reason
        # the command itself refuses the same line for the same reason, and records nothing
        r = invoke(*line.split())
        assert r.exit_code != 0 and why in r.output, r.output
        log = invoke("events", "log", "--jsonl", "--limit", "0")
        assert log.exit_code == 0 and log.output.strip() == "", log.output

    def test_a_line_the_command_takes_passes(self) -> None:
        line = "ab create x1 --variants a,b,c --control b --metric cost --guardrail cost:+10%"
        t = check(proposed(line, line), VOCAB)
        assert t.status == "command", t.reason


@pytest.mark.parametrize("argv", [("audit",), ("ab",), ("eval", "suite"), ("canary",)])
def test_a_line_short_of_its_command_is_refused_in_one_line(argv: tuple[str, ...]) -> None:
    """A group called bare prints its whole help under click; in the shell the reason is one
    line naming what the command needs ('why did case q7 fail?' became a bare `audit`)."""
    t = check(Translation("command", "x", argv=argv), PARSER_VOCAB)
    assert t.status == "refused"
    assert "\n" not in t.reason, t.reason
    assert t.reason.startswith(f"that became `{' '.join(argv)}`")
