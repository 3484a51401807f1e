"""Local fake LLM providers over real HTTP (pytest-httpserver), with known usage."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

CHAT_MODEL_SERVED = "gpt-4o-mini-2024-07-18"


@dataclass
class Served:
    """What the fake provider handed out, for exact comparisons with telemetry."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    failures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, prompt: int, completion: int) -> None:
        with self.lock:
            self.requests += 1
            self.input_tokens += prompt
            self.output_tokens += completion


class FakeOpenAI:
    """An OpenAI-compatible provider: chat (plain and streamed), completions, embeddings, responses.

    Prompt tokens are the number of words in the request's text, so each test can
    predict them; completion tokens are the words of the reply.
    """

    def __init__(self, server: HTTPServer, prefix: str = "/v1") -> None:
        self.server = server
        self.prefix = prefix
        self.served = Served()
        self.reply = "Hello from the fake provider"
        self.model = CHAT_MODEL_SERVED
        self.delay_s = 0.0
        self.chunk_delay_s = 0.0
        # Prompt tokens served from the provider's prompt cache (OpenAI's prompt_tokens_details.cached_tokens).
        self.cached_tokens = 0
        self.headers = {"x-ratelimit-remaining-requests": "4999", "x-ratelimit-remaining-tokens": "159000"}
        server.expect_request(f"{prefix}/chat/completions").respond_with_handler(self._chat)
        server.expect_request(f"{prefix}/completions").respond_with_handler(self._completion)
        server.expect_request(f"{prefix}/embeddings").respond_with_handler(self._embeddings)
        server.expect_request(f"{prefix}/responses").respond_with_handler(self._responses)

    @property
    def api_base(self) -> str:
        return self.server.url_for(self.prefix)

    @staticmethod
    def _words(value: Any) -> int:
        if isinstance(value, str):
            return len(value.split())
        if isinstance(value, list):
            return sum(FakeOpenAI._words(v) for v in value)
        if isinstance(value, dict):
            return FakeOpenAI._words(value.get("content"))
        return 0

    def _chat(self, request: Request) -> Response:
        body = request.get_json()
        if self.delay_s:
            time.sleep(self.delay_s)
        prompt = max(1, self._words(body.get("messages")))
        completion = len(self.reply.split())
        self.served.add(prompt, completion)
        model = self.model
        if body.get("stream"):
            return self._stream(body, prompt, completion, model)
        payload = {
            "id": f"chatcmpl-{self.served.requests}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": self.reply}, "finish_reason": "stop"}],
            "usage": self._usage(prompt, completion),
        }
        return Response(json.dumps(payload), content_type="application/json", headers=self.headers)

    def _usage(self, prompt: int, completion: int) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        if self.cached_tokens:
            usage["prompt_tokens_details"] = {"cached_tokens": min(self.cached_tokens, prompt)}
        return usage

    def _stream(self, body: dict[str, Any], prompt: int, completion: int, model: str) -> Response:
        base = {
            "id": f"chatcmpl-s{self.served.requests}",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": model,
        }
        words = self.reply.split()
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def generate() -> Any:
            for i, word in enumerate(words):
                delta = {"role": "assistant", "content": word if i == 0 else " " + word}
                chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
                yield f"data: {json.dumps(chunk)}\n\n"
                if self.chunk_delay_s:
                    time.sleep(self.chunk_delay_s)
            yield f"data: {json.dumps({**base, 'choices': [{'index': 0, 'delta': {}, 'finish_reason': 'stop'}]})}\n\n"
            if include_usage:
                usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
                yield f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n"
            yield "data: [DONE]\n\n"

        return Response(generate(), content_type="text/event-stream", headers=self.headers)

    def _completion(self, request: Request) -> Response:
        body = request.get_json()
        prompt = max(1, self._words(body.get("prompt")))
        completion = len(self.reply.split())
        self.served.add(prompt, completion)
        payload = {
            "id": f"cmpl-{self.served.requests}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": "gpt-3.5-turbo-instruct",
            "choices": [{"index": 0, "text": self.reply, "finish_reason": "length", "logprobs": None}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
        }
        return Response(json.dumps(payload), content_type="application/json", headers=self.headers)

    def _responses(self, request: Request) -> Response:
        """The Responses API, non-streaming."""
        prompt = max(1, self._words(request.get_json().get("input")))
        completion = len(self.reply.split())
        self.served.add(prompt, completion)
        payload = {
            "id": f"resp_{self.served.requests}",
            "object": "response",
            "created_at": int(time.time()),
            "status": "completed",
            "model": self.model,
            "output": [
                {
                    "type": "message",
                    "id": f"msg_{self.served.requests}",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": self.reply, "annotations": []}],
                }
            ],
            "usage": {"input_tokens": prompt, "output_tokens": completion, "total_tokens": prompt + completion},
        }
        return Response(json.dumps(payload), content_type="application/json", headers=self.headers)

    def _embeddings(self, request: Request) -> Response:
        body = request.get_json()
        inputs = body.get("input")
        inputs = inputs if isinstance(inputs, list) else [inputs]
        prompt = max(1, self._words(inputs))
        self.served.add(prompt, 0)
        payload = {
            "object": "list",
            "model": "text-embedding-3-small",
            "data": [
                {"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3, 0.4]} for i in range(len(inputs))
            ],
            "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
        }
        return Response(json.dumps(payload), content_type="application/json", headers=self.headers)


class FailingProvider:
    """A provider path that always answers one HTTP error (429, 500, ...)."""

    def __init__(self, server: HTTPServer, prefix: str, status: int) -> None:
        self.server = server
        self.prefix = prefix
        self.hits = 0
        message = {429: "Rate limit reached", 500: "The server had an error"}.get(status, "error")
        self.status = status

        def handler(request: Request) -> Response:
            self.hits += 1
            body = {"error": {"message": message, "type": "server_error" if status >= 500 else "rate_limit"}}
            return Response(json.dumps(body), status=status, content_type="application/json")

        server.expect_request(f"{prefix}/chat/completions").respond_with_handler(handler)

    @property
    def api_base(self) -> str:
        return self.server.url_for(self.prefix)


OVERLOADED_MODEL = "claude-overloaded"  # FakeAnthropic answers 529 (overloaded) for this model


class FakeAnthropic:
    """An Anthropic Messages API provider, plain and streamed (server-sent events), with known usage;
    overloaded (529) for ``OVERLOADED_MODEL``."""

    def __init__(self, server: HTTPServer, prefix: str = "/anthropic") -> None:
        self.server = server
        self.prefix = prefix
        self.served = Served()
        self.chunk_delay_s = 0.0  # between streamed events
        server.expect_request(f"{prefix}/v1/messages/count_tokens").respond_with_handler(self._count_tokens)
        server.expect_request(f"{prefix}/v1/messages").respond_with_handler(self._messages)

    @property
    def api_base(self) -> str:
        return self.server.url_for(self.prefix)

    def _count_tokens(self, request: Request) -> Response:
        """Anthropic's token counting: not an LLM call (nothing generated, nothing billed)."""
        prompt = max(1, FakeOpenAI._words(request.get_json().get("messages")))
        return Response(json.dumps({"input_tokens": prompt}), content_type="application/json")

    def _messages(self, request: Request) -> Response:
        body = request.get_json()
        if body.get("model") == OVERLOADED_MODEL:
            error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
            return Response(json.dumps(error), status=529, content_type="application/json")
        prompt = max(1, FakeOpenAI._words(body.get("messages")))
        reply = "Bonjour from the fake Anthropic"
        completion = len(reply.split())
        self.served.add(prompt, completion)
        if body.get("stream"):
            return self._stream(reply, prompt, completion)
        payload = {
            "id": f"msg_{self.served.requests}",
            "type": "message",
            "role": "assistant",
            "model": "claude-haiku-4-5-20251001",
            "content": [{"type": "text", "text": reply}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": prompt, "output_tokens": completion, "cache_read_input_tokens": 3},
        }
        return Response(json.dumps(payload), content_type="application/json")

    def _stream(self, reply: str, prompt: int, completion: int) -> Response:
        """Anthropic's event sequence: input tokens in message_start, output tokens in message_delta."""
        message = {
            "id": f"msg_{self.served.requests}",
            "type": "message",
            "role": "assistant",
            "model": "claude-haiku-4-5-20251001",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": prompt, "output_tokens": 1, "cache_read_input_tokens": 3},
        }
        events: list[tuple[str, dict[str, Any]]] = [
            ("message_start", {"type": "message_start", "message": message}),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            *(
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word + " "}},
                )
                for word in reply.split()
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": completion},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        delay_s = self.chunk_delay_s

        def generate() -> Iterator[str]:
            for index, (name, data) in enumerate(events):
                if index and delay_s:
                    time.sleep(delay_s)
                yield f"event: {name}\ndata: {json.dumps(data)}\n\n"

        return Response(generate(), content_type="text/event-stream")


@contextmanager
def fake_providers(
    broken_prefix: str = "/broken", threaded: bool = True
) -> Iterator[tuple[FakeOpenAI, FailingProvider]]:
    """A server of its own (for proxy subprocesses) with a working and a failing (500) provider."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=threaded)
    server.start()
    try:
        yield FakeOpenAI(server), FailingProvider(server, broken_prefix, 500)
    finally:
        server.clear()
        server.stop()


def fallback_router(primary: FailingProvider, backup: FakeOpenAI) -> Any:
    """A real LiteLLM Router: group ``primary`` (retried once) falls back to ``backup``."""
    import litellm  # only the tests that route pay for the import

    return litellm.Router(
        model_list=[
            {
                "model_name": "primary",
                "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": primary.api_base, "api_key": "sk-a"},
            },
            {
                "model_name": "backup",
                "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": backup.api_base, "api_key": "sk-b"},
            },
        ],
        fallbacks=[{"primary": ["backup"]}],
        num_retries=1,
        retry_after=0,
    )
