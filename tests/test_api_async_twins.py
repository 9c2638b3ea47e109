"""Each blocking ``tb.evals`` call and its ``*_async`` twin take exactly the same parameters.

The twins repeat their public signatures on purpose (so ``help()``, editors and
mypy show every option with its default); this keeps the two copies from
drifting apart when an option is added to one of them.
"""

from __future__ import annotations

import inspect

import pytest

from trialbook._evals import Evals

TWINS = ["run", "resume", "retry_failed", "rescore"]


@pytest.mark.parametrize("name", TWINS)
def test_the_async_twin_takes_the_blocking_calls_parameters(name: str) -> None:
    blocking = inspect.signature(getattr(Evals, name))
    awaitable = inspect.signature(getattr(Evals, f"{name}_async"))
    assert list(awaitable.parameters.values()) == list(blocking.parameters.values())
    assert awaitable.return_annotation == blocking.return_annotation


def test_every_async_call_of_evals_has_its_blocking_twin_listed() -> None:
    public = [n for n in vars(Evals) if not n.startswith("_")]
    assert sorted(n.removesuffix("_async") for n in public if n.endswith("_async")) == sorted(TWINS)
