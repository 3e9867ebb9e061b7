"""The migrations build exactly the schema of ``store/schema.py`` (and the rollups' table).

Compared with Alembic's autogenerate (tables, columns, types, indexes) and, for the
partial indexes that Alembic does not compare, their conditions read back from the
database, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bastion.store import rollups
from bastion.store.database import Database, async_url
from bastion.store.schema import PARTIAL_SCOPES, metadata, spend_ledger
from tests.conftest import fresh_postgres_database


@pytest.fixture
async def pg_database(postgres_url: str) -> AsyncIterator[str]:
    async with fresh_postgres_database(postgres_url, "bastion_schema") as url:
        yield url


def _differences(conn: sa.Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def _partial(conn: sa.Connection) -> dict[str, str | None]:
    """Each ledger index and its condition (None: the whole table), as the database has it."""
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'spend_ledger'"
            " AND sql IS NOT NULL"
        )
        return {
            name: sql.partition(" WHERE ")[2].strip() or None if sql else None for name, sql in rows
        }
    rows = conn.exec_driver_sql(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'spend_ledger'"
        " AND indexname <> 'spend_ledger_pkey'"
    )
    return {
        name: definition.partition(" WHERE ")[2].strip("() ") or None for name, definition in rows
    }


async def _check(url: str) -> None:
    database = Database(async_url(url))
    try:
        await database.upgrade()
        async with database.engine.connect() as conn:
            assert await conn.run_sync(_differences) == []
            found = await conn.run_sync(_partial)
    finally:
        await database.close()
    expected: dict[str, str | None] = {index.name: None for index in spend_ledger.indexes}  # type: ignore[misc]
    for scope in PARTIAL_SCOPES:
        expected[f"ix_spend_{scope}_at"] = f"{scope}_id IS NOT NULL"
    expected["ix_hub_spend_provider_at"] = "provider IS NOT NULL"
    assert found == expected
    assert rollups.hub_rollup.name in metadata.tables


async def test_sqlite_migrations_build_the_schema(tmp_path: Path) -> None:
    await _check(f"sqlite:///{tmp_path / 'bastion.db'}")


async def test_postgresql_migrations_build_the_schema(pg_database: str) -> None:
    await _check(pg_database)
