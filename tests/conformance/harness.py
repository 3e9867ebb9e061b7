"""One provider case under test: its client calls, what its fake received, and stream reassembly."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from tests.conformance.cases import FakeUpstream, ProviderCase

JSON = dict[str, Any]
T = TypeVar("T")


@dataclass
class StreamedCall:
    """One tool call reassembled from its stream deltas."""

    ids: list[str] = field(default_factory=list)  # every id a delta carried
    type: str = ""
    name: str = ""
    arguments: str = ""
    deltas: int = 0  # how many deltas carried it

    @property
    def id(self) -> str:
        """The call's id: it must come once, on the call's first delta."""
        assert len(self.ids) == 1, f"a streamed tool call carried ids {self.ids}"
        return self.ids[0]


@dataclass
class Streamed:
    """A streamed answer as the client saw it, chunk by chunk, and reassembled.

    Azure OpenAI opens its streams with a chunk of prompt filter annotations (no id, no
    choices), which the gateway passes through with the rest of an OpenAI-format stream:
    such chunks are counted in ``annotations`` and left out of ``chunks``.
    """

    chunks: list[ChatCompletionChunk]
    annotations: int = 0
    content: str = ""
    roles: list[str] = field(default_factory=list)
    finish_reasons: list[str] = field(default_factory=list)
    calls: dict[int, StreamedCall] = field(default_factory=dict)
    usage: JSON | None = None
    usage_position: int = -1  # index in ``chunks`` of the chunk that carried the usage

    @classmethod
    def of(cls, received: list[ChatCompletionChunk]) -> Streamed:
        chunks = [c for c in received if not getattr(c, "prompt_filter_results", None)]
        out = cls(chunks, len(received) - len(chunks))
        for position, chunk in enumerate(chunks):
            if chunk.usage is not None:
                out.usage = chunk.usage.model_dump(exclude_none=True)
                out.usage_position = position
            for choice in chunk.choices:
                delta = choice.delta
                if delta.role:
                    out.roles.append(delta.role)
                out.content += delta.content or ""
                for call in delta.tool_calls or []:
                    entry = out.calls.setdefault(call.index, StreamedCall())
                    entry.deltas += 1
                    if call.id:
                        entry.ids.append(call.id)
                    entry.type += call.type or ""
                    if call.function is not None:
                        entry.name += call.function.name or ""
                        entry.arguments += call.function.arguments or ""
                if choice.finish_reason:
                    out.finish_reasons.append(choice.finish_reason)
        return out


class Harness:
    """A provider case, the client in front of the gateway, and the case's fake upstream."""

    def __init__(self, case: ProviderCase, client: openai.AsyncOpenAI, fake: FakeUpstream) -> None:
        self.case = case
        self.client = client
        self.fake = fake

    def sent(self) -> JSON:
        """The body of the last request the fake received."""
        assert self.fake.requests, "the fake upstream received no request"
        body: JSON = self.fake.requests[-1].json
        return body

    async def chat(self, behaviour: str, messages: list[Any], **kwargs: Any) -> ChatCompletion:
        reply: ChatCompletion = await self.client.chat.completions.create(
            model=self.case.model(behaviour), messages=messages, **kwargs
        )
        return reply

    async def stream(
        self, behaviour: str, messages: list[Any], *, usage: bool = True, **kwargs: Any
    ) -> Streamed:
        if usage:
            kwargs["stream_options"] = {"include_usage": True}
        stream = await self.client.chat.completions.create(
            model=self.case.model(behaviour), messages=messages, stream=True, **kwargs
        )
        return Streamed.of([chunk async for chunk in stream])

    async def unless_refused(self, scenario: str, call: Awaitable[T]) -> T | None:
        """Await ``call``; for an expected difference, assert the refusal instead and return None."""
        refused = self.case.differences.get(scenario)
        if refused is None:
            return await call
        with pytest.raises(openai.APIStatusError) as caught:
            await call
        error = caught.value
        assert (error.status_code, error.code) == (refused.status, refused.code), refused.reason
        return None
