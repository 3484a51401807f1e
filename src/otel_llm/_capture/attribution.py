"""Who made the call, and how much headroom they have left (LiteLLM proxy metadata).

Virtual keys appear only as their alias and as a salted hash: never the key, and never
LiteLLM's unsalted SHA-256 ``user_api_key_hash`` (anyone holding a candidate key could
confirm it against that).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import os
import secrets
import sys
import time
from collections.abc import Mapping
from typing import Final

from .. import _state, _validation
from .._record import NO_HEADROOM, Attribution, Headroom
from .._shapes import mapping
from .fields import count, money, strings, text

_log: Final = logging.getLogger("otel_llm")
_SALT_CONTEXT: Final = b"otel-llm virtual key hash v1"
_salt: bytes | None = None


def key_hash_salt() -> bytes:
    """OTEL_LLM_KEY_HASH_SALT, else derived from the proxy's master key (LITELLM_MASTER_KEY, or the
    running proxy's from config.yaml), else random per process."""
    global _salt
    if _salt is not None:
        return _salt
    configured = _validation.read("OTEL_LLM_KEY_HASH_SALT")
    master = os.environ.get("LITELLM_MASTER_KEY", "").strip() or _running_proxy_master_key()
    if isinstance(configured, str) and configured:
        _salt = configured.encode()
    elif master:
        # Stable across workers and replicas that share the master key, and secret with it.
        _salt = hmac.new(master.encode(), _SALT_CONTEXT, hashlib.sha256).digest()
    else:
        _salt = secrets.token_bytes(32)
        _log.warning(
            "otel-llm: neither OTEL_LLM_KEY_HASH_SALT nor a proxy master key is set; virtual key hashes "
            "use a random per-process salt and will differ between workers. Set OTEL_LLM_KEY_HASH_SALT "
            "to the same secret on every worker and replica."
        )
    return _salt


def _running_proxy_master_key() -> str:
    """The master key the LiteLLM proxy in this process runs with, however config.yaml gave it
    (a literal, or ``os.environ/NAME``): the same on every worker that loads the same config."""
    server = sys.modules.get("litellm.proxy.proxy_server")
    master = getattr(server, "master_key", None)
    return master.strip() if isinstance(master, str) else ""


def reset_salt() -> None:
    """Forget the cached salt and key hashes (tests, or after the environment changed)."""
    global _salt
    _salt = None
    salted_key_hash.cache_clear()
    _agent_names.clear()


@functools.lru_cache(maxsize=4096)
def salted_key_hash(key_identity: str) -> str:
    """A stable, non-reversible id for a virtual key (16 hex characters); cached per key."""
    return hmac.new(key_hash_salt(), key_identity.encode(), hashlib.sha256).hexdigest()[:16]


def read_attribution(metadata: Mapping[str, object], payload: Mapping[str, object], limit: int) -> Attribution:
    """Key, team, user, end user, organisation and tags from LiteLLM's logging metadata."""
    identity = text(metadata.get("user_api_key_hash"), 256) or text(metadata.get("user_api_key"), 256)
    return Attribution(
        key_alias=text(metadata.get("user_api_key_alias"), limit),
        key_hash=salted_key_hash(identity) if identity else None,
        team_id=text(metadata.get("user_api_key_team_id"), limit),
        team_alias=text(metadata.get("user_api_key_team_alias"), limit),
        user_id=text(metadata.get("user_api_key_user_id"), limit),
        end_user=text(payload.get("end_user"), limit) or text(metadata.get("user_api_key_end_user_id"), limit),
        org_id=text(metadata.get("user_api_key_org_id"), limit),
        tags=strings(payload.get("request_tags"), limit, limit=32),
    )


def read_agent(
    sources: tuple[str, ...],
    request_metadata: Mapping[str, object],
    metadata: Mapping[str, object],
    tags: tuple[str, ...],
    limit: int,
) -> tuple[str | None, str | None]:
    """(agent id, agent name): the first of ``sources`` (OTEL_LLM_AGENT_FROM) that names the agent
    (``metadata.<key>`` in the request's or the logging metadata, ``tag.<prefix>`` in the request
    tags), and its name from the request metadata's ``agent_name`` or LiteLLM's agent registry."""
    agent: str | None = None
    for source in sources:
        if source.startswith("metadata."):
            key = source[len("metadata.") :]
            agent = text(request_metadata.get(key), limit) or text(metadata.get(key), limit)
        elif source.startswith("tag."):
            prefix = source[len("tag.") :]
            agent = next((tag[len(prefix) :] for tag in tags if tag.startswith(prefix) and tag != prefix), None)
        if agent:
            break
    if not agent:
        return None, None
    name = text(request_metadata.get("agent_name"), limit) or text(metadata.get("agent_name"), limit)
    return agent, name or _registered_agent_name(agent, limit)


_AGENT_NAMES_TTL_S: Final = 60.0
_agent_names: dict[str, tuple[str | None, float]] = {}


def _registered_agent_name(agent_id: str, limit: int) -> str | None:
    """The name LiteLLM's agent registry (proxy) gives ``agent_id``, looked up at most once a minute."""
    now = time.monotonic()
    cached = _agent_names.get(agent_id)
    if cached is not None and now - cached[1] < _AGENT_NAMES_TTL_S:
        return cached[0]
    registry = getattr(sys.modules.get("litellm.proxy.agent_endpoints.agent_registry"), "global_agent_registry", None)
    name = None
    lookup = getattr(registry, "get_agent_by_id", None)
    if callable(lookup):
        try:
            name = text(getattr(lookup(agent_id), "agent_name", None), limit)
        except Exception:  # noqa: BLE001  # LiteLLM's registry raising: no name, not a lost call
            name = None
    if len(_agent_names) >= 4096:
        _agent_names.clear()
    _agent_names[agent_id] = (name, now)
    return name


def _header(headers: Mapping[str, object], *names: str) -> int | None:
    for name in names:
        value = count(headers.get(name))
        if value is not None:
            return value
    return None


def read_headroom(metadata: Mapping[str, object], hidden_params: Mapping[str, object]) -> Headroom:
    """Budgets from the key's metadata; rate limits from LiteLLM's and the provider's headers."""
    headers = mapping(hidden_params.get("additional_headers"))
    if not headers and not metadata:
        return NO_HEADROOM  # an SDK call without a proxy key or rate-limit headers (immutable)
    key_spend = money(metadata.get("user_api_key_spend"))
    key_max_budget = money(metadata.get("user_api_key_max_budget"))
    team_spend = money(metadata.get("user_api_key_team_spend"))
    team_max_budget = money(metadata.get("user_api_key_team_max_budget"))
    if not headers:  # no rate-limit headers: none of the twelve reads below can find one
        if key_spend is None and key_max_budget is None and team_spend is None and team_max_budget is None:
            return NO_HEADROOM  # an SDK call's metadata: nothing of a key's budget in it
        return Headroom(key_spend, key_max_budget, team_spend, team_max_budget)
    return Headroom(
        key_spend,
        key_max_budget,
        team_spend,
        team_max_budget,
        key_rpm_limit=_header(headers, "x-ratelimit-api_key-limit-requests"),
        key_rpm_remaining=_header(headers, "x-ratelimit-api_key-remaining-requests"),
        key_tpm_limit=_header(headers, "x-ratelimit-api_key-limit-tokens"),
        key_tpm_remaining=_header(headers, "x-ratelimit-api_key-remaining-tokens"),
        team_rpm_limit=_header(headers, "x-ratelimit-team-limit-requests"),
        team_rpm_remaining=_header(headers, "x-ratelimit-team-remaining-requests"),
        team_tpm_limit=_header(headers, "x-ratelimit-team-limit-tokens"),
        team_tpm_remaining=_header(headers, "x-ratelimit-team-remaining-tokens"),
        provider_remaining_requests=_header(
            headers, "llm_provider-x-ratelimit-remaining-requests", "x-ratelimit-remaining-requests"
        ),
        provider_remaining_tokens=_header(
            headers, "llm_provider-x-ratelimit-remaining-tokens", "x-ratelimit-remaining-tokens"
        ),
        provider_limit_requests=_header(
            headers, "llm_provider-x-ratelimit-limit-requests", "x-ratelimit-limit-requests"
        ),
        provider_limit_tokens=_header(headers, "llm_provider-x-ratelimit-limit-tokens", "x-ratelimit-limit-tokens"),
    )


def key_attribution(user_api_key_auth: object, limit: int) -> Attribution:
    """Who a proxy hook's ``UserAPIKeyAuth`` names: the key (salted hash of LiteLLM's token, as the
    request path exports it), its alias, team, user, org and end user."""
    token = text(getattr(user_api_key_auth, "token", None), 256)
    return Attribution(
        key_alias=text(getattr(user_api_key_auth, "key_alias", None), limit),
        key_hash=salted_key_hash(token) if token else None,
        team_id=text(getattr(user_api_key_auth, "team_id", None), limit),
        team_alias=text(getattr(user_api_key_auth, "team_alias", None), limit),
        user_id=text(getattr(user_api_key_auth, "user_id", None), limit),
        end_user=text(getattr(user_api_key_auth, "end_user_id", None), limit),
        org_id=text(getattr(user_api_key_auth, "org_id", None), limit),
    )


_state.register(
    "key-hash salt",
    "every callback and worker must hash a key the same way: one salt per process, from its settings",
    reset_salt,
)
