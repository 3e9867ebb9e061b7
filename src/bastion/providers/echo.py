"""``bastion/echo``: the built-in test model.

It lets a newcomer with no provider key see the gateway work end to end. It is
an OpenAI-wire "upstream" that lives in the process (the transport routes the
``bastion://`` scheme to :class:`EchoUpstream`), so requests to it take exactly
the path real traffic takes. It answers with the last user message and honest
usage counts. It is never a default route for real traffic.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson

from bastion.providers.openai_compat import FAMILY, OpenAICompatAdapter

ECHO_MODEL = "bastion/echo"


class EchoAdapter(OpenAICompatAdapter):
    def __init__(self) -> None:
        super().__init__(FAMILY["openai_compatible"])
        self.kind = "echo"


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def _count(text: str) -> int:
    return max(1, len(text.split())) if text else 0


class EchoUpstream:
    """Answers OpenAI-format requests in process, plain and streamed."""

    async def respond(self, path: str, body: bytes) -> tuple[int, bytes]:
        req = orjson.loads(body)
        if path.endswith("/embeddings"):
            inputs = req.get("input")
            items = inputs if isinstance(inputs, list) else [inputs]
            data = [
                {"object": "embedding", "index": i, "embedding": _vector(str(item))}
                for i, item in enumerate(items)
            ]
            tokens = sum(_count(str(i)) for i in items)
            return 200, orjson.dumps(
                {
                    "object": "list",
                    "data": data,
                    "model": ECHO_MODEL,
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                }
            )
        prompt, answer = _answer(req)
        usage = _usage(prompt, answer)
        return 200, orjson.dumps(
            {
                "id": "chatcmpl-" + uuid.uuid4().hex[:24],
                "object": "chat.completion",
                "created": int(time.time()),
                "model": ECHO_MODEL,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": answer, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            }
        )

    async def stream(self, body: bytes) -> AsyncIterator[bytes]:
        req = orjson.loads(body)
        prompt, answer = _answer(req)
        cid = "chatcmpl-" + uuid.uuid4().hex[:24]
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
            return (
                b"data: "
                + orjson.dumps(
                    {
                        "id": cid,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": ECHO_MODEL,
                        "choices": [
                            {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                        ],
                    }
                )
                + b"\n\n"
            )

        yield chunk({"role": "assistant", "content": ""}, None)
        words = answer.split(" ")
        for i, word in enumerate(words):
            yield chunk({"content": word if i == 0 else " " + word}, None)
        yield chunk({}, "stop")
        options = req.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            yield (
                b"data: "
                + orjson.dumps(
                    {
                        "id": cid,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": ECHO_MODEL,
                        "choices": [],
                        "usage": _usage(prompt, answer),
                    }
                )
                + b"\n\n"
            )
        yield b"data: [DONE]\n\n"


def _answer(req: dict[str, Any]) -> tuple[str, str]:
    messages = req.get("messages") or []
    prompt = " ".join(_text_of(m.get("content")) for m in messages if isinstance(m, dict))
    last_user = next(
        (
            _text_of(m.get("content"))
            for m in reversed(messages)
            if isinstance(m, dict) and m.get("role") == "user"
        ),
        "",
    )
    return prompt, last_user or "(bastion/echo received no user message)"


def _usage(prompt: str, answer: str) -> dict[str, int]:
    p, c = _count(prompt), _count(answer)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _vector(text: str, dims: int = 8) -> list[float]:
    """A deterministic toy embedding: the same text always gives the same vector."""
    h = uuid.uuid5(uuid.NAMESPACE_OID, text).bytes
    return [round((b - 128) / 128, 4) for b in h[:dims]]
