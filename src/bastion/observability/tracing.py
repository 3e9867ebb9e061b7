"""OpenTelemetry traces over OTLP/HTTP, loaded only when tracing is on.

One server span per request (``chat gpt-4o``), a child span per pipeline stage and
a client span per upstream attempt, with the GenAI semantic conventions' attributes.
The caller's W3C ``traceparent`` is continued, and each upstream attempt is sent its
own ``traceparent`` by the transport's hook, so the provider's trace joins ours.

The request path only takes timestamps: the ASGI wrapper opens a :class:`RequestTrace`
in a context variable, stage wrappers and the transport hook add marks to it, and
the spans are built after the response went out, as OTLP JSON dicts (the
OpenTelemetry SDK's span objects and protobuf encoding cost about 120 us a request,
these a tenth of that), and posted in batches by :class:`~bastion.observability.otlp.OTLPExporter`.
With tracing off this module is not imported and nothing is wrapped.
"""

from __future__ import annotations

import os
import random
import re
import time
from contextvars import ContextVar
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from bastion import __version__
from bastion.asgi import ASGIApp, Receive, Scope, Send
from bastion.observability.facts import RequestFacts
from bastion.observability.otlp import OTLPExporter, Span, attribute, label
from bastion.observability.settings import TracingConfig
from bastion.providers.base import UpstreamRequest

if TYPE_CHECKING:
    from bastion.pipeline import RequestContext, Stage

_TRACEPARENT = re.compile(rb"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_random = random.Random()  # ids need to be unique, not secret (as in the OpenTelemetry SDK)


class RequestTrace:
    """The marks of one request: ids, stage timings, upstream attempts, the facts."""

    __slots__ = (
        "attempts",
        "facts",
        "parent_id",
        "perf0",
        "sampled",
        "span_id",
        "stages",
        "trace_id",
        "tracestate",
        "wall0",
    )

    def __init__(
        self, trace_id: int, parent_id: int | None, sampled: bool, tracestate: str
    ) -> None:
        self.wall0 = time.time_ns()
        self.perf0 = time.perf_counter_ns()
        self.trace_id = trace_id
        self.parent_id = parent_id
        self.span_id = _random.getrandbits(64) or 1
        self.sampled = sampled
        self.tracestate = tracestate
        self.stages: list[tuple[str, int, int, str | None]] = []
        self.attempts: list[list[Any]] = []  # [span id, label, start, end, status, error]
        self.facts: RequestFacts | None = None

    def wall(self, perf_ns: int) -> int:
        return self.wall0 + (perf_ns - self.perf0)

    def traceparent(self, span_id: int) -> str:
        flags = "01" if self.sampled else "00"
        return f"00-{self.trace_id:032x}-{span_id:016x}-{flags}"


# OTLP's SpanKind and StatusCode values.
_INTERNAL, _SERVER, _CLIENT = 1, 2, 3
_ERROR = 2

_current: ContextVar[RequestTrace | None] = ContextVar("bastion_trace", default=None)


def current() -> RequestTrace | None:
    return _current.get()


class TracedStage:
    """A pipeline stage that records its time in the request's trace."""

    def __init__(self, stage: Stage, name: str) -> None:
        self._stage = stage
        self.name = name

    async def __call__(self, ctx: RequestContext) -> None:
        trace = _current.get()
        if trace is None:
            await self._stage(ctx)
            return
        start = time.perf_counter_ns()
        error: str | None = None
        try:
            await self._stage(ctx)
        except Exception as exc:
            error = getattr(exc, "code", None) or type(exc).__name__
            raise
        finally:
            trace.stages.append((self.name, start, time.perf_counter_ns(), error))

    def __getattr__(self, name: str) -> Any:  # e.g. Authorize.allows
        return getattr(self._stage, name)


class Tracer:
    """Owns the exporter; wraps handlers and stages; is the transport's hook."""

    def __init__(self, settings: TracingConfig) -> None:
        self.settings = settings
        self.exporter = OTLPExporter(
            settings.endpoint or _default_endpoint(),
            dict(settings.headers),
            {"service.name": settings.service_name, "service.version": __version__},
            ("bastion", __version__),
            settings.encoding,
        )
        self._ratio_bound = int(settings.sample_ratio * (1 << 64))

    # --- the request's trace -----------------------------------------------------------

    def begin(self, scope: Scope) -> RequestTrace:
        parent = None
        for name, value in scope["headers"]:
            if name == b"traceparent":
                parent = _TRACEPARENT.match(value.strip().lower())
                break
        if parent is not None and int(parent[1], 16) and int(parent[2], 16):
            tracestate = ""
            for name, value in scope["headers"]:
                if name == b"tracestate":
                    tracestate = value.decode("latin-1")[:512]
            return RequestTrace(
                int(parent[1], 16), int(parent[2], 16), bool(int(parent[3], 16) & 1), tracestate
            )
        trace_id = _random.getrandbits(128) or 1
        return RequestTrace(trace_id, None, (trace_id & (2**64 - 1)) < self._ratio_bound, "")

    def wrap_handler(self, handler: ASGIApp) -> ASGIApp:
        async def traced(scope: Scope, receive: Receive, send: Send) -> None:
            trace = self.begin(scope)
            token = _current.set(trace)
            try:
                await handler(scope, receive, send)
            finally:
                _current.reset(token)
                if trace.sampled and trace.facts is not None:
                    self.export(trace, time.perf_counter_ns())

        return traced

    def wrap_stage(self, stage: Stage, name: str) -> TracedStage:
        return TracedStage(stage, name)

    def __call__(self, f: RequestFacts, ctx: RequestContext) -> None:
        """The observing finisher's part: the facts the request span is described by."""
        trace = _current.get()
        if trace is not None:
            trace.facts = f

    # --- the transport's hook: one span per upstream attempt ---------------------------------

    def before(self, req: UpstreamRequest, label: str) -> tuple[UpstreamRequest, Any]:
        trace = _current.get()
        if trace is None:
            return req, None
        span_id = _random.getrandbits(64) or 1
        attempt = [span_id, label, time.perf_counter_ns(), 0, 0, None]
        trace.attempts.append(attempt)
        if self.settings.propagate_upstream:
            headers = {**req.headers, "traceparent": trace.traceparent(span_id)}
            if trace.tracestate:
                headers["tracestate"] = trace.tracestate
            req = replace(req, headers=headers)
        return req, attempt

    def after(self, token: Any, status: int, error: BaseException | None) -> None:
        if token is None:
            return
        token[3] = time.perf_counter_ns()
        token[4] = status
        if error is not None:
            token[5] = getattr(error, "code", None) or type(error).__name__

    # --- export ------------------------------------------------------------------------

    def export(self, trace: RequestTrace, end_ns: int) -> None:
        """Build the request's spans from its marks and queue them for the exporter."""
        f = trace.facts
        if f is None:
            return
        trace_id = f"{trace.trace_id:032x}"
        root_id = f"{trace.span_id:016x}"
        operation = "embeddings" if f.endpoint == "embeddings" else "chat"
        attrs = [
            label("gen_ai.operation.name", operation),
            label("gen_ai.request.model", f.model),
            label("http.response.status_code", f.status),
            attribute("bastion.request_id", f.request_id),
            label("bastion.stream", f.stream),
            label("bastion.ingress", f.ingress),
            attribute("bastion.gateway_ms", max(f.duration_ns - f.upstream_ns, 0) / 1e6),
        ]
        if f.provider:
            attrs.append(label("gen_ai.provider.name", f.provider))
        if f.deployment:
            attrs.append(label("gen_ai.response.model", f.deployment.partition("/")[2]))
            attrs.append(label("bastion.deployment", f.deployment))
        if f.prompt_tokens or f.completion_tokens:
            attrs.append(attribute("gen_ai.usage.input_tokens", f.prompt_tokens))
            attrs.append(attribute("gen_ai.usage.output_tokens", f.completion_tokens))
        if f.cost_nusd is not None:
            attrs.append(attribute("bastion.cost_usd", f.cost_nusd / 1e9))
        if f.ttft_ns is not None:
            attrs.append(attribute("bastion.ttft_ms", f.ttft_ns / 1e6))
        for name in ("key_id", "org_id", "team_id", "user_id", "app_id"):
            value = getattr(f, name)
            if value:
                attrs.append(label("bastion." + name, value))
        if f.error:
            attrs.append(label("error.type", f.error))
        root: Span = {
            "traceId": trace_id,
            "spanId": root_id,
            "name": f"{operation} {f.model}" if f.model else operation,
            "kind": _SERVER,
            "startTimeUnixNano": str(trace.wall0),
            "endTimeUnixNano": str(trace.wall(end_ns)),
            "attributes": attrs,
            "status": {"code": _ERROR, "message": f.error or ""} if f.status >= 500 else {},
        }
        if trace.parent_id is not None:
            root["parentSpanId"] = f"{trace.parent_id:016x}"
        if trace.tracestate:
            root["traceState"] = trace.tracestate
        spans = [root]
        for name, start, end, error in trace.stages:
            stage_attrs = [label("bastion.stage", name)]
            if error:
                stage_attrs.append(label("error.type", error))
            spans.append(
                {
                    "traceId": trace_id,
                    "spanId": f"{_random.getrandbits(64) or 1:016x}",
                    "parentSpanId": root_id,
                    "name": f"bastion.{name}",
                    "kind": _INTERNAL,
                    "startTimeUnixNano": str(trace.wall(start)),
                    "endTimeUnixNano": str(trace.wall(end)),
                    "attributes": stage_attrs,
                }
            )
        for span_id, deployment, start, end, code, error in trace.attempts:
            provider, _, model = deployment.partition("/")
            attempt = [
                label("gen_ai.operation.name", operation),
                label("gen_ai.provider.name", provider),
                label("gen_ai.request.model", model),
                label("bastion.deployment", deployment),
            ]
            if code:
                attempt.append(label("http.response.status_code", code))
            failed = bool(error) or code >= 400
            if failed:
                attempt.append(label("error.type", error or str(code)))
            spans.append(
                {
                    "traceId": trace_id,
                    "spanId": f"{span_id:016x}",
                    "parentSpanId": root_id,
                    "name": f"{operation} {model}",
                    "kind": _CLIENT,
                    "startTimeUnixNano": str(trace.wall(start)),
                    "endTimeUnixNano": str(trace.wall(end or end_ns)),
                    "attributes": attempt,
                    "status": {"code": _ERROR} if error or code >= 500 else {},
                }
            )
        self.exporter.add(spans)


def _default_endpoint() -> str:
    explicit = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if explicit:
        return explicit
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318")
    return base.rstrip("/") + "/v1/traces"
