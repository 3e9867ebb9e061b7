"""SQL reads and writes of organisations, teams, users, applications, keys and spend.

Rows go in and out as plain dicts; the governance layer validates them. Every
change bumps the one-row revision counter in the same transaction, which is
how every process learns that its in-memory copy is stale. Nothing here runs
on the request path: the request path reads the in-memory cache, and spend
arrives in batches from the background ledger writer.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bastion.store.database import Database, sqlite_file
from bastion.store.schema import ENTITY_TABLES, spend_ledger, state

Row = dict[str, Any]

# The ledger column that attributes spend to each kind of scope.
SCOPE_COLUMNS: Mapping[str, str] = {
    "org": "org_id",
    "team": "team_id",
    "user": "user_id",
    "app": "app_id",
    "key": "key_id",
}


_REVISION = f"SELECT revision FROM {state.name} WHERE id = 1"


class StoreConflict(Exception):
    """A write broke a uniqueness or reference rule (a duplicate name, a row still in use)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the in-memory cache needs, read in one transaction."""

    revision: int
    orgs: list[Row]
    teams: list[Row]
    users: list[Row]
    apps: list[Row]
    keys: list[Row]


@dataclass(frozen=True, slots=True)
class SpendTotal:
    cost_nusd: int
    requests: int
    prompt_tokens: int
    completion_tokens: int


class GovernanceStore:
    def __init__(self, database: Database) -> None:
        self.db = database
        # SQLite: the revision, polled every second by every process, is read on a plain
        # connection of its own, at once (WAL: a reader never waits for a writer). Through
        # the async engine that one-row read is a thread hop and SQLAlchemy's bookkeeping:
        # ~10x the CPU, which a gateway under load pays every second.
        self._reader: sqlite3.Connection | None = None
        self._reader_path = sqlite_file(database.url) if database.dialect == "sqlite" else None

    # --- the cache's reads ------------------------------------------------------------

    async def revision(self) -> int:
        if self._reader_path is not None:
            try:
                if self._reader is None:
                    self._reader = sqlite3.connect(
                        self._reader_path, timeout=0.05, isolation_level=None
                    )
                # fetchall: the statement runs to its end, so no read stays open
                rows = self._reader.execute(_REVISION).fetchall()
                return int(rows[0][0] or 0) if rows else 0
            except sqlite3.Error:  # busy, or gone: the engine's way this time
                self.close()
        async with self.db.engine.connect() as conn:
            value = await conn.scalar(sa.select(state.c.revision).where(state.c.id == 1))
        return int(value or 0)

    def close(self) -> None:
        if self._reader is not None:
            with contextlib.suppress(sqlite3.Error):
                self._reader.close()
            self._reader = None

    async def snapshot(self) -> Snapshot:
        async with self.db.engine.begin() as conn:
            revision = await conn.scalar(sa.select(state.c.revision).where(state.c.id == 1))
            tables = {}
            for kind, table in ENTITY_TABLES.items():
                result = await conn.execute(sa.select(table))
                tables[kind] = [dict(r) for r in result.mappings()]
        return Snapshot(
            int(revision or 0),
            tables["org"],
            tables["team"],
            tables["user"],
            tables["app"],
            tables["key"],
        )

    # --- entities -----------------------------------------------------------------------

    async def get(self, kind: str, id: str) -> Row | None:
        table = ENTITY_TABLES[kind]
        async with self.db.engine.connect() as conn:
            result = await conn.execute(sa.select(table).where(table.c.id == id))
            row = result.mappings().first()
        return dict(row) if row is not None else None

    async def rows(
        self, kind: str, where: Mapping[str, str | None] | None = None, limit: int = 1000
    ) -> list[Row]:
        """Rows of ``kind`` whose columns equal ``where``'s values (None values are ignored)."""
        table = ENTITY_TABLES[kind]
        query = sa.select(table).order_by(table.c.created_at, table.c.id).limit(limit)
        for column, value in (where or {}).items():
            if value is not None:
                query = query.where(table.c[column] == value)
        async with self.db.engine.connect() as conn:
            result = await conn.execute(query)
            return [dict(r) for r in result.mappings()]

    async def insert(self, kind: str, row: Row) -> None:
        async with self._change() as conn:
            await conn.execute(sa.insert(ENTITY_TABLES[kind]).values(**row))

    async def update(self, kind: str, id: str, fields: Row) -> bool:
        table = ENTITY_TABLES[kind]
        async with self._change() as conn:
            result = await conn.execute(sa.update(table).where(table.c.id == id).values(**fields))
        return bool(result.rowcount)

    async def delete(self, kind: str, id: str) -> bool:
        table = ENTITY_TABLES[kind]
        async with self._change() as conn:
            result = await conn.execute(sa.delete(table).where(table.c.id == id))
        return bool(result.rowcount)

    @asynccontextmanager
    async def _change(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction that also bumps the revision; conflicts become StoreConflict."""
        try:
            async with self.db.engine.begin() as conn:
                yield conn
                await conn.execute(
                    sa.update(state).where(state.c.id == 1).values(revision=state.c.revision + 1)
                )
        except IntegrityError as error:
            raise StoreConflict(_conflict_message(error)) from None

    async def spend(self, kind: str, id: str, since: float | None = None) -> SpendTotal:
        column = spend_ledger.c[SCOPE_COLUMNS[kind]]
        # What budgets were charged (a request to a model without a price is charged at
        # the default price, its cost stays unknown); requests that were answered.
        charged = sa.func.coalesce(spend_ledger.c.charged_nusd, spend_ledger.c.cost_nusd)
        served = sa.case((spend_ledger.c.status < 400, 1), else_=0)
        query = sa.select(
            sa.func.coalesce(sa.func.sum(charged), 0),
            sa.func.coalesce(sa.func.sum(served), 0),
            sa.func.coalesce(sa.func.sum(spend_ledger.c.prompt_tokens), 0),
            sa.func.coalesce(sa.func.sum(spend_ledger.c.completion_tokens), 0),
        ).where(column == id)
        if since is not None:
            query = query.where(spend_ledger.c.at >= since)
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(query)).one()
        return SpendTotal(int(row[0]), int(row[1]), int(row[2]), int(row[3]))


def _conflict_message(error: IntegrityError) -> str:
    text = str(error.orig).lower()
    if "unique" in text or "duplicate" in text:
        return "a record with the same unique value exists already"
    if "foreign" in text:
        return "the record refers to, or is referred to by, another record"
    return "the change conflicts with existing records"
