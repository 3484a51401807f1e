"""Last telemetry survives SIGTERM; forked workers get their own exporters and identity."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes import FailingProvider, FakeOpenAI, fake_providers
from tests.otlp_receiver import OtlpReceiver
from tests.proxy.harness import ALPHA, ProxyProcess, model_list

pytestmark = pytest.mark.e2e


@pytest.fixture
def providers() -> Iterator[tuple[FakeOpenAI, FailingProvider]]:
    with fake_providers("/broken") as providers:
        yield providers


@pytest.mark.parametrize("emitter", ["inline", "process"])
def test_proxy_sigterm_exports_the_last_telemetry(
    emitter: str, tmp_path: Path, providers: tuple[FakeOpenAI, FailingProvider]
) -> None:
    """Export schedules far in the future: only the shutdown can deliver the last request's span and points
    (with an emitter process: the worker's exit flush waits for that process's export)."""
    fake, broken = providers
    with OtlpReceiver() as receiver:
        proxy = ProxyProcess(
            tmp_path,
            model_list(fake.api_base, broken.api_base),
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                "OTEL_BSP_SCHEDULE_DELAY": "600000",
                "OTEL_METRIC_EXPORT_INTERVAL": "600000",
                "OTEL_LLM_PROXY_EMITTER": emitter,
            },
        ).start()
        assert proxy.chat(ALPHA).status_code == 200
        assert not [s for s in receiver.spans() if s["scope"] == "otel_llm"]
        proxy.stop()  # SIGTERM
        names = [s["name"] for s in receiver.spans() if s["scope"] == "otel_llm"]
        assert names == ["chat gpt-4o-mini"]  # the attempt; the Router request is folded into the SERVER span
        (server,) = [s for s in receiver.spans() if s["name"] == "POST /v1/chat/completions"]
        assert server["attributes"]["otel_llm.router.attempts"] == 1
        assert receiver.latest_points("gen_ai.client.token.usage")
        assert receiver.latest_points("otel_llm.key.spend")


FORKING_APP = """
import os, sys
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
import litellm
from otel_llm._proxy.callback import ProxyCallback

callback = ProxyCallback()  # the pipeline is built in the parent, like gunicorn --preload
litellm.callbacks.append(callback)
children = []
for worker in range(2):
    pid = os.fork()
    if pid == 0:
        for i in range(5):
            litellm.completion(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": f"w{worker} {i}"}],
                               mock_response="ok")
        sys.exit(0)
    children.append(pid)
for pid in children:
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
"""


@pytest.mark.parametrize("emitter", ["inline", "process"])
def test_forked_workers_export_with_their_own_identity(emitter: str) -> None:
    """Two workers forked after the pipeline was built each export their own calls, as distinct instances
    (with an emitter process: each worker starts its own, after the fork)."""
    with OtlpReceiver() as receiver:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.update(
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
            OTEL_LLM_RAISE_INTERNAL_ERRORS="true",
            OTEL_LLM_PROXY_HTTP_SPANS="false",
            OTEL_LLM_PROXY_EMITTER=emitter,
        )
        result = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(FORKING_APP)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        spans = [s for s in receiver.spans() if s["scope"] == "otel_llm"]
        assert len(spans) == 10
        instances = {s["resource"]["service.instance.id"] for s in spans}
        assert len(instances) == 2
        points = receiver.latest_points("gen_ai.client.operation.duration")
        assert {r["service.instance.id"] for _, _, r in points} == instances
        assert sum(p.count for _, p, _ in points) == 10
        # Each process says it is there: the parent, the two workers, and with emitter processes theirs too.
        processes = {r["service.instance.id"] for _, _, r in receiver.latest_points("otel_llm.build.info")}
        assert len(processes) == (5 if emitter == "process" else 3)
        assert "emitting in the worker" not in result.stderr
