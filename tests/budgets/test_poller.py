"""The budget poller against a real PostgreSQL with LiteLLM's own schema (its shipped migrations)."""

from __future__ import annotations

import logging
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest

from otel_llm import _names as n
from otel_llm._budgets.database import resolve_target
from otel_llm._budgets.poller import POLLS, BudgetPoller
from otel_llm._capture.attribution import salted_key_hash
from otel_llm._config import Config
from otel_llm._emit.headroom import HeadroomEmitter
from otel_llm._emit.store import MetricStore, sorted_key
from tests.budgets.postgres import (
    DB_PASSWORD,
    KeyRow,
    Postgres,
    insert_budget,
    insert_end_user,
    insert_keys,
    insert_org,
    insert_team,
    insert_user,
    litellm_token,
    migrations,
)
from tests.conftest import wait_for

pytestmark = pytest.mark.e2e

RESET_AT = datetime(2031, 5, 1, 0, 0, tzinfo=timezone.utc)


class Clock:
    """A monotonic clock the test moves (gauge freshness)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Poller:
    """A budget poller on its own metric store, as one proxy process has it."""

    def __init__(
        self, url: str, clock: Clock | None = None, env: dict[str, str] | None = None, **settings: Any
    ) -> None:
        """On ``url`` (OTEL_LLM_BUDGET_DATABASE_URL), or on ``env``'s DATABASE_URL, read again for each session."""
        self.config = Config(**settings) if env is not None else Config(budget_database_url=url, **settings)
        self.store = MetricStore(
            3600.0, self.config.metric_series_limit, self.config.headroom_ttl_s, mono=clock or time.monotonic
        )
        self.headroom = HeadroomEmitter(self.store, self.config.headroom_ttl_s)
        polls = self.store.instrument(POLLS)
        target = resolve_target(self.config.budget_database_url, env or {})
        assert target is not None
        self.poller = BudgetPoller(
            self.config, target, self.headroom, lambda attrs: polls.add(1, sorted_key(attrs.items())), env
        )

    def gauge(self, name: str) -> dict[tuple[tuple[str, object], ...], float]:
        return {sorted_key(attrs.items()): value for attrs, value in self.headroom.fresh(name)}

    def key_value(self, name: str, alias: str) -> float | None:
        """The fresh value of the series of ``name`` of the key aliased ``alias`` (None if none)."""
        found = [value for attrs, value in self.headroom.fresh(name) if attrs.get(n.KEY_ALIAS) == alias]
        assert len(found) <= 1, found
        return found[0] if found else None

    def polls(self) -> dict[tuple[tuple[str, object], ...], float]:
        return {sorted_key(attrs.items()): value for attrs, value in self.store.instrument(POLLS).series()}

    def series_count(self) -> int:
        return sum(len(self.headroom.fresh(name)) for name in self.headroom_names())

    def headroom_names(self) -> list[str]:
        return [instrument.spec.name for instrument in self.headroom.instruments]


def key_hash(key: str) -> str:
    return salted_key_hash(litellm_token(key))


def test_a_key_that_never_called_has_budget_gauges_equal_to_its_row(
    postgres: Postgres, db: psycopg.Connection[Any]
) -> None:
    """A key, its team, a user, an organisation and a budgeted end user that never sent traffic: every
    gauge equals its row, the key under the salted hash of LiteLLM's token and its alias and team."""
    insert_team(
        db, "team-a", "Team A", spend=20.0, max_budget=50.0, budget_reset_at=RESET_AT, rpm_limit=600, tpm_limit=90000
    )
    insert_keys(
        db,
        [
            KeyRow(
                "sk-idle-3f9a1b7c5d2e",
                key_alias="idle-agent",
                team_id="team-a",
                user_id="user-1",
                spend=2.5,
                max_budget=10.0,
                budget_duration="30d",
                budget_reset_at=RESET_AT,
                rpm_limit=100,
                tpm_limit=20000,
            ),
            KeyRow("sk-teamless-8e1d4c2b", spend=0.75),
        ],
    )
    insert_user(db, "user-1", spend=3.0, max_budget=30.0, budget_reset_at=RESET_AT)
    insert_budget(db, "org-budget", 1000.0, RESET_AT)
    insert_org(db, "org-1", "Org One", "org-budget", spend=250.0)
    insert_budget(db, "customer-budget", 5.0)
    insert_end_user(db, "customer-1", spend=6.0, budget_id="customer-budget")
    insert_end_user(db, "customer-unbudgeted", spend=1.0)

    p = Poller(postgres.url)
    assert p.poller.poll_once() == "ok"

    key = {
        n.KEY_HASH: key_hash("sk-idle-3f9a1b7c5d2e"),
        n.KEY_ALIAS: "idle-agent",
        n.TEAM_ID: "team-a",
        n.TEAM_ALIAS: "Team A",
    }
    k = sorted_key(key.items())
    reset = RESET_AT.timestamp()
    assert p.gauge(n.KEY_SPEND)[k] == 2.5
    assert p.gauge(n.KEY_MAX_BUDGET)[k] == 10.0
    assert p.gauge(n.KEY_BUDGET_UTILIZATION)[k] == 0.25
    assert p.gauge(n.KEY_BUDGET_RESET_TIME)[k] == reset
    assert p.gauge(n.KEY_RPM_LIMIT)[k] == 100
    assert p.gauge(n.KEY_TPM_LIMIT)[k] == 20000
    assert p.gauge(n.KEY_BLOCKED)[k] == 0
    # A key without team, alias or budget: its spend and blocked flag, nothing invented.
    teamless = sorted_key({n.KEY_HASH: key_hash("sk-teamless-8e1d4c2b")}.items())
    assert p.gauge(n.KEY_SPEND)[teamless] == 0.75
    assert p.gauge(n.KEY_BLOCKED)[teamless] == 0
    assert teamless not in p.gauge(n.KEY_MAX_BUDGET) and teamless not in p.gauge(n.KEY_BUDGET_UTILIZATION)

    team = sorted_key({n.TEAM_ID: "team-a", n.TEAM_ALIAS: "Team A"}.items())
    assert p.gauge(n.TEAM_SPEND)[team] == 20.0
    assert p.gauge(n.TEAM_MAX_BUDGET)[team] == 50.0
    assert p.gauge(n.TEAM_BUDGET_UTILIZATION)[team] == 0.4
    assert p.gauge(n.TEAM_BUDGET_RESET_TIME)[team] == reset
    assert p.gauge(n.TEAM_RPM_LIMIT)[team] == 600
    assert p.gauge(n.TEAM_TPM_LIMIT)[team] == 90000
    assert p.gauge(n.TEAM_BLOCKED)[team] == 0

    user = sorted_key({n.USER_ID: "user-1"}.items())
    assert (p.gauge(n.USER_SPEND)[user], p.gauge(n.USER_MAX_BUDGET)[user]) == (3.0, 30.0)
    assert p.gauge(n.USER_BUDGET_UTILIZATION)[user] == 0.1
    assert p.gauge(n.USER_BUDGET_RESET_TIME)[user] == reset

    org = sorted_key({n.ORG_ID: "org-1", n.ORG_ALIAS: "Org One"}.items())
    assert (p.gauge(n.ORG_SPEND)[org], p.gauge(n.ORG_MAX_BUDGET)[org]) == (250.0, 1000.0)
    assert p.gauge(n.ORG_BUDGET_UTILIZATION)[org] == 0.25
    assert p.gauge(n.ORG_BUDGET_RESET_TIME)[org] == reset

    customer = sorted_key({n.ENDUSER_ID: "customer-1"}.items())
    assert (p.gauge(n.END_USER_SPEND)[customer], p.gauge(n.END_USER_MAX_BUDGET)[customer]) == (6.0, 5.0)
    assert p.gauge(n.END_USER_BUDGET_UTILIZATION)[customer] == 1.2
    assert p.gauge(n.END_USER_BLOCKED)[customer] == 0
    # LiteLLM records every end user it sees: only budgeted (or blocked) ones have budget state.
    assert [a for a, _ in p.headroom.fresh(n.END_USER_SPEND)] == [{n.ENDUSER_ID: "customer-1"}]
    assert p.polls() == {((n.BUDGET_POLL_OUTCOME, "ok"),): 1}
    p.poller.stop()


def test_a_key_over_budget_stays_at_or_above_full_utilization_while_refused(
    postgres: Postgres, db: psycopg.Connection[Any]
) -> None:
    """A key over its budget (LiteLLM refuses its calls, so no traffic refreshes anything) keeps
    utilization ≥ 1 poll after poll, for as long as it stays over budget: LLMKeyBudgetExhausted keeps
    firing instead of resolving after the gauge TTL. A blocked key says so."""
    insert_keys(
        db,
        [
            KeyRow("sk-spent-5a7c9e1b", key_alias="spent", spend=12.0, max_budget=10.0),
            KeyRow("sk-blocked-2d4f6a8c", key_alias="blocked", spend=1.0, max_budget=10.0, blocked=True),
        ],
    )
    clock = Clock()
    p = Poller(postgres.url, clock)
    for _ in range(8):  # 8 polls a minute apart: well past the 300 s gauge TTL
        assert p.poller.poll_once() == "ok"
        assert p.key_value(n.KEY_BUDGET_UTILIZATION, "spent") == 1.2
        clock.now += 60
    assert p.key_value(n.KEY_BLOCKED, "blocked") == 1
    assert p.key_value(n.KEY_BLOCKED, "spent") == 0
    # When polls stop (the database is gone), the gauges lapse after the TTL, as traffic's do.
    clock.now += p.config.headroom_ttl_s
    assert p.key_value(n.KEY_BUDGET_UTILIZATION, "spent") is None
    p.poller.stop()


def test_expired_keys_and_dashboard_session_tokens_have_no_gauges(
    postgres: Postgres, db: psycopg.Connection[Any]
) -> None:
    """Expired keys (LiteLLM refuses them) and the UI's session tokens (team litellm-dashboard) are
    not budget holders; a key expiring later is."""
    now = datetime.now(timezone.utc)
    insert_keys(
        db,
        [
            KeyRow("sk-expired-1a2b3c", key_alias="expired", expires=now - timedelta(minutes=1)),
            KeyRow("sk-ui-session-4d5e6f", key_alias="ui", team_id="litellm-dashboard"),
            KeyRow("sk-later-7a8b9c", key_alias="later", expires=now + timedelta(days=1)),
        ],
    )
    p = Poller(postgres.url)
    assert p.poller.poll_once() == "ok"
    assert [a[n.KEY_ALIAS] for a, _ in p.headroom.fresh(n.KEY_SPEND)] == ["later"]
    p.poller.stop()


def test_a_deleted_key_and_a_removed_budget_go_at_the_next_poll(
    postgres: Postgres, db: psycopg.Connection[Any]
) -> None:
    """A key deleted in LiteLLM loses its series at the next poll (not a TTL later); a budget removed
    from a key takes its budget and utilization series with it."""
    insert_keys(
        db,
        [
            KeyRow("sk-doomed-0f1e2d", key_alias="doomed", spend=1.0, max_budget=5.0),
            KeyRow("sk-kept-3c4b5a", key_alias="kept", spend=1.0, max_budget=5.0),
        ],
    )
    p = Poller(postgres.url)
    assert p.poller.poll_once() == "ok"
    assert p.key_value(n.KEY_SPEND, "doomed") == 1.0
    db.execute('DELETE FROM "LiteLLM_VerificationToken" WHERE key_alias = %s', ("doomed",))
    db.execute('UPDATE "LiteLLM_VerificationToken" SET max_budget = NULL WHERE key_alias = %s', ("kept",))
    assert p.poller.poll_once() == "ok"
    assert p.key_value(n.KEY_SPEND, "doomed") is None
    assert p.key_value(n.KEY_BLOCKED, "doomed") is None
    assert p.key_value(n.KEY_SPEND, "kept") == 1.0
    assert p.key_value(n.KEY_MAX_BUDGET, "kept") is None
    assert p.key_value(n.KEY_BUDGET_UTILIZATION, "kept") is None
    p.poller.stop()


def test_1050_keys_across_50_teams_are_read_in_bounded_time(postgres: Postgres, db: psycopg.Connection[Any]) -> None:
    """1,050 keys in 50 teams (21 each, in pages of 1,000): every key and team has its own series with
    its own values, read within a few seconds (measured: well under a second here)."""
    for team in range(50):
        insert_team(db, f"team-{team:02d}", f"Team {team:02d}", spend=team, max_budget=100.0)
    insert_keys(
        db,
        [
            KeyRow(
                f"sk-load-{i:05d}-9f8e7d",
                key_alias=f"agent-{i:05d}",
                team_id=f"team-{i % 50:02d}",
                spend=i / 100,
                max_budget=50.0,
            )
            for i in range(1050)
        ],
    )
    p = Poller(postgres.url)
    tracemalloc.start()
    started = time.monotonic()
    assert p.poller.poll_once() == "ok"
    elapsed = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    spend = {attrs[n.KEY_ALIAS]: (attrs, value) for attrs, value in p.headroom.fresh(n.KEY_SPEND)}
    assert len(spend) == 1050
    for i in (0, 1, 999, 1000, 1049):
        attrs, value = spend[f"agent-{i:05d}"]
        assert value == i / 100
        assert attrs[n.KEY_HASH] == key_hash(f"sk-load-{i:05d}-9f8e7d")
        assert attrs[n.TEAM_ALIAS] == f"Team {i % 50:02d}"
    assert len({attrs[n.KEY_HASH] for attrs, _ in spend.values()}) == 1050
    assert len(p.headroom.fresh(n.TEAM_SPEND)) == 50
    assert p.poller.last_rows == 1100
    assert elapsed < 10, f"poll of 1,100 rows took {elapsed:.2f} s"
    assert peak < 20_000_000, f"poll of 1,100 rows peaked at {peak / 1e6:.1f} MB"
    print(f"\npoll of 1,050 keys + 50 teams: {elapsed * 1000:.0f} ms, peak traced memory {peak / 1e6:.1f} MB")
    p.poller.stop()


def test_a_poll_reads_at_most_max_rows_per_table_and_says_so(
    postgres: Postgres, db: psycopg.Connection[Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Past OTEL_LLM_BUDGET_MAX_ROWS a poll stops reading the table, counts itself truncated and logs the
    fix once a minute; what it read keeps its series and nothing it did not read is dropped."""
    insert_keys(db, [KeyRow(f"sk-many-{i:04d}-ab", key_alias=f"many-{i:04d}", spend=1.0) for i in range(150)])
    p = Poller(postgres.url, budget_max_rows=100)
    with caplog.at_level(logging.WARNING, logger="otel_llm"):
        assert p.poller.poll_once() == "truncated"
        assert p.poller.poll_once() == "truncated"
    assert len(p.headroom.fresh(n.KEY_SPEND)) == 100
    warnings = [r.getMessage() for r in caplog.records if "OTEL_LLM_BUDGET_MAX_ROWS" in r.getMessage()]
    assert len(warnings) == 1 and "LiteLLM_VerificationToken" in warnings[0]
    assert p.polls() == {((n.BUDGET_POLL_OUTCOME, "truncated"),): 2}
    p.poller.stop()
    exact = Poller(postgres.url, budget_max_rows=150)
    assert exact.poller.poll_once() == "ok"  # exactly max_rows rows: nothing left out
    exact.poller.stop()


def test_two_pollers_on_one_database_write_one_set_of_series_and_the_standby_takes_over(
    postgres: Postgres, db: psycopg.Connection[Any]
) -> None:
    """Two pollers (two workers, or two replicas) on one database: only the lock holder reads, the
    other stands by and writes nothing; when the holder stops, the standby takes over at its next try."""
    insert_keys(db, [KeyRow("sk-shared-6b5a4c3d", key_alias="shared", spend=4.0, max_budget=8.0)])
    first, second = Poller(postgres.url), Poller(postgres.url)
    assert first.poller.poll_once() == "ok"
    for _ in range(3):
        assert second.poller.poll_once() == "standby"
        assert first.poller.poll_once() == "ok"
    assert first.series_count() > 0 and second.series_count() == 0
    assert (first.poller.holds_lock, second.poller.holds_lock) == (True, False)
    assert second.polls() == {((n.BUDGET_POLL_OUTCOME, "standby"),): 3}
    # One session per database at a time holds the lock: what PostgreSQL itself says.
    with postgres.superuser() as admin:
        holders = admin.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = "
            "(SELECT oid FROM pg_database WHERE datname = 'litellm')"
        ).fetchone()
    assert holders == (1,)
    first.poller.stop()  # its session ends, and the lock with it
    assert second.poller.poll_once() == "ok"
    assert second.key_value(n.KEY_BUDGET_UTILIZATION, "shared") == 0.5
    assert first.poller.poll_once() == "standby"
    second.poller.stop()
    first.poller.stop()


def test_a_holder_that_lost_its_session_hands_its_series_over(postgres: Postgres, db: psycopg.Connection[Any]) -> None:
    """A holder whose session is ended (idle_session_timeout, a DBA, a network blip) while its process
    lives on: another process takes the lock, and the old holder, finding itself standby, drops what it
    reported, so the two never export one series with two different values."""
    insert_keys(db, [KeyRow("sk-handover-8d7c6b5a", key_alias="handover", spend=1.0)])
    first, second = Poller(postgres.url), Poller(postgres.url)
    assert first.poller.poll_once() == "ok"
    db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'otel-llm budget poller'"
    )
    db.execute('UPDATE "LiteLLM_VerificationToken" SET spend = 2.0')
    assert second.poller.poll_once() == "ok"
    assert second.key_value(n.KEY_SPEND, "handover") == 2.0
    assert first.key_value(n.KEY_SPEND, "handover") == 1.0  # frozen until the holder notices
    assert first.poller.poll_once() == "failed"  # its session is gone
    assert first.poller.poll_once() == "standby"
    assert first.series_count() == 0
    first.poller.stop()
    second.poller.stop()


def test_a_holder_whose_process_dies_is_replaced(postgres: Postgres, db: psycopg.Connection[Any]) -> None:
    """A holder killed outright (no clean stop: its socket simply closes) releases the lock with its
    session; a standby in another process takes over at its next try."""
    import subprocess
    import sys

    insert_keys(db, [KeyRow("sk-orphan-1b2c3d4e", key_alias="orphan", spend=1.0)])
    script = (
        "import sys, time\n"
        "from tests.budgets.test_poller import Poller\n"
        "p = Poller(sys.argv[1])\n"
        "print(p.poller.poll_once(), flush=True)\n"
        "time.sleep(120)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", script, postgres.url], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ok"
        standby = Poller(postgres.url)
        assert standby.poller.poll_once() == "standby"
        holder.kill()
        holder.wait(timeout=10)
        wait_for(lambda: standby.poller.poll_once() == "ok", timeout=10, interval=0.2, message="standby took over")
        assert standby.key_value(n.KEY_SPEND, "orphan") == 1.0
        standby.poller.stop()
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_the_poller_thread_polls_every_interval_and_releases_the_lock_on_stop(
    postgres: Postgres, db: psycopg.Connection[Any]
) -> None:
    """start() polls at once and then every interval on its own thread; stop() ends the session, so a
    standby can take over without waiting for the holder's process to exit."""
    insert_keys(db, [KeyRow("sk-thread-9a8b7c6d", key_alias="thread", spend=1.0)])
    p = Poller(postgres.url, budget_poll_interval_s=1.0)
    p.poller.start()
    try:
        wait_for(lambda: p.key_value(n.KEY_SPEND, "thread") == 1.0, timeout=10, message="first poll")
        db.execute('UPDATE "LiteLLM_VerificationToken" SET spend = 2.0')
        wait_for(lambda: p.key_value(n.KEY_SPEND, "thread") == 2.0, timeout=10, message="next poll")
    finally:
        p.poller.stop()
    assert not p.poller.holds_lock
    other = Poller(postgres.url)
    assert other.poller.poll_once() == "ok"
    other.poller.stop()


def test_the_holder_s_session_only_reads_is_bounded_and_says_who_it_is(
    postgres: Postgres, db: psycopg.Connection[Any]
) -> None:
    """The session the poller reads on is read-only, UTC, with statement and lock timeouts and TCP
    keepalives, and shows up in pg_stat_activity as the otel-llm budget poller (for the DBA)."""
    p = Poller(postgres.url)
    assert p.poller.poll_once() == "ok"
    session = p.poller._session
    assert session is not None
    settings = dict(
        session.execute(
            "SELECT name, setting FROM pg_settings WHERE name IN ('default_transaction_read_only', 'TimeZone', "
            "'statement_timeout', 'lock_timeout', 'tcp_keepalives_idle')"
        ).fetchall()
    )
    assert settings == {
        "default_transaction_read_only": "on",
        "TimeZone": "UTC",
        "statement_timeout": "10000",
        "lock_timeout": "2000",
        "tcp_keepalives_idle": "30",
    }
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        session.execute('DELETE FROM "LiteLLM_VerificationToken"')
    with postgres.superuser() as admin:
        names = admin.execute("SELECT application_name FROM pg_stat_activity WHERE datname = 'litellm'").fetchall()
    assert ("otel-llm budget poller",) in names
    p.poller.stop()


def test_a_prisma_database_url_with_a_schema_is_read(postgres: Postgres, db: psycopg.Connection[Any]) -> None:
    """LiteLLM's DATABASE_URL as its CLI leaves it (Prisma's connection_limit and pool_timeout appended),
    naming the schema LiteLLM's tables are in (``schema=``): the poller reads that schema's tables."""
    with postgres.superuser() as admin:
        admin.execute("CREATE DATABASE tenant OWNER litellm")
    try:
        tenant_url = postgres.url.rsplit("/", 1)[0] + "/tenant"
        with psycopg.connect(tenant_url, autocommit=True) as tenant:
            tenant.execute("CREATE SCHEMA tenant2")
            tenant.execute("SET search_path = tenant2")
            for migration in migrations():
                tenant.execute(migration.read_text())
            tenant.execute("SET search_path = tenant2")
            insert_keys(tenant, [KeyRow("sk-tenant2-5e6f7a8b", key_alias="tenant2-key", spend=3.0)])
        p = Poller(f"{tenant_url}?connection_limit=10&pool_timeout=60&pgbouncer=false&schema=tenant2")
        assert p.poller.target.schema == "tenant2"
        assert p.poller.poll_once() == "ok"
        assert [(a[n.KEY_ALIAS], v) for a, v in p.headroom.fresh(n.KEY_SPEND)] == [("tenant2-key", 3.0)]
        p.poller.stop()
    finally:
        with postgres.superuser() as admin:
            admin.execute("DROP DATABASE tenant WITH (FORCE)")


def test_a_rewritten_database_url_is_read_again_for_the_next_session(
    postgres: Postgres, db: psycopg.Connection[Any]
) -> None:
    """LiteLLM rewrites DATABASE_URL when it refreshes a short-lived credential (an IAM token): a poller
    whose session ends connects again with the URL as it is now."""
    insert_keys(db, [KeyRow("sk-rotate-2e3f4a5b", key_alias="rotate", spend=1.0)])
    env = {"DATABASE_URL": postgres.url}
    p = Poller(postgres.url, env=env)
    assert p.poller.target.source == "DATABASE_URL"
    assert p.poller.poll_once() == "ok"
    rotated = postgres.url.replace(DB_PASSWORD, "pg-pw-rotated-0c9d")
    try:
        db.execute("ALTER ROLE litellm PASSWORD 'pg-pw-rotated-0c9d'")
        env["DATABASE_URL"] = rotated
        db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'otel-llm budget poller'"
        )
        assert p.poller.poll_once() == "failed"  # its session was ended
        assert p.poller.poll_once() == "ok"  # and a new one opened with the new password
        assert p.poller.target.scrub(rotated) == "***"
    finally:
        p.poller.stop()
        db.execute(f"ALTER ROLE litellm PASSWORD '{DB_PASSWORD}'")


def test_a_session_that_is_not_the_lock_s_own_is_refused(postgres: Postgres, db: psycopg.Connection[Any]) -> None:
    """Were the poller's statements to land on another server session than the one holding the lock (a
    transaction pooler), the poll fails, saying so, and the session is dropped (and taken afresh)."""
    insert_keys(db, [KeyRow("sk-pooled-6f5e4d3c", key_alias="pooled", spend=1.0)])
    p = Poller(postgres.url)
    assert p.poller.poll_once() == "ok"
    p.poller._backend = -1  # as if the pooler had moved the session
    assert p.poller.poll_once() == "failed"
    assert not p.poller.holds_lock
    assert any(dict(k).get(n.ERROR_TYPE) == "PooledSessionError" for k in p.polls())
    assert p.poller.poll_once() == "ok"
    p.poller.stop()


def test_a_database_that_goes_down_and_comes_back(
    postgres: Postgres, db: psycopg.Connection[Any], caplog: pytest.LogCaptureFixture
) -> None:
    """The database stops: polls fail fast, are counted (outcome failed, error.type) and logged once a
    minute without the password, and the last values stay until the TTL; it comes back: the next poll
    reconnects, takes the lock again and reads."""
    insert_keys(db, [KeyRow("sk-outage-7c6b5a49", key_alias="outage", spend=1.0, max_budget=2.0)])
    db.close()
    clock = Clock()
    p = Poller(postgres.url, clock)
    assert p.poller.poll_once() == "ok"
    postgres.stop()
    try:
        with caplog.at_level(logging.DEBUG, logger="otel_llm"):
            started = time.monotonic()
            outcomes = [p.poller.poll_once() for _ in range(3)]
            assert time.monotonic() - started < 20
        assert outcomes == ["failed"] * 3
        assert not p.poller.holds_lock
        failures = {k: v for k, v in p.polls().items() if (n.BUDGET_POLL_OUTCOME, "failed") in k}
        assert sum(failures.values()) == 3
        # The held session is ended by the shutdown, then connections are refused.
        assert {dict(k)[n.ERROR_TYPE]: v for k, v in failures.items()} == {"AdminShutdown": 1, "OperationalError": 2}
        logged = [r for r in caplog.records if "budget poll" in r.getMessage()]
        assert len(logged) == 1 and "LLM calls are unaffected" in logged[0].getMessage()
        assert not any(DB_PASSWORD in r.getMessage() for r in caplog.records)
        assert p.key_value(n.KEY_BUDGET_UTILIZATION, "outage") == 0.5  # kept until the TTL
    finally:
        postgres.start()
    with postgres.connect() as again:
        again.execute('UPDATE "LiteLLM_VerificationToken" SET spend = 1.5')
    clock.now += 30
    assert p.poller.poll_once() == "ok"
    assert p.poller.holds_lock
    assert p.key_value(n.KEY_BUDGET_UTILIZATION, "outage") == 0.75
    p.poller.stop()
