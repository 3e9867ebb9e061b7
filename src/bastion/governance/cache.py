"""The in-memory copy of keys and policies that the request path reads.

Built from a store snapshot at start-up and rebuilt whole when the store's
revision changes: immediately on a Redis notification, and by polling the
revision every ``reload_interval`` seconds otherwise (and as a safety net).
A rebuild swaps dicts in one assignment, so a request sees the old or the new
state, never half of each. Each key's policy chain is resolved at build time:
authentication and authorisation are dict lookups.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bastion.errors import GatewayError
from bastion.governance.policy import (
    EMPTY,
    EffectivePolicy,
    PolicySpec,
    ScopeKind,
    resolve,
)
from bastion.governance.principal import Principal
from bastion.store.bus import Bus
from bastion.store.governance_store import GovernanceStore, Row, Snapshot

log = logging.getLogger("bastion.governance")


@dataclass(frozen=True, slots=True)
class KeyEntry:
    principal: Principal
    policy: EffectivePolicy
    chain: tuple[tuple[ScopeKind, str], ...]  # (kind, id) from the org down to the key
    prefix: str
    expires_at: float | None
    revoked: bool


@dataclass(frozen=True, slots=True)
class _State:
    revision: int
    by_digest: dict[str, tuple[KeyEntry, float | None]]  # digest -> (entry, this digest's expiry)
    by_id: dict[str, KeyEntry]
    policies: dict[tuple[str, str], PolicySpec]  # (kind, id) -> the level's own policy
    orgs: dict[str, str | None]  # (kind:id) -> org id, for scoping admin reads


def _unauthorized(message: str) -> GatewayError:
    return GatewayError(401, message, code="invalid_api_key", error_type="authentication_error")


class GovernanceCache:
    def __init__(self, state: _State | None = None) -> None:
        self._state = state or _State(-1, {}, {}, {}, {})

    @property
    def revision(self) -> int:
        return self._state.revision

    # --- the request path -------------------------------------------------------------

    def find(self, digest: str) -> Principal | None:
        """The principal of a virtual key's digest; None when unknown; 401 when revoked/expired."""
        found = self._state.by_digest.get(digest)
        if found is None:
            return None
        entry, expires_at = found
        if entry.revoked:
            raise _unauthorized("This API key has been revoked.")
        if expires_at is not None and expires_at <= time.time():
            raise _unauthorized("This API key has expired.")
        return entry.principal

    def entry(self, key_id: str) -> KeyEntry | None:
        return self._state.by_id.get(key_id)

    # --- reports ----------------------------------------------------------------------

    def policy_of(self, kind: str, id: str) -> PolicySpec | None:
        return self._state.policies.get((kind, id))

    def org_of(self, kind: str, id: str) -> str | None:
        return self._state.orgs.get(f"{kind}:{id}")

    def entries(self) -> list[KeyEntry]:
        return list(self._state.by_id.values())

    # --- building ---------------------------------------------------------------------

    def build(self, snapshot: Snapshot) -> None:
        self._state = build_state(snapshot)

    def take(self, other: GovernanceCache) -> None:
        """Adopt ``other``'s state in one assignment."""
        self._state = other._state


def _policy(row: Row) -> PolicySpec:
    data = row.get("policy") or {}
    try:
        return PolicySpec.model_validate(data)
    except ValueError:
        log.error("ignoring an invalid stored policy on %s", row.get("id"))
        return EMPTY


def build_state(snapshot: Snapshot) -> _State:
    policies: dict[tuple[str, str], PolicySpec] = {}
    orgs: dict[str, str | None] = {}
    teams: dict[str, Row] = {}
    users: dict[str, Row] = {}
    for kind, rows in (
        ("org", snapshot.orgs),
        ("team", snapshot.teams),
        ("user", snapshot.users),
        ("app", snapshot.apps),
    ):
        for row in rows:
            policies[kind, row["id"]] = _policy(row)
            orgs[f"{kind}:{row['id']}"] = row["id"] if kind == "org" else row.get("org_id")
    teams = {row["id"]: row for row in snapshot.teams}
    users = {row["id"]: row for row in snapshot.users}

    by_digest: dict[str, tuple[KeyEntry, float | None]] = {}
    by_id: dict[str, KeyEntry] = {}
    for row in snapshot.keys:
        user = users.get(row["user_id"]) if row.get("user_id") else None
        team_id = row.get("team_id") or (user.get("team_id") if user else None)
        team = teams.get(team_id) if team_id else None
        org_id = (
            row.get("org_id")
            or (team.get("org_id") if team else None)
            or (user.get("org_id") if user else None)
        )
        ids: dict[ScopeKind, str | None] = {
            "org": org_id,
            "team": team_id,
            "user": row.get("user_id"),
            "app": row.get("app_id"),
        }
        chain: list[tuple[ScopeKind, str, PolicySpec]] = [
            (kind, id, policies.get((kind, id), EMPTY)) for kind, id in ids.items() if id
        ]
        key_policy = _policy(row)
        policies["key", row["id"]] = key_policy
        orgs[f"key:{row['id']}"] = org_id
        chain.append(("key", row["id"], key_policy))
        principal = Principal(
            id=row["id"],
            name=row["name"],
            kind="virtual",
            role=row["role"],
            org_id=org_id,
            team_id=team_id,
            user_id=row.get("user_id"),
            app=row.get("app_id"),
        )
        entry = KeyEntry(
            principal,
            resolve(chain),
            tuple((kind, id) for kind, id, _ in chain),
            row["prefix"],
            row.get("expires_at"),
            row.get("revoked_at") is not None,
        )
        by_id[row["id"]] = entry
        by_digest[row["digest"]] = (entry, row.get("expires_at"))
        if row.get("previous_digest") and not entry.revoked:
            grace = row.get("previous_expires_at")
            if row.get("expires_at") is not None:
                grace = min(grace or row["expires_at"], row["expires_at"])
            by_digest[row["previous_digest"]] = (entry, grace)
    return _State(snapshot.revision, by_digest, by_id, policies, orgs)


OnReload = Callable[[GovernanceCache], Awaitable[None]]


class CacheSync:
    """Keeps a :class:`GovernanceCache` in step with the store, in every process."""

    def __init__(
        self,
        cache: GovernanceCache,
        store: GovernanceStore,
        bus: Bus,
        interval: float,
        on_reload: OnReload | None = None,
    ) -> None:
        self.cache = cache
        self.store = store
        self.bus = bus
        self.interval = interval
        self._on_reload = on_reload
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[Any]] = []

    async def reload(self, force: bool = False) -> None:
        async with self._lock:
            if not force and await self.store.revision() == self.cache.revision:
                return
            fresh = GovernanceCache(build_state(await self.store.snapshot()))
            if self._on_reload is not None:
                await self._on_reload(fresh)  # e.g. seed budget counters before keys go live
            self.cache.take(fresh)

    async def changed(self) -> None:
        """After a write: reload here at once, then tell the other processes."""
        await self.reload()
        try:
            await self.bus.publish()
        except Exception as exc:  # they will see it at their next poll
            log.warning("could not publish a governance change (%s)", type(exc).__name__)

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._poll(), name="bastion-governance-poll"),
            asyncio.create_task(self.bus.listen(self._notified), name="bastion-governance-bus"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _notified(self) -> None:
        await self._safe_reload()

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self._safe_reload()

    async def _safe_reload(self) -> None:
        try:
            await self.reload()
        except Exception as exc:
            log.warning("could not reload keys and policies (%s)", type(exc).__name__)
