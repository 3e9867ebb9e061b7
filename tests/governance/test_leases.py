"""Holds in Redis are leases: a process that dies gives back its reservations and places.

Two counters objects stand for two replicas sharing one Redis. The counters take
the time as an argument, so a lease lapsing is a later ``now``, not a wait; one
test lets the renewal task run for real.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from bastion.store.counters import BudgetCheck, BudgetState, GateCheck, Plan, Settlement
from bastion.store.redis_counters import RedisCounters, connect

T0 = 1_800_000_000.0
GATE = GateCheck("inflight:key:l", 1)
BUDGET = "budget:key:l:total"


def _pair(redis_url: str, redis_prefix: str, lease_ttl: float) -> tuple[RedisCounters, ...]:
    prefix = f"{redis_prefix}:{uuid.uuid4().hex[:8]}"
    return tuple(RedisCounters(connect(redis_url), prefix, lease_ttl) for _ in range(2))


def _plan(ticket: str, reserve: int) -> Plan:
    return Plan(gates=(GATE,), budgets=(BudgetCheck(BUDGET, 1000, reserve, 0),), ticket=ticket)


def _settlement(ticket: str, reserved: int, actual: int) -> Settlement:
    return Settlement(gates=(GATE.key,), budgets=((BUDGET, reserved, actual, 0),), ticket=ticket)


async def test_a_dead_process_holds_are_reclaimed_once_its_lease_lapses(
    redis_url: str, redis_prefix: str
) -> None:
    dead, alive = _pair(redis_url, redis_prefix, 30.0)
    try:
        assert (await dead.admit(_plan("d-1", 800), T0)).ok
        await dead.close()  # dies: never renews, never settles
        # Within the lease the place and the reservation stay held.
        refused = await alive.admit(_plan("a-1", 100), T0 + 29)
        assert (refused.ok, refused.refused) == (False, "gate")
        assert await alive.budgets([BUDGET]) == [BudgetState(0, 800)]
        # Lapsed: the next admission returns both, then takes its own.
        admitted = await alive.admit(_plan("a-2", 900), T0 + 31)
        assert admitted.ok and admitted.budget_left == [100]
        assert await alive.budgets([BUDGET]) == [BudgetState(0, 900)]
        await alive.settle(_settlement("a-2", 900, 300), T0 + 32)
        assert await alive.budgets([BUDGET]) == [BudgetState(300, 0)]
        assert (await alive.admit(_plan("a-3", 700), T0 + 33)).ok  # the place came back
    finally:
        await alive.close()


async def test_a_slow_process_settles_a_reclaimed_lease_without_counting_it_twice(
    redis_url: str, redis_prefix: str
) -> None:
    slow, other = _pair(redis_url, redis_prefix, 30.0)
    try:
        assert (await slow.admit(_plan("s-1", 600), T0)).ok
        # The slow process stalls past its lease: another replica reclaims it.
        assert (await other.admit(_plan("o-1", 400), T0 + 40)).ok
        assert await other.budgets([BUDGET]) == [BudgetState(0, 400)]
        # The slow request ends after all: its real cost is charged, and its
        # reservation (returned already) and place (taken by o-1) are not released.
        await slow.settle(_settlement("s-1", 600, 250), T0 + 41)
        assert await other.budgets([BUDGET]) == [BudgetState(250, 400)]
        refused = await other.admit(_plan("o-2", 1), T0 + 42)
        assert (refused.ok, refused.refused) == (False, "gate")  # o-1 still holds the place
        # Sent again (a lost reply): applied once.
        await slow.settle(_settlement("s-1", 600, 250), T0 + 43)
        await other.settle(_settlement("o-1", 400, 100), T0 + 44)
        assert await other.budgets([BUDGET]) == [BudgetState(350, 0)]
        assert (await other.admit(_plan("o-3", 650), T0 + 45)).ok
        refused = await other.admit(_plan("o-4", 1), T0 + 45)
        assert (refused.ok, refused.refused) == (False, "gate")
    finally:
        await slow.close()
        await other.close()


async def test_renewing_keeps_a_long_request_held(redis_url: str, redis_prefix: str) -> None:
    owner, other = _pair(redis_url, redis_prefix, 30.0)
    try:
        assert (await owner.admit(_plan("r-1", 500), T0)).ok
        assert await owner.renew(T0 + 25) == 0  # held until T0 + 55
        assert not (await other.admit(_plan("x-1", 100), T0 + 50)).ok
        assert await other.budgets([BUDGET]) == [BudgetState(0, 500)]
        assert await owner.renew(T0 + 50) == 0  # until T0 + 80
        assert not (await other.admit(_plan("x-2", 100), T0 + 70)).ok
        # The request ends: settled normally, nothing reclaimed on the way.
        await owner.settle(_settlement("r-1", 500, 450), T0 + 75)
        assert await other.budgets([BUDGET]) == [BudgetState(450, 0)]
        assert (await other.admit(_plan("x-3", 100), T0 + 76)).ok
        assert await owner.renew(T0 + 77) == 0  # nothing open: nothing sent
    finally:
        await owner.close()
        await other.close()


async def test_a_renewal_after_the_lease_was_reclaimed_does_not_bring_it_back(
    redis_url: str, redis_prefix: str
) -> None:
    slow, other = _pair(redis_url, redis_prefix, 30.0)
    try:
        assert (await slow.admit(_plan("s-1", 600), T0)).ok
        assert (await other.admit(_plan("o-1", 300), T0 + 31)).ok  # reclaims s-1
        assert await slow.renew(T0 + 32) == 2  # its place and its reservation: gone
        assert await other.budgets([BUDGET]) == [BudgetState(0, 300)]
        await other.settle(_settlement("o-1", 300, 0), T0 + 33)
        assert (await other.admit(_plan("o-2", 1000), T0 + 34)).ok  # nothing held by s-1
    finally:
        await slow.close()
        await other.close()


async def test_the_renewal_task_keeps_leases_alive_in_real_time(
    redis_url: str, redis_prefix: str
) -> None:
    owner, other = _pair(redis_url, redis_prefix, 0.6)
    try:
        assert (await owner.admit(_plan("t-1", 500), time.time())).ok
        await asyncio.sleep(2.0)  # over three lease lifetimes: renewed every 0.2 s
        assert not (await other.admit(_plan("y-1", 100), time.time())).ok
        await owner.close()  # stops renewing (dies)
        await asyncio.sleep(0.8)
        assert (await other.admit(_plan("y-2", 500), time.time())).ok
        assert await other.budgets([BUDGET]) == [BudgetState(0, 500)]
    finally:
        await owner.close()
        await other.close()
