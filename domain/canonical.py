"""Deterministic serialisation helpers: canonical JSON, hashes and event ids.

These are the pieces the hash chain depends on, so their output must never
change for the same input.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from json.encoder import encode_basestring  # the C escaper, as json.dumps(ensure_ascii=False) uses
from typing import Any

from orjson import OPT_SORT_KEYS as _SORT_KEYS
from orjson import dumps as _orjson_dumps

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> str:
    """Serialise ``value`` as canonical JSON.

    Contract: keys sorted, compact separators, non-ASCII kept as UTF-8, and
    NaN/Infinity refused (``ValueError``), so that equal values always produce
    the same text and therefore the same hash.
    """
    if type(value) is dict and _plain(value):
        try:
            return _orjson_dumps(value, option=_SORT_KEYS).decode()
        except TypeError:  # an integer beyond 64 bits, a key that is not text: json's way
            pass
    if _ENCODE is None:  # pragma: no cover - a Python without json's C accelerator
        return _CANONICAL.encode(value)
    return "".join(_ENCODE(value, 0))


def plain_json(value: dict[str, Any]) -> str:
    """``canonical_json(value)`` of a dict its writer has checked as ``_plain`` checks one
    (a batch of event bodies checked a column at a time), without checking it again; an
    integer beyond 64 bits, which orjson refuses, is still written by json's way."""
    try:
        return _orjson_dumps(value, option=_SORT_KEYS).decode()
    except TypeError:
        return canonical_json(value)


#: the types orjson writes as json does (bool, not int subclasses; see _plain)
_SCALARS = frozenset({str, int, bool, type(None)})
_INF = float("inf")


def _plain(data: dict[Any, Any]) -> bool:
    """Whether orjson writes ``data`` byte for byte as the C encoder does (property-tested).

    True for a dict of text, integers, booleans, nulls and floats, and of lists, tuples
    and dicts of text and floats (an event body: a result, its error messages, metrics
    and dimensions). Floats must be 0 or at least 1e-4 in size and finite: below 1e-4
    orjson writes ``0.00005`` where ``repr`` writes ``5e-05``, and it writes NaN as null
    where json refuses it. Anything else (other types, deeper nesting) is json's to write.
    """
    for v in data.values():
        t = type(v)
        if t in _SCALARS:  # most values of an event body: checked first
            continue
        if t is float:
            if not (1e-4 <= v < _INF or -_INF < v <= -1e-4 or v == 0):
                return False
        elif t is dict or t is tuple or t is list:
            if not v:
                continue
            for x in v.values() if t is dict else v:
                tx = type(x)
                if tx is float:
                    if not (1e-4 <= x < _INF or -_INF < x <= -1e-4 or x == 0):
                        return False
                elif tx is not str:
                    return False
        else:
            return False
    return True


#: what ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
#: allow_nan=False)`` builds on every call, built once (the same text, about twice as fast
#: for the small dicts every append serialises)
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)

#: and the C encoder its ``encode`` makes at every call (arguments in the order
#: ``JSONEncoder.iterencode`` passes them), made once: the same text, another third faster.
#: No circular-reference markers (an event body is a tree; a cycle raises RecursionError
#: instead of ValueError), which also leaves it no state shared between threads.
_C_MAKE_ENCODER = getattr(json.encoder, "c_make_encoder", None)
_ENCODE = (
    None
    if _C_MAKE_ENCODER is None
    else _C_MAKE_ENCODER(
        None,
        _CANONICAL.default,
        encode_basestring,
        None,
        _CANONICAL.key_separator,
        _CANONICAL.item_separator,
        _CANONICAL.sort_keys,
        _CANONICAL.skipkeys,
        _CANONICAL.allow_nan,
    )
)


def content_hash(text: str) -> str:
    """Hex SHA-256 of ``text`` encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def envelope_json(
    *,
    position: int,
    event_id: str,
    stream_id: str,
    version: int,
    type: str,
    schema_version: int,
    data_json: str,
    metadata_json: str,
    recorded_at: str,
    prev_hash: str,
) -> str:
    """Canonical JSON of an event envelope without its hash.

    ``data_json`` and ``metadata_json`` must already be canonical JSON; they are
    spliced in as they are, which gives exactly ``canonical_json`` of the whole
    envelope (keys are in sorted order below) without parsing them again. The
    hash chain covers the stored text, so any edit of it is detected.
    """
    e = encode_basestring
    return (
        f'{{"data":{data_json},"event_id":{e(event_id)},"metadata":{metadata_json},'
        f'"position":{int(position)},"prev_hash":{e(prev_hash)},"recorded_at":{e(recorded_at)},'
        f'"schema_version":{int(schema_version)},"stream_id":{e(stream_id)},"type":{e(type)},'
        f'"version":{int(version)}}}'
    )


def chain_hash(prev_hash: str, envelope: str) -> str:
    """The hash chain link: ``sha256(prev_hash + envelope)``."""
    return hashlib.sha256((prev_hash + envelope).encode("utf-8")).hexdigest()


_last_ms = 0
_seq = 0


def new_event_id() -> str:
    """A new UUIDv7 (RFC 9562) as a string: time-ordered, 74 random bits.

    Ids made by one process are strictly increasing: within the same
    millisecond a 12-bit counter (``rand_a``) is used before the clock moves on.
    """
    global _last_ms, _seq
    ms = time.time_ns() // 1_000_000
    if ms <= _last_ms:
        _seq += 1
        if _seq > 0xFFF:
            _last_ms += 1
            _seq = 0
        ms = _last_ms
    else:
        _last_ms = ms
        _seq = 0
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | _seq << 64 | 0b10 << 62 | rand_b
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def new_event_ids(count: int) -> list[str]:
    """``count`` new UUIDv7s, as ``count`` calls of :func:`new_event_id` in one millisecond
    make them.

    The same clock and counter (strictly increasing, after every id made before; the
    counter runs into the next millisecond past 4096 ids), read once for the batch, with
    the random bits of all of them drawn from the OS at once.
    """
    global _last_ms, _seq
    ms = time.time_ns() // 1_000_000
    if ms > _last_ms:
        _last_ms, _seq = ms, -1
    if count == 1:  # a single append: the loop's one id, its random digits from the pool
        if _seq >= 0xFFF:
            _last_ms += 1
            _seq = -1
        _seq += 1
        digits = _random_digits()
        return [
            f"{_prefix_of(_last_ms)}7{_seq:03x}-{_VARIANT_DIGIT[digits[0]]}{digits[1:4]}-"
            f"{digits[4:]}"
        ]
    # the random bits as hex at once: the 16 digits of each id's rand_b are those of its
    # 8 bytes, the first with its top two bits set to the variant (0b10)
    random = os.urandom(8 * count).hex()
    variant = _VARIANT_DIGIT
    seqs = _seq_texts() if count >= _SEQ_TABLE_FROM else None
    ids: list[str] = []
    at = 0  # where the next id's random digits start
    while len(ids) < count:
        if _seq >= 0xFFF:  # this millisecond's counter is spent: on into the next
            _last_ms += 1
            _seq = -1
        start = _seq + 1
        take = min(count - len(ids), 0x1000 - start)
        prefix = _ms_prefix(_last_ms)
        # the ids of one millisecond at once (a large batch looks the counter's text up)
        numbered = zip(range(start, start + take), range(at, at + 16 * take, 16), strict=True)
        ids += (
            [
                f"{prefix}{seqs[s]}{variant[random[i]]}{random[i + 1 : i + 4]}-{random[i + 4 : i + 16]}"
                for s, i in numbered
            ]
            if seqs is not None
            else [
                f"{prefix}7{s:03x}-{variant[random[i]]}{random[i + 1 : i + 4]}-{random[i + 4 : i + 16]}"
                for s, i in numbered
            ]
        )
        _seq = start + take - 1
        at += 16 * take
    return ids


def _prefix_of(ms: int) -> str:
    """``_ms_prefix(ms)``, kept for the millisecond it was last made for."""
    global _prefix
    if _prefix[0] != ms:
        _prefix = (ms, _ms_prefix(ms))
    return _prefix[1]


#: the millisecond ``_prefix_of`` made a prefix for last, and the prefix
_prefix: tuple[int, str] = (-1, "")


def _random_digits() -> str:
    """16 random hex digits (8 bytes from ``os.urandom``) for one id's ``rand_b``.

    The OS is asked for the digits of 64 ids at once (a system call was most of a single
    id's cost); each is taken by one ``list.pop``, which no two threads can both get.
    A forked child drops the parent's (see below), so two processes never share digits.
    """
    try:
        return _RANDOM_POOL.pop()
    except IndexError:
        digits = os.urandom(8 * 64).hex()
        # (last first: popped in the order the OS gave them)
        _RANDOM_POOL.extend([digits[i : i + 16] for i in range(16 * 63, 0, -16)])
        return digits[:16]


#: random digits drawn from the OS and not used yet (see _random_digits)
_RANDOM_POOL: list[str] = []
if hasattr(os, "register_at_fork"):  # (POSIX)
    os.register_at_fork(after_in_child=_RANDOM_POOL.clear)


def _ms_prefix(ms: int) -> str:
    """The first two groups of a UUIDv7 of millisecond ``ms`` and the dash after them."""
    h = f"{ms & ((1 << 48) - 1):012x}"
    return f"{h[:8]}-{h[8:]}-"


#: each counter value's text in an id (the version digit, the counter and the dash after
#: them), made for the first batch of at least _SEQ_TABLE_FROM ids (an import's): making
#: it costs a few milliseconds at start, looking it up saves a third of an id's text
_SEQ_TEXT: list[str] | None = None
_SEQ_TABLE_FROM = 256


def _seq_texts() -> list[str]:
    global _SEQ_TEXT
    if _SEQ_TEXT is None:
        _SEQ_TEXT = [f"7{s:03x}-" for s in range(0x1000)]
    return _SEQ_TEXT


#: a random hex digit with its top two bits set to 0b10 (RFC 9562's variant)
_VARIANT_DIGIT = {f"{n:x}": f"{0b1000 | (n & 0b11):x}" for n in range(16)}
