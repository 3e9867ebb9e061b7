"""The revision every process polls: on SQLite, read on a plain connection of its own."""

from __future__ import annotations

from pathlib import Path

from bastion.store.database import Database, async_url
from bastion.store.governance_store import GovernanceStore


async def test_the_polled_revision_follows_another_process_writes(tmp_path: Path) -> None:
    url = async_url(f"sqlite:///{tmp_path / 'bastion.db'}")
    here, there = Database(url), Database(url)  # two processes on one file
    await here.upgrade()
    store, other = GovernanceStore(here), GovernanceStore(there)
    try:
        start = await store.revision()
        assert store._reader is not None  # read on the plain connection
        await other.update("org", "no-such-org", {"name": "x"})  # a change bumps the revision
        assert await store.revision() == start + 1
        # A reader that fails: the engine answers this time, a new reader the next.
        store._reader.close()
        await other.update("org", "no-such-org", {"name": "y"})
        assert await store.revision() == start + 2
        assert store._reader is None
        assert await store.revision() == start + 2
        assert store._reader is not None
    finally:
        store.close()
        other.close()
        await here.close()
        await there.close()
