"""Change notifications between processes: Redis pub/sub, or nothing.

A process that changes governance data publishes the new revision; every
process subscribed reloads its cache at once. Without Redis (one process, or
several workers on one SQLite file) each process polls the store's revision
instead; with Redis that polling stays on as a safety net for lost messages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

import redis.asyncio as aioredis

log = logging.getLogger("bastion.store")

Listener = Callable[[], Awaitable[None]]


class Bus(Protocol):
    async def publish(self) -> None: ...

    async def listen(self, on_change: Listener) -> None:
        """Call ``on_change`` for every notification, until cancelled."""
        ...


class NullBus:
    async def publish(self) -> None:
        return None

    async def listen(self, on_change: Listener) -> None:
        await asyncio.Event().wait()  # nothing ever arrives; cancelled at shutdown


class RedisBus:
    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._redis = client
        self.channel = f"{prefix}:governance:changed"

    async def publish(self) -> None:
        await self._redis.publish(self.channel, b"1")

    async def listen(self, on_change: Listener) -> None:
        while True:
            try:
                pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                await pubsub.subscribe(self.channel)
                try:
                    async for message in pubsub.listen():
                        if message is not None and message.get("type") == "message":
                            await on_change()
                finally:
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: polling covers the gap; retry shortly
                log.warning(
                    "governance change channel lost (%s); resubscribing", type(exc).__name__
                )
                await asyncio.sleep(1.0)
