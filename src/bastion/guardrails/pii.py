"""Personal data: e-mail, phone, payment card, IBAN, national ids, IP, date of birth, address.

Fast because few regexes scan the whole text, each starting with a plain
character class so that the regex engine skips most positions in C:

- one scan for runs of digits (with the separators numbers are written with);
  each run is then classified in Python by validators: card (Luhn + issuer
  prefix + grouping), US SSN, French NIR, German tax id, Dutch BSN, Polish
  PESEL, Spanish DNI, IPv4, dates of birth, phone numbers, house numbers;
- one scan for upper-case identifiers: IBAN (mod 97), Italian codice fiscale,
  UK NINO, Spanish NIE;
- e-mail only when the text has an ``@``; word dates only near a birth word.

Checksums cannot tell a 9- or 11-digit national id from any other number of
that length (one in eleven passes the BSN test), so those kinds also need a
context word before them ("BSN", "PESEL", "Steuer-ID", ...).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable
from typing import Final

from bastion.guardrails import validators as v
from bastion.guardrails.base import Finding
from bastion.guardrails.pii_patterns import (
    ADDRESS_AFTER,
    ADDRESS_BEFORE,
    ADDRESS_BEFORE_WORD,
    CONTEXT,
    DATE,
    EXTENSION,
    ID_RUN,
    IPV6,
    NANP,
    NIR_CORSICA,
    NUMBER_RUN,
    SSN_SHAPE,
    STREET_WORDS,
    SUFFIXES_BY_LAST,
    VERSION_CONTEXT,
    WORD_DATE,
    calling_code_ok,
    dob_starts,
    matches_at,
    occurrences,
    plausible_birth_date,
)

PII_KINDS: Final = frozenset(
    {
        "email",
        "phone",
        "credit_card",
        "iban",
        "us_ssn",
        "uk_nino",
        "de_tax_id",
        "fr_nir",
        "it_fiscal_code",
        "es_dni",
        "nl_bsn",
        "pl_pesel",
        "ip_address",
        "date_of_birth",
        "address",
    }
)
# The longest text a stream must hold back for a match to be found whole (see stream.py):
# an e-mail's local part, an address from its number to its street, a grouped IBAN.
_SPANS: Final = {"email": 64, "address": 64}
_NUMERIC_KINDS: Final = PII_KINDS - {"email", "uk_nino", "it_fiscal_code"}
_ID_KINDS: Final = frozenset({"iban", "it_fiscal_code", "uk_nino", "es_dni"})
_DIGITS: Final = frozenset("0123456789")
_DIGIT: Final = re.compile(r"\d")  # what NUMBER_RUN and the other patterns' \d match
_ASCII_DIGIT: Final = re.compile(r"[0-9]")  # the same in ASCII text, searched faster
_EMAIL_LOCAL: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-"
)
_EMAIL_DOMAIN = re.compile(
    r"@((?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24})(?![\w\-])"
)
_CORSICA: Final = ("2A", "2B")
_CLOSE_COLONS: Final = re.compile(r":(?=[^:]{0,4}:)")  # a colon with another 5 or fewer after
_BAD_BEFORE: Final = frozenset("_./#$€£¥%\\")
_BAD_AFTER: Final = frozenset("_/%\\")
_WORD_END: Final = frozenset("_'\u2019.-,")  # [\w'\u2019.\-] or the comma of ADDRESS_BEFORE


class PIIDetector:
    """Personal data of the given kinds (default: all of :data:`PII_KINDS`)."""

    def __init__(self, kinds: Iterable[str] = PII_KINDS) -> None:
        self.kinds = frozenset(kinds) & PII_KINDS
        self.max_span = max((_SPANS.get(k, 48) for k in self.kinds), default=0)
        self._numbers = bool(self.kinds & _NUMERIC_KINDS)
        self._ids = bool(self.kinds & _ID_KINDS)
        self._fiscal = "it_fiscal_code" in self.kinds  # the one id that may have no digit

    def find(self, text: str, low: str | None, out: list[Finding], source: str = "user") -> None:
        kinds = self.kinds
        found: list[Finding] = []
        # Every kind but e-mail, IPv6 and the Italian fiscal code has a digit in each match
        # (numbers, IBAN, NINO, NIE, NIR, dates): a text without one, most short prompts,
        # skips those scans after one search in C.
        digit = (_ASCII_DIGIT if text.isascii() else _DIGIT).search(text) is not None
        if digit:
            if self._numbers:
                self._scan_numbers(text, low, found)
            if self._ids:
                self._scan_ids(text, found)
        elif self._fiscal:
            self._scan_ids(text, found)
        if "email" in kinds and "@" in text:
            _scan_emails(text, found)
        if "ip_address" in kinds and ("::" in text or text.count(":") >= 5):
            _scan_ipv6(text, found)
        if digit and "fr_nir" in kinds and ("2A" in text or "2B" in text):
            # A Corsican NIR has its 2A/2B 5 to 8 characters after its start.
            starts = [p for q in occurrences(text, _CORSICA) for p in range(q - 8, q - 4) if p >= 0]
            for m in matches_at(NIR_CORSICA, text, starts):
                if v.fr_nir(m.group()):
                    found.append(Finding("fr_nir", m.start(), m.end()))
        if digit and "date_of_birth" in kinds and low is not None:
            for hint in matches_at(CONTEXT["date_of_birth"], low, dob_starts(low)):
                date = WORD_DATE.search(low, hint.end(), hint.end() + 48)
                if date is not None and plausible_birth_date(date.group()):
                    found.append(Finding("date_of_birth", date.start(), date.end()))
        if not found:
            return
        if len(found) > 1:  # digits inside an IBAN or an id are that IBAN or id
            ids = sorted((f.start, f.end) for f in found if f.kind in _ID_KINDS)
            if ids:
                starts = [i[0] for i in ids]
                found = [f for f in found if f.kind in _ID_KINDS or not _within(ids, starts, f)]
        out.extend(f for f in found if f.kind in kinds)

    # --- digit runs ----------------------------------------------------------------------

    def _scan_numbers(self, text: str, low: str | None, out: list[Finding]) -> None:
        n = len(text)
        address = "address" in self.kinds
        for m in NUMBER_RUN.finditer(text):
            s, e = m.span()
            if e - s <= 6 and text[e - 1] != ")" and (not s or text[s - 1] not in "+("):
                # Too short for anything but a house number (the checks below keep their
                # word): skip at once what cannot be one.
                if e - s == 6 or not address:
                    continue
                after = e + 1 if e < n and text[e].isalpha() else e
                if not (after + 1 < n and text[after] in " ,") and not (
                    s >= 2 and text[s - 1] == " "
                ):
                    continue
            if text[e - 1] == ")" and "(" not in text[s:e]:
                e -= 1  # (born 01.01.1960): the parenthesis closes the sentence's, not the number's
            digits_start = s
            prev = text[s - 1] if s else " "
            if prev == "+" or (prev == "(" and ")" in text[s : min(e + 1, s + 8)]):
                s -= 1  # +49 ..., (030) ...: a parenthesis only when it closes in the number
                prev = text[s - 1] if s else " "
                if prev == "(" or prev == "+":
                    s -= 1
                    prev = text[s - 1] if s else " "
            if prev.isalnum() or prev in _BAD_BEFORE:
                continue
            if prev == "-" and s >= 2 and text[s - 2].isalnum():
                continue
            nxt = text[e] if e < n else " "
            if nxt.isalpha():
                if (
                    e - digits_start == 8
                    and text[digits_start:e].isdigit()
                    and (e + 1 >= n or not text[e + 1].isalnum())
                ):
                    if v.es_dni(text[digits_start : e + 1]):
                        out.append(Finding("es_dni", digits_start, e + 1))
                    continue
                if EXTENSION.match(text, e) is None and not (
                    e - s <= 5 and text[s:e].isdigit()  # "12a" house numbers
                ):
                    continue
            elif nxt in _BAD_AFTER or (nxt == "-" and e + 1 < n and text[e + 1].isalnum()):
                continue
            if e - s < 7:
                if e - s <= 5 and address:
                    _address(text, s, e, out)
                elif text.count(".", s, e) == 3:
                    _classify(text, low, s, e, out)
                continue
            if not _classify(text, low, s, e, out) and " " in text[s:e]:
                _split(text, low, s, e, out)

    # --- upper-case identifiers ----------------------------------------------------------

    def _scan_ids(self, text: str, out: list[Finding]) -> None:
        n = len(text)
        for m in ID_RUN.finditer(text):
            s, e = m.span()
            if s and text[s - 1].isalnum():
                continue
            group = m.lastgroup
            if group == "iban":
                end = _iban_end(text, s, e)
                if end and (end >= n or not text[end].isalnum()) and v.iban(text[s:end]):
                    out.append(Finding("iban", s, end))
                continue
            if e < n and text[e].isalnum():
                continue
            value = m.group()
            if group == "cf" and v.it_fiscal_code(value):
                out.append(Finding("it_fiscal_code", s, e))
            elif group == "nino" and v.uk_nino(value):
                out.append(Finding("uk_nino", s, e))
            elif group == "nie" and v.es_dni(value):
                out.append(Finding("es_dni", s, e))


def _within(ids: list[tuple[int, int]], starts: list[int], f: Finding) -> bool:
    """``f`` lies inside one of the (sorted) id spans."""
    i = bisect_right(starts, f.start)
    while i > 0:
        i -= 1
        if f.end <= ids[i][1]:
            return True
        if ids[i][0] < f.start - 64:  # no id is longer: earlier ones cannot contain f
            return False
    return False


def _iban_end(text: str, s: int, e: int) -> int:
    """Where the IBAN starting at ``s`` ends, taking as many characters as its country's length."""
    length = v.IBAN_LENGTHS.get(text[s : s + 2])
    if length is None:
        return 0
    count, i = 0, s
    while i < e and count < length:
        if text[i] != " ":
            count += 1
        i += 1
    return i if count == length else 0


def _scan_ipv6(text: str, out: list[Finding]) -> None:
    n = len(text)
    padded = " " + text
    # A match has two colons at most 5 apart, the first at most 5 characters after its
    # start: tried only before such colons (times, "key: value" and prose have few).
    starts: list[int] = []
    for c in _CLOSE_COLONS.finditer(padded):  # found in C, where a loop visited every colon
        starts.extend(range(max(0, c.start() - 5), c.start()))
    for m in matches_at(IPV6, padded, starts):
        s, e = m.start("v") - 1, m.end("v") - 1
        if (s and (text[s - 1].isalnum() or text[s - 1] == ":")) or (e < n and text[e].isalnum()):
            continue
        value = m.group("v").rstrip(":.")
        if value.count(":") >= 2 and v.ipv6(value):
            out.append(Finding("ip_address", s, s + len(value)))


def _scan_emails(text: str, out: list[Finding]) -> None:
    for m in _EMAIL_DOMAIN.finditer(text):
        at = m.start()
        s = at
        while s > 0 and at - s < 64 and text[s - 1] in _EMAIL_LOCAL:
            s -= 1
        while s < at and text[s] in ".-+":
            s += 1
        if s and text[s - 1] == ":" and "://" in text[max(0, s - 80) : s]:
            continue  # user:password@host in a URL
        if s < at and text[at - 1] != ".":
            out.append(Finding("email", s, m.end()))


def _context(low: str | None, kind: str, s: int, window: int = 48) -> bool:
    return low is not None and CONTEXT[kind].search(low, max(0, s - window), s) is not None


def _classify(
    text: str, low: str | None, s: int, e: int, out: list[Finding], strict: bool = False
) -> bool:
    """Classify ``text[s:e]``, a number as written; append a finding and say whether one was."""
    c = text[s:e]
    digits = _digits(c)
    nd = len(digits)
    if nd == 0:
        return False
    if c.count(".") == 3 and v.ipv4(c):
        version = low is not None and VERSION_CONTEXT.search(low, max(0, s - 24), s) is not None
        # 1.2.3.4: single-digit quads are version numbers unless the text says address.
        if len(c) == 7 and not _context(low, "ip_address", s, 24):
            version = True
        if not version:
            out.append(Finding("ip_address", s, e))
        return True
    if nd <= 8 and ("." in c or "/" in c or "-" in c) and DATE.fullmatch(c):
        if _context(low, "date_of_birth", s, 40) and plausible_birth_date(c):
            out.append(Finding("date_of_birth", s, e))
        return True  # a date is never a phone number
    kind = None
    # "order 5213...", "batch ...": an identifier, whatever its digits (national ids have
    # their own context words). Looked up only when it matters (a card or a phone number).
    if 13 <= nd <= 19 and v.payment_card(c, digits):
        if _context(low, "not_pii", s, 20) and not _context(low, "credit_card", s, 20):
            return True
        kind = "credit_card"
    elif nd == 9 and ((len(c) == 11 and SSN_SHAPE.fullmatch(c)) or _context(low, "us_ssn", s)):
        if not v.us_ssn(c):
            return True  # shaped like an SSN, not a valid one: not a phone number either
        kind = "us_ssn"
    elif nd == 15 and v.fr_nir(c):
        kind = "fr_nir"
    elif nd == 11 and _context(low, "de_tax_id", s) and v.de_tax_id(c):
        kind = "de_tax_id"
    elif nd == 11 and _context(low, "pl_pesel", s) and v.pl_pesel(c):
        kind = "pl_pesel"
    elif nd == 9 and _context(low, "nl_bsn", s) and v.nl_bsn(c):
        kind = "nl_bsn"
    if kind is None and _phone(c, digits, low, s, strict) and not _context(low, "not_pii", s, 20):
        kind = "phone"
        ext = EXTENSION.match(text, e)
        if ext is not None:
            e = ext.end()
    if kind is None:
        return False
    out.append(Finding(kind, s, e))
    return True


def _digits(c: str) -> str:
    """``v.digits_of(c)``, also without its substitution (some seven thousand instructions)
    for the + ( ) / of phone numbers and dates: what is left once they are removed too."""
    if c.isascii():
        digits = c.replace(" ", "").replace("-", "").replace(".", "")
        if digits.isdigit():
            return digits
        digits = digits.replace("/", "").replace("(", "").replace(")", "").replace("+", "")
        if digits.isdigit():
            return digits
    return v.digits_of(c)


def _phone(c: str, digits: str, low: str | None, s: int, strict: bool) -> bool:
    nd = len(digits)
    if not 7 <= nd <= 15:
        return False
    if c[0] == "+" or c.startswith(("00", "(+", "(00")):
        national = digits[2:] if c.lstrip("(").startswith("00") else digits
        return 8 <= len(national) <= 15 and calling_code_ok(national)
    # NANP's matches are 10 to 17 characters long ("+1 (212) 555 0100"): others skip it.
    nanp = 10 <= len(c) <= 17
    if "." in c and (not nanp or NANP.fullmatch(c) is None):
        return False
    separated = len(c) > nd
    if separated and nanp and NANP.fullmatch(c):
        return True
    if separated and not strict and digits[0] == "0" and 9 <= nd <= 12 and c[1] != ".":
        return True
    return 7 <= nd <= 13 and _context(low, "phone", s, 32)


def _split(text: str, low: str | None, s: int, e: int, out: list[Finding]) -> None:
    """Try the space-separated groups of a run that was no one thing, longest first."""
    bounds: list[tuple[int, int]] = []
    # wide[k]: how many of the first k groups are longer than one character. No number
    # is written as single digits only ("1 2 3 4 5 6 7"): such windows are not tried, so
    # a long list of digits costs a pass, not eight classifications a digit.
    wide = [0]
    i = s
    for part in text[s:e].split(" "):
        if part:
            bounds.append((i, i + len(part)))
            wide.append(wide[-1] + (len(part) > 1))
        i += len(part) + 1
    g, i = len(bounds), 0
    while i < g:
        for j in range(min(g, i + 8), i, -1):
            if j - i == g and i == 0:
                continue  # the whole run was tried already
            if wide[j] == wide[i]:
                i += 1  # single digits only, and so are the shorter windows from here
                break
            a, b = bounds[i][0], bounds[j - 1][1]
            if b - a >= 7 and _classify(text, low, a, b, out, strict=True):
                i = j
                break
        else:
            i += 1


def _address(text: str, s: int, e: int, out: list[Finding]) -> None:
    """A house number: part of a street address written before or after it?"""
    n = len(text)
    after = e + 1 if e < n and text[e].isalpha() else e  # 38f, Mandy Ramp
    if (
        after + 1 < n
        and text[after] in " ,"
        and (text[after + 1].isupper() or text[after + 1] == " ")
    ):
        m = ADDRESS_AFTER.match(text, s)
        if m is not None:
            out.append(Finding("address", s, m.end()))
            return
    if s < 2 or text[s - 1] != " ":
        return
    lo = max(0, s - 60)
    before = text[s - 2]  # the end of the word before the space, as ADDRESS_BEFORE ends
    suffixes = SUFFIXES_BY_LAST.get(before)
    if suffixes is not None and text.endswith(suffixes, lo, s - 1):
        m = ADDRESS_BEFORE.search(text, lo, s)
    elif (before.isalnum() or before in _WORD_END) and STREET_WORDS.search(text, lo, s - 1):
        m = ADDRESS_BEFORE_WORD.search(text, lo, s)  # no suffix: ADDRESS_BEFORE's matches
    else:
        return
    if m is not None:
        end = e
        if end < n and text[end].isalpha() and (end + 1 >= n or not text[end + 1].isalnum()):
            end += 1  # 12a
        out.append(Finding("address", m.start(), end))
