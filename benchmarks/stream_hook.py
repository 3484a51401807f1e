"""What LiteLLM's streaming iterator hook costs a streamed proxy request, by the callbacks registered.

LiteLLM's proxy passes every chunk of a streamed answer through ``ProxyLogging``'s streaming
iterator hook. Where no registered callback class defines ``async_post_call_streaming_iterator_hook``
it streams straight through; where one does, through that hook and guarded layers of LiteLLM's own,
with guardrail checks per request. otel-llm's proxy callback defines it only where it opens request
spans of its own (``_OwnRequestSpans``: FastAPI's telemetry off or absent). A tight loop of 100-chunk
streams through the real ``ProxyLogging`` (no network, no proxy process), process CPU per stream,
median over rounds; prints one line per configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import AsyncIterator
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300, help="streams per timed block")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    import litellm  # noqa: PLC0415
    from litellm.caching.caching import DualCache  # noqa: PLC0415
    from litellm.proxy._types import UserAPIKeyAuth  # noqa: PLC0415
    from litellm.proxy.utils import ProxyLogging  # noqa: PLC0415
    from litellm.types.utils import ModelResponseStream  # noqa: PLC0415
    from opentelemetry.sdk.metrics import MeterProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415

    from otel_llm._proxy.callback import ProxyCallback  # noqa: PLC0415

    chunks = [ModelResponseStream(choices=[{"index": 0, "delta": {"content": f"w{i} "}}]) for i in range(100)]
    own = ProxyCallback(TracerProvider(), MeterProvider(), setup=False)  # opens request spans: has the hook
    plain = ProxyCallback.__new__(ProxyCallback)  # behind FastAPI's SERVER span: no hook
    plain.__dict__.update(own.__dict__)
    logging = ProxyLogging(user_api_key_cache=DualCache())
    key = UserAPIKeyAuth(api_key="sk-bench")

    async def source() -> AsyncIterator[Any]:
        for chunk in chunks:
            yield chunk

    async def block(n: int) -> None:
        for _ in range(n):
            data = {"litellm_call_id": "bench", "model": "gpt-main"}
            async for _chunk in logging.async_post_call_streaming_iterator_hook(source(), key, data):
                pass

    def median_us(callbacks: list[Any]) -> float:
        litellm.callbacks = callbacks
        ProxyLogging._callback_capabilities_cache.clear()  # noqa: SLF001  # keyed by the list's ids
        loop = asyncio.new_event_loop()
        loop.run_until_complete(block(50))  # warm-up
        samples = []
        for _ in range(args.rounds):
            started = time.process_time()
            loop.run_until_complete(block(args.n))
            samples.append((time.process_time() - started) / args.n * 1e6)
        loop.close()
        return statistics.median(samples)

    for name, callbacks in (("no callback", []), ("otel-llm, no hook", [plain]), ("otel-llm with the hook", [own])):
        print(f"{name}: {median_us(callbacks):.1f} us per 100-chunk stream")


if __name__ == "__main__":
    main()
