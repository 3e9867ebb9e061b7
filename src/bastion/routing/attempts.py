"""One upstream attempt: run it, record it, and tell the deployment's health what happened.

``run_attempt`` is the only code between the router and the pipeline's call of one
deployment. It keeps the in-flight count, the latency averages and the breaker up to
date, appends an :class:`Attempt` to ``ctx.attempts`` (the ledger's record of every
try), enforces the request's deadline, and for a stream waits for the first byte, so
that a stream failing before it can still fail over. A stream that got its first byte
is returned wrapped in a :class:`TrackedStream`, which settles the rest when it closes.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from bastion.errors import GatewayError
from bastion.providers.base import Deployment
from bastion.routing.health import NORMAL, DeploymentHealth
from bastion.routing.retry import BROKEN, RATE, RETRY, classify, retry_after

if TYPE_CHECKING:
    from bastion.pipeline import RequestContext

T = TypeVar("T")
Call = Callable[["RequestContext", Deployment], Awaitable[T]]


@dataclass(slots=True)  # not frozen: one is built per request, and frozen inits are slow
class Attempt:
    """One try of one deployment: what the ledger records for each."""

    deployment: Deployment
    status: int  # 200, the error's status, 499 when the client left
    error: str | None  # the error's code (e.g. "upstream_timeout")
    latency_ms: float  # until the answer (a stream: its first byte) or the failure


def deadline_error(model: str) -> GatewayError:
    return GatewayError(
        504,
        f"No answer from model '{model}' within the request's deadline.",
        code="deadline_exceeded",
    )


def exhausted_error(model: str, regions: str, error: GatewayError) -> GatewayError:
    """The last upstream error; under residency, a 503 that says what was allowed."""
    if not regions or classify(error) not in (RETRY, RATE):
        return error
    return GatewayError(
        503,
        f"No deployment of model '{model}' in the allowed regions ({regions}) could "
        f"answer; the last one said: {error.message}",
        code="no_healthy_deployment",
        headers=error.headers,
    )


def unavailable_error(model: str, regions: str, retry_in: float, cooling: bool) -> GatewayError:
    """Every candidate was skipped: circuits open (503), or only 429 cool-downs (429)."""
    wait = max(1, math.ceil(retry_in))
    where = f" in the allowed regions ({regions})" if regions else ""
    if cooling:  # the providers said 429: so do we, with their Retry-After
        return GatewayError(
            429,
            f"Every deployment of model '{model}'{where} is rate limited by its provider. "
            f"Retry after {wait} s.",
            code="rate_limit_exceeded",
            error_type="rate_limit_error",
            headers={"Retry-After": str(wait)},
        )
    return GatewayError(
        503,
        f"No healthy deployment of model '{model}'{where} is available right now: every "
        f"one is cooling down or its circuit is open. Retry after {wait} s.",
        code="no_healthy_deployment",
        headers={"Retry-After": str(wait)},
    )


def quota_error(model: str) -> GatewayError:
    """usage_based: every deployment is at its provider quota for this minute."""
    wait = str(max(1, math.ceil(60 - time.monotonic() % 60)))
    return GatewayError(
        429,
        f"Every deployment of model '{model}' is at its provider quota (requests or tokens "
        f"per minute). Retry after {wait} s.",
        code="provider_quota_reached",
        error_type="rate_limit_error",
        headers={"Retry-After": wait},
    )


def _record(ctx: RequestContext, attempt: Attempt) -> None:
    if ctx.attempts is None:
        ctx.attempts = [attempt]
    else:
        ctx.attempts.append(attempt)


def note_failure(h: DeploymentHealth, ticket: int, error: GatewayError, now: float) -> None:
    """What a failed attempt tells the breaker."""
    kind = classify(error)
    if kind in (RETRY, BROKEN):
        h.failed(ticket, now, error.code)
    elif kind == RATE:
        h.rate_limited(ticket, now, retry_after(error.headers))
    else:  # it answered, about the request itself
        h.answered(ticket, now)


async def _first_piece(stream: AsyncIterator[bytes]) -> bytes | None:
    try:
        return await stream.__anext__()
    except StopAsyncIteration:
        return None
    except BaseException:
        await stream.aclose()  # type: ignore[attr-defined]
        raise


async def run_attempt(
    ctx: RequestContext,
    call: Call[Any],
    d: Deployment,
    h: DeploymentHealth,
    ticket: int,
    stream: bool,
    deadline: float | None,
) -> Any:
    """Attempt ``d``; returns the call's result (a stream: a :class:`TrackedStream`)."""
    h.begin()
    ctx.deployment = d
    started = time.monotonic()
    first: bytes | None = None
    try:
        if deadline is None:
            result = await call(ctx, d)
            if stream:
                first = await _first_piece(result)
        else:
            async with asyncio.timeout_at(deadline):
                result = await call(ctx, d)
                if stream:
                    first = await _first_piece(result)
    except GatewayError as error:
        h.end()
        now = time.monotonic()
        note_failure(h, ticket, error, now)
        _record(ctx, Attempt(d, error.status, error.code, (now - started) * 1000))
        raise
    except TimeoutError:  # the deadline (the transport reports its own timeouts as GatewayError)
        h.end()
        h.released(ticket)
        _record(ctx, Attempt(d, 504, "deadline_exceeded", (time.monotonic() - started) * 1000))
        raise deadline_error(ctx.model) from None
    except BaseException as exc:  # the client left (or a bug): no verdict on the deployment
        h.end()
        h.released(ticket)
        status = 499 if isinstance(exc, asyncio.CancelledError) else 500
        _record(ctx, Attempt(d, status, type(exc).__name__, (time.monotonic() - started) * 1000))
        raise
    now = time.monotonic()
    elapsed = (now - started) * 1000
    attempt = Attempt(d, 200, None, elapsed)
    if ctx.attempts is None:
        ctx.attempts = [attempt]
    else:
        ctx.attempts.append(attempt)
    if stream:
        h.succeeded(ticket, now, elapsed, None)
        return TrackedStream(first, result, h, started, ctx)
    h.end()
    h.succeeded(ticket, now, None, elapsed)
    if h.tpm is not None and ctx.usage is not None:
        h.add_tokens(_tokens(ctx.usage))
    return result


def _tokens(usage: dict[str, Any]) -> int:
    total = usage.get("total_tokens")
    if isinstance(total, int):
        return total
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return (prompt if isinstance(prompt, int) else 0) + (
        completion if isinstance(completion, int) else 0
    )


async def _ready(piece: bytes) -> bytes:
    return piece


class TrackedStream:
    """A stream whose first piece has arrived: hands it out first, then the rest untouched.

    ``__anext__`` returns the inner iterator's awaitable itself, so the pieces pay no
    extra frame. ``aclose`` (the proxy always calls it) settles the deployment's health:
    in-flight count, total latency, a mid-stream failure, tokens against its quota.
    """

    __slots__ = ("_ctx", "_first", "_health", "_inner", "_open", "_started")

    def __init__(
        self,
        first: bytes | None,
        inner: AsyncIterator[bytes],
        health: DeploymentHealth,
        started: float,
        ctx: RequestContext,
    ) -> None:
        self._first = first
        self._inner = inner
        self._health = health
        self._started = started
        self._ctx = ctx
        self._open = True

    def __aiter__(self) -> TrackedStream:
        return self

    def __anext__(self) -> Awaitable[bytes]:
        first = self._first
        if first is not None:
            self._first = None
            return _ready(first)
        return self._inner.__anext__()

    async def aclose(self) -> None:
        if self._open:
            self._open = False
            h, ctx = self._health, self._ctx
            h.end()
            now = time.monotonic()
            if ctx.error is not None:  # cut or failed after the first byte
                note_failure(h, NORMAL, ctx.error, now)
            elif not ctx.client_gone:
                h.sample(now, None, (now - self._started) * 1000)
            if h.tpm is not None and ctx.usage is not None:
                h.add_tokens(_tokens(ctx.usage))
        await self._inner.aclose()  # type: ignore[attr-defined]
