"""``otel-llm demo``: agents on a local fake provider, instrumented by otel-llm, with a report.

Everything is embedded: a fake OpenAI-compatible provider (latency, streaming, 429/500),
a LiteLLM Router with a fallback chain, four agents with their own virtual keys and
teams (one of them stuck in a tool loop), their budget state as the proxy's budget poller
reads it from LiteLLM's database, live metrics on a local Prometheus endpoint (or OTLP to a
Collector with ``--otlp``), and a terminal report at the end, or on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .fake_provider import FakeProvider
from .report import ReportCollector, as_json, render

if TYPE_CHECKING:
    from .._emit.headroom import HeadroomEmitter
    from .._emit.store import MetricStore

TOPICS = ("invoice", "refund", "login", "shipping", "upgrade", "password", "delivery date", "warranty", "discount")


def team_id(team: str) -> str:
    """The team id of a team alias, as the demo's /team/new would have set it."""
    return team.lower().replace(" ", "-")


@dataclass(frozen=True)
class Agent:
    """One simulated agent: its virtual key, team, model group and behaviour."""

    name: str
    team: str
    model: str
    weight: int
    budget: float  # USD, the key's max_budget
    stream: bool = False
    loops: bool = False

    def metadata(self) -> dict[str, str]:
        """The metadata the LiteLLM proxy attaches to a call made with this agent's virtual key, and the
        agent's name where LiteLLM's x-litellm-agent-id header puts it (``gen_ai.agent.id``)."""
        return {
            "agent_id": self.name,
            "user_api_key_alias": self.name,
            "user_api_key_hash": hashlib.sha256(f"sk-demo-{self.name}".encode()).hexdigest(),
            "user_api_key_team_id": team_id(self.team),
            "user_api_key_team_alias": self.team,
        }


AGENTS = (
    Agent("support-bot", "Customer Care", "fast", weight=5, budget=5.0, stream=True),
    Agent("research-agent", "Research", "legacy", weight=2, budget=2.0),
    Agent("summarizer", "Research", "smart", weight=2, budget=1.0),
    # Loops run at machine speed, and its small budget fills within minutes: the budget alert.
    Agent("runaway-agent", "Growth", "fast", weight=4, budget=0.05, loops=True),
)
# Teams' budgets (USD), as LiteLLM's /team/new would set them.
TEAM_BUDGETS = {"Customer Care": 20.0, "Research": 10.0, "Growth": 0.2}
# Keys' and teams' budget_duration, as /key/generate and /team/new would set it.
BUDGET_DURATION_S = 30 * 86400


def _router(api_base: str) -> Any:
    import litellm  # noqa: PLC0415

    def deployment(group: str, model: str) -> dict[str, Any]:
        return {"model_name": group, "litellm_params": {"model": model, "api_base": api_base, "api_key": "sk-demo"}}

    return litellm.Router(  # type: ignore[attr-defined]  # litellm exports Router without __all__
        model_list=[
            deployment("fast", "openai/gpt-4o-mini"),
            deployment("smart", "openai/gpt-4o"),
            deployment("legacy", "openai/gpt-4o-mini-fail"),  # a deployment that is down
            deployment("backup", "openai/gpt-4.1-mini"),
        ],
        fallbacks=[{"legacy": ["backup"]}, {"fast": ["backup"]}, {"smart": ["backup"]}],
        num_retries=1,
        retry_after=0,
    )


def _messages(agent: Agent, rng: random.Random, step: int) -> list[dict[str, Any]]:
    if not agent.loops:
        topic = rng.choice(TOPICS)
        return [
            {"role": "user", "content": f"Question {step} about my {topic}: " + "please help " * rng.randint(1, 12)}
        ]
    # Stuck: the same tool call, the same empty result, over and over, the history growing.
    history: list[dict[str, Any]] = [{"role": "user", "content": "Find the quarterly revenue figure"}]
    for i in range(min(step, 20)):
        call = {"id": f"call_{i}", "type": "function", "function": {"name": "search", "arguments": '{"q": "revenue"}'}}
        history += [
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": f"call_{i}", "content": "no results"},
        ]
    return history


class Traffic:
    """Launches agent calls at a rate until the duration is over (or Ctrl-C)."""

    def __init__(
        self, router: Any, duration_s: float, rate: float, seed: int, poll: Callable[[Traffic], None] | None = None
    ) -> None:
        """``poll``: called every half second with the traffic (the budget poller's stand-in)."""
        self.router = router
        self.poll = poll
        self.duration_s = duration_s
        self.rate = rate
        self.rng = random.Random(seed)
        self.sent = 0
        self.failed = 0
        self.steps: dict[str, int] = {}
        self.spend: dict[str, float] = {}  # USD per agent so far, as the proxy would report it
        self.tasks: set[asyncio.Task[None]] = set()
        self.interrupted = False
        self._stop: asyncio.Event | None = None

    def stop(self) -> None:
        """The first Ctrl-C: stop sending and let the calls in flight finish and be reported.

        Cancelling them instead (asyncio's default) would leave LiteLLM calls half-done, the
        report short of what the provider served, and the exit at the mercy of every library
        handling cancellation promptly. A second Ctrl-C interrupts as usual.
        """
        self.interrupted = True
        if self._stop is not None:
            self._stop.set()
        asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)

    def team_spend(self, team: str) -> float:
        """USD its team's agents spent so far."""
        return sum(self.spend.get(a.name, 0.0) for a in AGENTS if a.team == team)

    def metadata(self, agent: Agent) -> dict[str, Any]:
        """The agent's key metadata with its budget and spend so far, and its team's (budget panels)."""
        return {
            **agent.metadata(),
            "user_api_key_max_budget": agent.budget,
            "user_api_key_spend": self.spend.get(agent.name, 0.0),
            "user_api_key_team_max_budget": TEAM_BUDGETS[agent.team],
            "user_api_key_team_spend": self.team_spend(agent.team),
        }

    async def call(self, agent: Agent, messages: list[dict[str, Any]]) -> None:
        """One request of ``agent`` through the Router (its failures are the traffic's, not the demo's)."""
        try:
            response = await self.router.acompletion(
                model=agent.model,
                messages=messages,
                metadata=self.metadata(agent),
                stream=agent.stream,
                **({"stream_options": {"include_usage": True}} if agent.stream else {}),
            )
            if agent.stream:
                async for _ in response:
                    pass
            else:
                cost = (getattr(response, "_hidden_params", None) or {}).get("response_cost") or 0.0
                self.spend[agent.name] = self.spend.get(agent.name, 0.0) + float(cost)
        except Exception:  # noqa: BLE001  # a failed request is part of the demo: it is in the report
            self.failed += 1

    async def run(self, progress: Any) -> None:
        """Send the traffic for the duration at the rate, reporting progress, until done or interrupted."""
        weights = [agent.weight for agent in AGENTS]
        self._stop = asyncio.Event()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread
            asyncio.get_running_loop().add_signal_handler(signal.SIGINT, self.stop)
        started = time.monotonic()
        next_progress = started
        while time.monotonic() - started < self.duration_s and not self._stop.is_set():
            agent = self.rng.choices(AGENTS, weights)[0]
            step = self.steps.get(agent.name, 0)
            self.steps[agent.name] = step + 1
            task = asyncio.create_task(self.call(agent, _messages(agent, self.rng, step)))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            self.sent += 1
            if time.monotonic() >= next_progress:
                progress(time.monotonic() - started, self.sent, self.failed)
                if self.poll is not None:
                    self.poll(self)
                next_progress += 0.5
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.rng.expovariate(self.rate))
        await self.drain()

    async def drain(self, timeout_s: float = 15.0) -> None:
        """Wait (bounded) for the requests still in flight."""
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=timeout_s)
        # LiteLLM reports async calls from its own queue: let it finish before the loop closes.
        from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER  # noqa: PLC0415

        await asyncio.wait_for(GLOBAL_LOGGING_WORKER.flush(), timeout=timeout_s)


def budget_poller(headroom: HeadroomEmitter, limit: int) -> Callable[[Traffic], None]:
    """What the proxy's budget poller would read from LiteLLM's database for the demo's keys and teams
    (spend, budget, when it resets, whether an admin blocked it), set through the poller's own row
    mapping: the budget tables' Resets in and Blocked columns, for keys in between their calls too."""
    from .._budgets.rows import key_series, team_series  # noqa: PLC0415

    reset_time = time.time() + BUDGET_DURATION_S

    def poll(traffic: Traffic) -> None:
        rows: list[Any] = []
        for agent in AGENTS:
            meta = traffic.metadata(agent)
            row = {"token": meta["user_api_key_hash"], "key_alias": agent.name, "team_id": meta["user_api_key_team_id"]}
            row |= {"team_alias": agent.team, "spend": meta["user_api_key_spend"], "max_budget": agent.budget}
            rows.append(key_series(row | {"reset_time": reset_time, "blocked": False}, limit))
        for team, budget in TEAM_BUDGETS.items():
            row = {
                "team_id": team_id(team),
                "team_alias": team,
                "spend": traffic.team_spend(team),
                "max_budget": budget,
            }
            rows.append(team_series(row | {"reset_time": reset_time, "blocked": False}, limit))
        for series in rows:
            if series is not None:
                headroom.set_many(*series)

    return poll


def _progress(elapsed: float, sent: int, failed: int) -> None:
    sys.stderr.write(f"\r  {elapsed:5.1f}s  {sent:5d} requests sent  {failed:4d} failed  ")
    sys.stderr.flush()


_EXPORT_TIMEOUT_S = 3


def _telemetry(
    otlp: str | None, prometheus_port: int, collector: ReportCollector
) -> tuple[Any, Any, str, MetricStore | None]:
    """The demo's own pipeline: on the lean path (OTEL_LLM_LEAN_PATH) otel-llm's metric store, read by
    the demo's one reader together with the SDK's metrics (a single process: shared series included)."""
    from opentelemetry.sdk.metrics import MeterProvider  # noqa: PLC0415
    from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader  # noqa: PLC0415
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415

    from .._config import settings_of  # noqa: PLC0415
    from .._export.readers import StorePeriodicReader, prometheus_reader  # noqa: PLC0415
    from .._export.setup import metric_store  # noqa: PLC0415

    config = settings_of(os.environ)
    store = metric_store(config, os.environ) if config.lean_path else None
    resource = Resource.create({"service.name": "otel-llm-demo"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(collector)
    readers: list[MetricReader] = []
    if otlp:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter  # noqa: PLC0415
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: PLC0415

        base = otlp.rstrip("/")
        # A demo should not hang on an unreachable Collector: each export gives up after a few seconds.
        spans = OTLPSpanExporter(endpoint=f"{base}/v1/traces", timeout=_EXPORT_TIMEOUT_S)
        tracer_provider.add_span_processor(BatchSpanProcessor(spans))
        metrics = OTLPMetricExporter(endpoint=f"{base}/v1/metrics", timeout=_EXPORT_TIMEOUT_S)
        # Every 5 s unless OTEL_METRIC_EXPORT_INTERVAL (ms) says otherwise, as for any OpenTelemetry SDK.
        interval = os.environ.get("OTEL_METRIC_EXPORT_INTERVAL", "").strip()
        interval_ms = int(interval) if interval.isdigit() else 5000
        if store is None:
            readers.append(PeriodicExportingMetricReader(metrics, interval_ms))
        else:
            readers.append(StorePeriodicReader(metrics, store, (False, True), export_interval_millis=interval_ms))
        where = f"Sending spans and metrics over OTLP to {base}"
    else:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader  # noqa: PLC0415
        from prometheus_client import start_http_server  # noqa: PLC0415

        server, _ = start_http_server(port=prometheus_port, addr="127.0.0.1")
        readers.append(PrometheusMetricReader() if store is None else prometheus_reader(store))
        where = f"Live metrics: http://127.0.0.1:{server.server_port}/metrics"
    return tracer_provider, MeterProvider(resource=resource, metric_readers=readers), where, store


def run(
    duration_s: float, rate: float, seed: int, otlp: str | None, prometheus_port: int, report_json: Path | None
) -> int:
    """Run the demo; returns the exit code."""
    from otel_llm import LiteLLMInstrumentor, OtelLLMCallback  # noqa: PLC0415  # imports LiteLLM

    provider = FakeProvider(seed).start()
    collector = ReportCollector()
    tracer_provider, meter_provider, where, store = _telemetry(otlp, prometheus_port, collector)
    instrumentor = LiteLLMInstrumentor()
    from .._export.lean_spans import lean_tracer  # noqa: PLC0415

    callback = OtelLLMCallback(
        tracer_provider, meter_provider, metric_store=store, span_tracer=lean_tracer if store is not None else None
    )
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider, callback=callback)
    print(f"otel-llm demo: {len(AGENTS)} agents, {rate:g} requests/s for {duration_s:g}s (seed {seed}).")
    print(f"Fake provider at {provider.api_base}. {where}", flush=True)
    poll = budget_poller(callback.telemetry.headroom, callback.telemetry.config.attribute_max_length)
    traffic = Traffic(_router(provider.api_base), duration_s, rate, seed, poll)
    interrupted = False
    try:
        asyncio.run(traffic.run(_progress))
    except KeyboardInterrupt:  # a second Ctrl-C, or one before the traffic started
        interrupted = True
    finally:
        sys.stderr.write("\n")
        from otel_llm._lifecycle import drain_litellm  # noqa: PLC0415

        drain_litellm(5.0)  # LiteLLM reports calls after they return
    with provider.served.lock:
        served = {
            "requests": provider.served.requests,
            "prompt_tokens": provider.served.prompt_tokens,
            "completion_tokens": provider.served.completion_tokens,
            "errors": provider.served.errors,
        }
    interrupted = interrupted or traffic.interrupted
    report = as_json(collector.snapshot(), served)
    print(render(report))
    if interrupted:
        print("(stopped by Ctrl-C; the report covers the calls made until then)")
    if report_json is not None:
        report_json.write_text(json.dumps(report, indent=2))
    # The report reads spans in process; exporting them (OTLP) can wait on the network, so it comes after.
    tracer_provider.force_flush(timeout_millis=_EXPORT_TIMEOUT_S * 1000)
    meter_provider.force_flush(timeout_millis=_EXPORT_TIMEOUT_S * 1000)
    instrumentor.uninstrument()
    tracer_provider.shutdown()
    meter_provider.shutdown()
    provider.stop()
    return 0
