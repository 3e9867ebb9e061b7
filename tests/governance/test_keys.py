"""Virtual keys through a real gateway, on SQLite and on PostgreSQL: lifecycle and refusals."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from bastion.store.database import async_url
from tests.conftest import CLIENT_KEY
from tests.governance.helpers import client, governed_gateway, settings, wait_for


async def test_key_lifecycle_create_use_rotate_revoke_expire(
    database: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with governed_gateway(**settings(database, tmp_path)) as gw, client(gw.url) as admin:
        team = await admin.ok("POST", "/admin/v1/teams", {"name": "research"})
        created = await admin.ok(
            "POST",
            "/admin/v1/keys",
            {"name": "notebook", "team_id": team["id"], "metadata": {"owner": "ada"}},
        )
        key = created["key"]
        assert key.startswith("bst-") and len(key) > 40
        assert created["prefix"] == key[:12] and created["status"] == "active"
        assert created["team_id"] == team["id"] and created["metadata"] == {"owner": "ada"}

        # Listed by prefix; the key itself is never shown again.
        listed = await admin.ok("GET", f"/admin/v1/keys?team_id={team['id']}")
        assert [k["prefix"] for k in listed] == [key[:12]]
        assert "key" not in listed[0] and key not in str(listed)
        got = await admin.ok("GET", f"/admin/v1/keys/{created['id']}")
        assert "key" not in got

        user = admin.as_key(key)
        status, reply, _ = await user.chat(words=3)
        assert status == 200 and reply["choices"][0]["message"]["content"] == "word word word"

        # Rotation: a new value; the old one keeps working for the grace period.
        rotated = await admin.ok(
            "POST", f"/admin/v1/keys/{created['id']}/rotate", {"grace_seconds": 1}
        )
        new_key = rotated["key"]
        assert new_key != key and rotated["id"] == created["id"]
        assert rotated["prefix"] == new_key[:12] and rotated["previous_key_valid_until"]
        assert (await user.chat())[0] == 200
        assert (await admin.as_key(new_key).chat())[0] == 200
        await asyncio.sleep(1.05)
        status, error, _ = await user.chat()
        assert status == 401 and error["error"]["code"] == "invalid_api_key"
        assert (await admin.as_key(new_key).chat())[0] == 200

        # Revocation takes effect at once.
        revoked = await admin.ok("POST", f"/admin/v1/keys/{created['id']}/revoke")
        assert revoked["status"] == "revoked"
        status, error, _ = await admin.as_key(new_key).chat()
        assert (status, error["error"]["message"]) == (401, "This API key has been revoked.")

        # Expiry: a key that expires in a moment.
        short = await admin.ok("POST", "/admin/v1/keys", {"name": "short-lived"})
        deadline = time.time() + 1.0
        soon = datetime.fromtimestamp(deadline, UTC).isoformat()
        await admin.ok("PATCH", f"/admin/v1/keys/{short['id']}", {"expires_at": soon})
        assert (await admin.as_key(short["key"]).chat())[0] == 200
        await asyncio.sleep(max(deadline - time.time(), 0) + 0.05)
        status, error, _ = await admin.as_key(short["key"]).chat()
        assert (status, error["error"]["message"]) == (401, "This API key has expired.")
        listed = await admin.ok("GET", "/admin/v1/keys")
        assert {k["id"]: k["status"] for k in listed}[short["id"]] == "expired"

        # The master key and static keys work as before.
        assert (await admin.chat())[0] == 200
        assert (await admin.as_key(CLIENT_KEY).chat())[0] == 200

    # The database holds digests and prefixes, never a key in clear.
    engine = create_async_engine(async_url(database))
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.text("SELECT * FROM keys"))).all()
        ledger = (await conn.execute(sa.text("SELECT * FROM spend_ledger"))).all()
    await engine.dispose()
    dump = repr(rows) + repr(ledger)
    for value in (key, new_key, short["key"]):
        assert value not in dump and value[12:] not in dump
    assert new_key[:12] in dump  # the prefix is there, to recognise keys by
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for value in (key, new_key, short["key"]):
        assert value not in logged


async def test_unknown_keys_models_not_allowed_and_admin_calls_are_refused(
    database: str, tmp_path: Path
) -> None:
    hidden = {
        "providers": {"up": {"kind": "openai_compatible", "base_url": "http://127.0.0.1:9"}},
        "models": [{"name": "secret-model", "provider": "up", "model": "x"}],
    }
    async with (
        governed_gateway(**settings(database, tmp_path, **hidden)) as gw,
        client(gw.url) as admin,
    ):
        created = await admin.ok(
            "POST", "/admin/v1/keys", {"name": "narrow", "policy": {"models": ["bastion/*"]}}
        )
        user = admin.as_key(created["key"])
        # /v1/models lists only what the key may use.
        listed = await user.ok("GET", "/v1/models")
        assert [m["id"] for m in listed["data"]] == ["bastion/echo"]
        listed = await admin.ok("GET", "/v1/models")
        assert sorted(m["id"] for m in listed["data"]) == ["bastion/echo", "secret-model"]

        status, error, _ = await admin.as_key("bst-not-a-key-0123456789abcdef").chat()
        assert status == 401
        assert error["error"] == {
            "message": "Invalid API key.",
            "type": "authentication_error",
            "param": None,
            "code": "invalid_api_key",
        }

        # 403 naming only the model asked for, whether it exists or not.
        for model in ("openai/gpt-4o", "no-such-model"):
            status, error, _ = await user.chat(model=model)
            assert status == 403
            assert error["error"] == {
                "message": f"This key is not allowed to use the model '{model}'.",
                "type": "permission_error",
                "param": "model",
                "code": "model_not_allowed",
            }

        status, error, _ = await user.call("GET", "/admin/v1/keys")
        assert status == 403 and error["error"]["code"] == "permission_denied"
        status, error, _ = await admin.as_key(CLIENT_KEY).call(
            "POST", "/admin/v1/teams", {"name": "x"}
        )
        assert status == 403
        status, error, _ = await admin.as_key("wrong-key-0123456789").call("GET", "/admin/v1/keys")
        assert status == 401

        # Negative or absurd budgets and limits: 400, naming the field.
        for policy, field in (
            ({"budget": {"amount_usd": -10}}, "policy.budget.amount_usd"),
            ({"rpm": 0}, "policy.rpm"),
            ({"max_concurrent": 10**9}, "policy.max_concurrent"),
        ):
            status, error, _ = await admin.call(
                "POST", "/admin/v1/teams", {"name": "bad", "policy": policy}
            )
            assert status == 400 and error["error"]["param"] == field, error
        status, error, _ = await admin.call(
            "POST", "/admin/v1/keys", {"name": "x", "team_id": "team_nope"}
        )
        assert (status, error["error"]["param"]) == (400, "team_id")

        # max_tokens above the key's limit: 400.
        limited = await admin.ok(
            "POST", "/admin/v1/keys", {"name": "m", "policy": {"max_tokens": 8}}
        )
        status, error, _ = await admin.as_key(limited["key"]).chat(max_tokens=9)
        assert (status, error["error"]["code"]) == (400, "max_tokens_exceeded")
        assert (await admin.as_key(limited["key"]).chat(max_tokens=8))[0] == 200

        # The admin API is described in its OpenAPI schema.
        status, schema, _ = await admin.call("GET", "/admin/openapi.json")
        assert status == 200
        assert {
            "/admin/v1/keys",
            "/admin/v1/keys/{key_id}/rotate",
            "/admin/v1/teams/{id}/spend",
        } <= set(schema["paths"])


async def test_an_org_admin_manages_only_its_own_org(database: str, tmp_path: Path) -> None:
    async with governed_gateway(**settings(database, tmp_path)) as gw, client(gw.url) as admin:
        acme = await admin.ok("POST", "/admin/v1/orgs", {"name": f"acme-{time.time_ns()}"})
        globex = await admin.ok("POST", "/admin/v1/orgs", {"name": f"globex-{time.time_ns()}"})
        other_team = await admin.ok(
            "POST", "/admin/v1/teams", {"name": "g", "org_id": globex["id"]}
        )
        org_admin_key = await admin.ok(
            "POST", "/admin/v1/keys", {"name": "acme-admin", "org_id": acme["id"], "role": "admin"}
        )
        org_admin = admin.as_key(org_admin_key["key"])

        team = await org_admin.ok("POST", "/admin/v1/teams", {"name": "acme-team"})
        assert team["org_id"] == acme["id"]  # placed in its own org
        teams = await org_admin.ok("GET", "/admin/v1/teams")
        assert [t["id"] for t in teams] == [team["id"]]
        status, _, _ = await org_admin.call("GET", f"/admin/v1/teams/{other_team['id']}")
        assert status == 404
        status, _, _ = await org_admin.call("POST", "/admin/v1/orgs", {"name": "mine"})
        assert status == 403
        # Its organisation's policy is its ceiling: only a global admin changes it.
        raise_budget = {"policy": {"budget": {"amount_usd": 10**5}}}
        status, _, _ = await org_admin.call("PATCH", f"/admin/v1/orgs/{acme['id']}", raise_budget)
        assert status == 403
        assert (await org_admin.call("DELETE", f"/admin/v1/orgs/{acme['id']}"))[0] == 403
        status, _, _ = await org_admin.call(
            "POST", "/admin/v1/teams", {"name": "x", "org_id": globex["id"]}
        )
        assert status == 403
        status, _, _ = await org_admin.call(
            "POST", "/admin/v1/keys", {"name": "x", "team_id": other_team["id"]}
        )
        assert status == 400  # no such team in its org
        key = await org_admin.ok("POST", "/admin/v1/keys", {"name": "dev", "team_id": team["id"]})
        assert key["org_id"] == acme["id"]
        spend = await org_admin.ok("GET", f"/admin/v1/orgs/{acme['id']}/spend")
        assert spend["scope_id"] == acme["id"]
        status, _, _ = await org_admin.call("GET", f"/admin/v1/orgs/{globex['id']}/spend")
        assert status == 404
        # A team a key still refers to cannot be deleted; an unused one can.
        status, error, _ = await org_admin.call("DELETE", f"/admin/v1/teams/{team['id']}")
        assert (status, error["error"]["code"]) == (409, "conflict")
        spare = await org_admin.ok("POST", "/admin/v1/teams", {"name": "spare"})
        status, _, _ = await org_admin.call("DELETE", f"/admin/v1/teams/{spare['id']}")
        assert status == 204
        assert (await org_admin.call("GET", f"/admin/v1/teams/{spare['id']}"))[0] == 404


async def test_a_policy_change_takes_effect_within_a_second(database: str, tmp_path: Path) -> None:
    async with governed_gateway(**settings(database, tmp_path)) as gw, client(gw.url) as admin:
        team = await admin.ok("POST", "/admin/v1/teams", {"name": "t"})
        key = await admin.ok("POST", "/admin/v1/keys", {"name": "k", "team_id": team["id"]})
        user = admin.as_key(key["key"])
        assert (await user.chat())[0] == 200
        await admin.ok(
            "PATCH", f"/admin/v1/teams/{team['id']}", {"policy": {"models": ["other/*"]}}
        )

        async def refused() -> bool:
            return (await user.chat())[0] == 403

        assert await wait_for(refused) < 1.0
