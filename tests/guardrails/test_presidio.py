"""The presidio guardrail: an engine with Presidio's ``analyze`` (tests/guardrails/
presidio_engines.py) behind ``factory``, through a running gateway."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio
from pydantic import ValidationError

from bastion.cli import build_parser
from bastion.config import ConfigError, parse_config
from bastion.guardrails import GuardInput, PolicyResolver
from bastion.guardrails.config import GuardrailsConfig, PresidioConfig
from bastion.pipeline import RequestContext
from tests.conftest import CLIENT_KEY, RunningGateway, gateway_config, run_gateway
from tests.fakes.openai_upstream import FakeOpenAI
from tests.guardrails import presidio_engines

FACTORY = "tests.guardrails.presidio_engines:deny_list_engine"
TEXT = "Jane Smith from Acme Corp lives in Paris; write to jane@example.com"


def _presidio(**extra: Any) -> dict[str, Any]:
    return {"factory": FACTORY, **extra}


POLICIES: dict[str, Any] = {
    "pseudo": {
        "header": True,
        "presidio": _presidio(),
        "rules": [{"detectors": ["email"], "action": "pseudonymise", "direction": "input"}],
    },
    "redact": {"presidio": _presidio(action="redact", entities=["PERSON", "LOCATION"])},
    "block": {"header": True, "presidio": _presidio(action="block", entities=["PERSON"])},
    "low": {"presidio": _presidio(action="redact", score_threshold=0.3)},
}


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def setup() -> AsyncIterator[tuple[RunningGateway, FakeOpenAI, int]]:
    fake = FakeOpenAI()
    await fake.start()
    up = {"kind": "openai", "base_url": fake.url, "api_key": "sk-fake-upstream-key"}
    config = gateway_config(
        providers={"up": up},
        models=[{"name": n, "provider": "up", "model": "gpt-4o-mini"} for n in POLICIES],
        guardrails={"policies": POLICIES, "attach": {"models": {n: [n] for n in POLICIES}}},
    )
    built = len(presidio_engines.ENGINES)
    async with run_gateway(config) as gw:
        yield gw, fake, len(presidio_engines.ENGINES) - built
    await fake.stop()


async def _post(
    gw: RunningGateway, model: str, text: str, stream: bool = False
) -> tuple[int, bytes, dict[str, str]]:
    body = {"model": model, "messages": [{"role": "user", "content": text}], "stream": stream}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            gw.base_url + "/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {CLIENT_KEY}"},
        ) as resp,
    ):
        return resp.status, await resp.read(), dict(resp.headers)


def _sent(fake: FakeOpenAI) -> str:
    (request,) = fake.requests
    content: str = request.json["messages"][0]["content"]
    return content


async def test_one_engine_for_every_policy_naming_it(setup: Any) -> None:
    _, _, built = setup
    assert built == 1


async def test_names_and_places_are_pseudonymised_and_restored(setup: Any) -> None:
    gw, fake, _ = setup
    fake.reset()
    status, body, headers = await _post(gw, "pseudo", TEXT)
    assert status == 200, body
    # ORGANIZATION scores 0.4 here: under the default threshold (0.5).
    assert _sent(fake) == "<PERSON_1> from Acme Corp lives in <LOCATION_1>; write to <EMAIL_1>"
    assert orjson.loads(body)["choices"][0]["message"]["content"] == "Hello! You said: " + TEXT
    assert headers["x-bastion-guardrails"] == (
        "input/email/pseudonymise=1, input/location/pseudonymise=1, input/person/pseudonymise=1"
    )
    # Presidio ran on its thread pool, never on the event loop's thread.
    threads = set().union(*(e.threads for e in presidio_engines.ENGINES))
    assert threads and all(t.startswith("bastion-presidio") for t in threads)


async def test_streamed_answer_gets_the_names_back(setup: Any) -> None:
    gw, fake, _ = setup
    fake.reset()
    status, body, _ = await _post(gw, "pseudo", "Say hi to John Doe in Berlin", stream=True)
    assert status == 200
    assert _sent(fake) == "Say hi to <PERSON_1> in <LOCATION_1>"
    text = "".join(
        (orjson.loads(line[6:])["choices"] or [{}])[0].get("delta", {}).get("content") or ""
        for line in body.decode().splitlines()
        if line.startswith("data: {")
    )
    assert text == "Hello! You said: Say hi to John Doe in Berlin"


async def test_redact_with_chosen_entities(setup: Any) -> None:
    gw, fake, _ = setup
    fake.reset()
    status, _, _ = await _post(gw, "redact", TEXT)
    assert status == 200
    assert _sent(fake) == "[PERSON] from Acme Corp lives in [LOCATION]; write to jane@example.com"


async def test_threshold(setup: Any) -> None:
    gw, fake, _ = setup
    fake.reset()
    status, _, _ = await _post(gw, "low", TEXT)
    assert status == 200
    assert _sent(fake).startswith("[PERSON] from [ORGANIZATION] lives in [LOCATION]")


async def test_block(setup: Any) -> None:
    gw, fake, _ = setup
    fake.reset()
    status, body, headers = await _post(gw, "block", "a letter to Jane Smith")
    assert status == 400
    error = orjson.loads(body)["error"]
    assert error["code"] == "guardrail_blocked"
    assert error["message"] == (
        "Blocked by the guardrail policy 'block': presidio/person found in the input "
        "(messages[0].content)."
    )
    assert "Jane" not in body.decode()
    assert headers["x-bastion-guardrails"] == "input/person/block=1"
    assert fake.requests == []
    status, _, _ = await _post(gw, "block", "no names here, only Paris")
    assert status == 200


async def test_verdicts_name_the_presidio_family() -> None:
    config = GuardrailsConfig.model_validate(
        {"policies": {"p": POLICIES["pseudo"]}, "attach": {"default": ["p"]}}
    )
    ctx = RequestContext("chat", "openai")
    ctx.model = "m"
    ctx.body = {"messages": [{"role": "user", "content": TEXT}]}
    await GuardInput(PolicyResolver(config))(ctx)
    verdicts = {(v.detector, v.kind, v.action) for v in ctx.guardrails.verdicts}  # type: ignore[attr-defined]
    assert verdicts == {
        ("presidio", "person", "pseudonymise"),
        ("presidio", "location", "pseudonymise"),
        ("pii", "email", "pseudonymise"),
    }


# --- configuration ----------------------------------------------------------------------------


def test_missing_presidio_or_model_is_a_config_error(tmp_path: Path, capsys: Any) -> None:
    text = (
        "guardrails:\n  policies:\n    names:\n      presidio: {spacy_model: no_such_spacy_model}\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "bastion.yaml", {})
    (problem,) = caught.value.problems
    assert problem.startswith("guardrails.policies.names.presidio")
    if importlib.util.find_spec("presidio_analyzer") is None:
        assert "pip install 'bastion-gateway[presidio]'" in problem
    else:
        assert "the spaCy model 'no_such_spacy_model' is not installed" in problem
    path = tmp_path / "bastion.yaml"
    path.write_text(text)
    args = build_parser().parse_args(["config", "check", str(path)])
    assert args.func(args) == 1
    assert "guardrails.policies.names.presidio" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (
            {"factory": "no_such_module_xyz:build"},
            "the module 'no_such_module_xyz' cannot be found",
        ),
        ({"factory": "not a path"}, "must be 'package.module:function'"),
        ({"factory": FACTORY, "entities": ["CREDIT_CARD"]}, "use the built-in detector"),
        ({"factory": FACTORY, "entities": ["person"]}, "is not a Presidio entity name"),
    ],
)
def test_bad_presidio_blocks(block: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PresidioConfig.model_validate(block)
