"""Reading result files for ``ab import``: every line checked before anything is recorded."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from trialbook.domain.errors import InvalidCommand

#: JSONL keys accepted besides the result fields themselves
ALIASES = {"error": "error_messages", "errors_list": "error_messages"}


def read_text(path: Path) -> str:
    """The file's text as UTF-8 ('-' reads stdin); a one-line error otherwise."""
    try:
        raw = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except FileNotFoundError:
        raise InvalidCommand(f"file {path} does not exist; check the path") from None
    except OSError as e:
        raise InvalidCommand(f"cannot read {path}: {e.strerror}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise InvalidCommand(
            f"{path} is not UTF-8 text (bad byte at line {line}); save it as UTF-8 and import again"
        ) from None


def parse_result_line(obj: Any, where: str) -> Any:
    """Validate one decoded JSON value as result fields, naming ``where`` in errors."""
    from pydantic import ValidationError
    from trialbook.domain.ab import ResultFields
    from trialbook.domain.commands import explain

    if not isinstance(obj, dict):
        raise InvalidCommand(f'{where}: expected a JSON object like {{"variant": "warm", ...}}')
    fields = {ALIASES.get(k, k): v for k, v in obj.items()}
    if isinstance(fields.get("error_messages"), str):
        fields["error_messages"] = [fields["error_messages"]]
    if "session_type" in fields and "variant" not in fields:
        fields["variant"] = fields.pop("session_type")  # the older scripts' name
    try:
        return ResultFields.model_validate(fields)
    except ValidationError as e:
        raise InvalidCommand(f"{where}: {explain(e, plain=True)}") from None


def read_results(path: Path) -> tuple[tuple[Any, ...], tuple[str, ...]]:
    """All results of a JSONL file with their line labels; the first bad line raises."""
    text = read_text(path)
    results, sources = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise InvalidCommand(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
        results.append(parse_result_line(obj, where))
        sources.append(where)
    if not results:
        raise InvalidCommand(f"{path} has no results; write one JSON object per line")
    return tuple(results), tuple(sources)
