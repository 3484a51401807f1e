"""Where loop windows live: in process (default), or in Redis to share them across workers.

Both keep, per scope, the recent observations (bounded) and an active block (a
cool-down). Redis being down or slow never blocks traffic: the Redis store falls back to
its in-process twin, warns once a minute, and retries Redis after a pause.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict, deque
from dataclasses import asdict, dataclass
from typing import Any, Final, Protocol

_log: Final = logging.getLogger("otel_llm")
MAX_ENTRIES: Final = 512  # observations kept per window


@dataclass(frozen=True)
class Observation:
    """One successful call in a window: time, fingerprints, tokens and cost."""

    t: float
    full: str | None
    tail: str | None
    input_tokens: int
    cost: float


@dataclass(frozen=True)
class Block:
    """An active detection for a scope: why, and until when (epoch seconds)."""

    reason: str
    until: float
    summary: str


class Store(Protocol):
    def append(self, scope: str, observation: Observation, window_s: float) -> list[Observation]: ...
    def set_block(self, scope: str, block: Block) -> None: ...
    def get_block(self, scope: str) -> Block | None: ...


class InProcessStore:
    """Windows in a bounded LRU map; idle windows age out after their window length."""

    def __init__(self, max_windows: int, clock: Any = time.time) -> None:
        self._max = max_windows
        self._clock = clock
        self._windows: OrderedDict[str, deque[Observation]] = OrderedDict()
        self._blocks: OrderedDict[str, Block] = OrderedDict()
        self._lock = threading.Lock()

    def append(self, scope: str, observation: Observation, window_s: float) -> list[Observation]:
        with self._lock:
            window = self._windows.pop(scope, None)
            if window is None:
                window = deque(maxlen=MAX_ENTRIES)
            window.append(observation)
            self._windows[scope] = window
            self._evict(self._windows, observation.t, window_s)
            horizon = observation.t - window_s
            return [o for o in window if o.t >= horizon]

    def _evict(self, table: OrderedDict[str, deque[Observation]], now: float, window_s: float) -> None:
        while len(table) > self._max:
            table.popitem(last=False)
        # Idle windows sit at the front (least recently used): drop the expired ones.
        while table:
            oldest = next(iter(table.values()))
            if oldest and oldest[-1].t >= now - window_s:
                break
            table.popitem(last=False)

    def set_block(self, scope: str, block: Block) -> None:
        with self._lock:
            self._blocks.pop(scope, None)
            self._blocks[scope] = block
            while len(self._blocks) > self._max:
                self._blocks.popitem(last=False)

    def get_block(self, scope: str) -> Block | None:
        with self._lock:
            block = self._blocks.get(scope)
            if block is not None and block.until <= self._clock():
                del self._blocks[scope]
                return None
            return block


class RedisStore:
    """Windows shared through Redis (lists with TTLs), degrading to in-process state."""

    _PREFIX: Final = "otel_llm:loop:"
    _RETRY_S: Final = 30.0
    _WARN_S: Final = 60.0

    def __init__(self, url: str, fallback: InProcessStore, timeout_s: float = 0.25) -> None:
        import redis  # noqa: PLC0415  # optional: only with OTEL_LLM_LOOP_REDIS_URL

        self._client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self._fallback = fallback
        self._down_until = 0.0
        self._last_warning = -self._WARN_S
        self._lock = threading.Lock()
        self.failures = 0

    @property
    def degraded(self) -> bool:
        return time.monotonic() < self._down_until

    def _failed(self, error: Exception) -> None:
        now = time.monotonic()
        with self._lock:
            self.failures += 1
            self._down_until = now + self._RETRY_S
            warn = now - self._last_warning >= self._WARN_S
            if warn:
                self._last_warning = now
        if warn:
            _log.warning(
                "otel-llm: loop detection cannot reach Redis (%s); using this process's own windows and "
                "retrying in %.0fs. Traffic is not affected.",
                type(error).__name__,
                self._RETRY_S,
            )

    def append(self, scope: str, observation: Observation, window_s: float) -> list[Observation]:
        if self.degraded:
            return self._fallback.append(scope, observation, window_s)
        key = self._PREFIX + "w:" + scope
        try:
            pipe = self._client.pipeline()
            pipe.rpush(key, json.dumps(asdict(observation)))
            pipe.ltrim(key, -MAX_ENTRIES, -1)
            pipe.expire(key, max(1, int(window_s)))
            pipe.lrange(key, 0, -1)
            raw = pipe.execute()[-1]
        except Exception as error:  # noqa: BLE001  # any Redis failure degrades, never raises
            self._failed(error)
            return self._fallback.append(scope, observation, window_s)
        horizon = observation.t - window_s
        result = []
        for item in raw:
            try:
                parsed = Observation(**json.loads(item))
            except (TypeError, ValueError):
                continue
            if parsed.t >= horizon:
                result.append(parsed)
        return result

    def set_block(self, scope: str, block: Block) -> None:
        self._fallback.set_block(scope, block)
        if self.degraded:
            return
        ttl = max(1, int(block.until - time.time()))
        try:
            self._client.set(self._PREFIX + "b:" + scope, json.dumps(asdict(block)), ex=ttl)
        except Exception as error:  # noqa: BLE001
            self._failed(error)

    def get_block(self, scope: str) -> Block | None:
        if self.degraded:
            return self._fallback.get_block(scope)
        try:
            raw = self._client.get(self._PREFIX + "b:" + scope)
        except Exception as error:  # noqa: BLE001
            self._failed(error)
            return self._fallback.get_block(scope)
        if raw is None:
            return None
        try:
            block = Block(**json.loads(raw))
        except (TypeError, ValueError):
            return None
        return block if block.until > time.time() else None
