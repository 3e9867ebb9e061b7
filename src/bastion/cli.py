"""The ``bastion`` command: serve the gateway, check a config file, manage keys and teams."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from bastion import __version__
from bastion.accounting.commands import register as register_accounting_commands
from bastion.accounting.pricing import unpriced_models
from bastion.config import ConfigError, GatewayConfig, load_config
from bastion.governance.auth import MASTER_HASH_ENV, default_data_dir, resolve_master_key
from bastion.governance.commands import register as register_governance_commands
from bastion.observability.settings import MULTIPROC_ENV
from bastion.providers.echo import ECHO_MODEL
from bastion.store.database import Database, async_url

DEFAULT_CONFIG_NAME = "bastion.yaml"


def _config_path(arg: str | None) -> str | None:
    """--config, else $BASTION_CONFIG, else ./bastion.yaml when present, else none (discover)."""
    if arg:
        return arg
    if os.environ.get("BASTION_CONFIG"):
        return os.environ["BASTION_CONFIG"]
    return DEFAULT_CONFIG_NAME if Path(DEFAULT_CONFIG_NAME).is_file() else None


def _load(path: str | None) -> GatewayConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"bastion: the configuration has {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {exc.source}: {problem}", file=sys.stderr)
        raise SystemExit(2) from None


def _share_metrics(data_dir: Path, port: int) -> None:
    """Several workers: each keeps its metrics in files of one directory, and a scrape
    of any worker sums them (prometheus-client's multiprocess mode)."""
    if os.environ.get(MULTIPROC_ENV):
        return
    directory = data_dir / "metrics" / str(port)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):  # a previous run's values
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(directory)


def cmd_serve(args: argparse.Namespace) -> int:
    path = _config_path(args.config)
    config = _load(path)
    host = args.host or config.server.host
    port = args.port if args.port is not None else config.server.port
    workers = args.workers or config.server.workers
    data_dir = default_data_dir(config)
    try:
        master = resolve_master_key(config, data_dir)
    except (OSError, ValueError) as exc:
        print(f"bastion: cannot set up the master key: {exc}", file=sys.stderr)
        return 2

    out = sys.stderr
    print(f"Bastion {__version__}", file=out)
    if master.generated:
        print(
            "\n  A master (admin) key was generated. It is shown only this once; store it safely:\n\n"
            f"    {master.generated}\n\n"
            f"  Only its SHA-256 is kept, in {master.stored_at}. Set BASTION_MASTER_KEY to use your own.\n",
            file=out,
        )
    elif master.source == "stored":
        print(
            f"  Master key: the one generated earlier (its hash is in {master.stored_at}).",
            file=out,
        )
    if config.providers:
        origin = "from the environment" if config.discovered else f"from {path}"
        print(f"  Providers ({origin}): {', '.join(sorted(config.providers))}", file=out)
        print(
            "  Use models as 'provider/model' (e.g. openai/gpt-4o-mini)"
            + (
                f" or the aliases: {', '.join(sorted({m.name for m in config.models}))}"
                if config.models
                else ""
            ),
            file=out,
        )
    else:
        print(
            "\n  No provider is configured, so only the built-in test model "
            f"'{ECHO_MODEL}' is served (it echoes your message back).\n"
            "  To add a provider, set its API key (e.g. OPENAI_API_KEY, ANTHROPIC_API_KEY, MISTRAL_API_KEY)\n"
            "  or write a bastion.yaml (see docs/configuration.md) and restart.\n",
            file=out,
        )
    print(f"  Listening on http://{host}:{port}  (workers: {workers})", file=out)

    # Migrate once here, so that workers starting together do not race to do it.
    try:
        asyncio.run(_migrate(config, data_dir))
    except Exception as exc:
        print(f"bastion: cannot prepare the database: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2

    # Workers re-create the app from the environment: same config, same master key.
    if path:
        os.environ["BASTION_CONFIG"] = str(Path(path).resolve())
    os.environ[MASTER_HASH_ENV] = master.digest
    if workers > 1 and config.observability.metrics.enabled:
        _share_metrics(data_dir, port)

    import uvicorn

    uvicorn.run(
        "bastion.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        server_header=False,
        log_level=args.log_level,
        timeout_graceful_shutdown=30,
    )
    return 0


async def _migrate(config: GatewayConfig, data_dir: Path) -> None:
    url = config.database_url.get_secret_value() if config.database_url else None
    database = Database(async_url(url, data_dir))
    try:
        await database.upgrade()
    finally:
        await database.close()


def cmd_config_check(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"{exc.source}: {problem}")
        print(f"{len(exc.problems)} problem(s) found.")
        return 1
    print(
        f"{args.file}: OK ({len(config.providers)} provider(s), {len(config.models)} model alias(es))."
    )
    unpriced = unpriced_models(config)
    if unpriced:
        d = config.pricing.default
        print(
            f"  No known price for: {', '.join(unpriced)}. The default price applies "
            f"(${d.input:g} input / ${d.output:g} output per million tokens) to budgets only: "
            "their cost is recorded as unknown. Set pricing.models or the model's price: "
            "in the config to give theirs."
        )
    if config.server.workers > 1 and config.redis_url is None:
        print(
            "  Rate limits and budgets are counted per worker process: "
            "set redis_url to share them across workers and replicas."
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bastion", description="Bastion, a self-hosted LLM gateway."
    )
    parser.add_argument("--version", action="version", version=f"bastion {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument(
        "--config",
        help=f"config file (default: $BASTION_CONFIG, else ./{DEFAULT_CONFIG_NAME} if present)",
    )
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 4000)")
    serve.add_argument("--workers", type=int, help="worker processes (default 1)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(func=cmd_serve)

    config = sub.add_parser("config", help="configuration tools")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser("check", help="validate a config file and list every problem")
    check.add_argument("file")
    check.set_defaults(func=cmd_config_check)

    register_governance_commands(sub, lambda path: _load(_config_path(path)))
    register_accounting_commands(sub, lambda path: _load(_config_path(path)))
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
