"""The compiled patterns and context words of the PII detector (see ``pii.py``)."""

from __future__ import annotations

import re
from typing import Final

from bastion.guardrails.terms import trie_pattern, word_pattern
from bastion.guardrails.validators import valid_date

# A number as people write it: digits with ( ) . / - between them, spaces only before
# another digit or a parenthesis. Starts with a digit so the engine skips text in C; not
# after a letter, a digit or a character that makes it part of a token, path or amount
# (those runs would be skipped anyway: digits inside keys, e-mails and words never become
# candidates, nor do their tails).
# Written for the regex engine's speed, same matches as
# ``\d(?<!...)(?<!...)(?:(?:[\d()./\-]|[ \u00a0](?=[\d(]))*[\d)])?``: the first character
# is a range test (``\d`` asks Unicode's tables at every position of the text; no decimal
# digit lies between ``9`` and U+0660), ``(?<=\d)`` then checks the few past U+065F; the
# run is a character-class loop per group of digits (one engine step a character), each
# group ending at a space before a digit or a parenthesis, not a group loop per character;
# ``[0-9\d]`` for ``\d`` (and ``[0-9A-Za-z_\w]`` for ``\w``), the same sets: the engine tests
# a class's ASCII ranges before its Unicode category, which costs a table look-up a character.
NUMBER_RUN: Final = re.compile(
    r"[0-9\u0660-\U0010ffff](?<=[0-9\d])(?<![0-9A-Za-z_\w./#$€£¥%\\][0-9\d])"
    r"(?<![0-9\d][ \u00a0()][0-9\d])"
    r"(?:(?:[0-9\d()./\-]*[ \u00a0](?=[0-9\d(]))*[0-9\d()./\-]*[0-9\d)])?"
)

# One leading [A-Z] shared by every branch, so the engine skips lower-case text in C; then
# a look at the next character, which every branch has in [A-Z\d -], so that a capital
# starting a word ("The") fails there, before the branches and their groups are tried.
ID_RUN: Final = re.compile(
    r"[A-Z](?=[A-Z0-9\d \-])(?:(?P<iban>[A-Z][0-9\d]{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{1,4}){3,8}))"
    r"|(?P<cf>[A-Z]{5}[0-9LMNPQRSTUV]{2}[A-EHLMPR-T][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z])"
    r"|(?<=[A-CEGHJ-PR-TW-Z])(?P<nino>[A-CEGHJ-NPR-TW-Z] ?[0-9\d]{2} ?[0-9\d]{2} ?[0-9\d]{2} ?[A-D])"
    r"|(?<=[XYZ])(?P<nie>[- ]?[0-9\d]{7}[- ]?[A-Z]))"
)

NIR_CORSICA: Final = re.compile(r"[12](?<!\w[12]) ?\d{2} ?\d{2} ?2[AB] ?\d{3} ?\d{3} ?\d{2}\b")
DATE: Final = re.compile(
    r"\d{4}[./\-]\d{1,2}[./\-]\d{1,2}|\d{1,2}[./\-]\d{1,2}[./\-](?:\d{4}|\d{2})|\d{1,2}\. ?\d{1,2}\. ?\d{4}"
)
SSN_SHAPE: Final = re.compile(r"\d{3}-\d{2}-\d{4}")
EXTENSION: Final = re.compile(r"(?:\s?(?:x|ext\.?)\s?|\s?#)\d{1,5}(?!\w)")
NANP: Final = re.compile(
    r"(?:\+?1[ .\-]?)?(?:\([2-9]\d{2}\)|[2-9]\d{2})[ .\-]?[2-9]\d{2}[ .\-]?\d{4}"
)
VERSION_CONTEXT: Final = re.compile(
    r"\b(?:version|release|build|ver\.?|v|python|node|java|upgrade|update|install|firmware|sdk)"
    r"\s*:?\s*\Z"
)
# Scanned with a space in front: tried only after a character that cannot be in an address.
IPV6: Final = re.compile(
    r"[^0-9A-Za-z:.](?P<v>[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:.]{1,41})"
)

# Words before a number that make it an identifier, not personal data (CONTEXT["not_pii"]:
# each after a word boundary, as a trie led by literals like the other context words).
_NOT_PII_WORDS: Final = (
    "order", "batch", "invoice", "ticket", "ref", "reference", "tracking", "sku", "ean",
    "isbn", "id", "serial", "build", "version", "pid", "port", "row", "job", "request", "txn",
    "transaction",
)  # fmt: skip

# Context words, searched in the lower-cased text just before a candidate: tries whose
# branches start with a literal (``<``/``>``: word boundaries, see ``word_pattern``).
CONTEXT: Final[dict[str, re.Pattern[str]]] = {
    "phone": word_pattern(
        (
            "phone",
            "<tel>",
            "call",
            "mobil",
            "<cell",
            "<fax",
            "whatsapp",
            "<sms>",
            "text me",
            "reach me",
            "contact",
            "<handy",
            "rufnummer",
            "<tél",
            "<telf",
            "<cel>",
            "telefon",
            "téléphone",
            "portable",
            "joindre",
            "appel",
            "teléfono",
            "telefono",
            "móvil",
            "movil",
            "llam",
            "cellulare",
            "chiama",
            "telefoon",
            "mobiel",
            "<bel>",
            "komórk",
            "numer tel",
            "dzwo",
            "hotline",
            "<tlf",
        ),
        space=" ",
    ),
    "us_ssn": word_pattern(("<ssn", "social security", "soc. sec", "soc.sec"), space=" "),
    "de_tax_id": word_pattern(
        ("steuer", "<tax>", "<tin>", "idnr", "identifikationsnummer", "<id-nr"), space=" "
    ),
    "pl_pesel": word_pattern(("pesel",)),
    "ip_address": word_pattern(
        ("<ip>", "address", "host", "server", "client", "<dns", "gateway", "route")
    ),
    # Words before a number that make it an identifier, not personal data.
    "not_pii": re.compile(
        word_pattern("<" + word for word in _NOT_PII_WORDS).pattern
        + r"\W{0,3}(?:no\.?|nr\.?|number|#)?\W{0,2}\Z"
    ),
    "credit_card": word_pattern(
        (
            "card",
            "karte",
            "carte",
            "carta",
            "tarjeta",
            "kaart",
            "karty",
            "visa",
            "mastercard",
            "amex",
        )
    ),
    "nl_bsn": word_pattern(("<bsn", "burgerservice", "sofi", "citizen service"), space=" "),
    "date_of_birth": word_pattern(
        (
            "born",
            "birth",
            "<dob>",
            "d.o.b",
            "geboren",
            "geburt",
            "<geb.",
            "<né>",
            "<née>",
            "naissance",
            "<nato>",
            "<nata>",
            "nascita",
            "nacido",
            "nacida",
            "nacimiento",
            "urodz",
            "geboorte",
        ),
        space=" ",
    ),
}
# Every birth word (``CONTEXT["date_of_birth"]``) starts with one of these; "na" stands for
# the seven Romance words (naissance, nato, nascita, nacido, ...): each literal costs a
# ``str.find`` pass over the text, an extra start only a failed match there.
_DOB_HINTS: Final = ("born", "birth", "dob", "d.o.b", "geb", "né", "na", "urodz")


def dob_hint(low: str) -> bool:
    """Cheap test before the birth-date context search: a birth word may occur."""
    return any(h in low for h in _DOB_HINTS)


def dob_starts(low: str) -> list[int]:
    """Where a birth word (``CONTEXT["date_of_birth"]``) may start, in order: every word
    of it begins with one of the hints, found by ``str.find`` (C, no regex pass)."""
    return occurrences(low, _DOB_HINTS)


def occurrences(text: str, literals: tuple[str, ...]) -> list[int]:
    """Every position where one of ``literals`` occurs (overlapping ones too), sorted."""
    found: set[int] = set()
    for literal in literals:
        i = text.find(literal)
        while i >= 0:
            found.add(i)
            i = text.find(literal, i + 1)
    return sorted(found)


def matches_at(pattern: re.Pattern[str], text: str, starts: list[int]) -> list[re.Match[str]]:
    """``list(pattern.finditer(text))`` when every match of ``pattern`` starts at one of
    ``starts`` (ascending; repeats allowed): tried there only, not at every position of
    ``text``. As finditer, a match is looked for from where the previous one ended.
    Look-behinds and ``\b`` see the text before a start, so a match there is the one a
    scan would find."""
    out: list[re.Match[str]] = []
    end = tried = -1
    for p in starts:
        if p < end or p <= tried:
            continue
        tried = p
        m = pattern.match(text, p)
        if m is not None:
            out.append(m)
            end = m.end()
    return out


_MONTHS: Final = (
    "january|february|march|april|may|june|july|august|september|october|november|december"
    "|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec"
    "|januar|februar|märz|mai|juni|juli|oktober|dezember"
    "|janvier|février|mars|avril|juin|juillet|août|septembre|octobre|novembre|décembre"
    "|gennaio|febbraio|marzo|aprile|maggio|giugno|luglio|agosto|settembre|ottobre|dicembre"
    "|enero|febrero|abril|mayo|junio|julio|septiembre|octubre|noviembre|diciembre"
    "|januari|februari|maart|mei|augustus"
    "|stycznia|lutego|marca|kwietnia|maja|czerwca|lipca|sierpnia|września|października"
    "|listopada|grudnia"
)
_MONTH_TRIE: Final = trie_pattern(_MONTHS.split("|"))
# Searched in the lower-cased text (same offsets) just after a birth word.
WORD_DATE: Final = re.compile(
    rf"\b(?:\d{{1,2}}(?:st|nd|rd|th|er|º)?\.?\s(?:de\s|of\s)?{_MONTH_TRIE}\.?,?\s(?:de\s)?\d{{4}}"
    rf"|{_MONTH_TRIE}\.?\s\d{{1,2}}(?:st|nd|rd|th)?,?\s\d{{4}})\b"
)
_YEAR: Final = re.compile(r"\d{4}")


def plausible_birth_date(value: str) -> bool:
    """A real calendar date (day/month/year in any usual order) between 1900 and 2030."""
    parts = [int(p) for p in re.split(r"[./\- ]+", value.strip()) if p.isdigit()]
    if len(parts) == 3:
        a, b, c = parts
        if a >= 1000:
            return 1900 <= a <= 2030 and valid_date(a, b, c)
        year = c + (1900 if c >= 30 else 2000) if c < 100 else c
        return 1900 <= year <= 2030 and (valid_date(year, b, a) or valid_date(year, a, b))
    years = [int(y) for y in _YEAR.findall(value)]
    return any(1900 <= y <= 2030 for y in years)


# Street addresses, where the writing is regular enough to be sure.
_EN_SUFFIX: Final = (
    "Alley|Avenue|Ave|Bay|Bend|Bluffs?|Boulevard|Blvd|Branch|Bridge|Brooks?|Burgs?|Bypass"
    "|Camp|Canyon|Cape|Causeway|Centers?|Circles?|Cir|Cliffs?|Club|Common|Corners?|Course"
    "|Courts?|Ct|Coves?|Creek|Crescent|Crest|Crossing|Crossroad|Curve|Dale|Dam|Divide|Drives?"
    "|Dr|Estates?|Expressway|Extensions?|Falls?|Ferry|Fields?|Flats?|Fords?|Forest|Forges?"
    "|Forks?|Fort|Freeway|Gardens?|Gateway|Glens?|Greens?|Groves?|Harbors?|Haven|Heights"
    "|Highway|Hwy|Hills?|Hollow|Inlet|Islands?|Isle|Junctions?|Keys?|Knolls?|Lakes?|Land"
    "|Landing|Lane|Ln|Lights?|Loaf|Locks?|Lodge|Loop|Mall|Manors?|Meadows?|Mews|Mills?"
    "|Mission|Motorway|Mount|Mountains?|Neck|Orchard|Oval|Overpass|Parks?|Parkways?|Pkwy"
    "|Pass|Passage|Path|Pike|Pines?|Place|Pl|Plains?|Plaza|Points?|Ports?|Prairie|Radial"
    "|Ramp|Ranch|Rapids?|Rest|Ridges?|River|Roads?|Rd|Route|Row|Rue|Run|Shoals?|Shores?"
    "|Skyway|Springs?|Spurs?|Squares?|Sq|Station|Stravenue|Stream|Streets?|St|Summit"
    "|Terrace|Throughway|Trace|Track|Trafficway|Trail|Trailer|Tunnel|Turnpike|Underpass"
    "|Unions?|Valleys?|Viaduct|Views?|Villages?|Ville|Vista|Walks?|Wall|Ways?|Wells?"
)
ADDRESS_AFTER: Final = re.compile(
    r"\d{1,5}[A-Za-z]?,?\s(?:"
    rf"(?:[A-Z][A-Za-z'\u2019\-]+\s){{1,3}}(?:{_EN_SUFFIX})\b\.?"
    r"(?:,?\s(?:Apt\.?|Suite|Unit|Flat|\#)\s?\d+[A-Za-z]?)?"
    r"|(?:rue|avenue|av\.|boulevard|bd|place|chemin|allée|impasse|quai|route|cours|square"
    r"|passage|voie|sentier)\s(?:de\s(?:la\s|l['\u2019])?|du\s|des\s|d['\u2019]|l['\u2019]|la\s|le\s)?"
    r"[A-ZÉÈÀÂ][\w'\u2019\-]+(?:\s[A-ZÉÈÀÂ][\w'\u2019\-]+){0,3})"
)
# Before a house number: a word ending in a street suffix (Hauptstraße 12), or a street
# word and up to five words (Via di San Marco 12).
_SUFFIX_STREET: Final = (
    r"[A-ZÄÖÜ][\w\-]*(?:[Ss]tra(?:ße|sse)|[Ss]tr\.|[Ww]eg|[Aa]llee|[Pp]latz|[Gg]asse"
    r"|[Rr]ing|[Dd]amm|[Uu]fer|[Cc]haussee|[Ss]teig|[Pp]fad|[Mm]arkt|straat|laan|plein"
    r"|gracht|kade|dijk|singel|hof|pad|dreef|park|plantsoen|boulevard|steeg|kanaal|baan)"
)
_WORD_STREET: Final = (
    r"(?:Via|Viale|Piazza|Piazzale|Corso|Vicolo|Largo|Contrada|Borgo|Strada|Rotonda|Canale"
    r"|Incrocio|Stretto|Vico|Lungomare|Calle|C/|C\.|Vial|Pasadizo|Avenida|Avda\.|Plaza|Paseo|Camino|Ronda|Vía"
    r"|Carretera|Callejón|Cañada|Pasaje|Urbanización|Rambla|Glorieta|Alameda|Acceso|Cuesta"
    r"|Travesía|Carrer|Passeig|ul\.|al\.|pl\.|ulica|aleja|plac|os\.)\s"
    r"(?:[\w'\u2019.\-]+\s){0,4}?[\w'\u2019.\-]+,?"
)
ADDRESS_BEFORE: Final = re.compile(rf"(?:{_SUFFIX_STREET}|{_WORD_STREET})\s\Z")
# ADDRESS_BEFORE when the word before the number ends in no street suffix: its first branch
# cannot match then, and skipping it skips its backtracking at every capital of the window.
ADDRESS_BEFORE_WORD: Final = re.compile(rf"{_WORD_STREET}\s\Z")

# Cheap tests before ADDRESS_BEFORE (costlier) runs on the window before a house number;
# every match of it passes one. Its first branch is a word ending in a street suffix just
# before the number's space: the text there ends with one of STREET_SUFFIXES (a C loop,
# no regex pass). Its second is a street word, a space and one to five words: STREET_WORDS
# finds it in the window. Most of those words start with a capital, so the regex engine
# skips most positions in C; one trie of both lists was tried at nearly every position
# (the suffixes start with common lower-case letters) and cost twice as much.
STREET_SUFFIXES: Final = (
    "Straße", "straße", "Strasse", "strasse", "Str.", "str.", "Weg", "weg", "Allee",
    "allee", "Platz", "platz", "Gasse", "gasse", "Ring", "ring", "Damm", "damm", "Ufer",
    "ufer", "Chaussee", "chaussee", "Steig", "steig", "Pfad", "pfad", "Markt", "markt",
    "straat", "laan", "plein", "gracht", "kade", "dijk", "singel", "hof", "pad", "dreef",
    "park", "plantsoen", "boulevard", "steeg", "kanaal", "baan",
)  # fmt: skip
# The same by last character: the word before the number is compared with a few only.
SUFFIXES_BY_LAST: Final[dict[str, tuple[str, ...]]] = {
    last: tuple(x for x in STREET_SUFFIXES if x[-1] == last)
    for last in {x[-1] for x in STREET_SUFFIXES}
}
STREET_WORDS: Final = re.compile(
    trie_pattern(
        (
            "Via", "Viale", "Piazza", "Piazzale", "Corso", "Vicolo", "Largo", "Contrada",
            "Borgo", "Strada", "Rotonda", "Canale", "Incrocio", "Stretto", "Vico", "Lungomare",
            "Calle", "C/", "C.", "Vial", "Pasadizo", "Avenida", "Avda.", "Plaza", "Paseo",
            "Camino", "Ronda", "Vía", "Carretera", "Callejón", "Cañada", "Pasaje",
            "Urbanización", "Rambla", "Glorieta", "Alameda", "Acceso", "Cuesta", "Travesía",
            "Carrer", "Passeig", "ul.", "al.", "pl.", "ulica", "aleja", "plac", "os.",
        )
    )
    + r"\s"
)  # fmt: skip

# International calling codes: one digit (1, 7), the two-digit ones, and the leading
# two digits of the three-digit ones.
_CC2: Final = frozenset(
    [
        "20",
        "27",
        "30",
        "31",
        "32",
        "33",
        "34",
        "36",
        "39",
        "40",
        "41",
        "43",
        "44",
        "45",
        "46",
        "47",
        "48",
        "49",
        "51",
        "52",
        "53",
        "54",
        "55",
        "56",
        "57",
        "58",
        "60",
        "61",
        "62",
        "63",
        "64",
        "65",
        "66",
        "81",
        "82",
        "84",
        "86",
        "90",
        "91",
        "92",
        "93",
        "94",
        "95",
        "98",
    ]
)
_CC3: Final = frozenset(
    [
        "21",
        "22",
        "23",
        "24",
        "25",
        "26",
        "29",
        "35",
        "37",
        "38",
        "42",
        "50",
        "59",
        "67",
        "68",
        "69",
        "80",
        "85",
        "87",
        "88",
        "96",
        "97",
        "99",
    ]
)


def calling_code_ok(number: str) -> bool:
    """``number`` (digits after + or 00) starts with an assigned country calling code."""
    return number[0] in "17" or number[:2] in _CC2 or number[:2] in _CC3
