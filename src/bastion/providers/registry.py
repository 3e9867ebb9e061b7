"""One registry mapping a provider kind to its adapter and its defaults.

Nothing else in the code dispatches on a provider's name: adding a provider
means adding a row here (and a module with its adapter).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bastion.providers.base import ProviderAdapter
from bastion.providers.echo import EchoAdapter
from bastion.providers.openai_compat import FAMILY, OpenAICompatAdapter


@dataclass(frozen=True, slots=True)
class ProviderKind:
    """A provider kind: its adapter and how it is found in the environment."""

    kind: str
    adapter: ProviderAdapter
    default_base_url: str | None
    key_env: str | None = None  # API key variable; discovery needs it when key_required
    base_url_env: str | None = None
    key_required: bool = True
    # Kind-specific options read from the environment at discovery: option -> variable.
    option_env: Mapping[str, str] = field(default_factory=dict)
    default_api_version: str | None = None


def _build() -> dict[str, ProviderKind]:
    kinds: dict[str, ProviderKind] = {}
    for spec in FAMILY.values():
        kinds[spec.kind] = ProviderKind(
            kind=spec.kind,
            adapter=OpenAICompatAdapter(spec),
            default_base_url=spec.default_base_url,
            key_env=spec.key_env,
            base_url_env=spec.base_url_env,
            key_required=spec.key_required,
            default_api_version=spec.default_api_version,
            option_env={"api_version": "AZURE_OPENAI_API_VERSION"} if spec.kind == "azure" else {},
        )
    kinds["echo"] = ProviderKind("echo", EchoAdapter(), "bastion://echo", key_required=False)
    return kinds


PROVIDER_KINDS: Mapping[str, ProviderKind] = _build()

# Kinds discovered from environment variables when no config file is given,
# in this order. Local servers (ollama, vllm, lmstudio) only when their base URL is set.
DISCOVERABLE: tuple[str, ...] = (
    "openai",
    "azure",
    "mistral",
    "groq",
    "together",
    "fireworks",
    "deepseek",
    "openrouter",
    "huggingface",
    "ollama",
    "vllm",
    "lmstudio",
)
