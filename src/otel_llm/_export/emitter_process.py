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

This module is the child (``python -m otel_llm._export.emitter_process``) and the pipe's format;
``handoff.py`` is the worker's side.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import sys
from typing import IO, TYPE_CHECKING, Any, Final

from opentelemetry.trace import Span, SpanContext

from .. import _errors
from .._config import Config
from .._record import InvocationRecord

if TYPE_CHECKING:
    from .._emit.telemetry import Telemetry

_log: Final = logging.getLogger("otel_llm")
COMPONENT: Final = "export.emitter_process"
_FRAME_HEADER: Final = 4
BATCH_DONE: Final = 1  # the child's word: one batch emitted
FLUSH_DONE: Final = 2  # the child's word: a flush done
BOUNDARY: Final = _errors.boundary(COMPONENT, reraise=False)

# One hand-off: (the record, the attempt span's identity or None, the parent span context of a
# record emitted without a live span: the span current in the worker when it was reported),
# pickled when it is submitted. The queue holds bytes, which the garbage collector does not track:
# a record waiting for the next batch would otherwise be promoted with the objects it holds
# (measured: +15 objects promoted per proxy request, full collections ~35% longer).
Item = tuple[InvocationRecord, Span | None, SpanContext | None]
Pickled = bytes


def frame(message: object) -> bytes:
    """``message`` as one frame on the pipe: its length, then its pickle."""
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


# --- the child ------------------------------------------------------------------------------
def emit_batch(telemetry: Telemetry, batch: list[Pickled]) -> None:
    """Emit a batch of pickled hand-offs here (the child's work; the worker's when it falls back)."""
    for data in batch:
        with BOUNDARY:
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
            emit_batch(telemetry, message[1])
            done = BATCH_DONE
        else:  # flush
            with BOUNDARY:
                telemetry.force_flush(timeout_ms)
            done = FLUSH_DONE
        try:
            reply.write(bytes((done,)))
            reply.flush()
        except OSError:  # the worker is gone: export what was handed over, and end
            break
    with BOUNDARY:
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
