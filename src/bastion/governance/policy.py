"""Policies: what a key may use and how much, set at org, team, user, app and key level.

A :class:`PolicySpec` is what an admin writes (validated here, stored as JSON).
The policies along a key's chain resolve into one :class:`EffectivePolicy`,
computed when the cache loads, never per request. The strictest wins: a model
must be allowed at every level that lists models, the smallest ``max_tokens``
applies, and every level's rate limits and budget are enforced against that
level's own counter (a team's 100 requests per minute count all its keys).
Guardrails are the one additive field: the guardrail policies every level names
all apply (a team's redaction is not undone by a key that names none).
"""

from __future__ import annotations

import calendar
import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from bastion.accounting.pricing import NANO_PER_USD
from bastion.observability.audit_settings import BodyMode, lowest_body_mode
from bastion.store.counters import GateCheck, WindowCheck

ScopeKind = Literal["org", "team", "user", "app", "key"]
SCOPE_ORDER: tuple[ScopeKind, ...] = ("org", "team", "user", "app", "key")
Period = Literal["daily", "weekly", "monthly", "total"]
EndpointName = Literal["chat", "embeddings"]
RegionName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9\-]{0,62}$")]
ModelPattern = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^\S+$")]
GuardrailName = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^\S+$")]

MAX_BUDGET_USD = 1_000_000.0  # larger is a typo, and past exact integers in Redis's Lua


class BudgetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    amount_usd: float = Field(gt=0, le=MAX_BUDGET_USD)
    period: Period = "monthly"


class PolicySpec(BaseModel):
    """One level's policy; every field optional (absent: this level does not restrict it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    models: list[ModelPattern] | None = Field(
        default=None, max_length=1000, description="allowed model names; '*' wildcards"
    )
    endpoints: list[EndpointName] | None = None
    max_tokens: int | None = Field(default=None, ge=1, le=10_000_000)
    rpm: int | None = Field(default=None, ge=1, le=10_000_000, description="requests per minute")
    tpm: int | None = Field(default=None, ge=1, le=10_000_000_000, description="tokens per minute")
    max_concurrent: int | None = Field(default=None, ge=1, le=100_000)
    budget: BudgetSpec | None = None
    body_logging: BodyMode | None = Field(
        default=None,
        description="audit bodies: off, metadata or on; the lowest along the chain wins",
    )
    regions: list[RegionName] | None = Field(
        default=None,
        max_length=50,
        description="data residency: only deployments in these regions ('eu' allows 'eu-west')",
    )
    guardrails: list[GuardrailName] | None = Field(
        default=None,
        max_length=50,
        description=(
            "guardrail policies (names under guardrails.policies in the config) applied to "
            "this level's requests; additive: every level's list applies"
        ),
    )

    @property
    def is_empty(self) -> bool:
        return not self.model_dump(exclude_none=True)


EMPTY = PolicySpec()


@dataclass(frozen=True, slots=True)
class ScopeLimits:
    """The counted limits of one level of the chain."""

    kind: ScopeKind
    id: str
    rpm: int | None
    tpm: int | None
    max_concurrent: int | None
    budget_nusd: int | None
    period: Period

    def counter(self, name: str) -> str:
        return f"{name}:{self.kind}:{self.id}"


@dataclass(frozen=True, slots=True)
class EffectivePolicy:
    model_lists: tuple[tuple[str, ...], ...]
    model_rules: tuple[re.Pattern[str], ...]
    endpoints: frozenset[str] | None
    max_tokens: int | None
    scopes: tuple[ScopeLimits, ...]  # only levels with a counted limit
    # The counter checks of every request, built once (budgets depend on the period).
    windows: tuple[WindowCheck, ...] = ()
    window_scopes: tuple[ScopeLimits, ...] = ()
    gates: tuple[GateCheck, ...] = ()
    gate_scopes: tuple[ScopeLimits, ...] = ()
    budget_scopes: tuple[ScopeLimits, ...] = ()
    body_logging: BodyMode | None = None  # None: no level says (the audit's default applies)
    regions: tuple[frozenset[str], ...] = ()  # each level's allowed regions; all must allow
    guardrails: tuple[str, ...] = ()  # every level's guardrail policies, org first, each once
    # Settlement's share of the counters, and the rate-limit headers' windows, built once.
    token_windows: tuple[str, ...] = ()  # tpm counters: tokens added when usage is known
    gate_keys: tuple[str, ...] = ()
    request_windows: tuple[int, ...] = ()  # indices into windows: requests per minute
    token_window_indices: tuple[int, ...] = ()  # and tokens per minute

    def allows_model(self, model: str) -> bool:
        return all(rule.fullmatch(model) for rule in self.model_rules)

    def allows_endpoint(self, endpoint: str) -> bool:
        return self.endpoints is None or endpoint in self.endpoints

    def _min(self, name: str) -> int | None:
        values: list[int] = [v for s in self.scopes if (v := getattr(s, name)) is not None]
        return min(values) if values else None

    @property
    def rpm(self) -> int | None:
        return self._min("rpm")

    @property
    def tpm(self) -> int | None:
        return self._min("tpm")

    @property
    def max_concurrent(self) -> int | None:
        return self._min("max_concurrent")


def resolve(chain: Sequence[tuple[ScopeKind, str, PolicySpec]]) -> EffectivePolicy:
    """Merge the policies from the org down to the key; the strictest wins."""
    model_lists: list[tuple[str, ...]] = []
    endpoints: frozenset[str] | None = None
    max_tokens: int | None = None
    bodies: BodyMode | None = None
    regions: list[frozenset[str]] = []
    guardrails: dict[str, None] = {}
    scopes: list[ScopeLimits] = []
    for kind, id, spec in chain:
        if spec.models is not None:
            model_lists.append(tuple(spec.models))
        if spec.endpoints is not None:
            allowed = frozenset(spec.endpoints)
            endpoints = allowed if endpoints is None else endpoints & allowed
        if spec.max_tokens is not None:
            max_tokens = spec.max_tokens if max_tokens is None else min(max_tokens, spec.max_tokens)
        if spec.body_logging is not None:
            bodies = lowest_body_mode(bodies, spec.body_logging)
        if spec.regions is not None:
            regions.append(frozenset(spec.regions))
        if spec.guardrails:
            guardrails.update(dict.fromkeys(spec.guardrails))
        budget = spec.budget
        if spec.rpm or spec.tpm or spec.max_concurrent or budget:
            scopes.append(
                ScopeLimits(
                    kind,
                    id,
                    spec.rpm,
                    spec.tpm,
                    spec.max_concurrent,
                    round(budget.amount_usd * NANO_PER_USD) if budget else None,
                    budget.period if budget else "total",
                )
            )
    windows: list[WindowCheck] = []
    window_scopes: list[ScopeLimits] = []
    gates: list[GateCheck] = []
    gate_scopes: list[ScopeLimits] = []
    for scope in scopes:
        if scope.rpm:
            windows.append(WindowCheck(scope.counter("rpm"), scope.rpm, 1))
            window_scopes.append(scope)
        if scope.tpm:
            windows.append(WindowCheck(scope.counter("tpm"), scope.tpm, 0))
            window_scopes.append(scope)
        if scope.max_concurrent:
            gates.append(GateCheck(scope.counter("inflight"), scope.max_concurrent))
            gate_scopes.append(scope)
    return EffectivePolicy(
        tuple(model_lists),
        tuple(_compile(patterns) for patterns in model_lists),
        endpoints,
        max_tokens,
        tuple(scopes),
        tuple(windows),
        tuple(window_scopes),
        tuple(gates),
        tuple(gate_scopes),
        tuple(s for s in scopes if s.budget_nusd is not None),
        bodies,
        tuple(regions),
        tuple(guardrails),
        tuple(w.key for w in windows if w.add == 0),
        tuple(g.key for g in gates),
        tuple(i for i, w in enumerate(windows) if w.add),
        tuple(i for i, w in enumerate(windows) if not w.add),
    )


def _compile(patterns: Sequence[str]) -> re.Pattern[str]:
    if not patterns:
        return re.compile(r"(?!)")  # an empty list allows nothing
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


# --- budget periods (UTC) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PeriodWindow:
    id: str  # part of the counter's name: a new period is a new counter
    start: float | None  # None: since the beginning
    end: float | None  # None: never resets


def period_window(period: Period, now: float) -> PeriodWindow:
    if period == "total":
        return PeriodWindow("total", None, None)
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        start, end = day, day + timedelta(days=1)
        label = "d" + start.strftime("%Y-%m-%d")
    elif period == "weekly":
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
        label = "w" + start.strftime("%Y-%m-%d")
    else:
        start = day.replace(day=1)
        days = calendar.monthrange(start.year, start.month)[1]
        end = start + timedelta(days=days)
        label = "m" + start.strftime("%Y-%m")
    return PeriodWindow(label, start.timestamp(), end.timestamp())


def budget_counter(scope: ScopeLimits, window: PeriodWindow) -> str:
    return f"budget:{scope.kind}:{scope.id}:{window.id}"


def budget_ttl(window: PeriodWindow, now: float) -> int:
    """Keep a period's counter a day past its end (for reports); forever for total budgets."""
    return 0 if window.end is None else int(window.end - now) + 86_400


def budget_expiry(window: PeriodWindow) -> int:
    """When a period's counter may go (unix seconds; 0: never): ``budget_ttl`` from the epoch."""
    return 0 if window.end is None else int(window.end) + 86_400
