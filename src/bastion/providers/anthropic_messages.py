"""Anthropic Messages requests <-> canonical (OpenAI Chat Completions) requests, both ways.

``to_anthropic`` serves the Anthropic provider adapter (an OpenAI-format caller
reaching Claude); ``from_anthropic`` serves the Anthropic ingress (an
Anthropic-format caller reaching any other model). The tables that both
directions share (tool choice, reasoning effort) live here once.

Pure functions over plain dicts; no I/O.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from bastion.errors import bad_request
from bastion.providers.base import JSON
from bastion.providers.canonical import (
    max_output_tokens,
    parse_data_url,
    reject_n,
    stop_sequences,
    text_of,
)

DEFAULT_MAX_TOKENS: Final = 4096
IMAGE_TYPES: Final = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
# Blocks an OpenAI-format caller may send as content parts to a Claude model, untouched.
_NATIVE_USER_BLOCKS: Final = frozenset({"document", "search_result", "container_upload"})
# OpenAI reasoning_effort -> Anthropic extended-thinking budget (budget_tokens >= 1024).
THINKING_BUDGETS: Final[dict[str, int]] = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 24576,
}
JSON_OBJECT_INSTRUCTION: Final = (
    "Respond with a single valid JSON object and nothing else: no prose, no code fences."
)


# --- canonical (OpenAI) -> Anthropic --------------------------------------------------


def to_anthropic(body: JSON, model: str, *, default_max_tokens: int = DEFAULT_MAX_TOKENS) -> JSON:
    """The Anthropic Messages request for a canonical chat request."""
    reject_n(body)
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise bad_request("'messages' must be an array.", param="messages")
    system: list[JSON] = []
    turns: list[JSON] = []
    for i, message in enumerate(messages):
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(_text_blocks(message.get("content"), f"messages[{i}]"))
        elif role == "user":
            _add_turn(turns, "user", _user_blocks(message.get("content"), f"messages[{i}]"))
        elif role == "assistant":
            _add_turn(turns, "assistant", _assistant_blocks(message, f"messages[{i}]"))
        elif role == "tool":
            _add_turn(turns, "user", [_tool_result(message, f"messages[{i}]")])
        else:
            raise bad_request(
                f"messages[{i}].role '{role}' is not supported by Anthropic models.",
                param=f"messages[{i}].role",
            )
    for turn in turns:  # tool results must open the user turn that carries them
        if turn["role"] == "user":
            turn["content"].sort(key=lambda b: b.get("type") != "tool_result")

    out: JSON = {"model": model, "messages": turns}
    max_tokens = max_output_tokens(body)
    thinking = _thinking(body, max_tokens)
    if max_tokens is None:
        max_tokens = default_max_tokens
        if thinking is not None and thinking.get("type") == "enabled":
            max_tokens += int(thinking.get("budget_tokens", 0))
    out["max_tokens"] = max_tokens
    if thinking is not None:
        out["thinking"] = thinking

    fmt = body.get("response_format")
    if isinstance(fmt, dict):
        if fmt.get("type") == "json_schema":
            spec = fmt.get("json_schema")
            schema = (spec.get("schema") if isinstance(spec, dict) else None) or {"type": "object"}
            out["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
        elif fmt.get("type") == "json_object":
            system.append({"type": "text", "text": JSON_OBJECT_INSTRUCTION})
    if system:
        plain = all(set(b) == {"type", "text"} for b in system)
        out["system"] = "\n\n".join(b["text"] for b in system) if plain else system

    stops = stop_sequences(body)
    if stops:
        out["stop_sequences"] = stops
    for name in ("temperature", "top_p", "top_k"):
        if body.get(name) is not None:
            out[name] = body[name]
    user = body.get("user")
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": user}
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        out["tools"] = [_tool(t, f"tools[{i}]") for i, t in enumerate(tools)]
        choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
        if choice is not None:
            out["tool_choice"] = choice
    if body.get("stream") is True:
        out["stream"] = True
    return out


def _add_turn(turns: list[JSON], role: str, blocks: list[JSON]) -> None:
    """Anthropic wants alternating roles: consecutive same-role messages become one turn."""
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": blocks})


def _text_part(part: JSON) -> JSON:
    block: JSON = {"type": "text", "text": part.get("text", "")}
    if "cache_control" in part:  # prompt caching marks survive translation
        block["cache_control"] = part["cache_control"]
    return block


def _text_blocks(content: Any, where: str) -> list[JSON]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if isinstance(content, list):
        return [
            _text_part(p)
            for p in content
            if isinstance(p, dict) and p.get("type") == "text" and p.get("text")
        ]
    if content is None:
        return []
    raise bad_request(f"{where}.content must be a string or an array.", param=f"{where}.content")


def _user_blocks(content: Any, where: str) -> list[JSON]:
    if not isinstance(content, list):
        return _text_blocks(content, where)
    blocks: list[JSON] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if part.get("text"):
                blocks.append(_text_part(part))
        elif kind == "image_url":
            blocks.append(image_block(part, f"{where}.content[{j}]"))
        elif kind == "file":
            blocks.append(_document_block(part, f"{where}.content[{j}]"))
        elif kind in _NATIVE_USER_BLOCKS or (kind == "image" and "source" in part):
            blocks.append(part)
        else:
            raise bad_request(
                f"{where}.content[{j}]: content type '{kind}' is not supported by Anthropic models.",
                param=f"{where}.content[{j}]",
            )
    return blocks


def image_block(part: JSON, where: str) -> JSON:
    """An OpenAI ``image_url`` part as an Anthropic image block (URL or base64 source)."""
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        raise bad_request(f"{where}.image_url.url must be a string.", param=where)
    inline = parse_data_url(url)
    if inline is None:
        if not url.startswith(("http://", "https://")):
            raise bad_request(f"{where}: image URLs must be http(s) or data: URLs.", param=where)
        return {"type": "image", "source": {"type": "url", "url": url}}
    mime, data = inline
    if mime not in IMAGE_TYPES:
        raise bad_request(
            f"{where}: image type '{mime}' is not supported (jpeg, png, gif, webp).", param=where
        )
    return {"type": "image", "source": {"type": "base64", "media_type": mime, "data": data}}


def _document_block(part: JSON, where: str) -> JSON:
    file = part.get("file")
    if not isinstance(file, dict):
        file = {}
    inline = parse_data_url(str(file.get("file_data") or ""))
    if inline is None or inline[0] != "application/pdf":
        raise bad_request(
            f"{where}: Anthropic models take files as base64 PDF data (file.file_data).",
            param=where,
        )
    block: JSON = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": inline[1]},
    }
    if file.get("filename"):
        block["title"] = file["filename"]
    return block


def _assistant_blocks(message: JSON, where: str) -> list[JSON]:
    blocks: list[JSON] = []
    # Thinking blocks go back first, signatures intact: a tool-use turn with thinking
    # enabled is rejected without them.
    thinking = message.get("thinking_blocks")
    if isinstance(thinking, list):
        blocks.extend(
            b
            for b in thinking
            if isinstance(b, dict) and b.get("type") in ("thinking", "redacted_thinking")
        )
    content = message.get("content")
    if isinstance(content, list):
        text = "".join(
            str(p.get("text") or p.get("refusal") or "")
            for p in content
            if isinstance(p, dict) and p.get("type") in ("text", "refusal")
        )
    else:
        text = text_of(content)
    if text:
        blocks.append({"type": "text", "text": text})
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        for k, call in enumerate(calls):
            fn = call.get("function") if isinstance(call, dict) else None
            if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                raise bad_request(
                    f"{where}.tool_calls[{k}] must have function.name.", param=f"{where}.tool_calls"
                )
            blocks.append(
                {
                    "type": "tool_use",
                    "id": call.get("id") or f"toolu_{k}",
                    "name": fn["name"],
                    "input": _arguments(fn.get("arguments"), f"{where}.tool_calls[{k}]"),
                }
            )
    return blocks


def _arguments(raw: Any, where: str) -> JSON:
    if isinstance(raw, dict):
        return raw
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    try:
        value = orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError):
        raise bad_request(
            f"{where}.function.arguments is not valid JSON.", param=f"{where}.function.arguments"
        ) from None
    if not isinstance(value, dict):
        raise bad_request(
            f"{where}.function.arguments must be a JSON object.",
            param=f"{where}.function.arguments",
        )
    return value


def _tool_result(message: JSON, where: str) -> JSON:
    tool_call_id = message.get("tool_call_id")
    if not isinstance(tool_call_id, str) or not tool_call_id:
        raise bad_request(f"{where}.tool_call_id is required.", param=f"{where}.tool_call_id")
    content = message.get("content")
    block: JSON = {"type": "tool_result", "tool_use_id": tool_call_id}
    if isinstance(content, list):
        block["content"] = _user_blocks(content, where)
    else:
        block["content"] = text_of(content)
    if message.get("is_error") is True:
        block["is_error"] = True
    return block


def _tool(tool: Any, where: str) -> JSON:
    if not isinstance(tool, dict):
        raise bad_request(f"{where} must be an object.", param=where)
    fn = tool.get("function")
    if tool.get("type") != "function" or not isinstance(fn, dict):
        if "name" in tool and "function" not in tool:
            return tool  # already an Anthropic tool (server tools: web search, ...)
        raise bad_request(f"{where}: only function tools are supported.", param=where)
    if not isinstance(fn.get("name"), str):
        raise bad_request(f"{where}.function.name must be a string.", param=where)
    out: JSON = {
        "name": fn["name"],
        "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
    }
    if fn.get("description"):
        out["description"] = fn["description"]
    if fn.get("strict") is True:
        out["strict"] = True
    if "cache_control" in tool:
        out["cache_control"] = tool["cache_control"]
    return out


def _tool_choice(choice: Any, parallel: Any) -> JSON | None:
    out: JSON | None
    if choice is None or choice == "auto":
        out = {"type": "auto"} if parallel is False else None
    elif choice == "none":
        return {"type": "none"}
    elif choice == "required":
        out = {"type": "any"}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        out = {"type": "tool", "name": choice["function"].get("name")}
    else:
        raise bad_request("Unsupported 'tool_choice'.", param="tool_choice")
    if out is not None and parallel is False:
        out["disable_parallel_tool_use"] = True
    return out


def _thinking(body: JSON, max_tokens: int | None) -> JSON | None:
    """``thinking`` passes through as given; ``reasoning_effort`` becomes a budget."""
    thinking = body.get("thinking")
    if isinstance(thinking, dict):
        return thinking
    effort = body.get("reasoning_effort")
    budget = THINKING_BUDGETS.get(effort) if isinstance(effort, str) else None
    if budget is None:
        return None  # "none", or unknown
    if max_tokens is not None:
        budget = min(budget, max_tokens - 1)
        if budget < 1024:  # too small an output limit to think at all
            return None
    return {"type": "enabled", "budget_tokens": budget}


# --- Anthropic -> canonical (OpenAI) --------------------------------------------------


def from_anthropic(body: JSON) -> JSON:
    """The canonical chat request for an Anthropic Messages request (validated on the way)."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("model: Field required (a non-empty string).", param="model")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise bad_request("max_tokens: Field required (a positive integer).", param="max_tokens")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("messages: Field required (a non-empty array).", param="messages")

    out_messages: list[JSON] = []
    system = body.get("system")
    if system is not None:
        text = _system_text(system)
        if text:
            out_messages.append({"role": "system", "content": text})
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise bad_request(f"messages.{i}: must be an object.", param=f"messages.{i}")
        role = message.get("role")
        if role == "user":
            out_messages.extend(_from_user(message.get("content"), f"messages.{i}"))
        elif role == "assistant":
            out_messages.append(_from_assistant(message.get("content"), f"messages.{i}"))
        else:
            raise bad_request(
                f"messages.{i}.role: Input should be 'user' or 'assistant'.",
                param=f"messages.{i}.role",
            )

    out: JSON = {"model": model, "messages": out_messages, "max_tokens": max_tokens}
    stops = body.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise bad_request(
                "stop_sequences: must be an array of strings.", param="stop_sequences"
            )
        if stops:
            out["stop"] = stops
    for name in ("temperature", "top_p", "top_k"):
        value = body.get(name)
        if value is not None:
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise bad_request(f"{name}: must be a number.", param=name)
            out[name] = value
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        out["user"] = metadata["user_id"]
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise bad_request("tools: must be an array.", param="tools")
        if tools:
            out["tools"] = [_from_tool(t, f"tools.{i}") for i, t in enumerate(tools)]
            _from_tool_choice(body.get("tool_choice"), out)
    effort = _effort(body)
    if effort is not None:
        out["reasoning_effort"] = effort
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        out["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": fmt.get("schema") or {}, "strict": True},
        }
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise bad_request("stream: must be a boolean.", param="stream")
    if stream:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


def _system_text(system: Any) -> str:
    if isinstance(system, str):
        return system
    if isinstance(system, list) and all(
        isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
        for b in system
    ):
        return "\n\n".join(b["text"] for b in system)
    raise bad_request("system: must be a string or an array of text blocks.", param="system")


def _from_user(content: Any, where: str) -> list[JSON]:
    """A user turn: its tool results become ``tool`` messages (first), the rest one user message."""
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    if not isinstance(content, list):
        raise bad_request(f"{where}.content: must be a string or an array.", param=where)
    tool_messages: list[JSON] = []
    parts: list[JSON] = []
    for j, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "tool_result":
            text, images = _tool_result_content(block, f"{where}.content.{j}")
            tool_use_id = block.get("tool_use_id")
            if not isinstance(tool_use_id, str):
                raise bad_request(f"{where}.content.{j}.tool_use_id: Field required.", param=where)
            if block.get("is_error") is True:
                text = "Error: " + text
            tool_messages.append({"role": "tool", "tool_call_id": tool_use_id, "content": text})
            parts.extend(images)  # images returned by a tool reach the model as user content
        else:
            parts.append(_from_content_block(block, f"{where}.content.{j}"))
    out = tool_messages
    if parts:
        out.append({"role": "user", "content": parts})
    return out


def _tool_result_content(block: JSON, where: str) -> tuple[str, list[JSON]]:
    content = block.get("content")
    if content is None or isinstance(content, str):
        return content or "", []
    if not isinstance(content, list):
        raise bad_request(f"{where}.content: must be a string or an array.", param=where)
    texts: list[str] = []
    images: list[JSON] = []
    for k, inner in enumerate(content):
        part = _from_content_block(inner, f"{where}.content.{k}")
        if part["type"] == "text":
            texts.append(part["text"])
        else:
            images.append(part)
    return "\n".join(texts), images


def _from_content_block(block: Any, where: str) -> JSON:
    kind = block.get("type") if isinstance(block, dict) else None
    if kind == "text" and isinstance(block.get("text"), str):
        return {"type": "text", "text": block["text"]}
    if kind == "image" and isinstance(block.get("source"), dict):
        source = block["source"]
        if source.get("type") == "base64":
            url = f"data:{source.get('media_type')};base64,{source.get('data')}"
        elif source.get("type") == "url":
            url = str(source.get("url"))
        else:
            raise bad_request(f"{where}.source: unsupported image source.", param=where)
        return {"type": "image_url", "image_url": {"url": url}}
    if kind == "document" and isinstance(block.get("source"), dict):
        source = block["source"]
        if source.get("type") == "text":
            return {"type": "text", "text": str(source.get("data", ""))}
        if source.get("type") == "base64" and source.get("media_type") == "application/pdf":
            file: JSON = {"file_data": f"data:application/pdf;base64,{source.get('data')}"}
            file["filename"] = str(block.get("title") or "document.pdf")
            return {"type": "file", "file": file}
    if kind is None:
        raise bad_request(f"{where}: a content block must be an object with a 'type'.", param=where)
    raise bad_request(
        f"{where}: content block type '{kind}' is only supported by Anthropic models.",
        param=where,
    )


def _from_assistant(content: Any, where: str) -> JSON:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    if not isinstance(content, list):
        raise bad_request(f"{where}.content: must be a string or an array.", param=where)
    texts: list[str] = []
    calls: list[JSON] = []
    for j, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "tool_use":
            calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {
                        "name": block.get("name"),
                        "arguments": orjson.dumps(block.get("input") or {}).decode(),
                    },
                }
            )
        elif kind in ("thinking", "redacted_thinking"):
            # Signed thinking only means something to Claude, and a Claude target gets the
            # caller's body untranslated; any other model ignores it.
            continue
        else:
            raise bad_request(
                f"{where}.content.{j}: block type '{kind}' is only supported by Anthropic models.",
                param=where,
            )
    message: JSON = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    return message


def _from_tool(tool: Any, where: str) -> JSON:
    if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
        raise bad_request(f"{where}.name: Field required.", param=where)
    if tool.get("type") not in (None, "custom"):
        raise bad_request(
            f"{where}: tool type '{tool['type']}' is only supported by Anthropic models.",
            param=where,
        )
    fn: JSON = {"name": tool["name"]}
    if tool.get("description"):
        fn["description"] = tool["description"]
    fn["parameters"] = tool.get("input_schema") or {"type": "object", "properties": {}}
    if tool.get("strict") is True:
        fn["strict"] = True
    return {"type": "function", "function": fn}


def _from_tool_choice(choice: Any, out: JSON) -> None:
    if choice is None:
        return
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "auto":
        out["tool_choice"] = "auto"
    elif kind == "any":
        out["tool_choice"] = "required"
    elif kind == "none":
        out["tool_choice"] = "none"
    elif kind == "tool" and isinstance(choice.get("name"), str):
        out["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    else:
        raise bad_request("tool_choice: unsupported value.", param="tool_choice")
    if choice.get("disable_parallel_tool_use") is True and kind != "none":
        out["parallel_tool_calls"] = False


def _effort(body: JSON) -> str | None:
    """Anthropic thinking / effort as an OpenAI ``reasoning_effort``."""
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int):
            raise bad_request(
                "thinking.budget_tokens: Field required.", param="thinking.budget_tokens"
            )
        if budget < THINKING_BUDGETS["medium"]:
            return "low"
        return "medium" if budget < THINKING_BUDGETS["high"] else "high"
    config = body.get("output_config")
    effort = config.get("effort") if isinstance(config, dict) else None
    if effort in ("low", "medium", "high"):
        return str(effort)
    if effort in ("xhigh", "max"):
        return "high"
    return None
