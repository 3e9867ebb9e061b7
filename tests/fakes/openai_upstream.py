"""A fake OpenAI upstream: a real aiohttp server on loopback speaking OpenAI's wire format.

The fake serves the public OpenAI layout (``/v1/...``, ``Authorization: Bearer``) and the
Azure OpenAI layout (``/openai/deployments/{deployment}/...?api-version=``, ``api-key``).
What it answers is chosen by the upstream model id it receives (for Azure, the deployment):

- any ordinary id (``gpt-4o-mini``): ``"Hello! You said: " + <last user text>``, streamed
  as ``chat.completion.chunk`` events when ``stream`` is true;
- ``gpt-cached``: the same text with fixed usage showing cached and reasoning tokens;
- ``tool-call`` / ``parallel-tools``: one / two calls to the request's tools (text if the
  last message is a tool result); ``parallel-tools-interleaved`` interleaves the two
  calls' stream deltas, as some OpenAI-compatible servers do (OpenAI sends them in turn);
- ``json``: ``{"answer": 42}``; ``stop-seq``: ``"one two three four five"`` cut before the
  first of the request's ``stop`` sequences it contains; ``content-filter``: no content,
  ``finish_reason: "content_filter"`` (the output was filtered);
- ``error-400|404|429|500|503``: that status with OpenAI's error body (``error-400`` and
  ``context-too-long`` are a ``context_length_exceeded`` error);
- ``slow-<seconds>``: waits before sending headers, then answers normally;
- ``stream-hang``: streams the first chunks, then waits until the client leaves;
- ``echo-body``: the received JSON body, serialised, as the assistant content.
- ``judge``: a safety classifier's JSON verdict on the last user text: ``UNSAFE`` (category
  ``violence``) when it contains "attack" or "weapon", ``SAFE`` otherwise.

Bodies follow OpenAI's API reference examples and the ``openai`` SDK types, key order
included. Azure answers add Azure's content-filter annotations (``prompt_filter_results``,
a leading stream chunk with empty ``choices``, per-choice ``content_filter_results``).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from tests.fakes import openai_wire as wire
from tests.fakes.openai_wire import (
    CACHED_USAGE,
    EMBEDDING_DIMENSIONS,
    MODEL_CATALOG,
    RETRY_AFTER_SECONDS,
    SYSTEM_FINGERPRINT,
    TOOL_ARGUMENTS,
)

__all__ = [
    "CACHED_USAGE",
    "DEFAULT_API_KEY",
    "EMBEDDING_DIMENSIONS",
    "MODEL_CATALOG",
    "RETRY_AFTER_SECONDS",
    "SYSTEM_FINGERPRINT",
    "TOOL_ARGUMENTS",
    "FakeOpenAI",
    "RecordedRequest",
]

DEFAULT_API_KEY = "sk-fake-upstream-key"
_BODY = web.RequestKey("body", object)  # the parsed JSON body, or None
_STARTED = web.RequestKey("started", float)  # monotonic time the request arrived


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it (headers with lower-case names)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any  # the parsed body, or None when it was empty or not JSON
    body: bytes


def _mask(key: str) -> str:
    return key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else "*" * len(key)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FakeOpenAI:
    """An OpenAI / Azure OpenAI upstream on ``127.0.0.1:<random port>``.

    ``requests`` records every request received; ``disconnects`` counts streamed responses
    whose client left before ``data: [DONE]`` (including during a ``slow-*`` wait), and
    ``stream_cancelled`` is set when that happens.
    """

    def __init__(self, api_key: str = DEFAULT_API_KEY) -> None:
        self.api_key = api_key
        self.url = ""
        self.root_url = ""
        self.requests: list[RecordedRequest] = []
        self.disconnects = 0
        self.stream_cancelled = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False

    async def start(self) -> None:
        """Bind 127.0.0.1 on a free port and serve until :meth:`stop`."""
        app = web.Application(middlewares=[self._record], client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/v1/models/{model_id}", self._model)
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self._chat)
        app.router.add_post("/openai/deployments/{deployment}/embeddings", self._embeddings)
        app.router.add_route("*", "/{tail:.*}", self._unknown_route)
        # handler_cancellation: a handler is cancelled when its client goes away.
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        port = self._runner.addresses[0][1]
        self.root_url = f"http://127.0.0.1:{port}"
        self.url = self.root_url + "/v1"

    async def stop(self) -> None:
        """Cancel in-flight handlers (without counting them as disconnects) and close."""
        if self._runner is None:
            return
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2)
        await self._runner.cleanup()
        self._runner, self._stopping = None, False

    def reset(self) -> None:
        """Forget recorded requests and disconnects."""
        self.requests.clear()
        self.disconnects = 0
        self.stream_cancelled.clear()

    # -- plumbing -------------------------------------------------------------------------

    @web.middleware
    async def _record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            raw = await request.read()
            try:
                parsed: Any = orjson.loads(raw) if raw else None
            except orjson.JSONDecodeError:
                parsed = None
            request[_BODY], request[_STARTED] = parsed, time.monotonic()
            self.requests.append(
                RecordedRequest(
                    method=request.method,
                    path=request.path,
                    query=dict(request.query),
                    headers={k.lower(): v for k, v in request.headers.items()},
                    json=parsed,
                    body=raw,
                )
            )
            return await handler(request)
        finally:
            if task is not None:
                self._tasks.discard(task)

    def _headers(self, request: web.Request, azure: bool) -> dict[str, str]:
        elapsed_ms = int((time.monotonic() - request[_STARTED]) * 1000)
        headers = {
            "x-request-id": "req_" + secrets.token_hex(16),
            "openai-processing-ms": str(elapsed_ms),
        }
        if not azure:
            headers |= {"openai-version": "2020-10-01", **wire.RATE_HEADERS}
        return headers

    def _json(
        self,
        request: web.Request,
        obj: Any,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        azure = request.path.startswith("/openai/")
        all_headers = {**self._headers(request, azure), **(headers or {})}
        return web.Response(
            status=status,
            body=orjson.dumps(obj, option=orjson.OPT_SORT_KEYS if azure else 0),
            content_type="application/json",
            headers=all_headers,
        )

    def _error(
        self,
        request: web.Request,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        error = {"message": message, "type": type_, "param": param, "code": code}
        return self._json(request, {"error": error}, status, headers)

    def _azure_error(
        self, request: web.Request, status: int, code: str, message: str
    ) -> web.Response:
        return self._json(request, {"error": {"code": code, "message": message}}, status)

    def _deny(self, request: web.Request) -> web.Response | None:
        """The error for a request with the wrong layout or key, as each layout words it."""
        if "deployment" in request.match_info:
            version = request.query.get("api-version")
            if version is None:
                return self._azure_error(request, 404, "404", "Resource not found")
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}(-preview)?", version):
                return self._azure_error(request, 400, "BadRequest", "API version not supported")
            if request.headers.get("api-key") != self.api_key:
                return self._azure_error(request, 401, "401", wire.AZURE_401_MESSAGE)
            return None
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return self._error(request, 401, wire.NO_KEY_MESSAGE)
        if key != self.api_key:
            message = (
                f"Incorrect API key provided: {_mask(key)}. You can find your API key "
                "at https://platform.openai.com/account/api-keys."
            )
            return self._error(request, 401, message, code="invalid_api_key")
        return None

    def _accept(self, request: web.Request) -> tuple[str, dict[str, Any]] | web.Response:
        """(upstream model id, JSON body) of a POST, or the error that refuses it."""
        if (denied := self._deny(request)) is not None:
            return denied
        body = request[_BODY]
        if not isinstance(body, dict):
            return self._error(request, 400, wire.BAD_JSON_MESSAGE)
        model = request.match_info.get("deployment", body.get("model"))
        if not isinstance(model, str) or not model:
            return self._error(request, 400, "you must provide a model parameter")
        return model, body

    def _scenario_error(self, request: web.Request, model: str) -> web.Response | None:
        if model not in wire.SCENARIO_ERRORS:
            return None
        status, message, type_, param, code = wire.SCENARIO_ERRORS[model]
        headers = wire.RATE_LIMITED_HEADERS if status == 429 else None
        return self._error(
            request, status, message.format(model=model), type_, param, code, headers
        )

    def _disconnected(self) -> None:
        if not self._stopping:
            self.disconnects += 1
            self.stream_cancelled.set()

    # -- routes ---------------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        accepted = self._accept(request)
        if isinstance(accepted, web.Response):
            return accepted
        model, body = accepted
        messages = body.get("messages")
        if messages is None:
            return self._error(
                request,
                400,
                "Missing required parameter: 'messages'.",
                param="messages",
                code="missing_required_parameter",
            )
        if not isinstance(messages, list) or not messages:
            message = wire.EMPTY_MESSAGES_MESSAGE
            return self._error(request, 400, message, param="messages", code="empty_array")
        if body.get("stream_options") is not None and body.get("stream") is not True:
            return self._error(request, 400, wire.STREAM_OPTIONS_MESSAGE, param="stream_options")
        if (failure := self._scenario_error(request, model)) is not None:
            return failure
        delay = wire.slow_delay(model)
        answer = wire.answer(body, model)
        azure = "deployment" in request.match_info
        if body.get("stream") is True:
            return await self._stream(
                request,
                wire.chat_chunks(answer, body, wire.dated(model), azure),
                delay,
                model == "stream-hang",
            )
        await asyncio.sleep(delay)
        return self._json(request, wire.chat_completion(answer, wire.dated(model), azure))

    async def _stream(
        self, request: web.Request, events: list[bytes], delay: float, hang: bool
    ) -> web.StreamResponse:
        azure = request.path.startswith("/openai/")
        response = web.StreamResponse(headers=self._headers(request, azure))
        response.content_type = "text/event-stream"
        response.charset = "utf-8"
        try:
            await asyncio.sleep(delay)
            await response.prepare(request)
            for event in events[: wire.HANG_EVENTS + azure] if hang else events:
                await response.write(event)
            if hang:  # wait until the client goes away (the handler is then cancelled)
                await asyncio.get_running_loop().create_future()
            await response.write(wire.DONE_EVENT)
            await response.write_eof()
        except asyncio.CancelledError:
            self._disconnected()
            raise
        except ConnectionResetError:  # the client left between two writes
            self._disconnected()
        return response

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        accepted = self._accept(request)
        if isinstance(accepted, web.Response):
            return accepted
        model, body = accepted
        if "input" not in body:
            return self._error(
                request,
                400,
                "Missing required parameter: 'input'.",
                param="input",
                code="missing_required_parameter",
            )
        inputs = wire.embedding_inputs(body["input"])
        if inputs is None:
            return self._error(request, 400, wire.BAD_INPUT_MESSAGE)
        dimensions = body.get("dimensions", wire.EMBEDDING_DIMENSIONS)
        if type(dimensions) is not int or dimensions < 1:
            message = f"Invalid 'dimensions': integer below minimum value. Expected a value >= 1, but got {dimensions} instead."
            return self._error(
                request, 400, message, param="dimensions", code="integer_below_min_value"
            )
        if (failure := self._scenario_error(request, model)) is not None:
            return failure
        await asyncio.sleep(wire.slow_delay(model))
        as_base64 = body.get("encoding_format") == "base64"
        return self._json(request, wire.embeddings_list(inputs, model, dimensions, as_base64))

    async def _models(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._deny(request)) is not None:
            return denied
        data = [
            {"id": m, "object": "model", "created": wire.CREATED, "owned_by": o}
            for m, o in wire.MODEL_CATALOG
        ]
        return self._json(request, {"object": "list", "data": data})

    async def _model(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._deny(request)) is not None:
            return denied
        model_id = request.match_info["model_id"]
        for known, owner in wire.MODEL_CATALOG:
            if known == model_id:
                return self._json(
                    request,
                    {"id": known, "object": "model", "created": wire.CREATED, "owned_by": owner},
                )
        message = f"The model '{model_id}' does not exist"
        return self._error(request, 404, message, param="model", code="model_not_found")

    async def _unknown_route(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/openai/"):
            return self._azure_error(request, 404, "404", "Resource not found")
        return self._error(request, 404, f"Invalid URL ({request.method} {request.path})")
