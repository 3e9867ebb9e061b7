"""Fixtures for governance tests: throwaway databases, a Redis prefix per run, gateways.

``database`` runs a test on SQLite and on PostgreSQL (a database created for
this test session and dropped after it). ``redis_prefix`` keeps this run's
Redis keys apart from any other run's and deletes them at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.conftest import fresh_postgres_database


@pytest.fixture(scope="session")
async def pg_database(postgres_url: str) -> AsyncIterator[str]:
    """A PostgreSQL database of its own for this test session; dropped at the end."""
    async with fresh_postgres_database(postgres_url, "bastion_t") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL: a fresh SQLite file, or this session's PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bastion.db'}"
    url: str = request.getfixturevalue("pg_database")
    return url


@pytest.fixture(scope="session")
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    prefix = "bastion-test-" + uuid.uuid4().hex[:10]
    yield prefix
    client = aioredis.Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=prefix + ":*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
