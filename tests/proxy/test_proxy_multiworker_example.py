"""examples/multiworker/: uvicorn and gunicorn workers each export as themselves, and totals add up."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes import FakeOpenAI, fake_providers
from tests.otlp_receiver import OtlpReceiver
from tests.proxy.harness import MASTER_KEY, ProxyProcess

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "multiworker" / "config.yaml"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with fake_providers() as (openai, _):
        yield openai


@pytest.mark.parametrize("server", ["uvicorn", "gunicorn"])
def test_multiworker_example(server: str, tmp_path: Path, fake: FakeOpenAI) -> None:
    """40 requests over two workers: two service instances, 40 calls in the summed metrics."""
    with OtlpReceiver() as receiver:
        proxy = ProxyProcess(
            tmp_path,
            [],
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                "OPENAI_API_KEY": "sk-openai-example",
                "OPENAI_API_BASE": fake.api_base,
            },
            workers=2,
            config_file=EXAMPLE,
            extra_args=["--run_gunicorn"] if server == "gunicorn" else [],
        ).start()
        try:

            def send(i: int) -> int:
                return httpx.post(
                    f"{proxy.url}/v1/chat/completions",
                    headers={"Authorization": f"Bearer {MASTER_KEY}", "Connection": "close"},
                    json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"hello {i}"}]},
                    timeout=30,
                ).status_code

            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                assert list(pool.map(send, range(40))) == [200] * 40

            def calls() -> int:
                return sum(p.count for _, p, _ in receiver.latest_points("gen_ai.client.operation.duration"))

            receiver.wait_for(lambda: calls() == 40, timeout=30, message="40 calls across workers")
            instances = {
                r["service.instance.id"] for _, _, r in receiver.latest_points("gen_ai.client.operation.duration")
            }
            assert len(instances) == 2
        finally:
            proxy.stop()
        assert "otel-llm: internal error" not in proxy.log()
