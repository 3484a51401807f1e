"""The budget poller's parts that need no database: URLs, settings, identity, rows, the interval."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from otel_llm import _names as n
from otel_llm._budgets import poller as poller_module
from otel_llm._budgets.database import DatabaseUrlError, resolve_target
from otel_llm._budgets.poller import lock_id, poll_interval, start_budget_poller
from otel_llm._budgets.rows import end_user_series, key_series, org_series, team_series
from otel_llm._budgets.tables import ENTITIES, Query
from otel_llm._capture.attribution import salted_key_hash
from otel_llm._capture.payload import build_record
from otel_llm._config import Config, settings_of
from otel_llm._validation import validate
from tests.budgets.postgres import litellm_token

PASSWORD = "s3cr%40t-pw"  # percent-encoded "s3cr@t-pw"


def test_litellm_s_prisma_url_becomes_a_libpq_connection() -> None:
    """DATABASE_URL as LiteLLM's CLI leaves it: Prisma's pool parameters dropped, schema kept aside,
    libpq's own parameters kept, the password decoded and known to the scrubber."""
    url = (
        f"postgresql://litellm:{PASSWORD}@db.internal:6543/litellm?connection_limit=10&pool_timeout=60"
        "&socket_timeout=10&statement_cache_size=0&schema=tenant&sslmode=require&sslcert=/etc/ca.pem&options=-c%20statement_timeout%3D5000"
    )
    target = resolve_target(None, {"DATABASE_URL": url})
    assert target is not None
    assert target.source == "DATABASE_URL" and target.schema == "tenant"
    assert dict(target.params) == {
        "user": "litellm",
        "password": "s3cr@t-pw",
        "host": "db.internal",
        "port": "6543",
        "dbname": "litellm",
        "sslmode": "require",
        "sslrootcert": "/etc/ca.pem",  # Prisma's sslcert is the server's CA certificate
        "options": "-c statement_timeout=5000",
    }
    message = f"connection to {url} failed for s3cr@t-pw and {PASSWORD}"
    assert "s3cr" not in target.scrub(message)
    assert PASSWORD not in repr(target) and "s3cr@t-pw" not in repr(target)


def test_the_explicit_url_wins_and_none_without_either() -> None:
    """OTEL_LLM_BUDGET_DATABASE_URL overrides DATABASE_URL; neither set: no poller target."""
    target = resolve_target("postgresql://ro@replica/litellm", {"DATABASE_URL": "postgresql://rw@primary/litellm"})
    assert target is not None
    assert target.source == "OTEL_LLM_BUDGET_DATABASE_URL" and target.params["host"] == "replica"
    assert target.schema == "public"
    assert resolve_target(None, {}) is None
    assert resolve_target(None, {"DATABASE_URL": "  "}) is None


@pytest.mark.parametrize(
    "url",
    [
        f"mysql://root:{PASSWORD}@db/litellm",
        f"postgresql://litellm:{PASSWORD}@[::1/litellm",
        f"postgresql://litellm:{PASSWORD}@db/litellm?no_such_libpq_option=1",
    ],
)
def test_an_unusable_url_is_refused_naming_the_fix_never_the_url(url: str) -> None:
    """A URL libpq cannot use: an error naming the variable and the fix, without the URL or password."""
    with pytest.raises(DatabaseUrlError) as raised:
        resolve_target(None, {"DATABASE_URL": url})
    message = str(raised.value)
    assert "DATABASE_URL" in message and "OTEL_LLM_BUDGET_DATABASE_URL=postgresql://" in message
    assert "s3cr" not in message and "litellm:" not in message
    # libpq's own message (which may quote the URL) is not chained to it either.
    assert raised.value.__cause__ is None
    assert raised.value.__context__ is None or raised.value.__suppress_context__


def test_settings_parse_and_name_the_fix() -> None:
    """The poller's settings: defaults, valid values, and invalid ones with their fix (the URL never echoed)."""
    assert (Config().budget_poll, Config().budget_poll_interval_s, Config().budget_max_rows) == (True, 60.0, 100000)
    config = settings_of(
        {
            "OTEL_LLM_BUDGET_POLL": "false",
            "OTEL_LLM_BUDGET_POLL_INTERVAL": "15",
            "OTEL_LLM_BUDGET_MAX_ROWS": "5000",
            "OTEL_LLM_BUDGET_DATABASE_URL": "postgres://u:p@h/d",
        }
    )
    assert (config.budget_poll, config.budget_poll_interval_s, config.budget_max_rows) == (False, 15.0, 5000)
    assert config.budget_database_url == "postgres://u:p@h/d" and "postgres://" not in repr(config)
    _, problems = validate(
        {
            "OTEL_LLM_BUDGET_POLL_INTERVAL": "0.5",
            "OTEL_LLM_BUDGET_MAX_ROWS": "-1",
            "OTEL_LLM_BUDGET_DATABASE_URL": "mysql://u:hunter9@h/d",
            "OTEL_LLM_BUDGET_POLL": "maybe",
        }
    )
    shown = {p.setting: str(p) for p in problems}
    assert "at least 1" in shown["OTEL_LLM_BUDGET_POLL_INTERVAL"]
    assert "greater than 0" in shown["OTEL_LLM_BUDGET_MAX_ROWS"]
    assert "postgresql://user:password@host:5432/dbname" in shown["OTEL_LLM_BUDGET_DATABASE_URL"]
    assert "hunter9" not in shown["OTEL_LLM_BUDGET_DATABASE_URL"]
    assert "true or false" in shown["OTEL_LLM_BUDGET_POLL"]


def test_the_interval_is_at_most_a_third_of_the_gauge_ttl(caplog: pytest.LogCaptureFixture) -> None:
    """A budget gauge must outlive a missed poll: an interval over a third of OTEL_LLM_HEADROOM_TTL is
    shortened to it, with a warning naming both settings."""
    assert poll_interval(Config()) == 60.0  # 3 x 60 <= 300
    with caplog.at_level(logging.WARNING, logger="otel_llm"):
        assert poll_interval(Config(budget_poll_interval_s=200.0)) == 100.0
    assert "OTEL_LLM_BUDGET_POLL_INTERVAL=200" in caplog.text and "OTEL_LLM_HEADROOM_TTL=300" in caplog.text


def test_the_lock_is_one_per_schema() -> None:
    """One lock key per LiteLLM schema (locks are per database already), a signed 64-bit integer."""
    assert lock_id("public") == lock_id("public") != lock_id("tenant")
    assert -(2**63) <= lock_id("public") < 2**63


def test_a_key_row_has_the_request_path_s_identity() -> None:
    """The request path hashes metadata.user_api_key_hash (LiteLLM's SHA-256 of the key) and cleans
    alias and team the way the poller does: one key, one identity, even for an alias past the limit."""
    key = "sk-identity-0a1b2c3d4e5f"
    long_alias = "  agent-" + "x" * 600
    payload: dict[str, Any] = {
        "litellm_call_id": "c1",
        "call_type": "acompletion",
        "model": "gpt-4o-mini",
        "custom_llm_provider": "openai",
        "status": "success",
        "metadata": {
            "user_api_key_hash": litellm_token(key),
            "user_api_key_alias": long_alias,
            "user_api_key_team_id": "team-a",
            "user_api_key_team_alias": "Team A",
        },
    }
    who = build_record(payload, {}, Config()).attribution
    row = {"token": litellm_token(key), "key_alias": long_alias, "team_id": "team-a", "team_alias": "Team A"}
    series = key_series(row, Config().attribute_max_length)
    assert series is not None
    attrs, _ = series
    assert attrs == {
        n.KEY_HASH: who.key_hash,
        n.KEY_ALIAS: who.key_alias,
        n.TEAM_ID: who.team_id,
        n.TEAM_ALIAS: who.team_alias,
    }
    assert attrs[n.KEY_HASH] == salted_key_hash(litellm_token(key))
    assert litellm_token(key) not in str(attrs) and key not in str(attrs)


def test_rows_give_only_values_they_have() -> None:
    """NULL, negative or absurd values give no gauge (never NaN or 'None'); utilization needs a positive
    budget; a blocked flag is 0 or 1; rows without an id give nothing."""
    series = key_series(
        {"token": "t", "spend": None, "max_budget": 0.0, "reset_time": -5.0, "rpm_limit": 2.5, "blocked": None}, 512
    )
    assert series is not None
    assert dict(series[1]) == {
        n.KEY_SPEND: None,
        n.KEY_MAX_BUDGET: 0.0,
        n.KEY_BUDGET_UTILIZATION: None,
        n.KEY_BUDGET_RESET_TIME: None,
        n.KEY_RPM_LIMIT: None,
        n.KEY_TPM_LIMIT: None,
        n.KEY_BLOCKED: 0.0,
    }
    team = team_series({"team_id": "t", "spend": 150.0, "max_budget": 100.0, "blocked": True}, 512)
    assert team is not None and dict(team[1])[n.TEAM_BUDGET_UTILIZATION] == 1.5 and dict(team[1])[n.TEAM_BLOCKED] == 1
    assert key_series({"token": None}, 512) is None
    assert team_series({"team_id": "  "}, 512) is None
    assert org_series({"organization_id": None}, 512) is None
    assert end_user_series({"user_id": ""}, 512) is None


def test_queries_adapt_to_an_older_schema() -> None:
    """A column an older LiteLLM lacks reads as NULL, a missing join table is skipped, and a missing
    filter column drops its filter: the query still runs (built from information_schema)."""
    from psycopg import sql

    keys = next(e for e in ENTITIES if e.name == "key")
    columns = {"LiteLLM_VerificationToken": frozenset({"token", "key_alias", "spend", "max_budget", "team_id"})}
    query = Query(keys, "public", columns)
    text = query.next.as_string(None) if isinstance(query.next, sql.Composed) else str(query.next)
    assert 'm."token" > %(after)s' in text and "LEFT JOIN" not in text and "expires" not in text
    assert text.count("NULL") >= 5  # team alias, reset, rpm, tpm, blocked
    assert "litellm-dashboard" in text


def test_no_poller_without_a_database_or_when_off(caplog: pytest.LogCaptureFixture) -> None:
    """No DATABASE_URL: no poller, silently. Off: none either. An unusable URL: none, and a warning
    naming the fix (not the URL)."""

    class Telemetry:
        lean = True

    telemetry: Any = Telemetry()
    assert start_budget_poller(Config(), telemetry, env={}) is None
    assert start_budget_poller(Config(budget_poll=False), telemetry, env={"DATABASE_URL": "postgresql://h/d"}) is None
    with caplog.at_level(logging.WARNING, logger="otel_llm"):
        assert start_budget_poller(Config(), telemetry, env={"DATABASE_URL": "mysql://u:pw-9f8e@h/d"}) is None
    assert "OTEL_LLM_BUDGET_DATABASE_URL=postgresql://" in caplog.text and "pw-9f8e" not in caplog.text


def test_without_psycopg_the_proxy_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """psycopg missing (otel-llm installed without the proxy extra): no poller, and a warning with the fix."""

    def missing(*args: object, **kwargs: object) -> None:
        raise ImportError("No module named 'psycopg'")

    monkeypatch.setattr(poller_module, "resolve_target", missing)
    with caplog.at_level(logging.WARNING, logger="otel_llm"):
        assert start_budget_poller(Config(), object(), env={"DATABASE_URL": "postgresql://h/d"}) is None  # type: ignore[arg-type]
    assert "pip install 'otel-llm[proxy]'" in caplog.text


@pytest.mark.parametrize("lean", [True, False])
def test_polls_are_counted_on_the_lean_and_the_sdk_path(lean: bool) -> None:
    """otel_llm.budget.polls reaches the exporter whichever path the proxy's metrics take: the metric
    store (otel-llm's readers) or the SDK meter of providers the application owns."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from otel_llm._budgets.poller import poll_counter
    from otel_llm._emit.store import MetricStore
    from otel_llm._emit.telemetry import Telemetry

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    store = MetricStore(3600.0, 1000, 300.0) if lean else None
    telemetry = Telemetry(Config(), meter_provider=provider, metric_store=store)
    try:
        count = poll_counter(telemetry, provider)
        count({n.BUDGET_POLL_OUTCOME: "failed", n.ERROR_TYPE: "OperationalError"})
        count({n.BUDGET_POLL_OUTCOME: "ok"})
        if store is not None:
            points = {
                tuple(sorted(attrs.items())): value for attrs, value in store.instrument(poller_module.POLLS).series()
            }
        else:
            data = reader.get_metrics_data()
            assert data is not None
            points = {
                tuple(sorted(point.attributes.items())): point.value
                for rm in data.resource_metrics
                for sm in rm.scope_metrics
                for metric in sm.metrics
                if metric.name == n.BUDGET_POLLS_METRIC
                for point in metric.data.data_points
            }
        assert points == {
            ((n.ERROR_TYPE, "OperationalError"), (n.BUDGET_POLL_OUTCOME, "failed")): 1,
            ((n.BUDGET_POLL_OUTCOME, "ok"),): 1,
        }
    finally:
        telemetry.close()
        provider.shutdown()


@pytest.mark.parametrize(
    "env",
    [
        {"DATABASE_URL": "postgresql://u:pw@pgbouncer:6432/litellm?pgbouncer=true&connection_limit=5"},
        {"DATABASE_URL": "postgresql://u:pw@127.0.0.1:6432/litellm", "LITELLM_PGBOUNCER_POOLED_DATABASE_URL": "true"},
    ],
)
def test_a_transaction_pooled_database_url_gives_way_to_direct_url(env: dict[str, str]) -> None:
    """Behind PgBouncer in transaction mode (Prisma's pgbouncer=true, LiteLLM's own PgBouncer) a
    session-level lock cannot hold: the poller reads DIRECT_URL (Prisma's direct connection) instead,
    and without one refuses, naming the fix."""
    with pytest.raises(DatabaseUrlError) as raised:
        resolve_target(None, env)
    assert "transaction mode" in str(raised.value) and "DIRECT_URL or OTEL_LLM_BUDGET_DATABASE_URL" in str(raised.value)
    assert "pw" not in str(raised.value).replace("password", "")
    target = resolve_target(None, {**env, "DIRECT_URL": "postgresql://u:pw@db:5432/litellm"})
    assert target is not None and target.source == "DIRECT_URL" and target.params["host"] == "db"
    explicit = resolve_target("postgresql://ro:pw@db/litellm", env)  # the explicit URL is trusted as given
    assert explicit is not None and explicit.source == "OTEL_LLM_BUDGET_DATABASE_URL"
