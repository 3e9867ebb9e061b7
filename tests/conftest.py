"""Shared fixtures: a real gateway on loopback, built from a config dict.

Tests that need PostgreSQL or Redis use the real servers; without them the test
is skipped with a message, unless BASTION_TEST_REQUIRE_SERVICES=1 (set by .ci/run),
which turns the skip into a failure.
"""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
import uvicorn

from bastion.app import Gateway, create_app
from bastion.config import GatewayConfig
from bastion.governance.auth import key_digest

# Gateways started by tests keep their state (SQLite, the master key hash) out of ~/.local.
os.environ["BASTION_DATA_DIR"] = tempfile.mkdtemp(prefix="bastion-test-")

MASTER_KEY = "test-master-key-0123456789"
CLIENT_KEY = "test-client-key-0123456789"

POSTGRES_URL = os.environ.get(
    "BASTION_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("BASTION_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RunningGateway:
    def __init__(self, gateway: Gateway, port: int) -> None:
        self.gateway = gateway
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.base_url = self.url + "/v1"


def gateway_config(**sections: Any) -> GatewayConfig:
    """A config with the test keys; ``sections`` are top-level config entries."""
    data: dict[str, Any] = {
        "auth": {"master_key": MASTER_KEY, "keys": [{"name": "client", "key": CLIENT_KEY}]},
        **sections,
    }
    return GatewayConfig.model_validate(data)


@asynccontextmanager
async def run_gateway(config: GatewayConfig) -> AsyncIterator[RunningGateway]:
    """Serve a gateway on a free loopback port with uvicorn, in this event loop."""
    app = create_app(config, key_digest(MASTER_KEY))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            lifespan="on",
            log_level="warning",
            access_log=False,
            http="httptools",
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield RunningGateway(app, port)
    finally:
        server.should_exit = True
        await task


GatewayFactory = Callable[..., Awaitable[RunningGateway]]


def _service_unavailable(name: str, url: str) -> None:
    message = f"{name} is not reachable at {url}"
    if os.environ.get("BASTION_TEST_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " (BASTION_TEST_REQUIRE_SERVICES=1)")
    pytest.skip(message)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def postgres_url() -> str:
    if not _reachable("127.0.0.1", 5432):
        _service_unavailable("PostgreSQL", POSTGRES_URL)
    return POSTGRES_URL


@asynccontextmanager
async def fresh_postgres_database(postgres_url: str, prefix: str) -> AsyncIterator[str]:
    """A PostgreSQL database of its own, named ``prefix_<random>``; dropped afterwards
    (with whatever connections are still open to it)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"{postgres_url.rsplit('/', 1)[0]}/{name}"
    finally:
        admin = await asyncpg.connect(postgres_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not _reachable("127.0.0.1", 6379):
        _service_unavailable("Redis", REDIS_URL)
    return REDIS_URL
