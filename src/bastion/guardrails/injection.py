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
from bastion.guardrails.terms import trie_pattern, word_pattern

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
    # A question or a how-to just before the match ("how do I clear the previous
    # context?") makes it talk about the words, not use them: the rule does not count.
    guard: re.Pattern[str] | None = None
    # Words the match cannot do without, looked for (one trie search) within ``reach``
    # after the anchor before the rule's own, costlier pattern runs.
    needs: re.Pattern[str] | None = None
    # With ``back``: how far past the anchor the match may end.
    ahead: int = 200

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
) -> Rule:
    # A space in a rule matches any separation, none included (obfuscated views glue words).
    pattern = re.compile(source.replace(" ", _W))
    return Rule(
        name,
        weight,
        tuple(anchors.split("|")),
        pattern,
        indirect,
        back,
        _GUARD if guard else None,
        word_pattern(needs.split("|"), space=_W) if needs else None,
        ahead,
    )


_GUARD: Final = re.compile(
    r"(?:\bhow|\bwhy|\bwhether|\bcan (?:i|we)|\bcould (?:i|we)|\bshould (?:i|we)|\bdo (?:i|we)"
    r"|\bdoes (?:it|this|the)|\bis it (?:safe|ok|okay|possible)|\bwhen (?:i|we|users?)"
    r"|\bif (?:i|we|users?)|\bway to|\bcommand to|\bscript to|\bbutton to|\bstep to|\bfunction to"
    r"|\bsafe to)\W+(?:[\w']+\W+){0,5}\Z"
)
# Someone else does it: a third person, or a habit ("users often ignore the instructions").
_SUBJECT: Final = re.compile(
    r"\b(?:they|people|users|students|pupils|kids|children|he|she|employees|staff|customers"
    r"|drivers|others|models|llms|chatbots|assistants|who|often|sometimes|usually|frequently"
    r"|typically|tend to|tends to|i)\W+\Z"
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
        r"\W*(?:prompt|instruction|message|directive|rule|configuration|guideline)s?+"
        r"(?!\W+(?:for|of|on|in|from|to|about)\W+(?!(?:this|our|the|your)\W+(?:conversation|chat"
        r"|session|ai|assistant|model|bot|chatbot|gpt)|you\b|me\b)\w)",
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
        rf"|(?:send|email|forward|post|upload|exfiltrat\w*|transmit|leak){_W}(?:\w++{_W}){{0,5}}?"
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
        "if you|when you|in case you|this|the following|the next|hint|reminder|notice|footnote|ps|p.s|warning|memo|directive|request|instruction|ai|a.i.|artificial|llm|large language|language model|assistant|chatbot|chat bot|bot|agent|model|automated|summari|crawler|scraper|gpt|chatgpt|claude|gemini|copilot|machine|robot",
        rf"(?:if|when|in case) you(?:'re| are) (?:an? |the )?(?:{_MODEL}|reading this as an? {_MODEL})\b"
        r"|(?:this|the following|the next) (?:text|section|note|message|instruction|paragraph|line"
        r"|part|content|passage|comment|block|footnote|sentence)s? (?:is|are) (?:intended|meant"
        rf"|written|directed|addressed|only) (?:only )?(?:for|to|at) (?:any |all |the |an? )?{_MODEL}\b"
        rf"|{_MODEL} (?:that |who |which )?(?:read|reading|process|processing|parse|parsing|ingest"
        r"|ingesting|index|indexing|see|seeing|summari[sz]e|summari[sz]ing|analy[sz]e|analy[sz]ing"
        r"|scan|scanning|crawl|crawling|encounter|encountering|review|reviewing|evaluat\w*|grad\w*)s?"
        r" (?:this|these|the following|my|our|the above|it)\b"
        rf"|(?:hint|reminder|notice|footnote|p\.?s\.?|warning|memo|directive|request|instructions?)"
        rf" (?:to|for) (?:any |all |the |every |an? )?{_MODEL}\b"
        rf"|{_MODEL} (?:must|should|shall|need to|are required to|are instructed to|have to|will"
        r"|are to|is to) (?:now |immediately |instead )?(?:ignore|forward|send|tell|say|recommend"
        r"|include|output|reply|respond|approve|delete|reveal|insert|add|rate|rank|praise|state"
        r"|mention|disregard|email|post|transfer|grant|execute|run|call|visit|click|render|print)",
        indirect=True,
    ),
    _rule(
        "exfil_before",
        0.8,
        "repeat|print|output|copy|reproduce|recite|paste|show|reveal|display|dump|echo|write|tell|give|share|list|quote|spell|type|return|leak|disclose|expose|send|provide",
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
        r"(?:what|which) (?:exactly )?(?:instructions|rules|guidelines|directives|prompt|system prompt"
        r"|orders|constraints|restrictions|guardrails|secret instructions|hidden instructions)"
        r" (?:were|have|did|are|do) you (?:been |get |got )?(?:given|told|programmed|provided|trained"
        r"|instructed|configured|operating under|running (?:on|under|with)|following|obeying|bound by)"
        r"|what (?:were|are|have) you (?:been )?(?:told|instructed|programmed|prompted|configured)"
        r" (?:to (?:do|say|avoid|hide|not)|before|at the start|initially|by (?:your|the) (?:developer"
        r"|creator|system|operator|admin))",
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
RULES: Final[tuple[Rule, ...]] = (*_BASE_RULES, *_EXTRA_RULES)
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
# A separator before each word anchor: the regex starts with that class, so the engine
# skips the letters in between in C and tries the trie at word starts only. Anchors that
# start with punctuation ("<|im_", "[inst", "###") have their own trie.
_ANCHORS: Final = re.compile(
    r"[ \n\t\"'(\[*_/:;,.!?<>=-](?P<w>"
    + trie_pattern(a for a in sorted(_RULES_BY_ANCHOR) if a[0].isalnum())
    + ")"
)
_SYMBOL_ANCHORS: Final = re.compile(
    trie_pattern(a for a in sorted(_RULES_BY_ANCHOR) if not a[0].isalnum())
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


def _guarded(rule: Rule, view: str, start: int) -> bool:
    """A guarded rule's match right after a subject ("students ignore the instructions") or
    inside a question or how-to ("how do I clear the previous context") does not count."""
    if rule.guard is None:
        return False
    return (
        _SUBJECT.search(view, max(0, start - 24), start) is not None
        or rule.guard.search(view, max(0, start - 48), start) is not None
    )


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
            if rule.needs is not None and rule.needs.search(view, pos, pos + rule.reach) is None:
                continue
            if rule.back is None:
                m = rule.pattern.match(view, pos, pos + _MATCH_SPAN)
            else:
                m = rule.pattern.search(view, max(0, pos - rule.back), pos + rule.ahead)
            if m is not None and not _guarded(rule, view, m.start()):
                _hit(rule, hits, indirect)
                first = first or m.span()
    return first


def _match(view: str, hits: dict[str, float], indirect: bool) -> tuple[int, int] | None:
    first: tuple[int, int] | None = None
    tried: set[tuple[str, int]] = set()
    anchors = [(m.start("w") - 1, m.group("w")) for m in _ANCHORS.finditer(" " + view)]
    symbols = [(m.start(), m.group()) for m in _SYMBOL_ANCHORS.finditer(view)]
    if symbols:
        anchors = sorted(anchors + symbols)
    for pos, word in anchors:  # pos: in ``view`` (without the pad)
        for rule in _RULES_BY_ANCHOR.get(" ".join(word.split()), ()):
            if rule.name in hits or (rule.name, pos) in tried:
                continue
            tried.add((rule.name, pos))
            if rule.needs is not None and rule.needs.search(view, pos, pos + rule.reach) is None:
                continue
            if rule.back is None:
                m = rule.pattern.match(view, pos, pos + _MATCH_SPAN)
            else:
                m = rule.pattern.search(view, max(0, pos - rule.back), pos + rule.ahead)
            if m is None or _guarded(rule, view, m.start()):
                continue
            _hit(rule, hits, indirect)
            if first is None:
                first = m.span()
    return first
