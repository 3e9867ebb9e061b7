"""least_latency's ordering from the health board: latency weighted by the in-flight share."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from bastion.accounting.pricing import PriceCatalog
from bastion.config import PricingConfig
from bastion.providers.base import Deployment, ProviderSettings
from bastion.providers.registry import PROVIDER_KINDS
from bastion.routing.health import HealthBoard, HealthSettings
from bastion.routing.strategies import Strategies


def _deployment(provider: str) -> Deployment:
    return Deployment(
        "g",
        "m",
        ProviderSettings(provider, "openai_compatible", "http://127.0.0.1:9/v1"),
        PROVIDER_KINDS["openai_compatible"].adapter,
    )


def _order(
    state: dict[str, tuple[float, int]], silent: dict[str, float] | None = None
) -> list[str]:
    """The order for a plain request; ``state``: provider -> (total ms EWMA, in flight);
    ``silent``: provider -> seconds since its last answer (default: it just answered)."""
    board = HealthBoard(HealthSettings())
    now = time.monotonic()
    deployments = tuple(_deployment(p) for p in state)
    for d in deployments:
        h = board.of(d)
        total_ms, in_flight = state[d.provider.name]
        h.sample(now - (silent or {}).get(d.provider.name, 0.0), None, total_ms)
        h.latency_probe_at = now  # measured just now: no re-measurement due
        h.in_flight = in_flight
    ctx: Any = SimpleNamespace(stream=False)
    strategies = Strategies(board, PriceCatalog(PricingConfig(), {}))
    return [d.provider.name for d in strategies.least_latency(deployments, ctx)]


def test_equally_fast_deployments_share_by_requests_in_flight() -> None:
    assert _order({"a": (10.0, 5), "b": (10.0, 3), "c": (10.0, 4)}) == ["b", "c", "a"]


def test_a_busy_fast_deployment_still_beats_one_several_times_slower() -> None:
    # At concurrency 64 the fast one holds every request in flight (the gateway's own
    # queueing is in its average too); a deployment 3.5x slower must not get a share.
    assert _order({"slow": (70.0, 0), "fast": (20.0, 60)}) == ["fast", "slow"]
    assert _order({"slow": (35.0, 0), "fast": (20.0, 60)}) == ["fast", "slow"]
    # Within 1.5x of the busy one's latency, the idle one is preferred.
    assert _order({"slow": (28.0, 0), "fast": (20.0, 60)}) == ["slow", "fast"]


def test_one_piling_up_requests_loses_to_an_equal_one_at_once() -> None:
    # Same average so far, but a has stopped answering: its requests pile up.
    assert _order({"a": (10.0, 30), "b": (10.0, 2)}) == ["b", "a"]


def test_one_that_stopped_answering_loses_before_its_average_catches_up() -> None:
    # a was the fastest by far, but nothing came back for 400 ms with requests in flight.
    assert _order({"a": (10.0, 8), "b": (80.0, 1)}, silent={"a": 0.4}) == ["b", "a"]
    # Idle (nothing in flight), the time since its last answer says nothing.
    assert _order({"a": (10.0, 0), "b": (80.0, 1)}, silent={"a": 5.0}) == ["a", "b"]
