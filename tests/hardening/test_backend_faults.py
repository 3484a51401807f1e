"""A misbehaving OTLP endpoint never slows calls, never grows memory, and never holds up exit."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.otlp_receiver import OtlpReceiver
from tests.proxy.harness import free_port

pytestmark = pytest.mark.e2e

APP = Path(__file__).with_name("fault_app.py")
QUEUE = 256


def _env(endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_TIMEOUT="2",
        OTEL_BSP_MAX_QUEUE_SIZE=str(QUEUE),
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE="64",
        OTEL_BSP_SCHEDULE_DELAY="100",
        OTEL_METRIC_EXPORT_INTERVAL="500",
        OTEL_LLM_RAISE_INTERNAL_ERRORS="true",
        OTEL_LLM_PROXY_HTTP_SPANS="false",
        LITELLM_LOCAL_MODEL_COST_MAP="True",
    )
    return env


class _Hanging:
    """Accepts connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def close(self) -> None:
        for conn in self.held:
            conn.close()
        self.sock.close()


class _Failing:
    """Answers every export with one HTTP status (503, 429)."""

    def __init__(self, status: int) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(status)
                self.send_header("Retry-After", "1")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(params=["refused", "hanging", "503", "429"])
def bad_endpoint(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "refused":
        yield f"http://127.0.0.1:{free_port()}"
    elif request.param == "hanging":
        hanging = _Hanging()
        yield hanging.endpoint
        hanging.close()
    else:
        failing = _Failing(int(request.param))
        yield failing.endpoint
        failing.close()


def test_bad_endpoint_costs_nothing(bad_endpoint: str) -> None:
    """1,000 calls against a refusing, hanging or failing endpoint: no call waits on export, the
    queue stays at its bound (oldest dropped), failures are logged a few times not thousands,
    and the process exits within a bounded time."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(APP), "1000"],
        env=_env(bad_endpoint),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    ended = time.time()
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    # A call that waited for the exporter would take at least its 2 s timeout.
    assert figures["max_s"] < 1.0, figures
    assert figures["queue"] <= QUEUE
    # The design's worst case: the exit flush (OTEL_LLM_EXIT_TIMEOUT, 5 s) plus the final metric
    # export's timeout (2 s) plus interpreter teardown; waiting on the 1,000 spans would take minutes.
    # (10 s was exceeded by 0.5 s once on a machine running other test suites at the same time.)
    assert ended - figures["exit_started"] < 15, "exit with an unreachable endpoint must be bounded"
    warnings = [line for line in result.stderr.splitlines() if "Queue full" in line or "Transient error" in line]
    assert len(warnings) < 10, warnings[:5]
    drops = [line for line in result.stderr.splitlines() if "the trace endpoint is failing" in line]
    assert 1 <= len(drops) <= 2, drops  # counted, and logged once a minute
    assert "otel-llm: internal error" not in result.stderr
    assert time.monotonic() - started < 120


def test_telemetry_flows_again_when_the_collector_returns() -> None:
    """The endpoint is down for the first calls, then comes back: new telemetry arrives, no restart."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(APP), "200", "0.05"],
        env=_env(f"http://127.0.0.1:{port}"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        # The outage: the endpoint stays down until the app has made 50 calls (and failed exports).
        for line in process.stdout:
            if line.startswith("calls 50"):
                break
        receiver = OtlpReceiver(port=port)
        with receiver:
            receiver.wait_for(lambda: [s for s in receiver.spans() if s["scope"] == "otel_llm"], timeout=30)
            _, stderr = process.communicate(timeout=60)
            assert process.returncode == 0, stderr[-3000:]
            assert len([s for s in receiver.spans() if s["scope"] == "otel_llm"]) >= 50
            assert receiver.latest_points("gen_ai.client.operation.duration")
    finally:
        if process.poll() is None:
            process.kill()
