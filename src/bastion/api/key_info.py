"""``GET /v1/key/info``: a caller sees its own key's policy, limits and budget left.

A plain ASGI handler beside the proxy endpoints, authenticated the same way.
It reads counters (memory or Redis), never the key's value or digest.
"""

from __future__ import annotations

import orjson

from bastion.api.http import JSON_HEADERS, bearer_or_api_key, send_response
from bastion.api.openai import openai_error_body
from bastion.asgi import Receive, Scope, Send
from bastion.errors import GatewayError
from bastion.governance.runtime import Governance
from bastion.pipeline import Pipeline, RequestContext


class KeyInfoAPI:
    def __init__(self, pipeline: Pipeline, governance: Governance) -> None:
        self.pipeline = pipeline
        self.governance = governance

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx = RequestContext("chat", "openai")
        ctx.api_key = bearer_or_api_key(scope)
        headers = [*JSON_HEADERS, (b"x-request-id", ctx.request_id.encode())]
        try:
            await self.pipeline.authenticate(ctx)
            assert ctx.principal is not None  # authenticate sets it or raises
            info = await self.governance.key_info(ctx.principal)
        except GatewayError as error:
            await send_response(send, error.status, openai_error_body(error), headers)
            return
        await send_response(send, 200, orjson.dumps(info.model_dump()), headers)
