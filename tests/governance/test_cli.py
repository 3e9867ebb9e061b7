"""`bastion keys|teams|db ...`: on the database directly, or through a gateway's admin API."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml

from bastion.cli import main
from tests.conftest import MASTER_KEY
from tests.governance.helpers import client, governed_gateway, settings, wait_for


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_keys_and_teams_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = f"sqlite:///{tmp_path / 'bastion.db'}"
    config = settings(database, tmp_path)
    config_file = tmp_path / "bastion.yaml"
    config_file.write_text(yaml.safe_dump(config))
    cfg = ("--config", str(config_file))

    def cli(*argv: str) -> tuple[int, str, str]:
        return _cli(capsys, *argv)

    code, out, _ = await asyncio.to_thread(cli, "db", "upgrade", *cfg)
    assert code == 0 and "up to date" in out
    code, out, _ = await asyncio.to_thread(
        cli, "teams", "create", "--name", "ml", "--budget", "5", "--period", "daily", *cfg
    )
    team = json.loads(out)
    assert code == 0 and team["policy"] == {"budget": {"amount_usd": 5.0, "period": "daily"}}

    async with governed_gateway(**config) as gw, client(gw.url) as admin:
        # Direct to the database: the running gateway picks the key up by itself.
        code, out, err = await asyncio.to_thread(
            cli, "keys", "create", "--name", "ci", "--team", team["id"], "--rpm", "5", *cfg
        )
        created = json.loads(out)
        assert code == 0 and "shown only this once" in err
        assert created["policy"] == {"rpm": 5} and created["team_id"] == team["id"]

        async def usable() -> bool:
            return (await admin.as_key(created["key"]).chat())[0] == 200

        await wait_for(usable)

        # Through the admin API.
        http = ("--url", gw.url, "--admin-key", MASTER_KEY)
        code, out, _ = await asyncio.to_thread(cli, "keys", "list", *http)
        assert code == 0 and [k["prefix"] for k in json.loads(out)] == [created["key"][:12]]
        assert created["key"] not in out
        code, out, _ = await asyncio.to_thread(
            cli, "keys", "rotate", created["id"], "--grace", "0", *http
        )
        rotated = json.loads(out)
        assert code == 0 and rotated["key"] != created["key"]
        assert (await admin.as_key(created["key"]).chat())[0] == 401
        code, out, _ = await asyncio.to_thread(cli, "keys", "revoke", created["id"], *http)
        assert code == 0 and json.loads(out)["status"] == "revoked"
        assert (await admin.as_key(rotated["key"]).chat())[0] == 401
        code, out, _ = await asyncio.to_thread(cli, "teams", "spend", team["id"], *http)
        spend = json.loads(out)
        assert code == 0 and spend["budget"]["amount_usd"] == 5.0

        # Bad input and refusals come back as one line on stderr.
        code, _, err = await asyncio.to_thread(
            cli, "teams", "create", "--name", "x", "--rpm", "-3", *http
        )
        assert code == 1 and err.startswith("bastion: 400: policy.rpm:")
        code, _, err = await asyncio.to_thread(
            cli, "keys", "list", "--url", gw.url, "--admin-key", "wrong-key-0123456789"
        )
        assert (code, err.strip()) == (1, "bastion: 401: Invalid API key.")


def test_config_check_names_the_models_without_a_price(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_file = tmp_path / "bastion.yaml"
    config_file.write_text(
        yaml.safe_dump(
            {
                "providers": {"openai": {"api_key": "sk-test-0123456789"}},
                "models": [
                    {"name": "fast", "provider": "openai", "model": "gpt-4o-mini"},
                    {"name": "house", "provider": "openai", "model": "ft:house-model"},
                ],
                "pricing": {"default": {"input": 5, "output": 15}},
            }
        )
    )
    code, out, _ = _cli(capsys, "config", "check", str(config_file))
    assert code == 0
    assert (
        "No known price for: house. The default price applies "
        "($5 input / $15 output per million tokens)"
    ) in out
    assert "fast" not in out.split("No known price for:")[1]
