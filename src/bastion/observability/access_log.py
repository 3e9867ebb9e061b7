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

from bastion.observability.facts import RequestFacts, attempts_json
from bastion.observability.settings import AccessLogConfig

if TYPE_CHECKING:
    from bastion.pipeline import RequestContext

log = logging.getLogger("bastion.access")


class _Clock:
    """RFC 3339 timestamps; the seconds part is formatted once per second."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, at: float) -> str:
        second = int(at)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))
        return f"{self._prefix}{int((at - second) * 1000):03d}Z"


_LEVELS = ("info", "warning", "error")


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
        duration, upstream, ttft, cost = f.duration_ns, f.upstream_ns, f.ttft_ns, f.cost_nusd
        # One dict, one orjson call: the line is the facts' summary after time, level, logger.
        line = {
            "time": self._clock(f.at),
            "level": _LEVELS[0 if status < 400 else 1 if status < 500 else 2],
            "logger": "bastion.access",
            "request_id": f.request_id,
            "at": f.at,
            "endpoint": f.endpoint,
            "ingress": f.ingress,
            "model": f.model,
            "deployment": f.deployment,
            "provider": f.provider,
            "stream": f.stream,
            "status": status,
            "error": f.error,
            "key_id": f.key_id,
            "org_id": f.org_id,
            "team_id": f.team_id,
            "user_id": f.user_id,
            "app_id": f.app_id,
            "prompt_tokens": f.prompt_tokens,
            "completion_tokens": f.completion_tokens,
            "cached_tokens": f.cached_tokens,
            "cost_usd": None if cost is None else cost / 1e9,
            "latency_ms": duration / 1e6,
            "upstream_ms": upstream / 1e6,
            "gateway_ms": (duration - upstream) / 1e6 if duration > upstream else 0.0,
            "ttft_ms": None if ttft is None else ttft / 1e6,
            "attempts": attempts_json(f.attempts) if f.attempts else None,
            "verdicts": f.verdicts,
        }
        if self._bodies:
            line["request_body"] = ctx.body
        self._pending.append(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))

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
