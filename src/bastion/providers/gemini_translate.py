"""OpenAI Chat Completions ⇄ Gemini ``generateContent`` (Gemini API and Vertex AI).

Pure functions, no I/O. Gemini's request is ``contents`` (turns of role
``user``/``model`` made of ``parts``), a ``systemInstruction``, ``tools``
(``functionDeclarations``), ``toolConfig`` and ``generationConfig``; its answer
is ``candidates[].content.parts`` with ``finishReason``, ``usageMetadata`` and,
when the prompt itself was refused, ``promptFeedback.blockReason``.

Things that do not map one to one:

- Tool calls: Gemini's ``functionCall`` parts may carry an ``id``, kept and sent
  back with the call and its result. Without one, an id is made up (``call_...``)
  and never sent back: Gemini then matches a ``functionResponse`` to its call by
  name and position. A tool result needs the function's name, found from the
  earlier assistant ``tool_calls`` by id.
- Thought signatures: Gemini 3 refuses a function-call history without the
  opaque ``thoughtSignature`` it returned. It travels in the tool call as
  ``extra_content.google.thought_signature`` (the convention of Google's own
  OpenAI-compatible endpoint); a history without one (another model's, or a
  client that dropped the field) gets Google's documented placeholder.
- Images: ``data:`` URLs become ``inlineData``; other URLs become ``fileData``
  with a MIME type guessed from the extension. The gateway does not fetch URLs:
  Gemini must be able to read them (Files API and ``gs://`` URIs, and public
  HTTP URLs on the models that accept them).
- ``reasoning_effort`` becomes ``thinkingConfig``: a ``thinkingLevel`` on Gemini 3
  and later, a ``thinkingBudget`` (1K/8K/24K tokens, 0 for ``none``, as Google's
  OpenAI endpoint maps it) before; thought summaries come back as
  ``reasoning_content``.
"""

from __future__ import annotations

import mimetypes
import re
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from bastion.errors import GatewayError, bad_request
from bastion.providers.base import JSON, SSEParser
from bastion.providers.canonical import (
    ChunkMaker,
    assistant_message,
    bad_upstream,
    max_output_tokens,
    parse_data_url,
    stop_sequences,
    text_of,
    usage,
)
from bastion.providers.gemini_schema import is_empty_object, to_gemini_schema

# Google's documented placeholder for function calls whose signature is unknown.
SKIP_SIGNATURE = "skip_thought_signature_validator"
_OUR_ID_PREFIX = "call_"  # made-up tool call ids (and OpenAI's): never sent to Gemini

_FINISH = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
}
# The model tried to call a function and failed: no OpenAI equivalent, reported as an error
# when nothing else came back (another attempt usually succeeds).
_BAD_CALL = frozenset({"MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS"})

_BUDGETS = {"none": 0, "minimal": 1024, "low": 1024, "medium": 8192, "high": 24576}
_LEVELS = {
    "none": "MINIMAL",
    "minimal": "MINIMAL",
    "low": "LOW",
    "medium": "MEDIUM",
    "high": "HIGH",
}
_GEMINI_MAJOR = re.compile(r"gemini-(\d+)")


# --- request ---------------------------------------------------------------------------


def chat_request(body: JSON, model: str, options: Mapping[str, Any]) -> JSON:
    """The ``generateContent`` body for an OpenAI chat request."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' must be a non-empty array.", param="messages")
    native_schema = options.get("json_schema") == "native"
    system, contents = _contents(messages)
    out: JSON = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": system}
    tools = _tools(body, native_schema)
    if tools:
        out["tools"] = tools
        tool_config = _tool_config(body.get("tool_choice", body.get("function_call")))
        if tool_config:
            out["toolConfig"] = tool_config
    safety = options.get("safety_settings")
    if isinstance(safety, list) and safety:
        out["safetySettings"] = safety
    config = _generation_config(body, model, native_schema)
    if config:
        out["generationConfig"] = config
    return out


def _contents(messages: list[Any]) -> tuple[list[JSON], list[JSON]]:
    names: dict[str, str] = {}  # tool call id -> function name
    for m in messages:
        if isinstance(m, dict) and m.get("role") == "assistant":
            for call in m.get("tool_calls") or ():
                fn = call.get("function") if isinstance(call, dict) else None
                if isinstance(fn, dict) and isinstance(call.get("id"), str):
                    names[call["id"]] = str(fn.get("name", ""))
    system: list[JSON] = []
    contents: list[JSON] = []
    for m in messages:
        if not isinstance(m, dict):
            raise bad_request("Each message must be an object.", param="messages")
        role = m.get("role")
        if role in ("system", "developer"):
            text = text_of(m.get("content"))
            if text:
                system.append({"text": text})
        elif role == "user":
            _append(contents, "user", _user_parts(m.get("content")))
        elif role == "assistant":
            _append(contents, "model", _assistant_parts(m))
        elif role in ("tool", "function"):
            _append(contents, "user", [_function_response(m, names)])
        else:
            raise bad_request(f"Unsupported message role {role!r}.", param="messages")
    return system, contents


def _append(contents: list[JSON], role: str, parts: list[JSON]) -> None:
    """Add a turn; consecutive turns of one role merge, but tool results stay a turn apart."""
    if not parts:
        return
    if contents and contents[-1]["role"] == role:
        last = contents[-1]["parts"]
        if _is_results(last) == _is_results(parts):
            last.extend(parts)
            return
    contents.append({"role": role, "parts": parts})


def _is_results(parts: list[JSON]) -> bool:
    return all("functionResponse" in p for p in parts)


def _user_parts(content: Any) -> list[JSON]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        return []
    parts: list[JSON] = []
    for p in content:
        kind = p.get("type") if isinstance(p, dict) else None
        if kind in ("text", "input_text"):
            if p.get("text"):
                parts.append({"text": str(p["text"])})
        elif kind == "image_url":
            image = p.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str) or not url:
                raise bad_request("An image_url part needs a url.", param="messages")
            parts.append(_media_part(url, "image/jpeg"))
        elif kind == "input_audio":
            audio = p.get("input_audio") or {}
            fmt = str(audio.get("format") or "wav")
            mime = "audio/mpeg" if fmt == "mp3" else f"audio/{fmt}"
            parts.append({"inlineData": {"mimeType": mime, "data": str(audio.get("data", ""))}})
        elif kind == "file":
            file = p.get("file") or {}
            data = file.get("file_data")
            if not isinstance(data, str):
                raise bad_request(
                    "Only inline files (file.file_data as a data: URL) can be sent to Gemini.",
                    param="messages",
                )
            parts.append(_media_part(data, "application/pdf"))
        else:
            raise bad_request(f"Unsupported content part type {kind!r}.", param="messages")
    return parts


def _media_part(url: str, default_mime: str) -> JSON:
    inline = parse_data_url(url)
    if inline is not None:
        return {"inlineData": {"mimeType": inline[0], "data": inline[1]}}
    mime = mimetypes.guess_type(url.split("?", 1)[0])[0] or default_mime
    return {"fileData": {"mimeType": mime, "fileUri": url}}


def _assistant_parts(m: JSON) -> list[JSON]:
    parts: list[JSON] = []
    content = m.get("content")
    text = content if isinstance(content, str) else text_of(content)
    if text:
        parts.append({"text": text})
    calls = list(m.get("tool_calls") or ())
    legacy = m.get("function_call")
    if isinstance(legacy, dict):
        calls.append({"function": legacy})
    first = True
    for call in calls:
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not fn.get("name"):
            raise bad_request("Each tool call needs a function name.", param="messages")
        function_call: JSON = {"name": str(fn["name"]), "args": _arguments(fn.get("arguments"))}
        call_id = call.get("id")
        if isinstance(call_id, str) and call_id and not call_id.startswith(_OUR_ID_PREFIX):
            function_call["id"] = call_id
        part: JSON = {"functionCall": function_call}
        signature = _signature(call)
        if signature:
            part["thoughtSignature"] = signature
        elif first:
            part["thoughtSignature"] = SKIP_SIGNATURE
        first = False
        parts.append(part)
    return parts


def _signature(call: JSON) -> str | None:
    extra = call.get("extra_content")
    google = extra.get("google") if isinstance(extra, dict) else None
    value = google.get("thought_signature") if isinstance(google, dict) else None
    return value if isinstance(value, str) and value else None


def _arguments(raw: Any) -> JSON:
    if isinstance(raw, dict):
        return raw
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    try:
        value = orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError):
        raise bad_request(
            "A tool call's 'arguments' is not valid JSON.", param="messages"
        ) from None
    if not isinstance(value, dict):
        raise bad_request("A tool call's 'arguments' must be a JSON object.", param="messages")
    return value


def _function_response(m: JSON, names: dict[str, str]) -> JSON:
    call_id = m.get("tool_call_id")
    name = names.get(call_id) if isinstance(call_id, str) else None
    name = name or m.get("name")
    if not name:
        raise bad_request(
            "A tool message must answer a tool call of an earlier assistant message"
            " (Gemini needs the function's name).",
            param="messages",
        )
    text = text_of(m.get("content"))
    response: JSON = {"output": text}
    if text.startswith("{"):
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            response = parsed
    result: JSON = {"name": str(name), "response": response}
    if isinstance(call_id, str) and call_id and not call_id.startswith(_OUR_ID_PREFIX):
        result["id"] = call_id
    return {"functionResponse": result}


def _tools(body: JSON, native_schema: bool) -> list[JSON]:
    functions: list[Any] = []
    for tool in body.get("tools") or ():
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            kind = tool.get("type") if isinstance(tool, dict) else None
            raise bad_request(f"Unsupported tool type {kind!r} for Gemini.", param="tools")
        functions.append(tool.get("function"))
    functions.extend(body.get("functions") or ())
    declarations: list[JSON] = []
    for fn in functions:
        if not isinstance(fn, dict) or not fn.get("name"):
            raise bad_request("Each function tool needs a name.", param="tools")
        declaration: JSON = {"name": str(fn["name"])}
        if fn.get("description"):
            declaration["description"] = str(fn["description"])
        params = fn.get("parameters")
        if isinstance(params, dict) and params:
            if native_schema:
                declaration["parametersJsonSchema"] = params
            else:
                schema = to_gemini_schema(params)
                if schema and not is_empty_object(schema):
                    declaration["parameters"] = schema
        declarations.append(declaration)
    return [{"functionDeclarations": declarations}] if declarations else []


def _tool_config(choice: Any) -> JSON | None:
    if choice is None:
        return None
    if choice in ("auto", "none", "required"):
        mode = {"auto": "AUTO", "none": "NONE", "required": "ANY"}[choice]
        return {"functionCallingConfig": {"mode": mode}}
    if isinstance(choice, dict):
        fn = choice.get("function") if "function" in choice else choice
        name = fn.get("name") if isinstance(fn, dict) else None
        if isinstance(name, str) and name:
            return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    raise bad_request("Unsupported 'tool_choice'.", param="tool_choice")


def _generation_config(body: JSON, model: str, native_schema: bool) -> JSON:
    config: JSON = {}
    for ours, theirs in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("top_k", "topK"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ):
        value = body.get(ours)
        if value is not None:
            config[theirs] = value
    limit = max_output_tokens(body)
    if limit is not None:
        config["maxOutputTokens"] = limit
    stops = stop_sequences(body)
    if stops:
        config["stopSequences"] = stops
    n = body.get("n")
    if isinstance(n, int) and n > 1:
        config["candidateCount"] = n
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if isinstance(schema, dict) and schema:
            if native_schema:
                config["responseJsonSchema"] = schema
            else:
                config["responseSchema"] = to_gemini_schema(schema)
    effort = body.get("reasoning_effort")
    if isinstance(effort, str) and effort in _BUDGETS:
        config["thinkingConfig"] = _thinking(effort, model)
    return config


def _thinking(effort: str, model: str) -> JSON:
    major = _GEMINI_MAJOR.search(model)
    if major is not None and int(major.group(1)) >= 3:
        thinking: JSON = {"thinkingLevel": _LEVELS[effort]}
    else:
        thinking = {"thinkingBudget": _BUDGETS[effort]}
    if effort != "none":
        thinking["includeThoughts"] = True
    return thinking


# --- response --------------------------------------------------------------------------


def new_call_id() -> str:
    return _OUR_ID_PREFIX + uuid.uuid4().hex[:24]


def finish_reason(reason: Any, has_tool_calls: bool) -> str | None:
    if reason is None:
        return None
    mapped = _FINISH.get(str(reason), "stop")
    return "tool_calls" if has_tool_calls and mapped == "stop" else mapped


def usage_of(meta: Any) -> JSON:
    """OpenAI usage from ``usageMetadata``: completion tokens include the thinking, as OpenAI counts them."""
    m = meta if isinstance(meta, dict) else {}

    def count(key: str) -> int:
        value = m.get(key)
        return value if isinstance(value, int) else 0

    thoughts = count("thoughtsTokenCount")
    return usage(
        count("promptTokenCount") + count("toolUsePromptTokenCount"),
        count("candidatesTokenCount") + thoughts,
        cached=count("cachedContentTokenCount"),
        reasoning=thoughts,
    )


def raise_if_blocked(data: JSON) -> None:
    """A prompt Gemini refused to answer: no candidates, ``promptFeedback.blockReason``."""
    feedback = data.get("promptFeedback")
    reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
    if reason and not data.get("candidates"):
        raise GatewayError(
            400,
            f"The prompt was blocked by Gemini's content filters (blockReason {reason}).",
            code="content_policy_violation",
        )


def _malformed(reason: Any) -> GatewayError:
    return GatewayError(
        502,
        f"gemini: the model produced an unusable function call (finishReason {reason}).",
        code="malformed_function_call",
        retryable=True,
    )


def tool_call(call: JSON, signature: Any) -> JSON:
    out: JSON = {
        "id": call.get("id") or new_call_id(),
        "type": "function",
        "function": {
            "name": str(call.get("name", "")),
            "arguments": orjson.dumps(call.get("args") or {}).decode(),
        },
    }
    if isinstance(signature, str) and signature:
        out["extra_content"] = {"google": {"thought_signature": signature}}
    return out


def parse_generate(data: JSON, model: str) -> JSON:
    """A ``GenerateContentResponse`` as an OpenAI ``chat.completion``."""
    raise_if_blocked(data)
    candidates = data.get("candidates")
    if not isinstance(candidates, list) or not candidates:
        raise bad_upstream("gemini", "the answer has no candidates.")
    choices: list[JSON] = []
    for position, cand in enumerate(candidates):
        content = cand.get("content") or {}
        texts: list[str] = []
        thoughts: list[str] = []
        calls: list[JSON] = []
        for part in content.get("parts") or ():
            if "functionCall" in part:
                calls.append(tool_call(part["functionCall"], part.get("thoughtSignature")))
            elif isinstance(part.get("text"), str):
                (thoughts if part.get("thought") else texts).append(part["text"])
        reason = cand.get("finishReason")
        text = "".join(texts)
        if reason in _BAD_CALL and not text and not calls:
            raise _malformed(reason)
        message = assistant_message(text or None, calls, "".join(thoughts))
        choices.append(
            {
                "index": cand.get("index", position),
                "message": {**message, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason(reason or "STOP", bool(calls)),
            }
        )
    choices.sort(key=lambda c: int(c["index"]))
    return {
        "id": _completion_id(data),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": usage_of(data.get("usageMetadata")),
    }


def _completion_id(data: JSON) -> str:
    rid = data.get("responseId")
    return (
        f"chatcmpl-{rid}" if isinstance(rid, str) and rid else "chatcmpl-" + uuid.uuid4().hex[:24]
    )


class GeminiStreamDecoder:
    """``streamGenerateContent?alt=sse``: every ``data:`` event is a whole response fragment.

    Text arrives in pieces; a function call arrives whole (one tool-call delta with
    its full arguments); ``usageMetadata`` is complete on the last event, and the
    usage chunk is sent when the stream ends.
    """

    __slots__ = ("_chunks", "_classify", "_first", "_roles", "_sse", "_tools", "_usage")

    def __init__(self, model: str, classify: Callable[[bytes], GatewayError]) -> None:
        self._sse = SSEParser()
        self._chunks = ChunkMaker(model)
        self._classify = classify  # error body -> GatewayError
        self._usage: Any = None
        self._roles: set[int] = set()  # candidates whose first delta went out
        self._tools: dict[int, int] = {}  # candidate -> tool calls so far
        self._first = True

    def feed(self, data: bytes) -> list[JSON]:
        return self._decode(self._sse.feed(data))

    def close(self) -> list[JSON]:
        out = self._decode(self._sse.close())
        out.append(self._chunks.usage(usage_of(self._usage)))
        return out

    def _decode(self, events: list[tuple[str, bytes]]) -> list[JSON]:
        out: list[JSON] = []
        for _event, raw in events:
            data = orjson.loads(raw)
            if not isinstance(data, dict):
                continue
            if "error" in data:
                raise self._classify(raw)
            raise_if_blocked(data)
            if self._first:
                self._first = False
                rid = data.get("responseId")
                if isinstance(rid, str) and rid:
                    self._chunks.id = f"chatcmpl-{rid}"
            if isinstance(data.get("usageMetadata"), dict):
                self._usage = data["usageMetadata"]
            for position, cand in enumerate(data.get("candidates") or ()):
                out.extend(self._candidate(cand, int(cand.get("index", position))))
        return out

    def _candidate(self, cand: JSON, index: int) -> list[JSON]:
        out: list[JSON] = []
        for part in (cand.get("content") or {}).get("parts") or ():
            if "functionCall" in part:
                call = tool_call(part["functionCall"], part.get("thoughtSignature"))
                position = self._tools.get(index, 0)
                self._tools[index] = position + 1
                delta: JSON = {"tool_calls": [{"index": position, **call}]}
            elif isinstance(part.get("text"), str) and part["text"]:
                key = "reasoning_content" if part.get("thought") else "content"
                delta = {key: part["text"]}
            else:
                continue
            out.append(self._chunk(index, delta, None))
        reason = cand.get("finishReason")
        if reason:
            calls = self._tools.get(index, 0)
            if reason in _BAD_CALL and not out and index not in self._roles:
                raise _malformed(reason)
            out.append(self._chunk(index, {}, finish_reason(reason, calls > 0)))
        return out

    def _chunk(self, index: int, delta: JSON, finish: str | None) -> JSON:
        if index not in self._roles:
            self._roles.add(index)
            delta = {"role": "assistant", **delta}
        chunk = self._chunks.delta(delta, finish)
        chunk["choices"][0]["index"] = index
        return chunk
