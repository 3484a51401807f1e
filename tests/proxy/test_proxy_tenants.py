"""A gateway's worth of tenants through the real proxy: 1,000+ keys across 50 teams, default settings.

Every key's spend, tokens and budget utilization is exported under its own identity (no
``_OTHER``), per-key spend equals what LiteLLM priced for what the fake provider served for
that key, and the exported series stay within the per-key series budget of docs/reference.md.
"""

from __future__ import annotations

import concurrent.futures
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes import FakeOpenAI, fake_providers
from tests.otlp_receiver import OtlpReceiver
from tests.proxy.harness import ProxyProcess, model_list

pytestmark = pytest.mark.e2e

KEYS = 1000
TEAMS = 50
# The per-key series budget (docs/reference.md) for a key on one model: requests 1 (+1 per error
# type), spend 1, tokens 2-5, headroom gauges up to 8 with a budget and limits.
SERIES_PER_KEY = {"otel_llm.client.requests": 1, "otel_llm.client.spend": 1, "otel_llm.client.tokens": 2}

TENANT_AUTH = f"""
from fastapi import HTTPException, Request
from litellm.proxy._types import UserAPIKeyAuth

PREFIX = "sk-tenant-"


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    if not api_key.startswith(PREFIX) or not api_key[len(PREFIX):].isdigit():
        raise HTTPException(status_code=401, detail="unknown key")
    n = int(api_key[len(PREFIX):])
    return UserAPIKeyAuth(
        api_key=api_key,
        key_alias=f"tenant-{{n}}",
        team_id=f"team-{{n % {TEAMS}}}",
        max_budget=100.0,
        spend=float(n % 100),
        rpm_limit=10000,
    )
"""


def _key(n: int) -> str:
    return f"sk-tenant-{n:04d}"


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ProxyProcess, OtlpReceiver, FakeOpenAI]]:
    workdir = tmp_path_factory.mktemp("tenants")
    with fake_providers("/broken") as (fake, broken), OtlpReceiver() as receiver:
        proxy = ProxyProcess(
            workdir,
            model_list(fake.api_base, broken.api_base),
            {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_METRIC_EXPORT_INTERVAL": "2000"},
        )
        (workdir / "auth.py").write_text(TENANT_AUTH)
        proxy.start()
        try:
            yield proxy, receiver, fake
        finally:
            proxy.stop()
        assert "otel-llm: internal error" not in proxy.log()


def _by(receiver: OtlpReceiver, metric: str, attribute: str, **match: str) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for attrs, point, _ in receiver.latest_points(metric):
        if all(attrs.get(k) == v for k, v in match.items()):
            totals[str(attrs.get(attribute))] += point.as_double or point.as_int
    return dict(totals)


def test_a_thousand_keys_each_exported_exactly(
    tenants: tuple[ProxyProcess, OtlpReceiver, FakeOpenAI], tmp_path: Path
) -> None:
    """1,000 keys in 50 teams, one or two calls each: per-key requests, tokens and spend are exact, each
    key's budget utilization is its own, nothing is folded into _OTHER, and the series stay in budget."""
    proxy, receiver, fake = tenants
    spend: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    words = {n: 1 + n % 5 for n in range(KEYS)}

    def send(n: int) -> None:
        for _ in range(2 if n % 3 == 0 else 1):
            response = proxy.chat(_key(n), text=" ".join(["w"] * words[n]))
            assert response.status_code == 200, response.text
            spend[f"tenant-{n}"] += float(response.headers["x-litellm-response-cost"])
            calls[f"tenant-{n}"] += 1

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(send, range(KEYS)))
    total = sum(calls.values())
    assert fake.served.requests == total

    receiver.wait_for(
        lambda: sum(_by(receiver, "otel_llm.client.requests", "otel_llm.key.alias").values()) == total,
        timeout=60,
        message=f"{total} requests exported",
    )
    requests = _by(receiver, "otel_llm.client.requests", "otel_llm.key.alias")
    assert requests == calls
    exported_spend = _by(receiver, "otel_llm.client.spend", "otel_llm.key.alias")
    assert exported_spend.keys() == spend.keys()
    assert all(exported_spend[k] == pytest.approx(v, rel=1e-9) for k, v in spend.items())
    inputs = _by(receiver, "otel_llm.client.tokens", "otel_llm.key.alias", **{"otel_llm.token.type": "input"})
    assert inputs == {f"tenant-{n}": float(words[n] * (2 if n % 3 == 0 else 1)) for n in range(KEYS)}
    teams = _by(receiver, "otel_llm.client.requests", "otel_llm.team.id")
    assert len(teams) == TEAMS and sum(teams.values()) == total

    utilization = {
        attrs["otel_llm.key.alias"]: point.as_double
        for attrs, point, _ in receiver.latest_points("otel_llm.key.budget.utilization")
    }
    assert utilization == {f"tenant-{n}": pytest.approx((n % 100) / 100.0) for n in range(KEYS)}

    assert receiver.latest_points("otel_llm.metric.overflow") == []
    for metric in ("otel_llm.client.requests", "otel_llm.client.spend", "otel_llm.client.tokens"):
        series = receiver.latest_points(metric)
        assert all(attrs.get("otel_llm.key.alias") != "_OTHER" for attrs, _, _ in series), metric
        assert len(series) <= KEYS * SERIES_PER_KEY[metric], (metric, len(series))
    # The histograms add nothing per key: their series do not grow with the number of keys.
    durations = receiver.latest_points("gen_ai.client.operation.duration")
    assert len(durations) <= TEAMS and not any("otel_llm.key.alias" in attrs for attrs, _, _ in durations)
