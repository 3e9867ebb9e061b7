"""The official `openai` SDK through the gateway to a fake Anthropic Messages upstream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
import pytest_asyncio

from tests.conftest import CLIENT_KEY, RunningGateway, gateway_config, run_gateway
from tests.fakes.anthropic_upstream import FakeAnthropic, signature_of

pytestmark = pytest.mark.asyncio(loop_scope="session")

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
TIME: Any = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
}
WEATHER_NATIVE = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "input_schema": WEATHER["function"]["parameters"],
}
USAGE = {
    "prompt_tokens": 21,
    "completion_tokens": 9,
    "total_tokens": 30,
    "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
}
CACHED = {
    "prompt_tokens": 2013,
    "completion_tokens": 75,
    "total_tokens": 2088,
    "prompt_tokens_details": {"cached_tokens": 1800, "cache_write_tokens": 200},
    "completion_tokens_details": {"reasoning_tokens": 40},
}


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def fake() -> AsyncIterator[FakeAnthropic]:
    upstream = FakeAnthropic()
    await upstream.start()
    yield upstream
    await upstream.stop()


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def gw(fake: FakeAnthropic) -> AsyncIterator[RunningGateway]:
    config = gateway_config(
        providers={
            "claude": fake.provider_config(),
            "tuned": {
                **fake.provider_config(),
                "base_url": fake.url + "/v1/",
                "default_max_tokens": 1000,
                "anthropic_version": "2023-01-01",
                "anthropic_beta": ["beta-one", "beta-two"],
            },
            "badkey": {**fake.provider_config(), "api_key": "sk-ant-wrong-key-0123456789"},
        },
        models=[
            {
                "name": "slow",
                "provider": "claude",
                "model": "slow-2",
                "timeouts": {"first_byte": 0.3},
            }
        ],
    )
    async with run_gateway(config) as running:
        yield running


@pytest.fixture
def client(gw: RunningGateway, fake: FakeAnthropic) -> openai.AsyncOpenAI:
    fake.reset()
    return openai.AsyncOpenAI(base_url=gw.base_url, api_key=CLIENT_KEY, max_retries=0)


async def _stream(client: openai.AsyncOpenAI, **kwargs: Any) -> list[Any]:
    stream = await client.chat.completions.create(
        stream=True, stream_options={"include_usage": True}, **kwargs
    )
    return [chunk async for chunk in stream]


def _text(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def _finish(chunks: list[Any]) -> list[str]:
    return [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]


def _tool_calls(chunks: list[Any]) -> list[dict[str, Any]]:
    calls: dict[int, dict[str, Any]] = {}
    for c in chunks:
        for tc in (c.choices[0].delta.tool_calls or []) if c.choices else []:
            call = calls.setdefault(
                tc.index, {"id": None, "name": None, "arguments": "", "pieces": 0}
            )
            if tc.id:
                call["id"], call["name"] = tc.id, tc.function.name
            if tc.function and tc.function.arguments:
                call["arguments"] += tc.function.arguments
                call["pieces"] += 1
    return [calls[i] for i in sorted(calls)]


async def test_plain_text_and_exact_upstream_body(
    client: openai.AsyncOpenAI, fake: FakeAnthropic
) -> None:
    reply = await client.chat.completions.create(
        model="claude/claude-test",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hi there"},
        ],
        temperature=0.2,
        top_p=0.9,
        stop=["END"],
        user="user-1",
        max_tokens=100,
    )
    assert reply.choices[0].message.content == "Hello! You said: hi there"
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.id == "msg_fake000001" or reply.id.startswith("msg_fake")
    assert reply.object == "chat.completion"
    assert reply.model == "claude-test"
    assert reply.usage is not None and reply.usage.model_dump(exclude_none=True) == USAGE
    sent = fake.last
    assert sent.error is None and sent.path == "/v1/messages"
    assert sent.json == {
        "model": "claude-test",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi there"}]}],
        "max_tokens": 100,
        "system": "Be brief.",
        "stop_sequences": ["END"],
        "temperature": 0.2,
        "top_p": 0.9,
        "metadata": {"user_id": "user-1"},
    }
    assert sent.headers["x-api-key"] == fake.api_key
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["content-type"] == "application/json"
    assert "authorization" not in sent.headers


async def test_plain_text_streamed(client: openai.AsyncOpenAI, fake: FakeAnthropic) -> None:
    chunks = await _stream(
        client, model="claude/claude-test", messages=[{"role": "user", "content": "stream me"}]
    )
    assert _text(chunks) == "Hello! You said: stream me"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert _finish(chunks) == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.model_dump(exclude_none=True) == USAGE
    assert len({c.id for c in chunks}) == 1
    assert fake.last.json["stream"] is True and fake.last.json["max_tokens"] == 4096


async def test_provider_options_and_max_tokens(
    client: openai.AsyncOpenAI, fake: FakeAnthropic
) -> None:
    await client.chat.completions.create(
        model="tuned/claude-test", messages=[{"role": "user", "content": "x"}]
    )
    assert fake.last.json["max_tokens"] == 1000
    assert fake.last.headers["anthropic-version"] == "2023-01-01"
    assert fake.last.headers["anthropic-beta"] == "beta-one,beta-two"
    await client.chat.completions.create(
        model="tuned/claude-test",
        messages=[{"role": "user", "content": "x"}],
        max_completion_tokens=77,
    )
    assert fake.last.json["max_tokens"] == 77


async def test_multi_turn_roles_merged_and_alternating(
    client: openai.AsyncOpenAI, fake: FakeAnthropic
) -> None:
    reply = await client.chat.completions.create(
        model="claude/claude-test",
        messages=[
            {"role": "system", "content": "Rule one."},
            {"role": "developer", "content": [{"type": "text", "text": "Rule two."}]},
            {"role": "user", "content": "first"},
            {"role": "user", "content": [{"type": "text", "text": "second"}]},
            {"role": "assistant", "content": "answer"},
            {"role": "user", "content": "third"},
        ],
    )
    assert reply.choices[0].message.content == "Hello! You said: third"
    assert fake.last.json["system"] == "Rule one.\n\nRule two."
    assert fake.last.json["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "first"}, {"type": "text", "text": "second"}],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "answer"}]},
        {"role": "user", "content": [{"type": "text", "text": "third"}]},
    ]


async def test_images_url_and_data(client: openai.AsyncOpenAI, fake: FakeAnthropic) -> None:
    reply = await client.chat.completions.create(
        model="claude/claude-test",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
                    },
                ],
            }
        ],
    )
    assert reply.choices[0].message.content == "Hello! You said: what is this"
    assert fake.last.json["messages"][0]["content"] == [
        {"type": "text", "text": "what is this"},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
        },
    ]


async def test_unsupported_image_type_is_400(
    client: openai.AsyncOpenAI, fake: FakeAnthropic
) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        await client.chat.completions.create(
            model="claude/claude-test",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "data:image/bmp;base64,Qk0="}}
                    ],
                }
            ],
        )
    assert "image/bmp" in err.value.message
    assert fake.requests == []


@pytest.mark.parametrize("stream", [False, True])
async def test_tool_call_and_round_trip(
    client: openai.AsyncOpenAI, fake: FakeAnthropic, stream: bool
) -> None:
    request: Any = {
        "model": "claude/tool-call",
        "messages": [{"role": "user", "content": "weather in Paris?"}],
        "tools": [WEATHER],
        "tool_choice": "required",
        "parallel_tool_calls": False,
    }
    if stream:
        chunks = await _stream(client, **request)
        calls = _tool_calls(chunks)
        assert [(c["id"], c["name"], c["arguments"]) for c in calls] == [
            ("toolu_fake01", "get_weather", '{"city":"Paris"}')
        ]
        assert calls[0]["pieces"] >= 3  # arguments arrive in fragments
        assert _finish(chunks) == ["tool_calls"]
        call_id, arguments = calls[0]["id"], calls[0]["arguments"]
    else:
        reply = await client.chat.completions.create(**request)
        message = reply.choices[0].message
        assert reply.choices[0].finish_reason == "tool_calls"
        assert message.content is None
        assert message.tool_calls is not None and len(message.tool_calls) == 1
        call = message.tool_calls[0]
        assert (call.id, call.type, call.function.name, call.function.arguments) == (
            "toolu_fake01", "function", "get_weather", '{"city":"Paris"}'
        )  # fmt: skip
        call_id, arguments = call.id, call.function.arguments
    assert fake.last.json["tools"] == [WEATHER_NATIVE]
    assert fake.last.json["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}

    follow_up = await client.chat.completions.create(
        model="claude/tool-call",
        tools=[WEATHER],
        messages=[
            {"role": "user", "content": "weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": arguments},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": call_id, "content": "18C and sunny"},
        ],
    )
    assert follow_up.choices[0].message.content == "The tool said: 18C and sunny"
    assert fake.last.json["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": call_id,
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                }
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": call_id, "content": "18C and sunny"}
            ],
        },
    ]


@pytest.mark.parametrize("stream", [False, True])
async def test_parallel_tools_and_results_in_one_turn(
    client: openai.AsyncOpenAI, fake: FakeAnthropic, stream: bool
) -> None:
    request: Any = {
        "model": "claude/parallel-tools",
        "messages": [{"role": "user", "content": "weather and time"}],
        "tools": [WEATHER, TIME],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    }
    expected = [
        ("toolu_fake01", "get_weather", '{"city":"Paris"}'),
        ("toolu_fake02", "get_time", '{"city":"London"}'),
    ]
    if stream:
        chunks = await _stream(client, **request)
        assert [(c["id"], c["name"], c["arguments"]) for c in _tool_calls(chunks)] == expected
        assert _finish(chunks) == ["tool_calls"]
    else:
        reply = await client.chat.completions.create(**request)
        calls = reply.choices[0].message.tool_calls or []
        assert [(c.id, c.function.name, c.function.arguments) for c in calls] == expected
    assert fake.last.json["tool_choice"] == {"type": "tool", "name": "get_weather"}

    await client.chat.completions.create(
        model="claude/parallel-tools",
        tools=[WEATHER, TIME],
        messages=[
            {"role": "user", "content": "weather and time"},
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
                    for i, n, a in expected
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_fake01", "content": "sunny"},
            {
                "role": "tool",
                "tool_call_id": "toolu_fake02",
                "content": [{"type": "text", "text": "noon"}],
            },
        ],
    )
    assert fake.last.error is None
    assert fake.last.json["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_fake01", "content": "sunny"},
            {
                "type": "tool_result",
                "tool_use_id": "toolu_fake02",
                "content": [{"type": "text", "text": "noon"}],
            },
        ],
    }
    assert fake.last.json["messages"][1]["content"][0] == {"type": "text", "text": "Checking."}


@pytest.mark.parametrize("stream", [False, True])
async def test_cached_and_reasoning_usage(client: openai.AsyncOpenAI, stream: bool) -> None:
    request: Any = {"model": "claude/cached", "messages": [{"role": "user", "content": "again"}]}
    if stream:
        chunks = await _stream(client, **request)
        assert _text(chunks) == "Hello! You said: again"
        assert chunks[-1].usage.model_dump(exclude_none=True) == CACHED
    else:
        reply = await client.chat.completions.create(**request)
        assert reply.usage is not None and reply.usage.model_dump(exclude_none=True) == CACHED


async def test_json_schema_and_json_object(client: openai.AsyncOpenAI, fake: FakeAnthropic) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "integer"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    reply = await client.chat.completions.create(
        model="claude/json",
        messages=[{"role": "user", "content": "answer?"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": schema, "strict": True},
        },
    )
    assert reply.choices[0].message.content == '{"answer": 42}'
    assert fake.last.json["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    assert "system" not in fake.last.json
    reply = await client.chat.completions.create(
        model="claude/json",
        messages=[{"role": "system", "content": "Sys."}, {"role": "user", "content": "answer?"}],
        response_format={"type": "json_object"},
    )
    assert reply.choices[0].message.content == '{"answer": 42}'
    assert fake.last.json["system"] == (
        "Sys.\n\nRespond with a single valid JSON object and nothing else: no prose, no code fences."
    )
    assert "output_config" not in fake.last.json


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("model", "extra", "text", "finish"),
    [
        ("stop-seq", {"stop": ["three", "five"]}, "one two ", "stop"),
        ("length", {"max_tokens": 5}, "This answer is cut", "length"),
        ("content-filter", {}, "I can't", "content_filter"),
        ("pause", {}, "Searching", "stop"),
    ],
)
async def test_finish_reasons(
    client: openai.AsyncOpenAI,
    fake: FakeAnthropic,
    stream: bool,
    model: str,
    extra: Any,
    text: str,
    finish: str,
) -> None:
    request: Any = {
        "model": f"claude/{model}",
        "messages": [{"role": "user", "content": "go"}],
        **extra,
    }
    if stream:
        chunks = await _stream(client, **request)
        assert (_text(chunks), _finish(chunks)) == (text, [finish])
    else:
        reply = await client.chat.completions.create(**request)
        assert (reply.choices[0].message.content, reply.choices[0].finish_reason) == (text, finish)
    if model == "stop-seq":
        assert fake.last.json["stop_sequences"] == ["three", "five"]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("model", "status", "code", "error_class"),
    [
        ("error-400", 400, None, openai.BadRequestError),
        ("context-too-long", 400, "context_length_exceeded", openai.BadRequestError),
        ("error-429", 429, "rate_limit_exceeded", openai.RateLimitError),
        ("error-500", 502, "upstream_error", openai.InternalServerError),
        ("error-503", 503, "upstream_unavailable", openai.InternalServerError),
        ("overloaded", 503, "upstream_unavailable", openai.InternalServerError),
    ],
)
async def test_upstream_errors(
    client: openai.AsyncOpenAI,
    stream: bool,
    model: str,
    status: int,
    code: str | None,
    error_class: type[openai.APIStatusError],
) -> None:
    with pytest.raises(error_class) as err:
        request: Any = {"model": f"claude/{model}", "messages": [{"role": "user", "content": "x"}]}
        if stream:
            await _stream(client, **request)
        else:
            await client.chat.completions.create(**request)
    assert err.value.status_code == status
    body: Any = err.value.body
    assert body["code"] == code
    if model == "error-429":
        assert err.value.response.headers["retry-after"] == "7"
    if model == "context-too-long":
        assert body["message"] == "prompt is too long: 210000 tokens > 200000 maximum"


async def test_error_event_mid_stream(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.APIError) as err:
        await _stream(
            client, model="claude/stream-error", messages=[{"role": "user", "content": "x"}]
        )
    assert "Overloaded" in err.value.message


async def test_bad_upstream_key_is_502(client: openai.AsyncOpenAI, fake: FakeAnthropic) -> None:
    with pytest.raises(openai.InternalServerError) as err:
        await client.chat.completions.create(
            model="badkey/claude-test", messages=[{"role": "user", "content": "x"}]
        )
    assert err.value.status_code == 502
    assert (err.value.body or {})["code"] == "upstream_auth_error"  # type: ignore[index]
    assert fake.last.error == "invalid x-api-key"


async def test_timeout_is_504(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as err:
        await client.chat.completions.create(
            model="slow", messages=[{"role": "user", "content": "x"}]
        )
    assert err.value.status_code == 504


@pytest.mark.parametrize("stream", [False, True])
async def test_thinking_blocks_round_trip_with_tools(
    client: openai.AsyncOpenAI, fake: FakeAnthropic, stream: bool
) -> None:
    request: Any = {
        "model": "claude/tool-call",
        "messages": [{"role": "user", "content": "weather in Paris?"}],
        "tools": [WEATHER],
        "reasoning_effort": "low",
    }
    thought = "Thinking about: weather in Paris?"
    expected_block = {"type": "thinking", "thinking": thought, "signature": signature_of(thought)}
    if stream:
        chunks = await _stream(client, **request)
        reasoning = "".join(
            (c.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
            for c in chunks
            if c.choices
        )
        blocks = [
            b
            for c in chunks
            if c.choices
            for b in (c.choices[0].delta.model_extra or {}).get("thinking_blocks") or []
        ]
        calls = _tool_calls(chunks)
        call_id, arguments = calls[0]["id"], calls[0]["arguments"]
    else:
        reply = await client.chat.completions.create(**request)
        extra = reply.choices[0].message.model_extra or {}
        reasoning, blocks = extra["reasoning_content"], extra["thinking_blocks"]
        call = (reply.choices[0].message.tool_calls or [])[0]
        call_id, arguments = call.id, call.function.arguments
    assert reasoning == thought
    assert blocks == [expected_block]
    assert fake.last.json["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert fake.last.json["max_tokens"] == 4096 + 2048

    assistant: Any = {
        "role": "assistant",
        "content": None,
        "thinking_blocks": blocks,
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": "get_weather", "arguments": arguments},
            }
        ],
    }
    follow_up = await client.chat.completions.create(
        model="claude/tool-call",
        tools=[WEATHER],
        reasoning_effort="low",
        messages=[
            *request["messages"],
            assistant,
            {"role": "tool", "tool_call_id": call_id, "content": "sunny"},
        ],
    )
    assert fake.last.error is None
    assert fake.last.json["messages"][1]["content"][0] == expected_block
    assert follow_up.choices[0].message.content == "The tool said: sunny"


async def test_thinking_without_blocks_is_refused_upstream(
    client: openai.AsyncOpenAI, fake: FakeAnthropic
) -> None:
    """Without the thinking blocks sent back, Anthropic refuses the tool-use turn."""
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(
            model="claude/tool-call",
            tools=[WEATHER],
            reasoning_effort="low",
            messages=[
                {"role": "user", "content": "weather?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "t1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "t1", "content": "sunny"},
            ],
        )
    assert fake.last.error is not None and "thinking" in fake.last.error
