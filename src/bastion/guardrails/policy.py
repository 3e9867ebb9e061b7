"""Policies compiled into scanners, and which policies apply to a request.

A request's policies are the union of every attachment that matches it
(default, model, key, org, team, user, app, and names a governance policy
lists). They merge into one :class:`ActivePolicy`, compiled once per distinct
set of names and cached: per kind and direction the strictest action wins
(block > redact > pseudonymise > record), the lowest injection threshold,
every deny term and regex.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bastion.guardrails.base import ACTION_RANK, Action, Detector, Finding
from bastion.guardrails.config import (
    GuardrailsConfig,
    JudgeConfig,
    PolicyConfig,
    PresidioConfig,
    WebhookConfig,
    expand,
)
from bastion.guardrails.content import CATEGORIES, ContentDetector
from bastion.guardrails.injection import InjectionDetector
from bastion.guardrails.pii import PII_KINDS, PIIDetector
from bastion.guardrails.presidio_adapter import (
    Analyzer,
    EngineKey,
    PresidioRun,
    build_engines,
    merge_runs,
)
from bastion.guardrails.secrets import SECRET_KINDS, SecretsDetector

if TYPE_CHECKING:
    from bastion.governance.principal import Principal


class Scanner:
    """A fixed set of detectors run over one text at a time."""

    __slots__ = ("_detectors", "_injection", "_injection_sources", "kinds", "max_span")

    def __init__(
        self, detectors: Sequence[Detector], injection_sources: Iterable[str] = ("user", "tool")
    ) -> None:
        self._detectors = tuple(d for d in detectors if not isinstance(d, InjectionDetector))
        self._injection = next((d for d in detectors if isinstance(d, InjectionDetector)), None)
        self._injection_sources = frozenset(injection_sources)
        self.kinds = frozenset().union(*(d.kinds for d in detectors))
        # Injection is scored over whole texts; streams hold back only for span detectors.
        self.max_span = max((d.max_span for d in self._detectors), default=0)

    def scan(self, text: str, source: str = "user") -> list[Finding]:
        """Every finding, overlapping ones included (see :func:`non_overlapping`)."""
        lower = text.lower()  # base.lowered(), inlined: this runs for every text
        low = lower if len(lower) == len(text) else None
        out: list[Finding] = []
        for detector in self._detectors:
            detector.find(text, low, out, source)
        if self._injection is not None and source in self._injection_sources:
            self._injection.find(text, low, out, source)
        return out


def non_overlapping(findings: list[Finding]) -> list[Finding]:
    """The findings to rewrite, by position: of overlapping ones the longest wins."""
    if len(findings) < 2:
        return findings
    ranked = sorted(findings, key=lambda f: (f.start - f.end, f.start))
    kept: list[Finding] = []
    for f in ranked:
        if all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    kept.sort(key=lambda f: f.start)
    return kept


@dataclass(frozen=True, slots=True)
class DirectionPolicy:
    """What one direction (input or output) scans for and does."""

    scanner: Scanner
    actions: Mapping[str, Action]  # kind -> action
    policies: Mapping[str, str]  # kind -> the policy that set the action (for messages)

    @property
    def max_span(self) -> int:
        return self.scanner.max_span


@dataclass(frozen=True, slots=True)
class ActivePolicy:
    names: tuple[str, ...]
    input: DirectionPolicy | None
    output: DirectionPolicy | None
    header: bool
    block_status: int
    webhooks: tuple[tuple[str, WebhookConfig], ...] = ()  # (policy name, checker)
    judges: tuple[tuple[str, JudgeConfig], ...] = ()  # (policy name, judge)
    presidio: tuple[PresidioRun, ...] = ()  # engines to run over the input, off the loop
    families: Mapping[str, str] = field(default_factory=dict)  # kinds outside GROUPS

    @property
    def external(self) -> bool:
        """Whether a webhook or a judge is asked about the input."""
        return bool(self.webhooks or self.judges)


@dataclass
class _Merged:
    actions: dict[str, Action] = field(default_factory=dict)
    policies: dict[str, str] = field(default_factory=dict)
    threshold: float = 1.0
    terms: list[tuple[str, str]] = field(default_factory=list)  # (label, term)
    regexes: list[tuple[str, str]] = field(default_factory=list)
    sources: set[str] = field(default_factory=set)


def compile_policy(
    names: tuple[str, ...],
    specs: Mapping[str, PolicyConfig],
    engines: Mapping[EngineKey, Analyzer] | None = None,
) -> ActivePolicy:
    """Merge the named policies into one (the strictest action per kind and direction).

    ``engines``: the Presidio engines built at start-up, for policies with ``presidio:``."""
    merged = {"input": _Merged(), "output": _Merged()}
    header, status = False, 400
    blocks: list[PresidioConfig] = []
    families: dict[str, str] = {}
    for name in names:
        spec = specs[name]
        header = header or spec.header
        status = max(status, spec.block_status)
        if spec.presidio is not None:
            block = spec.presidio
            blocks.append(block)
            m = merged["input"]
            for entity in block.entities:
                kind = entity.lower()
                families[kind] = "presidio"
                current = m.actions.get(kind)
                if current is None or ACTION_RANK[block.action] > ACTION_RANK[current]:
                    m.actions[kind] = block.action
                    m.policies[kind] = name
        for rule in spec.rules:
            directions = ("input", "output") if rule.direction == "both" else (rule.direction,)
            for direction in directions:
                m = merged[direction]
                kinds = expand(rule.detectors)
                if "custom" in kinds:
                    kinds = kinds - {"custom"}
                    if rule.deny_terms or rule.deny_regexes:
                        kinds = kinds | {rule.label}
                for kind in kinds:
                    current = m.actions.get(kind)
                    if current is None or ACTION_RANK[rule.action] > ACTION_RANK[current]:
                        m.actions[kind] = rule.action
                        m.policies[kind] = name
                if "injection" in kinds:
                    m.threshold = min(m.threshold, rule.threshold)
                m.terms.extend((rule.label, t) for t in rule.deny_terms)
                m.regexes.extend((rule.label, r) for r in rule.deny_regexes)
            if rule.direction != "output":
                merged["input"].sources.update(spec.injection_sources)
    return ActivePolicy(
        names,
        _direction(merged["input"], "input"),
        _direction(merged["output"], "output"),
        header,
        status,
        tuple((n, specs[n].webhook) for n in names if specs[n].webhook is not None),  # type: ignore[misc]
        tuple((n, specs[n].judge) for n in names if specs[n].judge is not None),  # type: ignore[misc]
        merge_runs(blocks, build_engines(blocks) if engines is None else engines) if blocks else (),
        families,
    )


def _direction(m: _Merged, direction: str) -> DirectionPolicy | None:
    if not m.actions:
        return None
    kinds = set(m.actions)
    detectors: list[Detector] = []
    if kinds & PII_KINDS:
        detectors.append(PIIDetector(kinds & PII_KINDS))
    if kinds & SECRET_KINDS:
        detectors.append(SecretsDetector(kinds & SECRET_KINDS))
    if "injection" in kinds:
        detectors.append(InjectionDetector(m.threshold))
    categories = [c for c in CATEGORIES if c in kinds]
    if categories or m.terms or m.regexes:
        detectors.append(ContentDetector(categories, tuple(m.terms), tuple(m.regexes)))
    sources = {"output"} if direction == "output" else (m.sources or {"user", "tool"})
    return DirectionPolicy(Scanner(detectors, sources), dict(m.actions), dict(m.policies))


PolicyNames = Callable[["Principal"], Sequence[str]]
_CACHE_LIMIT = 1024


class PolicyResolver:
    """Which policies apply to a request, from the config's ``attach`` (and ``extra``,
    a hook through which governance policies name guardrail policies)."""

    def __init__(self, config: GuardrailsConfig, extra: PolicyNames | None = None) -> None:
        self._config = config
        self._attach = config.attach
        self._extra = extra
        self._model_rules = tuple(
            (re.compile(fnmatch.translate(pattern)), names)
            for pattern, names in config.attach.models.items()
        )
        attach = config.attach
        # The principal's attributes looked up per request: only those of tables in use.
        self._tables = tuple(
            (table, attr)
            for table, attr in (
                (attach.keys, "name"),
                (attach.keys, "id"),
                (attach.orgs, "org_id"),
                (attach.teams, "team_id"),
                (attach.users, "user_id"),
                (attach.apps, "app"),
            )
            if table
        )
        # model -> (the default's and the model's names, their compiled policy): what most
        # requests resolve to, their principal adding nothing, in one look-up.
        self._by_model: dict[str, tuple[tuple[str, ...], ActivePolicy | None]] = {}
        self._compiled: dict[tuple[str, ...], ActivePolicy] = {}
        # Presidio engines (spaCy models) load once, here, at start-up.
        self._engines = build_engines(
            [p.presidio for p in config.policies.values() if p.presidio is not None]
        )

    @property
    def enabled(self) -> bool:
        return bool(self._config.policies)

    def judge_models(self) -> list[tuple[str, str]]:
        """(policy, model) of every judge, to check at start-up."""
        return [
            (name, p.judge.model)
            for name, p in self._config.policies.items()
            if p.judge is not None
        ]

    def names(self, model: str, principal: Principal | None) -> tuple[str, ...]:
        names = self._for_model(model)[0]
        if principal is not None:
            more = self._for_principal(principal)
            if more:
                return tuple(dict.fromkeys((*names, *more)))  # in order, each once
        return names

    def resolve(self, model: str, principal: Principal | None) -> ActivePolicy | None:
        names, policy = self._for_model(model)
        if principal is not None:
            more = self._for_principal(principal)
            if more:
                return self._policy(tuple(dict.fromkeys((*names, *more))))
        return policy

    def _for_model(self, model: str) -> tuple[tuple[str, ...], ActivePolicy | None]:
        entry = self._by_model.get(model)
        if entry is None:
            found = [*self._attach.default]
            found.extend(n for rule, names in self._model_rules if rule.match(model) for n in names)
            names = tuple(dict.fromkeys(found))
            entry = (names, self._policy(names))
            if len(self._by_model) < _CACHE_LIMIT:
                self._by_model[model] = entry
        return entry

    def _for_principal(self, principal: Principal) -> list[str]:
        """The names the principal's key, org, team, user and app (and ``extra``) add."""
        found: list[str] = []
        for table, attr in self._tables:
            key = getattr(principal, attr)
            if key is not None and key in table:
                found.extend(table[key])
        if self._extra is not None:
            extra = self._extra(principal)
            if extra:
                found.extend(n for n in extra if n in self._config.policies)
        return found

    def _policy(self, names: tuple[str, ...]) -> ActivePolicy | None:
        if not names:
            return None
        policy = self._compiled.get(names)
        if policy is None:
            policy = compile_policy(names, self._config.policies, self._engines)
            if len(self._compiled) < _CACHE_LIMIT:
                self._compiled[names] = policy
        return policy
