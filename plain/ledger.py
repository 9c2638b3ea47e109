"""Rules for the log and audit commands: ``events …``, ``projections rebuild``, ``audit …``."""

from __future__ import annotations

import re

from trialbook.plain.ab import variant_mentions
from trialbook.plain.lex import fmt
from trialbook.plain.request import Request, number_refusal, resolve_test
from trialbook.plain.types import Translation, command, incomplete, refused
from trialbook.plain.words import EVENT_TYPE_WORDS, FORMAT_WORDS, NEGATORS, _w

_CAMEL = re.compile(r"^[A-Z][a-z]+(?:[A-Z][a-z]+)+$")


def _at_most_one(
    req: Request, found: list[str], what: str, option: str, opts: list[str]
) -> Translation | None:
    """Refuse two different ``what``s ("one stream at a time: a or b?"); add ``option`` with
    the one found (if any) to ``opts``."""
    distinct = list(dict.fromkeys(found))
    if len(distinct) > 1:
        return refused(req.text, f"one {what} at a time: {' or '.join(distinct)}?", distinct)
    if distinct:
        opts += [option, distinct[0]]
    return None


def events_log(req: Request) -> Translation:
    """``events log [--stream S] [--type T] [--limit N]``."""
    toks = req.tokens
    opts: list[str] = []
    streams: list[str] = []
    for i in req.indexes({"logged"}):  # "what's been logged on X?" (never a result to add)
        req.use(i)
    for m in req.matches:
        if m.kind in ("test", "archived"):
            streams.append(f"ab:{m.name}")
        elif m.kind == "run":
            streams.append(f"eval-run:{m.name}")
        elif m.kind == "suite":
            streams.append(f"suite:{m.name}")
        elif m.kind == "canary":
            streams.append(f"canary:{m.name}")
        else:
            continue
        req.use_match(m)
    if not streams and req.focus:  # "the log for this test", "its log": the one in focus
        _focus_stream(req, streams)
    refusal = _at_most_one(req, streams, "stream", "--stream", opts)
    if refusal:
        return refusal
    types: list[str] = []
    for i, t in enumerate(toks):
        if t.kind == "word" and _CAMEL.match(t.text) and req.free(i):
            types.append(t.text)
            req.use(i)
    for i in req.indexes({"event", "events", "type", "only"}):
        for k in (i - 1, i + 1, i + 2):
            w = req.w(k)
            if (
                w in EVENT_TYPE_WORDS
                and req.free(k)
                and (
                    k < i
                    or req.w(i) in ("type", "only")  # "only the decisions in the log"
                    or req.w(i + 1) in ("of", "type")
                )
                and not (req.w(i) == "only" and k < i)
            ):
                types.append(EVENT_TYPE_WORDS[w])
                req.use(k, *([i] if req.w(i) == "only" else []))
    for i, t in enumerate(toks):  # "the decisions in the log", "results from the ledger"
        if t.kind == "word" and t.norm in EVENT_TYPE_WORDS and req.free(i) and not types:
            j = i + 1 + (req.w(i + 1) in ("in", "of", "from", "on"))
            j += req.w(j) == "the"
            if j > i + 1 and req.w(j) in ("log", "events", "ledger", "history"):
                types.append(EVENT_TYPE_WORDS[t.norm])
                req.use(i)
    if types:  # "only ResultAdded events": the filter is the type
        req.use(*req.indexes({"only"}))
    refusal = _at_most_one(req, types, "event type", "--type", opts)
    if refusal:
        return refusal
    for i, t in enumerate(toks):
        if not (req.free(i) and t.is_int):
            continue
        before, after = req.w(i - 1), req.w(i + 1)
        if before in ("first", "oldest", "earliest"):
            continue  # `--limit` keeps the newest: "the first 10 events" is asked about
        if before in ("last", "latest", "limit", "recent", "top", "newest") or after in (
            "events",
            "event",
            "entries",
            "lines",
            "most",
            "latest",
            "recent",
            "last",
        ):
            opts += ["--limit", fmt(t.value)]  # type: ignore[arg-type]
            req.use(i)
            break
    if "--limit" not in opts and not any(t.is_int for t in toks):
        # "everything ann@laptop recorded", "show me everything": all of it, not the last 20
        for i in req.indexes({"everything"}):
            if req.free(i):
                opts += ["--limit", "0"]
                req.use(i)
                break
    refusal = number_refusal(req)
    if refusal:
        return refused(
            req.text, refusal.reason + " (events log filters by --stream, --type and --limit only)"
        )
    return command(req.text, ["events", "log", *opts])


def events_show(req: Request) -> Translation:
    toks = req.tokens
    for i, t in enumerate(toks):
        if req.free(i) and t.is_int:
            before = req.w(i - 1) if req.w(i - 1) not in ("position", "pos", "#") else req.w(i - 2)
            if before in ("after", "since", "before", "from", "until", "past", "following"):
                return refused(  # "the event after 12": one event, or the ones after it?
                    req.text,
                    f"{before} {t.text}: `events show N` shows event N itself; `events log` "
                    "lists events (by time), `events export --since N` the ones after N",
                )
            req.use(i)
            refusal = number_refusal(req)
            if refusal:
                return refused(req.text, "which event? give one position")
            return command(req.text, ["events", "show", fmt(t.value)])  # type: ignore[arg-type]
    for i, t in enumerate(toks):
        if (
            req.free(i)
            and t.kind == "word"
            and re.fullmatch(r"[0-9a-f]{8}-[0-9a-f-]{27,}|[0-9A-HJKMNP-TV-Z]{26}", t.text, re.I)
        ):
            req.use(i)  # an event id: the event it names
            return command(req.text, ["events", "show", t.text])
    return incomplete(req.text, ["events", "show"], ["POSITION"], "which event? give its position")


def events_import(req: Request) -> Translation:
    """``events import FILE``: another trialbook's exported log, appended to this one."""
    path = next(i for i, t in enumerate(req.tokens) if t.kind == "path")
    req.use(path)
    for i in req.indexes(
        _w("import load ingest into this the log events ledger db database store trialbook")
    ):
        req.use(i)
    return command(req.text, ["events", "import", req.tokens[path].text])


def events_export(req: Request) -> Translation:
    """``events export [--stream S] [--upcast]`` (``--output FILE`` and ``--since`` are read
    by :mod:`trialbook.plain.options`)."""
    opts: list[str] = []
    streams = [f"ab:{m.name}" for m in req.named("test", "archived")]
    streams += [f"eval-run:{m.name}" for m in req.named("run")]
    for m in req.named("test", "archived", "run"):
        req.use_match(m)
    if not streams and req.focus:  # "the log for this test", "its log": the one in focus
        _focus_stream(req, streams)
    refusal = _at_most_one(req, streams, "stream", "--stream", opts)
    if refusal:
        return refusal
    for i in req.indexes({"upcast", "upcasted", "upgraded", "upcasting"}):
        req.use(i)
        if "--upcast" not in opts:
            opts.append("--upcast")
    for words in (("without", "the", "blobs"), ("without", "blobs"), ("no", "blobs")):
        k = req.seq(*words)  # "without the blobs": transcripts and traces left out
        if k >= 0 and all(req.free(x) for x in range(k, k + len(words))):
            req.use(*range(k, k + len(words)))
            opts.append("--no-blobs")
            break
    # "events after 1200", "everything since 500": a bare whole number after what is exported
    # is a position (a date has its own form, and events export takes none)
    for i in req.indexes({"after", "since", "past"}):
        j = i + 1
        if (
            req.w(i - 1) in ("events", "everything", "anything", "all")
            and j < len(req.tokens)
            and req.tokens[j].is_int
            and req.tokens[j].unit is None
            and req.free(i)
            and req.free(j)
            and req.w(j + 1) not in ("events", "event", "results", "days", "hours")
        ):
            req.use(i, j)
            opts += ["--since", fmt(req.tokens[j].value)]
            break
    # "after position 500", "since event 500": --since POS (the other copy's last position)
    for i in req.indexes({"position", "pos", "event"}):
        if "--since" in opts:
            break
        j = i + 1 + (req.p(i + 1) == "#")
        cue = req.w(i - 1) in ("after", "since", "from", "past") or (
            req.w(i - 1) == "the" and req.w(i - 2) in ("after", "since", "from")
        )
        if cue and j < len(req.tokens) and req.tokens[j].is_int and req.free(j):
            a = i - 1 - (req.w(i - 1) == "the")
            req.use(*range(a, j + 1))
            opts += ["--since", fmt(req.tokens[j].value)]
            break
    path = next((t for i, t in enumerate(req.tokens) if t.kind == "path" and req.free(i)), None)
    if path is not None:
        return refused(
            req.text,
            f"`events export` writes JSONL to standard output; run `trialbook events export > {path.text}` in your shell",
            [f"trialbook events export > {path.text}"],
        )
    refusal = number_refusal(req)
    if refusal:
        return refused(
            req.text,
            refusal.reason
            + " (events export reads 'after position N', a stream and 'upcast' here)",
        )
    said = set(req.words())
    backup = req.seq("back", "up") >= 0  # "back up everything": the whole log
    if (
        not opts
        and not backup
        and not said & _LOG_NOUNS
        and said & _w("everything all anything whole")
    ):
        # "export everything": the log, a dataset or a run's traces? what is not named is asked
        return incomplete(
            req.text,
            ["events", "export"],
            ["'everything'"],
            "export what: the event log (`events export`), a run's or a test's dataset "
            "(`export dataset NAME`) or a run's traces (`eval export RUN`)?",
        )
    return command(req.text, ["events", "export", *opts])


#: what the log is called in a request ("export the log", "back up the events")
_LOG_NOUNS = _w("log logs event events ledger history db database store backup chain")


def events_verify(req: Request) -> Translation:
    # "is the event chain unbroken?": what verify answers
    for i in req.indexes({"unbroken", "untampered", "valid", "consistent", "intact", "sound"}):
        req.use(i)
    for i in req.indexes(_w("db database store")):  # "has anyone tampered with the db?"
        req.use(i)
    # "(check) the log hasn't been tampered with", "nobody altered it": the negated damage is
    # exactly what verify checks for, so its "not" is read here (never dropped elsewhere); the
    # negation must be the log's ("the log was not", "it has never") or "nobody"'s
    for i in req.indexes(_DAMAGED):
        k = i - 1
        if req.w(k) == "been" and req.free(k):
            k -= 1
        span = []
        if req.w(k) in ("not", "never") and req.w(k - 1) in _AUX and req.free(k):
            subject = k - 2
            if req.w(subject) in _LOG_SUBJECTS:
                span = list(range(subject, i + 1))
        elif req.w(k) == "nobody" and req.free(k) and req.w(k - 1) not in NEGATORS:
            span = list(range(k, i + 1))
        if span:
            end = i + 1 + (req.w(i + 1) == "with")
            req.use(*span, *range(i, end))
            if req.w(span[0] - 1) in ("that", "whether", "if") and req.free(span[0] - 1):
                req.use(span[0] - 1)
    return command(req.text, ["events", "verify"])


#: what a log that verify checks may have suffered ("tampered with", "altered")
_DAMAGED = _w("tampered altered modified corrupted changed edited forged rewritten touched")
_AUX = _w("has have had was were is")
_LOG_SUBJECTS = _w("log ledger chain it events history")


def rebuild(req: Request) -> Translation:
    return command(req.text, ["projections", "rebuild"])


def audit(req: Request, report: bool) -> Translation:
    """``audit NAME`` or ``audit report NAME --format markdown|json``."""
    argv = ["audit", "report"] if report else ["audit"]
    test = resolve_test(req, argv, archived=True, variants=[m.name for m in variant_mentions(req)])
    if isinstance(test, Translation):
        return test
    # "could the decision be reproduced?", "re-check the decision": what an audit replays
    for i in req.indexes({"reproduced", "reproduce", "reproducible", "re-check", "recheck"}):
        req.use(i)
    if not report:
        return command(req.text, ["audit", test])
    formats = list(dict.fromkeys(FORMAT_WORDS[w] for w in req.words() if w in FORMAT_WORDS))
    if len(formats) > 1:
        return refused(req.text, "one format at a time: markdown or json?", ["markdown", "json"])
    if not formats:  # markdown is its default (`audit report --help`)
        return command(req.text, ["audit", "report", test])
    return command(req.text, ["audit", "report", test, "--format", formats[0]])


def _focus_kind(req: Request) -> str:
    """The stream prefix of the test, run or canary in focus ('' when it is none of them)."""
    v = req.vocab
    if req.focus in v.tests or req.focus in v.archived:
        return "ab"
    if req.focus in v.runs:
        return "eval-run"
    return "canary" if req.focus in v.canaries else ""


def _focus_stream(req: Request, streams: list[str]) -> None:
    """ "its log", "the events of this test": the stream of the one in focus, added to ``streams``."""
    for i in req.indexes({"this", "current", "its", "it"}):
        nxt = req.w(i + 1)
        if req.w(i) in ("its", "it") and (
            nxt in ("log", "logs", "events", "history", "timeline", "")
            or req.w(i - 1) in ("of", "for", "on", "to")
        ):
            kind = _focus_kind(req)
            if kind:
                streams.append(f"{kind}:{req.focus}")
                req.use(i)
            break
        if nxt in ("test", "experiment", "run", "canary") and req.free(i + 1):
            kind = _focus_kind(req)
            said = {"ab": "test experiment", "eval-run": "run", "canary": "canary"}
            if kind and req.w(i + 1) in said[kind].split():
                streams.append(f"{kind}:{req.focus}")
                req.use(i, i + 1)
            break
