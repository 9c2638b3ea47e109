"""Plain-language canary requests: a table in the style of tests/test_plain.py, and the safety rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import trialbook
from tests.test_plain import VOCAB as AB_VOCAB
from tests.test_plain import matches
from trialbook.plain.translate import Vocabulary, is_write, translate

VOCAB = Vocabulary(
    tests=dict(AB_VOCAB.tests),
    archived=dict(AB_VOCAB.archived),
    suites=AB_VOCAB.suites,
    runs=AB_VOCAB.runs,
    scorers=AB_VOCAB.scorers,
    canaries={"router-v2": (10, 50, 100), "prompt-v3": (5, 25, 100)},
)
ONE = Vocabulary(tests={"checkout-flow": ("cold", "warm")}, canaries={"router-v2": (10, 50, 100)})
R = "router-v2"

# (request, focus, vocabulary, expected) — expected as in tests/test_plain.py
# fmt: off
CASES: list[tuple[str, str | None, Vocabulary, str]] = [
    # advancing
    ("move router-v2 to 50%", None, VOCAB, f"canary advance {R} --to 50"),
    ("move router-v2 to 50 %", None, VOCAB, f"canary advance {R} --to 50"),
    ("please move router-v2 to 50 percent", None, VOCAB, f"canary advance {R} --to 50"),
    ("ramp router-v2 up to 100%", None, VOCAB, f"canary advance {R} --to 100"),
    ("advance router-v2 to the next stage", None, VOCAB, f"canary advance {R}"),
    ("promote the canary prompt-v3 to 25%", None, VOCAB, "canary advance prompt-v3 --to 25"),
    ("move it to 50%", R, VOCAB, f"canary advance {R} --to 50"),
    ("bump the canary to 50% because the error rate holds", None, ONE, "? canary advance [NAME]"),
    ("move router-v2 to 70%", None, VOCAB, "! 70% is not a stage of router-v2 (10%, 50%, 100%)"),
    ("move router-v2 to 50% and 100%", None, VOCAB, "! one stage at a time"),
    ("move the canary to 50%", None, VOCAB, "? canary advance [NAME]"),
    ("move router-v2 to 50% pronto", None, VOCAB, "! I don't understand 'pronto'"),
    ("move rooter-v2 to 50%", None, VOCAB, "! did you mean router-v2"),
    # how is it doing
    ("how is the canary doing?", None, ONE, f"canary status {R}"),
    ("how is router-v2 doing?", None, VOCAB, f"canary status {R}"),
    ("status of the prompt-v3 canary", None, VOCAB, "canary status prompt-v3"),
    ("how is it doing?", R, VOCAB, f"canary status {R}"),
    ("what stage is router-v2 at?", None, VOCAB, f"canary status {R}"),
    ("is the canary healthy?", None, VOCAB, "? canary status [NAME]"),
    ("should we move router-v2 to 50%?", None, VOCAB, f"canary status {R}"),
    ("can we advance the canary?", None, ONE, f"canary status {R}"),
    ("how is the canary doing?", None, Vocabulary(), "! there are no canaries yet"),
    # halting, rolling back, completing
    ("halt router-v2", None, VOCAB, f"canary halt {R}"),
    ("pause the canary", None, ONE, "? canary halt [NAME]"),
    ("stop router-v2 because the pager went off", None, VOCAB, f"canary halt {R} --note 'the pager went off'"),
    ("roll back router-v2", None, VOCAB, f"canary rollback {R}"),
    ("roll back the canary because errors doubled", None, ONE, "? canary rollback [NAME]"),
    ("revert prompt-v3", None, VOCAB, "canary rollback prompt-v3"),
    ("complete router-v2", None, VOCAB, f"canary complete {R}"),
    ("finish the canary", None, ONE, "? canary complete [NAME]"),
    # the audit
    ("why did we halt router-v2?", None, VOCAB, f"canary audit {R}"),
    ("audit the canary", None, ONE, f"canary audit {R}"),
    # refused
    ("start a canary of warm at 10%", None, VOCAB, "! canary create NAME --control A --candidate B"),
    ("create a canary for router-v3", None, VOCAB, "! a canary is planned with"),
    ("don't move router-v2 to 50%", None, VOCAB, "! says \"don't\""),
    ("never roll back router-v2", None, VOCAB, "! says 'never'"),
    ("delete router-v2", None, VOCAB, "! for a canary I understand"),
    ("move router-v2 and prompt-v3 to 50%", None, VOCAB, "! which canary"),
    # a canary in focus does not capture what is not about it
    ("show me the log", R, VOCAB, "events log"),
    ("how is checkout-flow doing?", R, VOCAB, "ab summary checkout-flow"),
]
# fmt: on


@pytest.mark.parametrize(("text", "focus", "vocab", "expected"), CASES, ids=[c[0] for c in CASES])
def test_every_canary_request_translates_as_the_table_says(
    text: str, focus: str | None, vocab: Vocabulary, expected: str
) -> None:
    t = translate(text, vocab, focus)
    assert matches(t, expected), (t.status, t.line, t.reason, t.missing)


def test_canary_decisions_are_writes_to_confirm_and_the_status_is_a_read() -> None:
    for verb in (
        "create",
        "add-result",
        "import",
        "advance",
        "halt",
        "rollback",
        "complete",
        "watch",
    ):
        assert is_write(["canary", verb, "x"]), verb
    for verb in ("status", "list", "assign", "audit"):
        assert not is_write(["canary", verb, "x"]), verb
    t = translate("move router-v2 to 50%", VOCAB)
    assert t.writes and t.tier == "rules"


_WORDS = [
    "move", "router-v2", "prompt-v3", "to", "50%", "70%", "100%", "10", "the", "canary", "halt",
    "roll", "back", "because", "it", "how", "is", "doing", "?", "complete", "not", "stage", "next",
]  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_WORDS), min_size=1, max_size=10), st.sampled_from([None, R]))
def test_no_canary_command_gets_a_percentage_that_is_not_in_the_request_or_a_name_not_in_the_store(
    words: list[str], focus: str | None
) -> None:
    text = " ".join(words)
    t = translate(text, VOCAB, focus)
    if t.status != "command" or t.argv[:1] != ("canary",):
        return
    assert t.argv[2] in VOCAB.canaries or t.argv[2].startswith("--"), t.argv
    if "--to" in t.argv:
        value = t.argv[t.argv.index("--to") + 1]
        # "to 50%", or a bare "to 10" that is one of the canary's stages (checked below)
        assert value in text.replace("%", " ").split(), (text, t.argv)
        assert float(value) in VOCAB.canaries[t.argv[2]]


def test_the_shell_grounds_canary_names_in_the_store(tmp_path: Path) -> None:
    """Checked like every translation: the name must exist, the percentage must be in the request."""
    from trialbook.shell.app import App
    from trialbook.shell.line_checks import check

    with trialbook.open(tmp_path / "v.db") as tb:
        tb.canaries.create("router-v2", control="router-v1", candidate="router-v2")
    app = App(tmp_path / "v.db")
    try:
        vocab = app.vocabulary()
        assert dict(vocab.canaries) == {"router-v2": (10, 50, 100)}
        for text in ("how is the canary doing?", "move router-v2 to 50%"):
            checked = check(translate(text, vocab), vocab)
            assert checked.status == "command", (text, checked.reason)
    finally:
        app.close()


def test_canary_reads_need_no_confirmation_and_its_writes_do() -> None:
    from trialbook.shell.line_checks import needs_confirmation

    for read in (["canary", "list"], ["canary", "status", "r"], ["canary", "assign", "r", "u1"],
                 ["canary", "audit", "r"]):  # fmt: skip
        assert not needs_confirmation(read), read
    for write in (["canary", "advance", "r"], ["canary", "halt", "r"], ["canary", "rollback", "r"]):
        assert needs_confirmation(write), write


class TestACanaryArmNamedByItsRole:
    """ "a router-v2 candidate result": the canary's candidate or control, when its arms are
    known (``Vocabulary.canary_arms``); the result read exactly as an A/B result (#24 round 5)."""

    ARMS = Vocabulary(
        tests={"checkout-flow": ("cold", "warm"), "onboarding": ("control", "treatment")},
        canaries={"router-v2": (10.0, 50.0, 100.0)},
        canary_arms={"router-v2": ("router-v1", "router-v2")},
    )

    @pytest.mark.parametrize(
        ("said", "variant"),
        [
            ("record a router-v2 candidate result for user-17: 12 calls, 11 ok, 40s, success", R),
            ("router-v2 treatment result for user-17: 12 calls, 11 ok, 40s, success", R),
            (
                "log a control result on router-v2 for user-17: 12 calls, 11 ok, 40s, success",
                "router-v1",
            ),
        ],
    )
    def test_the_role_is_the_arm_and_the_numbers_are_the_ab_results(
        self, said: str, variant: str
    ) -> None:
        t = translate(said, self.ARMS)
        assert t.status == "command", t.reason
        assert t.argv[:5] == ("canary", "add-result", R, "--variant", variant)
        assert t.argv[5:7] == ("--unit-id", "user-17")
        ab = translate(
            "add a cold result: 12 calls, 11 ok, 40s, success", self.ARMS, "checkout-flow"
        )
        assert t.argv[7:] == ab.argv[5:]  # the same options as the A/B result

    @pytest.mark.parametrize(
        "said",
        [
            "router-v2 candidate and control result: 3 calls, success",  # which arm?
            "router-v2 candidate result for user-1 and user-2: 3 calls, success",  # which unit?
            "router-v2 candidate result: about 12 calls, success",  # an estimate
            "router-v2 candidate result: 3 calls, success, category=billing",  # no --dimension
            "did the router-v2 candidate result have 3 calls?",  # a question
            "router-v2 candidate result: 3 calls, tomorrow, success",  # a word no rule reads
        ],
    )
    def test_what_cannot_be_told_is_never_written(self, said: str) -> None:
        assert translate(said, self.ARMS).status != "command"

    def test_without_the_arms_the_role_is_refused_as_before(self) -> None:
        vocab = Vocabulary(canaries={"router-v2": (10.0, 50.0, 100.0)})
        t = translate("record a router-v2 candidate result: 3 calls, success", vocab)
        assert t.status == "refused"
        assert "--variant V" in t.reason
