"""Shape checks for payload values, answered without the ABC ``isinstance`` for the types LiteLLM passes,
and the one rule that makes payload text exportable (``encodable``).

LiteLLM hands callbacks plain dicts, lists and None far more often than anything else; an ABC
check costs a registry walk each time, so these answer the common types by their class first.
Base module: the capture readers and the loop detector both use it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final, TypeGuard

EMPTY: Final[Mapping[str, object]] = {}


def mapping(value: object) -> Mapping[str, object]:
    """The value if it is a mapping, else an empty one."""
    if type(value) is dict:  # the common cases (a dict, a missing field) without an ABC check
        return value
    if value is None:
        return EMPTY
    return value if isinstance(value, Mapping) else EMPTY


def is_mapping(value: object) -> TypeGuard[Mapping[str, object]]:
    """``isinstance(value, Mapping)``, with dicts and None answered without the ABC check."""
    if value.__class__ is dict:
        return True
    return value is not None and isinstance(value, Mapping)


def is_sequence(value: object) -> TypeGuard[Sequence[object]]:
    """A sequence of items (lists, tuples), not text: strings and bytes are not (iterating them gives
    characters or ints, and ``"x" in b"..."`` raises). The common types are answered without the ABC check."""
    cls = value.__class__
    if cls is list or cls is tuple:
        return True
    return value is not None and isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray))


def encodable(text: str) -> str:
    """``text`` with lone surrogates replaced: OTLP exporters cannot encode them (a payload can hold them)."""
    return text if text.isascii() else text.encode("utf-8", "replace").decode("utf-8")
