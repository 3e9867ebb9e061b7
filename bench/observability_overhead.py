"""CPU cost per request of the observing finisher (metrics, access log, live feed, tracing).

    python bench/observability_overhead.py [--repeats 7]

Builds the finisher as the gateway does and feeds it finished request contexts of the
echo model (a plain and a streamed answer, with usage, a routed attempt, a virtual key's
principal), in process, so the figure is the finisher's own time: compare it with the
~140-170 us of CPU a whole proxied request costs (docs/benchmarks.md). Tracing is
measured as the gateway runs it: a request opened from a traceparent, four stages
wrapped, one upstream attempt through the transport's hook, the finisher, the spans
encoded and joined into a batch as the exporter posts it (no network), less the same
request untraced. Each figure is the best of ``--repeats`` runs (CPU time of this
process), so that other work on the machine inflates it as little as possible.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import time
from collections.abc import Callable
from typing import Any

from bastion.config import GatewayConfig
from bastion.governance.principal import Principal
from bastion.observability.runtime import Observability
from bastion.observability.settings import ObservabilityConfig
from bastion.pipeline import RequestContext
from bastion.routing.attempts import Attempt
from bastion.routing.catalog import ModelCatalog

N = 20_000


def _contexts() -> list[RequestContext]:
    catalog = ModelCatalog(GatewayConfig.model_validate({"test_model": "on"}))
    deployment = catalog.resolve("bastion/echo")[0]
    principal = Principal(id="key_1", name="k", kind="virtual", team_id="team_1", app="app_1")
    out = []
    for stream in (False, True):
        ctx = RequestContext("chat", "openai")
        ctx.model, ctx.stream, ctx.status = "bastion/echo", stream, 200
        ctx.deployment, ctx.principal = deployment, principal
        ctx.usage = {"prompt_tokens": 812, "completion_tokens": 164, "total_tokens": 976}
        ctx.upstream_ns = 1_000_000
        ctx.attempts = [Attempt(deployment, 200, None, 1.0)]
        if stream:
            ctx.first_byte_ns = ctx.started_ns + 200_000
        ctx.body = {"model": "bastion/echo", "messages": [{"role": "user", "content": "hi"}]}
        out.append(ctx)
    return out


def best(run: Callable[[], None], repeats: int) -> float:
    """The least CPU time of ``repeats`` runs of N requests, in us per request."""
    spent = []
    for _ in range(repeats):
        t0 = time.process_time_ns()
        run()
        spent.append(time.process_time_ns() - t0)
    return min(spent) / N / 1000


async def measure(name: str, settings: dict[str, Any], repeats: int) -> None:
    obs = Observability(
        ObservabilityConfig.model_validate(settings), cost=lambda d, p, c, k: p * 2500 + c * 10000
    )
    finisher = obs.finisher()
    if finisher is None:
        print(f"{name:<50} {0:6.2f} us", flush=True)
        return
    await obs.start()
    contexts = _contexts()
    access_log = obs.access_log

    def run() -> None:
        for i in range(N):
            finisher(contexts[i & 1])
            if access_log is not None and len(access_log._pending) >= 1000:
                access_log._pending.clear()  # what a flush takes away (written in a thread)

    run()  # warm the label caches
    gc.collect()
    gc.freeze()  # as the gateway does once started
    spent = best(run, repeats)
    await obs.stop()
    print(f"{name:<50} {spent:6.2f} us per request", flush=True)


def measure_tracing(repeats: int) -> None:
    from bastion.observability.facts import RequestFacts
    from bastion.observability.settings import TracingConfig
    from bastion.observability.tracing import Tracer, _current
    from bastion.providers.base import UpstreamRequest

    tracer = Tracer(TracingConfig(enabled=True))
    exporter = tracer.exporter
    headers = [
        (b"host", b"127.0.0.1:4000"),
        (b"content-type", b"application/json"),
        (b"authorization", b"Bearer not-a-real-key"),
        (b"traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    ]
    scope = {"headers": headers}
    request = UpstreamRequest(
        "POST",
        "http://upstream/v1/chat/completions",
        {"authorization": "Bearer upstream", "content-type": "application/json"},
        b"{}",
    )
    ctx = _contexts()[0]

    class Stage:
        async def __call__(self, ctx: RequestContext) -> None:
            return None

    names = ("authenticate", "authorize", "router", "limits")
    plain = [Stage() for _ in names]
    traced = [tracer.wrap_stage(Stage(), name) for name in names]

    async def request_path(stages: list[Any], hook: Tracer | None) -> None:
        for stage in stages:
            await stage(ctx)
        if hook is not None:
            _, token = hook.before(request, "openai/gpt-4o")
            hook.after(token, 200, None)
        facts = RequestFacts(ctx, None)
        if hook is not None:
            hook(facts, ctx)

    def drive(coroutine: Any) -> None:
        with contextlib.suppress(StopIteration):
            coroutine.send(None)

    def untraced() -> None:
        for _ in range(N):
            drive(request_path(plain, None))

    def with_tracing() -> None:
        for i in range(N):
            trace = tracer.begin(scope)
            token = _current.set(trace)
            drive(request_path(traced, tracer))
            _current.reset(token)
            tracer.export(trace, time.perf_counter_ns())
            if i % 500 == 499:  # what a flush does with a batch, less the HTTP post
                fragments, exporter._pending = exporter._pending, []
                exporter._count = 0
                b"".join((exporter._head, b",".join(fragments), b"]}]}]}"))

    with_tracing()  # warm the caches
    gc.collect()
    gc.freeze()
    cost = best(with_tracing, repeats) - best(untraced, repeats)
    print(f"{'tracing at 100% (7 spans, OTLP JSON)':<50} {cost:6.2f} us per request", flush=True)


async def main(repeats: int) -> None:
    off = {"metrics": {"enabled": False}, "hub": {"enabled": False}}
    await measure("everything off", off, repeats)
    await measure("metrics", {"hub": {"enabled": False}}, repeats)
    log = {"enabled": True, "destination": "/dev/null"}
    await measure("metrics + access log", {"hub": {"enabled": False}, "access_log": log}, repeats)
    await measure("metrics + access log + live feed (defaults + log)", {"access_log": log}, repeats)
    measure_tracing(repeats)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    asyncio.run(main(parser.parse_args().repeats))
