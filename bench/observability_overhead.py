"""CPU cost per request of the observing finisher (metrics, access log, live feed, tracing).

    python bench/observability_overhead.py

Builds the finisher as the gateway does and feeds it finished request contexts of the
echo model (a plain and a streamed answer, with usage, a virtual key's principal), in
process, so the figure is the finisher's own time: compare it with the ~140-170 us of
CPU a whole proxied request costs (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bastion.config import GatewayConfig
from bastion.governance.principal import Principal
from bastion.observability.runtime import Observability
from bastion.observability.settings import ObservabilityConfig
from bastion.pipeline import RequestContext
from bastion.routing.catalog import ModelCatalog

N = 50_000


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
        if stream:
            ctx.first_byte_ns = ctx.started_ns + 200_000
        ctx.body = {"model": "bastion/echo", "messages": [{"role": "user", "content": "hi"}]}
        out.append(ctx)
    return out


async def measure(name: str, settings: dict[str, Any]) -> None:
    obs = Observability(
        ObservabilityConfig.model_validate(settings), cost=lambda d, p, c, k: p * 2500 + c * 10000
    )
    finisher = obs.finisher()
    if obs.access_log is not None:
        obs.access_log.settings = obs.access_log.settings.model_copy(
            update={"destination": "/dev/null"}
        )
    await obs.start()
    contexts = _contexts()
    if finisher is None:
        print(f"{name:<44} 0.00 us")
        return
    for ctx in contexts * 1000:  # warm the label caches
        finisher(ctx)
    t0 = time.process_time_ns()
    for i in range(N):
        finisher(contexts[i & 1])
        if obs.access_log is not None and i % 1000 == 0:
            await obs.access_log.flush()
    spent = (time.process_time_ns() - t0) / N / 1000
    await obs.stop()
    print(f"{name:<44} {spent:6.2f} us per request", flush=True)


async def main() -> None:
    off = {"metrics": {"enabled": False}, "hub": {"enabled": False}}
    await measure("everything off", off)
    await measure("metrics", {"hub": {"enabled": False}})
    await measure(
        "metrics + access log",
        {"hub": {"enabled": False}, "access_log": {"enabled": True, "destination": "/dev/null"}},
    )
    await measure(
        "metrics + access log + live feed (defaults + log)",
        {"access_log": {"enabled": True, "destination": "/dev/null"}},
    )
    await measure_tracing()


async def measure_tracing() -> None:
    """The tracer's whole per-request work: trace opened from a traceparent, four stage
    marks, one upstream attempt with its header, the finisher, the six spans built and
    encoded as the exporter posts them (OTLP JSON; no network)."""
    from bastion.observability.facts import RequestFacts
    from bastion.observability.settings import TracingConfig
    from bastion.observability.tracing import Tracer, _current
    from bastion.providers.base import UpstreamRequest

    tracer = Tracer(TracingConfig(enabled=True))
    exporter = tracer.exporter
    scope = {
        "headers": [(b"traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]
    }
    request = UpstreamRequest("POST", "http://upstream/v1/chat/completions", {"a": "b"}, b"{}")
    ctx = _contexts()[0]
    facts = RequestFacts(ctx, None)
    t0 = time.process_time_ns()
    for i in range(N):
        trace = tracer.begin(scope)
        token = _current.set(trace)
        for name in ("authenticate", "authorize", "router", "limits"):
            start = time.perf_counter_ns()
            trace.stages.append((name, start, time.perf_counter_ns(), None))
        _, attempt = tracer.before(request, "openai/gpt-4o")
        tracer.after(attempt, 200, None)
        tracer(facts, ctx)
        _current.reset(token)
        tracer.export(trace, time.perf_counter_ns())
        if i % 500 == 499:  # what a flush does with a batch, less the HTTP post
            fragments, exporter._pending = exporter._pending, []
            exporter._count = 0
            b"".join((exporter._head, b",".join(fragments), b"]}]}]}"))
    spent = (time.process_time_ns() - t0) / N / 1000
    print(f"{'tracing at 100% (6 spans, OTLP JSON)':<44} {spent:6.2f} us per request", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
