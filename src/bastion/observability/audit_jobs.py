"""The audit trail's jobs: sealing days, retention, verification and export.

:class:`AuditMaintenance` runs in every gateway process, every
``maintenance_interval`` (and once soon after start); on PostgreSQL one replica
at a time does the work (an advisory lock), on SQLite it is idempotent. Each run:

1. seals every day that ended more than ``seal_after`` ago and has no digest yet:
   one row in ``audit_digests`` chained to the day before (and a log line with the
   digest, to keep outside the database);
2. once per UTC day, applies retention: bodies of days older than
   ``retention.bodies_days`` are dropped (their records stay, and verify), whole
   sealed days older than ``retention.records_days`` are deleted (their digests
   stay), and the run is itself recorded in the chain.

:func:`verify` walks every chain and every digest and names the first problem;
:func:`export` writes records with their hashes as JSON lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from bastion.observability.audit import AuditLog
from bastion.observability.audit_chain import (
    ZERO,
    ChainWalker,
    Hasher,
    Horizons,
    Verification,
    canonical,
    check_digests,
    day_of,
)
from bastion.observability.audit_settings import AuditConfig
from bastion.store import audit_store
from bastion.store.audit_store import AuditStore

log = logging.getLogger("bastion.audit")

_FIRST_RUN = 5.0  # seconds after start


class AuditMaintenance:
    def __init__(self, store: AuditStore, audit: AuditLog, config: AuditConfig) -> None:
        self._store = store
        self._audit = audit
        self._config = config
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="bastion-audit-maintenance")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        await asyncio.sleep(_FIRST_RUN)
        while True:
            try:
                await self.run_once()
            except Exception as exc:
                log.error("audit maintenance failed (%s: %s)", type(exc).__name__, exc)
            await asyncio.sleep(self._config.maintenance_interval)

    async def run_once(self, now: float | None = None) -> dict[str, Any]:
        """Seal the days due, apply retention when due; what was done."""
        now = time.time() if now is None else now
        done: dict[str, Any] = {"sealed": []}
        async with self._store.maintenance() as conn:
            if conn is None:
                return done  # another replica is at it
            hasher = self._audit.hasher
            for day in await audit_store.unsealed_days(conn, day_of(now - self._config.seal_after)):
                chains = canonical([list(c) for c in await audit_store.chain_heads(conn, day)])
                prev = await audit_store.last_digest(conn, day) or ZERO
                digest = hasher.digest(prev, day, chains)
                await audit_store.add_digest(conn, day, chains, prev, digest, now)
                log.info("audit digest %s %s", day, digest)
                done["sealed"].append(day)
            today = day_of(now)
            retention = self._config.retention
            if await audit_store.retention_ran(conn, today):
                return done
            event: dict[str, Any] = {"bodies_days": retention.bodies_days}
            if retention.bodies_days is not None:
                before = day_of(now - retention.bodies_days * 86_400)
                event["bodies_dropped_before"] = before
                event["bodies_dropped"] = await audit_store.drop_bodies(conn, before)
            event["records_days"] = retention.records_days
            if retention.records_days is not None:
                before = day_of(now - retention.records_days * 86_400)
                event["records_deleted_before"] = before
                event["records_deleted"] = await audit_store.delete_sealed(conn, before)
        # After the commit: the run goes into the chain like any record.
        self._audit.event("retention", event)
        await self._audit.flush()
        done["retention"] = event
        return done


async def verify(store: AuditStore, hasher: Hasher, now: float | None = None) -> Verification:
    """Walk every chain and every digest; the counts and the first problem found."""
    result = Verification()
    horizons = Horizons.of(await store.retention_records())
    walker = ChainWalker(hasher, horizons, result)
    async for page in store.walk():
        for row in page:
            if not walker.feed(row):
                return result
    today = day_of(time.time() if now is None else now)
    check_digests(hasher, await store.digests(), walker.heads, horizons, result, today)
    return result


def verification_report(result: Verification) -> dict[str, Any]:
    return {
        "ok": result.ok,
        "records": result.records,
        "chains": result.chains,
        "days": len(result.days),
        "sealed_days": result.sealed_days,
        "unsealed_past_days": result.unsealed_days,
        "problem": result.problem.describe() if result.problem is not None else None,
        "first_bad_record": (
            {
                "day": result.problem.day,
                "instance": result.problem.instance,
                "seq": result.problem.seq,
                "id": result.problem.id,
                "request_id": result.problem.request_id,
            }
            if result.problem is not None
            else None
        ),
    }


async def export(
    store: AuditStore, since: float | None = None, until: float | None = None
) -> AsyncIterator[bytes]:
    """Records as JSON lines, in chain order, with their hashes.

    ``record`` is the exact text that was hashed (check it with
    ``sha256(prev_hash + record) == hash``); ``body``, when kept, is JSON text
    whose SHA-256 is in the record's ``bodies.sha256``.
    """
    async for page in store.walk(since, until):
        yield b"".join(
            orjson.dumps(
                {
                    "id": row["id"],
                    "instance": row["instance"],
                    "day": row["day"],
                    "seq": row["seq"],
                    "at": row["at"],
                    "kind": row["kind"],
                    "request_id": row["request_id"],
                    "prev_hash": row["prev_hash"],
                    "hash": row["hash"],
                    "record": row["record"],
                    "body": row["body"],
                }
            )
            + b"\n"
            for row in page
        )
