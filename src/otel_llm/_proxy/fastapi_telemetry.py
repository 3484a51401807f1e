"""How much of FastAPI's native OpenTelemetry the proxy keeps once otel-llm installs providers.

Recent FastAPI versions instrument themselves as soon as a global SDK provider exists: a
SERVER span and ``http.server.*`` metrics per request, plus one INTERNAL span each for the
dependencies, the endpoint and the serialization. In the LiteLLM proxy those three spans
say nothing an LLM gateway operator needs and cost as much as otel-llm's own spans.
``OTEL_LLM_PROXY_FASTAPI_TELEMETRY`` chooses: ``server`` (default: FastAPI's SERVER span
and HTTP metrics, no operation spans), ``full`` (FastAPI's defaults) or ``off`` (no FastAPI
telemetry; otel-llm opens its own SERVER span per LLM request instead).
"""

from __future__ import annotations

import sys
from typing import Any, Final

_OVERRIDES: Final[dict[str, dict[str, bool]]] = {
    "server": {"operation_spans": False},
    "full": {},
    "off": {"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
}


def configure_fastapi_telemetry(mode: str, app: Any = None, providers: tuple[Any, Any] | None = None) -> bool:
    """Apply ``mode`` to the proxy's FastAPI app (by default LiteLLM's); False if it has no native telemetry.

    ``providers`` (tracer provider, meter provider): where FastAPI's telemetry goes instead of the
    global providers (otel-llm's lean providers, where it built the pipeline).

    FastAPI reads its telemetry settings from the app's config dict on every request, so
    updating that dict in place takes effect at once (the proxy loads callbacks after it
    built the app). Older FastAPI versions have no native telemetry: nothing to do.
    """
    if app is None:
        server = sys.modules.get("litellm.proxy.proxy_server")
        app = getattr(server, "app", None)
    config = getattr(app, "_telemetry", None)
    if not isinstance(config, dict):
        return False
    config.update(_OVERRIDES[mode])
    if providers is not None and mode != "off" and "tracer_provider" in config and "meter_provider" in config:
        config["tracer_provider"], config["meter_provider"] = providers
    return True
