"""The monitoring hub's server queries on a generated ledger (issue 8's benchmark).

    python bench/dashboard_queries.py                      # 10M rows on SQLite
    python bench/dashboard_queries.py --rows 1000000 --postgres postgresql://postgres@127.0.0.1/bench

Generates a year of ledger rows (orgs, teams, users, apps, keys, models, providers;
1% with feedback), loads them in bulk, builds the rollups the way the migration does
(``rollups.rebuild``, then the retention prune the hub applies), adds guardrail verdicts
for about one request in seven to the verdict rollups (as the recorder would have), and
times each hub page's queries: the same ``Dashboard`` calls the ``/ui/api`` endpoints make. Prints a
Markdown table (median and max of the runs, in ms) and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bastion.store import rollups
from bastion.store.dashboard import Dashboard, Scope
from bastion.store.database import Database, async_url
from bastion.store.ledger_store import LEDGER_COLUMNS
from bastion.store.schema import spend_ledger

DAY = 86_400
MODELS = [
    "gpt-4o",
    "gpt-4o-mini",
    "o3",
    "claude-sonnet-4",
    "claude-haiku",
    "gemini-2.5-pro",
    "gemini-flash",
    "mistral-large",
    "llama-3.3-70b",
    "command-r",
    "deepseek-v3",
    "embed-3",
]
PROVIDERS = {
    "gpt": "openai",
    "o3": "openai",
    "claude": "anthropic",
    "gemini": "vertex_ai",
    "mistral": "mistral",
    "llama": "groq",
    "command": "cohere",
    "deepseek": "deepseek",
    "embed": "openai",
}


def _provider(model: str) -> str:
    return next(p for prefix, p in PROVIDERS.items() if model.startswith(prefix))


def generate(count: int, now: float, days: int, seed: int = 1) -> Any:
    """Ledger rows as tuples in LEDGER_COLUMNS order, oldest first."""
    rnd = random.Random(seed)
    orgs = [f"org_{i:03d}" for i in range(5)]
    teams = [(f"team_{i:03d}", orgs[i % 5]) for i in range(40)]
    users = [(f"user_{i:04d}", teams[i % 40]) for i in range(400)]
    apps = [f"app_{i:03d}" for i in range(30)]
    keys = [(f"key_{i:05d}", users[i % 400], apps[i % 30]) for i in range(1000)]
    start = now - days * DAY
    step = days * DAY / count
    index = {c: i for i, c in enumerate(LEDGER_COLUMNS)}
    for n in range(count):
        key, (user, (team, org)), app = keys[int(rnd.paretovariate(1.2)) % 1000]
        model = MODELS[int(rnd.paretovariate(1.5)) % len(MODELS)]
        status = 200 if rnd.random() > 0.03 else rnd.choice((429, 429, 500, 502, 504, 400))
        prompt = int(rnd.expovariate(1 / 900))
        completion = int(rnd.expovariate(1 / 250)) if status == 200 else 0
        row: list[Any] = [None] * len(LEDGER_COLUMNS)
        values = {
            "request_id": f"r{n:09d}",
            "at": start + n * step,
            "key_id": key,
            "org_id": org,
            "team_id": team,
            "user_id": user,
            "app_id": app,
            "model": model,
            "endpoint": "chat",
            "status": status,
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "cost_nusd": prompt * 2500 + completion * 10000,
            "estimated": 0,
            "ingress": "openai",
            "deployment": f"{_provider(model)}/{model}",
            "provider": _provider(model),
            "cached_tokens": prompt // 4 if n % 3 == 0 else 0,
            "cache_write_tokens": 0,
            "reasoning_tokens": 0,
            "charged_nusd": None,
            "price_source": "catalogue",
            "latency_ms": rnd.lognormvariate(6.5, 0.6),
            "upstream_ms": None,
            "ttft_ms": None,
            "error": None if status == 200 else "upstream_error",
            "stream": n % 2,
            "cache_hit": int(n % 17 == 0),
            "attempts": 1,
            "fallbacks": 0,
            "tags": None,
        }
        for name, value in values.items():
            if name in index:
                row[index[name]] = value
        yield tuple(row)


def load_sqlite(path: Path, count: int, now: float, days: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='index' AND tbl_name='spend_ledger' AND sql IS NOT NULL"
    ).fetchall()
    for name, _ in indexes:
        conn.execute(f"DROP INDEX {name}")
    insert = f"INSERT INTO spend_ledger ({', '.join(LEDGER_COLUMNS)}) VALUES ({', '.join('?' * len(LEDGER_COLUMNS))})"
    rows = generate(count, now, days)
    while chunk := [r for _, r in zip(range(200_000), rows, strict=False)]:
        conn.executemany(insert, chunk)
    feedback = [
        (
            f"r{n:09d}",
            now - days * DAY + n * days * DAY / count + 30,
            "key",
            1 + n % 5,
            "stars",
            "ok" if n % 7 == 0 else None,
            None,
        )
        for n in range(0, count, 100)
    ]
    conn.executemany("INSERT INTO feedback VALUES (?, ?, ?, ?, ?, ?, ?)", feedback)
    conn.commit()
    for _, sql in indexes:
        conn.execute(sql)
    conn.commit()
    conn.close()


async def load_postgres(db: Database, count: int, now: float, days: int) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(sa.text("TRUNCATE spend_ledger, feedback, hub_rollup, hub_verdicts"))
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        rows = generate(count, now, days)
        while chunk := [r for _, r in zip(range(200_000), rows, strict=False)]:
            await driver.copy_records_to_table(
                "spend_ledger",
                records=[
                    tuple(
                        bool(v) if c in ("estimated", "stream", "cache_hit") else v
                        for c, v in zip(LEDGER_COLUMNS, r, strict=True)
                    )
                    for r in chunk
                ],
                columns=list(LEDGER_COLUMNS),
            )
        await driver.copy_records_to_table(
            "feedback",
            records=[
                (
                    f"r{n:09d}",
                    now - days * DAY + n * days * DAY / count + 30,
                    "key",
                    1 + n % 5,
                    "stars",
                    None,
                    None,
                )
                for n in range(0, count, 100)
            ],
        )
        await conn.execute(sa.text("ANALYZE"))


DETECTORS = ("pii", "secrets", "injection", "terms", "webhook")
ACTIONS = ("record", "pseudonymise", "redact", "block")


def add_verdicts(conn: sa.Connection, now: float) -> None:
    """Verdict rollups for one request in seven (a detector and action picked from its
    tokens, 1 to 3 findings), summed in SQL per grain as the recorder sums them; minute
    and hour rows only within their retention."""
    c = spend_ledger.c
    pg = conn.dialect.name == "postgresql"
    conn.execute(sa.delete(rollups.hub_verdicts))
    detector = sa.case(
        *((c.prompt_tokens % len(DETECTORS) == i, name) for i, name in enumerate(DETECTORS))
    )
    action = sa.case(
        *((c.completion_tokens % len(ACTIONS) == i, name) for i, name in enumerate(ACTIONS))
    )
    org, team = sa.func.coalesce(c.org_id, ""), sa.func.coalesce(c.team_id, "")
    since = {
        rollups.MINUTE: now - rollups.MINUTE_RETENTION,
        rollups.HOUR: now - rollups.HOUR_RETENTION,
    }
    for grain in rollups.GRAINS:
        bucket: Any = (
            sa.cast(sa.func.floor(c.at / grain) * grain, sa.BigInteger)
            if pg
            else sa.cast(c.at / grain, sa.Integer) * grain
        )
        query = (
            sa.select(
                sa.literal_column(str(grain)),
                bucket,
                detector,
                action,
                org,
                team,
                sa.func.sum(1 + c.prompt_tokens % 3),
            )
            .where(c.prompt_tokens % 7 == 0)
            .group_by(bucket, detector, action, org, team)
        )
        if grain in since:
            query = query.where(c.at >= int(since[grain] // grain) * grain)
        columns = ["grain", "bucket", "detector", "action", "org_id", "team_id", "verdicts"]
        conn.execute(sa.insert(rollups.hub_verdicts).from_select(columns, query))


async def build_rollups(db: Database, now: float) -> float:
    started = time.perf_counter()
    async with db.engine.begin() as conn:
        await conn.run_sync(rollups.rebuild, spend_ledger)
        await conn.run_sync(add_verdicts, now)
        await rollups.prune(conn, now)
    async with db.engine.begin() as conn:
        await conn.execute(sa.text("ANALYZE"))
    return time.perf_counter() - started


async def timed(runs: int, call: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    await call()  # warm the connection and the page cache
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), max(samples)


def _window(seconds: int, now: float) -> tuple[int, int]:
    align = 60 if seconds < DAY else 3600
    end = int(now // align) * align + align
    return end - seconds, end


async def measure(db: Database, now: float, runs: int) -> list[dict[str, Any]]:
    d = Dashboard(db)
    out: list[dict[str, Any]] = []
    everyone, team = Scope(), Scope(team_id="team_007")

    async def add(page: str, what: str, call: Callable[[], Awaitable[Any]]) -> None:
        median, worst = await timed(runs, call)
        out.append(
            {"page": page, "query": what, "median_ms": round(median, 2), "max_ms": round(worst, 2)}
        )
        print(f"  {page:<12} {what:<44} {median:8.2f} ms  (max {worst:.2f})", flush=True)

    for label, seconds, grain in (
        ("1h", 3600, 60),
        ("24h", DAY, 3600),
        ("7d", 7 * DAY, 3600),
        ("30d", 30 * DAY, DAY),
        ("90d", 90 * DAY, DAY),
    ):
        start, end = _window(seconds, now)

        async def overview(
            scope: Scope = everyone, s: int = start, e: int = end, g: int = grain
        ) -> None:
            await d.totals(scope, s, e)
            await d.totals(scope, s - (e - s), s)
            await d.series(scope, s, e, g)

        await add("overview", f"{label}: totals, previous period, series", overview)
        await add(
            "overview",
            f"{label}: the same, viewer of one team",
            lambda s=start, e=end, g=grain: overview(team, s, e, g),
        )
    start, end = _window(90 * DAY, now)
    for dim in ("app", "team", "user", "key", "org", "model", "provider"):
        await add(
            "breakdown", f"90d by {dim}", lambda dim=dim: d.breakdown(everyone, dim, start, end)
        )
    await add(
        "breakdown", "90d by key, viewer of one team", lambda: d.breakdown(team, "key", start, end)
    )
    await add(
        "drill-down",
        "90d requests of a team (newest 100)",
        lambda: d.requests(everyone, start, end, "team", "team_003"),
    )
    await add(
        "drill-down",
        "90d requests of a model (newest 100)",
        lambda: d.requests(everyone, start, end, "model", "o3"),
    )
    await add(
        "drill-down",
        "90d requests of a provider (newest 100)",
        lambda: d.requests(everyone, start, end, "provider", "cohere"),
    )
    await add(
        "drill-down", "24h all requests (newest 100)", lambda: d.requests(everyone, end - DAY, end)
    )
    await add("request", "one request by id", lambda: d.request(everyone, "r000123456"))
    start30, end30 = _window(30 * DAY, now)
    await add(
        "quality",
        "30d feedback: scores, by model/app, comments",
        lambda: d.quality(everyone, start30, end30),
    )
    await add(
        "quality",
        "30d guardrail verdicts by detector/action",
        lambda: d.verdicts(everyone, start30, end30),
    )
    await add(
        "quality",
        "90d guardrail verdicts, viewer of one team",
        lambda: d.verdicts(team, start, end),
    )

    async def quality_page(scope: Scope = everyone, s: int = start30, e: int = end30) -> None:
        await d.quality(scope, s, e)
        await d.totals(scope, s, e)
        await d.verdicts(scope, s, e)

    await add("quality", "30d the whole page (feedback, cache, verdicts)", quality_page)
    await add("budgets", "24h rejections (429s)", lambda: d.totals(everyone, *_window(DAY, now)))
    return out


async def run(args: argparse.Namespace) -> None:
    now = time.time()
    results: dict[str, Any] = {"rows": args.rows, "days": args.days, "backends": {}}
    if args.out.exists():  # keep the other backend's figures from an earlier run
        results["backends"] = json.loads(args.out.read_text()).get("backends", {})
    targets = [] if args.skip_sqlite else [("sqlite", None)]
    targets += [("postgresql", args.postgres)] if args.postgres else []
    for name, url in targets:
        print(f"== {name}: {args.rows:,} ledger rows over {args.days} days", flush=True)
        if url is None:
            args.dir.mkdir(parents=True, exist_ok=True)
            path = args.dir / "bastion.db"
            t0 = time.perf_counter()
            if not (args.reuse and path.exists()):
                path.unlink(missing_ok=True)
                db = Database(async_url(None, args.dir))
                await db.upgrade()
                await db.close()
                await asyncio.to_thread(load_sqlite, path, args.rows, now, args.days)
            db = Database(async_url(None, args.dir))
        else:
            db = Database(async_url(url))
            await db.upgrade()
            t0 = time.perf_counter()
            await load_postgres(db, args.rows, now, args.days)
        loaded = time.perf_counter() - t0
        print(f"  loaded in {loaded:.0f} s; building rollups", flush=True)
        built = await build_rollups(db, now)
        async with db.engine.connect() as conn:
            rollup_rows = await conn.scalar(
                sa.select(sa.func.count()).select_from(rollups.hub_rollup)
            )
            verdict_rows = await conn.scalar(
                sa.select(sa.func.count()).select_from(rollups.hub_verdicts)
            )
        print(
            f"  rollups: {rollup_rows:,} rows, {verdict_rows:,} of verdicts; built in {built:.0f} s",
            flush=True,
        )
        queries = await measure(db, now, args.runs)
        await db.close()
        results["backends"][name] = {
            "load_s": round(loaded, 1),
            "rollup_build_s": round(built, 1),
            "rollup_rows": rollup_rows,
            "verdict_rollup_rows": verdict_rows,
            "queries": queries,
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"\nwritten to {args.out}\n")
    names = list(results["backends"])
    print("| page | query | " + " | ".join(f"{n} median / max (ms)" for n in names) + " |")
    print("|---|---|" + "---|" * len(names))
    first = results["backends"][names[0]]["queries"]
    for i, q in enumerate(first):
        cells = [
            f"{results['backends'][n]['queries'][i]['median_ms']} / {results['backends'][n]['queries'][i]['max_ms']}"
            for n in names
        ]
        print(f"| {q['page']} | {q['query']} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--reuse", action="store_true", help="keep a SQLite ledger loaded before")
    parser.add_argument("--skip-sqlite", action="store_true", help="only the PostgreSQL run")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/bastion-bench-hub"))
    parser.add_argument(
        "--postgres", help="also on this PostgreSQL database (its tables are emptied)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "dashboard_queries.json"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
