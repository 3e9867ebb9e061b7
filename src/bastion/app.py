"""Builds the ASGI application from the configuration.

The proxy endpoints are plain ASGI handlers found by one dict lookup; every
other route (health, later the UI) is served by Starlette, and ``/admin/`` by the
admin API (FastAPI).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as StarletteRoute

from bastion import __version__
from bastion.api.admin import build_admin_app
from bastion.api.anthropic import AnthropicAPI
from bastion.api.http import JSON_HEADERS, send_response
from bastion.api.key_info import KeyInfoAPI
from bastion.api.openai import OpenAIAPI, openai_error_body
from bastion.asgi import Receive, Scope, Send
from bastion.config import GatewayConfig, load_config
from bastion.errors import GatewayError
from bastion.governance.auth import (
    MASTER_HASH_ENV,
    Authenticator,
    default_data_dir,
    resolve_master_key,
)
from bastion.governance.runtime import Governance
from bastion.pipeline import Authenticate, Pipeline, Route
from bastion.routing.catalog import ModelCatalog
from bastion.transport import Transport

log = logging.getLogger("bastion")

Handler = Callable[[Scope, Receive, Send], Awaitable[None]]


class Gateway:
    """The gateway's ASGI application and the objects it owns."""

    def __init__(self, config: GatewayConfig, master_digest: str) -> None:
        self.config = config
        self.transport = Transport()
        self.catalog = ModelCatalog(config)
        self.governance = Governance(config, default_data_dir(config))
        authenticator = Authenticator.from_config(config, master_digest, self.governance.cache)
        self.pipeline = Pipeline(
            authenticate=Authenticate(authenticator),
            stages=[
                # Before Route: a model the key may not use is 403 whether it exists or not.
                self.governance.authorize,
                Route(self.catalog),
                self.governance.limits,
            ],
            transport=self.transport,
            finishers=[self.governance.settle],
            model_filter=self.governance.authorize.allows,
        )
        self.openai = OpenAIAPI(self.pipeline, self.catalog, config.server.max_body_bytes)
        self.anthropic = AnthropicAPI(self.pipeline, config.server.max_body_bytes)
        self.key_info = KeyInfoAPI(self.pipeline, self.governance)
        self.admin = build_admin_app(self.governance.service, authenticator)
        self.ready = False
        routes: dict[tuple[str, str], Handler] = {}
        for prefix in ("/v1", ""):  # clients configured without /v1 in the base URL work too
            routes["POST", prefix + "/chat/completions"] = self.openai.chat_completions
            routes["POST", prefix + "/embeddings"] = self.openai.embeddings
            routes["GET", prefix + "/models"] = self.openai.models
            routes["POST", prefix + "/messages"] = self.anthropic.messages
            routes["POST", prefix + "/messages/count_tokens"] = self.anthropic.count_tokens
            routes["GET", prefix + "/key/info"] = self.key_info
        self._routes = routes
        self._proxy_paths = {path for _, path in routes}
        self._other = Starlette(
            routes=[
                StarletteRoute("/health/live", self._live, methods=["GET"]),
                StarletteRoute("/health/ready", self._ready, methods=["GET"]),
            ]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            handler = self._routes.get((scope["method"], scope["path"]))
            if handler is not None:
                await handler(scope, receive, send)
                return
            path: str = scope["path"]
            if path in self._proxy_paths:
                await _error(
                    send, GatewayError(405, f"Method {scope['method']} is not allowed on {path}.")
                )
                return
            if path.startswith("/v1/"):
                await _error(
                    send,
                    GatewayError(
                        404, f"Unknown endpoint: {scope['method']} {path}.", code="unknown_url"
                    ),
                )
                return
            if path.startswith("/admin/"):
                await self.admin(scope, receive, send)
                return
            await self._other(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        await self.transport.start()
        await self.governance.start()
        self.ready = True

    async def shutdown(self) -> None:
        self.ready = False
        await self.governance.stop()
        await self.transport.stop()

    async def _live(self, request: Request) -> Response:
        return Response(
            orjson.dumps({"status": "ok", "version": __version__}), media_type="application/json"
        )

    async def _ready(self, request: Request) -> Response:
        body = {
            "status": "ready" if self.ready else "starting",
            "providers": sorted(self.catalog.providers),
        }
        return Response(
            orjson.dumps(body),
            status_code=200 if self.ready else 503,
            media_type="application/json",
        )


async def _error(send: Send, error: GatewayError) -> None:
    await send_response(send, error.status, openai_error_body(error), JSON_HEADERS)


def create_app(config: GatewayConfig | None = None, master_digest: str | None = None) -> Gateway:
    """The application factory (``uvicorn --factory bastion.app:create_app``).

    With no arguments it reads ``BASTION_CONFIG`` (or discovers providers from the
    environment) and the master key digest that ``bastion serve`` hands its workers.
    """
    if config is None:
        config = load_config(os.environ.get("BASTION_CONFIG") or None)
    if master_digest is None:
        master_digest = (
            os.environ.get(MASTER_HASH_ENV)
            or resolve_master_key(config, default_data_dir(config)).digest
        )
    return Gateway(config, master_digest)
