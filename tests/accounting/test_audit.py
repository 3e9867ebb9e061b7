"""The audit trail: complete, hash-chained, sealed daily, verified, exported, retained."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import orjson
import yaml

from bastion.cli import main
from bastion.observability.audit_chain import day_of, day_start
from tests.accounting.helpers import InProcess, in_process, sqlite_url, verify_audit
from tests.conftest import CLIENT_KEY, MASTER_KEY

DAY = 86_400.0
WATCH = {  # guardrails that only record e-mail addresses: the trail must not keep them
    "policies": {"watch": {"rules": [{"detectors": ["email"], "action": "record"}]}},
    "attach": {"default": ["watch"]},
}


async def _traffic(gw: InProcess) -> dict[str, str]:
    """A few requests of every kind; their request ids by name."""
    on = await gw.admin("POST", "/admin/v1/keys", {"name": "k", "policy": {"body_logging": "on"}})
    off = await gw.admin("POST", "/admin/v1/keys", {"name": "q", "policy": {"body_logging": "off"}})
    ids: dict[str, str] = {}
    for name, kwargs in (
        ("plain", {}),
        ("stream", {"stream": True}),
        ("bodies", {"key": on["key"], "text": "mail jane.doe@example.com please"}),
        ("bodies-stream", {"key": on["key"], "stream": True}),
        ("no-bodies", {"key": off["key"]}),
        ("bad-key", {"key": "sk-not-a-key-0123456789"}),
        ("unknown-model", {"model": "nope/nothing"}),
    ):
        reply = await gw.chat(**{"text": "hello there", **kwargs})
        ids[name] = reply.headers["x-request-id"]
    await gw.flush()
    return ids


async def _records(gw: InProcess) -> dict[str, dict[str, Any]]:
    rows = await gw.rows("SELECT * FROM audit_log WHERE kind = 'request' ORDER BY id")
    return {r["request_id"]: {**r, "data": orjson.loads(r["record"])} for r in rows}


async def test_every_interaction_is_recorded_with_who_what_decisions_and_bodies_as_allowed(
    tmp_path: Path, recorder_mode: str
) -> None:
    async with in_process(sqlite_url(tmp_path), tmp_path, recorder_mode, guardrails=WATCH) as gw:
        ids = await _traffic(gw)
        records = await _records(gw)
    assert set(ids.values()) <= set(records)
    plain = records[ids["plain"]]["data"]
    assert plain["who"] == {
        "kind": "static",
        "id": "static:client",
        "name": "client",
        "role": "user",
    }
    assert (
        plain["what"]["model"] == "bastion/echo" and plain["what"]["deployment"] == "bastion/echo"
    )
    assert plain["decisions"]["authenticate"] == "allowed"
    assert plain["outcome"]["status"] == 200 and plain["usage"]["completion"] == 2
    assert plain["bodies"] == {
        "mode": "metadata",  # the default
        "request": {"messages": {"user": 1}, "text_chars": 11},
    }
    assert records[ids["plain"]]["body"] is None

    bad = records[ids["bad-key"]]["data"]
    assert bad["who"] is None and bad["decisions"] == {"authenticate": "denied"}
    assert bad["outcome"]["status"] == 401
    assert records[ids["unknown-model"]]["data"]["outcome"]["status"] == 404
    assert records[ids["no-bodies"]]["data"]["bodies"] == {"mode": "off"}

    kept = records[ids["bodies"]]
    body = orjson.loads(kept["body"])
    assert kept["data"]["bodies"]["sha256"] == hashlib.sha256(kept["body"].encode()).hexdigest()
    assert body["request"]["messages"][0]["content"] == "mail [EMAIL] please"
    assert body["response"]["text"] == "mail [EMAIL] please"  # echo's answer, redacted too
    assert "jane.doe" not in kept["body"] and "jane.doe" not in kept["record"]
    verdicts = kept["data"]["decisions"]["guardrails"]["verdicts"]
    assert {(v["kind"], v["action"]) for v in verdicts} == {("email", "record")}
    streamed = orjson.loads(records[ids["bodies-stream"]]["body"])
    assert streamed["response"] == {
        "text": "hello there",
        "finish_reason": "stop",
        "truncated": False,
    }


async def test_verify_passes_then_names_the_first_edited_or_deleted_record(
    tmp_path: Path, recorder_mode: str
) -> None:
    database = sqlite_url(tmp_path)
    async with in_process(database, tmp_path, recorder_mode) as gw:
        assert gw.gateway.audit_jobs is not None
        await gw.gateway.audit_jobs.stop()  # its retention record is not part of this test
        ids = [(await gw.chat(f"message {i}")).headers["x-request-id"] for i in range(8)]
        await gw.flush()
    report = await verify_audit(database)
    assert report["ok"] and report["records"] == 8 and report["problem"] is None

    rows = await gw.rows("SELECT id, seq, request_id, record FROM audit_log ORDER BY seq")
    assert [r["request_id"] for r in rows] == ids
    edited = rows[3]
    await gw.execute(
        "UPDATE audit_log SET record = :r WHERE id = :id",
        r=edited["record"].replace('"status":200', '"status":403'),
        id=edited["id"],
    )
    report = await verify_audit(database)
    assert not report["ok"]
    assert report["first_bad_record"]["seq"] == 3
    assert report["first_bad_record"]["request_id"] == ids[3]
    assert "edited" in report["problem"]
    await gw.execute(
        "UPDATE audit_log SET record = :r WHERE id = :id", r=edited["record"], id=edited["id"]
    )
    assert (await verify_audit(database))["ok"]

    await gw.execute("UPDATE audit_log SET request_id = 'x' WHERE id = :id", id=rows[5]["id"])
    report = await verify_audit(database)
    assert report["first_bad_record"]["seq"] == 5 and "request_id" in report["problem"]
    await gw.execute(
        "UPDATE audit_log SET request_id = :r WHERE id = :id", r=ids[5], id=rows[5]["id"]
    )

    await gw.execute("DELETE FROM audit_log WHERE id = :id", id=rows[2]["id"])
    report = await verify_audit(database)
    assert report["first_bad_record"]["seq"] == 3  # the record after the gap is named
    assert "2 of this chain are missing" in report["problem"]


async def test_days_are_sealed_retention_runs_in_the_chain_and_export_carries_the_hashes(
    tmp_path: Path, recorder_mode: str
) -> None:
    database = sqlite_url(tmp_path)
    retention = {"retention": {"bodies_days": 1, "records_days": 30}, "bodies": "on"}
    async with in_process(database, tmp_path, recorder_mode, audit=retention) as gw:
        audit, jobs = gw.gateway.audit, gw.gateway.audit_jobs
        assert audit is not None and jobs is not None
        await jobs.stop()  # run by the test alone
        for i in range(3):
            await gw.chat(f"day one {i}")
        await gw.flush()
        today = day_of(audit.clock())
        later = day_start(today) + 2 * DAY + 3600

        audit.clock = lambda: later  # two days on: today is sealed, its bodies dropped
        done = await jobs.run_once(later)
        assert done["sealed"] == [today]
        assert (
            done["retention"]["bodies_dropped"] == 3 and done["retention"]["records_deleted"] == 0
        )
        kept = await gw.rows("SELECT count(*) AS n FROM audit_log WHERE body IS NOT NULL")
        assert kept == [{"n": 0}]
        assert (await verify_audit(database))["ok"]
        assert (await jobs.run_once(later))["sealed"] == []  # once a day

        # A record deleted from the end of a sealed day: its digest says how many there were.
        last = await gw.rows(
            "SELECT * FROM audit_log WHERE day = :d ORDER BY seq DESC LIMIT 1", d=today
        )
        await gw.execute("DELETE FROM audit_log WHERE id = :id", id=last[0]["id"])
        report = await verify_audit(database)
        assert not report["ok"] and "deleted from its end" in report["problem"]
        columns = ", ".join(k for k in last[0] if k != "id")
        await gw.execute(
            f"INSERT INTO audit_log ({columns}) VALUES ({', '.join(':' + k for k in last[0] if k != 'id')})",
            **{k: v for k, v in last[0].items() if k != "id"},
        )
        assert (await verify_audit(database))["ok"]

        far = later + 40 * DAY  # past records_days: sealed days go, their digests stay
        audit.clock = lambda: far
        done = await jobs.run_once(far)
        assert done["retention"]["records_deleted"] == 4  # three requests and one retention run
        report = await verify_audit(database)
        assert report["ok"] and report["sealed_days"] == 2, report

        lines = [orjson.loads(line) async for line in _export(gw)]
    assert [line["kind"] for line in lines] == ["retention"]
    for line in lines:
        assert (
            hashlib.sha256((line["prev_hash"] + line["record"]).encode()).hexdigest()
            == line["hash"]
        )
    digests = await gw.rows("SELECT day FROM audit_digests ORDER BY day")
    await gw.execute("DELETE FROM audit_digests WHERE day = :d", d=digests[0]["day"])
    report = await verify_audit(database)
    assert not report["ok"] and "a digest was removed" in report["problem"]


async def _export(gw: InProcess) -> Any:
    from bastion.observability import audit_jobs
    from bastion.store.audit_store import AuditStore

    store = AuditStore(gw.gateway.governance.database)
    async for chunk in audit_jobs.export(store):
        for line in chunk.splitlines():
            yield line


async def test_a_keyed_trail_cannot_be_recomputed_without_the_key_and_the_cli_checks_it(
    tmp_path: Path, recorder_mode: str
) -> None:
    database = sqlite_url(tmp_path)
    key = "an-audit-key-kept-off-the-database"
    async with in_process(database, tmp_path, recorder_mode, audit={"key": key}) as gw:
        for i in range(3):
            await gw.chat(f"message {i}")
    assert (await verify_audit(database, key.encode()))["ok"]
    report = await verify_audit(database)  # plain SHA-256 does not reproduce HMACs
    assert not report["ok"] and report["first_bad_record"]["seq"] == 0
    first = (await gw.rows("SELECT prev_hash, record, hash FROM audit_log ORDER BY seq"))[0]
    mac = hmac.new(key.encode(), (first["prev_hash"] + first["record"]).encode(), hashlib.sha256)
    assert mac.hexdigest() == first["hash"]

    config = tmp_path / "bastion.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database_url": database,
                "auth": {"master_key": MASTER_KEY, "keys": [{"name": "c", "key": CLIENT_KEY}]},
                "audit": {"key": key},
            }
        )
    )
    code, out = await _cli("audit", "verify", "--config", str(config))
    assert code == 0 and orjson.loads(out)["records"] == 3
    exported = tmp_path / "trail.jsonl"
    code, _ = await _cli(
        "audit", "export", "--since", "1d", "--format", "jsonl", "--output", str(exported),
        "--config", str(config),
    )  # fmt: skip
    assert code == 0 and len(exported.read_text().splitlines()) == 3
    await gw.execute("UPDATE audit_log SET body = '{}' WHERE seq = 1")
    code, out = await _cli("audit", "verify", "--config", str(config))
    assert code == 1 and orjson.loads(out)["first_bad_record"]["seq"] == 1


async def _cli(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()

    def run() -> int:
        with redirect_stdout(out), redirect_stderr(err):
            return main(list(argv))

    code = await asyncio.to_thread(run)
    return code, out.getvalue()
