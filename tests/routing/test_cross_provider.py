"""Failover across provider kinds for a caller of the Anthropic Messages API.

A request on ``/v1/messages`` goes to an Anthropic upstream untranslated (native
passthrough); when that upstream is overloaded (529) the router fails over to an OpenAI
deployment, whose answer must come back translated into the Messages format, plain and
streamed, and the other way round (an OpenAI deployment failing, the Anthropic one
answering natively). The client is the official ``anthropic`` SDK.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anthropic
import pytest
import pytest_asyncio

from tests.conftest import CLIENT_KEY, RunningGateway, free_port, gateway_config, run_gateway
from tests.fakes.anthropic_upstream import API_KEY as ANTHROPIC_KEY
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_upstream import DEFAULT_API_KEY, FakeOpenAI
from tests.routing.conftest import FAST_BREAKER, FAST_RETRY

pytestmark = pytest.mark.asyncio(loop_scope="session")

QUESTION = [{"role": "user", "content": "which one answers?"}]
ANSWER = "Hello! You said: which one answers?"
WEATHER: Any = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


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


@asynccontextmanager
async def gateway(
    tmp_path: Path,
    claude: FakeAnthropic,
    openai: FakeOpenAI,
    models: list[dict[str, Any]],
    groups: dict[str, Any] | None = None,
) -> AsyncIterator[anthropic.AsyncAnthropic]:
    claude.reset()
    openai.reset()
    config = gateway_config(
        server={"data_dir": str(tmp_path / "data")},
        providers={
            "claude": claude.provider_config(),
            "oai": {"kind": "openai", "base_url": openai.url, "api_key": DEFAULT_API_KEY},
            # Nothing listens there: every call fails to connect (retryable).
            "gone": {
                "kind": "anthropic",
                "base_url": f"http://127.0.0.1:{free_port()}",
                "api_key": ANTHROPIC_KEY,
            },
        },
        models=models,
        routing={"breaker": FAST_BREAKER, "retry": FAST_RETRY, "groups": groups or {}},
    )
    running: RunningGateway
    async with run_gateway(config) as running:
        yield anthropic.AsyncAnthropic(base_url=running.url, api_key=CLIENT_KEY, max_retries=0)


# One group (Anthropic first by priority, OpenAI second), or two groups joined by fallbacks.
SAME_GROUP = (
    [
        {"name": "sonnet", "provider": "claude", "model": "overloaded", "priority": 0},
        {"name": "sonnet", "provider": "oai", "model": "gpt-4o-mini", "priority": 1},
    ],
    None,
)
FALLBACK_GROUP = (
    [
        {"name": "sonnet", "provider": "claude", "model": "overloaded"},
        {"name": "gpt", "provider": "oai", "model": "gpt-4o-mini"},
    ],
    {"sonnet": {"fallbacks": ["gpt"], "retries": 0}},
)
LAYOUTS = {"same-group": SAME_GROUP, "fallback-group": FALLBACK_GROUP}


def _text(message: anthropic.types.Message) -> list[tuple[str, str | None]]:
    return [(b.type, getattr(b, "text", None)) for b in message.content]


@pytest.mark.parametrize("layout", LAYOUTS)
async def test_an_overloaded_anthropic_deployment_fails_over_to_openai(
    tmp_path: Path, fake_claude: FakeAnthropic, fake_openai: FakeOpenAI, layout: str
) -> None:
    models, groups = LAYOUTS[layout]
    async with gateway(tmp_path, fake_claude, fake_openai, models, groups) as client:
        raw = await client.messages.with_raw_response.create(
            model="sonnet", max_tokens=64, messages=QUESTION
        )
        message = await raw.parse()
        assert raw.headers["x-bastion-served-by"] == "oai/gpt-4o-mini"
        assert message.type == "message" and message.role == "assistant"
        assert message.id.startswith("msg_")
        assert message.model == "sonnet"
        assert _text(message) == [("text", ANSWER)]
        assert message.stop_reason == "end_turn"
        assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0

        async with client.messages.stream(
            model="sonnet", max_tokens=64, messages=QUESTION
        ) as stream:
            assert stream.response.headers["x-bastion-served-by"] == "oai/gpt-4o-mini"
            text = "".join([t async for t in stream.text_stream])
            final = await stream.get_final_message()
        assert text == ANSWER
        assert _text(final) == [("text", ANSWER)]
        assert final.stop_reason == "end_turn"
        assert final.usage.output_tokens > 0
    # The Anthropic upstream was tried first and answered 529 each time it was tried.
    assert fake_claude.requests and all(r.error == "Overloaded" for r in fake_claude.requests)
    assert all(r.json["model"] == "gpt-4o-mini" for r in fake_openai.requests)
    assert fake_openai.requests[-1].json["stream"] is True


async def test_a_tool_call_survives_the_failover(
    tmp_path: Path, fake_claude: FakeAnthropic, fake_openai: FakeOpenAI
) -> None:
    models = [
        {"name": "sonnet", "provider": "claude", "model": "overloaded", "priority": 0},
        {"name": "sonnet", "provider": "oai", "model": "tool-call", "priority": 1},
    ]
    request: Any = {
        "model": "sonnet",
        "max_tokens": 64,
        "tools": [WEATHER],
        "messages": [{"role": "user", "content": "weather in Paris?"}],
    }
    async with gateway(tmp_path, fake_claude, fake_openai, models) as client:
        message = await client.messages.create(**request)
        async with client.messages.stream(**request) as stream:
            final = await stream.get_final_message()
    for answer in (message, final):
        assert answer.stop_reason == "tool_use"
        calls = [b for b in answer.content if b.type == "tool_use"]
        assert [(c.name, c.input) for c in calls] == [("get_weather", {"city": "Paris"})]
    sent = fake_openai.requests[-1].json
    assert sent["tools"][0]["function"]["name"] == "get_weather"


async def test_a_failed_openai_deployment_fails_over_to_anthropic_natively(
    tmp_path: Path, fake_claude: FakeAnthropic, fake_openai: FakeOpenAI
) -> None:
    models = [
        {"name": "sonnet", "provider": "oai", "model": "error-503", "priority": 0},
        {"name": "sonnet", "provider": "claude", "model": "claude-test", "priority": 1},
    ]
    async with gateway(tmp_path, fake_claude, fake_openai, models) as client:
        raw = await client.messages.with_raw_response.create(
            model="sonnet", max_tokens=64, messages=QUESTION, extra_body={"top_k": 5}
        )
        message = await raw.parse()
        assert raw.headers["x-bastion-served-by"] == "claude/claude-test"
        assert message.id.startswith("msg_fake")  # the upstream's own answer, passed through
        assert _text(message) == [("text", ANSWER)]
        # Passed through natively: a field OpenAI has no equivalent of reaches the upstream.
        assert fake_claude.last.json["top_k"] == 5
        async with client.messages.stream(
            model="sonnet", max_tokens=64, messages=QUESTION
        ) as stream:
            assert stream.response.headers["x-bastion-served-by"] == "claude/claude-test"
            text = "".join([t async for t in stream.text_stream])
            final = await stream.get_final_message()
        assert text == ANSWER
        assert final.id.startswith("msg_fake")
        assert final.usage.output_tokens > 0
    assert fake_openai.requests and fake_claude.last.json["stream"] is True


COUNTED: Any = [{"role": "user", "content": "count these five words please"}]
SERVER_TOOLS: Any = [{"type": "web_search_20250305", "name": "web_search", "max_uses": 2}]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("stream", [False, True])
async def test_a_request_only_anthropic_can_serve_never_fails_over_to_openai(
    tmp_path: Path, fake_claude: FakeAnthropic, fake_openai: FakeOpenAI, layout: str, stream: bool
) -> None:
    # A server tool has no OpenAI equivalent: sent to OpenAI, the request would lose it
    # (and be answered as if it had never been asked). Anthropic's overload is the answer
    # (529 upstream, 503 overloaded_error from the gateway).
    models, groups = LAYOUTS[layout]
    request: Any = {
        "model": "sonnet",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "search"}],
        "tools": SERVER_TOOLS,
    }
    async with gateway(tmp_path, fake_claude, fake_openai, models, groups) as client:
        with pytest.raises(anthropic.APIStatusError) as err:
            if stream:
                async with client.messages.stream(**request) as events:
                    await events.get_final_message()
            else:
                await client.messages.create(**request)
    assert err.value.status_code == 503
    assert err.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert fake_claude.requests and fake_claude.last.json["tools"] == SERVER_TOOLS
    assert fake_openai.requests == []


async def test_token_counting_never_fails_over_to_a_chat_call(
    tmp_path: Path, fake_claude: FakeAnthropic, fake_openai: FakeOpenAI
) -> None:
    models = [
        {"name": "sonnet", "provider": "gone", "model": "claude-test", "priority": 0},
        {"name": "sonnet", "provider": "oai", "model": "gpt-4o-mini", "priority": 1},
    ]
    async with gateway(tmp_path, fake_claude, fake_openai, models) as client:
        with pytest.raises(anthropic.APIStatusError) as err:
            await client.messages.count_tokens(model="sonnet", messages=COUNTED)
        assert err.value.status_code == 502
        # The messages themselves do fail over.
        raw = await client.messages.with_raw_response.create(
            model="sonnet", max_tokens=50, messages=COUNTED
        )
        assert raw.headers["x-bastion-served-by"] == "oai/gpt-4o-mini"
    # One chat completion, for the message: none billed for a token count.
    assert [r.path for r in fake_openai.requests] == ["/v1/chat/completions"]


async def test_such_a_request_goes_to_the_groups_anthropic_deployment(
    tmp_path: Path, fake_claude: FakeAnthropic, fake_openai: FakeOpenAI
) -> None:
    # OpenAI first by priority: still, a server tool or a token count goes to Claude.
    models = [
        {"name": "sonnet", "provider": "oai", "model": "gpt-4o-mini", "priority": 0},
        {"name": "sonnet", "provider": "claude", "model": "claude-test", "priority": 1},
    ]
    async with gateway(tmp_path, fake_claude, fake_openai, models) as client:
        raw = await client.messages.with_raw_response.create(
            model="sonnet",
            max_tokens=50,
            messages=[{"role": "user", "content": "search"}],
            tools=SERVER_TOOLS,
        )
        assert raw.headers["x-bastion-served-by"] == "claude/claude-test"
        assert fake_claude.last.json["tools"] == SERVER_TOOLS
        counted = await client.messages.count_tokens(model="sonnet", messages=COUNTED)
        assert counted.input_tokens == 11  # the fake's count (the gateway's estimate: 12)
        assert fake_claude.last.path == "/v1/messages/count_tokens"
        # An ordinary request follows the group's order.
        raw = await client.messages.with_raw_response.create(
            model="sonnet", max_tokens=50, messages=QUESTION
        )
        assert raw.headers["x-bastion-served-by"] == "oai/gpt-4o-mini"
    assert len(fake_openai.requests) == 1
