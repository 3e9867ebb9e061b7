"""The ledger writer builds rows as tuples: each value lands in its own column."""

from __future__ import annotations

from pathlib import Path

import orjson

from bastion.store.ledger_store import LEDGER_COLUMNS, ledger_row
from tests.accounting.helpers import in_process, sqlite_url


async def test_every_value_lands_in_its_column(tmp_path: Path, recorder_mode: str) -> None:
    async with in_process(sqlite_url(tmp_path), tmp_path, recorder_mode) as gw:
        streamed = await gw.chat("one two three", stream=True, headers=[("x-bastion-tags", "a,b")])
        plain = await gw.chat("four five", metadata={"feature": "search"})
        assert streamed.status == plain.status == 200
        await gw.flush()
        rows = await gw.rows("SELECT * FROM spend_ledger ORDER BY id")
    assert len(rows) == 2
    first, second = rows
    for row in rows:
        assert row["key_id"] == "static:client"
        assert row["org_id"] is row["team_id"] is row["user_id"] is row["app_id"] is None
        assert (row["model"], row["endpoint"], row["status"]) == ("bastion/echo", "chat", 200)
        assert (row["ingress"], row["deployment"], row["provider"]) == (
            "openai",
            "bastion/echo",
            "bastion",
        )
        assert row["error"] is None and not row["estimated"] and not row["cache_hit"]
        assert (row["attempts"], row["fallbacks"]) == (1, 0)
        assert row["latency_ms"] > 0 and row["upstream_ms"] is not None
        assert row["cached_tokens"] == row["cache_write_tokens"] == row["reasoning_tokens"] == 0
        assert row["at"] > 1e9 and len(row["request_id"]) == 32
    assert (first["prompt_tokens"], first["completion_tokens"]) == (3, 3)
    assert (second["prompt_tokens"], second["completion_tokens"]) == (2, 2)
    assert first["stream"] and first["ttft_ms"] is not None
    assert not second["stream"] and second["ttft_ms"] is None
    assert orjson.loads(first["tags"]) == ["a", "b"]
    assert orjson.loads(second["tags"]) == ["feature:search"]


def test_ledger_row_puts_names_in_column_order() -> None:
    row = ledger_row(request_id="r1", at=5.0, model="m", status=200)
    assert len(row) == len(LEDGER_COLUMNS)
    named = dict(zip(LEDGER_COLUMNS, row, strict=True))
    assert (named["request_id"], named["at"], named["model"], named["status"]) == (
        "r1",
        5.0,
        "m",
        200,
    )
    assert named["tags"] is None
