"""Rules for the ``canary`` commands: status, advance ("move router-v2 to 50 %"), halt,
rollback, complete, and the canary audit.

A request is a canary request when it names a canary of the store, says
"canary", or is asked while a canary is in focus. Percentages come only from
number tokens of the request, and must be stages of the canary (the command
itself refuses one that is not the next stage). Planning a canary has too many
parts to guess: it is refused with the command to type.
"""

from __future__ import annotations

from trialbook.plain.lex import fmt
from trialbook.plain.request import Request, number_refusal, suggest, unknown_refusal
from trialbook.plain.types import Translation, command, incomplete, refused
from trialbook.plain.words import (
    AUDIT_WORDS,
    BECAUSE,
    CANARY_WORDS,
    CREATE_VERBS,
    NOTE_CUES,
    SHOW_WORDS,
    SUMMARY_WORDS,
    _w,
)

ADVANCE_VERBS = _w(
    "move advance promote ramp bump increase raise expand widen grow proceed scale push take go"
)
HALT_VERBS = _w("halt pause freeze stop suspend")
ROLLBACK_VERBS = _w("rollback revert abort abandon undo")
COMPLETE_VERBS = _w("complete finish finalize finalise")
STATUS_WORDS = (
    SUMMARY_WORDS | SHOW_WORDS | _w("stage stages guardrail guardrails healthy safe")
) - _w("open")
#: words a canary request may hold besides its name, intent and note: they add nothing
_CANARY_FILLER = _w(
    "canary canaries rollout stage next percent traffic units users of to the it its up back forward"
)

PLAN_HINT = (
    "a canary is planned with `canary create NAME --control A --candidate B "
    "[--stages 10,50,100] [--guardrail error_rate:+2pp]`; type that command (a plan has too "
    "many parts to guess)"
)


def is_canary_request(req: Request) -> bool:
    """Whether the rules of this module should read ``req`` (see the module docstring)."""
    ws = set(req.words())
    if ws & CANARY_WORDS:
        return True
    named = req.named("canary")
    if named:
        # a name that is both an A/B test and a canary needs a canary word or a canary verb
        tests = {m.name for m in req.named("test", "archived")}
        if not any(m.name in tests for m in named):
            return True
        return bool(ws & (ADVANCE_VERBS | ROLLBACK_VERBS)) or _percent_tokens(req) != []
    if req.focus not in req.vocab.canaries or req.named("test", "archived", "suite", "run"):
        return False
    # with a canary in focus, a request that names nothing is about it only when it asks for a
    # canary step or how it is doing (not "show me the log")
    intent = _intent(req)
    if intent == "status":
        return bool(ws & (SUMMARY_WORDS | _w("stage stages guardrail guardrails healthy safe")))
    return intent in ("advance", "halt", "rollback", "complete")


def _percent_tokens(req: Request) -> list[int]:
    return [i for i, t in enumerate(req.tokens) if t.kind == "num" and t.unit == "%"]


def _intent(req: Request) -> str | None:
    """``advance``, ``halt``, ``rollback``, ``complete``, ``audit``, ``create``, ``status`` or None."""
    ws = set(req.words())
    first = next(
        (
            w
            for w in req.words()
            if w not in _w("please can could would you i we let's let us just now ok okay")
        ),
        "",
    )
    if req.seq("roll", "back") >= 0 or req.seq("revert", "to") >= 0 or ws & ROLLBACK_VERBS:
        return "rollback"
    if ws & AUDIT_WORDS or req.seq("why", {"did", "was", "were"}) >= 0:
        return "audit"
    if ws & HALT_VERBS:
        return "halt"
    if ws & COMPLETE_VERBS or req.seq("roll", "out", {"fully", "completely"}) >= 0:
        return "complete"
    if first in CREATE_VERBS or ws & _w("create plan define"):
        return "create"
    if ws & ADVANCE_VERBS or req.seq("next", "stage") >= 0 or _percent_tokens(req):
        return "advance"
    if req.is_question() or ws & STATUS_WORDS:
        return "status"
    return None


def _mark_words(req: Request, words: frozenset[str]) -> None:
    for i in req.indexes(words):
        req.use(i)


def _resolve(req: Request, argv: list[str]) -> str | Translation:
    """The canary a request is about: named, in focus, or the only one."""
    canaries = req.vocab.canaries
    named = req.names_of("canary")
    if len(named) > 1:
        return refused(req.text, f"which canary: {' or '.join(named)}? one at a time", named)
    for m in req.named("canary", "test", "archived"):
        if m.name in named:
            req.use_match(m)
    if named:
        return named[0]
    if req.focus in canaries:
        return str(req.focus)
    if not canaries:
        return refused(
            req.text,
            "there are no canaries yet; plan one with `canary create NAME --control A --candidate B`",
        )
    for t in req.unknown_words():
        close = suggest(t.norm, canaries) if t.kind == "word" and len(t.norm) >= 3 else []
        if close:
            return refused(
                req.text,
                f"there is no canary named {t.text!r}; did you mean {' or '.join(close)}?",
                close,
            )
    if len(canaries) == 1:
        return next(iter(canaries))
    return incomplete(req.text, argv, ["NAME"], "which canary?", sorted(canaries))


def _note(req: Request) -> str | None:
    """A reason given with ``because …`` or ``note: …`` (the rest of the request)."""
    from trialbook.plain.ab_common import note_text

    note, _ = note_text(req, NOTE_CUES, because=True)
    return note


def route(req: Request) -> Translation | None:
    """The canary command ``req`` asks for, or None when it is not a canary request."""
    intent = _intent(req)
    if intent is None:
        if set(req.words()) & CANARY_WORDS or req.named("canary"):
            return refused(
                req.text,
                "for a canary I understand: how is it doing, move it to 50%, halt it, roll it "
                "back, complete it, audit it",
            )
        return None
    if intent == "create":
        return refused(req.text, PLAN_HINT)
    if intent in ("advance", "halt", "rollback", "complete") and req.is_question():
        intent = (
            "status"  # "should we move router-v2 to 50%?" asks what the rule says: never a write
        )
    verb = intent
    argv = ["canary", verb]
    note = _note(req) if intent in ("advance", "halt", "rollback", "complete") else None
    name = _resolve(req, argv)
    if isinstance(name, Translation):
        return name
    _mark_words(
        req,
        ADVANCE_VERBS | HALT_VERBS | ROLLBACK_VERBS | COMPLETE_VERBS | STATUS_WORDS | AUDIT_WORDS
        | CANARY_WORDS | _CANARY_FILLER | BECAUSE | _w("roll out fully completely why did was were how"),
    )  # fmt: skip
    opts: list[str] = []
    if intent == "status":  # "should we move it to 50%?": the percentage is part of the question
        req.use(*_percent_tokens(req))
    if intent == "advance":
        percents = [i for i in _percent_tokens(req) if req.free(i)]
        if len(percents) > 1:
            return refused(req.text, "one stage at a time: which percentage?")
        if percents:
            i = percents[0]
            value = req.tokens[i].value
            stages = tuple(req.vocab.canaries.get(name) or ())
            if stages and float(value) not in {float(p) for p in stages}:
                listed = ", ".join(f"{float(p):g}%" for p in stages)
                return refused(
                    req.text,
                    f"{fmt(value)}% is not a stage of {name} ({listed}); a canary moves one stage "
                    "at a time",
                )
            req.use(i)
            opts += ["--to", fmt(value)]
    refusal = number_refusal(req)
    if refusal:
        return refusal
    if intent in ("advance", "halt", "rollback", "complete"):
        left = unknown_refusal(req, "Put a reason after 'because'.")
        if left:
            return left
    if note:
        opts += ["--note", note]
    return command(req.text, ["canary", verb, name, *opts])
