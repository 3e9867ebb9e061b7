"""The OpenAI-compatible family's request building: what each member is sent."""

from __future__ import annotations

import orjson
import pytest

from bastion.providers.base import Deployment, ProviderSettings
from bastion.providers.openai_compat import FAMILY, OpenAICompatAdapter

CHAT = {"model": "public", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 7}


def sent(kind: str, body: dict[str, object], api_version: str | None = None) -> dict[str, object]:
    provider = ProviderSettings(
        name=kind, kind=kind, base_url="http://127.0.0.1:9/v1", api_version=api_version
    )
    adapter = OpenAICompatAdapter(FAMILY[kind])
    deployment = Deployment(name="d", model="o3-mini", provider=provider, adapter=adapter)
    request = adapter.build_request("chat", body, deployment, stream=False)
    out: dict[str, object] = orjson.loads(request.body)
    return out


@pytest.mark.parametrize(
    ("kind", "api_version", "field"),
    [
        # OpenAI deprecated max_tokens and its reasoning models refuse it.
        ("openai", None, "max_completion_tokens"),
        ("groq", None, "max_completion_tokens"),
        ("azure", None, "max_completion_tokens"),  # the default api-version knows it
        ("azure", "2024-06-01", "max_tokens"),  # older api-versions do not
        ("mistral", None, "max_tokens"),  # strict about unknown fields
        ("ollama", None, "max_tokens"),
        ("openai_compatible", None, "max_tokens"),
    ],
)
def test_output_cap_is_sent_under_the_name_the_server_knows(
    kind: str, api_version: str | None, field: str
) -> None:
    body = sent(kind, CHAT, api_version)
    other = {"max_tokens", "max_completion_tokens"} - {field}
    assert body[field] == 7 and not other & body.keys()
    assert body["model"] == "o3-mini" and CHAT["max_tokens"] == 7  # the caller's body untouched


def test_an_explicit_max_completion_tokens_wins() -> None:
    body = sent("openai", {**CHAT, "max_completion_tokens": 9})
    assert body["max_completion_tokens"] == 9 and body["max_tokens"] == 7
