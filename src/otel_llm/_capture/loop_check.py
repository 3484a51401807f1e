"""The loop guard at LiteLLM's entry points (SDK) — block mode raises before the provider is called."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._emit.telemetry import Telemetry
from .._loop.guard import LoopBlockedError, refusal
from .._record import Attribution
from .attribution import salted_key_hash
from .fields import text
from .parent import metadata_of


def check_loop_guard(telemetry: Telemetry, kwargs: Mapping[str, Any], model: str | None) -> None:
    """Raise LoopBlockedError if this caller is cooling down from a detected loop (block mode)."""
    config = telemetry.config
    if config.loop_mode != "block":
        return
    metadata = metadata_of(kwargs)
    identity = text(metadata.get("user_api_key_hash"), 256)
    key_hash = salted_key_hash(identity) if identity else None
    end_user = text(kwargs.get("user"), 256) or text(metadata.get("user_api_key_end_user_id"), 256)
    session = text(kwargs.get("litellm_session_id"), 256)
    requested = text(metadata.get("original_model_group"), 256) or text(metadata.get("model_group"), 256) or model
    block = refusal(config, key_hash, end_user, session, requested)
    if block is None:
        return
    alias = text(metadata.get("user_api_key_alias"), 256)
    telemetry.record_loop_refusal(block.reason, Attribution(key_alias=alias, key_hash=key_hash), model_group=requested)
    who = f"key {alias!r}" if alias else (f"end user {end_user!r}" if end_user else "this process")
    raise LoopBlockedError(block, f"{who} calling {requested!r}")
