"""``otel_llm.setup()``: an application gets the pipeline the proxy gets, lean path included.

Each case runs a real application process (real LiteLLM, ``mock_response`` calls) that calls
``setup()`` and exits; its telemetry must reach a real OTLP receiver through the exporters
otel-llm built. An application with its own providers keeps them (the SDK path).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.otlp_receiver import OtlpReceiver

APP = """
import json, os
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
import litellm
import otel_llm
if os.environ["MODE"] == "own-providers":
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    trace.set_tracer_provider(TracerProvider())
callback = otel_llm.setup(service_name="support-agent")
again = otel_llm.setup()
for _ in range(3):
    litellm.completion(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], mock_response="hello there",
        api_key="sk-x", metadata={"agent_id": "triage"},
    )
print(json.dumps({
    "lean": callback.telemetry.lean,
    "same": again is callback,
    "registered": callback in litellm.callbacks,
}))
"""


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as server:
        yield server


def _run(receiver: OtlpReceiver, mode: str, **env: str) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    run_env = clean | {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "MODE": mode} | env
    out = subprocess.run(
        [sys.executable, "-c", APP], env=run_env, capture_output=True, text=True, timeout=180, check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_setup_builds_the_lean_pipeline_and_the_telemetry_arrives(receiver: OtlpReceiver) -> None:
    result = _run(receiver, "plain")
    assert result == {"lean": True, "same": True, "registered": True}
    # Flushed at exit by the providers otel-llm installed: spans, metrics and usage records.
    spans = [s for s in receiver.spans() if s["name"] == "chat gpt-4o-mini"]
    assert len(spans) == 3
    assert {s["resource"]["service.name"] for s in spans} == {"support-agent"}
    assert {s["attributes"]["gen_ai.agent.id"] for s in spans} == {"triage"}
    (point,) = [p for _, p, _ in receiver.latest_points("gen_ai.client.operation.duration")]
    assert point.count == 3
    usage = [r for r in receiver.log_records() if r["event_name"] == "otel_llm.usage"]
    assert len(usage) == 3 and {r["trace_id"] for r in usage} == {s["trace_id"] for s in spans}


def test_the_environment_names_the_service_first(receiver: OtlpReceiver) -> None:
    _run(receiver, "plain", OTEL_SERVICE_NAME="from-the-environment")
    assert {s["resource"]["service.name"] for s in receiver.spans()} == {"from-the-environment"}


def test_the_lean_path_is_one_setting_away(receiver: OtlpReceiver) -> None:
    result = _run(receiver, "plain", OTEL_LLM_LEAN_PATH="false")
    assert result["lean"] is False
    assert len([s for s in receiver.spans() if s["name"] == "chat gpt-4o-mini"]) == 3


def test_an_application_with_its_own_providers_keeps_them(receiver: OtlpReceiver) -> None:
    result = _run(receiver, "own-providers")
    assert result == {"lean": False, "same": True, "registered": True}
    assert receiver.spans() == []  # the application's provider has no exporter: nothing of otel-llm's own
