"""The report as JSON: the document itself, keys in their documented order, 2-space indent."""

from __future__ import annotations

import json
import math
from typing import Any


def _finite(value: Any) -> Any:
    """NaN and infinities become null (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def render(doc: dict[str, Any]) -> str:
    return json.dumps(_finite(doc), indent=2, ensure_ascii=False) + "\n"
