"""The model catalogue: public model names to the deployments that serve them.

A name is either an alias from the config (``models:``; several entries with
the same name form a group, for the router to choose among) or
``provider/model`` for any configured provider, e.g. ``openai/gpt-4o-mini``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bastion.config import GatewayConfig, TimeoutsConfig
from bastion.errors import GatewayError
from bastion.providers.base import Deployment, DeploymentPrice, ProviderSettings, Timeouts
from bastion.providers.echo import ECHO_MODEL
from bastion.providers.registry import PROVIDER_KINDS

_DIRECT_CACHE_LIMIT = 4096  # bounded: clients choose these names


def _timeouts(*layers: TimeoutsConfig | None) -> Timeouts:
    for layer in layers:
        if layer is not None:
            return Timeouts(connect=layer.connect, first_byte=layer.first_byte, total=layer.total)
    return Timeouts()


class ModelCatalog:
    def __init__(self, config: GatewayConfig) -> None:
        self._providers: dict[str, ProviderSettings] = {}
        self._provider_timeouts: dict[str, Timeouts] = {}
        for name, p in config.providers.items():
            kind = PROVIDER_KINDS[p.kind or name]
            extra: dict[str, Any] = dict(p.model_extra or {})
            api_version = (
                p.api_version or extra.pop("api_version", None) or kind.default_api_version
            )
            base_url = p.base_url or kind.default_base_url or ""
            normalise = getattr(kind.adapter, "normalise_base_url", None)
            self._providers[name] = ProviderSettings(
                name=name,
                kind=kind.kind,
                base_url=normalise(base_url) if normalise else base_url.rstrip("/"),
                api_key=p.api_key.get_secret_value() if p.api_key else None,
                api_version=api_version,
                headers=dict(p.headers),
                options=extra,
            )
            self._provider_timeouts[name] = _timeouts(p.timeouts, config.timeouts)

        self._aliases: dict[str, tuple[Deployment, ...]] = {}
        for m in config.models:
            provider = self._providers[m.provider]
            deployment = Deployment(
                name=m.name,
                model=m.model,
                provider=provider,
                adapter=PROVIDER_KINDS[provider.kind].adapter,
                timeouts=_timeouts(
                    m.timeouts, config.providers[m.provider].timeouts, config.timeouts
                ),
                defaults=dict(m.defaults),
                weight=m.weight,
                priority=m.priority,
                region=m.region,
                context_window=m.context_window,
                capabilities=frozenset(m.capabilities) if m.capabilities is not None else None,
                rpm=m.rpm,
                tpm=m.tpm,
                price=(
                    DeploymentPrice(
                        m.price.input,
                        m.price.output,
                        m.price.cached_input,
                        m.price.cache_write,
                        m.price.embedding,
                    )
                    if m.price is not None
                    else None
                ),
            )
            self._aliases[m.name] = (*self._aliases.get(m.name, ()), deployment)

        if config.serves_test_model:
            echo = ProviderSettings(name="bastion", kind="echo", base_url="bastion://echo")
            self._aliases[ECHO_MODEL] = (
                Deployment(ECHO_MODEL, "echo", echo, PROVIDER_KINDS["echo"].adapter),
            )
        self._direct: dict[str, tuple[Deployment, ...]] = {}

    @property
    def providers(self) -> dict[str, ProviderSettings]:
        return self._providers

    def public_names(self) -> Iterable[str]:
        return self._aliases.keys()

    def groups(self) -> dict[str, tuple[Deployment, ...]]:
        """Every configured name and its deployments (the router prepares each once)."""
        return dict(self._aliases)

    def resolve(self, name: str) -> tuple[Deployment, ...]:
        """The deployments serving ``name``, or a 404 that reveals nothing else."""
        found = self._aliases.get(name) or self._direct.get(name)
        if found is not None:
            return found
        provider_name, sep, model = name.partition("/")
        provider = self._providers.get(provider_name) if sep and model else None
        if provider is None:
            raise GatewayError(
                404,
                f"The model '{name}' does not exist or you do not have access to it.",
                code="model_not_found",
                param="model",
            )
        deployment = Deployment(
            name=name,
            model=model,
            provider=provider,
            adapter=PROVIDER_KINDS[provider.kind].adapter,
            timeouts=self._provider_timeouts[provider_name],
        )
        found = (deployment,)
        if len(self._direct) < _DIRECT_CACHE_LIMIT:
            self._direct[name] = found
        return found
