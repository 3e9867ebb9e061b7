"""The ledger and the audit trail record through one finisher, one queue and one transaction."""

from __future__ import annotations

from pathlib import Path

from tests.accounting.helpers import in_process, sqlite_url


async def test_one_entry_per_request_and_both_tables_written_together(
    tmp_path: Path, recorder_mode: str
) -> None:
    async with in_process(sqlite_url(tmp_path), tmp_path, recorder_mode) as gw:
        recorder = gw.gateway.recorder
        assert recorder is not None and gw.gateway.audit is not None
        assert gw.gateway.audit_jobs is not None
        await gw.gateway.audit_jobs.stop()  # its retention record would count as pending
        # One writer for both: their flush, pending and lifecycle are the recorder's.
        assert gw.gateway.governance.ledger.writer is recorder.writer
        assert gw.gateway.audit.writer is recorder.writer
        before = recorder.pending
        for i in range(3):
            assert (await gw.chat(f"request {i}", stream=i == 1)).status == 200
        assert (await gw.chat("who am I", key="not-a-key")).status == 401
        assert recorder.pending == before + 4  # one entry a request, refused ones included
        assert await gw.gateway.governance.ledger.flush()  # writes the trail's part too
        assert recorder.pending == 0
        ledger = await gw.rows("SELECT status, completion_tokens FROM spend_ledger ORDER BY id")
        audit = await gw.rows(
            "SELECT json_extract(record, '$.outcome.status') AS status, "
            "json_extract(record, '$.usage.completion') AS out FROM audit_log ORDER BY id"
        )
    # The ledger holds authenticated requests; the trail every one, with the same usage.
    assert ledger == [{"status": 200, "completion_tokens": 2}] * 3
    assert audit == [{"status": 200, "out": 2}] * 3 + [{"status": 401, "out": None}]


async def test_the_audit_trail_alone_records_through_the_recorder(
    tmp_path: Path, recorder_mode: str
) -> None:
    sections = {"accounting": {"ledger": False}}
    async with in_process(sqlite_url(tmp_path), tmp_path, recorder_mode, **sections) as gw:
        assert (await gw.chat("one two")).status == 200
        await gw.flush()
        assert await gw.rows("SELECT count(*) AS n FROM spend_ledger") == [{"n": 0}]
        records = await gw.rows("SELECT count(*) AS n FROM audit_log WHERE kind = 'request'")
        assert records == [{"n": 1}]


async def test_the_ledger_alone_records_authenticated_requests(
    tmp_path: Path, recorder_mode: str
) -> None:
    sections = {"audit": {"enabled": False}}
    async with in_process(sqlite_url(tmp_path), tmp_path, recorder_mode, **sections) as gw:
        assert (await gw.chat("one two")).status == 200
        assert (await gw.chat("one two", key="not-a-key")).status == 401
        assert gw.gateway.recorder is not None and gw.gateway.recorder.pending == 1
        await gw.flush()
        assert await gw.rows("SELECT count(*) AS n FROM spend_ledger") == [{"n": 1}]
        assert await gw.rows("SELECT count(*) AS n FROM audit_log") == [{"n": 0}]
