"""One attempt in flight: the state machine between the wrapper that opened its span and the
report (LiteLLM's callback, or the sweeper's rebuild) that completes it.

The wrapper and LiteLLM race: a sync call's report can run on LiteLLM's thread pool before the
call returns to the wrapper, an async report after the caller's loop has moved on, a stream's
report before the proxy has read its last chunk. ``LiveCall`` names where an attempt is in that
race (``phase``) and moves only through the transitions below; every write to its state is one
of its methods (``tests/test_live_call.py`` checks the table and that no other module writes a
``LiveCall``'s fields).

=================  ============================  ==========================================
From               Transition (method)           To
=================  ============================  ==========================================
IN_FLIGHT          ``mark_returned`` (no stream)  RETURNED
IN_FLIGHT          ``mark_returned`` (a stream)   STREAMING
IN_FLIGHT          ``mark_failed``                FAILED
STREAMING          ``mark_chunk``                 STREAMING
STREAMING          ``mark_stream_end``            RETURNED, or FAILED with an error
STREAMING          ``mark_abandoned``             ABANDONED (the caller let go before the end)
STREAMING          ``hold`` (an early report)     HELD (finished when the stream ends)
ABANDONED          ``mark_ended_at_last_chunk``   RETURNED (LiteLLM reported the whole stream)
any but FINISHED   ``claim_finish``               FINISHED, exactly once
=================  ============================  ==========================================

The phase is derived from the fields the wrapper and the report write (there is no second copy
of it to drift); ``claim_finish`` runs under the call's lock, so whichever of the report, the
failure, the stream's end and the sweeper comes first completes the span, and only it.
Loop detection's outcome is kept beside the phase (``keep_loop_outcome``): block mode observes
a call when it returns, the report reuses that outcome, so each call is observed once.
"""

from __future__ import annotations

import asyncio
import enum
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from opentelemetry.trace import Span

from .._record import InvocationRecord, LoopDetection
from .fields import chunk_usage

if TYPE_CHECKING:
    from .._emit.telemetry import Telemetry

_MAX_CHUNK_INTERVALS: Final = 4096
_ABANDON_GRACE_NS: Final = 300_000_000
# In the proxy, LiteLLM reports a client that hung up (ClientDisconnected, with the partial usage
# it bills) from its logging queue, behind the reports queued before it: on a busy worker that
# comes later than 300 ms. The sweeper waits for it longer there; should none come, the span
# still ends at the hang-up (its end time is the abandonment's, not the sweep's).
_PROXY_ABANDON_GRACE_NS: Final = 5_000_000_000
# A loop found stopped this long after its call returned is not about to run the call's report.
_LOOP_STOPPED_NS: Final = 1_000_000_000


class Phase(enum.Enum):
    """Where an attempt is between its wrapper and its report (the module docstring's table)."""

    IN_FLIGHT = "in flight"  # LiteLLM is running the call
    STREAMING = "streaming"  # a stream was handed back and is being read
    RETURNED = "returned"  # the answer (or the whole stream) is back: waiting for LiteLLM's report
    HELD = "held"  # LiteLLM reported a stream before its end was read: finished at the end
    ABANDONED = "abandoned"  # the caller let go of the stream before its end
    FAILED = "failed"  # the call raised
    FINISHED = "finished"  # the span is complete (terminal)


@dataclass(slots=True)  # one per call in flight: no __dict__ per call
class LiveCall:
    """One attempt in flight: its span, its clock, and what the wrapper observed."""

    call_id: str
    span: Span
    telemetry: Telemetry
    operation: str
    call_type: str
    request_model: str | None
    kwargs: dict[str, object]
    start_ns: int
    start_mono: int
    last_activity_mono: int
    end_ns: int | None = None
    first_chunk_ns: int | None = None
    last_chunk_mono: int | None = None
    chunk_intervals_s: list[float] = field(default_factory=list)
    streaming: bool = False
    stream_done: bool = False
    # When the caller let go of its stream before the end (epoch ns); the sweeper finishes it.
    abandoned_ns: int | None = None
    error: BaseException | None = None
    response: object = None
    stream_usage: object = None
    # The event loop an async call runs on: when it closes, the call's report can no longer come.
    loop: asyncio.AbstractEventLoop | None = None
    pending_record: InvocationRecord | None = None
    # Block mode observes loops as soon as the call returns (not when LiteLLM reports it),
    # so the guard can refuse the very next call; the callback then reuses the outcome. When
    # the callback comes first, it observes and the return does not: once per call either way.
    loop_observed: bool = False
    loop_detection: LoopDetection | None = None
    spend_per_minute: float | None = None
    finished: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def phase(self) -> Phase:
        """The call's state, from what the wrapper and the report have written."""
        if self.finished:
            return Phase.FINISHED
        if self.pending_record is not None:
            return Phase.HELD
        if self.abandoned_ns is not None:
            return Phase.ABANDONED
        if self.error is not None:
            return Phase.FAILED
        if self.streaming and self.response is not None and not self.stream_done:
            return Phase.STREAMING
        if self.end_ns is not None:
            return Phase.RETURNED
        return Phase.IN_FLIGHT

    def now_ns(self) -> int:
        """Epoch ns on the monotonic clock anchored at the call's start."""
        return self.start_ns + (time.perf_counter_ns() - self.start_mono)

    # --- transitions --------------------------------------------------------------------------
    def mark_returned(self, response: object) -> None:
        """The call returned ``response`` (a stream: the reading starts)."""
        self.response = response
        self.last_activity_mono = time.perf_counter_ns()
        if not self.streaming:
            self.end_ns = self.now_ns()

    def mark_failed(self, error: BaseException) -> None:
        """The call raised ``error``."""
        self.error = error
        self.end_ns = self.now_ns()
        self.last_activity_mono = time.perf_counter_ns()

    def mark_chunk(self, chunk: object = None) -> None:
        """One chunk of the stream read: the first chunk's time, the intervals, the last usage."""
        usage = chunk_usage(chunk)
        if usage is not None:  # the last chunk's usage (include_usage): the stream's, should no report come
            self.stream_usage = usage
        mono = time.perf_counter_ns()
        if self.first_chunk_ns is None:
            self.first_chunk_ns = self.start_ns + (mono - self.start_mono)
        elif self.last_chunk_mono is not None and len(self.chunk_intervals_s) < _MAX_CHUNK_INTERVALS:
            self.chunk_intervals_s.append((mono - self.last_chunk_mono) / 1e9)
        self.last_chunk_mono = mono
        self.last_activity_mono = mono

    def mark_stream_end(self, error: BaseException | None) -> InvocationRecord | None:
        """The stream was read to its end (or failed on the way, ``error``); returns the report
        held for that end, if one is (caller holds the lock)."""
        self.stream_done = True
        self.end_ns = self.now_ns()
        if error is not None:
            self.error = error
        return self.pending_record

    def mark_abandoned(self) -> None:
        """The caller let go of the stream before its end: the attempt ends now."""
        self.abandoned_ns = self.now_ns()

    def mark_ended_at_last_chunk(self) -> None:
        """LiteLLM reported the whole stream: the caller let go after its last chunk, not before."""
        self.abandoned_ns = None
        self.stream_done = True
        if self.end_ns is None and self.last_chunk_mono is not None:
            self.end_ns = self.start_ns + (self.last_chunk_mono - self.start_mono)

    def hold(self, record: InvocationRecord) -> None:
        """LiteLLM reported the stream before its end was read: keep the report for the end."""
        self.pending_record = record

    def claim_finish(self) -> bool:
        """Whether this caller completes the span: True once, for the first (caller holds the lock)."""
        if self.finished:
            return False
        self.finished = True
        return True

    def keep_loop_outcome(self, record: InvocationRecord) -> None:
        """The loop detector has observed this call (with ``record``'s outcome): once per call."""
        self.loop_observed = True
        self.loop_detection = record.loop
        self.spend_per_minute = record.spend_per_minute

    # --- questions the sweeper asks -------------------------------------------------------------
    def abandoned_for_a_moment(self) -> bool:
        """Let go of a moment ago: long enough for a report LiteLLM makes of it (the proxy's
        ClientDisconnected report, with the partial usage it bills) to complete it instead."""
        if self.abandoned_ns is None:
            return False
        grace = _PROXY_ABANDON_GRACE_NS if "proxy_server_request" in self.kwargs else _ABANDON_GRACE_NS
        return self.now_ns() - self.abandoned_ns >= grace

    def report_cannot_come(self, now_mono: int) -> bool:
        """Whether LiteLLM's report cannot come while its event loop is not running.

        LiteLLM runs async reports on the call's loop: a closed loop never will (a loop closed
        without ``shutdown_asyncgens``, which the loop's end did not see), and a loop stopped
        after the call returned (``run_until_complete`` per job) not before its next job.
        """
        loop = self.loop
        if loop is None:
            return False
        if loop.is_closed():
            return True
        returned = self.end_ns is not None  # a non-stream returned, or a stream read to its end
        return returned and not loop.is_running() and now_mono - self.last_activity_mono >= _LOOP_STOPPED_NS
