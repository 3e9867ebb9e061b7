"""The ``accounting:`` section of the config: the spend ledger (docs/accounting.md).

Only the schema lives here; prices stay under ``pricing:`` (and a ``models:``
entry's own ``price:``).
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

_FROZEN = ConfigDict(frozen=True, extra="forbid")

RecorderMode = Literal["process", "inline"]


def default_recorder() -> RecorderMode:
    """A recorder process of its own when the machine has a core for it."""
    return "process" if (os.cpu_count() or 1) > 1 else "inline"


class AccountingConfig(BaseModel):
    model_config = _FROZEN
    # One spend-ledger row per authenticated request. Off: no rows (budgets still hold).
    ledger: bool = True
    # How often queued rows are written; a crash loses at most about this much.
    flush_interval: float = Field(default=1.0, gt=0, le=60)
    # Rows kept in memory while the database is unreachable; past it the oldest are dropped.
    max_pending: int = Field(default=500_000, ge=1_000, le=50_000_000)
    # Request header with the caller's tags (comma-separated, "name" or "name:value").
    tags_header: str = Field(default="x-bastion-tags", pattern=r"^[a-z0-9\-]{1,64}$")
    max_tags: int = Field(default=16, ge=0, le=64)
    # Where ledger rows and audit records are built and written: "process", a recorder
    # process per gateway process (off its core); "inline", the gateway's event loop.
    # Default: process when the machine has more than one CPU.
    recorder: RecorderMode = Field(default_factory=default_recorder)
