"""The doctor's settings check: the problems the runtime would log, as findings.

otel-llm never stops the proxy over a bad setting: it logs a warning naming the setting and
the fix and uses the default. The runtime and the doctor run the same ``_validation.validate``
over the same table, so the rules live in one place.
"""

from __future__ import annotations

from collections.abc import Mapping

from .findings import ERROR, OK, WARN, Finding


def check_settings(env: Mapping[str, str]) -> list[Finding]:
    """Invalid values and unknown ``OTEL_LLM_*`` names, as the proxy would report them at start-up."""
    from .._config import default_text  # noqa: PLC0415
    from .._validation import BY_ENV, validate  # noqa: PLC0415

    findings = []
    for problem in validate(env)[1]:
        if problem.severity == "error":
            default = default_text(BY_ENV[problem.setting])
            findings.append(
                Finding(ERROR, "settings", problem.message, f"{problem.fix}, or unset it for the default ({default})")
            )
        else:
            findings.append(Finding(WARN, "settings", problem.message, problem.fix))
    return findings or [Finding(OK, "settings", "every OTEL_LLM_* setting is valid")]
