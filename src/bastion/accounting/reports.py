"""Spend reports and feedback: the service the admin API, the CLI and ``/v1/feedback`` call.

A report groups the ledger by any of key, user, team, org, app, model,
deployment, provider, endpoint and tag, per hour, day or month (or over the
whole range), and gives requests, errors and error rate, spend (exact: integer
nano-dollars, and USD as a decimal string), tokens by kind, and the requests'
feedback (count and mean score, 1 to 5). Requests without a known price are
counted apart (``unpriced_requests``): their cost is not in ``spend``.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from bastion.accounting.pricing import NANO_PER_USD
from bastion.errors import GatewayError, bad_request
from bastion.governance.principal import Principal
from bastion.store.ledger_store import BUCKETS, DIMENSIONS, LedgerStore, ReportQuery

Period = Literal["hour", "day", "month", "none"]
_RELATIVE = re.compile(r"^(\d{1,6})([mhdw])$")
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SUMS = (
    "requests",
    "errors",
    "unpriced",
    "estimated",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "feedback",
    "score_sum",
)


def parse_time(value: str | None, now: float, default: float) -> float:
    """``30d``, ``12h``, ``90m``, ``2w`` ago; an ISO date or date-time (UTC if no zone)."""
    if value is None or value == "":
        return default
    match = _RELATIVE.match(value.strip())
    if match:
        return now - int(match.group(1)) * _UNITS[match.group(2)]
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(
            f"'{value}' is not a time: use 30d, 12h, 90m, 2w, or an ISO date like 2026-11-01."
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


def usd_text(nusd: int) -> str:
    """Nano-dollars as an exact decimal string of USD."""
    return str((Decimal(nusd) / NANO_PER_USD).quantize(Decimal("0.000000001")))


class Report(BaseModel):
    by: list[str]
    period: Period
    since: str
    until: str
    rows: list[dict[str, Any]]
    totals: dict[str, Any]


class ReportService:
    def __init__(self, store: LedgerStore) -> None:
        self.store = store

    async def report(
        self,
        actor: Principal | None,
        by: Sequence[str],
        period: Period = "none",
        since: str | None = None,
        until: str | None = None,
        org: str | None = None,
    ) -> Report:
        """``actor`` confined to an organisation sees only its rows (None: a global admin)."""
        unknown = [b for b in by if b not in DIMENSIONS]
        if unknown:
            raise bad_request(
                f"Unknown group {unknown[0]!r}; use any of: {', '.join(DIMENSIONS)}.", param="by"
            )
        if period not in ("hour", "day", "month", "none"):
            raise bad_request("'period' must be hour, day, month or none.", param="period")
        now = time.time()
        start = parse_time(since, now, now - 30 * 86400)
        end = parse_time(until, now, now + 1)
        if end <= start:
            raise bad_request("'until' must be after 'since'.", param="until")
        if actor is not None and actor.kind == "virtual" and actor.org_id is not None:
            if org not in (None, actor.org_id):
                raise GatewayError(403, "This key may only read its organisation's spend.")
            org = actor.org_id
        by = list(dict.fromkeys(by))
        bucket = None if period == "none" else BUCKETS["day" if period == "month" else period]
        raw = await self.store.report(ReportQuery(tuple(by), bucket, start, end, org))
        rows = _months(raw, by) if period == "month" else raw
        # Totals by their own query: a request with two tags is one request.
        whole = await self.store.report(ReportQuery((), None, start, end, org))
        return Report(
            by=by,
            period=period,
            since=_iso(start),
            until=_iso(end),
            rows=[_finish(row, by, period) for row in rows],
            totals=_finish(_add({}, whole), [], "none"),
        )


def _add(into: dict[str, Any], rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    for row in rows:
        for name in _SUMS:
            into[name] = into.get(name, 0) + int(row.get(name) or 0)
        if row.get("cost_nusd") is not None:
            into["cost_nusd"] = into.get("cost_nusd", 0) + int(row["cost_nusd"])
    into.setdefault("cost_nusd", 0)
    return into


def _months(rows: list[dict[str, Any]], by: list[str]) -> list[dict[str, Any]]:
    """Day rows folded into calendar months (UTC)."""
    months: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        day = datetime.fromtimestamp(int(row["bucket"]), UTC)
        start = day.replace(day=1).timestamp()
        key = (*(row[b] for b in by), start)
        group = months.setdefault(key, {**{b: row[b] for b in by}, "bucket": start})
        _add(group, [row])
    return sorted(months.values(), key=lambda r: (r["bucket"], *(str(r[b]) for b in by)))


def _finish(row: dict[str, Any], by: list[str], period: Period) -> dict[str, Any]:
    out: dict[str, Any] = {b: row.get(b) for b in by}
    if period != "none":
        out["period_start"] = _iso(float(row["bucket"]))
    requests = int(row.get("requests") or 0)
    errors = int(row.get("errors") or 0)
    cost = int(row.get("cost_nusd") or 0)
    feedback = int(row.get("feedback") or 0)
    out.update(
        requests=requests,
        errors=errors,
        error_rate=round(errors / requests, 6) if requests else 0.0,
        spend_usd=usd_text(cost),
        spend_nusd=cost,
        unpriced_requests=int(row.get("unpriced") or 0),
        estimated_requests=int(row.get("estimated") or 0),
        prompt_tokens=int(row.get("prompt_tokens") or 0),
        completion_tokens=int(row.get("completion_tokens") or 0),
        cached_tokens=int(row.get("cached_tokens") or 0),
        cache_write_tokens=int(row.get("cache_write_tokens") or 0),
        reasoning_tokens=int(row.get("reasoning_tokens") or 0),
        feedback=feedback,
        satisfaction=round(int(row.get("score_sum") or 0) / feedback, 4) if feedback else None,
    )
    return out


def to_csv(report: Report) -> str:
    buffer = io.StringIO()
    rows = report.rows or []
    columns = list(rows[0]) if rows else [*report.by, *report.totals]
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()


# --- feedback ------------------------------------------------------------------------------

_THUMBS = {"up": 5, "down": 1, "thumbs_up": 5, "thumbs_down": 1}


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    request_id: str = Field(min_length=1, max_length=128)
    score: Literal["up", "down", "thumbs_up", "thumbs_down", 1, 2, 3, 4, 5]
    comment: str | None = Field(default=None, max_length=4000)
    tags: list[str] = Field(default_factory=list, max_length=20)


class FeedbackService:
    """``POST /v1/feedback``: by the key that made the request, or an admin."""

    def __init__(self, store: LedgerStore, flush: Any = None) -> None:
        self.store = store
        self._flush = flush  # the local ledger's flush: a request of a moment ago is in

    async def give(self, actor: Principal, data: FeedbackIn) -> dict[str, Any]:
        row = await self.store.request(data.request_id)
        if row is None and self._flush is not None:
            await self._flush()
            row = await self.store.request(data.request_id)
        if row is None:
            raise GatewayError(
                404, f"There is no request '{data.request_id}'.", code="request_not_found"
            )
        if not _may_rate(actor, row):
            raise GatewayError(
                404, f"There is no request '{data.request_id}'.", code="request_not_found"
            )
        scale = "thumbs" if isinstance(data.score, str) else "stars"
        score = _THUMBS[data.score] if isinstance(data.score, str) else data.score
        tags = [t.strip()[:200] for t in data.tags if t.strip()]
        await self.store.save_feedback(
            {
                "request_id": data.request_id,
                "at": time.time(),
                "key_id": actor.id,
                "score": score,
                "scale": scale,
                "comment": data.comment,
                "tags": orjson.dumps(tags).decode() if tags else None,
            }
        )
        return {"request_id": data.request_id, "score": score, "scale": scale, "recorded": True}


def _may_rate(actor: Principal, row: dict[str, Any]) -> bool:
    """The key that made the request, or an admin (of that request's organisation)."""
    if row.get("key_id") == actor.id:
        return True
    if not actor.is_admin:
        return False
    return actor.kind != "virtual" or actor.org_id is None or actor.org_id == row.get("org_id")
