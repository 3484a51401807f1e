"""Shared fixtures: in-memory OpenTelemetry providers, strict internal errors, fake providers."""

from __future__ import annotations

import contextlib
import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import litellm
import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pytest_httpserver import HTTPServer

from otel_llm import LiteLLMInstrumentor, OtelLLMCallback, _errors
from otel_llm._emit.telemetry import Telemetry
from tests.fakes import FakeAnthropic, FakeOpenAI


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.01, message: str = "") -> Any:
    """Poll ``condition`` until it is truthy (LiteLLM reports calls after they return)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout}s: {message or condition}")
        time.sleep(interval)


def internal_error_points(reader: Any, component: str) -> list[Any]:
    """The ``otel_llm.internal.errors`` points of one component an SDK ``InMemoryMetricReader`` holds."""
    data = reader.get_metrics_data()
    assert data is not None
    return [
        point
        for resource_metrics in data.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
        if metric.name == "otel_llm.internal.errors"
        for point in metric.data.data_points
        if point.attributes.get("otel_llm.component") == component
    ]


class _EmitsInFlight:
    """How many ``Telemetry.emit`` calls are running, in any thread."""

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    def idle(self) -> bool:
        with self._lock:
            return self._count == 0

    def track(self, emit: Callable[..., None]) -> Callable[..., None]:
        def tracked(*args: Any, **kwargs: Any) -> None:
            with self._lock:
                self._count += 1
            try:
                emit(*args, **kwargs)
            finally:
                with self._lock:
                    self._count -= 1

        return tracked


EMITS_IN_FLIGHT = _EmitsInFlight()


@pytest.fixture(autouse=True)
def track_emits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counts emits in flight for ``Signals.wait_spans``."""
    monkeypatch.setattr(Telemetry, "emit", EMITS_IN_FLIGHT.track(Telemetry.emit))


@dataclass
class Signals:
    """In-memory providers for one test, and readers for what they received."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    logger_provider: LoggerProvider
    spans_exporter: InMemorySpanExporter
    metric_reader: InMemoryMetricReader
    log_exporter: InMemoryLogRecordExporter

    def spans(self) -> list[ReadableSpan]:
        return list(self.spans_exporter.get_finished_spans())

    def wait_spans(self, count: int, timeout: float = 10.0) -> list[ReadableSpan]:
        """At least ``count`` spans, and no attempt half-emitted: a span is exported when it ends,
        inside ``Telemetry.emit`` (on LiteLLM's callback thread or the sweeper), before its metric
        points are recorded; waiting for the emits too lets a test read those points at once."""
        wait_for(
            lambda: len(self.spans()) >= count and EMITS_IN_FLIGHT.idle(), timeout, message=f"{count} spans emitted"
        )
        return self.spans()

    def llm_spans(self) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.attributes and "gen_ai.operation.name" in s.attributes]

    def metrics(self) -> dict[str, list[Any]]:
        """Metric name → its data points (with attributes), from one collection."""
        data = self.metric_reader.get_metrics_data()
        result: dict[str, list[Any]] = {}
        if data is None:
            return result
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    result.setdefault(metric.name, []).extend(metric.data.data_points)
        return result

    def points(self, name: str) -> list[HistogramDataPoint | NumberDataPoint]:
        return self.metrics().get(name, [])


IN_MEMORY_ARCHIVE: list[bytes] = []


@pytest.fixture(scope="session", autouse=True)
def no_credential_in_any_exported_byte() -> Iterator[None]:
    """At the end of the session: no credential in anything exported by any test (OTLP or in memory)."""
    yield
    from tests.otlp_receiver import OtlpReceiver
    from tests.secrets import CREDENTIALS, HEADER_MARKERS

    exported = b"\n".join(OtlpReceiver.ARCHIVE + IN_MEMORY_ARCHIVE)
    leaked = [secret for secret in CREDENTIALS if secret.encode() in exported]
    leaked += [marker.decode() for marker in HEADER_MARKERS if marker in exported.lower() or marker in exported]
    assert not leaked, f"credentials found in exported telemetry: {leaked}"


def _archive(signals: Signals) -> None:
    for span in signals.spans():
        IN_MEMORY_ARCHIVE.append(span.to_json().encode())
    data = signals.metric_reader.get_metrics_data()
    if data is not None:
        IN_MEMORY_ARCHIVE.append(data.to_json().encode())
    for log in signals.log_exporter.get_finished_logs():
        IN_MEMORY_ARCHIVE.append(log.to_json().encode())


@pytest.fixture
def signals() -> Iterator[Signals]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    log_exporter = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    result = Signals(tracer_provider, meter_provider, logger_provider, exporter, reader, log_exporter)
    yield result
    _archive(result)
    tracer_provider.shutdown()
    meter_provider.shutdown()
    logger_provider.shutdown()


@pytest.fixture(autouse=True)
def fresh_process_state() -> None:
    """Each test starts with otel-llm's process-wide state empty (the public testing helper): setting
    problems logged again, no call left waiting or reported by an earlier test, fresh loop windows."""
    import otel_llm.testing

    otel_llm.testing.reset()


@pytest.fixture(autouse=True)
def strict_internal_errors() -> Iterator[None]:
    """Internal telemetry errors fail the test, even when LiteLLM swallowed them."""
    _errors.set_strict(True)
    _errors.take_strict_errors()
    yield
    errors = _errors.take_strict_errors()
    _errors.set_strict(False)
    assert not errors, f"otel-llm internal errors: {errors!r}"


@pytest.fixture(autouse=True)
def reset_litellm_callbacks() -> Iterator[None]:
    """Each test starts and ends with LiteLLM's callback lists as they were."""
    saved = {
        name: list(getattr(litellm, name))
        for name in (
            "callbacks",
            "success_callback",
            "failure_callback",
            "_async_success_callback",
            "_async_failure_callback",
        )
    }
    yield
    for name, value in saved.items():
        getattr(litellm, name)[:] = value


@pytest.fixture
def instrumented(signals: Signals) -> Iterator[LiteLLMInstrumentor]:
    """LiteLLM instrumented with the instrumentor, writing to this test's providers."""
    instrumentor = LiteLLMInstrumentor()
    instrumentor.instrument(
        tracer_provider=signals.tracer_provider,
        meter_provider=signals.meter_provider,
        logger_provider=signals.logger_provider,
    )
    yield instrumentor
    instrumentor.uninstrument()


@pytest.fixture
def callback_only(signals: Signals) -> Iterator[OtelLLMCallback]:
    """The callback alone in litellm.callbacks (no patches)."""
    callback = OtelLLMCallback(signals.tracer_provider, signals.meter_provider, signals.logger_provider)
    litellm.callbacks.append(callback)
    yield callback
    litellm.logging_callback_manager.remove_callback_from_all_lists(callback)
    callback.telemetry.close()


@pytest.fixture(params=["instrumentor", "callback"])
def capture_mode(request: pytest.FixtureRequest, signals: Signals) -> Iterator[str]:
    """Run a test once with the instrumentor and once with the callback alone."""
    if request.param == "instrumentor":
        request.getfixturevalue("instrumented")
    else:
        request.getfixturevalue("callback_only")
    yield request.param


@contextlib.contextmanager
def running_redis(workdir: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A real redis-server on 127.0.0.1 (installed by scripts/setup) while the block runs: (URL, process)."""
    import redis

    binary = shutil.which("redis-server")
    assert binary, "redis-server is installed by scripts/setup"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    command = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    client = redis.Redis(host="127.0.0.1", port=port)

    def up() -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    try:
        wait_for(up, timeout=10, message="redis-server up")
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A real redis-server on 127.0.0.1 (installed by scripts/setup): (URL, process)."""
    with running_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def fake_openai(httpserver: HTTPServer) -> FakeOpenAI:
    return FakeOpenAI(httpserver)


@pytest.fixture
def fake_anthropic(httpserver: HTTPServer) -> FakeAnthropic:
    return FakeAnthropic(httpserver)
