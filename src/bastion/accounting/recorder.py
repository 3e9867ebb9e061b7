"""One finisher and one writer for the spend ledger and the audit trail.

    Recorder (finish)   a request's facts (accounting/finished.py), encoded, queued
    writer              every flush interval, a batch (one JSON array) goes to where
                        rows and records are built and written in one transaction
                        (accounting/record_writer.py):
      process           a recorder process of this gateway process's own
                        (accounting/recorder_process.py), off its core and its GIL
      inline            this process, on its event loop (one core, or no process)

Two recorders each with its own writer cost two wake-ups, two passes over the
contexts and two transactions a batch; under light load, when a batch is a few
dozen requests, that fixed cost was as large as the rows'. The guarantees are
each recorder's: a batch that fails is retried as it was (its facts, kept
queued until the commit is acknowledged; the ledger skips rows a lost
commit had written, the audit chain its records), so nothing is lost or written
twice. The ledger and the trail are written together: neither can be ahead of
the other after a crash.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bastion.accounting.finished import Extract, batch_of
from bastion.accounting.ledger import SpendLedger
from bastion.accounting.record_writer import RecordSpec, RecordWriter
from bastion.accounting.recorder_process import RecorderProcess
from bastion.accounting.settings import RecorderMode
from bastion.observability.audit import AuditLog
from bastion.observability.audit_bodies import guardrail_redactor
from bastion.observability.audit_chain import day_of
from bastion.store.batch import Batched, BatchWriter
from bastion.store.database import Database, sqlite_file

if TYPE_CHECKING:
    from bastion.pipeline import RequestContext

_BATCH = 256  # requests a transaction, at most


class Recorder(Batched[Any]):
    """Records finished requests in the spend ledger and the audit trail (either may be off).

    The ledger and the trail keep their own API (``flush``, ``pending``, ``start``,
    ``stop``, the trail's ``event``): both go through this recorder's writer.
    """

    def __init__(
        self,
        database: Database,
        ledger: SpendLedger | None,
        audit: AuditLog | None,
        mode: RecorderMode = "inline",
    ) -> None:
        if ledger is None and audit is None:
            raise ValueError("nothing to record")
        self._ledger = ledger
        self._audit = audit
        self._extract = Extract(
            ledger.prices if ledger is not None else None,
            ledger.tags_header if ledger is not None else None,
            audit.body_mode if audit is not None else None,
            audit.redact if audit is not None else guardrail_redactor,
            audit.config.max_body_bytes if audit is not None else 0,
        )
        spec = RecordSpec(
            ledger=ledger is not None,
            audit=audit is not None,
            max_tags=ledger.config.max_tags if ledger is not None else 0,
            instance=audit.instance if audit is not None else "",
            key=audit.key if audit is not None else None,
            max_body_bytes=audit.config.max_body_bytes if audit is not None else 0,
        )
        if mode == "process" and database.dialect == "sqlite" and sqlite_file(database.url) is None:
            mode = "inline"  # an in-memory database cannot be shared with another process
        self.mode: RecorderMode = mode
        self.sink: RecorderProcess | RecordWriter = (
            RecorderProcess(database.url, spec)
            if mode == "process"
            else RecordWriter(database, spec)
        )
        parts: list[Batched[Any]] = [p for p in (ledger, audit) if p is not None]
        self._writer: BatchWriter[Any] = BatchWriter(
            self._write,
            "spend ledger and audit trail" if len(parts) == 2 else parts[0].writer.name,
            # Inline, building, linking and summing a batch runs on the event loop (~25 us a
            # request): batches of a few hundred keep each stretch to a few ms, where
            # 2,000 held every request in flight for ~50 ms once a second (p99 at c32:
            # 49 ms against 6.6 ms without recording).
            batch=_BATCH,
            interval=min(p.writer.interval for p in parts),
            max_pending=max(p.writer.max_pending for p in parts),
            opened=self.sink.start,
            closed=self.sink.close,
        )
        for part in parts:
            part.write_through(self._writer)

    def __call__(self, ctx: RequestContext) -> None:
        """The finisher: queue the request's facts (the ledger takes authenticated ones)."""
        if self._audit is not None or ctx.principal is not None:
            self._writer.add(self._extract(ctx, time.time(), time.perf_counter_ns()))

    async def _write(self, items: Sequence[bytes], again: bool) -> None:
        day = day_of(self._audit.clock()) if self._audit is not None else ""
        unpriced = await self.sink.write(batch_of(items), again, day)
        if unpriced and self._ledger is not None:
            self._ledger.count_unpriced(unpriced)
