"""AWS credentials and request signing for AWS-hosted providers (Bedrock).

The adapter builds requests without credentials; :meth:`AwsAuth.sign` (the
adapter's async ``signer``) adds them, in this order of preference:

1. static keys in the provider options (``aws_access_key_id``,
   ``aws_secret_access_key``, ``aws_session_token``): SigV4;
2. an API key (a Bedrock API key, the provider's ``api_key``, else
   ``AWS_BEARER_TOKEN_BEDROCK``): ``Authorization: Bearer``;
3. botocore's default credential chain (environment, ``profile`` option,
   shared files, SSO, container and instance roles): SigV4.

botocore is an optional dependency (``pip install 'bastion-gateway[bedrock]'``),
imported here only, on first use. Resolving the chain and refreshing temporary
credentials can block (files, HTTP), so both run in a thread; the result is
cached per provider and refreshed shortly before it expires. Signing itself is
a few HMACs, done on the event loop.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from bastion.errors import GatewayError
from bastion.providers.base import Deployment, ProviderSettings, UpstreamRequest

# IAM access key ids: upper-case letters and digits (AKIA... long-term, ASIA... temporary).
_ACCESS_KEY_ID = re.compile(r"[A-Z0-9]{16,128}")
# bedrock-runtime.us-east-1.amazonaws.com, ...-fips.us-gov-west-1..., vpce-x.bedrock-runtime.eu-west-1.vpce...
_REGION_IN_HOST = re.compile(
    r"\.([a-z]{2}(?:-[a-z]+)+-\d+)\.(?:[a-z0-9-]+\.)*amazonaws\.com(?:\.cn)?$"
)
_DEFAULT_REGION = "us-east-1"
REGION_PLACEHOLDER = "{region}"

ChainResolver = Callable[[str | None], Any]  # profile -> botocore credentials (or None)


def _auth_error(message: str) -> GatewayError:
    return GatewayError(502, message, code="upstream_auth_error", retryable=False)


def _botocore_missing() -> GatewayError:
    return _auth_error(
        "AWS SigV4 signing needs botocore: install it with pip install 'bastion-gateway[bedrock]'."
    )


def _resolve_chain(profile: str | None) -> Any:
    """botocore's default credential chain (blocking: may read files or call STS/IMDS)."""
    try:
        import botocore.session
    except ImportError:
        raise _botocore_missing() from None

    session = botocore.session.Session(profile=profile) if profile else botocore.session.Session()
    return session.get_credentials()


def _resolve_region(profile: str | None) -> str | None:
    import botocore.session

    session = botocore.session.Session(profile=profile) if profile else botocore.session.Session()
    region = session.get_config_variable("region")
    return region if isinstance(region, str) and region else None


class _ChainCredentials:
    """The default chain's credentials for one provider: resolved once, refreshed in a thread."""

    __slots__ = ("_creds", "_lock", "_profile", "_resolve")

    def __init__(self, profile: str | None, resolve: ChainResolver) -> None:
        self._profile = profile
        self._resolve = resolve
        self._creds: Any = None
        self._lock = asyncio.Lock()

    async def frozen(self) -> Any:
        creds = self._creds
        if creds is not None and not _refresh_needed(creds):
            return creds.get_frozen_credentials()  # no I/O: not near expiry
        async with self._lock:
            try:
                if self._creds is None:
                    self._creds = await asyncio.to_thread(self._resolve, self._profile)
                    if self._creds is None:
                        raise _auth_error(
                            "No AWS credentials found for the Bedrock provider: set static keys "
                            "or an api_key in its configuration, or configure the AWS default "
                            "credential chain (environment, profile, instance role)."
                        )
                creds = self._creds
                if _refresh_needed(creds):
                    return await asyncio.to_thread(creds.get_frozen_credentials)
                return creds.get_frozen_credentials()
            except GatewayError:
                raise
            except Exception as exc:  # botocore: expired SSO token, unreachable IMDS, ...
                raise _auth_error(
                    f"Could not load AWS credentials for the Bedrock provider ({type(exc).__name__})."
                ) from None


def _refresh_needed(creds: Any) -> bool:
    check = getattr(creds, "refresh_needed", None)
    return bool(check()) if callable(check) else False


class AwsAuth:
    """Adds AWS credentials to upstream requests; one per adapter, caching per provider."""

    def __init__(
        self,
        service: str,
        bearer_env: str | None = None,
        *,
        resolve_chain: ChainResolver = _resolve_chain,
        resolve_region: Callable[[str | None], str | None] = _resolve_region,
    ) -> None:
        self.service = service
        self._bearer_env = bearer_env
        self._resolve_chain = resolve_chain
        self._resolve_region = resolve_region
        self._chains: dict[tuple[str, str | None], _ChainCredentials] = {}
        self._regions: dict[tuple[str, str | None], str] = {}

    async def sign(self, req: UpstreamRequest, deployment: Deployment) -> UpstreamRequest:
        provider = deployment.provider
        region = await self.region(provider, req.url)
        req.url = fill_region(req.url, region)
        token = self._bearer_token(provider)
        if token is not None:
            req.headers["authorization"] = "Bearer " + token
            return req
        credentials = _static_credentials(provider)
        if credentials is None:
            profile = _opt(provider.options, "profile")
            key = (provider.name, profile)
            chain = self._chains.get(key)
            if chain is None:
                chain = self._chains[key] = _ChainCredentials(profile, self._resolve_chain)
            credentials = await chain.frozen()
        return sigv4_sign(req, credentials, self.service, region)

    def _bearer_token(self, provider: ProviderSettings) -> str | None:
        if _opt(provider.options, "aws_secret_access_key"):
            return None
        key = provider.api_key
        if key and not _is_access_key_id(key):
            return key
        if self._bearer_env:
            return os.environ.get(self._bearer_env) or None
        return None

    async def region(self, provider: ProviderSettings, url: str) -> str:
        """The provider's region: its ``region`` option, the endpoint host, the AWS config, us-east-1."""
        explicit = _opt(provider.options, "region") or _opt(provider.options, "aws_region")
        if explicit:
            return explicit
        found = _REGION_IN_HOST.search(urlsplit(url).hostname or "")
        if found:
            return found.group(1)
        profile = _opt(provider.options, "profile")
        key = (provider.name, profile)
        cached = self._regions.get(key)
        if cached is None:
            try:
                resolved = await asyncio.to_thread(self._resolve_region, profile)
            except Exception:
                resolved = None
            cached = self._regions[key] = resolved or _DEFAULT_REGION
        return cached


def fill_region(url: str, region: str) -> str:
    """Put ``region`` in a URL's ``{region}`` placeholder (China regions live under .com.cn)."""
    if REGION_PLACEHOLDER not in url:
        return url
    if region.startswith("cn-"):
        url = url.replace(".amazonaws.com/", ".amazonaws.com.cn/", 1)
        if url.endswith(".amazonaws.com"):
            url += ".cn"
    return url.replace(REGION_PLACEHOLDER, region)


def _opt(options: Mapping[str, Any], name: str) -> str | None:
    value = options.get(name)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _is_access_key_id(key: str) -> bool:
    # Discovery puts AWS_ACCESS_KEY_ID in api_key: that is a SigV4 key id, not a bearer token.
    return bool(_ACCESS_KEY_ID.fullmatch(key)) or key == os.environ.get("AWS_ACCESS_KEY_ID")


def _static_credentials(provider: ProviderSettings) -> Any:
    secret = _opt(provider.options, "aws_secret_access_key")
    if secret is None:
        return None
    key_id = _opt(provider.options, "aws_access_key_id") or provider.api_key
    if not key_id:
        raise _auth_error(
            f"Provider '{provider.name}' has aws_secret_access_key but no aws_access_key_id."
        )
    try:
        from botocore.credentials import ReadOnlyCredentials
    except ImportError:
        raise _botocore_missing() from None
    return ReadOnlyCredentials(key_id, secret, _opt(provider.options, "aws_session_token"))


def sigv4_sign(
    req: UpstreamRequest, credentials: Any, service: str, region: str
) -> UpstreamRequest:
    """Sign ``req`` in place with AWS Signature Version 4 (headers, path and body)."""
    try:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
    except ImportError:
        raise _botocore_missing() from None

    aws_request = AWSRequest(
        method=req.method, url=req.url, data=req.body or b"", headers=dict(req.headers)
    )
    SigV4Auth(credentials, service, region).add_auth(aws_request)
    for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
        value = aws_request.headers.get(name)
        if value:
            req.headers[name.lower()] = value
    return req
