"""Where loop windows live: in process (default), or in Redis to share them across workers.

Both keep, per scope, the recent observations (bounded) and an active block (a
cool-down). Redis being down or slow never blocks traffic: the Redis store falls back to
its in-process twin, warns once a minute, and retries Redis after a pause.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final, Protocol

_log: Final = logging.getLogger("otel_llm")
MAX_ENTRIES: Final = 512  # observations kept per window


@dataclass(slots=True)  # one per call: slots, and not frozen (a frozen init costs twice as much)
class Observation:
    """One successful call in a window: time, fingerprints, tokens and cost."""

    t: float  # when it was observed (epoch seconds): the windows' clock
    full: str | None
    tail: str | None
    input_tokens: int
    cost: float
    # When the call started (epoch seconds; None: ``t``). Prompt growth is read in this order:
    # LiteLLM reports sync calls from a thread pool, not always in the order they were made.
    start: float | None = None


@dataclass(slots=True)  # one per call, as Observation
class WindowStats:
    """What the detector needs to know of a window, right after a call was added to it."""

    calls: int  # calls in the window
    repeats: int  # calls with the same whole-request or tail fingerprint as this one (the larger)
    calls_last_minute: int
    spend_last_minute: float
    growth: float  # last/first prompt size over the last ``growth_calls`` calls, if they grew (else 0)


# Reports are out of the calls' order by a few places at most (a thread pool's): the growth check
# reads this many more of the latest calls than it needs, and takes the last by start among them.
_ORDER_SLACK: Final = 8


def growth_of(recent: Sequence[tuple[float, int]], calls: int, seconds: float) -> float:
    """last/first prompt size if each of ``recent`` (the last ``calls`` calls in the order they started,
    as (start time, input tokens)) grew within ``seconds``."""
    if calls < 2 or len(recent) < calls:
        return 0.0
    if recent[-1][0] - recent[0][0] > seconds or recent[0][1] <= 0:
        return 0.0
    for earlier, later in itertools.pairwise(recent):
        if later[1] <= earlier[1]:
            return 0.0
    return recent[-1][1] / recent[0][1]


def stats_of(window: list[Observation], new: Observation, growth_calls: int, growth_seconds: float) -> WindowStats:
    """Window statistics computed from scratch (the Redis store's windows come back as lists)."""
    ordered = sorted(window, key=lambda o: o.t)
    last_minute = [o for o in ordered if o.t > new.t - 60.0]
    return WindowStats(
        calls=len(ordered),
        repeats=max(
            sum(1 for o in ordered if new.full and o.full == new.full),
            sum(1 for o in ordered if new.tail and o.tail == new.tail),
        ),
        calls_last_minute=len(last_minute),
        spend_last_minute=sum(o.cost for o in last_minute),
        growth=growth_of(
            _by_start([(_start(o), o.input_tokens) for o in ordered], growth_calls), growth_calls, growth_seconds
        ),
    )


def _start(observation: Observation) -> float:
    return observation.t if observation.start is None else observation.start


def _by_start(latest: list[tuple[float, int]], calls: int) -> list[tuple[float, int]]:
    """The last ``calls`` of the latest calls (in the order observed; the last ``calls`` +
    ``_ORDER_SLACK`` are read) by start time; a stable sort keeps calls started together as observed."""
    return sorted(latest[-(calls + _ORDER_SLACK) :], key=lambda call: call[0])[-calls:]


# A call as a window keeps it: an exact tuple of atoms, (time, whole-request fingerprint, tail
# fingerprint, input tokens, cost, start). A window keeps its calls for minutes, so each is promoted
# to the oldest generation; as atoms the garbage collector untracks them at their first young
# collection and never counts, promotes or traverses them (an Observation is tracked).
_Entry = tuple[float, "str | None", "str | None", int, float, float]
_T: Final = 0
_FULL: Final = 1
_TAIL: Final = 2
_TOKENS: Final = 3
_COST: Final = 4
_START: Final = 5


class _Window:
    """One scope's calls, with running counts so adding a call costs O(1) (plus the growth tail)."""

    __slots__ = ("entries", "full", "minute", "minute_cost", "tail")

    def __init__(self) -> None:
        self.entries: deque[_Entry] = deque()
        self.full: dict[str, int] = {}
        self.tail: dict[str, int] = {}
        self.minute: deque[_Entry] = deque()
        self.minute_cost = 0.0

    @staticmethod
    def _count(table: dict[str, int], key: str | None, delta: int) -> None:
        if key is None:
            return
        value = table.get(key, 0) + delta
        if value > 0:
            table[key] = value
        else:
            table.pop(key, None)

    def add(self, new: Observation, window_s: float, growth_calls: int, growth_seconds: float) -> WindowStats:
        entry: _Entry = (new.t, new.full, new.tail, new.input_tokens, new.cost, _start(new))
        horizon = new.t - window_s
        entries = self.entries
        while entries and (entries[0][_T] < horizon or len(entries) >= MAX_ENTRIES):
            old = entries.popleft()
            self._count(self.full, old[_FULL], -1)
            self._count(self.tail, old[_TAIL], -1)
        entries.append(entry)
        self._count(self.full, new.full, 1)
        self._count(self.tail, new.tail, 1)
        minute = self.minute
        while minute and minute[0][_T] <= new.t - 60.0:
            self.minute_cost -= minute.popleft()[_COST]
        minute.append(entry)
        self.minute_cost += new.cost
        growth = 0.0
        # Growth needs the last growth_calls calls (by start) each larger than the one before: when the
        # newest was observed in order and is not larger than the one before it (a repeated request, a
        # new conversation), it is 0 at once; a call observed out of order is placed by its start.
        if (
            growth_calls >= 2
            and len(entries) >= growth_calls
            and (entries[-1][_TOKENS] > entries[-2][_TOKENS] or entries[-1][_START] < entries[-2][_START])
        ):
            latest = [(e[_START], e[_TOKENS]) for e in itertools.islice(reversed(entries), growth_calls + _ORDER_SLACK)]
            latest.reverse()
            growth = growth_of(_by_start(latest, growth_calls), growth_calls, growth_seconds)
        return WindowStats(
            calls=len(entries),
            repeats=max(self.full.get(new.full, 0) if new.full else 0, self.tail.get(new.tail, 0) if new.tail else 0),
            calls_last_minute=len(minute),
            spend_last_minute=max(0.0, self.minute_cost),
            growth=growth,
        )

    def last_time(self) -> float | None:
        """When the window's latest call was made (None: empty)."""
        return self.entries[-1][_T] if self.entries else None


@dataclass(frozen=True)
class Block:
    """An active detection for a scope: why, and until when (epoch seconds)."""

    reason: str
    until: float
    summary: str


class Store(Protocol):
    def append(
        self, scope: str, observation: Observation, window_s: float, growth_calls: int, growth_seconds: float
    ) -> WindowStats: ...
    def set_block(self, scope: str, block: Block) -> None: ...
    def get_block(self, scope: str) -> Block | None: ...


class InProcessStore:
    """Windows in a bounded LRU map; idle windows age out after their window length."""

    def __init__(self, max_windows: int, clock: Any = time.time) -> None:
        self._max = max_windows
        self._clock = clock
        self._windows: OrderedDict[str, _Window] = OrderedDict()
        self._blocks: OrderedDict[str, Block] = OrderedDict()
        self._lock = threading.Lock()

    def append(
        self, scope: str, observation: Observation, window_s: float, growth_calls: int, growth_seconds: float
    ) -> WindowStats:
        with self._lock:
            window = self._windows.get(scope)
            if window is None:
                window = self._windows[scope] = _Window()
            else:
                self._windows.move_to_end(scope)
            stats = window.add(observation, window_s, growth_calls, growth_seconds)
            self._evict(observation.t, window_s)
            return stats

    def _evict(self, now: float, window_s: float) -> None:
        table = self._windows
        while len(table) > self._max:
            table.popitem(last=False)
        # Idle windows sit at the front (least recently used): drop the expired ones.
        while table:
            last = next(iter(table.values())).last_time()
            if last is not None and last >= now - window_s:
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

    def append(
        self, scope: str, observation: Observation, window_s: float, growth_calls: int, growth_seconds: float
    ) -> WindowStats:
        if self.degraded:
            return self._fallback.append(scope, observation, window_s, growth_calls, growth_seconds)
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
            return self._fallback.append(scope, observation, window_s, growth_calls, growth_seconds)
        horizon = observation.t - window_s
        result = []
        for item in raw:
            try:
                parsed = Observation(**json.loads(item))
            except (TypeError, ValueError):
                continue
            if parsed.t >= horizon:
                result.append(parsed)
        return stats_of(result, observation, growth_calls, growth_seconds)

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
