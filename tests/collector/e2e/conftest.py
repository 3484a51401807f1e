"""One end-to-end stack for every test in this package, started once: the real LiteLLM proxy (and a
second one with small cardinality caps; the first reading budgets from a real PostgreSQL with
LiteLLM's schema) → the ocb-built Collector → Prometheus → Alertmanager → a
Slack stand-in, a Tempo stand-in and the Collector's usage-record file sink, all on 127.0.0.1, and
the traffic they all read (world.py)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from tests.budgets.postgres import Postgres
from tests.collector.e2e.world import (
    CACHED_TOKENS,
    CHURN_CAP,
    CHURN_IDLE_S,
    CHURN_KEYS,
    CHURN_SERVICE,
    MAIN_SERVICE,
    RESOURCE_SECRET,
    Churn,
    Providers,
    Proxies,
    Stack,
    Traffic,
    drive_churn,
    drive_traffic,
    hops_config,
    seed_database,
)
from tests.collector.stack import Alertmanager, Collector, Prometheus, SlackStandIn
from tests.fakes import FailingProvider, FakeOpenAI
from tests.otlp_receiver import OtlpReceiver
from tests.proxy.harness import PROVIDER_KEY, ProxyProcess, model_list
from tests.proxy.hops_harness import ServerProcess


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("stack")
    usage_dir = workdir / "usage"
    with OtlpReceiver() as tempo, SlackStandIn() as slack:
        collector = Collector(
            workdir / "otelcol", tempo.endpoint, OTEL_LLM_COLLECTOR_USAGE_PATH=str(usage_dir / "usage.jsonl")
        )
        alertmanager = Alertmanager(workdir / "alertmanager", slack)
        prometheus = Prometheus(workdir / "prometheus", collector, alertmanager.port)
        started: list[Any] = []
        try:
            for process in (collector, alertmanager, prometheus):
                started.append(process.start())
            yield Stack(tempo, slack, collector, prometheus, alertmanager, usage_dir)
        finally:
            for process in reversed(started):
                process.stop()


@pytest.fixture(scope="package")
def providers() -> Iterator[Providers]:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    fake, broken = FakeOpenAI(server), FailingProvider(server, "/broken", 500)
    fake.headers.update({"x-ratelimit-limit-requests": "5000", "x-ratelimit-limit-tokens": "160000"})
    fake.cached_tokens = CACHED_TOKENS
    # A model LiteLLM has no price for: cost 0, counted as an accounting issue.
    unpriced = FakeOpenAI(server, prefix="/unpriced")
    unpriced.model = "in-house-llm-7b"
    try:
        yield Providers(server, fake, broken, unpriced, FakeOpenAI(server, prefix="/churn"))
    finally:
        server.clear()
        server.stop()


@pytest.fixture(scope="package")
def hop_servers() -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """The MCP server (streamable HTTP) and the A2A agent behind the main proxy."""
    calc, agent = ServerProcess("calc_mcp.py", "http"), ServerProcess("echo_agent.py")
    try:
        yield calc.start(), agent.start()
    finally:
        calc.stop()
        agent.stop()


@pytest.fixture(scope="package")
def database() -> Iterator[tuple[Postgres, datetime]]:
    """LiteLLM's database (world.seed_database's rows) and the seeded budgets' reset time."""
    server = Postgres()
    try:
        server.start()
        server.create_litellm_database()
        with server.connect() as db:
            reset = seed_database(db)
        yield server, reset
    finally:
        server.destroy()


@pytest.fixture(scope="package")
def proxies(
    tmp_path_factory: pytest.TempPathFactory,
    stack: Stack,
    providers: Providers,
    hop_servers: tuple[ServerProcess, ServerProcess],
    database: tuple[Postgres, datetime],
) -> Iterator[Proxies]:
    """The main proxy and the churn proxy, started side by side (each takes seconds to import LiteLLM)."""
    models = model_list(providers.fake.api_base, providers.broken.api_base)
    params = {"model": "openai/in-house-llm-7b", "api_base": providers.unpriced.api_base, "api_key": PROVIDER_KEY}
    models.append({"model_name": "gpt-unpriced", "litellm_params": params})
    main = ProxyProcess(
        tmp_path_factory.mktemp("proxy"),
        models,
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": stack.collector.otlp_http,
            "OTEL_SERVICE_NAME": MAIN_SERVICE,
            "OTEL_LLM_PROXY_HTTP_SPANS": "true",
            "OTEL_RESOURCE_ATTRIBUTES": f"deployment.environment=e2e,otel_llm.test.authorization={RESOURCE_SECRET}",
            # The proxy captures prompts and completions: the Collector must drop them.
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY",
            # Not DATABASE_URL: LiteLLM would then need its Prisma engines (which cannot be fetched here).
            "OTEL_LLM_BUDGET_DATABASE_URL": database[0].url,
            "OTEL_LLM_BUDGET_POLL_INTERVAL": "2",
        },
        extra_config=hops_config(hop_servers[0].port, hop_servers[1].port),
    )
    churn = ProxyProcess(
        tmp_path_factory.mktemp("churn-proxy"),
        model_list(providers.churn.api_base, providers.broken.api_base),
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": stack.collector.otlp_http,
            "OTEL_SERVICE_NAME": CHURN_SERVICE,
            "OTEL_LLM_METRIC_ATTRIBUTE_VALUE_LIMIT": str(CHURN_CAP),
            "OTEL_LLM_METRIC_IDLE_TIMEOUT": str(CHURN_IDLE_S),
        },
        keys=CHURN_KEYS,
    )
    try:
        with ThreadPoolExecutor(2) as pool:
            for started in [pool.submit(main.start), pool.submit(churn.start)]:
                started.result()
        yield Proxies(main, churn)
    finally:
        main.stop()
        churn.stop()


@pytest.fixture(scope="package")
def traffic(proxies: Proxies, stack: Stack) -> Traffic:
    """The main proxy's traffic (world.drive_traffic), once for the package."""
    return drive_traffic(proxies.main, stack.prometheus)


@pytest.fixture(scope="package")
def churn(proxies: Proxies, stack: Stack) -> Churn:
    """The churn proxy's keys past its cap and after the idle timeout (world.drive_churn)."""
    return drive_churn(proxies.churn, stack.prometheus)
