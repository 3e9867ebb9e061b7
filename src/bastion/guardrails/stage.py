"""The guardrails in the pipeline: the input stage, and the output filter it installs.

``GuardInput`` (a stage, after the limits) resolves the request's policies,
scans every text of the canonical request (blocking with 400/403 and the
reason code ``guardrail_blocked``, or rewriting in place), and, when the
answer needs looking at (an output policy, or pseudonyms to restore), adds an
:class:`OutputGuard` to ``ctx.output_filters``. The pipeline runs it on the
finished answer, or wraps the stream with it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import orjson

from bastion.errors import GatewayError
from bastion.guardrails.policy import PolicyResolver
from bastion.guardrails.request import walk_answer, walk_request
from bastion.guardrails.session import GuardSession
from bastion.guardrails.sse import ChunkRewriter, rewrite_stream
from bastion.guardrails.stream import OutputChannel
from bastion.guardrails.webhook import ask_webhook

if TYPE_CHECKING:
    from bastion.pipeline import Completion, RequestContext

HEADER = b"x-bastion-guardrails"


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

    async def __call__(self, ctx: RequestContext) -> None:
        policy = self._resolver.resolve(ctx.model, ctx.principal)
        if policy is None:
            return
        session = GuardSession(policy)
        ctx.guardrails = session
        rules = policy.input
        if rules is not None:

            def rewrite(text: str, source: str, where: str) -> str:
                return session.apply(text, rules, "input", source, where)

            try:
                changed = walk_request(ctx.body, ctx.endpoint, rewrite)
            except GatewayError:
                if policy.header:
                    ctx.headers.append((HEADER, session.header()))
                raise
            if changed:
                if ctx.error is not None:
                    raise _unsupported()
                ctx.native = None  # the rewritten canonical body is what goes upstream
        if policy.webhooks:
            await _ask_webhooks(ctx, session)
        watch_output = ctx.endpoint == "chat" and (policy.output is not None or bool(session.vault))
        if watch_output:
            if ctx.native is not None:
                if ctx.error is not None:
                    raise _unsupported()
                ctx.native = None  # the answer must come back in the canonical format
            ctx.output_filters = (*ctx.output_filters, OutputGuard(session))
        if policy.header and (ctx.stream or not watch_output):
            ctx.headers.append((HEADER, session.header()))


async def _ask_webhooks(ctx: RequestContext, session: GuardSession) -> None:
    texts: list[dict[str, str]] = []

    def collect(text: str, source: str, where: str) -> str:
        texts.append({"where": where, "source": source, "text": text})
        return text

    walk_request(ctx.body, ctx.endpoint, collect)
    policy = session.policy
    for name, webhook in policy.webhooks:
        verdict = await ask_webhook(webhook, ctx.request_id, ctx.model, texts)
        session.record("input", "webhook", "record" if verdict.allowed else "block", name)
        if not verdict.allowed:
            if policy.header:
                ctx.headers.append((HEADER, session.header()))
            raise GatewayError(
                policy.block_status,
                f"Blocked by the guardrail policy '{name}': webhook found in the input "
                f"({verdict.reason}).",
                code="guardrail_blocked",
            )


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
