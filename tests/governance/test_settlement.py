"""Every admission is settled exactly once, whatever becomes of its request.

With the counters in memory a request settles in its finisher; with Redis, on a
background task, after the answer went out. Either way a caller's next request
must find its last one settled, a client that leaves must release what its
request held, and a lost reply (of an admission or a settlement) must neither
leak a reservation nor count it twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.exceptions

from bastion.store.counters import Admission, Plan, Rules, Settlement
from tests.fakes.openai_upstream import DEFAULT_API_KEY, FakeOpenAI
from tests.governance.helpers import NANO_PER_TOKEN, Client, client, governed_gateway, settings

WORDS = 4
COST = WORDS * NANO_PER_TOKEN  # nano-dollars per bastion/echo request of WORDS words


def _settings(request: pytest.FixtureRequest, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    database = f"sqlite:///{tmp_path / 'bastion.db'}"
    if request.param == "memory":
        return settings(database, tmp_path, **extra)
    return settings(
        database,
        tmp_path,
        redis=request.getfixturevalue("redis_url"),
        prefix=request.getfixturevalue("redis_prefix"),
        **extra,
    )


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    return _settings(request, tmp_path)


@pytest.fixture(params=["redis"])
def redis_backend(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    return _settings(request, tmp_path)


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    upstream = FakeOpenAI()
    await upstream.start()
    try:
        yield upstream
    finally:
        await upstream.stop()


async def _key(admin: Client, **policy: Any) -> tuple[Client, str]:
    key = await admin.ok("POST", "/admin/v1/keys", {"name": "k", "policy": policy})
    return admin.as_key(key["key"]), key["id"]


def _budget(requests: int) -> dict[str, Any]:
    return {"amount_usd": requests * COST / 1e9, "period": "total"}


async def _budget_state(user: Client) -> tuple[float, float]:
    """(spent, reserved) in nano-dollars, as the key sees them."""
    (budget,) = (await user.ok("GET", "/v1/key/info"))["budgets"]
    return round(budget["spent_usd"] * 1e9), round(budget["reserved_usd"] * 1e9)


async def test_a_callers_next_request_finds_its_last_one_settled(
    backend: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with governed_gateway(**backend) as gw, client(gw.url) as admin:
        counters = gw.gateway.governance.counters
        settle_batch = counters.settle_batch

        async def late(batch: list[Settlement], now: float) -> None:
            await asyncio.sleep(0.2)  # a settlement still on its way when the answer is out
            await settle_batch(batch, now)

        monkeypatch.setattr(counters, "settle_batch", late)
        # Each request reserves 3x its cost: a budget for 5 takes 3 requests one after the
        # other when each settles before the next is admitted; 1 if the last still held 3.
        user, _ = await _key(admin, budget=_budget(5))
        statuses = [(await user.chat(words=WORDS, max_tokens=3 * WORDS))[0] for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        # One request at a time: each leaves its place to the next.
        one_at_a_time, _ = await _key(admin, max_concurrent=1)
        assert [(await one_at_a_time.chat())[0] for _ in range(3)] == [200, 200, 200]
        await gw.gateway.governance.drain()
        assert await _budget_state(user) == (3 * COST, 0)


async def test_a_client_that_leaves_releases_what_its_request_held(
    backend: dict[str, Any], fake: FakeOpenAI, tmp_path: Path
) -> None:
    provider = {"kind": "openai", "base_url": fake.url, "api_key": DEFAULT_API_KEY}
    models = ("fake/slow-5", "fake/stream-hang", "fake/gpt-4o-mini")
    prices = {model: {"input": 1.0, "output": 2.0} for model in models}
    config = {**backend, "providers": {"fake": provider}, "pricing": {"models": prices}}
    async with governed_gateway(**config) as gw, client(gw.url) as admin:
        user, _ = await _key(admin, budget={"amount_usd": 1, "period": "total"})
        one_at_a_time = {"authorization": f"Bearer {(await _key(admin, max_concurrent=1))[0].key}"}
        body: dict[str, Any] = {
            "model": "fake/slow-5",
            "messages": [{"role": "user", "content": "hello"}],
            "max_tokens": 10,
        }
        url = gw.url + "/v1/chat/completions"
        headers = {"authorization": f"Bearer {user.key}"}
        # A plain request whose client gives up while the upstream works.
        with pytest.raises(TimeoutError):
            await user.session.post(
                url, json=body, headers=headers, timeout=aiohttp.ClientTimeout(total=0.3)
            )
        with pytest.raises(TimeoutError):
            await user.session.post(
                url, json=body, headers=one_at_a_time, timeout=aiohttp.ClientTimeout(total=0.3)
            )
        await gw.gateway.governance.drain()  # waits for the requests the clients left
        # A stream whose client leaves after the first chunk.
        stream = {**body, "model": "fake/stream-hang", "stream": True}
        reserved = []
        for auth in (headers, one_at_a_time):
            response = await user.session.post(url, json=stream, headers=auth)
            assert response.status == 200
            assert await response.content.readany()
            reserved.append((await _budget_state(user))[1])
            response.close()
        await gw.gateway.governance.drain()

        # Cut off with no usage, each was charged its reservation and holds nothing more.
        reservation = reserved[0]  # the stream's (the plain request had settled)
        assert reservation > 0 and reserved == [reservation, 0]
        assert await _budget_state(user) == (2 * reservation, 0)
        # The one place in flight came back each time.
        for model in ("fake/gpt-4o-mini", "fake/gpt-4o-mini"):
            async with user.session.post(
                url, json={**body, "model": model}, headers=one_at_a_time
            ) as response:
                assert response.status == 200


async def test_an_admission_whose_reply_was_lost_is_released(
    backend: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with governed_gateway(**backend) as gw, client(gw.url) as admin:
        counters = gw.gateway.governance.counters
        admit = counters.admit

        async def reply_lost(plan: Plan, now: float) -> Admission:
            await admit(plan, now)  # applied, but its reply never comes back
            raise redis.exceptions.ConnectionError("Connection reset by peer")

        user, _ = await _key(admin, budget=_budget(5), max_concurrent=1)
        monkeypatch.setattr(counters, "admit", reply_lost)
        admit_rules = getattr(counters, "admit_rules", None)
        if admit_rules is not None:  # memory: the Limits stage admits synchronously

            def lost_now(rules: Rules, reserve: int, ticket: str, now: float) -> Admission:
                admit_rules(rules, reserve, ticket, now)
                raise redis.exceptions.ConnectionError("Connection reset by peer")

            monkeypatch.setattr(gw.gateway.governance.limits, "_admit_rules", lost_now)
        status, error, _ = await user.chat(words=WORDS, max_tokens=3 * WORDS)
        assert (status, error["error"]["code"]) == (503, "limits_unavailable")
        monkeypatch.undo()
        await gw.gateway.governance.drain()
        assert await _budget_state(user) == (0, 0)
        # Neither its reservation nor its place in flight is held any more.
        statuses = [(await user.chat(words=WORDS, max_tokens=3 * WORDS))[0] for _ in range(2)]
        assert statuses == [200, 200]


async def test_a_settlement_that_failed_is_sent_again_and_applies_once(
    redis_backend: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with governed_gateway(**redis_backend) as gw, client(gw.url) as admin:
        counters = gw.gateway.governance.counters
        settle_batch = counters.settle_batch
        failures: list[str] = []

        async def flaky(batch: list[Settlement], now: float) -> None:
            if len(failures) == 0:
                failures.append("refused")  # not applied
                raise redis.exceptions.ConnectionError("Connection refused")
            await settle_batch(batch, now)
            if len(failures) == 1:
                failures.append("reply lost")  # applied, but Redis's reply never came back
                raise redis.exceptions.TimeoutError("Timeout reading from socket")

        monkeypatch.setattr(counters, "settle_batch", flaky)
        user, _ = await _key(admin, budget=_budget(5))
        assert (await user.chat(words=WORDS, max_tokens=3 * WORDS))[0] == 200
        await gw.gateway.governance.drain()
        assert failures == ["refused", "reply lost"]
        assert await _budget_state(user) == (COST, 0)  # released once, spent once
