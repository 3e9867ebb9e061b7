"""Rewrite an OpenAI chat-completion stream (``data: {chunk}`` events) through guard channels.

The pipeline's stream arrives in arbitrary pieces (passed through as the upstream
sent them); this frames whole events, rewrites each chunk's ``delta.content`` and
``delta.tool_calls[].function.arguments`` through one :class:`OutputChannel` per
choice and field, and flushes a choice's channels into the chunk that carries its
``finish_reason`` (or, if the stream ends without one, into a closing chunk before
``[DONE]``). Events without text (role, usage, errors, comments) pass unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson

from bastion.guardrails.stream import OutputChannel

ChannelFactory = Callable[[], OutputChannel]


class ChunkRewriter:
    __slots__ = ("_channels", "_last", "_new")

    def __init__(self, new_channel: ChannelFactory) -> None:
        self._new = new_channel
        self._channels: dict[tuple[int, int], OutputChannel] = {}  # (choice, -1 | tool index)
        self._last: dict[str, Any] | None = None  # the last chunk, for a closing chunk's ids

    def _channel(self, key: tuple[int, int]) -> OutputChannel:
        channel = self._channels.get(key)
        if channel is None:
            channel = self._channels[key] = self._new()
        return channel

    def event(self, event: bytes) -> bytes:
        """One SSE event (without its blank line) -> the bytes to send, blank line included."""
        data = _data_of(event)
        if data is None:
            return event + b"\n\n"
        if data == b"[DONE]":
            return self.close() + event + b"\n\n"
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return event + b"\n\n"
        if not isinstance(chunk, dict) or not isinstance(chunk.get("choices"), list):
            return event + b"\n\n"
        self._last = chunk
        if not any(self._rewrite(c) for c in chunk["choices"] if isinstance(c, dict)):
            return event + b"\n\n"
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def _rewrite(self, choice: dict[str, Any]) -> bool:
        index = choice.get("index", 0)
        delta = choice.get("delta")
        changed = False
        if isinstance(delta, dict):
            content = delta.get("content")
            if isinstance(content, str) and content:
                delta["content"] = self._channel((index, -1)).feed(content)
                changed = True
            for call in delta.get("tool_calls") or ():
                function = call.get("function") if isinstance(call, dict) else None
                args = function.get("arguments") if isinstance(function, dict) else None
                if isinstance(args, str) and args:
                    function["arguments"] = self._channel((index, call.get("index", 0))).feed(args)  # type: ignore[index]
                    changed = True
        if choice.get("finish_reason") is not None:
            changed = self._flush_choice(index, choice) or changed
        return changed

    def _flush_choice(self, index: int, choice: dict[str, Any]) -> bool:
        changed = False
        for (i, field), channel in list(self._channels.items()):
            if i != index:
                continue
            rest = channel.flush()
            del self._channels[(i, field)]
            if not rest:
                continue
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                delta = choice["delta"] = {}
            if field == -1:
                delta["content"] = (delta.get("content") or "") + rest
            else:
                calls = delta.setdefault("tool_calls", [])
                calls.append({"index": field, "function": {"arguments": rest}})
            changed = True
        return changed

    def close(self) -> bytes:
        """What is still held when the stream ends without finish reasons: one closing chunk."""
        if not self._channels:
            return b""
        base = self._last or {"object": "chat.completion.chunk"}
        choices = []
        for index in sorted({i for i, _ in self._channels}):
            choice: dict[str, Any] = {"index": index, "delta": {}, "finish_reason": None}
            self._flush_choice(index, choice)
            if choice["delta"]:
                choices.append(choice)
        if not choices:
            return b""
        chunk: dict[str, Any] = {
            k: base[k] for k in ("id", "object", "created", "model") if k in base
        }
        chunk["choices"] = choices
        return b"data: " + orjson.dumps(chunk) + b"\n\n"


def _data_of(event: bytes) -> bytes | None:
    """The data of an SSE event (several data lines joined by newlines), or None."""
    data: list[bytes] = []
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            data.append(line[6:] if line[5:6] == b" " else line[5:])
    return b"\n".join(data).strip() if data else None


def rewrite_stream(pieces: AsyncIterator[bytes], rewriter: ChunkRewriter) -> AsyncIterator[bytes]:
    """Frame ``pieces`` into events and rewrite each; closing the result closes ``pieces``
    (even when it was never iterated)."""
    return _Closing(_rewrite(pieces, rewriter), pieces)


class _Closing:
    """An async iterator whose ``aclose`` also closes the stream it reads."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, outer: AsyncIterator[bytes], inner: AsyncIterator[bytes]) -> None:
        self._outer = outer
        self._inner = inner

    def __aiter__(self) -> _Closing:
        return self

    async def __anext__(self) -> bytes:
        return await self._outer.__anext__()

    async def aclose(self) -> None:
        try:
            await self._outer.aclose()  # type: ignore[attr-defined]
        finally:
            await self._inner.aclose()  # type: ignore[attr-defined]


async def _rewrite(pieces: AsyncIterator[bytes], rewriter: ChunkRewriter) -> AsyncIterator[bytes]:
    pending = b""
    try:
        async for piece in pieces:
            pending += piece
            if b"\r" in pending:
                pending = pending.replace(b"\r\n", b"\n")
            if b"\n\n" not in pending:
                continue
            *events, pending = pending.split(b"\n\n")
            out = b"".join(rewriter.event(e) for e in events if e)
            if out:
                yield out
        tail = (rewriter.event(pending.strip(b"\n")) if pending.strip() else b"") + rewriter.close()
        if tail:
            yield tail
    finally:
        await pieces.aclose()  # type: ignore[attr-defined]
