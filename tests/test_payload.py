"""The payload → record builder is a pure function, tolerant field by field."""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone
from types import MappingProxyType

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from otel_llm import OtelLLMCallback
from otel_llm._capture.fields import count, epoch_ns, money, number, strings, whole
from otel_llm._capture.payload import build_record
from otel_llm._config import Config
from otel_llm._emit.attributes import metric_attributes, span_attributes
from tests.conftest import Signals

CONFIG = Config()


def _payload(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "litellm_call_id": "call-1",
        "call_type": "acompletion",
        "custom_llm_provider": "bedrock",
        "model": "bedrock/anthropic.claude-3-haiku",
        "model_group": "claude",
        "model_id": "dep-1",
        "api_base": "https://user:secret@bedrock.example.com:8443/v1?key=abc",
        "stream": False,
        "startTime": 1_700_000_000.0,
        "endTime": 1_700_000_001.5,
        "completionStartTime": 1_700_000_001.5,
        "prompt_tokens": 10,
        "completion_tokens": 4,
        "response_cost": 0.002,
        "status": "success",
        "model_parameters": {"temperature": 0.1, "top_p": 1, "max_tokens": 100, "stop": ["END"], "seed": 7, "n": 2},
        "response": {
            "id": "resp-1",
            "model": "claude-3-haiku",
            "choices": [{"finish_reason": "stop"}, {"finish_reason": "length"}],
        },
        "metadata": {
            "usage_object": {
                "prompt_tokens_details": {"cached_tokens": 6},
                "completion_tokens_details": {"reasoning_tokens": 2},
            }
        },
    }
    base.update(overrides)
    return base


def test_full_payload() -> None:
    """Every field maps onto its semantic-convention attribute with the right type."""
    record = build_record(_payload(), {}, CONFIG)
    attrs = span_attributes(record)
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "aws.bedrock"
    assert attrs["gen_ai.request.model"] == "anthropic.claude-3-haiku"
    assert attrs["gen_ai.response.finish_reasons"] == ("stop", "length")
    assert attrs["gen_ai.request.stop_sequences"] == ("END",)
    assert attrs["gen_ai.request.top_p"] == 1.0 and isinstance(attrs["gen_ai.request.top_p"], float)
    assert attrs["gen_ai.request.choice.count"] == 2
    assert attrs["gen_ai.request.seed"] == 7
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 6
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == 2
    assert attrs["server.address"] == "bedrock.example.com"
    assert attrs["server.port"] == 8443
    assert attrs["otel_llm.model_group"] == "claude"
    assert record.duration_s == pytest.approx(1.5)
    assert not any("secret" in str(v) or "abc" in str(v) for v in attrs.values())
    assert metric_attributes(record) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "aws.bedrock",
        "gen_ai.request.model": "anthropic.claude-3-haiku",
        "gen_ai.response.model": "claude-3-haiku",
        "otel_llm.model_group": "claude",
    }


@pytest.mark.parametrize(
    ("provider", "expected"),
    [
        ("openai", "openai"),
        ("azure", "azure.ai.openai"),
        ("azure_ai", "azure.ai.inference"),
        ("anthropic", "anthropic"),
        ("cohere_chat", "cohere"),
        ("bedrock_converse", "aws.bedrock"),
        ("vertex_ai", "gcp.vertex_ai"),
        ("gemini", "gcp.gemini"),
        ("xai", "x_ai"),
        ("mistral", "mistral_ai"),
        ("bedrock_mantle", "aws.bedrock"),
        ("ollama", "ollama"),
        (None, "_OTHER"),
    ],
)
def test_provider_names(provider: str | None, expected: str) -> None:
    """LiteLLM provider names map to the conventions' well-known values."""
    attrs = span_attributes(build_record(_payload(custom_llm_provider=provider, model="m"), {}, CONFIG))
    assert attrs["gen_ai.provider.name"] == expected


@pytest.mark.parametrize(
    ("url", "operation", "output_type"),
    [
        ("https://api.anthropic.com/v1/messages", "chat", "text"),
        ("https://api.openai.com/v1/chat/completions", "chat", "text"),
        ("https://api.openai.com/v1/responses/", "chat", "text"),
        ("https://api.openai.com/v1/completions", "text_completion", "text"),
        ("https://api.openai.com/v1/embeddings", "embeddings", None),
        ("https://bedrock-runtime.us-east-1.amazonaws.com/model/m/converse-stream", "chat", "text"),
        (
            "https://x.googleapis.com/v1/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=k",
            "generate_content",
            None,
        ),
        ("https://x.googleapis.com/v1/models/text-embedding-004:embedContent", "embeddings", None),
        ("https://api.openai.com/v1/images/generations", "generate_content", "image"),
        ("https://api.cohere.com/v2/rerank", "rerank", None),
        ("https://api.anthropic.com/v1/models", "pass_through_endpoint", None),
        (None, "pass_through_endpoint", None),
    ],
)
def test_pass_through_operation(url: str | None, operation: str, output_type: str | None) -> None:
    """The proxy's pass-through routes report call type pass_through_endpoint: the provider URL's
    path names the operation. LiteLLM's placeholder end user "unknown" is no end user."""
    kwargs = {"passthrough_logging_payload": {"url": url, "request_method": "POST"}, "user": "unknown"}
    record = build_record(_payload(call_type="pass_through_endpoint"), kwargs, CONFIG)
    attrs = span_attributes(record)
    assert attrs["gen_ai.operation.name"] == operation
    assert attrs.get("gen_ai.output.type") == output_type
    assert attrs["otel_llm.litellm.call_type"] == "pass_through_endpoint"
    assert "enduser.id" not in attrs


def test_pass_through_provider_from_litellm_price_map() -> None:
    """A streamed pass-through that names no provider (LiteLLM < 1.108) gets the model's provider
    from LiteLLM's price map; a model the map does not list stays unnamed."""
    import litellm  # noqa: F401  # loaded in any process that reports a call

    kwargs = {"passthrough_logging_payload": {"url": "http://127.0.0.1:9/v1/messages"}}
    known = build_record(
        _payload(call_type="pass_through_endpoint", custom_llm_provider=None, model="claude-haiku-4-5-20251001"),
        kwargs,
        CONFIG,
    )
    unknown = build_record(
        _payload(call_type="pass_through_endpoint", custom_llm_provider=None, model="my-own-model"), kwargs, CONFIG
    )
    assert (known.provider, known.request_model) == ("anthropic", "claude-haiku-4-5-20251001")
    assert unknown.provider is None


def test_failure_payload() -> None:
    """A failure payload gives error.type from LiteLLM's error class and no usage/cost source."""
    record = build_record(
        _payload(
            status="failure",
            prompt_tokens=0,
            completion_tokens=0,
            response_cost=0.0,
            response=None,
            error_str="litellm.RateLimitError: Bearer sk-abcdefghijkl1234",
            error_information={"error_class": "RateLimitError", "error_code": "429"},
        ),
        {},
        CONFIG,
    )
    assert record.error_type == "RateLimitError"
    assert record.usage_source is None and record.cost_source is None
    assert "sk-abcdefghijkl1234" not in (record.error_message or "")


@pytest.mark.parametrize(
    "payload",
    [
        {},
        None,
        "not a dict",
        {"litellm_call_id": None, "model": None, "startTime": None, "response": None, "metadata": None},
        {"prompt_tokens": -5, "completion_tokens": math.nan, "response_cost": math.inf, "model": 42},
        {"prompt_tokens": "12", "completion_tokens": True, "response_cost": "-1", "stream": "yes"},
        {"model_parameters": {"temperature": "hot", "stop": [None, 3, "ok"], "max_tokens": 1.5}},
        {"response": {"choices": "nope", "id": ["x"], "model": {"a": 1}}},
        {"metadata": {"usage_object": {"prompt_tokens_details": "x"}}, "hidden_params": []},
        {"model": "None", "model_group": "", "call_type": "   "},
        {"startTime": 10.0, "endTime": 5.0},
        {"model": "x" * 100_000, "litellm_call_id": "\ud800bad-surrogate"},
    ],
)
def test_malformed_payloads_lose_only_bad_fields(payload: object) -> None:
    """Malformed payloads never raise, and never produce None, NaN, '' or 'None' attributes."""
    record = build_record(payload, {"litellm_params": "bad"}, CONFIG)
    for key, value in span_attributes(record).items():
        assert value is not None and value not in ("", "None"), key
        if isinstance(value, float):
            assert math.isfinite(value), key
        if isinstance(value, str):
            assert len(value) <= CONFIG.attribute_max_length, key
            value.encode("utf-8")
        if isinstance(value, int) and "tokens" in key:
            assert value >= 0


@pytest.mark.parametrize(
    "messages",
    [
        b"raw bytes as the whole prompt",
        bytearray(b"raw"),
        [b"a bytes message", {"role": "user", "content": b"bytes content"}],
        [{"role": "user", "content": [b"part", {"text": 3}, None]}, {"role": "assistant", "tool_calls": b"x"}],
    ],
)
def test_malformed_messages_lose_only_the_fingerprint(messages: object) -> None:
    """Messages of unexpected types (bytes where text or a list belongs) never raise: the loop
    fingerprint is computed from what can be read, or left out, and the rest of the record stands."""
    record = build_record(_payload(), {"messages": messages}, CONFIG)
    assert record.input_tokens == 10 and record.model_group == "claude"
    if isinstance(messages, (bytes, bytearray)):
        assert (record.request_fingerprint, record.tail_fingerprint) == (None, None)
    else:
        assert record.request_fingerprint is not None


def test_router_attempt_metadata() -> None:
    """Router metadata gives the retry index, fallback depth and the failure that caused them."""
    previous = ({"model_group": "primary", "exception_type": "RateLimitError"},)
    kwargs = {
        "litellm_params": {"metadata": {"attempted_retries": 0, "attempted_fallbacks": 1, "previous_models": previous}}
    }
    record = build_record(_payload(model_group="backup"), kwargs, CONFIG)
    assert record.route_step is not None
    assert (record.route_step.kind, record.route_step.from_model_group, record.route_step.to_model_group) == (
        "fallback",
        "primary",
        "backup",
    )
    assert record.route_step.error_type == "RateLimitError"
    kwargs["litellm_params"]["metadata"].update(attempted_retries=2, attempted_fallbacks=0)  # type: ignore[index]
    retry = build_record(_payload(model_group="primary"), kwargs, CONFIG)
    assert retry.route_step is not None and retry.route_step.kind == "retry" and retry.route_step.retry_index == 2


@pytest.mark.parametrize("metadata_key", ["metadata", "litellm_metadata"])
def test_router_breadcrumb_of_older_litellm(metadata_key: str) -> None:
    """LiteLLM 1.102's breadcrumb: the failed attempt's kwargs and metadata (read-only), no model_group key."""
    previous = (
        MappingProxyType(
            {
                "exception_type": "InternalServerError",
                "model": "openai/gpt-4o-mini",
                metadata_key: MappingProxyType({"model_group": "primary", "deployment": "openai/gpt-4o-mini"}),
            }
        ),
    )
    kwargs = {"litellm_params": {"metadata": {"attempted_fallbacks": 1, "previous_models": previous}}}
    step = build_record(_payload(model_group="backup"), kwargs, CONFIG).route_step
    assert step is not None
    assert (step.kind, step.from_model_group, step.to_model_group, step.error_type) == (
        "fallback",
        "primary",
        "backup",
        "InternalServerError",
    )


def test_estimated_stream_usage() -> None:
    """An OpenAI stream without stream_options.include_usage has LiteLLM-counted (estimated) tokens."""
    stream = _payload(custom_llm_provider="openai", model="gpt-4o-mini", stream=True)
    assert build_record(stream, {"optional_params": {}}, CONFIG).usage_source == "estimated"
    asked = {"optional_params": {"stream_options": {"include_usage": True}}}
    assert build_record(stream, asked, CONFIG).usage_source == "provider"
    anthropic = _payload(custom_llm_provider="anthropic", model="claude", stream=True)
    assert build_record(anthropic, {}, CONFIG).usage_source == "provider"


@pytest.mark.parametrize("operation", ["acompletion", "atext_completion", "aembedding"])
def test_unreported_usage_is_not_reported_as_zero(operation: str, signals: Signals) -> None:
    """LiteLLM's 0/0 for a call the provider reported no usage for: no token attributes and no
    token points (the conventions forbid usage that could not be obtained), marked `missing`."""
    from otel_llm._emit.telemetry import Telemetry

    record = build_record(_payload(call_type=operation, prompt_tokens=0, completion_tokens=0, metadata={}), {}, CONFIG)
    assert record.usage_source == "missing"
    assert "gen_ai.usage.input_tokens" not in span_attributes(record)
    assert "gen_ai.usage.output_tokens" not in span_attributes(record)
    telemetry = Telemetry(CONFIG, signals.tracer_provider, signals.meter_provider)
    try:
        telemetry.emit(record)
        assert signals.points("gen_ai.client.operation.duration")
        assert not signals.points("gen_ai.client.token.usage")
    finally:
        telemetry.close()
    reported = build_record(_payload(call_type=operation, prompt_tokens=0, completion_tokens=3), {}, CONFIG)
    assert reported.usage_source == "provider" and reported.input_tokens == 0 and reported.output_tokens == 3


@pytest.mark.parametrize(
    ("response_format", "expected"),
    [
        ({"type": "json_object"}, "json"),
        ({"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}, "json"),
        ({"type": "text"}, "text"),
        ("json", "text"),  # malformed: ignored
        (None, "text"),
    ],
)
def test_json_response_format_is_output_type_json(response_format: object, expected: str) -> None:
    """Chat asking for JSON output (response_format) has gen_ai.output.type `json`, as the conventions say."""
    params = {"response_format": response_format}
    attrs = span_attributes(build_record(_payload(model_parameters=params), {}, CONFIG))
    assert attrs["gen_ai.output.type"] == expected
    embedding = build_record(_payload(call_type="aembedding", model_parameters=params), {}, CONFIG)
    assert embedding.output_type is None


def test_time_to_first_chunk_only_for_streams() -> None:
    """completionStartTime becomes time to first chunk only on streams, and never before the start."""
    plain = build_record(_payload(completionStartTime=1_700_000_000.4), {}, CONFIG)
    assert plain.time_to_first_chunk_s is None
    stream = build_record(_payload(stream=True, completionStartTime=1_700_000_000.25), {}, CONFIG)
    assert stream.time_to_first_chunk_s == pytest.approx(0.25)
    early = build_record(_payload(stream=True, completionStartTime=1_600_000_000.0), {}, CONFIG)
    assert early.time_to_first_chunk_s is None


INT64_MAX = 2**63 - 1
YEAR_2200_NS = 7_258_118_400 * 10**9


@pytest.mark.parametrize(
    "value",
    [
        4e10,  # year 3237: beyond uint64 nanoseconds
        1e12,
        1e300,  # seconds * 1e9 overflows to inf
        math.inf,
        -math.inf,
        math.nan,
        -1.0,
        0,
        7.467216485525458e-256,  # after the epoch, but 0 ns: a span would start at 0 (found by hypothesis)
        10**400,  # beyond the float range
        "1e300",
        datetime(9999, 12, 31),
        datetime.max,
        datetime.min,
        datetime(9999, 12, 31, tzinfo=timezone.utc),
        datetime(2300, 1, 1, tzinfo=timezone.utc),
    ],
)
def test_epoch_ns_refuses_times_outside_1970_to_2200(value: object) -> None:
    """Times that could not be encoded as OTLP nanoseconds (or are absurd) count as missing."""
    assert epoch_ns(value) is None


def test_epoch_ns_keeps_sane_times() -> None:
    assert epoch_ns(1_700_000_000.5) == 1_700_000_000_500_000_000
    assert epoch_ns(datetime(2199, 12, 31, tzinfo=timezone.utc)) == 7_258_032_000 * 10**9
    assert epoch_ns("1700000000") == 1_700_000_000 * 10**9


@pytest.mark.parametrize(
    "value", [2**63, 2**200, -1, "9" * 5000, "9" * 20, "²", "١٢٣x", 1e300, float(2**64), math.inf, True]
)
def test_count_refuses_values_outside_int64(value: object) -> None:
    """Counts beyond int64, and digit strings int() cannot or will not read, are None, never raising."""
    assert count(value) is None


def test_count_keeps_int64_values() -> None:
    assert count(INT64_MAX) == INT64_MAX
    assert count(str(INT64_MAX)) == INT64_MAX
    assert count(" 0012 ") == 12
    assert count(" ١٢ ") == 12  # other scripts' digits that int() reads
    assert count(12.0) == 12


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 2**100, -1e308, 1e300, math.nan, False])
def test_whole_refuses_values_outside_int64(value: object) -> None:
    """OTLP int attributes are int64: the SDK exporter would drop a larger one with an ERROR log."""
    assert whole(value) is None


def test_whole_keeps_int64_values() -> None:
    assert whole(-1) == -1
    assert whole(INT64_MAX) == INT64_MAX
    assert whole(-(2**63)) == -(2**63)
    assert whole(-5.0) == -5


@pytest.mark.parametrize("value", [10**400, 1e10, 1e300, "1e12", -0.5, math.inf, -math.inf, math.nan, True])
def test_money_refuses_absurd_amounts(value: object) -> None:
    assert money(value) is None


def test_money_and_number_keep_sane_values() -> None:
    assert money(0.002) == 0.002
    assert money(1e9) == 1e9
    assert money("3") == 3.0
    assert number(10**400) is None
    assert number(2**70) == float(2**70)
    assert number(0.5) == 0.5 and number(-0.5) == -0.5
    assert number(math.nan) is None and number(math.inf) is None and number(-math.inf) is None


def test_strings_read_bytes_as_text_not_as_a_sequence() -> None:
    """A bytes value is one string (decoded, as text() does), never a sequence of ints."""
    assert strings(b"END", 16) == ("END",)
    assert strings(["a", b"b", 3, None], 16) == ("a", "b")  # a number is not a string here
    assert strings(bytearray(b"x"), 16) == ()


def test_out_of_range_fields_lose_only_themselves() -> None:
    """Each out-of-range field is dropped alone: the rest of the record is kept."""
    record = build_record(
        _payload(
            response_cost=10**400,
            prompt_tokens="9" * 5000,
            completion_tokens=2**64,
            model_parameters={"seed": -1e308, "n": 2**100, "max_tokens": 100, "temperature": 0.1},
        ),
        {},
        CONFIG,
    )
    attrs = span_attributes(record)
    assert record.cost_usd is None
    assert "gen_ai.usage.input_tokens" not in attrs and "gen_ai.usage.output_tokens" not in attrs
    assert "gen_ai.request.seed" not in attrs and "gen_ai.request.choice.count" not in attrs
    assert attrs["gen_ai.request.max_tokens"] == 100
    assert attrs["gen_ai.request.model"] == "anthropic.claude-3-haiku"
    for value in attrs.values():
        if isinstance(value, int):
            assert -(2**63) <= value <= INT64_MAX


@pytest.mark.parametrize(
    "times",
    [
        {"endTime": 4e10},
        {"startTime": 4e10},
        {"startTime": 1e300, "endTime": 1e301},
        {"startTime": datetime(9999, 12, 31), "endTime": datetime.max},
    ],
)
def test_far_future_times_do_not_poison_the_export_batch(signals: Signals, times: dict[str, object]) -> None:
    """One payload with an out-of-range time still gives a span, and the batch it lands in (with
    other calls' spans) still encodes to OTLP: before, the whole batch failed to export."""
    callback = OtelLLMCallback(signals.tracer_provider, signals.meter_provider, signals.logger_provider)
    try:
        now = time.time()

        def call(call_id: str, **overrides: object) -> None:
            payload = _payload(litellm_call_id=call_id, startTime=now - 1, endTime=now)
            payload.update(overrides)
            callback.log_success_event({"standard_logging_object": payload}, None, now - 1, now)

        call("good-1")
        call("bad", **times)
        call("good-2")
    finally:
        callback.telemetry.close()
    spans = signals.spans()
    assert len(spans) == 3
    request = encode_spans(spans)  # raised for the whole batch before
    assert sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans) == 3
    for span in spans:
        assert span.start_time is not None and span.end_time is not None
        assert 0 < span.start_time < YEAR_2200_NS and 0 < span.end_time < YEAR_2200_NS
        assert span.end_time >= span.start_time  # a dropped startTime drops the end too: emission time


def test_an_error_code_of_non_ascii_digits_is_ignored() -> None:
    """'²²²' passes str.isdigit() but not int(): the status code is left out, the record kept."""
    payload = _payload(status="failure", error_information={"error_code": "²²²", "error_class": "APIError"})
    record = build_record(payload, {}, Config())
    assert record.error_type == "APIError" and record.error_status_code is None
