"""The Limits stage's path through the in-memory counters (rules, not per-request plans)
counts exactly what the general protocol (plans and settlements) counts."""

from __future__ import annotations

import random

import pytest

from bastion.store.counters import (
    Admission,
    BudgetLimit,
    GateCheck,
    MemoryCounters,
    Rules,
    WindowCheck,
    window_figures,
)

T0 = 1_750_000_000.0


def _state(counters: MemoryCounters) -> tuple[object, ...]:
    windows = {
        key: (w.total, [tuple(b) for b in w.buckets]) for key, w in counters._windows.items()
    }
    return windows, dict(counters._gates), dict(counters._budgets), set(counters._tickets)


WINDOWS = (WindowCheck("rpm:key:a", 8, 1), WindowCheck("tpm:key:a", 300, 0))
KEY_BUDGET = BudgetLimit("budget:key:a:total", 25_000, 0)
TEAM_BUDGET = BudgetLimit("budget:team:t:d2026-01-01", 90_000, int(T0) + 86_400)

SHAPES = {
    # every kind of check, two budgets: the general loops
    "gates and budgets": Rules(
        windows=WINDOWS,
        gates=(GateCheck("inflight:key:a", 3),),
        budgets=(KEY_BUDGET, TEAM_BUDGET),
        token_windows=("tpm:key:a",),
        gate_keys=("inflight:key:a",),
    ),
    # the usual policy (rpm, tpm, one budget): the one-budget path
    "one budget": Rules(
        windows=WINDOWS,
        budgets=(BudgetLimit("budget:team:t:m", 20_000, int(T0) + 86_400),),
        token_windows=("tpm:key:a",),
    ),
    "windows only": Rules(windows=WINDOWS, token_windows=("tpm:key:a",)),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_rules_count_what_plans_and_settlements_count(shape: str) -> None:
    rng = random.Random(7)
    rules = SHAPES[shape]
    fast, general = MemoryCounters(), MemoryCounters()
    held: list[tuple[str, int]] = []
    now = T0
    outcomes: dict[str | None, int] = {}
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
            if isinstance(one, Admission):  # refused: the same refusal
                assert not one.ok and one == two
            else:  # admitted: the windows, whose figures are the admission's
                assert two.ok
                assert window_figures(one, now) == (two.window_used, two.window_reset)
                held.append((ticket, reserve))
            outcomes[two.refused] = outcomes.get(two.refused, 0) + 1
        assert _state(fast) == _state(general)
    # Admissions and every kind of refusal the rules can make were compared.
    kinds: set[str | None] = {None, "window"}
    if rules.gates:
        kinds.add("gate")
    if rules.budgets:
        kinds.add("budget")
    assert set(outcomes) == kinds and min(outcomes.values()) >= 5
