"""Each patch target checked against the LiteLLM actually installed, before it is wrapped.

otel-llm sets no upper bound on LiteLLM (installing it never changes the host's LiteLLM), so a
release newer than the ones tested may rename, drop or reshape an entry point. A wrapper that
no longer fits could break the host's call (a sync function wrapped as async; ``litellm_call_id``
passed to a function that takes no ``**kwargs``): such a target is left unpatched, and its calls
are still reported by the callback (no live span). A moved ``model`` parameter is followed. Each
finding is logged once per process, as a warning, never raised.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import threading
from collections.abc import Callable
from typing import Final

from .targets import Target

_log: Final = logging.getLogger("otel_llm")
_warned: set[tuple[str, str, str]] = set()
_lock: Final = threading.Lock()


def _warn_once(target: Target, problem: str, consequence: str) -> None:
    key = (target.owner, target.name, problem)
    with _lock:
        if key in _warned:
            return
        _warned.add(key)
    _log.warning(
        "otel-llm: %s.%s %s in LiteLLM %s (not a release otel-llm was tested on): %s",
        "litellm" if target.owner == "litellm" else "litellm.Router",
        target.name,
        problem,
        litellm_version(),
        consequence,
    )


def litellm_version() -> str:
    """The installed LiteLLM's version, or "unknown"."""
    try:
        import importlib.metadata  # noqa: PLC0415

        return importlib.metadata.version("litellm")
    except Exception:  # noqa: BLE001  # not installed as a distribution (vendored, source tree)
        return "unknown"


def missing(target: Target) -> None:
    """Say (once) that a target is not in this LiteLLM."""
    _warn_once(target, "is missing", "its calls are reported by the callback alone (no live span)")


def checked(target: Target, original: Callable[..., object]) -> Target | None:
    """``target`` as this LiteLLM defines it, or None when wrapping it could break its calls."""
    try:
        signature = inspect.signature(original)
    except (TypeError, ValueError):  # a builtin or an object without a signature: nothing to compare
        return target
    if inspect.iscoroutinefunction(original) != target.is_async:
        expected = "a coroutine function" if target.is_async else "a plain function"
        _warn_once(target, f"is no longer {expected}", "left unpatched; the callback still reports its calls")
        return None
    parameters = list(signature.parameters.values())
    if target.owner == "Router" and parameters and parameters[0].name == "self":
        parameters = parameters[1:]
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        _warn_once(target, "takes no **kwargs", "left unpatched; the callback still reports its calls")
        return None
    positional = [
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    if "model" not in positional or positional.index("model") == target.model_arg:
        return target  # (*args, **kwargs) forwarders say nothing about positions
    moved = positional.index("model")
    _warn_once(target, f"takes model at position {moved}, not {target.model_arg}", "followed")
    return dataclasses.replace(target, model_arg=moved)
