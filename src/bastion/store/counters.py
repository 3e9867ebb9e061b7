"""Shared counters for rate limits, concurrency and budgets: the protocol and its in-memory twin.

One admission is one atomic call: every check of every scope in the chain
(org, team, user, app, key) is tested first and applied only if all pass, so
concurrent requests cannot slip past a limit together. :class:`MemoryCounters`
is atomic because it never awaits inside ``admit``; the Redis twin
(``store/redis_counters.py``) runs the same logic as one Lua script.

- A *window* is a sliding window of the last 60 seconds kept as 60 one-second
  buckets: requests per minute add 1 at admission; tokens per minute are only
  checked at admission and added when usage is known.
- A *gate* counts requests in flight (concurrency); settling releases it.
- A *budget* holds ``spent`` and ``reserved`` nano-dollars for one period. A
  request reserves its worst case; settling moves the real cost to ``spent``
  and releases the reservation. Admission fails when
  ``spent + reserved + reserve > limit``.
- A *ticket* (optional, one per admitted request) makes settling exactly-once:
  admission records it with what it reserved, and a settlement naming it applies
  only while it is recorded, then removes it. A settlement can so be retried
  after an error, or sent for an admission whose outcome is unknown (a lost
  reply, a cancelled call): it releases what was reserved once, or nothing.
- In Redis a ticket's holds (places, reservations) are also leases, which its
  process renews and any admission reclaims once lapsed, so a process that dies
  mid-request does not keep them (``store/redis_counters.py``). In memory the
  holds die with the process: no leases.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from math import floor
from typing import Literal, Protocol

WINDOW_SECONDS = 60


@dataclass(frozen=True, slots=True)
class WindowCheck:
    key: str
    limit: int
    add: int  # added at admission: 1 for requests, 0 for tokens (checked only)


@dataclass(frozen=True, slots=True)
class GateCheck:
    key: str
    limit: int


# Built per request: plain slotted dataclasses (a frozen one's __init__ costs ~3x more).
@dataclass(slots=True)
class BudgetCheck:
    key: str
    limit: int  # nano-dollars
    reserve: int  # nano-dollars
    ttl: int  # seconds from now the counter is kept (its period's end and a margin); 0: forever


@dataclass(slots=True)
class Plan:
    windows: tuple[WindowCheck, ...] = ()
    gates: tuple[GateCheck, ...] = ()
    budgets: tuple[BudgetCheck, ...] = ()
    ticket: str = ""  # recorded on admission; "" for none

    def __bool__(self) -> bool:
        return bool(self.windows or self.gates or self.budgets)


@dataclass(slots=True)
class Admission:
    """The answer to a plan. On success, each window's use after admission and when it frees."""

    ok: bool
    refused: Literal["window", "gate", "budget"] | None = None
    index: int = -1  # which check of that kind refused
    retry_after: float = 0.0  # seconds; negative for a budget: when its period ends
    window_used: list[int] = field(default_factory=list)
    window_reset: list[float] = field(default_factory=list)  # seconds until a unit frees
    budget_left: list[int] = field(default_factory=list)  # nano-dollars, after the reservation


@dataclass(slots=True)
class Settlement:
    windows: tuple[tuple[str, int], ...] = ()  # (key, amount) added now (tokens used)
    gates: tuple[str, ...] = ()  # released
    budgets: tuple[tuple[str, int, int, int], ...] = ()  # (key, reserved, actual, ttl)
    ticket: str = ""  # applied only while this ticket is recorded; "" always applies


@dataclass(frozen=True, slots=True)
class BudgetLimit:
    key: str
    limit: int  # nano-dollars
    # Unix seconds the counter is kept until (its period's end and a margin); 0: forever.
    expires_at: int


@dataclass(frozen=True, slots=True)
class Rules:
    """The counters one policy checks, built once per policy and budget period.

    What a request adds to them is its ticket and its reservation (the same for
    every budget): :meth:`plan` and :meth:`settlement` give the general protocol's
    per-request objects; :class:`MemoryCounters` takes the rules themselves.
    """

    windows: tuple[WindowCheck, ...] = ()
    gates: tuple[GateCheck, ...] = ()
    budgets: tuple[BudgetLimit, ...] = ()
    token_windows: tuple[str, ...] = ()  # windows whose tokens are added at settlement
    gate_keys: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.windows or self.gates or self.budgets)

    def plan(self, reserve: int, ticket: str, now: float) -> Plan:
        now_s = int(now)
        return Plan(
            self.windows,
            self.gates,
            tuple(
                BudgetCheck(b.key, b.limit, reserve, _ttl(b.expires_at, now_s))
                for b in self.budgets
            ),
            ticket,
        )

    def settlement(
        self, tokens: int, reserved: int, actual: int, ticket: str, now: float
    ) -> Settlement:
        """What settling a request of these rules applies (``tokens`` 0: none added)."""
        now_s = int(now)
        return Settlement(
            tuple((key, tokens) for key in self.token_windows) if tokens > 0 else (),
            self.gate_keys,
            tuple((b.key, reserved, actual, _ttl(b.expires_at, now_s)) for b in self.budgets),
            ticket,
        )


NO_RULES = Rules()  # what a policy without counted limits checks: nothing


def _ttl(expires_at: int, now_s: int) -> int:
    return max(expires_at - now_s, 1) if expires_at else 0


@dataclass(frozen=True, slots=True)
class BudgetState:
    spent: int
    reserved: int


class Counters(Protocol):
    """Where limits are counted: one process (memory) or every replica (Redis)."""

    async def admit(self, plan: Plan, now: float) -> Admission: ...

    async def settle(self, settlement: Settlement, now: float) -> None: ...

    async def settle_batch(self, settlements: list[Settlement], now: float) -> None: ...

    async def budgets(self, keys: list[str]) -> list[BudgetState]: ...

    async def window(self, key: str, now: float) -> tuple[int, float]:
        """A window's use in the last minute and seconds until a unit frees."""
        ...

    async def seed_budget(self, key: str, spent: int, ttl: int) -> None:
        """Set a budget's spent amount unless the counter exists (start-up, from the ledger)."""
        ...

    async def close(self) -> None: ...


def window_retry_after(buckets: list[tuple[int, int]], excess: int, now: float) -> float:
    """Seconds until the oldest buckets holding ``excess`` units leave the window."""
    freed = 0
    for second, count in buckets:
        freed += count
        if freed >= excess:
            return max(second + WINDOW_SECONDS - now, 0.001)
    return float(WINDOW_SECONDS)


def window_figures(windows: list[Window], now: float) -> tuple[list[int], list[float]]:
    """The ``window_used`` and ``window_reset`` of an admission that ``admit_rules`` answered
    with these windows (read at once: tests, and callers that need them all)."""
    return [w.total for w in windows], [w.reset_in(now) for w in windows]


class Window:
    """One sliding window in memory: its use (``total``) and when its oldest unit frees."""

    __slots__ = ("buckets", "total")

    def __init__(self) -> None:
        self.buckets: deque[list[int]] = deque()  # [second, count], oldest first
        self.total = 0

    def prune(self, now_s: int) -> None:
        buckets = self.buckets
        while buckets and buckets[0][0] <= now_s - WINDOW_SECONDS:
            self.total -= buckets.popleft()[1]

    def add(self, now_s: int, amount: int) -> None:
        if amount <= 0:
            return
        if self.buckets and self.buckets[-1][0] == now_s:
            self.buckets[-1][1] += amount
        else:
            self.buckets.append([now_s, amount])
        self.total += amount

    def reset_in(self, now: float) -> float:
        return self.buckets[0][0] + WINDOW_SECONDS - now if self.buckets else 0.0


class MemoryCounters:
    """Counters for one process. ``admit`` never awaits, so it is atomic on the event loop."""

    def __init__(self) -> None:
        self._windows: dict[str, Window] = {}
        self._gates: dict[str, int] = {}
        self._budgets: dict[str, list[int]] = {}  # key -> [spent, reserved, expires_at or 0]
        # Admitted, not settled yet: a Plan's string, or admit_rules's number (the Limits
        # stage's own count: a number is unique in the process, and cheaper than a string).
        self._tickets: set[str | int] = set()
        self._admissions = 0

    async def admit(self, plan: Plan, now: float) -> Admission:
        return self.admit_now(plan, now)

    def admit_now(self, plan: Plan, now: float) -> Admission:
        """Admit at once (nothing to wait for in memory): the Limits stage calls this."""
        now_s = int(now)
        oldest = now_s - WINDOW_SECONDS
        found = self._windows
        windows = []
        for i, check in enumerate(plan.windows):
            window = found.get(check.key)
            if window is None:
                window = found[check.key] = Window()
            elif window.buckets and window.buckets[0][0] <= oldest:
                window.prune(now_s)
            excess = window.total + (check.add or 1) - check.limit
            if excess > 0:
                buckets = [(s, c) for s, c in window.buckets]
                return Admission(False, "window", i, window_retry_after(buckets, excess, now))
            windows.append(window)
        gates = self._gates
        for i, gate in enumerate(plan.gates):
            if gates.get(gate.key, 0) >= gate.limit:
                return Admission(False, "gate", i, 1.0)
        states = []
        for i, budget in enumerate(plan.budgets):
            state = self._budget(budget.key, now)
            if state[0] + state[1] + budget.reserve > budget.limit:
                return Admission(False, "budget", i, 1.0 if state[1] else -1.0)
            states.append(state)
        # Every check passed: apply them all.
        used: list[int] = []
        reset: list[float] = []
        for check, window in zip(plan.windows, windows, strict=True):
            if check.add > 0:
                window.add(now_s, check.add)
            used.append(window.total)
            held = window.buckets
            reset.append(held[0][0] + WINDOW_SECONDS - now if held else 0.0)
        for gate in plan.gates:
            gates[gate.key] = gates.get(gate.key, 0) + 1
        left: list[int] = []
        for budget, state in zip(plan.budgets, states, strict=True):
            state[1] += budget.reserve
            state[2] = now_s + budget.ttl if budget.ttl else 0
            left.append(budget.limit - state[0] - state[1])
        if plan.ticket:
            self._tickets.add(plan.ticket)
        self._admissions += 1
        if not self._admissions & 4095:
            self._prune(now)
        return Admission(True, None, -1, 0.0, used, reset, left)

    def admit_rules(
        self, rules: Rules, reserve: int, ticket: str | int, now: float
    ) -> list[Window] | Admission:
        """``admit_now`` of ``rules.plan(reserve, ticket, now)``, without building the plan:
        the Limits stage's path (per request, so written out rather than factored).

        Admitted, the answer is the rules' windows themselves, in order: their use and
        reset (:func:`window_figures`) are an ``Admission``'s ``window_used`` and
        ``window_reset`` as long as nothing else is admitted meanwhile (the caller reads
        them before it awaits). No lists nor Admission to build on every request; a
        refusal is an ``Admission``."""
        now_s = floor(now)  # int(now) (times are positive), at half the cost
        found = self._windows
        windows: list[Window] = []
        for check in rules.windows:
            window = found.get(check.key)
            if window is None:
                window = found[check.key] = Window()
            elif window.buckets and window.buckets[0][0] <= now_s - WINDOW_SECONDS:
                window.prune(now_s)
            excess = window.total + (check.add or 1) - check.limit
            if excess > 0:
                buckets = [(s, c) for s, c in window.buckets]
                retry = window_retry_after(buckets, excess, now)
                return Admission(False, "window", len(windows), retry)
            windows.append(window)
        gates = self._gates
        if rules.gates:
            for i, gate in enumerate(rules.gates):
                if gates.get(gate.key, 0) >= gate.limit:
                    return Admission(False, "gate", i, 1.0)
        budgets = self._budgets
        if len(rules.budgets) == 1:  # the usual policy: one budget, no list of states
            limit = rules.budgets[0]
            state = budgets.get(limit.key)
            if state is None or (state[2] and state[2] < now):
                state = budgets[limit.key] = [0, 0, 0]
            if state[0] + state[1] + reserve > limit.limit:
                return Admission(False, "budget", 0, 1.0 if state[1] else -1.0)
            state[1] += reserve
            state[2] = limit.expires_at
        elif rules.budgets:
            states: list[list[int]] = []
            for limit in rules.budgets:
                state = budgets.get(limit.key)
                if state is None or (state[2] and state[2] < now):
                    state = budgets[limit.key] = [0, 0, 0]
                if state[0] + state[1] + reserve > limit.limit:
                    return Admission(False, "budget", len(states), 1.0 if state[1] else -1.0)
                states.append(state)
            for limit, state in zip(rules.budgets, states):  # noqa: B905 (same length)
                state[1] += reserve
                state[2] = limit.expires_at
        # Every check passed (the budgets are applied already, nothing can refuse now).
        for check, window in zip(rules.windows, windows):  # noqa: B905 (same length)
            add = check.add
            if add > 0:
                held = window.buckets
                if held and held[-1][0] == now_s:
                    held[-1][1] += add
                else:
                    held.append([now_s, add])
                window.total += add
        if rules.gates:
            for gate in rules.gates:
                gates[gate.key] = gates.get(gate.key, 0) + 1
        if ticket:
            self._tickets.add(ticket)
        self._admissions += 1
        if not self._admissions & 4095:
            self._prune(now)
        return windows

    def settle_rules(
        self, rules: Rules, tokens: int, reserved: int, actual: int, ticket: str | int, now: float
    ) -> None:
        """``settle_now`` of ``rules.settlement(tokens, reserved, actual, ticket, now)``."""
        if ticket:
            tickets = self._tickets
            if ticket not in tickets:
                return  # settled already, or never admitted
            tickets.remove(ticket)
        if tokens > 0:
            now_s = floor(now)
            found = self._windows
            for key in rules.token_windows:  # Window.prune and .add, written out
                window = found.get(key)
                if window is None:
                    window = found[key] = Window()
                held = window.buckets
                if held and held[0][0] <= now_s - WINDOW_SECONDS:
                    window.prune(now_s)
                if held and held[-1][0] == now_s:
                    held[-1][1] += tokens
                else:
                    held.append([now_s, tokens])
                window.total += tokens
        if rules.gate_keys:
            gates = self._gates
            for key in rules.gate_keys:
                left = gates.get(key, 0) - 1
                if left > 0:
                    gates[key] = left
                else:
                    gates.pop(key, None)
        budgets = self._budgets
        for limit in rules.budgets:
            state = budgets.get(limit.key)
            if state is None or (state[2] and state[2] < now):
                state = budgets[limit.key] = [0, 0, 0]
            state[0] += actual
            state[1] = state[1] - reserved if state[1] > reserved else 0
            state[2] = limit.expires_at

    async def settle(self, settlement: Settlement, now: float) -> None:
        self.settle_now(settlement, now)

    async def settle_batch(self, settlements: list[Settlement], now: float) -> None:
        for settlement in settlements:
            self.settle_now(settlement, now)

    def settle_now(self, settlement: Settlement, now: float) -> None:
        """Settle at once (nothing to wait for in memory): the settler calls this inline."""
        if settlement.ticket:
            if settlement.ticket not in self._tickets:
                return  # settled already, or never admitted
            self._tickets.remove(settlement.ticket)
        now_s = int(now)
        for key, amount in settlement.windows:
            if amount <= 0:
                continue
            window = self._windows.get(key)
            if window is None:
                window = self._windows[key] = Window()
            window.prune(now_s)
            window.add(now_s, amount)
        for key in settlement.gates:
            left = self._gates.get(key, 0) - 1
            if left > 0:
                self._gates[key] = left
            else:
                self._gates.pop(key, None)
        for key, reserved, actual, ttl in settlement.budgets:
            state = self._budget(key, now)
            state[0] += actual
            state[1] = max(state[1] - reserved, 0)
            state[2] = int(now) + ttl if ttl else 0

    async def budgets(self, keys: list[str]) -> list[BudgetState]:
        now = time.time()
        out = []
        for key in keys:
            state = self._budgets.get(key)
            if state is None or (state[2] and state[2] < now):
                out.append(BudgetState(0, 0))
            else:
                out.append(BudgetState(state[0], state[1]))
        return out

    async def window(self, key: str, now: float) -> tuple[int, float]:
        window = self._windows.get(key)
        if window is None:
            return 0, 0.0
        window.prune(int(now))
        return window.total, window.reset_in(now)

    async def seed_budget(self, key: str, spent: int, ttl: int) -> None:
        if key not in self._budgets:
            self._budgets[key] = [spent, 0, int(time.time()) + ttl if ttl else 0]

    async def close(self) -> None:
        return None

    def _budget(self, key: str, now: float) -> list[int]:
        state = self._budgets.get(key)
        if state is None or (state[2] and state[2] < now):
            state = self._budgets[key] = [0, 0, 0]
        return state

    def _prune(self, now: float) -> None:
        """Drop windows that emptied and budgets whose period ended long ago."""
        now_s = int(now)
        for window in self._windows.values():
            window.prune(now_s)
        for key in [k for k, w in self._windows.items() if w.total == 0]:
            del self._windows[key]
        for key in [k for k, s in self._budgets.items() if s[2] and s[2] < now]:
            del self._budgets[key]
