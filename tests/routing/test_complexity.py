"""The complexity router on a labelled set of prompts (tests/routing/labelled_prompts.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bastion.providers.base import Deployment, ProviderSettings
from bastion.providers.registry import PROVIDER_KINDS
from bastion.routing import complexity
from tests.conftest import CLIENT_KEY
from tests.fakes.faulty_upstream import FaultyUpstream
from tests.routing.conftest import gateway
from tests.routing.labelled_prompts import LABELLED

# USD per million tokens (input, output): gpt-4.1-nano, gpt-4.1-mini, gpt-4.1 in the catalogue.
PRICES = {"small": (0.10, 0.40), "medium": (0.40, 1.60), "large": (2.00, 8.00)}
OUTPUT_TOKENS = 400  # assumed per answer, for the savings estimate
CAPABILITIES: dict[str, list[str]] = {
    "small": [],
    "medium": ["tools", "json_schema"],
    "large": ["tools", "json_schema", "vision"],
}
TIERS = [
    {"model": "small", "max_score": 0.2},
    {"model": "medium", "max_score": 0.55},
    {"model": "large"},
]


def _tiers() -> tuple[complexity.Tier, ...]:
    provider = ProviderSettings("p", "openai_compatible", "http://127.0.0.1:9/v1")
    adapter = PROVIDER_KINDS["openai_compatible"].adapter
    return tuple(
        complexity.Tier(
            name,
            tier.get("max_score"),
            (
                Deployment(
                    name, name, provider, adapter, capabilities=frozenset(CAPABILITIES[name])
                ),
            ),
        )
        for name, tier in zip(CAPABILITIES, TIERS, strict=True)
    )


@pytest.mark.parametrize(("expected", "body"), LABELLED)
def test_each_labelled_prompt_gets_its_tier(expected: str, body: dict[str, Any]) -> None:
    choice = complexity.choose(_tiers(), body)
    assert choice.group == expected, (round(choice.score, 3), body["messages"][-1]["content"][:80])


def test_the_sample_workload_costs_less_than_half() -> None:
    """The savings docs/routing.md reports: everything on the large tier, or routed."""
    tiers = _tiers()
    always_large = routed = 0.0
    for _, body in LABELLED:
        tokens = complexity.features(body).tokens
        group = complexity.choose(tiers, body).group
        for tier, into in (("large", "always"), (group, "routed")):
            price_in, price_out = PRICES[tier]
            cost = (tokens * price_in + OUTPUT_TOKENS * price_out) / 1e6
            if into == "always":
                always_large += cost
            else:
                routed += cost
    saved = 1 - routed / always_large
    assert round(always_large, 4) == 0.1009
    assert round(routed, 4) == 0.0351
    assert round(saved, 2) == 0.65


def test_a_tier_without_the_context_window_is_passed_over() -> None:
    provider = ProviderSettings("p", "openai_compatible", "http://127.0.0.1:9/v1")
    adapter = PROVIDER_KINDS["openai_compatible"].adapter
    small = Deployment("small", "small", provider, adapter, context_window=100)
    large = Deployment("large", "large", provider, adapter)
    tiers = (complexity.Tier("small", 0.5, (small,)), complexity.Tier("large", None, (large,)))
    short = {"messages": [{"role": "user", "content": "hello"}]}
    long = {"messages": [{"role": "user", "content": "hello " * 200}]}
    assert complexity.choose(tiers, short).group == "small"
    assert complexity.choose(tiers, long).group == "large"


@pytest.mark.asyncio(loop_scope="session")
async def test_auto_routes_each_request_and_says_why(
    tmp_path: Path, up: dict[str, FaultyUpstream]
) -> None:
    host = {"small": "a", "medium": "b", "large": "c"}
    models = [
        {"name": name, "provider": host[name], "model": name, "capabilities": CAPABILITIES[name]}
        for name in host
    ]
    routing = {"complexity": {"auto": {"tiers": TIERS}}}
    headers = {"authorization": f"Bearer {CLIENT_KEY}"}
    async with gateway(tmp_path, up, models, routing) as gw, aiohttp.ClientSession() as session:
        for expected, body in LABELLED:
            url = gw.base_url + "/chat/completions"
            async with session.post(url, json={"model": "auto", **body}, headers=headers) as r:
                assert r.status == 200
                assert r.headers["x-bastion-served-by"] == f"{host[expected]}/{expected}"
                tier, score = r.headers["x-bastion-complexity"].split("; ")
                assert tier == f"tier={expected}"
                assert 0.0 <= float(score.removeprefix("score=")) <= 1.0
    counts = {tier: up[name].requests for tier, name in host.items()}
    assert counts == {"small": 13, "medium": 10, "large": 7}
