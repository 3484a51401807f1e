"""What ``otel-llm doctor`` reports: one finding per check, ok, warning or error, with the fix."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

OK, WARN, ERROR = "ok", "warning", "error"
_MARK = {OK: "✔", WARN: "!", ERROR: "✘"}


@dataclass(frozen=True)
class Finding:
    """One check's result: its level (ok, warning, error), topic, what was found and the fix."""

    level: str
    topic: str
    message: str
    fix: str = ""

    def render(self) -> str:
        """The finding as the doctor prints it: a mark, the topic, the message and the fix."""
        line = f"{_MARK[self.level]} {self.topic}: {self.message}"
        return f"{line}\n    fix: {self.fix}" if self.fix else line


def section(config: Mapping[str, Any] | None, name: str) -> Mapping[str, Any]:
    """A top-level mapping of the proxy's config.yaml (empty when absent or not a mapping)."""
    value = (config or {}).get(name)
    return value if isinstance(value, Mapping) else {}
