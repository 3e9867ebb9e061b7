"""The counters behave the same in memory and in Redis (the Lua scripts)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from bastion.store.counters import (
    Admission,
    BudgetCheck,
    BudgetState,
    Counters,
    GateCheck,
    MemoryCounters,
    Plan,
    Settlement,
    WindowCheck,
)
from bastion.store.redis_counters import RedisCounters, connect

T0 = 1_800_000_000.0  # a fixed clock: the counters take the time as an argument


@pytest.fixture(params=["memory", "redis"])
async def counters(request: pytest.FixtureRequest) -> AsyncIterator[Counters]:
    if request.param == "memory":
        yield MemoryCounters()
        return
    url: str = request.getfixturevalue("redis_url")
    prefix = "bastion-test-counters-" + uuid.uuid4().hex[:10]
    store = RedisCounters(connect(url), prefix)
    yield store
    client = aioredis.Redis.from_url(url)
    keys = [k async for k in client.scan_iter(match=prefix + ":*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()
    await store.close()


async def test_a_sliding_window_admits_up_to_the_limit_and_frees_as_seconds_pass(
    counters: Counters,
) -> None:
    plan = Plan(windows=(WindowCheck("rpm:key:a", 3, 1),))
    assert (await counters.admit(plan, T0)).window_used == [1]
    assert (await counters.admit(plan, T0 + 10)).window_used == [2]
    third = await counters.admit(plan, T0 + 20)
    assert third.ok and third.window_used == [3]
    assert third.window_reset == [pytest.approx(40.0)]  # the first request leaves at T0+60
    refused = await counters.admit(plan, T0 + 30)
    assert (refused.ok, refused.refused, refused.index) == (False, "window", 0)
    assert refused.retry_after == pytest.approx(30.0)
    # One second after the first request's second leaves the window, one place frees.
    assert (await counters.admit(plan, T0 + 59)).ok is False
    assert (await counters.admit(plan, T0 + 60)).ok is True
    assert await counters.window("rpm:key:a", T0 + 60) == (3, pytest.approx(10.0))


async def test_a_tokens_window_is_checked_at_admission_and_charged_at_settlement(
    counters: Counters,
) -> None:
    plan = Plan(windows=(WindowCheck("tpm:key:b", 100, 0),))
    assert (await counters.admit(plan, T0)).window_used == [0]
    await counters.settle(Settlement(windows=(("tpm:key:b", 99),)), T0)
    assert (await counters.admit(plan, T0 + 1)).ok  # 99 < 100
    await counters.settle(Settlement(windows=(("tpm:key:b", 1),)), T0 + 1)
    refused = await counters.admit(plan, T0 + 2)
    assert (refused.ok, refused.refused) == (False, "window")
    assert refused.retry_after == pytest.approx(58.0)  # when the 99 tokens leave


async def test_a_refused_plan_applies_nothing(counters: Counters) -> None:
    open_window = WindowCheck("rpm:team:c", 10, 1)
    full_budget = BudgetCheck("budget:key:c:total", 100, 60, 0)
    assert (await counters.admit(Plan(budgets=(full_budget,)), T0)).ok
    refused = await counters.admit(Plan(windows=(open_window,), budgets=(full_budget,)), T0)
    assert (refused.ok, refused.refused, refused.index) == (False, "budget", 0)
    assert await counters.window("rpm:team:c", T0) == (0, 0.0)  # the window was not charged
    assert await counters.budgets(["budget:key:c:total"]) == [BudgetState(0, 60)]


async def test_a_gate_counts_requests_in_flight(counters: Counters) -> None:
    plan = Plan(gates=(GateCheck("inflight:key:d", 2),))
    assert (await counters.admit(plan, T0)).ok
    assert (await counters.admit(plan, T0)).ok
    refused = await counters.admit(plan, T0)
    assert (refused.ok, refused.refused) == (False, "gate")
    await counters.settle(Settlement(gates=("inflight:key:d",)), T0)
    assert (await counters.admit(plan, T0)).ok


async def test_budgets_reserve_the_worst_case_and_settle_to_the_real_cost(
    counters: Counters,
) -> None:
    key = "budget:team:e:d2027-01-15"
    check = BudgetCheck(key, 1000, 300, 3600)
    admitted = [await counters.admit(Plan(budgets=(check,)), T0) for _ in range(4)]
    assert [a.ok for a in admitted] == [True, True, True, False]
    assert [a.budget_left for a in admitted[:3]] == [[700], [400], [100]]
    assert admitted[3].retry_after == 1.0  # reservations in flight may free room
    # Two requests cost less than reserved; the room comes back.
    await counters.settle(Settlement(budgets=((key, 300, 120, 3600), (key, 300, 80, 3600))), T0)
    assert await counters.budgets([key]) == [BudgetState(200, 300)]
    assert (await counters.admit(Plan(budgets=(check,)), T0)).budget_left == [200]
    await counters.settle(Settlement(budgets=((key, 300, 300, 3600), (key, 300, 300, 3600))), T0)
    assert await counters.budgets([key]) == [BudgetState(800, 0)]
    spent_out = await counters.admit(Plan(budgets=(check,)), T0)
    assert (spent_out.ok, spent_out.retry_after) == (False, -1.0)  # wait for the period's end


async def test_large_budgets_keep_every_digit(counters: Counters) -> None:
    # $1,000,000 in nano-dollars has 16 digits: Lua's tostring would say "1e+15".
    key = "budget:org:big:total"
    check = BudgetCheck(key, 10**15, 3, 0)
    admitted = await counters.admit(Plan(budgets=(check,)), T0)
    assert admitted.ok and admitted.budget_left == [10**15 - 3]


async def test_seeding_sets_a_budget_only_once(counters: Counters) -> None:
    await counters.seed_budget("budget:org:f:total", 500, 0)
    await counters.seed_budget("budget:org:f:total", 900, 0)
    assert await counters.budgets(["budget:org:f:total", "budget:org:none:total"]) == [
        BudgetState(500, 0),
        BudgetState(0, 0),
    ]


async def test_concurrent_admissions_never_overrun_a_budget(counters: Counters) -> None:
    check = BudgetCheck("budget:key:g:total", 50 * 7, 7, 0)
    results: list[Admission] = await asyncio.gather(
        *[counters.admit(Plan(budgets=(check,)), T0) for _ in range(200)]
    )
    assert sum(r.ok for r in results) == 50
    assert await counters.budgets(["budget:key:g:total"]) == [BudgetState(0, 350)]


async def test_settlements_in_a_batch_all_apply(counters: Counters) -> None:
    check = BudgetCheck("budget:key:h:total", 1000, 100, 0)
    gate = GateCheck("inflight:key:h", 5)
    for _ in range(3):
        assert (await counters.admit(Plan(gates=(gate,), budgets=(check,)), T0)).ok
    settle = Settlement(gates=("inflight:key:h",), budgets=(("budget:key:h:total", 100, 40, 0),))
    await counters.settle_batch([settle, settle, settle], T0)
    assert await counters.budgets(["budget:key:h:total"]) == [BudgetState(120, 0)]
    five = [await counters.admit(Plan(gates=(gate,)), T0) for _ in range(6)]
    assert [a.ok for a in five] == [True] * 5 + [False]  # every gate place came back


async def test_a_ticket_settles_once_however_often_it_is_sent(counters: Counters) -> None:
    key = "budget:key:i:total"
    gate = GateCheck("inflight:key:i", 2)
    assert (await counters.admit(Plan(gates=(gate,), ticket="t-0"), T0)).ok  # stays in flight
    plan = Plan(gates=(gate,), budgets=(BudgetCheck(key, 1000, 300, 0),), ticket="t-1")
    assert (await counters.admit(plan, T0)).ok
    settle = Settlement(gates=(gate.key,), budgets=((key, 300, 100, 0),), ticket="t-1")
    # Sent again after an error whose outcome was unknown (a lost reply): applied once.
    await counters.settle(settle, T0)
    await counters.settle_batch([settle, settle], T0)
    assert await counters.budgets([key]) == [BudgetState(100, 0)]
    # Releasing an admission that was refused (or never ran) releases nothing.
    refused = Plan(gates=(gate,), budgets=(BudgetCheck(key, 1000, 950, 0),), ticket="t-2")
    assert not (await counters.admit(refused, T0)).ok
    release = Settlement(gates=(gate.key,), budgets=((key, 950, 0, 0),), ticket="t-2")
    await counters.settle(release, T0)
    assert await counters.budgets([key]) == [BudgetState(100, 0)]
    # t-0 still holds its place: one more request fits, not two.
    assert (await counters.admit(Plan(gates=(gate,), ticket="t-3"), T0)).ok
    assert not (await counters.admit(Plan(gates=(gate,), ticket="t-4"), T0)).ok
