"""The spend ledger: one row per authenticated request, written in batches off the request path.

    Meter (stage)       every request asks its upstream for usage (streams included)
    Recorder (finish)   queues (context, time); nothing else on the request path
                        (accounting/recorder.py, shared with the audit trail)
    LedgerRows          every ``flush_interval``: a row from each finished request's
                        facts (accounting/finished.py), priced, and inserted in one
                        transaction (store/ledger_store.py), in the recorder process
                        or in the gateway (``accounting.recorder``)

A row holds who (key, user, team, org, application), what (endpoint, requested
model, served deployment and provider, retries and fallbacks), the tokens by
kind (input, output, cache reads, cache writes, reasoning), the cost (NULL when
no price is known, never zero), what budgets were charged, latencies (total,
upstream, time to first token), status, error class, cache hit and the caller's
tags. A request whose upstream reported no usage is estimated and marked so.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from bastion.accounting import finished as f
from bastion.accounting.finished import Finished, Served
from bastion.accounting.pricing import (
    Price,
    PriceCatalog,
    UsageCount,
    estimate_prompt_tokens,
    read_usage,
    usage_cost,
)
from bastion.accounting.settings import AccountingConfig
from bastion.store.batch import Batched, BatchWriter, through_only
from bastion.store.ledger_store import LedgerRow, LedgerStore, ledger_row

if TYPE_CHECKING:
    from bastion.pipeline import RequestContext

log = logging.getLogger("bastion.accounting")

_TAG_CHARS = 200


class Meter:
    """A stage: capture every request's usage (the gateway asks streams for it)."""

    async def __call__(self, ctx: RequestContext) -> None:
        ctx.want_usage = True


class SpendLedger(Batched[Any]):
    """The ledger's settings and counts in the gateway; the Recorder queues and writes."""

    def __init__(self, store: LedgerStore, prices: PriceCatalog, config: AccountingConfig) -> None:
        self.store = store
        self.prices = prices
        self.config = config
        self.tags_header = config.tags_header.encode()
        # Its settings; the Recorder (accounting/recorder.py) queues and writes.
        self._writer: BatchWriter[Any] = BatchWriter(
            through_only,
            "spend ledger",
            interval=config.flush_interval,
            max_pending=config.max_pending,
        )
        self.unpriced: dict[str, int] = {}  # deployment label -> requests without a price

    def count_unpriced(self, counts: Mapping[str, int]) -> None:
        """Requests written without a price, by deployment label (a warning for each new one)."""
        for label, n in counts.items():
            count = self.unpriced.get(label, 0) + n
            if count == n or count // 10_000 > (count - n) // 10_000:
                log.warning(
                    "no price for %s: its cost is recorded as unknown (%d request(s) so far); "
                    "set pricing.models or the model's price: in the config",
                    label,
                    count,
                )
            if count == n and len(self.unpriced) >= 10_000:
                continue  # bounded: a flood of distinct unknown models is not kept
            self.unpriced[label] = count


class LedgerRows:
    """Builds ledger rows from finished requests' facts (the one builder, either mode)."""

    def __init__(self, max_tags: int) -> None:
        self._max_tags = max_tags
        self._prices: dict[tuple[Any, ...], Price] = {}  # deployments' prices are few

    def _price(self, facts: Sequence[Any]) -> Price:
        key = tuple(facts)
        price = self._prices.get(key)
        if price is None:
            if len(self._prices) >= 4096:
                self._prices.clear()
            price = self._prices[key] = f.price_of(facts)
        return price

    def safe_row(self, facts: Finished, usage: UsageCount | None) -> LedgerRow:
        """The row of a request; a bare one (and the error logged) if it cannot be built."""
        try:
            return self.row(facts, usage)
        except Exception:  # a row that cannot be built must not block the others
            log.exception("could not describe request %s fully", facts[f.REQUEST_ID])
            return _bare_row(facts)

    def row(self, facts: Finished, usage: UsageCount | None = None) -> LedgerRow:
        """``usage``: ``read_usage(facts[USAGE])`` when the caller has it already."""
        who = facts[f.WHO]
        if who is None:
            raise ValueError("the ledger records authenticated requests only")
        served: Served | None = facts[f.SERVED]
        error = facts[f.ERROR]
        status = facts[f.STATUS]
        error_class = error[0] if error is not None else None
        if status == 499 and error_class is None:
            error_class = "client_disconnected"
        if usage is not None:
            estimated = False
        else:
            usage, estimated = _usage(facts)
        cost: int | None = 0
        source: str | None = None
        if served is not None and usage.total:
            price = self._price(served[3]) if served[3] is not None else None
            if price is None:
                cost = None
            else:
                cost, source = usage_cost(price, usage, facts[f.ENDPOINT]), price.source
        attempts = facts[f.ATTEMPTS]
        upstream = facts[f.UPSTREAM_NS]
        first = facts[f.FIRST_BYTE_US]
        body = facts[f.BODY]
        tags = facts[f.TAGS]
        # A tuple in LEDGER_COLUMNS order (checked by the tests): no dict per row.
        return (
            facts[f.REQUEST_ID],
            facts[f.AT],
            who[1],
            who[4],
            who[5],
            who[6],
            who[7],
            facts[f.MODEL][:200],
            facts[f.ENDPOINT],
            status,
            usage.prompt_tokens,
            usage.completion_tokens,
            cost,
            estimated,
            facts[f.INGRESS],
            served[0][:200] if served is not None else None,
            served[1][:64] if served is not None else None,
            usage.cached_tokens,
            usage.cache_write_tokens,
            usage.reasoning_tokens,
            facts[f.CHARGED],
            source,
            facts[f.TOTAL_US] / 1000,
            upstream // 1000 / 1000 if upstream else None,
            first / 1000 if first is not None else None,
            error_class[:64] if error_class is not None else None,
            facts[f.STREAM],
            facts[f.CACHE_HIT],
            len(attempts) if attempts else (1 if upstream else 0),
            _fallbacks(attempts, facts[f.MODEL]) if attempts else 0,
            self._tags(tags, body) if tags or (body and "metadata" in body) else None,
        )

    def _tags(self, header: Sequence[str] | None, body: Any) -> str | None:
        tags: list[str] = []
        for value in header or ():
            tags += _split(value)
        metadata = body.get("metadata") if isinstance(body, dict) else None
        if isinstance(metadata, dict):
            tags += [
                f"{k}:{v}" for k, v in metadata.items() if isinstance(v, str | int | bool | float)
            ]
        if not tags:
            return None
        unique = list(dict.fromkeys(t[:_TAG_CHARS] for t in tags if t))[: self._max_tags]
        return orjson.dumps(unique).decode() if unique else None


def _usage(facts: Finished) -> tuple[UsageCount, bool]:
    if facts[f.USAGE] is not None:
        return read_usage(facts[f.USAGE]), False
    worked = facts[f.UPSTREAM_NS] > 0 and facts[f.STATUS] in (200, 499)
    if facts[f.SERVED] is None or facts[f.SIDE_CALL] or not worked:
        return UsageCount(0, 0, 0), False  # refused, or failed before the upstream worked
    # The upstream answered (or was cut off) without a usage report: the prompt is
    # estimated (it errs high), the output from the answer's text or, for a stream,
    # its events (about a token each).
    try:
        prompt = estimate_prompt_tokens(facts[f.ENDPOINT], facts[f.BODY] or {})
    except Exception:
        prompt = 0
    return UsageCount(prompt, facts[f.OUTPUT_ESTIMATE], 0), True


def _bare_row(facts: Finished) -> LedgerRow:
    """What is certain of a request whose full row could not be built (a bug): it happened."""
    who = facts[f.WHO]
    zero = ("prompt_tokens", "completion_tokens", "cached_tokens", "cache_write_tokens")
    return ledger_row(
        **dict.fromkeys((*zero, "reasoning_tokens", "attempts", "fallbacks"), 0),
        request_id=facts[f.REQUEST_ID],
        at=facts[f.AT],
        key_id=who[1] if who is not None else None,
        model=str(facts[f.MODEL])[:200],
        endpoint=facts[f.ENDPOINT],
        status=facts[f.STATUS],
        estimated=True,
        stream=bool(facts[f.STREAM]),
        cache_hit=False,
        error="ledger_error",
    )


def _fallbacks(attempts: Sequence[Any], requested: str) -> int:
    """Deployments of other model groups tried (the router's fallbacks)."""
    if len(attempts) == 1:  # the common case
        return 0 if attempts[0][1] == requested else 1
    return len({a[1] for a in attempts} - {requested})


def _split(value: str) -> Iterable[str]:
    return (part.strip() for part in value.split(","))
