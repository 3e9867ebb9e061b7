"""/metrics after known traffic: parsed with prometheus-client's own parser."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from prometheus_client.parser import text_string_to_metric_families

from bastion.api.ui.metrics import check_scraper
from bastion.errors import GatewayError
from bastion.observability.settings import MetricsConfig
from tests.conftest import CLIENT_KEY, MASTER_KEY, gateway_config, run_gateway
from tests.governance.helpers import client, start_gateway_process, stop_gateway_process

MASTER = {"authorization": f"Bearer {MASTER_KEY}"}
SCRAPER_KEY = "test-scraper-key-0123456789"  # a static key with the viewer role
EMAIL_POLICY = {
    "policies": {"mail": {"rules": [{"detectors": ["email"], "action": "pseudonymise"}]}},
    "attach": {"models": {"bastion/echo": ["mail"]}},
}


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
        async with session.get(gw.url + "/metrics", headers=MASTER) as r:
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
    """`bastion serve --workers 2`: whichever worker answers the scrape, it counts all,
    guardrail verdicts included; the hub's Quality page shows the verdicts every worker
    recorded, and shows them again after `bastion serve` is restarted."""
    config = {
        "test_model": "on",
        "server": {"data_dir": str(tmp_path / "data"), "workers": 2},
        "guardrails": EMAIL_POLICY,
    }
    gateway = await start_gateway_process(config, tmp_path, "workers")
    try:
        async with aiohttp.ClientSession() as session:
            headers = {"authorization": f"Bearer {CLIENT_KEY}"}
            content = "write to jane.doe@example.com"
            body = {"model": "bastion/echo", "messages": [{"role": "user", "content": content}]}
            for _ in range(20):
                async with session.post(
                    gateway.url + "/v1/chat/completions", json=body, headers=headers
                ) as r:
                    assert r.status == 200
            # Another worker's counts reach the shared files within a second.
            seen: list[float] = []
            for _ in range(40):
                async with session.get(gateway.url + "/metrics", headers=MASTER) as r:
                    s = _samples(await r.text())
                seen.append(_value(s, "bastion_requests_total", http_response_status_code="200"))
                if seen[-1] == 20 and len([v for v in seen if v == 20]) >= 4:
                    break
                await asyncio.sleep(0.1)
            assert seen[-1] == 20, seen
            assert _value(s, "gen_ai_server_request_duration_seconds_count") == 20
            assert max(seen) == 20  # never more than what was served
            assert _value(s, "bastion_guardrail_verdicts_total", action="pseudonymise") == 20

            async def verdicts() -> int:
                async with session.get(gateway.url + "/ui/api/quality", headers=MASTER) as r:
                    quality = await r.json()
                return sum(v["count"] for v in quality["verdicts"])

            # Each worker's recorder writes its own within a flush interval or two.
            for _ in range(100):
                if await verdicts() == 20:
                    break
                await asyncio.sleep(0.1)
            assert [await verdicts() for _ in range(4)] == [20] * 4  # whichever worker answers
            await stop_gateway_process(gateway)
            gateway = await start_gateway_process(config, tmp_path, "workers-again")
            assert [await verdicts() for _ in range(4)] == [20] * 4  # recorded, not counted
    finally:
        if gateway.proc.returncode is None:
            await stop_gateway_process(gateway)


async def test_metrics_need_a_key_that_sees_the_whole_gateway(tmp_path: Path) -> None:
    keys = [
        {"name": "client", "key": CLIENT_KEY},
        {"name": "scraper", "key": SCRAPER_KEY, "role": "viewer"},
    ]
    config = gateway_config(
        auth={"master_key": MASTER_KEY, "keys": keys},
        test_model="on",
        server={"data_dir": str(tmp_path)},
        observability={"metrics": {"auth": "viewer"}},
    )
    async with run_gateway(config) as gw, client(gw.url) as admin:
        team = await admin.ok("POST", "/admin/v1/teams", {"name": "alpha"})
        team_viewer = await admin.ok(
            "POST", "/admin/v1/keys", {"name": "tv", "team_id": team["id"], "role": "viewer"}
        )
        global_viewer = await admin.ok("POST", "/admin/v1/keys", {"name": "gv", "role": "viewer"})
        global_admin = await admin.ok("POST", "/admin/v1/keys", {"name": "ga", "role": "admin"})

        async def scrape(key: str | None) -> tuple[int, str, dict[str, str]]:
            headers = {"authorization": f"Bearer {key}"} if key else {}
            async with admin.session.get(gw.url + "/metrics", headers=headers) as r:
                return r.status, await r.text(), {k.lower(): v for k, v in r.headers.items()}

        # auth: viewer: a key with the viewer or admin role seeing everything.
        status, text, headers = await scrape(None)
        assert status == 401
        assert headers["www-authenticate"].startswith("Bearer")
        assert orjson.loads(text)["error"]["code"] == "invalid_api_key"
        status, text, _ = await scrape("not-a-key-0123456789")
        assert status == 401
        status, text, _ = await scrape(CLIENT_KEY)
        assert (status, orjson.loads(text)["error"]["code"]) == (403, "permission_denied")
        status, text, _ = await scrape(team_viewer["key"])  # sees one team only
        assert (status, orjson.loads(text)["error"]["code"]) == (403, "permission_denied")
        for key in (MASTER_KEY, SCRAPER_KEY, global_viewer["key"], global_admin["key"]):
            status, text, headers = await scrape(key)
            assert status == 200, (key, text)
            assert headers["content-type"].startswith("text/plain")
            assert "bastion_requests_total" in text

        # The other settings, against the same keys.
        authenticator = gw.gateway._authenticator

        def allowed(settings: MetricsConfig, key: str | None) -> bool:
            try:
                check_scraper(settings, authenticator, key)
            except GatewayError:
                return False
            return True

        admin_only = MetricsConfig(auth="admin")
        assert allowed(admin_only, MASTER_KEY)
        assert allowed(admin_only, global_admin["key"])
        assert not allowed(admin_only, SCRAPER_KEY)
        assert not allowed(admin_only, global_viewer["key"])
        open_ = MetricsConfig()
        assert open_.auth == "open"  # the default, as scrapers expect
        assert allowed(open_, None)
        assert allowed(open_, "anything")
        token = MetricsConfig(auth="open", token="scrape-token-0123456789")  # type: ignore[arg-type]
        assert not allowed(token, None)
        assert not allowed(token, MASTER_KEY)
        assert allowed(token, "scrape-token-0123456789")
        with_token = MetricsConfig(auth="viewer", token="scrape-token-0123456789")  # type: ignore[arg-type]
        assert allowed(with_token, "scrape-token-0123456789")
        assert allowed(with_token, SCRAPER_KEY)
        assert not allowed(with_token, CLIENT_KEY)


async def test_verdicts_counted_by_scope_beyond_the_live_feed(tmp_path: Path) -> None:
    """The Quality page's verdicts are the recorded ones (not the last requests kept in
    memory), and a team's viewer sees only its team's."""
    config = gateway_config(
        test_model="on",
        server={"data_dir": str(tmp_path)},
        guardrails=EMAIL_POLICY,
        observability={"hub": {"live_buffer": 10}},
    )
    async with run_gateway(config) as gw, client(gw.url) as admin:
        alpha = await admin.ok("POST", "/admin/v1/teams", {"name": "alpha"})
        beta = await admin.ok("POST", "/admin/v1/teams", {"name": "beta"})
        ka = await admin.ok("POST", "/admin/v1/keys", {"name": "ka", "team_id": alpha["id"]})
        kb = await admin.ok("POST", "/admin/v1/keys", {"name": "kb", "team_id": beta["id"]})
        viewer = await admin.ok(
            "POST", "/admin/v1/keys", {"name": "av", "team_id": alpha["id"], "role": "viewer"}
        )
        mail = {"messages": [{"role": "user", "content": "mail jane.doe@example.com"}]}
        for key, times in ((ka["key"], 2), (kb["key"], 1)):
            for _ in range(times):
                status, _, _ = await admin.as_key(key).chat(**mail)
                assert status == 200
        for _ in range(12):  # push them out of the live feed's 10 requests
            status, _, _ = await admin.as_key(ka["key"]).chat()
            assert status == 200

        await gw.gateway.governance.drain()

        def counted(quality: dict[str, Any]) -> dict[tuple[str, str], int]:
            return {(v["detector"], v["action"]): v["count"] for v in quality["verdicts"]}

        everything = counted(await admin.ok("GET", "/ui/api/quality"))
        assert sum(everything.values()) == 3
        assert {action for _, action in everything} == {"pseudonymise"}
        alpha_only = counted(await admin.as_key(viewer["key"]).ok("GET", "/ui/api/quality"))
        assert sum(alpha_only.values()) == 2
        status, text, _ = await admin.call("GET", "/metrics")
        assert status == 200
        s = _samples(text.decode())
        assert _value(s, "bastion_guardrail_verdicts_total", action="pseudonymise") == 3
