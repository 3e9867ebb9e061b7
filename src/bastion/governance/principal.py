"""Who is calling: the principal a key resolves to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["admin", "viewer", "user"]


@dataclass(frozen=True, slots=True)
class Principal:
    """The identity behind a request's key.

    ``kind`` says where the key came from: the master key, a static key from the
    config, or (later) a virtual key from the store. The org/team/user/app ids
    let policies, budgets and the ledger attribute the request.
    """

    id: str
    name: str
    kind: Literal["master", "static", "virtual"]
    role: Role = "user"
    org_id: str | None = None
    team_id: str | None = None
    user_id: str | None = None
    app: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"
