"""Tokens of a plain request: words, exact numbers with units, quoted text, files, URLs.

Pure and standard-library only. Numbers are :class:`~decimal.Decimal` so that
``1.1k`` is exactly 1100 and ``3 cents`` exactly 0.03; durations are converted to
seconds and money to US dollars. Every number token remembers that it came from
the text: the parser never creates a number any other way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"

_TOKEN_RE = re.compile(
    rf"""
    (?P<quote>"[^"]*"|'[^']*'(?!\w))
  | (?P<url>https?://[^\s,;]+)
  | (?P<spec>\b(?:openai|http|https|python|command|cmd|shell|rollout):[^\s,;]+)
  | (?P<scorer>\b(?:equals|contains|icontains|regex|json_field|numeric|length|judge):[^\s,;]+)
  | (?P<ab>\ba/b\b)
  | (?P<wslash>\b[wW]/(?=\s|$))
  | (?P<date>\b\d{{4}}-\d{{2}}-\d{{2}}(?:[T ]\d{{1,2}}:\d{{2}}(?::\d{{2}})?Z?)?(?![\w-]))
  | (?P<frac>\d+\s*/\s*\d+(?![\w/]))
  | (?P<path>(?<![\w/])(?:~|\.{{1,2}})?/[\w./-]+|[\w./~-]*[\w-]\.(?:jsonl|ndjson|json|ya?ml|csv|toml|txt|md|html|xml)\b)
  | (?P<money>\$\s?(?:{_NUM}|\.\d+)(?P<msuf>k)?(?![\w]))
  | (?P<compound>\d+(?:\.\d+)?(?:h|m|s)(?:\d+(?:\.\d+)?(?:ms|m|s))+(?![\w]))
  | (?P<actor>\b[\w.-]+@[\w.-]*\w)
  | (?P<kv>[a-z_][a-z0-9_-]*=[^\s,;]+)
  | (?P<num>(?:(?<![\w.])-)?(?:{_NUM}|\.\d+)(?P<suf>%|pp|k|ms|s|secs?|mins?|m|h|hrs?|c)?(?![\w]|[-.][\w]))
  | (?P<word>[^\W_][\w'.-]*\w|[^\W_])
  | (?P<punct>[,;:?!()=+&/#\[\]{{}}]|\.|-+)
  | (?P<other>\S)
    """,
    re.VERBOSE | re.IGNORECASE,
)

ONES = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
NUMBER_WORDS = frozenset(ONES) | frozenset(TENS) | frozenset(SCALES)

#: unit words after a number, as (kind, factor): seconds for time, dollars for money
UNIT_WORDS: dict[str, tuple[str, Decimal]] = {
    **{w: ("s", Decimal("0.001")) for w in ("ms", "msec", "millisecond", "milliseconds")},
    **{w: ("s", Decimal(1)) for w in ("s", "sec", "secs", "second", "seconds")},
    **{w: ("s", Decimal(60)) for w in ("m", "min", "mins", "minute", "minutes")},
    **{w: ("s", Decimal(3600)) for w in ("h", "hr", "hrs", "hour", "hours")},
    **{w: ("usd", Decimal(1)) for w in ("usd", "dollar", "dollars", "bucks")},
    **{w: ("usd", Decimal("0.01")) for w in ("cent", "cents", "¢")},
    **{w: ("%", Decimal(1)) for w in ("percent", "pct", "%")},
    **{w: ("pp", Decimal(1)) for w in ("pp", "point", "points", "pts", "pt")},
}
MULTIPLIERS = {"k": Decimal(1000), "thousand": Decimal(1000), "million": Decimal(1_000_000)}
_SUFFIX = {
    "%": ("%", Decimal(1)),
    "pp": ("pp", Decimal(1)),
    "ms": ("s", Decimal("0.001")),
    "s": ("s", Decimal(1)),
    "sec": ("s", Decimal(1)),
    "secs": ("s", Decimal(1)),
    "min": ("s", Decimal(60)),
    "mins": ("s", Decimal(60)),
    "h": ("s", Decimal(3600)),
    "hr": ("s", Decimal(3600)),
    "hrs": ("s", Decimal(3600)),
    "c": ("usd", Decimal("0.01")),  # "3c": cents, as the CLI's --cost reads it
}
#: keys of a key=value that name an option, not a result's metric or dimension
_OPTION_KEYS = frozenset(
    {
        "alpha",
        "mde",
        "margin",
        "epochs",
        "concurrency",
        "timeout",
        "budget",
        "limit",
        "seed",
        "retries",
    }
)
_COMPOUND = {"h": Decimal(3600), "m": Decimal(60), "s": Decimal(1), "ms": Decimal("0.001")}
_TIME_ORDER = {Decimal(3600): 3, Decimal(60): 2, Decimal(1): 1, Decimal("0.001"): 0}


@dataclass
class Token:
    """One piece of a request, with its place in the original text."""

    kind: str  # word num quote path url spec scorer actor kv frac date punct other
    text: str  # as typed (for a quote: the inside)
    start: int
    end: int
    norm: str = ""  # lowercase form used for matching
    value: Decimal = Decimal(0)  # for numbers and the numerator of an N/M fraction
    unit: str | None = None  # "s" (seconds), "usd", "%", "pp" (percentage points) or None
    value2: Decimal = Decimal(0)  # the denominator of an N/M fraction
    spelled: bool = False  # a number written in words ("twelve")
    scale: Decimal | None = None  # for durations: seconds per unit typed (60 for minutes)
    parts: tuple[str, ...] = field(default=())  # name pieces, for matching slugs
    typed: str = ""  # a word read as a core word it is one typo from: its own lowercase form

    @property
    def is_int(self) -> bool:
        return (
            self.kind == "num"
            and self.unit is None
            and self.value == self.value.to_integral_value()
        )


def dec(text: str) -> Decimal:
    """The exact value of a numeric literal as typed (``1,200`` → 1200)."""
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation as e:  # pragma: no cover - the regexes only pass numerals
        raise ValueError(f"not a number: {text!r}") from e


def fmt(value: Decimal) -> str:
    """Contract: the shortest plain decimal string for ``value`` (no exponent, no trailing zeros)."""
    if value == value.to_integral_value():
        return str(int(value))
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def name_parts(text: str) -> tuple[str, ...]:
    """A name split into its lowercase pieces: ``Checkout-Flow`` → ``("checkout", "flow")``."""
    return tuple(p for p in re.split(r"[-_.\s]+", text.lower()) if p)


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; numbers get their value, unit and multiplier applied."""
    raw: list[Token] = []
    for m in _TOKEN_RE.finditer(text):
        kind = m.lastgroup or "other"
        if kind in ("msuf", "suf"):  # pragma: no cover - inner groups never end a match
            kind = "num"
        raw.extend(_make(kind, m))
    return _merge_units(_merge_halves(_merge_number_words(raw)))


def _make(kind: str, m: re.Match[str]) -> list[Token]:
    s, start, end = m.group(0), m.start(), m.end()
    if m.group("quote") is not None:
        inner = s[1:-1]
        return [Token("quote", inner, start, end, norm=inner.lower())]
    if m.group("money") is not None:
        digits = re.sub(r"[$\s]", "", s).rstrip("kK")
        value = dec(digits) * (Decimal(1000) if m.group("msuf") else 1)
        return [Token("num", s, start, end, norm=s.lower(), value=value, unit="usd")]
    if m.group("compound") is not None:
        total = Decimal(0)
        for amount, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|m|s|h)", s.lower()):
            total += dec(amount) * _COMPOUND[unit]
        return [Token("num", s, start, end, norm=s.lower(), value=total, unit="s")]
    if m.group("frac") is not None:
        a, b = (x.strip() for x in s.split("/"))
        return [Token("frac", s, start, end, norm=s, value=dec(a), value2=dec(b))]
    if m.group("num") is not None:
        suffix = (m.group("suf") or "").lower()
        digits = s[: len(s) - len(suffix)] if suffix else s
        tok = Token("num", s, start, end, norm=s.lower(), value=dec(digits))
        if suffix == "k":
            tok.value = tok.value * 1000 if tok.value is not None else None
        elif suffix == "m":
            tok.unit = "m?"  # minutes, or millions before "tokens": decided by _merge_units
        elif suffix:
            unit, factor = _SUFFIX[suffix]
            tok.unit, tok.value = unit, (tok.value or Decimal(0)) * factor
            if unit == "s":
                tok.scale = factor
        if not suffix:
            tok.parts = (digits.lower(),)
        return [tok]
    if m.group("ab") is not None:
        return [Token("word", s, start, end, norm="a/b", parts=("a/b",))]
    if m.group("wslash") is not None:  # "w/ variants cold,warm": the abbreviation of "with"
        return [Token("word", s, start, end, norm="with", parts=("with",))]
    if m.group("word") is not None:
        return _words(s, start)
    if kind == "date":
        return [Token("date", s, start, end, norm=s.upper().replace(" ", "T"))]
    if kind in ("url", "spec", "path", "scorer"):
        trimmed = s.rstrip(".)")
        return [Token(kind, trimmed, start, start + len(trimmed), norm=trimmed.lower())]
    if kind == "kv" and s.split("=", 1)[0].lower() in _OPTION_KEYS:
        # "alpha=0.1", "epochs=3": an option said as key=value reads as "alpha = 0.1"
        key, _, raw = s.partition("=")
        k_end = start + len(key)
        return [
            *_words(key, start),
            Token("punct", "=", k_end, k_end + 1, norm="="),
            *[
                Token(
                    x.kind,
                    x.text,
                    x.start + k_end + 1,
                    x.end + k_end + 1,
                    norm=x.norm,
                    value=x.value,
                    unit=x.unit,
                    spelled=x.spelled,
                    scale=x.scale,
                    parts=x.parts,
                )
                for x in tokenize(raw)
            ],
        ]
    if kind in ("kv", "actor"):
        return [Token(kind, s, start, end, norm=s.lower())]
    return [Token("punct" if kind == "punct" else "other", s, start, end, norm=s.lower())]


def _words(s: str, start: int) -> list[Token]:
    """A word, with ``n't`` split off as ``not`` and a possessive ``'s`` dropped."""
    low = s.lower().replace("’", "'")
    end = start + len(s)
    if low.endswith("n't") and len(low) > 3:
        stem = {"won't": "will", "can't": "can", "shan't": "shall"}.get(low, low[:-3])
        return [
            Token("word", s[: len(stem)], start, start + len(stem), norm=stem, parts=(stem,)),
            Token("word", "not", end - 3, end, norm="not", parts=("not",)),
        ]
    if low.endswith("'s") or low.endswith("'re") or low.endswith("'ll") or low.endswith("'ve"):
        cut = low.rfind("'")
        s, low = s[:cut], low[:cut]
    if low.endswith("'"):
        s, low = s[:-1], low[:-1]
    return [Token("word", s, start, start + len(s), norm=low, parts=name_parts(low))]


def _word_value(norm: str) -> int | None:
    if norm in ONES:
        return ONES[norm]
    if norm in TENS:
        return TENS[norm]
    if "-" in norm:
        a, _, b = norm.partition("-")
        if a in TENS and b in ONES and 0 < ONES[b] < 10:
            return TENS[a] + ONES[b]
    return None


def _merge_number_words(tokens: list[Token]) -> list[Token]:
    """``one hundred and five`` → 105; ``a hundred`` → 100; ``twenty-one`` → 21."""
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        t = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        lead_a = (
            t.kind == "word"
            and t.norm == "a"
            and nxt is not None
            and nxt.norm in ("hundred", "thousand")
        )
        if t.kind != "word" or (_word_value(t.norm) is None and not lead_a):
            out.append(t)
            i += 1
            continue
        total, current, last = 0, 1 if lead_a else 0, i
        j = i + 1 if lead_a else i
        while j < len(tokens) and tokens[j].kind == "word":
            w = tokens[j].norm
            v = _word_value(w)
            if v is not None:
                if current % 100 == 0 or (current % 100 in TENS.values() and v < 10):
                    current += v
                else:
                    break
            elif w == "hundred" and 0 < current % 1000 < 100:
                current = current - current % 1000 + (current % 1000) * 100
            elif w in ("thousand", "million") and current > 0:
                total += current * SCALES[w]
                current = 0
            elif (
                w == "and"
                and current >= 100
                and j + 1 < len(tokens)
                and _word_value(tokens[j + 1].norm)
            ):
                j += 1
                continue
            else:
                break
            last = j
            j += 1
        if last == i and lead_a:  # "a" alone is an article
            out.append(t)
            i += 1
            continue
        span = tokens[i : last + 1]
        out.append(
            Token(
                "num",
                " ".join(x.text for x in span),
                span[0].start,
                span[-1].end,
                norm=" ".join(x.norm for x in span),
                value=Decimal(total + current),
                spelled=True,
            )
        )
        i = last + 1
    return out


def _merge_halves(tokens: list[Token]) -> list[Token]:
    """``two and a half`` → 2.5, ``half a`` / ``half an`` → 0.5 (before a unit word): a number
    said in words, not arithmetic between numbers (``an hour and a half`` is not read)."""
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        t = tokens[i]
        nx = [x.norm if x.kind == "word" else "" for x in tokens[i + 1 : i + 4]]
        if t.kind == "num" and t.unit is None and nx == ["and", "a", "half"]:
            end = tokens[i + 3]
            out.append(
                Token(
                    "num",
                    f"{t.text} and a half",
                    t.start,
                    end.end,
                    norm=f"{t.norm} and a half",
                    value=t.value + Decimal("0.5"),
                    spelled=t.spelled,
                )
            )
            i += 4
            continue
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        unit = tokens[i + 2].norm if i + 2 < len(tokens) else ""
        if (
            t.kind == "word"
            and t.norm == "half"
            and nxt is not None
            and nxt.norm in ("a", "an")
            and unit in UNIT_WORDS
        ):
            out.append(
                Token(
                    "num", "half", t.start, nxt.end, norm="half", value=Decimal("0.5"), spelled=True
                )
            )
            i += 2
            continue
        out.append(t)
        i += 1
    return out


def _merge_units(tokens: list[Token]) -> list[Token]:
    """Attach unit and multiplier words to the number before them; add up ``1 min 30 s``."""
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t.kind == "num" and t.value is not None:
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            nw = nxt.norm if nxt is not None and nxt.kind in ("word", "punct", "other") else ""
            if t.unit is None and nw in MULTIPLIERS and not t.spelled:
                t = _span(t, nxt, value=t.value * MULTIPLIERS[nw])  # type: ignore[arg-type]
                i += 1
                nxt = tokens[i + 1] if i + 1 < len(tokens) else None
                nw = nxt.norm if nxt is not None and nxt.kind in ("word", "punct", "other") else ""
            if t.unit == "m?":
                if nw.startswith("tok"):
                    t.unit, t.value = None, t.value * 1_000_000
                else:
                    t.unit, t.value, t.scale = "s", t.value * 60, Decimal(60)
            elif (
                t.unit is None
                and nw == "percentage"
                and i + 2 < len(tokens)
                and tokens[i + 2].norm in ("points", "point")
            ):
                t = _span(t, tokens[i + 2], value=t.value, unit="pp")
                i += 2
            elif t.unit is None and nw in UNIT_WORDS:
                unit, factor = UNIT_WORDS[nw]
                t = _span(t, nxt, value=t.value * factor, unit=unit)  # type: ignore[arg-type]
                if unit == "s":
                    t.scale = factor
                i += 1
            # 1 min 30 s, 1 hour and 5 minutes: a larger time unit followed by a smaller one
            if t.unit == "s" and t.scale is not None:
                merged = _maybe_add_time(t, tokens, i)
                if merged is not None:
                    t, i = merged
            if t.unit is not None or t.spelled:
                t.parts = ()
        out.append(t)
        i += 1
    return out


def _span(t: Token, nxt: Token | None, *, value: Decimal, unit: str | None = None) -> Token:
    assert nxt is not None
    return Token(
        "num",
        t.text + " " + nxt.text,
        t.start,
        nxt.end,
        norm=t.norm,
        value=value,
        unit=unit,
        spelled=t.spelled,
        scale=t.scale,
    )


def _maybe_add_time(t: Token, tokens: list[Token], i: int) -> tuple[Token, int] | None:
    """If a smaller time amount follows ``t`` (optionally after ``and``), add it in."""
    j = i + 1
    if j < len(tokens) and tokens[j].kind == "word" and tokens[j].norm == "and":
        j += 1
    if j >= len(tokens) or tokens[j].kind != "num" or tokens[j].value is None:
        return None
    nxt = tokens[j]
    follow = tokens[j + 1] if j + 1 < len(tokens) else None
    unit = None
    if (
        nxt.unit is None
        and follow is not None
        and follow.norm in UNIT_WORDS
        and UNIT_WORDS[follow.norm][0] == "s"
    ):
        unit, end_j = UNIT_WORDS[follow.norm][1], j + 1
        amount = nxt.value * unit
    elif nxt.unit == "s" and nxt.scale is not None:
        unit, end_j, amount = nxt.scale, j, nxt.value
    else:
        return None
    big = t.scale or Decimal(1)
    if _TIME_ORDER.get(unit, -1) >= _TIME_ORDER.get(big, -1):
        return None
    end_tok = tokens[end_j]
    merged = Token(
        "num",
        t.text + " … " + end_tok.text,
        t.start,
        end_tok.end,
        norm=t.norm,
        value=(t.value or Decimal(0)) + amount,
        unit="s",
        scale=unit,
    )
    return merged, end_j
