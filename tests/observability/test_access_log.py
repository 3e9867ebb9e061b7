"""One JSON access-log line per request: ids, model, status, tokens, cost, latency split;
never a key, and a body only when switched on."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from unittest.mock import ANY

import aiohttp
import orjson
import pytest

from bastion.accounting.pricing import read_usage
from bastion.config import GatewayConfig
from bastion.errors import GatewayError
from bastion.governance.principal import Principal
from bastion.observability.access_log import AccessLog
from bastion.observability.facts import RequestFacts
from bastion.observability.settings import AccessLogConfig
from bastion.pipeline import RequestContext
from bastion.routing.attempts import Attempt
from bastion.routing.catalog import ModelCatalog
from tests.conftest import CLIENT_KEY, MASTER_KEY, gateway_config, run_gateway


async def _traffic(url: str) -> list[str]:
    ids = []
    async with aiohttp.ClientSession() as session:
        for key, content, status in (
            (CLIENT_KEY, "secret words here", 200),
            ("not-a-key-0123456789", "x", 401),
        ):
            async with session.post(
                url + "/v1/chat/completions",
                json={"model": "bastion/echo", "messages": [{"role": "user", "content": content}]},
                headers={"authorization": f"Bearer {key}"},
            ) as r:
                assert r.status == status
                ids.append(r.headers["x-request-id"])
    return ids


async def test_one_line_per_request_without_keys_or_bodies(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    config = gateway_config(
        test_model="on",
        observability={"access_log": {"enabled": True, "destination": str(path)}},
    )
    async with run_gateway(config) as gw:
        ids = await _traffic(gw.url)
        live = gw.gateway.observability.live
        assert live is not None
        summary = live.recent[0].summary()  # what the hub's live feed shows of a request
    text = path.read_text()
    lines = [orjson.loads(line) for line in text.splitlines()]
    assert [line["request_id"] for line in lines] == ids
    # The same fields as the live feed's, after time, level and logger.
    assert list(lines[0]) == ["time", "level", "logger", *summary]
    assert {k: lines[0][k] for k in summary} == summary
    assert lines[0]["attempts"] == [
        {"deployment": "bastion/echo", "status": 200, "error": None, "latency_ms": ANY}
    ]
    ok, refused = lines
    assert ok["level"] == "info"
    assert ok["logger"] == "bastion.access"
    assert ok["time"].endswith("Z")
    assert ok["status"] == 200
    assert ok["model"] == "bastion/echo"
    assert ok["deployment"] == "bastion/echo"
    assert ok["key_id"] == "static:client"
    assert ok["completion_tokens"] == 3
    assert ok["latency_ms"] >= ok["upstream_ms"] >= 0
    assert (
        ok["gateway_ms"] == round(ok["latency_ms"] - ok["upstream_ms"], 3)
        or abs(ok["gateway_ms"] - (ok["latency_ms"] - ok["upstream_ms"])) < 0.002
    )
    assert refused["level"] == "warning"
    assert refused["status"] == 401
    assert refused["error"] == "invalid_api_key"
    assert refused["key_id"] is None
    for secret in (CLIENT_KEY, MASTER_KEY, "not-a-key-0123456789", "secret words"):
        assert secret not in text
    assert "request_body" not in ok


async def test_bodies_only_when_switched_on(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    config = gateway_config(
        test_model="on",
        observability={
            "access_log": {"enabled": True, "destination": str(path), "include_bodies": True}
        },
    )
    async with run_gateway(config) as gw:
        await _traffic(gw.url)
    ok = orjson.loads(path.read_text().splitlines()[0])
    assert ok["request_body"]["messages"][0]["content"] == "secret words here"
    assert CLIENT_KEY not in path.read_text()


def _line_as_dict(f: RequestFacts, body: object = None) -> bytes:
    """The line as the access log wrote it before its templates: the facts' summary after
    time, level and logger, serialised by orjson (the template must give these bytes)."""
    line = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(int(f.at)))
        + f"{int((f.at - int(f.at)) * 1000):03d}Z",
        "level": "info" if f.status < 400 else "warning" if f.status < 500 else "error",
        "logger": "bastion.access",
        **f.summary(),
    }
    if body is not None:
        line["request_body"] = body
    return orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE)


@pytest.mark.parametrize("bodies", [False, True])
def test_templated_line_is_the_dicts_json(bodies: bool) -> None:
    """Odd model names and ids (quotes, %, commas), failures, several attempts, no usage,
    verdicts: the line from the templates is byte for byte orjson's of the line's dict."""
    catalog = ModelCatalog(GatewayConfig.model_validate({"test_model": "on"}))
    deployment = catalog.resolve("bastion/echo")[0]
    principal = Principal(id="key_1", name="k", kind="virtual", team_id='te"am%s', app="a,pp")
    log = AccessLog(AccessLogConfig(enabled=True, include_bodies=bodies))
    expected = []
    for case in range(4):
        ctx = RequestContext("chat", "openai", request_id=f'r"{case}%d\\')
        ctx.model, ctx.stream, ctx.status = 'we%ird"mo,del', case % 2 == 1, 200
        ctx.deployment, ctx.principal = deployment, principal
        ctx.usage = {"prompt_tokens": 812, "completion_tokens": 164}
        ctx.upstream_ns = 1_234_567
        ctx.attempts = [Attempt(deployment, 200, None, 1.5)]
        ctx.body = {"model": "m", "messages": [{"role": "user", "content": '50% off, "now"'}]}
        if case == 1:
            ctx.first_byte_ns = ctx.started_ns + 200_000
        if case == 2:
            ctx.error = GatewayError(502, "boom", code='bad"co%de')
            ctx.status = 502
            ctx.attempts = [
                Attempt(deployment, 500, "upstream_error", 1e-05),
                Attempt(deployment, 502, 'bad"co%de', 2.25),
            ]
        if case == 3:
            ctx.usage, ctx.principal, ctx.attempts, ctx.deployment = None, None, None, None
        f = RequestFacts(ctx, (lambda d, p, c, k: p * 2500 + c * 10000) if case != 3 else None)
        if case == 3:
            f.verdicts = [{"detector": "pii", "action": "mask", "direction": "input", "count": 2}]
        log(f, ctx)
        log(f, ctx)  # the second from the cached templates
        expected += [_line_as_dict(f, ctx.body if bodies else None)] * 2
    assert list(log._pending) == expected


async def test_writer_thread_writes_while_running_and_at_stop(tmp_path: Path) -> None:
    """The writer thread writes a line about ``flush_interval`` after it came; stopping
    writes what is queued at once, however long the interval."""
    catalog = ModelCatalog(GatewayConfig.model_validate({"test_model": "on"}))
    ctx = RequestContext("chat", "openai")
    ctx.model, ctx.status, ctx.deployment = "bastion/echo", 200, catalog.resolve("bastion/echo")[0]
    f = RequestFacts(ctx, None)
    path = tmp_path / "access.log"
    log = AccessLog(AccessLogConfig(enabled=True, destination=str(path), flush_interval=0.05))
    log.start()
    for _ in range(3):
        log(f, ctx)
    for _ in range(200):
        if path.read_bytes().count(b"\n") == 3:
            break
        await asyncio.sleep(0.02)
    assert path.read_bytes().count(b"\n") == 3  # written with no flush() called
    log(f, ctx)
    await log.stop()
    assert [orjson.loads(line)["request_id"] for line in path.read_bytes().splitlines()] == [
        ctx.request_id
    ] * 4

    slow_path = tmp_path / "slow.log"
    slow = AccessLog(AccessLogConfig(enabled=True, destination=str(slow_path), flush_interval=60))
    slow.start()
    slow(f, ctx)
    started = time.monotonic()
    await slow.stop()
    assert time.monotonic() - started < 5
    assert slow_path.read_bytes().count(b"\n") == 1
    assert slow.pending == 0


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": 812, "completion_tokens": 164},
        {"prompt_tokens": 0, "completion_tokens": 5},
        {"prompt_tokens": 0, "completion_tokens": 0},
        {"prompt_tokens": 12, "completion_tokens": 3, "prompt_tokens_details": None},
        {
            "prompt_tokens": 12,
            "completion_tokens": 3,
            "prompt_tokens_details": {"cached_tokens": 4},
        },
        {"prompt_tokens": -1, "completion_tokens": 3},
        {"prompt_tokens": True, "completion_tokens": 3},
        {"prompt_tokens": 7.0, "completion_tokens": 2},
        {"input_tokens": 7, "output_tokens": 2},
    ],
)
def test_facts_count_tokens_as_read_usage(usage: dict[str, object]) -> None:
    """The facts' fast path for the common usage shape counts as ``read_usage`` does."""
    ctx = RequestContext("chat", "openai")
    ctx.usage = usage
    f = RequestFacts(ctx, None)
    counted = read_usage(usage)
    assert (f.prompt_tokens, f.completion_tokens, f.cached_tokens) == (
        counted.prompt_tokens,
        counted.completion_tokens,
        counted.cached_tokens,
    )
