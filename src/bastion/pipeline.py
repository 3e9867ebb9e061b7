"""A request is a pipeline of stages; this module is that pipeline, top to bottom.

    ingress (api/) ─► authenticate ─► authorize ─► route ─► limits ─► call ─► egress (api/)
        ─► finish (settle: the real cost replaces the budget reservation)

Each admission stage is a small object with one job that reads and writes the
:class:`RequestContext`; the stages (governance's authorize and limits, the
route; later guardrails and cache) are ``Pipeline.stages``, listed in app.py. The call runs the request against the
routed deployment through its provider adapter and the shared transport; the
finishers (accounting, audit, metrics) run after the response went out and
only enqueue work, never write to a database on the request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any, Protocol

import orjson

from bastion.accounting.pricing import estimate_answer_tokens
from bastion.accounting.usage import StreamUsageTap, extract_usage
from bastion.errors import GatewayError
from bastion.governance.auth import Authenticator
from bastion.governance.principal import Principal
from bastion.observability.audit_bodies import BodyCapture
from bastion.providers.base import (
    JSON,
    Deployment,
    Endpoint,
    NativeRequest,
    NativeWireAdapter,
    ProviderAdapter,
)
from bastion.providers.canonical import base64_embeddings
from bastion.routing.attempts import Attempt
from bastion.routing.plan import RoutePlan
from bastion.routing.router import Router
from bastion.transport import Transport, UpstreamStream

log = logging.getLogger("bastion.pipeline")


_NO_HEADERS: list[tuple[bytes, bytes]] = []  # shared, never mutated: the ingress replaces it


class RequestContext:
    """Everything known about one request as it travels through the stages."""

    __slots__ = (
        "api_key",
        "attempts",
        "body",
        "capture",
        "charged_nusd",
        "client_gone",
        "deployment",
        "deployments",
        "endpoint",
        "error",
        "first_byte_ns",
        "guardrails",
        "headers",
        "ingress",
        "model",
        "native",
        "output_estimate",
        "output_filters",
        "passthrough",
        "principal",
        "regions",
        "request_headers",
        "request_id",
        "route",
        "started_ns",
        "status",
        "stream",
        "ticket",
        "upstream_ns",
        "usage",
        "want_usage",
    )

    def __init__(self, endpoint: Endpoint, ingress: str, request_id: str | None = None) -> None:
        self.started_ns = time.perf_counter_ns()
        self.request_id = request_id or uuid.uuid4().hex
        self.endpoint: Endpoint = endpoint
        self.ingress = ingress  # the caller's wire format: "openai", "anthropic"
        self.api_key: str | None = None  # cleared once authenticated
        self.principal: Principal | None = None
        self.body: JSON = {}
        # The request as the caller sent it, when the ingress format is not OpenAI's: an
        # upstream speaking that format natively gets it untranslated (``passthrough``
        # then tells the ingress the answer is in its own format). A stage that rewrites
        # ``body`` must set ``native`` to None, so that its rewrite is what goes upstream.
        self.native: NativeRequest | None = None
        self.passthrough = False
        self.model = ""
        self.stream = False
        self.deployments: tuple[Deployment, ...] = ()
        self.deployment: Deployment | None = None  # after the call: the one that served
        # Routing: the caller's raw headers (rules, x-bastion-*), the regions policies
        # allow (none: any), the route plan, and every upstream attempt made, in order.
        self.request_headers: list[tuple[bytes, bytes]] = _NO_HEADERS
        self.regions: tuple[frozenset[str], ...] = ()  # each set must allow the deployment
        self.route: RoutePlan | None = None
        self.attempts: list[Attempt] | None = None
        self.upstream_ns = 0
        self.first_byte_ns = 0  # when the first streamed byte went to the caller (0: not yet)
        self.status = 0
        self.error: GatewayError | None = None
        self.usage: JSON | None = None
        self.client_gone = False
        # Governance: what admission holds until the request settles, extra response
        # headers (x-ratelimit-*), and whether the upstream's usage must be captured.
        self.ticket: object | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.want_usage = False
        # Output tokens estimated from the answer, set only when no usage came back.
        self.output_estimate = 0
        self.charged_nusd: int | None = None  # what budgets were charged, once settled
        # Audit: collects the answer as the caller receives it, when bodies are logged.
        self.capture: BodyCapture | None = None
        # Guardrails: the request's guardrail session (its verdicts: detector, kind, action,
        # count, never a value), and the filters the answer goes through before the caller
        # sees it (see OutputFilter). Empty: the answer passes as it came, raw bytes included.
        self.guardrails: object | None = None
        self.output_filters: tuple[OutputFilter, ...] = ()

    def server_timing(self) -> bytes:
        """``Server-Timing``: the gateway's own time and the upstream's, in ms."""
        total = time.perf_counter_ns() - self.started_ns
        gateway = max(total - self.upstream_ns, 0)
        return (
            f"gateway;dur={gateway / 1e6:.3f}, upstream;dur={self.upstream_ns / 1e6:.3f}".encode()
        )


class Stage(Protocol):
    async def __call__(self, ctx: RequestContext) -> None: ...


class OutputFilter(Protocol):
    """Looks at (and may rewrite) the answer; a stage adds it to ``ctx.output_filters``.

    ``completion`` gets the finished answer; ``stream`` wraps the stream, which is
    OpenAI-format SSE unless ``ctx.passthrough`` (a stage needing to read it sets
    ``ctx.native = None``). Either may raise a GatewayError: before the first byte it
    is the response, after it the stream ends with an error event.
    """

    def completion(self, ctx: RequestContext, done: Completion) -> Completion: ...

    def stream(self, ctx: RequestContext, pieces: AsyncIterator[bytes]) -> AsyncIterator[bytes]: ...


class Authenticate:
    def __init__(self, authenticator: Authenticator) -> None:
        self._auth = authenticator

    async def __call__(self, ctx: RequestContext) -> None:
        ctx.principal = self._auth.authenticate(ctx.api_key)
        ctx.api_key = None  # the clear key goes no further


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

    def usage(self) -> JSON | None:
        """The ``usage`` object, without parsing a passed-through body whole."""
        if self._data is None:
            return extract_usage(self.body)
        usage = self._data.get("usage")
        return usage if isinstance(usage, dict) else None


Finisher = Callable[[RequestContext], None]
ModelFilter = Callable[[Principal, str], bool]


class Pipeline:
    """``authenticate`` runs before the body is read (no key: 401, whatever the body);
    ``stages`` run once the ingress has parsed the body into canonical form."""

    def __init__(
        self,
        authenticate: Stage,
        stages: Sequence[Stage],
        transport: Transport,
        finishers: Sequence[Finisher] = (),
        model_filter: ModelFilter | None = None,
        router: Router | None = None,
    ) -> None:
        self.authenticate = authenticate
        self.stages = tuple(stages)
        self.transport = transport
        self.finishers = tuple(finishers)
        # Attempts the routed deployments with failover, retries, fallbacks and breakers
        # when the request was routed by it; otherwise the call goes to ctx.deployment.
        self.router = router
        # Which model names a principal may see (GET /v1/models); None: all of them.
        self.model_filter = model_filter

    async def admit(self, ctx: RequestContext) -> None:
        for stage in self.stages:
            await stage(ctx)

    async def complete(self, ctx: RequestContext) -> Completion:
        if ctx.route is not None and self.router is not None:
            done: Completion = await self.router.call(ctx, self._complete_on)
        else:
            done = await self._complete_on(ctx, _served(ctx))
        for output in ctx.output_filters:
            done = output.completion(ctx, done)
        return done

    async def _complete_on(self, ctx: RequestContext, deployment: Deployment) -> Completion:
        """The whole answer of one deployment (one attempt, for the router)."""
        ctx.passthrough = False
        adapter = deployment.adapter
        # An upstream may take less per call than a caller sends (Titan embeddings: one
        # input): such an adapter splits the request and merges the answers, in order.
        split = getattr(adapter, "split_request", None)
        parts = split(ctx.endpoint, ctx.body, deployment) if split is not None else None
        if parts:
            limit = asyncio.Semaphore(_FAN_OUT)

            async def call(part: JSON) -> JSON:
                async with limit:
                    return (await self._call(ctx, deployment, part)).json()

            answers = await _all([call(part) for part in parts])
            data = adapter.merge_responses(ctx.endpoint, answers, deployment)  # type: ignore[attr-defined]
            done = Completion(orjson.dumps(data), data)
        else:
            done = await self._call(ctx, deployment, ctx.body)
        if (
            ctx.endpoint == "embeddings"
            and not adapter.openai_wire
            and ctx.body.get("encoding_format") == "base64"
        ):
            data = base64_embeddings(done.json())
            done = Completion(orjson.dumps(data), data)
        if ctx.want_usage:
            ctx.usage = done.usage()
            if ctx.usage is None and ctx.endpoint == "chat":
                with contextlib.suppress(Exception):  # an estimate only
                    ctx.output_estimate = estimate_answer_tokens(done.json())
        return done

    async def _call(self, ctx: RequestContext, deployment: Deployment, body: JSON) -> Completion:
        adapter = deployment.adapter
        native = _native(ctx, adapter)
        if native is not None and ctx.native is not None:
            req = native.build_native_request(ctx.native, deployment, stream=False)
        else:
            req = adapter.build_request(ctx.endpoint, body, deployment, stream=False)
        if adapter.signer is not None:
            req = await adapter.signer(req, deployment)
        t0 = time.perf_counter_ns()
        try:
            resp = await self.transport.send(req, deployment.timeouts, deployment.label)
        finally:
            ctx.upstream_ns += time.perf_counter_ns() - t0
        if resp.status >= 400:
            raise adapter.classify_error(resp.status, resp.body, resp.headers)
        if native is not None:
            ctx.passthrough = True
            return Completion(resp.body, _canonical_view(ctx, adapter, deployment, resp.body))
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
        chunk by chunk otherwise. A routed request fails over until the first
        byte has arrived (the router holds the stream back until then).
        """
        if ctx.route is not None and self.router is not None:
            pieces: AsyncIterator[bytes] = await self.router.stream(ctx, self._open_on)
        else:
            pieces = await self._open_on(ctx, _served(ctx))
        for output in ctx.output_filters:
            pieces = output.stream(ctx, pieces)
        return pieces

    async def _open_on(self, ctx: RequestContext, deployment: Deployment) -> AsyncIterator[bytes]:
        """Open one deployment's stream (one attempt, for the router)."""
        ctx.passthrough = False
        adapter = deployment.adapter
        request, strip_usage = ctx.body, False
        if ctx.want_usage and ctx.endpoint == "chat":
            request, strip_usage = _with_stream_usage(request)
        native = _native(ctx, adapter)
        if native is not None and ctx.native is not None:
            req = native.build_native_request(ctx.native, deployment, stream=True)
        else:
            req = adapter.build_request(ctx.endpoint, request, deployment, stream=True)
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
        if native is not None:
            ctx.passthrough = True
            if ctx.want_usage:
                return _native_passthrough(upstream, ctx, adapter.stream_decoder(deployment))
            return _passthrough(upstream)
        if adapter.openai_wire:
            if ctx.want_usage:
                return _metered_passthrough(upstream, ctx, StreamUsageTap(strip_usage))
            return _passthrough(upstream)
        decoder = adapter.stream_decoder(deployment)
        # Native decoders always end with a usage chunk: the client sees it only if it asked.
        strip_usage = ctx.endpoint == "chat" and not _asks_for_usage(ctx.body)
        return _translate(upstream, decoder, ctx if ctx.want_usage else None, strip_usage)

    def finish(self, ctx: RequestContext) -> None:
        for finisher in self.finishers:
            try:
                finisher(ctx)
            except Exception:  # a finisher must never break a response that went out
                log.exception("finisher %r failed", finisher)


_FAN_OUT = 8  # concurrent upstream calls for one split request


async def _all(calls: list[Coroutine[Any, Any, JSON]]) -> list[JSON]:
    """Run the calls concurrently; the first failure cancels the others and is raised."""
    tasks = [asyncio.ensure_future(c) for c in calls]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _served(ctx: RequestContext) -> Deployment:
    if ctx.deployment is None:
        raise RuntimeError("the route stage did not run")
    return ctx.deployment


def _native(ctx: RequestContext, adapter: ProviderAdapter) -> NativeWireAdapter | None:
    """The adapter, when its upstream speaks the caller's wire format and the body is at hand."""
    if ctx.native is not None and getattr(adapter, "native_wire", None) == ctx.ingress:
        return adapter  # type: ignore[return-value]  # it declares native_wire
    return None


def _canonical_view(
    ctx: RequestContext, adapter: ProviderAdapter, deployment: Deployment, body: bytes
) -> JSON:
    """The canonical form of a natively passed answer (its usage is what accounting reads)."""
    if ctx.native is None or ctx.native.operation is not None:
        return {}  # a side operation (token counting): no usage
    try:
        return adapter.parse_response(ctx.endpoint, body, deployment)
    except Exception:  # the caller still gets the upstream's bytes
        log.warning("could not read the usage of %s's answer", deployment.label)
        return {}


async def _native_passthrough(
    upstream: UpstreamStream, ctx: RequestContext, decoder: Any
) -> AsyncIterator[bytes]:
    """Pass the upstream's own stream through; its usage is read on the side."""
    reading = True
    try:
        async for piece in upstream:
            if reading:
                try:
                    for chunk in decoder.feed(piece):
                        usage = chunk.get("usage")
                        if isinstance(usage, dict):
                            ctx.usage = usage
                except Exception:  # an unreadable event must not break the caller's stream
                    reading = False
            yield piece
    finally:
        await upstream.close()


def _with_stream_usage(body: JSON) -> tuple[JSON, bool]:
    """Ask for the usage chunk (OpenAI-compatible servers send it only when asked).

    Returns the body for the upstream and whether the client did not ask for it
    (then the chunk is removed from what the client receives).
    """
    if _asks_for_usage(body):
        return body, False
    options = body.get("stream_options")
    extra = options if isinstance(options, dict) else {}
    return {**body, "stream_options": {**extra, "include_usage": True}}, True


def _asks_for_usage(body: JSON) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


async def _passthrough(upstream: UpstreamStream) -> AsyncIterator[bytes]:
    try:
        async for piece in upstream:
            yield piece
    finally:
        await upstream.close()


async def _metered_passthrough(
    upstream: UpstreamStream, ctx: RequestContext, tap: StreamUsageTap
) -> AsyncIterator[bytes]:
    """Pass-through that picks the usage chunk out (cut at SSE event boundaries only)."""
    try:
        async for piece in upstream:
            out = tap.feed(piece)
            if out:
                yield out
        rest = tap.close()
        if rest:
            yield rest
    finally:
        if tap.usage is not None:
            ctx.usage = tap.usage
        else:  # the role, finish and [DONE] events carry no output
            ctx.output_estimate = max(tap.events - 3, 0)
        await upstream.close()


async def _translate(
    upstream: UpstreamStream, decoder: Any, ctx: RequestContext | None, strip_usage: bool
) -> AsyncIterator[bytes]:
    """Translate chunk by chunk; when ``ctx`` is given, its usage is taken from the chunks."""

    def encode(chunks: list[JSON]) -> bytes:
        if ctx is not None:
            ctx.output_estimate += len(chunks)  # used only if no usage comes (a cut stream)
            for c in chunks:
                usage = c.get("usage")
                if isinstance(usage, dict):
                    ctx.usage = usage
        if strip_usage:
            chunks = [c for c in chunks if c.get("choices") or not c.get("usage")]
        return b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks)

    try:
        async for piece in upstream:
            chunks = decoder.feed(piece)
            if chunks:
                out = encode(chunks)
                if out:
                    yield out
        tail = decoder.close()
        if tail:
            yield encode(tail)
        yield b"data: [DONE]\n\n"
    finally:
        await upstream.close()
