"""Helpers for accounting and audit tests: a gateway driven in-process, and its database.

``InProcess`` calls the gateway's ASGI app directly (no sockets), so thousands of
requests take seconds; the upstream is the built-in bastion/echo or a fake on
loopback. Rows are read back with a plain engine on the same database.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from bastion.app import Gateway, create_app
from bastion.governance.auth import key_digest
from bastion.observability import audit_jobs
from bastion.observability.audit_chain import Hasher
from bastion.store.audit_store import AuditStore
from bastion.store.database import Database, async_url
from tests.conftest import CLIENT_KEY, MASTER_KEY, gateway_config


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return orjson.loads(self.body)


class InProcess:
    """A started gateway and a client that calls its ASGI app directly."""

    def __init__(self, gateway: Gateway, database: str) -> None:
        self.gateway = gateway
        self.database = database

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        key: str = CLIENT_KEY,
        headers: Sequence[tuple[str, str]] = (),
    ) -> Reply:
        raw = orjson.dumps(body) if body is not None else b""
        scope = {
            "type": "http",
            "method": method,
            "path": path.partition("?")[0],
            "query_string": path.partition("?")[2].encode(),
            "headers": [
                (b"authorization", f"Bearer {key}".encode()),
                (b"content-type", b"application/json"),
                (b"host", b"test"),
                *((k.lower().encode(), v.encode()) for k, v in headers),
            ],
            "http_version": "1.1",
            "scheme": "http",
            "server": ("test", 80),
            "client": ("127.0.0.1", 1234),
            "root_path": "",
        }
        done = asyncio.Event()
        sent = False
        status = 0
        response_headers: dict[str, str] = {}
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": raw, "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                response_headers.update(
                    (k.decode(), v.decode()) for k, v in message.get("headers", [])
                )
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        try:
            await self.gateway(scope, receive, send)
        finally:
            done.set()
        return Reply(status, response_headers, b"".join(chunks))

    async def chat(
        self,
        text: str = "hello there",
        model: str = "bastion/echo",
        stream: bool = False,
        key: str = CLIENT_KEY,
        headers: Sequence[tuple[str, str]] = (),
        **extra: Any,
    ) -> Reply:
        body = {"model": model, "messages": [{"role": "user", "content": text}], **extra}
        if stream:
            body["stream"] = True
        return await self.call("POST", "/v1/chat/completions", body, key, headers)

    async def admin(self, method: str, path: str, body: Any = None) -> Any:
        reply = await self.call(method, path, body, key=MASTER_KEY)
        assert reply.status in (200, 201), (reply.status, reply.body)
        return reply.json() if reply.body else None

    async def flush(self) -> None:
        """Everything finished so far is in the database."""
        await self.gateway.governance.drain()
        if self.gateway.audit is not None:
            assert await self.gateway.audit.flush()

    async def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        engine = create_async_engine(async_url(self.database))
        try:
            async with engine.connect() as conn:
                result = await conn.execute(sa.text(sql), params)
                return [dict(r) for r in result.mappings()]
        finally:
            await engine.dispose()

    async def execute(self, sql: str, **params: Any) -> None:
        engine = create_async_engine(async_url(self.database))
        try:
            async with engine.begin() as conn:
                await conn.execute(sa.text(sql), params)
        finally:
            await engine.dispose()


async def verify_audit(database: str, key: bytes | None = None) -> dict[str, Any]:
    """``bastion audit verify`` on ``database``, as the admin API reports it."""
    db = Database(async_url(database))
    try:
        return audit_jobs.verification_report(await audit_jobs.verify(AuditStore(db), Hasher(key)))
    finally:
        await db.close()


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'bastion.db'}"


@asynccontextmanager
async def in_process(
    database: str, tmp_path: Path, recorder: str | None = None, **sections: Any
) -> AsyncIterator[InProcess]:
    """A gateway on ``database`` serving bastion/echo (and whatever ``sections`` add);
    ``recorder``: ``accounting.recorder`` (None: the default)."""
    if recorder is not None:
        sections["accounting"] = {**sections.get("accounting", {}), "recorder": recorder}
    config = gateway_config(
        database_url=database,
        test_model="on",
        server={"data_dir": str(tmp_path / "data")},
        **sections,
    )
    gateway = create_app(config, key_digest(MASTER_KEY))
    await gateway.startup()
    try:
        yield InProcess(gateway, database)
    finally:
        await gateway.shutdown()
