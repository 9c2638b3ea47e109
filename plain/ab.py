"""Rules for the ``ab`` commands: create, add-result, import, list, show, summary, analyze,
conclude, archive, restore.

Each rule reads a :class:`~trialbook.plain.request.Request` and returns one
:class:`~trialbook.plain.types.Translation`. Numbers come only from number tokens of
the request; names only from the store or, for a new test, from the request.

The rules, by family:

- recording a result: ``add-result`` (:mod:`trialbook.plain.ab_result`, with its
  slot-fillers), ``import`` (here);
- defining a test: ``create`` (:mod:`trialbook.plain.ab_create`);
- reading: ``list``, ``show``, ``summary``, ``analyze`` (here);
- deciding and tidying: ``conclude``, ``archive``, ``restore`` (here).

What the rules share (numbers at a position, notes, variant mentions, metric
phrases) is :mod:`trialbook.plain.ab_common`. This module is the one to import the
rules from: it re-exports ``add_result`` and ``create`` and the shared helpers
other rule modules use.
"""

from __future__ import annotations

import re
from decimal import Decimal

from trialbook.domain.metrics import CUSTOM_METRIC_RE
from trialbook.domain.names import NAME_RE
from trialbook.plain.ab_common import (
    BE,
    clause_reason,
    find_metric,
    metric_refusal,
    no_such_variant,
    note_text,
    rest_text,
    skip,
    variant_choices,
    variant_mentions,
)
from trialbook.plain.ab_create import create
from trialbook.plain.ab_result import add_result
from trialbook.plain.lex import Token, fmt
from trialbook.plain.request import (
    Request,
    number_refusal,
    resolve_test,
    unknown_refusal,
)
from trialbook.plain.types import Translation, command, incomplete, refused
from trialbook.plain.words import (
    KEEP_CONTROL,
    KNOWN,
    NEVER_VALUES,
    QUANTILE_WORD,
    SHIP_VERBS,
    STOP_WORDS,
    TEST_WORDS,
    _w,
)

__all__ = [
    "add_result",
    "analyze",
    "archive",
    "conclude",
    "create",
    "import_results",
    "list_tests",
    "note_text",
    "read_test",
    "rest_text",
    "restore",
    "skip",
    "variant_mentions",
]

# --------------------------------------------------------------------- recording results: import


#: words that say who saved the tests of a directory, or when ("the old hermes tests")
_SAVED_BY = _w("hermes old older earlier existing warm-session")


def import_results(req: Request) -> Translation:
    """``ab import NAME FILE`` from "import results.jsonl into checkout": the first path token."""
    path = next((i for i, t in enumerate(req.tokens) if t.kind == "path"), -1)
    saved = path >= 0 and req.tokens[path].text.lower().endswith(".json")
    k = req.index({"as", "called", "named"})
    if req.w(k + 1) in ("a", "the") and req.w(k + 2) in ("test", "experiment"):
        req.use(k + 1)  # "as a test named memory-warm"
        k += 1
    if req.w(k + 1) in ("test", "experiment") and req.free(k + 1):
        req.use(k + 1)  # "load saved.json as test abc"
        k += 1
    if req.w(k + 1) in ("called", "named") and req.free(k + 1):
        req.use(k + 1)
        k += 1
    if saved and k > path and k + 1 < len(req.tokens) and req.free(k + 1):
        # a test the warm-session framework saved: importing it creates test NAME
        name = req.tokens[k + 1]
        if name.kind == "word" and NAME_RE.match(name.norm) and name.norm not in KNOWN:
            req.use(path, k, k + 1)
            for i in req.indexes({"import", "load", "saved", "test", "file"}):
                req.use(i)
            return command(req.text, ["ab", "import", name.norm, req.tokens[path].text])
    said_saved = req.has({"saved"}) or "ab_tests/" in req.tokens[path].text if saved else False
    if saved and said_saved and not req.named("test", "archived") and k < 0:
        # "import the saved test ~/.hermes/ab_tests/x.json": its own test id names it (--help)
        req.use(path)
        for i in req.indexes({"import", "load", "saved", "test", "file", "the", "a"}):
            req.use(i)
        k = path - 1  # "the old hermes test …": who saved it, said before
        while k >= 0 and req.w(k) in _SAVED_BY and req.free(k):
            req.use(k)
            k -= 1
        return command(req.text, ["ab", "import", req.tokens[path].text])
    directory = path >= 0 and "." not in req.tokens[path].text.rsplit("/", 1)[-1]
    if (
        directory
        and not req.named("test", "archived")
        and req.has({"tests", "every", "all", "everything"})
    ):
        # "import every saved test in ~/.hermes/ab_tests": a DIR of saved tests, each under
        # its own test id (the CLI takes no NAME then)
        req.use(path)
        for i in req.indexes(
            {
                *("import", "load", "saved", "tests", "every", "all", "my", "in", "from", "the"),
                *("everything", "under", "inside"),
            }
        ):
            req.use(i)
        for i, t in enumerate(req.tokens):
            if t.kind == "word" and t.norm.endswith(("-session", "-sessions")) and req.free(i):
                req.use(i)  # "warm-session tests": the framework that saved them
        for i in req.indexes({"tests", "test", "saved", "framework"}):
            k = i - 1  # "the old hermes tests": which saved tests they are, said before
            while (req.w(k) in _SAVED_BY and req.free(k)) or req.w(k).endswith(
                ("-session", "-sessions")  # "the old warm-session tests"
            ):
                req.use(k)
                k -= 1
        return command(req.text, ["ab", "import", req.tokens[path].text])
    stdin = req.index({"stdin", "pipe", "piped"})
    if stdin < 0 and req.seq("standard", "input") >= 0:
        stdin = req.seq("standard", "input")
        req.use(stdin + 1)
    if path < 0 and stdin >= 0:  # "read search-v2 results from stdin": FILE is '-'
        test = resolve_test(req, ["ab", "import"])
        if isinstance(test, Translation):
            return test
        req.use(stdin)
        for i in req.indexes({"read", "import", "load", "from", "results", "sessions", "the"}):
            req.use(i)
        return command(req.text, ["ab", "import", test, "-"])
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
    if directory:  # "import /data/saved into onboarding": a DIR takes no test name
        return incomplete(
            req.text,
            ["ab", "import"],
            ["FILE"],
            f"is {req.tokens[path].text} a directory? a directory imports every saved test in "
            f"it under its own id (`ab import {req.tokens[path].text}`, no NAME); a file of "
            f"results goes into {test} (`ab import {test} FILE`)",
        )
    for i in req.indexes({"pull", "bring", "in", "into", "for", "from", "results", "sessions"}):
        req.use(i)
    req.use(path)
    return command(req.text, ["ab", "import", test, req.tokens[path].text])


# --------------------------------------------------------------------- reading: list, show, summary, analyze


def list_tests(req: Request) -> Translation:
    """``ab list [--all]``; "archived", "hidden", "including deleted" … ask for ``--all``."""
    wants_all = req.has(
        {"archived", "hidden", "deleted", "removed", "including", "include", "archive"}
    )
    if wants_all:  # "archived and active tests": both is what --all lists
        for i in req.indexes({"active", "live", "current", "open", "unarchived"}):
            req.use(i)
    return command(req.text, ["ab", "list", *(["--all"] if wants_all else [])])


#: what a summary leaves out ("no stats", "without inference"): the analysis
NO_INFERENCE = frozenset(
    {"stats", "statistics", "analysis", "significance", "tests", "inference", "p-values", "testing"}
)


def read_test(req: Request, verb: str) -> Translation:
    """``ab show|summary NAME``; "how is X doing on error rate" names a metric: the analysis."""
    if verb == "summary" and find_metric(req) is not None:
        return analyze(req)
    if verb == "summary":  # "the raw numbers, no stats": what a summary is (an analysis is not)
        k = req.seq({"no", "without"}, NO_INFERENCE)
        if k >= 0:
            req.use(k, k + 1)
        for i in req.indexes({"raw", "per-variant", "plain", "descriptive"}):  # "the raw numbers"
            if req.w(i + 1) in ("numbers", "counts", "totals", "per-variant", "stats"):
                req.use(i)
    mentions = variant_mentions(req)
    test = resolve_test(req, ["ab", verb], archived=True, variants=[m.name for m in mentions])
    if isinstance(test, Translation):
        return test
    named = [m.name for m in mentions if m.start not in req.used]
    if named:
        # "show checkout-flow for warm": the command lists every variant; one variant's rows
        # are not a thing it can show, so the variant is asked about, never dropped
        return incomplete(
            req.text,
            ["ab", verb, test],
            [repr(named[0])],
            f"`ab {verb}` shows every variant of {test}; it has no filter for {named[0]} "
            f"(`ab analyze {test}` compares it with the control)",
        )
    return command(req.text, ["ab", verb, test])


def analyze(req: Request) -> Translation:
    """``ab analyze NAME [--metric M] [--alpha A] [--history] [--mde X]``."""
    toks = req.tokens
    for i in req.indexes({"even"}):  # "would we even detect a 5 point lift?": emphasis only
        if req.free(i) and req.w(i + 1) in ("detect", "see", "notice", "spot", "catch", "tell"):
            req.use(i)
    case_covariate = _case_covariate(req)  # before the metrics: its "score" is no metric
    case_covariate = case_covariate or _test_covariate(req)  # its test is not the one analyzed
    test = resolve_test(
        req,
        ["ab", "analyze"],
        archived=True,
        variants=[m.name for m in variant_mentions(req)],
        besides=[
            a.removeprefix("case:").removeprefix("test:").partition(".")[0]
            for a in case_covariate[1:]
        ],
    )
    opts: list[str] = []
    alpha = _alpha(req)
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
    for i in req.indexes({"min"}):  # "min detectable effect 10%": the abbreviation
        if req.w(i + 1) in ("detectable", "effect", "lift") and req.free(i):
            toks[i].norm = "minimum"
    powers: tuple[tuple[str | set[str], ...], ...] = (
        ("power", {"check", "analysis", "calculation", "estimate"}),
        ("statistical", "power"),
    )
    for said in powers:  # "a power check", "power analysis on X": what the mde answers
        k = req.seq(*said)
        if k >= 0:  # the analysis says how many more results an effect needs
            req.use(k, k + 1)
    if req.index({"plot", "chart", "graph", "draw"}, names_too=True) >= 0:
        for k in req.indexes({"lift", "lifts", "confidence"}):
            if req.w(k + 1) in ("interval", "intervals") and req.free(k + 1):
                req.use(k, k + 1)  # "plot the lift interval": what --plot draws
    k = req.seq("no", {"meaningful", "real", "practical"}, "difference")
    if k >= 0:
        # "is there no meaningful difference (within a 2pp margin)?": the equivalence verdict's
        # own words, which `ab analyze` answers
        req.use(k, k + 1, k + 2)
    within: Token | None = None  # "within 2 points": the margin itself, said with "within"
    if k >= 0 or req.index({"equivalence", "equivalent"}) >= 0:
        for i in req.indexes({"within", "inside"}):
            j = i + 1 + (req.w(i + 1) in ("a", "an"))
            if j < len(toks) and toks[j].kind == "num" and req.free(j) and req.w(j + 1) != "margin":
                within = toks[j]
                req.use(j)
            req.use(i)
    k = req.seq({"ready", "good"}, "to", {"ship", "go"})  # "is it ready to ship?"
    if k >= 0 and req.is_question():
        req.use(k, k + 1, k + 2)
    for i in req.indexes({"rewind", "replay", "replayed", "rewound"}):  # "rewind X to position 30"
        req.use(i)
    for i in req.indexes({"average", "mean", "typical"}):  # "the average number of tool calls"
        req.use(i)
        if req.w(i + 1) == "number" and req.w(i + 2) == "of":
            req.use(i + 1, i + 2)
    for i in req.indexes({"confident", "sure", "certain"}):  # "how confident are we that …"
        if req.w(i - 1) == "how":
            req.use(i)
    for i in req.indexes({"pulled", "pulling", "pull", "pulls", "edged", "edging"}):
        if req.w(i + 1) in ("ahead", "away", "in", "front"):  # "has treatment pulled ahead?"
            req.use(i)
    if alpha is None and req.index({"alpha"}) >= 0:
        argv = ["ab", "analyze", test] if isinstance(test, str) else ["ab", "analyze"]
        return incomplete(
            req.text, argv, ["--alpha A"], "which significance level? e.g. --alpha 0.05"
        )
    mde = None
    for i in req.indexes({"mde", "detect", "detectable", "detecting"}):
        j = skip(
            req,
            i + 1,
            BE | {"of", "a", "an", "effect", "minimum", "the", "at", "least", "lift", "difference"},
            ":=",
        )
        if j < len(toks) and toks[j].kind == "num" and req.free(j):
            mde = toks[j]
            end = skip(
                req,
                j + 1,
                _EFFECT_NOUNS | {"reduction"},
            )
            start = i - 1 if req.w(i - 1) == "minimum" else i
            if req.w(i) == "detecting":  # "the smallest effect worth detecting is 5pp"
                while req.w(start - 1) in _WORTH_LEAD and req.free(start - 1):
                    start -= 1
                if start == i:
                    continue
            start -= req.w(start - 1) in ("a", "an", "the") and start < i
            req.use(*range(max(start, 0), end))
            if req.w(i) == "detect":
                req.use(*_power_lead(req, i))
            if req.w(i) == "detectable" and req.w(i - 1) == "minimum":
                req.use(i - 1)
            break
        # the number before the cue: "a 10% minimum detectable effect", "a 2.5 second mde"
        k = i - 1 if req.w(i - 1) == "minimum" else i
        if req.w(i) != "detect" and k > 0 and toks[k - 1].kind == "num" and req.free(k - 1):
            mde = toks[k - 1]
            end = i + 1 + (req.w(i + 1) == "effect")
            req.use(*range(k - 1, end))
            break
    if mde is None:
        mde = _effect_worth(req)
    margin = None
    for i in req.indexes({"margin", "equivalence"}):
        j = skip(req, i + 1, BE | {"of", "a", "an", "margin", "the"}, ":=")
        if j < len(toks) and toks[j].kind == "num" and req.free(j):
            margin = toks[j]
            a = i - 1 if req.w(i - 1) in ("a", "an", "equivalence") else i
            req.use(*range(a, j + 1))
            break
        # "with a 2pp margin", "a 30s equivalence margin": the value said first
        k = i - 1 if req.w(i) == "margin" and req.w(i - 1) == "equivalence" else i
        if toks[k - 1].kind == "num" and req.free(k - 1) and k > 0 and req.w(i) == "margin":
            margin = toks[k - 1]
            a = k - 1 - (req.w(k - 2) in ("a", "an"))
            req.use(*range(a, i + 1))
            if req.w(a - 1) == "with" and req.free(a - 1):
                req.use(a - 1)
            for x in req.indexes({"equivalence", "check", "equivalent"}):
                req.use(x)
            break
    if margin is not None and within is not None and margin is not within:
        return refused(
            req.text, f"the margin is given twice ({within.text} and {margin.text}); say it once"
        )
    if margin is None and within is not None:
        margin = within
    if margin is not None:
        for x in req.indexes({"equivalence", "equivalent"}):
            req.use(x)  # "an equivalence check within 2 points"
    history = False
    plotting = req.index({"plot", "chart", "graph", "draw"}, names_too=True) >= 0
    for words in (
        ("history",),
        ("trajectory",),
        ("over", "time"),
        ("after", "each", "result"),
        ("after", "every", "result"),
        ("after", {"every", "each"}, "single", "result"),
        ("each", "step"),
        ("as", "results", "came", "in"),
    ):
        k = req.seq(*words)
        if k >= 0:
            history = history or not (plotting and words == ("over", "time"))
            req.use(*range(k, k + len(words)))
    if history:  # "what would I have seen if I'd checked after every result?"
        for i in req.indexes({"seen", "checked", "looked", "peeked", "i'd", "we'd", "been"}):
            req.use(i)
        for i in req.indexes({"recommendation", "recommendations", "verdict"}):
            req.use(i)  # "what the recommendation would have been after every result"
    metrics: list[str] = []
    said_by: dict[str, str] = {}  # metric -> the word it was read from
    i = 0
    while i < len(toks):
        found = _rate_apart(req, i) or (
            find_metric(req, i, anywhere=False) if req.free(i) else None
        )
        if found:
            metric, a, b = found
            said_by.setdefault(metric, req.w(a) if b == a + 1 else "")
            q = _quantile(req, a - 1) or _quantile(req, b) or _quantile_apart(req)
            if q is not None:
                metric = f"{metric}:{q[0]}"
                req.use(*q[1])
            metrics.append(metric)
            req.use(*range(a, b))
            i = found[2]
        else:
            i += 1
    if len(set(metrics)) == 1 and ":" not in metrics[0]:  # "is it faster at p95?"
        apart = [i for i in range(len(toks)) if req.free(i) and _quantile(req, i)]
        if len(apart) == 1:
            q = _quantile(req, apart[0])
            assert q is not None
            metrics = [f"{metrics[0]}:{q[0]}"]
            req.use(*q[1])
            if req.w(apart[0] - 1) in ("at", "on", "the") and req.free(apart[0] - 1):
                req.use(apart[0] - 1)
    quantiles = {m.partition(":")[0] for m in metrics if ":" in m}
    metrics = [m for m in metrics if m not in quantiles]  # "faster … at p99 completion time"
    # "is warm cheaper … on cost per success?": the comparative says which way, the metric
    # named says which (a comparative's metric is part of the one named)
    metrics = [
        m
        for m in metrics
        if not (
            said_by.get(m) in _COMPARATIVES
            and any(o != m and o.startswith(f"{m}_") for o in metrics)
        )
    ]
    opts += _breakdown(req) + (case_covariate or _covariate(req))
    k = req.seq({"for", "per", "by", "of"}, {"each", "every"}, {"variant", "arm"})
    k = k if k >= 0 else req.seq({"per", "by"}, {"variant", "arm"})
    if len(set(metrics)) > 1 and k >= 0 and not opts and not isinstance(test, Translation):
        # "what's the success rate and total cost for each variant?": figures per variant, of
        # several metrics at once, are the summary's (descriptive; no test between them)
        req.use(*range(k, k + (3 if req.w(k + 1) in ("each", "every") else 2)))
        for i in req.indexes({"total", "totals", "and", "what", "what's", "the"}):
            req.use(i)
        for i in range(len(req.tokens)):
            found = find_metric(req, i, anywhere=False) if req.free(i) else None
            if found:
                req.use(*range(found[1], found[2]))
        return command(req.text, ["ab", "summary", test])
    refusal = metric_refusal(req, metrics)
    if refusal:
        return refusal
    if isinstance(test, Translation):
        return test
    roles = ("to", "the", "vs", "versus", "against", "than", "over")
    for m in variant_mentions(req):  # "compared to control": the role, when no variant is so named
        if (
            m.name in ("control", "baseline")
            and m.name not in req.vocab.variants_of(test)
            and req.w(m.start - 1) in roles
        ):
            req.use_match(m)
    stray = [
        m.name
        for m in variant_mentions(req)
        if m.name not in req.vocab.variants_of(test)
        and not any(i in req.used for i in range(m.start, m.end))
    ]
    if stray:
        return refused(
            req.text,
            f"{stray[0]!r} is not a variant of {test} ({', '.join(req.vocab.variants_of(test))})",
        )
    against = _baseline_named(req, test)
    if against is not None:
        control = req.vocab.variants_of(test)[0]
        return incomplete(
            req.text,
            ["ab", "analyze", test],
            ["--metric M"],
            f"`ab analyze` compares each variant with the control, {control}; {against} is not "
            f"the control, so it cannot answer that comparison directly: analyze {test} "
            f"and read both rows against {control}?",
        )
    refusal = number_refusal(req)
    if refusal:
        return refusal
    if not metrics:
        custom = _custom_metric(req)
        metrics = [custom] if custom else []
    if metrics:
        opts += ["--metric", metrics[0]]
    if alpha is not None:
        level = _alpha_option(req, alpha)
        if isinstance(level, Translation):
            return level
        opts += level
    if history:
        opts.append("--history")
    if mde is not None:
        effect = margin_text(req, mde, metrics[0] if metrics else None)
        if isinstance(effect, Translation):
            return effect
        opts += ["--mde", effect]
    if margin is not None:
        effect = margin_text(req, margin, metrics[0] if metrics else None)
        if isinstance(effect, Translation):
            return effect
        opts += ["--margin", effect]
    return command(req.text, ["ab", "analyze", test, *opts])


#: result dimensions a breakdown names without a breakdown word ("by difficulty", "per model")
_DIMENSIONS = _w("category difficulty model segment region language tier")
_BREAKS = _w("down split segment segmented segments grouped group breakdown broken break breaking")


def _breakdown(req: Request) -> list[str]:
    """``--by KEY``: "by difficulty", "per category", "break X down by model", "split by
    region". A key that is no usual dimension is read only after a breakdown word ("split by
    lang"); a metric after "by" was read before as the metric ("by cost")."""
    toks = req.tokens
    for i in req.indexes({"by", "per"}):
        j = i + 1
        if j >= len(toks) or not req.free(i) or not req.free(j) or toks[j].kind != "word":
            continue
        key = toks[j].norm
        if key in NEVER_VALUES:
            continue  # "by except difficulty": no key
        said = [k for k in req.indexes(_BREAKS) if req.free(k) and k < i]
        if key in _DIMENSIONS or (said and key not in KNOWN and CUSTOM_METRIC_RE.match(key)):
            req.use(i, j, *said)
            return ["--by", key]
    return []


#: words that ask for CUPED, the adjustment by a value the variant cannot change
COVARIATE_CUES = _w(
    "cuped adjust adjusted adjusting adjustment covariate controlling controlled normalise "
    "normalize normalised normalized"
)
#: words a case covariate may be said with ("by each case's score in RUN")
_CASE_FILL = _w(
    "by for on with using from in of the each every per case cases per-case mean average "
    "score scores scored as a covariate how it did its their"
)


def _case_covariate(req: Request) -> list[str]:
    """``--covariate case:RUN``: a case's mean score in an earlier eval run, said in words:
    "by each case's score in RUN", "cuped on the case scores from RUN", "with RUN's per-case
    scores as the covariate". One run named, a covariate cue, a case word and a score word;
    every word between them is filler of the phrase (any other stays unread: unsure)."""
    runs = req.named("run")
    if len({m.name for m in runs}) != 1:
        return []
    cues = [i for i in req.indexes(COVARIATE_CUES) if req.free(i)]
    if req.seq({"control", "controlling"}, "for") >= 0:
        cues.append(req.seq({"control", "controlling"}, "for"))
    scores = [i for i in req.indexes({"score", "scores", "scored"}) if req.free(i)]
    cases = [i for i in req.indexes({"case", "cases", "per-case"}) if req.free(i)]
    if not (cues and scores and cases):
        return []
    run = runs[0]
    lo = min(cues[0], scores[0], cases[0], run.start)
    hi = max(cues[0], scores[0], cases[0], run.end - 1)
    inside = [
        i
        for i in range(lo, hi + 1)
        if req.free(i) and (req.w(i) in _CASE_FILL | COVARIATE_CUES or req.w(i) == "control")
    ]
    if cases[0] not in inside or scores[0] not in inside:
        return []
    req.use(*inside, cues[0])
    req.use_match(run)
    e = hi + 1  # "… as the covariate" after the run
    if req.w(e) == "as":
        end = e + 1 + (req.w(e + 1) in ("the", "a"))
        if req.w(end) == "covariate":
            req.use(*range(e, end + 1))
    return ["--covariate", f"case:{run.name}"]


#: words that may stand between a covariate cue and the test it names ("a pre-period
#: covariate: onboarding's tokens", "adjusted for the pre-period tokens of onboarding")
_TEST_COV_FILL = _w("a the with using by for on from in its pre-period prior earlier previous as")


def _test_covariate(req: Request) -> list[str]:
    """``--covariate test:OTHER.METRIC``: a metric's mean in a pre-period test, said as the
    other test's metric by a covariate cue: "with a pre-period covariate: onboarding's
    tokens", "cuped on onboarding's completion time", "adjusted for the tokens of onboarding".
    The request must name two tests (the analyzed one too) or have one in focus; the covariate's
    test is the one the cue names, with a metric beside it."""
    tests = req.named("test")
    if not tests or (len({m.name for m in tests}) < 2 and not req.focus):
        return []
    cues = [i for i in req.indexes(COVARIATE_CUES) if req.free(i)]
    if not cues:
        return []
    for m in tests:
        # "onboarding's tokens" (the name, then its metric) or "the tokens of onboarding"
        found = find_metric(req, m.end + (req.w(m.end) == "pre-period"), anywhere=False)
        lo = m.start
        if found is None and req.w(m.start - 1) == "of":
            for k in range(m.start - 2, max(m.start - 5, -1), -1):
                before = find_metric(req, k, anywhere=False) if req.free(k) else None
                if before is not None and before[2] == m.start - 1:
                    found, lo = before, k
                    break
        if found is None:
            continue
        cue = max((c for c in cues if c < lo), default=-1)
        if cue < 0 or not all(
            req.free(x) and (req.w(x) in _TEST_COV_FILL or req.p(x) in (":", "="))
            for x in range(cue + 1, lo)
        ):
            continue
        req.use(*range(cue, lo), *range(found[1], found[2]))
        req.use_match(m)
        if req.w(m.end) == "pre-period":
            req.use(m.end)
        if req.w(lo - 1) == "of" or req.w(m.start - 1) == "of":
            req.use(m.start - 1)
        a = cue - 1
        while req.w(a) in ("a", "with", "using", "the", "pre-period") and req.free(a):
            req.use(a)
            a -= 1
        return ["--covariate", f"test:{m.name}.{found[0]}"]
    return []


def _covariate(req: Request) -> list[str]:
    """``--covariate NAME`` (CUPED): "cuped on prior_score", "adjust for prior_score",
    "controlling for X", "with X as the covariate"."""
    toks = req.tokens
    for words in (
        ({"cuped"}, {"on", "with", "using", "for", "by"}),
        ({"adjust", "adjusted", "adjusting", "adjustment"}, {"for", "by"}),
        ({"control", "controlling", "controlled"}, {"for"}),
        ({"covariate"},),
    ):
        k = req.index(words[0])
        if k < 0 or not req.free(k):
            continue
        j = k + 1
        while j in req.in_name:  # "adjust checkout-flow for prior_score"
            j += 1
        obj = j
        while req.w(j) in ("it", "this", "that", "them") and req.free(j):
            j += 1  # "cuped it with prior_score", "adjust this for X": the test in focus
        if len(words) > 1:
            if req.w(j) not in words[1] or not req.free(j):
                continue
            req.use(*range(obj, j + 1))
            j += 1
        if req.p(j) in (":", "="):
            j += 1
        if (
            j < len(toks)
            and req.free(j)
            and toks[j].kind == "word"
            and toks[j].norm not in KNOWN | NEVER_VALUES  # "adjusted for except …" names none
        ):
            req.use(k, j)
            for x in req.indexes({"cuped"}):
                req.use(x)
            return ["--covariate", toks[j].text]
    for i, t in enumerate(toks):  # "with prior_score as the covariate"
        if t.kind == "word" and req.free(i) and t.norm not in KNOWN and req.w(i + 1) == "as":
            e = i + 2 + (req.w(i + 2) in ("the", "a"))
            if req.w(e) == "covariate":
                req.use(*range(i - (req.w(i - 1) in ("with", "using")), e + 1))
                return ["--covariate", t.text]
    return []


#: what may come before "detecting" in an effect's name ("the smallest effect worth detecting")
_WORTH_LEAD = _w("worth effect lift difference change smallest minimum minimal least the a an")
#: "if I only care about 3 points or more", "lifts of 2pp or more matter": the smallest effect
#: worth finding (--mde), said without the word "mde"; only with a unit (points or %)
_CARE = ("care", "cares", "matter", "matters", "count", "counts", "worth")
_OR_MORE = _w("more bigger larger greater above higher")
#: comparatives an effect may be said with ("at least 30s quicker")
_COMPARATIVES = _w(
    "quicker faster slower cheaper pricier better worse higher lower more less fewer"
)
#: what an effect is called after its size ("a 5pp lift", "a 10% change")
_EFFECT_NOUNS = _w(
    """lift lifts gain gains difference differences effect effects change changes improvement
    improvements increase increases drop drops decrease decreases shift delta"""
)
#: "to see 4 points", "looking for a 1.5pp lift", "to catch 2 points"
_SEE = _w("see spot catch find notice detect for")


def _rate_apart(req: Request, i: int) -> tuple[str, int, int] | None:
    """A "X per Y" metric with its comparative inside: "cost less per success" is
    cost_per_success (the comparative says which way, as "cheaper" does)."""
    from trialbook.plain.words import METRIC_PHRASES

    if not req.free(i):
        return None
    if req.w(i) in ("cheaper", "pricier") and req.w(i + 1) == "per" and req.free(i + 1):
        i += 1  # "cheaper per success": the cost, per success
        for phrase, metric in METRIC_PHRASES:
            if phrase[:1] == ("cost",) and all(
                req.w(i + k - 1) == w for k, w in enumerate(phrase) if k
            ):
                return metric, i - 1, i + len(phrase) - 1
        return None
    cost_less = req.w(i) in ("cost", "costs") and req.w(i + 1) in ("less", "more")
    if cost_less and req.free(i + 1) and req.w(i + 2) != "per":
        req.use(i + 1)  # "does warm cost less than cold?": the comparative, as "cheaper"
        return "cost", i, i + 1
    for phrase, metric in METRIC_PHRASES:
        if "per" not in phrase:
            continue
        p = phrase.index("per")
        if not all(req.w(i + k) == w for k, w in enumerate(phrase[:p])):
            continue
        if req.w(i + p) not in _w("less more fewer lower higher") or not req.free(i + p):
            continue
        if all(req.w(i + p + 1 + k) == w for k, w in enumerate(phrase[p:])):
            return metric, i, i + len(phrase) + 1
    return None


def _power_lead(req: Request, i: int) -> list[int]:
    """The free words before ``i`` (a "detect"/"see" of an effect) that ask how many results
    it needs: "what would it take to", "how long will it take to"; else none."""
    k = i - 1
    if req.w(k) == "to" and req.free(k):
        k -= 1
    if not (req.w(k) in ("take", "takes") and req.w(k - 1) == "it" and req.free(k)):
        return []
    span, k = [i - 1, k, k - 1], k - 2
    while req.w(k) in ("would", "will", "does", "what", "how", "long") and req.free(k):
        span.append(k)
        k -= 1
    return span


def _effect_worth(req: Request) -> Token | None:
    """An effect with its unit that the words make the one worth detecting, else None."""
    toks = req.tokens
    for j, t in enumerate(toks):
        if not (t.kind == "num" and t.unit in ("pp", "%", "s", "usd") and req.free(j)):
            continue
        # "is treatment better than control by at least 2pp?": the margin a comparative said
        # before it must reach (the effect worth detecting)
        # before it must reach (the effect worth detecting); "by 10s" alone states an effect,
        # as "10s faster" does, and is asked about
        by = j - 3
        if (
            req.w(by) == "by"
            and req.w(j - 1) == "least"
            and req.w(j - 2) == "at"
            and all(req.free(x) for x in range(by, j))
            and any(req.w(x) in _COMPARATIVES for x in range(by))
            and req.w(j + 1) in ("", "on", "for", "in")
        ):
            req.use(*range(by, j + 1))
            return t
        # "at least 30s quicker than cold": the comparative stays for the metric reader
        if req.w(j - 1) == "least" and req.w(j - 2) == "at" and req.w(j + 1) in _COMPARATIVES:
            req.use(j - 2, j - 1, j)
            if req.w(j - 3) == "by" and req.free(j - 3):
                req.use(j - 3)
            return t
        b = j + 1
        b += req.w(b) == "relative" and req.w(b + 1) in _EFFECT_NOUNS  # "a 10% relative lift"
        if req.w(b) in _EFFECT_NOUNS:
            b += 1
        more = req.w(b) == "or" and req.w(b + 1) in _OR_MORE
        a = j
        while req.w(a - 1) in ("a", "an", "of", "least", "at", "about") and (
            req.free(a - 1) or req.w(a - 1) in ("a", "an")  # the article, not variant "a"
        ):
            a -= 1
            if req.w(a) == "of" and req.w(a - 1) in _EFFECT_NOUNS and req.free(a - 1):
                a -= 1  # "a lift of at least 5 points": the effect's noun before its size
        # "a 10% relative lift is the smallest we'd care about": the effect, then what it is
        k = b
        if req.w(k) == "is" and req.w(k + 1) == "the" and req.w(k + 2) in ("smallest", "least"):
            e = k + 3
            while req.w(e) in (
                "we",
                "i",
                "we'd",
                "i'd",
                "would",
                "really",
                "actually",
            ) and req.free(e):
                e += 1
            if req.w(e) in _CARE and all(req.free(x) for x in range(k, e + 1)):
                e += req.w(e + 1) == "about"
                req.use(*range(a, e + 1))
                return t
        if req.w(a - 1) in ("is", "=") and req.w(a - 2) in ("about", *_CARE) and req.free(a - 1):
            a -= 2  # "the smallest effect I care about is 5pp"
            for k in req.indexes({"smallest", "effect", "minimum", "difference", "lift"}):
                if k < a and req.free(k):
                    req.use(k)
        care_before = req.w(a - 1) in _CARE or (
            req.w(a - 1) in _SEE and req.w(a - 2) not in ("not", "never", "n't")
        )
        after = b + 2 if more else b
        care_after = req.w(after) in _CARE
        if not (care_before or care_after or (more and req.w(a - 1) in ("about", "least"))):
            continue
        span = list(range(a - (1 if care_before else 0), after + (1 if care_after else 0)))
        k = a - 1 - (1 if care_before else 0)
        while care_after and req.w(k) in ("only", "if", "just") and req.free(k):
            span.append(k)  # "if only 5% or bigger counts"
            k -= 1
        if care_before:  # "if I only care about", "what I care about is", "looking for"
            k = a - 2
            while req.w(k) in (
                "only",
                "really",
                "i",
                "we",
                "if",
                "just",
                "what",
                "to",
                "looking",
                "look",
            ) and req.free(k):
                span.append(k)
                k -= 1
            span += _power_lead(req, k + 1)
        req.use(*span)
        return t
    return None


def _quantile_apart(req: Request) -> tuple[str, list[int]] | None:
    """A quantile said apart from the metric: "cost at the 99th percentile"."""
    for i in req.indexes({"percentile"}):
        q = _quantile(req, i)
        if q:
            for k in (q[1][0] - 1, q[1][0] - 2):
                if req.w(k) in ("the", "at", "on", "by") and req.free(k):
                    q[1].append(k)
            return q
    return None


def _quantile(req: Request, i: int) -> tuple[str, list[int]] | None:
    """``pNN`` beside a metric ("p95 completion time", "cost p99", "median cost"): its quantile."""
    w = req.w(i)
    if not req.free(i):
        return None
    if re.fullmatch(r"p\d{1,2}(?:\.\d+)?", w):
        return w, [i]
    if w == "median":
        return "p50", [i]
    if w == "percentile":  # "the 99th percentile": the ordinal before it
        m = re.fullmatch(r"(\d{1,2})(?:st|nd|rd|th)", req.tokens[i - 1].text.lower()) if i else None
        if m and req.free(i - 1):
            return f"p{m.group(1)}", [i - 1, i]
        return None
    m = re.fullmatch(r"(\d{1,2})(?:st|nd|rd|th)", w)
    if m and req.w(i + 1) == "percentile" and req.free(i + 1):
        return f"p{m.group(1)}", [i, i + 1]
    return None


#: words that put the variant after them in the baseline's place: "b over a", "relative to a"
_BASELINE_AFTER = frozenset({"against", "over", "than", "to", "versus", "vs"})


def _baseline_named(req: Request, test: str) -> str | None:
    """A variant the words make the baseline ("is b cheaper than c", "how does b compare
    to c", "relative to c") when it is not the test's control, else None. The control
    is the first variant (the store's order); a comparison between two other variants
    is not what ``ab analyze`` shows."""
    variants = req.vocab.variants_of(test)
    if not variants:
        return None
    control = variants[0]
    for m in variant_mentions(req):
        if m.name not in variants:
            continue  # "compared to control" on a test with no variant so named: the role
        before = req.w(m.start - 1)
        if before == "the":
            before = req.w(m.start - 2)
        said = before in _BASELINE_AFTER or (before == "to" and req.w(m.start - 2) == "relative")
        if said and m.name != control:
            return m.name
    return None


def margin_text(req: Request, tok: Token, metric: str | None) -> str | Translation:
    """An effect size as typed, in the form ``--mde``/``--margin`` take, checked for the metric.

    "5 points"/"5pp" are percentage points, "5 %" is relative to control, "0.05" and
    "2.5" are in the metric's units, "30 s" and "$0.01" carry theirs. With the metric
    known (said in the request) the margin is read by :func:`trialbook.domain.units.parse_margin`,
    the same rule as the CLI's, so a margin that cannot be right for the metric (a bare
    5 or 150 points on a proportion) is refused with its reason. With the metric not
    said, a bare number of 1 or more could be 5 seconds or 500 points: it is asked about.
    """
    from trialbook.domain.units import UnitError, parse_margin

    value = fmt(tok.value)
    text = {"%": f"{value}%", "pp": f"{value}pp", "s": f"{value}s", "usd": f"${value}"}.get(
        tok.unit or "", value
    )
    if metric is None:
        if tok.unit is None and tok.value >= 1:
            return incomplete(
                req.text,
                ["ab", "analyze", *[n for n in req.names_of("test")[:1]]],
                ["--mde EFFECT"],
                f"an effect of {tok.text}: is that {value}pp (points), {value}% (relative to "
                "control), or in the metric's units? say it with its unit, or name the metric",
            )
        return text if tok.unit != "s" else fmt(tok.value)
    try:
        out = str(parse_margin(text, metric))
    except UnitError as e:
        return refused(req.text, str(e))
    try:
        return fmt(Decimal(out))  # "30", not "30.0"
    except ArithmeticError:
        return out  # "5pp", "10%"


def _custom_metric(req: Request) -> str | None:
    """A custom metric named as one ("the csat metric", "the custom csat metric", "metric
    csat"): a word no rule knows, beside "metric", after "on"/"the"/"custom" or before it; the
    CLI checks it exists (a results' metric or a catalogue one)."""
    toks = req.tokens
    for k in req.indexes({"metric"}):
        if not req.free(k):
            continue
        for j in (k - 1, k + 1):
            t = toks[j] if 0 <= j < len(toks) else None
            if (
                t is None
                or t.kind != "word"
                or not req.free(j)
                or j in req.in_name
                or t.norm in KNOWN | NEVER_VALUES
                or not CUSTOM_METRIC_RE.match(t.norm)
            ):
                continue
            a, b = min(j, k), max(j, k)
            while req.w(a - 1) in ("the", "custom", "our", "own", "on", "by") and req.free(a - 1):
                a -= 1
            req.use(*range(a, b + 1))
            return t.norm
    return None


#: the words before the metric a decision was judged on
_JUDGED_ON = _w("on by judged judging based going metric measured for the its")


def _analysis_options(req: Request) -> list[str] | Translation:
    """What a decision was judged on: ``--metric`` ("on completion time", "metric
    success") and ``--mde``/``--margin`` ("with an mde of 5 points"), as ``ab conclude``
    records them with the analysis."""
    toks = req.tokens
    metrics: list[str] = []
    i = 0
    while i < len(toks):
        found = find_metric(req, i, anywhere=False) if req.free(i) else None
        if found:
            a, b = found[1], found[2]
            quantile = QUANTILE_WORD.fullmatch(req.w(a - 1)) and req.free(a - 1)
            metrics.append(f"{found[0]}:{req.w(a - 1)}" if quantile else found[0])
            a -= bool(quantile)  # "based on the p95 completion time (analysis)"
            while req.w(a - 1) in _JUDGED_ON and req.free(a - 1):
                a -= 1  # "judged on cost", "based on completion_time", "going by success"
            b += req.w(b) in ("analysis", "figures", "numbers") and req.free(b)
            req.use(*range(a, b))
            i = b
        else:
            i += 1
    refusal = metric_refusal(req, metrics)
    if refusal:
        return refusal
    opts = ["--metric", metrics[0]] if metrics else []
    for cue, option in (({"mde", "detectable"}, "--mde"), ({"margin"}, "--margin")):
        for k in req.indexes(cue):
            j = skip(req, k + 1, BE | {"of", "a", "an", "the", "effect"}, ":=")
            if j < len(toks) and toks[j].kind == "num" and req.free(j):
                effect = margin_text(req, toks[j], metrics[0] if metrics else None)
                if isinstance(effect, Translation):
                    return effect
                a = k
                while req.w(a - 1) in ("with", "an", "a", "minimum") and req.free(a - 1):
                    a -= 1
                req.use(*range(a, j + 1))
                opts += [option, effect]
                break
    return opts


def _alpha(req: Request) -> Token | None:
    """A significance level: "alpha 0.01", "at 1% significance", "significance level of 0.1"."""
    toks = req.tokens
    alpha = None
    for i in req.indexes({"alpha", "significance", "level"}):
        j = skip(req, i + 1, BE | {"of", "at", "level", "="}, ":=")
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
    return alpha


def _alpha_option(req: Request, alpha: Token) -> list[str] | Translation:
    """``--alpha A`` from a level as typed (1% is 0.01); one outside (0, 0.5] is refused."""
    value = alpha.value / 100 if alpha.unit == "%" else alpha.value
    if not 0 < value <= Decimal("0.5"):
        return refused(
            req.text,
            f"a significance level of {alpha.text} cannot be right: alpha is between 0 and 0.5 "
            "(e.g. 0.05 or 5%)",
        )
    return ["--alpha", fmt(value)]


# --------------------------------------------------------------------- deciding and tidying: conclude, archive, restore


def conclude(req: Request) -> Translation:
    """``ab conclude NAME (--ship V | --keep-control | --stop) [--note TEXT]``."""
    note, note_at = note_text(req, because=True)
    if note is None:  # "ship warm, the numbers are clear": a reason in a last clause
        note, note_at = clause_reason(req)
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
    else:  # "keep, the control": a comma between (the words alone were dropped before)
        for i in req.indexes(KEEP_CONTROL):
            j = i + 1
            while req.free(j) and (req.p(j) == "," or req.w(j) in ("with", "the", "using")):
                j += 1
            if req.free(i) and req.w(j) in ("control", "baseline") and j not in req.used:
                modes.append("keep-control")
                req.use(*range(i, j + 1))
                break
    declined = False  # "don't ship V": keeping the control only when V is the one candidate
    for words in (("do", "not", "ship"), ("don", "not", "ship"), ("no", "change"), ("not", "ship")):
        k = req.seq(*words)
        if k >= 0:
            modes.append("keep-control")
            declined = declined or words[-1] == "ship"
            req.use(*range(k, k + len(words)))
    test_named = req.names_of("test")
    owner = test_named[0] if len(test_named) == 1 else req.focus
    control = (req.vocab.variants_of(owner) or ("",))[0] if owner else ""
    # "keep cold" where cold is the control: keeping the control
    for m in variant_mentions(req):
        if m.name == control and req.w(m.start - 1) in KEEP_CONTROL and req.free(m.start - 1):
            modes.append("keep-control")
            req.use(m.start - 1, *range(m.start, m.end))
    # "we're not going with warm" beside a keep: the variant not shipped
    for k in [req.seq({"not", "no"}, {"going", "go"}, "with"), req.seq("not", "shipping")]:
        if k >= 0 and "keep-control" in modes:
            n = 3 if req.w(k + 2) == "with" else 2
            req.use(*range(k, k + n))
            for m in variant_mentions(req):
                if m.start == k + n:
                    req.use_match(m)
    # "stop and keep the control": keeping the control is how this test stops
    if "keep-control" in modes:
        for i in req.indexes(STOP_WORDS):
            j = i + 1
            while j in req.in_name:  # "end onboarding and keep control"
                j += 1
            if req.free(i) and (req.w(j) == "and" or req.p(j) == ","):
                req.use(i, j)
    # "stop … without picking a variant": no variant shipped, said outright
    k = req.seq("without", {"picking", "choosing", "shipping", "selecting"})
    if k >= 0:
        end = skip(req, k + 2, frozenset({"a", "any", "the"}))
        if req.w(end) in ("variant", "winner", "one", "anything"):
            end += 1
        req.use(*range(k, end))
    # "call it off", "call off the test": stop; "no winner", "without a winner": no variant
    k = req.seq("call", {"it", "this", "the", "off"})
    if k >= 0:
        end = k + 1
        while end < len(req.tokens) and (
            req.w(end) in ("it", "this", "the", "test") or end in req.in_name
        ):
            end += 1
        if req.w(end) == "off":
            modes.append("stop")
            req.use(k, end, *[x for x in range(k + 1, end) if x not in req.in_name])
    # "no winner", "without a clear winner", "without a decision": a stop ships nothing
    for k in req.indexes({"no", "without"}):
        j = k + 1 + (req.w(k + 1) in ("a", "any", "an"))
        j += req.w(j) == "clear"
        said = req.w(j) in ("winner", "decision", "verdict", "pick") or (
            req.w(j - 1) == "clear" and j == k + 2
        )
        if said and ("stop" in modes or req.has(STOP_WORDS)):
            end = j + (req.w(j) in ("winner", "decision", "verdict", "pick"))
            req.use(*range(k, end))
            if req.w(k - 1) == "a":
                req.use(k - 1)
    # past and present decisions: "we decided on verbose", "we're shipping warm"
    k = req.seq({"decided", "decide", "settled", "picked", "chose", "choosing"}, {"on", "for"})
    if k >= 0:
        modes.append("ship")
        req.use(k, k + 1)
    for i in req.indexes(STOP_WORDS):
        if req.free(i):
            modes.append("stop")
            req.use(i)
    for i in req.indexes(
        SHIP_VERBS
        | {"go", "going", "went", "pick", "choose", "select", "switch", "promote", "roll", "launch"}
    ):
        if not req.free(i):
            continue
        w = req.w(i)
        if w in ("go", "going", "went") and req.w(i + 1) != "with":
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
    choices = variant_choices(req, test)
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
                return no_such_variant(req, test, unknown[0].text, choices)
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
    candidates = [c for c in choices if c != choices[0]]
    if declined and len(candidates) > 1:
        # not shipping one of several candidates leaves the others: never read as keeping control
        return refused(
            req.text,
            f"{test} has {len(candidates)} variants besides the control: ship another one, "
            "keep the control, or stop?",
            [
                f"ab conclude {test} --keep-control",
                *(f"ab conclude {test} --ship {c}" for c in candidates),
            ],
        )
    for m in mentions:
        req.use_match(m)
    for i in req.indexes(TEST_WORDS | {"it", "this", "experiment"}):
        req.use(i)
    opts = ["--ship", ship_variant[0]] if mode == "ship" else [f"--{mode}"]
    judged = _analysis_options(req)
    if isinstance(judged, Translation):
        return judged
    opts += judged + _covariate(req)  # "ship c with the cuped covariate prior_score"
    alpha = _alpha(req)
    if alpha is not None:
        level = _alpha_option(req, alpha)
        if isinstance(level, Translation):
            return level
        opts += level
        for i in req.indexes({"analyzed", "analysed", "analysis"}):
            req.use(i)
    refusal = number_refusal(req) or unknown_refusal(
        req, "Put the reason after 'because' or 'note:'."
    )
    if refusal:
        return refusal
    if note:
        opts += ["--note", note]
    return command(req.text, ["ab", "conclude", test, *opts])


def archive(req: Request) -> Translation:
    """``ab archive NAME``: hides the test; nothing is destroyed."""
    reason, _ = note_text(req, _w("reason note notes why"), because=True)
    if reason is None:  # "archive onboarding, it is finished"
        reason, _ = clause_reason(req)
    gone = req.named("archived")
    if gone and not req.named("test"):
        return refused(
            req.text,
            f"test {gone[0].name!r} is already archived (`ab restore {gone[0].name}` brings it back)",
        )
    archived = _one_test(req, "archive", archived=False, single=False)
    if reason and archived.status == "command":
        return command(req.text, [*archived.argv, "--reason", reason])
    return archived


def restore(req: Request) -> Translation:
    """``ab restore NAME``: brings an archived test back (a test that is not archived is refused)."""
    named = req.named("test")
    if named and not req.named("archived"):
        return refused(req.text, f"test {named[0].name!r} is not archived; nothing to restore")
    return _one_test(req, "restore", archived=False, only_archived=True, single=True)


def _one_test(
    req: Request, verb: str, *, archived: bool, only_archived: bool = False, single: bool
) -> Translation:
    """``ab VERB NAME`` for the one test the request names (the options are
    :func:`resolve_test`'s); any number or unknown word left over is refused."""
    test = resolve_test(
        req, ["ab", verb], archived=archived, only_archived=only_archived, single=single
    )
    if isinstance(test, Translation):
        return test
    refusal = number_refusal(req) or unknown_refusal(req)
    if refusal:
        return refusal
    return command(req.text, ["ab", verb, test])
