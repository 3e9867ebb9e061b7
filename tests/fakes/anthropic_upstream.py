"""A fake Anthropic upstream: a real aiohttp server on loopback speaking the Messages API.

It checks what the gateway sends as the real API does, answering with Anthropic's own
error body (``{"type":"error","error":{"type","message"}}``): the ``x-api-key`` and
``anthropic-version`` headers, required ``max_tokens``, no unknown top-level fields,
alternating ``user``/``assistant`` turns, valid content-block shapes, tool results that
answer the previous turn's tool uses (first in their turn), signed thinking blocks sent
back first when thinking is enabled. Every request is recorded (``requests``), with the
error it got if any.

What it answers is chosen by the upstream model id (the table shared by every fake):
ordinary id -> "Hello! You said: <last user text>"; ``tool-call`` -> a call to the first
tool with {"city": "Paris"} (text "The tool said: <result>" after a tool result);
``parallel-tools`` -> two calls (Paris, London) unless parallel use is disabled;
``cached`` -> usage with cache reads/writes and thinking tokens; ``json`` -> '{"answer": 42}';
``stop-seq`` -> "one two three four five" cut at the first stop sequence;
``length`` -> a max_tokens stop; ``content-filter`` -> a refusal stop; ``pause`` -> pause_turn;
``error-400|429|500|503``, ``overloaded``, ``context-too-long``; ``slow-<seconds>``;
``stream-error`` -> a stream that ends with an ``error`` event. With ``thinking`` enabled
every answer starts with a signed thinking block. Streams use the real event sequence
(``event:`` + ``data:`` lines, a ``ping``, text and tool input split across deltas).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

API_KEY = "sk-ant-fake-upstream-0123456789"
VERSIONS = frozenset({"2023-06-01", "2023-01-01"})
MCP_BETA = "mcp-client-2025-04-04"
USAGE = {"input_tokens": 21, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
CACHED_USAGE = {
    "input_tokens": 13,
    "cache_creation_input_tokens": 200,
    "cache_read_input_tokens": 1800,
    "output_tokens": 75,
    "output_tokens_details": {"thinking_tokens": 40},
}
RETRY_AFTER = "7"
TOOL_ARGS = {"city": "Paris"}
SECOND_TOOL_ARGS = {"city": "London"}
STOP_SEQ_TEXT = "one two three four five"

_FIELDS = frozenset(
    {
        "model", "messages", "max_tokens", "system", "metadata", "stop_sequences", "stream",
        "temperature", "top_p", "top_k", "tools", "tool_choice", "thinking", "service_tier",
        "container", "output_config", "context_management", "inference_geo", "mcp_servers", "cache_control", "diagnostics", "speed",
        "user_profile_id", "workspace_id",
    }
)  # fmt: skip
_COUNT_FIELDS = frozenset(
    {"model", "messages", "system", "tools", "tool_choice", "thinking", "output_config",
     "context_management", "mcp_servers"}
)  # fmt: skip
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_BLOCK_KEYS: dict[str, frozenset[str]] = {
    "text": frozenset({"type", "text", "cache_control", "citations"}),
    "image": frozenset({"type", "source", "cache_control"}),
    "document": frozenset({"type", "source", "title", "context", "citations", "cache_control"}),
    "tool_use": frozenset({"type", "id", "name", "input", "cache_control"}),
    "tool_result": frozenset({"type", "tool_use_id", "content", "is_error", "cache_control"}),
    "thinking": frozenset({"type", "thinking", "signature"}),
    "redacted_thinking": frozenset({"type", "data"}),
}
_USER_ONLY = frozenset({"tool_result", "image", "document"})
_ASSISTANT_ONLY = frozenset({"tool_use", "thinking", "redacted_thinking"})


def signature_of(thinking: str) -> str:
    """The fake's thinking signature: blocks sent back must carry it unchanged."""
    return "sig-" + hashlib.sha256(thinking.encode()).hexdigest()[:32]


class Invalid(Exception):
    """A request the real API would refuse: (status, error type, message)."""

    def __init__(self, message: str, status: int = 400, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    json: Any
    error: str | None = None


@dataclass
class _Reply:
    content: list[dict[str, Any]]
    stop_reason: str
    usage: dict[str, Any]
    stop_sequence: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class FakeAnthropic:
    def __init__(self, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.url = ""
        self.requests: list[Recorded] = []
        self._runner: web.AppRunner | None = None
        self._ids = 0

    def provider_config(self) -> dict[str, Any]:
        return {"kind": "anthropic", "base_url": self.url, "api_key": self.api_key}

    def reset(self) -> None:
        self.requests.clear()

    @property
    def last(self) -> Recorded:
        return self.requests[-1]

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._count_tokens)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # --- HTTP -----------------------------------------------------------------------------

    async def _unknown(self, request: web.Request) -> web.Response:
        return _error(404, "not_found_error", f"Not found: {request.method} {request.path}")

    async def _read(self, request: web.Request, fields: frozenset[str]) -> Any:
        headers = {k.lower(): v for k, v in request.headers.items()}
        raw = await request.read()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        rec = Recorded(request.path, headers, dict(request.query), body)
        self.requests.append(rec)
        if headers.get("x-api-key") != self.api_key:
            raise Invalid("invalid x-api-key", 401, "authentication_error")
        version = headers.get("anthropic-version")
        if not version:
            raise Invalid("anthropic-version: header is required")
        if version not in VERSIONS:
            raise Invalid(f"anthropic-version: invalid version '{version}'")
        if not headers.get("content-type", "").startswith("application/json"):
            raise Invalid("content-type: must be application/json")
        if not isinstance(body, dict):
            raise Invalid("The request body is not valid JSON.")
        for key in body:
            if key not in fields:
                raise Invalid(f"{key}: Extra inputs are not permitted")
        if "mcp_servers" in body and MCP_BETA not in headers.get("anthropic-beta", ""):
            raise Invalid("mcp_servers: Extra inputs are not permitted")
        return body

    async def _count_tokens(self, request: web.Request) -> web.Response:
        try:
            body = await self._read(request, _COUNT_FIELDS)
            _validate(body, count_only=True)
        except Invalid as exc:
            return self._refuse(exc)
        return web.json_response({"input_tokens": _words(body) + 3})

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await self._read(request, _FIELDS)
            _validate(body)
            model: str = body["model"]
            if model.startswith("slow-"):
                await asyncio.sleep(float(model[5:]))
            reply = self._answer(model, body)
        except Invalid as exc:
            return self._refuse(exc)
        self._ids += 1
        msg_id = f"msg_fake{self._ids:06d}"
        if body.get("stream") is True:
            return await self._stream(request, msg_id, model, reply)
        return web.json_response(
            {
                "id": msg_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": reply.content,
                "stop_reason": reply.stop_reason,
                "stop_sequence": reply.stop_sequence,
                "usage": reply.usage,
            }
        )

    def _refuse(self, exc: Invalid) -> web.Response:
        if self.requests:
            self.requests[-1].error = exc.message
        headers = {"retry-after": RETRY_AFTER} if exc.status == 429 else None
        return _error(exc.status, exc.kind, exc.message, headers)

    # --- behaviour --------------------------------------------------------------------------

    def _answer(self, model: str, body: dict[str, Any]) -> _Reply:
        errors = {
            "error-400": Invalid("messages.0.content: this request is invalid (fake)"),
            "error-429": Invalid("Number of request tokens has exceeded your rate limit.", 429, "rate_limit_error"),
            "error-500": Invalid("Internal server error", 500, "api_error"),
            "error-503": Invalid("Overloaded", 529, "overloaded_error"),
            "overloaded": Invalid("Overloaded", 529, "overloaded_error"),
            "context-too-long": Invalid("prompt is too long: 210000 tokens > 200000 maximum"),
        }  # fmt: skip
        if model in errors:
            raise errors[model]
        messages = body["messages"]
        last = messages[-1]
        user_text = _text(last["content"]) if last["role"] == "user" else ""
        result = _tool_result_text(last)
        tools = body.get("tools") or []
        usage = {**USAGE, "output_tokens": 9}
        content: list[dict[str, Any]] = []
        thinking = body.get("thinking")
        if isinstance(thinking, dict) and thinking.get("type") == "enabled":
            thought = "Thinking about: " + (user_text or result or "the request")
            content.append(
                {"type": "thinking", "thinking": thought, "signature": signature_of(thought)}
            )
        stop, stop_seq = "end_turn", None
        if model in ("tool-call", "parallel-tools") and tools and result is None:
            content.append(_tool_use("toolu_fake01", tools[0]["name"], TOOL_ARGS))
            choice = body.get("tool_choice") or {}
            if model == "parallel-tools" and not choice.get("disable_parallel_tool_use"):
                second = tools[1]["name"] if len(tools) > 1 else tools[0]["name"]
                content.append(_tool_use("toolu_fake02", second, SECOND_TOOL_ARGS))
            stop = "tool_use"
        elif result is not None:
            content.append({"type": "text", "text": "The tool said: " + result})
        elif model == "cached":
            content.append({"type": "text", "text": "Hello! You said: " + user_text})
            usage = dict(CACHED_USAGE)
        elif model == "json":
            content.append({"type": "text", "text": '{"answer": 42}'})
        elif model == "stop-seq":
            text = STOP_SEQ_TEXT
            hits = [(text.find(s), s) for s in body.get("stop_sequences") or () if s in text]
            if hits:
                at, stop_seq = min(hits)
                text, stop = text[:at], "stop_sequence"
            content.append({"type": "text", "text": text})
        elif model == "length":
            content.append({"type": "text", "text": "This answer is cut"})
            stop, usage = "max_tokens", {**USAGE, "output_tokens": body["max_tokens"]}
        elif model == "content-filter":
            content.append({"type": "text", "text": "I can't"})
            stop = "refusal"
        elif model == "pause":
            content.append({"type": "text", "text": "Searching"})
            stop = "pause_turn"
        else:
            content.append({"type": "text", "text": "Hello! You said: " + user_text})
        return _Reply(content, stop, usage, stop_seq, {"stream_error": model == "stream-error"})

    async def _stream(
        self, request: web.Request, msg_id: str, model: str, reply: _Reply
    ) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={
                "content-type": "text/event-stream; charset=utf-8",
                "cache-control": "no-cache",
            }
        )
        await resp.prepare(request)

        async def send(name: str, data: dict[str, Any]) -> None:
            await resp.write(f"event: {name}\ndata: ".encode() + orjson.dumps(data) + b"\n\n")

        start_usage = {k: v for k, v in reply.usage.items() if k != "output_tokens_details"}
        start_usage["output_tokens"] = 1
        message = {
            "id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": start_usage,
        }  # fmt: skip
        await send("message_start", {"type": "message_start", "message": message})
        for index, block in enumerate(reply.content):
            start, deltas = _block_events(block)
            await send(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": start},
            )
            if index == 0:
                await send("ping", {"type": "ping"})
            if reply.extra.get("stream_error"):
                await send(
                    "error",
                    {
                        "type": "error",
                        "error": {"type": "overloaded_error", "message": "Overloaded"},
                    },
                )
                await resp.write_eof()
                return resp
            for delta in deltas:
                await send(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
            await send("content_block_stop", {"type": "content_block_stop", "index": index})
        end_usage: dict[str, Any] = {"output_tokens": reply.usage["output_tokens"]}
        if "output_tokens_details" in reply.usage:
            end_usage["output_tokens_details"] = reply.usage["output_tokens_details"]
        await send(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": reply.stop_reason, "stop_sequence": reply.stop_sequence},
                "usage": end_usage,
            },
        )
        await send("message_stop", {"type": "message_stop"})
        await resp.write_eof()
        return resp


# --- helpers --------------------------------------------------------------------------------


def _error(
    status: int, kind: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake"}
    return web.json_response(body, status=status, headers=headers)


def _tool_use(tool_id: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": tool_id, "name": name, "input": args}


def _split(text: str, parts: int = 3) -> list[str]:
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _block_events(block: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    kind = block["type"]
    if kind == "text":
        return {"type": "text", "text": ""}, [
            {"type": "text_delta", "text": t} for t in _split(block["text"])
        ]
    if kind == "tool_use":
        raw = orjson.dumps(block["input"]).decode()
        start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        pieces = ["", *_split(raw, 4)]  # the API opens with an empty partial_json
        return start, [{"type": "input_json_delta", "partial_json": p} for p in pieces]
    thinking = [{"type": "thinking_delta", "thinking": t} for t in _split(block["thinking"], 2)]
    return {"type": "thinking", "thinking": "", "signature": ""}, [
        *thinking,
        {"type": "signature_delta", "signature": block["signature"]},
    ]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return " ".join(b["text"] for b in content if b.get("type") == "text")


def _tool_result_text(message: dict[str, Any]) -> str | None:
    if message["role"] != "user" or isinstance(message["content"], str):
        return None
    for block in message["content"]:
        if block["type"] == "tool_result":
            content = block.get("content", "")
            return content if isinstance(content, str) else _text(content)
    return None


def _words(body: dict[str, Any]) -> int:
    return len(re.findall(r"\w+", orjson.dumps(body.get("messages")).decode()))


def _validate(body: dict[str, Any], *, count_only: bool = False) -> None:
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise Invalid("model: Field required")
    max_tokens = body.get("max_tokens")
    if not count_only and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise Invalid("max_tokens: Field required")
    system = body.get("system")
    if system is not None and not isinstance(system, str):
        if not isinstance(system, list):
            raise Invalid("system: Input should be a valid string or list")
        for i, block in enumerate(system):
            _check_block(block, f"system.{i}", "system")
            if block["type"] != "text":
                raise Invalid(f"system.{i}: only text blocks are allowed")
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is not None and not (isinstance(value, int | float) and 0 <= value <= 1):
            raise Invalid(f"{name}: Input should be less than or equal to 1")
    stops = body.get("stop_sequences")
    if stops is not None and not (
        isinstance(stops, list) and all(isinstance(s, str) for s in stops)
    ):
        raise Invalid("stop_sequences: Input should be a valid list of strings")
    metadata = body.get("metadata")
    if metadata is not None and (not isinstance(metadata, dict) or set(metadata) - {"user_id"}):
        raise Invalid("metadata: only user_id is permitted")
    _validate_tools(body)
    _validate_thinking(body, max_tokens)
    config = body.get("output_config")
    if config is not None:
        fmt = config.get("format") if isinstance(config, dict) else None
        if fmt is not None and not (
            isinstance(fmt, dict)
            and fmt.get("type") == "json_schema"
            and isinstance(fmt.get("schema"), dict)
        ):
            raise Invalid("output_config.format: expected {type: json_schema, schema}")
    _validate_messages(body)


def _validate_tools(body: dict[str, Any]) -> None:
    tools = body.get("tools")
    names: set[str] = set()
    if tools is not None:
        if not isinstance(tools, list):
            raise Invalid("tools: Input should be a valid list")
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict) or not re.fullmatch(
                r"[a-zA-Z0-9_-]{1,128}", str(tool.get("name"))
            ):
                raise Invalid(f"tools.{i}.name: String should match pattern")
            if tool.get("type") in (None, "custom"):
                schema = tool.get("input_schema")
                if not isinstance(schema, dict) or schema.get("type") != "object":
                    raise Invalid(f"tools.{i}.input_schema: Field required (type 'object')")
                extra = set(tool) - {
                    "type",
                    "name",
                    "description",
                    "input_schema",
                    "cache_control",
                    "strict",
                }
                if extra:
                    raise Invalid(f"tools.{i}.{sorted(extra)[0]}: Extra inputs are not permitted")
            names.add(tool["name"])
    choice = body.get("tool_choice")
    if choice is not None:
        if not isinstance(choice, dict) or choice.get("type") not in (
            "auto",
            "any",
            "tool",
            "none",
        ):
            raise Invalid("tool_choice: Input tag does not match any of the expected tags")
        if not tools and choice["type"] != "none":
            raise Invalid("tool_choice: may only be specified while providing tools")
        if choice["type"] == "tool" and choice.get("name") not in names:
            raise Invalid("tool_choice.name: no tool with this name")
        allowed = {"type", "name"} if choice["type"] == "tool" else {"type"}
        if choice["type"] != "none":
            allowed.add("disable_parallel_tool_use")
        if set(choice) - allowed:
            raise Invalid(
                f"tool_choice.{sorted(set(choice) - allowed)[0]}: Extra inputs are not permitted"
            )


def _validate_thinking(body: dict[str, Any], max_tokens: Any) -> None:
    thinking = body.get("thinking")
    if thinking is None:
        return
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024:
            raise Invalid(
                "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
            )
        if isinstance(max_tokens, int) and budget >= max_tokens:
            raise Invalid("`max_tokens` must be greater than `thinking.budget_tokens`")
    elif kind not in ("disabled", "adaptive"):
        raise Invalid("thinking: Input tag does not match any of the expected tags")


def _validate_messages(body: dict[str, Any]) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise Invalid("messages: Field required (at least one message)")
    if messages[0].get("role") != "user":
        raise Invalid('messages: first message must use the "user" role')
    thinking = body.get("thinking")
    thinking_on = isinstance(thinking, dict) and thinking.get("type") == "enabled"
    pending: set[str] = set()  # tool_use ids the next user turn must answer
    last_assistant: list[dict[str, Any]] | None = None
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or set(message) - {"role", "content"}:
            raise Invalid(f"messages.{i}: only role and content are permitted")
        role = message.get("role")
        if role not in ("user", "assistant"):
            raise Invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if i and messages[i - 1]["role"] == role:
            raise Invalid(
                f'messages: roles must alternate between "user" and "assistant", but found multiple "{role}" roles in a row'
            )
        content = message.get("content")
        if isinstance(content, str):
            if not content and not (role == "assistant" and i == len(messages) - 1):
                raise Invalid(f"messages.{i}: text content blocks must be non-empty")
            blocks: list[dict[str, Any]] = []
        elif isinstance(content, list) and content:
            blocks = content
        else:
            raise Invalid(f"messages.{i}.content: must be a non-empty string or list")
        for j, block in enumerate(blocks):
            _check_block(block, f"messages.{i}.content.{j}", role)
        if role == "user":
            results = [b["tool_use_id"] for b in blocks if b["type"] == "tool_result"]
            if blocks and results and blocks[0]["type"] != "tool_result":
                raise Invalid(f"messages.{i}: tool_result blocks must come first in the user turn")
            if set(results) - pending:
                raise Invalid(
                    f"messages.{i}: unexpected `tool_use_id` found in `tool_result` blocks"
                )
            if pending - set(results):
                raise Invalid(
                    f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after"
                )
            pending = set()
        else:
            pending = {b["id"] for b in blocks if b["type"] == "tool_use"}
            last_assistant = blocks
    if pending:
        raise Invalid("messages: the final assistant turn has tool_use blocks without results")
    if (
        thinking_on
        and last_assistant
        and any(b["type"] == "tool_use" for b in last_assistant)
        and last_assistant[0]["type"] not in ("thinking", "redacted_thinking")
    ):
        raise Invalid(
            "messages: Expected `thinking` or `redacted_thinking`, but found `"
            + last_assistant[0]["type"]
            + "`. When `thinking` is enabled, a final `assistant` message must start with a thinking block."
        )


def _check_block(block: Any, where: str, role: str) -> None:
    kind = block.get("type") if isinstance(block, dict) else None
    if kind not in _BLOCK_KEYS:
        raise Invalid(
            f"{where}: Input tag '{kind}' found using 'type' does not match any of the expected tags"
        )
    extra = set(block) - _BLOCK_KEYS[kind]
    if extra:
        raise Invalid(f"{where}.{sorted(extra)[0]}: Extra inputs are not permitted")
    if (kind in _USER_ONLY and role != "user") or (kind in _ASSISTANT_ONLY and role != "assistant"):
        raise Invalid(f"{where}: '{kind}' blocks are not permitted in {role} turns")
    if kind == "text" and (not isinstance(block.get("text"), str) or not block["text"]):
        raise Invalid(f"{where}: text content blocks must be non-empty")
    if kind == "image":
        source = block.get("source") or {}
        if source.get("type") == "base64":
            if source.get("media_type") not in _IMAGE_TYPES or not isinstance(
                source.get("data"), str
            ):
                raise Invalid(f"{where}.source: invalid base64 image source")
            if set(source) != {"type", "media_type", "data"}:
                raise Invalid(f"{where}.source: Extra inputs are not permitted")
        elif source.get("type") == "url":
            if set(source) != {"type", "url"} or not str(source.get("url")).startswith("http"):
                raise Invalid(f"{where}.source: invalid url image source")
        else:
            raise Invalid(f"{where}.source: Input tag does not match any of the expected tags")
    if kind == "tool_use":
        if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
            raise Invalid(f"{where}: tool_use blocks need id and name")
        if not isinstance(block.get("input"), dict):
            raise Invalid(f"{where}.input: Input should be a valid dictionary")
    if kind == "tool_result":
        if not isinstance(block.get("tool_use_id"), str):
            raise Invalid(f"{where}.tool_use_id: Field required")
        content = block.get("content")
        if isinstance(content, list):
            for k, inner in enumerate(content):
                _check_block(inner, f"{where}.content.{k}", "user")
        elif content is not None and not isinstance(content, str):
            raise Invalid(f"{where}.content: Input should be a valid string or list")
    if kind == "thinking":
        text, sig = block.get("thinking"), block.get("signature")
        if not isinstance(text, str) or sig != signature_of(text):
            raise Invalid(f"{where}: Invalid `signature` in `thinking` block")
