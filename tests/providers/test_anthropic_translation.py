"""The Anthropic translation functions alone: requests, responses, streams and errors, both ways."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from anthropic.lib.streaming._messages import accumulate_event

from bastion.errors import GatewayError
from bastion.providers.anthropic_messages import from_anthropic, to_anthropic
from bastion.providers.anthropic_responses import (
    AnthropicStreamDecoder,
    AnthropicStreamEncoder,
    anthropic_error_body,
    classify_anthropic_error,
    to_anthropic_response,
)


def _body(*messages: Any, **extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": list(messages), **extra}


def test_tool_results_open_the_user_turn_they_share() -> None:
    out = to_anthropic(
        _body(
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "t1", "type": "function", "function": {"name": "f", "arguments": ""}}
                ],
            },
            {"role": "user", "content": "also this"},
            {"role": "tool", "tool_call_id": "t1", "content": "r1", "is_error": True},
        ),
        "claude-x",
    )
    assert out["messages"][1:] == [
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "r1", "is_error": True},
                {"type": "text", "text": "also this"},
            ],
        },
    ]


@pytest.mark.parametrize(
    ("extra", "thinking", "max_tokens"),
    [
        ({"reasoning_effort": "medium"}, {"type": "enabled", "budget_tokens": 8192}, 4096 + 8192),
        (
            {"reasoning_effort": "high", "max_tokens": 5000},
            {"type": "enabled", "budget_tokens": 4999},
            5000,
        ),
        ({"reasoning_effort": "low", "max_tokens": 1000}, None, 1000),  # too small to think
        ({"reasoning_effort": "none"}, None, 4096),
        ({"thinking": {"type": "adaptive"}}, {"type": "adaptive"}, 4096),
    ],
)
def test_reasoning_effort_becomes_a_thinking_budget(
    extra: Any, thinking: Any, max_tokens: int
) -> None:
    out = to_anthropic(_body({"role": "user", "content": "x"}, **extra), "c")
    assert (out.get("thinking"), out["max_tokens"]) == (thinking, max_tokens)


def test_tool_choice_table() -> None:
    tools = [{"type": "function", "function": {"name": "f"}}]
    cases = [
        ({}, None),
        ({"parallel_tool_calls": False}, {"type": "auto", "disable_parallel_tool_use": True}),
        ({"tool_choice": "none", "parallel_tool_calls": False}, {"type": "none"}),
        ({"tool_choice": "auto"}, None),
    ]
    for extra, expected in cases:
        out = to_anthropic(_body({"role": "user", "content": "x"}, tools=tools, **extra), "c")
        assert out.get("tool_choice") == expected, extra
        assert out["tools"] == [{"name": "f", "input_schema": {"type": "object", "properties": {}}}]


def test_pdf_file_part_becomes_a_document_and_back() -> None:
    part = {
        "type": "file",
        "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERg=="},
    }
    out = to_anthropic(_body({"role": "user", "content": [part]}), "c")
    block = out["messages"][0]["content"][0]
    assert block == {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERg=="},
        "title": "a.pdf",
    }
    back = from_anthropic(
        {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [block]}]}
    )
    assert back["messages"][0]["content"] == [part]


def test_from_anthropic_maps_every_field() -> None:
    body = {
        "model": "m",
        "max_tokens": 9000,
        "system": "S",
        "stream": True,
        "thinking": {"type": "enabled", "budget_tokens": 8192},
        "output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}},
        "tools": [{"name": "f", "input_schema": {"type": "object"}, "strict": True}],
        "tool_choice": {"type": "tool", "name": "f"},
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hm", "signature": "s"},
                {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "is_error": True, "content": [
                    {"type": "text", "text": "bad"},
                    {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]},
                {"type": "text", "text": "next"}]},
        ],
    }  # fmt: skip
    assert from_anthropic(body) == {
        "model": "m",
        "max_tokens": 9000,
        "messages": [
            {"role": "system", "content": "S"},
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}]},
            {"role": "tool", "tool_call_id": "t1", "content": "Error: bad"},
            {"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
                {"type": "text", "text": "next"}]},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "strict": True}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "reasoning_effort": "medium",
        "response_format": {"type": "json_schema", "json_schema": {"name": "output", "schema": {"type": "object"}, "strict": True}},
        "stream": True,
        "stream_options": {"include_usage": True},
    }  # fmt: skip


def _sse(*events: dict[str, Any]) -> bytes:
    return b"".join(
        b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in events
    )


UPSTREAM = _sse(
    {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "c",
     "content": [], "stop_reason": None, "stop_sequence": None,
     "usage": {"input_tokens": 5, "cache_read_input_tokens": 10, "cache_creation_input_tokens": 2, "output_tokens": 1}}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
    {"type": "ping"},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me "}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "see."}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "SIG"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": {"type": "redacted_thinking", "data": "ENC"}},
    {"type": "content_block_stop", "index": 1},
    {"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 2, "delta": {"type": "text_delta", "text": "Calling."}},
    {"type": "content_block_stop", "index": 2},
    {"type": "content_block_start", "index": 3, "content_block": {"type": "tool_use", "id": "t1", "name": "f", "input": {}}},
    {"type": "content_block_delta", "index": 3, "delta": {"type": "input_json_delta", "partial_json": ""}},
    {"type": "content_block_delta", "index": 3, "delta": {"type": "input_json_delta", "partial_json": '{"a": '}},
    {"type": "content_block_delta", "index": 3, "delta": {"type": "input_json_delta", "partial_json": "1}"}},
    {"type": "content_block_stop", "index": 3},
    {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None}, "usage": {"output_tokens": 30}},
    {"type": "message_stop"},
)  # fmt: skip


def _decode(data: bytes, size: int) -> list[dict[str, Any]]:
    decoder = AnthropicStreamDecoder("c")
    chunks: list[dict[str, Any]] = []
    for i in range(0, len(data), size):
        chunks.extend(decoder.feed(data[i : i + size]))
    return chunks + decoder.close()


@pytest.mark.parametrize("size", [1, 13, len(UPSTREAM)])
def test_stream_decoder_whatever_the_pieces(size: int) -> None:
    chunks = _decode(UPSTREAM, size)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"reasoning_content": "Let me "},
        {"reasoning_content": "see."},
        {"thinking_blocks": [{"type": "thinking", "thinking": "Let me see.", "signature": "SIG"}]},
        {"thinking_blocks": [{"type": "redacted_thinking", "data": "ENC"}]},
        {"content": "Calling."},
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "t1",
                    "type": "function",
                    "function": {"name": "f", "arguments": ""},
                }
            ]
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"a": '}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]},
        {},
    ]
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "tool_calls"
    assert {c["id"] for c in chunks} == {"msg_1"}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == {
        "prompt_tokens": 17,
        "completion_tokens": 30,
        "total_tokens": 47,
        "prompt_tokens_details": {"cached_tokens": 10, "cache_write_tokens": 2},
    }


def test_truncated_stream_and_error_event_raise() -> None:
    cut = UPSTREAM[: UPSTREAM.index(b"event: message_delta")]
    with pytest.raises(GatewayError) as err:
        _decode(cut, len(cut))
    assert err.value.status == 502
    overloaded = _sse(
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    )
    with pytest.raises(GatewayError) as err:
        _decode(overloaded, 7)
    assert (err.value.status, err.value.retryable) == (503, True)


def test_encoder_output_is_what_the_sdk_accumulates() -> None:
    """Anthropic stream -> canonical chunks -> Anthropic stream, read back by the SDK."""
    encoder = AnthropicStreamEncoder("public-name")
    raw = b"".join(encoder.feed(c) for c in _decode(UPSTREAM, 64)) + encoder.close()
    snapshot: Any = None
    json_bufs: dict[int, bytes] = {}
    names = []
    for block in raw.decode().strip().split("\n\n"):
        name_line, data_line = block.split("\n")
        names.append(name_line.removeprefix("event: "))
        snapshot = accumulate_event(
            event=orjson.loads(data_line.removeprefix("data: ")),
            current_snapshot=snapshot,
            json_bufs=json_bufs,
        )
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert snapshot.to_dict() == {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "public-name",
        "content": [
            {"type": "thinking", "thinking": "Let me see.", "signature": "SIG"},
            {"type": "redacted_thinking", "data": "ENC"},
            {"type": "text", "text": "Calling."},
            {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "stop_details": None,
        "usage": {"input_tokens": 5, "output_tokens": 30, "cache_creation_input_tokens": 2, "cache_read_input_tokens": 10},
    }  # fmt: skip


def test_canonical_response_as_anthropic_message() -> None:
    canonical = {
        "id": "chatcmpl-abc",
        "choices": [{"index": 0, "finish_reason": "length", "message": {
            "role": "assistant", "content": "partial", "reasoning_content": "thought"}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 4, "prompt_tokens_details": {"cached_tokens": 6}},
    }  # fmt: skip
    assert to_anthropic_response(canonical, "gpt") == {
        "id": "msg_abc",
        "type": "message",
        "role": "assistant",
        "model": "gpt",
        "content": [
            {"type": "thinking", "thinking": "thought", "signature": ""},
            {"type": "text", "text": "partial"},
        ],
        "stop_reason": "max_tokens",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 4,
            "output_tokens": 4,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 6,
        },
    }


@pytest.mark.parametrize(
    ("status", "kind", "message", "expected"),
    [
        (529, "overloaded_error", "Overloaded", (503, "upstream_unavailable", True)),
        (
            402,
            "billing_error",
            "Your credit balance is too low",
            (502, "upstream_billing_error", True),
        ),
        (403, "permission_error", "no", (502, "upstream_auth_error", False)),
        (413, "request_too_large", "too big", (413, "request_too_large", False)),
        (
            400,
            "invalid_request_error",
            "input length and `max_tokens` exceed context limit: 1 + 2 > 3",
            (400, "context_length_exceeded", False),
        ),
        (404, "not_found_error", "model: claude-x", (404, None, False)),
        (500, "api_error", "boom", (502, "upstream_error", True)),
    ],
)
def test_error_classification(
    status: int, kind: str, message: str, expected: tuple[int, str | None, bool]
) -> None:
    body = orjson.dumps({"type": "error", "error": {"type": kind, "message": message}})
    error = classify_anthropic_error(status, body, {"Retry-After": "3"})
    assert (error.status, error.code, error.retryable) == expected
    back = orjson.loads(anthropic_error_body(error))
    assert set(back) == {"type", "error"} and back["error"]["message"] == error.message
