"""The ``ab add-result`` rule: one result of one variant from a sentence such as
"add a warm result: 12 calls, 11 ok, 40s, $0.03, 2 errors, case q7, note: flaky network".

:func:`add_result` runs the slot-fillers below over the request, each reading one
family of phrases (its docstring names them) into :class:`Slots`; a slot given
twice with different values is a conflict, and the request is refused rather
than one value picked. :func:`_result_checks` then asks for what is missing or
does not add up (calls that fail and succeed more than were made, a vague
amount, a noun without its number).
"""

from __future__ import annotations

from decimal import Decimal

from trialbook.domain.metrics import CUSTOM_METRIC_RE
from trialbook.plain.ab_common import (
    BE,
    int_at,
    no_such_variant,
    note_text,
    num_at,
    skip,
    value_at,
    variant_choices,
    variant_mentions,
)
from trialbook.plain.lex import fmt, tokenize
from trialbook.plain.request import (
    Request,
    number_refusal,
    resolve_test,
    unknown_refusal,
)
from trialbook.plain.types import Translation, command, incomplete, refused
from trialbook.plain.words import (
    CALL_MODIFIERS,
    CALL_NOUNS,
    CASE_CUES,
    CORRECTION_NOUNS,
    COST_WORDS,
    ERROR_NOUNS,
    FAIL_WORDS,
    KNOWN,
    MESSAGE_NOUNS,
    NEGATORS,
    NEVER_VALUES,
    OK_WORDS,
    SCORE_WORDS,
    SUCCESS_NEG,
    SUCCESS_POS,
    TIME_CUES,
    TOKEN_NOUNS,
    VAGUE_WORDS,
    VARIANT_CUES,
    ZERO_WORDS,
    _w,
)

_OPTION_ORDER = (
    "session_id",
    "tool_calls",
    "successful_calls",
    "errors",
    "error",
    "completion_time",
    "messages",
    "corrections",
    "tokens",
    "cost",
    "score",
    "success",
    "case_id",
    "metric",
    "dimension",
    "notes",
    "transcript",
)


class Slots:
    """Values found for a result, with the first conflict (the same slot given twice)."""

    def __init__(self, req: Request) -> None:
        self.req = req
        self.values: dict[str, str] = {}
        self.lists: dict[str, list[str]] = {"error": [], "metric": [], "dimension": []}
        self.conflict: str | None = None

    def set(self, key: str, value: str, *idx: int) -> None:
        old = self.values.get(key)
        if old is not None and old != value and self.conflict is None:
            self.conflict = f"{key.replace('_', ' ')} is given twice ({old} and {value})"
        self.values.setdefault(key, value)
        self.req.use(*idx)


def add_result(req: Request) -> Translation:
    """``ab add-result NAME --variant V …`` from "add a warm result: 12 calls, 11 ok, 40s"."""
    s = Slots(req)
    for m in variant_mentions(req):
        # "cold one failed", "a warm one: …": "one" right after a variant is the result it
        # names (a pronoun), never a count ("one failed" read as 1 failed call)
        t = req.tokens[m.end] if m.end < len(req.tokens) else None
        if t is not None and t.spelled and t.norm == "one" and req.free(m.end):
            req.use(m.end)
        # "warm again: 10 calls …": one more result of that variant
        if t is not None and t.norm == "again" and req.free(m.end) and m.start == 0:
            req.use(m.end)
    notes, _ = note_text(req)
    if notes:
        s.set("notes", notes)
    _kv_slots(req, s)
    _call_slots(req, s)
    _count_slots(req, s)
    _money_time_score(req, s)
    _id_slots(req, s)
    _dimension_words(req, s)
    _failed_with(req, s)
    _said_measures(req, s)
    for i in req.indexes(ERROR_NOUNS):
        if not req.free(i):  # the error (its count or message) was read: its verb with it
            _error_verb(req, i)
    for i in req.indexes({"attach", "attaching"}):
        # "attach the transcript t.json to a new treatment result": the result it goes with
        if req.free(i) and "transcript" in s.values and req.has({"result", "session"}):
            req.use(i)
            k = req.seq("to", {"a", "the"}, "new")
            if k >= 0:
                req.use(k, k + 1, k + 2)
    for i in req.indexes({"again"}):  # "warm passed again": one more result, like "another"
        if req.w(i - 1) in ("passed", "failed", "succeeded", "worked") and req.free(i):
            req.use(i)
    keys = [d.partition("=")[0] for d in s.lists["dimension"]]
    for k in keys:
        if keys.count(k) > 1 and s.conflict is None:  # "category=billing, category=refunds"
            s.conflict = f"dimension {k} is given twice"
    for verb in ({"got", "gets", "get"}, {"nailed"}):
        # "b got it right", "warm got it wrong", "nailed it": the task's outcome, said idiomatically
        k = req.seq(verb, "it", *([{"right", "wrong"}] if "got" in verb else []))
        if k >= 0 and all(req.free(x) for x in range(k, k + 2 + ("got" in verb))):
            wrong = req.w(k + 2) == "wrong"
            if req.w(k - 1) in NEGATORS or req.w(k - 2) in NEGATORS:
                continue  # "didn't get it right": left for the negation check (asked)
            req.use(*range(k, k + 2 + ("got" in verb)))
            s.set("success", "failure" if wrong else "success")
    for words in (  # "errored out", "crashed", "timed out", "gave up": the session failed
        ({"errored", "erred", "bombed", "conked"}, "out"),
        ({"timed"}, "out"),
        ({"gave", "giving"}, "up"),
        ({"blew", "blown"}, "up"),  # "the candidate blew up for user-5"
        ({"crashed", "aborted", "died"},),
    ):
        k = req.seq(*words)
        if k >= 0 and all(req.free(x) for x in range(k, k + len(words))):
            end = k + len(words)
            while req.w(end) in _HOW_FAR and req.free(end):  # "died halfway", "crashed early"
                end += 1
            req.use(*range(k, end))
            s.set("success", "failure")
    for i in req.indexes({"but", "yet"}):  # "… 14 messages but passed": a conjunction
        # "but it succeeded", "but it still passed", "but still failed"
        j = i + 1 + (req.w(i + 1) in ("it", "they", "this") and req.free(i + 1))
        j += req.w(j) == "still" and req.free(j)
        if req.w(j) in SUCCESS_POS | SUCCESS_NEG and req.free(i):
            req.use(*range(i, j))
    outcome = _success(req)
    if isinstance(outcome, Translation):
        return outcome
    if outcome:
        s.set("success", outcome)
    said = [t.text for i, t in enumerate(req.tokens) if req.free(i) and t.norm in _OUTCOME_LEFT]
    if said and "success" not in s.values:
        # an outcome word no phrase read ("cold broken after 3 calls"): asked, never dropped
        s.conflict = (
            s.conflict or f"did it succeed? {said[0]!r} does not say (--success or --failure)"
        )

    # the variant: store names only, the article "a" excluded
    mentions = variant_mentions(req)
    explicit = s.values.pop("variant", None)
    cue_unknown = _variant_cue_unknown(req)
    names = list(dict.fromkeys([m.name for m in mentions] + ([explicit] if explicit else [])))
    test = resolve_test(req, ["ab", "add-result"], variants=[n for n in names if _owned(req, n)])
    if isinstance(test, Translation):
        if test.status == "incomplete":
            return incomplete(
                req.text,
                ["ab", "add-result", *_result_options(s, names[0] if names else None)],
                ["NAME"],
                "which test?",
                test.suggestions,
            )
        return test
    choices = variant_choices(req, test)
    names = [n for n in names if n in choices] if any(n in choices for n in names) else names
    if len(names) > 1:
        return refused(
            req.text, f"which variant: {' or '.join(names)}? add one result at a time", names
        )
    if s.conflict:
        return refused(req.text, f"ambiguous: {s.conflict}")
    if names and names[0] not in choices:
        return refused(
            req.text, f"{names[0]!r} is not a variant of {test} ({', '.join(choices)})", choices
        )
    if cue_unknown and not names:
        return no_such_variant(req, test, cue_unknown, choices)
    for m in mentions:
        if m.name in names:
            req.use_match(m)
    refusal = number_refusal(req)
    if refusal:
        return refusal
    checks = _result_checks(req, s)
    if s.conflict:
        return refused(req.text, f"ambiguous: {s.conflict}")
    negative = [
        k
        for k, x in s.values.items()
        if x.startswith("-") and k not in ("score", "notes", "case_id", "session_id")
    ]
    if negative:
        return refused(req.text, f"{negative[0].replace('_', ' ')} cannot be negative")
    if checks is not None:
        argv = ["ab", "add-result", test, *(["--variant", names[0]] if names else [])]
        missing, reason = checks
        return incomplete(req.text, [*argv, *_result_options(s, None)], missing, reason)
    vague = [i for i in req.indexes(_VAGUE_OUTCOME) if req.free(i) and "success" not in s.values]
    if vague:
        argv = ["ab", "add-result", test, *(["--variant", names[0]] if names else [])]
        return incomplete(
            req.text,
            [*argv, *_result_options(s, None)],
            ["--success"],
            f"did it succeed? {req.tokens[vague[0]].text!r} does not say: --success or --failure",
        )
    unknown = req.unknown_words()
    if unknown and not names and unknown[0].kind == "word":
        return no_such_variant(req, test, unknown[0].text, choices)
    refusal = unknown_refusal(req, "Put free text after 'note:'.")
    if refusal:
        return refusal
    if not names:
        argv = ["ab", "add-result", test, *_result_options(s, None)]
        return incomplete(req.text, argv, ["--variant VARIANT"], "which variant?", choices)
    return command(
        req.text, ["ab", "add-result", test, "--variant", names[0], *_result_options(s, None)]
    )


#: words that end a failure said before "with" its message ("died with", "blew up with")
_FAILED_BEFORE_WITH = _w("failed fail fails died crashed errored broke up out aborted bombed")


def _failed_with(req: Request, s: Slots) -> None:
    """``--error TEXT`` from the message a failure was said with: 'c just died with "upstream
    502"', 'blew up for user-5 with "null route"' (the quoted text right after "with", a
    failure word at most three words before it; the outcome stays for the outcome reader)."""
    for j, t in enumerate(req.tokens):
        if t.kind != "quote" or not req.free(j) or req.w(j - 1) != "with" or not req.free(j - 1):
            continue
        if any(req.w(k) in _FAILED_BEFORE_WITH for k in range(j - 5, j - 1)):
            s.lists["error"].append(t.text)
            req.use(j - 1, j)


def _said_measures(req: Request, s: Slots) -> None:
    """Measures said in sentences: "csat 4.5 as a custom metric" (``--metric csat=4.5``), "the
    user had to correct it 2 times" (``--corrections 2``), "the judge gave it 0.82" / "scored
    0.82" (``--score``), and the count before the messages of ``--error`` ("1 error 'x'": the
    messages are the count, so it is read only when it equals their number)."""
    toks = req.tokens
    for i, t in enumerate(toks):
        if not req.free(i):
            continue
        # KEY N as a (custom) metric
        if t.kind == "word" and CUSTOM_METRIC_RE.match(t.norm) and t.norm not in KNOWN:
            v = i + 1
            if v < len(toks) and toks[v].kind == "num" and toks[v].unit is None and req.free(v):
                e = v + 1
                if req.w(e) == "as":
                    e += 1 + (req.w(e + 1) in ("a", "the"))
                    e += req.w(e) == "custom"
                    if req.w(e) == "metric":
                        a = i - (req.w(i - 1) in ("log", "with", "and", "plus") and req.free(i - 1))
                        req.use(*range(a, e + 1))
                        s.lists["metric"].append(f"{t.norm}={toks[v].text}")
                        continue
        # correct(ed) it N times
        if req.w(i) in ("correct", "corrected", "correcting", "fix", "fixed"):
            j = i + 1 + (req.w(i + 1) in ("it", "them", "the"))
            j += req.w(j) in ("agent", "bot", "answer")
            if j < len(toks) and toks[j].is_int and req.w(j + 1) in ("times", "time"):
                a = i
                while req.w(a - 1) in ("had", "to", "user", "the", "customer") and req.free(a - 1):
                    a -= 1
                req.use(*range(a, j + 2))
                s.set("corrections", str(toks[j].text))
                continue
        # the judge gave it 0.82, scored 0.82
        if req.w(i) in ("gave", "rated", "scored"):
            j = i + 1 + (req.w(i + 1) in ("it", "this", "that"))
            j += req.w(j) in ("a", "an")
            if j < len(toks) and toks[j].kind == "num" and toks[j].unit is None and req.free(j):
                a = i
                while req.w(a - 1) in ("judge", "the", "grader") and a > 0:
                    a -= 1
                req.use(*range(a, j + 1))
                s.set("score", toks[j].text)
                continue
    # "resolution score 0.7": what the score is called there, before the score that was read
    for i in req.indexes({"score"}):
        k = i - 1
        t = toks[k] if k >= 0 else None
        if (
            t is not None
            and not req.free(i)
            and req.free(k)
            and t.kind == "word"
            and k not in req.in_name
            and t.norm not in KNOWN | NEVER_VALUES
            and req.p(k - 1) in (",", ":", "")
        ):
            req.use(k)
    # "1 error "x"": the count of the messages read after it, when it is that number
    for i, t in enumerate(toks):
        if t.is_int and req.free(i) and req.w(i + 1) in ERROR_NOUNS and not req.free(i + 1):
            quotes = 0
            k = i + 2 + (req.p(i + 2) == ":")  # '2 errors: "a" and "b"'
            while k < len(toks) and toks[k].kind == "quote":
                quotes += 1
                k += 1 + (req.w(k + 1) == "and" or req.p(k + 1) == ",")
            if quotes and t.value == quotes:
                req.use(i)


def _owned(req: Request, variant: str) -> bool:
    """Some test in the store (active or archived) has a variant called ``variant``."""
    return any(variant in vs for vs in [*req.vocab.tests.values(), *req.vocab.archived.values()])


def _result_options(s: Slots, variant: str | None) -> list[str]:
    """The slots as ``ab add-result`` options, in :data:`_OPTION_ORDER`."""
    out: list[str] = ["--variant", variant] if variant else []
    for key in _OPTION_ORDER:
        if key == "success":
            flag = s.values.get("success")
            if flag:
                out.append(f"--{flag}")
            continue
        if key in ("error", "metric", "dimension"):
            for item in s.lists[key]:
                out += [f"--{key}", item]
            continue
        if key in s.values:
            out += ["--" + key.replace("_", "-"), s.values[key]]
    return out


def _result_checks(req: Request, s: Slots) -> tuple[list[str], str] | None:
    """Missing values: a slot named without a number, a vague amount, calls that don't add up."""
    v = s.values
    failed = v.pop("failed_calls", None)
    all_ok = v.pop("all_ok", None)
    if all_ok is not None:
        if "tool_calls" not in v:
            return ["--tool-calls N"], "how many tool calls were there?"
        s.set("successful_calls", v["tool_calls"])
    if failed is not None:
        if failed == "0" and "tool_calls" in v:
            s.set("successful_calls", v["tool_calls"])
        elif "successful_calls" not in v:
            total = f" of {v['tool_calls']}" if "tool_calls" in v else ""
            return [
                "--successful-calls N"
            ], f"{failed}{total} calls failed: how many succeeded? (--successful-calls)"
        elif "tool_calls" in v and Decimal(v["successful_calls"]) + Decimal(failed) != Decimal(
            v["tool_calls"]
        ):
            s.conflict = f"{v['successful_calls']} ok and {failed} failed do not make {v['tool_calls']} calls"
            return None
    if "successful_calls" in v and "tool_calls" not in v:
        return ["--tool-calls N"], "how many tool calls were there in all?"
    if "successful_calls" in v and Decimal(v["successful_calls"]) > Decimal(v["tool_calls"]):
        s.conflict = (
            f"{v['successful_calls']} successful calls is more than {v['tool_calls']} calls"
        )
        return None
    if v.get("tool_calls") or req.indexes(CALL_NOUNS):
        for i in req.indexes(OK_WORDS - SUCCESS_POS):
            if req.free(i) and i > 0:
                s.conflict = (
                    s.conflict or f"what does {req.tokens[i].text!r} refer to? say e.g. '11 ok'"
                )
                return None
    for i, t in enumerate(req.tokens):
        if t.kind == "word" and t.norm in VAGUE_WORDS and req.free(i):
            noun = _noun_after(req, i)
            return [
                f"--{noun} N" if noun else "a number"
            ], f"'{t.text}' is not a number: say exactly how many"
    for words, opt in (
        (CALL_NOUNS, "--tool-calls N"),
        (TOKEN_NOUNS, "--tokens N"),
        (MESSAGE_NOUNS, "--messages N"),
        (CORRECTION_NOUNS, "--corrections N"),
        (ERROR_NOUNS, "--errors N"),
        (COST_WORDS, "--cost USD"),
        (SCORE_WORDS, "--score X"),
        (frozenset({"took", "duration", "lasted", "latency"}), "--completion-time SECONDS"),
    ):
        for i in req.indexes(words):
            if req.free(i):
                return [opt], f"no number given for {req.tokens[i].text!r}"
    return None


def _noun_after(req: Request, i: int) -> str:
    """The option a vague amount is about: "a few calls" → ``tool-calls`` (up to 3 words on)."""
    for j in range(i + 1, min(i + 4, len(req.tokens))):
        w = req.w(j)
        for words, opt in (
            (CALL_NOUNS, "tool-calls"),
            (ERROR_NOUNS, "errors"),
            (TOKEN_NOUNS, "tokens"),
            (MESSAGE_NOUNS, "messages"),
            (CORRECTION_NOUNS, "corrections"),
        ):
            if w in words:
                return opt
    return ""


def _variant_cue_unknown(req: Request) -> str | None:
    """A word after "variant"/"arm"/"group" that is no store name: the user named a variant we lack."""
    for i in req.indexes(VARIANT_CUES):
        j = skip(req, i + 1, frozenset({"is", "called", "named"}), ":=")
        if (
            j < len(req.tokens)
            and req.free(j)
            and req.tokens[j].kind == "word"
            and req.tokens[j].norm not in KNOWN
        ):
            return req.tokens[j].text
    return None


#: how far a session that failed got ("died halfway", "crashed early on")
_HOW_FAR = frozenset({"halfway", "midway", "partway", "early", "immediately"})
#: words that say what the result they stand before was ("a failing warm result")
_OUTCOME_ADJECTIVES = {"failing": "failure", "passing": "success", "errored": "failure"}
_RESULT_NOUNS = frozenset({"result", "session", "run", "attempt", "episode", "one"})
#: words that judge a session without saying whether it succeeded ("warm was ok")
#: outcome words that, left unread, would drop what the request says of the session
_OUTCOME_LEFT = frozenset({"errored", "broken", "wrong", "failing", "failures", "crash", "crashes"})
_VAGUE_OUTCOME = frozenset({"ok", "okay", "fine", "good", "well", "great", "bad", "poor", "decent"})

_KV_NUMERIC = {
    "tool_calls": "tool_calls",
    "tool-calls": "tool_calls",
    "calls": "tool_calls",
    "successful_calls": "successful_calls",
    "successful-calls": "successful_calls",
    "ok_calls": "successful_calls",
    "ok": "successful_calls",
    "errors": "errors",
    "completion_time": "completion_time",
    "completion-time": "completion_time",
    "time": "completion_time",
    "duration": "completion_time",
    "messages": "messages",
    "corrections": "corrections",
    "tokens": "tokens",
    "cost": "cost",
    "score": "score",
}
_KV_TEXT = {
    "case_id": "case_id",
    "case-id": "case_id",
    "case": "case_id",
    "session_id": "session_id",
    "session-id": "session_id",
    "variant": "variant",
    "arm": "variant",
    "group": "variant",
    "session_type": "variant",
    "notes": "notes",
    "note": "notes",
}
_INT_SLOTS = frozenset(
    {"tool_calls", "successful_calls", "errors", "messages", "corrections", "tokens"}
)


def _kv_slots(req: Request, s: Slots) -> None:
    """``key=value`` tokens: ``calls=12``, ``tool_calls=12``, ``ok=11``, ``successful_calls=11``,
    ``errors=2``, ``time=40s``/``duration=40``, ``messages=``, ``corrections=``, ``tokens=``,
    ``cost=0.03``, ``score=0.8``; ``case=q1``/``case_id=``, ``session_id=``,
    ``variant=warm``/``arm=``/``group=``/``session_type=``, ``note=``/``notes=``;
    ``success=true|yes|1|y`` or ``false|no|0|n``; any other key that is a custom metric name,
    with a bare number, is ``--metric key=N``. A value in the wrong unit (``time=3usd``) or a
    count that is not whole (``calls=2.5``) is left for the checks to report."""
    for i, t in enumerate(req.tokens):
        if t.kind != "kv" or not req.free(i):
            continue
        key, _, raw = t.text.partition("=")
        key = key.lower()
        if key in _KV_TEXT:
            if _KV_TEXT[key] == "variant":
                s.set("variant", raw, i)
            else:
                s.set(_KV_TEXT[key], raw, i)
            continue
        if key == "success":
            if raw.lower() in ("true", "yes", "1", "y"):
                s.set("success", "success", i)
            elif raw.lower() in ("false", "no", "0", "n"):
                s.set("success", "failure", i)
            continue
        toks = tokenize(raw)
        words = len(toks) == 1 and toks[0].kind == "word"
        if words and key not in _KV_NUMERIC and CUSTOM_METRIC_RE.match(key):
            # "category=billing", "model=m2": a segment the session is in (a number is a metric)
            s.lists["dimension"].append(f"{key}={raw}")
            req.use(i)
            continue
        if len(toks) != 1 or toks[0].kind != "num" or toks[0].value is None:
            continue
        num = toks[0]
        slot = _KV_NUMERIC.get(key)
        if slot is None:
            if CUSTOM_METRIC_RE.match(key) and num.unit is None:
                s.lists["metric"].append(f"{key}={fmt(num.value)}")
                req.use(i)
            continue
        if slot == "completion_time" and num.unit not in (None, "s"):
            continue
        if slot == "cost" and num.unit not in (None, "usd"):
            continue
        if slot in _INT_SLOTS and not (
            num.unit is None and num.value == num.value.to_integral_value()
        ):
            continue
        s.set(slot, fmt(num.value), i)


#: dimension keys said as words before their value ("in category billing", "model m2")
_DIMENSION_KEYS = frozenset({"category", "segment", "model", "region", "language", "tier"})


def _dimension_words(req: Request, s: Slots) -> None:
    """``--dimension KEY=VALUE`` from "in category billing", "category: billing", "on model
    m2": a dimension key word right before one value that is no known word or store name."""
    toks = req.tokens
    for i in req.indexes(_DIMENSION_KEYS):
        if not req.free(i):
            continue
        j = i + 1 + (req.p(i + 1) in (":", "="))
        if j >= len(toks) or not req.free(j) or toks[j].kind != "word" or toks[j].norm in KNOWN:
            continue
        if not CUSTOM_METRIC_RE.match(toks[j].norm) or toks[j].norm in NEVER_VALUES:
            continue
        a = i - 1 if req.w(i - 1) in ("in", "on", "for", "from") and req.free(i - 1) else i
        s.lists["dimension"].append(f"{req.w(i)}={toks[j].text}")
        req.use(*range(a, j + 1))


def _after_calls_noun(req: Request, j: int) -> tuple[bool, int]:
    """Skip "tool"/"function" then a calls noun: (found, index after it)."""
    j = skip(req, j, CALL_MODIFIERS)
    if req.w(j) in CALL_NOUNS and req.free(j):
        return True, j + 1
    return False, j


#: verbs of a call that went well, and the particles that go with them ("5 went through")
_PARTICLE_VERBS = frozenset({"went", "worked", "passed", "got", "came"})
_PARTICLES = frozenset({"through", "fine", "ok", "okay", "well"})


def _adjective(req: Request, j: int) -> tuple[str | None, int]:
    """An ok/failed word at ``j`` after optional "were"/"of them": ("ok"|"failed"|None, index after)."""
    k = skip(req, j, BE | {"of", "them", "which", "all"} if req.w(j) != "all" else BE)
    neg = req.w(k) in NEGATORS
    if neg:
        k += 1
    w = req.w(k)
    if w in OK_WORDS and req.free(k):
        # "went through", "went fine", "worked ok": the particle belongs to the verb
        if w in _PARTICLE_VERBS and req.w(k + 1) in _PARTICLES and req.free(k + 1):
            k += 1
        return ("failed" if neg else "ok"), k + 1
    if w in FAIL_WORDS and req.free(k):
        return ("ok" if neg else "failed"), k + 1
    return None, j


def _call_slots(req: Request, s: Slots) -> None:
    """Tool calls, in five shapes (see the comments below for each):

    - "11 of 12 calls ok", "11/12 calls succeeded", "11 ok out of 12 calls", "1 of 12 tool
      calls failed" (a count of a total without ok/failed is a conflict, asked about);
    - "12 calls", "12 tool calls", "11 ok calls", "1 failed call", "11 calls ok";
      "2.5 calls" is a conflict;
    - "calls: 12", "successful calls 11", "failed calls: 1";
    - "all ok", "all 12 calls succeeded", "none failed", "no failed calls", "not a single
      call failed", "zero failures";
    - once calls are in the request: "11 ok", "1 failed", "11 of them succeeded", "ok: 11".

    Failed calls become ``successful_calls`` in :func:`_result_checks` (total − failed).
    """
    toks = req.tokens
    # N of M calls ok / N/M calls ok / N ok out of M calls
    for i, t in enumerate(toks):
        if not req.free(i):
            continue
        if t.kind == "frac" and t.value is not None and t.value2 is not None:
            part, whole, j = fmt(t.value), fmt(t.value2), i + 1
        elif t.is_int:
            pre_adj, j = _adjective(req, i + 1)
            k = j
            if req.w(k) == "out":
                k += 1
            if req.w(k) != "of" or not int_at(req, k + 1):
                continue
            part, whole, j = value_at(req, i), value_at(req, k + 1), k + 2
        else:
            continue
        has_calls, j2 = _after_calls_noun(req, j)
        adj, j3 = _adjective(req, j2)
        if t.kind != "frac" and toks[i].is_int and adj is None:
            adj = _adjective(req, i + 1)[0]
        if adj is None:
            if has_calls:
                s.conflict = (
                    s.conflict or f"{part} of {whole} calls: say whether they succeeded or failed"
                )
                req.use(*range(i, j2))
            continue
        s.set("tool_calls", whole)
        s.set("successful_calls" if adj == "ok" else "failed_calls", part)
        req.use(*range(i, max(j3, j2)))
    # N [ok|failed] [tool] calls [ok|failed]
    for i in range(len(toks)):
        if (
            req.free(i)
            and toks[i].kind == "num"
            and not toks[i].is_int
            and _after_calls_noun(req, i + 1)[0]
        ):
            s.conflict = s.conflict or f"{toks[i].text} calls is not a whole number of calls"
            req.use(i)
            continue
        if not int_at(req, i):
            continue
        adj, j = _adjective(req, i + 1)
        if adj is not None and req.w(i + 1) in BE:
            continue
        found, j2 = _after_calls_noun(req, j if adj else i + 1)
        if not found:
            continue
        if adj is None:
            adj2, j3 = (None, j2) if req.p(j2) else _adjective(req, j2)
            if adj2 is not None and req.w(j2) not in BE and req.w(j2) not in ("all", "of"):
                s.set(
                    "successful_calls" if adj2 == "ok" else "failed_calls",
                    value_at(req, i),
                    *range(i, j3),
                )
                continue
            s.set("tool_calls", value_at(req, i), *range(i, j2))
        else:
            s.set(
                "successful_calls" if adj == "ok" else "failed_calls",
                value_at(req, i),
                *range(i, j2),
            )
    # "calls: 12", "successful calls 11", "failed calls: 1"
    for c in [i for i in req.indexes(CALL_NOUNS) if req.free(i)]:
        start = c
        while req.w(start - 1) in CALL_MODIFIERS and req.free(start - 1):
            start -= 1
        adj = None
        if req.w(start - 1) in OK_WORDS and req.free(start - 1):
            adj, start = "ok", start - 1
        elif req.w(start - 1) in FAIL_WORDS and req.free(start - 1):
            adj, start = "failed", start - 1
        j = skip(req, c + 1, BE | {"of"}, ":=")
        if int_at(req, j):
            key = {"ok": "successful_calls", "failed": "failed_calls"}.get(adj or "", "tool_calls")
            s.set(key, value_at(req, j), *range(start, j + 1))
    calls_context = bool(s.values.get("tool_calls")) or bool(req.indexes(CALL_NOUNS))
    # all ok / all 12 calls succeeded / none failed / no failed calls
    for i, t in enumerate(toks):
        if t.kind != "word" or not req.free(i):
            continue
        if t.norm in ("all", "every", "each", "both"):
            j = skip(req, i + 1, frozenset({"of", "them", "the"}))
            if int_at(req, j):
                s.set("tool_calls", value_at(req, j), j)
                j += 1
            _, j = _after_calls_noun(req, j)
            adj, k = _adjective(req, j)
            if adj == "ok":
                s.set("all_ok", "1", *range(i, k))
        elif t.norm in ZERO_WORDS or (t.norm == "not" and req.w(i + 1) in ("a", "one", "single")):
            j = i + 1 if t.norm != "not" else i + 2
            j = skip(req, j, frozenset({"of", "them", "the", "single", "a", "any"}))
            j0 = j
            if req.w(j) in FAIL_WORDS:
                found, k = _after_calls_noun(req, j + 1)
                if found or calls_context:
                    s.set("failed_calls", "0", *range(i, k))
                continue
            found, j = _after_calls_noun(req, j)
            adj, k = _adjective(req, j)
            if found and adj == "failed":
                s.set("failed_calls", "0", *range(i, k))
            elif req.w(j0) in ("failures", "failure") and calls_context:
                s.set("failed_calls", "0", *range(i, j0 + 1))
    # after "12 calls": "11 ok", "1 failed", "11 of them succeeded"; also "ok: 11"
    for i in range(len(toks)):
        if int_at(req, i):
            adj, j = _adjective(req, i + 1)
            if adj is not None and calls_context and req.w(j) not in CALL_NOUNS:
                s.set(
                    "successful_calls" if adj == "ok" else "failed_calls",
                    value_at(req, i),
                    *range(i, j),
                )
        elif req.w(i) in OK_WORDS | FAIL_WORDS and req.free(i) and calls_context:
            j = skip(req, i + 1, BE, ":=")
            if j > i + 1 and int_at(req, j):
                key = "successful_calls" if req.w(i) in OK_WORDS else "failed_calls"
                s.set(key, value_at(req, j), *range(i, j + 1))


def _count_slots(req: Request, s: Slots) -> None:
    """errors, messages, corrections, tokens: "2 errors", "errors: 2", "no errors", "1.5k tokens"."""
    toks = req.tokens
    table = (
        (ERROR_NOUNS, "errors"),
        (MESSAGE_NOUNS, "messages"),
        (CORRECTION_NOUNS, "corrections"),
        (TOKEN_NOUNS, "tokens"),
    )
    mods = frozenset({"tool", "user", "human", "total", "api", "more", "llm", "model"})
    for nouns, key in table:
        for i, t in enumerate(toks):
            if not req.free(i) or t.kind != "num":
                continue
            j = skip(req, i + 1, mods)
            if req.w(j) in nouns and req.free(j):
                if t.is_int:
                    s.set(key, value_at(req, i), *range(i, j + 1))
                else:
                    s.conflict = (
                        s.conflict or f"{t.text} {req.tokens[j].text} is not a whole number"
                    )
                    req.use(*range(i, j + 1))
        for i in req.indexes(nouns):
            if not req.free(i):
                continue
            j = skip(req, i + 1, BE | {"of", "used"}, ":=")
            start = i - 1 if req.w(i - 1) in mods else i
            if int_at(req, j):
                s.set(key, value_at(req, j), *range(start, j + 1))
                continue
            k = i - 1
            while k >= 0 and req.w(k) in mods | {"any", "a", "single"}:
                k -= 1
            if req.w(k) in ZERO_WORDS and req.free(k) and key != "tokens":
                s.set(key, "0", *range(k, i + 1))
    for i in req.indexes(frozenset({"used", "using", "consumed", "spent"})):
        if req.free(i) and i + 1 < len(toks) and not req.free(i + 1) and toks[i + 1].kind == "num":
            req.use(i)
    # errors named in quotes: error "timeout", errors: "a", "b"
    for i in req.indexes(ERROR_NOUNS | {"message", "messages"}):
        j = skip(req, i + 1, frozenset({"was", "were", "of", "with"}), ":=(")
        texts, k = [], j
        while k < len(toks) and toks[k].kind == "quote" and req.free(k):
            texts.append(toks[k].text)
            k = skip(req, k + 1, frozenset({"and"}), ",")
        if texts and req.w(i) in ERROR_NOUNS:
            # '2 errors ("timeout", "bad gateway")': the list in brackets, closed
            if req.p(j - 1) == "(" and req.p(k) == ")":
                k += 1
            elif req.p(j - 1) == "(":
                continue
            s.lists["error"].extend(texts)
            req.use(*range(i, k))


#: verbs a session meets an error with ("hit the error 'x'", "threw an error 'x'")
_ERROR_VERBS = _w("hit hits threw throws raised raises returned returns saw reported showed")


def _error_verb(req: Request, i: int) -> None:
    """The verb before an error noun whose count or message was read ("the warm session hit the
    error 'timeout'", "ran into an error 'x'", "hit 3 errors"): read with them."""
    a = i - 1
    if a >= 0 and not req.free(a) and (req.tokens[a].kind == "num" or req.w(a) in ZERO_WORDS):
        a -= 1  # "hit 3 errors", "saw no errors": the count was read
    while req.w(a) in ("the", "an", "a", "this", "that") and req.free(a):
        a -= 1
    if req.w(a) in _ERROR_VERBS and req.free(a):
        req.use(*range(a, i))
    elif req.w(a) == "into" and req.w(a - 1) in ("ran", "run", "runs") and req.free(a - 1):
        req.use(*range(a - 1, i))


def _money_time_score(req: Request, s: Slots) -> None:
    """Cost, completion time and score: "$0.03", "3 cents", "cost 0.03", "for $0.03", "at a
    cost of $0.03"; "40s", "2 min", "took 40s", "in about 40 seconds", "took 40",
    "duration: 40", "completion time 40", "latency 40"; "score 0.8", "scored 0.8",
    "a rating of 4". Money and time come as units from the lexer ("3 cents" → 0.03 usd)."""
    toks = req.tokens
    for i, t in enumerate(toks):
        if not req.free(i) or t.kind != "num" or t.value is None:
            continue
        if t.unit == "usd":
            s.set("cost", fmt(t.value), i)
            if req.w(i - 1) in COST_WORDS | {"for", "at"} and req.free(i - 1):
                req.use(i - 1)
            if req.w(i + 1) in COST_WORDS and req.free(i + 1):
                req.use(i + 1)  # "$0.05 cost", "3 cents spent"
            if req.w(i - 1) == "of" and req.w(i - 2) in COST_WORDS:
                req.use(i - 1, i - 2)
        elif t.unit == "s":
            s.set("completion_time", fmt(t.value), i)
            k = i - 1
            while (
                k >= 0
                and req.free(k)
                and req.w(k)
                in TIME_CUES
                | {"in", "after", "of", "a", "total", "for", "about", "around", "roughly"}
            ):
                k -= 1
            req.use(*range(k + 1, i))
    for i in req.indexes(COST_WORDS):
        j = skip(req, i + 1, BE | {"of", "was", "about"}, ":=")
        if num_at(req, j, None) or num_at(req, j, "usd"):
            s.set("cost", value_at(req, j), *range(i, j + 1))
        elif not req.free(i):
            continue
    for i in req.indexes(SCORE_WORDS):
        j = skip(req, i + 1, BE | {"of", "a", "an"}, ":=")
        if num_at(req, j, None):
            s.set("score", value_at(req, j), *range(i, j + 1))
    cues = frozenset({"took", "lasted", "duration", "time", "latency", "elapsed"})
    for i in req.indexes(cues):
        j = skip(req, i + 1, BE | {"of", "about", "around", "roughly"}, ":=")
        if num_at(req, j, None):
            s.set(
                "completion_time",
                value_at(req, j),
                *range(i - (req.w(i - 1) == "completion"), j + 1),
            )
    for i in req.indexes(frozenset({"completion", "completed", "finished", "took"})):
        if req.free(i) and i + 1 < len(toks) and not req.free(i + 1) and toks[i + 1].unit == "s":
            req.use(i)


def _id_slots(req: Request, s: Slots) -> None:
    """The case and session ids: "case q7", "case id q7", "case #3", "instance q7",
    "case-id q7"; "session id s-12", "session-id s-12", "sid s-12". A known word ("case
    succeeded") or a number with a unit is not an id."""
    toks = req.tokens
    for i in req.indexes(CASE_CUES):
        if req.w(i - 1) in ("ran", "run", "tried", "attempted") and req.free(i - 1):
            req.use(i - 1)  # "b ran case q7 and got 0.82": the case it was run on
    for i, t in enumerate(toks):
        if t.kind != "word" or not req.free(i):
            continue
        if t.norm in CASE_CUES or (t.norm in ("case-id", "case_id")):
            j = skip(req, i + 1, frozenset({"id", "is", "number", "no"}), ":=#")
            if (
                j < len(toks)
                and toks[j].kind in ("word", "num", "quote")
                and req.free(j)
                and toks[j].norm not in KNOWN | NEVER_VALUES
            ):
                if toks[j].kind == "num" and toks[j].unit is not None:
                    continue
                s.set("case_id", toks[j].text, *range(i, j + 1))
                if req.w(i - 1) in ("same", "the") and req.free(i - 1):
                    req.use(i - 1)  # "same case t-21": the case is named, so it pairs
        elif t.norm in ("transcript", "transcripts", "conversation", "chat"):
            # "with transcript cold-17.json": the session's messages (--transcript FILE)
            j = skip(req, i + 1, frozenset({"in", "at", "from", "file", "is"}), ":=")
            if j < len(toks) and toks[j].kind == "path" and req.free(j):
                s.set("transcript", toks[j].text, *range(i, j + 1))
                if req.w(i - 1) in ("with", "the", "its", "a") and req.free(i - 1):
                    req.use(i - 1)
        elif (t.norm == "session" and req.w(i + 1) == "id") or t.norm in (
            "session-id",
            "session_id",
            "sid",
        ):
            j = skip(req, i + 1, frozenset({"id", "is"}), ":=#")
            if j < len(toks) and toks[j].kind in ("word", "num", "quote") and req.free(j):
                s.set("session_id", toks[j].text, *range(i, j + 1))
        elif t.norm == "session" and i + 1 < len(toks) and req.free(i + 1):
            # "session s-991": an id has a digit in it; a word ("session succeeded") is not one
            nxt = toks[i + 1]
            if nxt.kind == "word" and nxt.norm not in KNOWN and any(c.isdigit() for c in nxt.text):
                s.set("session_id", nxt.text, i, i + 1)
        elif t.norm == "custom" and req.w(i + 1) in ("metric", "metrics"):
            req.use(i, i + 1)


def _success(req: Request) -> str | Translation | None:
    """ "succeeded"/"passed" → success; "failed"/"did not succeed"/"unsuccessful" → failure."""
    found: dict[str, list[int]] = {"success": [], "failure": []}
    toks = req.tokens
    for i in req.indexes(_OUTCOME_ADJECTIVES):
        # "a failing warm result", "one passing cold session": the word says what the result
        # it describes was, when a result noun follows it (past a variant's name)
        j = i + 1
        while j in req.in_name and any(m.kind == "variant" for m in req.in_name[j]):
            j += 1
        if req.free(i) and req.w(j) in _RESULT_NOUNS and req.w(i - 1) not in NEGATORS:
            found[_OUTCOME_ADJECTIVES[req.w(i)]].append(i)
            req.use(i)
    for i, t in enumerate(toks):
        if t.kind != "word" or not req.free(i):
            continue
        w = t.norm
        verbish = w in SUCCESS_POS | SUCCESS_NEG | {
            "succeed",
            "work",
            "solve",
            "finish",
            "complete",
        }
        if not verbish:
            continue
        if w in ("pass", "win", "complete", "finish", "work", "solve") and not (
            req.w(i - 1) in NEGATORS or req.w(i - 2) in NEGATORS
        ):
            continue
        negated = req.w(i - 1) in NEGATORS or (
            req.w(i - 2) in NEGATORS and req.w(i - 1) in ("a", "an", "the")
        )
        neg_idx = [i - 1] if req.w(i - 1) in NEGATORS else ([i - 2, i - 1] if negated else [])
        if req.w(i - 1) == "not" and req.w(i - 2) in ("did", "does", "was", "has", "is", "had"):
            neg_idx.append(i - 2)
        positive = w in SUCCESS_POS or w in ("succeed", "work", "solve", "finish", "complete")
        if negated:
            positive = not positive
        found["success" if positive else "failure"].append(i)
        req.use(i, *neg_idx)
    if found["success"] and found["failure"]:
        return refused(
            req.text, "ambiguous: the request says both that it succeeded and that it failed"
        )
    if found["success"]:
        return "success"
    if found["failure"]:
        return "failure"
    return None
