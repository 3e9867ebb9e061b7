"""Canonical (OpenAI) requests and answers to and from Bedrock's Converse API. Pure functions.

Request: ``messages`` become Converse ``system`` text blocks and alternating
user/assistant turns of content blocks (text, image, document, toolUse,
toolResult; consecutive messages of one role are merged, tool results go in
the next user turn); sampling settings go in ``inferenceConfig``; tools in
``toolConfig``; ``response_format`` json_schema in ``outputConfig``.
Answers: ``output.message`` content blocks become content, tool calls and
``reasoning_content``; ``stopReason`` a finish reason; ``usage`` OpenAI usage.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from bastion.errors import GatewayError, bad_request, scrub_secrets
from bastion.providers.aws_eventstream import EventMessage, EventStreamDecoder, EventStreamError
from bastion.providers.base import JSON
from bastion.providers.canonical import (
    ChunkMaker,
    assistant_message,
    bad_upstream,
    completion,
    completion_id,
    max_output_tokens,
    parse_data_url,
    reject_n,
    stop_sequences,
    text_of,
    usage,
)

STOP_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
_IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}
_DOCUMENT_FORMATS = {
    "application/pdf": "pdf",
    "text/csv": "csv",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html",
    "text/plain": "txt",
    "text/markdown": "md",
}
# Bedrock-native request fields a caller may send as they are.
_PASSTHROUGH = (
    "additionalModelResponseFieldPaths",
    "guardrailConfig",
    "performanceConfig",
    "promptVariables",
    "requestMetadata",
    "serviceTier",
    "outputConfig",
)
_JSON_MODE_INSTRUCTION = "Respond with a single valid JSON object and nothing else."
_DOC_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9\s\-\(\)\[\]]")


# --- request -------------------------------------------------------------------------


def converse_request(body: JSON, options: Mapping[str, Any]) -> JSON:
    """The Converse (and ConverseStream) request body for a canonical chat request."""
    reject_n(body)
    system, turns = _turns(body.get("messages") or [])
    response_format = body.get("response_format")
    fmt_type = response_format.get("type") if isinstance(response_format, dict) else None
    if fmt_type == "json_object":  # Converse has no schema-less JSON mode: ask in words
        system.append({"text": _JSON_MODE_INSTRUCTION})
    out: JSON = {"messages": turns}
    if system:
        out["system"] = system
    inference: JSON = {}
    max_tokens = max_output_tokens(body)
    if max_tokens is not None:
        inference["maxTokens"] = max_tokens
    for ours, theirs in (("temperature", "temperature"), ("top_p", "topP")):
        if body.get(ours) is not None:
            inference[theirs] = body[ours]
    stops = stop_sequences(body)
    if stops:
        inference["stopSequences"] = stops
    if inference:
        out["inferenceConfig"] = inference
    tool_config = _tool_config(body, turns)
    if tool_config is not None:
        out["toolConfig"] = tool_config
    if fmt_type == "json_schema":
        out["outputConfig"] = _output_config(response_format)  # type: ignore[arg-type]
    extra: JSON = {}
    configured = options.get("additional_model_request_fields")
    if isinstance(configured, dict):
        extra.update(configured)
    given = body.get("additionalModelRequestFields")
    if isinstance(given, dict):
        extra.update(given)
    if extra:
        out["additionalModelRequestFields"] = extra
    guardrail = options.get("guardrail_identifier")
    if guardrail:
        out["guardrailConfig"] = {
            "guardrailIdentifier": str(guardrail),
            "guardrailVersion": str(options.get("guardrail_version", "DRAFT")),
        }
    for name in _PASSTHROUGH:
        if body.get(name) is not None:
            out[name] = body[name]
    return out


def _turns(messages: list[Any]) -> tuple[list[JSON], list[JSON]]:
    system: list[JSON] = []
    turns: list[JSON] = []

    def add(role: str, blocks: list[JSON]) -> None:
        if not blocks:
            return
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})

    for i, message in enumerate(messages):
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            text = text_of(content)
            if text:
                system.append({"text": text})
        elif role == "user":
            add("user", _content_blocks(content, f"messages[{i}]"))
        elif role == "assistant":
            add("assistant", _assistant_blocks(message, i))
        elif role == "tool":
            add("user", [_tool_result(message, i)])
        else:
            raise bad_request(
                f"messages[{i}]: role {role!r} is not supported by Bedrock.",
                param=f"messages[{i}].role",
            )
    return system, turns


def _content_blocks(content: Any, where: str) -> list[JSON]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if content is None:
        return []
    if not isinstance(content, list):
        raise bad_request(f"{where}.content must be a string or an array of parts.", param=where)
    blocks: list[JSON] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if part.get("text"):
                blocks.append({"text": part["text"]})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            blocks.append(_image_block(str(url or ""), f"{where}.content[{j}]"))
        elif kind == "file":
            blocks.append(_document_block(part.get("file") or {}, f"{where}.content[{j}]"))
        else:
            raise bad_request(
                f"{where}.content[{j}]: content part type {kind!r} is not supported by Bedrock.",
                param=f"{where}.content[{j}]",
            )
    return blocks


def _image_block(url: str, where: str) -> JSON:
    parsed = parse_data_url(url)
    if parsed is None:
        raise bad_request(
            "Bedrock's Converse API takes images inline only: send the image as a base64 "
            "data: URL (image URLs over http(s) are not supported).",
            param=where,
        )
    mime, data = parsed
    fmt = _IMAGE_FORMATS.get(mime)
    if fmt is None:
        raise bad_request(
            f"Image type {mime!r} is not supported by Bedrock (png, jpeg, gif, webp).", param=where
        )
    return {"image": {"format": fmt, "source": {"bytes": data}}}


def _document_block(file: JSON, where: str) -> JSON:
    parsed = parse_data_url(str(file.get("file_data") or ""))
    if parsed is None:
        raise bad_request("Bedrock takes files inline only, as base64 file_data.", param=where)
    mime, data = parsed
    fmt = _DOCUMENT_FORMATS.get(mime)
    if fmt is None:
        raise bad_request(f"File type {mime!r} is not supported by Bedrock.", param=where)
    stem = str(file.get("filename") or "document").rsplit(".", 1)[0]
    name = " ".join(_DOC_NAME_UNSAFE.sub(" ", stem).split()) or "document"
    return {"document": {"format": fmt, "name": name, "source": {"bytes": data}}}


def _assistant_blocks(message: JSON, i: int) -> list[JSON]:
    blocks = _content_blocks(message.get("content"), f"messages[{i}]")
    for j, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") or {}
        arguments = function.get("arguments") or "{}"
        try:
            parsed = orjson.loads(arguments) if isinstance(arguments, str) else arguments
        except orjson.JSONDecodeError:
            raise bad_request(
                f"messages[{i}].tool_calls[{j}].function.arguments is not valid JSON.",
                param=f"messages[{i}].tool_calls[{j}]",
            ) from None
        blocks.append(
            {
                "toolUse": {
                    "toolUseId": call.get("id"),
                    "name": function.get("name"),
                    "input": parsed,
                }
            }
        )
    return blocks


def _tool_result(message: JSON, i: int) -> JSON:
    call_id = message.get("tool_call_id")
    if not call_id:
        raise bad_request(
            f"messages[{i}] (role tool) needs a tool_call_id.", param=f"messages[{i}]"
        )
    content = message.get("content")
    blocks = _content_blocks(content, f"messages[{i}]") if isinstance(content, list) else []
    if not blocks:
        blocks = [{"text": text_of(content)}]
    return {"toolResult": {"toolUseId": call_id, "content": blocks}}


def _tool_config(body: JSON, turns: list[JSON]) -> JSON | None:
    specs: list[JSON] = []
    for i, tool in enumerate(body.get("tools") or []):
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise bad_request(
                f"tools[{i}]: only function tools are supported by Bedrock.", param=f"tools[{i}]"
            )
        function = tool.get("function") or {}
        spec: JSON = {
            "name": function.get("name"),
            "inputSchema": {
                "json": function.get("parameters") or {"type": "object", "properties": {}}
            },
        }
        if function.get("description"):
            spec["description"] = function["description"]
        if function.get("strict") is True:
            spec["strict"] = True
        specs.append({"toolSpec": spec})
    if not specs:
        return None
    choice = body.get("tool_choice")
    if choice == "none":
        # Converse cannot forbid tools; it needs their definitions only when the history uses them.
        uses_tools = any(
            "toolUse" in block or "toolResult" in block for t in turns for block in t["content"]
        )
        return {"tools": specs} if uses_tools else None
    config: JSON = {"tools": specs}
    if choice == "required":
        config["toolChoice"] = {"any": {}}
    elif choice == "auto":
        config["toolChoice"] = {"auto": {}}
    elif isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if not name:
            raise bad_request("tool_choice must name a function.", param="tool_choice")
        config["toolChoice"] = {"tool": {"name": name}}
    return config


def _output_config(response_format: JSON) -> JSON:
    spec = response_format.get("json_schema") or {}
    schema = spec.get("schema")
    if not isinstance(schema, dict):
        raise bad_request(
            "response_format.json_schema.schema must be a JSON schema object.",
            param="response_format",
        )
    definition: JSON = {
        "schema": orjson.dumps(schema).decode(),
        "name": spec.get("name") or "response",
    }
    if spec.get("description"):
        definition["description"] = spec["description"]
    return {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": definition}}}


# --- answers -------------------------------------------------------------------------


def converse_usage(raw: Any) -> JSON | None:
    """Bedrock counts cache reads and writes apart from ``inputTokens``; OpenAI includes them."""
    if not isinstance(raw, dict):
        return None
    read = raw.get("cacheReadInputTokens")
    write = raw.get("cacheWriteInputTokens")
    prompt = int(raw.get("inputTokens") or 0) + int(read or 0) + int(write or 0)
    return usage(
        prompt,
        int(raw.get("outputTokens") or 0),
        cached=int(read) if read is not None else None,
        cache_write=int(write) if write is not None else None,
    )


def parse_converse(data: JSON, model: str) -> JSON:
    message = (data.get("output") or {}).get("message")
    if not isinstance(message, dict):
        raise bad_upstream("bedrock", "the answer has no output message.")
    texts: list[str] = []
    reasoning: list[str] = []
    tool_calls: list[JSON] = []
    for block in message.get("content") or []:
        if "text" in block:
            texts.append(block["text"])
        elif "toolUse" in block:
            use = block["toolUse"]
            tool_calls.append(
                {
                    "id": use.get("toolUseId"),
                    "type": "function",
                    "function": {
                        "name": use.get("name"),
                        "arguments": orjson.dumps(use.get("input", {})).decode(),
                    },
                }
            )
        elif "reasoningContent" in block:
            text = (block["reasoningContent"].get("reasoningText") or {}).get("text")
            if text:
                reasoning.append(text)
    content = "".join(texts) if texts or not tool_calls else None
    stop = str(data.get("stopReason") or "")
    return completion(
        completion_id(),
        model,
        assistant_message(content, tool_calls, "".join(reasoning)),
        STOP_REASONS.get(stop, "stop"),
        converse_usage(data.get("usage")),
    )


class ConverseStreamDecoder:
    """ConverseStream event-stream bytes → canonical chunks."""

    __slots__ = ("_chunks", "_frames", "_tools")

    def __init__(self, model: str) -> None:
        self._frames = EventStreamDecoder()
        self._chunks = ChunkMaker(model)
        self._tools: dict[int, int] = {}  # contentBlockIndex -> OpenAI tool_calls index

    def feed(self, data: bytes) -> list[JSON]:
        try:
            messages = self._frames.feed(data)
        except EventStreamError as exc:
            raise bad_upstream("bedrock", str(exc)) from None
        out: list[JSON] = []
        for message in messages:
            try:
                out.extend(self._event(message))
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                raise bad_upstream("bedrock", f"unexpected event shape ({exc!r}).") from None
        return out

    def close(self) -> list[JSON]:
        if self._frames.pending:
            raise bad_upstream("bedrock", "the stream ended in the middle of an event.")
        return []

    def _event(self, message: EventMessage) -> list[JSON]:
        kind = message.message_type
        if kind in ("exception", "error"):
            raise stream_exception(message)
        try:
            event = orjson.loads(message.payload) if message.payload else {}
        except orjson.JSONDecodeError:
            raise bad_upstream("bedrock", "an event is not valid JSON.") from None
        name = message.event_type
        chunks = self._chunks
        if name == "messageStart":
            return [chunks.delta({"role": "assistant", "content": ""})]
        if name == "contentBlockStart":
            use = (event.get("start") or {}).get("toolUse")
            if isinstance(use, dict):
                index = self._tool_index(event)
                call = {
                    "index": index,
                    "id": use.get("toolUseId"),
                    "type": "function",
                    "function": {"name": use.get("name"), "arguments": ""},
                }
                return [chunks.delta({"tool_calls": [call]})]
            return []
        if name == "contentBlockDelta":
            delta = event.get("delta") or {}
            if "text" in delta:
                return [chunks.delta({"content": delta["text"]})]
            if "toolUse" in delta:
                fragment = (delta["toolUse"] or {}).get("input", "")
                call = {"index": self._tool_index(event), "function": {"arguments": fragment}}
                return [chunks.delta({"tool_calls": [call]})]
            text = (delta.get("reasoningContent") or {}).get("text")
            if text:
                return [chunks.delta({"reasoning_content": text})]
            return []
        if name == "messageStop":
            finish = STOP_REASONS.get(str(event.get("stopReason") or ""), "stop")
            return [chunks.delta({}, finish)]
        if name == "metadata":
            usage_ = converse_usage(event.get("usage"))
            return [chunks.usage(usage_)] if usage_ is not None else []
        return []  # contentBlockStop, and events added later

    def _tool_index(self, event: JSON) -> int:
        block = int(event.get("contentBlockIndex") or 0)
        index = self._tools.get(block)
        if index is None:
            index = self._tools[block] = len(self._tools)
        return index


# --- errors --------------------------------------------------------------------------

_TOO_LONG = re.compile(
    r"too long|too many (?:input )?tokens|context (?:length|limit|window)|"
    r"exceeds? (?:the )?max(?:imum)?\b.*\b(?:tokens|length)|input tokens exceeded",
    re.IGNORECASE,
)
_AUTH_ERRORS = frozenset(
    {
        "accessdeniedexception",
        "unrecognizedclientexception",
        "invalidsignatureexception",
        "incompletesignatureexception",
        "missingauthenticationtokenexception",
        "expiredtokenexception",
        "invalidclienttokenid",
        "signaturedoesnotmatch",
    }
)


def bedrock_error(
    error_type: str, message: str, status: int, retry_after: str | None = None
) -> GatewayError:
    """A Bedrock error (HTTP or in-stream exception) as a gateway error."""
    kind = error_type.split(":", 1)[0].rsplit("#", 1)[-1].strip().lower()
    text = scrub_secrets(message.strip()) or f"Upstream returned HTTP {status}."
    prefix = "bedrock error: "
    headers = {"retry-after": retry_after} if retry_after else {}
    if kind in ("throttlingexception", "servicequotaexceededexception") or (
        status == 429 and kind != "modelnotreadyexception"
    ):
        return GatewayError(
            429,
            prefix + text,
            code="rate_limit_exceeded",
            error_type="rate_limit_error",
            retryable=True,
            headers=headers,
        )
    if kind in ("serviceunavailableexception", "modelnotreadyexception") or status == 503:
        return GatewayError(
            503, prefix + text, code="upstream_unavailable", retryable=True, headers=headers
        )
    if kind in _AUTH_ERRORS or status in (401, 403):
        return GatewayError(
            502,
            f"bedrock rejected the gateway's credentials ({error_type.split(':', 1)[0] or status});"
            " check the provider configuration.",
            code="upstream_auth_error",
            retryable=False,
        )
    if kind == "modeltimeoutexception" or status in (408, 504):
        return GatewayError(504, prefix + text, code="upstream_timeout", retryable=True)
    if kind == "validationexception" or status == 400:
        if _TOO_LONG.search(text):
            return GatewayError(400, text, code="context_length_exceeded", param="messages")
        return GatewayError(400, text, code="invalid_request")
    if kind == "resourcenotfoundexception" or status == 404:
        return GatewayError(404, prefix + text, code="model_not_found")
    if 400 <= status < 500 and kind not in ("modelerrorexception", "modelstreamerrorexception"):
        return GatewayError(status, prefix + text)
    return GatewayError(502, prefix + text, code="upstream_error", retryable=True)


def stream_exception(message: EventMessage) -> GatewayError:
    if message.message_type == "error":
        code = str(message.headers.get(":error-code", "error"))
        return bedrock_error(code, str(message.headers.get(":error-message", "")), 502)
    kind = str(message.headers.get(":exception-type", "exception"))
    try:
        body = orjson.loads(message.payload) if message.payload else {}
    except orjson.JSONDecodeError:
        body = {}
    text = ""
    if isinstance(body, dict):
        text = str(body.get("message") or body.get("Message") or "")
    status = {
        "throttlingexception": 429,
        "validationexception": 400,
        "serviceunavailableexception": 503,
    }.get(kind.lower(), 502)
    return bedrock_error(kind, text, status)
