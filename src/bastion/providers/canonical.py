"""Building blocks of the canonical (OpenAI Chat Completions / Embeddings) shapes.

Native adapters translate a vendor's answer into these shapes; the helpers here
keep every adapter's output identical in form: the same keys, in the same
places, with the same defaults as OpenAI's own responses.
"""

from __future__ import annotations

import base64
import sys
import time
import uuid
from array import array
from collections.abc import Sequence
from typing import Any

from bastion.errors import GatewayError, bad_request
from bastion.providers.base import JSON


def completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def text_of(content: Any) -> str:
    """The text of a message's content: a string, or the concatenated text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text", ""))
            for p in content
            if isinstance(p, dict) and p.get("type") in ("text", "input_text", "output_text")
        )
    return ""


def parse_data_url(url: str) -> tuple[str, str] | None:
    """``data:<mime>;base64,<data>`` → ``(mime, base64 data)``; None for any other URL."""
    if not url.startswith("data:"):
        return None
    header, sep, data = url[5:].partition(",")
    if not sep or not header.endswith(";base64"):
        raise bad_request("Only base64 data: URLs are supported for inline content.")
    return header[: -len(";base64")].split(";")[0].strip().lower(), data.strip()


def stop_sequences(body: JSON) -> list[str] | None:
    stop = body.get("stop")
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and stop:
        return [s for s in stop if isinstance(s, str)]
    return None


def max_output_tokens(body: JSON) -> int | None:
    value = body.get("max_completion_tokens")
    if value is None:
        value = body.get("max_tokens")
    return value if isinstance(value, int) else None


def reject_n(body: JSON) -> None:
    n = body.get("n")
    if isinstance(n, int) and n > 1:
        raise bad_request("This model returns one choice per request; 'n' must be 1.", param="n")


def usage(
    prompt: int,
    completion: int,
    *,
    cached: int | None = None,
    cache_write: int | None = None,
    reasoning: int | None = None,
) -> JSON:
    """OpenAI usage. ``prompt`` includes cached tokens, as OpenAI counts them.

    Cache-write tokens (billed apart by some vendors) go in
    ``prompt_tokens_details.cache_write_tokens``, an extension field.
    """
    out: JSON = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if cached is not None or cache_write is not None:
        details: JSON = {"cached_tokens": cached or 0}
        if cache_write is not None:
            details["cache_write_tokens"] = cache_write
        out["prompt_tokens_details"] = details
    if reasoning is not None:
        out["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return out


def completion(
    cid: str,
    model: str,
    message: JSON,
    finish_reason: str | None,
    usage_: JSON | None,
) -> JSON:
    """A ``chat.completion`` with one choice. ``message`` has role/content/tool_calls."""
    out: JSON = {
        "id": cid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"refusal": None, **message},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
    }
    if usage_ is not None:
        out["usage"] = usage_
    return out


def assistant_message(content: str | None, tool_calls: list[JSON], reasoning: str) -> JSON:
    message: JSON = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    if reasoning:
        message["reasoning_content"] = reasoning  # extension, as DeepSeek/vLLM name it
    return message


class ChunkMaker:
    """Makes the ``chat.completion.chunk`` dicts of one stream (same id/created/model)."""

    __slots__ = ("created", "id", "model")

    def __init__(self, model: str, cid: str | None = None) -> None:
        self.id = cid or completion_id()
        self.created = int(time.time())
        self.model = model

    def delta(self, delta: JSON, finish_reason: str | None = None) -> JSON:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }

    def usage(self, usage_: JSON) -> JSON:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage_,
        }


# --- embeddings ----------------------------------------------------------------------


def embedding_inputs(body: JSON) -> list[str]:
    """The texts of an embeddings request; token-id inputs are refused (no tokenizer here)."""
    value = body.get("input")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise bad_request(
        "This model embeds text only: 'input' must be a string or an array of strings.",
        param="input",
    )


def embeddings_response(model: str, vectors: Sequence[Sequence[float]], prompt_tokens: int) -> JSON:
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": list(v)} for i, v in enumerate(vectors)
        ],
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


def merge_embeddings(parts: Sequence[JSON]) -> JSON:
    """One embeddings answer from the answers to consecutive slices of the input."""
    data: list[JSON] = []
    tokens = 0
    for part in parts:
        for item in part.get("data", []):
            data.append({**item, "index": len(data)})
        tokens += int(part.get("usage", {}).get("prompt_tokens", 0))
    model = parts[0].get("model", "") if parts else ""
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def base64_embeddings(response: JSON) -> JSON:
    """Encode float vectors as OpenAI does for ``encoding_format: base64`` (float32, little-endian)."""
    for item in response.get("data", []):
        vector = item.get("embedding")
        if isinstance(vector, list):
            packed = array("f", vector)
            if sys.byteorder != "little":
                packed.byteswap()
            item["embedding"] = base64.b64encode(packed.tobytes()).decode("ascii")
    return response


def bad_upstream(provider: str, detail: str) -> GatewayError:
    return GatewayError(
        502,
        f"Unreadable response from {provider}: {detail}",
        code="bad_upstream_response",
        retryable=True,
    )
