"""A guardrail that asks an external service: ``webhook:`` in a policy (input only).

After the in-process detectors ran (so the service sees redacted and
pseudonymised text, never what they removed), the request's texts are POSTed
as JSON::

    {"request_id": "...", "model": "...", "direction": "input",
     "texts": [{"where": "messages[0].content", "source": "user", "text": "..."}]}

and the service answers ``{"action": "allow"}`` or ``{"action": "block",
"reason": "..."}``. A timeout, an error status or an unreadable answer counts
as ``on_error`` (block by default: a checker that is down fails closed).
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import orjson

from bastion.guardrails.config import WebhookConfig

log = logging.getLogger("bastion.guardrails")
_REASON_LIMIT = 200


class WebhookVerdict:
    __slots__ = ("allowed", "reason")

    def __init__(self, allowed: bool, reason: str) -> None:
        self.allowed = allowed
        self.reason = reason


async def ask_webhook(
    config: WebhookConfig, request_id: str, model: str, texts: list[dict[str, str]]
) -> WebhookVerdict:
    """Call the checker once; never raises."""
    payload = {"request_id": request_id, "model": model, "direction": "input", "texts": texts}
    try:
        timeout = aiohttp.ClientTimeout(total=config.timeout)
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.post(
                config.url,
                data=orjson.dumps(payload),
                headers={"content-type": "application/json", **config.headers},
            ) as resp,
        ):
            body = await resp.read()
            if resp.status >= 400:
                raise ValueError(f"status {resp.status}")
        answer: Any = orjson.loads(body)
        action = answer.get("action") if isinstance(answer, dict) else None
        if action not in ("allow", "block"):
            raise ValueError("no action in the answer")
    except Exception as exc:  # the checker is down or wrong: on_error decides
        log.warning("guardrail webhook %s failed: %s", config.url, type(exc).__name__)
        return WebhookVerdict(config.on_error == "allow", "the guardrail service is unavailable")
    reason = answer.get("reason")
    reason = str(reason)[:_REASON_LIMIT] if reason else "refused by the guardrail service"
    return WebhookVerdict(action == "allow", reason)
