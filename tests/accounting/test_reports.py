"""Spend reports over a known data set, and feedback joined to them."""

from __future__ import annotations

import asyncio
import csv
import io
from contextlib import redirect_stdout
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from bastion.cli import main
from bastion.store.ledger_store import LedgerStore, ledger_row
from tests.accounting.helpers import InProcess, in_process, sqlite_url
from tests.conftest import CLIENT_KEY, MASTER_KEY


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def _row(n: int, at: str, team: str, model: str, provider: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "request_id": f"r{n}",
        "at": _at(at),
        "key_id": f"key-{team}",
        "org_id": None,
        "team_id": team,
        "user_id": None,
        "app_id": "app-1",
        "model": model,
        "endpoint": "chat",
        "status": 200,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cost_nusd": 0,
        "estimated": False,
        "ingress": "openai",
        "deployment": f"{provider}/{model}",
        "provider": provider,
        "cached_tokens": 0,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
        "charged_nusd": None,
        "price_source": "catalogue",
        "latency_ms": 10.0,
        "upstream_ms": 8.0,
        "ttft_ms": None,
        "error": None,
        "stream": False,
        "cache_hit": False,
        "attempts": 1,
        "fallbacks": 0,
        "tags": None,
    }
    tags = values.pop("tags", None)
    row["tags"] = orjson.dumps(tags).decode() if tags else None
    return {**row, **values}


def dataset(org: str) -> list[dict[str, Any]]:
    return [
        _row(1, "2026-10-31T22:00", "A", "gpt", "openai", prompt_tokens=100, completion_tokens=50,
             cost_nusd=1_000_000, tags=["project:x"], org_id=org),
        _row(2, "2026-11-01T01:00", "A", "gpt", "openai", prompt_tokens=10, completion_tokens=5,
             cost_nusd=250_000, tags=["project:x", "beta"], org_id=org),
        _row(3, "2026-11-01T13:00", "A", "claude", "anthropic", status=500, error="upstream_error",
             org_id=org),
        _row(4, "2026-11-01T13:00", "B", "claude", "anthropic", prompt_tokens=20,
             completion_tokens=20, cached_tokens=10, cost_nusd=3_000_000, tags=["beta"]),
        _row(5, "2026-11-02T09:00", "B", "gpt", "openai", status=429, error="rate_limit_exceeded"),
        _row(6, "2026-11-02T09:00", "B", "llama", "groq", prompt_tokens=7, completion_tokens=7,
             cost_nusd=None, price_source=None),
        _row(7, "2026-11-02T09:30", "B", "gpt", "openai", status=499, prompt_tokens=5,
             cost_nusd=100, estimated=True, error="client_disconnected"),
    ]  # fmt: skip


RANGE = "since=2026-10-01&until=2026-12-01"


async def _load(gw: InProcess) -> str:
    org = (await gw.admin("POST", "/admin/v1/orgs", {"name": "acme"}))["id"]
    store = LedgerStore(gw.gateway.governance.database)
    await store.insert([ledger_row(**row) for row in dataset(org)])
    for request_id, score in (("r1", 5), ("r4", 2)):
        await store.save_feedback(
            {"request_id": request_id, "at": 0.0, "key_id": "k", "score": score,
             "scale": "stars", "comment": None, "tags": None}
        )  # fmt: skip
    return str(org)


def _pick(rows: list[dict[str, Any]], *names: str) -> list[tuple[Any, ...]]:
    return [tuple(row[n] for n in names) for row in rows]


async def test_reports_sum_a_known_data_set(tmp_path: Path) -> None:
    async with in_process(sqlite_url(tmp_path), tmp_path, audit={"enabled": False}) as gw:
        org = await _load(gw)
        by_team = await gw.admin("GET", f"/admin/v1/reports/spend?by=team&{RANGE}")
        by_tag = await gw.admin("GET", f"/admin/v1/reports/spend?by=tag&{RANGE}")
        monthly = await gw.admin("GET", f"/admin/v1/reports/spend?by=team&period=month&{RANGE}")
        daily = await gw.admin(
            "GET", f"/admin/v1/reports/spend?by=provider,model&period=day&{RANGE}"
        )
        hourly = await gw.admin("GET", f"/admin/v1/reports/spend?period=hour&{RANGE}")
        reply = await gw.call(
            "GET", f"/admin/v1/reports/spend?by=team&format=csv&{RANGE}", key=MASTER_KEY
        )
        org_admin = await gw.admin(
            "POST", "/admin/v1/keys", {"name": "boss", "role": "admin", "org_id": org}
        )
        scoped = await gw.call(
            "GET", f"/admin/v1/reports/spend?by=team&{RANGE}", key=org_admin["key"]
        )
        refused = await gw.call("GET", f"/admin/v1/reports/spend?{RANGE}", key=CLIENT_KEY)

    columns = ("team", "requests", "errors", "spend_usd", "spend_nusd", "unpriced_requests")
    assert _pick(by_team["rows"], *columns) == [
        ("A", 3, 1, "0.001250000", 1_250_000, 0),
        ("B", 4, 1, "0.003000100", 3_000_100, 1),  # a 499 (client gone) is no error
    ]
    assert _pick(by_team["rows"], "prompt_tokens", "completion_tokens", "cached_tokens") == [
        (110, 55, 0),
        (32, 27, 10),
    ]
    assert _pick(by_team["rows"], "error_rate", "feedback", "satisfaction") == [
        (round(1 / 3, 6), 1, 5.0),
        (0.25, 1, 2.0),
    ]
    assert by_team["totals"]["requests"] == 7 and by_team["totals"]["spend_nusd"] == 4_250_100
    assert _pick(by_tag["rows"], "tag", "requests", "spend_nusd") == [
        ("beta", 2, 3_250_000),
        ("project:x", 2, 1_250_000),
    ]
    assert by_tag["totals"]["requests"] == 7  # a request with two tags is one request
    assert _pick(monthly["rows"], "team", "period_start", "requests", "spend_nusd") == [
        ("A", "2026-10-01T00:00:00Z", 1, 1_000_000),
        ("A", "2026-11-01T00:00:00Z", 2, 250_000),
        ("B", "2026-11-01T00:00:00Z", 4, 3_000_100),
    ]
    assert _pick(daily["rows"], "period_start", "provider", "model", "requests") == [
        ("2026-10-31T00:00:00Z", "openai", "gpt", 1),
        ("2026-11-01T00:00:00Z", "anthropic", "claude", 2),
        ("2026-11-01T00:00:00Z", "openai", "gpt", 1),
        ("2026-11-02T00:00:00Z", "groq", "llama", 1),
        ("2026-11-02T00:00:00Z", "openai", "gpt", 2),
    ]
    assert _pick(hourly["rows"], "period_start", "requests") == [
        ("2026-10-31T22:00:00Z", 1),
        ("2026-11-01T01:00:00Z", 1),
        ("2026-11-01T13:00:00Z", 2),
        ("2026-11-02T09:00:00Z", 3),
    ]
    assert reply.status == 200 and reply.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(reply.body.decode())))
    assert [(r["team"], r["spend_usd"], r["satisfaction"]) for r in table] == [
        ("A", "0.001250000", "5.0"),
        ("B", "0.003000100", "2.0"),
    ]
    assert scoped.status == 200
    assert _pick(scoped.json()["rows"], "team", "requests") == [("A", 3)]  # its org only
    assert refused.status == 403


async def test_the_cli_prints_spend_by_team(tmp_path: Path) -> None:
    database = sqlite_url(tmp_path)
    async with in_process(database, tmp_path, audit={"enabled": False}) as gw:
        await _load(gw)
    config = tmp_path / "bastion.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database_url": database,
                "auth": {"master_key": MASTER_KEY, "keys": [{"name": "c", "key": CLIENT_KEY}]},
            }
        )
    )
    out = io.StringIO()

    def run(*argv: str) -> int:
        with redirect_stdout(out):
            return main(list(argv))

    since = ("--since", "2026-10-01", "--until", "2026-12-01", "--config", str(config))
    assert await asyncio.to_thread(run, "spend", "--by", "team", *since) == 0
    lines = out.getvalue().splitlines()
    assert lines[1].split() == [
        "team", "requests", "errors", "spend_usd", "prompt_tokens", "completion_tokens",
        "satisfaction",
    ]  # fmt: skip
    assert lines[2].split() == ["A", "3", "1", "0.001250000", "110", "55", "5.0"]
    assert lines[3].split() == ["B", "4", "1", "0.003000100", "32", "27", "2.0"]
    assert lines[4].split()[:4] == ["total", "7", "2", "0.004250100"]
    out.truncate(0)
    out.seek(0)
    assert await asyncio.to_thread(run, "spend", "--by", "model", "--format", "json", *since) == 0
    report = orjson.loads(out.getvalue())
    assert [(r["model"], r["requests"]) for r in report["rows"]] == [
        ("claude", 2),
        ("gpt", 4),
        ("llama", 1),
    ]


async def test_feedback_comes_from_the_key_that_made_the_request_and_joins_the_ledger(
    tmp_path: Path,
) -> None:
    async with in_process(sqlite_url(tmp_path), tmp_path) as gw:
        key = await gw.admin("POST", "/admin/v1/keys", {"name": "rater"})
        mine = (await gw.chat("hi", key=key["key"])).headers["x-request-id"]
        theirs = (await gw.chat("hi")).headers["x-request-id"]  # the static client key

        def give(request_id: str, score: Any, as_key: str = key["key"]) -> Any:
            body = {"request_id": request_id, "score": score, "comment": "ok", "tags": ["ui"]}
            return gw.call("POST", "/v1/feedback", body, key=as_key)

        ok = await give(mine, "up")  # at once: the ledger row is flushed for it
        assert (ok.status, ok.json()) == (
            200,
            {"request_id": mine, "score": 5, "scale": "thumbs", "recorded": True},
        )
        assert (await give(theirs, 4)).status == 404  # another key's request
        assert (await give("no-such-request", 4)).status == 404
        bad = await give(mine, 7)
        assert bad.status == 400 and bad.json()["error"]["param"] == "score"
        assert (await give(theirs, 2, as_key=MASTER_KEY)).status == 200  # an admin may
        assert (await give(mine, 3)).status == 200  # the latest counts
        report = await gw.admin("GET", "/admin/v1/reports/spend?by=key&since=1h")
    rows = {r["key"]: r for r in report["rows"]}
    assert (rows[key["id"]]["feedback"], rows[key["id"]]["satisfaction"]) == (1, 3.0)
    assert (rows["static:client"]["feedback"], rows["static:client"]["satisfaction"]) == (1, 2.0)


@pytest.mark.parametrize("value", ["yesterday", "-3d"])
async def test_a_bad_time_is_refused_with_a_message(tmp_path: Path, value: str) -> None:
    async with in_process(sqlite_url(tmp_path), tmp_path, audit={"enabled": False}) as gw:
        reply = await gw.call("GET", f"/admin/v1/reports/spend?since={value}", key=MASTER_KEY)
    assert reply.status == 400 and "is not a time" in reply.json()["error"]["message"]
