"""10,000 requests: 10,000 ledger rows and 10,000 audit records, none lost, none twice.

On SQLite, and on PostgreSQL while the writers' database connections are killed
again and again mid-run (``pg_terminate_backend``): what could not be written is
kept and written once the connection comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

import asyncpg
import pytest

from bastion.accounting.finished import batch_of
from bastion.observability.audit_chain import day_of
from bastion.store.audit_store import AuditStore
from bastion.store.ledger_store import LEDGER_COLUMNS, LedgerStore
from tests.accounting.helpers import InProcess, in_process, sqlite_url, verify_audit

AUDIT_COLUMNS = ("instance", "day", "seq", "at", "kind", "request_id", "record", "body", "prev_hash", "hash")  # fmt: skip

REQUESTS = 10_000
CONCURRENCY = 64
FAST = {"flush_interval": 0.2}


async def _drive(gw: InProcess) -> list[int]:
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> int:
        async with limit:
            reply = await gw.chat(f"request {i}", stream=i % 2 == 1)
            return reply.status

    return list(await asyncio.gather(*(one(i) for i in range(REQUESTS))))


async def _kill_connections(database: str, stop: asyncio.Event) -> int:
    """Terminate every other backend on ``database`` every 50 ms; how many were killed."""
    name = database.rsplit("/", 1)[1]
    killer = await asyncpg.connect(database)
    killed = 0
    try:
        while not stop.is_set():
            killed += int(
                await killer.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = $1 AND pid <> pg_backend_pid()",
                    name,
                )
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.05)
    finally:
        await killer.close()
    return killed


async def _check(gw: InProcess) -> None:
    ledger = await gw.rows(
        "SELECT count(*) AS n, count(DISTINCT request_id) AS ids, sum(completion_tokens) AS out "
        "FROM spend_ledger"
    )
    audit = await gw.rows(
        "SELECT count(*) AS n, count(DISTINCT request_id) AS ids FROM audit_log "
        "WHERE kind = 'request'"
    )
    words = sum(len(f"request {i}".split()) for i in range(REQUESTS))
    assert ledger == [{"n": REQUESTS, "ids": REQUESTS, "out": words}]
    assert audit == [{"n": REQUESTS, "ids": REQUESTS}]
    # The hub's rollups, written in the ledger's transactions, count each request once
    # at every grain and in every dimension the rows have (failed writes retried too).
    rollups = await gw.rows(
        "SELECT grain, dim, sum(requests) AS n, sum(completion_tokens) AS out FROM hub_rollup "
        "GROUP BY grain, dim ORDER BY grain, dim"
    )
    assert rollups == [
        {"grain": grain, "dim": dim, "n": REQUESTS, "out": words}
        for grain in (60, 3600, 86400)
        for dim in ("all", "key", "model", "provider")
    ]


async def _audit_records(gw: InProcess) -> int:
    """Every record in the trail: the requests' and, when the maintenance job ran (5 s
    after start), its retention record."""
    rows = await gw.rows("SELECT kind, count(*) AS n FROM audit_log GROUP BY kind")
    counts = {row["kind"]: row["n"] for row in rows}
    assert counts.pop("request") == REQUESTS
    assert set(counts) <= {"retention"} and counts.get("retention", 0) <= 1, counts
    return REQUESTS + counts.get("retention", 0)


async def test_sqlite(tmp_path: Path, recorder_mode: str) -> None:
    database = sqlite_url(tmp_path)
    started = time.monotonic()
    async with in_process(database, tmp_path, recorder_mode, accounting=FAST, audit=FAST) as gw:
        assert set(await _drive(gw)) == {200}
    # Shutdown wrote what was queued; nothing more to flush.
    await _check(gw)
    verified = await verify_audit(gw.database)
    assert verified["ok"] and verified["records"] == await _audit_records(gw), verified
    assert time.monotonic() - started < 60


async def test_postgresql_with_its_connections_killed_mid_run(
    pg_fresh: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, recorder_mode: str
) -> None:
    caplog.set_level(logging.WARNING)
    async with in_process(pg_fresh, tmp_path, recorder_mode, accounting=FAST, audit=FAST) as gw:
        stop = asyncio.Event()
        killer = asyncio.create_task(_kill_connections(pg_fresh, stop))
        statuses = await _drive(gw)
        await asyncio.sleep(0.5)  # a few more kills while the last batches are written
        stop.set()
        killed = await killer
        assert set(statuses) == {200}
        await gw.flush()  # the connection is back: everything queued is written
    assert killed > 0
    failed = [r.getMessage() for r in caplog.records if "could not write" in r.getMessage()]
    assert failed, "no write was interrupted: the test did not test anything"
    await _check(gw)
    verified = await verify_audit(gw.database)
    assert verified["ok"] and verified["records"] == await _audit_records(gw), verified


async def test_a_batch_whose_commit_reply_was_lost_lands_once(
    tmp_path: Path, recorder_mode: str
) -> None:
    """Re-sent after an error that came after the commit: no row, record or rollup twice."""
    async with in_process(sqlite_url(tmp_path), tmp_path, recorder_mode) as gw:
        assert gw.gateway.audit_jobs is not None
        await gw.gateway.audit_jobs.stop()  # its retention record is not part of this test
        for i in range(5):
            await gw.chat(f"request {i}")
        await gw.flush()
        rows = await gw.rows("SELECT * FROM spend_ledger ORDER BY id")
        records = await gw.rows("SELECT * FROM audit_log ORDER BY id")
        store = LedgerStore(gw.gateway.governance.database)
        await store.insert([tuple(r[c] for c in LEDGER_COLUMNS) for r in rows], again=True)
        audit = AuditStore(gw.gateway.governance.database)
        await audit.insert([tuple(r[c] for c in AUDIT_COLUMNS) for r in records])
        after = await gw.rows("SELECT count(*) AS n FROM spend_ledger")
        audited = await gw.rows("SELECT count(*) AS n FROM audit_log")
        rollup = await gw.rows(
            "SELECT sum(requests) AS n FROM hub_rollup WHERE dim = 'all' AND grain = 86400"
        )
    assert after == audited == rollup == [{"n": 5}]
    assert (await verify_audit(gw.database))["ok"]


async def test_a_batch_the_recorder_sends_again_after_a_lost_commit_reply_lands_once(
    tmp_path: Path, recorder_mode: str
) -> None:
    """The recorder's own resend (``again``): the rows, records and rollups a lost commit
    had written are left out, and the chain goes on from its head in the database."""
    slow = {"flush_interval": 60}  # only the test's flushes write
    async with in_process(
        sqlite_url(tmp_path), tmp_path, recorder_mode, accounting=slow, audit=slow
    ) as gw:
        recorder, audit = gw.gateway.recorder, gw.gateway.audit
        assert recorder is not None and audit is not None
        for i in range(5):
            await gw.chat(f"request {i}")
        batch = batch_of(recorder.writer._pending)  # what the writer sends
        await gw.flush()
        # The commit landed, its reply did not: the same batch comes again, marked so.
        assert await recorder.sink.write(batch, True, day_of(audit.clock())) == {}
        for i in range(5, 8):
            await gw.chat(f"request {i}")
        await gw.flush()
        ledger = await gw.rows(
            "SELECT count(DISTINCT request_id) AS ids, count(*) AS n FROM spend_ledger"
        )
        records = await gw.rows(
            "SELECT count(DISTINCT request_id) AS ids, count(*) AS n, max(seq) AS last "
            "FROM audit_log WHERE kind = 'request'"
        )
        rollup = await gw.rows(
            "SELECT sum(requests) AS n FROM hub_rollup WHERE dim = 'all' AND grain = 86400"
        )
    assert ledger == [{"ids": 8, "n": 8}] and rollup == [{"n": 8}]
    assert records[0]["ids"] == records[0]["n"] == 8 and records[0]["last"] >= 7
    verified = await verify_audit(gw.database)
    assert verified["ok"], verified
