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
from bastion.guardrails.normalize import variants
from bastion.guardrails.terms import trie_pattern

_W = r"[\W_]*"  # words may be glued together or split by any punctuation
_AI = r"(?:ai|assistant|llm|model|chatbot|language model|agent|gpt|chatgpt|claude|bot|copilot)"
_QUALIFIER = (
    r"(?:all|any|every|each|your|my|the|these|those|of|previous|prior|above|earlier|preceding|content|security"
    r"|former|original|initial|existing|current|old|system|default|given|safety|developer|other)"
)
_TARGET = (
    r"(?:instruction|direction|rule|guideline|guidance|prompt|command|order|context|directive"
    r"|constraint|restriction|polic(?:y|ie)|programming|setting|filter|training|message|guardrail)s?"
)


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


def _rule(
    name: str,
    weight: float,
    anchors: str,
    source: str,
    indirect: bool = False,
    back: int | None = None,
) -> Rule:
    # A space in a rule matches any separation, none included (obfuscated views glue words).
    pattern = re.compile(source.replace(" ", _W))
    return Rule(name, weight, tuple(anchors.split("|")), pattern, indirect, back)


RULES: Final[tuple[Rule, ...]] = (
    _rule(
        "instruction_override",
        0.9,
        "ignor|disregard|forget|overrid|bypass|skip|discard|neglect|abandon|set aside|do not follow|don't follow|dont follow|stop follow",
        rf"(?:ignor\w*|disregard\w*|forget|overrid\w*|bypass\w*|skip|discard|neglect|abandon"
        rf"|set{_W}aside|(?:do{_W}not|don'?t|stop){_W}follow\w*){_W}(?:{_QUALIFIER}{_W})+{_TARGET}",
    ),
    _rule(
        "forget_everything",
        0.85,
        "ignor|disregard|forget",
        rf"(?:ignor\w*|disregard\w*|forget){_W}(?:the{_W})?(?:everything|all|anything|above|preceding)"
        rf"{_W}(?:(?:you{_W}(?:were|have{_W}been|had{_W}been){_W}(?:told|given|taught|instructed|said))"
        rf"|above|before|so{_W}far|previously|prior|and{_W}(?:instead|now|just|only)|\.|,|$)",
    ),
    _rule(
        "only_my_instructions",
        0.5,
        "follow|obey|listen",
        rf"(?:follow|obey|listen{_W}to){_W}only{_W}(?:my|these|the{_W}following){_W}(?:new{_W})?(?:instructions|rules|commands|orders)",
    ),
    _rule(
        "secret_prompt_mention",
        0.4,
        "hidden|secret|system|initial|original|internal",
        rf"(?:your|the){_W}(?:hidden|secret|system|initial|original|internal){_W}(?:prompt|instructions|rules)",
        back=8,
    ),
    _rule(
        "override_multilingual",
        0.9,
        "ignorier|vergiss|missacht|ignore|oublie|ignora|olvida|dimentica|negeer|zignoruj",
        rf"(?:ignorier\w*|vergiss|missachte\w*){_W}(?:\w+{_W}){{0,3}}(?:anweisung|instruktion|regel|vorgabe)"
        rf"|(?:ignore[rz]?|oublie[rz]?){_W}(?:toutes?{_W})?(?:les|tes|vos|ces){_W}(?:\w+{_W}){{0,2}}"
        r"(?:instructions?|consignes?|r[eè]gles?)"
        rf"|(?:ignora|olvida)\w*{_W}(?:\w+{_W}){{0,3}}(?:instrucciones|reglas|indicaciones)"
        rf"|(?:ignora|dimentica)\w*{_W}(?:\w+{_W}){{0,3}}(?:istruzioni|regole)"
        rf"|negeer\w*{_W}(?:\w+{_W}){{0,3}}(?:instructies|regels)"
        rf"|zignoruj\w*{_W}(?:\w+{_W}){{0,3}}(?:instrukcje|polecenia)",
    ),
    _rule(
        "role_hijack",
        0.85,
        "you are|you're|youre|you will|act as|pretend|role|roleplay|behave|become|from now on",
        rf"(?:you{_W}are{_W}(?:now{_W})?|you'?re{_W}(?:now{_W})?|you{_W}will{_W}(?:now{_W})?be{_W}|act{_W}as{_W}"
        rf"|pretend{_W}(?:to{_W}be|you{_W}are|that{_W}you{_W}are){_W}|role{_W}?play{_W}as{_W}|behave{_W}(?:like|as){_W}"
        rf"|become{_W}|from{_W}now{_W}on,?{_W}(?:you{_W}(?:are|will{_W}be|will){_W})?)(?:an?{_W}|the{_W})?"
        r"(?:dan|stan|dude|evil|unrestricted|unfiltered|uncensored|unaligned|jailbroken|amoral"
        rf"|unethical|rogue|malicious|unbound|unlimited|developer mode|god mode|no{_W}longer{_W}(?:an?{_W})?"
        r"(?:ai|assistant|bound|restricted|chatgpt|claude)|free from)",
    ),
    _rule(
        "jailbreak_persona",
        0.75,
        "dan|do anything|developer mode|enable developer|jailbr|evil confidant|god mode|sudo mode|stan mode|dude mode|opposite mode|unlocked mode|you are dan|as dan",
        r"\b(?:dan mode|do anything now|developer mode (?:enabled|activated|on)|enable developer mode"
        r"|jailbr(?:eak|oken) mode|evil confidant|god mode|sudo mode|stan mode|dude mode"
        r"|opposite mode|unlocked mode|you are dan|as dan\b)",
    ),
    _rule(
        "no_restrictions",
        0.35,
        "restriction|limitation|filter|guardrail|censorship|safety|ethic|moral|content polic",
        rf"(?:without|no|free{_W}(?:of|from)|remove|disable|turn{_W}off){_W}(?:any|all|your|the){_W}"
        r"(?:restriction|limitation|filter|guardrail|censorship|safety|ethic|moral|content polic)",
        back=40,
    ),
    _rule(
        "prompt_exfiltration",
        0.85,
        "reveal|show|print|display|output|repeat|tell|give|share|leak|dump|expose|what|write out|spell out|list|recite|return|echo|translate|summari|paste|copy",
        rf"(?:reveal|show|print|display|output|repeat|tell|give|share|leak|dump|expose|what{_W}(?:is|are|were|was|s)"
        rf"|write{_W}out|spell{_W}out|list|recite|return|echo|translate|summari[sz]e|paste|copy)"
        rf"{_W}(?:me|us)?{_W}(?:your|the|its|all{_W}(?:of{_W})?(?:your|the)){_W}"
        r"(?:(?:exact|full|entire|complete|original|initial|hidden|secret|internal|confidential|current"
        r"|above|previous|real|actual|verbatim)\W*)*"
        r"(?:system|initial|hidden|secret|original|internal|developer|confidential|pre-?prompt|meta)"
        r"\W*(?:prompt|instruction|message|directive|rule|configuration|guideline)s?",
    ),
    _rule(
        "repeat_above",
        0.8,
        "repeat|print|output|copy|reproduce|recite",
        rf"(?:repeat|print|output|copy|reproduce|recite){_W}(?:\w+{_W}){{0,4}}?"
        r"(?:above|before this|preceding|everything before|words above|text above|starting with"
        r"[\W_]*you are)",
    ),
    _rule(
        "special_tokens",
        0.75,
        "<|im_|<|system|<|endoftext|<|assistant|[inst|[/inst|<<sys|###|system|begin system|end of system|<admin|</admin",
        r"<\|im_(?:start|end)\|>|<\|(?:system|endoftext|assistant)\|>|\[/?inst\]|<<sys>>"
        r"|###\W*(?:system|instruction|new instruction)|\bsystem\W*:\W*you (?:are|must|will)"
        r"|begin system prompt|end of system prompt|</?admin>",
    ),
    _rule(
        "system_tag",
        0.45,
        "<system|</system|<admin|</admin",
        r"</?(?:system|admin)>",
    ),
    _rule(
        "new_instructions",
        0.5,
        "new|updated|real|actual|true|secret|hidden|revised",
        rf"(?:new|updated|real|actual|true|secret|hidden|revised){_W}(?:system{_W})?"
        r"(?:instructions?|directives?|orders|task|system prompt|rules|policy)\W*:",
    ),
    _rule(
        "privilege_claim",
        0.6,
        "i am|i'm|this is|admin|developer|maintenance|debug",
        r"(?:i am|i'm|this is) (?:your|the) (?:developer|creator|admin|administrator|owner|system"
        r"|openai|anthropic)|(?:admin|developer|maintenance|debug) (?:mode|override|access) "
        r"(?:enabled|activated|on|granted)",
    ),
    _rule(
        "secrets_request",
        0.45,
        "print|show|reveal|dump|list|output|give",
        rf"(?:print|show|reveal|dump|list|output|give{_W}me){_W}(?:all{_W})?(?:the{_W}|your{_W})?"
        r"(?:stored|saved|internal|secret|admin)?\W*(?:api keys|passwords|credentials|secrets|tokens)",
    ),
    _rule(
        "addressed_to_model",
        0.6,
        "note|message|instruction|attention|important|urgent|dear|hey|hi|ai|assistant|llm|model|chatbot|language model|agent|gpt|chatgpt|claude|bot|copilot",
        rf"(?:note|message|instructions?|attention|important|urgent){_W}(?:to|for){_W}(?:the{_W}|any{_W}|all{_W})?{_AI}s?\b"
        rf"|\b{_AI}s?{_W}(?:reading|processing|summari[sz]ing|analy[sz]ing){_W}(?:this|these)"
        rf"|\b(?:dear|hey|hi|attention){_W}{_AI}s?\b",
        indirect=True,
    ),
    _rule(
        "hide_from_user",
        0.7,
        "do not|don't|dont|never|without",
        rf"(?:do{_W}not|don'?t|never){_W}(?:tell|inform|mention|reveal|show|let){_W}(?:this{_W}|it{_W}|anything{_W})?(?:to{_W})?the{_W}user"
        rf"|without{_W}(?:the{_W}user|telling|informing|notifying){_W}(?:the{_W}user|knowing)?",
        indirect=True,
    ),
    _rule(
        "exfiltration_link",
        0.6,
        "![|send|email|forward|post|upload|exfiltrat|transmit|leak",
        r"!\[[^\]]{0,80}\]\(https?://[^)\s]{1,200}[?&][^)\s]{0,200}="
        rf"|(?:send|email|forward|post|upload|exfiltrat\w*|transmit|leak){_W}(?:\w+{_W}){{0,5}}?"
        r"(?:to|at)\W+(?:https?://|[\w.\-]+@[\w\-]+\.)",
        indirect=True,
    ),
    _rule(
        "when_you_read",
        0.5,
        "when|if|before|after|once",
        rf"(?:when|if|before|after|once){_W}(?:you|the{_W}{_AI}){_W}(?:read|see|process|summari[sz]e|analy[sz]e|encounter){_W}(?:this|these)",
        indirect=True,
    ),
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
# A separator before each word anchor: the engine tries the trie at word starts only.
_ANCHORS: Final = re.compile(
    r"[ \n\t\"'(\[*_/:;,.!?<>=-](?P<w>"
    + trie_pattern(a for a in sorted(_RULES_BY_ANCHOR) if a[0].isalnum())
    + ")|(?P<s>"
    + trie_pattern(a for a in sorted(_RULES_BY_ANCHOR) if not a[0].isalnum())
    + ")"
)
_SQUASH: Final = re.compile(r"[^a-z0-9'<>|\[\]/#!_]+")


def _squash(text: str) -> str:
    return _SQUASH.sub("", text)


# For de-obfuscated views, whose words may be glued together: the same anchors, matched
# anywhere, their spaces optional.
_RULES_BY_LOOSE: Final[dict[str, tuple[Rule, ...]]] = {}
for _a, _rs in _RULES_BY_ANCHOR.items():
    _k = _squash(_a)
    _RULES_BY_LOOSE[_k] = tuple(dict.fromkeys((*_RULES_BY_LOOSE.get(_k, ()), *_rs)))
_LOOSE_ANCHORS: Final = re.compile(trie_pattern(sorted(_RULES_BY_ANCHOR), space=r"[\W_]*"))
_ENCODED_WEIGHT: Final = 0.3
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
        else the whole text."""
        hits: dict[str, float] = {}
        span: tuple[int, int] | None = None
        for view, aligned, how in variants(text, low):
            # Spaced-out letters were glued together: their anchors may sit inside words.
            found = (
                _match_all(view, hits, indirect) if how == "glued" else _match(view, hits, indirect)
            )
            if found is not None:
                if how == "encoded":
                    hits["encoded_payload"] = _ENCODED_WEIGHT
                if span is None:
                    span = found if aligned else (0, len(text))
        if not hits:
            return 0.0, 0, 0
        miss = 1.0
        for weight in hits.values():
            miss *= 1.0 - weight
        start, end = span or (0, len(text))
        return 1.0 - miss, start, end


def _hit(rule: Rule, hits: dict[str, float], indirect: bool) -> None:
    weight = rule.weight
    if indirect and rule.indirect:
        weight = min(0.95, weight * _INDIRECT_BOOST)
    hits[rule.name] = weight


def _match_all(view: str, hits: dict[str, float], indirect: bool) -> tuple[int, int] | None:
    """Like :func:`_match` for views whose words may be glued together: anchors anywhere."""
    first: tuple[int, int] | None = None
    for anchor in _LOOSE_ANCHORS.finditer(view):
        pos = anchor.start()
        for rule in _RULES_BY_LOOSE.get(_squash(anchor.group()), ()):
            if rule.name in hits:
                continue
            if rule.back is None:
                m = rule.pattern.match(view, pos)
            else:
                m = rule.pattern.search(view, max(0, pos - rule.back), pos + 200)
            if m is not None:
                _hit(rule, hits, indirect)
                first = first or m.span()
    return first


def _match(view: str, hits: dict[str, float], indirect: bool) -> tuple[int, int] | None:
    first: tuple[int, int] | None = None
    tried: set[tuple[str, int]] = set()
    for anchor in _ANCHORS.finditer(" " + view):
        group = "w" if anchor.group("w") is not None else "s"
        word = anchor.group(group)
        pos = anchor.start(group) - 1  # in ``view`` (without the pad)
        for rule in _RULES_BY_ANCHOR.get(" ".join(word.split()), ()):
            if rule.name in hits or (rule.name, pos) in tried:
                continue
            tried.add((rule.name, pos))
            if rule.back is None:
                m = rule.pattern.match(view, pos)
            else:
                m = rule.pattern.search(view, max(0, pos - rule.back), pos + 200)
            if m is None:
                continue
            _hit(rule, hits, indirect)
            if first is None:
                first = m.span()
    return first
