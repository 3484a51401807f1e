"""The real proxy with FastAPI's telemetry off (`OTEL_LLM_PROXY_FASTAPI_TELEMETRY=off`): otel-llm opens
each LLM request's SERVER span itself and ends it, a streamed request's when its stream ends.

That last case is the only one in which otel-llm's callback defines LiteLLM's streaming iterator hook:
LiteLLM passes every chunk through each callback class that defines it (and through guarded layers of
its own), and streams straight through when none does — as it does behind FastAPI's SERVER span, the
default (tests/test_proxy_defaults.py checks LiteLLM's own reading of both).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes import FakeAnthropic, fake_providers
from tests.otlp_receiver import OtlpReceiver
from tests.proxy.harness import ALPHA, ProxyProcess, claude_deployment, model_list, stream_messages

pytestmark = pytest.mark.e2e

SERVER, INTERNAL, CLIENT = 2, 1, 3  # OTLP span kinds
CLIENT_SPAN = "c" * 16


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as r:
        yield r


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, receiver: OtlpReceiver) -> Iterator[ProxyProcess]:
    with fake_providers("/broken") as (fake, broken):
        anthropic = FakeAnthropic(fake.server)
        anthropic.chunk_delay_s = 0.05  # the stream's end comes well after its start
        claude = claude_deployment("claude-main", anthropic.api_base)
        process = ProxyProcess(
            tmp_path_factory.mktemp("proxy-own-spans"),
            [*model_list(fake.api_base, broken.api_base), claude],
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                "OTEL_SERVICE_NAME": "proxy-own-spans",
                "OTEL_LLM_PROXY_FASTAPI_TELEMETRY": "off",
            },
        ).start()
        yield process
        process.stop()
        assert "otel-llm: internal error" not in process.log(), process.log()[-5000:]


def _spans(receiver: OtlpReceiver, trace_id: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The trace's SERVER, Router (INTERNAL) and attempt spans, once all three arrived."""

    def complete() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]] | None:
        spans = [s for s in receiver.spans() if s["trace_id"] == trace_id and s["scope"] == "otel_llm"]
        by_kind = {kind: [s for s in spans if s["kind"] == kind] for kind in (SERVER, INTERNAL, CLIENT)}
        if not all(by_kind.values()):
            return None
        ((server,), (router,), (attempt,)) = by_kind[SERVER], by_kind[INTERNAL], by_kind[CLIENT]
        return server, router, attempt

    return receiver.wait_for(complete, message=f"otel-llm's request, Router and attempt spans in {trace_id}")


def test_a_request_span_of_its_own(proxy: ProxyProcess, receiver: OtlpReceiver) -> None:
    """FastAPI makes no span: otel-llm's SERVER span continues the caller's trace, with the Router's
    span (kept when FastAPI's is off) and the attempt under it, and ends with the status sent."""
    trace_id = "d" * 32
    response = proxy.chat(ALPHA, headers={"traceparent": f"00-{trace_id}-{CLIENT_SPAN}-01"})
    assert response.status_code == 200, response.text
    server, router, attempt = _spans(receiver, trace_id)
    assert server["parent_span_id"] == CLIENT_SPAN and server["name"].startswith("POST ")
    assert server["attributes"]["http.response.status_code"] == 200
    assert router["parent_span_id"] == server["span_id"] and attempt["parent_span_id"] == router["span_id"]
    assert not [s for s in receiver.spans() if s["trace_id"] == trace_id and s["scope"] == "fastapi"]


def test_a_streamed_request_span_ends_with_its_stream(proxy: ProxyProcess, receiver: OtlpReceiver) -> None:
    """The streaming iterator hook ends otel-llm's SERVER span when the stream has been sent, after
    the attempt's last chunk, with the status the client got."""
    trace_id = "e" * 32
    headers = {"Authorization": f"Bearer {ALPHA}", "traceparent": f"00-{trace_id}-{CLIENT_SPAN}-01"}
    events = stream_messages(proxy.url, headers, "claude-main")
    assert events[0] == "message_start" and events[-1] == "message_stop"
    server, _, attempt = _spans(receiver, trace_id)
    assert server["attributes"]["http.response.status_code"] == 200
    assert attempt["attributes"]["gen_ai.request.stream"] is True
    assert server["end"] >= attempt["end"]
