#!/usr/bin/env python3
"""CPU work per request, counted in instructions: a noise-free companion to ``run.py``.

Throughput on a shared two-core VM swings by +-20% from one run to the next, which
drowns the 5-15% overhead targets the issues set. Valgrind's callgrind counts the
instructions a process executes, the same on a busy or an idle machine. This script
starts Bastion under callgrind (instrumentation off during start-up and warm-up), then
per request kind: zeroes the counters, sends N requests (8 connections), waits for the
background writers to flush (for the ledger's or the trail's rows in the database when
recording is on), and dumps. Every thread of the gateway is counted (the spend ledger
and audit writers' SQLite work included); the kernel (socket and file I/O), nginx and
Redis are not. The gateway's recorder process (``accounting.recorder: process``) is
traced too (``--trace-children``) and counted on its own: the per-kind line and the
table show the gateway process's count as before, then the recorder process's and
the sum of both (``total``), which is what the machine does per request. Instructions are not time (cache misses and syscalls
differ), so read this beside run.py's req/s, not instead of it.

    python bench/instructions.py --variants base,recording-meta,... [--requests 1000]

Per-second work is stretched to what it is at real rates. Under valgrind the gateway
serves some 30 requests a second instead of a thousand or more, so a job that runs
every second (the ledger, audit and access-log writers' batches, the OTLP export, the
governance store's poll) would be shared by 30 requests instead of 1,000: its cost per
request would count some 30 times too much, and a design that batches would look worse
than one that does not. ``--stretch 30`` (the default) sets those intervals to 30 s, so
each batch holds about as many requests as at real rates; ``--stretch 0`` keeps the
configured intervals.

Variants are run.py's (bench/variants/*.yaml overlays on bench/bastion.bench.yaml).
Needs valgrind and nginx (bench/run.sh installs nginx; valgrind: apt-get install valgrind).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import fake_upstream  # noqa: E402
import run  # noqa: E402

KEY = run.CLIENT_KEY_BASTION
KINDS = {"plain": "bench-plain", "stream": "bench-stream"}


def body(kind: str) -> bytes:
    """The request run.py's wrk script sends for this kind."""
    return run.Scenario("instructions", kind, 1).body()


def send(port: int, key: str, kind: str, count: int, connections: int = 8) -> int:
    """``count`` requests over ``connections`` keep-alive connections; the failures."""
    payload = body(kind)
    headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
    failures = 0
    lock = threading.Lock()

    def worker(n: int) -> None:
        nonlocal failures
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for _ in range(n):
            conn.request("POST", "/v1/chat/completions", payload, headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                with lock:
                    failures += 1
        conn.close()

    share = [count // connections + (i < count % connections) for i in range(connections)]
    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(worker, share))
    return failures


def ready(port: int, key: str, proc: subprocess.Popen[bytes], limit: float = 900) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited with {proc.returncode}")
        try:
            if send(port, key, "plain", 1, 1) == 0:
                return
        except OSError:
            pass
        time.sleep(1)
    raise RuntimeError("gateway not ready")


def control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)


def totals(out_dir: Path, before: set[Path], pid: int) -> int:
    """The instructions of process ``pid``'s newest dump."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        dumps = set(out_dir.glob(f"cg.out.{pid}.*")) - before
        new = sorted(dumps, key=lambda p: p.stat().st_mtime)
        for path in new:
            text = path.read_text(errors="replace")
            for line in text.splitlines():
                if line.startswith(("totals:", "summary:")):
                    before.add(path)
                    return int(line.split()[1])
        time.sleep(0.5)
    raise RuntimeError("no callgrind dump")


def children(pid: int) -> list[int]:
    """The processes ``pid`` started (the gateway's recorder process, when it has one)."""
    found: list[int] = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # ended meanwhile
        if int(fields[1]) == pid:  # the parent's id, after the state
            found.append(int(stat.parent.name))
    return sorted(found)


def recorded(data_dir: Path) -> int:
    """Requests in the spend ledger or the audit trail (the larger), as committed so far."""
    path = data_dir / "bastion.db"
    if not path.exists():
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        ledger = conn.execute("SELECT count(*) FROM spend_ledger").fetchone()[0]
        audit = conn.execute("SELECT count(*) FROM audit_log WHERE kind = 'request'").fetchone()[0]
    except sqlite3.Error:
        return 0
    finally:
        conn.close()
    return max(int(ledger), int(audit))


def written(data_dir: Path, sent: int, limit: float = 900) -> None:
    """Wait until the ``sent`` requests are committed (and nothing more comes for 3 s)."""
    deadline = time.monotonic() + limit
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = recorded(data_dir)
        if count != last:
            last, since = count, time.monotonic()
        elif count >= sent and time.monotonic() - since >= 3:
            return
        time.sleep(0.5)
    raise RuntimeError(f"only {last} of {sent} requests were recorded")


def upstream_running() -> bool:
    """Whether the fake upstream's ports already answer (runs may share one nginx)."""
    try:
        socket.create_connection(("127.0.0.1", fake_upstream.PLAIN_PORT), timeout=1).close()
    except OSError:
        return False
    return True


def stretched(seconds: float) -> dict[str, Any]:
    """Every per-second background job's interval set to ``seconds`` (see ``--stretch``)."""
    return {
        "accounting": {"flush_interval": seconds},
        "audit": {"flush_interval": seconds},
        "governance": {"reload_interval": seconds},
        "observability": {
            "access_log": {"flush_interval": seconds},
            "tracing": {"export_interval": seconds},
        },
    }


def free_port() -> int:
    """A port the kernel picks: runs measured at once never share one."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def measure(
    name: str, overlay: Path, requests: int, warmup: int, work: Path, stretch: float
) -> dict[str, Any]:
    import yaml

    options_overlay = run.load_overlay(overlay)
    options = options_overlay.pop("bench", None) or {}
    merged = run.merge(yaml.safe_load(run.base_config().read_text()) or {}, options_overlay)
    if stretch:
        merged = run.merge(merged, stretched(stretch))
    settle = (stretch or 1.0) + 3  # until the writers have flushed what was sent
    vdir = work / name
    vdir.mkdir()
    config = vdir / "bastion.yaml"
    config.write_text(yaml.safe_dump(merged, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION_")}
    env["BASTION_DATA_DIR"] = str(vdir / "data")
    python = os.path.realpath(sys.executable)
    key = KEY
    if options.get("governed_key"):
        cmd = [python, "-m", "bastion.cli", "keys", "create", "--config", str(config)]
        cmd += ["--name", "bench", "--rpm", "10000000", "--tpm", "10000000000"]
        cmd += ["--budget", "1000000", "--period", "total"]
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
        key = json.JSONDecoder().raw_decode(out[out.index("{") :])[0]["key"]
    port = free_port()
    recording = (merged.get("accounting") or {}).get("ledger", True) or (
        merged.get("audit") or {}
    ).get("enabled", True)
    cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--trace-children=yes"]
    cmd += [f"--callgrind-out-file={vdir}/cg.out.%p", python, "-m", "bastion.cli", "serve"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    cmd += ["--config", str(config), "--log-level", "warning"]
    log = (vdir / "gateway.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    result: dict[str, Any] = {"variant": name}
    try:
        ready(port, key, proc)
        seen: set[Path] = set()
        sent = 0
        control(proc.pid, "-i", "on")
        for kind in KINDS:
            recorders = children(proc.pid)  # started with the gateway (or again since)
            for pid in recorders:
                control(pid, "-i", "on")
            send(port, key, kind, warmup)
            sent += warmup
            time.sleep(settle)  # the writers' flush of the warm-up
            if recording:
                written(vdir / "data", sent)
            for pid in (proc.pid, *recorders):
                control(pid, "-z")
            failures = send(port, key, kind, requests)
            sent += requests
            time.sleep(settle)  # ... and of the measured requests
            if recording:
                written(vdir / "data", sent)
            for pid in (proc.pid, *recorders):
                control(pid, "-d")
            count = totals(vdir, seen, proc.pid)
            child = sum(totals(vdir, seen, pid) for pid in recorders)
            result[kind] = {
                "instructions_per_request": count / requests,
                "failures": failures,
                "child_instructions_per_request": child / requests,
                "total_instructions_per_request": (count + child) / requests,
            }
            line = f"{name:18s} {kind:6s} {count / requests / 1e6:8.3f} M instr/req"
            if recorders:
                line += f" + {child / requests / 1e6:.3f} M recorder = {(count + child) / requests / 1e6:.3f} M"
            print(line, flush=True)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    return result


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--variants", required=True, help="as run.py: base,tracing,name=path.yaml")
    p.add_argument("--requests", type=int, default=1000, help="measured requests per kind")
    p.add_argument("--warmup", type=int, default=200, help="requests per kind before counting")
    p.add_argument("--parallel", type=int, default=2, help="variants measured at once")
    p.add_argument(
        "--stretch",
        type=float,
        default=30.0,
        help="seconds between background flushes (0: as configured); see the module doc",
    )
    p.add_argument("--json", type=Path, help="write the results here")
    args = p.parse_args()
    for tool in ("valgrind", "callgrind_control", "nginx"):
        if shutil.which(tool) is None:
            print(f"instructions: {tool} is not installed", file=sys.stderr)
            return 1
    variants = run.parse_variants(args.variants)
    work = Path(tempfile.mkdtemp(prefix="bench-instr-"))
    nginx = None
    if not upstream_running():  # else: another run's (or a long-lived) fake upstream serves
        ngx = work / "nginx"
        ngx.mkdir()
        conf = ngx / "nginx.conf"
        conf.write_text(fake_upstream.nginx_conf(ngx, error_log=ngx / "error.log"))
        nginx = subprocess.Popen(
            [
                "nginx",
                "-c",
                str(conf),
                "-p",
                str(ngx),
                "-e",
                str(ngx / "error.log"),
                "-g",
                "daemon off;",
            ]
        )
    try:
        time.sleep(1)
        with ThreadPoolExecutor(args.parallel) as pool:
            results = list(
                pool.map(
                    lambda v: measure(v[0], v[1], args.requests, args.warmup, work, args.stretch),
                    variants,
                )
            )
    finally:
        if nginx is not None:
            nginx.terminate()
            nginx.wait(10)
    base = results[0]
    # The gateway process's columns first (as before), then its recorder process's and
    # the total of both.
    print(
        "\n| variant | plain M instr/req | vs base | stream M instr/req | vs base "
        "| plain recorder | plain total | vs base | stream recorder | stream total | vs base |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        cells = []
        for kind in KINDS:
            value = r[kind]["instructions_per_request"]
            ref = base[kind]["instructions_per_request"]
            cells += [f"{value / 1e6:.3f}", f"{(value / ref - 1) * 100:+.1f}%"]
        for kind in KINDS:
            child = r[kind]["child_instructions_per_request"]
            total = r[kind]["total_instructions_per_request"]
            ref = base[kind]["total_instructions_per_request"]
            cells += [
                f"{child / 1e6:.3f}",
                f"{total / 1e6:.3f}",
                f"{(total / ref - 1) * 100:+.1f}%",
            ]
        print(f"| {r['variant']} | " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"requests": args.requests, "stretch": args.stretch, "results": results}, indent=2
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
