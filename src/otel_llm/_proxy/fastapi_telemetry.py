"""How much of FastAPI's native OpenTelemetry the proxy keeps once otel-llm installs providers.

Recent FastAPI versions instrument themselves as soon as a global SDK provider exists: a SERVER span and
``http.server.*`` metrics per request, plus one INTERNAL span for every dependency, the
endpoint and the serialization. In the LiteLLM proxy that is five or more extra spans per
request, the largest cost the proxy pays for having providers at all, while the
operation spans say nothing an LLM gateway operator needs. ``OTEL_LLM_PROXY_FASTAPI_TELEMETRY``
chooses: ``server`` (default: FastAPI's SERVER span and HTTP metrics, no operation spans),
``full`` (FastAPI's defaults) or ``off`` (no FastAPI telemetry; otel-llm opens its own SERVER
span per LLM request instead).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any, Final

_log: Final = logging.getLogger("otel_llm")
SETTING: Final = "OTEL_LLM_PROXY_FASTAPI_TELEMETRY"
MODES: Final = ("server", "full", "off")
_OVERRIDES: Final[dict[str, dict[str, bool]]] = {
    "server": {"operation_spans": False},
    "full": {},
    "off": {"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
}


def mode(env: Mapping[str, str]) -> str:
    raw = env.get(SETTING, "server").strip().lower() or "server"
    if raw not in MODES:
        _log.warning("otel-llm: %s=%r is invalid: set one of %s. Using server.", SETTING, raw, ", ".join(MODES))
        return "server"
    return raw


def configure_fastapi_telemetry(env: Mapping[str, str], app: Any = None) -> str | None:
    """Apply the mode to the proxy's FastAPI app; returns the mode applied, None if nothing to do.

    FastAPI reads its telemetry settings from the app's config dict on every request, so
    updating that dict in place takes effect at once (the proxy loads callbacks after it
    built the app). Older FastAPI versions have no native telemetry: nothing to do.
    """
    if app is None:
        server = sys.modules.get("litellm.proxy.proxy_server")
        app = getattr(server, "app", None)
    config = getattr(app, "_telemetry", None)
    if not isinstance(config, dict):
        return None
    chosen = mode(env)
    config.update(_OVERRIDES[chosen])
    return chosen
