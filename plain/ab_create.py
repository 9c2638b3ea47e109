"""The ``ab create`` rule: a new test from a sentence such as "create a test called
checkout comparing cold vs warm, control cold, metric success, guardrail cost +10%".
"""

from __future__ import annotations

import re

from trialbook.domain.metrics import CUSTOM_METRIC_RE, SUCCESS_RATE_IS_AMBIGUOUS
from trialbook.domain.names import NAME_RE
from trialbook.plain.ab_common import (
    BE,
    find_metric,
    note_text,
    skip,
)
from trialbook.plain.lex import Token, fmt
from trialbook.plain.request import (
    Request,
    number_refusal,
    suggest,
)
from trialbook.plain.types import Translation, command, incomplete, refused
from trialbook.plain.words import (
    FILLER,
    KNOWN,
    NEVER_VALUES,
    QUANTILE_WORD,
    TEST_WORDS,
    _w,
)

_CREATE_STOP = _w(
    """with control baseline metric primary measuring measure optimize optimise goal guardrail
    guardrails description described category difficulty task where and for comparing"""
)
_LIST_SEP = frozenset({"and", "or", "vs", "versus", "v", "against"})
#: words after a list that start the next part of the definition, never a name in it
_NOT_NAMES = _w(
    """metric guardrail guardrails description category difficulty task prompt split
    expected expecting expect primary measuring measured optimize control baseline treatment
    with where for"""
)
#: words that start the next part of a definition after a comma list ("zero, one, two,
#: expected tools …"), never one more name in it
_NEXT_PART = _w(
    """metric guardrail guardrails description category difficulty task prompt split expected
    expecting expect primary measuring measured optimize optimise cap segment"""
)
#: words that are never a new variant's name: they negate, hedge or date what they stand by
_NEVER_NAMES = NEVER_VALUES
#: words that name the role of the variant after them: "control strict and treatment lenient"
_ROLE_CANDIDATE = frozenset({"treatment", "candidate", "challenger", "variant", "new"})


def _roles_named(req: Request) -> tuple[list[str], str | None]:
    """Variants named by their roles: "control strict and treatment lenient" (control first)."""
    toks = req.tokens
    control = None
    others: list[str] = []
    for i in req.indexes({"control", "baseline"}, names_too=True):
        j = skip(req, i + 1, BE | {"is", "variant", "arm"}, ":=")
        if j < len(toks) and toks[j].kind == "word" and req.free(j) and toks[j].norm not in KNOWN:
            control = toks[j].norm
            req.use(*range(i, j + 1))
            break
    if control is None:
        return [], None
    for i in req.indexes(_ROLE_CANDIDATE, names_too=True):
        j = skip(req, i + 1, BE | {"is", "arm"}, ":=")
        if j < len(toks) and toks[j].kind == "word" and req.free(j) and toks[j].norm not in KNOWN:
            others.append(toks[j].norm)
            req.use(*range(i, j + 1))
            if req.w(i - 1) == "and":
                req.use(i - 1)
    if not others:
        return [], None
    return [control, *others], control


def _item(req: Request, j: int) -> str | None:
    """The new name at token ``j`` of a list, if it can be one: a word, a quoted name, or a
    number with a scale typed as a name ("8k", "32k"); never a plain number or amount."""
    t = req.tokens[j]
    if t.kind == "word" and t.norm in _NEVER_NAMES:
        return None  # "monthly vs not annual", "a and tomorrow b": a word that changes the list
    if t.kind in ("word", "quote"):
        return t.norm if t.kind == "word" else t.text.lower()
    scaled = not t.text.replace(".", "").isdigit()  # "8k", not "8"
    if t.kind == "num" and not t.spelled and t.unit is None and scaled:
        return t.text.lower() if NAME_RE.match(t.text.lower()) else None
    if t.kind == "num" and t.spelled and t.unit is None:
        return t.norm
    return None


def _list_items(req: Request, j: int) -> tuple[list[str], int, str | None]:
    """Names in one list: ``cold, warm and hot``, ``a vs b vs c``, ``x and y``, ``new against old``.

    The list is delimited unambiguously: its separators are all of one kind (commas,
    with an optional "and"/"or" before the last name; or "vs"; or "and"/"or"), and a
    name after "and"/"or" ends it. So in "baseline vs terse, measured on completion
    time" the list is ``baseline, terse``: the comma after a "vs" list ends it.
    Returns (items, end, control): ``control`` is a name the words give that role
    ("A against B" and "B vs baseline A" make B and A the control).
    """
    items: list[str] = []
    toks = req.tokens
    kind: str | None = None
    control: str | None = None
    last = False
    while j < len(toks):
        t = toks[j]
        if j in req.used:
            break  # read by another phrase ("and a 1:3 split off to on"): the list ended
        if t.kind == "word" and t.norm in ("baseline", "control") and items and kind == "vs":
            nxt = j + 1
            if nxt < len(toks) and toks[nxt].kind == "word" and toks[nxt].norm not in KNOWN:
                req.use(j)
                control = toks[nxt].norm
                j = nxt
                t = toks[j]
        name = _item(req, j)
        if name is None:
            break
        nxt_tok = toks[j + 1] if j + 1 < len(toks) else None
        if (
            items
            and t.norm in ("control", "baseline")
            and nxt_tok is not None
            and (
                (nxt_tok.kind == "word" and nxt_tok.norm not in _LIST_SEP)
                or req.p(j + 1) in (":", "=")
            )
        ):
            break
        if items and t.norm in _CREATE_STOP - {"and", "control", "baseline"}:
            break
        if items and t.kind == "word" and t.norm in _NEXT_PART:
            break  # "a, b, expected tools x and y": the next part, never a name in the list
        if (
            items
            and kind == "comma"
            and nxt_tok is not None
            and nxt_tok.norm in _NEXT_PART - {"split"}
        ):
            # "short, long, success guardrail +5pp": what the next part is about ("a, b, c
            # split …" is not: a split is of every variant, said after the last)
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
        if (
            len(items) >= 2
            and kind == "comma"
            and nxt_tok is not None
            and nxt_tok.kind == "word"
            and req.free(j + 1)
            and nxt_tok.norm not in _LIST_SEP | _CREATE_STOP | _NOT_NAMES | _OPTION_WORDS
        ):
            # "variants none,backoff, we plan for 800 results": a word running on into more
            # words starts a clause, it is not one more name (left for the rules, or unsure)
            break
        items.append(name)
        req.use(j)
        if last:
            k = j + 1
            more = req.w(k) in ("and", "or", "vs", "versus") or req.p(k) in (",", "/")
            after = req.tokens[k + 1] if k + 1 < len(toks) else None
            if (
                more
                and after is not None
                and req.free(k + 1)
                and after.kind in ("word", "quote")
                and after.norm not in _CREATE_STOP | FILLER | {"a", "an", "the"}
                and not (after.kind == "word" and after.norm in _NOT_NAMES)
                and req.w(k + 2) not in {"difficulty", "task", "one", "is", "as", *_NEXT_PART}
                and not _metric_of_next_part(req, k + 1)
                and not (after.kind == "word" and after.norm in _OPTION_WORDS)
                and not (k + 2 < len(toks) and toks[k + 2].kind == "num")  # ", plan 800 results"
            ):
                # "fast and slow and medium": where the list ends is not clear; ask
                return [*items, "?" + after.norm], k + 2, control
            return items, j + 1, control
        k = j + 1
        if req.p(k) in (",", "/", "&", "+"):
            sep = "comma"
            k += 1
            if req.w(k) in ("and", "or"):
                k += 1
                last = True
        elif req.w(k) in ("vs", "versus", "v"):
            sep = "vs"
            k += 1
        elif req.w(k) in ("and", "or"):
            sep = "and"
            k += 1
            last = True
        elif req.w(k) == "against" or (req.w(k) == "over" and len(items) == 1):
            sep = "against"  # "new against old", "new over old": the second is the control
            k += 1
            last = True
        else:
            return items, k, control
        if toks[k - 1].kind == "word" and (
            k >= len(toks) or (toks[k].kind == "punct" and req.p(k) not in ("'", '"'))
        ):
            # "a vs b vs": a separator with no name after it; where the list ends is not clear
            return [*items, "?" + req.text[toks[k - 1].start : toks[k - 1].end]], k, control
        if kind is not None and sep != kind and not (kind == "comma" and last):
            return items, j + 1, control  # separators changed: the list ended
        if sep == "against" and control is None:
            control = "@next"
        kind = kind or sep
        if kind == "and" and sep == "and":
            last = True
        req.use(*range(j + 1, k))
        j = k
    return items, j, control


def _metric_of_next_part(req: Request, j: int) -> bool:
    """Whether a metric phrase at ``j`` is followed by the word of the part it qualifies
    ("…, error rate metric", "…, completion time guardrail +10%")."""
    found = find_metric(req, j, anywhere=False)
    return found is not None and req.w(found[2]) in _NEXT_PART


def _spaced_items(req: Request, j: int) -> list[str]:
    """Names after a cue with only spaces between them, the list closed by "," or ";" or the
    end ("variants v1 v2 v3, metric …"): each a word no rule knows, else none (a known word or
    a number inside leaves where the list ends unclear, for :func:`_list_items`)."""
    toks = req.tokens
    k = j
    while k < len(toks) and toks[k].kind == "word" and req.free(k):
        if toks[k].norm in KNOWN | _NEVER_NAMES | _NEXT_PART:
            return []
        k += 1
    if k - j < 2 or not (k >= len(toks) or req.p(k) in (",", ";")):
        return []
    req.use(*range(j, k))
    return [toks[x].norm for x in range(j, k)]


def create(req: Request) -> Translation:
    """``ab create NAME --variants A,B …`` from "create a test called x comparing cold vs warm".

    Reads, in order: a description ("description: …"), the name (:func:`_new_name`),
    the variants ("variants cold, warm and hot", "comparing a vs b", "cold vs warm",
    ``variants=a,b``), the control ("control cold", "cold is the control", "with warm as
    baseline"), the metric (:func:`_create_metric`), guardrails (:func:`_guardrails`),
    "task t-1", "category search", and "difficulty hard" / "a hard task".
    """
    toks = req.tokens
    said_before = bool(req.used)  # options said by name, read before any rule (`--prompt`)
    description, _ = note_text(req, frozenset({"description", "desc", "described"}))
    if description is None:
        description = quoted_after(req, ("described", "as"), ("description", "of"))
    criteria = quoted_after(
        req, ("success", "criteria"), ("success", "criterion"), ("criteria",), ("criterion",)
    )
    name_tok = _new_name(req)
    if isinstance(name_tok, Translation):
        return name_tok
    ratio = _ratio_split(req)  # first: "and a 1:3 split off to on" is no list of variants
    variants: list[str] = []
    for i, t in enumerate(toks):
        if t.kind == "kv" and t.text.lower().startswith("variants="):
            variants = [x for x in t.text.split("=", 1)[1].lower().split(",") if x]
            req.use(i)
    cue = req.index(
        {"variants", "arms", "groups", "variations", "comparing", "between", "versus", "testing"}
    )
    role: str | None = None
    counted = None  # "3 variants: a, b, c": how many the list holds, said before it
    if cue >= 0 and cue > 0 and req.tokens[cue - 1].is_int and req.free(cue - 1):
        counted = cue - 1
    if not variants and cue >= 0:
        req.use(cue)
        j = skip(req, cue + 1, BE | {"of", "called", "named"}, ":=" + ("," if counted else ""))
        variants = _spaced_items(req, j)
        if not variants:
            variants, _, role = _list_items(req, j)
    if counted is not None and variants:
        n = req.tokens[counted].value
        if n != len(variants):
            return refused(
                req.text,
                f"{req.tokens[counted].text} variants, but {len(variants)} are named "
                f"({', '.join(v.lstrip('?') for v in variants)}): which is it?",
            )
        req.use(counted)
    if not variants and name_tok is not None:
        # "create x: a, b; …", "create x (a, b) with …": the list right after the new name
        n = next((i for i, t in enumerate(toks) if t is name_tok), -1)
        if n >= 0 and req.p(n + 1) in (":", "("):
            found, end, role = _list_items(req, n + 2)
            closed = req.p(n + 1) == ":" or req.p(end) == ")"
            if len(found) >= 2 and closed:
                variants = found
                req.use(n + 1, *([end] if req.p(end) == ")" else []))
            else:
                req.used.difference_update(range(n + 2, end))
                role = None
    if not variants:
        for i in range(len(toks)):
            if (
                i not in req.used
                and toks[i].kind == "word"
                and req.w(i + 1) in ("vs", "versus", "v", "against", "over")
            ):
                variants, _, role = _list_items(req, i)
                break
    if not variants:
        variants, role = _roles_named(req)
    if not variants:
        k = req.index({"with"})
        if k >= 0 and req.w(k + 2) in ("and", "or", "vs"):
            found, end, role = _list_items(req, k + 1)
            if len(found) == 2:
                variants = found
                req.use(k)
    defaults = -1
    if not variants:
        # "with the default variants": the CLI's own (control,treatment), so none are named
        defaults = req.seq({"default", "standard", "usual"}, {"variants", "arms", "groups"})
        if defaults >= 0:
            req.use(defaults, defaults + 1)
            if req.w(defaults - 1) == "the" and req.w(defaults - 2) in ("with", "using", "keep"):
                req.use(defaults - 1, defaults - 2)
    if role == "@next":
        role = variants[-1] if len(variants) == 2 else None
    control = None
    for i in req.indexes({"control", "baseline"}, names_too=True):
        if i in req.used:
            continue
        j = skip(req, i + 1, BE | {"variant", "arm", "group"}, ":=")
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
        j = skip(req, i + 1, BE, ":=")
        if j < len(toks) and toks[j].kind == "word" and j not in req.used and variants:
            return refused(
                req.text,
                f"control {toks[j].text!r} is not one of the variants ({', '.join(variants)})",
                variants,
            )
    if control is None and role is not None and role in variants:
        control = role
    metric = _create_metric(req)
    guardrails = _guardrails(req)
    extras: list[str] = _create_extras(req)
    if ratio:
        split_names = [x.partition("=")[0] for x in ratio.split(",")]
        if not set(split_names) <= set(variants) or len(set(split_names)) != 2:
            return refused(
                req.text,
                f"the split names {' and '.join(split_names)}, which are not two of the "
                f"variants ({', '.join(variants) or 'none named'})",
            )
        extras += ["--split", ratio]
    elif variants:
        extras += _ordered_split(req, variants)
    extras += _segment_and_cap(req)
    tools = _expected_tools(req)
    if tools:
        extras += ["--expected-tools", ",".join(tools)]
    if criteria is not None:
        extras += ["--success-criteria", criteria]
    for words, opt in (({"task"}, "--task-id"), ({"category"}, "--category")):
        for i in req.indexes(words):
            j = skip(req, i + 1, frozenset({"id", "is"}) if opt == "--task-id" else BE, ":=")
            if (
                j < len(toks)
                and toks[j].kind in ("word", "num", "quote")
                and req.free(j)
                and toks[j].norm not in KNOWN | NEVER_VALUES
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
    refusal = number_refusal(req) or _guardrail_refusal(req, [*guardrails, *extras])
    if refusal:
        return refusal
    req.use_intentions()  # "… and I plan to segment by category"
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
    unclear = [v for v in variants if v.startswith("?")]
    if unclear:
        named = [v for v in variants if not v.startswith("?")]
        return incomplete(
            req.text,
            ["ab", "create", *([name] if name else [])],
            ["--variants A,B"],
            f"is {unclear[0][1:]!r} a variant too? the list ({', '.join(named)}, …) does not "
            "say where it ends: say 'variants a, b and c'",
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
    unnamed = cue >= 0 and req.w(cue) in ("variants", "arms", "groups", "variations")
    if (
        not variants
        and defaults < 0
        and (not (opts or said_before) or "--control" in opts or unnamed)
    ):
        # a bare name asks (the definition has only begun); a test defined by other parts
        # and no variants has the CLI's default ones (`--variants` [default: control,treatment])
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


#: words that start an option's phrase after a list ("a and b, segment by region")
_OPTION_WORDS = _w("segment segmented cap capped capping winsorize winsorise split expecting")
#: words that start an option's phrase after the name ("create x expecting the tools a and b")
_OPTION_LEADS = _w("expecting expected described measured planned")


#: verbs of other requests: right after a new name, a second word of it or a mistake, never
#: dropped ("create test tomorrow summarize …" asks)
_VERB_AFTER = _w(
    "summarize summarise analyze analyse compare verify audit replay export import archive "
    "restore conclude"
)


def _new_name(req: Request) -> Token | None | Translation:
    """The new test's name: after "called"/"named", after "test", or right after the verb."""
    toks = req.tokens
    cands: list[int] = []
    for i in req.indexes({"called", "named", "titled", "name"}):
        j = skip(req, i + 1, BE, ":=")
        cands.append(j)
    for i in req.indexes(TEST_WORDS):
        if req.w(i + 1) not in ("create", "make", "new"):  # "ab create x": the command's words
            cands.append(i + 1)
        if req.p(i + 1) == ":" and req.p(i + 3) in (",", ";", ":"):
            cands.append(i + 2)  # "a new a/b test: greeting-style, formal vs friendly"
    for i in req.indexes({"create", "make", "setup", "define", "start", "new"}):
        if req.w(i) == "new" and req.w(i - 1) in ("the", "for", "our", "my", "this", "of"):
            continue  # "a test for the new reranker": a description, not the name said
        cands.append(skip(req, i + 1, frozenset({"a", "an", "new", "the"})))
    k = req.seq("set", "up")
    if k >= 0:
        cands.append(skip(req, k + 2, frozenset({"a", "an", "new", "the"})))
    if req.p(1) == ":" and req.w(3) in ("vs", "versus"):
        cands.append(0)  # "summarizer-ab: short vs long": the name, delimited by its colon
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
                and (toks[nxt].norm not in KNOWN | _OPTION_LEADS or toks[nxt].norm in _VERB_AFTER)
                and t.kind == "word"
                and req.w(nxt + 1) not in ("vs", "versus")  # "called x cold vs warm": the arms
            ):
                return incomplete(
                    req.text,
                    ["ab", "create"],
                    ["NAME"],
                    f"name the test with one word, e.g. {t.norm}-{toks[nxt].typed or toks[nxt].norm}",
                )
            return t
    return None


def _metric_before(req: Request, i: int) -> tuple[str, int] | None:
    """The metric before "metric" at ``i`` in "M is the (primary) metric", "M as the metric"."""
    if req.w(i) != "metric":
        return None
    k = i - 1
    while req.w(k) in ("the", "primary", "main", "our") and req.free(k):
        k -= 1
    if req.w(k) not in ("is", "as") or not req.free(k):
        # "success metric", "a cost metric": the metric right before the word, none after it
        if k != i - 1 or find_metric(req, i + 1 + (req.p(i + 1) in (":", "=")), anywhere=False):
            return None
        k = i
    for a in range(max(k - 3, 0), k):
        found = find_metric(req, a, anywhere=False)
        if found and found[2] == k:
            return found[0], a
    return None


def _create_metric(req: Request) -> str | None | Translation:
    """The primary metric: "metric success", "primary metric: error rate", "measuring
    completion time", "optimize for cost", "goal: tokens", "judged on score"; "metric
    my_metric" names a custom one. A cue without a metric asks for one; an unknown word
    after it is refused with the closest metrics."""
    for i in req.indexes(
        {
            "metric",
            "measured",
            "measuring",
            "measure",
            "optimize",
            "optimise",
            "goal",
            "optimizing",
            "optimising",
            "judged",
            "judge",
            "judging",
            "compare",
        },
        names_too=True,  # "judge it on cost": the verb, though "judge" names a scorer too
    ):
        if req.w(i) in ("judge", "judging", "compare") and (req.free(i) or i in req.in_name):
            # (as a verb, "judge" is no scorer's name here)
            # "judge it on cost_per_success", "compare on cost": the verb needs "on"/"by"
            k = i + 1 + (req.w(i + 1) in ("it", "them", "this", "these", "both"))
            if req.w(k) not in ("on", "by") or not req.free(k):
                continue
            found = find_metric(req, k + 1, anywhere=False)
            if found is not None:
                req.use(*range(i, found[2]))
                return found[0]
            t = req.tokens[k + 1] if k + 1 < len(req.tokens) else None
            if (
                t is not None
                and t.kind == "word"
                and req.free(k + 1)
                and t.norm not in KNOWN
                and CUSTOM_METRIC_RE.match(t.norm)
                and "_" in t.norm
            ):  # a custom metric's name, written as one ("judge it on refund_accuracy")
                req.use(*range(i, k + 2))
                return t.norm
            continue
        if not req.free(i) or req.w(i) in ("judge", "judging", "compare") or i in req.in_name:
            continue
        back = _metric_before(req, i)
        if back is not None:  # "success is the metric", "with error rate as the primary metric"
            metric, a = back
            req.use(*range(a, i + 1))
            return metric
        # "primary metric is our custom refund_accuracy": whose metric it is says nothing more
        j = skip(
            req, i + 1, BE | {"for", "on", "by", "of", "the", "to", "our", "custom", "own"}, ":="
        )
        found = _quantile_metric(req, j)  # "metric completion_time p95": that quantile
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
            if req.tokens[j].norm == "success_rate":  # refused by ab create too: asked
                req.use(i, j)
                return incomplete(
                    req.text,
                    ["ab", "create"],
                    ["--metric M"],
                    SUCCESS_RATE_IS_AMBIGUOUS,
                    ["success", "tool_success_rate"],
                )
            if CUSTOM_METRIC_RE.match(req.tokens[j].norm) and req.w(i) == "metric":
                req.use(*range(i, j + 1), i - 1 if req.w(i - 1) in ("primary", "main") else i)
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
    return _compared_on(req)


def _compared_on(req: Request) -> str | None:
    """ "comparing haiku and sonnet on cost": a metric right after the list of variants that
    "comparing" brought in, past "on", ending its clause (the metric they are compared on);
    once only, else left unread."""
    said: list[tuple[str, int, int]] = []
    for i in req.indexes({"on"}):
        # "new test latency-tuning on completion_time, …": the metric the new test is on,
        # right after its name, ending its clause
        if req.w(i - 2) in TEST_WORDS and req.free(i) and req.free(i - 1):
            found = find_metric(req, i + 1, anywhere=False)
            if found and (found[2] >= len(req.tokens) or req.p(found[2]) in (",", ";", ".")):
                req.use(*range(i, found[2]))
                return found[0]
    if not req.has({"comparing", "compare", "compared", "compares"}):
        return None  # "variants a and b on cost": the metric or a guardrail? asked
    for i in req.indexes({"on"}):
        if not (req.free(i) and (i - 1) in req.used):
            continue
        j = i + 1 + (req.w(i + 1) == "the" and req.free(i + 1))
        found = find_metric(req, j, anywhere=False)
        if found and (found[2] >= len(req.tokens) or req.p(found[2]) in (",", ";", ".")):
            said.append((found[0], i, found[2]))
    if len(said) != 1:
        return None
    metric, a, b = said[0]
    req.use(*range(a, b))
    return metric


def _guardrails(req: Request) -> list[str]:
    """``METRIC:+N%`` limits from "guardrail cost +10%", "guardrail on completion time: no
    more than 10% worse", "guardrails: tokens up to 500"; a missing part is returned as
    ``"?OPTION|reason"`` (the rule turns it into an incomplete line asking for it)."""
    out: list[str] = []
    for i in req.indexes({"guardrail", "guardrails"}):
        if not req.free(i):
            continue
        j = skip(req, i + 1, BE | {"on", "of", "for", "that", "the", "a"}, ":=")
        found = _quantile_metric(req, j)
        if found is None:
            # "a success guardrail of 5 points": the metric before the word
            for k in (i - 1, i - 2):
                before = find_metric(req, k, anywhere=False) if k >= 0 and req.free(k) else None
                if before is not None and before[2] == i:
                    found = (before[0], before[1], i + 1)
                    req.use(*range(before[1], i))
                    break
        if found is None:
            out.append("?--guardrail METRIC:+N%|which metric and limit? e.g. completion_time:+10%")
            req.use(i)
            continue
        while found is not None:
            found = _one_guardrail(req, i, found, out)
    return out


#: metrics whose guardrail may be said in their own units, and the unit a bare number is in
#: ("any": a bare number or that unit): money in dollars, times in seconds
_IN_OWN_UNITS = {"cost": "any", "cost_per_success": "any", "completion_time": "s"}


def _quantile_metric(req: Request, j: int) -> tuple[str, int, int] | None:
    """The metric phrase at ``j``, with a quantile said beside it ("p95 completion time",
    "completion time p95": ``completion_time:p95``, a guardrail on that quantile)."""
    if j < len(req.tokens) and QUANTILE_WORD.fullmatch(req.w(j)) and req.free(j):
        found = find_metric(req, j + 1, anywhere=False)
        if found is not None:
            return f"{found[0]}:{req.w(j)}", j, found[2]
    found = find_metric(req, j, anywhere=False)
    if found is None:
        return None
    q = found[2] + (req.p(found[2]) == ":")  # "completion_time:p95", as the option writes it
    if QUANTILE_WORD.fullmatch(req.w(q)) and req.free(q):
        return f"{found[0]}:{req.w(q)}", found[1], q + 1
    return found


def _one_guardrail(
    req: Request, i: int, found: tuple[str, int, int], out: list[str]
) -> tuple[str, int, int] | None:
    """The limit after a guardrail's metric; returns the next metric of a list of them
    ("guardrails cost +0.02 and completion_time +30s"), if one follows."""
    metric, _, k = found
    k = skip(
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
            "may",
            "can",
            "could",
            "go",
            "grow",
            "higher",
            "above",
            "over",
        },
        ":=+",
    )
    if k < len(req.tokens) and req.tokens[k].kind == "num" and req.free(k):
        t = req.tokens[k]
        assert t.value is not None
        suffix = {"%": "%", "pp": "pp"}.get(t.unit or "", "")
        limit = f"{metric}:+{fmt(t.value)}{suffix}"
        out.append(limit)
        end = skip(req, k + 1, frozenset({"worse", "more", "higher", "increase"}))
        req.use(*range(i, end))
        nxt = skip(req, end, frozenset({"and"}), ",")
        if nxt > end and req.free(nxt):
            more = find_metric(req, nxt, anywhere=False)
            if more is not None and more[1] == nxt:
                req.use(*range(end, nxt))
                return more
    else:
        out.append(f"?--guardrail {metric}:+N%|how much worse may {metric} get? e.g. {metric}:+10%")
        req.use(*range(i, k))
    return None


_WORSE = _w(
    """must may should can not no more than get go be rise grow increase by at most worse up
    higher to drop fall decrease decline dip sink down lower"""
)


#: words that plan a number of results ("we plan to collect 600 results", "aim for 600")
_PLAN = _w(
    "expect expecting expected plan planned planning collect collecting gather gathering aim target for get"
)
#: what introduces the tools a task is expected to call ("expecting the tools a and b")
_TOOL_CUES = _w("tools tool")


def quoted_after(req: Request, *phrases: tuple[str, ...]) -> str | None:
    """The quoted text right after one of ``phrases`` ("success criteria 'cites a source'",
    "described as '…'"), with an optional ":" or "is" between; its tokens become used."""
    for words in phrases:
        k = req.seq(*words)
        if k < 0 or not all(req.free(x) for x in range(k, k + len(words))):
            continue
        j = skip(req, k + len(words), frozenset({"is", "are", "as", "of"}), ":=")
        if j < len(req.tokens) and req.tokens[j].kind == "quote" and req.free(j):
            a = k - 1 if req.w(k - 1) in ("with", "and", "its", "the") else k
            req.use(*range(a, j + 1))
            return req.tokens[j].text
    return None


#: verbs that ask for the segment a request already named ("so declare that segment")
_DECLARE = _w("declare define register add record keep make set")


def _segment_said_again(req: Request) -> None:
    """After "break it down by category later": "(so) declare that segment", "add it as a
    segment" ask for the same ``--segment`` and are used up with it."""
    for s in req.indexes({"segment", "dimension"}):
        if not req.free(s):
            continue
        a = s - 1
        while req.w(a) in ("that", "this", "the", "it", "as", "a") and (
            req.free(a) or req.w(a) == "a"  # the article, not variant "a" of another test
        ):
            a -= 1
        if req.w(a) in _DECLARE and a < s - 1:  # the verb may have been read as one already
            a -= req.w(a - 1) in ("so", "and", "then") and req.free(a - 1)
            req.use(*range(a, s + 1))


def _segment_and_cap(req: Request) -> list[str]:
    """``--segment KEY`` ("segment by region", "broken down by model") and ``--cap M:pNN`` /
    ``--cap M:N`` ("cap completion time at p95", "cap cost at 0.5")."""

    toks = req.tokens
    out: list[str] = []

    def key_at(k: int) -> bool:
        return (
            k < len(toks)
            and req.free(k)
            and toks[k].kind == "word"
            and bool(CUSTOM_METRIC_RE.match(toks[k].norm))
            and toks[k].norm not in NEVER_VALUES | _OPTION_WORDS | _OPTION_LEADS
            and (toks[k].norm not in KNOWN or toks[k].norm in ("category", "difficulty", "model"))
        )

    for i in req.indexes(
        {"segment", "segmented", "segments", "breakdown", "breakdowns", "broken", "break"}
    ):
        j = i + 1 + (req.w(i + 1) in ("it", "them", "this", "results") and req.w(i + 2) == "down")
        j += req.w(j) == "down"  # "break it down by category"
        if req.w(j) not in ("by", "per") or not req.free(i):
            continue
        k = j + 1
        if (
            k < len(toks)
            and req.free(k)
            and toks[k].kind == "word"
            and CUSTOM_METRIC_RE.match(toks[k].norm)
            and toks[k].norm not in NEVER_VALUES
        ):
            if toks[k].norm in KNOWN and toks[k].norm not in ("category", "difficulty", "model"):
                continue
            req.use(*range(i, k + 1))
            out += ["--segment", toks[k].norm]
            while True:  # "by category and (by) model", "by category, model": each one
                n = k + 1
                if not (req.w(n) == "and" or req.p(n) == ","):
                    break
                m = n + 1 + (req.w(n + 1) in ("by", "per"))
                if not key_at(m) or toks[m].norm in out:
                    break
                if req.p(n) == "," and not (req.w(m + 1) == "and" or req.p(m + 1) == ","):
                    break  # "by category, cap cost at p99": a comma ends the list unless one goes on
                req.use(*range(n, m + 1))
                out += ["--segment", toks[m].norm]
                k = m
            if req.w(k + 1) == "later" and req.free(k + 1):  # "… by category later": planned
                req.use(k + 1)
            _segment_said_again(req)
            break
    for i in req.indexes({"cap", "capped", "capping", "winsorize", "winsorise"}):
        found = find_metric(req, i + 1, anywhere=False) if req.free(i) else None
        if not found or found[1] != i + 1:
            continue
        metric, _, b = found
        if req.w(b) != "at" or b + 1 >= len(toks) or not req.free(b + 1):
            continue
        t = toks[b + 1]
        nth = b + 1 + (req.w(b + 1) == "the")  # "at the 99th percentile"
        ordinal = re.fullmatch(r"(\d{1,2})(?:st|nd|rd|th)", req.w(nth))
        if ordinal and req.w(nth + 1) in ("percentile", "pct") and req.free(nth + 1):
            req.use(i, *range(i + 1, nth + 2))
            out += ["--cap", f"{metric}:p{ordinal.group(1)}"]
            continue
        if QUANTILE_WORD.fullmatch(req.w(nth)) and req.free(nth):  # "at (the) p99"
            req.use(i, *range(i + 1, nth + 1))
            out += ["--cap", f"{metric}:{req.w(nth)}"]
            continue
        if t.kind == "num" and t.unit in (None, "s", "usd") and t.value > 0:
            limit = fmt(t.value)
        else:
            continue
        req.use(i, *range(i + 1, b + 2))
        out += ["--cap", f"{metric}:{limit}"]
    return out


def _expected_tools(req: Request) -> list[str]:
    """``--expected-tools A,B``: "expecting the tools search and read_file", "expected tools:
    search, fetch", "it should call the tools a and b" (a delimited list after "tools")."""
    for i in req.indexes(_TOOL_CUES):
        lead = [
            k
            for k in (i - 1, i - 2, i - 3)
            if req.w(k) in _w("expecting expected expect call calls use uses using")
        ]
        if not lead or not req.free(i):
            continue
        j = skip(req, i + 1, BE | {"of", "called", "named"}, ":=")
        items, end, _ = _list_items(req, j)
        if items and not any(x.startswith("?") for x in items):
            between = range(lead[0] + 1, i)  # "expecting the tools": filler, or left unread
            req.use(i, lead[0], *[k for k in between if req.w(k) in _w("the to a its")])
            return items
    return []


def _approximately(req: Request, i: int) -> bool:
    """Whether token ``i`` says a planned number is rough: "~1000", "about 800", "roughly"."""
    if not (0 <= i < len(req.tokens)) or not req.free(i):
        return False
    return req.tokens[i].text == "~" or req.w(i) in ("about", "around", "roughly", "approximately")


def _create_extras(req: Request) -> list[str]:
    """``--prompt 'text'`` ("with the prompt '…'"), ``--split a=3,b=1`` ("a split of …"),
    ``--expected-results N`` ("one thousand results expected", "expecting 500 results"),
    and guardrails said without the word ("completion time must not get more than 10%
    worse", as :func:`_guardrails` reads them after "guardrail")."""
    toks = req.tokens
    out: list[str] = []
    for i in req.indexes({"prompt", "task"}):
        j = skip(req, i + 1, BE | {"of", "text"}, ":=")
        if req.w(i) == "prompt" and j < len(toks) and toks[j].kind == "quote" and req.free(j):
            req.use(*range(i, j + 1))
            if req.w(i - 1) == "the" and req.w(i - 2) == "with":
                req.use(i - 1, i - 2)
            out += ["--prompt", toks[j].text]
    for i in req.indexes({"split", "weights", "allocation"}):
        j = skip(req, i + 1, BE | {"of"}, ":=")
        if j < len(toks) and toks[j].kind == "kv" and req.free(j):
            parts = [toks[j].text.lower()]
            end = j + 1
            while end < len(toks):  # "a=3,b=1", "a=3, b=1", "a=3 b=1", "a=3 and b=1"
                step = 1 + (req.p(end) == "," or req.w(end) == "and")
                if end + step - 1 >= len(toks) or toks[end + step - 1].kind != "kv":
                    break
                if not req.free(end + step - 1):
                    break
                parts.append(toks[end + step - 1].text.lower())
                end += step
            req.use(*range(i, end))
            for k in (i - 1, i - 2, i - 3):
                if req.w(k) in ("a", "with"):
                    req.use(k)
            out += ["--split", ",".join(parts)]
    for i, t in enumerate(toks):
        if not (t.is_int and req.free(i) and req.w(i + 1) in ("results", "sessions")):
            continue
        about = i - 1 if _approximately(req, i - 1) else i  # "we plan ~1000", "about 800"
        if req.w(i + 2) in ("expected", "planned") or req.w(about - 1) in _PLAN:
            req.use(i, i + 1, i + 2 if req.w(i + 2) in ("expected", "planned") else about - 1)
            req.use(*range(about, i))
            if req.w(i + 2) == "total" or req.seq("in", "total") == i + 2:
                req.use(i + 2, *([i + 3] if req.w(i + 2) == "in" else []))
            # "we plan to collect 600 results", "we aim for 600 results", "planning on 600"
            k = about - 1
            while req.w(k - 1) in _PLAN | _w("we to i about on") and req.free(k - 1):
                k -= 1
                req.use(k)
            out += ["--expected-results", fmt(t.value)]
    for i, t in enumerate(toks):
        if (
            t.is_int
            and req.free(i)
            and req.w(i + 1) in ("expected", "planned")
            and req.w(i + 2) in ("results", "sessions")
        ):
            req.use(i, i + 1, i + 2)
            out += ["--expected-results", fmt(t.value)]
    for i in range(len(toks)):
        found = _quantile_metric(req, i) if req.free(i) else None
        if not found:
            continue
        metric, a, b = found
        k = skip(req, b, _WORSE)
        if k == b or k >= len(toks) or toks[k].kind != "num" or not req.free(k):
            continue
        t = toks[k]
        if t.unit == "%":
            limit = f"+{fmt(t.value)}%"
        elif t.unit == "pp":
            limit = f"+{fmt(t.value)}pp"
        elif (
            t.unit in (None, "usd", "s")
            and t.value is not None
            and metric.partition(":")[0] in _IN_OWN_UNITS
            and _IN_OWN_UNITS[metric.partition(":")[0]] in (t.unit or "any", "any")
        ):
            # "cost may not rise more than 0.02" (dollars), "completion time … more than 30s":
            # a limit in the metric's own units, as `ab create --guardrail cost:+0.02` reads it
            limit = f"+{fmt(t.value)}"
        else:
            continue
        end = skip(req, k + 1, frozenset({"worse", "more", "higher"}))
        if req.w(a - 1) == "let" and req.free(a - 1):  # "don't let success drop more than 5pp"
            if req.w(a - 2) == "never" and req.free(a - 2):
                a -= 2
            elif req.w(a - 2) == "not" and req.w(a - 3) in ("do", "does") and req.free(a - 2):
                a -= 3
        if req.w(a - 1) == "and" and req.p(a - 2) == ",":
            req.use(a - 1)
        req.use(*range(a, end))
        out += ["--guardrail", f"{metric}:{limit}"]
    return out


def _ratio_split(req: Request) -> str | None:
    """``--split A=N,B=M`` from a ratio said with the variants it is between: "a 1:3 split off
    to on", "split 1:3 between off and on", "a 3:1 split (off:on)". The shares pair with the
    variants in the order said there; the names must be two of the test's variants."""
    from trialbook.plain.lex import fmt

    toks = req.tokens
    for i in range(len(toks) - 2):
        if not (toks[i].is_int and req.p(i + 1) == ":" and toks[i + 2].is_int):
            continue
        if not all(req.free(x) for x in (i, i + 1, i + 2)):
            continue
        j = i + 3
        k = i - 1 - (req.w(i - 1) in ("of", "at")) if req.w(i + 3) != "split" else i
        if req.w(j) == "split":
            j += 1
        elif req.w(k) != "split":
            continue
        split_at = j - 1 if req.w(j - 1) == "split" else k
        j += req.w(j) in ("between", "of", "for", "from") or req.p(j) == "("
        names = [j, j + 2]
        if not (req.w(j + 1) in ("to", "and", "vs") or req.p(j + 1) in (":", "/")):
            continue
        if any(x >= len(toks) or toks[x].kind != "word" or x in req.used for x in names):
            continue
        a, b = (toks[x].norm for x in names)
        end = j + 3 + (req.p(j + 3) == ")")
        start = min(i, split_at)
        start -= req.w(start - 1) in ("a", "an", "with")
        req.use(*range(start, end))
        return f"{a}={fmt(toks[i].value)},{b}={fmt(toks[i + 2].value)}"
    return None


def _ordered_split(req: Request, variants: list[str]) -> list[str]:
    """``--split A=2,B=1,C=1`` from "a, b, c split 2:1:1": one share for each variant, in the
    order the variants were named (a count that differs is left unread, so asked)."""
    from trialbook.plain.lex import fmt

    toks = req.tokens
    for i in req.indexes({"split", "weights", "weighted"}):
        j = i + 1 + (req.w(i + 1) in ("of", "is", "at"))
        shares = [j]
        while shares[-1] + 2 < len(toks) and req.p(shares[-1] + 1) == ":":
            shares.append(shares[-1] + 2)
        if len(shares) != len(variants) or not req.free(i):
            continue
        if not all(toks[x].is_int and toks[x].value > 0 and req.free(x) for x in shares):
            continue
        req.use(i, *range(j - (j > i + 1), shares[-1] + 1))
        return [
            "--split",
            ",".join(f"{v}={fmt(toks[x].value)}" for v, x in zip(variants, shares, strict=True)),
        ]
    return []


def _guardrail_refusal(req: Request, opts: list[str]) -> Translation | None:
    """Refuse a guardrail whose limit cannot be right for its metric (``domain/units.py``'s
    rule): points on a metric that is no proportion, 100 points or more on one."""
    from trialbook.domain.units import UnitError, parse_margin

    for g in opts:
        metric, sep, limit = g.partition(":+")
        if not sep or not limit.endswith("pp"):
            continue
        try:
            parse_margin(limit, metric, allow_zero=True)
        except UnitError as e:
            return refused(req.text, f"guardrail {g}: {e}")
    return None
