"""The recorder process (accounting.recorder: process): killed, it is started again and
nothing is lost or doubled; the gateway's shutdown writes everything and stops it; the
gateway gone, it exits (no orphan)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bastion.accounting.recorder_process import RecorderProcess
from tests.accounting.helpers import InProcess, in_process, sqlite_url, verify_audit

ROOT = Path(__file__).resolve().parents[2]
SLOW = {"flush_interval": 60}  # only the test's flushes (and shutdown) write


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie waiting to be reaped does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def sink(gw: InProcess) -> RecorderProcess:
    recorder = gw.gateway.recorder
    assert recorder is not None and isinstance(recorder.sink, RecorderProcess)
    return recorder.sink


async def _requests(gw: InProcess, start: int, count: int) -> None:
    limit = asyncio.Semaphore(16)

    async def one(i: int) -> None:
        async with limit:
            assert (await gw.chat(f"request {i}", stream=i % 3 == 0)).status == 200

    await asyncio.gather(*(one(i) for i in range(start, start + count)))


async def _counts(gw: InProcess) -> tuple[int, int, int, int]:
    """Ledger rows, their distinct requests, audit request records, daily rollup requests."""
    ledger = await gw.rows(
        "SELECT count(*) AS n, count(DISTINCT request_id) AS ids FROM spend_ledger"
    )
    audit = await gw.rows("SELECT count(*) AS n FROM audit_log WHERE kind = 'request'")
    rollup = await gw.rows(
        "SELECT sum(requests) AS n FROM hub_rollup WHERE dim = 'all' AND grain = 86400"
    )
    return ledger[0]["n"], ledger[0]["ids"], audit[0]["n"], rollup[0]["n"] or 0


async def test_a_killed_recorder_process_is_started_again_and_loses_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with in_process(
        sqlite_url(tmp_path), tmp_path, "process", accounting=SLOW, audit=SLOW
    ) as gw:
        recorder = gw.gateway.recorder
        assert recorder is not None
        await _requests(gw, 0, 100)
        assert await recorder.flush()
        first = sink(gw).pid
        assert first is not None

        # Killed while idle: the next batch starts another process.
        os.kill(first, signal.SIGKILL)
        await _requests(gw, 100, 100)
        assert await recorder.flush()
        second = sink(gw).pid
        assert second is not None and second != first and not alive(first)

        # Killed with a batch in hand, unanswered: the batch goes to a third process at
        # once, marked "again"; the write does not fail.
        os.kill(second, signal.SIGSTOP)
        await _requests(gw, 200, 100)
        flushing = asyncio.create_task(recorder.flush())
        await asyncio.sleep(0.5)
        assert not flushing.done() and recorder.pending >= 100  # queued until committed
        os.kill(second, signal.SIGKILL)
        assert await flushing
        assert recorder.flush_errors == 0 and recorder.pending == 0
        assert sink(gw).started == 3
        assert await _counts(gw) == (300, 300, 300, 300)
    messages = [r.getMessage() for r in caplog.records]
    assert any("ended before it answered" in m for m in messages), messages
    verified = await verify_audit(gw.database)
    assert verified["ok"], verified


async def test_killed_again_and_again_mid_run_nothing_is_lost_or_written_twice(
    tmp_path: Path,
) -> None:
    """Kills at any moment, a commit's answer lost included: each request once."""
    fast = {"flush_interval": 0.05}
    async with in_process(
        sqlite_url(tmp_path), tmp_path, "process", accounting=fast, audit=fast
    ) as gw:
        recorder = gw.gateway.recorder
        assert recorder is not None
        killed: list[int] = []

        async def kill() -> None:
            while len(killed) < 4:
                await asyncio.sleep(0.7)
                pid = sink(gw).pid
                if pid is not None and pid not in killed:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)

        killer = asyncio.create_task(kill())
        # Requests until the fourth kill, at least 1,500: the recorder is started again
        # only when a batch waits, so the kills need traffic (a fast machine may serve
        # 1,500 before the fourth).
        sent = 0
        while sent < 1500 or not killer.done():
            assert sent < 30_000, f"only {len(killed)} kills"
            await _requests(gw, sent, 300)
            sent += 300
            await asyncio.sleep(0.3)
        await killer
        assert await recorder.flush()
        assert await _counts(gw) == (sent, sent, sent, sent)
        assert sink(gw).started >= 4
    verified = await verify_audit(gw.database)
    assert verified["ok"], verified


async def test_shutdown_writes_everything_then_stops_the_recorder_process(tmp_path: Path) -> None:
    async with in_process(
        sqlite_url(tmp_path), tmp_path, "process", accounting=SLOW, audit=SLOW
    ) as gw:
        await _requests(gw, 0, 50)
        recorder = gw.gateway.recorder
        assert recorder is not None and recorder.pending >= 50  # nothing written yet
        await asyncio.sleep(0.1)
        pid = sink(gw).pid
        assert pid is not None and alive(pid)
    # The gateway has shut down: everything was written, and the process has exited.
    assert await _counts(gw) == (50, 50, 50, 50)
    assert not alive(pid) and sink(gw).pid is None


_GATEWAY = """
import asyncio, json, sys
from pathlib import Path
from tests.accounting.helpers import in_process, sqlite_url

async def main(tmp: Path) -> None:
    fast = {"flush_interval": 0.1}
    async with in_process(sqlite_url(tmp), tmp, "process", accounting=fast, audit=fast) as gw:
        for i in range(20):
            await gw.chat(f"request {i}")
        await gw.flush()
        print(json.dumps({"recorder": gw.gateway.recorder.sink.pid}), flush=True)
        await asyncio.sleep(3600)

asyncio.run(main(Path(sys.argv[1])))
"""


def test_the_recorder_process_exits_when_its_gateway_dies(tmp_path: Path) -> None:
    script = tmp_path / "gateway.py"
    script.write_text(_GATEWAY)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    gateway = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)], stdout=subprocess.PIPE, cwd=ROOT, env=env
    )
    try:
        assert gateway.stdout is not None
        line = gateway.stdout.readline()
        recorder = json.loads(line)["recorder"]
        assert alive(recorder)
    finally:
        gateway.kill()  # no shutdown: the recorder process sees its input end
        gateway.wait(30)
    deadline = time.monotonic() + 60
    while alive(recorder) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(recorder)
