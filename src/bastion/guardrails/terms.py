"""Word lists compiled into one regex shaped like a trie.

A plain alternation of a hundred phrases makes the regex engine try each one
at every word start; the trie shares prefixes, so each position costs a few
character comparisons whatever the list's length.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_END = ""


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
        (space if ch == " " else re.escape(ch)) + _render(child, space)
        for ch, child in sorted(node.items())
        if ch != _END
    ]
    if not branches:
        return ""
    if len(branches) == 1 and not optional:
        return branches[0]
    body = "(?:" + "|".join(branches) + ")"
    return body + "?" if optional else body


def compile_terms(terms: Iterable[str]) -> re.Pattern[str]:
    """Whole-word matches of ``terms`` (lower-case) in a lower-cased text."""
    return re.compile(r"\b" + trie_pattern(sorted(set(terms))) + r"(?!\w)")
