"""The end of an event loop: LiteLLM's reports of the loop's calls are delivered before it closes.

LiteLLM queues a call's async success report on its logging worker, bound to the running loop,
and the worker runs it later. A process that runs ``asyncio.run(litellm.acompletion(...))`` per
job (Celery, RQ, cron, serverless handlers, sync web views) closes that loop first: the report
waits in the queue until LiteLLM's own exit hook, however long the process lives.

At the first LiteLLM call on a loop, an async generator is registered with the loop (its
``firstiter`` hook) and held here until the loop ends: ``shutdown_asyncgens()``, which
``asyncio.run``, ``asyncio.Runner`` and uvloop call before closing a loop, closes it, and its
``finally`` runs on the closing loop: LiteLLM's queued reports are run there (bounded by
``OTEL_LLM_EXIT_TIMEOUT``), then every live call of that loop still unreported is finished from
what the wrapper saw. A loop closed without ``shutdown_asyncgens()`` is noticed by the sweeper
(within a second) instead, which finishes its live calls the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import threading
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any, Final

from .. import _errors

_log: Final = logging.getLogger("otel_llm")
# Loops with a watcher: id(loop) → (loop, generator). Bounded; entries of closed loops are dropped.
_MAX_LOOPS: Final = 1024
_watched: dict[int, tuple[asyncio.AbstractEventLoop, AsyncGenerator[None, None]]] = {}
_lock: Final = threading.Lock()
# Called with the closing loop after LiteLLM's reports ran (set by the capture layer).
_on_loop_end: list[Callable[[asyncio.AbstractEventLoop], object]] = []


def _after_fork() -> None:
    # A forked child inherits the parent's table, not its loops' lives: its own loops start anew.
    global _watched
    _watched = {}


os.register_at_fork(after_in_child=_after_fork)


def on_loop_end(handler: Callable[[asyncio.AbstractEventLoop], object]) -> None:
    """Run ``handler(loop)`` at the end of every watched loop, after LiteLLM's reports ran."""
    if handler not in _on_loop_end:
        _on_loop_end.append(handler)


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The loop running in this thread, if any.

    ``asyncio._get_running_loop`` (public in ``asyncio.events.__all__``) returns None where
    ``get_running_loop`` raises: LiteLLM's logging threads have no loop, and raising there cost
    ~25 µs per proxy request (0.3% of its samples in a py-spy profile).
    """
    return asyncio._get_running_loop()  # noqa: SLF001


def watch_current_loop(timeout_s: float) -> asyncio.AbstractEventLoop | None:
    """Make sure the running loop (if any) delivers LiteLLM's reports before it closes.

    Synchronous and cheap after the first call per loop (one dict lookup); returns the loop.
    """
    loop = running_loop()
    if loop is None or id(loop) in _watched:
        return loop
    with _lock:
        known = _watched.get(id(loop))
        if known is not None and known[0] is loop:
            return loop
        _forget_closed()
        if len(_watched) >= _MAX_LOOPS:
            return loop  # an application with that many live loops: the sweeper still covers them
        watcher = _until_loop_end(loop, timeout_s)
        # Calling __anext__ registers the generator with the running loop (its firstiter hook);
        # stepping it once brings it to its ``yield``, so closing it runs the ``finally``.
        step = watcher.__anext__()
        try:
            step.send(None)
        except StopIteration:  # reached its ``yield``: the loop's end will close it
            _watched[id(loop)] = (loop, watcher)
            return loop
        step.close()  # cannot happen (nothing is awaited before the yield): leave no half-run step
    return loop


def _forget_closed() -> None:
    for key, (loop, _) in list(_watched.items()):
        if loop.is_closed():
            del _watched[key]


async def _until_loop_end(loop: asyncio.AbstractEventLoop, timeout_s: float) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        try:
            with _errors.boundary("capture.loop_end"):
                await _deliver(loop, timeout_s)
        finally:
            with _lock:
                if _watched.get(id(loop), (None,))[0] is loop:
                    del _watched[id(loop)]


async def _deliver(loop: asyncio.AbstractEventLoop, timeout_s: float) -> None:
    """Run LiteLLM's queued reports on the closing loop, then finish what is still unreported."""
    started = time.monotonic()
    await drain_litellm_worker(loop, timeout_s)
    for handler in list(_on_loop_end):
        handler(loop)
    _log.debug("otel-llm: loop end delivered in %.1f ms", (time.monotonic() - started) * 1000)


async def drain_litellm_worker(loop: asyncio.AbstractEventLoop, timeout_s: float) -> bool:
    """Run LiteLLM's queued reports on ``loop`` (bounded); False when some did not finish.

    Not through LiteLLM's ``flush()``: ``asyncio.run`` cancels LiteLLM's worker task with the
    loop's other tasks, and one cancelled after taking a report from the queue (uvloop's order)
    leaves that report out of the queue and ``flush()`` waiting for it forever. The reports still
    queued, and those a cancelled worker took but never started, are run here in the context
    they were queued in, and taken off LiteLLM's books so it does not run them again. Only a
    queue this loop owns, or one left behind by a closed loop: a queue another running loop
    (another thread's) has taken is that loop's worker's to run.
    """
    try:
        from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER as worker  # noqa: PLC0415
    except Exception:  # noqa: BLE001  # a LiteLLM without a logging worker reports without one
        return True
    queue = getattr(worker, "_queue", None)
    bound = getattr(worker, "_bound_loop", None)
    if queue is None or (bound is not None and bound is not loop and not bound.is_closed()):
        return True
    reports = [*_taken_but_not_started(worker), *_queued(queue)]
    if not reports:
        return True
    tasks = []
    for report in reports:
        coroutine, context = report.get("coroutine"), report.get("context")
        if not asyncio.iscoroutine(coroutine):
            continue
        run = context.copy().run if isinstance(context, contextvars.Context) else _call
        tasks.append(run(asyncio.ensure_future, coroutine))
    _, late = await asyncio.wait(tasks, timeout=timeout_s) if tasks else (set(), set())
    for _ in reports:
        with contextlib.suppress(ValueError):  # LiteLLM's books already balanced
            queue.task_done()
    if not late:
        return True
    for task in late:  # they cannot outlive the loop: cancelled, as asyncio.run would have
        task.cancel()
    await asyncio.wait(late)
    _log.warning(
        "otel-llm: %d of LiteLLM's logging callbacks did not finish within %.1fs as the event loop closed"
        " (OTEL_LLM_EXIT_TIMEOUT)",
        len(late),
        timeout_s,
    )
    return False


def _call(function: Callable[..., Any], *args: Any) -> Any:
    return function(*args)


def _taken_but_not_started(worker: Any) -> list[dict[str, Any]]:
    """Reports a cancelled worker took from the queue and never started (LiteLLM >= 1.102)."""
    unstarted = getattr(worker, "_unstarted_dequeued_tasks", None)
    untrack = getattr(worker, "_untrack_dequeued", None)
    if not callable(unstarted) or not callable(untrack):
        return []
    reports = [report for report in unstarted() if isinstance(report, dict)]
    for report in reports:
        untrack(report)
    return reports


def _queued(queue: Any) -> list[dict[str, Any]]:
    reports: list[dict[str, Any]] = []
    while True:
        try:
            report = queue.get_nowait()
        except asyncio.QueueEmpty:
            return reports
        if isinstance(report, dict):
            reports.append(report)
