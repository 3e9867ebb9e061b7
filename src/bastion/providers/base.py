"""The provider adapter protocol: the only place that knows a vendor's wire format.

An adapter is pure translation. It turns a canonical request (OpenAI Chat
Completions or Embeddings shape, plain dicts) into an :class:`UpstreamRequest`,
and the upstream's answer back into canonical form. It does no I/O: the shared
transport sends the request; an optional async ``signer`` adds credentials that
need I/O or the clock (AWS SigV4, Google OAuth tokens).

Streams are decoded incrementally by a :class:`StreamDecoder`: raw upstream
bytes in (in whatever pieces the network delivers them), canonical
``chat.completion.chunk`` dicts out.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from bastion.errors import GatewayError

Endpoint = Literal["chat", "embeddings"]
JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-deployment time limits, in seconds."""

    connect: float = 10.0
    first_byte: float = 120.0  # until the response headers, and between stream reads
    total: float = 600.0


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """One configured provider account (``providers.<name>`` in the config)."""

    name: str  # the instance name, e.g. "openai" or "azure-eu"
    kind: str  # the adapter kind, e.g. "openai", "azure", "anthropic"
    base_url: str
    api_key: str | None = None
    api_version: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)  # kind-specific: region, project, ...


@dataclass(frozen=True, slots=True)
class DeploymentPrice:
    """A deployment's own price, in USD per million tokens."""

    input: float
    output: float
    cached_input: float | None = None  # cache reads
    cache_write: float | None = None
    embedding: float | None = None


@dataclass(frozen=True, slots=True)
class Deployment:
    """A concrete upstream target: a provider account plus an upstream model id."""

    name: str  # the public model name clients use
    model: str  # the upstream model id (Azure: the deployment name)
    provider: ProviderSettings
    adapter: ProviderAdapter
    timeouts: Timeouts = Timeouts()
    # Request fields forced onto every request to this deployment (e.g. a default max_tokens).
    defaults: Mapping[str, Any] = field(default_factory=dict)
    # What the router knows of it (``models:`` entries); the defaults say "not declared".
    weight: float = 1.0  # share of traffic under the weighted strategy
    priority: int = 0  # lower is tried first under the priority strategy
    region: str | None = None  # where it runs, for data residency (e.g. "eu", "us-east")
    context_window: int | None = None  # tokens; None: unknown (assumed to fit)
    capabilities: frozenset[str] | None = None  # "tools", "vision", "json_schema"; None: all
    rpm: int | None = None  # the provider's quota for it: requests per minute
    tpm: int | None = None  # ... and tokens per minute
    price: DeploymentPrice | None = None  # overrides the price catalogue
    # ``provider/model``: how logs, headers and the ledger name this deployment. Stored,
    # not a property: a request reads it several times (each format was ~1.3 K
    # instructions).
    label: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "label", f"{self.provider.name}/{self.model}")


@dataclass(slots=True)
class UpstreamRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None = None


@dataclass(slots=True)
class NativeRequest:
    """A request as the caller sent it, in the ingress's wire format (e.g. Anthropic Messages).

    An adapter whose upstream speaks that format (``native_wire``) sends it as is,
    only the model id replaced, so nothing is lost to a round of translation.
    """

    body: JSON
    operation: str | None = None  # None: the endpoint's main call; else e.g. "count_tokens"
    # Caller headers that belong to the wire format and go upstream (e.g. anthropic-beta).
    headers: Mapping[str, str] = field(default_factory=dict)


class StreamDecoder(Protocol):
    """Turns upstream stream bytes into canonical chat.completion.chunk dicts."""

    def feed(self, data: bytes) -> list[JSON]:
        """Consume the next piece of the upstream body; return the chunks it completed."""
        ...

    def close(self) -> list[JSON]:
        """The upstream body ended; return any chunks still held back."""
        ...


Signer = Callable[[UpstreamRequest, Deployment], Awaitable[UpstreamRequest]]


class ProviderAdapter(Protocol):
    """What every provider implements. See the module docstring."""

    kind: str
    # True when the upstream speaks OpenAI's wire format, so an OpenAI-format
    # caller's request and response bytes can pass through untranslated.
    openai_wire: bool
    endpoints: frozenset[Endpoint]
    signer: Signer | None

    def build_request(
        self, endpoint: Endpoint, body: JSON, deployment: Deployment, *, stream: bool
    ) -> UpstreamRequest: ...

    def parse_response(self, endpoint: Endpoint, body: bytes, deployment: Deployment) -> JSON: ...

    def stream_decoder(self, deployment: Deployment) -> StreamDecoder: ...

    def classify_error(
        self, status: int, body: bytes, headers: Mapping[str, str]
    ) -> GatewayError: ...


class SSEParser:
    """Incremental Server-Sent Events parser (the framing of most providers' streams).

    ``feed`` returns completed ``(event, data)`` pairs; ``event`` is ``""`` when
    the event has no ``event:`` field. Handles ``\\n``, ``\\r\\n`` and events
    split across any byte boundary.
    """

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[tuple[str, bytes]]:
        buf = self._buf + data if self._buf else data
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n")
        events: list[tuple[str, bytes]] = []
        start = 0
        while True:
            end = buf.find(b"\n\n", start)
            if end < 0:
                break
            block = buf[start:end]
            start = end + 2
            event = ""
            data_lines: list[bytes] = []
            for line in block.split(b"\n"):
                if line.startswith(b"data:"):
                    value = line[5:]
                    data_lines.append(value[1:] if value.startswith(b" ") else value)
                elif line.startswith(b"event:"):
                    event = line[6:].strip().decode()
            if data_lines:
                events.append((event, b"\n".join(data_lines)))
        self._buf = buf[start:]
        return events

    def close(self) -> list[tuple[str, bytes]]:
        if self._buf.strip():
            return self.feed(b"\n\n")
        return []


class NativeWireAdapter(Protocol):
    """Optional: an adapter whose upstream speaks an ingress's wire format natively.

    ``native_wire`` names that format ("anthropic"); a request that arrived in it
    is built by ``build_native_request`` and its answer (body or stream bytes)
    goes back to the caller untranslated.
    """

    native_wire: str

    def build_native_request(
        self, native: NativeRequest, deployment: Deployment, *, stream: bool
    ) -> UpstreamRequest: ...


@dataclass(frozen=True, slots=True)
class ProviderKind:
    """A provider kind: its adapter and how it is found in the environment."""

    kind: str
    adapter: ProviderAdapter
    default_base_url: str | None
    key_env: str | None = None  # API key variable; discovery needs it when key_required
    # Further variables tried in order when ``key_env`` is unset (e.g. GOOGLE_API_KEY).
    key_env_fallbacks: tuple[str, ...] = ()
    base_url_env: str | None = None
    key_required: bool = True
    # Kind-specific options read from the environment at discovery: option -> variable.
    option_env: Mapping[str, str] = field(default_factory=dict)
    default_api_version: str | None = None
