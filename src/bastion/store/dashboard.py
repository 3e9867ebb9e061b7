"""The monitoring hub's reads: sums from the rollups, requests from the ledger's indexes.

Every query takes a :class:`Scope` (None fields: no restriction), so a viewer
confined to a team or an organisation reads only its rows. Sums over a range
(spend, and guardrail verdicts) come from whole rollup buckets (days, then hours,
then minutes: see ``rollups.cover``); a page never scans the ledger itself, only
reads it through an index with a limit (drill-down, one request).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from bastion.store.database import Database
from bastion.store.rollups import (
    HIST,
    LATENCY_BOUNDS_MS,
    MEASURES,
    cover,
    hub_rollup,
    hub_verdicts,
)
from bastion.store.schema import audit_log, feedback, spend_ledger

R = hub_rollup.c
V = hub_verdicts.c
L = spend_ledger.c
# The ledger column each breakdown dimension filters on, for drill-down.
LEDGER_COLUMNS = {
    "org": L.org_id,
    "team": L.team_id,
    "user": L.user_id,
    "app": L.app_id,
    "key": L.key_id,
    "model": L.model,
    "provider": L.provider,
}
_SUMS = [sa.func.sum(R[name]).label(name) for name in MEASURES]


@dataclass(frozen=True, slots=True)
class Scope:
    org_id: str | None = None
    team_id: str | None = None

    def rollup(self, query: Any, table: Any = R) -> Any:
        """Restrict a query of a rollup table (``table``: its columns) to the scope."""
        if self.org_id is not None:
            query = query.where(table.org_id == self.org_id)
        if self.team_id is not None:
            query = query.where(table.team_id == self.team_id)
        return query

    def ledger(self, query: Any) -> Any:
        if self.org_id is not None:
            query = query.where(L.org_id == self.org_id)
        if self.team_id is not None:
            query = query.where(L.team_id == self.team_id)
        return query


def _totals(row: Any) -> dict[str, Any]:
    m = {name: int((row[name] if row is not None else 0) or 0) for name in MEASURES}
    requests = m["requests"]
    hist = [m[name] for name in HIST]
    return {
        "requests": requests,
        "errors": m["errors"],
        "rejected": m["rejected"],
        "error_rate": m["errors"] / requests if requests else 0.0,
        "prompt_tokens": m["prompt_tokens"],
        "completion_tokens": m["completion_tokens"],
        "cached_tokens": m["cached_tokens"],
        "cost_usd": m["cost_nusd"] / 1e9,
        "cost_nusd": m["cost_nusd"],
        "cache_hits": m["cache_hits"],
        "latency_avg_ms": m["latency_ms_sum"] / m["latency_n"] if m["latency_n"] else None,
        "latency_p50_ms": percentile(hist, 0.50),
        "latency_p95_ms": percentile(hist, 0.95),
    }


def percentile(hist: Sequence[int], q: float) -> float | None:
    """Estimated from the rollups' latency histogram, interpolating within a bucket."""
    total = sum(hist)
    if not total:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(hist):
        if count and seen + count >= rank:
            low = LATENCY_BOUNDS_MS[i - 1] if i > 0 else 0
            high = LATENCY_BOUNDS_MS[i] if i < len(LATENCY_BOUNDS_MS) else low * 2
            return round(low + (high - low) * (rank - seen) / count, 1)
        seen += count
    return float(LATENCY_BOUNDS_MS[-1])


def _covered(query: Any, start: int, end: int, table: Any = R) -> Any:
    """Restrict a rollup query to the whole buckets covering [start, end)."""
    parts = [
        sa.and_(table.grain == grain, table.bucket >= lo, table.bucket < hi)
        for grain, lo, hi in cover(start, end)
    ]
    return query.where(sa.or_(*parts)) if parts else query.where(sa.false())


class Dashboard:
    def __init__(self, database: Database) -> None:
        self.db = database

    async def totals(self, scope: Scope, start: int, end: int, dim: str = "all") -> dict[str, Any]:
        query = scope.rollup(_covered(sa.select(*_SUMS).where(R.dim == dim), start, end))
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return _totals(row)

    async def series(self, scope: Scope, start: int, end: int, grain: int) -> list[dict[str, Any]]:
        """Per-bucket sums for the charts (whole buckets of ``grain`` from ``start``)."""
        first = start // grain * grain
        query = scope.rollup(
            sa.select(R.bucket, *_SUMS)
            .where(R.dim == "all", R.grain == grain, R.bucket >= first, R.bucket < end)
            .group_by(R.bucket)
            .order_by(R.bucket)
        )
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        by_bucket = {int(r["bucket"]): _totals(r) for r in rows}
        out = []
        for bucket in range(first, end, grain):
            t = by_bucket.get(bucket) or _totals(None)
            out.append(
                {
                    "t": bucket,
                    "requests": t["requests"],
                    "errors": t["errors"],
                    "cost_usd": t["cost_usd"],
                    "prompt_tokens": t["prompt_tokens"],
                    "completion_tokens": t["completion_tokens"],
                    "latency_p95_ms": t["latency_p95_ms"],
                }
            )
        return out

    async def breakdown(
        self, scope: Scope, dim: str, start: int, end: int, limit: int = 200
    ) -> list[dict[str, Any]]:
        query = scope.rollup(
            _covered(sa.select(R.value, *_SUMS).where(R.dim == dim), start, end)
            .group_by(R.value)
            .order_by(sa.func.sum(R.cost_nusd).desc(), sa.func.sum(R.requests).desc())
            .limit(limit)
        )
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [{"value": r["value"], **_totals(r)} for r in rows]

    async def verdicts(self, scope: Scope, start: int, end: int) -> list[dict[str, Any]]:
        """Guardrail verdicts recorded in the range, by detector and action, most first."""
        count = sa.func.sum(V.verdicts)
        query = scope.rollup(
            _covered(sa.select(V.detector, V.action, count), start, end, V)
            .group_by(V.detector, V.action)
            .order_by(count.desc(), V.detector, V.action)
            .limit(200),
            V,
        )
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [{"detector": d, "action": a, "count": int(n)} for d, a, n in rows]

    async def requests(
        self,
        scope: Scope,
        start: float,
        end: float,
        dim: str | None = None,
        value: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """The newest requests in the range, through an index (drill-down)."""
        query = scope.ledger(
            sa.select(spend_ledger).where(L.at >= start, L.at < end).order_by(L.at.desc())
        ).limit(limit)
        if dim is not None and value is not None:
            query = query.where(LEDGER_COLUMNS[dim] == value)
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_ledger_row(r) for r in rows]

    async def request(self, scope: Scope, request_id: str) -> dict[str, Any] | None:
        """One request: its ledger row, feedback and audit record (bodies when kept)."""
        query = scope.ledger(sa.select(spend_ledger).where(L.request_id == request_id)).limit(1)
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
            if row is None:
                return None
            out = _ledger_row(row)
            given = (
                (await conn.execute(sa.select(feedback).where(feedback.c.request_id == request_id)))
                .mappings()
                .first()
            )
            out["feedback"] = _plain(given) if given is not None else None
            audit = (
                (
                    await conn.execute(
                        sa.select(audit_log.c.record, audit_log.c.body)
                        .where(
                            audit_log.c.at >= row["at"] - 300,
                            audit_log.c.at <= row["at"] + 300,
                            audit_log.c.request_id == request_id,
                        )
                        .limit(1)
                    )
                )
                .mappings()
                .first()
            )
        if audit is not None:
            out["audit"] = _json(audit["record"])
            out["body"] = _json(audit["body"]) if audit["body"] else None
        return out

    async def quality(self, scope: Scope, start: float, end: float) -> dict[str, Any]:
        """Feedback in the range: score distribution, satisfaction by model and app, comments.

        One grouped pass over the range's feedback (by score, model and app, so at most
        a few thousand groups), summed three ways here, and the latest comments.
        """
        f = feedback.c
        joined = feedback.join(spend_ledger, L.request_id == f.request_id)
        base = scope.ledger(sa.select().select_from(joined).where(f.at >= start, f.at < end))
        async with self.db.engine.connect() as conn:
            groups = (
                await conn.execute(
                    base.add_columns(f.score, L.model, L.app_id, sa.func.count()).group_by(
                        f.score, L.model, L.app_id
                    )
                )
            ).all()
            comments = (
                await conn.execute(
                    base.add_columns(f.request_id, f.at, f.score, f.comment, L.model, L.app_id)
                    .where(f.comment.isnot(None), f.comment != "")
                    .order_by(f.at.desc())
                    .limit(20)
                )
            ).all()
        scores: dict[str, int] = {}
        per: dict[str, dict[str, list[int]]] = {"model": {}, "app": {}}
        for score, model, app, count in groups:
            scores[str(score)] = scores.get(str(score), 0) + count
            for name, value in (("model", model), ("app", app)):
                tally = per[name].setdefault(value or "", [0, 0])
                tally[0] += count
                tally[1] += count if score >= 4 else 0
        total = sum(scores.values())
        happy = sum(n for s, n in scores.items() if int(s) >= 4)
        return {
            "feedback": total,
            "satisfaction": happy / total if total else None,
            "scores": dict(sorted(scores.items())),
            "by_model": _satisfaction(per["model"]),
            "by_app": _satisfaction(per["app"]),
            "comments": [
                {
                    "request_id": r[0],
                    "at": r[1],
                    "score": r[2],
                    "comment": r[3],
                    "model": r[4],
                    "app_id": r[5],
                }
                for r in comments
            ],
        }


def _satisfaction(tallies: dict[str, list[int]]) -> list[dict[str, Any]]:
    rows = sorted(tallies.items(), key=lambda item: -item[1][0])[:50]
    return [{"value": v, "feedback": n, "satisfaction": happy / n} for v, (n, happy) in rows]


def _plain(row: Any) -> dict[str, Any]:
    """A row as a dict with plain ``str`` keys (SQLAlchemy's are a subclass JSON rejects)."""
    return {str(k): v for k, v in row.items()}


def _ledger_row(row: Any) -> dict[str, Any]:
    out = _plain(row)
    out.pop("id", None)
    cost = out.get("cost_nusd")
    out["cost_usd"] = cost / 1e9 if isinstance(cost, int) else None
    if isinstance(out.get("tags"), str):
        out["tags"] = _json(out["tags"])
    return out


def _json(text: str | bytes | None) -> Any:
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
