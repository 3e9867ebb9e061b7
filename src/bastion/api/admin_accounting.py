"""Admin routes for spend reports, prices and the audit trail (added to ``/admin/v1``).

    GET /admin/v1/reports/spend   ?by=team,model&period=day&since=30d&until=&format=json|csv
    GET /admin/v1/prices          the prices in force, with the date each was taken
    GET /admin/v1/audit/verify    walk every chain and digest (global admins)
    GET /admin/v1/audit/export    ?since=&until=  records with their hashes, JSON lines

Handlers only turn HTTP into calls of the services the CLI calls too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal

from fastapi import FastAPI, Query
from starlette.responses import Response, StreamingResponse

from bastion.accounting.pricing import PriceCatalog
from bastion.accounting.reports import Period, Report, ReportService, parse_time, to_csv
from bastion.api.admin import Actor
from bastion.errors import GatewayError
from bastion.governance.principal import Principal
from bastion.observability import audit_jobs
from bastion.observability.audit_chain import Hasher
from bastion.store.audit_store import AuditStore


def _global_admin(actor: Principal) -> None:
    if actor.kind == "virtual" and actor.org_id is not None:
        raise GatewayError(403, "Only a global admin may read the audit trail.")


def add_accounting_routes(
    app: FastAPI,
    reports: ReportService,
    prices: PriceCatalog,
    unpriced: Callable[[], dict[str, int]],
    audit: tuple[AuditStore, Hasher] | None,
) -> None:
    @app.get(
        "/admin/v1/reports/spend",
        tags=["reports"],
        summary="Spend, tokens, requests, error rate and satisfaction, grouped",
        response_model=None,
    )
    async def spend_report(
        who: Actor,
        by: str = Query("", description="comma-separated: key,user,team,org,app,model,..."),
        period: Period = "none",
        since: str | None = Query(None, description="30d, 12h, 2w or an ISO date (UTC)"),
        until: str | None = None,
        org_id: str | None = None,
        format: Literal["json", "csv"] = "json",
    ) -> Report | Response:
        groups = [b.strip() for b in by.split(",") if b.strip()]
        report = await reports.report(who, groups, period, since, until, org_id)
        if format == "csv":
            return Response(to_csv(report), media_type="text/csv; charset=utf-8")
        return report

    @app.get("/admin/v1/prices", tags=["reports"], summary="Prices in force, and unpriced models")
    async def price_list(who: Actor) -> dict[str, Any]:
        return {
            "unit": "USD per million tokens",
            "prices": prices.listing(),
            "unpriced_requests": unpriced(),
        }

    if audit is None:
        return
    store, hasher = audit

    @app.get("/admin/v1/audit/verify", tags=["audit"], summary="Verify the audit trail")
    async def audit_verify(who: Actor) -> dict[str, Any]:
        _global_admin(who)
        return audit_jobs.verification_report(await audit_jobs.verify(store, hasher))

    @app.get(
        "/admin/v1/audit/export",
        tags=["audit"],
        summary="Audit records with their hashes, as JSON lines",
        response_class=StreamingResponse,
    )
    async def audit_export(
        who: Actor, since: str | None = None, until: str | None = None
    ) -> StreamingResponse:
        _global_admin(who)
        now = time.time()
        start = parse_time(since, now, 0.0)
        end = parse_time(until, now, now + 86_400)
        return StreamingResponse(
            audit_jobs.export(store, start, end), media_type="application/x-ndjson"
        )
