"""The official `openai` SDK against a running gateway in front of a fake OpenAI upstream."""

from __future__ import annotations

import asyncio
import base64
import struct
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest
import pytest_asyncio

from tests.conftest import CLIENT_KEY, MASTER_KEY, RunningGateway, gateway_config, run_gateway
from tests.fakes.openai_upstream import CACHED_USAGE, FakeOpenAI

WEATHER_TOOL: Any = {
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


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def fake() -> AsyncIterator[FakeOpenAI]:
    upstream = FakeOpenAI()
    await upstream.start()
    yield upstream
    await upstream.stop()


def _config(fake: FakeOpenAI, **server: Any) -> Any:
    return gateway_config(
        server=server,
        providers={
            "up": {"kind": "openai", "base_url": fake.url, "api_key": "sk-fake-upstream-key"},
            "azure-test": {
                "kind": "azure",
                "base_url": fake.root_url,
                "api_key": "sk-fake-upstream-key",
                "api_version": "2024-10-21",
            },
            "badkey": {
                "kind": "openai_compatible",
                "base_url": fake.url,
                "api_key": "sk-wrong-key-abcdefghijkl",
            },
            "down": {"kind": "openai_compatible", "base_url": "http://127.0.0.1:9/v1"},
        },
        models=[
            {"name": "gpt-test", "provider": "up", "model": "gpt-4o-mini"},
            {"name": "tools", "provider": "up", "model": "tool-call"},
            {"name": "parallel", "provider": "up", "model": "parallel-tools"},
            {"name": "echo-body", "provider": "up", "model": "echo-body"},
            {
                "name": "slow",
                "provider": "up",
                "model": "slow-3",
                "timeouts": {"first_byte": 0.5, "total": 5},
            },
            {"name": "hang", "provider": "up", "model": "stream-hang"},
            {"name": "azure-gpt", "provider": "azure-test", "model": "my-deployment"},
            {"name": "embed", "provider": "up", "model": "text-embedding-3-small"},
        ],
    )


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def gw(fake: FakeOpenAI) -> AsyncIterator[RunningGateway]:
    async with run_gateway(_config(fake, max_body_bytes=64 * 1024)) as running:
        yield running


@pytest.fixture
def client(gw: RunningGateway) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.base_url, api_key=CLIENT_KEY, max_retries=0)


pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_plain_chat(client: openai.AsyncOpenAI, fake: FakeOpenAI) -> None:
    fake.reset()
    raw = await client.chat.completions.with_raw_response.create(
        model="gpt-test", messages=[{"role": "user", "content": "hi there"}], temperature=0.2
    )
    reply = raw.parse()
    assert reply.choices[0].message.content == "Hello! You said: hi there"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.object == "chat.completion"
    assert reply.usage is not None
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens > 0
    assert raw.headers["x-request-id"]
    assert raw.headers["server-timing"].startswith("gateway;dur=")
    assert raw.headers["x-bastion-served-by"] == "up/gpt-4o-mini"
    sent = fake.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-fake-upstream-key"
    assert sent.json == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi there"}],
        "temperature": 0.2,
    }


async def test_unknown_fields_pass_through_untouched(
    client: openai.AsyncOpenAI, fake: FakeOpenAI
) -> None:
    fake.reset()
    extra = {"custom_field": {"nested": [1, 2.5, None, "x"]}, "logit_bias": {"50256": -100}}
    await client.chat.completions.create(
        model="echo-body", messages=[{"role": "user", "content": "x"}], extra_body=extra
    )
    sent = fake.requests[-1].json
    assert sent is not None
    assert sent["custom_field"] == extra["custom_field"]
    assert sent["logit_bias"] == extra["logit_bias"]
    assert sent["model"] == "echo-body"


async def test_cached_and_reasoning_usage_pass_through(client: openai.AsyncOpenAI) -> None:
    reply = await client.chat.completions.create(
        model="up/gpt-cached", messages=[{"role": "user", "content": "x"}]
    )
    assert reply.usage is not None
    assert reply.usage.model_dump(exclude_none=True) == CACHED_USAGE


async def test_streamed_chat_with_usage(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="gpt-test",
        messages=[{"role": "user", "content": "stream me"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage = "", None, None
    async for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    assert text == "Hello! You said: stream me"
    assert finish == "stop"
    assert (
        usage is not None
        and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens > 0
    )


async def test_tool_call_round_trip(client: openai.AsyncOpenAI) -> None:
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    first = await client.chat.completions.create(
        model="tools", messages=messages, tools=[WEATHER_TOOL]
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls or []
    assert len(calls) == 1 and calls[0].type == "function"
    assert calls[0].function.name == "get_weather"
    assert calls[0].function.arguments == '{"city": "Paris"}'
    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": calls[0].id, "content": "18C and sunny"},
    ]
    second = await client.chat.completions.create(
        model="tools", messages=messages, tools=[WEATHER_TOOL]
    )
    assert second.choices[0].message.content == "The tool said: 18C and sunny"


async def test_streamed_tool_call_arguments_are_reassembled(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="parallel",
        messages=[{"role": "user", "content": "Paris and London"}],
        tools=[WEATHER_TOOL],
        stream=True,
    )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    async for chunk in stream:
        if not chunk.choices:
            continue
        for delta in chunk.choices[0].delta.tool_calls or []:
            entry = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] += delta.id or ""
            if delta.function:
                entry["name"] += delta.function.name or ""
                entry["arguments"] += delta.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls"
    assert [(c["name"], c["arguments"]) for _, c in sorted(calls.items())] == [
        ("get_weather", '{"city": "Paris"}'),
        ("get_weather", '{"city": "London"}'),
    ]
    assert all(c["id"].startswith("call_") for c in calls.values())


async def test_embeddings_base64_and_float(client: openai.AsyncOpenAI, fake: FakeOpenAI) -> None:
    fake.reset()
    result = await client.embeddings.create(
        model="embed", input=["alpha", "beta"]
    )  # SDK asks for base64
    assert [d.index for d in result.data] == [0, 1]
    assert all(len(d.embedding) == 8 for d in result.data)
    assert (
        fake.requests[-1].json is not None and fake.requests[-1].json["encoding_format"] == "base64"
    )
    floats = await client.embeddings.create(
        model="embed", input=["alpha", "beta"], encoding_format="float"
    )
    for a, b in zip(result.data, floats.data, strict=True):
        assert a.embedding == pytest.approx(b.embedding, rel=1e-6)
    assert result.usage.prompt_tokens == floats.usage.prompt_tokens > 0
    packed = base64.b64encode(struct.pack("<8f", *floats.data[0].embedding))
    assert packed  # the base64 wire form decodes to the same floats (checked above through the SDK)


async def test_model_list(client: openai.AsyncOpenAI) -> None:
    models = await client.models.list()
    assert [m.id for m in models.data] == [
        "gpt-test",
        "tools",
        "parallel",
        "echo-body",
        "slow",
        "hang",
        "azure-gpt",
        "embed",
    ]


async def test_azure_layout(client: openai.AsyncOpenAI, fake: FakeOpenAI) -> None:
    fake.reset()
    reply = await client.chat.completions.create(
        model="azure-gpt", messages=[{"role": "user", "content": "az"}]
    )
    assert reply.choices[0].message.content == "Hello! You said: az"
    sent = fake.requests[-1]
    assert sent.path == "/openai/deployments/my-deployment/chat/completions"
    assert sent.query == {"api-version": "2024-10-21"}
    assert sent.headers["api-key"] == "sk-fake-upstream-key"
    assert "authorization" not in sent.headers


async def test_missing_and_wrong_keys_get_401(gw: RunningGateway) -> None:
    for key in ("", "not-a-real-key-at-all"):
        bad = openai.AsyncOpenAI(base_url=gw.base_url, api_key=key or "x", max_retries=0)
        if not key:
            bad = openai.AsyncOpenAI(
                base_url=gw.base_url,
                api_key="unused",
                max_retries=0,
                default_headers={"Authorization": ""},
            )
        with pytest.raises(openai.AuthenticationError) as caught:
            await bad.chat.completions.create(
                model="gpt-test", messages=[{"role": "user", "content": "x"}]
            )
        assert caught.value.status_code == 401
        assert caught.value.code == "invalid_api_key"
    master = openai.AsyncOpenAI(base_url=gw.base_url, api_key=MASTER_KEY, max_retries=0)
    assert (await master.models.list()).data


async def test_bad_requests_get_400_naming_the_field(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="gpt-test", messages=[])
    assert caught.value.status_code == 400 and caught.value.param == "messages"
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            model="gpt-test",
            messages=[{"role": "user", "content": "x"}],
            extra_body={"temperature": "hot"},
        )
    assert caught.value.param == "temperature"
    with pytest.raises(openai.BadRequestError) as caught:
        await client.post(
            "/chat/completions",
            body={"messages": [{"role": "user", "content": "x"}]},
            cast_to=object,
        )
    assert caught.value.param == "model"


async def test_unknown_model_gets_404(client: openai.AsyncOpenAI) -> None:
    for name in ("no-such-model", "nowhere/gpt-4o", "up"):
        with pytest.raises(openai.NotFoundError) as caught:
            await client.chat.completions.create(
                model=name, messages=[{"role": "user", "content": "x"}]
            )
        assert caught.value.code == "model_not_found"
        assert "gpt-test" not in caught.value.message  # reveals nothing else


async def test_raw_http_errors(gw: RunningGateway) -> None:
    headers = {"Authorization": f"Bearer {CLIENT_KEY}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session:
        async with session.post(
            gw.base_url + "/chat/completions", data=b"{not json", headers=headers
        ) as r:
            assert r.status == 400
            assert (await r.json())["error"]["code"] == "invalid_json"
        async with session.post(
            gw.base_url + "/chat/completions", data=b"[1, 2]", headers=headers
        ) as r:
            assert r.status == 400
        big = (
            b'{"model": "gpt-test", "messages": [{"role": "user", "content": "'
            + b"x" * 70_000
            + b'"}]}'
        )
        async with session.post(gw.base_url + "/chat/completions", data=big, headers=headers) as r:
            assert r.status == 413
            assert (await r.json())["error"]["code"] == "request_too_large"
        async with session.get(gw.base_url + "/chat/completions", headers=headers) as r:
            assert r.status == 405
        async with session.post(gw.base_url + "/nope", data=b"{}", headers=headers) as r:
            assert r.status == 404
            assert set((await r.json())["error"]) == {"message", "type", "param", "code"}


@pytest.mark.parametrize(
    ("model", "status", "error"),
    [
        ("error-429", 429, openai.RateLimitError),
        ("error-500", 502, openai.InternalServerError),
        ("error-503", 503, openai.InternalServerError),
        ("error-400", 400, openai.BadRequestError),
    ],
)
async def test_upstream_errors_are_mapped(
    client: openai.AsyncOpenAI, model: str, status: int, error: type[openai.APIStatusError]
) -> None:
    for stream in (False, True):
        with pytest.raises(error) as caught:
            await client.chat.completions.create(
                model=f"up/{model}", messages=[{"role": "user", "content": "x"}], stream=stream
            )
        assert caught.value.status_code == status
        body = caught.value.body
        assert isinstance(body, dict) and set(body) >= {"message", "type", "code"}
        if status == 429:
            assert caught.value.response.headers["retry-after"] == "7"


async def test_upstream_timeout_gives_504(client: openai.AsyncOpenAI) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(openai.APIStatusError) as caught:
        await client.chat.completions.create(
            model="slow", messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.status_code == 504
    assert caught.value.code == "upstream_timeout"
    assert loop.time() - started < 2.5


async def test_upstream_down_gives_502(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        await client.chat.completions.create(
            model="down/m", messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.status_code == 502
    assert caught.value.code == "upstream_connection_error"


async def test_provider_credentials_never_reach_the_caller(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        await client.chat.completions.create(
            model="badkey/gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.status_code == 502
    assert caught.value.code == "upstream_auth_error"
    text = caught.value.response.text
    assert "sk-wrong" not in text and "abcdefghijkl" not in text


async def test_client_disconnect_mid_stream_closes_the_upstream(
    gw: RunningGateway, fake: FakeOpenAI
) -> None:
    fake.reset()
    headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
    body = {"model": "hang", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    async with aiohttp.ClientSession() as session:
        response = await session.post(gw.base_url + "/chat/completions", json=body, headers=headers)
        assert response.status == 200
        first = await response.content.readany()
        assert first.startswith(b"data: ")
        response.close()  # drop the connection mid-stream
    await asyncio.wait_for(fake.stream_cancelled.wait(), 5)
    assert fake.disconnects == 1
