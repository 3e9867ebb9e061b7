"""Prometheus families from the counts: one process's, or every worker's summed.

With several workers each writes its counts to ``bastion-<pid>.json`` in the shared
directory (``GatewayMetrics.write_snapshot``); :func:`merged` sums those files:
counters and histograms over every worker that ever ran since the start, the
in-flight and queue gauges over the live ones, the rest as the answering worker sees them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from bastion.observability.series import (
    DURATION_BUCKETS,
    OVERHEAD_BUCKETS,
    TOKEN_BUCKETS,
    TTFT_BUCKETS,
    Series,
)

_BASE = ("gen_ai_operation_name", "gen_ai_request_model", "gen_ai_provider_name")
# Gauges summed over the live workers (the rest are the answering worker's own view).
_SUMMED_GAUGES = ("bastion_requests_in_flight", "bastion_queue_depth", "bastion_queue_flush_errors")  # fmt: skip
Gauges = dict[str, dict[tuple[str, ...], float]]


Verdicts = dict[tuple[str, str, str, str], int]  # (detector, action, org id, team id)


def merged(directory: str) -> tuple[Iterable[Series], Verdicts, Gauges]:
    series: dict[tuple[str, ...], Series] = {}
    verdicts: Verdicts = {}
    gauges: Gauges = {}
    for path in sorted(Path(directory).glob("bastion-*.json")):
        try:
            data = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue
        mine = data["pid"] == os.getpid()
        for key, *values in data["series"]:
            s = series.get(tuple(key))
            if s is None:
                s = series[tuple(key)] = Series(tuple(key))
            s.add(values)
        for detector, action, org, team, count in data["verdicts"]:
            key = (detector, action, org, team)
            verdicts[key] = verdicts.get(key, 0) + count
        live = mine or _alive(data["pid"])
        for name, rows in data["gauges"].items():
            summed = name in _SUMMED_GAUGES
            if (summed and not live) or (not summed and not mine):
                continue
            target = gauges.setdefault(name, {})
            for *labels, value in rows:
                key = tuple(labels)
                target[key] = target.get(key, 0) + value if summed else value
    return series.values(), verdicts, gauges


def families(
    attribution: tuple[str, ...],
    series: Iterable[Series],
    verdicts: Verdicts,
    gauges: Gauges,
) -> Iterator[Metric]:
    attr = attribution
    n = len(attr)
    requests = CounterMetricFamily(
        "bastion_requests",
        "Requests answered, by status code.",
        labels=[*_BASE, *attr, "http_response_status_code"],
    )
    errors = CounterMetricFamily(
        "bastion_errors", "Failed requests, by error class.", labels=[*_BASE, "error_type"]
    )
    tokens = CounterMetricFamily(
        "bastion_tokens",
        "Tokens, by kind (input, output, cached input).",
        labels=["gen_ai_request_model", "gen_ai_provider_name", *attr, "gen_ai_token_type"],
    )
    spend = CounterMetricFamily(
        "bastion_spend_usd",
        "Spend in USD, at the catalogue's prices.",
        labels=["gen_ai_request_model", "gen_ai_provider_name", *attr],
    )
    sums: dict[str, dict[tuple[str, ...], Any]] = {
        k: {}
        for k in (
            "requests",
            "errors",
            "tokens",
            "spend",
            "duration",
            "overhead",
            "ttft",
            "usage",
        )
    }
    for s in series:
        op, model, provider, *ids_status_error = s.key
        ids = tuple(ids_status_error[:n])
        status, error = ids_status_error[n], ids_status_error[n + 1]
        _add(sums["requests"], (op, model, provider, *ids, status), s.requests)
        if error:
            _add(sums["errors"], (op, model, provider, error), s.requests)
        for kind, value in (("input", s.input), ("output", s.output), ("cached", s.cached)):
            if value or kind != "cached":
                _add(sums["tokens"], (model, provider, *ids, kind), value)
        _add(sums["spend"], (model, provider, *ids), s.spend)
        _add_hist(sums["duration"], (op, model, provider, error), s.duration)
        _add_hist(sums["overhead"], (op,), s.overhead)
        if s.ttft[-1] or any(s.ttft[:-1]):
            _add_hist(sums["ttft"], (op, model, provider), s.ttft)
        if any(s.tok_in[:-1]):
            _add_hist(sums["usage"], (op, model, provider, "input"), s.tok_in)
            _add_hist(sums["usage"], (op, model, provider, "output"), s.tok_out)
    for labels, value in sums["requests"].items():
        requests.add_metric(labels, value)
    for labels, value in sums["errors"].items():
        errors.add_metric(labels, value)
    for labels, value in sums["tokens"].items():
        tokens.add_metric(labels, value)
    for labels, value in sums["spend"].items():
        spend.add_metric(labels, value / 1e9)
    yield from (requests, errors, tokens, spend)
    yield _histogram(
        "gen_ai_server_request_duration_seconds",
        "Time to the last byte of the answer.",
        [*_BASE, "error_type"],
        DURATION_BUCKETS,
        sums["duration"],
    )
    yield _histogram(
        "gen_ai_server_time_to_first_token_seconds",
        "Time to the first streamed byte of the answer.",
        list(_BASE),
        TTFT_BUCKETS,
        sums["ttft"],
    )
    yield _histogram(
        "bastion_gateway_overhead_seconds",
        "The gateway's own time: the request's time less the upstream's.",
        ["gen_ai_operation_name"],
        OVERHEAD_BUCKETS,
        sums["overhead"],
    )
    yield _histogram(
        "gen_ai_client_token_usage",
        "Tokens per request, input and output.",
        [*_BASE, "gen_ai_token_type"],
        TOKEN_BUCKETS,
        sums["usage"],
    )
    verdict_family = CounterMetricFamily(
        "bastion_guardrail_verdicts",
        "Guardrail verdicts, by detector and action.",
        labels=["detector", "action"],
    )
    by_action: dict[tuple[str, ...], Any] = {}
    for (detector, action, _, _), count in verdicts.items():
        _add(by_action, (detector, action), count)
    for labels, count in by_action.items():
        verdict_family.add_metric(list(labels), count)
    yield verdict_family
    for name, (doc, labels) in _GAUGES.items():
        gauge = GaugeMetricFamily(name, doc, labels=list(labels))
        for key, level in gauges.get(name, {}).items():
            gauge.add_metric(list(key), level)
        yield gauge


_GAUGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "bastion_requests_in_flight": ("Requests being served.", ()),
    "bastion_queue_depth": (
        "Records waiting to be written (spend ledger, audit log, access log).",
        ("queue",),
    ),
    "bastion_queue_flush_errors": ("Failed writes of queued records (per queue).", ("queue",)),
    "bastion_budget_remaining_usd": (
        "What is left of each budget in its current period.",
        ("scope", "scope_id", "period"),
    ),
    "bastion_budget_limit_usd": (
        "Each budget's amount per period.",
        ("scope", "scope_id", "period"),
    ),
    "bastion_deployment_circuit_state": (
        "1 for each deployment's current circuit state.",
        ("deployment", "state"),
    ),
    "bastion_deployment_error_rate": (
        "Each deployment's failure rate over the breaker's window.",
        ("deployment",),
    ),
}


def text(families: Iterable[Metric]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(list(families)))
    return generate_latest(registry)


class _Families:
    """A collector over families built already (one scrape)."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def _add(target: dict[tuple[str, ...], Any], key: tuple[str, ...], value: float) -> None:
    target[key] = target.get(key, 0) + value


def _add_hist(
    target: dict[tuple[str, ...], list[float]], key: tuple[str, ...], h: list[float]
) -> None:
    found = target.get(key)
    if found is None:
        target[key] = list(h)
    else:
        for i, v in enumerate(h):
            found[i] += v


def _histogram(
    name: str,
    doc: str,
    labels: list[str],
    bounds: Sequence[float],
    data: dict[tuple[str, ...], list[float]],
) -> HistogramMetricFamily:
    base = name.removesuffix("_seconds")
    unit = "seconds" if name.endswith("_seconds") else ""
    family = HistogramMetricFamily(base, doc, labels=labels, unit=unit)
    for key, h in data.items():
        cumulative, buckets = 0.0, []
        for bound, count in zip((*(repr(float(b)) for b in bounds), "+Inf"), h[:-1], strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        family.add_metric(list(key), buckets, h[-1])
    return family


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
