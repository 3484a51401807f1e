"""The proxy's log pipeline writes exactly the SDK's bytes, and loses no record.

Records are emitted twice, through the SDK's own ``LoggerProvider`` (the reference: the SDK
exporter's ``encode_logs(...).SerializeToString()`` of what its processor hands over) and
through otel-llm's ``WireLoggerProvider``, whose real exporter posts them over real HTTP to a
local receiver; the request bodies must be byte for byte the reference.
"""

from __future__ import annotations

import gc
import json
import math
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.sdk._logs import LoggerProvider, LogRecordLimits
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from otel_llm import _errors
from otel_llm._export import queue_items, wire_logs
from otel_llm._export.wire_logs import LeanLogger, WireLogExporter, WireLoggerProvider, WireLogRecordProcessor
from tests.otlp_receiver import OtlpReceiver

RESOURCE = {"service.name": "litellm-proxy", "service.instance.id": "worker-1", "deployment.environment": "prod"}
SCOPE = ("otel_llm", "1.2.3", "https://opentelemetry.io/schemas/1.37.0")
T0 = 1_764_800_000_000_000_000


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as server:
        yield server


def _context(
    trace_id: int = 0x0AF7651916CD43DD8448EB211C80319C, span_id: int = 0xB7AD6B7169203331, sampled: bool = True
) -> Any:
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    span = NonRecordingSpan(SpanContext(trace_id, span_id, is_remote=False, trace_flags=flags))
    return trace.set_span_in_context(span)


class Both:
    """One list of emits through the SDK's provider and through otel-llm's, to compare."""

    def __init__(self, receiver: OtlpReceiver, limits: LogRecordLimits | None = None, batch: int = 512) -> None:
        resource = Resource.create(RESOURCE)
        self.memory = InMemoryLogRecordExporter()
        self.sdk = LoggerProvider(resource=resource, log_record_limits=limits, shutdown_on_exit=False)
        self.sdk.add_log_record_processor(SimpleLogRecordProcessor(self.memory))
        exporter = WireLogExporter(endpoint=f"{receiver.endpoint}/v1/logs", timeout=5)
        self.processor = WireLogRecordProcessor(exporter, max_export_batch_size=batch, schedule_delay_millis=60_000)
        self.wire = WireLoggerProvider(
            self.processor, resource=Resource.create(RESOURCE), log_record_limits=limits, shutdown_on_exit=False
        )
        self.receiver = receiver

    def emit(self, **fields: Any) -> None:
        for provider in (self.sdk, self.wire):
            provider.get_logger(*SCOPE[:2], schema_url=SCOPE[2]).emit(**fields)

    def reference(self) -> bytes:
        return encode_logs(self.memory.get_finished_logs()).SerializeToString()  # type: ignore[no-any-return]

    def sent(self) -> list[bytes]:
        assert self.wire.force_flush(10_000)
        return list(self.receiver.raw)

    def close(self) -> None:
        self.wire.shutdown()
        self.sdk.shutdown()


def _usage_fields(index: int = 0) -> dict[str, Any]:
    return {
        "timestamp": T0 + index,
        "observed_timestamp": T0 + index,
        "context": _context(),
        "event_name": "otel_llm.usage",
        "attributes": {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 1200 + index,
            "gen_ai.usage.output_tokens": 7,
            "otel_llm.usage.cost": 0.000123,
            "otel_llm.cache.hit": False,
            "otel_llm.request.tags": ("prod", "batch", "ünïcødé"),
            "otel_llm.key.alias": "agent-7",
            "otel_llm.usage.status": "ok",
            "otel_llm.usage.duration": 0.25,
        },
    }


def test_usage_records_are_the_sdks_bytes_and_take_the_lean_way(receiver: OtlpReceiver) -> None:
    both = Both(receiver)
    try:
        assert isinstance(both.wire.get_logger(*SCOPE[:2], schema_url=SCOPE[2]), LeanLogger)
        for index in range(5):
            both.emit(**_usage_fields(index))
        assert both.sent() == [both.reference()]
    finally:
        both.close()


@pytest.mark.parametrize(
    "fields",
    [
        {"body": "plain text", "severity_number": SeverityNumber.INFO, "severity_text": "INFO"},
        {"body": 42, "severity_number": SeverityNumber.ERROR},
        {"body": ["a", 1, 2.5, True, None]},
        {"body": b"\x00\xffbytes"},
        {"body": ""},
        {"attributes": {}},
        {"attributes": {"neg": -5, "zero": 0, "big": (1 << 63) - 1, "small": -(1 << 63)}},
        {"attributes": {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "-0": -0.0}},
        {"attributes": {"empty": "", "none": None, "list": [1, 2, 3], "mixed": ("a", 1)}},
        {"attributes": {"long": "x" * 5000, "emoji": "🚀" * 40}},
        {"context": _context(sampled=False)},
        {"context": _context(trace_id=1, span_id=1)},
        {"timestamp": None, "event_name": ""},
    ],
    ids=",".join,
)
def test_every_field_shape_is_the_sdks_bytes(receiver: OtlpReceiver, fields: dict[str, Any]) -> None:
    both = Both(receiver)
    try:
        both.emit(**({"observed_timestamp": T0, "timestamp": T0 + 5, "event_name": "otel_llm.usage"} | fields))
        both.emit(**_usage_fields())
        assert both.sent() == [both.reference()]
    finally:
        both.close()


def test_random_records_are_the_sdks_bytes(receiver: OtlpReceiver) -> None:
    rng = random.Random(22)
    values: list[Any] = ["", "chat", "ä" * 3, 0, 1, -1, 127, 128, 2**40, 0.5, -1e300, True, False, ("x", "y"), [1.5]]
    both = Both(receiver, batch=1000)
    try:
        for index in range(300):
            attributes = {f"k{rng.randrange(60)}": rng.choice(values) for _ in range(rng.randrange(0, 30))}
            both.emit(
                timestamp=rng.choice([None, T0 + index]),
                observed_timestamp=T0 + index,
                context=rng.choice([None, _context(), _context(sampled=False)]),
                severity_number=rng.choice([None, SeverityNumber.DEBUG, SeverityNumber.FATAL4]),
                body=rng.choice([None, "b", 7]),
                attributes=attributes,
                event_name=rng.choice([None, "otel_llm.usage", "gen_ai.client.inference.operation.details"]),
            )
        assert both.sent() == [both.reference()]
    finally:
        both.close()


@pytest.mark.filterwarnings("ignore:Log record attributes were dropped")  # the SDK's own warning, expected
def test_attribute_limits_apply_as_in_the_sdk(receiver: OtlpReceiver) -> None:
    """Too many attributes: the SDK's way (it drops the oldest and counts them); long values truncated."""
    both = Both(receiver, limits=LogRecordLimits(max_attributes=4, max_attribute_length=3))
    try:
        both.emit(**_usage_fields())  # 11 attributes over a limit of 4
        both.emit(observed_timestamp=T0, attributes={"a": "abcdef", "b": ("long", "xy"), "c": 12345})
        both.emit(observed_timestamp=T0, attributes={"": "invalid key", "ok": 1})
        assert both.sent() == [both.reference()]
    finally:
        both.close()


def test_what_the_wire_encoder_does_not_handle_goes_the_sdks_way(receiver: OtlpReceiver) -> None:
    both = Both(receiver)
    try:
        both.emit(observed_timestamp=T0, body={"a map": ["body"]}, event_name="gen_ai.choice")
        both.emit(observed_timestamp=T0, attributes={"huge": 1 << 70, "ok": "kept"})
        both.emit(**_usage_fields())
        sent = both.sent()
        assert len(sent) == 2  # the encoded record, then the SDK's encoding of the two it did not take
        received = both.receiver.log_records()
        assert len(received) == 3
        assert {"a map": ("body",)} in [record["body"] for record in received]
        assert "kept" in [record["attributes"].get("ok") for record in received]
    finally:
        both.close()


def test_a_processor_added_later_sees_every_record(receiver: OtlpReceiver) -> None:
    both = Both(receiver)
    try:
        memory = InMemoryLogRecordExporter()
        both.wire.add_log_record_processor(SimpleLogRecordProcessor(memory))
        logger = both.wire.get_logger(*SCOPE[:2], schema_url=SCOPE[2])
        logger.emit(**_usage_fields())
        assert [log.log_record.event_name for log in memory.get_finished_logs()] == ["otel_llm.usage"]
        assert len(both.receiver.wait_for(lambda: both.sent() and both.receiver.log_records())) == 1
    finally:
        both.close()


def test_an_encoder_bug_costs_no_record(receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(record: Any) -> bytes:
        raise RuntimeError("encoder bug")

    monkeypatch.setattr(wire_logs, "encode_readable", broken)  # our own code, made to fail on purpose
    both = Both(receiver)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(wire_logs.LeanLogger, "_processors", lambda self: None)  # the SDK's emit, then on_emit
            both.emit(**_usage_fields())
        before = _errors.internal_error_count("log encoder")
        both.wire.get_logger(*SCOPE[:2], schema_url=SCOPE[2])._logger.emit(**_usage_fields(1))
        assert _errors.internal_error_count("log encoder") == before + 1
        assert [str(e) for e in _errors.take_strict_errors()][-1:] == ["encoder bug"]
        both.sent()
        assert len(both.receiver.log_records()) == 2
    finally:
        both.close()


def test_nothing_of_a_record_but_its_bytes_waits_in_the_queue(receiver: OtlpReceiver) -> None:
    both = Both(receiver)
    try:
        both.wire.get_logger(*SCOPE[:2], schema_url=SCOPE[2]).emit(**_usage_fields())
        queued = list(both.processor._batch_processor._queue)
        assert [type(item) for item in queued] == [tuple]
        origin, data = queued[0]
        assert type(origin) is int and type(data) is bytes
        resource, scope = queue_items.origin_of(queued[0])
        assert resource is both.wire.resource and scope.name == SCOPE[0]
        # Atoms only: the garbage collector untracks the item at its first young collection, so a
        # record waiting for its batch is never promoted to the oldest generation with the host's state.
        gc.collect(0)
        assert not gc.is_tracked(queued[0])
    finally:
        both.close()


def test_context_defaults_to_the_current_one(receiver: OtlpReceiver) -> None:
    both = Both(receiver)
    try:
        token = otel_context.attach(_context(trace_id=0xABC, span_id=0xDEF))
        try:
            both.emit(observed_timestamp=T0, body="under the current span")
            both.emit(observed_timestamp=T0, context=otel_context.Context(), body="an empty context: the current")
        finally:
            otel_context.detach(token)
        assert both.sent() == [both.reference()]
        assert {record["trace_id"] for record in both.receiver.log_records()} == {f"{0xABC:032x}"}
    finally:
        both.close()


INSTALL = """
import json, os
from opentelemetry._logs import get_logger_provider
from otel_llm._config import resolve
from otel_llm._export.setup import install_providers
install_providers(resolve(os.environ), os.environ)
provider = get_logger_provider()
logger = provider.get_logger("otel_llm")
print(json.dumps([type(provider).__name__, type(logger).__name__]))
provider.shutdown()
"""


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ["WireLoggerProvider", "LeanLogger"]),
        ({"OTEL_LLM_LEAN_PATH": "false"}, ["LoggerProvider", "Logger"]),
        ({"OTEL_LLM_PROXY_SPAN_ENCODER": "sdk"}, ["LoggerProvider", "Logger"]),
        ({"OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "grpc"}, ["LoggerProvider", "Logger"]),
    ],
)
def test_the_proxy_pipeline_encodes_its_records_on_the_lean_path_only(
    receiver: OtlpReceiver, env: dict[str, str], expected: list[str]
) -> None:
    """Run in a fresh interpreter: installing providers sets the process's global ones."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTEL_LLM_"))}
    run_env = clean | {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_LLM_USAGE_RECORDS": "true"} | env
    out = subprocess.run(
        [sys.executable, "-c", INSTALL], env=run_env, capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == expected
