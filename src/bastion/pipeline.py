"""A request is a pipeline of stages; this module is that pipeline, top to bottom.

    ingress (api/) ─► authenticate ─► route ─► call ─► egress (api/) ─► finish

Each admission stage is a small object with one job that reads and writes the
:class:`RequestContext`; later stages (authorisation, limits, guardrails,
cache) slot into ``Pipeline.stages``. The call runs the request against the
routed deployment through its provider adapter and the shared transport; the
finishers (accounting, audit, metrics) run after the response went out and
only enqueue work, never write to a database on the request path.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Protocol

import orjson

from bastion.errors import GatewayError
from bastion.governance.auth import Authenticator
from bastion.governance.principal import Principal
from bastion.providers.base import JSON, Deployment, Endpoint
from bastion.routing.catalog import ModelCatalog
from bastion.transport import Transport, UpstreamStream

log = logging.getLogger("bastion.pipeline")


class RequestContext:
    """Everything known about one request as it travels through the stages."""

    __slots__ = (
        "api_key",
        "body",
        "client_gone",
        "deployment",
        "deployments",
        "endpoint",
        "error",
        "ingress",
        "model",
        "principal",
        "request_id",
        "started_ns",
        "status",
        "stream",
        "upstream_ns",
        "usage",
    )

    def __init__(self, endpoint: Endpoint, ingress: str, request_id: str | None = None) -> None:
        self.started_ns = time.perf_counter_ns()
        self.request_id = request_id or uuid.uuid4().hex
        self.endpoint: Endpoint = endpoint
        self.ingress = ingress  # the caller's wire format: "openai", "anthropic"
        self.api_key: str | None = None  # cleared once authenticated
        self.principal: Principal | None = None
        self.body: JSON = {}
        self.model = ""
        self.stream = False
        self.deployments: tuple[Deployment, ...] = ()
        self.deployment: Deployment | None = None
        self.upstream_ns = 0
        self.status = 0
        self.error: GatewayError | None = None
        self.usage: JSON | None = None
        self.client_gone = False

    def server_timing(self) -> bytes:
        """``Server-Timing``: the gateway's own time and the upstream's, in ms."""
        total = time.perf_counter_ns() - self.started_ns
        gateway = max(total - self.upstream_ns, 0)
        return (
            f"gateway;dur={gateway / 1e6:.3f}, upstream;dur={self.upstream_ns / 1e6:.3f}".encode()
        )


class Stage(Protocol):
    async def __call__(self, ctx: RequestContext) -> None: ...


class Authenticate:
    def __init__(self, authenticator: Authenticator) -> None:
        self._auth = authenticator

    async def __call__(self, ctx: RequestContext) -> None:
        ctx.principal = self._auth.authenticate(ctx.api_key)
        ctx.api_key = None  # the clear key goes no further


class Route:
    def __init__(self, catalog: ModelCatalog) -> None:
        self._catalog = catalog

    async def __call__(self, ctx: RequestContext) -> None:
        candidates = self._catalog.resolve(ctx.model)
        supported = tuple(d for d in candidates if ctx.endpoint in d.adapter.endpoints)
        if not supported:
            raise GatewayError(
                400,
                f"The model '{ctx.model}' does not support the {ctx.endpoint} endpoint.",
                code="unsupported_endpoint",
                param="model",
            )
        ctx.deployments = supported
        ctx.deployment = supported[0]


class Completion:
    """A finished non-streamed answer in OpenAI's format: the bytes, parsed on demand."""

    __slots__ = ("_data", "body")

    def __init__(self, body: bytes, data: JSON | None = None) -> None:
        self.body = body
        self._data = data

    def json(self) -> JSON:
        if self._data is None:
            self._data = orjson.loads(self.body)
        return self._data


Finisher = Callable[[RequestContext], None]


class Pipeline:
    """``authenticate`` runs before the body is read (no key: 401, whatever the body);
    ``stages`` run once the ingress has parsed the body into canonical form."""

    def __init__(
        self,
        authenticate: Stage,
        stages: Sequence[Stage],
        transport: Transport,
        finishers: Sequence[Finisher] = (),
    ) -> None:
        self.authenticate = authenticate
        self.stages = tuple(stages)
        self.transport = transport
        self.finishers = tuple(finishers)

    async def admit(self, ctx: RequestContext) -> None:
        for stage in self.stages:
            await stage(ctx)

    async def complete(self, ctx: RequestContext) -> Completion:
        deployment = _served(ctx)
        adapter = deployment.adapter
        req = adapter.build_request(ctx.endpoint, ctx.body, deployment, stream=False)
        if adapter.signer is not None:
            req = await adapter.signer(req, deployment)
        t0 = time.perf_counter_ns()
        try:
            resp = await self.transport.send(req, deployment.timeouts, deployment.label)
        finally:
            ctx.upstream_ns += time.perf_counter_ns() - t0
        if resp.status >= 400:
            raise adapter.classify_error(resp.status, resp.body, resp.headers)
        if adapter.openai_wire:
            return Completion(resp.body)
        try:
            data = adapter.parse_response(ctx.endpoint, resp.body, deployment)
        except GatewayError:
            raise
        except Exception:
            log.exception("could not parse the response of %s", deployment.label)
            raise GatewayError(
                502,
                f"Unreadable response from the upstream ({deployment.label}).",
                code="bad_upstream_response",
                retryable=True,
            ) from None
        return Completion(orjson.dumps(data), data)

    async def open_stream(self, ctx: RequestContext) -> AsyncIterator[bytes]:
        """Open the upstream stream; errors before the first byte raise here.

        Returns an iterator of OpenAI-format SSE bytes. Pass-through when the
        upstream speaks OpenAI's format (the bytes as they arrive), translated
        chunk by chunk otherwise.
        """
        deployment = _served(ctx)
        adapter = deployment.adapter
        req = adapter.build_request(ctx.endpoint, ctx.body, deployment, stream=True)
        if adapter.signer is not None:
            req = await adapter.signer(req, deployment)
        t0 = time.perf_counter_ns()
        try:
            upstream = await self.transport.open_stream(req, deployment.timeouts, deployment.label)
        finally:
            ctx.upstream_ns += time.perf_counter_ns() - t0
        if upstream.status >= 400:
            try:
                body = await upstream.read_all()
            finally:
                await upstream.close()
            raise adapter.classify_error(upstream.status, body, upstream.headers)
        if adapter.openai_wire:
            return _passthrough(upstream)
        return _translate(upstream, adapter.stream_decoder(deployment), deployment)

    def finish(self, ctx: RequestContext) -> None:
        for finisher in self.finishers:
            try:
                finisher(ctx)
            except Exception:  # a finisher must never break a response that went out
                log.exception("finisher %r failed", finisher)


def _served(ctx: RequestContext) -> Deployment:
    if ctx.deployment is None:
        raise RuntimeError("the route stage did not run")
    return ctx.deployment


async def _passthrough(upstream: UpstreamStream) -> AsyncIterator[bytes]:
    try:
        async for piece in upstream:
            yield piece
    finally:
        await upstream.close()


async def _translate(
    upstream: UpstreamStream, decoder: Any, deployment: Deployment
) -> AsyncIterator[bytes]:
    try:
        async for piece in upstream:
            chunks = decoder.feed(piece)
            if chunks:
                yield b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks)
        tail = decoder.close()
        if tail:
            yield b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in tail)
        yield b"data: [DONE]\n\n"
    finally:
        await upstream.close()
