"""Conditional routing: rules on request metadata that pick a group, a strategy or regions.

A rule matches on the model asked for, the key's org, team, user, application and name,
a request tag (``x-bastion-tags: batch, nightly``) and request headers; values may use
``*`` wildcards. The first matching rule applies; with no rules configured nothing here
runs at all.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bastion.routing.settings import RuleConfig, Strategy

if TYPE_CHECKING:
    from bastion.pipeline import RequestContext

TAGS_HEADER = b"x-bastion-tags"
STRATEGY_HEADER = b"x-bastion-strategy"


def _pattern(value: str | None) -> re.Pattern[str] | None:
    return None if value is None else re.compile(fnmatch.translate(value))


@dataclass(frozen=True, slots=True)
class Rule:
    index: int
    model: re.Pattern[str] | None
    principal: tuple[tuple[str, re.Pattern[str]], ...]  # (Principal attribute, pattern)
    tag: re.Pattern[str] | None
    headers: tuple[tuple[bytes, re.Pattern[str]], ...]
    target: str | None
    strategy: Strategy | None
    regions: frozenset[str] | None

    @classmethod
    def from_config(cls, index: int, rule: RuleConfig) -> Rule:
        m = rule.match
        principal = tuple(
            (attribute, pattern)
            for attribute, value in (
                ("org_id", m.org),
                ("team_id", m.team),
                ("user_id", m.user),
                ("app", m.app),
                ("name", m.key),
            )
            if (pattern := _pattern(value)) is not None
        )
        headers = tuple(
            (name.encode("latin-1"), re.compile(fnmatch.translate(value)))
            for name, value in m.headers.items()
        )
        return cls(
            index,
            _pattern(m.model),
            principal,
            _pattern(m.tag),
            headers,
            rule.model,
            rule.strategy,
            frozenset(rule.regions) if rule.regions is not None else None,
        )

    def matches(self, ctx: RequestContext, tags: tuple[str, ...]) -> bool:
        if self.model is not None and not self.model.match(ctx.model):
            return False
        if self.principal:
            who = ctx.principal
            for attribute, pattern in self.principal:
                value = getattr(who, attribute, None) if who is not None else None
                if not isinstance(value, str) or not pattern.match(value):
                    return False
        if self.tag is not None and not any(self.tag.match(t) for t in tags):
            return False
        for name, pattern in self.headers:
            value = header_value(ctx, name)
            if value is None or not pattern.match(value):
                return False
        return True


def header_value(ctx: RequestContext, name: bytes) -> str | None:
    for key, value in ctx.request_headers:
        if key == name:
            return value.decode("latin-1")
    return None


def request_tags(ctx: RequestContext) -> tuple[str, ...]:
    value = header_value(ctx, TAGS_HEADER)
    if not value:
        return ()
    return tuple(t.strip() for t in value.split(",") if t.strip())


def first_match(rules: tuple[Rule, ...], ctx: RequestContext) -> Rule | None:
    tags = request_tags(ctx)
    for rule in rules:
        if rule.matches(ctx, tags):
            return rule
    return None
