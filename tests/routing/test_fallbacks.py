"""Fallbacks across groups (plain, context window, content policy) and conditional rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.faulty_upstream import Fault, FaultyUpstream
from tests.routing.conftest import chat, gateway

pytestmark = pytest.mark.asyncio(loop_scope="session")

MODELS = [
    {"name": "gpt", "provider": "a", "model": "gpt", "context_window": 1000},
    {"name": "claude", "provider": "b", "model": "claude"},
    {"name": "long", "provider": "c", "model": "long", "context_window": 200_000},
    {"name": "lenient", "provider": "c", "model": "lenient"},
]
ROUTING = {
    "groups": {
        "gpt": {
            "fallbacks": ["claude"],
            "context_window_fallbacks": ["long"],
            "content_policy_fallbacks": ["lenient"],
        }
    }
}


async def test_a_failed_group_falls_back_to_the_next(
    tmp_path: Path, up: dict[str, FaultyUpstream]
) -> None:
    up["a"].fault = Fault.error(503)
    async with gateway(tmp_path, up, MODELS, ROUTING) as gw:
        for stream in (False, True):
            reply = await chat(gw, "gpt", stream=stream)
            assert (reply.status, reply.served_by) == (200, "b/claude")
    # The first request tries a twice (retries: 1); the second's first failure is a's
    # third in a row, which opens its circuit, so there is no retry: 3 attempts in all.
    assert up["a"].requests == 3


async def test_a_prompt_too_long_goes_to_the_larger_context_group(
    tmp_path: Path, up: dict[str, FaultyUpstream]
) -> None:
    async with gateway(tmp_path, up, MODELS, ROUTING) as gw:
        # Known too long from its declared window: never sent to gpt.
        reply = await chat(gw, "gpt", content="word " * 2000)
        assert (reply.status, reply.served_by) == (200, "c/long")
        assert up["a"].requests == 0
        # The upstream says so: the same fallback, after one attempt.
        up["a"].fault = Fault.error(400, code="context_length_exceeded")
        reply = await chat(gw, "gpt", stream=True)
        assert (reply.status, reply.served_by) == (200, "c/long")
    assert up["a"].requests == 1
    assert up["b"].requests == 0  # the ordinary fallback is not for this


async def test_a_content_policy_refusal_goes_to_the_content_fallback(
    tmp_path: Path, up: dict[str, FaultyUpstream]
) -> None:
    async with gateway(tmp_path, up, MODELS, ROUTING) as gw:
        up["a"].fault = Fault.error(400, code="content_filter")  # Azure's refusal
        reply = await chat(gw, "gpt")
        assert (reply.status, reply.served_by) == (200, "c/lenient")
        up["a"].fault = Fault.refuse()  # a 200 with finish_reason content_filter
        reply = await chat(gw, "gpt")
        assert (reply.status, reply.served_by) == (200, "c/lenient")
        assert reply.json["choices"][0]["finish_reason"] == "stop"
        up["c"].faults["lenient"] = Fault.error(503)  # nothing else answers: the refusal it is
        reply = await chat(gw, "gpt")
        assert (reply.status, reply.served_by) == (200, "a/gpt")
        assert reply.json["choices"][0]["finish_reason"] == "content_filter"
    assert up["b"].requests == 0


async def test_a_non_retryable_error_does_not_fall_back(
    tmp_path: Path, up: dict[str, FaultyUpstream]
) -> None:
    up["a"].fault = Fault.error(400, code="invalid_value")
    async with gateway(tmp_path, up, MODELS, ROUTING) as gw:
        reply = await chat(gw, "gpt")
        assert reply.status == 400
    assert (up["a"].requests, up["b"].requests, up["c"].requests) == (1, 0, 0)


async def test_rules_pick_a_group_or_a_strategy_from_request_metadata(
    tmp_path: Path, up: dict[str, FaultyUpstream]
) -> None:
    models = [
        {"name": "chat", "provider": "a", "model": "m", "priority": 0},
        {
            "name": "chat",
            "provider": "b",
            "model": "m",
            "priority": 1,
            "price": {"input": 0.1, "output": 0.1},
        },
        {"name": "batch", "provider": "c", "model": "m"},
    ]
    routing = {
        "rules": [
            {"match": {"model": "chat", "tag": "nightly"}, "model": "batch"},
            {"match": {"key": "client", "headers": {"x-env": "dev*"}}, "strategy": "lowest_cost"},
        ]
    }
    async with gateway(tmp_path, up, models, routing) as gw:
        assert (await chat(gw, "chat")).served_by == "a/m"
        tagged = await chat(gw, "chat", headers={"x-bastion-tags": "etl, nightly"})
        assert tagged.served_by == "c/m"
        dev = await chat(gw, "chat", headers={"x-env": "dev-eu"})
        assert dev.served_by == "b/m"
        assert (await chat(gw, "chat", headers={"x-env": "prod"})).served_by == "a/m"
