"""A pass-through call the provider failed, as the logging payload LiteLLM does not send.

The proxy's pass-through routes (``/anthropic/...``, ``/openai/...``) relay a provider's HTTP
error to the client and report it only through ``async_post_call_failure_hook``, never to the
failure callbacks: without this, an overloaded provider behind a pass-through route would show
as nothing but the SERVER span's status. The hook's ``request_data`` carries the call id, the
model, the provider URL and the start time; the exception carries the provider's status.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Final

from .._capture.fields import text
from .._names import NO_UPSTREAM_LLM_CALL_KEY
from .._providers import PASS_THROUGH_CALL_TYPE
from .._shapes import mapping

# The provider's HTTP status → the LiteLLM exception class its unified routes raise for it, so
# error.type reads the same whichever route a caller used.
_ERROR_CLASSES: Final = {
    400: "BadRequestError",
    401: "AuthenticationError",
    403: "PermissionDeniedError",
    404: "NotFoundError",
    408: "Timeout",
    422: "UnprocessableEntityError",
    429: "RateLimitError",
    503: "ServiceUnavailableError",
}


# The provider pass-through routes LiteLLM serves, by their first path segment (LiteLLM's
# provider names): the provider of a failed call its request data does not name.
_PROVIDER_ROUTES: Final = frozenset(
    {"anthropic", "openai", "azure", "vertex_ai", "gemini", "bedrock", "cohere", "mistral"}
)


def _route_provider(route: str | None) -> str | None:
    head = (route or "").lstrip("/").partition("/")[0]
    return head if head in _PROVIDER_ROUTES else None


def error_class(status: int) -> str:
    return _ERROR_CLASSES.get(status) or ("InternalServerError" if status >= 500 else str(status))


def failure_payload(request_data: Mapping[str, Any], error: BaseException, user: Any) -> dict[str, Any] | None:
    """The ``standard_logging_object`` of a failed pass-through call, or None when this failure is
    not one (another route, a refusal before any provider call, no provider status)."""
    if request_data.get("call_type") != PASS_THROUGH_CALL_TYPE or request_data.get(NO_UPSTREAM_LLM_CALL_KEY):
        return None
    status = getattr(error, "status_code", None)
    if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
        return None
    metadata = {
        "user_api_key_hash": text(getattr(user, "token", None), 256),
        "user_api_key_alias": text(getattr(user, "key_alias", None), 256),
        "user_api_key_team_id": text(getattr(user, "team_id", None), 256),
        "user_api_key_team_alias": text(getattr(user, "team_alias", None), 256),
        "user_api_key_user_id": text(getattr(user, "user_id", None), 256),
        "user_api_key_org_id": text(getattr(user, "org_id", None), 256),
    }
    return {
        "litellm_call_id": request_data.get("litellm_call_id"),
        "call_type": PASS_THROUGH_CALL_TYPE,
        "model": request_data.get("model"),
        "custom_llm_provider": request_data.get("custom_llm_provider")
        or mapping(request_data.get("litellm_params")).get("custom_llm_provider")
        or _route_provider(text(getattr(user, "request_route", None), 256)),
        "api_base": mapping(request_data.get("passthrough_logging_payload")).get("url"),
        "stream": request_data.get("stream") is True,
        "startTime": request_data.get("start_time"),
        "endTime": time.time(),
        "status": "failure",
        "error_information": {"error_class": error_class(status), "error_code": str(status)},
        "metadata": metadata,
    }
