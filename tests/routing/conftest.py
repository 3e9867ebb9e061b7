"""Routing fixtures: three faulty upstreams, a gateway in front of them, a small client.

The upstreams live for the whole module (their faults and counters are reset before each
test); each test builds the gateway its config needs, with short cool-downs and timeouts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio

from tests.conftest import CLIENT_KEY, MASTER_KEY, RunningGateway, gateway_config, run_gateway
from tests.fakes.faulty_upstream import FaultyUpstream

NAMES = ("a", "b", "c")


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    json: Any = None  # a plain answer or an error body
    events: list[Any] = field(default_factory=list)  # a stream's data: events, parsed

    @property
    def served_by(self) -> str | None:
        return self.headers.get("x-bastion-served-by")

    @property
    def text(self) -> str:
        """The answer's text, plain or streamed."""
        if self.json is not None:
            return str(self.json["choices"][0]["message"]["content"])
        return "".join(
            e["choices"][0]["delta"].get("content") or ""
            for e in self.events
            if isinstance(e, dict) and e.get("choices")
        )


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def upstreams() -> AsyncIterator[dict[str, FaultyUpstream]]:
    started = {name: FaultyUpstream(name) for name in NAMES}
    for upstream in started.values():
        await upstream.start()
    yield started
    for upstream in started.values():
        await upstream.stop()


@pytest.fixture
def up(upstreams: dict[str, FaultyUpstream]) -> dict[str, FaultyUpstream]:
    for upstream in upstreams.values():
        upstream.reset_counters()
    return upstreams


def providers(upstreams: dict[str, FaultyUpstream], **timeouts: float) -> dict[str, Any]:
    """One provider per upstream; ``timeouts`` (first_byte, total, connect) apply to all."""
    out: dict[str, Any] = {}
    for name, upstream in upstreams.items():
        entry: dict[str, Any] = {
            "kind": "openai_compatible",
            "base_url": upstream.url,
            "api_key": "sk-faulty",
        }
        if timeouts:
            entry["timeouts"] = timeouts
        out[name] = entry
    return out


FAST_BREAKER = {"cooldown": 0.4, "consecutive_failures": 3, "window": 5, "min_requests": 20}
FAST_RETRY = {"backoff_base": 0.02, "backoff_max": 0.05, "max_retry_after": 1.5}


@asynccontextmanager
async def gateway(
    tmp_path: Path,
    upstreams: dict[str, FaultyUpstream],
    models: list[dict[str, Any]],
    routing: dict[str, Any] | None = None,
    timeouts: dict[str, float] | None = None,
    **sections: Any,
) -> AsyncIterator[RunningGateway]:
    routing = dict(routing or {})
    routing.setdefault("breaker", FAST_BREAKER)
    routing.setdefault("retry", FAST_RETRY)
    config = gateway_config(
        server={"data_dir": str(tmp_path / "data")},
        providers=providers(upstreams, **(timeouts or {})),
        models=models,
        routing=routing,
        **sections,
    )
    async with run_gateway(config) as running:
        yield running


async def chat(
    gw: RunningGateway,
    model: str,
    *,
    stream: bool = False,
    content: str = "hi",
    headers: dict[str, str] | None = None,
    key: str = CLIENT_KEY,
    **body: Any,
) -> Reply:
    request = {"model": model, "messages": [{"role": "user", "content": content}], **body}
    if stream:
        request["stream"] = True
    send_headers = {"authorization": f"Bearer {key}", **(headers or {})}
    async with (
        aiohttp.ClientSession() as session,
        session.post(gw.base_url + "/chat/completions", json=request, headers=send_headers) as r,
    ):
        raw = await r.read()
        reply = Reply(r.status, {k.lower(): v for k, v in r.headers.items()})
    if r.headers.get("content-type", "").startswith("text/event-stream"):
        for line in raw.split(b"\n"):
            if line.startswith(b"data: "):
                data = line[6:]
                reply.events.append("[DONE]" if data == b"[DONE]" else orjson.loads(data))
    else:
        reply.json = orjson.loads(raw)
    return reply


async def deployments_health(gw: RunningGateway, key: str = MASTER_KEY) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            gw.url + "/health/deployments", headers={"authorization": f"Bearer {key}"}
        ) as r,
    ):
        return r.status, await r.json()


def state_of(health: Any, label: str) -> dict[str, Any]:
    found: dict[str, Any] = next(d for d in health["deployments"] if d["deployment"] == label)
    return found
