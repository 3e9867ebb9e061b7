"""OpenTelemetry traces over OTLP/HTTP, loaded only when tracing is on.

One server span per request (``chat gpt-4o``), a child span per pipeline stage and
a client span per upstream attempt, with the GenAI semantic conventions' attributes.
The caller's W3C ``traceparent`` is continued, and each upstream attempt is sent its
own ``traceparent`` by the transport's hook, so the provider's trace joins ours.

The request path only takes timestamps: the ASGI wrapper opens a :class:`RequestTrace`
in a context variable, stage wrappers and the transport hook add marks to it, and
the spans are encoded after the response went out, straight to OTLP JSON bytes, what
repeats between requests (a stage's span, a model's or a deployment's attributes)
encoded once and cached (the OpenTelemetry SDK's span objects and protobuf encoding cost
about 120 us a request, this well under a tenth of that), and posted in batches by
:class:`~bastion.observability.otlp.OTLPExporter`.
With tracing off this module is not imported and nothing is wrapped.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import orjson

from bastion import __version__
from bastion.asgi import ASGIApp, Receive, Scope, Send
from bastion.observability.facts import RequestFacts
from bastion.observability.otlp import OTLPExporter, attribute
from bastion.observability.settings import TracingConfig
from bastion.providers.base import UpstreamRequest

if TYPE_CHECKING:
    from bastion.pipeline import RequestContext, Stage

_TRACEPARENT = re.compile(rb"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_random = random.Random()  # ids need to be unique, not secret (as in the OpenTelemetry SDK)
_now = time.perf_counter_ns


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
        self.perf0 = _now()
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
        return f"00-{self.trace_id:032x}-{span_id:016x}-{'01' if self.sampled else '00'}"


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
        start = _now()
        try:
            await self._stage(ctx)
        except BaseException as exc:
            error = None
            if isinstance(exc, Exception):  # not a cancellation
                error = getattr(exc, "code", None) or type(exc).__name__
            trace.stages.append((self.name, start, _now(), error))
            raise
        trace.stages.append((self.name, start, _now(), None))

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
        self._propagate = settings.propagate_upstream

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
        attempt = [span_id, label, _now(), 0, 0, None]
        trace.attempts.append(attempt)
        if self._propagate:
            headers = req.headers.copy()
            headers["traceparent"] = trace.traceparent(span_id)
            if trace.tracestate:
                headers["tracestate"] = trace.tracestate
            req = UpstreamRequest(req.method, req.url, headers, req.body)
        return req, attempt

    def after(self, token: Any, status: int, error: BaseException | None) -> None:
        if token is None:
            return
        token[3] = _now()
        token[4] = status
        if error is not None:
            token[5] = getattr(error, "code", None) or type(error).__name__

    # --- export ------------------------------------------------------------------------

    def export(self, trace: RequestTrace, end_ns: int) -> None:
        """Encode the request's spans from its marks and queue them for the exporter.

        Straight to OTLP JSON bytes: what repeats from request to request (a stage's
        span name and attributes, a model's, a deployment's) is encoded once and
        cached; per request only ids, times and the few unique values are formatted.
        """
        f = trace.facts
        if f is None:
            return
        tid = b"%032x" % trace.trace_id
        root_id = b"%016x" % trace.span_id
        shift = trace.wall0 - trace.perf0  # perf_counter ns -> Unix ns
        endpoint = "embeddings" if f.endpoint == "embeddings" else "chat"
        parts = [
            _cached(_ROOT, (endpoint, f.model), _root_head),
            _label(("http.response.status_code", f.status)),
            b'{"key":"bastion.request_id","value":{"stringValue":%s}}' % orjson.dumps(f.request_id),
            _label(("bastion.stream", f.stream)),
            _label(("bastion.ingress", f.ingress)),
            b'{"key":"bastion.gateway_ms","value":{"doubleValue":%s}}'
            % orjson.dumps(max(f.duration_ns - f.upstream_ns, 0) / 1e6),
        ]
        if f.provider:
            parts.append(_label(("gen_ai.provider.name", f.provider)))
        if f.deployment:
            parts.append(_cached(_DEPLOYMENT, f.deployment, _deployment_attrs))
        if f.prompt_tokens or f.completion_tokens:
            parts.append(
                b'{"key":"gen_ai.usage.input_tokens","value":{"intValue":"%d"}},'
                b'{"key":"gen_ai.usage.output_tokens","value":{"intValue":"%d"}}'
                % (f.prompt_tokens, f.completion_tokens)
            )
        if f.cost_nusd is not None:
            parts.append(
                b'{"key":"bastion.cost_usd","value":{"doubleValue":%s}}'
                % orjson.dumps(f.cost_nusd / 1e9)
            )
        if f.ttft_ns is not None:
            parts.append(
                b'{"key":"bastion.ttft_ms","value":{"doubleValue":%s}}'
                % orjson.dumps(f.ttft_ns / 1e6)
            )
        for name in _PRINCIPAL_IDS:
            value = getattr(f, name)
            if value:
                parts.append(_label(("bastion." + name, value)))
        if f.error:
            parts.append(_label(("error.type", f.error)))
        extra = b""
        if trace.parent_id is not None:
            extra = b'"parentSpanId":"%016x",' % trace.parent_id
        if trace.tracestate:
            extra += b'"traceState":%s,' % orjson.dumps(trace.tracestate)
        status = (
            b'{"code":2,"message":%s}' % orjson.dumps(f.error or "") if f.status >= 500 else b"{}"
        )
        name_and_attrs = b",".join(parts) + b"]"  # the root's name, then its attributes
        spans = [
            b'{"traceId":"%s","spanId":"%s",%s%s,"startTimeUnixNano":"%d","endTimeUnixNano":"%d","status":%s}'
            % (tid, root_id, extra, name_and_attrs, trace.wall0, end_ns + shift, status)
        ]
        for stage, start, end, error in trace.stages:
            head = _cached(_STAGE, stage, _stage_head)
            if error:
                head = head[:-1] + b"," + _label(("error.type", error)) + b"]"
            spans.append(
                b'{"traceId":"%s","spanId":"%016x","parentSpanId":"%s",%s,"startTimeUnixNano":"%d","endTimeUnixNano":"%d"}'
                % (tid, _random.getrandbits(64) or 1, root_id, head, start + shift, end + shift)
            )
        for span_id, deployment, start, end, code, error in trace.attempts:
            head = _cached(_ATTEMPT, (endpoint, deployment), _attempt_head)
            failed = bool(error) or code >= 400
            if code or failed:
                more = [head[:-1]]
                if code:
                    more.append(_label(("http.response.status_code", code)))
                if failed:
                    more.append(_label(("error.type", error or str(code))))
                head = b",".join(more) + b"]"
            spans.append(
                b'{"traceId":"%s","spanId":"%016x","parentSpanId":"%s",%s,"startTimeUnixNano":"%d","endTimeUnixNano":"%d","status":%s}'
                % (
                    tid,
                    span_id,
                    root_id,
                    head,
                    start + shift,
                    (end or end_ns) + shift,
                    b'{"code":2}' if error or code >= 500 else b"{}",
                )
            )
        self.exporter.add_encoded(b",".join(spans), len(spans))


_PRINCIPAL_IDS = ("key_id", "org_id", "team_id", "user_id", "app_id")
# Encoded once: a root span's name and GenAI attributes per (operation, model), a stage
# span's name, kind and attributes, an attempt's per (operation, deployment), a
# deployment's attributes. Bounded: past the limit a value is encoded every time.
_ROOT: dict[Any, bytes] = {}
_STAGE: dict[Any, bytes] = {}
_ATTEMPT: dict[Any, bytes] = {}
_DEPLOYMENT: dict[Any, bytes] = {}
_CACHE_LIMIT = 10_000


def _cached(cache: dict[Any, bytes], key: Any, encode: Callable[[Any], bytes]) -> bytes:
    found = cache.get(key)
    if found is None:
        found = encode(key)
        if len(cache) < _CACHE_LIMIT:
            cache[key] = found
    return found


def _label(key_value: tuple[str, str | int | bool]) -> bytes:
    """One attribute whose values repeat (status, stream, team, error): encoded once."""
    return _cached(_LABELS, key_value, _encode_label)


_LABELS: dict[Any, bytes] = {}


def _encode_label(key_value: tuple[str, str | int | bool]) -> bytes:
    return orjson.dumps(attribute(*key_value))


def _root_head(key: tuple[str, str]) -> bytes:
    """``"name":..,"kind":2,"attributes":[<operation>,<model>`` (the rest follow)."""
    operation, model = key
    name = f"{operation} {model}" if model else operation
    attrs = [
        attribute("gen_ai.operation.name", operation),
        attribute("gen_ai.request.model", model),
    ]
    return b'"name":%s,"kind":%d,"attributes":%s' % (
        orjson.dumps(name),
        _SERVER,
        orjson.dumps(attrs)[:-1],
    )


def _stage_head(stage: str) -> bytes:
    return b'"name":%s,"kind":%d,"attributes":%s' % (
        orjson.dumps(f"bastion.{stage}"),
        _INTERNAL,
        orjson.dumps([attribute("bastion.stage", stage)]),
    )


def _deployment_attrs(deployment: str) -> bytes:
    return orjson.dumps(
        [
            attribute("gen_ai.response.model", deployment.partition("/")[2]),
            attribute("bastion.deployment", deployment),
        ]
    )[1:-1]


def _attempt_head(key: tuple[str, str]) -> bytes:
    operation, deployment = key
    provider, _, model = deployment.partition("/")
    attrs = [
        attribute("gen_ai.operation.name", operation),
        attribute("gen_ai.provider.name", provider),
        attribute("gen_ai.request.model", model),
        attribute("bastion.deployment", deployment),
    ]
    return b'"name":%s,"kind":%d,"attributes":%s' % (
        orjson.dumps(f"{operation} {model}"),
        _CLIENT,
        orjson.dumps(attrs),
    )


def _default_endpoint() -> str:
    explicit = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if explicit:
        return explicit
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318")
    return base.rstrip("/") + "/v1/traces"
