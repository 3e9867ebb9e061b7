"""Tokens per minute, requests in flight, and budgets that survive a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.fakes.openai_upstream import DEFAULT_API_KEY, FakeOpenAI
from tests.governance.helpers import NANO_PER_TOKEN, client, governed_gateway, settings


async def test_tokens_per_minute_are_counted_from_usage(tmp_path: Path) -> None:
    config = settings(f"sqlite:///{tmp_path / 'b.db'}", tmp_path)
    async with governed_gateway(**config) as gw, client(gw.url) as admin:
        key = await admin.ok("POST", "/admin/v1/keys", {"name": "t", "policy": {"tpm": 10}})
        user = admin.as_key(key["key"])
        status, _, headers = await user.chat(words=4)  # 4 prompt + 4 completion tokens
        assert status == 200 and headers["x-ratelimit-remaining-tokens"] == "10"
        await gw.gateway.governance.drain()
        status, _, headers = await user.chat(words=4)
        assert status == 200 and headers["x-ratelimit-remaining-tokens"] == "2"
        await gw.gateway.governance.drain()
        status, error, headers = await user.chat(words=4)
        assert status == 429 and error["error"]["code"] == "rate_limit_exceeded"
        assert "10 tokens per minute for this key" in error["error"]["message"]
        assert headers["x-ratelimit-remaining-tokens"] == "0" and int(headers["Retry-After"]) >= 1
        info = await user.ok("GET", "/v1/key/info")
        assert info["limits"] == [
            {
                "scope": "key",
                "scope_id": key["id"],
                "rpm": None,
                "requests_last_minute": None,
                "tpm": 10,
                "tokens_last_minute": 16,
                "max_concurrent": None,
            }
        ]


async def test_requests_in_flight_are_limited(tmp_path: Path) -> None:
    fake = FakeOpenAI()
    await fake.start()
    config = settings(
        f"sqlite:///{tmp_path / 'b.db'}",
        tmp_path,
        providers={"fake": {"kind": "openai", "base_url": fake.url, "api_key": DEFAULT_API_KEY}},
    )
    try:
        async with governed_gateway(**config) as gw, client(gw.url) as admin:
            team = await admin.ok(
                "POST", "/admin/v1/teams", {"name": "c", "policy": {"max_concurrent": 2}}
            )
            keys = [
                await admin.ok("POST", "/admin/v1/keys", {"name": f"k{i}", "team_id": team["id"]})
                for i in range(2)
            ]
            # Three slow requests from two keys of the team: the third waits for none.
            results = await asyncio.gather(
                *[admin.as_key(keys[i % 2]["key"]).chat(model="fake/slow-0.3") for i in range(3)]
            )
            statuses = sorted(status for status, _, _ in results)
            assert statuses == [200, 200, 429]
            refused = next(body for status, body, _ in results if status == 429)
            assert refused["error"]["code"] == "concurrency_limit_exceeded"
            assert "this key's team" in refused["error"]["message"]
            # Once they finished, the places are free again.
            assert (await admin.as_key(keys[0]["key"]).chat(model="fake/gpt-4o-mini"))[0] == 200
    finally:
        await fake.stop()


async def test_a_restarted_gateway_starts_from_the_recorded_spend(tmp_path: Path) -> None:
    config = settings(f"sqlite:///{tmp_path / 'b.db'}", tmp_path)
    budget_usd = 3 * 4 * NANO_PER_TOKEN / 1e9  # three requests of 4 words
    async with governed_gateway(**config) as gw, client(gw.url) as admin:
        key = await admin.ok(
            "POST",
            "/admin/v1/keys",
            {"name": "r", "policy": {"budget": {"amount_usd": budget_usd, "period": "monthly"}}},
        )
        user = admin.as_key(key["key"])
        assert [(await user.chat(max_tokens=4))[0] for _ in range(2)] == [200, 200]
    async with governed_gateway(**config) as gw, client(gw.url) as admin:
        user = admin.as_key(key["key"])
        info = await user.ok("GET", "/v1/key/info")
        assert info["budgets"][0]["spent_usd"] == pytest.approx(2 * 4 * NANO_PER_TOKEN / 1e9)
        assert [(await user.chat(max_tokens=4))[0] for _ in range(2)] == [200, 429]
