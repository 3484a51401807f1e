"""A real MCP server written with the ``mcp`` package, for the proxy's MCP gateway tests.

``python calc_mcp.py http PORT`` serves streamable HTTP on 127.0.0.1:PORT/mcp; ``python calc_mcp.py
stdio`` serves stdio (LiteLLM starts it as a subprocess). Tools: ``add``, ``echo`` and ``fail``
(which always fails, so the client gets a result with ``isError``); a resource and a prompt.
"""

from __future__ import annotations

import sys

from mcp.server.mcpserver import MCPServer

server = MCPServer("calc")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@server.tool()
def fail(reason: str) -> str:
    """Always fail."""
    raise ValueError(f"tool failed: {reason}")


@server.resource("calc://constants/pi")
def pi() -> str:
    """A constant."""
    return "3.14159"


@server.prompt()
def explain(topic: str) -> str:
    """A prompt template."""
    return f"Explain {topic}"


if __name__ == "__main__":
    if sys.argv[1] == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
