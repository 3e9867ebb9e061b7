"""Amazon Bedrock through the gateway: the official `openai` SDK against a fake Bedrock Runtime.

The fake verifies every SigV4 signature with botocore's signer and frames ConverseStream
answers with the real AWS event-stream encoding; the tests assert both what the client
gets and the exact Converse bodies the fake received.
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from collections.abc import AsyncIterator
from typing import Any

import openai
import orjson
import pytest
import pytest_asyncio
from yarl import URL

from bastion.config import discover_from_env
from bastion.errors import GatewayError
from bastion.providers.base import UpstreamRequest
from bastion.providers.bedrock import BedrockAdapter
from bastion.providers.bedrock_translate import converse_request
from tests.conftest import CLIENT_KEY, RunningGateway, gateway_config, run_gateway
from tests.fakes import bedrock_upstream as fb
from tests.fakes.bedrock_upstream import FakeBedrock
from tests.providers.test_aws_auth import bedrock_deployment

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
WEATHER_SPEC = {
    "toolSpec": {
        "name": "get_weather",
        "inputSchema": {"json": WEATHER["function"]["parameters"]},
        "description": "Current weather in a city",
    }
}
CLAUDE = "anthropic.claude-3-5-haiku-20241022-v1:0"
PROFILE_ARN = "arn:aws:bedrock:eu-west-3:123456789012:inference-profile/eu.anthropic.claude-3-5-sonnet-20240620-v1:0"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def fake() -> AsyncIterator[FakeBedrock]:
    upstream = FakeBedrock()
    await upstream.start()
    yield upstream
    await upstream.stop()


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def gw(fake: FakeBedrock) -> AsyncIterator[RunningGateway]:
    wrong = {**fake.provider_config(), "aws_secret_access_key": "not-the-secret-key"}
    config = gateway_config(
        providers={
            "bed": fake.provider_config(),
            "bed-temp": fake.provider_config("sigv4-temporary"),
            "bed-key": fake.provider_config("api_key"),
            "bed-chain": fake.provider_config("chain"),
            "bed-wrong": wrong,
            "bed-slow": {**fake.provider_config(), "timeouts": {"first_byte": 0.5, "total": 5}},
        },
        models=[
            {"name": "claude", "provider": "bed", "model": CLAUDE},
            {"name": "profile", "provider": "bed", "model": PROFILE_ARN},
            {"name": "titan", "provider": "bed", "model": "amazon.titan-embed-text-v2:0"},
            {"name": "cohere-embed", "provider": "bed", "model": "cohere.embed-english-v3"},
        ],
    )
    async with run_gateway(config) as running:
        yield running


@pytest.fixture
def client(gw: RunningGateway, fake: FakeBedrock) -> openai.AsyncOpenAI:
    fake.reset()
    return openai.AsyncOpenAI(base_url=gw.base_url, api_key=CLIENT_KEY, max_retries=0)


async def _stream(client: openai.AsyncOpenAI, **kwargs: Any) -> list[Any]:
    stream = await client.chat.completions.create(stream=True, **kwargs)
    return [chunk async for chunk in stream]


def _text(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


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


def _sent(fake: FakeBedrock) -> Any:
    assert fake.rejections == []
    return fake.requests[-1].json


# --- chat ----------------------------------------------------------------------------


async def test_plain_chat_sends_converse_and_reads_the_answer(
    client: openai.AsyncOpenAI, fake: FakeBedrock
) -> None:
    reply = await client.chat.completions.create(
        model="claude",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "Hello."},
            {
                "role": "user",
                "content": [{"type": "text", "text": "how are"}, {"type": "text", "text": "you"}],
            },
        ],
        temperature=0.3,
        top_p=0.9,
        max_tokens=200,
        stop="\n\n",
    )
    recorded = fake.requests[-1]
    assert recorded.auth == "sigv4" and recorded.operation == "converse"
    assert recorded.path == f"/model/{CLAUDE}/converse"
    assert recorded.headers["content-type"] == "application/json"
    assert _sent(fake) == {
        "messages": [
            {"role": "user", "content": [{"text": "hi"}]},
            {"role": "assistant", "content": [{"text": "Hello."}]},
            {"role": "user", "content": [{"text": "how are"}, {"text": "you"}]},
        ],
        "system": [{"text": "You are terse."}],
        "inferenceConfig": {
            "maxTokens": 200,
            "temperature": 0.3,
            "topP": 0.9,
            "stopSequences": ["\n\n"],
        },
    }
    assert reply.object == "chat.completion" and reply.model == CLAUDE
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content == "Hello! You said: how are you"
    assert reply.choices[0].message.tool_calls is None
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert reply.usage.model_dump(exclude_none=True) == {
        "prompt_tokens": 8,
        "completion_tokens": 14,
        "total_tokens": 22,
    }


async def test_streamed_chat_decodes_the_event_stream(
    client: openai.AsyncOpenAI, fake: FakeBedrock
) -> None:
    chunks = await _stream(
        client,
        model="claude",
        messages=[{"role": "user", "content": "hello there"}],
        stream_options={"include_usage": True},
    )
    assert fake.requests[-1].operation == "converse-stream"
    assert _sent(fake) == {"messages": [{"role": "user", "content": [{"text": "hello there"}]}]}
    assert chunks[0].choices[0].delta.role == "assistant"
    assert _text(chunks) == "Hello! You said: hello there"
    assert _finish(chunks) == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.model_dump(exclude_none=True) == {
        "prompt_tokens": 2,
        "completion_tokens": 13,
        "total_tokens": 15,
    }
    assert len({c.id for c in chunks}) == 1


async def test_inline_image_becomes_an_image_block(
    client: openai.AsyncOpenAI, fake: FakeBedrock
) -> None:
    await client.chat.completions.create(
        model="claude",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                ],
            }
        ],
    )
    assert _sent(fake)["messages"] == [
        {
            "role": "user",
            "content": [
                {"text": "What is this?"},
                {"image": {"format": "png", "source": {"bytes": PNG}}},
            ],
        }
    ]


async def test_image_url_over_http_is_a_clear_400(
    client: openai.AsyncOpenAI, fake: FakeBedrock
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            model="claude",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
                    ],
                }
            ],
        )
    assert "data: URL" in caught.value.message
    assert fake.requests == []


async def test_tool_call(client: openai.AsyncOpenAI, fake: FakeBedrock) -> None:
    reply = await client.chat.completions.create(
        model="bed/tool-call",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER],
        tool_choice="required",
    )
    assert _sent(fake)["toolConfig"] == {"tools": [WEATHER_SPEC], "toolChoice": {"any": {}}}
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    assert choice.message.tool_calls is not None and len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    assert call.id.startswith("tooluse_") and call.type == "function"
    assert (call.function.name, call.function.arguments) == ("get_weather", '{"city":"Paris"}')


async def test_streamed_tool_call_sends_argument_fragments(
    client: openai.AsyncOpenAI, fake: FakeBedrock
) -> None:
    chunks = await _stream(
        client,
        model="bed/tool-call",
        messages=[{"role": "user", "content": "Weather?"}],
        tools=[WEATHER],
    )
    assert _sent(fake)["toolConfig"] == {"tools": [WEATHER_SPEC]}
    argument_deltas = [
        d.function.arguments
        for c in chunks
        if c.choices
        for d in c.choices[0].delta.tool_calls or []
        if d.function.arguments
    ]
    assert argument_deltas == ['{"', 'city": ', '"Paris"}']
    calls = _tool_calls(chunks)
    assert [(c["name"], c["arguments"]) for c in calls] == [("get_weather", '{"city": "Paris"}')]
    assert calls[0]["id"].startswith("tooluse_")
    assert _finish(chunks) == ["tool_calls"]


@pytest.mark.parametrize("stream", [False, True])
async def test_parallel_tool_calls(
    client: openai.AsyncOpenAI, fake: FakeBedrock, stream: bool
) -> None:
    kwargs: Any = {
        "model": "bed/parallel-tools",
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


async def test_tool_results_go_back_as_tool_result_blocks(
    client: openai.AsyncOpenAI, fake: FakeBedrock
) -> None:
    reply = await client.chat.completions.create(
        model="bed/tool-call",
        messages=[
            {"role": "user", "content": "Weather in Paris and London?"},
            {
                "role": "assistant",
                "content": "Let me check.",
                "tool_calls": [
                    {
                        "id": "tooluse_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    },
                    {
                        "id": "tooluse_2",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "London"}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "tooluse_1", "content": "22 degrees"},
            {
                "role": "tool",
                "tool_call_id": "tooluse_2",
                "content": [{"type": "text", "text": "15 degrees"}],
            },
        ],
        tools=[WEATHER],
    )
    assert _sent(fake)["messages"] == [
        {"role": "user", "content": [{"text": "Weather in Paris and London?"}]},
        {
            "role": "assistant",
            "content": [
                {"text": "Let me check."},
                {
                    "toolUse": {
                        "toolUseId": "tooluse_1",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    }
                },
                {
                    "toolUse": {
                        "toolUseId": "tooluse_2",
                        "name": "get_weather",
                        "input": {"city": "London"},
                    }
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "22 degrees"}]}},
                {"toolResult": {"toolUseId": "tooluse_2", "content": [{"text": "15 degrees"}]}},
            ],
        },
    ]
    assert reply.choices[0].message.content == "The tool said: 22 degrees 15 degrees"


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        ("auto", {"tools": [WEATHER_SPEC], "toolChoice": {"auto": {}}}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"tools": [WEATHER_SPEC], "toolChoice": {"tool": {"name": "get_weather"}}},
        ),
        ("none", None),
    ],
)
async def test_tool_choice(
    client: openai.AsyncOpenAI, fake: FakeBedrock, tool_choice: Any, expected: Any
) -> None:
    await client.chat.completions.create(
        model="claude",
        messages=[{"role": "user", "content": "hi"}],
        tools=[WEATHER],
        tool_choice=tool_choice,
    )
    assert _sent(fake).get("toolConfig") == expected


@pytest.mark.parametrize("stream", [False, True])
async def test_cached_tokens_and_reasoning(
    client: openai.AsyncOpenAI, fake: FakeBedrock, stream: bool
) -> None:
    kwargs: Any = {"model": "bed/cached", "messages": [{"role": "user", "content": "hello"}]}
    if stream:
        chunks = await _stream(client, stream_options={"include_usage": True}, **kwargs)
        usage = chunks[-1].usage
        reasoning = "".join(
            (c.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
            for c in chunks
            if c.choices
        )
        content = _text(chunks)
    else:
        reply = await client.chat.completions.create(**kwargs)
        usage = reply.usage
        reasoning = (reply.choices[0].message.model_extra or {}).get("reasoning_content")
        content = reply.choices[0].message.content
    assert content == "Hello! You said: hello"
    assert reasoning == fb.REASONING_TEXT
    assert usage is not None
    assert usage.model_dump(exclude_none=True) == {
        "prompt_tokens": 12 + 1792 + 256,
        "completion_tokens": 40,
        "total_tokens": 2100,
        "prompt_tokens_details": {"cached_tokens": 1792, "cache_write_tokens": 256},
    }


async def test_json_modes(client: openai.AsyncOpenAI, fake: FakeBedrock) -> None:
    reply = await client.chat.completions.create(
        model="bed/json",
        messages=[{"role": "user", "content": "answer?"}],
        response_format={"type": "json_object"},
    )
    assert json.loads(reply.choices[0].message.content or "") == {"answer": 42}
    assert _sent(fake)["system"] == [
        {"text": "Respond with a single valid JSON object and nothing else."}
    ]
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "integer"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    reply = await client.chat.completions.create(
        model="bed/json",
        messages=[{"role": "user", "content": "answer?"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": schema, "strict": True},
        },
    )
    assert reply.choices[0].message.content == '{"answer": 42}'
    sent = _sent(fake)
    assert "system" not in sent
    assert sent["outputConfig"] == {
        "textFormat": {
            "type": "json_schema",
            "structure": {
                "jsonSchema": {"schema": orjson.dumps(schema).decode(), "name": "answer"}
            },
        }
    }


@pytest.mark.parametrize("stream", [False, True])
async def test_stop_sequence_and_length(
    client: openai.AsyncOpenAI, fake: FakeBedrock, stream: bool
) -> None:
    cases = [
        ("bed/stop-seq", {"stop": ["3"]}, "Counting: 1, 2, ", "stop"),
        ("bed/length", {"max_completion_tokens": 3}, "Hello! You said:", "length"),
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
    assert fake.requests[0].json["inferenceConfig"] == {"stopSequences": ["3"]}
    assert fake.requests[1].json["inferenceConfig"] == {"maxTokens": 3}


@pytest.mark.parametrize("stream", [False, True])
async def test_guardrail_intervention_is_content_filter(
    client: openai.AsyncOpenAI, fake: FakeBedrock, stream: bool
) -> None:
    kwargs: Any = {
        "model": "bed/content-filter",
        "messages": [{"role": "user", "content": "something bad"}],
    }
    if stream:
        chunks = await _stream(client, **kwargs)
        assert (_text(chunks), _finish(chunks)) == (fb.GUARDRAIL_TEXT, ["content_filter"])
    else:
        reply = await client.chat.completions.create(**kwargs)
        assert (reply.choices[0].message.content, reply.choices[0].finish_reason) == (
            fb.GUARDRAIL_TEXT,
            "content_filter",
        )


ERROR_CASES = [
    ("error-400", 400, "invalid_request_error", "invalid_request"),
    ("error-429", 429, "rate_limit_error", "rate_limit_exceeded"),
    ("error-500", 502, "api_error", "upstream_error"),
    ("error-503", 503, "api_error", "upstream_unavailable"),
    ("overloaded", 503, "api_error", "upstream_unavailable"),
    ("model-not-ready", 503, "api_error", "upstream_unavailable"),
    ("context-too-long", 400, "invalid_request_error", "context_length_exceeded"),
    ("access-denied", 502, "api_error", "upstream_auth_error"),
    ("model-timeout", 504, "timeout_error", "upstream_timeout"),
]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("model", "status", "type_", "code"), ERROR_CASES)
async def test_errors(
    client: openai.AsyncOpenAI,
    fake: FakeBedrock,
    model: str,
    status: int,
    type_: str,
    code: str,
    stream: bool,
) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        await client.chat.completions.create(
            model=f"bed/{model}", messages=[{"role": "user", "content": "hi"}], stream=stream
        )
    error = caught.value
    assert error.status_code == status
    body: Any = error.body
    assert (body["type"], body["code"]) == (type_, code)
    # Bedrock's throttling answers (HTTP 429) carry Retry-After in the fake; it is passed on.
    assert error.response.headers.get("retry-after") == (
        fb.RETRY_AFTER if model in ("error-429", "model-not-ready") else None
    )
    assert "amazon.com" not in body["message"] and "http" not in body["message"]


async def test_exception_in_the_stream_ends_it_with_an_error(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="bed/stream-exception", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    received: list[Any] = []
    with pytest.raises(openai.APIError) as caught:
        async for chunk in stream:
            received.append(chunk)
    assert _text(received) == "Hello! You said: hi"
    assert "The model stream failed" in caught.value.message


async def test_slow_upstream_times_out(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        await client.chat.completions.create(
            model="bed-slow/slow-2", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.status_code == 504


# --- credentials ---------------------------------------------------------------------


async def test_a_wrong_secret_is_caught_by_the_signature_check(
    client: openai.AsyncOpenAI, fake: FakeBedrock
) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        await client.chat.completions.create(
            model="bed-wrong/any-model", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.status_code == 502
    assert (caught.value.body or {}).get("code") == "upstream_auth_error"  # type: ignore[union-attr]
    assert fake.rejections == [("InvalidSignatureException", fb.SIGNATURE_MISMATCH)]


async def test_temporary_credentials_sign_the_session_token(
    client: openai.AsyncOpenAI, fake: FakeBedrock
) -> None:
    reply = await client.chat.completions.create(
        model="bed-temp/any-model", messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.choices[0].message.content == "Hello! You said: hi"
    recorded = fake.requests[-1]
    assert recorded.auth == "sigv4" and recorded.headers["x-amz-security-token"] == fb.SESSION_TOKEN
    assert "x-amz-security-token" in recorded.headers["authorization"]


async def test_bedrock_api_key_is_a_bearer_token(
    client: openai.AsyncOpenAI, fake: FakeBedrock
) -> None:
    chunks = await _stream(
        client, model="bed-key/any-model", messages=[{"role": "user", "content": "hi"}]
    )
    assert _text(chunks) == "Hello! You said: hi"
    recorded = fake.requests[-1]
    assert recorded.auth == "bearer" and recorded.headers["authorization"] == "Bearer " + fb.API_KEY
    assert "x-amz-date" not in recorded.headers


async def test_default_credential_chain(
    client: openai.AsyncOpenAI, fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", fb.TEMP_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", fb.TEMP_SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", fb.SESSION_TOKEN)
    for _ in range(2):
        reply = await client.chat.completions.create(
            model="bed-chain/any-model", messages=[{"role": "user", "content": "hi"}]
        )
        assert reply.choices[0].message.content == "Hello! You said: hi"
    assert [r.auth for r in fake.requests] == ["sigv4", "sigv4"]


async def test_inference_profile_arn_is_escaped_and_signed(
    client: openai.AsyncOpenAI, fake: FakeBedrock
) -> None:
    chunks = await _stream(client, model="profile", messages=[{"role": "user", "content": "hi"}])
    assert _text(chunks) == "Hello! You said: hi"
    recorded = fake.requests[-1]
    assert recorded.auth == "sigv4" and recorded.model == PROFILE_ARN
    assert (
        recorded.path
        == "/model/arn:aws:bedrock:eu-west-3:123456789012:inference-profile%2Feu.anthropic.claude-3-5-sonnet-20240620-v1:0/converse-stream"
    )


# --- embeddings ----------------------------------------------------------------------


async def test_titan_embeddings_one_call_per_input(
    client: openai.AsyncOpenAI, fake: FakeBedrock
) -> None:
    texts = ["first text", "the second one", "third"]
    reply = await client.embeddings.create(
        model="titan", input=texts, dimensions=256, encoding_format="float"
    )
    assert sorted((r.json["inputText"], r.operation) for r in fake.requests) == sorted(
        (t, "invoke") for t in texts
    )
    assert all(
        r.json == {"inputText": r.json["inputText"], "dimensions": 256, "normalize": True}
        for r in fake.requests
    )
    assert [d.index for d in reply.data] == [0, 1, 2]
    assert [d.embedding for d in reply.data] == [fb.embedding(t, 256) for t in texts]
    assert reply.usage.model_dump() == {"prompt_tokens": 6, "total_tokens": 6}


async def test_embeddings_in_base64_as_the_sdk_asks_by_default(
    client: openai.AsyncOpenAI, fake: FakeBedrock
) -> None:
    reply = await client.embeddings.create(
        model="titan", input="hello world"
    )  # the SDK sends base64
    assert fake.requests[-1].json == {"inputText": "hello world"} | {"normalize": True}
    expected = list(
        struct.unpack("<1024f", struct.pack("<1024f", *fb.embedding("hello world", 1024)))
    )
    assert reply.data[0].embedding == expected


async def test_cohere_embeddings_on_bedrock(client: openai.AsyncOpenAI, fake: FakeBedrock) -> None:
    reply = await client.embeddings.create(
        model="cohere-embed", input=["a b", "c"], encoding_format="float"
    )
    assert _sent(fake) == {
        "texts": ["a b", "c"],
        "input_type": "search_document",
        "embedding_types": ["float"],
    }
    assert [d.embedding for d in reply.data] == [fb.embedding("a b", 1024), fb.embedding("c", 1024)]


# --- pure parts ----------------------------------------------------------------------


def test_model_ids_are_escaped_as_aiohttp_sends_them() -> None:
    deployment = bedrock_deployment(PROFILE_ARN, "https://bedrock-runtime.eu-west-3.amazonaws.com")
    req = deployment.adapter.build_request(
        "chat", {"messages": [{"role": "user", "content": "x"}]}, deployment, stream=False
    )
    assert str(URL(req.url)) == req.url  # what is signed is what goes on the wire
    assert "%2F" in req.url


@pytest.mark.parametrize(
    ("status", "error_type", "message", "expected"),
    [
        (
            400,
            "ValidationException",
            "The model returned the following errors: prompt is too long: 210000 tokens > 200000 maximum",
            (400, "context_length_exceeded", False),
        ),
        (
            400,
            "ValidationException",
            "Too many input tokens. Max input tokens: 8192",
            (400, "context_length_exceeded", False),
        ),
        (
            400,
            "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/",
            "Malformed input request",
            (400, "invalid_request", False),
        ),
        (
            429,
            "ThrottlingException",
            "Too many tokens, please wait.",
            (429, "rate_limit_exceeded", True),
        ),
        (
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
            (502, "upstream_auth_error", False),
        ),
        (
            400,
            "ExpiredTokenException",
            "The security token included in the request is expired",
            (502, "upstream_auth_error", False),
        ),
        (404, "ResourceNotFoundException", "Model not found", (404, "model_not_found", False)),
        (424, "ModelErrorException", "The model failed", (502, "upstream_error", True)),
        (500, "InternalServerException", "oops", (502, "upstream_error", True)),
    ],
)
def test_classify_error(
    status: int, error_type: str, message: str, expected: tuple[int, str, bool]
) -> None:
    error = BedrockAdapter().classify_error(
        status, orjson.dumps({"message": message}), {"x-amzn-ErrorType": error_type}
    )
    assert (error.status, error.code, error.retryable) == expected


def test_discovered_from_the_environment() -> None:
    config = discover_from_env(
        {
            "AWS_ACCESS_KEY_ID": fb.ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": "x",
            "AWS_REGION": "eu-central-1",
        }
    )
    bedrock = config.providers["bedrock"]
    assert (bedrock.kind, (bedrock.model_extra or {}).get("region")) == ("bedrock", "eu-central-1")


async def test_fake_rejects_what_bedrock_rejects(fake: FakeBedrock) -> None:
    """The fake's own checks, so that a passing test means a body Bedrock would accept."""
    deployment = bedrock_deployment(
        base_url=fake.url,
        region=fake.region,
        aws_access_key_id=fb.ACCESS_KEY,
        aws_secret_access_key=fb.SECRET_KEY,
    )
    import aiohttp

    async def send(body: dict[str, Any]) -> tuple[int, Any]:
        req = UpstreamRequest(
            "POST",
            f"{fake.url}/model/m/converse",
            {"content-type": "application/json"},
            orjson.dumps(body),
        )
        req = await deployment.adapter.signer(req, deployment)  # type: ignore[misc]
        async with (
            aiohttp.ClientSession() as session,
            session.post(req.url, data=req.body, headers=req.headers) as resp,
        ):
            return resp.status, await resp.json()

    fake.reset()
    assert (await send({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}))[0] == 200
    bad = [
        {"messages": [{"role": "user", "content": "hi"}]},
        {"messages": [{"role": "assistant", "content": [{"text": "hi"}]}]},
        {"messages": [{"role": "user", "content": [{"text": "hi"}]}], "temperature": 1},
        {
            "messages": [
                {"role": "user", "content": [{"text": "a"}]},
                {"role": "user", "content": [{"text": "b"}]},
            ]
        },
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"toolResult": {"toolUseId": "x", "content": [{"text": "1"}]}}],
                }
            ]
        },
    ]
    for body in bad:
        status, answer = await send(body)
        assert status == 400 and answer["message"]
    assert [kind for kind, _ in fake.rejections] == ["ValidationException"] * len(bad)
    await asyncio.sleep(0)


def test_converse_request_edge_cases() -> None:
    body = {
        "messages": [
            {"role": "user", "content": "a"},
            {"role": "developer", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {
                        "type": "file",
                        "file": {
                            "filename": "Q3 report.pdf",
                            "file_data": "data:application/pdf;base64,JVBERg==",
                        },
                    }
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "t1", "type": "function", "function": {"name": "f", "arguments": ""}}
                ],
            },
        ]
    }
    assert converse_request(body, {"additional_model_request_fields": {"top_k": 5}}) == {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"text": "a"},
                    {
                        "document": {
                            "format": "pdf",
                            "name": "Q3 report",
                            "source": {"bytes": "JVBERg=="},
                        }
                    },
                ],
            },
            {
                "role": "assistant",
                "content": [{"toolUse": {"toolUseId": "t1", "name": "f", "input": {}}}],
            },
        ],
        "system": [{"text": "Be brief."}],
        "additionalModelRequestFields": {"top_k": 5},
    }
    for bad in (
        {"messages": [{"role": "user", "content": "a"}], "n": 2},
        {
            "messages": [
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "t", "function": {"name": "f", "arguments": "{oops"}}],
                }
            ]
        },
        {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
        {"messages": [{"role": "tool", "content": "x"}]},
    ):
        with pytest.raises(GatewayError) as caught:
            converse_request(bad, {})
        assert caught.value.status == 400
