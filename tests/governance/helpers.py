"""Helpers for governance tests: a governed gateway, an admin client, gateway processes."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.conftest import (
    CLIENT_KEY,
    MASTER_KEY,
    RunningGateway,
    free_port,
    gateway_config,
    run_gateway,
)

# bastion/echo answers with the last user message: its completion tokens are that
# message's words. Priced at $0.001 per output token and nothing per input token, a
# request's cost is known exactly in advance.
OUTPUT_USD_PER_MILLION = 1000.0
NANO_PER_TOKEN = 1_000_000


def settings(
    database: str, tmp_path: Path, redis: str | None = None, prefix: str | None = None, **extra: Any
) -> dict[str, Any]:
    """Config sections for a governed gateway serving bastion/echo at a known price."""
    data: dict[str, Any] = {
        "database_url": database,
        "test_model": "on",
        "server": {"data_dir": str(tmp_path / "data")},
        "governance": {"reload_interval": 0.2, "spend_flush_interval": 0.1},
        "pricing": {"models": {"bastion/echo": {"input": 0, "output": OUTPUT_USD_PER_MILLION}}},
    }
    if redis is not None:
        data["redis_url"] = redis
        data["governance"]["redis_prefix"] = prefix
    data.update(extra)
    return data


@asynccontextmanager
async def governed_gateway(**sections: Any) -> AsyncIterator[RunningGateway]:
    async with run_gateway(gateway_config(**sections)) as gateway:
        yield gateway


class Client:
    """A small JSON client for the gateway (admin API and /v1)."""

    def __init__(self, session: aiohttp.ClientSession, url: str, key: str = MASTER_KEY) -> None:
        self.session = session
        self.url = url
        self.key = key

    def as_key(self, key: str) -> Client:
        return Client(self.session, self.url, key)

    async def call(
        self, method: str, path: str, body: Any = None
    ) -> tuple[int, Any, dict[str, str]]:
        async with self.session.request(
            method, self.url + path, json=body, headers={"authorization": f"Bearer {self.key}"}
        ) as response:
            text = await response.read()
            data = (
                await response.json(content_type=None)
                if text and response.content_type == "application/json"
                else text
            )
            return response.status, data, dict(response.headers)

    async def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, data, _ = await self.call(method, path, body)
        assert status in (200, 201), (status, data)
        return data

    async def chat(
        self,
        words: int = 4,
        max_tokens: int | None = None,
        stream: bool = False,
        model: str = "bastion/echo",
        **extra: Any,
    ) -> tuple[int, Any, dict[str, str]]:
        body: dict[str, Any] = {
            "model": model,
            "messages": [{"role": "user", "content": " ".join(["word"] * words)}],
            **extra,
        }
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if stream:
            body["stream"] = True
        return await self.call("POST", "/v1/chat/completions", body)


@asynccontextmanager
async def client(url: str) -> AsyncIterator[Client]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield Client(session, url)


async def wait_for(check: Callable[[], Awaitable[bool]], within: float = 1.0) -> float:
    """Poll ``check`` until it is true; the seconds that took (fails after ``within``)."""
    start = time.monotonic()
    while not await check():
        if time.monotonic() - start > within:
            raise AssertionError(f"the condition did not become true within {within} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


# --- real `bastion serve` processes --------------------------------------------------------


class GatewayProcess:
    def __init__(self, proc: asyncio.subprocess.Process, url: str, log: Path) -> None:
        self.proc = proc
        self.url = url
        self.log = log


async def start_gateway_process(
    config: dict[str, Any], tmp_path: Path, name: str
) -> GatewayProcess:
    """Start `bastion serve` with ``config`` written to a file; wait until it is ready."""
    path = tmp_path / f"{name}.yaml"
    auth = {"master_key": MASTER_KEY, "keys": [{"name": "client", "key": CLIENT_KEY}]}
    path.write_text(yaml.safe_dump({**config, "auth": auth}))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.pop("BASTION_CONFIG", None)
    log = tmp_path / f"{name}.log"
    with log.open("wb") as output:
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "bastion", "serve", "--config", str(path)),
            *("--port", str(port), "--log-level", "warning"),
            env=env,
            cwd=tmp_path,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=output,
            start_new_session=True,  # its own group: a kill takes its workers with it
        )
    url = f"http://127.0.0.1:{port}"
    # 60 s: two workers starting on a loaded two-core machine (CI) can take 20 s.
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                pytest.fail("bastion serve exited early:\n" + log.read_text())
            try:
                async with session.get(url + "/health/ready") as response:
                    if response.status == 200:
                        return GatewayProcess(proc, url, log)
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    _kill_group(proc)
    pytest.fail("bastion serve did not become ready:\n" + log.read_text())


async def stop_gateway_process(gateway: GatewayProcess) -> str:
    """Stop the process; its log."""
    gateway.proc.terminate()
    try:
        await asyncio.wait_for(gateway.proc.wait(), 15)
    except TimeoutError:
        _kill_group(gateway.proc)
        await gateway.proc.wait()
    return gateway.log.read_text()


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL the process and what it started (uvicorn's workers, the recorder)."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
