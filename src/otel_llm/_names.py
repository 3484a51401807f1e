"""Every attribute, metric and event name otel-llm emits: one place names things.

Names the OpenTelemetry GenAI semantic conventions define are imported from
``opentelemetry.semconv``; what the conventions lack lives under the single
``otel_llm.`` namespace, defined here and documented in docs/reference.md.
"""

from __future__ import annotations

from typing import Final

from opentelemetry.semconv._incubating.attributes import enduser_attributes as _enduser
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as _gen_ai
from opentelemetry.semconv._incubating.attributes import jsonrpc_attributes as _jsonrpc
from opentelemetry.semconv._incubating.attributes import mcp_attributes as _mcp
from opentelemetry.semconv._incubating.attributes import rpc_attributes as _rpc
from opentelemetry.semconv._incubating.attributes import user_attributes as _user
from opentelemetry.semconv._incubating.metrics import gen_ai_metrics as _gen_ai_metrics
from opentelemetry.semconv._incubating.metrics import mcp_metrics as _mcp_metrics
from opentelemetry.semconv.attributes import error_attributes as _error
from opentelemetry.semconv.attributes import http_attributes as _http
from opentelemetry.semconv.attributes import network_attributes as _network
from opentelemetry.semconv.attributes import server_attributes as _server

# --- semantic-convention attributes -------------------------------------------------
GEN_AI_OPERATION_NAME: Final = _gen_ai.GEN_AI_OPERATION_NAME
GEN_AI_PROVIDER_NAME: Final = _gen_ai.GEN_AI_PROVIDER_NAME
GEN_AI_REQUEST_MODEL: Final = _gen_ai.GEN_AI_REQUEST_MODEL
GEN_AI_REQUEST_MAX_TOKENS: Final = _gen_ai.GEN_AI_REQUEST_MAX_TOKENS
GEN_AI_REQUEST_TEMPERATURE: Final = _gen_ai.GEN_AI_REQUEST_TEMPERATURE
GEN_AI_REQUEST_TOP_P: Final = _gen_ai.GEN_AI_REQUEST_TOP_P
GEN_AI_REQUEST_TOP_K: Final = _gen_ai.GEN_AI_REQUEST_TOP_K
GEN_AI_REQUEST_STOP_SEQUENCES: Final = _gen_ai.GEN_AI_REQUEST_STOP_SEQUENCES
GEN_AI_REQUEST_SEED: Final = _gen_ai.GEN_AI_REQUEST_SEED
GEN_AI_REQUEST_FREQUENCY_PENALTY: Final = _gen_ai.GEN_AI_REQUEST_FREQUENCY_PENALTY
GEN_AI_REQUEST_PRESENCE_PENALTY: Final = _gen_ai.GEN_AI_REQUEST_PRESENCE_PENALTY
GEN_AI_REQUEST_STREAM: Final = _gen_ai.GEN_AI_REQUEST_STREAM
GEN_AI_REQUEST_CHOICE_COUNT: Final = _gen_ai.GEN_AI_REQUEST_CHOICE_COUNT
GEN_AI_REQUEST_ENCODING_FORMATS: Final = _gen_ai.GEN_AI_REQUEST_ENCODING_FORMATS
GEN_AI_RESPONSE_ID: Final = _gen_ai.GEN_AI_RESPONSE_ID
GEN_AI_RESPONSE_MODEL: Final = _gen_ai.GEN_AI_RESPONSE_MODEL
GEN_AI_RESPONSE_FINISH_REASONS: Final = _gen_ai.GEN_AI_RESPONSE_FINISH_REASONS
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = _gen_ai.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK
GEN_AI_USAGE_INPUT_TOKENS: Final = _gen_ai.GEN_AI_USAGE_INPUT_TOKENS
GEN_AI_USAGE_OUTPUT_TOKENS: Final = _gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = _gen_ai.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = _gen_ai.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = _gen_ai.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS
GEN_AI_OUTPUT_TYPE: Final = _gen_ai.GEN_AI_OUTPUT_TYPE
GEN_AI_EMBEDDINGS_DIMENSION_COUNT: Final = _gen_ai.GEN_AI_EMBEDDINGS_DIMENSION_COUNT
GEN_AI_CONVERSATION_ID: Final = _gen_ai.GEN_AI_CONVERSATION_ID
GEN_AI_TOKEN_TYPE: Final = _gen_ai.GEN_AI_TOKEN_TYPE
GEN_AI_INPUT_MESSAGES: Final = _gen_ai.GEN_AI_INPUT_MESSAGES
GEN_AI_OUTPUT_MESSAGES: Final = _gen_ai.GEN_AI_OUTPUT_MESSAGES
ERROR_TYPE: Final = _error.ERROR_TYPE
HTTP_RESPONSE_STATUS_CODE: Final = _http.HTTP_RESPONSE_STATUS_CODE
SERVER_ADDRESS: Final = _server.SERVER_ADDRESS
SERVER_PORT: Final = _server.SERVER_PORT

# The gateway's hops: MCP operations, tool calls and agent-to-agent calls
GEN_AI_TOOL_NAME: Final = _gen_ai.GEN_AI_TOOL_NAME
GEN_AI_TOOL_CALL_ARGUMENTS: Final = _gen_ai.GEN_AI_TOOL_CALL_ARGUMENTS  # content capture only
GEN_AI_TOOL_CALL_RESULT: Final = _gen_ai.GEN_AI_TOOL_CALL_RESULT  # content capture only
GEN_AI_PROMPT_NAME: Final = _gen_ai.GEN_AI_PROMPT_NAME
MCP_METHOD_NAME: Final = _mcp.MCP_METHOD_NAME
MCP_SESSION_ID: Final = _mcp.MCP_SESSION_ID
MCP_PROTOCOL_VERSION: Final = _mcp.MCP_PROTOCOL_VERSION
MCP_RESOURCE_URI: Final = _mcp.MCP_RESOURCE_URI
JSONRPC_REQUEST_ID: Final = _jsonrpc.JSONRPC_REQUEST_ID
RPC_RESPONSE_STATUS_CODE: Final = _rpc.RPC_RESPONSE_STATUS_CODE
NETWORK_TRANSPORT: Final = _network.NETWORK_TRANSPORT
OPERATION_EXECUTE_TOOL: Final = _gen_ai.GenAiOperationNameValues.EXECUTE_TOOL.value
OPERATION_INVOKE_AGENT: Final = _gen_ai.GenAiOperationNameValues.INVOKE_AGENT.value
# The GenAI guardrail conventions (development, newer than the semconv package): the operation, the
# guardrail component (LiteLLM's guardrail provider), the policy id and LiteLLM's own result.
OPERATION_APPLY_GUARDRAIL: Final = "apply_guardrail"
GEN_AI_GUARDRAIL_COMPONENT_NAME: Final = "gen_ai.guardrail.component.name"
GEN_AI_GUARDRAIL_POLICY_ID: Final = "gen_ai.guardrail.policy.id"
GEN_AI_GUARDRAIL_RESULT_TYPE: Final = "gen_ai.guardrail.result.type"
GEN_AI_GUARDRAIL_RESULT_VALUE: Final = "gen_ai.guardrail.result.value"
GEN_AI_GUARDRAIL_SOURCE: Final = "gen_ai.guardrail.source"
A2A_METHOD_NAME: Final = "a2a.method.name"  # the A2A conventions (development)

TOKEN_TYPE_INPUT: Final = _gen_ai.GenAiTokenTypeValues.INPUT.value
TOKEN_TYPE_OUTPUT: Final = _gen_ai.GenAiTokenTypeValues.OUTPUT.value

# --- semantic-convention metrics ----------------------------------------------------
GEN_AI_CLIENT_OPERATION_DURATION: Final = _gen_ai_metrics.GEN_AI_CLIENT_OPERATION_DURATION
GEN_AI_CLIENT_TOKEN_USAGE: Final = _gen_ai_metrics.GEN_AI_CLIENT_TOKEN_USAGE
GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK: Final = _gen_ai_metrics.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK
GEN_AI_CLIENT_TIME_PER_OUTPUT_CHUNK: Final = _gen_ai_metrics.GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK
# Every MCP operation the proxy serves, as the MCP server its clients talk to.
MCP_SERVER_OPERATION_DURATION: Final = _mcp_metrics.MCP_SERVER_OPERATION_DURATION

# The opt-in content event, as the GenAI conventions name it.
GEN_AI_INFERENCE_DETAILS_EVENT: Final = "gen_ai.client.inference.operation.details"
# The content-free usage record, one per LLM attempt (a log record with this event name), for chargeback.
USAGE_EVENT: Final = "otel_llm.usage"
USAGE_STATUS: Final = "otel_llm.usage.status"  # ok | error
USAGE_DURATION: Final = "otel_llm.usage.duration"  # seconds

# --- otel_llm namespace: what the conventions lack ------------------------------------
NAMESPACE: Final = "otel_llm"

# Cost and accounting quality
USAGE_COST: Final = "otel_llm.usage.cost"  # USD, from LiteLLM's own response_cost
# LiteLLM's cost breakdown (USD): input (uncached), output, cache reads, cache creation, reasoning, tools
COST_INPUT: Final = "otel_llm.cost.input"
COST_OUTPUT: Final = "otel_llm.cost.output"
COST_CACHE_READ: Final = "otel_llm.cost.cache_read"
COST_CACHE_CREATION: Final = "otel_llm.cost.cache_creation"
COST_REASONING: Final = "otel_llm.cost.reasoning"
COST_TOOL: Final = "otel_llm.cost.tool"
# USD the cache reads saved: what they would have cost at the model's input price, less what they cost.
CACHE_SAVINGS: Final = "otel_llm.cache.savings"
USAGE_SOURCE: Final = "otel_llm.usage.source"  # provider | estimated | missing
COST_SOURCE: Final = "otel_llm.cost.source"  # litellm | unpriced
CACHE_HIT: Final = "otel_llm.cache_hit"

# Routing
MODEL_GROUP: Final = "otel_llm.model_group"
DEPLOYMENT_ID: Final = "otel_llm.deployment.id"
LITELLM_CALL_ID: Final = "otel_llm.litellm.call_id"
LITELLM_CALL_TYPE: Final = "otel_llm.litellm.call_type"
ATTEMPT_RETRY_INDEX: Final = "otel_llm.attempt.retry_index"
ATTEMPT_FALLBACK_DEPTH: Final = "otel_llm.attempt.fallback_depth"
ROUTER_ATTEMPTS: Final = "otel_llm.router.attempts"
ROUTER_RETRIES: Final = "otel_llm.router.retries"
ROUTER_FALLBACKS: Final = "otel_llm.router.fallbacks"
ROUTER_FINAL_MODEL_GROUP: Final = "otel_llm.router.final_model_group"
FALLBACK_FROM: Final = "otel_llm.fallback.from_model_group"
FALLBACK_TO: Final = "otel_llm.fallback.to_model_group"
RETRY_MODEL_GROUP: Final = "otel_llm.retry.model_group"
SPAN_INCOMPLETE: Final = "otel_llm.span.incomplete"  # LiteLLM never delivered its callback
STREAM_ABANDONED: Final = "otel_llm.stream.abandoned"  # the caller let go before the stream's end
ACCOUNTING_ISSUE: Final = "otel_llm.accounting.issue"  # usage_estimated | usage_missing | cost_unpriced
# input | output | cache_read | cache_creation | reasoning (the conventions settle only input and output;
# cache reads and creation are part of input, reasoning part of output, as on spans)
TOKEN_TYPE: Final = "otel_llm.token.type"
COST_COMPONENT: Final = "otel_llm.cost.component"  # input | output | cache_read | cache_creation | reasoning | tool
OVERFLOW_METRIC_NAME: Final = "otel_llm.metric.name"
OVERFLOW_ATTRIBUTE: Final = "otel_llm.metric.attribute"  # the capped attribute, or (series) for a series cap
INTERNAL_COMPONENT: Final = "otel_llm.component"

# Attribution (proxy): virtual key, team, user, organisation, tags
KEY_ALIAS: Final = "otel_llm.key.alias"
KEY_HASH: Final = "otel_llm.key.hash"  # salted; never the key, never LiteLLM's unsalted hash
TEAM_ID: Final = "otel_llm.team.id"
TEAM_ALIAS: Final = "otel_llm.team.alias"
ORG_ID: Final = "otel_llm.org.id"
ORG_ALIAS: Final = "otel_llm.org.alias"  # budget gauges from LiteLLM's database only
REQUEST_TAGS: Final = "otel_llm.request.tags"
USER_ID: Final = _user.USER_ID  # LiteLLM's internal user that owns the key
GEN_AI_AGENT_ID: Final = _gen_ai.GEN_AI_AGENT_ID  # the agent behind the call (x-litellm-agent-id, metadata)
GEN_AI_AGENT_NAME: Final = _gen_ai.GEN_AI_AGENT_NAME
ENDUSER_ID: Final = _enduser.ENDUSER_ID  # the end user the caller passed (``user``)

# Runaway-loop detection
LOOP_REASON: Final = "otel_llm.loop.reason"  # repeat | token_growth | spend_velocity | rate
LOOP_ACTION: Final = "otel_llm.loop.action"  # observed | blocked
LOOP_WINDOW_CALLS: Final = "otel_llm.loop.window_calls"
LOOP_REPEATS: Final = "otel_llm.loop.repeats"
LOOP_CALLS_LAST_MINUTE: Final = "otel_llm.loop.calls_last_minute"
LOOP_SPEND_PER_MINUTE: Final = "otel_llm.loop.spend_per_minute"
LOOP_INPUT_GROWTH: Final = "otel_llm.loop.input_growth"
LOOP_COOLDOWN_SECONDS: Final = "otel_llm.loop.cooldown_seconds"

# Span events
EVENT_RETRY: Final = "otel_llm.retry"
EVENT_FALLBACK: Final = "otel_llm.fallback"
EVENT_LOOP_DETECTED: Final = "otel_llm.loop.detected"
EVENT_LOOP_REFUSED: Final = "otel_llm.loop.refused"

# Metrics of ours
COST_METRIC: Final = "otel_llm.client.cost"
# Per-key counters (cheap series; the histograms carry no key): requests, USD spent, tokens by type.
REQUESTS_METRIC: Final = "otel_llm.client.requests"
SPEND_METRIC: Final = "otel_llm.client.spend"
TOKENS_METRIC: Final = "otel_llm.client.tokens"
# Cost economics by model group, team and agent: USD by cost component, USD saved by prompt caching.
COMPONENT_SPEND_METRIC: Final = "otel_llm.client.component_spend"
CACHE_SAVINGS_METRIC: Final = "otel_llm.client.cache_savings"
# Points a cap sent to _OTHER (by metric and attribute): the loss is counted, never silent.
METRIC_OVERFLOW_METRIC: Final = "otel_llm.metric.overflow"
RETRIES_METRIC: Final = "otel_llm.client.retries"
FALLBACKS_METRIC: Final = "otel_llm.client.fallbacks"
ACCOUNTING_ISSUES_METRIC: Final = "otel_llm.client.accounting_issues"
INTERNAL_ERRORS_METRIC: Final = "otel_llm.internal.errors"
LOOP_DETECTIONS_METRIC: Final = "otel_llm.loop.detections"
TELEMETRY_DROPPED_METRIC: Final = "otel_llm.telemetry.dropped"
DROP_REASON: Final = "otel_llm.drop.reason"  # export_failed | endpoint_down
LOOP_REFUSALS_METRIC: Final = "otel_llm.loop.refusals"
PROXY_REFUSALS_METRIC: Final = "otel_llm.proxy.refusals"
# 1 per process while its metrics are exported: the heartbeat of the OtelLLMTelemetryStopped alert.
BUILD_INFO_METRIC: Final = "otel_llm.build.info"
OTEL_LLM_VERSION: Final = "otel_llm.version"
LITELLM_VERSION: Final = "otel_llm.litellm.version"
# LiteLLM's mark (in the callback's kwargs) of a proxy request refused before any provider call.
NO_UPSTREAM_LLM_CALL_KEY: Final = "litellm_no_upstream_llm_call"

# Headroom gauges
KEY_SPEND: Final = "otel_llm.key.spend"
KEY_MAX_BUDGET: Final = "otel_llm.key.max_budget"
KEY_BUDGET_UTILIZATION: Final = "otel_llm.key.budget.utilization"
TEAM_SPEND: Final = "otel_llm.team.spend"
TEAM_MAX_BUDGET: Final = "otel_llm.team.max_budget"
TEAM_BUDGET_UTILIZATION: Final = "otel_llm.team.budget.utilization"
KEY_RPM_LIMIT: Final = "otel_llm.key.rpm.limit"
KEY_RPM_UTILIZATION: Final = "otel_llm.key.rpm.utilization"
KEY_TPM_LIMIT: Final = "otel_llm.key.tpm.limit"
KEY_TPM_UTILIZATION: Final = "otel_llm.key.tpm.utilization"
TEAM_RPM_LIMIT: Final = "otel_llm.team.rpm.limit"
TEAM_RPM_UTILIZATION: Final = "otel_llm.team.rpm.utilization"
TEAM_TPM_LIMIT: Final = "otel_llm.team.tpm.limit"
TEAM_TPM_UTILIZATION: Final = "otel_llm.team.tpm.utilization"
PROVIDER_REMAINING_REQUESTS: Final = "otel_llm.provider.ratelimit.remaining_requests"
PROVIDER_REMAINING_TOKENS: Final = "otel_llm.provider.ratelimit.remaining_tokens"
PROVIDER_LIMIT_REQUESTS: Final = "otel_llm.provider.ratelimit.limit_requests"
PROVIDER_LIMIT_TOKENS: Final = "otel_llm.provider.ratelimit.limit_tokens"
KEY_SPEND_VELOCITY: Final = "otel_llm.key.spend_velocity"
# Budget state read from LiteLLM's database (_budgets/), for every key, team, user, org and end user:
# reset times are unix seconds; blocked flags are 1 while LiteLLM's ``blocked`` column is set, else 0.
KEY_BUDGET_RESET_TIME: Final = "otel_llm.key.budget.reset_time"
KEY_BLOCKED: Final = "otel_llm.key.blocked"
TEAM_BUDGET_RESET_TIME: Final = "otel_llm.team.budget.reset_time"
TEAM_BLOCKED: Final = "otel_llm.team.blocked"
USER_SPEND: Final = "otel_llm.user.spend"
USER_MAX_BUDGET: Final = "otel_llm.user.max_budget"
USER_BUDGET_UTILIZATION: Final = "otel_llm.user.budget.utilization"
USER_BUDGET_RESET_TIME: Final = "otel_llm.user.budget.reset_time"
ORG_SPEND: Final = "otel_llm.org.spend"
ORG_MAX_BUDGET: Final = "otel_llm.org.max_budget"
ORG_BUDGET_UTILIZATION: Final = "otel_llm.org.budget.utilization"
ORG_BUDGET_RESET_TIME: Final = "otel_llm.org.budget.reset_time"
END_USER_SPEND: Final = "otel_llm.end_user.spend"
END_USER_MAX_BUDGET: Final = "otel_llm.end_user.max_budget"
END_USER_BUDGET_UTILIZATION: Final = "otel_llm.end_user.budget.utilization"
END_USER_BUDGET_RESET_TIME: Final = "otel_llm.end_user.budget.reset_time"
END_USER_BLOCKED: Final = "otel_llm.end_user.blocked"
# The budget poller's own health (per process): polls by outcome (ok | truncated | failed | standby).
BUDGET_POLLS_METRIC: Final = "otel_llm.budget.polls"
BUDGET_POLL_OUTCOME: Final = "otel_llm.budget.poll.outcome"

# The gateway's hops (MCP, guardrails, A2A): what the conventions lack
MCP_SERVER_NAME: Final = "otel_llm.mcp.server.name"  # the upstream MCP server LiteLLM routed to (config name)
MCP_SERVER_TRANSPORT: Final = "otel_llm.mcp.server.transport"  # its transport: http | sse | stdio
# Why LiteLLM refused a tool call or an agent call: permission | rate_limit | guardrail | loop_guard | budget
REFUSAL_REASON: Final = "otel_llm.refusal.reason"
TOOL_COST: Final = "otel_llm.tool.cost"  # USD, LiteLLM's MCP cost tracking (mcp_server_cost_info)
GUARDRAIL_NAME: Final = "otel_llm.guardrail.name"  # the configured guardrail_name
GUARDRAIL_MODE: Final = "otel_llm.guardrail.mode"  # pre_call | during_call | post_call | pre_mcp_call | …
GUARDRAIL_DECISION: Final = "otel_llm.guardrail.decision"  # pass | block | mask | flag | error | not_run
GUARDRAIL_CATEGORIES: Final = "otel_llm.guardrail.categories"  # string[], where the guardrail reports them
GUARDRAIL_MASKED_ENTITIES: Final = "otel_llm.guardrail.masked_entities"  # entities masked (count)
GUARDRAIL_COST: Final = "otel_llm.guardrail.cost"  # USD, where the guardrail prices itself
AGENT_COST: Final = "otel_llm.agent.cost"  # USD LiteLLM priced an A2A call at
# Metrics of ours for the hops
MCP_TOOL_CALLS_METRIC: Final = "otel_llm.mcp.tool.calls"
MCP_TOOL_SPEND_METRIC: Final = "otel_llm.mcp.tool.spend"
GUARDRAIL_DURATION_METRIC: Final = "otel_llm.guardrail.duration"
GUARDRAIL_EVALUATIONS_METRIC: Final = "otel_llm.guardrail.evaluations"
AGENT_CALL_DURATION_METRIC: Final = "otel_llm.agent.call.duration"
AGENT_CALLS_METRIC: Final = "otel_llm.agent.calls"

# Values
OVERFLOW_VALUE: Final = "_OTHER"  # metric attribute value past the cardinality cap
UNKNOWN_VALUE: Final = "_OTHER"  # gen_ai.provider.name when LiteLLM reports none
