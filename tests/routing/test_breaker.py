"""The circuit breaker, end to end: open, skip, half-open with one probe, recover.

"Skipped" is measured at the upstream: the dead deployment's request count stops growing.
The breaker here opens after 3 failures in a row and cools down for 0.4 s.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import CLIENT_KEY
from tests.fakes.faulty_upstream import Fault, FaultyUpstream
from tests.routing.conftest import chat, deployments_health, gateway, state_of

pytestmark = pytest.mark.asyncio(loop_scope="session")

MODELS = [
    {"name": "g", "provider": "a", "model": "m", "priority": 0},
    {"name": "g", "provider": "b", "model": "m", "priority": 1},
]
ROUTING = {"defaults": {"retries": 0}}


async def test_the_circuit_opens_skips_half_opens_and_recovers(
    tmp_path: Path, up: dict[str, FaultyUpstream]
) -> None:
    a = up["a"]
    async with gateway(tmp_path, up, MODELS, ROUTING) as gw:
        a.fault = Fault.error(500)
        for _ in range(3):  # three failures in a row: each request still answered, by b
            assert (await chat(gw, "g")).served_by == "b/m"
        assert a.requests == 3
        _, health = await deployments_health(gw)
        assert state_of(health, "a/m")["state"] == "open"
        assert state_of(health, "a/m")["consecutive_failures"] == 3

        for _ in range(5):  # open: skipped without being tried
            reply = await chat(gw, "g")
            assert (reply.status, reply.served_by) == (200, "b/m")
            assert "x-bastion-attempts" not in reply.headers
        assert a.requests == 3

        await asyncio.sleep(0.45)  # cooled down: the next request is the probe, it fails
        assert (await chat(gw, "g")).served_by == "b/m"
        assert a.requests == 4
        _, health = await deployments_health(gw)
        assert state_of(health, "a/m")["state"] == "open"
        assert (await chat(gw, "g")).served_by == "b/m"
        assert a.requests == 4  # open again

        a.fault = Fault.ok(delay=0.3)  # recovered, but slow: the probe takes 0.3 s
        await asyncio.sleep(0.45)
        replies = await asyncio.gather(*(chat(gw, "g") for _ in range(6)))
        served = sorted(r.served_by or "" for r in replies)
        assert served == ["a/m"] + ["b/m"] * 5  # one probe only, the others went to b
        assert a.requests == 5

        for _ in range(3):  # the probe answered: closed, a (first by priority) serves again
            assert (await chat(gw, "g")).served_by == "a/m"
        assert a.requests == 8
        _, health = await deployments_health(gw)
        recovered = state_of(health, "a/m")
        assert recovered["state"] == "closed"
        assert recovered["consecutive_failures"] == 0
        assert recovered["window"]["failures"] == 0  # a clean window after recovery
        assert recovered["latency_ms"]["total_ewma"] > 250


async def test_with_every_circuit_open_the_answer_is_a_clear_503(
    tmp_path: Path, up: dict[str, FaultyUpstream]
) -> None:
    up["a"].fault = up["b"].fault = Fault.error(503)
    async with gateway(tmp_path, up, MODELS, ROUTING) as gw:
        for _ in range(3):
            assert (await chat(gw, "g")).status == 503  # the upstream's own 503
        assert (up["a"].requests, up["b"].requests) == (3, 3)
        reply = await chat(gw, "g")
        assert reply.status == 503
        assert reply.json["error"]["code"] == "no_healthy_deployment"
        assert reply.headers["retry-after"] == "1"
        assert (up["a"].requests, up["b"].requests) == (3, 3)


async def test_a_lone_deployment_is_always_tried(
    tmp_path: Path, up: dict[str, FaultyUpstream]
) -> None:
    """With nowhere else to go, skipping would only replace the upstream's error by ours."""
    up["a"].fault = Fault.error(502)
    models = [{"name": "solo", "provider": "a", "model": "m"}]
    async with gateway(tmp_path, up, models, ROUTING) as gw:
        for _ in range(5):
            reply = await chat(gw, "solo")
            assert (reply.status, reply.json["error"]["code"]) == (502, "upstream_error")
        assert up["a"].requests == 5
        up["a"].fault = Fault.ok()
        assert (await chat(gw, "solo")).status == 200
        _, health = await deployments_health(gw)
        assert state_of(health, "a/m")["state"] == "closed"


async def test_deployment_health_is_for_admins(
    tmp_path: Path, up: dict[str, FaultyUpstream]
) -> None:
    async with gateway(tmp_path, up, MODELS, ROUTING) as gw:
        assert (await chat(gw, "g")).status == 200
        status, body = await deployments_health(gw)
        assert status == 200
        assert body["groups"]["g"] == {
            "strategy": "priority",
            "deployments": ["a/m", "b/m"],
            "fallbacks": [],
            "deadline_s": None,
        }
        a = state_of(body, "a/m")
        assert a["state"] == "closed"
        assert a["requests"] == 1 and a["failures"] == 0
        assert a["window"] == {"seconds": 5.0, "requests": 1, "failures": 0, "error_rate": 0.0}
        assert a["in_flight"] == 0
        assert a["latency_ms"]["total_ewma"] > 0
        assert state_of(body, "b/m")["requests"] == 0
        status, body = await deployments_health(gw, key=CLIENT_KEY)
        assert (status, body["error"]["code"]) == (403, "admin_required")
        status, body = await deployments_health(gw, key="nope-nope-nope-nope")
        assert status == 401
