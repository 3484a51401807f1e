"""What the budget poller reads from LiteLLM's tables, and the queries that read it, page by page.

LiteLLM's schema grows with its releases (``litellm-proxy-extras`` migrations), so the queries
are built from the columns the database actually has (``information_schema``): a column an
older LiteLLM lacks reads as NULL, a table it lacks is skipped. Pages are keyset pages on the
table's primary key (an index scan each, however deep the page), read in autocommit: no
statement or transaction outlives a page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

# LiteLLM's team of UI session tokens (litellm.constants.UI_SESSION_TOKEN_TEAM_ID): one short-lived
# key per dashboard login, not a virtual key anyone budgets. LiteLLM's own budget metrics skip it too.
UI_SESSION_TEAM: Final = "litellm-dashboard"
PAGE_ROWS: Final = 1000

Kind = Literal["text", "number", "time", "flag"]
Columns = Mapping[str, frozenset[str]]  # table name -> its columns


@dataclass(frozen=True)
class Field:
    """One value read per row: ``alias.column`` (``m`` is the entity's own table), of ``kind``."""

    name: str
    alias: str
    column: str
    kind: Kind


@dataclass(frozen=True)
class Join:
    """A LEFT JOIN of ``table`` as ``alias`` on ``m.<main_column> = <alias>.<column>``."""

    alias: str
    table: str
    main_column: str
    column: str


@dataclass(frozen=True)
class Entity:
    """One kind of budget holder: its table, key column, the fields read and which rows count."""

    name: str
    table: str
    id_column: str
    fields: tuple[Field, ...]
    joins: tuple[Join, ...] = ()
    # SQL conditions on the main table (alias m), given its columns.
    where: Callable[[frozenset[str]], list[str]] = lambda columns: []


def _key_rows(columns: frozenset[str]) -> list[str]:
    conditions = []
    if "team_id" in columns:
        conditions.append(f"(m.team_id IS NULL OR m.team_id <> '{UI_SESSION_TEAM}')")
    if "expires" in columns:  # an expired key is refused by LiteLLM whatever its budget
        conditions.append("(m.expires IS NULL OR m.expires > now())")
    return conditions


def _budgeted_end_users(columns: frozenset[str]) -> list[str]:
    # LiteLLM records every end user it sees; only those with a budget (or blocked) have budget state.
    have = [c for c in (("m.budget_id IS NOT NULL", "budget_id"), ("m.blocked", "blocked")) if c[1] in columns]
    return [f"({' OR '.join(c[0] for c in have)})"] if have else ["false"]


def _limits(alias: str) -> tuple[Field, ...]:
    return (
        Field("max_budget", alias, "max_budget", "number"),
        Field("reset_time", alias, "budget_reset_at", "time"),
        Field("rpm_limit", alias, "rpm_limit", "number"),
        Field("tpm_limit", alias, "tpm_limit", "number"),
    )


_BUDGET_TABLE: Final = "LiteLLM_BudgetTable"
ENTITIES: Final = (
    Entity(
        "key",
        "LiteLLM_VerificationToken",
        "token",
        (
            Field("key_alias", "m", "key_alias", "text"),
            Field("team_id", "m", "team_id", "text"),
            Field("team_alias", "t", "team_alias", "text"),
            Field("spend", "m", "spend", "number"),
            *_limits("m"),
            Field("blocked", "m", "blocked", "flag"),
        ),
        (Join("t", "LiteLLM_TeamTable", "team_id", "team_id"),),
        _key_rows,
    ),
    Entity(
        "team",
        "LiteLLM_TeamTable",
        "team_id",
        (
            Field("team_alias", "m", "team_alias", "text"),
            Field("spend", "m", "spend", "number"),
            *_limits("m"),
            Field("blocked", "m", "blocked", "flag"),
        ),
        where=lambda columns: [f"m.team_id <> '{UI_SESSION_TEAM}'"],
    ),
    Entity(
        "user",
        "LiteLLM_UserTable",
        "user_id",
        (Field("spend", "m", "spend", "number"), *_limits("m")[:2]),
    ),
    Entity(
        "org",
        "LiteLLM_OrganizationTable",
        "organization_id",
        (
            Field("org_alias", "m", "organization_alias", "text"),
            Field("spend", "m", "spend", "number"),
            *_limits("b")[:2],
        ),
        (Join("b", _BUDGET_TABLE, "budget_id", "budget_id"),),
    ),
    Entity(
        "end_user",
        "LiteLLM_EndUserTable",
        "user_id",
        (
            Field("spend", "m", "spend", "number"),
            *_limits("b")[:2],
            Field("blocked", "m", "blocked", "flag"),
        ),
        (Join("b", _BUDGET_TABLE, "budget_id", "budget_id"),),
        _budgeted_end_users,
    ),
)
TABLES: Final = frozenset({e.table for e in ENTITIES} | {j.table for e in ENTITIES for j in e.joins})


def discover(connection: psycopg.Connection[Any], schema: str) -> dict[str, frozenset[str]]:
    """The columns of each LiteLLM table the poller reads, as this database has them."""
    rows = connection.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s "
        "AND table_name = ANY(%s)",
        (schema, sorted(TABLES)),
    ).fetchall()
    found: dict[str, set[str]] = {}
    for table, column in rows:
        found.setdefault(table, set()).add(column)
    return {table: frozenset(columns) for table, columns in found.items()}


class Query:
    """An entity's page query on one database (its columns), first page and next pages."""

    def __init__(self, entity: Entity, schema: str, columns: Columns) -> None:
        from psycopg import sql  # noqa: PLC0415  # the proxy extra

        self.entity = entity
        main = columns[entity.table]
        tables = {"m": (entity.table, main)}
        joins = []
        for join in entity.joins:
            joined = columns.get(join.table)
            if joined is None or join.main_column not in main or join.column not in joined:
                continue
            tables[join.alias] = (join.table, joined)
            joins.append(
                sql.SQL(" LEFT JOIN {}.{} AS {} ON m.{} = {}.{}").format(
                    sql.Identifier(schema),
                    sql.Identifier(join.table),
                    sql.Identifier(join.alias),
                    sql.Identifier(join.main_column),
                    sql.Identifier(join.alias),
                    sql.Identifier(join.column),
                )
            )
        selected: list[sql.Composable] = [sql.SQL("m.{}").format(sql.Identifier(entity.id_column))]
        for field in entity.fields:
            table = tables.get(field.alias)
            selected.append(_expression(field, table is not None and field.column in table[1]))
        conditions: list[sql.Composable] = [sql.SQL(condition) for condition in entity.where(main)]
        head = sql.SQL("SELECT {} FROM {}.{} AS m{}").format(
            sql.SQL(", ").join(selected),
            sql.Identifier(schema),
            sql.Identifier(entity.table),
            sql.SQL("").join(joins),
        )
        key = sql.SQL("m.{}").format(sql.Identifier(entity.id_column))
        tail = sql.SQL(" ORDER BY {} LIMIT %(limit)s").format(key)
        self.first = self._compose(head, conditions, tail)
        self.next = self._compose(head, [*conditions, sql.SQL("{} > %(after)s").format(key)], tail)

    @staticmethod
    def _compose(head: sql.Composable, conditions: Sequence[sql.Composable], tail: sql.Composable) -> sql.Composed:
        from psycopg import sql  # noqa: PLC0415

        where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
        return head + where + tail

    def read(
        self, connection: psycopg.Connection[Any], max_rows: int, handle: Callable[[list[dict[str, object]]], None]
    ) -> bool:
        """Hand each page of rows (field name -> value) to ``handle``, at most ``max_rows`` rows in all;
        True when rows remained past ``max_rows`` (the read was truncated)."""
        names = (self.entity.id_column, *(f.name for f in self.entity.fields))
        after: object = None
        remaining = max_rows
        while remaining > 0:
            limit = min(PAGE_ROWS, remaining + 1)  # one row past the bound tells whether there is more
            rows = connection.execute(self.first if after is None else self.next, {"limit": limit, "after": after})
            page = rows.fetchall()
            handle([dict(zip(names, row, strict=True)) for row in page[:remaining]])
            if len(page) > remaining:
                return True
            if len(page) < limit:
                return False
            remaining -= len(page)
            after = page[-1][0]
        # Exactly max_rows read in full pages: is there another row?
        return connection.execute(self.next, {"limit": 1, "after": after}).fetchone() is not None


def _expression(field: Field, present: bool) -> sql.Composable:
    from psycopg import sql  # noqa: PLC0415

    if not present:
        return sql.SQL("NULL")
    column = sql.SQL("{}.{}").format(sql.Identifier(field.alias), sql.Identifier(field.column))
    if field.kind == "time":
        return sql.SQL("EXTRACT(EPOCH FROM {})::float8").format(column)
    if field.kind == "number":
        return sql.SQL("{}::float8").format(column)
    return column
