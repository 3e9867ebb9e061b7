"""Two real `bastion serve` processes sharing PostgreSQL and Redis hold one set of limits.

The processes poll the store only every 30 s here, so a change seen by the
other process within a second came through Redis pub/sub.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from tests.governance.helpers import (
    NANO_PER_TOKEN,
    Client,
    GatewayProcess,
    client,
    settings,
    start_gateway_process,
    stop_gateway_process,
    wait_for,
)

WORDS = 4
COST = WORDS * NANO_PER_TOKEN
BUDGET_USD = 50 * COST / 1e9


@pytest.fixture(scope="module")
async def gateways(
    pg_database: str, redis_url: str, redis_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[GatewayProcess, GatewayProcess]]:
    tmp = tmp_path_factory.mktemp("two-gateways")
    config = settings(pg_database, tmp, redis=redis_url, prefix=redis_prefix)
    config["governance"]["reload_interval"] = 30.0
    first, second = await asyncio.gather(
        start_gateway_process(config, tmp, "a"), start_gateway_process(config, tmp, "b")
    )
    yield first, second
    logs = await asyncio.gather(stop_gateway_process(first), stop_gateway_process(second))
    for log in logs:
        assert "Traceback" not in log, log


@asynccontextmanager
async def _both(
    gateways: tuple[GatewayProcess, GatewayProcess],
) -> AsyncIterator[tuple[Client, Client]]:
    async with client(gateways[0].url) as a, client(gateways[1].url) as b:
        yield a, b


async def _settled(admin: Client, path: str, spent_usd: float) -> bool:
    spend = await admin.ok("GET", path)
    return bool(
        spend["budget"]["reserved_usd"] == 0
        and spend["total_spent_usd"] == pytest.approx(spent_usd)
        and spend["budget"]["spent_usd"] == pytest.approx(spent_usd)
    )


async def _race(a: Client, b: Client, key: str, max_tokens: int) -> list[int]:
    users = (a.as_key(key), b.as_key(key))

    async def one(i: int) -> int:
        status, _, _ = await users[i % 2].chat(
            words=WORDS, max_tokens=max_tokens, stream=i % 4 >= 2
        )
        return status

    return list(await asyncio.gather(*[one(i) for i in range(200)]))


async def test_a_budget_for_50_admits_50_of_200_across_two_processes(
    gateways: tuple[GatewayProcess, GatewayProcess],
) -> None:
    async with _both(gateways) as (a, b):
        team = await a.ok(
            "POST",
            "/admin/v1/teams",
            {"name": "race2", "policy": {"budget": {"amount_usd": BUDGET_USD, "period": "weekly"}}},
        )
        key = await a.ok("POST", "/admin/v1/keys", {"name": "racer", "team_id": team["id"]})
        await wait_for(lambda: _known(b, key["key"]))
        statuses = await _race(a, b, key["key"], max_tokens=WORDS)
        assert statuses.count(200) == 50 and statuses.count(429) == 150
        path = f"/admin/v1/teams/{team['id']}/spend"
        await wait_for(lambda: _settled(b, path, BUDGET_USD), within=5)
        spend = await a.ok("GET", path)
        assert (spend["requests"], spend["completion_tokens"]) == (50, 50 * WORDS)
        assert spend["budget"]["remaining_usd"] == 0


async def test_shorter_answers_never_overrun_a_budget_across_two_processes(
    gateways: tuple[GatewayProcess, GatewayProcess],
) -> None:
    async with _both(gateways) as (a, b):
        key = await b.ok(
            "POST",
            "/admin/v1/keys",
            {"name": "short2", "policy": {"budget": {"amount_usd": BUDGET_USD, "period": "total"}}},
        )
        await wait_for(lambda: _known(a, key["key"]))
        statuses = await _race(a, b, key["key"], max_tokens=3 * WORDS)
        succeeded = statuses.count(200)
        spent_usd = succeeded * COST / 1e9
        path = f"/admin/v1/keys/{key['id']}/spend"
        await wait_for(lambda: _settled(a, path, spent_usd), within=5)
        assert 16 <= succeeded <= 50  # 16 reservations fit at once; never more than 50 paid


async def test_a_rate_limit_holds_across_two_processes(
    gateways: tuple[GatewayProcess, GatewayProcess],
) -> None:
    async with _both(gateways) as (a, b):
        key = await a.ok("POST", "/admin/v1/keys", {"name": "rpm", "policy": {"rpm": 10}})
        await wait_for(lambda: _known(b, key["key"]))
        users = (a.as_key(key["key"]), b.as_key(key["key"]))
        results = await asyncio.gather(*[users[i % 2].chat() for i in range(30)])
        statuses = [status for status, _, _ in results]
        assert statuses.count(200) == 10 and statuses.count(429) == 20
        for status, body, headers in results:
            if status == 429:
                assert body["error"]["code"] == "rate_limit_exceeded"
                assert 1 <= int(headers["Retry-After"]) <= 60
                assert headers["x-ratelimit-remaining-requests"] == "0"
            else:
                assert headers["x-ratelimit-limit-requests"] == "10"
        remaining = sorted(
            int(h["x-ratelimit-remaining-requests"]) for s, _, h in results if s == 200
        )
        assert remaining == list(range(10))


async def test_a_revocation_on_one_process_holds_on_the_other_within_a_second(
    gateways: tuple[GatewayProcess, GatewayProcess],
) -> None:
    async with _both(gateways) as (a, b):
        key = await a.ok("POST", "/admin/v1/keys", {"name": "revoked"})
        assert await wait_for(lambda: _known(b, key["key"])) < 1.0
        await a.ok("POST", f"/admin/v1/keys/{key['id']}/revoke")

        async def refused() -> bool:
            return (await b.as_key(key["key"]).chat())[0] == 401

        assert await wait_for(refused) < 1.0


async def _known(gateway: Client, key: str) -> bool:
    """The gateway knows the key (reading its own info costs nothing and counts nowhere)."""
    return (await gateway.as_key(key).call("GET", "/v1/key/info"))[0] == 200
