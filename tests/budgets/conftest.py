"""One real PostgreSQL per test module, with LiteLLM's schema; tables emptied before each test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.budgets.postgres import Postgres

LITELLM_TABLES = (
    "LiteLLM_VerificationToken",
    "LiteLLM_TeamTable",
    "LiteLLM_UserTable",
    "LiteLLM_OrganizationTable",
    "LiteLLM_EndUserTable",
    "LiteLLM_BudgetTable",
)


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    server = Postgres()
    try:
        server.start()
        server.create_litellm_database()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def db(postgres: Postgres) -> Iterator[psycopg.Connection[Any]]:
    """LiteLLM's database, its budget tables empty, as LiteLLM's role."""
    with postgres.connect() as connection:
        tables = ", ".join(f'"{table}"' for table in LITELLM_TABLES)
        connection.execute(f"TRUNCATE {tables} CASCADE")
        yield connection
