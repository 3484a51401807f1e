"""Flush before uvicorn re-raises SIGTERM.

After a graceful shutdown, uvicorn restores the default SIGTERM handler and raises the
signal again, so the process ends without running ``atexit`` hooks: the last requests'
telemetry, still in the batch queues, would be lost at every rolling update. The one
point after LiteLLM's shutdown and before that re-raise is ``signal.raise_signal``;
otel-llm wraps it (in the proxy only) to run its exit flush first.
"""

from __future__ import annotations

import signal
import threading
from typing import Final

from .. import _lifecycle

_FLUSH_ON: Final = (signal.SIGTERM, signal.SIGINT)
_lock: Final = threading.Lock()
_installed = False


def flush_before_reraised_signals() -> None:
    """Wrap ``signal.raise_signal`` once so the exit flush runs before a re-raised SIGTERM."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
        original = signal.raise_signal

        def raise_signal(signum: int) -> None:
            if signum in _FLUSH_ON:
                _lifecycle.flush_at_exit()
            original(signum)

        signal.raise_signal = raise_signal
