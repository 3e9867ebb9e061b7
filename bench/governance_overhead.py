"""CPU cost per request of governing a key (issue 4), measured in process.

    python bench/governance_overhead.py [--redis URL] [--profile static|virtual] [-n N]

Builds the gateway as ``bastion serve`` does (SQLite in a temporary directory, the
ledger and audit on, the built-in ``bastion/echo`` model as the upstream) and drives
it through its ASGI entry point, 32 requests at a time, with a static key and with a
virtual key that has an rpm, a tpm and a total budget (as ``BENCH_BASTION_GOVERNED=1``
creates). It prints CPU per request of each, best of several rounds, and the
difference: the governed path's own cost, without the HTTP server's.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
from typing import Any

import orjson

from bastion.app import Gateway
from bastion.config import GatewayConfig
from bastion.governance.auth import MASTER, key_digest
from bastion.governance.policy import BudgetSpec, PolicySpec
from bastion.governance.records import KeyIn

MASTER_KEY = "bench-master-key-0123456789"
STATIC_KEY = "bench-client-key-0123456789"
CONCURRENCY = 32
BODY = orjson.dumps(
    {
        "model": "bastion/echo",
        "messages": [{"role": "user", "content": "Say something short about benchmarks."}],
        "max_tokens": 64,
    }
)


async def _request(app: Gateway, key: str) -> int:
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(BODY)).encode()),
            (b"authorization", b"Bearer " + key.encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": BODY, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def _drive(app: Gateway, key: str, n: int) -> float:
    """CPU seconds per request over ``n`` requests, CONCURRENCY at a time."""
    left = n

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            status = await _request(app, key)
            if status != 200:
                raise RuntimeError(f"status {status}")

    start = time.process_time()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    await app.governance.drain()
    return (time.process_time() - start) / n


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", help="a Redis URL: limits counted there")
    parser.add_argument("-n", type=int, default=4000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", choices=["static", "virtual"], help="cProfile one key")
    parser.add_argument("--set", default="{}", help="more config sections, as JSON")
    args = parser.parse_args()
    data_dir = tempfile.mkdtemp(prefix="bastion-govbench-")
    settings: dict[str, Any] = {
        "auth": {"master_key": MASTER_KEY, "keys": [{"name": "bench", "key": STATIC_KEY}]},
        "test_model": "on",
        "server": {"data_dir": data_dir},
        "database_url": f"sqlite:///{data_dir}/bastion.db",
    }
    settings.update(orjson.loads(args.set))
    if args.redis:
        settings["redis_url"] = args.redis
        settings["governance"] = {"redis_prefix": "bastion-govbench-" + str(time.time_ns())}
    app = Gateway(GatewayConfig.model_validate(settings), key_digest(MASTER_KEY))
    await app.startup()
    try:
        policy = PolicySpec(
            rpm=10_000_000,
            tpm=10_000_000_000,
            budget=BudgetSpec(amount_usd=1_000_000, period="total"),
        )
        created = await app.governance.service.create_key(
            MASTER, KeyIn(name="bench", policy=policy)
        )
        keys = {"static": STATIC_KEY, "virtual": created.key}
        for key in keys.values():  # warm up
            await _drive(app, key, 1000)
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            await _drive(app, keys[args.profile], args.n)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(40)
            return
        best = dict.fromkeys(keys, float("inf"))
        for _ in range(args.rounds):
            for name, key in keys.items():  # interleaved: the same conditions for both
                best[name] = min(best[name], await _drive(app, key, args.n))
        for name, cpu in best.items():
            print(f"{name:<8} {cpu * 1e6:7.1f} us CPU/request")
        print(f"governed {(best['virtual'] - best['static']) * 1e6:+7.1f} us")
    finally:
        await app.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
