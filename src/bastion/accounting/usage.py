"""Usage out of upstream answers, without parsing what passes through.

A non-streamed OpenAI-format body carries ``"usage": {...}``; it is found by
its key from the end of the body and only that object is parsed. A stream
carries it in its last chunk (OpenAI-compatible servers send it only when the
request has ``stream_options.include_usage``; the pipeline adds that for
metered requests). :class:`StreamUsageTap` watches the SSE bytes as they pass:
pieces go through as they are, cut only at event boundaries, and only an event
that holds a usage object is parsed. When the gateway asked for the usage
chunk and the client did not, that chunk is removed from what the client sees.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

_USAGE_OBJECT = re.compile(rb'"usage"\s*:\s*\{')

JSON = dict[str, Any]


def extract_usage(body: bytes) -> JSON | None:
    """The last ``usage`` object of a JSON response body, or None."""
    at = body.rfind(b'"usage"')
    if at < 0:
        return None
    match = _USAGE_OBJECT.match(body, at)
    if match is None:
        return None
    start = match.end() - 1
    end = _object_end(body, start)
    if end < 0:
        return None
    try:
        usage = orjson.loads(body[start:end])
    except orjson.JSONDecodeError:
        return None
    return usage if isinstance(usage, dict) else None


def _object_end(data: bytes, start: int) -> int:
    """The index after the ``}`` closing the object at ``start`` (usage holds no strings with braces)."""
    depth = 0
    at = start
    while True:
        opening = data.find(b"{", at)
        closing = data.find(b"}", at)
        if closing < 0:
            return -1
        if 0 <= opening < closing:
            depth += 1
            at = opening + 1
        else:
            depth -= 1
            at = closing + 1
            if depth == 0:
                return at


class StreamUsageTap:
    """Finds the usage chunk of an OpenAI-format SSE stream; removes it when ``strip``."""

    __slots__ = ("_held", "events", "strip", "usage")

    def __init__(self, strip: bool) -> None:
        self.strip = strip
        self.usage: JSON | None = None
        self._held = b""
        # SSE data events seen: an OpenAI-format stream sends about one token an event,
        # the estimate of its output when it ends without a usage report.
        self.events = 0

    def feed(self, piece: bytes) -> bytes:
        """The bytes to forward now: whole events only (a partial one waits for its end)."""
        self.events += piece.count(b"data:")
        if not self._held and piece.endswith(b"\n\n") and not _may_hold_usage(piece):
            return piece  # the usual piece: whole events, no usage object
        buf = self._held + piece if self._held else piece
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n")
        cut = buf.rfind(b"\n\n")
        if cut < 0:
            self._held = buf
            return b""
        cut += 2
        ready = buf[:cut]
        self._held = buf[cut:]
        if _USAGE_OBJECT.search(ready) is None:
            return ready
        return self._take(ready)

    def close(self) -> bytes:
        """The stream ended: whatever is held (an unterminated last event)."""
        rest, self._held = self._held, b""
        if rest.strip() and _USAGE_OBJECT.search(rest) is not None:
            return self._take(rest + b"\n\n")
        return rest

    def _take(self, ready: bytes) -> bytes:
        kept = []
        for event in ready.split(b"\n\n")[:-1]:
            if _USAGE_OBJECT.search(event) is not None:
                chunk = _event_json(event)
                usage = chunk.get("usage") if chunk is not None else None
                if isinstance(usage, dict):
                    self.usage = usage
                    if self.strip and chunk is not None and not chunk.get("choices"):
                        continue  # the chunk the gateway asked for; the client did not
            kept.append(event + b"\n\n")
        return b"".join(kept)


def _may_hold_usage(piece: bytes) -> bool:
    """False when every ``"usage"`` in ``piece`` is null (substring counts, no regex)."""
    found = piece.count(b'"usage"')
    return bool(found) and found != piece.count(b'"usage":null') + piece.count(b'"usage": null')


def _event_json(event: bytes) -> JSON | None:
    lines = [line for line in event.split(b"\n") if line.startswith(b"data:")]
    if not lines:
        return None
    data = b"\n".join(line[5:].lstrip(b" ") for line in lines)
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def chunk_usage(chunk: JSON) -> JSON | None:
    """The usage object of a canonical chunk dict, if it carries one."""
    usage = chunk.get("usage")
    return usage if isinstance(usage, dict) else None
