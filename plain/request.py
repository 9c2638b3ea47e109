"""One request being parsed: its tokens, the store names found in it, and what has been used.

Rules read the request through :class:`Request`; every token a rule turns into
part of a command is marked used, so what is left over can be checked (a number
nobody understood means the request is refused, never dropped).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from trialbook.plain.lex import Token, name_parts, tokenize
from trialbook.plain.types import Translation, Vocabulary, incomplete, refused
from trialbook.plain.words import KNOWN, LIGHT, QUESTION_START, _w


@dataclass(frozen=True)
class NameMatch:
    """A name from the store found at tokens ``start:end``."""

    kind: str  # test archived suite run scorer variant canary
    name: str
    start: int
    end: int
    owner: str = ""  # for a variant: its test


_Index = dict[str, list[tuple[tuple[str, ...], str, str, str]]]


def _name_index(vocab: Vocabulary) -> _Index:
    """Store names by their first piece, built once per vocabulary and kept on it."""
    cached: _Index | None = vocab.__dict__.get("_name_index")
    if cached is not None:
        return cached
    cands: list[tuple[str, str, str]] = [("test", n, "") for n in vocab.tests]
    cands += [("archived", n, "") for n in vocab.archived]
    cands += [("suite", n, "") for n in vocab.suites]
    cands += [("run", n, "") for n in vocab.runs]
    cands += [("scorer", n, "") for n in vocab.scorers]
    cands += [("canary", n, "") for n in vocab.canaries]
    for owner, variants in [*vocab.tests.items(), *vocab.archived.items()]:
        cands += [("variant", v, owner) for v in variants]
    index: _Index = {}
    for kind, name, owner in cands:
        parts = name_parts(name)
        if parts:
            index.setdefault(parts[0], []).append((parts, kind, name, owner))
    object.__setattr__(vocab, "_name_index", index)
    return index


def find_names(tokens: list[Token], vocab: Vocabulary) -> list[NameMatch]:
    """Every store name that whole tokens spell (``checkout flow`` matches ``checkout-flow``).

    A longer match hides shorter ones inside it; equal spans are all kept (the same
    variant name in two tests).
    """
    index = _name_index(vocab)
    found: list[NameMatch] = []
    for i, tok in enumerate(tokens):
        if not tok.parts or tok.kind not in ("word", "num", "quote"):
            continue
        for parts, kind, name, owner in index.get(tok.parts[0], ()):
            k, j = 0, i
            while k < len(parts) and j < len(tokens):
                tp = tokens[j].parts if tokens[j].kind in ("word", "num", "quote") else ()
                if not tp or tuple(parts[k : k + len(tp)]) != tp:
                    break
                k, j = k + len(tp), j + 1
            if k == len(parts):
                found.append(NameMatch(kind, name, i, j, owner))
    # "the router canary": a canary named by the first part of its name, with its kind word
    # after it, when exactly one canary's name starts so ("router-v2")
    for i, tok in enumerate(tokens[:-1]):
        nxt = tokens[i + 1]
        if tok.kind != "word" or nxt.kind != "word" or nxt.norm not in ("canary", "rollout"):
            continue
        if any(m.start <= i < m.end for m in found):
            continue
        starting = [
            n for n in vocab.canaries if len(name_parts(n)) > 1 and name_parts(n)[0] == tok.norm
        ]
        if len(starting) == 1:
            found.append(NameMatch("canary", starting[0], i, i + 2, ""))  # its kind word too
    found.sort(key=lambda m: (m.start - m.end, m.start))
    spans: set[tuple[int, int]] = set()
    kept: list[NameMatch] = []
    for m in found:
        if (m.start, m.end) in spans or all(m.end <= a or m.start >= b for a, b in spans):
            spans.add((m.start, m.end))
            kept.append(m)
    return sorted(kept, key=lambda m: m.start)


#: the words a request is built on, for reading a misspelt one as meant ("wich", "sucess")
_CORE = sorted(
    _w(
        "success successful succeeded failed failure results result sessions session which winning "
        "analyze analyse verify archived summary summarize summarise variant variants compare "
        "experiment tokens calls errors corrections messages including completion significance "
        "significant history events recommendation scorer judge canary guardrail guardrails "
        "latest between against"
    )
)
#: the verbs requests begin with, read through one typo only as the request's first word
#: ("recrod a treatment result …"): anywhere else one letter off may be a new name
_VERBS = sorted(
    _w(
        "record create conclude import export rollback restore archive advance rescore resume "
        "retry analyze analyse compare verify rebuild replay audit watch complete"
    )
)
#: short core words read as meant only when two neighbouring letters were swapped ("lsit"):
#: one letter changed or missing is as likely a new name ("lint", "lst")
_CORE_SWAPPED = _w("list canaries")
#: what may follow a meaning-light verb as its particle ("burned through", "chewed up")
_PARTICLES = _w("through thru up away")
#: abbreviations read as their word
_ABBREVIATIONS = {"incl": "including", "thx": "thanks", "pls": "please"}


#: words read as typed, not as the core word they are one typo from (see :func:`as_typed`)
_AS_TYPED: ContextVar[frozenset[str]] = ContextVar("as_typed", default=frozenset())


@contextmanager
def as_typed(words: Iterable[str]) -> Iterator[None]:
    """Requests made inside read ``words`` as typed: a word "corrected" into a core word that
    then became a name or a value ("create test summarizer" -> ``summarize``) was the name."""
    token = _AS_TYPED.set(_AS_TYPED.get() | frozenset(words))
    try:
        yield
    finally:
        _AS_TYPED.reset(token)


def _correct_spelling(tokens: list[Token], matches: list[NameMatch], vocab: Vocabulary) -> None:
    """Read a word one letter off a core word ("wich", "reuslts", "verfy") as that word.

    Only words that are neither known words nor store names, of four letters or more, with
    the same first letter and one close core word, and not close to any store name (a
    misspelt name gets "did you mean" instead). ``text`` keeps what was typed.
    """
    if sum(t.kind == "word" for t in tokens) < 2:
        return  # one word alone may be a mistyped command ("evnts"): the shell says which
    in_names = {i for m in matches for i in range(m.start, m.end)}
    names: list[str] = [*vocab.tests, *vocab.archived, *vocab.suites, *vocab.runs, *vocab.canaries]
    for variants in [*vocab.tests.values(), *vocab.archived.values()]:
        names.extend(variants)
    keep = _AS_TYPED.get()
    for i, t in enumerate(tokens):
        if t.kind != "word" or i in in_names or t.norm in KNOWN or t.norm in LIGHT:
            continue
        if t.norm in keep:
            continue
        if t.norm in _ABBREVIATIONS:
            t.norm = _ABBREVIATIONS[t.norm]
            t.parts = (t.norm,)
            continue
        if len(t.norm) < 4 or not t.norm.isalpha():
            continue
        # the request's first word, or a clause's ("… died halfway, resmue it")
        first = all(x.kind != "word" or x.norm in ("please", "pls") for x in tokens[:i]) or (
            i > 0 and tokens[i - 1].kind == "punct" and tokens[i - 1].text in (",", ";")
        )
        core = [*_CORE, *_VERBS] if first else _CORE
        close = [w for w in dict.fromkeys(core) if w[0] == t.norm[0] and _one_edit(t.norm, w)]
        close += [w for w in _CORE_SWAPPED if _swapped(t.norm, w)]
        if len(close) == 1 and not difflib.get_close_matches(t.norm, names, n=1, cutoff=0.72):
            t.typed = t.norm
            t.norm = close[0]
            t.parts = (t.norm,)


def _swapped(a: str, b: str) -> bool:
    """Whether ``a`` is ``b`` with two neighbouring letters swapped ("lsit")."""
    diff = [i for i in range(len(a)) if len(a) == len(b) and a[i] != b[i]]
    return (
        len(diff) == 2
        and diff[1] == diff[0] + 1
        and a[diff[0]] == b[diff[1]]
        and a[diff[1]] == b[diff[0]]
    )


def _one_edit(a: str, b: str) -> bool:
    """Whether ``a`` is one typo from ``b``: a letter left out, added, changed, or two
    neighbours swapped ("wich", "verfy", "reuslts")."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        i = diff[0]
        return len(diff) == 2 and diff[1] == i + 1 and a[i] == b[i + 1] and a[i + 1] == b[i]
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def suggest(word: str, names: Iterable[str], n: int = 3) -> list[str]:
    """Names close to ``word`` ("did you mean"), best first; prefixes and pieces count too."""
    pool = sorted(set(names))
    low = word.lower()
    close = difflib.get_close_matches(low, pool, n=n, cutoff=0.72)
    pieces = [x for x in pool if low in name_parts(x) or (len(low) >= 4 and x.startswith(low))]
    return list(dict.fromkeys([*close, *pieces]))[:n]


#: what a thing is marked as ("mark it failed", "flag this as a success", "mark it complete")
_MARK_STATES = _w(
    """failed failure success successful succeeded passed complete completed done finished
    halted"""
)


def _announced(tokens: list[Token]) -> list[Token]:
    """ "quick question: …?", "one question, …?": a request announced as a question says no
    more than the question that follows (its ":" or "," too); never before a request that
    is no question ("question: ship warm" stays unsure)."""
    words = [t.norm if t.kind in ("word", "num") else "" for t in tokens[:3]]
    k = 1 if words[:1] in (["quick"], ["one"], ["a"], ["small"]) else 0
    asks = tokens[-1].kind == "punct" and tokens[-1].norm == "?"  # what follows is a question
    said = asks and len(tokens) > k + 2 and words[k : k + 1] == ["question"]
    if said and tokens[k + 1].kind == "punct" and tokens[k + 1].norm in (":", ",", "-"):
        return tokens[: k + 2]
    return []


def _marked(tokens: list[Token]) -> list[Token]:
    """The words of "mark it (as) (a)" before a state word: they say no more than the state
    word, which the rules read ("mark it failed" is "failed")."""
    out: list[Token] = []
    norm = lambda i: tokens[i].norm if 0 <= i < len(tokens) and tokens[i].kind == "word" else ""  # noqa: E731
    for i in range(len(tokens)):
        if norm(i) not in ("mark", "flag") or norm(i + 1) not in ("it", "this", "that"):
            continue
        j = i + 2
        if norm(j) == "as":
            j += 1
        if norm(j) in ("a", "an"):
            j += 1
        if norm(j) in _MARK_STATES:
            out += tokens[i:j]
    return out


#: the verbs of a test's definition an intention may stand before ("I plan to segment by …")
_PLANNED = _w("segment break cap split collect gather measure track compare")


class Request:
    """A tokenized request with the store names found in it."""

    def __init__(self, text: str, vocab: Vocabulary, focus: str | None) -> None:
        self.text = text
        self.vocab = vocab
        self.focus = focus
        self.tokens = tokenize(text)
        self.light = [t for t in self.tokens if t.kind == "word" and self._light(t.norm)]
        # "chewed through", "burned up": the verb's particle goes with it (left alone,
        # "through" would read as "went through")
        self.light += [
            b
            for a, b in zip(self.tokens, self.tokens[1:], strict=False)
            if any(a is x for x in self.light) and b.kind == "word" and b.norm in _PARTICLES
        ]
        self.light += _marked(self.tokens) + _announced(self.tokens)
        if self.light:  # meaning-light words ("um", "btw", "burned") are read by no rule
            self.tokens = [t for t in self.tokens if not any(t is x for x in self.light)]
        for t in self.tokens:
            if t.kind == "quote":
                t.parts = name_parts(t.text)
        self.matches = find_names(self.tokens, vocab)
        _correct_spelling(self.tokens, self.matches, vocab)
        self.in_name: dict[int, list[NameMatch]] = {}
        for m in self.matches:
            for i in range(m.start, m.end):
                self.in_name.setdefault(i, []).append(m)
        self.used: set[int] = set()

    # ----------------------------------------------------------------- reading
    def w(self, i: int) -> str:
        """The lowercase word at ``i`` ('' for other tokens or out of range)."""
        if 0 <= i < len(self.tokens) and self.tokens[i].kind == "word":
            return self.tokens[i].norm
        return ""

    def p(self, i: int) -> str:
        """The punctuation at ``i`` ('' otherwise)."""
        if 0 <= i < len(self.tokens) and self.tokens[i].kind in ("punct", "other"):
            return self.tokens[i].norm
        return ""

    def words(self) -> list[str]:
        return [t.norm for t in self.tokens if t.kind == "word"]

    def index(self, words: Iterable[str], start: int = 0, *, names_too: bool = False) -> int:
        """The first word token in ``words`` (outside store names unless ``names_too``), or -1."""
        ws = set(words)
        for i in range(start, len(self.tokens)):
            if (
                self.tokens[i].kind == "word"
                and self.tokens[i].norm in ws
                and (names_too or i not in self.in_name)
            ):
                return i
        return -1

    def indexes(self, words: Iterable[str], *, names_too: bool = False) -> list[int]:
        ws = set(words)
        return [
            i
            for i, t in enumerate(self.tokens)
            if t.kind == "word" and t.norm in ws and (names_too or i not in self.in_name)
        ]

    def has(self, words: Iterable[str]) -> bool:
        return self.index(words) >= 0

    def seq(self, *items: str | Iterable[str], start: int = 0) -> int:
        """The index where consecutive word tokens match ``items`` (a word or a set), or -1."""
        sets = [frozenset([x]) if isinstance(x, str) else frozenset(x) for x in items]
        for i in range(start, len(self.tokens) - len(sets) + 1):
            if all(self.w(i + k) in s for k, s in enumerate(sets)):
                return i
        return -1

    def named(self, *kinds: str) -> list[NameMatch]:
        return [m for m in self.matches if m.kind in kinds]

    def names_of(self, *kinds: str) -> list[str]:
        return list(dict.fromkeys(m.name for m in self.named(*kinds)))

    def is_question(self) -> bool:
        ws = self.words()
        if self.text.rstrip().endswith("?"):
            return True
        return bool(ws) and ws[0] in QUESTION_START and (len(ws) < 2 or ws[1] != "not")

    # ----------------------------------------------------------------- using
    def use(self, *indices: int) -> None:
        self.used.update(i for i in indices if i >= 0)

    def use_match(self, m: NameMatch) -> None:
        self.used.update(range(m.start, m.end))

    def use_intentions(self) -> None:
        """ "I plan to segment by category", "we intend to cap cost at p99": the intention
        before an option's phrase a rule read says nothing of its own (never before a
        command's verb: "we plan to ship warm" is no request to ship it now)."""
        for i in self.indexes({"plan", "plans", "planning", "intend", "intending", "aim"}):
            nxt = i + 2
            said = self.free(i) and self.w(i + 1) == "to" and self.w(nxt) in _PLANNED
            if said and not self.free(nxt) and nxt not in self.in_name:
                self.use(i, i + 1)

    def free(self, i: int) -> bool:
        return 0 <= i < len(self.tokens) and i not in self.used and i not in self.in_name

    def leftover_numbers(self) -> list[Token]:
        """Numbers no rule used ("one" alone is left out: it is as often a pronoun)."""
        out = []
        for i, t in enumerate(self.tokens):
            if t.kind in ("num", "frac") and self.free(i) and not (t.spelled and t.norm == "one"):
                out.append(t)
        return out

    def unknown_words(self) -> list[Token]:
        """Words no rule used that are neither known words nor store names."""
        return [
            t
            for i, t in enumerate(self.tokens)
            if t.kind in ("word", "kv", "quote", "path", "url", "spec", "scorer", "actor", "date")
            and self.free(i)
            and (t.kind != "word" or t.norm not in KNOWN)
        ]

    def _light(self, word: str) -> bool:
        """Whether ``word`` is a meaning-light word here: in ``LIGHT``, not a piece of a store
        name and (four letters or more) not one edit from one (a misspelt name is asked about,
        never read as filler)."""
        if word not in LIGHT:
            return False
        v = self.vocab
        names = [*v.tests, *v.archived, *v.suites, *v.runs, *v.scorers, *v.canaries]
        for variants in [*v.tests.values(), *v.archived.values()]:
            names.extend(variants)
        pieces = {p for n in names for p in (n, *name_parts(n))}
        if word in pieces:
            return False
        # a short word is one edit from many ("ah" from a variant "a"): only spelt out it counts
        return len(word) < 4 or not any(_one_edit(word, p) for p in pieces)

    def all_names(self) -> list[str]:
        v = self.vocab
        names = [*v.tests, *v.archived, *v.suites, *v.runs, *v.scorers, *v.canaries]
        for variants in [*v.tests.values(), *v.archived.values()]:
            names.extend(variants)
        return names

    def close_names(self, pool: Iterable[str] | None = None) -> list[tuple[str, list[str]]]:
        """Unknown words that look like a misspelt store name, with what they are close to."""
        names = list(pool) if pool is not None else self.all_names()
        out = []
        for t in self.unknown_words():
            if t.kind != "word" or len(t.norm) < 3:
                continue
            close = suggest(t.norm, names)
            if close:
                out.append((t.text, close))
        return out


# --------------------------------------------------------------------- names


def resolve_test(
    req: Request,
    argv_so_far: list[str],
    *,
    archived: bool = False,
    only_archived: bool = False,
    variants: Iterable[str] = (),
    single: bool = True,
    focus: bool = True,
    besides: Iterable[str] = (),
) -> str | Translation:
    """The A/B test a request is about, or why it cannot be told.

    In order: a test named in the text; the test in focus (``use NAME``); the one test
    owning the variants mentioned; the only active test (when ``single``). Two named
    tests are ambiguous; none gives ``incomplete`` (or "did you mean" for a misspelling).
    """
    besides = frozenset(besides)
    kinds = ("archived",) if only_archived else ("test", "archived") if archived else ("test",)
    # a test a rule read as a value ("a pre-period covariate: onboarding's tokens") is not it
    named = [m for m in req.named("test", "archived") if m.name not in besides]
    names = list(dict.fromkeys(m.name for m in named))
    if len(names) > 1:
        return refused(req.text, f"which test: {' or '.join(names)}? name one at a time", names)
    if names:
        m = named[0]
        if m.kind not in kinds:
            if m.kind == "archived":
                return refused(
                    req.text,
                    f"test {m.name!r} is archived; restore it first with `ab restore {m.name}`",
                    [f"ab restore {m.name}"],
                )
            if only_archived:
                return refused(req.text, f"test {m.name!r} is not archived")
        for x in named:
            req.use_match(x)
        return m.name
    choices = list(req.vocab.archived if only_archived else req.vocab.tests)
    if archived and not only_archived:
        choices += list(req.vocab.archived)
    # a run a rule read as a value ("by each case's score in RUN") is not the test
    other = [m for m in req.named("suite", "run") if m.name not in besides]
    misspelt = req.close_names([*req.vocab.tests, *req.vocab.archived])
    if misspelt:
        word, close = misspelt[0]
        return refused(
            req.text, f"there is no test named {word!r}; did you mean {' or '.join(close)}?", close
        )
    wanted = list(dict.fromkeys(variants))
    if other:
        m = other[0]
        return refused(req.text, f"{m.name!r} is a {m.kind}, not an A/B test", sorted(choices)[:5])
    if (
        focus
        and req.focus
        and (req.focus in req.vocab.tests or (archived and req.focus in req.vocab.archived))
    ):
        if only_archived and req.focus not in req.vocab.archived:
            return refused(req.text, f"test {req.focus!r} is not archived")
        bad = [v for v in wanted if v not in req.vocab.variants_of(req.focus)]
        if bad:
            owners = [t for t, vs in req.vocab.tests.items() if bad[0] in vs]
            hint = f" (it is a variant of {', '.join(owners)})" if owners else ""
            return refused(req.text, f"{bad[0]!r} is not a variant of {req.focus}{hint}", owners)
        return req.focus
    if wanted:
        pool = {**req.vocab.tests, **(req.vocab.archived if archived else {})}
        owners = [t for t, vs in pool.items() if all(v in vs for v in wanted)]
        if len(owners) == 1:
            return owners[0]
        if len(owners) > 1:
            return refused(
                req.text,
                f"{', '.join(wanted)} is a variant of {' and '.join(owners)}: name the test",
                owners,
            )
    if other and not choices:
        m = other[0]
        return refused(req.text, f"{m.name!r} is a {m.kind}, not an A/B test")
    if single and len(choices) == 1 and not other:
        return choices[0]
    if other:
        m = other[0]
        return refused(req.text, f"{m.name!r} is a {m.kind}, not an A/B test", choices[:5])
    if not choices:
        return refused(
            req.text, "there are no A/B tests yet; create one with `ab create NAME --variants A,B`"
        )
    return incomplete(req.text, argv_so_far, ["NAME"], "which test?", sorted(choices))


def unknown_refusal(req: Request, what: str = "") -> Translation | None:
    """Refuse when words are left that nothing understood (for commands that write)."""
    unknown = req.unknown_words()
    if not unknown:
        return None
    t = unknown[0]
    close = suggest(t.norm, req.all_names()) if t.kind == "word" else []
    if close:
        return refused(
            req.text, f"I don't know {t.text!r}; did you mean {' or '.join(close)}?", close
        )
    hint = f" {what}" if what else ""
    return refused(req.text, f"I don't understand {t.text!r} here; nothing was guessed.{hint}")


def number_refusal(req: Request) -> Translation | None:
    """Refuse when a number is left that no rule placed: never drop or guess a number."""
    left = req.leftover_numbers()
    if not left:
        return None
    return refused(
        req.text,
        f"I could not tell what {left[0].text!r} refers to; say it with its unit or option name",
    )
