"""Governance operations: what the admin API and the CLI call.

Every operation takes the acting principal and checks it: only admins manage
anything; an admin key of an organisation manages only that organisation
(rows of another organisation are "not found"); organisations themselves are
managed by global admins (the master key, admin static keys, admin virtual
keys with no organisation). After a write, ``on_change`` runs: in a gateway it
reloads the cache and notifies the other replicas.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any, Literal, cast

from bastion.accounting.pricing import usd
from bastion.errors import GatewayError, bad_request
from bastion.governance.auth import key_digest
from bastion.governance.policy import PolicySpec, ScopeKind, budget_counter, period_window, resolve
from bastion.governance.principal import Principal
from bastion.governance.records import (
    BudgetOut,
    EntityIn,
    EntityKind,
    EntityOut,
    EntityPatch,
    KeyCreated,
    KeyIn,
    KeyOut,
    KeyPatch,
    RotateIn,
    SpendOut,
    iso,
    timestamp,
)
from bastion.store.counters import Counters
from bastion.store.governance_store import GovernanceStore, Row, StoreConflict

KEY_PREFIX = "bst-"
_ID_PREFIX = {"org": "org_", "team": "team_", "user": "user_", "app": "app_", "key": "key_"}
_FIELDS: dict[str, tuple[str, ...]] = {
    "org": (),
    "team": ("org_id",),
    "user": ("org_id", "team_id", "email"),
    "app": ("org_id",),
}


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _forbidden(message: str) -> GatewayError:
    return GatewayError(403, message, code="permission_denied")


def _not_found(kind: str, id: str) -> GatewayError:
    return GatewayError(404, f"No {kind} '{id}'.", code="not_found")


class GovernanceService:
    def __init__(
        self,
        store: GovernanceStore,
        counters: Counters | None = None,
        on_change: Callable[[], Awaitable[None]] | None = None,
        guardrails: Collection[str] | None = None,
    ) -> None:
        self.store = store
        self.counters = counters
        self._on_change = on_change
        # The guardrail policies the config defines (what a policy's ``guardrails`` may
        # name); None: not checked.
        self._guardrails = frozenset(guardrails) if guardrails is not None else None

    # --- who may do what --------------------------------------------------------------

    @staticmethod
    def require_admin(actor: Principal) -> str | None:
        """The organisation the actor is confined to (None: all of them), or 403."""
        if not actor.is_admin:
            raise _forbidden("This key is not allowed to use the admin API.")
        return actor.org_id if actor.kind == "virtual" else None

    async def _scoped(self, actor: Principal, kind: str, id: str) -> Row:
        org = self.require_admin(actor)
        row = await self.store.get(kind, id)
        if row is None:
            raise _not_found(kind, id)
        row_org = row["id"] if kind == "org" else row.get("org_id")
        if org is not None and row_org != org:
            raise _not_found(kind, id)
        return row

    async def _parent(self, kind: str, id: str | None, org: str | None) -> Row | None:
        """A referenced team/user/app/org: it must exist, in the same organisation."""
        if id is None:
            return None
        row = await self.store.get(kind, id)
        row_org = None if row is None else (row["id"] if kind == "org" else row.get("org_id"))
        if row is None or (org is not None and row_org != org):
            raise bad_request(f"There is no {kind} '{id}'.", param=f"{kind}_id")
        return row

    def _check_policy(self, policy: PolicySpec | None) -> None:
        """A policy names only guardrail policies the config defines (else 400)."""
        if policy is None or not policy.guardrails or self._guardrails is None:
            return
        unknown = [name for name in policy.guardrails if name not in self._guardrails]
        if unknown:
            names = ", ".join(f"'{name}'" for name in unknown)
            raise bad_request(
                f"'policy.guardrails' names no guardrail policy of this gateway's config: {names}.",
                param="policy.guardrails",
            )

    async def _changed(self) -> None:
        if self._on_change is not None:
            await self._on_change()

    # --- organisations, teams, users, applications -------------------------------------

    async def create(self, actor: Principal, kind: EntityKind, data: EntityIn) -> EntityOut:
        org = self.require_admin(actor)
        if kind == "org" and org is not None:
            raise _forbidden("Only a global admin can create organisations.")
        self._check_policy(data.policy)
        org_id = data.org_id
        if kind != "org":
            if org is not None and org_id not in (None, org):
                raise _forbidden("You can manage only your own organisation.")
            org_id = org_id or org
            await self._parent("org", org_id, None)
        if kind == "user":
            team = await self._parent("team", data.team_id, org_id)
            if team is not None and org_id is None:
                org_id = team.get("org_id")
        row: Row = {
            "id": _ID_PREFIX[kind] + secrets.token_hex(8),
            "name": data.name,
            "policy": data.policy.model_dump(exclude_none=True),
            "meta": data.metadata,
            "created_at": time.time(),
        }
        for field in _FIELDS[kind]:
            row[field] = org_id if field == "org_id" else getattr(data, field)
        await self._write(self.store.insert(kind, row))
        return entity_out(kind, row)

    async def get(self, actor: Principal, kind: EntityKind, id: str) -> EntityOut:
        return entity_out(kind, await self._scoped(actor, kind, id))

    async def list_entities(
        self, actor: Principal, kind: EntityKind, org_id: str | None = None
    ) -> list[EntityOut]:
        org = self.require_admin(actor)
        if org is not None:
            org_id = org
        where = {"id" if kind == "org" else "org_id": org_id} if org_id else {}
        return [entity_out(kind, row) for row in await self.store.rows(kind, where)]

    async def update(
        self, actor: Principal, kind: EntityKind, id: str, patch: EntityPatch
    ) -> EntityOut:
        row = await self._scoped(actor, kind, id)
        if kind == "org" and self.require_admin(actor) is not None:
            # An organisation's policy is the ceiling its own admins work under.
            raise _forbidden("Only a global admin can change an organisation.")
        self._check_policy(patch.policy)
        fields: Row = {}
        if patch.name is not None:
            fields["name"] = patch.name
        if patch.policy is not None:
            fields["policy"] = patch.policy.model_dump(exclude_none=True)
        if patch.metadata is not None:
            fields["meta"] = patch.metadata
        if kind == "user":
            if patch.team_id is not None:
                await self._parent("team", patch.team_id, row.get("org_id"))
                fields["team_id"] = patch.team_id
            if patch.email is not None:
                fields["email"] = patch.email
        if fields:
            await self._write(self.store.update(kind, id, fields))
            row.update(fields)
        return entity_out(kind, row)

    async def delete(self, actor: Principal, kind: EntityKind, id: str) -> None:
        await self._scoped(actor, kind, id)
        if kind == "org" and self.require_admin(actor) is not None:
            raise _forbidden("Only a global admin can delete an organisation.")
        await self._write(self.store.delete(kind, id))

    # --- keys -------------------------------------------------------------------------

    async def create_key(self, actor: Principal, data: KeyIn) -> KeyCreated:
        org = self.require_admin(actor)
        if org is not None and data.org_id not in (None, org):
            raise _forbidden("You can manage only your own organisation.")
        self._check_policy(data.policy)
        org_id = data.org_id or org
        parents = {
            kind: await self._parent(kind, getattr(data, f"{kind}_id"), org_id)
            for kind in ("team", "user", "app")
        }
        orgs = {org_id} | {p.get("org_id") for p in parents.values() if p is not None}
        orgs.discard(None)
        if len(orgs) > 1:
            raise bad_request(
                "The key's team, user and application belong to different organisations."
            )
        org_id = next(iter(orgs), None)
        await self._parent("org", org_id, None)
        if data.role == "admin" and actor.kind == "virtual" and org_id != actor.org_id:
            raise _forbidden("You can manage only your own organisation.")
        now = time.time()
        expires_at = timestamp(data.expires_at) if data.expires_at is not None else None
        if data.expires_in_seconds is not None:
            expires_at = now + data.expires_in_seconds
        if expires_at is not None and expires_at <= now:
            raise bad_request("'expires_at' must be in the future.", param="expires_at")
        key = new_key()
        row: Row = {
            "id": _ID_PREFIX["key"] + secrets.token_hex(8),
            "name": data.name,
            "digest": key_digest(key),
            "prefix": key[:12],
            "previous_digest": None,
            "previous_expires_at": None,
            "org_id": org_id,
            "team_id": data.team_id,
            "user_id": data.user_id,
            "app_id": data.app_id,
            "role": data.role,
            "policy": data.policy.model_dump(exclude_none=True),
            "meta": data.metadata,
            "created_at": now,
            "expires_at": expires_at,
            "revoked_at": None,
            "rotated_at": None,
        }
        await self._write(self.store.insert("key", row))
        return KeyCreated(**key_out(row).model_dump(), key=key)

    async def get_key(self, actor: Principal, id: str) -> KeyOut:
        return key_out(await self._scoped(actor, "key", id))

    async def list_keys(self, actor: Principal, **filters: str | None) -> list[KeyOut]:
        org = self.require_admin(actor)
        if org is not None:
            filters["org_id"] = org
        return [key_out(row) for row in await self.store.rows("key", filters)]

    async def update_key(self, actor: Principal, id: str, patch: KeyPatch) -> KeyOut:
        row = await self._scoped(actor, "key", id)
        self._check_policy(patch.policy)
        fields: Row = {}
        if patch.name is not None:
            fields["name"] = patch.name
        if patch.policy is not None:
            fields["policy"] = patch.policy.model_dump(exclude_none=True)
        if patch.metadata is not None:
            fields["meta"] = patch.metadata
        if patch.expires_at is not None:
            fields["expires_at"] = timestamp(patch.expires_at)
        if fields:
            await self._write(self.store.update("key", id, fields))
            row.update(fields)
        return key_out(row)

    async def revoke_key(self, actor: Principal, id: str) -> KeyOut:
        row = await self._scoped(actor, "key", id)
        if row["revoked_at"] is None:
            fields = {"revoked_at": time.time(), "previous_digest": None}
            await self._write(self.store.update("key", id, fields))
            row.update(fields)
        return key_out(row)

    async def rotate_key(self, actor: Principal, id: str, data: RotateIn) -> KeyCreated:
        row = await self._scoped(actor, "key", id)
        if row["revoked_at"] is not None:
            raise bad_request("A revoked key cannot be rotated.", code="key_revoked")
        now = time.time()
        key = new_key()
        fields: Row = {
            "digest": key_digest(key),
            "prefix": key[:12],
            "previous_digest": row["digest"] if data.grace_seconds > 0 else None,
            "previous_expires_at": now + data.grace_seconds if data.grace_seconds > 0 else None,
            "rotated_at": now,
        }
        await self._write(self.store.update("key", id, fields))
        row.update(fields)
        return KeyCreated(**key_out(row).model_dump(), key=key)

    async def _write(self, operation: Awaitable[Any]) -> None:
        try:
            await operation
        except StoreConflict as conflict:
            raise GatewayError(409, f"Conflict: {conflict}.", code="conflict") from None
        await self._changed()

    # --- spend --------------------------------------------------------------------------

    async def spend(self, actor: Principal, kind: ScopeKind, id: str) -> SpendOut:
        row = await self._scoped(actor, kind, id)
        total = await self.store.spend(kind, id)
        policy = PolicySpec.model_validate(row.get("policy") or {})
        budgets = await self.budgets([(kind, id, policy)])
        return SpendOut(
            scope=kind,
            scope_id=id,
            total_spent_usd=usd(total.cost_nusd),
            requests=total.requests,
            prompt_tokens=total.prompt_tokens,
            completion_tokens=total.completion_tokens,
            budget=budgets[0] if budgets else None,
        )

    async def budgets(self, chain: list[tuple[ScopeKind, str, PolicySpec]]) -> list[BudgetOut]:
        """Each budget along ``chain``: live counters when this process has them, else the ledger."""
        now = time.time()
        scopes = [s for s in resolve(chain).scopes if s.budget_nusd is not None]
        windows = [period_window(s.period, now) for s in scopes]
        if self.counters is not None:
            keys = [budget_counter(s, w) for s, w in zip(scopes, windows, strict=True)]
            states = [(b.spent, b.reserved) for b in await self.counters.budgets(keys)]
        else:
            states = [
                ((await self.store.spend(s.kind, s.id, w.start)).cost_nusd, 0)
                for s, w in zip(scopes, windows, strict=True)
            ]
        out = []
        for scope, window, (spent, reserved) in zip(scopes, windows, states, strict=True):
            limit = cast(int, scope.budget_nusd)
            out.append(
                BudgetOut(
                    scope=scope.kind,
                    scope_id=scope.id,
                    period=scope.period,
                    amount_usd=usd(limit),
                    spent_usd=usd(spent),
                    reserved_usd=usd(reserved),
                    remaining_usd=usd(max(limit - spent - reserved, 0)),
                    resets_at=iso(window.end),
                )
            )
        return out


def entity_out(kind: EntityKind, row: Row) -> EntityOut:
    return EntityOut(
        id=row["id"],
        kind=kind,
        name=row["name"],
        org_id=row.get("org_id"),
        team_id=row.get("team_id"),
        email=row.get("email"),
        policy=row.get("policy") or {},
        metadata=row.get("meta") or {},
        created_at=iso(row["created_at"]) or "",
    )


def key_out(row: Row) -> KeyOut:
    now = time.time()
    status: Literal["active", "revoked", "expired"] = (
        "revoked"
        if row.get("revoked_at") is not None
        else "expired"
        if row.get("expires_at") is not None and row["expires_at"] <= now
        else "active"
    )
    previous = row.get("previous_expires_at")
    return KeyOut(
        id=row["id"],
        name=row["name"],
        prefix=row["prefix"],
        status=status,
        role=row["role"],
        org_id=row.get("org_id"),
        team_id=row.get("team_id"),
        user_id=row.get("user_id"),
        app_id=row.get("app_id"),
        policy=row.get("policy") or {},
        metadata=row.get("meta") or {},
        created_at=iso(row["created_at"]) or "",
        expires_at=iso(row.get("expires_at")),
        revoked_at=iso(row.get("revoked_at")),
        rotated_at=iso(row.get("rotated_at")),
        previous_key_valid_until=iso(previous) if previous and previous > now else None,
    )
