"""examples/proxy/config.yaml runs as documented: master-key auth, two providers, a fallback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pytest_httpserver import HTTPServer

from tests.fakes import FailingProvider, FakeAnthropic
from tests.otlp_receiver import OtlpReceiver
from tests.proxy.harness import MASTER_KEY, ProxyProcess

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "proxy" / "config.yaml"


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    server.stop()


def test_example_proxy_config(tmp_path: Path, server: HTTPServer) -> None:
    """The example falls back from a failing OpenAI to Anthropic, and the trace shows it."""
    openai = FailingProvider(server, "/openai", 503)
    anthropic = FakeAnthropic(server)
    with OtlpReceiver() as receiver:
        proxy = ProxyProcess(
            tmp_path,
            [],
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                "OPENAI_API_KEY": "sk-openai-example",
                "OPENAI_API_BASE": openai.api_base,
                "ANTHROPIC_API_KEY": "sk-ant-example",
                "ANTHROPIC_API_BASE": anthropic.api_base,
            },
            config_file=EXAMPLE,
        ).start()
        try:
            trace_id = "7" * 32
            response = httpx.post(
                f"{proxy.url}/v1/chat/completions",
                headers={"Authorization": f"Bearer {MASTER_KEY}", "traceparent": f"00-{trace_id}-{'8' * 16}-01"},
                json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]},
                timeout=30,
            )
            assert response.status_code == 200, response.text
            assert response.headers["x-litellm-model-group"] == "claude-haiku"

            def attempts() -> list[dict[str, object]]:
                return [
                    s
                    for s in receiver.spans()
                    if s["trace_id"] == trace_id and s["scope"] == "otel_llm" and s["kind"] == 3
                ]

            receiver.wait_for(lambda: len(attempts()) >= 4, message="3 failed attempts and the fallback")
            providers = sorted(s["attributes"]["gen_ai.provider.name"] for s in attempts())
            assert providers == ["anthropic", "openai", "openai", "openai"]
            (served,) = [s for s in attempts() if s["attributes"]["gen_ai.provider.name"] == "anthropic"]
            assert [name for name, _ in served["events"]] == ["otel_llm.fallback"]
            assert served["attributes"]["gen_ai.usage.output_tokens"] == 5
        finally:
            proxy.stop()
        assert "otel-llm: internal error" not in proxy.log()
