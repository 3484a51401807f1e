"""Parsers for setting values: text in, a typed value out, or ``SettingError`` naming the fix.

Each parser takes the raw text only; the settings table (``_settings``) pairs it with the
variable's name, so a message always names both the variable and the fix.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from typing import Final, TypeVar

_T = TypeVar("_T")
_log: Final = logging.getLogger("otel_llm")

Parser = Callable[[str], object]


class SettingError(ValueError):
    """A value a parser refuses; ``fix`` says what to set instead."""

    def __init__(self, fix: str) -> None:
        super().__init__(fix)
        self.fix = fix


def _number(raw: str) -> float:
    """``raw`` as a float, or NaN (which every bound refuses) when it is not a number."""
    try:
        return float(raw.strip())
    except ValueError:
        return float("nan")


def positive_int(raw: str) -> int:
    """A whole number greater than 0."""
    try:
        value = int(raw.strip())
    except ValueError:
        value = -1
    if value <= 0:
        raise SettingError("set a whole number greater than 0")
    return value


def positive(unit: str = "") -> Callable[[str], float]:
    """A parser for a finite number greater than 0, in ``unit`` (named in the fix)."""

    def parse(raw: str) -> float:
        value = _number(raw)
        if not value > 0 or value == float("inf"):
            raise SettingError(f"set a number {unit}greater than 0")
        return value

    return parse


seconds: Final = positive("of seconds ")


def seconds_at_least(minimum: float) -> Callable[[str], float]:
    """A parser for a finite number of seconds of at least ``minimum``."""

    def parse(raw: str) -> float:
        value = _number(raw)
        if not value >= minimum or value == float("inf"):
            raise SettingError(f"set a number of seconds of at least {minimum:g}")
        return value

    return parse


usd: Final = positive("of USD (no currency sign) ")
factor: Final = positive("")


def boolean(raw: str) -> bool:
    """true/false, 1/0, yes/no, on/off (case-insensitive)."""
    text = raw.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise SettingError("set true or false")


def one_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    """A parser for one of ``choices`` (case-insensitive)."""

    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise SettingError(f"set one of {', '.join(choices)}")
        return value

    return parse


def subset_of(choices: tuple[str, ...]) -> Callable[[str], frozenset[str]]:
    """A parser for a comma-separated subset of ``choices``, or ``none``."""

    def parse(raw: str) -> frozenset[str]:
        items = {item.strip().lower() for item in raw.split(",") if item.strip()}
        if items == {"none"}:
            return frozenset()
        if items - set(choices):
            raise SettingError(f"use a comma-separated list of {', '.join(choices)} (or none)")
        return frozenset(items)

    return parse


def names(limit: int) -> Callable[[str], tuple[str, ...]]:
    """A parser for a comma-separated list of at most ``limit`` names (metadata keys, tag prefixes)."""

    def parse(raw: str) -> tuple[str, ...]:
        items = tuple(dict.fromkeys(item.strip() for item in raw.split(",") if item.strip()))
        if len(items) > limit:
            raise SettingError(f"list at most {limit} comma-separated names")
        if any(len(item) > 128 or not item.isprintable() for item in items):
            raise SettingError("use printable names of at most 128 characters, separated by commas")
        return items

    return parse


def sources(prefixes: tuple[str, ...], limit: int) -> Callable[[str], tuple[str, ...]]:
    """A parser for a comma-separated list of at most ``limit`` ``<prefix><name>`` entries."""
    parse_names = names(limit)

    def parse(raw: str) -> tuple[str, ...]:
        if raw.strip().lower() == "none":
            return ()
        items = parse_names(raw)
        if not all(any(item.startswith(prefix) and item != prefix for prefix in prefixes) for item in items):
            shown = " or ".join(f"{prefix}<name>" for prefix in prefixes)
            raise SettingError(f"list entries of the form {shown}, separated by commas (or none)")
        return items

    return parse


# Schemes redis-py's from_url accepts.
REDIS_SCHEMES: Final = ("redis://", "rediss://", "unix://")


def redis_url(raw: str) -> str:
    """A Redis URL (never echoed in a message: it can carry a password)."""
    url = raw.strip()
    if url.lower().startswith(REDIS_SCHEMES):
        return url
    raise SettingError(
        "set redis://[:password@]host:6379/0, rediss://… (TLS) or unix:///path/to/redis.sock; "
        "loop windows stay in this process"
    )


POSTGRES_SCHEMES: Final = ("postgresql://", "postgres://")


def postgres_url(raw: str) -> str:
    """A PostgreSQL URL (never echoed in a message: it carries a password)."""
    url = raw.strip()
    if url.lower().startswith(POSTGRES_SCHEMES):
        return url
    raise SettingError("set postgresql://user:password@host:5432/dbname (LiteLLM's DATABASE_URL)")


def secret(raw: str) -> str:
    """Any non-empty text, kept as given (never echoed)."""
    return raw.strip()


def or_default(name: str, raw: str | None, parse: Callable[[str], _T], default: _T) -> _T:
    """``parse(raw)``, or ``default`` when ``raw`` is unset or blank, or (with a warning naming the
    variable and the fix) invalid: for variables that are not otel-llm's but that it reads to build a
    pipeline, such as the SDK's ``OTEL_BSP_*``."""
    if raw is None or not raw.strip():
        return default
    try:
        return parse(raw)
    except SettingError as error:
        _log.warning("otel-llm: %s=%r is invalid: %s. Using the default %r.", name, raw, error.fix, default)
        return default


class ContentMode(enum.Enum):
    """Where captured prompt and completion content goes (nowhere unless opted in)."""

    NO_CONTENT = "NO_CONTENT"
    SPAN_ONLY = "SPAN_ONLY"
    EVENT_ONLY = "EVENT_ONLY"
    SPAN_AND_EVENT = "SPAN_AND_EVENT"

    @property
    def on_spans(self) -> bool:
        return self in (ContentMode.SPAN_ONLY, ContentMode.SPAN_AND_EVENT)

    @property
    def on_events(self) -> bool:
        return self in (ContentMode.EVENT_ONLY, ContentMode.SPAN_AND_EVENT)

    @property
    def enabled(self) -> bool:
        return self is not ContentMode.NO_CONTENT


# Older GenAI instrumentations used a boolean for the same variable.
_CONTENT_ALIASES: Final = {"TRUE": ContentMode.SPAN_ONLY, "FALSE": ContentMode.NO_CONTENT}


def content_mode(raw: str) -> ContentMode:
    """NO_CONTENT, SPAN_ONLY, EVENT_ONLY or SPAN_AND_EVENT (true/false as older instrumentations used)."""
    text = raw.strip().upper()
    if text in _CONTENT_ALIASES:
        return _CONTENT_ALIASES[text]
    try:
        return ContentMode(text)
    except ValueError:
        raise SettingError(f"set one of {', '.join(m.value for m in ContentMode)}") from None
