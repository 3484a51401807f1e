"""Messages → the GenAI conventions' structured message format, size-capped.

Runs only when content capture is opted in; with capture off nothing here is called.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Final

from .._record import Content
from .._redact import safe_url

_TRUNCATED: Final = "…[truncated]"
# An inline (data:) URL, as URL parsers see it: any case, after leading whitespace or control
# characters, and with tabs and newlines anywhere ignored.
_DATA_URL: Final = re.compile(r"[\s\x00-\x20]*data:", re.IGNORECASE)
_IGNORED_IN_URLS: Final = re.compile(r"[\t\r\n]")


def _image_uri(url: str) -> str | None:
    """The URL of an image as it may be recorded: None for inline images (their bytes are never
    copied), else without credentials (user:password@, pre-signed or SAS query strings)."""
    if not url.strip() or _DATA_URL.match(_IGNORED_IN_URLS.sub("", url)):
        return None
    return safe_url(url.strip())


def _text_part(text: str) -> dict[str, object]:
    return {"type": "text", "content": text}


def _parts_of_content(content: object) -> list[dict[str, object]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [_text_part(content)] if content else []
    parts: list[dict[str, object]] = []
    if isinstance(content, Sequence):
        for item in content:
            if isinstance(item, Mapping):
                kind = item.get("type")
                if kind in ("text", "input_text", "output_text") and isinstance(item.get("text"), str):
                    parts.append(_text_part(item["text"]))
                elif kind in ("image_url", "input_image", "image"):
                    # Inline images (data: URLs) are never copied: only their presence is.
                    url = item.get("image_url")
                    if isinstance(url, Mapping):
                        url = url.get("url")
                    part: dict[str, object] = {"type": "uri", "modality": "image"}
                    uri = _image_uri(url) if isinstance(url, str) else None
                    if uri:
                        part["uri"] = uri
                    parts.append(part)
            elif isinstance(item, str):
                parts.append(_text_part(item))
    return parts


def _arguments(raw: object) -> object:
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _tool_call_parts(tool_calls: object) -> list[dict[str, object]]:
    parts: list[dict[str, object]] = []
    if isinstance(tool_calls, Sequence) and not isinstance(tool_calls, str):
        for call in tool_calls:
            if not isinstance(call, Mapping):
                continue
            function = call.get("function") if isinstance(call.get("function"), Mapping) else {}
            assert isinstance(function, Mapping)
            part: dict[str, object] = {"type": "tool_call", "name": function.get("name")}
            if call.get("id"):
                part["id"] = call.get("id")
            if "arguments" in function:
                part["arguments"] = _arguments(function.get("arguments"))
            parts.append(part)
    return parts


def _message(message: Mapping[str, object]) -> dict[str, object] | None:
    role = message.get("role")
    if not isinstance(role, str):
        return None
    if role in ("tool", "function"):
        part: dict[str, object] = {"type": "tool_call_response", "response": message.get("content")}
        if message.get("tool_call_id"):
            part["id"] = message.get("tool_call_id")
        return {"role": "tool", "parts": [part]}
    parts = _parts_of_content(message.get("content")) + _tool_call_parts(message.get("tool_calls"))
    return {"role": role, "parts": parts}


def input_messages(messages: object) -> list[dict[str, object]]:
    """Chat-history messages (OpenAI format, or a bare prompt) in structured form."""
    if isinstance(messages, str):
        return [{"role": "user", "parts": [_text_part(messages)]}]
    result: list[dict[str, object]] = []
    if isinstance(messages, Sequence):
        for message in messages:
            if isinstance(message, Mapping):
                converted = _message(message)
                if converted is not None:
                    result.append(converted)
            elif isinstance(message, str):
                result.append({"role": "user", "parts": [_text_part(message)]})
    return result


def output_messages(response: object) -> list[dict[str, object]]:
    """The choices of a chat/text completion response in structured form."""
    if not isinstance(response, Mapping):
        return []
    result: list[dict[str, object]] = []
    choices = response.get("choices")
    if isinstance(choices, Sequence):
        for choice in choices:
            if not isinstance(choice, Mapping):
                continue
            message = choice.get("message")
            if isinstance(message, Mapping):
                parts = _parts_of_content(message.get("content")) + _tool_call_parts(message.get("tool_calls"))
            else:
                parts = _parts_of_content(choice.get("text"))
            entry: dict[str, object] = {"role": "assistant", "parts": parts}
            if isinstance(choice.get("finish_reason"), str):
                entry["finish_reason"] = choice["finish_reason"]
            result.append(entry)
    return result


def _parts(messages: list[dict[str, object]]) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    for message in messages:
        parts = message.get("parts")
        if isinstance(parts, list):
            found.extend(p for p in parts if isinstance(p, dict))
    return found


def _dumps(messages: list[dict[str, object]]) -> str:
    return json.dumps(messages, ensure_ascii=False, default=str)


def _cap(messages: list[dict[str, object]], max_length: int) -> str:
    """The messages as JSON of at most ``max_length`` characters: long text parts are cut to an
    equal share of the budget (roles, order and the other fields kept); valid JSON always."""
    text = _dumps(messages)
    if len(text) <= max_length:
        return text
    fields = []
    for part in _parts(messages):
        for key in ("content", "response", "arguments"):
            value = part.get(key)
            if value is not None:
                fields.append((part, key, value if isinstance(value, str) else _dumps(value)))  # type: ignore[arg-type]

    def cut_to(budget: int) -> str:
        for part, key, value in fields:
            part[key] = value[:budget] + _TRUNCATED if len(value) > budget else value
        return _dumps(messages)

    # The largest per-part budget that fits, by bisection: JSON escaping and the truncation
    # marker make the length hard to predict, so each candidate is measured.
    fitting: str | None = None
    low, high = 0, max((len(value) for _, _, value in fields), default=0)
    while low < high:
        budget = (low + high) // 2
        text = cut_to(budget)
        if len(text) <= max_length:
            fitting, low = text, budget + 1
        else:
            high = budget
    if fitting is None and fields:
        text = cut_to(0)
        fitting = text if len(text) <= max_length else None
    if fitting is not None:
        return fitting
    # Even empty parts do not fit (very many messages): say so, keeping the first message's role.
    first = messages[0].get("role") if messages else None
    return _dumps([{"role": first if isinstance(first, str) else "user", "parts": [_text_part(_TRUNCATED)]}])


def capture(messages: object, response: object, max_length: int) -> Content:
    """Structured, size-capped content of one call."""
    inputs = input_messages(messages)
    outputs = output_messages(response)
    return Content(
        input_messages=_cap(inputs, max_length) if inputs else None,
        output_messages=_cap(outputs, max_length) if outputs else None,
    )
