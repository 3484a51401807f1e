"""The real LiteLLM proxy with `callbacks: ["otel_llm.proxy.callback"]`, exporting OTLP to a local receiver."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fakes import OVERLOADED_MODEL, FailingProvider, FakeAnthropic, FakeOpenAI, fake_providers
from tests.otlp_receiver import OtlpReceiver
from tests.proxy.harness import (
    ALPHA,
    BETA,
    KEYS,
    MASTER_KEY,
    PROVIDER_KEY,
    ProxyProcess,
    claude_deployment,
    model_list,
    stream_messages,
    unsalted_litellm_hash,
)

pytestmark = pytest.mark.e2e

SERVER, INTERNAL, CLIENT = 2, 1, 3  # OTLP span kinds
CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"
SLOW_S = 1.5


@pytest.fixture(scope="module")
def providers() -> Iterator[tuple[FakeOpenAI, FailingProvider]]:
    with fake_providers("/broken") as providers:
        yield providers


@pytest.fixture(scope="module", params=["lean", "sdk", "process"])
def path(request: pytest.FixtureRequest) -> str:
    """Every test here runs against both recording paths: otel-llm's own (the default) and the SDK's;
    and on the lean path with each attempt emitted by a process beside the worker
    (OTEL_LLM_PROXY_EMITTER=process)."""
    return str(request.param)


@pytest.fixture(scope="module")
def receiver(path: str) -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as r:
        yield r


@pytest.fixture(scope="module")
def proxy(
    tmp_path_factory: pytest.TempPathFactory,
    providers: tuple[FakeOpenAI, FailingProvider],
    receiver: OtlpReceiver,
    path: str,
) -> Iterator[ProxyProcess]:
    fake, broken = providers
    anthropic = FakeAnthropic(fake.server)
    anthropic.chunk_delay_s = 0.05  # streams only: the last event comes >= 0.45 s after the first
    claude = claude_deployment("claude-main", anthropic.api_base)
    # An overloaded Anthropic: every /v1/messages answered 529.
    fake.server.expect_request("/anthropic-down/v1/messages").respond_with_json(
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, status=529
    )
    claude_down = claude_deployment("claude-down", fake.server.url_for("/anthropic-down"))
    # A provider that takes its time: a client can hang up while the proxy waits for it.
    slow = FakeOpenAI(fake.server, prefix="/slow")
    slow.delay_s = SLOW_S
    slow.chunk_delay_s = 0.2
    gpt_slow = {
        "model_name": "gpt-slow",
        "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": slow.api_base, "api_key": PROVIDER_KEY},
    }
    process = ProxyProcess(
        tmp_path_factory.mktemp("proxy"),
        [*model_list(fake.api_base, broken.api_base), claude, claude_down, gpt_slow],
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_SERVICE_NAME": "proxy-under-test",
            "OTEL_LLM_PROXY_HTTP_SPANS": "true",
            "OTEL_LLM_LEAN_PATH": "false" if path == "sdk" else "true",
            "OTEL_LLM_PROXY_EMITTER": "process" if path == "process" else "inline",
            # The /anthropic pass-through route forwards here, with the proxy's provider key.
            "ANTHROPIC_API_BASE": anthropic.api_base,
            "ANTHROPIC_API_KEY": PROVIDER_KEY,
        },
    ).start()
    yield process
    process.stop()
    assert "otel-llm: internal error" not in process.log(), process.log()[-5000:]


def _trace(receiver: OtlpReceiver, trace_id: str, attempts: int) -> list[dict[str, object]]:
    """The spans of a trace, once its request span and ``attempts`` attempt spans arrived."""

    def complete() -> list[dict[str, object]] | None:
        spans = [s for s in receiver.spans() if s["trace_id"] == trace_id]
        done = sum(1 for s in spans if s["kind"] == CLIENT and s["scope"] == "otel_llm") >= attempts and any(
            s["kind"] == SERVER for s in spans
        )
        return spans if done else None

    return receiver.wait_for(complete, message=f"{attempts} attempts in trace {trace_id}")


def _served(
    proxy: ProxyProcess,
    receiver: OtlpReceiver,
    route: str,
    key: str,
    body: dict[str, object],
    trace_id: str,
    status: int = 200,
) -> tuple[httpx.Response, dict[str, Any], dict[str, Any]]:
    """POST ``body`` to ``route`` in trace ``trace_id``, answered ``status``: the response, its
    SERVER span and its one attempt span (the SERVER span's child)."""
    response = httpx.post(
        f"{proxy.url}{route}",
        headers={"Authorization": f"Bearer {key}", "traceparent": f"00-{trace_id}-{'7' * 16}-01"},
        json=body,
        timeout=30,
    )
    assert response.status_code == status, response.text
    spans = _trace(receiver, trace_id, 1)
    (server,) = [s for s in spans if s["kind"] == SERVER]
    (attempt,) = [s for s in spans if s["kind"] == CLIENT and s["scope"] == "otel_llm"]
    assert attempt["parent_span_id"] == server["span_id"]
    return response, server, attempt


def test_trace_continues_the_callers_trace(proxy: ProxyProcess, receiver: OtlpReceiver, path: str) -> None:
    """proxy request (with the model-group request's counts) → attempt → provider HTTP call, in the client's trace."""
    response = proxy.chat(ALPHA, headers={"traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"}, user="customer-42")
    assert response.status_code == 200, response.text
    spans = _trace(receiver, CLIENT_TRACE, 1)
    (server,) = [s for s in spans if s["kind"] == SERVER]
    (attempt,) = [s for s in spans if s["kind"] == CLIENT and s["scope"] == "otel_llm"]
    http = [s for s in spans if s["kind"] == CLIENT and s["scope"] != "otel_llm"]
    # The server span is FastAPI's own (recent FastAPI traces natively) or otel-llm's fallback.
    assert server["parent_span_id"] == CLIENT_SPAN
    assert server["name"] == "POST /v1/chat/completions"
    assert server["attributes"]["http.response.status_code"] == 200
    # The Router request is folded into the SERVER span (OTEL_LLM_PROXY_ROUTER_SPAN=false): no INTERNAL span.
    assert not [s for s in spans if s["kind"] == INTERNAL]
    assert server["attributes"]["otel_llm.model_group"] == "gpt-main"
    assert server["attributes"]["otel_llm.router.attempts"] == 1
    assert server["attributes"]["otel_llm.router.final_model_group"] == "gpt-main"
    assert attempt["parent_span_id"] == server["span_id"] and attempt["name"] == "chat gpt-4o-mini"
    assert len(http) == 1 and http[0]["parent_span_id"] == attempt["span_id"]
    assert {s["resource"]["service.name"] for s in spans} == {"proxy-under-test"}
    # FastAPI keeps its SERVER span; its per-dependency spans are off (OTEL_LLM_PROXY_FASTAPI_TELEMETRY=server).
    assert not [s["name"] for s in spans if str(s["name"]).startswith("fastapi.")]
    # With an emitter process, the attempt span is made and exported by it (a process of its own), with
    # the ids the worker decided: the provider's HTTP span (the worker's) is its child all the same.
    worker = server["resource"]["service.instance.id"]
    assert (attempt["resource"]["service.instance.id"] != worker) is (path == "process")
    assert http[0]["resource"]["service.instance.id"] == worker


def test_attribution_on_spans(proxy: ProxyProcess, receiver: OtlpReceiver) -> None:
    """Attempt spans carry key alias, salted key hash, team, user, end user, tags, model group and deployment."""
    trace_id = "1" * 32
    response = proxy.chat(
        ALPHA,
        headers={"traceparent": f"00-{trace_id}-{'2' * 16}-01"},
        user="customer-7",
        metadata={"tags": ["agent:alpha"]},
    )
    assert response.status_code == 200
    (attempt,) = [s for s in _trace(receiver, trace_id, 1) if s["kind"] == CLIENT and s["scope"] == "otel_llm"]
    attrs = attempt["attributes"]
    assert attrs["otel_llm.key.alias"] == "agent-alpha"
    assert len(attrs["otel_llm.key.hash"]) == 16
    assert attrs["otel_llm.key.hash"] not in unsalted_litellm_hash(ALPHA)
    assert attrs["otel_llm.team.id"] == "team-a" and attrs["otel_llm.team.alias"] == "Team A"
    assert attrs["user.id"] == "user-1"
    assert attrs["enduser.id"] == "customer-7"
    assert "agent:alpha" in attrs["otel_llm.request.tags"]
    assert attrs["otel_llm.model_group"] == "gpt-main"
    # The proxy relabels responses with the model group; the span names the deployment's model.
    assert attrs["gen_ai.response.model"] == "gpt-4o-mini"
    assert attrs["otel_llm.deployment.id"] == response.headers["x-litellm-model-id"]
    assert attrs["otel_llm.usage.cost"] == pytest.approx(float(response.headers["x-litellm-response-cost"]))


def test_fallback_visible_and_counted_once(proxy: ProxyProcess, receiver: OtlpReceiver) -> None:
    """A failing primary retried then falling back: each failed attempt is a span, the fallback counts once."""
    trace_id = "3" * 32
    response = proxy.chat(BETA, model="gpt-flaky", headers={"traceparent": f"00-{trace_id}-{'4' * 16}-01"})
    assert response.status_code == 200, response.text
    assert response.headers["x-litellm-model-group"] == "gpt-backup"
    spans = _trace(receiver, trace_id, 3)
    attempts = sorted((s for s in spans if s["kind"] == CLIENT and s["scope"] == "otel_llm"), key=lambda s: s["name"])
    failed = [s for s in attempts if s["attributes"].get("error.type")]
    served = [s for s in attempts if not s["attributes"].get("error.type")]
    assert len(failed) == 2 and {s["attributes"]["otel_llm.model_group"] for s in failed} == {"gpt-flaky"}
    assert {s["attributes"]["error.type"] for s in failed} == {"InternalServerError"}
    assert len(served) == 1 and served[0]["attributes"]["otel_llm.model_group"] == "gpt-backup"
    assert [name for name, _ in served[0]["events"]] == ["otel_llm.fallback"]
    (server,) = [s for s in spans if s["kind"] == SERVER]
    assert {s["parent_span_id"] for s in attempts} == {server["span_id"]}
    assert server["attributes"]["otel_llm.router.attempts"] == 3
    assert server["attributes"]["otel_llm.router.fallbacks"] == 1
    assert server["attributes"]["otel_llm.router.retries"] == 1
    assert server["attributes"]["otel_llm.router.final_model_group"] == "gpt-backup"
    assert [name for name, _ in server["events"]] == ["otel_llm.retry", "otel_llm.fallback"]

    def fallbacks() -> float:
        return sum(
            p.as_int
            for attrs, p, _ in receiver.latest_points("otel_llm.client.fallbacks")
            if attrs.get("otel_llm.fallback.from_model_group") == "gpt-flaky"
        )

    receiver.wait_for(lambda: fallbacks() >= 1, message="fallback counter")
    assert fallbacks() == 1
    failures = [
        p.count
        for attrs, p, _ in receiver.latest_points("gen_ai.client.operation.duration")
        if attrs.get("otel_llm.model_group") == "gpt-flaky"
    ]
    assert sum(failures) == 2


def _flaky_failures(receiver: OtlpReceiver) -> int:
    """Failed gpt-flaky attempts in the duration histogram so far (the receiver serves every test)."""
    return sum(
        p.count
        for attrs, p, _ in receiver.latest_points("gen_ai.client.operation.duration")
        if attrs.get("otel_llm.model_group") == "gpt-flaky" and attrs.get("error.type")
    )


def test_streamed_fallback_keeps_failed_attempts(proxy: ProxyProcess, receiver: OtlpReceiver) -> None:
    """The streamed twin of the fallback test: attempts that fail as their stream starts (HTTP 500)
    are spans and failure duration points too, not lost to a stream end that never comes."""
    before = _flaky_failures(receiver)
    trace_id = "5" * 32
    headers = {"traceparent": f"00-{trace_id}-{'4' * 16}-01"}
    response = proxy.chat(BETA, model="gpt-flaky", headers=headers, stream=True)
    assert response.status_code == 200, response.text
    assert "data: [DONE]" in response.text
    spans = _trace(receiver, trace_id, 3)
    (server,) = [s for s in spans if s["kind"] == SERVER]
    attempts = [s for s in spans if s["kind"] == CLIENT and s["scope"] == "otel_llm"]
    assert {s["parent_span_id"] for s in attempts} == {server["span_id"]}
    errors = sorted((s["attributes"]["otel_llm.model_group"], s["attributes"].get("error.type", "")) for s in attempts)
    assert errors == [("gpt-backup", ""), ("gpt-flaky", "InternalServerError"), ("gpt-flaky", "InternalServerError")]
    assert server["attributes"]["otel_llm.router.attempts"] == 3
    receiver.wait_for(lambda: _flaky_failures(receiver) >= before + 2, message="failure duration points")
    assert _flaky_failures(receiver) == before + 2


def test_anthropic_messages_route(proxy: ProxyProcess, receiver: OtlpReceiver) -> None:
    """/v1/messages (Anthropic's format, what Claude Code sends through the proxy): a chat attempt
    under the request's SERVER span, with the provider's tokens, LiteLLM's cost and the key's attribution."""
    body = {"model": "claude-main", "max_tokens": 50, "messages": [{"role": "user", "content": "bonjour"}]}
    response, server, attempt = _served(proxy, receiver, "/v1/messages", ALPHA, body, "6" * 32)
    usage = response.json()["usage"]
    assert attempt["name"] == "chat claude-haiku-4-5-20251001"
    attrs = attempt["attributes"]
    assert attrs["gen_ai.operation.name"] == "chat" and attrs["gen_ai.provider.name"] == "anthropic"
    # Anthropic's input_tokens leaves out cache reads; the GenAI conventions count them in.
    assert attrs["gen_ai.usage.input_tokens"] == usage["input_tokens"] + usage["cache_read_input_tokens"]
    assert attrs["gen_ai.usage.output_tokens"] == usage["output_tokens"] == 5
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 3
    assert attrs["otel_llm.usage.cost"] > 0
    assert attrs["otel_llm.key.alias"] == "agent-alpha" and attrs["otel_llm.model_group"] == "claude-main"
    assert "error.type" not in attrs
    # The Router request is folded into the SERVER span, as for chat.
    assert server["attributes"]["otel_llm.router.attempts"] == 1
    assert server["attributes"]["otel_llm.model_group"] == "claude-main"


def test_anthropic_messages_failure(proxy: ProxyProcess, receiver: OtlpReceiver) -> None:
    """/v1/messages to an overloaded provider (529): each attempt (the first try and the Router's
    retry) is a failed span with error.type, counted in the duration histogram with error.type."""
    trace_id = "5d" * 16
    response = httpx.post(
        f"{proxy.url}/v1/messages",
        headers={"Authorization": f"Bearer {ALPHA}", "traceparent": f"00-{trace_id}-{'7' * 16}-01"},
        json={"model": "claude-down", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    assert response.status_code >= 500, response.text
    spans = _trace(receiver, trace_id, 2)
    (server,) = [s for s in spans if s["kind"] == SERVER]
    attempts = [s for s in spans if s["kind"] == CLIENT and s["scope"] == "otel_llm"]
    assert len(attempts) == 2 and all(a["parent_span_id"] == server["span_id"] for a in attempts)
    error_types = {a["attributes"]["error.type"] for a in attempts}
    assert len(error_types) == 1 and all(a["status"] == 2 for a in attempts)  # STATUS_CODE_ERROR
    assert server["attributes"]["otel_llm.router.attempts"] == 2
    assert server["attributes"]["otel_llm.router.retries"] == 1
    failures = receiver.wait_for(
        lambda: [
            p.count
            for a, p, _ in receiver.latest_points("gen_ai.client.operation.duration")
            if a.get("otel_llm.model_group") == "claude-down" and a.get("error.type") in error_types
        ],
        message="failed attempts in the duration histogram",
    )
    assert sum(failures) == 2


def test_anthropic_messages_stream(proxy: ProxyProcess, receiver: OtlpReceiver) -> None:
    """/v1/messages streamed (how Claude Code calls it): the attempt has the stream's tokens from
    Anthropic's message_start and message_delta events and its time to the first chunk, not the last."""

    def streamed(trace_id: str) -> list[str]:
        headers = {"Authorization": f"Bearer {ALPHA}", "traceparent": f"00-{trace_id}-{'b' * 16}-01"}
        return stream_messages(proxy.url, headers, "claude-main")

    # A first stream warms the proxy's lazy imports: on a cold path, events pile up meanwhile and the
    # first chunk already holds most of the stream.
    streamed("9" * 32)
    trace_id = "a" * 32
    events = streamed(trace_id)
    assert events[0] == "message_start" and events[-1] == "message_stop"
    spans = _trace(receiver, trace_id, 1)
    (server,) = [s for s in spans if s["kind"] == SERVER]
    (attempt,) = [s for s in spans if s["kind"] == CLIENT and s["scope"] == "otel_llm"]
    assert attempt["parent_span_id"] == server["span_id"]
    attrs = attempt["attributes"]
    assert attrs["gen_ai.request.stream"] is True and attrs["gen_ai.provider.name"] == "anthropic"
    assert attrs["gen_ai.usage.input_tokens"] == 1 + 3 and attrs["gen_ai.usage.output_tokens"] == 5
    assert 0 < attrs["gen_ai.response.time_to_first_chunk"] < (attempt["end"] - attempt["start"]) / 1e9 - 0.3
    assert attrs["otel_llm.usage.cost"] > 0 and attrs["otel_llm.key.alias"] == "agent-alpha"
    assert server["attributes"]["otel_llm.router.attempts"] == 1


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_pass_through(proxy: ProxyProcess, receiver: OtlpReceiver, stream: bool) -> None:
    """/anthropic/v1/messages (the pass-through route, no Router): a chat span, not LiteLLM's
    "pass_through_endpoint", under the SERVER span, with tokens, cost and the key's attribution."""
    body = {
        "model": "claude-haiku-4-5-20251001",
        "max_tokens": 50,
        "stream": stream,
        "messages": [{"role": "user", "content": "hi"}],
    }
    _, _, attempt = _served(proxy, receiver, "/anthropic/v1/messages", BETA, body, ("c" if stream else "d") * 32)
    assert attempt["name"] == "chat claude-haiku-4-5-20251001"
    attrs = attempt["attributes"]
    assert attrs["gen_ai.operation.name"] == "chat" and attrs["gen_ai.provider.name"] == "anthropic"
    assert attrs["otel_llm.litellm.call_type"] == "pass_through_endpoint"
    if stream and _litellm_version() < (1, 108):
        # LiteLLM 1.102 reports a streamed pass-through without its usage: said, not guessed.
        assert attrs["otel_llm.usage.source"] == "missing"
    else:
        assert attrs["gen_ai.usage.input_tokens"] == 1 + 3 and attrs["gen_ai.usage.output_tokens"] == 5
        assert attrs["otel_llm.usage.cost"] > 0
    assert attrs["otel_llm.key.alias"] == "agent-beta" and "enduser.id" not in attrs
    assert attrs.get("gen_ai.request.stream", False) is stream


@pytest.mark.parametrize(
    ("route", "body", "operation"),
    [
        ("/v1/embeddings", {"input": ["three words here"]}, "embeddings"),
        ("/v1/completions", {"prompt": "three words here", "max_tokens": 7}, "text_completion"),
    ],
)
def test_other_openai_routes(
    proxy: ProxyProcess, receiver: OtlpReceiver, route: str, body: dict[str, object], operation: str
) -> None:
    """/v1/embeddings and /v1/completions: an attempt of the right operation under the SERVER span,
    which carries the Router's counts."""
    trace_id = ("f1" if operation == "embeddings" else "f2") * 16
    _, server, attempt = _served(proxy, receiver, route, ALPHA, {"model": "gpt-main", **body}, trace_id)
    attrs = attempt["attributes"]
    assert attrs["gen_ai.operation.name"] == operation and attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.usage.input_tokens"] == 3
    assert attrs["otel_llm.key.alias"] == "agent-alpha" and attrs["otel_llm.model_group"] == "gpt-main"
    assert server["attributes"]["otel_llm.router.attempts"] == 1


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_pass_through_failure(proxy: ProxyProcess, receiver: OtlpReceiver, stream: bool) -> None:
    """A provider error on the pass-through route (Anthropic overloaded, 529), which LiteLLM reports
    only to the proxy's failure hook: a failed chat attempt under the SERVER span, with the error
    type the unified routes give it, its provider (from the route) and key, in the duration histogram."""
    trace_id = ("e1" if stream else "e2") * 16
    body = {
        "model": OVERLOADED_MODEL,
        "max_tokens": 50,
        "stream": stream,
        "messages": [{"role": "user", "content": "hi"}],
    }
    _, _, attempt = _served(proxy, receiver, "/anthropic/v1/messages", BETA, body, trace_id, status=529)
    assert attempt["name"] == f"chat {OVERLOADED_MODEL}" and attempt["status"] == 2  # STATUS_CODE_ERROR
    attrs = attempt["attributes"]
    assert attrs["error.type"] == "InternalServerError" and attrs["gen_ai.provider.name"] == "anthropic"
    assert attrs["otel_llm.litellm.call_type"] == "pass_through_endpoint"
    assert attrs["otel_llm.key.alias"] == "agent-beta"
    assert attempt["end"] > attempt["start"]
    receiver.wait_for(
        lambda: [
            p.count
            for a, p, _ in receiver.latest_points("gen_ai.client.operation.duration")
            if a.get("gen_ai.request.model") == OVERLOADED_MODEL and a.get("error.type") == "InternalServerError"
        ],
        message="the failed pass-through call in the duration histogram",
    )


def _litellm_version() -> tuple[int, ...]:
    return tuple(int(part) for part in importlib.metadata.version("litellm").split(".")[:2])


def test_responses_route(proxy: ProxyProcess, receiver: OtlpReceiver) -> None:
    """/v1/responses (OpenAI's Responses API): a chat attempt under the SERVER span, which carries
    the Router's counts (LiteLLM before 1.110 sets the Router's responses endpoints per instance)."""
    body = {"model": "gpt-main", "input": "three words here"}
    _, server, attempt = _served(proxy, receiver, "/v1/responses", BETA, body, "8" * 32)
    attrs = attempt["attributes"]
    assert attrs["gen_ai.operation.name"] == "chat" and attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.usage.input_tokens"] == 3 and attrs["gen_ai.usage.output_tokens"] == 5
    assert attrs["otel_llm.key.alias"] == "agent-beta" and attrs["otel_llm.model_group"] == "gpt-main"
    assert server["attributes"]["otel_llm.router.attempts"] == 1
    assert server["attributes"]["otel_llm.router.final_model_group"] == "gpt-main"


def test_refused_requests_are_counted_not_traced(proxy: ProxyProcess, receiver: OtlpReceiver) -> None:
    """Requests the proxy refuses before any provider call (an unknown key, an unknown model) get no
    attempt span and no GenAI operation point (no LLM call took place): they are counted in
    otel_llm.proxy.refusals, attributed to the key only when the key was verified."""
    chat = {"model": "gpt-main", "messages": [{"role": "user", "content": "hello"}]}
    _, _, attempt = _served(proxy, receiver, "/v1/chat/completions", ALPHA, chat, "3c" * 16)
    alpha_hash = attempt["attributes"]["otel_llm.key.hash"]
    traces = {"401": "1a" * 16, "400": "2b" * 16}
    assert proxy.chat("sk-not-a-key", headers={"traceparent": f"00-{traces['401']}-{'4' * 16}-01"}).status_code == 401
    refused = proxy.chat(ALPHA, model="no-such-model", headers={"traceparent": f"00-{traces['400']}-{'5' * 16}-01"})
    assert refused.status_code == 400

    def refusals() -> dict[tuple[object, ...], int] | None:
        points = {
            (
                a["error.type"],
                a["http.response.status_code"],
                a.get("otel_llm.key.alias"),
                a.get("otel_llm.key.hash"),
            ): p.as_int
            for a, p, _ in receiver.latest_points("otel_llm.proxy.refusals")
        }
        return points if len(points) >= 2 else None

    counted = receiver.wait_for(refusals, message="both refusals counted")
    assert counted == {
        ("HTTPException", 401, None, None): 1,  # an unverified key is nobody's
        ("ProxyModelNotFoundError", 400, "agent-alpha", alpha_hash): 1,
    }
    for trace_id in traces.values():
        spans = receiver.wait_for(
            lambda trace_id=trace_id: [s for s in receiver.spans() if s["trace_id"] == trace_id] or None,
            message="the refused request's SERVER span",
        )
        assert [s["kind"] for s in spans] == [SERVER]
    operations = receiver.latest_points("gen_ai.client.operation.duration")
    assert not [a for a, _, _ in operations if a.get("error.type") in ("HTTPException", "ProxyModelNotFoundError")]


def test_headroom_gauges(proxy: ProxyProcess, receiver: OtlpReceiver) -> None:
    """Budget and rate-limit gauges equal what the auth hook issued and the provider's headers."""
    response = proxy.chat(ALPHA)
    assert response.status_code == 200

    def gauge(name: str, **match: str) -> float | None:
        values = [
            p.as_double
            for attrs, p, _ in receiver.latest_points(name)
            if all(attrs.get(k) == v for k, v in match.items())
        ]
        return values[-1] if values else None

    receiver.wait_for(lambda: gauge("otel_llm.key.budget.utilization", **{"otel_llm.key.alias": "agent-alpha"}))
    alpha = {"otel_llm.key.alias": "agent-alpha"}
    assert gauge("otel_llm.key.spend", **alpha) == KEYS[ALPHA]["spend"]
    assert gauge("otel_llm.key.max_budget", **alpha) == KEYS[ALPHA]["max_budget"]
    assert gauge("otel_llm.key.budget.utilization", **alpha) == pytest.approx(8.5 / 10)
    assert gauge("otel_llm.key.rpm.limit", **alpha) == KEYS[ALPHA]["rpm_limit"]
    assert gauge("otel_llm.key.tpm.limit", **alpha) == KEYS[ALPHA]["tpm_limit"]
    rpm_used = 1 - int(response.headers["x-ratelimit-api_key-remaining-requests"]) / KEYS[ALPHA]["rpm_limit"]
    receiver.wait_for(lambda: gauge("otel_llm.key.rpm.utilization", **alpha) == pytest.approx(rpm_used))
    team_a = {"otel_llm.team.id": "team-a"}
    assert gauge("otel_llm.team.budget.utilization", **team_a) == pytest.approx(20 / 50)
    # The team's own limits (all its keys together), from LiteLLM's x-ratelimit-team-* headers.
    assert gauge("otel_llm.team.rpm.limit", **team_a) == KEYS[ALPHA]["team_rpm_limit"]
    assert gauge("otel_llm.team.tpm.limit", **team_a) == KEYS[ALPHA]["team_tpm_limit"]
    team_rpm_used = 1 - int(response.headers["x-ratelimit-team-remaining-requests"]) / KEYS[ALPHA]["team_rpm_limit"]
    receiver.wait_for(lambda: gauge("otel_llm.team.rpm.utilization", **team_a) == pytest.approx(team_rpm_used))
    assert 0 < team_rpm_used < 1 and gauge("otel_llm.team.tpm.utilization", **team_a) is not None
    assert gauge("otel_llm.provider.ratelimit.remaining_requests", **{"otel_llm.model_group": "gpt-main"}) == 4999
    assert gauge("otel_llm.provider.ratelimit.remaining_tokens", **{"otel_llm.model_group": "gpt-main"}) == 159000
    for name in ("otel_llm.key.spend", "otel_llm.key.budget.utilization", "otel_llm.team.spend"):
        for attrs, point, _ in receiver.latest_points(name):
            assert point.as_double == point.as_double and abs(point.as_double) != float("inf")
            assert "None" not in attrs.values()


def test_no_secret_in_any_exported_byte(proxy: ProxyProcess, receiver: OtlpReceiver) -> None:
    """No virtual key, LiteLLM key hash, master key, provider key or Authorization header is exported."""
    prompt = "the secret prompt about purple elephants"
    assert proxy.chat(BETA, text=prompt).status_code == 200
    assert proxy.chat(ALPHA, text=prompt).status_code == 200
    receiver.wait_for(lambda: sum(1 for s in receiver.spans() if s["kind"] == SERVER) >= 2)
    exported = b"".join(receiver.raw)
    forbidden = [MASTER_KEY, PROVIDER_KEY, *KEYS, *(unsalted_litellm_hash(k) for k in KEYS), prompt, "Bearer "]
    for secret in forbidden:
        assert secret.encode() not in exported, secret
    assert b"authorization" not in exported.lower()


def test_a_key_in_the_query_string_is_not_exported(proxy: ProxyProcess, receiver: OtlpReceiver) -> None:
    """A client sending its virtual key as ``?key=`` (google-genai style): FastAPI's SERVER span
    records the query, and otel-llm's span processor replaces the value before export."""
    trace_id = "5e" * 16
    query_key = "sk-vk-query-string-key-7a1b2c3d"
    _, server, _ = _served(
        proxy,
        receiver,
        f"/v1/chat/completions?key={query_key}&alt=sse",
        ALPHA,
        {"model": "gpt-main", "messages": [{"role": "user", "content": "hello query"}]},
        trace_id,
    )
    assert server["attributes"]["url.query"] == "key=[REDACTED]&alt=sse"
    assert query_key not in repr(server)


def test_client_disconnect_mid_stream_is_an_abandoned_attempt(proxy: ProxyProcess, receiver: OtlpReceiver) -> None:
    """A client that hangs up mid-stream: one attempt span, marked abandoned (status unset, no
    error.type), completed by LiteLLM's own ClientDisconnected report (the partial usage and cost it
    bills), one duration point and no failure in it (what LLMErrorRatioHigh reads), no second span.
    (The HTTP SERVER span is the HTTP instrumentation's: it records the client's broken connection.)"""
    trace_id = "5a1e" + "1" * 28
    body = {"model": "gpt-slow", "messages": [{"role": "user", "content": "take your time"}], "stream": True}
    headers = {"Authorization": f"Bearer {ALPHA}", "traceparent": f"00-{trace_id}-{'7' * 16}-01"}
    with httpx.stream("POST", f"{proxy.url}/v1/chat/completions", headers=headers, json=body, timeout=30) as response:
        assert response.status_code == 200
        next(response.iter_lines())  # the first chunk, then hang up
    _trace(receiver, trace_id, 1)
    # LiteLLM reports the disconnect on its logging queue after the stream is torn down: a request
    # made after it is reported after it, so once that one's telemetry is here, so is the report's.
    main_before = _duration_counts(receiver, "gpt-main")[1]
    body = {"model": "gpt-main", "messages": [{"role": "user", "content": "after the hang-up"}]}
    _served(proxy, receiver, "/v1/chat/completions", ALPHA, body, "5a1e" + "2" * 28)
    receiver.wait_for(lambda: _duration_counts(receiver, "gpt-main")[1] > main_before, message="the next call's point")
    spans = [s for s in receiver.spans() if s["trace_id"] == trace_id]
    (attempt,) = [s for s in spans if s["kind"] == CLIENT and s["scope"] == "otel_llm"]
    assert attempt["attributes"]["otel_llm.stream.abandoned"] is True
    assert "error.type" not in attempt["attributes"] and attempt["status"] == 0
    # LiteLLM bills what was streamed before the hang-up, in the report that completed the span.
    assert attempt["attributes"]["gen_ai.usage.output_tokens"] >= 1 and attempt["attributes"]["otel_llm.usage.cost"] > 0
    assert _duration_counts(receiver, "gpt-slow") == (0, 1)


def _duration_counts(receiver: OtlpReceiver, group: str) -> tuple[int, int]:
    """(failed, all) attempts of a model group in the duration histogram."""
    points = [
        (attributes, point)
        for attributes, point, _ in receiver.latest_points("gen_ai.client.operation.duration")
        if attributes.get("otel_llm.model_group") == group
    ]
    return sum(point.count for attributes, point in points if "error.type" in attributes), sum(
        point.count for _, point in points
    )
