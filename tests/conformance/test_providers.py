"""One conformance suite, run against every provider: the official `openai` SDK, the gateway,
and each provider's fake upstream (tests/fakes/), which checks what the gateway sends as the
real API would.

Every test runs once per :data:`~tests.conformance.cases.CASES` entry (the ``t`` fixture) and
asserts both what the client gets and what the vendor received, read through the case's
:class:`~tests.conformance.wires.Wire`. A scenario a provider genuinely cannot serve is a
``Refused`` difference in its case, asserted as such (``Harness.unless_refused``).
"""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

import openai
import pytest

from tests.conformance.cases import CASES, STOP_SEQUENCES
from tests.conformance.harness import Harness

pytestmark = pytest.mark.asyncio(loop_scope="session")

# The scenarios (the columns of the provider x scenario matrix); difference keys must be one.
SCENARIOS = frozenset(
    {
        "text",
        "system",
        "multi_turn",
        "image",
        "image_url",
        "tool_call",
        "tool_result",
        "tool_choice",
        "parallel_tools",
        "parallel_tool_results",
        "json_schema",
        "json_object",
        "stop_sequence",
        "max_tokens",
        "content_filter",
        "stream_text",
        "stream_without_usage",
        "stream_tools",
        "stream_tool_result",
        "stream_max_tokens",
        "stream_content_filter",
        "usage",
        "usage_cached",
        "stream_usage_cached",
        "error_400",
        "error_429",
        "error_5xx",
        "error_503",
        "overloaded",
        "context_too_long",
    }
)

HI: list[Any] = [{"role": "user", "content": "hi there"}]
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
ANSWER_SCHEMA: Any = {
    "type": "json_schema",
    "json_schema": {
        "name": "answer",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"answer": {"type": "integer"}},
            "required": ["answer"],
            "additionalProperties": False,
        },
    },
}


def _png() -> str:
    """A real 1x1 PNG, base64."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = (1).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    raw = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )
    return base64.b64encode(raw).decode()


PNG = _png()


def _upstream_id(t: Harness, behaviour: str) -> str:
    return t.case.model(behaviour).split("/", 1)[1]


async def test_every_difference_names_a_scenario() -> None:
    for case in CASES:
        assert set(case.differences) <= SCENARIOS, case.name
        assert all(d.reason for d in case.differences.values())
    assert len({case.name for case in CASES}) == len(CASES)


# --- text, system, turns, images ------------------------------------------------------------


async def test_text(t: Harness) -> None:
    reply = await t.unless_refused("text", t.chat("text", HI))
    if reply is None:
        return
    assert reply.object == "chat.completion" and reply.id
    assert reply.model.startswith(_upstream_id(t, "text"))
    assert len(reply.choices) == 1
    choice = reply.choices[0]
    assert choice.index == 0
    assert choice.finish_reason == "stop"
    message = choice.message
    assert (message.role, message.content, message.tool_calls) == (
        "assistant",
        "Hello! You said: hi there",
        None,
    )
    assert t.case.wire.turns(t.sent()) == [("user", "hi there")]
    assert t.case.wire.system(t.sent()) is None


@pytest.mark.parametrize(
    ("role", "content"),
    [
        ("system", "You are terse."),
        ("developer", "You are terse."),
        ("system", [{"type": "text", "text": "You are terse."}]),
    ],
    ids=["system", "developer", "parts"],
)
async def test_system(t: Harness, role: str, content: Any) -> None:
    messages: list[Any] = [{"role": role, "content": content}, *HI]
    reply = await t.unless_refused("system", t.chat("text", messages))
    if reply is None:
        return
    assert reply.choices[0].message.content == "Hello! You said: hi there"
    sent = t.sent()
    assert t.case.wire.system(sent) == "You are terse."  # in the vendor's system slot
    assert t.case.wire.turns(sent) == [("user", "hi there")]  # and not a turn


async def test_multi_turn(t: Harness) -> None:
    messages: list[Any] = [
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Hello Ada!"},
        {"role": "user", "content": "What is my name?"},
    ]
    reply = await t.unless_refused("multi_turn", t.chat("text", messages))
    if reply is None:
        return
    assert reply.choices[0].message.content == "Hello! You said: What is my name?"
    assert t.case.wire.turns(t.sent()) == [
        ("user", "My name is Ada."),
        ("assistant", "Hello Ada!"),
        ("user", "What is my name?"),
    ]


def _image_message(url: str) -> list[Any]:
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this image?"},
                {"type": "image_url", "image_url": {"url": url}},
            ],
        }
    ]


async def test_image(t: Harness) -> None:
    reply = await t.unless_refused(
        "image", t.chat("text", _image_message(f"data:image/png;base64,{PNG}"))
    )
    if reply is None:
        return
    assert reply.choices[0].message.content == "Hello! You said: What is in this image?"
    sent = t.sent()
    assert t.case.wire.images(sent) == [("image/png", PNG)]
    assert t.case.wire.turns(sent) == [("user", "What is in this image?")]


async def test_image_url(t: Harness) -> None:
    url = "https://images.example.com/cat.png"
    reply = await t.unless_refused("image_url", t.chat("text", _image_message(url)))
    if reply is None:
        assert t.fake.requests == []  # refused by the gateway, never sent
        return
    assert reply.choices[0].message.content == "Hello! You said: What is in this image?"
    assert t.case.wire.images(t.sent()) == [("url", url)]


# --- tools ----------------------------------------------------------------------------------


async def test_tool_call(t: Harness) -> None:
    reply = await t.unless_refused(
        "tool_call",
        t.chat("tool-call", [{"role": "user", "content": "Weather in Paris?"}], tools=[WEATHER]),
    )
    if reply is None:
        return
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls or []
    assert len(calls) == 1
    call = calls[0]
    assert call.type == "function" and call.id
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert t.case.wire.tools(t.sent()) == ["get_weather"]


async def test_tool_result(t: Harness) -> None:
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    first = await t.unless_refused("tool_result", t.chat("tool-call", messages, tools=[WEATHER]))
    if first is None:
        return
    message = first.choices[0].message
    call = (message.tool_calls or [])[0]
    messages += [
        message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"},
    ]
    second = await t.chat("tool-call", messages, tools=[WEATHER])
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == "The tool said: 18C and sunny"
    assert second.choices[0].message.tool_calls is None


TIME: Any = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current time in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", "auto"),
        ("none", "none"),
        ("required", "required"),
        ({"type": "function", "function": {"name": "get_time"}}, "get_time"),
    ],
    ids=["auto", "none", "required", "named"],
)
async def test_tool_choice(t: Harness, choice: Any, expected: str) -> None:
    reply = await t.unless_refused(
        "tool_choice", t.chat("text", HI, tools=[WEATHER, TIME], tool_choice=choice)
    )
    if reply is None:
        return
    assert reply.choices[0].message.content == "Hello! You said: hi there"
    assert t.case.wire.tool_choice(t.sent()) == expected


async def test_parallel_tools(t: Harness) -> None:
    reply = await t.unless_refused(
        "parallel_tools",
        t.chat(
            "parallel-tools", [{"role": "user", "content": "Paris and London?"}], tools=[WEATHER]
        ),
    )
    if reply is None:
        return
    assert reply.choices[0].finish_reason == "tool_calls"
    calls = reply.choices[0].message.tool_calls or []
    assert len(calls) == 2
    assert [
        (c.type, c.function.name, json.loads(c.function.arguments))
        for c in calls
        if c.type == "function"
    ] == [
        ("function", "get_weather", {"city": "Paris"}),
        ("function", "get_weather", {"city": "London"}),
    ]
    assert len({c.id for c in calls}) == 2 and all(c.id for c in calls)


async def test_parallel_tool_results(t: Harness) -> None:
    messages: list[Any] = [{"role": "user", "content": "Paris and London?"}]
    first = await t.unless_refused(
        "parallel_tool_results", t.chat("parallel-tools", messages, tools=[WEATHER])
    )
    if first is None:
        return
    message = first.choices[0].message
    calls = message.tool_calls or []
    messages += [
        message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": calls[0].id, "content": "18C and sunny"},
        {"role": "tool", "tool_call_id": calls[1].id, "content": "12C and rainy"},
    ]
    # Both results answer their calls in one turn (the strict fakes refuse anything else);
    # which of them each fake quotes back differs.
    second = await t.chat("parallel-tools", messages, tools=[WEATHER])
    assert second.choices[0].finish_reason == "stop"
    content = second.choices[0].message.content or ""
    assert content.startswith("The tool said: ") and ("18C" in content or "12C" in content)


# --- structured output, stop sequences, limits, filters ------------------------------------


async def test_json_schema(t: Harness) -> None:
    reply = await t.unless_refused("json_schema", t.chat("json", HI, response_format=ANSWER_SCHEMA))
    if reply is None:
        return
    assert json.loads(reply.choices[0].message.content or "") == {"answer": 42}
    assert t.case.wire.schema_fields(t.sent()) == ["answer"]


async def test_json_object(t: Harness) -> None:
    reply = await t.unless_refused(
        "json_object", t.chat("json", HI, response_format={"type": "json_object"})
    )
    if reply is None:
        return
    assert json.loads(reply.choices[0].message.content or "") == {"answer": 42}


async def test_stop_sequence(t: Harness) -> None:
    messages: list[Any] = [{"role": "user", "content": "Count to five"}]
    reply = await t.unless_refused(
        "stop_sequence", t.chat("stop-seq", messages, stop=STOP_SEQUENCES)
    )
    if reply is None:
        return
    assert reply.choices[0].message.content == t.case.stop_answer
    assert reply.choices[0].finish_reason == "stop"
    assert t.case.wire.stop(t.sent()) == STOP_SEQUENCES


@pytest.mark.parametrize("limit", ["max_tokens", "max_completion_tokens"])
async def test_max_tokens(t: Harness, limit: str) -> None:
    reply = await t.unless_refused("max_tokens", t.chat("length", HI, **{limit: 3}))
    if reply is None:
        return
    assert reply.choices[0].message.content == t.case.length_answer
    assert reply.choices[0].finish_reason == "length"
    assert t.case.wire.max_tokens(t.sent()) == 3


async def test_content_filter(t: Harness) -> None:
    reply = await t.unless_refused("content_filter", t.chat("content-filter", HI))
    if reply is None:
        return
    assert reply.choices[0].finish_reason == "content_filter"
    assert reply.choices[0].message.content == t.case.filtered_answer


# --- streaming ------------------------------------------------------------------------------


async def test_stream_text(t: Harness) -> None:
    streamed = await t.unless_refused("stream_text", t.stream("text", HI))
    if streamed is None:
        return
    chunks = streamed.chunks
    assert streamed.annotations == t.case.stream_annotations  # see Streamed
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1  # one id for the whole stream
    assert chunks[0].choices and chunks[0].choices[0].delta.role == "assistant"
    assert streamed.roles == ["assistant"]
    assert streamed.content == "Hello! You said: hi there"
    assert streamed.finish_reasons == ["stop"]
    assert streamed.calls == {}
    # The usage comes last, in a chunk of its own, as OpenAI sends it.
    assert streamed.usage == t.case.text_usage
    assert streamed.usage_position == len(chunks) - 1 and chunks[-1].choices == []


async def test_stream_without_usage(t: Harness) -> None:
    streamed = await t.unless_refused("stream_without_usage", t.stream("text", HI, usage=False))
    if streamed is None:
        return
    assert streamed.content == "Hello! You said: hi there"
    assert streamed.finish_reasons == ["stop"]
    assert streamed.usage is None  # not asked for, not sent
    assert all(c.choices for c in streamed.chunks)


async def test_stream_tools(t: Harness) -> None:
    messages: list[Any] = [{"role": "user", "content": "Paris and London?"}]
    streamed = await t.unless_refused(
        "stream_tools", t.stream("parallel-tools", messages, tools=[WEATHER])
    )
    if streamed is None:
        return
    assert streamed.finish_reasons == ["tool_calls"]
    assert sorted(streamed.calls) == [0, 1]
    calls = [streamed.calls[0], streamed.calls[1]]
    # Arguments reassembled exactly, byte for byte, as the upstream produced them.
    assert [(c.type, c.name, c.arguments) for c in calls] == [
        ("function", "get_weather", t.case.tool_arguments[0]),
        ("function", "get_weather", t.case.tool_arguments[1]),
    ]
    assert [json.loads(c.arguments) for c in calls] == [{"city": "Paris"}, {"city": "London"}]
    assert calls[0].id and calls[1].id and calls[0].id != calls[1].id
    assert streamed.content == ""
    assert t.case.wire.tools(t.sent()) == ["get_weather"]


async def test_stream_tool_result(t: Harness) -> None:
    """A tool call reassembled from a stream, as clients build it, goes back with its result."""
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    streamed = await t.unless_refused(
        "stream_tool_result", t.stream("tool-call", messages, tools=[WEATHER])
    )
    if streamed is None:
        return
    assert streamed.finish_reasons == ["tool_calls"]
    call = streamed.calls[0]
    messages += [
        {
            "role": "assistant",
            "content": streamed.content or None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"},
    ]
    again = await t.stream("tool-call", messages, tools=[WEATHER])
    assert again.content == "The tool said: 18C and sunny"
    assert again.finish_reasons == ["stop"]


async def test_stream_max_tokens(t: Harness) -> None:
    streamed = await t.unless_refused("stream_max_tokens", t.stream("length", HI, max_tokens=3))
    if streamed is None:
        return
    assert streamed.content == t.case.length_answer
    assert streamed.finish_reasons == ["length"]


async def test_stream_content_filter(t: Harness) -> None:
    streamed = await t.unless_refused("stream_content_filter", t.stream("content-filter", HI))
    if streamed is None:
        return
    assert streamed.finish_reasons == ["content_filter"]
    assert streamed.content == (t.case.filtered_answer or "")


# --- usage ----------------------------------------------------------------------------------


async def test_usage(t: Harness) -> None:
    reply = await t.unless_refused("usage", t.chat("text", HI))
    if reply is None:
        return
    assert reply.usage is not None
    assert reply.usage.model_dump(exclude_none=True) == t.case.text_usage


async def test_usage_cached(t: Harness) -> None:
    reply = await t.unless_refused("usage_cached", t.chat("cached", HI))
    if reply is None:
        return
    assert reply.usage is not None
    assert reply.usage.model_dump(exclude_none=True) == t.case.cached_usage


async def test_stream_usage_cached(t: Harness) -> None:
    streamed = await t.unless_refused("stream_usage_cached", t.stream("cached", HI))
    if streamed is None:
        return
    assert streamed.usage == t.case.cached_usage


# --- errors ---------------------------------------------------------------------------------

ERRORS = [
    # scenario, behaviour, SDK error, status, code (None: the upstream's own)
    ("error_400", "error-400", openai.BadRequestError, 400, None),
    ("error_429", "error-429", openai.RateLimitError, 429, "rate_limit_exceeded"),
    ("error_5xx", "error-500", openai.InternalServerError, 502, "upstream_error"),
    ("error_503", "error-503", openai.InternalServerError, 503, "upstream_unavailable"),
    ("overloaded", "overloaded", openai.InternalServerError, 503, "upstream_unavailable"),
    (
        "context_too_long",
        "context-too-long",
        openai.BadRequestError,
        400,
        "context_length_exceeded",
    ),
]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize(
    ("scenario", "behaviour", "error", "status", "code"), ERRORS, ids=[e[0] for e in ERRORS]
)
async def test_errors(
    t: Harness,
    scenario: str,
    behaviour: str,
    error: type[openai.APIStatusError],
    status: int,
    code: str | None,
    stream: bool,
) -> None:
    if scenario in t.case.differences:
        await t.unless_refused(scenario, t.chat(behaviour, HI, stream=stream))
        return
    with pytest.raises(error) as caught:
        await t.chat(behaviour, HI, stream=stream)
    assert len(t.fake.requests) == 1  # one attempt, which reached the upstream
    raised = caught.value
    assert raised.status_code == status
    body = raised.body
    assert isinstance(body, dict) and set(body) == {"message", "type", "param", "code"}
    assert isinstance(body["message"], str) and body["message"]
    if code is not None:
        assert raised.code == code
    if status == 429:
        assert raised.type == "rate_limit_error"
        assert raised.response.headers["retry-after"] == t.case.retry_after
    if scenario == "context_too_long":
        assert raised.type == "invalid_request_error" and raised.param == "messages"
    if status == 400:
        assert raised.type == "invalid_request_error"
