"""``GET /metrics``: who may scrape it (``observability.metrics.auth``), then the exposition.

The metrics describe the whole gateway (every team's spend and budgets, every
deployment), so a key may scrape only if it would see the whole gateway in the hub:
``viewer`` lets in the master key and keys with the viewer or admin role that belong
to no organisation or team; ``admin`` only the master key and global admin keys;
``open`` anyone. A static ``token``, when set, is accepted too (and with ``open`` it
is required). Prometheus sends either as ``authorization: Bearer`` (``authorization``
or ``bearer_token_file`` in the scrape config).
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from bastion.api.http import bearer_or_api_key
from bastion.api.openai import openai_error_body
from bastion.api.ui.access import viewer_of
from bastion.errors import GatewayError
from bastion.governance.auth import Authenticator
from bastion.observability.metrics import CONTENT_TYPE
from bastion.observability.settings import MetricsConfig

if TYPE_CHECKING:
    from bastion.observability.runtime import Observability

_CHALLENGE = {"www-authenticate": 'Bearer realm="metrics"'}


def check_scraper(settings: MetricsConfig, authenticator: Authenticator, key: str | None) -> None:
    """Raise the GatewayError (401 or 403) that refuses ``key``, or return: it may scrape."""
    token = settings.token
    if token is not None and key is not None:
        if hmac.compare_digest(key.encode(), token.get_secret_value().encode()):
            return
        if settings.auth == "open":
            raise GatewayError(401, "Invalid metrics token.", code="invalid_api_key")
    if settings.auth == "open":
        if token is None:
            return
        raise GatewayError(
            401,
            "Missing metrics token. Send it as 'Authorization: Bearer <token>'.",
            code="invalid_api_key",
        )
    principal = authenticator.authenticate(key)  # 401 without a valid key
    roles = ("admin",) if settings.auth == "admin" else ("admin", "viewer")
    if principal.role not in roles:
        raise GatewayError(
            403,
            f"/metrics needs a key with the {' or '.join(reversed(roles))} role.",
            code="permission_denied",
        )
    if not viewer_of(principal).is_global:
        raise GatewayError(
            403,
            "This key sees only part of the gateway; /metrics needs one that sees all of it.",
            code="permission_denied",
        )


async def scrape(
    request: Request,
    settings: MetricsConfig,
    authenticator: Authenticator,
    observability: Observability,
) -> Response:
    try:
        check_scraper(settings, authenticator, bearer_or_api_key(request.scope))
    except GatewayError as error:
        return Response(
            openai_error_body(error),
            status_code=error.status,
            media_type="application/json",
            headers=_CHALLENGE if error.status == 401 else None,
        )
    return Response(await observability.exposition(), media_type=CONTENT_TYPE)
