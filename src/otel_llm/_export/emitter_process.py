"""Emission in a process beside the worker (``OTEL_LLM_PROXY_EMITTER=process``).

The proxy's worker runs LiteLLM's event loop; everything otel-llm does there competes with the
requests for one interpreter lock. In this mode the worker only captures: it builds each
attempt's record (and runs loop detection, which block mode needs in the worker) and decides the
attempt span's identity when the attempt starts (sampled, ids from the provider: a
``SpanIdentity``, so the provider call carries the trace and child spans have their parent). The
record and the identity go, pickled in batches, down a pipe to a child process (one per worker,
started at its first record), which makes the attempt span with those ids, the metric points,
headroom gauges, usage records and content events, and exports them over OTLP
(``benchmarks/README.md``: "Out of the worker").

What stays in the worker: FastAPI's SERVER span and ``http.server.*`` metrics, Router spans,
the gateway's hops (MCP, guardrails, A2A), loop refusals, the budget poller, and their export.

Nothing is lost to the hand-off: while the child is not running (it could not start, it died
and waits to be restarted, at most once per ``_RESTART_S``) or its queue is full (it falls
behind), records are emitted in the worker as without this mode, and counted
(``otel_llm.internal.errors``, component ``export.emitter_process``, once per episode, and
logged). The child is its own ``service.instance.id`` (a process of its own: its counters must
not read as resets of the worker's). At exit the worker flushes the queue, closes the pipe and
waits (``OTEL_LLM_EXIT_TIMEOUT``) for the child to export; a worker that dies without its
``atexit`` hooks closes the pipe all the same, and the child exports what it has and exits. The
child ignores SIGINT and SIGTERM (sent to the whole process group on a shutdown): it ends when
its worker's pipe does.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import os
import pickle
import select
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from typing import IO, TYPE_CHECKING, Any, Final

from opentelemetry import trace
from opentelemetry.trace import Span, SpanContext

from .. import _errors
from .._config import Config
from .._record import InvocationRecord

if TYPE_CHECKING:
    from .._emit.telemetry import Telemetry

_log: Final = logging.getLogger("otel_llm")
COMPONENT: Final = "export.emitter_process"
_FLUSH_S: Final = 0.2  # a partial batch waits at most this long in the worker
_QUEUE_LIMIT: Final = 8192  # records waiting for the pipe; beyond, the worker emits them itself
_RESTART_S: Final = 10.0  # a child that died is restarted at most this often
_FRAME_HEADER: Final = 4
_BATCH_DONE: Final = 1  # the child's word: one batch emitted
_FLUSH_DONE: Final = 2  # the child's word: a flush done
_BOUNDARY: Final = _errors.boundary(COMPONENT, reraise=False)

# One hand-off: (the record, the attempt span's identity or None, the parent span context of a
# record emitted without a live span: the span current in the worker when it was reported),
# pickled when it is submitted. The queue holds bytes, which the garbage collector does not track:
# a record waiting for the next batch would otherwise be promoted with the objects it holds
# (measured: +15 objects promoted per proxy request, full collections ~35% longer).
Item = tuple[InvocationRecord, Span | None, SpanContext | None]
Pickled = bytes


class _ChildDown(Exception):
    """The child process is not there to take a batch."""


def _frame(message: object) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return len(data).to_bytes(_FRAME_HEADER, "big") + data


def _read_exact(stream: IO[bytes], size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_frame(stream: IO[bytes]) -> Any:
    """The next message on ``stream``; None at its end."""
    header = _read_exact(stream, _FRAME_HEADER)
    if header is None:
        return None
    body = _read_exact(stream, int.from_bytes(header, "big"))
    return None if body is None else pickle.loads(body)  # our own worker's pipe


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
            with _BOUNDARY:
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
        with _BOUNDARY:  # a record that would not pickle: reported, and emitted by the caller
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
        with _BOUNDARY:
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
                        with _BOUNDARY:  # the thread keeps running, whatever a flush meets
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
        with _BOUNDARY:  # anything else: reported, and the batch emitted here
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
            _emit(self._telemetry, batch)

    def _lost_batches(self) -> list[list[Pickled]]:
        """The batches written to a child that stopped before confirming them (it emits each batch, then
        says so): a child that crashed left them in its pipe, or half made."""
        lost = list(self._unacked)
        self._unacked.clear()
        return lost

    def _write(self, message: object) -> None:
        child = self._running_child()
        data = _frame(message)
        try:
            assert child.stdin is not None  # started with a pipe
            child.stdin.write(data)
            child.stdin.flush()
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
            flushed = False
            for byte in data:
                if byte == _BATCH_DONE:
                    self.handed_over += len(self._unacked.popleft()) if self._unacked else 0
                else:
                    flushed = True
            if flushed or not wait_for_flush_s:
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
            with _BOUNDARY:
                if child.stdin is not None:
                    child.stdin.close()
            try:
                code = child.wait(1.0)
            except subprocess.TimeoutExpired:
                child.kill()
                code = None
            with _BOUNDARY:  # what it confirmed before it stopped is not lost
                if child.stdout is not None:
                    for byte in child.stdout.read():
                        if byte == _BATCH_DONE and self._unacked:
                            self.handed_over += len(self._unacked.popleft())
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
            assert child.stdin is not None
            child.stdin.write(_frame(("hello", config)))
            child.stdin.flush()
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


# --- the child ------------------------------------------------------------------------------
def _emit(telemetry: Telemetry, batch: list[Pickled]) -> None:
    for data in batch:
        with _BOUNDARY:
            record, span, parent = pickle.loads(data)  # our own worker's
            telemetry.emit_here(record, span, parent)


def serve(stream: IO[bytes], reply: IO[bytes], make_telemetry: Any) -> int:
    """The child's loop: the hello (the worker's settings), then batches and flushes, until the pipe ends."""
    hello = read_frame(stream)
    if not (isinstance(hello, tuple) and hello[:1] == ("hello",) and isinstance(hello[1], Config)):
        _log.error("otel-llm: the emitter process expected its worker's settings first; got %r", type(hello))
        return 2
    config: Config = hello[1]
    telemetry: Telemetry = make_telemetry(config)
    timeout_ms = int(config.exit_timeout_s * 1000)
    while True:
        try:
            message = read_frame(stream)
        except Exception as error:  # noqa: BLE001  # a torn frame from a worker killed mid-write
            _log.warning("otel-llm: the emitter process read a broken message (%r); ending", error)
            message = None
        if message is None:
            break
        if message[0] == "records":
            _emit(telemetry, message[1])
            done = _BATCH_DONE
        else:  # flush
            with _BOUNDARY:
                telemetry.force_flush(timeout_ms)
            done = _FLUSH_DONE
        try:
            reply.write(bytes((done,)))
            reply.flush()
        except OSError:  # the worker is gone: export what was handed over, and end
            break
    with _BOUNDARY:
        telemetry.force_flush(timeout_ms)
    return 0


def _proxy_telemetry(config: Config) -> Telemetry:
    """The child's pipeline: the proxy's, built from the same environment (a service.instance.id of its own)."""
    from .._emit.telemetry import Telemetry  # noqa: PLC0415
    from .lean_spans import lean_tracer  # noqa: PLC0415
    from .setup import install_providers  # noqa: PLC0415

    pipeline = install_providers(config)
    return Telemetry(
        config,
        metric_store=pipeline.metric_store,
        flush_too=pipeline.shared_reader,
        span_tracer=lean_tracer if pipeline.metric_store is not None else None,
    )


def main() -> int:
    # The worker decides when this process ends (its pipe closes): a shutdown's SIGINT or SIGTERM to
    # the whole process group must not cut the export of the worker's last records short.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s [emitter %(process)d]: %(message)s")
    # The pipe to the worker carries only the confirmations: whatever else writes to stdout goes to stderr.
    reply = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return serve(sys.stdin.buffer, reply, _proxy_telemetry)


if __name__ == "__main__":
    sys.exit(main())
