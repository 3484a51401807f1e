"""``otel_llm.build.info``: 1 per process, with otel-llm's and LiteLLM's versions.

Observed at every metric export, whether or not the process served a call, so it is the
heartbeat of a process's telemetry: when a proxy's exports stop (a wrong endpoint, a broken
Collector route, a process that hangs), its series expire from the Collector and the
``OtelLLMTelemetryStopped`` alert sees the service go silent, instead of budget and loop
alerts staying quiet for want of data. It is also the fleet's version inventory
(``count by (otel_llm_version, otel_llm_litellm_version) (otel_llm_build_info)``).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from importlib import metadata

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from .. import _names as n
from .._version import __version__


@cache
def _litellm_version() -> str:
    try:
        return metadata.version("litellm")
    except metadata.PackageNotFoundError:  # an unusual install (vendored, zipapp): still a heartbeat
        return "unknown"


def _observe(options: CallbackOptions) -> Iterable[Observation]:
    return (Observation(1, {n.OTEL_LLM_VERSION: __version__, n.LITELLM_VERSION: _litellm_version()}),)


def register_build_info(meter: Meter) -> None:
    """Create the gauge on ``meter``; a second registration on the same meter is the SDK's no-op."""
    meter.create_observable_gauge(
        n.BUILD_INFO_METRIC,
        callbacks=[_observe],
        unit="{process}",
        description="1 per process exporting otel-llm telemetry, with otel-llm's and LiteLLM's versions.",
    )
