"""Hundreds of thousands of distinct keys and users cannot grow the exported series past the caps, and a
gateway that churns keys keeps giving each new key its own series."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader

from otel_llm._config import resolve
from otel_llm._emit.instruments import REQUESTS, SPEND, AttrSet, Instruments
from otel_llm._emit.store import MetricStore
from otel_llm._emit.telemetry import Telemetry
from otel_llm._record import Attribution, Headroom, InvocationRecord

pytestmark = pytest.mark.slow  # stress and property tests: seconds each; CI runs them

LIMIT = 50
SERIES = 200


def _record(i: int, key: int, user: str | None = None) -> InvocationRecord:
    record = InvocationRecord(
        call_id=str(i),
        operation="chat",
        provider="openai",
        request_model="gpt-4o-mini",
        response_model="gpt-4o-mini",
        input_tokens=10,
        output_tokens=5,
        cost_usd=0.0001,
        start_ns=1,
        end_ns=2_000_000,
    )
    record.attribution = Attribution(
        key_alias=f"key-{key}", key_hash=f"{key:016x}", team_id=f"team-{key % 1000}", end_user=user
    )
    record.headroom = Headroom(key_spend=1.0, key_max_budget=10.0)
    return record


def _metrics(reader: InMemoryMetricReader) -> list[Any]:
    data = reader.get_metrics_data()
    assert data is not None
    return [metric for rm in data.resource_metrics for sm in rm.scope_metrics for metric in sm.metrics]


def _series(reader: InMemoryMetricReader) -> dict[str, set[tuple[object, ...]]]:
    data = reader.get_metrics_data()
    assert data is not None
    return {
        metric.name: {tuple(sorted(p.attributes.items())) for p in metric.data.data_points}
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    }


def test_series_stay_under_the_cap_on_sdk_providers(caplog: pytest.LogCaptureFixture) -> None:
    """On providers the application owns: values per attribute stay at LIMIT (+ _OTHER), series per metric
    at SERIES (+ overflow); each fold is counted by metric and attribute; one warning each."""
    config = resolve(
        {
            "OTEL_LLM_METRIC_ATTRIBUTE_VALUE_LIMIT": str(LIMIT),
            "OTEL_LLM_METRIC_ATTRIBUTION": "key,team,end_user",
            "OTEL_LLM_METRIC_SERIES_LIMIT": str(SERIES),
            "OTEL_LLM_LOOP_MODE": "off",
        }
    )
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    telemetry = Telemetry(config, meter_provider=provider)
    try:
        with caplog.at_level(logging.WARNING, logger="otel_llm"):
            for i in range(100_000):
                record = _record(i, i % 1000, f"user-{i}")
                telemetry._metrics.emit(record)
                telemetry.headroom.emit(record)
        series = _series(reader)
        for name, found in series.items():
            assert len(found) <= 5 * (SERIES + 1), name  # tokens: five types
            users = {dict(s).get("enduser.id") for s in found} - {None}
            assert len(users) <= LIMIT + 1, name
        assert len(series["otel_llm.client.spend"]) <= SERIES + 1
        assert len(series["otel_llm.key.spend"]) <= SERIES
        overflow = {
            (dict(s)["otel_llm.metric.name"], dict(s)["otel_llm.metric.attribute"])
            for s in series["otel_llm.metric.overflow"]
        }
        assert ("otel_llm.client.requests", "enduser.id") in overflow
        assert ("otel_llm.key.spend", "(series)") in overflow
        warnings = [r.getMessage() for r in caplog.records if "distinct values" in r.getMessage()]
        assert len(warnings) == len(set(warnings)) and any("enduser.id" in w for w in warnings)
        assert len([r for r in caplog.records if "otel_llm.key.spend reached" in r.getMessage()]) == 1
    finally:
        telemetry.close()
        provider.shutdown()


def test_an_attribute_set_past_the_series_cap_is_counted_on_every_point_it_writes() -> None:
    """SDK instruments remember the sets they admitted (no key hashing per point once admitted); a set
    past the cap is never admitted: each of its points goes to the overflow series and is counted."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    instruments = Instruments(MetricStore(600.0, 1, 60.0), provider.get_meter("t"), series_limit=1)
    try:
        first = AttrSet({"gen_ai.operation.name": "chat", "otel_llm.key.alias": "a"})
        second = AttrSet({"gen_ai.operation.name": "chat", "otel_llm.key.alias": "b"})
        for _ in range(3):
            instruments.requests(1, first)
            instruments.requests(1, second)
        metrics = _metrics(reader)
        series = {
            tuple(sorted(p.attributes.items())): p.value
            for m in metrics
            if m.name == REQUESTS.name
            for p in m.data.data_points
        }
        assert series == {
            (("gen_ai.operation.name", "chat"), ("otel_llm.key.alias", "a")): 3,
            (("gen_ai.operation.name", "chat"), ("otel_llm.key.alias", "_OTHER")): 3,
        }
        overflow = [
            p.value
            for m in metrics
            if m.name == "otel_llm.metric.overflow"
            for p in m.data.data_points
            if p.attributes["otel_llm.metric.name"] == REQUESTS.name
        ]
        assert overflow == [3]
    finally:
        provider.shutdown()


class LeanPipeline:
    """The lean path with a fake monotonic clock: the store and the limiter age on it."""

    def __init__(self, idle_s: float, value_limit: int, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = 1000.0
        config = resolve(
            {
                "OTEL_LLM_METRIC_ATTRIBUTE_VALUE_LIMIT": str(value_limit),
                "OTEL_LLM_METRIC_IDLE_TIMEOUT": str(idle_s),
                "OTEL_LLM_LOOP_MODE": "off",
            }
        )
        self.store = MetricStore(idle_s, 100_000, 300.0, mono=lambda: self.now)
        self.slot = self.store.add_reader("test")
        self.telemetry = Telemetry(config, meter_provider=MeterProvider(), metric_store=self.store)

    def collect(self) -> dict[str, dict[tuple[object, ...], float]]:
        result: dict[str, dict[tuple[object, ...], float]] = {}
        for metric in self.store.collect(self.slot, lambda kind: AggregationTemporality.CUMULATIVE, False):
            result[metric.name] = {
                tuple(sorted(p.attributes.items())): getattr(p, "value", 0) for p in metric.data.data_points
            }
        return result


@pytest.fixture
def lean(monkeypatch: pytest.MonkeyPatch) -> Iterator[LeanPipeline]:
    pipeline = LeanPipeline(600.0, 100, monkeypatch)
    yield pipeline
    pipeline.telemetry.close()


def _spend_by_key(collected: dict[str, dict[tuple[object, ...], float]]) -> dict[str, float]:
    spend: dict[str, float] = {}
    for attrs, value in collected.get("otel_llm.client.spend", {}).items():
        alias = str(dict(attrs)["otel_llm.key.alias"])
        spend[alias] = spend.get(alias, 0.0) + value
    return spend


def test_churning_keys_get_their_own_series_after_the_first_go_idle(lean: LeanPipeline) -> None:
    """Small caps, short idle timeout: while 100 keys are active the 101st is _OTHER (counted); once the first
    keys go idle their series stop being exported and new keys get their own, for round after round."""
    for key in range(101):
        lean.telemetry._metrics.emit(_record(key, key))
    first = lean.collect()
    assert _spend_by_key(first)["_OTHER"] == pytest.approx(0.0001)
    assert len(_spend_by_key(first)) == 101
    overflow = first["otel_llm.metric.overflow"]
    assert sum(overflow.values()) >= 1
    for churn in range(1, 6):
        lean.now += 601  # every key so far goes idle
        lean.collect()  # their last values went out; now they expire
        keys = range(churn * 1000, churn * 1000 + 100)
        for key in keys:
            lean.telemetry._metrics.emit(_record(key, key))
        spend = _spend_by_key(lean.collect())
        assert set(spend) == {f"key-{key}" for key in keys}, churn  # no _OTHER, none of the old keys
        assert all(value == pytest.approx(0.0001) for value in spend.values())
    assert len(lean.store.instrument(SPEND)) == 100  # the store holds the active keys only
