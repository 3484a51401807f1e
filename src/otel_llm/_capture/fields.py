"""Defensive readers for LiteLLM payload fields: each returns a clean value or None.

LiteLLM's payloads grow and change between versions, and proxies pass user data
through them, so every field is read as if it could be missing or of any type.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Final

from .._shapes import encodable, is_mapping, is_sequence

# OTLP integer attributes are int64: a larger value is dropped by the exporter with an ERROR log.
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
# No single call costs more than this; a larger amount is a bug upstream, and an absurd value would
# make the cumulative spend counters useless for every later call.
_MAX_USD: Final = 1e9
# Epoch seconds accepted as times: after 1970 and before 2200-01-01T00:00:00Z. Spans carry
# nanoseconds as OTLP fixed64, and one span whose time does not fit (beyond year 2554 unsigned, 2262
# signed) makes the exporter fail the WHOLE batch, losing other calls' spans. Year 2200 keeps every
# accepted time well inside int64 nanoseconds (~7.3e18 < 9.2e18), so no exporter can trip over it.
_MAX_EPOCH_S: Final = 7_258_118_400.0


def text(value: object, max_length: int) -> str | None:
    """A non-empty string, truncated to max_length; never the string 'None'."""
    if value.__class__ is not str:  # the common case first, without the isinstance chain
        if value is None:
            return None
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if not isinstance(value, str):
            return None
    value = value.strip()
    if not value or value in ("None", "null"):
        return None
    if not value.isascii():  # nearly every payload string is ASCII: no call for those (a hot path)
        value = encodable(value)
    return value if len(value) <= max_length else value[:max_length]


def count(value: object) -> int | None:
    """A non-negative whole count (tokens, dimensions), within int64."""
    if value is None:
        return None
    if type(value) is int:
        return value if 0 <= value <= _INT64_MAX else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return int(value) if 0 <= value <= _INT64_MAX else None
    if isinstance(value, float) and math.isfinite(value) and value >= 0 and value.is_integer():
        return int(value) if value <= _INT64_MAX else None
    if isinstance(value, str):
        digits = value.strip()
        # More than 19 digits cannot be an int64 (and int() refuses over 4,300 digits); isdigit()
        # also accepts characters int() rejects, such as superscripts.
        if not digits.isdigit() or len(digits) > 19:
            return None
        try:
            result = int(digits)
        except ValueError:
            return None
        return result if result <= _INT64_MAX else None
    return None


def number(value: object) -> float | None:
    """A finite float (request parameters such as temperature)."""
    if value is None:
        return None
    if value.__class__ is float:  # the common case first, without the isinstance chain
        return value if math.isfinite(value) else None
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            result = float(value)
        except OverflowError:  # an int beyond the float range
            return None
        return result if math.isfinite(result) else None
    if isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            return None
        return result if math.isfinite(result) else None
    return None


def whole(value: object) -> int | None:
    """An integer parameter (seed, max_tokens, n) within int64; negative values are kept."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return int(value) if _INT64_MIN <= value <= _INT64_MAX else None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value) if _INT64_MIN <= value <= _INT64_MAX else None
    return None


def money(value: object) -> float | None:
    """A finite, non-negative amount of USD, at most a billion."""
    if value is None:
        return None
    if value.__class__ is float:  # the common case first (NaN fails both comparisons, inf the second)
        return value if 0.0 <= value <= _MAX_USD else None
    result = number(value)
    return result if result is not None and 0 <= result <= _MAX_USD else None


def flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def strings(value: object, max_length: int, limit: int = 32) -> tuple[str, ...]:
    """A tuple of clean strings from a string or a sequence of them."""
    if not value:  # None, an empty string or list (nearly every call's tags): nothing to read
        return ()
    if isinstance(value, (str, bytes)):  # one string (text decodes bytes)
        single = text(value, max_length)
        return (single,) if single else ()
    if is_sequence(value):
        result = []
        for item in value[:limit]:
            clean = text(item, max_length)
            if clean:
                result.append(clean)
        return tuple(result)
    return ()


def epoch_ns(value: object) -> int | None:
    """Epoch nanoseconds from LiteLLM's float seconds or datetime; None outside 1970-2200 (see
    _MAX_EPOCH_S): the caller then treats the time as missing."""
    if isinstance(value, datetime):
        try:
            value = value.timestamp()
        except (OverflowError, ValueError, OSError):  # naive datetimes near the limits, in some zones
            return None
    seconds = number(value)
    if seconds is None or not 0 < seconds < _MAX_EPOCH_S:
        return None
    nanoseconds = int(seconds * 1e9)
    return nanoseconds if nanoseconds > 0 else None  # under 1 ns after the epoch is the epoch: outside


def attr(obj: object, name: str) -> object:
    """A field of a dict or an object (LiteLLM responses are pydantic objects or dicts)."""
    if is_mapping(obj):
        return obj.get(name)
    try:
        return getattr(obj, name, None)
    except Exception:  # noqa: BLE001  # properties of foreign objects may raise anything
        return None


# Chunk classes whose ``usage`` can only live in the instance's field dict or its pydantic extras
# (LiteLLM's ModelResponseStream): no class attribute or property of that name. Bounded: a class
# beyond the first 64 seen is read the general way.
_USAGE_IN_DICTS: Final[dict[type, bool]] = {}


def chunk_usage(chunk: object) -> object:
    """``attr(chunk, "usage")`` for a stream chunk, read once per chunk: a pydantic chunk without
    usage (every chunk but the last) answers from its dicts, without the AttributeError pydantic
    raises inside getattr (~1.9 µs a chunk)."""
    cls = chunk.__class__
    plain = _USAGE_IN_DICTS.get(cls)
    if plain is None:
        plain = not hasattr(cls, "usage") and hasattr(cls, "__pydantic_extra__")
        if len(_USAGE_IN_DICTS) < 64:
            _USAGE_IN_DICTS[cls] = plain
    if not plain:
        return attr(chunk, "usage")
    fields = getattr(chunk, "__dict__", None)
    usage = fields.get("usage") if type(fields) is dict else None
    if usage is None:
        extra = getattr(chunk, "__pydantic_extra__", None)
        if type(extra) is dict:
            usage = extra.get("usage")
    return usage
