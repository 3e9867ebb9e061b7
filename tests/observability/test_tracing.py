"""Traces reach a real OTLP/HTTP endpoint on loopback, continue the caller's traceparent,
and pass a traceparent on to the upstream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from bastion.errors import GatewayError
from bastion.observability.otlp import OTLPExporter
from bastion.observability.settings import TracingConfig
from bastion.observability.tracing import Tracer, _current
from tests.conftest import CLIENT_KEY, free_port, gateway_config, run_gateway

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
SEEN = web.AppKey("seen", list[dict[str, str]])


class Collector:
    """An OTLP/HTTP traces endpoint: decodes each export into plain dicts."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.content_types: list[str] = []
        self.arrived = asyncio.Event()

    async def export(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.content_type == "application/json":
            self._json(orjson.loads(body))
            answer = b"{}"
        else:
            pb = _protobuf()
            message = pb.ExportTraceServiceRequest()
            message.ParseFromString(body)
            self._protobuf(message)
            answer = pb.ExportTraceServiceResponse().SerializeToString()
        self.content_types.append(request.content_type)
        self.arrived.set()
        return web.Response(body=answer, content_type=request.content_type)

    def _json(self, data: dict[str, Any]) -> None:
        for resource in data["resourceSpans"]:
            service = {
                a["key"]: _json_value(a["value"]) for a in resource["resource"]["attributes"]
            }
            for scope in resource["scopeSpans"]:
                for span in scope["spans"]:
                    self.spans.append(
                        {
                            "name": span["name"],
                            "trace_id": span["traceId"],
                            "span_id": span["spanId"],
                            "parent": span.get("parentSpanId", ""),
                            "trace_state": span.get("traceState", ""),
                            "status": span.get("status", {}),
                            "kind": span["kind"],
                            "attributes": {
                                a["key"]: _json_value(a["value"]) for a in span["attributes"]
                            },
                            "service": service.get("service.name"),
                        }
                    )

    def _protobuf(self, message: Any) -> None:
        for resource in message.resource_spans:
            service = {a.key: a.value.string_value for a in resource.resource.attributes}
            for scope in resource.scope_spans:
                for span in scope.spans:
                    self.spans.append(
                        {
                            "name": span.name,
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent": span.parent_span_id.hex(),
                            "kind": span.kind,
                            "attributes": {a.key: _value(a.value) for a in span.attributes},
                            "service": service.get("service.name"),
                        }
                    )


def _protobuf() -> Any:
    return pytest.importorskip(
        "opentelemetry.proto.collector.trace.v1.trace_service_pb2",
        reason="the otel extra is not installed (pip install -e '.[otel]')",
    )


def _json_value(v: dict[str, Any]) -> Any:
    if "intValue" in v:
        return int(v["intValue"])
    (value,) = v.values()
    return value


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


async def _upstream_headers(request: web.Request) -> web.Response:
    request.app[SEEN].append(dict(request.headers))
    return web.json_response(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "m1",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "hello"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9},
        }
    )


async def _serve(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("encoding", ["json", "protobuf"])
async def test_spans_exported_and_trace_continued(encoding: str) -> None:
    if encoding == "protobuf":
        _protobuf()
    collector = Collector()
    otlp = web.Application()
    otlp.router.add_post("/v1/traces", collector.export)
    upstream = web.Application()
    upstream[SEEN] = []
    upstream.router.add_post("/v1/chat/completions", _upstream_headers)
    otlp_serving = _serve(otlp)
    upstream_serving = _serve(upstream)
    otlp_url = await otlp_serving.__anext__()
    upstream_url = await upstream_serving.__anext__()
    try:
        config = gateway_config(
            providers={
                "up": {
                    "kind": "openai",
                    "base_url": upstream_url + "/v1",
                    "api_key": "sk-test-0123456789",
                }
            },
            models=[{"name": "m1", "provider": "up", "model": "m1"}],
            observability={
                "tracing": {
                    "enabled": True,
                    "endpoint": otlp_url + "/v1/traces",
                    "service_name": "gw-test",
                    "encoding": encoding,
                }
            },
        )
        async with run_gateway(config) as gw, aiohttp.ClientSession() as session:
            async with session.post(
                gw.base_url + "/chat/completions",
                json={"model": "m1", "messages": [{"role": "user", "content": "hi"}]},
                headers={
                    "authorization": f"Bearer {CLIENT_KEY}",
                    "traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01",
                },
            ) as r:
                assert r.status == 200, await r.text()
            tracer = gw.gateway.observability.tracer
            assert tracer is not None
            await tracer.exporter.flush()
            await asyncio.wait_for(collector.arrived.wait(), 10)
    finally:
        await otlp_serving.aclose()
        await upstream_serving.aclose()

    assert collector.content_types == [
        "application/json" if encoding == "json" else "application/x-protobuf"
    ]
    spans = {s["name"]: s for s in collector.spans if s["kind"] != 3}
    root = spans["chat m1"]
    assert root["trace_id"] == CALLER_TRACE
    assert root["parent"] == CALLER_SPAN
    assert root["kind"] == 2  # SERVER
    assert root["service"] == "gw-test"
    attrs = root["attributes"]
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == "m1"
    assert attrs["gen_ai.provider.name"] == "up"
    assert attrs["http.response.status_code"] == 200
    stages = {n for n in spans if n.startswith("bastion.")}
    assert {"bastion.authenticate", "bastion.authorize", "bastion.limits"} <= stages
    for name in stages:
        assert spans[name]["parent"] == root["span_id"]
        assert spans[name]["trace_id"] == CALLER_TRACE
    attempts = [s for s in collector.spans if s["kind"] == 3]  # CLIENT
    assert len(attempts) == 1
    attempt = attempts[0]
    assert attempt["parent"] == root["span_id"]
    assert attempt["attributes"]["gen_ai.provider.name"] == "up"
    assert attempt["attributes"]["http.response.status_code"] == 200
    # The upstream was sent the attempt's own span as its parent, in the caller's trace.
    sent = upstream[SEEN][0]["traceparent"]
    assert sent == f"00-{CALLER_TRACE}-{attempt['span_id']}-01"


async def _failing_upstream(request: web.Request) -> web.Response:
    return web.json_response({"error": {"message": "boom", "type": "server_error"}}, status=500)


async def test_failures_and_odd_names_traced() -> None:
    """A failed upstream attempt, a 5xx answer, an unknown model with a quote in its name
    and a caller's tracestate: spans still valid OTLP JSON with the error attributes."""
    collector = Collector()
    otlp = web.Application()
    otlp.router.add_post("/v1/traces", collector.export)
    upstream = web.Application()
    upstream.router.add_post("/v1/chat/completions", _failing_upstream)
    otlp_serving = _serve(otlp)
    upstream_serving = _serve(upstream)
    otlp_url = await otlp_serving.__anext__()
    upstream_url = await upstream_serving.__anext__()
    try:
        config = gateway_config(
            providers={
                "up": {
                    "kind": "openai",
                    "base_url": upstream_url + "/v1",
                    "api_key": "sk-0123456789",
                }
            },
            models=[{"name": "m1", "provider": "up", "model": "m1"}],
            observability={"tracing": {"enabled": True, "endpoint": otlp_url + "/v1/traces"}},
        )
        async with run_gateway(config) as gw, aiohttp.ClientSession() as session:
            headers = {
                "authorization": f"Bearer {CLIENT_KEY}",
                "traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01",
                "tracestate": 'vendor=a"b',
                "x-request-id": 'req"1\\',
            }
            for model in ("m1", 'no"such'):
                async with session.post(
                    gw.base_url + "/chat/completions",
                    json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
                    headers=headers,
                ) as r:
                    assert r.status >= 400
            tracer = gw.gateway.observability.tracer
            assert tracer is not None
            await tracer.exporter.flush()
            await asyncio.wait_for(collector.arrived.wait(), 10)
    finally:
        await otlp_serving.aclose()
        await upstream_serving.aclose()

    roots = {s["name"]: s for s in collector.spans if s["kind"] == 2}
    failed = roots["chat m1"]
    assert failed["trace_id"] == CALLER_TRACE
    assert failed["trace_state"] == 'vendor=a"b'
    assert failed["attributes"]["http.response.status_code"] >= 500
    assert failed["status"]["code"] == 2  # ERROR
    assert failed["attributes"]["bastion.request_id"] == 'req"1\\'
    assert failed["attributes"]["error.type"]
    unknown = roots['chat no"such']
    assert unknown["attributes"]["http.response.status_code"] == 404
    assert unknown["attributes"]["gen_ai.request.model"] == 'no"such'
    assert unknown["attributes"]["error.type"] == "model_not_found"
    attempts = [s for s in collector.spans if s["kind"] == 3]
    assert attempts, collector.spans
    for attempt in attempts:
        assert attempt["parent"] == failed["span_id"]
        assert attempt["attributes"]["http.response.status_code"] == 500
        assert attempt["attributes"]["error.type"] == "500"
        assert attempt["status"] == {"code": 2}


async def test_one_post_per_flush_and_stop_drains() -> None:
    """Spans queued while a batch is being posted wait for the next round (one request a
    round, not one per round trip); stopping posts whatever is left."""
    bodies: list[dict[str, Any]] = []
    release, arrived = asyncio.Event(), asyncio.Event()

    async def export(request: web.Request) -> web.Response:
        bodies.append(orjson.loads(await request.read()))
        arrived.set()
        await release.wait()
        return web.json_response({})

    otlp = web.Application()
    otlp.router.add_post("/v1/traces", export)
    serving = _serve(otlp)
    url = await serving.__anext__()
    try:
        exporter = OTLPExporter(url + "/v1/traces", {}, {"service.name": "t"}, ("t", "1"))
        exporter.start()
        span = {"traceId": "01" * 16, "spanId": "02" * 8, "name": "a", "kind": 1}
        exporter.add([span])
        posting = asyncio.create_task(exporter.flush())
        await asyncio.wait_for(arrived.wait(), 10)
        exporter.add([{**span, "name": "b"}, {**span, "name": "c"}])  # during the post
        release.set()
        await posting
        assert exporter.exported == 1 and exporter.pending == 2
        assert len(bodies) == 1
        await exporter.stop()
        assert exporter.exported == 3 and exporter.pending == 0
        names = [
            [s["name"] for s in b["resourceSpans"][0]["scopeSpans"][0]["spans"]] for b in bodies
        ]
        assert names == [["a"], ["b", "c"]]
    finally:
        await serving.aclose()


async def test_traced_stages_record_each_stage_and_a_failure() -> None:
    """One wrapper times every admission stage; a failing stage is recorded with its
    error code and the error still propagates."""

    class Passes:
        async def __call__(self, ctx: Any) -> None:
            return None

    class Refuses:
        async def __call__(self, ctx: Any) -> None:
            raise GatewayError(403, "no", code="model_not_allowed")

    tracer = Tracer(TracingConfig(enabled=True, endpoint="http://127.0.0.1:9/v1/traces"))
    stages = tracer.wrap_stages([Passes(), Refuses(), Passes()], ["authorize", "limits", "x"])
    trace = tracer.begin({"headers": []})
    token = _current.set(trace)
    try:
        with pytest.raises(GatewayError):
            await stages(None)
    finally:
        _current.reset(token)
    assert [(name, error) for name, _, _, error in trace.stages] == [
        ("authorize", None),
        ("limits", "model_not_allowed"),
    ]
    assert all(start <= end for _, start, end, _ in trace.stages)
    recorded = list(trace.stages)
    with pytest.raises(GatewayError):  # untraced: the stages run, nothing is recorded
        await stages(None)
    assert trace.stages == recorded
