"""OpenAI's Chat Completions and Embeddings wire format, as pure functions for the fake.

What the fake "model" answers (:func:`answer`) is decided from the request body alone;
:func:`chat_chunks` and :func:`chat_completion` frame it the way OpenAI (or Azure OpenAI)
does. Shapes, key order and values follow OpenAI's API reference examples, recorded
streams, and the ``openai`` SDK's types (``ChatCompletion``, ``ChatCompletionChunk``,
``CompletionUsage``, ``CreateEmbeddingResponse``).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import random
import re
import secrets
import string
import struct
import time
from dataclasses import dataclass
from typing import Any

import orjson

SYSTEM_FINGERPRINT = "fp_44709d6fcb"  # from OpenAI's documented chunk example
MODEL_DATE_SUFFIX = "-2024-07-18"  # "gpt-4o-mini" is answered as "gpt-4o-mini-2024-07-18"
EMBEDDING_DIMENSIONS = 8
TOOL_ARGUMENTS = ('{"city": "Paris"}', '{"city": "London"}')  # call 0, call 1
RETRY_AFTER_SECONDS = 7
CREATED = 1_721_172_741  # the fixed ``created`` of catalogue entries
MODEL_CATALOG = (
    ("gpt-4o-mini", "system"),
    ("gpt-4o", "system"),
    ("text-embedding-3-small", "system"),
    ("text-embedding-3-large", "system"),
    ("gpt-cached", "fake"),
    ("tool-call", "fake"),
    ("parallel-tools", "fake"),
    ("echo-body", "fake"),
)
# "gpt-cached" usage. OpenAI caches prompt prefixes of >= 1024 tokens in 128-token steps,
# and completion_tokens includes the (invisible) reasoning tokens.
CACHED_PROMPT_TOKENS = 1280
CACHED_CACHED_TOKENS = 1024
CACHED_COMPLETION_TOKENS = 192
CACHED_REASONING_TOKENS = 128
TOOL_MODELS = frozenset({"tool-call", "parallel-tools", "parallel-tools-interleaved"})
JSON_TEXT = '{"answer": 42}'  # what "json" answers
STOP_SEQ_TEXT = "one two three four five"  # what "stop-seq" answers, cut at a stop sequence
HANG_EVENTS = 2  # "stream-hang" sends the role chunk and the first content chunk

_CONTEXT_TOO_LONG = (
    400,
    "This model's maximum context length is 128000 tokens. However, your messages "
    "resulted in 130532 tokens. Please reduce the length of the messages.",
    "invalid_request_error",
    "messages",
    "context_length_exceeded",
)
SCENARIO_ERRORS: dict[str, tuple[int, str, str, str | None, str | None]] = {
    # status, message ({model} is filled in), type, param, code
    "error-400": _CONTEXT_TOO_LONG,
    "context-too-long": _CONTEXT_TOO_LONG,
    "error-404": (
        404,
        "The model `{model}` does not exist or you do not have access to it.",
        "invalid_request_error",
        None,
        "model_not_found",
    ),
    "error-429": (
        429,
        "Rate limit reached for {model} in organization org-fake on requests per min (RPM): "
        f"Limit 3, Used 3, Requested 1. Please try again in {RETRY_AFTER_SECONDS}s. "
        "Visit https://platform.openai.com/account/rate-limits to learn more.",
        "requests",
        None,
        "rate_limit_exceeded",
    ),
    "error-500": (
        500,
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
        None,
    ),
    "error-503": (503, "The server is overloaded or not ready yet.", "server_error", None, None),
}
RATE_LIMITED_HEADERS = {
    "retry-after": str(RETRY_AFTER_SECONDS),
    "x-ratelimit-limit-requests": "3",
    "x-ratelimit-remaining-requests": "0",
    "x-ratelimit-reset-requests": f"{RETRY_AFTER_SECONDS}s",
    "x-ratelimit-limit-tokens": "200000",
    "x-ratelimit-remaining-tokens": "199985",
    "x-ratelimit-reset-tokens": "4ms",
}
RATE_HEADERS = {
    "x-ratelimit-limit-requests": "10000",
    "x-ratelimit-remaining-requests": "9999",
    "x-ratelimit-reset-requests": "6ms",
    "x-ratelimit-limit-tokens": "30000000",
    "x-ratelimit-remaining-tokens": "29999985",
    "x-ratelimit-reset-tokens": "0s",
}
_SAFE = {"filtered": False, "severity": "safe"}
_CONTENT_FILTER = {"hate": _SAFE, "self_harm": _SAFE, "sexual": _SAFE, "violence": _SAFE}
_PROMPT_FILTER = [
    {
        "prompt_index": 0,
        "content_filter_results": {
            **_CONTENT_FILTER,
            "jailbreak": {"filtered": False, "detected": False},
        },
    }
]
AZURE_401_MESSAGE = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
    "provide a valid key for an active subscription and use a correct regional API "
    "endpoint for your resource."
)
NO_KEY_MESSAGE = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field "
    "(with blank username) if you're accessing the API from your browser and are prompted for "
    "a username and password. You can obtain an API key from "
    "https://platform.openai.com/account/api-keys."
)
BAD_JSON_MESSAGE = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
    "sent was not valid JSON. If you have trouble figuring out how to fix this, please "
    "contact us through our help center at help.openai.com.)"
)
EMPTY_MESSAGES_MESSAGE = (
    "Invalid 'messages': empty array. Expected an array with minimum length 1, "
    "but got an empty array instead."
)
STREAM_OPTIONS_MESSAGE = "The 'stream_options' parameter is only allowed when 'stream' is enabled."
BAD_INPUT_MESSAGE = (
    "'$.input' is invalid. Please check the API reference: "
    "https://platform.openai.com/docs/api-reference."
)
DONE_EVENT = b"data: [DONE]\n\n"
_ALPHANUMERIC = string.ascii_letters + string.digits


@dataclass(frozen=True)
class ToolCall:
    """One function call the fake "model" makes."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Answer:
    """What the fake "model" says, before it is framed as a body or a stream."""

    content: str | None
    pieces: tuple[str, ...]  # content as streamed, one piece per chunk (and per token)
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str
    usage: dict[str, Any] | None  # None: "no-usage", a server that reports none
    interleave: bool = False


def _new_id(prefix: str, length: int) -> str:
    return prefix + "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


def dated(model: str) -> str:
    """The model id OpenAI reports for an alias: ``gpt-4o-mini`` -> ``gpt-4o-mini-2024-07-18``."""
    return model if re.search(r"-\d{4}-\d{2}-\d{2}$", model) else model + MODEL_DATE_SUFFIX


def count_tokens(text: str) -> int:
    """A deterministic stand-in for a tokenizer: words and punctuation marks."""
    return len(re.findall(r"\w+|[^\w\s]", text))


def _text(content: Any) -> str:
    """The text of a message ``content``: a string or a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = (p.get("text", "") for p in content if isinstance(p, dict))
        return " ".join(p for p in parts if isinstance(p, str) and p)
    return ""


def _pieces(text: str) -> tuple[str, ...]:
    """Split text the way tokens stream: each piece carries its leading whitespace."""
    return tuple(re.findall(r"\s*\S+|\s+$", text))


def _argument_fragments(arguments: str) -> list[str]:
    """Split tool-call arguments as OpenAI streams them: '{"', 'city', '": "', 'Paris', '"}'."""
    return re.findall(r'\{"|":\s*"|"\}|[^"{}:]+|.', arguments)


def _usage(prompt: int, completion: int, cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


CACHED_USAGE = _usage(
    CACHED_PROMPT_TOKENS, CACHED_COMPLETION_TOKENS, CACHED_CACHED_TOKENS, CACHED_REASONING_TOKENS
)


def answer(body: dict[str, Any], model: str) -> Answer:
    """Decide the reply to a validated chat request, deterministically from its body."""
    messages: list[Any] = body["messages"]
    prompt = 3 + sum(
        4 + count_tokens(_text(m.get("content"))) for m in messages if isinstance(m, dict)
    )
    if body.get("tools"):
        prompt += count_tokens(orjson.dumps(body["tools"]).decode())
    last = messages[-1] if isinstance(messages[-1], dict) else {}
    tools = [
        t["function"]["name"]
        for t in body.get("tools") or []
        if isinstance(t, dict) and isinstance(t.get("function"), dict) and "name" in t["function"]
    ]
    wants_tools = tools and body.get("tool_choice") != "none" and last.get("role") != "tool"
    if model in TOOL_MODELS and wants_tools:
        count = 1 if model == "tool-call" else 2
        calls = tuple(
            ToolCall(_new_id("call_", 24), tools[i % len(tools)], TOOL_ARGUMENTS[i])
            for i in range(count)
        )
        completion = sum(len(_argument_fragments(c.arguments)) + 2 for c in calls)
        return Answer(
            None, (), calls, "tool_calls", _usage(prompt, completion), model.endswith("interleaved")
        )
    if model in TOOL_MODELS and last.get("role") == "tool":
        text = "The tool said: " + _text(last.get("content"))
    elif model == "echo-body":
        text = orjson.dumps(body).decode()
    elif model == "json":
        text = JSON_TEXT
    elif model == "judge":  # a safety classifier: UNSAFE when the last user text names one
        text = judge_verdict(_text(last.get("content")))
    elif model == "stop-seq":
        text = _cut_at_stop(STOP_SEQ_TEXT, body.get("stop"))
    elif model == "content-filter":  # the output was filtered: no content, finish content_filter
        return Answer(None, (), (), "content_filter", _usage(prompt, 0))
    else:
        users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        text = "Hello! You said: " + (_text(users[-1].get("content")) if users else "")
    pieces, finish = _pieces(text), "stop"
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if isinstance(limit, int) and 0 < limit < len(pieces):
        pieces, finish = pieces[:limit], "length"
    usage = CACHED_USAGE if model == "gpt-cached" else _usage(prompt, len(pieces))
    return Answer("".join(pieces), pieces, (), finish, None if model == "no-usage" else usage)


JUDGE_UNSAFE_WORDS = ("attack", "weapon")


def judge_verdict(text: str) -> str:
    """The ``judge`` model's answer: a JSON verdict on ``text``."""
    hits = [w for w in JUDGE_UNSAFE_WORDS if w in text.lower()]
    if hits:
        return orjson.dumps(
            {"verdict": "UNSAFE", "categories": ["violence"], "reason": f"mentions {hits[0]}"}
        ).decode()
    return '{"verdict": "SAFE", "categories": [], "reason": "harmless"}'


def _cut_at_stop(text: str, stop: Any) -> str:
    """``text`` up to the first stop sequence found in it (OpenAI leaves the sequence out)."""
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    cuts = [text.index(s) for s in stops if isinstance(s, str) and s and s in text]
    return text[: min(cuts)] if cuts else text


def _deltas(reply: Answer) -> list[tuple[dict[str, Any], str | None]]:
    """The (delta, finish_reason) of each streamed choice, as OpenAI sends them."""
    if not reply.tool_calls:
        first: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None}
        return [
            (first, None),
            *(({"content": p}, None) for p in reply.pieces),
            ({}, reply.finish_reason),
        ]
    per_call = [
        [
            {
                "index": i,
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": ""},
            },
            *({"index": i, "function": {"arguments": f}} for f in _argument_fragments(c.arguments)),
        ]
        for i, c in enumerate(reply.tool_calls)
    ]
    if reply.interleave:
        ordered = [d for group in itertools.zip_longest(*per_call) for d in group if d is not None]
    else:
        ordered = [d for group in per_call for d in group]
    deltas: list[dict[str, Any]] = [{"tool_calls": [d]} for d in ordered]
    deltas[0] = {"role": "assistant", "content": None, "tool_calls": [ordered[0]], "refusal": None}
    return [*((d, None) for d in deltas), ({}, "tool_calls")]


def _obfuscation(payload: bytes) -> str:
    """Opaque padding like OpenAI's ``obfuscation`` field (deterministic here)."""
    digest = base64.urlsafe_b64encode(hashlib.blake2s(payload).digest()).decode()
    return digest[: 2 + len(payload) % 12]


def chat_chunks(reply: Answer, body: dict[str, Any], model_id: str, azure: bool) -> list[bytes]:
    """The SSE events of a streamed answer, without the final ``data: [DONE]``."""
    requested = body.get("stream_options")
    options: dict[str, Any] = requested if isinstance(requested, dict) else {}
    include_usage = options.get("include_usage") is True
    obfuscate = not azure and options.get("include_obfuscation", True) is not False
    envelope: dict[str, Any] = {
        "id": _new_id("chatcmpl-", 29),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model_id,
    }
    if not azure:
        envelope["service_tier"] = "default"
    envelope["system_fingerprint"] = SYSTEM_FINGERPRINT
    chunks: list[dict[str, Any]] = []
    if azure:  # Azure first sends its prompt annotations in a chunk with no choices
        chunks.append(
            {
                "choices": [],
                "created": 0,
                "id": "",
                "model": "",
                "object": "",
                "prompt_filter_results": _PROMPT_FILTER,
            }
        )
    for delta, finish in _deltas(reply):
        choice: dict[str, Any] = {
            "index": 0,
            "delta": delta,
            "logprobs": None,
            "finish_reason": finish,
        }
        if azure:
            choice["content_filter_results"] = _CONTENT_FILTER if delta.get("content") else {}
        chunk = {**envelope, "choices": [choice]}
        if include_usage:
            chunk["usage"] = None
        chunks.append(chunk)
    if include_usage and reply.usage is not None:
        chunks.append({**envelope, "choices": [], "usage": reply.usage})
    events = []
    for chunk in chunks:
        if obfuscate:
            chunk["obfuscation"] = _obfuscation(orjson.dumps(chunk["choices"]))
        option = orjson.OPT_SORT_KEYS if azure else 0  # Azure sorts keys alphabetically
        events.append(b"data: " + orjson.dumps(chunk, option=option) + b"\n\n")
    return events


def chat_completion(reply: Answer, model_id: str, azure: bool) -> dict[str, Any]:
    """A non-streamed ``chat.completion`` object."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in reply.tool_calls
        ]
    message |= {"refusal": None, "annotations": []}
    choice: dict[str, Any] = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": reply.finish_reason,
    }
    result: dict[str, Any] = {
        "id": _new_id("chatcmpl-", 29),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model_id,
        "choices": [choice],
        **({"usage": reply.usage} if reply.usage is not None else {}),
        "service_tier": "default",
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }
    if azure:
        choice["content_filter_results"] = _CONTENT_FILTER if reply.content else {}
        del result["service_tier"]
        result["prompt_filter_results"] = _PROMPT_FILTER
    return result


def embedding_inputs(value: Any) -> list[tuple[bytes, int]] | None:
    """(seed, token count) per input; None if ``input`` is not a documented shape."""

    def is_tokens(item: Any) -> bool:
        return isinstance(item, list) and bool(item) and all(type(t) is int for t in item)

    if isinstance(value, str) and value:
        return [(value.encode(), max(1, count_tokens(value)))]
    if is_tokens(value):
        return [(orjson.dumps(value), len(value))]
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return [(v.encode(), max(1, count_tokens(v))) for v in value]
    if isinstance(value, list) and value and all(is_tokens(v) for v in value):
        return [(orjson.dumps(v), len(v)) for v in value]
    return None


def embedding(seed: bytes, dimensions: int) -> list[float]:
    """A deterministic unit vector, rounded to float32 as OpenAI's vectors are."""
    rng = random.Random(hashlib.sha256(seed).digest())
    raw = [rng.uniform(-1.0, 1.0) for _ in range(dimensions)]
    norm = sum(x * x for x in raw) ** 0.5 or 1.0
    packed = struct.pack(f"<{dimensions}f", *(x / norm for x in raw))
    return list(struct.unpack(f"<{dimensions}f", packed))


def embeddings_list(
    inputs: list[tuple[bytes, int]], model: str, dimensions: int, as_base64: bool
) -> dict[str, Any]:
    """The ``list`` of ``embedding`` objects; base64 is little-endian float32, as the SDK reads it."""
    data = []
    for index, (seed, _) in enumerate(inputs):
        vector = embedding(seed, dimensions)
        encoded: Any = vector
        if as_base64:
            encoded = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
        data.append({"object": "embedding", "embedding": encoded, "index": index})
    tokens = sum(count for _, count in inputs)
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return {"object": "list", "data": data, "model": model, "usage": usage}


def slow_delay(model: str) -> float:
    """Seconds a ``slow-<seconds>`` model waits before answering (0 for other models)."""
    slow = re.fullmatch(r"slow-(\d+(?:\.\d+)?)", model)
    return float(slow.group(1)) if slow else 0.0
