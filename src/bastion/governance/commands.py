"""The governance commands of the CLI: ``bastion keys|teams|users|orgs|apps ...`` and ``bastion db``.

Each command talks to a running gateway's admin API when ``--url`` (or
``BASTION_URL``) is given, with ``--admin-key`` (or ``BASTION_ADMIN_KEY``,
else ``BASTION_MASTER_KEY``); otherwise it works on the database directly
(the config's ``database_url``, or SQLite in the data directory) as a global
admin, and running gateways pick the change up within ``reload_interval``
(at once when Redis is configured). Output is JSON; a new key is printed once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from bastion.config import GatewayConfig
from bastion.errors import GatewayError
from bastion.governance.auth import MASTER, default_data_dir
from bastion.governance.records import EntityIn, EntityPatch, KeyIn, KeyPatch, RotateIn
from bastion.governance.service import GovernanceService
from bastion.store.bus import Bus, NullBus, RedisBus
from bastion.store.database import Database, async_url, describe
from bastion.store.governance_store import GovernanceStore
from bastion.store.redis_counters import connect

LoadConfig = Callable[[str | None], GatewayConfig]
_PLURAL = {"org": "orgs", "team": "teams", "user": "users", "app": "apps"}


def register(sub: Any, load_config: LoadConfig) -> None:
    """Add the commands to the ``bastion`` parser (``sub`` is its subparsers object)."""
    db = sub.add_parser("db", help="the governance database")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_sub.add_parser("upgrade", help="apply the migrations (also done at start-up)")
    upgrade.add_argument("--config")
    upgrade.set_defaults(func=lambda a: _db_upgrade(a, load_config))

    keys = sub.add_parser("keys", help="virtual keys").add_subparsers(dest="action", required=True)
    create = _common(keys.add_parser("create", help="create a key (shown once)"))
    create.add_argument("--name", required=True)
    for owner in ("org", "team", "user", "app"):
        create.add_argument(f"--{owner}", dest=f"{owner}_id")
    create.add_argument("--role", choices=["user", "admin", "viewer"], default="user")
    create.add_argument("--expires-in", type=int, dest="expires_in", help="seconds")
    _policy_flags(create)
    _common(keys.add_parser("list", help="list keys (by prefix)"))
    for action, text in (("revoke", "revoke a key"), ("spend", "spend and budget left")):
        _common(keys.add_parser(action, help=text)).add_argument("id")
    rotate = _common(keys.add_parser("rotate", help="new key value; the old one works a while"))
    rotate.add_argument("id")
    rotate.add_argument("--grace", type=int, default=3600, help="seconds (default 3600)")
    update = _common(keys.add_parser("update", help="change a key's policy"))
    update.add_argument("id")
    _policy_flags(update)
    for action in ("create", "list", "revoke", "spend", "rotate", "update"):
        keys.choices[action].set_defaults(func=lambda a: _run(a, load_config, "key"))

    for kind, plural in _PLURAL.items():
        group = sub.add_parser(plural, help=f"{plural}").add_subparsers(
            dest="action", required=True
        )
        create = _common(group.add_parser("create"))
        create.add_argument("--name", required=True)
        if kind != "org":
            create.add_argument("--org", dest="org_id")
        if kind == "user":
            create.add_argument("--team", dest="team_id")
            create.add_argument("--email")
        _policy_flags(create)
        _common(group.add_parser("list"))
        for action in ("get", "spend", "delete"):
            _common(group.add_parser(action)).add_argument("id")
        update = _common(group.add_parser("update", help="change the policy or name"))
        update.add_argument("id")
        update.add_argument("--name")
        _policy_flags(update)
        for action in group.choices:
            group.choices[action].set_defaults(func=lambda a, k=kind: _run(a, load_config, k))


def _common(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--config", help="config file (direct database access)")
    parser.add_argument("--url", default=os.environ.get("BASTION_URL"), help="a gateway's URL")
    parser.add_argument("--admin-key", dest="admin_key", help="default: $BASTION_ADMIN_KEY")
    return parser


def _policy_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", help="allowed models, comma-separated; '*' wildcards")
    parser.add_argument("--endpoints", help="allowed endpoints: chat,embeddings")
    parser.add_argument("--max-tokens", type=int, dest="max_tokens")
    parser.add_argument("--rpm", type=int, help="requests per minute")
    parser.add_argument("--tpm", type=int, help="tokens per minute")
    parser.add_argument("--max-concurrent", type=int, dest="max_concurrent")
    parser.add_argument("--budget", type=float, help="USD per period")
    parser.add_argument("--period", choices=["daily", "weekly", "monthly", "total"])
    parser.add_argument(
        "--body-logging",
        dest="body_logging",
        choices=["off", "metadata", "on"],
        help="what the audit trail keeps of bodies",
    )
    parser.add_argument("--metadata", help="a JSON object")


def _policy(args: argparse.Namespace) -> dict[str, Any] | None:
    policy: dict[str, Any] = {}
    if args.models:
        policy["models"] = [m.strip() for m in args.models.split(",") if m.strip()]
    if args.endpoints:
        policy["endpoints"] = [e.strip() for e in args.endpoints.split(",") if e.strip()]
    for name in ("max_tokens", "rpm", "tpm", "max_concurrent", "body_logging"):
        if getattr(args, name) is not None:
            policy[name] = getattr(args, name)
    if args.budget is not None:
        policy["budget"] = {"amount_usd": args.budget, "period": args.period or "monthly"}
    return policy or None


def _body(args: argparse.Namespace, kind: str) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name in ("name", "org_id", "team_id", "user_id", "app_id", "email"):
        if getattr(args, name, None) is not None:
            body[name] = getattr(args, name)
    if kind == "key" and args.action == "create":
        body["role"] = args.role
        if args.expires_in is not None:
            body["expires_in_seconds"] = args.expires_in
    policy = _policy(args) if hasattr(args, "rpm") else None
    if policy is not None:
        body["policy"] = policy
    if getattr(args, "metadata", None):
        body["metadata"] = json.loads(args.metadata)
    return body


def _print(value: Any) -> None:
    if isinstance(value, BaseModel):
        value = value.model_dump()
    elif isinstance(value, list):
        value = [v.model_dump() if isinstance(v, BaseModel) else v for v in value]
    print(json.dumps(value, indent=2))
    if isinstance(value, dict) and "key" in value and str(value["key"]).startswith("bst-"):
        print("\nThe key is shown only this once; store it safely.", file=sys.stderr)


def _run(args: argparse.Namespace, load_config: LoadConfig, kind: str) -> int:
    try:
        body = _body(args, kind)
        if args.url:
            result = _over_http(args, kind, body)
        else:
            result = asyncio.run(_direct(args, load_config(args.config), kind, body))
    except GatewayError as error:
        print(f"bastion: {error.status}: {error.message}", file=sys.stderr)
        return 1
    except ValidationError as error:
        for problem in error.errors():
            where = ".".join(str(p) for p in problem["loc"])
            print(f"bastion: {where}: {problem['msg']}", file=sys.stderr)
        return 1
    except (json.JSONDecodeError, OSError, ValueError) as error:
        print(f"bastion: {error}", file=sys.stderr)
        return 1
    if result is not None:
        _print(result)
    return 0


def _route(kind: str, action: str, id: str | None) -> tuple[str, str]:
    base = "/admin/v1/" + ("keys" if kind == "key" else _PLURAL[kind])
    return {
        "create": ("POST", base),
        "list": ("GET", base),
        "get": ("GET", f"{base}/{id}"),
        "update": ("PATCH", f"{base}/{id}"),
        "delete": ("DELETE", f"{base}/{id}"),
        "spend": ("GET", f"{base}/{id}/spend"),
        "revoke": ("POST", f"{base}/{id}/revoke"),
        "rotate": ("POST", f"{base}/{id}/rotate"),
    }[action]


def _over_http(args: argparse.Namespace, kind: str, body: dict[str, Any]) -> Any:
    key = (
        args.admin_key
        or os.environ.get("BASTION_ADMIN_KEY")
        or os.environ.get("BASTION_MASTER_KEY")
    )
    if not key:
        raise ValueError("give --admin-key (or set BASTION_ADMIN_KEY) to use --url")
    method, path = _route(kind, args.action, getattr(args, "id", None))
    if args.action == "rotate":
        body = {"grace_seconds": args.grace}
    data = json.dumps(body).encode() if method in ("POST", "PATCH") else None
    request = urllib.request.Request(
        args.url.rstrip("/") + path,
        data=data,
        method=method,
        headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
    except urllib.error.HTTPError as error:
        payload = json.loads(error.read() or b"{}")
        message = payload.get("error", {}).get("message", error.reason)
        raise GatewayError(error.code, message) from None
    return json.loads(text) if text else None


async def _direct(
    args: argparse.Namespace, config: GatewayConfig, kind: str, body: dict[str, Any]
) -> Any:
    url = config.database_url.get_secret_value() if config.database_url else None
    database = Database(async_url(url, default_data_dir(config)))
    bus: Bus = NullBus()
    client = connect(config.redis_url.get_secret_value()) if config.redis_url else None
    if client is not None:
        bus = RedisBus(client, config.governance.redis_prefix)
    try:
        await database.upgrade()
        service = GovernanceService(
            GovernanceStore(database), None, bus.publish, config.guardrails.policies
        )
        return await _call(service, args, kind, body)
    finally:
        await database.close()
        if client is not None:
            await client.aclose()


async def _call(
    service: GovernanceService, args: argparse.Namespace, kind: str, body: dict[str, Any]
) -> Any:
    action, id = args.action, str(getattr(args, "id", ""))
    calls: dict[str, Callable[[], Awaitable[Any]]]
    if kind == "key":
        calls = {
            "create": lambda: service.create_key(MASTER, KeyIn.model_validate(body)),
            "list": lambda: service.list_keys(MASTER),
            "revoke": lambda: service.revoke_key(MASTER, id),
            "rotate": lambda: service.rotate_key(MASTER, id, RotateIn(grace_seconds=args.grace)),
            "update": lambda: service.update_key(MASTER, id, KeyPatch.model_validate(body)),
            "spend": lambda: service.spend(MASTER, "key", id),
        }
    else:
        entity: Any = kind
        calls = {
            "create": lambda: service.create(MASTER, entity, EntityIn.model_validate(body)),
            "list": lambda: service.list_entities(MASTER, entity),
            "get": lambda: service.get(MASTER, entity, id),
            "update": lambda: service.update(MASTER, entity, id, EntityPatch.model_validate(body)),
            "delete": lambda: service.delete(MASTER, entity, id),
            "spend": lambda: service.spend(MASTER, entity, id),
        }
    return await calls[action]()


def _db_upgrade(args: argparse.Namespace, load_config: LoadConfig) -> int:
    config = load_config(args.config)
    url = async_url(
        config.database_url.get_secret_value() if config.database_url else None,
        default_data_dir(config),
    )

    async def run() -> None:
        database = Database(url)
        try:
            await database.upgrade()
        finally:
            await database.close()

    asyncio.run(run())
    print(f"The database is up to date ({describe(url)}).")
    return 0
