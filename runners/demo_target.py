"""A tiny deterministic "agent" shipped for ``trialbook demo``: the demo's eval run calls it.

``answer(case)`` does arithmetic questions of the form ``What is A plus B?``
(or ``times``), and gets one in seven wrong on purpose (deterministically, by
case id), so the demo's table shows both passes and failures. It reports token
usage like a model would, so the demo can show costs.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

QUESTION = re.compile(r"what is (-?\d+) (plus|times|minus) (-?\d+)", re.IGNORECASE)

#: the demo suite: (case id, question, expected answer)
DEMO_CASES = tuple(
    (
        f"arith-{i:02d}",
        f"What is {a} {op} {b}?",
        str(a + b if op == "plus" else a * b if op == "times" else a - b),
    )
    for i, (a, op, b) in enumerate(
        [
            (2, "plus", 2),
            (7, "times", 6),
            (12, "minus", 5),
            (40, "plus", 2),
            (9, "times", 9),
            (100, "minus", 1),
            (3, "times", 14),
            (25, "plus", 17),
            (8, "minus", 13),
            (11, "times", 11),
            (6, "plus", 7),
            (15, "times", 3),
        ]
    )
)


def _wrong(case_id: str) -> bool:
    return hashlib.sha256(case_id.encode()).digest()[0] % 7 == 0


def answer(case: dict[str, Any]) -> dict[str, Any]:
    """Answer one case: ``{"output": text, "usage": {...}}``."""
    text = case["input"] if isinstance(case["input"], str) else case["input"][-1]["content"]
    m = QUESTION.search(text)
    if m is None:
        output = "I can only do arithmetic."
    else:
        a, op, b = int(m.group(1)), m.group(2).lower(), int(m.group(3))
        value = a + b if op == "plus" else a * b if op == "times" else a - b
        output = str(value + 1 if _wrong(str(case["id"])) else value)
    return {
        "output": output,
        "usage": {
            "prompt_tokens": 12 + len(text.split()),
            "completion_tokens": len(output.split()) + 2,
        },
    }
