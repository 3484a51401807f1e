"""A real PostgreSQL (the Debian package, installed by scripts/setup) with LiteLLM's own schema.

The schema is the SQL migrations ``litellm-proxy-extras`` ships (what LiteLLM's Prisma migrate
applies), run in order. PostgreSQL refuses to run as root: as root the server runs as the
``postgres`` user, in a temporary directory, on a free port of 127.0.0.1.
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

DB_USER = "litellm"
DB_PASSWORD = "pg-pw-7d2f9c1e5b3a"  # never to be exported or logged
DB_NAME = "litellm"


def _binaries() -> Path:
    """The directory of the newest installed PostgreSQL's server programs (Debian keeps them off PATH)."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    assert candidates, "PostgreSQL is installed by scripts/setup (apt-get install postgresql)"
    newest = max(candidates, key=lambda p: int(re.search(r"/(\d+)/bin/", p).group(1)))  # type: ignore[union-attr]
    return Path(newest).parent


def migrations() -> list[Path]:
    """LiteLLM's schema migrations, in the order Prisma applies them (their directory names)."""
    import litellm_proxy_extras

    root = Path(litellm_proxy_extras.__file__).parent / "migrations"
    found = sorted(root.glob("*/migration.sql"), key=lambda p: p.parent.name)
    assert len(found) > 100, f"litellm-proxy-extras migrations not found in {root}"
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Postgres:
    """One PostgreSQL server: ``start()``, ``stop()`` (and start again, same data and port), ``destroy()``."""

    def __init__(self) -> None:
        self.bin = _binaries()
        self.root = Path(tempfile.mkdtemp(prefix="otel-llm-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._as_postgres: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as_postgres = ["runuser", "-u", "postgres", "--"]
        superuser_password = self.root / "pw"
        superuser_password.write_text("postgres-superuser-pw\n")
        if self._as_postgres:
            os.chown(superuser_password, pwd.getpwnam("postgres").pw_uid, -1)
        self._run(
            str(self.bin / "initdb"),
            *("-D", str(self.data), "-U", "postgres", "-E", "UTF8", "--no-sync"),
            *("--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={superuser_password}"),
        )

    def _run(self, *command: str) -> None:
        subprocess.run([*self._as_postgres, *command], check=True, capture_output=True, timeout=60, cwd=self.root)

    @property
    def url(self) -> str:
        return f"postgresql://{DB_USER}:{DB_PASSWORD}@127.0.0.1:{self.port}/{DB_NAME}"

    def start(self) -> Postgres:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "log"),
            "-w",
            "-t",
            "30",
            "start",
        )
        return self

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")

    def destroy(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def superuser(self) -> psycopg.Connection[Any]:
        """A superuser session over the Unix socket (trusted)."""
        return psycopg.connect(host=str(self.root), port=self.port, user="postgres", dbname="postgres", autocommit=True)

    def create_litellm_database(self) -> None:
        """LiteLLM's role and database, with LiteLLM's schema applied from its migrations."""
        with self.superuser() as admin:
            admin.execute(f"CREATE ROLE {DB_USER} LOGIN PASSWORD '{DB_PASSWORD}'")
            admin.execute(f"CREATE DATABASE {DB_NAME} OWNER {DB_USER}")
        with self.connect() as db:
            for migration in migrations():
                db.execute(migration.read_text())

    def connect(self) -> psycopg.Connection[Any]:
        """A session as LiteLLM's role, over TCP with its password (as the proxy connects)."""
        return psycopg.connect(self.url, autocommit=True)


# --- rows as LiteLLM writes them -------------------------------------------------------------
def litellm_token(key: str) -> str:
    """What LiteLLM stores in LiteLLM_VerificationToken.token: the SHA-256 of the virtual key
    (litellm.proxy.utils.hash_token, applied by PrismaClient.insert_data)."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass
class KeyRow:
    """A virtual key as /key/generate writes it (generate_key_helper_fn's key_data)."""

    key: str
    key_alias: str | None = None
    team_id: str | None = None
    user_id: str | None = None
    spend: float = 0.0
    max_budget: float | None = None
    budget_duration: str | None = None
    budget_reset_at: datetime | None = None
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    blocked: bool | None = None
    expires: datetime | None = None
    organization_id: str | None = None


def insert_keys(db: psycopg.Connection[Any], keys: list[KeyRow]) -> None:
    with db.cursor() as cursor:
        cursor.executemany(
            'INSERT INTO "LiteLLM_VerificationToken" (token, key_name, key_alias, team_id, user_id, spend, '
            "max_budget, budget_duration, budget_reset_at, rpm_limit, tpm_limit, blocked, expires, organization_id, "
            "models, aliases, config, permissions, metadata, model_max_budget, budget_fallbacks, "
            "allowed_cache_controls, allowed_routes, created_by, updated_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, "
            "%s, %s, %s, %s, %s, %s, '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', 'admin', 'admin')",
            [
                (
                    litellm_token(k.key),
                    f"sk-...{k.key[-4:]}",  # abbreviate_api_key
                    k.key_alias,
                    k.team_id,
                    k.user_id,
                    k.spend,
                    k.max_budget,
                    k.budget_duration,
                    k.budget_reset_at,
                    k.rpm_limit,
                    k.tpm_limit,
                    k.blocked,
                    k.expires,
                    k.organization_id,
                )
                for k in keys
            ],
        )


def insert_team(
    db: psycopg.Connection[Any],
    team_id: str,
    team_alias: str | None = None,
    spend: float = 0.0,
    max_budget: float | None = None,
    budget_reset_at: datetime | None = None,
    rpm_limit: int | None = None,
    tpm_limit: int | None = None,
    blocked: bool = False,
    organization_id: str | None = None,
) -> None:
    """A team as /team/new writes it (the columns LiteLLM_TeamTable requires, and the budget ones)."""
    db.execute(
        'INSERT INTO "LiteLLM_TeamTable" (team_id, team_alias, spend, max_budget, budget_duration, budget_reset_at, '
        "rpm_limit, tpm_limit, blocked, organization_id, admins, members, models, updated_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, '{}', '{}', '{}', now())",
        (
            team_id,
            team_alias,
            spend,
            max_budget,
            "30d" if budget_reset_at else None,
            budget_reset_at,
            rpm_limit,
            tpm_limit,
            blocked,
            organization_id,
        ),
    )


def insert_budget(
    db: psycopg.Connection[Any], budget_id: str, max_budget: float | None, budget_reset_at: datetime | None = None
) -> None:
    """A LiteLLM_BudgetTable row (organisations and end users keep their budget there)."""
    db.execute(
        'INSERT INTO "LiteLLM_BudgetTable" (budget_id, max_budget, budget_duration, budget_reset_at, created_by, '
        "updated_by, updated_at) VALUES (%s, %s, %s, %s, 'admin', 'admin', now())",
        (budget_id, max_budget, "1d" if budget_reset_at else None, budget_reset_at),
    )


def insert_org(db: psycopg.Connection[Any], org_id: str, alias: str, budget_id: str, spend: float = 0.0) -> None:
    db.execute(
        'INSERT INTO "LiteLLM_OrganizationTable" (organization_id, organization_alias, budget_id, spend, models, '
        "created_by, updated_by, updated_at) VALUES (%s, %s, %s, %s, '{}', 'admin', 'admin', now())",
        (org_id, alias, budget_id, spend),
    )


def insert_user(
    db: psycopg.Connection[Any],
    user_id: str,
    spend: float = 0.0,
    max_budget: float | None = None,
    budget_reset_at: datetime | None = None,
) -> None:
    db.execute(
        'INSERT INTO "LiteLLM_UserTable" (user_id, spend, max_budget, budget_duration, budget_reset_at, models, '
        "user_role) VALUES (%s, %s, %s, %s, %s, '{}', 'internal_user')",
        (user_id, spend, max_budget, "7d" if budget_reset_at else None, budget_reset_at),
    )


def insert_end_user(
    db: psycopg.Connection[Any], user_id: str, spend: float = 0.0, budget_id: str | None = None, blocked: bool = False
) -> None:
    db.execute(
        'INSERT INTO "LiteLLM_EndUserTable" (user_id, spend, budget_id, blocked) VALUES (%s, %s, %s, %s)',
        (user_id, spend, budget_id, blocked),
    )
