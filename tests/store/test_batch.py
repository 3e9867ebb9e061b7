"""The batch writer: a flush writes what was queued when it began, in batches."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from bastion.store.batch import BatchWriter


async def test_what_comes_during_a_write_waits_for_the_next_flush() -> None:
    """A slow write is not followed at once by a small batch of what came meanwhile."""
    written: list[list[int]] = []
    writer: BatchWriter[int] | None = None

    async def sink(items: Sequence[int], again: bool) -> None:
        assert writer is not None and not again
        writer.add(100 + len(written))  # a request finishing while the batch is written
        await asyncio.sleep(0)
        written.append(list(items))

    writer = BatchWriter(sink, "test", batch=2)
    for i in range(5):
        writer.add(i)
    assert await writer.flush()
    assert written == [[0, 1], [2, 3], [4]]  # everything queued when it began, by twos
    assert writer.pending == 3 and writer.written == 5
    assert await writer.flush()
    assert written[3:] == [[100, 101], [102]]
    assert writer.pending == 2  # ... and what came during that flush, for the next


async def test_a_failed_batch_stays_queued_as_prepared_and_is_retried_once_again() -> None:
    calls: list[tuple[list[str], bool]] = []

    async def sink(items: Sequence[str], again: bool) -> None:
        calls.append((list(items), again))
        if len(calls) == 1:
            raise ConnectionError("the database went away")

    def prepare(items: Sequence[str]) -> list[str]:  # a row stays a row
        return [i if i.startswith("row") else f"row {i}" for i in items]

    writer: BatchWriter[str] = BatchWriter(sink, "test", prepare=prepare)
    writer.add("a")
    writer.add("b")
    assert not await writer.flush()
    assert writer.pending == 2 and writer.failures == 1
    assert await writer.flush()
    assert calls == [(["row a", "row b"], False), (["row a", "row b"], True)]
    assert writer.pending == 0 and writer.failures == 0
