"""Pre-aggregated spend and guardrail verdicts: summed per minute, hour and day, for the hub.

Each ledger row adds to one rollup row per grain (minute, hour, day) and per
dimension: the whole gateway (``all``) and its org, team, user, app, key, model and
provider. Every rollup row also carries the request's org and team, so a viewer
confined to a team reads only its rows. The hub sums a range from whole days, then
whole hours, then whole minutes, so a year of data is a few hundred rows to read.

Rollups are added in the ledger writer's own transaction, from the rows that
transaction actually inserted, so they always equal the ledger's sums. Minute rows
are kept ``MINUTE_RETENTION`` seconds and hour rows ``HOUR_RETENTION`` (pruned by the
hub); day rows stay.

The guardrail verdicts of those same requests (their facts' detector, action and
count) are summed the same way into ``hub_verdicts``, per grain and per (detector,
action), with the request's org and team: the Quality page reads a range from them,
so what it shows survives a restart. They are not in the ledger, so they cannot be
rebuilt from it.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bastion.store.schema import LEDGER_COLUMNS, metadata

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

# Guardrail verdicts of the ledger's requests: per grain and bucket, detector, action,
# org and team (the request's, so that a team's viewer reads only its own).
hub_verdicts = sa.Table(
    "hub_verdicts",
    metadata,
    sa.Column("grain", sa.Integer, primary_key=True),
    sa.Column("bucket", sa.BigInteger, primary_key=True),
    sa.Column("detector", sa.String(64), primary_key=True),
    sa.Column("action", sa.String(32), primary_key=True),
    sa.Column("org_id", sa.String(40), primary_key=True),
    sa.Column("team_id", sa.String(40), primary_key=True),
    sa.Column("verdicts", sa.BigInteger, nullable=False, server_default="0"),
)

VerdictKey = tuple[int, int, str, str, str, str]  # grain, bucket, detector, action, org, team
# A request's verdicts by its ledger row's (request id, at): what ``verdict_upsert`` reads.
Verdicts = dict[tuple[str, float], Sequence[Any]]

# Positions of what the rollups read in a ledger row (a tuple in LEDGER_COLUMNS order).
_AT, _STATUS, _PROMPT, _COMPLETION, _CACHED, _COST, _HIT, _LATENCY = (
    LEDGER_COLUMNS.index(name)
    for name in (
        "at",
        "status",
        "prompt_tokens",
        "completion_tokens",
        "cached_tokens",
        "cost_nusd",
        "cache_hit",
        "latency_ms",
    )
)
_ORG, _TEAM, _USER, _APP, _KEY, _MODEL, _PROVIDER, _DEPLOYMENT = (
    LEDGER_COLUMNS.index(name)
    for name in (
        "org_id",
        "team_id",
        "user_id",
        "app_id",
        "key_id",
        "model",
        "provider",
        "deployment",
    )
)
_REQUEST_ID = LEDGER_COLUMNS.index("request_id")
_WIDTH = len(MEASURES)
_FIRST_HIST = MEASURES.index(HIST[0])


def _provider(row: Sequence[Any]) -> str:
    """The row's provider; rows without one: the part before "/" of what served it."""
    provider = row[_PROVIDER]
    if provider:
        return str(provider)
    served = str(row[_DEPLOYMENT] or row[_MODEL] or "")
    return served.partition("/")[0] if "/" in served else ""


def aggregate(rows: Iterable[Sequence[Any]]) -> dict[Key, list[int]]:
    """The rollup increments of ledger rows: key -> measures, in ``MEASURES`` order.

    Rows are first summed per minute and per combination of their dimensions (a batch
    holds few: the same keys and models again and again), then each sum is added to
    its rows of every grain and dimension, so the per-row work stays a few additions.
    """
    groups: dict[tuple[Any, ...], list[int]] = {}
    for row in rows:
        latency = row[_LATENCY]
        ident = (
            int(row[_AT] // MINUTE),
            row[_ORG] or "",
            row[_TEAM] or "",
            row[_USER] or "",
            row[_APP] or "",
            row[_KEY] or "",
            row[_MODEL] or "",
            row[_PROVIDER] or _provider(row),
        )
        m = groups.get(ident)
        if m is None:
            m = groups[ident] = [0] * _WIDTH
        m[0] += 1
        status = row[_STATUS] or 0
        if status >= 400:
            m[1] += 1
            if status == 429:
                m[2] += 1
        m[3] += row[_PROMPT] or 0
        m[4] += row[_COMPLETION] or 0
        m[5] += row[_CACHED] or 0
        cost = row[_COST]
        if cost:
            m[6] += int(cost)
        if row[_HIT]:
            m[7] += 1
        if latency is not None:
            m[8] += round(latency)
            m[9] += 1
            m[_FIRST_HIST + bisect_left(LATENCY_BOUNDS_MS, latency)] += 1
    out: dict[Key, list[int]] = {}
    for (minute, org, team, user, app, key, model, provider), m in groups.items():
        org, team = str(org), str(team)
        values = (
            ("all", ""),
            ("org", org),
            ("team", team),
            ("user", user),
            ("app", app),
            ("key", key),
            ("model", model),
            ("provider", provider),
        )
        for grain in GRAINS:
            bucket = minute * MINUTE // grain * grain
            for dim, value in values:
                if dim != "all" and not value:
                    continue
                k = (grain, dim, bucket, str(value)[:200], org, team)
                found = out.get(k)
                if found is None:
                    out[k] = list(m)
                else:
                    for i in range(_WIDTH):
                        found[i] += m[i]
    return out


_KEY_COLUMNS = tuple(c.name for c in hub_rollup.primary_key.columns)


def upsert_sql(dialect: str) -> str:
    """The statement that adds increments to rollup rows (creating them when new)."""
    names = (*_KEY_COLUMNS, *MEASURES)
    marks = (
        ", ".join(f"${i}" for i in range(1, len(names) + 1))
        if dialect == "postgresql"
        else ", ".join("?" * len(names))
    )
    adds = ", ".join(f"{m} = hub_rollup.{m} + excluded.{m}" for m in MEASURES)
    return (
        f"INSERT INTO hub_rollup ({', '.join(names)}) VALUES ({marks}) "
        f"ON CONFLICT ({', '.join(_KEY_COLUMNS)}) DO UPDATE SET {adds}"
    )


_UPSERT = {dialect: upsert_sql(dialect) for dialect in ("sqlite", "postgresql")}


def parameters(increments: Mapping[Key, list[int]]) -> list[tuple[Any, ...]]:
    # One order for every writer, so that concurrent upserts cannot deadlock.
    return [(*k, *m) for k, m in sorted(increments.items())]


def upsert(dialect: str, rows: Sequence[Sequence[Any]]) -> tuple[str, list[tuple[Any, ...]]]:
    """The statement adding ledger ``rows`` to the rollups (run it in the rows' transaction)."""
    return _UPSERT[dialect], parameters(aggregate(rows)) if rows else []


async def add(conn: AsyncConnection, rows: Sequence[Sequence[Any]]) -> None:
    """Add ledger ``rows`` (just inserted) to the rollups, in the same transaction."""
    if not rows:
        return
    sql, params = upsert(conn.dialect.name, rows)
    await conn.exec_driver_sql(sql, params)


def verdict_increments(rows: Iterable[Sequence[Any]], verdicts: Verdicts) -> dict[VerdictKey, int]:
    """The verdict rollup increments of ledger ``rows``: key -> verdicts counted.

    ``verdicts``: each request's verdicts (the facts' dicts: detector, action, count),
    by its row's (request id, at); rows without any add nothing.
    """
    minutes: dict[tuple[int, str, str, str, str], int] = {}
    for row in rows:
        found = verdicts.get((row[_REQUEST_ID], row[_AT]))
        if not found:
            continue
        minute = int(row[_AT] // MINUTE)
        org, team = str(row[_ORG] or ""), str(row[_TEAM] or "")
        for v in found:
            if not isinstance(v, dict):  # not a verdict (a bug upstream): nothing to count
                continue
            detector = str(v.get("detector") or v.get("kind") or "unknown")[:64]
            action = str(v.get("action") or "record")[:32]
            ident = (minute, detector, action, org, team)
            minutes[ident] = minutes.get(ident, 0) + int(v.get("count") or 1)
    out: dict[VerdictKey, int] = {}
    for (minute, detector, action, org, team), count in minutes.items():
        for grain in GRAINS:
            k = (grain, minute * MINUTE // grain * grain, detector, action, org, team)
            out[k] = out.get(k, 0) + count
    return out


_VERDICT_KEY = tuple(c.name for c in hub_verdicts.primary_key.columns)


def verdict_upsert_sql(dialect: str) -> str:
    """The statement that adds verdict counts to their rollup rows (creating them)."""
    names = (*_VERDICT_KEY, "verdicts")
    marks = (
        ", ".join(f"${i}" for i in range(1, len(names) + 1))
        if dialect == "postgresql"
        else ", ".join("?" * len(names))
    )
    return (
        f"INSERT INTO hub_verdicts ({', '.join(names)}) VALUES ({marks}) "
        f"ON CONFLICT ({', '.join(_VERDICT_KEY)}) "
        "DO UPDATE SET verdicts = hub_verdicts.verdicts + excluded.verdicts"
    )


_VERDICT_UPSERT = {dialect: verdict_upsert_sql(dialect) for dialect in ("sqlite", "postgresql")}


def verdict_upsert(
    dialect: str, rows: Sequence[Sequence[Any]], verdicts: Verdicts
) -> tuple[str, list[tuple[Any, ...]]] | None:
    """The statement adding the verdicts of ledger ``rows`` to their rollups (run it in the
    rows' transaction); None when they have none."""
    increments = verdict_increments(rows, verdicts) if verdicts else None
    if not increments:
        return None
    # One order for every writer, so that concurrent upserts cannot deadlock.
    return _VERDICT_UPSERT[dialect], [(*k, n) for k, n in sorted(increments.items())]


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
    """Drop minute rows past ``MINUTE_RETENTION`` and hour rows past ``HOUR_RETENTION``
    (spend and verdicts alike)."""
    for table in (hub_rollup, hub_verdicts):
        for grain, keep in ((MINUTE, MINUTE_RETENTION), (HOUR, HOUR_RETENTION)):
            await conn.execute(
                sa.delete(table).where(table.c.grain == grain, table.c.bucket < int(now - keep))
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
