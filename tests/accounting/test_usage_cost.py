"""Usage and cost of every provider, plain and streamed, from its fake's documented usage.

Each fake's "cached" behaviour reports cache reads (and, where the vendor has them,
cache writes and reasoning tokens; see tests/fakes/). At one price for all of them
($3 input, $0.30 cache reads, $3.75 cache writes, $15 output per million tokens),
the ledger must hold exactly the figures worked out by hand below.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.accounting.helpers import InProcess, in_process, sqlite_url
from tests.conformance.cases import CASES, FakeUpstream

PRICE = {"input": 3.0, "output": 15.0, "cached_input": 0.3, "cache_write": 3.75}

# provider: (prompt, completion, cache reads, cache writes, reasoning), cost in nano-dollars
EXPECTED: dict[str, tuple[tuple[int, int, int, int, int], int]] = {
    # 1280 prompt of which 1024 cached; 192 completion of which 128 reasoning:
    # 256 x 3 + 1024 x 0.30 + 192 x 15 = 768 + 307.2 + 2880 = 3955.2 micro-dollars
    "openai": ((1280, 192, 1024, 0, 128), 3_955_200),
    "azure": ((1280, 192, 1024, 0, 128), 3_955_200),
    # 13 input + 1800 cache reads + 200 cache writes; 75 output of which 40 thinking:
    # 13 x 3 + 1800 x 0.30 + 200 x 3.75 + 75 x 15 = 39 + 540 + 750 + 1125 = 2454
    "anthropic": ((2013, 75, 1800, 200, 40), 2_454_000),
    # 2000 prompt of which 1500 cached; 20 candidates + 30 thoughts:
    # 500 x 3 + 1500 x 0.30 + 50 x 15 = 1500 + 450 + 750 = 2700
    "gemini": ((2000, 50, 1500, 0, 30), 2_700_000),
    "vertex": ((2000, 50, 1500, 0, 30), 2_700_000),
    # 12 input + 1792 cache reads + 256 cache writes; 40 output:
    # 12 x 3 + 1792 x 0.30 + 256 x 3.75 + 40 x 15 = 36 + 537.6 + 960 + 600 = 2133.6
    "bedrock": ((2060, 40, 1792, 256, 0), 2_133_600),
    # 9 input (Cohere's 48 cached tokens exceed them: all 9 at the cache price); 13 output:
    # 9 x 0.30 + 13 x 15 = 2.7 + 195 = 197.7
    "cohere": ((9, 13, 48, 0, 0), 197_700),
}

COLUMNS = (
    "prompt_tokens, completion_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, "
    "cost_nusd, estimated, stream, deployment, provider, price_source"
)


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcess]:
    tmp_path: Path = tmp_path_factory.mktemp("usage")
    fakes: dict[type[FakeUpstream], FakeUpstream] = {}
    try:
        for case in CASES:
            if case.fake not in fakes:
                fakes[case.fake] = case.fake()
                await fakes[case.fake].start()
        sections: dict[str, Any] = {
            "providers": {case.name: case.provider(fakes[case.fake]) for case in CASES},
            "pricing": {
                "models": {
                    **{case.model("cached"): PRICE for case in CASES},
                    "openai/no-usage": PRICE,
                }
            },
        }
        async with in_process(sqlite_url(tmp_path), tmp_path, **sections) as gw:
            yield gw
    finally:
        for fake in fakes.values():
            await fake.stop()


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_usage_and_cost_are_the_providers_figures(
    gateway: InProcess, case: Any, stream: bool
) -> None:
    request_id = f"cost-{case.name}-{stream}"
    reply = await gateway.chat(
        "hi there",
        model=case.model("cached"),
        stream=stream,
        headers=[("x-request-id", request_id)],
    )
    assert reply.status == 200, reply.body
    if stream:  # the client did not ask for usage: the gateway's usage chunk is not shown
        assert b'"usage":{' not in reply.body and b'"usage": {' not in reply.body
    await gateway.flush()
    rows = await gateway.rows(
        f"SELECT {COLUMNS} FROM spend_ledger WHERE request_id = :id", id=request_id
    )
    tokens, cost = EXPECTED[case.name]
    assert len(rows) == 1
    row = rows[0]
    assert (
        row["prompt_tokens"],
        row["completion_tokens"],
        row["cached_tokens"],
        row["cache_write_tokens"],
        row["reasoning_tokens"],
    ) == tokens
    assert row["cost_nusd"] == cost
    assert (bool(row["estimated"]), bool(row["stream"])) == (False, stream)
    assert (row["deployment"], row["provider"], row["price_source"]) == (
        case.model("cached"),
        case.name,
        "config",
    )


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
async def test_anthropic_messages_passed_through_natively_cost_the_same(
    gateway: InProcess, stream: bool
) -> None:
    request_id = f"native-{stream}"
    body = {
        "model": "anthropic/cached",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "hi there"}],
        "stream": stream,
    }
    reply = await gateway.call("POST", "/v1/messages", body, headers=[("x-request-id", request_id)])
    assert reply.status == 200, reply.body
    await gateway.flush()
    rows = await gateway.rows(
        f"SELECT {COLUMNS}, ingress FROM spend_ledger WHERE request_id = :id", id=request_id
    )
    assert [(r["prompt_tokens"], r["cost_nusd"], r["ingress"]) for r in rows] == [
        (2013, 2_454_000, "anthropic")
    ]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
async def test_without_a_usage_report_the_answer_is_estimated(
    gateway: InProcess, stream: bool
) -> None:
    """A server that reports no usage: prompt and output estimated, the row marked so."""
    request_id = f"no-usage-{stream}"
    reply = await gateway.chat(
        "please write a few words about gateways",
        model="openai/no-usage",
        stream=stream,
        headers=[("x-request-id", request_id)],
    )
    assert reply.status == 200, reply.body
    await gateway.flush()
    rows = await gateway.rows(
        f"SELECT {COLUMNS} FROM spend_ledger WHERE request_id = :id", id=request_id
    )
    row = rows[0]
    assert bool(row["estimated"]) and bool(row["stream"]) == stream
    # The fake answers "Hello! You said: <the prompt>" (56 characters, 10 words, a token
    # each): plain, estimated from the text at 3 characters a token (erring high);
    # streamed, one token an event (10 content events).
    assert row["completion_tokens"] == (10 if stream else 56 // 3 + 1)
    assert row["prompt_tokens"] > 0
    expected = 3 * row["prompt_tokens"] + 15 * row["completion_tokens"]  # micro-dollars
    assert row["cost_nusd"] == expected * 1000
