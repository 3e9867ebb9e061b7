"""Fixtures for accounting tests: a fresh PostgreSQL database per test (dropped after it)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import fresh_postgres_database


@pytest.fixture
async def pg_fresh(postgres_url: str) -> AsyncIterator[str]:
    async with fresh_postgres_database(postgres_url, "bastion_acc") as url:
        yield url
