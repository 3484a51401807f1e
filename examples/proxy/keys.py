"""Virtual keys without LiteLLM's database, for trying the walkthrough (config.no-db.yaml).

LiteLLM's ``general_settings.custom_auth`` hook returns, for each known key, what LiteLLM would
read from its database: alias, team, budget, spend and rpm/tpm limits. The proxy then enforces the
limits in memory and passes the key's metadata to otel-llm, exactly as with database keys. Keys come
from keys.yaml beside this file (``OTEL_LLM_EXAMPLE_KEYS`` names another file); copy
keys.example.yaml and put real secrets in it. Spend is not tracked without a database.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from fastapi import HTTPException, Request
from litellm.proxy._types import UserAPIKeyAuth

FIELDS = {
    "key_alias",
    "team_id",
    "team_alias",
    "user_id",
    "max_budget",
    "spend",
    "rpm_limit",
    "tpm_limit",
    "team_max_budget",
    "team_spend",
    "team_rpm_limit",
    "team_tpm_limit",
}


def load_keys(path: Path) -> dict[str, dict[str, Any]]:
    """The keys file as {key: UserAPIKeyAuth fields}; a clear error naming the fix when it is wrong."""
    if not path.is_file():
        raise RuntimeError(f"{path} not found: cp examples/proxy/keys.example.yaml {path} and set your own keys")
    entries = (yaml.safe_load(path.read_text()) or {}).get("keys") or []
    keys: dict[str, dict[str, Any]] = {}
    for number, entry in enumerate(entries, start=1):
        key = str(entry.get("key", ""))
        if not key.startswith("sk-") or "replace-me" in key:
            raise RuntimeError(f"{path}, key {number}: set `key` to a secret of your own starting with sk-")
        unknown = set(entry) - FIELDS - {"key"}
        if unknown:
            raise RuntimeError(f"{path}, key {number}: unknown fields {sorted(unknown)}; known: {sorted(FIELDS)}")
        keys[key] = {name: value for name, value in entry.items() if name != "key"}
    return keys


KEYS = load_keys(Path(os.environ.get("OTEL_LLM_EXAMPLE_KEYS") or Path(__file__).with_name("keys.yaml")))


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    """LiteLLM's custom_auth hook: the key's record, or 401."""
    info = KEYS.get(api_key)
    if info is None:
        raise HTTPException(status_code=401, detail="unknown key")
    return UserAPIKeyAuth(api_key=api_key, **info)
