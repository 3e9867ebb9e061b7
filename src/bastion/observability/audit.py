"""The audit trail: one hash-chained record per interaction, written off the request path.

    AuditLog.admit   (stage)   decides the body mode; "on": the answer is captured
    Recorder         (finish)  queues (context, time): nothing else on the request path
                               (accounting/recorder.py, shared with the spend ledger)
    writer                     every ``flush_interval``: records built from the queued
                               contexts, linked into this process's chain of the day
                               (observability/audit_chain.py), inserted in one batch

Every request that reached the proxy is recorded, refused ones included: who (the
principal and its chain: org, team, user, app, key), what (endpoint, requested
model, served deployment, attempts), when, the decisions taken (authentication,
authorisation, limits and budgets, guardrail verdicts), the outcome, the tokens,
and the bodies as the body mode allows. The chain advances only once a batch is
committed, so a batch re-sent after an error lands where it was meant to.
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

from bastion.accounting.pricing import UsageCount, read_usage
from bastion.governance.principal import Principal
from bastion.observability.audit_bodies import (
    BodyCapture,
    Redactor,
    body_document,
    guardrail_redactor,
    request_shape,
)
from bastion.observability.audit_chain import Hasher, canonical, day_of, sha256
from bastion.observability.audit_settings import AuditConfig, BodyMode, lowest_body_mode
from bastion.store.audit_store import AuditStore, Record
from bastion.store.batch import Batched, BatchWriter, through_only
from bastion.store.database import Statement

if TYPE_CHECKING:
    from bastion.pipeline import RequestContext

log = logging.getLogger("bastion.audit")

Entry = tuple["RequestContext", float, int]  # the context, wall time and perf time at finish
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


class AuditLog(Batched[Entry | Prepared]):
    def __init__(
        self,
        store: AuditStore,
        config: AuditConfig,
        policy_bodies: PolicyBodies | None = None,
        redact: Redactor = guardrail_redactor,
    ) -> None:
        self._store = store
        self._config = config
        self._policy_bodies = policy_bodies
        self._redact = redact
        self.instance = instance_name(config.instance)
        key = config.key.get_secret_value().encode() if config.key is not None else None
        self.hasher = Hasher(key)
        self._model_caps = tuple(
            (re.compile(fnmatch.translate(pattern)), mode)
            for pattern, mode in config.models.items()
        )
        self._caps: dict[str, BodyMode | None] = {}
        # Principals are few and immutable: their "who" by identity (hashing a principal
        # hashes all its fields); the entry keeps its principal, so its id is not reused.
        self._who: dict[int, tuple[Principal, dict[str, Any]]] = {}
        # Its settings; the Recorder (accounting/recorder.py) queues and writes.
        self._writer: BatchWriter[Entry | Prepared] = BatchWriter(
            through_only,
            "audit trail",
            interval=config.flush_interval,
            max_pending=config.max_pending,
        )
        self.clock: Callable[[], float] = time.time  # which day's chain records go to
        # The chain: its day, the next sequence number, the last hash (advanced on commit).
        self._day = ""
        self._seq = 0
        self._prev = ""

    # --- the request path -----------------------------------------------------------------

    async def admit(self, ctx: RequestContext) -> None:
        """A stage: capture the answer when this request's bodies are kept."""
        if ctx.endpoint == "chat" and self.body_mode(ctx) == "on":
            ctx.capture = BodyCapture(self._config.max_body_bytes)

    def event(self, kind: str, data: dict[str, Any]) -> None:
        """A record of the gateway's own doing (the retention job), into the chain."""
        record = {"kind": kind, "at": self.clock(), "request_id": None, **data}
        self._writer.add(Prepared(record))

    def body_mode(self, ctx: RequestContext) -> BodyMode:
        mode: BodyMode = self._config.bodies
        if ctx.principal is not None and self._policy_bodies is not None:
            mode = self._policy_bodies(ctx.principal) or mode
        if self._model_caps:
            for name in (ctx.model, ctx.deployment.label if ctx.deployment else None):
                cap = self._cap(name) if name else None
                if cap is not None:
                    mode = lowest_body_mode(mode, cap)
        return mode

    def _principal(self, principal: Principal | None) -> dict[str, Any] | None:
        if principal is None:
            return None
        known = self._who.get(id(principal))
        if known is not None and known[0] is principal:
            return known[1]
        who = _who(principal)
        if len(self._who) >= 4096:  # bounded, should principals ever be made per request
            self._who.clear()
        self._who[id(principal)] = (principal, who)
        return who

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

    # --- the writer ---------------------------------------------------------------------------

    def safe_record(
        self, ctx: RequestContext, at: float, finished_ns: int, usage: UsageCount | None = None
    ) -> Prepared:
        """The record of a request; when it cannot be built (a bug), what is certain."""
        try:
            return self.record(ctx, at, finished_ns, usage)
        except Exception:  # never lose the record of a request: keep what is certain
            log.exception("could not describe request %s fully", ctx.request_id)
            return Prepared(
                {"kind": "request", "at": at, "request_id": ctx.request_id, "error": True}
            )

    def link(self, items: Sequence[Prepared]) -> tuple[list[Statement], Callable[[], None]]:
        """The statements inserting ``items`` as the next links of the chain, and what to
        call once they are committed (the chain advances only then)."""
        day = day_of(self.clock())
        if day != self._day:  # a new day: a new chain
            self._day, self._seq, self._prev = day, 0, self.hasher.genesis(self.instance, day)
        seq, prev = self._seq, self._prev
        rows: list[Record] = []
        instance, link = self.instance, self.hasher.link
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

    def record(
        self, ctx: RequestContext, at: float, finished_ns: int, usage: UsageCount | None = None
    ) -> Prepared:
        """A request's audit record (without its chain fields) and its kept body.

        ``usage``: ``read_usage(ctx.usage)`` when the caller has it already."""
        principal = ctx.principal
        deployment = ctx.deployment
        error = ctx.error
        status = ctx.status or (error.status if error is not None else 0)
        code = (error.code or error.error_type) if error is not None else None
        if status == 499 and code is None:
            code = "client_disconnected"
        what: dict[str, Any] = {
            "endpoint": ctx.endpoint,
            "ingress": ctx.ingress,
            "model": ctx.model,
        }
        outcome: dict[str, Any] = {
            "status": status,
            "latency_ms": (finished_ns - ctx.started_ns) // 1000 / 1000,
        }
        record: dict[str, Any] = {
            "kind": "request",
            "at": at,
            "request_id": ctx.request_id,
            "who": self._principal(principal),
            "what": what,
            "decisions": _decisions(ctx, code),
            "outcome": outcome,
        }
        # Absent rather than null: records stay small (nothing is hashed that is not there).
        if ctx.stream:
            what["stream"] = True
        if deployment is not None:
            what["deployment"] = deployment.label
            what["provider"] = deployment.provider.name
        if error is not None:
            outcome["error"] = code
            outcome["message"] = error.message[:500]
        elif code is not None:
            outcome["error"] = code
        attempts = ctx.attempts
        if attempts:
            record["attempts"] = [
                {"deployment": a.deployment.label, "status": a.status, "error": a.error}
                for a in attempts
            ]
        if ctx.usage is not None:
            u = usage if usage is not None else read_usage(ctx.usage)
            record["usage"] = {
                "prompt": u.prompt_tokens,
                "completion": u.completion_tokens,
                "cached": u.cached_tokens,
                "cache_write": u.cache_write_tokens,
                "reasoning": u.reasoning_tokens,
            }
        mode = self.body_mode(ctx)
        bodies: dict[str, Any] = {"mode": mode}
        body: str | None = None
        if mode != "off" and ctx.body:
            bodies["request"] = request_shape(ctx.endpoint, ctx.body)
        if mode == "on" and ctx.body:
            body = body_document(
                ctx.endpoint,
                ctx.body,
                ctx.capture,
                ctx.stream,
                ctx.guardrails,
                self._redact,
                self._config.max_body_bytes,
            )
            bodies["sha256"] = sha256(body)
        record["bodies"] = bodies
        return Prepared(record, body)


def _who(principal: Principal) -> dict[str, Any]:
    who = {
        "kind": principal.kind,
        "id": principal.id,
        "name": principal.name,
        "role": principal.role,
        "org": principal.org_id,
        "team": principal.team_id,
        "user": principal.user_id,
        "app": principal.app,
    }
    return {k: v for k, v in who.items() if v is not None}


def _decisions(ctx: RequestContext, code: str | None) -> dict[str, Any]:
    """What each check decided, as far as the request got."""
    if ctx.principal is None:
        return {"authenticate": "denied" if code else "not_reached"}
    out: dict[str, Any] = {"authenticate": "allowed"}
    if code in _AUTHORIZE:
        out["authorize"] = "denied"
    elif code in _LIMITS:
        out["authorize"] = "allowed"
        out["limits"] = _LIMITS[code]
    elif ctx.deployment is not None:
        out["authorize"] = out["limits"] = "allowed"
    verdicts = getattr(ctx.guardrails, "verdicts", None)  # the guardrails' GuardSession
    found = verdicts() if callable(verdicts) else verdicts
    if found or code == "guardrail_blocked":
        out["guardrails"] = {
            "blocked": code == "guardrail_blocked",
            "verdicts": [v.as_dict() if hasattr(v, "as_dict") else str(v) for v in found or ()],
        }
    return out
