"""Google OAuth access tokens for Vertex AI: the Vertex adapter's async ``signer``.

Credentials, in this order of preference:

1. an API key (the provider's ``api_key``: Vertex AI express mode), sent by the
   adapter as ``x-goog-api-key``; nothing to sign;
2. a static access token (the ``access_token`` option), sent as is;
3. a service account (the ``credentials`` option: the path of its JSON key
   file, or the JSON itself);
4. Application Default Credentials (``GOOGLE_APPLICATION_CREDENTIALS``, gcloud's
   user credentials, the metadata server on Google Cloud).

3 and 4 need google-auth, an optional dependency
(``pip install 'bastion-gateway[google]'``) imported here only, on first use.
Loading credentials and refreshing a token block (files, HTTP), so both run in a
thread; the token is cached per provider account and refreshed five minutes
before it expires, one refresh at a time. google-auth talks HTTP through a small
``urllib`` transport, so no HTTP library beyond google-auth is needed.
"""

from __future__ import annotations

import asyncio
import importlib
import re
import time
import urllib.error
import urllib.request
from datetime import UTC
from typing import Any

import orjson

from bastion.errors import GatewayError, scrub_secrets
from bastion.providers.base import Deployment, ProviderSettings, UpstreamRequest

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
_REFRESH_MARGIN = 300.0  # seconds before expiry
_NO_EXPIRY_TTL = 600.0  # credentials that do not say when their token expires
_URL = re.compile(r"https?://\S+")


def _auth_error(message: str) -> GatewayError:
    return GatewayError(502, message, code="upstream_auth_error")


def _google_auth() -> Any:
    try:
        return importlib.import_module("google.auth")
    except ImportError:
        raise _auth_error(
            "Vertex AI credentials need google-auth: install it with"
            " pip install 'bastion-gateway[google]' (or set the provider's api_key or"
            " access_token)."
        ) from None


class GoogleCredentials:
    """Adds ``Authorization: Bearer`` to Vertex AI requests; holds the token caches."""

    def __init__(self) -> None:
        self._sources: dict[tuple[str, str], _TokenSource] = {}

    async def sign(self, req: UpstreamRequest, deployment: Deployment) -> UpstreamRequest:
        provider = deployment.provider
        if provider.api_key:  # express mode: the adapter sent the key
            return req
        static = provider.options.get("access_token")
        token = str(static) if static else await self._source(provider).token()
        req.headers["authorization"] = f"Bearer {token}"
        return req

    def _source(self, provider: ProviderSettings) -> _TokenSource:
        option = provider.options.get("credentials")
        key = (provider.name, str(option or ""))
        source = self._sources.get(key)
        if source is None:
            source = self._sources[key] = _TokenSource(str(option) if option else None)
        return source


class _TokenSource:
    """One account's credentials and its cached access token."""

    __slots__ = ("_creds", "_expires", "_lock", "_option", "_token")

    def __init__(self, option: str | None) -> None:
        self._option = option
        self._creds: Any = None
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    def _fresh(self) -> str | None:
        if self._token and time.time() < self._expires - _REFRESH_MARGIN:
            return self._token
        return None

    async def token(self) -> str:
        token = self._fresh()
        if token:
            return token
        async with self._lock:  # one refresh at a time; the others wait for its token
            token = self._fresh()
            if token:
                return token
            fresh, self._expires = await asyncio.to_thread(self._refresh)
            self._token = fresh
            return fresh

    def _refresh(self) -> tuple[str, float]:
        """Load the credentials (once) and fetch a new token. Blocking: runs in a thread."""
        google_auth = _google_auth()
        exceptions = importlib.import_module("google.auth.exceptions")
        try:
            if self._creds is None:
                self._creds = _load(google_auth, self._option)
            self._creds.refresh(_urllib_request())
        except exceptions.GoogleAuthError as exc:
            first = exc.args[0] if exc.args else exc  # RefreshError: (message, response body)
            detail = _URL.sub("[url]", scrub_secrets(str(first)))[:300]
            raise _auth_error(f"Could not obtain a Google access token: {detail}") from None
        except (OSError, ValueError) as exc:
            raise _auth_error(
                f"Could not read the Google service-account credentials ({type(exc).__name__})."
            ) from None
        token = self._creds.token
        if not isinstance(token, str) or not token:
            raise _auth_error("Google credentials returned no access token.")
        expiry = self._creds.expiry  # naive UTC datetime, or None
        if expiry is None:
            return token, time.time() + _REFRESH_MARGIN + _NO_EXPIRY_TTL
        return token, expiry.replace(tzinfo=UTC).timestamp()


def _load(google_auth: Any, option: str | None) -> Any:
    if option is None:
        credentials, _project = google_auth.default(scopes=list(SCOPES))
        return credentials
    service_account = importlib.import_module("google.oauth2.service_account")
    if option.lstrip().startswith("{"):
        info = orjson.loads(option)
        return service_account.Credentials.from_service_account_info(info, scopes=list(SCOPES))
    return service_account.Credentials.from_service_account_file(option, scopes=list(SCOPES))


def _urllib_request() -> Any:
    """A google-auth transport over urllib (google-auth's own need ``requests``)."""
    transport = importlib.import_module("google.auth.transport")
    exceptions = importlib.import_module("google.auth.exceptions")
    base_request: Any = transport.Request
    base_response: Any = transport.Response

    class Response(base_response):  # type: ignore[misc]
        def __init__(self, status: int, headers: Any, data: bytes) -> None:
            self._status = status
            self._headers = {k.lower(): v for k, v in headers.items()}
            self._data = data

        @property
        def status(self) -> int:
            return self._status

        @property
        def headers(self) -> dict[str, str]:
            return self._headers

        @property
        def data(self) -> bytes:
            return self._data

    class Request(base_request):  # type: ignore[misc]
        def __call__(
            self,
            url: str,
            method: str = "GET",
            body: bytes | None = None,
            headers: dict[str, str] | None = None,
            timeout: float | None = None,
            **kwargs: Any,
        ) -> Response:
            request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
            try:
                with urllib.request.urlopen(request, timeout=timeout or 30) as resp:
                    return Response(resp.status, resp.headers, resp.read())
            except urllib.error.HTTPError as exc:
                return Response(exc.code, exc.headers, exc.read())
            except (urllib.error.URLError, OSError) as exc:
                raise exceptions.TransportError(type(exc).__name__) from None

    return Request()
