"""The ``guardrails:`` section of the configuration (see docs/guardrails.md).

```yaml
guardrails:
  policies:
    pii-safe:
      header: true                  # x-bastion-guardrails on answers
      rules:
        - detectors: [email, phone, iban]
          action: pseudonymise      # the upstream sees <EMAIL_1>; the caller the real value
          direction: input
        - detectors: [secrets]
          action: block
        - detectors: [injection]
          action: block
          threshold: 0.7
        - detectors: [violence, custom]
          deny_terms: [project falcon]
          action: redact
          direction: output
  attach:
    default: [pii-safe]             # every request
    models: {"gpt-4o*": [...]}      # public model names, * wildcards
    keys: {client: [...]}           # static key names, virtual key ids
    orgs: {...}                     # also teams, users, apps: by id
```
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bastion.guardrails.content import CATEGORIES
from bastion.guardrails.pii import PII_KINDS
from bastion.guardrails.secrets import SECRET_KINDS

GROUPS: dict[str, frozenset[str]] = {
    "pii": PII_KINDS,
    "secrets": SECRET_KINDS,
    "injection": frozenset({"injection"}),
    "content": frozenset(CATEGORIES) | {"custom"},
}
KNOWN_DETECTORS = frozenset(GROUPS) | frozenset().union(*GROUPS.values())
Source = Literal["system", "user", "assistant", "tool"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


def group_of(kind: str) -> str:
    """The detector family of a kind: ``email`` -> ``pii``."""
    for group, kinds in GROUPS.items():
        if kind in kinds:
            return group
    return "webhook" if kind == "webhook" else "content"  # else: a custom rule's label


def expand(detectors: tuple[str, ...]) -> frozenset[str]:
    """Detector names (families or kinds) to the kinds they cover."""
    kinds: set[str] = set()
    for name in detectors:
        kinds |= GROUPS.get(name, {name})
    return frozenset(kinds)


class RuleConfig(BaseModel):
    """Which detectors, what to do with what they find, and in which direction."""

    model_config = _FROZEN
    detectors: tuple[str, ...] = Field(min_length=1)
    action: Literal["block", "redact", "pseudonymise", "record"] = "block"
    direction: Literal["input", "output", "both"] = "both"
    threshold: float = Field(default=0.7, gt=0, le=1)  # prompt injection score
    deny_terms: tuple[str, ...] = ()
    deny_regexes: tuple[str, ...] = ()
    # The kind the deny terms and regexes report as (verdicts, [LABEL] in redactions);
    # give rules with different actions different labels.
    label: str = Field(default="custom", pattern=r"^[a-z][a-z0-9_]{0,39}$")

    @field_validator("detectors")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [d for d in value if d not in KNOWN_DETECTORS]
        if unknown:
            raise ValueError(
                f"unknown detector(s) {', '.join(map(repr, unknown))}; known: "
                + ", ".join(sorted(GROUPS))
                + " or a kind of one of them (docs/guardrails.md)"
            )
        return value

    @field_validator("deny_regexes")
    @classmethod
    def _compiles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for source in value:
            try:
                re.compile(source)
            except re.error as exc:
                raise ValueError(f"deny_regexes: {source!r} is not a valid regex: {exc}") from None
        return value

    @model_validator(mode="after")
    def _custom_needs_terms(self) -> RuleConfig:
        if (self.deny_terms or self.deny_regexes) and not {"custom", "content"} & set(
            self.detectors
        ):
            raise ValueError(
                "deny_terms and deny_regexes need 'custom' (or 'content') in detectors"
            )
        return self


class WebhookConfig(BaseModel):
    """An external checker asked about every request's input (see guardrails/webhook.py)."""

    model_config = _FROZEN
    url: str = Field(pattern=r"^https?://")
    timeout: float = Field(default=2.0, gt=0, le=60)
    on_error: Literal["allow", "block"] = "block"
    headers: dict[str, str] = Field(default_factory=dict)


class PolicyConfig(BaseModel):
    model_config = _FROZEN
    rules: tuple[RuleConfig, ...] = ()
    webhook: WebhookConfig | None = None
    header: bool = False  # tell the caller what was found, in x-bastion-guardrails
    block_status: Literal[400, 403] = 400
    # Whose text the injection rules read (system prompts and answers are the operator's).
    injection_sources: tuple[Source, ...] = ("user", "tool")


class AttachConfig(BaseModel):
    """Which policies apply to a request: the union of every match."""

    model_config = _FROZEN
    default: tuple[str, ...] = ()
    models: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    keys: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    orgs: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    teams: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    users: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    apps: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    def names(self) -> set[str]:
        out = set(self.default)
        for table in (self.models, self.keys, self.orgs, self.teams, self.users, self.apps):
            for names in table.values():
                out.update(names)
        return out


class GuardrailsConfig(BaseModel):
    model_config = _FROZEN
    policies: dict[str, PolicyConfig] = Field(default_factory=dict)
    attach: AttachConfig = AttachConfig()

    @model_validator(mode="after")
    def _attached_exist(self) -> GuardrailsConfig:
        missing = sorted(self.attach.names() - set(self.policies))
        if missing:
            raise ValueError(
                f"attach names unknown policies: {', '.join(missing)}"
                + (f" (defined: {', '.join(sorted(self.policies))})" if self.policies else "")
            )
        return self
