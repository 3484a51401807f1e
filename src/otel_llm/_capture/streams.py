"""Streams returned to the caller, observed chunk by chunk on the monotonic clock.

The proxy forwards every attribute to LiteLLM's stream object (``isinstance`` still
holds) and only times ``__next__``/``__anext__``: first chunk, gaps between chunks,
and the end of the stream.
"""

from __future__ import annotations

from collections.abc import Callable

import wrapt

from .. import _errors

OnChunk = Callable[[], None]
OnEnd = Callable[[BaseException | None], None]


def is_stream(result: object) -> bool:
    return hasattr(result, "__next__") or hasattr(result, "__anext__")


class ObservedStream(wrapt.ObjectProxy):  # type: ignore[type-arg]  # proxies any stream type
    """A transparent proxy that reports chunk timing and the end of a stream."""

    def __init__(self, wrapped: object, on_chunk: OnChunk, on_end: OnEnd) -> None:
        super().__init__(wrapped)
        self._self_on_chunk = on_chunk
        self._self_on_end = on_end
        self._self_ended = False

    def _self_notify_chunk(self) -> None:
        try:
            self._self_on_chunk()
        except Exception as error:  # noqa: BLE001  # the boundary: see _errors
            _errors.report("capture.stream", error)

    def _self_notify_end(self, error: BaseException | None) -> None:
        if self._self_ended:
            return
        self._self_ended = True
        try:
            self._self_on_end(error)
        except Exception as report_error:  # noqa: BLE001
            _errors.report("capture.stream", report_error)

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
        self._self_notify_chunk()
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
        self._self_notify_chunk()
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


def observe(stream: object, on_chunk: OnChunk, on_end: OnEnd) -> ObservedStream:
    """``stream`` observed chunk by chunk (and as it opens, when it opens lazily)."""
    lazy = callable(getattr(stream, "fetch_stream", None)) and callable(getattr(stream, "fetch_sync_stream", None))
    return (ObservedLazyStream if lazy else ObservedStream)(stream, on_chunk, on_end)
