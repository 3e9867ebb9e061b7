"""Data residency: a request restricted to regions never leaves them, even when all are down."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import MASTER_KEY
from tests.fakes.faulty_upstream import Fault, FaultyUpstream
from tests.routing.conftest import chat, gateway

pytestmark = pytest.mark.asyncio(loop_scope="session")

# c (us) is first by priority; a (eu) and b (eu-west) are the only ones inside "eu".
MODELS = [
    {"name": "geo", "provider": "c", "model": "m", "region": "us", "priority": 0},
    {"name": "geo", "provider": "a", "model": "m", "region": "eu", "priority": 1},
    {"name": "geo", "provider": "b", "model": "m", "region": "eu-west", "priority": 2},
    {"name": "us-only", "provider": "c", "model": "m", "region": "us"},
]
TENANT = {"x-tenant": "acme"}
RULES = {"rules": [{"match": {"headers": {"x-tenant": "acme"}}, "regions": ["eu"]}]}


async def test_a_rule_keeps_requests_inside_their_regions(
    tmp_path: Path, up: dict[str, FaultyUpstream]
) -> None:
    a, b, c = up["a"], up["b"], up["c"]
    timeouts = {"first_byte": 0.3, "total": 3.0}
    async with gateway(tmp_path, up, MODELS, RULES, timeouts) as gw:
        assert (await chat(gw, "geo")).served_by == "c/m"  # unrestricted: priority
        assert (await chat(gw, "geo", headers=TENANT)).served_by == "a/m"
        a.fault = Fault.error(500)
        assert (await chat(gw, "geo", headers=TENANT, stream=True)).served_by == "b/m"
        b.fault = Fault.hang()  # everything allowed is down now
        for stream in (False, True, False):
            reply = await chat(gw, "geo", headers=TENANT, stream=stream)
            assert reply.status == 503
            assert reply.json["error"]["code"] == "no_healthy_deployment"
            assert "allowed regions (eu)" in reply.json["error"]["message"]
        assert c.requests == 1  # only the unrestricted request ever reached c
        unrestricted = await chat(gw, "geo")
        assert unrestricted.served_by == "c/m"
        reply = await chat(gw, "us-only", headers=TENANT)
        assert reply.status == 503
        assert reply.json["error"]["code"] == "no_deployment_in_region"
    assert c.requests == 2


async def _admin(session: aiohttp.ClientSession, url: str, path: str, body: Any) -> Any:
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    async with session.post(url + path, json=body, headers=headers) as r:
        assert r.status in (200, 201), await r.text()
        return await r.json()


async def test_an_org_policy_restricts_its_keys_to_its_regions(
    tmp_path: Path, up: dict[str, FaultyUpstream]
) -> None:
    up["a"].fault = up["b"].fault = Fault.error(503)
    sections: dict[str, Any] = {"governance": {"reload_interval": 0.1}}
    async with gateway(tmp_path, up, MODELS, **sections) as gw, aiohttp.ClientSession() as s:
        org = await _admin(
            s, gw.url, "/admin/v1/orgs", {"name": "acme", "policy": {"regions": ["eu"]}}
        )
        key = (await _admin(s, gw.url, "/admin/v1/keys", {"name": "k", "org_id": org["id"]}))["key"]
        for _ in range(50):  # the key reaches the gateway's cache
            reply = await chat(gw, "geo", key=key)
            if reply.status != 401:
                break
            await asyncio.sleep(0.05)
        assert reply.status == 503
        assert "allowed regions (eu)" in reply.json["error"]["message"]
        up["b"].fault = Fault.ok()
        assert (await chat(gw, "geo", key=key)).served_by == "b/m"
    assert up["c"].requests == 0
