"""Amazon Bedrock: chat through the Converse API, embeddings through InvokeModel.

- chat: ``POST {base}/model/{modelId}/converse`` and ``.../converse-stream``
  (AWS event-stream framing); translation in :mod:`bastion.providers.bedrock_translate`.
- embeddings: ``POST {base}/model/{modelId}/invoke`` with the model family's own
  body: Amazon Titan text embeddings (one input per call; the pipeline fans a
  batch out through :meth:`BedrockAdapter.split_request`) or Cohere Embed.
- credentials: SigV4 or Bedrock API keys, added by the async signer
  (:mod:`bastion.providers.aws_auth`).

Provider options (``providers.<name>`` keys): ``region``, ``aws_access_key_id``,
``aws_secret_access_key``, ``aws_session_token``, ``profile``,
``additional_model_request_fields`` (merged into every Converse request),
``guardrail_identifier`` / ``guardrail_version``, ``embedding_input_type``
(Cohere Embed, default ``search_document``) and ``embedding_format``
(``titan`` or ``cohere``, for model ids such as ARNs that do not say).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import orjson

from bastion.errors import GatewayError, bad_request
from bastion.providers.aws_auth import REGION_PLACEHOLDER, AwsAuth, fill_region
from bastion.providers.base import (
    JSON,
    Deployment,
    Endpoint,
    ProviderKind,
    Signer,
    UpstreamRequest,
)
from bastion.providers.bedrock_translate import (
    ConverseStreamDecoder,
    bedrock_error,
    converse_request,
    parse_converse,
)
from bastion.providers.canonical import (
    bad_upstream,
    embedding_inputs,
    embeddings_response,
    merge_embeddings,
)

DEFAULT_BASE_URL = f"https://bedrock-runtime.{REGION_PLACEHOLDER}.amazonaws.com"
# Characters a URL path segment may hold unescaped (RFC 3986 pchar minus '/'): the model
# id is escaped exactly as aiohttp will send it, so the SigV4 signature covers those bytes.
_PATH_SAFE = "-._~!$&'()*+,;=:@"


class BedrockAdapter:
    kind = "bedrock"
    openai_wire = False
    endpoints: frozenset[Endpoint] = frozenset({"chat", "embeddings"})

    def __init__(self, auth: AwsAuth | None = None) -> None:
        self.auth = auth or AwsAuth("bedrock", bearer_env="AWS_BEARER_TOKEN_BEDROCK")
        self.signer: Signer | None = self.auth.sign

    def build_request(
        self, endpoint: Endpoint, body: JSON, deployment: Deployment, *, stream: bool
    ) -> UpstreamRequest:
        provider = deployment.provider
        if deployment.defaults:
            body = {**deployment.defaults, **body}
        url = f"{provider.base_url}/model/{quote(deployment.model, safe=_PATH_SAFE)}"
        region = provider.options.get("region")
        if region:  # else the signer fills in the region it resolves
            url = fill_region(url, str(region))
        headers = {"content-type": "application/json"}
        if endpoint == "embeddings":
            payload = embedding_request(body, deployment.model, provider.options)
            url += "/invoke"
            headers["accept"] = "application/json"
        else:
            payload = converse_request(body, provider.options)
            url += "/converse-stream" if stream else "/converse"
            if not stream:
                headers["accept"] = "application/json"
        if provider.headers:
            headers.update(provider.headers)
        return UpstreamRequest("POST", url, headers, orjson.dumps(payload))

    def parse_response(self, endpoint: Endpoint, body: bytes, deployment: Deployment) -> JSON:
        data = orjson.loads(body)
        if not isinstance(data, dict):
            raise bad_upstream("bedrock", "the answer is not a JSON object.")
        if endpoint == "embeddings":
            return parse_embeddings(data, deployment.model, deployment.provider.options)
        return parse_converse(data, deployment.model)

    def stream_decoder(self, deployment: Deployment) -> ConverseStreamDecoder:
        return ConverseStreamDecoder(deployment.model)

    def classify_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        error_type = _header(headers, "x-amzn-errortype") or ""
        message = ""
        try:
            data: Any = orjson.loads(body)
        except orjson.JSONDecodeError:
            message = body[:300].decode("utf-8", "replace")
        else:
            if isinstance(data, dict):
                message = str(data.get("message") or data.get("Message") or "")
                error_type = error_type or str(data.get("__type") or data.get("code") or "")
        return bedrock_error(error_type, message, status, _header(headers, "retry-after"))

    # Titan embeddings take one text per call: the pipeline sends one request per input.
    def split_request(
        self, endpoint: Endpoint, body: JSON, deployment: Deployment
    ) -> list[JSON] | None:
        if endpoint != "embeddings":
            return None
        family = embedding_family(deployment.model, deployment.provider.options)
        inputs = body.get("input")
        if family != "titan" or not isinstance(inputs, list) or len(inputs) < 2:
            return None
        return [{**body, "input": item} for item in inputs]

    def merge_responses(
        self, endpoint: Endpoint, parts: Sequence[JSON], deployment: Deployment
    ) -> JSON:
        return merge_embeddings(parts)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return value


# --- embeddings ----------------------------------------------------------------------


def embedding_family(model: str, options: Mapping[str, Any]) -> str:
    configured = options.get("embedding_format")
    if configured in ("titan", "cohere"):
        return str(configured)
    lowered = model.lower()
    if "cohere.embed" in lowered:
        return "cohere"
    if "titan-embed" in lowered:
        return "titan"
    raise bad_request(
        f"Bedrock embeddings support Amazon Titan and Cohere Embed models; '{model}' is neither "
        "(set the provider option embedding_format to 'titan' or 'cohere' for ARNs).",
        param="model",
    )


def embedding_request(body: JSON, model: str, options: Mapping[str, Any]) -> JSON:
    texts = embedding_inputs(body)
    dimensions = body.get("dimensions")
    if embedding_family(model, options) == "cohere":
        out: JSON = {
            "texts": texts,
            "input_type": body.get("input_type")
            or options.get("embedding_input_type")
            or "search_document",
            "embedding_types": ["float"],
        }
        if dimensions is not None:
            out["output_dimension"] = dimensions
        return out
    if len(texts) != 1:
        raise bad_request("Titan embeddings take one input per request.", param="input")
    titan: JSON = {"inputText": texts[0]}
    if "text-v2" in model.lower() or options.get("embedding_format") == "titan":
        if dimensions is not None:
            titan["dimensions"] = dimensions
        titan["normalize"] = True
    elif dimensions is not None:
        raise bad_request(f"'{model}' does not support 'dimensions'.", param="dimensions")
    return titan


def parse_embeddings(data: JSON, model: str, options: Mapping[str, Any]) -> JSON:
    if embedding_family(model, options) == "titan":
        vector = data.get("embedding")
        if not isinstance(vector, list):
            raise bad_upstream("bedrock", "the Titan answer has no embedding.")
        return embeddings_response(model, [vector], int(data.get("inputTextTokenCount") or 0))
    embeddings = data.get("embeddings")
    if isinstance(embeddings, dict):  # with embedding_types: {"float": [[...], ...]}
        embeddings = embeddings.get("float")
    if not isinstance(embeddings, list):
        raise bad_upstream("bedrock", "the Cohere answer has no float embeddings.")
    # Cohere on Bedrock reports tokens only in a response header, which adapters do not see.
    return embeddings_response(model, embeddings, 0)


KINDS: tuple[ProviderKind, ...] = (
    ProviderKind(
        "bedrock",
        BedrockAdapter(),
        DEFAULT_BASE_URL,
        key_env="AWS_ACCESS_KEY_ID",
        option_env={"region": "AWS_REGION"},
    ),
)
