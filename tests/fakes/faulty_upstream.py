"""A fake OpenAI-compatible upstream that fails on demand, for routing and reliability tests.

A real aiohttp server on loopback; each instance plays one deployment's host. What it does
is set per instance (``fault``) or per upstream model id (``faults[model]``), at any time:

- ``Fault.ok()``: answers (plain or streamed), after ``delay`` seconds if given;
- ``Fault.status(503, retry_after="1")``: that status with OpenAI's error body (and code);
- ``Fault.hang()``: never answers (the caller's timeout must fire);
- ``Fault.reset()``: drops the connection before answering;
- ``Fault.cut(after=2)``: streams ``after`` chunks, then drops the connection;
- ``Fault.slow_first_byte(1.0)``: stream headers at once, the first chunk after a delay;
- ``Fault.refuse()``: a 200 whose finish_reason is ``content_filter``.

Counters: ``requests`` (all), ``by_model``, ``in_flight`` and ``max_in_flight``.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from aiohttp import web

Kind = Literal["ok", "status", "hang", "reset", "cut", "slow_first_byte", "refuse"]
USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
PIECES = ("Hello", " from", " upstream")


@dataclass(frozen=True)
class Fault:
    kind: Kind = "ok"
    status: int = 200
    retry_after: str | None = None
    code: str | None = None
    delay: float = 0.0  # before the response headers
    after: int = 0  # chunks sent before a cut

    @classmethod
    def ok(cls, delay: float = 0.0) -> Fault:
        return cls("ok", delay=delay)

    @classmethod
    def error(cls, status: int, retry_after: str | None = None, code: str | None = None) -> Fault:
        return cls("status", status, retry_after, code)

    @classmethod
    def hang(cls) -> Fault:
        return cls("hang")

    @classmethod
    def reset(cls) -> Fault:
        return cls("reset")

    @classmethod
    def cut(cls, after: int) -> Fault:
        return cls("cut", after=after)

    @classmethod
    def slow_first_byte(cls, delay: float) -> Fault:
        return cls("slow_first_byte", delay=delay)

    @classmethod
    def refuse(cls) -> Fault:
        return cls("refuse")


class FaultyUpstream:
    """``POST /v1/chat/completions`` on ``127.0.0.1:<random port>``, failing as told."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.url = ""
        self.fault = Fault.ok()
        self.faults: dict[str, Fault] = {}
        self.requests = 0
        self.by_model: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/v1"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def reset_counters(self, fault: Fault | None = None) -> None:
        self.requests = 0
        self.by_model.clear()
        self.max_in_flight = self.in_flight
        self.faults.clear()
        self.fault = fault or Fault.ok()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body: dict[str, Any] = orjson.loads(await request.read())
        model = str(body.get("model"))
        self.requests += 1
        self.by_model[model] += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._answer(request, body, model, self.faults.get(model, self.fault))
        finally:
            self.in_flight -= 1

    async def _answer(
        self, request: web.Request, body: dict[str, Any], model: str, fault: Fault
    ) -> web.StreamResponse:
        if fault.kind == "hang":
            await asyncio.get_running_loop().create_future()
        stream = body.get("stream") is True
        if fault.kind == "reset" or (fault.kind == "cut" and not stream):
            assert request.transport is not None
            request.transport.abort()
            return web.Response()
        if fault.kind != "slow_first_byte" or not stream:  # a stream's wait is after its headers
            await asyncio.sleep(fault.delay)
        if fault.kind == "status":
            error = {
                "message": f"{self.name} failed",
                "type": "error",
                "param": None,
                "code": fault.code,
            }
            headers = {"retry-after": fault.retry_after} if fault.retry_after else {}
            return web.json_response({"error": error}, status=fault.status, headers=headers)
        finish = "content_filter" if fault.kind == "refuse" else "stop"
        if stream:
            return await self._stream(request, body, model, fault, finish)
        text = f"{self.name}: " + "".join(PIECES)
        return web.Response(
            body=orjson.dumps(
                {
                    "id": "chatcmpl-faulty",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": finish,
                        }
                    ],
                    "usage": USAGE,
                }
            ),
            content_type="application/json",
        )

    async def _stream(
        self, request: web.Request, body: dict[str, Any], model: str, fault: Fault, finish: str
    ) -> web.StreamResponse:
        def event(delta: dict[str, Any], reason: str | None = None) -> bytes:
            chunk = {
                "id": "chatcmpl-faulty",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": reason}],
            }
            return b"data: " + orjson.dumps(chunk) + b"\n\n"

        events = [event({"role": "assistant", "content": f"{self.name}:"})]
        events += [event({"content": piece}) for piece in PIECES]
        events.append(event({}, finish))
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            usage = {"id": "chatcmpl-faulty", "object": "chat.completion.chunk", "model": model}
            events.append(
                b"data: " + orjson.dumps({**usage, "choices": [], "usage": USAGE}) + b"\n\n"
            )
        events.append(b"data: [DONE]\n\n")
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        if fault.kind == "slow_first_byte":
            await asyncio.sleep(fault.delay)
        for i, piece in enumerate(events):
            if fault.kind == "cut" and i == fault.after:
                await asyncio.sleep(0.05)  # let what was written reach the client first
                assert request.transport is not None
                request.transport.abort()
                return response
            await response.write(piece)
        await response.write_eof()
        return response
