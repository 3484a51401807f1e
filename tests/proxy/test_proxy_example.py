"""examples/proxy runs as documented: config.yaml (master-key auth, two providers, a fallback,
Claude Code's streamed /v1/messages) and the DB-less variant (config.no-db.yaml, keys from a file)."""

from __future__ import annotations

import importlib.util
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from pytest_httpserver import HTTPServer

from tests.fakes import FailingProvider, FakeAnthropic, FakeOpenAI
from tests.otlp_receiver import OtlpReceiver
from tests.proxy.harness import MASTER_KEY, ProxyProcess, stream_messages

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "proxy" / "config.yaml"


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    server.stop()


def test_example_proxy_config(tmp_path: Path, server: HTTPServer) -> None:
    """The example falls back from a failing OpenAI to Anthropic, and the trace shows it."""
    openai = FailingProvider(server, "/openai", 503)
    anthropic = FakeAnthropic(server)
    with OtlpReceiver() as receiver:
        proxy = ProxyProcess(
            tmp_path,
            [],
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                "OPENAI_API_KEY": "sk-openai-example",
                "OPENAI_API_BASE": openai.api_base,
                "ANTHROPIC_API_KEY": "sk-ant-example",
                "ANTHROPIC_API_BASE": anthropic.api_base,
            },
            config_file=EXAMPLE,
        ).start()
        try:
            trace_id = "7" * 32
            response = httpx.post(
                f"{proxy.url}/v1/chat/completions",
                headers={"Authorization": f"Bearer {MASTER_KEY}", "traceparent": f"00-{trace_id}-{'8' * 16}-01"},
                json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]},
                timeout=30,
            )
            assert response.status_code == 200, response.text
            assert response.headers["x-litellm-model-group"] == "claude-haiku"

            def attempts() -> list[dict[str, object]]:
                return [
                    s
                    for s in receiver.spans()
                    if s["trace_id"] == trace_id and s["scope"] == "otel_llm" and s["kind"] == 3
                ]

            receiver.wait_for(lambda: len(attempts()) >= 4, message="3 failed attempts and the fallback")
            providers = sorted(s["attributes"]["gen_ai.provider.name"] for s in attempts())
            assert providers == ["anthropic", "openai", "openai", "openai"]
            (served,) = [s for s in attempts() if s["attributes"]["gen_ai.provider.name"] == "anthropic"]
            assert [name for name, _ in served["events"]] == ["otel_llm.fallback"]
            assert served["attributes"]["gen_ai.usage.output_tokens"] == 5

            # Claude Code's way in (the README's step 5): Anthropic's headers, /v1/messages, streamed.
            claude_trace = "9" * 32
            anthropic_headers = {
                "x-api-key": MASTER_KEY,
                "anthropic-version": "2023-06-01",
                "traceparent": f"00-{claude_trace}-{'8' * 16}-01",
            }
            assert stream_messages(proxy.url, anthropic_headers, "claude-haiku")[-1] == "message_stop"
            (claude,) = receiver.wait_for(
                lambda: [
                    s
                    for s in receiver.spans()
                    if s["trace_id"] == claude_trace and s["scope"] == "otel_llm" and s["kind"] == 3
                ],
                message="Claude Code's streamed /v1/messages attempt",
            )
            assert claude["name"] == "chat claude-haiku-4-5-20251001"
            assert claude["attributes"]["gen_ai.request.stream"] is True
            assert claude["attributes"]["gen_ai.usage.output_tokens"] == 5
            assert claude["attributes"]["gen_ai.response.time_to_first_chunk"] > 0

            # Claude Code also counts tokens often: not an LLM call, so no attempt span.
            count_trace = "6" * 32
            counted = httpx.post(
                f"{proxy.url}/v1/messages/count_tokens",
                headers={"x-api-key": MASTER_KEY, "traceparent": f"00-{count_trace}-{'8' * 16}-01"},
                json={"model": "claude-haiku", "messages": [{"role": "user", "content": "count these four"}]},
                timeout=30,
            )
            # (LiteLLM 1.102 counts with its own tokenizer, later ones ask the provider: 3 here.)
            assert counted.status_code == 200 and counted.json()["input_tokens"] > 0
            spans = receiver.wait_for(
                lambda: [s for s in receiver.spans() if s["trace_id"] == count_trace] or None,
                message="the count_tokens request's server span",
            )
            assert [s["kind"] for s in spans] == [2]  # SERVER only
        finally:
            proxy.stop()
        assert "otel-llm: internal error" not in proxy.log()


def test_example_without_a_database(tmp_path: Path, server: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The DB-less variant as its README runs it: keys.yaml made from keys.example.yaml with a key of
    our own; calls with it carry its alias, team and budget; an unknown key is refused; a keys file
    still holding the example's placeholder stops the proxy with the fix named."""
    openai = FakeOpenAI(server)
    key = "sk-" + secrets.token_urlsafe(24)
    keys = yaml.safe_load((EXAMPLE.parent / "keys.example.yaml").read_text())
    placeholder = tmp_path / "placeholder.yaml"
    placeholder.write_text(yaml.safe_dump(keys))
    keys["keys"][0]["key"] = key
    keys["keys"][1]["key"] = "sk-" + secrets.token_urlsafe(24)
    keys_file = tmp_path / "keys.yaml"
    keys_file.write_text(yaml.safe_dump(keys))
    with OtlpReceiver() as receiver:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OPENAI_API_KEY": "sk-openai-example",
            "OPENAI_API_BASE": openai.api_base,
            "ANTHROPIC_API_KEY": "sk-ant-example",
            "ANTHROPIC_API_BASE": openai.api_base,
            "PYTHONPATH": str(EXAMPLE.parent),
            "OTEL_LLM_EXAMPLE_KEYS": str(keys_file),
        }
        proxy = ProxyProcess(tmp_path / "proxy", [], env, config_file=EXAMPLE.parent / "config.no-db.yaml").start()
        try:
            chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}
            url = f"{proxy.url}/v1/chat/completions"
            response = httpx.post(url, headers={"Authorization": f"Bearer {key}"}, json=chat, timeout=30)
            assert response.status_code == 200, response.text
            unknown = httpx.post(url, headers={"Authorization": "Bearer sk-nobody-0000"}, json=chat, timeout=30)
            assert unknown.status_code == 401
            (attempt, *_) = receiver.wait_for(
                lambda: [s for s in receiver.spans() if s["scope"] == "otel_llm" and s["kind"] == 3],
                message="the attempt span of the key's call",
            )
            assert attempt["attributes"]["otel_llm.key.alias"] == "agent-alpha"
            assert attempt["attributes"]["otel_llm.team.alias"] == "Team A"
            assert key not in json.dumps(receiver.spans())

            def utilization() -> list[float]:
                points = receiver.latest_points("otel_llm.key.budget.utilization")
                return [p.as_double for attrs, p, _ in points if attrs.get("otel_llm.key.alias") == "agent-alpha"]

            assert receiver.wait_for(utilization, message="the key's budget gauge") == [pytest.approx(8.5 / 10)]
        finally:
            proxy.stop()
        assert "otel-llm: internal error" not in proxy.log()
    # The keys module as the proxy imports it: a file still holding the example's placeholder, or no
    # file at all, stops it with the fix named.
    monkeypatch.setenv("OTEL_LLM_EXAMPLE_KEYS", str(keys_file))
    spec = importlib.util.spec_from_file_location("example_proxy_keys", EXAMPLE.parent / "keys.py")
    assert spec and spec.loader
    example_keys = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example_keys)
    assert set(example_keys.KEYS) == {k["key"] for k in keys["keys"]}
    with pytest.raises(RuntimeError, match="set `key` to a secret of your own starting with sk-"):
        example_keys.load_keys(placeholder)
    with pytest.raises(RuntimeError, match=r"cp examples/proxy/keys\.example\.yaml"):
        example_keys.load_keys(tmp_path / "missing.yaml")
