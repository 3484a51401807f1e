"""Request fingerprints for loop detection: hashes only, no content is kept.

Two per request: the whole conversation (a client resending the same request) and its
tail, the last two messages (an agent calling the same tool with the same arguments and
getting the same result, while its history keeps growing). Tool call ids are ignored:
they differ on every iteration of a loop.
"""

from __future__ import annotations

import hashlib
import json
from typing import Final

from .._shapes import is_mapping, is_sequence

_TAIL: Final = 2
# LiteLLM's placeholder when message logging is turned off: every request would look alike.
_REDACTED: Final = "redacted-by-litellm"
_SEPARATOR: Final = b"\x1e"


def _normalize_text(value: str) -> bytes:
    return " ".join(value.split()).encode("utf-8", "replace")


def _message_bytes(message: object) -> bytes:
    if isinstance(message, str):
        return b"user\x1f" + _normalize_text(message)
    if not is_mapping(message):
        return b""
    parts: list[bytes] = [str(message.get("role", "")).encode()]
    content = message.get("content")
    if isinstance(content, str):
        parts.append(_normalize_text(content))
    elif is_sequence(content):
        for item in content:
            if is_mapping(item):
                text = item.get("text")
                if isinstance(text, str):
                    parts.append(_normalize_text(text))
                else:
                    parts.append(json.dumps(item, sort_keys=True, default=str).encode())
    tool_calls = message.get("tool_calls")
    if is_sequence(tool_calls):
        for call in tool_calls:
            function = call.get("function") if is_mapping(call) else None
            if is_mapping(function):
                parts.append(f"{function.get('name')}({function.get('arguments')})".encode())
    return b"\x1f".join(parts)


def fingerprints(messages: object) -> tuple[str | None, str | None]:
    """(whole-request fingerprint, tail fingerprint) of chat messages or a prompt."""
    if isinstance(messages, str):
        messages = [messages]
    if not is_sequence(messages) or not messages:
        return None, None
    for m in messages:
        if m == _REDACTED or (is_mapping(m) and m.get("content") == _REDACTED):
            return None, None
    encoded = [_message_bytes(m) for m in messages]
    whole = hashlib.blake2b(_SEPARATOR.join(encoded), digest_size=12).hexdigest()
    if len(encoded) <= _TAIL:  # the tail is the whole request: the same bytes, the same hash
        return whole, whole
    tail = hashlib.blake2b(_SEPARATOR.join(encoded[-_TAIL:]), digest_size=12).hexdigest()
    return whole, tail


def tool_fingerprint(tool: str, arguments: object) -> str:
    """The fingerprint of a tool call: the tool and its arguments (key order ignored), hashed."""
    try:
        encoded = json.dumps(arguments, sort_keys=True, default=str, separators=(",", ":"))
    except (TypeError, ValueError):
        encoded = repr(arguments)
    raw = tool.encode("utf-8", "replace") + _SEPARATOR + encoded.encode("utf-8", "replace")
    return hashlib.blake2b(raw, digest_size=12).hexdigest()
