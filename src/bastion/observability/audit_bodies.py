"""Bodies in the audit trail: their shape (metadata mode) and, when kept, their content.

On the request path the only work is :class:`BodyCapture` collecting the answer's
bytes as the caller receives them (bounded), and only for requests whose body
mode is ``on``; they go to the writer as they are (accounting/finished.py).
Everything else runs in the audit writer (the recorder process, or the
gateway's writer inline): the request (as sent upstream: guardrails'
redactions and pseudonyms applied) and the answer, with what the request's
guardrail policies flag replaced by ``[KIND]``. That last part needs the request's
guardrail session, so when a policy redacts (``redacts``) the document is built
in the gateway, while the facts of the request are gathered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

JSON = dict[str, Any]
_NUMBER = (int, float)
_SHAPE_FIELDS = ("max_tokens", "max_completion_tokens", "temperature", "n")
# (the request's guardrail session, "input" | "output", text) -> the text, redacted
Redactor = Callable[[object | None, str, str], str]


class BodyCapture:
    """The answer's bytes as the caller receives them, up to ``limit``."""

    __slots__ = ("chunks", "limit", "size", "truncated")

    def __init__(self, limit: int) -> None:
        self.chunks: list[bytes] = []
        self.limit = limit
        self.size = 0
        self.truncated = False

    def add(self, piece: bytes) -> None:
        size = self.size + len(piece)
        if size < self.limit:  # room left after it (a call per streamed piece: kept short)
            self.chunks.append(piece)
            self.size = size
            return
        room = self.limit - self.size
        if room <= 0:
            self.truncated = self.truncated or bool(piece)
            return
        if len(piece) > room:
            piece, self.truncated = piece[:room], True
        self.chunks.append(piece)
        self.size += len(piece)

    def text(self) -> str:
        return b"".join(self.chunks).decode("utf-8", errors="replace")


def redacts(session: object | None) -> bool:
    """Whether ``guardrail_redactor`` may change a text of this request (a scanner is set)."""
    policy = getattr(session, "policy", None)
    if policy is None:
        return False
    return any(
        getattr(getattr(policy, direction, None), "scanner", None) is not None
        for direction in ("input", "output")
    )


def no_redaction(session: object | None, direction: str, text: str) -> str:
    """The redactor where no guardrail policy redacts (see ``redacts``)."""
    return text


def guardrail_redactor(session: object | None, direction: str, text: str) -> str:
    """Replace what the request's guardrail policy flags in ``text`` with ``[KIND]``.

    Duck-typed on the guardrails' session (``policy.input|output.scanner.scan``), so
    that observability does not depend on a pipeline stage.
    """
    policy = getattr(session, "policy", None)
    rules = getattr(policy, direction, None)
    scanner = getattr(rules, "scanner", None)
    if scanner is None or not text:
        return text
    findings = sorted(scanner.scan(text), key=lambda f: (f.start, -f.end))
    out: list[str] = []
    pos = 0
    for f in findings:
        if f.start < pos:
            continue  # overlaps one already replaced
        out += [text[pos : f.start], f"[{str(f.kind).upper()}]"]
        pos = f.end
    out.append(text[pos:])
    return "".join(out)


def request_shape(endpoint: str, body: JSON) -> JSON:
    """What metadata mode keeps of a request: its shape, none of its content."""
    get = body.get
    if endpoint == "embeddings":
        value = get("input")
        return {"inputs": len(value) if isinstance(value, list) else 1}
    messages = get("messages")
    roles: dict[str, int] = {}
    chars = 0
    if isinstance(messages, list):
        for m in messages:
            if isinstance(m, dict):
                role = str(m.get("role"))
                roles[role] = roles.get(role, 0) + 1
                content = m.get("content")
                if isinstance(content, str):
                    chars += len(content)
    shape: JSON = {"messages": roles, "text_chars": chars}
    tools = get("tools")
    if tools and isinstance(tools, list):
        shape["tools"] = sorted(
            str((t.get("function") or {}).get("name") or t.get("name") or "")
            for t in tools
            if isinstance(t, dict)
        )[:64]
    for name in _SHAPE_FIELDS:
        value = get(name)
        if value is not None and isinstance(value, _NUMBER):
            shape[name] = value
    format_ = get("response_format")
    if isinstance(format_, dict):
        shape["response_format"] = format_.get("type")
    return shape


def _redact_request(endpoint: str, body: JSON, session: object | None, redact: Redactor) -> JSON:
    if endpoint == "embeddings":
        value = body.get("input")
        if isinstance(value, str):
            return {**body, "input": redact(session, "input", value)}
        if isinstance(value, list):
            items = [redact(session, "input", v) if isinstance(v, str) else v for v in value]
            return {**body, "input": items}
        return body
    messages = body.get("messages")
    if not isinstance(messages, list):
        return body
    out = []
    for m in messages:
        if isinstance(m, dict) and isinstance(m.get("content"), str):
            m = {**m, "content": redact(session, "input", m["content"])}
        elif isinstance(m, dict) and isinstance(m.get("content"), list):
            parts = [
                {**p, "text": redact(session, "input", p["text"])}
                if isinstance(p, dict) and isinstance(p.get("text"), str)
                else p
                for p in m["content"]
            ]
            m = {**m, "content": parts}
        out.append(m)
    return {**body, "messages": out}


def _answer_text(raw: str, stream: bool) -> tuple[str, str | None]:
    """The answer's text and finish reason, from an OpenAI or Anthropic body or stream."""
    if not stream:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw, None
        if isinstance(data, dict) and isinstance(data.get("choices"), list):
            texts, finish = [], None
            for c in data["choices"]:
                message = c.get("message") or {} if isinstance(c, dict) else {}
                texts.append(str(message.get("content") or ""))
                finish = c.get("finish_reason") if isinstance(c, dict) else finish
            return "".join(texts), finish
        if isinstance(data, dict) and isinstance(data.get("content"), list):  # Anthropic
            text = "".join(str(b.get("text") or "") for b in data["content"] if isinstance(b, dict))
            return text, data.get("stop_reason")
        return raw, None
    texts, finish = [], None
    for line in raw.splitlines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":  # not JSON: an error raised and caught costs ~5 K instructions
            continue
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(event, dict):
            continue
        for c in event.get("choices") or ():
            delta = c.get("delta") or {}
            texts.append(str(delta.get("content") or ""))
            finish = c.get("finish_reason") or finish
        delta = event.get("delta")
        if isinstance(delta, dict):  # Anthropic: content_block_delta, message_delta
            texts.append(str(delta.get("text") or ""))
            finish = delta.get("stop_reason") or finish
    return "".join(texts), finish


def body_document(
    endpoint: str,
    body: JSON,
    answer: str,
    truncated: bool,
    stream: bool,
    session: object | None,
    redact: Redactor,
    limit: int,
) -> str:
    """The request and answer as kept in the trail (JSON text), redacted and bounded.

    ``answer``: the text the caller received (a ``BodyCapture``'s; empty: none kept)."""
    request = (
        _redact_request(endpoint, body, session, redact) if redact is not no_redaction else body
    )
    text = orjson.dumps(request).decode()
    doc: JSON = {"request": request if len(text) <= limit else {"truncated": text[:limit]}}
    if answer:
        said, finish = _answer_text(answer, stream)
        doc["response"] = {
            "text": redact(session, "output", said)[:limit],
            "finish_reason": finish,
            "truncated": truncated,
        }
    return orjson.dumps(doc).decode()
