"""The documented settings: every environment variable of ours, its default and meaning.

The README's environment table is checked against this list (tests/test_docs.py); ``_config``
parses the values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

ENV_PREFIX: Final = "OTEL_LLM_"
CONTENT_ENV: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"


@dataclass(frozen=True)
class Setting:
    """One documented environment variable of ours."""

    env: str
    default: str
    doc: str


SETTINGS: Final = (
    Setting(
        CONTENT_ENV,
        "NO_CONTENT",
        "Capture prompts and completions: NO_CONTENT, SPAN_ONLY, EVENT_ONLY or SPAN_AND_EVENT (true = SPAN_ONLY).",
    ),
    Setting(
        "OTEL_LLM_CONTENT_MAX_LENGTH",
        "16384",
        "Maximum characters of captured content per attribute or event body; longer content is truncated.",
    ),
    Setting(
        "OTEL_LLM_ATTRIBUTE_MAX_LENGTH",
        "512",
        "Maximum characters of any other string attribute (model names, ids, error messages).",
    ),
    Setting(
        "OTEL_LLM_METRIC_ATTRIBUTE_VALUE_LIMIT",
        "200",
        "Distinct values kept per metric attribute; later values are reported as _OTHER.",
    ),
    Setting(
        "OTEL_LLM_METRIC_SERIES_LIMIT",
        "1000",
        "Distinct attribute combinations kept per metric; later ones keep only operation, provider and error type.",
    ),
    Setting(
        "OTEL_LLM_CALLBACK_TIMEOUT",
        "60",
        "Seconds a live span waits for LiteLLM's logging callback before it is finished from what the call returned.",
    ),
    Setting(
        "OTEL_LLM_PENDING_LIMIT",
        "10000",
        "Most live spans waiting for LiteLLM's callback at once; the oldest is finished early past it.",
    ),
    Setting(
        "OTEL_LLM_EXIT_TIMEOUT",
        "5",
        "Seconds the exit flush waits for LiteLLM's pending logging work before the SDK shuts down.",
    ),
    Setting(
        "OTEL_LLM_METRIC_ATTRIBUTION",
        "key,team",
        "Who metrics are broken down by: any of key, team, user, end_user, org (or none); values stay capped.",
    ),
    Setting(
        "OTEL_LLM_KEY_HASH_SALT",
        "(derived)",
        "Secret salt of virtual key hashes; derived from LITELLM_MASTER_KEY when unset (random per process without).",
    ),
    Setting("OTEL_LLM_HEADROOM_TTL", "300", "Seconds a budget or rate-limit gauge series is reported after last seen."),
    Setting(
        "OTEL_LLM_EXPORTER",
        "otlp",
        "Proxy only, when no SDK is installed: otlp, prometheus (one worker only), console or none.",
    ),
    Setting(
        "OTEL_LLM_PROXY_HTTP_SPANS",
        "false",
        "Proxy only: true instruments httpx and aiohttp so each provider HTTP call is a child span of its attempt.",
    ),
    Setting(
        "OTEL_LLM_PROXY_FASTAPI_TELEMETRY",
        "server",
        "Proxy only: FastAPI's own telemetry; server (its SERVER span and HTTP metrics), full (plus a span per "
        "dependency, endpoint and serialization) or off (otel-llm's own SERVER span).",
    ),
    Setting(
        "OTEL_LLM_PROXY_ROUTER_SPAN",
        "false",
        "Proxy only: true gives each Router request an INTERNAL span between the SERVER span and its attempts.",
    ),
    Setting(
        "OTEL_LLM_PROXY_SPAN_ENCODER",
        "wire",
        "Proxy only, OTLP over HTTP: wire (otel-llm writes the SDK encoder's exact bytes, ~4x cheaper) or sdk "
        "(the SDK's encoder).",
    ),
    Setting(
        "OTEL_LLM_LOOP_MODE",
        "observe",
        "Runaway-loop detection: observe (report only), block (refuse with 429 during the cool-down) or off.",
    ),
    Setting("OTEL_LLM_LOOP_WINDOW", "300", "Seconds of calls each loop window keeps."),
    Setting(
        "OTEL_LLM_LOOP_REPEATS",
        "8",
        "Identical requests (or identical last two messages) in a window that make a loop.",
    ),
    Setting(
        "OTEL_LLM_LOOP_GROWTH_CALLS",
        "10",
        "Consecutive calls with a growing prompt that make a loop, if within OTEL_LLM_LOOP_GROWTH_SECONDS.",
    ),
    Setting(
        "OTEL_LLM_LOOP_GROWTH_SECONDS",
        "60",
        "Time span within which OTEL_LLM_LOOP_GROWTH_CALLS growing calls count as machine speed.",
    ),
    Setting(
        "OTEL_LLM_LOOP_GROWTH_FACTOR",
        "2",
        "How much the prompt must grow over those calls (last / first input tokens).",
    ),
    Setting("OTEL_LLM_LOOP_SPEND_PER_MINUTE", "5", "USD spent by one scope in the last minute that makes a loop."),
    Setting(
        "OTEL_LLM_LOOP_SESSION_RATE",
        "60",
        "Calls in the last minute within one session (litellm_session_id) that make a loop.",
    ),
    Setting(
        "OTEL_LLM_LOOP_COOLDOWN",
        "300",
        "Seconds a detection lasts: counted once, and (block mode) calls refused until it ends.",
    ),
    Setting(
        "OTEL_LLM_LOOP_MAX_WINDOWS", "10000", "Most loop windows kept in process (least recently used dropped first)."
    ),
    Setting(
        "OTEL_LLM_LOOP_REDIS_URL",
        "(unset)",
        "Redis URL to share loop windows across workers and replicas; Redis down degrades to in-process windows.",
    ),
    Setting(
        "OTEL_LLM_RAISE_INTERNAL_ERRORS",
        "false",
        "Re-raise internal telemetry errors instead of logging them (for tests).",
    ),
)
