"""The ledger and the audit trail record through one finisher, one queue and one transaction."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bastion.store.database import Database, async_url
from bastion.store.ledger_store import LedgerStore, ledger_row
from bastion.store.rollups import Verdicts
from tests.accounting.helpers import InProcess, in_process, sqlite_url
from tests.conftest import MASTER_KEY

EMAIL_POLICY = {
    "policies": {"mail": {"rules": [{"detectors": ["email"], "action": "pseudonymise"}]}},
    "attach": {"models": {"bastion/echo": ["mail"]}},
}


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


async def _quality(gw: InProcess, key: str = MASTER_KEY, range_: str = "1h") -> dict[str, int]:
    reply = await gw.call("GET", f"/ui/api/quality?range={range_}", key=key)
    assert reply.status == 200, reply.body
    return {f"{v['detector']}/{v['action']}": v["count"] for v in reply.json()["verdicts"]}


async def _verdicts_recorded_and_read_after_a_restart(
    database: str, tmp_path: Path, recorder_mode: str
) -> None:
    sections: dict[str, Any] = {"guardrails": EMAIL_POLICY}
    async with in_process(database, tmp_path, recorder_mode, **sections) as gw:
        alpha = await gw.admin("POST", "/admin/v1/teams", {"name": "alpha"})
        beta = await gw.admin("POST", "/admin/v1/teams", {"name": "beta"})
        ka = await gw.admin("POST", "/admin/v1/keys", {"name": "ka", "team_id": alpha["id"]})
        kb = await gw.admin("POST", "/admin/v1/keys", {"name": "kb", "team_id": beta["id"]})
        viewer = await gw.admin(
            "POST", "/admin/v1/keys", {"name": "av", "team_id": alpha["id"], "role": "viewer"}
        )
        mail = "mail jane.doe@example.com and bob@example.org"  # two findings a request
        for key, times in ((ka["key"], 2), (kb["key"], 1)):
            for i in range(times):
                assert (await gw.chat(mail, key=key, stream=i == 1)).status == 200
        assert (await gw.chat("no address here", key=ka["key"])).status == 200
        await gw.flush()
        # The rollup rows: one per grain, per team (each key's org is none).
        rows = await gw.rows(
            "SELECT grain, detector, action, org_id, team_id, verdicts FROM hub_verdicts"
            " ORDER BY grain, team_id"
        )
        teams = sorted([(alpha["id"], 4), (beta["id"], 2)])
        assert rows == [
            {
                "grain": grain,
                "detector": "pii",
                "action": "pseudonymise",
                "org_id": "",
                "team_id": team,
                "verdicts": n,
            }
            for grain in (60, 3600, 86400)
            for team, n in teams
        ]
        assert await _quality(gw) == {"pii/pseudonymise": 6}
        assert await _quality(gw, viewer["key"]) == {"pii/pseudonymise": 4}
    # A restart (a new gateway on the same database, no guardrails any more): still there.
    async with in_process(database, tmp_path, recorder_mode) as gw:
        assert await _quality(gw) == {"pii/pseudonymise": 6}
        assert await _quality(gw, viewer["key"]) == {"pii/pseudonymise": 4}
        assert await _quality(gw, range_="90d") == {"pii/pseudonymise": 6}
        # The range applies: verdicts recorded two days ago count in 7d, not in 24h.
        db = Database(async_url(database))
        try:
            at = time.time() - 2 * 86400
            zeros = ("cached_tokens", "cache_write_tokens", "reasoning_tokens", "attempts")
            row = ledger_row(
                request_id="old", at=at, team_id=alpha["id"], model="m", endpoint="chat",
                status=200, prompt_tokens=1, completion_tokens=1, estimated=False,
                stream=False, cache_hit=False, fallbacks=0, **dict.fromkeys(zeros, 0),
            )  # fmt: skip
            old: Verdicts = {("old", at): [{"detector": "secrets", "action": "block", "count": 3}]}
            await db.write_batch(await LedgerStore(db).statements([row], False, old))
        finally:
            await db.close()
        assert await _quality(gw, range_="24h") == {"pii/pseudonymise": 6}
        assert await _quality(gw, range_="7d") == {"pii/pseudonymise": 6, "secrets/block": 3}
        assert await _quality(gw, viewer["key"], "7d") == {
            "pii/pseudonymise": 4,
            "secrets/block": 3,
        }


async def test_guardrail_verdicts_reach_the_hub_and_outlive_a_restart(
    tmp_path: Path, recorder_mode: str
) -> None:
    """The recorder adds each request's verdicts to the hub's rollups with its ledger row
    (inline or in its process); the Quality page reads them for its range and the
    viewer's scope, before and after a restart."""
    await _verdicts_recorded_and_read_after_a_restart(sqlite_url(tmp_path), tmp_path, recorder_mode)


async def test_guardrail_verdicts_reach_the_hub_on_postgresql(
    pg_fresh: str, tmp_path: Path, recorder_mode: str
) -> None:
    await _verdicts_recorded_and_read_after_a_restart(pg_fresh, tmp_path, recorder_mode)
