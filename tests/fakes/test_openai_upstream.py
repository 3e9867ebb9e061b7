"""The fake OpenAI upstream, driven by the official ``openai`` SDK and by raw HTTP."""

from __future__ import annotations

import asyncio
import base64
import struct
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import orjson
import pytest
import pytest_asyncio
from multidict import CIMultiDict

from tests.fakes.openai_upstream import (
    CACHED_USAGE,
    DEFAULT_API_KEY,
    MODEL_CATALOG,
    SYSTEM_FINGERPRINT,
    TOOL_ARGUMENTS,
    FakeOpenAI,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

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
TIME_TOOL: Any = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
}
HI: Any = [{"role": "user", "content": "hi there"}]


def usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


# "hi there": 3 + (4 + 2) prompt tokens; "Hello! You said: hi there" streams as 5 pieces.
HI_USAGE = usage(9, 5)


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def fake() -> AsyncIterator[FakeOpenAI]:
    upstream = FakeOpenAI()
    await upstream.start()
    yield upstream
    await upstream.stop()


@pytest.fixture(autouse=True)
def fresh(fake: FakeOpenAI) -> None:
    fake.reset()


@pytest_asyncio.fixture(loop_scope="session")
async def client(fake: FakeOpenAI) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=fake.url, api_key=DEFAULT_API_KEY, max_retries=0) as sdk:
        yield sdk


@pytest_asyncio.fixture(loop_scope="session")
async def azure(fake: FakeOpenAI) -> AsyncIterator[openai.AsyncAzureOpenAI]:
    async with openai.AsyncAzureOpenAI(
        azure_endpoint=fake.root_url,
        api_version="2024-10-21",
        api_key=DEFAULT_API_KEY,
        max_retries=0,
    ) as sdk:
        yield sdk


async def post(
    url: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, CIMultiDict[str], bytes]:
    """POST ``body`` (bytes as they are, anything else as JSON) with the fake's key."""
    sent = {"Authorization": f"Bearer {DEFAULT_API_KEY}", "Content-Type": "application/json"}
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=data, headers=sent | (headers or {})) as response,
    ):
        return response.status, CIMultiDict(response.headers), await response.read()


def events(raw: bytes) -> list[dict[str, Any]]:
    """The JSON events of an SSE body, checking OpenAI's framing and the final [DONE]."""
    assert raw.endswith(b"\n\ndata: [DONE]\n\n")
    frames = raw.split(b"\n\n")[:-2]
    assert all(frame.startswith(b"data: {") for frame in frames)
    return [orjson.loads(frame[len(b"data: ") :]) for frame in frames]


async def test_plain_chat_has_the_documented_shape(fake: FakeOpenAI) -> None:
    status, headers, raw = await post(
        fake.url + "/chat/completions", {"model": "gpt-4o-mini", "messages": HI}
    )
    body = orjson.loads(raw)
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert headers["x-request-id"].startswith("req_") and headers["openai-version"] == "2020-10-01"
    assert list(body) == [
        "id", "object", "created", "model", "choices", "usage", "service_tier", "system_fingerprint"
    ]  # fmt: skip
    assert body["id"].startswith("chatcmpl-") and isinstance(body["created"], int)
    assert (body["object"], body["model"]) == ("chat.completion", "gpt-4o-mini-2024-07-18")
    assert (body["service_tier"], body["system_fingerprint"]) == ("default", SYSTEM_FINGERPRINT)
    assert body["choices"] == [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Hello! You said: hi there",
                "refusal": None,
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    assert body["usage"] == HI_USAGE


async def test_sdk_chat_is_recorded(client: openai.AsyncOpenAI, fake: FakeOpenAI) -> None:
    parts: Any = [{"type": "text", "text": "hi"}, {"type": "text", "text": "there"}]
    reply = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": parts}], temperature=0.2
    )
    assert reply.choices[0].message.content == "Hello! You said: hi there"
    assert reply.usage is not None and reply.usage.model_dump(exclude_none=True) == HI_USAGE
    [sent] = fake.requests
    assert (sent.method, sent.path, sent.query) == ("POST", "/v1/chat/completions", {})
    assert sent.headers["authorization"] == f"Bearer {DEFAULT_API_KEY}"
    assert sent.json == {
        "messages": [{"role": "user", "content": parts}],
        "model": "gpt-4o-mini",
        "temperature": 0.2,
    }
    assert orjson.loads(sent.body) == sent.json


async def test_stream_with_usage_reassembles_through_the_sdk(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=HI, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "Hello! You said: hi there"
    )
    assert [c.choices[0].finish_reason for c in chunks[:-1]] == [None] * 6 + ["stop"]
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == HI_USAGE["total_tokens"]
    assert len({c.id for c in chunks}) == 1 and chunks[0].model == "gpt-4o-mini-2024-07-18"


async def test_stream_wire_format(fake: FakeOpenAI) -> None:
    request = {"model": "gpt-4o-mini", "messages": HI, "stream": True}
    with_usage = request | {"stream_options": {"include_usage": True}}
    status, headers, raw = await post(fake.url + "/chat/completions", with_usage)
    assert status == 200 and headers["Content-Type"] == "text/event-stream; charset=utf-8"
    chunks = events(raw)
    assert [list(c) for c in chunks] == [
        ["id", "object", "created", "model", "service_tier", "system_fingerprint", "choices", "usage", "obfuscation"]
    ] * 8  # fmt: skip
    assert [c["choices"][0]["delta"] for c in chunks[:-1]] == [
        {"role": "assistant", "content": "", "refusal": None},
        {"content": "Hello!"},
        {"content": " You"},
        {"content": " said:"},
        {"content": " hi"},
        {"content": " there"},
        {},
    ]
    assert chunks[-2]["choices"] == [
        {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    ]
    assert [c["usage"] for c in chunks] == [None] * 7 + [HI_USAGE]
    assert chunks[-1]["choices"] == []
    # Without include_usage there is no usage key at all; obfuscation can be turned off.
    plain = request | {"stream_options": {"include_obfuscation": False}}
    chunks = events((await post(fake.url + "/chat/completions", plain))[2])
    assert len(chunks) == 7 and all("usage" not in c and "obfuscation" not in c for c in chunks)


async def test_tool_call_and_tool_result(client: openai.AsyncOpenAI) -> None:
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    first = await client.chat.completions.create(
        model="tool-call", messages=messages, tools=[WEATHER_TOOL]
    )
    choice = first.choices[0]
    assert (choice.finish_reason, choice.message.content) == ("tool_calls", None)
    [call] = choice.message.tool_calls or []
    assert call.id.startswith("call_") and call.type == "function"
    assert (call.function.name, call.function.arguments) == ("get_weather", TOOL_ARGUMENTS[0])
    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"},
    ]
    second = await client.chat.completions.create(
        model="tool-call", messages=messages, tools=[WEATHER_TOOL]
    )
    assert second.choices[0].message.content == "The tool said: 18C and sunny"
    assert second.choices[0].finish_reason == "stop"
    # Without tools, or with tool_choice "none", "tool-call" answers with text.
    plain = await client.chat.completions.create(model="tool-call", messages=HI)
    assert plain.choices[0].message.content == "Hello! You said: hi there"
    none = await client.chat.completions.create(
        model="tool-call", messages=HI, tools=[WEATHER_TOOL], tool_choice="none"
    )
    assert none.choices[0].message.content == "Hello! You said: hi there"


async def test_streamed_tool_call_deltas(client: openai.AsyncOpenAI, fake: FakeOpenAI) -> None:
    body = {"model": "tool-call", "messages": HI, "tools": [WEATHER_TOOL], "stream": True}
    chunks = events((await post(fake.url + "/chat/completions", body))[2])
    deltas = [c["choices"][0]["delta"] for c in chunks]
    call_id = deltas[0]["tool_calls"][0]["id"]
    assert call_id.startswith("call_")
    assert deltas[0] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "index": 0,
                "id": call_id,
                "type": "function",
                "function": {"name": "get_weather", "arguments": ""},
            }
        ],
        "refusal": None,
    }
    fragments = [d["tool_calls"][0] for d in deltas[1:-1]]
    assert [f["function"]["arguments"] for f in fragments] == ['{"', "city", '": "', "Paris", '"}']
    assert all(set(f) == {"index", "function"} and f["index"] == 0 for f in fragments)
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls" and deltas[-1] == {}
    # The SDK's stream helper accumulates the deltas into the final message.
    async with client.chat.completions.stream(
        model="tool-call", messages=HI, tools=[WEATHER_TOOL]
    ) as stream:
        final = await stream.get_final_completion()
    [call] = final.choices[0].message.tool_calls or []
    assert (call.function.name, call.function.arguments) == ("get_weather", TOOL_ARGUMENTS[0])
    assert final.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("model", "order"),
    [("parallel-tools", [0] * 6 + [1] * 6), ("parallel-tools-interleaved", [0, 1] * 6)],
)
async def test_parallel_tool_calls(
    client: openai.AsyncOpenAI, fake: FakeOpenAI, model: str, order: list[int]
) -> None:
    body = {"model": model, "messages": HI, "tools": [WEATHER_TOOL, TIME_TOOL], "stream": True}
    chunks = events((await post(fake.url + "/chat/completions", body))[2])
    assert [c["choices"][0]["delta"]["tool_calls"][0]["index"] for c in chunks[:-1]] == order
    reply = await client.chat.completions.create(
        model=model, messages=HI, tools=[WEATHER_TOOL, TIME_TOOL]
    )
    calls = reply.choices[0].message.tool_calls or []
    assert [(c.function.name, c.function.arguments) for c in calls if c.type == "function"] == [
        ("get_weather", TOOL_ARGUMENTS[0]),
        ("get_time", TOOL_ARGUMENTS[1]),
    ]
    async with client.chat.completions.stream(
        model=model, messages=HI, tools=[WEATHER_TOOL]
    ) as stream:
        final = await stream.get_final_completion()
    streamed = final.choices[0].message.tool_calls or []
    assert [(c.function.name, c.function.arguments) for c in streamed if c.type == "function"] == [
        ("get_weather", TOOL_ARGUMENTS[0]),
        ("get_weather", TOOL_ARGUMENTS[1]),
    ]
    assert len({c.id for c in streamed}) == 2


async def test_max_tokens_cuts_the_answer(client: openai.AsyncOpenAI) -> None:
    reply = await client.chat.completions.create(
        model="gpt-4o-mini", messages=HI, max_completion_tokens=2
    )
    assert (reply.choices[0].message.content, reply.choices[0].finish_reason) == (
        "Hello! You",
        "length",
    )
    assert reply.usage is not None and reply.usage.completion_tokens == 2


async def test_cached_and_reasoning_usage(client: openai.AsyncOpenAI, fake: FakeOpenAI) -> None:
    body = orjson.loads(
        (await post(fake.url + "/chat/completions", {"model": "gpt-cached", "messages": HI}))[2]
    )
    assert body["usage"] == CACHED_USAGE
    assert CACHED_USAGE["prompt_tokens_details"]["cached_tokens"] == 1024
    assert CACHED_USAGE["completion_tokens_details"]["reasoning_tokens"] == 128
    stream = await client.chat.completions.create(
        model="gpt-cached", messages=HI, stream=True, stream_options={"include_usage": True}
    )
    last = [chunk async for chunk in stream][-1]
    assert last.usage is not None and last.usage.prompt_tokens_details is not None
    assert last.usage.prompt_tokens_details.cached_tokens == 1024


async def test_echo_body_returns_the_request(client: openai.AsyncOpenAI) -> None:
    extra = {"custom_field": {"nested": [1, 2.5, None, "x"]}, "logit_bias": {"50256": -100}}
    reply = await client.chat.completions.create(model="echo-body", messages=HI, extra_body=extra)
    assert orjson.loads(reply.choices[0].message.content or "") == {
        "messages": HI,
        "model": "echo-body",
        **extra,
    }


@pytest.mark.parametrize(
    ("model", "error", "type_", "code"),
    [
        ("error-400", openai.BadRequestError, "invalid_request_error", "context_length_exceeded"),
        ("error-404", openai.NotFoundError, "invalid_request_error", "model_not_found"),
        ("error-429", openai.RateLimitError, "requests", "rate_limit_exceeded"),
        ("error-500", openai.InternalServerError, "server_error", None),
        ("error-503", openai.InternalServerError, "server_error", None),
    ],
)
async def test_scenario_errors(
    client: openai.AsyncOpenAI,
    model: str,
    error: type[openai.APIStatusError],
    type_: str,
    code: str | None,
) -> None:
    for stream in (False, True):
        with pytest.raises(error) as caught:
            await client.chat.completions.create(model=model, messages=HI, stream=stream)
        assert caught.value.status_code == int(model[-3:])
        assert isinstance(caught.value.body, dict)
        assert set(caught.value.body) == {"message", "type", "param", "code"}
        assert (caught.value.type, caught.value.code) == (type_, code)
        headers = caught.value.response.headers
        assert ("retry-after" in headers) == (model == "error-429")
    if model == "error-429":
        assert headers["retry-after"] == "7" and headers["x-ratelimit-remaining-requests"] == "0"
    with pytest.raises(error):
        await client.embeddings.create(model=model, input="x")


async def test_keys_are_checked(fake: FakeOpenAI) -> None:
    status, _, raw = await post(
        fake.url + "/chat/completions",
        {"model": "gpt-4o-mini", "messages": HI},
        {"Authorization": ""},
    )
    error = orjson.loads(raw)["error"]
    assert status == 401 and error["message"].startswith("You didn't provide an API key.")
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", None, None)
    async with openai.AsyncOpenAI(
        base_url=fake.url, api_key="sk-wrong-key-abcdefghijkl", max_retries=0
    ) as wrong:
        with pytest.raises(openai.AuthenticationError) as caught:
            await wrong.models.list()
        with pytest.raises(openai.AuthenticationError) as caught:
            await wrong.chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert (caught.value.code, caught.value.type) == ("invalid_api_key", "invalid_request_error")
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["message"] == (  # the key is masked, as OpenAI does
        "Incorrect API key provided: sk-wrong*************ijkl. "
        "You can find your API key at https://platform.openai.com/account/api-keys."
    )
    assert len(fake.requests) == 3  # refused requests are recorded too


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        (b"{not json", None, "We could not parse the JSON body of your request."),
        ({"messages": HI}, None, "you must provide a model parameter"),
        ({"model": "gpt-4o-mini"}, "messages", "Missing required parameter: 'messages'."),
        ({"model": "gpt-4o-mini", "messages": []}, "messages", "Invalid 'messages': empty array."),
        (
            {"model": "gpt-4o-mini", "messages": HI, "stream_options": {"include_usage": True}},
            "stream_options",
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        ),
    ],
)
async def test_invalid_requests(
    fake: FakeOpenAI, body: Any, param: str | None, message: str
) -> None:
    status, _, raw = await post(fake.url + "/chat/completions", body)
    error = orjson.loads(raw)["error"]
    assert status == 400 and error["message"].startswith(message)
    assert (error["type"], error["param"]) == ("invalid_request_error", param)


async def test_slow_model_waits_before_answering(client: openai.AsyncOpenAI) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    reply = await client.chat.completions.create(model="slow-0.3", messages=HI)
    assert loop.time() - started >= 0.3
    assert reply.choices[0].message.content == "Hello! You said: hi there"
    assert reply.model == "slow-0.3-2024-07-18"


async def test_client_leaving_a_hung_stream_is_counted(fake: FakeOpenAI) -> None:
    body = {"model": "stream-hang", "messages": HI, "stream": True}
    headers = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
    async with aiohttp.ClientSession() as session:
        response = await session.post(fake.url + "/chat/completions", json=body, headers=headers)
        received = b""
        while received.count(b"\n\n") < 2:
            received += await response.content.readany()
        response.close()  # drop the connection mid-stream
    await asyncio.wait_for(fake.stream_cancelled.wait(), 5)
    assert fake.disconnects == 1
    deltas = [c["choices"][0]["delta"] for c in events(received + b"data: [DONE]\n\n")]
    assert deltas == [{"role": "assistant", "content": "", "refusal": None}, {"content": "Hello!"}]


async def test_client_leaving_during_a_slow_stream_is_counted(fake: FakeOpenAI) -> None:
    body = {"model": "slow-5", "messages": HI, "stream": True}
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(post(fake.url + "/chat/completions", body), 0.2)
    await asyncio.wait_for(fake.stream_cancelled.wait(), 5)
    assert fake.disconnects == 1


async def test_finished_streams_are_not_disconnects(
    client: openai.AsyncOpenAI, fake: FakeOpenAI
) -> None:
    stream = await client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True)
    assert len([c async for c in stream]) == 7
    await asyncio.sleep(0.05)
    assert fake.disconnects == 0 and not fake.stream_cancelled.is_set()


async def test_embeddings_base64_by_default_and_float(
    client: openai.AsyncOpenAI, fake: FakeOpenAI
) -> None:
    decoded = await client.embeddings.create(
        model="text-embedding-3-small", input=["alpha", "beta"]
    )
    assert fake.requests[-1].json == {
        "model": "text-embedding-3-small",
        "input": ["alpha", "beta"],
        "encoding_format": "base64",  # the SDK asks for base64 unless told otherwise
    }
    floats = await client.embeddings.create(
        model="text-embedding-3-small", input=["alpha", "beta"], encoding_format="float"
    )
    assert [d.embedding for d in decoded.data] == [d.embedding for d in floats.data]
    assert [(d.index, d.object, len(d.embedding)) for d in floats.data] == [
        (0, "embedding", 8),
        (1, "embedding", 8),
    ]
    assert floats.data[0].embedding != floats.data[1].embedding
    assert sum(x * x for x in floats.data[0].embedding) == pytest.approx(1.0, rel=1e-5)
    assert (floats.object, floats.model) == ("list", "text-embedding-3-small")
    assert floats.usage.model_dump() == {"prompt_tokens": 2, "total_tokens": 2}
    # On the wire, base64 is the little-endian float32 bytes of the same vector.
    body = {"model": "text-embedding-3-small", "input": "alpha", "encoding_format": "base64"}
    raw = orjson.loads((await post(fake.url + "/embeddings", body))[2])
    assert list(raw["data"][0]) == ["object", "embedding", "index"]
    packed = base64.b64decode(raw["data"][0]["embedding"])
    assert list(struct.unpack("<8f", packed)) == floats.data[0].embedding


async def test_embeddings_dimensions_and_token_input(client: openai.AsyncOpenAI) -> None:
    short = await client.embeddings.create(
        model="text-embedding-3-small", input="alpha", dimensions=4
    )
    assert len(short.data[0].embedding) == 4
    tokens = await client.embeddings.create(
        model="text-embedding-3-small", input=[[1, 2, 3], [4, 5]], encoding_format="float"
    )
    assert [len(d.embedding) for d in tokens.data] == [8, 8]
    assert tokens.usage.prompt_tokens == 5
    with pytest.raises(openai.BadRequestError) as caught:
        await client.embeddings.create(model="text-embedding-3-small", input=[])
    assert caught.value.status_code == 400


async def test_models(client: openai.AsyncOpenAI) -> None:
    models = await client.models.list()
    assert [(m.id, m.object, m.owned_by) for m in models.data] == [
        (model_id, "model", owner) for model_id, owner in MODEL_CATALOG
    ]
    model = await client.models.retrieve("gpt-4o-mini")
    assert (model.id, model.object, model.owned_by) == ("gpt-4o-mini", "model", "system")
    with pytest.raises(openai.NotFoundError) as caught:
        await client.models.retrieve("no-such-model")
    assert caught.value.code == "model_not_found"


async def test_azure_chat(azure: openai.AsyncAzureOpenAI, fake: FakeOpenAI) -> None:
    reply = await azure.chat.completions.create(model="my-deployment", messages=HI)
    assert reply.choices[0].message.content == "Hello! You said: hi there"
    assert reply.model == "my-deployment-2024-07-18"
    [sent] = fake.requests
    assert sent.path == "/openai/deployments/my-deployment/chat/completions"
    assert sent.query == {"api-version": "2024-10-21"}
    assert sent.headers["api-key"] == DEFAULT_API_KEY and "authorization" not in sent.headers
    stream = await azure.chat.completions.create(
        model="my-deployment", messages=HI, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert chunks[0].choices == [] and chunks[0].id == ""  # Azure's prompt-filter chunk
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "Hello! You said: hi there"
    )
    assert (
        chunks[-1].usage is not None and chunks[-1].usage.total_tokens == HI_USAGE["total_tokens"]
    )
    embedded = await azure.embeddings.create(model="my-embedder", input="alpha")
    assert len(embedded.data[0].embedding) == 8
    assert fake.requests[-1].path == "/openai/deployments/my-embedder/embeddings"


async def test_azure_wire_format_and_errors(fake: FakeOpenAI) -> None:
    url = fake.root_url + "/openai/deployments/dep/chat/completions"
    key = {"api-key": DEFAULT_API_KEY, "Authorization": ""}
    status, _, raw = await post(url + "?api-version=2024-10-21", {"messages": HI}, key)
    body = orjson.loads(raw)
    assert status == 200 and list(body) == sorted(body)  # Azure sorts keys
    assert body["prompt_filter_results"][0]["content_filter_results"]["jailbreak"] == {
        "filtered": False,
        "detected": False,
    }
    assert body["choices"][0]["content_filter_results"]["hate"] == {
        "filtered": False,
        "severity": "safe",
    }
    cases = [
        (url, key, 404, {"code": "404", "message": "Resource not found"}),
        (
            url + "?api-version=latest",
            key,
            400,
            {"code": "BadRequest", "message": "API version not supported"},
        ),
    ]
    for target, headers, expected_status, expected_error in cases:
        status, _, raw = await post(target, {"messages": HI}, headers)
        assert (status, orjson.loads(raw)["error"]) == (expected_status, expected_error)
    status, _, raw = await post(
        url + "?api-version=2024-10-21", {"messages": HI}, {"api-key": "nope"}
    )
    assert status == 401 and orjson.loads(raw)["error"]["code"] == "401"
    async with openai.AsyncAzureOpenAI(
        azure_endpoint=fake.root_url, api_version="2024-10-21", api_key="nope", max_retries=0
    ) as bad:
        with pytest.raises(openai.AuthenticationError):
            await bad.chat.completions.create(model="dep", messages=HI)


async def test_unknown_routes_and_reset(fake: FakeOpenAI) -> None:
    status, _, raw = await post(fake.url + "/nope", {})
    assert status == 404
    assert orjson.loads(raw) == {
        "error": {
            "message": "Invalid URL (POST /v1/nope)",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
    assert [r.path for r in fake.requests] == ["/v1/nope"]
    fake.reset()
    assert (fake.requests, fake.disconnects, fake.stream_cancelled.is_set()) == ([], 0, False)


async def test_stop_ends_hung_streams_without_counting_them() -> None:
    upstream = FakeOpenAI(api_key="sk-other")
    await upstream.start()
    body = {"model": "stream-hang", "messages": HI, "stream": True}
    async with aiohttp.ClientSession() as session:
        response = await session.post(
            upstream.url + "/chat/completions",
            json=body,
            headers={"Authorization": "Bearer sk-other"},
        )
        assert (await response.content.readany()).startswith(b"data: ")
        loop = asyncio.get_running_loop()
        started = loop.time()
        await upstream.stop()
        assert loop.time() - started < 1.5
        response.close()
    assert (upstream.disconnects, upstream.stream_cancelled.is_set()) == (0, False)
