"""Small process helpers shared by the benchmark drivers (stdlib only)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def bench_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every benchmark subprocess: no OTEL_* leaking in, local cost map."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LITELLM_OTEL", "TRACELOOP_"))}
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


class FakeProvider:
    """The fake provider (fake_provider.py) in its own process."""

    def __init__(self, python: str) -> None:
        self.process = subprocess.Popen(
            [python, str(HERE / "fake_provider.py")],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=bench_env(),
            text=True,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"fake provider did not start: {line!r}")
        self.port = int(line.split()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


class Worker:
    """One sdk_worker.py process (one configuration), driven line by line."""

    def __init__(self, python: str, config: str, base_url: str, log_dir: Path) -> None:
        self.config = config
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log = (log_dir / f"worker-{config}.log").open("wb")
        self.process = subprocess.Popen(
            [python, str(HERE / "sdk_worker.py"), "--config", config, "--base-url", base_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=bench_env(),
            text=True,
            start_new_session=True,
        )

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.config} exited with {self.process.poll()}; see worker-{self.config}.log")
        return dict(json.loads(line))

    def ready(self) -> dict[str, Any]:
        return self._read()

    def send(self, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        result = self._read()
        if not result.get("ok", False):
            raise RuntimeError(f"worker {self.config}: {result.get('error')}")
        return result

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(Exception):
                assert self.process.stdin is not None
                self.process.stdin.write(json.dumps({"cmd": "exit"}) + "\n")
                self.process.stdin.flush()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log.close()


def run_json(python: str, script: str, args: list[str], timeout: float, log: Path) -> dict[str, Any]:
    """Run a benchmark script that prints one JSON object as its last stdout line."""
    started = time.monotonic()
    with log.open("wb") as err:
        done = subprocess.run(
            [python, str(HERE / script), *args],
            stdout=subprocess.PIPE,
            stderr=err,
            env=bench_env(),
            timeout=timeout,
            check=False,
        )
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{script} failed with {done.returncode}:\n{tail}")
    lines = [line for line in done.stdout.decode().splitlines() if line.strip()]
    result = dict(json.loads(lines[-1]))
    result["elapsed_s"] = time.monotonic() - started
    return result
