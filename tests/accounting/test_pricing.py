"""The price catalogue and exact cost arithmetic."""

from __future__ import annotations

import json
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest

from bastion.accounting.pricing import (
    PriceCatalog,
    UsageCount,
    load_builtin_prices,
    pico_per_token,
    read_usage,
    usage_cost,
)
from bastion.config import PriceConfig, PricingConfig
from bastion.providers.registry import PROVIDER_KINDS
from tests.accounting.helpers import in_process, sqlite_url
from tests.fakes.openai_upstream import DEFAULT_API_KEY, FakeOpenAI

# A provider kind that serves models of its own with a published per-token price.
PRICED_KINDS = (
    "openai",
    "anthropic",
    "gemini",
    "vertex",
    "bedrock",
    "mistral",
    "cohere",
    "groq",
    "deepseek",
    "together",
    "fireworks",
)


def test_the_catalogue_prices_every_provider_with_the_date_each_price_was_taken() -> None:
    text = resources.files("bastion").joinpath("data/prices.json").read_text()
    models = json.loads(text)["models"]
    kinds = {name.partition("/")[0] for name in models}
    assert set(PRICED_KINDS) <= kinds <= set(PROVIDER_KINDS) | {"bastion"}
    for kind in PRICED_KINDS:  # DeepSeek has two models; the others more
        assert sum(name.startswith(kind + "/") for name in models) >= 2, kind
    for name, price in load_builtin_prices().items():
        assert price.taken is not None and price.taken >= "2025-01-01", name
    # Cache writes and reads where the vendor bills them apart; embeddings per token.
    catalog = PriceCatalog(PricingConfig())
    sonnet = catalog.lookup(["anthropic/claude-sonnet-4-0"])
    assert (sonnet.input, sonnet.cache_write, sonnet.cached_input, sonnet.output) == (
        3_000_000,
        3_750_000,
        300_000,
        15_000_000,
    )
    assert catalog.lookup(["openai/text-embedding-3-small"]).embedding == 20_000
    # Cross-region inference profiles and OpenRouter's vendor/model ids find the price.
    assert catalog.lookup(["bedrock/amazon.nova-lite-v1:0"]).input == 60_000


def test_prices_are_read_from_their_decimal_text_and_costs_sum_exactly() -> None:
    assert pico_per_token(0.075) == 75_000  # 0.075 * 1e6 is 75000.00000000001 in floats
    assert pico_per_token(0.00875) == 8_750
    assert pico_per_token(3.75) == 3_750_000
    price = PriceCatalog(PricingConfig(models={"m": PriceConfig(input=0.1, output=0.3)})).lookup(
        ["m"]
    )
    one = usage_cost(price, UsageCount(7, 3, 0))  # 0.7 + 0.9 micro-dollars
    assert one == 1_600
    total = sum(usage_cost(price, UsageCount(7, 3, 0)) for _ in range(1_000_000))
    assert total == 1_600_000_000  # $1.60 exactly; float sums of 1.6e-6 drift
    assert sum([1.6e-6] * 1_000_000) != 1.6
    assert Decimal(total) / 10**9 == Decimal("1.6")


def test_each_kind_of_token_has_its_own_price() -> None:
    config = PriceConfig(input=3, output=15, cached_input=0.3, cache_write=3.75, embedding=0.02)
    catalog = PriceCatalog(PricingConfig(models={"m": config}))
    price = catalog.lookup(["m"])
    # 13 plain + 1800 cache reads + 200 cache writes; 75 output, 40 of them reasoning.
    usage = read_usage(
        {
            "prompt_tokens": 2013,
            "completion_tokens": 75,
            "prompt_tokens_details": {"cached_tokens": 1800, "cache_write_tokens": 200},
            "completion_tokens_details": {"reasoning_tokens": 40},
        }
    )
    assert usage == UsageCount(2013, 75, 1800, 200, 40)
    assert usage_cost(price, usage) == 39_000 + 540_000 + 750_000 + 1_125_000
    assert usage_cost(price, UsageCount(1000, 0, 0), "embeddings") == 20_000
    assert read_usage({"prompt_tokens": 9.0, "completion_tokens": 13.0}) == UsageCount(9, 13, 0)


async def test_config_prices_win_and_a_model_without_a_price_costs_null_not_zero(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeOpenAI()
    await fake.start()
    sections = {
        "providers": {"up": {"kind": "openai", "base_url": fake.url, "api_key": DEFAULT_API_KEY}},
        "models": [
            {"name": "own", "provider": "up", "model": "x", "price": {"input": 1, "output": 2}},
        ],
        "pricing": {"models": {"bastion/echo": {"input": 1000, "output": 0}}},
    }
    try:
        async with in_process(sqlite_url(tmp_path), tmp_path, **sections) as gw:
            prices = gw.gateway.governance.prices
            own = prices.for_deployment(gw.gateway.catalog.resolve("own")[0])
            assert (own.source, own.input, own.output) == ("deployment", 1_000_000, 2_000_000)
            assert (await gw.chat("one two three")).status == 200  # config: $1000/M input
            for _ in range(2):  # a model no price covers
                assert (await gw.chat("hi", model="up/unlisted-model")).status == 200
            await gw.flush()
            rows = await gw.rows(
                "SELECT model, prompt_tokens, cost_nusd, price_source FROM spend_ledger ORDER BY id"
            )
            listing = await gw.admin("GET", "/admin/v1/prices")
    finally:
        await fake.stop()
    assert rows[0] == {
        "model": "bastion/echo",
        "prompt_tokens": 3,
        "cost_nusd": 3_000_000,
        "price_source": "config",
    }
    assert [(r["cost_nusd"], r["price_source"]) for r in rows[1:]] == [(None, None)] * 2
    assert all(r["prompt_tokens"] > 0 for r in rows[1:])  # the tokens are known, the price not
    assert listing["unpriced_requests"] == {"up/unlisted-model": 2}
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert sum("no price for up/unlisted-model" in w for w in warnings) == 1
    echo = next(p for p in listing["prices"] if p["model"] == "bastion/echo")
    assert (echo["source"], echo["input"]) == ("config", "1000")
