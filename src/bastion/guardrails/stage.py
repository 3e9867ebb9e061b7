"""The guardrails in the pipeline: the input stage, and the output filter it installs.

``GuardInput`` (a stage, after the limits) resolves the request's policies,
scans every text of the canonical request (with Presidio's findings, computed
off the event loop, when a policy has ``presidio:``), blocking with 400/403 and
the reason code ``guardrail_blocked`` or rewriting in place; then asks the
policies' webhooks and model judges, concurrently, about the rewritten texts;
and, when the
answer needs looking at (an output policy, or pseudonyms to restore), adds an
:class:`OutputGuard` to ``ctx.output_filters``. The pipeline runs it on the
finished answer, or wraps the stream with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import TYPE_CHECKING

import orjson

from bastion.errors import GatewayError
from bastion.guardrails.base import Finding
from bastion.guardrails.judge import Judge, JudgeVerdict
from bastion.guardrails.policy import ActivePolicy, PolicyResolver
from bastion.guardrails.presidio_adapter import analyze_off_loop
from bastion.guardrails.request import request_chars, walk_answer, walk_request
from bastion.guardrails.session import GuardSession
from bastion.guardrails.sse import ChunkRewriter, rewrite_stream
from bastion.guardrails.stream import OutputChannel
from bastion.guardrails.webhook import WebhookVerdict, ask_webhook

if TYPE_CHECKING:
    from bastion.pipeline import Completion, Pipeline, RequestContext

HEADER = b"x-bastion-guardrails"
# Inputs longer than this are scanned on a worker thread: the detectors cost about
# 0.5-3 ms per 4 KB, and a multi-megabyte prompt must not stall every other request on
# the event loop meanwhile (the GIL still lets the loop run between the thread's slices).
OFF_LOOP_CHARS = 64 * 1024


def _unsupported() -> GatewayError:
    return GatewayError(
        400,
        "This request uses features only an Anthropic model can serve untranslated, and the "
        "guardrail policy needs to read or rewrite it; send it without them.",
        code="guardrail_unsupported",
    )


class GuardInput:
    """The input guard stage."""

    def __init__(self, resolver: PolicyResolver) -> None:
        self._resolver = resolver
        self._judge = Judge()

    def bind(self, pipeline: Pipeline) -> None:
        """Give the model judges the gateway's routing (app.py, once the pipeline exists)."""
        models = self._resolver.judge_models()
        if models:
            self._judge.bind(pipeline, models)

    async def __call__(self, ctx: RequestContext) -> None:
        policy = self._resolver.resolve(ctx.model, ctx.principal)
        if policy is None:
            return
        session = GuardSession(policy)
        ctx.guardrails = session
        rules = policy.input
        if rules is not None:
            found = await _presidio(ctx, policy) if policy.presidio else None

            def rewrite(text: str, source: str, where: str) -> str:
                extra = found.get(where) if found else None
                return session.apply(text, rules, "input", source, where, extra)

            try:
                if request_chars(ctx.body, ctx.endpoint) > OFF_LOOP_CHARS:
                    # The request's coroutine waits meanwhile: nothing else touches its body.
                    changed = await asyncio.to_thread(walk_request, ctx.body, ctx.endpoint, rewrite)
                else:
                    changed = walk_request(ctx.body, ctx.endpoint, rewrite)
            except GatewayError:
                if policy.header:
                    ctx.headers.append((HEADER, session.header()))
                raise
            if changed:
                if ctx.error is not None:
                    raise _unsupported()
                ctx.native = None  # the rewritten canonical body is what goes upstream
        if policy.external:
            await self._ask_external(ctx, session)
        watch_output = ctx.endpoint == "chat" and (
            policy.output is not None or session.pseudonymised
        )
        if watch_output:
            if ctx.native is not None:
                if ctx.error is not None:
                    raise _unsupported()
                ctx.native = None  # the answer must come back in the canonical format
            ctx.output_filters = (*ctx.output_filters, OutputGuard(session))
        if policy.header and (ctx.stream or not watch_output):
            ctx.headers.append((HEADER, session.header()))

    async def _ask_external(self, ctx: RequestContext, session: GuardSession) -> None:
        """The webhooks and judges, all at once; the first to refuse (in policy order) wins."""
        texts: list[dict[str, str]] = []

        def collect(text: str, source: str, where: str) -> str:
            texts.append({"where": where, "source": source, "text": text})
            return text

        walk_request(ctx.body, ctx.endpoint, collect)
        policy = session.policy
        asks: list[tuple[str, str, Awaitable[WebhookVerdict | JudgeVerdict]]] = [
            *(
                ("webhook", name, ask_webhook(hook, ctx.request_id, ctx.model, texts))
                for name, hook in policy.webhooks
            ),
            *(("judge", name, self._judge.ask(judge, ctx, texts)) for name, judge in policy.judges),
        ]
        if len(asks) == 1:
            verdicts = [await asks[0][2]]
        else:
            verdicts = list(await asyncio.gather(*(ask for _, _, ask in asks)))
        for (kind, name, _), verdict in zip(asks, verdicts, strict=True):
            session.record("input", kind, "record" if verdict.allowed else "block", name)
        for (kind, name, _), verdict in zip(asks, verdicts, strict=True):
            if not verdict.allowed:
                if policy.header:
                    ctx.headers.append((HEADER, session.header()))
                raise GatewayError(
                    policy.block_status,
                    f"Blocked by the guardrail policy '{name}': {kind} found in the input "
                    f"({verdict.reason}).",
                    code="guardrail_blocked",
                )


async def _presidio(ctx: RequestContext, policy: ActivePolicy) -> dict[str, list[Finding]]:
    """Presidio's findings in each input text (by place), computed off the event loop."""
    places: list[str] = []
    texts: list[str] = []

    def collect(text: str, source: str, where: str) -> str:
        places.append(where)
        texts.append(text)
        return text

    walk_request(ctx.body, ctx.endpoint, collect)
    if not texts:
        return {}
    found = await analyze_off_loop(policy.presidio, texts)
    return {where: f for where, f in zip(places, found, strict=True) if f}


class OutputGuard:
    """Scans and rewrites the answer, and restores pseudonyms, for one request."""

    __slots__ = ("_session",)

    def __init__(self, session: GuardSession) -> None:
        self._session = session

    def completion(self, ctx: RequestContext, done: Completion) -> Completion:
        session = self._session
        rules = session.policy.output
        vault = session.vault

        def rewrite(text: str, source: str, where: str) -> str:
            if rules is not None:
                text = session.apply(text, rules, "output", source, where)
            return vault.restore(text)

        try:
            data = done.json()
            if walk_answer(data, rewrite):
                done = type(done)(orjson.dumps(data), data)
        finally:
            if session.policy.header:
                ctx.headers.append((HEADER, session.header()))
        return done

    def stream(self, ctx: RequestContext, pieces: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        session = self._session
        rules = session.policy.output
        return rewrite_stream(pieces, ChunkRewriter(lambda: OutputChannel(session, rules)))
