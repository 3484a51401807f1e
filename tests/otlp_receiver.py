"""A local OTLP/HTTP receiver (protobuf) for subprocess and proxy tests.

It keeps every raw request body, so tests can scan all exported bytes for secrets,
and decodes spans, metrics and logs for assertions.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tests.conftest import wait_for

_MESSAGES = {
    "/v1/traces": ExportTraceServiceRequest,
    "/v1/metrics": ExportMetricsServiceRequest,
    "/v1/logs": ExportLogsServiceRequest,
}


def any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return tuple(any_value(v) for v in value.array_value.values)
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind) if kind else None


def attributes(kvs: Iterator[KeyValue] | Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in kvs}


class OtlpReceiver:
    """Collects OTLP/HTTP exports on 127.0.0.1 (start with ``with OtlpReceiver() as r``)."""

    # Every body any receiver got during the test session, for the end-of-session secret scan.
    ARCHIVE: list[bytes] = []  # noqa: RUF012  # shared on purpose

    def __init__(self, port: int = 0) -> None:
        self.raw: list[bytes] = []
        self.requests: dict[str, list[Any]] = {path: [] for path in _MESSAGES}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                message_type = _MESSAGES.get(self.path)
                if message_type is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                message = message_type()
                message.ParseFromString(body)
                with receiver._lock:
                    receiver.raw.append(body)
                    OtlpReceiver.ARCHIVE.append(body)
                    receiver.requests[self.path].append(message)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- decoded views ------------------------------------------------------------
    def spans(self) -> list[dict[str, Any]]:
        """Every received span as a dict: name, kind, ids, start and end (ns), attributes, events, resource."""
        result = []
        with self._lock:
            requests = list(self.requests["/v1/traces"])
        for request in requests:
            for resource_spans in request.resource_spans:
                resource = attributes(resource_spans.resource.attributes)
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        result.append(
                            {
                                "name": span.name,
                                "kind": span.kind,
                                "trace_id": span.trace_id.hex(),
                                "span_id": span.span_id.hex(),
                                "parent_span_id": span.parent_span_id.hex(),
                                "start": span.start_time_unix_nano,
                                "end": span.end_time_unix_nano,
                                "attributes": attributes(span.attributes),
                                "events": [(e.name, attributes(e.attributes)) for e in span.events],
                                "status": span.status.code,
                                "scope": scope_spans.scope.name,
                                "resource": resource,
                            }
                        )
        return result

    def log_records(self) -> list[dict[str, Any]]:
        """Every received log record as a dict: event name, body, attributes, trace and span ids, resource."""
        result = []
        with self._lock:
            requests = list(self.requests["/v1/logs"])
        for request in requests:
            for resource_logs in request.resource_logs:
                resource = attributes(resource_logs.resource.attributes)
                for scope_logs in resource_logs.scope_logs:
                    for record in scope_logs.log_records:
                        result.append(
                            {
                                "event_name": record.event_name,
                                "body": any_value(record.body),
                                "attributes": attributes(record.attributes),
                                "trace_id": record.trace_id.hex(),
                                "span_id": record.span_id.hex(),
                                "resource": resource,
                            }
                        )
        return result

    def metric_points(self, name: str) -> list[tuple[dict[str, Any], Any, dict[str, Any]]]:
        """(attributes, data point, resource attributes) of every point of a metric."""
        result = []
        with self._lock:
            requests = list(self.requests["/v1/metrics"])
        for request in requests:
            for resource_metrics in request.resource_metrics:
                resource = attributes(resource_metrics.resource.attributes)
                for scope_metrics in resource_metrics.scope_metrics:
                    for metric in scope_metrics.metrics:
                        if metric.name != name:
                            continue
                        kind = metric.WhichOneof("data")
                        for point in getattr(metric, kind).data_points:
                            result.append((attributes(point.attributes), point, resource))
        return result

    def latest_points(self, name: str) -> list[tuple[dict[str, Any], Any, dict[str, Any]]]:
        """The newest point of each series (exports are cumulative: earlier points repeat)."""
        newest: dict[tuple[Any, ...], tuple[dict[str, Any], Any, dict[str, Any]]] = {}
        for attrs, point, resource in self.metric_points(name):
            key = (tuple(sorted(map(str, attrs.items()))), tuple(sorted(map(str, resource.items()))))
            if key not in newest or point.time_unix_nano >= newest[key][1].time_unix_nano:
                newest[key] = (attrs, point, resource)
        return list(newest.values())

    def wait_for(self, condition: Callable[[], Any], timeout: float = 20.0, message: str = "") -> Any:
        return wait_for(condition, timeout, 0.05, f"OTLP receiver: {message}")
