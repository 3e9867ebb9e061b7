"""Structured access logs: one JSON line per request, written off the event loop.

The finisher serialises the line (orjson) and appends it to a list; a background
task hands what gathered to a thread that writes it, every ``flush_interval``.
So a slow terminal or disk never stalls a request. Past ``max_pending`` lines
(the destination is stuck) new lines are dropped and counted.

A line never holds a key (principals appear by id) nor a body, unless
``include_bodies`` is switched on for debugging: then the request body as sent
upstream is added.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from typing import IO, TYPE_CHECKING

import orjson

from bastion.observability.facts import RequestFacts
from bastion.observability.settings import AccessLogConfig

if TYPE_CHECKING:
    from bastion.pipeline import RequestContext

log = logging.getLogger("bastion.access")


class _Clock:
    """RFC 3339 timestamps; the seconds part is formatted once per second."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = b""

    def __call__(self, at: float) -> bytes:
        second = int(at)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)).encode()
        return b"%s.%03dZ" % (self._prefix, int((at - second) * 1000))


class AccessLog:
    def __init__(self, settings: AccessLogConfig) -> None:
        self.settings = settings
        self._pending: list[bytes] = []
        self._clock = _Clock()
        self._bodies = settings.include_bodies
        self._max = settings.max_pending
        self.dropped = 0
        self.errors = 0
        self._task: asyncio.Task[None] | None = None
        self._stream: IO[bytes] | None = None
        self._lock = asyncio.Lock()

    def __call__(self, f: RequestFacts, ctx: RequestContext) -> None:
        if len(self._pending) >= self._max:
            self.dropped += 1
            return
        status = f.status
        head = b'{"time":"%s","level":"%s","logger":"bastion.access",' % (
            self._clock(f.at),
            b"info" if status < 400 else b"warning" if status < 500 else b"error",
        )
        line = f.summary()
        if self._bodies:
            line["request_body"] = ctx.body
        self._pending.append(head + orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE)[1:])

    @property
    def pending(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        destination = self.settings.destination
        if destination == "stdout":
            self._stream = sys.stdout.buffer
        elif destination == "stderr":
            self._stream = sys.stderr.buffer
        else:
            self._stream = open(destination, "ab")  # noqa: SIM115 - closed in stop()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="bastion-access-log")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
        if self._stream is not None and self.settings.destination not in ("stdout", "stderr"):
            self._stream.close()
        self._stream = None

    async def flush(self) -> None:
        async with self._lock:
            if not self._pending or self._stream is None:
                return
            data = b"".join(self._pending)
            self._pending.clear()
            try:
                await asyncio.to_thread(_write, self._stream, data)
            except OSError as exc:
                self.errors += 1
                log.error("could not write the access log (%s)", exc.strerror or exc)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.flush_interval)
            await self.flush()


def _write(stream: IO[bytes], data: bytes) -> None:
    stream.write(data)
    stream.flush()
