"""An OpenAI-compatible fake provider for the demo: realistic latency, streaming, occasional errors.

Standard library only, threaded, on 127.0.0.1. Prompt tokens are the words of the
request, completion tokens the words of the reply, so what it served can be compared
with what otel-llm recorded.
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REPLIES = (
    "Here is a short answer to your question",
    "I looked into it and the result is positive",
    "The tool returned no results, let me try again",
    "Summary: three items need attention this week",
    "Done",
)


def count_words(value: Any) -> int:
    """Tokens as the fake providers count them: the words of a prompt, message or list of them."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(count_words(v) for v in value)
    if isinstance(value, dict):
        return count_words(value.get("content"))
    return 0


@dataclass
class Served:
    """What the fake provider answered: successful requests, tokens, and errors it injected."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hung up mid-answer is the traffic's business: nothing to print."""
        # Clients that hang up (Ctrl-C, timeouts) are part of the demo, not errors worth a traceback.
        return


class FakeProvider:
    """Start with ``start()``; ``api_base`` is the OpenAI-compatible base URL."""

    def __init__(self, seed: int, error_rate: float = 0.04, median_latency_s: float = 0.12) -> None:
        self.served = Served()
        self._random = random.Random(seed)
        self._random_lock = threading.Lock()
        self._error_rate = error_rate
        self._median_latency_s = median_latency_s
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                provider._answer(self, body)

            def log_message(self, *args: object) -> None:
                return

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True

    @property
    def api_base(self) -> str:
        """The OpenAI-compatible base URL to point LiteLLM at."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> FakeProvider:
        """Serve on a free port of 127.0.0.1 in a daemon thread."""
        threading.Thread(target=self._server.serve_forever, name="otel-llm-demo-provider", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def _draw(self) -> tuple[float, int | None, str]:
        with self._random_lock:
            latency = self._random.lognormvariate(0, 0.6) * self._median_latency_s
            roll = self._random.random()
            reply = self._random.choice(REPLIES)
        status = 429 if roll < self._error_rate / 2 else (500 if roll < self._error_rate else None)
        return min(latency, 3.0), status, reply

    def _answer(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        latency, status, reply = self._draw()
        model = str(body.get("model", "unknown"))
        if "fail" in model:  # a deployment that is down: the Router falls back from it
            status = 503
        time.sleep(latency / 3)  # time to first token
        if status is not None:
            with self.served.lock:
                self.served.errors += 1
            payload = json.dumps({"error": {"message": "injected failure", "type": "server_error"}}).encode()
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
            return
        prompt = max(1, count_words(body.get("messages")) or count_words(body.get("input")))
        completion = len(reply.split())
        with self.served.lock:
            self.served.requests += 1
            self.served.prompt_tokens += prompt
            self.served.completion_tokens += completion
        usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        headers = {
            "x-ratelimit-remaining-requests": str(10000 - self.served.requests),
            "x-ratelimit-limit-requests": "10000",
        }
        if body.get("stream"):
            self._stream(handler, model, reply, usage, latency, headers)
            return
        time.sleep(latency * 2 / 3)
        payload = json.dumps(
            {
                "id": f"chatcmpl-demo-{self.served.requests}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
                "usage": usage,
            }
        ).encode()
        handler.send_response(200)
        for name, value in {"Content-Type": "application/json", "Content-Length": str(len(payload)), **headers}.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(payload)

    def _stream(
        self,
        handler: BaseHTTPRequestHandler,
        model: str,
        reply: str,
        usage: dict[str, int],
        latency: float,
        headers: dict[str, str],
    ) -> None:
        handler.send_response(200)
        for name, value in {"Content-Type": "text/event-stream", "Connection": "close", **headers}.items():
            handler.send_header(name, value)
        handler.end_headers()
        base = {"id": "chatcmpl-demo-stream", "object": "chat.completion.chunk", "created": 1, "model": model}
        words = reply.split()
        for i, word in enumerate(words):
            delta = {"role": "assistant", "content": word if i == 0 else " " + word}
            chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            handler.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            handler.wfile.flush()
            time.sleep(latency * 2 / 3 / max(1, len(words)))
        final = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        handler.wfile.write(f"data: {json.dumps(final)}\n\n".encode())
        handler.wfile.write(f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n".encode())
        handler.wfile.write(b"data: [DONE]\n\n")
        handler.wfile.flush()
        handler.close_connection = True
