"""SQL of the audit trail: batched inserts, walks in chain order, digests, retention.

Records are inserted with ``ON CONFLICT DO NOTHING`` on (day, instance, seq): a
batch re-sent after a lost commit reply lands once. Walks page through the
chain index (day, instance, seq) so verifying or exporting millions of records
holds one page in memory. The maintenance job (daily digests, retention) runs
in one transaction that, on PostgreSQL, only one replica at a time gets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bastion.store.database import Database, Statement
from bastion.store.schema import audit_digests, audit_log

Record = tuple[str, str, int, float, str, str | None, str, str | None, str, str]
_COLUMNS = ("instance", "day", "seq", "at", "kind", "request_id", "record", "body", "prev_hash", "hash")  # fmt: skip
_MAINTENANCE_LOCK = 0x6175_6474  # "audt": the advisory lock the replicas share
_PAGE = 2000


class AuditStore:
    def __init__(self, database: Database) -> None:
        self.db = database
        marks = (
            ", ".join(f"${i}" for i in range(1, len(_COLUMNS) + 1))
            if database.dialect == "postgresql"
            else ", ".join("?" * len(_COLUMNS))
        )
        self._insert_sql = (
            f"INSERT INTO audit_log ({', '.join(_COLUMNS)}) VALUES ({marks}) ON CONFLICT DO NOTHING"
        )

    async def insert(self, records: Sequence[Record]) -> None:
        await self.db.write_batch(self.statements(records))

    def statements(self, records: Sequence[Record]) -> list[Statement]:
        """What inserts ``records`` (to run in one transaction)."""
        return [(self._insert_sql, records)] if records else []

    async def chain_head(self, instance: str, day: str) -> tuple[int, str] | None:
        """The last record of a chain: (seq, hash); None when the chain has none yet."""
        t = audit_log.c
        query = (
            sa.select(t.seq, t.hash)
            .where(t.day == day, t.instance == instance)
            .order_by(t.seq.desc())
            .limit(1)
        )
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return (int(row[0]), str(row[1])) if row is not None else None

    async def linked(self, instance: str, since: float) -> set[tuple[str, str | None, float]]:
        """(kind, request_id, at) of a chain's records since ``since`` (any day)."""
        t = audit_log.c
        query = sa.select(t.kind, t.request_id, t.at).where(t.at >= since, t.instance == instance)
        async with self.db.engine.connect() as conn:
            return {(str(r[0]), r[1], float(r[2])) for r in await conn.execute(query)}

    async def walk(
        self, since: float | None = None, until: float | None = None
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every record (or those with ``since <= at < until``), in chain order, by pages."""
        t = audit_log.c
        after: tuple[str, str, int] | None = None
        while True:
            query = sa.select(audit_log).order_by(t.day, t.instance, t.seq).limit(_PAGE)
            if after is not None:
                query = query.where(sa.tuple_(t.day, t.instance, t.seq) > sa.tuple_(*after))
            if since is not None:
                query = query.where(t.at >= since)
            if until is not None:
                query = query.where(t.at < until)
            async with self.db.engine.connect() as conn:
                rows = [dict(r) for r in (await conn.execute(query)).mappings()]
            if not rows:
                return
            yield rows
            last = rows[-1]
            after = (last["day"], last["instance"], last["seq"])

    async def retention_records(self) -> list[str]:
        async with self.db.engine.connect() as conn:
            result = await conn.execute(
                sa.select(audit_log.c.record).where(audit_log.c.kind == "retention")
            )
            return [str(r[0]) for r in result]

    async def digests(self) -> list[dict[str, Any]]:
        async with self.db.engine.connect() as conn:
            result = await conn.execute(sa.select(audit_digests).order_by(audit_digests.c.day))
            return [dict(r) for r in result.mappings()]

    # --- the maintenance job (one transaction) ------------------------------------------

    @asynccontextmanager
    async def maintenance(self) -> AsyncIterator[AsyncConnection | None]:
        """A transaction for the job, or None when another replica holds it."""
        async with self.db.writing() as conn:
            if self.db.dialect == "postgresql":
                got = await conn.scalar(
                    sa.text(f"SELECT pg_try_advisory_xact_lock({_MAINTENANCE_LOCK})")
                )
                if not got:
                    yield None
                    return
            yield conn


async def unsealed_days(conn: AsyncConnection, before: str) -> list[str]:
    """Days before ``before`` with records and no digest, oldest first."""
    t = audit_log.c
    query = (
        sa.select(t.day)
        .where(t.day < before, t.day.not_in(sa.select(audit_digests.c.day)))
        .group_by(t.day)
        .order_by(t.day)
    )
    return [str(r[0]) for r in await conn.execute(query)]


async def chain_heads(conn: AsyncConnection, day: str) -> list[tuple[str, int, str]]:
    """Each chain of ``day``: (instance, record count, last hash), by instance."""
    t = audit_log.c
    ends = (
        sa.select(t.instance, sa.func.count().label("n"), sa.func.max(t.seq).label("last"))
        .where(t.day == day)
        .group_by(t.instance)
        .subquery()
    )
    query = (
        sa.select(ends.c.instance, ends.c.n, t.hash)
        .join(audit_log, sa.and_(t.day == day, t.instance == ends.c.instance, t.seq == ends.c.last))
        .order_by(ends.c.instance)
    )
    return [(str(r[0]), int(r[1]), str(r[2])) for r in await conn.execute(query)]


async def last_digest(conn: AsyncConnection, before: str) -> str | None:
    d = audit_digests.c
    query = sa.select(d.digest).where(d.day < before).order_by(d.day.desc()).limit(1)
    value = await conn.scalar(query)
    return str(value) if value is not None else None


async def add_digest(
    conn: AsyncConnection, day: str, chains: str, prev: str, digest: str, now: float
) -> None:
    await conn.execute(
        sa.insert(audit_digests).values(
            day=day, chains=chains, prev_digest=prev, digest=digest, created_at=now
        )
    )


async def retention_ran(conn: AsyncConnection, day: str) -> bool:
    t = audit_log.c
    query = sa.select(t.id).where(t.kind == "retention", t.day == day).limit(1)
    return (await conn.scalar(query)) is not None


async def drop_bodies(conn: AsyncConnection, before: str) -> int:
    t = audit_log.c
    result = await conn.execute(
        sa.update(audit_log).where(t.day < before, t.body.is_not(None)).values(body=None)
    )
    return int(result.rowcount or 0)


async def delete_sealed(conn: AsyncConnection, before: str) -> int:
    t = audit_log.c
    sealed = sa.select(audit_digests.c.day).where(audit_digests.c.day < before)
    result = await conn.execute(sa.delete(audit_log).where(t.day < before, t.day.in_(sealed)))
    return int(result.rowcount or 0)
