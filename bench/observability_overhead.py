"""CPU cost per request of observability (metrics, access log, live feed, tracing), in process.

    python bench/observability_overhead.py [--repeats 7] [--requests 20000]

A quick companion to ``bench/instructions.py`` (the figure of record: the whole gateway
under callgrind, instructions per request) for trying a change in seconds. Each variant
is wired exactly as the gateway wires it: ``Observability.instrument`` adds the observing
finisher to a real :class:`~bastion.pipeline.Pipeline`, wraps its stages (one
``wrap_stages`` wrapper around the admission stages, one around authentication) and hooks
the :class:`~bastion.transport.Transport`; ``Observability.wrap_routes`` wraps the handler.
The handler is the proxy's path stripped to what observability sees: authenticate, admit
(four no-op stages), one upstream call to the in-process echo model through the transport
(its hook included), then ``pipeline.finish``. Traces are encoded as the exporter queues
them and the queued batch is joined as a post would (no network); access-log lines are
taken from the queue as the writer would (no file).

Each figure is the variant's CPU time per request less the same request with everything
off, the best of ``--repeats`` runs, so other work on the machine inflates it as little as
possible. Instructions are steadier: run this under ``valgrind --tool=callgrind`` to count
them, or use ``bench/instructions.py`` for the whole gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from collections.abc import MutableMapping
from typing import Any

from bastion.asgi import Receive, Scope, Send
from bastion.config import GatewayConfig
from bastion.governance.principal import Principal
from bastion.observability.runtime import Observability
from bastion.observability.settings import ObservabilityConfig
from bastion.pipeline import Pipeline, RequestContext
from bastion.providers.base import Timeouts
from bastion.routing.attempts import Attempt
from bastion.routing.catalog import ModelCatalog
from bastion.transport import Transport

PRINCIPAL = Principal(id="key_1", name="k", kind="virtual", team_id="team_1", app="app_1")
SCOPE: Scope = {
    "type": "http",
    "method": "POST",
    "path": "/v1/chat/completions",
    "headers": [
        (b"host", b"127.0.0.1:4000"),
        (b"content-type", b"application/json"),
        (b"authorization", b"Bearer not-a-real-key"),
        (b"content-length", b"120"),
    ],
}
VARIANTS: dict[str, dict[str, Any]] = {
    "everything off": {"metrics": {"enabled": False}, "hub": {"enabled": False}},
    "metrics": {"hub": {"enabled": False}},
    "metrics + access log": {
        "hub": {"enabled": False},
        "access_log": {"enabled": True, "destination": "/dev/null"},
    },
    "metrics + access log + live feed": {
        "access_log": {"enabled": True, "destination": "/dev/null"},
    },
    "tracing at 100% (OTLP JSON)": {
        "metrics": {"enabled": False},
        "hub": {"enabled": False},
        "tracing": {"enabled": True, "sample_ratio": 1.0},
    },
}


class NoOp:
    """A stage that does nothing: what is measured is the observing around it."""

    async def __call__(self, ctx: RequestContext) -> None:
        return None


class Authorize(NoOp):
    pass


class Router(NoOp):
    pass


class Limits(NoOp):
    pass


class Guard(NoOp):
    pass


class Authenticate:
    async def __call__(self, ctx: RequestContext) -> None:
        ctx.principal = PRINCIPAL


async def _receive() -> MutableMapping[str, Any]:
    return {"type": "http.disconnect"}


async def _send(message: MutableMapping[str, Any]) -> None:
    return None


class Bench:
    """One variant: a pipeline and transport instrumented as the gateway does it."""

    def __init__(self, settings: dict[str, Any]) -> None:
        catalog = ModelCatalog(GatewayConfig.model_validate({"test_model": "on"}))
        self.deployment = catalog.resolve("bastion/echo")[0]
        self.body = {"model": "bastion/echo", "messages": [{"role": "user", "content": "hi"}]}
        self.request = self.deployment.adapter.build_request(
            "chat", self.body, self.deployment, stream=False
        )
        self.obs = Observability(
            ObservabilityConfig.model_validate(settings),
            cost=lambda d, p, c, k: p * 2500 + c * 10000,
        )
        self.transport = Transport()
        self.pipeline = Pipeline(
            Authenticate(), [Authorize(), Router(), Limits(), Guard()], self.transport
        )
        self.obs.instrument(self.pipeline, self.transport)
        routes = self.obs.wrap_routes({("POST", "/v1/chat/completions"): self.handle})
        self.handler = routes["POST", "/v1/chat/completions"]

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The proxy's path as observability sees it (``api/proxy.run_proxy``)."""
        pipeline = self.pipeline
        ctx = RequestContext("chat", "openai")
        try:
            await pipeline.authenticate(ctx)
            ctx.model, ctx.body = "bastion/echo", self.body
            await pipeline.admit(ctx)
            ctx.deployment = self.deployment
            t0 = time.perf_counter_ns()
            resp = await self.transport.send(self.request, Timeouts(), self.deployment.label)
            ctx.upstream_ns = time.perf_counter_ns() - t0
            ctx.attempts = [Attempt(self.deployment, resp.status, None, ctx.upstream_ns / 1e6)]
            ctx.usage = {"prompt_tokens": 812, "completion_tokens": 164, "total_tokens": 976}
            ctx.status = 200
        finally:
            pipeline.finish(ctx)

    def drain(self) -> None:
        """What the background writers take away: log lines, the trace batch (joined)."""
        log = self.obs.access_log
        if log is not None:
            log._pending.clear()  # what the writer thread takes (and writes) in the gateway
        tracer = self.obs.tracer
        if tracer is not None:
            exporter = tracer.exporter
            fragments, exporter._pending = exporter._pending, []
            exporter._count = 0
            b"".join((exporter._head, b",".join(fragments), b"]}]}]}"))

    async def run(self, requests: int) -> None:
        handler = self.handler
        for i in range(requests):
            await handler(SCOPE, _receive, _send)
            if i % 1000 == 999:
                self.drain()
        self.drain()


async def best(bench: Bench, requests: int, repeats: int) -> float:
    """The least CPU time of ``repeats`` runs, in us per request."""
    await bench.run(requests)  # warm the caches and templates
    gc.collect()
    gc.freeze()  # as the gateway does once started
    spent = []
    for _ in range(repeats):
        t0 = time.process_time_ns()
        await bench.run(requests)
        spent.append(time.process_time_ns() - t0)
    return min(spent) / requests / 1000


async def main(repeats: int, requests: int) -> None:
    base = 0.0
    for name, settings in VARIANTS.items():
        bench = Bench(settings)
        await bench.transport.start()
        try:
            cost = await best(bench, requests, repeats)
        finally:
            await bench.transport.stop()
        if not base:
            base = cost
            print(f"{name:<40} {cost:7.2f} us per request (the reference)", flush=True)
        else:
            print(f"{name:<40} {cost - base:+7.2f} us per request", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args()
    asyncio.run(main(args.repeats, args.requests))
