"""The settings table run over an environment: the values, and the problems with their fixes.

``validate`` is the one validation of otel-llm's settings: the runtime logs its problems once
(``_config.resolve``), the doctor reports them (``cli/settings_check.py``).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from . import _parse as p
from ._settings import ENV_PREFIX, SETTINGS

BY_ENV: Final = {s.env: s for s in SETTINGS}
KNOWN_ENV: Final = frozenset(BY_ENV)


@dataclass(frozen=True)
class Problem:
    """A setting that cannot be used as given: an invalid value (error) or an unknown name (warning)."""

    setting: str
    severity: Literal["error", "warning"]
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.message}: {self.fix}"


def validate(env: Mapping[str, str] | None = None) -> tuple[dict[str, object], list[Problem]]:
    """Every setting of the table read from ``env`` (``os.environ`` by default).

    Returns the valid values set in ``env``, keyed by Config field (unset, blank and invalid
    ones are left out: the default applies), and the problems: each invalid value with its
    fix, and each unknown ``OTEL_LLM_*`` name (likely a typo) with the closest known one.
    """
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    problems: list[Problem] = []
    for setting in SETTINGS:
        raw = env.get(setting.env)
        if raw is None or not raw.strip():
            continue
        try:
            values[setting.field] = setting.parse(raw)
        except p.SettingError as error:
            shown = setting.env if setting.secret else f"{setting.env}={raw!r}"
            problems.append(Problem(setting.env, "error", f"{shown} is invalid", error.fix))
    for name in sorted(env):
        if name.startswith(ENV_PREFIX) and name not in KNOWN_ENV:
            guess = difflib.get_close_matches(name, sorted(KNOWN_ENV), n=1)
            fix = f"did you mean {guess[0]}? Rename it, or unset {name}" if guess else f"unset {name}"
            problems.append(Problem(name, "warning", f"unknown setting {name} is ignored", fix))
    return values, problems


def read(name: str, env: Mapping[str, str] | None = None) -> object | None:
    """One setting's valid value from ``env`` (``os.environ`` by default), or None: for the few reads
    that must happen before a Config exists (strict mode at import)."""
    setting = BY_ENV[name]
    raw = (os.environ if env is None else env).get(name)
    if raw is None or not raw.strip():
        return None
    try:
        return setting.parse(raw)
    except p.SettingError:
        return None
