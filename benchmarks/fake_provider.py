"""A small, fast OpenAI-compatible fake provider (and OTLP sink) on 127.0.0.1, for benchmarks.

Runs as its own process, so its CPU never counts against the process being measured.
Plain asyncio HTTP/1.1 with keep-alive and Content-Length bodies (streams are sent as one
SSE body: the client still parses them chunk by chunk).

Routes:
  POST /v1/chat/completions        a chat completion; ``"stream": true`` answers SSE with a usage chunk;
                                   ``max_tokens: N`` makes the reply N words (N chunks when streamed)
  POST /v1/embeddings              one 8-dimensional vector per input
  POST /fail/v1/chat/completions   HTTP 500 (the failing deployment of a Router fallback)
  POST /v1/traces, /v1/metrics,
       /v1/logs                    an OTLP/HTTP sink: 200 with an empty protobuf body, counted
  GET  /stats                      JSON counters

``python fake_provider.py [--port N]`` prints ``PORT <n>`` on stdout once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time

from otel_llm.cli.fake_provider import count_words

REPLY = "Hello from the fake provider"
MODEL = "gpt-4o-mini-2024-07-18"
HEADERS = b"x-ratelimit-remaining-requests: 4999\r\nx-ratelimit-remaining-tokens: 159000\r\n"
STATS: dict[str, int] = {"requests": 0, "otlp_requests": 0, "otlp_bytes": 0, "failures": 0}


def _response(status: str, body: bytes, content_type: bytes, extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 "
        + status.encode()
        + b"\r\nContent-Type: "
        + content_type
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\nConnection: keep-alive\r\n"
        + extra
        + b"\r\n"
        + body
    )


def reply_words(body: dict[str, object]) -> list[str]:
    """The reply: REPLY, or ``max_tokens`` words when the request asks for that many (long streams)."""
    wanted = body.get("max_tokens")
    if isinstance(wanted, int) and not isinstance(wanted, bool) and 0 < wanted <= 100_000:
        return [f"w{i}" for i in range(wanted)]
    return REPLY.split()


def chat(body: dict[str, object]) -> bytes:
    STATS["requests"] += 1
    prompt = max(1, count_words(body.get("messages")))
    words = reply_words(body)
    completion = len(words)
    usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    rid = f"chatcmpl-{STATS['requests']}"
    if body.get("stream"):
        base = {"id": rid, "object": "chat.completion.chunk", "created": 1, "model": MODEL}
        parts = []
        for i, word in enumerate(words):
            delta = {"role": "assistant", "content": word if i == 0 else " " + word}
            chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            parts.append(f"data: {json.dumps(chunk)}\n\n")
        parts.append(
            f"data: {json.dumps({**base, 'choices': [{'index': 0, 'delta': {}, 'finish_reason': 'stop'}]})}\n\n"
        )
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            parts.append(f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n")
        parts.append("data: [DONE]\n\n")
        return _response("200 OK", "".join(parts).encode(), b"text/event-stream", HEADERS)
    payload = {
        "id": rid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": " ".join(words)}, "finish_reason": "stop"}
        ],
        "usage": usage,
    }
    return _response("200 OK", json.dumps(payload).encode(), b"application/json", HEADERS)


def embeddings(body: dict[str, object]) -> bytes:
    STATS["requests"] += 1
    inputs = body.get("input")
    items = inputs if isinstance(inputs, list) else [inputs]
    prompt = max(1, count_words(items))
    payload = {
        "object": "list",
        "model": "text-embedding-3-small",
        "data": [
            {"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]}
            for i in range(len(items))
        ],
        "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
    }
    return _response("200 OK", json.dumps(payload).encode(), b"application/json", HEADERS)


def route(method: str, path: str, body: bytes) -> bytes:
    path = path.split("?", 1)[0]
    if path in ("/v1/traces", "/v1/metrics", "/v1/logs"):
        STATS["otlp_requests"] += 1
        STATS["otlp_bytes"] += len(body)
        return _response("200 OK", b"", b"application/x-protobuf")
    if method == "GET" and path == "/stats":
        return _response("200 OK", json.dumps(STATS).encode(), b"application/json")
    if path.startswith("/fail/"):
        STATS["failures"] += 1
        error = {"error": {"message": "The server had an error", "type": "server_error"}}
        return _response("500 Internal Server Error", json.dumps(error).encode(), b"application/json")
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        return _response("400 Bad Request", b'{"error": {"message": "bad json"}}', b"application/json")
    if path.endswith("/chat/completions"):
        return chat(parsed)
    if path.endswith("/embeddings"):
        return embeddings(parsed)
    return _response("404 Not Found", b'{"error": {"message": "no route"}}', b"application/json")


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            body = await reader.readexactly(length) if length else b""
            writer.write(route(method, path, body))
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def serve(port: int) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    sock = server.sockets[0]
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        import uvloop  # noqa: PLC0415  # faster when present (litellm[proxy] brings it)

        uvloop.install()
    except ImportError:
        pass
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port))
    sys.exit(0)


if __name__ == "__main__":
    main()
