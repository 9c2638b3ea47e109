"""``trialbook view``: a read-only local web app over one database, with plots drawn as inline SVG.

- :mod:`web.server`: the HTTP server (the standard library's ``ThreadingHTTPServer``)
  and the router; only ``GET``/``HEAD``, loopback by default, ``query_only`` handles;
- :mod:`web.reads`: what the pages show, read through the same functions as the
  CLI's ``--json`` (and served as that JSON under ``/api/``);
- :mod:`web.pages`: the pages, pure functions of those dicts;
- :mod:`web.html`: the escaping element builder every page is written with;
- :mod:`web.svg`: the plots (interval over results, histograms, rates);
- :mod:`web.assets`: the one stylesheet and the one small script.

Nothing here is imported by ``trialbook --help`` or by a write command.
"""

from __future__ import annotations

from trialbook.web.server import View, ViewError, ViewServer, make_server

__all__ = ["View", "ViewError", "ViewServer", "make_server"]
