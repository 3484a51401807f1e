"""Keep secrets out of telemetry: error messages, URLs and free text are scrubbed here."""

from __future__ import annotations

import functools
import os
import re
import time
from collections.abc import Iterable, Mapping
from typing import Final
from urllib.parse import urlsplit

from . import _state
from ._shapes import encodable

REDACTED: Final = "[REDACTED]"

# user:password@ (or a lone token@) in a URL.
_URL_USERINFO: Final = re.compile(r"(?<=://)[^/\s]*(?=@)")

# Names under which credentials travel: headers, key=value pairs, JSON and Python reprs. Matched
# inside longer names too (aws_secret_access_key, x_api_key, client_secret, refresh_token), but not
# token counts (max_tokens, prompt_tokens).
_SECRET_NAME: Final = (
    r"[\w.-]*?(?:api[-_]?key|apikey|access[-_]?key|secret|token(?!s)|password|passwd|pwd|credentials?"
    r"|private[-_]?key|subscription[-_]?key|session|sig|signature|key)[\w.-]*"
)
# A value: quoted (JSON, escaped JSON inside a message, Python repr; may hold spaces), or a bare word.
_SECRET_VALUE: Final = r"(?:\\?\"(?:[^\"\\]|\\[^\"])*\\?\"|'[^']*'|[^\s&,;'\"\\}]+)"

_SECRET_PATTERNS: Final = (
    # PEM private keys, whole (escaped newlines and all).
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.S),
    # Authorization headers, whatever the scheme (Bearer, Basic, Token, Digest, …) and punctuation.
    re.compile(
        r"(?i)\b((?:proxy-)?authorization)((?:\\?['\"])?\s*[:=]\s*(?:\\?['\"])?)"
        r"(?:(?:bearer|basic|token|digest|negotiate|apikey)\b\s*:?\s*)?[^\s,;'\"\\}]+"
    ),
    # Cookies: the whole header value.
    re.compile(r"(?i)\b(cookie|set-cookie)((?:\\?['\"])?\s*:\s*(?:\\?['\"])?)[^\r\n'\"\\]+"),
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"),
    re.compile(rf"(?i)(?<![\w-])({_SECRET_NAME})((?:\\?['\"])?\s*[:=]\s*){_SECRET_VALUE}"),
    # Well-known key shapes: OpenAI/LiteLLM/Anthropic sk-, Stripe-style sk_live_, Google AIza, AWS
    # AKIA/ASIA, GitHub, GitLab, Slack, xAI, Groq, Hugging Face, Perplexity, Replicate, NVIDIA, JWTs,
    # and long hex strings (Azure OpenAI and other 32-hex keys).
    re.compile(r"\bsk-[A-Za-z0-9_-]{6,}"),
    re.compile(r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{10,}"),
    re.compile(r"\bAIza[0-9A-Za-z_-]{20,}"),
    re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{12,}"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),
    re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"),
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    re.compile(r"\b(?:xai|pplx|nvapi)-[A-Za-z0-9_-]{16,}"),
    re.compile(r"\b(?:gsk|hf|r8)_[A-Za-z0-9]{16,}"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"),
    re.compile(r"\b[0-9a-fA-F]{32,}\b"),
    _URL_USERINFO,
)

# Keys under which LiteLLM's kwargs and a deployment's litellm_params carry credentials, and
# environment variables that hold them: their exact values are removed from messages, whatever
# their shape (a provider echoing a key in its error).
_SECRET_KWARGS: Final = frozenset(
    {
        "api_key",
        "api_secret",
        "aws_secret_access_key",
        "aws_session_token",
        "azure_ad_token",
        "client_secret",
        "password",
        "token",
        "vertex_credentials",
    }
)
_SECRET_ENV_NAME: Final = re.compile(r"(?i)(KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL)")
_MIN_SECRET_LENGTH: Final = 8


def known_secrets(*sources: object) -> tuple[str, ...]:
    """Credential values this call could echo: from the given kwargs-like mappings and the environment."""
    found: set[str] = set()
    for source in sources:
        if isinstance(source, Mapping):
            for name in _SECRET_KWARGS:
                value = source.get(name)
                if isinstance(value, str) and len(value.strip()) >= _MIN_SECRET_LENGTH:
                    found.add(value.strip())
    found.update(_environment_secrets())
    # Longest first: a key that contains another is removed whole.
    return tuple(sorted(found, key=len, reverse=True))


_ENV_SECRETS_TTL_S: Final = 60.0
_env_secrets: tuple[float, frozenset[str]] | None = None


def _environment_secrets() -> frozenset[str]:
    """Credential values in the environment (``*KEY*``, ``*TOKEN*``, ...), read at most once a minute:
    errors can come in bursts, and the environment rarely changes (a rotated key within a minute)."""
    global _env_secrets
    now = time.monotonic()
    cached = _env_secrets
    if cached is not None and now - cached[0] < _ENV_SECRETS_TTL_S:
        return cached[1]
    values = frozenset(
        value
        for name, value in list(os.environ.items())
        if len(value) >= _MIN_SECRET_LENGTH and _SECRET_ENV_NAME.search(name)
    )
    _env_secrets = (now, values)
    return values


def _forget_environment_secrets() -> None:
    global _env_secrets
    _env_secrets = None


_state.register(
    "environment secrets",
    "the credential values an error message could echo, read from the process environment",
    _forget_environment_secrets,
)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace the given secret values, then anything that looks like a credential, in free text."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(_replacement, text)
    return text


def _replacement(match: re.Match[str]) -> str:
    groups = match.groups()
    # Keep the name of a key=value pair or header so the message stays readable.
    if len(groups) == 2 and groups[1] is not None and any(c in groups[1] for c in ":="):
        return f"{groups[0]}{groups[1]}{REDACTED}"
    return REDACTED


def server_of(url: object, max_length: int) -> tuple[str | None, int | None]:
    """The host (at most ``max_length`` characters, as every string attribute) and port of an API
    base URL, without credentials, path or query."""
    if not isinstance(url, str):
        return None, None
    host, port = _server_of(url)
    return (host[:max_length] if host is not None and len(host) > max_length else host), port


@functools.lru_cache(maxsize=1024)  # a deployment's few API bases, parsed once (one per attempt otherwise)
def _server_of(url: str) -> tuple[str | None, int | None]:
    text = url.strip()
    if not text:
        return None, None
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
    return encodable(host), port


def safe_url(url: str) -> str:
    """A URL with user:password@ and every query string removed (query keys carry API keys)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return REDACTED
    return f"{parts.scheme}://{netloc}{parts.path}" if parts.scheme else scrub(url)


# Query parameters that carry credentials (?key= for Gemini-style clients, ?api_key=, signed URLs).
_SECRET_QUERY_NAME: Final = re.compile(rf"(?i)^{_SECRET_NAME}$|^x-amz-(?:signature|credential|security-token)$|^code$")


def redact_query(text: str) -> str:
    """A query string (or a URL with one) with credential values and URL userinfo replaced; the
    rest kept for debugging."""
    head, sep, query = text.partition("?") if "://" in text or text.startswith("/") else ("", "", text)
    if head:
        head = _URL_USERINFO.sub(REDACTED, head)
    if not query:
        return head + sep
    fragment = ""
    if "#" in query:
        query, fragment = query.split("#", 1)
        fragment = "#" + fragment
    pairs = []
    for pair in query.split("&"):
        name, eq, _value = pair.partition("=")
        pairs.append(f"{name}={REDACTED}" if eq and _SECRET_QUERY_NAME.match(name) else pair)
    return head + sep + "&".join(pairs) + fragment
