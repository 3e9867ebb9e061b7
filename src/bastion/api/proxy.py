"""The proxy flow that every ingress shares, whatever its wire format.

    authenticate ─► read the body (limit) ─► to canonical ─► admit (stages)
        ─► call (plain or streamed; a client that leaves cancels it) ─► answer ─► finish

A :class:`WireFormat` supplies what differs between ingress formats: how a body
becomes the canonical request, how the answer and the stream are written back,
and the shape of errors. The flow itself holds no business rule.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Protocol

from bastion.api.http import (
    JSON_HEADERS,
    SSE_HEADERS,
    bearer_or_api_key,
    header,
    read_body,
    send_response,
)
from bastion.asgi import Headers, Receive, Scope, Send
from bastion.errors import GatewayError
from bastion.pipeline import Completion, Pipeline, RequestContext

log = logging.getLogger("bastion.api")

INTERNAL_ERROR = GatewayError(
    500,
    "The gateway failed to handle this request; see the gateway log for its request id.",
    code="internal_error",
)


class WireFormat(Protocol):
    """One ingress wire format, as the proxy flow needs it."""

    def read(self, ctx: RequestContext, scope: Scope, body: bytes) -> None:
        """Parse and validate ``body``; set ``ctx.model``, ``ctx.body`` (canonical),
        ``ctx.stream`` and, for a non-OpenAI format, ``ctx.native``."""
        ...

    def admitted(self, ctx: RequestContext) -> None:
        """Called once the stages ran (the deployment is known), before the upstream call."""
        ...

    def answer(self, ctx: RequestContext, completion: Completion) -> bytes:
        """The response body for a finished answer."""
        ...

    def stream(self, ctx: RequestContext, pieces: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """The response stream for the pipeline's stream (OpenAI SSE, or native when passed through)."""
        ...

    def error_body(self, error: GatewayError) -> bytes:
        """An error as a JSON response body."""
        ...

    def error_event(self, error: GatewayError) -> bytes:
        """An error as the stream event that ends a stream whose headers went out."""
        ...


def request_id(scope: Scope) -> str | None:
    """Honour a caller's ``x-request-id`` when it is short and plain, to join logs across systems."""
    value = header(scope, b"x-request-id")
    if value and len(value) <= 128 and value.isascii() and all(c > 32 for c in value):
        return value.decode()
    return None


def response_headers(ctx: RequestContext, base: Headers) -> Headers:
    headers = [
        *base,
        (b"x-request-id", ctx.request_id.encode()),
        (b"server-timing", ctx.server_timing()),
    ]
    if ctx.deployment is not None:
        headers.append((b"x-bastion-served-by", ctx.deployment.label.encode()))
    if ctx.headers:  # set by stages, e.g. x-ratelimit-*
        headers.extend(ctx.headers)
    return headers


def watch_disconnect(receive: Receive, ctx: RequestContext) -> asyncio.Task[None]:
    """Cancel the handling task when the client disconnects (the body was read already)."""
    handler = asyncio.current_task()

    async def watch() -> None:
        message = await receive()
        if message["type"] == "http.disconnect" and handler is not None and not handler.done():
            ctx.client_gone = True
            handler.cancel()

    return asyncio.create_task(watch())


async def run_proxy(
    pipeline: Pipeline,
    wire: WireFormat,
    ctx: RequestContext,
    scope: Scope,
    receive: Receive,
    send: Send,
    max_body_bytes: int,
) -> None:
    """Serve one proxied request from start to finish (see the module docstring)."""
    ctx.api_key = bearer_or_api_key(scope)
    ctx.request_headers = scope["headers"]  # for routing rules and x-bastion-* (not copied)
    started = False  # response headers sent
    watcher: asyncio.Task[None] | None = None
    try:
        await pipeline.authenticate(ctx)
        wire.read(ctx, scope, await read_body(scope, receive, max_body_bytes))
        await pipeline.admit(ctx)
        wire.admitted(ctx)
        # From here the upstream is called: a client that goes away cancels it.
        watcher = watch_disconnect(receive, ctx)
        if ctx.stream:
            pieces = await pipeline.open_stream(ctx)
            out = wire.stream(ctx, pieces)
            capture = ctx.capture  # the audit trail keeps this answer
            try:  # from here the stream is always closed, even if the client leaves now
                ctx.status = 200
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": response_headers(ctx, SSE_HEADERS),
                    }
                )
                started = True
                async for piece in out:
                    if capture is not None:  # here, not in a generator around the stream
                        capture.add(piece)
                    await send({"type": "http.response.body", "body": piece, "more_body": True})
                    if not ctx.first_byte_ns:  # time to first token, for metrics and traces
                        ctx.first_byte_ns = time.perf_counter_ns()
            except GatewayError as error:  # after the first byte: end with an error event
                ctx.error = error
                await send(
                    {
                        "type": "http.response.body",
                        "body": wire.error_event(error),
                        "more_body": True,
                    }
                )
            finally:
                if out is not pieces:
                    await out.aclose()  # type: ignore[attr-defined]
                await pieces.aclose()  # type: ignore[attr-defined]
            await send({"type": "http.response.body", "body": b""})
        else:
            completion = await pipeline.complete(ctx)
            body = wire.answer(ctx, completion)
            if ctx.capture is not None:
                ctx.capture.add(body)
            ctx.status = 200
            await send_response(send, 200, body, response_headers(ctx, JSON_HEADERS))
    except GatewayError as error:
        await _fail(wire, ctx, send, error, started)
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
        await _fail(wire, ctx, send, INTERNAL_ERROR, started)
    finally:
        if watcher is not None:
            watcher.cancel()
        pipeline.finish(ctx)


async def fail(wire: WireFormat, ctx: RequestContext, send: Send, error: GatewayError) -> None:
    """Answer with ``error`` before any response byte went out."""
    await _fail(wire, ctx, send, error, False)


async def _fail(
    wire: WireFormat, ctx: RequestContext, send: Send, error: GatewayError, started: bool
) -> None:
    ctx.error = error
    ctx.status = error.status
    if started:  # headers are out; all we can do is end the stream with an error event
        await send(
            {"type": "http.response.body", "body": wire.error_event(error), "more_body": False}
        )
        return
    headers = response_headers(ctx, JSON_HEADERS)
    headers.extend((k.encode(), v.encode()) for k, v in error.headers.items())
    await send_response(send, error.status, wire.error_body(error), headers)
