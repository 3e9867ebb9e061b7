"""A batch writer: records queue in memory and reach the database in batches.

The request path only appends to a list. A background task writes what has
gathered every ``interval`` seconds (sooner when a batch fills), one
transaction per batch. A batch that fails (the database restarting, a dropped
connection) stays queued and is tried again, with a growing pause, until it is
written: records are never dropped for a passing outage. Only past
``max_pending`` records, so that memory cannot grow without bound while the
database stays away, are the oldest dropped, counted and logged.

``stop`` writes everything still queued (trying for up to ``shutdown_timeout``
seconds), so a graceful shutdown loses nothing; a crash loses what gathered
since the last write, at most about one ``interval``.

``opened`` and ``closed`` bracket the writer's life (the recorder starts its
process at start-up and stops it once everything is written).

``prepare`` turns queued items into what the sink writes (a request's context
into a row), once: the prepared items replace the queued ones, so a batch that
fails is retried as it was prepared. The sink is told when a batch follows a
failed write (``again``): the error may have come after the database committed,
so it must skip what is already there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

log = logging.getLogger("bastion.store")

T = TypeVar("T")
Sink = Callable[[Sequence[T], bool], Awaitable[None]]
Prepare = Callable[[Sequence[T]], list[T]]

_MAX_PAUSE = 5.0  # seconds between attempts while the database is away


class BatchWriter(Generic[T]):
    def __init__(
        self,
        sink: Sink[T],
        name: str,
        prepare: Prepare[T] | None = None,
        interval: float = 1.0,
        batch: int = 2000,
        max_pending: int = 500_000,
        shutdown_timeout: float = 15.0,
        opened: Callable[[], None] | None = None,
        closed: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._sink = sink
        self._opened = opened
        self._closed = closed
        self._prepare = prepare
        self.name = name
        self.interval = interval
        self._batch = batch
        self.max_pending = max_pending
        self._shutdown_timeout = shutdown_timeout
        self._pending: list[T] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._stopping = False
        self._failures = 0  # consecutive failed writes
        self.written = 0
        self.dropped = 0

    def add(self, item: T) -> None:
        """Queue one record (the request path: a list append)."""
        self._pending.append(item)
        if len(self._pending) == self._batch:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def failures(self) -> int:
        """Consecutive failed writes (0: the database takes the records)."""
        return self._failures

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"bastion-{self.name}-writer")
            if self._opened is not None:
                self._opened()

    async def stop(self) -> None:
        """Stop the background task and write everything still queued."""
        if self._task is not None:
            # Asked, not cancelled: a write under way finishes (and is not lost).
            self._stopping = True
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self._shutdown_timeout)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        try:
            async with asyncio.timeout(self._shutdown_timeout):
                for attempt in range(1_000_000):  # until written, or the time is up
                    if await self.flush():
                        break
                    await asyncio.sleep(min(0.1 * 2**attempt, 2.0))
        except TimeoutError:
            log.error(
                "%s: %d record(s) could not be written before shutdown", self.name, self.pending
            )
        if self._closed is not None:
            await self._closed()

    async def flush(self) -> bool:
        """Write everything queued now; False when a write failed (the rest stays queued).

        What is queued while it writes waits for the next flush: a slow write would
        otherwise be followed at once by another, of what came meanwhile, and so on, a
        stream of small batches (each with its transaction) instead of one an interval.
        """
        async with self._lock:
            left = len(self._pending)
            while left > 0 and self._pending:
                items = self._pending[: min(self._batch, left)]
                try:
                    if self._prepare is not None:
                        items = self._prepare(items)
                        self._pending[: len(items)] = items
                    await self._sink(items, self._failures > 0)
                except Exception as exc:
                    self._failures += 1
                    if self._failures == 1 or self._failures % 20 == 0:
                        log.error(
                            "%s: could not write %d record(s) (%s: %s); %d queued, retrying",
                            self.name,
                            len(items),
                            type(exc).__name__,
                            str(exc)[:200],
                            len(self._pending),
                        )
                    self._trim()
                    return False
                if self._failures:
                    log.warning("%s: writing again after %d failure(s)", self.name, self._failures)
                    self._failures = 0
                del self._pending[: len(items)]
                self.written += len(items)
                left -= len(items)
            return True

    def _trim(self) -> None:
        excess = len(self._pending) - self.max_pending
        if excess > 0:
            self.dropped += excess
            log.error(
                "%s: dropping the %d oldest record(s): the database has been unreachable",
                self.name,
                excess,
            )
            del self._pending[:excess]

    async def _run(self) -> None:
        while not self._stopping:
            pause = self.interval
            if self._failures:
                pause = min(self.interval * 2 ** min(self._failures, 6), _MAX_PAUSE)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return  # stop() writes what is left
            try:
                await self.flush()
            except Exception:  # a bug in a sink must not end the writer
                log.exception("%s: unexpected error while writing", self.name)


async def through_only(items: Sequence[Any], again: bool) -> None:
    """The sink of a part that records only through a shared writer (``write_through``):
    its own writer holds its settings (interval, limits) and never writes."""
    if items:
        raise RuntimeError("this recorder writes through a shared writer (write_through)")


class Batched(Generic[T]):
    """The lifecycle of something that records through a :class:`BatchWriter` (the spend
    ledger, the audit trail): ``self._writer`` is set by the subclass, or shared
    (``write_through``) when several record in one writer and one transaction."""

    _writer: BatchWriter[T]

    @property
    def writer(self) -> BatchWriter[T]:
        return self._writer

    def write_through(self, writer: BatchWriter[Any]) -> None:
        """Use ``writer`` (shared, started and stopped by whoever comes first) from now on."""
        self._writer = writer

    @property
    def pending(self) -> int:
        return self._writer.pending

    @property
    def flush_errors(self) -> int:
        """Consecutive failed writes (0: the database takes the items)."""
        return self._writer.failures

    def start(self) -> None:
        self._writer.start()

    async def stop(self) -> None:
        await self._writer.stop()

    async def flush(self) -> bool:
        return await self._writer.flush()
