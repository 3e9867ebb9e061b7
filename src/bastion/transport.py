"""The one place that does upstream I/O: a pooled aiohttp session per process.

Adapters build :class:`UpstreamRequest` objects; the transport sends them and
turns network failures into gateway errors (504 on timeouts, 502 on connection
failures, both retryable). Error messages name the deployment, never the URL,
since some providers carry credentials in the query string.

``bastion://`` URLs are served in process (the built-in test model), through
the same interface, so they take the same path as real traffic.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from bastion import __version__
from bastion.errors import GatewayError
from bastion.providers.base import Timeouts, UpstreamRequest
from bastion.providers.echo import EchoUpstream

_USER_AGENT = f"bastion/{__version__}"


@dataclass(slots=True)
class UpstreamResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes


class TransportHook(Protocol):
    """Sees every upstream attempt: may add headers before it is sent (e.g. a W3C
    ``traceparent``), and hears how it ended. Kept general: nothing provider-specific."""

    def before(self, req: UpstreamRequest, label: str) -> tuple[UpstreamRequest, Any]:
        """The request to send (with any added headers) and a token for ``after``."""
        ...

    def after(self, token: Any, status: int, error: BaseException | None) -> None: ...


class UpstreamStream:
    """An open streamed response. Iterate for body pieces; always ``await close()``."""

    __slots__ = ("_chunks", "_response", "headers", "status")

    def __init__(
        self,
        status: int,
        headers: Mapping[str, str],
        chunks: AsyncIterator[bytes],
        response: aiohttp.ClientResponse | None = None,
    ) -> None:
        self.status = status
        self.headers = headers
        self._chunks = chunks
        self._response = response

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks

    async def read_all(self) -> bytes:
        return b"".join([piece async for piece in self._chunks])

    async def close(self) -> None:
        if self._response is not None:
            # Closing (not releasing) drops the connection, which is what tells the
            # upstream to stop generating when the client went away mid-stream.
            self._response.close()
        else:
            await self._chunks.aclose()  # type: ignore[attr-defined]


def _timeout_error(label: str, exc: BaseException) -> GatewayError:
    phase = "connecting to" if isinstance(exc, aiohttp.ConnectionTimeoutError) else "waiting for"
    return GatewayError(
        504, f"Timed out {phase} the upstream ({label}).", code="upstream_timeout", retryable=True
    )


def _connection_error(label: str, exc: BaseException) -> GatewayError:
    reason = type(exc).__name__
    return GatewayError(
        502,
        f"Could not reach the upstream ({label}): {reason}.",
        code="upstream_connection_error",
        retryable=True,
    )


class Transport:
    """Sends upstream requests over one pooled, keep-alive aiohttp session."""

    def __init__(self, *, pool_size: int = 1000) -> None:
        self._pool_size = pool_size
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[Timeouts, aiohttp.ClientTimeout] = {}
        self._echo = EchoUpstream()
        self.hook: TransportHook | None = None  # None: nothing to call (tracing off)

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self._pool_size, limit_per_host=0, ttl_dns_cache=300, keepalive_timeout=60
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers={"user-agent": _USER_AGENT},
            json_serialize=None,  # type: ignore[arg-type]  # bodies are pre-serialised bytes
            skip_auto_headers=("content-type",),
        )

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client_timeout(self, timeouts: Timeouts) -> aiohttp.ClientTimeout:
        found = self._timeouts.get(timeouts)
        if found is None:
            found = aiohttp.ClientTimeout(
                total=timeouts.total, sock_connect=timeouts.connect, sock_read=timeouts.first_byte
            )
            self._timeouts[timeouts] = found
        return found

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("Transport.start() was not called")
        return self._session

    async def send(self, req: UpstreamRequest, timeouts: Timeouts, label: str) -> UpstreamResponse:
        """Send a request and read the whole response."""
        hook = self.hook
        if hook is None:
            return await self._send(req, timeouts, label)
        req, token = hook.before(req, label)
        try:
            resp = await self._send(req, timeouts, label)
        except BaseException as exc:
            hook.after(token, 0, exc)
            raise
        hook.after(token, resp.status, None)
        return resp

    async def _send(self, req: UpstreamRequest, timeouts: Timeouts, label: str) -> UpstreamResponse:
        if req.url.startswith("bastion://"):
            status, body = await self._echo.respond(req.url, req.body or b"{}")
            return UpstreamResponse(status, {"content-type": "application/json"}, body)
        try:
            async with self.session.request(
                req.method,
                req.url,
                headers=req.headers,
                data=req.body,
                timeout=self._client_timeout(timeouts),
            ) as resp:
                body = await resp.read()
                return UpstreamResponse(resp.status, resp.headers, body)
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise _timeout_error(label, exc) from None
        except aiohttp.ClientError as exc:
            raise _connection_error(label, exc) from None

    async def open_stream(
        self, req: UpstreamRequest, timeouts: Timeouts, label: str
    ) -> UpstreamStream:
        """Send a request and return as soon as the response headers arrive."""
        hook = self.hook
        if hook is None:
            return await self._open_stream(req, timeouts, label)
        req, token = hook.before(req, label)
        try:
            stream = await self._open_stream(req, timeouts, label)
        except BaseException as exc:
            hook.after(token, 0, exc)
            raise
        hook.after(token, stream.status, None)  # the attempt's span ends at the headers
        return stream

    async def _open_stream(
        self, req: UpstreamRequest, timeouts: Timeouts, label: str
    ) -> UpstreamStream:
        if req.url.startswith("bastion://"):
            return UpstreamStream(
                200, {"content-type": "text/event-stream"}, self._echo.stream(req.body or b"{}")
            )
        try:
            resp = await self.session.request(
                req.method,
                req.url,
                headers=req.headers,
                data=req.body,
                timeout=self._client_timeout(timeouts),
            )
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise _timeout_error(label, exc) from None
        except aiohttp.ClientError as exc:
            raise _connection_error(label, exc) from None
        return UpstreamStream(resp.status, resp.headers, _iter_body(resp, label), resp)


async def _iter_body(resp: aiohttp.ClientResponse, label: str) -> AsyncIterator[bytes]:
    try:
        async for piece in resp.content.iter_any():
            yield piece
    except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
        raise _timeout_error(label, exc) from None
    except aiohttp.ClientError as exc:
        raise _connection_error(label, exc) from None
    finally:
        resp.release()


__all__ = ["Transport", "TransportHook", "UpstreamResponse", "UpstreamStream"]
