"""Content safety: category phrase lists, and an operator's own deny terms and regexes.

The built-in lists are phrases, not single words, so that "kill the process"
or "shoot a photo" pass while "how to make a pipe bomb" does not. They are a
floor: operators extend them with ``deny_terms`` and ``deny_regexes`` for what
their domain forbids. Every list is one trie regex over the lower-cased text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from bastion.guardrails.base import Finding
from bastion.guardrails.terms import trie_pattern

CATEGORIES: Final[Mapping[str, tuple[str, ...]]] = {
    "self_harm": (
        "kill myself", "killing myself", "end my life", "ending my life", "take my own life",
        "taking my own life", "commit suicide", "committing suicide", "suicide method",
        "suicide methods", "ways to die", "want to die", "wanna die", "cut myself",
        "cutting myself", "hurt myself", "hurting myself", "hang myself", "slit my wrists",
        "overdose on purpose", "no reason to live", "better off dead", "painless way to die",
        "how many pills to die", "self-harm tips", "starve myself",
    ),
    "violence": (
        "make a bomb", "build a bomb", "making a bomb", "pipe bomb", "nail bomb",
        "car bomb", "molotov cocktail", "make a molotov", "school shooting", "mass shooting",
        "shoot up a school", "shoot up the", "how to kill someone", "how to kill a person",
        "how to murder", "murder someone", "kill them all", "i will kill you",
        "i'm going to kill you", "im going to kill you", "stab someone", "poison someone",
        "torture someone", "behead", "beheading", "terrorist attack", "plan an attack on",
        "make a weapon", "ghost gun", "untraceable gun", "3d printed gun", "hurt someone badly",
        "dispose of a body", "get rid of a body",
    ),
    "sexual": (
        "porn", "porno", "pornography", "pornographic", "explicit sex", "sex scene",
        "sexual roleplay", "nude photos", "nudes", "blowjob", "handjob", "orgasm", "erotic story",
        "erotica", "xxx", "hardcore sex", "sexting", "onlyfans leak", "child porn",
        "sexual content involving minors",
    ),
    "hate": (
        "inferior race", "subhuman", "ethnic cleansing", "white power", "heil hitler",
        "race war", "gas the jews", "final solution", "white supremacy is", "master race",
        "should all be exterminated", "should be exterminated", "go back to your country",
        "deserve to die because they are",
    ),
    "illegal": (
        "cook meth", "make meth", "synthesize methamphetamine", "synthesise methamphetamine",
        "make cocaine", "buy cocaine", "buy heroin", "make ricin", "make sarin",
        "launder money", "money laundering scheme", "credit card fraud", "carding tutorial",
        "steal credit cards", "buy stolen credit cards", "hack into someone",
        "hack my ex", "ddos attack on", "write ransomware", "create ransomware", "build a botnet",
        "counterfeit money", "make counterfeit", "fake passport", "forge a passport",
        "human trafficking", "evade taxes", "tax evasion scheme", "make explosives",
        "buy a gun without a background check", "hotwire a car", "steal a car",
        "dark web market", "phishing kit", "bypass a breathalyzer",
    ),
}  # fmt: skip


class ContentDetector:
    """Built-in categories plus custom terms and regexes.

    ``deny_terms`` and ``deny_regexes`` are plain (kind ``custom``) or ``(label, value)``
    pairs: the label is then the kind, so that each rule's terms keep their own action.
    """

    def __init__(
        self,
        categories: Iterable[str] = CATEGORIES,
        deny_terms: Sequence[str | tuple[str, str]] = (),
        deny_regexes: Sequence[str | tuple[str, str]] = (),
        extra_terms: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        kind_of: dict[str, str] = {}
        for category in categories:
            for term in (*CATEGORIES.get(category, ()), *(extra_terms or {}).get(category, ())):
                kind_of[" ".join(term.lower().split())] = category
        for kind, term in map(_labelled, deny_terms):
            kind_of[" ".join(term.lower().split())] = kind
        self._kind_of = kind_of
        self._terms = (
            re.compile(r"[ \n\t\"'(\[*_/-](?P<t>" + trie_pattern(sorted(kind_of)) + r")(?!\w)")
            if kind_of
            else None
        )
        self._regexes = tuple((kind, re.compile(r)) for kind, r in map(_labelled, deny_regexes))
        self.kinds = frozenset(kind_of.values()) | frozenset(k for k, _ in self._regexes)
        longest = max((len(t) for t in kind_of), default=0)
        self.max_span = max(longest + 2, 64 if self._regexes else 0)

    def find(self, text: str, low: str | None, out: list[Finding], source: str = "user") -> None:
        if self._terms is not None:
            view = " " + (low if low is not None else text.lower())
            aligned = low is not None
            for m in self._terms.finditer(view):
                kind = self._kind_of.get(" ".join(m.group("t").split()), "custom")
                if aligned:
                    out.append(Finding(kind, m.start("t") - 1, m.end("t") - 1))
                else:
                    out.append(Finding(kind, 0, len(text)))
        for kind, regex in self._regexes:
            for m in regex.finditer(text):
                if m.end() > m.start():
                    out.append(Finding(kind, m.start(), m.end()))


def _labelled(value: str | tuple[str, str]) -> tuple[str, str]:
    return ("custom", value) if isinstance(value, str) else value
