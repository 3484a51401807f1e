"""Streams returned to the caller, observed chunk by chunk on the monotonic clock.

The proxy forwards every attribute to LiteLLM's stream object (``isinstance`` still
holds) and only times ``__next__``/``__anext__``: first chunk, gaps between chunks,
and the end of the stream. A caller that lets go before the end (``close()``, leaving a
``with`` block, or dropping the stream) is reported as an abandoned stream, so the attempt
ends then, not when the callback timeout sweeps it a minute later.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Final

import wrapt

from .. import _errors

OnChunk = Callable[[object], None]  # called with each chunk
OnEnd = Callable[[BaseException | None], None]
# Called once when the caller lets go before the end; True from the finalizer, where only
# lock-free work is safe (the garbage collector can run it inside any other code).
OnAbandon = Callable[[bool], None]

# Made once: a boundary keeps no state per use, and the chunk path runs it on every chunk.
_STREAM: Final = _errors.boundary("capture.stream")
_STREAM_QUIET: Final = _errors.boundary("capture.stream", quiet=True)


def is_stream(result: object) -> bool:
    return hasattr(result, "__next__") or hasattr(result, "__anext__")


class ObservedStream(wrapt.ObjectProxy):  # type: ignore[type-arg]  # proxies any stream type
    """A transparent proxy that reports chunk timing and the end of a stream."""

    def __init__(
        self, wrapped: object, on_chunk: OnChunk | None, on_end: OnEnd, on_abandon: OnAbandon | None = None
    ) -> None:
        """``on_chunk`` None: only the stream's end (or its abandonment) is wanted, not its chunks."""
        super().__init__(wrapped)
        self._self_on_chunk = on_chunk
        self._self_on_end = on_end
        self._self_on_abandon = on_abandon
        self._self_ended = False

    def _self_notify_end(self, error: BaseException | None) -> None:
        if self._self_ended:
            return
        self._self_ended = True
        with _STREAM:
            self._self_on_end(error)

    def _self_notify_abandon(self, finalizing: bool) -> None:
        if self._self_ended or self._self_on_abandon is None:
            return
        self._self_ended = True
        # From a finalizer nothing is reported: reporting logs, and logging takes locks.
        with _STREAM_QUIET if finalizing else _STREAM:
            self._self_on_abandon(finalizing)

    # Letting go early. Each looks the wrapped method up first, so a stream without it still
    # raises AttributeError as it would unwrapped; ``with`` binds this proxy, not the stream.
    # The wrapped stream is closed first: a Router request's stream wraps its attempt's, and
    # the attempt is let go before the request.
    def close(self) -> object:
        close = self.__wrapped__.close
        try:
            return close()
        finally:
            self._self_notify_abandon(False)

    async def aclose(self) -> object:
        aclose = self.__wrapped__.aclose
        try:
            return await aclose()
        finally:
            self._self_notify_abandon(False)

    def __enter__(self) -> ObservedStream:
        enter = getattr(type(self.__wrapped__), "__enter__", None)
        if enter is None:  # as ``with`` says of the stream itself (LiteLLM before 1.108 has none)
            raise TypeError(f"{type(self.__wrapped__).__name__!r} object does not support the context manager protocol")
        enter(self.__wrapped__)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        exit_ = type(self.__wrapped__).__exit__
        try:
            return exit_(self.__wrapped__, exc_type, exc, tb)  # type: ignore[no-any-return]
        finally:
            self._self_notify_abandon(False)

    async def __aenter__(self) -> ObservedStream:
        aenter = getattr(type(self.__wrapped__), "__aenter__", None)
        if aenter is None:
            raise TypeError(
                f"{type(self.__wrapped__).__name__!r} object does not support the asynchronous context manager protocol"
            )
        await aenter(self.__wrapped__)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        aexit = type(self.__wrapped__).__aexit__
        try:
            return await aexit(self.__wrapped__, exc_type, exc, tb)  # type: ignore[no-any-return]
        finally:
            self._self_notify_abandon(False)

    def __del__(self) -> None:
        if hasattr(self, "_self_ended"):  # not when __init__ failed
            self._self_notify_abandon(True)

    def __iter__(self) -> ObservedStream:
        return self

    def __next__(self) -> object:
        try:
            chunk = self.__wrapped__.__next__()
        except StopIteration:
            self._self_notify_end(None)
            raise
        except BaseException as error:
            self._self_notify_end(error)
            raise
        on_chunk = self._self_on_chunk
        if on_chunk is not None:
            with _STREAM:
                on_chunk(chunk)
        return chunk

    def __aiter__(self) -> ObservedStream:
        return self

    async def __anext__(self) -> object:
        try:
            chunk = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            self._self_notify_end(None)
            raise
        except BaseException as error:
            self._self_notify_end(error)
            raise
        on_chunk = self._self_on_chunk
        if on_chunk is not None:
            with _STREAM:
                on_chunk(chunk)
        return chunk


class ObservedLazyStream(ObservedStream):
    """A stream LiteLLM opens on first use (Gemini and Vertex AI, Predibase, Codestral, OCI).

    The Router opens it (``fetch_stream``/``fetch_sync_stream``) before it reads a chunk, so a
    provider error as the stream opens (an HTTP 500 the Router then retries) is raised there,
    not by ``__next__``: without these, that attempt would never be seen to fail.
    """

    def fetch_sync_stream(self) -> object:
        try:
            return self.__wrapped__.fetch_sync_stream()
        except BaseException as error:
            self._self_notify_end(error)
            raise

    async def fetch_stream(self) -> object:
        try:
            return await self.__wrapped__.fetch_stream()
        except BaseException as error:
            self._self_notify_end(error)
            raise


def observe(
    stream: object, on_chunk: OnChunk | None, on_end: OnEnd, on_abandon: OnAbandon | None = None
) -> ObservedStream:
    """``stream`` observed chunk by chunk (and as it opens, when it opens lazily)."""
    lazy = callable(getattr(stream, "fetch_stream", None)) and callable(getattr(stream, "fetch_sync_stream", None))
    return (ObservedLazyStream if lazy else ObservedStream)(stream, on_chunk, on_end, on_abandon)
