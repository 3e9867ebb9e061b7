"""A fake Google Gemini API and Vertex AI: a real aiohttp server on loopback.

It serves, as Google does:

- Gemini API: ``POST /v1beta/models/{model}:generateContent``,
  ``:streamGenerateContent?alt=sse``, ``:embedContent``, ``:batchEmbedContents``;
  the key must come in ``x-goog-api-key`` (a key in the query string is refused
  here: the gateway must never put one in a URL);
- Vertex AI: ``POST /v1/projects/{project}/locations/{location}/publishers/google/models/{model}:...``
  (``generateContent``, ``streamGenerateContent``, ``predict``, ``embedContent``)
  with ``Authorization: Bearer`` carrying a token this fake issued or the static
  test token; and express mode ``/v1/publishers/google/models/{model}:...`` with an
  API key;
- an OAuth 2.0 token endpoint ``POST /token`` for service accounts: the JWT
  assertion must be RS256-signed with the test service account's key
  (:meth:`FakeGemini.service_account_info` makes one), for this endpoint, with the
  cloud-platform scope.

Bodies are checked against Google's request messages: an unknown field gets
``400 INVALID_ARGUMENT "Invalid JSON payload received. Unknown name ..."``; so do
bad enum values, bad base64, empty parts, object schemas without properties,
function-response turns that do not follow a function-call turn with as many
parts, and function calls of the current turn without their thought signature
(as Gemini 3 does). Every rejection is appended to ``rejections``.

What it answers is chosen by the model id: ordinary ids say
``"Hello! You said: <last user text>"``; ``tool-call``, ``tool-call-id``,
``parallel-tools``, ``cached`` (with thoughts when asked), ``json``, ``stop-seq``,
``length``, ``content-filter``, ``prompt-blocked``, ``malformed-call``,
``error-400``/``429``/``500``/``503``, ``overloaded``, ``context-too-long`` and
``slow-<seconds>`` behave as named.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

API_KEY = "gemini-test-key-0123456789"
STATIC_TOKEN = "ya29.static-test-token"
PROJECT = "bastion-test"
LOCATION = "europe-west4"
CLIENT_EMAIL = "gateway@bastion-test.iam.gserviceaccount.com"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
SKIP_SIGNATURE = "skip_thought_signature_validator"
TOOL_ARGUMENTS = ({"city": "Paris"}, {"city": "London"})
CALL_ID = "gemini-call-7f3a"
CACHED_USAGE = {
    "promptTokenCount": 2000,
    "candidatesTokenCount": 20,
    "cachedContentTokenCount": 1500,
    "thoughtsTokenCount": 30,
    "totalTokenCount": 2050,
}
THOUGHT_TEXT = "The user greets me; I should greet back."
RETRY_DELAY = "6.5s"
EMBEDDING_DIMENSIONS = 4

# --- the request messages (field -> sub-message; "*" any value; () a scalar) ----------

_S: tuple[()] = ()
_ANY = "*"
_SCHEMA: dict[str, Any] = {}
_SCHEMA.update(
    {
        **dict.fromkeys(
            (
                "type",
                "format",
                "title",
                "description",
                "nullable",
                "maxItems",
                "minItems",
                "minProperties",
                "maxProperties",
                "minLength",
                "maxLength",
                "pattern",
                "minimum",
                "maximum",
            ),
            _S,
        ),
        "enum": [_S],
        "required": [_S],
        "propertyOrdering": [_S],
        "example": _ANY,
        "default": _ANY,
        "items": _SCHEMA,
        "anyOf": [_SCHEMA],
        "properties": {"*map*": _SCHEMA},
    }
)
_PART = {
    "text": _S,
    "thought": _S,
    "thoughtSignature": _S,
    "inlineData": {"mimeType": _S, "data": _S},
    "fileData": {"mimeType": _S, "fileUri": _S},
    "functionCall": {"id": _S, "name": _S, "args": _ANY},
    "functionResponse": {"id": _S, "name": _S, "response": _ANY},
    "executableCode": _ANY,
    "codeExecutionResult": _ANY,
    "videoMetadata": _ANY,
}
_CONTENT = {"role": _S, "parts": [_PART]}
_GENERATE: dict[str, Any] = {
    "contents": [_CONTENT],
    "systemInstruction": _CONTENT,
    "tools": [
        {
            "functionDeclarations": [
                {
                    "name": _S,
                    "description": _S,
                    "parameters": _SCHEMA,
                    "parametersJsonSchema": _ANY,
                    "response": _SCHEMA,
                    "responseJsonSchema": _ANY,
                }
            ],
            "googleSearch": _ANY,
            "codeExecution": _ANY,
            "urlContext": _ANY,
        }
    ],
    "toolConfig": {"functionCallingConfig": {"mode": _S, "allowedFunctionNames": [_S]}},
    "safetySettings": [{"category": _S, "threshold": _S, "method": _S}],
    "generationConfig": {
        **dict.fromkeys(
            (
                "responseMimeType",
                "candidateCount",
                "maxOutputTokens",
                "temperature",
                "topP",
                "topK",
                "seed",
                "presencePenalty",
                "frequencyPenalty",
                "responseLogprobs",
                "logprobs",
                "mediaResolution",
            ),
            _S,
        ),
        "stopSequences": [_S],
        "responseModalities": [_S],
        "responseSchema": _SCHEMA,
        "responseJsonSchema": _ANY,
        "thinkingConfig": {"includeThoughts": _S, "thinkingBudget": _S, "thinkingLevel": _S},
    },
    "cachedContent": _S,
}
_VERTEX_GENERATE = {**_GENERATE, "labels": _ANY}
_EMBED = {"model": _S, "content": _CONTENT, "taskType": _S, "title": _S, "outputDimensionality": _S}
_BATCH_EMBED = {"requests": [_EMBED]}
_PREDICT = {
    "instances": [{"content": _S, "task_type": _S, "title": _S}],
    "parameters": {"outputDimensionality": _S, "autoTruncate": _S},
}
_VERTEX_EMBED = {
    "content": _CONTENT,
    "embedContentConfig": {"outputDimensionality": _S, "taskType": _S, "autoTruncate": _S},
}
_TYPES = {"TYPE_UNSPECIFIED", "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}
_MODES = {"MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"}


class Reject(Exception):
    def __init__(
        self, code: int, status: str, message: str, details: list[Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.details = details or []

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            err["details"] = self.details
        return {"error": err}


def _invalid(message: str) -> Reject:
    return Reject(400, "INVALID_ARGUMENT", message)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def check_fields(value: Any, spec: Any, where: str) -> None:
    """Reject unknown field names as Google's JSON parser does."""
    if spec is _ANY or spec == _S:
        return
    if isinstance(spec, list):
        if not isinstance(value, list):
            raise _invalid(f"Invalid value at '{where}', expected a list.")
        for i, item in enumerate(value):
            check_fields(item, spec[0], f"{where}[{i}]")
        return
    if not isinstance(value, dict):
        raise _invalid(f"Invalid JSON payload received. Expected an object at '{where}'.")
    if "*map*" in spec:
        for key, item in value.items():
            check_fields(item, spec["*map*"], f"{where}[{key}]")
        return
    for key, item in value.items():
        if key not in spec:
            at = f" at '{where}'" if where else ""
            raise _invalid(
                f'Invalid JSON payload received. Unknown name "{key}"{at}: Cannot find field.'
            )
        check_fields(item, spec[key], f"{where}.{_snake(key)}" if where else _snake(key))


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    json: Any


class FakeGemini:
    """Gemini API + Vertex AI + the OAuth token endpoint, on one loopback port."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.token_requests: list[dict[str, Any]] = []
        self.rejections: list[tuple[str, str]] = []
        self._issued_tokens: set[str] = set()
        self._signatures: set[str] = set()
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/token", self._token)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def reset(self) -> None:
        self.requests.clear()
        self.token_requests.clear()
        self.rejections.clear()

    # --- configuration for the gateway ---------------------------------------------------

    def provider_config(self) -> dict[str, Any]:
        return {"kind": "gemini", "base_url": self.url, "api_key": API_KEY}

    def vertex_config(self, credentials: str | None = None, **extra: Any) -> dict[str, Any]:
        config: dict[str, Any] = {
            "kind": "vertex",
            "base_url": self.url,
            "project": PROJECT,
            "location": LOCATION,
        }
        if credentials is not None:
            config["credentials"] = credentials
        return {**config, **extra}

    def service_account_info(self, key: rsa.RSAPrivateKey | None = None) -> dict[str, Any]:
        pem = (key or self._key).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return {
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": "0123456789abcdef",
            "private_key": pem.decode(),
            "client_email": CLIENT_EMAIL,
            "client_id": "100000000000000000001",
            "token_uri": f"{self.url}/token",
        }

    def write_service_account(self, path: Path, key: rsa.RSAPrivateKey | None = None) -> str:
        path.write_text(json.dumps(self.service_account_info(key)))
        return str(path)

    # --- OAuth token endpoint ------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        form = {k: v[0] for k, v in parse_qs((await request.read()).decode()).items()}
        self.token_requests.append(form)

        def refuse(description: str) -> web.Response:
            self.rejections.append(("invalid_grant", description))
            return web.json_response(
                {"error": "invalid_grant", "error_description": description}, status=400
            )

        if (
            request.headers.get("content-type", "").split(";")[0]
            != "application/x-www-form-urlencoded"
        ):
            return refuse("Bad Request")
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return refuse("Invalid grant_type.")
        try:
            header_b64, claims_b64, signature_b64 = form.get("assertion", "").split(".")
            header = json.loads(_b64url(header_b64))
            claims = json.loads(_b64url(claims_b64))
            signature = _b64url(signature_b64)
        except (ValueError, binascii.Error):
            return refuse("Invalid JWT.")
        if header.get("alg") != "RS256":
            return refuse("Invalid JWT: unsupported algorithm.")
        try:
            self._key.public_key().verify(
                signature,
                f"{header_b64}.{claims_b64}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            return refuse("Invalid JWT Signature.")
        now = time.time()
        if claims.get("iss") != CLIENT_EMAIL:
            return refuse("Invalid JWT: issuer.")
        if claims.get("aud") != TOKEN_AUDIENCE:  # Google's token URL, whatever token_uri says
            return refuse(
                "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe."
            )
        if SCOPE not in str(claims.get("scope", "")).split():
            return refuse("Invalid JWT: scope.")
        if not (claims.get("iat", 0) <= now + 60 and now < claims.get("exp", 0) <= now + 3700):
            return refuse(
                "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe."
            )
        token = f"ya29.fake-{secrets.token_hex(8)}"
        self._issued_tokens.add(token)
        return web.json_response(
            {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}
        )

    # --- the APIs ------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        query = {k: v for k, v in request.query.items()}
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self.requests.append(Recorded(request.method, request.path, headers, query, body))
        try:
            api, model, method = self._authenticate(request.path, headers, query)
            if request.method != "POST":
                raise Reject(404, "NOT_FOUND", "Method not found.")
            if not isinstance(body, dict):
                raise _invalid("Invalid JSON payload received.")
            if method in ("generateContent", "streamGenerateContent"):
                check_fields(body, _VERTEX_GENERATE if api == "vertex" else _GENERATE, "")
                check_generate(body)
                self._check_signatures(body)
                stream = method == "streamGenerateContent"
                if stream and query.get("alt") != "sse":
                    raise _invalid("This fake only streams Server-Sent Events (alt=sse).")
                return await self._generate(request, model, body, stream=stream)
            return self._embed(api, model, method, body)
        except Reject as reject:
            self.rejections.append((reject.status, reject.message))
            return web.json_response(reject.body(), status=reject.code)

    def _authenticate(
        self, path: str, headers: dict[str, str], query: dict[str, str]
    ) -> tuple[str, str, str]:
        if "key" in query:
            raise _invalid("fake: the API key must be sent in x-goog-api-key, never in the URL.")
        m = re.fullmatch(r"/v1beta/models/([^/:]+):(\w+)", path)
        if m:
            key = headers.get("x-goog-api-key")
            if key is None:
                raise Reject(
                    403,
                    "PERMISSION_DENIED",
                    "Method doesn't allow unregistered callers (callers without established identity)."
                    " Please use API Key or other form of API consumer identity to call this API.",
                )
            if key != API_KEY:
                raise Reject(
                    400,
                    "INVALID_ARGUMENT",
                    "API key not valid. Please pass a valid API key.",
                    [
                        {
                            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": "API_KEY_INVALID",
                            "domain": "googleapis.com",
                        }
                    ],
                )
            return "gemini", m.group(1), m.group(2)
        m = re.fullmatch(
            r"/v1/projects/([^/]+)/locations/([^/]+)/publishers/google/models/([^/:]+):(\w+)", path
        )
        if m:
            bearer = headers.get("authorization", "")
            token = bearer[7:] if bearer.startswith("Bearer ") else ""
            if token != STATIC_TOKEN and token not in self._issued_tokens:
                raise Reject(
                    401,
                    "UNAUTHENTICATED",
                    "Request had invalid authentication credentials. Expected OAuth 2 access token,"
                    " login cookie or other valid authentication credential.",
                )
            if (m.group(1), m.group(2)) != (PROJECT, LOCATION):
                raise Reject(
                    403,
                    "PERMISSION_DENIED",
                    f"Permission 'aiplatform.endpoints.predict' denied on resource"
                    f" 'projects/{m.group(1)}/locations/{m.group(2)}'.",
                )
            return "vertex", m.group(3), m.group(4)
        m = re.fullmatch(r"/v1/publishers/google/models/([^/:]+):(\w+)", path)
        if m:
            if headers.get("x-goog-api-key") != API_KEY:
                raise Reject(401, "UNAUTHENTICATED", "API keys are not supported by this API.")
            return "vertex", m.group(1), m.group(2)
        raise Reject(404, "NOT_FOUND", "The requested URL was not found on this server.")

    def _check_signatures(self, body: dict[str, Any]) -> None:
        """Gemini 3: every step of the current turn must carry the signature it was given."""
        contents = body["contents"]
        start = 0
        for i, content in enumerate(contents):
            parts = content.get("parts", [])
            if content.get("role") == "user" and any("text" in p for p in parts):
                start = i + 1
        position = 0
        for content in contents[start:]:
            calls = [p for p in content.get("parts", []) if "functionCall" in p]
            position += len(content.get("parts", []))
            if not calls:
                continue
            signature = calls[0].get("thoughtSignature")
            if signature is None:
                name = calls[0]["functionCall"].get("name")
                raise _invalid(
                    "Function call is missing a thought_signature in functionCall parts. This is"
                    " required for tools to work correctly, and missing thought_signature may lead"
                    f" to degraded model performance. Additional data, function call `default_api:{name}`"
                    f" , position {position}."
                )
            if signature != SKIP_SIGNATURE and signature not in self._signatures:
                raise _invalid("Thought signature is not valid.")

    def _signature(self) -> str:
        value = base64.b64encode(secrets.token_bytes(24)).decode()
        self._signatures.add(value)
        return value

    # --- generateContent -----------------------------------------------------------------

    async def _generate(
        self, request: web.Request, model: str, body: dict[str, Any], *, stream: bool
    ) -> web.StreamResponse:
        slow = re.fullmatch(r"slow-([\d.]+)", model)
        if slow:
            await asyncio.sleep(float(slow.group(1)))
        error = _scripted_error(model)
        if error is not None:
            raise error
        response_id = secrets.token_hex(8)
        if model == "prompt-blocked":
            blocked = {
                "promptFeedback": {
                    "blockReason": "SAFETY",
                    "safetyRatings": [
                        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}
                    ],
                },
                "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
                "modelVersion": model,
                "responseId": response_id,
            }
            if stream:
                return await self._sse(request, [blocked])
            return web.json_response(blocked)
        candidates, usage = self._reply(model, body)
        if not stream:
            return web.json_response(
                {
                    "candidates": candidates,
                    "usageMetadata": usage,
                    "modelVersion": model,
                    "responseId": response_id,
                }
            )
        return await self._sse(request, _stream_events(candidates, usage, model, response_id))

    async def _sse(self, request: web.Request, events: list[dict[str, Any]]) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for event in events:
            frame = b"data: " + json.dumps(event).encode() + b"\r\n\r\n"
            cut = len(frame) // 2  # events split across network reads
            await response.write(frame[:cut])
            await asyncio.sleep(0)
            await response.write(frame[cut:])
        await response.write_eof()
        return response

    def _reply(
        self, model: str, body: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        contents = body["contents"]
        config = body.get("generationConfig", {})
        last = contents[-1]["parts"] if contents else []
        said = " ".join(p["text"] for p in last if "text" in p)
        answer = f"Hello! You said: {said}"
        parts: list[dict[str, Any]] = []
        finish = "STOP"
        declarations = [d for t in body.get("tools", []) for d in t.get("functionDeclarations", [])]
        results = [p["functionResponse"] for p in last if "functionResponse" in p]
        if model in ("tool-call", "tool-call-id", "parallel-tools") and results:
            answer = "The tool said: " + "; ".join(_result_text(r) for r in results)
        elif model in ("tool-call", "tool-call-id", "parallel-tools"):
            if not declarations:
                raise _invalid("fake: this model needs a declared function.")
            name = declarations[0]["name"]
            count = 2 if model == "parallel-tools" else 1
            for i in range(count):
                call: dict[str, Any] = {"name": name, "args": TOOL_ARGUMENTS[i]}
                if model == "tool-call-id":
                    call["id"] = CALL_ID
                part: dict[str, Any] = {"functionCall": call}
                if i == 0:  # Gemini signs the first call of a step only
                    part["thoughtSignature"] = self._signature()
                parts.append(part)
            answer = ""
        elif model == "json":
            answer = '{"answer": 42}'
        elif model == "stop-seq":
            for stop in config.get("stopSequences", []):
                if stop in answer:
                    answer = answer[: answer.index(stop)]
        elif model == "length":
            limit = int(config.get("maxOutputTokens", 3))
            answer = " ".join(answer.split()[:limit])
            finish = "MAX_TOKENS"
        elif model == "content-filter":
            answer, finish = "", "SAFETY"
        elif model == "malformed-call":
            answer, finish = "", "MALFORMED_FUNCTION_CALL"
        thinking = config.get("thinkingConfig", {})
        if model == "cached" and thinking.get("includeThoughts"):
            parts.insert(0, {"text": THOUGHT_TEXT, "thought": True})
        if answer:
            parts.append({"text": answer})
        prompt_words = sum(
            len(p["text"].split())
            for c in [*contents, body.get("systemInstruction", {"parts": []})]
            for p in c["parts"]
            if "text" in p
        )
        output_words = len(answer.split())
        usage: dict[str, Any] = {
            "promptTokenCount": prompt_words,
            "candidatesTokenCount": output_words,
            "totalTokenCount": prompt_words + output_words,
        }
        if model == "cached":
            usage = dict(CACHED_USAGE)
        candidates: list[dict[str, Any]] = []
        for index in range(int(config.get("candidateCount", 1))):
            cand_parts = parts if index == 0 else [{"text": f"{answer} #{index}"}]
            candidate: dict[str, Any] = {"finishReason": finish, "index": index}
            if cand_parts:
                candidate["content"] = {"parts": cand_parts, "role": "model"}
            if finish == "SAFETY":
                candidate["safetyRatings"] = [
                    {"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH", "blocked": True}
                ]
            if finish == "MALFORMED_FUNCTION_CALL":
                candidate["finishMessage"] = "Malformed function call: get_weather(city=Paris"
            candidates.append(candidate)
        return candidates, usage

    # --- embeddings ----------------------------------------------------------------------

    def _embed(self, api: str, model: str, method: str, body: dict[str, Any]) -> web.Response:
        if api == "gemini" and method == "embedContent":
            check_fields(body, _EMBED, "")
            text = _content_text(body["content"])
            return web.json_response(
                {"embedding": {"values": embedding(text, body.get("outputDimensionality"))}}
            )
        if api == "gemini" and method == "batchEmbedContents":
            check_fields(body, _BATCH_EMBED, "")
            vectors = []
            for i, req in enumerate(body["requests"]):
                if req.get("model") != f"models/{model}":
                    raise _invalid(
                        f"* BatchEmbedContentsRequest.requests[{i}].model: the model in the request must"
                        " match the model in the URL."
                    )
                vectors.append(
                    {
                        "values": embedding(
                            _content_text(req["content"]), req.get("outputDimensionality")
                        )
                    }
                )
            return web.json_response({"embeddings": vectors})
        if api == "vertex" and method == "predict":
            check_fields(body, _PREDICT, "")
            dims = body.get("parameters", {}).get("outputDimensionality")
            limit = 1 if model == "gemini-embedding-001" else 250
            if len(body["instances"]) > limit:
                raise _invalid(f"Too many instances: at most {limit} per request for {model}.")
            predictions = [
                {
                    "embeddings": {
                        "values": embedding(inst["content"], dims),
                        "statistics": {
                            "truncated": False,
                            "token_count": len(inst["content"].split()),
                        },
                    }
                }
                for inst in body["instances"]
            ]
            return web.json_response(
                {"predictions": predictions, "metadata": {"billableCharacterCount": 10}}
            )
        if api == "vertex" and method == "embedContent":
            check_fields(body, _VERTEX_EMBED, "")
            text = _content_text(body["content"])
            dims = body.get("embedContentConfig", {}).get("outputDimensionality")
            return web.json_response(
                {
                    "embedding": {"values": embedding(text, dims)},
                    "usageMetadata": {
                        "promptTokenCount": len(text.split()),
                        "totalTokenCount": len(text.split()),
                    },
                }
            )
        raise Reject(404, "NOT_FOUND", f"Method {method} is not found for {api}.")


def _b64url(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def embedding(text: str, dims: Any) -> list[float]:
    size = dims if isinstance(dims, int) else EMBEDDING_DIMENSIONS
    base = [float(len(text)), float(len(text.split())), 0.25, -0.5]
    return (base + [0.0] * size)[:size]


def _content_text(content: dict[str, Any]) -> str:
    return " ".join(p["text"] for p in content.get("parts", []) if "text" in p)


def _result_text(result: dict[str, Any]) -> str:
    response = result.get("response", {})
    output = response.get("output") if isinstance(response, dict) else None
    return output if isinstance(output, str) else json.dumps(response, sort_keys=True)


def _scripted_error(model: str) -> Reject | None:
    if model == "error-400":
        return _invalid("Invalid value at 'generation_config.temperature' (TYPE_FLOAT), \"hot\"")
    if model == "error-429":
        return Reject(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details."
            " For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {
                            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests"
                        }
                    ],
                },
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": RETRY_DELAY},
            ],
        )
    if model == "error-500":
        return Reject(
            500,
            "INTERNAL",
            "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
        )
    if model in ("error-503", "overloaded"):
        return Reject(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
    if model == "context-too-long":
        return _invalid(
            "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
        )
    return None


def check_generate(body: dict[str, Any]) -> None:
    """The semantic checks Gemini applies beyond field names."""
    contents = body.get("contents")
    if not contents:
        raise _invalid("* GenerateContentRequest.contents: contents is not specified")
    previous: dict[str, Any] | None = None
    for i, content in enumerate(contents):
        if content.get("role") not in ("user", "model"):
            raise _invalid("Please use a valid role: user, model.")
        parts = content.get("parts") or []
        if not parts:
            raise _invalid(
                f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty."
            )
        for j, part in enumerate(parts):
            where = f"contents[{i}].parts[{j}]"
            kinds = [
                k
                for k in ("text", "inlineData", "fileData", "functionCall", "functionResponse")
                if k in part
            ]
            if len(kinds) != 1:
                raise _invalid(
                    f"* GenerateContentRequest.{where}: a part must hold exactly one kind of data."
                )
            if "inlineData" in part:
                try:
                    base64.b64decode(part["inlineData"]["data"], validate=True)
                except (binascii.Error, KeyError):
                    raise _invalid(
                        f"Invalid value at '{where}.inline_data.data' (TYPE_BYTES), Base64 decoding failed."
                    ) from None
            if "functionResponse" in part and not part["functionResponse"].get("name"):
                raise _invalid(
                    f"* GenerateContentRequest.{where}.function_response.name: Name cannot be empty."
                )
        responses = sum("functionResponse" in p for p in parts)
        calls = sum("functionCall" in p for p in parts)
        if responses:
            prev_calls = sum("functionCall" in p for p in (previous or {}).get("parts", []))
            if not prev_calls or (previous or {}).get("role") != "model":
                raise _invalid(
                    "Please ensure that function response turn comes immediately after a function call turn."
                )
            if prev_calls != responses:
                raise _invalid(
                    "Please ensure that the number of function response parts is equal to the number of"
                    " function call parts of the function call turn."
                )
        if calls and (previous is None or previous.get("role") != "user"):
            raise _invalid(
                "Please ensure that function call turn comes immediately after a user turn or after a"
                " function response turn."
            )
        previous = content
    for t, tool in enumerate(body.get("tools", [])):
        for d, decl in enumerate(tool.get("functionDeclarations", [])):
            where = f"tools[{t}].function_declarations[{d}]"
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.:\-]{0,127}", str(decl.get("name", ""))):
                raise _invalid(f"* GenerateContentRequest.{where}.name: Invalid function name.")
            if "parameters" in decl:
                _check_schema(decl["parameters"], f"{where}.parameters")
    config = body.get("generationConfig", {})
    if "responseSchema" in config:
        if config.get("responseMimeType") != "application/json":
            raise _invalid(
                "* GenerateContentRequest.generation_config.response_schema: requires response_mime_type."
            )
        _check_schema(config["responseSchema"], "generation_config.response_schema")
    thinking = config.get("thinkingConfig", {})
    if "thinkingBudget" in thinking and "thinkingLevel" in thinking:
        raise _invalid("You can only set only one of thinking budget and thinking level.")
    mode = body.get("toolConfig", {}).get("functionCallingConfig", {}).get("mode")
    if mode is not None and mode not in _MODES:
        raise _invalid(f"Invalid value at 'tool_config.function_calling_config.mode', \"{mode}\"")


def _check_schema(schema: dict[str, Any], where: str) -> None:
    kind = schema.get("type")
    if kind is not None and str(kind).upper() not in _TYPES:
        raise _invalid(
            f"Invalid value at '{where}.type' (type.googleapis.com/google.ai.generativelanguage.v1beta.Type), \"{kind}\""
        )
    if any(not isinstance(v, str) for v in schema.get("enum", [])):
        raise _invalid(f"Invalid value at '{where}.enum' (TYPE_STRING)")
    kind = str(kind).upper()
    if kind == "OBJECT" and "properties" in schema and not schema["properties"]:
        raise _invalid(
            f"* GenerateContentRequest.{where}.properties: should be non-empty for OBJECT type"
        )
    if kind == "ARRAY" and "items" not in schema:
        raise _invalid(f"* GenerateContentRequest.{where}.items: missing field.")
    for name, sub in schema.get("properties", {}).items():
        _check_schema(sub, f"{where}.properties[{name}]")
    if "items" in schema:
        _check_schema(schema["items"], f"{where}.items")
    for i, sub in enumerate(schema.get("anyOf", [])):
        _check_schema(sub, f"{where}.any_of[{i}]")


def _stream_events(
    candidates: list[dict[str, Any]], usage: dict[str, Any], model: str, response_id: str
) -> list[dict[str, Any]]:
    """Split answers as Gemini streams them: text in pieces, function calls whole, one per event."""
    events: list[dict[str, Any]] = []
    running = {
        "promptTokenCount": usage["promptTokenCount"],
        "totalTokenCount": usage["promptTokenCount"],
    }
    for cand in candidates:
        pieces: list[dict[str, Any]] = []
        for part in cand.get("content", {}).get("parts", []):
            if "text" in part and not part.get("thought"):
                words = part["text"].split(" ")
                step = max(1, len(words) // 3)
                for i in range(0, len(words), step):
                    chunk = " ".join(words[i : i + step])
                    pieces.append({"text": chunk + (" " if i + step < len(words) else "")})
            else:
                pieces.append(part)
        for i, piece in enumerate(pieces):
            out: dict[str, Any] = {
                "content": {"parts": [piece], "role": "model"},
                "index": cand["index"],
            }
            if i == len(pieces) - 1:
                out.update({k: v for k, v in cand.items() if k not in ("content", "index")})
            events.append(
                {
                    "candidates": [out],
                    "usageMetadata": running,
                    "modelVersion": model,
                    "responseId": response_id,
                }
            )
        if not pieces:  # e.g. a safety stop: the last event has no content
            events.append(
                {
                    "candidates": [cand],
                    "usageMetadata": running,
                    "modelVersion": model,
                    "responseId": response_id,
                }
            )
    events[-1]["usageMetadata"] = usage
    return events
