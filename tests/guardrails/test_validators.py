"""The checksum validators agree with python-stdnum on generated valid and invalid numbers."""

from __future__ import annotations

import random

import pytest
from stdnum import iban as std_iban
from stdnum import luhn as std_luhn
from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.it import codicefiscale
from stdnum.nl import bsn
from stdnum.pl import pesel

from bastion.guardrails import validators as v

RNG = random.Random(7)


def _digits(n: int) -> str:
    return "".join(RNG.choice("0123456789") for _ in range(n))


def _no_triple(number: str) -> bool:
    """BZSt: one digit may appear three times, never three times in a row (stdnum skips this)."""
    return not any(number[i] == number[i + 1] == number[i + 2] for i in range(8))


def _nir_structure(number: str) -> bool:
    """Sex digit and month (stdnum checks only the key)."""
    month = int(number[3:5])
    return number[0] in "12378" and (1 <= month <= 12 or 20 <= month <= 42 or month >= 50)


@pytest.mark.parametrize(
    ("ours", "reference", "length"),
    [
        (v.luhn, std_luhn.is_valid, 16),
        (v.de_tax_id, lambda n: idnr.is_valid(n) and _no_triple(n), 11),
        (v.nl_bsn, bsn.is_valid, 9),
        (v.pl_pesel, pesel.is_valid, 11),
        (v.fr_nir, lambda n: nir.is_valid(n) and _nir_structure(n), 15),
    ],
)
def test_digit_checksums_agree_with_stdnum(ours, reference, length) -> None:  # type: ignore[no-untyped-def]
    positives = 0
    for _ in range(5000):
        number = _digits(length)
        expected = bool(reference(number))
        positives += expected
        assert ours(number) == expected, number
    assert positives > 0  # the sample reached valid numbers too


def test_iban_agrees_with_stdnum_on_valid_and_mutated() -> None:
    valid = [
        "DE89370400440532013000",
        "GB29NWBK60161331926819",
        "FR1420041010050500013M02606",
        "IT60X0542811101000000123456",
        "ES9121000418450200051332",
        "NL91ABNA0417164300",
        "PL61109010140000071219812874",
    ]
    for number in valid:
        assert v.iban(number) and std_iban.is_valid(number)
        spaced = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
        assert v.iban(spaced)
        for i in range(4, len(number)):
            if number[i].isdigit():
                mutated = number[:i] + str((int(number[i]) + 1) % 10) + number[i + 1 :]
                assert v.iban(mutated) == std_iban.is_valid(mutated), mutated


def test_spanish_and_italian_ids() -> None:
    for _ in range(2000):
        n = _digits(8)
        letter = "TRWAGMYFPDXBNJZSQVHLCKE"[int(n) % 23]
        assert v.es_dni(n + letter) and dni.is_valid(n + letter)
        wrong = "TRWAGMYFPDXBNJZSQVHLCKE"[(int(n) + 1) % 23]
        assert not v.es_dni(n + wrong)
        x = RNG.choice("XYZ") + _digits(7)
        number = x + "TRWAGMYFPDXBNJZSQVHLCKE"[int(str("XYZ".index(x[0])) + x[1:]) % 23]
        assert v.es_dni(number) and nie.is_valid(number)
    for code in ("RSSMRA85T10A562S", "MRTMTT91D08F205J", "SPLMCL53H41F786L"):
        assert v.it_fiscal_code(code) == codicefiscale.is_valid(code) is True
        broken = code[:15] + ("A" if code[15] != "A" else "B")
        assert not v.it_fiscal_code(broken)


def test_cards_need_an_issuer_prefix_luhn_and_card_grouping() -> None:
    assert v.payment_card("4111 1111 1111 1111")
    assert v.payment_card("4111-1111-1111-1111")
    assert v.payment_card("378282246310005")  # Amex
    assert v.payment_card("3782 822463 10005")
    assert not v.payment_card("4111 1111 1111 1112")  # Luhn
    assert not v.payment_card("1111 1111 1111 1117")  # no issuer starts with 1
    assert not v.payment_card("41111 11111 11111 1")  # not how cards are printed
    assert not v.payment_card("4111-1111 1111-1111")  # mixed separators


def test_ssn_nino_and_ip_rules() -> None:
    assert v.us_ssn("536-22-1234")
    for bad in ("000-12-3456", "666-12-3456", "912-12-3456", "536-00-1234", "536-22-0000"):
        assert not v.us_ssn(bad)
    assert v.uk_nino("AB 12 34 56 C")
    assert not v.uk_nino("GB 12 34 56 C")
    assert v.ipv4("192.168.1.10") and not v.ipv4("256.1.1.1") and not v.ipv4("01.2.3.4")
    assert v.ipv6("2001:db8::8a2e:370:7334") and not v.ipv6("10:30:00")
