"""OpenAI-compatible HTTP surface: /v1/chat/completions, /v1/embeddings, /v1/models.

Plain ASGI handlers. They turn the wire format into the canonical request
(for OpenAI's format that is the body itself), run the pipeline, and write the
answer back. No business rule lives here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson

from bastion.api.http import JSON_HEADERS, bearer_or_api_key, parse_json_object, send_response
from bastion.api.proxy import request_id, response_headers, run_proxy
from bastion.asgi import Receive, Scope, Send
from bastion.errors import GatewayError, bad_request
from bastion.pipeline import Completion, Pipeline, RequestContext
from bastion.providers.base import JSON, Endpoint
from bastion.routing.catalog import ModelCatalog

log = logging.getLogger("bastion.api")


def openai_error_body(error: GatewayError) -> bytes:
    return orjson.dumps(
        {
            "error": {
                "message": error.message,
                "type": error.error_type,
                "param": error.param,
                "code": error.code,
            }
        }
    )


# --- validation of the canonical request (cheap isinstance checks only) -------------------


def _require_model(body: JSON) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("You must provide a model parameter (a non-empty string).", param="model")
    return model


_NUMBER_FIELDS = ("temperature", "top_p", "frequency_penalty", "presence_penalty")
_INT_FIELDS = ("max_tokens", "max_completion_tokens", "n", "seed", "top_logprobs")


def validate_chat(body: JSON) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request(
            "'messages' must be a non-empty array of message objects.", param="messages"
        )
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise bad_request(
                f"messages[{i}] must be an object with a string 'role'.", param=f"messages[{i}]"
            )
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise bad_request("'stream' must be a boolean.", param="stream")
    for name in _NUMBER_FIELDS:
        value = body.get(name)
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
            raise bad_request(f"'{name}' must be a number.", param=name)
    for name in _INT_FIELDS:
        value = body.get(name)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 0
        ):
            raise bad_request(f"'{name}' must be a non-negative integer.", param=name)
    for name in ("tools", "stop") if "tools" in body or "stop" in body else ():
        value = body.get(name)
        if name == "tools" and value is not None and not isinstance(value, list):
            raise bad_request("'tools' must be an array.", param="tools")
        if name == "stop" and value is not None and not isinstance(value, str | list):
            raise bad_request("'stop' must be a string or an array of strings.", param="stop")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise bad_request("'stream_options' must be an object.", param="stream_options")


def validate_embeddings(body: JSON) -> None:
    value = body.get("input")
    ok = (isinstance(value, str) and value) or (
        isinstance(value, list) and value and all(isinstance(v, str | int | list) for v in value)
    )
    if not ok:
        raise bad_request(
            "'input' must be a non-empty string, array of strings, or array of token arrays.",
            param="input",
        )


# --- handlers ----------------------------------------------------------------------------


class OpenAIAPI:
    def __init__(self, pipeline: Pipeline, catalog: ModelCatalog, max_body_bytes: int) -> None:
        self.pipeline = pipeline
        self.catalog = catalog
        self.max_body_bytes = max_body_bytes

    async def chat_completions(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._proxy(scope, receive, send, "chat", validate_chat)

    async def embeddings(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._proxy(scope, receive, send, "embeddings", validate_embeddings)

    async def models(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx = RequestContext("chat", "openai", request_id(scope))
        ctx.api_key = bearer_or_api_key(scope)
        try:
            await self.pipeline.authenticate(ctx)
        except GatewayError as error:
            await send_response(
                send, error.status, openai_error_body(error), response_headers(ctx, JSON_HEADERS)
            )
            return
        created = int(time.time())
        names = self.catalog.public_names()
        visible = self.pipeline.model_filter
        if visible is not None and ctx.principal is not None:
            principal = ctx.principal
            names = [name for name in names if visible(principal, name)]
        data = [
            {"id": name, "object": "model", "created": created, "owned_by": "bastion"}
            for name in names
        ]
        body = orjson.dumps({"object": "list", "data": data})
        await send_response(send, 200, body, response_headers(ctx, JSON_HEADERS))

    async def _proxy(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        endpoint: Endpoint,
        validate: Callable[[JSON], None],
    ) -> None:
        ctx = RequestContext(endpoint, "openai", request_id(scope))
        wire = OpenAIWire(validate)
        await run_proxy(self.pipeline, wire, ctx, scope, receive, send, self.max_body_bytes)


class OpenAIWire:
    """OpenAI's format as a :class:`~bastion.api.proxy.WireFormat`: the canonical one,
    so requests and answers pass as they are."""

    __slots__ = ("_validate",)

    def __init__(self, validate: Callable[[JSON], None]) -> None:
        self._validate = validate

    def read(self, ctx: RequestContext, scope: Scope, body: bytes) -> None:
        data = parse_json_object(body)
        ctx.model = _require_model(data)
        self._validate(data)
        ctx.body = data
        ctx.stream = ctx.endpoint == "chat" and data.get("stream") is True

    def admitted(self, ctx: RequestContext) -> None:
        pass

    def answer(self, ctx: RequestContext, completion: Completion) -> bytes:
        return completion.body

    def stream(self, ctx: RequestContext, pieces: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        return pieces

    def error_body(self, error: GatewayError) -> bytes:
        return openai_error_body(error)

    def error_event(self, error: GatewayError) -> bytes:
        return b"data: " + openai_error_body(error) + b"\n\n"


Handler = Callable[[Scope, Receive, Send], Awaitable[None]]
__all__ = ["Handler", "OpenAIAPI", "openai_error_body", "validate_chat", "validate_embeddings"]
