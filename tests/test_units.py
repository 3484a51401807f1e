"""Small units: configuration, redaction, the cardinality cap, the live-call registry."""

from __future__ import annotations

import gc
import logging
import uuid

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

from otel_llm import _errors
from otel_llm._capture.patches import _new_call_id
from otel_llm._capture.router import ServerSpanClaims
from otel_llm._config import Config, resolve
from otel_llm._emit.cardinality import CardinalityLimiter
from otel_llm._redact import safe_url, scrub, server_of


@pytest.mark.parametrize(
    ("env", "field", "expected", "message"),
    [
        ({"OTEL_LLM_ATTRIBUTE_MAX_LENGTH": "-3"}, "attribute_max_length", 512, "OTEL_LLM_ATTRIBUTE_MAX_LENGTH"),
        ({"OTEL_LLM_CALLBACK_TIMEOUT": "soon"}, "callback_timeout_s", 60.0, "OTEL_LLM_CALLBACK_TIMEOUT"),
        ({"OTEL_LLM_CALLBACK_TIMEOUT": "nan"}, "callback_timeout_s", 60.0, "number of seconds"),
        ({"OTEL_LLM_RAISE_INTERNAL_ERRORS": "maybe"}, "raise_internal_errors", False, "true or false"),
        (
            {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "ALL"},
            "content_mode",
            resolve({}).content_mode,
            "SPAN_ONLY",
        ),
    ],
)
def test_bad_setting_names_itself_and_falls_back(
    env: dict[str, str], field: str, expected: object, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A wrong value logs one warning naming the setting and the fix, and the default is used."""
    with caplog.at_level(logging.WARNING, logger="otel_llm"):
        config = resolve(env)
    assert getattr(config, field) == expected
    (record,) = caplog.records
    assert message in record.getMessage()
    assert next(iter(env)) in record.getMessage()


def test_unknown_prefixed_setting_is_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    """A misspelt OTEL_LLM_ variable is reported once, by name."""
    with caplog.at_level(logging.WARNING, logger="otel_llm"):
        resolve({"OTEL_LLM_CALLBAK_TIMEOUT": "5"})
        resolve({"OTEL_LLM_CALLBAK_TIMEOUT": "5"})
    assert [r.getMessage() for r in caplog.records if "OTEL_LLM_CALLBAK_TIMEOUT" in r.getMessage()] == [
        "otel-llm: unknown setting OTEL_LLM_CALLBAK_TIMEOUT is ignored: did you mean OTEL_LLM_CALLBACK_TIMEOUT? "
        "Rename it, or unset OTEL_LLM_CALLBAK_TIMEOUT."
    ]


def test_arguments_override_environment() -> None:
    """Constructor arguments win over the environment."""
    config = resolve({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY"}, content_mode="EVENT_ONLY")
    assert config.content_mode.value == "EVENT_ONLY"
    assert isinstance(resolve({}), Config)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Incorrect API key provided: sk-proj-abcdef123456", "sk-proj-abcdef123456"),
        ("header Authorization: Bearer eyJhbGciOi.abc.def", "eyJhbGciOi.abc.def"),
        ("x-api-key: anthropic-secret-value", "anthropic-secret-value"),
        ("GET https://host/v1?key=AIzaSyA1234567890abcdefghij&alt=json", "AIzaSyA1234567890abcdefghij"),
        ("connect to https://admin:hunter2@db.example.com/x", "hunter2"),
        ("Incorrect API key provided: xai-AbCdEf0123456789AbCdEf", "xai-AbCdEf0123456789AbCdEf"),
        ("invalid key gsk_0123456789abcdefABCDEF", "gsk_0123456789abcdefABCDEF"),
        ("token hf_0123456789abcdefABCDEFghij rejected", "hf_0123456789abcdefABCDEFghij"),
        ("Access denied due to invalid subscription key 3f9a1c2b4d6e8f0a1b3c5d7e9f1a2b3c", "3f9a1c2b4d6e8f0a1b3c5d7e"),
        ("Authorization: Token tok9f8e7d6c5b4a3210fedcba", "tok9f8e7d6c5b4a3210fedcba"),
        ("Authorization: Bearer: sk_live_xyz0123456789", "sk_live_xyz0123456789"),
        ("SignatureDoesNotMatch aws_secret_access_key=wJalrXUtnFEMI/K7MDENG", "wJalrXUtnFEMI/K7MDENG"),
        ("invalid_client: client_secret=cs-9a8b7c6d5e4f3a2b1c0d", "cs-9a8b7c6d5e4f3a2b1c0d"),
        ('password: "correct horse battery staple"', "horse battery"),
        ('body {\\"api_key\\": \\"quoted-secret-value-42\\"}', "quoted-secret-value-42"),
        ("Cookie: session=abcdef0123456789; other=1", "abcdef0123456789"),
        ("GET https://tokenonly-user-secret@host.example/x", "tokenonly-user-secret"),
        ('{"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADAN\\n-----END PRIVATE KEY-----"}', "MIIEvQIBADAN"),
        ("api_key='sk-ant-api03-zzzzzzzz'", "sk-ant-api03-zzzzzzzz"),
    ],
)
def test_scrub_removes_credentials(text: str, secret: str) -> None:
    """Credentials echoed in error messages are replaced, the rest of the message kept."""
    cleaned = scrub(text)
    assert secret not in cleaned
    assert "[REDACTED]" in cleaned


def test_urls() -> None:
    """API bases give host and port only; safe_url drops credentials and query strings."""
    assert server_of("https://user:pw@api.example.com/v1?key=x", 512) == ("api.example.com", 443)
    assert server_of("http://127.0.0.1:4000", 512) == ("127.0.0.1", 4000)
    assert server_of("api.openai.com", 512) == ("api.openai.com", 443)
    assert server_of("", 512) == (None, None)
    assert server_of(None, 512) == (None, None)
    assert server_of("http://[::1", 512) == (None, None)
    # A lone surrogate (hypothesis found it: api_base "\ud800") is replaced, never exported as is.
    assert server_of("\ud800", 512) == ("?", 443)
    assert server_of("http://b\u00fccher.example:81", 512) == ("b\u00fccher.example", 81)
    # A host longer than any string attribute may be (hypothesis found api_base "0" * 100,000) is cut to it.
    assert server_of("0" * 100_000, 512) == ("0" * 512, 443)
    assert server_of("https://" + "a" * 600 + ":8443/v1", 100) == ("a" * 100, 8443)
    assert safe_url("https://user:pw@api.example.com:8443/v1/chat?key=secret") == "https://api.example.com:8443/v1/chat"


def test_cardinality_cap(caplog: pytest.LogCaptureFixture) -> None:
    """Past the cap, new values become _OTHER (each counted, by metric and attribute), known values keep
    working, and one warning is logged."""
    overflow: list[tuple[str, str]] = []
    limiter = CardinalityLimiter(3, 3600.0, lambda metric, attribute: overflow.append((metric, attribute)))
    with caplog.at_level(logging.WARNING, logger="otel_llm"):
        values = [limiter.limit({"model": f"m{i}", "op": "chat"}, "some.metric")["model"] for i in range(10)]
    assert values == ["m0", "m1", "m2"] + ["_OTHER"] * 7
    assert overflow == [("some.metric", "model")] * 7
    assert limiter.limit({"model": "m1"})["model"] == "m1"
    assert len([r for r in caplog.records if "has 3 distinct values" in r.getMessage()]) == 1


def test_cardinality_cap_forgets_idle_values() -> None:
    """A value not seen for the idle timeout frees its slot: a new key gets its own series instead of
    _OTHER, while values in use keep theirs."""
    now = [0.0]
    limiter = CardinalityLimiter(2, 600.0, mono=lambda: now[0])
    assert [limiter.limit({"key": k})["key"] for k in ("old", "busy", "new")] == ["old", "busy", "_OTHER"]
    for _ in range(3):
        now[0] += 300
        assert limiter.limit({"key": "busy"})["key"] == "busy"
    # "old" was last seen 900 s ago, "busy" just now: "new" takes old's slot, a third still waits.
    assert limiter.limit({"key": "new"})["key"] == "new"
    assert limiter.limit({"key": "third"})["key"] == "_OTHER"
    assert limiter.limit({"key": "busy"})["key"] == "busy"
    assert limiter.admitted("key") == 2


def test_server_span_claims_are_once_per_span_and_bounded_by_live_spans() -> None:
    """A SERVER span takes one folded Router request; the claims forget spans that are gone."""
    tracer = TracerProvider().get_tracer("test")
    claims = ServerSpanClaims()
    with tracer.start_as_current_span("internal"):
        assert claims.claim_current() is None  # not a SERVER span
    for _ in range(100):
        with tracer.start_as_current_span("POST /", kind=SpanKind.SERVER) as span:
            assert claims.claim_current() is span
            assert claims.claim_current() is None  # claimed once
        assert span is not None
    assert claims.claim_current() is None  # no current span
    del span
    gc.collect()
    assert len(claims._claimed) == 0  # the bound is the point of the test
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_key_hash_salt_comes_from_the_running_proxys_master_key(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A master key written in config.yaml (no LITELLM_MASTER_KEY in the environment) salts the hashes
    exactly as the same key in the environment would: every worker agrees. Neither: random, with a warning."""
    import sys
    import types

    from otel_llm._capture import attribution

    monkeypatch.delenv("OTEL_LLM_KEY_HASH_SALT", raising=False)
    monkeypatch.setenv("LITELLM_MASTER_KEY", "sk-config-master")
    attribution.reset_salt()
    from_env = attribution.salted_key_hash("virtual-key")
    monkeypatch.delenv("LITELLM_MASTER_KEY")
    monkeypatch.setitem(sys.modules, "litellm.proxy.proxy_server", types.SimpleNamespace(master_key="sk-config-master"))
    try:
        attribution.reset_salt()
        with caplog.at_level(logging.WARNING, logger="otel_llm"):
            assert attribution.salted_key_hash("virtual-key") == from_env
        assert "random per-process salt" not in caplog.text
        monkeypatch.setitem(sys.modules, "litellm.proxy.proxy_server", types.SimpleNamespace(master_key=None))
        attribution.reset_salt()
        with caplog.at_level(logging.WARNING, logger="otel_llm"):
            assert attribution.salted_key_hash("virtual-key") != from_env
        assert "random per-process salt" in caplog.text
    finally:
        attribution.reset_salt()


def test_headroom_gauges_age_out_budgets_after_the_ttl_and_windowed_values_after_a_minute() -> None:
    """A key's budget stays reported for OTEL_LLM_HEADROOM_TTL after its last call; its rpm use and
    spend velocity (one-minute windows) stop after a minute: an idle key is not still at 90%."""
    from otel_llm._emit import headroom
    from otel_llm._emit.store import MetricStore

    now = [1000.0]
    store = headroom.HeadroomEmitter(MetricStore(3600.0, 100, 300.0, mono=lambda: now[0]), ttl_s=300.0)
    key = {"otel_llm.key.alias": "agent-alpha"}
    store.set_many(
        key,
        (
            ("otel_llm.key.budget.utilization", 0.5),
            ("otel_llm.key.rpm.utilization", 0.9),
            ("otel_llm.key.spend_velocity", 0.2),
        ),
    )
    assert {"otel_llm.key.rpm.utilization", "otel_llm.key.spend_velocity"} <= headroom.WINDOWED
    now[0] += 59
    assert store.fresh("otel_llm.key.rpm.utilization") == [(key, 0.9)]
    now[0] += 2
    assert store.fresh("otel_llm.key.rpm.utilization") == []
    assert store.fresh("otel_llm.key.spend_velocity") == []
    assert store.fresh("otel_llm.key.budget.utilization") == [(key, 0.5)]
    now[0] += 240
    assert store.fresh("otel_llm.key.budget.utilization") == []
    short = headroom.HeadroomEmitter(MetricStore(3600.0, 100, 10.0, mono=lambda: now[0]), ttl_s=10.0)
    short.set_many(key, (("otel_llm.key.rpm.utilization", 0.9),))
    now[0] += 11
    assert short.fresh("otel_llm.key.rpm.utilization") == []


def test_scrub_removes_known_secret_values_and_spares_token_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The call's own key goes whatever its shape; an environment key too; max_tokens stays readable."""
    from otel_llm._redact import known_secrets

    monkeypatch.setenv("ACME_LLM_API_KEY", "acme-env-secret-value")
    secrets = known_secrets({"api_key": "no-shape-at-all-1"}, {"litellm_params": "x"}, None)
    assert "no-shape-at-all-1" in secrets and "acme-env-secret-value" in secrets
    text = "bad key no-shape-at-all-1 (env acme-env-secret-value); max_tokens=4096 too large"
    assert scrub(text, secrets) == "bad key [REDACTED] (env [REDACTED]); max_tokens=4096 too large"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("key=sk-vk-beta-9c1e&alt=sse", "key=[REDACTED]&alt=sse"),
        ("http://u:p@host/v1/models?key=Q123&x=1", "http://[REDACTED]@host/v1/models?key=[REDACTED]&x=1"),
        ("/v1/chat/completions?api_key=abc&model=m", "/v1/chat/completions?api_key=[REDACTED]&model=m"),
        (
            "https://s3/o?X-Amz-Signature=abc&response-content-type=x",
            "https://s3/o?X-Amz-Signature=[REDACTED]&response-content-type=x",
        ),
        ("a=1&max_tokens=5", "a=1&max_tokens=5"),
    ],
)
def test_url_attributes_lose_credentials_as_spans_start(value: str, expected: str) -> None:
    """The proxy's span processor rewrites url.query / url.full / http.url before any exporter sees them."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from otel_llm._export.url_redaction import UrlRedactingSpanProcessor

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(UrlRedactingSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider.get_tracer("t").start_span("GET", attributes={"url.query": value, "http.url": value}).end()
    (span,) = exporter.get_finished_spans()
    assert span.attributes["url.query"] == expected and span.attributes["http.url"] == expected


def test_call_ids_are_version_4_uuids_formatted_as_the_uuid_module_does() -> None:
    """otel-llm's call ids (made without a system call) read back as random version-4 UUIDs."""
    ids = [_new_call_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for value in ids:
        parsed = uuid.UUID(value)
        assert str(parsed) == value
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


@pytest.mark.parametrize("strict", [False, True])
def test_the_boundary_stops_telemetry_errors_and_nothing_else(strict: bool) -> None:
    """``_errors.boundary``: an Exception is counted and goes no further (re-raised in strict mode
    unless ``reraise=False``; ``quiet`` says nothing); a BaseException (KeyboardInterrupt) passes."""
    was = _errors._strict
    _errors.set_strict(strict)
    try:
        before = _errors.internal_error_count("test.boundary")
        reached = []
        if strict:
            with pytest.raises(ValueError, match="one"), _errors.boundary("test.boundary"):
                raise ValueError("one")
        else:
            with _errors.boundary("test.boundary"):
                raise ValueError("one")
            reached.append("after")
        with _errors.boundary("test.boundary", reraise=False):
            raise ValueError("two")
        with _errors.boundary("test.boundary", quiet=True):
            raise ValueError("three")
        with pytest.raises(KeyboardInterrupt), _errors.boundary("test.boundary"):
            raise KeyboardInterrupt
        with _errors.boundary("test.boundary"):
            reached.append("body")
        assert _errors.internal_error_count("test.boundary") - before == 2  # one and two; quiet is not counted
        assert reached == (["body"] if strict else ["after", "body"])
    finally:
        _errors.take_strict_errors()
        _errors.set_strict(was)
