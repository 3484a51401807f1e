"""LiteLLM Proxy integration: one line in the proxy's config.yaml.

.. code-block:: yaml

    litellm_settings:
      callbacks: ["otel_llm.proxy.callback"]

``callback`` is a ready :class:`ProxyCallback`, created when the proxy (once per worker)
first looks it up. Creating it installs OpenTelemetry SDK providers from the standard
``OTEL_*`` environment unless some are installed already (``opentelemetry-instrument``):
OTLP by default, or an in-process Prometheus endpoint with
``OTEL_LLM_EXPORTER=prometheus``. Each worker is its own ``service.instance.id``, so
counters add up in the backend. Importing this module has no side effect.
"""

from __future__ import annotations

import threading
from typing import Any

from ._export.setup import ConfigurationError
from ._proxy.callback import ProxyCallback

__all__ = ["ConfigurationError", "ProxyCallback", "callback"]  # noqa: F822  # callback: module __getattr__

_lock = threading.Lock()
_callback: ProxyCallback | None = None


def __getattr__(name: str) -> Any:
    # PEP 562: ``callback`` is built on first access (LiteLLM's config loader), not on import.
    global _callback
    if name != "callback":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _lock:
        if _callback is None:
            _callback = ProxyCallback()
    return _callback
