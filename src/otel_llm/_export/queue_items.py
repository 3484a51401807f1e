"""What the lean path's export queues hold: one span or log record encoded, as atoms.

The span and log processors otel-llm builds (``span_queue``, ``wire_logs``) encode each item
when it ends or is emitted and queue its bytes with the number of its resource and scope; the
exporters frame a batch of them into one request (``span_wire.encode_request``).
"""

from __future__ import annotations

import itertools
from typing import Any, Final

# What an export queue holds on the lean path: one span (or log record) encoded, as an exact
# ``(origin, bytes)`` tuple. ``origin`` is the number of the item's (resource, scope) in a
# process-wide table (see ``encoded``), so the tuple holds only atoms and the garbage collector
# untracks it at its first young collection: items wait in the queue for up to the schedule delay,
# and as tracked objects they were promoted to the oldest generation with the host's in-flight
# state at every generation-1 collection, bringing the host's full collections closer. Only a
# pair the table has no room for is held as ``((resource, scope), bytes)``, tracked but correct.
Encoded = tuple[Any, bytes]
MAX_ORIGINS: Final = 1024  # (resource, scope) pairs numbered; a process has a handful
# No lock (nothing to go wrong across a fork): numbers come from an atomic counter, and two threads
# numbering one pair at once leave two numbers for it, both right (requests group pairs by equality).
_origins: dict[int, tuple[Any, Any]] = {}
_origin_numbers: dict[tuple[int, int], int] = {}  # by id: every numbered pair is kept alive in _origins
_next_origin: Final = itertools.count()


def encoded(resource: Any, scope: Any, data: bytes) -> Encoded:
    """The queue item of ``data``, one span or log record encoded under ``resource`` and ``scope``."""
    number = _origin_numbers.get((id(resource), id(scope)))
    return (number if number is not None else _origin(resource, scope), data)


def _origin(resource: Any, scope: Any) -> int | tuple[Any, Any]:
    if len(_origins) >= MAX_ORIGINS:  # scopes made without end: the pair itself, tracked
        return (resource, scope)
    number = next(_next_origin)
    _origins[number] = (resource, scope)  # before its number is found by id: never a number without a pair
    _origin_numbers[(id(resource), id(scope))] = number
    return number


def is_encoded(item: object) -> bool:
    """Whether a queue or batch item is an ``Encoded`` (spans and log records are never exact tuples)."""
    return item.__class__ is tuple


def origin_of(item: Encoded) -> tuple[Any, Any]:
    """The (resource, scope) an ``Encoded`` item belongs to."""
    origin = item[0]
    return _origins[origin] if origin.__class__ is int else origin
