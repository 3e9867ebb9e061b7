"""The audit trail: one hash-chained record per interaction, written off the request path.

    AuditLog.admit   (stage)   decides the body mode; "on": the answer is captured
    Recorder         (finish)  queues (context, time): nothing else on the request path
                               (accounting/recorder.py, shared with the spend ledger)
    AuditRecords               every ``flush_interval``: a record from each finished
                               request's facts (accounting/finished.py)
    AuditChain                 links them into this gateway process's chain of the day
                               (observability/audit_chain.py), inserted in one batch

The records are built and linked where the batch is written: in the recorder
process, or in the gateway itself (``accounting.recorder: inline``).

Every request that reached the proxy is recorded, refused ones included: who (the
principal and its chain: org, team, user, app, key), what (endpoint, requested
model, served deployment, attempts), when, the decisions taken (authentication,
authorisation, limits and budgets, guardrail verdicts), the outcome, the tokens,
and the bodies as the body mode allows. The chain advances only once a batch is
committed; a batch re-sent after an error first drops what a lost commit had
written and takes the chain's head from the database, so it lands once, where it
was meant to, whichever process writes it.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bastion.accounting import finished as f
from bastion.accounting.finished import Finished, Who, encode
from bastion.accounting.pricing import UsageCount
from bastion.governance.principal import Principal
from bastion.observability.audit_bodies import (
    BodyCapture,
    Redactor,
    body_document,
    guardrail_redactor,
    no_redaction,
    request_shape,
)
from bastion.observability.audit_chain import Hasher, canonical, sha256
from bastion.observability.audit_settings import AuditConfig, BodyMode, lowest_body_mode
from bastion.store.audit_store import AuditStore, Record
from bastion.store.batch import Batched, BatchWriter, through_only
from bastion.store.database import Statement

if TYPE_CHECKING:
    from bastion.pipeline import RequestContext

log = logging.getLogger("bastion.audit")

PolicyBodies = Callable[[Principal], BodyMode | None]

_AUTHORIZE = frozenset({"model_not_allowed", "endpoint_not_allowed", "max_tokens_exceeded"})
_LIMITS = {
    "rate_limit_exceeded": "rate_limited",
    "concurrency_limit_exceeded": "rate_limited",
    "budget_exceeded": "budget_exceeded",
    "limits_unavailable": "unavailable",
}


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs a call per field
class Prepared:
    """A record ready for the chain (its chain fields come at write time) and its body."""

    record: dict[str, Any]
    body: str | None = None


def instance_name(configured: str | None) -> str:
    """This process's chain name: host (or the configured name), process id, random suffix."""
    base = configured or socket.gethostname().split(".")[0][:40] or "bastion"
    return f"{base}:{os.getpid()}:{secrets.token_hex(3)}"


class AuditLog(Batched[Any]):
    """The trail in the gateway: the body mode, the chain's name and key, events, settings."""

    def __init__(
        self,
        store: AuditStore,
        config: AuditConfig,
        policy_bodies: PolicyBodies | None = None,
        redact: Redactor = guardrail_redactor,
    ) -> None:
        self.store = store
        self.config = config
        self._policy_bodies = policy_bodies
        self.redact = redact
        # The gateway process's chain, whichever process writes it (a recorder process
        # started again continues it).
        self.instance = instance_name(config.instance)
        self.key = config.key.get_secret_value().encode() if config.key is not None else None
        self.hasher = Hasher(self.key)
        self._model_caps = tuple(
            (re.compile(fnmatch.translate(pattern)), mode)
            for pattern, mode in config.models.items()
        )
        self._caps: dict[str, BodyMode | None] = {}
        # Its settings; the Recorder (accounting/recorder.py) queues and writes.
        self._writer: BatchWriter[Any] = BatchWriter(
            through_only,
            "audit trail",
            interval=config.flush_interval,
            max_pending=config.max_pending,
        )
        self.clock: Callable[[], float] = time.time  # which day's chain records go to

    # --- the request path -----------------------------------------------------------------

    async def admit(self, ctx: RequestContext) -> None:
        """A stage: capture the answer when this request's bodies are kept."""
        if ctx.endpoint == "chat" and self.body_mode(ctx) == "on":
            ctx.capture = BodyCapture(self.config.max_body_bytes)

    def event(self, kind: str, data: dict[str, Any]) -> None:
        """A record of the gateway's own doing (the retention job), into the chain (in order
        with the requests', through the recorder)."""
        self._writer.add(encode({"kind": kind, "at": self.clock(), "request_id": None, **data}))

    def body_mode(self, ctx: RequestContext) -> BodyMode:
        mode: BodyMode = self.config.bodies
        if ctx.principal is not None and self._policy_bodies is not None:
            mode = self._policy_bodies(ctx.principal) or mode
        if self._model_caps:
            for name in (ctx.model, ctx.deployment.label if ctx.deployment else None):
                cap = self._cap(name) if name else None
                if cap is not None:
                    mode = lowest_body_mode(mode, cap)
        return mode

    def _cap(self, name: str) -> BodyMode | None:
        if name not in self._caps:
            found: BodyMode | None = None
            for regex, mode in self._model_caps:
                if regex.fullmatch(name):
                    found = lowest_body_mode(found, mode)
            if len(self._caps) < 4096:
                self._caps[name] = found
            return found
        return self._caps[name]


class AuditRecords:
    """Builds audit records from finished requests' facts (the one builder, either mode)."""

    def __init__(self, max_body_bytes: int) -> None:
        self._max_body_bytes = max_body_bytes
        # Principals are few: their "who", built once.
        self._who: dict[tuple[str | None, ...], dict[str, Any]] = {}

    def safe_record(self, facts: Finished, usage: UsageCount | None = None) -> Prepared:
        """The record of a request; when it cannot be built (a bug), what is certain."""
        try:
            return self.record(facts, usage)
        except Exception:  # never lose the record of a request: keep what is certain
            log.exception("could not describe request %s fully", facts[f.REQUEST_ID])
            return Prepared(
                {
                    "kind": "request",
                    "at": facts[f.AT],
                    "request_id": facts[f.REQUEST_ID],
                    "error": True,
                }
            )

    def record(self, facts: Finished, usage: UsageCount | None = None) -> Prepared:
        """A request's audit record (without its chain fields) and its kept body.

        ``usage``: ``read_usage(facts[USAGE])``, None when the upstream reported none."""
        served = facts[f.SERVED]
        error = facts[f.ERROR]
        status = facts[f.STATUS]
        code = error[0] if error is not None else None
        if status == 499 and code is None:
            code = "client_disconnected"
        endpoint = facts[f.ENDPOINT]
        what: dict[str, Any] = {
            "endpoint": endpoint,
            "ingress": facts[f.INGRESS],
            "model": facts[f.MODEL],
        }
        outcome: dict[str, Any] = {"status": status, "latency_ms": facts[f.TOTAL_US] / 1000}
        record: dict[str, Any] = {
            "kind": "request",
            "at": facts[f.AT],
            "request_id": facts[f.REQUEST_ID],
            "who": self._principal(facts[f.WHO]),
            "what": what,
            "decisions": _decisions(facts, code),
            "outcome": outcome,
        }
        # Absent rather than null: records stay small (nothing is hashed that is not there).
        stream = facts[f.STREAM]
        if stream:
            what["stream"] = True
        if served is not None:
            what["deployment"] = served[0]
            what["provider"] = served[1]
        if error is not None:
            outcome["error"] = code
            outcome["message"] = error[1]
        elif code is not None:
            outcome["error"] = code
        attempts = facts[f.ATTEMPTS]
        if attempts:
            record["attempts"] = [
                {"deployment": a[0], "status": a[2], "error": a[3]} for a in attempts
            ]
        if usage is not None:
            record["usage"] = {
                "prompt": usage.prompt_tokens,
                "completion": usage.completion_tokens,
                "cached": usage.cached_tokens,
                "cache_write": usage.cache_write_tokens,
                "reasoning": usage.reasoning_tokens,
            }
        mode = facts[f.BODY_MODE]
        body = facts[f.BODY]
        bodies: dict[str, Any] = {"mode": mode}
        document: str | None = None
        if mode != "off" and body:
            bodies["request"] = request_shape(endpoint, body)
        if mode == "on" and body:
            answer = facts[f.ANSWER]
            if isinstance(answer, str):  # redacted in the gateway (see finished.py)
                document = answer
            else:
                document = body_document(
                    endpoint,
                    body,
                    answer[0] if answer is not None else "",
                    answer is not None and answer[1],
                    stream,
                    None,
                    no_redaction,
                    self._max_body_bytes,
                )
            bodies["sha256"] = sha256(document)
        record["bodies"] = bodies
        return Prepared(record, document)

    def _principal(self, who: Who | None) -> dict[str, Any] | None:
        if who is None:
            return None
        key = tuple(who)
        known = self._who.get(key)
        if known is None:
            if len(self._who) >= 4096:  # bounded, should principals ever be made per request
                self._who.clear()
            known = self._who[key] = _who(who)
        return known


class AuditChain:
    """Links records into one gateway process's chain of the day, and writes them.

    Where the chain stands (its day, next sequence number, last hash) is read from the
    database when a day begins (a recorder process started again continues its
    predecessor's chain) and after a failed write, and advances only once a batch is
    committed.
    """

    def __init__(self, store: AuditStore, instance: str, hasher: Hasher) -> None:
        self._store = store
        self.instance = instance
        self._hasher = hasher
        self._day = ""  # "": not read from the database yet
        self._seq = 0
        self._prev = ""

    async def link(
        self, items: Sequence[Prepared], day: str, again: bool
    ) -> tuple[list[Statement], Callable[[], None]]:
        """The statements inserting ``items`` as the next links of ``day``'s chain, and what
        to call once they are committed (the chain advances only then).

        ``again``: the batch follows a failed write, whose commit may have landed: the
        records already in the chain are left out, and the head is read again."""
        if again:
            self._day = ""
            items = await self._new(items)
        if day != self._day:
            head = await self._store.chain_head(self.instance, day)
            seq, prev = (
                (head[0] + 1, head[1]) if head else (0, self._hasher.genesis(self.instance, day))
            )
            self._day, self._seq, self._prev = day, seq, prev
        seq, prev = self._seq, self._prev
        rows: list[Record] = []
        instance, link = self.instance, self._hasher.link
        for item in items:
            # The prepared record is the writer's own: its chain fields are set in place
            # (a batch tried again gets them set again, to the same or newer values).
            record = item.record
            record["v"] = 1
            record["instance"] = instance
            record["day"] = day
            record["seq"] = seq
            text = canonical(record)
            digest = link(prev, text)
            rows.append(
                (
                    instance,
                    day,
                    seq,
                    record["at"],
                    record["kind"],
                    record["request_id"],
                    text,
                    item.body,
                    prev,
                    digest,
                )
            )
            seq, prev = seq + 1, digest

        def committed() -> None:
            self._seq, self._prev = seq, prev

        return self._store.statements(rows), committed

    async def _new(self, items: Sequence[Prepared]) -> list[Prepared]:
        """The records not in this chain yet (after an error whose commit may have landed)."""
        if not items:
            return []
        since = min(item.record["at"] for item in items)
        found = await self._store.linked(self.instance, since)
        return [
            item
            for item in items
            if (item.record["kind"], item.record["request_id"], item.record["at"]) not in found
        ]


def _who(who: Who) -> dict[str, Any]:
    kind, id_, name, role, org, team, user, app = who
    out = {
        "kind": kind,
        "id": id_,
        "name": name,
        "role": role,
        "org": org,
        "team": team,
        "user": user,
        "app": app,
    }
    return {k: v for k, v in out.items() if v is not None}


def _decisions(facts: Finished, code: str | None) -> dict[str, Any]:
    """What each check decided, as far as the request got."""
    if facts[f.WHO] is None:
        return {"authenticate": "denied" if code else "not_reached"}
    out: dict[str, Any] = {"authenticate": "allowed"}
    if code in _AUTHORIZE:
        out["authorize"] = "denied"
    elif code in _LIMITS:
        out["authorize"] = "allowed"
        out["limits"] = _LIMITS[code]
    elif facts[f.SERVED] is not None:
        out["authorize"] = out["limits"] = "allowed"
    verdicts = facts[f.VERDICTS]
    if verdicts or code == "guardrail_blocked":
        out["guardrails"] = {"blocked": code == "guardrail_blocked", "verdicts": verdicts or []}
    return out
