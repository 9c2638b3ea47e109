"""An option said by its own name in words, with its value on either side.

"a 2 minute timeout", "timeout of 45s", "with a $10 budget", "budget: $10", "at most 2
regressions", "600 results expected": the name of an option (or a word that means it)
and one value beside it, with only filler words ("a", "of", "at most", ":") between.
:func:`near` finds such a pair and marks its tokens used; the rule that owns the
command decides which names it reads, so a phrase is read only where its option
exists (elsewhere its words stay unread and the request is asked about, never dropped).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from trialbook.plain.lex import Token
from trialbook.plain.request import Request
from trialbook.plain.words import _w

#: words that may stand between an option's name and its value ("a timeout of 45s")
FILL = _w("a an the of at most max maximum up to is be set with =")
#: words that may stand before a value said first ("with a 2 minute timeout")
LEAD = _w("a an with and at most max maximum up to")


def _is_fill(req: Request, i: int, fill: frozenset[str]) -> bool:
    return req.free(i) and (req.w(i) in fill or req.p(i) in (":", "="))


def near(
    req: Request,
    names: Iterable[str],
    accept: Callable[[Token], bool],
    *,
    fill: frozenset[str] = FILL,
    reach: int = 3,
) -> Token | None:
    """The value token beside a free word of ``names`` (after it first, then before it).

    The name, the value and the filler words between them become used; so do leading
    words like "a" or "with" before a value said first ("with a $10 budget").
    """
    wanted = frozenset(names)
    for k in req.indexes(wanted):
        if not req.free(k):
            continue
        j = k + 1
        while j < len(req.tokens) and j - k <= reach and _is_fill(req, j, fill):
            j += 1
        if j < len(req.tokens) and req.free(j) and accept(req.tokens[j]):
            a = k
            while req.w(a - 1) in LEAD and req.free(a - 1):
                a -= 1
            req.use(*range(a, j + 1))
            return req.tokens[j]
        j = k - 1
        while j >= 0 and k - j <= reach and _is_fill(req, j, fill):
            j -= 1
        if j >= 0 and req.free(j) and accept(req.tokens[j]):
            a = j
            while req.w(a - 1) in LEAD and req.free(a - 1):
                a -= 1
            req.use(*range(a, k + 1))
            return req.tokens[j]
    return None


def seconds(t: Token) -> bool:
    """A duration ("45s", "2 minutes") or a bare number (the CLI's seconds), more than 0."""
    return t.kind == "num" and t.unit in ("s", None) and t.value is not None and t.value > 0


def dollars(t: Token) -> bool:
    """An amount of money ("$10", "10 dollars") or a bare number (the CLI's US dollars), more
    than 0 (a zero or negative budget is left unread, so the request is asked about)."""
    return t.kind == "num" and t.unit in ("usd", None) and t.value is not None and t.value > 0


def money(t: Token) -> bool:
    """An amount said as money ("$5", "2 dollars"), more than 0 (a bare number is not)."""
    return t.kind == "num" and t.unit == "usd" and t.value is not None and t.value > 0


def count(t: Token) -> bool:
    """A whole number with no unit."""
    return t.is_int and t.unit is None
