"""A fake Amazon Bedrock Runtime: a real aiohttp server on loopback speaking Bedrock's wire format.

It serves ``POST /model/{modelId}/converse``, ``/converse-stream`` (AWS binary
event-stream framing, encoded here) and ``/invoke`` (Titan and Cohere embeddings),
and checks what it receives as Bedrock does:

- authentication first: ``Authorization: AWS4-HMAC-SHA256 ...`` is verified by
  recomputing the signature with botocore's own signer from the request as
  received (raw path, signed headers, body) and the known test credentials, and
  checking the credential scope (region, service ``bedrock``), the date and the
  session token; or ``Authorization: Bearer <Bedrock API key>``. Failures get
  Bedrock's 403 bodies (``InvalidSignatureException``, ``UnrecognizedClientException``,
  ``MissingAuthenticationTokenException``);
- then the body against the Converse request shape (field names, content blocks,
  alternating roles, tool blocks needing ``toolConfig``, ...): a mistake is a 400
  ``ValidationException``, as Bedrock answers.

Every rejection is also appended to ``rejections`` as ``(error type, message)``.
What it answers is chosen by the model id (see ``_reply``): ordinary ids say
``"Hello! You said: <last user text>"``; ``tool-call``, ``parallel-tools``,
``cached``, ``json``, ``stop-seq``, ``length``, ``content-filter``, ``error-*``,
``context-too-long``, ``access-denied``, ``model-timeout``, ``model-not-ready``,
``overloaded``, ``stream-exception`` and ``slow-<seconds>`` behave as named.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import re
import secrets
import struct
import uuid
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import orjson
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.fakes.bedrock_converse_shape import ConverseShapeError, check_converse

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"  # AWS's documented example credentials
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TEMP_ACCESS_KEY = "ASIAIOSFODNN7EXAMPLE"  # temporary credentials: need the session token
TEMP_SECRET_KEY = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDfakeSessionToken"
API_KEY = "ABSKQmVkcm9ja0FQSUtleS1mYWtlLWtleS1mb3ItdGVzdHM="  # a Bedrock API key
_CREDENTIALS = {ACCESS_KEY: (SECRET_KEY, None), TEMP_ACCESS_KEY: (TEMP_SECRET_KEY, SESSION_TOKEN)}
REGION = "eu-west-3"
TOOL_ARGUMENTS = ({"city": "Paris"}, {"city": "London"})
CACHED_USAGE = {
    "inputTokens": 12,
    "outputTokens": 40,
    "totalTokens": 2100,
    "cacheReadInputTokens": 1792,
    "cacheWriteInputTokens": 256,
}
REASONING_TEXT = "The user greets me; I should greet back."
GUARDRAIL_TEXT = "Sorry, the model cannot answer this question."
RETRY_AFTER = "3"
EMBEDDING_DIMENSIONS = 1024
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service "
    "documentation for details."
)

_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), "
    r"Signature=(?P<signature>[0-9a-f]{64})"
)
_OPERATIONS = ("converse-stream", "converse", "invoke")
_ERRORS: dict[str, tuple[int, str, str]] = {
    "error-400": (
        400,
        "ValidationException",
        "Malformed input request, please reformat your input and try again.",
    ),
    "error-429": (
        429,
        "ThrottlingException",
        "Too many requests, please wait before trying again.",
    ),
    "error-500": (
        500,
        "InternalServerException",
        "The server encountered an internal error while processing the request.",
    ),
    "error-503": (503, "ServiceUnavailableException", "Bedrock is unable to process your request."),
    "overloaded": (
        503,
        "ServiceUnavailableException",
        "Too many connections, please wait before trying again.",
    ),
    "model-not-ready": (
        429,
        "ModelNotReadyException",
        "The model is not ready to serve inference requests.",
    ),
    "context-too-long": (400, "ValidationException", "Input is too long for requested model."),
    "access-denied": (
        403,
        "AccessDeniedException",
        "You don't have access to the model with the specified model ID.",
    ),
    "model-timeout": (
        408,
        "ModelTimeoutException",
        "Model has timed out in processing the request.",
    ),
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it (headers with lower-case names)."""

    method: str
    path: str  # raw, as sent: the model id percent-encoded
    model: str  # the model id, decoded
    operation: str  # converse | converse-stream | invoke
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    body: bytes
    auth: str  # "sigv4" | "bearer" | "" (rejected)


class _Reject(Exception):
    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error_type, self.message = status, error_type, message


class FakeBedrock:
    """Bedrock Runtime on ``127.0.0.1:<random port>``; see the module docstring."""

    def __init__(self, region: str = REGION) -> None:
        self.region = region
        self.url = ""
        self.requests: list[RecordedRequest] = []
        self.rejections: list[tuple[str, str]] = []
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def reset(self) -> None:
        self.requests.clear()
        self.rejections.clear()

    def provider_config(self, auth: str = "sigv4") -> dict[str, Any]:
        """The bastion ``providers:`` entry for this fake.

        ``auth``: ``sigv4`` (long-term keys), ``sigv4-temporary`` (with a session
        token), ``api_key`` (a Bedrock API key) or ``chain`` (no credentials: the
        default chain must find them).
        """
        config: dict[str, Any] = {"kind": "bedrock", "base_url": self.url, "region": self.region}
        if auth == "api_key":
            config["api_key"] = API_KEY
        elif auth == "sigv4":
            config |= {"aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_KEY}
        elif auth == "sigv4-temporary":
            config |= {
                "aws_access_key_id": TEMP_ACCESS_KEY,
                "aws_secret_access_key": TEMP_SECRET_KEY,
                "aws_session_token": SESSION_TOKEN,
            }
        return config

    # -- request handling ---------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        operation, model = _route(request.raw_path)
        try:
            parsed: Any = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            parsed = None
        auth, denied = "", None
        try:
            auth = self._authenticate(request, headers, raw)
        except _DeniedError as exc:
            denied = exc.response
        self.requests.append(
            RecordedRequest(
                request.method,
                request.raw_path,
                model,
                operation,
                dict(request.query),
                headers,
                parsed,
                raw,
                auth,
            )
        )
        if denied is not None:
            return denied
        try:
            if request.method != "POST" or not operation:
                raise _Reject(404, "UnknownOperationException", "")
            if not isinstance(parsed, dict):
                raise _Reject(400, "SerializationException", "Expected a JSON object body.")
            if headers.get("content-type", "").split(";")[0] != "application/json":
                raise _Reject(
                    400, "SerializationException", "Content-Type must be application/json."
                )
            if operation == "invoke":
                return self._invoke(model, parsed)
            try:
                check_converse(parsed)
            except ConverseShapeError as exc:
                raise _Reject(400, "ValidationException", str(exc)) from None
            return await self._converse(
                request, model, parsed, stream=operation == "converse-stream"
            )
        except _Reject as reject:
            return self._error(reject)

    def _authenticate(self, request: web.Request, headers: dict[str, str], body: bytes) -> str:
        header = headers.get("authorization", "")
        if header.startswith("Bearer "):
            if header[7:] != API_KEY:
                raise self._denied(
                    403,
                    "UnrecognizedClientException",
                    "Invalid API Key format: Must start with pre-defined prefix",
                )
            return "bearer"
        found = _AUTH.fullmatch(header)
        if found is None:
            raise self._denied(
                403, "MissingAuthenticationTokenException", "Missing Authentication Token"
            )
        if found["key"] not in _CREDENTIALS:
            raise self._denied(
                403,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            )
        if found["region"] != self.region:
            raise self._denied(
                403,
                "InvalidSignatureException",
                f"Credential should be scoped to a valid region. (expected {self.region})",
            )
        if found["service"] != "bedrock":
            raise self._denied(
                403,
                "InvalidSignatureException",
                "Credential should be scoped to correct service: 'bedrock'.",
            )
        signed = found["signed"].split(";")
        if "host" not in signed or "x-amz-date" not in signed:
            raise self._denied(
                403, "InvalidSignatureException", "'Host' and 'X-Amz-Date' must be signed headers."
            )
        secret, token = _CREDENTIALS[found["key"]]
        if token is not None and (
            headers.get("x-amz-security-token") != token or "x-amz-security-token" not in signed
        ):
            raise self._denied(
                403,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            )
        amz_date = headers.get("x-amz-date", "")
        try:
            when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
                tzinfo=datetime.UTC
            )
        except ValueError:
            raise self._denied(
                403, "IncompleteSignatureException", "X-Amz-Date must be in ISO8601 basic format."
            ) from None
        if (
            abs((datetime.datetime.now(datetime.UTC) - when).total_seconds()) > 300
            or found["date"] != amz_date[:8]
        ):
            raise self._denied(403, "InvalidSignatureException", "Signature expired.")
        # Recompute the signature with botocore from the request exactly as received.
        received = AWSRequest(
            method=request.method,
            url=f"http://{headers['host']}{request.raw_path}",
            data=body,
            headers={name: headers.get(name, "") for name in signed},
        )
        received.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(found["key"], secret, token), "bedrock", self.region)
        expected = signer.signature(
            signer.string_to_sign(received, signer.canonical_request(received)), received
        )
        if not secrets.compare_digest(expected, found["signature"]):
            raise self._denied(403, "InvalidSignatureException", SIGNATURE_MISMATCH)
        return "sigv4"

    def _denied(self, status: int, error_type: str, message: str) -> _DeniedError:
        return _DeniedError(self._error(_Reject(status, error_type, message)))

    def _error(self, reject: _Reject, extra: dict[str, str] | None = None) -> web.Response:
        self.rejections.append((reject.error_type, reject.message))
        headers = {
            "x-amzn-ErrorType": f"{reject.error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/",
            "x-amzn-RequestId": str(uuid.uuid4()),
            **(extra or {}),
        }
        body = {"message": reject.message} if reject.message else {}
        return web.Response(
            status=reject.status,
            body=orjson.dumps(body),
            content_type="application/json",
            headers=headers,
        )

    # -- chat ---------------------------------------------------------------------------

    async def _converse(
        self, request: web.Request, model: str, body: dict[str, Any], *, stream: bool
    ) -> web.StreamResponse:
        if model.startswith("slow-"):
            await asyncio.sleep(float(model.removeprefix("slow-")))
        if model in _ERRORS:
            status, kind, message = _ERRORS[model]
            extra = {"Retry-After": RETRY_AFTER} if status == 429 else None
            return self._error(_Reject(status, kind, message), extra)
        blocks, stop_reason, usage = _reply(model, body)
        if not stream:
            answer = {
                "output": {"message": {"role": "assistant", "content": blocks}},
                "stopReason": stop_reason,
                "usage": usage,
                "metrics": {"latencyMs": 312},
            }
            return web.Response(
                body=orjson.dumps(answer),
                content_type="application/json",
                headers={"x-amzn-RequestId": str(uuid.uuid4())},
            )
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/vnd.amazon.eventstream",
                "x-amzn-RequestId": str(uuid.uuid4()),
            }
        )
        await response.prepare(request)
        for i, message in enumerate(_stream_messages(model, blocks, stop_reason, usage)):
            if i % 2:  # split some messages across writes, at an awkward byte
                cut = 1 + (i * 7) % (len(message) - 1)
                await response.write(message[:cut])
                await asyncio.sleep(0.002)
                await response.write(message[cut:])
            else:
                await response.write(message)
        await response.write_eof()
        return response

    # -- embeddings (InvokeModel) -------------------------------------------------------

    def _invoke(self, model: str, body: dict[str, Any]) -> web.Response:
        if "titan-embed" in model:
            allowed = {"inputText", "dimensions", "normalize", "embeddingTypes"}
            text = body.get("inputText")
            if set(body) - allowed or not isinstance(text, str) or not text:
                raise _Reject(
                    400,
                    "ValidationException",
                    f"Malformed input request: {sorted(set(body) - allowed) or 'inputText'}",
                )
            dims = body.get("dimensions", EMBEDDING_DIMENSIONS)
            if dims not in (256, 512, 1024):
                raise _Reject(
                    400,
                    "ValidationException",
                    "Malformed input request: dimensions must be 256, 512 or 1024",
                )
            vector = embedding(text, dims)
            answer = {
                "embedding": vector,
                "embeddingsByType": {"float": vector},
                "inputTextTokenCount": len(text.split()),
            }
        elif "cohere.embed" in model:
            allowed = {
                "texts",
                "images",
                "input_type",
                "truncate",
                "embedding_types",
                "output_dimension",
                "max_tokens",
            }
            texts = body.get("texts")
            if (
                set(body) - allowed
                or not isinstance(texts, list)
                or not 0 < len(texts) <= 96
                or "input_type" not in body
            ):
                raise _Reject(
                    400,
                    "ValidationException",
                    "Malformed input request: texts and input_type are required",
                )
            vectors = [
                embedding(t, body.get("output_dimension", EMBEDDING_DIMENSIONS)) for t in texts
            ]
            if body.get("embedding_types"):
                answer = {
                    "id": str(uuid.uuid4()),
                    "texts": texts,
                    "embeddings": {"float": vectors},
                    "response_type": "embeddings_by_type",
                }
            else:
                answer = {
                    "id": str(uuid.uuid4()),
                    "texts": texts,
                    "embeddings": vectors,
                    "response_type": "embeddings_floats",
                }
        else:
            raise _Reject(400, "ValidationException", "The provided model identifier is invalid.")
        return web.Response(
            body=orjson.dumps(answer),
            content_type="application/json",
            headers={"X-Amzn-Bedrock-Input-Token-Count": "3"},
        )


class _DeniedError(Exception):
    def __init__(self, response: web.Response) -> None:
        super().__init__("denied")
        self.response = response


def _route(raw_path: str) -> tuple[str, str]:
    path = raw_path.split("?", 1)[0]
    if not path.startswith("/model/"):
        return "", ""
    rest = path[len("/model/") :]
    for operation in _OPERATIONS:
        suffix = "/" + operation
        if rest.endswith(suffix):
            model_raw = rest[: -len(suffix)]
            if "/" in model_raw:  # an unescaped '/' splits the id: no such operation
                return "", unquote(model_raw)
            return operation, unquote(model_raw)
    return "", ""


def embedding(text: str, dims: int) -> list[float]:
    """A deterministic toy embedding of ``dims`` floats."""
    out: list[float] = []
    counter = 0
    while len(out) < dims:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        out.extend(round((b - 128) / 128, 4) for b in digest)
        counter += 1
    return out[:dims]


# --- what the fake model says ---------------------------------------------------------


def _texts(blocks: list[dict[str, Any]]) -> str:
    return " ".join(b["text"] for b in blocks if "text" in b)


def _reply(model: str, body: dict[str, Any]) -> tuple[list[dict[str, Any]], str, dict[str, int]]:
    messages = body["messages"]
    last = messages[-1]["content"] if messages[-1]["role"] == "user" else []
    results = [b["toolResult"] for b in last if "toolResult" in b]
    prompt_words = sum(len(_texts(m["content"]).split()) for m in messages) + len(
        " ".join(s.get("text", "") for s in body.get("system", [])).split()
    )
    tools = [
        t["toolSpec"]["name"]
        for t in (body.get("toolConfig") or {}).get("tools", [])
        if "toolSpec" in t
    ]
    blocks: list[dict[str, Any]]
    stop = "end_turn"
    if model in ("tool-call", "parallel-tools") and not results:
        count = 1 if model == "tool-call" else 2
        blocks = [
            {
                "toolUse": {
                    "toolUseId": f"tooluse_{secrets.token_urlsafe(16)}",
                    "name": tools[0],
                    "input": TOOL_ARGUMENTS[i],
                }
            }
            for i in range(count)
        ]
        stop = "tool_use"
    elif results:
        said = " ".join(_texts(r["content"]) for r in results)
        blocks = [{"text": f"The tool said: {said}"}]
    elif model == "json":
        blocks = [{"text": '{"answer": 42}'}]
    elif model == "stop-seq":
        text = "Counting: 1, 2, 3, 4, 5"
        cuts = [
            text.index(s)
            for s in (body.get("inferenceConfig") or {}).get("stopSequences", [])
            if s in text
        ]
        if cuts:
            text, stop = text[: min(cuts)], "stop_sequence"
        blocks = [{"text": text}]
    elif model == "content-filter":
        blocks, stop = [{"text": GUARDRAIL_TEXT}], "guardrail_intervened"
    else:
        text = "Hello! You said: " + _texts(last)
        if model == "length":
            limit = (body.get("inferenceConfig") or {}).get("maxTokens", 4)
            words = text.split(" ")
            if len(words) > limit:
                text, stop = " ".join(words[:limit]), "max_tokens"
        blocks = [{"text": text}]
        if model == "cached":
            blocks.insert(
                0,
                {
                    "reasoningContent": {
                        "reasoningText": {"text": REASONING_TEXT, "signature": "c2lnbmF0dXJl"}
                    }
                },
            )
    if model == "cached":
        return blocks, stop, dict(CACHED_USAGE)
    output_words = sum(len(str(b.get("text", "")).split()) for b in blocks) + 8 * len(blocks)
    return (
        blocks,
        stop,
        {
            "inputTokens": prompt_words,
            "outputTokens": output_words,
            "totalTokens": prompt_words + output_words,
        },
    )


# --- event-stream encoding ------------------------------------------------------------


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message (string headers only, as Bedrock sends)."""
    header_bytes = b"".join(
        bytes([len(name)])
        + name.encode()
        + b"\x07"
        + struct.pack("!H", len(value.encode()))
        + value.encode()
        for name, value in headers.items()
    )
    prelude = struct.pack("!II", 12 + len(header_bytes) + len(payload) + 4, len(header_bytes))
    message = prelude + struct.pack("!I", zlib.crc32(prelude)) + header_bytes + payload
    return message + struct.pack("!I", zlib.crc32(message))


def encode_event(event_type: str, payload: dict[str, Any]) -> bytes:
    # Bedrock pads event payloads with a "p" field of random length against traffic analysis.
    padded = {
        **payload,
        "p": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456"[: 5 + len(event_type)],
    }
    return encode_message(
        {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"},
        orjson.dumps(padded),
    )


def encode_exception(exception_type: str, message: str) -> bytes:
    return encode_message(
        {
            ":exception-type": exception_type,
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        orjson.dumps({"message": message}),
    )


def split_arguments(arguments: str) -> list[str]:
    """The tool input JSON in three uneven pieces, as models stream it."""
    return [arguments[:2], arguments[2:9], arguments[9:]]


def _stream_messages(
    model: str, blocks: list[dict[str, Any]], stop: str, usage: dict[str, int]
) -> list[bytes]:
    out = [encode_event("messageStart", {"role": "assistant"})]
    for index, block in enumerate(blocks):
        if "toolUse" in block:
            use = block["toolUse"]
            out.append(
                encode_event(
                    "contentBlockStart",
                    {
                        "start": {"toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}},
                        "contentBlockIndex": index,
                    },
                )
            )
            for piece in split_arguments(json.dumps(use["input"])):
                out.append(
                    encode_event(
                        "contentBlockDelta",
                        {"delta": {"toolUse": {"input": piece}}, "contentBlockIndex": index},
                    )
                )
        elif "reasoningContent" in block:
            reasoning = block["reasoningContent"]["reasoningText"]
            for word in _pieces(reasoning["text"]):
                out.append(
                    encode_event(
                        "contentBlockDelta",
                        {"delta": {"reasoningContent": {"text": word}}, "contentBlockIndex": index},
                    )
                )
            out.append(
                encode_event(
                    "contentBlockDelta",
                    {
                        "delta": {"reasoningContent": {"signature": reasoning["signature"]}},
                        "contentBlockIndex": index,
                    },
                )
            )
        else:
            for word in _pieces(block["text"]):
                out.append(
                    encode_event(
                        "contentBlockDelta", {"delta": {"text": word}, "contentBlockIndex": index}
                    )
                )
        out.append(encode_event("contentBlockStop", {"contentBlockIndex": index}))
        if model == "stream-exception" and index == 0:
            out.append(
                encode_exception(
                    "modelStreamErrorException", "The model stream failed: upstream model error."
                )
            )
            return out
    out.append(encode_event("messageStop", {"stopReason": stop}))
    out.append(encode_event("metadata", {"usage": usage, "metrics": {"latencyMs": 245}}))
    return out


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]
