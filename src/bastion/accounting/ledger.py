"""The spend ledger writer: records queue in memory and reach the database in batches.

The request path only appends to a list. A background task writes what has
gathered every ``interval`` seconds (or sooner when a batch fills), so the
database sees one insert per batch, never one per request. A failed write is
retried on the next tick; past ``max_pending`` records the oldest are dropped
with an error in the log rather than letting memory grow without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

log = logging.getLogger("bastion.accounting")

Row = dict[str, Any]
Sink = Callable[[Sequence[Row]], Awaitable[None]]


class SpendLedger:
    def __init__(
        self,
        sink: Sink,
        interval: float = 0.5,
        batch: int = 1000,
        max_pending: int = 200_000,
    ) -> None:
        self._sink = sink
        self._interval = interval
        self._batch = batch
        self._max_pending = max_pending
        self._pending: list[Row] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def record(self, row: Row) -> None:
        self._pending.append(row)
        if len(self._pending) >= self._batch:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="bastion-spend-ledger")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            while self._pending:
                rows = self._pending[: self._batch]
                try:
                    await self._sink(rows)
                except Exception as exc:
                    log.error(
                        "could not write %d spend records (%s); retrying",
                        len(rows),
                        type(exc).__name__,
                    )
                    self._trim()
                    return
                del self._pending[: len(rows)]

    def _trim(self) -> None:
        excess = len(self._pending) - self._max_pending
        if excess > 0:
            log.error("dropping %d spend records: the database has been unreachable", excess)
            del self._pending[:excess]

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            await self.flush()
