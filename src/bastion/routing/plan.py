"""The router's data: a model group as prepared at start-up, and one request's route plan."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from bastion.providers.base import JSON, Deployment, Endpoint
from bastion.routing.complexity import Choice, PromptFeatures, features
from bastion.routing.settings import GroupConfig, Strategy

_ENDPOINTS: tuple[Endpoint, ...] = ("chat", "embeddings")


@dataclass(frozen=True, slots=True)
class Group:
    """A model name's deployments (sorted by priority once) and its routing settings."""

    name: str
    deployments: tuple[Deployment, ...]
    by_endpoint: dict[str, tuple[Deployment, ...]]
    strategy: Strategy
    retries: int
    fallbacks: tuple[str, ...]
    context_fallbacks: tuple[str, ...]
    content_fallbacks: tuple[str, ...]
    deadline: float | None
    declares_fit: bool  # some deployment declares a context window or capabilities

    @classmethod
    def build(cls, name: str, deployments: Iterable[Deployment], settings: GroupConfig) -> Group:
        ordered = tuple(sorted(deployments, key=lambda d: d.priority))  # stable: config order
        return cls(
            name,
            ordered,
            {e: tuple(d for d in ordered if e in d.adapter.endpoints) for e in _ENDPOINTS},
            settings.strategy,
            settings.retries,
            # routing.defaults may name a group among every group's fallbacks: not its own.
            tuple(f for f in settings.fallbacks if f != name),
            tuple(f for f in settings.context_window_fallbacks if f != name),
            tuple(f for f in settings.content_policy_fallbacks if f != name),
            settings.deadline,
            any(d.context_window is not None or d.capabilities is not None for d in ordered),
        )


def in_regions(region: str | None, allowed: tuple[frozenset[str], ...]) -> bool:
    """``region`` is inside every allowed set; ``eu`` allows ``eu``, ``eu-west``, ``eu-west-1``."""
    if region is None:
        return False  # an untagged deployment could be anywhere
    for regions in allowed:
        if not any(region == r or region.startswith(r + "-") for r in regions):
            return False
    return True


class RoutePlan:
    """How one request is routed: the group, the overrides, and why (``ctx.route``)."""

    __slots__ = (
        "_features",
        "complexity",
        "empty",
        "fallbacks",
        "group",
        "regions",
        "rule",
        "strategy",
        "wire",
    )

    def __init__(self) -> None:
        self.group: Group = None  # type: ignore[assignment]  # set by the router at once
        self.strategy: Strategy | None = None  # a rule's or the x-bastion-strategy header's
        self.regions: tuple[frozenset[str], ...] = ()  # every set must allow the deployment
        self.fallbacks: tuple[str, ...] = ()
        self.complexity: Choice | None = None  # the tier chosen and the prompt's score
        self.rule: int | None = None  # the index of the routing rule applied
        self.empty: str | None = None  # why the first group had no candidate
        # The wire format every deployment tried must speak natively (None: any): set for
        # a request only that format can carry (e.g. an Anthropic server tool, a token count).
        self.wire: str | None = None
        self._features: PromptFeatures | None = None

    def features(self, body: JSON) -> PromptFeatures:
        if self._features is None:
            self._features = features(body)
        return self._features

    def fitting(self, found: tuple[Deployment, ...], body: JSON) -> tuple[Deployment, ...]:
        """The deployments with the capabilities and the context window this request needs."""
        f = self.features(body)
        needs = f.needs()
        return tuple(
            d
            for d in found
            if (d.capabilities is None or needs <= d.capabilities)
            and (d.context_window is None or f.tokens <= d.context_window)
        )

    def too_long(self, found: tuple[Deployment, ...], body: JSON) -> bool:
        """Every deployment declares a context window, and the prompt exceeds them all."""
        tokens = self.features(body).tokens
        return all(d.context_window is not None and tokens > d.context_window for d in found)

    def none(self, reason: str) -> tuple[Deployment, ...]:
        """No candidate in a group, for ``reason``; remembers the first group's."""
        if self.empty is None:
            self.empty = reason
        return ()

    def speaking(self, found: tuple[Deployment, ...]) -> tuple[Deployment, ...]:
        """The deployments whose upstream speaks ``wire`` natively."""
        wire = self.wire
        return tuple(d for d in found if getattr(d.adapter, "native_wire", None) == wire)

    def region_names(self) -> str:
        return " and ".join(", ".join(sorted(r)) for r in self.regions)

    def describe(self) -> dict[str, Any]:
        """What was decided, for logs and the ledger."""
        return {
            "group": self.group.name if self.group is not None else None,
            "strategy": self.strategy or (self.group.strategy if self.group else None),
            "rule": self.rule,
            "regions": [sorted(r) for r in self.regions] or None,
            "complexity": None
            if self.complexity is None
            else {"tier": self.complexity.group, "score": round(self.complexity.score, 3)},
        }


def refused(result: Any) -> bool:
    """A finished answer whose finish_reason is content_filter (the provider refused it)."""
    body = getattr(result, "body", None)
    if not isinstance(body, bytes) or b'"content_filter"' not in body:
        return False
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    choices = data.get("choices") if isinstance(data, dict) else None
    return isinstance(choices, list) and any(
        isinstance(c, dict) and c.get("finish_reason") == "content_filter" for c in choices
    )
