"""The live feed: the last requests, kept in memory and pushed to watchers as they finish.

The finisher appends the request's facts to a bounded ring (no serialisation on the
request path) and wakes the watchers; each watcher has a bounded queue, and a watcher
too slow to keep up loses events (counted) rather than holding memory. The hub's
``/ui/api/live`` turns a watcher into Server-Sent Events.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from bastion.observability.facts import RequestFacts

if TYPE_CHECKING:
    from bastion.pipeline import RequestContext

Visible = Callable[[RequestFacts], bool]
_WATCHER_QUEUE = 256


class Watcher:
    """One subscriber: its queue and what it may see."""

    __slots__ = ("dropped", "queue", "visible")

    def __init__(self, visible: Visible) -> None:
        self.visible = visible
        self.queue: asyncio.Queue[RequestFacts] = asyncio.Queue(_WATCHER_QUEUE)
        self.dropped = 0


class LiveFeed:
    def __init__(self, size: int, max_watchers: int) -> None:
        self.recent: deque[RequestFacts] = deque(maxlen=size)
        self._by_id: dict[str, RequestFacts] = {}
        self._watchers: set[Watcher] = set()
        self._max_watchers = max_watchers

    def __call__(self, f: RequestFacts, ctx: RequestContext) -> None:
        recent = self.recent
        if len(recent) == recent.maxlen:
            self._by_id.pop(recent[0].request_id, None)
        recent.append(f)
        self._by_id[f.request_id] = f
        for w in self._watchers:
            if w.visible(f):
                try:
                    w.queue.put_nowait(f)
                except asyncio.QueueFull:
                    w.dropped += 1

    def find(self, request_id: str) -> RequestFacts | None:
        return self._by_id.get(request_id)

    def watch(self, visible: Visible) -> Watcher | None:
        """A new watcher, or None when there are too many already."""
        if len(self._watchers) >= self._max_watchers:
            return None
        watcher = Watcher(visible)
        self._watchers.add(watcher)
        return watcher

    def leave(self, watcher: Watcher) -> None:
        self._watchers.discard(watcher)

    @property
    def watchers(self) -> int:
        return len(self._watchers)
