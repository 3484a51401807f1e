"""Credentials in API base URLs and error messages never reach telemetry."""

from __future__ import annotations

import litellm
import pytest
from pytest_httpserver import HTTPServer

from otel_llm._redact import safe_url, scrub, server_of
from tests.conftest import Signals
from tests.fakes import FakeOpenAI
from tests.secrets import QUERY_KEY, URL_PASSWORD


def test_user_password_in_api_base(capture_mode: str, signals: Signals, httpserver: HTTPServer) -> None:
    """An api_base with user:password@ exports only server.address and server.port."""
    fake = FakeOpenAI(httpserver, "/creds/v1")
    host, port = httpserver.host, httpserver.port
    api_base = f"http://svc-user:{URL_PASSWORD}@{host}:{port}/creds/v1"
    litellm.completion(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], api_base=api_base, api_key="sk-x"
    )
    assert fake.served.requests == 1
    (span,) = signals.wait_spans(1)
    assert span.attributes["server.address"] == host and span.attributes["server.port"] == port
    assert URL_PASSWORD not in span.to_json() and "svc-user" not in span.to_json()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"https://u:{URL_PASSWORD}@api.example.com/v1", "https://api.example.com/v1"),
        (
            f"https://generativelanguage.googleapis.com/v1beta/models?key={QUERY_KEY}",
            "https://generativelanguage.googleapis.com/v1beta/models",
        ),
        (f"http://10.0.0.1:8080/openai?api-key={QUERY_KEY}&x=1", "http://10.0.0.1:8080/openai"),
    ],
)
def test_url_redaction(url: str, expected: str) -> None:
    """safe_url drops credentials and the whole query; server_of keeps host and port only."""
    assert safe_url(url) == expected
    host, _ = server_of(url, 512)
    assert host is not None and URL_PASSWORD not in host and QUERY_KEY not in host
    assert QUERY_KEY not in scrub(url) and URL_PASSWORD not in scrub(url)
