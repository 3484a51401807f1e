"""Keep secrets out of telemetry: error messages, URLs and free text are scrubbed here."""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit

REDACTED: Final = "[REDACTED]"

# Patterns for credentials that providers and HTTP libraries echo into error messages.
_SECRET_PATTERNS: Final = (
    # Authorization / api-key style headers and key=value pairs in any casing.
    re.compile(r"(?i)\b(authorization|proxy-authorization)\s*[:=]\s*(bearer|basic)?\s*[^\s,;'\"]+"),
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"),
    re.compile(
        r"(?i)\b(x-api-key|api[-_]?key|apikey|access[-_]?token|token|secret|password|key|sig|signature)(['\"]?\s*[:=]\s*['\"]?)[^\s&,;'\"]+"
    ),
    # Well-known key shapes: OpenAI/LiteLLM sk-, Anthropic sk-ant-, Google AIza, AWS AKIA, GitHub, Slack.
    re.compile(r"\bsk-[A-Za-z0-9_-]{6,}"),
    re.compile(r"\bAIza[0-9A-Za-z_-]{20,}"),
    re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{12,}"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    # user:password@ in URLs.
    re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+@"),
)


def scrub(text: str) -> str:
    """Replace anything that looks like a credential in free text."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(_replacement, text)
    return text


def _replacement(match: re.Match[str]) -> str:
    groups = match.groups()
    # Keep the name of a key=value pair so the message stays readable.
    if len(groups) == 2 and groups[1] is not None and any(c in groups[1] for c in ":="):
        return f"{groups[0]}{groups[1]}{REDACTED}"
    return REDACTED


def server_of(url: object) -> tuple[str | None, int | None]:
    """The host and port of an API base URL, without credentials, path or query."""
    if not isinstance(url, str) or not url.strip():
        return None, None
    text = url.strip()
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None, None
    if not host:
        return None, None
    if port is None:
        port = {"https": 443, "http": 80}.get(parts.scheme.lower())
    return host, port


def safe_url(url: str) -> str:
    """A URL with user:password@ and every query string removed (query keys carry API keys)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return REDACTED
    return f"{parts.scheme}://{netloc}{parts.path}" if parts.scheme else scrub(url)
