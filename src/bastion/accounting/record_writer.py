"""Where a batch of finished requests becomes ledger rows and audit records, written at once.

:class:`RecordWriter` takes a batch of ``Finished`` facts (accounting/finished.py)
and the trail's events (``finished.batch_of``), builds each request's ledger row and
audit record (its usage read once), links the records into the chain, and inserts rows, tags,
rollups (spend, and the requests' guardrail verdicts) and records in one
transaction. The same writer runs in the recorder
process (accounting/recorder_process.py) or in the gateway
(``accounting.recorder: inline``): one builder and one writer, two places.

It needs only primitives to be made (:class:`RecordSpec` and the database URL),
so that the recorder process can make its own from what the gateway sends it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bastion.accounting import finished as f
from bastion.accounting.ledger import LedgerRows
from bastion.accounting.pricing import read_usage
from bastion.observability.audit import AuditChain, AuditRecords, Prepared
from bastion.observability.audit_chain import Hasher
from bastion.store.audit_store import AuditStore
from bastion.store.database import Database, Statement
from bastion.store.ledger_store import LEDGER_COLUMNS, LedgerRow, LedgerStore
from bastion.store.rollups import Verdicts

_REQUEST_ID, _AT, _COST = (LEDGER_COLUMNS.index(c) for c in ("request_id", "at", "cost_nusd"))


@dataclass(frozen=True, slots=True)
class RecordSpec:
    """What is recorded and how (plain values: it is sent to the recorder process)."""

    ledger: bool
    audit: bool
    max_tags: int = 16
    instance: str = ""  # the audit chain's name: the gateway process's
    key: bytes | None = None  # the audit trail's HMAC key
    max_body_bytes: int = 65_536


class RecordWriter:
    def __init__(self, database: Database, spec: RecordSpec) -> None:
        self.database = database
        self._ledger = LedgerStore(database) if spec.ledger else None
        self._rows = LedgerRows(spec.max_tags)
        self._records = AuditRecords(spec.max_body_bytes) if spec.audit else None
        self._chain = (
            AuditChain(AuditStore(database), spec.instance, Hasher(spec.key))
            if spec.audit
            else None
        )

    def start(self) -> None:
        """Nothing to start in the gateway (the sink protocol the recorder process has)."""

    async def close(self) -> None:
        """Nothing to close: the database is the gateway's."""

    async def write(self, batch: bytes, again: bool, day: str) -> dict[str, int]:
        """Build and write a batch (``finished.batch_of``) in one transaction; the requests
        written without a price, by deployment label.

        ``again``: the batch follows a failed write whose commit may have landed (what is
        in already is left out); ``day``: the audit chain's day (the gateway's clock)."""
        ledger, audit = self._ledger, self._records
        rows: list[LedgerRow] = []
        records: list[Prepared] = []
        unpriced: dict[str, int] = {}
        verdicts: Verdicts = {}  # by the row's (request id, at): the hub's verdict rollups
        items = f.items_of(batch)
        for item in items:
            if isinstance(item, dict):  # an event of the trail's (the retention job)
                if audit is not None:
                    records.append(Prepared(item))
                continue
            raw = item[f.USAGE]
            try:
                usage = read_usage(raw) if raw is not None else None
            except Exception:  # each builder reports (and survives) what is wrong
                usage = None
            if ledger is not None and item[f.WHO] is not None:
                row = self._rows.safe_row(item, usage)
                rows.append(row)
                found = item[f.VERDICTS]
                if found:
                    verdicts[row[_REQUEST_ID], row[_AT]] = found
                served = item[f.SERVED]
                if row[_COST] is None and served is not None:
                    unpriced[served[0]] = unpriced.get(served[0], 0) + 1
            if audit is not None:
                records.append(audit.safe_record(item, usage))
        statements: list[Statement] = []
        if rows and ledger is not None:
            statements += await ledger.statements(rows, again, verdicts)
        committed = None
        if records and self._chain is not None:
            linked, committed = await self._chain.link(records, day, again)
            statements += linked
        if statements:
            await self.database.write_batch(statements)
        if committed is not None:
            committed()
        return unpriced
