"""Rules for the ``ab`` commands: create, add-result, import, list, show, summary, analyze,
conclude, archive, restore.

Each rule reads a :class:`~trialbook.plain.request.Request` and returns one
:class:`~trialbook.plain.types.Translation`. Numbers come only from number tokens of
the request; names only from the store or, for a new test, from the request.
"""

from __future__ import annotations

from decimal import Decimal

from trialbook.domain.metrics import CUSTOM_METRIC_RE
from trialbook.domain.names import NAME_RE
from trialbook.plain.lex import Token, fmt, tokenize
from trialbook.plain.request import (
    NameMatch,
    Request,
    number_refusal,
    resolve_test,
    suggest,
    unknown_refusal,
)
from trialbook.plain.types import Translation, command, incomplete, refused
from trialbook.plain.words import (
    BECAUSE,
    CALL_MODIFIERS,
    CALL_NOUNS,
    CASE_CUES,
    CORRECTION_NOUNS,
    COST_WORDS,
    ERROR_NOUNS,
    FAIL_WORDS,
    FILLER,
    KEEP_CONTROL,
    KNOWN,
    MESSAGE_NOUNS,
    METRIC_PHRASES,
    NEGATORS,
    NOTE_CUES,
    OK_WORDS,
    SCORE_WORDS,
    SHIP_VERBS,
    STOP_WORDS,
    SUCCESS_NEG,
    SUCCESS_POS,
    TEST_WORDS,
    TIME_CUES,
    TOKEN_NOUNS,
    VAGUE_WORDS,
    VARIANT_CUES,
    ZERO_WORDS,
    _w,
)

BE = frozenset({"is", "are", "was", "were", "be", "had", "have", "has"})
#: words after a lone "a" that make it a variant ("a succeeded") rather than an article
_AFTER_VARIANT = _w(
    """and or vs versus v is was did does got had took succeeded failed passed won wins beats beat
    better worse than with to in on"""
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
    "notes",
)


class Slots:
    """Values found for a result, with the first conflict (the same slot given twice)."""

    def __init__(self, req: Request) -> None:
        self.req = req
        self.values: dict[str, str] = {}
        self.lists: dict[str, list[str]] = {"error": [], "metric": []}
        self.conflict: str | None = None

    def set(self, key: str, value: str, *idx: int) -> None:
        old = self.values.get(key)
        if old is not None and old != value and self.conflict is None:
            self.conflict = f"{key.replace('_', ' ')} is given twice ({old} and {value})"
        self.values.setdefault(key, value)
        self.req.use(*idx)


# --------------------------------------------------------------------- helpers


def _int_at(req: Request, i: int) -> bool:
    return req.free(i) and req.tokens[i].is_int


def _num_at(req: Request, i: int, unit: str | None = None) -> bool:
    return req.free(i) and req.tokens[i].kind == "num" and req.tokens[i].unit == unit


def _val(req: Request, i: int) -> str:
    return fmt(req.tokens[i].value)


def _skip(req: Request, i: int, words: frozenset[str] | set[str], punct: str = "") -> int:
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
            start = j + 1 if req.p(j) == ":" else j
        elif t.norm == "with" and req.w(j) in cues and j + 1 < len(req.tokens):
            start = _skip(req, j + 1, frozenset(), ":=")
        else:
            continue
        text = rest_text(req, start)
        req.use(*range(i, len(req.tokens)))
        return (text or None), i
    return None, -1


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
    if tok.text == "A" and m.start > 0:
        return False
    nxt = m.start + 1
    if nxt < len(req.tokens) and req.tokens[nxt].kind in ("num", "quote"):
        return True
    if nxt >= len(req.tokens) or req.tokens[nxt].kind != "word":
        return False
    return req.tokens[nxt].norm not in _AFTER_VARIANT


def variant_mentions(req: Request) -> list[NameMatch]:
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
    distinct = list(dict.fromkeys(found))
    if len(distinct) > 1:
        return refused(
            req.text, f"which metric: {' or '.join(distinct)}? analyze one at a time", distinct
        )
    return None


def _variant_choices(req: Request, test: str) -> list[str]:
    return list(req.vocab.variants_of(test))


# --------------------------------------------------------------------- add-result


def add_result(req: Request) -> Translation:
    """``ab add-result NAME --variant V …`` from "add a warm result: 12 calls, 11 ok, 40s"."""
    s = Slots(req)
    notes, _ = note_text(req)
    if notes:
        s.set("notes", notes)
    _kv_slots(req, s)
    _call_slots(req, s)
    _count_slots(req, s)
    _money_time_score(req, s)
    _id_slots(req, s)
    outcome = _success(req)
    if isinstance(outcome, Translation):
        return outcome
    if outcome:
        s.set("success", outcome)

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
    choices = _variant_choices(req, test)
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
        return _no_such_variant(req, test, cue_unknown, choices)
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
    unknown = req.unknown_words()
    if unknown and not names and unknown[0].kind == "word":
        return _no_such_variant(req, test, unknown[0].text, choices)
    refusal = unknown_refusal(req, "Put free text after 'note:'.")
    if refusal:
        return refusal
    if not names:
        argv = ["ab", "add-result", test, *_result_options(s, None)]
        return incomplete(req.text, argv, ["--variant VARIANT"], "which variant?", choices)
    return command(
        req.text, ["ab", "add-result", test, "--variant", names[0], *_result_options(s, None)]
    )


def _no_such_variant(req: Request, test: str, word: str, choices: list[str]) -> Translation:
    close = suggest(word, choices)
    hint = (
        f"did you mean {' or '.join(close)}?" if close else f"its variants are {', '.join(choices)}"
    )
    return refused(req.text, f"{test} has no variant {word!r}; {hint}", close or choices)


def _owned(req: Request, variant: str) -> bool:
    return any(variant in vs for vs in [*req.vocab.tests.values(), *req.vocab.archived.values()])


def _result_options(s: Slots, variant: str | None) -> list[str]:
    out: list[str] = ["--variant", variant] if variant else []
    for key in _OPTION_ORDER:
        if key == "success":
            flag = s.values.get("success")
            if flag:
                out.append(f"--{flag}")
            continue
        if key in ("error", "metric"):
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
        j = _skip(req, i + 1, frozenset({"is", "called", "named"}), ":=")
        if (
            j < len(req.tokens)
            and req.free(j)
            and req.tokens[j].kind == "word"
            and req.tokens[j].norm not in KNOWN
        ):
            return req.tokens[j].text
    return None


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


def _after_calls_noun(req: Request, j: int) -> tuple[bool, int]:
    """Skip "tool"/"function" then a calls noun: (found, index after it)."""
    j = _skip(req, j, CALL_MODIFIERS)
    if req.w(j) in CALL_NOUNS and req.free(j):
        return True, j + 1
    return False, j


def _adjective(req: Request, j: int) -> tuple[str | None, int]:
    """An ok/failed word at ``j`` after optional "were"/"of them": ("ok"|"failed"|None, index after)."""
    k = _skip(req, j, BE | {"of", "them", "which", "all"} if req.w(j) != "all" else BE)
    neg = req.w(k) in NEGATORS
    if neg:
        k += 1
    w = req.w(k)
    if w in OK_WORDS and req.free(k):
        return ("failed" if neg else "ok"), k + 1
    if w in FAIL_WORDS and req.free(k):
        return ("ok" if neg else "failed"), k + 1
    return None, j


def _call_slots(req: Request, s: Slots) -> None:
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
            if req.w(k) != "of" or not _int_at(req, k + 1):
                continue
            part, whole, j = _val(req, i), _val(req, k + 1), k + 2
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
        if not _int_at(req, i):
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
                    _val(req, i),
                    *range(i, j3),
                )
                continue
            s.set("tool_calls", _val(req, i), *range(i, j2))
        else:
            s.set(
                "successful_calls" if adj == "ok" else "failed_calls", _val(req, i), *range(i, j2)
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
        j = _skip(req, c + 1, BE | {"of"}, ":=")
        if _int_at(req, j):
            key = {"ok": "successful_calls", "failed": "failed_calls"}.get(adj or "", "tool_calls")
            s.set(key, _val(req, j), *range(start, j + 1))
    calls_context = bool(s.values.get("tool_calls")) or bool(req.indexes(CALL_NOUNS))
    # all ok / all 12 calls succeeded / none failed / no failed calls
    for i, t in enumerate(toks):
        if t.kind != "word" or not req.free(i):
            continue
        if t.norm in ("all", "every", "each", "both"):
            j = _skip(req, i + 1, frozenset({"of", "them", "the"}))
            if _int_at(req, j):
                s.set("tool_calls", _val(req, j), j)
                j += 1
            _, j = _after_calls_noun(req, j)
            adj, k = _adjective(req, j)
            if adj == "ok":
                s.set("all_ok", "1", *range(i, k))
        elif t.norm in ZERO_WORDS or (t.norm == "not" and req.w(i + 1) in ("a", "one", "single")):
            j = i + 1 if t.norm != "not" else i + 2
            j = _skip(req, j, frozenset({"of", "them", "the", "single", "a", "any"}))
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
        if _int_at(req, i):
            adj, j = _adjective(req, i + 1)
            if adj is not None and calls_context and req.w(j) not in CALL_NOUNS:
                s.set(
                    "successful_calls" if adj == "ok" else "failed_calls",
                    _val(req, i),
                    *range(i, j),
                )
        elif req.w(i) in OK_WORDS | FAIL_WORDS and req.free(i) and calls_context:
            j = _skip(req, i + 1, BE, ":=")
            if j > i + 1 and _int_at(req, j):
                key = "successful_calls" if req.w(i) in OK_WORDS else "failed_calls"
                s.set(key, _val(req, j), *range(i, j + 1))


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
            j = _skip(req, i + 1, mods)
            if req.w(j) in nouns and req.free(j):
                if t.is_int:
                    s.set(key, _val(req, i), *range(i, j + 1))
                else:
                    s.conflict = (
                        s.conflict or f"{t.text} {req.tokens[j].text} is not a whole number"
                    )
                    req.use(*range(i, j + 1))
        for i in req.indexes(nouns):
            if not req.free(i):
                continue
            j = _skip(req, i + 1, BE | {"of", "used"}, ":=")
            start = i - 1 if req.w(i - 1) in mods else i
            if _int_at(req, j):
                s.set(key, _val(req, j), *range(start, j + 1))
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
        j = _skip(req, i + 1, frozenset({"was", "were", "of", "with"}), ":=")
        texts, k = [], j
        while k < len(toks) and toks[k].kind == "quote" and req.free(k):
            texts.append(toks[k].text)
            k = _skip(req, k + 1, frozenset({"and"}), ",")
        if texts and req.w(i) in ERROR_NOUNS:
            s.lists["error"].extend(texts)
            req.use(*range(i, k))


def _money_time_score(req: Request, s: Slots) -> None:
    toks = req.tokens
    for i, t in enumerate(toks):
        if not req.free(i) or t.kind != "num" or t.value is None:
            continue
        if t.unit == "usd":
            s.set("cost", fmt(t.value), i)
            if req.w(i - 1) in COST_WORDS | {"for", "at"} and req.free(i - 1):
                req.use(i - 1)
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
        j = _skip(req, i + 1, BE | {"of", "was", "about"}, ":=")
        if _num_at(req, j, None) or _num_at(req, j, "usd"):
            s.set("cost", _val(req, j), *range(i, j + 1))
        elif not req.free(i):
            continue
    for i in req.indexes(SCORE_WORDS):
        j = _skip(req, i + 1, BE | {"of", "a", "an"}, ":=")
        if _num_at(req, j, None):
            s.set("score", _val(req, j), *range(i, j + 1))
    cues = frozenset({"took", "lasted", "duration", "time", "latency", "elapsed"})
    for i in req.indexes(cues):
        j = _skip(req, i + 1, BE | {"of", "about", "around", "roughly"}, ":=")
        if _num_at(req, j, None):
            s.set(
                "completion_time", _val(req, j), *range(i - (req.w(i - 1) == "completion"), j + 1)
            )
    for i in req.indexes(frozenset({"completion", "completed", "finished", "took"})):
        if req.free(i) and i + 1 < len(toks) and not req.free(i + 1) and toks[i + 1].unit == "s":
            req.use(i)


def _id_slots(req: Request, s: Slots) -> None:
    toks = req.tokens
    for i, t in enumerate(toks):
        if t.kind != "word" or not req.free(i):
            continue
        if t.norm in CASE_CUES or (t.norm in ("case-id", "case_id")):
            j = _skip(req, i + 1, frozenset({"id", "is", "number", "no"}), ":=#")
            if (
                j < len(toks)
                and toks[j].kind in ("word", "num", "quote")
                and req.free(j)
                and toks[j].norm not in KNOWN
            ):
                if toks[j].kind == "num" and toks[j].unit is not None:
                    continue
                s.set("case_id", toks[j].text, *range(i, j + 1))
        elif (t.norm == "session" and req.w(i + 1) == "id") or t.norm in (
            "session-id",
            "session_id",
            "sid",
        ):
            j = _skip(req, i + 1, frozenset({"id", "is"}), ":=#")
            if j < len(toks) and toks[j].kind in ("word", "num", "quote") and req.free(j):
                s.set("session_id", toks[j].text, *range(i, j + 1))


def _success(req: Request) -> str | Translation | None:
    """ "succeeded"/"passed" → success; "failed"/"did not succeed"/"unsuccessful" → failure."""
    found: dict[str, list[int]] = {"success": [], "failure": []}
    toks = req.tokens
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


# --------------------------------------------------------------------- create


_CREATE_STOP = _w(
    """with control baseline metric primary measuring measure optimize optimise goal guardrail
    guardrails description described category difficulty task where and for comparing"""
)
_LIST_SEP = frozenset({"and", "or", "vs", "versus", "v", "against"})


def _list_items(req: Request, j: int) -> tuple[list[str], int]:
    """Names separated by commas, "and", "vs", "/": ``cold, warm and hot``. Returns (items, end)."""
    items: list[str] = []
    toks = req.tokens
    while j < len(toks):
        t = toks[j]
        if (
            t.kind not in ("word", "quote", "num")
            or t.unit is not None
            or (t.kind == "num" and not t.spelled)
        ):
            break
        nxt = req.tokens[j + 1] if j + 1 < len(toks) else None
        if (
            items
            and t.norm in ("control", "baseline")
            and nxt is not None
            and ((nxt.kind == "word" and nxt.norm not in _LIST_SEP) or req.p(j + 1) in (":", "="))
        ):
            break
        if items and t.norm in _CREATE_STOP - {"and", "control", "baseline"}:
            break
        if t.norm in items and req.w(j + 1) in ("as", "is"):
            break
        if t.norm in ("a", "an", "the") and req.w(j + 1) in (_CREATE_STOP - {"and"}) | {
            "primary",
            "main",
            "new",
        }:
            break
        if req.w(j + 1) == "difficulty":
            break
        items.append(t.norm if t.kind != "quote" else t.text.lower())
        req.use(j)
        k = j + 1
        if req.p(k) in (",", "/", "&", "+"):
            k += 1
            if req.w(k) in ("and", "or"):
                k += 1
        elif req.w(k) in _LIST_SEP:
            k += 1
        else:
            return items, k
        req.use(*range(j + 1, k))
        j = k
    return items, j


def create(req: Request) -> Translation:
    """``ab create NAME --variants A,B …`` from "create a test called x comparing cold vs warm"."""
    toks = req.tokens
    description, _ = note_text(req, frozenset({"description", "desc", "described"}))
    name_tok = _new_name(req)
    if isinstance(name_tok, Translation):
        return name_tok
    variants: list[str] = []
    for i, t in enumerate(toks):
        if t.kind == "kv" and t.text.lower().startswith("variants="):
            variants = [x for x in t.text.split("=", 1)[1].lower().split(",") if x]
            req.use(i)
    cue = req.index(
        {"variants", "arms", "groups", "variations", "comparing", "between", "versus", "testing"}
    )
    if not variants and cue >= 0:
        req.use(cue)
        j = _skip(req, cue + 1, BE | {"of", "called", "named"}, ":=")
        variants, _ = _list_items(req, j)
    if not variants:
        for i in range(len(toks)):
            if (
                i not in req.used
                and toks[i].kind == "word"
                and req.w(i + 1) in ("vs", "versus", "v")
            ):
                variants, _ = _list_items(req, i)
                break
    control = None
    for i in req.indexes({"control", "baseline"}, names_too=True):
        if i in req.used:
            continue
        j = _skip(req, i + 1, BE | {"variant", "arm", "group"}, ":=")
        if (
            j < len(toks)
            and toks[j].kind == "word"
            and j not in req.used
            and toks[j].norm in variants
        ):
            control = toks[j].norm
            req.use(*range(i, j + 1))
            continue
        k = i - 1
        while k >= 0 and req.w(k) in ("the", "is", "as", "be", "our") and req.free(k):
            k -= 1
        if (
            k >= 0
            and toks[k].kind == "word"
            and toks[k].norm in variants
            and k not in req.used - set(range(k, k + 1))
        ):
            control = toks[k].norm
            req.use(*range(k, i + 1))
            w = req.w(k - 1)
            if w == "with":
                req.use(k - 1)
    if control is None and any(
        i not in req.used for i in req.indexes({"control", "baseline"}, names_too=True)
    ):
        i = next(
            i for i in req.indexes({"control", "baseline"}, names_too=True) if i not in req.used
        )
        j = _skip(req, i + 1, BE, ":=")
        if j < len(toks) and toks[j].kind == "word" and j not in req.used and variants:
            return refused(
                req.text,
                f"control {toks[j].text!r} is not one of the variants ({', '.join(variants)})",
                variants,
            )
    metric = _create_metric(req)
    guardrails = _guardrails(req)
    extras: list[str] = []
    for words, opt in (({"task"}, "--task-id"), ({"category"}, "--category")):
        for i in req.indexes(words):
            j = _skip(req, i + 1, frozenset({"id", "is"}) if opt == "--task-id" else BE, ":=")
            if (
                j < len(toks)
                and toks[j].kind in ("word", "num", "quote")
                and req.free(j)
                and toks[j].norm not in KNOWN
            ):
                extras += [opt, toks[j].text]
                req.use(*range(i, j + 1))
                if req.w(i - 1) == "in" and opt == "--category":
                    req.use(i - 1)
    difficulty = None
    for i in req.indexes({"easy", "medium", "hard"}):
        if (
            req.w(i - 1) == "difficulty"
            or req.w(i + 1) in ("difficulty", "task", "one")
            or (req.p(i - 1) == ":" and req.w(i - 2) == "difficulty")
        ):
            difficulty = req.w(i)
            req.use(
                i,
                *[
                    k
                    for k in (i - 1, i + 1, i - 2)
                    if req.w(k) in ("difficulty", "task", "one") or req.p(k) == ":"
                ],
            )
    if (
        req.index({"difficulty"}) >= 0
        and difficulty is None
        and req.free(req.index({"difficulty"}))
    ):
        return incomplete(
            req.text,
            ["ab", "create"],
            ["--difficulty easy|medium|hard"],
            "which difficulty?",
            ["easy", "medium", "hard"],
        )
    refusal = number_refusal(req)
    if refusal:
        return refusal
    leftover_unknown = [t for t in req.unknown_words() if t is not name_tok]
    name = (
        name_tok.norm
        if name_tok is not None and name_tok.kind != "quote"
        else (name_tok.text.lower() if name_tok is not None else None)
    )
    req.use(*[i for i, t in enumerate(toks) if t is name_tok])
    if leftover_unknown:
        t = leftover_unknown[0]
        if name is None and t.kind == "word" and NAME_RE.match(t.norm):
            return incomplete(
                req.text,
                ["ab", "create"],
                ["NAME"],
                f"is {t.text!r} the test's name? say 'called {t.norm}'",
                [t.norm],
            )
        return refused(
            req.text, f"I don't understand {t.text!r} in this test definition; nothing was guessed"
        )
    for v in variants:
        if not NAME_RE.match(v):
            return refused(
                req.text,
                f"variant name {v!r} is not valid: use lowercase letters, digits, '.', '_' or '-'",
            )
    if len(set(variants)) != len(variants):
        return refused(req.text, "a variant is listed twice; variants must be distinct")
    opts: list[str] = []
    if control:
        opts += ["--control", control]
    if isinstance(metric, str):
        opts += ["--metric", metric]
    for g in guardrails:
        if not g.startswith("?"):
            opts += ["--guardrail", g]
    if description:
        opts += ["--description", description]
    opts += extras
    if difficulty:
        opts += ["--difficulty", difficulty]
    var_opt = ["--variants", ",".join(variants)] if variants else []
    if name is None:
        return incomplete(
            req.text, ["ab", "create", *var_opt, *opts], ["NAME"], "what should the test be called?"
        )
    if not NAME_RE.match(name):
        return refused(
            req.text,
            f"test name {name!r} is not valid: use 1-64 lowercase letters, digits, '.', '_' or '-'",
        )
    head = ["ab", "create", name, *var_opt, *opts]
    if isinstance(metric, Translation):
        return incomplete(req.text, head, metric.missing, metric.reason, metric.suggestions)
    for g in guardrails:
        if g.startswith("?"):
            missing, _, reason = g[1:].partition("|")
            return incomplete(req.text, head, [missing], reason)
    if len(variants) == 1:
        return incomplete(
            req.text,
            ["ab", "create", name, *opts],
            ["--variants A,B"],
            f"a test needs at least two variants; only {variants[0]!r} was given",
        )
    if not variants:
        return incomplete(
            req.text,
            ["ab", "create", name, *opts],
            ["--variants A,B"],
            "which variants? e.g. --variants cold,warm (the first is the control)",
        )
    return command(req.text, ["ab", "create", name, *var_opt, *opts])


_NAME_BLOCK = (
    FILLER
    | TEST_WORDS
    | _CREATE_STOP
    | _w(
        """variants arms groups variations comparing between versus vs testing called named titled name
    test experiment a/b ab"""
    )
)


def _new_name(req: Request) -> Token | None | Translation:
    """The new test's name: after "called"/"named", after "test", or right after the verb."""
    toks = req.tokens
    cands: list[int] = []
    for i in req.indexes({"called", "named", "titled", "name"}):
        j = _skip(req, i + 1, BE, ":=")
        cands.append(j)
    for i in req.indexes(TEST_WORDS):
        cands.append(i + 1)
    for i in req.indexes({"create", "make", "setup", "define", "start", "new"}):
        cands.append(_skip(req, i + 1, frozenset({"a", "an", "new", "the"})))
    for i, t in enumerate(toks):
        if t.kind == "kv" and t.text.lower().startswith("name="):
            req.use(i)
            return Token("word", t.text[5:], t.start + 5, t.end, norm=t.text[5:].lower())
    for j in cands:
        if j >= len(toks):
            continue
        t = toks[j]
        if j in req.in_name:
            kinds = {m.kind for m in req.in_name[j]}
            if kinds & {"test", "archived"}:
                m = next(m for m in req.in_name[j] if m.kind in ("test", "archived"))
                state = "an archived test" if m.kind == "archived" else "a test"
                return refused(
                    req.text,
                    f"there is already {state} named {m.name!r}; pick another name",
                    [f"ab show {m.name}"],
                )
            continue
        if not req.free(j):
            continue
        if t.kind == "quote" or (t.kind == "word" and t.norm not in _NAME_BLOCK):
            nxt = j + 1
            if (
                nxt < len(toks)
                and toks[nxt].kind == "word"
                and toks[nxt].norm not in KNOWN
                and t.kind == "word"
            ):
                return incomplete(
                    req.text,
                    ["ab", "create"],
                    ["NAME"],
                    f"name the test with one word, e.g. {t.norm}-{toks[nxt].norm}",
                )
            return t
    return None


def _create_metric(req: Request) -> str | None | Translation:
    for i in req.indexes(
        {
            "metric",
            "measuring",
            "measure",
            "optimize",
            "optimise",
            "goal",
            "optimizing",
            "optimising",
            "judged",
        }
    ):
        if not req.free(i):
            continue
        j = _skip(req, i + 1, BE | {"for", "on", "by", "of", "the", "to"}, ":=")
        found = find_metric(req, j, anywhere=False)
        if found:
            metric, a, b = found
            start = i - 1 if req.w(i - 1) in ("primary", "main") else i
            req.use(*range(start, b))
            return metric
        if (
            j < len(req.tokens)
            and req.tokens[j].kind == "word"
            and req.free(j)
            and req.tokens[j].norm not in KNOWN
        ):
            if CUSTOM_METRIC_RE.match(req.tokens[j].norm) and req.w(i) == "metric":
                req.use(i, j, i - 1 if req.w(i - 1) in ("primary", "main") else i)
                return req.tokens[j].norm
            return refused(
                req.text,
                f"metric {req.tokens[j].text!r} is unknown",
                suggest(
                    req.tokens[j].norm,
                    ["success", "error_rate", "completion_time", "tokens", "cost", "score"],
                ),
            )
        return incomplete(req.text, ["ab", "create"], ["--metric M"], "which metric?")
    return None


def _guardrails(req: Request) -> list[str]:
    """``METRIC:+N%`` limits; a missing part is returned as ``"?OPTION|reason"``."""
    out: list[str] = []
    for i in req.indexes({"guardrail", "guardrails"}):
        if not req.free(i):
            continue
        j = _skip(req, i + 1, BE | {"on", "of", "for", "that", "the", "a"}, ":=")
        found = find_metric(req, j, anywhere=False)
        if found is None:
            out.append("?--guardrail METRIC:+N%|which metric and limit? e.g. completion_time:+10%")
            req.use(i)
            continue
        metric, _, k = found
        k = _skip(
            req,
            k,
            BE
            | {
                "of",
                "at",
                "no",
                "not",
                "more",
                "than",
                "by",
                "within",
                "worse",
                "up",
                "to",
                "max",
                "maximum",
                "must",
                "get",
                "should",
                "increase",
                "rise",
            },
            ":=+",
        )
        if k < len(req.tokens) and req.tokens[k].kind == "num" and req.free(k):
            t = req.tokens[k]
            assert t.value is not None
            limit = f"{metric}:+{fmt(t.value)}%" if t.unit == "%" else f"{metric}:+{fmt(t.value)}"
            out.append(limit)
            end = _skip(req, k + 1, frozenset({"worse", "more", "higher", "increase"}))
            req.use(*range(i, end))
        else:
            out.append(
                f"?--guardrail {metric}:+N%|how much worse may {metric} get? e.g. {metric}:+10%"
            )
            req.use(*range(i, k))
    return out


# --------------------------------------------------------------------- the rest


def import_results(req: Request) -> Translation:
    path = next((i for i, t in enumerate(req.tokens) if t.kind == "path"), -1)
    test = resolve_test(req, ["ab", "import"])
    if isinstance(test, Translation):
        if test.status == "incomplete" and path >= 0:
            return incomplete(
                req.text,
                ["ab", "import"],
                ["NAME"],
                f"which test should {req.tokens[path].text} go into? (ab import NAME FILE)",
                test.suggestions,
            )
        return test
    if path < 0:
        return incomplete(
            req.text, ["ab", "import", test], ["FILE"], "which file? (JSONL, one result per line)"
        )
    req.use(path)
    return command(req.text, ["ab", "import", test, req.tokens[path].text])


def list_tests(req: Request) -> Translation:
    wants_all = req.has(
        {"archived", "hidden", "deleted", "removed", "including", "include", "archive"}
    )
    return command(req.text, ["ab", "list", *(["--all"] if wants_all else [])])


def read_test(req: Request, verb: str) -> Translation:
    """``ab show|summary NAME``."""
    test = resolve_test(
        req, ["ab", verb], archived=True, variants=[m.name for m in variant_mentions(req)]
    )
    if isinstance(test, Translation):
        return test
    return command(req.text, ["ab", verb, test])


def analyze(req: Request) -> Translation:
    """``ab analyze NAME [--metric M] [--alpha A] [--history] [--mde X]``."""
    toks = req.tokens
    test = resolve_test(
        req, ["ab", "analyze"], archived=True, variants=[m.name for m in variant_mentions(req)]
    )
    opts: list[str] = []
    alpha = None
    for i in req.indexes({"alpha", "significance", "level"}):
        j = _skip(req, i + 1, BE | {"of", "at", "level", "="}, ":=")
        if j < len(toks) and toks[j].kind == "num" and req.free(j) and toks[j].unit in (None, "%"):
            alpha = toks[j]
            req.use(*range(i, j + 1))
            break
        k = i - 1
        while k >= 0 and req.w(k) in ("a", "the", "significance"):
            k -= 1
        if k >= 0 and toks[k].kind == "num" and req.free(k) and toks[k].unit == "%":
            alpha = toks[k]
            req.use(*range(k, i + 1))
            break
    for i in req.indexes({"confidence", "confident"}):
        nums = [
            k
            for k in (i - 1, i + 1, i + 2)
            if 0 <= k < len(toks) and toks[k].kind == "num" and req.free(k)
        ]
        if nums:
            t = toks[nums[0]]
            argv = ["ab", "analyze", test] if isinstance(test, str) else ["ab", "analyze"]
            return incomplete(
                req.text,
                argv,
                ["--alpha A"],
                f"{t.text} confidence is given as a significance level: type --alpha (e.g. 1 - confidence)",
            )
    if alpha is None and req.index({"alpha"}) >= 0:
        argv = ["ab", "analyze", test] if isinstance(test, str) else ["ab", "analyze"]
        return incomplete(
            req.text, argv, ["--alpha A"], "which significance level? e.g. --alpha 0.05"
        )
    mde = None
    for i in req.indexes({"mde", "detect", "detectable"}):
        j = _skip(
            req, i + 1, BE | {"of", "a", "an", "effect", "minimum", "the", "at", "least"}, ":="
        )
        if j < len(toks) and toks[j].kind == "num" and req.free(j):
            mde = toks[j]
            end = _skip(
                req,
                j + 1,
                frozenset(
                    {
                        "lift",
                        "difference",
                        "change",
                        "effect",
                        "improvement",
                        "gain",
                        "increase",
                        "drop",
                        "decrease",
                        "reduction",
                    }
                ),
            )
            start = i - 2 if req.w(i - 1) == "minimum" else i
            req.use(*range(max(start, 0), end))
            if req.w(i) == "detectable" and req.w(i - 1) == "minimum":
                req.use(i - 1)
            break
    history = False
    for words in (
        ("history",),
        ("trajectory",),
        ("over", "time"),
        ("after", "each", "result"),
        ("after", "every", "result"),
        ("each", "step"),
        ("as", "results", "came", "in"),
    ):
        k = req.seq(*words)
        if k >= 0:
            history = True
            req.use(*range(k, k + len(words)))
    metrics: list[str] = []
    i = 0
    while i < len(toks):
        found = find_metric(req, i, anywhere=False) if req.free(i) else None
        if found:
            metrics.append(found[0])
            req.use(*range(found[1], found[2]))
            i = found[2]
        else:
            i += 1
    refusal = metric_refusal(req, metrics)
    if refusal:
        return refusal
    if isinstance(test, Translation):
        return test
    stray = [m.name for m in variant_mentions(req) if m.name not in req.vocab.variants_of(test)]
    if stray:
        return refused(
            req.text,
            f"{stray[0]!r} is not a variant of {test} ({', '.join(req.vocab.variants_of(test))})",
        )
    refusal = number_refusal(req)
    if refusal:
        return refusal
    if metrics:
        opts += ["--metric", metrics[0]]
    if alpha is not None:
        assert alpha.value is not None
        opts += ["--alpha", fmt(alpha.value / 100 if alpha.unit == "%" else alpha.value)]
    if history:
        opts.append("--history")
    if mde is not None:
        assert mde.value is not None
        opts += ["--mde", fmt(mde.value / 100 if mde.unit == "%" else mde.value)]
    return command(req.text, ["ab", "analyze", test, *opts])


def conclude(req: Request) -> Translation:
    """``ab conclude NAME (--ship V | --keep-control | --stop) [--note TEXT]``."""
    note, note_at = note_text(req, because=True)
    modes: list[str] = []
    ship_variant: list[str] = []
    k = req.seq(KEEP_CONTROL, {"with", "the", "using"}, {"control", "baseline"})
    k2 = req.seq(KEEP_CONTROL, {"control", "baseline"})
    k3 = req.seq(KEEP_CONTROL, {"with", "using"}, "the", {"control", "baseline"})
    for start, n in ((k3, 4), (k, 3), (k2, 2)):
        if start >= 0:
            modes.append("keep-control")
            req.use(*range(start, start + n))
            break
    for words in (("do", "not", "ship"), ("don", "not", "ship"), ("no", "change"), ("not", "ship")):
        k = req.seq(*words)
        if k >= 0:
            modes.append("keep-control")
            req.use(*range(k, k + len(words)))
    for i in req.indexes(STOP_WORDS):
        if req.free(i):
            modes.append("stop")
            req.use(i)
    for i in req.indexes(
        SHIP_VERBS | {"go", "pick", "choose", "select", "switch", "promote", "roll", "launch"}
    ):
        if not req.free(i):
            continue
        w = req.w(i)
        if w == "go" and req.w(i + 1) != "with":
            continue
        if w == "roll" and req.w(i + 1) not in ("out",):
            continue
        if w == "switch" and req.w(i + 1) != "to":
            continue
        if w == "conclude":
            req.use(i)
            continue
        req.use(i, *([i + 1] if req.w(i + 1) in ("with", "out", "to") else []))
        modes.append("ship")
        break
    mentions = [m for m in variant_mentions(req) if note_at < 0 or m.start < note_at]
    if "keep-control" in modes:
        mentions = [
            m for m in mentions if m.name not in ("control", "baseline") or req.free(m.start)
        ]
    names = list(dict.fromkeys(m.name for m in mentions))
    modes = list(dict.fromkeys(modes))
    if len(modes) > 1:
        return refused(req.text, f"ambiguous: {' or '.join(modes)}? conclude one way")
    test = resolve_test(req, ["ab", "conclude"], variants=names if "ship" in modes else [])
    if isinstance(test, Translation):
        return test
    choices = _variant_choices(req, test)
    stray = [n for n in names if n not in choices]
    if stray and "ship" in modes:
        return refused(
            req.text, f"{stray[0]!r} is not a variant of {test} ({', '.join(choices)})", choices
        )
    names = [n for n in names if n in choices]
    if not modes:
        return incomplete(
            req.text,
            ["ab", "conclude", test],
            ["--ship VARIANT"],
            "ship a variant, keep the control, or stop?",
            ["--ship", "--keep-control", "--stop"],
        )
    mode = modes[0]
    if mode == "ship":
        if len(names) > 1:
            return refused(
                req.text, f"which variant: {' or '.join(names)}? ship exactly one", names
            )
        if not names:
            unknown = [t for t in req.unknown_words() if t.kind == "word"]
            if unknown:
                return _no_such_variant(req, test, unknown[0].text, choices)
            return incomplete(
                req.text,
                ["ab", "conclude", test],
                ["--ship VARIANT"],
                "ship which variant?",
                choices,
            )
        ship_variant = names
        for m in mentions:
            req.use_match(m)
    elif names and mode != "keep-control":
        return refused(req.text, f"ambiguous: stop the test, or ship {names[0]}?")
    for m in mentions:
        req.use_match(m)
    for i in req.indexes(TEST_WORDS | {"it", "this", "experiment"}):
        req.use(i)
    refusal = number_refusal(req) or unknown_refusal(
        req, "Put the reason after 'because' or 'note:'."
    )
    if refusal:
        return refusal
    opts = ["--ship", ship_variant[0]] if mode == "ship" else [f"--{mode}"]
    if note:
        opts += ["--note", note]
    return command(req.text, ["ab", "conclude", test, *opts])


def archive(req: Request) -> Translation:
    """``ab archive NAME``: hides the test; nothing is destroyed."""
    note_text(req, because=True)
    gone = req.named("archived")
    if gone and not req.named("test"):
        return refused(
            req.text,
            f"test {gone[0].name!r} is already archived (`ab restore {gone[0].name}` brings it back)",
        )
    test = resolve_test(req, ["ab", "archive"], archived=False, single=False)
    if isinstance(test, Translation):
        return test
    refusal = number_refusal(req) or unknown_refusal(req)
    if refusal:
        return refusal
    return command(req.text, ["ab", "archive", test])


def restore(req: Request) -> Translation:
    named = req.named("test")
    if named and not req.named("archived"):
        return refused(req.text, f"test {named[0].name!r} is not archived; nothing to restore")
    test = resolve_test(req, ["ab", "restore"], only_archived=True, single=True)
    if isinstance(test, Translation):
        return test
    refusal = number_refusal(req) or unknown_refusal(req)
    if refusal:
        return refusal
    return command(req.text, ["ab", "restore", test])
