"""Pre-aggregated spend: the ledger summed per minute, hour and day, for the monitoring hub.

Each ledger row adds to one rollup row per grain (minute, hour, day) and per
dimension: the whole gateway (``all``) and its org, team, user, app, key, model and
provider. Every rollup row also carries the request's org and team, so a viewer
confined to a team reads only its rows. The hub sums a range from whole days, then
whole hours, then whole minutes, so a year of data is a few hundred rows to read.

Rollups are added in the ledger writer's own transaction, from the rows that
transaction actually inserted, so they always equal the ledger's sums. Minute rows
are kept ``MINUTE_RETENTION`` seconds and hour rows ``HOUR_RETENTION`` (pruned by the
hub); day rows stay.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bastion.store.schema import metadata

MINUTE, HOUR, DAY = 60, 3600, 86400
GRAINS = (MINUTE, HOUR, DAY)
MINUTE_RETENTION = 3 * DAY
HOUR_RETENTION = 100 * DAY
DIMENSIONS: dict[str, str | None] = {
    "all": None,
    "org": "org_id",
    "team": "team_id",
    "user": "user_id",
    "app": "app_id",
    "key": "key_id",
    "model": "model",
    "provider": "provider",
}
# Latency histogram upper bounds, in ms (the last bucket is everything above).
LATENCY_BOUNDS_MS = (
    1,
    2,
    5,
    10,
    25,
    50,
    100,
    200,
    350,
    500,
    750,
    1000,
    1500,
    2500,
    4000,
    6000,
    10000,
    20000,
    40000,
)
HIST = tuple(f"lat_{i}" for i in range(len(LATENCY_BOUNDS_MS) + 1))
MEASURES = (
    "requests",
    "errors",
    "rejected",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost_nusd",
    "cache_hits",
    "latency_ms_sum",
    "latency_n",
    *HIST,
)

hub_rollup = sa.Table(
    "hub_rollup",
    metadata,
    sa.Column("grain", sa.Integer, primary_key=True),
    sa.Column("dim", sa.String(8), primary_key=True),
    sa.Column("bucket", sa.BigInteger, primary_key=True),
    sa.Column("value", sa.String(200), primary_key=True),
    sa.Column("org_id", sa.String(40), primary_key=True),
    sa.Column("team_id", sa.String(40), primary_key=True),
    *(sa.Column(name, sa.BigInteger, nullable=False, server_default="0") for name in MEASURES),
)

Key = tuple[int, str, int, str, str, str]


def _latency_bucket(ms: float) -> int:
    for i, bound in enumerate(LATENCY_BOUNDS_MS):
        if ms <= bound:
            return i
    return len(LATENCY_BOUNDS_MS)


def provider_of(row: Mapping[str, Any]) -> str:
    provider = row.get("provider")
    if provider:
        return str(provider)
    served = row.get("deployment") or row.get("model") or ""
    return str(served).partition("/")[0] if "/" in str(served) else ""


def latency_of(row: Mapping[str, Any]) -> float | None:
    for name in ("latency_ms", "total_ms", "duration_ms"):
        value = row.get(name)
        if isinstance(value, int | float):
            return float(value)
    return None


def aggregate(rows: Iterable[Mapping[str, Any]]) -> dict[Key, list[int]]:
    """The rollup increments of ``rows``: key → measures, in ``MEASURES`` order."""
    out: dict[Key, list[int]] = {}
    width = len(MEASURES)
    for row in rows:
        at = float(row["at"])
        status = int(row.get("status") or 0)
        latency = latency_of(row)
        cost = row.get("cost_nusd")
        m = [
            1,
            1 if status >= 400 else 0,
            1 if status == 429 else 0,
            int(row.get("prompt_tokens") or 0),
            int(row.get("completion_tokens") or 0),
            int(row.get("cached_tokens") or row.get("cache_read_tokens") or 0),
            int(cost) if isinstance(cost, int) else 0,
            1 if row.get("cache_hit") else 0,
            round(latency) if latency is not None else 0,
            1 if latency is not None else 0,
        ]
        hist = [0] * len(HIST)
        if latency is not None:
            hist[_latency_bucket(latency)] = 1
        m += hist
        org = str(row.get("org_id") or "")
        team = str(row.get("team_id") or "")
        values = {
            "all": "",
            "org": org,
            "team": team,
            "user": str(row.get("user_id") or ""),
            "app": str(row.get("app_id") or ""),
            "key": str(row.get("key_id") or ""),
            "model": str(row.get("model") or ""),
            "provider": provider_of(row),
        }
        for grain in GRAINS:
            bucket = int(at // grain) * grain
            for dim, value in values.items():
                if dim != "all" and not value:
                    continue
                key = (grain, dim, bucket, value[:200], org, team)
                found = out.get(key)
                if found is None:
                    out[key] = list(m)
                else:
                    for i in range(width):
                        found[i] += m[i]
    return out


def upsert(dialect: str) -> Any:
    """The statement that adds increments to rollup rows (creating them when new)."""
    insert: Any = (
        postgresql.insert(hub_rollup) if dialect == "postgresql" else sqlite.insert(hub_rollup)
    )
    return insert.on_conflict_do_update(
        index_elements=[c.name for c in hub_rollup.primary_key.columns],
        set_={name: hub_rollup.c[name] + insert.excluded[name] for name in MEASURES},
    )


def parameters(increments: Mapping[Key, list[int]]) -> list[dict[str, Any]]:
    # One order for every writer, so that concurrent upserts cannot deadlock.
    return [
        {
            "grain": k[0],
            "dim": k[1],
            "bucket": k[2],
            "value": k[3],
            "org_id": k[4],
            "team_id": k[5],
            **dict(zip(MEASURES, m, strict=True)),
        }
        for k, m in sorted(increments.items())
    ]


async def add(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add ``rows`` (just inserted into the ledger) to the rollups, in the same transaction."""
    if not rows:
        return
    params = parameters(aggregate(rows))
    statement = upsert(conn.dialect.name)
    for start in range(0, len(params), 2000):
        await conn.execute(statement, params[start : start + 2000])


def rebuild(conn: sa.Connection, ledger: sa.Table, now: float | None = None) -> None:
    """Recompute every rollup from the ledger, in SQL (migrations, the benchmark).

    Reads whichever of the optional ledger columns exist (provider, latency_ms,
    cached_tokens); minute and hour rows only within their retention. Run it where
    nothing writes to the ledger meanwhile.
    """
    now = time.time() if now is None else now
    since = {MINUTE: now - MINUTE_RETENTION, HOUR: now - HOUR_RETENTION, DAY: None}
    c = ledger.c
    pg = conn.dialect.name == "postgresql"
    conn.execute(sa.delete(hub_rollup))
    latency = next((c[n] for n in ("latency_ms", "total_ms", "duration_ms") if n in c), None)
    cached = next((c[n] for n in ("cached_tokens", "cache_read_tokens") if n in c), None)
    provider: Any = (
        c["provider"]
        if "provider" in c
        else sa.case(
            (c.model.contains("/"), sa.func.substr(c.model, 1, sa.func.instr(c.model, "/") - 1)),
            else_="",
        )
        if not pg
        else sa.func.split_part(c.model, "/", 1)
    )
    org = sa.func.coalesce(c.org_id, "")
    team = sa.func.coalesce(c.team_id, "")
    values: dict[str, Any] = {
        "all": sa.literal_column("''"),
        "org": org,
        "team": team,
        "user": c.user_id,
        "app": c.app_id,
        "key": c.key_id,
        "model": c.model,
        "provider": provider,
    }
    one = sa.literal(1)
    measures: list[Any] = [
        sa.func.count(),
        sa.func.sum(sa.case((c.status >= 400, one), else_=0)),
        sa.func.sum(sa.case((c.status == 429, one), else_=0)),
        sa.func.sum(c.prompt_tokens),
        sa.func.sum(c.completion_tokens),
        sa.func.sum(cached) if cached is not None else sa.literal(0),
        sa.func.sum(sa.func.coalesce(c.cost_nusd, 0)),
        sa.func.sum(sa.case((c.cache_hit, one), else_=0)) if "cache_hit" in c else sa.literal(0),
    ]
    if latency is not None:
        measures += [
            sa.func.sum(sa.func.round(sa.func.coalesce(latency, 0))),
            sa.func.count(latency),
        ]
        lower = None
        for bound in (*LATENCY_BOUNDS_MS, None):
            test = latency > lower if bound is None else latency <= bound
            if lower is not None and bound is not None:
                test = sa.and_(latency > lower, latency <= bound)
            measures.append(sa.func.sum(sa.case((test, one), else_=0)))
            lower = bound
    else:
        measures += [sa.literal(0)] * (2 + len(HIST))
    for grain in GRAINS:
        bucket: Any = (
            sa.cast(sa.func.floor(c.at / grain) * grain, sa.BigInteger)
            if pg
            else sa.cast(c.at / grain, sa.Integer) * grain
        )
        for dim, value in values.items():
            query = sa.select(
                sa.literal_column(str(grain)),
                sa.literal_column(f"'{dim}'"),
                bucket,
                sa.func.coalesce(value, ""),
                org,
                team,
                *measures,
            )
            if dim != "all":
                query = query.where(value.isnot(None), value != "")
            cutoff = since[grain]
            if cutoff is not None:
                query = query.where(c.at >= int(cutoff // grain) * grain)
            query = query.group_by(bucket, org, team, *([value] if dim != "all" else []))
            conn.execute(
                sa.insert(hub_rollup).from_select(
                    ["grain", "dim", "bucket", "value", "org_id", "team_id", *MEASURES], query
                )
            )


async def prune(conn: AsyncConnection, now: float) -> None:
    """Drop minute rows past ``MINUTE_RETENTION`` and hour rows past ``HOUR_RETENTION``."""
    for grain, keep in ((MINUTE, MINUTE_RETENTION), (HOUR, HOUR_RETENTION)):
        await conn.execute(
            sa.delete(hub_rollup).where(
                hub_rollup.c.grain == grain, hub_rollup.c.bucket < int(now - keep)
            )
        )


def cover(
    start: int, end: int, grains: Sequence[int] = (DAY, HOUR, MINUTE)
) -> list[tuple[int, int, int]]:
    """Whole buckets covering [start, end): (grain, first bucket, end), coarsest first.

    ``start`` and ``end`` must be multiples of the finest grain given.
    """
    grain, *finer = grains
    first = math.ceil(start / grain) * grain
    last = end // grain * grain
    if not finer:
        return [(grain, start, end)] if start < end else []
    if first >= last:
        return cover(start, end, finer)
    return [*cover(start, first, finer), (grain, first, last), *cover(last, end, finer)]
