"""The official `anthropic` SDK against the gateway's Anthropic Messages ingress.

Three kinds of target: the built-in echo model and a fake OpenAI upstream (the
request is translated to the canonical shape and the answer back), and a fake
Anthropic upstream (the body passes through untranslated, only ``model`` replaced).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import orjson
import pytest
import pytest_asyncio
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from bastion.api.anthropic import estimate_input_tokens
from bastion.store.database import async_url
from tests.conftest import CLIENT_KEY, RunningGateway, gateway_config, run_gateway
from tests.fakes.anthropic_upstream import FakeAnthropic, signature_of
from tests.fakes.openai_upstream import DEFAULT_API_KEY, FakeOpenAI
from tests.governance.helpers import client as governance_client
from tests.governance.helpers import governed_gateway, settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

WEATHER: Any = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def fake_claude() -> AsyncIterator[FakeAnthropic]:
    upstream = FakeAnthropic()
    await upstream.start()
    yield upstream
    await upstream.stop()


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    upstream = FakeOpenAI()
    await upstream.start()
    yield upstream
    await upstream.stop()


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def gw(fake_claude: FakeAnthropic, fake_openai: FakeOpenAI) -> AsyncIterator[RunningGateway]:
    config = gateway_config(
        test_model="on",
        providers={
            "claude": fake_claude.provider_config(),
            "up": {"kind": "openai", "base_url": fake_openai.url, "api_key": DEFAULT_API_KEY},
        },
        models=[
            {"name": "sonnet", "provider": "claude", "model": "claude-test"},
            {"name": "gpt-test", "provider": "up", "model": "gpt-4o-mini"},
        ],
    )
    async with run_gateway(config) as running:
        yield running


@pytest.fixture
def client(
    gw: RunningGateway, fake_claude: FakeAnthropic, fake_openai: FakeOpenAI
) -> anthropic.AsyncAnthropic:
    fake_claude.reset()
    fake_openai.reset()
    return anthropic.AsyncAnthropic(base_url=gw.url, api_key=CLIENT_KEY, max_retries=0)


async def _raw(
    gw: RunningGateway, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, Any, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(gw.url + path, data=body, headers=headers) as resp,
    ):
        return resp.status, await resp.read(), resp.headers.get("content-type", "")


def _events(raw: bytes) -> list[tuple[str, Any]]:
    out = []
    for block in raw.decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if lines:
            out.append((lines.get("event", ""), orjson.loads(lines["data"])))
    return out


# --- translated: the echo model and a fake OpenAI upstream ------------------------------------


async def test_echo_plain(client: anthropic.AsyncAnthropic) -> None:
    message = await client.messages.create(
        model="bastion/echo", max_tokens=50, messages=[{"role": "user", "content": "hello gateway"}]
    )
    assert message.type == "message" and message.role == "assistant"
    assert message.id.startswith("msg_")
    assert message.model == "bastion/echo"
    assert [(b.type, getattr(b, "text", None)) for b in message.content] == [
        ("text", "hello gateway")
    ]
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.usage.model_dump(exclude_none=True) == {
        "input_tokens": 2,
        "output_tokens": 2,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


async def test_echo_streamed_with_sdk_helpers(client: anthropic.AsyncAnthropic) -> None:
    async with client.messages.stream(
        model="bastion/echo",
        max_tokens=50,
        messages=[{"role": "user", "content": "stream this please"}],
    ) as stream:
        text = "".join([t async for t in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "stream this please"
    assert [(b.type, getattr(b, "text", None)) for b in final.content] == [
        ("text", "stream this please")
    ]
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (3, 3)


async def test_openai_upstream_gets_the_canonical_request(
    client: anthropic.AsyncAnthropic, fake_openai: FakeOpenAI
) -> None:
    message = await client.messages.create(
        model="gpt-test",
        max_tokens=100,
        system=[{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Be kind."}],
        messages=[
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
            {"role": "user", "content": [{"type": "text", "text": "hi there"}]},
        ],
        extra_body={"temperature": 0.5, "top_p": 0.9},
        stop_sequences=["END"],
        metadata={"user_id": "user-7"},
    )
    assert [(b.type, getattr(b, "text", None)) for b in message.content] == [
        ("text", "Hello! You said: hi there")
    ]
    assert message.model == "gpt-test"
    assert fake_openai.requests[-1].json == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Be brief.\n\nBe kind."},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "hi there"}]},
        ],
        "max_completion_tokens": 100,  # OpenAI's current name (its o-series refuse max_tokens)
        "stop": ["END"],
        "temperature": 0.5,
        "top_p": 0.9,
        "user": "user-7",
    }


@pytest.mark.parametrize("stream", [False, True])
async def test_usage_with_cached_tokens(
    client: anthropic.AsyncAnthropic, fake_openai: FakeOpenAI, stream: bool
) -> None:
    request: Any = {
        "model": "up/gpt-cached",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "again"}],
    }
    if stream:
        async with client.messages.stream(**request) as events:
            final = await events.get_final_message()
        assert fake_openai.requests[-1].json["stream_options"] == {"include_usage": True}
    else:
        final = await client.messages.create(**request)
    # OpenAI's 1280 prompt tokens include 1024 cached ones; Anthropic's input_tokens does not.
    assert final.usage.model_dump(exclude_none=True) == {
        "input_tokens": 256,
        "output_tokens": 192,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 1024,
    }


async def test_images_reach_openai_as_image_urls(
    client: anthropic.AsyncAnthropic, fake_openai: FakeOpenAI
) -> None:
    await client.messages.create(
        model="gpt-test",
        max_tokens=50,
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PIXEL},
                    },
                    {
                        "type": "image",
                        "source": {"type": "url", "url": "https://example.com/cat.jpg"},
                    },
                    {"type": "text", "text": "describe"},
                ],
            }
        ],
    )
    assert fake_openai.requests[-1].json["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64," + PIXEL}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
                {"type": "text", "text": "describe"},
            ],
        }
    ]


@pytest.mark.parametrize("stream", [False, True])
async def test_tools_round_trip_through_openai(
    client: anthropic.AsyncAnthropic, fake_openai: FakeOpenAI, stream: bool
) -> None:
    request: Any = {
        "model": "up/tool-call",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "weather in Paris?"}],
        "tools": [WEATHER],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
    }
    if stream:
        async with client.messages.stream(**request) as events:
            message = await events.get_final_message()
    else:
        message = await client.messages.create(**request)
    sent = fake_openai.requests[-1].json
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": WEATHER["description"],
                "parameters": WEATHER["input_schema"],
            },
        }
    ]
    assert (sent["tool_choice"], sent["parallel_tool_calls"]) == ("required", False)
    assert message.stop_reason == "tool_use"
    assert len(message.content) == 1
    call = message.content[0]
    assert call.type == "tool_use"
    assert (call.name, call.input) == ("get_weather", {"city": "Paris"})
    assert call.id.startswith("call_")

    answer = await client.messages.create(
        model="up/tool-call",
        max_tokens=100,
        tools=[WEATHER],
        messages=[
            *request["messages"],
            {
                "role": "assistant",
                "content": [b.model_dump(exclude_none=True) for b in message.content],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": call.id, "content": "18C and sunny"}
                ],
            },
        ],
    )
    assert [(b.type, getattr(b, "text", None)) for b in answer.content] == [
        ("text", "The tool said: 18C and sunny")
    ]
    assert fake_openai.requests[-1].json["messages"][1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"},
    ]


async def test_translated_stream_event_sequence(gw: RunningGateway) -> None:
    body = orjson.dumps({"model": "up/parallel-tools", "max_tokens": 50, "stream": True, "tools": [WEATHER],
                         "messages": [{"role": "user", "content": "two calls"}]})  # fmt: skip
    status, raw, content_type = await _raw(
        gw, "/v1/messages", body, {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"}
    )
    assert status == 200 and content_type.startswith("text/event-stream")
    events = _events(raw)
    assert all(name == data["type"] for name, data in events)
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    starts = [d["content_block"] for n, d in events if n == "content_block_start"]
    assert [(b["type"], b["name"], b["input"]) for b in starts] == [
        ("tool_use", "get_weather", {})
    ] * 2
    json_by_block: dict[int, str] = {}
    for name, data in events:
        if name == "content_block_delta":
            assert data["delta"]["type"] == "input_json_delta"
            json_by_block[data["index"]] = (
                json_by_block.get(data["index"], "") + data["delta"]["partial_json"]
            )
    assert json_by_block == {0: '{"city": "Paris"}', 1: '{"city": "London"}'}
    assert [d["index"] for n, d in events if n == "content_block_stop"] == [0, 1]
    assert events[-2][1]["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}


async def test_server_tools_need_an_anthropic_model(
    client: anthropic.AsyncAnthropic, fake_claude: FakeAnthropic
) -> None:
    tools: Any = [{"type": "web_search_20250305", "name": "web_search", "max_uses": 2}]
    request: Any = {
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "search"}],
        "tools": tools,
    }
    with pytest.raises(anthropic.BadRequestError) as err:
        await client.messages.create(model="gpt-test", **request)
    assert err.value.body == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "tools.0: tool type 'web_search_20250305' is only supported by Anthropic models.",
        },
    }
    message = await client.messages.create(model="sonnet", **request)
    assert message.content[0].type == "text"
    assert fake_claude.last.json["tools"] == tools


# --- passthrough: a fake Anthropic upstream ------------------------------------------------------


async def test_passthrough_keeps_every_field(
    client: anthropic.AsyncAnthropic, fake_claude: FakeAnthropic
) -> None:
    request: Any = {
        "max_tokens": 200,
        "system": [
            {
                "type": "text",
                "text": "Cached system.",
                "cache_control": {"type": "ephemeral", "ttl": "1h"},
            }
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "document",
                        "source": {"type": "text", "media_type": "text/plain", "data": "Doc."},
                        "title": "Doc",
                        "citations": {"enabled": True},
                    },
                    {"type": "text", "text": "summarise", "cache_control": {"type": "ephemeral"}},
                ],
            },
        ],
        "metadata": {"user_id": "user-1"},
        "service_tier": "standard_only",
    }
    extra = {
        "top_k": 5,
        "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
        "mcp_servers": [{"type": "url", "url": "https://mcp.example.com/sse", "name": "example"}],
    }
    message = await client.messages.create(
        model="sonnet",
        extra_body=extra,
        extra_headers={"anthropic-beta": "mcp-client-2025-04-04"},
        **request,
    )
    sent = fake_claude.last
    assert sent.error is None
    assert sent.json == {"model": "claude-test", **request, **extra}
    assert sent.headers["x-api-key"] == fake_claude.api_key
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["anthropic-beta"] == "mcp-client-2025-04-04"
    # The upstream's answer as it was sent: its id, its model id, its usage.
    assert message.id.startswith("msg_fake")
    assert message.model == "claude-test"
    assert [(b.type, getattr(b, "text", None)) for b in message.content] == [
        ("text", "Hello! You said: summarise")
    ]
    assert message.usage.model_dump(exclude_none=True) == {
        "input_tokens": 21,
        "output_tokens": 9,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


async def test_passthrough_stream_is_the_upstreams(
    gw: RunningGateway, fake_claude: FakeAnthropic
) -> None:
    fake_claude.reset()
    body = orjson.dumps(
        {
            "model": "sonnet",
            "max_tokens": 50,
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        }
    )
    status, raw, _ = await _raw(gw, "/v1/messages", body, {"authorization": "Bearer " + CLIENT_KEY})
    assert status == 200
    events = _events(raw)
    assert [n for n, _ in events][:3] == ["message_start", "content_block_start", "ping"]
    assert events[0][1]["message"]["id"].startswith("msg_fake")
    assert (
        "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta")
        == "Hello! You said: hi"
    )
    assert fake_claude.last.json == {
        "model": "claude-test",
        "max_tokens": 50,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }


@pytest.mark.parametrize("stream", [False, True])
async def test_passthrough_thinking_and_tools_multi_turn(
    client: anthropic.AsyncAnthropic, fake_claude: FakeAnthropic, stream: bool
) -> None:
    request: Any = {
        "model": "claude/tool-call",
        "max_tokens": 3000,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "tools": [WEATHER],
        "messages": [{"role": "user", "content": "weather in Paris?"}],
    }
    if stream:
        async with client.messages.stream(**request) as events:
            message = await events.get_final_message()
    else:
        message = await client.messages.create(**request)
    thought = "Thinking about: weather in Paris?"
    assert [b.type for b in message.content] == ["thinking", "tool_use"]
    thinking = message.content[0]
    assert thinking.type == "thinking"
    assert (thinking.thinking, thinking.signature) == (thought, signature_of(thought))
    call = message.content[1]
    assert call.type == "tool_use" and call.input == {"city": "Paris"}
    answer = await client.messages.create(
        **{
            **request,
            "messages": [
                *request["messages"],
                {
                    "role": "assistant",
                    "content": [b.model_dump(exclude_none=True) for b in message.content],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}
                    ],
                },
            ],
        }
    )
    assert fake_claude.last.error is None
    assert [b.type for b in answer.content] == ["thinking", "text"]
    assert answer.content[1].type == "text" and answer.content[1].text == "The tool said: sunny"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("model", "status", "error_type", "error_class"),
    [
        ("error-400", 400, "invalid_request_error", anthropic.BadRequestError),
        ("context-too-long", 400, "invalid_request_error", anthropic.BadRequestError),
        ("error-429", 429, "rate_limit_error", anthropic.RateLimitError),
        ("error-500", 502, "api_error", anthropic.InternalServerError),
        ("overloaded", 503, "overloaded_error", anthropic.InternalServerError),
    ],
)
async def test_upstream_errors_in_anthropic_shape(
    client: anthropic.AsyncAnthropic,
    stream: bool,
    model: str,
    status: int,
    error_type: str,
    error_class: type[anthropic.APIStatusError],
) -> None:
    request: Any = {
        "model": f"claude/{model}",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "x"}],
    }
    with pytest.raises(error_class) as err:
        if stream:
            async with client.messages.stream(**request) as events:
                await events.get_final_message()
        else:
            await client.messages.create(**request)
    assert err.value.status_code == status
    body: Any = err.value.body
    assert body["type"] == "error" and body["error"]["type"] == error_type
    if model == "error-429":
        assert err.value.response.headers["retry-after"] == "7"


async def test_error_event_mid_stream(client: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.APIStatusError) as err:
        async with client.messages.stream(
            model="claude/stream-error", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        ) as events:
            await events.get_final_message()
    assert err.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


async def test_count_tokens_forwarded_or_estimated(
    client: anthropic.AsyncAnthropic, fake_claude: FakeAnthropic
) -> None:
    messages: Any = [{"role": "user", "content": "count these few words please"}]
    counted = await client.messages.count_tokens(model="sonnet", messages=messages, system="Sys.")
    assert fake_claude.last.path == "/v1/messages/count_tokens"
    assert fake_claude.last.json == {"model": "claude-test", "messages": messages, "system": "Sys."}
    assert counted.input_tokens == len(re.findall(r"\w+", orjson.dumps(messages).decode())) + 3
    estimated = await client.messages.count_tokens(
        model="gpt-test", messages=messages, system="Sys."
    )
    assert (
        estimated.input_tokens
        == estimate_input_tokens({"messages": messages, "system": "Sys."})
        == 12
    )


# --- the gateway's own errors ------------------------------------------------------------------


async def test_no_key_is_401(gw: RunningGateway) -> None:
    body = orjson.dumps(
        {"model": "gpt-test", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    )
    status, raw, _ = await _raw(gw, "/v1/messages", body, {"anthropic-version": "2023-06-01"})
    assert status == 401
    assert orjson.loads(raw)["type"] == "error"
    assert orjson.loads(raw)["error"]["type"] == "authentication_error"
    wrong = anthropic.AsyncAnthropic(base_url=gw.url, api_key="not-a-valid-key-0000", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        await wrong.messages.create(
            model="gpt-test", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )


async def test_bearer_key_is_accepted(gw: RunningGateway) -> None:
    bearer = anthropic.AsyncAnthropic(base_url=gw.url, auth_token=CLIENT_KEY, max_retries=0)
    message = await bearer.messages.create(
        model="bastion/echo", max_tokens=5, messages=[{"role": "user", "content": "yes"}]
    )
    assert message.content[0].type == "text" and message.content[0].text == "yes"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", None),
        (
            orjson.dumps({"model": "gpt-test", "messages": [{"role": "user", "content": "x"}]}),
            "max_tokens: Field required (a positive integer).",
        ),
        (
            orjson.dumps({"model": "gpt-test", "max_tokens": 5, "messages": []}),
            "messages: Field required (a non-empty array).",
        ),
        (
            orjson.dumps(
                {
                    "model": "gpt-test",
                    "max_tokens": 5,
                    "messages": [{"role": "system", "content": "x"}],
                }
            ),
            "messages.0.role: Input should be 'user' or 'assistant'.",
        ),
    ],
)
async def test_bad_body_is_400_in_anthropic_shape(
    gw: RunningGateway, body: bytes, message: str | None
) -> None:
    status, raw, content_type = await _raw(gw, "/v1/messages", body, {"x-api-key": CLIENT_KEY})
    assert status == 400 and content_type == "application/json"
    data = orjson.loads(raw)
    assert set(data) == {"type", "error"} and data["type"] == "error"
    assert data["error"]["type"] == "invalid_request_error"
    if message is not None:
        assert data["error"]["message"] == message


async def test_unknown_model_is_404(client: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as err:
        await client.messages.create(
            model="no-such-model", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert err.value.body == {
        "type": "error",
        "error": {
            "type": "not_found_error",
            "message": "The model 'no-such-model' does not exist or you do not have access to it.",
        },
    }


# --- metering: the spend ledger gets the real usage, passed through or translated ----------------


async def test_spend_is_metered_for_native_and_translated_answers(
    fake_claude: FakeAnthropic, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    database = f"sqlite:///{tmp_path / 'bastion.db'}"
    config = settings(
        database,
        tmp_path,
        providers={
            "claude": fake_claude.provider_config(),
            "up": {"kind": "openai", "base_url": fake_openai.url, "api_key": DEFAULT_API_KEY},
        },
    )
    async with governed_gateway(**config) as gw, governance_client(gw.url) as admin:
        key = (await admin.ok("POST", "/admin/v1/keys", {"name": "meter"}))["key"]
        sdk = anthropic.AsyncAnthropic(base_url=gw.url, api_key=key, max_retries=0)
        request: Any = {"max_tokens": 50, "messages": [{"role": "user", "content": "hello"}]}
        await sdk.messages.create(model="claude/cached", **request)  # native, plain
        async with sdk.messages.stream(
            model="claude/cached", **request
        ) as events:  # native, streamed
            await events.get_final_message()
        async with sdk.messages.stream(model="up/gpt-cached", **request) as events:  # translated
            await events.get_final_message()
        count = await sdk.messages.count_tokens(model="claude/cached", messages=request["messages"])
        assert count.input_tokens > 0
        await gw.gateway.governance.drain()
    engine = create_async_engine(async_url(database))
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.text(
                    "SELECT model, prompt_tokens, completion_tokens, estimated FROM spend_ledger ORDER BY id"
                )
            )
        ).all()
    await engine.dispose()
    # Anthropic's 13 input + 1800 cache reads + 200 cache writes = 2013 prompt tokens.
    assert [tuple(r)[1:] for r in rows] == [
        (2013, 75, False),
        (2013, 75, False),
        (1280, 192, False),
        (0, 0, False),
    ]
