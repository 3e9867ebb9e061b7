"""AWS credentials for Bedrock: regions, the default chain's cache and refresh, errors."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import pytest
from botocore.credentials import Credentials

from bastion.errors import GatewayError
from bastion.providers.aws_auth import AwsAuth
from bastion.providers.base import Deployment, ProviderSettings
from bastion.providers.bedrock import DEFAULT_BASE_URL, BedrockAdapter
from tests.fakes import bedrock_upstream as fb

CLAUDE = "anthropic.claude-3-5-haiku-20241022-v1:0"


class _RefreshableCredentials:
    """Stands in for botocore's RefreshableCredentials: counts resolutions and refreshes."""

    def __init__(self) -> None:
        self.expiring = False
        self.threads: list[str] = []

    def refresh_needed(self) -> bool:
        return self.expiring

    def get_frozen_credentials(self) -> Any:
        self.threads.append(threading.current_thread().name)
        self.expiring = False
        return Credentials(fb.ACCESS_KEY, fb.SECRET_KEY).get_frozen_credentials()


def bedrock_deployment(
    model: str = CLAUDE,
    base_url: str = DEFAULT_BASE_URL,
    chain: Any = None,
    api_key: str | None = None,
    **options: Any,
) -> Deployment:
    """A Bedrock deployment whose default chain and AWS-config region are stubbed."""
    auth = AwsAuth(
        "bedrock", resolve_region=lambda profile: "ap-south-1", resolve_chain=lambda profile: chain
    )
    adapter = BedrockAdapter(auth)
    provider = ProviderSettings(
        name=f"p{uuid.uuid4().hex}",
        kind="bedrock",
        base_url=base_url,
        api_key=api_key,
        options=options,
    )
    return Deployment(name="x", model=model, provider=provider, adapter=adapter)


async def test_region_fills_the_default_endpoint() -> None:
    chat = {"messages": [{"role": "user", "content": "hi"}]}
    deployment = bedrock_deployment(
        region="us-west-2", aws_access_key_id=fb.ACCESS_KEY, aws_secret_access_key=fb.SECRET_KEY
    )
    req = deployment.adapter.build_request("chat", chat, deployment, stream=False)
    assert req.url == f"https://bedrock-runtime.us-west-2.amazonaws.com/model/{CLAUDE}/converse"
    signed = await deployment.adapter.signer(req, deployment)  # type: ignore[misc]
    assert "/us-west-2/bedrock/aws4_request" in signed.headers["authorization"]
    # No region option: the AWS configuration's region (resolved by botocore, here stubbed).
    deployment = bedrock_deployment(chain=_RefreshableCredentials())
    req = deployment.adapter.build_request("chat", chat, deployment, stream=True)
    assert "{region}" in req.url
    signed = await deployment.adapter.signer(req, deployment)  # type: ignore[misc]
    assert (
        signed.url
        == f"https://bedrock-runtime.ap-south-1.amazonaws.com/model/{CLAUDE}/converse-stream"
    )
    assert "/ap-south-1/bedrock/aws4_request" in signed.headers["authorization"]


async def test_chain_credentials_are_cached_and_refreshed_in_a_thread() -> None:
    chain = _RefreshableCredentials()
    deployment = bedrock_deployment(chain=chain, region="us-east-1")
    adapter = deployment.adapter
    main = threading.current_thread().name

    async def sign() -> None:
        req = adapter.build_request(
            "chat", {"messages": [{"role": "user", "content": "x"}]}, deployment, stream=False
        )
        await adapter.signer(req, deployment)  # type: ignore[misc]

    await sign()
    await sign()
    assert chain.threads == [main, main]  # resolved once (in a thread), then no I/O
    chain.expiring = True
    await asyncio.gather(sign(), sign())
    assert len(chain.threads) == 4 and chain.threads[2] != main  # the refresh ran in a thread


async def test_missing_credentials_are_a_gateway_configuration_error() -> None:
    deployment = bedrock_deployment(region="us-east-1")
    req = deployment.adapter.build_request(
        "chat", {"messages": [{"role": "user", "content": "x"}]}, deployment, stream=False
    )
    with pytest.raises(GatewayError) as caught:
        await deployment.adapter.signer(req, deployment)  # type: ignore[misc]
    assert (caught.value.status, caught.value.code) == (502, "upstream_auth_error")


@pytest.mark.parametrize(
    ("base_url", "region", "expected"),
    [
        (DEFAULT_BASE_URL, "cn-north-1", "https://bedrock-runtime.cn-north-1.amazonaws.com.cn"),
        ("https://vpce-0ab.bedrock-runtime.eu-west-1.vpce.amazonaws.com", None, "eu-west-1"),
        ("https://bedrock-runtime-fips.us-gov-west-1.amazonaws.com", None, "us-gov-west-1"),
    ],
)
async def test_regions_from_options_and_hosts(
    base_url: str, region: str | None, expected: str
) -> None:
    options = {"region": region} if region else {}
    deployment = bedrock_deployment(base_url=base_url, api_key="ABSK-bedrock-api-key", **options)
    req = deployment.adapter.build_request(
        "chat", {"messages": [{"role": "user", "content": "x"}]}, deployment, stream=False
    )
    signed = await deployment.adapter.signer(req, deployment)  # type: ignore[misc]
    assert signed.headers["authorization"] == "Bearer ABSK-bedrock-api-key"
    assert expected in signed.url
