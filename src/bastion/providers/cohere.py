"""Cohere: chat through the v2 Chat API, embeddings through v2 Embed.

- chat: ``POST {base}/v2/chat`` (``stream: true`` for SSE), ``Authorization: Bearer``.
  Messages keep OpenAI's roles; tools keep the function shape; ``tool_choice``
  becomes ``REQUIRED``/``NONE`` (a named function: only that tool, required);
  ``response_format`` becomes ``{"type": "json_object", "json_schema"?}``;
  ``top_p``/``top_k``/``stop`` become ``p``/``k``/``stop_sequences``. The
  model's ``tool_plan`` and ``thinking`` come back as ``reasoning_content``.
- embeddings: ``POST {base}/v2/embed`` with ``input_type`` (request field, else
  the provider option ``input_type``, else ``search_document``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from bastion.errors import GatewayError, bad_request, scrub_secrets
from bastion.providers.base import (
    JSON,
    Deployment,
    Endpoint,
    ProviderKind,
    Signer,
    SSEParser,
    UpstreamRequest,
)
from bastion.providers.canonical import (
    ChunkMaker,
    assistant_message,
    bad_upstream,
    completion,
    embedding_inputs,
    embeddings_response,
    max_output_tokens,
    reject_n,
    stop_sequences,
    text_of,
    usage,
)

FINISH_REASONS: dict[str, str] = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
}
# OpenAI field -> Cohere field, copied as they are.
_SAME_VALUE = (
    ("temperature", "temperature"),
    ("top_p", "p"),
    ("top_k", "k"),
    ("seed", "seed"),
    ("frequency_penalty", "frequency_penalty"),
    ("presence_penalty", "presence_penalty"),
)
# Cohere-only request fields a caller may send as they are.
_PASSTHROUGH = (
    "documents",
    "citation_options",
    "safety_mode",
    "priority",
    "thinking",
    "strict_tools",
)


class CohereAdapter:
    kind = "cohere"
    openai_wire = False
    endpoints: frozenset[Endpoint] = frozenset({"chat", "embeddings"})
    signer: Signer | None = None

    def normalise_base_url(self, base_url: str) -> str:
        url = base_url.rstrip("/")
        for suffix in ("/v2", "/v1"):
            url = url.removesuffix(suffix)
        return url

    def build_request(
        self, endpoint: Endpoint, body: JSON, deployment: Deployment, *, stream: bool
    ) -> UpstreamRequest:
        provider = deployment.provider
        if deployment.defaults:
            body = {**deployment.defaults, **body}
        if endpoint == "embeddings":
            payload = embed_request(body, deployment.model, provider.options)
            path = "/v2/embed"
        else:
            payload = chat_request(body, deployment.model, stream=stream)
            path = "/v2/chat"
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
        }
        if provider.api_key:
            headers["authorization"] = "Bearer " + provider.api_key
        if provider.headers:
            headers.update(provider.headers)
        return UpstreamRequest("POST", provider.base_url + path, headers, orjson.dumps(payload))

    def parse_response(self, endpoint: Endpoint, body: bytes, deployment: Deployment) -> JSON:
        data = orjson.loads(body)
        if not isinstance(data, dict):
            raise bad_upstream("cohere", "the answer is not a JSON object.")
        if endpoint == "embeddings":
            return parse_embed(data, deployment.model)
        return parse_chat(data, deployment.model)

    def stream_decoder(self, deployment: Deployment) -> CohereStreamDecoder:
        return CohereStreamDecoder(deployment.model)

    def classify_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        return cohere_error(status, body, headers)


# --- chat request --------------------------------------------------------------------


def chat_request(body: JSON, model: str, *, stream: bool) -> JSON:
    reject_n(body)
    out: JSON = {"model": model, "messages": _messages(body.get("messages") or [])}
    if stream:
        out["stream"] = True
    tools = body.get("tools")
    choice = body.get("tool_choice")
    if tools:
        out["tools"] = _tools(tools)
        if any((t.get("function") or {}).get("strict") is True for t in tools):
            out["strict_tools"] = True
        if choice == "required":
            out["tool_choice"] = "REQUIRED"
        elif choice == "none":
            out["tool_choice"] = "NONE"
        elif isinstance(choice, dict):  # one named function: offer only it, and require it
            name = (choice.get("function") or {}).get("name")
            out["tools"] = [t for t in out["tools"] if t["function"]["name"] == name]
            if not out["tools"]:
                raise bad_request(
                    f"tool_choice names an unknown tool {name!r}.", param="tool_choice"
                )
            out["tool_choice"] = "REQUIRED"
    max_tokens = max_output_tokens(body)
    if max_tokens is not None:
        out["max_tokens"] = max_tokens
    stops = stop_sequences(body)
    if stops:
        out["stop_sequences"] = stops
    for ours, theirs in _SAME_VALUE:
        if body.get(ours) is not None:
            out[theirs] = body[ours]
    response_format = body.get("response_format")
    if isinstance(response_format, dict):
        kind = response_format.get("type")
        if kind == "json_object":
            out["response_format"] = {"type": "json_object"}
        elif kind == "json_schema":
            schema = (response_format.get("json_schema") or {}).get("schema")
            fmt: JSON = {"type": "json_object"}
            if isinstance(schema, dict):
                fmt["json_schema"] = schema
            out["response_format"] = fmt
    for name in _PASSTHROUGH:
        if body.get(name) is not None:
            out[name] = body[name]
    return out


def _messages(messages: list[Any]) -> list[JSON]:
    out: list[JSON] = []
    for i, message in enumerate(messages):
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            out.append({"role": "system", "content": text_of(content)})
        elif role == "user":
            out.append({"role": "user", "content": _user_content(content, i)})
        elif role == "assistant":
            out.append(_assistant(message))
        elif role == "tool":
            if not message.get("tool_call_id"):
                raise bad_request(
                    f"messages[{i}] (role tool) needs a tool_call_id.", param=f"messages[{i}]"
                )
            out.append(
                {
                    "role": "tool",
                    "tool_call_id": message["tool_call_id"],
                    "content": text_of(content) if not isinstance(content, str) else content,
                }
            )
        else:
            raise bad_request(
                f"messages[{i}]: role {role!r} is not supported by Cohere.",
                param=f"messages[{i}].role",
            )
    return out


def _user_content(content: Any, i: int) -> Any:
    if isinstance(content, str) or content is None:
        return content or ""
    parts: list[JSON] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.append({"type": "text", "text": part.get("text", "")})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            spec: JSON = {"url": url}  # a web URL or a base64 data: URL, both accepted
            if isinstance(image, dict) and image.get("detail"):
                spec["detail"] = image["detail"]
            parts.append({"type": "image_url", "image_url": spec})
        else:
            raise bad_request(
                f"messages[{i}].content[{j}]: content part type {kind!r} is not supported by Cohere.",
                param=f"messages[{i}].content[{j}]",
            )
    return parts


def _assistant(message: JSON) -> JSON:
    out: JSON = {"role": "assistant"}
    text = text_of(message.get("content"))
    calls = message.get("tool_calls")
    if calls:
        out["tool_calls"] = [
            {
                "id": call.get("id"),
                "type": "function",
                "function": {
                    "name": (call.get("function") or {}).get("name"),
                    "arguments": (call.get("function") or {}).get("arguments") or "{}",
                },
            }
            for call in calls
        ]
        # Cohere calls the words before tool calls the tool plan.
        plan = text or message.get("reasoning_content")
        if plan:
            out["tool_plan"] = plan
    elif text:
        out["content"] = text
    else:
        out["content"] = ""
    return out


def _tools(tools: list[Any]) -> list[JSON]:
    out: list[JSON] = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise bad_request(
                f"tools[{i}]: only function tools are supported by Cohere.", param=f"tools[{i}]"
            )
        function = tool.get("function") or {}
        spec: JSON = {
            "name": function.get("name"),
            "parameters": function.get("parameters") or {"type": "object", "properties": {}},
        }
        if function.get("description"):
            spec["description"] = function["description"]
        out.append({"type": "function", "function": spec})
    return out


# --- chat answers --------------------------------------------------------------------


def chat_usage(raw: Any) -> JSON | None:
    """Cohere's ``tokens`` are what the model saw; ``billed_units`` are the fallback."""
    if not isinstance(raw, dict):
        return None
    counts = raw.get("tokens") or raw.get("billed_units") or {}
    cached = raw.get("cached_tokens")
    return usage(
        int(counts.get("input_tokens") or 0),
        int(counts.get("output_tokens") or 0),
        cached=int(cached) if cached is not None else None,
    )


def _finish(reason: Any, error: Any = None) -> str:
    if reason == "ERROR" or error:
        raise GatewayError(
            502,
            scrub_secrets(f"cohere error: {error or 'the model failed to generate an answer.'}"),
            code="upstream_error",
            retryable=True,
        )
    if reason == "TIMEOUT":
        raise GatewayError(
            504, "cohere error: the generation timed out.", code="upstream_timeout", retryable=True
        )
    return FINISH_REASONS.get(str(reason), "stop")


def parse_chat(data: JSON, model: str) -> JSON:
    message = data.get("message")
    if not isinstance(message, dict):
        raise bad_upstream("cohere", "the answer has no message.")
    texts: list[str] = []
    reasoning: list[str] = []
    if message.get("tool_plan"):
        reasoning.append(message["tool_plan"])
    for item in message.get("content") or []:
        if item.get("type") == "text":
            texts.append(item.get("text", ""))
        elif item.get("type") == "thinking":
            reasoning.append(item.get("thinking", ""))
    tool_calls = [
        {
            "id": call.get("id"),
            "type": "function",
            "function": {
                "name": (call.get("function") or {}).get("name"),
                "arguments": (call.get("function") or {}).get("arguments") or "{}",
            },
        }
        for call in message.get("tool_calls") or []
    ]
    content = "".join(texts) if texts or not tool_calls else None
    return completion(
        str(data.get("id") or ""),
        model,
        assistant_message(content, tool_calls, "".join(reasoning)),
        _finish(data.get("finish_reason")),
        chat_usage(data.get("usage")),
    )


class CohereStreamDecoder:
    """Cohere v2 chat SSE events → canonical chunks."""

    __slots__ = ("_chunks", "_sse", "_tools")

    def __init__(self, model: str) -> None:
        self._sse = SSEParser()
        self._chunks = ChunkMaker(model)
        self._tools: dict[int, int] = {}  # Cohere tool-call index -> OpenAI index

    def feed(self, data: bytes) -> list[JSON]:
        return self._decode(self._sse.feed(data))

    def close(self) -> list[JSON]:
        return self._decode(self._sse.close())

    def _decode(self, events: list[tuple[str, bytes]]) -> list[JSON]:
        out: list[JSON] = []
        for _name, raw in events:
            if raw == b"[DONE]":
                continue
            try:
                event = orjson.loads(raw)
                out.extend(self._event(event))
            except GatewayError:
                raise
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                raise bad_upstream("cohere", f"unexpected event ({exc!r}).") from None
        return out

    def _event(self, event: JSON) -> list[JSON]:
        kind = event.get("type")
        delta = event.get("delta") or {}
        message = delta.get("message") or {}
        chunks = self._chunks
        if kind == "message-start":
            if event.get("id"):
                chunks.id = str(event["id"])
            return [chunks.delta({"role": "assistant", "content": ""})]
        if kind == "content-delta":
            content = message.get("content") or {}
            if content.get("text"):
                return [chunks.delta({"content": content["text"]})]
            if content.get("thinking"):
                return [chunks.delta({"reasoning_content": content["thinking"]})]
            return []
        if kind == "tool-plan-delta":
            plan = message.get("tool_plan")
            return [chunks.delta({"reasoning_content": plan})] if plan else []
        if kind == "tool-call-start":
            call = message.get("tool_calls") or {}
            function = call.get("function") or {}
            entry = {
                "index": self._tool_index(event),
                "id": call.get("id"),
                "type": "function",
                "function": {
                    "name": function.get("name"),
                    "arguments": function.get("arguments") or "",
                },
            }
            return [chunks.delta({"tool_calls": [entry]})]
        if kind == "tool-call-delta":
            fragment = ((message.get("tool_calls") or {}).get("function") or {}).get("arguments")
            if not fragment:
                return []
            entry = {"index": self._tool_index(event), "function": {"arguments": fragment}}
            return [chunks.delta({"tool_calls": [entry]})]
        if kind == "message-end":
            out = [chunks.delta({}, _finish(delta.get("finish_reason"), delta.get("error")))]
            usage_ = chat_usage(delta.get("usage"))
            if usage_ is not None:
                out.append(chunks.usage(usage_))
            return out
        return []  # content-start/end, tool-call-end, citation-*, debug

    def _tool_index(self, event: JSON) -> int:
        key = int(event.get("index") or 0)
        index = self._tools.get(key)
        if index is None:
            index = self._tools[key] = len(self._tools)
        return index


# --- embeddings ----------------------------------------------------------------------


def embed_request(body: JSON, model: str, options: Mapping[str, Any]) -> JSON:
    out: JSON = {
        "model": model,
        "texts": embedding_inputs(body),
        "input_type": body.get("input_type") or options.get("input_type") or "search_document",
        "embedding_types": ["float"],
    }
    if body.get("dimensions") is not None:
        out["output_dimension"] = body["dimensions"]
    if body.get("truncate") is not None:
        out["truncate"] = body["truncate"]
    return out


def parse_embed(data: JSON, model: str) -> JSON:
    embeddings = data.get("embeddings")
    if isinstance(embeddings, dict):
        embeddings = embeddings.get("float")
    if not isinstance(embeddings, list):
        raise bad_upstream("cohere", "the answer has no float embeddings.")
    meta = data.get("meta") or {}
    counts = meta.get("billed_units") or meta.get("tokens") or {}
    return embeddings_response(model, embeddings, int(counts.get("input_tokens") or 0))


# --- errors --------------------------------------------------------------------------


def cohere_error(status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
    try:
        data: Any = orjson.loads(body)
        message = str(data.get("message") or "") if isinstance(data, dict) else ""
    except orjson.JSONDecodeError:
        message = body[:300].decode("utf-8", "replace").strip()
    message = scrub_secrets(message) or f"Upstream returned HTTP {status}."
    prefix = "cohere error: "
    retry_after = headers.get("retry-after") or headers.get("Retry-After")
    after = {"retry-after": retry_after} if retry_after else {}
    if status == 429:
        return GatewayError(
            429,
            prefix + message,
            code="rate_limit_exceeded",
            error_type="rate_limit_error",
            retryable=True,
            headers=after,
        )
    if status in (401, 403):
        return GatewayError(
            502,
            f"cohere rejected the gateway's credentials (HTTP {status}); check the provider configuration.",
            code="upstream_auth_error",
        )
    if status == 498:  # a deny-listed token in the request or the answer
        return GatewayError(400, prefix + message, code="content_policy_violation")
    if status == 503:
        return GatewayError(
            503, prefix + message, code="upstream_unavailable", retryable=True, headers=after
        )
    if status in (408, 504):
        return GatewayError(504, prefix + message, code="upstream_timeout", retryable=True)
    if status in (400, 422):
        lowered = message.lower()
        if (
            ("too many tokens" in lowered and "prompt" in lowered)
            or "context length" in lowered
            or "too long" in lowered
        ):
            return GatewayError(400, message, code="context_length_exceeded", param="messages")
        return GatewayError(400, message, code="invalid_request")
    if status == 404:
        return GatewayError(404, prefix + message, code="model_not_found")
    if 400 <= status < 500 and status != 499:
        return GatewayError(status, prefix + message)
    return GatewayError(502, prefix + message, code="upstream_error", retryable=True)


KINDS: tuple[ProviderKind, ...] = (
    ProviderKind("cohere", CohereAdapter(), "https://api.cohere.com", key_env="COHERE_API_KEY"),
)
