"""Rules for the ``canary`` commands: status, advance ("move router-v2 to 50 %"), halt,
rollback, complete, and the canary audit.

A request is a canary request when it names a canary of the store, says
"canary", or is asked while a canary is in focus. Percentages come only from
number tokens of the request, and must be stages of the canary (the command
itself refuses one that is not the next stage). Planning a canary has too many
parts to guess: it is refused with the command to type.
"""

from __future__ import annotations

from collections.abc import Callable

from trialbook.plain.lex import Token, fmt
from trialbook.plain.request import Request, number_refusal, suggest, unknown_refusal
from trialbook.plain.types import Translation, Vocabulary, command, incomplete, refused
from trialbook.plain.words import (
    AUDIT_WORDS,
    BECAUSE,
    CANARY_WORDS,
    CREATE_VERBS,
    FILLER,
    KNOWN,
    NEGATORS,
    NEVER_VALUES,
    NOTE_CUES,
    QUANTILE_WORD,
    SHOW_WORDS,
    SUCCESS_NEG,
    SUCCESS_POS,
    SUMMARY_WORDS,
    _w,
)

#: the whole parser (``translate.translate``), handed to :func:`route` by its caller
ReadRequest = Callable[[str, Vocabulary], Translation]

ADVANCE_VERBS = _w(
    "move advance promote ramp bump increase raise expand widen grow proceed scale push take go"
)
HALT_VERBS = _w("halt pause freeze stop suspend")
ROLLBACK_VERBS = _w("rollback revert abort abandon undo")
COMPLETE_VERBS = _w("complete finish finalize finalise wrap")  # "wrap up the rollout"
WATCH_VERBS = _w("watch monitor follow")
#: words that override the stage rule: `canary advance --force`
_FORCE = _w("force forced forcing override overriding regardless anyway anyhow")
IMPORT_VERBS = _w("import load ingest")
#: the canary commands that change it: they need the canary named or in focus, never the only one
WRITES = frozenset({"advance", "halt", "rollback", "complete", "import", "watch"})
STATUS_WORDS = (
    SUMMARY_WORDS | SHOW_WORDS | _w("stage stages guardrail guardrails healthy safe state")
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
        # "where are we?", "how far along is it?": where the focused canary has got to
        where = req.is_question() and bool(ws & _w("where far along"))
        return where or bool(
            ws & (SUMMARY_WORDS | _w("stage stages guardrail guardrails healthy safe"))
        )
    # "what do user-1 and user-2 get?": unit ids asked about are the focused canary's buckets;
    # "router-v1 failed at stage 2": a result of one of its arms, by the arm's name
    return intent in ("advance", "halt", "rollback", "complete", "assign", "add-result")


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
    if ws & IMPORT_VERBS and any(t.kind == "path" for t in req.tokens):
        return "import"
    planning = first in CREATE_VERBS or bool(ws & _w("create plan define"))
    if (
        ws
        & _w(
            "assign assigned assignment assignments bucket buckets gets get getting goes go routed sent land lands"
        )
        and _unit_ids(req)
        and not planning  # "plan a canary c5 …, go 5, 25 and 100 percent": new names, no units
    ):
        return "assign"
    cut = req.index(BECAUSE | NOTE_CUES)
    said = set(
        req.words()[: len([t for t in req.tokens[:cut] if t.kind == "word"])] if cut >= 0 else ws
    )
    changes = {
        "rollback": bool(said & ROLLBACK_VERBS) or {"roll", "back"} <= said,
        "halt": bool(said & HALT_VERBS),
        "complete": bool(said & COMPLETE_VERBS),
        "advance": bool(said & (ADVANCE_VERBS - {"go", "take"})) and not {"roll", "back"} <= said,
    }
    watching = ws & WATCH_VERBS or req.seq("keep", {"an", "watch"}) >= 0 and "eye" in ws | {"watch"}
    if watching and (ws & _w("itself automatically auto") or req.seq("on", "its", "own") >= 0):
        return "watch"  # "keep an eye on it and let it advance or halt by itself": --auto
    if sum(changes.values()) > 1:
        return "several"
    if watching:
        return "watch"  # "keep an eye on router-v2"
    if (
        req.seq("roll", "back") >= 0
        or req.seq("revert", "to") >= 0
        or ws & ROLLBACK_VERBS
        or ({"roll", "back"} <= ws and req.index({"roll"}) < req.index({"back"}))
    ):
        return "rollback"
    if ws & AUDIT_WORDS or req.seq("why", {"did", "was", "were"}) >= 0:
        return "audit"
    if ws & HALT_VERBS:
        return "halt"
    if ws & COMPLETE_VERBS or req.seq("roll", "out", {"fully", "completely"}) >= 0:
        return "complete"
    if _ships_to_all(req) >= 0:
        return "complete"  # "ship router-v2 to everyone": all traffic to the candidate
    if first in CREATE_VERBS or ws & _w("create plan define"):
        return "create"
    if (
        first == "canary"
        and req.w(1) == "for"
        and not req.named("canary")
        and (ws & _w("vs versus over against") or "control" in ws)
    ):
        return "create"  # "canary for planner-v3 vs planner-v2 (control), …": a plan
    new_name = 1 not in req.in_name  # "canary router-v3: control router-v2, …": a new one
    if (
        first == "canary"
        and new_name
        and {"control", "candidate"} <= ws
        and (req.p(2) in (":", ",") or req.w(2) in ("control", "candidate", "with"))
    ):
        # "canary search-ranker: control ranker-v1, candidate ranker-v2", "canary x control a
        # candidate b": a new name, then both roles: a plan
        return "create"
    if ws & _w("record add") and not req.is_question():
        return "add-result"
    if (
        _arm_said(req) is not None
        and ws
        & (_w("result session served handled crashed died calls") | SUCCESS_POS | SUCCESS_NEG)
        and not req.is_question()
    ):
        return "add-result"  # "router-v1 failure at stage 2, 5 calls 2 ok": an arm by its name
    if (
        ws & (_w("result session served handled crashed died") | SUCCESS_POS | SUCCESS_NEG)
        or {"blew", "up"} <= ws
    ) and (
        ws & (_CANDIDATE_ROLE | _CONTROL_ROLE) and req.named("canary") and not req.is_question()
    ):
        return "add-result"  # "router-v2 candidate result: 3 calls, success"
    if (
        ws & (_w("result session served handled arm") | SUCCESS_POS | SUCCESS_NEG)
        and _named_arm(req) is not None
        and not req.is_question()
    ):
        return "add-result"  # "router-v2 served user-17 in 30s": the arm the canary is named for
    if ws & (ADVANCE_VERBS | _FORCE) or req.seq("next", "stage") >= 0 or _percent_tokens(req):
        return "advance"
    if "canaries" in ws and not req.named("canary"):
        return "list"
    if req.is_question() or ws & STATUS_WORDS:
        return "status"
    return None


def _unit_ids(req: Request) -> list[int]:
    """Unit ids typed in a request: words with a digit ("user-17", "u5") that are no store name."""
    return [
        i
        for i, t in enumerate(req.tokens)
        if t.kind == "word"
        and req.free(i)
        and any(c.isdigit() for c in t.text)
        and any(c.isalpha() for c in t.text)
    ]


#: a canary's arm named by its role ("a router-v2 candidate result", "control result")
_CANDIDATE_ROLE = _w("candidate treatment")
_CONTROL_ROLE = _w("control baseline")
_DESTINATION = _w("to into for in on")
#: options of `ab add-result` that `canary add-result` does not have
_AB_ONLY = _w("--dimension --by")


def _ships_to_all(req: Request) -> int:
    """Where "ship/promote NAME to everyone/everybody/all (users)" ends, or -1."""
    k = req.index({"ship", "promote"})
    names = req.named("canary")
    if k < 0 or len(names) != 1 or names[0].start != k + 1:
        return -1
    j = names[0].end
    if req.w(j) == "to" and req.w(j + 1) in ("everyone", "everybody", "all"):
        return j + 2 + (req.w(j + 2) in ("users", "units", "traffic"))
    return -1


def _quiet_for(req: Request) -> Token | None:
    """How long a watch waits for a result: "(stop watching) if nothing comes in for 600
    seconds", "after 10 minutes without results", "… of silence"."""
    toks = req.tokens
    for i, t in enumerate(toks):
        if t.kind != "num" or t.unit not in ("s", None) or not req.free(i) or not t.value:
            continue
        quiet = (
            req.w(i - 1) == "for" and req.seq({"nothing", "no"}, start=max(i - 6, 0)) >= 0
        ) or (req.w(i + 1) in ("without", "of") and req.w(i + 2) in ("results", "silence", "news"))
        if not quiet:
            continue
        a = req.seq({"nothing", "no"}, start=max(i - 6, 0)) if req.w(i - 1) == "for" else i
        a = i if a < 0 else a
        while req.w(a - 1) in ("if", "when", "stop", "watching", "after", "and") and req.free(
            a - 1
        ):
            a -= 1
        b = i + 1 if req.w(i - 1) == "for" else i + 3
        if all(req.free(x) for x in range(a, b)):
            req.use(*range(a, b))
            return t
    return None


def _arm_said(req: Request) -> tuple[str, int, bool] | None:
    """A canary's arm typed by its own name ("router-v1 failed at stage 2"): the canary (named
    once, or in focus when the request names no other store thing), the arm's token and
    whether it is the candidate. The canary's own name, when it is an arm too, is
    :func:`_named_arm`'s; None when no arm or both arms are typed."""
    names = req.names_of("canary")
    if not names and req.focus in req.vocab.canaries:
        if req.named("test", "archived", "suite", "run"):
            return None
        names = [req.focus]
    if len(names) != 1:
        return None
    arms = req.vocab.canary_arms.get(names[0])
    if arms is None or len(arms) != 2:
        return None
    said = [
        i
        for i, t in enumerate(req.tokens)
        if t.kind == "word" and t.norm in arms and req.free(i) and i not in req.in_name
    ]
    if len({req.tokens[i].norm for i in said}) != 1:
        return None
    return names[0], said[0], req.tokens[said[0]].norm == arms[1]


def _named_arm(req: Request) -> str | None:
    """The arm a canary is named for, when the request names the canary once, no role word,
    and the canary's name is one of its two arms (router-v2 rolling out router-v2)."""
    names = req.named("canary")
    if len(names) != 1:
        return None
    arms = req.vocab.canary_arms.get(names[0].name)
    if arms is None or len(arms) != 2 or names[0].name not in arms:
        return None
    if req.indexes(_CANDIDATE_ROLE | _CONTROL_ROLE, names_too=True):
        return None
    k = names[0].start - 1
    k -= req.w(k) == "canary"  # "on canary router-v2", "to the canary router-v2"
    k -= req.w(k) == "the"
    if req.w(k) in _DESTINATION:
        # "add a result to router-v2": the name says where the result goes (the canary), not
        # which arm served it: asked, never read as the candidate's result
        return None
    return names[0].name


def _arm_result(req: Request, read: ReadRequest) -> Translation | None:
    """``canary add-result NAME --variant V [--unit-id U] …`` when the arm is named by its role
    ("record a router-v2 candidate result for user-17: 12 calls, 11 ok, 40s, success") and the
    canary's arms are known; the result itself is read exactly as an A/B result (every token
    accounted there), with the canary as its test and the roles as its variants. None when the
    canary, the role or the arms cannot be told (the request is refused as before)."""
    names = req.names_of("canary")
    by_name = _arm_said(req)
    if not names and by_name is not None:
        names = [by_name[0]]  # the canary in focus
    arms = req.vocab.canary_arms.get(names[0]) if len(names) == 1 else None
    if arms is None or len(arms) != 2:
        return None
    name = names[0]
    roles = [  # "control" may also be some A/B test's variant: here it is the canary's role
        i
        for i in req.indexes(_CANDIDATE_ROLE | _CONTROL_ROLE, names_too=True)
        if i not in req.used and all(m.kind == "variant" for m in req.in_name.get(i, []))
    ]
    kinds = {req.w(i) in _CANDIDATE_ROLE for i in roles}
    implied = _named_arm(req) if not roles else None
    if not roles and implied is None and by_name is not None:
        roles = [by_name[1]]  # the arm typed by its name stands where a role word would
        kinds = {by_name[2]}
    if implied is not None:
        # no role said, and the canary is named for one of its arms (`canary add-result
        # router-v2 --variant router-v2`, --help): the name is that arm's result
        kinds = {implied == arms[1]}
    elif len(roles) != 1 or len(kinds) != 1:
        return None  # no role, or both: which arm is not told
    units = [
        i
        for i in _unit_ids(req)
        if req.w(i - 1) in ("for", "unit", "user", "served", "handled", "serving")
    ]
    if len(units) > 1:
        return None
    cut = {i - 1 for i in units} | set(units)
    stage: list[str] = []
    for i in req.indexes({"stage"}):  # "from stage 2", "at stage 3": the stage's number
        j = i + 1
        if j < len(req.tokens) and req.tokens[j].is_int and req.free(i) and req.free(j):
            stages = req.vocab.canaries.get(name) or ()
            if not 1 <= req.tokens[j].value <= max(len(stages), 1):
                return None
            a = i - (req.w(i - 1) in ("from", "at", "in", "during", "of"))
            cut |= set(range(a, j + 1))
            stage = ["--stage", fmt(req.tokens[j].value)]
            break
        # "at the 10% stage", "stage 10%": the stage by its percentage (`--stage 10%`)
        for at in (i + 1, i - 1):
            t = req.tokens[at] if 0 <= at < len(req.tokens) else None
            if t is None or t.kind != "num" or t.unit != "%" or t.value is None:
                continue
            if not (req.free(at) and req.free(i)):
                continue
            if float(t.value) not in (req.vocab.canaries.get(name) or ()):
                return None  # not a stage of the plan: asked, never guessed
            lo, hi = min(at, i), max(at, i)
            lo -= req.w(lo - 1) == "the"
            lo -= req.w(lo - 1) in ("from", "at", "in", "during", "of")
            cut |= set(range(lo, hi + 1))
            stage = ["--stage", f"{fmt(t.value)}%"]
            break
        if stage:
            break
    for i in req.indexes({"at", "during"}) if not stage else ():
        # "… on router-v2 at 50%, took 1min": a share that is a stage of the plan is that stage
        t = req.tokens[i + 1] if i + 1 < len(req.tokens) else None
        if t is None or t.kind != "num" or t.unit != "%" or not (req.free(i) and req.free(i + 1)):
            continue
        if float(t.value) not in (req.vocab.canaries.get(name) or ()):
            return None  # not a stage of the plan: asked, never guessed
        cut |= {i, i + 1}
        stage = ["--stage", f"{fmt(t.value)}%"]
        break
    cut |= {i for i in req.indexes(CANARY_WORDS) if req.free(i)}
    for m in req.named("canary"):  # "the router canary": a name shorter than the canary's
        if m.end - m.start > 1 or req.tokens[m.start].norm != m.name:
            cut |= set(range(m.start, m.end))
    cut |= req.used  # options read before any rule (errors "…", "as json"): added once, outside
    role = "candidate" if kinds == {True} else "control"
    parts: list[str] = []
    last = 0
    at = roles[0] if roles else -1
    after = req.named("canary")[0].end - 1 if implied is not None else -1
    for i, t in enumerate(req.tokens):
        if i in cut or i == at:
            parts.append(req.text[last : t.start])
            parts.append(role if i == at else "")
            last = t.end
        elif i == after:
            parts.append(req.text[last : t.end] + f" {role}")
            last = t.end
    parts.append(req.text[last:])
    inner = read(
        "".join(parts),
        Vocabulary(tests={name: ("control", "candidate")}, scorers=req.vocab.scorers),
    )
    argv = list(inner.argv)
    if inner.status != "command" or argv[:3] != ["ab", "add-result", name]:
        return None
    if "--variant" not in argv or any(a in _AB_ONLY for a in argv):
        return None
    k = argv.index("--variant") + 1
    argv[k] = arms[1] if argv[k] == "candidate" else arms[0]
    unit = ["--unit-id", req.tokens[units[0]].text] if units else []
    req.use(*range(len(req.tokens)))  # each was accounted for by the result's reading
    return command(req.text, ["canary", "add-result", name, *argv[3:5], *unit, *stage, *argv[5:]])


def _mark_words(req: Request, words: frozenset[str]) -> None:
    for i in req.indexes(words):
        req.use(i)


def _resolve(req: Request, argv: list[str], *, only_one: bool = True) -> str | Translation:
    """The canary a request is about: named, in focus, or (for a read) the only one.

    A change is never aimed by elimination: "halt the canary" with one canary in the
    store still asks which (the pre-filled line names it), since the user may have a
    different one in mind than the store holds."""
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
    if len(canaries) == 1 and only_one:
        return next(iter(canaries))
    return incomplete(req.text, argv, ["NAME"], "which canary?", sorted(canaries))


#: words that open a concession: what a forced change goes ahead despite
_CONCEDE = (
    ("even", "though"),
    ("even", "if"),
    ("even", "without"),  # "even without enough results"
    ("although",),
    ("though",),
    ("despite",),
)


#: what a concession says of the stage rule ("even though it lacks its min results")
_RULE_WORDS = _w(
    """results result enough min minimum stage rule rules guardrail guardrails error errors
    rate up high higher low lower yet disagrees says lacks short sessions"""
)
#: words a concession never swallows: they change what it says (a hedge, a time, "instead")
_NOT_CONCEDED = (NEVER_VALUES - NEGATORS) | _w(
    "instead otherwise previous excluding except without"
)


def _concession(req: Request) -> None:
    """ "force router-v2 forward even though it doesn't have its min results": with --force,
    a clause that concedes what the rule says (to the next comma or the end) is what --force
    overrides, its negation inside it. Words only: a number, name or quote in it leaves the
    clause unread (never dropped)."""
    toks = req.tokens
    for words in _CONCEDE:
        k = req.seq(*words)
        if k < 0 or not all(req.free(x) for x in range(k, k + len(words))):
            continue
        end = k + len(words)
        negated = False
        while end < len(toks) and req.p(end) not in (",", ";", "."):
            w = req.w(end)
            if toks[end].kind != "word" or end in req.in_name or w in _NOT_CONCEDED:
                return
            if w in NEGATORS:
                # the concession's own "not": once, right after its verb ("it doesn't have")
                if negated or req.w(end - 1) not in _w("does do did has have is are was were"):
                    return
                negated = True
            elif w not in KNOWN | _RULE_WORDS:
                return  # a word no rule knows: left unread (the request is unsure)
            end += 1
        if end == k + len(words):
            return
        req.use(*range(k, end))
        return


#: a clause that says what a complete or a rollback does ("everybody gets the candidate")
_EFFECT_WORDS = _w(
    """everybody everyone all users user traffic gets get goes go moves move sent served on
    to back the every unit units session sessions requests"""
)


def _said_effect(req: Request, arm: str) -> str | None:
    """ "finish router-v2, everybody gets the candidate", "roll it back, all traffic to the
    control": a comma clause that only says where all traffic goes is the change itself,
    read (not a note) when it names the arm the change sends traffic to; naming the other
    arm, it is left unread (the request is asked about)."""
    commas = [i for i in range(len(req.tokens)) if req.p(i) == ","]
    for c, nxt in zip(commas, [*commas[1:], len(req.tokens)], strict=False):
        end = c + 1
        while end < nxt and req.w(end) and req.w(end) not in NOTE_CUES | BECAUSE | {"with"}:
            end += 1  # to the end of the clause, or to its note or reason
        clause = range(c + 1, end)
        words = [req.w(i) for i in clause]
        roles = [w for w in words if w in ("candidate", "control")]
        if (
            len(roles) != 1
            or not all(
                w in _EFFECT_WORDS | {roles[0]} and (req.free(i) or w in _EFFECT_WORDS | {roles[0]})
                for i, w in zip(clause, words, strict=True)
            )
            or not {"everybody", "everyone", "all", "every"} & set(words)
        ):
            continue
        if roles[0] != arm:
            return roles[0]
        req.use(c, *clause)
    return None


def _note(req: Request) -> str | None:
    """A reason given with ``because …`` or ``note: …`` (the rest of the request)."""
    from trialbook.plain.ab_common import note_text

    note, _ = note_text(req, NOTE_CUES, because=True)
    return note or _cue_clause_note(req) or _colon_note(req) or _clause_note(req)


def _colon_note(req: Request) -> str | None:
    """The reason of a halt or a rollback said after a colon: "roll back router-v2 for good:
    p95 latency 40% worse". Before the colon only the verb, the canary and filler; after it
    two words or more, none a verb of another change, a negation or a hedge. Numbers stay in
    the note as typed (a halt or a rollback takes no number, so none is dropped or read)."""
    from trialbook.plain.ab_common import rest_text
    from trialbook.plain.words import FILLER

    names = req.named("canary")
    colon = next((i for i in range(len(req.tokens)) if req.p(i) == ":"), -1)
    if len(names) != 1 or colon <= names[0].end - 1 or colon + 2 >= len(req.tokens):
        return None
    said = set(req.words())
    halted = said & (HALT_VERBS | ROLLBACK_VERBS) or req.seq("roll", "back") >= 0
    if not halted or said & (ADVANCE_VERBS | COMPLETE_VERBS):
        return None
    lead = _w("roll back for good now please the canary it right away immediately")
    before = [i for i in range(colon) if not (names[0].start <= i < names[0].end)]
    if any(
        req.tokens[i].kind != "word" or req.w(i) not in lead | HALT_VERBS | ROLLBACK_VERBS | FILLER
        for i in before
    ):
        return None
    clause = range(colon + 1, len(req.tokens))
    if not _reason_clause(req, clause, ("word", "punct", "num")):
        return None
    text = rest_text(req, colon + 1)
    req.use(*[i for i in before if req.w(i) in lead and req.free(i)], colon, *clause)
    return text or None


def _cue_clause_note(req: Request) -> str | None:
    """A last clause that begins with a note cue and no colon: "complete router-v2, force it,
    note all green" (the note is what follows the cue; the clauses before it are read as usual)."""
    from trialbook.plain.ab_common import rest_text

    commas = [i for i in range(len(req.tokens)) if req.p(i) == ","]
    if not commas:
        return None
    cue = commas[-1] + 1
    if cue + 1 >= len(req.tokens) or req.w(cue) not in NOTE_CUES or not req.free(cue):
        return None
    if any(not req.free(i) for i in range(cue, len(req.tokens))):
        return None
    text = rest_text(req, cue + 1)
    if not text:
        return None
    req.use(commas[-1], *range(cue, len(req.tokens)))
    return text


#: words that make a last clause part of the request, not a reason
_CLAUSE_STOPS = frozenset({"then", "and", "also", "too"})


def _reason_clause(req: Request, clause: range, kinds: tuple[str, ...]) -> bool:
    """Whether the tokens of ``clause`` can be a canary change's reason: all unread and of
    ``kinds``, two words or more, not only filler, and none a negation, a hedge, a verb of a
    canary change, a force word, a note cue or a word that joins another request."""
    from trialbook.plain.words import FILLER, HEDGES, NEGATORS

    unsure = HEDGES | _w("think guess suppose unsure sure wonder or not?")
    verbs = ADVANCE_VERBS | HALT_VERBS | ROLLBACK_VERBS | COMPLETE_VERBS
    words = [req.w(i) for i in clause if req.tokens[i].kind == "word"]
    return not (
        len(words) < 2
        or any(not req.free(i) or req.tokens[i].kind not in kinds for i in clause)
        or set(words) & (NEGATORS | verbs | unsure | _FORCE | NOTE_CUES | _CLAUSE_STOPS)
        or all(w in FILLER for w in words)
        or any(req.tokens[i].norm in ("n't", "not") for i in clause)
    )


def _clause_note(req: Request) -> str | None:
    """A reason in a clause after the name and a comma: "stop router-v2, error rate spiked".

    Only words, at least two, none a negation ("halt router-v2, not yet" is not a reason to
    halt), a hedge ("stop it, I think"), a verb of another canary change, a name or a
    number: otherwise it is not a reason but part of the request, and the rules read (or
    refuse) it as such.
    """
    from trialbook.plain.ab_common import rest_text

    names = req.named("canary")
    verbs = ADVANCE_VERBS | HALT_VERBS | ROLLBACK_VERBS | COMPLETE_VERBS
    comma = next((i for i in range(len(req.tokens)) if req.p(i) == ","), -1)
    between = range(names[0].end, comma) if len(names) == 1 and comma > names[0].end else range(0)
    step = _w("to the next stage up back now please immediately right away asap")
    if len(names) == 1 and req.p(names[0].end) == ",":
        start = names[0].end + 1
    elif between and all(
        req.w(i) in step or (req.tokens[i].kind == "num" and req.tokens[i].unit == "%")
        for i in between
    ):
        start = comma + 1  # "advance router-v2 to 50%, guardrails are green"
    elif not names and req.focus in req.vocab.canaries:  # "halt it, errors doubled"
        comma = next((i for i in range(len(req.tokens)) if req.p(i) == ","), -1)
        lead = [req.w(i) for i in range(comma)]
        said = _w("it this the canary please now back roll") | verbs
        if comma < 1 or not all(w in said for w in lead):
            return None
        start = comma + 1
    else:
        return None
    clause = range(start, len(req.tokens))
    if not _reason_clause(req, clause, ("word", "punct")):
        return None
    req.use(start - 1, *clause)
    return rest_text(req, start) or None


def route(req: Request, read: ReadRequest) -> Translation | None:
    """The canary command ``req`` asks for, or None when it is not a canary request.

    ``read`` is the whole parser (``translate``): a result whose arm is named by its role is
    read by it as an A/B result (passed in, so this module does not import its caller)."""
    intent = _intent(req)
    log_words = _w("log logs events event history happened timeline activity")
    if intent in (None, "status") and set(req.words()) & log_words:
        return None  # "the log of router-v2": its events (`events log --stream canary:NAME`)
    if intent is None:
        if set(req.words()) & CANARY_WORDS or req.named("canary"):
            return refused(
                req.text,
                "for a canary I understand: how is it doing, move it to 50%, halt it, roll it "
                "back, complete it, audit it",
            )
        return None
    if intent == "add-result":
        by_role = _arm_result(req, read)
        if by_role is not None:
            return by_role
        return refused(
            req.text,
            "a canary result names the variant as the canary knows it: type `canary add-result "
            "NAME --variant V [--unit-id U] [--stage N]` with the options of `ab add-result`",
        )
    if intent == "assign":
        name = _resolve(req, ["canary", "assign"])
        if isinstance(name, Translation):
            return name
        units = _unit_ids(req)
        for i in units:
            req.use(i)
        _mark_words(
            req,
            _w(
                "assign assigned assignment bucket gets get goes go routed sent where which variant does do users user units unit and in for"
                " land lands arm would right now customer customers getting assignments buckets"
                " check show on"
            ),
        )
        left = number_refusal(req) or unknown_refusal(req)
        return left or command(
            req.text, ["canary", "assign", name, *[req.tokens[i].text for i in units]]
        )
    if intent == "several":
        return refused(req.text, "one canary step at a time: advance, halt, roll back or complete?")
    if intent == "create":
        return plan(req)
    if intent == "list":
        _mark_words(req, CANARY_WORDS | _CANARY_FILLER | _w("list which what there all"))
        return command(req.text, ["canary", "list"])
    if intent in ("advance", "halt", "rollback", "complete") and req.is_question():
        intent = (
            "status"  # "should we move router-v2 to 50%?" asks what the rule says: never a write
        )
    verb = intent
    argv = ["canary", verb]
    opts: list[str] = []
    end = _ships_to_all(req) if intent == "complete" else -1
    if end >= 0:
        req.use(req.index({"ship", "promote"}), *range(req.named("canary")[0].end, end))
    if intent in ("complete", "rollback"):
        arm = "candidate" if intent == "complete" else "control"
        other = _said_effect(req, arm)
        if other:
            return refused(
                req.text,
                f"{intent} sends all traffic to the {arm}, but the request says the {other}: "
                "which is it?",
            )
    note = _note(req) if intent in ("advance", "halt", "rollback", "complete") else None
    name = _resolve(req, argv, only_one=intent not in WRITES)
    if isinstance(name, Translation):
        return name
    if intent == "import":
        path = next(i for i, t in enumerate(req.tokens) if t.kind == "path")
        req.use(path)
        _mark_words(req, IMPORT_VERBS | _w("results result from into file"))
        opts.append(req.tokens[path].text)
    if intent == "watch":
        _mark_words(req, WATCH_VERBS)
        k = req.seq("keep", "an", "eye", "on")
        if k >= 0:
            req.use(k, k + 1, k + 2, k + 3)
        for i, t in enumerate(req.tokens):
            if t.kind == "num" and t.unit == "s" and req.free(i):
                k = req.seq({"give", "stop"}, "up", "after")
                if k < 0:
                    k = req.seq({"timeout", "stop", "quit"}, {"after", "of"})
                if k >= 0 and k < i:
                    fill = _w("give stop up after timeout quit of a an")
                    req.use(*[x for x in range(k, i + 1) if x == i or req.w(x) in fill])
                    for j in req.indexes({"without", "no", "new", "results", "result", "but"}):
                        if j > i or req.w(j) == "but":
                            req.use(j)
                    opts += ["--timeout", fmt(t.value)]
                break
        if "--timeout" not in opts:
            from trialbook.plain import named

            timeout = named.near(
                req, {"timeout"}, named.seconds
            )  # "timeout 600s", "a 10 min timeout"
            if timeout is None:
                timeout = _quiet_for(req)  # "stop watching if nothing comes in for 600 seconds"
            if timeout is not None:
                opts += ["--timeout", fmt(timeout.value)]
        k = req.seq({"automatically", "auto", "itself"})
        own = req.seq("on", "its", "own")
        rule = req.seq({"act", "acting", "follow", "apply", "enforce"}, {"on", "by"}, "the", "rule")
        if rule < 0:
            rule = req.seq({"act", "acting", "follow", "apply", "enforce"}, "the", "rule")
        if k >= 0 or own >= 0:
            req.use(k, *(range(own, own + 3) if own >= 0 else []))
            for i in req.indexes({"act", "decide", "by", "and", "let", "it"}):
                req.use(i)
            if rule >= 0:  # "act on the rule by itself": the rule is what --auto follows
                req.use(*range(rule, rule + 4 - (req.w(rule + 1) == "the")))
            opts.append("--auto")
    _mark_words(
        req,
        ADVANCE_VERBS | HALT_VERBS | ROLLBACK_VERBS | COMPLETE_VERBS | STATUS_WORDS | AUDIT_WORDS
        | CANARY_WORDS | _CANARY_FILLER | BECAUSE | _w("roll out fully completely why did was were how"),
    )  # fmt: skip
    for i in req.indexes({"wrap"}):
        if req.w(i + 1) == "up":
            req.use(i + 1)
    if intent == "status":  # "should we move it to 50%?": the percentage is part of the question
        req.use(*_percent_tokens(req))
    if intent in ("advance", "complete"):  # both take --force (the stage rule overridden)
        forced = [i for i in req.indexes(_FORCE) if req.free(i)]
        if forced:  # "force it to the next stage", "advance regardless of the rule"
            req.use(*forced)
            for words in (("of", "the", "rule"), ("the", "rule"), ("the", "stage", "rule")):
                k = req.seq(*words, start=forced[0])
                if k >= 0 and k <= forced[-1] + 2:
                    req.use(*range(k, k + len(words)))
                    break
            opts.append("--force")
            _concession(req)
    stages_of = {float(p) for p in req.vocab.canaries.get(name) or ()}
    if intent in ("advance", "complete"):
        # "router-v2 has enough results at 10%, move it up to 50", "it is at 100% and clean,
        # finish the rollout": where it is now, said beside the step (a stage of its plan)
        now = [
            i
            for i in _percent_tokens(req)
            if req.free(i) and req.w(i - 1) == "at" and float(req.tokens[i].value or 0) in stages_of
        ]
        to = [i for i, t in enumerate(req.tokens) if t.kind == "num" and req.w(i - 1) == "to"]
        if len(now) == 1 and (intent == "complete" or to):
            req.use(now[0] - 1, now[0])
            for i in req.indexes({"enough", "results", "has", "is", "and", "clean", "healthy"}):
                if i < now[0] + 3:
                    req.use(i)
    if intent == "advance":
        percents = [i for i in _percent_tokens(req) if req.free(i)]
        for i, t in enumerate(req.tokens):  # "push it up to 100": 100 is one of its stages
            if t.is_int and req.free(i) and req.w(i - 1) == "to" and float(t.value) in stages_of:
                percents = percents or [i]
        for i in percents:
            if req.w(i - 1) in ("by", "another", "additional", "extra", "more"):
                return refused(  # "advance router-v2 by 10%": a step, not the stage to move to
                    req.text,
                    f"{req.tokens[i - 1].text} {req.tokens[i].text} is a step, and a canary moves "
                    f"to a stage: say which (`--to PERCENT`)",
                )
        for i, t in enumerate(req.tokens):  # "push it up to 70": a stage is said with its %
            if t.is_int and req.free(i) and req.w(i - 1) == "to" and not percents:
                return incomplete(
                    req.text,
                    ["canary", "advance", name, *opts],
                    ["--to PERCENT"],
                    f"is {t.text} the {t.text}% stage? say it with its '%' (`--to` is checked "
                    "against the stages)",
                )
        for i in req.indexes({"it"}):  # "…, force it"
            if req.w(i - 1) in _FORCE and "--force" in opts:
                req.use(i)
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
    if intent in WRITES:
        left = unknown_refusal(req, "Put a reason after 'because'.")
        if left:
            return left
    if note:
        opts += ["--note", note]
    return command(req.text, ["canary", verb, name, *opts])


def _word_after(req: Request, cues: frozenset[str]) -> tuple[str, int] | None:
    """The name typed after one of ``cues`` ("control router-v1"): (name, its index)."""
    from trialbook.plain.ab_common import skip

    for i in req.indexes(cues, names_too=True):
        j = skip(req, i + 1, _w("is are the a an variant of"), ":=")
        if j < len(req.tokens) and req.tokens[j].kind in ("word", "quote"):
            if j in req.in_name and not any(m.kind == "canary" for m in req.in_name[j]):
                continue
            if req.tokens[j].norm in NEVER_VALUES:
                continue  # "candidate otherwise new": no name
            req.use(*range(i, j + 1))
            return req.tokens[j].text.lower(), j
    return None


def _plan_extras(req: Request) -> list[str]:
    """``canary create``'s options said by their own name: ``--alpha A`` ("alpha 0.01", "at
    alpha=0.01") and ``--salt S`` as a bare word ("salt q3-2025", "hash salt: s1"; a quoted
    salt or description is :mod:`trialbook.plain.spoken`'s)."""
    from decimal import Decimal

    from trialbook.plain import named
    from trialbook.plain.ab_common import skip

    toks = req.tokens
    opts: list[str] = []
    alpha = named.near(
        req,
        {"alpha"},
        lambda t: (
            t.kind == "num"
            and t.unit is None
            and t.value is not None
            and 0 < t.value < Decimal("0.5")
        ),
    )
    if alpha is not None:
        opts += ["--alpha", fmt(alpha.value)]  # type: ignore[arg-type]
    for i in req.indexes({"salt"}):
        j = skip(req, i + 1, _w("is of the as"), ":=")
        if not (req.free(i) and j < len(toks) and req.free(j)):
            continue
        t = toks[j]
        if t.kind in ("word", "num") and t.norm not in KNOWN | NEVER_VALUES:
            a = i - (req.w(i - 1) in ("with", "a", "the", "hash") and req.free(i - 1))
            a -= req.w(a - 1) in ("with", "a", "the") and req.free(a - 1) and a < i
            req.use(*range(a, j + 1))
            opts += ["--salt", t.text]
            break
    return opts


#: verbs a canary rolls its candidate out with ("rolling prompt-v4 out over prompt-v3")
_ROLL = _w("rolling roll rolls")


def plan(req: Request) -> Translation:
    """``canary create NAME --control A --candidate B [--stages …] [--guardrail …]
    [--min-results N] [--unit U]`` from "plan a canary model-v2: candidate model-v2 over
    control model-v1, stages 5, 25 and 100, 200 results per stage, units are sessions".

    The name, the control and the candidate must all be typed; a plan missing one
    is refused with the command to type (too many parts to guess)."""
    from trialbook.plain.ab_common import find_metric, skip

    toks = req.tokens
    _mark_words(req, CREATE_VERBS | _w("plan create define canary rollout"))
    control = _word_after(req, _w("control"))
    candidate = _word_after(req, _w("candidate"))
    for j in range(1, len(toks) - 1):
        # "planner-old -> planner-new", "a → b": units move from the control to the candidate
        width = 1 if toks[j].text in ("→", "=>") else 0
        if toks[j].text == "-" and toks[j + 1].text == ">" and toks[j + 1].start == toks[j].end:
            width = 2  # "->" is lexed as "-" and ">"
        if control is None and candidate is None and width and j + width < len(toks):
            a, b = toks[j - 1], toks[j + width]
            if all(t.kind == "word" and t.norm not in KNOWN | NEVER_VALUES for t in (a, b)):
                control, candidate = (a.text.lower(), j - 1), (b.text.lower(), j + width)
                req.use(*range(j - 1, j + width + 1))
    k = req.seq("from")
    if control is None and candidate is None and k >= 0 and req.w(k + 2) == "to":
        # "from prompt-v2 to prompt-v3": units move from the control to the candidate
        pair = [k + 1, k + 3]
        if all(x < len(toks) and toks[x].kind == "word" for x in pair):
            control = (toks[k + 1].text.lower(), k + 1)
            candidate = (toks[k + 3].text.lower(), k + 3)
            req.use(k, k + 1, k + 2, k + 3)
    for j in range(len(toks) - 3):
        # "planner-v3 vs planner-v2 (control)": the role said in brackets after a name, the other
        # side of the "vs" taking the other role
        if not (req.p(j + 1) == "(" and req.w(j + 2) in ("control", "candidate", "baseline")):
            continue
        if req.p(j + 3) != ")" or toks[j].kind != "word" or toks[j].norm in NEVER_VALUES:
            continue
        other = j - 2 if req.w(j - 1) in ("vs", "versus", "over", "against") else -1
        if other < 0 or toks[other].kind != "word" or toks[other].norm in NEVER_VALUES:
            continue
        role_control = req.w(j + 2) in ("control", "baseline")
        said, rest = (toks[j], toks[other]) if role_control else (toks[other], toks[j])
        if control is None and candidate is None:
            control = (said.text.lower(), j if role_control else other)
            candidate = (rest.text.lower(), other if role_control else j)
            req.use(other, other + 1, j, j + 1, j + 2, j + 3)
        break
    if control is None and candidate is None:
        # "retriever-b against retriever-a", "planner-v3 over planner-v2": the name after
        # "against"/"over" is the baseline (the control), the one before it rolls out
        for j in range(1, len(toks) - 1):
            if req.w(j) not in ("against", "over") or not req.free(j):
                continue
            # "rolling prompt-v4 out over prompt-v3": the verb's particle before "over"
            at = j - 1 - (req.w(j - 1) == "out" and req.w(j - 3) in _ROLL and j >= 3)
            a, b = toks[at], toks[j + 1]
            if all(
                t.kind == "word" and t.norm not in KNOWN | NEVER_VALUES and req.free(x)
                for t, x in ((a, at), (b, j + 1))
            ):
                candidate, control = (a.text.lower(), at), (b.text.lower(), j + 1)
                req.use(*range(at, j + 2))
                if req.w(at - 1) in _ROLL and req.free(at - 1):
                    req.use(at - 1)
                elif (
                    req.w(at - 1) == "out" and req.w(at - 2) in _ROLL and req.free(at - 1)
                ):  # "rolling out prompt-v5 over prompt-v4": the particle before the name
                    req.use(at - 2, at - 1)
            break
    name = None
    for i in req.indexes(_w("canary called named")):
        j = skip(req, i + 1, _w("called named"), ":")  # "a canary called r3"
        if j < len(toks) and toks[j].kind in ("word", "quote"):
            if j in req.in_name and any(m.kind == "canary" for m in req.in_name[j]):
                m = next(m for m in req.in_name[j] if m.kind == "canary")
                return refused(
                    req.text, f"there is already a canary named {m.name!r}; pick another name"
                )
            if toks[j].kind == "word" and toks[j].norm in FILLER | NEVER_VALUES:
                continue  # "canary for X": "for" is no name
            if req.free(j) or (candidate and candidate[1] == j):
                name = toks[j].text.lower()
                req.use(j)
                break
    k = req.seq({"canary", "rollout"}, "for")
    if name is None and candidate is not None and k >= 0 and candidate[1] == k + 2:
        name = candidate[
            0
        ]  # "a canary for planner-v3 vs …": the canary is named by what it rolls out
        req.use(k + 1)
    if name is None or control is None or candidate is None:
        return refused(req.text, PLAN_HINT)
    opts = ["--control", control[0], "--candidate", candidate[0]]
    for i in req.indexes(_w("over against versus vs")):
        req.use(i)
    k = next(
        (i for i in req.indexes(_w("stages stage")) if req.w(i - 1) not in ("per", "each")), -1
    )
    if k < 0:
        # "at 5, 25, 100 percent": a list of shares that ends in a percentage is the stages
        for i in req.indexes(_w("at through via go")):  # "go 5, 25 and then 100 percent"
            j = i + 1
            while j < len(toks) and toks[j].kind == "num" and toks[j].unit is None:
                j += 1
                j += req.p(j) == ","
                j += req.w(j) == "and"
                j += req.w(j) == "then"
            if j > i + 1 and j < len(toks) and toks[j].kind == "num" and toks[j].unit == "%":
                k = i
                break
    if k >= 0:
        stages: list[str] = []
        j = skip(req, k + 1, _w("of at are"), ":=")
        last = False
        while j < len(toks) and toks[j].kind == "num" and toks[j].unit in (None, "%"):
            if "," in toks[j].text and all(
                p.isdigit() and len(p) <= 3 for p in toks[j].text.split(",")
            ):
                # "5,25,100" is lexed as 5 and 25,100: in a list of stages, a comma separates
                stages += toks[j].text.split(",")[:-1]
                stages.append(toks[j].text.split(",")[-1])
                req.use(j)
                j += 1
                if last or not (req.p(j) == "," or req.w(j) == "and"):
                    break
                req.use(j)
                j += 1
                continue
            stages.append(fmt(toks[j].value))
            req.use(j)
            j += 1
            if last or not (req.p(j) == "," or req.w(j) == "and"):
                break
            last = req.w(j) == "and"
            req.use(j)
            j += 1
            if req.w(j) == "and":
                last = True
                req.use(j)
                j += 1
            if last and req.w(j) == "then":  # "5, 25 and then 100"
                req.use(j)
                j += 1
        req.use(k)
        if not stages:
            return incomplete(
                req.text, ["canary", "create", name, *opts], ["--stages"], "which stages?"
            )
        opts += ["--stages", ",".join(stages)]
    for i, t in enumerate(toks):
        # "200 results per stage"; "200 min results per stage" (lexed as 200 minutes)
        minimum = t.kind == "num" and t.unit == "s" and t.text.replace(" ", "").endswith("min")
        if (
            (
                t.kind == "num"
                and (t.unit is None or minimum)
                and req.free(i)
                and req.w(i + 1) in ("results", "result")
            )
            and req.w(i + 2) == "per"
            and req.w(i + 3) == "stage"
        ):
            req.use(*range(i, i + 4))
            if req.w(i - 1) in ("min", "minimum", "least") and req.free(i - 1):
                req.use(i - 1, *([i - 2] if req.w(i - 2) == "at" else []))  # "min 200 results …"
            value = t.text.replace(" ", "")[:-3] if minimum else fmt(t.value)
            opts += ["--min-results", value]
    for i in req.indexes(_w("unit units")):
        j = skip(req, i + 1, _w("is are the"), ":=")
        w = req.w(j)
        if w and req.free(j) and w not in NEVER_VALUES:
            req.use(*range(i, j + 1))
            opts += ["--unit", w[:-1] if w.endswith("s") and len(w) > 3 else w]
    opts += _plan_extras(req)
    for i in range(len(toks)):
        found = find_metric(req, i, anywhere=False) if req.free(i) else None
        if not found:
            continue
        metric, a, b = found
        qa = a - 1 if QUANTILE_WORD.fullmatch(req.w(a - 1)) and req.free(a - 1) else -1
        after = b + (req.p(b) == ":")  # "completion_time p95", "completion_time:p95"
        if (
            qa < 0
            and QUANTILE_WORD.fullmatch(req.w(after))
            and req.free(after)
            and "metric" in (req.w(a - 1), req.w(after + 1), req.w(after + 3))
        ):  # the primary metric's quantile said after it ("… p95 as the metric")
            qa, b = after, after + 1
            req.use(*range(a, b))
        lead = qa if 0 <= qa < a else a
        as_the = req.w(b) == "as" and req.w(b + 1) == "the" and req.w(b + 2) == "metric"
        if as_the:  # "p95 completion time as the metric"
            req.use(b, b + 1)
            b += 2
        if req.w(b) == "metric" or req.w(lead - 1) == "metric":
            # "p95 completion time metric", "primary metric error_rate": the primary metric
            said = [lead, *range(a, b)]
            said += [b] if req.w(b) == "metric" else [lead - 1]
            if req.w(min(said) - 1) == "primary":
                said.append(min(said) - 1)
            req.use(*said)
            opts += ["--metric", f"{metric}:{req.w(qa)}" if qa >= 0 else metric]
            continue
        j = skip(
            req,
            b,
            _w(
                "may must can should rise get grow increase go up worse by at most no not more "
                "than guardrail guardrails limit of"
            ),
            "+:",
        )
        if j < len(toks) and toks[j].kind == "num" and req.free(j):
            t = toks[j]
            end = j + 1
            if t.unit == "%":
                limit = f"{fmt(t.value)}%"
            elif t.unit == "pp":
                limit = f"{fmt(t.value)}pp"
            elif (t.unit == "usd" and metric.startswith("cost")) or (
                t.unit == "s" and metric.startswith("completion_time")
            ):
                limit = fmt(t.value)  # "+3c", "+30s": in the metric's own units (dollars, seconds)
            elif t.unit is not None:
                return refused(req.text, f"a guardrail limit of {t.text} is not one I can read")
            elif req.w(j + 1) in ("points", "point", "pp"):
                limit, end = f"{fmt(t.value)}pp", j + 2
            else:
                limit = fmt(t.value)
            end += req.w(end) in ("worse", "higher", "more") and req.free(end)  # "20% worse"
            req.use(*range(a, end))
            opts += ["--guardrail", f"{metric}:+{limit}"]
    from trialbook.plain.ab_create import _guardrail_refusal

    guardrails = [opts[i + 1] for i, o in enumerate(opts) if o == "--guardrail"]
    refusal = number_refusal(req) or unknown_refusal(req) or _guardrail_refusal(req, guardrails)
    if refusal:
        return refusal
    return command(req.text, ["canary", "create", name, *opts])
