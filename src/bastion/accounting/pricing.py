"""Model prices, the cost of a request, and its worst case before it runs.

Prices come from, in order: ``pricing.models`` in the config (by public model
name, ``provider/model`` label, ``kind/model`` or upstream model id), the
built-in catalogue ``data/prices.json`` (``kind/model``, then the bare model
id), and ``pricing.default``. Inside, prices are integer pico-dollars per
token and costs integer nano-dollars, so sums are exact everywhere (Python,
SQL, Redis) and a budget is never off by a rounding error.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import orjson

from bastion.config import GatewayConfig, PriceConfig, PricingConfig
from bastion.providers.base import JSON, Deployment, Endpoint

NANO_PER_USD = 1_000_000_000
_IMAGE_TOKENS = 1_600  # a generous bound for one image part
_CHARS_PER_TOKEN = 3  # below English's ~4, so the estimate errs high


@dataclass(frozen=True, slots=True)
class Price:
    """Pico-dollars per token (USD per million tokens x 10^6)."""

    input: int
    output: int
    cached_input: int
    max_output_tokens: int | None
    source: Literal["config", "catalogue", "default"]

    @classmethod
    def from_config(
        cls, p: PriceConfig, source: Literal["config", "catalogue", "default"]
    ) -> Price:
        cached = p.cached_input if p.cached_input is not None else p.input
        return cls(
            round(p.input * 1_000_000),
            round(p.output * 1_000_000),
            round(cached * 1_000_000),
            p.max_output_tokens,
            source,
        )


def cost_nusd(
    price: Price, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0
) -> int:
    """The cost in nano-dollars, rounded up."""
    cached = min(max(cached_tokens, 0), prompt_tokens)
    pico = (
        (prompt_tokens - cached) * price.input
        + cached * price.cached_input
        + completion_tokens * price.output
    )
    return -(-pico // 1000)


@dataclass(frozen=True, slots=True)
class UsageCount:
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def read_usage(usage: Mapping[str, Any]) -> UsageCount:
    """Token counts from an OpenAI-format ``usage`` object (absent fields count as 0)."""

    def _int(value: Any) -> int:
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0

    prompt = _int(usage.get("prompt_tokens"))
    completion = _int(usage.get("completion_tokens"))
    if not completion and not prompt:
        prompt = _int(usage.get("total_tokens"))
    details = usage.get("prompt_tokens_details")
    cached = _int(details.get("cached_tokens")) if isinstance(details, dict) else 0
    return UsageCount(prompt, completion, cached)


class PriceCatalog:
    def __init__(
        self, config: PricingConfig, builtin: Mapping[str, PriceConfig] | None = None
    ) -> None:
        self._config = {name: Price.from_config(p, "config") for name, p in config.models.items()}
        catalogue = builtin if builtin is not None else load_builtin_prices()
        self._builtin = {name: Price.from_config(p, "catalogue") for name, p in catalogue.items()}
        self._bare: dict[str, Price] = {}
        for name, price in self._builtin.items():
            self._bare.setdefault(name.partition("/")[2], price)
        self.default = Price.from_config(config.default, "default")
        self._memo: dict[tuple[str, str], Price] = {}

    def lookup(self, names: Iterable[str]) -> Price:
        names = list(names)
        for name in names:
            if name in self._config:
                return self._config[name]
        for name in names:
            if name in self._builtin:
                return self._builtin[name]
        for name in names:
            if name in self._bare:
                return self._bare[name]
        return self.default

    def for_deployment(self, deployment: Deployment) -> Price:
        memo_key = (deployment.name, deployment.label)
        price = self._memo.get(memo_key)
        if price is None:
            price = self.lookup(deployment_names(deployment))
            if len(self._memo) < 4096:
                self._memo[memo_key] = price
        return price


def deployment_names(deployment: Deployment) -> list[str]:
    return [
        deployment.name,
        deployment.label,
        f"{deployment.provider.kind}/{deployment.model}",
        deployment.model,
    ]


def load_builtin_prices() -> dict[str, PriceConfig]:
    text = resources.files("bastion").joinpath("data/prices.json").read_text(encoding="utf-8")
    models = json.loads(text)["models"]
    return {name: PriceConfig.model_validate(p) for name, p in models.items()}


def prices_taken() -> str:
    text = resources.files("bastion").joinpath("data/prices.json").read_text(encoding="utf-8")
    return str(json.loads(text).get("taken", "unknown"))


# --- the worst case, before the request runs --------------------------------------------


def _text_chars(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        chars = 0
        for part in content:
            if isinstance(part, dict):
                if part.get("type") == "text":
                    chars += len(str(part.get("text", "")))
                elif part.get("type") in ("image_url", "input_image", "image"):
                    chars += _IMAGE_TOKENS * _CHARS_PER_TOKEN
                else:
                    chars += len(orjson.dumps(part))
        return chars
    if content is None:
        return 0
    return len(orjson.dumps(content))


def estimate_prompt_tokens(endpoint: Endpoint, body: JSON) -> int:
    """An estimate of the prompt's tokens that errs high (no tokenizer at run time)."""
    if endpoint == "embeddings":
        value = body.get("input")
        items = value if isinstance(value, list) else [value]
        tokens = 0
        for item in items:
            if isinstance(item, str):
                tokens += len(item) // _CHARS_PER_TOKEN + 1
            elif isinstance(item, list):
                tokens += len(item)
            else:
                tokens += 1
        return tokens
    chars = 0
    messages = body.get("messages")
    count = len(messages) if isinstance(messages, list) else 0
    for message in messages if isinstance(messages, list) else ():
        if isinstance(message, dict):
            chars += _text_chars(message.get("content"))
            if message.get("tool_calls"):
                chars += len(orjson.dumps(message["tool_calls"]))
    if body.get("tools"):
        chars += len(orjson.dumps(body["tools"]))
    if body.get("response_format"):
        chars += len(orjson.dumps(body["response_format"]))
    return chars // _CHARS_PER_TOKEN + 4 * count + 8


def output_bound(endpoint: Endpoint, body: JSON, price: Price, default: int) -> int:
    """The most output tokens the request can produce: max_tokens (or the model's cap) x n."""
    if endpoint == "embeddings":
        return 0
    asked = body.get("max_completion_tokens") or body.get("max_tokens")
    bound = asked if isinstance(asked, int) and asked > 0 else price.max_output_tokens or default
    n = body.get("n")
    return bound * (n if isinstance(n, int) and n > 1 else 1)


def worst_case_nusd(endpoint: Endpoint, body: JSON, price: Price, default_output: int) -> int:
    """What the request can cost at most: the reservation made against budgets."""
    prompt = estimate_prompt_tokens(endpoint, body)
    return cost_nusd(price, prompt, output_bound(endpoint, body, price, default_output))


def usd(nusd: int) -> float:
    return nusd / NANO_PER_USD


def unpriced_models(config: GatewayConfig) -> list[str]:
    """The config's model aliases that only the default price covers (for ``config check``)."""
    catalog = PriceCatalog(config.pricing)
    out = []
    for m in config.models:
        provider = config.providers.get(m.provider)
        kind = (provider.kind if provider is not None else None) or m.provider
        names = [m.name, f"{m.provider}/{m.model}", f"{kind}/{m.model}", m.model]
        if catalog.lookup(names).source == "default" and m.name not in out:
            out.append(m.name)
    return out
