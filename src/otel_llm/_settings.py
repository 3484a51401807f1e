"""The one table of settings: every environment variable otel-llm reads, how it is parsed, what it means.

Each ``Setting`` names its variable, the ``Config`` field it fills (whose default is the
setting's default: declared once, in ``_config.Config``), its parser and its documentation.
``validate`` runs the table over an environment and returns the values and the problems;
the runtime (``_config.resolve``) logs the problems once, the doctor reports them, and the
reference documentation is generated from the same table. No other module reads an
``OTEL_LLM_*`` variable (tests/test_settings.py enforces it).
"""

from __future__ import annotations

import difflib
import enum
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from . import _parse as p

ENV_PREFIX: Final = "OTEL_LLM_"
CONTENT_ENV: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"


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
        raise p.SettingError(f"set one of {', '.join(m.value for m in ContentMode)}") from None


LOOP_MODES: Final = ("observe", "block", "off")
# How much of FastAPI's own telemetry the proxy keeps (see _proxy/fastapi_telemetry.py).
FASTAPI_TELEMETRY_MODES: Final = ("server", "full", "off")
ATTRIBUTION_CHOICES: Final = ("key", "team", "user", "end_user", "org", "agent")
EXPORTERS: Final = ("otlp", "prometheus", "console", "none")
SPAN_ENCODERS: Final = ("wire", "sdk")  # see _export/span_exporter.py


@dataclass(frozen=True)
class Setting:
    """One environment variable of ours: the Config field it fills, its parser and its meaning."""

    env: str
    field: str
    parse: p.Parser
    doc: str
    # How the default reads in the docs when it is not a plain value ("(derived)", "(unset)").
    shown_default: str | None = None
    # Never echo the value (it may hold a password or a salt).
    secret: bool = False


SETTINGS: Final = (
    Setting(
        CONTENT_ENV,
        "content_mode",
        content_mode,
        "Capture prompts and completions: NO_CONTENT, SPAN_ONLY, EVENT_ONLY or SPAN_AND_EVENT (true = SPAN_ONLY).",
    ),
    Setting(
        "OTEL_LLM_CONTENT_MAX_LENGTH",
        "content_max_length",
        p.positive_int,
        "Maximum characters of captured content per attribute or event body; longer content is truncated.",
    ),
    Setting(
        "OTEL_LLM_ATTRIBUTE_MAX_LENGTH",
        "attribute_max_length",
        p.positive_int,
        "Maximum characters of any other string attribute (model names, ids, error messages).",
    ),
    Setting(
        "OTEL_LLM_METRIC_ATTRIBUTE_VALUE_LIMIT",
        "metric_attribute_value_limit",
        p.positive_int,
        "Distinct values per metric attribute among those seen within OTEL_LLM_METRIC_IDLE_TIMEOUT; later values "
        "are reported as _OTHER and counted in otel_llm.metric.overflow.",
    ),
    Setting(
        "OTEL_LLM_METRIC_SERIES_LIMIT",
        "metric_series_limit",
        p.positive_int,
        "Series per metric; past it, a new series keeps only its bounded attributes (operation, provider, error "
        "type, token type) and reports the rest as _OTHER, counted in otel_llm.metric.overflow.",
    ),
    Setting(
        "OTEL_LLM_METRIC_IDLE_TIMEOUT",
        "metric_idle_timeout_s",
        p.seconds,
        "Seconds after which an attribute value or series not seen again frees its slot and (where otel-llm builds "
        "the pipeline) stops being exported; at least the metric export interval.",
    ),
    Setting(
        "OTEL_LLM_AGENT_FROM",
        "agent_from",
        p.sources(("metadata.", "tag."), 16),
        "Where the agent behind a call is named, first match wins: metadata.<key> (request metadata; LiteLLM puts "
        "the x-litellm-agent-id header in metadata.agent_id) or tag.<prefix> (the first request tag with that "
        "prefix, without it).",
    ),
    Setting(
        "OTEL_LLM_USAGE_RECORDS",
        "usage_records",
        p.boolean,
        "One content-free log record (event otel_llm.usage) per LLM attempt, for chargeback: who, what, tokens, "
        "cost, status, trace; unsampled. false turns them off.",
    ),
    Setting(
        "OTEL_LLM_LEAN_PATH",
        "lean_path",
        p.boolean,
        "Where otel-llm builds the pipeline (the proxy, the demo): true aggregates its metrics in its own store "
        "(bounded, idle series expire, ~20x cheaper per point); false uses the SDK's instruments.",
    ),
    Setting(
        "OTEL_LLM_CALLBACK_TIMEOUT",
        "callback_timeout_s",
        p.seconds,
        "Seconds a live span waits for LiteLLM's logging callback before it is finished from what the call returned.",
    ),
    Setting(
        "OTEL_LLM_PENDING_LIMIT",
        "pending_limit",
        p.positive_int,
        "Most live spans waiting for LiteLLM's callback at once; the oldest is finished early past it.",
    ),
    Setting(
        "OTEL_LLM_EXIT_TIMEOUT",
        "exit_timeout_s",
        p.seconds,
        "Seconds the exit flush waits for LiteLLM's pending logging work before the SDK shuts down.",
    ),
    Setting(
        "OTEL_LLM_METRIC_ATTRIBUTION",
        "metric_attribution",
        p.subset_of(ATTRIBUTION_CHOICES),
        "Who metrics are broken down by: any of key, team, user, end_user, org, agent (or none); histograms take "
        "only team, org and agent, the per-key counters all of them; values stay capped.",
    ),
    Setting(
        "OTEL_LLM_KEY_HASH_SALT",
        "key_hash_salt",
        p.secret,
        "Secret salt of virtual key hashes; derived from LITELLM_MASTER_KEY when unset (random per process without).",
        shown_default="(derived)",
        secret=True,
    ),
    Setting(
        "OTEL_LLM_HEADROOM_TTL",
        "headroom_ttl_s",
        p.seconds,
        "Seconds a budget or rate-limit gauge series is reported after last seen.",
    ),
    Setting(
        "OTEL_LLM_EXPORTER",
        "exporter",
        p.one_of(EXPORTERS),
        "Proxy only, when no SDK is installed: otlp, prometheus (one worker only), console or none.",
    ),
    Setting(
        "OTEL_LLM_PROXY_HTTP_SPANS",
        "proxy_http_spans",
        p.boolean,
        "Proxy only: true instruments httpx and aiohttp so each provider HTTP call is a child span of its attempt.",
    ),
    Setting(
        "OTEL_LLM_PROXY_MCP_UPSTREAM_SPANS",
        "proxy_mcp_upstream_spans",
        p.boolean,
        "Proxy only: true keeps the mcp package's CLIENT spans of the proxy's requests to upstream MCP servers "
        "(initialize, tools/list, tools/call per tool call); by default they fold into the tool call's one span.",
    ),
    Setting(
        "OTEL_LLM_PROXY_FASTAPI_TELEMETRY",
        "proxy_fastapi_telemetry",
        p.one_of(FASTAPI_TELEMETRY_MODES),
        "Proxy only: FastAPI's own telemetry; server (its SERVER span and HTTP metrics), full (plus a span per "
        "dependency, endpoint and serialization) or off (otel-llm's own SERVER span).",
    ),
    Setting(
        "OTEL_LLM_PROXY_ROUTER_SPAN",
        "proxy_router_span",
        p.boolean,
        "Proxy only: true gives each Router request an INTERNAL span between the SERVER span and its attempts.",
    ),
    Setting(
        "OTEL_LLM_PROXY_SPAN_ENCODER",
        "proxy_span_encoder",
        p.one_of(SPAN_ENCODERS),
        "Proxy only, OTLP over HTTP: wire (otel-llm writes the SDK encoder's exact bytes, ~4x cheaper) or sdk "
        "(the SDK's encoder).",
    ),
    Setting(
        "OTEL_LLM_LOOP_MODE",
        "loop_mode",
        p.one_of(LOOP_MODES),
        "Runaway-loop detection: observe (report only), block (refuse with 429 during the cool-down) or off.",
    ),
    Setting("OTEL_LLM_LOOP_WINDOW", "loop_window_s", p.seconds, "Seconds of calls each loop window keeps."),
    Setting(
        "OTEL_LLM_LOOP_REPEATS",
        "loop_repeats",
        p.positive_int,
        "Identical requests (or identical last two messages) in a window that make a loop.",
    ),
    Setting(
        "OTEL_LLM_LOOP_GROWTH_CALLS",
        "loop_growth_calls",
        p.positive_int,
        "Consecutive calls with a growing prompt that make a loop, if within OTEL_LLM_LOOP_GROWTH_SECONDS.",
    ),
    Setting(
        "OTEL_LLM_LOOP_GROWTH_SECONDS",
        "loop_growth_seconds",
        p.seconds,
        "Time span within which OTEL_LLM_LOOP_GROWTH_CALLS growing calls count as machine speed.",
    ),
    Setting(
        "OTEL_LLM_LOOP_GROWTH_FACTOR",
        "loop_growth_factor",
        p.factor,
        "How much the prompt must grow over those calls (last / first input tokens).",
    ),
    Setting(
        "OTEL_LLM_LOOP_SPEND_PER_MINUTE",
        "loop_spend_per_minute",
        p.usd,
        "USD spent by one scope in the last minute that makes a loop.",
    ),
    Setting(
        "OTEL_LLM_LOOP_SESSION_RATE",
        "loop_session_rate",
        p.positive_int,
        "Calls in the last minute within one session (litellm_session_id) that make a loop.",
    ),
    Setting(
        "OTEL_LLM_LOOP_COOLDOWN",
        "loop_cooldown_s",
        p.seconds,
        "Seconds a detection lasts: counted once, and (block mode) calls refused until it ends.",
    ),
    Setting(
        "OTEL_LLM_LOOP_MAX_WINDOWS",
        "loop_max_windows",
        p.positive_int,
        "Most loop windows kept in process (least recently used dropped first).",
    ),
    Setting(
        "OTEL_LLM_LOOP_REDIS_URL",
        "loop_redis_url",
        p.redis_url,
        "Redis URL to share loop windows across workers and replicas; Redis down degrades to in-process windows.",
        shown_default="(unset)",
        secret=True,
    ),
    Setting(
        "OTEL_LLM_BUDGET_POLL",
        "budget_poll",
        p.boolean,
        "Proxy only: true reads the budget state of every key, team, user, organisation and budgeted end user from "
        "LiteLLM's PostgreSQL database (OTEL_LLM_BUDGET_DATABASE_URL, else DATABASE_URL) on a schedule, in one "
        "process per deployment (a PostgreSQL advisory lock), and reports it as budget gauges.",
    ),
    Setting(
        "OTEL_LLM_BUDGET_DATABASE_URL",
        "budget_database_url",
        p.postgres_url,
        "Proxy only: the PostgreSQL URL the budget poller reads (a direct connection or session pooling: the lock "
        "needs a session); unset, LiteLLM's DATABASE_URL (Prisma-only parameters dropped), or DIRECT_URL when "
        "DATABASE_URL goes through PgBouncer in transaction mode.",
        shown_default="(DATABASE_URL)",
        secret=True,
    ),
    Setting(
        "OTEL_LLM_BUDGET_POLL_INTERVAL",
        "budget_poll_interval_s",
        p.seconds_at_least(1.0),
        "Proxy only: seconds between budget polls, and between a standby's attempts to take over; at most a third "
        "of OTEL_LLM_HEADROOM_TTL (a longer interval is shortened to it, with a warning), so budget gauges stay "
        "fresh through a missed poll.",
    ),
    Setting(
        "OTEL_LLM_BUDGET_MAX_ROWS",
        "budget_max_rows",
        p.positive_int,
        "Proxy only: most rows one budget poll reads per table (keys, teams, users, organisations, end users); "
        "past it the poll stops reading that table and counts itself as truncated.",
    ),
    Setting(
        "OTEL_LLM_RAISE_INTERNAL_ERRORS",
        "raise_internal_errors",
        p.boolean,
        "Re-raise internal telemetry errors instead of logging them (for tests).",
    ),
)

BY_ENV: Final = {s.env: s for s in SETTINGS}
KNOWN_ENV: Final = frozenset(BY_ENV)


@dataclass(frozen=True)
class Problem:
    """A setting that cannot be used as given: an invalid value (error) or an unknown name (warning)."""

    setting: str
    severity: Literal["error", "warning"]
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.message}: {self.fix}"


def validate(env: Mapping[str, str] | None = None) -> tuple[dict[str, object], list[Problem]]:
    """Every setting of the table read from ``env`` (``os.environ`` by default).

    Returns the valid values set in ``env``, keyed by Config field (unset, blank and invalid
    ones are left out: the default applies), and the problems: each invalid value with its
    fix, and each unknown ``OTEL_LLM_*`` name (likely a typo) with the closest known one.
    """
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    problems: list[Problem] = []
    for setting in SETTINGS:
        raw = env.get(setting.env)
        if raw is None or not raw.strip():
            continue
        try:
            values[setting.field] = setting.parse(raw)
        except p.SettingError as error:
            shown = setting.env if setting.secret else f"{setting.env}={raw!r}"
            problems.append(Problem(setting.env, "error", f"{shown} is invalid", error.fix))
    for name in sorted(env):
        if name.startswith(ENV_PREFIX) and name not in KNOWN_ENV:
            guess = difflib.get_close_matches(name, sorted(KNOWN_ENV), n=1)
            fix = f"did you mean {guess[0]}? Rename it, or unset {name}" if guess else f"unset {name}"
            problems.append(Problem(name, "warning", f"unknown setting {name} is ignored", fix))
    return values, problems


def read(name: str, env: Mapping[str, str] | None = None) -> object | None:
    """One setting's valid value from ``env`` (``os.environ`` by default), or None: for the few reads
    that must happen before a Config exists (strict mode at import)."""
    setting = BY_ENV[name]
    raw = (os.environ if env is None else env).get(name)
    if raw is None or not raw.strip():
        return None
    try:
        return setting.parse(raw)
    except p.SettingError:
        return None
