"""Undo the usual obfuscations before the injection rules read a text.

``variants(text, low)`` yields the views the rules are matched against: the
lower-cased text (offsets kept), then, only when the text gives a reason to
build them, a de-obfuscated view (NFKC, zero-width and format characters
removed, look-alike letters mapped to Latin, leetspeak undone, s p a c e d
letters joined) and decoded payloads (base64, hex, ROT13, reversed text).
"""

from __future__ import annotations

import binascii
import codecs
import re
import unicodedata
from collections.abc import Iterator
from typing import Final

from bastion.guardrails.base import marks
from bastion.guardrails.terms import trie_pattern

# Letters that look like Latin ones (Cyrillic, Greek, a few IPA and others), lower-cased.
_CONFUSABLES: Final = str.maketrans(
    {
        "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i",  # noqa: RUF001
        "ј": "j", "ѕ": "s", "ԁ": "d", "к": "k", "м": "m", "т": "t", "в": "b", "н": "h",  # noqa: RUF001
        "п": "n", "г": "r", "ь": "b", "ӏ": "l", "ɡ": "g", "ɩ": "i", "ο": "o", "α": "a",  # noqa: RUF001
        "ρ": "p", "τ": "t", "υ": "u", "ν": "v", "ι": "i", "ε": "e", "κ": "k", "μ": "u",  # noqa: RUF001
        "χ": "x", "γ": "y", "ω": "w", "ℓ": "l", "ı": "i",  # noqa: RUF001
    }
)  # fmt: skip
_CONFUSABLE_CLASS: Final = "\u0250-\u02af\u0370-\u03ff\u0400-\u052f\u2113\u0131"
_HAS_CONFUSABLE: Final = re.compile(f"[{_CONFUSABLE_CLASS}]")
# Zero-width and invisible format characters used to split words; tag characters
# (U+E0000..) are "ASCII smuggling".
_INVISIBLE_CLASS: Final = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u3164\ufeff\uffa0"
    "\u200b-\u200f\u202a-\u202e\u2060-\u206f\U000e0000-\U000e007f"
)
_INVISIBLE: Final = re.compile(f"[{_INVISIBLE_CLASS}]")


def _members(char_class: str) -> list[str]:
    """The characters of a regex class body made of characters and ``a-z`` ranges."""
    out: list[str] = []
    i = 0
    while i < len(char_class):
        if char_class[i + 1 : i + 2] == "-":
            out += map(chr, range(ord(char_class[i]), ord(char_class[i + 2]) + 1))
            i += 3
        else:
            out.append(char_class[i])
            i += 1
    return out


# Both classes' characters in UTF-8 (a trie over the bytes), and their lead bytes marked
# "L" (76): a text's UTF-8 bytes, translated, show in C where one can start (a regex over the
# text runs its class test on every character; the lead bytes are those of few letters).
_ODD_UTF8: Final = [c.encode("utf-8") for c in _members(_INVISIBLE_CLASS + _CONFUSABLE_CLASS)]
_ODD: Final = re.compile(
    trie_pattern(sorted(b.decode("latin-1") for b in _ODD_UTF8)).encode("latin-1")
)
_ODD_LEADS: Final = bytes(76 if any(b[0] == i for b in _ODD_UTF8) else 32 for i in range(256))
_LEET: Final = str.maketrans("013457@$8", "oieastasb")
# Cheap tests on the original text decide whether another view is worth building. Each
# regex starts with a character class, so the engine skips most of a text in C.
# A leet character counts when a letter or another leet character follows it, no digit,
# capital or token character precedes it, and the rest of its word is lower-case letters and
# leet characters with a letter past "f" ("1gn0r3", "pr3v10u$", "$y$73m"; not hex "aa1d",
# "5pm", "3rd", random tokens, PEM lines, "Passw0rd6841", "guido00@example.com").
_LEET_CHAR: Final = re.compile(
    r"[013457$@](?<![0-9A-Z_+/=].)(?=[a-z013457$])(?![ap]m\b|st\b|nd\b|rd\b|th\b)"
    r"(?=[a-z013457$_]*[g-z])(?=[a-z013457$_]*(?![\w+/=\-]|\.[a-z]))(?!(?<=@)[\w\-]*\.[a-z])"
)
_LEET_START: Final = re.compile(r"[013457$@]")  # where a _LEET_CHAR match can start
# _SPACED_HINT over the text's bytes with its classes marked (separator "s", ASCII letter
# "L", anything else "x"; see _TOKEN_CLASSES): a regex led by a literal, skipping in C to
# each "sLs", where the hint's leading class stops the engine after every space.
_SPACED_CLASSES: Final = marks(
    {"s": " .-_*/|", "L": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"}, other="x"
)
_SPACED_MARKED: Final = re.compile(rb"sLss?Ls{1,2}Ls")  # "sLs": a 3-byte literal lead
_SPACED_HINT: Final = re.compile(
    r"[ .\-_*/|][A-Za-z][ .\-_*/|]{1,2}[A-Za-z][ .\-_*/|]{1,2}[A-Za-z][ .\-_*/|]"
)
# Long tokens that may be encoded payloads (the text is scanned with a space in front).
_TOKEN: Final = re.compile(r"[^A-Za-z0-9+/_\-=](?P<t>[A-Za-z0-9+/_\-]{16,}={0,2})")
# _TOKEN over the text's bytes with its classes marked (run character "a", "=" itself,
# anything else " "; non-ASCII characters encoded as one "?" each, so offsets stay): a
# regex led by a 17-byte literal, which the engine finds in C where _TOKEN tries a match
# after every space.
_TOKEN_CLASSES: Final = marks(
    {"a": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/_-", "=": "="}
)
_TOKEN_MARKED: Final = re.compile(b" " + b"a" * 16 + rb"a*={0,2}")
_SPACED: Final = re.compile(r"(?:[a-z][ .\-_*/|]{1,2}){2,}[a-z](?![a-z])")
# Where a _SPACED match can start (each starts with three letters apart), in the view's
# bytes marked like _SPACED_CLASSES but lower-case letters only: led by a literal.
_LETTER_CLASSES: Final = marks({"s": " .-_*/|", "L": "abcdefghijklmnopqrstuvwxyz"}, other="x")
_SPACED_START: Final = re.compile(rb"Ls{1,2}Ls{1,2}L")
_SEPARATORS: Final = str.maketrans("", "", " .-_*/|")
_HEX_DIGITS: Final = "0123456789abcdefABCDEF"
_SPACED_HEX: Final = re.compile(r"(?:[0-9a-fA-F]{2}[ :]){9,}[0-9a-fA-F]{2}")
# Every _SPACED_HEX match starts with this in the text's marked bytes: bytes.find tells
# whether to run the regex, which tries a match at every hex digit of the text.
_HEX_CLASSES: Final = marks({"h": _HEX_DIGITS, "s": " :"}, other="x")
_HEX_RUN: Final = b"hhs" * 9 + b"hh"
_URLSAFE: Final = bytes.maketrans(b"-_", b"+/")  # base64's URL-safe alphabet, made standard
_PRINTABLE: Final = re.compile(rb"[\x20-\x7e\t\r\n]*")
# Written out in variants(): rot13, rot-13, rot 13, caesar, cipher; revers, backward,
# right to left, mirror.


def deobfuscate(text: str) -> str:
    """NFKC (full-width and styled letters), invisible characters removed, look-alikes
    mapped, lower-cased. Accents stay: the rules of each language spell them."""
    out = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).lower()
    if _HAS_CONFUSABLE.search(out):
        out = out.translate(_CONFUSABLES)
    return out


def _plain_unicode(text: str) -> bool:
    """Non-ASCII text that :func:`deobfuscate` would only lower-case: already NFKC, with no
    invisible character and no look-alike letter (accented Latin text, most of the time)."""
    if not unicodedata.is_normalized("NFKC", text):
        return False
    raw = text.encode("utf-8", "surrogatepass")
    leads = raw.translate(_ODD_LEADS)
    at = leads.find(b"L")
    while at >= 0:
        if _ODD.match(raw, at) is not None:
            return False
        at = leads.find(b"L", at + 1)
    return True


def variants(text: str, low: str | None) -> Iterator[tuple[str, bool, str]]:
    """(view, offsets match ``text``, how it was obtained) for each view worth reading."""
    plain = low if low is not None else text.lower()
    yield plain, low is not None, "plain"
    padded = " " + text
    leet = 0
    # A search first: most texts have no leet character, and a search costs less than
    # setting up an iteration (the same for the tokens below).
    first = _LEET_START.search(text)
    if first is not None:
        for _ in _LEET_CHAR.finditer(text, first.start()):
            leet += 1
            if leet == 3:
                break
    marked = padded.encode("ascii", "replace")  # one byte a character
    spaced = _SPACED_MARKED.search(marked.translate(_SPACED_CLASSES)) is not None
    clean = plain if text.isascii() or _plain_unicode(text) else deobfuscate(text)
    if leet >= 3:  # "1gn0r3 4ll": several; one "Passw0rd" or "A1b2" is no obfuscation
        clean = clean.translate(_LEET)
    how = "obfuscated"
    if spaced:
        clean = _glued(clean)
        how = "glued"  # words joined: their boundaries are gone
    if clean != plain:
        yield clean, False, how
    tokens = _tokens(marked, padded) if len(text) >= 16 else []
    if tokens or "hex" in text or "0x" in text:
        for decoded in _decoded(tokens, text, marked):
            yield decoded, False, "encoded"
    # The hints spelled out (no generator): this runs for every text.
    if ("rot" in plain and ("rot13" in plain or "rot-13" in plain or "rot 13" in plain)) or (
        "caesar" in plain or "cipher" in plain
    ):
        yield codecs.decode(plain, "rot13"), False, "encoded"
    if "revers" in plain or "backward" in plain or "right to left" in plain or "mirror" in plain:
        yield plain[::-1], False, "encoded"


def _glued(view: str) -> str:
    """``view`` with each _SPACED run of letters joined (``_SPACED.sub``): the regex is tried
    only where the marked bytes show three letters apart, which a literal-led regex finds."""
    marked = view.encode("ascii", "replace").translate(_LETTER_CLASSES)
    parts: list[str] = []
    done = at = 0
    while (start := _SPACED_START.search(marked, at)) is not None:
        m = _SPACED.match(view, start.start())
        if m is None:
            at = start.start() + 1
            continue
        parts.append(view[done : m.start()])
        parts.append(m.group().translate(_SEPARATORS) + " ")
        done = at = m.end()
    parts.append(view[done:])
    return "".join(parts)


def _tokens(marked: bytes, padded: str) -> list[str]:
    """_TOKEN's ``t`` group over ``padded`` (``" " + text``; ``marked``: it encoded)."""
    return [
        padded[m.start() + 1 : m.end()]
        for m in _TOKEN_MARKED.finditer(marked.translate(_TOKEN_CLASSES))
    ]


def _decoded(tokens: list[str], text: str, marked: bytes) -> Iterator[str]:
    for token in tokens:
        if token.isalpha() or token.isdigit() or token.isupper():
            continue  # words, numbers, IBANs and codes: encoded text has both cases
        if len(token) >= 20 and len(token) % 2 == 0 and not token.strip(_HEX_DIGITS):
            raw = bytes.fromhex(token)
        else:
            padded = (token + "=" * (-len(token) % 4)).encode("ascii")
            if "-" in token or "_" in token:
                padded = padded.translate(_URLSAFE)
            try:  # base64.b64decode(padded, altchars=b"-_" or None), without its wrapping
                raw = binascii.a2b_base64(padded)
            except (binascii.Error, ValueError):
                continue
        if readable := _readable(raw):
            yield readable
    if ("hex" in text or "0x" in text) and _HEX_RUN in marked.translate(_HEX_CLASSES):
        for m in _SPACED_HEX.finditer(text):
            raw = bytes.fromhex(m.group().replace(":", "").replace(" ", ""))
            if readable := _readable(raw):
                yield readable


def _readable(raw: bytes) -> str | None:
    """Decoded bytes that are mostly printable text (at least 8 bytes, 90%), lower-cased."""
    if len(raw) < 8:
        return None
    m = _PRINTABLE.match(raw)
    printable = m.end() if m else 0
    if printable < len(raw) * 0.9:
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
        if sum(c.isprintable() or c.isspace() for c in decoded) < len(decoded) * 0.9:
            return None
        return deobfuscate(decoded)
    return raw.decode("ascii", "replace").lower()
