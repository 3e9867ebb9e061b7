"""The gateway's error model.

Every failure a client can see is a :class:`GatewayError`. The HTTP surface
renders it in the caller's wire format (OpenAI or Anthropic); nothing else ever
reaches the client, so no stack trace and no secret can leak.
"""

from __future__ import annotations

import re
from typing import Final

# OpenAI's error "type" values, by status.
_TYPE_BY_STATUS: Final[dict[int, str]] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "timeout_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    504: "timeout_error",
}


class GatewayError(Exception):
    """An error with everything needed to answer the client.

    ``retryable`` tells the router whether another attempt (on the same or
    another deployment) may succeed; ``headers`` carries e.g. ``Retry-After``.
    """

    __slots__ = ("code", "error_type", "headers", "message", "param", "retryable", "status")

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        error_type: str | None = None,
        retryable: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.error_type = error_type or _TYPE_BY_STATUS.get(
            status, "api_error" if status >= 500 else "invalid_request_error"
        )
        self.retryable = retryable
        self.headers = headers or {}

    def __repr__(self) -> str:
        return f"GatewayError({self.status}, {self.message!r}, code={self.code!r})"


def bad_request(
    message: str, *, param: str | None = None, code: str = "invalid_request"
) -> GatewayError:
    return GatewayError(400, message, param=param, code=code)


# Things that look like credentials: provider keys, bearer tokens, our own keys.
# Used to scrub upstream error messages before they are shown to a caller.
_SECRET_PATTERNS: Final = re.compile(
    r"(?:sk|pk|rk|bst|ak)-[A-Za-z0-9_\-]{8,}"  # sk-..., sk-proj-..., sk-ant-..., bst-...
    r"|AIza[0-9A-Za-z_\-]{20,}"  # Google API keys
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"  # AWS access key ids
    r"|gsk_[A-Za-z0-9]{16,}"  # Groq
    r"|hf_[A-Za-z0-9]{16,}"  # Hugging Face
    r"|(?i:bearer)\s+[A-Za-z0-9._\-]{8,}"
)


def scrub_secrets(text: str) -> str:
    """Replace anything that looks like a credential with ``[REDACTED]``."""
    return _SECRET_PATTERNS.sub("[REDACTED]", text)
