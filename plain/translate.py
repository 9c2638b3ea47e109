"""Plain requests to exactly one trialbook command line, by deterministic rules.

    >>> vocab = Vocabulary(tests={"checkout-flow": ("cold", "warm")})
    >>> translate("add a warm result: 12 calls, 11 ok, 40s", vocab).line
    'ab add-result checkout-flow --variant warm --tool-calls 12 --successful-calls 11 --completion-time 40'

Contract (what the shell relies on):

- :func:`translate` is pure: no terminal, no database, no network, no clock.
- A ``command`` translation's numbers all come from number tokens of the text
  (``2 min`` → 120 and ``3 cents`` → 0.03 are unit conversions, never arithmetic
  between numbers); its names are names from the :class:`Vocabulary`, or for a new
  test or suite, names typed in the request.
- Every token is accounted for (:func:`_accounted`): a ``command`` is given only when
  each number, word and store name of the request filled a slot of it or is a known
  filler word. A number or name no rule read is never dropped: the request becomes
  ``incomplete``, the understood line pre-filled for editing with what was not read
  named. A new variant, test or suite name must be delimited ("variants a, b and c",
  "a vs b"); argument roles come from the words ("A against B" makes B the baseline);
  effect sizes keep their kind (``domain/units.py``).
- A required value that is not in the request gives ``incomplete`` (an editable,
  pre-filled line); ambiguity, unknown names and anything out of scope give
  ``refused`` with a one-line reason and "did you mean" suggestions, which are
  never run.
- ``tier`` is ``"rules"`` for everything produced here; an optional LLM tier
  would produce the same :class:`Translation` with ``tier="llm"``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from trialbook.plain import ab as ab
from trialbook.plain import app as app
from trialbook.plain import canary as canary
from trialbook.plain import evals as ev
from trialbook.plain import ledger as ledger
from trialbook.plain import options as options
from trialbook.plain import reports as reports
from trialbook.plain import spoken as spoken
from trialbook.plain.lex import fmt, name_parts
from trialbook.plain.request import Request, as_typed
from trialbook.plain.types import (
    Translation,
    Vocabulary,
    command,
    command_path,
    incomplete,
    is_write,
    refused,
)
from trialbook.plain.words import (
    ADD_VERBS,
    ANALYZE_WORDS,
    ARCHIVE_VERBS,
    AUDIT_WORDS,
    CALL_NOUNS,
    COMPARE_WORDS,
    CORRECTION_NOUNS,
    COST_WORDS,
    DESTROY_WORDS,
    ERROR_NOUNS,
    EXPORT_WORDS,
    FAIL_WORDS,
    FILLER,
    FORMAT_WORDS,
    HEDGES,
    KEEP_CONTROL,
    KNOWN,
    LIST_WORDS,
    LOG_WORDS,
    MESSAGE_NOUNS,
    NEGATORS,
    NEVER_VALUES,
    OK_WORDS,
    OUT_OF_SCOPE,
    PROJECTION_WORDS,
    REBUILD_WORDS,
    REPORT_WORDS,
    RESCORE_WORDS,
    RESTORE_VERBS,
    RESULT_WORDS,
    RESUME_WORDS,
    RUN_VERBS,
    SCORE_WORDS,
    SHIP_VERBS,
    SHOW_WORDS,
    STOP_WORDS,
    SUCCESS_NEG,
    SUCCESS_POS,
    SUITE_WORDS,
    SUMMARY_WORDS,
    TEST_WORDS,
    TOKEN_NOUNS,
    VERIFY_WORDS,
    _w,
)

__all__ = [
    "EXAMPLES",
    "EXAMPLE_VOCABULARY",
    "Translation",
    "Vocabulary",
    "command_path",
    "examples",
    "is_write",
    "translate",
]

#: verbs a polite request starts with ("could you record …", "can you run …")
_POLITE_VERBS = (
    ADD_VERBS | ARCHIVE_VERBS | RESTORE_VERBS | SHIP_VERBS | RUN_VERBS | RESCORE_WORDS
    | RESUME_WORDS | EXPORT_WORDS | _w("create make import load start set please")
)  # fmt: skip
#: what a run's state is called ("any stalled runs?", "candidate-0402 crashed, resume it")
_RUN_STATES = _w("stalled stuck crashed died dead hung unfinished interrupted incomplete running")
#: words that only lead into a request ("please", "can you", "I want to")
_LEAD = _w(
    "please pls can could would you i we want wanna to let us let's lets now ok okay hey hi so just kindly go ahead and trialbook"
)
_VERIFY_STRONG = VERIFY_WORDS - {"chain", "hash", "hashes", "consistent"}
_EDIT_VERBS = _w("edit modify update change fix correct rename overwrite amend alter rewrite")
_WRITE_GROUPS: tuple[frozenset[str], ...] = (
    frozenset({"create", "setup", "define"}),
    ARCHIVE_VERBS - {"drop", "hide"},
    RESTORE_VERBS,
    frozenset({"ship", "conclude", "deploy"}),
    RESCORE_WORDS,
    frozenset({"resume"}),
    frozenset({"import"}),
    frozenset({"add", "record"}),
    frozenset({"verify"}),
    frozenset({"rebuild", "reindex"}),
    frozenset({"export", "dump"}),
)
_MAX_LEN = 2000
#: words that make the number after them an estimate
_APPROX = frozenset(
    {"about", "around", "roughly", "approximately", "approx", "circa", "nearly", "almost", "~"}
)
#: event types named by a word that also reads as an analysis ("verdict events")
_TYPE_WORDS = frozenset({"verdict", "verdicts"})
#: a quantile beside a metric: "p95 completion time"
_QUANTILE = re.compile(r"p\d{1,2}(?:\.\d+)?")


#: options whose values are names (of a test's variants, a canary's arms, a run)
_NAME_OPTIONS = frozenset(
    {"--variants", "--variant", "--control", "--candidate", "--baseline", "--name", "--ship"}
)


def translate(text: str, vocab: Vocabulary, focus: str | None = None) -> Translation:
    """Translate one plain request into one command line of the trialbook CLI.

    ``vocab`` holds the names that exist in the store; ``focus`` is the test or run
    chosen with ``use NAME`` (used when the request names none).

    A word read as the core word it is one typo from ("wich", "sucess") that then became a
    name ("create test summarizer" as ``ab create summarize``) was a name: the request is
    read again with that word as typed.
    """
    text = text.strip()
    if not text:
        return refused(text, "say what you want to do; `help examples` lists requests I understand")
    if len(text) > _MAX_LEN:
        return refused(
            text[:80], f"that request is longer than {_MAX_LEN} characters; say one thing at a time"
        )
    translation, req = _translate(text, vocab, focus)
    if translation.status == "incomplete" or translation.argv:
        names = set(_names_in(translation.argv))
        hit = {t.typed for t in req.tokens if t.typed and t.norm in names}
        if hit:
            with as_typed(hit):
                translation, _ = _translate(text, vocab, focus)
    return translation


def _names_in(argv: tuple[str, ...]) -> Iterator[str]:
    """The names an argv gives: its arguments after the command words, and the values of
    the options that take names (split at commas, ``=`` and ``:``)."""
    path = command_path(argv)
    rest = argv[len(path) :]
    k = 0
    while k < len(rest):
        a = rest[k]
        if a.startswith("--"):
            if a in _NAME_OPTIONS and k + 1 < len(rest):
                yield from re.split(r"[,=:]", rest[k + 1].lower())
            k += 2 if k + 1 < len(rest) and not rest[k + 1].startswith("--") else 1
            continue
        yield a.lower()
        k += 1


def _translate(
    text: str, vocab: Vocabulary, focus: str | None = None
) -> tuple[Translation, Request]:
    """:func:`translate` of a request that is not empty nor too long, and the request as it
    was read last."""
    req = Request(text, vocab, focus)
    said = spoken.read(req)
    found = options.read(req)
    routed = _route(req)
    path = command_path(routed.argv)
    if said and routed.argv and not spoken.fits(said, path):
        # "case q-4" is --case of `eval show` but --case-id of a result: read again with only
        # the options of the command chosen, their words back to its rule
        req = Request(text, vocab, focus)
        said = spoken.read(req, only=path)
        found = options.read(req)
        routed = _route(req)
    path = command_path(routed.argv)
    as_was = any(f.option in ("--as-of", "--at", "--plot", "--diff-now") for f in found)
    if as_was and path in (("ab", "summary"), ("ab", "show")):
        # "how did checkout-flow look at position 40?", "the plot for onboarding": a test as it
        # was, or drawn, is its analysis (`ab summary`/`ab show` have no --as-of/--at/--plot)
        routed = ab.analyze(req)
    elif (
        as_was
        and path == ("events", "log")
        and (req.named("test", "archived") or req.focus in req.vocab.tests)
        and not any(f.option in ("--since", "--until", "--limit") for f in found)
        and any(f.option in ("--as-of", "--at", "--diff-now") for f in found)
    ):
        # "what did search-v2 say on 2026-11-01, and what changed since?": its analysis then,
        # read afresh (what the log's rule used is not read twice, nor dropped)
        req, said, found, routed = _afresh(text, vocab, focus, ab.analyze)
    elif routed.status == "refused" and not routed.argv and found and not req.matches:
        # "plot the score distribution", "last 10 results" with a run or a test in focus: only
        # options were said, so they are options of what is in focus (drawn: its analysis;
        # else shown), read afresh; a word no rule read still makes the request unsure
        drawn = any(f.option in ("--plot", "--as-of", "--at") for f in found)
        if focus in vocab.runs:
            req, said, found, routed = _afresh(text, vocab, focus, ev.show)
        elif focus in vocab.tests:
            rule = ab.analyze if drawn else (lambda r: ab.read_test(r, "show"))
            req, said, found, routed = _afresh(text, vocab, focus, rule)
    translation = spoken.attach(req, options.attach(req, routed, found), said)
    return _asked(req, _unnegated(req, _accounted(req, translation))), req


def _test_named_new(req: Request) -> bool:
    """Whether the request names a test that does not exist yet, right after a word for a test:
    "(an) A/B test called x", "experiment named x", "ab test x: a vs b" (a name and a colon)."""
    for i in req.indexes(TEST_WORDS - {"tests", "experiments", "trials", "studies"}):
        j = i + 1
        if req.w(j) in ("called", "named", "titled"):
            j += 1
        elif req.p(j + 1) != ":" and not (
            req.p(j + 1) == "," and i <= 1 and req.w(j + 2) in ("variants", "arms")
        ):
            continue  # "ab test x: a vs b", "ab test booking-bot, variants …"
        if j < len(req.tokens) and req.free(j) and req.tokens[j].kind in ("word", "quote"):
            return req.w(j) not in FILLER
    return False


def _name_colon_pair(req: Request) -> bool:
    """Whether the request opens with a new name, a colon and two variants: "summarizer-ab:
    short vs long, …" (a definition; the name is delimited by the colon, and written as a
    name: with a hyphen, an underscore or a digit, so "note: a vs b" is not one)."""
    toks = req.tokens
    if len(toks) < 5 or req.p(1) != ":" or req.w(3) not in ("vs", "versus"):
        return False
    t = toks[0]
    return (
        t.kind == "word"
        and 0 not in req.in_name
        and t.norm not in KNOWN
        and any(c in t.norm for c in "-_0123456789")
        and all(toks[x].kind == "word" and x not in req.in_name for x in (2, 4))
    )


def _clause_stop(req: Request) -> bool:
    """A stop said at the start of a later clause, of the test: "we're done with prompt-style,
    stop it", "onboarding is going nowhere, so end it". The word after it names the test ("it",
    "this", "the test", its name) or says how ("without a winner")."""
    for i in req.indexes(STOP_WORDS):
        starts = req.p(i - 1) in (",", ";", ":") or (
            req.w(i - 1) in ("so", "then", "just", "please") and req.p(i - 2) in (",", ";")
        )
        after = req.w(i + 1) in ("it", "this", "that", "the", "without") or (i + 1) in req.in_name
        if starts and after and req.free(i):
            return True
    return False


def _defined_new_test(req: Request) -> bool:
    """Whether the request opens with a word for a test, a new name and "with" its variants:
    "ab test llm-swap with gpt4o vs sonnet, we plan 1000 results" (a definition, whatever else
    it says about results)."""
    for i in req.indexes(TEST_WORDS - {"tests", "experiments", "trials", "studies"}):
        j = i + 1
        if i > 1 or req.w(j + 1) != "with" or not req.has({"vs", "versus", "variants", "arms"}):
            continue
        if j < len(req.tokens) and req.free(j) and req.tokens[j].kind in ("word", "quote"):
            return req.w(j) not in FILLER
    return False


#: words that show a test's rows (`ab show`); "see"/"look" at a metric ask for its analysis
_SHOW_ROWS = SHOW_WORDS - _w("see look")


#: what an exported log is imported into, or is called ("into this db", "the events")
_LOG_PLACES = _w("log events ledger db database store trialbook")


def _log_file(req: Request) -> bool:
    """Whether the request's one file is named as an event log ("log.jsonl", "events-0401.jsonl",
    "prod_ledger.jsonl"): a word of its stem is log, logs, events or ledger."""
    paths = [t.text for t in req.tokens if t.kind == "path"]
    if len(paths) != 1:
        return False
    stem = paths[0].replace("\\", "/").rsplit("/", 1)[-1].split(".", 1)[0].lower()
    return bool(set(re.split(r"[-_ ]+", stem)) & {"log", "logs", "events", "ledger"})


def _afresh(
    text: str, vocab: Vocabulary, focus: str | None, rule: Callable[[Request], Translation]
) -> tuple[Request, list[spoken.Spoken], list[options.Found], Translation]:
    """``rule`` on the request read anew: no token another rule used stays used."""
    req = Request(text, vocab, focus)
    said = spoken.read(req)
    found = options.read(req)
    return req, said, found, rule(req)


#: how a question that only asks begins ("did baseline-0401 finish?"); "can you …" is a request
_ASKING = _w(
    "did does do is are was were has have had why what which who whom whose how when where"
)


def _asked(req: Request, translation: Translation) -> Translation:
    """A question that asks ("did baseline-0401 finish?", "is warm shipped?") never becomes a
    change: it is answered by a read, or the request is refused with what to type."""
    if translation.status == "refused" or not translation.writes:
        return translation
    words = req.words()
    first = _first(req)
    lead = req.w(first) if first < len(req.tokens) else ""
    if req.is_question() and (lead in _ASKING or (words and words[0] in _ASKING)):
        return refused(
            req.text,
            f"that asks a question, and a question never changes anything here; to do it, say "
            f"it as a request (`{translation.line}` is the command)",
        )
    return translation


def _accounted(req: Request, translation: Translation) -> Translation:
    """Every token is accounted for: a number or a word no rule read makes the request unsure.

    A command is only given when each number and each word of the request filled a
    slot of it, is a store name, or is a known filler word. Otherwise the closest
    command is offered pre-filled for editing (``incomplete``), with what was not
    understood named: a number the user typed is never dropped, and a word that may
    change the meaning ("nightly-1203", "yesterday") is never ignored.
    """
    if translation.status != "command":
        return translation
    for i in req.indexes({"but", "and", "also", "plus"}):
        # "…, but warm is the control", "…, and cold is the baseline": a conjunction opening a
        # clause a rule read (its next word was read) joins it, it says nothing of its own
        nxt = i + 1 + (req.w(i + 1) in ("the", "a", "an") and req.free(i + 1))
        read_next = nxt < len(req.tokens) and (not req.free(nxt))
        joined = req.p(i - 1) in (",", ";") or (i > 0 and not req.free(i - 1))
        if req.free(i) and joined and read_next:  # "… on URL but stop once we've spent $5"
            req.use(i)
    req.use_intentions()  # "I plan to segment by category"
    _use_purpose(req)  # "… as markdown for the wiki", "for CI: …": who it is for
    if any(a in ("--as-of", "--since", "--until") for a in translation.argv):
        for i in req.indexes({"utc", "gmt"}):  # "at 17:00 UTC": the CLI's times are UTC
            if req.free(i) and i > 0 and not req.free(i - 1):
                req.use(i)
    for i in req.indexes({"only", "just", "merely"}):
        # "only 5 went through": before a number a rule read, it stresses the number
        number = i + 1 < len(req.tokens) and req.tokens[i + 1].kind in ("num", "money")
        if req.free(i) and number and not req.free(i + 1) and i + 1 not in req.in_name:
            req.use(i)
    left = req.leftover_numbers()
    unknown = req.unknown_words()
    dropped = [
        m
        for m in req.named("test", "archived", "suite", "run", "canary")
        if not any(i in req.used for i in range(m.start, m.end))
        and not any(
            m.name == a or a.endswith(f":{m.name}") or m.name in a.split(",")
            for a in translation.argv
        )
    ]
    unread: list[str] = []
    if translation.writes:
        unread += [t.text for i, t in enumerate(req.tokens) if t.norm in HEDGES and req.free(i)]
        # a variant of some test named in a change and not read ("create x: cold vs previous
        # warm" read as cold,previous) is never dropped
        unread += [
            m.name
            for m in req.named("variant")
            if m.name not in FILLER  # the article "a" (a variant of search-v2)
            and not any(i in req.used for i in range(m.start, m.end))
            and not any(m.name == a or m.name in a.split(",") for a in translation.argv)
        ]
        # a number said as an estimate ("about 12 calls", "roughly 40s") is not a value to
        # record; a plan is one ("we plan about 800 results": --expected-results)
        argv = list(translation.argv)
        planned = argv[argv.index("--expected-results") + 1] if "--expected-results" in argv else ""
        estimates = [
            f"{t.text} {req.tokens[i + 1].text}"
            for i, t in enumerate(req.tokens[:-1])
            if t.kind == "word"
            and t.norm in _APPROX
            and req.tokens[i + 1].kind in ("num", "money", "frac")
            and not (req.tokens[i + 1].is_int and fmt(req.tokens[i + 1].value) == planned)
        ]
        if estimates:
            return incomplete(
                req.text,
                translation.argv,
                [repr(estimates[0])],
                f"{estimates[0]!r} is an estimate, and a result records what happened: "
                "edit the line with the exact number",
            )
        k = req.seq("for", "now")
        if k >= 0:
            unread.append("for now")
    # a metric said beside a change ("ship warm on cost") or a read that does not take one
    # ("show checkout-flow on cost") must be carried or asked about
    from trialbook.plain.ab_common import find_metric

    for i in range(len(req.tokens)):
        found = find_metric(req, i, anywhere=False) if req.free(i) else None
        if (
            found
            and found[0] not in translation.argv
            and not any(found[0] in a for a in translation.argv)
        ):
            unread.append(req.text[req.tokens[found[1]].start : req.tokens[found[2] - 1].end])
    unread += _unresolved_references(req, translation)
    # a word that names an option ("scorer", "alpha", "seed") no rule read: its value is lost
    unread += [
        t.text
        for i, t in enumerate(req.tokens)
        if t.kind == "word" and t.norm in _OPTION_NOUNS and req.free(i) and not _beside_read(req, i)
    ]
    # "description hi": the name of an option of this command no rule read (its value is lost)
    named = spoken.single_names(command_path(translation.argv))
    unread += [
        t.text
        for i, t in enumerate(req.tokens)
        if t.kind == "word" and t.norm in named and req.free(i) and not _beside_read(req, i)
    ]
    if command_path(translation.argv) == ("eval", "compare"):
        # "fail if it has any regressions": a gate on regressions no rule read (0 was not typed)
        unread += [
            req.tokens[i].text
            for i in req.indexes({"regressions", "regression", "regressed"})
            if req.free(i) and i not in req.in_name
        ]
    for i in req.indexes({"fail", "fails", "exit", "exits"}):
        # "…, fail on keep control", "exit if it's worse": a gate no rule read is never dropped
        if req.free(i) and req.w(i + 1) in (
            "if",
            "when",
            "on",
            "unless",
            "under",
            "below",
            "whenever",
        ):
            unread.append(f"{req.tokens[i].text} {req.tokens[i + 1].text}")
    if not left and not unknown and not dropped and not unread:
        return translation
    what = (
        left[0].text
        if left
        else unknown[0].text
        if unknown
        else dropped[0].name
        if dropped
        else unread[0]
    )
    return incomplete(
        req.text,
        translation.argv,
        [repr(what)],
        f"I read this much, but not what {what!r} is for; edit the line, or say it with "
        "its option name",
    )


def _use_purpose(req: Request) -> None:
    """Who or what a read is for, said at its end or before a colon at its start ("give me X
    as markdown for the wiki", "for CI: fail if …"): one word no rule knows after "for" (and
    an article), never a store name, a number or a known word; it asks for nothing more."""
    toks = req.tokens

    def purpose(j: int) -> bool:
        t = toks[j] if j < len(toks) else None
        return (
            t is not None
            and t.kind == "word"
            and req.free(j)
            and j not in req.in_name
            and (t.norm not in KNOWN or t.norm in ("ci", "team", "review"))
            and t.norm not in NEVER_VALUES
        )

    if req.w(0) == "for":  # "for CI: …", "for the wiki: …"
        j = 1 + (req.w(1) in ("the", "our", "my", "a"))
        if purpose(j) and req.p(j + 1) == ":":
            req.use(*range(0, j + 2))
    for k in req.indexes({"for"}):
        # "… for the wiki", "as markdown for the wiki, with …": the phrase ends its clause
        j = k + 1 + (req.w(k + 1) in ("the", "our", "my", "a", "an", "this"))
        ends = j + 1 >= len(toks) or toks[j + 1].text in (",", ";", ".", "!", "?")
        if req.free(k) and purpose(j) and ends:
            req.use(*range(k, j + 1))


#: words that name an option of some command: left unread, what they name was not carried
_OPTION_NOUNS = _w(
    """scorer scorers alpha epochs epoch concurrency budget timeout seed seeds split splits
    function guardrail guardrails stages mde margin covariate junit ttl retries repeats
    regressions"""
)


def _beside_read(req: Request, i: int) -> bool:
    """Whether the word at ``i`` stands beside something a rule read ("the exact scorer",
    "3 epochs"), past "the", "a", "of", "is" and ":"."""
    skip = {"the", "a", "an", "of", "is"}
    for step in (-1, 1):
        j = i + step
        while 0 <= j < len(req.tokens) and (req.w(j) in skip or req.p(j) in (":", "=")):
            j += step
        if 0 <= j < len(req.tokens) and (j in req.used or j in req.in_name):
            return True
    return False


#: what "this"/"that" may point at, by the kind of name the focus (``use NAME``) holds
_POINTED = {
    "test": _w("test experiment a/b one"),
    "run": _w("run eval evaluation one"),
    "canary": _w("canary rollout one"),
}
#: "the new one", "the other one": a thing picked by a description the store cannot check
_DESCRIBED = _w("new old other first second third last latest previous newer older better worse")


def _unresolved_references(req: Request, translation: Translation) -> list[str]:
    """ "that position", "this run", "the new one": a thing pointed at, not named. It is read
    as the name in focus when the focus is of that kind and the command carries it; otherwise
    the request is asked about (never resolved by a guess)."""
    focus = req.focus or ""
    kind = (
        "test"
        if focus in req.vocab.tests or focus in req.vocab.archived
        else "run"
        if focus in req.vocab.runs
        else "canary"
        if focus in req.vocab.canaries
        else ""
    )
    carried = any(a == focus or a.endswith(f":{focus}") for a in translation.argv) and focus
    out: list[str] = []
    toks = req.tokens
    for i, t in enumerate(toks):
        if not (t.kind == "word" and req.free(i)):
            continue
        nxt = req.w(i + 1)
        said = f"{t.text} {toks[i + 1].text}" if i + 1 < len(toks) else t.text
        if i + 1 < len(toks) and toks[i + 1].norm == "one":
            nxt = "one"  # "one" is lexed as a number
        if t.norm in ("this", "that", "these", "those", "same") and nxt:
            if kind and carried and nxt in _POINTED[kind]:
                req.use(i, i + 1)
            elif nxt in _w("position event result results session case stage one ones") or any(
                nxt in nouns for nouns in _POINTED.values()
            ):
                out.append(said)
        elif (
            t.norm == "the"
            and nxt in _DESCRIBED
            and i + 2 < len(toks)
            and toks[i + 2].norm in ("one", "ones")
        ):
            out.append(f"{said} {toks[i + 2].text}")
    return out


def _unnegated(req: Request, translation: Translation) -> Translation:
    """Refuse a change whose request holds a "not", "never" or "no" that no rule read.

    Rules that understand a negation ("did not succeed", "no errors", "don't ship
    warm") mark its word as used; any other negation could mean the opposite of
    the line (``never ship warm`` is not ``ab conclude --ship warm``), so a write
    is never made from it, and a read is offered pre-filled (:func:`_read_unnegated`).
    """
    if translation.status == "refused":
        return translation
    if not is_write(translation.argv):
        return _read_unnegated(req, translation)
    for i, t in enumerate(req.tokens):
        if t.kind == "word" and t.norm in NEGATORS and req.free(i):
            before = req.tokens[i - 1] if i else None
            joined = before is not None and before.end == t.start  # "don't" lexed as do + not
            said = req.text[before.start if joined and before else t.start : t.end]
            return refused(
                req.text,
                f"the request says {said!r}, and I do not turn a negated request into a change; "
                "say what to do without it, or type the command",
            )
    return translation


#: words that leave out what follows them ("analyze X without the plot"): a read that did not
#: read one is asked about, as with "not"
_READ_NEGATORS = _w("without except excluding instead")


def _read_unnegated(req: Request, translation: Translation) -> Translation:
    """A read whose request holds a "not", "never" or "no" that no rule read is asked about.

    "compare a and b, not broken down by difficulty" or "I don't care about 2 points" read
    without the negation would be the opposite request: the line is offered pre-filled
    instead, naming the word (#24 round 2; the rules that understand a negation mark it used).
    """
    for i, t in enumerate(req.tokens):
        if t.kind == "word" and t.norm in NEGATORS | _READ_NEGATORS and req.free(i):
            return incomplete(
                req.text,
                translation.argv,
                [repr(t.text)],
                f"the request says {t.text!r}, and I read this much without it; edit the line "
                "to say what you want",
            )
    for i, t in enumerate(req.tokens):  # "show only warm results": a filter no rule read
        if t.kind == "word" and t.norm == "only" and req.free(i) and req.w(i + 1) != "show":
            if _only_filters(req, i, translation):
                continue
            return incomplete(
                req.text,
                translation.argv,
                [repr(t.text)],
                "the request says 'only', and this command shows everything; edit the line "
                "with the option that filters, if it has one",
            )
    return translation


#: options that restrict what a command shows or exports to part of it: "only" beside what
#: filled one of them says no more than the option ("show case q3 only", "keeping only judge
#: scores of at least 0.8")
_FILTERS = _w(
    """--case --variant --min-score --max-score --scorer --type --stream --actor --failed
    --stalled --status --split --suite --stage --unit-id"""
)


#: the words of a filter a rule read ("scoring at least 0.6", "passed ones")
_FILTER_CUES = _w("scoring scored score passed passing succeeded successful failed failing")
#: what a filter keeps, said between "only" and the filter ("only sessions scoring …")
_KEPT = _w("sessions results rollouts ones cases records those with that which a an")


def _only_filters(req: Request, i: int, translation: Translation) -> bool:
    """Whether the free "only" at ``i`` stands beside (past "the", and "keeping" before it) a
    token a rule read into a filtering option of ``translation`` (then it adds nothing)."""
    if not any(a in _FILTERS for a in translation.argv):
        return False
    before, after = i - 1, i + 1
    if req.w(after) in ("the",) and req.free(after):
        after += 1
    # "only (the) sessions (with a) score of at least 0.6": past what is kept, to the filter
    while req.w(after) in _KEPT and after not in req.in_name:
        after += 1
    read = lambda j: 0 <= j < len(req.tokens) and (j in req.used or j in req.in_name)  # noqa: E731
    values = {
        a for k, a in enumerate(translation.argv[1:], 1) if translation.argv[k - 1] in _FILTERS
    }
    near = [j for j in (before, after) if read(j) and req.tokens[j].kind != "punct"]
    if not any(
        req.tokens[j].text in values
        or req.tokens[j].norm in values
        or j in req.in_name
        or any(req.tokens[j].norm in v for v in values)
        or req.tokens[j].norm in _FILTER_CUES
        for j in near
    ):
        return False
    if req.w(before) == "keeping" and req.free(before):
        req.use(before)
    req.use(i)
    return True


def _first(req: Request) -> int:
    """Index of the first token after leading politeness ("please", "can you", "let's")."""
    i = 0
    while i < len(req.tokens) and req.w(i) in _LEAD and i not in req.in_name:
        i += 1
    return i


def _route(req: Request) -> Translation:  # noqa: C901 - one ordered table of rules
    text = req.text
    ws = set(req.words())
    first = _first(req)
    fw = req.w(first)
    words = req.words()
    # "could you record a warm result …": a request put politely, not a question
    polite = len(words) > 2 and words[0] in ("can", "could", "would", "will") and words[1] == "you"
    question = req.is_question() and not (polite and words[2] in _POLITE_VERBS)
    tests = req.named("test", "archived")
    runs = req.named("run")
    suites = req.named("suite")
    variants = ab.variant_mentions(req)
    has_path = any(t.kind == "path" for t in req.tokens)

    # ---- out of scope, destructive, several requests at once
    if (
        req.words()
        and req.words()[0] in ("ab", "eval", "events", "audit", "projections")
        and "--" in text
    ):
        return refused(
            text, "that looks like a command line, not a request; check it with `help COMMAND`"
        )
    rolls_back = req.seq("roll", "back") >= 0 or bool(ws & {"rollback", "revert"})
    if (
        ws & DESTROY_WORDS
        or req.seq("hard", "delete") >= 0
        or (req.seq("for", "good") >= 0 and not rolls_back)
    ):
        return refused(
            text,
            "trialbook never destroys recorded data; `ab archive NAME` hides a test and `ab restore NAME` brings it back",
        )
    if (
        ws & OUT_OF_SCOPE
        or req.seq("drop", {"table", "tables", "database", "db"}) >= 0
        or "sql" in ws
    ):
        return refused(
            text,
            "that is outside what trialbook does (A/B tests, evals, the event log)",
            _close_examples(req),
        )
    if app.is_help(req):
        return app.help_request(req, lambda rest: _topic(rest, req))
    if "demo" in ws and not (tests or runs or suites):
        return app.demo(req)
    viewish = bool(ws & {"view", "viewer", "dashboard"}) or {"web", "ui"} <= ws
    if (
        viewish
        and ws
        & {
            "web",
            "serve",
            "browser",
            "port",
            "start",
            "open",
            "launch",
            "ui",
            "viewer",
            "up",
            "run",
            "share",
        }
        and not (tests or runs or suites or ws & TEST_WORDS)
    ):
        return app.view(req)
    # ---- written out for others: decision reports and datasets (a canary's too)
    if reports.is_decision_report(req) and not ws & AUDIT_WORDS:
        return reports.decision_report(req)
    if reports.is_dataset_export(req) and not ws & {"traces", "trace"}:
        return reports.dataset(req)
    if canary.is_canary_request(req):
        routed = canary.route(req, translate)
        if routed is not None:
            return routed
    if fw in _EDIT_VERBS:
        return refused(
            text,
            "recorded results and events are never edited; add a corrected result, or conclude again",
        )
    if (fw in ARCHIVE_VERBS or fw in ("clear", "empty", "reset")) and (
        ws & {"event", "events", "log", "ledger", "database", "db", "history", "result", "results"}
    ):
        return refused(
            text,
            "the event log is append-only: events and results cannot be deleted (a test can be archived)",
        )
    if _several_clauses(req) or "then" in ws or req.seq("after", "that") >= 0:
        return refused(text, "one request at a time, please")
    groups = [g for g in _WRITE_GROUPS if ws & g]
    if len(groups) > 1 and not _same_family(groups):
        return refused(text, "that asks for more than one change; one request at a time, please")
    if fw in ("use", "focus") and len(req.tokens) <= 3:
        named = req.named("test", "canary")
        line = f"use {named[0].name}" if len(named) == 1 else "use NAME"
        return refused(text, f"`use NAME` is a shell command: type `{line}`", [line])
    if fw in ("clear", "wipe", "blank") and set(words) <= {
        "clear",
        "wipe",
        "blank",
        "the",
        "screen",
        "terminal",
        "display",
        "please",
        "my",
    }:  # "clear the screen": the shell's own word, nothing to run
        return refused(text, "`clear` is a shell command: type `clear`", ["clear"])

    # ---- audit and the log's integrity
    audit_cue = (
        "audit" in ws
        or "audits" in ws
        or (
            req.seq("why", {"did", "was", "were", "have", "had"}) >= 0
            # "why did case q7 fail in baseline-0401?": a run's case, shown (runs hold no
            # decisions to audit)
            and not (req.named("run") and not tests)
        )
        or req.seq("would", "we", "still") >= 0
        or req.seq("did", "we", {"ship", "conclude", "decide", "stop", "keep"}) >= 0
        or bool(ws & (AUDIT_WORDS - {"audit", "audits", "auditing", "replay"}))
        or req.seq("how", "did", "we", {"decide", "conclude"}) >= 0
        or ("decision" in ws and ws & {"still", "hold", "holds", "valid", "stand", "stands"})
        or (
            ws & {"decision", "decisions"}
            and ws
            & {
                "check",
                "verify",
                "recheck",
                "re-check",
                "replay",
                "reproduce",
                "reproduced",
                "reproducible",
                "rerun",
                "redo",
            }
        )
    )
    if audit_cue and (
        "trail" in ws
        or (ws & {"log", "chain", "ledger", "events", "hash"} and not tests and not variants)
    ):
        if "trail" in ws:
            return ledger.events_log(req)
        return ledger.events_verify(req)
    if audit_cue:
        # "audit X into a.md": a document written to a file is the audit report
        written = any(
            t.kind == "path" and t.text.lower().endswith((".md", ".json")) for t in req.tokens
        )
        report = bool(ws & REPORT_WORDS) or bool({"markdown", "md"} & ws) or written
        return ledger.audit(req, report)
    if (
        ws & REPORT_WORDS
        and set(FORMAT_WORDS) & ws
        and (tests or req.focus)
        and not ws & RESULT_WORDS
    ):
        return ledger.audit(req, True)
    if (
        ws & _VERIFY_STRONG
        or (
            (ws & {"check", "validate"} or fw == "test")
            and ws & {"log", "chain", "ledger", "hashes", "hash"}
            and not tests
        )
        or req.seq("hash", "chain") >= 0
        or (
            question
            and ws & {"log", "ledger", "chain"}
            and ws
            & {
                "ok",
                "okay",
                "fine",
                "healthy",
                "sound",
                "corrupt",
                "corrupted",
                "broken",
                "unbroken",
                "untampered",
                "valid",
                "consistent",
            }
            and not (tests or runs or suites)
        )
    ):
        return ledger.events_verify(req)

    if any(t.kind == "actor" for t in req.tokens) and not (tests or runs or suites):
        return ledger.events_log(req)

    # ---- CUPED by a run's case scores ("adjust by each case's score in RUN"): a test's analysis
    if ws & ab.COVARIATE_CUES and (tests or req.focus in req.vocab.tests) and runs:
        return ab.analyze(req)

    # ---- eval traces, failed rollouts
    if ws & {"traces", "trace"} and (runs or req.focus in req.vocab.runs) and not tests:
        return ev.export(req)
    if ws & {"traces", "trace"} and ws & (EXPORT_WORDS | {"write", "save"}):
        return ev.export(req)
    if (
        (ws & {"retry", "re-run", "rerun", "redo"} or {"try", "again"} <= ws)
        and ws & {"failed", "failures", "failing", "errored"}
    ) and (runs or req.focus in req.vocab.runs or ws & {"rollouts", "run", "eval"}):
        return ev.retry_failed(req)
    if ws & EXPORT_WORDS and runs and not tests:
        return ev.export(req)
    if ws & EXPORT_WORDS and tests and ws & {"csv", "json"} and not ws & {"events", "log"}:
        return ab.read_test(req, "show")  # "dump the checkout-flow results as csv": ab show --csv

    # ---- single events, export, rebuild
    backup = req.seq("back", "up")
    picked = 0 <= req.index({"pick", "picking"}) < backup  # "pick X back up" resumes X
    if ws & EXPORT_WORDS or (backup >= 0 and not picked):
        if ws & (SUITE_WORDS | {"run", "runs", "eval", "evals"}):
            return refused(text, "only the event log can be exported here (`events export`)")
        return ledger.events_export(req)
    if (
        (ws & {"event", "position"} or req.p(first) == "#")
        and not ws & {"last", "latest", "recent", "events", "log", "logs", "every", "each"}
        and (
            any(t.is_int and req.free(i) for i, t in enumerate(req.tokens))
            or ("event" in ws and not tests and not runs)
        )
    ):
        return ledger.events_show(req)
    a_run = bool(suites) and any(t.kind in ("url", "spec") for t in req.tokens)
    if ws & REBUILD_WORDS and (
        (ws & PROJECTION_WORDS and not a_run) or not (tests or runs or suites)
    ):  # (not "rerun smoke on URL with no cache": a suite on a target is a run)
        return ledger.rebuild(req)

    # ---- evals
    if (
        ws & RESCORE_WORDS
        or req.seq("score", "again") >= 0
        or (
            ws & {"score", "grade", "judge"}
            and "again" in ws
            and (runs or req.focus in req.vocab.runs)
        )
        or req.seq({"re-run", "rerun"}, {"scorer", "scorers", "judge"}) >= 0
        or req.seq({"re-run", "rerun"}, "the", {"scorer", "scorers", "judge"}) >= 0
    ):
        return ev.rescore(req)
    run_names = req.names_of("run")
    other_run_verb = fw in RESUME_WORDS | {"retry", "export", "resume", "rescore", "show", "open"}
    against_focus = (
        len(run_names) == 1
        and req.focus in req.vocab.runs
        and req.focus != run_names[0]
        and bool(ws & (COMPARE_WORDS | {"over", "relative", "break", "broken"}))
    )
    if (
        (len(run_names) >= 2 and not other_run_verb)
        or against_focus
        or (
            ws & {"compare", "comparison", "diff", "vs", "versus"}
            and (run_names or ws & {"runs", "evals"})
            and not tests
            and not variants
        )
    ):
        return ev.compare(req)
    if (
        ws & RESUME_WORDS
        and (
            runs or ws & {"run", "eval", "evaluation", "interrupted"} or req.focus in req.vocab.runs
        )
        and not tests
    ):
        return ev.resume(req)
    if (
        has_path
        and ws & {"import", "load", "ingest"}
        and (ws & _LOG_PLACES or _log_file(req))
        and not (tests or ws & SUITE_WORDS or ws & RESULT_WORDS)
    ):
        # "import log.jsonl into this db", "load events-0401.jsonl": the file or the place
        # it goes into is the event log, not a test (`events export > log.jsonl`, --help)
        return ledger.events_import(req)
    toml_only = all(t.text.lower().endswith(".toml") for t in req.tokens if t.kind == "path")
    if has_path and (
        (ws & {"config", "configuration"} and (suites or ws & RUN_VERBS))
        # "synth config synth_eval.toml, seeds 0-99": a run config (.toml) named as one
        or (toml_only and ws & {"config", "configuration", "seeds", "synth"} and not tests)
        or (
            (ws & RUN_VERBS or any(t.kind in ("url", "spec") for t in req.tokens))
            and all(
                t.text.lower().endswith((".toml", ".xml")) for t in req.tokens if t.kind == "path"
            )
        )
    ):  # a run config, or the JUnit file a run writes
        return ev.run(req)
    if has_path and ws & {"transcript", "transcripts"} and not ws & SUITE_WORDS:
        return ab.add_result(req)  # "record a cold session … with transcript cold-17.json"
    if has_path:
        path = next(t for t in req.tokens if t.kind == "path")
        suite_like = (
            bool(ws & SUITE_WORDS)
            or bool(suites)
            or ("described" in ws or "description" in ws)
            or path.text.lower().endswith((".yaml", ".yml"))
            or "case" in path.text.lower()
        )
        if suite_like and not (tests and ws & RESULT_WORDS):
            return ev.suite_add(req)
        return ab.import_results(req)
    if ws & {"stdin", "piped"} or req.seq("standard", "input") >= 0:
        return ab.import_results(req)  # "read search-v2 results from stdin"
    if fw in ("import", "load", "ingest", "upload", "bulk") or (
        fw in ("add", "register") and ws & SUITE_WORDS and not variants
    ):
        return ev.suite_add(req) if ws & SUITE_WORDS else ab.import_results(req)
    target = any(t.kind in ("url", "spec") for t in req.tokens)
    run_verb = (
        fw in RUN_VERBS
        or (fw in ("evaluate", "eval") and not question)
        or req.seq("kick", "off") >= 0
    )
    if target or (
        run_verb
        and (
            suites
            or ws & SUITE_WORDS
            or (fw in ("run", "execute", "launch", "start", "kick") and ws & {"eval", "evaluation"})
        )
        and not runs
        and not (tests and not suites)
    ):  # "run an eval" is a run, of a suite it asks for
        return ev.run(req)
    if (ws & {"suites", "datasets"} or ("list" in ws and "suite" in ws)) and not suites:
        return _command(text, ["eval", "suite", "list"])
    if fw in ("run", "rerun", "re-run", "redo", "repeat") and (
        ws & {"again", "rerun", "re-run", "redo", "repeat"}
    ):
        return refused(  # "run it again": a run is never re-run in place
            text,
            "a run is not run again in place: `eval run SUITE --target T` starts a new one, "
            "`eval retry-failed RUN` retries its failures, `eval resume RUN` finishes it",
        )
    if runs and not tests and ws & STOP_WORDS:
        return refused(text, "a running eval stops with Ctrl-C; `eval resume RUN` continues it")

    # ---- A/B tests: writes
    if (
        ws & RESTORE_VERBS
        or (req.seq("bring") >= 0 and "back" in ws)
        or req.seq("undo", {"archive", "archiving", "delete"}) >= 0
    ):
        return ab.restore(req)
    if (
        fw in ARCHIVE_VERBS
        or (ws & (ARCHIVE_VERBS - {"drop", "bin"}) and not question)
        or req.seq("get", "rid", "of") >= 0
    ):
        if ws & {"all", "everything", "every"}:
            return refused(text, "archive one test at a time, by name")
        if variants and ws & {"variant", "variants", "arm", "arms"}:
            return refused(
                text,
                "variants cannot be removed from a test; archive the whole test, or create a new one",
            )
        if not tests and (runs or suites):
            return refused(text, "only A/B tests can be archived")
        archived = ab.archive(req)
        cut = req.index({"because", "reason", "since", "as", "note", "notes", "why"})
        said = (
            set(req.words()[: len([t for t in req.tokens[:cut] if t.kind == "word"])])
            if cut >= 0
            else ws
        )
        if archived.status == "command" and said & {"delete", "deleting", "deleted"}:
            # "delete X" asks to destroy it, and trialbook never does: archiving is another
            # change (X is hidden, and `ab restore` brings it back), so it is offered, not made
            return refused(
                text,
                "tests are never deleted; archiving hides one from `ab list` (`ab restore` "
                f"brings it back): to do that, type `{archived.line}`",
                [archived.line],
            )
        return archived
    if not question and (
        ws & SHIP_VERBS
        or req.seq(KEEP_CONTROL, {"the", "with"}, {"control", "baseline"}) >= 0
        or req.seq(KEEP_CONTROL, {"control", "baseline"}) >= 0
        or req.seq({"go", "going", "went"}, "with") >= 0
        or req.seq("roll", "out") >= 0
        or req.seq("switch", "to") >= 0
        or req.seq({"pick", "choose", "select", "promote"}) >= 0
        and variants
        or (fw in STOP_WORDS and not runs)
        or (_clause_stop(req) and not runs and not req.named("canary"))
        or ("call" in ws and "off" in ws and req.index({"call"}) < req.index({"off"}))
        or req.seq({"decided", "settled"}, {"on", "for"}) >= 0
        or any(req.w(m.start - 1) in KEEP_CONTROL for m in variants)
    ):
        return ab.conclude(req)
    create_verb = (
        fw in ("create", "make", "setup", "define", "start", "begin", "new", "launch", "open")
        or bool(ws & {"create", "define"})
        or req.seq("set", "up") >= 0
    )
    if create_verb and fw == "open" and (runs or suites) and not ws & TEST_WORDS:
        create_verb = False  # "open eval run bad": open to read it
    named_new = req.seq(TEST_WORDS, {"called", "named"}) >= 0  # "make a test called x, …"
    noun = first + 1 + (req.w(first + 1) in ("a", "an"))
    noun += req.w(noun) in ("new", "a/b", "ab")
    # "make a test x with …, we plan 600 results": the verb's object is a test (a plan's
    # "results" are no result to record)
    named_new = named_new or (create_verb and req.w(noun) in TEST_WORDS)
    if create_verb and (
        named_new
        or not (ws & RESULT_WORDS and variants and fw not in ("create", "define", "setup"))
    ):
        if req.seq("set", "up") >= 0:
            req.use(req.seq("set", "up"), req.seq("set", "up") + 1)
        return ab.create(req)
    if "new" in ws and ws & TEST_WORDS and not question and not ws & RESULT_WORDS:
        return ab.create(req)
    if not question and _name_colon_pair(req):
        return ab.create(req)  # "summarizer-ab: short vs long, compare on cost"
    if not question and _defined_new_test(req):
        return ab.create(req)  # "ab test llm-swap with gpt4o vs sonnet, we plan 1000 results"
    if not question and not ws & RESULT_WORDS and _test_named_new(req):
        return ab.create(req)  # "an A/B test called x, variants …", "ab test x: a vs b"
    if not question and _adds_result(req, ws, fw, first, variants):
        return ab.add_result(req)

    # ---- reads
    run_said = runs or (req.focus in req.vocab.runs and not tests)
    if run_said and not tests and "case" in ws and ws & {"happened", "happen", "went", "going"}:
        return ev.show(req)  # "what happened on case q1 in RUN?": the case's rollouts
    recorded = (
        question
        and req.seq("what", {"was", "were", "got", "has", "have", "is"}) >= 0
        and ws & {"recorded", "appended", "logged", "written"}
    )  # "what was recorded on X since D?": what the log holds, not the results' table
    if (
        recorded
        or ws
        & {
            "events",
            "log",
            "logs",
            "logged",
            "history",
            "happened",
            "happening",
            "timeline",
            "activity",
        }
        and not (ws & ANALYZE_WORDS - _TYPE_WORDS or ws & SUMMARY_WORDS - {"going"})
    ):
        return ledger.events_log(req)
    if suites and not runs and not tests:
        return ev.suite_show(req)
    if ws & SUITE_WORDS and (ws & SHOW_WORDS or question) and not tests:
        return ev.suite_show(req)
    if runs and not tests:
        return ev.show(req)
    if (
        (ws & {"runs", "evals", "evaluations"} and fw not in RUN_VERBS)  # "run the evals": which?
        or ("list" in ws and ws & {"eval", "run"} and not runs)
    ) and not tests:
        # "any stalled runs?", "list eval runs, are any stalled?": the list shows each run's
        # state (a question of which runs are in it, answered by the list)
        for i in req.indexes(_RUN_STATES):
            asked = req.w(i - 1) in ("any", "which", "anything", "something") or (
                req.w(i - 1) in ("stalled", "still") and req.w(i - 2) in ("any", "anything")
            )
            if req.w(i + 1) in ("runs", "evals", "ones") or asked:
                req.use(i)
                if asked and req.w(i - 2) in ("are", "is", "were") and req.free(i - 2):
                    req.use(i - 2)
        return _command(text, ["eval", "list"])
    if ws & {"run", "eval", "evaluation"} and ws & SHOW_WORDS and not tests:
        return ev.show(req)
    if req.seq({"no", "without"}, ab.NO_INFERENCE) >= 0 and (tests or req.focus in req.vocab.tests):
        return ab.read_test(req, "summary")  # "the numbers for X, no inference": not an analysis
    if (
        ws & ANALYZE_WORDS
        or req.seq("should", "we") >= 0
        or req.seq("how", {"many", "much"}, {"more", "longer"}) >= 0
        or (req.seq("how", "many") >= 0 and "need" in ws)
        or (ws & {"enough", "power", "mde", "detectable", "median", "percentile"})
        or any(t.kind == "num" and t.unit == "pp" for t in req.tokens)
        or any(_QUANTILE.fullmatch(w) for w in ws)
        or (req.seq("relative", "to") >= 0 and variants)
        or (req.seq("any", "good") >= 0 and variants)
        or ws & {"cuped", "covariate", "adjust", "adjusted", "adjusting"}
        or req.seq("after", {"each", "every"}, {"result", "session"}) >= 0  # the --history
        or (question and (variants or tests) and _names_metric(req))
        or (question and req.seq("ready", "to", "ship") >= 0 and (tests or req.focus))
        or (ws & {"break", "broken", "breaking"} and "down" in ws and (tests or req.focus))
        or (ws & (COMPARE_WORDS | {"compare"}) and (tests or variants or req.focus))
        or (req.seq({"compared", "relative"}, {"to", "with"}) >= 0 and (tests or variants))
    ):
        return ab.analyze(req)
    if ws & {"run", "eval", "evaluation"} and not tests:
        return ev.show(req)
    if (
        ws & SUMMARY_WORDS
        or req.seq("how", {"is", "are", "did", "does"}) >= 0
        or (fw == "how" and tests)
    ):
        if req.focus in req.vocab.runs and not tests:
            return ev.show(req)  # "how did it do?" with a run in focus
        return ab.read_test(req, "summary")
    ab_list = fw == "ab" and req.w(first + 1) in ("list", "ls")  # the command's words, typed
    if (ws & {"tests", "experiments"} or (fw in ("list", "ls") or ab_list)) and not tests:
        return ab.list_tests(req)
    if ws & SHOW_WORDS and req.focus in req.vocab.runs and not tests:
        return ev.show(req)
    if (
        (tests or req.focus in req.vocab.tests)
        and not ws & (_SHOW_ROWS | LIST_WORDS | LOG_WORDS | RESULT_WORDS)
        and _names_metric(req)
    ):
        # "cost per success on checkout-flow", "error rate for onboarding": a metric of a test,
        # with nothing else asked, is its analysis on that metric
        return ab.analyze(req)
    if tests or (
        ws & SHOW_WORDS and (ws & TEST_WORDS or ws & RESULT_WORDS or req.focus in req.vocab.tests)
    ):
        if ws & LOG_WORDS - {"recorded"} and not ws & RESULT_WORDS:
            return ledger.events_log(req)
        shown = ab.read_test(req, "show")
        stray = _unplaced_words(req)
        if shown.status == "command" and stray:
            # "put onboarding away", "are we there yet on onboarding?": nothing asked to show it;
            # the words are not read, so the line is offered, not run
            return incomplete(
                text,
                shown.argv,
                [repr(stray[0])],
                f"I read only the test's name, not what {stray[0]!r} asks; edit the line, or "
                "say what to do with it",
            )
        return shown
    if ws & LOG_WORDS or req.seq("what", {"happened", "changed"}) >= 0:
        return ledger.events_log(req)
    if ws & {"test", "experiment"} and ws & {"list", "what", "which"}:
        return ab.list_tests(req)
    return _not_understood(req)


#: words a request that only shows a test may hold besides its name ("show me the onboarding test")
_SHOW_FILLER = (
    SHOW_WORDS | TEST_WORDS | RESULT_WORDS | LIST_WORDS
    | _w("a an the me us please pls can could would you i we want to let about on for of in its it "
         "what whats what's is are was how how's tell give get current currently called named "
         "our my this that so far recorded stored data and with all everything any its "
         "there do does have has just now again full whole entire table rows like looks "
         "looking status state")
)  # fmt: skip


def _unplaced_words(req: Request) -> list[str]:
    """Free words of a request that shows a test which say something else ("away", "yet")."""
    return [
        t.text
        for i, t in enumerate(req.tokens)
        if t.kind == "word" and req.free(i) and t.norm not in _SHOW_FILLER
    ]


def _names_metric(req: Request) -> bool:
    """Whether a metric is named ("what is the success rate of treatment?")."""
    from trialbook.plain.ab_common import find_metric

    return find_metric(req) is not None


def _topic(rest: str, req: Request) -> tuple[str, ...]:
    """The command a help question's "how do I …" part would become (for `help COMMAND`)."""
    inner = Request(rest, req.vocab, req.focus)
    if app.is_help(inner):
        return ()
    return command_path(_route(inner).argv)


#: verbs that start a request of their own after a ";" ("create x; ship warm")
_CLAUSE_VERBS = (
    ADD_VERBS | ARCHIVE_VERBS | RESTORE_VERBS | SHIP_VERBS | STOP_WORDS | RUN_VERBS | RESCORE_WORDS
    | RESUME_WORDS | EXPORT_WORDS | REBUILD_WORDS | VERIFY_WORDS | ANALYZE_WORDS | SHOW_WORDS
    | SUMMARY_WORDS | _w("create make import load delete remove compare list conclude")
)  # fmt: skip


def _several_clauses(req: Request) -> bool:
    """Whether a ";" starts a second request: a clause after it that begins with a verb of its
    own ("create x; ship warm"). "…; we plan to collect 600 results" adds to the first."""
    cuts = [i for i, t in enumerate(req.tokens) if t.text == ";"]
    for i in cuts:
        k = i + 1
        while req.w(k) in _LEAD | _w("also and then") and k < len(req.tokens):
            k += 1
        if k >= len(req.tokens) or req.w(k) in _CLAUSE_VERBS:
            return True
    return False


def _same_family(groups: list[frozenset[str]]) -> bool:
    """ "import … add …" (a suite or results) is one request, not two."""
    return {min(g) for g in groups} <= {"import", "add"}


def _adds_result(req: Request, ws: set[str], fw: str, first: int, variants: list) -> bool:
    """Whether a statement records a result: a verb like "add"/"record"/"log", or a variant with numbers."""
    if ws & {"median", "percentile"} or any(_QUANTILE.fullmatch(w) for w in ws):
        return False  # "median cost, terse vs verbose", "p95 completion time": a statistic
    for m, n in zip(variants, variants[1:], strict=False):
        if any(req.w(k) in ("vs", "versus", "against", "than") for k in range(m.end, n.start)):
            return False  # "error rate: warm vs cold": two variants set against each other
    if fw not in ADD_VERBS and any(
        req.w(m.start - 1) in ("to", "with") and req.w(m.start - 2) in ("compared", "relative")
        for m in variants
    ):
        return False  # "tool success rate on search-v2 compared to control": a comparison
    if fw in ADD_VERBS - {"log", "note", "report", "store", "register"}:
        return True
    if fw == "ran" and variants and variants[0].start == first + 1:
        req.use(first)  # "just ran warm on checkout-flow - 8 calls, …": a session to record
        return True
    if (
        fw in ("log", "register", "report", "store", "track")
        and req.w(first + 1) not in ("for", "of", "since", "")
        or (fw in ("log", "register") and variants)
    ):
        return True
    if (ws & {"add", "record"}) and (ws & RESULT_WORDS or variants):
        return True
    if fw in ANALYZE_WORDS | SHOW_WORDS | SUMMARY_WORDS | {"compare", "list", "audit"}:
        return False  # "analyze it on success": a read that names a result word
    signals = ws & (
        CALL_NOUNS
        | TOKEN_NOUNS
        | ERROR_NOUNS
        | SUCCESS_POS
        | SUCCESS_NEG
        | FAIL_WORDS
        | COST_WORDS
        | SCORE_WORDS
        | MESSAGE_NOUNS
        | CORRECTION_NOUNS
        | OK_WORDS
        | {"took", "succeed", "pass"}
        | {"crashed", "died", "aborted", "bombed", "blew", "timed"}  # a session's end, said
    )
    units = any(t.kind == "num" and t.unit in ("s", "usd") for t in req.tokens) or any(
        t.kind in ("frac", "kv") for t in req.tokens
    )
    return bool(variants or ws & RESULT_WORDS or req.focus in req.vocab.tests) and bool(
        signals or units
    )


def _command(text: str, argv: list[str]) -> Translation:
    return command(text, argv)


def _close_examples(req: Request, n: int = 3) -> list[str]:
    words = set(req.words())
    scored = []
    for request, cmd in EXAMPLES:
        overlap = len(words & set(name_parts(request.replace(",", " ").replace(":", " "))))
        if overlap:
            scored.append((-overlap, request, cmd))
    scored.sort()
    return [f"{r}  →  {c}" for _, r, c in scored[:n]]


def _not_understood(req: Request) -> Translation:
    close = req.close_names()
    if close:
        word, names = close[0]
        return refused(
            req.text, f"I don't know {word!r}; did you mean {' or '.join(names)}?", names
        )
    return refused(
        req.text,
        "I did not understand that; `help examples` lists requests I understand",
        _close_examples(req),
    )


#: (plain request, command) pairs for ``help examples``; each translates exactly so (tested)
EXAMPLES: tuple[tuple[str, str], ...] = (
    (
        "create a test pricing comparing monthly vs annual",
        "ab create pricing --variants monthly,annual",
    ),
    (
        "add a warm result: 12 calls, 11 ok, took 40s",
        "ab add-result checkout-flow --variant warm --tool-calls 12 --successful-calls 11 --completion-time 40",
    ),
    (
        "cold did not succeed, 2 min, 1.5k tokens, $0.03",
        "ab add-result checkout-flow --variant cold --completion-time 120 --tokens 1500 --cost 0.03 --failure",
    ),
    ("import results.jsonl into checkout-flow", "ab import checkout-flow results.jsonl"),
    ("what tests do I have?", "ab list"),
    ("summarize checkout-flow", "ab summary checkout-flow"),
    ("which variant is winning?", "ab analyze checkout-flow"),
    ("is warm faster than cold?", "ab analyze checkout-flow --metric completion_time"),
    (
        "ship warm because it is faster",
        "ab conclude checkout-flow --ship warm --note 'it is faster'",
    ),
    ("archive checkout-flow", "ab archive checkout-flow"),
    ("why did we ship warm?", "audit checkout-flow"),
    ("show me the log", "events log"),
    ("is the log intact?", "events verify"),
    (
        "run smoke against http://127.0.0.1:8000/task with 3 epochs",
        "eval run smoke --target http://127.0.0.1:8000/task --epochs 3",
    ),
    ("compare baseline with candidate", "eval compare baseline candidate"),
    ("is candidate an improvement over baseline?", "eval compare baseline candidate"),
    ("show the last 10 results as json", "ab show checkout-flow --limit 10 --json"),
    (
        "analyze checkout-flow on success to detect a 5 point lift",
        "ab analyze checkout-flow --metric success --mde 5pp",
    ),
    ("rescore candidate with judge", "eval rescore candidate --scorer judge"),
    ("how is the canary doing?", "canary status router-v2"),
    ("move router-v2 to 50%", "canary advance router-v2 --to 50"),
)

#: the store the examples are written against
EXAMPLE_VOCABULARY = Vocabulary(
    tests={"checkout-flow": ("cold", "warm")},
    suites={"smoke"},
    runs={"baseline", "candidate"},
    scorers={"exact", "judge"},
    canaries={"router-v2": (10, 50, 100)},
)


def examples() -> list[tuple[str, str]]:
    """(plain request, command) pairs for ``help examples``."""
    return list(EXAMPLES)
