"""Budgets cannot be overrun: 200 concurrent requests against a budget that covers 50.

bastion/echo answers with the user's message, so with a price on output tokens
only, a request of N words with ``max_tokens`` N costs exactly its reservation.
Half the requests are streamed: streamed spend is counted like the rest.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from bastion.store.database import async_url
from tests.governance.helpers import NANO_PER_TOKEN, Client, client, governed_gateway, settings

WORDS = 4
COST = WORDS * NANO_PER_TOKEN  # nano-dollars per request: $0.004
BUDGET_USD = 50 * COST / 1e9  # covers exactly 50 requests


@pytest.fixture(params=["sqlite+memory", "postgresql+redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    if request.param == "sqlite+memory":
        return settings(f"sqlite:///{tmp_path / 'bastion.db'}", tmp_path)
    return settings(
        request.getfixturevalue("pg_database"),
        tmp_path,
        redis=request.getfixturevalue("redis_url"),
        prefix=request.getfixturevalue("redis_prefix"),
    )


async def _fire(user: Client, n: int, max_tokens: int) -> list[int]:
    async def one(i: int) -> int:
        status, body, headers = await user.chat(
            words=WORDS, max_tokens=max_tokens, stream=i % 2 == 1
        )
        if status == 429:
            assert body["error"]["code"] == "budget_exceeded"
            assert int(headers["Retry-After"]) >= 1
        return status

    return list(await asyncio.gather(*[one(i) for i in range(n)]))


async def _ledger(database: str, key_id: str) -> tuple[int, int]:
    engine = create_async_engine(async_url(database))
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.text(
                    # One ledger row per request: the refused ones (429) cost nothing.
                    "SELECT coalesce(sum(cost_nusd), 0), count(*) FROM spend_ledger "
                    "WHERE key_id = :key AND status = 200"
                ),
                {"key": key_id},
            )
        ).one()
    await engine.dispose()
    return int(row[0]), int(row[1])


async def test_200_concurrent_requests_at_a_budget_for_50(backend: dict[str, Any]) -> None:
    async with governed_gateway(**backend) as gw, client(gw.url) as admin:
        team = await admin.ok(
            "POST",
            "/admin/v1/teams",
            {"name": "race", "policy": {"budget": {"amount_usd": BUDGET_USD, "period": "daily"}}},
        )
        key = await admin.ok("POST", "/admin/v1/keys", {"name": "racer", "team_id": team["id"]})
        statuses = await _fire(admin.as_key(key["key"]), 200, max_tokens=WORDS)
        assert statuses.count(200) == 50 and statuses.count(429) == 150

        await gw.gateway.governance.drain()
        spend = await admin.ok("GET", f"/admin/v1/teams/{team['id']}/spend")
        assert spend["total_spent_usd"] == pytest.approx(BUDGET_USD)
        assert spend["requests"] == 50
        assert spend["completion_tokens"] == 50 * WORDS
        assert spend["budget"]["spent_usd"] == pytest.approx(BUDGET_USD)
        assert spend["budget"]["reserved_usd"] == 0
        assert spend["budget"]["remaining_usd"] == 0
        assert await _ledger(backend["database_url"], key["id"]) == (50 * COST, 50)


async def test_shorter_answers_than_reserved_never_overrun_the_budget(
    backend: dict[str, Any],
) -> None:
    async with governed_gateway(**backend) as gw, client(gw.url) as admin:
        key = await admin.ok(
            "POST",
            "/admin/v1/keys",
            {"name": "short", "policy": {"budget": {"amount_usd": BUDGET_USD, "period": "total"}}},
        )
        user = admin.as_key(key["key"])
        # Each request reserves 3x what it costs; admissions follow the settlements.
        statuses = await _fire(user, 200, max_tokens=3 * WORDS)
        await gw.gateway.governance.drain()
        # Until the budget is spent, more requests get in as reservations are released.
        while (await user.chat(words=WORDS, max_tokens=3 * WORDS))[0] == 200:
            statuses.append(200)
        await gw.gateway.governance.drain()
        succeeded = statuses.count(200)
        spent, requests = await _ledger(backend["database_url"], key["id"])
        assert (spent, requests) == (succeeded * COST, succeeded)
        assert spent <= 50 * COST
        assert succeeded >= 48  # 50 at most; the last reservations need 3x a request's cost
        info = await user.ok("GET", "/v1/key/info")
        (budget,) = info["budgets"]
        assert budget["spent_usd"] == pytest.approx(spent / 1e9)
        assert budget["reserved_usd"] == 0
