"""The Limits stage's path through the in-memory counters (rules, not per-request plans)
counts exactly what the general protocol (plans and settlements) counts."""

from __future__ import annotations

import random

from bastion.store.counters import (
    BudgetLimit,
    GateCheck,
    MemoryCounters,
    Rules,
    WindowCheck,
)

T0 = 1_750_000_000.0


def _state(counters: MemoryCounters) -> tuple[object, ...]:
    windows = {
        key: (w.total, [tuple(b) for b in w.buckets]) for key, w in counters._windows.items()
    }
    return windows, dict(counters._gates), dict(counters._budgets), set(counters._tickets)


def test_rules_count_what_plans_and_settlements_count() -> None:
    rng = random.Random(7)
    rules = Rules(
        windows=(WindowCheck("rpm:key:a", 8, 1), WindowCheck("tpm:key:a", 300, 0)),
        gates=(GateCheck("inflight:key:a", 3),),
        budgets=(
            BudgetLimit("budget:key:a:total", 25_000, 0),
            BudgetLimit("budget:team:t:d2026-01-01", 90_000, int(T0) + 86_400),
        ),
        token_windows=("tpm:key:a",),
        gate_keys=("inflight:key:a",),
    )
    fast, general = MemoryCounters(), MemoryCounters()
    held: list[tuple[str, int]] = []
    now = T0
    for n in range(600):
        now += rng.choice([0.0, 0.3, 1.0, 7.0, 30.0])
        if held and rng.random() < 0.55:
            ticket, reserve = held.pop(rng.randrange(len(held)))
            tokens, cost = rng.randrange(0, 60), rng.randrange(0, reserve + 1)
            if rng.random() < 0.1:
                ticket = ""  # a settlement without a ticket always applies
            fast.settle_rules(rules, tokens, reserve, cost, ticket, now)
            general.settle_now(rules.settlement(tokens, reserve, cost, ticket, now), now)
        else:
            ticket, reserve = f"t{n}", rng.randrange(0, 700)
            one = fast.admit_rules(rules, reserve, ticket, now)
            two = general.admit_now(rules.plan(reserve, ticket, now), now)
            assert one == two
            if one.ok:
                held.append((ticket, reserve))
        assert _state(fast) == _state(general)
