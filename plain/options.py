"""Options any command may take, read once for every request: output formats, limits,
dates, log positions, concurrency, an output file.

The phrases here mean the same whatever the command ("as json", "the last 10",
"since 2026-11-01", "at position 120", "4 at a time", "into audit.md"), so
:func:`read` takes them out of the request before a rule runs (their tokens are
marked used) and :func:`attach` adds them to the command the rule chose. A phrase
whose option the command does not have is never dropped: the request is refused
with the reason, and nothing runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from trialbook.plain.lex import fmt
from trialbook.plain.request import Request
from trialbook.plain.types import Translation, command_path, refused
from trialbook.plain.words import CONCURRENCY_WORDS, _w

#: the generic options each command has (the CLI's; tests/test_plain.py checks them against click)
TAKES: dict[tuple[str, ...], frozenset[str]] = {
    ("ab", "list"): _w("--json"),
    ("ab", "show"): _w("--json --csv --limit"),
    ("ab", "summary"): _w("--json"),
    ("ab", "analyze"): _w("--json --plot --as-of --at --diff-now"),
    ("ab", "conclude"): _w("--json"),
    ("audit",): _w("--json"),
    ("audit", "report"): _w("--output"),
    ("canary", "list"): _w("--json"),
    ("canary", "assign"): _w("--json"),
    ("canary", "status"): _w("--json --as-of --at"),
    ("canary", "advance"): _w("--json"),
    ("canary", "halt"): _w("--json"),
    ("canary", "rollback"): _w("--json"),
    ("canary", "complete"): _w("--json"),
    ("canary", "audit"): _w("--output"),
    ("eval", "list"): _w("--json"),
    ("eval", "show"): _w("--json --csv --markdown --plot --as-of --at"),
    ("eval", "compare"): _w("--json"),
    ("eval", "suite", "list"): _w("--json"),
    ("eval", "suite", "show"): _w("--json"),
    ("eval", "run"): _w("--concurrency"),
    ("eval", "resume"): _w("--concurrency"),
    ("eval", "retry-failed"): _w("--concurrency"),
    ("eval", "rescore"): _w("--concurrency"),
    ("events", "log"): _w("--json --jsonl --limit --since --until --actor"),
    ("events", "show"): _w("--json"),
    ("events", "verify"): _w("--json"),
    ("events", "export"): _w("--since --output"),
    ("events", "import"): _w("--json"),
    ("projections", "rebuild"): _w("--json"),
    ("report", "ab"): _w("--output --as-of --at"),
    ("report", "eval"): _w("--output --as-of --at"),
    ("report", "canary"): _w("--output --as-of --at"),
    ("export", "dataset"): _w("--output"),
}

#: commands that say the output format with ``--format markdown|json``
_FORMAT_COMMANDS = frozenset(
    {
        ("audit", "report"),
        ("canary", "audit"),
        ("report", "ab"),
        ("report", "eval"),
        ("report", "canary"),
    }
)
#: what an output file's extension says of the format (markdown is their default: not added)
_EXTENSION_FORMATS = {".json": "json", ".html": "html"}
_HTML_COMMANDS = frozenset({("report", "ab"), ("report", "eval"), ("report", "canary")})
_LIMIT_BEFORE = _w("last latest recent newest limit")  # not "first": --limit keeps the newest
_LIMIT_NOUNS = _w("results result sessions session rows events event entries lines rollouts")
_ALL_NOUNS = _w("result results session sessions event events row rows entries")
_SINCE = _w("since after from")
_UNTIL = _w("until till before through")
_FILE_CUES = _w("into to output file")


@dataclass(frozen=True)
class Found:
    """A generic option read from the request: the flag, its value (None for a flag), the words."""

    option: str
    value: str | None
    said: str


def _span(req: Request, a: int, b: int) -> str:
    return req.text[req.tokens[a].start : req.tokens[b - 1].end]


def read(req: Request) -> list[Found]:  # noqa: C901 - one reader per phrase family
    """Take the generic option phrases out of ``req`` (their tokens become used)."""
    toks = req.tokens
    out: list[Found] = []

    def take(option: str, value: str | None, a: int, b: int) -> None:
        out.append(Found(option, value, _span(req, a, b)))
        req.use(*range(a, b))

    # formats: "as json", "in json", "json output", "as markdown", "as csv"
    for i, t in enumerate(toks):
        if not (req.free(i) and t.kind == "word"):
            continue
        flag = {
            "json": "--json",
            "jsonl": "--jsonl",
            "markdown": "--markdown",
            "md": "--markdown",
            "csv": "--csv",
        }
        cued = req.w(i - 1) in ("as", "in", "into") or req.w(i + 1) in ("output", "format")
        if t.norm in flag and (t.norm != "md" or cued):  # "variants md and plain": a name
            a = i - 1 if req.w(i - 1) in ("as", "in", "into") and req.free(i - 1) else i
            b = i + 1 + (req.w(i + 1) in ("output", "format") and req.free(i + 1))
            if req.w(a - 1) in ("me", "give") or req.w(a - 1) == "and":
                pass
            take(flag[t.norm], None, a, b)
        elif t.norm in ("plot", "chart", "graph", "draw", "histogram", "histograms"):
            take("--plot", None, i, i + 1)
        elif t.norm in ("distribution", "distributions"):
            # "the score and latency distributions of X", "the distribution of scores": what
            # `--plot` draws (eval show: scores and latencies)
            drawn = _w("score scores latency latencies and")
            a, b = i, i + 1
            while req.w(a - 1) in drawn and req.free(a - 1):
                a -= 1
            if req.w(b) == "of" and req.w(b + 1) in drawn:
                b += 2
                while req.w(b) in drawn:
                    b += 1
            take("--plot", None, a, b)
    # log positions: "at position 120", "right after position 1200", "as of position 7", for
    # something as it was then (a test, run or canary); "show position 17" is one event
    as_of_something = bool(req.named("test", "archived", "run", "canary")) or bool(req.focus)
    for i in req.indexes({"position", "pos"}) if as_of_something else []:
        j = i + 1 + (req.p(i + 1) == "#")
        if j < len(toks) and toks[j].is_int and req.free(j) and req.free(i):
            a = i
            while req.w(a - 1) in ("at", "after", "right", "just", "as", "of") and req.free(a - 1):
                a -= 1
            take("--at", fmt(toks[j].value), a, j + 1)
    # dates: "since D", "until D", "between D and E", "as of D"
    for i, t in enumerate(toks):
        if t.kind != "date" or not req.free(i):
            continue
        # "on 2026-03-03 at 17:00": the time of day said apart from the date
        if (
            "T" not in t.norm
            and req.w(i + 1) == "at"
            and i + 4 < len(toks) + 1
            and i + 3 < len(toks)
            and toks[i + 2].is_int
            and req.p(i + 3) == ":"
            and i + 4 < len(toks)
            and toks[i + 4].kind == "num"
            and toks[i + 4].text.isdigit()
            and len(toks[i + 4].text) == 2
            and toks[i + 2].value < 24
        ):
            hh, mm = int(toks[i + 2].value), toks[i + 4].text
            t.text = t.norm = f"{t.text} {hh:02d}:{mm}"  # the CLI reads "D HH:MM" as "DTHH:MM"
            req.use(i + 1, i + 2, i + 3, i + 4)
        before = req.w(i - 1)
        if before in _SINCE:
            take("--since", t.text, i - 1, i + 1)
        elif before in _UNTIL or (before == "and" and any(f.option == "--since" for f in out)):
            take("--until", t.text, i - 1, i + 1)
        elif before == "between":
            take("--since", t.text, i - 1, i + 1)
        elif before == "of" and req.w(i - 2) == "as":
            take("--as-of", t.text, i - 2, i + 1)
        elif before in ("at", "on"):
            take("--as-of", t.text, i - 1, i + 1)
    k = req.seq({"what", "and"}, {"changed", "changes"}, "since")
    if k < 0:
        k = req.seq("what", "has", "changed", "since")
    if k >= 0 and any(f.option in ("--as-of", "--at") for f in out):
        n = 4 if req.w(k + 1) == "has" else 3
        take("--diff-now", None, k, k + n)
    elif k < 0 and any(f.option in ("--as-of", "--at") for f in out):
        # "what changed in X since position 120?": the change from then to now, the question
        # and its "since" apart (X between them)
        q = req.seq("what", {"changed", "changes"})
        q = q if q >= 0 else req.seq("what", "has", "changed")
        since = [i for i in req.indexes({"since"}) if req.free(i) and i > q]
        if q >= 0 and len(since) == 1 and all(req.free(x) for x in range(q, q + 2)):
            take("--diff-now", None, q, q + 2 + (req.w(q + 1) == "has"))
            req.use(since[0])
    # concurrency: "4 at a time", "at most 5 in flight", "10 in parallel", "concurrency 8"
    for i, t in enumerate(toks):
        if not (req.free(i) and t.is_int):
            continue
        if req.p(i - 1) in ("=", ":") and req.w(i - 2) not in ("concurrency", "parallelism"):
            continue  # "epochs=3 concurrency=4": 3 is the epochs' value
        w1 = req.w(i + 1)
        span = None
        if w1 == "at" and req.w(i + 2) == "a" and req.w(i + 3) == "time":
            span = (i, i + 4)
        elif (
            w1 == "at"
            and req.w(i + 2) == "once"
            or w1 == "in"
            and req.w(i + 2) in ("parallel", "flight")
        ):  # "16 at once"
            span = (i, i + 3)
        elif w1 in CONCURRENCY_WORDS:
            span = (i, i + 2)
        elif req.w(i - 1) in ("concurrency", "parallelism") and req.free(i - 1):
            span = (i - 1, i + 1)
        elif req.p(i - 1) in (":", "=") and req.w(i - 2) in ("concurrency", "parallelism"):
            span = (i - 2, i + 1)
        if span:
            a = span[0]
            if req.w(a - 1) == "most" and req.w(a - 2) == "at":
                a -= 2
            b = span[1]
            while req.w(b) in ("requests", "calls", "workers", "concurrent", "parallel"):
                b += 1
            take("--concurrency", fmt(t.value), a, b)
    # "all events, not just the last 20": every one (--limit 0), the number is what is not wanted
    k = req.seq("not", {"just", "only"}, {"the", "last", "latest"})
    if k >= 0 and req.index({"all", "every"}) >= 0:
        e = k + 2 + (req.w(k + 2) == "the")
        if req.w(e) in ("last", "latest", "newest", "recent") and e + 1 < len(toks):
            n = e + 1
            if toks[n].is_int and all(req.free(x) for x in range(k, n + 1)):
                a = req.index({"all", "every"})
                take("--limit", "0", k, n + 1 + (req.w(n + 1) in _LIMIT_NOUNS))
                req.use(a)
    # limits: "the last 10 results", "20 latest events", "every single result"
    for i, t in enumerate(toks):
        if not (req.free(i) and t.is_int):
            continue
        if req.w(i - 1) in _LIMIT_BEFORE and req.free(i - 1):
            b = i + 1 + (req.w(i + 1) in _LIMIT_NOUNS)
            take("--limit", fmt(t.value), i - 1, b)
        elif req.w(i + 1) in ("latest", "newest", "recent") and req.free(i + 1):
            b = i + 2 + (req.w(i + 2) in _LIMIT_NOUNS)
            take("--limit", fmt(t.value), i, b)
        elif req.w(i + 1) == "most" and req.w(i + 2) in ("recent", "latest"):
            b = i + 3 + (req.w(i + 3) in _LIMIT_NOUNS)
            take("--limit", fmt(t.value), i, b)
    # all of them: --limit 0 (the CLI's "0 for all"): "every single result", "each and every
    # event", "all the sessions" (never "all tests": that is `ab list --all`)
    for words in (
        ({"every", "all"}, "single", _ALL_NOUNS),
        ("each", "and", "every", _ALL_NOUNS),
        ("all", "the", _ALL_NOUNS),
        ("all", "of", "the", _ALL_NOUNS),
        ("all", "of", {"its", "their"}, _ALL_NOUNS),
        *([("all", "of", "them")] if req.has(_ALL_NOUNS) else []),
        ("every", _ALL_NOUNS),  # "…, every event" (not "after every result": see below)
        # "everything ann@laptop recorded, all of it": what was asked for, all of it
        *([("all", "of", "it")] if req.has(_ALL_NOUNS | {"everything", "log", "history"}) else []),
    ):
        k = req.seq(*words)
        if req.w(k - 1) in ("after", "following", "per"):
            continue  # "after every single result": when (the analysis' history), not how many
        if k >= 0 and all(req.free(x) for x in range(k, k + len(words))):
            take("--limit", "0", k, k + len(words))
            break
    # who recorded it: "what did ann@laptop record?", "events by ann@laptop"
    for i, t in enumerate(toks):
        if t.kind == "actor" and req.free(i):
            a = i - 1 if req.w(i - 1) in ("by", "from") else i
            take("--actor", t.text, a, i + 1)
    # an output file: "into audit.md", "to log.jsonl", "output report.md"
    for i, t in enumerate(toks):
        # "-o cand.jsonl", "--output x.md": the option typed as it is
        if (
            t.kind == "path"
            and req.free(i)
            and i >= 2
            and req.p(i - 2) == "-"
            and req.w(i - 1) == "o"
        ):
            take("--output", t.text, i - 2, i + 1)
            continue
        if (
            t.kind == "path"
            and req.free(i)
            and i >= 1
            and req.w(i - 1) == "output"
            and req.p(i - 2) == "-"
        ):
            take("--output", t.text, i - 2 - (req.p(i - 3) == "-"), i + 1)
            continue
        written = t.text.lower().endswith((".md", ".json", ".jsonl", ".html", ".txt"))
        if t.kind == "path" and req.free(i) and req.w(i - 1) in _FILE_CUES and written:
            out.append(Found("--output", t.text, _span(req, i - 1, i + 1)))
            req.use(i)  # the cue stays free: "import … into" rules still read it
        elif (
            t.kind == "path"
            and req.free(i)
            and written
            and req.p(i - 1) in (",", ":")
            and req.w(i - 2) == "file"
            and req.free(i - 2)
        ):
            # "as an HTML file, checkout-report.html": the file named right after the word
            out.append(Found("--output", t.text, _span(req, i - 2, i + 1)))
            req.use(i - 2, i)
    return out


def attach(req: Request, t: Translation, found: list[Found]) -> Translation:
    """Add the generic options to ``t``'s command; refuse one the command does not have."""
    if t.status == "refused" or not found:
        return t
    path = command_path(t.argv)
    takes = TAKES.get(path, frozenset())
    extra: list[str] = []
    seen: dict[str, str | None] = {}
    formats = {"--json": "json", "--markdown": "markdown"}
    for f in found:
        if f.option in formats and path in _FORMAT_COMMANDS:
            if "--format" not in t.argv and "--format" not in extra:
                extra += ["--format", formats[f.option]]
            continue
        if f.option == "--jsonl" and path == ("export", "dataset") and "jsonl" in t.argv:
            continue  # "as jsonl": the dataset's format, read by its rule
        if f.option == "--output" and f.option not in takes and f.value in t.argv:
            continue  # "import x.jsonl into …": a file the rule read itself
        if f.option == "--output" and path in _FORMAT_COMMANDS and f.value is not None:
            ext = f.value[f.value.rfind(".") :].lower() if "." in f.value else ""
            said = _EXTENSION_FORMATS.get(ext)
            if said == "html" and path not in _HTML_COMMANDS:
                return refused(
                    req.text,
                    f"`{' '.join(path)}` writes markdown or json, not html ({f.said!r})",
                )
            given = next(
                (x for a, x in zip(t.argv, t.argv[1:], strict=False) if a == "--format"), None
            )
            if said and given is None and "--format" not in extra:
                extra += ["--format", said]
            elif said and (given or extra[extra.index("--format") + 1]) != said:
                return refused(req.text, f"{f.said!r} is {said}, but the format said is another")
        if f.option == "--since" and path == ("events", "export"):
            return refused(
                req.text,
                f"`events export --since` takes a log position (POS), not a date ({f.said!r}); "
                "`events log --since` reads dates",
            )
        if f.option not in takes:
            name = " ".join(path)
            return refused(
                req.text,
                f"`{name}` has no {f.option} option, so I cannot do {f.said!r}; see `help {name}`",
            )
        if f.option in seen:
            if seen[f.option] != f.value:
                return refused(req.text, f"{f.option} is given twice ({f.said!r}); say it once")
            continue
        if f.option in t.argv:
            given = t.argv[t.argv.index(f.option) + 1] if f.value is not None else None
            if given is not None and given != f.value:  # never drop one of two values
                return refused(req.text, f"{f.option} is given twice ({f.said!r}); say it once")
            continue
        seen[f.option] = f.value
        extra += [f.option] if f.value is None else [f.option, f.value]
    if "--diff-now" in seen and not ({"--as-of", "--at"} & (set(seen) | set(t.argv))):
        return refused(req.text, "'what changed since' needs a time or position to compare with")
    if not extra:
        return t
    from dataclasses import replace

    from trialbook.plain.types import is_write

    argv = (*t.argv, *extra)
    return replace(t, argv=argv, writes=is_write(argv))
