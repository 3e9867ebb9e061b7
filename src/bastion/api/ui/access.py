"""Who may use the hub, and what they may see of it.

The master key, admin keys and viewer keys sign in. An admin key of an
organisation, and a viewer key of a team or an organisation, see only that
scope; a global admin or viewer sees everything. Only admins manage keys,
teams and budgets (through the admin API, as the CLI does).
"""

from __future__ import annotations

from dataclasses import dataclass

from bastion.errors import GatewayError
from bastion.governance.principal import Principal
from bastion.observability.facts import RequestFacts
from bastion.store.dashboard import Scope


@dataclass(frozen=True, slots=True)
class Viewer:
    principal: Principal
    scope: Scope

    @property
    def can_manage(self) -> bool:
        return self.principal.is_admin

    @property
    def is_global(self) -> bool:
        return self.scope.org_id is None and self.scope.team_id is None

    def sees(self, f: RequestFacts) -> bool:
        s = self.scope
        return (s.org_id is None or f.org_id == s.org_id) and (
            s.team_id is None or f.team_id == s.team_id
        )

    def sees_row(self, org_id: str | None, team_id: str | None) -> bool:
        s = self.scope
        return (s.org_id is None or org_id == s.org_id) and (
            s.team_id is None or team_id == s.team_id
        )


def viewer_of(principal: Principal) -> Viewer:
    """The hub's view for ``principal``, or 403 for a key without the admin or viewer role."""
    if principal.role == "admin":
        org = principal.org_id if principal.kind == "virtual" else None
        return Viewer(principal, Scope(org_id=org))
    if principal.role == "viewer":
        if principal.kind != "virtual":
            return Viewer(principal, Scope())
        if principal.team_id is not None:
            return Viewer(principal, Scope(team_id=principal.team_id))
        if principal.org_id is not None:
            return Viewer(principal, Scope(org_id=principal.org_id))
        return Viewer(principal, Scope())
    raise GatewayError(
        403,
        "This key may not use the monitoring hub: it needs the admin or viewer role.",
        code="permission_denied",
    )
