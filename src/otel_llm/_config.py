"""Settings, resolved once into a frozen object: argument > environment > default.

A bad value never stops the host: it is reported once, naming the setting and the fix,
and the safe default is used. Nothing here is read on the per-call path.
"""

from __future__ import annotations

import enum
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, TypeVar

from ._settings import CONTENT_ENV, ENV_PREFIX, SETTINGS

_log: Final = logging.getLogger("otel_llm")


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


_KNOWN_ENV: Final = frozenset(s.env for s in SETTINGS if s.env.startswith(ENV_PREFIX))

_T = TypeVar("_T")


@dataclass(frozen=True)
class Config:
    """Resolved settings for one callback/instrumentor."""

    content_mode: ContentMode = ContentMode.NO_CONTENT
    content_max_length: int = 16384
    attribute_max_length: int = 512
    metric_attribute_value_limit: int = 200
    metric_series_limit: int = 1000
    callback_timeout_s: float = 60.0
    pending_limit: int = 10000
    exit_timeout_s: float = 5.0
    raise_internal_errors: bool = False
    metric_attribution: frozenset[str] = frozenset({"key", "team"})
    headroom_ttl_s: float = 300.0
    loop_mode: str = "observe"
    loop_window_s: float = 300.0
    loop_repeats: int = 8
    loop_growth_calls: int = 10
    loop_growth_seconds: float = 60.0
    loop_growth_factor: float = 2.0
    loop_spend_per_minute: float = 5.0
    loop_session_rate: int = 60
    loop_cooldown_s: float = 300.0
    loop_max_windows: int = 10000
    loop_redis_url: str | None = None
    proxy_http_spans: bool = False
    proxy_fastapi_telemetry: str = "server"
    proxy_router_span: bool = False


def _warn(setting: str, value: str, fix: str, default: object) -> None:
    _log.warning("otel-llm: %s=%r is invalid: %s. Using the default %r.", setting, value, fix, default)


def _positive_int(setting: str, raw: str, default: int) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        value = -1
    if value <= 0:
        _warn(setting, raw, "set a whole number greater than 0", default)
        return default
    return value


def _positive(unit: str) -> Callable[[str, str, float], float]:
    """A parser for a finite number greater than 0, in ``unit`` (named in the fix)."""

    def parse(setting: str, raw: str, default: float) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            value = -1.0
        if not value > 0 or value == float("inf"):
            _warn(setting, raw, f"set a number {unit}greater than 0", default)
            return default
        return value

    return parse


_positive_float: Final = _positive("of seconds ")
_positive_usd: Final = _positive("of USD (no currency sign) ")
_positive_factor: Final = _positive("")

# Schemes redis-py's from_url accepts.
REDIS_SCHEMES: Final = ("redis://", "rediss://", "unix://")


def _redis_url(setting: str, raw: str, default: str | None) -> str | None:
    url = raw.strip()
    if url.lower().startswith(REDIS_SCHEMES):
        return url
    # Never echo the value: a Redis URL can carry a password.
    _log.warning(
        "otel-llm: %s is not a Redis URL: set redis://[:password@]host:6379/0, rediss://… (TLS) or "
        "unix:///path/to/redis.sock. Loop windows stay in this process.",
        setting,
    )
    return default


def _bool(setting: str, raw: str, default: bool) -> bool:
    text = raw.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    _warn(setting, raw, "set true or false", default)
    return default


ATTRIBUTION_CHOICES: Final = ("key", "team", "user", "end_user", "org")


def _attribution(setting: str, raw: str, default: frozenset[str]) -> frozenset[str]:
    items = {item.strip().lower() for item in raw.split(",") if item.strip()}
    if items == {"none"}:
        return frozenset()
    unknown = sorted(items - set(ATTRIBUTION_CHOICES))
    if unknown:
        choices = ", ".join(ATTRIBUTION_CHOICES)
        _warn(setting, raw, f"use a comma-separated list of {choices} (or none)", ",".join(sorted(default)))
        return default
    return frozenset(items)


def _one_of(choices: tuple[str, ...]) -> Callable[[str, str, str], str]:
    """A parser for a setting that takes one of ``choices`` (case-insensitive)."""

    def parse(setting: str, raw: str, default: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            _warn(setting, raw, f"set one of {', '.join(choices)}", default)
            return default
        return value

    return parse


LOOP_MODES: Final = ("observe", "block", "off")
_loop_mode: Final = _one_of(LOOP_MODES)
# How much of FastAPI's own telemetry the proxy keeps (see _proxy/fastapi_telemetry.py).
FASTAPI_TELEMETRY_MODES: Final = ("server", "full", "off")


def _content_mode(raw: str) -> ContentMode:
    text = raw.strip().upper()
    if text in _CONTENT_ALIASES:
        return _CONTENT_ALIASES[text]
    try:
        return ContentMode(text)
    except ValueError:
        choices = ", ".join(m.value for m in ContentMode)
        _warn(CONTENT_ENV, raw, f"set one of {choices}", ContentMode.NO_CONTENT.value)
        return ContentMode.NO_CONTENT


def _from_env(env: Mapping[str, str], name: str, parse: Callable[[str, str, _T], _T], default: _T) -> _T:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    return parse(name, raw, default)


_unknown_reported: set[str] = set()


def warn_unknown_settings(env: Mapping[str, str]) -> None:
    """Warn once per name about ``OTEL_LLM_*`` variables we do not know (likely typos)."""
    for name in sorted(env):
        if (
            name.startswith(ENV_PREFIX)
            and name not in _KNOWN_ENV
            and name not in EXTRA_KNOWN_ENV
            and name not in _unknown_reported
        ):
            _unknown_reported.add(name)
            _log.warning(
                "otel-llm: unknown setting %s is ignored. Check the spelling against the README's environment table.",
                name,
            )


# Settings owned by other modules (the proxy, the loop detector) register here.
EXTRA_KNOWN_ENV: set[str] = set()


def resolve(env: Mapping[str, str] | None = None, **overrides: object) -> Config:
    """Build the Config from keyword overrides, then the environment, then defaults."""
    env = os.environ if env is None else env
    warn_unknown_settings(env)
    base = Config()
    content_raw = env.get(CONTENT_ENV)
    values: dict[str, object] = {
        "content_mode": _content_mode(content_raw) if content_raw and content_raw.strip() else base.content_mode,
        "content_max_length": _from_env(env, "OTEL_LLM_CONTENT_MAX_LENGTH", _positive_int, base.content_max_length),
        "attribute_max_length": _from_env(
            env, "OTEL_LLM_ATTRIBUTE_MAX_LENGTH", _positive_int, base.attribute_max_length
        ),
        "metric_attribute_value_limit": _from_env(
            env, "OTEL_LLM_METRIC_ATTRIBUTE_VALUE_LIMIT", _positive_int, base.metric_attribute_value_limit
        ),
        "metric_series_limit": _from_env(env, "OTEL_LLM_METRIC_SERIES_LIMIT", _positive_int, base.metric_series_limit),
        "callback_timeout_s": _from_env(env, "OTEL_LLM_CALLBACK_TIMEOUT", _positive_float, base.callback_timeout_s),
        "pending_limit": _from_env(env, "OTEL_LLM_PENDING_LIMIT", _positive_int, base.pending_limit),
        "exit_timeout_s": _from_env(env, "OTEL_LLM_EXIT_TIMEOUT", _positive_float, base.exit_timeout_s),
        "raise_internal_errors": _from_env(env, "OTEL_LLM_RAISE_INTERNAL_ERRORS", _bool, base.raise_internal_errors),
        "metric_attribution": _from_env(env, "OTEL_LLM_METRIC_ATTRIBUTION", _attribution, base.metric_attribution),
        "headroom_ttl_s": _from_env(env, "OTEL_LLM_HEADROOM_TTL", _positive_float, base.headroom_ttl_s),
        "loop_mode": _from_env(env, "OTEL_LLM_LOOP_MODE", _loop_mode, base.loop_mode),
        "loop_window_s": _from_env(env, "OTEL_LLM_LOOP_WINDOW", _positive_float, base.loop_window_s),
        "loop_repeats": _from_env(env, "OTEL_LLM_LOOP_REPEATS", _positive_int, base.loop_repeats),
        "loop_growth_calls": _from_env(env, "OTEL_LLM_LOOP_GROWTH_CALLS", _positive_int, base.loop_growth_calls),
        "loop_growth_seconds": _from_env(
            env, "OTEL_LLM_LOOP_GROWTH_SECONDS", _positive_float, base.loop_growth_seconds
        ),
        "loop_growth_factor": _from_env(env, "OTEL_LLM_LOOP_GROWTH_FACTOR", _positive_factor, base.loop_growth_factor),
        "loop_spend_per_minute": _from_env(
            env, "OTEL_LLM_LOOP_SPEND_PER_MINUTE", _positive_usd, base.loop_spend_per_minute
        ),
        "loop_session_rate": _from_env(env, "OTEL_LLM_LOOP_SESSION_RATE", _positive_int, base.loop_session_rate),
        "loop_cooldown_s": _from_env(env, "OTEL_LLM_LOOP_COOLDOWN", _positive_float, base.loop_cooldown_s),
        "loop_max_windows": _from_env(env, "OTEL_LLM_LOOP_MAX_WINDOWS", _positive_int, base.loop_max_windows),
        "loop_redis_url": _from_env(env, "OTEL_LLM_LOOP_REDIS_URL", _redis_url, base.loop_redis_url),
        "proxy_http_spans": _from_env(env, "OTEL_LLM_PROXY_HTTP_SPANS", _bool, base.proxy_http_spans),
        "proxy_router_span": _from_env(env, "OTEL_LLM_PROXY_ROUTER_SPAN", _bool, base.proxy_router_span),
        "proxy_fastapi_telemetry": _from_env(
            env, "OTEL_LLM_PROXY_FASTAPI_TELEMETRY", _one_of(FASTAPI_TELEMETRY_MODES), base.proxy_fastapi_telemetry
        ),
    }
    for key, value in overrides.items():
        if key not in values:
            raise TypeError(f"otel-llm: unknown setting {key!r}; known settings are {', '.join(sorted(values))}")
        if value is not None:
            values[key] = ContentMode(value) if key == "content_mode" and isinstance(value, str) else value
    return Config(**values)  # type: ignore[arg-type]  # values are validated above, keyed by field name
