"""The ``python`` target: a callable taking the case as a dict (see the package docstring)."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from trialbook.domain.canonical import canonical_json
from trialbook.runners.eval_errors import RolloutRefused, TargetConfigError
from trialbook.runners.http_client import snippet
from trialbook.runners.targets.base import RolloutRequest, Target, TargetReply, reply_from_json


def _import(module_name: str) -> Any:
    """Import a module, retrying with the working directory on ``sys.path`` if it was not there."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError:
        cwd = os.getcwd()
        if cwd in sys.path or "" in sys.path:
            raise
        sys.path.insert(0, cwd)
        return importlib.import_module(module_name)


def resolve_callable(ref: str) -> Callable[..., Any]:
    """Import ``package.module:function`` (or ``module:Class.method``); the working directory is importable."""
    module_name, sep, attr_path = ref.partition(":")
    if not sep or not module_name or not attr_path:
        raise TargetConfigError(
            f"python target {ref!r} is not valid; write python:package.module:function"
        )
    try:
        module = _import(module_name)
    except ModuleNotFoundError as e:
        if e.name and (module_name == e.name or module_name.startswith(e.name + ".")):
            raise TargetConfigError(
                f"python target: module {module_name!r} is not importable; check the name, "
                "or run from the directory that holds it"
            ) from None
        raise TargetConfigError(f"python target: importing {module_name!r} failed: {e}") from None
    except Exception as e:  # the module's own import-time error
        raise TargetConfigError(
            f"python target: importing {module_name!r} raised {type(e).__name__}: {e}"
        ) from None
    obj: Any = module
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TargetConfigError(
                f"python target: {module_name!r} has no {attr_path!r}; check the function name"
            ) from None
    if not callable(obj):
        raise TargetConfigError(f"python target: {ref!r} is not callable")
    return obj  # type: ignore[no-any-return]


def callable_ref(fn: Callable[..., Any]) -> str:
    """``module:qualified.name`` of a callable, as a ``python:`` spec names it (recorded for the run).

    Importing it back gives the same function only for one defined at a
    module's top level (or a class's); a closure or lambda is named all the
    same (``mod:outer.<locals>.inner``), but must be handed over again to resume.
    """
    module = getattr(fn, "__module__", None) or type(fn).__module__
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{module}:{name}"


class PythonTarget(Target):
    """A Python callable taking the case as a dict: imported from ``ref``, or given itself."""

    kind = "python"
    OPTIONS = ("callable", "model")

    def __init__(self, ref: str | Callable[..., Any], *, model: str | None = None) -> None:
        if isinstance(ref, str):
            self.ref = ref
            self.fn = resolve_callable(ref)
        elif callable(ref):  # an in-process callable (the Python API): recorded by its name
            self.ref = callable_ref(ref)
            self.fn = ref
        else:
            raise TargetConfigError(
                f"python target: {ref!r} is not callable; give a function or MODULE:FUNCTION"
            )
        self.model = model
        self.is_async = inspect.iscoroutinefunction(self.fn) or (
            not inspect.isroutine(self.fn) and inspect.iscoroutinefunction(type(self.fn).__call__)
        )
        self._pool: ThreadPoolExecutor | None = None

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "callable": self.ref}
        if self.model:
            out["model"] = self.model
        return out

    async def start(self, *, concurrency: int = 10, timeout: float = 60.0) -> None:
        if self._pool is None and not self.is_async:
            self._pool = ThreadPoolExecutor(
                max_workers=concurrency, thread_name_prefix="trialbook-target"
            )

    async def aclose(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.shutdown(wait=False, cancel_futures=True)

    async def call(self, request: RolloutRequest) -> TargetReply:
        case = request.case_dict()
        started = time.perf_counter()
        try:
            if self.is_async:
                result = await self.fn(case)
            else:
                if self._pool is None:
                    await self.start()
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(self._pool, self.fn, case)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            raise RolloutRefused(
                f"{self.ref} raised {type(e).__name__}: {snippet(str(e), 300)}",
                kind="target_error",
                latency_s=time.perf_counter() - started,
            ) from None
        latency = time.perf_counter() - started
        if isinstance(result, dict) and "output" in result:
            reply = reply_from_json(result, latency, what=f"the dict returned by {self.ref}")
        else:
            reply = TargetReply(output=result, latency_s=latency)
        try:
            canonical_json(reply.output)
            canonical_json(reply.trace)
        except (TypeError, ValueError):
            raise RolloutRefused(
                f"{self.ref} returned a {type(reply.output).__name__}, which is not JSON; "
                "return text, a number, a list or a dict",
                kind="bad_response",
                latency_s=latency,
            ) from None
        return reply
