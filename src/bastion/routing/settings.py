"""The ``routing:`` section of the config: per-group settings, breakers, retries, tiers, rules.

Only the schema and its cross-checks live here (pydantic, frozen); the router
turns them into plain objects once, at start-up. Per-deployment fields (weight,
region, price, context window, capabilities, quotas) sit on each ``models:``
entry in :mod:`bastion.config`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_FROZEN = ConfigDict(frozen=True, extra="forbid")

Strategy = Literal[
    "priority", "weighted", "least_latency", "least_busy", "lowest_cost", "usage_based"
]
STRATEGIES: tuple[Strategy, ...] = (
    "priority",
    "weighted",
    "least_latency",
    "least_busy",
    "lowest_cost",
    "usage_based",
)
Capability = Literal["tools", "vision", "json_schema"]
REGION_PATTERN = r"^[a-z0-9][a-z0-9\-]{0,62}$"
Region = Annotated[str, Field(pattern=REGION_PATTERN)]
Seconds = Annotated[float, Field(gt=0, le=86_400)]


class GroupConfig(BaseModel):
    """How one model group is served. Unset fields come from ``routing.defaults``."""

    model_config = _FROZEN
    strategy: Strategy = "priority"
    # Attempts beyond one per healthy deployment; these go back to deployments already
    # tried, after an exponential backoff with jitter (or the upstream's Retry-After).
    retries: int = Field(default=1, ge=0, le=10)
    fallbacks: tuple[str, ...] = ()  # groups tried, in order, once this one has failed
    context_window_fallbacks: tuple[str, ...] = ()  # when the prompt is too long for it
    content_policy_fallbacks: tuple[str, ...] = ()  # when its provider refuses the content
    # Overall time for an answer (a stream's first byte), attempts and waits included.
    deadline: Seconds | None = None


class BreakerConfig(BaseModel):
    """The circuit breaker of every deployment."""

    model_config = _FROZEN
    window: Seconds = 30.0  # failures are counted over this many seconds
    min_requests: int = Field(default=10, ge=1, le=1_000_000)  # before the rate is judged
    failure_rate: float = Field(default=0.5, gt=0, le=1)
    consecutive_failures: int = Field(default=5, ge=1, le=1_000_000)
    cooldown: Seconds = 15.0  # open this long, then one probe request (half-open)
    # A provider's 429 cools only that deployment, for its Retry-After up to this cap.
    rate_limit_cooldown: Seconds = 5.0  # when the 429 has no Retry-After
    max_rate_limit_cooldown: Seconds = 60.0


class RetryConfig(BaseModel):
    model_config = _FROZEN
    backoff_base: Annotated[float, Field(ge=0, le=60)] = 0.2  # seconds; doubled each round
    backoff_max: Annotated[float, Field(ge=0, le=600)] = 5.0
    # A Retry-After longer than this is not waited for (other deployments, or the error).
    max_retry_after: Annotated[float, Field(ge=0, le=3600)] = 10.0


class LatencyConfig(BaseModel):
    model_config = _FROZEN
    smoothing: float = Field(default=0.3, gt=0, le=1)  # weight of the newest sample (EWMA)
    # A deployment not measured for this long gets one request, so a slow one that has
    # recovered is noticed (least_latency sends nothing else to it).
    probe_interval: Seconds = 10.0


class ComplexityTierConfig(BaseModel):
    model_config = _FROZEN
    model: str = Field(min_length=1)  # a model group
    max_score: float | None = Field(default=None, ge=0, le=1)  # None: any score


class ComplexityConfig(BaseModel):
    """A model name that picks, per prompt, the cheapest tier able to answer it."""

    model_config = _FROZEN
    tiers: tuple[ComplexityTierConfig, ...] = Field(min_length=1, max_length=16)

    @field_validator("tiers")
    @classmethod
    def _ascending(
        cls, tiers: tuple[ComplexityTierConfig, ...]
    ) -> tuple[ComplexityTierConfig, ...]:
        bounds = [t.max_score for t in tiers[:-1]]
        if any(b is None for b in bounds):
            raise ValueError("only the last tier may omit max_score")
        if any(a >= b for a, b in itertools.pairwise(bounds)):  # type: ignore[operator]
            raise ValueError("tiers go from the cheapest up: max_score must increase")
        return tiers


class RuleMatchConfig(BaseModel):
    """Conditions on request metadata; all given ones must hold. Values may use ``*``."""

    model_config = _FROZEN
    model: str | None = None  # the model name the client asked for
    org: str | None = None
    team: str | None = None
    user: str | None = None
    app: str | None = None  # the key's application
    key: str | None = None  # the key's name
    tag: str | None = None  # one of the request's x-bastion-tags
    headers: dict[str, str] = Field(default_factory=dict)  # request header name: value

    @field_validator("headers")
    @classmethod
    def _lower(cls, headers: dict[str, str]) -> dict[str, str]:
        return {name.lower(): value for name, value in headers.items()}


class RuleConfig(BaseModel):
    """When ``match`` holds: serve ``model`` instead, with ``strategy``, inside ``regions``."""

    model_config = _FROZEN
    match: RuleMatchConfig = RuleMatchConfig()
    model: str | None = None
    strategy: Strategy | None = None
    regions: tuple[Region, ...] | None = None

    @model_validator(mode="after")
    def _does_something(self) -> RuleConfig:
        if self.model is None and self.strategy is None and self.regions is None:
            raise ValueError("a rule needs at least one of 'model', 'strategy' or 'regions'")
        return self


class RoutingConfig(BaseModel):
    """``routing:`` (see docs/routing.md)."""

    model_config = _FROZEN
    defaults: GroupConfig = GroupConfig()
    groups: dict[str, GroupConfig] = Field(default_factory=dict)
    breaker: BreakerConfig = BreakerConfig()
    retry: RetryConfig = RetryConfig()
    latency: LatencyConfig = LatencyConfig()
    complexity: dict[str, ComplexityConfig] = Field(default_factory=dict)
    rules: tuple[RuleConfig, ...] = ()

    def group(self, name: str) -> GroupConfig:
        """The settings of group ``name``: its own fields over ``defaults``."""
        own = self.groups.get(name)
        if own is None:
            return self.defaults
        return self.defaults.model_copy(update={k: getattr(own, k) for k in own.model_fields_set})


def routing_problems(
    routing: RoutingConfig, groups: Iterable[str], providers: Mapping[str, object]
) -> list[str]:
    """References in ``routing`` that name no model group, with their config paths."""
    known = set(groups)
    problems: list[str] = []

    def group(name: str) -> bool:
        provider, sep, model = name.partition("/")
        return name in known or (bool(sep and model) and provider in providers)

    def check(path: str, name: str, tiers: bool = False) -> None:
        if not (group(name) or (tiers and name in routing.complexity)):
            problems.append(f"{path}: {name!r} is not a model name (a models: entry)")

    for name in routing.groups:
        if name not in known:
            problems.append(f"routing.groups.{name}: no models: entry has this name")
    for name, settings in routing.groups.items():
        for field in ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks"):
            for i, fallback in enumerate(getattr(settings, field)):
                if fallback == name:
                    problems.append(
                        f"routing.groups.{name}.{field}[{i}]: a group cannot fall back to itself"
                    )
                else:
                    check(f"routing.groups.{name}.{field}[{i}]", fallback)
    for field in ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks"):
        for i, fallback in enumerate(getattr(routing.defaults, field)):
            check(f"routing.defaults.{field}[{i}]", fallback)
    for name, complexity in routing.complexity.items():
        if name in known:
            problems.append(f"routing.complexity.{name}: a models: entry has this name already")
        for i, tier in enumerate(complexity.tiers):
            if tier.model not in known:
                problems.append(
                    f"routing.complexity.{name}.tiers[{i}].model: {tier.model!r} is not a model group"
                )
    for i, rule in enumerate(routing.rules):
        if rule.model is not None:
            check(f"routing.rules[{i}].model", rule.model, tiers=True)
    return problems
