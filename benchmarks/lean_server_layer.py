"""Benchmark-only prototype: a SERVER layer of otel-llm's own instead of FastAPI's native telemetry.

One ASGI layer around an app's built middleware stack makes the SERVER span (lean, on otel-llm's
providers: the request's propagation headers, method, scheme, host, path and protocol, then the
route and status) and FastAPI's two ``http.server.*`` instruments, with FastAPI's telemetry off
(``OTEL_LLM_PROXY_FASTAPI_TELEMETRY=off``). It sizes the lever (``proxy_bench.py``'s
``otel-llm-lean-server``, ``fastapi_telemetry.py``'s ``own-layer``); it is not FastAPI's semantics
in full (mounts' routes, trailers, exceptions' types, websockets, the span's end at the last body).
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, StatusCode

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)


class LeanServer:
    """The ASGI layer: a SERVER span and FastAPI's two HTTP instruments per HTTP request."""

    def __init__(self, app: Any, providers: tuple[Any, Any]) -> None:
        tracer_provider, meter_provider = providers
        self.app = app
        self.tracer = tracer_provider.get_tracer("otel_llm.server")
        meter = meter_provider.get_meter("otel_llm.server")
        self.duration = meter.create_histogram(
            "http.server.request.duration", unit="s", explicit_bucket_boundaries_advisory=_BUCKETS
        )
        self.active = meter.create_up_down_counter("http.server.active_requests", unit="{request}")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        carrier: dict[str, str] = {}
        host = None
        for key, value in scope["headers"]:
            name = key.decode("latin-1")
            carrier[name] = value.decode("latin-1")
            if name == "host":
                host = carrier[name]
        method = scope["method"]
        attributes: dict[str, Any] = {"url.scheme": scope.get("scheme", "http"), "http.request.method": method}
        active_attributes = dict(attributes)
        if scope.get("http_version"):
            attributes["network.protocol.version"] = scope["http_version"]
        self.active.add(1, active_attributes)
        parent = propagate.extract(carrier)
        span_attributes = dict(attributes)
        if host:
            address, _, port = host.partition(":")
            span_attributes["server.address"] = address
            span_attributes["server.port"] = int(port) if port.isdigit() else 80
        span_attributes["url.path"] = scope["path"]
        span = self.tracer.start_span(method, context=parent, kind=SpanKind.SERVER, attributes=span_attributes)
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        status: int | None = None

        async def wrapped_send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        error: BaseException | None = None
        try:
            await self.app(scope, receive, wrapped_send)
        except BaseException as exc:
            error = exc
            raise
        finally:
            route = getattr(scope.get("route"), "path", None)
            if route is not None:
                attributes["http.route"] = route
                span.update_name(f"{method} {route}")
            if status is not None:
                attributes["http.response.status_code"] = status
            if error is not None or status is None or status >= 500:
                failure = type(error).__qualname__ if error is not None else None
                attributes["error.type"] = failure or str(status or "incomplete")
                span.set_status(StatusCode.ERROR)
            span.set_attributes(attributes)
            self.duration.record(max(0.0, perf_counter() - started), attributes)
            self.active.add(-1, active_attributes)
            span.end()
            otel_context.detach(token)


def install(callback: Any, app: Any = None) -> None:
    """Wrap ``app``'s middleware stack (LiteLLM's app by default) on ``callback``'s lean providers."""
    from otel_llm._export.lean_providers import host_providers  # noqa: PLC0415

    if app is None:
        import litellm.proxy.proxy_server as server  # noqa: PLC0415

        app = server.app
    providers = host_providers(callback.telemetry.metric_store)
    if providers is None:
        raise SystemExit("otel-llm's lean providers are not available here")
    stack = app.middleware_stack if app.middleware_stack is not None else app.build_middleware_stack()
    app.middleware_stack = LeanServer(stack, providers)
