"""/metrics after known traffic: parsed with prometheus-client's own parser."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import CLIENT_KEY, gateway_config, run_gateway
from tests.governance.helpers import start_gateway_process, stop_gateway_process


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def _value(samples: dict[str, Any], name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(
        value
        for found, value in samples.get(name, [])
        if all(found.get(k) == v for k, v in labels.items())
    )


async def test_metrics_after_known_traffic() -> None:
    config = gateway_config(test_model="on")
    async with run_gateway(config) as gw, aiohttp.ClientSession() as session:
        headers = {"authorization": f"Bearer {CLIENT_KEY}"}
        for words, stream in ((3, False), (5, False), (4, True)):
            body: dict[str, Any] = {
                "model": "bastion/echo",
                "messages": [{"role": "user", "content": " ".join(["hi"] * words)}],
                "stream": stream,
            }
            if stream:
                body["stream_options"] = {"include_usage": True}
            async with session.post(
                gw.base_url + "/chat/completions", json=body, headers=headers
            ) as r:
                assert r.status == 200
                await r.read()
        async with session.post(
            gw.base_url + "/chat/completions",
            json={"model": "nope/none", "messages": [{"role": "user", "content": "x"}]},
            headers=headers,
        ) as r:
            assert r.status == 404
        async with session.post(
            gw.base_url + "/chat/completions",
            json={"model": "bastion/echo", "messages": []},
            headers={"authorization": "Bearer wrong-key-0123456789"},
        ) as r:
            assert r.status == 401
        metrics = gw.gateway.observability.metrics
        assert metrics is not None
        async with session.get(gw.url + "/metrics") as r:
            assert r.status == 200
            assert r.headers["content-type"].startswith("text/plain")
            text = await r.text()
    s = _samples(text)
    echo = {"gen_ai_request_model": "bastion/echo", "gen_ai_provider_name": "bastion"}
    assert _value(s, "bastion_requests_total", http_response_status_code="200", **echo) == 3
    assert _value(s, "bastion_requests_total", http_response_status_code="404") == 1
    assert _value(s, "bastion_requests_total", http_response_status_code="401") == 1
    assert _value(s, "bastion_errors_total", error_type="invalid_api_key") == 1
    assert _value(s, "bastion_errors_total", error_type="model_not_found") == 1
    assert _value(s, "gen_ai_server_request_duration_seconds_count", **echo) == 3
    assert _value(s, "gen_ai_server_request_duration_seconds_count") == 5
    assert _value(s, "gen_ai_server_time_to_first_token_seconds_count", **echo) == 1
    assert _value(s, "bastion_gateway_overhead_seconds_count") == 5
    assert _value(s, "bastion_tokens_total", gen_ai_token_type="output", **echo) == 3 + 5 + 4
    assert _value(s, "gen_ai_client_token_usage_count", gen_ai_token_type="output", **echo) == 3
    assert _value(s, "bastion_requests_in_flight") == 0
    # Every series the Grafana dashboard charts is exposed.
    dashboard = (Path(__file__).parents[2] / "deploy/grafana/bastion-dashboard.json").read_text()
    declared = metrics.names()
    metric = r"((?:bastion|gen_ai)_[a-z_]+)"
    charted = set(re.findall(metric + r"(?=\s*[\[{])", dashboard))  # name[range], name{...}
    charted |= set(
        re.findall(r"(?<!by )\(" + metric + r"\)", dashboard)
    )  # sum(name), by (...) (name)
    assert len(charted) >= 12
    for name in charted:
        base = re.sub(r"_(bucket|total)$", "", name)
        assert base in declared, name


async def test_metrics_summed_over_workers(tmp_path: Path) -> None:
    """`bastion serve --workers 2`: whichever worker answers the scrape, it counts all."""
    config = {
        "test_model": "on",
        "server": {"data_dir": str(tmp_path / "data"), "workers": 2},
    }
    gateway = await start_gateway_process(config, tmp_path, "workers")
    try:
        async with aiohttp.ClientSession() as session:
            headers = {"authorization": f"Bearer {CLIENT_KEY}"}
            body = {"model": "bastion/echo", "messages": [{"role": "user", "content": "a b"}]}
            for _ in range(20):
                async with session.post(
                    gateway.url + "/v1/chat/completions", json=body, headers=headers
                ) as r:
                    assert r.status == 200
            # Another worker's counts reach the shared files within a second.
            seen: list[float] = []
            for _ in range(40):
                async with session.get(gateway.url + "/metrics") as r:
                    s = _samples(await r.text())
                seen.append(_value(s, "bastion_requests_total", http_response_status_code="200"))
                if seen[-1] == 20 and len([v for v in seen if v == 20]) >= 4:
                    break
                await asyncio.sleep(0.1)
            assert seen[-1] == 20, seen
            assert _value(s, "gen_ai_server_request_duration_seconds_count") == 20
            assert max(seen) == 20  # never more than what was served
    finally:
        await stop_gateway_process(gateway)
