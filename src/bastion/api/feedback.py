"""``POST /v1/feedback``: a caller rates an answer it got, by its request id.

    {"request_id": "…", "score": "up" | "down" | 1-5, "comment": "…", "tags": ["…"]}

Authorised by the key that made the request (or an admin). A plain ASGI handler
beside the proxy endpoints; the feedback joins the spend ledger in reports.
"""

from __future__ import annotations

import orjson
from pydantic import ValidationError

from bastion.accounting.reports import FeedbackIn, FeedbackService
from bastion.api.http import JSON_HEADERS, bearer_or_api_key, read_body, send_response
from bastion.api.openai import openai_error_body
from bastion.asgi import Receive, Scope, Send
from bastion.errors import GatewayError, bad_request
from bastion.pipeline import Pipeline, RequestContext

_MAX_BODY = 64 * 1024


class FeedbackAPI:
    def __init__(self, pipeline: Pipeline, service: FeedbackService) -> None:
        self.pipeline = pipeline
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx = RequestContext("chat", "openai")
        ctx.api_key = bearer_or_api_key(scope)
        headers = [*JSON_HEADERS, (b"x-request-id", ctx.request_id.encode())]
        try:
            await self.pipeline.authenticate(ctx)
            if ctx.principal is None:  # authenticate sets it or raises
                raise GatewayError(401, "Invalid API key.", code="invalid_api_key")
            raw = await read_body(scope, receive, _MAX_BODY)
            try:
                data = FeedbackIn.model_validate_json(raw)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise bad_request(f"{where}: {first['msg']}", param=where or None) from None
            result = await self.service.give(ctx.principal, data)
        except GatewayError as error:
            await send_response(send, error.status, openai_error_body(error), headers)
            return
        await send_response(send, 200, orjson.dumps(result), headers)
