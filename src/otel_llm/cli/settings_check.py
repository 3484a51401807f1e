"""The doctor's settings check: the validation the runtime runs, with its warnings as findings.

otel-llm never stops the proxy over a bad setting: it logs a warning naming the setting and
the fix and uses the default. The doctor runs that same validation on the given environment
and turns what it would log into findings, so the rules live in one place (``_config``).
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import re
from collections.abc import Iterator, Mapping

from .findings import ERROR, OK, WARN, Finding

_SETTING_NAME = re.compile(r"\b(OTEL_[A-Z0-9_]+)")


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def runtime_warnings() -> Iterator[list[logging.LogRecord]]:
    """The warnings otel-llm's runtime logs while the body runs, captured instead of printed."""
    from .._config import _unknown_reported  # noqa: PLC0415

    logger = logging.getLogger("otel_llm")
    handler = _Records()
    propagate, level = logger.propagate, logger.level
    # Every unknown name is reported once per process: forget that for the check, then restore it.
    reported = set(_unknown_reported)
    _unknown_reported.clear()
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.WARNING)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.propagate, logger.level = propagate, level
        _unknown_reported.clear()
        _unknown_reported.update(reported)


def _finding(record: logging.LogRecord, documented: frozenset[str]) -> Finding:
    text = record.getMessage().removeprefix("otel-llm: ").rstrip(".")
    match = _SETTING_NAME.search(text)
    name = match.group(1) if match else "the setting"
    if name in documented:
        return Finding(ERROR, "settings", text, f"set {name} to a valid value, or unset it for the default")
    guess = difflib.get_close_matches(name, sorted(documented), n=1)
    fix = f"did you mean {guess[0]}? Rename it" if guess else "fix the name (see the README's settings table)"
    return Finding(WARN, "settings", text, f"{fix}, or unset {name}")


def check_settings(env: Mapping[str, str]) -> list[Finding]:
    """Invalid values and unknown ``OTEL_LLM_*`` names, as the proxy would report them at start-up."""
    from .._config import EXTRA_KNOWN_ENV, _from_env, _one_of, resolve  # noqa: PLC0415
    from .._proxy.setup import SPAN_ENCODERS, _exporter_choice  # noqa: PLC0415
    from .._settings import SETTINGS  # noqa: PLC0415

    with runtime_warnings() as records:
        resolve(env)
        # Read by the proxy's own set-up rather than resolve(): the same parsers, on the same variables.
        _exporter_choice(env)
        _from_env(env, "OTEL_LLM_PROXY_SPAN_ENCODER", _one_of(SPAN_ENCODERS), "wire")
    documented = frozenset(setting.env for setting in SETTINGS) | EXTRA_KNOWN_ENV
    findings = [_finding(record, documented) for record in records]
    return findings or [Finding(OK, "settings", "every OTEL_LLM_* setting is valid")]
