"""Failover, retries and deadlines against upstreams that fail in every retryable way."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from tests.conftest import CLIENT_KEY, RunningGateway
from tests.fakes.faulty_upstream import Fault, FaultyUpstream
from tests.routing.conftest import chat, deployments_health, gateway, state_of

pytestmark = pytest.mark.asyncio(loop_scope="session")

RETRYABLE: dict[str, Fault] = {
    "500": Fault.error(500),
    "502": Fault.error(502),
    "503": Fault.error(503),
    "504": Fault.error(504),
    "529": Fault.error(529),
    "429": Fault.error(429, retry_after="1"),
    "timeout": Fault.hang(),
    "reset": Fault.reset(),
    "cut-before-first-byte": Fault.cut(after=0),
    "slow-first-byte": Fault.slow_first_byte(1.0),
}
# upstream status -> what the caller gets (the upstream's 401/403 are the gateway's fault: 502)
NOT_RETRYABLE = {400: 400, 401: 502, 403: 502, 404: 404}
SLOW = {"first_byte": 5.0, "total": 10.0}


def _pair(name: str, model: str, **extra: Any) -> list[dict[str, Any]]:
    """A group of a (tried first) and b."""
    return [
        {"name": name, "provider": "a", "model": model, "priority": 0, **extra},
        {"name": name, "provider": "b", "model": model, "priority": 1, **extra},
    ]


def _models() -> list[dict[str, Any]]:
    models: list[dict[str, Any]] = []
    for stream in ("plain", "stream"):
        for kind in RETRYABLE:
            models += _pair(f"retry-{kind}-{stream}", f"m-{kind}-{stream}")
        for status in NOT_RETRYABLE:
            models += _pair(f"fatal-{status}-{stream}", f"m-{status}-{stream}")
    models += _pair("cut", "m-cut")
    models += _pair("cancel", "m-cancel", timeouts=SLOW)
    models += _pair("deadline", "m-deadline", timeouts=SLOW)
    models += _pair("deadline-ok", "m-deadline-ok")
    models += [
        {"name": "quota", "provider": "a", "model": "q1", "priority": 0},
        {"name": "quota", "provider": "a", "model": "q2", "priority": 1},
        {"name": "quota", "provider": "b", "model": "q3", "priority": 2},
    ]
    return models


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def gw(
    upstreams: dict[str, FaultyUpstream], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningGateway]:
    routing = {
        "groups": {
            "deadline": {"deadline": 0.5},
            "deadline-ok": {"deadline": 1.5},
        }
    }
    tmp: Path = tmp_path_factory.mktemp("failover")
    async with gateway(
        tmp, upstreams, _models(), routing, timeouts={"first_byte": 0.3, "total": 3.0}
    ) as running:
        yield running


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("kind", list(RETRYABLE))
async def test_fails_over_on_every_retryable_failure(
    gw: RunningGateway, up: dict[str, FaultyUpstream], kind: str, stream: bool
) -> None:
    model = f"m-{kind}-{'stream' if stream else 'plain'}"
    up["a"].faults[model] = RETRYABLE[kind]
    reply = await chat(gw, f"retry-{kind}-{'stream' if stream else 'plain'}", stream=stream)
    assert reply.status == 200
    assert reply.served_by == f"b/{model}"
    assert reply.headers["x-bastion-attempts"] == "2"
    assert reply.text == ("b:Hello from upstream" if stream else "b: Hello from upstream")
    if stream:
        assert reply.events[-1] == "[DONE]"
        assert not any(isinstance(e, dict) and "error" in e for e in reply.events)
    assert (up["a"].by_model[model], up["b"].by_model[model]) == (1, 1)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize(("upstream_status", "status"), list(NOT_RETRYABLE.items()))
async def test_never_retries_a_non_retryable_error(
    gw: RunningGateway,
    up: dict[str, FaultyUpstream],
    upstream_status: int,
    status: int,
    stream: bool,
) -> None:
    model = f"m-{upstream_status}-{'stream' if stream else 'plain'}"
    up["a"].faults[model] = Fault.error(upstream_status)
    reply = await chat(
        gw, f"fatal-{upstream_status}-{'stream' if stream else 'plain'}", stream=stream
    )
    assert reply.status == status
    assert set(reply.json["error"]) == {"message", "type", "param", "code"}
    assert reply.served_by == f"a/{model}"
    assert (up["a"].by_model[model], up["b"].by_model[model]) == (1, 0)


async def test_a_stream_cut_after_the_first_byte_ends_with_an_error_event(
    gw: RunningGateway, up: dict[str, FaultyUpstream]
) -> None:
    up["a"].faults["m-cut"] = Fault.cut(after=2)
    reply = await chat(gw, "cut", stream=True)
    assert reply.status == 200
    assert reply.served_by == "a/m-cut"
    assert reply.text == "a:Hello"  # the two chunks that came, then the error
    error = reply.events[-1]
    assert set(error) == {"error"}
    assert error["error"]["code"] == "upstream_connection_error"
    assert "[DONE]" not in reply.events
    assert (up["a"].by_model["m-cut"], up["b"].by_model["m-cut"]) == (1, 0)
    _, health = await deployments_health(gw)
    assert state_of(health, "a/m-cut")["last_error"] == "upstream_connection_error"


async def test_a_stream_cut_reaches_an_anthropic_caller_as_an_error_event(
    gw: RunningGateway, up: dict[str, FaultyUpstream]
) -> None:
    up["a"].faults["m-cut"] = Fault.cut(after=2)
    body = {"model": "cut", "max_tokens": 20, "stream": True}
    body["messages"] = [{"role": "user", "content": "hi"}]
    headers = {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(gw.base_url + "/messages", json=body, headers=headers) as r,
    ):
        text = (await r.read()).decode()
    assert r.status == 200
    assert "event: message_start" in text
    assert text.rstrip().split("\n\n")[-1].startswith("event: error\ndata: ")
    assert up["b"].by_model["m-cut"] == 0


async def test_a_provider_429_cools_only_that_deployment(
    gw: RunningGateway, up: dict[str, FaultyUpstream]
) -> None:
    up["a"].faults["q1"] = Fault.error(429, retry_after="1")
    first = await chat(gw, "quota")
    assert (first.status, first.served_by) == (200, "a/q2")  # same provider, not cooled
    second = await chat(gw, "quota")
    assert (second.status, second.served_by) == (200, "a/q2")
    assert up["a"].by_model["q1"] == 1  # skipped while cooling, not tried
    _, health = await deployments_health(gw)
    assert state_of(health, "a/q1")["state"] == "cooling"
    assert state_of(health, "a/q2")["state"] == "closed"
    up["a"].faults["q1"] = Fault.ok()
    await asyncio.sleep(1.1)
    third = await chat(gw, "quota")
    assert (third.status, third.served_by) == (200, "a/q1")
    assert up["b"].by_model["q3"] == 0


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_the_overall_deadline_gives_a_504_in_time(
    gw: RunningGateway, up: dict[str, FaultyUpstream], stream: bool
) -> None:
    up["a"].faults["m-deadline"] = Fault.hang()
    up["b"].faults["m-deadline"] = Fault.hang()
    started = time.monotonic()
    reply = await chat(gw, "deadline", stream=stream)
    took = time.monotonic() - started
    assert reply.status == 504
    assert reply.json["error"]["code"] == "deadline_exceeded"
    assert 0.45 < took < 0.9
    assert up["a"].by_model["m-deadline"] == 1  # a hangs past the deadline: b never tried


async def test_a_failover_inside_the_deadline_answers(
    gw: RunningGateway, up: dict[str, FaultyUpstream]
) -> None:
    up["a"].faults["m-deadline-ok"] = Fault.hang()  # its own first-byte timeout is 0.3 s
    started = time.monotonic()
    reply = await chat(gw, "deadline-ok")
    assert (reply.status, reply.served_by) == (200, "b/m-deadline-ok")
    assert time.monotonic() - started < 1.5


async def test_a_client_that_leaves_is_not_retried(
    gw: RunningGateway, up: dict[str, FaultyUpstream]
) -> None:
    up["a"].faults["m-cancel"] = Fault.hang()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(chat(gw, "cancel"), 0.3)
    await asyncio.sleep(0.3)
    assert (up["a"].by_model["m-cancel"], up["b"].by_model["m-cancel"]) == (1, 0)
    assert up["a"].in_flight == 0  # the upstream call was cancelled with the client
