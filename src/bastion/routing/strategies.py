"""Strategies: the order in which a group's deployments are attempted for one request.

Each strategy returns every candidate, best first; the router then skips those whose
circuit is open or cooling, and the rest are the failover order. ``priority`` returns the
group's own tuple (sorted once at start-up), so the common case allocates nothing.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from bastion.accounting.pricing import PriceCatalog, estimate_prompt_tokens
from bastion.providers.base import Deployment
from bastion.routing.health import HealthBoard
from bastion.routing.settings import Strategy

if TYPE_CHECKING:
    from bastion.pipeline import RequestContext

Candidates = tuple[Deployment, ...]
_OUTPUT_GUESS = 512  # output tokens assumed when the request sets no max_tokens
_NEVER = float("inf")  # the latency of a deployment not measured yet


class Strategies:
    """Orders candidates by a named strategy, from the health board and the price catalogue."""

    def __init__(self, board: HealthBoard, prices: PriceCatalog) -> None:
        self._board = board
        self._prices = prices
        self._table: dict[str, Callable[[Candidates, RequestContext], Sequence[Deployment]]] = {
            "priority": self.priority,
            "weighted": self.weighted,
            "least_latency": self.least_latency,
            "least_busy": self.least_busy,
            "lowest_cost": self.lowest_cost,
            "usage_based": self.usage_based,
        }

    def order(
        self, strategy: Strategy, candidates: Candidates, ctx: RequestContext
    ) -> Sequence[Deployment]:
        if len(candidates) < 2 and strategy != "usage_based":
            return candidates
        return self._table[strategy](candidates, ctx)

    @staticmethod
    def priority(candidates: Candidates, ctx: RequestContext) -> Sequence[Deployment]:
        return candidates  # sorted by priority, then config order, once at start-up

    @staticmethod
    def weighted(candidates: Candidates, ctx: RequestContext) -> Sequence[Deployment]:
        """A weighted random order (Efraimidis-Spirakis): the first pick follows the weights."""
        keyed = [
            (random.random() ** (1.0 / d.weight) if d.weight > 0 else -1.0, i)
            for i, d in enumerate(candidates)
        ]
        keyed.sort(reverse=True)
        return [candidates[i] for _, i in keyed]

    def least_latency(self, candidates: Candidates, ctx: RequestContext) -> Sequence[Deployment]:
        """Lowest expected wait first: the moving average of time to first token (streams)
        or of total time (otherwise), weighted by the deployment's share of the group's
        requests in flight (x1 with none of them, up to x1.5 with all of them).

        The weight spreads the load over deployments about equally fast. It is relative,
        not the raw count: at high concurrency the fastest deployment always has many
        requests in flight (and the gateway's own queueing is in every measurement), and a
        weight growing with the count would hand a share of the traffic to a deployment
        several times slower. A deployment with requests in flight that has not answered
        for longer than an answer takes it (for streams: a whole one) counts that wait as
        its latency, so one that stops answering loses its traffic before its average
        catches up.

        One request at a time measures a deployment never measured, or one idle for the
        probe interval (so a recovered deployment is noticed); until its first sample is
        in, a deployment nobody has measured goes last.
        """
        board = self._board
        now = time.monotonic()
        stream = ctx.stream
        healths = [board.of(d) for d in candidates]
        # latency * (1 + share / 2), share = in_flight / (1 + total in flight), orders
        # as latency * (2 * (1 + total) + in_flight).
        pending = 2 * (1 + sum(h.in_flight for h in healths))
        probing = False  # at most one measurement per request
        keyed: list[tuple[float, int]] = []
        for i, h in enumerate(healths):
            if not probing and h.latency_due(now):
                latency, probing = -1.0, True
            else:
                first, total = (h.ttft_ms, h.total_ms) if stream else (h.total_ms, h.ttft_ms)
                latency = first if first is not None else (total if total is not None else _NEVER)
                if h.in_flight:
                    # Nothing back for longer than an answer takes (a stream: a whole one).
                    silent = (now - h.last_sample) * 1000.0
                    if silent > latency and (h.total_ms is None or silent > h.total_ms):
                        latency = silent
                latency *= pending + h.in_flight
            keyed.append((latency, i))
        keyed.sort()
        return [candidates[i] for _, i in keyed]

    def least_busy(self, candidates: Candidates, ctx: RequestContext) -> Sequence[Deployment]:
        """Fewest requests in flight first; ties in random order."""
        board = self._board
        keyed = [(board.of(d).in_flight, random.random(), i) for i, d in enumerate(candidates)]
        keyed.sort()
        return [candidates[i] for _, _, i in keyed]

    def lowest_cost(self, candidates: Candidates, ctx: RequestContext) -> Sequence[Deployment]:
        """Cheapest for this request's size first (estimated prompt, max_tokens or a guess)."""
        prompt = estimate_prompt_tokens(ctx.endpoint, ctx.body)
        asked = ctx.body.get("max_completion_tokens") or ctx.body.get("max_tokens")
        output = asked if isinstance(asked, int) and asked > 0 else _OUTPUT_GUESS
        if ctx.endpoint == "embeddings":
            output = 0
        prices = self._prices
        keyed = []
        for i, d in enumerate(candidates):
            price = prices.for_deployment(d)
            keyed.append((prompt * price.input + output * price.output, i))
        keyed.sort()
        return [candidates[i] for _, i in keyed]

    def usage_based(self, candidates: Candidates, ctx: RequestContext) -> Sequence[Deployment]:
        """Least used share of its provider quota first; those at their quota are left out."""
        board = self._board
        now = time.monotonic()
        keyed = []
        for i, d in enumerate(candidates):
            used = board.of(d).quota_used(now)
            if used < 1.0:
                keyed.append((used, i))
        keyed.sort()
        return [candidates[i] for _, i in keyed]
