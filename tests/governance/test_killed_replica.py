"""A replica killed mid-stream gives back its place and its reservation within a lease.

Two real `bastion serve` processes share PostgreSQL and Redis, with leases of 2 s.
One streams a long answer (renewing its leases past several lifetimes), then is
killed with SIGKILL: it never settles, and the other takes the key's one place
and its budget back once the dead one's leases lapse.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from tests.fakes.openai_upstream import DEFAULT_API_KEY, FakeOpenAI
from tests.governance.helpers import (
    client,
    settings,
    start_gateway_process,
    stop_gateway_process,
    wait_for,
)

LEASE = 2.0


async def test_a_replica_killed_mid_stream_frees_its_holds_once_its_leases_lapse(
    pg_database: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    fake = FakeOpenAI()
    await fake.start()
    prices = {m: {"input": 1.0, "output": 2.0} for m in ("fake/stream-hang", "fake/gpt-4o-mini")}
    config = settings(
        pg_database,
        tmp_path,
        redis=redis_url,
        prefix=f"{redis_prefix}:{uuid.uuid4().hex[:8]}",
        providers={"fake": {"kind": "openai", "base_url": fake.url, "api_key": DEFAULT_API_KEY}},
        pricing={"models": prices},
    )
    config["governance"]["lease_ttl"] = LEASE
    doomed, survivor = await asyncio.gather(
        start_gateway_process(config, tmp_path, "doomed"),
        start_gateway_process(config, tmp_path, "survivor"),
    )
    try:
        async with client(doomed.url) as a, client(survivor.url) as b:
            policy = {"max_concurrent": 1, "budget": {"amount_usd": 1, "period": "total"}}
            key = await a.ok("POST", "/admin/v1/keys", {"name": "k", "policy": policy})
            path = f"/admin/v1/keys/{key['id']}/spend"
            user = b.as_key(key["key"])

            async def known() -> bool:
                return (await user.call("GET", "/v1/key/info"))[0] == 200

            await wait_for(known, within=5)
            body: dict[str, Any] = {
                "model": "fake/stream-hang",
                "messages": [{"role": "user", "content": "hello"}],
                "max_tokens": 1000,
                "stream": True,
            }
            headers = {"authorization": f"Bearer {key['key']}"}
            stream = await a.session.post(
                doomed.url + "/v1/chat/completions", json=body, headers=headers
            )
            assert stream.status == 200
            assert await stream.content.readany()  # streaming, holding the place
            reserved = (await b.ok("GET", path))["budget"]["reserved_usd"]
            assert reserved > 0
            # Renewed: still held after several lease lifetimes.
            await asyncio.sleep(3 * LEASE)
            status, error, _ = await user.chat(model="fake/gpt-4o-mini")
            assert status == 429 and error["error"]["code"] == "concurrency_limit_exceeded"
            assert (await b.ok("GET", path))["budget"]["reserved_usd"] == reserved

            doomed.proc.kill()  # SIGKILL: no settlement, no more renewals
            await doomed.proc.wait()
            stream.close()

            async def admitted() -> bool:
                return (await user.chat(model="fake/gpt-4o-mini"))[0] == 200

            waited = await wait_for(admitted, within=3 * LEASE)
            assert waited <= LEASE + 1.5

            async def settled() -> bool:
                budget = (await b.ok("GET", path))["budget"]
                return bool(budget["reserved_usd"] == 0 and 0 < budget["spent_usd"] < reserved)

            await wait_for(settled, within=5)  # only the survivor's request was charged
    finally:
        if doomed.proc.returncode is None:
            doomed.proc.kill()
            await doomed.proc.wait()
        log = await stop_gateway_process(survivor)
        await fake.stop()
        assert "Traceback" not in log, log
