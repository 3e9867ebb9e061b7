"""The stream path: channels hold back only what a match can span, SSE is reframed,
pseudonyms are restored even when a tag is cut across chunks."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import orjson
import pytest

from bastion.errors import GatewayError
from bastion.guardrails import GuardSession, compile_policy
from bastion.guardrails.config import GuardrailsConfig
from bastion.guardrails.sse import ChunkRewriter, rewrite_stream
from bastion.guardrails.stream import OutputChannel


def _policy(*rules: dict):  # type: ignore[no-untyped-def,type-arg]
    config = GuardrailsConfig.model_validate({"policies": {"p": {"rules": list(rules)}}})
    return compile_policy(("p",), config.policies)


REDACT = _policy(
    {"detectors": ["pii", "secrets"], "action": "redact", "direction": "output"},
    {
        "detectors": ["custom"],
        "deny_terms": ["project falcon"],
        "action": "redact",
        "direction": "output",
    },
)
TEXT = (
    "Sure. Her card is 4111 1111 1111 1111 and her mail is jane.doe@example.com; "
    "call +49 30 1234567. Project Falcon ships in May. The key is AKIAIOSFODNN7EXAMPLE."
)


def _batch(text: str) -> str:
    session = GuardSession(REDACT)
    assert REDACT.output is not None
    return session.apply(text, REDACT.output, "output", "output")


def _streamed(pieces: list[str]) -> str:
    session = GuardSession(REDACT)
    channel = OutputChannel(session, REDACT.output)
    return "".join(channel.feed(p) for p in pieces) + channel.flush()


def test_batch_redaction() -> None:
    assert _batch(TEXT) == (
        "Sure. Her card is [CREDIT_CARD] and her mail is [EMAIL]; "
        "call [PHONE]. [CUSTOM] ships in May. The key is [AWS_ACCESS_KEY]."
    )


@pytest.mark.parametrize("seed", range(25))
def test_any_split_gives_the_batch_result(seed: int) -> None:
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(TEXT)), rng.randint(1, 40)))
    pieces = [TEXT[a:b] for a, b in zip([0, *cuts], [*cuts, len(TEXT)], strict=True)]
    assert _streamed(pieces) == _batch(TEXT)


def test_one_character_at_a_time() -> None:
    assert _streamed(list(TEXT)) == _batch(TEXT)


def test_holds_back_only_the_longest_match_span() -> None:
    policy = _policy({"detectors": ["credit_card"], "action": "redact", "direction": "output"})
    channel = OutputChannel(GuardSession(policy), policy.output)
    hold = policy.output.max_span - 1  # type: ignore[union-attr]
    text = "x" * 200
    assert channel.feed(text) == text[: 200 - hold]
    assert channel.flush() == text[200 - hold :]


def test_pseudonyms_restored_across_chunk_boundaries() -> None:
    policy = _policy({"detectors": ["email"], "action": "pseudonymise", "direction": "input"})
    session = GuardSession(policy)
    assert policy.input is not None
    sent = session.apply("mail jane@example.com and bob@example.org", policy.input, "input", "user")
    assert sent == "mail <EMAIL_1> and <EMAIL_2>"
    answer = "Wrote to <EMAIL_1>, cc <EMAIL_2>; <EMAIL_9> is unknown."
    for cut in range(1, len(answer)):
        channel = OutputChannel(session, policy.output)  # no output policy: restore only
        out = channel.feed(answer[:cut]) + channel.feed(answer[cut:]) + channel.flush()
        assert out == "Wrote to jane@example.com, cc bob@example.org; <EMAIL_9> is unknown."


def test_block_mid_stream_raises() -> None:
    policy = _policy({"detectors": ["violence"], "action": "block", "direction": "output"})
    channel = OutputChannel(GuardSession(policy), policy.output)
    released = channel.feed("Here is how to build a bomb at home, step one: ")
    assert "bomb" not in released
    with pytest.raises(GatewayError) as raised:
        channel.feed("x" * 200)
        channel.flush()
    assert raised.value.code == "guardrail_blocked"
    assert raised.value.status == 400


def _chunk(content: str | None = None, finish: str | None = None, **delta: object) -> bytes:
    d = dict(delta)
    if content is not None:
        d["content"] = content
    body = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": d, "finish_reason": finish}]}  # fmt: skip
    return b"data: " + orjson.dumps(body) + b"\n\n"


async def _pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def _text_of(sse: bytes) -> tuple[str, list[str | None]]:
    text, finishes = "", []
    for event in sse.split(b"\n\n"):
        if not event.startswith(b"data: ") or event == b"data: [DONE]":
            continue
        chunk = orjson.loads(event[6:])
        for choice in chunk["choices"]:
            text += choice["delta"].get("content") or ""
            finishes.append(choice["finish_reason"])
    return text, finishes


@pytest.mark.parametrize("size", [1, 7, 64, 10_000])
async def test_sse_rewrite_at_any_byte_split(size: int) -> None:
    words = TEXT.split(" ")
    upstream = (
        _chunk("", role="assistant")
        + b"".join(_chunk(w if i == 0 else " " + w) for i, w in enumerate(words))
        + _chunk(finish="stop")
        + b"data: [DONE]\n\n"
    )
    session = GuardSession(REDACT)
    out = b""
    async for piece in rewrite_stream(
        _pieces(upstream, size), ChunkRewriter(lambda: OutputChannel(session, REDACT.output))
    ):
        out += piece
    text, finishes = _text_of(out)
    assert text == _batch(TEXT)
    assert finishes[-1] == "stop"
    assert out.endswith(b"data: [DONE]\n\n")


async def test_sse_without_finish_reason_gets_a_closing_chunk() -> None:
    upstream = _chunk("card 4111 1111 ") + _chunk("1111 1111 thanks")
    session = GuardSession(REDACT)
    out = b""
    async for piece in rewrite_stream(
        _pieces(upstream, 5), ChunkRewriter(lambda: OutputChannel(session, REDACT.output))
    ):
        out += piece
    assert _text_of(out)[0] == "card [CREDIT_CARD] thanks"


async def test_unrelated_events_pass_untouched() -> None:
    usage = b'data: {"id":"c1","choices":[],"usage":{"prompt_tokens":3}}\n\n'
    upstream = b": keep-alive\n\n" + usage + b"data: [DONE]\n\n"
    out = b""
    async for piece in rewrite_stream(
        _pieces(upstream, 3), ChunkRewriter(lambda: OutputChannel(GuardSession(REDACT), None))
    ):
        out += piece
    assert out == upstream
