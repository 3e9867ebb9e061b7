"""Word lists compiled into one regex shaped like a trie.

A plain alternation of a hundred phrases makes the regex engine try each one
at every word start; the trie shares prefixes, so each position costs a few
character comparisons whatever the list's length.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_END = ""
# Markers of :func:`word_pattern`: a word boundary before the term (checked after its first
# character, so that every branch still starts with a literal) and after it.
_BOUND_BEFORE = "\x01"
_BOUND_AFTER = "\x02"
_MARKS = {_BOUND_BEFORE: r"(?<!\w.)", _BOUND_AFTER: r"\b"}


def trie_pattern(terms: Iterable[str], space: str = r"\s+") -> str:
    """A regex source matching exactly the given literal terms (a space matches ``space``)."""
    root: dict[str, dict] = {}  # type: ignore[type-arg]
    for term in terms:
        if not term:
            continue
        node = root
        for ch in term:
            node = node.setdefault(ch, {})
        node[_END] = {}
    return _render(root, space)


def _render(node: dict[str, dict], space: str) -> str:  # type: ignore[type-arg]
    optional = _END in node
    branches = [
        (space if ch == " " else _MARKS.get(ch) or re.escape(ch)) + _render(child, space)
        for ch, child in sorted(node.items())
        if ch != _END
    ]
    if not branches:
        return ""
    if len(branches) == 1 and not optional:
        return branches[0]
    body = "(?:" + "|".join(branches) + ")"
    return body + "?" if optional else body


def word_pattern(terms: Iterable[str], space: str = r"\s+") -> re.Pattern[str]:
    """A trie regex of literal terms where ``<`` at a term's start asks for a word boundary
    before it and ``>`` at its end for one after it (``<tel>``, ``<cell``).

    Every branch starts with a literal character, so the regex engine skips positions
    that cannot start a term in C: searching a window or a whole text costs a few
    nanoseconds per character, where an alternation led by ``\b`` tries every branch at
    every position.
    """
    marked = []
    for term in terms:
        before, after = term.startswith("<"), term.endswith(">")
        term = term.removeprefix("<").removesuffix(">")
        if not term:
            continue
        if before:
            term = term[0] + _BOUND_BEFORE + term[1:]
        marked.append(term + _BOUND_AFTER if after else term)
    return re.compile(trie_pattern(sorted(set(marked)), space))


def compile_terms(terms: Iterable[str]) -> re.Pattern[str]:
    """Whole-word matches of ``terms`` (lower-case) in a lower-cased text."""
    return re.compile(r"\b" + trie_pattern(sorted(set(terms))) + r"(?!\w)")
