"""Cohere through the gateway: the official `openai` SDK against a fake Cohere v2 API.

The tests assert what the client gets and the exact v2 bodies the fake received; the
fake rejects (and records) anything Cohere's request schema would not accept.
"""

from __future__ import annotations

import json
import struct
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
import pytest_asyncio

from bastion.config import discover_from_env
from bastion.errors import GatewayError
from bastion.providers.cohere import CohereAdapter, CohereStreamDecoder
from tests.conftest import CLIENT_KEY, RunningGateway, gateway_config, run_gateway
from tests.fakes import cohere_upstream as fc
from tests.fakes.cohere_upstream import FakeCohere

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
NEWS: Any = {
    "type": "function",
    "function": {"name": "get_news", "parameters": {"type": "object", "properties": {}}},
}
PNG_URL = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def fake() -> AsyncIterator[FakeCohere]:
    upstream = FakeCohere()
    await upstream.start()
    yield upstream
    await upstream.stop()


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def gw(fake: FakeCohere) -> AsyncIterator[RunningGateway]:
    config = gateway_config(
        providers={
            "co": fake.provider_config(),
            "co-v2": {
                **fake.provider_config(),
                "base_url": fake.url + "/v2/",
                "input_type": "search_query",
            },
            "co-badkey": {**fake.provider_config(), "api_key": "co-wrong-key-0123456789"},
            "co-slow": {**fake.provider_config(), "timeouts": {"first_byte": 0.5, "total": 5}},
        },
        models=[{"name": "command", "provider": "co", "model": "command-a-03-2025"}],
    )
    async with run_gateway(config) as running:
        yield running


@pytest.fixture
def client(gw: RunningGateway, fake: FakeCohere) -> openai.AsyncOpenAI:
    fake.reset()
    return openai.AsyncOpenAI(base_url=gw.base_url, api_key=CLIENT_KEY, max_retries=0)


async def _stream(client: openai.AsyncOpenAI, **kwargs: Any) -> list[Any]:
    stream = await client.chat.completions.create(stream=True, **kwargs)
    return [chunk async for chunk in stream]


def _text(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def _reasoning(chunks: list[Any]) -> str:
    return "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
        for c in chunks
        if c.choices
    )


def _finish(chunks: list[Any]) -> list[str]:
    return [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]


def _tool_calls(chunks: list[Any]) -> list[dict[str, Any]]:
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            call = calls.setdefault(delta.index, {"id": None, "name": None, "arguments": ""})
            if delta.id:
                call["id"] = delta.id
            if delta.function and delta.function.name:
                call["name"] = delta.function.name
            if delta.function and delta.function.arguments:
                call["arguments"] += delta.function.arguments
    return [calls[i] for i in sorted(calls)]


def _sent(fake: FakeCohere) -> Any:
    assert fake.rejections == []
    return fake.requests[-1].json


async def test_plain_chat(client: openai.AsyncOpenAI, fake: FakeCohere) -> None:
    reply = await client.chat.completions.create(
        model="command",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "Hello."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": PNG_URL, "detail": "low"}},
                ],
            },
        ],
        temperature=0.3,
        top_p=0.9,
        max_tokens=100,
        stop=["\n\n"],
        seed=7,
        frequency_penalty=0.1,
        presence_penalty=0.2,
    )
    recorded = fake.requests[-1]
    assert recorded.path == "/v2/chat"
    assert recorded.headers["authorization"] == "Bearer " + fc.API_KEY
    assert _sent(fake) == {
        "model": "command-a-03-2025",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "Hello."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": PNG_URL, "detail": "low"}},
                ],
            },
        ],
        "max_tokens": 100,
        "stop_sequences": ["\n\n"],
        "temperature": 0.3,
        "p": 0.9,
        "seed": 7,
        "frequency_penalty": 0.1,
        "presence_penalty": 0.2,
    }
    assert reply.model == "command-a-03-2025" and reply.id
    assert reply.choices[0].message.content == "Hello! You said: look"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert reply.usage.model_dump(exclude_none=True) == {
        "prompt_tokens": 6 + fc.TEMPLATE_TOKENS,
        "completion_tokens": 4,
        "total_tokens": 17,
    }


async def test_streamed_chat(client: openai.AsyncOpenAI, fake: FakeCohere) -> None:
    chunks = await _stream(
        client,
        model="command",
        messages=[{"role": "user", "content": "hello there"}],
        stream_options={"include_usage": True},
    )
    assert _sent(fake) == {
        "model": "command-a-03-2025",
        "messages": [{"role": "user", "content": "hello there"}],
        "stream": True,
    }
    assert fake.requests[-1].headers["accept"] == "text/event-stream"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert _text(chunks) == "Hello! You said: hello there"
    assert _finish(chunks) == ["stop"]
    assert chunks[-1].choices == []
    assert chunks[-1].usage.model_dump(exclude_none=True) == {
        "prompt_tokens": 2 + fc.TEMPLATE_TOKENS,
        "completion_tokens": 5,
        "total_tokens": 14,
    }
    assert len({c.id for c in chunks}) == 1


async def test_tool_call_with_plan(client: openai.AsyncOpenAI, fake: FakeCohere) -> None:
    reply = await client.chat.completions.create(
        model="co/tool-call",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER],
        tool_choice="required",
    )
    sent = _sent(fake)
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": WEATHER["function"]["parameters"],
                "description": "Current weather in a city",
            },
        }
    ]
    assert sent["tool_choice"] == "REQUIRED"
    message = reply.choices[0].message
    assert reply.choices[0].finish_reason == "tool_calls" and message.content is None
    assert (message.model_extra or {}).get("reasoning_content") == fc.TOOL_PLAN
    assert message.tool_calls is not None
    [call] = message.tool_calls
    assert call.id.startswith("get_weather_") and call.type == "function"
    assert (call.function.name, call.function.arguments) == ("get_weather", '{"city": "Paris"}')


async def test_streamed_tool_call(client: openai.AsyncOpenAI, fake: FakeCohere) -> None:
    chunks = await _stream(
        client,
        model="co/tool-call",
        messages=[{"role": "user", "content": "Weather?"}],
        tools=[WEATHER],
    )
    assert "tool_choice" not in _sent(fake)
    fragments = [
        d.function.arguments
        for c in chunks
        if c.choices
        for d in c.choices[0].delta.tool_calls or []
        if d.function.arguments
    ]
    assert fragments == ['{"', 'city": ', '"Paris"}']
    [call] = _tool_calls(chunks)
    assert (call["name"], call["arguments"]) == ("get_weather", '{"city": "Paris"}') and call[
        "id"
    ].startswith("get_weather_")
    assert _reasoning(chunks) == fc.TOOL_PLAN
    assert _finish(chunks) == ["tool_calls"]


@pytest.mark.parametrize("stream", [False, True])
async def test_parallel_tool_calls(client: openai.AsyncOpenAI, stream: bool) -> None:
    kwargs: Any = {
        "model": "co/parallel-tools",
        "messages": [{"role": "user", "content": "Paris and London?"}],
        "tools": [WEATHER],
    }
    if stream:
        calls = [
            (c["name"], json.loads(c["arguments"]))
            for c in _tool_calls(await _stream(client, **kwargs))
        ]
    else:
        reply = await client.chat.completions.create(**kwargs)
        calls = [
            (c.function.name, json.loads(c.function.arguments))
            for c in reply.choices[0].message.tool_calls or []
        ]
    assert calls == [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "London"})]


async def test_tool_results_round_trip(client: openai.AsyncOpenAI, fake: FakeCohere) -> None:
    chunks = await _stream(
        client,
        model="co/tool-call",
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": "I will look it up.",
                "tool_calls": [
                    {
                        "id": "get_weather_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "get_weather_1", "content": "22 degrees"},
        ],
        tools=[WEATHER],
    )
    assert _sent(fake)["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "get_weather_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
            "tool_plan": "I will look it up.",
        },
        {"role": "tool", "tool_call_id": "get_weather_1", "content": "22 degrees"},
    ]
    assert _text(chunks) == "The tool said: 22 degrees"


@pytest.mark.parametrize(
    ("tool_choice", "tools", "choice"),
    [
        ("none", ["get_weather", "get_news"], "NONE"),
        ("auto", ["get_weather", "get_news"], None),
        ({"type": "function", "function": {"name": "get_news"}}, ["get_news"], "REQUIRED"),
    ],
)
async def test_tool_choice(
    client: openai.AsyncOpenAI,
    fake: FakeCohere,
    tool_choice: Any,
    tools: list[str],
    choice: str | None,
) -> None:
    await client.chat.completions.create(
        model="command",
        messages=[{"role": "user", "content": "hi"}],
        tools=[WEATHER, NEWS],
        tool_choice=tool_choice,
    )
    sent = _sent(fake)
    assert ([t["function"]["name"] for t in sent["tools"]], sent.get("tool_choice")) == (
        tools,
        choice,
    )


@pytest.mark.parametrize("stream", [False, True])
async def test_cached_tokens_and_thinking(client: openai.AsyncOpenAI, stream: bool) -> None:
    kwargs: Any = {"model": "co/cached", "messages": [{"role": "user", "content": "hello"}]}
    if stream:
        chunks = await _stream(client, stream_options={"include_usage": True}, **kwargs)
        content, reasoning, usage = _text(chunks), _reasoning(chunks), chunks[-1].usage
    else:
        reply = await client.chat.completions.create(**kwargs)
        message = reply.choices[0].message
        content, reasoning, usage = (
            message.content,
            (message.model_extra or {}).get("reasoning_content"),
            reply.usage,
        )
    assert (content, reasoning) == ("Hello! You said: hello", fc.THINKING)
    assert usage.model_dump(exclude_none=True) == {
        "prompt_tokens": 1 + fc.TEMPLATE_TOKENS,
        "completion_tokens": 12,
        "total_tokens": 20,
        "prompt_tokens_details": {"cached_tokens": fc.CACHED_TOKENS},
    }


async def test_json_modes(client: openai.AsyncOpenAI, fake: FakeCohere) -> None:
    reply = await client.chat.completions.create(
        model="co/json",
        messages=[{"role": "user", "content": "answer?"}],
        response_format={"type": "json_object"},
    )
    assert json.loads(reply.choices[0].message.content or "") == {"answer": 42}
    assert _sent(fake)["response_format"] == {"type": "json_object"}
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "integer"}},
        "required": ["answer"],
    }
    await client.chat.completions.create(
        model="co/json",
        messages=[{"role": "user", "content": "answer?"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": schema},
        },
    )
    assert _sent(fake)["response_format"] == {"type": "json_object", "json_schema": schema}


@pytest.mark.parametrize("stream", [False, True])
async def test_stop_sequence_and_length(
    client: openai.AsyncOpenAI, fake: FakeCohere, stream: bool
) -> None:
    cases = [
        ("co/stop-seq", {"stop": "3"}, "Counting: 1, 2, ", "stop"),
        ("co/length", {"max_completion_tokens": 3}, "Hello! You said:", "length"),
    ]
    for model, extra, text, finish in cases:
        kwargs: Any = {"model": model, "messages": [{"role": "user", "content": "count"}], **extra}
        if stream:
            chunks = await _stream(client, **kwargs)
            assert (_text(chunks), _finish(chunks)) == (text, [finish])
        else:
            reply = await client.chat.completions.create(**kwargs)
            assert (reply.choices[0].message.content, reply.choices[0].finish_reason) == (
                text,
                finish,
            )
    assert fake.requests[0].json["stop_sequences"] == ["3"]
    assert fake.requests[1].json["max_tokens"] == 3


ERROR_CASES = [
    ("co/error-400", 400, "invalid_request_error", "invalid_request"),
    ("co/error-429", 429, "rate_limit_error", "rate_limit_exceeded"),
    ("co/error-500", 502, "api_error", "upstream_error"),
    ("co/error-503", 503, "api_error", "upstream_unavailable"),
    ("co/overloaded", 503, "api_error", "upstream_unavailable"),
    ("co/context-too-long", 400, "invalid_request_error", "context_length_exceeded"),
    ("co/content-filter", 400, "invalid_request_error", "content_policy_violation"),
    ("co-badkey/command-a-03-2025", 502, "api_error", "upstream_auth_error"),
]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("model", "status", "type_", "code"), ERROR_CASES)
async def test_errors(
    client: openai.AsyncOpenAI, model: str, status: int, type_: str, code: str, stream: bool
) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}], stream=stream
        )
    body: Any = caught.value.body
    assert (caught.value.status_code, body["type"], body["code"]) == (status, type_, code)
    assert caught.value.response.headers.get("retry-after") == (
        fc.RETRY_AFTER if status == 429 else None
    )
    assert fc.API_KEY not in body["message"] and "co-wrong-key" not in body["message"]


async def test_error_at_the_end_of_a_stream(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="co/stream-error", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    received: list[Any] = []
    with pytest.raises(openai.APIError) as caught:
        async for chunk in stream:
            received.append(chunk)
    assert _text(received) == "Hello! You said: hi"
    assert "an internal error occurred while generating" in caught.value.message


async def test_slow_upstream_times_out(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        await client.chat.completions.create(
            model="co-slow/slow-2", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.status_code == 504


async def test_embeddings(client: openai.AsyncOpenAI, fake: FakeCohere) -> None:
    reply = await client.embeddings.create(
        model="co/embed-v4.0", input=["hello world", "bye"], dimensions=16, encoding_format="float"
    )
    assert fake.requests[-1].path == "/v2/embed"
    assert _sent(fake) == {
        "model": "embed-v4.0",
        "texts": ["hello world", "bye"],
        "input_type": "search_document",
        "embedding_types": ["float"],
        "output_dimension": 16,
    }
    assert [d.embedding for d in reply.data] == [
        fc.embedding("hello world", 16),
        fc.embedding("bye", 16),
    ]
    assert (reply.model, reply.usage.prompt_tokens, reply.usage.total_tokens) == (
        "embed-v4.0",
        3,
        3,
    )
    # The SDK's default base64 encoding, and the provider's input_type option (base URL with /v2/).
    reply = await client.embeddings.create(model="co-v2/embed-v4.0", input="hello world")
    assert _sent(fake)["input_type"] == "search_query"
    expected = list(struct.unpack("<16f", struct.pack("<16f", *fc.embedding("hello world", 16))))
    assert reply.data[0].embedding == expected


def test_stream_decoder_handles_done_and_split_events() -> None:
    decoder = CohereStreamDecoder("m")
    raw = (
        b'event: message-start\ndata: {"type":"message-start","id":"abc","delta":{"message":{"role":"assistant"}}}\n\n'
        b'event: content-delta\ndata: {"type":"content-delta","index":0,"delta":{"message":{"content":{"text":"Hi"}}}}\n\n'
        b'event: message-end\ndata: {"type":"message-end","delta":{"finish_reason":"COMPLETE","usage":{"billed_units":{"input_tokens":1.0,"output_tokens":2.0}}}}\n\n'
        b"data: [DONE]\n\n"
    )
    chunks = [c for i in range(len(raw)) for c in decoder.feed(raw[i : i + 1])] + decoder.close()
    assert [c["id"] for c in chunks] == ["abc"] * 4
    assert [c["choices"][0]["delta"] if c["choices"] else c["usage"] for c in chunks] == [
        {"role": "assistant", "content": ""},
        {"content": "Hi"},
        {},
        {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    ]
    with pytest.raises(GatewayError):
        CohereStreamDecoder("m").feed(b"data: {not json}\n\n")


def test_base_url_normalisation_and_discovery() -> None:
    adapter = CohereAdapter()
    assert adapter.normalise_base_url("https://api.cohere.com/v2/") == "https://api.cohere.com"
    assert adapter.normalise_base_url("https://api.cohere.ai/v1") == "https://api.cohere.ai"
    config = discover_from_env({"COHERE_API_KEY": "co-key-0123456789"})
    assert config.providers["cohere"].kind == "cohere"
