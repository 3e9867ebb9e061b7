"""Every budget the gateway enforces, with what is spent and left: for the hub and the metrics."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from bastion.api.ui.access import Viewer
from bastion.governance.policy import EMPTY, PolicySpec, ScopeKind, period_window
from bastion.governance.records import BudgetOut

if TYPE_CHECKING:
    from bastion.governance.runtime import Governance


async def all_budgets(governance: Governance) -> list[BudgetOut]:
    """Each budget of an org, team, user, app or key that some live key is governed by."""
    cache = governance.cache
    seen: dict[tuple[str, str], None] = {}
    for entry in cache.entries():
        for scope in entry.policy.budget_scopes:
            seen[scope.kind, scope.id] = None
    chain: list[tuple[ScopeKind, str, PolicySpec]] = [
        (cast(ScopeKind, kind), id, cache.policy_of(kind, id) or EMPTY) for kind, id in seen
    ]
    return await governance.service.budgets(chain)


async def budget_rows(governance: Governance) -> list[tuple[str, str, str, float, float]]:
    """(scope, scope id, period, limit, remaining): the metrics' budget gauges."""
    return [
        (b.scope, b.scope_id, b.period, b.amount_usd, b.remaining_usd)
        for b in await all_budgets(governance)
    ]


async def visible_budgets(
    governance: Governance, viewer: Viewer, now: float
) -> list[dict[str, Any]]:
    """The budgets ``viewer`` may see, with burn rate and projected exhaustion.

    A viewer confined to a team sees the budgets along its keys' chains below the
    organisation (the team's, its users', apps' and keys'); one confined to an
    organisation, everything in it.
    """
    cache = governance.cache
    allowed: set[tuple[str, str]] | None = None
    if not viewer.is_global:
        allowed = set()
        for entry in cache.entries():
            p = entry.principal
            if viewer.sees_row(p.org_id, p.team_id):
                levels = (
                    entry.chain
                    if viewer.scope.team_id is None
                    else [c for c in entry.chain if c[0] != "org"]
                )
                allowed.update(levels)
    out = []
    for b in await all_budgets(governance):
        if allowed is not None and (b.scope, b.scope_id) not in allowed:
            continue
        start = period_window(b.period, now).start
        elapsed = now - start if start is not None else None
        burn = b.spent_usd / elapsed * 86_400 if elapsed else None  # USD per day
        exhaustion = None
        if burn and b.remaining_usd > 0:
            exhaustion = now + b.remaining_usd / burn * 86_400
        ends = datetime.fromisoformat(b.resets_at).timestamp() if b.resets_at else None
        out.append(
            {
                **b.model_dump(),
                "burn_usd_per_day": burn,
                "projected_exhaustion": exhaustion
                if exhaustion is None or ends is None or exhaustion < ends
                else None,
                "used": (b.spent_usd + b.reserved_usd) / b.amount_usd if b.amount_usd else None,
            }
        )
    out.sort(key=lambda b: -(b["used"] or 0))
    return out
