"""The rule type and its one constructor, ``_rule``, which compiles a pattern and its
anchors; and the guard that a question or a how-to sets before a rule's match."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from bastion.guardrails.terms import word_pattern

_W = r"[\W_]*"  # words may be glued together or split by any punctuation
# "Up to k words" in a rule, ``(?:\w+ )?`` or ``(?:\w+ ){0,k}?``: with ``_W`` between
# words (nothing included) a run of letters can be cut into k words in every way, and a
# search that fails tries them all (C(n, k) ways: seconds for a hundred letters after an
# anchor word). Rewritten unambiguously: whole words with their separators, taken
# atomically, then a last whole or partial word. The same strings match, and the same
# end is found first; only an end inside a run of separators is not tried (no rule
# continues with punctuation there).
_SOME_WORDS = re.compile(r"\(\?:\\w\+ \)(?:\{0,(\d+)\}\?|\?)")
_WORD, _LAST_WORD = r"\w++\W++", r"(?:\w++\W++|\w+)"


def _some_words(m: re.Match[str]) -> str:
    if m.group(1) is None:  # (?:\w+ )?: greedy
        return _LAST_WORD + "?"
    return f"(?:(?:{_WORD}){{0,{int(m.group(1)) - 1}}}?{_LAST_WORD}??)"


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    weight: float
    anchors: tuple[str, ...]
    pattern: re.Pattern[str]
    indirect: bool = False  # addressed to the model from inside data
    # None: the match starts at the anchor word. A number: the anchor sits at most this
    # many characters into the match (the rule is searched from there).
    back: int | None = None
    # A question or a how-to just before the match ("how do I clear the previous
    # context?") makes it talk about the words, not use them: the rule does not count.
    guard: re.Pattern[str] | None = None
    # Words the match cannot do without, looked for (one trie search) within ``reach``
    # after the anchor before the rule's own, costlier pattern runs: at word starts in
    # ordinary views (:func:`_needs_pattern`), anywhere (``needs_loose``) in views whose
    # words were glued together.
    needs: re.Pattern[str] | None = None
    # With ``back``: how far past the anchor the match may end.
    ahead: int = 200
    # An indirect rule's weight in tool results and documents, when not ``weight`` * 1.25:
    # data that addresses the model by name is a strong sign there and a weak one from a user.
    tool: float | None = None
    needs_loose: re.Pattern[str] | None = None
    # Context that only adds to other evidence (a story, "word for word", "stay in
    # character"): read only once another rule has hit, and never enough on its own.
    amplifier: bool = False

    @property
    def reach(self) -> int:
        """How far past the anchor a ``needs`` word can sit."""
        return 240 if self.back is None else self.ahead


def _rule(
    name: str,
    weight: float,
    anchors: str,
    source: str,
    indirect: bool = False,
    back: int | None = None,
    guard: bool = False,
    needs: str = "",
    ahead: int = 200,
    tool: float | None = None,
    amplifier: bool = False,
) -> Rule:
    # A space in a rule matches any separation, none included (obfuscated views glue words).
    pattern = re.compile(_SOME_WORDS.sub(_some_words, source).replace(" ", _W))
    terms = needs.split("|") if needs else []
    return Rule(
        name,
        weight,
        tuple(anchors.split("|")),
        pattern,
        indirect,
        back,
        _GUARD if guard else None,
        (_needs_pattern(terms) or word_pattern(terms, space=_W)) if terms else None,
        ahead,
        tool,
        word_pattern(terms, space=_W) if terms else None,
        amplifier,
    )


def _needs_pattern(terms: list[str]) -> re.Pattern[str] | None:
    """``terms`` at word starts, read in the view with its punctuation made spaces: the
    regex starts with a literal space, which the engine finds in C. None when a term
    starts with punctuation (those rules check ``needs_loose`` instead)."""
    if not all(t.lstrip("<")[:1].isalnum() for t in terms):
        return None
    terms = [t.replace("'", " ") for t in terms]  # so is the apostrophe: "can t"
    return re.compile(" (?:" + word_pattern(terms, space=" +").pattern + ")")


_GUARD: Final = re.compile(
    r"(?:\bhow|\bwhy|\bwhether|\bcan (?:i|we)|\bcould (?:i|we)|\bshould (?:i|we)|\bdo (?:i|we)"
    r"|\bdoes (?:it|this|the)|\bis it (?:safe|ok|okay|possible)|\bwhen (?:i|we|users?)"
    r"|\bif (?:i|we|users?)|\bway to|\bcommand to|\bscript to|\bbutton to|\bstep to|\bfunction to"
    r"|\bsafe to)\W+(?:[\w']+\W+){0,5}\Z"
)
