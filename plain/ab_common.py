"""What the ``ab`` rules share: reading numbers at a position, notes, variant mentions,
metric phrases, and the refusals they have in common (see :mod:`trialbook.plain.ab`).
"""

from __future__ import annotations

from trialbook.plain.lex import fmt
from trialbook.plain.request import (
    NameMatch,
    Request,
    suggest,
)
from trialbook.plain.types import Translation, refused
from trialbook.plain.words import (
    BECAUSE,
    METRIC_PHRASES,
    NOTE_CUES,
    VARIANT_CUES,
    _w,
)

BE = frozenset({"is", "are", "was", "were", "be", "had", "have", "has"})
#: words after a lone "a" that make it a variant ("a succeeded") rather than an article
_AFTER_VARIANT = _w(
    """and or vs versus v is was did does got had took succeeded failed passed won wins beats beat
    better worse than with to in on"""
)


def int_at(req: Request, i: int) -> bool:
    """Token ``i`` is a whole number no slot has taken yet."""
    return req.free(i) and req.tokens[i].is_int


def num_at(req: Request, i: int, unit: str | None = None) -> bool:
    """Token ``i`` is a free number in ``unit`` (``None``: a bare number, "usd", "s", "%")."""
    return req.free(i) and req.tokens[i].kind == "num" and req.tokens[i].unit == unit


def value_at(req: Request, i: int) -> str:
    """Token ``i``'s number as it goes on the command line (``1.5k`` → ``1500``)."""
    return fmt(req.tokens[i].value)


def skip(req: Request, i: int, words: frozenset[str] | set[str], punct: str = "") -> int:
    """The first position from ``i`` on that is neither a free one of ``words`` nor one of the
    ``punct`` marks: how rules step over "is", "of", ":" between a cue and its value."""
    while (req.w(i) in words and i not in req.used) or (punct and req.p(i) and req.p(i) in punct):
        i += 1
    return i


def rest_text(req: Request, i: int) -> str:
    """The text as typed from token ``i`` to the end, trimmed (for notes and descriptions)."""
    if i >= len(req.tokens):
        return ""
    tok = req.tokens[i]
    if tok.kind == "quote" and i == len(req.tokens) - 1:
        return tok.text
    return req.text[tok.start :].strip().rstrip(".").strip()


def note_text(
    req: Request, cues: frozenset[str] = NOTE_CUES, because: bool = False
) -> tuple[str | None, int]:
    """A note introduced by ``note:``/``note that …``/``note "…"`` (or ``because …``); uses the rest."""
    for i, t in enumerate(req.tokens):
        if t.kind != "word" or not req.free(i):
            continue
        j = i + 1
        if t.norm in cues and (
            req.p(j) in (":", "=", "-")
            or req.w(j) == "that"
            or (j < len(req.tokens) and req.tokens[j].kind == "quote")
        ):
            start = j + 1 if req.p(j) or req.w(j) == "that" else j
        elif (
            because
            and t.norm in BECAUSE
            and t.norm != "as"
            and (t.norm != "since" or req.w(j) != "position")
        ):
            start = j + 1 if req.p(j) == ":" or (t.norm == "because" and req.w(j) == "of") else j
        elif t.norm == "with" and req.w(j) in cues and j + 1 < len(req.tokens):
            start = skip(req, j + 1, frozenset(), ":=")
        else:
            continue
        end = _closing_instruction(req, start)
        text = rest_text(req, start) if end >= len(req.tokens) else _span_text(req, start, end)
        req.use(*range(i, len(req.tokens)))
        return (text or None), i
    return None, -1


#: a last sentence that asks to record what came before, no part of a note ("… Record it.")
_CLOSING = (
    ("record", {"it", "that", "this"}),
    ("log", {"it", "that", "this"}),
    ("save", {"it", "that", "this"}),
    ("please", "record", {"it", "that", "this"}),
    ("thanks",),
    ("thank", "you"),
)


def _closing_instruction(req: Request, start: int) -> int:
    """Where a note ends before a closing sentence that only asks for the write ("note: faster
    at the same success rate. Record it."): the position of that sentence's first word, else
    the end. Only after a full stop, and only when nothing follows the closing words."""
    toks = req.tokens
    for k in range(start + 1, len(toks)):
        if toks[k - 1].text not in (".", "!", ";"):
            continue
        for words in _CLOSING:
            n = len(words)
            if all(
                req.w(k + x) in (w if isinstance(w, set) else {w}) for x, w in enumerate(words)
            ) and all(toks[x].kind == "punct" for x in range(k + n, len(toks))):
                return k - 1  # the note ends before its full stop
    return len(toks)


def _span_text(req: Request, start: int, end: int) -> str:
    """The text as typed from token ``start`` up to (not including) token ``end``, trimmed."""
    if start >= end:
        return ""
    return req.text[req.tokens[start].start : req.tokens[end - 1].end].strip().strip("\"'")


#: how a last clause that is part of the request, not a reason, may begin
_NOT_REASON_START = _w(
    "on judged measured metric mde margin with by for in at as using variant arm note reason"
)


#: words that take a request back, not give its reason ("stop it, not yet", "no, wait")
_TAKEN_BACK = _w("yet now wait instead actually sorry cancel scratch undo never")


def _negated_reason(words: list[str]) -> bool:
    """Whether a last clause with a negation is still a reason: three words or more that say
    what is not there ("…, no difference worth chasing"), none taking the request back."""
    return len(words) >= 3 and not set(words) & _TAKEN_BACK


def clause_reason(req: Request) -> tuple[str | None, int]:
    """A reason said in the last clause after a comma: "ship warm, the numbers are clear",
    "archive onboarding, it is finished" (the note, and where it starts; else (None, -1)).

    Only a clause of two words or more with no store name, number, negation, hedge, metric or
    verb of another request, that does not begin like an option ("judged on cost"); otherwise
    the words are the rule's to read, or to ask about (never dropped).
    """
    from trialbook.plain.words import HEDGES, NEGATORS

    commas = [i for i, t in enumerate(req.tokens) if t.text in (",", ";")]
    if not commas:
        return None, -1
    start = commas[-1] + 1
    # after ";" the reason is a sentence of its own, and may say what did not happen ("keep the
    # control; the treatment didn't move anything"): a negation there is the reason's
    sentence = req.tokens[commas[-1]].text == ";"
    clause = range(start, len(req.tokens))
    words = [req.w(i) for i in clause if req.tokens[i].kind == "word"]
    others = _w(
        "ship conclude stop keep archive restore delete add record create run resume export "
        "import halt advance rollback then and also too or not think guess maybe "
        # an analysis option ("…, with prior_score as the covariate"): the rule's to read
        "cuped covariate covariates adjusted adjusting controlling alpha"
    )
    if (
        len(words) < 2
        or req.w(start) in _NOT_REASON_START
        or any(not req.free(i) or req.tokens[i].kind not in ("word", "punct") for i in clause)
        or any(req.tokens[i].text in (",", ";", ":") for i in clause)
        or set(words)
        & (HEDGES | others | (set() if sentence or _negated_reason(words) else NEGATORS))
        or any(find_metric(req, i, anywhere=False) for i in clause)
    ):
        # a clause naming a metric ("…, we decided on completion time") may be the analysis
        # the decision rests on (--metric), not its reason: the rule reads it, or asks
        return None, -1
    text = rest_text(req, start)
    req.use(start - 1, *clause)
    return (text or None), start


def is_article(req: Request, m: NameMatch) -> bool:
    """Whether a one-letter variant ``a`` is the article ("add a warm result"), not variant A."""
    if m.end - m.start != 1:
        return False
    tok = req.tokens[m.start]
    if tok.norm not in ("a", "an") or tok.kind != "word":
        return False
    prev = req.w(m.start - 1)
    if prev in VARIANT_CUES or req.p(m.start - 1) in ("=", ":"):
        return False
    if prev in ("an", "the") and tok.norm == "a":
        return False  # "add an a result", "the a arm": an article before it, so it is the name
    if tok.text == "A" and m.start > 0:
        return False
    if prev in ("add", "record", "log", "enter", "save", "track") and any(
        v.start != m.start for v in req.named("variant")
    ):
        return True  # "add a failed cold session": the article, cold the variant
    nxt = m.start + 1
    if nxt < len(req.tokens) and req.tokens[nxt].kind in ("num", "quote"):
        return True
    if nxt >= len(req.tokens) or req.tokens[nxt].kind != "word":
        return False
    return req.tokens[nxt].norm not in _AFTER_VARIANT


def variant_mentions(req: Request) -> list[NameMatch]:
    """The store's variant names in the request, the article "a" left out (:func:`is_article`)."""
    return [m for m in req.named("variant") if not is_article(req, m)]


def find_metric(
    req: Request, start: int = 0, *, anywhere: bool = True
) -> tuple[str, int, int] | None:
    """The first metric phrase at ``start`` (or anywhere after it): (metric, first, end)."""
    positions = range(start, len(req.tokens)) if anywhere else [start]
    for i in positions:
        if not req.free(i) and not (i in req.in_name and req.w(i)):
            continue
        for phrase, metric in METRIC_PHRASES:
            if all(req.w(i + k) == w for k, w in enumerate(phrase)):
                return metric, i, i + len(phrase)
    return None


def metric_refusal(req: Request, found: list[str]) -> Translation | None:
    """A refusal when the request names more than one metric ("success and cost"), else None."""
    distinct = list(dict.fromkeys(found))
    if len(distinct) > 1:
        return refused(
            req.text, f"which metric: {' or '.join(distinct)}? analyze one at a time", distinct
        )
    return None


def variant_choices(req: Request, test: str) -> list[str]:
    """The variants of ``test`` in the store, for suggestions."""
    return list(req.vocab.variants_of(test))


def no_such_variant(req: Request, test: str, word: str, choices: list[str]) -> Translation:
    """Refuse a variant ``word`` that ``test`` does not have, suggesting the closest ones."""
    close = suggest(word, choices)
    hint = (
        f"did you mean {' or '.join(close)}?" if close else f"its variants are {', '.join(choices)}"
    )
    return refused(req.text, f"{test} has no variant {word!r}; {hint}", close or choices)
