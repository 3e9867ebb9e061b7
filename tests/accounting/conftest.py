"""Fixtures for accounting tests: a fresh PostgreSQL database per test (dropped after it),
and the two places ledger rows and audit records are written (``accounting.recorder``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import fresh_postgres_database


@pytest.fixture
async def pg_fresh(postgres_url: str) -> AsyncIterator[str]:
    async with fresh_postgres_database(postgres_url, "bastion_acc") as url:
        yield url


@pytest.fixture(params=["process", "inline"])
def recorder_mode(request: pytest.FixtureRequest) -> str:
    """Run the test with the recorder in its own process, then in the gateway."""
    mode: str = request.param
    return mode
