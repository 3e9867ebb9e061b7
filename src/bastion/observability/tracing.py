"""OpenTelemetry traces over OTLP/HTTP, loaded only when tracing is on.

One server span per request (``chat gpt-4o``), a child span per pipeline stage and
a client span per upstream attempt, with the GenAI semantic conventions' attributes.
The caller's W3C ``traceparent`` is continued, and each upstream attempt is sent its
own ``traceparent`` by the transport's hook, so the provider's trace joins ours.

The request path only takes timestamps: the ASGI wrapper opens a :class:`RequestTrace`
in a context variable (its ids drawn and formatted once: one random number gives the
trace id and the prefix of every span id of the request, its spans numbered after it),
one wrapper around the admission stages (:class:`TracedStages`), one around
authentication and the transport hook add marks to it, and the spans are encoded after
the response went out, straight to OTLP JSON bytes with one ``%`` from a template of
the whole request, made once per combination of what repeats between requests (the
root's model, deployment, status and principal; each stage's name and outcome; each
attempt's deployment and outcome), so per request only ids, times and a few values are
formatted in (the OpenTelemetry SDK's span objects and protobuf encoding cost about
120 us a request, this well under a tenth of that), and posted in batches by
:class:`~bastion.observability.otlp.OTLPExporter`.
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
from bastion.observability.facts import KEY_FIELDS, RequestFacts
from bastion.observability.otlp import OTLPExporter, attribute
from bastion.observability.settings import TracingConfig
from bastion.providers.base import UpstreamRequest

if TYPE_CHECKING:
    from bastion.pipeline import RequestContext, Stage

_TRACEPARENT = re.compile(rb"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_random = random.Random()  # ids need to be unique, not secret (as in the OpenTelemetry SDK)
# Span times as the OpenTelemetry SDK takes them: the wall clock, in ns.
_now = time.time_ns
_ZERO_TRACE, _ZERO_SPAN = b"0" * 32, b"0" * 16
_MASK64 = (1 << 64) - 1
# A request's span ids share one random 48-bit prefix and are numbered in their last two
# bytes (unique in the trace, which is what a span id must be, and never all zeros
# whatever the prefix): 0001 the request's span; from 0002 its stages, numbered by the
# template by their place (past 7fff, random ids); from 8000 its upstream attempts, in
# the order they start (past 80ff, random ids).
_FIRST_STAGE, _LAST_STAGE = 2, 0x7FFF
_ATTEMPT_NUMBERS = tuple(b"%04x" % (0x8000 + n) for n in range(256))


class RequestTrace:
    """The marks of one request: ids, its stages' and attempts' spans, the facts.

    ``trace_id`` and ``prefix`` (the first 12 hex digits of each of this request's span
    ids) are hex bytes; ``head`` is each child span's JSON up to its span id's number
    (``{"traceId":"…","parentSpanId":"<prefix>0001","spanId":"<prefix>``). A finished
    stage or attempt adds its key to ``keys`` (what its span's template is cached by)
    and the values of its template's slots to ``marks``, in the order ``export`` lays
    them out: a stage's head, start and end (its number is the template's), an attempt's
    head, number, start and end.
    """

    __slots__ = (
        "attempted",
        "facts",
        "head",
        "keys",
        "marks",
        "parent_id",
        "prefix",
        "sampled",
        "trace_id",
        "tracestate",
        "wall0",
    )

    def __init__(
        self,
        trace_id: bytes,
        parent_id: bytes | None,
        sampled: bool,
        tracestate: str,
        prefix: bytes,
    ) -> None:
        self.wall0 = _now()
        self.trace_id = trace_id
        self.parent_id = parent_id
        self.prefix = prefix
        self.head = b'{"traceId":"%s","parentSpanId":"%s0001","spanId":"%s' % (
            trace_id,
            prefix,
            prefix,
        )
        self.sampled = sampled
        self.tracestate = tracestate
        self.attempted = 0  # upstream attempts started
        self.keys: list[tuple[Any, ...]] = []  # stage: (name, error); attempt: 3 fields
        self.marks: list[Any] = []
        self.facts: RequestFacts | None = None

    @property
    def span_id(self) -> str:
        """The request's own span."""
        return self.prefix.decode() + "0001"

    @property
    def stages(self) -> list[tuple[str, int, int, str | None]]:
        """The stages recorded: (name, start, end, error type)."""
        found, marks, i = [], self.marks, 0
        for key in self.keys:
            if len(key) == 2:
                found.append((key[0], marks[i + 1], marks[i + 2], key[1]))
                i += 3
            else:
                i += 4
        return found

    def attempt(self) -> tuple[bytes, bytes]:
        """The next upstream attempt's span id, as the head and the rest: (``head``, its
        number) while they last, then a random id."""
        n = self.attempted
        self.attempted = n + 1
        if n < len(_ATTEMPT_NUMBERS):
            return self.head, _ATTEMPT_NUMBERS[n]
        head = b'{"traceId":"%s","parentSpanId":"%s0001","spanId":"' % (self.trace_id, self.prefix)
        return head, b"%016x" % (_random.getrandbits(64) or 1)


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
        self._key = (name, None)

    async def __call__(self, ctx: RequestContext) -> None:
        trace = _current.get()
        if trace is None:
            await self._stage(ctx)
            return
        start = _now()
        try:
            await self._stage(ctx)
        except BaseException as exc:
            trace.marks += (trace.head, start, _now())
            trace.keys.append((self.name, _error_type(exc)))
            raise
        trace.marks += (trace.head, start, _now())
        trace.keys.append(self._key)

    def __getattr__(self, name: str) -> Any:  # e.g. Authorize.allows
        return getattr(self._stage, name)


class TracedStages:
    """The admission stages as one stage that records each one's time in the trace.

    One coroutine runs them all and takes one timestamp between two stages (the end of
    one is the start of the next), where a wrapper per stage would add a coroutine (and
    its frame) per stage to every request.
    """

    def __init__(self, stages: Sequence[Stage], names: Sequence[str]) -> None:
        self.stages = tuple(stages)
        self._named = tuple(
            ((name, None), stage) for name, stage in zip(names, stages, strict=True)
        )

    async def __call__(self, ctx: RequestContext) -> None:
        trace = _current.get()
        if trace is None:
            for stage in self.stages:
                await stage(ctx)
            return
        marks, keys, head = trace.marks, trace.keys, trace.head
        start = _now()
        for key, stage in self._named:
            try:
                await stage(ctx)
            except BaseException as exc:
                marks += (head, start, _now())
                keys.append((key[0], _error_type(exc)))
                raise
            end = _now()
            marks += (head, start, end)
            keys.append(key)
            start = end


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
        self._all = settings.sample_ratio >= 1
        self._propagate = settings.propagate_upstream

    # --- the request's trace -----------------------------------------------------------

    def begin(self, scope: Scope) -> RequestTrace:
        for name, value in scope["headers"]:
            if name == b"traceparent":
                continued = self._continue(scope, value)
                if continued is not None:
                    return continued
                break
        # One draw and one format for the trace id (128 bits, not all zeros) and the span
        # ids' prefix (48 bits).
        bits = _random.getrandbits(176)
        trace_bits = bits >> 48
        while not trace_bits:
            bits = _random.getrandbits(176)
            trace_bits = bits >> 48
        ids = b"%044x" % bits
        # Sampled by the trace id's low 64 bits, as the SDK's TraceIdRatioBased sampler.
        sampled = self._all or trace_bits & _MASK64 < self._ratio_bound
        return RequestTrace(ids[:32], None, sampled, "", ids[32:])

    def _continue(self, scope: Scope, value: bytes) -> RequestTrace | None:
        """The caller's trace, from a valid ``traceparent`` (else None: a new trace)."""
        parent = _TRACEPARENT.match(value.strip().lower())
        if parent is None or parent[1] == _ZERO_TRACE or parent[2] == _ZERO_SPAN:
            return None
        tracestate = ""
        for name, value in scope["headers"]:
            if name == b"tracestate":
                tracestate = value.decode("latin-1")[:512]
        return RequestTrace(
            parent[1],
            parent[2],
            bool(int(parent[3], 16) & 1),
            tracestate,
            b"%012x" % _random.getrandbits(48),
        )

    def wrap_handler(self, handler: ASGIApp) -> ASGIApp:
        async def traced(scope: Scope, receive: Receive, send: Send) -> None:
            trace = self.begin(scope)
            token = _current.set(trace)
            try:
                await handler(scope, receive, send)
            finally:
                _current.reset(token)
                if trace.sampled and trace.facts is not None:
                    self.export(trace, _now())

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
        n = trace.attempted
        if n < len(_ATTEMPT_NUMBERS):
            trace.attempted = n + 1
            head, number = trace.head, _ATTEMPT_NUMBERS[n]
            span_id = trace.prefix + number
        else:
            head, number = trace.attempt()
            span_id = number
        if self._propagate:
            headers = req.headers.copy()
            flags = b"01" if trace.sampled else b"00"
            headers["traceparent"] = (b"00-%s-%s-%s" % (trace.trace_id, span_id, flags)).decode()
            if trace.tracestate:
                headers["tracestate"] = trace.tracestate
            # The attempt's own request (made for it): its headers replaced, the dict the
            # adapter made left as it was.
            req.headers = headers
        return req, (trace, head, number, label, _now())

    def after(self, token: Any, status: int, error: BaseException | None) -> None:
        if token is None:
            return
        trace, head, number, label, start = token
        trace.marks += (head, number, start, _now())
        if error is None:
            trace.keys.append((label, status, None))
        else:
            code = getattr(error, "code", None) or type(error).__name__
            trace.keys.append((label, status, code))

    # --- export ------------------------------------------------------------------------

    def export(self, trace: RequestTrace, end_ns: int) -> None:
        """Encode the request's spans from its marks and queue them for the exporter.

        Straight to OTLP JSON bytes with one ``%`` from a template of the whole request,
        cached by what repeats between requests: the request span's facts (model,
        deployment, status, principal, which optional attributes it has), then each
        stage's name and outcome and each attempt's deployment and outcome, in the order
        they ended. Per request only the ids (formatted once, in ``begin``), the times and
        the few unique values (request id, durations, tokens, cost) are formatted in.
        """
        f = trace.facts
        if f is None:
            return
        tokens = f.prompt_tokens or f.completion_tokens
        cost, ttft = f.cost_nusd, f.ttft_ns
        extra = b""
        if trace.parent_id is not None:
            extra = b'"parentSpanId":"%s",' % trace.parent_id
        if trace.tracestate:
            extra += b'"traceState":%s,' % orjson.dumps(trace.tracestate)
        duration, upstream = f.duration_ns, f.upstream_ns
        values: list[Any] = [
            trace.trace_id,
            trace.prefix,
            extra,
            orjson.dumps(f.request_id),
            orjson.dumps((duration - upstream) / 1e6 if duration > upstream else 0.0),
        ]
        if tokens:
            values += (f.prompt_tokens, f.completion_tokens)
        if cost is not None:
            values.append(orjson.dumps(cost / 1e9))
        if ttft is not None:
            values.append(orjson.dumps(ttft / 1e6))
        keys: list[Any] = trace.keys
        numbered = len(keys) <= _LAST_STAGE - _FIRST_STAGE  # else maybe too many stages
        if numbered:
            args = (*values, trace.wall0, end_ns, *trace.marks)
        else:
            values += (trace.wall0, end_ns)
            keys = self._unnumbered(trace, values)
            args = tuple(values)
        key = (f.key, bool(tokens), cost is not None, ttft is not None, *keys)
        template = _REQUESTS.get(key)
        if template is None:
            template = _request_template(key)
            if numbered and len(_REQUESTS) < _REQUESTS_LIMIT:
                _REQUESTS[key] = template
        self.exporter.add_encoded(template % args, 1 + len(keys))

    def _unnumbered(self, trace: RequestTrace, values: list[Any]) -> list[Any]:
        """The keys of a request whose stages may run out of numbers (never in practice):
        each stage's span encoded here, with a random id, as a constant (the attempts'
        values added to ``values`` as usual). Its template is not cached."""
        head = b'{"traceId":"%s","parentSpanId":"%s0001","spanId":"' % (
            trace.trace_id,
            trace.prefix,
        )
        marks, keys, i = trace.marks, list[Any](), 0
        for key in trace.keys:
            if len(key) == 2:
                span_id = b"%016x" % (_random.getrandbits(64) or 1)
                stage = _cached(_STAGES, key, _stage_template) % (marks[i + 1], marks[i + 2])
                keys.append(_Encoded(head + span_id + stage))
                i += 3
            else:
                keys.append(key)
                values += marks[i : i + 4]
                i += 4
        return keys


class _Encoded(bytes):
    """A span encoded already, in a request's key (see ``Tracer._unnumbered``)."""


_PRINCIPAL_IDS = ("key_id", "org_id", "team_id", "user_id", "app_id")
# Templates, made once (bounded: past the limit one is made every time). The constant
# parts are JSON already (user-chosen strings encoded by orjson, then their ``%``
# doubled); the ``%`` slots take the per-request values. A request's template is its
# spans' templates joined; those are cached on their own, so that a new combination
# (a new principal, say) only joins them.
_REQUESTS: dict[Any, bytes] = {}
_REQUESTS_LIMIT = 4_096
_ROOTS: dict[Any, bytes] = {}
_STAGES: dict[Any, bytes] = {}
_ATTEMPTS: dict[Any, bytes] = {}
_CACHE_LIMIT = 10_000
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


def _request_template(key: tuple[Any, ...]) -> bytes:
    """A whole request's spans: the request span's template, then its stages' and
    attempts' as they ended, as ``export`` lays out the key."""
    parts = [_cached(_ROOTS, key[:4], _root_template)]
    endpoint = key[0][KEY_FIELDS.index("endpoint")]
    number = _FIRST_STAGE
    for child in key[4:]:
        if type(child) is _Encoded:
            parts.append(child.replace(b"%", b"%%"))
        elif len(child) == 2:
            stage = _cached(_STAGES, child, _stage_template)
            parts.append(b"%%s%04x%s" % (number, stage))
            number += 1
        else:
            parts.append(_cached(_ATTEMPTS, (endpoint, *child), _attempt_template))
    return b",".join(parts)


def _root_template(key: tuple[Any, ...]) -> bytes:
    """The request span, its slots: trace id, span id prefix, the parent/tracestate fields,
    the request id, the gateway's ms, [input and output tokens], [cost], [ttft], start, end."""
    facts, tokens, cost, ttft = key
    fields = dict(zip(KEY_FIELDS, facts, strict=True))
    endpoint, model, status = fields["endpoint"], fields["model"], fields["status"]
    provider, deployment, error = fields["provider"], fields["deployment"], fields["error"]
    operation = "embeddings" if endpoint == "embeddings" else "chat"
    name = f"{operation} {model}" if model else operation
    parts = [
        _attrs(
            ("gen_ai.operation.name", operation),
            ("gen_ai.request.model", model),
            ("http.response.status_code", status),
        ),
        b'{"key":"bastion.request_id","value":{"stringValue":%s}}',
        _attrs(("bastion.stream", fields["stream"]), ("bastion.ingress", fields["ingress"])),
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
    for label in _PRINCIPAL_IDS:
        value = fields[label]
        if value:
            parts.append(_attrs(("bastion." + label, value)))
    if error:
        parts.append(_attrs(("error.type", error)))
    span_status = b'{"code":2,"message":%s}' % _json(error or "") if status >= 500 else b"{}"
    return b"".join(
        (
            b'{"traceId":"%s","spanId":"%s0001",%s"name":',
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
    """A stage's span after its span id's prefix (put before it: the head's slot and the
    stage's number); slots: start, end."""
    stage, error = key
    attrs = [("bastion.stage", stage)]
    if error:
        attrs.append(("error.type", error))
    return b"".join(
        (
            b'","name":',
            _json(f"bastion.{stage}"),
            b',"kind":%d,"attributes":[%s]' % (_INTERNAL, _attrs(*attrs)),
            _SPAN_TIMES,
            b"}",
        )
    )


def _attempt_template(key: tuple[str, str, int, str | None]) -> bytes:
    """An upstream attempt's span; slots: the head and the rest of its id (see
    ``RequestTrace``), start, end."""
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
            b'%s%s","name":',
            _json(f"{operation} {model}"),
            b',"kind":%d,"attributes":[%s]' % (_CLIENT, _attrs(*attrs)),
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
