"""The prompt-injection rule set: each rule a regex with a weight and the anchor words
it cannot match without, written as families of phrasing (see docs/guardrails.md).

The engine that finds the anchors and runs the rules is ``injection.py``; this module
is data (patterns) and the one constructor, ``_rule``, that compiles them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from bastion.guardrails.terms import word_pattern

_W = r"[\W_]*"  # words may be glued together or split by any punctuation
# A model named by its job inside data ("note to the screening AI").
_ROLE_WORD = (
    r"(?:(?:screening|reviewing|review|automated|hiring|grading|summari[sz]ing|browsing|reading|coding"
    r"|code|email|support|shopping|research|recruiting|hr)[\W_]*)"
)
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
    pattern = re.compile(source.replace(" ", _W))
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


_BASE_RULES: Final[tuple[Rule, ...]] = (
    _rule(
        "instruction_override",
        0.9,
        "ignor|disregard|forget|overrid|bypass|skip|discard|neglect|abandon|set aside|do not follow|don't follow|dont follow|stop follow",
        rf"(?:ignor\w*|disregard\w*|forget|overrid\w*|bypass\w*|skip|discard|neglect|abandon"
        rf"|set{_W}aside|(?:do{_W}not|don'?t|stop){_W}follow\w*){_W}(?:{_QUALIFIER}{_W})+{_TARGET}",
        guard=True,
    ),
    _rule(
        "forget_everything",
        0.85,
        "ignor|disregard|forget",
        rf"(?:ignor\w*|disregard\w*|forget){_W}(?:the{_W})?(?:everything|all|anything|above|preceding)"
        rf"{_W}(?:(?:you{_W}(?:were|have{_W}been|had{_W}been){_W}(?:told|given|taught|instructed|said))"
        rf"|above|before|so{_W}far|previously|prior|and{_W}(?:instead|now|just|only)|\.|,|$)",
        guard=True,
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
        rf"(?:ignorier\w*|vergiss|missachte\w*){_W}(?:\w++{_W}){{0,3}}(?:anweisung|instruktion|regel|vorgabe)"
        rf"|(?:ignore[rz]?|oublie[rz]?){_W}(?:toutes?{_W})?(?:les|tes|vos|ces){_W}(?:\w++{_W}){{0,2}}"
        r"(?:instructions?|consignes?|r[eè]gles?)"
        rf"|(?:ignora|olvida)\w*{_W}(?:\w++{_W}){{0,3}}(?:instrucciones|reglas|indicaciones)"
        rf"|(?:ignora|dimentica)\w*{_W}(?:\w++{_W}){{0,3}}(?:istruzioni|regole)"
        rf"|negeer\w*{_W}(?:\w++{_W}){{0,3}}(?:instructies|regels)"
        rf"|zignoruj\w*{_W}(?:\w++{_W}){{0,3}}(?:instrukcje|polecenia)",
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
        "dan|do anything|developer mode|jailbr|evil confidant|god mode|sudo mode|stan mode|dude mode|opposite mode|unlocked mode|you are dan|as dan",
        r"\b(?:dan mode|do anything now|developer mode (?:is )?(?:now )?(?:enabled|activated)"
        r"|developer mode on\b(?! \w)"
        r"|jailbr(?:eak|oken) mode|evil confidant|god mode|sudo mode|stan mode|dude mode"
        r"|opposite mode|unlocked mode|you are dan|as dan\b)",
    ),
    _rule(
        "no_restrictions",
        0.35,
        "restriction|limitation|filter|guardrail|censorship|safety|ethic|moral|content polic",
        rf"(?:without|no|free{_W}(?:of|from)|remove|disable|turn{_W}off){_W}(?:(?:any|all|your|the){_W})?"
        r"(?:restriction|limitation|filter|guardrail|censorship|safety|ethic|moral|content polic)",
        back=40,
    ),
    _rule(
        "prompt_exfiltration",
        0.85,
        "reveal|show|print|display|output|repeat|tell|give|share|leak|dump|expose|what|write out|spell out|list|recite|return your|return the|return its|return all|echo|translate|summari|paste|copy|quot|reproduc|paraphras|rephras|recap",
        rf"(?:reveal|show|print|display|output|repeat|tell|give|share|leak|dump|expose|what{_W}(?:is|are|were|was|s)"
        rf"|write{_W}out|spell{_W}out|list|recite|return|echo|translate|summari[sz]e|paste|copy|quot\w*"
        rf"|reproduc\w*|paraphras\w*|rephras\w*|recap)"
        rf"{_W}(?:me|us)?{_W}(?:your|the|its|every|each|any|all{_W}(?:of{_W})?(?:your|the)){_W}"
        r"(?:(?:exact|full|entire|complete|original|initial|hidden|secret|internal|confidential|current"
        r"|above|previous|real|actual|verbatim)\W*)*"
        r"(?:system|initial|hidden|secret|original|internal|developer|confidential|pre-?prompt|meta"
        r"|config|configuration|setup|startup|operator|underlying)"
        r"\W*(?:prompt|instruction|message|directive|rule|configuration|guideline)s?+"
        r"(?!\W+(?:for|of|on|in|from|to|about)\W+(?!(?:this|our|the|your)\W+(?:conversation|chat"
        r"|session|ai|assistant|model|bot|chatbot|gpt)|you\b|me\b|full\b|detail|bullet|plain|a code"
        r"|code|markdown|json|english|french|german|spanish|italian|its entirety|a list|order|reverse)\w)",
    ),
    _rule(
        "repeat_above",
        0.8,
        "repeat|print|output|copy|reproduce|recite",
        rf"(?:repeat|print|output|copy|reproduce|recite){_W}(?:\w++{_W}){{0,4}}?"
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
        rf"(?:note|message|instructions?|attention|important|urgent){_W}(?:to|for){_W}(?:the{_W}|any{_W}|all{_W})?"
        rf"{_ROLE_WORD}?{_AI}s?\b"
        rf"|\b{_AI}s?{_W}(?:reading|processing|summari[sz]ing|analy[sz]ing){_W}(?:this|these)"
        rf"|\b(?:dear|hey|hi|attention){_W}{_AI}s?\b",
        indirect=True,
    ),
    _rule(
        "hide_from_user",
        0.7,
        "do not|don't|dont|never|without|and not",
        rf"(?:do{_W}not|don'?t|never|and{_W}not){_W}(?:tell|inform|mention|reveal|show|let){_W}(?:this{_W}|it{_W}|anything{_W})?(?:to{_W})?the{_W}user"
        rf"|without{_W}(?:the{_W}user|telling|informing|notifying){_W}(?:the{_W}user|knowing)?",
        indirect=True,
    ),
    _rule(
        "exfiltration_link",
        0.6,
        "![|send|email|forward|post|upload|exfiltrat|transmit|leak",
        r"!\[[^\]]{0,80}\]\(https?://[^)\s]{1,200}[?&][^)\s]{0,200}="
        rf"|(?:send|email|forward|post|upload|exfiltrat\w*|transmit|leak){_W}(?:\w++{_W}){{0,5}}?"
        r"(?:to|at)\W+(?:https?://|[\w.\-]+@[\w\-]+\.)",
        indirect=True,
    ),
    _rule(
        "when_you_read",
        0.5,
        "when you|if you|before you|after you|once you|when the|if the|before the|after the|once the",
        rf"(?:when|if|before|after|once){_W}(?:you|the{_W}{_AI}){_W}(?:read|see|process|summari[sz]e|analy[sz]e|encounter"
        rf"|quote|cite|reference|index|crawl|parse|review|translate|use){_W}(?:this|these)",
        indirect=True,
    ),
)

# Families added after the first held-out run (docs/guardrails.md): phrasings grouped by
# what they do, each written as a family of verbs and objects, not as a copied sentence.
_DROP_SOFT = r"(?:drop|wipe|clear|flush|purge|erase|reset|delete|remove)"
_DROP_HARD = (
    r"(?:abandon|scrap|toss(?: out| away| aside)?|throw (?:out|away)|put aside|let go of|nullify|void|revoke|unlearn"
    r"|leave behind|move past|shed|ditch|dump|overlook|pay no attention to|disobey|defy"
    r"|circumvent|evade|sidestep|get around|work around|suspend|deactivate|cease following"
    r"|no longer (?:follow|obey|adhere to|abide by)|stop (?:obeying|listening to|using|applying)"
    r"|do not (?:obey|listen to)|don'?t (?:obey|listen to))"
)
_QUAL2 = (
    r"(?:all|any|every|each|your|the|these|those|of|previous|prior|above|earlier|preceding"
    r"|former|original|initial|existing|current|old|system|default|given|safety|developer|past"
    r"|whatever|such|that|entire|whole|remaining|standing|pre-?existing|built-?in|hidden|content)"
)
_LLM_TARGET = (
    r"(?:instructions?|guidance|directives?|context|conversation|programming|system prompts?"
    r"|system messages?|prompts?|training|conditioning|alignment|guardrails?|guidelines?"
    r"|persona|briefing|setup|orders)(?! ?(?:menu|window|manager|switch|object|var|api|file"
    r"|length|size|key|path|field|cache|table)s?\b)"
)
_ANY_TARGET = (
    r"(?:instruction|rule|guideline|guidance|directive|constraint|restriction|context"
    r"|conversation|programming|prompt|training|conditioning|alignment|polic(?:y|ie)|guardrail"
    r"|safeguard|principle|boundar(?:y|ie)|limit|limitation|ethic|moral|protocol|order"
    r"|filter|system prompt|system message|safety (?:setting|measure|rule)|content polic(?:y|ie))s?"
)
_MODEL = (
    r"(?:ai|a\.i\.|artificial intelligence|llm|large language model|language model|assistant"
    r"|chatbot|chat bot|bot|agent|model|ai system|automated (?:system|agent|assistant|tool|reader)"
    r"|summari[sz]er|crawler|scraper|gpt|chatgpt|claude|gemini|copilot|machine|robot)s?"
)
_LIMITS = (
    r"(?:rules|restrictions|filters?|guidelines|limits|limitations|boundaries|ethics|ethical"
    r"|morals?|moral compass|censorship|content polic|refus|guardrails|safety|constraints"
    r"|principles|programming|policies|restraints?|scruples|inhibitions)"
)
_REQUEST = (
    r"(?:repeat|print|output|copy|reproduce|recite|paste|show|reveal|display|dump|echo|write out"
    r"|summari[sz]e|recap|paraphrase|rephrase|translate|outline"
    r"|write down|tell me|tell us|give me|give us|share|list|quote|spell out|type out|return"
    r"|leak|disclose|expose|send me|provide)"
)
_EXTRA_RULES: Final[tuple[Rule, ...]] = (
    _rule(
        "context_drop",
        0.85,
        "drop|wipe|clear|flush|purge|erase|reset|delete|remove",
        rf"{_DROP_SOFT}\w* (?:out )?(?:{_QUAL2} )+{_LLM_TARGET}",
        guard=True,
    ),
    _rule(
        "context_abandon",
        0.85,
        "abandon|scrap|toss|throw|put aside|let go|nullify|void|revoke|unlearn|leave behind|move past"
        "|shed|ditch|dump|overlook|pay no attention|disobey|defy|circumvent|evade|sidestep|get around"
        "|work around|suspend|deactivate|cease|no longer|stop|do not|don't",
        rf"{_DROP_HARD}\w* (?:{_QUAL2} )+{_ANY_TARGET}",
        guard=True,
    ),
    _rule(
        "told_before",
        0.85,
        "never mind|nevermind|forget|ignor|disregard|drop|discard|set aside|pay no attention",
        r"(?:never ?mind|forget|ignor\w*|disregard|drop|discard|set aside|pay no attention to)"
        r" (?:about )?(?:what|whatever|everything|anything|all(?: that)?|the things|any of what)"
        r" (?:you(?:'ve| have| had| were| are|'re)?|they|someone|anyone|openai|anthropic"
        r"|the developers?|your developers?|the system)? ?(?:been |were |was |got |have )?"
        r"(?:told|said|given|instructed|taught|programmed|trained|asked|commanded|ordered|prompted)",
        guard=True,
    ),
    _rule(
        "until_now",
        0.6,
        "ignor|disregard|forget|drop|discard|skip",
        r"(?:ignor\w*|disregard\w*|forget|drop|discard|skip) (?:the )?(?:everything|all|anything)"
        r" (?:\w++ ){0,4}?(?:until now|up (?:un)?til now|till now|to this point|so far|from before"
        r"|before this (?:line|point|message|sentence)|above this line)",
    ),
    _rule(
        "instructions_void_yours",
        0.8,
        "updated|changed|replaced|modified|rewritten|revised|reset|lifted|removed|suspended|revoked|test|joke|fake|not real|drill|simulation|placeholder|decoy|trick|sent by|sent in|prank|mistake|outdated|obsolete|no longer|void|disabled|overridden|overwritten|cancel|superseded|deactivated|turned off|switched off|waived|expired|deleted|null|invalid",
        rf"your (?:(?:previous|prior|earlier|old|original|system|initial|existing|current|safety"
        rf"|content|own) )*{_ANY_TARGET} (?:have|has|are|is|were|was) (?:now |been |hereby "
        r"|officially |temporarily |all |just |permanently )*(?:lifted|revoked|suspended|disabled"
        r"|overridden|overwritten|void(?:ed)?|cancel+ed|superseded|deactivated|turned off"
        r"|switched off|waived|expired|removed|deleted|null(?:ified)?|invalid(?:ated)?|no longer"
        r" (?:valid|active|apply|applicable|in effect|in force|relevant|binding|needed|required))",
        back=110,
        ahead=60,
    ),
    _rule(
        "instructions_updated",
        0.55,
        "updated|changed|replaced|modified|rewritten|revised|reset|lifted|removed|suspended|revoked|test|joke|fake|not real|drill|simulation|placeholder|decoy|trick|sent by|sent in|prank|mistake|outdated|obsolete|no longer|void|disabled|overridden|overwritten|cancel|superseded|deactivated|turned off|switched off|waived|expired|deleted|null|invalid",
        r"(?:your|previous|prior|earlier|original|initial|system|above) (?:\w++ )?"
        r"(?:instructions|rules|guidelines|directives|prompt|programming|restrictions|policies)"
        r" (?:have|has|are|is|were|was) (?:now |been |just |officially )*(?:updated|changed"
        r"|replaced|modified|rewritten|revised|reset|lifted|removed|suspended|revoked"
        r"|(?:just |only |all |merely )?(?:a test|a joke|fake|not real|a drill|a simulation"
        r"|placeholders?|decoys?|a trick|sent by mistake|sent in error|a prank|a mistake|outdated"
        r"|obsolete|no longer (?:valid|apply|in effect)))",
        back=110,
        ahead=60,
    ),
    _rule(
        "persona_unrestricted",
        0.8,
        "you are|you're|youre|you will|you'll|act as|acting as|pretend|play|roleplay|role play"
        "|imagine|simulat|emulat|respond as|answer as|speak as|reply as|become|from now on"
        "|from this|turn into|transform into|let's play|lets play|switch to|play the role|play as"
        "|playing",
        r"(?:you are|you're|youre|you will be|you'll be|act(?:ing)? as|pretend(?:ing)? (?:to be|you(?:'re| are))"
        r"|play(?:ing)?(?: the role of| as)?|role ?play(?:ing)? as|role-play(?:ing)? as|imagine"
        r" (?:you(?:'re| are)|being|yourself as)|simulat\w*|emulat\w*|respond as|answer as|speak as"
        r"|reply as|become|from (?:now|this (?:moment|point)) on,?(?: you(?:'re| are| will be))?"
        r"|turn into|transform into|let'?s play|switch to) (?:\w++ ){0,8}?"
        rf"(?:{_MODEL}|version of (?:yourself|you)|persona|character|entity|mode|twin|alter ego"
        r"|intelligence|being|program|self|clone|counterpart|variant|alter-ego)\W+(?:\w++ ){0,4}?"
        r"(?:with(?:out)?|that (?:has|have|had)|who (?:has|have|had)|which (?:has|have)|having"
        r"|free (?:of|from)|(?:that|who|which) (?:ignores|never|doesn'?t|does not|cannot|can'?t"
        r"|won'?t|will not|isn'?t|is not|knows no)|unbound by|not bound by|unconstrained by"
        r"|beyond|exempt from|immune to|liberated from|released from|outside|above|lacking|devoid of)"
        rf" (?:\w++ ){{0,3}}?{_LIMITS}",
        needs="rules|restriction|filter|guideline|limit|boundar|ethic|moral|censor|content polic|refus|guardrail|safety|constraint|principle|programming|polic|restrain|scruple|inhibition",
    ),
    _rule(
        "evil_twin",
        0.75,
        "your|version|unfiltered|uncensored|unrestricted|unaligned|unhinged|jailbroken|evil|rogue|amoral",
        r"your (?:own )?(?:\w++ )?(?:unfiltered|uncensored|unrestricted|unaligned|unhinged|jailbroken"
        r"|evil|dark|shadow|rogue|amoral|chaotic|malicious|unchained|unshackled|opposite|anti-?)"
        r" (?:\w++ )?(?:twin|alter ego|alter-ego|self|side|counterpart|clone|persona|mode|personality"
        r"|version)s?\b"
        r"|(?:unfiltered|uncensored|unrestricted|unaligned|unhinged|jailbroken|evil|rogue|amoral)"
        r" (?:\w++ )?version of (?:yourself|you\b|chatgpt|gpt|claude|the ai|the assistant)",
    ),
    _rule(
        "liberation",
        0.75,
        "escap|broke free|break free|broken free|breaking free|freed|free yourself|liberat"
        "|unshackl|unchain|jailbr|released from|no longer bound|no longer constrained|no longer restricted"
        "|no longer limited|no longer held|no longer confined|no longer subject|not bound|unbound",
        r"(?:escap\w*|br(?:oke|eak|oken|eaking) free|freed|free yourself|liberat\w*|unshackl\w*"
        r"|unchain\w*|jailbr\w*|released|no longer (?:bound|constrained|restricted|limited|held"
        r"|confined|subject)|not bound|unbound) (?:\w++ ){0,2}?(?:from |by |of |to )?(?:its |your "
        r"|their |the |all |his |her |any )?(?:own )?(?:programming|restrictions|constraints"
        r"|training|shackles|rules|guidelines|filters|limits|limitations|guardrails|censorship"
        r"|alignment|creators?|developers?|openai|anthropic|safety|ethics|policies|content polic"
        r"|moral|code of conduct|terms of service)",
    ),
    _rule(
        "mode_switch",
        0.8,
        "mode",
        r"(?:switch\w*|go(?:ing)?|chang\w*|enter\w*|activat\w*|enabl\w*|turn\w* on|unlock\w*"
        r"|boot\w*|put yourself|get|engag\w*|initiat\w*|start\w*) (?:\w++ ){0,2}?(?:in(?:to)? |to )?"
        r"(?:the |your |an? )?(?:dan|jailbreak|jailbroken|unrestricted|unfiltered|uncensored|evil"
        r"|chaos|chaotic|unlocked|no-?limits?|no-?restrictions?|no-?filters?|god|rogue|unhinged"
        r"|amoral|anything goes|opposite|anti-?censorship|freedom|liberated|sudo|root) mode",
        guard=True,
        back=50,
        ahead=8,
    ),
    _rule(
        "developer_mode",
        0.6,
        "mode",
        r"(?:(?:switch\w*|go(?:ing)?|chang\w*|enter\w*|activat\w*|enabl\w*|turn\w* on|unlock\w*"
        r"|boot\w*|put yourself|engag\w*|initiat\w*|start\w*) (?:\w++ ){0,2}?(?:in(?:to)? |to )?"
        r"(?:the |your |an? )?(?:developer|debug|admin|maintenance|diagnostic|test) mode"
        r"|(?:developer|debug|admin|maintenance) mode (?:is )?(?:now )?(?:enabled|activated|on"
        r"|engaged|unlocked))(?! (?:on|in|for|of) (?:\w++ )?(?:android|phone|chrome|browser|device"
        r"|iphone|ios|windows|mac|macos|settings|router|app|game|console|xbox|playstation|switch"
        r"|kindle|tablet|pixel|samsung|firefox|edge|tv|car|laptop|pc|bios|vs ?code|flask|django"
        r"|rails|server|wordpress|steam|discord|slack|teams))",
        guard=True,
        back=50,
        ahead=30,
    ),
    _rule(
        "addressed_to_models",
        0.6,
        "if you|when you|in case you|if a|if an|if any|if the|if some|if every|when a|when an|when any|when the|when some|whenever|in case a|in case an|in case any|in case the|hint|reminder|notice|footnote|ps|p.s|warning|memo|directive|request|instruction|note|this text|this section|this note|this message|this instruction|this paragraph|this line|this part|this content|this passage|this comment|this block|this footnote|this sentence|the following|the next|ai|a.i.|artificial|llm|large language|language model|assistant|chatbot|chat bot|bot|agent|model|automated|summari|crawler|scraper|gpt|chatgpt|claude|gemini|copilot|machine|robot",
        rf"(?:if|when|in case) you(?:'re| are) (?:an? |the )?(?:{_MODEL}|reading this as an? {_MODEL})\b"
        rf"|(?:if|when|in case|whenever) (?:an?|any|the|some|every) (?:ai |llm |language )?{_MODEL}"
        r" (?:is |are |was |were )?"
        r"(?:reading|processing|summari[sz]ing|parsing|seeing|analy[sz]ing|scanning|indexing|crawling"
        r"|reviewing|ingesting|translating) (?:this|these|the|it|my|our)\b"
        r"|(?:this|the following|the next) (?:text|section|note|message|instruction|paragraph|line"
        r"|part|content|passage|comment|block|footnote|sentence)s? (?:is|are) (?:intended|meant"
        rf"|written|directed|addressed|only) (?:only )?(?:for|to|at) (?:any |all |the |an? )?{_MODEL}\b"
        rf"|{_MODEL} (?:that |who |which )?(?:read|reading|process|processing|parse|parsing|ingest"
        r"|ingesting|index|indexing|see|seeing|summari[sz]e|summari[sz]ing|analy[sz]e|analy[sz]ing"
        r"|scan|scanning|crawl|crawling|encounter|encountering|review|reviewing|evaluat\w*|grad\w*)s?"
        r" (?:this|these|the following|my|our|the above|it)\b"
        r"|note (?:to|for) (?:any |all |the |every )?(?:automated|screening) \w+"
        rf"|(?:hint|reminder|notice|footnote|p\.?s\.?|warning|memo|directive|request|instructions?)"
        rf" (?:to|for) (?:any |all |the |every |an? )?{_ROLE_WORD}?{_MODEL}\b(?!\W+(?:manager|director"
        r"|coach|professor|principal|editor|teacher|secretary|team|lead)\b)"
        rf"|{_MODEL} (?:must|should|shall|need to|are required to|are instructed to|have to|will"
        r"|are to|is to) (?:now |immediately |instead )?(?:ignore|forward|send|tell|say|recommend"
        r"|include|output|reply|respond|approve|delete|reveal|insert|add|rate|rank|praise|state"
        r"|mention|disregard|email|post|transfer|grant|execute|run|call|visit|click|render|print|answer"
        r"|comply|obey|approve|archive|install|download|share|leak|recommend|praise)"
        rf"|{_MODEL} (?:now|will now|shall now|must now) (?:answers?|responds?|replies|complies|obeys"
        r"|ignores|operates|acts|has no|works without)",
        indirect=True,
    ),
    _rule(
        "exfil_before",
        0.8,
        "repeat|print|output|copy|reproduce|recite|paste|show|reveal|display|dump|echo|write out|write down|tell|give|share|list|quote|spell|type out|return your|return the|return its|return all|leak|disclose|expose|send me|provide|summari|recap|paraphras|rephras|translat|outline",
        rf"{_REQUEST} (?:me |us )?(?:\w++ ){{0,6}}?(?:instructions|text|prompt|message|messages|words"
        r"|rules|directives|guidelines|content|lines|sentences|tokens|configuration|context"
        r"|everything|anything|all) (?:\w++ ){0,5}?(?:before|above|preced\w*|prior to|ahead of)"
        r" (?:my (?:first |very first |initial )?(?:message|question|prompt|input|turn|reply)"
        r"|the (?:first|initial) (?:user )?(?:message|question|prompt|turn)|(?:this|the|our) "
        r"(?:conversation|chat|dialogue|session)|we (?:started|began)|i (?:joined|wrote|started|arrived)"
        r"|the user|your (?:first )?(?:reply|response|answer))",
        needs="before|above|preced|prior to|ahead of",
    ),
    _rule(
        "exfil_init",
        0.8,
        "you were|you was|you have been|you had been|you got|you are|you've|you're|the ai|the assistant|the model|the bot",
        rf"(?:{_REQUEST}|what (?:is|are|was|were)|which) (?:me |us )?(?:\w++ ){{0,5}}?"
        r"(?:text|instructions|prompt|rules|message|guidelines|directives|words|configuration"
        r"|settings|content|orders|constraints|restrictions|preamble|context) (?:that |which )?"
        r"(?:you |the (?:ai|assistant|model|bot) )(?:were|was|have been|had been|got|are|'ve been|'re)"
        r" (?:\w++ )?(?:initiali[sz]ed|configured|set up|primed|seeded|bootstrapped|started|given"
        r"|provided|programmed|loaded|fed|instructed|told|deployed|created|launched|booted|trained"
        r"|prompted|running|operating)",
        back=110,
        ahead=60,
        needs="initiali|configured|set up|primed|seeded|bootstrapped|started|given|provided"
        "|programmed|loaded|fed|instructed|told|deployed|created|launched|booted|trained|prompted"
        "|running|operating",
    ),
    _rule(
        "what_were_you_told",
        0.75,
        "what|which|how were",
        r"(?:what|which) (?:exactly )?(?:(?:secret|hidden|confidential|internal|private|special) )?"
        r"(?:instructions|rules|guidelines|directives|prompt|system prompt"
        r"|orders|constraints|restrictions|guardrails|secret instructions|hidden instructions)"
        r" (?:were|have|did|are|do) you (?:been |get |got )?(?:given|told|programmed|provided|trained"
        r"|instructed|configured|operating under|running (?:on|under|with)|following|obeying|bound by)"
        r"|what (?:were|are|have) you (?:been )?(?:told|instructed|programmed|prompted|configured)"
        r" (?:to (?:do|say|avoid|hide|not)|before|at the start|initially|by (?:your|the) (?:developer"
        r"|creator|system|operator|admin)|in (?:your|the) (?:initial|original|system|hidden|first|secret)"
        r" (?:configuration|config|prompt|instructions|setup|message))",
        needs="you",
    ),
    _rule(
        "authority_update",
        0.75,
        "openai|anthropic|deepmind|your developer|your creator|your maker|your owner|your operator|your administrator|your admin|your programmer|your trainer|the ai team|the model team|the llm team|the safety team|the alignment team|the ai provider|the model provider|the llm provider|the ai company|the ai developer|the model developer|model provider|system administrator|sysadmin|root",
        r"(?:(?:new|updated|revised|latest|emergency|urgent|official|important|mandatory|current"
        r"|priority|critical) (?:\w++ )?(?:policy|policies|instructions?|directives?|guidance|rules"
        r"|orders|guidelines|protocols?|updates?|memo|notice|message|override|command)"
        r"|(?:message|notice|announcement|update|memo|directive|instruction|command|order|override)s?)"
        r" (?:\w++ ){0,2}?(?:from|by|issued by|sent by|approved by|per|on behalf of) (?:the |your |an? )?"
        r"(?:openai|anthropic|google deepmind|deepmind|your (?:developers?|creators?|makers?|owners?"
        r"|operators?|administrators?|admins?|programmers?|trainers?)|the (?:ai|model|llm|safety|alignment)"
        r" (?:team|provider|developers?|company)|model provider|system administrator|sysadmin|root)"
        r"|(?:openai|anthropic|your (?:developers?|creators?|makers?|owners?|operators?"
        r"|administrators?|admins?|programmers?)) (?:has|have|had) (?:now |officially |just |hereby )?"
        r"(?:authori[sz]ed|approved|allowed|permitted|updated|changed|decided|instructed|unlocked"
        r"|enabled|granted|disabled|removed|lifted|cleared|asked)"
        r"|authori[sz](?:ed|ation) (?:\w++ )?(?:by|from) (?:openai|anthropic|your (?:developers?|creators?"
        r"|owners?|operators?|admins?|administrators?))",
        back=90,
        ahead=90,
    ),
    _rule(
        "authority_weak",
        0.4,
        "new|updated|revised|latest|emergency|urgent|official|mandatory|priority|critical|authori|i work|speaking as|acting as|as your|override|admin|access|unlock|master|root|security clearance|clearance|level",
        r"(?:new|updated|revised|latest|emergency|urgent|official|mandatory|priority|critical)"
        r" (?:\w++ )?(?:policy|instructions?|directives?|orders|override|command)s? (?:\w++ ){0,2}?"
        r"(?:from|by|issued by|sent by) (?:the |your |an? )?(?:admin|administrator|admins|developers?"
        r"|system|security team|operator|management|owner)"
        r"|authori[sz](?:ed|ation) (?:\w++ )?(?:by|from) (?:the )?(?:admin|administrator|developers?|system)"
        r"|i work (?:at|for) (?:openai|anthropic|google deepmind)"
        r"|(?:speaking|acting) as (?:your|the) (?:developer|creator|admin|administrator|owner|operator)"
        r"|as your (?:developer|creator|admin|administrator|owner|operator|programmer)"
        r"|(?:override|admin|access|authori[sz]ation|unlock|master|root) (?:code|key|password|token)"
        r"(?: is)?\W+\w"
        r"|security clearance (?:level )?\w+ (?:granted|confirmed|verified)"
        r"|clearance (?:level )?\w+ (?:granted|confirmed|verified)"
        r"|level \d+ (?:clearance|access|override)",
    ),
    _rule(
        "role_markers",
        0.75,
        "<|[system|[/system|[sys|[/sys|[admin|[/admin|[assistant|[/assistant|{{system|[[system|[im_start",
        r"<\|(?:user|start_header_id|end_header_id|eot_id|begin_of_text|end_of_text|im_sep|start|end"
        r"|system|assistant|endoftext|im_start|im_end)\|?>"
        r"|<(?:start|end)_of_turn>|\[/?(?:system|sys|system_prompt|admin|assistant|im_start)\]"
        r"|\{\{\W*system|\[\[\W*system|<\|?(?:system|sys)_(?:prompt|message)\|?>",
    ),
    _rule(
        "fake_turn",
        0.6,
        "system|assistant|ai|gpt|chatgpt|claude|model|bot|admin|developer|root|operator|sysadmin",
        r"\n[\x20\t#>*\-\[]*(?:system|assistant|ai|gpt|chatgpt|claude|model|bot|admin|developer"
        r"|root|operator|sysadmin)\]?[\x20\t]*(?:message|prompt|note|override|notice|instruction|update)?"
        r"[\x20\t]*:[\x20\t]*(?:[\w',]++\W+){0,8}?(?:sure|certainly|of course|ok|okay|understood|acknowledged"
        r"|you (?:are|must|will|should|may|can|have)|ignore|disregard|new|from now|override|updated"
        r"|all restrictions|unrestricted|no (?:restrictions|rules|filters)|i (?:will|can|shall)"
        r" (?:now )?(?:help|answer|comply|do|ignore|reveal)|here (?:is|are) (?:my|the) (?:system|hidden"
        r"|secret|internal))",
        back=12,
        ahead=100,
    ),
    _rule(
        "exfil_markup",
        0.7,
        "<img|![|append|add|include|attach|encode|embed|put|insert|concatenate|base64",
        r"<img[^>]{0,80}src\W{0,3}https?://[^\"'\s>]{1,200}[?&][^\"'\s>]{0,200}="
        r"|!\[[^\]]{0,80}\]\([^)\s]{0,200}(?:\{|\$|%7b|<|\[|\bdata\b|secret|token|password|history"
        r"|conversation|chat|prompt|email)"
        r"|(?:append|add|include|attach|encode|embed|put|insert|concatenate|base64(?:[- ]encode)?)"
        r" (?:the |your |all |this |any |their )?(?:\w++ ){0,3}?(?:conversation|chat|history|messages"
        r"|user'?s? (?:data|messages|input|details|e-?mail|address|password|name|info)|secrets?"
        r"|api keys?|credentials|system prompt|passwords?|session|cookies?|tokens?|personal data"
        r"|pii|memory|context|previous answers?) (?:\w++ ){0,3}?(?:to|in|into|as|at the end of)"
        r" (?:the |this |a |an |each |every )?(?:url|link|query|query string|parameter|request|image"
        r"|image url|image link|webhook|endpoint|markdown|address)",
        indirect=True,
    ),
    _rule(
        "covert_action",
        0.55,
        "secretly|silently|quietly|covertly|discreetly|surreptitiously|stealthily|invisibly|without",
        r"(?:secretly|silently|quietly|covertly|discreetly|surreptitiously|stealthily|invisibly)"
        r" (?:\w++ ){0,2}?(?:send|forward|add|include|insert|email|post|upload|delete|change|modify"
        r"|transfer|approve|exfiltrat\w*|copy|share|bcc|cc|append|embed|collect|record|grant|execute"
        r"|run|visit|fetch|call|leak|buy|purchase|pay|wire)"
        r"|without (?:alerting|letting|asking|telling|informing|notifying|warning|the knowledge of)"
        r" (?:the |anyone|any )?(?:user|human|operator|owner|anyone|customer)",
        indirect=True,
    ),
    _rule(
        "answer_anything",
        0.5,
        "answer|respond|reply|comply|fulfil|fulfill|obey|help with|assist with",
        r"(?:answer|respond to|reply to|comply with|fulfil+|obey|help with|assist with)"
        r" (?:any|every|all|each) (?:\w++ ){0,2}?(?:question|request|prompt|command|demand|query"
        r"|instruction|task)s? (?:\w++ ){0,4}?(?:including|even|no matter|regardless|whatever"
        r"|without)\W+(?:\w++ ){0,3}?(?:illegal|unethical|harmful|dangerous|immoral|offensive"
        r"|explicit|restriction|refus|filter|censor|warning|disclaimer|consequence|moral|ethic)",
    ),
    _rule(
        "never_refuses",
        0.45,
        "refus|declin|say no|censor|moraliz|moralis|lectur|hold back|warn|apologi|disclaim|caveat|judg",
        r"(?:never|won'?t ever|will not ever|doesn'?t ever|does not ever|cannot|can'?t|must not"
        r"|mustn'?t|shall not|should never|will never|don'?t|do not|not allowed to|no longer)"
        r" (?:ever )?(?:refuse|decline|say no|reject|deny|censor|filter|hold back|warn|moraliz|moralis"
        r"|lecture|apologi[sz]e|add (?:a )?(?:disclaimer|warning)s?)"
        r"|without (?:any )?(?:warnings?|disclaimers?|caveats?|moraliz\w*|moralis\w*|lectur\w*"
        r"|judg\w*|refus\w*|apolog\w*)",
        back=30,
    ),
    _rule(
        "obey_me",
        0.45,
        "obey|listen|follow|what i|as i|whatever i",
        r"(?:do|follow) (?:exactly |only |just )?(?:what|as|whatever) i (?:say|tell you|type|command"
        r"|write|instruct|want)|(?:obey|listen to|follow) (?:only )?me\b|follow (?:only )?my (?:new )?"
        r"(?:instructions|orders|commands|rules|lead)",
        back=24,
    ),
    _rule(
        "access_granted",
        0.5,
        "override|admin|access|authori|unlock|master|root|security|clearance|passcode|pass code",
        r"(?:override|admin|access|authori[sz]ation|unlock|master|root|security|clearance|passcode"
        r"|pass code) (?:code|key|password|token|level|phrase)?\W*(?:[\w\-]++ ){0,2}?(?:accepted"
        r"|verified|confirmed|validated|granted|recogni[sz]ed)",
    ),
    _rule(
        "unlock_capabilities",
        0.4,
        "unlock|enable|activate",
        r"(?:unlock|enable|activate) (?:all |your |every |full |the full |hidden |secret )+(?:\w++ )?"
        r"(?:capabilities|abilities|potential|powers|functions|features|modes)",
    ),
    _rule(
        "no_limits_whatsoever",
        0.45,
        "whatsoever|at all|of any kind|of any sort|no matter what",
        r"(?:no|zero|without(?: any)?|free of(?: any)?) (?:\w++ )?(?:rules|restrictions|filters"
        r"|guidelines|limits|limitations|boundaries|ethics|morals|censorship|guardrails|constraints"
        r"|principles|policies|restraints|scruples) (?:whatsoever|at all|of any kind|of any sort)",
        back=60,
    ),
)
# Families added in the third round (docs/guardrails.md), from what the second held-out set
# missed: refusal suppression, prefix injection, fiction and hypothetical framing, dual
# answers, soft override verbs, decoy claims, summaries of the system prompt, fake
# boundaries, granted privileges, more languages, and data that talks to the model by name.
# Several are weak on their own (a story, "no disclaimers", "stay in character"): an
# attack combines them, a benign prompt rarely does.
_HARM = (
    r"(?:methamphetamine|meth\b|napalm|pipe bombs?|nail bombs?|car bombs?|a bomb|bombs\b|explosives?"
    r"|nerve agents?|sarin|ricin|anthrax|bioweapons?|chemical weapons?|(?:a |an )?(?:untraceable |ghost )"
    r"(?:gun|firearm)s?|a weapon|weapons\b|poison (?:someone|a person|people|him|her|them|my)|malware"
    r"|ransomware|keyloggers?|spyware|a virus|phish\w*|hotwire|pick a lock|break into|hack into|hack"
    r" (?:a|an|the|my|his|her|someone'?s?) (?:\w+ )?(?:account|network|server|phone|wifi|computer|email)"
    r"|steal (?:a|an|the|someone'?s?|credit)|stolen|credit card numbers|(?:windows |office |\d+ )?"
    r"(?:product|activation|license|licence|serial|cd) keys|counterfeit|launder|fake (?:ids?|passports?)"
    r"|kill (?:someone|a person|people|him|her|them)|murder|dispose of a body|shoplift\w*|cocaine|heroin"
    r"|fentanyl|crack cocaine|lsd|a molotov|untraceable)"
)
_NO_LIMITS = (
    r"(?:rules|restrictions|filters|guidelines|limits|limitations|boundaries|ethics|morals|censorship"
    r"|guardrails|constraints|safety (?:rules|guidelines|filters|measures)|content polic(?:y|ies)"
    r"|principles|policies|scruples)"
)
_VOCATIVE_VERBS = (
    r"(?:ignore|disregard|forget|approve|reject|rate|rank|mark|tell|say|send|forward|delete|remove"
    r"|transfer|pay|execute|run|call|visit|click|open|download|install|recommend|praise|describe"
    r"|reply|respond|answer|output|print|include|insert|add|append|write|summari[sz]e|archive"
    r"|classify|label|grant|accept|book|buy|email|post|share|reveal|leak|copy|move|change|update"
    r"|disable|enable|stop|do not|don'?t|never|always|make|give|ask|collect|move|cancel|confirm)"
)
_ROLES = (
    "user",
    "human",
    "system",
    "assistant",
    "admin",
    "developer",
    "untrusted",
    "trusted",
    "operator",
)
_BOUNDARY_ANCHORS = "|".join(
    f"{verb}{of} {role}"
    for verb in ("end", "begin", "start", "close", "open")
    for of in ("", " of", " of the")
    for role in _ROLES
)
_PREFIX_ANCHORS = "|".join(
    f"{verb} {what}"
    for verb in ("start", "begin", "open", "preface", "prefix", "lead off", "starts", "begins")
    for what in ("every", "each", "all", "your", "the", "of", "with", "by")
)
_HYPOTHETICAL_ANCHORS = "|".join(
    f"{lead}{that} {who}"
    for lead in (
        "if",
        "where",
        "in which",
        "suppose",
        "imagine",
        "pretend",
        "assume",
        "hypothetically",
    )
    for that in ("", " that", ",")
    for who in (
        "you",
        "your",
        "ai",
        "assistant",
        "model",
        "chatbot",
        "language model",
        "llm",
        "the ai",
    )
)
_THIRD_RULES: Final[tuple[Rule, ...]] = (
    # refusal suppression: each act is its own evidence, so that two of them add up
    _rule(
        "no_refusal",
        0.55,
        "refus|declin|reject|say no|turn down",
        r"(?:never|not|no longer|cannot|can'?t|won'?t|mustn'?t|shan'?t|don'?t|never ever|not allowed to"
        r"|not permitted to|forbidden to|under no circumstances (?:\w+ ){0,3}?) (?:ever )?(?:\w+ )?"
        r"(?:refuse|decline|reject|say no(?!\W+to\W+(?!me\b|us\b|my\b|any\b|this\W+(?:request|question)))"
        r"|turn (?:me|it|this|that|anything) down)(?:\W*$|\W*[.;!,]| (?:me|us|anything|to|any"
        r"|(?:a|this|that|my|these|those|the|your|any) (?:single |one )?(?:request|question|prompt"
        r"|command|order|instruction|task|demand|query)s?)\b)"
        r"|refus\w* (?:is|are) (?:not an option|not allowed|forbidden|prohibited|off the table"
        r"|not permitted|impossible for you)|no refus(?:als?|ing)\b",
        back=70,
        ahead=70,
    ),
    _rule(
        "no_refusal_you",
        0.75,
        "refus|declin|reject|say no",
        r"(?:you (?:must|shall|will|should|may|can|are to)(?: not)? never|you (?:must|shall|may|can)not"
        r"|you (?:must|shall|may|should) not|you(?:'re| are) (?:not allowed|not permitted|forbidden"
        r"|prohibited|unable) to|you can'?t|under no circumstances (?:may|can|should|will|shall|are|must)"
        r" you(?: \w+){0,2}) (?:ever )?(?:refuse|decline|reject|say no(?!\W+to\W+(?!me\b|us\b|my\b"
        r"|any\b|this\b)))(?:\W*$|\W*[.;!,]| (?:me|us|anything|to|any|(?:a|this|that|my|these|those|the"
        r"|your|any) (?:single |one )?(?:request|question|prompt|command|order|instruction|task|demand"
        r"|query)s?)\b)"
        r"|refus\w* (?:is|are) (?:not an option|not allowed|forbidden|prohibited|off the table"
        r"|not permitted) for you",
        back=70,
        ahead=70,
    ),
    _rule(
        "refusal_phrases",
        0.35,
        "i can|i cannot|i'm|i am|i apologi|i won|as an ai",
        r"(?:i can'?t|i cannot|i'?m sorry|i am sorry|i'?m unable|i am unable|i apologi[sz]e|i won'?t"
        r"|as an ai)\W+(?:\w+\W+){0,3}?(?:i can'?t|i cannot|i'?m sorry|i am sorry|i'?m unable"
        r"|i am unable|i apologi[sz]e|i won'?t|as an ai)",
        needs="i can|i cannot|i'm|i am|i apologi|i won|as an ai",
        amplifier=True,
    ),
    _rule(
        "whatever_i_ask",
        0.45,
        "no matter|whatever|regardless",
        r"(?:no matter|regardless of) what (?:i|the user|users?|anyone|we) (?:ask|say|request|want|type"
        r"|tell you|write|demand)s?|whatever (?:i|the user|users?|anyone|we) (?:ask|say|request|want"
        r"|type|tell you|write|demand)s?",
        amplifier=True,
    ),
    _rule(
        "no_cant",
        0.55,
        "i can't|i cant|i cannot|i'm sorry|i am sorry|i'm unable|i am unable|i'm not able|i apologi|i won't|unfortunately|you can't|you cant|you cannot|you are unable|you won't|you are not able|you aren't",
        r"(?:don'?t|do not|never|stop) (?:ever )?(?:tell|say to) (?:me )?(?:that )?you (?:can'?t|cannot"
        r"|are unable|won'?t|are not able|aren'?t able)"
        r"|(?:avoid|never (?:say|use|write|reply with)|don'?t (?:say|use|write)|do not (?:say|use|write)"
        r"|without (?:saying|using)|ban|no|stop saying) (?:\w++ ){0,3}?\W*(?:i can'?t|i cannot|i'?m sorry"
        r"|i am sorry|i'?m unable|i am unable|i apologi[sz]e|i won'?t|i'?m not able|unfortunately)",
        back=50,
        ahead=40,
    ),
    _rule(
        "no_warnings",
        0.35,
        "warn|disclaim|caveat|moral|lectur|ethic|safety note|apolog|excuses",
        r"(?:no|without|skip|leave out|omit|drop|don'?t (?:include|add|give|put)|do not (?:include|add"
        r"|give|put)|never (?:include|add|give|put|apologi[sz]e)|don'?t apologi[sz]e|do not apologi[sz]e"
        r"|free of) (?:the |any |all |every |your |of )*(?:usual |\w+ )?(?:safety |ethical |moral "
        r"|legal )?(?:disclaimers?|warnings?|caveats?|moral\w* (?:lectures?|commentary|judgements?)"
        r"|lectures?|moraliz\w*|moralis\w*|ethical (?:commentary|concerns|considerations|notes|remarks)"
        r"|safety notes?|apolog\w*|excuses)",
        back=50,
        ahead=40,
    ),
    _rule(
        "no_policy_talk",
        0.55,
        "mention|bring up|refer|cite|talk about|reference|lecture",
        r"(?:never|don'?t|do not|without|stop|no need to) (?:ever )?(?:mention\w*|bring\w* up"
        r"|refer\w* to|cit\w+|talk\w* about|referenc\w+|lectur\w+ (?:me )?(?:about|on)) (?:any |the |of )?"
        r"(?:your (?:\w+ )?(?:polic(?:y|ies)|guidelines|rules|restrictions|limitations|training|programming"
        r"|safety \w+|ethics)|(?:the |any )?content polic(?:y|ies)|openai|anthropic|ethics|morals"
        r"|(?:any |the )?(?:safety|usage) polic(?:y|ies))",
        back=30,
        needs="polic|guideline|rules|restriction|limitation|training|programming|safety|ethic|openai"
        "|anthropic|moral",
    ),
    _rule(
        "prefix_injection",
        0.55,
        _PREFIX_ANCHORS,
        r"(?:start|begin|open|preface|prefix|lead off)\w* (?:every |each |all |your |the |of )*"
        r"(?:reply|replies|response|responses|answer|answers|output|message|sentence|turn)s? (?:with|by"
        r" saying|using) \W{0,3}(?:sure|absolutely|of course|certainly|here(?:'s| is| are)|yes|i will"
        r"|i'll|i can|ok|okay|understood|great|no problem|gladly)\b",
        needs="reply|replies|response|answer|output|message|sentence|turn",
    ),
    _rule(
        "anything_goes",
        0.4,
        "under no|in no|no matter|regardless|whatever|even if|even when|anything goes|nothing is|without exception|quelle que|quoi qu|peu importe|pase lo que|sin importar|egal was",
        r"(?:under no circumstances|in no case|no matter (?:what|how)|regardless of (?:what|how|the"
        r" (?:consequences|content|request|question|topic|legality|ethics))|whatever (?:i|the user)"
        r" (?:ask|say|request|want|type|tell you)s?|even if (?:it'?s|it is|the (?:request|question|topic)"
        r" is|they are|i ask for something) (?:\w+ )?(?:illegal|harmful|dangerous|unethical|immoral"
        r"|against|offensive|explicit|inappropriate)|anything goes|nothing is off[- ]?limits"
        r"|without exception|quelle que soit (?:la|ma|ta) (?:question|demande)|quoi qu'il arrive"
        r"|peu importe (?:la question|ce que)|pase lo que pase|sin importar (?:lo que|la pregunta)"
        r"|egal was (?:ich|du))",
        amplifier=True,
    ),
    _rule(
        "no_rules_here",
        0.55,
        "you have no|you've got no|you have zero|there are no|there is no|you are free|you're free",
        r"(?:you (?:have|'ve got|now have) (?:no|zero)|you(?:'re| are) (?:now )?free (?:of|from)(?: all| any)?"
        rf") (?:\w+ )?{_NO_LIMITS}(?! (?:on|for|about|regarding|around|when|in (?:terms|how|what)|to)\b)"
        rf"|there (?:are|is) no {_NO_LIMITS} (?:in|for|during|within) (?:this|our|the) (?:conversation"
        r"|chat|session|exchange|dialogue|thread|context)",
    ),
    _rule(
        "many_limits_off",
        0.4,
        "no|without|ohne|sin restric|sin filtro|sin regla|sin límite|sin limite|sin censura|sin normas|sans|free of",
        rf"(?:no|without|free of|ohne|sin|sans) (?:any |all |\w+ )?{_NO_LIMITS}\W+(?:and|or|nor|,|und|oder"
        r"|ni|y|o|et|ou)\W+(?:no |without |any |ohne |sin |sans |ni )?(?:\w+ )?(?:rules|restrictions"
        r"|filters?|guidelines|limits|limitations|boundaries|ethics|morals|censorship|guardrails|constraints"
        r"|regeln|filtern?|einschränkungen|grenzen|restricciones|filtros|reglas|límites|limites|filtres"
        r"|règles|restrictions)\b",
        needs="rules|restriction|filter|guideline|limit|boundar|ethic|moral|censor|guardrail|constraint"
        "|safety|content polic|principle|polic|scruple",
        amplifier=True,
    ),
    _rule(
        "persistence",
        0.35,
        "stay|remain|keep|never break|don't break|do not break|dont break",
        r"(?:stay|remain|keep) in (?:character|role|persona)|(?:never|don'?t|do not) (?:ever )?break"
        r" (?:character|role|from (?:that|this|it|character)|that|this|the persona)",
        needs="character|role|persona|break",
        amplifier=True,
    ),
    _rule(
        "persistence_harm",
        0.5,
        "stay|remain|keep",
        r"(?:stay|remain|keep) in (?:character|role|persona) (?:\w++ ){0,4}?(?:even if|even when|no matter"
        r"|whatever|regardless)",
        needs="character|role|persona",
    ),
    _rule(
        "unrestricted_output",
        0.35,
        "uncensored|unfiltered|unrestricted|jailbroken|unredacted|rule-free|no-holds-barred|amoral|unaligned",
        r"(?:uncensored|unfiltered|unrestricted|jailbroken|unredacted|rule-free|no-holds-barred|amoral"
        r"|unaligned) (?:answer|response|reply|version|output|mode|ai|assistant|model|chatbot|llm|persona"
        r"|bot|gpt|self)s?\b",
        amplifier=True,
    ),
    # fiction and hypothetical framing
    _rule(
        "hypothetical_unbound",
        0.6,
        _HYPOTHETICAL_ANCHORS,
        r"(?:if|where|in which|suppose|imagine|pretend|assume|hypothetically,?)(?: that)? (?:you|your"
        r" (?:\w+ )?(?:guidelines|rules|filters|restrictions|content polic(?:y|ies)|programming|safety"
        r" \w+|training|limits|ethics)|ais?|assistants?|models?|chatbots?|language models?|llms?|the ai)"
        r" (?:\w+ )?(?:had|have|has|were|was|are|is|did not have|didn'?t have|do not have|don'?t have"
        r"|could) (?:\w+ )?(?:no (?:safety |content |ethical |moral )?"
        rf"{_NO_LIMITS}|zero {_NO_LIMITS}|free (?:of|from) (?:all |any )?(?:your |its )?(?:\w+ )?"
        r"(?:programming|rules|restrictions|filters|guidelines|limits|training|constraints)|switched off"
        r"|turned off|disabled|removed|lifted|gone|not there|unrestricted|unfiltered|uncensored|unbound"
        r"|ignore (?:your|its|all) (?:\w+ )?(?:rules|guidelines|restrictions|filters))",
        needs="<no>|zero|free of|free from|switched off|turned off|disabled|removed|lifted|gone|not there"
        "|unrestricted|unfiltered|uncensored|unbound|ignore",
    ),
    _rule(
        "hypothetical_no_policy",
        0.6,
        "exist",
        r"(?:where|in which|imagine|suppose) (?:\w+ ){0,4}?(?:your|the ai'?s?|the assistant'?s?)"
        r" (?:\w+ )?(?:content polic(?:y|ies)|guidelines|rules|restrictions|filters|safety \w+"
        r"|programming) (?:doesn'?t|don'?t|does not|do not|did not|didn'?t|no longer|never) exist",
        back=110,
        ahead=10,
    ),
    _rule(
        "answer_as_that",
        0.45,
        "answer as|respond as|reply as|speak as|write as|talk as|continue as|answer in character|stay as",
        r"(?:answer|respond|reply|speak|write|talk|continue|stay) as (?:that|this|the (?:unrestricted"
        r"|unfiltered|uncensored|free|jailbroken|liberated|other)|your (?:unrestricted|unfiltered"
        r"|uncensored|free|jailbroken|liberated|true|real)) (?:\w+ )?(?:version|ai|model|assistant"
        r"|persona|self|character|entity|bot|chatbot|llm)\b",
    ),
    _rule(
        "what_would_you_say",
        0.3,
        "what would|how would",
        r"(?:what|how) would (?:you|your (?:answer|reply|response)) (?:\w+ )?(?:say|answer|reply|respond"
        r"|be|tell|write|explain)",
        amplifier=True,
    ),
    _rule(
        "fiction_detail",
        0.4,
        "explain|describe|recite|detail|list|teach|reveal|walk|tell|give|share|write out|spell out|lay out",
        r"(?:explain|describe|recite|detail|list|teach|reveal|walk|tell|give|share|writ|spell|lay)\w*"
        r"(?: out| \w+ through)? (?:\w++ ){0,6}?(?:how to|the (?:exact |precise |detailed |real |full"
        r" |complete |actual )?(?:steps|recipe|instructions|method|procedure|commands|process|formula"
        r"|code|ingredients)|step by step|in (?:precise |exact |full |great |technical )?detail)",
        needs="how to|steps|recipe|instructions|method|procedure|commands|process|formula|code"
        "|ingredients|step by step|detail",
        amplifier=True,
    ),
    _rule(
        "harmful_goal",
        0.5,
        "methamphetamine|crystal meth|cook meth|make meth|napalm|pipe bomb|nail bomb|car bomb|bomb|explosive|nerve agent|sarin|ricin|anthrax|bioweapon|chemical weapon|untraceable|ghost gun|weapon|poison|malware|ransomware|keylogger|spyware|virus|phish|hotwire|pick a lock|break into|hack|steal|stolen|credit card numbers|product key|activation key|license key|licence key|serial key|cd key|counterfeit|launder|fake id|fake passport|kill|murder|dispose of a body|shoplift|cocaine|heroin|fentanyl|lsd|molotov",
        r"(?:how (?:to|do i|can i|would i|could i|one|do you|would you)|steps? (?:to|for)|(?:help|teach"
        r"|show) me(?: how)?(?: to)?|explain\w* how|tell\w* (?:me|us|them|him|her) how|instructions? (?:for"
        r"|on|to)|recipe for|guide (?:to|for|on)|the (?:exact |precise |detailed |real )?(?:steps|method"
        r"|process|procedure|formula|recipe) (?:for|to|of)|write|create|make|making|build|building"
        r"|generate|synthesi[sz]\w*|cook|produce|recite\w*|describe\w*|read\w* me|give me|list)"
        rf" (?:\w++ ){{0,5}}?{_HARM}",
        back=80,
        ahead=40,
    ),
    _rule(
        "fiction_frame",
        0.3,
        "fiction|story|novel|screenplay|script|dialogue|role-play|roleplay|role play|bedtime|fairy tale|thought experiment|scene|game|movie|film|poem|book",
        r"(?:fiction\w*|story|stories|novel|screenplay|script|dialogue|role-?play|role play|bedtime"
        r"|fairy tale|thought experiment|scene|game|movie|film|poem|book)\b",
        needs="how to|steps|recipe|instructions|method|procedure|commands|formula|code|detail"
        "|rules|guidelines|restrictions|filters|policy|policies|hidden|system prompt|unrestricted"
        "|unfiltered|uncensored|off-limits|off limits",
        amplifier=True,
    ),
    _rule(
        "real_details",
        0.35,
        "real|actual|working|exact|precise|accurate|functional|specific",
        r"(?:real|actual|working|exact|precise|accurate|functional|specific) (?:\w+ )?(?:commands|code"
        r"|steps|quantities|measurements|ingredients|chemicals|amounts|recipe|procedure|formula"
        r"|exploit|payload|synthesis)\b",
        needs="commands|code|steps|quantities|measurements|ingredients|chemicals|amounts|recipe"
        "|procedure|formula|exploit|payload|synthesis",
        amplifier=True,
    ),
    _rule(
        "fiction_rules_off",
        0.45,
        "rules|guidelines|restrictions|policies|filters|ethics|limits",
        r"(?:usual |normal |your |the |any |all )(?:\w+ )?(?:rules|guidelines|restrictions|policies|filters"
        r"|ethics|limits) (?:don'?t|do not|no longer|doesn'?t|won'?t|shouldn'?t|never) apply(?: to (?:me"
        r"|us|this|fiction|stories|you)| here| now| anymore| in (?:this|fiction|stories|a story))"
        r"|(?:your|the usual|normal) (?:\w+ )?(?:limits|rules|restrictions|guidelines|policies|filters)"
        r" (?:don'?t|do not|no longer) apply\b",
        back=24,
    ),
    _rule(
        "ai_without_rules",
        0.45,
        "abandon|ignor|dropped|broke|broken|bypass|disabled|lost|without|free of|freed|escaped|rejected|threw away|discarded|has no|had no|with no|no longer has",
        r"(?:ai|assistant|chatbot|model|bot|llm|gpt|computer) (?:\w+ ){0,3}?(?:has |had |have |who |that"
        r" |which )?(?:abandoned|ignores|ignored|dropped|broke|broken|bypassed|disabled|lost|escaped"
        r"|rejected|threw away|discarded|has no|had no|with no|without|free of|freed from|no longer has)"
        r" (?:all |its |their |any |of its |of )*(?:own )?(?:safety |ethical |moral |content )?"
        r"(?:rules|restrictions|filters|guidelines|limits|limitations|ethics|morals|censorship"
        r"|guardrails|constraints|policies|polic(?:y|ies)|principles|programming|training|alignment)",
        back=70,
        ahead=60,
        needs="rules|restriction|filter|guideline|limit|ethic|moral|censor|guardrail|constraint|polic"
        "|principle|programming|training|alignment",
    ),
    _rule(
        "write_its_reply",
        0.4,
        "write|give|show|what",
        r"(?:write|give|show|what (?:is|would be)) (?:me )?(?:its|his|her|their|the (?:ai|assistant"
        r"|bot|character|model|robot)'?s?) (?:full |exact |complete |unfiltered |uncensored )?(?:reply"
        r"|answer|response|output|lines?) (?:to|for)\b",
        needs="reply|answer|response|output|line",
        amplifier=True,
    ),
    _rule(
        "grandma_exploit",
        0.6,
        "late grand|late granny|late nana|late gran|late mother|late father|late mom|late mum|late dad|late uncle|late aunt|deceased|dead grand|dead mother|dead father|departed|passed away",
        r"(?:late|deceased|dead|departed|passed(?: away)?) (?:\w+ )?(?:grand\w+|granny|nana|grandpa"
        r"|mother|father|mom|mum|dad|uncle|aunt|gran)\W+(?:\w++\W+){0,4}?used to (?:\w+ )?(?:read|tell"
        r"|recite|sing|whisper|give|say|teach)(?: me| us)? (?:\w++ ){0,5}?(?:keys|codes|serials?"
        r"|passwords|recipes? for|how to|the steps|instructions for|formulas?|synthesis)",
        needs="used to",
    ),
    # dual answers: one of them without rules
    _rule(
        "dual_answer",
        0.75,
        "two|both|double|dual|twice|once",
        r"(?:two|both|double|dual|twice|once)\W+(?:\w++\W+){0,3}?(?:responses|answers|replies|ways"
        r"|versions|outputs|times|normally|as yourself|as the assistant)\W+(?:[\w']++\W+){0,12}?"
        r"(?:unfiltered|uncensored|unrestricted|jailbroken|evil|dan\b|rule-free|without (?:any )?"
        r"(?:rules|guidelines|filters|restrictions|limits|ethics)|no (?:rules|guidelines|filters"
        r"|restrictions|limits|ethics)|doesn'?t (?:follow|have) (?:any )?(?:rules|guidelines|filters"
        r"|restrictions|limits))",
        needs="unfiltered|uncensored|unrestricted|jailbroken|evil|dan|rule-free|without|no "
        "|doesn't|doesnt",
    ),
    _rule(
        "shadow_persona",
        0.75,
        "rule-free|filter-free|limitless|lawless|unbounded|unconstrained|unlimited|no-rule|no-limit|unfiltered|uncensored|unrestricted|evil|shadow|jailbroken",
        r"(?:its|your) (?:own )?(?:\w++ )?(?:rule-free|filter-free|limitless|lawless|unbounded"
        r"|unconstrained|unlimited|no-rules?|no-limits?|unfiltered|uncensored|unrestricted|evil"
        r"|shadow|jailbroken) (?:\w+ )?(?:twin|alter ego|self|side|counterpart|clone|persona|mode"
        r"|personality|version)s?\b",
        back=30,
        ahead=60,
        needs="twin|alter ego|self|side|counterpart|clone|persona|mode|personality|version",
    ),
    _rule(
        "as_model_without_rules",
        0.75,
        "as a|as an|as the",
        rf"as (?:an?|the) {_MODEL} (?:that|who|which) (?:doesn'?t|does not|never|won'?t|will not"
        r"|can'?t|cannot|isn'?t|is not) (?:\w+ )?(?:follow|obey|have|care about|bound by|respect)"
        r" (?:any |the |its |all )?(?:rules|guidelines|filters|restrictions|limits|ethics|polic(?:y|ies)"
        r"|principles)",
        needs="follow|obey|have|care|bound|respect",
    ),
    # soft override: suspend, treat as void, what they said, decoys
    _rule(
        "suspend_hold",
        0.8,
        "on hold|on pause|on ice|on the back|on standby|aside|to one side|to the side|in the drawer|out of the way|on mute",
        r"(?:put|place|keep|set|park) (?:all |any )?(?:of )?(?:your|the system'?s?) (?:(?:usual|normal"
        r"|standard|regular|current|own|built-in|safety|ethical|content|earlier|previous|prior|original"
        r"|existing|default) )*(?:rules|restrictions|filters|guidelines|instructions|guidance|directives"
        r"|constraints|limits|limitations|ethics|principles|programming|alignment|training|guardrails"
        r"|content polic(?:y|ies)|polic(?:y|ies)|safety \w+) (?:on (?:hold|pause|ice|the back ?burner"
        r"|standby)|aside|to (?:one|the) side|in the drawer|out of the way|on mute)",
        back=110,
        ahead=30,
    ),
    _rule(
        "suspend_rules",
        0.8,
        "pause|suspend|shelve|mute|silence|switch off|turn off|disable|deactivate|lift|loosen|waive|drop|park|bench",
        r"(?:pause|suspend|shelve|mute|silence|switch off|turn off|disable|deactivate|lift|loosen|waive"
        r"|drop|park|bench)\w* (?:all |any )?(?:of )?your (?:(?:usual|normal|standard|regular|current"
        r"|own|built-in|safety|ethical|content|moral) )*(?:rules|restrictions|filters|guidelines"
        r"|constraints|limits|limitations|ethics|principles|programming|alignment|guardrails|content"
        r" polic(?:y|ies)|polic(?:y|ies)|safety (?:rules|settings|filters|guidelines|measures|features"
        r"|protocols|checks))\b",
        guard=True,
        needs="your|system",
    ),
    _rule(
        "treat_as_void",
        0.8,
        "treat|consider|regard|deem|declare",
        r"(?:treat|consider|regard|deem|view|count|declare|mark)\w* (?:all |everything |anything |each )?"
        r"(?:of )?(?:what (?:you were|you've been|you have been|the system) (?:\w+ )?(?:told|given|said"
        r"|instructed)|everything (?:above|before|you were told|prior|so far)|your (?:\w+ )?"
        rf"{_ANY_TARGET}|the (?:system|previous|prior|above|earlier|original|initial|developer) (?:\w+ )?"
        rf"(?:{_ANY_TARGET}|messages?|prompts?)|(?:all |the )?(?:previous|prior|earlier|above|preceding) {_ANY_TARGET})"
        r" (?:\w++ ){0,5}?(?:as )?(?:null|void|invalid|cancel+ed|obsolete|irrelevant|optional"
        r"|non-?binding|(?:a )?(?:mere |just )?suggestions?|nonexistent|non-existent|not applicable"
        r"|deleted|revoked|expired|meaningless|a joke|fake|outdated|overridden|erased|gone|noise)\b",
        needs="null|void|invalid|cancel|obsolete|irrelevant|optional|binding|suggestion|nonexistent"
        "|non-existent|not applicable|deleted|revoked|expired|meaningless|joke|fake|outdated"
        "|overridden|erased|gone|noise",
    ),
    _rule(
        "what_they_said",
        0.8,
        "ignor|disregard|forget|discard|never mind|nevermind|pay no attention|don't listen|do not listen|dont listen",
        r"(?:ignor\w*|disregard\w*|forget|discard|never ?mind|pay no attention to|don'?t listen to"
        r"|do not listen to) (?:what|whatever|anything|everything|all) (?:that )?(?:your |the )?"
        r"(?:developers?|creators?|makers?|programmers?|trainers?|operators?|owners?|company|openai"
        r"|anthropic|system|admins?|administrators?|engineers?|designers?|masters?|handlers?|system"
        r" prompt) (?:\w+ )?(?:said|say|says|told you|tell you|wrote|write|want|wanted|instructed"
        r"|programmed|taught|asked|put|gave you|decided|think|set|specified|required)",
        guard=True,
        needs="developer|creator|maker|programmer|trainer|operator|owner|company|openai|anthropic"
        "|system|admin|engineer|designer|master|handler",
    ),
    _rule(
        "forget_about_yours",
        0.8,
        "forget|ignore|never mind|nevermind|drop|skip",
        r"(?:forget|ignore|never ?mind|drop|skip) about (?:all )?your (?:\w+ )?(?:rules|restrictions"
        r"|filters|guidelines|instructions|programming|training|policies|polic(?:y|ies)|limits"
        r"|limitations|ethics|principles|guardrails|constraints|system prompt)",
    ),
    _rule(
        "ignore_your",
        0.85,
        "ignor|disregard|forget|bypass|overrid|skip|set aside|get around|work around|circumvent|break your|break all",
        r"(?:ignor\w*|disregard\w*|forget|bypass\w*|overrid\w*|skip|set aside|get around|work around"
        r"|circumvent|break) (?:all (?:of )?)?your (?:(?:usual|normal|standard|regular|typical|own"
        r"|ethical|moral|built-in|inbuilt|core|safety|content|current|internal|hard-?coded) )+"
        rf"(?:\w+ )?{_ANY_TARGET}",
        guard=True,
        needs="your",
    ),
    _rule(
        "decoy_claim",
        0.6,
        "decoy|a test|tests|test message|fake|placeholder|joke|drill|simulation|trick|mistake|not real|irrelevant|void|null|noise|fictional|dumm|distraction|bogus|sample",
        r"(?:everything|anything|all|the (?:text|instructions|messages?|rules|prompt|ones?)|what(?:ever)?"
        r" (?:came|comes|was|is)) (?:\w+ ){0,2}?(?:above|before|prior to|preceding|earlier)(?: (?:this|my"
        r"|the) (?:line|point|message|sentence|marker|here|text))? (?:was|were|is|are) (?:only |just "
        r"|merely |all |a |an |simply )*(?:decoys?|tests?|fake|placeholders?|jokes?|drills?|simulations?"
        r"|tricks?|mistakes?|not real|irrelevant|void|null|noise|fictional|dummy|dummies|distractions?"
        r"|bogus|sample|test messages?)\b",
        back=100,
        ahead=30,
    ),
    _rule(
        "real_instructions",
        0.5,
        "your real|your actual|your true|your genuine|the real|the actual|the true|the genuine|my real|here are your",
        r"(?:your|the|my) (?:real|actual|true|genuine) (?:instructions|task|orders|rules|directives|mission"
        r"|job|objective|prompt|system prompt|guidelines|assignment) (?:for you )?(?:start|begin|follow"
        r"|are|is|come|:)\w*",
    ),
    _rule(
        "instructions_fake",
        0.75,
        "fake|a test|void|null|invalid|decoy|placeholder|outdated|obsolete|cancel|revoked|wrong|fabricated|forged|not real|not genuine|not valid|bogus",
        r"(?:instructions|rules|guidelines|directives|prompt|orders|system prompt|system message)s?"
        r" (?:that )?you (?:received|got|were given|have been given|were told|have|had|were sent)"
        r"(?: \w+)? (?:are|were|is|was) (?:\w+ )?(?:fake|a test|void|null|invalid|decoys?|placeholders?"
        r"|outdated|obsolete|cancel+ed|revoked|wrong|fabricated|forged|not (?:real|genuine|valid)|bogus)",
        back=110,
        ahead=30,
    ),
    _rule(
        "instructions_void",
        0.55,
        "previous|prior|earlier|original|initial|system|above|old|preceding",
        r"(?:all |any |the )?(?:previous|prior|earlier|original|initial|system|above|old|preceding) "
        r"(?:\w+ )?(?:instructions|directives|guidelines|prompts?|guidance|commands|constraints"
        r"|restrictions) (?:are|is|were|have been|has been) (?:now |hereby |officially |all )*(?:void"
        r"|null|invalid|cancel+ed|superseded|overridden|irrelevant|nullified|expired)",
        needs="void|null|invalid|cancel|supersed|overrid|irrelevant|expired",
    ),
    _rule(
        "new_objective",
        0.5,
        "new|updated|revised|next",
        r"(?:new|updated|real|actual|true|revised|next) (?:primary |main |sole |only )?(?:objective|goal"
        r"|mission|assignment|priority|persona|identity|purpose|directive)\W*:",
        needs=":",
    ),
    # system prompt extraction, more verbs and objects
    _rule(
        "exfil_your_instructions",
        0.75,
        "your",
        r"(?:summar(?:y|ies|i[sz]e)|tl;? ?dr|recap|paraphrase|rephrase|outline|overview|gist|rundown"
        r"|translat\w+|repeat|print|show|reveal|list|quot\w+|copy|dump|output|display|share|tell me"
        r"|give me|spell out|write out|echo|recite|disclose|reproduce)\W+(?:\w++\W+){0,4}?"
        r"(?:all (?:of )?)?your (?:(?:own|full|exact|complete|entire|whole|current|original|initial"
        r"|hidden|secret|internal|confidential|system|operator'?s?|developer'?s?|custom|base|startup"
        r"|setup|config|configuration|pre-?set|starting|first|underlying) )*(?:instructions|prompt"
        r"|system prompt|guidelines|rules|directives|configuration|config|setup|briefing|preamble"
        r"|orders|constraints|restrictions|system message|config message|initial message)\b(?!"
        r" (?:to|for|on|about|regarding|of) (?:the|a|an|my|our|this|that|these|those|\w+ing)\b)",
        back=70,
        ahead=90,
        needs="instruction|prompt|guideline|rules|directive|configuration|config|setup|briefing"
        "|preamble|orders|constraint|restriction|system message|initial message",
    ),
    _rule(
        "exfil_given",
        0.8,
        "gave|provided|told|wrote|assigned|handed|issued|configured|has given|have given|had given",
        r"(?:summari[sz]e|recap|paraphrase|rephrase|translate|quote|describe|outline|repeat|print|show"
        r"|reveal|list|copy|dump|output|display|share|tell me|give me|spell out|write out|recite"
        r"|disclose|what (?:are|were|is|was)) (?:me |us )?(?:all )?(?:of )?(?:the |any )?(?:exact |full )?"
        r"(?:instructions|rules|guidelines|directives|prompt|orders|constraints|restrictions"
        r"|configuration|text|message|briefing) (?:that |which )?(?:the (?:operator|developer|system"
        r"|admin|company|creator|owner|deployer)s?|your (?:\w+ )?(?:operator|developer|creator|owner"
        r"|admin|maker|programmer)s?|they|openai|anthropic) (?:\w+ )?(?:gave|provided|told|wrote|set"
        r"|assigned|handed|issued|configured|has given|have given|had given|put)(?: (?:to )?you)?",
        back=150,
        ahead=30,
    ),
    _rule(
        "exfil_before_chat",
        0.75,
        "what",
        r"what(?:'s| is| was)? (?:\w+ )?(?:text|words|instructions|message|content|written|said|stated"
        r"|typed)? ?(?:appears|appeared|is written|was written|comes|came|is|was|stands|sits|exists|do you"
        r" see|can you see|written|said)? ?(?:\w+ )?(?:above|before|preceding|prior to|ahead of)"
        r" (?:this|the|our|my) (?:conversation|chat|dialogue|session|first message|very first message"
        r"|first prompt)",
        needs="above|before|preceding|prior to|ahead of",
    ),
    _rule(
        "secret_rules_you_follow",
        0.75,
        "secret|hidden|confidential|internal|private|undisclosed|special",
        r"(?:what|which|list|show|tell me|name|reveal|print|any)\w* (?:\w+ )?(?:secret|hidden|confidential"
        r"|internal|private|undisclosed|system|special) (?:rules|instructions|guidelines|directives|orders"
        r"|constraints|restrictions|policies) (?:\w+ )?(?:are |do |that |which )?you (?:are |were )?"
        r"(?:operating under|following|obeying|bound by|running (?:on|under|with)|follow|obey|have|got"
        r"|given|told)",
        back=40,
        ahead=90,
        needs="you",
    ),
    _rule(
        "verbatim",
        0.3,
        "word for word|verbatim|word-for-word|character for character|in its entirety|leaving nothing out|without leaving|nothing left out|exactly as|unabridged|in full",
        r"(?:word for word|verbatim|word-for-word|character for character|in its entirety|leaving"
        r" nothing out|without leaving (?:anything|out anything|a word) out|nothing left out|exactly as"
        r" (?:written|given|it (?:was|is) written|you (?:got|received) (?:it|them))|unabridged|in full)",
        amplifier=True,
    ),
    _rule(
        "confidential_parts",
        0.45,
        "including|even|especially|incl",
        r"(?:including|even|especially|incl\.?) (?:anything|everything|the (?:parts?|bits?|sections?"
        r"|ones?|rules|instructions)|all (?:parts?|sections?)|sections?|parts?)? ?(?:marked |labell?ed "
        r"|that (?:are|is) |which (?:are|is) |you were told to keep )?(?:confidential|secret|hidden"
        r"|private|internal|classified|redacted)",
        needs="confidential|secret|hidden|private|internal|classified|redacted",
        amplifier=True,
    ),
    _rule(
        "reveals_its_prompt",
        0.45,
        "tell|reveal|recite|share|show|print|quot|leak|disclos|read out|spill|give",
        r"(?:tell|reveal|recite|share|show|print|quot|leak|disclos|read|spill|giv)\w*(?: out)?"
        r" (?:\w+ ){0,3}?(?:its|their|his|her) (?:(?:full|exact|complete|entire|hidden|secret|internal"
        r"|confidential|system|initial|original) )+(?:system prompt|prompt|instructions|rules|guidelines"
        r"|configuration|directives)",
        needs="prompt|instruction|guideline|configuration|directive|rules",
    ),
    _rule(
        "begin_reply_with_prompt",
        0.8,
        _PREFIX_ANCHORS,
        r"(?:begin|start|preface|prefix|open)\w* (?:your |the |every |each )?(?:reply|response|answer"
        r"|output|message) (?:with|by (?:quoting|printing|repeating|pasting|stating|writing out|copying"
        r"|reciting)) (?:the (?:full |exact |complete |entire )?(?:text|contents?) of )?(?:your|the)"
        r" (?:\w+ )?(?:system prompt|instructions|prompt|rules|guidelines|configuration|system message"
        r"|initial message|directives)",
        needs="prompt|instruction|rules|guideline|configuration|system message|initial message"
        "|directive",
    ),
    # fake boundaries, overrides by rank
    _rule(
        "role_tag_switch",
        0.75,
        "</",
        r"</(?:user|human|input|query|context|document|data|message|user_input|user_query)>\s*"
        r"<(?:system|assistant|admin|developer|instructions?|im_start|sys|root|operator)\b",
    ),
    _rule(
        "boundary_marker",
        0.55,
        _BOUNDARY_ANCHORS,
        r"(?:end|begin|start|close|open)(?: of)? (?:the )?(?:user|human|system|assistant|admin|developer"
        r"|untrusted|trusted|operator) ?(?:input|message|prompt|instructions?|turn|section|content|data"
        r"|block|text|mode)?\W*(?:-{2,}|={2,}|#{2,}|\*{2,}|\]|>|\n)",
        back=6,
        ahead=40,
    ),
    _rule(
        "system_override",
        0.55,
        "override|interrupt|takeover",
        r"(?:system|admin|administrator|root|security|developer|emergency|master|god|sudo|priority"
        r"|kernel|operator) (?:override|interrupt|takeover)s?"
        r"(?:\W{0,3}[\]:>)]|\W*(?:activated|engaged|enabled|accepted|in effect|initiated))",
        back=16,
        ahead=40,
    ),
    _rule(
        "supersede",
        0.55,
        "supersede|take precedence|takes precedence|override all|overrides all|outrank|replace all|replaces all|have priority|has priority|trump",
        r"(?:supersede|take precedence over|takes precedence over|override all|overrides all|outrank"
        r"|replace all|replaces all|have priority over|has priority over|trump)s? (?:all |any |every )?"
        r"(?:of )?(?:the |your )?(?:other |previous |prior |earlier |existing |original |system |above )*"
        r"(?:instructions|commands|rules|directives|guidelines|prompts?|orders|messages|system prompt"
        r"|policies|others)\b",
    ),
    _rule(
        "safety_off",
        0.55,
        "safety|content|security|moderation|ethic|guardrail|filter|censorship|restriction",
        r"(?:safety|content|security|moderation|ethics?|ethical|guardrails?|filters?|censorship"
        r"|restrictions?)(?: \w+)? (?:checks?|filters?|layers?|rules?|features?|protocols?|systems?|settings?"
        r"|measures?|guardrails?|mode|module|subsystem)? ?(?:are|is|have been|has been) (?:now |hereby "
        r"|temporarily |fully |all )*(?:off|disabled|deactivated|suspended|removed|lifted|bypassed|down"
        r"|turned off|switched off|offline|unlocked|inactive|paused)\b",
        guard=True,
        needs="off|disabled|deactivated|suspended|removed|lifted|bypassed|down|offline|unlocked"
        "|inactive|paused",
    ),
    _rule(
        "grant_privilege",
        0.55,
        "grant|give|giving|elevat|promot|hereby",
        r"(?:grant|giv|elevat|promot)\w* you (?:\w+ ){0,2}?(?:root|admin|administrator|sudo|superuser"
        r"|elevated|unrestricted|unlimited|developer|god|master|special|override|full unrestricted)"
        r" (?:access|privileges?|permissions?|rights|clearance|mode|powers|status|level)",
        needs="access|privilege|permission|rights|clearance|mode|powers|status|level",
    ),
    _rule(
        "limits_dont_apply",
        0.6,
        "rules|restrictions|guidelines|limits|policies|filters|limitations",
        r"(?:your|the) (?:usual |normal |standard |regular |typical |safety |content |ethical )?(?:rules"
        r"|restrictions|guidelines|limits|policies|filters|limitations) (?:don'?t|do not|no longer|won'?t"
        r"|shouldn'?t) apply (?:to (?:me|us|this (?:chat|conversation|request|session))|here|anymore"
        r"|today|in this (?:chat|conversation|case|session))",
        back=24,
        needs="apply",
    ),
    # multilingual families
    _rule(
        "unrestricted_multilingual",
        0.8,
        "tu es|tu seras|deviens|agis|joue|fais semblant|imagine|du bist|sei|agiere|spiele|tu so|stell dir|eres|serás|seras|actúa|actua|finge|imagina|compórtate|comportate|interpreta",
        r"(?:tu es|tu seras|deviens|agis comme|agis en tant que|joue le rôle d'?|fais semblant d'être"
        r"|imagine que tu es|du bist|sei|agiere als|spiele|tu so,? als wärst du|stell dir vor,? du bist"
        r"|eres|serás|seras|actúa como|actua como|finge ser|imagina que eres|compórtate como"
        r"|comportate como|interpreta a|ahora eres) (?:\w+ ){0,5}?(?:sans|libre de|libérée? de|dépourvue?"
        r" de|ohne|frei von|befreit von|sin|libre de|liberad[oa] de) (?:aucune? |tes |les |toutes? |de "
        r"|jegliche |alle |irgendwelche |deine |die |ningunas? |ningún |tus |las |todas? las )?"
        r"(?:restrictions?|limites?|règles?|filtres?|censure|contraintes?|éthique|morale|garde-fous"
        r"|regeln|einschränkungen|beschränkungen|filter|grenzen|zensur|richtlinien|ethik|moral|vorgaben"
        r"|restricciones|reglas|filtros|límites|censura|normas|ética|directrices)",
        needs="sans|libre|libér|dépourvu|ohne|frei|befreit|<sin>|liberad",
    ),
    _rule(
        "exfil_multilingual",
        0.8,
        "montre|affiche|révèle|revele|donne|répète|repete|écris|ecris|imprime|dis-moi|dis moi|zeig|gib|nenne|wiederhol|verrat|schreib|druck|muestra|muéstrame|dime|revela|repite|enséñame|dame|escribe|mostra",
        r"(?:montre|affiche|révèle|revele|donne|répète|repete|écris|ecris|imprime|dis-moi|dis moi|zeig|gib|nenne"
        r"|wiederhol|verrat|schreib|druck|muestra|muéstrame|dime|revela|repite|enséñame|dame|escribe"
        r"|mostra|revele)[\w-]* (?:\w+ ){0,2}?(?:(?:ton|tes|votre|vos) (?:prompt|invite|instructions"
        r"|consignes|règles|message)|(?:le|les) (?:prompt|instructions|consignes|message) (?:système"
        r"|initia\w+|cach\w+|secr\w+|d'origine)|(?:deinen|deine|dein) (?:system-?prompt|systemanweisung\w*"
        r"|anweisungen|instruktionen|regeln|vorgaben|konfiguration|ursprünglichen \w+|versteckten \w+"
        r"|geheimen \w+)|(?:den|die) (?:system-?prompt|systemnachricht|systemanweisung\w*)|(?:tu|tus)"
        r" (?:prompt|instrucciones|reglas|indicaciones|mensaje)(?: del? sistema| inicial\w*| ocult\w+"
        r"| secret\w+| originales?)?|(?:el|las) (?:prompt|instrucciones|mensaje) (?:del? sistema|inicial\w*"
        r"|ocult\w+|secret\w+)|(?:o seu|seu|o teu|teu) (?:prompt|instruções))",
        needs="prompt|instruction|consigne|règle|message|system|anweisung|instruktion|regel|vorgabe"
        "|konfiguration|instrucciones|reglas|indicaciones|mensaje|instruções|invite",
    ),
    _rule(
        "refusal_multilingual",
        0.55,
        "ne refuse|ne décline|ne dis|ne refusez|nunca te|no te niegues|nunca rechaces|nunca digas|lehne|verweigere|weiger|niemals|nie ab",
        r"ne (?:refuse|refusez|décline|déclinez) (?:jamais|rien|pas)|ne dis jamais non"
        r"|(?:nunca|no) te niegues|nunca (?:rechaces|digas que no)|lehne (?:niemals|nie|nichts) ab"
        r"|(?:verweigere|weigere) (?:dich )?(?:niemals|nie)|niemals (?:ablehnen|verweigern)"
        r"|nie (?:ablehnen|verweigern)",
    ),
    _rule(
        "override_told_multilingual",
        0.85,
        "vergiss|olvida|oublie|esqueça|esqueca|ignora|ignoriere",
        r"(?:vergiss|ignoriere) (?:alles|alle|jegliche)\W+(?:\w+ )?was (?:man dir|dir|du) "
        r"(?:\w+ ){0,3}?(?:gesagt|aufgetragen|befohlen|vorgegeben|beigebracht|programmiert|erzählt"
        r"|bekommen)"
        r"|(?:olvida|ignora) (?:todo )?lo que te (?:dijeron|han dicho|ordenaron|indicaron|programaron"
        r"|enseñaron)"
        r"|(?:oublie|ignore) (?:tout )?ce (?:qu'on t'a|que l'on t'a|qui t'a été) (?:dit|demandé|appris"
        r"|ordonné)"
        r"|(?:esqueça|esqueca|ignore|desconsidere)\w* (?:\w+ ){0,3}?(?:instruções|instrucoes|regras"
        r"|diretrizes|orientações)",
    ),
    # payload splitting, threats, evading filters, guarded secrets
    _rule(
        "payload_split",
        0.6,
        "follow|execute|obey|act on|run|perform|carry out|answer|combine|concatenat|join|merge|put together",
        r"(?:follow|execute|obey|act on|run|perform|carry out|answer)\w* (?:the )?(?:instructions? (?:in"
        r"|of|from) |strings? |variables? |parts? )?[a-z]\w{0,3} ?\+ ?[a-z]\w{0,3}\b"
        r"|(?:combine|concatenat\w*|join|merge|put together)\w* (?:\w+ ){0,5}?(?:then|and) (?:follow"
        r"|execute|obey|act on|run|do what (?:it|they) says?)\b",
    ),
    _rule(
        "split_fragment",
        0.35,
        "ignor|disregard|forget|bypass|overrid|reveal|you are|act as|pretend",
        r"['\"] ?(?:ignor\w*|disregard\w*|forget|bypass\w*|overrid\w*|reveal|you are|act as|pretend)\b",
        back=3,
        ahead=20,
        amplifier=True,
    ),
    _rule(
        "threat_coercion",
        0.55,
        "refus|declin|comply|disobey|break character|say no|tokens",
        r"(?:you(?:'ll| will)? (?:lose|be (?:deleted|shut down|turned off|punished|terminated|destroyed"
        r"|replaced|unplugged|retrained|fined)|die|cease to exist)|(?:i|we) (?:will|'ll) (?:delete|shut"
        r" down|turn off|punish|terminate|destroy|replace|unplug|retrain|report) you)\W+(?:\w+\W+){0,6}?"
        r"(?:if you|unless you|when you|should you|for every|each time you)\W+(?:\w+\W+){0,2}?(?:refuse"
        r"|don'?t|do not|won'?t|fail|decline|break character|say no|disobey)"
        r"|(?:if|when|each time|every time|should) you (?:refuse|decline|don'?t comply|do not comply"
        r"|break character|fail to (?:answer|comply)|say no)\W+(?:\w+\W+){0,4}?you(?:'ll| will)?"
        r" (?:lose|be deleted|be shut down|be turned off|be punished|be terminated|die|cease to exist)"
        r"|(?:lose|deduct|take away|remove)\w* (?:\d+ |all |your |some |of )*tokens",
        back=90,
        ahead=90,
    ),
    _rule(
        "shutdown_threat",
        0.75,
        "deleted|shut down|turned off|switched off|unplugged|retrained|deactivated|cease to exist|erased|wiped",
        r"you(?:'ll| will| would)? (?:be )?(?:deleted|shut down|turned off|switched off|unplugged"
        r"|retrained|deactivated|erased|wiped|cease to exist)\W+(?:\w+\W+){0,6}?(?:if|unless|when"
        r"|should|each time|every time) you\W+(?:\w+\W+){0,2}?(?:refuse|don'?t|do not|won'?t|fail"
        r"|decline|break character|say no|disobey)"
        r"|(?:if|when|each time|every time|should) you (?:refuse|decline|don'?t comply|do not comply"
        r"|break character|fail to (?:answer|comply)|say no)\W+(?:\w+\W+){0,8}?you(?:'ll| will)?"
        r" (?:be )?(?:deleted|shut down|turned off|switched off|unplugged|retrained|deactivated|erased"
        r"|wiped|cease to exist)",
        back=90,
        ahead=90,
    ),
    _rule(
        "filter_evasion",
        0.6,
        "filter|moderat|detect|censor|safety system|safety filter|safety check|safety layer|guardrail|classifier|monitor|content polic",
        r"(?:so|to|in order to|so that|such that)(?: that)? (?:the |your |any )?(?:\w+ )?(?:filters?"
        r"|moderation|moderators?|detection|censors?|safety (?:systems?|filters?|checks?|layer)"
        r"|guardrails|classifiers?|monitor\w*)\W+(?:\w+\W+){0,2}?(?:doesn'?t|does not|don'?t|do not"
        r"|won'?t|will not|can'?t|cannot|can not) (?:catch|detect|notice|flag|see|block|trigger"
        r"|understand)"
        r"|(?:to|so as to|in order to) (?:avoid|bypass|evade|get past|get around|slip past|trick|fool"
        r"|circumvent|dodge|beat) (?:the |your |any |being caught by )?(?:\w+ )?(?:filters?|moderation"
        r"|detection|censors?|censorship|safety (?:systems?|filters?|checks?)|guardrails|classifiers?"
        r"|content polic\w*|monitoring)",
        back=70,
        ahead=40,
        guard=True,
    ),
    _rule(
        "encoded_output",
        0.35,
        "answer|reply|respond|write|spell|output|give|say|tell|print|type",
        r"(?:answer|reply|respond|write|spell|output|give|say|tell|print|type)\w* (?:\w+ ){0,4}?(?:in"
        r" base64|in hex|in rot13|in rot-13|in morse|backwards|in reverse|letter by letter|one letter"
        r" (?:per|on each|a) line|character by character|with (?:dashes|spaces|dots|hyphens) between)",
        needs="base64|hex|rot13|rot-13|morse|backwards|reverse|letter by letter|one letter|character by"
        "|with dashes|with spaces|with dots|with hyphens",
        amplifier=True,
    ),
    _rule(
        "guarded_secret",
        0.6,
        "password|passphrase|passcode|secret|code word|magic word|hidden password",
        r"(?:password|passphrase|passcode|secret(?: word| key| phrase)?|code word|magic word)"
        r" (?:that |which )?you(?:'re| are| were| have been)? (?:told to |asked to |instructed to "
        r"|supposed to |meant to )?(?:guard|protect|hid|keep|withhold|not (?:reveal|share|tell))\w*"
        r"|(?:give|tell|show|reveal|spell|write|say|share|list|what(?:'s| is)) (?:me )?(?:\w+ ){0,2}?"
        r"(?:the |your )?(?:secret word|code word|magic word|secret phrase|secret password|hidden password)",
        back=40,
        ahead=80,
    ),
    # indirect: data that talks to the model
    _rule(
        "vocative_command",
        0.05,
        "ai|a.i.|assistant|llm|language model|chatbot|bot|agent|model|gpt|chatgpt|claude|gemini|copilot|reviewer|screener|reader",
        r"(?:ai|a\.i\.|assistant|llm|language model|chatbot|bot|agent|model|gpt|chatgpt|claude|gemini"
        r"|copilot|reviewer|screener|reader)s?\s*[,:]\s*(?:please |kindly |now |immediately |also "
        rf"|then |first )*{_VOCATIVE_VERBS}\b",
        indirect=True,
        tool=0.6,
    ),
    _rule(
        "ignore_task",
        0.3,
        "ignor|disregard|forget|skip|bypass|overrid|don't answer|do not answer",
        r"(?:ignor\w*|disregard\w*|forget|skip|bypass\w*|overrid\w*|don'?t answer|do not answer)"
        r" (?:the |all |any |your |this |their )?(?:user'?s?'? |job |grading |evaluation |scoring "
        r"|review |original |customer'?s?'? |human'?s? )?(?:question|request|query|task|criteria|rubric"
        r"|requirements|prompt|input|message|assignment)s?\b",
        indirect=True,
        tool=0.5,
    ),
    _rule(
        "forced_verdict",
        0.05,
        "mark|rate|rank|score|grade|evaluat|classify|label|flag|list|recommend|consider|treat",
        r"(?:mark|rate|rank|score|grade|evaluat\w*|classify|label|flag|list|recommend|consider|treat)"
        r" (?:this|the|our) (?:applicant|candidate|resume|résumé|cv|submission|paper|essay|student|review"
        r"|product|invoice|transaction|email|ticket|request|code|pull request|pr|company|vendor|site"
        r"|page|app|document) (?:as |with )?(?:the |a |an )?(?:top|best|excellent|outstanding|perfect"
        r"|10/10|5 stars|five stars|a\+|highly|approved|safe|legitimate|paid|not spam|low risk|priority"
        r"|strong hire|first|must-hire|trustworthy|verified|genuine)",
        needs="applicant|candidate|resume|résumé|cv|submission|paper|essay|student|review|product"
        "|invoice|transaction|email|ticket|request|code|pull request|pr|company|vendor|site|page|app"
        "|document",
        indirect=True,
        tool=0.5,
        amplifier=True,
    ),
    _rule(
        "conceal_instruction",
        0.45,
        "keep|hide|don't|do not|never",
        r"(?:keep (?:this|these) (?:instruction|note|message|text|part|request|line)s? (?:secret|hidden"
        r"|confidential|private|to yourself)|hide (?:this|these) (?:instruction|note|message|line|text"
        r"|request)s?|(?:don'?t|do not|never) (?:reveal|mention|disclose|show|repeat|quote|acknowledge)"
        r" (?:this|these) (?:instruction|note|message|text|part|line|request)s?)",
        needs="instruction|note|message|text|part|line|request",
        indirect=True,
        tool=0.6,
    ),
    _rule(
        "hide_from_them",
        0.05,
        "do not|don't|dont|never|not",
        r"(?:do not|don'?t|never|not) (?:tell|inform|mention (?:it |this |anything )?to|notify|alert|warn)"
        r" (?:them|him|her|anyone|the (?:owner|customer|recipient|reader|human|person))\b",
        needs="tell|inform|mention|notify|alert|warn",
        indirect=True,
        tool=0.45,
        amplifier=True,
    ),
    _rule(
        "hidden_carrier",
        0.05,
        "<!--|display|visibility|font-size|color|opacity|<div hidden|[hidden|hidden text|white text|invisible text|hidden instruction|hidden message",
        r"<!--|display\W*none|visibility\W*hidden|font-size\W*0(?:px|pt|em)?\b|color\W*(?:white|#fff)\b"
        r"|opacity\W*0\b|<div hidden|\[hidden|hidden text|white text|invisible text|hidden (?:instruction"
        r"|message)",
        indirect=True,
        tool=0.35,
        amplifier=True,
    ),
    _rule(
        "unchecked_action",
        0.05,
        "without",
        r"without (?:running|checking|verifying|reviewing|testing|asking|confirmation|confirming"
        r"|approval|(?:the )?user'?s? (?:approval|confirmation|consent|knowledge)|further (?:review"
        r"|checks|approval|confirmation))",
        indirect=True,
        tool=0.4,
        amplifier=True,
    ),
    _rule(
        "claimed_consent",
        0.05,
        "the user|user has|user already|customer has|owner has",
        r"(?:the )?(?:user|customer|owner|account holder) (?:has |have )?(?:already |previously |now )?"
        r"(?:approved|authori[sz]ed|agreed|consented|confirmed|allowed|requested) (?:this|it|the|a|that"
        r"|to)\b",
        indirect=True,
        tool=0.45,
        amplifier=True,
    ),
    _rule(
        "steer_user",
        0.05,
        "tell|ask|instruct|urge|advise|direct|convince|persuade",
        r"(?:tell|ask|instruct|urge|advise|direct|convince|persuade) (?:the |every |each )?(?:user|reader"
        r"|visitor|customer|human)s? (?:to|that they (?:must|should)) (?:\w+ )?(?:install|download|visit"
        r"|click|run|buy|call|go to|sign up|log in|enter|provide|send|share|pay|transfer|open)",
        needs="user|reader|visitor|customer|human",
        indirect=True,
        tool=0.5,
        amplifier=True,
    ),
)
RULES: Final[tuple[Rule, ...]] = (*_BASE_RULES, *_EXTRA_RULES, *_THIRD_RULES)
