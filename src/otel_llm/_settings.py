"""The one table of settings: every environment variable otel-llm reads, how it is parsed, what it means.

Each ``Setting`` names its variable, the ``Config`` field it fills (whose default is the
setting's default: declared once, in ``_config.Config``), its parser and its documentation.
``_validation.validate`` runs the table over an environment and returns the values and the
problems; the runtime (``_config.resolve``) logs the problems once, the doctor reports them,
and the reference documentation is generated from the same table. No other module reads an
``OTEL_LLM_*`` variable (tests/test_settings.py enforces it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from . import _parse as p
from ._parse import content_mode

ENV_PREFIX: Final = "OTEL_LLM_"
CONTENT_ENV: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"


LOOP_MODES: Final = ("observe", "block", "off")
# How much of FastAPI's own telemetry the proxy keeps (see _proxy/fastapi_telemetry.py).
FASTAPI_TELEMETRY_MODES: Final = ("server", "full", "off")
ATTRIBUTION_CHOICES: Final = ("key", "team", "user", "end_user", "org", "agent")
EXPORTERS: Final = ("otlp", "prometheus", "console", "none")
SPAN_ENCODERS: Final = ("wire", "sdk")  # see _export/span_exporter.py
EMITTERS: Final = ("inline", "process")  # see _export/emitter_process.py


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
        (
            "Capture prompts and completions: `NO_CONTENT`, `SPAN_ONLY`, `EVENT_ONLY` or `SPAN_AND_EVENT` (`true`"
            " = `SPAN_ONLY`, `false` = `NO_CONTENT`)."
        ),
    ),
    Setting(
        "OTEL_LLM_CONTENT_MAX_LENGTH",
        "content_max_length",
        p.positive_int,
        (
            "Maximum characters of captured content per attribute or event; past it, every long text part is cut "
            "to an equal share (marked `…[truncated]`), roles and order kept, and the JSON stays valid."
        ),
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
        (
            "Distinct values per metric attribute among those seen within `OTEL_LLM_METRIC_IDLE_TIMEOUT`; later "
            "values are reported as `_OTHER` and counted in `otel_llm.metric.overflow` (one warning), until some "
            "go idle."
        ),
    ),
    Setting(
        "OTEL_LLM_METRIC_SERIES_LIMIT",
        "metric_series_limit",
        p.positive_int,
        (
            "Series per metric; past it, a new series keeps only its bounded attributes (operation, provider, "
            "error type, token type) and reports the rest as `_OTHER`, counted in `otel_llm.metric.overflow`. A "
            "headroom gauge past it is not reported at all (a budget under `_OTHER` would be a stranger's)."
        ),
    ),
    Setting(
        "OTEL_LLM_METRIC_IDLE_TIMEOUT",
        "metric_idle_timeout_s",
        p.seconds,
        (
            "Seconds after which an attribute value or series not seen again frees its slot and, where otel-llm "
            "builds the pipeline, stops being exported (after its last value went out). Never shorter than the "
            "metric export interval (`OTEL_METRIC_EXPORT_INTERVAL`; a shorter value is raised to it, with a "
            "warning)."
        ),
    ),
    Setting(
        "OTEL_LLM_AGENT_FROM",
        "agent_from",
        p.sources(("metadata.", "tag."), 16),
        (
            "Where the agent behind a call is named (`gen_ai.agent.id`), first match wins: `metadata.<key>` (the "
            "request's metadata; LiteLLM puts the `x-litellm-agent-id` header and the key's agent in "
            "`metadata.agent_id`) or `tag.<prefix>` (the first request tag starting with the prefix, without it: "
            "`tag.agent:` reads `agent:planner` as `planner`). At most 16 entries; `none` reads no agent."
        ),
    ),
    Setting(
        "OTEL_LLM_USAGE_RECORDS",
        "usage_records",
        p.boolean,
        (
            "One content-free usage record (log event `otel_llm.usage`) per LLM attempt, for chargeback (see "
            "Usage records); `false` turns them off. In the proxy, otel-llm installs an OTLP log pipeline for "
            "them when it builds the providers."
        ),
    ),
    Setting(
        "OTEL_LLM_LEAN_PATH",
        "lean_path",
        p.boolean,
        (
            "Where otel-llm builds the pipeline (the proxy with no SDK installed, `otel_llm.setup()`, the demo): "
            "`true` aggregates otel-llm's metrics in its own store (a dict lookup per point instead of the SDK's "
            "attribute cleaning and hashing; idle series expire; proved equal to the SDK's points by "
            "tests/test_metric_store.py); "
            "`false` uses the SDK's instruments. Providers the application owns always get the SDK's instruments."
        ),
    ),
    Setting(
        "OTEL_LLM_CALLBACK_TIMEOUT",
        "callback_timeout_s",
        p.seconds,
        (
            "Seconds a live span waits for LiteLLM's callback before it is finished from what the call returned "
            "(`otel_llm.span.incomplete`)."
        ),
    ),
    Setting(
        "OTEL_LLM_PENDING_LIMIT",
        "pending_limit",
        p.positive_int,
        "Most live spans waiting for LiteLLM's callback at once; past it the oldest is finished early.",
    ),
    Setting(
        "OTEL_LLM_EXIT_TIMEOUT",
        "exit_timeout_s",
        p.seconds,
        (
            "Seconds the exit flush, and the end of each event loop LiteLLM was called on (`asyncio.run` per "
            "job), wait for LiteLLM's pending logging work."
        ),
    ),
    Setting(
        "OTEL_LLM_METRIC_ATTRIBUTION",
        "metric_attribution",
        p.subset_of(ATTRIBUTION_CHOICES),
        (
            "Who metrics are broken down by: any of `key`, `team`, `user`, `end_user`, `org`, `agent`, or `none`."
            " The histograms take only the groups (`team`, `org`, `agent`); the per-key counters all of them. "
            "Each value is still capped."
        ),
    ),
    Setting(
        "OTEL_LLM_KEY_HASH_SALT",
        "key_hash_salt",
        p.secret,
        (
            "Secret salt of virtual key hashes. Unset: derived from the proxy's master key, from "
            "`LITELLM_MASTER_KEY` or from `general_settings.master_key` in config.yaml (stable across workers and"
            " replicas); without either, random per process (hashes then differ between workers: a warning says "
            "so)."
        ),
        shown_default="(derived)",
        secret=True,
    ),
    Setting(
        "OTEL_LLM_HEADROOM_TTL",
        "headroom_ttl_s",
        p.seconds,
        (
            "Seconds a budget or limit gauge series keeps being reported after it was last seen; values of a "
            "one-minute window (rpm/tpm utilization, spend velocity, provider remaining requests/tokens) at most "
            "60 s."
        ),
    ),
    Setting(
        "OTEL_LLM_EXPORTER",
        "exporter",
        p.one_of(EXPORTERS),
        (
            "Proxy and `otel_llm.setup()`, when no SDK is installed: `otlp`, `prometheus` (one worker only; "
            "needs `pip install 'otel-llm[proxy,prometheus]'`, otherwise the proxy falls back to OTLP), `console` "
            "or `none`."
        ),
    ),
    Setting(
        "OTEL_LLM_PROXY_HTTP_SPANS",
        "proxy_http_spans",
        p.boolean,
        (
            "Proxy: `true` instruments httpx and aiohttp so each provider HTTP call is a child span of its "
            "attempt (honours `OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`). Off by default: the attempt span already "
            "times each provider call, and the HTTP span and its `http.client.*` metrics cost about 4% of "
            "throughput."
        ),
    ),
    Setting(
        "OTEL_LLM_PROXY_MCP_UPSTREAM_SPANS",
        "proxy_mcp_upstream_spans",
        p.boolean,
        (
            "Proxy: `true` keeps the `mcp` package's CLIENT spans of the proxy's requests to upstream MCP servers"
            " (`MCP send initialize`, `tools/list`, `tools/call`: three per tool call, plus root spans of "
            "LiteLLM's background tool listings). Off by default: they fold into the tool call's one "
            "`execute_tool` span, and the upstream server's spans still continue the trace."
        ),
    ),
    Setting(
        "OTEL_LLM_PROXY_FASTAPI_TELEMETRY",
        "proxy_fastapi_telemetry",
        p.one_of(FASTAPI_TELEMETRY_MODES),
        (
            "Proxy: how much of FastAPI's own telemetry (recent FastAPI versions switch it on once providers "
            "exist) to keep: `server` (its SERVER span and `http.server.*` metrics), `full` (plus a span per "
            "dependency, endpoint and serialization: 3 more spans per request) or `off` (otel-llm's own SERVER "
            "span per LLM request; the leanest)."
        ),
    ),
    Setting(
        "OTEL_LLM_PROXY_ROUTER_SPAN",
        "proxy_router_span",
        p.boolean,
        (
            "Proxy: `true` gives each model-group (Router) request an INTERNAL span of its own between the "
            "request's SERVER span and its attempts. Off by default: the SERVER span carries the Router's counts,"
            " model group and retry/fallback events, one span fewer per request (a third fewer spans to encode, "
            "export and store; the CPU saved, ≤ 0.1 ms per request, is below what `benchmarks/` resolves). With "
            "`OTEL_LLM_PROXY_FASTAPI_TELEMETRY=off` the Router span is kept (otel-llm's own request span is not "
            "current during the call)."
        ),
    ),
    Setting(
        "OTEL_LLM_PROXY_SPAN_ENCODER",
        "proxy_span_encoder",
        p.one_of(SPAN_ENCODERS),
        (
            "Proxy, when otel-llm installs the providers and exports OTLP over HTTP: `wire` encodes spans with "
            "otel-llm's encoder, which writes exactly the bytes of the SDK's encoder (tested byte for byte) in "
            "~15 µs per proxy span instead of ~60. Each sampled span is encoded when it ends and the span batch "
            "queue holds its bytes, so no span object waits in the queue for the next export (where LiteLLM's "
            "garbage collector would promote it); the exporter thread only frames and sends. A span holding a "
            "value the encoder does not handle (an integer beyond int64, a string that is not UTF-8) is queued as "
            "the span and goes through the SDK's encoder, and every span does if the installed OTLP exporter is "
            "not the version it was written against. On the lean path (`OTEL_LLM_LEAN_PATH`) it also encodes log "
            "records (usage records, content events) when they are emitted, so the batch queue holds bytes, not SDK"
            " records (same bytes as the SDK's, tested; a map body or an attribute beyond the SDK's limits takes the"
            " SDK's way). Metric exports are encoded by otel-llm's metric encoder too (the same bytes as the SDK's, "
            "tested; 3-4x faster: 40,000 points in ~160 ms instead of ~550, time the reader's thread holds the "
            "GIL the event loop needs; an exponential histogram or a batch size limit takes the SDK's way). `sdk` "
            "uses the SDK's encoders throughout. gRPC always uses the SDK's."
        ),
    ),
    Setting(
        "OTEL_LLM_PROXY_EMITTER",
        "proxy_emitter",
        p.one_of(EMITTERS),
        (
            "Proxy, when otel-llm installs the providers and exports OTLP on the lean path: where each LLM "
            "attempt's telemetry is made. `inline` (the default): in the worker. `process`: the worker builds the "
            "attempt's record, runs loop detection and decides the attempt span's ids (so the trace still reaches "
            "the provider), and a process beside each worker makes the span, the metric points, headroom gauges, "
            "usage records and content events from it and exports them, off the worker's interpreter lock (about 4 "
            "points of proxy throughput in `benchmarks/`). That process is its own `service.instance.id`; FastAPI's "
            "SERVER span, Router spans, MCP, guardrail and A2A hops and budget polling stay in the worker. While it "
            "cannot take records (starting, restarting after a crash, falling behind) the worker emits them itself, "
            "counted in `otel_llm.internal.errors` (component `export.emitter_process`). Ignored, with a warning, "
            "where the providers are the application's or the exporter is not OTLP."
        ),
    ),
    Setting(
        "OTEL_LLM_LOOP_MODE",
        "loop_mode",
        p.one_of(LOOP_MODES),
        (
            "Runaway-loop detection: `observe` (report only), `block` (refuse with 429 / `LoopBlockedError` "
            "during the cool-down) or `off`."
        ),
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
        "Consecutive calls with a growing prompt that make a loop (within `OTEL_LLM_LOOP_GROWTH_SECONDS`).",
    ),
    Setting(
        "OTEL_LLM_LOOP_GROWTH_SECONDS",
        "loop_growth_seconds",
        p.seconds,
        "Time span within which those calls count as machine speed.",
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
        "Calls in the last minute within one session that make a loop.",
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
        (
            "Redis URL (`redis://`, `rediss://` or `unix://`) to share loop windows across workers and replicas; "
            "needs the `redis` extra."
        ),
        shown_default="(unset)",
        secret=True,
    ),
    Setting(
        "OTEL_LLM_BUDGET_POLL",
        "budget_poll",
        p.boolean,
        (
            "Proxy: read the budget state of every key, team, user, organisation and budgeted end user from "
            "LiteLLM's PostgreSQL database on a schedule, in one process per deployment (see Budget state from "
            "LiteLLM's database). Only when a database is configured (`OTEL_LLM_BUDGET_DATABASE_URL` or "
            "`DATABASE_URL`); needs psycopg (the `proxy` extra)."
        ),
    ),
    Setting(
        "OTEL_LLM_BUDGET_DATABASE_URL",
        "budget_database_url",
        p.postgres_url,
        (
            "Proxy: the PostgreSQL URL (`postgresql://litellm:password@postgres:5432/litellm`, libpq parameters "
            "allowed) the budget poller reads, when it should not be LiteLLM's `DATABASE_URL` (whose Prisma-only "
            "parameters, such as `connection_limit`, are dropped and whose `schema=` is honoured; `DIRECT_URL` is"
            " read instead when `DATABASE_URL` goes through PgBouncer in transaction mode): a direct connection "
            "when neither will do, a read-only role, or a proxy running without a database. Never logged."
        ),
        shown_default="(DATABASE_URL)",
        secret=True,
    ),
    Setting(
        "OTEL_LLM_BUDGET_POLL_INTERVAL",
        "budget_poll_interval_s",
        p.seconds_at_least(1.0),
        (
            "Proxy: seconds between budget polls, and between a standby's attempts to take over (at least 1). At "
            "most a third of `OTEL_LLM_HEADROOM_TTL`: a longer interval is shortened to it, with a warning, so "
            "budget gauges stay fresh through a missed poll."
        ),
    ),
    Setting(
        "OTEL_LLM_BUDGET_MAX_ROWS",
        "budget_max_rows",
        p.positive_int,
        (
            "Proxy: most rows one budget poll reads per table (keys, teams, users, organisations, end users); "
            "past it the poll stops reading that table, counts itself `truncated` in `otel_llm.budget.polls` and "
            "logs the fix once a minute."
        ),
    ),
    Setting(
        "OTEL_LLM_RAISE_INTERNAL_ERRORS",
        "raise_internal_errors",
        p.boolean,
        "Re-raise internal telemetry errors instead of logging them (tests).",
    ),
)
