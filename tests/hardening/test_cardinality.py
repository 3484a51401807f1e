"""100,000 distinct users and keys cannot grow the exported metric series past the cap."""

from __future__ import annotations

import logging

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otel_llm._config import resolve
from otel_llm._emit.telemetry import Telemetry
from otel_llm._record import Attribution, Headroom, InvocationRecord

pytestmark = pytest.mark.slow  # stress and property tests: seconds each; CI runs them

LIMIT = 50
SERIES = 200


def test_series_stay_under_the_cap(caplog: pytest.LogCaptureFixture) -> None:
    """Values per attribute stay at LIMIT (+ _OTHER) and series per metric at SERIES (+ overflow); warnings once."""
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
                    key_alias=f"key-{i % 1000}",
                    key_hash=f"{i % 1000:016x}",
                    team_id=f"team-{i % 1000}",
                    end_user=f"user-{i}",
                )
                record.headroom = Headroom(key_spend=1.0, key_max_budget=10.0)
                telemetry._metrics.emit(record)
                telemetry.headroom.emit(record)
        data = reader.get_metrics_data()
        assert data is not None
        series = {
            metric.name: {tuple(sorted(p.attributes.items())) for p in metric.data.data_points}
            for rm in data.resource_metrics
            for sm in rm.scope_metrics
            for metric in sm.metrics
        }
        for name, found in series.items():
            assert len(found) <= 2 * (SERIES + 1), name  # token usage: input and output
            users = {dict(s).get("enduser.id") for s in found} - {None}
            assert len(users) <= LIMIT + 1, name
        assert len(series["gen_ai.client.operation.duration"]) <= SERIES + 1
        assert len(series["otel_llm.key.spend"]) <= SERIES + 1
        warnings = [r.getMessage() for r in caplog.records if "distinct values" in r.getMessage()]
        assert len(warnings) == len(set(warnings)) and any("enduser.id" in w for w in warnings)
        assert len([r for r in caplog.records if "attribute combinations" in r.getMessage()]) == 1
    finally:
        telemetry.close()
        provider.shutdown()
