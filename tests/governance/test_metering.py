"""The real cost of each request: usage from the upstream's answer, streams included."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from bastion.accounting.pricing import Price, cost_nusd, read_usage, usage_cost
from bastion.accounting.usage import StreamUsageTap, extract_usage
from bastion.config import PriceConfig
from bastion.governance.stages import _tokens_and_cost
from bastion.providers.base import Endpoint
from bastion.store.database import async_url
from tests.fakes.openai_upstream import CACHED_USAGE, DEFAULT_API_KEY, FakeOpenAI
from tests.governance.helpers import client, governed_gateway, settings

USAGE = {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}


def test_usage_is_found_in_a_body_without_parsing_the_rest() -> None:
    body = orjson.dumps(
        {
            "id": "x",
            "choices": [{"message": {"content": 'says "usage": {"prompt_tokens": 999}'}}],
            "usage": {**USAGE, "prompt_tokens_details": {"cached_tokens": 2}},
            "system_fingerprint": "fp",
        }
    )
    assert extract_usage(body) == {**USAGE, "prompt_tokens_details": {"cached_tokens": 2}}
    spaced = b'{"choices": [], "usage" : {"prompt_tokens": 1, "completion_tokens": 2}}'
    assert extract_usage(spaced) == {"prompt_tokens": 1, "completion_tokens": 2}
    assert extract_usage(b'{"choices": [], "usage": null}') is None
    assert extract_usage(b'{"choices": []}') is None


def test_the_usage_found_is_the_top_level_one() -> None:
    top = {**USAGE, "prompt_tokens_details": {"cached_tokens": 2}}
    # A nested "usage" after the top-level one (a provider's metadata): the body is parsed.
    nested = {"id": "x", "usage": top, "meta": {"usage": {"prompt_tokens": 999}}}
    assert extract_usage(orjson.dumps(nested)) == top
    assert extract_usage(orjson.dumps({"usage": top, "kind": "usage"})) == top
    assert extract_usage(orjson.dumps({"choices": [{"usage": {"prompt_tokens": 1}}]})) is None
    # Large bodies: the usage at the end is parsed alone, else the last usage object.
    filler = "x" * 100_000
    assert extract_usage(orjson.dumps({"filler": filler, "usage": top, "fp": "fp"})) == top
    large = orjson.dumps({"filler": filler, "usage": top, "meta": {"usage": {"n": 1}}})
    assert extract_usage(large) == {"n": 1}
    assert extract_usage(b'{"usage": {"prompt_tokens": 1}') is None  # cut off


@pytest.mark.parametrize(
    "usage",
    [
        USAGE,
        {**USAGE, "prompt_tokens_details": {"cached_tokens": 4, "audio_tokens": 0}},
        {**USAGE, "prompt_tokens_details": {"cached_tokens": None}},
        {**USAGE, "prompt_tokens_details": {"cached_tokens": 50}},  # more than the prompt
        {**USAGE, "prompt_tokens_details": {"cached_tokens": 3, "cache_write_tokens": 2}},
        {**USAGE, "prompt_tokens_details": {"cached_tokens": -3}},
        {**USAGE, "prompt_tokens_details": {"cached_tokens": 2.0}},
        {**USAGE, "prompt_tokens_details": None},
        {**USAGE, "prompt_tokens_details": []},
        {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 21},
        {"prompt_tokens": True, "completion_tokens": 5},
        {"prompt_tokens": -1, "completion_tokens": 5},
        {"prompt_tokens": 7.0, "completion_tokens": 5},
        {"completion_tokens": 5},
        {},
    ],
)
@pytest.mark.parametrize("endpoint", ["chat", "embeddings"])
def test_a_settlement_costs_what_the_ledger_costs(
    usage: dict[str, Any], endpoint: Endpoint
) -> None:
    price = Price(3_000_000, 15_000_000, 300_000, None, "config", 3_750_000, 20_000)
    counted = read_usage(usage)
    expected = (counted.total, usage_cost(price, counted, endpoint))
    assert _tokens_and_cost(price, usage, endpoint) == expected


def _events(*chunks: object) -> bytes:
    return b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


STREAM = _events(
    {"choices": [{"delta": {"content": "Hi"}}], "usage": None},
    {"choices": [{"delta": {}, "finish_reason": "stop"}], "usage": None},
    {"choices": [], "usage": USAGE},
)


@pytest.mark.parametrize("size", [1, 7, 64, len(STREAM)])
def test_the_stream_tap_takes_the_usage_chunk_whatever_the_pieces(size: int) -> None:
    tap = StreamUsageTap(strip=True)
    pieces = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    out = b"".join(tap.feed(p) for p in pieces) + tap.close()
    assert tap.usage == USAGE
    assert out == _events(
        {"choices": [{"delta": {"content": "Hi"}}], "usage": None},
        {"choices": [{"delta": {}, "finish_reason": "stop"}], "usage": None},
    )
    kept = StreamUsageTap(strip=False)
    assert b"".join(kept.feed(p) for p in pieces) + kept.close() == STREAM
    assert kept.usage == USAGE


def test_the_stream_tap_understands_crlf_framing() -> None:
    tap = StreamUsageTap(strip=True)
    out = tap.feed(STREAM.replace(b"\n", b"\r\n")) + tap.close()
    assert tap.usage == USAGE and b'"usage":{' not in out and out.endswith(b"[DONE]\n\n")


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    upstream = FakeOpenAI()
    await upstream.start()
    yield upstream
    await upstream.stop()


async def test_streamed_and_plain_spend_is_the_upstreams_usage_priced(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    database = f"sqlite:///{tmp_path / 'bastion.db'}"
    config = settings(
        database,
        tmp_path,
        providers={"fake": {"kind": "openai", "base_url": fake.url, "api_key": DEFAULT_API_KEY}},
        pricing={
            "models": {
                "fake/gpt-cached": {"input": 2.0, "output": 8.0, "cached_input": 0.5},
                "fake/gpt-4o-mini": {"input": 2.0, "output": 8.0},
            }
        },
    )
    price = Price.from_config(PriceConfig(input=2.0, output=8.0, cached_input=0.5), "config")
    async with governed_gateway(**config) as gw, client(gw.url) as admin:
        key = await admin.ok("POST", "/admin/v1/keys", {"name": "meter"})
        user = admin.as_key(key["key"])
        url = gw.url + "/v1/chat/completions"
        headers = {"authorization": f"Bearer {key['key']}"}

        # A stream whose client did not ask for usage: the gateway asks, and hides the chunk.
        body = {
            "model": "fake/gpt-cached",
            "messages": [{"role": "user", "content": "hello"}],
            "stream": True,
        }
        async with user.session.post(url, json=body, headers=headers) as response:
            raw = await response.read()
        assert response.status == 200 and raw.endswith(b"data: [DONE]\n\n")
        assert b'"usage":{' not in raw and b'"choices":[]' not in raw
        assert fake.requests[-1].json["stream_options"] == {"include_usage": True}

        # A stream whose client asked for usage gets it, as sent.
        body["stream_options"] = {"include_usage": True}
        async with user.session.post(url, json=body, headers=headers) as response:
            raw = await response.read()
        last = raw.split(b"\n\n")[-3]
        assert orjson.loads(last.removeprefix(b"data: "))["usage"] == CACHED_USAGE

        # A plain answer.
        status, reply, _ = await user.chat(model="fake/gpt-4o-mini")
        assert status == 200
        plain_usage = reply["usage"]

        await gw.gateway.governance.drain()
        engine = create_async_engine(async_url(database))
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.text(
                        "SELECT model, prompt_tokens, completion_tokens, cost_nusd, estimated "
                        "FROM spend_ledger ORDER BY id"
                    )
                )
            ).all()
        await engine.dispose()
        cached = CACHED_USAGE["prompt_tokens_details"]["cached_tokens"]
        streamed_cost = cost_nusd(
            price, CACHED_USAGE["prompt_tokens"], CACHED_USAGE["completion_tokens"], cached
        )
        plain_cost = cost_nusd(
            price, plain_usage["prompt_tokens"], plain_usage["completion_tokens"]
        )
        streamed = (
            "fake/gpt-cached",
            CACHED_USAGE["prompt_tokens"],
            CACHED_USAGE["completion_tokens"],
            streamed_cost,
            False,
        )
        assert [(*r[:4], bool(r[4])) for r in rows] == [
            streamed,
            streamed,
            (
                "fake/gpt-4o-mini",
                plain_usage["prompt_tokens"],
                plain_usage["completion_tokens"],
                plain_cost,
                False,
            ),
        ]
        spend = await admin.ok("GET", f"/admin/v1/keys/{key['id']}/spend")
        assert spend["total_spent_usd"] == pytest.approx((2 * streamed_cost + plain_cost) / 1e9)
