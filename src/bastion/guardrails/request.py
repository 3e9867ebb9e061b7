"""Walk the canonical request (OpenAI's shape) and the answer, text by text.

Input: every message's text (plain or content parts), tool-call arguments the
assistant sent earlier, tool results, and embeddings input. Output: each
choice's message text and tool-call arguments. A rewrite replaces the string
in place; the walkers say whether anything changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# (text, source, where) -> the text to keep (the same object when unchanged)
Rewrite = Callable[[str, str, str], str]

_SOURCES = {"tool": "tool", "function": "tool", "developer": "system"}
# The places of the first messages' texts, built once rather than for every request.
_CONTENT = tuple(f"messages[{i}].content" for i in range(64))


def walk_request(body: dict[str, Any], endpoint: str, rewrite: Rewrite) -> bool:
    """Apply ``rewrite`` to every text of a chat or embeddings request; True if one changed."""
    changed = False
    if endpoint == "embeddings":
        value = body.get("input")
        if isinstance(value, str):
            new = rewrite(value, "user", "input")
            if new is not value:
                body["input"], changed = new, True
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, str):
                    new = rewrite(item, "user", f"input[{i}]")
                    if new is not item:
                        value[i], changed = new, True
        return changed
    messages = body.get("messages")
    if not isinstance(messages, list):
        return False
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        source = _SOURCES.get(role, role) if isinstance(role, str) else "user"
        content = message.get("content")
        if isinstance(content, str):
            where = _CONTENT[i] if i < len(_CONTENT) else f"messages[{i}].content"
            new = rewrite(content, source, where)
            if new is not content:
                message["content"], changed = new, True
        elif isinstance(content, list):
            for j, part in enumerate(content):
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    text = part["text"]
                    new = rewrite(text, source, f"messages[{i}].content[{j}].text")
                    if new is not text:
                        part["text"], changed = new, True
        if "tool_calls" in message:
            changed = _tool_calls(message, f"messages[{i}]", rewrite, "tool_call") or changed
    return changed


def walk_answer(data: dict[str, Any], rewrite: Rewrite) -> bool:
    """Apply ``rewrite`` to each choice's message text and tool-call arguments."""
    changed = False
    choices = data.get("choices")
    if not isinstance(choices, list):
        return False
    for i, choice in enumerate(choices):
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            new = rewrite(content, "output", f"choices[{i}].message.content")
            if new is not content:
                message["content"], changed = new, True
        changed = _tool_calls(message, f"choices[{i}].message", rewrite, "output") or changed
    return changed


def _tool_calls(message: dict[str, Any], where: str, rewrite: Rewrite, source: str) -> bool:
    changed = False
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        for k, call in enumerate(calls):
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                args = function["arguments"]
                new = rewrite(args, source, f"{where}.tool_calls[{k}].function.arguments")
                if new is not args:
                    function["arguments"], changed = new, True
    return changed


def request_chars(body: dict[str, Any], endpoint: str) -> int:
    """About how many characters :func:`walk_request` would scan (message texts and
    embedding inputs; tool-call arguments are left out): cheap, to decide where to scan."""
    total = 0
    if endpoint == "embeddings":
        value = body.get("input")
        if isinstance(value, str):
            return len(value)
        if isinstance(value, list):
            return sum(len(item) for item in value if isinstance(item, str))
        return 0
    messages = body.get("messages")
    if not isinstance(messages, list):
        return 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    total += len(part["text"])
    return total
