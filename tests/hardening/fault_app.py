"""A small app instrumented like the proxy (ProxyCallback builds the pipeline from OTEL_* env).

It makes calls while the OTLP endpoint misbehaves and prints one JSON line of figures.
Usage: python fault_app.py CALLS [PAUSE_S]
"""

import json
import os
import sys
import time

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm
from opentelemetry import trace

from otel_llm._proxy.callback import ProxyCallback

calls = int(sys.argv[1])
pause = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
callback = ProxyCallback()  # installs providers and instruments LiteLLM
litellm.callbacks.append(callback)
durations = []
for i in range(calls):
    started = time.perf_counter()
    litellm.completion(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": f"q{i}"}], mock_response="a")
    durations.append(time.perf_counter() - started)
    if (i + 1) % 25 == 0:
        print(f"calls {i + 1}", flush=True)
    if pause:
        time.sleep(pause)
processors = trace.get_tracer_provider()._active_span_processor._span_processors  # type: ignore[attr-defined]
(processor,) = [p for p in processors if hasattr(p, "_batch_processor")]  # the exporting one
queue = len(processor._batch_processor._queue)
durations.sort()
print(
    json.dumps(
        {
            "max_s": durations[-1],
            "p50_s": durations[len(durations) // 2],
            "queue": queue,
            "exit_started": time.time(),
        }
    ),
    flush=True,
)
