"""The ``audit:`` section of the config: the tamper-evident audit trail (docs/accounting.md).

Body logging has three modes, from least to most kept:

- ``off``: the record says who, what, when and the outcome; nothing of the bodies.
- ``metadata``: also the bodies' shape (message count, roles, tools, sizes), no content.
- ``on``: also the request and response bodies, redacted, up to ``max_body_bytes`` each.

A policy sets ``body_logging`` at org, team, user, app or key level; the lowest mode
set along a key's chain wins, and ``bodies`` applies when no level sets one. A
``models`` entry then caps it for a model (a deployment that must not keep bodies).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

_FROZEN = ConfigDict(frozen=True, extra="forbid")

BodyMode = Literal["off", "metadata", "on"]
BODY_MODES: tuple[BodyMode, ...] = ("off", "metadata", "on")  # least kept first
_RANK = {mode: i for i, mode in enumerate(BODY_MODES)}


def lowest_body_mode(a: BodyMode | None, b: BodyMode) -> BodyMode:
    """The mode that keeps less (``a`` None: ``b``)."""
    return b if a is None or _RANK[b] < _RANK[a] else a


class RetentionConfig(BaseModel):
    model_config = _FROZEN
    # Days after which request and response bodies are dropped (the metadata stays).
    bodies_days: int | None = Field(default=30, ge=1, le=36_500)
    # Days after which records go altogether (whole sealed days; the daily digests stay).
    records_days: int | None = Field(default=365, ge=1, le=36_500)


class AuditConfig(BaseModel):
    model_config = _FROZEN
    enabled: bool = True
    bodies: BodyMode = "metadata"
    # A lower body mode for some models: public model name or deployment label, '*' wildcards.
    models: dict[str, BodyMode] = Field(default_factory=dict)
    max_body_bytes: int = Field(default=65_536, ge=1_024, le=16 * 1024 * 1024)
    # How often queued records are written; a crash loses at most about this much.
    flush_interval: float = Field(default=1.0, gt=0, le=60)
    max_pending: int = Field(default=200_000, ge=1_000, le=10_000_000)
    # Names this gateway's chains (default: the host name); the process id and a random
    # suffix are added, so every process writes its own chain.
    instance: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.\-]{1,40}$")
    # With a key, record hashes are HMAC-SHA256: someone who can write the database but
    # does not hold the key cannot forge a consistent chain. Verify needs the same key.
    key: SecretStr | None = None
    retention: RetentionConfig = RetentionConfig()
    # How often the maintenance job (daily digests, retention) looks for work.
    maintenance_interval: float = Field(default=3600.0, ge=1, le=86_400)
    # A day is sealed by its digest this long after it ended (late writes land first).
    seal_after: float = Field(default=900.0, ge=0, le=86_400)
