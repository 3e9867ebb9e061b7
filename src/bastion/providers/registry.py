"""One registry mapping a provider kind to its adapter and its defaults.

Nothing else in the code dispatches on a provider's name: adding a provider
means adding a row here (and a module with its adapter).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from bastion.providers.base import ProviderKind
from bastion.providers.echo import EchoAdapter
from bastion.providers.openai_compat import FAMILY, OpenAICompatAdapter


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
    # Native providers: each module declares ``KINDS: tuple[ProviderKind, ...]``.
    for module_name in NATIVE_MODULES:
        try:
            module = importlib.import_module(f"bastion.providers.{module_name}")
        except ModuleNotFoundError as exc:  # not written yet (transitional)
            if exc.name != f"bastion.providers.{module_name}":
                raise
            continue
        for kind in module.KINDS:
            kinds[kind.kind] = kind
    return kinds


NATIVE_MODULES: tuple[str, ...] = ("anthropic", "gemini", "bedrock", "cohere")


PROVIDER_KINDS: Mapping[str, ProviderKind] = _build()

# Kinds discovered from environment variables when no config file is given: every
# kind that names a key or base-URL variable. Local servers (ollama, vllm,
# lmstudio) are discovered only when their base URL is set.
DISCOVERABLE: tuple[str, ...] = tuple(
    k for k, v in PROVIDER_KINDS.items() if v.key_env or v.base_url_env
)
