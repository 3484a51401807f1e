"""One configuration in its own fresh process: runs blocks of LiteLLM SDK calls on command.

``python sdk_worker.py --config NAME --base-url URL`` reads one JSON command per line on stdin
and answers one JSON line on stdout:

  {"cmd": "warmup", "path": "mock"|"http", "scenario": S, "n": N}
      → spans per call, and a description of the spans and metrics the configuration emits
  {"cmd": "block", "path": ..., "scenario": ..., "n": N}
      → process CPU seconds for the block (all threads, until LiteLLM's callbacks for the
        block have drained and the span processor has flushed), and per-call wall latencies
  {"cmd": "exit"}

Scenarios: sync, async, stream (sync, consumed to the end), embedding, router_fallback (a
Router whose first model group fails, then falls back to a second one).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from configs import BY_NAME, Pipeline, install_pipeline, prepare_environment

MESSAGES = [{"role": "user", "content": "Say hello to the benchmark"}]
MOCK_REPLY = "Hello from the mock provider"
EMBEDDING = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
SCENARIOS = ("sync", "async", "stream", "embedding", "router_fallback")


class Worker:
    def __init__(self, config_name: str, base_url: str) -> None:
        config = BY_NAME[config_name]
        prepare_environment(config)
        import litellm  # noqa: PLC0415  # after the environment is prepared

        self.litellm = litellm
        litellm.suppress_debug_info = True
        self.pipeline: Pipeline = install_pipeline()
        config.install(self.pipeline)
        self.base = base_url.rstrip("/")
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.routers = {path: self._router(path) for path in ("mock", "http")}
        from litellm.litellm_core_utils import logging_worker, thread_pool_executor  # noqa: PLC0415

        self.executor = thread_pool_executor.executor
        self.logging_worker = logging_worker.GLOBAL_LOGGING_WORKER
        self.spans_per_call: dict[tuple[str, str], float] = {}

    # --- scenarios --------------------------------------------------------------------------
    def _params(self, path: str) -> dict[str, Any]:
        if path == "mock":
            return {"mock_response": MOCK_REPLY}
        return {"api_base": f"{self.base}/v1", "api_key": "sk-bench-fake"}

    def _router(self, path: str) -> Any:
        if path == "mock":
            primary = {"model": "openai/gpt-4o-mini", "mock_response": "litellm.InternalServerError"}
            backup = {"model": "openai/gpt-4o-mini", "mock_response": MOCK_REPLY}
        else:
            primary = {"model": "openai/gpt-4o-mini", "api_base": f"{self.base}/fail/v1", "api_key": "sk-bench-fake"}
            backup = {"model": "openai/gpt-4o-mini", "api_base": f"{self.base}/v1", "api_key": "sk-bench-fake"}
        return self.litellm.Router(
            model_list=[
                {"model_name": "primary", "litellm_params": primary},
                {"model_name": "backup", "litellm_params": backup},
            ],
            fallbacks=[{"primary": ["backup"]}],
            num_retries=0,
            disable_cooldowns=True,
        )

    def sync_call(self, path: str, scenario: str) -> Callable[[], Any]:
        litellm = self.litellm
        params = self._params(path)
        if scenario == "sync":
            return lambda: litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, **params)
        if scenario == "stream":

            def stream() -> None:
                response = litellm.completion(
                    model="openai/gpt-4o-mini",
                    messages=MESSAGES,
                    stream=True,
                    stream_options={"include_usage": True},
                    **params,
                )
                for _ in response:
                    pass

            return stream
        if scenario == "embedding":
            if path == "mock":
                return lambda: litellm.embedding(
                    model="openai/text-embedding-3-small", input=["hello benchmark"], mock_response=EMBEDDING
                )
            return lambda: litellm.embedding(model="openai/text-embedding-3-small", input=["hello benchmark"], **params)
        if scenario == "router_fallback":
            router = self.routers[path]
            return lambda: router.completion(model="primary", messages=MESSAGES)
        raise ValueError(scenario)

    def async_call(self, path: str) -> Callable[[], Awaitable[Any]]:
        params = self._params(path)
        return lambda: self.litellm.acompletion(model="openai/gpt-4o-mini", messages=MESSAGES, **params)

    # --- measurement ------------------------------------------------------------------------
    def _callbacks_idle(self) -> bool:
        executor = self.executor
        slots = getattr(getattr(executor, "_pending_slots", None), "_value", None)
        limit = getattr(executor, "_max_pending_tasks", None)
        if isinstance(slots, int) and isinstance(limit, int) and slots < limit:
            return False
        worker = self.logging_worker
        queue = getattr(worker, "_queue", None)
        if queue is not None and (queue.qsize() or getattr(queue, "_unfinished_tasks", 0)):
            return False
        return not getattr(worker, "_running_tasks", None)

    async def _drain(self, expected_spans: int | None, timeout: float = 20.0) -> bool:
        """Wait until LiteLLM's callbacks ran and their spans went through the span processor."""
        deadline = time.monotonic() + timeout
        idle_polls = 0
        while time.monotonic() < deadline:
            if self._callbacks_idle():
                idle_polls += 1
            else:
                idle_polls = 0
            if idle_polls >= 2:
                self.pipeline.tracer_provider.force_flush()
                if expected_spans is None or self.pipeline.exporter.count >= expected_spans:
                    return True
            await asyncio.sleep(0.001)
        return False

    def _run(self, path: str, scenario: str, n: int) -> list[int]:
        latencies: list[int] = []
        clock = time.perf_counter_ns
        if scenario == "async":
            call = self.async_call(path)

            async def run_async() -> None:
                for _ in range(n):
                    t0 = clock()
                    await call()
                    latencies.append(clock() - t0)

            self.loop.run_until_complete(run_async())
            return latencies
        sync = self.sync_call(path, scenario)
        for _ in range(n):
            t0 = clock()
            sync()
            latencies.append(clock() - t0)
        return latencies

    def warmup(self, path: str, scenario: str, n: int) -> dict[str, Any]:
        self.loop.run_until_complete(self._drain(None))
        exporter = self.pipeline.exporter
        before = exporter.count
        exporter.kept.clear()
        exporter.keep = 16
        self._run(path, scenario, n)
        self.loop.run_until_complete(self._drain(None))
        time.sleep(0.05)
        self.loop.run_until_complete(self._drain(None))
        spans = exporter.count - before
        exporter.keep = 0
        per_call = spans / n
        self.spans_per_call[(path, scenario)] = per_call
        described = [
            {
                "name": s.name,
                "kind": str(s.kind).split(".")[-1],
                "attributes": len(s.attributes or {}),
                "scope": s.instrumentation_scope.name if s.instrumentation_scope else "",
            }
            for s in exporter.kept
        ]
        return {"spans_per_call": per_call, "spans": described, "metrics": self._metric_summary()}

    def _metric_summary(self) -> dict[str, int]:
        data = self.pipeline.reader.get_metrics_data()
        summary: dict[str, int] = {}
        if data is None:
            return summary
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    summary[metric.name] = summary.get(metric.name, 0) + len(list(metric.data.data_points))
        return summary

    def block(self, path: str, scenario: str, n: int) -> dict[str, Any]:
        self.loop.run_until_complete(self._drain(None))
        per_call = self.spans_per_call.get((path, scenario), 0.0)
        expected = self.pipeline.exporter.count + int(per_call * n + 0.5) if per_call else None
        gc.collect()
        cpu0 = time.process_time()
        wall0 = time.perf_counter()
        latencies = self._run(path, scenario, n)
        drained = self.loop.run_until_complete(self._drain(expected))
        cpu = time.process_time() - cpu0
        wall = time.perf_counter() - wall0
        latencies.sort()
        return {
            "cpu_s": cpu,
            "wall_s": wall,
            "n": n,
            "p50_ns": latencies[len(latencies) // 2],
            "p90_ns": latencies[min(len(latencies) - 1, int(len(latencies) * 0.9))],
            "mean_ns": sum(latencies) / len(latencies),
            "drained": drained,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    parser.add_argument("--base-url", required=True)
    args = parser.parse_args()
    out = sys.stdout
    sys.stdout = sys.stderr  # anything printed by libraries stays off the protocol channel
    try:
        worker = Worker(args.config, args.base_url)
    except Exception as error:  # reported to the orchestrator
        out.write(json.dumps({"ready": False, "error": repr(error)}) + "\n")
        out.flush()
        raise
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        command = json.loads(line)
        try:
            if command["cmd"] == "exit":
                break
            handler = worker.warmup if command["cmd"] == "warmup" else worker.block
            result: dict[str, Any] = {"ok": True, **handler(command["path"], command["scenario"], command["n"])}
        except Exception as error:  # noqa: BLE001  # reported to the orchestrator
            result = {"ok": False, "error": repr(error)}
        out.write(json.dumps(result) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
