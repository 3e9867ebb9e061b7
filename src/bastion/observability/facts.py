"""What the observers need to know of a finished request, read off its context once.

The metrics, the access log, the live feed and the tracer all describe the same
request; :class:`RequestFacts` is computed once per request by the observing
finisher and handed to each of them, so none re-reads the context or re-prices.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bastion.accounting.pricing import read_usage
from bastion.providers.base import Deployment

if TYPE_CHECKING:
    from bastion.pipeline import RequestContext
    from bastion.routing.attempts import Attempt

# The fields of ``RequestFacts.key``, in its order.
KEY_FIELDS = (
    "endpoint",
    "ingress",
    "model",
    "deployment",
    "provider",
    "stream",
    "status",
    "error",
    "key_id",
    "org_id",
    "team_id",
    "user_id",
    "app_id",
)

# The cost of an answer in nano-dollars: (deployment, prompt, completion, cached) -> cost.
CostFunction = Callable[[Deployment, int, int, int], int | None]


_NO_PRINCIPAL = (None, None, None, None, None)  # key_id, org_id, team_id, user_id, app_id


def _field(index: int) -> Any:
    """A read-only attribute that is ``key[index]``."""
    return property(lambda facts: facts.key[index])


class RequestFacts:
    """One finished request, as every observer sees it.

    Only what the request path reads is stored: ``key`` (what repeats between requests,
    in KEY_FIELDS' order: the access log finds its line's template by it, the metrics
    their series, the tracer its spans' template), the times, tokens, cost, attempts and
    verdicts. The named fields of ``key`` (``model``, ``status``, ``org_id``...) and the
    principal's name and kind and the error's message, read by the hub and in tests, are
    properties: storing each one cost every request ~1 K instructions more.
    """

    __slots__ = (
        "_error",
        "_principal",
        "at",
        "attempts",
        "cached_tokens",
        "completion_tokens",
        "cost_nusd",
        "duration_ns",
        "key",
        "prompt_tokens",
        "request_id",
        "ttft_ns",
        "upstream_ns",
        "verdicts",
    )

    def __init__(self, ctx: RequestContext, cost: CostFunction | None) -> None:
        now = time.perf_counter_ns()
        self.at = time.time()
        self.request_id = ctx.request_id
        started = ctx.started_ns
        self.duration_ns = now - started
        self.upstream_ns = ctx.upstream_ns
        first = ctx.first_byte_ns
        self.ttft_ns = first - started if first else None
        error = self._error = ctx.error
        status = ctx.status
        if error is None:
            status = status or 0
            code = "client_disconnected" if status == 499 else None
        else:
            status = status or error.status
            code = error.code or error.error_type
            if code is None and status == 499:
                code = "client_disconnected"
        deployment = ctx.deployment
        if deployment is None:
            label = provider = None
        else:
            label = deployment.label
            provider = deployment.provider.name
        principal = self._principal = ctx.principal
        self.key: tuple[Any, ...] = (
            ctx.endpoint,
            ctx.ingress,
            ctx.model,
            label,
            provider,
            ctx.stream,
            status,
            code,
        ) + (
            _NO_PRINCIPAL
            if principal is None
            else (
                principal.id,
                principal.org_id,
                principal.team_id,
                principal.user_id,
                principal.app,
            )
        )
        usage = ctx.usage
        if usage is None:
            self.prompt_tokens = self.completion_tokens = self.cached_tokens = 0
            self.cost_nusd: int | None = None
        else:
            # The common shape (plain counts, no cache details) read here; else _tokens.
            prompt = usage.get("prompt_tokens")
            completion = usage.get("completion_tokens")
            if (
                type(prompt) is int
                and type(completion) is int
                and prompt > 0
                and completion >= 0
                and "prompt_tokens_details" not in usage
            ):
                cached = 0
            else:
                prompt, completion, cached = _tokens(usage)
            self.prompt_tokens = prompt
            self.completion_tokens = completion
            self.cached_tokens = cached
            self.cost_nusd = (
                cost(deployment, prompt, completion, cached)
                if cost is not None and deployment is not None
                else None
            )
        # The router's attempts as recorded (issue 6's ``ctx.attempts``): made JSON-ready
        # only when read (``summary``), not for every request.
        self.attempts = ctx.attempts
        self.verdicts = _verdicts(ctx) if ctx.guardrails is not None else None

    # The fields of ``key``, by name (read-only).
    endpoint: str = _field(0)
    ingress: str = _field(1)
    model: str = _field(2)
    deployment: str | None = _field(3)
    provider: str | None = _field(4)
    stream: bool = _field(5)
    status: int = _field(6)
    error: str | None = _field(7)
    key_id: str | None = _field(8)
    org_id: str | None = _field(9)
    team_id: str | None = _field(10)
    user_id: str | None = _field(11)
    app_id: str | None = _field(12)

    @property
    def key_name(self) -> str | None:
        principal = self._principal
        return principal.name if principal is not None else None

    @property
    def principal_kind(self) -> str | None:
        principal = self._principal
        return principal.kind if principal is not None else None

    @property
    def error_message(self) -> str | None:
        error = self._error
        return error.message if error is not None else None

    @property
    def failed(self) -> bool:
        key = self.key
        return key[6] >= 400 or key[7] is not None

    def summary(self) -> dict[str, Any]:
        """The facts as a JSON-ready dict (the live feed and the access log)."""
        return {
            "request_id": self.request_id,
            "at": self.at,
            "endpoint": self.endpoint,
            "ingress": self.ingress,
            "model": self.model,
            "deployment": self.deployment,
            "provider": self.provider,
            "stream": self.stream,
            "status": self.status,
            "error": self.error,
            "key_id": self.key_id,
            "org_id": self.org_id,
            "team_id": self.team_id,
            "user_id": self.user_id,
            "app_id": self.app_id,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cached_tokens": self.cached_tokens,
            "cost_usd": None if self.cost_nusd is None else self.cost_nusd / 1e9,
            "latency_ms": self.duration_ns / 1e6,
            "upstream_ms": self.upstream_ns / 1e6,
            "gateway_ms": max(self.duration_ns - self.upstream_ns, 0) / 1e6,
            "ttft_ms": None if self.ttft_ns is None else self.ttft_ns / 1e6,
            "attempts": attempts_json(self.attempts),
            "verdicts": self.verdicts,
        }


def _tokens(usage: Mapping[str, Any]) -> tuple[int, int, int]:
    """(prompt, completion, cached) tokens, as :func:`read_usage` counts them.

    The common shape (plain non-negative integers, cache details absent or plain) is
    read here directly; anything else goes through ``read_usage``.
    """
    prompt = usage.get("prompt_tokens")
    completion = usage.get("completion_tokens")
    if type(prompt) is int and type(completion) is int and prompt >= 0 and completion >= 0:
        details = usage.get("prompt_tokens_details")
        if details is None:
            if prompt or completion:
                return prompt, completion, 0
        elif type(details) is dict:
            cached = details.get("cached_tokens")
            if cached is None:
                cached = 0
            if type(cached) is int and cached >= 0 and (prompt or completion):
                return prompt, completion, cached
    counted = read_usage(usage)
    return counted.prompt_tokens, counted.completion_tokens, counted.cached_tokens


def attempts_json(attempts: Sequence[Attempt] | None) -> list[dict[str, Any]] | None:
    """The router's attempts as JSON-ready dicts, when it recorded any."""
    if not attempts:
        return None
    return [
        {
            "deployment": a.deployment.label,
            "status": a.status,
            "error": a.error,
            "latency_ms": a.latency_ms,
        }
        for a in attempts
    ]


def _verdicts(ctx: RequestContext) -> list[dict[str, Any]] | None:
    """Guardrail verdicts (detector, action, direction, count), never the matched values."""
    session = ctx.guardrails
    verdicts = getattr(session, "verdicts", None) if session is not None else None
    if not verdicts:
        return None
    out = []
    for v in verdicts:
        get = v.get if isinstance(v, dict) else lambda name, v=v: getattr(v, name, None)
        out.append(
            {
                "detector": str(get("detector") or get("kind") or "unknown"),
                "action": str(get("action") or "record"),
                "direction": get("direction") or get("stage"),
                "count": get("count") or get("spans") or 1,
            }
        )
    return out
