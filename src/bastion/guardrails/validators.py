"""Checksum and format validators for the PII detectors.

Each takes the candidate a regex found (separators included) and answers whether
it is a real identifier of its kind. They run only on candidates, never over
the whole text, so they can afford a little Python.
"""

from __future__ import annotations

import datetime as _dt
import re
import string
from typing import Final

_DIGITS: Final = frozenset("0123456789")
_NOT_DIGIT: Final = re.compile(r"[^0-9]+")


def digits_of(text: str) -> str:
    """The decimal digits of ``text``, in order."""
    if text.isascii():
        # Most candidates: digits with spaces, hyphens or dots between them. Three
        # str.replace (a few hundred instructions) where the substitution costs some
        # seven thousand; when only digits are left, they are what it would keep.
        digits = text.replace(" ", "").replace("-", "").replace(".", "")
        if digits.isdigit():
            return digits
    return _NOT_DIGIT.sub("", text)


def luhn(number: str) -> bool:
    """The Luhn (mod 10) check of a string of digits."""
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = ord(ch) - 48
        if i & 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def card_brand(number: str) -> str | None:
    """The card network of a digit string by its IIN prefix and length, or None."""
    n = len(number)
    two = int(number[:2])
    four = int(number[:4])
    if number[0] == "4" and n in (13, 16, 19):
        return "visa"
    if (51 <= two <= 55 or 2221 <= four <= 2720) and n == 16:
        return "mastercard"
    if two in (34, 37) and n == 15:
        return "amex"
    if (number[:4] == "6011" or two == 65 or 644 <= int(number[:3]) <= 649) and n in (16, 19):
        return "discover"
    if 3528 <= four <= 3589 and 16 <= n <= 19:
        return "jcb"
    if (300 <= int(number[:3]) <= 305 or two in (36, 38, 39)) and 14 <= n <= 19:
        return "diners"
    if two == 62 and 16 <= n <= 19:
        return "unionpay"
    if number[:4] in ("5018", "5020", "5038", "5893", "6304", "6759", "6761", "6762", "6763"):
        return "maestro" if 12 <= n <= 19 else None
    return None


def payment_card(candidate: str, number: str | None = None) -> bool:
    """A card number as written (``number``: its digits, when the caller has them)."""
    if number is None:
        number = digits_of(candidate)
    if not 13 <= len(number) <= 19 or card_brand(number) is None:
        return False
    # Separators, when present, must be one kind and group the digits as cards print them.
    seps = set(candidate) - _DIGITS
    if len(seps) > 1:
        return False
    if seps:
        groups = tuple(len(g) for g in candidate.split(seps.pop()))
        if groups not in _CARD_GROUPS:
            return False
    return luhn(number)


_CARD_GROUPS: Final = frozenset(
    {(4, 4, 4, 4), (4, 6, 5), (4, 6, 4), (4, 4, 4, 4, 3), (4, 4, 4, 1), (4, 4, 4, 3), (4, 4, 5)}
)

# IBAN length by country (ISO 13616 registry).
IBAN_LENGTHS: Final[dict[str, int]] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def iban(candidate: str) -> bool:
    """Country length and the ISO 7064 mod 97-10 check."""
    value = candidate.replace(" ", "").upper()
    if IBAN_LENGTHS.get(value[:2]) != len(value) or not value.isalnum():
        return False
    # Letters become their two-digit numbers (A=10 ... Z=35), then one big-integer
    # remainder in C: the same figure as the digit-by-digit mod 97 loop.
    return int((value[4:] + value[:4]).translate(_IBAN_LETTERS)) % 97 == 1


_IBAN_LETTERS: Final = {ord(c): str(i) for i, c in enumerate(string.ascii_uppercase, 10)}


def us_ssn(candidate: str) -> bool:
    """SSA rules: area not 000, 666 or 9xx; group not 00; serial not 0000."""
    d = digits_of(candidate)
    if len(d) != 9:
        return False
    area, group, serial = d[:3], d[3:5], d[5:]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return d not in ("078051120", "219099999")  # published in advertising, never valid


_NINO_BAD_PREFIX: Final = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def uk_nino(candidate: str) -> bool:
    value = candidate.replace(" ", "").upper()
    return len(value) == 9 and value[:2] not in _NINO_BAD_PREFIX


def de_tax_id(candidate: str) -> bool:
    """Steuerliche Identifikationsnummer: 11 digits, ISO 7064 mod 11,10, digit-repeat rule."""
    d = digits_of(candidate)
    if len(d) != 11 or d[0] == "0":
        return False
    counts = [d[:10].count(c) for c in set(d[:10])]
    # Since 2016 one digit appears two or three times (three never side by side), the rest once.
    if sorted(counts, reverse=True)[:2] not in ([2, 1], [3, 1]):
        return False
    if 3 in counts and any(d[i] == d[i + 1] == d[i + 2] for i in range(8)):
        return False
    product = 10
    for ch in d[:10]:
        total = (int(ch) + product) % 10 or 10
        product = (total * 2) % 11
    check = (11 - product) % 10
    return check == int(d[10])


def fr_nir(candidate: str) -> bool:
    """Numéro de sécurité sociale: sex, year, month, department; key = 97 - n mod 97."""
    value = candidate.replace(" ", "").replace(".", "").upper()
    if len(value) != 15 or value[0] not in "12378":
        return False
    body, key = value[:13], value[13:]
    month = int(value[3:5]) if value[3:5].isdigit() else -1
    if not (1 <= month <= 12 or 20 <= month <= 42 or 50 <= month <= 99):
        return False
    numeric = body.replace("2A", "19").replace("2B", "18")
    if not numeric.isdigit() or not key.isdigit():
        return False
    return 97 - int(numeric) % 97 == int(key)


_CF_ODD: Final = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23]  # fmt: skip
_CF_OMOCODIA: Final = {c: str(i) for i, c in enumerate("LMNPQRSTUV")}
_CF_MONTHS: Final = frozenset("ABCDEHLMPRST")


def it_fiscal_code(candidate: str) -> bool:
    """Codice fiscale: 16 characters, month letter, day, and the check character."""
    value = candidate.upper()
    if len(value) != 16 or value[8] not in _CF_MONTHS:
        return False
    day = "".join(_CF_OMOCODIA.get(c, c) for c in value[9:11])
    if not day.isdigit() or not (1 <= int(day) <= 31 or 41 <= int(day) <= 71):
        return False
    total = 0
    for i, ch in enumerate(value[:15]):
        n = int(ch) if ch.isdigit() else ord(ch) - 65
        total += _CF_ODD[n] if i % 2 == 0 else n
    return chr(65 + total % 26) == value[15]


_DNI_LETTERS: Final = "TRWAGMYFPDXBNJZSQVHLCKE"


def es_dni(candidate: str) -> bool:
    """DNI (8 digits + letter) or NIE (X/Y/Z + 7 digits + letter), mod 23."""
    value = candidate.replace("-", "").replace(" ", "").replace(".", "").upper()
    if len(value) != 9:
        return False
    head = value[:8]
    if head[0] in "XYZ":
        head = str("XYZ".index(head[0])) + head[1:]
    return head.isdigit() and _DNI_LETTERS[int(head) % 23] == value[8]


def nl_bsn(candidate: str) -> bool:
    """Burgerservicenummer: 9 digits, the eleven test (last weight -1)."""
    d = digits_of(candidate)
    if len(d) != 9 or d == "000000000":
        return False
    total = sum(int(c) * w for c, w in zip(d[:8], range(9, 1, -1), strict=True)) - int(d[8])
    return total % 11 == 0


_PESEL_WEIGHTS: Final = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)


def pl_pesel(candidate: str) -> bool:
    """PESEL: 11 digits, a valid birth date (century in the month), weighted check."""
    d = digits_of(candidate)
    if len(d) != 11:
        return False
    month = int(d[2:4])
    century = {0: 1900, 20: 2000, 40: 2100, 60: 2200, 80: 1800}.get(month - month % 20)
    if century is None or not valid_date(century + int(d[:2]), month % 20, int(d[4:6])):
        return False
    total = sum(int(c) * w for c, w in zip(d[:10], _PESEL_WEIGHTS, strict=True))
    return (10 - total % 10) % 10 == int(d[10])


def valid_date(year: int, month: int, day: int) -> bool:
    try:
        _dt.date(year, month, day)
    except ValueError:
        return False
    return True


def ipv4(candidate: str) -> bool:
    parts = candidate.split(".")
    return len(parts) == 4 and all(
        p.isdigit() and int(p) <= 255 and (p == "0" or p[0] != "0") for p in parts
    )


def ipv6(candidate: str) -> bool:
    import ipaddress  # only for candidates with several colons and hex groups

    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True
