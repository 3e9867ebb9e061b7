"""The spend ledger: one row per authenticated request, written in batches off the request path.

    Meter (stage)       every request asks its upstream for usage (streams included)
    Recorder (finish)   queues (context, time); nothing else on the request path
                        (accounting/recorder.py, shared with the audit trail)
    SpendLedger         every ``flush_interval``: rows built from the queued contexts,
                        priced, and inserted in one transaction (store/ledger_store.py)

A row holds who (key, user, team, org, application), what (endpoint, requested
model, served deployment and provider, retries and fallbacks), the tokens by
kind (input, output, cache reads, cache writes, reasoning), the cost (NULL when
no price is known, never zero), what budgets were charged, latencies (total,
upstream, time to first token), status, error class, cache hit and the caller's
tags. A request whose upstream reported no usage is estimated and marked so.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from bastion.accounting.pricing import (
    PriceCatalog,
    UsageCount,
    estimate_prompt_tokens,
    read_usage,
    usage_cost,
)
from bastion.accounting.settings import AccountingConfig
from bastion.store.batch import Batched, BatchWriter, through_only
from bastion.store.database import Statement
from bastion.store.ledger_store import LedgerRow, LedgerStore, ledger_row

if TYPE_CHECKING:
    from bastion.pipeline import RequestContext

log = logging.getLogger("bastion.accounting")

Entry = tuple["RequestContext", float, int]  # the context, wall time and perf time at finish
_TAG_CHARS = 200


class Meter:
    """A stage: capture every request's usage (the gateway asks streams for it)."""

    async def __call__(self, ctx: RequestContext) -> None:
        ctx.want_usage = True


class SpendLedger(Batched[Entry | LedgerRow]):
    """Queues finished requests and writes them as ledger rows, in batches."""

    def __init__(self, store: LedgerStore, prices: PriceCatalog, config: AccountingConfig) -> None:
        self._store = store
        self._prices = prices
        self._tags_header = config.tags_header.encode()
        self._max_tags = config.max_tags
        # Queued: entries (3-tuples); once prepared: rows (tuples of LEDGER_COLUMNS).
        # Its settings; the Recorder (accounting/recorder.py) queues and writes.
        self._writer: BatchWriter[Entry | LedgerRow] = BatchWriter(
            through_only,
            "spend ledger",
            interval=config.flush_interval,
            max_pending=config.max_pending,
        )
        self.unpriced: dict[str, int] = {}  # deployment label -> requests without a price

    async def statements(self, rows: Sequence[LedgerRow], again: bool) -> list[Statement]:
        """What writes ``rows`` (with their tags and rollups), for a shared transaction."""
        return await self._store.statements(rows, again)

    def safe_row(
        self, ctx: RequestContext, at: float, finished_ns: int, usage: UsageCount | None
    ) -> LedgerRow:
        """The row of a request; a bare one (and the error logged) if it cannot be built."""
        try:
            return self.row(ctx, at, finished_ns, usage)
        except Exception:  # a row that cannot be built must not block the others
            log.exception("could not describe request %s fully", ctx.request_id)
            return _bare_row(ctx, at, finished_ns)

    # --- a context becomes a row ---------------------------------------------------------

    def row(
        self, ctx: RequestContext, at: float, finished_ns: int, usage: UsageCount | None = None
    ) -> LedgerRow:
        """``usage``: ``read_usage(ctx.usage)`` when the caller has it already."""
        principal = ctx.principal
        if principal is None:
            raise ValueError("the ledger records authenticated requests only")
        deployment = ctx.deployment
        error = ctx.error
        status = ctx.status or (error.status if error is not None else 0)
        error_class = (error.code or error.error_type) if error is not None else None
        if status == 499 and error_class is None:
            error_class = "client_disconnected"
        if usage is not None:
            estimated = False
        else:
            usage, estimated = self._usage(ctx)
        cost: int | None = 0
        source: str | None = None
        if deployment is not None and usage.total:
            price = self._prices.known(deployment)
            if price is None:
                cost = None
                self._unpriced(deployment.label)
            else:
                cost, source = usage_cost(price, usage, ctx.endpoint), price.source
        attempts = ctx.attempts
        first = ctx.first_byte_ns
        upstream = ctx.upstream_ns
        started = ctx.started_ns
        # A tuple in LEDGER_COLUMNS order (checked by the tests): no dict per row.
        return (
            ctx.request_id,
            at,
            principal.id,
            principal.org_id,
            principal.team_id,
            principal.user_id,
            principal.app,
            ctx.model[:200],
            ctx.endpoint,
            status,
            usage.prompt_tokens,
            usage.completion_tokens,
            cost,
            estimated,
            ctx.ingress,
            deployment.label[:200] if deployment is not None else None,
            deployment.provider.name[:64] if deployment is not None else None,
            usage.cached_tokens,
            usage.cache_write_tokens,
            usage.reasoning_tokens,
            ctx.charged_nusd,
            source,
            (finished_ns - started) // 1000 / 1000,
            upstream // 1000 / 1000 if upstream else None,
            (first - started) // 1000 / 1000 if first else None,
            error_class[:64] if error_class is not None else None,
            ctx.stream,
            bool(getattr(ctx, "cache_hit", False)),
            len(attempts) if attempts else (1 if upstream else 0),
            _fallbacks(attempts, ctx.model) if attempts else 0,
            self._tags(ctx) if ctx.request_headers or "metadata" in ctx.body else None,
        )

    def _usage(self, ctx: RequestContext) -> tuple[UsageCount, bool]:
        if ctx.usage is not None:
            return read_usage(ctx.usage), False
        side_call = ctx.native is not None and ctx.native.operation is not None  # count_tokens
        worked = ctx.upstream_ns > 0 and ctx.status in (200, 499)
        if ctx.deployment is None or side_call or not worked:
            return UsageCount(0, 0, 0), False  # refused, or failed before the upstream worked
        # The upstream answered (or was cut off) without a usage report: the prompt is
        # estimated (it errs high), the output from the answer's text or, for a stream,
        # its events (about a token each).
        try:
            prompt = estimate_prompt_tokens(ctx.endpoint, ctx.body)
        except Exception:
            prompt = 0
        return UsageCount(prompt, ctx.output_estimate, 0), True

    def _unpriced(self, label: str) -> None:
        count = self.unpriced.get(label, 0) + 1
        if count == 1 or count % 10_000 == 0:
            log.warning(
                "no price for %s: its cost is recorded as unknown (%d request(s) so far); "
                "set pricing.models or the model's price: in the config",
                label,
                count,
            )
        if count == 1 and len(self.unpriced) >= 10_000:
            return  # bounded: a flood of distinct unknown models is not kept
        self.unpriced[label] = count

    def _tags(self, ctx: RequestContext) -> str | None:
        tags: list[str] = []
        for name, value in ctx.request_headers:
            if name == self._tags_header:
                tags += _split(value.decode("latin-1"))
        metadata = ctx.body.get("metadata") if isinstance(ctx.body, dict) else None
        if isinstance(metadata, dict):
            tags += [
                f"{k}:{v}" for k, v in metadata.items() if isinstance(v, str | int | bool | float)
            ]
        if not tags:
            return None
        unique = list(dict.fromkeys(t[:_TAG_CHARS] for t in tags if t))[: self._max_tags]
        return orjson.dumps(unique).decode() if unique else None


def _bare_row(ctx: RequestContext, at: float, finished_ns: int) -> LedgerRow:
    """What is certain of a request whose full row could not be built (a bug): it happened."""
    principal = ctx.principal
    zero = ("prompt_tokens", "completion_tokens", "cached_tokens", "cache_write_tokens")
    return ledger_row(
        **dict.fromkeys((*zero, "reasoning_tokens", "attempts", "fallbacks"), 0),
        request_id=ctx.request_id,
        at=at,
        key_id=principal.id if principal is not None else None,
        model=str(ctx.model)[:200],
        endpoint=ctx.endpoint,
        status=ctx.status,
        estimated=True,
        stream=bool(ctx.stream),
        cache_hit=False,
        error="ledger_error",
    )


def _fallbacks(attempts: Sequence[Any], requested: str) -> int:
    """Deployments of other model groups tried (the router's fallbacks)."""
    if len(attempts) == 1:  # the common case
        return 0 if attempts[0].deployment.name == requested else 1
    return len({a.deployment.name for a in attempts} - {requested})


def _split(value: str) -> Iterable[str]:
    return (part.strip() for part in value.split(","))
