"""Meaning-light words (``plain/words.py`` ``LIGHT``) and "only" beside a filter (#24 round 5).

A filler may be accounted only when it cannot change the command: put anywhere into any request
of the table, the command is the same or the request becomes unsure, never another command.
"""

from __future__ import annotations

import re

from tests.test_plain import _FREE_TEXT, CASES, GRAMMAR, VOCAB, _canon
from trialbook.plain.request import _one_edit
from trialbook.plain.translate import translate
from trialbook.plain.words import (
    COMMON,
    FAIL_WORDS,
    FILLER,
    HEDGES,
    KNOWN,
    LIGHT,
    NEGATORS,
    OK_WORDS,
    SUCCESS_NEG,
    SUCCESS_POS,
    VAGUE_WORDS,
    ZERO_WORDS,
)

_FILLERS = tuple(sorted(LIGHT))


#: options whose value is free text, kept as typed (a filler said in a note stays in the note)
_FREE_VALUES = frozenset({"--note", "--reason", "--description", "--prompt"})


def _unsaid(argv: tuple[str, ...], word: str) -> tuple[str, ...]:
    """``argv`` with ``word`` taken out of free-text values only."""
    out = list(argv)
    for k in range(1, len(out)):
        if out[k - 1] in _FREE_VALUES:
            out[k] = " ".join(w for w in out[k].split(" ") if w != word)
    return tuple(out)


def _changed_by(words: tuple[str, ...], *, reads: bool, writes: bool) -> tuple[int, list[str]]:
    """Each table request with one of ``words`` put before each of its words (and at the end):
    the mutations whose command differs from the request's own command."""
    wrong: list[str] = []
    tried = 0
    for k, (_, text, focus, _) in enumerate(CASES):
        t0 = translate(text, VOCAB, focus)
        if t0.status != "command" or (t0.writes and not writes) or (not t0.writes and not reads):
            continue
        if set(re.split(r"[\s,:]+", text.lower())) & _FREE_TEXT or "'" in text or '"' in text:
            continue  # free text (a note, a reason) takes any word
        word = words[k % len(words)]
        parts = text.split()
        for i in range(len(parts) + 1):
            mutated = " ".join([*parts[:i], word, *parts[i:]])
            t = translate(mutated, VOCAB, focus)
            tried += 1
            if t.status == "command" and _canon(_unsaid(t.argv, word)) != _canon(t0.argv):
                wrong.append(f"{mutated!r} (focus {focus}) -> {t.line}, not {t0.line}")
    return tried, wrong


def test_a_meaning_light_word_put_anywhere_into_a_write_never_changes_its_command() -> None:
    tried, wrong = _changed_by(_FILLERS, reads=False, writes=True)
    assert tried > 1000
    assert not wrong, "\n".join(wrong[:30])


def test_a_meaning_light_word_put_anywhere_into_a_read_never_changes_its_command() -> None:
    tried, wrong = _changed_by(_FILLERS, reads=True, writes=False)
    assert tried > 1000
    assert not wrong, "\n".join(wrong[:30])


def test_only_put_anywhere_into_a_request_never_changes_its_command() -> None:
    """ "only" is accounted only beside what filled a filtering option ("show case q3 only")."""
    tried, wrong = _changed_by(("only",), reads=True, writes=True)
    assert tried > 1000
    assert not wrong, "\n".join(wrong[:30])


def _cli_words() -> set[str]:
    """Every piece of a command's or an option's name (``--expected-tools``: expected, tools)."""
    out: set[str] = set()
    for path, (_, valued, flags) in GRAMMAR.items():
        out.update(p for name in path for p in name.split("-"))
        out.update(p for o in valued | flags for p in o.lstrip("-").split("-"))
    return {w for w in out if len(w) > 2}


def test_no_meaning_light_word_is_a_word_that_can_carry_meaning() -> None:
    """Not a known word, a negation, a hedge, a quantifier or an outcome, and not one edit from an
    option's or a command's name or a word a rule reads (a misspelling of one is asked about)."""
    never = (
        KNOWN | NEGATORS | HEDGES | VAGUE_WORDS | ZERO_WORDS | OK_WORDS | FAIL_WORDS
        | SUCCESS_POS | SUCCESS_NEG
    )  # fmt: skip
    assert not LIGHT & never, LIGHT & never
    meaningful = _cli_words() | (KNOWN - FILLER - COMMON)
    close = {(w, m) for w in LIGHT for m in meaningful if _one_edit(w, m)}
    assert not close, close


def test_a_meaning_light_word_one_edit_from_a_store_name_is_not_filler() -> None:
    """ "hung" beside a test named "hang" is a misspelt name to ask about, never filler."""
    from trialbook.plain.types import Vocabulary

    vocab = Vocabulary(tests={"hang": ("cold", "warm"), "checkout-flow": ("a", "b")})
    assert translate("show checkout-flow", vocab).status == "command"
    assert translate("show checkout-flow, hung", vocab).status != "command"
    assert translate("show checkout-flow, yeah", vocab).status == "command"


def test_the_misses_of_the_fourth_held_out_set_that_fillers_explain_are_read() -> None:
    focus = "checkout-flow"
    t = translate("cold one burned 2M tokens, cost $1.20, failed", VOCAB, focus)
    assert t.status == "command", t.reason
    assert "--tokens" in t.argv and "--failure" in t.argv
    t = translate("show case q3 only", VOCAB, "baseline-0401")
    assert t.line == "eval show baseline-0401 --case q3", (t.status, t.reason)
    # "only" where the command shows everything is still asked about
    assert translate("show only the cold results", VOCAB, focus).status != "command"
