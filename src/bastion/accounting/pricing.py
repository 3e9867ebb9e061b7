"""Model prices, the cost of a request, and its worst case before it runs.

Prices come from, in order: a ``models:`` entry's own ``price:``, ``pricing.models``
in the config (by public model name, ``provider/model`` label, ``kind/model`` or
upstream model id), and the built-in catalogue ``data/prices.json`` (``kind/model``,
then the bare model id), each entry with the date it was taken. A model priced
nowhere has no known cost: the ledger records NULL, never zero, and only budget
reservations fall back to ``pricing.default`` (so an unpriced model cannot slip
past a budget).

Inside, prices are integer pico-dollars per token, read from their decimal text
(never through binary floating point), and costs are integer nano-dollars: sums
are exact everywhere (Python, SQL, Redis), over any number of rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

import orjson

from bastion.providers.base import JSON, Deployment, DeploymentPrice, Endpoint

if TYPE_CHECKING:  # imported where used: the recorder process prices without the config
    from bastion.config import GatewayConfig, PriceConfig, PricingConfig

NANO_PER_USD = 1_000_000_000
_IMAGE_TOKENS = 1_600  # a generous bound for one image part
_CHARS_PER_TOKEN = 3  # below English's ~4, so the estimate errs high
# Bedrock's cross-region inference profiles prefix a model id with a geography.
_GEO_PREFIXES = frozenset({"us", "eu", "apac", "global", "us-gov", "jp", "au", "ca"})

PriceSource = Literal["deployment", "config", "catalogue", "default"]


def pico_per_token(usd_per_million: float) -> int:
    """USD per million tokens -> pico-dollars per token, exactly (from the decimal text)."""
    value = Decimal(str(usd_per_million)) * 1_000_000
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True, slots=True)
class Price:
    """Pico-dollars per token (USD per million tokens x 10^6). Build with ``from_config``."""

    input: int
    output: int
    cached_input: int  # cache reads
    max_output_tokens: int | None
    source: PriceSource
    cache_write: int = 0
    embedding: int = 0
    taken: str | None = None  # the date the price was read off the provider's page

    @classmethod
    def from_config(cls, p: PriceConfig, source: PriceSource, taken: str | None = None) -> Price:
        base = pico_per_token(p.input)
        return cls(
            base,
            pico_per_token(p.output),
            pico_per_token(p.cached_input) if p.cached_input is not None else base,
            p.max_output_tokens,
            source,
            pico_per_token(p.cache_write) if p.cache_write is not None else base,
            pico_per_token(p.embedding) if p.embedding is not None else base,
            p.taken or taken,
        )


# Built per request (twice for a governed one): a plain slotted dataclass, since a frozen
# one's __init__ costs ~3x more (callgrind: 9.1 K instructions vs 2.8 K).
@dataclass(slots=True)
class UsageCount:
    """Tokens by kind. ``prompt_tokens`` includes cache reads and writes, and
    ``completion_tokens`` the reasoning tokens, as OpenAI counts them."""

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def usage_cost(price: Price, usage: UsageCount, endpoint: Endpoint = "chat") -> int:
    """The cost in nano-dollars, rounded up: each kind of token at its own price."""
    prompt = usage.prompt_tokens
    if endpoint == "embeddings":
        pico = prompt * price.embedding
    else:
        cached = min(max(usage.cached_tokens, 0), prompt)
        written = min(max(usage.cache_write_tokens, 0), prompt - cached)
        pico = (
            (prompt - cached - written) * price.input
            + cached * price.cached_input
            + written * price.cache_write
            + usage.completion_tokens * price.output
        )
    return -(-pico // 1000)


def cost_nusd(
    price: Price, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0
) -> int:
    """The cost in nano-dollars, rounded up (chat tokens without cache writes).

    ``usage_cost`` of those counts, written out: the metrics' per-request cost and the
    budget reservation call this, and a ``UsageCount`` each time would cost more than
    the arithmetic."""
    cached = min(max(cached_tokens, 0), prompt_tokens)
    pico = (
        (prompt_tokens - cached) * price.input
        + cached * price.cached_input
        + completion_tokens * price.output
    )
    return -(-pico // 1000)


def _count(value: Any) -> int:
    if value is None:  # absent: the usual case of the optional kinds
        return 0
    if type(value) is int:
        return value if value > 0 else 0
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, float) and value.is_integer():  # Cohere counts in floats
        return max(int(value), 0)
    return 0


def read_usage(usage: Mapping[str, Any]) -> UsageCount:
    """Token counts from an OpenAI-format ``usage`` object (absent fields count as 0)."""
    # Counts are almost always plain non-negative ints: those are taken as they are
    # (``type(n) is int`` leaves bools out); anything else goes through _count.
    get = usage.get
    prompt = get("prompt_tokens")
    if type(prompt) is not int or prompt < 0:
        prompt = _count(prompt)
    completion = get("completion_tokens")
    if type(completion) is not int or completion < 0:
        completion = _count(completion)
    if not completion and not prompt:
        prompt = _count(get("total_tokens"))
    details = get("prompt_tokens_details")
    cached = written = reasoning = 0
    if isinstance(details, dict):
        cached = _count(details.get("cached_tokens"))
        written = _count(details.get("cache_write_tokens"))
    out = get("completion_tokens_details")
    if isinstance(out, dict):
        reasoning = _count(out.get("reasoning_tokens"))
    return UsageCount(prompt, completion, cached, written, reasoning)


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
        self._own: dict[DeploymentPrice, Price] = {}  # from models: entries, so bounded

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
        """The deployment's price; ``pricing.default`` when priced nowhere (for budgets)."""
        own = deployment.price  # a models: entry's own price wins over everything
        if own is not None:
            found = self._own.get(own)
            if found is None:
                found = self._own[own] = Price.from_config(_own_price(own), "deployment")
            return found
        memo_key = (deployment.name, deployment.label)
        price = self._memo.get(memo_key)
        if price is None:
            price = self.lookup(deployment_names(deployment))
            if len(self._memo) < 4096:
                self._memo[memo_key] = price
        return price

    def known(self, deployment: Deployment) -> Price | None:
        """The deployment's price, or None when nothing prices it (its cost is unknown)."""
        price = self.for_deployment(deployment)
        return None if price.source == "default" else price

    def listing(self) -> list[dict[str, Any]]:
        """Every configured and catalogued price, in USD per million tokens."""
        rows = [
            _listed(name, price)
            for table in (self._config, self._builtin)
            for name, price in sorted(table.items())
        ]
        rows.append(_listed("(default, budgets only)", self.default))
        return rows


def _own_price(own: DeploymentPrice) -> PriceConfig:
    from bastion.config import PriceConfig

    return PriceConfig(
        input=own.input,
        output=own.output,
        cached_input=own.cached_input,
        cache_write=own.cache_write,
        embedding=own.embedding,
    )


def _usd(pico: int) -> str:
    return str(Decimal(pico) / 1_000_000)


def _listed(name: str, price: Price) -> dict[str, Any]:
    return {
        "model": name,
        "source": price.source,
        "input": _usd(price.input),
        "output": _usd(price.output),
        "cached_input": _usd(price.cached_input),
        "cache_write": _usd(price.cache_write),
        "embedding": _usd(price.embedding),
        "taken": price.taken,
    }


def deployment_names(deployment: Deployment) -> list[str]:
    names = [
        deployment.name,
        deployment.label,
        f"{deployment.provider.kind}/{deployment.model}",
        deployment.model,
    ]
    geo, dot, rest = deployment.model.partition(".")
    if dot and geo in _GEO_PREFIXES and "." in rest:  # us.anthropic.claude-...: the model
        names += [f"{deployment.provider.kind}/{rest}", rest]
    return names


def _catalogue() -> dict[str, Any]:
    text = resources.files("bastion").joinpath("data/prices.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def load_builtin_prices() -> dict[str, PriceConfig]:
    from bastion.config import PriceConfig

    data = _catalogue()
    taken = data.get("taken")
    return {
        name: PriceConfig.model_validate({"taken": taken, **p})
        for name, p in data["models"].items()
    }


def prices_taken() -> str:
    return str(_catalogue().get("taken", "unknown"))


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
    """An estimate of the prompt's tokens that errs high (no tokenizer at run time).

    Run on every governed request (the budget reservation): the usual message, a dict
    with a string content, is read inline (``_text_chars``'s first case)."""
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
    count = 0
    messages = body.get("messages")
    if isinstance(messages, list):
        count = len(messages)
        for message in messages:
            if isinstance(message, dict):
                content = message.get("content")
                chars += len(content) if type(content) is str else _text_chars(content)
                if message.get("tool_calls"):
                    chars += len(orjson.dumps(message["tool_calls"]))
    if body.get("tools"):
        chars += len(orjson.dumps(body["tools"]))
    if body.get("response_format"):
        chars += len(orjson.dumps(body["response_format"]))
    return chars // _CHARS_PER_TOKEN + 4 * count + 8


def estimate_answer_tokens(answer: JSON) -> int:
    """An estimate of a chat answer's output tokens (its texts and tool-call arguments),
    erring high like :func:`estimate_prompt_tokens`; for answers without a usage report."""
    chars = 0
    for choice in answer.get("choices") or ():
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict):
            chars += _text_chars(message.get("content"))
            if message.get("tool_calls"):
                chars += len(orjson.dumps(message["tool_calls"]))
    return chars // _CHARS_PER_TOKEN + (1 if chars else 0)


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
    if endpoint == "embeddings":
        output = 0
    else:  # output_bound, written out (every governed request makes a reservation)
        asked = body.get("max_completion_tokens") or body.get("max_tokens")
        output = (
            asked
            if isinstance(asked, int) and asked > 0
            else price.max_output_tokens or default_output
        )
        n = body.get("n")
        if n is not None and isinstance(n, int) and n > 1:
            output *= n
    # cost_nusd(price, prompt, output) written out (no cached or written tokens, chat
    # prices): no UsageCount to build on every governed request.
    return -(-(prompt * price.input + output * price.output) // 1000)


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
        if m.price is None and catalog.lookup(names).source == "default" and m.name not in out:
            out.append(m.name)
    return out
