"""Live calls: spans opened before LiteLLM runs, waiting for LiteLLM's callback.

LiteLLM reports a call only after it returns (sync hooks on a thread pool, async hooks
on a queue, streams at their last chunk). The wrapper opens the span; the callback
completes it. Calls whose callback never comes (LiteLLM dropped it, the stream was
abandoned, the process is exiting) are finished from what the wrapper saw, marked
incomplete. The registry is bounded; a daemon thread finishes calls past their deadline.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Final

from .. import _errors, _state
from .._record import InvocationRecord
from .call import LiveCall

_log: Final = logging.getLogger("otel_llm")


Finisher = Callable[[LiveCall, InvocationRecord | None], None]
_CLAIMS_LIMIT: Final = 20000
_DEFERRED_LIMIT: Final = 10000


class LiveRegistry:
    """Bounded set of live attempts, indexed by LiteLLM call id, with a deadline sweeper.

    Several attempts can share one call id: the LiteLLM proxy hands every attempt of a
    request (retries, fallbacks) the request's id and logging object, and LiteLLM then
    reports only the first failure and the final success of that request.
    """

    def __init__(self) -> None:
        self._calls: OrderedDict[int, LiveCall] = OrderedDict()
        self._by_call_id: dict[str, list[LiveCall]] = {}
        self._reported_failures: OrderedDict[str, int] = OrderedDict()
        # Calls finished without their report: a report that comes later is dropped, not a second span.
        self._finished_unreported: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._finisher: Finisher | None = None
        # Work a finalizer hands over (it may not take locks): appending to a deque is atomic.
        self._deferred: deque[Callable[[], None]] = deque(maxlen=_DEFERRED_LIMIT)
        os.register_at_fork(after_in_child=self._after_fork)

    def defer(self, work: Callable[[], None], *, first: bool = False) -> None:
        """Run ``work`` on the sweeper thread at its next tick (lock-free: safe from ``__del__``);
        ``first``: before the work already waiting (an attempt ends before its Router request)."""
        if first:
            self._deferred.appendleft(work)
        else:
            self._deferred.append(work)

    def set_finisher(self, finisher: Finisher) -> None:
        """How a call is finished without its callback (set by the capture layer)."""
        self._finisher = finisher

    def __len__(self) -> int:
        return len(self._calls)

    def __contains__(self, call_id: str) -> bool:
        return call_id in self._by_call_id

    def add(self, call: LiveCall) -> None:
        evicted: list[LiveCall] = []
        limit = call.telemetry.config.pending_limit
        with self._lock:
            self._calls[id(call)] = call
            self._by_call_id.setdefault(call.call_id, []).append(call)
            while len(self._calls) > limit:
                oldest = self._calls.popitem(last=False)[1]
                self._unindex(oldest)
                evicted.append(oldest)
            if self._thread is None:
                self._start_sweeper()
        for old in evicted:
            self._finish_incomplete(old)

    def _unindex(self, call: LiveCall) -> None:
        siblings = self._by_call_id.get(call.call_id)
        if siblings is not None:
            if call in siblings:
                siblings.remove(call)
            if not siblings:
                del self._by_call_id[call.call_id]

    def remove(self, call: LiveCall) -> bool:
        """Take one attempt out; False when something else (its callback) already did."""
        with self._lock:
            if self._calls.pop(id(call), None) is None:
                return False
            self._unindex(call)
            return True

    def take_for_success(self, call_id: str | None) -> LiveCall | None:
        """The attempt a success report belongs to: the latest live one of that call id."""
        if not call_id:
            return None
        with self._lock:
            for call in reversed(self._by_call_id.get(call_id, ())):
                if call.error is None:
                    self._calls.pop(id(call), None)
                    self._unindex(call)
                    return call
        return None

    def take_for_failure(self, call_id: str | None) -> tuple[bool, LiveCall | None]:
        """(already reported, live attempt) for a failure report of a call id.

        The wrapper reports a failed attempt itself as soon as it sees the exception; a
        later failure callback for it is then claimed and dropped. A failure callback that
        arrives first (sync calls log on a thread pool) completes the attempt instead.
        """
        if not call_id:
            return False, None
        with self._lock:
            pending = self._reported_failures.get(call_id, 0)
            if pending:
                if pending == 1:
                    del self._reported_failures[call_id]
                else:
                    self._reported_failures[call_id] = pending - 1
                return True, None
            for call in self._by_call_id.get(call_id, ()):
                self._calls.pop(id(call), None)
                self._unindex(call)
                return False, call
        return False, None

    def note_failure_reported(self, call_id: str) -> None:
        """The wrapper reported a failed attempt: its callback, if it ever comes, is a duplicate."""
        with self._lock:
            self._reported_failures[call_id] = self._reported_failures.get(call_id, 0) + 1
            self._reported_failures.move_to_end(call_id)
            while len(self._reported_failures) > _CLAIMS_LIMIT:
                self._reported_failures.popitem(last=False)

    def claim_late_report(self, call_id: str | None) -> bool:
        """True (once) when ``call_id``'s call was already finished without its report."""
        if not call_id:
            return False
        with self._lock:
            return self._finished_unreported.pop(call_id, False) is None

    def finish_loop(self, loop: asyncio.AbstractEventLoop) -> int:
        """Finish every call of a closing loop still waiting for its report; returns how many.

        Called at the loop's end after LiteLLM's queued reports ran there: what is left will not
        be reported while the process lives (a report task the loop cancelled, a stream left
        unread, a coroutine never finished).
        """
        with self._lock:
            ending = [call for call in self._calls.values() if call.loop is loop]
            for call in ending:
                del self._calls[id(call)]
                self._unindex(call)
        for call in ending:
            self._finish_incomplete(call)
        return len(ending)

    def finish_all(self) -> None:
        """Finish every call still waiting (at exit, after LiteLLM's queues drained)."""
        with self._lock:
            calls = list(self._calls.values())
            self._calls.clear()
            self._by_call_id.clear()
        for call in calls:
            self._finish_incomplete(call)
        self._run_deferred()

    def sweep(self, now_mono: int | None = None) -> int:
        """Finish calls idle past their callback timeout; returns how many."""
        now_mono = time.perf_counter_ns() if now_mono is None else now_mono
        expired: list[LiveCall] = []
        with self._lock:
            for key, call in list(self._calls.items()):
                timeout_ns = int(call.telemetry.config.callback_timeout_s * 1e9)
                if (
                    call.abandoned_for_a_moment()
                    or now_mono - call.last_activity_mono >= timeout_ns
                    or call.report_cannot_come(now_mono)
                ):
                    expired.append(call)
                    del self._calls[key]
                    self._unindex(call)
        for call in expired:
            self._finish_incomplete(call)
        # After the attempts: a Router request deferred by its stream's finalizer ends after them.
        self._run_deferred()
        return len(expired)

    def _run_deferred(self) -> None:
        while self._deferred:
            try:
                work = self._deferred.popleft()
            except IndexError:  # taken by a concurrent run (the exit flush and the sweeper)
                return
            with _errors.boundary("capture.live"):
                work()

    def _finish_incomplete(self, call: LiveCall) -> None:
        with self._lock:
            self._finished_unreported[call.call_id] = None
            self._finished_unreported.move_to_end(call.call_id)
            while len(self._finished_unreported) > _CLAIMS_LIMIT:
                self._finished_unreported.popitem(last=False)
        with _errors.boundary("capture.live"):
            if self._finisher is not None:
                self._finisher(call, None)

    def _start_sweeper(self) -> None:
        thread = threading.Thread(target=self._sweep_loop, name="otel-llm-live-sweeper", daemon=True)
        self._thread = thread
        thread.start()

    def wake(self) -> None:
        """Sweep now (a stream was abandoned), not at the next tick."""
        self._wake.set()

    def _sweep_loop(self) -> None:
        while True:
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            with _errors.boundary("capture.sweeper", reraise=False):  # the sweeper must keep running
                self.sweep()

    def _after_fork(self) -> None:
        # A forked worker inherits the parent's calls but not its sweeper thread.
        self._calls = OrderedDict()
        self._by_call_id = {}
        self._reported_failures = OrderedDict()
        self._finished_unreported = OrderedDict()
        self._deferred = deque(maxlen=_DEFERRED_LIMIT)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None


REGISTRY: Final = LiveRegistry()


def _forget_live_calls() -> None:
    """Forget every waiting call, unfinished (tests: a call a previous test left behind)."""
    with REGISTRY._lock:  # noqa: SLF001  # the registry's own state, reset from its own module
        REGISTRY._calls.clear()  # noqa: SLF001
        REGISTRY._by_call_id.clear()  # noqa: SLF001
        REGISTRY._reported_failures.clear()  # noqa: SLF001


_state.register(
    "live calls",
    "LiteLLM reports a call to a callback other than the one whose wrapper opened its span: the live "
    "span is found by LiteLLM's call id, from any callback",
    _forget_live_calls,
)
