"""SQL of the spend ledger: batched inserts, feedback, and the report query.

Rows are tuples in ``LEDGER_COLUMNS`` order (``ledger_row`` makes one from names).
Inserts go through the driver's ``executemany`` with one prepared statement
(the ledger is the busiest table; SQLAlchemy's per-row compilation would
double its CPU cost). A batch handed in again after an error skips the rows
that a lost commit had already written, so each request is counted once, in
the ledger and in the hub's rollups added in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from bastion.store import rollups
from bastion.store.database import Database, Statement
from bastion.store.schema import LEDGER_COLUMNS, feedback, spend_ledger, spend_tags

Row = dict[str, Any]
LedgerRow = tuple[Any, ...]  # the values of LEDGER_COLUMNS, in that order

__all__ = ["LEDGER_COLUMNS", "LedgerRow", "LedgerStore", "ReportQuery", "ledger_row"]

_REQUEST_ID, _AT, _TAGS = (LEDGER_COLUMNS.index(c) for c in ("request_id", "at", "tags"))
# Report dimensions: the name a caller uses -> the ledger column.
DIMENSIONS: Mapping[str, str] = {
    "key": "key_id",
    "user": "user_id",
    "team": "team_id",
    "org": "org_id",
    "app": "app_id",
    "model": "model",
    "deployment": "deployment",
    "provider": "provider",
    "endpoint": "endpoint",
    "tag": "tag",
}
BUCKETS: Mapping[str, int] = {"hour": 3600, "day": 86400}


def ledger_row(**values: Any) -> LedgerRow:
    """A ledger row from column names (those not given are None)."""
    unknown = set(values) - set(LEDGER_COLUMNS)
    if unknown:
        raise ValueError(f"not ledger columns: {sorted(unknown)}")
    return tuple(values.get(name) for name in LEDGER_COLUMNS)


def _placeholders(dialect: str, count: int) -> str:
    if dialect == "postgresql":
        return ", ".join(f"${i}" for i in range(1, count + 1))
    return ", ".join("?" * count)


@dataclass(frozen=True, slots=True)
class ReportQuery:
    by: tuple[str, ...]  # keys of DIMENSIONS
    bucket: int | None  # seconds (hour, day); None: one row per group over the range
    since: float
    until: float
    org_id: str | None = None  # confine to one organisation


class LedgerStore:
    def __init__(self, database: Database) -> None:
        self.db = database
        n = len(LEDGER_COLUMNS)
        self._insert_sql = (
            f"INSERT INTO spend_ledger ({', '.join(LEDGER_COLUMNS)}) "
            f"VALUES ({_placeholders(database.dialect, n)}) ON CONFLICT DO NOTHING"
        )
        self._tags_sql = (
            "INSERT INTO spend_tags (request_id, at, tag) "
            f"VALUES ({_placeholders(database.dialect, 3)}) ON CONFLICT DO NOTHING"
        )

    async def insert(self, rows: Sequence[LedgerRow], again: bool = False) -> None:
        """Insert ledger rows (and their tags); ``again``: some may be in already."""
        await self.db.write_batch(await self.statements(rows, again))

    async def statements(
        self,
        rows: Sequence[LedgerRow],
        again: bool = False,
        verdicts: rollups.Verdicts | None = None,
    ) -> list[Statement]:
        """What inserts ``rows``, their tags and their rollups (to run in one transaction).

        ``again``: the rows already in the ledger (a lost commit reply) are left out
        first, so that the rollups count each request once. Only this writer writes
        these request ids, one batch at a time, so reading before the transaction is
        as good as reading in it. ``verdicts``: the requests' guardrail verdicts, by
        their rows' (request id, at), for the hub's verdict rollups.
        """
        if rows and again:
            rows = await self._new(rows)
        if not rows:
            return []
        out: list[Statement] = [(self._insert_sql, rows)]
        tags = [
            (row[_REQUEST_ID], row[_AT], tag)
            for row in rows
            if row[_TAGS] is not None
            for tag in orjson.loads(row[_TAGS])
        ]
        if tags:
            out.append((self._tags_sql, tags))
        # The hub's rollups, in the same transaction: they always equal the ledger.
        out.append(rollups.upsert(self.db.dialect, rows))
        counted = rollups.verdict_upsert(self.db.dialect, rows, verdicts) if verdicts else None
        if counted is not None:
            out.append(counted)
        return out

    async def _new(self, rows: Sequence[LedgerRow]) -> list[LedgerRow]:
        """The rows not in the ledger yet (after an error whose commit may have landed)."""
        ids = list({row[_REQUEST_ID] for row in rows})
        found: set[tuple[str, float]] = set()
        async with self.db.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                result = await conn.execute(
                    sa.select(spend_ledger.c.request_id, spend_ledger.c.at).where(
                        spend_ledger.c.request_id.in_(ids[start : start + 500])
                    )
                )
                found.update((r[0], r[1]) for r in result)
        return [row for row in rows if (row[_REQUEST_ID], row[_AT]) not in found]

    async def request(self, request_id: str) -> Row | None:
        """The newest ledger row of a request id (for feedback)."""
        async with self.db.engine.connect() as conn:
            result = await conn.execute(
                sa.select(spend_ledger.c.key_id, spend_ledger.c.org_id, spend_ledger.c.at)
                .where(spend_ledger.c.request_id == request_id)
                .order_by(spend_ledger.c.at.desc())
                .limit(1)
            )
            row = result.mappings().first()
        return dict(row) if row is not None else None

    async def save_feedback(self, row: Row) -> None:
        """Insert or replace the feedback of ``row["request_id"]`` (the latest counts)."""
        insert: Any = (
            postgresql.insert(feedback)
            if self.db.dialect == "postgresql"
            else sqlite.insert(feedback)
        )
        changed = {k: v for k, v in row.items() if k != "request_id"}
        statement = insert.values(**row).on_conflict_do_update(
            index_elements=[feedback.c.request_id], set_=changed
        )
        async with self.db.engine.begin() as conn:
            await conn.execute(statement)

    async def report(self, query: ReportQuery) -> list[Row]:
        """Requests, errors, spend, tokens and satisfaction per group (and time bucket)."""
        l = spend_ledger.c  # noqa: E741
        groups: list[Any] = []
        for name in query.by:
            if name == "tag":
                groups.append(spend_tags.c.tag.label("tag"))
            else:
                groups.append(l[DIMENSIONS[name]].label(name))
        if query.bucket is not None:
            groups.append(self._bucket(query.bucket).label("bucket"))
        failed = sa.and_(l.status >= 400, l.status != 499)
        measures = [
            sa.func.count().label("requests"),
            sa.func.sum(sa.case((failed, 1), else_=0)).label("errors"),
            sa.func.sum(l.cost_nusd).label("cost_nusd"),
            sa.func.sum(
                sa.case((sa.and_(l.cost_nusd.is_(None), l.status < 400), 1), else_=0)
            ).label("unpriced"),
            sa.func.sum(sa.case((l.estimated, 1), else_=0)).label("estimated"),
            *(
                sa.func.sum(l[n]).label(n)
                for n in (
                    "prompt_tokens",
                    "completion_tokens",
                    "cached_tokens",
                    "cache_write_tokens",
                    "reasoning_tokens",
                )
            ),
            sa.func.count(feedback.c.score).label("feedback"),
            sa.func.sum(feedback.c.score).label("score_sum"),
        ]
        source: Any = spend_ledger
        if "tag" in query.by:
            source = source.join(
                spend_tags,
                sa.and_(spend_tags.c.request_id == l.request_id, spend_tags.c.at == l.at),
            )
        source = source.outerjoin(feedback, feedback.c.request_id == l.request_id)
        statement = (
            sa.select(*groups, *measures)
            .select_from(source)
            .where(l.at >= query.since, l.at < query.until)
        )
        if query.org_id is not None:
            statement = statement.where(l.org_id == query.org_id)
        if groups:  # time first, then the groups
            order = [groups[-1], *groups[:-1]] if query.bucket is not None else groups
            statement = statement.group_by(*groups).order_by(*order)
        async with self.db.engine.connect() as conn:
            result = await conn.execute(statement)
            return [dict(r) for r in result.mappings()]

    def _bucket(self, seconds: int) -> Any:
        at = spend_ledger.c.at
        if self.db.dialect == "postgresql":
            return sa.cast(sa.func.floor(at / seconds), sa.BigInteger) * seconds
        return sa.cast(at / seconds, sa.Integer) * seconds  # SQLite truncates: floor for at > 0
