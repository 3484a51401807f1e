"""Settings, resolved once into a frozen object: argument > environment > default.

The defaults are declared here, once, on ``Config``; the variables, parsers and docs in
``_settings.SETTINGS``. A bad value never stops the host: it is reported once, naming the
setting and the fix, and the default is used. Nothing here is read on the per-call path.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from . import _state
from ._parse import ContentMode
from ._settings import ATTRIBUTION_CHOICES, CONTENT_ENV, FASTAPI_TELEMETRY_MODES, LOOP_MODES, Setting
from ._validation import BY_ENV, Problem, validate

__all__ = [
    "ATTRIBUTION_CHOICES",
    "CONTENT_ENV",
    "FASTAPI_TELEMETRY_MODES",
    "LOOP_MODES",
    "Config",
    "ContentMode",
    "default_text",
    "resolve",
    "settings_of",
]

_log: Final = logging.getLogger("otel_llm")


@dataclass(frozen=True)
class Config:
    """Resolved settings for one callback/instrumentor (defaults declared here only)."""

    content_mode: ContentMode = ContentMode.NO_CONTENT
    content_max_length: int = 16384
    attribute_max_length: int = 512
    metric_attribute_value_limit: int = 20000
    metric_series_limit: int = 100000
    metric_idle_timeout_s: float = 3600.0
    agent_from: tuple[str, ...] = ("metadata.agent_id",)
    lean_path: bool = True
    usage_records: bool = True
    callback_timeout_s: float = 60.0
    pending_limit: int = 10000
    exit_timeout_s: float = 5.0
    raise_internal_errors: bool = False
    metric_attribution: frozenset[str] = frozenset({"key", "team", "agent"})
    key_hash_salt: str | None = field(default=None, repr=False)
    headroom_ttl_s: float = 300.0
    exporter: str = "otlp"
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
    loop_redis_url: str | None = field(default=None, repr=False)
    proxy_http_spans: bool = False
    proxy_mcp_upstream_spans: bool = False
    proxy_fastapi_telemetry: str = "server"
    proxy_router_span: bool = False
    proxy_span_encoder: str = "wire"
    proxy_emitter: str = "inline"
    budget_poll: bool = True
    budget_database_url: str | None = field(default=None, repr=False)
    budget_poll_interval_s: float = 60.0
    budget_max_rows: int = 100000

    @functools.cached_property
    def loop_settings(self) -> tuple[object, ...]:
        """Every ``loop_*`` setting, as one key: callbacks with the same ones share a loop detector.
        Computed once per Config (reading them off the dataclass cost ~4 µs, and every call asks)."""
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self) if f.name.startswith("loop_"))


_FIELDS: Final = {f.name: f for f in dataclasses.fields(Config)}


def default_text(setting: Setting) -> str:
    """How a setting's default reads in the docs: ``8``, ``key,team``, ``false``, ``(unset)``."""
    if setting.shown_default is not None:
        return setting.shown_default
    value = _FIELDS[setting.field].default
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, frozenset):
        return ",".join(sorted(value)) or "none"
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_reported_lock: Final = threading.Lock()
_reported: set[Problem] = set()


def report_problems(problems: list[Problem]) -> None:
    """Log each problem once per process (several callbacks resolve the same environment)."""
    for problem in problems:
        with _reported_lock:
            if problem in _reported:
                continue
            _reported.add(problem)
        if problem.severity == "error":
            default = default_text(BY_ENV[problem.setting])
            _log.warning("otel-llm: %s: %s. Using the default %s.", problem.message, problem.fix, default)
        else:
            _log.warning("otel-llm: %s: %s.", problem.message, problem.fix)


def forget_reported_problems() -> None:
    """Log every problem again on the next resolve (tests, state reset)."""
    with _reported_lock:
        _reported.clear()


def settings_of(env: Mapping[str, str]) -> Config:
    """The Config ``env`` gives, without logging its problems (the doctor reports them itself)."""
    values, _ = validate(env)
    return Config(**values)  # type: ignore[arg-type]  # each value was parsed by its field's own parser


def resolve(env: Mapping[str, str] | None = None, **overrides: object) -> Config:
    """Build the Config from keyword overrides, then the environment (``os.environ`` by default),
    then the defaults; log each problem of the environment once."""
    values, problems = validate(env)
    report_problems(problems)
    for key, value in overrides.items():
        if key not in _FIELDS:
            raise TypeError(f"otel-llm: unknown setting {key!r}; known settings are {', '.join(sorted(_FIELDS))}")
        if value is not None:
            values[key] = ContentMode(value) if key == "content_mode" and isinstance(value, str) else value
    return Config(**values)  # type: ignore[arg-type]  # each value was parsed by its field's own parser


_state.register("reported setting problems", "each bad setting is logged once per process", forget_reported_problems)
