"""Defensive readers for LiteLLM payload fields: each returns a clean value or None.

LiteLLM's payloads grow and change between versions, and proxies pass user data
through them, so every field is read as if it could be missing or of any type.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Final

_EMPTY: Final[Mapping[str, object]] = {}


def mapping(value: object) -> Mapping[str, object]:
    """The value if it is a mapping, else an empty one."""
    if type(value) is dict:  # the common case, without the cost of an ABC check
        return value
    return value if isinstance(value, Mapping) else _EMPTY


def text(value: object, max_length: int) -> str | None:
    """A non-empty string, truncated to max_length; never the string 'None'."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or value in ("None", "null"):
        return None
    # Lone surrogates cannot be encoded by OTLP exporters.
    if not value.isascii():
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value if len(value) <= max_length else value[:max_length]


def count(value: object) -> int | None:
    """A non-negative whole count (tokens, dimensions)."""
    if value is None:
        return None
    if type(value) is int:
        return value if value >= 0 else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and math.isfinite(value) and value >= 0 and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def number(value: object) -> float | None:
    """A finite float (request parameters such as temperature)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        result = float(value)
        return result if math.isfinite(result) else None
    if isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            return None
        return result if math.isfinite(result) else None
    return None


def whole(value: object) -> int | None:
    """An integer parameter (seed, max_tokens, n); negative values are kept."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def money(value: object) -> float | None:
    """A finite, non-negative amount of USD."""
    result = number(value)
    return result if result is not None and result >= 0 else None


def flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def strings(value: object, max_length: int, limit: int = 32) -> tuple[str, ...]:
    """A tuple of clean strings from a string or a sequence of them."""
    if isinstance(value, str):
        single = text(value, max_length)
        return (single,) if single else ()
    if isinstance(value, Sequence):
        result = []
        for item in value[:limit]:
            clean = text(item, max_length)
            if clean:
                result.append(clean)
        return tuple(result)
    return ()


def epoch_ns(value: object) -> int | None:
    """Epoch nanoseconds from LiteLLM's float seconds or datetime."""
    if isinstance(value, datetime):
        value = value.timestamp()
    seconds = number(value)
    if seconds is None or seconds <= 0:
        return None
    return int(seconds * 1e9)


def attr(obj: object, name: str) -> object:
    """A field of a dict or an object (LiteLLM responses are pydantic objects or dicts)."""
    if isinstance(obj, Mapping):
        return obj.get(name)
    try:
        return getattr(obj, name, None)
    except Exception:  # noqa: BLE001  # properties of foreign objects may raise anything
        return None
