"""One JSON access-log line per request: ids, model, status, tokens, cost, latency split;
never a key, and a body only when switched on."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import ANY

import aiohttp
import orjson

from tests.conftest import CLIENT_KEY, MASTER_KEY, gateway_config, run_gateway


async def _traffic(url: str) -> list[str]:
    ids = []
    async with aiohttp.ClientSession() as session:
        for key, content, status in (
            (CLIENT_KEY, "secret words here", 200),
            ("not-a-key-0123456789", "x", 401),
        ):
            async with session.post(
                url + "/v1/chat/completions",
                json={"model": "bastion/echo", "messages": [{"role": "user", "content": content}]},
                headers={"authorization": f"Bearer {key}"},
            ) as r:
                assert r.status == status
                ids.append(r.headers["x-request-id"])
    return ids


async def test_one_line_per_request_without_keys_or_bodies(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    config = gateway_config(
        test_model="on",
        observability={"access_log": {"enabled": True, "destination": str(path)}},
    )
    async with run_gateway(config) as gw:
        ids = await _traffic(gw.url)
        live = gw.gateway.observability.live
        assert live is not None
        summary = live.recent[0].summary()  # what the hub's live feed shows of a request
    text = path.read_text()
    lines = [orjson.loads(line) for line in text.splitlines()]
    assert [line["request_id"] for line in lines] == ids
    # The same fields as the live feed's, after time, level and logger.
    assert list(lines[0]) == ["time", "level", "logger", *summary]
    assert {k: lines[0][k] for k in summary} == summary
    assert lines[0]["attempts"] == [
        {"deployment": "bastion/echo", "status": 200, "error": None, "latency_ms": ANY}
    ]
    ok, refused = lines
    assert ok["level"] == "info"
    assert ok["logger"] == "bastion.access"
    assert ok["time"].endswith("Z")
    assert ok["status"] == 200
    assert ok["model"] == "bastion/echo"
    assert ok["deployment"] == "bastion/echo"
    assert ok["key_id"] == "static:client"
    assert ok["completion_tokens"] == 3
    assert ok["latency_ms"] >= ok["upstream_ms"] >= 0
    assert (
        ok["gateway_ms"] == round(ok["latency_ms"] - ok["upstream_ms"], 3)
        or abs(ok["gateway_ms"] - (ok["latency_ms"] - ok["upstream_ms"])) < 0.002
    )
    assert refused["level"] == "warning"
    assert refused["status"] == 401
    assert refused["error"] == "invalid_api_key"
    assert refused["key_id"] is None
    for secret in (CLIENT_KEY, MASTER_KEY, "not-a-key-0123456789", "secret words"):
        assert secret not in text
    assert "request_body" not in ok


async def test_bodies_only_when_switched_on(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    config = gateway_config(
        test_model="on",
        observability={
            "access_log": {"enabled": True, "destination": str(path), "include_bodies": True}
        },
    )
    async with run_gateway(config) as gw:
        await _traffic(gw.url)
    ok = orjson.loads(path.read_text().splitlines()[0])
    assert ok["request_body"]["messages"][0]["content"] == "secret words here"
    assert CLIENT_KEY not in path.read_text()
