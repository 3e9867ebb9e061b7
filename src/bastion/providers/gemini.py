"""Google Gemini: the Gemini API (``gemini``) and Vertex AI (``vertex``).

Both speak ``generateContent``; translation lives in
:mod:`bastion.providers.gemini_translate`. What differs is the URL and the
credentials:

- ``gemini``: ``{base}/v1beta/models/{model}:generateContent`` (and
  ``:streamGenerateContent?alt=sse``), the API key in ``x-goog-api-key`` (never in
  the query string). Embeddings: ``:embedContent`` for one input,
  ``:batchEmbedContents`` for a list (100 a call).
- ``vertex``: ``{base}/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:generateContent``,
  ``Authorization: Bearer`` from :mod:`bastion.providers.google_auth`. The base
  URL follows the location (``https://{location}-aiplatform.googleapis.com``;
  ``global`` → ``aiplatform.googleapis.com``). Embeddings: ``:predict`` with
  ``instances[{content}]`` (``text-embedding-*``, ``gemini-embedding-001``), or
  ``:embedContent`` for later Gemini embedding models. A model id may also be a
  full resource name (``projects/.../endpoints/...``) or ``publishers/x/models/y``.

Provider options: ``project``, ``location`` (or ``region``; default ``global``),
``credentials`` (service-account key file or JSON), ``access_token`` (static
token), ``api_key`` (Vertex express mode: no project), ``safety_settings``
(passed to Gemini as they are) and ``json_schema: native`` (send tool and
response schemas as plain JSON Schema, ``parametersJsonSchema`` /
``responseJsonSchema``, instead of converting them to Gemini's OpenAPI subset).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from bastion.errors import GatewayError, scrub_secrets
from bastion.providers.base import (
    JSON,
    Deployment,
    Endpoint,
    ProviderKind,
    ProviderSettings,
    Signer,
    UpstreamRequest,
)
from bastion.providers.canonical import (
    bad_upstream,
    embedding_inputs,
    embeddings_response,
    merge_embeddings,
)
from bastion.providers.gemini_translate import GeminiStreamDecoder, chat_request, parse_generate
from bastion.providers.google_auth import GoogleCredentials

GEMINI_BASE_URL = "https://generativelanguage.googleapis.com"
VERTEX_BASE_URL = "https://{location}-aiplatform.googleapis.com"
_GEMINI_BATCH = 100  # batchEmbedContents: requests per call
_VERTEX_BATCH = 100  # :predict instances per call (text-embedding-*)


class _GoogleAdapter:
    """What the Gemini API and Vertex AI share: the body, the answers, the errors."""

    kind = ""
    openai_wire = False
    endpoints: frozenset[Endpoint] = frozenset({"chat", "embeddings"})
    signer: Signer | None = None

    def normalise_base_url(self, base_url: str) -> str:
        return base_url.rstrip("/")

    def model_url(self, deployment: Deployment) -> str:
        raise NotImplementedError

    def auth_headers(self, provider: ProviderSettings, headers: dict[str, str]) -> None:
        if provider.api_key:
            headers["x-goog-api-key"] = provider.api_key

    def embedding_call(self, body: JSON, model: str) -> tuple[str, JSON]:
        raise NotImplementedError

    def embedding_batch(self, model: str) -> int:
        raise NotImplementedError

    def build_request(
        self, endpoint: Endpoint, body: JSON, deployment: Deployment, *, stream: bool
    ) -> UpstreamRequest:
        provider = deployment.provider
        if deployment.defaults:
            body = {**deployment.defaults, **body}
        if endpoint == "embeddings":
            method, payload = self.embedding_call(body, deployment.model)
        else:
            payload = chat_request(body, deployment.model, provider.options)
            method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        headers = {"content-type": "application/json"}
        self.auth_headers(provider, headers)
        if provider.headers:
            headers.update(provider.headers)
        url = f"{self.model_url(deployment)}:{method}"
        return UpstreamRequest("POST", url, headers, orjson.dumps(payload))

    def parse_response(self, endpoint: Endpoint, body: bytes, deployment: Deployment) -> JSON:
        data = orjson.loads(body)
        if not isinstance(data, dict):
            raise bad_upstream(self.kind, "the answer is not a JSON object.")
        if endpoint == "embeddings":
            return parse_embeddings(data, deployment.model, self.kind)
        return parse_generate(data, deployment.model)

    def stream_decoder(self, deployment: Deployment) -> GeminiStreamDecoder:
        return GeminiStreamDecoder(deployment.model, self._stream_error)

    def _stream_error(self, raw: bytes) -> GatewayError:
        data: Any = orjson.loads(raw)
        err = data.get("error") if isinstance(data, dict) else None
        code = err.get("code") if isinstance(err, dict) else None
        return google_error(code if isinstance(code, int) else 500, raw, {}, self.kind)

    def classify_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        return google_error(status, body, headers, self.kind)

    # Embedding inputs beyond one call's limit: the pipeline sends one request per slice.
    def split_request(
        self, endpoint: Endpoint, body: JSON, deployment: Deployment
    ) -> list[JSON] | None:
        inputs = body.get("input")
        if endpoint != "embeddings" or not isinstance(inputs, list):
            return None
        size = self.embedding_batch(deployment.model)
        if len(inputs) <= size:
            return None
        if size == 1:
            return [{**body, "input": item} for item in inputs]
        return [{**body, "input": inputs[i : i + size]} for i in range(0, len(inputs), size)]

    def merge_responses(
        self, endpoint: Endpoint, parts: Sequence[JSON], deployment: Deployment
    ) -> JSON:
        return merge_embeddings(parts)


def _dimensions(body: JSON) -> int | None:
    value = body.get("dimensions")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text_content(text: str) -> JSON:
    return {"parts": [{"text": text}]}


class GeminiAdapter(_GoogleAdapter):
    """The Gemini API (Google AI Studio keys)."""

    kind = "gemini"

    def model_url(self, deployment: Deployment) -> str:
        provider = deployment.provider
        model = deployment.model
        if not model.startswith(("models/", "tunedModels/")):
            model = f"models/{model}"
        return f"{provider.base_url}/{provider.api_version or 'v1beta'}/{model}"

    def embedding_call(self, body: JSON, model: str) -> tuple[str, JSON]:
        texts = embedding_inputs(body)
        dims = _dimensions(body)
        if isinstance(body.get("input"), str):
            single: JSON = {"content": _text_content(texts[0])}
            if dims is not None:
                single["outputDimensionality"] = dims
            return "embedContent", single
        name = model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"
        requests: list[JSON] = []
        for text in texts:
            request: JSON = {"model": name, "content": _text_content(text)}
            if dims is not None:
                request["outputDimensionality"] = dims
            requests.append(request)
        return "batchEmbedContents", {"requests": requests}

    def embedding_batch(self, model: str) -> int:
        return _GEMINI_BATCH


def vertex_host(location: str) -> str:
    if location == "global":
        return "https://aiplatform.googleapis.com"
    if location in ("us", "eu"):  # multi-region endpoints
        return f"https://aiplatform.{location}.rep.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


def _embed_content_model(model: str) -> bool:
    """Vertex serves later Gemini embedding models through :embedContent, one input a call."""
    name = model.rsplit("/", 1)[-1]
    return "gemini" in name and name != "gemini-embedding-001"


class VertexAdapter(_GoogleAdapter):
    """Vertex AI (Google Cloud): OAuth tokens, or an API key in express mode."""

    kind = "vertex"

    def __init__(self, credentials: GoogleCredentials | None = None) -> None:
        self.credentials = credentials or GoogleCredentials()
        self.signer = self.credentials.sign

    def model_url(self, deployment: Deployment) -> str:
        provider = deployment.provider
        options = provider.options
        location = str(options.get("location") or options.get("region") or "global")
        base = provider.base_url
        if "{location}" in base:
            base = vertex_host(location)
        model = deployment.model
        if model.startswith("projects/"):
            path = model
        else:
            resource = (
                model if model.startswith("publishers/") else f"publishers/google/models/{model}"
            )
            project = options.get("project")
            if project:
                path = f"projects/{project}/locations/{location}/{resource}"
            elif provider.api_key:  # express mode: no project in the path
                path = resource
            else:
                raise GatewayError(
                    500,
                    f"The Vertex AI provider '{provider.name}' needs the 'project' option"
                    " (or an api_key for express mode).",
                    code="provider_misconfigured",
                )
        return f"{base}/{provider.api_version or 'v1'}/{path}"

    def embedding_call(self, body: JSON, model: str) -> tuple[str, JSON]:
        texts = embedding_inputs(body)
        dims = _dimensions(body)
        if _embed_content_model(model):
            if len(texts) != 1:  # split_request sends one input per call
                raise GatewayError(500, "embedContent takes one input.", code="internal_error")
            payload: JSON = {"content": _text_content(texts[0])}
            if dims is not None:
                payload["embedContentConfig"] = {"outputDimensionality": dims}
            return "embedContent", payload
        payload = {"instances": [{"content": text} for text in texts]}
        if dims is not None:
            payload["parameters"] = {"outputDimensionality": dims}
        return "predict", payload

    def embedding_batch(self, model: str) -> int:
        name = model.rsplit("/", 1)[-1]
        if _embed_content_model(model) or name == "gemini-embedding-001":
            return 1
        return _VERTEX_BATCH


def parse_embeddings(data: JSON, model: str, provider: str) -> JSON:
    """``predict`` (Vertex), ``embedContent`` or ``batchEmbedContents`` answers."""
    vectors: list[Any] = []
    tokens = 0
    if isinstance(data.get("predictions"), list):
        for prediction in data["predictions"]:
            embedding = prediction.get("embeddings") or {}
            vectors.append(embedding.get("values"))
            stats = embedding.get("statistics") or {}
            count = stats.get("token_count")
            tokens += int(count) if isinstance(count, int | float) else 0
    elif isinstance(data.get("embeddings"), list):
        vectors = [e.get("values") for e in data["embeddings"] if isinstance(e, dict)]
    elif isinstance(data.get("embedding"), dict):
        vectors = [data["embedding"].get("values")]
    meta = data.get("usageMetadata")
    if isinstance(meta, dict) and isinstance(meta.get("promptTokenCount"), int):
        tokens = meta["promptTokenCount"]
    if not vectors or not all(isinstance(v, list) for v in vectors):
        raise bad_upstream(provider, "the answer holds no embeddings.")
    return embeddings_response(model, vectors, tokens)


# --- errors ----------------------------------------------------------------------------

_TOO_LONG = re.compile(
    r"input token count|exceeds the maximum number of tokens|too many tokens|context (?:window|length)",
    re.IGNORECASE,
)
_URL = re.compile(r"https?://\S+")
_AUTH_REASONS = frozenset(
    {"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED", "ACCESS_TOKEN_EXPIRED"}
)


def google_error(
    status: int, body: bytes, headers: Mapping[str, str], provider: str
) -> GatewayError:
    """Map a Google API error (``{"error": {"code", "message", "status", "details"}}``)."""
    err = _error_object(body)
    message = str(err.get("message") or "") if err else body[:300].decode("utf-8", "replace")
    message = _URL.sub("[url]", scrub_secrets(message)).strip() or f"HTTP {status}"
    state = str(err.get("status") or "") if err else ""
    details = err.get("details") if err else None
    reasons = {
        str(d.get("reason"))
        for d in details or ()
        if isinstance(d, dict) and str(d.get("@type", "")).endswith("ErrorInfo")
    }
    retry = _retry_after(headers, details)
    prefix = f"{provider} error: "
    if (
        status in (401, 403)
        or state in ("UNAUTHENTICATED", "PERMISSION_DENIED")
        or reasons & _AUTH_REASONS
    ):
        return GatewayError(
            502,
            f"{provider} rejected the gateway's credentials ({state or status}): {message}",
            code="upstream_auth_error",
        )
    if status == 429 or state == "RESOURCE_EXHAUSTED":
        return GatewayError(
            429,
            prefix + message,
            code="rate_limit_exceeded",
            error_type="rate_limit_error",
            retryable=True,
            headers=retry,
        )
    if status == 503 or state == "UNAVAILABLE":
        return GatewayError(
            503, prefix + message, code="upstream_unavailable", retryable=True, headers=retry
        )
    if status in (408, 504) or state == "DEADLINE_EXCEEDED":
        return GatewayError(504, prefix + message, code="upstream_timeout", retryable=True)
    if status == 400 and _TOO_LONG.search(message):
        return GatewayError(400, message, code="context_length_exceeded", param="messages")
    if 400 <= status < 500:
        return GatewayError(status, message, code=state.lower() or None)
    return GatewayError(502, prefix + message, code="upstream_error", retryable=True)


def _error_object(body: bytes) -> JSON | None:
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, list) and data:  # streamed requests answer errors as a JSON array
        data = data[0]
    err = data.get("error") if isinstance(data, dict) else None
    return err if isinstance(err, dict) else None


def _retry_after(headers: Mapping[str, str], details: Any) -> dict[str, str]:
    value = headers.get("retry-after") or headers.get("Retry-After")
    if value:
        return {"retry-after": value}
    for d in details or ():
        delay = d.get("retryDelay") if isinstance(d, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                seconds = float(delay[:-1])
            except ValueError:
                continue
            return {"retry-after": str(max(1, int(seconds + 0.999)))}
    return {}


KINDS: tuple[ProviderKind, ...] = (
    ProviderKind(
        "gemini",
        GeminiAdapter(),
        GEMINI_BASE_URL,
        key_env="GEMINI_API_KEY",
        key_env_fallbacks=("GOOGLE_API_KEY",),
        default_api_version="v1beta",
    ),
    ProviderKind(
        "vertex",
        VertexAdapter(),
        VERTEX_BASE_URL,
        key_required=False,
        default_api_version="v1",
    ),
)
