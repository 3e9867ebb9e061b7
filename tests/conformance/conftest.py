"""Fixtures of the conformance suite: every fake upstream and one gateway in front of them all.

The fakes and the gateway start once per module, in the session's event loop;
each test gets a :class:`Harness` for one provider case (the ``case`` fixture is
parametrised over :data:`~tests.conformance.cases.CASES`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
import pytest
import pytest_asyncio

from tests.conformance.cases import CASES, FakeUpstream, ProviderCase
from tests.conformance.harness import Harness
from tests.conftest import CLIENT_KEY, RunningGateway, gateway_config, run_gateway

Fakes = dict[type[FakeUpstream], FakeUpstream]


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def fakes() -> AsyncIterator[Fakes]:
    started: Fakes = {}
    try:
        for case in CASES:
            if case.fake not in started:
                fake = case.fake()
                await fake.start()
                started[case.fake] = fake
        yield started
    finally:
        for fake in started.values():
            await fake.stop()


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def gateway(fakes: Fakes) -> AsyncIterator[RunningGateway]:
    providers = {case.name: case.provider(fakes[case.fake]) for case in CASES}
    # The suite checks translation: every upstream error must reach the client as mapped,
    # so the router makes one attempt and never takes a deployment out of service for the
    # errors the suite provokes on purpose (the router is tested on its own).
    routing = {
        "defaults": {"retries": 0},
        "breaker": {
            "consecutive_failures": 1_000_000,
            "min_requests": 1_000_000,
            "rate_limit_cooldown": 0.001,  # a 429 would cool the deployment for Retry-After
            "max_rate_limit_cooldown": 0.001,
        },
    }
    async with run_gateway(gateway_config(providers=providers, routing=routing)) as running:
        yield running


@pytest.fixture(params=CASES, ids=[case.name for case in CASES])
def case(request: pytest.FixtureRequest) -> ProviderCase:
    selected: ProviderCase = request.param
    return selected


@pytest.fixture
def t(case: ProviderCase, fakes: Fakes, gateway: RunningGateway) -> Harness:
    fake = fakes[case.fake]
    fake.reset()
    client = openai.AsyncOpenAI(base_url=gateway.base_url, api_key=CLIENT_KEY, max_retries=0)
    return Harness(case, client, fake)
