"""Start the real `litellm` proxy on 127.0.0.1 with otel-llm in its config.yaml.

Virtual keys come from LiteLLM's custom_auth hook (no database): each key has an
alias, a team, a budget, its spend and rpm/tpm limits.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

MASTER_KEY = "sk-master-5f1d7c0a9e3b4d2c8a6f1e0b7d3c9a24"
PROVIDER_KEY = "sk-provider-7e9a1c3b5d7f9e1a3c5b7d9f1e3a5c7b"
KEYS: dict[str, dict[str, Any]] = {
    "sk-vk-alpha-2b8e4f6a1c3d5e7f": {
        "key_alias": "agent-alpha",
        "team_id": "team-a",
        "team_alias": "Team A",
        "user_id": "user-1",
        "max_budget": 10.0,
        "spend": 8.5,
        "rpm_limit": 1000,
        "tpm_limit": 1000000,
        "team_max_budget": 50.0,
        "team_spend": 20.0,
        "team_rpm_limit": 2000,
        "team_tpm_limit": 2000000,
    },
    "sk-vk-beta-9c1e3a5b7d9f2e4a": {
        "key_alias": "agent-beta",
        "team_id": "team-b",
        "team_alias": "Team B",
        "user_id": "user-2",
        "max_budget": 100.0,
        "spend": 1.25,
        "team_max_budget": 500.0,
        "team_spend": 40.0,
    },
}
ALPHA, BETA = list(KEYS)
BIN = Path(sys.executable).parent


def auth_module(keys: dict[str, dict[str, Any]]) -> str:
    """A custom_auth module admitting ``keys`` (virtual key → its alias, team, budget, ...)."""
    return f"""
from fastapi import HTTPException, Request
from litellm.proxy._types import UserAPIKeyAuth

KEYS = {keys!r}


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    info = KEYS.get(api_key)
    if info is None:
        raise HTTPException(status_code=401, detail="unknown key")
    return UserAPIKeyAuth(api_key=api_key, **info)
"""


AUTH_MODULE = auth_module(KEYS)


def unsalted_litellm_hash(key: str) -> str:
    """LiteLLM's own (unsalted) SHA-256 of a virtual key: must never be exported."""
    return hashlib.sha256(key.encode()).hexdigest()


def stream_messages(url: str, headers: dict[str, str], model: str) -> list[str]:
    """A streamed Anthropic-format ``/v1/messages`` request (how Claude Code calls the proxy):
    the names of the server-sent events it got, once the stream ended."""
    body = {"model": model, "max_tokens": 50, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.stream("POST", f"{url}/v1/messages", headers=headers, json=body, timeout=30) as response:
        assert response.status_code == 200, response.read()
        return [line.removeprefix("event: ") for line in response.iter_lines() if line.startswith("event: ")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def claude_deployment(name: str, api_base: str) -> dict[str, Any]:
    """A model group ``name`` served by Claude Haiku at ``api_base`` (a fake Anthropic)."""
    return {
        "model_name": name,
        "litellm_params": {
            "model": "anthropic/claude-haiku-4-5-20251001",
            "api_base": api_base,
            "api_key": PROVIDER_KEY,
        },
    }


def model_list(api_base: str, broken_base: str) -> list[dict[str, Any]]:
    def entry(name: str, base: str) -> dict[str, Any]:
        return {
            "model_name": name,
            "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": base, "api_key": PROVIDER_KEY},
        }

    return [entry("gpt-main", api_base), entry("gpt-flaky", broken_base), entry("gpt-backup", api_base)]


class ProxyProcess:
    """One `litellm --config` process; start() waits for /health/liveliness."""

    def __init__(
        self,
        workdir: Path,
        models: list[dict[str, Any]],
        env: dict[str, str],
        workers: int = 1,
        wrapper: list[str] | None = None,
        callbacks: list[str] | None = None,
        config_file: Path | None = None,
        extra_args: list[str] | None = None,
        keys: dict[str, dict[str, Any]] | None = None,
        extra_config: dict[str, Any] | None = None,
    ) -> None:
        """``keys``: the virtual keys custom_auth admits (default ``KEYS``: agent-alpha and agent-beta);
        ``extra_config``: more top-level sections of config.yaml (mcp_servers, guardrails, agents)."""
        self.workdir = workdir
        self.port = free_port()
        self.workers = workers
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "auth.py").write_text(AUTH_MODULE if keys is None else auth_module(keys))
        config = {
            "model_list": models,
            "router_settings": {
                "num_retries": 1,
                "retry_after": 0,
                "fallbacks": [{"gpt-flaky": ["gpt-backup"]}],
            },
            "litellm_settings": {"callbacks": callbacks or ["otel_llm.proxy.callback"]},
            "general_settings": {"custom_auth": "auth.user_api_key_auth"},
            **(extra_config or {}),
        }
        text = config_file.read_text() if config_file is not None else yaml.safe_dump(config)
        (workdir / "config.yaml").write_text(text)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        self.env.update(
            {
                "LITELLM_MASTER_KEY": MASTER_KEY,
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                "PYTHONPATH": str(workdir),
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_METRIC_EXPORT_INTERVAL": "500",
                "OTEL_BSP_SCHEDULE_DELAY": "100",
                "OTEL_LLM_RAISE_INTERNAL_ERRORS": "true",
            }
        )
        self.env.update(env)
        self.command = [
            *(wrapper or []),
            str(BIN / "litellm"),
            "--config",
            str(workdir / "config.yaml"),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--num_workers",
            str(workers),
            *(extra_args or []),
        ]
        self.log_path = workdir / "proxy.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> ProxyProcess:
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.command, cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"proxy exited with {self.process.returncode}:\n{self.log()[-5000:]}")
            try:
                if httpx.get(f"{self.url}/health/liveliness", timeout=1).status_code == 200 and self._all_workers_up():
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop(timeout=10)  # a hung worker may ignore SIGTERM: leave time to report within the test's timeout
        raise RuntimeError(f"proxy not live within {timeout}s:\n{self.log()[-5000:]}")

    def _all_workers_up(self) -> bool:
        # One live worker answers the health check while the others may still be starting
        # (importing LiteLLM takes seconds): tests that need every worker wait for each one.
        return self.workers == 1 or self.log().count("Application startup complete.") >= self.workers

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM the proxy (and its workers) and wait for it to exit."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait(timeout=10)

    def chat(
        self,
        key: str,
        model: str = "gpt-main",
        text: str = "hello proxy",
        headers: dict[str, str] | None = None,
        **body: Any,
    ) -> httpx.Response:
        return httpx.post(
            f"{self.url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {key}", **(headers or {})},
            json={"model": model, "messages": [{"role": "user", "content": text}], **body},
            timeout=30,
        )
