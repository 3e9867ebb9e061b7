"""What the recorder keeps of a finished request: its facts, one JSON array of plain values.

    Recorder (finish)   ``Extract``: the context's facts, encoded (orjson), queued
    writer (a batch)    the encoded facts joined into one JSON array, written
    builders            the ledger row (accounting/ledger.py) and the audit record
                        (observability/audit.py) are built from the facts alone

The facts are what the row and the record read and nothing else, as plain JSON
values, so that the recorder process (accounting/recorder_process.py) needs none
of the gateway's objects: no context, principal, deployment, price or guardrail
session crosses. Extracting is the gateway's whole share of recording when the
recorder runs in its own process, so it is kept to attribute reads: a principal's
and a deployment's part are built once per object, and the request's JSON body
is passed as it is.

Why at finish and encoded, rather than queueing the context and extracting once a
batch: a queued context keeps its whole object graph (body, headers, attempts,
capture, stream generators) alive for a flush interval, and the garbage
collector's full passes walk all of it again and again: measured (callgrind), 13 K
instructions a request with body shapes kept, 28 K with bodies, more than the
extraction. Encoded facts are one bytes object, which the collector never visits;
orjson encodes them in well under a microsecond (pickling a batch of tuples cost
18 K instructions a request).

The one exception to "plain facts": a body kept (mode ``on``) under a guardrail
policy that redacts is redacted here, since only the request's guardrail session
knows what to replace. Without such a policy the answer goes as the bytes the
caller received, after its facts and a newline (``ANSWER`` holds their length):
escaping a streamed answer into the JSON cost the gateway more than the rest of
its facts (~15 us for a 3.6 KB stream); the writer decodes it (``items_of``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from bastion.accounting.pricing import Price, PriceCatalog
from bastion.observability.audit_bodies import Redactor, body_document, redacts

if TYPE_CHECKING:
    from bastion.governance.principal import Principal
    from bastion.observability.audit_settings import BodyMode
    from bastion.pipeline import RequestContext
    from bastion.providers.base import JSON, Deployment

log = logging.getLogger("bastion.accounting")

# A finished request's facts, in this order (a tuple, then a JSON array: nothing to
# construct per request).
(
    REQUEST_ID,  # str
    AT,  # float: wall time at finish
    WHO,  # Who | None: None when not authenticated
    MODEL,  # str: the model asked for
    ENDPOINT,  # str
    INGRESS,  # str: the caller's wire format
    STREAM,  # bool
    SERVED,  # Served | None: the deployment that answered (or was tried last)
    STATUS,  # int: the status the caller got (0: none)
    ERROR,  # (code, message) | None
    ATTEMPTS,  # [[label, public model name, status, error code], ...] | None
    USAGE,  # the upstream's usage report as it came (OpenAI shape) | None
    TOTAL_US,  # int: from start to finish, microseconds
    UPSTREAM_NS,  # int: time in the upstream, nanoseconds (0: never called)
    FIRST_BYTE_US,  # int | None: from start to the first streamed byte, microseconds
    CHARGED,  # int | None: nano-dollars the budgets were charged
    CACHE_HIT,  # bool
    OUTPUT_ESTIMATE,  # int: output tokens estimated from the answer (no usage report)
    SIDE_CALL,  # bool: a native side operation (count_tokens), never estimated
    TAGS,  # list[str] | None: the tags header's values
    BODY,  # the request's JSON, when a builder reads it | None
    BODY_MODE,  # "off" | "metadata" | "on" | None (no audit trail)
    ANSWER,  # [text, truncated] | str (a redacted body document) | None; encoded, the
    # text is [its length in bytes, truncated], its bytes after the facts (``items_of``)
    VERDICTS,  # list of the guardrail verdicts (dicts) | None
) = range(24)
FIELDS = 24

Finished = Sequence[Any]  # a tuple in the gateway, a list once decoded
# A principal: kind, id, name, role, org, team, user, app.
Who = Sequence[str | None]
# A deployment: label, provider name, public model name, price (None: not priced).
Served = Sequence[Any]
# A price: pico-dollars per input, output, cached-input, cache-write and embedding token,
# and where it came from (``price_of`` makes the Price again).
PriceFacts = Sequence[Any]

_CACHED = 4096  # principals and deployments remembered (bounded, should they be made per request)


class Extract:
    """Turns a finished request's context into its ``Finished`` tuple (in the gateway).

    ``prices`` and ``tags_header``: the ledger's (None: no ledger, nothing priced);
    ``body_mode``: the audit trail's choice for the request (None: no trail).
    """

    def __init__(
        self,
        prices: PriceCatalog | None,
        tags_header: bytes | None,
        body_mode: Callable[[RequestContext], BodyMode] | None,
        redact: Redactor,
        max_body_bytes: int,
    ) -> None:
        self._prices = prices
        self._tags_header = tags_header
        self._body_mode = body_mode
        self._redact = redact
        self._max_body_bytes = max_body_bytes
        # By identity, the object kept beside its facts so that its id is not reused.
        self._who: dict[int, tuple[Principal, Who]] = {}
        self._served: dict[int, tuple[Deployment, Served]] = {}
        # Whether contexts have a cache_hit (the response cache's): asked once, since a
        # getattr that misses raises and catches an AttributeError (~2 K instructions).
        self._cache_hit: bool | None = None

    def __call__(self, ctx: RequestContext, at: float, finished_ns: int) -> bytes:
        """The request's facts, encoded (a JSON array), and the answer's bytes when kept
        as they are (see the module docstring)."""
        try:
            facts = self._facts(ctx, at, finished_ns)
        except Exception:  # a bug: what is certain is still recorded
            log.exception("could not describe request %s fully", ctx.request_id)
            who = self.who(ctx.principal) if ctx.principal is not None else None
            facts = bare(ctx.request_id, at, who, str(ctx.model), ctx.endpoint, ctx.status)
        try:
            data = orjson.dumps(facts)
        except TypeError:  # a value that is not JSON (a stray object): kept as its text
            data = encode(facts)
        answer, capture = facts[ANSWER], ctx.capture
        if answer is None or answer.__class__ is str or capture is None:
            return data
        return b"".join((data, b"\n", *capture.chunks))  # ANSWER: their length

    def _facts(self, ctx: RequestContext, at: float, finished_ns: int) -> Finished:
        if self._cache_hit is None:
            self._cache_hit = hasattr(type(ctx), "cache_hit")
        principal = ctx.principal
        who = None
        if principal is not None:
            known = self._who.get(id(principal))
            who = known[1] if known is not None and known[0] is principal else self.who(principal)
        deployment = ctx.deployment
        served = None
        if deployment is not None:
            seen = self._served.get(id(deployment))
            served = seen[1] if seen is not None and seen[0] is deployment else None
            if served is None:
                served = self.served(deployment)
        error = ctx.error
        status = ctx.status or (error.status if error is not None else 0)
        attempts = ctx.attempts
        started = ctx.started_ns
        first = ctx.first_byte_ns
        header = self._tags_header
        tags = None
        if header is not None and ctx.request_headers:
            tags = [v.decode("latin-1") for n, v in ctx.request_headers if n == header] or None
        body: JSON | None = ctx.body
        mode = self._body_mode(ctx) if self._body_mode is not None else None
        answer = None
        if mode == "on" and body:
            answer = self._answer(ctx)
        elif (
            (mode is None or mode == "off") and ctx.usage is not None and "metadata" not in ctx.body
        ):
            body = None  # no builder reads it
        return (
            ctx.request_id,
            at,
            who,
            ctx.model,
            ctx.endpoint,
            ctx.ingress,
            ctx.stream,
            served,
            status,
            (error.code or error.error_type, error.message[:500]) if error is not None else None,
            _attempts(attempts, deployment, served, self.served) if attempts else None,
            ctx.usage,
            (finished_ns - started) // 1000,
            ctx.upstream_ns,
            (first - started) // 1000 if first else None,
            ctx.charged_nusd,
            bool(getattr(ctx, "cache_hit", False)) if self._cache_hit else False,
            ctx.output_estimate,
            ctx.native is not None and ctx.native.operation is not None,
            tags,
            body,
            mode,
            answer,
            _verdicts(ctx.guardrails) if ctx.guardrails is not None else None,
        )

    def who(self, principal: Principal) -> Who:
        known = self._who.get(id(principal))
        if known is not None and known[0] is principal:
            return known[1]
        p = principal
        who = (p.kind, p.id, p.name, p.role, p.org_id, p.team_id, p.user_id, p.app)
        if len(self._who) >= _CACHED:
            self._who.clear()
        self._who[id(principal)] = (principal, who)
        return who

    def served(self, deployment: Deployment) -> Served:
        known = self._served.get(id(deployment))
        if known is not None and known[0] is deployment:
            return known[1]
        price = self._prices.known(deployment) if self._prices is not None else None
        served = (
            deployment.label,
            deployment.provider.name,
            deployment.name,
            price_facts(price) if price is not None else None,
        )
        if len(self._served) >= _CACHED:
            self._served.clear()
        self._served[id(deployment)] = (deployment, served)
        return served

    def _answer(self, ctx: RequestContext) -> tuple[int, bool] | str | None:
        """The kept answer's length in bytes (they follow the facts); the body document,
        redacted, when a policy redacts."""
        capture = ctx.capture
        if redacts(ctx.guardrails):
            return body_document(
                ctx.endpoint,
                ctx.body,
                capture.text() if capture is not None else "",
                capture is not None and capture.truncated,
                ctx.stream,
                ctx.guardrails,
                self._redact,
                self._max_body_bytes,
            )
        if capture is None or not capture.chunks:
            return None
        return capture.size, capture.truncated


def bare(
    request_id: str, at: float, who: Who | None, model: str, endpoint: str, status: int
) -> Finished:
    """What is certain of a request whose facts could not all be read (a bug): it happened."""
    facts: list[Any] = [None] * FIELDS
    facts[REQUEST_ID], facts[AT], facts[WHO] = request_id, at, who
    facts[MODEL], facts[ENDPOINT] = model, endpoint
    facts[INGRESS], facts[STREAM], facts[STATUS] = "", False, status
    facts[ERROR] = ("recording_error", "the request could not be described fully")
    facts[TOTAL_US] = facts[UPSTREAM_NS] = facts[OUTPUT_ESTIMATE] = 0
    facts[CACHE_HIT] = facts[SIDE_CALL] = False
    return tuple(facts)


def _attempts(
    attempts: Sequence[Any],
    deployment: Deployment | None,
    served: Served | None,
    serve: Callable[[Deployment], Served],
) -> list[Any]:
    if len(attempts) == 1 and served is not None and attempts[0].deployment is deployment:
        a = attempts[0]  # the common case
        return [(served[0], served[2], a.status, a.error)]
    out = []
    for a in attempts:
        tried = serve(a.deployment)
        out.append((tried[0], tried[2], a.status, a.error))
    return out


def encode(facts: Any) -> bytes:
    """Facts (or an event) as JSON; what is not JSON (a bug, a stray object) as its text."""
    try:
        return orjson.dumps(facts)
    except TypeError:
        return orjson.dumps(facts, default=str, option=orjson.OPT_NON_STR_KEYS)


def batch_of(items: Sequence[bytes]) -> bytes:
    """Encoded facts and events, one a line (an answer's bytes, on the lines after its
    facts, are counted out by the facts): ``items_of`` reads them."""
    return b"\n".join(items)


def items_of(batch: bytes) -> list[Any]:
    """A batch's facts (lists, an answer kept as it came decoded into [text, truncated])
    and events (dicts), in order."""
    items: list[Any] = []
    add, find, loads = items.append, batch.find, orjson.loads
    start, end = 0, len(batch)
    while start < end:
        stop = find(b"\n", start)
        if stop < 0:
            stop = end
        item = loads(batch[start:stop])
        start = stop + 1
        add(item)
        if item.__class__ is list:
            answer = item[ANSWER]
            if answer.__class__ is list:  # [length, truncated]: the bytes follow
                size = answer[0]
                answer[0] = batch[start : start + size].decode("utf-8", errors="replace")
                start += size + 1
    return items


def price_facts(price: Price) -> PriceFacts:
    p = price
    return (p.input, p.output, p.cached_input, p.cache_write, p.embedding, p.source, p.taken)


def price_of(facts: PriceFacts) -> Price:
    input_, output, cached, written, embedding, source, taken = facts
    return Price(input_, output, cached, None, source, written, embedding, taken)


def _verdicts(session: object) -> list[Any] | None:
    """The guardrail session's verdicts, as plain values (never a matched value)."""
    verdicts = getattr(session, "verdicts", None)
    found = verdicts() if callable(verdicts) else verdicts
    if not found:
        return None
    return [v.as_dict() if hasattr(v, "as_dict") else str(v) for v in found]
