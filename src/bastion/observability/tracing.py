"""OpenTelemetry traces over OTLP/HTTP, loaded only when tracing is on.

One server span per request (``chat gpt-4o``), a child span per pipeline stage and
a client span per upstream attempt, with the GenAI semantic conventions' attributes.
The caller's W3C ``traceparent`` is continued, and each upstream attempt is sent its
own ``traceparent`` by the transport's hook, so the provider's trace joins ours.

The request path only takes timestamps: the ASGI wrapper opens a :class:`RequestTrace`
in a context variable, one wrapper around the admission stages (:class:`TracedStages`),
one around authentication and the transport hook add marks to it, and the spans are
encoded after the response went out, straight to OTLP JSON bytes from span templates
made once per combination of what repeats between requests (the root's model,
deployment, status and principal; a stage's name; an attempt's deployment and outcome),
so per request only ids, times and a few values are formatted in (the OpenTelemetry
SDK's span objects and protobuf encoding cost about 120 us a request, this well under a
tenth of that), and posted in batches by :class:`~bastion.observability.otlp.OTLPExporter`.
With tracing off this module is not imported and nothing is wrapped.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable, Sequence
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


def _error_type(exc: BaseException) -> str | None:
    """A failed stage's ``error.type``: its error code, else the exception's class."""
    if isinstance(exc, Exception):  # not a cancellation
        return getattr(exc, "code", None) or type(exc).__name__
    return None


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
            trace.stages.append((self.name, start, _now(), _error_type(exc)))
            raise
        trace.stages.append((self.name, start, _now(), None))

    def __getattr__(self, name: str) -> Any:  # e.g. Authorize.allows
        return getattr(self._stage, name)


class TracedStages:
    """The admission stages as one stage that records each one's time in the trace.

    One coroutine runs them all and takes the timestamps between them, where a wrapper
    per stage would add a coroutine (and its frame) per stage to every request.
    """

    def __init__(self, stages: Sequence[Stage], names: Sequence[str]) -> None:
        self.stages = tuple(stages)
        self._named = tuple(zip(names, self.stages, strict=True))

    async def __call__(self, ctx: RequestContext) -> None:
        trace = _current.get()
        if trace is None:
            for stage in self.stages:
                await stage(ctx)
            return
        marks = trace.stages
        for name, stage in self._named:
            start = _now()
            try:
                await stage(ctx)
            except BaseException as exc:
                marks.append((name, start, _now(), _error_type(exc)))
                raise
            marks.append((name, start, _now(), None))


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
            interval=settings.export_interval,
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

    def wrap_stages(self, stages: Sequence[Stage], names: Sequence[str]) -> TracedStages:
        return TracedStages(stages, names)

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

        Straight to OTLP JSON bytes, each span from a template cached by what repeats
        between requests (the root's by its model, deployment, status, principal and
        which optional attributes it has; a stage's by its name; an attempt's by its
        deployment and outcome): per request only ids, times and the few unique values
        (request id, durations, tokens, cost) are formatted in, one ``%`` per span.
        """
        f = trace.facts
        if f is None:
            return
        tid = b"%032x" % trace.trace_id
        root_id = b"%016x" % trace.span_id
        shift = trace.wall0 - trace.perf0  # perf_counter ns -> Unix ns
        tokens = f.prompt_tokens or f.completion_tokens
        cost, ttft = f.cost_nusd, f.ttft_ns
        key = (
            f.endpoint,
            f.model,
            f.status,
            f.stream,
            f.ingress,
            f.provider,
            f.deployment,
            f.key_id,
            f.org_id,
            f.team_id,
            f.user_id,
            f.app_id,
            f.error,
            bool(tokens),
            cost is not None,
            ttft is not None,
        )
        template = _ROOTS.get(key)
        if template is None:
            template = _root_template(key)
            if len(_ROOTS) < _CACHE_LIMIT:
                _ROOTS[key] = template
        extra = b""
        if trace.parent_id is not None:
            extra = b'"parentSpanId":"%016x",' % trace.parent_id
        if trace.tracestate:
            extra += b'"traceState":%s,' % orjson.dumps(trace.tracestate)
        duration, upstream = f.duration_ns, f.upstream_ns
        values: tuple[Any, ...] = (
            tid,
            root_id,
            extra,
            orjson.dumps(f.request_id),
            orjson.dumps((duration - upstream) / 1e6 if duration > upstream else 0.0),
        )
        if tokens:
            values += (f.prompt_tokens, f.completion_tokens)
        if cost is not None:
            values += (orjson.dumps(cost / 1e9),)
        if ttft is not None:
            values += (orjson.dumps(ttft / 1e6),)
        spans = [template % (*values, trace.wall0, end_ns + shift)]
        for stage, start, end, error in trace.stages:
            stage_template = _STAGES.get((stage, error))
            if stage_template is None:
                stage_template = _cached(_STAGES, (stage, error), _stage_template)
            spans.append(
                stage_template
                % (tid, _random.getrandbits(64) or 1, root_id, start + shift, end + shift)
            )
        if trace.attempts:
            endpoint = key[0]
            for span_id, deployment, start, end, code, error in trace.attempts:
                attempt_key = (endpoint, deployment, code, error)
                attempt_template = _ATTEMPTS.get(attempt_key)
                if attempt_template is None:
                    attempt_template = _cached(_ATTEMPTS, attempt_key, _attempt_template)
                spans.append(
                    attempt_template
                    % (tid, span_id, root_id, start + shift, (end or end_ns) + shift)
                )
        self.exporter.add_encoded(b",".join(spans), len(spans))


_PRINCIPAL_IDS = ("key_id", "org_id", "team_id", "user_id", "app_id")
# Span templates, made once (bounded: past the limit one is made every time). The
# constant parts are JSON already (user-chosen strings encoded by orjson, then their
# ``%`` doubled); the ``%`` slots take the per-request values.
_ROOTS: dict[Any, bytes] = {}
_STAGES: dict[Any, bytes] = {}
_ATTEMPTS: dict[Any, bytes] = {}
_CACHE_LIMIT = 10_000
_SPAN_HEAD = b'{"traceId":"%s","spanId":"%016x","parentSpanId":"%s",'
_SPAN_TIMES = b',"startTimeUnixNano":"%d","endTimeUnixNano":"%d"'


def _cached(cache: dict[Any, bytes], key: Any, make: Callable[[Any], bytes]) -> bytes:
    found = cache.get(key)
    if found is None:
        found = make(key)
        if len(cache) < _CACHE_LIMIT:
            cache[key] = found
    return found


def _json(value: Any) -> bytes:
    """A constant part of a template: JSON, with ``%`` escaped for the formatting."""
    return orjson.dumps(value).replace(b"%", b"%%")


def _attrs(*pairs: tuple[str, Any]) -> bytes:
    """Attributes, comma-separated, as a constant part of a template."""
    return b",".join(_json(attribute(k, v)) for k, v in pairs)


def _root_template(key: tuple[Any, ...]) -> bytes:
    """The request span, its slots: trace id, span id, the parent/tracestate fields, the
    request id, the gateway's ms, [input and output tokens], [cost], [ttft], start, end."""
    (endpoint, model, status, stream, ingress, provider, deployment, *ids, error) = key[:13]
    tokens, cost, ttft = key[13:]
    operation = "embeddings" if endpoint == "embeddings" else "chat"
    name = f"{operation} {model}" if model else operation
    parts = [
        _attrs(
            ("gen_ai.operation.name", operation),
            ("gen_ai.request.model", model),
            ("http.response.status_code", status),
        ),
        b'{"key":"bastion.request_id","value":{"stringValue":%s}}',
        _attrs(("bastion.stream", stream), ("bastion.ingress", ingress)),
        b'{"key":"bastion.gateway_ms","value":{"doubleValue":%s}}',
    ]
    if provider:
        parts.append(_attrs(("gen_ai.provider.name", provider)))
    if deployment:
        parts.append(
            _attrs(
                ("gen_ai.response.model", deployment.partition("/")[2]),
                ("bastion.deployment", deployment),
            )
        )
    if tokens:
        parts.append(
            b'{"key":"gen_ai.usage.input_tokens","value":{"intValue":"%d"}},'
            b'{"key":"gen_ai.usage.output_tokens","value":{"intValue":"%d"}}'
        )
    if cost:
        parts.append(b'{"key":"bastion.cost_usd","value":{"doubleValue":%s}}')
    if ttft:
        parts.append(b'{"key":"bastion.ttft_ms","value":{"doubleValue":%s}}')
    for label, value in zip(_PRINCIPAL_IDS, ids, strict=True):
        if value:
            parts.append(_attrs(("bastion." + label, value)))
    if error:
        parts.append(_attrs(("error.type", error)))
    span_status = b'{"code":2,"message":%s}' % _json(error or "") if status >= 500 else b"{}"
    return b"".join(
        (
            b'{"traceId":"%s","spanId":"%s",%s"name":',
            _json(name),
            b',"kind":%d,"attributes":[' % _SERVER,
            b",".join(parts),
            b"]",
            _SPAN_TIMES,
            b',"status":',
            span_status,
            b"}",
        )
    )


def _stage_template(key: tuple[str, str | None]) -> bytes:
    stage, error = key
    attrs = [("bastion.stage", stage)]
    if error:
        attrs.append(("error.type", error))
    return b"".join(
        (
            _SPAN_HEAD,
            b'"name":%s,"kind":%d,"attributes":[%s]'
            % (_json(f"bastion.{stage}"), _INTERNAL, _attrs(*attrs)),
            _SPAN_TIMES,
            b"}",
        )
    )


def _attempt_template(key: tuple[str, str, int, str | None]) -> bytes:
    endpoint, deployment, code, error = key
    operation = "embeddings" if endpoint == "embeddings" else "chat"
    provider, _, model = deployment.partition("/")
    attrs: list[tuple[str, Any]] = [
        ("gen_ai.operation.name", operation),
        ("gen_ai.provider.name", provider),
        ("gen_ai.request.model", model),
        ("bastion.deployment", deployment),
    ]
    failed = bool(error) or code >= 400
    if code:
        attrs.append(("http.response.status_code", code))
    if failed:
        attrs.append(("error.type", error or str(code)))
    return b"".join(
        (
            _SPAN_HEAD,
            b'"name":%s,"kind":%d,"attributes":[%s]'
            % (_json(f"{operation} {model}"), _CLIENT, _attrs(*attrs)),
            _SPAN_TIMES,
            b',"status":',
            b'{"code":2}' if error or code >= 500 else b"{}",
            b"}",
        )
    )


def _default_endpoint() -> str:
    explicit = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if explicit:
        return explicit
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318")
    return base.rstrip("/") + "/v1/traces"
