"""A fake Cohere API: a real aiohttp server on loopback speaking Cohere's v2 wire format.

It serves ``POST /v2/chat`` (JSON, or SSE with ``stream: true``) and ``POST /v2/embed``,
and checks what it receives as Cohere does: ``Authorization: Bearer <key>`` (else 401
``{"message": "invalid api token"}``), and the request body against the v2 request
shapes of Cohere's OpenAPI spec (field names, message roles and content parts, tool
and tool-call shapes, ``tool_choice``/``response_format`` values, parameter ranges): a
mistake is a 400 ``{"message": "invalid request: ..."}``. Every rejection is appended
to ``rejections``.

Answers follow the documented examples (``finish_reason``, ``message.content[]``,
``message.tool_plan`` + ``tool_calls``, ``usage.billed_units`` / ``usage.tokens``;
stream events ``message-start`` ... ``message-end``). What the fake says is chosen by
the model id: ordinary ids ``"Hello! You said: <last user text>"``; ``tool-call``,
``parallel-tools``, ``cached``, ``json``, ``stop-seq``, ``length``, ``content-filter``
(HTTP 498, a blocked token), ``error-*``, ``overloaded``, ``context-too-long``,
``stream-error`` and ``slow-<seconds>`` behave as named.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

API_KEY = "co-fake-upstream-key-0123456789"
TOOL_ARGUMENTS = ({"city": "Paris"}, {"city": "London"})
TOOL_PLAN = "I will look up the weather."
THINKING = "The user says hello; I answer in kind."
TEMPLATE_TOKENS = 7  # tokens.input_tokens - billed_units.input_tokens (the chat template)
CACHED_TOKENS = 48
RETRY_AFTER = "5"
EMBEDDING_DIMENSIONS = 16

_CHAT_FIELDS = {
    "stream",
    "model",
    "messages",
    "tools",
    "strict_tools",
    "documents",
    "citation_options",
    "response_format",
    "safety_mode",
    "max_tokens",
    "stop_sequences",
    "temperature",
    "seed",
    "frequency_penalty",
    "presence_penalty",
    "k",
    "p",
    "logprobs",
    "tool_choice",
    "thinking",
    "priority",
}
_EMBED_FIELDS = {
    "texts",
    "images",
    "model",
    "input_type",
    "inputs",
    "max_tokens",
    "output_dimension",
    "embedding_types",
    "truncate",
    "priority",
}
_ERRORS: dict[str, tuple[int, str]] = {
    "error-400": (
        400,
        "invalid request: message must be at least 1 token long or tool results must be specified.",
    ),
    "error-429": (
        429,
        "You are using a Trial key, which is limited to 10 API calls / minute. You can continue to use the Trial key for free or upgrade to a Production key with higher rate limits.",
    ),
    "error-500": (500, "internal server error, this has been reported to our developers"),
    "error-503": (503, "service unavailable"),
    "overloaded": (503, "the model is overloaded, please try again later"),
    "context-too-long": (
        400,
        "too many tokens: total number of tokens in the prompt cannot exceed 4081 - received 4292. Try using a shorter prompt, or enabling prompt truncating. See https://docs.cohere.com/reference/generate for more details.",
    ),
    "content-filter": (
        498,
        "blocked input: please adjust your prompt and try again, as it may be a potential violation of our Usage Guidelines (https://docs.cohere.com/docs/usage-guidelines).",
    ),
}


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    body: bytes


class _Reject(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _invalid(message: str) -> _Reject:
    return _Reject(400, "invalid request: " + message)


class FakeCohere:
    """Cohere on ``127.0.0.1:<random port>``; see the module docstring."""

    def __init__(self, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.url = ""
        self.requests: list[RecordedRequest] = []
        self.rejections: list[tuple[int, str]] = []
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def reset(self) -> None:
        self.requests.clear()
        self.rejections.clear()

    def provider_config(self) -> dict[str, Any]:
        return {"kind": "cohere", "base_url": self.url, "api_key": self.api_key}

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            parsed: Any = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            parsed = None
        self.requests.append(
            RecordedRequest(request.method, request.path, dict(request.query), headers, parsed, raw)
        )
        try:
            auth = headers.get("authorization", "")
            if not auth.lower().startswith("bearer ") or auth[7:] != self.api_key:
                raise _Reject(401, "invalid api token" if auth else "no api key supplied")
            if request.method != "POST" or request.path not in ("/v2/chat", "/v2/embed"):
                raise _Reject(404, f"{request.path} not found")
            if not isinstance(parsed, dict):
                raise _invalid("the request body must be a JSON object")
            if request.path == "/v2/embed":
                return self._embed(parsed)
            _check_chat(parsed)
            return await self._chat(request, parsed)
        except _Reject as reject:
            self.rejections.append((reject.status, reject.message))
            extra = {"Retry-After": RETRY_AFTER} if reject.status == 429 else {}
            return web.Response(
                status=reject.status,
                body=orjson.dumps({"id": str(uuid.uuid4()), "message": reject.message}),
                content_type="application/json",
                headers=extra,
            )

    async def _chat(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        model = body["model"]
        if model.startswith("slow-"):
            await asyncio.sleep(float(model.removeprefix("slow-")))
        if model in _ERRORS:
            raise _Reject(*_ERRORS[model])
        message, finish, usage = _reply(model, body)
        reply_id = str(uuid.uuid4())
        if not body.get("stream"):
            return web.json_response(
                {"id": reply_id, "message": message, "finish_reason": finish, "usage": usage}
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for i, event in enumerate(_events(reply_id, model, message, finish, usage)):
            frame = f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()
            if i % 3 == 1:  # some events split across writes
                await response.write(frame[:9])
                await asyncio.sleep(0.002)
                await response.write(frame[9:])
            else:
                await response.write(frame)
        await response.write_eof()
        return response

    def _embed(self, body: dict[str, Any]) -> web.Response:
        unknown = set(body) - _EMBED_FIELDS
        if unknown:
            raise _invalid(f"unknown field(s) {sorted(unknown)}")
        texts = body.get("texts")
        if "model" not in body or "input_type" not in body:
            raise _invalid("model and input_type are required")
        if body["input_type"] not in (
            "search_document",
            "search_query",
            "classification",
            "clustering",
            "image",
        ):
            raise _invalid(f"invalid input_type {body['input_type']!r}")
        if (
            not isinstance(texts, list)
            or not 0 < len(texts) <= 96
            or not all(isinstance(t, str) for t in texts)
        ):
            raise _invalid("texts must be a list of 1 to 96 strings")
        types = body.get("embedding_types", ["float"])
        if types != ["float"]:
            raise _invalid("the fake only serves float embeddings")
        dims = body.get("output_dimension", EMBEDDING_DIMENSIONS)
        vectors = [embedding(t, dims) for t in texts]
        tokens = sum(len(t.split()) for t in texts)
        return web.json_response(
            {
                "id": str(uuid.uuid4()),
                "texts": texts,
                "embeddings": {"float": vectors},
                "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": tokens}},
                "response_type": "embeddings_by_type",
            }
        )


def embedding(text: str, dims: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest() * (dims // 32 + 1)
    return [round((b - 128) / 128, 4) for b in digest[:dims]]


def _check_chat(body: dict[str, Any]) -> None:
    unknown = set(body) - _CHAT_FIELDS
    if unknown:
        raise _invalid(f"unknown field(s) {sorted(unknown)}")
    if not isinstance(body.get("model"), str):
        raise _invalid("a model parameter is required for this endpoint.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _invalid("messages must be a non-empty list")
    call_ids: set[str] = set()
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        allowed = {
            "system": {"role", "content"},
            "user": {"role", "content"},
            "assistant": {"role", "content", "tool_calls", "tool_plan", "citations"},
            "tool": {"role", "tool_call_id", "content"},
        }.get(str(role))
        if allowed is None:
            raise _invalid(f"messages[{i}]: invalid role {role!r}")
        if set(message) - allowed:
            raise _invalid(f"messages[{i}]: unknown field(s) {sorted(set(message) - allowed)}")
        content = message.get("content")
        if role in ("system", "user"):
            _check_content(content, i, images=role == "user")
        elif role == "assistant":
            if content is not None:
                _check_content(content, i, images=False)
            calls = message.get("tool_calls") or []
            for call in calls:
                if (
                    set(call) - {"id", "type", "function"}
                    or call.get("type") != "function"
                    or not isinstance(call.get("id"), str)
                ):
                    raise _invalid(
                        f"messages[{i}].tool_calls: each call is {{id, type: function, function}}"
                    )
                function = call.get("function") or {}
                if set(function) - {"name", "arguments"} or not isinstance(
                    function.get("arguments"), str
                ):
                    raise _invalid(
                        f"messages[{i}].tool_calls: function is {{name, arguments: <string>}}"
                    )
                call_ids.add(call["id"])
        else:
            if message.get("tool_call_id") not in call_ids:
                raise _invalid(f"messages[{i}]: tool_call_id does not match any tool call")
            if not isinstance(content, str) and not (
                isinstance(content, list)
                and all(
                    isinstance(c, dict) and c.get("type") in ("text", "document") for c in content
                )
            ):
                raise _invalid(
                    f"messages[{i}]: tool content is a string or a list of text/document blocks"
                )
    tools = body.get("tools")
    if tools is not None:
        for k, tool in enumerate(tools):
            function = tool.get("function") if isinstance(tool, dict) else None
            if (
                tool.get("type") != "function"
                or set(tool) != {"type", "function"}
                or not isinstance(function, dict)
            ):
                raise _invalid(f"tools[{k}] must be {{type: function, function}}")
            if set(function) - {"name", "description", "parameters"} or not isinstance(
                function.get("parameters"), dict
            ):
                raise _invalid(f"tools[{k}].function must be {{name, description?, parameters}}")
    choice = body.get("tool_choice")
    if choice is not None and (choice not in ("REQUIRED", "NONE") or not tools):
        raise _invalid("tool_choice must be REQUIRED or NONE, with tools")
    fmt = body.get("response_format")
    if fmt is not None:
        if (
            not isinstance(fmt, dict)
            or fmt.get("type") not in ("text", "json_object")
            or set(fmt) - {"type", "json_schema"}
        ):
            raise _invalid("response_format must be {type: text|json_object, json_schema?}")
        if tools:
            raise _invalid("response_format is not supported with tools")
    p = body.get("p")
    if p is not None and not 0.01 <= p <= 0.99:
        raise _invalid("p must be between 0.01 and 0.99")
    k = body.get("k")
    if k is not None and not 0 <= k <= 500:
        raise _invalid("k must be between 0 and 500")
    stops = body.get("stop_sequences")
    if stops is not None and (not isinstance(stops, list) or len(stops) > 5):
        raise _invalid("stop_sequences must be a list of at most 5 strings")


def _check_content(content: Any, i: int, *, images: bool) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise _invalid(f"messages[{i}].content must be a string or a list of content blocks")
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and set(part) == {"type", "text"}:
            continue
        if images and kind == "image_url" and set(part) == {"type", "image_url"}:
            image = part["image_url"]
            if (
                isinstance(image, dict)
                and isinstance(image.get("url"), str)
                and not set(image) - {"url", "detail"}
            ):
                continue
        raise _invalid(f"messages[{i}].content[{j}]: invalid content block {part!r}")


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return " ".join(p.get("text", "") for p in content or [] if p.get("type") == "text")


def _reply(model: str, body: dict[str, Any]) -> tuple[dict[str, Any], str, dict[str, Any]]:
    messages = body["messages"]
    last = messages[-1]
    prompt = sum(len(_text(m.get("content")).split()) for m in messages)
    tools = [t["function"]["name"] for t in body.get("tools") or []]
    message: dict[str, Any] = {"role": "assistant"}
    finish = "COMPLETE"
    if model in ("tool-call", "parallel-tools") and last["role"] != "tool":
        count = 1 if model == "tool-call" else 2
        message["tool_plan"] = TOOL_PLAN
        message["tool_calls"] = [
            {
                "id": f"{tools[0]}_{secrets.token_hex(6)}",
                "type": "function",
                "function": {"name": tools[0], "arguments": json.dumps(TOOL_ARGUMENTS[i])},
            }
            for i in range(count)
        ]
        finish = "TOOL_CALL"
    else:
        if last["role"] == "tool":
            results = [_text(m["content"]) for m in messages if m["role"] == "tool"]
            text = "The tool said: " + results[-1]
        elif model == "json":
            text = '{"answer": 42}'
        elif model == "stop-seq":
            text = "Counting: 1, 2, 3, 4, 5"
            cuts = [text.index(s) for s in body.get("stop_sequences") or [] if s in text]
            if cuts:
                text, finish = text[: min(cuts)], "STOP_SEQUENCE"
        else:
            text = "Hello! You said: " + _text(last.get("content"))
            if model == "length":
                words = text.split(" ")
                limit = body.get("max_tokens", 4)
                if len(words) > limit:
                    text, finish = " ".join(words[:limit]), "MAX_TOKENS"
        message["content"] = [{"type": "text", "text": text}]
        if model == "cached":
            message["content"].insert(0, {"type": "thinking", "thinking": THINKING})
    output = sum(
        len(str(c.get("text", c.get("thinking", ""))).split()) for c in message.get("content", [])
    ) + 9 * len(message.get("tool_calls", []))
    usage: dict[str, Any] = {
        "billed_units": {"input_tokens": float(prompt), "output_tokens": float(output)},
        "tokens": {"input_tokens": float(prompt + TEMPLATE_TOKENS), "output_tokens": float(output)},
    }
    if model == "cached":
        usage["cached_tokens"] = float(CACHED_TOKENS)
    return message, finish, usage


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def split_arguments(arguments: str) -> list[str]:
    return [arguments[:2], arguments[2:9], arguments[9:]]


def _events(
    reply_id: str, model: str, message: dict[str, Any], finish: str, usage: dict[str, Any]
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [
        {"type": "message-start", "id": reply_id, "delta": {"message": {"role": "assistant"}}}
    ]
    if message.get("tool_plan"):
        events += [
            {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": piece}}}
            for piece in _pieces(message["tool_plan"])
        ]
    for index, call in enumerate(message.get("tool_calls", [])):
        events.append(
            {
                "type": "tool-call-start",
                "index": index,
                "delta": {
                    "message": {
                        "tool_calls": {
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": call["function"]["name"], "arguments": ""},
                        }
                    }
                },
            }
        )
        events += [
            {
                "type": "tool-call-delta",
                "index": index,
                "delta": {"message": {"tool_calls": {"function": {"arguments": piece}}}},
            }
            for piece in split_arguments(call["function"]["arguments"])
        ]
        events.append({"type": "tool-call-end", "index": index})
    for index, item in enumerate(message.get("content", [])):
        kind = item["type"]
        events.append(
            {
                "type": "content-start",
                "index": index,
                "delta": {"message": {"content": {"type": kind, kind: ""}}},
            }
        )
        events += [
            {
                "type": "content-delta",
                "index": index,
                "delta": {"message": {"content": {kind: piece}}},
            }
            for piece in _pieces(item[kind])
        ]
        events.append({"type": "content-end", "index": index})
    end: dict[str, Any] = {"finish_reason": finish, "usage": usage}
    if model == "stream-error":
        end = {
            "finish_reason": "ERROR",
            "error": "an internal error occurred while generating",
            "usage": usage,
        }
    events.append({"type": "message-end", "delta": end})
    return events
