"""The shapes the admin API, the CLI and ``/v1/key/info`` take and give (pydantic).

Inputs forbid unknown fields and bound every number, so a negative or absurd
budget or limit is refused with 400 before anything is written. Outputs never
carry a key's value or digest, except :class:`KeyCreated`, once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from bastion.governance.policy import EMPTY, Period, PolicySpec

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_\-]+$")]
Role = Literal["user", "admin", "viewer"]  # viewer: reads the monitoring hub
EntityKind = Literal["org", "team", "user", "app"]

_MAX_METADATA_BYTES = 16_384


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_metadata(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None and len(orjson.dumps(value)) > _MAX_METADATA_BYTES:
        raise ValueError(f"metadata must be at most {_MAX_METADATA_BYTES} bytes of JSON")
    return value


class EntityIn(_In):
    """An organisation, team, user or application to create."""

    name: Name
    org_id: Id | None = None
    team_id: Id | None = Field(default=None, description="users only")
    email: Annotated[str, StringConstraints(max_length=320)] | None = Field(
        default=None, description="users only"
    )
    policy: PolicySpec = EMPTY
    metadata: dict[str, Any] = Field(default_factory=dict)

    _metadata = field_validator("metadata")(_check_metadata)


class EntityPatch(_In):
    name: Name | None = None
    team_id: Id | None = None
    email: Annotated[str, StringConstraints(max_length=320)] | None = None
    policy: PolicySpec | None = None
    metadata: dict[str, Any] | None = None

    _metadata = field_validator("metadata")(_check_metadata)


class KeyIn(_In):
    """A virtual key to create; it belongs to a user and/or team and/or application."""

    name: Name
    org_id: Id | None = None
    team_id: Id | None = None
    user_id: Id | None = None
    app_id: Id | None = None
    role: Role = "user"
    policy: PolicySpec = EMPTY
    metadata: dict[str, Any] = Field(default_factory=dict)
    expires_at: datetime | None = None
    expires_in_seconds: int | None = Field(default=None, ge=60, le=10 * 366 * 86_400)

    _metadata = field_validator("metadata")(_check_metadata)


class KeyPatch(_In):
    name: Name | None = None
    policy: PolicySpec | None = None
    metadata: dict[str, Any] | None = None
    expires_at: datetime | None = None

    _metadata = field_validator("metadata")(_check_metadata)


class RotateIn(_In):
    grace_seconds: int = Field(
        default=3600, ge=0, le=30 * 86_400, description="how long the old key keeps working"
    )


class EntityOut(BaseModel):
    id: str
    kind: EntityKind
    name: str
    org_id: str | None = None
    team_id: str | None = None
    email: str | None = None
    policy: dict[str, Any]
    metadata: dict[str, Any]
    created_at: str


class KeyOut(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="the key's first characters, to recognise it by")
    status: Literal["active", "revoked", "expired"]
    role: Role
    org_id: str | None
    team_id: str | None
    user_id: str | None
    app_id: str | None
    policy: dict[str, Any]
    metadata: dict[str, Any]
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    rotated_at: str | None
    previous_key_valid_until: str | None = None


class KeyCreated(KeyOut):
    key: str = Field(description="the key itself: shown this once, never again")


class BudgetOut(BaseModel):
    scope: str
    scope_id: str
    period: Period
    amount_usd: float
    spent_usd: float
    reserved_usd: float
    remaining_usd: float
    resets_at: str | None


class SpendOut(BaseModel):
    scope: str
    scope_id: str
    total_spent_usd: float = Field(description="everything recorded in the ledger")
    requests: int
    prompt_tokens: int
    completion_tokens: int
    budget: BudgetOut | None


class LimitOut(BaseModel):
    scope: str
    scope_id: str
    rpm: int | None
    requests_last_minute: int | None
    tpm: int | None
    tokens_last_minute: int | None
    max_concurrent: int | None


class KeyInfo(BaseModel):
    id: str
    name: str
    kind: str
    role: str
    prefix: str | None
    org_id: str | None
    team_id: str | None
    user_id: str | None
    app_id: str | None
    expires_at: str | None
    allowed_models: list[list[str]] = Field(
        description="a model must match a pattern of every list; empty: any model"
    )
    allowed_endpoints: list[str] | None
    max_tokens: int | None
    guardrails: list[str] = Field(
        description="guardrail policies this key's governance policies name (every level's)"
    )
    limits: list[LimitOut]
    budgets: list[BudgetOut]


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def timestamp(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
