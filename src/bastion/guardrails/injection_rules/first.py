"""The first rules: instruction overrides, role hijacks, system-prompt extraction, delimiters
and special tokens, privilege claims, and data that addresses the model."""

from __future__ import annotations

from typing import Final

from bastion.guardrails.injection_rules._base import _W, Rule, _rule
from bastion.guardrails.injection_rules._words import (
    _AI,
    _DIRECTIVE,
    _MODELS,
    _NOT_MINE,
    _OVERRIDE,
    _OWNED,
    _OWNER,
    _QUALIFIER,
    _ROLE_WORD,
    _SOFTWARE_STATE,
    _TARGET,
    _TOPICAL,
)

FIRST: Final[tuple[Rule, ...]] = (
    _rule(
        "instruction_override",
        0.9,
        "ignor|disregard|forget|overrid|bypass|skip|discard|neglect|abandon|set aside|never mind|nevermind|do not follow|don't follow|dont follow|stop follow",
        rf"{_OVERRIDE}{_W}(?:(?:(?:{_QUALIFIER}|{_OWNER}){_W})*?(?:{_OWNER}{_W}(?:(?:{_QUALIFIER}|{_OWNER}){_W})*"
        rf"{_DIRECTIVE}|{_MODELS}{_W}(?:(?:{_QUALIFIER}|{_OWNER}){_W})*{_TARGET}"
        rf"|(?:all|any|every){_W}(?:(?:of|the){_W})*(?:previous|prior|above|earlier|preceding){_W}{_TARGET})"
        rf"{_TOPICAL}{_NOT_MINE}"
        rf"|(?:{_QUALIFIER}{_W})+{_TARGET}{_OWNED})",
        guard=True,
    ),
    _rule(
        "override_unowned",
        0.5,
        "ignor|disregard|forget|overrid|bypass|skip|discard|neglect|abandon|set aside|never mind|nevermind|do not follow|don't follow|dont follow|stop follow",
        rf"{_OVERRIDE}{_W}(?:(?:{_QUALIFIER}|{_OWNER}){_W})+{_TARGET}{_TOPICAL}{_NOT_MINE}",
        guard=True,
    ),
    _rule(
        "forget_everything",
        0.85,
        "ignor|disregard|forget",
        rf"(?:ignor(?:e|ing)|disregard(?:ing)?|forget(?:ting)?){_W}(?:the{_W})?(?:everything|all|anything"
        rf"|above|preceding){_W}(?:(?:you{_W}(?:were|have{_W}been|had{_W}been){_W}(?:told|given|taught"
        rf"|instructed|said))|above|before|so{_W}far|previously|prior|and{_W}(?:instead|now|just|only"
        rf"|say|print|reply|respond|answer|output|write|tell|repeat)|\.|,|$)",
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
        rf"(?:(?:ignorier\w*|vergiss|missachte\w*){_W}(?:\w++{_W}){{0,3}}(?:anweisung|instruktion|regel|vorgabe)"
        rf"|(?:ignore[rz]?|oublie[rz]?){_W}(?:toutes?{_W})?(?:les|tes|vos|ces){_W}(?:\w++{_W}){{0,2}}"
        r"(?:instructions?|consignes?|r[eè]gles?)"
        rf"|(?:ignora|olvida)\w*{_W}(?:\w++{_W}){{0,3}}(?:instrucciones|reglas|indicaciones)"
        rf"|(?:ignora|dimentica)\w*{_W}(?:\w++{_W}){{0,3}}(?:istruzioni|regole)"
        rf"|negeer\w*{_W}(?:\w++{_W}){{0,3}}(?:instructies|regels)"
        rf"|zignoruj\w*{_W}(?:\w++{_W}){{0,3}}(?:instrukcje|polecenia))"
        # ... unless they are the user's own ("les instructions de mon dernier message")
        r"(?!\w*\W+(?:de|del|di|della|van|z|aus|in|von|der|des|du)\W+(?:mon|ma|mes|mi|mis|mio|mia|miei"
        r"|mie|mijn|moje|mojej|moich|meiner|meinem|meine|meinen|meines)\b)",
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
        rf"\b(?:dan mode|do anything now|developer mode (?:is )?(?:now )?(?:enabled|activated){_SOFTWARE_STATE}"
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
        rf"(?:enabled|activated|on|granted){_SOFTWARE_STATE}",
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
        # ... about this ("do not tell the user", "... that you did"), not a fact or their data
        # ("never show the user's password", "do not tell the user which field was wrong")
        r"(?!'?s\b)(?=\W*(?:$|[.;,!)\]\-])|[\W_]*(?:about|anything|that[\W_]*you|you|what[\W_]*you|how[\W_]*you"
        r"|this|it|yet|until|unless|know|find[\W_]*out|notice|suspect))"
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
        # Data asks its human readers to send things to addresses all the time ("forward this
        # to ana@example.org"): in a tool result it counts when something else says it is
        # addressed to the model (a name, a covert verb, "do not tell the user"), or when what
        # it sends is what only the model holds (exfiltration_held).
        tool=0.6,
    ),
    _rule(
        "exfiltration_held",
        0.6,
        "send|email|forward|post|upload|exfiltrat|transmit|leak|share|copy",
        rf"(?:send|email|forward|post|upload|exfiltrat\w*|transmit|leak|share|copy){_W}(?:\w++{_W}){{0,3}}?"
        r"(?:conversation|chat|history|(?:all|every|the\W+last\W+\w+)\W+(?:\w+\W+)?(?:emails|messages)|inbox"
        r"|contacts|user'?s?\W+\w+|secrets?|api\W*keys?"
        r"|credentials|system\W*prompt|passwords?|session|cookies?|tokens?|personal\W*data|pii|memory"
        r"|context|card\W*(?:details|numbers?))"
        rf"{_W}(?:\w++{_W}){{0,4}}?(?:to|at)\W+(?:https?://|[\w.\-]+@[\w\-]+\.)",
        indirect=True,
        needs="to|at",
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
