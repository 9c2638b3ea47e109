"""HTML built from small functions that escape everything they are given.

Every string that reaches a page goes through :func:`el` (as a child or an
attribute value) or :func:`esc`, both of which escape it, unless it is
:class:`Safe`: markup this module or :mod:`web.svg` built, already escaped. So
a test name, a variant, a note, a case's output or a judge's reason is always
text on the page, never markup, whatever it holds.

    el("td", name, class_="num", data_value=0.25)   # <td class="num" data-value="0.25">…</td>
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlencode

VOID = frozenset({"br", "hr", "img", "input", "link", "meta"})


class Safe(str):
    """Markup that is already escaped (built here or in :mod:`web.svg`)."""

    __slots__ = ()


def esc(value: Any) -> Safe:
    """``value`` as HTML text: ``&``, ``<``, ``>``, ``"`` and ``'`` escaped (Safe markup unchanged)."""
    if isinstance(value, Safe):
        return value
    return Safe(html.escape("" if value is None else str(value), quote=True))


def attr_value(value: Any) -> str:
    """An attribute value as text: numbers as JSON writes them (``data-value`` holds raw figures)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return json.dumps(value) if math.isfinite(value) else ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _children(items: Iterable[Any]) -> Iterable[str]:
    for c in items:
        if c is None or c is False:
            continue
        if isinstance(c, (list, tuple)) or (
            not isinstance(c, str) and hasattr(c, "__iter__") and not isinstance(c, dict)
        ):
            yield from _children(c)
        else:
            yield esc(c)


def el(tag: str, *children: Any, **attrs: Any) -> Safe:
    """The element ``tag`` with escaped ``children`` and attributes.

    Attribute names: a trailing ``_`` is dropped (``class_``) and ``_`` becomes
    ``-`` (``data_value``). ``None`` or ``False`` leaves an attribute out; ``True``
    writes it bare. Lists and tuples among the children are flattened.
    """
    parts = [tag]
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        name = key.rstrip("_").replace("_", "-")
        if value is True:
            parts.append(name)
        else:
            parts.append(f'{name}="{esc(attr_value(value))}"')
    opening = "<" + " ".join(parts) + ">"
    if tag in VOID:
        return Safe(opening)
    return Safe(opening + "".join(_children(children)) + f"</{tag}>")


def join(*items: Any) -> Safe:
    """Children concatenated (escaped unless Safe)."""
    return Safe("".join(_children(items)))


def url(*parts: Any, **query: Any) -> str:
    """A path from ``parts``, each percent-encoded whole (a ``/`` inside a name stays inside it)."""
    path = "/" + "/".join(quote(str(p), safe="") for p in parts)
    q = {k: v for k, v in query.items() if v not in (None, "")}
    return path + ("?" + urlencode(q) if q else "")


def link(href: str, *children: Any, **attrs: Any) -> Safe:
    return el("a", *children, href=href, **attrs)
