"""Loop detection through the real proxy: a repeating client is caught and refused; busy traffic never is."""

from __future__ import annotations

import concurrent.futures
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.fakes import FailingProvider, FakeOpenAI, fake_providers
from tests.otlp_receiver import OtlpReceiver
from tests.proxy.harness import ALPHA, BETA, ProxyProcess, model_list

pytestmark = pytest.mark.e2e

CLIENT = 3


@pytest.fixture(scope="module")
def providers() -> Iterator[tuple[FakeOpenAI, FailingProvider]]:
    with fake_providers("/broken") as providers:
        yield providers


def _start(
    tmp: Path, providers: tuple[FakeOpenAI, FailingProvider], receiver: OtlpReceiver, **env: str
) -> ProxyProcess:
    fake, broken = providers
    workers = int(env.pop("WORKERS", "1"))
    return ProxyProcess(
        tmp,
        model_list(fake.api_base, broken.api_base),
        {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, **env},
        workers,
    ).start()


def _detections(receiver: OtlpReceiver) -> dict[tuple[str, str, str], int]:
    result: dict[tuple[str, str, str], int] = {}
    for attrs, point, _ in receiver.latest_points("otel_llm.loop.detections"):
        key = (attrs["otel_llm.loop.reason"], attrs["otel_llm.loop.action"], attrs.get("otel_llm.key.alias", ""))
        result[key] = result.get(key, 0) + point.as_int
    return result


def _busy_varied_traffic(proxy: ProxyProcess) -> list[int]:
    topics = ["billing", "refund", "login", "shipping", "invoice", "password", "upgrade", "cancel"]

    def send(i: int) -> int:
        prompt = f"{topics[i % 8]} question {i}: " + "please help " * (i % 11)
        return proxy.chat(ALPHA if i % 2 else BETA, text=prompt, user=f"customer-{i % 9}").status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return list(pool.map(send, range(160)))


@pytest.mark.parametrize("mode", ["observe", "block"])
def test_busy_varied_traffic_is_never_flagged(
    mode: str, tmp_path: Path, providers: tuple[FakeOpenAI, FailingProvider]
) -> None:
    """160 varied requests at full speed across two keys and nine end users: no detection, no refusal."""
    with OtlpReceiver() as receiver:
        proxy = _start(tmp_path, providers, receiver, OTEL_LLM_LOOP_MODE=mode)
        try:
            statuses = _busy_varied_traffic(proxy)
            assert statuses == [200] * 160
            receiver.wait_for(
                lambda: sum(p.count for _, p, _ in receiver.latest_points("gen_ai.client.operation.duration")) == 160,
                message="all calls exported",
            )
            assert _detections(receiver) == {}
        finally:
            proxy.stop()
        assert "otel-llm: internal error" not in proxy.log()


def test_repeating_client_is_refused_with_429(tmp_path: Path, providers: tuple[FakeOpenAI, FailingProvider]) -> None:
    """A key repeating one prompt: the first 8 calls succeed, the 9th gets 429 saying why and when it clears."""
    with OtlpReceiver() as receiver:
        proxy = _start(tmp_path, providers, receiver, OTEL_LLM_LOOP_MODE="block")
        try:
            responses = [proxy.chat(ALPHA, text="is the report ready?") for _ in range(9)]
            assert [r.status_code for r in responses] == [200] * 8 + [429]
            refused = responses[-1]
            assert "runaway loop (repeat: 8 identical requests" in refused.text
            assert "refused for" in refused.text
            assert 0 < int(refused.headers["retry-after"]) <= 300
            assert proxy.chat(BETA, text="is the report ready?").status_code == 200  # another key is unaffected
            receiver.wait_for(lambda: _detections(receiver), message="detection exported")
            assert _detections(receiver) == {("repeat", "blocked", "agent-alpha"): 1}

            def flagged() -> list[dict[str, object]]:
                return [
                    s
                    for s in receiver.spans()
                    if s["kind"] == CLIENT and any(n == "otel_llm.loop.detected" for n, _ in s["events"])
                ]

            (span,) = receiver.wait_for(flagged, message="the triggering call's span event")
            (event,) = [attrs for name, attrs in span["events"] if name == "otel_llm.loop.detected"]
            assert event["otel_llm.loop.repeats"] == 8 and event["otel_llm.loop.reason"] == "repeat"
            receiver.wait_for(lambda: receiver.latest_points("otel_llm.loop.refusals"), message="refusal counted")
            # LiteLLM reports the 429 as a request refused before any provider call: counted as such,
            # with no attempt span (8 served calls for agent-alpha, not 9).
            (refusal,) = receiver.wait_for(
                lambda: [a for a, _, _ in receiver.latest_points("otel_llm.proxy.refusals")], message="proxy refusal"
            )
            assert refusal["http.response.status_code"] == 429 and refusal["otel_llm.key.alias"] == "agent-alpha"
            alpha_attempts = [
                s
                for s in receiver.spans()
                if s["kind"] == CLIENT and s["attributes"].get("otel_llm.key.alias") == "agent-alpha"
            ]
            assert len(alpha_attempts) == 8
            receiver.wait_for(lambda: receiver.latest_points("otel_llm.key.spend_velocity"), message="velocity gauge")
        finally:
            proxy.stop()


def test_two_workers_share_windows_through_redis(
    tmp_path: Path, providers: tuple[FakeOpenAI, FailingProvider], redis_server: tuple[str, subprocess.Popen[bytes]]
) -> None:
    """A loop spread over two proxy processes is caught as one; Redis stopping degrades without failing traffic.

    Two single-worker proxies stand for two workers (the kernel, not the test, would decide which
    worker of one proxy accepts a connection): the client alternates between them, so each alone
    sees at most 5 repeats, fewer than the 8 that make a loop.
    """
    url, redis_process = redis_server
    with OtlpReceiver() as receiver:
        workers = [
            _start(tmp_path / name, providers, receiver, OTEL_LLM_LOOP_MODE="block", OTEL_LLM_LOOP_REDIS_URL=url)
            for name in ("worker-a", "worker-b")
        ]
        try:
            statuses = [workers[i % 2].chat(ALPHA, text="status?").status_code for i in range(10)]
            assert statuses[:8] == [200] * 8 and statuses[8] == 429 and statuses[9] == 429, statuses
            redis_process.terminate()
            redis_process.wait(timeout=10)
            after = [workers[i % 2].chat(BETA, text=f"fresh question {i}").status_code for i in range(6)]
            assert after == [200] * 6
            wait_for(
                lambda: all("cannot reach Redis" in w.log() for w in workers),
                timeout=15,
                message="degradation warnings",
            )
        finally:
            for worker in workers:
                worker.stop()
        for worker in workers:
            assert "otel-llm: internal error" not in worker.log()
