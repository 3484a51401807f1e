"""The gateway's other hops in tests: real MCP servers (streamable HTTP and stdio, the ``mcp``
package), a real A2A agent (the a2a-sdk), virtual keys with MCP permissions, and a real MCP client.

Keys come from LiteLLM's custom_auth hook (no database): each key's ``object_permission`` names
the MCP servers it may use, as LiteLLM's key management would store it.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.proxy.harness import free_port

SERVERS = Path(__file__).resolve().parent / "servers"
TOOLS = "sk-hops-tools-5c2e8a1f9b3d7e6a"  # may use both MCP servers
LIMITED = "sk-hops-limited-3f9a2c7e1b5d8a4c"  # may use the stdio server only
BUSY = "sk-hops-busy-8e1c5a9f3b7d2e6a"  # calls varied tools fast
LOOPER = "sk-hops-loop-2a7c9e1f5b3d8a6c"  # calls the same tool with the same arguments again and again
KEYS: dict[str, dict[str, Any]] = {
    TOOLS: {"key_alias": "tool-user", "team_id": "team-tools", "team_alias": "Tools", "servers": ["calc", "calcio"]},
    LIMITED: {"key_alias": "no-calc", "team_id": "team-limited", "team_alias": "Limited", "servers": ["calcio"]},
    BUSY: {"key_alias": "busy-agent", "team_id": "team-tools", "team_alias": "Tools", "servers": ["calc"]},
    LOOPER: {"key_alias": "loop-agent", "team_id": "team-tools", "team_alias": "Tools", "servers": ["calc"]},
}

AUTH_MODULE = f"""
from fastapi import HTTPException, Request
from litellm.proxy._types import LiteLLM_ObjectPermissionTable, UserAPIKeyAuth

KEYS = {KEYS!r}


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    info = dict(KEYS.get(api_key) or {{}})
    if not info:
        raise HTTPException(status_code=401, detail="unknown key")
    servers = info.pop("servers")
    permission = LiteLLM_ObjectPermissionTable(object_permission_id="perm-" + info["key_alias"], mcp_servers=servers)
    return UserAPIKeyAuth(api_key=api_key, object_permission=permission, **info)
"""


class ServerProcess:
    """A server script (``servers/``) on 127.0.0.1:``port``; ``start`` waits until it accepts connections."""

    def __init__(self, script: str, *args: str, port: int | None = None) -> None:
        self.port = port or free_port()
        self.command = [sys.executable, str(SERVERS / script), *args, str(self.port)]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> ServerProcess:
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.command} exited: {self.process.stderr.read() if self.process.stderr else ''}"
                )
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.command} not listening within {timeout}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def mcp_servers(http_port: int, **calc: Any) -> dict[str, Any]:
    """config.yaml's ``mcp_servers``: ``calc`` over streamable HTTP (tool costs configured), ``calcio``
    over stdio (LiteLLM starts it)."""
    return {
        "calc": {
            "url": f"http://127.0.0.1:{http_port}/mcp",
            "transport": "http",
            "mcp_info": {
                "mcp_server_cost_info": {"default_cost_per_query": 0.01, "tool_name_to_cost_per_query": {"add": 0.002}}
            },
            **calc,
        },
        "calcio": {"transport": "stdio", "command": sys.executable, "args": [str(SERVERS / "calc_mcp.py"), "stdio"]},
    }


async def _session(url: str, headers: Mapping[str, str], steps: list[tuple[str, Any]]) -> list[Any]:
    # Imported here: tests/secrets.py reads KEYS in every run, also where an older LiteLLM brings mcp 1.x.
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.exceptions import MCPError

    results: list[Any] = []
    async with (
        httpx2.AsyncClient(headers=dict(headers), timeout=30) as http,
        Client(streamable_http_client(url, http_client=http), mode="legacy") as client,
    ):
        for step, argument in steps:
            if step == "list_tools":
                results.append(await client.list_tools())
            elif step == "call":
                name, arguments = argument
                results.append(await client.call_tool(name, arguments))
            elif step == "list_prompts":
                results.append(await client.list_prompts())
            elif step == "list_resources":
                results.append(await client.list_resources())
            elif step == "get_prompt":
                name, arguments = argument
                try:
                    results.append(await client.get_prompt(name, arguments))
                except MCPError as error:  # an MCP error answer: the test reads it
                    results.append(error)
    return results


def mcp_session(
    proxy_url: str, key: str, steps: list[tuple[str, Any]], headers: Mapping[str, str] | None = None
) -> list[Any]:
    """One MCP session through the proxy (the ``mcp`` package's client, authenticated with ``key``):
    the result of each step (``list_tools``, ``call`` (name, arguments), ``list_prompts``, ``list_resources``,
    ``get_prompt`` (name, arguments): the MCP error for an error answer)."""
    return asyncio.run(_session(f"{proxy_url}/mcp", {"Authorization": f"Bearer {key}", **(headers or {})}, steps))


def a2a_message(text: str, message_id: str = "m-1") -> dict[str, Any]:
    """An A2A ``message/send`` JSON-RPC request."""
    message = {"role": "user", "parts": [{"kind": "text", "text": text}], "messageId": message_id}
    return {"jsonrpc": "2.0", "id": message_id, "method": "message/send", "params": {"message": message}}


def result_text(result: Any) -> str:
    """The text of an MCP tool result."""
    return " ".join(getattr(item, "text", "") for item in result.content)
