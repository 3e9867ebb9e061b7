"""The hub's HTTP side: its page and assets at ``/ui``, its JSON under ``/ui/api``.

The page is static (HTML, CSS and plain JavaScript vendored in the package; no
CDN, no build step). It signs in with a key kept in the browser's session
storage and sends it as a bearer token with each call; management calls go to
the admin API (``/admin/v1``) exactly as the CLI's do. Reads come from the
rollups and the ledger's indexes (:mod:`bastion.store.dashboard`), the live
feed from memory; nothing here touches the request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from bastion.api.http import bearer_or_api_key
from bastion.api.openai import openai_error_body
from bastion.api.ui.access import Viewer, viewer_of
from bastion.api.ui.budgets import visible_budgets
from bastion.errors import GatewayError
from bastion.governance.auth import Authenticator
from bastion.observability.live import LiveFeed
from bastion.store import rollups
from bastion.store.dashboard import LEDGER_COLUMNS, Dashboard
from bastion.store.rollups import DAY, HOUR, MINUTE

if TYPE_CHECKING:
    from bastion.governance.runtime import Governance

RANGES = {"1h": 3600, "6h": 6 * 3600, "24h": DAY, "7d": 7 * DAY, "30d": 30 * DAY, "90d": 90 * DAY}
_DIMENSIONS = ("app", "team", "user", "key", "org", "model", "provider")
_NAMED = {"app": "app", "team": "team", "user": "user", "key": "key", "org": "org"}
_ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "index.html": "text/html; charset=utf-8",
}
_KEEPALIVE = 15.0
_PRUNE_EVERY = 3600.0
log = logging.getLogger("bastion.hub")
Page = Callable[[Request, Viewer], Awaitable[Any]]


def window(name: str, now: float) -> tuple[int, int, int]:
    """(start, end, chart grain) of a named range ending now; whole minutes or hours."""
    seconds = RANGES.get(name)
    if seconds is None:
        raise GatewayError(
            400, f"Unknown range '{name}'; use one of {', '.join(RANGES)}.", param="range"
        )
    align = MINUTE if seconds < DAY else HOUR
    end = int(now // align) * align + align
    grain = MINUTE if seconds <= 6 * HOUR else HOUR if seconds <= 7 * DAY else DAY
    return end - seconds, end, grain


class Hub:
    def __init__(
        self,
        governance: Governance,
        authenticator: Authenticator,
        live: LiveFeed | None,
        deployments: Callable[[], list[dict[str, Any]]] | None = None,
    ) -> None:
        self.governance = governance
        self.authenticator = authenticator
        self.live = live
        self.deployments = deployments
        self.dashboard = Dashboard(governance.database)
        self._assets = {name: _asset(name) for name in _ASSETS}
        self._pruner: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Prune old minute and hour rollups now and then (see ``rollups``)."""
        if self._pruner is None:
            self._pruner = asyncio.create_task(self._prune(), name="bastion-hub-prune")

    async def stop(self) -> None:
        if self._pruner is not None:
            self._pruner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pruner
            self._pruner = None

    async def _prune(self) -> None:
        while True:
            try:
                async with self.governance.database.engine.begin() as conn:
                    await rollups.prune(conn, time.time())
            except Exception as exc:  # the database away: next time
                log.warning("could not prune the hub's rollups (%s)", type(exc).__name__)
            await asyncio.sleep(_PRUNE_EVERY)

    def routes(self) -> list[BaseRoute]:
        api = {
            "me": self.me,
            "overview": self.overview,
            "breakdown": self.breakdown,
            "requests": self.requests,
            "budgets": self.budgets,
            "quality": self.quality,
            "deployments": self.deployment_health,
        }
        routes: list[BaseRoute] = [
            Route("/ui", self.page, methods=["GET"]),
            Route("/ui/", self.page, methods=["GET"]),
            Route("/ui/static/{name}", self.asset, methods=["GET"]),
            Route("/ui/api/live", self.live_events, methods=["GET"]),
            Route("/ui/api/request/{request_id}", self._json(self.request), methods=["GET"]),
            *(
                Route(f"/ui/api/{name}", self._json(page), methods=["GET"])
                for name, page in api.items()
            ),
        ]
        return routes

    # --- plumbing --------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        return Response(
            self._assets["index.html"], media_type=_ASSETS["index.html"], headers=_PAGE_HEADERS
        )

    async def asset(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _ASSETS or name == "index.html":
            return Response(b"not found", status_code=404)
        return Response(self._assets[name], media_type=_ASSETS[name], headers=_NO_STORE)

    def _viewer(self, request: Request) -> Viewer:
        principal = self.authenticator.authenticate(bearer_or_api_key(request.scope))
        return viewer_of(principal)

    def _json(self, page: Page) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                body = await page(request, self._viewer(request))
            except GatewayError as error:
                return _error(error)
            if body is None:
                return _error(GatewayError(404, "Not found.", code="not_found"))
            return Response(orjson.dumps(body), media_type="application/json", headers=_NO_STORE)

        return endpoint

    # --- pages -----------------------------------------------------------------------

    async def me(self, request: Request, viewer: Viewer) -> dict[str, Any]:
        p = viewer.principal
        return {
            "id": p.id,
            "name": p.name,
            "role": p.role,
            "org_id": viewer.scope.org_id,
            "team_id": viewer.scope.team_id,
            "can_manage": viewer.can_manage,
            "ranges": list(RANGES),
            "dimensions": list(_DIMENSIONS),
        }

    async def overview(self, request: Request, viewer: Viewer) -> dict[str, Any]:
        start, end, grain = window(request.query_params.get("range", "24h"), time.time())
        span = end - start
        current = await self.dashboard.totals(viewer.scope, start, end)
        previous = await self.dashboard.totals(viewer.scope, start - span, start)
        series = await self.dashboard.series(viewer.scope, start, end, grain)
        return {
            "start": start,
            "end": end,
            "grain": grain,
            "current": current,
            "previous": previous,
            "series": series,
        }

    async def breakdown(self, request: Request, viewer: Viewer) -> dict[str, Any]:
        by = request.query_params.get("by", "app")
        if by not in _DIMENSIONS:
            raise GatewayError(400, f"Unknown breakdown '{by}'.", param="by")
        start, end, _ = window(request.query_params.get("range", "24h"), time.time())
        rows = await self.dashboard.breakdown(viewer.scope, by, start, end)
        names = await self._names(by)
        for row in rows:
            row["name"] = names.get(row["value"], row["value"])
        return {"by": by, "start": start, "end": end, "rows": rows}

    async def requests(self, request: Request, viewer: Viewer) -> dict[str, Any]:
        q = request.query_params
        start, end, _ = window(q.get("range", "24h"), time.time())
        by, value = q.get("by"), q.get("value")
        if by is not None and by not in LEDGER_COLUMNS:
            raise GatewayError(400, f"Unknown filter '{by}'.", param="by")
        raw = q.get("limit", "100")
        limit = min(max(int(raw), 1), 500) if raw.isdigit() else 100
        rows = await self.dashboard.requests(viewer.scope, start, end, by, value, limit)
        return {"by": by, "value": value, "rows": rows}

    async def request(self, request: Request, viewer: Viewer) -> dict[str, Any] | None:
        request_id = request.path_params["request_id"]
        found = await self.dashboard.request(viewer.scope, request_id)
        recent = self.live.find(request_id) if self.live is not None else None
        if recent is not None and not viewer.sees(recent):
            recent = None
        if found is None and recent is None:
            return None
        out = found or {}
        if recent is not None:
            out["live"] = recent.summary()
        return out

    async def budgets(self, request: Request, viewer: Viewer) -> dict[str, Any]:
        start, end, _ = window(request.query_params.get("range", "24h"), time.time())
        rows = await visible_budgets(self.governance, viewer, time.time())
        totals = await self.dashboard.totals(viewer.scope, start, end)
        return {"budgets": rows, "rejected": totals["rejected"], "requests": totals["requests"]}

    async def quality(self, request: Request, viewer: Viewer) -> dict[str, Any]:
        start, end, _ = window(request.query_params.get("range", "24h"), time.time())
        out = await self.dashboard.quality(viewer.scope, start, end)
        totals = await self.dashboard.totals(viewer.scope, start, end)
        out["start"], out["end"] = start, end
        out["cache_hits"] = totals["cache_hits"]
        out["cache_hit_rate"] = (
            totals["cache_hits"] / totals["requests"] if totals["requests"] else None
        )
        # As recorded with the ledger (its verdict rollups): the range's, across restarts.
        out["verdicts"] = await self.dashboard.verdicts(viewer.scope, start, end)
        return out

    async def deployment_health(self, request: Request, viewer: Viewer) -> dict[str, Any]:
        return {"deployments": self.deployments() if self.deployments is not None else []}

    async def live_events(self, request: Request) -> Response:
        try:
            viewer = self._viewer(request)
        except GatewayError as error:
            return _error(error)
        if self.live is None:
            return _error(GatewayError(404, "The live feed is off.", code="not_found"))
        watcher = self.live.watch(viewer.sees)
        if watcher is None:
            return _error(GatewayError(503, "Too many live viewers; retry later.", code="busy"))
        live = self.live
        backlog = [f for f in list(live.recent)[-50:] if viewer.sees(f)]

        async def events() -> AsyncIterator[bytes]:
            try:
                yield b"retry: 2000\n\n"
                for f in backlog:
                    yield b"data: " + orjson.dumps(f.summary()) + b"\n\n"
                while True:
                    try:
                        f = await asyncio.wait_for(watcher.queue.get(), _KEEPALIVE)
                    except TimeoutError:
                        yield b": keep-alive\n\n"
                        continue
                    yield b"data: " + orjson.dumps(f.summary()) + b"\n\n"
            finally:
                live.leave(watcher)

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    async def _names(self, kind: str) -> dict[str, str]:
        if kind not in _NAMED:
            return {}
        rows = await self.governance.store.rows(kind, limit=10_000)
        if kind == "key":
            return {r["id"]: f"{r['name']} ({r['prefix']}…)" for r in rows}
        return {r["id"]: r["name"] for r in rows}


_NO_STORE = {"cache-control": "no-store"}
# The page loads only its own assets and talks only to this gateway.
_PAGE_HEADERS = {
    **_NO_STORE,
    "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def _error(error: GatewayError) -> Response:
    return Response(
        openai_error_body(error), status_code=error.status, media_type="application/json"
    )


def _asset(name: str) -> bytes:
    return resources.files("bastion.api.ui").joinpath("static", name).read_bytes()
