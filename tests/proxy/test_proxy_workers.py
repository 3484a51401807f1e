"""Exact totals from the proxy with one and with two workers, and one pipeline under opentelemetry-instrument."""

from __future__ import annotations

import concurrent.futures
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.fakes import FailingProvider, FakeOpenAI, fake_providers
from tests.otlp_receiver import OtlpReceiver
from tests.proxy.harness import ALPHA, BETA, KEYS, ProxyProcess, model_list

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent


@pytest.fixture
def providers() -> Iterator[tuple[FakeOpenAI, FailingProvider]]:
    with fake_providers("/broken") as providers:
        yield providers


def _team_sum(receiver: OtlpReceiver, metric: str, team: str, field: str = "sum", **match: str) -> float:
    return sum(
        getattr(point, field)
        for attrs, point, _ in receiver.latest_points(metric)
        if attrs.get("otel_llm.team.id") == team and all(attrs.get(k) == v for k, v in match.items())
    )


def test_key_hashes_agree_across_workers_with_the_master_key_only_in_config(
    tmp_path: Path, providers: tuple[FakeOpenAI, FailingProvider]
) -> None:
    """A master key written in config.yaml, none in the environment: both workers salt key hashes
    with it, so one key has one hash (not a random salt per worker)."""
    fake, broken = providers
    with OtlpReceiver() as receiver:
        proxy = ProxyProcess(
            tmp_path, model_list(fake.api_base, broken.api_base), {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}, 2
        )
        config = yaml.safe_load((tmp_path / "config.yaml").read_text())
        config["general_settings"]["master_key"] = proxy.env.pop("LITELLM_MASTER_KEY")
        (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
        proxy.start()
        try:

            def hashes_by_worker() -> dict[str, set[str]]:
                seen: dict[str, set[str]] = defaultdict(set)
                for attrs, _, resource in receiver.latest_points("otel_llm.client.requests"):
                    if attrs.get("otel_llm.key.alias") == KEYS[ALPHA]["key_alias"]:
                        seen[resource["service.instance.id"]].add(attrs["otel_llm.key.hash"])
                return seen

            # The kernel picks the worker of each connection: send until both have exported (bounded).
            for _ in range(10):
                for _ in range(20):
                    assert proxy.chat(ALPHA, headers={"Connection": "close"}).status_code == 200
                receiver.wait_for(hashes_by_worker, timeout=30, message="calls exported")
                if len(hashes_by_worker()) == 2:
                    break
            by_worker = hashes_by_worker()
            assert len(by_worker) == 2
            assert len(set().union(*by_worker.values())) == 1, by_worker
        finally:
            proxy.stop()
        assert "random per-process salt" not in proxy.log()
        assert "otel-llm: internal error" not in proxy.log()


@pytest.mark.parametrize(("workers", "emitter"), [(1, "inline"), (2, "inline"), (2, "process")])
def test_team_totals_equal_what_the_provider_served(
    workers: int, emitter: str, tmp_path: Path, providers: tuple[FakeOpenAI, FailingProvider]
) -> None:
    """Per-team requests, tokens and spend in the exported metrics equal what was served, under concurrent load;
    also with each worker's attempts emitted by a process of its own (OTEL_LLM_PROXY_EMITTER=process)."""
    fake, broken = providers
    with OtlpReceiver() as receiver:
        proxy = ProxyProcess(
            tmp_path,
            model_list(fake.api_base, broken.api_base),
            {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_LLM_PROXY_EMITTER": emitter},
            workers,
        ).start()
        try:
            expected: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))

            def send(i: int) -> None:
                key = ALPHA if i % 3 else BETA
                words = " ".join(["word"] * (1 + i % 7))
                response = proxy.chat(key, text=words, headers={"Connection": "close"})
                assert response.status_code == 200, response.text
                team = KEYS[key]["team_id"]
                expected[team]["requests"] += 1
                expected[team]["input"] += 1 + i % 7
                expected[team]["output"] += len(fake.reply.split())
                expected[team]["spend"] += float(response.headers["x-litellm-response-cost"])

            def instances() -> set[str]:
                return {
                    r["service.instance.id"] for _, _, r in receiver.latest_points("gen_ai.client.operation.duration")
                }

            # The kernel decides which worker accepts a connection: send batches of 60 until every
            # worker has exported some calls (bounded); the totals then cover all that was sent.
            sent = 0
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                for _ in range(5):
                    list(pool.map(send, range(sent, sent + 60)))
                    sent += 60
                    receiver.wait_for(
                        lambda total=sent: (
                            sum(p.count for _, p, _ in receiver.latest_points("gen_ai.client.operation.duration"))
                            == total
                        ),
                        timeout=30,
                        message=f"{sent} calls exported",
                    )
                    if len(instances()) == workers:
                        break
            assert fake.served.requests == sent
            assert fake.served.input_tokens == sum(t["input"] for t in expected.values())

            def totals_match() -> bool:
                return all(
                    _team_sum(receiver, "gen_ai.client.operation.duration", team, "count") == e["requests"]
                    and _team_sum(receiver, "gen_ai.client.token.usage", team, **{"gen_ai.token.type": "input"})
                    == e["input"]
                    and _team_sum(receiver, "gen_ai.client.token.usage", team, **{"gen_ai.token.type": "output"})
                    == e["output"]
                    for team, e in expected.items()
                )

            receiver.wait_for(totals_match, timeout=30, message="per-team totals")
            for team, e in expected.items():
                assert _team_sum(receiver, "otel_llm.client.cost", team) == pytest.approx(e["spend"], rel=1e-9)
            assert len(instances()) == workers
            # Headroom gauges describe the key, not a worker: one series per key, whatever the workers.
            spend = receiver.latest_points("otel_llm.key.spend")
            assert sorted(a["otel_llm.key.alias"] for a, _, _ in spend) == ["agent-alpha", "agent-beta"]
            assert all("service.instance.id" not in r for _, _, r in spend)
            if emitter == "process":  # the workers' SERVER spans' metrics are their own instances
                servers = {
                    r["service.instance.id"] for _, _, r in receiver.latest_points("http.server.request.duration")
                }
                assert servers and not servers & instances()
        finally:
            proxy.stop()
        assert "otel-llm: internal error" not in proxy.log()
        assert "emitting in the worker" not in proxy.log()


def test_under_opentelemetry_instrument_each_span_once(
    tmp_path: Path, providers: tuple[FakeOpenAI, FailingProvider]
) -> None:
    """Started under opentelemetry-instrument, the proxy reuses its providers: every span is exported once."""
    fake, broken = providers
    with OtlpReceiver() as receiver:
        proxy = ProxyProcess(
            tmp_path,
            model_list(fake.api_base, broken.api_base),
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                "OTEL_SERVICE_NAME": "instrumented-proxy",
                "OTEL_LOGS_EXPORTER": "none",
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_METRICS_EXPORTER": "otlp",
            },
            # "--": opentelemetry-instrument would otherwise take litellm's --config as its own option.
            wrapper=[str(BIN / "opentelemetry-instrument"), "--"],
        ).start()
        try:
            for i in range(3):
                trace_id = f"{i + 1:032x}"
                headers = {"traceparent": f"00-{trace_id}-{'5' * 16}-01"}
                assert proxy.chat(ALPHA, headers=headers).status_code == 200

            def ours() -> list[dict[str, object]]:
                return [s for s in receiver.spans() if s["scope"] == "otel_llm"]

            receiver.wait_for(lambda: len([s for s in ours() if s["kind"] == 3]) >= 3)
            spans = ours()
            keys = [(s["trace_id"], s["span_id"]) for s in spans]
            assert len(keys) == len(set(keys))
            for i in range(3):
                in_trace = [s for s in spans if s["trace_id"] == f"{i + 1:032x}"]
                # The attempt only: the Router request is folded into the SERVER span here too.
                assert [s["name"] for s in in_trace] == ["chat gpt-4o-mini"]
            traces = {f"{i + 1:032x}" for i in range(3)}
            servers = [s for s in receiver.spans() if s["kind"] == 2 and s["trace_id"] in traces]
            assert len(servers) == 3 and all(s["attributes"]["otel_llm.router.attempts"] == 1 for s in servers)
            assert {s["resource"]["service.name"] for s in spans} == {"instrumented-proxy"}

            def calls() -> int:
                return sum(p.count for _, p, _ in receiver.latest_points("gen_ai.client.operation.duration"))

            receiver.wait_for(lambda: calls() >= 3, message="duration points")
            assert calls() == 3
        finally:
            proxy.stop()
        assert "otel-llm: internal error" not in proxy.log()


def test_prometheus_endpoint_with_one_worker(tmp_path: Path, providers: tuple[FakeOpenAI, FailingProvider]) -> None:
    """OTEL_LLM_EXPORTER=prometheus serves the GenAI metrics from the proxy process."""
    import httpx

    from tests.proxy.harness import free_port

    fake, broken = providers
    port = free_port()
    proxy = ProxyProcess(
        tmp_path,
        model_list(fake.api_base, broken.api_base),
        {
            "OTEL_LLM_EXPORTER": "prometheus",
            "OTEL_EXPORTER_PROMETHEUS_HOST": "127.0.0.1",
            "OTEL_EXPORTER_PROMETHEUS_PORT": str(port),
        },
    ).start()
    try:
        assert proxy.chat(ALPHA).status_code == 200

        def scrape() -> str:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            return text if 'gen_ai_token_type="output"' in text else ""

        from tests.conftest import wait_for

        text = wait_for(scrape, timeout=15, message="token usage on /metrics")
        assert "gen_ai_client_operation_duration_seconds_bucket" in text
        assert 'otel_llm_team_id="team-a"' in text
        assert 'otel_llm_key_budget_utilization{otel_llm_key_alias="agent-alpha"' in text
    finally:
        proxy.stop()


def test_prometheus_endpoint_refused_with_two_workers(
    tmp_path: Path, providers: tuple[FakeOpenAI, FailingProvider]
) -> None:
    """With several workers an in-process Prometheus endpoint would be wrong: the proxy refuses to start, saying why."""
    fake, broken = providers
    proxy = ProxyProcess(
        tmp_path, model_list(fake.api_base, broken.api_base), {"OTEL_LLM_EXPORTER": "prometheus"}, workers=2
    )
    # The proxy exits as soon as a worker refuses; the bound is for a loaded machine, where two
    # workers' start (not the refusal) once took longer than 60 s and the timeout, not the refusal, ended it.
    with pytest.raises(RuntimeError, match="proxy exited"):
        proxy.start(timeout=180)
    if _litellm_exports_num_workers():
        # Every worker knows the worker count and refuses up front.
        assert "Use OTEL_LLM_EXPORTER=otlp" in proxy.log()
    else:
        # Older LiteLLM (1.102) does not tell its workers how many they are: the first one serves,
        # the second cannot bind the port and stops the proxy, naming the same fix.
        assert "use OTEL_LLM_EXPORTER=otlp with a Collector" in proxy.log()


def _litellm_exports_num_workers() -> bool:
    """Whether LiteLLM's CLI puts ``--num_workers`` into its workers' environment as NUM_WORKERS."""
    from litellm.proxy import proxy_cli

    return 'os.environ["NUM_WORKERS"]' in Path(proxy_cli.__file__).read_text()
