"""What FastAPI's native telemetry costs per request, as the proxy configures it, in a tight loop.

A bare FastAPI app with one POST route, called in-process through ASGI (no network, no LiteLLM),
timed by process CPU in interleaved rounds:

* ``off``: ``OTEL_LLM_PROXY_FASTAPI_TELEMETRY=off`` (no FastAPI telemetry);
* ``server``: the proxy's default, FastAPI's SERVER span and ``http.server.*`` metrics on
  otel-llm's lean providers (``configure_fastapi_telemetry("server", providers=host_providers(...))``);
* ``server-no-logs``: the same with FastAPI's exception logs off;
* ``own-layer``: FastAPI's telemetry off and ``lean_server_layer.py``'s prototype SERVER layer
  (the same span and instruments on the same providers) around the app's middleware stack.

The pipeline is otel-llm's with ``OTEL_LLM_EXPORTER=none``: spans and points are made, nothing is
exported (the proxy's export of the SERVER span comes on top). Inside the proxy the same work costs
2-4x more (LiteLLM's working set evicts it from the CPU caches between requests): this bounds the
middleware's own price, ``proxy_bench.py``'s ``inproc-server`` against ``inproc`` measures it in
place. Needs FastAPI with native telemetry (0.165 here); prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from typing import Any

os.environ["OTEL_LLM_EXPORTER"] = "none"
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

BODY = b'{"model": "gpt-main", "messages": [{"role": "user", "content": "hi"}]}'
SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "POST",
    "scheme": "http",
    "path": "/chat/completions",
    "raw_path": b"/chat/completions",
    "query_string": b"",
    "root_path": "",
    "headers": [
        (b"host", b"127.0.0.1:4000"),
        (b"content-type", b"application/json"),
        (b"authorization", b"Bearer sk-bench"),
        (b"traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        (b"content-length", str(len(BODY)).encode()),
    ],
    "client": ("127.0.0.1", 50000),
    "server": ("127.0.0.1", 4000),
}


def build_app(mode: str, providers: Any) -> Any:
    from fastapi import FastAPI  # noqa: PLC0415

    from otel_llm._proxy.fastapi_telemetry import configure_fastapi_telemetry  # noqa: PLC0415

    app = FastAPI()

    @app.post("/chat/completions")
    async def chat(body: dict[str, Any]) -> dict[str, Any]:
        return {"id": "chatcmpl-bench", "model": body.get("model")}

    native = "server" if mode.startswith("server") else "off"
    if not configure_fastapi_telemetry(native, app=app, providers=providers):
        raise SystemExit("this FastAPI has no native telemetry")
    if mode == "server-no-logs":
        app._telemetry["logs"] = False  # noqa: SLF001  # FastAPI's config dict, read per request
    if mode == "own-layer":
        from lean_server_layer import LeanServer  # noqa: PLC0415  # beside this script

        app.middleware_stack = LeanServer(app.build_middleware_stack(), providers)
    return app


async def requests(app: Any, n: int) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    for _ in range(n):
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any], sent: list[dict[str, Any]] = sent) -> None:
            sent.append(message)

        await app(dict(SCOPE), receive, send)
        if sent[0]["status"] != 200:
            raise RuntimeError(f"the app answered {sent[0]['status']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=3000, help="requests per timed block")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    from otel_llm._config import resolve  # noqa: PLC0415
    from otel_llm._export.lean_providers import host_providers  # noqa: PLC0415
    from otel_llm._export.setup import install_providers  # noqa: PLC0415

    pipeline = install_providers(resolve())
    providers = host_providers(pipeline.metric_store)
    if providers is None:
        raise SystemExit("otel-llm's lean providers are not available here")
    apps = {mode: build_app(mode, providers) for mode in ("off", "server", "server-no-logs", "own-layer")}
    loop = asyncio.new_event_loop()
    samples: dict[str, list[float]] = {mode: [] for mode in apps}
    for app in apps.values():
        loop.run_until_complete(requests(app, 300))  # warm-up
    for _ in range(args.rounds):
        for mode, app in apps.items():
            started = time.process_time()
            loop.run_until_complete(requests(app, args.n))
            samples[mode].append((time.process_time() - started) / args.n * 1e6)
    medians = {mode: statistics.median(values) for mode, values in samples.items()}
    print(
        json.dumps(
            {
                "us_per_request_median": {mode: round(value, 1) for mode, value in medians.items()},
                "server_minus_off_us": round(medians["server"] - medians["off"], 1),
                "own_layer_minus_off_us": round(medians["own-layer"] - medians["off"], 1),
                "rounds": {mode: [round(v, 1) for v in values] for mode, values in samples.items()},
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
