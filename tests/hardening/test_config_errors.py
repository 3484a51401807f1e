"""Each invalid setting gives one clear message naming the setting and the fix; the host keeps running."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap

import pytest

from otel_llm._config import Config, resolve
from tests.otlp_receiver import OtlpReceiver

DEFAULTS = Config()


@pytest.mark.parametrize(
    ("name", "value", "field", "fix"),
    [
        ("OTEL_LLM_LOOP_MODE", "sometimes", "loop_mode", "set one of observe, block, off"),
        ("OTEL_LLM_LOOP_REPEATS", "-1", "loop_repeats", "whole number greater than 0"),
        ("OTEL_LLM_LOOP_SPEND_PER_MINUTE", "$5", "loop_spend_per_minute", "number of USD (no currency sign) greater"),
        ("OTEL_LLM_LOOP_GROWTH_FACTOR", "double", "loop_growth_factor", "set a number greater than 0"),
        ("OTEL_LLM_LOOP_WINDOW", "5m", "loop_window_s", "number of seconds greater than 0"),
        ("OTEL_LLM_METRIC_ATTRIBUTION", "key,tenant", "metric_attribution", "comma-separated list of key, team"),
        ("OTEL_LLM_PENDING_LIMIT", "1e9x", "pending_limit", "whole number greater than 0"),
        ("OTEL_LLM_PROXY_HTTP_SPANS", "sometimes", "proxy_http_spans", "set true or false"),
        ("OTEL_LLM_PROXY_FASTAPI_TELEMETRY", "verbose", "proxy_fastapi_telemetry", "set one of server, full, off"),
        ("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "everything", "content_mode", "NO_CONTENT"),
    ],
)
def test_invalid_value(name: str, value: str, field: str, fix: str, caplog: pytest.LogCaptureFixture) -> None:
    """One warning that names the variable, its value and the fix; the default is used."""
    with caplog.at_level(logging.WARNING, logger="otel_llm"):
        config = resolve({name: value})
    assert getattr(config, field) == getattr(DEFAULTS, field)
    (message,) = [r.getMessage() for r in caplog.records]
    assert name in message and repr(value) in message and fix in message


APP = """
import os
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
import sys
for blocked in sys.argv[1:]:
    sys.modules[blocked] = None  # as if the optional package were not installed
import litellm
from otel_llm._proxy.callback import ProxyCallback
litellm.callbacks.append(ProxyCallback())
reply = litellm.completion(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], mock_response="ok")
print("call ok:", reply.choices[0].message.content)
"""


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("env", "blocked", "expected"),
    [
        (
            {"OTEL_LLM_EXPORTER": "prometheus"},
            ["opentelemetry.exporter.prometheus"],
            "pip install 'otel-llm[prometheus]'",
        ),
        ({"OTEL_LLM_EXPORTER": "otlp"}, ["opentelemetry.exporter.otlp.proto.http"], "pip install 'otel-llm[otlp]'"),
        ({"OTEL_LLM_EXPORTER": "zipkin"}, [], "OTEL_LLM_EXPORTER='zipkin' is invalid: set one of otlp, prometheus"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, [], "OTEL_EXPORTER_OTLP_PROTOCOL='http/json' is not supported"),
        ({"OTEL_LLM_LOOP_MODEE": "block"}, [], "unknown setting OTEL_LLM_LOOP_MODEE is ignored"),
    ],
    ids=["missing-prometheus", "missing-otlp", "bad-exporter", "bad-protocol", "unknown-variable"],
)
def test_proxy_setup_errors_keep_the_host_running(env: dict[str, str], blocked: list[str], expected: str) -> None:
    """Missing optional packages and bad exporter settings: one message with the fix, and calls still work."""
    with OtlpReceiver() as receiver:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        full_env.update(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, OTEL_LLM_PROXY_HTTP_SPANS="false", **env)
        result = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(APP), *blocked],
            env=full_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "call ok: ok" in result.stdout
    mentions = [line for line in result.stderr.splitlines() if expected in line]
    assert len(mentions) == 1, result.stderr[-3000:]
