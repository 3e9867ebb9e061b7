"""Run Microsoft Presidio's analyzer on the evaluation set (in its own venv).

    bench/.venv-presidio/bin/python bench/guardrails/presidio_runner.py OUT.json

Pattern recognizers only: the spaCy NER model cannot be downloaded here, so the
NLP engine is a blank spaCy English pipeline (tokens, no entities). Every
pattern recognizer that covers one of our kinds runs on every text, whatever its
language (we give Presidio all the help it can get). Presidio's own context
enhancement runs on the blank pipeline's tokens. Writes predictions per sample
and the time per 4 KB document.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import spacy
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer import predefined_recognizers as pr
from presidio_analyzer.nlp_engine import SpacyNlpEngine

HERE = Path(__file__).resolve().parent
ENTITIES = {
    "EMAIL_ADDRESS": "email", "PHONE_NUMBER": "phone", "CREDIT_CARD": "credit_card",
    "IBAN_CODE": "iban", "US_SSN": "us_ssn", "UK_NINO": "uk_nino", "DE_TAX_ID": "de_tax_id",
    "IT_FISCAL_CODE": "it_fiscal_code", "ES_NIF": "es_dni", "ES_NIE": "es_dni",
    "PL_PESEL": "pl_pesel", "IP_ADDRESS": "ip_address",
}  # fmt: skip


class BlankEnglish(SpacyNlpEngine):
    """A spaCy engine over ``spacy.blank("en")``: nothing to download."""

    def __init__(self) -> None:
        super().__init__(models=[{"lang_code": "en", "model_name": "blank"}])
        self.nlp = {"en": spacy.blank("en")}

    def load(self) -> None:  # the model is already there
        pass


def analyzer() -> AnalyzerEngine:
    registry = RecognizerRegistry(supported_languages=["en"])
    recognizers = [
        pr.EmailRecognizer(), pr.CreditCardRecognizer(), pr.IbanRecognizer(), pr.IpRecognizer(),
        pr.UsSsnRecognizer(), pr.UkNinoRecognizer(),
        pr.PhoneRecognizer(supported_regions=("US", "GB", "DE", "FR", "IT", "ES", "NL", "PL")),
        pr.DeTaxIdRecognizer(supported_language="en"), pr.ItFiscalCodeRecognizer(supported_language="en"),
        pr.EsNifRecognizer(supported_language="en"), pr.EsNieRecognizer(supported_language="en"),
        pr.PlPeselRecognizer(supported_language="en"),
    ]  # fmt: skip
    for recognizer in recognizers:
        registry.add_recognizer(recognizer)
    return AnalyzerEngine(registry=registry, nlp_engine=BlankEnglish(), supported_languages=["en"])


def main(out: str) -> None:
    engine = analyzer()
    rows = [json.loads(line) for line in (HERE / "data" / "pii.jsonl").open(encoding="utf-8")]
    entities = sorted(ENTITIES)
    predictions = {}
    for row in rows:
        found = engine.analyze(row["text"], language="en", entities=entities)
        predictions[row["id"]] = [
            {"kind": ENTITIES[r.entity_type], "start": r.start, "end": r.end, "score": r.score}
            for r in found
        ]
    docs = documents(rows)
    for doc in docs[:3]:  # warm-up
        engine.analyze(doc, language="en", entities=entities)
    t0 = time.process_time()
    for doc in docs:
        engine.analyze(doc, language="en", entities=entities)
    per_doc = (time.process_time() - t0) / len(docs)
    Path(out).write_text(json.dumps({"predictions": predictions, "seconds_per_4kb": per_doc}))


def documents(rows: list[dict[str, object]]) -> list[str]:
    """The samples joined into 4 KB documents (the same for every engine)."""
    docs, current = [], ""
    for row in rows:
        text = str(row["text"])
        if len(current) + len(text) + 1 > 4096:
            docs.append(current.ljust(4096))
            current = ""
        current += text + "\n"
    return docs


if __name__ == "__main__":
    main(sys.argv[1])
