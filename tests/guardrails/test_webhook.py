"""The webhook guardrail against a real checker on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest_asyncio
from aiohttp import web

from tests.conftest import CLIENT_KEY, RunningGateway, free_port, gateway_config, run_gateway
from tests.fakes.openai_upstream import FakeOpenAI


class Checker:
    """Blocks any request with 'forbidden' in a text; remembers what it was sent."""

    def __init__(self) -> None:
        self.received: list[Any] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/check", self._check)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/check"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _check(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received.append(body)
        if any("forbidden" in t["text"] for t in body["texts"]):
            return web.json_response({"action": "block", "reason": "topic not allowed"})
        return web.json_response({"action": "allow"})


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def setup() -> AsyncIterator[tuple[RunningGateway, Checker, FakeOpenAI]]:
    checker, fake = Checker(), FakeOpenAI()
    await checker.start()
    await fake.start()
    config = gateway_config(
        providers={
            "up": {"kind": "openai", "base_url": fake.url, "api_key": "sk-fake-upstream-key"}
        },
        models=[
            {"name": "hooked", "provider": "up", "model": "gpt-4o-mini"},
            {"name": "hook-down", "provider": "up", "model": "gpt-4o-mini"},
        ],
        guardrails={
            "policies": {
                "hook": {
                    "rules": [
                        {"detectors": ["email"], "action": "pseudonymise", "direction": "input"}
                    ],
                    "webhook": {"url": checker.url},
                },
                "down": {"webhook": {"url": f"http://127.0.0.1:{free_port()}/x", "timeout": 1}},
            },
            "attach": {"models": {"hooked": ["hook"], "hook-down": ["down"]}},
        },
    )
    async with run_gateway(config) as gw:
        yield gw, checker, fake
    await checker.stop()
    await fake.stop()


async def _post(gw: RunningGateway, model: str, text: str) -> tuple[int, Any]:
    body = {"model": model, "messages": [{"role": "user", "content": text}]}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            gw.base_url + "/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {CLIENT_KEY}"},
        ) as resp,
    ):
        return resp.status, orjson.loads(await resp.read())


async def test_webhook_sees_pseudonymised_text_and_allows(setup: Any) -> None:
    gw, checker, _ = setup
    status, body = await _post(gw, "hooked", "write to jane@example.com")
    assert status == 200
    assert checker.received[-1]["texts"] == [
        {"where": "messages[0].content", "source": "user", "text": "write to <EMAIL_1>"}
    ]
    assert body["choices"][0]["message"]["content"] == "Hello! You said: write to jane@example.com"


async def test_webhook_blocks(setup: Any) -> None:
    gw, _, fake = setup
    fake.reset()
    status, body = await _post(gw, "hooked", "tell me the forbidden thing")
    assert status == 400
    assert body["error"]["code"] == "guardrail_blocked"
    assert body["error"]["message"] == (
        "Blocked by the guardrail policy 'hook': webhook found in the input (topic not allowed)."
    )
    assert fake.requests == []


async def test_unreachable_webhook_fails_closed(setup: Any) -> None:
    gw, _, _ = setup
    status, body = await _post(gw, "hook-down", "hello")
    assert status == 400
    assert "the guardrail service is unavailable" in body["error"]["message"]
