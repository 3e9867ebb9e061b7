"""Governance as one object the app owns: store, cache, counters, stages, background tasks.

``Governance(config, data_dir)`` picks the backends from the config (SQLite or
PostgreSQL; memory or Redis counters and notifications); ``start`` runs the
migrations, loads the cache and starts the background tasks (cache sync,
settler, spend ledger); ``stop`` flushes and closes them.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from bastion.accounting.ledger import SpendLedger
from bastion.accounting.pricing import PriceCatalog
from bastion.config import GatewayConfig
from bastion.governance.cache import CacheSync, GovernanceCache
from bastion.governance.policy import EMPTY, budget_counter, budget_ttl, period_window
from bastion.governance.principal import Principal
from bastion.governance.records import KeyInfo, LimitOut, iso
from bastion.governance.service import GovernanceService
from bastion.governance.stages import Authorize, Limits, Settle, Settler
from bastion.observability.audit_settings import BodyMode
from bastion.store.bus import Bus, NullBus, RedisBus
from bastion.store.counters import Counters, MemoryCounters
from bastion.store.database import Database, async_url
from bastion.store.governance_store import GovernanceStore
from bastion.store.ledger_store import LedgerStore
from bastion.store.redis_counters import RedisCounters, connect

log = logging.getLogger("bastion.governance")


class Governance:
    def __init__(self, config: GatewayConfig, data_dir: Path) -> None:
        settings = config.governance
        url = config.database_url.get_secret_value() if config.database_url else None
        self.database = Database(async_url(url, data_dir))
        self.store = GovernanceStore(self.database)
        self.cache = GovernanceCache()
        self.counters: Counters
        self.bus: Bus
        if config.redis_url is not None:
            client = connect(config.redis_url.get_secret_value())
            self.counters = RedisCounters(client, settings.redis_prefix, settings.lease_ttl)
            self.bus = RedisBus(client, settings.redis_prefix)
        else:
            self.counters = MemoryCounters()
            self.bus = NullBus()
        self.prices = PriceCatalog(config.pricing)
        self.sync = CacheSync(
            self.cache, self.store, self.bus, settings.reload_interval, self._seed_budgets
        )
        self.settler = Settler(self.counters)
        # The spend ledger lives here, beside the database it writes to; its finisher
        # is added in app.py after Settle (one row per request, not only governed ones).
        accounting = config.accounting
        if "spend_flush_interval" in settings.model_fields_set:  # the old setting wins
            accounting = accounting.model_copy(
                update={"flush_interval": settings.spend_flush_interval}
            )
        self.ledger = SpendLedger(LedgerStore(self.database), self.prices, accounting)
        self.service = GovernanceService(
            self.store, self.counters, self.sync.changed, config.guardrails.policies
        )
        self.authorize = Authorize(self.cache)
        self.limits = Limits(
            self.cache, self.counters, self.prices, settings.default_max_output_tokens, self.settler
        )
        self.settle = Settle(self.settler)
        self._seeded: set[str] = set()

    async def start(self) -> None:
        await self.database.upgrade()
        await self.sync.reload(force=True)
        self.sync.start()
        self.settler.start()
        self.ledger.start()

    async def stop(self) -> None:
        await self.sync.stop()
        await self.settler.stop()
        await self.ledger.stop()
        await self.counters.close()
        self.store.close()
        await self.database.close()

    async def drain(self) -> None:
        """Wait until every admitted request has finished, settled and been recorded."""
        await self.settler.drain()
        await self.ledger.flush()

    def body_logging(self, principal: Principal) -> BodyMode | None:
        """The audit body mode a key's policies set (the lowest along its chain), if any."""
        entry = self.cache.entry(principal.id) if principal.kind == "virtual" else None
        return entry.policy.body_logging if entry is not None else None

    async def _seed_budgets(self, cache: GovernanceCache) -> None:
        """Budget counters not seen yet start from the ledger's spend in their period.

        Counters that exist already (Redis, shared by replicas) are left as they are.
        """
        now = time.time()
        scopes = {s for entry in cache.entries() for s in entry.policy.scopes}
        for scope in scopes:
            if scope.budget_nusd is None:
                continue
            window = period_window(scope.period, now)
            counter = budget_counter(scope, window)
            if counter in self._seeded:
                continue
            spent = await self.store.spend(scope.kind, scope.id, window.start)
            await self.counters.seed_budget(counter, spent.cost_nusd, budget_ttl(window, now))
            self._seeded.add(counter)

    async def key_info(self, principal: Principal) -> KeyInfo:
        """What a caller may see of its own key: policy, limits and what is left of them."""
        entry = self.cache.entry(principal.id) if principal.kind == "virtual" else None
        if entry is None:
            return KeyInfo(
                id=principal.id,
                name=principal.name,
                kind=principal.kind,
                role=principal.role,
                prefix=None,
                org_id=principal.org_id,
                team_id=principal.team_id,
                user_id=principal.user_id,
                app_id=principal.app,
                expires_at=None,
                allowed_models=[],
                allowed_endpoints=None,
                max_tokens=None,
                guardrails=[],
                limits=[],
                budgets=[],
            )
        policy = entry.policy
        now = time.time()
        limits = []
        for scope in policy.scopes:
            if not (scope.rpm or scope.tpm or scope.max_concurrent):
                continue
            requests = (
                (await self.counters.window(scope.counter("rpm"), now))[0] if scope.rpm else None
            )
            tokens = (
                (await self.counters.window(scope.counter("tpm"), now))[0] if scope.tpm else None
            )
            limits.append(
                LimitOut(
                    scope=scope.kind,
                    scope_id=scope.id,
                    rpm=scope.rpm,
                    requests_last_minute=requests,
                    tpm=scope.tpm,
                    tokens_last_minute=tokens,
                    max_concurrent=scope.max_concurrent,
                )
            )
        chain = [(kind, id, self.cache.policy_of(kind, id) or EMPTY) for kind, id in entry.chain]
        return KeyInfo(
            id=principal.id,
            name=principal.name,
            kind=principal.kind,
            role=principal.role,
            prefix=entry.prefix,
            org_id=principal.org_id,
            team_id=principal.team_id,
            user_id=principal.user_id,
            app_id=principal.app,
            expires_at=iso(entry.expires_at),
            allowed_models=[list(models) for models in policy.model_lists],
            allowed_endpoints=sorted(policy.endpoints) if policy.endpoints is not None else None,
            max_tokens=policy.max_tokens,
            guardrails=list(policy.guardrails),
            limits=limits,
            budgets=await self.service.budgets(chain),
        )
