"""``GET /health/deployments``: each deployment's circuit, latency and error rate (admins only)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response

from bastion.api.http import bearer_or_api_key
from bastion.api.openai import openai_error_body
from bastion.errors import GatewayError
from bastion.governance.auth import Authenticator
from bastion.routing.router import Router


def deployments_health(
    authenticator: Authenticator, router: Router
) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint; the master key or an admin key may read it."""

    async def endpoint(request: Request) -> Response:
        try:
            principal = authenticator.authenticate(bearer_or_api_key(request.scope))
            if not principal.is_admin:
                raise GatewayError(
                    403, "Deployment health is for admin keys only.", code="admin_required"
                )
        except GatewayError as error:
            return Response(
                openai_error_body(error),
                status_code=error.status,
                media_type="application/json",
            )
        body = {"groups": router.groups_snapshot(), "deployments": router.snapshot()}
        return Response(orjson.dumps(body), media_type="application/json")

    return endpoint
