"""Prometheus metrics: recorded by a finisher, exposed at ``/metrics``.

Names follow the OpenTelemetry GenAI semantic conventions where one exists, as
their Prometheus translation (dots to underscores, the unit as a suffix):
``gen_ai_server_request_duration_seconds``, ``gen_ai_server_time_to_first_token_seconds``,
``gen_ai_client_token_usage``; label names likewise (``gen_ai_request_model``,
``gen_ai_provider_name``, ``gen_ai_operation_name``, ``gen_ai_token_type``,
``error_type``). The rest are ``bastion_*``.

Cheap on the request path: each distinct label combination is one :class:`_Series`
of plain integers and bucket lists, found by one dict lookup; recording a request is
a few additions and a ``bisect`` per histogram, no locks (the event loop is the only
writer). The Prometheus families are built from the series at scrape time. Label
values that clients influence (models, error codes, teams) are bounded: past
``max_label_values`` distinct values a label reads "other".

Several workers: ``bastion serve --workers N`` sets ``PROMETHEUS_MULTIPROC_DIR``;
each worker then writes its series to a file there every second (and the worker
answering a scrape, at once), and a scrape sums every worker's file.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from bastion.observability.exposition import families, merged, text
from bastion.observability.facts import KEY_FIELDS, RequestFacts
from bastion.observability.series import (
    DURATION_BUCKETS,
    DURATION_SUM,
    OVERHEAD_BUCKETS,
    OVERHEAD_SUM,
    TOKEN_BUCKETS,
    TOKEN_INDEX,
    TOKEN_INDEXED,
    TOKEN_SUM,
    TTFT_BUCKETS,
    TTFT_SUM,
    Series,
)
from bastion.observability.settings import MULTIPROC_ENV, MetricsConfig

if TYPE_CHECKING:
    from bastion.pipeline import RequestContext

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_SERIES_LIMIT = 50_000
_ATTRIBUTION = {
    "org": "org_id",
    "team": "team_id",
    "app": "app_id",
    "user": "user_id",
    "key": "key_id",
}
_CIRCUIT_STATES = ("closed", "open", "half_open", "cooling")
_BASE = ("gen_ai_operation_name", "gen_ai_request_model", "gen_ai_provider_name")
# Gauges summed over the live workers (the rest are the answering worker's own view).
_SUMMED_GAUGES = ("bastion_requests_in_flight", "bastion_queue_depth", "bastion_queue_flush_errors")


class _Bounded:
    """A label's values, capped: past ``limit`` distinct values, new ones read "other"."""

    __slots__ = ("_limit", "_seen")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: set[str] = set()

    def __call__(self, value: str | None) -> str:
        if not value:
            return ""
        if value in self._seen:
            return value
        if len(self._seen) >= self._limit:
            return "other"
        self._seen.add(value)
        return value


class GatewayMetrics:
    """The gateway's metrics: counts kept per label combination, families built at scrape."""

    def __init__(self, settings: MetricsConfig) -> None:
        self.settings = settings
        self.directory = os.environ.get(MULTIPROC_ENV) or None
        self.multiprocess = self.directory is not None
        self.attribution = tuple(f"{label}_id" for label in settings.labels)
        # Where each attribution label's id is in the facts' key.
        self._attr = tuple(KEY_FIELDS.index(_ATTRIBUTION[label]) for label in settings.labels)
        self._series: dict[tuple[Any, ...], Series] = {}
        self._by_labels: dict[tuple[str, ...], Series] = {}
        # Guardrail verdicts by (detector, action, org id, team id): /metrics sums them by
        # detector and action; the hub's Quality page reads them by scope.
        self.verdicts: dict[tuple[str, str, str, str], int] = {}
        self.gauges: dict[str, dict[tuple[str, ...], float]] = {}
        limit = settings.max_label_values
        self._models = _Bounded(limit)
        self._providers = _Bounded(limit)
        self._errors = _Bounded(limit)
        self._ids = _Bounded(limit)
        self._detectors = _Bounded(200)
        self._scopes = _Bounded(limit)  # org and team ids of verdicts

    # --- the request path ----------------------------------------------------------------

    def __call__(self, f: RequestFacts, ctx: RequestContext | None = None) -> None:
        """Record one finished request: the observing finisher's part (``ctx`` unused;
        no wrapper around ``observe``, one call frame less per request)."""
        key = f.key
        s = self._series.get(key)
        if s is None:
            s = self._new_series(key)
        s.requests += 1
        seconds = f.duration_ns / 1e9
        h = s.duration
        h[bisect_left(DURATION_BUCKETS, seconds)] += 1
        h[DURATION_SUM] += seconds
        overhead = (f.duration_ns - f.upstream_ns) / 1e9 if f.duration_ns > f.upstream_ns else 0.0
        h = s.overhead
        h[bisect_left(OVERHEAD_BUCKETS, overhead)] += 1
        h[OVERHEAD_SUM] += overhead
        if f.ttft_ns is not None:
            ttft = f.ttft_ns / 1e9
            h = s.ttft
            h[bisect_left(TTFT_BUCKETS, ttft)] += 1
            h[TTFT_SUM] += ttft
        prompt, completion = f.prompt_tokens, f.completion_tokens
        if prompt or completion:
            s.input += prompt
            s.output += completion
            s.cached += f.cached_tokens
            h = s.tok_in
            h[TOKEN_INDEX[prompt] if prompt <= TOKEN_INDEXED else bisect_left(TOKEN_BUCKETS, prompt)] += 1  # fmt: skip
            h[TOKEN_SUM] += prompt
            h = s.tok_out
            h[TOKEN_INDEX[completion] if completion <= TOKEN_INDEXED else bisect_left(TOKEN_BUCKETS, completion)] += 1  # fmt: skip
            h[TOKEN_SUM] += completion
        if f.cost_nusd:
            s.spend += f.cost_nusd
        if f.verdicts:
            org, team = self._scopes(f.org_id), self._scopes(f.team_id)
            verdicts = self.verdicts
            for v in f.verdicts:
                k = (self._detectors(v["detector"]), str(v["action"]), org, team)
                verdicts[k] = verdicts.get(k, 0) + int(v.get("count") or 1)

    observe = __call__

    def _new_series(self, key: tuple[Any, ...]) -> Series:
        endpoint, _, model, _, provider, _, status, error = key[:8]
        labels = (
            "embeddings" if endpoint == "embeddings" else "chat",
            self._models(model),
            self._providers(provider),
            *(self._ids(key[i]) for i in self._attr),
            str(status),
            self._errors(error),
        )
        series = self._by_labels.get(labels)  # another raw key may bound to the same labels
        if series is None:
            series = self._by_labels[labels] = Series(labels)
        if len(self._series) < _SERIES_LIMIT:
            self._series[key] = series
        return series

    # --- scrape-time values --------------------------------------------------------------

    def set_gauge(self, name: str, labels: tuple[str, ...], value: float) -> None:
        self.gauges.setdefault(name, {})[labels] = value

    def set_queues(self, depths: Iterable[tuple[str, int, int]]) -> None:
        for queue, depth, errors in depths:
            self.set_gauge("bastion_queue_depth", (queue,), depth)
            self.set_gauge("bastion_queue_flush_errors", (queue,), errors)

    def set_budgets(self, budgets: Iterable[tuple[str, str, str, float, float]]) -> None:
        self.gauges.pop("bastion_budget_limit_usd", None)
        self.gauges.pop("bastion_budget_remaining_usd", None)
        for scope, scope_id, period, limit, remaining in budgets:
            self.set_gauge("bastion_budget_limit_usd", (scope, scope_id, period), limit)
            self.set_gauge("bastion_budget_remaining_usd", (scope, scope_id, period), remaining)

    def set_deployments(self, snapshot: Sequence[dict[str, Any]]) -> None:
        for d in snapshot:
            label = str(d.get("deployment"))
            for state in _CIRCUIT_STATES:
                value = 1 if state == d.get("state") else 0
                self.set_gauge("bastion_deployment_circuit_state", (label, state), value)
            window = d.get("window") or {}
            rate = float(window.get("error_rate") or 0.0)
            self.set_gauge("bastion_deployment_error_rate", (label,), rate)

    # --- several workers ---------------------------------------------------------------

    def snapshot(self) -> bytes:
        return orjson.dumps(
            {
                "pid": os.getpid(),
                "series": [s.dump() for s in self._by_labels.values()],
                "verdicts": [[*k, v] for k, v in self.verdicts.items()],
                "gauges": {n: [[*k, v] for k, v in g.items()] for n, g in self.gauges.items()},
            }
        )

    def write_snapshot(self, data: bytes | None = None) -> None:
        """This worker's counts, to its file in the shared directory (atomically).

        Off the event loop: take ``data`` with :meth:`snapshot` on the loop first.
        """
        if self.directory is None:
            return
        path = Path(self.directory) / f"bastion-{os.getpid()}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(self.snapshot() if data is None else data)
        tmp.replace(path)

    # --- exposition ------------------------------------------------------------------------

    def exposition(self) -> bytes:
        """This process's metrics in the text format (on the event loop: it reads the series)."""
        return text(
            families(self.attribution, self._by_labels.values(), self.verdicts, self.gauges)
        )

    def merged_exposition(self, snapshot: bytes) -> bytes:
        """Every worker's metrics summed (off the loop: ``snapshot`` is this worker's)."""
        self.write_snapshot(snapshot)
        return text(families(self.attribution, *merged(str(self.directory))))

    def names(self) -> set[str]:
        """Every metric family's name (counters without ``_total``)."""
        return {m.name for m in families(self.attribution, (), {}, {})}
