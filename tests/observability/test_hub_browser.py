"""The monitoring hub in a real browser (Debian's headless Chromium, driven by Playwright)
against a running gateway with a seeded data set.

Skipped when Chromium or Playwright is missing, except under
BASTION_TEST_REQUIRE_SERVICES=1 (CI, whose .ci/run installs both), where that fails.
Screenshots go to test-artifacts/hub/.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bastion.store.schema import spend_ledger
from tests.conftest import MASTER_KEY, RunningGateway
from tests.governance.helpers import Client, client, governed_gateway, settings

CHROMIUM = "/usr/bin/chromium"
EMAIL_POLICY = {
    "policies": {"mail": {"rules": [{"detectors": ["email"], "action": "pseudonymise"}]}},
    "attach": {"models": {"bastion/echo": ["mail"]}},
}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "hub"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _require_browser() -> Any:
    problem = None
    if not Path(CHROMIUM).exists():
        problem = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        problem = problem or "the playwright package is not installed (pip install -e '.[dev]')"
    if problem is not None:
        if os.environ.get("BASTION_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail(problem + " (BASTION_TEST_REQUIRE_SERVICES=1)")
        pytest.skip(problem)
    return async_playwright


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async_playwright = _require_browser()
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def _seed(admin: Client) -> dict[str, Any]:
    alpha = await admin.ok("POST", "/admin/v1/teams", {"name": "alpha"})
    beta = await admin.ok(
        "POST",
        "/admin/v1/teams",
        {"name": "beta", "policy": {"budget": {"amount_usd": 5, "period": "monthly"}}},
    )
    app = await admin.ok("POST", "/admin/v1/apps", {"name": "chatbot"})
    ka = await admin.ok(
        "POST", "/admin/v1/keys", {"name": "ka", "team_id": alpha["id"], "app_id": app["id"]}
    )
    kb = await admin.ok("POST", "/admin/v1/keys", {"name": "kb", "team_id": beta["id"]})
    viewer = await admin.ok(
        "POST", "/admin/v1/keys", {"name": "alpha-viewer", "team_id": alpha["id"], "role": "viewer"}
    )
    user = await admin.ok("POST", "/admin/v1/keys", {"name": "plain"})
    for words in (3, 4, 5):
        status, _, _ = await admin.as_key(ka["key"]).chat(words=words, **_mail(words, 1))
        assert status == 200
    for words in (6, 7):
        extra = _mail(words, 2) if words == 6 else {}
        status, _, _ = await admin.as_key(kb["key"]).chat(words=words, stream=True, **extra)
        assert status == 200
    return {"alpha": alpha, "beta": beta, "ka": ka, "kb": kb, "viewer": viewer, "user": user}


def _mail(words: int, addresses: int) -> dict[str, Any]:
    """A message of ``words`` words, the last ``addresses`` of them e-mail addresses (the
    guardrails pseudonymise each: one verdict count, and the echo's word count stays)."""
    text = ["word"] * (words - addresses) + [f"user{i}@example.com" for i in range(addresses)]
    return {"messages": [{"role": "user", "content": " ".join(text)}]}


async def _verdict_count(page: Any, row: str) -> str:
    cell = page.locator(f'#verdicts-table tr[data-row="{row}"] td[data-col="count"]')
    value: str = await cell.get_attribute("data-value")
    return value


async def _ledger_sums(gw: RunningGateway, team_id: str | None = None) -> dict[str, Any]:
    l = spend_ledger.c  # noqa: E741
    query = sa.select(
        sa.func.count(),
        sa.func.coalesce(sa.func.sum(l.cost_nusd), 0),
        sa.func.coalesce(sa.func.sum(l.prompt_tokens), 0),
        sa.func.coalesce(sa.func.sum(l.completion_tokens), 0),
    )
    if team_id is not None:
        query = query.where(l.team_id == team_id)
    async with gw.gateway.governance.database.engine.connect() as conn:
        row = (await conn.execute(query)).one()
    return {"requests": row[0], "cost_nusd": row[1], "prompt": row[2], "completion": row[3]}


async def _metric(page: Any, name: str) -> str:
    value: str = await page.get_attribute(f'[data-metric="{name}"]', "data-value")
    return value


async def _sign_in(page: Any, url: str, key: str) -> None:
    await page.goto(url + "/ui")
    await page.evaluate("sessionStorage.clear()")
    await page.goto(url + "/ui#overview")
    await page.fill("#key", key)
    await page.click("#signin")


async def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_hub_in_a_browser(browser: Any, tmp_path: Path) -> None:
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    sections = settings(f"sqlite:///{tmp_path / 'hub.db'}", tmp_path, guardrails=EMAIL_POLICY)
    async with governed_gateway(**sections) as gw, client(gw.url) as admin:
        seeded = await _seed(admin)
        await gw.gateway.governance.drain()
        everything = await _ledger_sums(gw)
        assert everything["requests"] == 5
        # bypass_csp: the page forbids eval, which Playwright's wait_for_function uses.
        context = await browser.new_context(
            viewport={"width": 1400, "height": 900}, bypass_csp=True
        )
        try:
            await _walk_through(context, gw, admin, seeded, everything)
        finally:
            await context.close()  # before the gateway stops: the live feed holds a connection


async def _walk_through(
    context: Any,
    gw: RunningGateway,
    admin: Client,
    seeded: dict[str, Any],
    everything: dict[str, Any],
) -> None:
    page = await context.new_page()

    # Sign in with the master key: the overview's figures are the ledger's sums.
    await _sign_in(page, gw.url, MASTER_KEY)
    await page.wait_for_selector('[data-metric="requests"]')
    assert await _metric(page, "requests") == "5"
    assert float(await _metric(page, "cost")) == pytest.approx(
        everything["cost_nusd"] / 1e9, rel=1e-9
    )
    assert int(await _metric(page, "prompt_tokens")) == everything["prompt"]
    assert int(await _metric(page, "completion_tokens")) == everything["completion"]
    assert everything["completion"] == 3 + 4 + 5 + 6 + 7  # the echo model's words
    await _shot(page, "overview")

    # Breakdown by team, then drill down to the alpha team's requests.
    alpha_id = seeded["alpha"]["id"]
    await page.goto(gw.url + "/ui#breakdown/team")
    row = page.locator(f'#breakdown-table tr[data-row="{alpha_id}"]')
    await row.wait_for()
    assert await row.locator('td[data-col="requests"]').get_attribute("data-value") == "3"
    await _shot(page, "breakdown-team")
    await row.click()
    await page.wait_for_selector("#requests-table tbody tr")
    assert await page.locator("#requests-table tbody tr").count() == 3
    await _shot(page, "drill-down")

    # One request's detail, then the budgets, quality and deployments pages.
    await page.locator("#requests-table tbody tr").first.click()
    await page.wait_for_selector("#request-detail")
    assert "bastion/echo" in (await page.text_content("#request-detail") or "")
    await _shot(page, "request")
    await page.goto(gw.url + "/ui#budgets")
    await page.wait_for_selector("#budgets-table")
    beta = seeded["beta"]["id"]
    assert (
        await page.locator(
            f'#budgets-table tr td[data-col="scope_id"][data-value="{beta}"]'
        ).count()
        == 1
    )
    await _shot(page, "budgets")
    await page.goto(gw.url + "/ui#quality")
    await page.wait_for_selector('[data-metric="satisfaction"]')
    # Guardrail verdicts as recorded: ka's three requests had one address each, kb's two.
    assert await _verdict_count(page, "pii/pseudonymise") == "5"
    await _shot(page, "quality")
    await page.goto(gw.url + "/ui#deployments")
    await page.wait_for_selector("#deployments-table")
    await _shot(page, "deployments")

    # Live: a request made now appears without reloading the page.
    await page.goto(gw.url + "/ui#live")
    await page.wait_for_function(
        "document.querySelector('#live-status')?.textContent.startsWith('Connected')"
    )
    status, _, headers = await admin.as_key(seeded["ka"]["key"]).chat(words=2)
    assert status == 200
    request_id = {k.lower(): v for k, v in headers.items()}["x-request-id"]
    await page.wait_for_selector(f'#live-table tr[data-request-id="{request_id}"]')
    await _shot(page, "live")

    # Manage: create a key from the UI, use it, revoke it from the UI.
    await page.goto(gw.url + "/ui#manage")
    await page.fill('#key-form input[name="name"]', "made-in-ui")
    await page.click("#create-key")
    new_key = (await page.locator("#new-key").text_content() or "").strip()
    assert new_key.startswith("bst-")
    assert (await admin.as_key(new_key).chat(words=1))[0] == 200
    await _shot(page, "manage-created")
    keys = await admin.ok("GET", "/admin/v1/keys")
    made = next(k for k in keys if k["name"] == "made-in-ui")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.click(f'[data-revoke="{made["id"]}"]')
    await page.wait_for_selector(f'#keys-table tr[data-row="{made["id"]}"] [data-status="revoked"]')
    assert (await admin.as_key(new_key).chat(words=1))[0] == 401
    await _shot(page, "manage-revoked")

    # A viewer of the alpha team sees that team only, and cannot manage.
    await gw.gateway.governance.drain()
    alpha_sums = await _ledger_sums(gw, alpha_id)
    await page.click("#signout")
    await _sign_in(page, gw.url, seeded["viewer"]["key"])
    await page.wait_for_selector('[data-metric="requests"]')
    assert await _metric(page, "requests") == str(alpha_sums["requests"])
    assert int(await _metric(page, "completion_tokens")) == alpha_sums["completion"]
    assert await page.locator("#nav-manage").is_hidden()
    await page.goto(gw.url + "/ui#breakdown/team")
    await page.wait_for_selector("#breakdown-table tbody tr")
    rows = page.locator("#breakdown-table tbody tr")
    assert await rows.count() == 1
    assert await rows.first.get_attribute("data-row") == alpha_id
    await _shot(page, "viewer-team")
    await page.goto(gw.url + "/ui#quality")
    await page.wait_for_selector("#verdicts-table")
    assert await _verdict_count(page, "pii/pseudonymise") == "3"  # the alpha team's only
    status, _, _ = await admin.as_key(seeded["viewer"]["key"]).call("GET", "/admin/v1/keys")
    assert status == 403

    # A key with neither the admin nor the viewer role is refused.
    await page.click("#signout")
    await _sign_in(page, gw.url, seeded["user"]["key"])
    await page.wait_for_function("document.querySelector('#signin-error').textContent.length > 0")
    assert "viewer role" in (await page.text_content("#signin-error") or "")
    await _shot(page, "refused")
