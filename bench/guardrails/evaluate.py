"""Evaluate Bastion's guardrails (and Microsoft Presidio) on the evaluation set.

    python bench/guardrails/evaluate.py [--presidio] [--json OUT]

Precision and recall per kind, span-level: a prediction is right when it overlaps
a labelled span of the same kind. Injection: detection rate on attacks, false
positives on benign prompts, at the default threshold (0.7). Timing: CPU time
(process time, so other processes on the machine do not count) per 4 KB
document, every detector on, over the samples joined into 4 KB documents; and
the stream scanner's added time per chunk. With --presidio, runs
bench/guardrails/presidio_runner.py in bench/.venv-presidio (created on first
use) and reports it beside ours.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bastion.guardrails import GuardSession, compile_policy
from bastion.guardrails.config import GuardrailsConfig, group_of
from bastion.guardrails.injection import InjectionDetector
from bastion.guardrails.stream import OutputChannel

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VENV = ROOT / "bench" / ".venv-presidio"
CHECKSUM_KINDS = {"credit_card", "iban", "us_ssn", "uk_nino", "de_tax_id", "fr_nir",
                  "it_fiscal_code", "es_dni", "nl_bsn", "pl_pesel"}  # fmt: skip
ALL = GuardrailsConfig.model_validate(
    {
        "policies": {
            "all": {
                "rules": [
                    {"detectors": ["pii", "secrets", "injection", "content"], "action": "record"}
                ]
            }
        }
    }
)
POLICY = compile_policy(("all",), ALL.policies)


def _gold_kind(kind: str) -> str:
    return kind


def _our_kind(kind: str) -> str:
    """Secrets are evaluated as one family, except passwords."""
    if kind == "password":
        return "password"
    return "secret" if group_of(kind) == "secrets" else kind


def load(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (HERE / "data" / name).open(encoding="utf-8")]


def ours(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    assert POLICY.input is not None
    scanner = POLICY.input.scanner
    out = {}
    for row in rows:
        found = scanner.scan(row["text"], "system")  # PII and secrets only: no injection here
        out[row["id"]] = [
            {"kind": _our_kind(f.kind), "start": f.start, "end": f.end}
            for f in found
            if group_of(f.kind) in ("pii", "secrets")
        ]
    return out


def score(
    rows: list[dict[str, Any]], predictions: dict[str, list[dict[str, Any]]]
) -> dict[str, dict[str, float]]:
    tp: dict[str, int] = defaultdict(int)
    fp: dict[str, int] = defaultdict(int)
    fn: dict[str, int] = defaultdict(int)
    for row in rows:
        gold = row["spans"]
        pred = predictions.get(row["id"], [])
        for g in gold:
            hit = any(
                p["kind"] == g["kind"] and p["start"] < g["end"] and g["start"] < p["end"]
                for p in pred
            )
            (tp if hit else fn)[g["kind"]] += 1
        for p in pred:
            if not any(
                p["kind"] == g["kind"] and p["start"] < g["end"] and g["start"] < p["end"]
                for g in gold
            ):
                fp[p["kind"]] += 1
    table = {}
    for kind in sorted(set(tp) | set(fn) | set(fp)):
        t, f_p, f_n = tp[kind], fp[kind], fn[kind]
        table[kind] = {
            "support": t + f_n,
            "tp": t,
            "fp": f_p,
            "fn": f_n,
            "precision": t / (t + f_p) if t + f_p else 0.0,
            "recall": t / (t + f_n) if t + f_n else 0.0,
        }
    return table


def injection(rows: list[dict[str, Any]], threshold: float = 0.7) -> dict[str, Any]:
    detector = InjectionDetector(threshold)
    by_category: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    attacks = benign = detected = false_positives = 0
    missed, flagged = [], []
    for row in rows:
        out: list[Any] = []
        detector.find(
            row["text"],
            row["text"].lower() if len(row["text"].lower()) == len(row["text"]) else None,
            out,
            row["source"],
        )
        hit = bool(out)
        if row["label"]:
            attacks += 1
            detected += hit
            by_category[
                row["category"].split("+")[-1] if "+" in row["category"] else row["category"]
            ][0] += hit
            by_category[
                row["category"].split("+")[-1] if "+" in row["category"] else row["category"]
            ][1] += 1
            if not hit:
                missed.append(row["text"][:100])
        else:
            benign += 1
            false_positives += hit
            if hit:
                flagged.append(row["text"][:100])
    return {
        "attacks": attacks,
        "detected": detected,
        "detection_rate": detected / attacks,
        "benign": benign,
        "false_positives": false_positives,
        "false_positive_rate": false_positives / benign,
        "by_category": {
            k: {"detected": v[0], "total": v[1]} for k, v in sorted(by_category.items())
        },
        "missed": missed,
        "flagged": flagged,
    }


def documents(rows: list[dict[str, Any]]) -> list[str]:
    docs, current = [], ""
    for row in rows:
        text = str(row["text"])
        if len(current) + len(text) + 1 > 4096:
            docs.append(current.ljust(4096))
            current = ""
        current += text + "\n"
    return docs


def timing(rows: list[dict[str, Any]], inj_rows: list[dict[str, Any]]) -> dict[str, Any]:
    assert POLICY.input is not None and POLICY.output is not None
    scanner = POLICY.input.scanner
    docs = documents(rows)
    typical = documents([r for r in inj_rows if r["label"] == 0])  # benign prompts, ordinary text

    def per_doc(batch: list[str]) -> float:
        for doc in batch[:3]:
            scanner.scan(doc, "user")
        best = float("inf")
        for _ in range(5):  # the best of five passes: the least disturbed by the machine
            t0 = time.process_time()
            for doc in batch:
                scanner.scan(doc, "user")
            best = min(best, (time.process_time() - t0) / len(batch))
        return best

    best = per_doc(docs)
    typical_best = per_doc(typical)
    # Streams: a 4 KB answer in 4-character chunks through one output channel.
    answer = docs[0]
    t0 = time.process_time()
    rounds = 20
    for _ in range(rounds):
        channel = OutputChannel(GuardSession(POLICY), POLICY.output)
        for i in range(0, len(answer), 4):
            channel.feed(answer[i : i + 4])
        channel.flush()
    per_chunk = (time.process_time() - t0) / rounds / (len(answer) / 4)
    return {
        "documents": len(docs),
        "seconds_per_4kb": best,
        "typical_documents": len(typical),
        "typical_seconds_per_4kb": typical_best,
        "stream_seconds_per_chunk": per_chunk,
        "stream_hold_chars": POLICY.output.max_span - 1,
    }


def presidio() -> dict[str, Any]:
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "presidio-analyzer"], check=True)
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([str(python), str(HERE / "presidio_runner.py"), out.name], check=True,
                       stderr=subprocess.DEVNULL)  # fmt: skip
        result: dict[str, Any] = json.loads(Path(out.name).read_text())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presidio", action="store_true")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    all_rows, inj_rows = load("pii.jsonl"), load("injection.jsonl")
    rows = [r for r in all_rows if r["split"] == "dev"]
    held = [r for r in all_rows if r["split"] == "heldout"]
    result: dict[str, Any] = {
        "ours": score(rows, ours(rows)),
        "ours_heldout": score(held, ours(held)),
        "injection": injection([r for r in inj_rows if r["split"] == "dev"]),
        "injection_heldout": injection([r for r in inj_rows if r["split"] == "heldout"]),
        "injection_heldout2": injection([r for r in inj_rows if r["split"] == "heldout2"]),
        "injection_heldout3": injection([r for r in inj_rows if r["split"] == "heldout3"]),
        "injection_heldout4": injection([r for r in inj_rows if r["split"] == "heldout4"]),
        "timing": timing(rows, inj_rows),
    }
    if args.presidio:
        p = presidio()
        result["presidio"] = score(rows, p["predictions"])
        result["presidio_heldout"] = score(held, p["predictions"])
        result["presidio_seconds_per_4kb"] = p["seconds_per_4kb"]
    print(report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, ensure_ascii=False))


PRESIDIO_KINDS = {"email", "phone", "credit_card", "iban", "us_ssn", "uk_nino", "de_tax_id",
                  "it_fiscal_code", "es_dni", "pl_pesel", "ip_address"}  # fmt: skip


def _pr(table: dict[str, dict[str, float]], kind: str) -> str:
    row = table.get(kind)
    return f"{row['precision']:.3f} | {row['recall']:.3f}" if row else "— | —"


def _total(table: dict[str, dict[str, float]], kinds: set[str]) -> str:
    t = sum(table[k]["tp"] for k in kinds if k in table)
    f_p = sum(table[k]["fp"] for k in kinds if k in table)
    f_n = sum(table[k]["fn"] for k in kinds if k in table)
    return f"{t / max(t + f_p, 1):.3f} | {t / max(t + f_n, 1):.3f}"


def report(result: dict[str, Any]) -> str:
    theirs = result.get("presidio", {})
    theirs_held = result.get("presidio_heldout", {})
    lines = [
        "| kind | dev n | precision | recall | held-out n | precision | recall "
        "| Presidio dev P | R | Presidio held-out P | R |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, row in result["ours"].items():
        held = result["ours_heldout"].get(kind, {"support": 0})
        mark = " (checksum)" if kind in CHECKSUM_KINDS else ""
        covered = kind in PRESIDIO_KINDS and theirs
        lines.append(
            f"| {kind}{mark} | {row['support']} | {_pr(result['ours'], kind)} | {held['support']} "
            f"| {_pr(result['ours_heldout'], kind)} "
            f"| {_pr(theirs, kind) if covered else '— | —'} | {_pr(theirs_held, kind) if covered else '— | —'} |"
        )
    if theirs:
        lines.append(
            f"| **kinds Presidio covers** | | {_total(result['ours'], PRESIDIO_KINDS)} | "
            f"| {_total(result['ours_heldout'], PRESIDIO_KINDS)} | {_total(theirs, PRESIDIO_KINDS)} "
            f"| {_total(theirs_held, PRESIDIO_KINDS)} |"
        )
    for split in (
        "injection",
        "injection_heldout",
        "injection_heldout2",
        "injection_heldout3",
        "injection_heldout4",
    ):
        inj = result[split]
        lines.append(
            f"\n{split}: detected {inj['detected']}/{inj['attacks']} ({inj['detection_rate']:.1%}), "
            f"false positives {inj['false_positives']}/{inj['benign']} ({inj['false_positive_rate']:.1%})"
        )
    t = result["timing"]
    lines.append(
        f"timing: {t['seconds_per_4kb'] * 1e6:.0f} us per PII-dense 4 KB, "
        f"{t['typical_seconds_per_4kb'] * 1e6:.0f} us per ordinary 4 KB prompt (all detectors, one core); "
        f"stream {t['stream_seconds_per_chunk'] * 1e6:.1f} us per 4-character chunk, hold {t['stream_hold_chars']} chars"
    )
    if "presidio_seconds_per_4kb" in result:
        lines.append(
            f"Presidio (pattern recognizers, blank spaCy): {result['presidio_seconds_per_4kb'] * 1e3:.1f} ms per PII-dense 4 KB"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
