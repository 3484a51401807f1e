"""Applying the wrappers of ``patches`` to LiteLLM and taking them off, exactly.

The Router's endpoints come in three shapes across the supported LiteLLM releases: defined by the
class (< 1.110), served by the class's metaclass (>= 1.110), or set on each instance in
``Router.__init__`` (``responses``, ``anthropic_messages`` and their async twins, < 1.110).
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from typing import Any, Final

import wrapt

from .._emit.telemetry import Telemetry
from . import target_check
from .patches import Wrapper, attempt_wrapper, router_wrapper
from .targets import ATTEMPT_TARGETS, ROUTER_TARGETS

_log: Final = logging.getLogger("otel_llm")


def _defined_by_class(owner: object, name: str) -> bool:
    """True for a member a class of the owner's MRO defines: LiteLLM < 1.110's ``litellm.Router``
    defines its endpoints (``completion``, ``acompletion``, ...) itself.

    LiteLLM >= 1.110's Router (metaclass ``_RouterType``) defines none: the metaclass serves them
    by name from the Rust-backed core's class, sends a class-level ``setattr`` of one there and
    puts the original back on ``delattr``. False too for a module's attribute.
    """
    return isinstance(owner, type) and any(name in vars(base) for base in owner.__mro__)


def _current(owner: object, name: str) -> object | None:
    """The member as patched: the class's own ``__dict__`` entry (LiteLLM < 1.110's Router), else
    what the module or the class's metaclass serves (LiteLLM >= 1.110's Router)."""
    if _defined_by_class(owner, name):
        return vars(owner).get(name)
    return getattr(owner, name, None)


def _is_wrapper(value: object) -> bool:
    # A method read off a class through its metaclass comes bound to no instance: a BoundFunctionWrapper.
    return isinstance(value, (wrapt.FunctionWrapper, wrapt.BoundFunctionWrapper))


class _PerInstanceEndpoint:
    """A Router endpoint LiteLLM < 1.110 sets on each instance in ``Router.__init__`` rather than
    on the class (``responses``, ``aresponses``, ``anthropic_messages``, ``aanthropic_messages``:
    what the proxy's /v1/responses and /v1/messages routes call), out of a class patch's reach.

    A data descriptor on the class takes precedence over the instance's ``__dict__``: ``__init__``'s
    assignment lands in ``__set__`` and is stored unchanged where it always was, and reads return
    it wrapped. Only endpoints assigned while instrumented are wrapped: LiteLLM builds each around
    the module function of that moment (``litellm.anthropic_messages``), so an older Router's
    endpoint calls the unpatched function, and a Router span over it would count no attempt (its
    attempts are still traced, by the callback). Removing the descriptor (uninstrument) leaves
    every instance exactly as LiteLLM made it.
    """

    def __init__(self, name: str, wrapper: Wrapper) -> None:
        self.name = name
        self.wrapper = wrapper
        self.assigned: weakref.WeakSet[Any] = weakref.WeakSet()  # dies with the Routers

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return self
        try:
            endpoint = vars(instance)[self.name]
        except KeyError:
            raise AttributeError(f"{type(instance).__name__!r} object has no attribute {self.name!r}") from None
        if endpoint not in self.assigned:
            return endpoint
        # A wrapper per read (~1 µs, once per request) instead of a cache kept on the user's Router.
        return wrapt.FunctionWrapper(endpoint, self.wrapper)

    def __set__(self, instance: object, value: object) -> None:
        vars(instance)[self.name] = value
        if callable(value):
            with contextlib.suppress(TypeError):  # not weakly referable: left unwrapped, not kept alive
                self.assigned.add(value)

    def __delete__(self, instance: object) -> None:
        try:
            del vars(instance)[self.name]
        except KeyError:
            raise AttributeError(self.name) from None


class Patcher:
    """Applies and removes the wrappers of the target table, restoring the exact originals."""

    def __init__(self) -> None:
        self._originals: list[tuple[object, str, object]] = []

    def patch(self, telemetry: Telemetry) -> None:
        import litellm  # noqa: PLC0415  # imported only when instrumenting

        owners: dict[str, object] = {"litellm": litellm, "Router": getattr(litellm, "Router")}  # noqa: B009
        for targets, make in ((ATTEMPT_TARGETS, attempt_wrapper), (ROUTER_TARGETS, router_wrapper)):
            for target in targets:
                owner = owners[target.owner]
                original = _current(owner, target.name)
                if original is None and target.owner == "Router" and type(owner) is type:
                    endpoint = _PerInstanceEndpoint(target.name, make(telemetry, target))
                    setattr(owner, target.name, endpoint)
                    self._originals.append((owner, target.name, endpoint))
                    continue
                if _is_wrapper(original):
                    continue
                if not callable(original):
                    target_check.missing(target)
                    continue
                fitting = target_check.checked(target, original)
                if fitting is None:
                    continue
                setattr(owner, target.name, wrapt.FunctionWrapper(original, make(telemetry, fitting)))
                self._originals.append((owner, target.name, original))

    def unpatch(self) -> None:
        for owner, name, original in reversed(self._originals):
            current = _current(owner, name)
            if isinstance(original, _PerInstanceEndpoint):
                if current is original:
                    delattr(owner, name)  # the instances' own endpoints show through again
                else:
                    _log.warning("otel-llm: %s.%s was replaced by someone else; leaving it in place", owner, name)
            elif not (_is_wrapper(current) and getattr(current, "__wrapped__", None) is original):
                _log.warning("otel-llm: %s.%s was re-wrapped by someone else; leaving it in place", owner, name)
            elif isinstance(owner, type) and not _defined_by_class(owner, name):
                delattr(owner, name)  # LiteLLM >= 1.110: the Router's metaclass puts the original back
            else:
                setattr(owner, name, original)
        self._originals.clear()
