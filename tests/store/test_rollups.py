"""The hub's rollups equal the ledger's sums, whatever the range; the dashboard reads them."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bastion.store import rollups
from bastion.store.dashboard import Dashboard, Scope, percentile
from bastion.store.database import Database, async_url
from bastion.store.ledger_store import LEDGER_COLUMNS, LedgerStore, ledger_row
from bastion.store.schema import spend_ledger

NOW = 1_790_000_000.0  # a fixed instant, so that bucket edges fall the same on every run


def _rows(count: int, seed: int = 7) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    rows = []
    for i in range(count):
        team = rnd.choice(["team_a", "team_b", None])
        row: dict[str, Any] = {c: None for c in LEDGER_COLUMNS}
        row.update(
            request_id=f"req-{i}",
            at=NOW - rnd.uniform(0, 3 * 86400),
            key_id=f"key_{rnd.randint(1, 5)}",
            org_id="org_1" if team else None,
            team_id=team,
            user_id=rnd.choice(["user_1", "user_2", None]),
            app_id=rnd.choice(["app_chat", "app_search"]),
            model=rnd.choice(["gpt-4o", "claude"]),
            deployment="openai/gpt-4o",
            provider=rnd.choice(["openai", "anthropic"]),
            endpoint="chat",
            status=rnd.choice([200, 200, 200, 429, 502]),
            prompt_tokens=rnd.randint(0, 900),
            completion_tokens=rnd.randint(0, 300),
            cached_tokens=rnd.randint(0, 50),
            cache_write_tokens=0,
            reasoning_tokens=0,
            cost_nusd=rnd.choice([None, rnd.randint(0, 10**7)]),
            latency_ms=rnd.uniform(1, 3000),
            estimated=False,
            stream=False,
            cache_hit=rnd.random() < 0.1,
            attempts=1,
            fallbacks=0,
        )
        rows.append(row)
    return rows


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    database = Database(async_url(None, tmp_path))
    await database.upgrade()
    yield LedgerStore(database), Dashboard(database)
    await database.close()


def _expected(rows: list[dict[str, Any]], start: float, end: float, **where: Any) -> dict[str, int]:
    chosen = [
        r for r in rows if start <= r["at"] < end and all(r[k] == v for k, v in where.items())
    ]
    return {
        "requests": len(chosen),
        "errors": sum(r["status"] >= 400 for r in chosen),
        "rejected": sum(r["status"] == 429 for r in chosen),
        "prompt_tokens": sum(r["prompt_tokens"] for r in chosen),
        "completion_tokens": sum(r["completion_tokens"] for r in chosen),
        "cached_tokens": sum(r["cached_tokens"] for r in chosen),
        "cost_nusd": sum(r["cost_nusd"] or 0 for r in chosen),
        "cache_hits": sum(bool(r["cache_hit"]) for r in chosen),
    }


def _pick(totals: dict[str, Any]) -> dict[str, int]:
    return {
        k: totals[k]
        for k in (
            "requests",
            "errors",
            "rejected",
            "prompt_tokens",
            "completion_tokens",
            "cached_tokens",
            "cost_nusd",
            "cache_hits",
        )
    }


async def test_totals_equal_the_ledger_over_ranges(store: Any) -> None:
    ledger, dashboard = store
    rows = _rows(3000)
    for start in range(0, len(rows), 700):  # several batches, as the writer sends them
        await ledger.insert([ledger_row(**r) for r in rows[start : start + 700]])
    # A batch handed in again: not counted twice.
    await ledger.insert([ledger_row(**r) for r in rows[:50]], again=True)
    end = int(NOW // 60) * 60 + 60
    for span in (3600, 6 * 3600, 86400, 2 * 86400 + 3600 * 5):
        start = end - span
        got = await dashboard.totals(Scope(), start, end)
        assert _pick(got) == _expected(rows, start, end)
        team = await dashboard.totals(Scope(team_id="team_a"), start, end)
        assert _pick(team) == _expected(rows, start, end, team_id="team_a")
    start = end - 3 * 86400 - 3600
    by_app = {r["value"]: _pick(r) for r in await dashboard.breakdown(Scope(), "app", start, end)}
    assert by_app == {
        app: _expected(rows, start, end, app_id=app) for app in ("app_chat", "app_search")
    }
    by_provider = await dashboard.breakdown(Scope(org_id="org_1"), "provider", start, end)
    assert {r["value"]: r["requests"] for r in by_provider} == {
        p: _expected(rows, start, end, provider=p, org_id="org_1")["requests"]
        for p in ("openai", "anthropic")
    }
    hour_end = int(NOW // 3600) * 3600 + 3600
    series = await dashboard.series(Scope(), hour_end - 86400, hour_end, 3600)
    assert len(series) == 24
    assert (
        sum(p["requests"] for p in series)
        == _expected(rows, hour_end - 86400, hour_end)["requests"]
    )
    drill = await dashboard.requests(Scope(), start, end, "model", "claude", limit=10)
    assert len(drill) == 10
    assert all(r["model"] == "claude" for r in drill)
    assert [r["at"] for r in drill] == sorted((r["at"] for r in drill), reverse=True)


async def test_rebuild_equals_incremental(store: Any) -> None:
    ledger, dashboard = store
    await ledger.insert([ledger_row(**r) for r in _rows(800, seed=3)])
    async with dashboard.db.engine.begin() as conn:
        before = [
            tuple(r)
            for r in await conn.execute(
                sa.select(rollups.hub_rollup).order_by(*rollups.hub_rollup.primary_key.columns)
            )
        ]
        await conn.run_sync(rollups.rebuild, spend_ledger, NOW)
        after = [
            tuple(r)
            for r in await conn.execute(
                sa.select(rollups.hub_rollup).order_by(*rollups.hub_rollup.primary_key.columns)
            )
        ]
    assert before == after


def test_cover_uses_whole_buckets() -> None:
    start, end = 3600 * 5 + 60 * 7, 86400 * 3 + 3600 * 2 + 60 * 3
    parts = rollups.cover(start, end)
    assert parts == [
        (60, start, 21600),
        (3600, 21600, 86400),
        (86400, 86400, 259200),
        (3600, 259200, 266400),
        (60, 266400, end),
    ]


def test_percentile_interpolates_within_a_bucket() -> None:
    hist = [0] * (len(rollups.LATENCY_BOUNDS_MS) + 1)
    hist[6] = 10  # (50, 100] ms
    assert percentile(hist, 0.5) == 75.0
    assert percentile([0] * len(hist), 0.5) is None
    assert time.time() > NOW - 10**9  # NOW is a real instant


def _verdicts(rows: list[dict[str, Any]], seed: int = 11) -> dict[tuple[str, float], list[Any]]:
    """Guardrail verdicts (the facts' dicts) for about half of ``rows``."""
    rnd = random.Random(seed)
    out: dict[tuple[str, float], list[Any]] = {}
    for r in rows:
        if rnd.random() < 0.5:
            continue
        out[r["request_id"], r["at"]] = [
            {
                "direction": "request",
                "detector": rnd.choice(["pii", "secrets", "injection"]),
                "kind": "email",
                "action": rnd.choice(["pseudonymise", "block", "record"]),
                "count": rnd.randint(1, 4),
                "policy": "p",
            }
            for _ in range(rnd.randint(1, 3))
        ]
    return out


def _expected_verdicts(
    rows: list[dict[str, Any]],
    verdicts: dict[tuple[str, float], list[Any]],
    start: float,
    end: float,
    **where: Any,
) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for r in rows:
        if not (start <= r["at"] < end) or any(r[k] != v for k, v in where.items()):
            continue
        for v in verdicts.get((r["request_id"], r["at"]), ()):
            out[v["detector"], v["action"]] = out.get((v["detector"], v["action"]), 0) + v["count"]
    return out


async def test_verdicts_equal_the_recorded_ones_over_ranges_and_scopes(store: Any) -> None:
    ledger, dashboard = store
    rows = _rows(3000, seed=5)
    verdicts = _verdicts(rows)
    db = dashboard.db
    for start in range(0, len(rows), 700):  # several batches, as the writer sends them
        batch = [ledger_row(**r) for r in rows[start : start + 700]]
        await db.write_batch(await ledger.statements(batch, False, verdicts))
    # A batch handed in again (a lost commit reply): its verdicts are not counted twice.
    again = [ledger_row(**r) for r in rows[:50]]
    await db.write_batch(await ledger.statements(again, True, verdicts))
    end = int(NOW // 60) * 60 + 60
    for span in (3600, 6 * 3600, 86400, 2 * 86400 + 3600 * 5, 4 * 86400):
        start = end - span
        for scope, where in (
            (Scope(), {}),
            (Scope(team_id="team_a"), {"team_id": "team_a"}),
            (Scope(org_id="org_1"), {"org_id": "org_1"}),
        ):
            got = await dashboard.verdicts(scope, start, end)
            expected = _expected_verdicts(rows, verdicts, start, end, **where)
            assert {(v["detector"], v["action"]): v["count"] for v in got} == expected
            assert [v["count"] for v in got] == sorted(expected.values(), reverse=True)
    # Only whole buckets inside the range count: a range before every row is empty.
    assert await dashboard.verdicts(Scope(), end - 10 * 86400, end - 5 * 86400) == []
    # Pruned like the spend rollups: minute and hour rows past their retention go.
    async with db.engine.begin() as conn:
        await rollups.prune(conn, NOW + rollups.MINUTE_RETENTION)
        left = (
            await conn.execute(
                sa.select(rollups.hub_verdicts.c.grain, sa.func.min(rollups.hub_verdicts.c.bucket))
                .group_by(rollups.hub_verdicts.c.grain)
                .order_by(rollups.hub_verdicts.c.grain)
            )
        ).all()
    assert [grain for grain, _ in left] == [rollups.HOUR, rollups.DAY]
    assert left[0][1] >= NOW - 3 * 86400 - 3600


def test_verdict_increments_skip_what_is_not_a_verdict() -> None:
    row = ledger_row(request_id="r1", at=NOW, org_id=None, team_id="t", model="m")
    increments = rollups.verdict_increments(
        [row], {("r1", NOW): [{"detector": "pii", "action": "block"}, "not a verdict"]}
    )
    minute = int(NOW // 60) * 60
    assert increments == {
        (60, minute, "pii", "block", "", "t"): 1,
        (3600, int(NOW // 3600) * 3600, "pii", "block", "", "t"): 1,
        (86400, int(NOW // 86400) * 86400, "pii", "block", "", "t"): 1,
    }
    assert rollups.verdict_upsert("sqlite", [row], {}) is None
