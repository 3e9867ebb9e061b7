"""What a failed attempt means for the next one: classification, backoff, Retry-After.

Every upstream failure reaches the router as a :class:`GatewayError` (the provider
adapter's ``classify_error``, or the transport's timeout and connection errors). Its
kind decides what happens next:

========== ========================================= =====================================
kind        examples                                  next
========== ========================================= =====================================
RETRY       502/503/504/529, timeouts, resets         another deployment, then the group's
                                                      retries, then its ``fallbacks``
RATE        a provider's 429                          cool that deployment; as RETRY
BROKEN      the provider refuses our credentials      counted by the breaker; not retried
CONTEXT     the prompt is too long for the model      ``context_window_fallbacks``
CONTENT     the provider's content policy refused it  ``content_policy_fallbacks``
FATAL       any other 4xx (the caller's request)      the caller gets it as it is
========== ========================================= =====================================
"""

from __future__ import annotations

import email.utils
import random
import re
import time
from collections.abc import Mapping

from bastion.errors import GatewayError

FATAL, RETRY, RATE, BROKEN, CONTEXT, CONTENT = range(6)

_CONTEXT_CODES = frozenset(
    {"context_length_exceeded", "context_window_exceeded", "string_above_max_length"}
)
_CONTENT_CODES = frozenset(
    {"content_filter", "content_policy_violation", "content_policy", "safety", "moderation"}
)
_CONTEXT_TEXT = re.compile(
    r"context (?:length|window)|too many (?:input )?tokens|prompt is too long", re.I
)


def classify(error: GatewayError) -> int:
    code = error.code
    if code in _CONTEXT_CODES:
        return CONTEXT
    if code in _CONTENT_CODES:
        return CONTENT
    if error.retryable:
        return RATE if error.status == 429 else RETRY
    if code == "upstream_auth_error":
        return BROKEN
    if error.status == 400 and _CONTEXT_TEXT.search(error.message):
        return CONTEXT
    return FATAL


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a ``Retry-After`` (seconds or an HTTP date), or ``retry-after-ms``."""
    value = headers.get("retry-after") or headers.get("Retry-After")
    if value is None:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            try:
                return max(float(ms) / 1000.0, 0.0)
            except ValueError:
                return None
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def backoff(round_: int, base: float, cap: float) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, never above ``cap``."""
    delay = min(cap, base * 2.0 ** (round_ - 1))
    return delay / 2 + random.uniform(0, delay / 2)
