"""The router's pure parts: breaker arithmetic, Retry-After, backoff, classification, config."""

from __future__ import annotations

import email.utils
import time

import pytest

from bastion.config import ConfigError, parse_config
from bastion.errors import GatewayError
from bastion.governance.policy import PolicySpec, resolve
from bastion.providers.base import Deployment, ProviderSettings
from bastion.providers.registry import PROVIDER_KINDS
from bastion.routing.health import (
    CLOSED,
    DENY,
    NORMAL,
    OPEN,
    PROBE,
    DeploymentHealth,
    HealthSettings,
)
from bastion.routing.plan import in_regions
from bastion.routing.retry import (
    BROKEN,
    CONTENT,
    CONTEXT,
    FATAL,
    RATE,
    RETRY,
    backoff,
    classify,
    retry_after,
)

_DEPLOYMENT = Deployment(
    "g",
    "m",
    ProviderSettings("p", "openai_compatible", "http://127.0.0.1:9/v1"),
    PROVIDER_KINDS["openai_compatible"].adapter,
)


def _health(**settings: float) -> DeploymentHealth:
    return DeploymentHealth("p/m", HealthSettings(**settings), _DEPLOYMENT)  # type: ignore[arg-type]


def test_the_failure_rate_opens_the_circuit_once_enough_requests_were_seen() -> None:
    h = _health(window=10, min_requests=4, failure_rate=0.5, consecutive_failures=100)
    now = time.monotonic()
    h.succeeded(NORMAL, now)
    h.failed(NORMAL, now, "upstream_error")
    h.succeeded(NORMAL, now)
    assert h.state == CLOSED  # 1 of 3: too few to judge
    h.failed(NORMAL, now, "upstream_error")
    assert h.state == OPEN  # 2 of 4 = 50 %
    assert h.window_counts(now) == (4, 2)


def test_failures_older_than_the_window_are_forgotten() -> None:
    h = _health(window=1, min_requests=2, failure_rate=0.5, consecutive_failures=100)
    old = time.monotonic() - 5
    h.failed(NORMAL, old, "upstream_error")
    now = time.monotonic()
    assert h.window_counts(now) == (0, 0)
    h.succeeded(NORMAL, now)
    h.succeeded(NORMAL, now)
    assert h.state == CLOSED


def test_one_probe_at_a_time_and_its_answer_decides() -> None:
    h = _health(consecutive_failures=2, cooldown=0.05)
    now = time.monotonic()
    h.failed(NORMAL, now, "upstream_timeout")
    h.failed(NORMAL, now, "upstream_timeout")
    assert (h.state, h.admit()) == (OPEN, DENY)
    time.sleep(0.06)
    assert h.admit() == PROBE
    assert h.admit() == DENY  # the probe is out
    h.released(PROBE)  # its client left: no verdict, the next one probes
    assert h.admit() == PROBE
    h.failed(PROBE, time.monotonic(), "upstream_timeout")
    assert (h.state, h.admit()) == (OPEN, DENY)
    time.sleep(0.06)
    assert h.admit() == PROBE
    h.succeeded(PROBE, time.monotonic())
    assert (h.state, h.admit(), h.consecutive) == (CLOSED, NORMAL, 0)


def test_a_429_cools_for_its_retry_after_within_the_cap() -> None:
    h = _health(max_rate_limit_cooldown=0.1, rate_limit_cooldown=0.05)
    now = time.monotonic()
    h.rate_limited(NORMAL, now, 30.0)
    assert h.cooling_until == pytest.approx(now + 0.1)
    assert h.admit() == DENY and h.state == CLOSED
    time.sleep(0.11)
    assert h.admit() == NORMAL and h.cooling_until == 0.0
    h.rate_limited(NORMAL, time.monotonic(), None)  # no Retry-After: the default
    assert h.snapshot(time.monotonic())["state"] == "cooling"


def test_the_quota_window_counts_requests_per_minute() -> None:
    d = Deployment("g", "m", _DEPLOYMENT.provider, _DEPLOYMENT.adapter, rpm=4)
    h = DeploymentHealth("p/m", HealthSettings(), d)
    for _ in range(2):
        h.begin()
        h.end()
    assert h.quota_used(time.monotonic()) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_is_read_in_each_form(headers: dict[str, str], seconds: float | None) -> None:
    assert retry_after(headers) == seconds


def test_retry_after_as_an_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert retry_after({"retry-after": when}) == pytest.approx(30, abs=1.5)


def test_backoff_doubles_with_jitter_under_the_cap() -> None:
    for round_, top in ((1, 0.2), (2, 0.4), (3, 0.8), (6, 2.0)):
        delays = [backoff(round_, 0.2, 2.0) for _ in range(200)]
        assert all(top / 2 <= d <= top for d in delays)
        assert max(delays) - min(delays) > top / 10  # jittered


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (GatewayError(502, "x", code="upstream_error", retryable=True), RETRY),
        (GatewayError(504, "x", code="upstream_timeout", retryable=True), RETRY),
        (GatewayError(429, "x", code="rate_limit_exceeded", retryable=True), RATE),
        (GatewayError(400, "x", code="context_length_exceeded"), CONTEXT),
        (GatewayError(400, "prompt is too long: 210000 tokens > 200000 maximum"), CONTEXT),
        (GatewayError(400, "x", code="content_filter"), CONTENT),
        (GatewayError(400, "x", code="content_policy_violation"), CONTENT),
        (GatewayError(502, "x", code="upstream_auth_error"), BROKEN),
        (GatewayError(400, "x", code="invalid_value"), FATAL),
        (GatewayError(404, "x", code="model_not_found"), FATAL),
    ],
)
def test_errors_are_classified_for_the_router(error: GatewayError, kind: int) -> None:
    assert classify(error) == kind


def test_regions_match_by_prefix_and_every_set_must_allow() -> None:
    eu = (frozenset({"eu"}),)
    assert in_regions("eu", eu) and in_regions("eu-west-1", eu)
    assert not in_regions("europe-west4", eu) and not in_regions("us", eu)
    assert not in_regions(None, eu)
    assert not in_regions("eu-west", (frozenset({"eu"}), frozenset({"eu-central"})))


def test_routing_config_errors_name_the_path_and_line() -> None:
    text = """
providers:
  openai: {api_key: sk-test}
models:
  - {name: gpt, provider: openai, model: gpt-4o, region: EU}
routing:
  groups:
    gpt: {strategy: fastest, fallbacks: [claude, gpt]}
    ghost: {retries: 2}
  complexity:
    auto:
      tiers: [{model: gpt, max_score: 0.5}, {model: gpt, max_score: 0.4}, {model: gpt}]
  rules:
    - match: {team: research}
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "bastion.yaml", {})
    assert caught.value.problems == [
        "models[0].region (line 5): String should match pattern '^[a-z0-9][a-z0-9\\-]{0,62}$'",
        "routing.groups.gpt.strategy (line 8): Input should be 'priority', 'weighted', "
        "'least_latency', 'least_busy', 'lowest_cost' or 'usage_based'",
        "routing.complexity.auto.tiers (line 12): tiers go from the cheapest up: "
        "max_score must increase",
        "routing.rules[0] (line 14): a rule needs at least one of 'model', 'strategy' or 'regions'",
    ]
    fixed = text.replace("region: EU", "region: eu").replace("fastest", "weighted")
    fixed = fixed.replace("max_score: 0.4", "max_score: 0.6").replace(
        "- match: {team: research}", "- {match: {team: research}, model: gpt}"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(fixed, "bastion.yaml", {})
    assert caught.value.problems == [
        "routing.groups.ghost (line 9): no models: entry has this name",
        "routing.groups.gpt.fallbacks[0] (line 8): 'claude' is not a model name (a models: entry)",
        "routing.groups.gpt.fallbacks[1] (line 8): a group cannot fall back to itself",
    ]


def test_group_settings_fall_back_to_the_defaults() -> None:
    text = """
providers:
  openai: {api_key: sk-test}
models:
  - {name: gpt, provider: openai, model: gpt-4o, weight: 2, priority: 1, region: eu,
     context_window: 128000, capabilities: [tools, vision], rpm: 500, tpm: 30000,
     price: {input: 2.5, output: 10}}
routing:
  defaults: {strategy: least_latency, retries: 3, deadline: 30}
  groups:
    gpt: {retries: 0}
"""
    config = parse_config(text, "bastion.yaml", {})
    group = config.routing.group("gpt")
    assert (group.strategy, group.retries, group.deadline) == ("least_latency", 0, 30.0)
    assert config.routing.group("other").retries == 3
    model = config.models[0]
    assert (model.weight, model.priority, model.region, model.context_window) == (
        2,
        1,
        "eu",
        128000,
    )
    assert model.capabilities == ("tools", "vision")


def test_policy_regions_are_kept_per_level() -> None:
    policy = resolve(
        [
            ("org", "o", PolicySpec(regions=["eu"])),
            ("team", "t", PolicySpec()),
            ("key", "k", PolicySpec(regions=["eu-west", "eu-central"])),
        ]
    )
    assert policy.regions == (frozenset({"eu"}), frozenset({"eu-west", "eu-central"}))
    assert resolve([("key", "k", PolicySpec())]).regions == ()
    with pytest.raises(ValueError):
        PolicySpec(regions=["EU West"])
