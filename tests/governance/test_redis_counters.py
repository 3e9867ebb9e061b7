"""The Redis counters' own edge cases: batched admissions, free requests, unknown scripts."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import redis.exceptions

from bastion.store.counters import (
    BudgetCheck,
    GateCheck,
    Plan,
    Settlement,
    WindowCheck,
)
from bastion.store.redis_counters import RedisCounters, connect


def _counters(redis_url: str, redis_prefix: str) -> RedisCounters:
    return RedisCounters(connect(redis_url), f"{redis_prefix}:{uuid.uuid4().hex[:8]}")


async def test_a_request_that_reserved_nothing_settles_and_frees_its_place(
    redis_url: str, redis_prefix: str
) -> None:
    # A free model reserves 0: Lua's -0 once reached HINCRBY as "-0", which Redis
    # refuses, so the settlement failed and the place in flight was never released.
    counters = _counters(redis_url, redis_prefix)
    try:
        now = time.time()
        plan = Plan(
            gates=(GateCheck("inflight:key:k", 1),),
            budgets=(BudgetCheck("budget:key:k:total", 1000, 0, 0),),
            ticket="free-1",
        )
        assert (await counters.admit(plan, now)).ok
        await counters.settle(
            Settlement(
                gates=("inflight:key:k",),
                budgets=(("budget:key:k:total", 0, 0, 0),),
                ticket="free-1",
            ),
            now,
        )
        again = Plan(gates=plan.gates, budgets=plan.budgets, ticket="free-2")
        assert (await counters.admit(again, now)).ok  # the one place came back
        (state,) = await counters.budgets(["budget:key:k:total"])
        assert (state.spent, state.reserved) == (0, 0)
    finally:
        await counters.close()


async def test_concurrent_admissions_share_a_pipeline_and_stay_atomic(
    redis_url: str, redis_prefix: str
) -> None:
    counters = _counters(redis_url, redis_prefix)
    try:
        now = time.time()
        plans = [
            Plan(windows=(WindowCheck("rpm:key:k", 10, 1),), ticket=f"t{i}") for i in range(25)
        ]
        admissions = await asyncio.gather(*(counters.admit(p, now) for p in plans))
        admitted = [a for a in admissions if a.ok]
        assert len(admitted) == 10
        assert sorted(a.window_used[0] for a in admitted) == list(range(1, 11))
        refused = [a for a in admissions if not a.ok]
        assert {(a.refused, a.index) for a in refused} == {("window", 0)}
        assert all(0 < a.retry_after <= 60 for a in refused)
    finally:
        await counters.close()


async def test_scripts_flushed_from_redis_are_loaded_again(
    redis_url: str, redis_prefix: str
) -> None:
    counters = _counters(redis_url, redis_prefix)
    try:
        now = time.time()
        plan = Plan(budgets=(BudgetCheck("budget:key:s:total", 1000, 10, 0),), ticket="s1")
        await counters._redis.script_flush()
        assert (await counters.admit(plan, now)).ok
        await counters._redis.script_flush()
        await counters.settle_batch(
            [Settlement(budgets=(("budget:key:s:total", 10, 7, 0),), ticket="s1")], now
        )
        (state,) = await counters.budgets(["budget:key:s:total"])
        assert (state.spent, state.reserved) == (7, 0)
    finally:
        await counters.close()


async def test_a_kept_connection_that_was_dropped_or_sat_idle_is_replaced(
    redis_url: str, redis_prefix: str
) -> None:
    counters = _counters(redis_url, redis_prefix)
    windows = (WindowCheck("rpm:key:c", 100, 1),)
    try:
        now = time.time()
        assert (await counters.admit(Plan(windows=windows, ticket="c1"), now)).ok
        ((conn, _),) = counters._spare  # kept for the next call
        await conn.disconnect()  # dropped on this side: connects again
        assert (await counters.admit(Plan(windows=windows, ticket="c2"), now)).ok
        # Idle past the limit: back to the pool, whose checkout tests it.
        counters._spare = [(c, since - 60) for c, since in counters._spare]
        admission = await counters.admit(Plan(windows=windows, ticket="c3"), now)
        assert admission.window_used == [3] and len(counters._spare) == 1
        # Killed by Redis: at most the call on it fails, the next finds a new one.
        ((conn, _),) = counters._spare
        await conn.send_command("CLIENT", "ID")
        await counters._redis.client_kill_filter(_id=await conn.read_response())
        with contextlib.suppress(redis.exceptions.ConnectionError, OSError):
            await counters.admit(Plan(windows=windows, ticket="c4"), now)
        assert (await counters.admit(Plan(windows=windows, ticket="c5"), now)).ok
    finally:
        await counters.close()
