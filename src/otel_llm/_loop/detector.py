"""Runaway agent-loop detection over sliding windows of successful calls.

A window is keyed by who called (virtual key, else end user), the session when the
caller names one, and the model they asked for. Four triggers, each with a documented
default that catches a real loop within tens of calls and leaves busy traffic alone:

* ``repeat``: the same request (or the same last two messages: one tool call and its
  result, again and again) ``repeats`` times within the window;
* ``token_growth``: ``growth_calls`` calls in ``growth_seconds``, each with a larger
  prompt than the one before, growing by ``growth_factor`` overall (a conversation that
  keeps growing at machine speed, without a human in it);
* ``spend_velocity``: more than ``spend_per_minute`` USD spent in the last minute;
* ``rate``: more than ``session_rate`` calls in the last minute *within one session*
  (without a session, rate alone is no evidence: busy keys are legitimately fast).

A detection opens a cool-down for the scope: it is counted once per episode and, in
block mode, further calls are refused until it ends.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Final

from .. import _state
from .._config import Config
from .._record import Attribution, InvocationRecord, LoopDetection, McpOperationRecord
from .._redact import scrub
from .store import Block, InProcessStore, Observation, RedisStore, Store

_log: Final = logging.getLogger("otel_llm")


@dataclass(frozen=True)
class Scope:
    """Who, in which session, asking for which model."""

    principal: str
    session: str | None
    model: str | None

    @property
    def key(self) -> str:
        return _scope_key(self.principal, self.session, self.model)


@functools.lru_cache(maxsize=4096)  # the scopes calling now: hashed once, not on every call
def _scope_key(principal: str, session: str | None, model: str | None) -> str:
    raw = f"{principal}\x1f{session or ''}\x1f{model or ''}"
    return hashlib.blake2b(raw.encode("utf-8", "replace"), digest_size=16).hexdigest()


def scope_of(key_hash: str | None, end_user: str | None, session: str | None, model: str | None) -> Scope:
    if key_hash:
        principal = f"key:{key_hash}"
    elif end_user:
        principal = f"user:{end_user}"
    else:
        principal = "local"
    return Scope(principal, session, model)


def tool_scope(who: Attribution, tool: str | None) -> Scope:
    """A caller's calls of one tool: its key (else end user), and its agent when it names one, since
    agents behind one team key loop on their own. No session, so the session-rate trigger stays off:
    agents legitimately call varied tools fast."""
    principal = scope_of(who.key_hash, who.end_user, None, None).principal
    if who.agent_id:
        principal = f"{principal}\x1fagent:{who.agent_id}"
    return Scope(principal, None, f"tool:{tool or ''}")


def record_scope(record: InvocationRecord) -> Scope:
    return scope_of(
        record.attribution.key_hash,
        record.attribution.end_user,
        record.conversation_id,
        record.requested_model or record.model_group or record.request_model,
    )


class Detector:
    """Observes successful calls and keeps blocks; thread-safe, memory bounded by the store."""

    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store

    def observe(self, record: InvocationRecord, now: float | None = None) -> tuple[LoopDetection | None, float]:
        """Add a successful call; returns (new detection or None, USD spent by the scope in the last minute)."""
        t = time.time() if now is None else now
        start = record.start_ns
        observation = Observation(
            t=t,
            full=record.request_fingerprint,
            tail=record.tail_fingerprint,
            input_tokens=record.input_tokens or 0,
            cost=record.cost_usd or 0.0,
            start=start / 1e9 if start else None,
        )
        return self._observe(record_scope(record), observation)

    def observe_tool(self, record: McpOperationRecord, now: float | None = None) -> LoopDetection | None:
        """Add a tool call that ran (it answered, or failed as a tool): the same tool with the same
        arguments again and again is a loop (``repeat``), as is its spend velocity."""
        t = time.time() if now is None else now
        observation = Observation(t=t, full=record.fingerprint, tail=None, input_tokens=0, cost=record.cost_usd or 0.0)
        return self._observe(tool_scope(record.attribution, record.tool), observation)[0]

    def _observe(self, scope: Scope, observation: Observation) -> tuple[LoopDetection | None, float]:
        c = self.config
        t = observation.t
        key = scope.key
        stats = self.store.append(key, observation, c.loop_window_s, c.loop_growth_calls, c.loop_growth_seconds)
        velocity = stats.spend_last_minute
        reason = None
        if stats.repeats >= c.loop_repeats:
            reason = "repeat"
        elif stats.growth >= c.loop_growth_factor:
            reason = "token_growth"
        elif velocity > c.loop_spend_per_minute:
            reason = "spend_velocity"
        elif scope.session and stats.calls_last_minute > c.loop_session_rate:
            reason = "rate"
        if reason is None or self.store.get_block(key) is not None:
            return None, velocity
        blocking = c.loop_mode == "block"
        detection = LoopDetection(
            reason=reason,
            action="blocked" if blocking else "observed",
            window_calls=stats.calls,
            window_seconds=c.loop_window_s,
            repeats=stats.repeats,
            calls_last_minute=stats.calls_last_minute,
            spend_per_minute=velocity,
            input_growth=stats.growth,
            cooldown_seconds=c.loop_cooldown_s,
            cooldown_until=t + c.loop_cooldown_s,
        )
        self.store.set_block(key, Block(reason, t + c.loop_cooldown_s, detection.summary()))
        return detection, velocity

    def refusal(self, scope: Scope) -> Block | None:
        """The active block for a scope, in block mode (None when calls may proceed)."""
        if self.config.loop_mode != "block":
            return None
        return self.store.get_block(scope.key)


_lock: Final = threading.Lock()
# One detector per set of loop settings: callbacks with the same settings share its windows (a
# loop spread over them is one loop), and one with other thresholds gets its own, not the first's.
_detectors: dict[tuple[object, ...], Detector] = {}


def detector_for(config: Config) -> Detector | None:
    """The detector for ``config``'s loop settings; None when loop detection is off."""
    if config.loop_mode == "off":
        return None
    key = config.loop_settings
    detector = _detectors.get(key)
    if detector is None:
        with _lock:
            detector = _detectors.get(key)
            if detector is None:
                detector = _detectors[key] = Detector(config, _store(config))
    return detector


def _reset() -> None:
    with _lock:
        _detectors.clear()


_state.register(
    "loop detectors",
    "a loop spreads over every call of a key or session, whichever callback instance sees each one",
    _reset,
)


def _store(config: Config) -> Store:
    """Redis when configured and usable; otherwise (said once, with the fix) this process's windows."""
    fallback = InProcessStore(config.loop_max_windows)
    if not config.loop_redis_url:
        return fallback
    try:
        return RedisStore(config.loop_redis_url, fallback)
    except ImportError:
        _log.error(
            "otel-llm: OTEL_LLM_LOOP_REDIS_URL is set but the redis package is not installed; loop windows "
            "stay in this process (not shared across workers). Install it: pip install 'otel-llm[redis]'."
        )
    except Exception as error:  # noqa: BLE001  # redis-py rejects URLs with several exception types
        # The message only: the URL itself may carry a password.
        _log.error(
            "otel-llm: OTEL_LLM_LOOP_REDIS_URL is not usable (%s: %s); loop windows stay in this process. "
            "Set it to redis://[:password@]host:6379/0, rediss://… or unix:///path/to/redis.sock.",
            type(error).__name__,
            scrub(str(error)),
        )
    return fallback


def reset() -> None:
    """Forget every detector and its windows (tests)."""
    _reset()
