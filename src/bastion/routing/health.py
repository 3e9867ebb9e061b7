"""What the router knows of each deployment: its circuit breaker, latency, load and quota.

One :class:`DeploymentHealth` per upstream target (``provider/model``), shared by every
group that names it, in memory, per process. Nothing here awaits or allocates on the
healthy path: admitting a request to a closed circuit is one attribute test.

The breaker::

    closed ──(N failures in a row, or failure rate ≥ r over the window)──► open
    open ──(cool-down elapsed; the next request is the one probe)──► half-open
    half-open ──probe answers──► closed        half-open ──probe fails──► open

A provider's 429 does not open the circuit: it *cools* that deployment alone until its
``Retry-After`` (capped), after which requests flow again without a probe.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from bastion.providers.base import Deployment

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
# What admit() grants: no attempt, an ordinary attempt, or the half-open probe.
DENY, NORMAL, PROBE = 0, 1, 2
_BUCKETS = 10  # the failure window is counted in this many slices
_TRACKED_LIMIT = 4096  # bounded: clients choose provider/model names


@dataclass(frozen=True, slots=True)
class HealthSettings:
    window: float = 30.0
    min_requests: int = 10
    failure_rate: float = 0.5
    consecutive_failures: int = 5
    cooldown: float = 15.0
    rate_limit_cooldown: float = 5.0
    max_rate_limit_cooldown: float = 60.0
    smoothing: float = 0.3  # EWMA weight of the newest latency sample
    probe_interval: float = 10.0  # least_latency re-measures an idle deployment this often


class DeploymentHealth:
    """Breaker, latency (EWMA of time to first token and of total time), in-flight, quota."""

    __slots__ = (
        "_bucket_len",
        "_fails",
        "_ids",
        "_minute",
        "_req",
        "_req_prev",
        "_tok",
        "_tok_prev",
        "_totals",
        "consecutive",
        "cooling_until",
        "in_flight",
        "label",
        "last_error",
        "last_sample",
        "latency_probe_at",
        "opened_until",
        "probing",
        "region",
        "rpm",
        "settings",
        "state",
        "total_failures",
        "total_ms",
        "total_requests",
        "tpm",
        "ttft_ms",
    )

    def __init__(self, label: str, settings: HealthSettings, deployment: Deployment) -> None:
        self.label = label
        self.settings = settings
        self.region = deployment.region
        self.rpm = deployment.rpm
        self.tpm = deployment.tpm
        self.state = CLOSED
        self.opened_until = 0.0
        self.probing = False
        self.cooling_until = 0.0  # 0: not cooling (a 429 sets it)
        self.consecutive = 0
        self._bucket_len = settings.window / _BUCKETS
        self._ids = [-1] * _BUCKETS
        self._totals = [0] * _BUCKETS
        self._fails = [0] * _BUCKETS
        self.in_flight = 0
        self.ttft_ms: float | None = None
        self.total_ms: float | None = None
        self.last_sample = 0.0
        self.latency_probe_at = 0.0
        self.total_requests = 0
        self.total_failures = 0
        self.last_error: str | None = None
        self._minute = -1
        self._req = self._req_prev = 0
        self._tok = self._tok_prev = 0

    # -- admission ------------------------------------------------------------------------

    def admit(self) -> int:
        """Claim an attempt: NORMAL, PROBE (the single half-open request) or DENY."""
        if self.state is CLOSED:
            if not self.cooling_until:
                return NORMAL
            if time.monotonic() < self.cooling_until:
                return DENY
            self.cooling_until = 0.0
            return NORMAL
        if self.state is OPEN:
            if time.monotonic() < self.opened_until:
                return DENY
            self.state = HALF_OPEN
        if self.probing:
            return DENY
        self.probing = True
        return PROBE

    def available(self, now: float) -> bool:
        """Whether :meth:`admit` would let a request through (claims nothing)."""
        if self.state is CLOSED:
            return self.cooling_until <= now
        if self.state is OPEN:
            return now >= self.opened_until
        return not self.probing

    def retry_in(self, now: float) -> float:
        """Seconds until this deployment takes requests again (0 when it does now)."""
        if self.state is OPEN:
            return max(self.opened_until - now, 0.0)
        if self.state is HALF_OPEN and self.probing:
            return self.settings.cooldown
        return max(self.cooling_until - now, 0.0)

    # -- outcomes -------------------------------------------------------------------------

    def begin(self) -> None:
        self.in_flight += 1
        if self.rpm is not None or self.tpm is not None:
            self._roll(time.monotonic())
            self._req += 1

    def end(self) -> None:
        self.in_flight -= 1

    def succeeded(
        self, ticket: int, now: float, ttft_ms: float | None = None, total_ms: float | None = None
    ) -> None:
        """The deployment answered (a stream: its first byte arrived), with its latency."""
        self._count(now, False)
        self.consecutive = 0
        if ticket == PROBE:
            self._close()
        if ttft_ms is not None or total_ms is not None:
            self.sample(now, ttft_ms, total_ms)

    def sample(self, now: float, ttft_ms: float | None, total_ms: float | None) -> None:
        """Fold latency samples into the moving averages (a stale average is replaced)."""
        alpha = self.settings.smoothing
        if now - self.last_sample > self.settings.probe_interval:
            alpha = 1.0  # not measured for a while: the old average says nothing now
        if ttft_ms is not None:
            old = self.ttft_ms
            self.ttft_ms = ttft_ms if old is None else old + alpha * (ttft_ms - old)
        if total_ms is not None:
            old = self.total_ms
            self.total_ms = total_ms if old is None else old + alpha * (total_ms - old)
        self.last_sample = now

    def failed(self, ticket: int, now: float, code: str | None) -> None:
        """The deployment failed (5xx, timeout, connection, bad credentials, a cut stream)."""
        self.last_error = code
        self._count(now, True)
        self.consecutive += 1
        s = self.settings
        if ticket == PROBE:
            self._open(now)
        elif self.state is CLOSED:
            if self.consecutive >= s.consecutive_failures:
                self._open(now)
            else:
                total, failures = self.window_counts(now)
                if total >= s.min_requests and failures >= s.failure_rate * total:
                    self._open(now)

    def rate_limited(self, ticket: int, now: float, retry_after: float | None) -> None:
        """A provider 429: cool this deployment only, for its Retry-After (capped)."""
        s = self.settings
        wait = s.rate_limit_cooldown if retry_after is None else retry_after
        self.cooling_until = now + min(max(wait, 0.0), s.max_rate_limit_cooldown)
        self.last_error = "rate_limited"
        self._count(now, False)
        if ticket == PROBE:  # it answered: it is up, only busy
            self._close()

    def answered(self, ticket: int, now: float) -> None:
        """An answer that says nothing about health (a 4xx about the request itself)."""
        self._count(now, False)
        if ticket == PROBE:
            self._close()

    def released(self, ticket: int) -> None:
        """The attempt ended with no verdict (the client left): free the probe slot."""
        if ticket == PROBE:
            self.probing = False

    def add_tokens(self, tokens: int) -> None:
        if self.tpm is not None and tokens > 0:
            self._roll(time.monotonic())
            self._tok += tokens

    # -- latency probes (least_latency) ---------------------------------------------------

    def latency_due(self, now: float) -> bool:
        """Claim a measurement: never measured, or idle for ``probe_interval``.

        One claim per interval, so a burst of requests does not all go to a deployment
        nobody has measured yet (it may be the slow one).
        """
        interval = self.settings.probe_interval
        if now - self.latency_probe_at <= interval:
            return False
        if not self.last_sample or now - self.last_sample > interval:
            self.latency_probe_at = now
            return True
        return False

    # -- quota ----------------------------------------------------------------------------

    def quota_used(self, now: float) -> float:
        """The share of the provider quota used over the last minute (1.0 = at the quota)."""
        if self.rpm is None and self.tpm is None:
            return 0.0
        self._roll(now)
        carry = 1.0 - (now % 60.0) / 60.0  # the previous minute's share still in the window
        used = 0.0
        if self.rpm:
            used = (self._req_prev * carry + self._req) / self.rpm
        if self.tpm:
            used = max(used, (self._tok_prev * carry + self._tok) / self.tpm)
        return used

    def _roll(self, now: float) -> None:
        minute = int(now // 60.0)
        if minute != self._minute:
            same = minute == self._minute + 1
            self._req_prev = self._req if same else 0
            self._tok_prev = self._tok if same else 0
            self._req = self._tok = 0
            self._minute = minute

    # -- the failure window ---------------------------------------------------------------

    def _count(self, now: float, failed: bool) -> None:
        index = int(now / self._bucket_len)
        slot = index % _BUCKETS
        if self._ids[slot] != index:
            self._ids[slot] = index
            self._totals[slot] = 0
            self._fails[slot] = 0
        self._totals[slot] += 1
        self.total_requests += 1
        if failed:
            self._fails[slot] += 1
            self.total_failures += 1

    def window_counts(self, now: float) -> tuple[int, int]:
        """(attempts, failures) over the window."""
        index = int(now / self._bucket_len)
        total = failures = 0
        for slot in range(_BUCKETS):
            if index - _BUCKETS < self._ids[slot] <= index:
                total += self._totals[slot]
                failures += self._fails[slot]
        return total, failures

    def _open(self, now: float) -> None:
        self.state = OPEN
        self.opened_until = now + self.settings.cooldown
        self.probing = False

    def _close(self) -> None:
        self.state = CLOSED
        self.probing = False
        self.consecutive = 0
        self._ids = [-1] * _BUCKETS  # a recovered deployment starts with a clean window

    def snapshot(self, now: float) -> dict[str, Any]:
        total, failures = self.window_counts(now)
        state = self.state
        if state is CLOSED and self.cooling_until > now:
            state = "cooling"
        elif state is OPEN and now >= self.opened_until:
            state = "half_open"  # the next request is its probe
        return {
            "deployment": self.label,
            "region": self.region,
            "state": state,
            "retry_in_s": round(self.retry_in(now), 3),
            "in_flight": self.in_flight,
            "latency_ms": {
                "ttft_ewma": None if self.ttft_ms is None else round(self.ttft_ms, 2),
                "total_ewma": None if self.total_ms is None else round(self.total_ms, 2),
            },
            "window": {
                "seconds": self.settings.window,
                "requests": total,
                "failures": failures,
                "error_rate": round(failures / total, 4) if total else 0.0,
            },
            "consecutive_failures": self.consecutive,
            "requests": self.total_requests,
            "failures": self.total_failures,
            "last_error": self.last_error,
            "quota": None
            if self.rpm is None and self.tpm is None
            else {"rpm": self.rpm, "tpm": self.tpm, "used": round(self.quota_used(now), 4)},
        }


class HealthBoard:
    """Every deployment's :class:`DeploymentHealth`, found by identity in one dict lookup."""

    def __init__(self, settings: HealthSettings) -> None:
        self.settings = settings
        # id(deployment) -> (deployment, health): the deployment is kept, so its id stays its own.
        self._by_id: dict[int, tuple[Deployment, DeploymentHealth]] = {}
        self._by_label: dict[str, DeploymentHealth] = {}

    def of(self, deployment: Deployment) -> DeploymentHealth:
        entry = self._by_id.get(id(deployment))
        if entry is not None and entry[0] is deployment:
            return entry[1]
        return self._add(deployment)

    def _add(self, deployment: Deployment) -> DeploymentHealth:
        label = deployment.label
        health = self._by_label.get(label)
        if health is None:
            health = DeploymentHealth(label, self.settings, deployment)
            if len(self._by_label) >= _TRACKED_LIMIT:
                return health  # past the bound: served, but not remembered
            self._by_label[label] = health
        if len(self._by_id) < _TRACKED_LIMIT:
            self._by_id[id(deployment)] = (deployment, health)
        return health

    def snapshot(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [h.snapshot(now) for _, h in sorted(self._by_label.items())]
