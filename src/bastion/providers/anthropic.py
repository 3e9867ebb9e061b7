"""Anthropic (Claude) through the Messages API: ``POST {base}/v1/messages``.

The translation itself lives in :mod:`bastion.providers.anthropic_messages`
(requests) and :mod:`bastion.providers.anthropic_responses` (responses,
streams, errors); this module is the adapter that the registry knows.

Provider options (``providers.<name>`` keys in the config):

- ``api_version`` or ``anthropic_version``: the ``anthropic-version`` header
  (default ``2023-06-01``);
- ``default_max_tokens``: sent when a caller gives no ``max_tokens`` (which
  Anthropic requires), default 4096;
- ``anthropic_beta``: a string or list sent as the ``anthropic-beta`` header.

The adapter also speaks Anthropic's wire natively (``native_wire``): a request
that arrived on the gateway's Anthropic ingress is sent as the caller wrote it,
only ``model`` replaced, and the answer goes back untranslated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from bastion.errors import GatewayError
from bastion.providers.anthropic_messages import DEFAULT_MAX_TOKENS, to_anthropic
from bastion.providers.anthropic_responses import (
    AnthropicStreamDecoder,
    classify_anthropic_error,
    from_anthropic_response,
)
from bastion.providers.base import (
    JSON,
    Deployment,
    Endpoint,
    NativeRequest,
    ProviderKind,
    Signer,
    UpstreamRequest,
)

DEFAULT_VERSION = "2023-06-01"
# Native operations: the path under the base URL for each.
_PATHS: dict[str | None, str] = {None: "/v1/messages", "count_tokens": "/v1/messages/count_tokens"}


class AnthropicAdapter:
    kind = "anthropic"
    openai_wire = False
    native_wire = "anthropic"
    endpoints: frozenset[Endpoint] = frozenset({"chat"})
    signer: Signer | None = None

    def normalise_base_url(self, base_url: str) -> str:
        """``https://api.anthropic.com``, with or without ``/v1`` and a trailing slash."""
        return base_url.rstrip("/").removesuffix("/v1")

    def headers(
        self, deployment: Deployment, extra: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        provider = deployment.provider
        options = provider.options
        version = options.get("anthropic_version") or provider.api_version or DEFAULT_VERSION
        headers = {"content-type": "application/json", "anthropic-version": str(version)}
        if provider.api_key:
            headers["x-api-key"] = provider.api_key
        betas = _betas(options.get("anthropic_beta"), (extra or {}).get("anthropic-beta"))
        if betas:
            headers["anthropic-beta"] = betas
        if provider.headers:
            headers.update(provider.headers)
        return headers

    def build_request(
        self, endpoint: Endpoint, body: JSON, deployment: Deployment, *, stream: bool
    ) -> UpstreamRequest:
        if endpoint != "chat":
            raise GatewayError(
                400, "Anthropic models serve chat only.", code="unsupported_endpoint", param="model"
            )
        if deployment.defaults:
            body = {**deployment.defaults, **body}
        default_max = deployment.provider.options.get("default_max_tokens", DEFAULT_MAX_TOKENS)
        payload = to_anthropic(body, deployment.model, default_max_tokens=int(default_max))
        if stream:
            payload["stream"] = True
        else:
            payload.pop("stream", None)
        return UpstreamRequest(
            "POST",
            deployment.provider.base_url + _PATHS[None],
            self.headers(deployment),
            orjson.dumps(payload),
        )

    def build_native_request(
        self, native: NativeRequest, deployment: Deployment, *, stream: bool
    ) -> UpstreamRequest:
        """The caller's Anthropic body as it came, with the upstream model id."""
        path = _PATHS.get(native.operation)
        if path is None:
            raise GatewayError(404, f"Unknown Anthropic operation '{native.operation}'.")
        body = native.body
        if body.get("model") != deployment.model:
            body = {**body, "model": deployment.model}
        return UpstreamRequest(
            "POST",
            deployment.provider.base_url + path,
            self.headers(deployment, native.headers),
            orjson.dumps(body),
        )

    def parse_response(self, endpoint: Endpoint, body: bytes, deployment: Deployment) -> JSON:
        return from_anthropic_response(orjson.loads(body), deployment.model)

    def stream_decoder(self, deployment: Deployment) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder(deployment.model)

    def classify_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        return classify_anthropic_error(status, body, headers)


def _betas(configured: Any, from_caller: str | None) -> str:
    values: list[str] = []
    if isinstance(configured, str):
        values.extend(configured.split(","))
    elif isinstance(configured, list | tuple):
        values.extend(str(v) for v in configured)
    if from_caller:
        values.extend(from_caller.split(","))
    seen: dict[str, None] = {v.strip(): None for v in values if v.strip()}
    return ",".join(seen)


KINDS: tuple[ProviderKind, ...] = (
    ProviderKind(
        "anthropic",
        AnthropicAdapter(),
        "https://api.anthropic.com",
        key_env="ANTHROPIC_API_KEY",
        base_url_env="ANTHROPIC_BASE_URL",
        default_api_version=DEFAULT_VERSION,
    ),
)
