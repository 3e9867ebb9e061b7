"""Observability as one object the app owns: metrics, access log, live feed, tracer.

``Observability(settings, ...)`` builds only the parts that are on; ``finisher`` is
the one pipeline finisher that reads a request's facts once and hands them to each
part (None when every part is off, so nothing runs). The tracer, when on, also wraps
the proxy handlers and the stages and hooks the transport (see ``tracing``); its
module, and OpenTelemetry with it, is imported only then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from bastion.asgi import ASGIApp
from bastion.observability.access_log import AccessLog
from bastion.observability.facts import CostFunction, RequestFacts
from bastion.observability.live import LiveFeed
from bastion.observability.metrics import GatewayMetrics
from bastion.observability.settings import ObservabilityConfig

if TYPE_CHECKING:
    from bastion.observability.tracing import Tracer
    from bastion.pipeline import Pipeline, RequestContext
    from bastion.transport import Transport

log = logging.getLogger("bastion.observability")

Sink = Callable[[RequestFacts, "RequestContext"], None]
# (queue name, depth, failed writes so far)
QueueProbe = Callable[[], Sequence[tuple[str, int, int]]]
BudgetProbe = Callable[[], Awaitable[Sequence[tuple[str, str, str, float, float]]]]
DeploymentProbe = Callable[[], Sequence[dict[str, Any]]]
_REFRESH_SECONDS = 1.0  # several workers: how stale another worker's counts may be
K = TypeVar("K")


def _stage_name(stage: object) -> str:
    """``Authorize`` → ``authorize``: a stage's span is named after its class."""
    return type(stage).__name__.lower()


class Observe:
    """The finisher: the request's facts, computed once, to every part that is on."""

    def __init__(self, cost: CostFunction | None, sinks: Sequence[Sink]) -> None:
        self._cost = cost
        self._sinks = tuple(sinks)

    def __call__(self, ctx: RequestContext) -> None:
        facts = RequestFacts(ctx, self._cost)
        for sink in self._sinks:
            sink(facts, ctx)


class Observability:
    def __init__(
        self,
        settings: ObservabilityConfig,
        cost: CostFunction | None = None,
        queues: QueueProbe | None = None,
        budgets: BudgetProbe | None = None,
    ) -> None:
        self.settings = settings
        self.in_flight = 0  # kept by the gateway around each proxied request
        self.metrics = GatewayMetrics(settings.metrics) if settings.metrics.enabled else None
        self.access_log = AccessLog(settings.access_log) if settings.access_log.enabled else None
        hub = settings.hub
        self.live = LiveFeed(hub.live_buffer, hub.live_subscribers) if hub.enabled else None
        self.tracer: Tracer | None = None
        if settings.tracing.enabled:
            from bastion.observability.tracing import Tracer  # imported only when on

            self.tracer = Tracer(settings.tracing)
        self._cost = cost
        self._queues = queues
        self._budgets = budgets
        self.deployments: DeploymentProbe | None = None
        self._task: asyncio.Task[None] | None = None

    def instrument(self, pipeline: Pipeline, transport: Transport) -> None:
        """Add the observing finisher; with tracing, time the stages and hook the transport."""
        finisher = self.finisher()
        if finisher is not None:  # its bound method: cheaper to call than the object
            pipeline.finishers = (*pipeline.finishers, finisher.__call__)
        tracer = self.tracer
        if tracer is not None:
            pipeline.authenticate = tracer.wrap_stage(pipeline.authenticate, "authenticate")
            stages = pipeline.stages
            if stages:  # one wrapper times them all (see TracedStages)
                names = [_stage_name(stage) for stage in stages]
                pipeline.stages = (tracer.wrap_stages(stages, names),)
            transport.hook = tracer

    def wrap_routes(self, routes: dict[K, ASGIApp]) -> dict[K, ASGIApp]:
        """The proxy handlers, each opening the request's trace when tracing is on."""
        tracer = self.tracer
        if tracer is None:
            return routes
        return {key: tracer.wrap_handler(handler) for key, handler in routes.items()}

    def finisher(self) -> Observe | None:
        # Bound ``__call__`` methods, not the objects: calling an instance goes through
        # its type's call slot (~1 K instructions a call), a bound method does not.
        sinks: list[Sink] = []
        if self.metrics is not None:
            sinks.append(self.metrics.__call__)
        if self.access_log is not None:
            sinks.append(self.access_log.__call__)
        if self.live is not None:
            sinks.append(self.live.__call__)
        if self.tracer is not None:
            sinks.append(self.tracer.__call__)
        return Observe(self._cost, sinks) if sinks else None

    async def start(self) -> None:
        if self.access_log is not None:
            self.access_log.start()
        if self.tracer is not None:
            self.tracer.exporter.start()
        if self.metrics is not None and self.metrics.multiprocess:
            # Every worker keeps its scrape-time gauges fresh in the shared files.
            self._task = asyncio.create_task(self._refresh_loop(), name="bastion-metrics")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.access_log is not None:
            await self.access_log.stop()
        if self.tracer is not None:
            await self.tracer.exporter.stop()

    def queue_depths(self) -> list[tuple[str, int, int]]:
        out = list(self._queues()) if self._queues is not None else []
        if self.access_log is not None:
            log_ = self.access_log
            out.append(("access_log", log_.pending, log_.dropped + log_.errors))
        return out

    async def refresh(self) -> None:
        """Set the gauges read at scrape time: in flight, queues, budgets, circuits."""
        metrics = self.metrics
        if metrics is None:
            return
        metrics.set_gauge("bastion_requests_in_flight", (), self.in_flight)
        metrics.set_queues(self.queue_depths())
        if self._budgets is not None:
            try:
                metrics.set_budgets(await self._budgets())
            except Exception as exc:  # counters unreachable: keep the last values
                log.warning("could not read budgets for the metrics (%s)", type(exc).__name__)
        if self.deployments is not None:
            metrics.set_deployments(self.deployments())

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(_REFRESH_SECONDS)
            try:
                await self.refresh()
                if self.metrics is not None:
                    await asyncio.to_thread(self.metrics.write_snapshot, self.metrics.snapshot())
            except Exception:
                log.exception("could not refresh the metrics")

    async def exposition(self) -> bytes:
        if self.metrics is None:
            return b""
        await self.refresh()
        metrics = self.metrics
        if metrics.multiprocess:  # files to read: off the loop
            return await asyncio.to_thread(metrics.merged_exposition, metrics.snapshot())
        return metrics.exposition()
