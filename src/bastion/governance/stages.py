"""The governance stages of the pipeline, and the settle step that closes each request.

    Authorize  (before Route)  endpoint and model allowed, max_tokens within the limit
    Limits     (after Route)   rate limits, concurrency and budget reservation, one atomic call
    Settle     (finish)        the real cost replaces the reservation; tokens counted; spend recorded

Only virtual keys are governed; the master key and static keys pass through.
None of these touch the database: policies come from the in-memory cache,
counters from memory or Redis, and spend records go to the ledger's queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bastion.accounting.ledger import SpendLedger
from bastion.accounting.pricing import (
    Price,
    PriceCatalog,
    cost_nusd,
    read_usage,
    usd,
    worst_case_nusd,
)
from bastion.errors import GatewayError
from bastion.governance.cache import GovernanceCache, KeyEntry
from bastion.governance.policy import (
    EffectivePolicy,
    Period,
    PeriodWindow,
    ScopeLimits,
    budget_counter,
    budget_ttl,
    period_window,
)
from bastion.governance.principal import Principal
from bastion.store.counters import Admission, BudgetCheck, Counters, Plan, Settlement

if TYPE_CHECKING:
    from bastion.pipeline import RequestContext

log = logging.getLogger("bastion.governance")


def _governed(cache: GovernanceCache, ctx: RequestContext) -> KeyEntry | None:
    principal = ctx.principal
    if principal is None or principal.kind != "virtual":
        return None
    entry = cache.entry(principal.id)
    if entry is None:  # removed since authentication
        raise GatewayError(
            401, "Invalid API key.", code="invalid_api_key", error_type="authentication_error"
        )
    return entry


class Authorize:
    """The key's policy allows this endpoint and model; max_tokens within its limit."""

    def __init__(self, cache: GovernanceCache) -> None:
        self._cache = cache

    def allows(self, principal: Principal, model: str) -> bool:
        """Whether the principal may use (and so see, in /v1/models) the model."""
        if principal.kind != "virtual":
            return True
        entry = self._cache.entry(principal.id)
        return entry is not None and entry.policy.allows_model(model)

    async def __call__(self, ctx: RequestContext) -> None:
        entry = _governed(self._cache, ctx)
        if entry is None:
            return
        policy = entry.policy
        if not policy.allows_endpoint(ctx.endpoint):
            raise GatewayError(
                403,
                f"This key may not use the {ctx.endpoint} endpoint.",
                code="endpoint_not_allowed",
            )
        if not policy.allows_model(ctx.model):
            # Names only the model asked for: nothing about which models exist or are allowed.
            raise GatewayError(
                403,
                f"This key is not allowed to use the model '{ctx.model}'.",
                code="model_not_allowed",
                param="model",
            )
        if policy.max_tokens is not None and ctx.endpoint == "chat":
            field = "max_completion_tokens" if "max_completion_tokens" in ctx.body else "max_tokens"
            asked = ctx.body.get(field)
            if asked is None:
                ctx.body["max_tokens"] = policy.max_tokens  # the upstream enforces it
            elif asked > policy.max_tokens:
                raise GatewayError(
                    400,
                    f"'{field}' is {asked}, above this key's limit of {policy.max_tokens}.",
                    code="max_tokens_exceeded",
                    param=field,
                )


@dataclass(slots=True)
class Ticket:
    """What a request holds from admission until it settles."""

    entry: KeyEntry
    price: Price
    reserve: int  # nano-dollars reserved against each budget
    budgets: tuple[tuple[str, int], ...]  # (counter, ttl)
    token_windows: tuple[str, ...]
    gates: tuple[str, ...]


class Limits:
    """Rate limits, concurrency and the budget reservation, admitted in one atomic call."""

    def __init__(
        self,
        cache: GovernanceCache,
        counters: Counters,
        prices: PriceCatalog,
        default_output_tokens: int,
    ) -> None:
        self._cache = cache
        self._counters = counters
        self._prices = prices
        self._default_output = default_output_tokens
        self._periods: dict[Period, PeriodWindow] = {}

    def _period(self, period: Period, now: float) -> PeriodWindow:
        window = self._periods.get(period)
        if window is None or (window.end is not None and now >= window.end):
            window = self._periods[period] = period_window(period, now)
        return window

    async def __call__(self, ctx: RequestContext) -> None:
        entry = _governed(self._cache, ctx)
        if entry is None or ctx.deployment is None:
            return
        policy = entry.policy
        price = self._prices.for_deployment(ctx.deployment)
        now = time.time()
        reserve = 0
        budgets: tuple[BudgetCheck, ...] = ()
        if policy.budget_scopes:
            reserve = worst_case_nusd(ctx.endpoint, ctx.body, price, self._default_output)
            checks = []
            for scope in policy.budget_scopes:
                period = self._period(scope.period, now)
                counter = budget_counter(scope, period)
                checks.append(
                    BudgetCheck(counter, scope.budget_nusd or 0, reserve, budget_ttl(period, now))
                )
            budgets = tuple(checks)
        plan = Plan(policy.windows, policy.gates, budgets)
        if plan:
            try:
                admission = await self._counters.admit(plan, now)
            except Exception as exc:
                log.error("limit counters unavailable (%s)", type(exc).__name__)
                raise GatewayError(
                    503,
                    "The gateway cannot check this key's limits right now; retry shortly.",
                    code="limits_unavailable",
                    headers={"Retry-After": "1"},
                ) from None
            if not admission.ok:
                raise _refusal(plan, admission, policy, reserve, now)
            if policy.windows:
                ctx.headers.extend(_ratelimit_headers(plan, admission))
        ctx.ticket = Ticket(
            entry,
            price,
            reserve,
            tuple((b.key, b.ttl) for b in budgets),
            tuple(w.key for w in policy.windows if w.add == 0),
            tuple(g.key for g in policy.gates),
        )
        ctx.want_usage = True


def _whose(scope: ScopeLimits) -> str:
    return "this key" if scope.kind == "key" else f"this key's {scope.kind}"


def _refusal(
    plan: Plan, admission: Admission, policy: EffectivePolicy, reserve: int, now: float
) -> GatewayError:
    retry = max(1, math.ceil(admission.retry_after))
    if admission.refused == "window":
        check = plan.windows[admission.index]
        unit = "requests" if check.add else "tokens"
        headers = {
            "Retry-After": str(retry),
            f"x-ratelimit-limit-{unit}": str(check.limit),
            f"x-ratelimit-remaining-{unit}": "0",
            f"x-ratelimit-reset-{unit}": f"{retry}s",
        }
        return GatewayError(
            429,
            f"Rate limit reached: {check.limit} {unit} per minute for "
            f"{_whose(policy.window_scopes[admission.index])}. Retry after {retry} s.",
            code="rate_limit_exceeded",
            headers=headers,
        )
    if admission.refused == "gate":
        gate = plan.gates[admission.index]
        return GatewayError(
            429,
            f"Too many concurrent requests: at most {gate.limit} at a time for "
            f"{_whose(policy.gate_scopes[admission.index])}.",
            code="concurrency_limit_exceeded",
            headers={"Retry-After": "1"},
        )
    scope = policy.budget_scopes[admission.index]
    if admission.retry_after < 0:
        end = period_window(scope.period, now).end
        retry = max(1, math.ceil(end - now)) if end is not None else 86_400
    period = "total" if scope.period == "total" else scope.period
    return GatewayError(
        429,
        f"Budget exceeded: {_whose(scope)} has a {period} budget of "
        f"${usd(scope.budget_nusd or 0):.2f}, and this request could cost up to "
        f"${usd(reserve):.6f}, more than is left.",
        code="budget_exceeded",
        error_type="insufficient_quota",
        headers={"Retry-After": str(retry)},
    )


_HEADER_NAMES = {
    unit: (
        f"x-ratelimit-limit-{unit}".encode(),
        f"x-ratelimit-remaining-{unit}".encode(),
        f"x-ratelimit-reset-{unit}".encode(),
    )
    for unit in ("requests", "tokens")
}


def _ratelimit_headers(plan: Plan, admission: Admission) -> list[tuple[bytes, bytes]]:
    """The tightest requests and tokens windows, as OpenAI names them."""
    tightest: dict[str, tuple[int, int, float]] = {}
    for check, used, reset in zip(
        plan.windows, admission.window_used, admission.window_reset, strict=True
    ):
        unit = "requests" if check.add else "tokens"
        remaining = check.limit - used if used < check.limit else 0
        if unit not in tightest or remaining < tightest[unit][1]:
            tightest[unit] = (check.limit, remaining, reset)
    headers = []
    for unit, (limit, remaining, reset) in tightest.items():
        names = _HEADER_NAMES[unit]
        headers += [
            (names[0], b"%d" % limit),
            (names[1], b"%d" % remaining),
            (names[2], b"%ds" % max(math.ceil(reset), 0)),
        ]
    return headers


class Settler:
    """Applies settlements off the request path, in order, on one background task."""

    def __init__(self, counters: Counters) -> None:
        self._counters = counters
        # In-memory counters settle at once, in the finisher (no I/O to wait for).
        self._inline: Callable[[Settlement, float], None] | None = getattr(
            counters, "settle_now", None
        )
        self._queue: asyncio.Queue[Settlement] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def submit(self, settlement: Settlement) -> None:
        if self._inline is not None:
            self._inline(settlement, time.time())
        else:
            self._queue.put_nowait(settlement)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="bastion-settler")

    async def drain(self) -> None:
        await self._queue.join()

    async def stop(self) -> None:
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), 10)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < 256 and not self._queue.empty():
                batch.append(self._queue.get_nowait())  # what gathered meanwhile: one trip
            try:
                await self._counters.settle_batch(batch, time.time())
            except Exception as exc:
                log.error("could not settle %d request(s) (%s)", len(batch), type(exc).__name__)
            finally:
                for _ in batch:
                    self._queue.task_done()


class Settle:
    """The finisher: real cost in, reservation out, tokens counted, spend recorded."""

    def __init__(self, settler: Settler, ledger: SpendLedger) -> None:
        self._settler = settler
        self._ledger = ledger

    def __call__(self, ctx: RequestContext) -> None:
        ticket = ctx.ticket
        if not isinstance(ticket, Ticket):
            return
        ctx.ticket = None
        prompt = completion = 0
        estimated = False
        if ctx.usage is not None:
            usage = read_usage(ctx.usage)
            prompt, completion = usage.prompt_tokens, usage.completion_tokens
            cost = cost_nusd(ticket.price, prompt, completion, usage.cached_tokens)
        elif ctx.upstream_ns and (ctx.status == 200 or ctx.client_gone):
            # The upstream answered (or was cut off) but no usage came back: charge the
            # worst case rather than nothing.
            cost, estimated = ticket.reserve, True
        else:
            cost = 0  # refused or failed before the upstream did any work
        self._settler.submit(
            Settlement(
                windows=tuple((key, prompt + completion) for key in ticket.token_windows),
                gates=ticket.gates,
                budgets=tuple((key, ticket.reserve, cost, ttl) for key, ttl in ticket.budgets),
            )
        )
        principal = ticket.entry.principal
        self._ledger.record(
            {
                "request_id": ctx.request_id,
                "at": time.time(),
                "key_id": principal.id,
                "org_id": principal.org_id,
                "team_id": principal.team_id,
                "user_id": principal.user_id,
                "app_id": principal.app,
                "model": ctx.deployment.label if ctx.deployment is not None else ctx.model,
                "endpoint": ctx.endpoint,
                "status": ctx.status,
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "cost_nusd": cost,
                "estimated": estimated,
            }
        )
