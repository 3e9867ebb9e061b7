"""The governance stages of the pipeline, and the settle step that closes each request.

    Authorize  (before routing) endpoint and model allowed, max_tokens within the limit
    Limits     (after routing)  rate limits, concurrency and budget reservation, one atomic call
    Settle     (finish)        the real cost replaces the reservation; tokens counted

Only virtual keys are governed; the master key and static keys pass through.
None of these touch the database: policies come from the in-memory cache and
counters from memory or Redis; the spend ledger (accounting/ledger.py) records
each request after Settle, with what it charged.

Every admission is settled exactly once, whatever becomes of the request: the
ingress runs the finishers on every path (answer, error, client gone, cancelled),
an admission that failed or was cancelled midway is released, a settlement that
failed is retried, and the ticket each admission records makes all of that
idempotent (see ``store/counters.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from bastion.accounting.pricing import (
    Price,
    PriceCatalog,
    read_usage,
    usage_cost,
    usd,
    worst_case_nusd,
)
from bastion.errors import GatewayError
from bastion.governance.cache import GovernanceCache
from bastion.governance.policy import (
    EffectivePolicy,
    Period,
    PeriodWindow,
    ScopeLimits,
    budget_counter,
    budget_expiry,
    period_window,
)
from bastion.governance.principal import Principal
from bastion.store.counters import (
    NO_RULES,
    WINDOW_SECONDS,
    Admission,
    BudgetLimit,
    Counters,
    Plan,
    Rules,
    Settlement,
    Window,
)

if TYPE_CHECKING:
    from bastion.pipeline import RequestContext
    from bastion.providers.base import JSON, Deployment, Endpoint

log = logging.getLogger("bastion.governance")


def _gone() -> GatewayError:
    """A virtual key removed since authentication."""
    return GatewayError(
        401, "Invalid API key.", code="invalid_api_key", error_type="authentication_error"
    )


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
        principal = ctx.principal
        if principal is None or principal.kind != "virtual":
            return
        entry = self._cache.entry(principal.id)  # _entry, inline (every governed request)
        if entry is None:
            raise _gone()
        policy = entry.policy
        if policy.regions:  # data residency: the router keeps to these regions
            ctx.regions = policy.regions
        if policy.endpoints is not None and ctx.endpoint not in policy.endpoints:
            raise GatewayError(
                403,
                f"This key may not use the {ctx.endpoint} endpoint.",
                code="endpoint_not_allowed",
            )
        if policy.model_rules and not policy.allows_model(ctx.model):
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

    rules: Rules
    price: Price
    reserve: int  # nano-dollars reserved against each budget
    # The counters' ticket ("" when nothing was admitted): a string unique across replicas
    # for Redis, a number unique in this process for in-memory counters.
    id: str | int = ""


@dataclass(slots=True)
class _Compiled:
    """What a policy's requests check, built once per policy (and budget period)."""

    policy: EffectivePolicy
    rules: Rules
    until: float  # when a budget period ends (the budgets' counters change then)
    headers: tuple[_HeaderGroup, ...]


class Limits:
    """Rate limits, concurrency and the budget reservation, admitted in one atomic call."""

    def __init__(
        self,
        cache: GovernanceCache,
        counters: Counters,
        prices: PriceCatalog,
        default_output_tokens: int,
        settler: Settler,
    ) -> None:
        self._cache = cache
        self._counters = counters
        self._settler = settler
        self._prices = prices
        self._default_output = default_output_tokens
        self._periods: dict[Period, PeriodWindow] = {}
        self._compiled: dict[int, _Compiled] = {}  # id(policy) -> (it holds the policy)
        self._priced: dict[int, tuple[Deployment, Price]] = {}  # id(deployment) -> price
        # In-memory counters admit at once (no I/O): no coroutine, no plan to build.
        self._admit_rules: (
            Callable[[Rules, int, str | int, float], list[Window] | Admission] | None
        ) = getattr(counters, "admit_rules", None)
        self._ticket_prefix = secrets.token_hex(8) + "-"
        self._tickets = itertools.count(1)

    def _period(self, period: Period, now: float) -> PeriodWindow:
        window = self._periods.get(period)
        if window is None or (window.end is not None and now >= window.end):
            window = self._periods[period] = period_window(period, now)
        return window

    def _price(self, deployment: Deployment) -> tuple[Deployment, Price]:
        if len(self._priced) >= 4096:
            self._priced.clear()
        priced = self._priced[id(deployment)] = (
            deployment,
            self._prices.for_deployment(deployment),
        )
        return priced

    def _compile(self, policy: EffectivePolicy, now: float) -> _Compiled:
        budgets = []
        until = math.inf
        for scope in policy.budget_scopes:
            period = self._period(scope.period, now)
            budgets.append(
                BudgetLimit(
                    budget_counter(scope, period), scope.budget_nusd or 0, budget_expiry(period)
                )
            )
            if period.end is not None:
                until = min(until, period.end)
        rules = Rules(
            policy.windows, policy.gates, tuple(budgets), policy.token_windows, policy.gate_keys
        )
        if len(self._compiled) >= 4096:  # policies of old cache states
            self._compiled.clear()
        compiled = self._compiled[id(policy)] = _Compiled(
            policy, rules if rules else NO_RULES, until, _header_groups(policy)
        )
        return compiled

    async def __call__(self, ctx: RequestContext) -> None:
        principal = ctx.principal
        if principal is None or principal.kind != "virtual":
            return
        entry = self._cache.entry(principal.id)  # _entry, inline
        if entry is None:
            raise _gone()
        policy = entry.policy
        deployment = ctx.deployment
        if deployment is None:
            return
        priced = self._priced.get(id(deployment))
        if priced is None or priced[0] is not deployment:
            priced = self._price(deployment)
        price = priced[1]
        now = time.time()
        compiled = self._compiled.get(id(policy))
        if compiled is None or compiled.policy is not policy or now >= compiled.until:
            compiled = self._compile(policy, now)
        rules = compiled.rules
        if rules is NO_RULES:
            ctx.ticket = Ticket(rules, price, 0)
            self._settler.hold()
            ctx.want_usage = True
            return
        reserve = (
            worst_case_nusd(ctx.endpoint, ctx.body, price, self._default_output)
            if rules.budgets
            else 0
        )
        if self._admit_rules is not None:
            # In memory a number names the ticket: unique in this process, and no string
            # to build and hash (a refusal's retry below goes through a Plan: a string).
            number = next(self._tickets)
            try:
                admitted = self._admit_rules(rules, reserve, number, now)
            except Exception as exc:
                raise self._failed_rules(rules, reserve, number, exc) from None
            if type(admitted) is list:  # admitted, in memory: the windows themselves
                ctx.ticket = Ticket(rules, price, reserve, number)
                self._settler.hold()
                if compiled.headers:
                    _window_headers(ctx.headers, compiled.headers, admitted, now)
                ctx.want_usage = True
                return
            admission = cast(Admission, admitted)
            ticket = f"{self._ticket_prefix}{next(self._tickets):x}"
        else:
            # Unique across replicas (a random prefix per process) and cheaper than a uuid4.
            ticket = f"{self._ticket_prefix}{next(self._tickets):x}"
            admission = await self._admit(rules.plan(reserve, ticket, now), now)
        if not admission.ok:
            plan = rules.plan(reserve, ticket, now)
            if admission.refused != "window":
                # A request of this process may have answered before its settlement
                # reached the counters (Redis settles in the background): a caller
                # that sends its next request at once must not be refused for what
                # its last one still seems to hold.
                refused = plan.gates if admission.refused == "gate" else plan.budgets
                if await self._settler.settled(refused[admission.index].key):
                    now = time.time()
                    admission = await self._admit(plan, now)
            if not admission.ok:
                raise _refusal(plan, admission, policy, reserve, now)
        # Admitted: from here the request holds a settlement, whatever happens to it.
        ctx.ticket = Ticket(rules, price, reserve, ticket)
        self._settler.hold()
        if compiled.headers:
            _ratelimit_headers(ctx.headers, compiled.headers, admission)
        ctx.want_usage = True

    async def _admit(self, plan: Plan, now: float) -> Admission:
        if self._admit_rules is not None:  # memory: the general path, for a retry
            try:
                return self._counters.admit_now(plan, now)  # type: ignore[attr-defined,no-any-return]
            except Exception as exc:
                raise self._failed(plan, exc) from None
        try:
            return await self._counters.admit(plan, now)
        except BaseException as exc:
            if not isinstance(exc, Exception):
                self._release(plan)
                raise
            raise self._failed(plan, exc) from None

    def _release(self, plan: Plan) -> None:
        # The admission may have been applied all the same (its reply lost, or the call
        # cancelled while Redis ran it): release what it may hold. The ticket makes that
        # a no-op if it was not applied.
        self._settler.release(
            Settlement(
                gates=tuple(g.key for g in plan.gates),
                budgets=tuple((b.key, b.reserve, 0, b.ttl) for b in plan.budgets),
                ticket=plan.ticket,
            )
        )

    def _failed_rules(
        self, rules: Rules, reserve: int, ticket: str | int, exc: Exception
    ) -> GatewayError:
        """``_failed`` of an in-memory ``admit_rules`` that raised: its release, settled
        by the rules (what ``_release`` sends: the gates, the reservation, no cost)."""
        self._settler.release_rules(rules, reserve, ticket)
        return self._unavailable(exc)

    def _failed(self, plan: Plan, exc: Exception) -> GatewayError:
        self._release(plan)
        return self._unavailable(exc)

    def _unavailable(self, exc: Exception) -> GatewayError:
        log.error("limit counters unavailable (%s)", type(exc).__name__)
        return GatewayError(
            503,
            "The gateway cannot check this key's limits right now; retry shortly.",
            code="limits_unavailable",
            headers={"Retry-After": "1"},
        )


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

# One unit's headers: the remaining header's name, its windows' indices and limits,
# and ready made (limits change only with the policy): for each window the limit
# header, and the reset header of each whole second a window can take to free a unit.
_HeaderGroup = tuple[
    bytes,
    tuple[int, ...],
    tuple[int, ...],
    tuple[tuple[bytes, bytes], ...],
    tuple[tuple[bytes, bytes], ...],
]


def _header_groups(policy: EffectivePolicy) -> tuple[_HeaderGroup, ...]:
    groups = []
    for unit, indices in (
        ("requests", policy.request_windows),
        ("tokens", policy.token_window_indices),
    ):
        if indices:
            limit, remaining, reset = _HEADER_NAMES[unit]
            limits = tuple(policy.windows[i].limit for i in indices)
            fixed = tuple((limit, b"%d" % n) for n in limits)
            resets = tuple((reset, b"%ds" % n) for n in range(WINDOW_SECONDS + 1))
            groups.append((remaining, indices, limits, fixed, resets))
    return tuple(groups)


def _ratelimit_headers(
    out: list[tuple[bytes, bytes]], groups: tuple[_HeaderGroup, ...], admission: Admission
) -> None:
    """The tightest requests and tokens windows, as OpenAI names them, added to ``out``."""
    used = admission.window_used
    for remaining, indices, limits, fixed, resets in groups:
        i = indices[0]
        least = limits[0] - used[i]
        tightest = 0
        if len(indices) > 1:  # several levels count this unit: the one with least left
            for j in range(1, len(indices)):
                left = limits[j] - used[indices[j]]
                if left < least:
                    tightest, least, i = j, left, indices[j]
        reset = admission.window_reset[i]
        whole = math.ceil(reset) if reset > 0 else 0
        out.append(fixed[tightest])
        out.append((remaining, b"%d" % least if least > 0 else b"0"))
        out.append(resets[whole] if whole <= WINDOW_SECONDS else (resets[0][0], b"%ds" % whole))


def _window_headers(
    out: list[tuple[bytes, bytes]],
    groups: tuple[_HeaderGroup, ...],
    windows: list[Window],
    now: float,
) -> None:
    """``_ratelimit_headers`` of an in-memory admission, read off its windows (``admit_rules``)."""
    for remaining, indices, limits, fixed, resets in groups:
        i = indices[0]
        least = limits[0] - windows[i].total
        tightest = 0
        if len(indices) > 1:  # several levels count this unit: the one with least left
            for j in range(1, len(indices)):
                left = limits[j] - windows[indices[j]].total
                if left < least:
                    tightest, least, i = j, left, indices[j]
        held = windows[i].buckets
        reset = held[0][0] + WINDOW_SECONDS - now if held else 0.0
        whole = math.ceil(reset) if reset > 0 else 0
        out.append(fixed[tightest])
        out.append((remaining, b"%d" % least if least > 0 else b"0"))
        out.append(resets[whole] if whole <= WINDOW_SECONDS else (resets[0][0], b"%ds" % whole))


_MAX_QUEUED = 100_000  # settlements waiting for the counters (Redis unreachable)


class Settler:
    """Applies settlements off the request path, in order, on one background task.

    Each admitted request holds one settlement to come (``hold``), which the Settle
    finisher hands over (``settle``, or ``submit`` when it is built already); ``drain``
    waits for all of them to be applied. In-memory counters settle at once, in the
    finisher. A batch that fails on a connection error is retried until it applies:
    tickets make a settlement apply once however often it is sent.
    """

    def __init__(self, counters: Counters) -> None:
        self._counters = counters
        # In-memory counters settle at once, in the finisher (no I/O to wait for).
        self._inline: Callable[[Settlement, float], None] | None = getattr(
            counters, "settle_now", None
        )
        self._inline_rules: Callable[[Rules, int, int, int, str | int, float], None] | None = (
            getattr(counters, "settle_rules", None)
        )
        self._transient: tuple[type[BaseException], ...] = getattr(counters, "transient_errors", ())
        self._queue: asyncio.Queue[Settlement] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._held = 0  # admitted requests whose settlement was not submitted yet
        self._idle = asyncio.Event()
        self._idle.set()
        self._pending: dict[str, int] = {}  # gate and budget counters: settlements queued
        self._queued = 0  # settlements queued so far, and applied (in the same order)
        self._applied = 0
        self._progress = asyncio.Event()  # set (and replaced) after each batch

    def hold(self) -> None:
        """A request was admitted: its settlement will come."""
        self._held += 1
        if self._held == 1:
            self._idle.clear()

    def submit(self, settlement: Settlement) -> None:
        """The settlement of an admitted request (one per ``hold``)."""
        self._unhold()
        self._enqueue(settlement)

    def settle(
        self, rules: Rules, tokens: int, reserved: int, actual: int, ticket: str | int
    ) -> None:
        """``submit(rules.settlement(...))``, without building it when the counters are
        in memory (and without sending anything when the rules count nothing)."""
        if self._held > 0:
            self._held -= 1
            if not self._held:
                self._idle.set()
        if rules is NO_RULES:  # a policy that counts nothing: its requests settle their cost
            return
        now = time.time()
        if self._inline_rules is not None:
            self._inline_rules(rules, tokens, reserved, actual, ticket, now)
        else:
            self._enqueue(rules.settlement(tokens, reserved, actual, str(ticket), now))

    def _unhold(self) -> None:
        if self._held > 0:
            self._held -= 1
            if not self._held:
                self._idle.set()

    def release_rules(self, rules: Rules, reserved: int, ticket: str | int) -> None:
        """``release`` of an in-memory admission by its rules (no ``hold``): the gates
        and the reservation back, no cost, applied only while the ticket is recorded."""
        if self._inline_rules is not None:
            self._inline_rules(rules, 0, reserved, 0, ticket, time.time())

    def release(self, settlement: Settlement) -> None:
        """Release what an admission that failed midway may have applied (no ``hold``)."""
        if self._queue.qsize() >= _MAX_QUEUED:
            log.error("dropping a release: %d settlements are waiting", _MAX_QUEUED)
            return
        self._enqueue(settlement)

    def _enqueue(self, settlement: Settlement) -> None:
        if self._inline is not None:
            self._inline(settlement, time.time())
            return
        for key in _held_counters(settlement):
            self._pending[key] = self._pending.get(key, 0) + 1
        self._queued += 1
        self._queue.put_nowait(settlement)

    async def settled(self, key: str, within: float = 1.0) -> bool:
        """Whether a settlement of counter ``key`` was queued here; if so, wait (up to
        ``within`` seconds) until everything queued so far is applied, and whether it was."""
        if not self._pending.get(key):
            return False
        target = self._queued
        try:
            async with asyncio.timeout(within):
                while self._applied < target:
                    await self._progress.wait()
        except TimeoutError:
            return False
        return True

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="bastion-settler")

    async def drain(self, within: float = 30.0) -> None:
        """Wait until every admitted request has finished and its settlement is applied."""
        try:
            async with asyncio.timeout(within):
                await self._idle.wait()
        except TimeoutError:
            log.warning("%d admitted request(s) still running after %g s", self._held, within)
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
                await self._apply(batch)
            finally:
                self._applied += len(batch)
                for settlement in batch:
                    for key in _held_counters(settlement):
                        left = self._pending[key] - 1
                        if left:
                            self._pending[key] = left
                        else:
                            del self._pending[key]
                    self._queue.task_done()
                self._progress.set()
                self._progress = asyncio.Event()

    async def _apply(self, batch: list[Settlement]) -> None:
        delay = 0.05
        while True:
            try:
                await self._counters.settle_batch(batch, time.time())
                return
            except self._transient as exc:
                log.error(
                    "could not settle %d request(s) (%s); retrying in %g s",
                    len(batch),
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            except Exception:
                log.exception("could not settle %d request(s)", len(batch))
                return


def _held_counters(settlement: Settlement) -> list[str]:
    """The counters a settlement releases (what a waiting admission may need)."""
    return [*settlement.gates, *(key for key, _, _, _ in settlement.budgets)]


class Settle:
    """The finisher: real cost in, reservation out, tokens counted.

    What budgets were charged goes on ``ctx.charged_nusd``; the spend ledger (a
    finisher after this one) records it with the request.
    """

    def __init__(self, settler: Settler) -> None:
        self._settler = settler

    def __call__(self, ctx: RequestContext) -> None:
        ticket = ctx.ticket
        if not isinstance(ticket, Ticket):
            return
        ctx.ticket = None
        tokens = 0
        if ctx.usage is not None:
            tokens, cost = _tokens_and_cost(ticket.price, ctx.usage, ctx.endpoint)
        elif ctx.upstream_ns and (ctx.status == 200 or ctx.client_gone):
            # The upstream answered (or was cut off) but no usage came back: charge the
            # worst case rather than nothing.
            cost = ticket.reserve
        else:
            cost = 0  # refused or failed before the upstream did any work
        ctx.charged_nusd = cost
        self._settler.settle(ticket.rules, tokens, ticket.reserve, cost, ticket.id)


def _tokens_and_cost(price: Price, usage: JSON, endpoint: Endpoint) -> tuple[int, int]:
    """The tokens (prompt and completion) and the cost of a usage object.

    ``read_usage`` and ``usage_cost``, with the common shape of a chat answer's usage
    (plain counts, cache reads at most) read here: no ``UsageCount`` to build.
    """
    prompt = usage.get("prompt_tokens")
    completion = usage.get("completion_tokens")
    if (
        type(prompt) is int
        and type(completion) is int
        and prompt >= 0
        and completion >= 0
        and (prompt or completion)
        and endpoint != "embeddings"
    ):
        details = usage.get("prompt_tokens_details")
        if details is None:
            cached: object = 0
        elif type(details) is dict and "cache_write_tokens" not in details:
            cached = details.get("cached_tokens")
            if cached is None:
                cached = 0
        else:
            cached = None
        if type(cached) is int and cached >= 0:
            if cached > prompt:
                cached = prompt
            pico = (
                (prompt - cached) * price.input
                + cached * price.cached_input
                + completion * price.output
            )
            return prompt + completion, -(-pico // 1000)
    counted = read_usage(usage)
    return counted.total, usage_cost(price, counted, endpoint)
