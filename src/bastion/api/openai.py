"""OpenAI-compatible HTTP surface: /v1/chat/completions, /v1/embeddings, /v1/models.

Plain ASGI handlers. They turn the wire format into the canonical request
(for OpenAI's format that is the body itself), run the pipeline, and write the
answer back. No business rule lives here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import orjson

from bastion.api.http import (
    JSON_HEADERS,
    SSE_HEADERS,
    bearer_or_api_key,
    header,
    parse_json_object,
    read_body,
    send_response,
)
from bastion.asgi import Headers, Receive, Scope, Send
from bastion.errors import GatewayError, bad_request
from bastion.pipeline import Pipeline, RequestContext
from bastion.providers.base import JSON, Endpoint
from bastion.routing.catalog import ModelCatalog

log = logging.getLogger("bastion.api")

_INTERNAL = GatewayError(
    500,
    "The gateway failed to handle this request; see the gateway log for its request id.",
    code="internal_error",
)


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


def _request_id(scope: Scope) -> str | None:
    """Honour a caller's ``x-request-id`` when it is short and plain, to join logs across systems."""
    value = header(scope, b"x-request-id")
    if value and len(value) <= 128 and value.isascii() and all(c > 32 for c in value):
        return value.decode()
    return None


def _response_headers(ctx: RequestContext, base: Headers) -> Headers:
    headers = [
        *base,
        (b"x-request-id", ctx.request_id.encode()),
        (b"server-timing", ctx.server_timing()),
    ]
    if ctx.deployment is not None:
        headers.append((b"x-bastion-served-by", ctx.deployment.label.encode()))
    return headers


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
        ctx = RequestContext("chat", "openai", _request_id(scope))
        ctx.api_key = bearer_or_api_key(scope)
        try:
            await self.pipeline.authenticate(ctx)
        except GatewayError as error:
            await send_response(
                send, error.status, openai_error_body(error), _response_headers(ctx, JSON_HEADERS)
            )
            return
        created = int(time.time())
        data = [
            {"id": name, "object": "model", "created": created, "owned_by": "bastion"}
            for name in self.catalog.public_names()
        ]
        body = orjson.dumps({"object": "list", "data": data})
        await send_response(send, 200, body, _response_headers(ctx, JSON_HEADERS))

    async def _proxy(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        endpoint: Endpoint,
        validate: Callable[[JSON], None],
    ) -> None:
        ctx = RequestContext(endpoint, "openai", _request_id(scope))
        ctx.api_key = bearer_or_api_key(scope)
        started = False  # response headers sent
        watcher: asyncio.Task[None] | None = None
        try:
            await self.pipeline.authenticate(ctx)
            body = parse_json_object(await read_body(scope, receive, self.max_body_bytes))
            ctx.model = _require_model(body)
            validate(body)
            ctx.body = body
            ctx.stream = endpoint == "chat" and body.get("stream") is True
            await self.pipeline.admit(ctx)
            # From here the upstream is called: a client that goes away cancels it.
            watcher = _watch_disconnect(receive, ctx)
            if ctx.stream:
                chunks = await self.pipeline.open_stream(ctx)
                ctx.status = 200
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": _response_headers(ctx, SSE_HEADERS),
                    }
                )
                started = True
                try:
                    async for piece in chunks:
                        await send({"type": "http.response.body", "body": piece, "more_body": True})
                except (
                    GatewayError
                ) as error:  # after the first byte: end the stream with an error event
                    ctx.error = error
                    await send(
                        {
                            "type": "http.response.body",
                            "more_body": True,
                            "body": b"data: " + openai_error_body(error) + b"\n\n",
                        }
                    )
                finally:
                    await chunks.aclose()  # type: ignore[attr-defined]
                await send({"type": "http.response.body", "body": b""})
            else:
                completion = await self.pipeline.complete(ctx)
                ctx.status = 200
                await send_response(
                    send, 200, completion.body, _response_headers(ctx, JSON_HEADERS)
                )
        except GatewayError as error:
            await self._fail(ctx, send, error, started)
        except asyncio.CancelledError:
            if not ctx.client_gone:
                raise
            # The client disconnected: the upstream request was cancelled with us.
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            ctx.status = 499
        except Exception:
            log.exception("unhandled error in request %s", ctx.request_id)
            await self._fail(ctx, send, _INTERNAL, started)
        finally:
            if watcher is not None:
                watcher.cancel()
            self.pipeline.finish(ctx)

    async def _fail(
        self, ctx: RequestContext, send: Send, error: GatewayError, started: bool
    ) -> None:
        ctx.error = error
        ctx.status = error.status
        if started:  # headers are out; all we can do is end the stream with an error event
            await send(
                {
                    "type": "http.response.body",
                    "more_body": False,
                    "body": b"data: " + openai_error_body(error) + b"\n\n",
                }
            )
            return
        headers = _response_headers(ctx, JSON_HEADERS)
        headers.extend((k.encode(), v.encode()) for k, v in error.headers.items())
        await send_response(send, error.status, openai_error_body(error), headers)


def _watch_disconnect(receive: Receive, ctx: RequestContext) -> asyncio.Task[None]:
    """Cancel the handling task when the client disconnects (the body was read already)."""
    handler = asyncio.current_task()

    async def watch() -> None:
        message = await receive()
        if message["type"] == "http.disconnect" and handler is not None and not handler.done():
            ctx.client_gone = True
            handler.cancel()

    return asyncio.create_task(watch())


Handler = Callable[[Scope, Receive, Send], Awaitable[None]]
__all__ = ["Handler", "OpenAIAPI", "openai_error_body", "validate_chat", "validate_embeddings"]
