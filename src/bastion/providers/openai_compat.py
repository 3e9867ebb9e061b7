"""The OpenAI-compatible provider family, declared as data.

OpenAI, Azure OpenAI, Mistral, Groq, Together, Fireworks, DeepSeek,
OpenRouter, Hugging Face, Ollama, vLLM, LM Studio and any other server that
speaks OpenAI's wire format share one adapter. What differs between them (base
URL, auth header, URL layout, environment variables) is a row in ``FAMILY``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from bastion.errors import GatewayError, scrub_secrets
from bastion.providers.base import (
    JSON,
    Deployment,
    Endpoint,
    Signer,
    SSEParser,
    UpstreamRequest,
)

_PATHS: dict[Endpoint, str] = {"chat": "/chat/completions", "embeddings": "/embeddings"}


@dataclass(frozen=True, slots=True)
class OpenAICompatSpec:
    """One row of the family: everything that differs between compatible servers."""

    kind: str
    default_base_url: str | None  # None: the user must give one
    auth: str = "bearer"  # "bearer" | "api-key" (Azure) | "none"
    azure_layout: bool = False  # /openai/deployments/{model}/...?api-version=
    key_env: str | None = None  # environment variable holding the API key
    base_url_env: str | None = None  # environment variable overriding the base URL
    key_required: bool = True  # discovered from the environment only when the key is set
    default_api_version: str | None = None
    docs: str = ""
    # Speaks ``max_completion_tokens`` (OpenAI deprecated ``max_tokens``, and its reasoning
    # models refuse it): a ``max_tokens`` is sent under the new name. Azure from this
    # api-version on; older versions and the rest of the family keep ``max_tokens``.
    completion_tokens_since: str | None = None


FAMILY: dict[str, OpenAICompatSpec] = {
    spec.kind: spec
    for spec in (
        OpenAICompatSpec(
            "openai",
            "https://api.openai.com/v1",
            key_env="OPENAI_API_KEY",
            base_url_env="OPENAI_BASE_URL",
            completion_tokens_since="",
        ),
        OpenAICompatSpec(
            "azure",
            None,
            auth="api-key",
            azure_layout=True,
            key_env="AZURE_OPENAI_API_KEY",
            base_url_env="AZURE_OPENAI_ENDPOINT",
            default_api_version="2024-10-21",
            completion_tokens_since="2024-09-01",
        ),
        OpenAICompatSpec("mistral", "https://api.mistral.ai/v1", key_env="MISTRAL_API_KEY"),
        OpenAICompatSpec(
            "groq",
            "https://api.groq.com/openai/v1",
            key_env="GROQ_API_KEY",
            completion_tokens_since="",
        ),
        OpenAICompatSpec("together", "https://api.together.xyz/v1", key_env="TOGETHER_API_KEY"),
        OpenAICompatSpec(
            "fireworks", "https://api.fireworks.ai/inference/v1", key_env="FIREWORKS_API_KEY"
        ),
        OpenAICompatSpec("deepseek", "https://api.deepseek.com/v1", key_env="DEEPSEEK_API_KEY"),
        OpenAICompatSpec(
            "openrouter", "https://openrouter.ai/api/v1", key_env="OPENROUTER_API_KEY"
        ),
        OpenAICompatSpec("huggingface", "https://router.huggingface.co/v1", key_env="HF_TOKEN"),
        OpenAICompatSpec(
            "ollama", None, auth="none", base_url_env="OLLAMA_BASE_URL", key_required=False
        ),
        OpenAICompatSpec(
            "vllm", None, key_env="VLLM_API_KEY", base_url_env="VLLM_BASE_URL", key_required=False
        ),
        OpenAICompatSpec(
            "lmstudio", None, auth="none", base_url_env="LMSTUDIO_BASE_URL", key_required=False
        ),
        OpenAICompatSpec("openai_compatible", None, key_required=False),
    )
}


def normalise_base_url(kind: str, base_url: str) -> str:
    """Accept base URLs as users write them: with or without ``/v1``, trailing slash."""
    url = base_url.rstrip("/")
    spec = FAMILY[kind]
    if spec.azure_layout:
        return url.removesuffix("/openai")
    if kind == "ollama" and not url.endswith("/v1"):
        return url + "/v1"  # OLLAMA_BASE_URL is conventionally http://host:11434
    return url


class OpenAICompatAdapter:
    """One adapter for every OpenAI-compatible server; the spec supplies the differences."""

    openai_wire = True
    endpoints: frozenset[Endpoint] = frozenset({"chat", "embeddings"})
    signer: Signer | None = None

    def __init__(self, spec: OpenAICompatSpec) -> None:
        self.spec = spec
        self.kind = spec.kind

    def normalise_base_url(self, base_url: str) -> str:
        return normalise_base_url(self.spec.kind, base_url)

    def build_request(
        self, endpoint: Endpoint, body: JSON, deployment: Deployment, *, stream: bool
    ) -> UpstreamRequest:
        provider = deployment.provider
        version = provider.api_version or self.spec.default_api_version
        if self.spec.azure_layout:
            url = f"{provider.base_url}/openai/deployments/{deployment.model}{_PATHS[endpoint]}?api-version={version}"
        else:
            url = provider.base_url + _PATHS[endpoint]
        headers = {"content-type": "application/json"}
        if provider.api_key:
            if self.spec.auth == "api-key":
                headers["api-key"] = provider.api_key
            elif self.spec.auth == "bearer":
                headers["authorization"] = "Bearer " + provider.api_key
        if provider.headers:
            headers.update(provider.headers)
        # Only the model name (and the output cap's name, see the spec) change; every
        # other field passes through untouched.
        if body.get("model") != deployment.model or deployment.defaults:
            body = {**deployment.defaults, **body, "model": deployment.model}
        since = self.spec.completion_tokens_since
        if (
            since is not None
            and "max_tokens" in body
            and "max_completion_tokens" not in body
            and (version or "") >= since
        ):
            body = dict(body)
            body["max_completion_tokens"] = body.pop("max_tokens")
        return UpstreamRequest("POST", url, headers, orjson.dumps(body))

    def parse_response(self, endpoint: Endpoint, body: bytes, deployment: Deployment) -> JSON:
        data = orjson.loads(body)
        if not isinstance(data, dict):
            raise GatewayError(
                502,
                "Upstream returned a non-object JSON body.",
                code="bad_upstream_response",
                retryable=True,
            )
        return data

    def stream_decoder(self, deployment: Deployment) -> OpenAIStreamDecoder:
        return OpenAIStreamDecoder()

    def classify_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        return classify_openai_style_error(status, body, headers, provider=self.kind)


class OpenAIStreamDecoder:
    """Decodes an OpenAI-format SSE stream into chunk dicts (used when translating it)."""

    __slots__ = ("_sse",)

    def __init__(self) -> None:
        self._sse = SSEParser()

    def feed(self, data: bytes) -> list[JSON]:
        return _decode_events(self._sse.feed(data))

    def close(self) -> list[JSON]:
        return _decode_events(self._sse.close())


def _decode_events(events: list[tuple[str, bytes]]) -> list[JSON]:
    chunks: list[JSON] = []
    for _event, data in events:
        if data == b"[DONE]":
            continue
        obj = orjson.loads(data)
        if isinstance(obj, dict):
            if "error" in obj and "choices" not in obj:
                raise upstream_stream_error(obj)
            chunks.append(obj)
    return chunks


def upstream_stream_error(obj: JSON) -> GatewayError:
    err = obj.get("error")
    message = err.get("message") if isinstance(err, dict) else str(err)
    return GatewayError(
        502, scrub_secrets(f"Upstream stream error: {message}"), code="upstream_error"
    )


def _retry_after(headers: Mapping[str, str]) -> dict[str, str]:
    value = headers.get("retry-after") or headers.get("Retry-After")
    return {"retry-after": value} if value else {}


def classify_openai_style_error(
    status: int, body: bytes, headers: Mapping[str, str], *, provider: str
) -> GatewayError:
    """Map an upstream error response to a gateway error.

    4xx errors keep the upstream's status and message (scrubbed of anything that
    looks like a credential): the caller can act on them. 5xx become 502/503,
    timeouts 504. Upstream 401/403 mean *our* provider credentials are wrong,
    which is a gateway fault, not the caller's: reported as 502.
    """
    message, code, param, err_type = _extract_error(body)
    message = scrub_secrets(message) if message else f"Upstream returned HTTP {status}."
    prefix = f"{provider} error: "
    if status == 429:
        return GatewayError(
            429,
            prefix + message,
            code=code or "rate_limit_exceeded",
            error_type="rate_limit_error",
            retryable=True,
            headers=_retry_after(headers),
        )
    if status in (401, 403):
        return GatewayError(
            502,
            f"{provider} rejected the gateway's credentials (HTTP {status}); check the provider configuration.",
            code="upstream_auth_error",
            retryable=False,
        )
    if status in (408, 504):
        return GatewayError(504, prefix + message, code="upstream_timeout", retryable=True)
    if status == 529 or status == 503:
        return GatewayError(
            503,
            prefix + message,
            code="upstream_unavailable",
            retryable=True,
            headers=_retry_after(headers),
        )
    if 400 <= status < 500:
        return GatewayError(status, message, code=code, param=param, error_type=err_type)
    return GatewayError(502, prefix + message, code="upstream_error", retryable=True)


def _extract_error(body: bytes) -> tuple[str, str | None, str | None, str | None]:
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body[:500].decode("utf-8", "replace").strip()
        return text, None, None, None
    err = data.get("error", data) if isinstance(data, dict) else data
    if isinstance(err, dict):

        def _s(v: Any) -> str | None:
            return v if isinstance(v, str) else (str(v) if v is not None else None)

        message = _s(err.get("message")) or _s(err.get("detail")) or ""
        return message, _s(err.get("code")), _s(err.get("param")), _s(err.get("type"))
    if isinstance(err, str):
        return err, None, None, None
    return "", None, None, None
