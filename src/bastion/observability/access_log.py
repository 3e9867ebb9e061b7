"""Structured access logs: one JSON line per request, written off the event loop.

The finisher encodes the line (from a template, see :class:`AccessLog`) and appends it
to a queue; a writer thread, woken by the first line after a write, waits
``flush_interval`` for more and writes what gathered in one call. So a slow terminal or
disk never stalls a request, an idle gateway does no work for its log, and a busy one
pays no event-loop-to-thread hand-off per write. Past ``max_pending`` lines (the
destination is stuck) new lines are dropped and counted.

A line never holds a key (principals appear by id) nor a body, unless
``include_bodies`` is switched on for debugging: then the request body as sent
upstream is added.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections import deque
from typing import IO, TYPE_CHECKING, Any

import orjson

from bastion.observability.facts import KEY_FIELDS, RequestFacts, attempts_json
from bastion.observability.settings import AccessLogConfig

if TYPE_CHECKING:
    from bastion.pipeline import RequestContext

log = logging.getLogger("bastion.access")


_LEVELS = ("info", "warning", "error")
_TEMPLATE_LIMIT = 10_000
# The time field's milliseconds and zone, by millisecond.
_ENDPOINT = len(b'{"endpoint":')  # where the endpoint's value starts in the constants' JSON
_MILLIS = tuple(f"{ms:03d}Z" for ms in range(1000))


class AccessLog:
    """The lines are encoded by one ``orjson.dumps`` each, of a dict of the values that
    change from request to request; what repeats between requests (level and logger, the
    model, deployment, status, principal ids, ...) sits in it as two
    :class:`orjson.Fragment` made once per combination (bounded) and copied verbatim.
    The result is the bytes ``orjson.dumps`` of the line's whole dict would give, at a
    fraction of the cost (one call: no splicing of separately encoded parts)."""

    def __init__(self, settings: AccessLogConfig) -> None:
        self.settings = settings
        # Appended by the event loop, taken from the left by the writer (deque: both are
        # atomic, no lock on the request path).
        self._pending: deque[bytes] = deque()
        self._second = -1  # the time field's seconds part, formatted once per second
        self._prefix = ""
        self._bodies = settings.include_bodies
        self._max = settings.max_pending
        self._templates: dict[tuple[Any, ...], tuple[orjson.Fragment, orjson.Fragment]] = {}
        self.dropped = 0
        self.errors = 0
        self._thread: threading.Thread | None = None
        self._stream: IO[bytes] | None = None
        self._write_lock = threading.Lock()  # one taker at a time: the writer or flush()
        self._wake = threading.Event()  # set by the first line the writer has not seen
        self._stopping = threading.Event()

    def __call__(self, f: RequestFacts, ctx: RequestContext) -> None:
        if len(self._pending) >= self._max:
            self.dropped += 1
            return
        key = f.key
        template = self._templates.get(key)
        if template is None:
            template = _template(key)
            if len(self._templates) < _TEMPLATE_LIMIT:
                self._templates[key] = template
        at = f.at
        second = int(at)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))
        duration, upstream, ttft, cost = f.duration_ns, f.upstream_ns, f.ttft_ns, f.cost_nusd
        attempts = f.attempts
        tried: list[dict[str, Any]] | None
        if not attempts:
            tried = None
        elif len(attempts) == 1:  # the usual case: ``attempts_json``, without its calls
            a = attempts[0]
            tried = [
                {
                    "deployment": a.deployment.label,
                    "status": a.status,
                    "error": a.error,
                    "latency_ms": a.latency_ms,
                }
            ]
        else:
            tried = attempts_json(attempts)
        line: dict[str, Any] = {
            "time": self._prefix + _MILLIS[int((at - second) * 1000)],
            "level": template[0],  # with the logger
            "request_id": f.request_id,
            "at": at,
            "endpoint": template[1],  # with the fields after it up to app_id
            "prompt_tokens": f.prompt_tokens,
            "completion_tokens": f.completion_tokens,
            "cached_tokens": f.cached_tokens,
            "cost_usd": None if cost is None else cost / 1e9,
            "latency_ms": duration / 1e6,
            "upstream_ms": upstream / 1e6,
            "gateway_ms": (duration - upstream) / 1e6 if duration > upstream else 0.0,
            "ttft_ms": None if ttft is None else ttft / 1e6,
            "attempts": tried,
            "verdicts": f.verdicts,
        }
        if self._bodies:
            line["request_body"] = ctx.body
        pending = self._pending
        pending.append(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))
        if len(pending) == 1:  # the first since the writer took the lines: wake it
            self._wake.set()

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
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(
                target=self._writer, name="bastion-access-log", daemon=True
            )
            self._thread.start()

    async def stop(self) -> None:
        if self._thread is not None:
            self._stopping.set()
            self._wake.set()
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        await self.flush()
        if self._stream is not None and self.settings.destination not in ("stdout", "stderr"):
            self._stream.close()
        self._stream = None

    async def flush(self) -> None:
        """Write what is queued now (off the event loop)."""
        if self._pending and self._stream is not None:
            await asyncio.to_thread(self._write_pending)

    def _writer(self) -> None:
        """The writer thread: sleeps until a line comes, gathers for ``flush_interval``,
        writes; lines that came during the write wake it again at once."""
        while True:
            self._wake.wait()
            if self._stopping.wait(self.settings.flush_interval):
                return  # stop() writes what is left
            self._wake.clear()
            try:
                self._write_pending()
            except Exception:  # keep writing later lines whatever happened to these
                log.exception("the access-log writer failed")
            if self._pending:
                self._wake.set()

    def _write_pending(self) -> None:
        with self._write_lock:
            pending, stream = self._pending, self._stream
            count = len(pending)  # only this taker removes lines, so count are there
            if not count or stream is None:
                return
            data = b"".join([pending.popleft() for _ in range(count)])
            try:
                _write(stream, data)
            except OSError as exc:
                self.errors += 1
                log.error("could not write the access log (%s)", exc.strerror or exc)


def _template(key: tuple[Any, ...]) -> tuple[orjson.Fragment, orjson.Fragment]:
    """A line's constant parts, as JSON copied into it verbatim: the level's value with
    the logger after it, and the endpoint's value with the constant fields after it.

    Each is the value of one key of the line's dict (``level``, ``endpoint``) followed by
    whole ``,"name":value`` pairs: orjson writes a fragment's bytes as they are, so one
    fragment stands for several fields."""
    constant = orjson.dumps(dict(zip(KEY_FIELDS, key, strict=True)))
    status = key[6]
    level = _LEVELS[0 if status < 400 else 1 if status < 500 else 2]
    return (
        orjson.Fragment(b'"%s","logger":"bastion.access"' % level.encode()),
        orjson.Fragment(constant[_ENDPOINT:-1]),  # orjson keeps the dict's order
    )


def _write(stream: IO[bytes], data: bytes) -> None:
    stream.write(data)
    stream.flush()
