"""collector/otelcol.yaml's processing, run for real on known input: secrets masked, content dropped
unless allowed, the debug switch, exemplars to Prometheus, and the runaway-loop series and alert."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.metrics import Observation
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_llm._budgets.poller import POLLS
from otel_llm._emit.headroom import GAUGES
from tests.collector.series import COUNTERS
from tests.collector.series import GAUGES as PROMETHEUS_GAUGES
from tests.collector.stack import COLLECTOR, Collector, Prometheus, wait_until
from tests.otlp_receiver import OtlpReceiver

pytestmark = pytest.mark.e2e

# OtelCollectorExporterFailing's expression, without its `for:`.
(FAILING_EXPR,) = [
    rule["expr"].rsplit(">", 1)[0]
    for group in yaml.safe_load((COLLECTOR / "prometheus" / "rules" / "otel-llm.alerts.yml").read_text())["groups"]
    for rule in group["rules"]
    if rule.get("alert") == "OtelCollectorExporterFailing"
]

OPENAI_KEY = "sk-proj-Zx8Kq2Lm4Np6Rs8Tu0Vw2Yz"
SECRETS = {
    "otel_llm.request.tags": ("agent:alpha", f"key:{OPENAI_KEY}"),
    "http.request.header.authorization": "Basic dXNlcjpodW50ZXIy",
    "error.message": "401 from https://user:hunter2@api.example.com: invalid x-api-key",
    "db.password": "correct-horse-battery-staple",
    "note": "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlMTIz",
    "aws": "AKIAIOSFODNN7EXAMPLE",
}
CONTENT = {
    "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "my diagnosis"}]}]',
    "gen_ai.output.messages": '[{"role": "assistant", "parts": [{"type": "text", "content": "advice"}]}]',
    "gen_ai.system_instructions": '[{"type": "text", "content": "be nice"}]',
    "gen_ai.prompt.0.content": "legacy prompt",
    "llm.input_messages.0.message.content": "openinference prompt",
}
KEPT = {
    "gen_ai.request.model": "gpt-4o-mini",
    "otel_llm.key.alias": "agent-alpha",
    "otel_llm.key.hash": "712dfaed4eaeb100",
    "gen_ai.usage.input_tokens": 12,
    "peer.service": "task-management-service",  # `sk-` inside a word is no key
    "error.type": "AuthenticationError",
}


def _send_span(endpoint: str, name: str) -> str:
    provider = TracerProvider(resource=Resource.create({"service.name": "probe", "deployment.token": OPENAI_KEY}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")))
    with provider.get_tracer("test").start_as_current_span(name, attributes={**SECRETS, **CONTENT, **KEPT}) as span:
        span.add_event("gen_ai.choice", {"gen_ai.output.messages": CONTENT["gen_ai.output.messages"], "n": 1})
        trace_id = format(span.get_span_context().trace_id, "032x")
    provider.shutdown()
    return trace_id


def _received(tempo: OtlpReceiver, trace_id: str) -> dict[str, Any]:
    spans = wait_until(lambda: [s for s in tempo.spans() if s["trace_id"] == trace_id], 20, f"trace {trace_id}")
    return spans[0]


@pytest.fixture
def tempo() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as receiver:
        yield receiver


def test_secrets_are_masked_and_content_dropped(tmp_path: Path, tempo: OtlpReceiver) -> None:
    """Secret-shaped values anywhere are masked, message content is removed, other attributes pass unchanged."""
    collector = Collector(tmp_path, tempo.endpoint).start()
    try:
        span = _received(tempo, _send_span(collector.otlp_http, "chat gpt-4o-mini"))
    finally:
        collector.stop()
    attrs = span["attributes"]
    assert not set(CONTENT) & set(attrs)
    assert span["events"] == [("gen_ai.choice", {"n": 1})]
    assert {k: attrs[k] for k in KEPT} == KEPT
    assert attrs["otel_llm.request.tags"] == '["agent:alpha","key:****"]'  # the array, masked, as JSON text
    assert attrs["http.request.header.authorization"] == "****"
    assert attrs["db.password"] == "****"
    assert attrs["error.message"] == "401 from https****api.example.com: invalid x-api-key"
    assert attrs["note"] == "token ****"
    assert attrs["aws"] == "****"
    assert span["resource"]["deployment.token"] == "****"
    assert attrs["redaction.masked.count"] == 6
    raw = b"".join(tempo.raw)
    for secret in (OPENAI_KEY, "hunter2", "dXNlcjpodW50ZXIy", "correct-horse", "AKIAIOSFODNN7EXAMPLE", "eyJhbGci"):
        assert secret.encode() not in raw


def test_content_kept_when_allowed_and_debug_switch_prints_it(tmp_path: Path, tempo: OtlpReceiver) -> None:
    """OTEL_LLM_COLLECTOR_KEEP_CONTENT=true keeps content (secrets still masked); the debug switch logs spans."""
    collector = Collector(
        tmp_path,
        tempo.endpoint,
        OTEL_LLM_COLLECTOR_KEEP_CONTENT="true",
        OTEL_LLM_COLLECTOR_DEBUG_EXPORTER="debug",
        OTEL_LLM_COLLECTOR_DEBUG_VERBOSITY="detailed",
    ).start()
    try:
        span = _received(tempo, _send_span(collector.otlp_http, "chat debug-switch-on"))
        wait_until(lambda: "chat debug-switch-on" in collector.log(), 10, "the span in the debug exporter's output")
    finally:
        collector.stop()
    assert {k: span["attributes"][k] for k in CONTENT} == CONTENT
    assert span["attributes"]["db.password"] == "****"
    assert OPENAI_KEY not in collector.log()  # the debug output is after redaction too


def _send_content_event(endpoint: str) -> None:
    """otel-llm's content event: messages in structured form (nested maps and arrays), as on events."""
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{endpoint}/v1/logs")))
    message = {"role": "user", "parts": [{"type": "text", "content": f"structured-event: my key {OPENAI_KEY}"}]}
    provider.get_logger("test").emit(
        event_name="gen_ai.client.inference.operation.details",
        attributes={"gen_ai.input.messages": [message], "gen_ai.request.model": "gpt-4o-mini"},
    )
    provider.shutdown()


@pytest.mark.parametrize("keep_content", [False, True])
def test_structured_content_events_are_dropped_or_masked(
    tmp_path: Path, tempo: OtlpReceiver, keep_content: bool
) -> None:
    """Content events carry nested messages: dropped by default; kept when allowed, with secrets inside
    the nested parts still masked (the debug exporter shows what a logs backend would receive)."""
    collector = Collector(
        tmp_path,
        tempo.endpoint,
        OTEL_LLM_COLLECTOR_KEEP_CONTENT=str(keep_content).lower(),
        OTEL_LLM_COLLECTOR_DEBUG_EXPORTER="debug",
        OTEL_LLM_COLLECTOR_DEBUG_VERBOSITY="detailed",
    ).start()
    try:
        _send_content_event(collector.otlp_http)
        wait_until(lambda: "gen_ai.request.model" in collector.log(), 20, "the event in the debug exporter's output")
        log = collector.log()
    finally:
        collector.stop()
    assert OPENAI_KEY not in log
    assert ("structured-event: my key ****" in log) is keep_content
    assert ("gen_ai.input.messages" in log) is keep_content


def test_only_usage_records_reach_the_usage_file(tmp_path: Path, tempo: OtlpReceiver) -> None:
    """The file sink gets the otel_llm.usage records (secrets in them masked) and nothing else: a content event
    kept by OTEL_LLM_COLLECTOR_KEEP_CONTENT=true stays on the logs path (here the debug exporter)."""
    usage = tmp_path / "usage" / "usage.jsonl"
    collector = Collector(
        tmp_path / "otelcol",
        tempo.endpoint,
        OTEL_LLM_COLLECTOR_USAGE_PATH=str(usage),
        OTEL_LLM_COLLECTOR_KEEP_CONTENT="true",
        OTEL_LLM_COLLECTOR_DEBUG_EXPORTER="debug",
        OTEL_LLM_COLLECTOR_DEBUG_VERBOSITY="detailed",
    ).start()
    try:
        _send_content_event(collector.otlp_http)
        provider = LoggerProvider(resource=Resource.create({"service.name": "litellm-proxy"}))
        exporter = OTLPLogExporter(endpoint=f"{collector.otlp_http}/v1/logs")
        provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
        attributes = {
            "otel_llm.key.alias": "agent-alpha",
            "otel_llm.usage.cost": 0.25,
            "otel_llm.request.tags": [f"key:{OPENAI_KEY}"],
        }
        provider.get_logger("otel_llm").emit(event_name="otel_llm.usage", attributes=attributes)
        provider.get_logger("otel_llm").emit(body="an ordinary log line")
        provider.shutdown()
        wait_until(lambda: usage.exists() and "otel_llm.usage" in usage.read_text(), 20, "the usage record in the file")
        wait_until(lambda: "structured-event" in collector.log(), 20, "the content event in the debug output")
    finally:
        collector.stop()
    text = usage.read_text()
    records = [
        r
        for line in text.splitlines()
        for rl in json.loads(line)["resourceLogs"]
        for sl in rl["scopeLogs"]
        for r in sl["logRecords"]
    ]
    assert [r["eventName"] for r in records] == ["otel_llm.usage"]
    assert "structured-event" not in text and "an ordinary log line" not in text and OPENAI_KEY not in text
    assert "key:****" in text


def test_debug_exporter_off_by_default(tmp_path: Path, tempo: OtlpReceiver) -> None:
    """Without the switch the Collector logs no telemetry."""
    collector = Collector(tmp_path, tempo.endpoint).start()
    try:
        _received(tempo, _send_span(collector.otlp_http, "chat debug-switch-off"))
    finally:
        collector.stop()
    assert "debug-switch-off" not in collector.log()


def test_exemplars_link_prometheus_to_the_trace_and_loop_alert_fires(tmp_path: Path, tempo: OtlpReceiver) -> None:
    """A histogram recorded inside a span reaches Prometheus with that trace id as exemplar; the runaway-loop
    counter and spend-velocity gauge arrive under the names the rules use, and LLMRunawayLoopDetected fires."""
    collector = Collector(tmp_path / "otelcol", tempo.endpoint).start()
    prometheus = Prometheus(tmp_path / "prometheus", collector).start()
    try:
        resource = Resource.create({"service.name": "litellm-proxy", "service.instance.id": "worker-1"})
        tracer_provider = TracerProvider(resource=resource)
        tracer_provider.add_span_processor(
            SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{collector.otlp_http}/v1/traces"))
        )
        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=f"{collector.otlp_http}/v1/metrics"), export_interval_millis=3_600_000
        )
        meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
        meter = meter_provider.get_meter("otel_llm")
        who = {
            "otel_llm.key.alias": "agent-alpha",
            "otel_llm.key.hash": "712dfaed4eaeb100",
            "otel_llm.team.id": "team-a",
            "otel_llm.team.alias": "Team A",
        }
        meter.create_observable_gauge(
            "otel_llm.key.spend_velocity", [lambda _: [Observation(6.5, who)]], unit="USD/min"
        )
        # The budget poller's series (no database in the e2e stack), with the code's own units.
        from_database = {"otel_llm.key.budget.reset_time": 1.8e9, "otel_llm.key.blocked": 1.0}
        from_database |= {"otel_llm.team.budget.reset_time": 1.9e9, "otel_llm.team.blocked": 0.0}
        for name, unit, _ in GAUGES:
            if name in from_database:
                value = from_database[name]
                meter.create_observable_gauge(name, [lambda _, v=value: [Observation(v, who)]], unit=unit)
        meter.create_counter(POLLS.name, unit=POLLS.unit).add(1, {"otel_llm.budget.poll.outcome": "failed"})
        duration = meter.create_histogram("gen_ai.client.operation.duration", unit="s")
        detections = meter.create_counter("otel_llm.loop.detections", unit="{detection}")
        with tracer_provider.get_tracer("otel_llm").start_as_current_span("chat gpt-4o-mini") as span:
            duration.record(2.5, {"otel_llm.model_group": "gpt-main", **who})
            trace_id = format(span.get_span_context().trace_id, "032x")
        detections.add(
            1,
            {"otel_llm.loop.reason": "repeat", "otel_llm.loop.action": "observed", "otel_llm.model_group": "gpt-main"}
            | who,
        )
        meter_provider.force_flush()
        tracer_provider.force_flush()

        def exemplars() -> list[dict[str, Any]]:
            now = time.time()
            body = prometheus_get(
                prometheus, "query_exemplars", query="gen_ai_client_operation_duration_seconds_bucket", start=now - 300
            )
            return [e for series in body for e in series["exemplars"]]

        (exemplar, *_) = wait_until(exemplars, 20, "an exemplar on the duration histogram")
        assert exemplar["labels"]["trace_id"] == trace_id  # the label Grafana's datasource links on
        assert any(s["trace_id"] == trace_id for s in tempo.spans())

        (loop,) = wait_until(lambda: prometheus.query("otel_llm_loop_detections_total"), 20, "loop detections")
        labels = loop["metric"]
        assert labels["otel_llm_loop_reason"] == "repeat" and labels["otel_llm_loop_action"] == "observed"
        assert labels["otel_llm_key_alias"] == "agent-alpha" and labels["otel_llm_team_alias"] == "Team A"
        assert labels["service_instance_id"] == "worker-1" and "telemetry_sdk_language" not in labels
        (velocity,) = prometheus.query("otel_llm_key_spend_velocity_USD_per_min")
        assert velocity["value"][1] == "6.5"
        for name, value in from_database.items():
            (point,) = prometheus.query(PROMETHEUS_GAUGES[name])  # the name the dashboards and rules use
            assert float(point["value"][1]) == value, name
        (polls,) = prometheus.query(COUNTERS[POLLS.name])
        assert polls["metric"]["otel_llm_budget_poll_outcome"] == "failed"

        def loop_alert() -> list[dict[str, Any]]:
            return [
                a
                for a in prometheus.alerts()
                if a["labels"]["alertname"] == "LLMRunawayLoopDetected" and a["state"] == "firing"
            ]

        (alert,) = wait_until(loop_alert, 20, "LLMRunawayLoopDetected firing in Prometheus")
        summary = "Runaway loop: key agent-alpha (team Team A) on model gpt-main (repeat)"
        assert alert["annotations"]["summary"] == summary
        meter_provider.shutdown()
        tracer_provider.shutdown()
    finally:
        prometheus.stop()
        collector.stop()


def prometheus_get(prometheus: Prometheus, api: str, **params: Any) -> Any:
    """GET /api/v1/<api> and return its data."""
    return prometheus.api(api, **params)


def test_failed_exports_are_counted_as_the_alert_expects(tmp_path: Path, tempo: OtlpReceiver) -> None:
    """A Tempo that rejects spans shows up as otelcol_exporter_send_failed_spans, which the alert selects."""
    collector = Collector(tmp_path / "otelcol", f"{tempo.endpoint}/rejects").start()  # 404 on every export
    prometheus = Prometheus(tmp_path / "prometheus", collector).start()
    try:
        _send_span(collector.otlp_http, "chat rejected")
        wait_until(lambda: prometheus.query("otelcol_exporter_send_failed_spans"), 30, "the send_failed counter")
        _send_span(collector.otlp_http, "chat rejected again")  # the counter grows: rate() > 0
        (failing,) = wait_until(
            lambda: prometheus.query(f"({FAILING_EXPR}) > 0"), 30, "the exporter failing in Prometheus"
        )
        assert failing["metric"]["exporter"] == "otlp_http/tempo" and failing["metric"]["signal"] == "spans"
    finally:
        prometheus.stop()
        collector.stop()
