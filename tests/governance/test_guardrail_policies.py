"""Governance policies naming guardrail policies (issue 7's attachment to org, team, key...).

A virtual key's guardrails are the union of what every level of its chain names;
the admin API refuses names the config does not define, and ``/v1/key/info``
shows the key's list.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio

from bastion.governance.policy import PolicySpec, resolve
from tests.conftest import RunningGateway, gateway_config, run_gateway
from tests.fakes.openai_upstream import FakeOpenAI
from tests.governance.helpers import client

EMAIL = "jane.doe@example.com"
GUARDRAILS: dict[str, Any] = {
    "policies": {
        "redact-email": {"rules": [{"detectors": ["email"], "action": "redact"}]},
        "no-cards": {"rules": [{"detectors": ["credit_card"], "action": "block"}]},
        "unused": {"rules": [{"detectors": ["phone"], "action": "record"}]},
    }
}


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    upstream = FakeOpenAI()
    await upstream.start()
    yield upstream
    await upstream.stop()


@pytest_asyncio.fixture
async def gw(fake: FakeOpenAI, tmp_path: Path) -> AsyncIterator[RunningGateway]:
    config = gateway_config(
        database_url=f"sqlite:///{tmp_path / 'bastion.db'}",
        server={"data_dir": str(tmp_path / "data")},
        governance={"reload_interval": 0.2},
        providers={
            "up": {"kind": "openai", "base_url": fake.url, "api_key": "sk-fake-upstream-key"}
        },
        models=[{"name": "gpt-test", "provider": "up", "model": "gpt-4o-mini"}],
        guardrails=GUARDRAILS,
    )
    async with run_gateway(config) as running:
        yield running


def _chat(text: str) -> dict[str, Any]:
    return {"model": "gpt-test", "messages": [{"role": "user", "content": text}]}


async def test_a_team_policy_naming_a_guardrail_policy_redacts_its_keys_requests(
    gw: RunningGateway, fake: FakeOpenAI
) -> None:
    async with client(gw.url) as admin:
        team = await admin.ok(
            "POST",
            "/admin/v1/teams",
            {"name": "support", "policy": {"guardrails": ["redact-email"]}},
        )
        key = await admin.ok(
            "POST",
            "/admin/v1/keys",
            {"name": "agent", "team_id": team["id"], "policy": {"guardrails": ["no-cards"]}},
        )
        other = await admin.ok("POST", "/admin/v1/keys", {"name": "outside"})
        user, outsider = admin.as_key(key["key"]), admin.as_key(other["key"])

        status, _, _ = await user.call("POST", "/v1/chat/completions", _chat(f"mail {EMAIL} now"))
        assert status == 200
        sent = fake.requests[-1].json["messages"][0]["content"]
        assert EMAIL not in sent and sent.startswith("mail ") and sent.endswith(" now")

        # The key's own list adds to its team's: both apply.
        status, error, _ = await user.call(
            "POST", "/v1/chat/completions", _chat("card 4111 1111 1111 1111")
        )
        assert status == 400, error
        # A key outside the team is untouched.
        status, _, _ = await outsider.call("POST", "/v1/chat/completions", _chat(f"mail {EMAIL}"))
        assert status == 200
        assert fake.requests[-1].json["messages"][0]["content"] == f"mail {EMAIL}"

        info = await user.ok("GET", "/v1/key/info")
        assert info["guardrails"] == ["redact-email", "no-cards"]  # the team's first
        assert (await outsider.ok("GET", "/v1/key/info"))["guardrails"] == []


async def test_unknown_guardrail_names_are_refused_on_every_write(gw: RunningGateway) -> None:
    async with client(gw.url) as admin:
        bad = {"guardrails": ["redact-email", "no-such-policy"]}
        status, error, _ = await admin.call("POST", "/admin/v1/teams", {"name": "t", "policy": bad})
        assert status == 400
        assert error["error"]["param"] == "policy.guardrails"
        message = error["error"]["message"]
        assert "'no-such-policy'" in message
        assert "unused" not in message and "'redact-email'" not in message  # nothing listed

        status, error, _ = await admin.call("POST", "/admin/v1/keys", {"name": "k", "policy": bad})
        assert (status, error["error"]["param"]) == (400, "policy.guardrails")
        key = await admin.ok("POST", "/admin/v1/keys", {"name": "k"})
        status, error, _ = await admin.call("PATCH", f"/admin/v1/keys/{key['id']}", {"policy": bad})
        assert (status, error["error"]["param"]) == (400, "policy.guardrails")
        org = await admin.ok("POST", "/admin/v1/orgs", {"name": "o"})
        status, error, _ = await admin.call("PATCH", f"/admin/v1/orgs/{org['id']}", {"policy": bad})
        assert (status, error["error"]["param"]) == (400, "policy.guardrails")

        # The field is in the admin API's schema.
        schema = await admin.ok("GET", "/admin/openapi.json")
        assert "guardrails" in schema["components"]["schemas"]["PolicySpec"]["properties"]


def test_guardrails_are_the_union_of_the_chain_org_first_each_once() -> None:
    policy = resolve(
        [
            ("org", "o", PolicySpec(guardrails=["a", "b"])),
            ("team", "t", PolicySpec()),
            ("key", "k", PolicySpec(guardrails=["c", "a"])),
        ]
    )
    assert policy.guardrails == ("a", "b", "c")
