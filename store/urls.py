"""Naming a database: a SQLite file path or a PostgreSQL URL, and showing a URL safely.

Pure string handling (no driver is imported): the CLI, the API and the ledger
use it to tell the backends apart, and every message that names a PostgreSQL
database names it through :func:`redact_url`, so a password never reaches
the terminal, a log line or the event log.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

#: what a ``--db`` value starts with when it names a PostgreSQL database
SCHEMES = ("postgresql://", "postgres://")
#: query parameters of a libpq URL that carry a secret
_SECRET_PARAMS = frozenset({"password", "sslpassword"})


def is_postgres_url(target: object) -> bool:
    """True if ``target`` is a ``postgresql://`` (or ``postgres://``) URL rather than a file path."""
    return isinstance(target, str) and target.lower().startswith(SCHEMES)


def redact_url(url: str) -> str:
    """``url`` without its password (in the user info or a ``password=`` parameter).

    ``postgresql://ana:s3cret@db.example:5432/team?sslmode=require`` gives
    ``postgresql://ana@db.example:5432/team?sslmode=require``. Text that does
    not parse as a URL is reduced to its scheme, so nothing secret survives.
    """
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            netloc = f"{userinfo.split(':', 1)[0]}@{host}"
        query = urlencode(
            [
                (k, v)
                for k, v in parse_qsl(parts.query, keep_blank_values=True)
                if k.lower() not in _SECRET_PARAMS
            ],
            safe=":/",
        )
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return url.split("://", 1)[0] + "://…"


def password_of(url: str) -> str | None:
    """The password a URL carries, if any (to scrub it from driver messages)."""
    try:
        parts = urlsplit(url)
        if parts.password:
            return parts.password
        for k, v in parse_qsl(parts.query):
            if k.lower() == "password" and v:
                return v
    except ValueError:
        return None
    return None


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/trialbook`` (``~/.cache/trialbook`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trialbook"


def replica_path(url: str) -> Path:
    """The local replica (read-model cache) of the PostgreSQL log at ``url``.

    One file per database, named by a hash of the URL without its password,
    so a changed password keeps the cache and no secret is in the name.
    """
    key = hashlib.sha256(redact_url(url).encode("utf-8")).hexdigest()[:20]
    return cache_dir() / f"pg-{key}.db"
