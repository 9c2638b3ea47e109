"""Every text or list option of a command said by its own name, read from the CLI's parameters.

``description "does a longer plan help?"``, ``prompt: "find the cheapest flight"``, ``errors
"rate limited" and "bad json"``, ``expected tools search, read_file``, ``cap completion_time at
600``, ``price gpt-4o-mini at 0.15/0.6``: the words of an option's name (``--expected-tools``:
"expected tools"; a last word singular or plural) and its value after it, in the shape the
option's metavar says. :data:`SPEC` lists, for each command, its options with text or list
values and that shape; it is the CLI's own (``tests/test_plain_spoken.py`` derives it from the
click commands and fails when an option is added that is neither here nor in :data:`EXCLUDED`).

The phrases are read before any rule (:func:`read`), so their tokens are never taken as names
or values by a rule; :func:`attach` adds them to the command the rule chose, and refuses (one
line, nothing run) when that command has no such option: never dropped. Only unambiguous
values are read: a quoted text, a list of words no rule knows, ``KEY at NUMBER``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from trialbook.plain.request import Request
from trialbook.plain.types import Translation, command_path, is_write, refused
from trialbook.plain.words import FILLER, KNOWN, NEVER_VALUES, _w

#: shapes: ``id`` one quoted value or a bare id with a digit in it ("T-42"); ``text`` one quoted value; ``texts`` one or more ("a" and "b"), the option repeated;
#: ``list`` words joined by "," or "and", given as ``a,b``; ``kv:``/``kv=`` a key and a number
#: after "at", "=", "to" or ":", given as ``KEY:N`` / ``KEY=N``
SPEC: dict[tuple[str, ...], dict[str, str]] = {
    ("ab", "add-result"): {
        "--session-id": "id",
        "--error": "texts",
        "--case-id": "id",
        "--notes": "text",
    },
    ("ab", "archive"): {"--reason": "text"},
    ("ab", "conclude"): {"--note": "text"},
    ("ab", "create"): {
        "--task-id": "id",
        "--description": "text",
        "--prompt": "text",
        "--category": "text",
        "--cap": "kv:",
        "--expected-tools": "list",
        "--success-criteria": "texts",
    },
    ("canary", "add-result"): {
        "--unit-id": "id",
        "--session-id": "id",
        "--error": "texts",
        "--case-id": "id",
        "--notes": "text",
    },
    ("canary", "advance"): {"--note": "text"},
    ("canary", "complete"): {"--note": "text"},
    ("canary", "create"): {"--salt": "text", "--description": "text"},
    ("canary", "halt"): {"--note": "text"},
    ("canary", "rollback"): {"--note": "text"},
    ("eval", "run"): {"--price": "kv="},
    ("eval", "show"): {"--case": "id"},
    ("eval", "suite", "add"): {"--description": "text"},
    ("export", "dataset"): {"--function": "text"},
}

#: text options not read here, and why: their values are store names the rules check against the
#: vocabulary, values with units or effects the rules convert, specs and keys the rules parse, or
#: lists of numbers
EXCLUDED = _w(
    """--variant --variants --control --candidate --ship --baseline --into-ab --stream --name
    --metric --mde --margin --guardrail --split --stages --target --scorer --fail-on --fail-under
    --type --actor --covariate --by --segment --dimension --cache-ttl --host --seeds --transcript
    --unit"""
)

#: words between an option's name and its value ("description: …", "the prompt is "…"")
_BETWEEN = frozenset({"is", "of", "=", "as"})
#: what stands between a key and its number ("cap completion_time at 600")
_KV_BETWEEN = frozenset({"at", "to", "of", "="})


def _names() -> dict[tuple[str, ...], list[str]]:
    """The words of each option's name (and its last word singular/plural) -> the options."""
    out: dict[tuple[str, ...], list[str]] = {}
    for options in SPEC.values():
        for o in options:
            words = tuple(o.lstrip("-").split("-"))
            last = words[-1]
            forms = {words}
            forms.add((*words[:-1], last[:-1] if last.endswith("s") else f"{last}s"))
            for f in forms:
                if o not in out.setdefault(f, []):
                    out[f].append(o)
    return out


_NAMES = _names()
#: the names by their first word, longest first
_BY_FIRST: dict[str, list[tuple[tuple[str, ...], list[str]]]] = {}
for _words, _options in sorted(_NAMES.items(), key=lambda kv: -len(kv[0])):
    _BY_FIRST.setdefault(_words[0], []).append((_words, _options))
_SINGLE = {
    path: frozenset(w for o in opts if "-" not in o[2:] for w in (o[2:], o[2:].rstrip("s")))
    for path, opts in SPEC.items()
}
_SHAPES: dict[str, str] = {o: s for options in SPEC.values() for o, s in options.items()}


@dataclass(frozen=True)
class Spoken:
    """An option said by its name: the options it may be, its values, the words said."""

    options: tuple[str, ...]
    values: tuple[str, ...]
    said: str


def read(req: Request, only: tuple[str, ...] | None = None) -> list[Spoken]:
    """Take the option phrases of :data:`SPEC` out of ``req`` (their tokens become used); with
    ``only``, just the options of that command."""
    out: list[Spoken] = []
    i = 0
    while i < len(req.tokens):
        got = _at(req, i, None if only is None else frozenset(SPEC.get(only, {})))
        if got is None:
            i += 1
            continue
        spoken, end = got
        out.append(spoken)
        req.use(*range(i, end))
        i = end
    return out


def single_names(path: tuple[str, ...]) -> frozenset[str]:
    """The one-word names of the options of ``path`` read here ("description", "prompt")."""
    return _SINGLE.get(path, frozenset())


def fits(spoken: list[Spoken], path: tuple[str, ...]) -> bool:
    """Whether each option said by name is one the command ``path`` takes."""
    takes = SPEC.get(path, {})
    return all(sum(o in takes for o in s.options) == 1 for s in spoken)


def _at(req: Request, i: int, allowed: frozenset[str] | None) -> tuple[Spoken, int] | None:
    for words, every in _BY_FIRST.get(req.w(i), ()):
        options = every if allowed is None else [o for o in every if o in allowed]
        if not options or not all(
            req.free(i + k) and req.w(i + k) == w for k, w in enumerate(words)
        ):
            continue
        j = i + len(words)
        while req.free(j) and (req.w(j) in _BETWEEN or req.p(j) in (":", "=")):
            j += 1
        shape = _SHAPES[options[0]]
        if any(_SHAPES[o] != shape for o in options):
            continue  # one name, two shapes: not read here
        got = _value(req, j, shape)
        if got is None:
            continue
        values, end = got
        said = req.text[req.tokens[i].start : req.tokens[end - 1].end]
        return Spoken(tuple(options), values, said), end
    return None


def _quote(req: Request, j: int) -> bool:
    return req.free(j) and req.tokens[j].kind == "quote" and bool(req.tokens[j].text.strip())


def _item(req: Request, j: int) -> bool:
    """A word no rule knows, fit for a list item ("search", "read_file")."""
    if not req.free(j):
        return False
    t = req.tokens[j]
    return t.kind in ("word", "path", "spec") and t.norm not in KNOWN and t.norm not in NEVER_VALUES


def _list_ends(req: Request, k: int) -> bool:
    """Whether a list read up to ``k`` ends there: at the end, or at a comma before another
    option's name (a word the list could go on with leaves it to the rule)."""
    if k >= len(req.tokens):
        return True
    return req.p(k) == "," and any(req.w(k + 1) == words[0] for words in _NAMES)


def _id(req: Request, j: int) -> bool:
    """An id typed bare: one token with a digit in it ("T-42", "q3", "user-17")."""
    t = req.tokens[j] if req.free(j) else None
    return (
        t is not None
        and t.kind in ("word", "num")
        and t.unit is None
        and any(c.isdigit() for c in t.text)
        and any(c.isalpha() for c in t.text)
    )


def _value(req: Request, j: int, shape: str) -> tuple[tuple[str, ...], int] | None:
    toks = req.tokens
    if shape == "id":
        if _quote(req, j) or _id(req, j):
            return (toks[j].text,), j + 1
        return None
    if shape in ("text", "texts"):
        if not _quote(req, j):
            return None
        values, end = [toks[j].text], j + 1
        while shape == "texts":
            k = end
            if req.p(k) == ",":
                k += 1
            if req.w(k) == "and" and req.free(k):
                k += 1
            if k == end or not _quote(req, k):
                break
            values.append(toks[k].text)
            end = k + 1
        return tuple(values), end
    if shape == "list":
        if _quote(req, j) and "," in toks[j].text:
            return (toks[j].text.replace(" ", ""),), j + 1
        items: list[str] = []
        k = j
        while _item(req, k):
            items.append(toks[k].text)
            k += 1
            nxt = k + (req.p(k) == ",")
            nxt += req.w(nxt) == "and" and req.free(nxt)
            if nxt == k or not _item(req, nxt):
                break
            k = nxt
        if not items or not _list_ends(req, k):
            return None  # "search, fetch and open": where it ends is the rule's to read
        return (",".join(items),), k
    # kv: a key word, "at"/"=", a number (a price "0.15/0.6", a quantile "p95")
    sep = shape[2]
    if not (req.free(j) and toks[j].kind == "word" and toks[j].norm not in FILLER):
        return None
    if toks[j].norm in NEVER_VALUES:
        return None
    k = j + 1
    if not (req.free(k) and (req.w(k) in _KV_BETWEEN or req.p(k) in (":", "="))):
        return None
    k += 1
    if not (req.free(k) and toks[k].kind == "num" and toks[k].unit is None):
        return None
    value, end = toks[k].text, k + 1
    if req.w(end) in ("in", "input"):
        return None  # "price gpt-4o at 2.5 in / 10 out": both prices, read by the run's rule
    if req.p(end) == "/" and req.free(end) and req.free(end + 1) and toks[end + 1].kind == "num":
        value, end = f"{value}/{toks[end + 1].text}", end + 2
    key = toks[j].text
    if sep == ":":  # a metric's cap: "cap latency at 600", "cap times at 600" cap completion_time
        key = _CAP_WORDS.get(toks[j].norm, key)
    return (f"{key}{sep}{value}",), end


def _cap_words() -> dict[str, str]:
    from trialbook.plain.words import METRIC_PHRASES

    words = {p[0]: m for p, m in METRIC_PHRASES if len(p) == 1}
    return {**words, "time": "completion_time", "times": "completion_time"}


#: one word that names a catalogue metric, as a cap's key ("latency" is completion_time)
_CAP_WORDS = _cap_words()


def attach(req: Request, t: Translation, spoken: list[Spoken]) -> Translation:
    """Add the options said by name to ``t``'s command; refuse one it does not have."""
    if t.status == "refused" or not spoken:
        return t
    path = command_path(t.argv)
    takes = SPEC.get(path, {})
    argv = list(t.argv)
    for s in spoken:
        options = [o for o in s.options if o in takes]
        if len(options) != 1:
            name = " ".join(path)
            return refused(
                req.text,
                f"`{name}` has no {s.options[0]} option, so I cannot do {s.said!r}; "
                f"see `help {name}`",
            )
        option = options[0]
        if option in argv and takes[option] != "texts":
            given = argv[argv.index(option) + 1]
            if given != s.values[0] or len(s.values) > 1:
                return refused(req.text, f"{option} is given twice ({s.said!r}); say it once")
            continue
        for v in s.values:
            argv += [option, v]
    return replace(t, argv=tuple(argv), writes=is_write(tuple(argv)))
