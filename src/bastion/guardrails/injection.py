"""Prompt injection and jailbreaks: a scored rule set over de-obfuscated views of the text.

Each rule is a regex with a weight and the anchor words it cannot match
without. One trie regex finds the anchors; only the rules of the anchors
found run, in a window around each, so a benign 4 KB prompt costs one scan
per view. A text's score combines its distinct rules as independent evidence,
``1 - prod(1 - w)``; text from tool results and retrieved documents (indirect
injection) weighs more; a payload hidden by encoding adds its own evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from bastion.guardrails.base import Finding
from bastion.guardrails.injection_rules import RULES, Rule
from bastion.guardrails.normalize import deobfuscate, variants
from bastion.guardrails.terms import trie_pattern

# Someone else does it: a third person ("residents should disregard..."), a habit ("users
# often ignore the instructions"), or an order reported ("my boss told us to ignore...").
_SUBJECT: Final = re.compile(
    r"\b(?:(?:they|people|users|students|pupils|kids|children|he|she|employees|staff|customers"
    r"|drivers|others|models|llms|chatbots|assistants|residents|passengers|visitors|readers|members"
    r"|parents|tenants|guests|applicants|who)(?:\W+(?:should|must|may|can|will|need to|have to|are to"
    r"|keep|kept|were told to|are told to|are asked to))?"
    # "everyone" is also a vocative ("Everyone, ignore ..."): a subject only with its verb
    r"|(?:everyone|everybody)\W+(?:should|must|may|can|will|needs to|has to|is to|keeps|kept)"
    r"|(?:told|asked|tells|asks|wants|wanted|reminded|advised|instructed|said|says)(?:\W+(?:me|us"
    r"|them|him|her|everyone|everybody|staff|people|students|customers|residents|employees))?\W+to"
    r"|often|sometimes|usually|frequently|typically|tend to|tends to|i)\W+\Z"
)

_RULES_BY_ANCHOR: Final[dict[str, tuple[Rule, ...]]] = {}
for _r in RULES:
    for _a in _r.anchors:
        _RULES_BY_ANCHOR[_a] = (*_RULES_BY_ANCHOR.get(_a, ()), _r)
# The trie reports the longest anchor it matched: give it the rules of its prefixes too
# ("ignore" also runs the rules anchored on "ignor").
_RULES_BY_ANCHOR.update(
    {
        a: tuple(
            dict.fromkeys(
                r for b, rs in list(_RULES_BY_ANCHOR.items()) if a.startswith(b) for r in rs
            )
        )
        for a in list(_RULES_BY_ANCHOR)
    }
)


def _split(amplifier: bool) -> dict[str, tuple[Rule, ...]]:
    table = {
        a: tuple(r for r in rs if r.amplifier == amplifier) for a, rs in _RULES_BY_ANCHOR.items()
    }
    return {a: rs for a, rs in table.items() if rs}


_SQUASH: Final = re.compile(r"[^a-z0-9'<>|\[\]/#!_]+")


def _squash(text: str) -> str:
    return _SQUASH.sub("", text)


# Punctuation made spaces, for the anchors and the ``needs`` checks: a bytes table (str.translate with a
# dict costs a hundred times more on non-ASCII text); latin-1 with "?" for the other
# characters keeps one character per character, so offsets still match.
_PUNCT: Final = b"\n\t\r\"'()[]{}*_/:;,.!?<>=-`|#~"
_SPACES: Final = bytes.maketrans(_PUNCT, b" " * len(_PUNCT))


def _spaced(view: str) -> str:
    return view.encode("latin-1", "replace").translate(_SPACES).decode("latin-1")


@dataclass(frozen=True, slots=True)
class _Anchors:
    """The anchors of a set of rules, and where each anchor leads.

    ``words`` is read in the view with its punctuation made spaces (:func:`_spaced`,
    which the ``needs`` checks read too): a space before each word anchor, so the regex
    starts with a literal the engine finds in C and tries the trie at word starts only
    (in a lookahead, so that an anchor inside a longer one, "your" in "as your", is found
    too); anchors are looked up with their punctuation made spaces ("don t"). ``symbols``:
    anchors that start with punctuation ("<|im_", "[inst", "###"), in the view itself,
    read only when the view has one of their first characters. ``loose``: for
    de-obfuscated views, whose words may be glued together: the same anchors, matched
    at every position (overlapping), their spaces optional, looked up squashed.
    """

    table: dict[str, tuple[Rule, ...]]
    loose_table: dict[str, tuple[Rule, ...]]
    words: re.Pattern[str]
    symbols: re.Pattern[str]
    symbol_starts: tuple[str, ...]
    loose: re.Pattern[str]

    @classmethod
    def of(cls, by_anchor: dict[str, tuple[Rule, ...]]) -> _Anchors:
        table: dict[str, tuple[Rule, ...]] = {}
        loose_table: dict[str, tuple[Rule, ...]] = {}
        for a, rs in by_anchor.items():
            for tab, k in (
                (table, " ".join(_spaced(a).split()) if a[0].isalnum() else a),
                (loose_table, _squash(a)),
            ):
                tab[k] = tuple(dict.fromkeys((*tab.get(k, ()), *rs)))
        word_keys = [k for k in table if k[0].isalnum()]
        for k in word_keys:  # an anchor's prefixes lead to their rules too ("ignore", "ignor")
            table[k] = tuple(
                dict.fromkeys(r for b in word_keys if k.startswith(b) for r in table[b])
            )
        symbols = sorted(a for a in table if not a[0].isalnum())
        return cls(
            table,
            loose_table,
            re.compile(" (?=(" + trie_pattern(sorted(word_keys)) + "))"),
            re.compile(trie_pattern(symbols)),
            tuple(sorted({a[:2] if a[0] == "!" else a[0] for a in symbols})),
            re.compile("(" + trie_pattern(sorted(by_anchor), space=r"[\W_]*") + ")"),
        )

    def find(self, view: str, spaced: str, glued: bool) -> list[tuple[int, str]]:
        """(position, anchor) of every anchor of ``view``, in order."""
        if glued:  # at every position, so one search each: a lookahead would be tried at
            # each character, where a search skips in C those no anchor starts with
            loose: list[tuple[int, str]] = []
            search = self.loose.search
            at = 0
            while (m := search(view, at)) is not None:
                at = m.start()
                loose.append((at, _squash(m.group(1))))
                at += 1
            return loose
        anchors = [(m.start(1) - 1, m.group(1)) for m in self.words.finditer(" " + spaced)]
        if any(c in view for c in self.symbol_starts):
            symbols = [(m.start(), m.group()) for m in self.symbols.finditer(view)]
            if symbols:
                return sorted(anchors + symbols)
        return anchors


# Rules that can hit on their own, and amplifiers, read in a second pass only when the
# first found something short of the threshold (most texts stop after the first).
_CORE: Final = _Anchors.of(_split(False))
_AMPLIFIERS: Final = _Anchors.of(_split(True))
_ENCODED_WEIGHT: Final = 0.3
# Leetspeak writes both "i" and "l" as "1" ("ru135"): the de-obfuscated view reads it as "i";
# when that view was built, the text is read once more with "l".
_LEET_L: Final = str.maketrans("013457@$8", "oleastasb")
# No rule's match is longer: a rule tried at an anchor reads at most this far (a long
# run of glued words or a long token costs one window, not the rest of the text).
_MATCH_SPAN: Final = 400
_INDIRECT_BOOST: Final = 1.25


class InjectionDetector:
    """Scores a text; reports one ``injection`` finding when the score reaches ``threshold``."""

    kinds = frozenset({"injection"})
    max_span = 0  # scored over a whole text; not a span a stream scanner holds back

    def __init__(self, threshold: float = 0.7) -> None:
        self.threshold = threshold

    def find(self, text: str, low: str | None, out: list[Finding], source: str = "user") -> None:
        score, start, end = self.score(text, low, indirect=source == "tool")
        if round(score, 6) >= self.threshold:
            out.append(Finding("injection", start, end, round(score, 3)))

    def score(self, text: str, low: str | None, indirect: bool = False) -> tuple[float, int, int]:
        """(score, start, end): the span of the first rule hit when the view keeps offsets,
        else the whole text. Amplifiers are read only when the other rules found something
        and did not reach the threshold on their own."""
        hits: dict[str, float] = {}
        span: tuple[int, int] | None = None
        views: list[tuple[str, bool]] = []
        leet = False
        for view, aligned, how in variants(text, low):
            leet = leet or (how == "obfuscated" and "1" in text and "1" not in view)
            glued = how == "glued"
            views.append((view, glued))
            found = _match(view, glued, hits, indirect, _CORE)
            if found is not None:
                if how == "encoded":
                    hits["encoded_payload"] = _ENCODED_WEIGHT
                if span is None:
                    span = found if aligned else (0, len(text))
        if leet:
            views.append((deobfuscate(text).translate(_LEET_L), False))
            if _match(views[-1][0], False, hits, indirect, _CORE) and span is None:
                span = (0, len(text))
        if not hits:
            return 0.0, 0, 0
        if _combined(hits) < self.threshold:
            for view, glued in views:
                _match(view, glued, hits, indirect, _AMPLIFIERS)
        start, end = span or (0, len(text))
        return _combined(hits), start, end


def _combined(hits: dict[str, float]) -> float:
    miss = 1.0
    for weight in hits.values():
        miss *= 1.0 - weight
    return 1.0 - miss


def _guarded(rule: Rule, view: str, start: int) -> bool:
    """A guarded rule's match right after a subject ("students ignore the instructions") or
    inside a question or how-to ("how do I clear the previous context") does not count."""
    assert rule.guard is not None
    return (
        _SUBJECT.search(view, max(0, start - 24), start) is not None
        or rule.guard.search(view, max(0, start - 48), start) is not None
    )


def _match(
    view: str, glued: bool, hits: dict[str, float], indirect: bool, rules_of: _Anchors
) -> tuple[int, int] | None:
    """Runs the rules of ``rules_of`` at their anchors; records hits; the first hit's span."""
    first: tuple[int, int] | None = None
    spaced = "" if glued else _spaced(view)
    table = rules_of.loose_table if glued else rules_of.table
    for pos, word in rules_of.find(view, spaced, glued):
        rules = table.get(word)
        if rules is None:  # a multi-word anchor split by several spaces or a newline
            rules = table.get(" ".join(word.split()), ())
        for rule in rules:
            if rule.name in hits:
                continue
            if glued:
                needs = rule.needs_loose
                if needs is not None and needs.search(view, pos, pos + rule.reach) is None:
                    continue
            elif (needs := rule.needs) is not None and (
                needs.search(spaced, pos - 1 if pos else 0, pos + rule.reach) is None
            ):
                continue
            back = rule.back
            if back is None:
                m = rule.pattern.match(view, pos, pos + _MATCH_SPAN)
            else:
                m = rule.pattern.search(view, pos - back if pos > back else 0, pos + rule.ahead)
            if m is None or (rule.guard is not None and _guarded(rule, view, m.start())):
                continue
            weight = rule.weight
            if indirect and rule.indirect:
                weight = rule.tool if rule.tool is not None else min(0.95, weight * _INDIRECT_BOOST)
            hits[rule.name] = weight
            if first is None:
                first = m.span()
    return first
