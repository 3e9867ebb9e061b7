"""Load-balancing strategies, measured at the upstreams."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.faulty_upstream import Fault, FaultyUpstream
from tests.routing.conftest import chat, gateway

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _group(name: str, strategy: str, *entries: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    models = [{"name": name, "model": "m", **entry} for entry in entries]
    return models, {"groups": {name: {"strategy": strategy}}}


async def test_weighted_follows_the_weights_within_statistical_bounds(
    tmp_path: Path, up: dict[str, FaultyUpstream]
) -> None:
    models, routing = _group(
        "w",
        "weighted",
        {"provider": "a", "weight": 1},
        {"provider": "b", "weight": 3},
        {"provider": "c", "weight": 0},  # drained: only a failover would reach it
    )
    n = 400
    async with gateway(tmp_path, up, models, routing) as gw:
        for _ in range(n // 50):
            replies = await asyncio.gather(*(chat(gw, "w") for _ in range(50)))
            assert all(r.status == 200 for r in replies)
    expected, sd = n * 0.75, math.sqrt(n * 0.75 * 0.25)  # binomial: 300 +- 8.7
    assert abs(up["b"].requests - expected) < 4.5 * sd
    assert up["a"].requests + up["b"].requests == n
    assert up["c"].requests == 0


async def test_least_latency_prefers_the_faster_and_remeasures_the_slower(
    tmp_path: Path, up: dict[str, FaultyUpstream]
) -> None:
    up["a"].fault = Fault.ok(delay=0.1)
    models, routing = _group("fast", "least_latency", {"provider": "a"}, {"provider": "b"})
    routing["latency"] = {"probe_interval": 0.5}
    async with gateway(tmp_path, up, models, routing) as gw:
        served = [(await chat(gw, "fast")).served_by for _ in range(20)]
        # Never measured deployments go first: a once (slow), b once, then b only.
        assert served == ["a/m"] + ["b/m"] * 19
        streamed = [(await chat(gw, "fast", stream=True)).served_by for _ in range(5)]
        assert streamed == ["b/m"] * 5
        await asyncio.sleep(0.55)  # a has not been measured for the probe interval
        assert (await chat(gw, "fast")).served_by == "a/m"
        assert (await chat(gw, "fast")).served_by == "b/m"  # still slower: back to b
    assert up["a"].requests == 2


async def test_least_busy_spreads_by_requests_in_flight(
    tmp_path: Path, up: dict[str, FaultyUpstream]
) -> None:
    up["a"].fault = up["b"].fault = Fault.ok(delay=1.0)  # all ten in flight together
    models, routing = _group("busy", "least_busy", {"provider": "a"}, {"provider": "b"})
    async with gateway(tmp_path, up, models, routing) as gw:
        replies = await asyncio.gather(*(chat(gw, "busy") for _ in range(10)))
        assert all(r.status == 200 for r in replies)
        assert (up["a"].requests, up["b"].requests) == (5, 5)
        assert up["a"].max_in_flight == up["b"].max_in_flight == 5

        up["a"].reset_counters(Fault.ok(delay=1.0))  # a is slow now: it stays busy
        up["b"].reset_counters(Fault.ok())

        async def later(i: int) -> str | None:
            await asyncio.sleep(0.02 * i)
            return (await chat(gw, "busy")).served_by

        served = await asyncio.gather(*(later(i) for i in range(10)))
    assert served.count("a/m") <= 1  # while a holds one, every other goes to the idle b
    assert up["b"].requests >= 9


async def test_lowest_cost_takes_the_cheapest_and_fails_over_to_the_next(
    tmp_path: Path, up: dict[str, FaultyUpstream]
) -> None:
    models, routing = _group(
        "cheap",
        "lowest_cost",
        {"provider": "a", "price": {"input": 2.5, "output": 10}},
        {"provider": "b", "price": {"input": 0.15, "output": 0.6}},
        {"provider": "c", "price": {"input": 0.4, "output": 1.6}},
    )
    async with gateway(tmp_path, up, models, routing) as gw:
        assert [(await chat(gw, "cheap")).served_by for _ in range(3)] == ["b/m"] * 3
        up["b"].fault = Fault.error(503)
        reply = await chat(gw, "cheap")
        assert reply.served_by == "c/m"  # the next cheapest
    assert up["a"].requests == 0


async def test_usage_based_keeps_each_deployment_under_its_quota(
    tmp_path: Path, up: dict[str, FaultyUpstream]
) -> None:
    models, routing = _group(
        "quota",
        "usage_based",
        {"provider": "a", "rpm": 2},
        {"provider": "b", "rpm": 4},
    )
    async with gateway(tmp_path, up, models, routing) as gw:
        served = [(await chat(gw, "quota")).served_by for _ in range(6)]
        assert (up["a"].requests, up["b"].requests) == (2, 4)
        assert served.count("a/m") == 2
        refused = await chat(gw, "quota")  # both at their provider quota
        assert refused.status == 429
        assert refused.json["error"]["code"] == "provider_quota_reached"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert up["a"].requests + up["b"].requests == 6


async def test_the_strategy_can_be_chosen_per_request(
    tmp_path: Path, up: dict[str, FaultyUpstream]
) -> None:
    models, routing = _group(
        "pick",
        "priority",
        {"provider": "a", "priority": 0, "price": {"input": 5, "output": 15}},
        {"provider": "b", "priority": 1, "price": {"input": 0.1, "output": 0.4}},
    )
    async with gateway(tmp_path, up, models, routing) as gw:
        assert (await chat(gw, "pick")).served_by == "a/m"
        cheap = await chat(gw, "pick", headers={"x-bastion-strategy": "lowest_cost"})
        assert cheap.served_by == "b/m"
        bad = await chat(gw, "pick", headers={"x-bastion-strategy": "fastest"})
        assert (bad.status, bad.json["error"]["code"]) == (400, "invalid_strategy")
