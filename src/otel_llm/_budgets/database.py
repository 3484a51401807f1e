"""Where the budget poller reads: LiteLLM's PostgreSQL database, as a libpq connection.

LiteLLM's ``DATABASE_URL`` is a Prisma URL: the proxy's CLI appends Prisma's pool parameters
(``connection_limit``, ``pool_timeout``, ``pgbouncer``…) that libpq refuses, and ``schema=``
names the PostgreSQL schema of LiteLLM's tables. They are dropped (the schema kept) before
the URL reaches libpq. The URL carries the database password: it is never logged or
echoed, and error messages are scrubbed of it before they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from .._parse import POSTGRES_SCHEMES

if TYPE_CHECKING:
    import psycopg

# Prisma's own URL parameters (https://www.prisma.io/docs/orm/overview/databases/postgresql),
# which libpq does not know; ``schema`` is read, not passed.
PRISMA_ONLY: Final = frozenset(
    {
        "schema",
        "connection_limit",
        "pool_timeout",
        "socket_timeout",
        "pgbouncer",
        "statement_cache_size",
        "sslidentity",
        "sslaccept",
        "max_connection_lifetime",
        "max_idle_connection_lifetime",
    }
)
APPLICATION_NAME: Final = "otel-llm budget poller"
CONNECT_TIMEOUT_S: Final = 5
# Client and server TCP keepalives: a holder whose host vanished (no FIN, no RST) loses its session,
# and with it the lock, within about a minute instead of the kernel's default two hours.
_KEEPALIVE: Final = {"keepalives": "1", "keepalives_idle": "30", "keepalives_interval": "10", "keepalives_count": "3"}
# Sent as one simple query (several statements, no parameters).
_SESSION: Final = (
    "SET TimeZone = 'UTC';"  # LiteLLM's timestamps are UTC without a time zone
    " SET statement_timeout = 10000;"
    " SET lock_timeout = 2000;"  # never queue behind a migration's exclusive lock
    " SET idle_in_transaction_session_timeout = 30000;"
    " SET default_transaction_read_only = on;"  # the poller only reads
    " SET tcp_keepalives_idle = 30; SET tcp_keepalives_interval = 10; SET tcp_keepalives_count = 3"
)


class DatabaseUrlError(ValueError):
    """A database URL the poller cannot use; the message names the setting and the fix, never the URL."""


@dataclass(frozen=True)
class Target:
    """A libpq connection (keyword parameters), the schema of LiteLLM's tables, and where it came from."""

    source: str  # the variable that gave the URL
    schema: str
    params: Mapping[str, str] = field(repr=False)
    secrets: tuple[str, ...] = field(repr=False, default=())

    def scrub(self, message: str) -> str:
        """``message`` without the password or anything else secret of the URL."""
        for secret in self.secrets:
            if secret:
                message = message.replace(secret, "***")
        return message


def resolve_target(explicit_url: str | None, env: Mapping[str, str]) -> Target | None:
    """The database to poll: ``explicit_url`` (OTEL_LLM_BUDGET_DATABASE_URL), else LiteLLM's
    DATABASE_URL; None when neither is set. Raises DatabaseUrlError for a URL libpq cannot use."""
    fix = "set OTEL_LLM_BUDGET_DATABASE_URL=postgresql://user:password@host:5432/dbname, or OTEL_LLM_BUDGET_POLL=false"
    if explicit_url:
        url, source = explicit_url.strip(), "OTEL_LLM_BUDGET_DATABASE_URL"
    else:
        url, source = env.get("DATABASE_URL", "").strip(), "DATABASE_URL"
        if not url:
            return None
        if _transaction_pooled(url, env):
            url, source = env.get("DIRECT_URL", "").strip(), "DIRECT_URL"
            if not url:
                raise DatabaseUrlError(
                    "DATABASE_URL goes through PgBouncer in transaction mode (pgbouncer=true, or LiteLLM's own "
                    "PgBouncer), where the budget poller's session-level lock cannot hold, so budgets are not read "
                    "from it: set DIRECT_URL or OTEL_LLM_BUDGET_DATABASE_URL to a direct connection "
                    "(postgresql://user:password@host:5432/dbname), or OTEL_LLM_BUDGET_POLL=false"
                )
    if not url.lower().startswith(POSTGRES_SCHEMES):
        raise DatabaseUrlError(f"{source} is not a postgresql:// URL, so budgets cannot be read from it: {fix}")
    base, _, query = url.partition("?")
    # libpq decodes %XX in URIs, not "+": re-encoded with quote, "-c statement_timeout=5000" (LiteLLM's
    # options) stays what it was.
    secrets = _secrets_of(base)
    schema = "public"
    kept: list[tuple[str, str]] = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name == "schema":
            schema = value or "public"
        elif name in PRISMA_ONLY:
            continue
        elif name == "sslcert" and source == "DATABASE_URL":
            kept.append(("sslrootcert", value))  # Prisma's sslcert is the server's CA certificate
        else:
            if name in ("password", "sslpassword"):
                secrets = (*secrets, value)
            kept.append((name, value))
    try:
        from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415  # the proxy extra

        params = conninfo_to_dict(f"{base}?{urlencode(kept, quote_via=quote)}" if kept else base)
    except ImportError:
        raise
    except Exception as error:  # noqa: BLE001  # libpq's message may quote the URL: name only its type
        raise DatabaseUrlError(
            f"{source} is not a PostgreSQL URL libpq accepts ({type(error).__name__}), so budgets cannot be read "
            f"from it: {fix}"
        ) from None
    connection = {k: str(v) for k, v in params.items() if v is not None}
    secrets = (*secrets, connection.get("password", ""), connection.get("sslpassword", ""))
    return Target(source, schema, connection, tuple(s for s in secrets if s))


def _transaction_pooled(url: str, env: Mapping[str, str]) -> bool:
    """Whether LiteLLM's DATABASE_URL goes through a transaction pooler: Prisma's ``pgbouncer=true``
    (LiteLLM sets it for PgBouncer), or LiteLLM's in-container PgBouncer (which rewrites DATABASE_URL)."""
    if env.get("LITELLM_PGBOUNCER_POOLED_DATABASE_URL", "").strip().lower() == "true":
        return True
    query = url.partition("?")[2]
    return any(k == "pgbouncer" and v.strip().lower() in ("true", "1") for k, v in parse_qsl(query))


def _secrets_of(base: str) -> tuple[str, ...]:
    """The URL's user information (raw and decoded) and the URL itself: never to appear in a log line."""
    try:
        parts = urlsplit(base)
        password = parts.password or ""
    except ValueError:  # several hosts (h1:5432,h2:5432) are not a netloc urlsplit parses
        password = ""
        netloc = base.split("://", 1)[-1].split("/", 1)[0]
        if "@" in netloc:
            password = netloc.rsplit("@", 1)[0].partition(":")[2]
    return tuple(s for s in (base, password, unquote(password)) if s)


def connect(target: Target) -> psycopg.Connection[Any]:
    """A session on ``target``: autocommit, TCP keepalives, no server-side prepared statements
    (PgBouncer and LiteLLM's rolling migrations tolerate no cached plans). ``configure`` it before
    reading: standbys, which only try the lock, skip that round trip."""
    import psycopg  # noqa: PLC0415  # the proxy extra; imported only when a database is configured

    params: dict[str, Any] = dict(target.params)
    params.setdefault("connect_timeout", str(CONNECT_TIMEOUT_S))
    params["application_name"] = APPLICATION_NAME
    if not params.get("host", "").startswith("/"):  # keepalives are for TCP, not Unix sockets
        for name, value in _KEEPALIVE.items():
            params.setdefault(name, value)
    return psycopg.connect(autocommit=True, prepare_threshold=None, **params)


def configure(connection: psycopg.Connection[Any]) -> None:
    """Read-only, UTC, bounded statements, server-side keepalives: one round trip."""
    connection.execute(_SESSION)
