"""An OTLP/HTTP trace exporter: spans as OTLP JSON, posted in batches off the request path.

Spans come in the OTLP JSON shape (ids in hex, times as decimal strings), one request's
spans as one ``bytes`` fragment (the tracer encodes them itself; ``add`` takes dicts), so
a second of queued spans is a list of strings, not a million objects for the garbage
collector to walk; one background task joins the fragments and posts them every
``interval`` seconds (sooner past ``batch`` spans) over the gateway's own aiohttp
session. ``encoding="protobuf"`` converts each batch with the ``opentelemetry-proto``
classes (the ``otel`` extra) in a thread instead. A collector that cannot be reached
loses the batch (logged and counted); the queue is bounded.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib
import logging
from collections.abc import AsyncIterator
from typing import Any, Literal

import aiohttp
import orjson

log = logging.getLogger("bastion.tracing")

Span = dict[str, Any]


def attribute(key: str, value: Any) -> dict[str, Any]:
    """One OTLP JSON attribute (int64 as a decimal string, as the proto3 JSON mapping says)."""
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": str(value)}}


_SAME: dict[tuple[str, Any], dict[str, Any]] = {}
_SAME_LIMIT = 20_000


def label(key: str, value: str | int | bool) -> dict[str, Any]:
    """An attribute whose values repeat (model, provider, team, stage, status): made once.

    The same dict serves every span that carries it (they are only read, to serialise).
    """
    found = _SAME.get((key, value))
    if found is None:
        found = attribute(key, value)
        if len(_SAME) < _SAME_LIMIT:
            _SAME[key, value] = found
    return found


class OTLPExporter:
    def __init__(
        self,
        endpoint: str,
        headers: dict[str, str],
        resource: dict[str, str],
        scope: tuple[str, str],
        encoding: Literal["json", "protobuf"] = "json",
        interval: float = 1.0,
        batch: int = 2048,
        max_pending: int = 100_000,
    ) -> None:
        self.endpoint = endpoint
        self.headers = headers
        self.encoding = encoding
        resource_json = orjson.dumps({"attributes": [attribute(k, v) for k, v in resource.items()]})
        scope_json = orjson.dumps({"name": scope[0], "version": scope[1]})
        # The request body up to its spans: {"resourceSpans":[{"resource":..,"scopeSpans":[{"scope":..,"spans":[
        self._head = (
            b'{"resourceSpans":[{"resource":'
            + resource_json
            + b',"scopeSpans":[{"scope":'
            + scope_json
            + b',"spans":['
        )
        self._interval = interval
        self._batch = batch
        self._max_pending = max_pending
        self._pending: list[bytes] = []  # each: one request's spans, JSON, comma-separated
        self._count = 0  # spans in _pending
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self.exported = 0
        self.dropped = 0

    def add(self, spans: list[Span]) -> None:
        """Queue spans given as OTLP JSON dicts."""
        self.add_encoded(orjson.dumps(spans)[1:-1], len(spans))

    def add_encoded(self, fragment: bytes, count: int) -> None:
        """Queue ``count`` spans already encoded: OTLP JSON span objects, comma-separated."""
        if self._count >= self._max_pending:
            self.dropped += count
            return
        self._pending.append(fragment)
        self._count += count
        if self._count >= self._batch:
            self._wake.set()

    @property
    def pending(self) -> int:
        return self._count

    def start(self) -> None:
        if self._task is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
            self._task = asyncio.create_task(self._run(), name="bastion-otlp")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        while self._pending and self._session is not None:  # what came in meanwhile too
            await self.flush()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def flush(self) -> None:
        """Post what is queued, as one request.

        Once: spans that arrive while it is posted wait for the next round (``interval``,
        or sooner past ``batch`` spans), so that under steady traffic the collector gets
        one request a second, not one per post's round trip.
        """
        if not self._pending or self._session is None:
            return
        fragments, self._pending = self._pending, []
        count, self._count = self._count, 0
        # The batch is copied once (the tail goes onto its last fragment) and posted as
        # two pieces, the head and the spans: the HTTP client joins its headers to the
        # first piece it writes, which would copy the spans once more.
        fragments[-1] += b"]}]}]}"
        spans = b",".join(fragments)
        headers = {**self.headers, "content-type": "application/json"}
        data: bytes | AsyncIterator[bytes]
        if self.encoding == "protobuf":
            data = await asyncio.to_thread(_protobuf, self._head + spans)
            headers["content-type"] = "application/x-protobuf"
        else:
            data = _pieces(self._head, spans)
            headers["content-length"] = str(len(self._head) + len(spans))
        try:
            async with self._session.post(self.endpoint, data=data, headers=headers) as response:
                await response.read()
                if response.status >= 300:
                    raise RuntimeError(f"HTTP {response.status}")
            self.exported += count
        except Exception as exc:
            self.dropped += count
            log.warning("could not export %d spans (%s)", count, exc)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            await self.flush()


async def _pieces(*pieces: bytes) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


def _protobuf(body: bytes) -> bytes:
    """The same request as OTLP protobuf (the ``otel`` extra's generated classes)."""
    request = orjson.loads(body)
    json_format = importlib.import_module("google.protobuf.json_format")
    service = importlib.import_module("opentelemetry.proto.collector.trace.v1.trace_service_pb2")
    # The proto3 JSON mapping carries bytes in base64 where OTLP JSON uses hex.
    for resource in request["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for span in scope["spans"]:
                for field in ("traceId", "spanId", "parentSpanId"):
                    if span.get(field):
                        span[field] = base64.b64encode(bytes.fromhex(span[field])).decode()
    message = service.ExportTraceServiceRequest()
    json_format.ParseDict(request, message)
    return message.SerializeToString()  # type: ignore[no-any-return]
