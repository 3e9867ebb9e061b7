"""Typed configuration: one YAML file, validated at start-up into frozen objects.

Two phases, as in the style guide: parse the YAML (keeping each value's line),
interpolate ``${ENV_VAR}`` / ``${ENV_VAR:-default}``, then validate with
pydantic into frozen models. Every problem is reported with the file, the path
inside it and the line, all at once (``bastion config check FILE``).

Without a config file, providers are discovered from the usual environment
variables (``OPENAI_API_KEY``, ``AZURE_OPENAI_API_KEY`` + ``AZURE_OPENAI_ENDPOINT``, ...).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from bastion.accounting.settings import AccountingConfig
from bastion.guardrails.config import GuardrailsConfig
from bastion.observability.audit_settings import AuditConfig
from bastion.observability.settings import ObservabilityConfig
from bastion.providers.registry import DISCOVERABLE, PROVIDER_KINDS
from bastion.routing.settings import REGION_PATTERN, Capability, RoutingConfig, routing_problems

_FROZEN = ConfigDict(frozen=True, extra="forbid")
PositiveSeconds = Annotated[float, Field(gt=0, le=86_400)]


class TimeoutsConfig(BaseModel):
    """Time limits for one upstream call, in seconds."""

    model_config = _FROZEN
    connect: PositiveSeconds = 10.0
    first_byte: PositiveSeconds = 120.0
    total: PositiveSeconds = 600.0


class ServerConfig(BaseModel):
    model_config = _FROZEN
    host: str = "127.0.0.1"
    port: int = Field(default=4000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=256)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    data_dir: str | None = None  # default: $BASTION_DATA_DIR or ~/.local/share/bastion


class KeyConfig(BaseModel):
    """A static client key. Give the key itself (usually ``${ENV_VAR}``) or its SHA-256 hex."""

    model_config = _FROZEN
    name: str = Field(min_length=1)
    key: SecretStr | None = None
    key_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    role: Literal["user", "admin", "viewer"] = "user"  # viewer: reads the hub only

    @model_validator(mode="after")
    def _one_of(self) -> KeyConfig:
        if (self.key is None) == (self.key_sha256 is None):
            raise ValueError("give exactly one of 'key' or 'key_sha256'")
        if self.key is not None and len(self.key.get_secret_value()) < 16:
            raise ValueError("a client key must be at least 16 characters long")
        return self


class AuthConfig(BaseModel):
    model_config = _FROZEN
    master_key: SecretStr | None = (
        None  # default: $BASTION_MASTER_KEY, else generated at first start
    )
    keys: tuple[KeyConfig, ...] = ()

    @field_validator("master_key")
    @classmethod
    def _long_enough(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value()) < 16:
            raise ValueError("the master key must be at least 16 characters long")
        return v


class ProviderConfig(BaseModel):
    """A provider account. Unknown keys are kind-specific options (region, project, ...)."""

    model_config = ConfigDict(frozen=True, extra="allow")
    kind: str | None = None  # default: the provider's name in the config
    base_url: str | None = None
    api_key: SecretStr | None = None
    api_version: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeouts: TimeoutsConfig | None = None


class ModelConfig(BaseModel):
    """A public model name served by a provider's upstream model."""

    model_config = _FROZEN
    name: str = Field(min_length=1)
    provider: str = Field(min_length=1)
    model: str = Field(min_length=1)
    timeouts: TimeoutsConfig | None = None
    defaults: dict[str, Any] = Field(default_factory=dict)  # request fields applied when absent
    # Routing (docs/routing.md): how the router weighs this deployment within its group.
    weight: float = Field(default=1.0, ge=0, le=1_000_000)
    priority: int = Field(default=0, ge=0, le=1_000_000)  # lower is tried first
    region: str | None = Field(default=None, pattern=REGION_PATTERN)
    price: PriceConfig | None = None  # overrides pricing.models and the catalogue
    context_window: int | None = Field(default=None, ge=1, le=100_000_000)
    capabilities: tuple[Capability, ...] | None = None  # None: not declared (assumed all)
    rpm: int | None = Field(default=None, ge=1, le=1_000_000_000)  # the provider's quota
    tpm: int | None = Field(default=None, ge=1, le=1_000_000_000_000)


class PriceConfig(BaseModel):
    """A model's price in USD per million tokens (docs/accounting.md).

    ``cached_input`` prices cache reads and ``cache_write`` cache writes (both default
    to ``input``); ``embedding`` prices the tokens of an embeddings request (default
    ``input``). ``taken`` is the date the price was read off the provider's page.
    """

    model_config = _FROZEN
    input: float = Field(default=0, ge=0, le=10_000)
    output: float = Field(default=0, ge=0, le=10_000)
    cached_input: float | None = Field(default=None, ge=0, le=10_000)
    cache_write: float | None = Field(default=None, ge=0, le=10_000)
    embedding: float | None = Field(default=None, ge=0, le=10_000)
    max_output_tokens: int | None = Field(default=None, ge=1, le=10_000_000)
    taken: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")

    @model_validator(mode="after")
    def _priced(self) -> PriceConfig:
        if not {"input", "output", "embedding"} & self.model_fields_set:
            raise ValueError("give at least one of 'input', 'output' or 'embedding'")
        return self


class PricingConfig(BaseModel):
    """Prices by model name (public name, ``provider/model`` or upstream model id).

    They override the built-in catalogue. A model priced nowhere is recorded with an
    unknown cost (NULL, never zero); ``default`` only bounds its budget reservation.
    """

    model_config = _FROZEN
    default: PriceConfig = PriceConfig(input=10.0, output=30.0)
    models: dict[str, PriceConfig] = Field(default_factory=dict)


class GovernanceConfig(BaseModel):
    """Virtual keys, policies, limits and budgets (see docs/governance.md)."""

    model_config = _FROZEN
    # How often each process checks the store for changes (Redis pub/sub makes it immediate).
    reload_interval: PositiveSeconds = 1.0
    # The output bound of a budget reservation when neither the request nor the price says.
    default_max_output_tokens: int = Field(default=4096, ge=1, le=10_000_000)
    redis_prefix: str = Field(default="bastion", pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")
    # Seconds a hold in Redis (a reservation, a place in flight) outlives a process that
    # stopped renewing it; renewed every third of it while its request runs.
    lease_ttl: float = Field(default=30.0, ge=0.5, le=3600.0)
    # Deprecated: accounting.flush_interval (when set here, it wins, for old configs).
    spend_flush_interval: PositiveSeconds = 1.0


class GatewayConfig(BaseModel):
    model_config = _FROZEN
    server: ServerConfig = ServerConfig()
    auth: AuthConfig = AuthConfig()
    # Default: SQLite in the data directory. postgresql://... for several replicas.
    database_url: SecretStr | None = None
    # Shared rate-limit and budget counters and change notifications across replicas.
    redis_url: SecretStr | None = None
    governance: GovernanceConfig = GovernanceConfig()
    # PII, secrets, prompt injection and content policies (docs/guardrails.md).
    guardrails: GuardrailsConfig = GuardrailsConfig()
    pricing: PricingConfig = PricingConfig()
    # The spend ledger and the audit trail (docs/accounting.md).
    accounting: AccountingConfig = AccountingConfig()
    audit: AuditConfig = AuditConfig()
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    models: tuple[ModelConfig, ...] = ()
    routing: RoutingConfig = RoutingConfig()
    # Metrics, access logs, traces and the monitoring hub (docs/observability.md).
    observability: ObservabilityConfig = ObservabilityConfig()
    timeouts: TimeoutsConfig = TimeoutsConfig()
    # The built-in test model bastion/echo: "auto" serves it only when no provider is configured.
    test_model: Literal["auto", "on", "off"] = "auto"
    # Set when providers came from environment variables rather than a file.
    discovered: bool = False
    source: str | None = None

    @model_validator(mode="after")
    def _references(self) -> GatewayConfig:
        problems: list[str] = []
        for name, provider in self.providers.items():
            kind = provider.kind or name
            if kind not in PROVIDER_KINDS:
                problems.append(
                    f"providers.{name}: unknown kind {kind!r}; known kinds: {', '.join(sorted(PROVIDER_KINDS))}"
                )
            elif not provider.base_url and PROVIDER_KINDS[kind].default_base_url is None:
                problems.append(f"providers.{name}: kind {kind!r} needs a base_url")
        for i, model in enumerate(self.models):
            if model.provider not in self.providers:
                problems.append(
                    f"models[{i}].provider: {model.provider!r} is not a configured provider"
                    + (
                        f" (configured: {', '.join(sorted(self.providers))})"
                        if self.providers
                        else ""
                    )
                )
        problems += routing_problems(self.routing, (m.name for m in self.models), self.providers)
        problems += self._judge_problems()
        if problems:
            raise ValueError("\n".join(problems))  # one per line: _describe splits them
        return self

    def _judge_problems(self) -> list[str]:
        """Guardrail judges must name a model the gateway serves (checked again at start)."""
        served = {m.name for m in self.models} | set(self.routing.complexity)
        if self.serves_test_model:
            served.add("bastion/echo")
        problems: list[str] = []
        for name, policy in self.guardrails.policies.items():
            judge = policy.judge
            if judge is None or judge.model in served:
                continue
            provider, sep, rest = judge.model.partition("/")
            if not (sep and rest and provider in self.providers):
                problems.append(
                    f"guardrails.policies.{name}.judge.model: {judge.model!r} is not a model the "
                    "gateway serves (a models: name, or provider/model)"
                )
        return problems

    @property
    def serves_test_model(self) -> bool:
        return self.test_model == "on" or (self.test_model == "auto" and not self.providers)


class ConfigError(Exception):
    """A configuration that cannot be used; ``problems`` lists every one with its location."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))

    def __str__(self) -> str:
        return "\n".join(f"{self.source}: {p}" for p in self.problems)


# --- loading ---------------------------------------------------------------------------

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def load_config(
    path: str | os.PathLike[str] | None, env: Mapping[str, str] | None = None
) -> GatewayConfig:
    """Load and validate the config file, or discover providers from ``env`` when ``path`` is None."""
    env = os.environ if env is None else env
    if path is None:
        return discover_from_env(env)
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, [f"cannot read the file: {exc.strerror or exc}"]) from None
    return parse_config(text, source, env)


def parse_config(text: str, source: str, env: Mapping[str, str]) -> GatewayConfig:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(
            source, [f"{where}not valid YAML: {getattr(exc, 'problem', exc)}"]
        ) from None
    if node is None:
        data: Any = {}
        lines: dict[tuple[str | int, ...], int] = {}
    else:
        lines = {}
        problems: list[str] = []
        data = _construct(node, (), lines, env, problems)
        if problems:
            raise ConfigError(source, problems)
    if not isinstance(data, dict):
        raise ConfigError(
            source, ["the top level must be a mapping (server:, auth:, providers:, models:)"]
        )
    data.setdefault("source", source)
    try:
        return GatewayConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, _describe(exc, lines)) from None


_SCALARS = yaml.SafeLoader("")  # used only to resolve scalars (ints, bools, nulls) by YAML's rules


def _construct(
    node: yaml.Node,
    path: tuple[str | int, ...],
    lines: dict[tuple[str | int, ...], int],
    env: Mapping[str, str],
    problems: list[str],
) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            out[key] = _construct(value_node, (*path, key), lines, env, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _construct(item, (*path, i), lines, env, problems) for i, item in enumerate(node.value)
        ]
    value = _SCALARS.construct_object(node)
    if isinstance(value, str) and "${" in value:
        value = _interpolate(value, path, lines, env, problems)
    return value


def _interpolate(
    value: str,
    path: tuple[str | int, ...],
    lines: dict[tuple[str | int, ...], int],
    env: Mapping[str, str],
    problems: list[str],
) -> str:
    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        problems.append(
            f"{_format_path(path)} (line {lines[path]}): environment variable {name} is not set"
            " (use ${" + name + ":-default} for a default)"
        )
        return ""

    return _ENV_REF.sub(replace, value)


def _format_path(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "(top level)"


def _describe(exc: ValidationError, lines: dict[tuple[str | int, ...], int]) -> list[str]:
    problems = []
    for err in exc.errors():
        loc = tuple(
            p
            for p in err["loc"]
            if not (isinstance(p, str) and p.startswith(("function-", "tagged-")))
        )
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        if not loc and err["type"] == "value_error":
            # Cross-reference checks report "path: problem" lines: each gets its own line number.
            for part in message.split("\n"):
                path, sep, text = part.partition(": ")
                parsed = _parse_path(path) if sep else ()
                where = f"{path} (line {_line(parsed, lines)})" if parsed else _format_path(())
                problems.append(f"{where}: {text}" if parsed else f"{where}: {part}")
            continue
        line = _line(loc, lines)
        where = _format_path(loc) + (f" (line {line})" if line else "")
        problems.append(f"{where}: {message}")
    return problems


def _line(loc: tuple[str | int, ...], lines: dict[tuple[str | int, ...], int]) -> int | None:
    """The line of ``loc``, or of its nearest ancestor present in the file."""
    return next((lines[loc[:i]] for i in range(len(loc), -1, -1) if loc[:i] in lines), None)


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _parse_path(path: str) -> tuple[str | int, ...]:
    """``routing.groups.gpt.fallbacks[0]`` -> ("routing", "groups", "gpt", "fallbacks", 0)."""
    if not path or " " in path:
        return ()
    return tuple(int(i) if i else name for name, i in _PATH_PART.findall(path))


def discover_from_env(env: Mapping[str, str]) -> GatewayConfig:
    """Build a config from provider environment variables (no file)."""
    providers: dict[str, dict[str, Any]] = {}
    for kind_name in DISCOVERABLE:
        kind = PROVIDER_KINDS[kind_name]
        key_vars = (kind.key_env, *kind.key_env_fallbacks) if kind.key_env else ()
        key = next((env[v] for v in key_vars if env.get(v)), None)
        base = env.get(kind.base_url_env) if kind.base_url_env else None
        if kind.key_required and not key:
            continue
        if not kind.key_required and not base:
            continue  # local servers only when their URL is given
        if kind.default_base_url is None and not base:
            continue
        entry: dict[str, Any] = {"kind": kind_name}
        if key:
            entry["api_key"] = key
        if base:
            entry["base_url"] = base
        for option, variable in kind.option_env.items():
            if env.get(variable):
                entry[option] = env[variable]
        providers[kind_name] = entry
    try:
        return GatewayConfig.model_validate(
            {"providers": providers, "discovered": True, "source": "environment"}
        )
    except ValidationError as exc:
        raise ConfigError("environment", _describe(exc, {})) from None
