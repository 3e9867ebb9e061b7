"""Gemini API and Vertex AI through the gateway: the official `openai` SDK against a fake Google.

The fake checks field names as Google's JSON parser does, Gemini's turn rules and
thought signatures, the API key header, and (Vertex) bearer tokens it issued
after verifying a real RS256 JWT assertion made by google-auth from a throwaway
service account. The tests assert what the client gets and the exact bodies the
fake received.
"""

from __future__ import annotations

import base64
import json
import struct
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric import rsa

from bastion.config import discover_from_env
from bastion.errors import GatewayError
from bastion.providers.base import Deployment, ProviderSettings, UpstreamRequest
from bastion.providers.gemini import VERTEX_BASE_URL, GeminiAdapter, VertexAdapter, google_error
from bastion.providers.gemini_schema import to_gemini_schema
from bastion.providers.gemini_translate import (
    SKIP_SIGNATURE,
    GeminiStreamDecoder,
    chat_request,
)
from bastion.providers.google_auth import GoogleCredentials
from tests.conftest import CLIENT_KEY, RunningGateway, gateway_config, run_gateway
from tests.fakes import gemini_upstream as fg
from tests.fakes.gemini_upstream import FakeGemini

WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
WEATHER_DECLARATION = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {
        "type": "OBJECT",
        "properties": {"city": {"type": "STRING"}},
        "required": ["city"],
    },
}
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()
VERTEX_PATH = f"/v1/projects/{fg.PROJECT}/locations/{fg.LOCATION}/publishers/google/models"
# provider prefix -> path prefix of the generate calls
APIS = {"gem": "/v1beta/models", "vx": VERTEX_PATH}


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def fake() -> AsyncIterator[FakeGemini]:
    upstream = FakeGemini()
    await upstream.start()
    yield upstream
    await upstream.stop()


@pytest.fixture(scope="module")
def sa_file(fake: FakeGemini, tmp_path_factory: pytest.TempPathFactory) -> str:
    return fake.write_service_account(tmp_path_factory.mktemp("gcp") / "sa.json")


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def gw(
    fake: FakeGemini, sa_file: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningGateway]:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = fake.write_service_account(tmp_path_factory.mktemp("gcp") / "forged.json", other_key)
    express = {"kind": "vertex", "base_url": fake.url, "api_key": fg.API_KEY}
    config = gateway_config(
        providers={
            "gem": fake.provider_config(),
            "gem-native": {**fake.provider_config(), "json_schema": "native"},
            "gem-wrong": {**fake.provider_config(), "api_key": "not-the-key"},
            "gem-slow": {**fake.provider_config(), "timeouts": {"first_byte": 0.5, "total": 5}},
            "vx": fake.vertex_config(sa_file),
            "vx-inline": fake.vertex_config(json.dumps(fake.service_account_info())),
            "vx-static": fake.vertex_config(access_token=fg.STATIC_TOKEN),
            "vx-forged": fake.vertex_config(forged),
            "vx-adc": fake.vertex_config(),
            "vx-express": express,
            "vx-noproject": {"kind": "vertex", "base_url": fake.url, "access_token": "x"},
        },
        models=[
            {"name": "flash", "provider": "gem", "model": "gemini-2.5-flash"},
            {"name": "vx-flash", "provider": "vx", "model": "gemini-2.5-flash"},
        ],
    )
    async with run_gateway(config) as running:
        yield running


@pytest.fixture
def client(gw: RunningGateway, fake: FakeGemini) -> openai.AsyncOpenAI:
    fake.reset()
    return openai.AsyncOpenAI(base_url=gw.base_url, api_key=CLIENT_KEY, max_retries=0)


async def _stream(client: openai.AsyncOpenAI, **kwargs: Any) -> list[Any]:
    stream = await client.chat.completions.create(
        stream=True, stream_options={"include_usage": True}, **kwargs
    )
    return [chunk async for chunk in stream]


def _text(chunks: list[Any], field: str = "content") -> str:
    return "".join(getattr(c.choices[0].delta, field, None) or "" for c in chunks if c.choices)


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


def _sent(fake: FakeGemini) -> Any:
    assert fake.rejections == []
    return fake.requests[-1].json


def _usage(prompt: int, completion: int, cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


# --- chat: text, system prompt, parameters, auth headers -------------------------------


@pytest.mark.parametrize("api", ["gem", "vx"])
async def test_plain_chat_translates_both_ways(
    client: openai.AsyncOpenAI, fake: FakeGemini, api: str
) -> None:
    reply = await client.chat.completions.create(
        model=f"{api}/gemini-2.5-flash",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": [{"type": "text", "text": "how are you"}]},
        ],
        temperature=0.3,
        top_p=0.9,
        max_completion_tokens=200,
        stop="\n\n",
        seed=7,
        presence_penalty=0.5,
        frequency_penalty=0.25,
    )
    recorded = fake.requests[-1]
    assert recorded.path == f"{APIS[api]}/gemini-2.5-flash:generateContent"
    assert recorded.query == {}
    if api == "gem":
        assert recorded.headers["x-goog-api-key"] == fg.API_KEY
        assert "authorization" not in recorded.headers
    else:
        assert recorded.headers["authorization"].startswith("Bearer ya29.fake-")
        assert "x-goog-api-key" not in recorded.headers
    assert _sent(fake) == {
        "contents": [
            {"role": "user", "parts": [{"text": "hi"}]},
            {"role": "model", "parts": [{"text": "Hello."}]},
            {"role": "user", "parts": [{"text": "how are you"}]},
        ],
        "systemInstruction": {"parts": [{"text": "You are terse."}]},
        "generationConfig": {
            "temperature": 0.3,
            "topP": 0.9,
            "seed": 7,
            "presencePenalty": 0.5,
            "frequencyPenalty": 0.25,
            "maxOutputTokens": 200,
            "stopSequences": ["\n\n"],
        },
    }
    assert reply.object == "chat.completion" and reply.id.startswith("chatcmpl-")
    assert reply.model == "gemini-2.5-flash"
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content == "Hello! You said: how are you"
    assert reply.choices[0].message.tool_calls is None
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    # prompt: "You are terse." + "hi" + "Hello." + "how are you" = 8 words; answer: 6
    assert reply.usage.model_dump(exclude_none=True) == _usage(8, 6)


@pytest.mark.parametrize("api", ["gem", "vx"])
async def test_streamed_chat_decodes_sse(
    client: openai.AsyncOpenAI, fake: FakeGemini, api: str
) -> None:
    chunks = await _stream(
        client,
        model=f"{api}/gemini-2.5-flash",
        messages=[{"role": "user", "content": "hello there gateway"}],
    )
    recorded = fake.requests[-1]
    assert recorded.path == f"{APIS[api]}/gemini-2.5-flash:streamGenerateContent"
    assert recorded.query == {"alt": "sse"}
    assert _sent(fake) == {
        "contents": [{"role": "user", "parts": [{"text": "hello there gateway"}]}]
    }
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == 3
    assert _text(chunks) == "Hello! You said: hello there gateway"
    assert _finish(chunks) == ["stop"]
    assert len({c.id for c in chunks}) == 1 and chunks[0].object == "chat.completion.chunk"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.model_dump(exclude_none=True) == _usage(3, 6)


async def test_alias_and_n_candidates(client: openai.AsyncOpenAI, fake: FakeGemini) -> None:
    reply = await client.chat.completions.create(
        model="flash", messages=[{"role": "user", "content": "pick"}], n=2
    )
    assert _sent(fake)["generationConfig"] == {"candidateCount": 2}
    assert [c.index for c in reply.choices] == [0, 1]
    assert [c.message.content for c in reply.choices] == [
        "Hello! You said: pick",
        "Hello! You said: pick #1",
    ]
    chunks = await _stream(
        client, model="vx-flash", messages=[{"role": "user", "content": "pick"}], n=2
    )
    by_index: dict[int, str] = {}
    for c in chunks:
        for choice in c.choices:
            by_index[choice.index] = by_index.get(choice.index, "") + (choice.delta.content or "")
    assert by_index == {0: "Hello! You said: pick", 1: "Hello! You said: pick #1"}


async def test_images_become_inline_data_and_file_data(
    client: openai.AsyncOpenAI, fake: FakeGemini
) -> None:
    reply = await client.chat.completions.create(
        model="gem/gemini-2.5-flash",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "compare"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    {"type": "image_url", "image_url": {"url": "gs://bucket/cat.webp"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/dog"}},
                ],
            }
        ],
    )
    assert _sent(fake)["contents"] == [
        {
            "role": "user",
            "parts": [
                {"text": "compare"},
                {"inlineData": {"mimeType": "image/png", "data": PNG}},
                {"fileData": {"mimeType": "image/webp", "fileUri": "gs://bucket/cat.webp"}},
                {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/dog"}},
            ],
        }
    ]
    assert reply.choices[0].message.content == "Hello! You said: compare"


# --- tools ------------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["gem", "vx"])
async def test_tool_call_round_trip_keeps_the_thought_signature(
    client: openai.AsyncOpenAI, fake: FakeGemini, api: str
) -> None:
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    reply = await client.chat.completions.create(
        model=f"{api}/tool-call", messages=messages, tools=[WEATHER], tool_choice="auto"
    )
    sent = _sent(fake)
    assert sent["tools"] == [{"functionDeclarations": [WEATHER_DECLARATION]}]
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    assert choice.message.tool_calls is not None and len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    assert call.id.startswith("call_") and call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    signature = (call.model_extra or {})["extra_content"]["google"]["thought_signature"]
    assert signature in fake._signatures

    # The SDK's message object goes back as it came (extra_content included).
    messages += [choice.message, {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 22C"}]
    answer = await client.chat.completions.create(
        model=f"{api}/tool-call", messages=messages, tools=[WEATHER]
    )
    assert _sent(fake)["contents"] == [
        {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
        {
            "role": "model",
            "parts": [
                {
                    "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                    "thoughtSignature": signature,
                }
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"output": "Sunny, 22C"}}}
            ],
        },
    ]
    assert answer.choices[0].message.content == "The tool said: Sunny, 22C"
    assert answer.choices[0].finish_reason == "stop"


async def test_streamed_tool_call(client: openai.AsyncOpenAI, fake: FakeGemini) -> None:
    chunks = await _stream(
        client,
        model="vx/tool-call",
        messages=[{"role": "user", "content": "Weather?"}],
        tools=[WEATHER],
        tool_choice="required",
    )
    assert _sent(fake)["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    calls = _tool_calls(chunks)
    assert len(calls) == 1 and calls[0]["id"].startswith("call_")
    assert (calls[0]["name"], calls[0]["arguments"]) == ("get_weather", '{"city":"Paris"}')
    delta = next(c.choices[0].delta for c in chunks if c.choices and c.choices[0].delta.tool_calls)
    signature = (delta.tool_calls[0].model_extra or {})["extra_content"]["google"]
    assert signature["thought_signature"] in fake._signatures
    assert _finish(chunks) == ["tool_calls"]


async def test_parallel_tool_calls_and_results(
    client: openai.AsyncOpenAI, fake: FakeGemini
) -> None:
    messages: list[Any] = [{"role": "user", "content": "Paris and London?"}]
    reply = await client.chat.completions.create(
        model="gem/parallel-tools", messages=messages, tools=[WEATHER]
    )
    calls = reply.choices[0].message.tool_calls or []
    assert [json.loads(c.function.arguments) for c in calls] == list(fg.TOOL_ARGUMENTS)
    assert len({c.id for c in calls}) == 2 and reply.choices[0].finish_reason == "tool_calls"
    messages.append(reply.choices[0].message.model_dump(exclude_none=True))
    messages += [
        {"role": "tool", "tool_call_id": calls[0].id, "content": "Sunny"},
        {"role": "tool", "tool_call_id": calls[1].id, "content": '{"sky": "rain"}'},
    ]
    answer = await client.chat.completions.create(
        model="gem/parallel-tools", messages=messages, tools=[WEATHER]
    )
    contents = _sent(fake)["contents"]
    assert [len(c["parts"]) for c in contents] == [1, 2, 2]
    assert "thoughtSignature" in contents[1]["parts"][0]
    assert "thoughtSignature" not in contents[1]["parts"][1]
    assert contents[2]["parts"][1] == {
        "functionResponse": {"name": "get_weather", "response": {"sky": "rain"}}
    }
    assert answer.choices[0].message.content == 'The tool said: Sunny; {"sky": "rain"}'

    chunks = await _stream(
        client, model="vx/parallel-tools", messages=messages[:1], tools=[WEATHER]
    )
    streamed = _tool_calls(chunks)
    assert [(c["name"], json.loads(c["arguments"])) for c in streamed] == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "London"}),
    ]
    assert _finish(chunks) == ["tool_calls"]


async def test_gemini_call_ids_are_kept_and_sent_back(
    client: openai.AsyncOpenAI, fake: FakeGemini
) -> None:
    reply = await client.chat.completions.create(
        model="gem/tool-call-id",
        messages=[{"role": "user", "content": "Weather?"}],
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    assert _sent(fake)["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
    }
    call = (reply.choices[0].message.tool_calls or [])[0]
    assert call.id == fg.CALL_ID
    await client.chat.completions.create(
        model="gem/tool-call-id",
        messages=[
            {"role": "user", "content": "Weather?"},
            reply.choices[0].message,
            {"role": "tool", "tool_call_id": fg.CALL_ID, "content": "Cold"},
        ],
        tools=[WEATHER],
    )
    contents = _sent(fake)["contents"]
    assert contents[1]["parts"][0]["functionCall"]["id"] == fg.CALL_ID
    assert contents[2]["parts"][0]["functionResponse"]["id"] == fg.CALL_ID


async def test_history_without_signature_gets_googles_placeholder(
    client: openai.AsyncOpenAI, fake: FakeGemini
) -> None:
    answer = await client.chat.completions.create(
        model="vx/tool-call",
        messages=[
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "toolu_01",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_01", "content": "Snow"},
        ],
        tools=[WEATHER],
    )
    model_turn = _sent(fake)["contents"][1]
    assert model_turn == {
        "role": "model",
        "parts": [
            {
                "functionCall": {"id": "toolu_01", "name": "get_weather", "args": {"city": "Oslo"}},
                "thoughtSignature": SKIP_SIGNATURE,
            }
        ],
    }
    assert answer.choices[0].message.content == "The tool said: Snow"


async def test_fake_refuses_a_lost_signature_and_unknown_fields(fake: FakeGemini) -> None:
    """The fake is as strict as Google: what a careless translation would send is refused."""
    fake.reset()
    url = f"{fake.url}/v1beta/models/tool-call:generateContent"
    headers = {"x-goog-api-key": fg.API_KEY}
    unsigned = {
        "contents": [
            {"role": "user", "parts": [{"text": "Weather?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}}]},
            {
                "role": "user",
                "parts": [{"functionResponse": {"name": "get_weather", "response": {}}}],
            },
        ]
    }
    loose_schema = {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "tools": [
            {
                "functionDeclarations": [
                    {"name": "f", "parameters": WEATHER["function"]["parameters"]}
                ]
            }
        ],
    }
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=unsigned, headers=headers) as resp:
            assert resp.status == 400
            assert "missing a thought_signature" in (await resp.json())["error"]["message"]
        async with session.post(url, json=loose_schema, headers=headers) as resp:
            error = (await resp.json())["error"]
            assert (resp.status, error["status"]) == (400, "INVALID_ARGUMENT")
            assert error["message"] == (
                'Invalid JSON payload received. Unknown name "additionalProperties" at'
                " 'tools[0].function_declarations[0].parameters': Cannot find field."
            )
        async with session.post(f"{url}?key={fg.API_KEY}", json=loose_schema) as resp:
            assert resp.status == 400


# --- structured output, stop, length, thinking ------------------------------------------

RECIPE_SCHEMA: Any = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "answer": {"type": "integer", "description": "The answer"},
        "unit": {"type": ["string", "null"], "enum": ["m", "s", None]},
        "steps": {"type": "array", "items": {"$ref": "#/$defs/step"}},
        "kind": {"const": "final"},
        "extra": {"anyOf": [{"type": "number"}, {"type": "null"}]},
    },
    "required": ["answer", "steps", "missing"],
    "additionalProperties": False,
    "$defs": {
        "step": {
            "type": "object",
            "properties": {"text": {"type": "string", "format": "uri"}},
            "additionalProperties": False,
        }
    },
}
RECIPE_GEMINI = {
    "type": "OBJECT",
    "properties": {
        "answer": {"type": "INTEGER", "description": "The answer"},
        "unit": {"type": "STRING", "enum": ["m", "s"], "nullable": True},
        "steps": {
            "type": "ARRAY",
            "items": {"type": "OBJECT", "properties": {"text": {"type": "STRING"}}},
        },
        "kind": {"type": "STRING", "enum": ["final"]},
        "extra": {"type": "NUMBER", "nullable": True},
    },
    "required": ["answer", "steps"],
}


@pytest.mark.parametrize("api", ["gem", "vx"])
async def test_json_schema_output(client: openai.AsyncOpenAI, fake: FakeGemini, api: str) -> None:
    reply = await client.chat.completions.create(
        model=f"{api}/json",
        messages=[{"role": "user", "content": "answer?"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": RECIPE_SCHEMA, "strict": True},
        },
    )
    assert _sent(fake)["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseSchema": RECIPE_GEMINI,
    }
    assert json.loads(reply.choices[0].message.content or "") == {"answer": 42}


async def test_json_object_and_native_schemas(client: openai.AsyncOpenAI, fake: FakeGemini) -> None:
    await client.chat.completions.create(
        model="gem/json",
        messages=[{"role": "user", "content": "answer?"}],
        response_format={"type": "json_object"},
    )
    assert _sent(fake)["generationConfig"] == {"responseMimeType": "application/json"}
    await client.chat.completions.create(
        model="gem-native/json",
        messages=[{"role": "user", "content": "answer?"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "a", "schema": RECIPE_SCHEMA},
        },
        tools=[WEATHER],
    )
    sent = _sent(fake)
    assert sent["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseJsonSchema": RECIPE_SCHEMA,
    }
    assert (
        sent["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"]
        == (WEATHER["function"]["parameters"])
    )


async def test_stop_sequences_and_length(client: openai.AsyncOpenAI, fake: FakeGemini) -> None:
    reply = await client.chat.completions.create(
        model="gem/stop-seq",
        messages=[{"role": "user", "content": "one two STOP three"}],
        stop=["STOP", "END"],
    )
    assert _sent(fake)["generationConfig"] == {"stopSequences": ["STOP", "END"]}
    assert reply.choices[0].message.content == "Hello! You said: one two "
    assert reply.choices[0].finish_reason == "stop"

    reply = await client.chat.completions.create(
        model="vx/length", messages=[{"role": "user", "content": "a long story"}], max_tokens=3
    )
    assert _sent(fake)["generationConfig"] == {"maxOutputTokens": 3}
    assert reply.choices[0].message.content == "Hello! You said:"
    assert reply.choices[0].finish_reason == "length"
    chunks = await _stream(
        client, model="gem/length", messages=[{"role": "user", "content": "x y"}], max_tokens=2
    )
    assert _text(chunks) == "Hello! You" and _finish(chunks) == ["length"]


@pytest.mark.parametrize("api", ["gem", "vx"])
async def test_cached_and_reasoning_usage(
    client: openai.AsyncOpenAI, fake: FakeGemini, api: str
) -> None:
    reply = await client.chat.completions.create(
        model=f"{api}/cached",
        messages=[{"role": "user", "content": "hi"}],
        reasoning_effort="low",
    )
    assert _sent(fake)["generationConfig"] == {
        "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True}
    }
    message = reply.choices[0].message
    assert message.content == "Hello! You said: hi"
    assert (message.model_extra or {})["reasoning_content"] == fg.THOUGHT_TEXT
    assert reply.usage is not None
    assert reply.usage.model_dump(exclude_none=True) == _usage(2000, 50, cached=1500, reasoning=30)
    chunks = await _stream(
        client,
        model=f"{api}/cached",
        messages=[{"role": "user", "content": "hi"}],
        reasoning_effort="medium",
    )
    assert _sent(fake)["generationConfig"]["thinkingConfig"]["thinkingBudget"] == 8192
    reasoning = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
        for c in chunks
        if c.choices
    )
    assert reasoning == fg.THOUGHT_TEXT and _text(chunks) == "Hello! You said: hi"
    assert chunks[-1].usage.model_dump(exclude_none=True) == _usage(2000, 50, 1500, 30)


# --- refusals and errors ----------------------------------------------------------------


async def test_safety_stop_is_content_filter(client: openai.AsyncOpenAI) -> None:
    reply = await client.chat.completions.create(
        model="gem/content-filter", messages=[{"role": "user", "content": "bad"}]
    )
    assert reply.choices[0].finish_reason == "content_filter"
    assert reply.choices[0].message.content is None
    chunks = await _stream(
        client, model="vx/content-filter", messages=[{"role": "user", "content": "bad"}]
    )
    assert _finish(chunks) == ["content_filter"] and _text(chunks) == ""


@pytest.mark.parametrize("api", ["gem", "vx"])
async def test_blocked_prompt_is_a_content_policy_error(
    client: openai.AsyncOpenAI, api: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            model=f"{api}/prompt-blocked", messages=[{"role": "user", "content": "bad"}]
        )
    body: Any = caught.value.body
    assert caught.value.status_code == 400 and body["code"] == "content_policy_violation"
    assert (
        body["message"]
        == "The prompt was blocked by Gemini's content filters (blockReason SAFETY)."
    )
    with pytest.raises(openai.APIError) as streamed:
        await _stream(
            client, model=f"{api}/prompt-blocked", messages=[{"role": "user", "content": "bad"}]
        )
    assert "blockReason SAFETY" in streamed.value.message


async def test_malformed_function_call(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        await client.chat.completions.create(
            model="gem/malformed-call", messages=[{"role": "user", "content": "x"}], tools=[WEATHER]
        )
    assert caught.value.status_code == 502
    assert caught.value.body["code"] == "malformed_function_call"  # type: ignore[index]


ERRORS = [
    ("error-400", openai.BadRequestError, 400, "invalid_argument"),
    ("context-too-long", openai.BadRequestError, 400, "context_length_exceeded"),
    ("error-429", openai.RateLimitError, 429, "rate_limit_exceeded"),
    ("error-500", openai.InternalServerError, 502, "upstream_error"),
    ("error-503", openai.InternalServerError, 503, "upstream_unavailable"),
    ("overloaded", openai.InternalServerError, 503, "upstream_unavailable"),
]


@pytest.mark.parametrize(("model", "error", "status", "code"), ERRORS)
@pytest.mark.parametrize("stream", [False, True])
async def test_upstream_errors(
    client: openai.AsyncOpenAI,
    fake: FakeGemini,
    model: str,
    error: type[openai.APIStatusError],
    status: int,
    code: str | None,
    stream: bool,
) -> None:
    with pytest.raises(error) as caught:
        kwargs: Any = {"model": f"gem/{model}", "messages": [{"role": "user", "content": "x"}]}
        if stream:
            await _stream(client, **kwargs)
        else:
            await client.chat.completions.create(**kwargs)
    assert caught.value.status_code == status
    body: Any = caught.value.body
    assert body["code"] == code
    assert "http" not in body["message"]
    if model == "error-429":
        assert caught.value.response.headers["retry-after"] == "7"
    if model == "context-too-long":
        assert body["message"].startswith("The input token count (1200000) exceeds")
    fake.rejections.clear()


@pytest.mark.parametrize("model", ["gem-wrong/gemini-2.5-flash", "vx-forged/gemini-2.5-flash"])
async def test_bad_credentials_are_the_gateways_fault(
    client: openai.AsyncOpenAI, fake: FakeGemini, model: str
) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "x"}]
        )
    body: Any = caught.value.body
    assert caught.value.status_code == 502 and body["code"] == "upstream_auth_error"
    expected = "API key not valid" if model.startswith("gem") else "Invalid JWT Signature"
    assert expected in body["message"]
    fake.rejections.clear()


async def test_timeout(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        await client.chat.completions.create(
            model="gem-slow/slow-2", messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.status_code == 504


# --- Vertex credentials -----------------------------------------------------------------


async def test_vertex_service_account_token_is_fetched_once(
    client: openai.AsyncOpenAI, fake: FakeGemini, gw: RunningGateway
) -> None:
    for _ in range(3):
        await client.chat.completions.create(
            model="vx-inline/gemini-2.5-flash", messages=[{"role": "user", "content": "x"}]
        )
    assert len(fake.token_requests) == 1
    grant = fake.token_requests[0]
    assert grant["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    tokens = {r.headers["authorization"] for r in fake.requests}
    assert len(tokens) == 1 and next(iter(tokens)).startswith("Bearer ya29.fake-")
    assert _sent(fake)["contents"] == [{"role": "user", "parts": [{"text": "x"}]}]


async def test_vertex_static_token_express_mode_and_adc(
    client: openai.AsyncOpenAI,
    fake: FakeGemini,
    sa_file: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await client.chat.completions.create(
        model="vx-static/gemini-2.5-flash", messages=[{"role": "user", "content": "x"}]
    )
    assert fake.requests[-1].headers["authorization"] == f"Bearer {fg.STATIC_TOKEN}"
    reply = await client.chat.completions.create(
        model="vx-express/gemini-2.5-flash", messages=[{"role": "user", "content": "x"}]
    )
    recorded = fake.requests[-1]
    assert recorded.path == "/v1/publishers/google/models/gemini-2.5-flash:generateContent"
    assert (
        recorded.headers["x-goog-api-key"] == fg.API_KEY and "authorization" not in recorded.headers
    )
    assert reply.choices[0].message.content == "Hello! You said: x"
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", sa_file)
    await client.chat.completions.create(
        model="vx-adc/gemini-2.5-flash", messages=[{"role": "user", "content": "x"}]
    )
    assert len(fake.token_requests) == 1 and fake.rejections == []
    with pytest.raises(openai.InternalServerError) as caught:
        await client.chat.completions.create(
            model="vx-noproject/gemini-2.5-flash", messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.body["code"] == "provider_misconfigured"  # type: ignore[index]


async def test_missing_google_auth_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "google.auth", None)
    provider = ProviderSettings("vx", "vertex", VERTEX_BASE_URL, options={"project": "p"})
    deployment = Deployment("m", "gemini-2.5-flash", provider, VertexAdapter())
    req = UpstreamRequest("POST", "https://x", {})
    with pytest.raises(GatewayError) as caught:
        await GoogleCredentials().sign(req, deployment)
    assert caught.value.status == 502 and "bastion-gateway[google]" in caught.value.message


# --- embeddings -------------------------------------------------------------------------


async def test_gemini_embeddings(client: openai.AsyncOpenAI, fake: FakeGemini) -> None:
    one = await client.embeddings.create(model="gem/gemini-embedding-001", input="hello world")
    recorded = fake.requests[-1]
    assert recorded.path == "/v1beta/models/gemini-embedding-001:embedContent"
    assert _sent(fake) == {"content": {"parts": [{"text": "hello world"}]}}
    assert one.object == "list" and one.model == "gemini-embedding-001"
    assert one.data[0].embedding == [11.0, 2.0, 0.25, -0.5] and one.data[0].index == 0

    many = await client.embeddings.create(
        model="gem/gemini-embedding-001", input=["a", "b c"], dimensions=2
    )
    assert fake.requests[-1].path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert _sent(fake) == {
        "requests": [
            {
                "model": "models/gemini-embedding-001",
                "content": {"parts": [{"text": "a"}]},
                "outputDimensionality": 2,
            },
            {
                "model": "models/gemini-embedding-001",
                "content": {"parts": [{"text": "b c"}]},
                "outputDimensionality": 2,
            },
        ]
    }
    assert [d.embedding for d in many.data] == [[1.0, 1.0], [3.0, 2.0]]

    fake.reset()
    big = await client.embeddings.create(
        model="gem/gemini-embedding-001", input=[f"t{i}" for i in range(150)]
    )
    assert [len(r.json["requests"]) for r in fake.requests] == [100, 50]
    assert [d.index for d in big.data] == list(range(150))

    b64 = await client.embeddings.create(
        model="gem/gemini-embedding-001", input="hi", encoding_format="base64"
    )
    packed = base64.b64decode(str(b64.data[0].embedding))
    assert list(struct.unpack("<4f", packed)) == [2.0, 1.0, 0.25, -0.5]


async def test_vertex_embeddings(client: openai.AsyncOpenAI, fake: FakeGemini) -> None:
    reply = await client.embeddings.create(
        model="vx/text-embedding-005", input=["a b", "c"], dimensions=3
    )
    assert fake.requests[-1].path == f"{VERTEX_PATH}/text-embedding-005:predict"
    assert _sent(fake) == {
        "instances": [{"content": "a b"}, {"content": "c"}],
        "parameters": {"outputDimensionality": 3},
    }
    assert [d.embedding for d in reply.data] == [[3.0, 2.0, 0.25], [1.0, 1.0, 0.25]]
    assert reply.usage.prompt_tokens == 3 and reply.usage.total_tokens == 3

    fake.reset()
    split = await client.embeddings.create(model="vx/gemini-embedding-001", input=["a", "b c", "d"])
    assert [r.json["instances"] for r in fake.requests] == [
        [{"content": "a"}],
        [{"content": "b c"}],
        [{"content": "d"}],
    ]
    assert [d.index for d in split.data] == [0, 1, 2] and split.usage.prompt_tokens == 4

    fake.reset()
    later = await client.embeddings.create(
        model="vx/gemini-embedding-2", input=["x y", "z"], dimensions=2
    )
    assert [r.path for r in fake.requests] == [f"{VERTEX_PATH}/gemini-embedding-2:embedContent"] * 2
    assert fake.requests[0].json == {
        "content": {"parts": [{"text": "x y"}]},
        "embedContentConfig": {"outputDimensionality": 2},
    }
    assert [d.embedding for d in later.data] == [[3.0, 2.0], [1.0, 1.0]]
    assert later.usage.prompt_tokens == 3


# --- pure functions ----------------------------------------------------------------------


def test_schema_conversion_details() -> None:
    schema = {
        "type": "object",
        "properties": {
            "tags": {"type": "array"},
            "mode": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            "size": {"type": "integer", "enum": [1, 2]},
            "when": {"type": "string", "format": "date-time"},
            "both": {"type": ["string", "integer"]},
            "node": {"$ref": "#/definitions/node"},
            "merged": {"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}}]},
            "maybe": {"anyOf": [{"type": "array", "items": {"type": "integer"}}, {"type": "null"}]},
        },
        "definitions": {
            "node": {"type": "object", "properties": {"child": {"$ref": "#/definitions/node"}}}
        },
    }
    out = to_gemini_schema(schema)
    props = out["properties"]
    assert props["tags"] == {"type": "ARRAY", "items": {"type": "STRING"}}
    assert props["mode"] == {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}]}
    assert props["size"] == {"type": "INTEGER", "description": "One of: 1, 2."}
    assert props["when"] == {"type": "STRING", "format": "date-time"}
    assert props["both"] == {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}]}
    assert props["merged"] == {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}}
    assert props["maybe"] == {"type": "ARRAY", "items": {"type": "INTEGER"}, "nullable": True}
    depth, node = 0, props["node"]
    while "properties" in node:  # a recursive $ref is cut, not followed for ever
        node, depth = node["properties"]["child"], depth + 1
    assert 10 < depth < 40


def test_tool_choice_none_and_thinking_levels() -> None:
    body = {
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": "x"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {"name": "ping", "parameters": {"type": "object", "properties": {}}},
            }
        ],
        "tool_choice": "none",
        "reasoning_effort": "high",
    }
    out = chat_request(body, "gemini-3-pro-preview", {})
    assert out["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert out["tools"] == [{"functionDeclarations": [{"name": "ping"}]}]
    assert out["toolConfig"] == {"functionCallingConfig": {"mode": "NONE"}}
    assert out["generationConfig"] == {
        "thinkingConfig": {"thinkingLevel": "HIGH", "includeThoughts": True}
    }
    none = chat_request({**body, "reasoning_effort": "none"}, "gemini-2.5-flash", {})
    assert none["generationConfig"] == {"thinkingConfig": {"thinkingBudget": 0}}


def test_unknown_tool_result_is_refused() -> None:
    with pytest.raises(GatewayError) as caught:
        chat_request(
            {"messages": [{"role": "tool", "tool_call_id": "nope", "content": "x"}]}, "m", {}
        )
    assert caught.value.status == 400


def test_stream_decoder_handles_any_split() -> None:
    events = [
        {
            "candidates": [{"content": {"parts": [{"text": "Hel"}], "role": "model"}, "index": 0}],
            "responseId": "r1",
        },
        {
            "candidates": [
                {
                    "content": {"parts": [{"text": "lo"}], "role": "model"},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": 3,
                "candidatesTokenCount": 2,
                "totalTokenCount": 5,
            },
        },
    ]
    raw = b"".join(b"data: " + json.dumps(e).encode() + b"\r\n\r\n" for e in events)
    for step in (1, 7, len(raw)):
        decoder = GeminiStreamDecoder("m", lambda body: GatewayError(500, "x"))
        chunks: list[Any] = []
        for i in range(0, len(raw), step):
            chunks += decoder.feed(raw[i : i + step])
        chunks += decoder.close()
        assert [c["choices"][0]["delta"] for c in chunks[:-1]] == [
            {"role": "assistant", "content": "Hel"},
            {"content": "lo"},
            {},
        ]
        assert chunks[2]["choices"][0]["finish_reason"] == "stop"
        assert {c["id"] for c in chunks} == {"chatcmpl-r1"}
        assert chunks[-1]["usage"] == _usage(3, 2)


def test_error_mapping() -> None:
    def err(status: int, state: str, message: str = "m", **extra: Any) -> bytes:
        return json.dumps(
            {"error": {"code": status, "message": message, "status": state, **extra}}
        ).encode()

    cases = [
        (err(403, "PERMISSION_DENIED"), 403, 502, "upstream_auth_error"),
        (err(401, "UNAUTHENTICATED"), 401, 502, "upstream_auth_error"),
        (err(504, "DEADLINE_EXCEEDED"), 504, 504, "upstream_timeout"),
        (err(404, "NOT_FOUND", "models/x is not found"), 404, 404, "not_found"),
        (b"[" + err(429, "RESOURCE_EXHAUSTED") + b"]", 429, 429, "rate_limit_exceeded"),
        (b"<html>bad gateway</html>", 502, 502, "upstream_error"),
    ]
    for body, status, want, code in cases:
        mapped = google_error(status, body, {}, "gemini")
        assert (mapped.status, mapped.code) == (want, code), body
    assert google_error(429, err(429, "RESOURCE_EXHAUSTED"), {"retry-after": "3"}, "g").headers == {
        "retry-after": "3"
    }


def test_urls_and_discovery() -> None:
    adapter = VertexAdapter()

    def url(model: str, **options: Any) -> str:
        key = options.pop("api_key", None)
        provider = ProviderSettings(
            "v", "vertex", VERTEX_BASE_URL, api_key=key, api_version="v1", options=options
        )
        return adapter.model_url(Deployment("m", model, provider, adapter))

    assert url("gemini-2.5-pro", project="p", location="us-central1") == (
        "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro"
    )
    assert url("gemini-2.5-pro", project="p").startswith(
        "https://aiplatform.googleapis.com/v1/projects/p/locations/global/"
    )
    assert url("publishers/mistralai/models/m", project="p", region="eu") == (
        "https://aiplatform.eu.rep.googleapis.com/v1/projects/p/locations/eu/publishers/mistralai/models/m"
    )
    assert url("projects/p/locations/l/endpoints/42", project="p", location="l").endswith(
        "/v1/projects/p/locations/l/endpoints/42"
    )
    assert url("gemini-2.5-flash", api_key="k") == (
        "https://aiplatform.googleapis.com/v1/publishers/google/models/gemini-2.5-flash"
    )
    gemini = GeminiAdapter()
    provider = ProviderSettings("g", "gemini", "https://g", api_key="k", api_version="v1beta")
    assert (
        gemini.model_url(Deployment("m", "tunedModels/t1", provider, gemini))
        == "https://g/v1beta/tunedModels/t1"
    )

    assert discover_from_env({"GOOGLE_API_KEY": "k1"}).providers["gemini"].api_key is not None
    both = discover_from_env({"GOOGLE_API_KEY": "k1", "GEMINI_API_KEY": "k2"}).providers["gemini"]
    assert both.api_key is not None and both.api_key.get_secret_value() == "k2"


def test_stream_error_event_is_classified() -> None:
    adapter = GeminiAdapter()
    provider = ProviderSettings("g", "gemini", "https://g", api_key="k", api_version="v1beta")
    decoder = adapter.stream_decoder(Deployment("m", "gemini-2.5-flash", provider, adapter))
    error = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    with pytest.raises(GatewayError) as caught:
        decoder.feed(b"data: " + json.dumps(error).encode() + b"\r\n\r\n")
    assert (caught.value.status, caught.value.code) == (503, "upstream_unavailable")
    assert caught.value.retryable
