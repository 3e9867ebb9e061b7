"""Names, locations and organisations through Microsoft Presidio: ``presidio:`` in a policy.

Optional: ``pip install 'bastion-gateway[presidio]'`` and a spaCy model
(``python -m spacy download en_core_web_lg``). A policy that asks for it without
them is a configuration error (config.py), never a failure per request.

Presidio's ``AnalyzerEngine`` runs spaCy's named-entity recognizer: blocking CPU
work of milliseconds to hundreds of milliseconds per text. It never runs on the
event loop's thread: each request's texts go, in one job, to a small thread
pool of this module (``THREADS`` threads, shared by every policy), and the
request awaits the result. Its spans then take the same road as the in-process
detectors' findings (redact to ``[PERSON]``, pseudonymise to ``<PERSON_1>``,
block, record), merged with them before any text is rewritten.

Engines are built once, at start-up, one per distinct (factory, spaCy model,
language), and shared by the policies that name them.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from bastion.guardrails.base import Finding
from bastion.guardrails.config import PresidioConfig

THREADS = 2  # Presidio jobs run at once (the GIL makes more pointless for spaCy's Python parts)
_pool: ThreadPoolExecutor | None = None


class Analyzer(Protocol):
    """What is used of Presidio's ``AnalyzerEngine``: ``analyze`` returning objects with
    ``entity_type``, ``start``, ``end`` and ``score`` (its ``RecognizerResult``)."""

    def analyze(
        self,
        text: str,
        language: str,
        entities: list[str] | None = None,
        correlation_id: str | None = None,
        score_threshold: float | None = None,
    ) -> Sequence[Any]: ...


EngineKey = tuple[str | None, str, str]  # (factory, spaCy model, language)


def engine_key(config: PresidioConfig) -> EngineKey:
    if config.factory is not None:
        return (config.factory, "", config.language)
    return (None, config.spacy_model, config.language)


def build_engine(config: PresidioConfig) -> Analyzer:
    """The engine a ``presidio:`` block names: its factory's, or an AnalyzerEngine on
    its spaCy model (loading the model takes seconds: start-up only)."""
    if config.factory is not None:
        module, _, name = config.factory.partition(":")
        factory: Callable[[PresidioConfig], Analyzer] = getattr(
            importlib.import_module(module), name
        )
        return factory(config)
    from presidio_analyzer import AnalyzerEngine  # type: ignore[import-not-found, unused-ignore]
    from presidio_analyzer.nlp_engine import (  # type: ignore[import-not-found, unused-ignore]
        NlpEngineProvider,
    )

    nlp = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": config.language, "model_name": config.spacy_model}],
        }
    ).create_engine()
    engine: Analyzer = AnalyzerEngine(nlp_engine=nlp, supported_languages=[config.language])
    return engine


def build_engines(configs: Sequence[PresidioConfig]) -> dict[EngineKey, Analyzer]:
    engines: dict[EngineKey, Analyzer] = {}
    for config in configs:
        key = engine_key(config)
        if key not in engines:
            try:
                engines[key] = build_engine(config)
            except Exception as exc:
                what = config.factory or f"spaCy model {config.spacy_model!r}"
                raise ValueError(
                    f"guardrails: cannot build the Presidio engine ({what}): "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
    return engines


@dataclass(frozen=True, slots=True)
class PresidioRun:
    """One engine, and what the request's policies ask of it (merged)."""

    engine: Analyzer
    language: str
    entities: tuple[str, ...]  # Presidio's names: PERSON
    threshold: float


def merge_runs(
    blocks: Sequence[PresidioConfig], engines: Mapping[EngineKey, Analyzer]
) -> tuple[PresidioRun, ...]:
    """The policies' blocks, one run per engine: every entity, the lowest threshold."""
    merged: dict[EngineKey, tuple[dict[str, None], float]] = {}
    for block in blocks:
        key = engine_key(block)
        entities, threshold = merged.get(key, ({}, 1.0))
        entities.update(dict.fromkeys(block.entities))
        merged[key] = (entities, min(threshold, block.score_threshold))
    return tuple(
        PresidioRun(engines[key], key[2], tuple(entities), threshold)
        for key, (entities, threshold) in merged.items()
    )


def analyze(runs: Sequence[PresidioRun], texts: Sequence[str]) -> list[list[Finding]]:
    """Every text's findings (kind: the entity in lower case), in the calling thread."""
    out: list[list[Finding]] = []
    for text in texts:
        found: list[Finding] = []
        if text and not text.isspace():
            for run in runs:
                for r in run.engine.analyze(
                    text=text,
                    language=run.language,
                    entities=list(run.entities),
                    score_threshold=run.threshold,
                ):
                    if r.entity_type in run.entities and r.score >= run.threshold:
                        found.append(Finding(r.entity_type.lower(), r.start, r.end, r.score))
        out.append(found)
    return out


async def analyze_off_loop(
    runs: Sequence[PresidioRun], texts: Sequence[str]
) -> list[list[Finding]]:
    """:func:`analyze` on the Presidio thread pool (one job per request)."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(THREADS, thread_name_prefix="bastion-presidio")
    return await asyncio.get_running_loop().run_in_executor(_pool, analyze, runs, texts)
