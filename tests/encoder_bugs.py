"""A bug in one of otel-llm's own encoding steps, made on purpose: the wire encoders' tests use it
to show that a failing encoder is reported and costs nothing that was to be exported."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from otel_llm import _errors


@contextmanager
def encoder_bug(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, component: str) -> Iterator[None]:
    """``module.name`` raises from now on; the block must report exactly one failure under
    ``component`` (counted, and collected as a strict error in tests)."""

    def broken(*args: Any, **kwargs: Any) -> bytes:
        raise RuntimeError("encoder bug")

    monkeypatch.setattr(module, name, broken)
    before = _errors.internal_error_count(component)
    yield
    assert _errors.internal_error_count(component) == before + 1
    assert [str(e) for e in _errors.take_strict_errors()][-1:] == ["encoder bug"]
