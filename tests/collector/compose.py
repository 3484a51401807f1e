"""collector/docker-compose.yml as `docker compose config` resolves it, without a Docker engine.

collector/compose-check is a small Go program on compose-go, the library `docker compose` loads
files with: the Compose Specification's JSON schema, interpolation, env files, profiles, then
normalization. It is built from its pinned go.mod once per go.sum (minutes only when the module
cache is cold) and run on a copy of collector/ where the secrets files are made from their
committed examples, as collector/README.md's first step says.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.collector.stack import COLLECTOR

COMPOSE = COLLECTOR / "docker-compose.yml"
CHECKER = COLLECTOR / "compose-check"
CACHE = Path(os.environ.get("OTEL_LLM_CACHE_DIR") or Path.home() / ".cache" / "otel-llm")
# What collector/README.md's step 1 makes from the committed examples.
EXAMPLES = {
    ".env.example": ".env",
    "litellm.env.example": "litellm.env",
    "secrets/slack-webhook-url.example": "secrets/slack-webhook-url",
}

_binary: Path | None = None


def _go() -> str:
    """The machine's Go, else the one collector/setup.sh fetched into the cache (as build.sh finds it)."""
    found = shutil.which("go") or next((str(p) for p in sorted(CACHE.glob("go1.*/bin/go"), reverse=True)), None)
    assert found, "Go is needed to build collector/compose-check: run collector/setup.sh"
    return found


def checker() -> Path:
    """The compose-check binary for the committed go.sum (built on first use, then cached)."""
    global _binary  # one build per test session
    if _binary is None:
        digest = hashlib.sha256((CHECKER / "go.sum").read_bytes() + (CHECKER / "main.go").read_bytes()).hexdigest()
        path = CACHE / f"compose-check-{digest[:16]}"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            result = subprocess.run(
                [_go(), "build", "-o", str(path), "."],
                cwd=CHECKER,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            assert result.returncode == 0, f"building collector/compose-check failed:\n{result.stderr[-3000:]}"
        _binary = path
    return _binary


def user_copy(workdir: Path, compose_text: str | None = None) -> Path:
    """collector/ copied to ``workdir`` with the secrets files made from their examples; the compose file's path."""
    target = workdir / "collector"
    shutil.copytree(COLLECTOR, target, ignore=shutil.ignore_patterns("compose-check", ".env", "litellm.env"))
    for example, real in EXAMPLES.items():
        shutil.copy(COLLECTOR / example, target / real)
    if compose_text is not None:
        (target / "docker-compose.yml").write_text(compose_text)
    return target / "docker-compose.yml"


def load(compose_file: Path, *profiles: str) -> subprocess.CompletedProcess[str]:
    """Run compose-check on ``compose_file`` with ``profiles`` (no COMPOSE_/OTEL_ variables leak in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "OTEL_", "POSTGRES_", "GF_"))}
    args = [str(checker())]
    for profile in profiles:
        args += ["-profile", profile]
    # From the compose file's directory, as `docker compose -f` resolves env_file paths there.
    command = [*args, compose_file.name]
    cwd = compose_file.parent
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60, check=False, env=env)


def resolved(workdir: Path, *profiles: str) -> dict[str, Any]:
    """The project `docker compose config` would print for a user who did step 1."""
    result = load(user_copy(workdir), *profiles)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))
