"""The doctor's master key and key hash checks: the key as the proxy resolves it at start-up.

LiteLLM takes ``general_settings.master_key`` when the config has it (a literal, or
``os.environ/NAME`` read from the environment), else ``LITELLM_MASTER_KEY``. otel-llm salts
virtual key hashes with ``OTEL_LLM_KEY_HASH_SALT``, else with a secret derived from that
running master key, else with a random per-process salt.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._config import settings_of
from .findings import ERROR, OK, WARN, Finding, section

MASTER_KEY_ENV = "LITELLM_MASTER_KEY"
SALT_ENV = "OTEL_LLM_KEY_HASH_SALT"
_ENV_REFERENCE = "os.environ/"
_NEW_KEY = "sk-$(openssl rand -hex 32)"


def _set(value: object) -> bool:
    return value is not None and str(value).strip() != ""


def _config_master_key(env: Mapping[str, str], config: Mapping[str, Any]) -> tuple[bool, Finding]:
    """Whether the proxy has a master key, and the finding that says so (config given)."""
    general = section(config, "general_settings")
    if "master_key" not in general:
        if _set(env.get(MASTER_KEY_ENV)):
            return True, Finding(OK, "master key", f"a master key is set ({MASTER_KEY_ENV})")
        return False, _no_master_key()
    raw = general["master_key"]
    if isinstance(raw, str) and raw.startswith(_ENV_REFERENCE):
        name = raw.removeprefix(_ENV_REFERENCE)
        if _set(env.get(name)):
            return True, Finding(OK, "master key", f"a master key is set (general_settings.master_key reads {name})")
        vault = general.get("key_management_system")
        if vault:
            return False, Finding(
                WARN,
                "master key",
                f"general_settings.master_key is {raw} and {name} is not in this environment: it may come "
                f"from the key_management_system ({vault}), which the doctor cannot read",
                f"make sure {name} is in the secret manager, or set it in the proxy's environment",
            )
        return False, Finding(
            ERROR,
            "master key",
            f"general_settings.master_key is {raw} but {name} is not set (or empty): the proxy refuses to "
            "start (UnsafeMasterKeyError)",
            f'set {name} in the proxy\'s environment, e.g. {name}="{_NEW_KEY}"',
        )
    if _set(raw):
        return True, Finding(OK, "master key", "a master key is set (written in general_settings.master_key)")
    return False, _no_master_key()


def _no_master_key() -> Finding:
    return Finding(
        ERROR,
        "master key",
        "no master key: the proxy refuses to start (or accepts every request unauthenticated)",
        f"set {MASTER_KEY_ENV} (or general_settings.master_key: os.environ/{MASTER_KEY_ENV})",
    )


def _environment_master_key(env: Mapping[str, str]) -> tuple[bool, Finding]:
    """Whether the proxy has a master key, and the finding that says so (no config given)."""
    if _set(env.get(MASTER_KEY_ENV)):
        return True, Finding(OK, "master key", f"a master key is set ({MASTER_KEY_ENV})")
    return False, Finding(
        WARN,
        "master key",
        f"skipped: {MASTER_KEY_ENV} is not set, and general_settings.master_key needs --config to be checked",
        "pass --config config.yaml",
    )


def check_master_key(env: Mapping[str, str], config: Mapping[str, Any] | None) -> list[Finding]:
    """The master key the proxy will run with, and how virtual key hashes are salted."""
    has_key, finding = _environment_master_key(env) if config is None else _config_master_key(env, config)
    if settings_of(env).key_hash_salt:
        salt = Finding(OK, "key hashes", f"virtual key hashes are salted with {SALT_ENV}")
    elif has_key:
        salt = Finding(OK, "key hashes", "virtual key hashes are salted with a secret derived from the master key")
    else:
        why = f"{SALT_ENV} is not set and the proxy has no master key"
        fix = f"set {SALT_ENV} to a secret shared by all workers and replicas"
        if config is None:
            why = f"neither {SALT_ENV} nor {MASTER_KEY_ENV} is set (and no --config to find a master key in)"
            fix += " (or pass --config config.yaml)"
        salt = Finding(
            WARN,
            "key hashes",
            f"{why}: virtual key hashes use a random per-process salt, so they differ across workers and restarts",
            fix,
        )
    return [finding, salt]
