"""Policy resolution: the strictest level wins, across org, team, user, app and key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from bastion.governance.cache import GovernanceCache
from bastion.governance.policy import PolicySpec, ScopeLimits, period_window, resolve
from bastion.store.governance_store import Snapshot


def _row(id: str, policy: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"id": id, "name": id, "policy": policy, "meta": {}, "created_at": 0.0, **extra}


def _key(id: str, policy: dict[str, Any], **owners: Any) -> dict[str, Any]:
    fields = {
        "digest": "d-" + id,
        "prefix": "bst-" + id,
        "previous_digest": None,
        "previous_expires_at": None,
        "org_id": None,
        "team_id": None,
        "user_id": None,
        "app_id": None,
        "role": "user",
        "expires_at": None,
        "revoked_at": None,
        "rotated_at": None,
    }
    return _row(id, policy, **{**fields, **owners})


def test_the_strictest_level_wins_along_the_chain_from_org_to_key() -> None:
    snapshot = Snapshot(
        revision=7,
        orgs=[
            _row(
                "org1",
                {
                    "models": ["openai/*", "anthropic/*"],
                    "max_tokens": 4000,
                    "rpm": 1000,
                    "budget": {"amount_usd": 500, "period": "monthly"},
                },
            )
        ],
        # The team narrows the models and the endpoints, and has its own rate limit.
        teams=[
            _row(
                "team1",
                {"models": ["openai/gpt-4o*"], "endpoints": ["chat"], "rpm": 100},
                org_id="org1",
            )
        ],
        # The user is in the team through its own row; the key does not name the team.
        users=[_row("user1", {"max_tokens": 1000, "tpm": 5000}, org_id="org1", team_id="team1")],
        apps=[_row("app1", {"max_concurrent": 3}, org_id="org1")],
        # The key asks for more than its levels allow (rpm 10_000, max_tokens 8000): it gets
        # the stricter values; its own rpm of 10 counts separately.
        keys=[
            _key(
                "key1",
                {"models": ["*"], "max_tokens": 8000, "rpm": 10, "budget": {"amount_usd": 5}},
                user_id="user1",
                app_id="app1",
            )
        ],
    )
    cache = GovernanceCache()
    cache.build(snapshot)
    entry = cache.entry("key1")
    assert entry is not None
    principal = entry.principal
    assert (principal.org_id, principal.team_id, principal.user_id, principal.app) == (
        "org1",
        "team1",
        "user1",
        "app1",
    )
    assert entry.chain == (
        ("org", "org1"),
        ("team", "team1"),
        ("user", "user1"),
        ("app", "app1"),
        ("key", "key1"),
    )
    policy = entry.policy
    assert policy.allows_model("openai/gpt-4o-mini")
    assert policy.allows_model("openai/gpt-4o")
    assert not policy.allows_model("openai/gpt-4.1")  # the team's list
    assert not policy.allows_model("anthropic/claude-sonnet-4-0")  # the team's list
    assert not policy.allows_model("mistral/mistral-large")  # the org's list
    assert policy.allows_endpoint("chat") and not policy.allows_endpoint("embeddings")
    assert policy.max_tokens == 1000  # min(4000, 1000, 8000)
    assert (policy.rpm, policy.tpm, policy.max_concurrent) == (10, 5000, 3)
    assert policy.scopes == (
        ScopeLimits("org", "org1", 1000, None, None, 500_000_000_000, "monthly"),
        ScopeLimits("team", "team1", 100, None, None, None, "total"),
        ScopeLimits("user", "user1", None, 5000, None, None, "total"),
        ScopeLimits("app", "app1", None, None, 3, None, "total"),
        ScopeLimits("key", "key1", 10, None, None, 5_000_000_000, "monthly"),
    )
    assert cache.revision == 7


def test_endpoint_lists_intersect_and_an_empty_model_list_allows_nothing() -> None:
    policy = resolve(
        [
            ("org", "o", PolicySpec(endpoints=["chat", "embeddings"])),
            ("team", "t", PolicySpec(endpoints=["embeddings"])),
            ("key", "k", PolicySpec(models=[])),
        ]
    )
    assert policy.endpoints == frozenset({"embeddings"})
    assert not policy.allows_model("bastion/echo")
    unrestricted = resolve([("key", "k", PolicySpec())])
    assert unrestricted.allows_model("anything/at-all") and unrestricted.scopes == ()


@pytest.mark.parametrize(
    "policy",
    [
        {"rpm": -1},
        {"rpm": 0},
        {"tpm": 10**12},
        {"max_concurrent": 0},
        {"budget": {"amount_usd": -5}},
        {"budget": {"amount_usd": 0}},
        {"budget": {"amount_usd": 10**9}},
        {"budget": {"amount_usd": 5, "period": "hourly"}},
        {"models": ["has space"]},
        {"endpoints": ["completions"]},
        {"unknown": 1},
    ],
)
def test_negative_or_absurd_limits_are_refused(policy: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        PolicySpec.model_validate(policy)


def test_budget_periods_are_calendar_periods_in_utc() -> None:
    now = datetime(2026, 11, 25, 21, 30, tzinfo=UTC).timestamp()  # a Wednesday
    daily = period_window("daily", now)
    assert daily.id == "d2026-11-25"
    assert daily.start == datetime(2026, 11, 25, tzinfo=UTC).timestamp()
    assert daily.end == datetime(2026, 11, 26, tzinfo=UTC).timestamp()
    weekly = period_window("weekly", now)
    assert weekly.id == "w2026-11-23"
    assert weekly.end == datetime(2026, 11, 30, tzinfo=UTC).timestamp()
    monthly = period_window("monthly", now)
    assert monthly.id == "m2026-11"
    assert monthly.end == datetime(2026, 12, 1, tzinfo=UTC).timestamp()
    december = period_window("monthly", datetime(2026, 12, 31, 23, tzinfo=UTC).timestamp())
    assert december.end == datetime(2027, 1, 1, tzinfo=UTC).timestamp()
    total = period_window("total", now)
    assert (total.id, total.start, total.end) == ("total", None, None)
