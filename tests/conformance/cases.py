"""The providers the conformance suite runs against: one :class:`ProviderCase` each.

Adding a provider means adding a case here (and, for a new wire format, a fake
upstream and a :class:`~tests.conformance.wires.Wire`); every scenario in
``test_providers.py`` then runs against it. Whatever a provider genuinely
cannot do is an :class:`Refused` entry in its ``differences``, with the reason:
the suite then asserts that the gateway refuses it in exactly that way.

The numbers below are what each fake upstream answers (see tests/fakes/), as
the client must see them after translation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from tests.conformance import wires
from tests.conformance.wires import Wire
from tests.fakes import anthropic_upstream as fa
from tests.fakes import bedrock_upstream as fb
from tests.fakes import cohere_upstream as fc
from tests.fakes import openai_wire as fo
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.bedrock_upstream import FakeBedrock
from tests.fakes.cohere_upstream import FakeCohere
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.openai_upstream import DEFAULT_API_KEY, FakeOpenAI

JSON = dict[str, Any]


class FakeUpstream(Protocol):
    """What the suite needs of a fake: start, stop, reset, and what it received."""

    url: str

    @property
    def requests(self) -> list[Any]: ...  # each with ``.json``, the body as received

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def reset(self) -> None: ...


@dataclass(frozen=True)
class Refused:
    """An expected difference: the gateway answers the scenario with this error, because ``reason``."""

    reason: str
    status: int
    code: str


# Behaviours of the fakes' shared table (see tests/fakes/), by the name the suite uses.
BEHAVIOURS = (
    "text",
    "tool-call",
    "parallel-tools",
    "cached",
    "json",
    "stop-seq",
    "length",
    "content-filter",
    "error-400",
    "error-429",
    "error-500",
    "error-503",
    "overloaded",
    "context-too-long",
)


@dataclass(frozen=True)
class ProviderCase:
    name: str  # the provider's name in the gateway config: models are "<name>/<upstream id>"
    fake: type[FakeUpstream]  # its fake upstream (cases naming the same class share one)
    provider: Callable[[Any], JSON]  # the `providers:` entry, given the running fake
    wire: Wire  # where the upstream request keeps each thing the suite checks
    text_model: str  # an ordinary model id: "Hello! You said: <last user text>"
    text_usage: JSON  # usage of "hi there" to text_model, as the SDK dumps it
    cached_usage: JSON  # usage of the "cached" behaviour (cache reads/writes, reasoning)
    tool_arguments: tuple[str, str]  # the Paris / London calls' arguments, byte for byte
    retry_after: str  # the Retry-After the client gets on the fake's 429
    stop_answer: str  # the answer of "stop-seq" to STOP_SEQUENCES
    length_answer: str  # the answer of "length" to "hi there" with max_tokens=3
    filtered_answer: str | None  # the content that comes with finish_reason content_filter
    model_ids: Mapping[str, str] = field(default_factory=dict)  # behaviour -> id, where not equal
    # Chunks without choices that open every stream, passed through (Azure's prompt filter results).
    stream_annotations: int = 0
    differences: Mapping[str, Refused] = field(default_factory=dict)  # scenario -> refusal

    def model(self, behaviour: str) -> str:
        """The public model name that makes the fake behave as ``behaviour``."""
        if behaviour not in BEHAVIOURS:
            raise KeyError(behaviour)
        upstream = self.text_model if behaviour == "text" else behaviour
        return f"{self.name}/{self.model_ids.get(behaviour, upstream)}"


# One stop list for every fake: each one's canned text contains exactly one of these.
STOP_SEQUENCES = ["three", "said", "3"]


def _openai_usage(prompt: int, completion: int) -> JSON:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _vertex(fake: FakeGemini) -> JSON:
    # A service account (inline JSON): the gateway signs a JWT and gets a token from the fake.
    return fake.vertex_config(json.dumps(fake.service_account_info()))


_OPENAI_COMMON: JSON = {
    "wire": wires.OPENAI,
    "text_usage": _openai_usage(9, 5),
    "cached_usage": fo.CACHED_USAGE,
    "tool_arguments": fo.TOOL_ARGUMENTS,
    "retry_after": str(fo.RETRY_AFTER_SECONDS),
    "stop_answer": "one two ",
    "length_answer": "Hello! You said:",
    "filtered_answer": None,
    "model_ids": {"cached": "gpt-cached", "overloaded": "error-503"},
}

CASES: tuple[ProviderCase, ...] = (
    ProviderCase(
        name="openai",
        fake=FakeOpenAI,
        provider=lambda f: {"kind": "openai", "base_url": f.url, "api_key": DEFAULT_API_KEY},
        text_model="gpt-4o-mini",
        **_OPENAI_COMMON,
    ),
    ProviderCase(
        name="azure",
        fake=FakeOpenAI,
        provider=lambda f: {
            "kind": "azure",
            "base_url": f.root_url,
            "api_key": DEFAULT_API_KEY,
            "api_version": "2024-10-21",
        },
        text_model="my-gpt-4o-deployment",  # Azure: the deployment name
        stream_annotations=1,
        **_OPENAI_COMMON,
    ),
    ProviderCase(
        name="anthropic",
        fake=FakeAnthropic,
        provider=lambda f: f.provider_config(),
        wire=wires.ANTHROPIC,
        text_model="claude-sonnet-4-5",
        text_usage={
            "prompt_tokens": 21,
            "completion_tokens": 9,
            "total_tokens": 30,
            "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        },
        cached_usage={  # input 13 + cache reads 1800 + cache writes 200
            "prompt_tokens": 2013,
            "completion_tokens": 75,
            "total_tokens": 2088,
            "prompt_tokens_details": {"cached_tokens": 1800, "cache_write_tokens": 200},
            "completion_tokens_details": {"reasoning_tokens": 40},
        },
        tool_arguments=('{"city":"Paris"}', '{"city":"London"}'),
        retry_after=fa.RETRY_AFTER,
        stop_answer="one two ",
        length_answer="This answer is cut",
        filtered_answer="I can't",  # stop_reason "refusal"
    ),
    *(
        ProviderCase(
            name=name,
            fake=FakeGemini,
            provider=provider,
            wire=wires.GEMINI,
            text_model="gemini-2.5-flash",
            text_usage={
                "prompt_tokens": 2,
                "completion_tokens": 5,
                "total_tokens": 7,
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0},
            },
            cached_usage={  # completion = candidates 20 + thoughts 30
                "prompt_tokens": 2000,
                "completion_tokens": 50,
                "total_tokens": 2050,
                "prompt_tokens_details": {"cached_tokens": 1500},
                "completion_tokens_details": {"reasoning_tokens": 30},
            },
            tool_arguments=('{"city":"Paris"}', '{"city":"London"}'),  # calls arrive whole
            retry_after="7",  # RetryInfo.retryDelay 6.5s, rounded up
            stop_answer="Hello! You ",
            length_answer="Hello! You said:",
            filtered_answer=None,  # finishReason SAFETY, no content
        )
        for name, provider in (
            ("gemini", lambda f: f.provider_config()),
            ("vertex", _vertex),
        )
    ),
    ProviderCase(
        name="bedrock",
        fake=FakeBedrock,
        provider=lambda f: f.provider_config("sigv4"),
        wire=wires.BEDROCK,
        text_model="amazon.nova-lite-v1:0",
        text_usage={"prompt_tokens": 2, "completion_tokens": 13, "total_tokens": 15},
        cached_usage={  # input 12 + cache reads 1792 + cache writes 256
            "prompt_tokens": 2060,
            "completion_tokens": 40,
            "total_tokens": 2100,
            "prompt_tokens_details": {"cached_tokens": 1792, "cache_write_tokens": 256},
        },
        tool_arguments=('{"city": "Paris"}', '{"city": "London"}'),
        retry_after=fb.RETRY_AFTER,
        stop_answer="Counting: 1, 2, ",
        length_answer="Hello! You said:",
        filtered_answer=fb.GUARDRAIL_TEXT,  # stopReason guardrail_intervened
        differences={
            "image_url": Refused(
                "Converse takes images as inline bytes only, and the gateway does not fetch URLs",
                400,
                "invalid_request",
            ),
        },
    ),
    ProviderCase(
        name="cohere",
        fake=FakeCohere,
        provider=lambda f: f.provider_config(),
        wire=wires.COHERE,
        text_model="command-a-03-2025",
        text_usage={  # tokens (what the model saw: 2 + the chat template's 7), not billed_units
            "prompt_tokens": 9,
            "completion_tokens": 5,
            "total_tokens": 14,
        },
        cached_usage={
            "prompt_tokens": 9,
            "completion_tokens": 13,
            "total_tokens": 22,
            "prompt_tokens_details": {"cached_tokens": fc.CACHED_TOKENS},
        },
        tool_arguments=('{"city": "Paris"}', '{"city": "London"}'),
        retry_after=fc.RETRY_AFTER,
        stop_answer="Counting: 1, 2, ",
        length_answer="Hello! You said:",
        filtered_answer=None,
        differences={
            scenario: Refused(
                "Cohere blocks content with HTTP 498 instead of ending the answer with a filter stop",
                400,
                "content_policy_violation",
            )
            for scenario in ("content_filter", "stream_content_filter")
        },
    ),
)
