"""The plain invocation record: what one LLM attempt did, independent of OpenTelemetry.

Capture code builds records; emitters read them. Times are epoch nanoseconds. A field
is ``None`` when LiteLLM did not report it, and ``None`` never reaches an attribute.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final


def _from_values(cls: type, values: tuple[object, ...]) -> object:
    """A slotted record from its fields' values in slot order (what ``_as_values`` pickles)."""
    obj: object = object.__new__(cls)
    for name, value in zip(getattr(cls, "__slots__"), values, strict=True):  # noqa: B009  # mypy: type has none
        object.__setattr__(obj, name, value)
    return obj


_GETTERS: Final[dict[type, Callable[[object], tuple[object, ...]]]] = {}


def _as_values(obj: object) -> tuple[object, tuple[object, ...]]:
    """``__reduce__`` of a slotted record: its values without their names (the proxy's emitter
    process receives one record per LLM attempt; by name, pickling one took twice as long)."""
    cls = type(obj)
    getter = _GETTERS.get(cls)
    if getter is None:
        getter = _GETTERS[cls] = operator.attrgetter(*getattr(cls, "__slots__"))  # noqa: B009
    return _from_values, (cls, getter(obj))


def elapsed_s(start_ns: int | None, end_ns: int | None) -> float | None:
    """Seconds from ``start_ns`` to ``end_ns`` (never negative); None when either is unknown."""
    if start_ns is None or end_ns is None:
        return None
    return max(0, end_ns - start_ns) / 1e9


@dataclass(frozen=True)
class RouteStep:
    """Why this attempt exists: a retry within a model group or a fallback to another."""

    kind: str  # "retry" | "fallback"
    from_model_group: str | None
    to_model_group: str | None
    error_type: str | None
    retry_index: int = 0


@dataclass(frozen=True)
class RouterOutcome:
    """How one logical Router request ended: its attempts and, when it failed, why."""

    attempts: int
    retries: int
    fallbacks: int
    served_model_group: str | None = None  # the group whose answer the caller got (None: failed)
    error_type: str | None = None
    error_message: str | None = None


@dataclass(slots=True)  # one per call: no __dict__ per call
class Attribution:
    """Who made the call (filled on the proxy; empty for SDK use)."""

    key_alias: str | None = None
    key_hash: str | None = None
    team_id: str | None = None
    team_alias: str | None = None
    user_id: str | None = None
    end_user: str | None = None
    org_id: str | None = None
    tags: tuple[str, ...] = ()
    # The agent behind the call (x-litellm-agent-id, request metadata, LiteLLM's agent registry).
    agent_id: str | None = None
    agent_name: str | None = None

    __reduce__ = _as_values


@dataclass(frozen=True, slots=True)
class Headroom:
    """Budget and rate-limit state seen on this call (proxy keys, provider headers)."""

    key_spend: float | None = None
    key_max_budget: float | None = None
    team_spend: float | None = None
    team_max_budget: float | None = None
    key_rpm_limit: int | None = None
    key_rpm_remaining: int | None = None
    key_tpm_limit: int | None = None
    key_tpm_remaining: int | None = None
    team_rpm_limit: int | None = None
    team_rpm_remaining: int | None = None
    team_tpm_limit: int | None = None
    team_tpm_remaining: int | None = None
    provider_remaining_requests: int | None = None
    provider_remaining_tokens: int | None = None
    provider_limit_requests: int | None = None
    provider_limit_tokens: int | None = None

    def __reduce__(self) -> str | tuple[object, tuple[object, ...]]:
        return "NO_HEADROOM" if self is NO_HEADROOM else _as_values(self)  # the shared one stays shared


# A call that saw no budget or rate limit (frozen, so one instance serves every such record).
NO_HEADROOM: Final = Headroom()


@dataclass(frozen=True)
class LoopDetection:
    """A runaway loop detected on this call: why, the window's figures, and the action."""

    reason: str  # repeat | token_growth | spend_velocity | rate
    action: str  # observed | blocked
    window_calls: int
    window_seconds: float
    repeats: int
    calls_last_minute: int
    spend_per_minute: float
    input_growth: float
    cooldown_seconds: float
    cooldown_until: float  # epoch seconds

    def summary(self) -> str:
        figures = {
            "repeat": f"{self.repeats} identical requests in {self.window_seconds:.0f}s",
            "token_growth": f"prompt grew {self.input_growth:.1f}x over consecutive calls at machine speed",
            "spend_velocity": f"${self.spend_per_minute:.2f} spent in the last minute",
            "rate": f"{self.calls_last_minute} calls in the last minute of one session",
        }
        return figures.get(self.reason, self.reason)


@dataclass
class Content:
    """Captured messages in the conventions' structured form (JSON text), only when opted in."""

    input_messages: str | None = None
    output_messages: str | None = None


@dataclass(slots=True)  # one per call: no __dict__ per call
class InvocationRecord:
    """One LLM attempt, as LiteLLM reported it."""

    call_id: str | None
    operation: str
    call_type: str | None = None
    provider: str | None = None
    request_model: str | None = None
    response_model: str | None = None
    model_group: str | None = None
    deployment_id: str | None = None
    server_address: str | None = None
    server_port: int | None = None
    output_type: str | None = None

    # Request parameters
    stream: bool | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    seed: int | None = None
    choice_count: int | None = None
    stop_sequences: tuple[str, ...] = ()
    encoding_formats: tuple[str, ...] = ()
    conversation_id: str | None = None

    # Response
    response_id: str | None = None
    finish_reasons: tuple[str, ...] = ()
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_creation_tokens: int | None = None
    reasoning_tokens: int | None = None
    embedding_dimensions: int | None = None
    cost_usd: float | None = None
    # LiteLLM's cost breakdown: (component, USD) for input, output, cache_read, cache_creation,
    # reasoning (part of output) and tool; only the components LiteLLM reported.
    cost_components: tuple[tuple[str, float], ...] = ()
    # USD the cache reads saved: their price at the model's input rate, less what they cost.
    cache_savings_usd: float | None = None
    usage_source: str | None = None  # provider | estimated | missing
    cost_source: str | None = None  # litellm | unpriced
    cache_hit: bool | None = None

    # Timing (epoch ns); first_chunk only for streams
    start_ns: int | None = None
    end_ns: int | None = None
    first_chunk_ns: int | None = None
    # Inter-chunk gaps in seconds, known only when the stream was observed live.
    chunk_intervals_s: tuple[float, ...] = ()

    # Failure
    error_type: str | None = None
    error_message: str | None = None
    error_status_code: int | None = None  # the HTTP status LiteLLM gave the failure, where it did

    # Routing
    retry_index: int | None = None
    fallback_depth: int | None = None
    route_step: RouteStep | None = None

    # Loop detection: hashes of the request (never content), what the caller asked for,
    # and what the detector concluded on this call.
    request_fingerprint: str | None = None
    tail_fingerprint: str | None = None
    requested_model: str | None = None
    loop: LoopDetection | None = None
    spend_per_minute: float | None = None

    attribution: Attribution = field(default_factory=Attribution)
    # W3C propagation headers of the request, for a parent when no span is current (proxy).
    parent_carrier: dict[str, str] | None = None
    headroom: Headroom = NO_HEADROOM  # immutable: shared
    content: Content | None = None
    incomplete: bool = False  # finished without LiteLLM's callback
    stream_abandoned: bool = False  # the caller let go of the stream before its end

    __reduce__ = _as_values

    @property
    def failed(self) -> bool:
        return self.error_type is not None

    @property
    def duration_s(self) -> float | None:
        return elapsed_s(self.start_ns, self.end_ns)

    @property
    def time_to_first_chunk_s(self) -> float | None:
        if not self.stream or self.start_ns is None or self.first_chunk_ns is None:
            return None
        if self.first_chunk_ns < self.start_ns:
            return None
        return (self.first_chunk_ns - self.start_ns) / 1e9


# --- the gateway's hops: MCP operations, guardrail evaluations, agent-to-agent calls ---------------


@dataclass
class McpOperationRecord:
    """One MCP operation the proxy served (``tools/call``, ``tools/list``, ``prompts/get``, …).

    What the client asked for and how it ended come from the proxy's MCP server; which upstream
    server served it, who called, its cost and refusals from LiteLLM's logging of the tool call.
    """

    method: str  # mcp.method.name
    tool: str | None = None  # gen_ai.tool.name, as the client named it (server prefix included)
    prompt: str | None = None  # gen_ai.prompt.name
    resource_uri: str | None = None  # mcp.resource.uri (spans only: unbounded)
    server: str | None = None  # the upstream MCP server (its name in config.yaml)
    transport: str | None = None  # the upstream's transport: http | sse | stdio
    session_id: str | None = None  # mcp.session.id
    request_id: str | None = None  # jsonrpc.request.id
    protocol_version: str | None = None
    call_id: str | None = None  # LiteLLM's call id of the tool call
    conversation_id: str | None = None  # the caller's session (x-litellm-session-id), for loop scopes
    start_ns: int | None = None
    end_ns: int | None = None
    error_type: str | None = None  # tool_error, a JSON-RPC code, or an exception class
    error_message: str | None = None
    rpc_status_code: str | None = None  # the JSON-RPC error code the client got
    # Refused by the proxy before the tool ran (permission, rate limit, guardrail, loop guard):
    # counted as a refusal, never as a tool failure.
    refusal: str | None = None
    status_code: int | None = None  # the HTTP status LiteLLM gave the refusal
    cost_usd: float | None = None  # LiteLLM's MCP cost tracking
    arguments: str | None = None  # JSON; content capture only
    result: str | None = None  # JSON; content capture only
    fingerprint: str | None = None  # hash of the tool and its arguments (loop detection)
    loop: LoopDetection | None = None
    attribution: Attribution = field(default_factory=Attribution)

    @property
    def is_tool_call(self) -> bool:
        return self.method == "tools/call"

    @property
    def duration_s(self) -> float | None:
        return elapsed_s(self.start_ns, self.end_ns)


@dataclass
class GuardrailRecord:
    """One guardrail evaluation, as LiteLLM recorded it the moment the guardrail finished."""

    name: str  # the configured guardrail_name
    mode: str | None = None  # pre_call | during_call | post_call | pre_mcp_call | post_mcp_call | …
    decision: str = "pass"  # pass | block | mask | flag | error | not_run
    provider: str | None = None  # LiteLLM's guardrail provider (litellm_content_filter, custom_code, …)
    policy_id: str | None = None  # LiteLLM's guardrail id
    status: str | None = None  # LiteLLM's guardrail_status, as reported
    categories: tuple[str, ...] = ()
    masked_entities: int | None = None
    cost_usd: float | None = None
    start_ns: int | None = None
    end_ns: int | None = None
    error_type: str | None = None  # the guardrail itself failed (decision "error")
    call_id: str | None = None  # the guarded request's LiteLLM call id
    attribution: Attribution = field(default_factory=Attribution)
    parent_carrier: dict[str, str] | None = None

    @property
    def duration_s(self) -> float | None:
        return elapsed_s(self.start_ns, self.end_ns)


@dataclass
class AgentCallRecord:
    """One agent-to-agent (A2A) call the proxy routed to a registered agent."""

    agent_id: str | None
    agent_name: str | None = None
    method: str | None = None  # message/send | message/stream
    call_id: str | None = None
    conversation_id: str | None = None  # the A2A contextId
    server_address: str | None = None
    server_port: int | None = None
    start_ns: int | None = None
    end_ns: int | None = None
    error_type: str | None = None
    error_message: str | None = None
    cost_usd: float | None = None
    attribution: Attribution = field(default_factory=Attribution)
    parent_carrier: dict[str, str] | None = None

    @property
    def duration_s(self) -> float | None:
        return elapsed_s(self.start_ns, self.end_ns)
