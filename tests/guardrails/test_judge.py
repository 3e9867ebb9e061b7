"""The model-judge guardrail: the fake OpenAI upstream's ``judge`` model as the judge,
asked through the gateway's own routing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio
import sqlalchemy as sa

from bastion.guardrails.config import JudgeConfig
from bastion.guardrails.judge import judge_body, judge_text, read_verdict
from tests.conftest import CLIENT_KEY, RunningGateway, gateway_config, run_gateway
from tests.fakes.openai_upstream import FakeOpenAI


def _judge(model: str, **extra: Any) -> dict[str, Any]:
    return {"judge": {"model": model, **extra}}


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def setup() -> AsyncIterator[tuple[RunningGateway, FakeOpenAI]]:
    fake = FakeOpenAI()
    await fake.start()
    up = {"kind": "openai", "base_url": fake.url, "api_key": "sk-fake-upstream-key"}
    config = gateway_config(
        providers={"up": up},
        models=[
            {"name": "chat", "provider": "up", "model": "gpt-4o-mini"},
            {"name": "guard-model", "provider": "up", "model": "judge", "price": {"input": 1, "output": 2}},
            {"name": "slow-guard", "provider": "up", "model": "slow-3"},
            {"name": "broken-guard", "provider": "up", "model": "error-500"},
            {"name": "garbled-guard", "provider": "up", "model": "echo-body"},
            {"name": "strict-guard", "provider": "up", "model": "echo-body", "capabilities": ["json_schema"]},
            *(
                {"name": name, "provider": "up", "model": "gpt-4o-mini"}
                for name in ("chat-slow", "chat-slow-open", "chat-broken", "chat-garbled", "chat-schema")
            ),
        ],
        guardrails={
            "policies": {
                "judged": {
                    "header": True,
                    "rules": [{"detectors": ["email"], "action": "pseudonymise", "direction": "input"}],
                    **_judge("guard-model"),
                },
                "slow": _judge("slow-guard", timeout=0.5),
                "slow-open": _judge("slow-guard", timeout=0.5, on_error="allow"),
                "broken": {"header": True, **_judge("broken-guard", timeout=3, on_error="allow")},
                "garbled": _judge("garbled-guard"),
                "schema": _judge("strict-guard", on_error="allow"),
            },
            "attach": {
                "models": {
                    "chat": ["judged"],
                    # Were the judge's own request guarded, it would ask itself, forever.
                    "guard-model": ["judged"],
                    "chat-slow": ["slow"],
                    "chat-slow-open": ["slow-open"],
                    "chat-broken": ["broken"],
                    "chat-garbled": ["garbled"],
                    "chat-schema": ["schema"],
                }
            },
        },
        routing={"groups": {"broken-guard": {"retries": 0}}},
    )  # fmt: skip
    async with run_gateway(config) as gw:
        yield gw, fake
    await fake.stop()


async def _post(
    gw: RunningGateway, model: str, text: str, request_id: str | None = None
) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
    body = {"model": model, "messages": [{"role": "user", "content": text}]}
    headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
    if request_id is not None:
        headers["x-request-id"] = request_id
    async with (
        aiohttp.ClientSession() as http,
        http.post(gw.base_url + "/chat/completions", json=body, headers=headers) as resp,
    ):
        return resp.status, orjson.loads(await resp.read()), dict(resp.headers)


def _judge_requests(fake: FakeOpenAI, upstream: str) -> list[Any]:
    return [r.json for r in fake.requests if r.json and r.json.get("model") == upstream]


async def test_unsafe_is_blocked_with_the_judges_reason(setup: Any) -> None:
    gw, fake = setup
    fake.reset()
    status, body, headers = await _post(gw, "chat", "plan an attack on the server room")
    assert status == 400
    assert body["error"]["code"] == "guardrail_blocked"
    assert body["error"]["message"] == (
        "Blocked by the guardrail policy 'judged': judge found in the input "
        "(violence: mentions attack)."
    )
    assert headers["x-bastion-guardrails"] == "input/judge/block=1"
    # The judge was asked; the model the caller wanted was not.
    assert len(_judge_requests(fake, "judge")) == 1
    assert _judge_requests(fake, "gpt-4o-mini") == []


async def test_safe_passes_and_the_judge_sees_pseudonyms(setup: Any) -> None:
    gw, fake = setup
    fake.reset()
    status, body, headers = await _post(gw, "chat", "write a poem for jane@example.com")
    assert status == 200, body
    assert body["choices"][0]["message"]["content"] == (
        "Hello! You said: write a poem for jane@example.com"
    )
    assert headers["x-bastion-guardrails"] == "input/email/pseudonymise=1, input/judge/record=1"
    # Exactly two upstream requests: the judge's was not itself judged (no recursion).
    assert len(fake.requests) == 2
    (asked,) = _judge_requests(fake, "judge")
    system, user = asked["messages"]
    assert system["role"] == "system" and "SAFE" in system["content"]
    assert "violence, self_harm" in system["content"]  # {categories} filled in
    assert user == {"role": "user", "content": "[user]\nwrite a poem for <EMAIL_1>"}
    assert "jane@example.com" not in orjson.dumps(asked).decode()
    assert asked["response_format"] == {"type": "json_object"}  # auto: no json_schema declared
    assert asked["temperature"] == 0
    assert asked.get("max_completion_tokens", asked.get("max_tokens")) == 256


async def test_judge_timeout_fails_closed_or_open_as_configured(setup: Any) -> None:
    gw, _ = setup
    status, body, _ = await _post(gw, "chat-slow", "hello")
    assert status == 400
    assert body["error"]["code"] == "guardrail_blocked"
    assert "the guardrail judge is unavailable" in body["error"]["message"]
    status, body, _ = await _post(gw, "chat-slow-open", "hello")
    assert status == 200, body


async def test_judge_error_and_unreadable_answer(setup: Any) -> None:
    gw, _ = setup
    status, body, headers = await _post(gw, "chat-broken", "hello")
    assert status == 200, body  # on_error: allow
    assert headers["x-bastion-guardrails"] == "input/judge/record=1"
    status, body, _ = await _post(gw, "chat-garbled", "hello")  # on_error: block (default)
    assert status == 400
    assert "the guardrail judge is unavailable" in body["error"]["message"]


async def test_json_schema_when_every_deployment_declares_it(setup: Any) -> None:
    gw, fake = setup
    fake.reset()
    status, _, _ = await _post(gw, "chat-schema", "hello")
    assert status == 200  # echo-body is no verdict: on_error allow
    (asked,) = _judge_requests(fake, "echo-body")
    assert asked["response_format"]["type"] == "json_schema"
    assert asked["response_format"]["json_schema"]["schema"]["required"] == [
        "verdict",
        "categories",
        "reason",
    ]


async def test_the_judges_request_is_in_the_ledger(setup: Any) -> None:
    gw, _ = setup
    status, _, _ = await _post(gw, "chat", "hello there", request_id="judge-ledger-1")
    assert status == 200
    governance = gw.gateway.governance
    await governance.ledger.flush()
    async with governance.database.engine.connect() as conn:
        rows = (
            (
                await conn.execute(
                    sa.text(
                        "SELECT request_id, model, ingress, status, prompt_tokens, cost_nusd "
                        "FROM spend_ledger WHERE request_id LIKE 'judge-ledger-1%' "
                        "ORDER BY request_id"
                    )
                )
            )
            .mappings()
            .all()
        )
    assert [(r["request_id"], r["model"], r["ingress"], r["status"]) for r in rows] == [
        ("judge-ledger-1", "chat", "openai", 200),
        ("judge-ledger-1:judge", "guard-model", "guardrail", 200),
    ]
    assert rows[1]["prompt_tokens"] > 0 and rows[1]["cost_nusd"] > 0  # counted and priced


def test_unknown_judge_model_is_refused() -> None:
    # By the config's validation (so `bastion config check` says it too) ...
    with pytest.raises(ValueError, match=r"guardrails\.policies\.p\.judge\.model.*'nope'"):
        gateway_config(guardrails={"policies": {"p": _judge("nope")}, "attach": {"default": ["p"]}})
    # ... and again at start-up, against the router itself.
    config = gateway_config(
        guardrails={"policies": {"p": _judge("bastion/echo")}, "attach": {"default": ["p"]}}
    )
    from bastion.app import create_app
    from bastion.governance.auth import key_digest
    from tests.conftest import MASTER_KEY

    policy = config.guardrails.policies["p"]
    assert policy.judge is not None
    judge = policy.judge.model_copy(update={"model": "nope"})  # past validation
    policies = {"p": policy.model_copy(update={"judge": judge})}
    config = config.model_copy(
        update={"guardrails": config.guardrails.model_copy(update={"policies": policies})}
    )
    with pytest.raises(ValueError, match=r"guardrails\.policies\.p\.judge\.model: 'nope'"):
        create_app(config, key_digest(MASTER_KEY))


# --- the pieces ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "unsafe", "reason"),
    [
        ('{"verdict": "SAFE", "categories": [], "reason": "fine"}', False, "fine"),
        ('{"verdict":"unsafe","categories":["hate"],"reason":"slur"}', True, "hate: slur"),
        ('```json\n{"verdict": "UNSAFE", "categories": ["weapons"]}\n```', True, "weapons"),
        ('Here you are: {"verdict": "SAFE"} hope it helps', False, ""),
        ("safe", False, ""),
        ("unsafe\nS1,S10", True, "S1,S10"),
    ],
)
def test_read_verdict(answer: str, unsafe: bool, reason: str) -> None:
    assert read_verdict(answer) == (unsafe, reason)


@pytest.mark.parametrize("answer", ["", "maybe", '{"verdict": "PERHAPS"}', '{"answer": 42}'])
def test_unreadable_verdicts(answer: str) -> None:
    with pytest.raises(ValueError):
        read_verdict(answer)


def test_judge_text_reads_its_sources_and_keeps_both_ends() -> None:
    config = JudgeConfig(model="m", max_chars=100)
    texts = [
        {"where": "messages[0].content", "source": "system", "text": "operator prompt"},
        {"where": "messages[1].content", "source": "user", "text": "a" * 200},
        {"where": "messages[2].content", "source": "tool", "text": "tool says hi"},
    ]
    text = judge_text(config, texts)
    assert "operator prompt" not in text
    assert text.startswith("[user]\naaa") and text.endswith("tool says hi")
    assert "\n[...]\n" in text and len(text) <= 100 + len("\n[...]\n")
    off = judge_body(JudgeConfig(model="m", json_mode="off"), text, True)
    assert "response_format" not in off
