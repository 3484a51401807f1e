"""The worker's side of ``OTEL_LLM_PROXY_EMITTER=process``: ``Handoff`` queues each attempt's record
and span identity, pickled, and a thread of its own writes them in batches to the emitter process
(``emitter_process.py``: what it does, and what stays in the worker), starts and restarts that
process, reads its confirmations, and emits in the worker whatever it cannot take.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import os
import pickle
import select
import subprocess
import sys
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Final

from opentelemetry import trace
from opentelemetry.trace import Span

from .._record import InvocationRecord
from .emitter_process import BATCH_DONE, BOUNDARY, COMPONENT, Item, Pickled, emit_batch, frame

if TYPE_CHECKING:
    from .._emit.telemetry import Telemetry

_log: Final = logging.getLogger("otel_llm")
_FLUSH_S: Final = 0.2  # a partial batch waits at most this long in the worker
_QUEUE_LIMIT: Final = 8192  # records waiting for the pipe; beyond, the worker emits them itself
_RESTART_S: Final = 10.0  # a child that died is restarted at most this often


class _ChildDown(Exception):
    """The child process is not there to take a batch."""


def _put(child: subprocess.Popen[bytes], message: object) -> None:
    """One message down the child's pipe (raises what the pipe raises)."""
    assert child.stdin is not None  # started with a pipe
    child.stdin.write(frame(message))
    child.stdin.flush()


class Handoff:
    """The worker's side: queues each attempt for the child, writes batches on a thread of its own."""

    def __init__(self, telemetry: Telemetry, command: list[str] | None = None) -> None:
        """``telemetry``: the worker's own (the fallback, and where the hand-off's counts go);
        ``command``: how the child is started (tests)."""
        self._telemetry = telemetry
        self._command = command or [sys.executable, "-m", "otel_llm._export.emitter_process"]
        self._reset()
        os.register_at_fork(after_in_child=self._after_fork)
        atexit.register(self.close)

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._items: deque[Pickled | threading.Event] = deque()
        self._queued = 0
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._child: subprocess.Popen[bytes] | None = None
        self._unacked: deque[list[Pickled]] = deque()  # written, not yet confirmed emitted (writer thread only)
        self._last_start = -_RESTART_S
        self._closing = False
        self._falling_back = False
        self.handed_over = 0
        self.emitted_here = 0
        self.children_started = 0

    def _after_fork(self) -> None:
        child = self._child
        if child is not None:
            # The parent's pipes: this process must not hold them open (the child ends when its stdin closes).
            with BOUNDARY:
                for pipe in (child.stdin, child.stdout):
                    if pipe is not None:
                        pipe.close()
        self._reset()

    # --- the worker's threads --------------------------------------------------------------
    def submit(self, record: InvocationRecord, span: Span | None) -> bool:
        """Queue one attempt for the child; False: the caller emits it (closing, or the queue is full)."""
        parent = None
        if span is None:
            current = trace.get_current_span().get_span_context()
            parent = current if current.is_valid else None
        item: Item = (record, span, parent)
        data = None
        with BOUNDARY:  # a record that would not pickle: reported, and emitted by the caller
            data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
        if data is None:
            return False
        with self._lock:
            if self._closing:  # a report after the exit flush: the worker's own pipeline is still open
                self.emitted_here += 1
                return False
            if self._queued >= _QUEUE_LIMIT:
                self.emitted_here += 1
                self._episode("its queue is full (the emitter process falls behind)")
                return False
            self._items.append(data)
            self._queued += 1
            if self._thread is None:
                self._start_thread()
        return True

    def force_flush(self, timeout_millis: float = 30000) -> bool:
        """Hand over everything queued and wait (bounded) until the child has exported it."""
        if self._thread is None or self._pid != os.getpid():
            return True
        done = threading.Event()
        with self._lock:
            self._items.append(done)
        self._wake.set()
        return done.wait(timeout_millis / 1000)

    def close(self) -> None:
        """At exit: hand over what is queued, close the pipe, wait (bounded) for the child to export."""
        if self._pid != os.getpid():
            return
        timeout_s = self._telemetry.config.exit_timeout_s
        with self._lock:
            self._closing = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join(timeout_s)
        child = self._child
        if child is None:
            return
        with BOUNDARY:
            if child.stdin is not None:
                child.stdin.close()
            try:
                child.wait(timeout_s)
            except subprocess.TimeoutExpired:
                _log.warning("otel-llm: the emitter process did not finish its export in %g s; stopped", timeout_s)
                child.kill()

    def _episode(self, why: str) -> None:
        """A fall-back to the worker: counted and logged once per episode (caller holds the lock)."""
        if not self._falling_back:
            self._falling_back = True
            _log.warning("otel-llm: emitting in the worker for now: %s", why)
            self._telemetry.count_internal_error(COMPONENT)

    # --- the writer thread -------------------------------------------------------------------
    def _start_thread(self) -> None:
        thread = threading.Thread(target=self._run, name="otel-llm-emitter-handoff", daemon=True)
        self._thread = thread
        thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait(_FLUSH_S)
            self._wake.clear()
            with self._lock:
                items = list(self._items)
                self._items.clear()
                self._queued = 0
                closing = self._closing
            batch: list[Pickled] = []
            for item in items:
                if isinstance(item, threading.Event):
                    self._send(batch)
                    batch = []
                    try:
                        with BOUNDARY:  # the thread keeps running, whatever a flush meets
                            self._flush_child()
                    finally:
                        item.set()
                else:
                    batch.append(item)
            self._send(batch)
            if closing:
                return

    def _send(self, batch: list[Pickled]) -> None:
        if not batch:
            return
        why = None
        with BOUNDARY:  # anything else: reported, and the batch emitted here
            try:
                self._take_acks(0.0)
                self._write(("records", batch))
                self._unacked.append(batch)
                with self._lock:
                    self._falling_back = False
                return
            except _ChildDown as down:
                why = str(down)
        self._emit_here([batch], why)

    def _emit_here(self, batches: list[list[Pickled]], why: str | None) -> None:
        """What the child cannot take (or did not confirm before it stopped), emitted in the worker."""
        batches = [*self._lost_batches(), *batches]
        if not batches:
            return
        with self._lock:
            self.emitted_here += sum(len(batch) for batch in batches)
            if why is not None:
                self._episode(why)
        for batch in batches:
            emit_batch(self._telemetry, batch)

    def _lost_batches(self) -> list[list[Pickled]]:
        """The batches written to a child that stopped before confirming them (it emits each batch, then
        says so): a child that crashed left them in its pipe, or half made."""
        lost = list(self._unacked)
        self._unacked.clear()
        return lost

    def _write(self, message: object) -> None:
        child = self._running_child()
        try:
            _put(child, message)
        except (OSError, ValueError) as error:
            self._child_stopped(child)
            raise _ChildDown(f"the emitter process stopped ({error!r}); restarting it") from error

    def _take_acks(self, wait_for_flush_s: float) -> bool:
        """Read the child's confirmations: one byte per batch emitted, another per flush done. With
        ``wait_for_flush_s``, until a flush is confirmed (True) or that long (False)."""
        child = self._child
        if child is None or child.stdout is None:
            return False
        fd = child.stdout.fileno()
        deadline = time.monotonic() + wait_for_flush_s
        while True:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                return False
            data = os.read(fd, 4096)
            if not data:  # the child is gone: what it did not confirm is emitted here (by the caller)
                self._child_stopped(child)
                raise _ChildDown("the emitter process stopped; restarting it")
            flushed = self._confirmed(data)
            if flushed or not wait_for_flush_s:
                return flushed

    def _confirmed(self, data: bytes) -> bool:
        """Take the child's words: a batch emitted is handed over; True when a flush was done."""
        flushed = False
        for byte in data:
            if byte == BATCH_DONE:
                self.handed_over += len(self._unacked.popleft()) if self._unacked else 0
            else:
                flushed = True
        return flushed

    def _flush_child(self) -> None:
        """Ask the child to export what it has, and wait for its word (bounded by the exit timeout)."""
        try:
            self._write(("flush",))
            self._take_acks(self._telemetry.config.exit_timeout_s)
        except _ChildDown as down:
            self._emit_here([], str(down))

    def _child_stopped(self, child: subprocess.Popen[bytes]) -> None:
        if self._child is child:
            self._child = None
            with BOUNDARY:
                if child.stdin is not None:
                    child.stdin.close()
            try:
                code = child.wait(1.0)
            except subprocess.TimeoutExpired:
                child.kill()
                code = None
            with BOUNDARY:  # what it confirmed before it stopped is not lost
                if child.stdout is not None:
                    self._confirmed(child.stdout.read())
                    child.stdout.close()
            _log.warning("otel-llm: the emitter process stopped (exit code %s)", code)

    def _running_child(self) -> subprocess.Popen[bytes]:
        child = self._child
        if child is not None and child.poll() is None:
            return child
        if child is not None:
            self._child_stopped(child)
        now = time.monotonic()
        if now - self._last_start < _RESTART_S:
            raise _ChildDown("the emitter process is down; restarting it in a few seconds")
        self._last_start = now
        try:
            child = subprocess.Popen(  # our own module, by the running interpreter
                self._command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env={**os.environ, "OTEL_LLM_PROXY_EMITTER": "inline"},
                close_fds=True,
            )
        except OSError as error:
            raise _ChildDown(f"the emitter process could not start ({error!r})") from error
        self._child = child
        self.children_started += 1
        self._write_hello(child)
        return child

    def _write_hello(self, child: subprocess.Popen[bytes]) -> None:
        config = dataclasses.replace(self._telemetry.config, proxy_emitter="inline")
        try:
            _put(child, ("hello", config))
        except (OSError, ValueError) as error:
            raise _ChildDown(f"the emitter process stopped as it started ({error!r})") from error


def install_handoff(telemetry: Telemetry, lean_pipeline: bool) -> Handoff | None:
    """OTEL_LLM_PROXY_EMITTER=process on ``telemetry`` where it can be (else said, and None):
    ``lean_pipeline``: otel-llm built the providers, on the lean path."""
    from .lean_spans import LeanTracer  # noqa: PLC0415

    config = telemetry.config
    if config.proxy_emitter != "process":
        return None
    why = None
    if not lean_pipeline:
        why = "the OpenTelemetry providers are the application's, or not on the lean path (OTEL_LLM_LEAN_PATH)"
    elif config.exporter != "otlp":
        why = f"OTEL_LLM_EXPORTER={config.exporter} (the emitter process exports OTLP only)"
    elif not isinstance(telemetry.tracer, LeanTracer):
        why = "a span processor otel-llm does not know is registered (its spans must stay the SDK's)"
    if why is not None:
        _log.warning("otel-llm: OTEL_LLM_PROXY_EMITTER=process ignored: %s; emitting in the worker", why)
        return None
    handoff = Handoff(telemetry)
    telemetry.handoff = handoff
    return handoff
