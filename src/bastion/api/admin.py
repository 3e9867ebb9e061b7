"""The admin API: ``/admin/v1/...`` (FastAPI, for its OpenAPI schema at ``/admin/openapi.json``).

Organisations, teams, users, applications and virtual keys, and spend against
budgets. Authorised by the master key, an admin static key, or a virtual key
with the admin role (confined to its organisation). The handlers only turn
HTTP into calls of :class:`~bastion.governance.service.GovernanceService`, the
same service the CLI calls; errors come back in OpenAI's error shape.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from bastion import __version__
from bastion.api.http import bearer_or_api_key
from bastion.api.openai import openai_error_body
from bastion.errors import GatewayError
from bastion.governance.auth import Authenticator
from bastion.governance.principal import Principal
from bastion.governance.records import (
    EntityIn,
    EntityKind,
    EntityOut,
    EntityPatch,
    KeyCreated,
    KeyIn,
    KeyOut,
    KeyPatch,
    RotateIn,
    SpendOut,
)
from bastion.governance.service import GovernanceService

_PLURALS: dict[EntityKind, str] = {"org": "orgs", "team": "teams", "user": "users", "app": "apps"}
_TITLES = {"org": "organisation", "team": "team", "user": "user", "app": "application"}


def _error(error: GatewayError) -> Response:
    return Response(
        openai_error_body(error),
        status_code=error.status,
        media_type="application/json",
        headers=error.headers or None,
    )


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    errors = exc.errors()
    if not errors:
        return "Invalid request.", None
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    where = ".".join(loc)
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return (f"{where}: {message}{more}" if where else message + more), where or None


async def _actor(request: Request) -> Principal:
    """The admin making the call: 401 for a bad key, 403 for a key without the admin role."""
    state = request.app.state
    principal: Principal = state.authenticator.authenticate(bearer_or_api_key(request.scope))
    state.service.require_admin(principal)
    return principal


Actor = Annotated[Principal, Depends(_actor)]


def build_admin_app(service: GovernanceService, authenticator: Authenticator) -> FastAPI:
    app = FastAPI(
        title="Bastion admin API",
        version=__version__,
        openapi_url="/admin/openapi.json",
        docs_url="/admin/docs",
        redoc_url=None,
        description="Manage organisations, teams, users, applications, virtual keys and budgets.",
    )

    @app.exception_handler(GatewayError)
    async def _gateway_error(request: Request, exc: GatewayError) -> Response:
        return _error(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        message, param = _validation_message(exc)
        return _error(GatewayError(400, message, code="invalid_request", param=param))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        return _error(GatewayError(exc.status_code, str(exc.detail), code="invalid_request"))

    app.state.service = service
    app.state.authenticator = authenticator
    for kind, plural in _PLURALS.items():
        _entity_routes(app, service, kind, plural)

    @app.post("/admin/v1/keys", status_code=201, tags=["keys"], summary="Create a virtual key")
    async def create_key(body: KeyIn, who: Actor) -> KeyCreated:
        """The response carries the key itself; it is shown only this once."""
        return await service.create_key(who, body)

    @app.get(
        "/admin/v1/keys", tags=["keys"], summary="List virtual keys (by prefix, never the key)"
    )
    async def list_keys(
        who: Actor,
        org_id: str | None = None,
        team_id: str | None = None,
        user_id: str | None = None,
        app_id: str | None = None,
    ) -> list[KeyOut]:
        return await service.list_keys(
            who, org_id=org_id, team_id=team_id, user_id=user_id, app_id=app_id
        )

    @app.get("/admin/v1/keys/{key_id}", tags=["keys"], summary="Get a virtual key")
    async def get_key(key_id: str, who: Actor) -> KeyOut:
        return await service.get_key(who, key_id)

    @app.patch(
        "/admin/v1/keys/{key_id}",
        tags=["keys"],
        summary="Change a key's policy, name, metadata or expiry",
    )
    async def update_key(key_id: str, body: KeyPatch, who: Actor) -> KeyOut:
        return await service.update_key(who, key_id, body)

    @app.post("/admin/v1/keys/{key_id}/revoke", tags=["keys"], summary="Revoke a key at once")
    async def revoke_key(key_id: str, who: Actor) -> KeyOut:
        return await service.revoke_key(who, key_id)

    @app.post(
        "/admin/v1/keys/{key_id}/rotate",
        tags=["keys"],
        summary="Issue a new key value; the old one works for a grace period",
    )
    async def rotate_key(key_id: str, who: Actor, body: RotateIn | None = None) -> KeyCreated:
        return await service.rotate_key(who, key_id, body or RotateIn())

    @app.get("/admin/v1/keys/{key_id}/spend", tags=["keys"], summary="Spend and budget left")
    async def key_spend(key_id: str, who: Actor) -> SpendOut:
        return await service.spend(who, "key", key_id)

    return app


def _entity_routes(app: FastAPI, service: GovernanceService, kind: EntityKind, plural: str) -> None:
    title = _TITLES[kind]
    base = f"/admin/v1/{plural}"

    async def create(body: EntityIn, who: Actor) -> EntityOut:
        return await service.create(who, kind, body)

    async def list_all(who: Actor, org_id: str | None = None) -> list[EntityOut]:
        return await service.list_entities(who, kind, org_id)

    async def get_one(id: str, who: Actor) -> EntityOut:
        return await service.get(who, kind, id)

    async def update(id: str, body: EntityPatch, who: Actor) -> EntityOut:
        return await service.update(who, kind, id, body)

    async def delete(id: str, who: Actor) -> Response:
        await service.delete(who, kind, id)
        return Response(status_code=204)

    async def spend(id: str, who: Actor) -> SpendOut:
        return await service.spend(who, kind, id)

    tags: list[Any] = [plural]
    app.add_api_route(
        base,
        create,
        methods=["POST"],
        status_code=201,
        tags=tags,
        summary=f"Create an {title}" if title[0] in "aeiou" else f"Create a {title}",
        operation_id=f"create_{kind}",
    )
    app.add_api_route(
        base,
        list_all,
        methods=["GET"],
        tags=tags,
        summary=f"List {plural}",
        operation_id=f"list_{plural}",
    )
    app.add_api_route(
        f"{base}/{{id}}",
        get_one,
        methods=["GET"],
        tags=tags,
        summary=f"Get one {title}",
        operation_id=f"get_{kind}",
    )
    app.add_api_route(
        f"{base}/{{id}}",
        update,
        methods=["PATCH"],
        tags=tags,
        summary=f"Change an {title}'s name, policy or metadata",
        operation_id=f"update_{kind}",
    )
    app.add_api_route(
        f"{base}/{{id}}",
        delete,
        methods=["DELETE"],
        status_code=204,
        tags=tags,
        summary=f"Delete an {title} no key refers to",
        operation_id=f"delete_{kind}",
        response_class=Response,
    )
    app.add_api_route(
        f"{base}/{{id}}/spend",
        spend,
        methods=["GET"],
        tags=tags,
        summary="Spend and budget left",
        operation_id=f"spend_{kind}",
    )


def openapi_json(app: FastAPI) -> bytes:
    return orjson.dumps(app.openapi())
