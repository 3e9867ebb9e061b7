"""Anthropic Messages HTTP surface: ``POST /v1/messages`` and ``/v1/messages/count_tokens``.

An Anthropic-format caller (the ``anthropic`` SDKs, Claude Code, ...) reaches any
model. The body is translated to the canonical request for the stages and for
non-Anthropic models, and the answer (plain or streamed) back to Anthropic's
format. When the routed deployment speaks Anthropic's wire itself, the caller's
body goes upstream untranslated (only ``model`` replaced) and the upstream's
answer comes back as it was sent: nothing is lost, unknown fields included.

The caller's key is accepted as ``x-api-key`` or ``Authorization: Bearer``; any
``anthropic-version`` is accepted. Errors use Anthropic's shape,
``{"type": "error", "error": {"type", "message"}}``, streamed as ``event: error``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson

from bastion.api.http import (
    JSON_HEADERS,
    bearer_or_api_key,
    header,
    parse_json_object,
    read_body,
    send_response,
)
from bastion.api.proxy import INTERNAL_ERROR, fail, request_id, response_headers, run_proxy
from bastion.asgi import Receive, Scope, Send
from bastion.errors import GatewayError, bad_request
from bastion.pipeline import Completion, Pipeline, RequestContext
from bastion.providers.anthropic_messages import from_anthropic
from bastion.providers.anthropic_responses import (
    AnthropicStreamEncoder,
    anthropic_error_body,
    to_anthropic_response,
)
from bastion.providers.base import JSON, NativeRequest
from bastion.providers.canonical import text_of
from bastion.providers.openai_compat import OpenAIStreamDecoder

log = logging.getLogger("bastion.api")
_FORWARDED_HEADERS = (b"anthropic-beta",)


def _native_request(scope: Scope, body: JSON, operation: str | None = None) -> NativeRequest:
    headers = {}
    for name in _FORWARDED_HEADERS:
        value = header(scope, name)
        if value:
            headers[name.decode()] = value.decode("latin-1")
    return NativeRequest(body, operation, headers)


def _outline(body: JSON) -> JSON:
    """A text-only canonical view of a request that only an Anthropic model can serve
    (server tools, citations, ...): what the stages read; never sent anywhere."""
    messages: list[JSON] = []
    system = body.get("system")
    if system:
        messages.append({"role": "system", "content": text_of(system)})
    for message in body.get("messages") or ():
        if isinstance(message, dict) and message.get("role") in ("user", "assistant"):
            messages.append({"role": message["role"], "content": text_of(message.get("content"))})
    out: JSON = {"model": body.get("model"), "messages": messages}
    if isinstance(body.get("max_tokens"), int):
        out["max_tokens"] = body["max_tokens"]
    return out


def _speaks_anthropic(ctx: RequestContext) -> bool:
    adapter = ctx.deployment.adapter if ctx.deployment is not None else None
    return getattr(adapter, "native_wire", None) == "anthropic"


class AnthropicWire:
    """Anthropic Messages as a :class:`~bastion.api.proxy.WireFormat`."""

    def read(self, ctx: RequestContext, scope: Scope, body: bytes) -> None:
        data = parse_json_object(body)
        try:
            canonical = from_anthropic(data)
        except GatewayError as error:
            # Some requests only an Anthropic model can serve: decided once routed.
            if not isinstance(data.get("model"), str) or error.param in (
                "model",
                "max_tokens",
                "messages",
            ):
                raise
            ctx.error = error  # held until admitted(): raised unless the model is Claude
            canonical = _outline(data)
            canonical["stream"] = data.get("stream") is True
        ctx.model = str(canonical["model"])
        ctx.body = canonical
        ctx.stream = canonical.get("stream") is True
        ctx.native = _native_request(scope, data)

    def admitted(self, ctx: RequestContext) -> None:
        if ctx.error is not None and not _speaks_anthropic(ctx):
            raise ctx.error
        ctx.error = None

    def answer(self, ctx: RequestContext, completion: Completion) -> bytes:
        if ctx.passthrough:
            return completion.body
        return orjson.dumps(to_anthropic_response(completion.json(), ctx.model))

    def stream(self, ctx: RequestContext, pieces: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        if ctx.passthrough:
            return pieces
        return _anthropic_events(pieces, ctx.model)

    def error_body(self, error: GatewayError) -> bytes:
        return anthropic_error_body(error)

    def error_event(self, error: GatewayError) -> bytes:
        return b"event: error\ndata: " + anthropic_error_body(error) + b"\n\n"


async def _anthropic_events(pieces: AsyncIterator[bytes], model: str) -> AsyncIterator[bytes]:
    """The pipeline's OpenAI-format stream as Anthropic's event sequence."""
    decoder = OpenAIStreamDecoder()
    encoder = AnthropicStreamEncoder(model)
    async for piece in pieces:
        out = b"".join(encoder.feed(chunk) for chunk in decoder.feed(piece))
        if out:
            yield out
    tail = b"".join(encoder.feed(chunk) for chunk in decoder.close())
    yield tail + encoder.close()


def estimate_input_tokens(body: JSON) -> int:
    """A cheap token estimate (about four characters a token) for a model that cannot count."""
    chars = 0
    images = 0

    def walk(value: Any) -> None:
        nonlocal chars, images
        if isinstance(value, str):
            chars += len(value)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            if value.get("type") in ("image", "document"):
                images += 1
                return
            for key, item in value.items():
                if key not in ("type", "role", "cache_control", "signature", "data"):
                    walk(item)

    walk(body.get("system"))
    walk(body.get("messages"))
    walk(body.get("tools"))
    messages = body.get("messages")
    count = len(messages) if isinstance(messages, list) else 0
    return (chars + 3) // 4 + 4 * count + 1600 * images


class AnthropicAPI:
    def __init__(self, pipeline: Pipeline, max_body_bytes: int) -> None:
        self.pipeline = pipeline
        self.max_body_bytes = max_body_bytes
        self.wire = AnthropicWire()

    async def messages(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx = RequestContext("chat", "anthropic", request_id(scope))
        await run_proxy(self.pipeline, self.wire, ctx, scope, receive, send, self.max_body_bytes)

    async def count_tokens(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Forwarded to an Anthropic model; estimated for any other."""
        ctx = RequestContext("chat", "anthropic", request_id(scope))
        ctx.api_key = bearer_or_api_key(scope)
        try:
            await self.pipeline.authenticate(ctx)
            data = parse_json_object(await read_body(scope, receive, self.max_body_bytes))
            model = data.get("model")
            if not isinstance(model, str) or not model:
                raise bad_request("model: Field required (a non-empty string).", param="model")
            if not isinstance(data.get("messages"), list):
                raise bad_request("messages: Field required (an array).", param="messages")
            ctx.model = model
            ctx.body = _outline(data)
            ctx.native = _native_request(scope, data, "count_tokens")
            await self.pipeline.admit(ctx)
            if _speaks_anthropic(ctx):
                body = (await self.pipeline.complete(ctx)).body
            else:
                body = orjson.dumps({"input_tokens": estimate_input_tokens(data)})
            ctx.usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}  # free
            ctx.status = 200
            await send_response(send, 200, body, response_headers(ctx, JSON_HEADERS))
        except GatewayError as error:
            await fail(self.wire, ctx, send, error)
        except Exception:
            log.exception("unhandled error in request %s", ctx.request_id)
            await fail(self.wire, ctx, send, INTERNAL_ERROR)
        finally:
            self.pipeline.finish(ctx)
