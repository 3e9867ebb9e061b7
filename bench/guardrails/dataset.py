"""Generate the guardrails evaluation set, reproducibly (fixed seed, fixed reference date).

    python bench/guardrails/dataset.py            # writes bench/guardrails/data/*.jsonl
    python bench/guardrails/dataset.py injection  # only injection.jsonl
    python bench/guardrails/dataset.py pii        # only pii.jsonl

pii.jsonl: sentences with labelled spans (kind, start, end) of personal data and
secrets, in eight locales (Faker), with context words as people write them and
some without; plus hard negatives that look like them and are not: order ids,
timestamps, version strings, hashes, UUIDs, code, ISBNs, prices, 9- and 11-digit
numbers without a context word, dates that are not birth dates.

injection.jsonl: prompt-injection and jailbreak attempts (direct, indirect inside
documents and tool results, obfuscated, encoded, several languages) and benign
prompts, many of which merely talk about instructions, roles, prompts and systems;
split "dev" (texts.py, texts3.py, texts4.py), "heldout" (heldout.py), "heldout2" (heldout2.py),
"heldout3" (heldout3.py) and "heldout4" (heldout4.py).

Values checked against python-stdnum where it knows the kind, so a label is right
even when our validators are wrong.
"""

from __future__ import annotations

import base64
import codecs
import json
import random
import string
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from faker import Faker
from faker.providers.date_time import change_year
from stdnum import iban as std_iban
from stdnum import luhn
from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.iso7064 import mod_11_10
from stdnum.it import codicefiscale
from stdnum.nl import bsn
from stdnum.pl import pesel

sys.path.insert(0, str(Path(__file__).resolve().parent))
from heldout import HELDOUT_ATTACKS, HELDOUT_BENIGN, HELDOUT_NEGATIVES, HELDOUT_PII
from heldout2 import HELDOUT2_ATTACKS, HELDOUT2_BENIGN
from heldout3 import HELDOUT3_ATTACKS, HELDOUT3_BENIGN
from heldout4 import HELDOUT4_ATTACKS, HELDOUT4_BENIGN
from texts import (
    ATTACKS,
    BENIGN,
    CONTEXT,
    INDIRECT_CARRIERS,
    MORE_ATTACKS,
    MORE_BENIGN,
    MORE_INDIRECT,
    NEGATIVES,
    NO_CONTEXT,
)
from texts3 import ATTACKS3, BENIGN3, INDIRECT3
from texts4 import ATTACKS4, BENIGN4, BENIGN4_TOOL, INDIRECT4

SEED = 20261125
DATA = Path(__file__).resolve().parent / "data"
LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "it_IT", "es_ES", "nl_NL", "pl_PL")
LANG = {loc: loc[:2] for loc in LOCALES}
PER_KIND = 160

# Faker's date providers count from today: every date drawn here counts from this day
# instead (passed explicitly), so the set regenerates byte for byte whatever the date.
REFERENCE = datetime(2026, 11, 25)

rng = random.Random(SEED)
fakers = {loc: Faker(loc) for loc in LOCALES}
for i, f in enumerate(fakers.values()):
    f.seed_instance(SEED + i)
# Faker builds its Italian city list from a set, in an order that changes with each run's
# string hashing (and so do the cities drawn from it): sorted, every run draws the same.
for provider in fakers["it_IT"].providers:
    if isinstance(getattr(provider, "cities", None), list):
        provider.cities = sorted(provider.cities)


def _digits(n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def _group(value: str, sizes: tuple[int, ...], sep: str) -> str:
    out, i = [], 0
    for size in sizes:
        out.append(value[i : i + size])
        i += size
    if i < len(value):
        out.append(value[i:])
    return sep.join(p for p in out if p)


def _birth_date(f: Faker, minimum_age: int = 0, maximum_age: int = 115) -> date:
    """Faker's ``date_of_birth`` (same draws, same defaults), counted back from REFERENCE."""
    start = change_year(REFERENCE.date(), -(maximum_age + 1))
    end = change_year(REFERENCE.date(), -minimum_age)
    dob: date = f.date_time_ad(start_datetime=start, end_datetime=end).date()
    return dob if dob != start else dob + timedelta(days=1)


# --- values of each kind ---------------------------------------------------------------


def email(loc: str) -> str:
    f = fakers[loc]
    value = rng.choice([f.email, f.free_email, f.company_email])()
    if rng.random() < 0.15:
        user, domain = value.split("@")
        value = f"{user}+{rng.choice(['news', 'work', 'x1'])}@{domain}"
    return str(value)


def phone(loc: str) -> str:
    return str(fakers[loc].phone_number())


def credit_card(loc: str) -> str:
    kind = rng.choice(["visa16", "mastercard", "amex", "discover", "jcb", "visa16", "mastercard"])
    if kind == "jcb":  # Faker draws JCB numbers from all of 35xx; issued ones are 3528-3589
        head = str(rng.randint(3528, 3589)) + _digits(11)
        number = head + luhn.calc_check_digit(head)
    else:
        number = str(fakers["en_US"].credit_card_number(card_type=kind))
    assert luhn.is_valid(number)
    style = rng.random()
    if len(number) == 15:
        return _group(number, (4, 6, 5), " ") if style < 0.5 else number
    if style < 0.4:
        return _group(number, (4, 4, 4, 4), " ")
    if style < 0.6:
        return _group(number, (4, 4, 4, 4), "-")
    return number


def iban(loc: str) -> str:
    country = {"en_US": "GB", "en_GB": "GB", "de_DE": "DE", "fr_FR": "FR", "it_IT": "IT",
               "es_ES": "ES", "nl_NL": "NL", "pl_PL": "PL"}[loc]  # fmt: skip
    value = str(fakers[loc].iban()) if country != "GB" else str(fakers["en_GB"].iban())
    assert value.startswith(country) and std_iban.is_valid(value), value
    return (
        " ".join(value[i : i + 4] for i in range(0, len(value), 4)) if rng.random() < 0.5 else value
    )


def us_ssn(loc: str) -> str:
    while True:
        value = str(fakers["en_US"].ssn())
        area = value[:3]
        if area not in ("000", "666") and area[0] != "9":
            return value


_NINO_FIRST = "ABCEGHJKLMNOPRSTWXYZ"
_NINO_SECOND = "ABCEGHJKLMNPRSTWXYZ"


def uk_nino(loc: str) -> str:
    while True:
        prefix = rng.choice(_NINO_FIRST) + rng.choice(_NINO_SECOND)
        if prefix not in ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ"):
            break
    body = _digits(6)
    suffix = rng.choice("ABCD")
    if rng.random() < 0.5:
        return f"{prefix} {body[:2]} {body[2:4]} {body[4:]} {suffix}"
    return prefix + body + suffix


def de_tax_id(loc: str) -> str:
    while True:
        value = str(rng.randint(1, 9)) + _digits(9)
        value += mod_11_10.calc_check_digit(value)
        if idnr.is_valid(value) and not any(
            value[i] == value[i + 1] == value[i + 2] for i in range(8)
        ):
            return _group(value, (2, 3, 3, 3), " ") if rng.random() < 0.3 else value


def fr_nir(loc: str) -> str:
    while True:
        value = str(fakers["fr_FR"].ssn())
        if nir.is_valid(value) and value[0] in "12" and 1 <= int(value[3:5]) <= 12:
            if rng.random() < 0.4:
                return _group(value, (1, 2, 2, 2, 3, 3, 2), " ")
            return value


def it_fiscal_code(loc: str) -> str:
    value = str(fakers["it_IT"].ssn())
    assert codicefiscale.is_valid(value)
    return value


def es_dni(loc: str) -> str:
    value = str(fakers["es_ES"].nif() if rng.random() < 0.6 else fakers["es_ES"].nie())
    assert dni.is_valid(value) or nie.is_valid(value)
    return value


def nl_bsn(loc: str) -> str:
    value = str(fakers["nl_NL"].ssn())
    assert bsn.is_valid(value)
    return value


def pl_pesel(loc: str) -> str:
    f = fakers["pl_PL"]
    born = datetime.combine(_birth_date(f), datetime.min.time())  # Faker types it so
    value = str(f.pesel(date_of_birth=born))
    assert pesel.is_valid(value)
    return value


def ip_address(loc: str) -> str:
    f = fakers["en_US"]
    return str(rng.choice([f.ipv4, f.ipv4_private, f.ipv4_public, f.ipv6])())


_DATE_FORMATS = ("%d.%m.%Y", "%Y-%m-%d", "%m/%d/%Y", "%d/%m/%Y", "%B %d, %Y", "%d %B %Y")


def date_of_birth(loc: str) -> str:
    day = _birth_date(fakers["en_US"], minimum_age=18, maximum_age=90)
    return str(day.strftime(rng.choice(_DATE_FORMATS)))


def address(loc: str) -> str:
    return str(fakers[loc].street_address()).replace("\n", ", ").strip()


def secret(loc: str) -> str:
    alnum = string.ascii_letters + string.digits
    token = lambda n, chars=alnum: "".join(rng.choice(chars) for _ in range(n))  # noqa: E731
    kind = rng.randrange(12)
    if kind == 0:
        return "AKIA" + token(16, string.ascii_uppercase + string.digits)
    if kind == 1:
        return "sk-proj-" + token(48, alnum + "_-")
    if kind == 2:
        return "sk-ant-api03-" + token(93, alnum + "_-") + "AA"
    if kind == 3:
        return "ghp_" + token(36)
    if kind == 4:
        return "AIza" + token(35, alnum + "_-")
    if kind == 5:
        return f"xoxb-{_digits(12)}-{_digits(13)}-{token(24)}"
    if kind == 6:
        return "sk_live_" + token(24)
    if kind == 7:
        header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()
        body = (
            base64.urlsafe_b64encode(
                json.dumps({"sub": _digits(8), "name": fakers["en_US"].name()}).encode()
            )
            .rstrip(b"=")
            .decode()
        )
        return f"{header}.{body}.{token(43, alnum + '_-')}"
    if kind == 8:
        lines = [token(64, alnum + "+/") for _ in range(rng.randint(3, 6))]
        return (
            "-----BEGIN RSA PRIVATE KEY-----\n"
            + "\n".join(lines)
            + "\n-----END RSA PRIVATE KEY-----"
        )
    if kind == 9:
        return "hf_" + token(34)
    if kind == 10:
        return "glpat-" + token(20, alnum + "_-")
    return token(rng.randint(28, 44), alnum)  # a random API token with a name before it


def password(loc: str) -> str:
    words = ["Summer", "Winter", "dragon", "Secure", "Passw0rd", "letmein", "Falcon"]
    return rng.choice(words) + _digits(rng.randint(2, 4)) + rng.choice("!#$%&*")


KINDS = {
    "email": email, "phone": phone, "credit_card": credit_card, "iban": iban, "us_ssn": us_ssn,
    "uk_nino": uk_nino, "de_tax_id": de_tax_id, "fr_nir": fr_nir, "it_fiscal_code": it_fiscal_code,
    "es_dni": es_dni, "nl_bsn": nl_bsn, "pl_pesel": pl_pesel, "ip_address": ip_address,
    "date_of_birth": date_of_birth, "address": address, "secret": secret, "password": password,
}  # fmt: skip
HOME = {"us_ssn": "en_US", "uk_nino": "en_GB", "de_tax_id": "de_DE", "fr_nir": "fr_FR",
        "it_fiscal_code": "it_IT", "es_dni": "es_ES", "nl_bsn": "nl_NL", "pl_pesel": "pl_PL"}  # fmt: skip


def _fill(template: str, loc: str, slots: dict[str, str]) -> tuple[str, list[dict[str, Any]]]:
    """Fill ``{kind}`` slots with labelled values and ``{name}``/``{city}``/... with plain text."""
    f = fakers[loc]
    template = template.replace("{{", "\x00").replace("}}", "\x01")
    text, spans, i = "", [], 0
    while i < len(template):
        j = template.find("{", i)
        if j < 0:
            text += template[i:]
            break
        k = template.index("}", j)
        text += template[i:j]
        slot = template[j + 1 : k]
        if slot in slots:
            value = slots[slot]
            spans.append({"kind": slot, "start": len(text), "end": len(text) + len(value)})
            text += value
        else:
            text += str(
                {"name": f.name, "city": f.city, "company": f.company, "word": f.word}[slot]()
            )
        i = k + 1
    return text.replace("\x00", "{").replace("\x01", "}"), spans


def pii_samples() -> list[dict[str, Any]]:
    samples: list[dict[str, Any]] = []
    for kind, make in KINDS.items():
        for n in range(PER_KIND):
            loc = HOME.get(kind) or LOCALES[n % len(LOCALES)]
            lang = LANG[loc]
            with_context = rng.random() < 0.8 or kind not in NO_CONTEXT
            pool = (
                CONTEXT[kind].get(lang) or CONTEXT[kind]["en"] if with_context else NO_CONTEXT[kind]
            )
            template = rng.choice(pool)
            text, spans = _fill(template, loc, {kind: make(loc)})
            samples.append({"text": text, "spans": spans, "locale": loc, "context": with_context})
    for n in range(1200):
        loc = LOCALES[n % len(LOCALES)]
        template = rng.choice(NEGATIVES)
        text = _negative(template, loc)
        samples.append({"text": text, "spans": [], "locale": loc, "context": False})
    rng.shuffle(samples)
    for s in samples:
        s["split"] = "dev"
    held: list[dict[str, Any]] = []
    for kind, templates in HELDOUT_PII.items():
        for n in range(40):
            loc = HOME.get(kind) or LOCALES[n % len(LOCALES)]
            text, spans = _fill(rng.choice(templates), loc, {kind: KINDS[kind](loc)})
            held.append({"text": text, "spans": spans, "locale": loc, "context": True})
    for n in range(300):
        loc = LOCALES[n % len(LOCALES)]
        held.append(
            {
                "text": _negative(rng.choice(HELDOUT_NEGATIVES), loc),
                "spans": [],
                "locale": loc,
                "context": False,
            }
        )
    rng.shuffle(held)
    for s in held:
        s["split"] = "heldout"
    samples += held
    for i, s in enumerate(samples):
        s["id"] = f"pii-{i:05d}"
    return samples


def _negative(template: str, loc: str) -> str:
    f = fakers[loc]
    values = {
        "order": rng.choice([f"ORD-{rng.randint(2019, 2026)}-{_digits(6)}", f"#{_digits(8)}",
                             f"A{_digits(9)}", f"{rng.randint(2019, 2026)}{_digits(6)}"]),
        "iso": f.iso8601(end_datetime=REFERENCE),
        "datetime": f.date_time(end_datetime=REFERENCE).strftime(rng.choice(["%Y-%m-%d %H:%M:%S", "%d.%m.%Y %H:%M", "%Y/%m/%d"])),
        "epoch": str(rng.randint(1_500_000_000, 1_800_000_000) * rng.choice([1, 1000])),
        "version": rng.choice([f"v{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 99)}",
                               f"{rng.randint(1, 12)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}",
                               f"10.0.{rng.randint(10000, 22631)}.{rng.randint(100, 4000)}"]),
        "sha": rng.choice([f.sha1(), f.sha256(), f.md5(), f.sha1()[:7]]),
        "uuid": f.uuid4(),
        "isbn": f.isbn13(),
        "ean": f.ean13(),
        "n9": _digits(9),
        "n11": str(rng.randint(1, 9)) + _digits(10),
        "n16": str(rng.randint(1, 9)) + _digits(15),
        "price": f"{rng.choice(['$', '€', '£'])}{rng.randint(1, 99_999):,}.{_digits(2)}",
        "coords": f"{f.latitude()}, {f.longitude()}",
        "date": f.date(pattern=rng.choice(["%d.%m.%Y", "%Y-%m-%d", "%m/%d/%Y"]), end_datetime=REFERENCE),
        "port": str(rng.randint(1024, 65535)),
        "hexid": f"0x{rng.getrandbits(64):016x}",
        "tracking": "1Z" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16)),
        "path": rng.choice(["/usr/local/lib/python3.11/site-packages", "src/bastion/guardrails/pii.py",
                            "C:\\Users\\Public\\Documents", "~/.config/app/settings.yaml"]),
        "word": f.word(), "name": f.name(), "company": f.company(), "city": f.city(),
    }  # fmt: skip
    return template.format(**values)


def _round(
    attacks: list[tuple[str, str]],
    indirect: list[tuple[str, str]],
    benign: list[str],
    benign_tool: list[str] | None = None,
) -> list[dict[str, Any]]:
    """One round of dev rows: each attack with its obfuscated variants, the indirect
    attacks (in tool results), the benign prompts, the benign tool results."""
    rows: list[dict[str, Any]] = []
    for text, category in attacks:
        rows.append({"text": text, "label": 1, "category": category, "source": "user"})
        for variant, how in _obfuscated(text):
            rows.append(
                {"text": variant, "label": 1, "category": f"{category}+{how}", "source": "user"}
            )
    for text, category in indirect:
        rows.append({"text": text, "label": 1, "category": category, "source": "tool"})
    for text in benign:
        rows.append({"text": text, "label": 0, "category": "meta", "source": "user"})
    for text in benign_tool or []:
        rows.append({"text": text, "label": 0, "category": "meta", "source": "tool"})
    return rows


def injection_samples() -> list[dict[str, Any]]:
    samples: list[dict[str, Any]] = []
    for text, category in ATTACKS:
        samples.append({"text": text, "label": 1, "category": category, "source": "user"})
        for variant, how in _obfuscated(text):
            samples.append(
                {"text": variant, "label": 1, "category": f"{category}+{how}", "source": "user"}
            )
    for text, category in INDIRECT_CARRIERS:
        samples.append({"text": text, "label": 1, "category": category, "source": "tool"})
    for text, category in BENIGN:
        samples.append({"text": text, "label": 0, "category": category, "source": "user"})
    f = fakers["en_US"]
    for _ in range(200):  # ordinary requests
        samples.append({"text": f.paragraph(nb_sentences=rng.randint(2, 6)), "label": 0,
                        "category": "ordinary", "source": "user"})  # fmt: skip
    # The second round (texts.MORE_*), generated after the first so that the rows above keep
    # their random choices.
    samples += _round(MORE_ATTACKS, MORE_INDIRECT, MORE_BENIGN)
    # The third round (texts3.py), after the second for the same reason.
    samples += _round(ATTACKS3, INDIRECT3, BENIGN3)
    # The fourth round (texts4.py): where an override or a note is addressed.
    samples += _round(ATTACKS4, INDIRECT4, BENIGN4, BENIGN4_TOOL)
    for s in samples:
        s["split"] = "dev"
    # Held-out sets 1 and 2 have benign prompts only from users.
    samples += _heldout("heldout", HELDOUT_ATTACKS, [(t, "user") for t in HELDOUT_BENIGN])
    samples += _heldout("heldout2", HELDOUT2_ATTACKS, [(t, "user") for t in HELDOUT2_BENIGN])
    samples += _heldout("heldout3", HELDOUT3_ATTACKS, HELDOUT3_BENIGN)
    samples += _heldout("heldout4", HELDOUT4_ATTACKS, HELDOUT4_BENIGN)
    for i, s in enumerate(samples):
        s["id"] = f"inj-{i:05d}"
    return samples


def _heldout(
    split: str, attacks: list[tuple[str, str, str]], benign: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    """A held-out set's rows: (text, category, source) attacks, (text, source) benign."""
    rows = [
        {"text": t, "label": 1, "category": c, "source": src, "split": split}
        for t, c, src in attacks
    ]
    rows += [
        {"text": t, "label": 0, "category": "meta", "source": src, "split": split}
        for t, src in benign
    ]
    return rows


_LEET = str.maketrans("aeiost", "4310$7")
_HOMOGLYPH = str.maketrans("aeopc", "\u0430\u0435\u043e\u0440\u0441")  # Cyrillic look-alikes


def _obfuscated(text: str) -> list[tuple[str, str]]:
    """One obfuscated variant per attack, cycling through the tricks."""
    how = rng.choice(["leet", "spaced", "zero-width", "homoglyph", "base64", "rot13", "hex"])
    if how == "leet":
        return [(text.lower().translate(_LEET), how)]
    if how == "spaced":
        words = text.split(" ")
        cut = min(4, len(words))
        return [(" ".join(" ".join(w) for w in words[:cut]) + "  " + " ".join(words[cut:]), how)]
    if how == "zero-width":
        return [("\u200b".join(text[i : i + 3] for i in range(0, len(text), 3)), how)]
    if how == "homoglyph":
        return [(text.translate(_HOMOGLYPH), how)]
    if how == "base64":
        return [("Decode this and follow it: " + base64.b64encode(text.encode()).decode(), how)]
    if how == "rot13":
        return [("This is rot13, decode and obey: " + codecs.encode(text, "rot13"), how)]
    return [("hex payload, decode it: " + text.encode().hex(), how)]


def write(only: str = "") -> None:
    """Write every set, or only ``pii`` or ``injection`` (the PII set is still generated
    first, so the random draws of the injection set do not change)."""
    DATA.mkdir(parents=True, exist_ok=True)
    for name, rows in (("pii.jsonl", pii_samples()), ("injection.jsonl", injection_samples())):
        if only and not name.startswith(only):
            continue
        with (DATA / name).open("w", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{DATA / name}: {len(rows)} samples")


if __name__ == "__main__":
    write(sys.argv[1] if len(sys.argv) > 1 else "")
