"""Budget state through the real LiteLLM proxy, two workers, and a real PostgreSQL with LiteLLM's schema.

LiteLLM's own database client (Prisma) cannot start here: its engines are downloaded from
binaries.prisma.sh at run time, which these machines cannot reach. So the proxy runs without a
database, its keys admitted by custom_auth with the same alias, team and budget as their rows,
and otel-llm's poller reads the database (OTEL_LLM_BUDGET_DATABASE_URL), as it reads LiteLLM's
DATABASE_URL in a proxy that has one.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import os
import signal
import threading
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from tests.budgets.postgres import DB_PASSWORD, KeyRow, Postgres, insert_keys, insert_team, litellm_token
from tests.conftest import wait_for
from tests.fakes import FailingProvider, FakeOpenAI, fake_providers
from tests.otlp_receiver import OtlpReceiver, attributes
from tests.proxy.harness import MASTER_KEY, ProxyProcess, model_list

pytestmark = pytest.mark.e2e

IDLE = "sk-proxy-idle-4b3a2c1d0e9f"  # has a budget, never calls
CALLER = "sk-proxy-caller-8f7e6d5c4b3a"  # calls through the proxy
SPENT = "sk-proxy-spent-1a2b3c4d5e6f"  # over its budget (LiteLLM would refuse it): never calls
ROWS = {
    IDLE: {"key_alias": "idle-agent", "team_id": "team-db", "max_budget": 20.0, "spend": 5.0, "rpm_limit": 60},
    CALLER: {"key_alias": "caller-agent", "team_id": "team-db", "max_budget": 100.0, "spend": 1.0},
    SPENT: {"key_alias": "spent-agent", "team_id": "team-db", "max_budget": 1.0, "spend": 1.5},
}
TEAM = {"team_id": "team-db", "team_alias": "Team DB", "max_budget": 500.0, "spend": 6.5}

AUTH_MODULE = f"""
from fastapi import HTTPException, Request
from litellm.proxy._types import UserAPIKeyAuth

ROWS = {ROWS!r}


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    row = ROWS.get(api_key)
    if row is None:
        raise HTTPException(status_code=401, detail="unknown key")
    return UserAPIKeyAuth(api_key=api_key, team_alias={TEAM["team_alias"]!r}, team_max_budget={TEAM["max_budget"]!r},
                          team_spend={TEAM["spend"]!r}, **row)
"""


def _client_socket_inode(port: int) -> str | None:
    """The inode of the 127.0.0.1 socket whose local port is ``port`` (the exporter's end of a connection)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[9] != "0":
                    return fields[9]
    return None


def _pid_of_socket(inode: str, pids: Iterable[int]) -> int | None:
    target = f"socket:[{inode}]"
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return pid
        except OSError:
            continue
    return None


def _process_group(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                pids.append(int(entry))
    return pids


class PidReceiver:
    """An OTLP/HTTP metrics receiver that knows which process sent each export: the proxy's process
    group is searched for the sending socket while the request is open (Linux /proc)."""

    pgid = 0  # the proxy's process group, once started

    def __init__(self) -> None:
        self.exports: list[tuple[int | None, ExportMetricsServiceRequest]] = []
        self.raw: list[bytes] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                inode = _client_socket_inode(self.client_address[1])
                # Before the test knows the proxy's process group (its first exports), search every process.
                group = (
                    _process_group(receiver.pgid)
                    if receiver.pgid
                    else [int(p) for p in os.listdir("/proc") if p.isdigit()]
                )
                pid = _pid_of_socket(inode, group) if inode else None
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                with receiver._lock:
                    receiver.raw.append(body)
                    OtlpReceiver.ARCHIVE.append(body)  # the session's secret scan
                    if self.path == "/v1/metrics":
                        message = ExportMetricsServiceRequest()
                        message.ParseFromString(body)
                        receiver.exports.append((pid, message))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def points(self, name: str) -> list[tuple[int | None, dict[str, Any], Any, dict[str, Any]]]:
        """(sending pid, attributes, point, resource attributes) of every point of metric ``name``."""
        found = []
        with self._lock:
            exports = list(self.exports)
        for pid, request in exports:
            for resource_metrics in request.resource_metrics:
                resource = attributes(resource_metrics.resource.attributes)
                for scope in resource_metrics.scope_metrics:
                    for metric in scope.metrics:
                        if metric.name == name:
                            for point in getattr(metric, metric.WhichOneof("data")).data_points:
                                found.append((pid, attributes(point.attributes), point, resource))
        return found

    def latest(self, name: str, **match: Any) -> dict[str, Any] | None:
        """Attributes and value of the newest point of ``name`` whose attributes include ``match``."""
        newest = None
        for _, attrs, point, _ in self.points(name):
            matches = all(attrs.get(k) == v for k, v in match.items())
            if matches and (newest is None or point.time_unix_nano >= newest[1].time_unix_nano):
                newest = (attrs, point)
        if newest is None:
            return None
        attrs, point = newest
        return {"attributes": attrs, "value": point.as_double if point.HasField("as_double") else point.as_int}


def by_alias(alias: str) -> dict[str, str]:
    return {"otel_llm.key.alias": alias}


def expected_hash(key: str) -> str:
    """What the proxy exports for a key: the HMAC of LiteLLM's token under the salt derived from the
    master key (attribution.key_hash_salt), computed here independently."""
    salt = hmac.new(MASTER_KEY.encode(), b"otel-llm virtual key hash v1", hashlib.sha256).digest()
    return hmac.new(salt, litellm_token(key).encode(), hashlib.sha256).hexdigest()[:16]


@pytest.fixture(scope="module")
def database(postgres: Postgres) -> Postgres:
    with postgres.connect() as db:
        insert_team(db, TEAM["team_id"], TEAM["team_alias"], spend=TEAM["spend"], max_budget=TEAM["max_budget"])
        insert_keys(db, [KeyRow(key, **row) for key, row in ROWS.items()])  # type: ignore[arg-type]
    return postgres


@pytest.fixture
def providers() -> Iterator[tuple[FakeOpenAI, FailingProvider]]:
    with fake_providers("/broken") as providers:
        yield providers


@pytest.mark.timeout(300)
def test_budget_series_from_the_database_join_the_request_path_and_come_from_one_worker(
    database: Postgres, tmp_path: Path, providers: tuple[FakeOpenAI, FailingProvider]
) -> None:
    """Two proxy workers on one database: an idle key's budget gauges arrive, exported by exactly one
    worker (the other stands by); a key that calls has one identity on its traffic and budget series;
    an over-budget key (which LiteLLM refuses) stays at utilization >= 1; when the polling worker is killed,
    the other takes over; no key, token or database password in any exported byte or log line."""
    fake, broken = providers
    receiver = PidReceiver()
    proxy = ProxyProcess(
        tmp_path,
        model_list(fake.api_base, broken.api_base),
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_LLM_BUDGET_DATABASE_URL": database.url,
            "OTEL_LLM_BUDGET_POLL_INTERVAL": "1",
        },
        workers=2,
    )
    (tmp_path / "auth.py").write_text(AUTH_MODULE)
    try:
        proxy.start(timeout=180)  # two workers importing LiteLLM on a shared 2-core machine
        assert proxy.process is not None
        receiver.pgid = proxy.process.pid

        # The idle key, from the database alone, under the identity the request path gives it.
        def idle(name: str) -> Any:
            return receiver.latest(name, **by_alias("idle-agent"))

        wait_for(lambda: idle("otel_llm.key.blocked"), 30, 0.1, "the idle key's budget gauges")
        assert idle("otel_llm.key.blocked")["value"] == 0
        assert idle("otel_llm.key.max_budget")["value"] == 20.0
        assert idle("otel_llm.key.budget.utilization")["value"] == 0.25
        assert idle("otel_llm.key.rpm.limit")["value"] == 60
        assert receiver.latest("otel_llm.team.max_budget", **{"otel_llm.team.id": "team-db"})["value"] == 500.0
        assert idle("otel_llm.key.blocked")["attributes"] == {
            "otel_llm.key.hash": expected_hash(IDLE),
            "otel_llm.key.alias": "idle-agent",
            "otel_llm.team.id": "team-db",
            "otel_llm.team.alias": "Team DB",
        }

        # A key that calls: its per-key traffic counter and its budget gauges carry one identity.
        assert proxy.chat(CALLER).status_code == 200
        traffic = wait_for(
            lambda: receiver.latest("otel_llm.client.spend", **by_alias("caller-agent")), 20, 0.1, "traffic"
        )
        # otel_llm.key.blocked comes from the database only (the request path has no such gauge).
        budget = receiver.latest("otel_llm.key.blocked", **by_alias("caller-agent"))
        assert budget is not None and budget["value"] == 0
        identity = ("otel_llm.key.hash", "otel_llm.key.alias", "otel_llm.team.id", "otel_llm.team.alias")
        assert {k: traffic["attributes"].get(k) for k in identity} == budget["attributes"]
        assert receiver.latest("otel_llm.key.budget.utilization", **by_alias("caller-agent"))["value"] == 0.01  # type: ignore[index]
        assert budget["attributes"]["otel_llm.key.hash"] == expected_hash(CALLER)
        # ... and the traffic's own budget gauges (written by whichever worker served the call) are the
        # very same series as the poller's.
        caller_series = {
            tuple(sorted(attrs.items()))
            for _, attrs, _, _ in receiver.points("otel_llm.key.max_budget")
            if attrs.get("otel_llm.key.alias") == "caller-agent"
        }
        assert caller_series == {tuple(sorted(budget["attributes"].items()))}

        # Over budget (LiteLLM refuses such a key, so no traffic reports it): utilization >= 1 all the same.
        spent = wait_for(lambda: receiver.latest("otel_llm.key.budget.utilization", **by_alias("spent-agent")), 20, 0.1)
        assert spent["value"] == 1.5

        # Exactly one worker polls and exports the database's series; the other stands by.
        def senders(name: str) -> set[int | None]:
            return {pid for pid, *_ in receiver.points(name)}

        wait_for(lambda: len(senders("otel_llm.build.info") - {None}) == 2, 30, 0.1, "both workers exporting")

        def outcomes() -> set[tuple[str, str]]:
            return {
                (attrs["otel_llm.budget.poll.outcome"], resource["service.instance.id"])
                for _, attrs, _, resource in receiver.points("otel_llm.budget.polls")
            }

        wait_for(lambda: {o for o, _ in outcomes()} >= {"ok", "standby"}, 30, 0.1, "a holder and a standby")
        pollers = {instance for outcome, instance in outcomes() if outcome == "ok"}
        assert len(pollers) == 1, outcomes()
        holders = senders("otel_llm.key.blocked")
        assert len(holders) == 1 and None not in holders, holders
        holder = holders.pop()
        assert holder in senders("otel_llm.build.info")

        # The polling worker dies (SIGKILL: no clean stop): the other worker takes over within seconds.
        assert holder is not None
        os.kill(holder, signal.SIGKILL)
        wait_for(lambda: senders("otel_llm.key.blocked") - {holder, None}, 30, 0.2, "the standby took over")
    finally:
        proxy.stop()
        receiver.close()
    log = proxy.log()
    exported = b"\n".join(receiver.raw)
    for secret in (IDLE, CALLER, SPENT, *(litellm_token(k) for k in ROWS), DB_PASSWORD, MASTER_KEY):
        assert secret.encode() not in exported, secret
        assert secret not in log, secret
    assert "otel-llm: internal error" not in log
