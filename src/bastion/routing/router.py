"""The router: a model name to an ordered list of deployments, then attempts until one answers.

Two halves, both on the request path:

* as a pipeline **stage** (``await router(ctx)``, after authorisation) it applies the
  conditional rules, complexity tiers and residency, picks the group, orders its
  deployments by the group's strategy and sets ``ctx.route`` (the plan), ``ctx.deployments``
  and ``ctx.deployment`` (the first that is up, for the stages after it);
* in the **call** (``call`` / ``stream``, used by the pipeline) it attempts the plan's
  deployments in order, skipping open circuits, failing over on retryable errors, retrying
  with backoff, then trying the fallback groups, all inside the group's deadline.

The healthy path with one deployment costs one small plan object, one attempt record and
no await beyond the upstream call itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bastion.accounting.pricing import PriceCatalog
from bastion.config import GatewayConfig
from bastion.errors import GatewayError, bad_request
from bastion.providers.base import Deployment
from bastion.routing import complexity
from bastion.routing.attempts import (
    Attempt,
    Call,
    exhausted_error,
    quota_error,
    run_attempt,
    unavailable_error,
)
from bastion.routing.catalog import ModelCatalog
from bastion.routing.health import CLOSED, DENY, PROBE, HealthBoard, HealthSettings
from bastion.routing.plan import Group, RoutePlan, in_regions, refused
from bastion.routing.retry import CONTENT, CONTEXT, RATE, RETRY, backoff, classify, retry_after
from bastion.routing.rules import STRATEGY_HEADER, Rule, first_match, header_value
from bastion.routing.settings import STRATEGIES
from bastion.routing.strategies import Strategies

if TYPE_CHECKING:
    from bastion.pipeline import RequestContext

__all__ = ["Attempt", "Router"]
_DIRECT_LIMIT = 4096  # bounded: clients choose provider/model names


class _Unavailable(Exception):  # a control-flow signal, not an error
    """A group had candidates but none could be attempted (circuits open, cooling)."""

    def __init__(self, retry_in: float, cooling: bool) -> None:
        self.retry_in = retry_in
        self.cooling = cooling  # only rate-limit cool-downs (no open circuit) kept them out


class _Refused(Exception):  # a control-flow signal, not an error
    """A successful answer whose provider refused the content (finish_reason content_filter)."""

    def __init__(self, result: Any, deployment: Deployment) -> None:
        self.result = result
        self.deployment = deployment


class Router:
    def __init__(self, config: GatewayConfig, catalog: ModelCatalog, prices: PriceCatalog) -> None:
        r = config.routing
        self._config = r
        self._catalog = catalog
        self.board = HealthBoard(
            HealthSettings(
                window=r.breaker.window,
                min_requests=r.breaker.min_requests,
                failure_rate=r.breaker.failure_rate,
                consecutive_failures=r.breaker.consecutive_failures,
                cooldown=r.breaker.cooldown,
                rate_limit_cooldown=r.breaker.rate_limit_cooldown,
                max_rate_limit_cooldown=r.breaker.max_rate_limit_cooldown,
                smoothing=r.latency.smoothing,
                probe_interval=r.latency.probe_interval,
            )
        )
        self._strategies = Strategies(self.board, prices)
        self._groups: dict[str, Group] = {}
        for name, deployments in catalog.groups().items():
            self._groups[name] = Group.build(name, deployments, r.group(name))
            for d in deployments:
                self.board.of(d)  # listed by /health/deployments from the start
        self._direct: dict[str, Group] = {}
        self._tiers = {
            name: tuple(
                complexity.Tier(t.model, t.max_score, self._groups[t.model].deployments)
                for t in c.tiers
            )
            for name, c in r.complexity.items()
        }
        self._rules = tuple(Rule.from_config(i, rule) for i, rule in enumerate(r.rules))
        self._retry = r.retry

    # -- the stage ------------------------------------------------------------------------

    async def __call__(self, ctx: RequestContext) -> None:
        name = ctx.model
        plan = RoutePlan()
        if self._rules:
            rule = first_match(self._rules, ctx)
            if rule is not None:
                plan.rule = rule.index
                name = rule.target or name
                plan.strategy = rule.strategy
                if rule.regions is not None:
                    plan.regions = (rule.regions,)
        if ctx.regions:
            plan.regions = (*plan.regions, *ctx.regions)
        native = ctx.native
        if native is not None and (native.operation is not None or ctx.error is not None):
            # Only an upstream speaking the caller's format can serve it (a side operation
            # such as token counting, or features with no canonical form, which the ingress
            # holds as ctx.error): a failover must never hand it to another provider kind.
            plan.wire = ctx.ingress
        asked = header_value(ctx, STRATEGY_HEADER) if ctx.request_headers else None
        if asked is not None:
            if asked not in STRATEGIES:
                raise bad_request(
                    f"Unknown routing strategy {asked!r} in x-bastion-strategy; "
                    f"one of: {', '.join(STRATEGIES)}.",
                    code="invalid_strategy",
                )
            plan.strategy = asked
        tiers = self._tiers.get(name) if self._tiers else None
        higher: tuple[str, ...] = ()
        if tiers is not None:
            choice = complexity.choose(tiers, ctx.body if ctx.endpoint == "chat" else {})
            plan.complexity = choice
            ctx.headers.append((b"x-bastion-complexity", choice.header))
            name = choice.group
            higher = tuple(t.group for t in tiers[choice.tier + 1 :])
        group = self.group(name)
        plan.group = group
        plan.fallbacks = group.fallbacks if tiers is None or group.fallbacks else higher
        ctx.route = plan
        candidates = self._candidates(group, ctx, plan)
        if not candidates:
            candidates = self._first_fallback(ctx, plan)
        ctx.deployments = candidates
        ctx.deployment = self._first_up(candidates)

    def group(self, name: str) -> Group:
        """The group serving ``name``: a models: name or ``provider/model`` (else a 404)."""
        found = self._groups.get(name) or self._direct.get(name)
        if found is None:
            found = Group.build(name, self._catalog.resolve(name), self._config.defaults)
            if len(self._direct) < _DIRECT_LIMIT:
                self._direct[name] = found
        return found

    def _candidates(
        self, group: Group, ctx: RequestContext, plan: RoutePlan
    ) -> tuple[Deployment, ...]:
        """The group's deployments able to take this request, in the strategy's order.

        When none can, ``plan.empty`` says why (the first group's reason is kept).
        """
        found = group.by_endpoint.get(ctx.endpoint, ())
        if not found:
            return plan.none("endpoint")
        if plan.regions:
            found = tuple(d for d in found if in_regions(d.region, plan.regions))
            if not found:
                return plan.none("region")
        if plan.wire is not None:
            found = plan.speaking(found)
            if not found:
                return plan.none("wire")
        if group.declares_fit and ctx.endpoint == "chat":
            fitting = plan.fitting(found, ctx.body)
            if fitting:
                found = fitting
            elif group.context_fallbacks and plan.too_long(found, ctx.body):
                return plan.none("context")  # straight to the larger-context groups
        ordered = self._strategies.order(plan.strategy or group.strategy, found, ctx)
        if not ordered:
            return plan.none("quota")  # usage_based: every one is at its provider quota
        return ordered if isinstance(ordered, tuple) else tuple(ordered)

    def _first_fallback(self, ctx: RequestContext, plan: RoutePlan) -> tuple[Deployment, ...]:
        """The primary group can take nothing: the first fallback that can becomes primary."""
        group, reason = plan.group, plan.empty
        chain = list(group.context_fallbacks if reason == "context" else plan.fallbacks)
        while chain:
            fallback = self.group(chain.pop(0))
            found = self._candidates(fallback, ctx, plan)
            if found:
                plan.group, plan.fallbacks = fallback, tuple(chain)
                return found
        if reason == "endpoint":
            raise GatewayError(
                400,
                f"The model '{ctx.model}' does not support the {ctx.endpoint} endpoint.",
                code="unsupported_endpoint",
                param="model",
            )
        if reason == "region":
            raise GatewayError(
                503,
                f"The model '{ctx.model}' has no deployment in the regions this request is "
                f"allowed to use ({plan.region_names()}).",
                code="no_deployment_in_region",
            )
        if reason == "quota":
            raise quota_error(ctx.model)
        if reason == "wire":
            # Nothing speaks the caller's format: the ingress refuses the request (or, for
            # a token count, estimates) on seeing a deployment of another kind.
            return group.by_endpoint[ctx.endpoint]
        return group.by_endpoint[ctx.endpoint]  # too long everywhere: let the upstream say so

    def _first_up(self, candidates: tuple[Deployment, ...]) -> Deployment | None:
        board = self.board
        now = 0.0
        for d in candidates:
            h = board.of(d)
            if h.state is CLOSED and not h.cooling_until:
                return d
            now = now or time.monotonic()
            if h.available(now):
                return d
        return candidates[0] if candidates else None

    # -- the call -------------------------------------------------------------------------

    async def call(self, ctx: RequestContext, call: Call[Any]) -> Any:
        """Attempt the plan until a deployment answers; the answer, or the error to return."""
        return await self._run(ctx, call, False)

    async def stream(self, ctx: RequestContext, call: Call[Any]) -> Any:
        """As :meth:`call`, for a stream: failover holds until the first byte has arrived."""
        return await self._run(ctx, call, True)

    async def _run(self, ctx: RequestContext, call: Call[Any], stream: bool) -> Any:
        plan: RoutePlan = ctx.route  # type: ignore[assignment]  # set by __call__
        group, candidates = plan.group, ctx.deployments
        deadline = None
        if group.deadline is not None:
            elapsed = (time.perf_counter_ns() - ctx.started_ns) / 1e9
            deadline = asyncio.get_running_loop().time() + group.deadline - elapsed
        queue: list[str] | None = None
        error: GatewayError | None = None
        refusal: _Refused | None = None
        retry_in: float | None = None
        cooling = True
        while True:
            try:
                # A lone deployment (nowhere else to go) is always tried: skipping it could
                # only turn its own answer into a 503 of ours.
                lone = len(candidates) == 1 and not (
                    plan.fallbacks or group.context_fallbacks or group.content_fallbacks
                )
                result = await self._group(ctx, call, group, candidates, stream, deadline, lone)
                if ctx.attempts is not None and len(ctx.attempts) > 1:
                    ctx.headers.append((b"x-bastion-attempts", b"%d" % len(ctx.attempts)))
                return result
            except _Unavailable as unavailable:
                retry_in = (
                    unavailable.retry_in
                    if retry_in is None
                    else min(retry_in, unavailable.retry_in)
                )
                cooling = cooling and unavailable.cooling
                kind = RETRY
            except _Refused as refused_answer:
                refusal, kind = refusal or refused_answer, CONTENT
            except GatewayError as failure:
                kind = classify(failure)
                if kind not in (RETRY, RATE, CONTEXT, CONTENT):
                    raise
                error = failure
            if kind in (CONTEXT, CONTENT):
                switch = group.context_fallbacks if kind == CONTEXT else group.content_fallbacks
                queue = list(switch) if switch else (queue or [])
            elif queue is None:
                queue = list(plan.fallbacks)
            group, candidates = self._next_group(ctx, plan, queue)
            if not candidates:
                if refusal is not None:  # nothing else would answer: the refusal it is
                    ctx.deployment = refusal.deployment
                    return refusal.result
                where = plan.region_names()
                if error is not None:
                    raise exhausted_error(ctx.model, where, error)
                raise unavailable_error(ctx.model, where, retry_in or 1.0, cooling)

    def _next_group(
        self, ctx: RequestContext, plan: RoutePlan, queue: list[str]
    ) -> tuple[Group, tuple[Deployment, ...]]:
        while queue:
            group = self.group(queue.pop(0))
            found = self._candidates(group, ctx, plan)
            if found:
                return group, found
        return plan.group, ()

    async def _group(
        self,
        ctx: RequestContext,
        call: Call[Any],
        group: Group,
        candidates: Sequence[Deployment],
        stream: bool,
        deadline: float | None,
        lone: bool = False,
    ) -> Any:
        """Each healthy candidate once, then ``retries`` more after backoff; raises the last error."""
        board = self.board
        budget = len(candidates) + group.retries
        made = rounds = 0
        last: GatewayError | None = None
        wait_hint: float | None = None  # the shortest Retry-After seen in the last round
        while made < budget:
            if rounds:
                delay = backoff(rounds, self._retry.backoff_base, self._retry.backoff_max)
                if wait_hint is not None:
                    if wait_hint > self._retry.max_retry_after:
                        break  # the upstream asked for a long pause: not worth holding the caller
                    delay = max(delay, wait_hint)
                if deadline is not None and asyncio.get_running_loop().time() + delay >= deadline:
                    break
                await asyncio.sleep(delay)
                wait_hint = None
            progressed = False
            for d in candidates:
                if made >= budget:
                    break
                h = board.of(d)
                ticket = h.admit()
                if ticket == DENY:
                    if not lone:
                        continue
                    ticket = PROBE  # its answer decides the circuit, as a probe's would
                made += 1
                progressed = True
                try:
                    result = await run_attempt(ctx, call, d, h, ticket, stream, deadline)
                except GatewayError as error:
                    if classify(error) not in (RETRY, RATE):
                        raise
                    last = error
                    after = retry_after(error.headers)
                    if after is not None:
                        wait_hint = after if wait_hint is None else min(wait_hint, after)
                    continue
                if not stream and group.content_fallbacks and refused(result):
                    raise _Refused(result, d)
                return result
            if not progressed:
                break
            rounds += 1
        if last is not None:
            raise last
        now = time.monotonic()
        healths = [board.of(d) for d in candidates]
        raise _Unavailable(
            min((h.retry_in(now) for h in healths), default=1.0),
            all(h.state is CLOSED for h in healths),
        )

    # -- introspection --------------------------------------------------------------------

    def snapshot(self) -> list[dict[str, Any]]:
        """Every known deployment's state, latency and error rate (``/health/deployments``)."""
        return self.board.snapshot()

    def groups_snapshot(self) -> dict[str, Any]:
        """Each configured group: its strategy, deployments in priority order, fallbacks."""
        return {
            name: {
                "strategy": g.strategy,
                "deployments": [d.label for d in g.deployments],
                "fallbacks": list(g.fallbacks),
                "deadline_s": g.deadline,
            }
            for name, g in self._groups.items()
        } | {
            name: {"complexity_tiers": [t.group for t in tiers]}
            for name, tiers in self._tiers.items()
        }
