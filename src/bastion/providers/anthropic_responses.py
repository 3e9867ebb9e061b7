"""Anthropic Messages responses, streams and errors <-> canonical (OpenAI) form, both ways.

Provider direction (Claude answering an OpenAI-format caller):
:func:`from_anthropic_response`, :class:`AnthropicStreamDecoder`, :func:`error_from_anthropic`.
Ingress direction (any model answering an Anthropic-format caller):
:func:`to_anthropic_response`, :class:`AnthropicStreamEncoder`, :func:`anthropic_error_body`.

Usage: Anthropic's ``input_tokens`` excludes cached tokens, OpenAI's
``prompt_tokens`` includes them, so ``prompt_tokens = input_tokens +
cache_read_input_tokens + cache_creation_input_tokens``; cache reads are
``prompt_tokens_details.cached_tokens`` and cache writes
``prompt_tokens_details.cache_write_tokens``. The inverse holds on the way back.

Thinking blocks keep their signatures: they are exposed as
``message.thinking_blocks`` (and their text as ``reasoning_content``) so that a
caller can send them back on the next turn; in a stream, each finished block
arrives as one ``delta.thinking_blocks`` entry after its ``reasoning_content``
deltas.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Final

import orjson

from bastion.errors import GatewayError, scrub_secrets
from bastion.providers.base import JSON, SSEParser
from bastion.providers.canonical import (
    ChunkMaker,
    assistant_message,
    bad_upstream,
    completion,
    usage,
)

FINISH_REASONS: Final[dict[str, str]] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
STOP_REASONS: Final[dict[str, str]] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


# --- usage ------------------------------------------------------------------------------


def canonical_usage(u: Mapping[str, Any]) -> JSON:
    """Anthropic usage -> OpenAI usage (prompt tokens include cache reads and writes)."""
    read = int(u.get("cache_read_input_tokens") or 0)
    write = int(u.get("cache_creation_input_tokens") or 0)
    details = u.get("output_tokens_details")
    thinking = details.get("thinking_tokens") if isinstance(details, dict) else None
    return usage(
        int(u.get("input_tokens") or 0) + read + write,
        int(u.get("output_tokens") or 0),
        cached=read,
        cache_write=write,
        reasoning=int(thinking) if isinstance(thinking, int) else None,
    )


def anthropic_usage(u: Mapping[str, Any] | None) -> JSON:
    """OpenAI usage -> Anthropic usage (``input_tokens`` excludes cache reads and writes)."""
    u = u or {}
    details = u.get("prompt_tokens_details")
    details = details if isinstance(details, dict) else {}
    read = int(details.get("cached_tokens") or 0)
    write = int(details.get("cache_write_tokens") or 0)
    return {
        "input_tokens": max(int(u.get("prompt_tokens") or 0) - read - write, 0),
        "output_tokens": int(u.get("completion_tokens") or 0),
        "cache_creation_input_tokens": write,
        "cache_read_input_tokens": read,
    }


# --- Anthropic -> canonical -------------------------------------------------------------


def from_anthropic_response(data: Any, model: str) -> JSON:
    if not isinstance(data, dict) or not isinstance(data.get("content"), list):
        raise bad_upstream("anthropic", "expected a message object with a content array.")
    texts: list[str] = []
    calls: list[JSON] = []
    thinking: list[JSON] = []
    for block in data["content"]:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "tool_use":
            calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {
                        "name": block.get("name"),
                        "arguments": orjson.dumps(block.get("input") or {}).decode(),
                    },
                }
            )
        elif kind in ("thinking", "redacted_thinking"):
            thinking.append(block)
        # Server-tool blocks (web search results, ...) have no OpenAI counterpart.
    reasoning = "".join(str(b.get("thinking", "")) for b in thinking if b["type"] == "thinking")
    message = assistant_message("".join(texts) if texts or not calls else None, calls, reasoning)
    if thinking:
        message["thinking_blocks"] = thinking
    stop = data.get("stop_reason")
    finish = FINISH_REASONS.get(stop, "stop") if isinstance(stop, str) else None
    raw_usage = data.get("usage")
    return completion(
        str(data.get("id") or ""),
        str(data.get("model") or model),
        message,
        finish,
        canonical_usage(raw_usage) if isinstance(raw_usage, dict) else None,
    )


class AnthropicStreamDecoder:
    """Anthropic SSE events -> canonical chunks (see the module docstring)."""

    __slots__ = ("_blocks", "_chunks", "_done", "_model", "_sse", "_tools", "_usage")

    def __init__(self, model: str) -> None:
        self._sse = SSEParser()
        self._model = model
        self._chunks: ChunkMaker | None = None
        self._usage: dict[str, Any] = {}
        self._tools: dict[int, int] = {}  # content block index -> OpenAI tool call index
        self._blocks: dict[int, JSON] = {}  # open thinking blocks, by index
        self._done = False

    def feed(self, data: bytes) -> list[JSON]:
        out: list[JSON] = []
        for _event, raw in self._sse.feed(data):
            self._event(orjson.loads(raw), out)
        return out

    def close(self) -> list[JSON]:
        out: list[JSON] = []
        for _event, raw in self._sse.close():
            self._event(orjson.loads(raw), out)
        if self._chunks is not None and not self._done:
            raise GatewayError(
                502,
                "The anthropic stream ended before message_stop.",
                code="upstream_stream_truncated",
            )
        return out

    def _maker(self) -> ChunkMaker:
        if self._chunks is None:
            self._chunks = ChunkMaker(self._model)
        return self._chunks

    def _event(self, event: Any, out: list[JSON]) -> None:
        kind = event.get("type") if isinstance(event, dict) else None
        if kind == "content_block_delta":
            self._delta(event, out)
        elif kind == "message_start":
            message = event.get("message") or {}
            self._chunks = ChunkMaker(str(message.get("model") or self._model), message.get("id"))
            self._usage.update(message.get("usage") or {})
            out.append(self._chunks.delta({"role": "assistant", "content": ""}))
        elif kind == "content_block_start":
            self._start(int(event.get("index", 0)), event.get("content_block") or {}, out)
        elif kind == "content_block_stop":
            block = self._blocks.pop(int(event.get("index", 0)), None)
            if block is not None:
                out.append(self._maker().delta({"thinking_blocks": [block]}))
        elif kind == "message_delta":
            for key, value in (event.get("usage") or {}).items():
                if value is not None:  # totals so far; absent ones keep message_start's
                    self._usage[key] = value
            stop = (event.get("delta") or {}).get("stop_reason")
            if stop:
                out.append(self._maker().delta({}, FINISH_REASONS.get(stop, "stop")))
        elif kind == "message_stop":
            self._done = True
            out.append(self._maker().usage(canonical_usage(self._usage)))
        elif kind == "error":
            err = event.get("error") or {}
            raise error_from_anthropic(None, err.get("type"), err.get("message"), {})
        # ping, and event types added later: nothing to say

    def _start(self, index: int, block: JSON, out: list[JSON]) -> None:
        kind = block.get("type")
        maker = self._maker()
        if kind == "text":
            if block.get("text"):
                out.append(maker.delta({"content": block["text"]}))
        elif kind == "tool_use":
            n = self._tools[index] = len(self._tools)
            call: JSON = {
                "index": n,
                "id": block.get("id"),
                "type": "function",
                "function": {"name": block.get("name"), "arguments": ""},
            }
            out.append(maker.delta({"tool_calls": [call]}))
            if block.get("input"):  # complete input given up front (no deltas follow)
                arguments = orjson.dumps(block["input"]).decode()
                out.append(
                    maker.delta(
                        {"tool_calls": [{"index": n, "function": {"arguments": arguments}}]}
                    )
                )
        elif kind == "thinking":
            self._blocks[index] = {
                "type": "thinking",
                "thinking": block.get("thinking", ""),
                "signature": block.get("signature", ""),
            }
            if block.get("thinking"):
                out.append(maker.delta({"reasoning_content": block["thinking"]}))
        elif kind == "redacted_thinking":
            self._blocks[index] = {"type": "redacted_thinking", "data": block.get("data", "")}

    def _delta(self, event: JSON, out: list[JSON]) -> None:
        index = int(event.get("index", 0))
        delta = event.get("delta") or {}
        kind = delta.get("type")
        maker = self._maker()
        if kind == "text_delta":
            out.append(maker.delta({"content": delta.get("text", "")}))
        elif kind == "input_json_delta":
            partial = delta.get("partial_json", "")
            if partial and index in self._tools:
                call = {"index": self._tools[index], "function": {"arguments": partial}}
                out.append(maker.delta({"tool_calls": [call]}))
        elif kind == "thinking_delta":
            text = delta.get("thinking", "")
            block = self._blocks.get(index)
            if block is not None:
                block["thinking"] += text
            out.append(maker.delta({"reasoning_content": text}))
        elif kind == "signature_delta":
            block = self._blocks.get(index)
            if block is not None:
                block["signature"] = delta.get("signature", "")


# --- errors -----------------------------------------------------------------------------


_CONTEXT_MARKERS: Final = ("prompt is too long", "exceed context limit", "context window")


def error_from_anthropic(
    status: int | None, err_type: Any, message: Any, headers: Mapping[str, str]
) -> GatewayError:
    """An Anthropic error (HTTP status, or a stream ``error`` event: status None)."""
    text = scrub_secrets(str(message)) if message else f"Upstream returned HTTP {status}."
    retry = {"retry-after": v} if (v := headers.get("retry-after")) else {}
    if status in (401, 403) or err_type in ("authentication_error", "permission_error"):
        return GatewayError(
            502,
            "anthropic rejected the gateway's credentials; check the provider configuration.",
            code="upstream_auth_error",
        )
    if status == 429 or err_type == "rate_limit_error":
        return GatewayError(
            429,
            "anthropic error: " + text,
            code="rate_limit_exceeded",
            error_type="rate_limit_error",
            retryable=True,
            headers=retry,
        )
    if status in (503, 529) or err_type == "overloaded_error":
        return GatewayError(
            503,
            "anthropic error: " + text,
            code="upstream_unavailable",
            retryable=True,
            headers=retry,
        )
    if status == 402 or err_type == "billing_error":
        return GatewayError(
            502, "anthropic error: " + text, code="upstream_billing_error", retryable=True
        )
    if status in (408, 504) or err_type == "timeout_error":
        return GatewayError(
            504, "anthropic error: " + text, code="upstream_timeout", retryable=True
        )
    if status == 413 or err_type == "request_too_large":
        return GatewayError(413, text, code="request_too_large")
    if (status is not None and 400 <= status < 500) or err_type == "invalid_request_error":
        if any(marker in text.lower() for marker in _CONTEXT_MARKERS):
            return GatewayError(400, text, code="context_length_exceeded", param="messages")
        return GatewayError(status or 400, text, error_type=err_type or None)
    return GatewayError(502, "anthropic error: " + text, code="upstream_error", retryable=True)


def classify_anthropic_error(status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
    """Map an upstream error response (``{"type":"error","error":{"type","message"}}``)."""
    err_type: Any = None
    message: Any = None
    try:
        data = orjson.loads(body)
        err = data.get("error") if isinstance(data, dict) else None
        if isinstance(err, dict):
            err_type, message = err.get("type"), err.get("message")
    except orjson.JSONDecodeError:
        message = body[:500].decode("utf-8", "replace").strip()
    lowered = {k.lower(): v for k, v in headers.items()}
    return error_from_anthropic(status, err_type, message, lowered)


# --- canonical -> Anthropic (the Anthropic ingress) ---------------------------------------

_ERROR_TYPES: Final[dict[int, str]] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
}


def anthropic_error_body(error: GatewayError) -> bytes:
    """A gateway error in Anthropic's shape: ``{"type":"error","error":{"type","message"}}``."""
    default = "api_error" if error.status >= 500 else "invalid_request_error"
    err_type = _ERROR_TYPES.get(error.status, default)
    return orjson.dumps({"type": "error", "error": {"type": err_type, "message": error.message}})


def message_id(canonical_id: Any) -> str:
    text = str(canonical_id or "")
    if text.startswith("msg_"):
        return text
    return "msg_" + (text.removeprefix("chatcmpl-") or uuid.uuid4().hex[:24])


def _input_of(arguments: Any) -> Any:
    if isinstance(arguments, dict):
        return arguments
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def to_anthropic_response(data: JSON, model: str) -> JSON:
    """A canonical ``chat.completion`` as an Anthropic ``message``."""
    choices = data.get("choices") or [{}]
    choice = choices[0]
    message = choice.get("message") or {}
    content: list[JSON] = []
    blocks = message.get("thinking_blocks")
    if isinstance(blocks, list) and blocks:
        content.extend(b for b in blocks if isinstance(b, dict))
    elif message.get("reasoning_content"):
        content.append(
            {"type": "thinking", "thinking": message["reasoning_content"], "signature": ""}
        )
    text = message.get("content")
    if isinstance(text, list):
        text = "".join(str(p.get("text", "")) for p in text if isinstance(p, dict))
    if text or message.get("refusal"):
        content.append({"type": "text", "text": text or message.get("refusal")})
    for call in message.get("tool_calls") or []:
        fn = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id"),
                "name": fn.get("name"),
                "input": _input_of(fn.get("arguments")),
            }
        )
    finish = choice.get("finish_reason")
    return {
        "id": message_id(data.get("id")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": STOP_REASONS.get(finish, "end_turn") if finish else "end_turn",
        "stop_sequence": None,
        "usage": anthropic_usage(data.get("usage")),
    }


def sse_event(name: str, data: JSON) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class AnthropicStreamEncoder:
    """Canonical chunks -> Anthropic's SSE event sequence.

    message_start, then per content block content_block_start /
    content_block_delta* / content_block_stop (a ping after the first start), and at the end message_delta
    (stop_reason, usage) and message_stop. Usage comes from the canonical usage
    chunk, which arrives last, so message_start reports zero input tokens and
    message_delta the real totals (Anthropic clients take message_delta's).
    """

    __slots__ = (
        "_block",
        "_index",
        "_kind",
        "_model",
        "_pinged",
        "_started",
        "_stop",
        "_tools",
        "_usage",
    )

    def __init__(self, model: str) -> None:
        self._model = model
        self._started = False
        self._pinged = False  # a ping follows the first content_block_start, as Anthropic's does
        self._index = -1  # the open block's index, -1: none open
        self._block = -1  # the next block's index minus one
        self._kind = ""  # the open block's type
        self._tools: dict[int, int] = {}  # OpenAI tool call index -> block index
        self._stop: str | None = None
        self._usage: JSON | None = None

    def feed(self, chunk: JSON) -> bytes:
        out: list[bytes] = []
        if not self._started:
            self._started = True
            message: JSON = {
                "id": message_id(chunk.get("id")),
                "type": "message",
                "role": "assistant",
                "model": self._model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 0, "output_tokens": 0},
            }
            out.append(sse_event("message_start", {"type": "message_start", "message": message}))
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("reasoning_content"):
                self._open(out, "thinking", {"type": "thinking", "thinking": "", "signature": ""})
                out.append(self._delta("thinking_delta", thinking=delta["reasoning_content"]))
            for block in delta.get("thinking_blocks") or ():
                self._thinking_block(out, block)
            text = delta.get("content") or delta.get("refusal")
            if text:
                self._open(out, "text", {"type": "text", "text": ""})
                out.append(self._delta("text_delta", text=text))
            for call in delta.get("tool_calls") or ():
                self._tool_call(out, call)
            if choice.get("finish_reason"):
                self._stop = STOP_REASONS.get(choice["finish_reason"], "end_turn")
        return b"".join(out)

    def close(self) -> bytes:
        if not self._started:
            self.feed({})
        out: list[bytes] = []
        self._close_block(out)
        if not self._pinged:
            out.append(sse_event("ping", {"type": "ping"}))
        usage_ = anthropic_usage(self._usage)
        delta = {"stop_reason": self._stop or "end_turn", "stop_sequence": None}
        out.append(
            sse_event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage_})
        )
        out.append(sse_event("message_stop", {"type": "message_stop"}))
        return b"".join(out)

    def _delta(self, kind: str, **fields: Any) -> bytes:
        body = {
            "type": "content_block_delta",
            "index": self._index,
            "delta": {"type": kind, **fields},
        }
        return sse_event("content_block_delta", body)

    def _open(self, out: list[bytes], kind: str, block: JSON) -> None:
        if self._index >= 0 and self._kind == kind and kind != "tool_use":
            return
        self._close_block(out)
        self._block += 1
        self._index, self._kind = self._block, kind
        out.append(
            sse_event(
                "content_block_start",
                {"type": "content_block_start", "index": self._index, "content_block": block},
            )
        )
        if not self._pinged:
            self._pinged = True
            out.append(sse_event("ping", {"type": "ping"}))

    def _close_block(self, out: list[bytes]) -> None:
        if self._index >= 0:
            out.append(
                sse_event(
                    "content_block_stop", {"type": "content_block_stop", "index": self._index}
                )
            )
            self._index, self._kind = -1, ""

    def _thinking_block(self, out: list[bytes], block: Any) -> None:
        if not isinstance(block, dict):
            return
        if block.get("type") == "redacted_thinking":
            self._close_block(out)
            self._open(out, "redacted_thinking", block)
            self._close_block(out)
            return
        if self._kind != "thinking":  # the text did not stream as reasoning_content
            self._open(out, "thinking", {"type": "thinking", "thinking": "", "signature": ""})
            if block.get("thinking"):
                out.append(self._delta("thinking_delta", thinking=block["thinking"]))
        if block.get("signature"):
            out.append(self._delta("signature_delta", signature=block["signature"]))
        self._close_block(out)

    def _tool_call(self, out: list[bytes], call: JSON) -> None:
        n = int(call.get("index", 0))
        fn = call.get("function") or {}
        if n not in self._tools:
            block: JSON = {
                "type": "tool_use",
                "id": call.get("id"),
                "name": fn.get("name"),
                "input": {},
            }
            self._open(out, "tool_use", block)
            self._tools[n] = self._index
        arguments = fn.get("arguments")
        if arguments:
            index = self._index
            self._index = self._tools[n]
            out.append(self._delta("input_json_delta", partial_json=arguments))
            self._index = index
