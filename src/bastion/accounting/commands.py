"""The accounting and audit commands of the CLI.

    bastion spend --by team[,model,...] --since 30d [--until ...] [--period day] [--format csv]
    bastion audit verify
    bastion audit export --since 2026-11-01 [--until ...] --format jsonl [--output FILE]

Like the governance commands, each works on the database directly (the config's
``database_url``, or SQLite in the data directory), or on a running gateway's
admin API with ``--url`` (or ``BASTION_URL``) and ``--admin-key``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import IO, Any

from bastion.accounting.reports import Report, ReportService, parse_time, to_csv
from bastion.config import GatewayConfig
from bastion.errors import GatewayError
from bastion.governance.auth import default_data_dir
from bastion.observability import audit_jobs
from bastion.observability.audit_chain import Hasher
from bastion.store.audit_store import AuditStore
from bastion.store.database import Database, async_url
from bastion.store.ledger_store import DIMENSIONS, LedgerStore

LoadConfig = Callable[[str | None], GatewayConfig]


def register(sub: Any, load_config: LoadConfig) -> None:
    """Add ``spend`` and ``audit`` to the ``bastion`` parser."""
    spend = _common(sub.add_parser("spend", help="spend report from the ledger"))
    spend.add_argument(
        "--by", default="", help=f"group by, comma-separated: {','.join(DIMENSIONS)}"
    )
    spend.add_argument("--since", default="30d", help="30d, 12h, 2w or an ISO date (default 30d)")
    spend.add_argument("--until", help="default: now")
    spend.add_argument("--period", choices=["none", "hour", "day", "month"], default="none")
    spend.add_argument("--org", help="only this organisation")
    spend.add_argument("--format", choices=["table", "json", "csv"], default="table")
    spend.set_defaults(func=lambda a: _run(a, load_config, _spend))

    audit = sub.add_parser("audit", help="the audit trail").add_subparsers(
        dest="audit_command", required=True
    )
    verify = _common(audit.add_parser("verify", help="check every chain and digest"))
    verify.set_defaults(func=lambda a: _run(a, load_config, _verify))
    export = _common(audit.add_parser("export", help="records with their hashes"))
    export.add_argument("--since", help="30d, 12h or an ISO date (default: all)")
    export.add_argument("--until")
    export.add_argument("--format", choices=["jsonl"], default="jsonl")
    export.add_argument("--output", help="a file (default: standard output)")
    export.set_defaults(func=lambda a: _run(a, load_config, _export))


def _common(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--config", help="config file (direct database access)")
    parser.add_argument("--url", default=os.environ.get("BASTION_URL"), help="a gateway's URL")
    parser.add_argument("--admin-key", dest="admin_key", help="default: $BASTION_ADMIN_KEY")
    return parser


Command = Callable[[argparse.Namespace, GatewayConfig | None], Any]


def _run(args: argparse.Namespace, load_config: LoadConfig, command: Command) -> int:
    try:
        config = None if args.url else load_config(args.config)
        result: int = asyncio.run(command(args, config))
    except GatewayError as error:
        print(f"bastion: {error.status}: {error.message}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as error:
        print(f"bastion: {error}", file=sys.stderr)
        return 1
    return result


def _database(config: GatewayConfig) -> Database:
    url = config.database_url.get_secret_value() if config.database_url else None
    return Database(async_url(url, default_data_dir(config)))


def _http(args: argparse.Namespace, path: str, query: dict[str, str | None]) -> bytes:
    key = (
        args.admin_key
        or os.environ.get("BASTION_ADMIN_KEY")
        or os.environ.get("BASTION_MASTER_KEY")
    )
    if not key:
        raise ValueError("give --admin-key (or set BASTION_ADMIN_KEY) to use --url")
    params = urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
    request = urllib.request.Request(
        f"{args.url.rstrip('/')}{path}?{params}", headers={"authorization": f"Bearer {key}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as error:
        payload = json.loads(error.read() or b"{}")
        message = payload.get("error", {}).get("message", error.reason)
        raise GatewayError(error.code, message) from None


# --- bastion spend -----------------------------------------------------------------------


async def _spend(args: argparse.Namespace, config: GatewayConfig | None) -> int:
    by = [b.strip() for b in args.by.split(",") if b.strip()]
    if config is None:
        query = {"by": ",".join(by), "period": args.period, "since": args.since}
        query |= {"until": args.until, "org_id": args.org}
        report = Report.model_validate_json(_http(args, "/admin/v1/reports/spend", query))
    else:
        database = _database(config)
        try:
            await database.upgrade()
            service = ReportService(LedgerStore(database))
            report = await service.report(None, by, args.period, args.since, args.until, args.org)
        finally:
            await database.close()
    if args.format == "json":
        print(report.model_dump_json(indent=2))
    elif args.format == "csv":
        sys.stdout.write(to_csv(report))
    else:
        _table(report, sys.stdout)
    return 0


_TABLE = ("requests", "errors", "spend_usd", "prompt_tokens", "completion_tokens", "satisfaction")


def _table(report: Report, out: IO[str]) -> None:
    head = [*report.by, *(["period_start"] if report.period != "none" else []), *_TABLE]
    rows = [[_cell(row.get(c)) for c in head] for row in report.rows]
    rows.append(
        ["total", *[""] * (len(head) - len(_TABLE) - 1), *(_cell(report.totals[c]) for c in _TABLE)]
    )
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(head)]
    print(f"Spend from {report.since} to {report.until}", file=out)
    print("  ".join(c.ljust(w) for c, w in zip(head, widths, strict=True)), file=out)
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)), file=out)
    unpriced = report.totals.get("unpriced_requests") or 0
    if unpriced:
        print(f"({unpriced} request(s) to models without a price are not in spend_usd)", file=out)


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


# --- bastion audit ------------------------------------------------------------------------


def _hasher(config: GatewayConfig) -> Hasher:
    key = config.audit.key
    return Hasher(key.get_secret_value().encode() if key is not None else None)


async def _verify(args: argparse.Namespace, config: GatewayConfig | None) -> int:
    if config is None:
        report: dict[str, Any] = json.loads(_http(args, "/admin/v1/audit/verify", {}))
    else:
        database = _database(config)
        try:
            await database.upgrade()
            result = await audit_jobs.verify(AuditStore(database), _hasher(config))
        finally:
            await database.close()
        report = audit_jobs.verification_report(result)
    print(json.dumps(report, indent=2))
    if not report["ok"]:
        print(f"bastion: the audit trail is broken at {report['problem']}", file=sys.stderr)
        return 1
    return 0


async def _export(args: argparse.Namespace, config: GatewayConfig | None) -> int:
    out = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115, ASYNC230
    try:
        if config is None:
            out.write(
                _http(args, "/admin/v1/audit/export", {"since": args.since, "until": args.until})
            )
            return 0
        now = time.time()
        since = parse_time(args.since, now, 0.0)
        until = parse_time(args.until, now, now + 86_400)
        database = _database(config)
        try:
            await database.upgrade()
            async for lines in audit_jobs.export(AuditStore(database), since, until):
                out.write(lines)
        finally:
            await database.close()
        return 0
    finally:
        if args.output:
            out.close()
