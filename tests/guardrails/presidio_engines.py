"""Engines for the ``presidio:`` guardrail's ``factory`` in tests (Presidio itself, ~375 MB
with spaCy, is not a dev dependency; its NER models cannot be downloaded here).

``deny_list_engine`` answers as Presidio's ``AnalyzerEngine.analyze`` does (objects with
``entity_type``, ``start``, ``end``, ``score``; ``entities``, ``score_threshold``) from a
fixed deny list, as Presidio's deny-list ``PatternRecognizer`` would, and remembers which
thread it ran on.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

DENY_LIST = {
    "PERSON": ("Jane Smith", "John Doe"),
    "LOCATION": ("Paris", "Berlin"),
    "ORGANIZATION": ("Acme Corp",),
}
SCORES = {"PERSON": 0.85, "LOCATION": 0.85, "ORGANIZATION": 0.4}


@dataclass(frozen=True)
class RecognizerResult:
    entity_type: str
    start: int
    end: int
    score: float


class DenyListEngine:
    def __init__(self, language: str) -> None:
        self.language = language
        self.threads: set[str] = set()
        self.calls = 0
        self._patterns = {
            entity: re.compile(r"\b(?:" + "|".join(map(re.escape, words)) + r")\b")
            for entity, words in DENY_LIST.items()
        }

    def analyze(
        self,
        text: str,
        language: str,
        entities: list[str] | None = None,
        correlation_id: str | None = None,
        score_threshold: float | None = None,
    ) -> list[RecognizerResult]:
        if language != self.language:
            raise ValueError(f"No matching recognizers were found for language {language}")
        self.threads.add(threading.current_thread().name)
        self.calls += 1
        out = []
        for entity, pattern in self._patterns.items():
            if entities is not None and entity not in entities:
                continue
            score = SCORES[entity]
            if score_threshold is not None and score < score_threshold:
                continue
            out += [
                RecognizerResult(entity, m.start(), m.end(), score) for m in pattern.finditer(text)
            ]
        return out


ENGINES: list[DenyListEngine] = []  # every engine built, newest last


def deny_list_engine(config: Any) -> DenyListEngine:
    engine = DenyListEngine(config.language)
    ENGINES.append(engine)
    return engine
